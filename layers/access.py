"""Who may do what: actors, roles, the permission check, the audit log's vocabulary.

Every function that writes to a workspace takes the acting user (an :class:`Actor`) and
calls :func:`require` once, before anything is read for the change; the workspace's
transaction then appends one audit row in the same transaction as the change (see
``layers.store``).  Hiding a button is never the check: a viewer calling the library
directly is refused the same way.

Roles (what each may do)::

    viewer    浏览者    browse every page and layer, export
    official  镇街人员  browse, filter and export only their own township's plots, firms and shortlist
                        entries; add notes to their township's entries; move them to 已处置
    planner   规划人员  everything a viewer does, plus the shortlist (add, remove, order, status, notes),
                        analysis runs (chain, siting, joint zones) and re-grades
    admin     管理员    everything, plus imports, saved mappings, presets, restoring layer versions,
                        pruning runs, users, and reading the audit log

The built-in ``system`` actor (role admin) is what the sample builder and migrations use;
the CLI acts as the operating-system user (see :func:`os_actor`).
"""
from __future__ import annotations

import getpass
from dataclasses import dataclass

from geo.errors import AccessDeniedError

__all__ = [
    "ROLES",
    "ROLE_LABELS",
    "PERMISSIONS",
    "ACTION_LABELS",
    "Actor",
    "SYSTEM",
    "ANONYMOUS",
    "os_actor",
    "allowed",
    "require",
    "require_township",
    "visible_townships",
    "add_user",
    "set_password",
    "set_role",
    "set_disabled",
    "list_users",
    "authenticate",
    "sso_actor",
    "sso_username",
    "MAX_FAILURES",
    "LOCK_MINUTES",
    "open_session",
    "resume_session",
    "session_signed_in",
    "touch_session",
    "close_session",
]

ROLES: tuple[str, ...] = ("viewer", "official", "planner", "admin")
ROLE_LABELS: dict[str, dict[str, str]] = {
    "viewer": {"zh": "浏览者", "en": "Viewer"},
    "official": {"zh": "镇街人员", "en": "Township official"},
    "planner": {"zh": "规划人员", "en": "Planner"},
    "admin": {"zh": "管理员", "en": "Administrator"},
    "anonymous": {"zh": "未登录", "en": "Not signed in"},
}

_EDITORS = frozenset({"planner", "admin"})
_ADMIN = frozenset({"admin"})
#: action → roles allowed.  Officials' township scope is checked by :func:`require_township`.
PERMISSIONS: dict[str, frozenset[str]] = {
    "shortlist.add": _EDITORS,
    "shortlist.remove": _EDITORS,
    "shortlist.order": _EDITORS,
    "shortlist.update": _EDITORS,               # status (any step), responsible township
    "shortlist.note": _EDITORS | {"official"},  # notes on an entry (officials: own township)
    "shortlist.dispose": _EDITORS | {"official"},  # 已上报 → 已处置 (officials: own township)
    "run.chain": _EDITORS,
    "run.siting": _EDITORS,
    "run.integration": _EDITORS,
    "regrade": _EDITORS,
    "runs.prune": _ADMIN,
    "import": _ADMIN,
    "mapping.save": _ADMIN,
    "preset.save": _ADMIN,
    "layer.write": _ADMIN,
    "layer.restore": _ADMIN,
    "workspace.settings": _ADMIN,
    "user.manage": _ADMIN,
    "audit.read": _ADMIN,
    "login": frozenset({"anonymous", *ROLES}),
}
ACTION_LABELS: dict[str, dict[str, str]] = {
    "shortlist.add": {"zh": "加入候选清单", "en": "Add to shortlist"},
    "shortlist.remove": {"zh": "移出候选清单", "en": "Remove from shortlist"},
    "shortlist.order": {"zh": "调整清单排序", "en": "Reorder shortlist"},
    "shortlist.update": {"zh": "修改清单条目", "en": "Edit shortlist entry"},
    "shortlist.note": {"zh": "填写清单备注", "en": "Note on shortlist entry"},
    "shortlist.dispose": {"zh": "标记已处置", "en": "Mark as disposed"},
    "run.chain": {"zh": "运行综合分析", "en": "Run the analyses"},
    "run.siting": {"zh": "运行搬迁选址", "en": "Run relocation siting"},
    "run.integration": {"zh": "运行跨镇街分析", "en": "Run joint-zone analysis"},
    "regrade": {"zh": "调整评价类别", "en": "Re-grade a firm"},
    "runs.prune": {"zh": "清理历史运行", "en": "Prune old runs"},
    "import": {"zh": "导入数据", "en": "Import data"},
    "mapping.save": {"zh": "保存字段映射", "en": "Save a column mapping"},
    "preset.save": {"zh": "保存参数方案", "en": "Save a preset"},
    "layer.write": {"zh": "写入图层", "en": "Write layers"},
    "layer.restore": {"zh": "恢复图层版本", "en": "Restore a layer version"},
    "workspace.settings": {"zh": "修改工作空间设置", "en": "Change workspace settings"},
    "user.manage": {"zh": "管理用户", "en": "Manage users"},
    "audit.read": {"zh": "查看操作日志", "en": "Read the audit log"},
    "login": {"zh": "登录", "en": "Sign in"},
}


