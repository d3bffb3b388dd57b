"""The measuring commands (profile, time, eval, train) and the results store: store, reuse, --force, --no-store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import complexity, timing
from bench.cli import main as cli
from bench.evaluation import evaluate as ev
from bench.jobs import measure
from bench.results import ResultsStore, cached

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("wiring_data")
    make_synthetic(root, 2, size=(64, 64), seed=5)
    return root


@pytest.fixture(autouse=True)
def _no_default_db(tmp_path, monkeypatch):
    # A command run without --db must never touch the repository's reports/results.sqlite here.
    monkeypatch.setenv("EAPBENCH_DB", str(tmp_path / "default.sqlite"))


def _count_calls(monkeypatch, module, attr: str) -> list:
    """Wrap ``module.attr`` so each real call is counted (the measurement still runs)."""
    calls: list = []
    real = getattr(module, attr)

    def wrapper(*args, **kwargs):
        calls.append(args[:1])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, attr, wrapper)
    return calls


def _rows(db: Path, kind: str) -> list[dict]:
    with ResultsStore(db) as store:
        return store.query(kind)


# Per command: its arguments (tiny: 16x16 or 64x64, one timed run) and the function that measures.
COMMANDS = {
    "profile": (
        ["profile", "--models", "ref-frame,eapnet-lightweight", "--size", "64x64"],
        complexity,
        "profile",
    ),
    "time": (
        [
            "time",
            "--models",
            "ref-frame",
            "--size",
            "16x16",
            "--warmup",
            "0",
            "--repeat",
            "1",
            "--threads",
            "1",
            "--no-memory",
            "--no-roofline",
        ],
        timing,
        "time_model",
    ),
    "eval": (["eval", "--models", "ref-frame,exposure-merge", "--device", "cpu"], ev, "evaluate_module"),
}


@pytest.mark.parametrize("kind", list(COMMANDS))
def test_store_reuse_force_and_no_store(kind, data, tmp_path, monkeypatch, capsys):
    argv, module, attr = COMMANDS[kind]
    if kind == "eval":
        argv = [*argv, "--data", str(data)]
    calls = _count_calls(monkeypatch, module, attr)
    db, out = tmp_path / "r.sqlite", tmp_path / "out.json"
    run = [*argv, "--db", str(db), "--json", str(out)]
    n_models = 1 if kind == "time" else 2

    # First run: measures every model and stores it.
    assert cli(run) == 0
    first = json.loads(out.read_text())
    assert len(calls) == n_models and [r["cached"] for r in first] == [False] * n_models
    stored = _rows(db, kind)
    assert [r["model"] for r in stored] == [r["model"] for r in first]
    assert all(r["config_hash"] for r in stored)
    capsys.readouterr()

    # Second run: nothing measured, the stored records come back unchanged.
    assert cli(run) == 0
    second = json.loads(out.read_text())
    assert len(calls) == n_models, "a cached result was measured again"
    assert [r["cached"] for r in second] == [True] * n_models
    strip = [{k: v for k, v in r.items() if k != "cached"} for r in second]
    assert strip == [s["record"] for s in stored]
    assert "cached" in capsys.readouterr().out
    assert len(_rows(db, kind)) == n_models

    # --force: measured again and appended (history kept, newest row wins).
    assert cli([*run, "--force"]) == 0
    assert len(calls) == 2 * n_models
    assert [r["cached"] for r in json.loads(out.read_text())] == [False] * n_models
    rows = _rows(db, kind)
    assert len(rows) == 2 * n_models and rows[-1]["id"] > stored[-1]["id"]

    # --no-store: measured, and no database at all (neither --db nor the default).
    other = tmp_path / "other.sqlite"
    assert cli([*argv, "--db", str(other), "--no-store"]) == 0
    assert cli([*argv, "--no-store"]) == 0
    assert len(calls) == 4 * n_models
    assert not other.exists() and not (tmp_path / "default.sqlite").exists()


def test_command_changed_settings_are_measured_again(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch, timing, "time_model")
    base = [
        "time",
        "--models",
        "ref-frame",
        "--warmup",
        "0",
        "--repeat",
        "1",
        "--no-memory",
        "--no-roofline",
        "--db",
        str(tmp_path / "r.sqlite"),
    ]
    assert cli([*base, "--size", "16x16"]) == 0
    assert cli([*base, "--size", "16x24"]) == 0
    assert cli([*base, "--size", "16x16", "--repeat", "2"]) == 0
    assert len(calls) == 3 and len(_rows(tmp_path / "r.sqlite", "time")) == 3


def test_failed_results_are_never_reused(tmp_path, monkeypatch, capsys, request):
    # A backend whose output is wrong: numerics-failed, so it is neither stored nor reused.
    real = timing.BACKENDS.get("compile")
    wrong = dataclasses.replace(real, prepare=lambda m, x, o: lambda ldrs, ev: -m(ldrs, ev) - 1)
    timing.BACKENDS.add("compile", wrong, replace=True)
    request.addfinalizer(lambda: timing.BACKENDS.add("compile", real, replace=True))
    calls = _count_calls(monkeypatch, timing, "time_model")
    db = tmp_path / "r.sqlite"
    argv = [
        "time",
        "--models",
        "ref-frame",
        "--size",
        "16x16",
        "--backend",
        "compile",
        "--warmup",
        "0",
        "--repeat",
        "1",
        "--no-memory",
        "--no-roofline",
        "--db",
        str(db),
    ]
    assert cli(argv) == 1 and cli(argv) == 1
    assert len(calls) == 2 and _rows(db, "time") == []
    # A failed row already in a database (older suite, another tool) is not a cache hit either.
    with ResultsStore(db) as store:
        store.add("eval", {"model": "m", "psnr": None, "n_failed": 1}, config_hash="h", settings={"a": 1})
        record, hit = cached(
            store, "eval", "m", "h", {"a": 1}, lambda: {"model": "m", "psnr": 40.0, "n_failed": 0}
        )
        assert not hit and record["psnr"] == 40.0 and len(store.query("eval")) == 2


def test_main_job_functions_and_commands_share_entries(tmp_path, monkeypatch):
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as store:
        measure.profile(store, "ref-frame", size=(64, 64))
        measure.time(store, "ref-frame", device="cpu", size=(16, 16), warmup=0, repeat=1, threads=1)
    calls = _count_calls(monkeypatch, complexity, "profile") + _count_calls(monkeypatch, timing, "time_model")
    assert cli(["profile", "--models", "ref-frame", "--size", "64x64", "--db", str(db)]) == 0
    assert (
        cli(
            [
                "time",
                "--models",
                "ref-frame",
                "--size",
                "16x16",
                "--warmup",
                "0",
                "--repeat",
                "1",
                "--threads",
                "1",
                "--no-memory",
                "--no-roofline",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    assert calls == [] and len(_rows(db, "profile")) == 1 and len(_rows(db, "time")) == 1


def test_train_stores_its_summary(data, tmp_path):
    db = tmp_path / "r.sqlite"
    base = [
        "train",
        "--model",
        "eapnet-lightweight",
        "--data",
        str(data),
        "--iters",
        "1",
        "--batch",
        "1",
        "--patch",
        "32",
        "--stride",
        "32",
        "--workers",
        "0",
        "--device",
        "cpu",
    ]
    assert cli([*base, "--out", str(tmp_path / "run1"), "--db", str(db)]) == 0
    (row,) = _rows(db, "train")
    assert row["model"] == "eapnet-lightweight" and row["record"]["iters"] == 1
    assert row["record"]["weights"] == str(tmp_path / "run1" / "ema.safetensors")
    assert row["config_hash"] == measure.config_hash("eapnet-lightweight")
    assert row["settings"]["patch"] == 32 and row["environment"]["torch_version"]
    # Training is never skipped: the same recipe again is a second run and a second row.
    assert cli([*base, "--out", str(tmp_path / "run2"), "--db", str(db)]) == 0
    assert len(_rows(db, "train")) == 2
    assert cli([*base, "--out", str(tmp_path / "run3"), "--no-store"]) == 0
    assert not (tmp_path / "default.sqlite").exists()


@pytest.mark.parametrize("bad", ["folder", "junk"])
@pytest.mark.parametrize("kind", ["profile", "time", "eval", "train"])
def test_bad_db_exits_2_naming_the_file(kind, bad, data, tmp_path, monkeypatch, capsys):
    db = tmp_path / "results.sqlite"
    if bad == "folder":
        db.mkdir()
    else:
        db.write_bytes(b"not an SQLite database, just bytes " * 64)
    argv = {
        "profile": COMMANDS["profile"][0],
        "time": COMMANDS["time"][0],
        "eval": [*COMMANDS["eval"][0], "--data", str(data)],
        "train": [
            "train",
            "--model",
            "eapnet-lightweight",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--iters",
            "1",
        ],
    }[kind]
    # The database is checked before any work: nothing is measured or trained.
    work = {
        "profile": (complexity, "profile"),
        "time": (timing, "time_model"),
        "eval": (ev, "evaluate_module"),
    }
    calls = _count_calls(monkeypatch, *work[kind]) if kind in work else []
    assert cli([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(db) in err[0]
    assert calls == [] and not (tmp_path / "run").exists()
