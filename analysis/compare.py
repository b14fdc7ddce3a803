"""What changed between two runs of the analysis chain, and why (pure: frames and parameter dicts in).

A planner re-runs the chain with other weights, thresholds or newer data and asks: which firms
changed class, which plots entered or left the low-efficiency list — and because of what?
:func:`compare` answers from the two runs' stored frames and the parameters each was made with:

* ``transitions`` — a class × class count table (rows: run A, columns: run B;
  :data:`NOT_EVALUATED` = no class in that run);
* ``class_changes`` / ``scores`` — firms whose final class differs, and every firm evaluated
  in both runs with its score in each and the change (points);
* ``plots`` — every plot that entered or left the list, with the rules that fire in each run,
  the rules that started or stopped firing, the reasons written by each run, and ``why_zh`` /
  ``why_en``: each rule that changed with the setting behind it when that setting changed
  (e.g. "亩均税收低于全市平均水平一定比例:比例 20% → 50%"), or "参数未变,数据变化" when
  the setting is the same in both runs (the plot's figures or a firm's class changed);
* ``settings`` — every parameter that differs between the runs (dotted path, A, B);
* ``summary`` — counts.

The result keeps the keys of the first version of this comparison (``class_changes``,
``entered``, ``left``, ``transitions``) so existing callers go on working.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.low_efficiency import RULE_LABELS

__all__ = ["compare", "flatten", "setting_changes", "RULE_SETTINGS", "SETTING_WORDS", "NOT_EVALUATED"]

NOT_EVALUATED = "not_evaluated"  # the transitions' row/column of firms without a class in a run
#: The parameters (dotted paths in the run's parameters) behind each low-efficiency rule.
RULE_SETTINGS: dict[str, tuple[str, ...]] = {
    "far_below_min": ("low_efficiency.far_min",), "coverage_below_min": ("low_efficiency.coverage_min",),
    "tax_below_abs": ("low_efficiency.tax_per_mu_min",), "tax_below_share": ("low_efficiency.tax_share_of_average",),
    "class_d": ("per_mu",), "halted": ("low_efficiency.halted_years",),
    "completion_overdue": ("low_efficiency.overdue_years",),
    "contract_shortfall": ("low_efficiency.contract_years", "low_efficiency.contract_share_min"),
    "polluting_outside_park": ("low_efficiency.polluting_codes",), "scattered": ("low_efficiency.rules",),
}
#: How a setting reads (dotted path → Chinese, English, kind of value); unknown paths read as themselves.
SETTING_WORDS: dict[str, tuple[str, str, str]] = {
    "low_efficiency.far_min": ("各行业容积率下限", "minimum FAR by industry", "table"),
    "low_efficiency.coverage_min": ("建筑系数下限", "minimum building coverage", "share"),
    "low_efficiency.tax_per_mu_min": ("亩均税收下限(万元/亩)", "minimum tax per mu (10k yuan/mu)", "number"),
    "low_efficiency.tax_share_of_average": ("占全市平均的比例", "share of the county average", "share"),
    "low_efficiency.halted_years": ("停产年限", "years halted", "number"),
    "low_efficiency.overdue_years": ("超期年限", "years overdue", "number"),
    "low_efficiency.contract_years": ("竣工后考核年限", "years after completion", "number"),
    "low_efficiency.contract_share_min": ("投资或产出达合同约定的比例", "share of the contracted investment or output",
                                          "share"),
    "low_efficiency.polluting_codes": ("污染行业代码", "polluting industry codes", "list"),
    "low_efficiency.rules": ("启用的规则", "rules switched on", "list"),
    "per_mu": ("亩均评价参数(权重、基准、分档)", "per-mu scoring (weights, benchmarks, cut-offs)", "table"),
    "per_mu.above_scale.indicators": ("规上企业指标(权重、基准、封顶)", "above-scale indicators (weight, benchmark, cap)",
                                      "indicators"),
    "per_mu.below_scale.indicators": ("规下企业指标(权重、基准、封顶)", "below-scale indicators (weight, benchmark, cap)",
                                      "indicators"),
    "per_mu.class_method": ("分类方法", "classing method", "text"),
    "per_mu.cutoffs": ("A/B/C 分档线(分)", "A/B/C cut-offs (points)", "list"),
    "per_mu.quota_shares": ("A/B/C/D 比例", "A/B/C/D quotas", "list"),
    "per_mu.max_share_a": ("A 类比例上限", "most A", "share"),
    "per_mu.min_share_d": ("D 类比例下限", "least D", "share"),
    "per_mu.small_firm_min_land_mu": ("规下企业参评用地下限(亩)", "below-scale land threshold (mu)", "number"),
    "redevelopment.cluster_min_mu": ("连片区面积下限(亩)", "cluster minimum (mu)", "number"),
    "redevelopment.cluster_gap_m": ("连片间距(米)", "cluster gap (m)", "number"),
    "redevelopment.target_far": ("目标容积率", "target FAR", "number"),
    "parks.leading_share_min": ("主导产业占比下限", "leading-industry share rule", "share"),
}


def flatten(params: Mapping | str | None, prefix: str = "") -> dict[str, object]:
    """A run's parameters (dict or its JSON text) as ``{"section.key": value}``; lists stay whole."""
    if params is None:
        return {}
    if isinstance(params, str):
        try:
            decoded = json.loads(params)
        except ValueError:
            return {}
        if not isinstance(decoded, Mapping):
            return {}
        params = decoded
    out: dict[str, object] = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


