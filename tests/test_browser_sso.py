"""Single sign-on in Debian's chromium against a real OpenID Connect provider on 127.0.0.1.

The provider is ``oidc-provider-mock`` (its own command, in a subprocess): a real authorization
server that issues signed ID tokens; its sign-in form takes the subject (``sub``) and its users'
claims are given at start.  The app runs with a secrets file of its own (``--secrets.files``:
the repository's ``.streamlit/secrets.toml`` is never written) whose ``[auth]`` points at it.

Three identities, as a bureau's Keycloak would send them:

- ``zhang``: claim ``planner_role = "planner"``: signed in as a planner (role from the claim);
- ``li``: claim ``planner_role = "viewer"``, but an administrator mapped ``li`` to 飞云街道's
  official with ``cli.py user add li --role official --township 330381008 --sso``: the
  mapping wins, and li sees and exports only 飞云街道's shortlist entries;
- ``zhao``: no role claim and no mapping: refused with a message naming the account, and a
  button that leaves single sign-on.

Signing out leaves single sign-on through the provider's end-of-session page; a fresh visit
then shows the sign-in form again.  Every sign-in is in the audit log.  Every request that is
not for 127.0.0.1/localhost is aborted: the app must make none (the provider's own test page
links a stylesheet on a CDN, which is aborted and is the only one allowed to be).
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import ROOT, _free_port, _idle, _map_frame, offline_page, serve_app, stop_process  # noqa: F401
from tests.test_browser_access import FEIYUN, access_ws, check_official_scope  # noqa: F401  (offline_page, access_ws: fixtures)

pytestmark = pytest.mark.browser
USERS = [
    {"sub": "zhang", "preferred_username": "zhang", "name": "张规划", "email": "zhang@ruian.example",
     "planner_role": "planner"},
    {"sub": "li", "preferred_username": "li", "name": "李镇街", "email": "li@ruian.example", "planner_role": "viewer"},
    {"sub": "zhao", "preferred_username": "zhao", "name": "赵新人", "email": "zhao@ruian.example"},
]


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory):
    """``python -m oidc_provider_mock`` on a free 127.0.0.1 port with the three users; yields its URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc") / "oidc.log"
    args = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)]
    for user in USERS:
        args += ["--user-claims", json.dumps(user, ensure_ascii=False)]
    with open(log, "w") as fh:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(base + "/.well-known/openid-configuration", timeout=2) as r:
                    assert json.load(r)["issuer"] == base
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the OIDC provider did not answer:\n{log.read_text()}") from None
                time.sleep(0.3)
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def sso_ws(access_ws) -> Path:
    """The access tests' sample copy (four shortlist entries, two in 飞云街道) with li mapped to 飞云街道's
    official through the command line, as an administrator would."""
    done = subprocess.run([sys.executable, "cli.py", "user", "add", "li", "--role", "official", "--township", FEIYUN,
                           "--name", "李镇街", "--sso", "--workspace", str(access_ws)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return access_ws


def _app_with_sso(workspace: Path, provider: str, tmp: Path, **env_extra):
    """The app with single sign-on at ``provider``, through a secrets file of its own (``--secrets.files``)."""
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(f'''[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "ruian-planner"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[planner_sso]
role_claim = "planner_role"
township_claim = "planner_township"
''', encoding="utf-8")
    return serve_app(workspace, tmp, args=("--secrets.files", str(secrets_file)), **env_extra)


@pytest.fixture(scope="module")
def sso_url(sso_ws, oidc_provider, tmp_path_factory):
    """The app with single sign-on at the local provider."""
    with _app_with_sso(sso_ws, oidc_provider, tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture
def page(offline_page):
    """A fresh chromium session (its own cookies); every non-local request aborted and recorded."""
    yield offline_page
    # only the provider's test page links a CDN stylesheet; the app itself asks for nothing outside
    assert all("picocss" in u for u in offline_page.blocked), offline_page.blocked


def _sso_sign_in(page, url: str, provider: str, sub: str) -> None:
    """The sign-in page's single-sign-on button → the provider's form (subject, Authorize) → back to the app."""
    page.goto(url)
    page.get_by_role("button", name="统一身份认证登录").click()
    page.wait_for_url(provider + "/oauth2/authorize**", timeout=60_000)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(url + "**", timeout=60_000)


def _sidebar(page) -> str:
    page.get_by_text("当前用户", exact=False).first.wait_for(timeout=90_000)
    return page.locator("[data-testid='stSidebar']").inner_text()


def _audit_rows(ws_path: Path):
    from layers import audit
    from layers.access import Actor
    from layers.store import open_workspace

    return audit.read(open_workspace(ws_path), actor=Actor("a", "admin"))


def test_role_from_the_token_claim_then_sign_out(sso_url, oidc_provider, page, sso_ws, artifacts_dir):
    page.goto(sso_url)
    page.get_by_role("button", name="统一身份认证登录").wait_for(timeout=90_000)
    page.screenshot(path=str(artifacts_dir / "sso_1_login.png"))
    _sso_sign_in(page, sso_url, oidc_provider, "zhang")
    side = _sidebar(page)
    assert "张规划" in side and "规划人员" in side and "统一身份认证" in side
    assert page.get_by_role("link", name="候选清单").count() == 1
    assert page.get_by_role("link", name="导入数据").count() == 0  # a planner, not an administrator
    _map_frame(page)  # the map page draws for a planner signed in through single sign-on
    _idle(page)
    page.screenshot(path=str(artifacts_dir / "sso_2_planner.png"))
    rows = _audit_rows(sso_ws)
    mine = rows[rows["username"] == "sso:zhang"]
    assert mine["summary"].str.contains("统一身份认证登录成功(角色来自令牌声明 planner_role)", regex=False).any()

    # signing out leaves single sign-on: the provider's end-of-session page, then the sign-in form
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(oidc_provider + "/oauth2/end_session**", timeout=60_000)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(sso_url + "**", timeout=60_000)
    page.get_by_role("button", name="统一身份认证登录").wait_for(timeout=90_000)
    assert page.get_by_text("当前用户", exact=False).count() == 0
    assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]
    page.goto(sso_url + "shortlist")  # a fresh visit is not signed in either
    page.get_by_role("button", name="统一身份认证登录").wait_for(timeout=90_000)
    assert page.get_by_role("link", name="候选清单").count() == 0


def test_mapping_overrides_the_claim_and_scopes_an_official(sso_url, oidc_provider, page, sso_ws, tmp_path,
                                                            artifacts_dir):
    _sso_sign_in(page, sso_url, oidc_provider, "li")  # the token says viewer; the workspace maps li to 飞云街道
    side = _sidebar(page)
    assert "李镇街" in side and "镇街人员 · 飞云街道" in side and "浏览者" not in side
    check_official_scope(page, sso_ws, tmp_path, artifacts_dir / "sso_3_official.png")
    rows = _audit_rows(sso_ws)
    assert rows.loc[rows["username"] == "li", "summary"].str.contains("角色来自本系统的账户映射", regex=False).any()


def test_token_without_a_role_is_refused_with_a_way_out(sso_url, oidc_provider, page, sso_ws, artifacts_dir):
    _sso_sign_in(page, sso_url, oidc_provider, "zhao")
    alert = page.locator("[data-testid='stAlertContentError']").first
    alert.wait_for(timeout=90_000)
    _idle(page)
    text = alert.inner_text()
    assert "赵新人" in text and "zhao" in text and "尚未分配本系统的角色" in text and "联系管理员" in text
    assert page.get_by_role("link", name="候选清单").count() == 0
    page.get_by_label("用户名").wait_for()  # an account of this system still signs in here
    page.screenshot(path=str(artifacts_dir / "sso_4_no_role.png"), full_page=True)
    rows = _audit_rows(sso_ws)
    refusals = rows[rows["summary"].str.startswith("统一身份认证登录失败") & (rows["target"] == "zhao")]
    assert len(refusals) == 1  # once, however often the page reran
    page.get_by_text("English", exact=True).click()  # the same refusal in English
    page.get_by_role("button", name="Leave single sign-on (use another account)").wait_for(timeout=60_000)
    assert "zhao signed in through single sign-on but has no role in this system" in alert.inner_text()
    page.get_by_text("中文", exact=True).click()

    page.get_by_role("button", name="退出统一身份认证(换用其他账户)").click()
    page.wait_for_url(oidc_provider + "/oauth2/end_session**", timeout=60_000)
    page.get_by_role("button", name="End session").click()
    page.get_by_role("button", name="统一身份认证登录").wait_for(timeout=90_000)
    assert page.locator("[data-testid='stAlertContentError']").count() == 0


def test_an_idle_session_leaves_single_sign_on(sso_ws, oidc_provider, page, tmp_path):
    """Streamlit's identity cookie lasts 30 days: an idle single-sign-on session must end it, or the
    next click would sign the browser straight back in."""
    with _app_with_sso(sso_ws, oidc_provider, tmp_path, PLANNER_SESSION_MINUTES="1") as url:
        _sso_sign_in(page, url, oidc_provider, "zhang")
        assert "张规划" in _sidebar(page)
        page.get_by_role("link", name="候选清单").click()  # a page without the map (whose moves rerun the page)
        page.get_by_role("heading", name="候选清单").first.wait_for(timeout=60_000)
        _idle(page)
        page.wait_for_timeout(62_000)
        page.get_by_role("link", name="园区绩效").click()  # the first click after the idle limit
        page.wait_for_url(oidc_provider + "/oauth2/end_session**", timeout=60_000)
        page.get_by_role("button", name="End session").click()
        page.get_by_role("button", name="统一身份认证登录").wait_for(timeout=90_000)
        assert not [c for c in page.context.cookies() if c["name"].startswith("_streamlit_user")]
