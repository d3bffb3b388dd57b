"""Timing on a noisy machine: re-measured rounds, ``noisy`` records, thread choice, machine-keyed calibrations."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bench import roofline, timing
from bench.cli import main
from bench.core import UsageError
from bench.jobs import measure
from bench.report.render import cell
from bench.results import ResultsStore, is_ok
from bench.roofline import calibration
from bench.timing import threads


class TinyHDR(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(9, 3, 1)

    def forward(self, ldrs, ev):
        return torch.sigmoid(self.conv(ldrs.flatten(1, 2)))


class SequenceTimer:
    """Returns the given seconds in order (warm-up calls included), then the last one forever."""

    def __init__(self, seconds):
        self.seconds = list(seconds)
        self.calls = 0

    def __call__(self, fn):
        fn()
        value = self.seconds[min(self.calls, len(self.seconds) - 1)]
        self.calls += 1
        return value


NOISY = [0.001, 0.005, 0.001, 0.005]  # CV ~ 0.77
CLEAN = [0.002, 0.002, 0.002, 0.002]


def run(timer, **options):
    return timing.time_model(
        TinyHDR(), size=(16, 16), warmup=1, repeat=4, threads=1, memory=False, timer=timer, **options
    )


def test_a_noisy_round_is_measured_again_and_the_quiet_one_kept():
    timer = SequenceTimer([0.1, *NOISY, *CLEAN])
    rec = run(timer)
    assert rec["rounds"] == 2 and rec["noisy"] is False and timer.calls == 1 + 4 + 4
    assert rec["median_s"] == pytest.approx(0.002) and rec["cv"] == 0
    assert not any("noisy" in w for w in rec["warnings"])


def test_still_noisy_after_every_round_is_marked_with_its_spread():
    timer = SequenceTimer([0.1, *NOISY * 3])
    rec = run(timer, noise_rounds=3)
    assert rec["rounds"] == 3 and rec["noisy"] is True and timer.calls == 1 + 12
    (warning,) = [w for w in rec["warnings"] if "coefficient of variation" in w]
    assert "3 rounds" in warning and "p10-p90" in warning
    assert not is_ok("time", rec) and is_ok("time", {**rec, "noisy": False})


def test_the_bound_is_an_option():
    rec = run(SequenceTimer([0.1, *NOISY]), max_cv=1.0, noise_rounds=3)
    assert rec["rounds"] == 1 and rec["noisy"] is False and rec["max_cv"] == 1.0
    with pytest.raises(UsageError, match="max-cv"):
        timing.TimeConfig(max_cv=0)
    with pytest.raises(UsageError, match="noise-rounds"):
        timing.TimeConfig(noise_rounds=0)


def test_a_cached_noisy_result_is_stored_but_measured_again(tmp_path, monkeypatch):
    real = timing.time_model
    timers = iter([SequenceTimer([0.1, *NOISY * 3]), SequenceTimer([0.1, *CLEAN]), None])
    monkeypatch.setattr(timing, "time_model", lambda m, c, **kw: real(m, c, timer=next(timers), **kw))
    options = dict(device="cpu", size=(16, 16), warmup=1, repeat=4, threads=1)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        first, hit1 = measure.time(store, "tiny", TinyHDR, **options)
        assert first["noisy"] and not hit1
        assert [r["record"]["noisy"] for r in store.query(kind="time")] == [True]  # kept for the report
        second, hit2 = measure.time(store, "tiny", TinyHDR, **options)  # noisy: not reused
        assert not hit2 and second["noisy"] is False
        third, hit3 = measure.time(store, "tiny", TinyHDR, **options)  # clean: reused
        assert hit3 and third["median_s"] == pytest.approx(0.002)
    # A result clean under the looser bound it was measured with is noisy under this one: measured again.
    monkeypatch.setattr(timing, "time_model", lambda m, c, **kw: {**third, "cv": 0.0, "max_cv": c.max_cv})
    settings = timing.TimeConfig(**{**measure.TIME_DEFAULTS, **options}).cache_settings()
    with ResultsStore(tmp_path / "r.sqlite") as store:
        loose = {**third, "cv": 0.3, "max_cv": 0.5}
        store.add(
            "time", loose, model="tiny", config_hash=measure.config_hash("tiny", TinyHDR), settings=settings
        )
        assert measure.time(store, "tiny", TinyHDR, **options, max_cv=0.5)[1]  # under its own bound: reused
        rec, hit = measure.time(store, "tiny", TinyHDR, **options)
        assert not hit and rec["cv"] == 0.0


def test_the_runtime_cell_shows_a_noisy_spread():
    col = {"key": "median_s_measured", "source": "measured", "metric": "median_s"}
    row = {"median_s_measured": 0.5, "median_s_spread": (0.25, 1.5)}
    assert "noisy, p10-p90 0.2500-1.5000" in cell(col, row)
    assert "noisy" not in cell(col, {"median_s_measured": 0.5})


# ---------------------------------------------------------------------------------------------
# Machine-keyed calibrations
# ---------------------------------------------------------------------------------------------


def cpu_calibration(**machine):
    rec = roofline.calibrate("cpu", ("fp32",), copy_mib=1, matmul_n=32, repeat=3, threads=1)
    rec["machine"] |= machine
    return rec


def test_calibration_records_its_machine_and_spread():
    rec = cpu_calibration()
    assert (
        rec["machine"]["logical_cores"]
        and rec["machine"]["cpu_flags"]
        and rec["machine"]["signature_gflops"] > 0
    )
    assert set(rec["spread"]) == {"bandwidth", "matmul_fp32"}
    s = rec["spread"]["bandwidth"]
    assert s["best_s"] <= s["median_s"] <= s["max_s"] and s["cv"] >= 0


def test_a_calibration_from_another_machine_is_not_used(tmp_path, capsys):
    mine = cpu_calibration()
    roofline.save_calibration(mine, tmp_path)
    assert roofline.load_calibration(mine["device_name"], tmp_path) == mine
    for change, said in (
        ({"logical_cores": 999}, "logical cores 999 there"),
        ({"cpu_flags": "0" * 12}, "cpu flags"),
        ({"signature_gflops": mine["machine"]["signature_gflops"] * 100}, "measured signature"),
    ):
        other = tmp_path / str(len(said))
        roofline.save_calibration({**mine, "machine": mine["machine"] | change}, other)
        calibration.REJECTED.clear()
        assert roofline.load_calibration(mine["device_name"], other) is None
        assert roofline.load_calibration(mine["device_name"], other) is None
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and "not used" in err  # said once, in one line
        profile = {"maccs": 1e9, "params": 1, "activations": 1}
        assert (
            roofline.roofline_fields(profile, mine["device_name"], "fp32", 0.1, calibration_dir=other)[
                "roofline_source"
            ]
            is None
        )


# ---------------------------------------------------------------------------------------------
# Thread count
# ---------------------------------------------------------------------------------------------


def test_thread_choice_given_probed_and_kept(tmp_path, monkeypatch):
    assert threads.choose_threads("2").threads == 2 and threads.choose_threads("2").source == "--threads"
    for bad in ("0", "many"):
        with pytest.raises(UsageError, match="--threads"):
            threads.choose_threads(bad)
    probes = []

    def fake_probe():
        probes.append(1)
        return threads.ThreadChoice(1, "probed now", {1: 0.1, 2: 0.4})

    monkeypatch.setattr(threads, "probe_threads", fake_probe)
    first = threads.choose_threads("auto", tmp_path)
    assert first.threads == 1 and "probed now" in first.source and "2: 400 ms" in first.describe()
    second = threads.choose_threads("auto", tmp_path)  # kept: no second probe
    assert probes == [1] and second.threads == 1 and "kept" in second.source
    # A calibration of this machine made with `calibrate --threads auto` wins.
    cal = cpu_calibration()
    cal["threads_probe"] = {"threads": 2, "seconds": {"1": 0.5, "2": 0.2}}
    roofline.save_calibration(cal, tmp_path)
    assert threads.choose_threads("auto", tmp_path).threads == 2 and probes == [1]


def test_probe_times_each_count_and_picks_the_fastest():
    choice = threads.probe_threads([1], repeat=1, size=(16, 16))
    assert choice.threads == 1 and set(choice.seconds) == {1} and choice.seconds[1] > 0


def test_calibrate_threads_auto_stores_the_probe(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        threads, "probe_threads", lambda: threads.ThreadChoice(1, "probed now", {1: 0.1, 2: 0.3})
    )
    out = tmp_path / "c.json"
    args = ["calibrate", "--copy-mib", "1", "--matmul-n", "32", "--repeat", "2", "--threads", "auto"]
    assert main([*args, "--no-save", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["threads"] == 1 and rec["threads_probe"] == {"threads": 1, "seconds": {"1": 0.1, "2": 0.3}}
    assert "threads: 1 thread" in capsys.readouterr().out
    assert main(["calibrate", "--threads", "0"]) == 2


def test_main_job_threads_option_is_checked_first(tmp_path):
    assert main(["all", "--threads", "none", "--db", str(tmp_path / "r.sqlite")]) == 2
    assert not (tmp_path / "r.sqlite").exists()
