"""The profiler's seams: op rules and counting tools added from outside ``bench/``.

The CLI tests write plugin files into ``tmp_path`` and run ``run_bench.py --plugin FILE profile ...`` in
a subprocess (the model they register is then gone with the process); the registry tests work in
process and restore what they replaced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from bench import complexity as cx

REPO = Path(__file__).resolve().parent.parent
W, H = 12, 8

# A registered model whose only ops are a bias-free conv (3 -> 3 channels of 9 inputs, 3x3) and a
# cumsum, an op no built-in rule prices.
MODEL_PLUGIN = '''
import torch
from torch import nn
from models.registry import register_model


class CumsumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(9, 3, 3, padding=1, bias=False)

    def forward(self, ldrs, ev):
        return torch.cumsum(self.conv(ldrs.flatten(1, 2)), dim=-1)


@register_model(name="plugin-cumsum")
def plugin_cumsum():
    """Conv + cumsum (test plugin)."""
    return CumsumNet()
'''

RULE_PLUGIN = """
import torch
from bench.complexity import OpCost, numel, register_op_rule


@register_op_rule(torch.ops.aten.cumsum)
def cumsum_rule(x_shape, dim, *rest, out_shape):
    return OpCost(maccs=7 * numel(out_shape), kind="other")
"""

TOOL_PLUGIN = """
from torch.utils.flop_counter import FlopCounterMode
from bench.complexity import CountingTool, ToolRule, ToolTotals, register_counting_tool