@dataclass(frozen=True)
class Actor:
    """The user a change is made for.

    Parameters
    ----------
    username : str
        The account name recorded in the audit log and every history row.
    role : str
        One of :data:`ROLES` (``"anonymous"`` only for sign-in attempts).
    township : str, optional
        A township official's township code (their data scope).
    display_name : str
        What the UI shows (defaults to the username).
    """

    username: str
    role: str
    township: str | None = None
    display_name: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.username


SYSTEM = Actor("system", "admin", display_name="系统")
ANONYMOUS = Actor("anonymous", "anonymous", display_name="未登录")


def os_actor() -> Actor:
    """The command-line actor: the operating-system login, as an administrator.

    Whoever runs the CLI on the server can already change the workspace file (or database
    credentials) directly, so the CLI does not pretend to restrict them; it records their OS
    login as the actor.  ``cli.py --as NAME`` signs in as a workspace account instead (password
    asked), and then that account's role applies.
    """
    try:
        login = getpass.getuser() or "unknown"
    except Exception:  # noqa: BLE001 - no login name in some service environments
        login = "unknown"
    return Actor(f"os:{login}", "admin", display_name=login)


def allowed(actor: Actor, action: str) -> bool:
    """True when ``actor``'s role may perform ``action`` (township scope not checked here)."""
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}; known: {sorted(PERMISSIONS)}")
    return actor.role in PERMISSIONS[action]


def require(actor: Actor, action: str) -> Actor:
    """Raise :class:`AccessDeniedError` unless ``actor`` may perform ``action``; returns the actor."""
    if not isinstance(actor, Actor):
        raise AccessDeniedError(f"{action}: no acting user given (got {type(actor).__name__}); every write names one.",
                                message_zh="未指定操作人:每次修改都必须由已登录的用户发起。")
    if not allowed(actor, action):
        what = ACTION_LABELS.get(action, {"zh": action, "en": action})
        roles = sorted(PERMISSIONS[action] - {"anonymous"})
        raise AccessDeniedError(
            f"{actor.username} ({actor.role}) may not: {what['en']}. Allowed roles: {', '.join(roles)}.",
            message_zh=f"{actor.label}({ROLE_LABELS.get(actor.role, {}).get('zh', actor.role)})无权执行:{what['zh']}。"
                       f"需要角色:{'、'.join(ROLE_LABELS[r]['zh'] for r in roles)}。")
    return actor


def require_township(actor: Actor, action: str, townships) -> None:
    """Officials may act only on their own township's records: refuse if any record is elsewhere."""
    if actor.role != "official":
        return
    other = sorted({str(t) for t in townships if str(t) != str(actor.township)})
    if other:
        raise AccessDeniedError(
            f"{actor.username} is the official of township {actor.township} and may not change records of "
            f"{', '.join(other)}.",
            message_zh=f"{actor.label} 只能处理本镇街({actor.township})的条目,不能修改其他镇街({'、'.join(other)})的条目。")


def visible_townships(actor: Actor) -> set[str] | None:
    """Townships whose data ``actor`` may see: ``None`` = all; an official sees only their own."""
    if actor.role == "official":
        return {str(actor.township)} if actor.township else set()
    return None


