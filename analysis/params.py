"""Analysis parameters: frozen, validated dataclasses loaded from TOML presets.

A preset (``data/presets/<name>.toml``) holds every weight, threshold and price the
analyses use, each commented with its source.  :func:`load_preset` reads one, checks it
(collecting every problem before raising one :class:`~geo.errors.ParameterError`) and
returns a :class:`Params`: frozen and hashable, so it doubles as a cache key.

Sections of a preset::

    name, title, source          # identification
    [per_mu]                     # scope, class rules      → PerMuParams
    [per_mu.above_scale.<ind>]   # 规上 indicator: weight, benchmark, cap
    [per_mu.below_scale.<ind>]   # 规下 indicator
    [prices]                     # differentiated prices  → PriceParams
    [low_efficiency]             # rules and thresholds    → LowEfficiencyParams
    [low_efficiency.far_min]     # minimum FAR by 2-digit GB/T 4754-2017 code
    [redevelopment]              # potential, modes, clusters → RedevelopmentParams
    [redevelopment.criteria.<c>] # suitability criterion: column, weight, best, worst
    [parks]                      # park performance        → ParksParams

Examples
--------
>>> p = load_preset("huangyan_2022")
>>> p.per_mu.above_scale.indicator("tax_per_mu").benchmark
24.097
"""
from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo.errors import ParameterError
from layers.codes import POLLUTING_PREFIXES

__all__ = [
    "PRESET_DIR",
    "CLASSES",
    "ABOVE_INDICATORS",
    "BELOW_INDICATORS",
    "LOW_EFFICIENCY_RULES",
    "CRITERION_COLUMNS",
    "ByClass",
    "Indicator",
    "GroupScoring",
    "PerMuParams",
    "PriceParams",
    "LowEfficiencyParams",
    "Criterion",
    "RedevelopmentParams",
    "ParksParams",
    "Params",
    "list_presets",
    "load_preset",
    "load_section",
    "params_from_dict",
]

PRESET_DIR = Path(__file__).resolve().parents[1] / "data" / "presets"
CLASSES = ("A", "B", "C", "D")

# indicator key → (numerator field, denominator, unit); denominators: "land_mu" or an enterprises field.
ABOVE_INDICATORS = {
    "tax_per_mu": ("tax_10k", "land_mu", "万元/亩"),                  # 亩均税收
    "va_per_mu": ("value_added_10k", "land_mu", "万元/亩"),           # 亩均增加值
    "va_per_energy": ("value_added_10k", "energy_tce", "万元/tce"),   # 单位能耗增加值
    "va_per_emission": ("value_added_10k", "emissions_t", "万元/t"),  # 单位排放增加值
    "labour_productivity": ("value_added_10k", "employees", "万元/人·年"),  # 全员劳动生产率
    "rd_share": ("rd_10k", "revenue_10k", "share"),                   # R&D占比
}
BELOW_INDICATORS = {
    "tax_per_mu": ("tax_10k", "land_mu", "万元/亩"),                       # 亩均税收
    "tax_per_electricity": ("tax_10k", "electricity_10k_kwh", "元/kWh"),  # 单位电耗税收 (万元/万kWh = 元/kWh)
    "sales_per_mu": ("revenue_10k", "land_mu", "万元/亩"),                # 亩均销售
}
LOW_EFFICIENCY_RULES = (
    "far_below_min", "coverage_below_min", "tax_below_abs", "tax_below_share", "class_d",
    "halted", "completion_overdue", "contract_shortfall", "polluting_outside_park", "scattered",
)
# Columns of the redevelopment frame a suitability criterion may read.
CRITERION_COLUMNS = (
    "dist_park_m", "dist_expressway_m", "dist_national_road_m", "dist_provincial_road_m", "dist_road_m",
    "dist_logistics_centre_m", "dist_port_m", "dist_rail_station_m", "dist_residential_m",
    "slope_mean", "flood_depth_max", "area_mu", "added_floor_m2", "soft_constraint_share",
)
_CLASS_METHODS = ("cutoffs", "quotas")
_CANDIDATE_SETS = ("low_efficiency", "industrial")


