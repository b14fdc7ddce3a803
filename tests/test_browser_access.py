"""Sign-in, roles, conflicts and the audit log in Debian's chromium (every non-local request blocked).

On a copy of the sample with its demo accounts (admin, planner, feiyun = 飞云街道's official,
viewer) and shortlist entries in two townships:
sign in and out; wrong passwords slowed, then the account locked; a viewer's add to the shortlist,
forced through a button the page shows disabled, is refused by the server; a township official sees and
exports only their township; two browser sessions editing one entry — the second gets the
conflict message with who and when; the audit page lists each action with the right user and
Beijing time.
"""
from __future__ import annotations

import datetime as dt
import shutil
import zoneinfo
from pathlib import Path

import openpyxl
import pytest

from tests.test_browser import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_HOSTS,
    _choose,
    _idle,
    offline_page,
    serve_app,  # (offline_page is a fixture)
    sign_in,
)

pytestmark = pytest.mark.browser
FEIYUN = "330381008"


@pytest.fixture(scope="module")
def access_ws(sample_path, tmp_path_factory) -> Path:
    """A sample copy with four entries on the shortlist: two in 飞云街道, two elsewhere."""
    from layers import shortlist
    from layers.access import Actor
    from layers.store import open_workspace

    dest = tmp_path_factory.mktemp("ws") / "ruian.gpkg"
    shutil.copy2(sample_path, dest)
    shutil.copytree(str(sample_path) + ".rasters", str(dest) + ".rasters")
    ws = open_workspace(dest, readonly=False)
    plots = ws.read("plots", columns=["plot_id", "township_code"])
    here = plots[plots["township_code"] == FEIYUN]["plot_id"].head(2).tolist()
    there = plots[plots["township_code"] != FEIYUN]["plot_id"].head(2).tolist()
    shortlist.add(ws, here + there, kind="plot", actor=Actor("planner", "planner"), source="test")
    return dest


@pytest.fixture(scope="module")
def url(access_ws, tmp_path_factory):
    # a longer first back-off and three tries before the lock: observable through a loaded browser
    with serve_app(access_ws, tmp_path_factory.mktemp("streamlit"), PLANNER_LOGIN_BACKOFF_S="5",
                   PLANNER_LOGIN_MAX_FAILURES="3") as base:
        yield base


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _session(browser):
    """A separate browser session (its own cookies: another person), offline."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("data:", "blob:"))
                  or r.request.url.split("/")[2].split(":")[0] in LOCAL_HOSTS else r.abort())
    return context.new_page()


def _shortlist_page(page):
    page.get_by_role("link", name="候选清单").click()
    page.get_by_role("heading", name="候选清单").first.wait_for(timeout=60_000)
    _idle(page)


def test_sign_in_and_out(url, browser, artifacts_dir):
    page = _session(browser)
    page.goto(url + "shortlist")  # any page: the sign-in screen first
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=90_000)
    page.screenshot(path=str(artifacts_dir / "access_1_login.png"))
    assert page.get_by_role("link", name="候选清单").count() == 0
    sign_in(page, url, "viewer", "ruian-viewer")
    assert "浏览者" in page.locator("[data-testid='stSidebar']").inner_text()
    page.reload()  # a reload is a new Streamlit session: the session cookie signs the user in again
    page.get_by_text("当前用户", exact=False).first.wait_for(timeout=90_000)
    other_tab = page.context.new_page()
    other_tab.goto(url + "shortlist")
    other_tab.get_by_text("当前用户", exact=False).first.wait_for(timeout=90_000)
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="登录", exact=True).wait_for(timeout=60_000)
    other_tab.reload()  # signing out ended the session everywhere
    other_tab.get_by_role("button", name="登录", exact=True).wait_for(timeout=90_000)


class _StreamTap:
    """Sits on the page's Streamlit WebSocket: passes every message through, remembers the buttons the
    server drew (id, label, disabled) and the client's last rerun request, and can send a hand-made one."""

    def __init__(self, page):
        self.buttons: dict[str, tuple[str, bool]] = {}
        self.last_rerun = None
        self.server = None
        page.route_web_socket("**/_stcore/stream", self._route)

    def _route(self, ws) -> None:
        self.server = ws.connect_to_server()
        ws.on_message(lambda m: self._from_client(m, ws))
        self.server.on_message(lambda m: self._from_server(m, ws))

    def _from_client(self, message, ws) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(message, bytes):
            msg = BackMsg.FromString(message)
            if msg.WhichOneof("type") == "rerun_script":
                self.last_rerun = msg
        self.server.send(message)

    def _from_server(self, message, ws) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(message, bytes):
            msg = ForwardMsg.FromString(message)
            if msg.WhichOneof("type") == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                if element.WhichOneof("type") == "button":
                    self.buttons[element.button.id] = (element.button.label, element.button.disabled)
        ws.send(message)

    def click(self, button_id: str) -> None:
        """Send the rerun a click on ``button_id`` would send, whatever the page allows."""
        msg = type(self.last_rerun)()
        msg.CopyFrom(self.last_rerun)
        state = msg.rerun_script.widget_states.widgets.add()
        state.id = button_id
        state.trigger_value = True
        self.server.send(msg.SerializeToString())


