"""Statistics of per-run seconds: the summary a time record holds and the noisy-machine warning."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CV_WARNING = 0.05  # a coefficient of variation above 5% means a noisy machine


def summarize(times: Sequence[float]) -> dict[str, float | int]:
    """Median, mean, p10, p90, IQR, min, max and coefficient of variation of per-run seconds.

    Percentiles use linear interpolation (NumPy's default). CV is the sample standard deviation
    over the mean (0 for a single run).
    """
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarize")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("timings must be finite and non-negative")
    p10, p25, p50, p75, p90 = np.percentile(t, [10, 25, 50, 75, 90])
    mean = float(t.mean())
    std = float(t.std(ddof=1)) if t.size > 1 else 0.0
    return {
        "runs": int(t.size),
        "median_s": float(p50),
        "mean_s": mean,
        "p10_s": float(p10),
        "p90_s": float(p90),
        "iqr_s": float(p75 - p25),
        "cv": std / mean if mean > 0 else 0.0,
        "min_s": float(t.min()),
        "max_s": float(t.max()),
    }


def is_noisy(stats: dict, limit: float = CV_WARNING) -> bool:
    """Whether the spread of one round of runs is above the noise bound."""
    return stats["cv"] > limit


def noise_warning(stats: dict, limit: float = CV_WARNING, rounds: int = 1) -> str | None:
    """One line when the spread says the machine was busy, else None."""
    if is_noisy(stats, limit):
        tried = f" in each of {rounds} rounds" if rounds > 1 else ""
        return (
            f"coefficient of variation {stats['cv']:.1%} > {limit:.0%} over {stats['runs']} runs{tried}: "
            "the machine is noisy (other load, frequency scaling); marked noisy, with its spread "
            f"p10-p90 {stats['p10_s'] * 1e3:.3g}-{stats['p90_s'] * 1e3:.3g} ms; trust the median, not the mean"
        )
    return None
