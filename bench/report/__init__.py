"""The report: the paper's Tables 1-6 beside what this suite measured, plus plots and an index page.

Reads only the results store (``bench/results.py``) and the paper's numbers (``bench/paper.py``),
so a report can be re-rendered at any time without measuring anything. Every column is labelled
*paper*, *measured* or *diff* (measured - paper); a paper row with no matching model, or a model
with no stored result, shows an empty measured cell, never a paper number in its place.

Which stored result fills a cell (newest wins among equals):

* GMAccs / params: a ``profile`` at 1900x1060 (the NTIRE counting size), preferring the
  paper's counting convention;
* runtime: a ``time`` record, preferring full resolution, then a GPU; its device, backend,
  precision and size are printed beside it, and the difference to the paper is only given at
  full resolution (a reduced-size CPU time is not comparable to a V100 time);
* PSNR / PSNR-µ: an ``eval`` of trained weights (or of a parameter-free reference); for Table 3,
  the eval of the weights written by a ``train`` run with that row's loss.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.core import (
    NTIRE_SIZE,
    PADDED_SIZE,
    REPO_ROOT,
    REPORTS_DIR,
    atomic_write_text,
    write_json,
)
from bench.report.paper import (
    AHDR_PARAMS_K_CORRECTED,
    AHDR_PARAMS_NOTE,
    METRICS,
    TABLES,
    normalize_loss,
    paper_table,
    row_label,
)

FULL_SIZES = {NTIRE_SIZE, PADDED_SIZE}
# Conventions whose numbers follow the paper's counting rules (protocol section 3), best first.
PAPER_CONVENTIONS = ("ntire", "torchinfo", "paper")
FORMATS = {"psnr_db": ".3f", "psnr_mu_db": ".3f", "runtime_s": ".4f", "gmaccs": ".2f", "params_k": ".2f"}


# -- choosing the stored result behind each cell ---------------------------------------------------


def _registry_info(name: str) -> Any:
    try:
        from models.registry import model_info

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


def eval_data_label(rec: dict) -> str:
    """Which data an evaluation scored, e.g. ``data/synthetic-default (8 images)``."""
    return f"{display_path(rec.get('data'))} ({rec.get('n_images')} images)"


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


def runtime_setting(rec: dict) -> str:
    """Device, backend, precision and size of a timing, in one short string."""
    size = f"{rec.get('width')}x{rec.get('height')}"
    if rec.get("pad_from"):
        size += f" (padded from {rec['pad_from']})"
    parts = [
        rec.get("device_name") or rec.get("device") or "?",
        rec.get("backend"),
        rec.get("precision"),
        size,
    ]
    if rec.get("runs"):
        parts.append(f"median of {rec['runs']}")
    return ", ".join(str(p) for p in parts if p)


def is_full_size(rec: dict) -> bool:
    return (rec.get("width"), rec.get("height")) in FULL_SIZES


class Measurements:
    """The stored results, indexed by model, with the rules above for picking one per cell."""

    def __init__(self, rows: Iterable[dict]) -> None:
        self.rows = sorted(rows, key=lambda r: r["id"])
        self.by_kind: dict[str, dict[str, list[dict]]] = {}
        for row in self.rows:
            self.by_kind.setdefault(row["kind"], {}).setdefault(row["model"], []).append(row)

    @classmethod
    def from_store(cls, store: Any) -> Measurements:
        return cls(store.query(latest_only=True))

    def models(self) -> list[str]:
        return sorted({r["model"] for r in self.rows})

    def _names(self, model: str) -> list[str]:
        # A model registered as an alias (eapnet-exp6 = eapnet-lightweight) shares its results.
        names = [model]
        info = _registry_info(model)
        if info is not None and info.alias_of:
            names.append(info.alias_of)
        for other in self.models():
            other_info = _registry_info(other) if other not in names else None
            if other_info is not None and other_info.alias_of in names:
                names.append(other)
        return names

    def _candidates(self, kind: str, model: str) -> list[dict]:
        rows = []
        for name in self._names(model):
            rows += self.by_kind.get(kind, {}).get(name, [])
        return sorted(rows, key=lambda r: r["id"])

    def profile(self, model: str) -> dict | None:
        rows = [
            r
            for r in self._candidates("profile", model)
            if (r["record"].get("width"), r["record"].get("height")) == NTIRE_SIZE
        ]

        def rank(r: dict) -> tuple:
            conv = str(r["record"].get("convention", "")).lower()
            return (
                conv in PAPER_CONVENTIONS,
                -PAPER_CONVENTIONS.index(conv) if conv in PAPER_CONVENTIONS else 0,
                r["id"],
            )

        return max(rows, key=rank)["record"] if rows else None

    def timing(self, model: str) -> dict | None:
        # Only "ok" timings are comparable (a failed numerics check or an error is not a runtime).
        rows = [
            r
            for r in self._candidates("time", model)
            if r["record"].get("median_s") is not None and r["record"].get("status", "ok") == "ok"
        ]

        def rank(r: dict) -> tuple:
            rec = r["record"]
            # Full resolution first, then a GPU, then the largest size (a quick 64x64 smoke timing
            # never hides a real one), then the newest.
            pixels = (rec.get("width") or 0) * (rec.get("height") or 0)
            return (is_full_size(rec), str(rec.get("device", "")).startswith("cuda"), pixels, r["id"])

        return max(rows, key=rank)["record"] if rows else None

    def _usable_eval(self, rec: dict) -> bool:
        if (
            rec.get("psnr") is None
            or not rec.get("n_images")
            or rec.get("n_failed", 0) >= rec.get("n_images", 0)
        ):
            return False
        if rec.get("weights"):
            return True
        # Without weights only a parameter-free reference measures anything; an untrained
        # network's score says nothing about the architecture.
        info = _registry_info(rec.get("model", ""))
        return info is not None and not info.trainable

    def _shipped_weights(self, model: str) -> str | None:
        from bench.core import WEIGHTS_DIR

        for name in self._names(model):
            info = _registry_info(name)
            if info is not None and info.weights:
                return _path_key(WEIGHTS_DIR / info.weights)
        return None

    def evaluation(self, model: str, loss: str | None = None) -> dict | None:
        """The eval that stands for ``model`` in Tables 1, 2, 4-6.

        Shipped weights come first. Weights written by a stored ``train`` run count only when that
        run's loss is ``loss`` (Tables 1 and 2 are mu-law L1 runs); other losses belong to Table 3.
        Weights of unknown origin (a user's checkpoint) come last.
        """
        trained = {
            _path_key(r["record"].get("weights")): normalize_loss(r["record"].get("loss"))
            for r in self._candidates("train", model)
            if r["record"].get("weights")
        }
        shipped = self._shipped_weights(model)
        want = normalize_loss(loss) if loss else None
        ranked = []
        for r in self._candidates("eval", model):
            rec = r["record"]
            if not self._usable_eval(rec):
                continue
            key = _path_key(rec.get("weights"))
            if key in trained and trained[key] != want:
                continue
            ranked.append(((key is not None and key == shipped, key in trained, r["id"]), rec))
        return max(ranked, key=lambda t: t[0])[1] if ranked else None

    def trained_evaluation(self, model: str, loss: str) -> tuple[dict, dict] | None:
        """(train summary, eval of its weights) for a run of ``model`` trained with ``loss``."""
        want = normalize_loss(loss)
        evals = [r["record"] for r in self._candidates("eval", model) if self._usable_eval(r["record"])]
        for train in reversed(self._candidates("train", model)):
            rec = train["record"]
            if normalize_loss(rec.get("loss")) != want or not rec.get("weights"):
                continue
            key = _path_key(rec["weights"])
            matches = [e for e in evals if _path_key(e.get("weights")) == key]
            if matches:
                return rec, matches[-1]
        return None

    def measured_metrics(self, model: str, loss: str | None = None) -> dict[str, Any]:
        """Every measured number for one model, keyed like the paper's columns, plus provenance.

        ``loss``: see :meth:`evaluation`.
        """
        out: dict[str, Any] = {}
        prof = self.profile(model)
        if prof is not None:
            out["gmaccs"] = prof["maccs"] / 1e9 if prof.get("maccs") is not None else None
            out["params_k"] = prof["params"] / 1e3 if prof.get("params") is not None else None
            out["convention"] = prof.get("convention")
        tim = self.timing(model)
        if tim is not None:
            out["runtime_s"] = tim["median_s"]
            out["runtime_setting"] = runtime_setting(tim)
            out["runtime_full_size"] = is_full_size(tim)
            out["runtime_short"] = f"{tim.get('device')} {tim.get('width')}x{tim.get('height')}"
        ev = self.evaluation(model, loss)
        if ev is not None:
            out["psnr_db"], out["psnr_mu_db"] = ev.get("psnr"), ev.get("psnr_mu")
            out["eval_data"] = eval_data_label(ev)
            out["eval_real_data"] = is_real_data(ev.get("data"))
            out["weights"] = ev.get("weights")
        return out


# -- building the tables ---------------------------------------------------------------------------


def _column(key: str, label: str, source: str) -> dict:
    return {"key": key, "label": label, "source": source}


def build_table(number: str, meas: Measurements) -> dict:
    """One paper table as a plain dict: columns (each labelled by source), rows, notes."""
    spec = TABLES[number]
    columns = [_column("row", "Row", "paper"), _column("model", "Our model", "info")]
    columns += [_column(d, d.replace("_", " "), "paper") for d in spec.descriptors]
    for m in spec.metrics:
        columns += [
            _column(f"{m}_paper", METRICS[m], "paper"),
            _column(f"{m}_measured", METRICS[m], "measured"),
            _column(f"{m}_diff", METRICS[m], "diff"),
        ]
    if "runtime_s" in spec.metrics:
        columns.append(_column("runtime_setting", "Runtime measured on", "measured"))
    columns.append(_column("note", "Note", "info"))

    rows, data_sets, notes = [], set(), list(spec.notes)
    for prow in paper_table(number):
        model = prow.get("model")
        row: dict[str, Any] = {"row": row_label(prow), "model": model or "paper only"}
        row.update({d: prow.get(d) or "" for d in spec.descriptors})
        measured: dict[str, Any] = {}
        row_notes = [prow["note"]] if prow.get("note") else []
        if model and number == "3":
            run = meas.trained_evaluation(model, prow["train_loss"])
            if run is not None:
                train, ev = run
                measured = {
                    "psnr_db": ev.get("psnr"),
                    "psnr_mu_db": ev.get("psnr_mu"),
                    "eval_data": eval_data_label(ev),
                    "eval_real_data": is_real_data(ev.get("data")),
                }
                row_notes.append(f"trained {train.get('iters')} iters, batch {train.get('batch')}")
            else:
                row["model"] = f"{model} ({prow['train_loss']}): not trained here"
        elif model:
            # Tables 1 and 2 are mu-law L1 runs; a stored train run with that loss may stand in.
            measured = meas.measured_metrics(model, loss="mu" if number in ("1", "2") else None)
        if measured.get("eval_data"):
            data_sets.add(measured["eval_data"])
        for m in spec.metrics:
            paper, ours = prow.get(m), measured.get(m)
            row[f"{m}_paper"], row[f"{m}_measured"] = paper, ours
            # A difference only where both numbers measure the same thing: full-resolution runtimes,
            # accuracy on real captures (never on simulated scenes).
            if m == "runtime_s":
                comparable = bool(measured.get("runtime_full_size"))
            elif m in ("psnr_db", "psnr_mu_db"):
                comparable = bool(measured.get("eval_real_data"))
            else:
                comparable = True
            row[f"{m}_diff"] = (
                ours - paper if (paper is not None and ours is not None and comparable) else None
            )
        if "runtime_s" in spec.metrics:
            row["runtime_setting"] = measured.get("runtime_setting", "")
        printed = prow.get("params_k")
        if model == "ahdr" and printed is not None and printed != AHDR_PARAMS_K_CORRECTED:
            ours, fixed = measured.get("params_k"), AHDR_PARAMS_K_CORRECTED
            extra = "" if ours is None else f"; measured - {fixed:.2f} k = {ours - fixed:+.2f} k"
            row_notes.append(f"paper's {printed:.2f} k read as {fixed:.2f} k (digit transposition){extra}")
            notes.append(AHDR_PARAMS_NOTE)
        row["note"] = "; ".join(row_notes)
        rows.append(row)

    if any(m in spec.metrics for m in ("psnr_db", "psnr_mu_db")):
        notes.append(f"Paper accuracy: {spec.data}.")
        if data_sets:
            notes.append(
                "Measured accuracy: " + "; ".join(sorted(data_sets)) + ". PSNR differences are given "
                "only for real captures, not for data simulated by make-data; even then they compare "
                "different images unless yours are the paper's."
            )
    if "runtime_s" in spec.metrics:
        notes.append(
            "Runtime differences are given only for timings at full resolution (1900x1060 or 1920x1080)."
        )
    return {
        "number": number,
        "title": spec.title,
        "caption": spec.caption,
        "columns": columns,
        "rows": rows,
        "notes": list(dict.fromkeys(notes)),
    }


def build_tables(meas: Measurements) -> list[dict]:
    return [build_table(n, meas) for n in TABLES]


# -- rendering -------------------------------------------------------------------------------------


def _cell(table_col: dict, value: Any) -> str:
    if value is None or value == "":
        return "–" if table_col["source"] in ("measured", "diff") else ""
    if isinstance(value, float):
        metric = table_col["key"].rsplit("_", 1)[0]
        spec = FORMATS.get(metric, ".4g")
        return format(value, ("+" + spec) if table_col["source"] == "diff" else spec)
    return str(value)


def _header(col: dict) -> str:
    return (
        col["label"]
        if col["source"] == "info" or col["key"] == "row"
        else f"{col['label']} [{col['source']}]"
    )


def render_markdown(table: dict) -> str:
    cols = table["columns"]
    lines = [f"## Table {table['number']}: {table['title']}", ""]
    if table["caption"]:
        lines += [table["caption"], ""]
    lines.append("| " + " | ".join(_header(c) for c in cols) + " |")
    numeric = [c["key"].rsplit("_", 1)[0] in METRICS for c in cols]
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    for row in table["rows"]:
        cells = [_cell(c, row.get(c["key"])).replace("|", "\\|") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    if table["notes"]:
        lines += ["", *[f"- {n}" for n in table["notes"]]]
    return "\n".join(lines) + "\n"


def render_csv(table: dict) -> str:
    """Raw numbers (full precision); header ``<metric> [paper|measured|diff]``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = table["columns"]
    writer.writerow(["table", *[_header(c) for c in cols]])
    for row in table["rows"]:
        writer.writerow(
            [table["number"], *["" if row.get(c["key"]) is None else row.get(c["key"]) for c in cols]]
        )
    return buf.getvalue()


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "µ": r"$\mu$",
    "–": "--",
    "*": r"$^*$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def render_latex(table: dict) -> str:
    """A booktabs table: metrics grouped under one header with paper / measured / diff below."""
    cols = [c for c in table["columns"] if c["key"] not in ("note",)]
    groups: list[tuple[str, int]] = []  # (top header, span)
    for c in cols:
        top = (
            c["label"]
            if c["source"] in ("paper", "measured", "diff") and c["key"].rsplit("_", 1)[0] in METRICS
            else ""
        )
        if groups and top and groups[-1][0] == top:
            groups[-1] = (top, groups[-1][1] + 1)
        else:
            groups.append((top, 1))
    align = "".join(
        "r" if c["source"] in ("measured", "diff") or c["key"].endswith("_paper") else "l" for c in cols
    )
    top_cells, rules, start = [], [], 1
    for label, span in groups:
        if label:
            top_cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
        else:
            top_cells.extend([""] * span)
        start += span
    second = [
        c["source"] if c["key"].rsplit("_", 1)[0] in METRICS else latex_escape(_header(c)) for c in cols
    ]
    lines = [
        r"% Generated by eapbench (run_bench.py report); needs \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{Table {table['number']}: {latex_escape(table['title'])}. "
        r"Columns: \emph{paper} = printed in the paper, \emph{measured} = this suite, \emph{diff} = measured $-$ paper.}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(top_cells) + r" \\",
        " ".join(rules),
        " & ".join(second) + r" \\",
        r"\midrule",
    ]
    for row in table["rows"]:
        lines.append(" & ".join(latex_escape(_cell(c, row.get(c["key"]))) for c in cols) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    notes = [latex_escape(n) for n in table["notes"]] + [
        latex_escape(f"{r['row']}: {r['note']}") for r in table["rows"] if r.get("note")
    ]
    if notes:
        lines += ["% Notes:", *[f"% {n}" for n in notes]]
    return "\n".join(lines) + "\n"


# -- the whole report ------------------------------------------------------------------------------


def summary_rows(meas: Measurements) -> list[dict]:
    """One row per measured model (everything in the store), for the terminal and the index page."""
    rows = []
    for model in meas.models():
        m = meas.measured_metrics(model)
        rows.append(
            {
                "model": model,
                "gmaccs": m.get("gmaccs"),
                "params_k": m.get("params_k"),
                "runtime_s": m.get("runtime_s"),
                "runtime_setting": m.get("runtime_setting"),
                "psnr_db": m.get("psnr_db"),
                "psnr_mu_db": m.get("psnr_mu_db"),
                "eval_data": m.get("eval_data"),
            }
        )
    return rows


def format_summary(rows: list[dict]) -> str:
    from bench.core.tables import format_table

    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    body = [
        [
            r["model"],
            f(r["gmaccs"], ".2f"),
            f(r["params_k"], ".2f"),
            f(r["runtime_s"], ".4f"),
            f(r["psnr_db"], ".3f"),
            f(r["psnr_mu_db"], ".3f"),
        ]
        for r in rows
    ]
    return format_table(
        ["model", "GMAccs", "params (k)", "runtime (s)", "PSNR", "PSNR-mu"], body, align="lrrrrr"
    )


def _environment_lines(store_rows: list[dict]) -> list[str]:
    envs = {}
    for r in store_rows:
        env = r.get("environment") or {}
        key = (
            env.get("suite_version"),
            env.get("git_revision"),
            env.get("torch_version"),
            env.get("gpu_name"),
        )
        envs[key] = env
    lines = []
    for env in envs.values():
        rev = env.get("git_revision") or "no commit"
        dirty = " (uncommitted changes)" if env.get("git_dirty") else ""
        lines.append(
            f"- eapbench {env.get('suite_version')}, git {rev[:12]}{dirty}, torch {env.get('torch_version')}, "
            f"CUDA {env.get('cuda_version') or 'none'}, GPU {env.get('gpu_name') or 'none'}, "
            f"Python {env.get('python')}, {env.get('platform')}"
        )
    return lines


def render_index(
    tables: list[dict],
    files: dict[str, list[str]],
    plots: list[str],
    summary: list[dict],
    store_rows: list[dict],
    db_path: str | None,
) -> str:
    lines = [
        "# eapbench report",
        "",
        "The EAPNet paper's tables beside this suite's measurements. Every number is labelled *paper* "
        "(printed in the paper) or *measured* (by this suite, from the results store"
        + (f" `{display_path(db_path)}`" if db_path else "")
        + "); *diff* is measured - paper.",
        "",
    ]
    lines += ["## Tables", ""]
    for t in tables:
        links = ", ".join(f"[{Path(p).suffix.lstrip('.')}]({Path(p).name})" for p in files[t["number"]])
        n_measured = sum(
            any(r.get(f"{m}_measured") is not None for m in TABLES[t["number"]].metrics) for r in t["rows"]
        )
        lines.append(
            f"- Table {t['number']}: {t['title']} ({n_measured}/{len(t['rows'])} rows measured): {links}"
        )
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            if p.endswith(".png"):
                svg = Path(p).with_suffix(".svg").name
                lines += [f"![{Path(p).stem}]({Path(p).name}) ([svg]({svg}))", ""]
    lines += ["", "## Measured models", "", "```", format_summary(summary), "```", ""]
    settings = sorted({r["runtime_setting"] for r in summary if r.get("runtime_setting")})
    if settings:
        lines += ["Runtimes measured on: " + "; ".join(settings) + ".", ""]
    env_lines = _environment_lines(store_rows)
    if env_lines:
        lines += ["## Environment", "", *env_lines, ""]
    return "\n".join(lines)


def write_report(
    store_rows: list[dict],
    out_dir: str | os.PathLike = REPORTS_DIR,
    plots: bool = True,
    db_path: str | None = None,
) -> dict[str, Any]:
    """Render every table (md, csv, tex), the plots and ``index.md`` into ``out_dir``.

    Returns ``{"index": path, "tables": {n: [paths]}, "plots": [paths], "summary": rows, "json": path}``.
    """
    out = Path(out_dir)
    meas = Measurements(store_rows)
    tables = build_tables(meas)
    files: dict[str, list[str]] = {}
    for t in tables:
        stem = out / f"table{t['number']}"
        files[t["number"]] = [
            str(atomic_write_text(stem.with_suffix(".md"), render_markdown(t))),
            str(atomic_write_text(stem.with_suffix(".csv"), render_csv(t))),
            str(atomic_write_text(stem.with_suffix(".tex"), render_latex(t))),
        ]
    plot_paths: list[str] = []
    if plots:
        from bench.report.plots import render_plots

        plot_paths = [str(p) for p in render_plots(meas, out)]
    summary = summary_rows(meas)
    index = atomic_write_text(
        out / "index.md", render_index(tables, files, plot_paths, summary, store_rows, db_path)
    )
    json_path = write_json(out / "report.json", {"tables": tables, "summary": summary})
    return {
        "index": str(index),
        "tables": files,
        "plots": plot_paths,
        "summary": summary,
        "json": str(json_path),
    }
