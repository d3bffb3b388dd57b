"""reproduce: rows, recipe scaling, Welch's t, a killed run resuming, and one tiny table end to end via submitit."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.cli import main
from bench.core import UsageError
from bench.reproduce.job import train_run
from bench.reproduce.plan import paper_rows
from bench.reproduce.recipe import PAPER_ITERS, scaled_recipe
from bench.reproduce.stats import spread, t_two_sided_p, welch
from bench.train.config import TrainConfig


def test_rows_of_the_paper_tables():
    assert [r.model for r in paper_rows("2")] == [f"eapnet-lightweight-pdub{i}" for i in range(2, 6)]
    assert [r.row for r in paper_rows("1")] == [f"exp{i}" for i in range(1, 9)]
    table3 = {r.row: (r.model, r.loss) for r in paper_rows("3")}
    assert table3["tan_mu_l1_half"] == ("eapnet-exp7", "mu_tanh") and table3["l1"][1] == "l1"
    assert {r.model for r in paper_rows("6")} >= {"ahdr", "adnet", "eapnet-lightweight"}


def test_welch_t_matches_the_textbook_values():
    assert t_two_sided_p(12.706, 1) == pytest.approx(0.05, abs=1e-4)  # t table, df 1
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=1e-4)  # t table, df 10
    w = welch([1, 2, 3], [2, 3, 4.5])  # R: t.test(c(1,2,3), c(2,3,4.5)): t=1.2572, df=3.8059, p=0.2803
    assert (w.t, w.df, w.p) == pytest.approx((1.2572, 3.8059, 0.2803), abs=1e-4) and w.within_noise
    assert not welch([1.0, 1.1, 0.9], [5.0, 5.1, 4.9]).within_noise
    assert welch([1.0], [2.0, 3.0]) is None and spread([1.0]).std is None
    assert spread([1.0, 3.0]).std == pytest.approx(math.sqrt(2))


def test_recipe_scales_with_the_budget_and_records_every_deviation():
    recipe = scaled_recipe("2", 20_000, ["batch=8"], min_side=1060)
    assert (
        recipe.values["lr_step"] == 200 and recipe.values["warmup"] == 2 and recipe.values["ema_every"] == 10
    )
    assert recipe.values["loss"] == "mu"  # Table 2's caption: mu-law L1
    assert {d.key for d in recipe.deviations} == {"iters", "lr_step", "warmup", "ema_every", "batch"}
    assert scaled_recipe("3", PAPER_ITERS, [], 1060).deviations == ()
    small = scaled_recipe("6", 10, [], min_side=100)
    assert (small.values["patch"], small.values["stride"]) == (96, 48)
    with pytest.raises(UsageError, match="KEY=VALUE"):
        scaled_recipe("2", 10, ["bogus=1"], 1060)
    with pytest.raises(UsageError, match="not a int"):
        scaled_recipe("2", 10, ["batch=x"], 1060)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("repro")
    assert main(["make-data", "--synthetic", "2", "--size", "64x64", str(root / "train")]) == 0
    assert main(["make-data", "--synthetic", "1", "--size", "64x64", "--seed", "1", str(root / "test")]) == 0
    return root / "train", root / "test"


def test_a_killed_run_resumes_from_its_last_checkpoint(data, tmp_path):
    train_dir, _ = data
    base = dict(
        model="eapnet-lightweight-pdub2", data=str(train_dir), out=str(tmp_path / "run"), batch=1, log_every=1
    )
    train_run(TrainConfig(**base, patch=64, iters=2, save_every=1, workers=0))
    for name in ("summary.json", "ema.safetensors", "model.safetensors"):  # killed after its checkpoint
        (tmp_path / "run" / name).unlink()
    train_run(TrainConfig(**base, patch=64, iters=3, save_every=1, workers=0))
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["1", "2", "3"]  # iterations 1-2 kept, only 3 trained
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["iters"] == 3


@pytest.mark.slow
def test_table_end_to_end_through_submitit_then_resume_does_no_work(data, tmp_path, capsys):
    train_dir, test_dir = data
    runs = tmp_path / "runs"
    args = [
        "reproduce", "--table", "2", "--rows", "pdub2", "pdub3", "--seeds", "2", "--iters", "2",
        "--data", str(train_dir), "--test", str(test_dir), "--out", str(runs), "--recipe", "batch=1",
        "--workers", "0", "--executor", "local", "--runs-per-device", "2", "--json", str(tmp_path / "r.json"),
    ]  # fmt: skip
    assert main(args) == 0
    first = json.loads((tmp_path / "r.json").read_text())
    assert first["submitted"] == 4 and first["finished"] == 4 and not first["failed"]
    assert len(list((runs / "submitit").glob("*_submitted.pkl"))) == 4  # one submitit job per run
    rows = first["table"]["rows"]
    for row in rows:
        assert row["seeds_done"] == 2
        for metric in ("psnr", "psnr_mu"):
            assert row["measured"][metric]["n"] == 2 and row["measured"][metric]["std"] is not None
    assert rows[1]["steps"]["psnr"]["test"] is not None and rows[1]["steps"]["psnr"]["against"] == "pdub2"
    table = (runs / "table.md").read_text()
    assert "2 iterations per run, 2 seed(s)" in table and " ± " in table and "Welch" in table
    plan = json.loads((runs / "plan.json").read_text())
    assert {d["key"] for d in plan["recipe"]["deviations"]} >= {"iters", "batch", "patch"}
    results = sorted(runs.glob("runs/*/seed*/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]

    assert main([*args, "--resume"]) == 0
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["submitted"] == 0 and again["finished"] == 4
    assert [p.stat().st_mtime_ns for p in results] == stamps
    assert len(list((runs / "submitit").glob("*_submitted.pkl"))) == 4
    assert again["table"] == first["table"]
    capsys.readouterr()
    assert main(args) == 2  # the same RUNS without --resume
    assert main([*args, "--resume", "--seeds", "3"]) == 2  # --resume with another plan
