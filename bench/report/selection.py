"""Which stored result fills each cell of the report (newest wins among equals).

* MAccs / params: a ``profile`` at 1900x1060 (the NTIRE counting size), preferring the
  paper's counting convention;
* runtime: a ``time`` record, preferring full resolution, then a GPU; its device, backend,
  precision and size are printed beside it, and the difference to the paper is only given at
  full resolution (a reduced-size CPU time is not comparable to a V100 time);
* PSNR / PSNR-µ: an ``eval`` of trained weights (or of a parameter-free reference); for Table 3,
  the eval of the weights written by a ``train`` run with that row's loss.

Rows are the store's dicts; their records are read as typed records
(:mod:`bench.results.records`), so the fields have one name everywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.core import NTIRE_SIZE, PADDED_SIZE, REPO_ROOT, WEIGHTS_DIR
from bench.report.paper import normalize_loss
from bench.results import RESULT_KINDS, EvalRecord, ProfileRecord, TimeRecord, TrainRecord, typed
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


def _path_key(path: Any) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).expanduser().resolve())
    except OSError:
        return str(path)


def display_path(path: Any) -> str:
    """A path inside this repository relative to it (reports read the same on every machine), else as given."""
    p = Path(str(path))
    try:
        return str(p.relative_to(REPO_ROOT)) if p.is_absolute() else str(path)
    except ValueError:
        return str(path)


def eval_data_label(rec: EvalRecord) -> str:
    """Which data an evaluation scored, e.g. ``data/synthetic-default (8 images)``."""
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

    def __init__(self, rows: Iterable[dict]) -> None:
        self.rows = sorted(typed_rows(rows), key=lambda r: r["id"])
        self.by_kind: dict[str, dict[str, list[dict]]] = {}
        for row in self.rows:
            self.by_kind.setdefault(row["kind"], {}).setdefault(row["model"], []).append(row)

    @classmethod
    def from_store(cls, store: Any) -> Measurements:
        return cls(store.query(latest_only=True))

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

    def _shipped_weights(self, model: str) -> str | None:
        for name in self.names(model):
            info = model_info_or_none(name)
            if info is not None and info.weights:
                return _path_key(WEIGHTS_DIR / info.weights)
        return None

    def evaluation(self, model: str, loss: str | None = None) -> EvalRecord | None:
        """The eval that stands for ``model`` in Tables 1, 2, 4-6.

        Shipped weights come first. Weights written by a stored ``train`` run count only when that
        run's loss is ``loss`` (Tables 1 and 2 are mu-law L1 runs); other losses belong to Table 3.
        Weights of unknown origin (a user's checkpoint) come last.
        """
        trained = {
            _path_key(r["record"].weights): normalize_loss(r["record"].loss)
            for r in self._candidates("train", model)
            if r["record"].weights
        }
        shipped = self._shipped_weights(model)
        want = normalize_loss(loss) if loss else None
        ranked = []
        for r in self._candidates("eval", model):
            rec = r["record"]
            if not self.usable_eval(rec):
                continue
            key = _path_key(rec.weights)
            if key in trained and trained[key] != want:
                continue
            ranked.append(((key is not None and key == shipped, key in trained, r["id"]), rec))
        return max(ranked, key=lambda t: t[0])[1] if ranked else None

    def trained_evaluation(self, model: str, loss: str) -> tuple[TrainRecord, EvalRecord] | None:
        """(train summary, eval of its weights) for a run of ``model`` trained with ``loss``."""
        want = normalize_loss(loss)
        evals = [r["record"] for r in self._candidates("eval", model) if self.usable_eval(r["record"])]
        for train in reversed(self._candidates("train", model)):
            rec = train["record"]
            if normalize_loss(rec.loss) != want or not rec.weights:
                continue
            key = _path_key(rec.weights)
            matches = [e for e in evals if _path_key(e.weights) == key]
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
            out["runtime_full_size"] = is_full_size(tim)
            out["runtime_short"] = f"{tim.device} {tim.width}x{tim.height}"
            if tim.get("noisy"):  # shown with its spread: the cell's text, the plot's error bar
                out["runtime_spread"] = (tim.p10_s, tim.p90_s)
        ev = self.evaluation(model, loss)
        if ev is not None:
            out.update(eval_fields(ev))
            out["weights"] = ev.weights
        return out


def eval_fields(ev: EvalRecord) -> dict[str, Any]:
    """The accuracy cells of an eval and where they were measured."""
    return {
        "psnr": ev.psnr,
        "psnr_mu": ev.psnr_mu,
        "eval_data": eval_data_label(ev),
        "eval_real_data": is_real_data(ev.data),
    }
