"""Typed result records: one frozen dataclass per kind of measurement, one vocabulary of field names.

Field names are exactly the JSON keys the producers write and the store keeps (``bench.complexity``
profile(), ``bench.timing`` time_model(), ``bench.evaluation.evaluate`` evaluate_module(), the
``bench.train`` summary), so stored rows stay readable by older and newer versions alike. Values
are in the producers' units (MAccs and parameters as plain counts, seconds); reports scale them
(G, k) only when rendering.

:meth:`Record.from_json` is tolerant: keys it does not know are kept in ``extra`` and written back,
keys a row lacks (written before the field existed) read as None and are not written back, so
``from_json(d).to_json() == d``. A value of the wrong type (a foreign writer, a hand-edited row) is a
:class:`RecordError` naming the field; the store reports such a row and skips it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, TypeVar, get_type_hints

R = TypeVar("R", bound="Record")

# What a field's annotation allows, by the first type named in it (``float | None`` -> number).
_CHECKS: dict[type, tuple[str, Any]] = {
    float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    int: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    bool: ("true or false", lambda v: isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
    list: ("a list", lambda v: isinstance(v, list)),
    dict: ("a mapping", lambda v: isinstance(v, dict)),
}
# Bookkeeping fields of every record, not JSON keys.
_META = ("extra", "absent")


class RecordError(ValueError):
    """A stored value does not have its field's type (``field`` names it)."""

    def __init__(self, kind: str, field_name: str, expected: str, value: Any) -> None:
        self.kind = kind
        self.field = field_name
        super().__init__(f"field {field_name} is not {expected} (got {value!r:.40})")


@dataclass(frozen=True)
class Record:
    """Common behaviour; subclasses declare their fields (all optional: rows differ in age)."""

    KIND: ClassVar[str] = ""

    model: str | None = None
    # Keys this version does not know, kept so that a round trip loses nothing.
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Known fields the source JSON did not have: left out again by to_json.
    absent: frozenset[str] = field(default_factory=frozenset, compare=False, repr=False)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _field_names(cls)

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        """The record of a JSON object; raises :class:`RecordError` for a value of the wrong type."""
        if not isinstance(data, Mapping):
            raise RecordError(cls.KIND or cls.__name__, "record", "a JSON object", data)
        names = cls.field_names()
        hints = _field_checks(cls)
        values: dict[str, Any] = {}
        for name in names:
            if name not in data or data[name] is None:
                continue
            value = data[name]
            if isinstance(value, float) and math.isnan(value):
                continue  # NaN is stored as null; in memory it means "no value" as well
            what, ok = hints[name]
            if ok is not None and not ok(value):
                raise RecordError(cls.KIND or cls.__name__, name, what, value)
            values[name] = value
        extra = {k: v for k, v in data.items() if k not in names}
        return cls(**values, extra=extra, absent=frozenset(n for n in names if n not in data))

    def to_json(self) -> dict[str, Any]:
        """The JSON object: every known field the record has (None as null), then the unknown keys."""
        out = {n: getattr(self, n) for n in self.field_names() if n not in self.absent}
        out.update(self.extra)
        return out

    def get(self, name: str, default: Any = None) -> Any:
        """A field, or a key kept in ``extra`` (fields a plugin's producer adds), else ``default``."""
        if name in self.field_names():
            value = getattr(self, name)
        else:
            value = self.extra.get(name)
        return default if value is None else value


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _META)


@cache
def _field_checks(cls: type) -> dict[str, tuple[str, Any]]:
    checks = {}
    for name, hint in get_type_hints(cls).items():
        args = getattr(hint, "__args__", None) or (hint,)
        first = next((a for a in args if a is not type(None)), Any)
        first = getattr(first, "__origin__", first)  # list[str] -> list
        checks[name] = _CHECKS.get(first, ("anything", None))
    return checks


