"""Deployment backends (ONNX Runtime, OpenVINO): numerics, cached export, missing packages, blocking ops, main job."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.core import UsageError
from bench.timing import BACKENDS, TimeConfig, blocking_op, deploy_backends, onnx_export, support, time_model

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")
pytest.importorskip("onnxscript")

TINY = {"size": (64, 64), "warmup": 0, "repeat": 2, "memory": False, "noise_rounds": 1, "max_cv": 10.0}


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(autouse=True)
def isolated_cache(onnx_dir, monkeypatch):
    # One cache for the module: an export made by one test is found by the next (the weights are seeded).
    monkeypatch.setattr(onnx_export, "onnx_cache_dir", lambda: onnx_dir)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_backend_matches_eager_and_records_its_settings(backend):
    rec = time_model("eapnet-lightweight", backend=backend, threads=1, **TINY)
    assert rec["status"] == "ok", rec["warnings"]
    assert rec["rel_l2_error"] < 1e-4  # fp32 graph: rounding only
    assert rec["backend_threads"] == 1 == rec["threads"]
    assert rec["onnx_opset"] == onnx_export.OPSET and rec["compile_s"] > 0
    assert (
        ("CPUExecutionProvider" in rec["provider"])
        if backend == "onnxruntime"
        else ("float32" in rec["provider"])
    )
    assert rec["export_cached"] or rec["export_s"] > 0


def test_export_is_cached_by_weights(onnx_dir):
    rec = time_model("eapnet-lightweight", backend="onnxruntime", **TINY)
    again = time_model("eapnet-lightweight", backend="onnxruntime", **TINY)
    assert again["export_cached"] and again["export_s"] is None
    assert rec["status"] == again["status"] == "ok"
    # Other weights are another file: an export never runs weights the eager reference does not have.
    net = nn.Conv2d(3, 3, 1)
    example = (torch.rand(1, 3, 3, 8, 8), torch.rand(1, 3))
    key = onnx_export.export_key(net, example, "fp32")
    with torch.no_grad():
        net.weight.add_(1.0)
    assert onnx_export.export_key(net, example, "fp32") != key


class Tiny(nn.Module):
    """Two convs on the medium frame: exports in a second or two."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(8, 3, 1))

    def forward(self, ldrs, ev):
        return torch.sigmoid(self.body(ldrs[:, 1]))


class Scaled(nn.Module):
    """A deliberately wrong export: the model's output times 1.5."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ldrs, ev):
        return self.inner(ldrs, ev) * 1.5


def test_a_wrong_export_fails_the_numerics_check(monkeypatch):
    assert time_model(Tiny(), backend="onnxruntime", **TINY)["status"] == "ok"
    real = deploy_backends.export_for
    monkeypatch.setattr(
        deploy_backends, "export_for", lambda model, x, precision: real(Scaled(model), x, precision)
    )
    rec = time_model(Tiny(), backend="onnxruntime", **TINY)
    assert rec["status"] == "numerics-failed"
    assert rec["rel_l2_error"] > 0.1 and "exceeds the bound" in " ".join(rec["warnings"])


def test_a_missing_package_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    why = BACKENDS.get("onnxruntime").available()
    assert why is not None and "\n" not in why and "eapbench[deploy]" in why
    assert BACKENDS.get("openvino").available() is None  # the other backend is not affected
    with pytest.raises(UsageError, match="onnxruntime is not installed"):
        TimeConfig(backend="onnxruntime")
    assert deploy_backends.best_deploy_backend("cpu") == "openvino"
    code = main(
        ["time", "--models", "ref-frame", "--backend", "onnxruntime", "--size", "64x64", "--no-store"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "onnxruntime is not installed" in err[0]


def test_openvino_refuses_a_cuda_device():
    assert "does not run on cuda" in deploy_backends.deploy_problem("openvino", "cuda")


@torch.library.custom_op("eapbench_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@mystery.register_fake
def mystery_shape(x):
    return torch.empty_like(x)


class Mystery(nn.Module):
    """A model built on an op no exporter knows."""

    def forward(self, ldrs, ev):
        return mystery(ldrs[:, 1])


def test_a_model_that_does_not_export_names_the_op():
    with pytest.raises(onnx_export.ExportError) as info:
        time_model(Mystery(), backend="onnxruntime", **TINY)
    assert info.value.op == "eapbench_test.mystery" and "blocked by eapbench_test.mystery" in str(info.value)


@pytest.mark.parametrize(
    ("message", "op"),
    [
        (
            "ONNX export failed on an operator with unrecognized namespace torchvision::deform_conv2d.",
            "torchvision::deform_conv2d",
        ),
        (
            "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find an implementation for GridSample(20) node",
            "GridSample",
        ),
        (
            "-- Conv-19 with a message: ...\nSummary:\n-- No conversion rule found for operations: DeformConv-19",
            "DeformConv",
        ),
        ("something else went wrong", None),
    ],
)
def test_blocking_op_is_read_from_the_message(message, op):
    assert blocking_op(message) == op


def test_main_job_times_with_the_best_deployment_backend(tmp_path):
    from bench.jobs.mainjob import run_main_job  # the job module imports the report stack: only here
    from bench.report.runtime_plot import render_runtime_plot, runtime_series  # the report stack, as above
    from bench.report.selection import Measurements  # the report stack, as above
    from bench.results import ResultsStore  # with the job

    db = tmp_path / "r.sqlite"
    result = run_main_job(
        models="eapnet-lightweight",
        device="cpu",
        db=db,
        out=tmp_path / "out",
        quick=True,
        deploy=True,
        plots=False,
    )
    assert result["settings"]["deploy_backend"] == "openvino"
    with ResultsStore(db) as store:
        backends = {r["record"]["backend"] for r in store.query(kind="time")}
        meas = Measurements.from_store(store)
    assert backends == {"eager", "openvino"}
    # the report's runtime-by-backend plot: one panel (this CPU, 64x64), eager and openvino
    (panel,) = runtime_series(meas).values()
    assert set(panel) == {"eager", "openvino"} and [p["label"] for p in panel["openvino"]] == ["lightweight"]
    paths = render_runtime_plot(meas, tmp_path / "plot")
    assert [p.name for p in paths] == ["runtime_by_backend.png", "runtime_by_backend.svg"]
    table = (tmp_path / "out" / "table5.md").read_text()
    assert "Runtime backend" in table and "openvino" in table


def test_profile_says_which_backends_a_model_runs_on(tmp_path, capsys):
    out = tmp_path / "p.json"
    code = main([
        "profile", "--models", "exposure-merge", "--size", "64x64", "--no-store", "--backends",
        "onnxruntime,tensorrt", "--json", str(out),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0 and "backends (one forward" in printed
    (rec,) = json.loads(out.read_text())
    assert rec["backends"]["onnxruntime"] == "ok"
    assert rec["backends"]["tensorrt"].startswith("unavailable: tensorrt does not run on cpu")


def test_support_reports_the_blocking_op(monkeypatch):
    def blocked(*args, **kwargs):
        raise onnx_export.ExportError("ONNX export failed", "GridSample")

    monkeypatch.setattr(support, "time_model", blocked)
    result = support.backend_support("exposure-merge", "openvino")
    assert result.status == "blocked" and result.describe() == "blocked by GridSample"


def test_the_cache_key_holds_the_runtime_version():
    assert TimeConfig(backend="openvino").cache_settings()["runtime"].startswith("openvino ")
    assert TimeConfig(backend="onnxruntime").cache_settings()["runtime"].startswith("onnxruntime ")
    assert "runtime" not in TimeConfig().cache_settings()  # eager's key is what it was
