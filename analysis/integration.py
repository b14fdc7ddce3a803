"""Cross-township joint-development zones (工业强镇: 打破行政区划界限, 联合开发).

Township industrial function zones are *linked* when all of these hold (thresholds are
settings of :class:`IntegrationParams`):

1. **near**: they touch or lie within ``max_gap_m`` of each other, across a township line
   (different ``township_code``; ``require_cross_township``);
2. **similar**: cosine similarity of their firms' industry vectors ≥ ``min_similarity``,
   cos(a, b) = a·b / (‖a‖ ‖b‖), a = counts (or land) of firms per 2-digit GB/T 4754 code,
   firms assigned to zones by point-in-polygon;
3. **shared infrastructure**: the same road feature lies within ``road_distance_m`` of both
   (``require_shared_road``).

Connected components of the links (``scipy.sparse.csgraph``) are the candidate joint zones,
with combined area (亩), firms, dominant industries, townships involved and their links.
Every candidate pair within the gap is kept in the links table with the reason it was or
was not linked.  Vectorised throughout: STRtree ``dwithin`` queries, one sparse
zone × industry matrix, pandas merges for shared roads.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from analysis._common import at_least, check_crs, fmt, fmt_against
from analysis.params import _bool, _known, _num, _strs, load_section
from geo.errors import ParameterError
from geo.units import M2_PER_MU

__all__ = ["IntegrationParams", "IntegrationResult", "load_integration_params", "integration_params_from_dict",
           "zone_industry_matrix", "cosine_similarity_pairs", "find_joint_zones"]


@dataclass(frozen=True)
class IntegrationParams:
    """Settings of section ``[integration]``; distances in metres."""

    zone_kinds: tuple[str, ...] = ("镇街工业功能区",)
    max_gap_m: float = 1500.0
    require_cross_township: bool = True
    min_similarity: float = 0.6
    industry_digits: int = 2
    industry_weight: str = "firms"       # firms | land
    require_shared_road: bool = True
    road_kinds: tuple[str, ...] = ("expressway", "national_road", "provincial_road", "urban_road")
    road_distance_m: float = 1000.0
    top_industries: int = 3
    name: str = "custom"


def integration_params_from_dict(data: Mapping[str, Any], *, origin: str = "preset") -> IntegrationParams:
    """Validate a parsed preset (``{"name":…, "integration": {...}}``), reporting every problem at once."""
    problems: list[str] = []
    _known(data, {"name", "title", "source", "integration"}, "", problems)
    s = dict(data.get("integration", {}))
    d = IntegrationParams()
    w = "integration"
    _known(s, {f.name for f in dataclasses.fields(IntegrationParams)} - {"name"}, w, problems)
    digits = _num(s, "industry_digits", d.industry_digits, w, problems, minimum=1, maximum=4)
    weight = s.get("industry_weight", d.industry_weight)
    if weight not in ("firms", "land"):
        problems.append(f"{w}.industry_weight = {weight!r}; expected 'firms' or 'land'")
    params = IntegrationParams(
        zone_kinds=_strs(s, "zone_kinds", d.zone_kinds, w, problems),
        max_gap_m=_num(s, "max_gap_m", d.max_gap_m, w, problems),
        require_cross_township=_bool(s, "require_cross_township", d.require_cross_township, w, problems),
        min_similarity=_num(s, "min_similarity", d.min_similarity, w, problems, maximum=1),
        industry_digits=int(digits), industry_weight=weight if weight in ("firms", "land") else d.industry_weight,
        require_shared_road=_bool(s, "require_shared_road", d.require_shared_road, w, problems),
        road_kinds=_strs(s, "road_kinds", d.road_kinds, w, problems),
        road_distance_m=_num(s, "road_distance_m", d.road_distance_m, w, problems),
        top_industries=int(_num(s, "top_industries", d.top_industries, w, problems, minimum=1)),
        name=str(data.get("name", "custom")),
    )
    if problems:
        raise ParameterError(f"{origin}: {len(problems)} problem(s) in the integration parameters: " + "; ".join(problems)
                             + ". Fix them in the preset and retry.",
                             message_zh=f"{origin}:联合开发参数有 {len(problems)} 处问题:" + ";".join(problems),
                             details=problems)
    return params


def load_integration_params(name: str | Path = "integration_default", *, directory: Path | None = None) -> IntegrationParams:
    """Load section ``[integration]`` of a preset (in ``data/presets`` or a path to a TOML file)."""
    return load_section(name, "integration", integration_params_from_dict, directory=directory, label_zh="联合开发")


class IntegrationResult(NamedTuple):
    """zones: the input zones (same index) with firms, industry mix and ``joint_zone``;
    links: every candidate pair with its measures, ``linked`` and ``reason``;
    joint_zones: one row per connected group of ≥ 2 linked zones."""

    zones: gpd.GeoDataFrame
    links: gpd.GeoDataFrame
    joint_zones: gpd.GeoDataFrame


def zone_industry_matrix(zones: gpd.GeoDataFrame, enterprises: gpd.GeoDataFrame | None, *, digits: int = 2,
                         weight: str = "firms") -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse zone × industry matrix by point-in-polygon; also the firm count per zone.

    Returns ``(matrix, codes, n_firms)``; a firm in two overlapping zones counts in both.
    """
    n = len(zones)
    if enterprises is None or len(enterprises) == 0 or n == 0:
        return sparse.csr_matrix((n, 0)), np.zeros(0, dtype=object), np.zeros(n, dtype=np.int64)
    i_pt, z = shapely.STRtree(zones.geometry.to_numpy()).query(enterprises.geometry.to_numpy(), predicate="within")
    codes = enterprises["industry_code"].astype("string").fillna("").str.strip().str[:digits].to_numpy(dtype=object)[i_pt]
    ok = codes != ""
    i_pt, z, codes = i_pt[ok], z[ok], codes[ok]
    uniq, col = np.unique(codes.astype(str), return_inverse=True) if len(codes) else (np.zeros(0, dtype=object), np.zeros(0, int))
    if weight == "land" and "land_area_m2" in enterprises.columns:
        val = pd.to_numeric(enterprises["land_area_m2"], errors="coerce").fillna(0).to_numpy(dtype=float)[i_pt]
    else:
        val = np.ones(len(i_pt))
    mat = sparse.csr_matrix((val, (z, col)), shape=(n, len(uniq)))
    n_firms = np.bincount(z, minlength=n).astype(np.int64)
    return mat, uniq.astype(object), n_firms


