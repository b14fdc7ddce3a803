"""Siting settings: the frozen, validated :class:`SitingParams` (preset section ``[siting]``) and
the vocabulary every part of the siting shares — demand rules, exclusion bits and their words."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import _assign
from analysis.params import _bool, _known, _num, _strs, load_section
from geo.errors import ParameterError
from layers.codes import POLLUTING_PREFIXES

__all__ = ["DEMAND_RULES", "SITE_UNITS", "EXCLUSIONS", "BIT", "SitingParams", "siting_params_from_dict",
           "load_siting_params", "exclusion_words", "PROBLEM_ZH", "problems_zh"]

DEMAND_RULES = ("polluting", "d_class", "midwest", "list")
SITE_UNITS = ("cluster", "plot")
_NEED_METHODS = ("intensify", "far")
_WEIGHTS = ("land_mu", "firm")

# bit → (code, English, Chinese): why site j is not eligible for firm i.
EXCLUSIONS: dict[int, tuple[str, str, str]] = {
    1: ("industry", "industry does not fit the site's leading industries", "行业不匹配(园区主导产业)"),
    2: ("polluting", "site does not accept polluting industries", "污染行业须入驻指定园区"),
    4: ("residential_buffer", "site lies within the residential buffer (polluting firm)", "距居住区缓冲距离内(污染企业)"),
    8: ("water_buffer", "site lies within the water-source protection buffer (polluting firm)",
        "距水源保护区缓冲距离内(污染企业)"),
    16: ("distance", "site is beyond the maximum distance", "超出最大搬迁距离"),
    32: ("land_capacity", "site's vacant land is smaller than the firm's land need", "用地容量不足"),
    64: ("floor_capacity", "site's floor capacity is smaller than the firm's floor need", "建筑面积容量不足"),
    128: ("leading_share", "the firm would bring the micro-park's leading-industry share below the minimum",
          "小微园主导产业占比将低于下限"),
    256: ("invalid_site", "site has no location or a negative/missing capacity", "园区位置或容量无效"),
    512: ("park_below_share", "the micro-park is below the leading-industry minimum: only leading-industry firms "
          "until it is met", "小微园主导产业占比已低于下限:达标前只接纳主导产业企业"),
}
BIT = {code: bit for bit, (code, _, _) in EXCLUSIONS.items()}

# input problems of a firm (English as stored in ``input_problem``) → Chinese
PROBLEM_ZH = {
    "no location (missing or empty point)": "无位置(点位缺失或为空)",
    "zero or unknown land need": "用地需求为零或未知",
    "no floor-area need (floor area unknown or zero)": "建筑面积需求为零或未知",
}


def exclusion_words(lang: str, share: float | None = None) -> dict[int, str]:
    """bit → exclusion text in ``lang``; the share rules name the minimum when known."""
    k = 1 if lang == "en" else 2
    words = {bit: entry[k] for bit, entry in EXCLUSIONS.items()}
    if share is not None:
        if lang == "en":
            words[BIT["leading_share"]] = f"the firm would bring the micro-park's leading-industry share below {share:.0%}"
            words[BIT["park_below_share"]] = (f"the micro-park is below the {share:.0%} leading-industry share: only "
                                              "leading-industry firms until it is met")
        else:
            words[BIT["leading_share"]] = f"小微园主导产业占比将低于{share:.0%}"
            words[BIT["park_below_share"]] = f"小微园主导产业占比已低于{share:.0%}:达标前只接纳主导产业企业"
    return words


def problems_zh(problems) -> np.ndarray:
    """Chinese for the known input-problem sentences (other text, e.g. a planner's own, kept as is)."""
    s = pd.Series(np.asarray(problems, dtype=object), dtype=object)
    return s.map(PROBLEM_ZH).fillna(s).to_numpy(dtype=object)


@dataclass(frozen=True)
class SitingParams:
    """Relocation siting settings (section ``[siting]`` of a preset). Distances in m, areas in m².

    ``polluting_codes`` defaults to the one policy list :data:`layers.codes.POLLUTING_PREFIXES`
    (shared with the low-efficiency rules).  ``site_unit`` decides what one site is: every
    contiguous cluster of vacant plots inside a park (plots within ``site_gap_m`` of each other,
    e.g. across an estate road) or every vacant plot on its own.
    """

    rule: str = "polluting"
    polluting_codes: tuple[str, ...] = POLLUTING_PREFIXES
    midwest_townships: tuple[str, ...] = ()
    d_classes: tuple[str, ...] = ("D",)
    class_column: str = "final_class"
    holders_only: bool = True
    land_need_method: str = "intensify"
    intensification_factor: float = 0.8
    target_far: float = 1.2
    vacant_statuses: tuple[str, ...] = ("idle",)
    park_kinds: tuple[str, ...] = ("工业集聚区", "镇街工业功能区")
    micro_park_statuses: tuple[str, ...] = ("operating", "under_construction", "planned")
    site_unit: str = "cluster"
    site_gap_m: float = 30.0
    site_far: float = 2.0
    leading_share: float = 0.70
    open_if_no_leading: bool = True
    designated_take_polluting: bool = True
    buffer_residential_m: float = 300.0
    buffer_water_source_m: float = 1000.0
    max_distance_m: float = 0.0
    same_township_discount: float = 0.2
    demand_weight: str = "land_mu"
    unassigned_penalty_m: float = 60000.0
    allow_unassigned: bool = True
    k_nearest: int = 0
    solver: str = "scip"
    strategy: str = "auto"
    time_limit_s: float = 60.0
    gap: float = 0.01
    workers: int = 2
    name: str = "custom"

    def replace(self, **changes) -> SitingParams:
        """A validated copy with some fields changed."""
        data = dataclasses.asdict(self)
        data.update(changes)
        name = data.pop("name")
        return siting_params_from_dict({"name": name, "siting": data})


def siting_params_from_dict(data: Mapping[str, Any], *, origin: str = "preset") -> SitingParams:
    """Validate a parsed preset (``{"name":…, "siting": {...}}``); every problem reported at once."""
    problems: list[str] = []
    _known(data, {"name", "title", "source", "siting"}, "", problems)
    s = dict(data.get("siting", {}))
    d = SitingParams()
    w = "siting"
    _known(s, {f.name for f in dataclasses.fields(SitingParams)} - {"name"}, w, problems)

    def choice(key, options):
        v = s.get(key, getattr(d, key))
        if v not in options:
            problems.append(f"{w}.{key} = {v!r}; expected one of {list(options)}")
            return getattr(d, key)
        return v

    codes = _strs(s, "polluting_codes", d.polluting_codes, w, problems)
    bad = [c for c in codes if not (c.isdigit() and 2 <= len(c) <= 4)]
    if bad:
        problems.append(f"{w}.polluting_codes {bad} are not 2–4 digit GB/T 4754 codes")
    share = _num(s, "leading_share", d.leading_share, w, problems, maximum=1)
    k = _num(s, "k_nearest", d.k_nearest, w, problems)
    if k != int(k):
        problems.append(f"{w}.k_nearest = {k} must be a whole number (0 = all eligible sites)")
    factor = _num(s, "intensification_factor", d.intensification_factor, w, problems)
    far = _num(s, "target_far", d.target_far, w, problems)
    site_far = _num(s, "site_far", d.site_far, w, problems)
    for key, v in (("intensification_factor", factor), ("target_far", far), ("site_far", site_far)):
        if v == 0:
            problems.append(f"{w}.{key} must be > 0")
    tl = _num(s, "time_limit_s", d.time_limit_s, w, problems)
    if tl <= 0:
        problems.append(f"{w}.time_limit_s must be > 0 seconds")
    params = SitingParams(
        rule=choice("rule", DEMAND_RULES),
        polluting_codes=codes,
        midwest_townships=_strs(s, "midwest_townships", d.midwest_townships, w, problems),
        d_classes=_strs(s, "d_classes", d.d_classes, w, problems, ("A", "B", "C", "D")),
        class_column=str(s.get("class_column", d.class_column)),
        holders_only=_bool(s, "holders_only", d.holders_only, w, problems),
        land_need_method=choice("land_need_method", _NEED_METHODS),
        intensification_factor=factor, target_far=far,
        vacant_statuses=_strs(s, "vacant_statuses", d.vacant_statuses, w, problems),
        park_kinds=_strs(s, "park_kinds", d.park_kinds, w, problems),
        micro_park_statuses=_strs(s, "micro_park_statuses", d.micro_park_statuses, w, problems),
        site_unit=choice("site_unit", SITE_UNITS),
        site_gap_m=_num(s, "site_gap_m", d.site_gap_m, w, problems),
        site_far=site_far, leading_share=share,
        open_if_no_leading=_bool(s, "open_if_no_leading", d.open_if_no_leading, w, problems),
        designated_take_polluting=_bool(s, "designated_take_polluting", d.designated_take_polluting, w, problems),
        buffer_residential_m=_num(s, "buffer_residential_m", d.buffer_residential_m, w, problems),
        buffer_water_source_m=_num(s, "buffer_water_source_m", d.buffer_water_source_m, w, problems),
        max_distance_m=_num(s, "max_distance_m", d.max_distance_m, w, problems),
        same_township_discount=_num(s, "same_township_discount", d.same_township_discount, w, problems, maximum=0.99),
        demand_weight=choice("demand_weight", _WEIGHTS),
        unassigned_penalty_m=_num(s, "unassigned_penalty_m", d.unassigned_penalty_m, w, problems),
        allow_unassigned=_bool(s, "allow_unassigned", d.allow_unassigned, w, problems),
        k_nearest=int(k), solver=choice("solver", _assign.SOLVERS), strategy=choice("strategy", _assign.STRATEGIES),
        time_limit_s=tl, gap=_num(s, "gap", d.gap, w, problems, maximum=1),
        workers=int(_num(s, "workers", d.workers, w, problems, minimum=1)),
        name=str(data.get("name", "custom")),
    )
    if problems:
        raise ParameterError(
            f"{origin}: {len(problems)} problem(s) in the siting parameters: " + "; ".join(problems)
            + ". Fix them in the preset and retry.",
            message_zh=f"{origin}:选址参数有 {len(problems)} 处问题:" + ";".join(problems), details=problems)
    return params


def load_siting_params(name: str | Path = "siting_default", *, directory: Path | None = None) -> SitingParams:
    """Load section ``[siting]`` of preset ``name`` (in ``data/presets`` or a path to a TOML file)."""
    return load_section(name, "siting", siting_params_from_dict, directory=directory, label_zh="选址")