def setting_changes(params_a, params_b) -> pd.DataFrame:
    """Every parameter that differs between two runs: ``setting``, ``value_a``, ``value_b`` (JSON text)."""
    a, b = flatten(params_a), flatten(params_b)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not k.endswith((".name", ".title", ".source"))
                  and k not in ("name", "title", "source"))

    def show(v):
        return "" if v is None else json.dumps(v, ensure_ascii=False, default=str)
    return pd.DataFrame({"setting": keys, "value_a": [show(a.get(k)) for k in keys],
                         "value_b": [show(b.get(k)) for k in keys]}, dtype="object")


def _firms(ev: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("name", "township_code", "industry_code", "final_class", "score", "status") if c in ev.columns]
    out = ev.set_index(ev["credit_code"].astype(str))[cols]
    return out[~out.index.duplicated()]


def _class_part(per_mu_a: pd.DataFrame, per_mu_b: pd.DataFrame) -> dict:
    a, b = _firms(per_mu_a), _firms(per_mu_b)
    j = a.add_suffix("_a").join(b.add_suffix("_b"), how="outer")
    ca = j["final_class_a"].astype("string").fillna(NOT_EVALUATED)
    cb = j["final_class_b"].astype("string").fillna(NOT_EVALUATED)
    both = j["score_a"].notna() & j["score_b"].notna()
    name = j.get("name_b", pd.Series(index=j.index, dtype="object")).fillna(j.get("name_a"))
    town = j.get("township_code_b", pd.Series(index=j.index, dtype="object")).fillna(j.get("township_code_a"))
    firms = pd.DataFrame({"credit_code": j.index, "name": name.to_numpy(), "township_code": town.to_numpy(),
                          "class_a": j["final_class_a"].astype("string").to_numpy(),
                          "class_b": j["final_class_b"].astype("string").to_numpy(),
                          "score_a": j["score_a"].to_numpy(dtype=float), "score_b": j["score_b"].to_numpy(dtype=float)})
    firms["score_change"] = firms["score_b"] - firms["score_a"]
    changed = (ca != cb).to_numpy()
    order = list(dict.fromkeys(["A", "B", "C", "D", *sorted(set(ca) | set(cb)), NOT_EVALUATED]))
    trans = pd.crosstab(ca.rename("class_a"), cb.rename("class_b")).reindex(
        index=[c for c in order if c in set(ca)], columns=[c for c in order if c in set(cb)], fill_value=0)
    scores = firms[both.to_numpy()].assign(abs_change=lambda f: f["score_change"].abs())
    scores = scores.sort_values("abs_change", ascending=False, kind="stable").drop(columns="abs_change")
    return {"transitions": trans, "class_changes": firms[changed].reset_index(drop=True),
            "scores": scores.reset_index(drop=True)}