@dataclass(frozen=True)
class ByClass:
    """One number per evaluation class A–D (e.g. a surcharge in 元/kWh)."""

    A: float = 0.0
    B: float = 0.0
    C: float = 0.0
    D: float = 0.0

    def get(self, cls: str) -> float:
        return float(getattr(self, cls))

    def as_dict(self) -> dict[str, float]:
        return {c: self.get(c) for c in CLASSES}


@dataclass(frozen=True)
class Indicator:
    """One scored indicator: sub-score = min(value ÷ benchmark, cap) × weight.

    ``benchmark=None`` means the group average (Σ numerator ÷ Σ denominator over the
    group's evaluated firms, the way counties publish their averages).  ``cap`` bounds
    value ÷ benchmark (``None`` = no cap).
    """

    key: str
    weight: float
    benchmark: float | None = None
    cap: float | None = None


@dataclass(frozen=True)
class GroupScoring:
    """The scoring of one group (规上 or 规下): indicators and which are imputed when missing."""

    indicators: tuple[Indicator, ...]
    # A firm missing one of these gets the group's average sub-score (DOMAIN §3: emissions).
    impute_group_average: tuple[str, ...] = ()

    def indicator(self, key: str) -> Indicator:
        for ind in self.indicators:
            if ind.key == key:
                return ind
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.indicators)


@dataclass(frozen=True)
class PerMuParams:
    """亩均效益综合评价 settings (scope, scoring, vetoes, classes)."""

    above_scale: GroupScoring
    below_scale: GroupScoring
    weight_total: float = 100.0
    industry_min: int = 6            # industrial scope: 2-digit GB/T 4754 codes 06–46
    industry_max: int = 46
    small_firm_min_land_mu: float = 3.0
    exclude_not_producing: bool = True
    merge_tenants: bool = True
    micro_park_levels_in_scope: tuple[str, ...] = ()
    vetoes: tuple[str, ...] = ("major_incident",)
    veto_class: str = "D"
    class_method: str = "cutoffs"
    cutoffs: tuple[float, float, float] = (120.0, 90.0, 60.0)  # A ≥, B ≥, C ≥ (points); below → D
    quota_shares: tuple[float, float, float, float] = (0.107, 0.352, 0.461, 0.08)
    max_share_a: float | None = 0.20
    min_share_d: float | None = 0.05


@dataclass(frozen=True)
class PriceParams:
    """Differentiated factor prices by class (DOMAIN §3); positive = surcharge, negative = relief."""

    electricity_yuan_per_kwh: ByClass = ByClass()
    electricity_d_repeat_yuan_per_kwh: float = 0.0   # D several years running
    d_repeat_years: int = 3
    water_yuan_per_m3: ByClass = ByClass()
    sewage_yuan_per_m3: ByClass = ByClass()
    land_tax_yuan_per_m2: float = 0.0                # 城镇土地使用税 annual base rate
    land_tax_relief_share: ByClass = ByClass()       # share of the base relieved (A/B)
    land_tax_surcharge_share: ByClass = ByClass()    # share added (C/D), 0 if none


@dataclass(frozen=True)
class LowEfficiencyParams:
    """低效用地认定 settings: which rules count and their thresholds (years are calendar years).

    ``polluting_codes`` defaults to the one policy list :data:`layers.codes.POLLUTING_PREFIXES`,
    shared with relocation siting; the shipped presets do not override it.
    """

    rules: tuple[str, ...] = LOW_EFFICIENCY_RULES
    land_uses: tuple[str, ...] = ("0601", "0604", "1001", "1101")
    far_min: tuple[tuple[str, float], ...] = ()
    coverage_min: float = 0.30
    tax_per_mu_min: float = 1.0
    tax_share_of_average: float = 0.5
    halted_years: float = 1.0
    overdue_years: float = 2.0
    polluting_codes: tuple[str, ...] = POLLUTING_PREFIXES
    contract_years: float = 2.0        # completed this long ago …
    contract_share_min: float = 0.5    # … with investment or output below this share of the contract

    def far_min_for(self) -> dict[str, float]:
        return dict(self.far_min)


