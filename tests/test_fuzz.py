"""A fuzz of hostile inputs across all commands: each is one error line, exit 2, and damages nothing.

Every case runs the CLI in-process on tiny data made once; before and after it, every file of the
test's world (data, weights, databases, plugin files) is hashed, so a case that rewrites or deletes
a pre-existing file fails even when its exit code is right.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main as cli
from bench.results.store import ResultsStore
from bench.train.checkpoint import save_weights
from models.registry import create_model

MODEL = "eapnet-lightweight"
REF = "ref-frame"  # parameter-free: eval cases need no weights

MODULE = "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 3, 1)\n\n"
VARIANT_FILES = {
    "shape.py": MODULE + "    def forward(self, ldrs, ev):\n        return ldrs[:, 1, :, ::2]\n",
    "tuple.py": MODULE + "    def forward(self, ldrs, ev):\n        return ldrs[:, 1], ev\n",
    "onearg.py": MODULE + "    def forward(self, x):\n        return x\n",
    "raises.py": MODULE + "    def forward(self, ldrs, ev):\n        raise ValueError('no')\n",
    "nan.py": MODULE + "    def forward(self, ldrs, ev):\n        return ldrs[:, 1] * float('nan')\n",
    "notmodule.py": "def Net():\n    return 42\n",
    "exits.py": "import sys\nsys.exit(0)\n",
    "syntax.py": "def broken(:\n",
    "importerror.py": "import no_such_module_here\n",
    "raisesatimport.py": "raise RuntimeError('plugin exploded')\n",
}


def files_of(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    w = tmp_path_factory.mktemp("fuzz")
    data = w / "data"
    make_synthetic(data, 2, size=(64, 48), seed=7)
    (w / "empty").mkdir()
    (w / "afile").write_text("not a folder\n")
    (w / "split_bad.txt").write_text("0000\nabc\n")
    (w / "split_empty.txt").write_text("# nothing\n")
    weights = w / "weights"
    weights.mkdir()
    (weights / "empty.safetensors").write_bytes(b"")
    (weights / "garbage.safetensors").write_bytes(b"\xff" * 64)
    save_weights(weights / "good.safetensors", create_model(MODEL), MODEL)
    good = (weights / "good.safetensors").read_bytes()
    (weights / "truncated.safetensors").write_bytes(good[: len(good) // 2])
    save_weights(weights / "standard.safetensors", create_model("eapnet-standard"), "unnamed")
    (weights / "list.json").write_text("[1, 2]")
    (weights / "notjson.json").write_text("{oops")
    side = {"format": "eapbench-checkpoint-1", "model": MODEL, "iteration": 1, "optimizer": "o.pt"}
    (weights / "outside.json").write_text(json.dumps({**side, "weights": "../data/0000_gt.png"}))
    (weights / "badtype.json").write_text(
        json.dumps({**side, "weights": "good.safetensors", "iteration": "x"})
    )
    for name, text in VARIANT_FILES.items():
        (w / name).write_text(text)
    (w / "garbage.sqlite").write_bytes(b"this is not sqlite" * 10)
    with ResultsStore(w / "results.sqlite") as store:
        store.add("eval", {"model": REF, "psnr": 30.0}, settings={"x": 1})
    (w / "empty.sqlite").touch()
    # Broken copies of the data set, one defect each.
    defects = {
        "corrupt_png": ("0000_short.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
        "truncated_png": ("0000_medium.png", (data / "0000_medium.png").read_bytes()[:100]),
        "empty_gt": ("0000_gt.png", b""),
    }
    arrays = {
        "complex_ratio": ("0000_alignratio.npy", np.complex128(1 + 1j)),
        "complex_exposures": ("0000_exposures.npy", np.array([0, 1j, 2])),
        "negative_ratio": ("0000_alignratio.npy", np.float64(-3.0)),
        "exposures_shape": ("0000_exposures.npy", np.zeros((2, 2))),
        "exposures_order": ("0000_exposures.npy", np.array([2.0, 0.0, -2.0])),
        "exposures_nan": ("0000_exposures.npy", np.array([np.nan, 0.0, 2.0])),
        "string_ratio": ("0000_alignratio.npy", np.array("ten")),
    }
    for name in [*defects, *arrays, "garbage_npy", "symlink_loop"]:
        copy = w / name
        copy.mkdir()
        for p in data.iterdir():
            (copy / p.name).write_bytes(p.read_bytes())
        if name in defects:
            (copy / defects[name][0]).write_bytes(defects[name][1])
        elif name in arrays:
            np.save(copy / arrays[name][0], arrays[name][1])
        elif name == "garbage_npy":
            (copy / "0001_exposures.npy").write_bytes(b"\x93NUMPY garbage")
        else:
            (copy / "0000_long.png").unlink()
            (copy / "0000_long.png").symlink_to(copy / "0000_long.png")
    return w


def ev(data: str, *more: str) -> list[str]:
    return ["eval", "--models", REF, "--data", data, "--device", "cpu", "--no-store", *more]


def tr(*more: str) -> list[str]:
    base = [
        "train",
        "--model",
        MODEL,
        "--data",
        "W/data",
        "--out",
        "W/runs/new",
        "--device",
        "cpu",
        "--no-store",
    ]
    return [*base, "--iters", "1", "--batch", "1", "--patch", "32", "--stride", "16", "--workers", "0", *more]


def wt(weights: str) -> list[str]:
    return ["eval", "--models", MODEL, "--weights", f"W/weights/{weights}", "--data", "W/data", "--no-store"]


def var(spec: str, cmd: str = "eval") -> list[str]:
    if cmd == "train":
        return [
            "train",
            "--model",
            spec,
            "--data",
            "W/data",
            "--out",
            "W/runs/v",
            "--iters",
            "1",
            "--no-store",
        ]
    return [
        "eval",
        "--variant",
        spec,
        "--weights",
        "W/weights/good.safetensors",
        "--data",
        "W/data",
        "--no-store",
    ]


CASES: dict[str, list[str]] = {
    # sizes
    "time huge size": ["time", "--models", MODEL, "--size", "100000x100000", "--device", "cpu"],
    "time zero size": ["time", "--models", MODEL, "--size", "0x64", "--device", "cpu"],
    "time size text": ["time", "--models", MODEL, "--size", "big", "--device", "cpu"],
    "profile huge size": ["profile", "--models", MODEL, "--size", "99999x99999"],
    "profile negative size": ["profile", "--models", MODEL, "--size", "-5x5"],
    "compare huge size": ["compare", "--variant", MODEL, "--size", "20000x20000", "--no-store"],
    "all huge time size": ["all", "--time-size", "100000x100000", "--no-plots", "--out", "W/out"],
    # ids and splits
    "eval huge id range": ev("W/data", "--ids", "0-9999999"),
    "eval backwards ids": ev("W/data", "--ids", "5-1"),
    "eval ids text": ev("W/data", "--ids", "first"),
    "eval ids only commas": ev("W/data", "--ids", ",,"),
    "eval absent id": ev("W/data", "--ids", "0042"),
    "eval ids and split": ev("W/data", "--ids", "0", "--split", "W/split_bad.txt"),
    "eval split missing": ev("W/data", "--split", "W/nosplit.txt"),
    "eval split bad line": ev("W/data", "--split", "W/split_bad.txt"),
    "eval split empty": ev("W/data", "--split", "W/split_empty.txt"),
    "train huge id range": tr("--ids", "0-9999999"),
    "train val ids bad": tr("--val-data", "W/data", "--val-ids", "x-y"),
    # paths
    "eval data missing": ev("W/missing"),
    "eval data is a file": ev("W/afile"),
    "eval data empty folder": ev("W/empty"),
    "eval json is a folder": ev("W/data", "--json", "W/empty"),
    "eval csv under a file": ev("W/data", "--csv", "W/afile/x.csv"),
    "eval predictions under a file": ev("W/data", "--save-predictions", "W/afile/preds"),
    "train out under a file": ["train", "--model", MODEL, "--data", "W/data", "--out", "W/afile/run"],
    "train data missing": ["train", "--model", MODEL, "--data", "W/missing", "--out", "W/runs/m"],
    "train resume nothing": ["train", "--model", MODEL, "--data", "W/data", "--out", "W/empty", "--resume"],
    "profile json is a folder": ["profile", "--models", MODEL, "--size", "64x64", "--json", "W/empty"],
    "results db missing": ["results", "--db", "W/nothing.sqlite"],
    "results db is a folder": ["results", "--db", "W/empty"],
    "results db garbage": ["results", "--db", "W/garbage.sqlite"],
    "results db empty file": ["results", "--db", "W/empty.sqlite"],
    "results unknown id": ["results", "--db", "W/results.sqlite", "--show", "999"],
    "results show text": ["results", "--db", "W/results.sqlite", "--show", "one"],
    "results csv is a folder": ["results", "--db", "W/results.sqlite", "--csv", "W/empty"],
    "eval db garbage": ["eval", "--models", REF, "--data", "W/data", "--db", "W/garbage.sqlite"],
    # devices
    "eval absent gpu": ev("W/data")[:-3] + ["--device", "cuda:7", "--no-store"],
    "eval device word": ev("W/data")[:-3] + ["--device", "tpu", "--no-store"],
    "train device word": tr()[:8] + ["--device", "gpu0", "--no-store"],
    "time absent gpu": ["time", "--models", MODEL, "--device", "cuda:99", "--size", "64x64"],
    # model names
    "eval unknown model": ["eval", "--models", "nosuch", "--data", "W/data", "--no-store"],
    "eval wildcard matching nothing": ["eval", "--models", "zz*", "--data", "W/data", "--no-store"],
    "train unknown model": ["train", "--model", "eapnet-huge", "--data", "W/data", "--out", "W/runs/u"],
    "train reference model": tr()[:2] + [REF] + tr()[3:],
    "time unknown model": ["time", "--models", "nosuch", "--size", "64x64", "--device", "cpu"],
    "profile unknown model": ["profile", "--models", "nosuch"],
    "compare unknown variant": ["compare", "--variant", "nosuch", "--no-store"],
    "eval two models one weights": [
        "eval",
        "--models",
        "eapnet-exp1,eapnet-exp2",
        "--weights",
        "W/weights/good.safetensors",
        "--data",
        "W/data",
        "--no-store",
    ],
    # weights
    "weights empty file": wt("empty.safetensors"),
    "weights garbage": wt("garbage.safetensors"),
    "weights truncated": wt("truncated.safetensors"),
    "weights wrong shapes": wt("standard.safetensors"),
    "weights missing": wt("absent.safetensors"),
    "weights sidecar is a list": wt("list.json"),
    "weights sidecar not json": wt("notjson.json"),
    "weights sidecar points outside": wt("outside.json"),
    "weights sidecar wrong type": wt("badtype.json"),
    "weights empty folder": [
        "eval",
        "--models",
        MODEL,
        "--weights",
        "W/empty",
        "--data",
        "W/data",
        "--no-store",
    ],
    # broken data sets
    **{
        f"eval data {name}": ev(f"W/{name}")
        for name in (
            "corrupt_png",
            "truncated_png",
            "empty_gt",
            "complex_ratio",
            "complex_exposures",
            "negative_ratio",
            "exposures_shape",
            "exposures_order",
            "exposures_nan",
            "string_ratio",
            "garbage_npy",
            "symlink_loop",
        )
    },
    "train data complex ratio": tr()[:4] + ["W/complex_ratio"] + tr()[5:],
    "train val data corrupt": tr("--val-data", "W/corrupt_png"),
    # plugins and variants
    "plugin missing": ["--plugin", "W/nope.py", "list"],
    "plugin syntax error": ["--plugin", "W/syntax.py", "list"],
    "plugin import error": ["--plugin", "W/importerror.py", "list"],
    "plugin raises": ["--plugin", "W/raisesatimport.py", "list"],
    "plugin exits": ["--plugin", "W/exits.py", "list"],
    "variant exits": var("W/exits.py:Net"),
    "variant no such factory": var("W/shape.py:Other"),
    "variant wrong shape": var("W/shape.py:Net"),
    "variant tuple output": var("W/tuple.py:Net"),
    "variant forward(x)": var("W/onearg.py:Net"),
    "variant forward raises": var("W/raises.py:Net"),
    "variant non-finite": var("W/nan.py:Net"),
    "variant not a module": var("W/notmodule.py:Net"),
    "variant missing file": var("W/absent.py:Net"),
    "train variant wrong shape": var("W/shape.py:Net", "train"),
    "train variant forward raises": var("W/raises.py:Net", "train"),
    "compare variant tuple": ["compare", "--variant", "W/tuple.py:Net", "--no-store"],
    # option values out of range
    "eval workers negative": ev("W/data", "--workers", "-1"),
    "eval tile zero": ev("W/data", "--tile", "0"),
    "eval overlap without tile": ev("W/data", "--overlap", "-3"),
    "eval unknown metric": ev("W/data", "--metrics", "ssim9"),
    "eval layout unknown": ev("W/data", "--layout", "tiff"),
    "eval models and variant": ["eval", "--models", REF, "--variant", REF, "--data", "W/data"],
    "train lr decay nan": tr("--lr-decay", "nan"),
    "train lr negative": tr("--lr", "-1"),
    "train lr inf": tr("--lr", "inf"),
    "train iters zero": tr()[:-8] + ["--iters", "0"],
    "train ema decay one": tr("--ema-decay", "1.5"),
    "train batch text": tr()[:-6] + ["--batch", "many"],
    "train patch above images": tr()[:-4] + ["--patch", "1000"],
    "train val every without data": tr("--val-every", "5"),
    "train val data missing": tr("--val-data", "W/missing"),
    "train loss unknown": tr("--loss", "l7"),
    "unknown command": ["frobnicate"],
    "unknown option": ["eval", "--frobnicate"],
}


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_hostile_input_is_one_line_exit_2_and_damages_nothing(world, argv, capsys):
    before = files_of(world)
    args = [a.replace("W/", f"{world}/") for a in argv]
    try:
        code = cli(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    # One message: detail lines of a data-set report are indented under it.
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(" ")]
    assert len(lines) == 1 and "error" in lines[0], err
    assert files_of(world) == before


def test_the_fuzz_is_large_enough():
    assert len(CASES) >= 60
