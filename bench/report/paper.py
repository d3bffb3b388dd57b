"""The EAPNet paper's Tables 1-6 (``bench/report/paper_tables.csv``) and which of our models each row is.

Every number here is the *paper's*; reports put them beside what this suite measures and never
mix the two. The CSV holds the numbers as printed (GMAccs, k parameters); loaded rows hold them in
record units under the record field names (``maccs``, ``params``, ``median_s``, ``psnr``,
``psnr_mu``, see :mod:`bench.report.quantities`). A row is linked to a registered model by :data:`ROW_MODELS`; rows with no model
(other teams' challenge entries) can only be shown as paper-only.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

from bench.core import PAPER_TABLES_CSV, UsageError
from bench.report.quantities import QUANTITIES

PAPER_CSV = PAPER_TABLES_CSV

# The quantities the paper's tables print, by record field, and how the report labels them.
METRICS: dict[str, str] = {name: q.label for name, q in QUANTITIES.items()}


@dataclass(frozen=True)
class TableSpec:
    number: str
    title: str
    metrics: tuple[str, ...]  # keys of METRICS, in the paper's column order
    descriptors: tuple[str, ...] = ()  # non-numeric CSV columns the paper prints (design flags, loss)
    caption: str = ""
    data: str = ""  # what the paper measured accuracy on
    notes: tuple[str, ...] = field(default_factory=tuple)


_LOCAL = "the authors' own validation split of the NTIRE 2022 training data (not public)"
_ONLINE = "the NTIRE 2022 online test set (ground truth never public)"

TABLES: dict[str, TableSpec] = {
    "1": TableSpec(
        "1",
        "Ablation of network modules (mu-law L1 loss)",
        ("psnr", "psnr_mu", "maccs"),
        ("ms_encoder", "block", "share_weights", "align", "conv_up"),
        "Exp. 6 is the lightweight model (Track 2), exp. 8 the standard model (Track 1).",
        _LOCAL,
    ),
    "2": TableSpec(
        "2",
        "Number of PDUBs (lightweight model, mu-law L1 loss)",
        ("psnr", "psnr_mu", "maccs"),
        ("pdubs",),
        "",
        _LOCAL,
    ),
    "3": TableSpec(
        "3",
        "Losses (lightweight model)",
        ("psnr", "psnr_mu"),
        ("loss",),
        "Rows marked half use attention and alignment at half resolution.",
        _LOCAL,
    ),
    "4": TableSpec(
        "4",
        "NTIRE 2022 HDR Track 1 (fidelity), top 5",
        ("psnr", "psnr_mu", "median_s", "maccs", "params"),
        (),
        "Runtimes were self-reported by each team on its own GPU.",
        _ONLINE,
    ),
    "5": TableSpec(
        "5",
        "NTIRE 2022 HDR Track 2 (low complexity), top 5 and baseline",
        ("psnr", "psnr_mu", "median_s", "maccs", "params"),
        (),
        "Runtimes were self-reported by each team on its own GPU.",
        _ONLINE,
    ),
    "6": TableSpec(
        "6",
        "Comparison with the state of the art",
        ("psnr", "psnr_mu", "maccs"),
        (),
        "AHDR (organizers) is the NTIRE 2022 baseline; AHDR* was retrained by the EAPNet authors "
        "in a configuration the paper does not describe.",
        _LOCAL,
        (
            "ADNet MAccs: the NTIRE tool (torchinfo 1.6) sees the weights of our DeformConv2d layers; "
            "the original ADNet code keeps them where torchinfo 1.6 does not look. Without them our "
            "count is 6249.43 G, the paper's figure (models/ARCHITECTURE-baselines.md).",
        ),
    ),
}

# (table, row) -> registered model name. Rows absent here are other teams' entries or
# configurations the paper does not describe (AHDR*): paper-only.
ROW_MODELS: dict[tuple[str, str], str] = {
    **{("1", f"exp{i}"): f"eapnet-exp{i}" for i in range(1, 9)},
    **{("2", f"pdub{i}"): f"eapnet-lightweight-pdub{i}" for i in range(2, 6)},
    ("4", "EAPNet-standard"): "eapnet-standard",
    ("5", "EAPNet-lightweight"): "eapnet-lightweight",
    ("5", "AHDR-baseline"): "ahdr",
    ("6", "AHDR-organizers"): "ahdr",
    ("6", "ADNet"): "adnet",
    ("6", "EAPNet-lightweight"): "eapnet-lightweight",
    ("6", "EAPNet-standard"): "eapnet-standard",
}

# Table 3 rows are *trained runs*: a model trained with a loss. The half-resolution rows are the
# lightweight model with attention and alignment at half resolution, i.e. exp. 7. Losses are
# written as bench/losses.py names them (see normalize_loss).
TABLE3_RUNS: dict[str, tuple[str, str]] = {
    "l1": ("eapnet-lightweight", "l1"),
    "tan_l1": ("eapnet-lightweight", "tanh"),
    "mu_l1": ("eapnet-lightweight", "mu"),
    "tan_mu_l1": ("eapnet-lightweight", "mu+tanh"),
    "mu_l1_half": ("eapnet-exp7", "mu"),
    "tan_mu_l1_half": ("eapnet-exp7", "mu+tanh"),
}

# Protocol section 3: the paper's AHDR parameter count is a digit transposition.
AHDR_PARAMS_NOTE = (
    "The paper prints 1141.28 k parameters for AHDR; no AHDR configuration with 2916.92 GMAccs has that "
    "many. Read it as a digit transposition of 1441.28 k, which the original AHDRNet has "
    "(protocol section 3)."
)
AHDR_PARAMS_CORRECTED = 1_441_280


def normalize_loss(name: str | None) -> str:
    """Canonical loss name: the set of its terms, so the paper's 'Tan L1 + mu-law L1', the trainer's
    'mu_tanh' and 'tan_mu_l1' all read 'mu+tanh'; a plain L1 on the HDR values is 'l1'."""
    text = (name or "").lower().replace("µ", "mu")
    terms = set()
    for token in re.split(r"[^a-z0-9]+", text):
        if token in ("tan", "tanh"):
            terms.add("tanh")
        elif token in ("mu", "mulaw"):
            terms.add("mu")
    return "+".join(sorted(terms)) if terms else ("l1" if "l1" in text else text.strip())


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[dict, ...]:
    try:
        with open(path, newline="") as fh:
            raw = list(csv.DictReader(fh))
    except OSError as exc:
        raise UsageError(f"paper table file {path}: cannot read ({exc.strerror or exc})") from exc
    rows = []
    for n, r in enumerate(raw, 2):
        if r.get("table") not in TABLES or not r.get("row"):
            raise UsageError(f"paper table file {path}, line {n}: no known table/row ({r.get('table')!r})")
        row: dict = {k: (v or "").strip() for k, v in r.items()}
        for name, q in QUANTITIES.items():
            text = row.pop(q.paper_column, "")
            try:
                row[name] = q.from_printed(text)
            except (ArithmeticError, ValueError):
                raise UsageError(
                    f"paper table file {path}, line {n}: {q.paper_column}={text!r} is not a number"
                ) from None
        if row["table"] == "3":
            model, loss = TABLE3_RUNS.get(row["row"], (None, None))
            row["model"] = model
            row["train_loss"] = loss
        else:
            row["model"] = ROW_MODELS.get((row["table"], row["row"]))
        rows.append(row)
    return tuple(rows)


def load_paper_rows(path: str | os.PathLike | None = None) -> list[dict]:
    """All rows of the paper's tables: CSV columns (numbers as float or None) plus ``model``."""
    return [dict(r) for r in _load(str(path or PAPER_CSV))]