@dataclass(frozen=True)
class Criterion:
    """A suitability criterion: linear 0–1 transform from ``worst`` (0) to ``best`` (1), clipped."""

    name: str
    column: str
    weight: float
    best: float
    worst: float


@dataclass(frozen=True)
class RedevelopmentParams:
    """Redevelopment potential, suitability, suggested modes and clusters."""

    criteria: tuple[Criterion, ...]
    candidates: str = "low_efficiency"
    target_far: float = 2.0
    restricted: tuple[str, ...] = ("ecological_red_line", "basic_farmland", "water_source")
    restricted_share_max: float = 0.05
    soft_constraints: tuple[str, ...] = ("flood_zone", "river_corridor")
    residential_near_m: float = 200.0
    merge_max_mu: float = 15.0
    cluster_gap_m: float = 30.0
    cluster_min_mu: float = 50.0


@dataclass(frozen=True)
class ParksParams:
    """Park performance settings."""

    leading_share_min: float = 0.70
    capacity_far: float = 2.0
    developed_statuses: tuple[str, ...] = ("in_use", "halted", "half_halted", "under_construction")


@dataclass(frozen=True)
class Params:
    """A whole preset: one object per analysis plus its identification."""

    name: str
    title: str
    source: str
    per_mu: PerMuParams
    prices: PriceParams
    low_efficiency: LowEfficiencyParams
    redevelopment: RedevelopmentParams
    parks: ParksParams

    def to_dict(self) -> dict:
        """Plain nested dict (for the run record as JSON)."""
        return dataclasses.asdict(self)


# --- loading ----------------------------------------------------------------------------
def list_presets(directory: Path | None = None, *, kind: str | None = None) -> list[str]:
    """Names of the presets in ``data/presets`` (file stems).

    ``kind="chain"`` keeps only presets of the analysis chain (those with a ``[per_mu]``
    table); siting and integration presets share the folder.
    """
    paths = sorted((directory or PRESET_DIR).glob("*.toml"))
    if kind == "chain":
        paths = [p for p in paths if _is_chain_preset(p)]
    return [p.stem for p in paths]


def _is_chain_preset(path: Path) -> bool:
    try:
        return "per_mu" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return True  # let load_preset report the broken file


def load_preset(name: str | Path, *, directory: Path | None = None) -> Params:
    """Load and validate preset ``name`` (a name in ``data/presets`` or a path to a TOML file).

    Raises
    ------
    ParameterError
        Unknown preset (the message lists the known ones), TOML syntax errors, unknown
        keys, weights not summing to their total, negative thresholds… all at once.
    """
    directory = directory or PRESET_DIR
    path = Path(name)
    if path.suffix != ".toml":
        path = directory / f"{name}.toml"
    if not path.exists():
        known = ", ".join(list_presets(directory, kind="chain")) or "(none)"
        raise ParameterError(
            f"Unknown preset {str(name)!r}; known presets: {known}. Pick one of those or add data/presets/<name>.toml.",
            message_zh=f"未知的参数方案 {str(name)!r};已有方案:{known}。",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"Preset {path.name} is not valid TOML: {exc}. Fix the syntax and retry.",
                             message_zh=f"参数方案 {path.name} 不是有效的 TOML:{exc}") from None
    if "per_mu" not in data:
        known = ", ".join(list_presets(directory, kind="chain")) or "(none)"
        raise ParameterError(
            f"Preset {path.name} has no [per_mu] table, so it is not a preset of the analysis chain "
            f"(perhaps a siting or integration preset); chain presets: {known}.",
            message_zh=f"参数方案 {path.name} 缺少 [per_mu],不是评价分析方案;可用:{known}。",
        )
    data.setdefault("name", path.stem)
    return params_from_dict(data, origin=path.name)


