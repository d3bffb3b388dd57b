"""Run-to-run noise: mean ± std over seeds and Welch's t-test between two rows (numpy only).

Why Welch t over seeds and not a paired bootstrap over test images: an ablation step claims that one
*training recipe* beats another, and what varies between two trainings of the same recipe is the seed
(initial weights, data order). A bootstrap over test images would measure how much the score of one
trained model moves with the choice of test images, and call a difference real that another seed
would erase. Welch's variant does not assume equal variances (a larger model may vary less). With
2 seeds per row the test has 1-2 degrees of freedom and flags only large gaps: more seeds, sharper test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # two-sided significance level of "outside noise"


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (ddof 1; None for one value) and count of a row's seeds."""

    mean: float | None
    std: float | None
    n: int

    def describe(self, digits: int = 2) -> str:
        if self.mean is None:
            return "-"
        if self.std is None:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def spread(values: list[float]) -> Spread:
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return Spread(None, None, 0)
    arr = np.asarray(finite)
    return Spread(float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else None, len(arr))


@dataclass(frozen=True)
class WelchResult:
    """Welch's two-sample t-test of ``b - a``: statistic, Welch-Satterthwaite df, two-sided p-value."""

    diff: float
    t: float
    df: float
    p: float

    @property
    def within_noise(self) -> bool:
        return self.p >= ALPHA


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, modified Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast only below this point
        return 1.0 - betainc(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    f = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            f *= c * d
        if abs(c * d - 1.0) < 1e-14:
            break
    return math.exp(log_front) * f / a


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def welch(a: list[float], b: list[float]) -> WelchResult | None:
    """Welch's t-test of the mean of ``b`` against ``a``; None when a row has fewer than 2 seeds."""
    xa, xb = spread(a), spread(b)
    if xa.std is None or xb.std is None or xa.mean is None or xb.mean is None:
        return None
    diff = xb.mean - xa.mean
    va, vb = xa.std**2 / xa.n, xb.std**2 / xb.n
    if va + vb == 0.0:  # both rows reproduce bit for bit: any difference is outside noise
        return WelchResult(diff, math.inf if diff else 0.0, math.inf, 1.0 if diff == 0 else 0.0)
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (xa.n - 1) + vb**2 / (xb.n - 1))
    return WelchResult(diff, t, df, t_two_sided_p(t, df))
