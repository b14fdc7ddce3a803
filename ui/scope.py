"""What the signed-in user may see: a township official sees their own township's rows only.

Cached layers and runs are shared by every session, so the scope is applied after the cache,
as a row mask on ``township_code`` (frames without that column — parks, townships — are shown
whole: outlines give orientation and hold no firm's data).  Exports made from the pages use the
same scoped frames; the shortlist's own load scopes itself (:func:`layers.shortlist.load`).
"""
from __future__ import annotations

import pandas as pd

from layers import access

__all__ = ["visible", "visible_all"]


def visible(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """``frame`` as the signed-in user may see it (itself for every role but a township official)."""
    from ui.login import current_actor

    actor = current_actor()
    towns = access.visible_townships(actor) if actor is not None else None
    if frame is None or towns is None or "township_code" not in frame.columns:
        return frame
    keep = frame["township_code"].astype("object").isin(towns).to_numpy(dtype=bool)
    out = frame[keep]
    out.attrs.update(frame.attrs)
    return out


def visible_all(frames: dict) -> dict:
    """:func:`visible` on every frame of a run."""
    return {k: visible(v) for k, v in frames.items()}