def paper_table(number: str | int, path: str | os.PathLike | None = None) -> list[dict]:
    """The rows of one table, in the paper's order."""
    number = str(number)
    if number not in TABLES:
        raise UsageError(f"the paper has no table {number!r} (tables: {', '.join(TABLES)})")
    return [r for r in load_paper_rows(path) if r["table"] == number]


def row_label(row: dict) -> str:
    """How the paper names a row (Exp. 6, 3 PDUBs, the team name...)."""
    t, r = row["table"], row["row"]
    if t == "1":
        return f"Exp. {r.removeprefix('exp')}"
    if t == "2":
        return f"{r.removeprefix('pdub')} PDUBs"
    if t == "3":
        return row["loss"] + (" + half*" if r.endswith("_half") else "")
    return r


# Short names of the two data sets the paper's accuracy comes from (legends, plot titles).
DATA_SET_NAMES = {_LOCAL: "authors' validation split", _ONLINE: "NTIRE 2022 online test set"}
# Tables 4 and 5 are the two challenge tracks; some teams entered both, so their rows need the track.
TRACKS = {"4": "T1", "5": "T2"}


def paper_points(metric: str) -> list[dict]:
    """Points (``maccs``, ``metric``, record units) over all tables that print both, for the plots.

    Each point carries ``data``, the data set its table measured accuracy on (Tables 1, 2, 6: the
    authors' validation split; Tables 4, 5: the online test set), so a plot can keep the two apart.
    Rows of one data set with the same numbers (Exp. 6 = 3 PDUBs = EAPNet-lightweight in Table 6;
    AdeTeam in both tracks) are one point, named by the most descriptive row: a team or model name
    over an ablation label. ``ablation`` is true when only Table 1/2 rows stand behind the point.
    """
    merged: dict[tuple, dict] = {}
    for row in load_paper_rows():
        if row["maccs"] is None or row.get(metric) is None:
            continue
        data = TABLES[row["table"]].data
        key = (data, row["maccs"], row[metric])
        point = merged.setdefault(
            key,
            {
                "data": data,
                "maccs": row["maccs"],
                "value": row[metric],
                "tables": [],
                "names": {},
                "model": row.get("model"),
            },
        )
        point["tables"].append(row["table"])
        ablation = row["table"] in ("1", "2")
        name = row_label(row) if ablation else row["row"]
        point["names"].setdefault((ablation, name), []).extend(
            [TRACKS[row["table"]]] if row["table"] in TRACKS else []
        )
    points = []
    for p in merged.values():
        names = p.pop("names")
        named = [(n, tracks) for (abl, n), tracks in names.items() if not abl]
        p["ablation"] = not named
        shown = named or [(n, tracks) for (_, n), tracks in names.items()][:1]
        p["label"] = " / ".join(n + (f" ({', '.join(tracks)})" if tracks else "") for n, tracks in shown)
        points.append(p)
    return points