def _fired(plots: pd.DataFrame) -> pd.DataFrame:
    """Per plot: is it listed, and which rules fire (bool columns by rule name)."""
    p = plots.set_index(plots["plot_id"].astype(str))
    p = p[~p.index.duplicated()]
    rules = pd.DataFrame({r: p[f"rule_{r}"].astype("boolean").fillna(False).to_numpy(dtype=bool)
                          if f"rule_{r}" in p.columns else np.zeros(len(p), dtype=bool) for r in RULE_LABELS},
                         index=p.index)
    listed = p["is_low_efficiency"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    return rules.assign(_listed=listed)


def _names(rules: pd.DataFrame, lang: int) -> pd.Series:
    """Comma-joined rule labels of the True cells of each row (lang 0 = English, 1 = Chinese)."""
    sep = "、" if lang else ", "
    labels = np.array([RULE_LABELS[r][lang] for r in rules.columns], dtype=object)
    return pd.Series([sep.join(labels[row]) for row in rules.to_numpy(dtype=bool)], index=rules.index, dtype="object")


def _setting_text(setting: str, a: dict, b: dict, zh: bool) -> str | None:
    """"比例 20% → 50%" for a changed setting, None when it is the same in both runs."""
    keys = [k for k in set(a) | set(b) if k == setting or k.startswith(setting + ".")]
    if not any(a.get(k) != b.get(k) for k in keys):
        return None
    words = SETTING_WORDS.get(setting, (setting, setting, "table"))
    label, kind = words[0 if zh else 1], words[2]
    if kind == "share":
        return f"{label} {float(a[setting]):.0%} → {float(b[setting]):.0%}" if setting in a and setting in b else label
    if kind == "number":
        return f"{label} {a.get(setting)} → {b.get(setting)}"
    return label + ("有调整" if zh else " changed")


def _cause(rule: str, fa: dict, fb: dict, zh: bool) -> str:
    """Why a rule's verdict may have changed: it was switched on or off, its setting changed, or the data did."""
    if not fa or not fb:
        return ""
    on_a = rule in (fa.get("low_efficiency.rules") or RULE_LABELS)
    on_b = rule in (fb.get("low_efficiency.rules") or RULE_LABELS)
    if on_a != on_b:
        return ("规则已" + ("启用" if on_b else "停用")) if zh else ("rule switched " + ("on" if on_b else "off"))
    changed = [text for setting in RULE_SETTINGS.get(rule, ()) if setting != "low_efficiency.rules"
               and (text := _setting_text(setting, fa, fb, zh))]
    return ("、" if zh else "; ").join(changed) or ("参数未变,数据变化" if zh else "same setting, the data changed")


def _why(plots: pd.Index, added: pd.DataFrame, removed: pd.DataFrame, fa: dict, fb: dict, zh: bool) -> pd.Series:
    """Per changed plot: each rule that started or stopped firing, with its cause."""
    lang = 1 if zh else 0
    sep = "、" if zh else "; "

    def rule_text(rule):
        cause = _cause(rule, fa, fb, zh)
        label = RULE_LABELS[rule][lang]
        return label if not cause else (f"{label}({cause})" if zh else f"{label} ({cause})")

    texts = np.array([rule_text(r) for r in added.columns], dtype=object)
    now, gone = ("新触发:", "不再触发:") if zh else ("now fires: ", "no longer fires: ")
    out = []
    for plus, minus in zip(added.to_numpy(dtype=bool), removed.to_numpy(dtype=bool)):
        bits = ([now + sep.join(texts[plus])] if plus.any() else []) + \
               ([gone + sep.join(texts[minus])] if minus.any() else [])
        out.append((";" if zh else "; ").join(bits))
    return pd.Series(out, index=plots, dtype="object")


def _plot_part(plots_a: pd.DataFrame, plots_b: pd.DataFrame, params_a, params_b) -> dict:
    ra, rb = _fired(plots_a), _fired(plots_b)
    ids = ra.index.union(rb.index)
    ra = ra.reindex(ids, fill_value=False)
    rb = rb.reindex(ids, fill_value=False)
    listed_a, listed_b = ra.pop("_listed").astype(bool), rb.pop("_listed").astype(bool)
    change = pd.Series(np.select([~listed_a & listed_b, listed_a & ~listed_b], ["entered", "left"], ""), index=ids)
    moved = change != ""
    added = (rb & ~ra)[moved]
    removed = (ra & ~rb)[moved]
    fa, fb = flatten(params_a), flatten(params_b)
    base = plots_b.set_index(plots_b["plot_id"].astype(str))
    base = base[~base.index.duplicated()].reindex(ids[moved.to_numpy()])
    other = plots_a.set_index(plots_a["plot_id"].astype(str))
    other = other[~other.index.duplicated()].reindex(base.index)
    table = pd.DataFrame({"plot_id": base.index, "change": change[moved].to_numpy()}, index=base.index)
    for col in ("township_code", "park_id", "area_mu"):
        if col in base.columns:
            table[col] = base[col].where(base[col].notna(), other[col]) if col in other.columns else base[col]
    for lang, suffix in ((1, "zh"), (0, "en")):
        table[f"rules_a_{suffix}"] = _names(ra[moved], lang)
        table[f"rules_b_{suffix}"] = _names(rb[moved], lang)
        table[f"reasons_a_{suffix}"] = other.get(f"reasons_{suffix}")
        table[f"reasons_b_{suffix}"] = base.get(f"reasons_{suffix}")
    table["why_zh"] = _why(table.index, added, removed, fa, fb, True)
    table["why_en"] = _why(table.index, added, removed, fa, fb, False)
    table = table.rename_axis(None).sort_values(["change", "plot_id"]).reset_index(drop=True)
    return {"plots": table, "entered": sorted(table.loc[table["change"] == "entered", "plot_id"]),
            "left": sorted(table.loc[table["change"] == "left", "plot_id"])}


def compare(per_mu_a: pd.DataFrame, per_mu_b: pd.DataFrame, plots_a: pd.DataFrame, plots_b: pd.DataFrame, *,
            params_a: Mapping | str | None = None, params_b: Mapping | str | None = None) -> dict:
    """Differences between run A and run B (module docstring lists the keys).

    Parameters
    ----------
    per_mu_a, per_mu_b : DataFrame
        The runs' ``per_mu`` frames (``credit_code``, ``final_class``, ``score``…).
    plots_a, plots_b : DataFrame
        The runs' ``plots`` frames (``plot_id``, ``is_low_efficiency``, ``rule_*``, ``reasons_*``).
    params_a, params_b : mapping or JSON text, optional
        The parameters each run was made with (``runs.parameters``); without them the
        explanation cannot name the setting that changed.

    Returns
    -------
    dict
        ``transitions``, ``class_changes``, ``scores``, ``plots``, ``entered``, ``left``,
        ``settings``, ``summary``.
    """
    out = {**_class_part(per_mu_a, per_mu_b), **_plot_part(plots_a, plots_b, params_a, params_b)}
    out["settings"] = setting_changes(params_a, params_b)
    scores = out["scores"]
    out["summary"] = {
        "firms_compared": int(len(scores)), "class_changes": int(len(out["class_changes"])),
        "mean_abs_score_change": float(scores["score_change"].abs().mean()) if len(scores) else 0.0,
        "entered": len(out["entered"]), "left": len(out["left"]), "settings_changed": int(len(out["settings"])),
    }
    return out
