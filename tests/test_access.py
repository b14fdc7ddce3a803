"""Who may do what: every write path tried as every role (refused on the server, nothing changed, the
allowed ones audited), accounts (Argon2id, back-off, lock-out, disable, SSO mapping), re-grade
conflicts, local time."""
from __future__ import annotations

import pandas as pd
import pytest

from geo.errors import AccessDeniedError, AuthenticationError, ConflictError, ParameterError
from layers import access, regrades, runs, shortlist
from layers.access import Actor

ROLES = ("viewer", "official", "planner", "admin")


def _state(ws):
    return (ws.version, len(ws.read_table("audit_log")))


def _write_paths(ws, tmp_path):
    """Every library function that writes, as a callable of the actor (one row per path)."""
    import geopandas as gpd
    from shapely.geometry import box

    from analysis import pipeline, siting_runs
    from analysis.siting import load_siting_params
    from layers import importers

    plots = ws.read("plots", where_in={"plot_id": ["P000010"]})
    src = tmp_path / "one.geojson"
    gpd.GeoDataFrame({"地块编号": ["N1"], "用地分类": ["0601"], "利用状态": ["在用"]},
                     geometry=[box(560000, 3070000, 560050, 3070050)], crs="EPSG:4549").to_file(src, driver="GeoJSON")
    plan = importers.plan_import(src, layer="scratch_import", workspace=ws)
    code = ws.read("enterprises", columns=["credit_code"])["credit_code"].iloc[0]
    return {
        "layer.write": lambda a: ws.write("scratch", pd.DataFrame({"a": [1]}), actor=a),
        "import": lambda a: importers.commit_import(ws, plan, actor=a),
        "mapping.save": lambda a: importers.save_mapping(ws, "m1", plan, actor=a),
        "layer.restore": lambda a: ws.restore_layer("plots", 1, actor=a),
        "workspace.settings": lambda a: ws.set_setting("keep_versions", 4, actor=a),
        "runs.prune": lambda a: runs.prune(ws, keep=5, actor=a),
        "user.manage": lambda a: access.add_user(ws, "newbie", role="viewer", password="long-enough-1", actor=a),
        "run.chain": lambda a: pipeline.run(ws, "ruian_default", run_id=f"r_{a.role}", actor=a),
        "run.siting": lambda a: siting_runs.run_siting(ws, load_siting_params().replace(time_limit_s=5.0), rule="list",
                                                       firms=[code], run_id=f"s_{a.role}", actor=a),
        "regrade": lambda a: regrades.record(ws, actor=a, credit_code=code, new_class="B", reason="核查"),
        "shortlist.add": lambda a: shortlist.add(ws, plots, kind="plot", actor=a, on_duplicate="skip"),
    }


ALLOWED = {"layer.write": {"admin"}, "import": {"admin"}, "mapping.save": {"admin"}, "layer.restore": {"admin"},
           "workspace.settings": {"admin"}, "runs.prune": {"admin"}, "user.manage": {"admin"},
           "run.chain": {"planner", "admin"}, "run.siting": {"planner", "admin"}, "regrade": {"planner", "admin"},
           "shortlist.add": {"planner", "admin"}}


@pytest.mark.slow
def test_every_write_path_as_every_role(sample_gpkg_copy, actors, tmp_path):
    """Refused for the roles that may not (nothing changes, not even the audit log); done and audited for the rest."""
    ws = sample_gpkg_copy
    ws.write("plots", ws.read("plots"), actor=actors["system"])  # a version 1 to restore
    paths = _write_paths(ws, tmp_path)
    assert set(paths) == set(ALLOWED)
    for action, call in paths.items():
        for role in ROLES:
            actor = actors[role]
            if role in ALLOWED[action]:
                continue
            before = _state(ws)
            with pytest.raises(AccessDeniedError):
                call(actor)
            assert _state(ws) == before, (action, role)
        for role in sorted(ALLOWED[action]):
            n = len(ws.read_table("audit_log"))
            call(actors[role])
            log = ws.read_table("audit_log").sort_values("audit_id").iloc[n:]
            assert actors[role].username in set(log["username"]), (action, role)
            if action in ("user.manage", "layer.restore", "import", "mapping.save"):
                break  # these cannot be repeated as they are (user exists, version gone…)


