"""geo.units: 1 亩 = 10000/15 m², 1 ha = 15 亩 = 10 000 m²."""
import numpy as np
import pandas as pd
import pytest

from geo import units


@pytest.mark.parametrize(
    "func, value, expected",
    [
        (units.m2_to_mu, 10_000.0, 15.0),
        (units.m2_to_mu, 666.0 + 2.0 / 3.0, 1.0),
        (units.mu_to_m2, 15.0, 10_000.0),
        (units.m2_to_ha, 25_000.0, 2.5),
        (units.ha_to_m2, 2.5, 25_000.0),
        (units.mu_to_ha, 690.0, 46.0),
        (units.ha_to_mu, 46.0, 690.0),
    ],
)
def test_scalar_conversions(func, value, expected):
    assert func(value) == pytest.approx(expected, rel=1e-12)


def test_constants_agree():
    assert units.M2_PER_MU * units.MU_PER_HA == pytest.approx(units.M2_PER_HA)


def test_series_keeps_index_and_type():
    s = pd.Series([0.0, 666.6666666666666, 20_000.0], index=["a", "b", "c"])
    out = units.m2_to_mu(s)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["a", "b", "c"]
    np.testing.assert_allclose(out.to_numpy(), [0.0, 1.0, 30.0])


@pytest.mark.parametrize("forward, back", [(units.m2_to_mu, units.mu_to_m2), (units.m2_to_ha, units.ha_to_m2),
                                           (units.mu_to_ha, units.ha_to_mu)])
def test_round_trip_arrays(forward, back):
    a = np.array([0.0, 1.0, 123.456, 1e9])
    np.testing.assert_allclose(back(forward(a)), a, rtol=1e-12)


def test_nan_passes_through():
    assert np.isnan(units.m2_to_mu(np.nan))
