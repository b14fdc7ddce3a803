"""Streamlit entry point: page config, language switch, navigation. Pages live in ui/.

    streamlit run server.py         # what ./run.sh app starts: this app plus the tile/raster routes
    streamlit run app.py            # the app alone; opens data/ruian/ruian.gpkg (or $PLANNER_WORKSPACE)
"""
import streamlit as st

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from ui import import_page, map_page
from ui.pages import evaluation, integration, low_efficiency, parks, redevelopment, siting
from ui.pages import shortlist as shortlist_page
from ui.i18n import t
from ui.shell import language_switch

# Material icons ship inside Streamlit's frontend: emoji would need a colour-emoji font that
# government desktops often lack (they show as empty boxes).
# page_icon: an emoji, not ":material/…:" — Streamlit fetches material favicons from fonts.gstatic.com (offline intranet)
st.set_page_config(page_title="园区与低效用地再开发规划系统", page_icon="🗺️", layout="wide")

lang = language_switch()
map_entry = st.Page(map_page.render, title=t("page_map", lang), icon=":material/map:", url_path="map")


def _home() -> None:
    """The app's root URL opens the map at /map (Streamlit serves its default page only at the root)."""
    st.switch_page(map_entry)


pages = [
    st.Page(_home, title=t("page_map", lang), url_path="home", default=True, visibility="hidden"),
    map_entry,
    st.Page(import_page.render, title=t("page_import", lang), icon=":material/upload_file:", url_path="import"),
    st.Page(evaluation.render, title=t("page_evaluation", lang), icon=":material/leaderboard:", url_path="evaluation"),
    st.Page(low_efficiency.render, title=t("page_low_efficiency", lang), icon=":material/report:", url_path="low_efficiency"),
    st.Page(redevelopment.render, title=t("page_redevelopment", lang), icon=":material/construction:", url_path="redevelopment"),
    st.Page(siting.render, title=t("page_siting", lang), icon=":material/local_shipping:", url_path="siting"),
    st.Page(integration.render, title=t("page_integration", lang), icon=":material/join_inner:", url_path="integration"),
    st.Page(parks.render, title=t("page_parks", lang), icon=":material/factory:", url_path="parks"),
    st.Page(shortlist_page.render, title=t("page_shortlist", lang), icon=":material/checklist:", url_path="shortlist"),
]
st.navigation(pages).run()
