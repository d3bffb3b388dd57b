"""The plan of a reproduction: which rows, which seeds, one recipe, where each run lives (``RUNS/plan.json``).

Rows of a paper table are the registry's models whose ``paper_table`` is that table (one per paper
row: aliases of a row train once), in the paper's order; Table 3's rows are (model, loss) pairs
(:data:`bench.report.paper.TABLE3_RUNS`); ``field`` is every registered model of family ``field``.
A ``--variant`` is one more row under the same recipe and budget.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.core import UsageError, write_json
from bench.report.paper import ROW_MODELS, TABLE3_RUNS, paper_table, row_label
from bench.reproduce.recipe import Recipe
from bench.spec.variants import load_variant
from models.registry import list_models, load_builtin_models, model_info

PLAN_FILE = "plan.json"
PLAN_FORMAT = "eapbench-reproduce-plan-1"
TABLES = ("1", "2", "3", "6", "field")
# Trainer loss names of Table 3's normalised loss names (bench.report.paper.normalize_loss).
TRAINER_LOSS = {"l1": "l1", "tanh": "tanh", "mu": "mu", "mu+tanh": "mu_tanh"}
# The row a variant is compared with: the shipped lightweight model (Table 3: its mu-law L1 run).
REFERENCE_ROW = {"1": "exp6", "2": "pdub3", "3": "mu_l1", "6": "EAPNet-lightweight"}


@dataclass(frozen=True)
class TableRow:
    """One row to train: its id in the paper's table (or the variant's name), label, model and loss."""

    row: str
    label: str
    model: str
    loss: str | None = None  # None: the recipe's loss
    variant: bool = False


@dataclass(frozen=True)
class PlannedRun:
    """One (row, seed) training run and its full train config (``bench.train.TrainConfig`` fields)."""

    key: str
    row: str
    seed: int
    run_dir: str
    config: dict[str, Any]


@dataclass
class Plan:
    """Everything a reproduction does; ``identity()`` is what a ``--resume`` must match."""

    table: str
    rows: list[TableRow]
    seeds: int
    recipe: Recipe
    budget: dict[str, Any]
    data: dict[str, Any]
    test: dict[str, Any]
    runs: list[PlannedRun]
    launch: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    "table": self.table,
                    "rows": [asdict(r) for r in self.rows],
                    "seeds": self.seeds,
                    "recipe": self.recipe.to_json(),
                    "data": self.data,
                    "test": self.test,
                }
            )
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            **self.identity(),
            "budget": self.budget,
            "launch": self.launch,
            "estimate": self.estimate,
            "runs": [asdict(r) for r in self.runs],
        }


def paper_rows(table: str) -> list[TableRow]:
    """The trainable rows of a table, in the paper's order (see the module doc)."""
    load_builtin_models()
    if table == "field":
        names = [n for n in list_models(family="field") if model_info(n).trainable]
        if not names:
            raise UsageError("--table field: no field network (family 'field') is registered")
        return [TableRow(n, n, n) for n in names]
    if table == "3":
        rows = []
        for r in paper_table("3"):
            model, loss = TABLE3_RUNS[r["row"]]
            rows.append(TableRow(r["row"], row_label(r), model, TRAINER_LOSS[loss]))
        return rows
    by_row: dict[str, str] = {}
    for name in list_models():
        info = model_info(name)
        if info.paper_table == table and info.paper_row and info.trainable:
            by_row.setdefault(info.paper_row, name)
    rows = []
    for r in paper_table(table):
        model = ROW_MODELS.get((table, r["row"])) or by_row.get(r["row"])
        if model is not None and model_info(model).trainable:
            rows.append(TableRow(r["row"], row_label(r), model))
    return rows


def select_rows(table: str, wanted: list[str] | None, variants: list[str]) -> list[TableRow]:
    """The table's rows (all, or those ``wanted`` by row id or model name) plus one row per variant."""
    rows = paper_rows(table)
    if wanted:
        known = {r.row for r in rows} | {r.model for r in rows}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise UsageError(
                f"--rows {', '.join(unknown)}: Table {table} has rows {', '.join(r.row for r in rows)}"
            )
        rows = [r for r in rows if r.row in wanted or r.model in wanted]
    for spec in variants:
        name, _ = load_variant(spec)  # a bad variant is one line now, not in a job later
        if any(r.row == name for r in rows):
            raise UsageError(f"--variant {spec}: its name {name!r} is already a row of Table {table}")
        rows.append(TableRow(name, f"{name} (variant)", spec, variant=True))
    return rows


def write_plan(runs_dir: Path, plan: Plan) -> Path:
    return write_json(runs_dir / PLAN_FILE, plan.to_json())


def check_resume(runs_dir: Path, plan: Plan, resume: bool) -> None:
    """A new plan needs a new RUNS (or ``--resume``); ``--resume`` needs the same plan as the one stored."""
    path = runs_dir / PLAN_FILE
    if not path.exists():
        return
    if not resume:
        raise UsageError(
            f"{runs_dir} already holds a reproduction: pass --resume to continue it, or a new --out"
        )
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--resume: cannot read {path} ({exc})") from None
    if not isinstance(stored, dict) or stored.get("format") != PLAN_FORMAT:
        raise UsageError(f"--resume: {path} is not a reproduction plan ({PLAN_FORMAT})")
    now = plan.identity()
    changed = [k for k in now if stored.get(k) != now[k]]
    if changed:
        raise UsageError(
            f"--resume: {path} was planned with other {', '.join(changed)}; resume with the same options "
            "or choose a new --out"
        )
