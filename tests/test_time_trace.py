"""``time --trace``: op types from shapes, MAccs per op type, eager and ONNX Runtime breakdowns."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bench import complexity
from bench.cli import main
from bench.timing import TimeConfig, onnx_export
from bench.timing.trace import OP_TYPES, build_trace, maccs_by_type, op_type, torch_profile, trace_model


@pytest.mark.parametrize(
    ("name", "shapes", "expected"),
    [
        ("aten::conv2d", [[1, 64, 8, 8], [64, 1, 3, 3]], "depthwise conv"),
        ("aten::conv2d", [[1, 64, 8, 8], [32, 64, 1, 1]], "pointwise conv"),
        ("aten::conv2d", [[1, 18, 8, 8], [64, 18, 3, 3]], "dense conv"),
        ("convolution", [[1, 64, 8, 8], [64, 16, 3, 3]], "grouped conv"),
        ("FusedConv", [[1, 64, 8, 8], [64, 64, 1, 1], [64]], "pointwise conv"),
        ("Conv", [[1, 18, 8, 8], [64, 18, 3, 3], [64]], "dense conv"),
        ("DeformConv", [], "deformable conv"),
        ("aten::upsample_bilinear2d", [], "interpolation"),
        ("GridSample", [], "interpolation"),
        ("Resize", [], "interpolation"),
        ("aten::leaky_relu", [], "elementwise"),
        ("Add", [], "elementwise"),
        ("aten::cat", [], "data movement"),
        ("ReorderInput", [], "data movement"),
        ("aten::bmm", [], "matmul/attention"),
        ("aten::mystery_op", [], "other"),
    ],
)
def test_op_type(name, shapes, expected):
    assert op_type(name, shapes) == expected and expected in OP_TYPES


def test_maccs_by_type_adds_up_to_the_profile():
    rows = maccs_by_type("eapnet-lightweight", 64, 64)
    total = complexity.profile("eapnet-lightweight", 64, 64, convention="true")["maccs"]
    assert sum(r.maccs for r in rows.values()) == total
    # EAPNet is built of depthwise-separable convs: both halves are there, pointwise with most MAccs.
    assert rows["depthwise conv"].calls > 0 and rows["pointwise conv"].maccs > rows["depthwise conv"].maccs


class DepthwiseSeparable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(9, 9, 3, padding=1, groups=9)
        self.pw = nn.Conv2d(9, 3, 1)

    def forward(self, ldrs, ev):
        return torch.relu(self.pw(self.dw(ldrs.flatten(1, 2))))


def test_torch_profile_sees_each_conv_once():
    model = DepthwiseSeparable().eval()
    x = (torch.rand(1, 3, 3, 16, 16), torch.zeros(1, 3))
    times = torch_profile(model, x, torch.device("cpu"))
    assert times["depthwise conv"][0] == 1 and times["pointwise conv"][0] == 1  # conv2d, not its children too
    trace = build_trace(
        "m", "eager", "torch.profiler", torch.device("cpu"), "fp32", maccs_by_type(model, 16, 16), times
    )
    kinds = {r.op_type: r for r in trace.rows}
    assert (
        kinds["pointwise conv"].maccs == 16 * 16 * 9 * 3 and kinds["depthwise conv"].maccs == 16 * 16 * 9 * 9
    )
    assert all(r.time_s >= 0 for r in trace.rows)


def test_time_trace_prints_eager_and_onnxruntime(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    monkeypatch.setattr(onnx_export, "onnx_cache_dir", lambda: tmp_path / "onnx")
    out = tmp_path / "t.json"
    code = main([
        "time", "--models", "exposure-merge", "--backend", "onnxruntime", "--size", "32x32", "--warmup", "0",
        "--repeat", "1", "--no-memory", "--no-store", "--trace", "--json", str(out),
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "exposure-merge | eager (torch.profiler)" in printed
    assert "onnxruntime (onnxruntime profiler)" in printed and "MAccs share" in printed
    traces = json.loads(out.read_text())[0]["trace"]
    assert [t["backend"] for t in traces] == ["eager", "onnxruntime"]
    assert all(t["rows"] for t in traces)


def test_a_backend_without_a_profiler_says_so():
    traces = trace_model("ref-frame", TimeConfig(backend="compile", size=(16, 16)))
    assert len(traces) == 1 and "no per-op profiler" in traces[0].notes[-1]