def cosine_similarity_pairs(mat: sparse.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(row a_k, row b_k) for each pair k (0 where a row is empty)."""
    if len(a) == 0:
        return np.zeros(0)
    norm = np.sqrt(np.asarray(mat.multiply(mat).sum(axis=1)).ravel())
    dot = np.asarray(mat[a].multiply(mat[b]).sum(axis=1)).ravel()
    den = norm[a] * norm[b]
    return np.where(den > 0, dot / np.where(den > 0, den, 1.0), 0.0)


def _township(zones: gpd.GeoDataFrame, townships: gpd.GeoDataFrame | None) -> np.ndarray:
    tw = zones["township_code"].astype("string").to_numpy(dtype=object) if "township_code" in zones.columns \
        else np.full(len(zones), None, dtype=object)
    missing = pd.isna(tw)
    if missing.any() and townships is not None and len(townships):
        pts = shapely.point_on_surface(zones.geometry.to_numpy()[missing])
        i, j = shapely.STRtree(townships.geometry.to_numpy()).query(pts, predicate="within")
        sub = tw[missing]
        sub[i] = townships["code"].astype(str).to_numpy()[j]
        tw[missing] = sub
    return tw


def _township_names(codes: np.ndarray, townships: gpd.GeoDataFrame | None) -> np.ndarray:
    """Township name per code (reasons name places, not codes); the code where no name is known."""
    names = {}
    if townships is not None and len(townships) and {"code", "name"} <= set(townships.columns):
        names = dict(zip(townships["code"].astype(str), townships["name"].astype(str)))
    s = pd.Series(codes, dtype="object")
    mapped = s.map(names).to_numpy(dtype=object)
    return np.where(pd.isna(mapped), s.astype(str).to_numpy(dtype=object), mapped)


def find_joint_zones(zones: gpd.GeoDataFrame, *, params: IntegrationParams,
                     enterprises: gpd.GeoDataFrame | None = None, infrastructure: gpd.GeoDataFrame | None = None,
                     townships: gpd.GeoDataFrame | None = None, filter_kinds: bool = True) -> IntegrationResult:
    """Link adjacent, similar zones that share a road; group the links into joint zones.

    Parameters
    ----------
    zones : GeoDataFrame
        Park polygons (layer ``industrial_parks`` — only ``params.zone_kinds`` when
        ``filter_kinds`` and a ``kind`` column exist — or any park layer), with
        ``park_id``, ``name``, ``township_code`` (else found from ``townships``).
    enterprises : GeoDataFrame, optional
        Firm points with ``industry_code`` (and ``land_area_m2`` for weight "land").
    infrastructure : GeoDataFrame, optional
        Lines with ``kind`` and ``name``; kinds in ``params.road_kinds`` count as roads.

    Returns
    -------
    IntegrationResult
        ``links`` columns: zone_a, zone_b, township_a, township_b, distance_m, touches,
        similarity, shared_roads, near, cross_township, similar, road_shared, linked,
        reason (English), reason_zh (Chinese); geometry = shortest line between the two zones.
    """
    check_crs(zones, ("enterprises", enterprises), ("infrastructure", infrastructure), ("townships", townships))
    z = zones
    if filter_kinds and "kind" in z.columns and params.zone_kinds:
        z = z.loc[z["kind"].astype("string").isin(params.zone_kinds).fillna(False).to_numpy(dtype=bool)]
    n = len(z)
    ids = (z["park_id"] if "park_id" in z.columns else pd.Series(z.index.astype(str), index=z.index)).astype(str).to_numpy()
    names = z["name"].astype(str).to_numpy() if "name" in z.columns else ids
    geoms = z.geometry.to_numpy()
    tw = _township(z, townships)
    tw_name = _township_names(tw, townships)
    mat, codes, n_firms = zone_industry_matrix(z, enterprises, digits=params.industry_digits, weight=params.industry_weight)
    a, b = _candidate_pairs(geoms, params)
    m = _pair_measures(geoms, a, b, tw, mat, infrastructure, params)
    reason, reason_zh = _link_reasons(m, tw_name[a], tw_name[b], params)
    links = gpd.GeoDataFrame({
        "zone_a": ids[a], "zone_b": ids[b], "name_a": names[a], "name_b": names[b],
        "township_a": pd.array(tw[a], dtype="string"), "township_b": pd.array(tw[b], dtype="string"),
        "township_name_a": pd.array(tw_name[a], dtype="string"), "township_name_b": pd.array(tw_name[b], dtype="string"),
        "distance_m": m["dist"], "touches": m["touches"], "similarity": m["sim"],
        "shared_roads": pd.array(m["roads"], dtype="string"), "cross_township": m["cross"], "similar": m["sim_ok"],
        "road_shared": m["shared"], "linked": m["linked"],
        "reason": pd.array(reason.astype(str), dtype="string"),
        "reason_zh": pd.array(reason_zh.astype(str), dtype="string"),
    }, geometry=gpd.GeoSeries(shapely.shortest_line(geoms[a], geoms[b]) if len(a) else np.zeros(0, dtype=object),
                              crs=z.crs), crs=z.crs)
    la, lb = a[m["linked"]], b[m["linked"]]
    joint = _joint_numbers(la, lb, n)
    out_z = z.copy()
    out_z["township_code_used"] = pd.array(tw, dtype="string")
    out_z["n_firms"] = n_firms
    out_z["area_mu"] = shapely.area(geoms) / M2_PER_MU
    out_z["industry_mix"] = pd.array(_top_mix(mat, codes, params.top_industries), dtype="string")
    out_z["joint_zone"] = pd.array(np.where(joint > 0, joint, 0), dtype="Int64")
    out_z.loc[joint == 0, "joint_zone"] = pd.NA
    out_z["n_links"] = np.bincount(np.concatenate([la, lb]), minlength=n) if n else np.zeros(0, np.int64)
    joint_zones = _joint_table(z, joint, ids, tw, tw_name, geoms, mat, codes, n_firms, links, params)
    return IntegrationResult(out_z, links, joint_zones)


def _candidate_pairs(geoms: np.ndarray, params: IntegrationParams) -> tuple[np.ndarray, np.ndarray]:
    """Zone pairs (a < b) that touch or lie within ``max_gap_m``."""
    if not len(geoms):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=params.max_gap_m)
    keep = a < b
    return a[keep], b[keep]


def _pair_measures(geoms, a, b, tw, mat, infrastructure, params) -> dict[str, np.ndarray]:
    """Gap, township line, industry similarity and shared roads of each pair, and the verdict."""
    dist = shapely.distance(geoms[a], geoms[b]) if len(a) else np.zeros(0)
    cross = np.asarray(pd.Series(tw[a], dtype="string").fillna("?").to_numpy() !=
                       pd.Series(tw[b], dtype="string").fillna("!").to_numpy(), dtype=bool) if len(a) else np.zeros(0, bool)
    sim = cosine_similarity_pairs(mat, a, b)
    roads, shared = _shared_roads(geoms, a, b, infrastructure, params)
    cross_ok = cross | (not params.require_cross_township)
    sim_ok = at_least(sim, params.min_similarity)
    road_ok = shared | (not params.require_shared_road)
    return {"dist": dist, "touches": dist <= 1e-6, "cross": cross, "sim": sim, "roads": roads, "shared": shared,
            "cross_ok": cross_ok, "sim_ok": sim_ok, "road_ok": road_ok, "linked": cross_ok & sim_ok & road_ok}


def _shared_roads(geoms, a, b, infrastructure, params) -> tuple[np.ndarray, np.ndarray]:
    """Names of the road features within ``road_distance_m`` of both zones of each pair."""
    roads_txt = np.full(len(a), "", dtype=object)
    shared = np.zeros(len(a), dtype=bool)
    if infrastructure is None or not len(infrastructure) or not len(a):
        return roads_txt, shared
    r = infrastructure.loc[infrastructure["kind"].astype("string").isin(params.road_kinds).fillna(False).to_numpy(dtype=bool)]
    if not len(r):
        return roads_txt, shared
    zi, ri = shapely.STRtree(r.geometry.to_numpy()).query(geoms, predicate="dwithin", distance=params.road_distance_m)
    near = pd.DataFrame({"z": zi, "road": ri})
    pairs = pd.DataFrame({"k": np.arange(len(a)), "a": a, "b": b})
    m1 = pairs.merge(near.rename(columns={"z": "a"}), on="a").merge(near.rename(columns={"z": "b"}), on=["b", "road"])
    if len(m1):
        rname = (r["name"] if "name" in r.columns else r["feature_id"]).astype(str).to_numpy()
        m1["rn"] = rname[m1["road"].to_numpy()]
        g = m1.groupby("k")["rn"].agg(lambda s: ", ".join(sorted(set(s))))
        roads_txt[g.index.to_numpy()] = g.to_numpy()
        shared[g.index.to_numpy()] = True
    return roads_txt, shared


def _link_reasons(m: dict, town_a: np.ndarray, town_b: np.ndarray, params) -> tuple[np.ndarray, np.ndarray]:
    """Each measure with its threshold, then the verdict — English and Chinese, townships by name."""
    n = len(m["dist"])
    sim_txt = fmt_against(m["sim"], params.min_similarity)
    gap, near = params.max_gap_m, params.road_distance_m
    pair = town_a.astype(str) + "/" + town_b.astype(str) if n else np.zeros(0, dtype=object)
    why = ("gap " + fmt(m["dist"], "%.0f") + f" m ≤ {gap:g} m" + np.where(m["touches"], " (touching)", "")
           + np.where(m["cross"], "; across township line " + pair, "; same township")
           + "; industry similarity " + sim_txt + np.where(m["sim_ok"], " ≥ ", " < ") + f"{params.min_similarity:g}"
           + np.where(m["shared"], f"; both within {near:g} m of " + m["roads"].astype(str),
                      f"; no road within {near:g} m of both"))
    why_zh = ("间距 " + fmt(m["dist"], "%.0f") + f" 米 ≤ {gap:g} 米" + np.where(m["touches"], "(相邻)", "")
              + np.where(m["cross"], ";跨镇街 " + pair, ";同一镇街")
              + ";产业相似度 " + sim_txt + np.where(m["sim_ok"], " ≥ ", " < ") + f"{params.min_similarity:g}"
              + np.where(m["shared"], f";两区 {near:g} 米内均有 " + m["roads"].astype(str),
                         f";两区 {near:g} 米内无共同道路"))
    fail = np.full(n, "", dtype=object)
    fail_zh = np.full(n, "", dtype=object)
    for key, word, word_zh in (("cross_ok", "same township", "同一镇街"), ("sim_ok", "industries differ", "产业不相似"),
                               ("road_ok", "no shared road", "无共同道路")):
        miss = ~m[key]
        fail[miss] = fail[miss] + np.where(fail[miss] == "", "", ", ") + word
        fail_zh[miss] = fail_zh[miss] + np.where(fail_zh[miss] == "", "", "、") + word_zh
    linked = m["linked"]
    return (np.where(linked, "linked: " + why, "not linked (" + fail + "): " + why),
            np.where(linked, "关联:" + why_zh, "未关联(" + fail_zh + "):" + why_zh))


def _joint_numbers(la: np.ndarray, lb: np.ndarray, n: int) -> np.ndarray:
    """Joint-zone number per zone (1.. in order of first zone; 0 = not in a group of ≥ 2)."""
    if not n:
        return np.zeros(0, dtype=np.int64)
    graph = sparse.coo_matrix((np.ones(len(la)), (la, lb)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    size = np.bincount(comp, minlength=comp.max() + 1)
    multi = size[comp] >= 2
    jz_of_comp = np.zeros(len(size), dtype=np.int64)
    multi_comps = np.unique(comp[multi])
    jz_of_comp[multi_comps] = np.arange(1, len(multi_comps) + 1)
    return np.where(multi, jz_of_comp[comp], 0)


def _top_mix(mat: sparse.csr_matrix, codes: np.ndarray, top: int) -> np.ndarray:
    """'34 45%, 33 30%' per row: the top industries by share."""
    n = mat.shape[0]
    out = np.full(n, "", dtype=object)
    if mat.shape[1] == 0 or n == 0:
        return out
    dense = mat.toarray()
    tot = dense.sum(axis=1, keepdims=True)
    share = np.divide(dense, tot, out=np.zeros_like(dense), where=tot > 0)
    k = min(top, dense.shape[1])
    order = np.argsort(-share, axis=1, kind="stable")[:, :k]
    for r in range(k):  # k ≤ a handful of columns; each step is vectorised over all zones
        s = np.take_along_axis(share, order[:, [r]], axis=1).ravel()
        c = codes[order[:, r]]
        piece = np.where(s > 0, c.astype(str) + " " + np.char.mod("%.0f%%", s * 100), "")
        out = np.where((piece != "") & (out != ""), out + ", " + piece, out + piece)
    return out


def _joint_table(z, joint, ids, tw, tw_name, geoms, mat, codes, n_firms, links, params) -> gpd.GeoDataFrame:
    cols = {"joint_zone": "int64", "zones": "string", "zone_names": "string", "n_zones": "int64",
            "townships": "string", "township_codes": "string", "n_townships": "int64", "area_mu": "float64", "n_firms": "int64",
            "dominant_industries": "string", "n_links": "int64", "links": "string"}
    sel = joint > 0
    if not sel.any():
        return gpd.GeoDataFrame({k: pd.Series([], dtype=v) for k, v in cols.items()},
                                geometry=gpd.GeoSeries([], crs=z.crs), crs=z.crs)
    names = z["name"].astype(str).to_numpy() if "name" in z.columns else ids
    df = pd.DataFrame({"jz": joint[sel], "id": ids[sel], "name": names[sel], "tw": pd.Series(tw[sel]).astype(str).to_numpy(),
                       "tw_name": tw_name[sel].astype(str),
                       "area": shapely.area(geoms[sel]) / M2_PER_MU, "firms": n_firms[sel]})
    g = df.groupby("jz", sort=True)
    k = g.ngroups
    # industry vector of each joint zone = sum of its zones' rows
    agg = sparse.csr_matrix((np.ones(sel.sum()), (joint[sel] - 1, np.flatnonzero(sel))), shape=(k, len(ids))) @ mat
    dom = _top_mix(sparse.csr_matrix(agg), codes, params.top_industries)
    lk = links.loc[links["linked"].to_numpy(dtype=bool)]
    jz_of = dict(zip(ids, joint))
    lk_jz = lk["zone_a"].map(jz_of).to_numpy()
    lk_txt = (lk["name_a"].astype(str) + "–" + lk["name_b"].astype(str) + " ("
              + lk["distance_m"].round(0).astype(int).astype(str) + " m, cos "
              + lk["similarity"].round(2).astype(str) + ", " + lk["shared_roads"].fillna("-") + ")")
    lsum = pd.Series(lk_txt.to_numpy(), index=lk_jz).groupby(level=0).agg("; ".join) if len(lk) else pd.Series(dtype=str)
    lcnt = pd.Series(1, index=lk_jz).groupby(level=0).sum() if len(lk) else pd.Series(dtype=int)
    jz = np.arange(1, k + 1)
    table = pd.DataFrame({
        "joint_zone": jz,
        "zones": g["id"].agg(", ".join).to_numpy(), "zone_names": g["name"].agg("、".join).to_numpy(),
        "n_zones": g.size().to_numpy(), "townships": g["tw_name"].agg(lambda s: ", ".join(sorted(set(s)))).to_numpy(),
        "township_codes": g["tw"].agg(lambda s: ", ".join(sorted(set(s)))).to_numpy(),
        "n_townships": g["tw"].nunique().to_numpy(), "area_mu": g["area"].sum().to_numpy(),
        "n_firms": g["firms"].sum().to_numpy(), "dominant_industries": dom,
        "n_links": lcnt.reindex(jz).fillna(0).astype(int).to_numpy(), "links": lsum.reindex(jz).fillna("").to_numpy(),
    }).astype(cols)
    outline = gpd.GeoDataFrame({"jz": joint[sel]}, geometry=geoms[sel], crs=z.crs).dissolve(by="jz").geometry
    return gpd.GeoDataFrame(table, geometry=outline.reindex(jz).to_numpy(), crs=z.crs)
