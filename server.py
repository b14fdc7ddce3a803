"""ASGI entry point: the Streamlit app (``app.py``) plus the routes of :mod:`ui.tileserver`.

    streamlit run server.py     # what ./run.sh app starts

Streamlit finds the ``st.App`` below and serves ``app.py`` as usual; the extra routes serve
the office's local tile package (``PLANNER_TILES``) and the raster overlays of the map.
``streamlit run app.py`` still works, without those two (the map page says so).
"""
import streamlit as st

import geo  # noqa: F401  (GDAL safety settings before any GDAL import)
from ui.tileserver import routes

app = st.App("app.py", routes=routes())
