"""Domain-free geospatial toolkit: CRS, units, validation, safe I/O, rasters, web display prep.

Importing this package first switches off the GDAL drivers that can make a file read
other files or reach the network (VRT, WFS, OGC API...), before GDAL registers them.
"""
import os as _os

_os.environ.setdefault("GDAL_SKIP", "OGR_VRT WFS OAPIF CSW NGW PLSCENES EEDA Elasticsearch HTTP")
_os.environ.setdefault("GDAL_HTTP_TIMEOUT", "1")
