"""Each root cause of a bad input that used to end in a traceback, a wrong exit code or damaged data."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bench.cli import main as cli
from bench.core import UsageError, parse_ids, parse_size, write_json
from bench.core.io import TEMP_NAME, remove_stale_temp_files
from bench.data import dataset_fingerprint
from bench.results.store import ResultsStore
from bench.train import TrainConfig, train

MODEL = "eapnet-lightweight"
TINY = dict(batch=2, patch=32, stride=16, workers=0, warmup=0, log_every=1, save_every=100, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("bad_inputs_data")
    make_synthetic(root, 2, size=(64, 48), seed=5)
    return root


def copy_data(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line and not line.startswith(" ")]
    assert len(lines) == 1, err
    return lines[0]


def eval_args(data: Path, *more: str) -> list[str]:
    return ["eval", "--models", "ref-frame", "--data", str(data), "--device", "cpu", "--no-store", *more]


@pytest.mark.parametrize("member", ["0000_alignratio.npy", "0000_exposures.npy"])
def test_complex_arrays_are_refused(data, tmp_path, capsys, member):
    bad = copy_data(data, tmp_path / "bad")
    shape = () if "alignratio" in member else (3,)
    np.save(bad / member, np.full(shape, 1 + 2j))
    assert cli(eval_args(bad)) == 2
    assert member in capsys.readouterr().err


def test_symlink_loop_and_unreadable_folder_while_fingerprinting(data, tmp_path, capsys, monkeypatch):
    bad = copy_data(data, tmp_path / "loop")
    (bad / "0000_short.png").unlink()
    (bad / "0000_short.png").symlink_to(bad / "0000_short.png")  # a link to itself: ELOOP on stat
    assert len(dataset_fingerprint(bad)) == 64  # no traceback before the scan
    assert cli(eval_args(bad)) == 2
    assert "0000_short.png" in capsys.readouterr().err
    real_listdir = os.listdir

    def no_permission(path="."):
        if Path(path) == bad:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", no_permission)
    assert cli(eval_args(bad)) == 2
    assert "cannot list it (Permission denied)" in error_line(capsys)


VARIANTS = {
    "wrong_shape": "return ldrs[:, 1, :, ::2]",
    "tuple_output": "return (ldrs[:, 1], ldrs[:, 1])",
    "raises": "raise RuntimeError('boom')",
}


@pytest.mark.parametrize("kind", [*VARIANTS, "one_argument"])
def test_eval_and_train_check_the_model_contract_first(data, tmp_path, capsys, kind):
    body = VARIANTS.get(kind, "return x")
    signature = "x" if kind == "one_argument" else "ldrs, ev"
    file = tmp_path / "variant.py"
    file.write_text(
        "from torch import nn\n\n\nclass Broken(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 3, 1)\n\n"
        f"    def forward(self, {signature}):\n        {body}\n"
    )
    spec = f"{file}:Broken"
    assert cli(["eval", "--variant", spec, "--weights", str(file), "--data", str(data), "--no-store"]) == 2
    first = error_line(capsys)
    assert "broken" in first and ("forward" in first or "shape" in first), first
    out = tmp_path / "run"
    args = ["train", "--model", spec, "--data", str(data), "--out", str(out), "--iters", "1", "--no-store"]
    assert cli([*args, "--batch", "1", "--patch", "32", "--stride", "16", "--workers", "0"]) == 2
    assert "broken" in error_line(capsys)
    assert not (out / "checkpoints").exists()


def test_val_data_is_checked_before_the_first_iteration(data, tmp_path):
    with pytest.raises(UsageError, match="nowhere"):
        train(
            TrainConfig(
                model=MODEL,
                data=str(data),
                out=str(tmp_path / "r"),
                iters=3,
                val_data=str(tmp_path / "nowhere"),
                **TINY,
            )
        )
    assert not (tmp_path / "r" / "log.csv").exists()


@pytest.fixture(scope="module")
def finished_run(data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "run"
    train(TrainConfig(model=MODEL, data=str(data), out=str(run), iters=1, **TINY))
    return run


def edited_run(finished_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for p in finished_run.rglob("*"):
        if p.is_file():
            (run / p.relative_to(finished_run)).write_bytes(p.read_bytes())
    return run


@pytest.mark.parametrize(
    "file, edit, words",
    [
        ("checkpoints/last.json", {"iteration": "1"}, "'iteration' must be a whole number"),
        ("checkpoints/last.json", {"seconds": "slow"}, "'seconds' must be a number"),
        ("checkpoints/last.json", {"weights": "../../outside.safetensors"}, "is not beside it"),
        ("checkpoints/last.json", {"optimizer": "/etc/passwd"}, "is not beside it"),
        ("checkpoints/last.json", {"model": ["x"]}, "'model' must be a string"),
        ("config.json", {"flips": "yes"}, "--flips must be true or false"),
        ("config.json", {"ids": 7}, "--ids must be a list"),
        ("config.json", {"lr": "0.001"}, "--lr must be a finite number"),
        ("config.json", {"seed": 1.5}, "--seed must be an integer"),
        ("log.csv", "iteration,loss\nabc,1\n", "iteration 'abc' is not a number"),
    ],
)
def test_resume_validates_the_run_folder(data, finished_run, tmp_path, capsys, file, edit, words):
    run = edited_run(finished_run, tmp_path)
    target = run / file
    if isinstance(edit, dict):
        target.write_text(json.dumps({**json.loads(target.read_text()), **edit}))
    else:
        target.write_text(edit)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    args = ["train", "--model", MODEL, "--data", str(data), "--out", str(run), "--resume", "--iters", "2"]
    assert cli([*args, "--no-store"]) == 2
    assert words in error_line(capsys)
    assert before == {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_ctrl_c_lands_at_a_step_boundary_and_resume_stays_bit_for_bit(data, tmp_path, monkeypatch):
    kw = dict(TINY, iters=5, ema_every=1, lr=1e-3)
    train(TrainConfig(model=MODEL, data=str(data), out=str(tmp_path / "a"), **kw))
    real_step = torch.optim.Adam.step
    calls = []

    def step_then_interrupt(self, *a, **k):
        out = real_step(self, *a, **k)
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C right after the update, before the loop counts it
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(model=MODEL, data=str(data), out=str(tmp_path / "b"), **kw))
    side = json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())
    assert side["iteration"] == len(calls) == 3
    monkeypatch.setattr(torch.optim.Adam, "step", real_step)
    train(TrainConfig(model=MODEL, data=str(data), out=str(tmp_path / "b"), **kw), resume=True, given=set())
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(tmp_path / "a" / name), load_file(tmp_path / "b" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_sizes_and_id_ranges_are_bounded():
    with pytest.raises(UsageError, match="at most 16384"):
        parse_size("100000x100000")
    with pytest.raises(UsageError, match="more than 100000 ids"):
        parse_ids("0-9999999")
    assert parse_size("16384x64") == (16384, 64)
    assert len(parse_ids("0-99999")) == 100_000


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, failing):
    target = tmp_path / "out.json"
    write_json(target, {"old": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, full)
    with pytest.raises(
        UsageError, match=r"out\.json: No space left on device \(the previous file is unchanged\)"
    ):
        write_json(target, {"new": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left behind


def test_sqlite_disk_full_names_the_database_and_keeps_its_rows(tmp_path):
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as store:
        first = store.add("eval", {"model": "m", "psnr": 1.0}, settings={"a": 1})
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
        with pytest.raises(UsageError, match=r"r\.sqlite: cannot write \(database or disk is full\)"):
            store.add("eval", {"model": "m", "psnr": 2.0, "blob": "x" * 200_000}, settings={"a": 2})
    with ResultsStore(db) as store:
        assert [r["id"] for r in store.query(latest_only=False)] == [first]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_results_on_an_empty_file_leaves_it_empty(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert cli(["results", "--db", str(empty)]) == 2
    assert "empty file" in error_line(capsys)
    assert empty.stat().st_size == 0


def test_stale_temp_files_of_a_killed_write_are_swept(tmp_path):
    old = tmp_path / ".result.json.ab_c12XY.tmp"  # what atomic_write_bytes names its temp files
    fresh = tmp_path / ".other.json.zz9_8765.tmp"  # a write in progress elsewhere: too young
    foreign = tmp_path / "notes.tmp"  # not ours
    for p in (old, fresh, foreign):
        p.write_text("partial")
    hour_ago = time.time() - 2 * 3600
    os.utime(old, (hour_ago, hour_ago))
    os.utime(foreign, (hour_ago, hour_ago))
    assert TEMP_NAME.match(old.name) and TEMP_NAME.match(fresh.name) and not TEMP_NAME.match(foreign.name)
    write_json(tmp_path / "result.json", {"a": 1})
    assert not old.exists() and fresh.exists() and foreign.exists()
    assert remove_stale_temp_files(tmp_path, older_than=-1) == [fresh]


def test_time_batch_and_repeat_have_upper_bounds(capsys):
    from bench.cli import main

    for extra in (["--batch", "100000"], ["--repeat", "100000000"]):
        assert main(["time", "--models", "ref-frame", "--size", "16x16", "--no-store", *extra]) == 2
        err = capsys.readouterr().err
        assert "too large" in err and err.count("\n") == 1


def test_a_non_numeric_schema_version_is_one_line(tmp_path, capsys):
    import sqlite3

    from bench.cli import main

    db = tmp_path / "r.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO meta VALUES ('schema_version', 'banana')")
    before = db.read_bytes()
    assert main(["results", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "schema version banana" in err and "Traceback" not in err
    assert db.read_bytes() == before