def test_passwords_are_argon2id_and_never_listed(empty_ws, actors):
    access.add_user(empty_ws, "zhang", role="planner", password="correct horse", actor=actors["admin"])
    with empty_ws.reading() as r:
        stored = r.execute("SELECT password_hash FROM users WHERE username = 'zhang'")[0][0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert "password_hash" not in access.list_users(empty_ws).columns
    with pytest.raises(ParameterError, match="at least 8"):
        access.add_user(empty_ws, "li", role="planner", password="short", actor=actors["admin"])
    with pytest.raises(ParameterError, match="needs a township"):
        access.add_user(empty_ws, "town", role="official", password="long enough", actor=actors["admin"])
    with pytest.raises(ParameterError, match="exists already"):
        access.add_user(empty_ws, "zhang", role="viewer", password="long enough", actor=actors["admin"])


def test_sign_in_back_off_and_lock_out(empty_ws, actors):
    import datetime as dt

    access.add_user(empty_ws, "zhang", role="planner", password="correct horse", actor=actors["admin"])
    # whole seconds: failure times are stored to the second, so a clock at x.9 s would see up to 0.9 s
    # of a back-off already gone (the test then failed about half the time)
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = lambda s: t0 + dt.timedelta(seconds=s)  # noqa: E731 - the clock of each attempt
    me = access.authenticate(empty_ws, "zhang", "correct horse", now=at(0))
    assert me == Actor("zhang", "planner", None, "zhang")
    with pytest.raises(AuthenticationError, match="wrong password") as err:
        access.authenticate(empty_ws, "zhang", "nope", now=at(1))
    assert err.value.wait_s == 1.0
    with pytest.raises(AuthenticationError, match="wait"):  # the right password, but inside the back-off
        access.authenticate(empty_ws, "zhang", "correct horse", now=at(1.5))
    for n in range(2, access.MAX_FAILURES + 1):  # each wrong try after its back-off: 1, 2, 4, 8 s
        with pytest.raises(AuthenticationError):
            access.authenticate(empty_ws, "zhang", "nope", now=at(100 * n))
    with pytest.raises(AuthenticationError, match="locked"):
        access.authenticate(empty_ws, "zhang", "correct horse", now=at(100 * access.MAX_FAILURES + 60))
    # the lock ends by itself after LOCK_MINUTES
    later = 100 * access.MAX_FAILURES + access.LOCK_MINUTES * 60 + 1
    assert access.authenticate(empty_ws, "zhang", "correct horse", now=at(later)).role == "planner"
    log = empty_ws.read_table("audit_log")
    assert (log["summary"].str.startswith("登录失败")).sum() == access.MAX_FAILURES + 2  # + the wait, + the lock
    assert (log["summary"] == "登录成功").sum() == 2


def test_an_admin_unlocks(empty_ws, actors):
    access.add_user(empty_ws, "zhang", role="planner", password="correct horse", actor=actors["admin"])
    import datetime as dt

    t0 = dt.datetime.now(dt.UTC)
    for n in range(access.MAX_FAILURES):
        with pytest.raises(AuthenticationError):
            access.authenticate(empty_ws, "zhang", "nope", now=t0 + dt.timedelta(seconds=100 * n))
    with pytest.raises(AuthenticationError, match="locked"):
        access.authenticate(empty_ws, "zhang", "correct horse")
    access.set_disabled(empty_ws, "zhang", False, actor=actors["admin"])
    assert access.authenticate(empty_ws, "zhang", "correct horse").username == "zhang"


def test_unknown_disabled_and_sso_only_accounts(empty_ws, actors):
    with pytest.raises(AuthenticationError, match="unknown user name or wrong password"):
        access.authenticate(empty_ws, "nobody", "x")
    access.add_user(empty_ws, "li", role="viewer", password="long enough", actor=actors["admin"])
    access.set_disabled(empty_ws, "li", True, actor=actors["admin"])
    with pytest.raises(AuthenticationError, match="disabled"):
        access.authenticate(empty_ws, "li", "long enough")
    access.add_user(empty_ws, "wang@ruian.gov.cn", role="official", township="330381008", source="oidc",
                    actor=actors["admin"])
    with pytest.raises(AuthenticationError, match="single sign-on"):
        access.authenticate(empty_ws, "wang@ruian.gov.cn", "")


def test_own_password_change_and_role_change(empty_ws, actors):
    access.add_user(empty_ws, "zhang", role="planner", password="correct horse", actor=actors["admin"])
    me = access.authenticate(empty_ws, "zhang", "correct horse")
    access.set_password(empty_ws, "zhang", "battery staple", actor=me)
    with pytest.raises(AccessDeniedError):
        access.set_password(empty_ws, "other", "battery staple", actor=me)
    assert access.authenticate(empty_ws, "zhang", "battery staple").username == "zhang"
    access.set_role(empty_ws, "zhang", "official", township="330381008", actor=actors["admin"])
    assert access.authenticate(empty_ws, "zhang", "battery staple") == Actor("zhang", "official", "330381008", "zhang")
    row = empty_ws.read_table("audit_log").sort_values("audit_id")
    assert "规划人员 → 镇街人员" in row.loc[row["action"] == "user.manage", "summary"].iloc[-1]


def test_sso_role_from_mapping_or_claim(empty_ws, actors):
    claims = {"sub": "u1", "preferred_username": "wang", "name": "王科长", "planner_role": "planner"}
    assert access.sso_actor(empty_ws, claims) == Actor("sso:wang", "planner", None, "王科长")
    access.add_user(empty_ws, "wang", role="official", township="330381008", source="oidc", actor=actors["admin"])
    assert access.sso_actor(empty_ws, claims) == Actor("wang", "official", "330381008", "王科长")  # the mapping wins
    with pytest.raises(AuthenticationError, match="no role") as refused:
        access.sso_actor(empty_ws, {"sub": "u2", "preferred_username": "zhao", "name": "赵"})
    assert "赵(账户 zhao)已通过统一身份认证,但尚未分配本系统的角色" in refused.value.localized("zh")
    assert "cli.py user add zhao --role ROLE --sso" in refused.value.localized("en")
    assert access.sso_actor(empty_ws, {"sub": "u2", "preferred_username": "zhao"}, default_role="viewer").role == "viewer"
    log = empty_ws.read_table("audit_log").sort_values("audit_id")
    logins = log[log["action"] == "login"]
    assert list(logins["username"]) == ["sso:wang", "wang", "anonymous", "sso:zhao"]
    assert list(logins["summary"].str.slice(0, 10)) == ["统一身份认证登录成功"] * 2 + ["统一身份认证登录失败"] + ["统一身份认证登录成功"]
    assert "本系统的账户映射" in logins["summary"].iloc[1] and "默认角色" in logins["summary"].iloc[3]


def test_sso_never_borrows_a_password_accounts_role(empty_ws, actors):
    """A token whose name equals a password account's (``admin``) is not that account."""
    access.add_user(empty_ws, "admin2", role="admin", password="long enough", actor=actors["admin"])
    me = access.sso_actor(empty_ws, {"sub": "x", "preferred_username": "admin2", "planner_role": "viewer"})
    assert me == Actor("sso:admin2", "viewer", None, "admin2")
    with pytest.raises(AuthenticationError, match="no role"):
        access.sso_actor(empty_ws, {"sub": "x", "preferred_username": "admin2"})


def test_sso_disabled_mapping_is_refused(empty_ws, actors):
    access.add_user(empty_ws, "qian", role="planner", source="oidc", actor=actors["admin"])
    access.set_disabled(empty_ws, "qian", True, actor=actors["admin"])
    with pytest.raises(AuthenticationError, match="disabled"):
        access.sso_actor(empty_ws, {"sub": "q", "preferred_username": "qian", "planner_role": "admin"})


@pytest.mark.parametrize(("claims", "options", "expected"), [
    ({"planner_role": ["offline_access", "viewer", "planner"]}, {}, "planner"),  # a list: the widest role
    ({"resource_access": {"ruian-planner": {"roles": ["admin"]}}},
     {"role_claim": "resource_access.ruian-planner.roles"}, "admin"),  # Keycloak's client roles (dotted path)
    ({"groups": "viewer"}, {"role_claim": "groups"}, "viewer"),
    ({"planner_role": "guest"}, {}, None),  # not a role of this system
    ({"planner_role": "guest"}, {"default_role": "viewer"}, "viewer"),
])
def test_sso_role_claim_forms(empty_ws, claims, options, expected):
    claims = {"sub": "s", "preferred_username": "sun", **claims}
    if expected is None:
        with pytest.raises(AuthenticationError, match="'guest'"):
            access.sso_actor(empty_ws, claims, **options)
    else:
        assert access.sso_actor(empty_ws, claims, **options).role == expected


def test_sso_official_township_by_code_or_name(empty_ws):
    import geopandas as gpd
    from shapely.geometry import box

    towns = gpd.GeoDataFrame({"code": ["330381001", "330381008"], "name": ["安阳街道", "飞云街道"], "kind": ["街道", "街道"]},
                             geometry=[box(500000, 3070000, 501000, 3071000), box(501000, 3070000, 502000, 3071000)],
                             crs=empty_ws.crs)
    empty_ws.write("townships", towns, actor=access.SYSTEM)
    official = {"sub": "z", "preferred_username": "zhou", "planner_role": "official"}
    assert access.sso_actor(empty_ws, {**official, "planner_township": "飞云街道"}).township == "330381008"
    assert access.sso_actor(empty_ws, {**official, "planner_township": "330381001"}).township == "330381001"
    assert access.visible_townships(access.sso_actor(empty_ws, {**official, "planner_township": "飞云街道"})) == {"330381008"}
    with pytest.raises(AuthenticationError, match="not one of this workspace's townships"):
        access.sso_actor(empty_ws, {**official, "planner_township": "上海"})
    with pytest.raises(AuthenticationError, match="no township"):
        access.sso_actor(empty_ws, official)


def test_sso_username_claim(empty_ws):
    claims = {"sub": "f81d4fae", "email": "wu@ruian.example", "employee_id": "E1024", "planner_role": "viewer"}
    assert access.sso_username(claims) == "wu@ruian.example"  # no preferred_username: the e-mail
    assert access.sso_actor(empty_ws, claims, username_claim="employee_id").username == "sso:E1024"


def test_regrade_conflict_names_who_and_when(empty_ws, actors):
    first = regrades.record(empty_ws, actor=actors["planner"], credit_code="913303810000000001", new_class="B",
                            reason="核查", check_expected=True, expected_id=None)
    with pytest.raises(ConflictError, match=r"re-graded by zhang at \d{4}-\d\d-\d\d \d\d:\d\d"):
        regrades.record(empty_ws, actor=Actor("li", "planner"), credit_code="913303810000000001", new_class="C",
                        reason="另一人", check_expected=True, expected_id=None)
    second = regrades.record(empty_ws, actor=Actor("li", "planner"), credit_code="913303810000000001",
                             new_class="C", reason="另一人", check_expected=True, expected_id=first)
    assert second > first
    assert regrades.effective(empty_ws)["new_class"].tolist() == ["C"]


def test_audit_read_is_for_admins_in_local_time(sample_gpkg_copy, actors):
    from layers import audit

    with pytest.raises(AccessDeniedError):
        audit.read(sample_gpkg_copy, actor=actors["planner"])
    rows = audit.read(sample_gpkg_copy, actor=actors["admin"], action="user")
    assert len(rows) == 4 and rows["role_label"].eq("管理员").all()  # the sample's demo accounts, made by system
    stored = pd.to_datetime(rows["at"], utc=True).dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M:%S")
    assert rows["at_local"].tolist() == stored.tolist()


def test_local_time_is_beijing_time():
    from layers.timefmt import local_time

    assert local_time("2026-11-28T06:02:11Z") == "2026-11-28 14:02"
    assert local_time("2026-11-28T14:02:11+08:00") == "2026-11-28 14:02"  # rows of the previous format
    assert local_time("2026-11-28T23:30:00Z", fmt="%m-%d %H:%M") == "11-29 07:30"
    assert local_time("", "Asia/Shanghai") == "—" and local_time(None) == "—"


def test_browser_sessions_resume_expire_and_end(empty_ws, actors):
    import datetime as dt

    access.add_user(empty_ws, "zhang", role="planner", password="correct horse", actor=actors["admin"])
    me = access.authenticate(empty_ws, "zhang", "correct horse")
    token = access.open_session(empty_ws, me)
    with empty_ws.reading() as r:  # only the hash is stored
        assert token not in str(r.execute("SELECT * FROM sessions"))
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=3600) == me
    assert access.resume_session(empty_ws, token + "x", idle_s=60, max_s=3600) is None
    with empty_ws._begin(None, None) as tx:  # an hour without use
        old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        tx.execute("UPDATE sessions SET last_seen = ?", (old,))
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=7200) is None
    access.touch_session(empty_ws, token)
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=7200) == me
    access.set_role(empty_ws, "zhang", "viewer", actor=actors["admin"])  # the role is read afresh
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=7200).role == "viewer"
    access.set_disabled(empty_ws, "zhang", True, actor=actors["admin"])
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=7200) is None
    access.set_disabled(empty_ws, "zhang", False, actor=actors["admin"])
    access.close_session(empty_ws, token)
    assert access.resume_session(empty_ws, token, idle_s=60, max_s=7200) is None


def test_sso_token_older_than_a_session_asks_for_a_new_sign_in():
    """Streamlit's identity cookie lasts 30 days; the app's 12-hour limit is applied to the ID token's ``iat``."""
    import time

    from ui.login import MAX_SESSION_S, _sso_fresh

    now = time.time()
    assert _sso_fresh({"iat": now - 60})
    assert not _sso_fresh({"iat": now - MAX_SESSION_S - 60})
    assert _sso_fresh({"iat": now - 60, "auth_time": now - 30 * 86400})  # remembered at the provider: still fine