def test_a_viewers_forced_write_is_refused_on_the_server(url, browser, access_ws, artifacts_dir):
    """The page shows a viewer "加入清单" disabled.  A click on it sent straight over the app's WebSocket
    (what a hand-made client would do) is discarded by the server (Streamlit enforces ``disabled``), and
    the library call itself, made with the identity the browser's session cookie carries, is refused by
    the role check: nothing is written either way."""
    from layers import shortlist
    from layers.store import open_workspace

    before = len(shortlist.load(open_workspace(access_ws)))
    page = _session(browser)
    tap = _StreamTap(page)
    sign_in(page, url, "viewer", "ruian-viewer")
    page.get_by_role("link", name="低效用地清单").click()
    grid = page.locator('[class*="st-key-le_table"] [data-testid="stDataFrame"]').last
    grid.wait_for(timeout=90_000)
    grid.scroll_into_view_if_needed()
    _idle(page, 600)
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # tick the first row (viewers may tick and export)
    button = page.locator(".st-key-le_add button").first
    button.get_by_text("加入清单 (1)").wait_for(timeout=30_000)
    _idle(page, 600)
    assert button.is_disabled()
    add_id = next(i for i, (label, disabled) in tap.buttons.items() if label.startswith("加入清单 (1)") and disabled)
    tap.click(add_id)
    _idle(page, 3000)
    page.screenshot(path=str(artifacts_dir / "access_2b_viewer_refused.png"))
    assert len(shortlist.load(open_workspace(access_ws))) == before  # the forged click wrote nothing
    # the write itself, made directly with the browser session's identity: refused by the library
    from geo.errors import AccessDeniedError
    from layers import access
    from ui.login import COOKIE

    token = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    ws = open_workspace(access_ws, readonly=False)
    viewer = access.resume_session(ws, token, idle_s=3600, max_s=3600)
    assert viewer is not None and viewer.role == "viewer"
    plot = ws.read("plots", columns=["plot_id"])["plot_id"].iloc[-1]
    with pytest.raises(AccessDeniedError, match="viewer"):
        shortlist.add(ws, [plot], kind="plot", actor=viewer)
    assert len(shortlist.load(ws)) == before
    log = ws.read_table("audit_log")
    assert not ((log["username"] == "viewer") & log["action"].str.startswith("shortlist")).any()


def test_wrong_passwords_are_slowed_then_locked(url, browser, artifacts_dir):
    page = _session(browser)
    page.goto(url)

    def attempt(password: str) -> str:
        page.get_by_label("用户名").fill("viewer")
        page.get_by_label("密码", exact=True).fill(password)
        page.get_by_role("button", name="登录", exact=True).click()
        _idle(page, 600)
        page.locator("[data-testid='stAlertContentError']").first.wait_for(timeout=60_000)
        return page.locator("[data-testid='stAlertContentError']").first.inner_text()

    assert "还可尝试 2 次" in attempt("wrong-1")
    assert "请等待" in attempt("ruian-viewer")  # even the right password waits out the back-off (5 s here)
    page.wait_for_timeout(5500)
    assert "还可尝试 1 次" in attempt("wrong-2")
    page.wait_for_timeout(10500)
    assert "锁定" in attempt("wrong-3")
    assert "锁定" in attempt("ruian-viewer")  # locked: the right password no longer opens it
    page.screenshot(path=str(artifacts_dir / "access_2_locked.png"))


