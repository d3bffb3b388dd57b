"""The registry of result kinds: what the store accepts, how a record is typed, judged and summarised.

A kind is one :class:`ResultKind` in :data:`RESULT_KINDS`: its record class, whether a record is
worth keeping and reusing (``is_ok``) and a one-line summary for the ``results`` command. A plugin
adds a kind with one call::

    RESULT_KINDS.add("energy", ResultKind("energy", EnergyRecord, summary=lambda r: f"{r.joules} J"))

and ``run_bench.py --plugin FILE results --kind energy`` lists its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.core.registry import Registry
from bench.results.records import EvalRecord, ProfileRecord, Record, TimeRecord, TrainRecord


def status_ok(record: Record) -> bool:
    """A ``status`` other than ``ok`` (timing errors, failed numerics checks) is not a result."""
    return record.get("status", "ok") == "ok"


@dataclass(frozen=True)
class ResultKind:
    """One kind of stored result."""

    name: str
    record: type[Record]
    is_ok: Callable[[Any], bool] = status_ok
    summary: Callable[[Any], str] = lambda record: ""


RESULT_KINDS: Registry[ResultKind] = Registry("result kind")


def typed(kind: str, record: Record | Mapping[str, Any]) -> Record:
    """``record`` as its kind's record class (a dict is read with ``from_json``)."""
    cls = RESULT_KINDS.get(kind).record
    return record if isinstance(record, cls) else cls.from_json(record)


def is_ok(kind: str, record: Record | Mapping[str, Any]) -> bool:
    """Whether a record is a result worth keeping and reusing (not an error or a failed check)."""
    return RESULT_KINDS.get(kind).is_ok(typed(kind, record))


def summarize(row: Mapping[str, Any]) -> str:
    """One human line for a stored result (``row`` as the store returns it), by kind."""
    if row["kind"] not in RESULT_KINDS:
        return f"result kind {row['kind']!r} is not registered (load the plugin that defines it)"
    return RESULT_KINDS.get(row["kind"]).summary(typed(row["kind"], row["record"]))


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value / scale, spec)


def _profile_summary(r: ProfileRecord) -> str:
    return (
        f"{_fmt(r.maccs, '.2f', 1e9)} GMAccs, {_fmt(r.params, '.2f', 1e3)} k params at "
        f"{r.width}x{r.height} ({r.convention or '?'})"
    )


def _time_ok(r: TimeRecord) -> bool:
    # A noisy timing (CV above its bound after every round) is stored, to be shown with its spread,
    # but never reused as a result: the next run measures it again.
    return status_ok(r) and not r.get("noisy")


def _time_summary(r: TimeRecord) -> str:
    return (
        f"median {_fmt(r.median_s, '.4f')} s on {r.device_name or r.device} "
        f"{r.backend or ''} {r.precision or ''} {r.width}x{r.height} ({r.runs} runs)"
        + (f", noisy: p10-p90 {_fmt(r.p10_s, '.4f')}-{_fmt(r.p90_s, '.4f')} s" if r.get("noisy") else "")
    )


def _eval_ok(r: EvalRecord) -> bool:
    # Failed (non-finite) images or a missing score: measured again next time. A record scored with
    # `eval --metrics` names its metrics; older records scored PSNR and PSNR-mu.
    names = list(r.metrics) if r.metrics else ["psnr"]
    return status_ok(r) and not r.n_failed and all(r.get(n) is not None for n in names)


def _eval_summary(r: EvalRecord) -> str:
    return (
        f"PSNR {_fmt(r.psnr, '.3f')} dB, PSNR-mu {_fmt(r.psnr_mu, '.3f')} dB on "
        f"{r.n_images} images of {r.data} (weights {r.weights or 'none'})"
    )


def _train_summary(r: TrainRecord) -> str:
    return f"loss {r.loss}, {r.iters} iters, final {_fmt(r.final_loss, '.4g')}, weights {r.weights}"


RESULT_KINDS.add("profile", ResultKind("profile", ProfileRecord, summary=_profile_summary))
RESULT_KINDS.add("time", ResultKind("time", TimeRecord, is_ok=_time_ok, summary=_time_summary))
RESULT_KINDS.add("eval", ResultKind("eval", EvalRecord, is_ok=_eval_ok, summary=_eval_summary))
RESULT_KINDS.add("train", ResultKind("train", TrainRecord, summary=_train_summary))
