"""Running the app (or one page) in Streamlit's AppTest as a signed-in user."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120  # first run imports geopandas/folium and reads the workspace on a shared 2-core box


def sign_in(at: AppTest, actor) -> AppTest:
    """Put ``actor`` in the session as the sign-in screen would (session state is server-side)."""
    from ui.login import SESSION_KEY, session_for

    at.session_state[SESSION_KEY] = session_for(actor)
    return at


def app(monkeypatch, location, *, actor=None, lang: str = "zh", run: bool = True) -> AppTest:
    """The whole app on the workspace at ``location`` (path or DSN), signed in as ``actor`` (if given)."""
    monkeypatch.setenv("PLANNER_WORKSPACE", str(location))
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = lang
    if actor is not None:
        sign_in(at, actor)
    if run:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at
