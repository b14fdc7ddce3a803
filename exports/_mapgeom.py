"""Map-frame arithmetic shared by the PDF pack's maps (:mod:`exports._pdfmaps`) and the printed map
(:mod:`exports.map_print`): the frame's shape and the scale bar's round length."""
from __future__ import annotations

import math

__all__ = ["fit_aspect", "scale_bar_length"]


def fit_aspect(bbox, aspect: float) -> tuple[float, float, float, float]:
    """Widen the shorter side of ``bbox`` so its shape matches ``aspect`` (width / height): equal
    metres per inch on both axes of a map."""
    minx, miny, maxx, maxy = bbox
    w, h = maxx - minx, maxy - miny
    if w / h < aspect:
        grow = (h * aspect - w) / 2
        return minx - grow, miny, maxx + grow, maxy
    grow = (w / aspect - h) / 2
    return minx, miny - grow, maxx, maxy + grow


def scale_bar_length(span_m: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ m) of at most a fifth of ``span_m``.

    >>> scale_bar_length(12_000)
    2000.0
    >>> scale_bar_length(700)
    100.0
    """
    target = max(float(span_m) / 5, 1e-9)
    exp = 10 ** math.floor(math.log10(target))
    return float(max(m * exp for m in (1, 2, 5) if m * exp <= target))