def load_section(name: str | Path, section: str, build, *, directory: Path | None = None, label_zh: str = ""):
    """Load a preset holding one section of its own (``[siting]``, ``[integration]``): read and parse
    ``data/presets/<name>.toml`` (or a path), then ``build(data, origin=file name)`` validates it.

    :func:`load_preset` validates the fixed sections of the analysis chain; the siting and
    integration presets share its folder and value validators through this loader.
    """
    directory = directory or PRESET_DIR
    path = Path(name)
    if path.suffix != ".toml":
        path = directory / f"{name}.toml"
    if not path.exists():
        known = ", ".join(p for p in list_presets(directory) if section in p) or "(none)"
        raise ParameterError(f"Unknown {section} preset {str(name)!r}; known: {known}. Add data/presets/<name>.toml "
                             f"with a [{section}] section.", message_zh=f"未知的{label_zh}参数方案 {str(name)!r};已有:{known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"Preset {path.name} is not valid TOML: {exc}",
                             message_zh=f"{path.name} 不是有效的 TOML:{exc}") from None
    data.setdefault("name", path.stem)
    return build(data, origin=path.name)


def params_from_dict(data: Mapping[str, Any], *, origin: str = "preset") -> Params:
    """Build and validate :class:`Params` from a nested dict (a parsed preset)."""
    problems: list[str] = []
    _known(data, {"name", "title", "source", "per_mu", "prices", "low_efficiency", "redevelopment", "parks"}, "", problems)
    per_mu = _per_mu(dict(data.get("per_mu", {})), problems)
    prices = _prices(dict(data.get("prices", {})), problems)
    low = _low(dict(data.get("low_efficiency", {})), problems)
    red = _redevelopment(dict(data.get("redevelopment", {})), problems)
    parks = _parks(dict(data.get("parks", {})), problems)
    if problems:
        raise ParameterError(
            f"{origin}: {len(problems)} problem(s) in the parameters: " + "; ".join(problems)
            + ". Fix them in the preset and retry.",
            message_zh=f"{origin}:参数有 {len(problems)} 处问题:" + ";".join(problems),
            details=problems,
        )
    return Params(str(data.get("name", "custom")), str(data.get("title", "")), str(data.get("source", "")),
                  per_mu, prices, low, red, parks)


def _known(section: Mapping, allowed: set[str], where: str, problems: list[str]) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        problems.append(f"unknown key(s) {unknown} in [{where or 'top level'}]; allowed: {sorted(allowed)}")


def _num(section: Mapping, key: str, default, where: str, problems: list[str], *, minimum: float | None = 0.0,
         maximum: float | None = None, allow_none: bool = False):
    value = section.get(key, default)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"{where}.{key} = {value!r} is not a finite number")
        return default
    if minimum is not None and value < minimum:
        problems.append(f"{where}.{key} = {value} is below {minimum} (negative thresholds are not allowed)")
    if maximum is not None and value > maximum:
        problems.append(f"{where}.{key} = {value} is above {maximum}")
    return float(value)


def _strs(section: Mapping, key: str, default: tuple, where: str, problems: list[str],
          choices: tuple | None = None) -> tuple[str, ...]:
    value = section.get(key, default)
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}.{key} = {value!r} is not a list of strings")
        return tuple(default)
    if choices is not None:
        bad = [v for v in value if v not in choices]
        if bad:
            problems.append(f"{where}.{key}: {bad} not in {list(choices)}")
    return tuple(value)


def _bool(section: Mapping, key: str, default: bool, where: str, problems: list[str]) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}.{key} = {value!r} is not true/false")
        return default
    return value


