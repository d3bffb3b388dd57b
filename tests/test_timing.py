"""Tests of bench.timing, bench.roofline and the `time` / `calibrate` commands (CPU only, tiny sizes)."""

from __future__ import annotations

import contextlib
import json
import statistics
import types

import numpy as np
import pytest
import torch
from torch import nn

from bench import roofline, timing
from bench.cli import main as cli_main
from bench.core import UsageError
from bench.data import simulate
from models import registry
from models.blocks import HDRModel, frame_inputs

# ---------------------------------------------------------------------------------------------
# Fixtures: a tiny registered model, a fake timer
# ---------------------------------------------------------------------------------------------


class TinyHDR(HDRModel):
    """Two convs over the three frames' eq.-2 inputs; size_multiple 4 so that padding happens."""

    size_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(18, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))

    def reconstruct(self, ldrs, ev):
        return torch.relu(self.body(torch.cat(frame_inputs(ldrs, ev), dim=1)))


def tiny_hdr(**overrides) -> nn.Module:
    return TinyHDR()


@pytest.fixture
def tiny_model(monkeypatch):
    registry.list_models()  # load the built-in models first, so the fixture's entry is the only change
    info = registry.ModelInfo(name="tiny-timing", factory=tiny_hdr, family="test", description="test model")
    monkeypatch.setitem(registry._REGISTRY, "tiny-timing", info)
    return "tiny-timing"


class FakeTimer:
    """Runs the function (so the real code path executes) and returns preset seconds in turn."""

    def __init__(self, seconds):
        self.seconds = list(seconds)
        self.calls = 0

    def __call__(self, fn):
        fn()
        value = self.seconds[self.calls % len(self.seconds)]
        self.calls += 1
        return value


@pytest.fixture
def use_backend():
    """Register ``prepare`` as backend ``name`` for one test (replacing a built-in), restored afterwards."""
    saved = []

    def use(name, prepare, **options):
        saved.append((name, timing.BACKENDS.get(name) if name in timing.BACKENDS else None))
        timing.BACKENDS.add(name, timing.TimingBackend(name, prepare, **options), replace=True)

    yield use
    for name, old in reversed(saved):
        if old is None:
            timing.BACKENDS.remove(name)
        else:
            timing.BACKENDS.add(name, old, replace=True)


def run_cli(argv, capsys):
    rc = cli_main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def test_summarize_matches_definitions():
    times = [0.010, 0.012, 0.011, 0.013, 0.050, 0.011, 0.012, 0.010, 0.014, 0.011]
    s = timing.summarize(times)
    assert s["runs"] == 10
    assert s["median_s"] == pytest.approx(statistics.median(times))
    assert s["mean_s"] == pytest.approx(statistics.fmean(times))
    assert s["cv"] == pytest.approx(statistics.stdev(times) / statistics.fmean(times))
    q = statistics.quantiles(times, n=100, method="inclusive")  # same linear interpolation as NumPy
    assert s["p10_s"] == pytest.approx(q[9])
    assert s["p90_s"] == pytest.approx(q[89])
    assert s["iqr_s"] == pytest.approx(q[74] - q[24])
    assert s["min_s"] == 0.010 and s["max_s"] == 0.050
    # The outlier moves the mean but hardly the median: why the median is the headline number.
    assert s["mean_s"] - s["median_s"] > 0.002 and s["median_s"] == pytest.approx(0.0115)


def test_summarize_single_run_and_bad_input():
    s = timing.summarize([0.5])
    assert s["runs"] == 1 and s["cv"] == 0.0 and s["iqr_s"] == 0.0 and s["median_s"] == 0.5
    with pytest.raises(ValueError):
        timing.summarize([])
    with pytest.raises(ValueError):
        timing.summarize([0.1, float("nan")])
    with pytest.raises(ValueError):
        timing.summarize([0.1, -0.1])


def test_noise_warning_threshold():
    steady = timing.summarize([1.0, 1.01, 0.99, 1.0])
    noisy = timing.summarize([1.0, 1.3, 0.8, 1.1])
    assert timing.noise_warning(steady) is None
    msg = timing.noise_warning(noisy)
    assert msg is not None and "4 runs" in msg and "noisy" in msg


