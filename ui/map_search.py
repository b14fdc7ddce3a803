"""The map's search box, as a pure function: a query in, places to fly to out (tested without Streamlit).

A planner types a plot id ("P000123", any case, a prefix of two or more characters), a
firm's name (any part of it) or credit code (a prefix of four or more characters), or the
name of a township or park ("塘下", "飞云新区").  :func:`search_places` returns every match
counted (``total``) and the first ``limit`` of them in this order: townships, parks, plots,
firms — places first, because a name that matches a township is what the planner meant
("塘下镇" also matches 20 firms named after it).  A firm stands for the plot it is registered
on; firms without a plot on the map are not offered.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ui.i18n import t

__all__ = ["Hit", "SearchResult", "search_places", "LIMIT"]

LIMIT = 20


@dataclass(frozen=True)
class Hit:
    """One result: what it is, the key to find it, the label to show.

    ``kind`` is "township" (key: township code), "park" (key: park id), "plot" or "firm"
    (key: the plot id to fly to).  ``ident`` is unique among the hits ("firm:<credit code>").
    """

    kind: str
    key: str
    label: str
    ident: str


@dataclass(frozen=True)
class SearchResult:
    """The hits shown (at most the limit) and how many matched in all."""

    hits: tuple[Hit, ...]
    total: int

    @property
    def cut(self) -> bool:
        """True when more matched than are shown."""
        return self.total > len(self.hits)


def _names(frame: pd.DataFrame | None, key: str, query: str) -> pd.DataFrame:
    if frame is None or not len(frame) or key not in frame.columns or "name" not in frame.columns:
        return pd.DataFrame(columns=[key, "name"])
    name = frame["name"].astype("string").fillna("")
    hit = name.str.contains(query, regex=False) & frame[key].notna()
    out = pd.DataFrame({key: frame.loc[hit, key].astype(str), "name": name[hit]})
    # exact names first, then shorter names (the closer match), then by name
    out["_rank"] = (out["name"] != query).astype(int)
    return out.assign(_len=out["name"].str.len()).sort_values(["_rank", "_len", "name"], kind="stable")


def search_places(query: str, *, plots: pd.DataFrame, firms: pd.DataFrame | None = None,
                  townships: pd.DataFrame | None = None, parks: pd.DataFrame | None = None, lang: str = "zh",
                  limit: int = LIMIT) -> SearchResult:
    """Places matching ``query`` (module docstring).

    Parameters
    ----------
    query : str
    plots : DataFrame
        With ``plot_id`` (the plots on the map).
    firms : DataFrame, optional
        ``credit_code``, ``name``, ``plot_id``.
    townships, parks : DataFrame, optional
        ``code`` / ``park_id`` and ``name``.
    lang : {"zh", "en"}
        Language of the labels.
    limit : int
        Hits returned at most; ``total`` counts them all.
    """
    q = (query or "").strip()
    if not q:
        return SearchResult((), 0)
    kind = {k: t(f"map_search_kind_{k}", lang) for k in ("township", "park", "plot", "firm")}
    hits: list[Hit] = []
    total = 0

    towns = _names(townships, "code", q)
    total += len(towns)
    hits += [Hit("township", c, f"{kind['township']} · {n}", f"township:{c}")
             for c, n in zip(towns["code"], towns["name"])]
    park_hits = _names(parks, "park_id", q)
    total += len(park_hits)
    hits += [Hit("park", p, f"{kind['park']} · {n}({p})" if lang == "zh" else f"{kind['park']} · {n} ({p})",
                 f"park:{p}") for p, n in zip(park_hits["park_id"], park_hits["name"])]

    ids = plots["plot_id"].astype(str)
    up = q.upper()
    upper = ids.str.upper()
    plot_hit = (upper == up) | (upper.str.startswith(up) if len(up) >= 2 else False)
    matched = pd.concat([ids[upper == up], ids[plot_hit & (upper != up)].sort_values()])
    total += len(matched)
    hits += [Hit("plot", pid, f"{kind['plot']} · {pid}", f"plot:{pid}") for pid in matched]

    if firms is not None and len(firms) and "plot_id" in firms.columns:
        on_map = firms["plot_id"].astype("string").isin(set(ids)).fillna(False).to_numpy(dtype=bool)
        hit = pd.Series(False, index=firms.index)
        if "credit_code" in firms.columns and len(up) >= 4:
            hit |= firms["credit_code"].astype("string").str.upper().str.startswith(up).fillna(False)
        if "name" in firms.columns:
            hit |= firms["name"].astype("string").str.contains(q, regex=False).fillna(False)
        found = firms.loc[hit.to_numpy(dtype=bool) & on_map]
        total += len(found)
        code = found["credit_code"].astype(str) if "credit_code" in found.columns else found.index.astype(str)
        name = found["name"].astype(str) if "name" in found.columns else code
        pid = found["plot_id"].astype(str)
        on_plot = t("map_search_kind_plot", lang)
        hits += [Hit("firm", p, f"{kind['firm']} · {n}({c})· {on_plot} {p}" if lang == "zh"
                     else f"{kind['firm']} · {n} ({c}) · {on_plot} {p}", f"firm:{c}")
                 for c, n, p in zip(code, name, pid)]
    return SearchResult(tuple(hits[:limit]), total)
