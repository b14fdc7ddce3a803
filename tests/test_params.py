"""Presets: loading, validation (every problem reported at once), hashability."""
from __future__ import annotations

import tomllib

import pytest

from analysis.params import PRESET_DIR, Params, list_presets, load_preset, params_from_dict
from geo.errors import ParameterError


def preset_dict(name: str = "huangyan_2022") -> dict:
    return tomllib.loads((PRESET_DIR / f"{name}.toml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["huangyan_2022", "ruian_default"])
def test_shipped_presets_load_and_hash(name):
    p = load_preset(name)
    assert isinstance(p, Params) and p.name == name
    assert hash(p) == hash(load_preset(name))  # frozen and hashable: a cache key
    with pytest.raises(AttributeError):
        p.name = "x"  # type: ignore[misc]


def test_list_presets():
    assert {"huangyan_2022", "ruian_default"} <= set(list_presets())


def test_huangyan_published_numbers():
    a = load_preset("huangyan_2022").per_mu.above_scale
    assert [(i.key, i.weight, i.benchmark) for i in a.indicators] == [
        ("tax_per_mu", 30, 24.097), ("va_per_mu", 20, 136.16), ("va_per_energy", 20, 2.694),
        ("va_per_emission", 10, 4929.81), ("labour_productivity", 10, 18.14), ("rd_share", 10, 0.0302)]


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ParameterError, match=r"Unknown preset 'nope'.*huangyan_2022.*ruian_default"):
        load_preset("nope")


def test_weights_not_summing_to_total():
    d = preset_dict()
    d["per_mu"]["above_scale"]["tax_per_mu"]["weight"] = 35
    with pytest.raises(ParameterError, match=r"above_scale\] sum to 105, expected 100"):
        params_from_dict(d)


def test_suitability_weights_must_sum_to_one():
    d = preset_dict()
    d["redevelopment"]["criteria"]["road"]["weight"] = 0.5
    with pytest.raises(ParameterError, match=r"suitability weights .* sum to 1.3, expected 1"):
        params_from_dict(d)


def test_every_problem_reported_at_once():
    d = preset_dict()
    d["low_efficiency"]["coverage_min"] = -0.1
    d["low_efficiency"]["colour"] = "red"
    d["per_mu"]["above_scale"]["profit_per_mu"] = {"weight": 0}
    d["per_mu"]["class_method"] = "lottery"
    with pytest.raises(ParameterError) as err:
        params_from_dict(d)
    msg = str(err.value)
    assert "coverage_min = -0.1 is below 0" in msg
    assert "unknown key(s) ['colour']" in msg
    assert "unknown indicator 'profit_per_mu'" in msg
    assert "'lottery'" in msg
    assert len(err.value.details) == 4


@pytest.mark.parametrize("patch, match", [
    (lambda d: d["low_efficiency"]["far_min"].__setitem__("3", 1.0), "not a 2-digit"),
    (lambda d: d["low_efficiency"].__setitem__("rules", ["far_below_min", "astrology"]), "astrology"),
    (lambda d: d["per_mu"]["below_scale"]["tax_per_mu"].__setitem__("benchmark", 0), "must be > 0"),
    (lambda d: d["per_mu"].__setitem__("quota_shares", [0.3, 0.3, 0.3, 0.1]), "exceeds max_share_a"),
    (lambda d: d["redevelopment"]["criteria"]["road"].__setitem__("column", "dist_moon_m"), "dist_moon_m"),
    (lambda d: d["redevelopment"].__setitem__("restricted", ["volcano"]), "volcano"),
    (lambda d: d["prices"]["land_tax_relief_share"].__setitem__("A", 1.5), "between 0 and 1"),
])
def test_bad_values(patch, match):
    d = preset_dict()
    patch(d)
    with pytest.raises(ParameterError, match=match):
        params_from_dict(d)


def test_other_presets_in_the_folder_are_not_chain_presets(tmp_path):
    (tmp_path / "siting_x.toml").write_text('name = "siting_x"\n[siting]\nrule = "polluting"\n', encoding="utf-8")
    (tmp_path / "mine.toml").write_text((PRESET_DIR / "ruian_default.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert list_presets(tmp_path, kind="chain") == ["mine"]
    assert list_presets(tmp_path) == ["mine", "siting_x"]
    with pytest.raises(ParameterError, match=r"siting_x.toml has no \[per_mu\].*chain presets: mine"):
        load_preset("siting_x", directory=tmp_path)


def test_bad_toml_file(tmp_path):
    (tmp_path / "broken.toml").write_text("name = [", encoding="utf-8")
    with pytest.raises(ParameterError, match="not valid TOML"):
        load_preset("broken", directory=tmp_path)
