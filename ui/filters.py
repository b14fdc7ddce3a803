"""Plot filters shared by every page: a frozen :class:`PlotFilters`, its sidebar and :func:`apply`.

The sidebar widgets keep their values in ``st.session_state`` under keys that every page
shares (:data:`STATE_KEYS`, ``flt_<name>``), so a filter set on the map is still set on the
low-efficiency list.  Streamlit forgets a widget's value when a page that does not draw that
widget runs; so each widget has its own key (``w_flt_<name>``) and its value is copied to the
plain, persistent ``flt_<name>`` after each draw and restored from it before the next one.

:class:`PlotFilters` is hashable: pass it to ``st.cache_data`` functions as a key.
:func:`apply` is pure and vectorised (no Streamlit): a boolean mask on the view's index.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import streamlit as st

from analysis.low_efficiency import RULE_LABELS
from ui.data import CLASSES, RULES
from ui.i18n import STRINGS, t

__all__ = ["PlotFilters", "FLAGS", "STATE_KEYS", "apply", "filter_sidebar", "current_filters", "clear_filters",
           "flag_label", "present_values"]

# Flags a plot can be filtered by: the view's boolean column for each (any selected flag must hold).
FLAGS: dict[str, str] = {
    "low_efficiency": "is_low_efficiency",
    **{r: f"rule_{r}" for r in RULES},
    "candidate": "candidate",
    "restricted": "restricted",
}
NO_CLASS = "none"  # the class option for plots with no evaluated firm


@dataclass(frozen=True)
class PlotFilters:
    """What the planner narrowed the plots to (empty tuple / None = no restriction).

    Attributes
    ----------
    townships, parks : tuple of str
        Township codes, park ids (``"none"`` in ``parks`` = plots outside every park).
    classes : tuple of str
        亩均 classes A–D of the plot's main firm; ``"none"`` = no evaluated firm.
    land_uses : tuple of str
        GB/T 21010 codes.
    area_mu : (float, float) or None
        Inclusive range of the plot area in 亩.
    score : (float, float) or None
        Inclusive range of the suitability score (0–100); plots without a score fail it.
    flags : tuple of str
        Keys of :data:`FLAGS`; a plot passes when **any** selected flag is true for it.
    """

    townships: tuple[str, ...] = ()
    parks: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    land_uses: tuple[str, ...] = ()
    area_mu: tuple[float, float] | None = None
    score: tuple[float, float] | None = None
    flags: tuple[str, ...] = field(default=())

    def __post_init__(self):
        for name in ("townships", "parks", "classes", "land_uses", "flags"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        for name in ("area_mu", "score"):
            rng = getattr(self, name)
            if rng is not None:
                lo, hi = (float(v) for v in rng)
                if lo > hi:
                    raise ValueError(f"{name}=({lo}, {hi}): the lower bound must not exceed the upper bound")
                object.__setattr__(self, name, (lo, hi))
        unknown = [f for f in self.flags if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown flags {unknown}; choose from {list(FLAGS)}")

    @property
    def active(self) -> bool:
        """True when any filter restricts the plots."""
        return any(getattr(self, f.name) not in ((), None) for f in fields(self))


def _isin(values: pd.Series, wanted: tuple[str, ...], none_value: str = NO_CLASS) -> np.ndarray:
    s = values.astype("object")
    hit = s.astype(str).isin(set(wanted)).to_numpy() & s.notna().to_numpy()
    if none_value in wanted:
        hit |= s.isna().to_numpy()
    return hit


def apply(view: pd.DataFrame, filters: PlotFilters) -> pd.Series:
    """Boolean mask on ``view.index``: the plots passing every active filter.

    A filter on a column the view lacks (e.g. the score before any run) lets no plot through,
    so an empty result says "no such plots" rather than silently ignoring the filter.
    """
    n = len(view)
    mask = np.ones(n, dtype=bool)

    def col(name):
        return view[name] if name in view.columns else None

    for attr, column in (("townships", "township_code"), ("parks", "park_id"), ("classes", "final_class"),
                         ("land_uses", "land_use")):
        wanted = getattr(filters, attr)
        if wanted:
            c = col(column)
            mask &= _isin(c, wanted) if c is not None else False
    for attr, column in (("area_mu", "area_mu"), ("score", "suitability")):
        rng = getattr(filters, attr)
        if rng is not None:
            c = col(column)
            if c is None:
                mask &= False
            else:
                x = pd.to_numeric(c, errors="coerce").astype(float).to_numpy()
                # a float slider gives rounded bounds: a tiny tolerance keeps plots at the very edges
                eps = 1e-9 * max(1.0, abs(rng[1]))
                mask &= (x >= rng[0] - eps) & (x <= rng[1] + eps)
    if filters.flags:
        any_flag = np.zeros(n, dtype=bool)
        for f in filters.flags:
            c = col(FLAGS[f])
            if c is not None:
                any_flag |= c.astype("boolean").fillna(False).to_numpy(dtype=bool)
        mask &= any_flag
    return pd.Series(mask, index=view.index)


# --- the sidebar -----------------------------------------------------------------------------------
STATE_KEYS = {name: f"flt_{name}" for name in ("townships", "parks", "classes", "land_uses", "area_mu", "score", "flags")}


def _widget_key(name: str) -> str:
    return f"w_{STATE_KEYS[name]}"


def _restore(name: str, valid) -> None:
    """Put the persisted value back into the widget's key before drawing it (dropping stale options)."""
    wkey, skey = _widget_key(name), STATE_KEYS[name]
    if skey not in st.session_state:
        return
    value = st.session_state[skey]
    if isinstance(value, (list, tuple)) and not isinstance(valid, tuple):
        value = [v for v in value if v in valid]
    elif isinstance(valid, tuple):  # a (lo, hi) slider: clip into the current range
        lo, hi = valid
        if value is None:
            value = (lo, hi)
        value = (min(max(value[0], lo), hi), max(min(value[1], hi), lo))
    if st.session_state.get(wkey) != value:
        st.session_state[wkey] = value