def test_measure_drops_warmup():
    calls = []
    timer = FakeTimer([1.0, 2.0, 3.0])
    times = timing.measure(lambda: calls.append(1), timer, warmup=2, repeat=4)
    assert len(calls) == 6  # every call ran the function
    assert times == [3.0, 1.0, 2.0, 3.0]  # the first two (warm-up) are not among the results


def test_cpu_timer_measures_the_call():
    import time

    assert timing.cpu_timer(lambda: time.sleep(0.02)) >= 0.019


# ---------------------------------------------------------------------------------------------
# Inputs and padding
# ---------------------------------------------------------------------------------------------


def test_pad_1900x1060_to_1920x1080_and_crop_back():
    x = torch.empty(1, 3, 3, 1060, 1900, device="meta")
    padded = timing.pad_to_size(x, 1920, 1080)
    assert padded.shape == (1, 3, 3, 1080, 1920)
    assert timing.crop_to_size(padded, 1900, 1060).shape == x.shape
    with pytest.raises(ValueError):
        timing.pad_to_size(padded, 1900, 1060)


def test_padding_replicates_edges_and_crop_recovers_values():
    x = torch.rand(1, 3, 3, 10, 19)
    padded = timing.pad_to_size(x, 24, 12)
    assert torch.equal(timing.crop_to_size(padded, 19, 10), x)
    assert torch.equal(padded[..., :10, 19:], x[..., :, -1:].expand(-1, -1, -1, -1, 5))
    assert torch.equal(padded[..., 10:, :19], x[..., -1:, :].expand(-1, -1, -1, 2, -1))


def test_make_inputs_is_a_plausible_ldr_triplet():
    ldrs, ev = timing.make_inputs(40, 24, batch=2)
    assert ldrs.shape == (2, 3, 3, 24, 40) and ev.shape == (2, 3)
    assert ldrs.min() >= 0 and ldrs.max() <= 1
    assert torch.equal(ev[0], torch.tensor([-2.0, 0.0, 2.0]))
    # 8-bit quantised, the long frame brighter than the short one, highlights clipped in the long frame
    assert torch.equal(ldrs[0], ldrs[1])  # one scene repeated over the batch
    assert torch.allclose(ldrs * 255, (ldrs * 255).round(), atol=1e-4)
    assert ldrs[0, 2].mean() > ldrs[0, 1].mean() > ldrs[0, 0].mean()
    assert (ldrs[0, 2] == 1).any()


def test_scene_from_hdr_file(tmp_path):
    import cv2

    rad = simulate.synthetic_scene((32, 16), np.random.default_rng(0))
    path = tmp_path / "scene.hdr"
    assert cv2.imwrite(str(path), cv2.cvtColor(rad, cv2.COLOR_RGB2BGR))
    ldrs, ev = timing.make_inputs(20, 12, scene=str(path))
    assert ldrs.shape == (1, 3, 3, 12, 20)
    with pytest.raises(UsageError, match="cannot read"):
        timing.make_inputs(20, 12, scene=str(tmp_path / "missing"))


def test_scene_from_ntire_files(tmp_path):
    import cv2

    for i, tag in enumerate(("short", "medium", "long")):
        cv2.imwrite(str(tmp_path / f"0007_{tag}.png"), np.full((12, 20, 3), 60 * (i + 1), np.uint8))
    np.save(tmp_path / "0007_exposures.npy", np.array([-3, -1, 1]))
    ldrs, ev = timing.make_inputs(10, 6, scene=str(tmp_path / "0007"))
    assert ldrs.shape == (1, 3, 3, 6, 10) and torch.equal(ev[0], torch.tensor([-2.0, 0.0, 2.0]))
    assert ldrs[0, 2].mean().item() == pytest.approx(180 / 255)


# ---------------------------------------------------------------------------------------------
# time_model
# ---------------------------------------------------------------------------------------------


