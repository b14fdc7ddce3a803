"""The sign-in screen, and who is signed in to a session.

Screen, top to bottom: the app's title; a form with user name and password and a "sign in"
button (accounts of the workspace, :func:`layers.access.authenticate`: Argon2id hashes,
back-off and lock-out, every attempt in the audit log); when single sign-on is configured in
``.streamlit/secrets.toml`` (``[auth]``), a "sign in with single sign-on" button (Streamlit's
own OpenID Connect login, ``st.login``); on the bundled sample workspace, the demo accounts.

A signed-in session keeps its :class:`~layers.access.Actor` in session state (server side:
the browser cannot set it) and expires after ``PLANNER_SESSION_MINUTES`` idle minutes
(default 120) or 12 hours in all.  The browser holds a random session token in a cookie (the
workspace keeps only its hash, :func:`layers.access.open_session`): a reload or a new tab
resumes the sign-in; signing out ends it everywhere.  Pages never ask for a name: every write they make names
this actor, and the library refuses what the actor's role does not allow.

Single sign-on: back from the provider, ``st.user`` holds the ID token's claims, and
:func:`layers.access.sso_actor` turns them into an actor (role from the workspace's mapping,
else from the claim named in ``[planner_sso]``) once per session, writing one audit row.  An
identity without a role sees why (naming the account to give the administrator), a button
that leaves single sign-on, and the password form.  Signing out of a single-sign-on session
leaves it too (``st.logout``: Streamlit's identity cookie cleared, then the provider's
end-of-session page).  Streamlit keeps that cookie for 30 days, so the limits are applied to
it as well: a token issued more than 12 hours ago asks for a new sign-in, and an idle
session is signed out of single sign-on, not only of this session.
"""
from __future__ import annotations

import json
import os
import time

import streamlit as st

from geo.errors import AuthenticationError, PlannerError
from layers import access
from layers.access import ROLE_LABELS, Actor
from ui.i18n import t
from ui.shell import plain, show_error, workspace_location

__all__ = ["SESSION_KEY", "COOKIE", "MAX_SESSION_S", "current_actor", "require_login", "render", "sidebar_user",
           "session_for", "logout", "idle_limit_s"]

SESSION_KEY = "_planner_auth"
COOKIE = "planner_session"
_TOUCH_S = 300  # how often a session in use tells the workspace it is still active
SSO_REFUSED_KEY = "_planner_sso_refused"
SSO_EXPIRED_KEY = "_planner_sso_expired"
#: The widest set of pages (an administrator's): their addresses all lead to the sign-in form.
ADMIN_FOR_PATHS = Actor("-", "admin")
MAX_SESSION_S = 12 * 3600


def idle_limit_s() -> float:
    """Idle seconds before a session must sign in again (``PLANNER_SESSION_MINUTES``, default 120)."""
    try:
        return max(1.0, float(os.environ.get("PLANNER_SESSION_MINUTES", "120"))) * 60.0
    except ValueError:
        return 7200.0


def session_for(actor: Actor, *, method: str = "password", now: float | None = None, token: str | None = None) -> dict:
    """The session-state record of a signed-in actor (what :func:`current_actor` reads)."""
    now = time.time() if now is None else now
    return {"username": actor.username, "role": actor.role, "township": actor.township,
            "display_name": actor.display_name, "method": method, "since": now, "last_seen": now, "token": token,
            "touched": now}


def current_actor() -> Actor | None:
    """The signed-in user of this session, or None (never signed in, signed out, or expired)."""
    rec = st.session_state.get(SESSION_KEY)
    if not rec:
        return None
    now = time.time()
    if now - rec["last_seen"] > idle_limit_s() or now - rec["since"] > MAX_SESSION_S:
        st.session_state.pop(SESSION_KEY, None)
        st.session_state["_planner_expired"] = True
        if rec.get("method") == "sso":
            st.session_state[SSO_EXPIRED_KEY] = True
        return None
    rec["last_seen"] = now
    if rec.get("token") and now - rec.get("touched", now) > _TOUCH_S:
        _touch(rec)
    return Actor(rec["username"], rec["role"], rec.get("township"), rec.get("display_name") or rec["username"])


def _touch(rec: dict) -> None:
    from layers.store import open_workspace

    try:
        access.touch_session(open_workspace(workspace_location()), rec["token"])
        rec["touched"] = time.time()
    except PlannerError:
        pass  # the workspace is unreachable just now: the next rerun tries again


