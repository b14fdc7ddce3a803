"""Streamlit entry point: page config, language switch, sign-in, navigation. Pages live in ui/.

    streamlit run server.py         # what ./run.sh app starts: this app plus the tile/raster routes
    streamlit run app.py            # the app alone; opens data/ruian/ruian.gpkg (or $PLANNER_WORKSPACE: a path or a DSN)

Until a user signs in, the sign-in page is the only page (every URL shows it); then the
pages of the user's role (:func:`ui.nav.page_specs`), the root URL opening the map at /map.
"""
import streamlit as st

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from ui import import_page, login
from ui.i18n import t
from ui.nav import page_specs
from ui.shell import language_switch

# Material icons ship inside Streamlit's frontend: emoji would need a colour-emoji font that
# government desktops often lack (they show as empty boxes).
# page_icon: an emoji, not ":material/…:" — Streamlit fetches material favicons from fonts.gstatic.com (offline intranet)
st.set_page_config(page_title="园区与低效用地再开发规划系统", page_icon="🗺️", layout="wide")

import_page.sweep_uploads_once()  # once per server process: uploads left by servers that are gone
lang = language_switch()
actor = login.require_login(lang)
if actor is None:
    # Every page's address shows the sign-in form (no "page not found"); after signing in the
    # user is on the page they asked for.
    paths = ["login", *(p.url_path for p in page_specs(login.ADMIN_FOR_PATHS))]
    st.navigation([st.Page(login.render, title=t("login_title", lang), icon=":material/login:", url_path=path,
                           default=path == "login") for path in paths], position="hidden").run()
else:
    login.sidebar_user(actor, lang)
    specs = page_specs(actor)
    pages = [st.Page(p.render, title=t(p.title_key, lang), icon=p.icon, url_path=p.url_path) for p in specs]
    home = pages[[p.default for p in specs].index(True)]

    def _home() -> None:
        """The root URL opens the default page at its own address (Streamlit serves a default page only at /)."""
        st.switch_page(home)

    st.navigation([st.Page(_home, title=home.title, url_path="home", default=True, visibility="hidden"), *pages]).run()