def test_time_model_end_to_end_with_fake_timer(tiny_model):
    timer = FakeTimer([0.004, 0.005, 0.006])
    rec = timing.time_model(
        tiny_model,
        size=(40, 24),
        pad_from=(38, 21),
        warmup=2,
        repeat=6,
        threads=1,
        memory=False,
        timer=timer,
        noise_rounds=1,
    )
    assert set(timing.RECORD_KEYS) <= set(rec)
    assert timer.calls == 8
    assert rec["runs"] == 6 and rec["median_s"] == pytest.approx(0.005)
    assert rec["pad_from"] == "38x21" and (rec["width"], rec["height"]) == (40, 24)
    assert rec["threads"] == 1 and rec["device"] == "cpu" and rec["status"] == "ok"
    assert rec["compile_s"] is None  # eager: nothing compiled
    assert rec["rel_l2_error"] is None  # eager fp32 on the CPU is the reference itself
    json.dumps(rec)  # a plain JSON-able record


def test_lower_precision_is_checked_against_fp32(tiny_model):
    rec = timing.time_model(
        tiny_model, size=(32, 24), precision="bf16", channels_last=True, warmup=0, repeat=2, memory=False
    )
    assert rec["status"] == "ok"
    assert 0 < rec["rel_l2_error"] <= timing.REL_L2_BOUNDS["bf16"]


def test_numerics_check_catches_a_wrong_backend(tiny_model, use_backend):
    def broken(model, example, options):
        return lambda ldrs, ev: model(ldrs, ev) * 1.05  # 5% off: fast maybe, but wrong

    use_backend("broken", broken)
    rec = timing.time_model(tiny_model, size=(32, 24), backend="broken", warmup=0, repeat=2, memory=False)
    assert rec["status"] == "numerics-failed"
    assert rec["rel_l2_error"] == pytest.approx(0.05, rel=1e-3)
    assert any("exceeds the bound" in w for w in rec["warnings"])


def test_non_finite_output_fails_numerics(tiny_model, use_backend):
    use_backend("nan", lambda m, x, o: lambda ldrs, ev: m(ldrs, ev) * float("nan"))
    rec = timing.time_model(tiny_model, size=(16, 16), backend="nan", warmup=0, repeat=1, memory=False)
    assert rec["status"] == "numerics-failed"


def test_compile_path_records_compile_time(tiny_model, monkeypatch):
    seen = {}

    def fake_compile(model, mode=None, dynamic=None):
        seen["mode"] = mode

        def compiled(*args):
            seen["calls"] = seen.get("calls", 0) + 1
            return model(*args)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    rec = timing.time_model(
        tiny_model,
        size=(16, 16),
        backend="compile",
        precision="fp16",
        warmup=1,
        repeat=3,
        memory=False,
        compile_mode="max-autotune",
        noise_rounds=1,  # counts one round of calls (a real timer on a busy machine could ask for more)
    )
    assert seen["mode"] == "max-autotune"
    assert seen["calls"] == 1 + 1 + 3 + 1  # first (compiling) call, warm-up, timed runs, numerics output
    assert rec["compile_s"] is not None and rec["compile_s"] >= 0
    assert rec["rel_l2_error"] is not None and rec["status"] == "ok"


def test_compile_with_cuda_graphs_uses_reduce_overhead():
    seen = {}
    torch_compile = torch.compile
    try:
        torch.compile = lambda model, mode=None, dynamic=None: seen.setdefault("mode", mode)
        options = types.SimpleNamespace(cuda_graphs=True, compile_mode=None)
        timing.prepare_compile(nn.Identity(), (), options)
    finally:
        torch.compile = torch_compile
    assert seen["mode"] == "reduce-overhead"


def test_option_checks_are_usage_errors(monkeypatch):
    cpu = torch.device("cpu")
    with pytest.raises(UsageError, match="--cuda-graphs needs --device cuda"):
        timing.TimeConfig(device="cpu", cuda_graphs=True)
    with pytest.raises(UsageError, match="--backend tensorrt needs --device cuda"):
        timing.TimeConfig(device="cpu", backend="tensorrt", precision="fp16")
    with pytest.raises(UsageError, match="tensorrt"):
        timing.check_backend("tensorrt", cpu)
    monkeypatch.setitem(__import__("sys").modules, "torch_tensorrt", None)  # makes the import fail
    with pytest.raises(UsageError, match=r"pip install 'eapbench\[tensorrt\]'"):
        timing.tensorrt_module()
    with pytest.raises(UsageError):
        timing.time_model(nn.Identity(), size=(16, 16), pad_from=(32, 16))
    with pytest.raises(UsageError, match="precision 'fp64'"):
        timing.TimeConfig(precision="fp64")
    with pytest.raises(UsageError, match="unknown timing backend 'eagre'.*did you mean eager"):
        timing.TimeConfig(backend="eagre")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_resolve_device_without_cuda():
    with pytest.raises(UsageError, match="CUDA is not available"):
        timing.resolve_device("cuda")
    with pytest.raises(UsageError):
        timing.resolve_device("tpu")