def _resume_from_cookie() -> Actor | None:
    """A reload or a new tab: the browser's session cookie signs the user in again while it is valid."""
    from layers.store import open_workspace

    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request context (bare mode)
        token = None
    if not isinstance(token, str) or not token:  # (AppTest hands out a stand-in object)
        return None
    try:
        actor = access.resume_session(open_workspace(workspace_location()), token, idle_s=idle_limit_s(),
                                      max_s=MAX_SESSION_S)
    except PlannerError:
        return None
    if actor is not None:
        st.session_state[SESSION_KEY] = session_for(actor, token=token)
    return actor


def _cookie_script(token: str | None) -> None:
    """Set (or, with None, clear) the session cookie from the page (Streamlit has no server-side cookie API).

    Drawn on every run while signed in, not once: a run that ends in ``st.switch_page`` (the root
    URL opening the map) drops what it drew, and an unchanged element costs nothing to redraw.
    """
    value = f"{COOKIE}={token}; max-age={MAX_SESSION_S}" if token else f"{COOKIE}=; max-age=0"
    st.sidebar.html(
        "<script>"
        f"document.cookie = '{value}; path=/; SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');"
        "</script>", unsafe_allow_javascript=True)


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml: Streamlit raises its own not-found error
        return False


def _sso_user() -> dict | None:
    try:
        user = st.user
        return dict(user.to_dict()) if user.is_logged_in else None
    except Exception:  # noqa: BLE001 - st.user needs auth configured
        return None


def _sso_settings() -> dict:
    """The ``[planner_sso]`` section of secrets.toml (how claims become a role; which provider)."""
    try:
        return dict(st.secrets.get("planner_sso", {}))
    except Exception:  # noqa: BLE001 - no secrets.toml
        return {}


def _sso_options() -> dict:
    opts = _sso_settings()
    return {k: opts[k] for k in ("role_claim", "township_claim", "username_claim", "default_role") if k in opts}


def _sso_fresh(claims: dict) -> bool:
    """False when the ID token was issued (``iat``) longer ago than a session may last: Streamlit keeps
    its identity cookie for 30 days, so the session limit is checked against the token itself.  Not
    ``auth_time``: a provider that remembers its users for weeks would then never let them back in."""
    issued = claims.get("iat")
    return not isinstance(issued, (int, float)) or time.time() - float(issued) <= MAX_SESSION_S


def require_login(lang: str) -> Actor | None:
    """The signed-in actor; a single-sign-on identity is turned into one here (role from the
    workspace's mapping or the token's claim).  None means the sign-in screen must be shown."""
    actor = current_actor()
    if actor is not None:
        if (token := (st.session_state.get(SESSION_KEY) or {}).get("token")):
            _cookie_script(token)
        return actor
    if st.session_state.pop("_planner_clear_cookie", False):
        _cookie_script(None)
    elif (actor := _resume_from_cookie()) is not None:
        return actor
    if st.session_state.pop(SSO_EXPIRED_KEY, False):
        st.logout()  # idle too long: the identity cookie would sign the browser straight back in
        st.stop()
    claims = _sso_user() if _sso_configured() else None
    if not claims:
        st.session_state.pop(SSO_REFUSED_KEY, None)
        return None
    if not _sso_fresh(claims):
        st.session_state["_planner_expired"] = True
        return None
    who = str(claims.get("sub") or "")
    refused = st.session_state.get(SSO_REFUSED_KEY)
    if refused and refused["sub"] == who:
        return None  # refused once in this session: ask again only after signing in anew (no audit row per rerun)
    try:
        from layers.store import open_workspace

        ws = open_workspace(workspace_location(), readonly=False)
        actor = access.sso_actor(ws, claims, **_sso_options())
        token = access.open_session(ws, actor, method="sso")  # the cookie the map's tile and raster routes ask for
    except PlannerError as exc:  # no role here, a disabled mapping, or no workspace to open: the page says why
        st.session_state[SSO_REFUSED_KEY] = {"sub": who, "zh": exc.localized("zh"), "en": exc.localized("en")}
        return None
    st.session_state.pop(SSO_REFUSED_KEY, None)
    st.session_state[SESSION_KEY] = session_for(actor, method="sso", token=token)
    _cookie_script(token)
    return actor