def _default(name: str, value) -> dict:
    """``value=`` for a range slider only when its key holds nothing yet (both at once makes Streamlit warn)."""
    return {} if _widget_key(name) in st.session_state else {"value": value}


def _keep(name: str) -> None:
    st.session_state[STATE_KEYS[name]] = st.session_state[_widget_key(name)]


def flag_label(flag: str, lang: str) -> str:
    """Label of a flag of :data:`FLAGS` in ``lang``."""
    if flag in RULES:
        en, zh = RULE_LABELS[flag]
        return zh if lang == "zh" else en
    return t(f"flt_flag_{flag}", lang)


def _range(view: pd.DataFrame, column: str) -> tuple[float, float] | None:
    if column not in view.columns:
        return None
    x = pd.to_numeric(view[column], errors="coerce").astype(float)
    x = x[np.isfinite(x)]
    if x.empty:
        return None
    return float(np.floor(x.min())), float(np.ceil(x.max()))


def filter_sidebar(view: pd.DataFrame, lang: str, *, container=None,
                   township_names: Mapping[str, str] | None = None,
                   park_names: Mapping[str, str] | None = None,
                   only: tuple[str, ...] | None = None) -> PlotFilters:
    """Draw the shared plot filters (in an expander of the sidebar) and return them.

    Options come from ``view`` (:func:`ui.data.plot_view`): townships and parks present,
    classes A–D, land uses, the area range in 亩 and the score range 0–100 (when the view
    has results), the flags.  Names default to the view's ``township_name`` / ``park_name``.
    ``only`` (names of :data:`STATE_KEYS`) draws just those filters, for a page where the
    others do not apply (the returned filters still hold every shared value).
    """
    def wanted(name: str) -> bool:
        return only is None or name in only

    box = (container or st.sidebar).expander(t("flt_title", lang), expanded=True)
    if st.session_state.get("_flt_lang") != lang:
        # A choice widget shows its values' labels from when they were chosen; drawn anew from the kept
        # values (_restore), they are labelled in the language now in use.
        st.session_state["_flt_lang"] = lang
        for name in STATE_KEYS:
            st.session_state.pop(_widget_key(name), None)

    def names_from(code_col, name_col, given):
        if given is not None:
            return dict(given)
        if code_col in view.columns and name_col in view.columns:
            pairs = view[[code_col, name_col]].dropna().drop_duplicates(code_col)
            return dict(zip(pairs[code_col].astype(str), pairs[name_col].astype(str)))
        return {}

    tn = names_from("township_code", "township_name", township_names)
    pn = names_from("park_id", "park_name", park_names)

    def options(column):
        return present_values(view[column]) if column in view.columns else []

    towns = options("township_code")
    # select_all=False on every list: Streamlit's "Select all" entry is English in the Chinese UI, and
    # "all" is the empty choice here anyway
    if wanted("townships"):
        _restore("townships", towns)
        box.multiselect(t("flt_townships", lang), towns, key=_widget_key("townships"),
                        format_func=lambda c: tn.get(c, c), placeholder=t("flt_all", lang),
                        on_change=_keep, args=("townships",), select_all=False)
    parks = options("park_id") + [NO_CLASS]
    if wanted("parks"):
        _restore("parks", parks)
        box.multiselect(t("flt_parks", lang), parks, key=_widget_key("parks"),
                        format_func=lambda c: t("flt_no_park", lang) if c == NO_CLASS else f"{c} {pn.get(c, '')}".strip(),
                        placeholder=t("flt_all", lang), on_change=_keep, args=("parks",), select_all=False)
    if "final_class" in view.columns and wanted("classes"):
        classes = list(CLASSES) + [NO_CLASS]
        _restore("classes", classes)
        box.multiselect(t("flt_classes", lang), classes, key=_widget_key("classes"),
                        format_func=lambda c: t("flt_no_class", lang) if c == NO_CLASS else c,
                        placeholder=t("flt_all", lang), on_change=_keep, args=("classes",), select_all=False)
    uses = options("land_use")
    if wanted("land_uses"):
        _restore("land_uses", uses)
        box.multiselect(t("flt_land_uses", lang), uses, key=_widget_key("land_uses"),
                        format_func=lambda c: _land_use_label(c, lang), placeholder=t("flt_all", lang),
                        on_change=_keep, args=("land_uses",), select_all=False)
    area_rng = _range(view, "area_mu")
    if area_rng and area_rng[0] < area_rng[1] and wanted("area_mu"):
        _restore("area_mu", area_rng)
        st.session_state.setdefault(_RANGES, {})["area_mu"] = area_rng
        box.slider(t("flt_area", lang), min_value=area_rng[0], max_value=area_rng[1], step=1.0,
                   **_default("area_mu", area_rng), key=_widget_key("area_mu"), on_change=_keep, args=("area_mu",))
    if "suitability" in view.columns and wanted("score"):
        _restore("score", (0.0, 100.0))
        st.session_state.setdefault(_RANGES, {})["score"] = (0.0, 100.0)
        box.slider(t("flt_score", lang), min_value=0.0, max_value=100.0, step=1.0, **_default("score", (0.0, 100.0)),
                   key=_widget_key("score"), on_change=_keep, args=("score",))
    flags = [f for f, c in FLAGS.items() if c in view.columns]
    if flags and wanted("flags"):
        _restore("flags", flags)
        box.multiselect(t("flt_flags", lang), flags, key=_widget_key("flags"),
                        format_func=lambda f: flag_label(f, lang), placeholder=t("flt_none", lang),
                        on_change=_keep, args=("flags",), select_all=False)
    box.button(t("flt_clear", lang), key="flt_clear_btn", on_click=clear_filters)
    return current_filters(view)


