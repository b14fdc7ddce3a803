"""Area units used by Chinese land planners.

1 亩 (mu) = 10000/15 m² ≈ 666.67 m²; 1 ha = 15 亩 = 10 000 m².
All functions accept scalars, numpy arrays or pandas Series and return the same kind.
"""
from __future__ import annotations

__all__ = ["M2_PER_MU", "M2_PER_HA", "MU_PER_HA", "m2_to_mu", "mu_to_m2", "m2_to_ha", "ha_to_m2", "mu_to_ha", "ha_to_mu"]

M2_PER_HA = 10_000.0
MU_PER_HA = 15.0
M2_PER_MU = M2_PER_HA / MU_PER_HA  # 666.666…


def m2_to_mu(area_m2):
    """Square metres → 亩 (÷ 666.67)."""
    return area_m2 / M2_PER_MU


def mu_to_m2(area_mu):
    """亩 → square metres (× 666.67)."""
    return area_mu * M2_PER_MU


def m2_to_ha(area_m2):
    """Square metres → hectares."""
    return area_m2 / M2_PER_HA


def ha_to_m2(area_ha):
    """Hectares → square metres."""
    return area_ha * M2_PER_HA


def mu_to_ha(area_mu):
    """亩 → hectares (÷ 15)."""
    return area_mu / MU_PER_HA


def ha_to_mu(area_ha):
    """Hectares → 亩 (× 15)."""
    return area_ha * MU_PER_HA