# --- accounts ----------------------------------------------------------------------------------------
# Built-in accounts live in the workspace's ``users`` table; passwords are hashed with Argon2id
# (argon2-cffi's defaults: RFC 9106's second recommended set, 64 MiB, 3 passes).  After each
# failed sign-in the account waits 2^(n-1) s (at most BACKOFF_MAX_S) before it may try again;
# after MAX_FAILURES failures in a row it is locked for LOCK_MINUTES.  Both are stored in the
# workspace, so they hold across app servers and restarts.  Settings: PLANNER_LOGIN_MAX_FAILURES,
# PLANNER_LOGIN_LOCK_MINUTES, PLANNER_LOGIN_BACKOFF_S (the first wait; it doubles).
MAX_FAILURES = 5
LOCK_MINUTES = 15
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30
MIN_PASSWORD = 8


def _setting(name: str, default: float) -> float:
    """A sign-in setting from the environment (``PLANNER_LOGIN_*``), else the default above."""
    import os

    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _limits() -> tuple[int, float, float]:
    """(failures before the lock, lock minutes, first back-off in s), each overridable by a setting."""
    return (int(_setting("PLANNER_LOGIN_MAX_FAILURES", MAX_FAILURES)), _setting("PLANNER_LOGIN_LOCK_MINUTES", LOCK_MINUTES),
            _setting("PLANNER_LOGIN_BACKOFF_S", BACKOFF_BASE_S))
_USERNAME_RE = __import__("re").compile(r"^[A-Za-z0-9_.@-]{2,64}$")


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def _now():
    import datetime as _dt

    return _dt.datetime.now(_dt.UTC)


def _iso(t) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text):
    import datetime as _dt

    if not text:
        return None
    return _dt.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)


def _check_role(role: str, township) -> None:
    from geo.errors import ParameterError

    if role not in ROLES:
        raise ParameterError(f"role {role!r} is not one of {ROLES}",
                             message_zh=f"角色 {role!r} 无效,应为:{'、'.join(ROLE_LABELS[r]['zh'] for r in ROLES)}")
    if role == "official" and not township:
        raise ParameterError("a township official needs a township code (their data scope)",
                             message_zh="镇街人员必须指定所属镇街代码(其数据范围)。")


def _check_password(username: str, password: str) -> None:
    from geo.errors import ParameterError

    if not isinstance(password, str) or len(password) < MIN_PASSWORD or password.strip().lower() == username.lower():
        raise ParameterError(f"a password needs at least {MIN_PASSWORD} characters and must differ from the user name",
                             message_zh=f"密码至少 {MIN_PASSWORD} 位,且不能与用户名相同。")


def _user_rows(tx, username: str) -> dict | None:
    cols = ("username", "display_name", "role", "township", "password_hash", "source", "disabled", "failed_count",
            "last_failed_at", "locked_until", "last_login_at")
    rows = tx.execute(f"SELECT {', '.join(cols)} FROM users WHERE username = ?", (username,))
    return dict(zip(cols, rows[0])) if rows else None