def test_cpu_peak_memory_in_child_process():
    peak, note = timing.cpu_peak_memory("eapnet-lightweight", timing.TimeConfig(size=(64, 48), threads=1))
    assert note is None
    # One forward at 64x48 allocates at least its input and a few 32-channel feature maps.
    assert peak > 64 * 48 * 32 * 4


def test_relative_l2():
    ref = torch.tensor([3.0, 4.0])
    assert timing.relative_l2(ref, ref) == 0.0
    assert timing.relative_l2(torch.tensor([3.0, 4.5]), ref) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        timing.relative_l2(torch.zeros(3), ref)


# ---------------------------------------------------------------------------------------------
# Roofline and calibration
# ---------------------------------------------------------------------------------------------


def test_roofline_floor_compute_and_memory_bound():
    # 100 GMAcc on 100 TFLOP/s: 2 ms of compute; 10 M elements fp16 = 20 MB on 1 TB/s: 0.02 ms.
    f = roofline.roofline_floor(100e9, 1e6, 9e6, "fp16", 100e12, 1e12)
    assert f["floor_compute_s"] == pytest.approx(2e-3) and f["floor_memory_s"] == pytest.approx(2e-5)
    assert f["floor_s"] == f["floor_compute_s"] and f["floor_bound"] == "compute"
    m = roofline.roofline_floor(1e6, 1e6, 1e9, "fp32", 100e12, 1e12)
    assert m["floor_bound"] == "memory" and m["floor_memory_bytes"] == (1e6 + 1e9) * 4
    none = roofline.roofline_floor(1e6, 1e6, 1e6, "fp32", None, None)
    assert none["floor_s"] is None and none["floor_bound"] is None


@pytest.mark.parametrize(
    "name,expected",
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA H200", "NVIDIA H200"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB"),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB"),
        ("Tesla V100-SXM2-32GB", "NVIDIA V100"),
    ],
)
def test_known_devices(name, expected):
    assert roofline.find_spec(name).name == expected


def test_unknown_device_has_no_floor(tmp_path):
    fields = roofline.roofline_fields(
        {"maccs": 1e9, "params": 10, "activations": 10}, "Some CPU", "fp32", 0.1, calibration_dir=tmp_path
    )
    assert fields["floor_s"] is None and fields["maccs"] == 1e9


def test_calibration_overrides_data_sheet_and_gives_fraction(tmp_path):
    cal = {"device_name": "NVIDIA H100 80GB HBM3", "bandwidth_Bps": 1e12, "peak_flops": {"fp32": 10e12}}
    roofline.save_calibration(cal, tmp_path)
    profile = {"maccs": 50e9, "params": 0, "activations": 0}
    f = roofline.roofline_fields(profile, cal["device_name"], "fp32", 0.04, calibration_dir=tmp_path)
    assert f["roofline_source"].startswith("calibrated")
    assert f["floor_s"] == pytest.approx(0.01) and f["floor_fraction"] == pytest.approx(0.25)
    sheet = roofline.roofline_fields(
        profile, cal["device_name"], "fp32", 0.04, calibration_dir=tmp_path / "none"
    )
    assert sheet["floor_s"] == pytest.approx(2 * 50e9 / 67e12)


def test_calibrate_cpu_small():
    rec = roofline.calibrate("cpu", ("fp32",), copy_mib=4, matmul_n=128, repeat=2, threads=1)
    assert rec["bandwidth_Bps"] > 1e8 and rec["peak_flops"]["fp32"] > 1e7
    assert rec["threads"] == 1 and rec["device"] == "cpu"


# ---------------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------------