def _group(section: Mapping, catalogue: dict, where: str, total: float, problems: list[str]) -> GroupScoring:
    impute = _strs(section, "impute_group_average", (), where, problems, tuple(catalogue))
    inds = []
    for key, spec in section.items():
        if key == "impute_group_average":
            continue
        if key not in catalogue:
            problems.append(f"unknown indicator {key!r} in [{where}]; known: {sorted(catalogue)}")
            continue
        if not isinstance(spec, Mapping):
            problems.append(f"[{where}.{key}] must be a table with weight, benchmark, cap")
            continue
        _known(spec, {"weight", "benchmark", "cap", "note"}, f"{where}.{key}", problems)
        weight = _num(spec, "weight", 0.0, f"{where}.{key}", problems)
        bench = spec.get("benchmark", "group_average")
        if bench == "group_average":
            bench = None
        else:
            bench = _num(spec, "benchmark", 1.0, f"{where}.{key}", problems)
            if bench is not None and bench <= 0:
                problems.append(f"{where}.{key}.benchmark = {bench} must be > 0 (or \"group_average\")")
        cap = _num(spec, "cap", None, f"{where}.{key}", problems, allow_none=True)
        if cap is not None and cap <= 0:
            problems.append(f"{where}.{key}.cap = {cap} must be > 0")
        inds.append(Indicator(key, weight, bench, cap))
    if not inds:
        problems.append(f"[{where}] has no indicators; give at least one of {sorted(catalogue)}")
    s = sum(i.weight for i in inds)
    if inds and not math.isclose(s, total, rel_tol=0, abs_tol=1e-6 * max(total, 1)):
        problems.append(f"weights in [{where}] sum to {s:g}, expected {total:g} "
                        f"({', '.join(f'{i.key}={i.weight:g}' for i in inds)})")
    return GroupScoring(tuple(inds), impute)


def _per_mu(s: dict, problems: list[str]) -> PerMuParams:
    w = "per_mu"
    d = PerMuParams(GroupScoring(()), GroupScoring(()))
    _known(s, {"above_scale", "below_scale", "weight_total", "industry_min", "industry_max", "small_firm_min_land_mu",
               "exclude_not_producing", "merge_tenants", "micro_park_levels_in_scope", "vetoes", "veto_class",
               "class_method", "cutoffs", "quota_shares", "max_share_a", "min_share_d"}, w, problems)
    total = _num(s, "weight_total", d.weight_total, w, problems)
    if total <= 0:
        problems.append(f"{w}.weight_total must be > 0")
    above = _group(dict(s.get("above_scale", {})), ABOVE_INDICATORS, f"{w}.above_scale", total, problems)
    below = _group(dict(s.get("below_scale", {})), BELOW_INDICATORS, f"{w}.below_scale", total, problems)
    imin = int(_num(s, "industry_min", d.industry_min, w, problems, maximum=99))
    imax = int(_num(s, "industry_max", d.industry_max, w, problems, maximum=99))
    if imin > imax:
        problems.append(f"{w}.industry_min {imin} > industry_max {imax}")
    method = s.get("class_method", d.class_method)
    if method not in _CLASS_METHODS:
        problems.append(f"{w}.class_method = {method!r}; expected one of {list(_CLASS_METHODS)}")
    cut = s.get("cutoffs", list(d.cutoffs))
    if not (isinstance(cut, list) and len(cut) == 3 and all(isinstance(c, (int, float)) for c in cut)):
        problems.append(f"{w}.cutoffs = {cut!r}; expected three numbers [A, B, C] (points, descending)")
        cut = list(d.cutoffs)
    elif not (cut[0] >= cut[1] >= cut[2] >= 0):
        problems.append(f"{w}.cutoffs = {cut}; expected non-negative and descending A ≥ B ≥ C")
    shares = s.get("quota_shares", list(d.quota_shares))
    if not (isinstance(shares, list) and len(shares) == 4 and all(isinstance(c, (int, float)) and c >= 0 for c in shares)):
        problems.append(f"{w}.quota_shares = {shares!r}; expected four non-negative shares [A, B, C, D]")
        shares = list(d.quota_shares)
    elif not math.isclose(sum(shares), 1.0, abs_tol=1e-6):
        problems.append(f"{w}.quota_shares sum to {sum(shares):g}, expected 1")
    max_a = _num(s, "max_share_a", d.max_share_a, w, problems, maximum=1, allow_none=True)
    min_d = _num(s, "min_share_d", d.min_share_d, w, problems, maximum=1, allow_none=True)
    if method == "quotas" and max_a is not None and shares[0] > max_a + 1e-12:
        problems.append(f"{w}.quota_shares A = {shares[0]} exceeds max_share_a = {max_a}")
    if method == "quotas" and min_d is not None and shares[3] < min_d - 1e-12:
        problems.append(f"{w}.quota_shares D = {shares[3]} is below min_share_d = {min_d}")
    veto_class = s.get("veto_class", d.veto_class)
    if veto_class not in CLASSES:
        problems.append(f"{w}.veto_class = {veto_class!r}; expected one of {list(CLASSES)}")
    return PerMuParams(
        above, below, total, imin, imax,
        _num(s, "small_firm_min_land_mu", d.small_firm_min_land_mu, w, problems),
        _bool(s, "exclude_not_producing", d.exclude_not_producing, w, problems),
        _bool(s, "merge_tenants", d.merge_tenants, w, problems),
        _strs(s, "micro_park_levels_in_scope", d.micro_park_levels_in_scope, w, problems),
        _strs(s, "vetoes", d.vetoes, w, problems, ("major_incident",)),
        veto_class, method, (float(cut[0]), float(cut[1]), float(cut[2])),
        (float(shares[0]), float(shares[1]), float(shares[2]), float(shares[3])), max_a, min_d,
    )