def add_user(ws, username: str, *, role: str, actor: Actor, password: str | None = None, township: str | None = None,
             display_name: str = "", source: str = "local") -> None:
    """Create an account (administrators only).  ``source="oidc"`` accounts sign in through single sign-on
    and have no password here: the row only maps the identity to a role and township."""
    from geo.errors import ParameterError

    require(actor, "user.manage")
    if not isinstance(username, str) or not _USERNAME_RE.match(username) or username.startswith(("os:", "system")):
        raise ParameterError(f"user name {username!r}: 2–64 letters, digits, _ . @ -",
                             message_zh=f"用户名 {username!r} 不合法:2–64 位字母、数字或 _ . @ -")
    _check_role(role, township)
    if source == "local":
        _check_password(username, password or "")
    hashed = _hasher().hash(password) if password else None
    with ws.transaction(actor, "user.manage", target=username) as tx:
        if _user_rows(tx, username):
            raise ParameterError(f"user {username!r} exists already", message_zh=f"用户 {username} 已存在")
        now = _iso(_now())
        tx.execute("INSERT INTO users(username, display_name, role, township, password_hash, source, disabled, "
                   "failed_count, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                   (username, display_name or username, role, township, hashed, source, False, now, now))
        tx.summary = f"新建用户 {username}({ROLE_LABELS[role]['zh']}{'·' + township if township else ''})"
        tx.detail = {"after": {"role": role, "township": township, "source": source}}


def set_password(ws, username: str, password: str, *, actor: Actor) -> None:
    """Set a password: an administrator for anyone, every user for their own account."""
    from geo.errors import ParameterError

    if actor.username != username:
        require(actor, "user.manage")
    _check_password(username, password)
    hashed = _hasher().hash(password)
    with ws.transaction(actor, "login" if actor.username == username else "user.manage", target=username) as tx:
        if not _user_rows(tx, username):
            raise ParameterError(f"no user {username!r}", message_zh=f"没有用户 {username}")
        tx.execute("UPDATE users SET password_hash = ?, failed_count = 0, locked_until = NULL, updated_at = ? "
                   "WHERE username = ?", (hashed, _iso(_now()), username))
        tx.summary = f"修改用户 {username} 的密码"


def set_role(ws, username: str, role: str, *, actor: Actor, township: str | None = None) -> None:
    """Change an account's role (and township, for officials)."""
    from geo.errors import ParameterError

    require(actor, "user.manage")
    _check_role(role, township)
    with ws.transaction(actor, "user.manage", target=username) as tx:
        row = _user_rows(tx, username)
        if not row:
            raise ParameterError(f"no user {username!r}", message_zh=f"没有用户 {username}")
        tx.execute("UPDATE users SET role = ?, township = ?, updated_at = ? WHERE username = ?",
                   (role, township if role == "official" else None, _iso(_now()), username))
        tx.summary = f"用户 {username}:{ROLE_LABELS[row['role']]['zh']} → {ROLE_LABELS[role]['zh']}"
        tx.detail = {"before": {"role": row["role"], "township": row["township"]},
                     "after": {"role": role, "township": township}}


def set_disabled(ws, username: str, disabled: bool, *, actor: Actor) -> None:
    """Disable (or enable again, clearing any lock) an account; its history stays."""
    from geo.errors import ParameterError

    require(actor, "user.manage")
    with ws.transaction(actor, "user.manage", target=username) as tx:
        if not _user_rows(tx, username):
            raise ParameterError(f"no user {username!r}", message_zh=f"没有用户 {username}")
        tx.execute("UPDATE users SET disabled = ?, failed_count = 0, locked_until = NULL, updated_at = ? "
                   "WHERE username = ?", (bool(disabled), _iso(_now()), username))
        tx.summary = f"{'停用' if disabled else '启用'}用户 {username}"


def list_users(ws):
    """Accounts without their password hashes (username, display name, role, township, state, last sign-in)."""
    df = ws.read_table("users")
    return df.drop(columns=["password_hash"]).reset_index(drop=True)


def _auth_error(username: str, en: str, zh: str, wait_s: float | None):
    """The error a refused sign-in raises; ``wait_s``: how long before the next try is worth making."""
    from geo.errors import AuthenticationError

    exc = AuthenticationError(en, message_zh=zh, details=[{"username": username, "wait_s": wait_s}])
    exc.wait_s = wait_s
    return exc


def authenticate(ws, username: str, password: str, *, now=None) -> Actor:
    """Check a user name and password; return the account's :class:`Actor` or raise ``AuthenticationError``.

    Every attempt is written to the audit log (the failures with their reason).  A wrong
    password counts a failure on the account and sets its back-off; the fifth in a row locks it.
    An unknown user name costs the same hashing work as a known one (no timing hint).
    ``now`` (UTC datetime) replaces the clock, for tests of the back-off.
    """
    username = (username or "").strip()
    now = now or _now()
    ws.require_writable()
    with ws.transaction(ANONYMOUS, "login", target=username) as tx:
        row = _user_rows(tx, username)
        reason = _login_refusal(row, now)
        if reason is None:
            ok = _verify(row["password_hash"], password)
            if not ok:
                reason = _count_failure(tx, row, now)
        if reason is not None:
            en, zh, wait = reason
            tx.summary = f"登录失败:{zh}"
            tx.detail = {"ok": False, "username": username}
            failure = _auth_error(username, en, zh, wait)
        else:
            tx.execute("UPDATE users SET failed_count = 0, locked_until = NULL, last_login_at = ? WHERE username = ?",
                       (_iso(now), username))
            if _needs_rehash(row["password_hash"]):
                tx.execute("UPDATE users SET password_hash = ? WHERE username = ?", (_hasher().hash(password), username))
            tx.actor = actor = Actor(username, row["role"], row["township"], row["display_name"] or username)
            tx.summary, tx.detail = "登录成功", {"ok": True}
            failure = None
    if failure is not None:
        raise failure
    return actor


def _verify(hashed, password) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(hashed or _DUMMY_HASH(), password or "")
    except (VerificationError, InvalidHashError):
        return False


def _needs_rehash(hashed) -> bool:
    try:
        return _hasher().check_needs_rehash(hashed)
    except Exception:  # noqa: BLE001 - a malformed stored hash is replaced on the next password change
        return False


_DUMMY: list[str] = []


def _DUMMY_HASH() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash("not-a-password-of-anyone"))
    return _DUMMY[0]