def present_values(values: pd.Series) -> list[str]:
    """The distinct values present in ``values`` as sorted strings (no missing value).

    A categorical column (what :func:`ui.data.plot_view` keeps) is answered from its codes, so a
    million plots cost a count over small integers, not a million strings made and compared.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        seen = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
        return sorted({str(c) for c in values.cat.categories[seen]})
    return sorted(values.dropna().astype(str).unique())


def _land_use_label(code: str, lang: str) -> str:
    key = f"lu_{code}"
    return f"{code} {t(key, lang)}" if key in STRINGS else code


def current_filters(view: pd.DataFrame | None = None) -> PlotFilters:
    """The filters held in session state (what :func:`filter_sidebar` last returned).

    A range equal to the view's full extent counts as no restriction, so plots with a missing
    area or score are not dropped until the planner narrows the range.
    """
    ss = st.session_state

    def get(name):
        w = _widget_key(name)
        return ss.get(w, ss.get(STATE_KEYS[name]))

    def rng(name, full):
        value = get(name)
        if value is None:
            return None
        value = (float(value[0]), float(value[1]))
        return None if full is not None and value[0] <= full[0] and value[1] >= full[1] else value

    area_full = _range(view, "area_mu") if view is not None else None
    return PlotFilters(
        townships=tuple(get("townships") or ()), parks=tuple(get("parks") or ()),
        classes=tuple(get("classes") or ()), land_uses=tuple(get("land_uses") or ()),
        area_mu=rng("area_mu", area_full), score=rng("score", (0.0, 100.0)),
        flags=tuple(f for f in (get("flags") or ()) if f in FLAGS),
    )


_RANGES = "_flt_full_ranges"  # the full (lo, hi) of each range slider as last drawn


def clear_filters() -> None:
    """Forget every shared filter (widget and persisted values).

    A widget's value is *set* (empty, or the slider's full range), not deleted: a deleted key
    resets the server's copy only, the browser keeps showing the old choice and sends it back
    on the next rerun.
    """
    ranges = st.session_state.get(_RANGES, {})
    for name in STATE_KEYS:
        st.session_state.pop(STATE_KEYS[name], None)
        wkey = _widget_key(name)
        if wkey not in st.session_state:
            continue
        if name in ("area_mu", "score"):
            if name in ranges:
                st.session_state[wkey] = ranges[name]
            else:
                st.session_state.pop(wkey, None)
        else:
            st.session_state[wkey] = []