def _byclass(s: Mapping, key: str, where: str, problems: list[str], *, minimum: float | None = None) -> ByClass:
    value = s.get(key, {})
    if not isinstance(value, Mapping):
        problems.append(f"{where}.{key} must be a table {{A=…, B=…, C=…, D=…}}")
        return ByClass()
    _known(value, set(CLASSES), f"{where}.{key}", problems)
    return ByClass(**{c: _num(value, c, 0.0, f"{where}.{key}", problems, minimum=minimum) for c in CLASSES})


def _prices(s: dict, problems: list[str]) -> PriceParams:
    w = "prices"
    _known(s, {f.name for f in dataclasses.fields(PriceParams)}, w, problems)
    shares_max = {"minimum": 0.0}
    relief = _byclass(s, "land_tax_relief_share", w, problems, **shares_max)
    if any(v > 1 for v in relief.as_dict().values()):
        problems.append(f"{w}.land_tax_relief_share values must be shares between 0 and 1")
    return PriceParams(
        _byclass(s, "electricity_yuan_per_kwh", w, problems),
        _num(s, "electricity_d_repeat_yuan_per_kwh", 0.0, w, problems, minimum=None),
        int(_num(s, "d_repeat_years", 3, w, problems, minimum=1)),
        _byclass(s, "water_yuan_per_m3", w, problems),
        _byclass(s, "sewage_yuan_per_m3", w, problems),
        _num(s, "land_tax_yuan_per_m2", 0.0, w, problems),
        relief,
        _byclass(s, "land_tax_surcharge_share", w, problems, **shares_max),
    )


def _low(s: dict, problems: list[str]) -> LowEfficiencyParams:
    w = "low_efficiency"
    d = LowEfficiencyParams()
    _known(s, {f.name for f in dataclasses.fields(LowEfficiencyParams)}, w, problems)
    far = s.get("far_min", {})
    pairs = []
    if not isinstance(far, Mapping):
        problems.append(f"{w}.far_min must be a table of 2-digit code = minimum FAR")
    else:
        for code in far:
            if not (isinstance(code, str) and len(code) == 2 and code.isdigit()):
                problems.append(f"{w}.far_min key {code!r} is not a 2-digit GB/T 4754 code")
                continue
            pairs.append((code, _num(far, code, 0.0, f"{w}.far_min", problems)))
    codes = _strs(s, "polluting_codes", d.polluting_codes, w, problems)
    bad = [c for c in codes if not (c.isdigit() and len(c) in (2, 3, 4))]
    if bad:
        problems.append(f"{w}.polluting_codes {bad} are not 2–4 digit GB/T 4754 codes")
    return LowEfficiencyParams(
        rules=_strs(s, "rules", d.rules, w, problems, LOW_EFFICIENCY_RULES),
        land_uses=_strs(s, "land_uses", d.land_uses, w, problems),
        far_min=tuple(sorted(pairs)),
        coverage_min=_num(s, "coverage_min", d.coverage_min, w, problems, maximum=1),
        tax_per_mu_min=_num(s, "tax_per_mu_min", d.tax_per_mu_min, w, problems),
        tax_share_of_average=_num(s, "tax_share_of_average", d.tax_share_of_average, w, problems, maximum=1),
        halted_years=_num(s, "halted_years", d.halted_years, w, problems),
        overdue_years=_num(s, "overdue_years", d.overdue_years, w, problems),
        polluting_codes=codes,
        contract_years=_num(s, "contract_years", d.contract_years, w, problems),
        contract_share_min=_num(s, "contract_share_min", d.contract_share_min, w, problems, maximum=1),
    )