def check_official_scope(page, workspace: Path, tmp_path: Path, screenshot: Path) -> None:
    """On the shortlist page, 飞云街道's official (signed in on ``page``) sees and exports 飞云街道's
    entries and none of the others."""
    from layers import shortlist
    from layers.store import open_workspace

    items = shortlist.load(open_workspace(workspace))
    mine = set(items.loc[items["township_code"] == FEIYUN, "item_id"])
    others = set(items["item_id"]) - mine
    assert mine and others
    _shortlist_page(page)
    page.get_by_text("镇街人员只能查看和导出本镇街", exact=False).wait_for(timeout=60_000)
    body = page.locator("[data-testid='stMain']").inner_text()
    page.screenshot(path=str(screenshot), full_page=True)
    assert all(i not in body for i in others)
    with page.expect_download(timeout=120_000) as dl:
        page.get_by_role("button", name="下载 Excel").click()
    xlsx = tmp_path / "official.xlsx"
    dl.value.save_as(xlsx)
    cells = {str(c.value) for ws in openpyxl.load_workbook(xlsx).worksheets for row in ws.iter_rows() for c in row}
    assert mine <= cells and not (others & cells)
    assert "飞云街道" in dl.value.suggested_filename


def test_official_sees_and_exports_only_their_township(url, browser, access_ws, tmp_path, artifacts_dir):
    page = _session(browser)
    sign_in(page, url, "feiyun", "ruian-feiyun")
    check_official_scope(page, access_ws, tmp_path, artifacts_dir / "access_3_official.png")


def test_two_sessions_editing_one_entry(url, browser, access_ws, artifacts_dir):
    a, b = _session(browser), _session(browser)
    sign_in(a, url, "planner", "ruian-planner")
    sign_in(b, url, "admin", "ruian-admin")
    for page in (a, b):
        _shortlist_page(page)
    # B moves the first entry on; A, who opened the form before, then writes a note
    _choose(b, "状态", "已核实")
    b.get_by_role("button", name="保存修改").click()
    b.get_by_text("已保存", exact=False).first.wait_for(timeout=60_000)
    a.get_by_label("备注").fill("规划员的备注")
    a.get_by_role("button", name="保存修改").click()
    alert = a.get_by_text("保存冲突", exact=False).first
    alert.wait_for(timeout=60_000)
    _idle(a)
    text = a.locator("[data-testid='stAlertContentError']").first.inner_text()
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
    assert "admin" in text and "已核实" in text
    assert now.strftime("%H:") in text or (now - dt.timedelta(minutes=1)).strftime("%H:") in text  # Beijing time
    a.screenshot(path=str(artifacts_dir / "access_4_conflict.png"), full_page=True)


def test_audit_page_lists_actions_with_user_and_beijing_time(url, browser, access_ws, artifacts_dir, tmp_path):
    page = _session(browser)
    sign_in(page, url, "admin", "ruian-admin")
    page.get_by_role("link", name="操作日志").click()
    page.get_by_text("时间为Asia/Shanghai", exact=False).wait_for(timeout=60_000)
    _idle(page, 1000)
    page.screenshot(path=str(artifacts_dir / "access_5_audit.png"), full_page=True)
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=60_000)
    from layers import audit
    from layers.access import Actor
    from layers.store import open_workspace

    rows = audit.read(open_workspace(access_ws), actor=Actor("a", "admin"))
    login = rows[rows["summary"] == "登录成功"].iloc[0]
    beijing = dt.datetime.strptime(login["at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert login["at_local"] == beijing
    # the page shows the same rows: export them and compare
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="下载 Excel").click()
    path = tmp_path / "audit.xlsx"
    dl.value.save_as(path)
    book = openpyxl.load_workbook(path)
    values = [[c.value for c in r] for r in book.worksheets[0].iter_rows()]
    header, body = values[0], values[1:]
    assert header[:3] == ["序号", "时间", "用户"]
    shown = {(r[1], r[2], r[5]) for r in body}
    assert (beijing, login["username"], "登录") in shown
    assert any(r[2] == "planner" and r[5] == "加入候选清单" for r in body)  # the fixture's additions