@dataclass(frozen=True)
class ProfileRecord(Record):
    """Counted complexity at one input size (``bench.complexity.profile``)."""

    KIND: ClassVar[str] = "profile"

    width: int | None = None
    height: int | None = None
    convention: str | None = None
    dtype: str | None = None
    batch: int | None = None
    maccs: int | None = None
    params: int | None = None
    params_total: int | None = None
    activations: int | None = None
    conv_calls: int | None = None
    peak_memory_bytes: int | None = None
    maccs_ntire: int | None = None
    maccs_true: int | None = None
    maccs_elementwise: int | None = None
    by_op: dict | None = None
    uncounted_ops: Any = None
    layers: list | None = None


@dataclass(frozen=True)
class TimeRecord(Record):
    """One timing (``bench.timing.time_model``, its RECORD_KEYS plus the roofline fields)."""

    KIND: ClassVar[str] = "time"

    device: str | None = None
    device_name: str | None = None
    backend: str | None = None
    precision: str | None = None
    width: int | None = None
    height: int | None = None
    pad_from: str | None = None
    batch: int | None = None
    threads: int | None = None
    channels_last: bool | None = None
    cuda_graphs: bool | None = None
    tf32: bool | None = None
    runs: int | None = None
    warmup: int | None = None
    median_s: float | None = None
    mean_s: float | None = None
    p10_s: float | None = None
    p90_s: float | None = None
    iqr_s: float | None = None
    cv: float | None = None
    noisy: bool | None = None  # CV still above max_cv after `rounds` measuring rounds
    rounds: int | None = None
    max_cv: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    compile_s: float | None = None
    peak_memory_bytes: int | None = None
    rel_l2_error: float | None = None
    rel_l2_bound: float | None = None
    status: str | None = None
    error: str | None = None
    warnings: list | None = None
    weights: str | None = None
    scene: str | None = None
    torch_version: str | None = None
    cuda_version: str | None = None
    cudnn_version: Any = None
    maccs: int | None = None
    roofline_source: str | None = None
    peak_flops: float | None = None
    bandwidth_Bps: float | None = None
    floor_compute_s: float | None = None
    floor_memory_s: float | None = None
    floor_memory_bytes: float | None = None
    floor_s: float | None = None
    floor_bound: str | None = None
    floor_fraction: float | None = None


@dataclass(frozen=True)
class EvalRecord(Record):
    """The scores of a model on a data set (``bench.evaluation.evaluate.evaluate_module``); metrics beyond
    PSNR / PSNR-µ are kept under their names in ``extra``."""

    KIND: ClassVar[str] = "eval"

    weights: str | None = None
    data: str | None = None
    ids: int | None = None
    n_images: int | None = None
    n_scored: int | None = None
    n_failed: int | None = None
    failed: list | None = None
    psnr: float | None = None
    psnr_mu: float | None = None
    metrics: dict | None = None  # name -> label, unit, direction...: the metrics this record scored
    roundtrip16: bool | None = None
    scoring: str | None = None
    device: str | None = None
    tile: int | None = None
    protocol: str | None = None  # "full" or "tiles-256" (bench.evaluation.predict.PROTOCOLS)
    protocol_description: str | None = None
    data_layout: str | None = None  # the layout the data set was read as (ntire, kalantari, ...)
    metric_domains: dict | None = None  # metric name -> "contract" or "linear": what it scored
    save_layout: str | None = None
    seconds: float | None = None
    world_size: int | None = None
    saved_to: str | None = None
    per_image: list | None = None


@dataclass(frozen=True)
class TrainRecord(Record):
    """The summary of a training run (``bench.train``)."""

    KIND: ClassVar[str] = "train"

    run_dir: str | None = None
    iters: int | None = None
    batch: int | None = None
    patch: int | None = None
    loss: str | None = None
    final_loss: float | None = None
    lr: float | None = None
    seconds: float | None = None
    device: str | None = None
    device_name: str | None = None
    world_size: int | None = None
    amp: bool | None = None
    torch_version: str | None = None
    weights: str | None = None
    ema_updates: int | None = None
    ema_every: int | None = None
    ema_decay: float | None = None
    stopped: Any = None
    params: int | None = None
    n_patches: int | None = None
    data_hash: str | None = None