def _redevelopment(s: dict, problems: list[str]) -> RedevelopmentParams:
    w = "redevelopment"
    d = RedevelopmentParams(())
    _known(s, {f.name for f in dataclasses.fields(RedevelopmentParams)}, w, problems)
    crits = []
    raw = s.get("criteria", {})
    if not isinstance(raw, Mapping) or not raw:
        problems.append(f"[{w}.criteria] must hold at least one criterion table (column, weight, best, worst)")
        raw = {}
    for name, c in raw.items():
        where = f"{w}.criteria.{name}"
        if not isinstance(c, Mapping):
            problems.append(f"[{where}] must be a table")
            continue
        _known(c, {"column", "weight", "best", "worst", "note"}, where, problems)
        col = c.get("column")
        if col not in CRITERION_COLUMNS:
            problems.append(f"{where}.column = {col!r}; expected one of {list(CRITERION_COLUMNS)}")
        best = _num(c, "best", 0.0, where, problems, minimum=None)
        worst = _num(c, "worst", 1.0, where, problems, minimum=None)
        if best == worst:
            problems.append(f"{where}: best and worst are both {best}; they must differ")
        crits.append(Criterion(name, str(col), _num(c, "weight", 0.0, where, problems, maximum=1), best, worst))
    total = sum(c.weight for c in crits)
    if crits and not math.isclose(total, 1.0, abs_tol=1e-6):
        problems.append(f"suitability weights in [{w}.criteria] sum to {total:g}, expected 1 "
                        f"({', '.join(f'{c.name}={c.weight:g}' for c in crits)})")
    cand = s.get("candidates", d.candidates)
    if cand not in _CANDIDATE_SETS:
        problems.append(f"{w}.candidates = {cand!r}; expected one of {list(_CANDIDATE_SETS)}")
    from layers.schema import CONSTRAINT_KINDS

    return RedevelopmentParams(
        tuple(crits), cand,
        _num(s, "target_far", d.target_far, w, problems),
        _strs(s, "restricted", d.restricted, w, problems, CONSTRAINT_KINDS),
        _num(s, "restricted_share_max", d.restricted_share_max, w, problems, maximum=1),
        _strs(s, "soft_constraints", d.soft_constraints, w, problems, CONSTRAINT_KINDS),
        _num(s, "residential_near_m", d.residential_near_m, w, problems),
        _num(s, "merge_max_mu", d.merge_max_mu, w, problems),
        _num(s, "cluster_gap_m", d.cluster_gap_m, w, problems),
        _num(s, "cluster_min_mu", d.cluster_min_mu, w, problems),
    )


def _parks(s: dict, problems: list[str]) -> ParksParams:
    w = "parks"
    d = ParksParams()
    _known(s, {f.name for f in dataclasses.fields(ParksParams)}, w, problems)
    from layers.schema import PLOT_STATUSES

    return ParksParams(
        _num(s, "leading_share_min", d.leading_share_min, w, problems, maximum=1),
        _num(s, "capacity_far", d.capacity_far, w, problems),
        _strs(s, "developed_statuses", d.developed_statuses, w, problems, PLOT_STATUSES),
    )