@register_counting_tool
class TorchFlopCounter(CountingTool):
    name = "plugin-flops"
    rules = (ToolRule("conv_bias", +1, "never adds anything here: the plugin model has no bias"),)
    misses = "prices convs and matmuls only"

    def run(self, model, inputs):
        with FlopCounterMode(display=False) as mode:
            model(*inputs)
        return ToolTotals(mode.get_total_flops() // 2, sum(p.numel() for p in model.parameters()))


@register_counting_tool
class NotInstalled(CountingTool):
    name = "plugin-missing"
    module = "no_such_module_for_eapbench_tests"
"""

CONV_MACCS = 3 * 9 * 3 * 3 * W * H  # output channels x weights per output x positions
CUMSUM_ELEMENTS = 3 * W * H


def _plugins(tmp_path: Path, **sources: str) -> list[str]:
    args = []
    for name, text in sources.items():
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        args += ["--plugin", str(path)]
    return args


def _run_bench(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "EAPBENCH_NO_PROGRESS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / "run_bench.py"), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _profile(tmp_path: Path, plugins: list[str], out: str) -> dict:
    res = _run_bench(
        tmp_path, *plugins, "profile", "--no-store", "--models", "plugin-cumsum", "--size", f"{W}x{H}",
        "--convention", "true", "--json", str(tmp_path / out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    (record,) = json.loads((tmp_path / out).read_text())
    return record


def test_plugin_op_rule_prices_an_uncounted_op(tmp_path):
    model_only = _plugins(tmp_path, model=MODEL_PLUGIN)
    before = _profile(tmp_path, model_only, "before.json")
    assert before["uncounted_ops"] == {"cumsum": 1}
    assert before["maccs"] == CONV_MACCS

    after = _profile(tmp_path, model_only + _plugins(tmp_path, rule=RULE_PLUGIN), "after.json")
    assert after["uncounted_ops"] == {}
    assert after["by_op"]["cumsum"] == 7 * CUMSUM_ELEMENTS
    assert after["maccs"] == CONV_MACCS + 7 * CUMSUM_ELEMENTS


def test_plugin_counting_tool_is_a_cross_check_choice(tmp_path):
    plugins = _plugins(tmp_path, model=MODEL_PLUGIN, tool=TOOL_PLUGIN)
    out = tmp_path / "x.json"
    res = _run_bench(
        tmp_path, *plugins, "profile", "--no-store", "--cross-check", "plugin-flops", "plugin-missing",
        "--models", "plugin-cumsum", "--size", f"{W}x{H}", "--json", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert "note: plugin-missing is not installed (no_such_module_for_eapbench_tests); skipped" in lines
    assert any(line.strip().startswith("plugin-flops") and "explained" in line for line in lines), res.stdout
    (result,) = json.loads(out.read_text())
    (row,) = result["tools"]  # the uninstalled tool is skipped, the built-in ones were not asked for
    assert row["tool"] == "plugin-flops" and row["misses"] == "prices convs and matmuls only"
    assert row["maccs"] == CONV_MACCS == row["expected"] and row["residual"] == 0
    assert row["params"] == 3 * 9 * 3 * 3

    # Without the plugin the name is not a choice: one line, exit 2.
    res = _run_bench(
        tmp_path, "profile", "--no-store", "--cross-check", "plugin-flops", "--models", "ref-frame"
    )
    assert res.returncode == 2 and "plugin-flops" in res.stderr and len(res.stderr.strip().splitlines()) == 1


# --- the registries, in process -----------------------------------------------------------------


@pytest.fixture
def restore_conv_rule():
    original = cx.OP_RULES.get("aten::convolution")
    yield
    cx.OP_RULES.add("aten::convolution", original, replace=True)


def test_replacing_a_rule_needs_replace_and_changes_the_count(restore_conv_rule):
    conv = nn.Conv2d(2, 4, 3, padding=1)
    shapes = [(1, 2, 5, 6)]
    before = cx.profile(conv, 6, 5, convention="true", input_shapes=shapes)
    assert before["maccs"] == 4 * 2 * 9 * 30

    def doubled(x_shape, w_shape, bias, *rest, out_shape):
        return cx.OpCost(2 * cx.numel(out_shape) * cx.numel(w_shape[1:]), 0, "conv")

    with pytest.raises(ValueError, match="already registered"):
        cx.register_op_rule(torch.ops.aten.convolution)(doubled)
    cx.register_op_rule(torch.ops.aten.convolution, replace=True)(doubled)
    after = cx.profile(conv, 6, 5, convention="true", input_shapes=shapes)
    assert after["maccs"] == 2 * before["maccs"] and after["maccs_elementwise"] == 0


def test_a_rule_that_cannot_take_the_schema_is_refused_at_registration():
    def too_few(x_shape, *, out_shape):
        return cx.OpCost()

    with pytest.raises(TypeError, match="aten::convolution"):
        cx.register_op_rule(torch.ops.aten.convolution, replace=True)(too_few)
    assert cx.OP_RULES.get("aten::convolution").formula is not too_few


def test_arguments_bound_by_schema_name_with_defaults():
    b, x, w = torch.empty(4), torch.empty(2, 8), torch.empty(8, 4)
    bound = cx.bind_arguments(torch.ops.aten.addmm.default, (b, x, w), {"beta": 0.5})
    assert list(bound) == ["self", "mat1", "mat2", "beta", "alpha"]
    assert bound["mat1"] is x and bound["beta"] == 0.5 and bound["alpha"] == 1
    conv = cx.bind_arguments(torch.ops.aten.convolution.out, (x, w, None), {"out": x})
    assert "out" not in conv and list(conv)[:3] == ["input", "weight", "bias"]


def test_an_overload_rule_wins_over_the_op_rule():
    @cx.register_op_rule(torch.ops.aten.sum.dim_IntList)
    def sum_dim_rule(x_shape, dim, keepdim, dtype, *, out_shape):
        return cx.OpCost(0, 100, "elementwise")

    class Sums(nn.Module):
        def forward(self, x):
            return x.sum(dim=1) + x.sum()

    try:
        rec = cx.profile(Sums(), 3, 2, convention="true", input_shapes=[(2, 3)])
        # sum.dim_IntList by the overload rule (100), sum.default by the op rule (6 inputs), the add (2)
        assert rec["maccs_elementwise"] == 100 + 6 + 2
    finally:
        cx.OP_RULES.remove("aten::sum.dim_IntList")


def test_counting_tool_registry_needs_replace_and_a_name():
    builtin = cx.COUNTING_TOOLS.get("thop")

    class Thop(cx.CountingTool):
        name = "thop"

    with pytest.raises(ValueError, match="already registered"):
        cx.register_counting_tool(Thop)

    class Nameless(cx.CountingTool):
        pass

    with pytest.raises(TypeError, match="name"):
        cx.register_counting_tool(Nameless)
    assert cx.COUNTING_TOOLS.get("thop") is builtin
    assert cx.COUNTING_TOOLS.names()[:4] == ["torchinfo", "fvcore", "thop", "ptflops"]
