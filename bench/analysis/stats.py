"""Small statistics the figures and the report share: seed intervals and power-law fits.

Kept free of scipy (not a dependency): the t quantiles are tabulated, and the fit is a plain
least-squares line in log space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two-sided 95% Student-t critical values t_{0.975, df} for df = 1..30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959964


def t_critical_95(df: int) -> float:
    """t_{0.975, df}: the multiplier of the standard error for a two-sided 95% interval."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    # Cornish-Fisher expansion around the normal quantile; error < 1e-3 for df > 30.
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class MeanCI:
    """Mean over seeds with a 95% t-interval; lo == hi == mean when there is one seed."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def mean_ci(values) -> MeanCI:
    """Mean and 95% Student-t interval of the finite values (seeds are the replicates).

    Seeds are few (3-5), so a t-interval is honest where a bootstrap would be too narrow.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return MeanCI(mean, mean, mean, 1)
    half = t_critical_95(n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class PowerLaw:
    """y ~ prefactor * x**exponent, fitted by least squares on (log x, log y)."""

    exponent: float
    prefactor: float
    n: int

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent


def fit_power_law(x, y) -> PowerLaw:
    """Fit the power-law exponent in log space; NaN unless two distinct positive x values."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if np.unique(x).size < 2:
        return PowerLaw(math.nan, math.nan, int(x.size))
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(float(slope), float(math.exp(intercept)), int(x.size))


@dataclass(frozen=True)
class PowerLawFit:
    """A power law with the 95% t-interval of its exponent (the slope in log-log space)."""

    law: PowerLaw
    lo: float
    hi: float


def fit_power_law_ci(x, y) -> PowerLawFit:
    """`fit_power_law` plus the exponent's 95% interval from the slope's standard error
    (n - 2 degrees of freedom); the interval is NaN with fewer than three points."""
    law = fit_power_law(x, y)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[keep]), np.log(y[keep])
    n = lx.size
    if n < 3 or not math.isfinite(law.exponent):
        return PowerLawFit(law, math.nan, math.nan)
    residual = ly - (law.exponent * lx + math.log(law.prefactor))
    spread = float(((lx - lx.mean()) ** 2).sum())
    se = math.sqrt(float((residual**2).sum()) / (n - 2) / spread) if spread > 0 else math.nan
    half = t_critical_95(n - 2) * se
    return PowerLawFit(law, law.exponent - half, law.exponent + half)
