"""Streamlit entry point: page config, language switch, navigation. Pages live in ui/.

    streamlit run app.py            # opens data/ruian/ruian.gpkg (or $PLANNER_WORKSPACE)
"""
import streamlit as st

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from ui import import_page, map_page
from ui.pages import evaluation, integration, low_efficiency, parks, redevelopment, siting
from ui.pages import shortlist as shortlist_page
from ui.i18n import t
from ui.shell import language_switch

st.set_page_config(page_title="园区与低效用地再开发规划系统", page_icon="🗺️", layout="wide")

lang = language_switch()
pages = [
    st.Page(map_page.render, title=t("page_map", lang), icon="🗺️", url_path="map", default=True),
    st.Page(import_page.render, title=t("page_import", lang), icon="📥", url_path="import"),
    st.Page(evaluation.render, title=t("page_evaluation", lang), icon="📊", url_path="evaluation"),
    st.Page(low_efficiency.render, title=t("page_low_efficiency", lang), icon="🏚️", url_path="low_efficiency"),
    st.Page(redevelopment.render, title=t("page_redevelopment", lang), icon="🏗️", url_path="redevelopment"),
    st.Page(siting.render, title=t("page_siting", lang), icon="🚚", url_path="siting"),
    st.Page(integration.render, title=t("page_integration", lang), icon="🔗", url_path="integration"),
    st.Page(parks.render, title=t("page_parks", lang), icon="🏭", url_path="parks"),
    st.Page(shortlist_page.render, title=t("page_shortlist", lang), icon="📋", url_path="shortlist"),
]
st.navigation(pages).run()
