"""The main job in --quick mode, end to end: measure, cache, report, summary."""

from __future__ import annotations

import json
from pathlib import Path

from bench.cli import main
from bench.jobs.mainjob import evaluated_models, timed_models
from bench.jobs.measure import CPU_PLAN, GPU_PLAN, timing_plan
from bench.report.paper import TABLES
from bench.results import ResultsStore

MODELS = "eapnet-exp1,eapnet-exp8,ref-frame"  # exp8 is an alias of eapnet-standard: profiled, not timed


def _run(tmp_path: Path, *extra: str) -> dict:
    # A leading option (no command) runs the main job, as `python run_bench.py --quick` does.
    rc = main(
        [
            "--quick",
            "--models",
            MODELS,
            "--device",
            "cpu",
            "--db",
            str(tmp_path / "r.sqlite"),
            "--out",
            str(tmp_path / "reports"),
            "--json",
            str(tmp_path / "all.json"),
            *extra,
        ]
    )
    assert rc == 0
    return json.loads((tmp_path / "all.json").read_text())


def test_main_job_quick_end_to_end(tmp_path, capsys):
    result = _run(tmp_path)
    out = capsys.readouterr().out
    assert result["failures"] == []
    with ResultsStore(tmp_path / "r.sqlite") as store:
        stored = {(r["kind"], r["model"]) for r in store.query()}
    assert stored == {
        ("profile", "eapnet-exp1"),
        ("profile", "eapnet-exp8"),
        ("profile", "ref-frame"),
        ("time", "eapnet-exp1"),
        ("eval", "ref-frame"),
    }
    assert result["counts"] == {"measured": len(stored), "cached": 0}
    summary = {r["model"]: r for r in result["summary"]}
    assert summary["eapnet-exp1"]["maccs"] > 100e9 and summary["eapnet-exp1"]["median_s"] > 0
    assert summary["ref-frame"]["psnr"] is not None
    # The report and the printed paths.
    reports = tmp_path / "reports"
    for n in TABLES:
        assert (reports / f"table{n}.md").is_file() and str(reports / f"table{n}.md") in out
    assert (reports / "index.md").is_file() and (reports / "psnr_mu_vs_gmaccs.svg").is_file()
    assert "eapnet-exp1" in out and "64x64" in out and "report:" in out


def test_main_job_second_run_reuses_everything(tmp_path, capsys):
    _run(tmp_path)
    again = _run(tmp_path)
    assert again["counts"]["measured"] == 0 and again["counts"]["cached"] == 5
    forced = _run(tmp_path, "--force", "--no-plots")
    assert forced["counts"] == {"measured": 5, "cached": 0}
    assert "reused" in capsys.readouterr().out


def test_main_job_bad_input(tmp_path, capsys):
    assert main(["all", "--quick", "--models", "nope-*", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert (
        main(["all", "--quick", "--data", str(tmp_path / "missing"), "--db", str(tmp_path / "r.sqlite")]) == 2
    )
    assert main(["all", "--repeat", "0", "--db", str(tmp_path / "r.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "nope-*" in err and "no such folder" in err


def test_plans_and_model_selection():
    assert timing_plan("cuda")["size"] == GPU_PLAN["size"] == (1920, 1080)
    assert timing_plan("cuda")["pad_from"] == (1900, 1060)
    assert timing_plan("cpu") == CPU_PLAN
    assert timing_plan("cpu", size=(100, 50), repeat=7) == {**CPU_PLAN, "size": (100, 50), "repeat": 7}
    timed = timed_models(["eapnet-standard", "eapnet-exp8", "eapnet-lightweight-pdub3", "ahdr", "ref-frame"])
    assert timed == ["eapnet-standard"]  # aliases share results; other families are not timed
    assert evaluated_models(["ref-frame", "exposure-merge", "ahdr"])[:2] == ["ref-frame", "exposure-merge"]


def test_one_failing_model_is_recorded_and_the_others_go_on(tmp_path, capsys, monkeypatch):
    from bench.core.errors import ModelFailure
    from bench.jobs import measure

    real_profile = measure.profile

    def profile(store, name, *args, **kwargs):
        if name == "exposure-merge":
            raise TypeError("unsupported operand\nsecond line of the traceback text")
        return real_profile(store, name, *args, **kwargs)

    monkeypatch.setattr(measure, "profile", profile)
    record, hit, failure = measure.safe(measure.profile, None, "exposure-merge")
    assert record is None and not hit and isinstance(failure, ModelFailure)
    assert failure.model == "exposure-merge" and failure.message == "TypeError: unsupported operand"
    rc = main(
        ["--quick", "--models", "ref-frame,exposure-merge", "--device", "cpu", "--no-plots"]
        + ["--db", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "reports")]
        + ["--json", str(tmp_path / "all.json")]
    )
    assert rc == 0
    result = json.loads((tmp_path / "all.json").read_text())
    assert result["failures"] == ["profile exposure-merge: TypeError: unsupported operand"]
    out = capsys.readouterr().out
    assert "1 failed" in out and "failed: profile exposure-merge: TypeError: unsupported operand" in out
    # The failing model's other measurements and the other model went on.
    with ResultsStore(tmp_path / "r.sqlite") as store:
        stored = {(r["kind"], r["model"]) for r in store.query()}
    assert stored == {("profile", "ref-frame"), ("eval", "ref-frame"), ("eval", "exposure-merge")}