def _login_refusal(row, now):
    """Why this account may not try now (None = it may): unknown, disabled, SSO-only, locked, backing off."""
    if row is None:
        _verify(None, "x")  # same work as a known account
        return ("unknown user name or wrong password", "用户名或密码错误", None)
    if row["disabled"]:
        return ("this account is disabled; ask an administrator", "该账户已停用,请联系管理员", None)
    if row["source"] != "local" or not row["password_hash"]:
        return ("this account signs in through single sign-on", "该账户使用统一身份认证登录,请点击“统一身份认证登录”", None)
    max_failures, _, base = _limits()
    locked = _parse(row["locked_until"])
    if locked and locked > now:
        minutes = max(1, int((locked - now).total_seconds() // 60) + 1)
        return (f"this account is locked after {max_failures} failed sign-ins; try again in {minutes} min or ask an "
                "administrator", f"连续 {max_failures} 次登录失败,账户已锁定;请 {minutes} 分钟后再试或联系管理员",
                (locked - now).total_seconds())
    last = _parse(row["last_failed_at"])
    n = int(row["failed_count"] or 0)
    if last and n:
        wait = min(base * 2 ** (n - 1), BACKOFF_MAX_S) - (now - last).total_seconds()
        if wait > 0:
            return (f"too many attempts: wait {wait:.0f} s before trying again",
                    f"尝试过于频繁:请等待 {wait:.0f} 秒后再试", wait)
    return None


def _count_failure(tx, row, now):
    import datetime as _dt

    max_failures, lock_minutes, base = _limits()
    n = int(row["failed_count"] or 0) + 1
    locked = _iso(now + _dt.timedelta(minutes=lock_minutes)) if n >= max_failures else None
    tx.execute("UPDATE users SET failed_count = ?, last_failed_at = ?, locked_until = ? WHERE username = ?",
               (0 if locked else n, _iso(now), locked, row["username"]))
    if locked:
        return (f"wrong password; the account is now locked for {lock_minutes:g} min after {max_failures} failures",
                f"密码错误;连续 {max_failures} 次失败,账户已锁定 {lock_minutes:g} 分钟", lock_minutes * 60.0)
    return ("unknown user name or wrong password", f"用户名或密码错误(还可尝试 {max_failures - n} 次)",
            float(min(base * 2 ** (n - 1), BACKOFF_MAX_S)))


#: Roles from the widest to the narrowest: a token that lists several (a list claim) gets the widest.
_ROLES_WIDEST_FIRST: tuple[str, ...] = ("admin", "planner", "official", "viewer")


def _claim(claims: dict, name: str):
    """A claim by its name, or by a dotted path into nested claims (Keycloak's
    ``resource_access.<client>.roles``); None when absent."""
    if name in claims:
        return claims[name]
    value = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _role_in(value) -> str | None:
    """The role a claim value names: a role code, or the widest role among a list of values."""
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else []
    return next((r for r in _ROLES_WIDEST_FIRST if r in {str(v).strip() for v in values}), None)


def _township_code(value, towns: dict[str, str] | None) -> str | None:
    """A township claim as a township code: the claim may give the code or the name (飞云街道);
    ``towns`` maps the workspace's names and codes to codes (None: no townships layer to check
    against, the claim is kept as given).  None when no such township exists."""
    text = str(value).strip()
    return text if towns is None else towns.get(text)


def _township_lookup(ws) -> dict[str, str] | None:
    """Township code and name → code, or None when the workspace has no townships layer."""
    if not ws.has_layer("townships"):
        return None
    towns = ws.read("townships", columns=["code", "name"])
    codes = towns["code"].astype(str)
    return {**dict(zip(towns["name"].astype(str), codes)), **dict(zip(codes, codes))}


def sso_username(claims: dict, username_claim: str = "preferred_username") -> str:
    """The account name of a single-sign-on identity: ``username_claim``, else ``preferred_username``,
    ``email``, ``sub`` — the name an administrator maps with ``cli.py user add NAME --sso``."""
    for name in (username_claim, "preferred_username", "email", "sub"):
        if (value := _claim(claims, name)):
            return str(value).strip()
    return ""


def _sso_role(towns, tx, claims: dict, username: str, name: str, *, role_claim: str, township_claim: str,
              default_role: str | None):
    """(role, township, where the role came from, account row) of a single-sign-on identity, or
    (None, None, refusal (en, zh), row) when it may not sign in."""
    row = _user_rows(tx, username) if username else None
    if row is not None and row["source"] != "oidc":
        row = None  # a password account of the same name is someone else: never hand its role to a token
    if row is not None:
        if row["disabled"]:
            return None, None, (f"{username}: this account is disabled; ask an administrator",
                                f"{name}(账户 {username})已被停用,请联系管理员。"), row
        return row["role"], row["township"], "mapping", row
    raw = _claim(claims, role_claim)
    role = _role_in(raw) or default_role  # default_role: an administrator's choice for every identity
    if role is None:
        got = f" (the claim {role_claim!r} says {raw!r})" if raw not in (None, "", []) else ""
        got_zh = f"(令牌声明 {role_claim} 的值为 {raw!r},不是本系统的角色)" if got else ""
        return None, None, (
            f"{username} signed in through single sign-on but has no role in this system{got}. An administrator "
            f"gives one: a claim {role_claim!r} with viewer, official, planner or admin from the identity provider, "
            f"or a mapping here (cli.py user add {username} --role ROLE --sso).",
            f"{name}(账户 {username})已通过统一身份认证,但尚未分配本系统的角色{got_zh}。请联系管理员分配角色"
            f"(统一身份认证中的角色声明,或本系统的账户映射)后再登录。"), None
    township = None
    if role == "official":
        given = _claim(claims, township_claim)
        township = _township_code(given, towns) if given not in (None, "") else None
        if township is None:
            what = f"township {given!r} is not one of this workspace's townships" if given else \
                f"no township (claim {township_claim!r})"
            what_zh = f"所属镇街 {given!r} 不在本工作空间的镇街中" if given else f"令牌中没有所属镇街(声明 {township_claim})"
            return None, None, (f"{username} is a township official but {what}; ask an administrator.",
                                f"{name}(账户 {username})是镇街人员,但{what_zh};请联系管理员。"), None
    return role, township, "claim" if _role_in(raw) else "default", None


def sso_actor(ws, claims: dict, *, role_claim: str = "planner_role", township_claim: str = "planner_township",
              username_claim: str = "preferred_username", default_role: str | None = None) -> Actor:
    """The actor of a user signed in through single sign-on (the ID token's claims, ``st.user``).

    The role comes from an ``oidc`` account row of the same name if there is one (an
    administrator's mapping, ``cli.py user add NAME --role R [--township T] --sso``, wins and
    may disable the identity), else from the token's ``role_claim`` (a role code, or a list of
    values of which the widest role counts; a dotted name reads a nested claim), else
    ``default_role`` (``[planner_sso]`` in secrets.toml).  A township official's township comes from the mapping or from
    ``township_claim`` (its code or its name).  A password account of the same name never
    lends its role to a token: such an identity is recorded as ``sso:NAME``.

    Every sign-in, allowed or refused, is one row of the audit log.

    Raises
    ------
    AuthenticationError
        No role (or an official without a known township), or a disabled mapping: the message
        names the account so that the user can ask an administrator.
    """
    from geo.errors import AuthenticationError

    username = sso_username(claims, username_claim)
    name = str(claims.get("name") or username)
    towns = _township_lookup(ws) if _claim(claims, township_claim) not in (None, "") else None
    with ws.transaction(ANONYMOUS, "login", target=username) as tx:
        role, township, source, row = _sso_role(towns, tx, claims, username, name, role_claim=role_claim,
                                                township_claim=township_claim, default_role=default_role)
        if role is None:
            en, zh = source
            tx.summary, tx.detail = f"统一身份认证登录失败:{zh}", {"ok": False, "username": username, "method": "sso"}
            failure = AuthenticationError(en, message_zh=zh, details=[{"username": username}])
        else:
            if row is not None:
                tx.execute("UPDATE users SET last_login_at = ? WHERE username = ?", (_iso(_now()), username))
            tx.actor = actor = Actor(username if row is not None else f"sso:{username}", role, township, name)
            tx.summary = "统一身份认证登录成功(角色来自" + {"mapping": "本系统的账户映射", "claim": f"令牌声明 {role_claim}",
                                                       "default": "默认角色"}[source] + ")"
            tx.detail = {"ok": True, "method": "sso", "role_from": source}
            failure = None
    if failure is not None:
        raise failure
    return actor


# --- browser sessions --------------------------------------------------------------------------------
# A signed-in browser keeps a random token in a cookie; the workspace keeps only its SHA-256, so a
# reload (a new Streamlit session) or another app server of the office resumes the sign-in, and
# signing out or disabling the account ends it everywhere.  Idle and absolute limits as the app's.
def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def open_session(ws, actor: Actor, *, method: str = "password") -> str:
    """A new session token for ``actor`` (give it to the browser; only its hash is stored)."""
    import datetime as _dt
    import secrets

    token = secrets.token_urlsafe(32)
    now = _now()
    with ws._begin(None, None) as tx:  # session bookkeeping: the sign-in itself is already audited
        tx.execute("INSERT INTO sessions(token_hash, username, method, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                   (_token_hash(token), actor.username, method, _iso(now), _iso(now)))
        tx.execute("DELETE FROM sessions WHERE last_seen < ?", (_iso(now - _dt.timedelta(days=2)),))
    return token


def _live_session(r, token, idle_s: float, max_s: float) -> tuple[str, str] | None:
    """(username, method) of a session token neither idle too long nor too old, else None."""
    if not isinstance(token, str) or not token or not r.table_exists("sessions"):
        return None
    rows = r.execute("SELECT username, method, created_at, last_seen FROM sessions WHERE token_hash = ?",
                     (_token_hash(token),))
    if not rows:
        return None
    username, method, created, seen = rows[0]
    now = _now()
    if (now - _parse(seen)).total_seconds() > idle_s or (now - _parse(created)).total_seconds() > max_s:
        return None
    return username, method


def resume_session(ws, token: str, *, idle_s: float, max_s: float) -> Actor | None:
    """The actor of a password session still valid (not idle too long, not too old, account enabled), else
    None.  A single-sign-on session is resumed by the identity provider's cookie instead (``st.user``)."""
    with ws.reading() as r:
        live = _live_session(r, token, idle_s, max_s)
        user = _user_rows(r, live[0]) if live else None
    if live is None or user is None or user["disabled"] or live[1] != "password":
        return None
    return Actor(live[0], user["role"], user["township"], user["display_name"] or live[0])


def session_signed_in(ws, token: str, *, idle_s: float, max_s: float) -> bool:
    """True while ``token`` is a valid session of an enabled user, password or single sign-on (what the
    map's tile and raster routes ask before they answer)."""
    with ws.reading() as r:
        live = _live_session(r, token, idle_s, max_s)
        user = _user_rows(r, live[0]) if live else None
    if live is None:
        return False
    return not (user["disabled"] if user is not None else live[1] == "password")


def touch_session(ws, token: str) -> None:
    """Record that the session is in use (keeps it from going idle); not an audited change."""
    with ws._begin(None, None) as tx:
        tx.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (_iso(_now()), _token_hash(token)))


def close_session(ws, token: str) -> None:
    """End a session (signing out): its token no longer resumes anywhere."""
    with ws._begin(None, None) as tx:
        tx.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))
