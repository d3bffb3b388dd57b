"""The metric registry: every image metric an evaluation can report, with how to show and average it.

A metric is one function ``fn(pred, gt) -> float`` and what a table needs to know about its number:
its unit, its direction (``higher_is_better``), how per-image values become the data set's score
(``aggregation``, a name from :data:`AGGREGATIONS`), its format and the data layouts it applies to.
Built-ins (``psnr``, ``psnr_mu``) are registered in :mod:`bench.evaluation.metrics`; a plugin file
adds one the same way::

    from bench.evaluation import register_metric

    @register_metric("mae-linear", unit="", higher_is_better=False, format=".5f")
    def mae_linear(pred, gt):
        \"\"\"Mean absolute error of the linear values (gamma 2.24), relative to max(gt).\"\"\"
        return float(abs(pred.clip(0) ** 2.24 - gt.clip(0) ** 2.24).mean() / gt.max() ** 2.24)

``fn`` receives two checked ``HxWx3`` float64 NumPy arrays of one shape, both finite: the
prediction and the ground truth in the metric's ``domain`` (:data:`DOMAINS`): as stored
(gamma-encoded, ``"contract"``, the default) or as linear HDR on the shortest frame's scale
(``"linear"``, what Kalantari-style metrics are defined on). It may raise
:class:`bench.data.hdrio.UnscorableError` when it is undefined for an image; a NaN result counts the
same way (the image is failed, never averaged). The metric's name is the key of its value in the
per-image and summary records, and what ``eval --metrics`` accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.core.errors import UsageError
from bench.core.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray], float]
Aggregation = Callable[[Sequence[float]], float]

AGGREGATIONS: Registry[Aggregation] = Registry("aggregation")
AGGREGATIONS.add("mean", lambda values: float(np.mean(values)))
AGGREGATIONS.add("median", lambda values: float(np.median(values)))

# Keys the evaluation records already use for other things: a metric of that name would overwrite them.
RESERVED_NAMES = frozenset(
    {"id", "scoring", "error", "finite", "n_images", "n_scored", "n_failed", "failed", "failed_ids"}
)
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")

# The encodings a metric may ask for; the evaluation converts prediction and GT per image.
DOMAINS: dict[str, str] = {
    "contract": "gamma-encoded HDR (gamma 2.24) on the medium frame's scale, as stored (NTIRE)",
    "linear": "linear HDR on the shortest frame's scale (Kalantari 2017's HDRImg.hdr convention)",
}


@dataclass(frozen=True)
class Metric:
    """One registered metric; ``fn`` scores one image, the other fields say how to read the number."""

    name: str
    fn: MetricFn
    unit: str = "dB"
    higher_is_better: bool = True
    aggregation: str = "mean"
    format: str = ".3f"
    layouts: tuple[str, ...] | None = None  # None: every layout
    label: str = ""  # the column header, e.g. "PSNR-mu"
    description: str = ""  # its convention, one line
    default: bool = False  # scored when ``--metrics`` is not given (the built-ins)
    domain: str = "contract"  # what ``fn`` receives: a name of DOMAINS

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(
                f"metric {self.name!r}: domain {self.domain!r} is not one of {', '.join(DOMAINS)}"
            )
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                f"metric name {self.name!r}: letters, digits, '_', '.', '-', starting with a letter"
            )
        if self.name in RESERVED_NAMES:
            raise ValueError(f"metric name {self.name!r} is a reserved record key")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"metric {self.name!r}: aggregation {self.aggregation!r} is not one of "
                f"{', '.join(AGGREGATIONS.names())}"
            )
        try:
            format(1.0, self.format)
        except (ValueError, TypeError):
            raise ValueError(f"metric {self.name!r}: {self.format!r} is not a float format") from None
        if not callable(self.fn):
            raise ValueError(f"metric {self.name!r}: fn must be callable")

    @property
    def header(self) -> str:
        """The column header: ``PSNR (dB)``, or the bare label for a unitless metric."""
        label = self.label or self.name
        return f"{label} ({self.unit})" if self.unit else label

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"

    def applies_to(self, layout: str | None) -> bool:
        """Whether this metric is defined on data of ``layout`` (``None``: the layout is not known, allow)."""
        return self.layouts is None or layout is None or layout in self.layouts

    def aggregate(self, values: Sequence[float]) -> float | None:
        """The data set's score from per-image values; None when there is none (nothing was scored)."""
        return AGGREGATIONS.get(self.aggregation)(list(values)) if len(values) else None

    def format_value(self, value: float | None) -> str:
        return "-" if value is None else format(value, self.format)

    def best(self, values: Iterable[float | None]) -> float | None:
        """The best of ``values`` by this metric's direction (None values ignored)."""
        known = [v for v in values if v is not None]
        if not known:
            return None
        return max(known) if self.higher_is_better else min(known)

    def describe(self) -> dict[str, object]:
        """What the JSON output says about the metric (everything but the function)."""
        return {
            "label": self.label or self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "aggregation": self.aggregation,
            "format": self.format,
            "description": self.description,
        }


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str,
    *,
    unit: str = "dB",
    higher_is_better: bool = True,
    aggregation: str = "mean",
    format: str = ".3f",  # noqa: A002 - the field's name in the Metric record
    layouts: Iterable[str] | None = None,
    label: str | None = None,
    description: str | None = None,
    default: bool = False,
    replace: bool = False,
    domain: str = "contract",
) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn(pred, gt) -> float`` as metric ``name`` (returns ``fn`` unchanged).

    ``description`` defaults to the first line of the function's docstring, ``label`` to ``name``.
    ``default=True`` makes it one of the metrics scored when the user names none (keep this for the
    built-ins: a default metric changes the cache key of every plain evaluation). ``domain`` says
    what ``fn`` receives (a name of :data:`DOMAINS`): ``"contract"`` the stored gamma-encoded
    values, ``"linear"`` linear HDR on the shortest frame's scale (converted per image from the
    sample's exposures, see :func:`bench.evaluation.metrics.score`).
    """

    def deco(fn: MetricFn) -> MetricFn:
        doc = (fn.__doc__ or "").strip().splitlines()
        METRICS.add(
            name,
            Metric(
                name=name,
                fn=fn,
                unit=unit,
                higher_is_better=higher_is_better,
                aggregation=aggregation,
                format=format,
                layouts=None if layouts is None else tuple(layouts),
                label=label or name,
                description=description if description is not None else (doc[0] if doc else ""),
                default=default,
                domain=domain,
            ),
            replace=replace,
        )
        return fn

    return deco


def default_metrics(layout: str | None = None) -> tuple[str, ...]:
    """The metrics scored when none are named: the default ones that apply to ``layout``."""
    return tuple(m.name for m in METRICS if m.default and m.applies_to(layout))


def select_metrics(names: Iterable[str] | str | None = None, layout: str | None = None) -> tuple[str, ...]:
    """Check metric names (a list or ``"a,b"``) and put them in registry order, without repeats.

    ``None`` gives :func:`default_metrics`. An unknown name, or one that does not apply to ``layout``,
    is a :class:`~bench.core.errors.UsageError` (one line, with close matches).
    """
    if names is None:
        return default_metrics(layout)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted = list(names)
    if not wanted:
        raise UsageError(f"no metric named (known: {', '.join(METRICS.names())})")
    for name in wanted:
        metric = METRICS.get(name)  # unknown: UsageError naming the known ones
        if not metric.applies_to(layout):
            raise UsageError(
                f"metric {name!r} does not apply to the {layout!r} layout "
                f"(it applies to {', '.join(metric.layouts or ())})"
            )
    return tuple(n for n in METRICS.names() if n in wanted)