def test_time_command_writes_json(tiny_model, tmp_path, capsys):
    out = tmp_path / "t.json"
    rc, stdout, _ = run_cli(
        [
            "time",
            "--models",
            tiny_model,
            "--size",
            "40x24",
            "--pad-from",
            "38x22",
            "--warmup",
            "1",
            "--repeat",
            "3",
            "--threads",
            "1",
            "--no-memory",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert rc == 0
    recs = json.loads(out.read_text())
    assert len(recs) == 1 and set(timing.RECORD_KEYS) <= set(recs[0])
    assert recs[0]["runs"] == 3 and recs[0]["pad_from"] == "38x22"
    assert "tiny-timing" in stdout and "median ms" in stdout


def test_time_command_real_model_tiny_size(tmp_path, capsys):
    out = tmp_path / "t.json"
    rc, _, _ = run_cli(
        [
            "time",
            "--models",
            "eapnet-lightweight",
            "--size",
            "48x32",
            "--warmup",
            "0",
            "--repeat",
            "2",
            "--threads",
            "1",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert rc == 0
    rec = json.loads(out.read_text())[0]
    assert rec["model"] == "eapnet-lightweight" and rec["median_s"] > 0
    assert rec["peak_memory_bytes"] is not None and rec["peak_memory_bytes"] > 0


def test_time_command_wrong_backend_exits_1(tiny_model, use_backend, tmp_path, capsys):
    use_backend("compile", lambda m, x, o: lambda ldrs, ev: -m(ldrs, ev))
    out = tmp_path / "t.json"
    rc, stdout, _ = run_cli(
        [
            "time",
            "--models",
            tiny_model,
            "--size",
            "16x16",
            "--backend",
            "compile",
            "--repeat",
            "1",
            "--warmup",
            "0",
            "--no-memory",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert rc == 1
    assert json.loads(out.read_text())[0]["status"] == "numerics-failed"
    assert "numerics-failed" in stdout


def test_time_command_records_a_failing_model(tiny_model, use_backend, tmp_path, capsys):
    def crash(model, example, options):
        raise RuntimeError("kernel not supported\nlong traceback")

    use_backend("compile", crash)
    out = tmp_path / "t.json"
    rc, _, _ = run_cli(
        [
            "time",
            "--models",
            tiny_model,
            "--size",
            "16x16",
            "--backend",
            "compile",
            "--repeat",
            "1",
            "--no-memory",
            "--json",
            str(out),
        ],
        capsys,
    )
    rec = json.loads(out.read_text())[0]
    assert rc == 1 and rec["status"] == "error" and rec["error"] == "RuntimeError: kernel not supported"


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--backend", "tensorrt"], "tensorrt"),
        (["--cuda-graphs"], "--cuda-graphs needs --device cuda"),
        (["--size", "10by10"], "WIDTHxHEIGHT"),
        (["--size", "32x32", "--pad-from", "64x64"], "larger than --size"),
        (["--repeat", "0"], "--repeat"),
    ],
)
def test_time_command_bad_input_exits_2_with_one_line(tiny_model, capsys, argv, fragment):
    rc, _, err = run_cli(["time", "--models", tiny_model, "--no-memory", *argv], capsys)
    assert rc == 2
    assert fragment in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_time_command_without_cuda_exits_2(tiny_model, capsys):
    rc, _, err = run_cli(["time", "--models", tiny_model, "--device", "cuda"], capsys)
    assert rc == 2 and "CUDA is not available" in err and len(err.strip().splitlines()) == 1


def test_time_command_skips_huge_models_on_cpu(tiny_model, monkeypatch, capsys):
    monkeypatch.setattr(
        timing, "model_profile", lambda name, w, h, batch=1: {"maccs": 2.9e12, "params": 1, "activations": 1}
    )
    rc, _, err = run_cli(["time", "--models", tiny_model, "--size", "16x16", "--no-memory"], capsys)
    assert rc == 0 and "skipping tiny-timing: 2.90 TMAcc" in err and "--all" in err


def test_time_command_roofline_from_calibration(tiny_model, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(roofline.calibration, "CALIBRATION_DIR", tmp_path)
    monkeypatch.setattr(
        timing,
        "model_profile",
        lambda name, w, h, batch=1: {"maccs": 1e6, "params": 1000, "activations": 1000},
    )
    roofline.save_calibration(
        {"device_name": timing.cpu_name(), "bandwidth_Bps": 1e10, "peak_flops": {"fp32": 1e10}}
    )
    out = tmp_path / "t.json"
    rc, _, _ = run_cli(
        [
            "time",
            "--models",
            tiny_model,
            "--size",
            "16x16",
            "--repeat",
            "2",
            "--warmup",
            "0",
            "--no-memory",
            "--json",
            str(out),
        ],
        capsys,
    )
    rec = json.loads(out.read_text())[0]
    assert rc == 0 and rec["floor_s"] == pytest.approx(2e-4) and rec["floor_bound"] == "compute"
    assert rec["floor_fraction"] == pytest.approx(2e-4 / rec["median_s"])


def test_calibrate_command(tmp_path, capsys):
    out = tmp_path / "c.json"
    rc, stdout, _ = run_cli(
        [
            "calibrate",
            "--copy-mib",
            "4",
            "--matmul-n",
            "64",
            "--repeat",
            "1",
            "--threads",
            "1",
            "--no-save",
            "--json",
            str(out),
        ],
        capsys,
    )
    assert rc == 0 and "GB/s" in stdout
    assert json.loads(out.read_text())["bandwidth_Bps"] > 0
    rc, _, err = run_cli(["calibrate", "--precisions", "fp64"], capsys)
    assert rc == 2 and "fp64" in err


# ---------------------------------------------------------------------------------------------
# The CUDA and TensorRT paths, exercised with stand-ins (this machine has no GPU)
# ---------------------------------------------------------------------------------------------


class FakeEvent:
    """A CUDA event on a fake clock: ``record`` reads the clock, ``elapsed_time`` gives ms."""

    clock = [0.0]
    log: list[str] = []

    def __init__(self, enable_timing=False):
        assert enable_timing
        self.t = None

    def record(self):
        FakeEvent.log.append("record")
        self.t = FakeEvent.clock[0]

    def synchronize(self):
        FakeEvent.log.append("event-sync")

    def elapsed_time(self, other):
        return (other.t - self.t) * 1e3


def test_cuda_timer_brackets_only_the_call(monkeypatch):
    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: FakeEvent.log.append("device-sync"))
    FakeEvent.log.clear()

    def forward():
        FakeEvent.log.append("forward")
        FakeEvent.clock[0] += 0.25  # the forward takes 250 ms of GPU time

    seconds = timing.make_timer(torch.device("cuda", 0))(forward)
    assert seconds == pytest.approx(0.25)
    # earlier work drained first; the events bracket the forward; the end event is waited for
    assert FakeEvent.log == ["device-sync", "record", "forward", "record", "event-sync"]
    assert timing.make_timer(torch.device("cpu")) is timing.cpu_timer


def test_capture_cuda_graph_warms_up_captures_and_replays(monkeypatch):
    log = []

    class Graph:
        def replay(self):
            log.append("replay")

    @contextlib.contextmanager
    def context(name):
        log.append(f"enter {name}")
        yield
        log.append(f"exit {name}")

    stream = type("Stream", (), {"wait_stream": lambda self, other: log.append("wait")})
    monkeypatch.setattr(torch.cuda, "Stream", lambda device=None: stream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: stream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: context("side stream"))
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph", lambda g: context("capture"))
    calls = []
    example = (torch.ones(2), torch.zeros(1))

    def fn(a, b):
        calls.append((a is example[0], a.data_ptr() == example[0].data_ptr()))
        return a + 1

    replay = timing.capture_cuda_graph(fn, example, torch.device("cuda", 0))
    out = replay()
    assert len(calls) == 4 and not any(same for same, _ in calls)  # 3 warm-ups + capture, on static copies
    assert (
        log[:2] == ["wait", "enter side stream"] and log.count("enter capture") == 1 and log[-1] == "replay"
    )
    assert torch.equal(out, torch.full((2,), 2.0))  # the static output of the captured forward


def test_resolve_device_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert timing.resolve_device("cuda") == torch.device("cuda", 0)
    assert timing.resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(UsageError, match="only 1 CUDA device"):
        timing.resolve_device("cuda:3")


def test_tensorrt_backend_compiles_at_the_requested_precision(monkeypatch):
    seen = {}

    def compile(model, **kwargs):
        seen.update(kwargs)
        return model

    monkeypatch.setitem(__import__("sys").modules, "torch_tensorrt", types.SimpleNamespace(compile=compile))
    trt = timing.check_backend("tensorrt", torch.device("cuda", 0))  # imports: no error
    assert trt.available() is None and trt.device_kinds == ("cuda",)
    example = (torch.zeros(1, 3, 3, 8, 8, dtype=torch.float16), torch.zeros(1, 3, dtype=torch.float16))
    net = nn.Identity()
    assert trt.prepare(net, example, types.SimpleNamespace(precision="fp16")) is net
    assert seen["enabled_precisions"] == {torch.float16} and seen["inputs"] == list(example)


def test_compile_time_includes_backend_preparation(tiny_model, use_backend):
    import time

    def slow_to_prepare(model, example, options):  # like torch-tensorrt: compiles ahead of the first call
        time.sleep(0.05)
        return model

    use_backend("aot", slow_to_prepare)
    rec = timing.time_model(tiny_model, size=(16, 16), backend="aot", warmup=0, repeat=1, memory=False)
    assert rec["compile_s"] >= 0.05 and rec["status"] == "ok"


def test_non_finite_outputs_are_reported_never_ok(monkeypatch, tiny_model):
    monkeypatch.setattr(TinyHDR, "reconstruct", lambda self, ldrs, ev: ldrs[:, 1] * float("inf"))
    # the reference configuration itself (nothing to compare with): the output is checked
    rec = timing.time_model(tiny_model, size=(16, 16), warmup=0, repeat=1, memory=False)
    assert rec["status"] == "numerics-failed" and any("NaN/inf" in w for w in rec["warnings"])
    # a checked configuration whose reference is not finite: the model is at fault, not the backend
    rec = timing.time_model(tiny_model, size=(16, 16), precision="bf16", warmup=0, repeat=1, memory=False)
    assert rec["status"] == "numerics-failed" and any("reference output" in w for w in rec["warnings"])


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["--max-rel-error", "-1"], "--max-rel-error"),
        (["--max-rel-error", "nan"], "--max-rel-error"),
        (["--threads", "0"], "--threads 0"),
        (["--json", "."], "is a folder"),
    ],
)
def test_time_command_more_bad_input(tiny_model, capsys, argv, fragment):
    rc, _, err = run_cli(
        ["time", "--models", tiny_model, "--no-store", "--no-memory", "--size", "16x16", *argv], capsys
    )
    assert rc == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_time_command_weights_for_several_models_exit_2(tiny_model, capsys):
    rc, _, err = run_cli(
        ["time", "--models", f"{tiny_model},eapnet-lightweight", "--weights", "w.safetensors", "--no-store"],
        capsys,
    )
    assert rc == 2 and "--weights belongs to one model" in err


def test_gpu_script_needs_no_dev_profilers(tmp_path):
    """scripts/gpu_timing.py and the commands it runs import with torchinfo/fvcore/thop/ptflops absent."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nfor m in ('torchinfo', 'fvcore', 'thop', 'ptflops', 'pytest', 'torch_tensorrt'):\n"
        "    sys.modules[m] = None\n"
    )
    code = (
        "import runpy, sys\n"
        "from bench.cli import build_parser\n"
        "build_parser()\n"  # imports every command module, as run_bench.py does
        "import bench.complexity, bench.roofline, bench.timing\n"
        "ns = runpy.run_path('scripts/gpu_timing.py')\n"
        "rec = {'model': 'eapnet-standard', 'backend': 'eager', 'precision': 'fp32', 'median_s': 0.1, 'p10_s': 0.09,"
        " 'p90_s': 0.11, 'cv': 0.01, 'runs': 30, 'status': 'ok', 'width': 1920, 'height': 1080,"
        " 'pad_from': '1900x1060', 'torch_version': '2.11', 'roofline_source': 'data sheet'}\n"
        "sys.stdout.write(ns['markdown']('NVIDIA Test GPU', [rec], None, ['a note']))\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{repo}"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    md = res.stdout
    assert md.startswith("# Inference time on NVIDIA Test GPU") and "padded from 1900x1060" in md
    assert "| eapnet-standard | eager | fp32 | 100.0 |" in md and "| 240.0 | ok |" in md and "- a note" in md
