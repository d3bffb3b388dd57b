"""Which stored result fills each cell of the report (newest wins among equals).

* MAccs / params: a ``profile`` at 1900x1060 (the NTIRE counting size), preferring the
  paper's counting convention;
* runtime: a ``time`` record, preferring full resolution, then a GPU; its device, backend,
  precision and size are printed beside it, and the difference to the paper is only given at
  full resolution (a reduced-size CPU time is not comparable to a V100 time);
* PSNR / PSNR-µ: an ``eval`` of trained weights (or of a parameter-free reference) on the
  report's one data set (:mod:`bench.report.datasets`: evals of other data sets are never shown
  beside it); for Table 3, the eval of the weights written by a ``train`` run with that row's
  loss, joined by the weights' digest (the one an eval's cache key holds, and the digests of the
  run's ``ema.safetensors`` and last checkpoint), so ``eval --weights RUN`` fills it. Only when
  the files are gone and no digest was stored are the weights matched by their resolved path.

Rows are the store's dicts; their records are read as typed records
(:mod:`bench.results.records`), so the fields have one name everywhere.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.core import NTIRE_SIZE, PADDED_SIZE, WEIGHTS_DIR, UsageError
from bench.report.datasets import DataSet, choose_data_set, data_set_of, data_sets, display_path, resolved
from bench.report.paper import normalize_loss
from bench.results import RESULT_KINDS, EvalRecord, ProfileRecord, TimeRecord, TrainRecord, typed
from bench.spec.weights import file_digest
from bench.train.checkpoint import resolve_weights_file
from models.registry import model_info

FULL_SIZES = {NTIRE_SIZE, PADDED_SIZE}
# Conventions whose numbers follow the paper's counting rules (protocol section 3), best first.
PAPER_CONVENTIONS = ("ntire", "torchinfo", "paper")


def model_info_or_none(name: str) -> Any:
    """The registry's ``ModelInfo`` of ``name``, or None for a model it does not know (a user's variant)."""
    try:
        return model_info(name)
    except Exception:  # unknown name or the registry cannot load: treat as an unregistered model
        return None


def eval_data_label(rec: EvalRecord) -> str:
    """Which data an evaluation scored, e.g. ``data/synthetic-default (8 images)`` (record alone: no fingerprint)."""
    return f"{display_path(rec.data)} ({rec.n_images} images)"


def is_real_data(folder: Any) -> bool:
    """Whether an evaluated folder holds real captures: it exists and ``make-data`` did not simulate it.

    A PSNR on simulated scenes says nothing about the paper's PSNR, so no difference is printed for it.
    """
    p = Path(str(folder))
    if not p.is_dir():
        return False  # moved or deleted: what it held cannot be told any more
    try:
        info = json.loads((p / "manifest.json").read_text())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return not (isinstance(info, dict) and str(info.get("generator", "")).startswith("eapbench"))


def runtime_setting(rec: TimeRecord) -> str:
    """Device, backend, precision and size of a timing, in one short string."""
    size = f"{rec.width}x{rec.height}"
    if rec.pad_from:
        size += f" (padded from {rec.pad_from})"
    parts = [rec.device_name or rec.device or "?", rec.backend, rec.precision, size]
    if rec.runs:
        parts.append(f"median of {rec.runs}")
    return ", ".join(str(p) for p in parts if p)


def is_full_size(rec: TimeRecord) -> bool:
    return (rec.width, rec.height) in FULL_SIZES


def typed_rows(rows: Iterable[dict]) -> list[dict]:
    """The rows with ``record`` as its kind's record class; rows of unregistered kinds are left out,
    malformed ones reported on stderr and left out."""
    out = []
    for row in rows:
        if row["kind"] not in RESULT_KINDS:
            continue
        try:
            out.append({**row, "record": typed(row["kind"], row["record"])})
        except ValueError as exc:
            print(f"skipped: result {row.get('id')}: {exc}", file=sys.stderr)
    return out


class Measurements:
    """The stored results, indexed by model, with the rules above for picking one per cell."""

    def __init__(self, rows: Iterable[dict], data: str | None = None) -> None:
        """``data``: the data set whose accuracy is shown (a folder or a fingerprint prefix; see
        :mod:`bench.report.datasets`); None for the default. Every eval of another data set is left out."""
        self.rows = sorted(typed_rows(rows), key=lambda r: r["id"])
        self.by_kind: dict[str, dict[str, list[dict]]] = {}
        for row in self.rows:
            self.by_kind.setdefault(row["kind"], {}).setdefault(row["model"], []).append(row)
        self._digests: dict[str, str | None] = {}
        evals = [r for r in self.rows if r["kind"] == "eval"]
        self.pinned = data
        self.data_set: DataSet | None = choose_data_set(evals, data, self._usable_row)
        # What --data could pin instead: the data sets left out of this report.
        self.other_data_sets = [
            d
            for d in data_sets(evals, self._usable_row)
            if self.data_set is None or d.key != self.data_set.key
        ]

    @classmethod
    def from_store(cls, store: Any, data: str | None = None) -> Measurements:
        return cls(store.query(latest_only=True), data=data)

    def require_data_set(self) -> None:
        """A UsageError when ``--data`` pinned a data set that no usable eval in the store scored."""
        if self.pinned is not None and self.data_set is None:
            known = "; ".join(d.label() for d in self.other_data_sets) or "none"
            raise UsageError(
                f"--data {self.pinned}: no evaluation in the store scored it (evaluated: {known})"
            )

    def models(self) -> list[str]:
        return sorted({r["model"] for r in self.rows})

    def names(self, model: str) -> list[str]:
        """``model`` and the names that share its results (aliases: eapnet-exp6 = eapnet-lightweight)."""
        names = [model]
        info = model_info_or_none(model)
        if info is not None and info.alias_of:
            names.append(info.alias_of)
        for other in self.models():
            other_info = model_info_or_none(other) if other not in names else None
            if other_info is not None and other_info.alias_of in names:
                names.append(other)
        return names

    def _candidates(self, kind: str, model: str) -> list[dict]:
        rows = []
        for name in self.names(model):
            rows += self.by_kind.get(kind, {}).get(name, [])
        return sorted(rows, key=lambda r: r["id"])

    def profile(self, model: str) -> ProfileRecord | None:
        rows = [
            r
            for r in self._candidates("profile", model)
            if (r["record"].width, r["record"].height) == NTIRE_SIZE
        ]

        def rank(r: dict) -> tuple:
            conv = str(r["record"].convention or "").lower()
            return (
                conv in PAPER_CONVENTIONS,
                -PAPER_CONVENTIONS.index(conv) if conv in PAPER_CONVENTIONS else 0,
                r["id"],
            )

        return max(rows, key=rank)["record"] if rows else None

    def timing(self, model: str) -> TimeRecord | None:
        # Only "ok" timings are comparable (a failed numerics check or an error is not a runtime).
        rows = [
            r
            for r in self._candidates("time", model)
            if r["record"].median_s is not None and (r["record"].status or "ok") == "ok"
        ]

        def rank(r: dict) -> tuple:
            rec = r["record"]
            # Full resolution first, then a GPU, then the largest size (a quick 64x64 smoke timing
            # never hides a real one), then the newest.
            pixels = (rec.width or 0) * (rec.height or 0)
            return (is_full_size(rec), str(rec.device or "").startswith("cuda"), pixels, r["id"])

        return max(rows, key=rank)["record"] if rows else None

    def usable_eval(self, rec: EvalRecord) -> bool:
        """Whether an eval measures the model: it scored images, and with weights unless parameter-free."""
        if rec.psnr is None or not rec.n_images or (rec.n_failed or 0) >= rec.n_images:
            return False
        if rec.weights:
            return True
        # Without weights only a parameter-free reference measures anything; an untrained
        # network's score says nothing about the architecture.
        info = model_info_or_none(rec.model or "")
        return info is not None and not info.trainable

    def _usable_row(self, row: dict) -> bool:
        return self.usable_eval(row["record"])

    def _evals(self, model: str) -> list[dict]:
        """The usable eval rows of ``model`` on the report's data set, oldest first."""
        if self.data_set is None:
            return []
        return [
            r
            for r in self._candidates("eval", model)
            if self.usable_eval(r["record"]) and data_set_of(r).key == self.data_set.key
        ]

    def digest(self, path: Any) -> str | None:
        """The weights digest (:func:`bench.spec.weights.file_digest`) of a file on disk, else None."""
        key = resolved(path)
        if key is None:
            return None
        if key not in self._digests:
            try:
                self._digests[key] = file_digest(key) if Path(key).is_file() else None
            except (UsageError, OSError):  # unreadable: it cannot be matched
                self._digests[key] = None
        return self._digests[key]

    def eval_weights(self, row: dict) -> str | None:
        """What an eval's weights are known by: the digest its cache key holds, else its file's digest,
        else (file gone, no digest stored) its resolved path."""
        stored = (row.get("settings") or {}).get("weights")
        if isinstance(stored, str) and re.fullmatch(r"[0-9a-f]{16}", stored):
            return stored
        path = row["record"].weights
        return self.digest(path) or (f"path:{resolved(path)}" if path else None)

    def run_weights(self, rec: TrainRecord) -> set[str]:
        """What the weights a train run wrote are known by: the digests of its ``ema.safetensors`` and of
        the file ``--weights RUN`` loads (its last checkpoint), else (files gone) the resolved path."""
        if rec.get("weights_digest"):
            return {str(rec.get("weights_digest"))}
        files = [rec.weights] if rec.weights else []
        if rec.run_dir and Path(rec.run_dir).is_dir():
            try:
                files.append(str(resolve_weights_file(rec.run_dir)))
            except (UsageError, OSError):  # an incomplete run folder: its ema.safetensors still counts
                pass
        found = {d for d in (self.digest(f) for f in files) if d}
        if found:
            return found
        return {f"path:{resolved(rec.weights)}"} if rec.weights else set()

    def _shipped_weights(self, model: str) -> str | None:
        for name in self.names(model):
            info = model_info_or_none(name)
            if info is not None and info.weights:
                file = WEIGHTS_DIR / info.weights
                return self.digest(file) or f"path:{resolved(file)}"
        return None

    def evaluation(self, model: str, loss: str | None = None) -> EvalRecord | None:
        """The eval that stands for ``model`` in Tables 1, 2, 4-6 (on the report's data set only).

        Shipped weights come first. Weights written by a stored ``train`` run count only when that
        run's loss is ``loss`` (Tables 1 and 2 are mu-law L1 runs); other losses belong to Table 3.
        Weights of unknown origin (a user's checkpoint) come last. Weights are matched by digest.
        """
        trained = {
            known: normalize_loss(r["record"].loss)
            for r in self._candidates("train", model)
            for known in self.run_weights(r["record"])
        }
        shipped = self._shipped_weights(model)
        want = normalize_loss(loss) if loss else None
        ranked = []
        for r in self._evals(model):
            key = self.eval_weights(r)
            if key in trained and trained[key] != want:
                continue
            ranked.append(((key is not None and key == shipped, key in trained, r["id"]), r["record"]))
        return max(ranked, key=lambda t: t[0])[1] if ranked else None

    def trained_evaluation(self, model: str, loss: str) -> tuple[TrainRecord, EvalRecord] | None:
        """(train summary, eval of its weights) for a run of ``model`` trained with ``loss``.

        The eval is the one of the weights the run wrote (same digest), on the report's data set.
        """
        want = normalize_loss(loss)
        evals = self._evals(model)
        for train in reversed(self._candidates("train", model)):
            rec = train["record"]
            if normalize_loss(rec.loss) != want or not (rec.weights or rec.run_dir):
                continue
            known = self.run_weights(rec)
            matches = [e["record"] for e in evals if self.eval_weights(e) in known]
            if matches:
                return rec, matches[-1]
        return None

    def measured_metrics(self, model: str, loss: str | None = None) -> dict[str, Any]:
        """Every measured number for one model under its record field name (record units), plus provenance.

        ``loss``: see :meth:`evaluation`.
        """
        out: dict[str, Any] = {}
        prof = self.profile(model)
        if prof is not None:
            out["maccs"], out["params"], out["convention"] = prof.maccs, prof.params, prof.convention
        tim = self.timing(model)
        if tim is not None:
            out["median_s"] = tim.median_s
            out["runtime_setting"] = runtime_setting(tim)
            out["runtime_backend"] = tim.backend
            out["runtime_full_size"] = is_full_size(tim)
            out["runtime_short"] = f"{tim.device} {tim.width}x{tim.height}"
            if tim.get("noisy"):  # shown with its spread: the cell's text, the plot's error bar
                out["runtime_spread"] = (tim.p10_s, tim.p90_s)
        ev = self.evaluation(model, loss)
        if ev is not None:
            out.update(self.eval_fields(ev))
            out["weights"] = ev.weights
        return out

    def eval_fields(self, ev: EvalRecord) -> dict[str, Any]:
        """The accuracy cells of an eval on the report's data set, and that data set's name."""
        return eval_fields(ev, self.data_set)


def eval_fields(ev: EvalRecord, data_set: DataSet | None = None) -> dict[str, Any]:
    """The accuracy cells of an eval and where they were measured (``data_set`` names it fully)."""
    return {
        "psnr": ev.psnr,
        "psnr_mu": ev.psnr_mu,
        "eval_data": data_set.label() if data_set is not None else eval_data_label(ev),
        "eval_fingerprint": data_set.fingerprint if data_set is not None else None,
        "eval_real_data": is_real_data(ev.data),
    }