def render() -> None:
    """The sign-in page (the only page of a session that is not signed in)."""
    from layers.store import open_workspace
    from ui.shell import current_lang

    lang = current_lang()
    st.title(t("app_title", lang))
    try:
        info = open_workspace(workspace_location()).info
    except PlannerError as exc:  # nothing to sign in to: say what is missing and how to make it
        show_error(exc, lang)
        return
    st.subheader(t("login_title", lang))
    if st.session_state.pop("_planner_expired", False):
        st.warning(t("login_expired", lang))
    refused = st.session_state.get(SSO_REFUSED_KEY)
    if refused:  # signed in at the identity provider, but no role here: say why, and the way out
        st.error(plain(refused[lang]))
        if st.button(t("login_sso_leave", lang), key="sso_logout", type="primary"):
            st.logout()
    st.caption(t("login_intro", lang))
    with st.form("login_form", clear_on_submit=False):
        username = st.text_input(t("login_user", lang), key="login_user", max_chars=64)
        password = st.text_input(t("login_password", lang), type="password", key="login_password", max_chars=256)
        submitted = st.form_submit_button(t("login_button", lang), type="primary")
    if submitted:
        _sign_in(username, password, lang)
    if _sso_configured() and not refused:
        st.caption(t("login_or", lang))
        if st.button(t("login_sso", lang), key="login_sso"):
            _start_sso(lang)
    _demo_accounts(info, lang)


def _start_sso(lang: str) -> None:
    """Off to the identity provider (``[planner_sso] provider`` names an ``[auth.NAME]`` section)."""
    from streamlit.errors import StreamlitAuthError

    try:
        st.login(_sso_settings().get("provider"))
    except StreamlitAuthError as exc:  # an incomplete [auth] section: say what Streamlit found missing
        st.error(t("login_sso_config", lang, msg=" ".join(str(exc).split())))


def _sign_in(username: str, password: str, lang: str) -> None:
    from layers.store import open_workspace

    if not username.strip() or not password:
        st.error(t("login_missing", lang))
        return
    try:
        ws = open_workspace(workspace_location(), readonly=False)
        actor = access.authenticate(ws, username, password)
    except AuthenticationError as exc:
        st.error(plain(exc.localized(lang)))
        return
    except PlannerError as exc:
        show_error(exc, lang)
        return
    token = access.open_session(ws, actor)
    st.session_state[SESSION_KEY] = session_for(actor, token=token)
    st.session_state.pop("login_password", None)
    st.rerun()


def _demo_accounts(info: dict, lang: str) -> None:
    demo = info.get("demo_accounts")
    if not demo:
        return
    rows = json.loads(demo)
    st.info(t("login_demo", lang) + "\n\n" + "\n".join(
        f"- `{r['username']}` / `{r['password']}` — {ROLE_LABELS[r['role']][lang]}" for r in rows))


def logout() -> None:
    """End the session: forgotten here, in the workspace (every tab and server) and in the browser; a
    single-sign-on session also leaves single sign-on (Streamlit's identity cookie is cleared and the
    browser goes through the provider's end-of-session page)."""
    from layers.store import open_workspace

    rec = st.session_state.pop(SESSION_KEY, None)
    if rec and rec.get("token"):
        try:
            access.close_session(open_workspace(workspace_location()), rec["token"])
        except PlannerError:
            pass
        st.session_state["_planner_clear_cookie"] = True
    if rec and rec.get("method") == "sso":
        st.logout()
        st.stop()  # the browser is on its way to the provider: draw nothing more
    st.rerun()


def _township_name(code: str) -> str | None:
    """飞云街道 for 330381008 (None when the workspace cannot say): the sidebar shows names, not codes."""
    from ui.data import township_names
    from ui.shell import open_workspace

    try:
        return township_names(open_workspace()).get(str(code))
    except PlannerError:
        return None


def sidebar_user(actor: Actor, lang: str, *, township_name: str | None = None) -> None:
    """The sidebar line "signed in: name (role · township · single sign-on)" with the sign-out button."""
    if actor.township and township_name is None:
        township_name = _township_name(actor.township)
    town = f" · {township_name or actor.township}" if actor.township else ""
    if (st.session_state.get(SESSION_KEY) or {}).get("method") == "sso":
        town += f" · {t('login_via_sso', lang)}"
    st.sidebar.caption(t("login_as", lang, name=actor.label, role=ROLE_LABELS[actor.role][lang], town=town))
    if st.sidebar.button(t("logout", lang), key="logout_button"):
        logout()
