"""The timing seams: a backend registered by a plugin file, and a cache key derived from TimeConfig's fields."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bench import timing
from bench.cli import main as cli_main
from bench.core import format_size
from bench.core.environment import device_name
from bench.jobs import measure
from bench.results import ResultsStore
from bench.spec.weights import file_digest
from bench.timing import BACKENDS, TimeConfig, TimingBackend, add_config_arguments, option

REPO = Path(__file__).resolve().parent.parent

PLUGIN = '''
from bench.timing import timing_backend


@timing_backend("eager-twice", device_kinds=("cpu",))
def prepare(model, example, config):
    """Eager, run twice per call: a stand-in for a new way of running the forward."""
    calls = []

    def twice(ldrs, ev):
        calls.append(1)
        model(ldrs, ev)
        return model(ldrs, ev)

    twice.calls = calls
    return twice
'''


def test_plugin_backend_is_used_through_the_cli(tmp_path):
    plugin = tmp_path / "twice_plugin.py"
    plugin.write_text(textwrap.dedent(PLUGIN))
    out = tmp_path / "out.json"
    argv = ["--plugin", str(plugin), "time", "--models", "ref-frame", "--backend", "eager-twice"]
    argv += ["--size", "32x32", "--warmup", "0", "--repeat", "2", "--no-store", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "EAPBENCH_NO_PROGRESS": "1"}
    res = subprocess.run(
        [sys.executable, "run_bench.py", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (rec,) = json.loads(out.read_text())
    assert rec["backend"] == "eager-twice" and rec["status"] == "ok" and rec["runs"] == 2
    # Not the reference configuration: its output was checked against eager fp32 (and agrees).
    assert rec["rel_l2_error"] is not None and rec["rel_l2_error"] <= rec["rel_l2_bound"]
    assert "eager-twice" in res.stdout
    assert "eager-twice" not in BACKENDS  # the plugin ran in the child process only


@pytest.fixture
def registered():
    names = []

    def add(entry: TimingBackend) -> TimingBackend:
        names.append(entry.name)
        return BACKENDS.add(entry.name, entry)

    yield add
    for name in names:
        BACKENDS.remove(name)


def test_unavailable_backend_is_one_line_exit_2(registered, capsys):
    registered(TimingBackend("moon", timing.prepare_eager, probe=lambda: "needs the moon-runtime package"))
    rc = cli_main(["time", "--models", "ref-frame", "--backend", "moon", "--size", "16x16", "--no-store"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--backend moon is not available: needs the moon-runtime package" in err


def test_backend_on_the_wrong_device_kind_is_one_line_exit_2(registered, capsys):
    registered(TimingBackend("gpu-only", timing.prepare_eager, device_kinds=("cuda",), hint="see docs/x"))
    rc = cli_main(["time", "--models", "ref-frame", "--backend", "gpu-only", "--size", "16x16", "--no-store"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "--backend gpu-only needs --device cuda; see docs/x" in err


def test_backend_choices_come_from_the_registry(registered):
    registered(TimingBackend("listed", timing.prepare_eager))
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert parser.parse_args(["--backend", "listed"]).backend == "listed"
    assert "{" + ",".join(BACKENDS.names()) + "}" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "unlisted"])


def extended_config(**fields):
    """TimeConfig plus the given fields (name -> dataclasses.field), as a later option would add them."""
    spec = [(name, object, f) for name, f in fields.items()]
    return dataclasses.make_dataclass("ExtendedConfig", spec, bases=(TimeConfig,), frozen=True)


def test_a_new_config_field_enters_the_cache_key_and_the_cli():
    Extended = extended_config(tile=dataclasses.field(default=0, metadata=option("tile size", type=int)))
    base = TimeConfig(size=(16, 16), threads=1).cache_settings()
    plain, tiled = Extended(size=(16, 16), threads=1), Extended(size=(16, 16), threads=1, tile=8)
    assert plain.cache_settings() == {**base, "tile": 0}
    assert tiled.cache_settings() != plain.cache_settings() and tiled.cache_settings()["tile"] == 8
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Extended)
    args = parser.parse_args(["--size", "16x16", "--tile", "4"])
    assert Extended.from_args(args).tile == 4


def test_a_field_marked_out_of_the_key_stays_out():
    Extended = extended_config(note=dataclasses.field(default="", metadata=option("free text", in_key=False)))
    assert Extended(note="a").cache_settings() == Extended(note="b").cache_settings()
    assert "note" not in Extended().cache_settings()


def test_every_field_is_in_the_key():
    """No option of today is left out of the key: changing any one of them changes the settings."""
    base = TimeConfig(size=(32, 32), threads=1)
    changes = {
        "backend": "compile", "precision": "bf16", "channels_last": True, "compile_mode": "max-autotune",
        "size": (48, 32), "pad_from": (30, 30), "batch": 2, "warmup": 3, "repeat": 7, "threads": 2,
        "scene": "scene.hdr", "max_rel_error": 0.1, "memory": False,
    }  # fmt: skip
    # The noise bound and rounds judge a result, they do not change it: a cached result is checked
    # against the bound instead (tests/test_timing_noise.py).
    unkeyed = {"max_cv": 0.2, "noise_rounds": 5}
    settable = {f.name for f in dataclasses.fields(TimeConfig)} - {"device", "cuda_graphs", "weights"}
    assert set(changes) | set(unkeyed) == settable  # device, CUDA graphs, weights: need a GPU or a file
    for name, value in changes.items():
        assert base.replace(**{name: value}).cache_settings() != base.cache_settings(), name
    for name, value in unkeyed.items():
        assert base.replace(**{name: value}).cache_settings() == base.cache_settings(), name


def test_cache_key_matches_the_settings_written_before_time_config(tmp_path):
    """Databases written by the hand-kept key still hit: same keys, same encodings."""
    save_file({"w": torch.zeros(1)}, str(tmp_path / "w.safetensors"))
    cfg = TimeConfig(
        size=(40, 24), pad_from=(38, 22), warmup=1, repeat=3, memory=False,
        weights=str(tmp_path / "w.safetensors"), scene="rel/scene.hdr",
    )  # fmt: skip
    legacy = {
        "device": device_name(torch.device("cpu")), "backend": "eager", "precision": "fp32",
        "size": format_size(40, 24), "pad_from": format_size(38, 22), "batch": 1, "warmup": 1, "repeat": 3,
        "threads": torch.get_num_threads(), "channels_last": False, "cuda_graphs": False, "compile_mode": None,
        "tf32": False, "memory": False, "weights": file_digest(tmp_path / "w.safetensors"),
        "scene": str(Path("rel/scene.hdr").resolve()), "max_rel_error": None, "torch": torch.__version__,
    }  # fmt: skip
    assert cfg.cache_settings() == legacy


def test_measure_time_keyword_call_and_config_share_one_key(tmp_path, monkeypatch):
    calls = []
    real = timing.time_model
    monkeypatch.setattr(timing, "time_model", lambda *a, **k: calls.append(1) or real(*a, **k))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        _, hit = measure.time(store, "ref-frame", device="cpu", size=(16, 16), warmup=0, repeat=1, threads=1)
        assert not hit
        config = TimeConfig(size=(16, 16), warmup=0, repeat=1, threads=1, memory=False)
        rec, hit = measure.time(store, "ref-frame", config=config)
        assert hit and rec["backend"] == "eager" and len(calls) == 1
        _, hit = measure.time(store, "ref-frame", config=config, repeat=2)  # options change the config
        assert not hit and len(calls) == 2
