"""Cross-check: run the counting tools on a model at a small size and explain every gap by op type."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from bench.complexity.counting import build_meta_model, count, hdr_input_shapes
from bench.complexity.crosscheck.tools import COUNTING_TOOLS, CountingTool, ToolTotals
from models.registry import create_model


def real_inputs(width: int, height: int) -> tuple[Tensor, Tensor]:
    """Random LDR frames ``[1, 3, 3, H, W]`` and the EVs ``[[-2, 0, 2]]``: the tools need real tensors."""
    ldrs = torch.rand(1, 3, 3, height, width)
    ev = torch.tensor([[-2.0, 0.0, 2.0]])
    return ldrs, ev


def run_tool(tool: str | CountingTool, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
    """One counting tool on real (small) inputs, its printed tables and warnings silenced."""
    adapter = COUNTING_TOOLS.get(tool) if isinstance(tool, str) else tool
    # The tools print tables and deprecation warnings of their own; only their totals matter here.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return adapter.run(model, inputs)


def _tool_row(adapter: CountingTool, module: nn.Module, inputs: tuple[Tensor, ...], parts: dict) -> dict:
    if not adapter.available():
        return {"tool": adapter.name, "error": f"not installed ({adapter.module})"}
    try:
        got = run_tool(adapter, module, inputs)
    except ImportError as exc:
        return {"tool": adapter.name, "error": f"not installed ({exc.name})"}
    except Exception as exc:  # a third-party tool failing on a model is a result, not a crash
        return {"tool": adapter.name, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:200]}
    expected, terms = adapter.explain(parts)
    row = {
        "tool": adapter.name,
        "maccs": got.maccs,
        "params": got.params,
        "expected": expected,
        "residual": got.maccs - expected,
        "terms": [asdict(t) for t in terms],
        "misses": adapter.misses,
    }
    if got.by_op is not None:
        row["by_op"] = got.by_op
    return row


def tool_parts(counts: dict[str, Any]) -> dict[str, int]:
    """The op-type parts of a :func:`count` result, plus what torchinfo counts beyond conv modules."""
    parts = dict(counts["parts"])
    # What torchinfo counts beyond conv modules: layers with weights that are not convs (norms, linear...).
    parts["other_param_layers"] = counts["maccs_ntire"] - (
        parts.get("conv_module", 0) + parts.get("conv_bias", 0) + parts.get("transposed_extra", 0)
    )
    return parts


def emulate(model: str | nn.Module, width: int, height: int, tool: str) -> int:
    """What ``tool`` would print for ``model`` at ``width`` x ``height``, from one meta pass (no real tensors).

    The tool's rules (:attr:`CountingTool.rules`) applied to our op-type parts: the same rebuilt
    total that :func:`cross_check` compares with the real tool's output at small sizes.
    """
    module = build_meta_model(model) if isinstance(model, str) else model
    return COUNTING_TOOLS.get(tool).explain(tool_parts(count(module, hdr_input_shapes(width, height))))[0]


def cross_check(
    model: str | nn.Module, width: int = 64, height: int = 64, tools: Sequence[str] | None = None
) -> dict[str, Any]:
    """Run the counting tools (all registered ones unless ``tools``) on ``model`` next to our two conventions.

    Returns ``{model, width, height, ours: {ntire, true, conv, ...}, parts, tools: [{tool, maccs,
    params, expected, residual, terms, misses}]}``: ``expected`` is what the tool should print
    according to its rules applied to our per-op totals, ``terms`` explains the gap to our conv MAccs
    and ``residual = maccs - expected`` is what those rules leave unexplained (0 when they hold). A
    tool that is not installed or fails gives ``{tool, error}``. An unknown tool name is a UsageError.
    """
    adapters = [COUNTING_TOOLS.get(t) for t in (COUNTING_TOOLS.names() if tools is None else tools)]
    name = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    module = (create_model(model) if isinstance(model, str) else model).eval()
    c = count(module, hdr_input_shapes(width, height))
    parts = tool_parts(c)
    conv_core = parts.get("conv_module", 0)
    inputs = real_inputs(width, height)
    return {
        "model": name,
        "width": width,
        "height": height,
        "ours": {
            "ntire": c["maccs_ntire"],
            "true": c["maccs_true"],
            "conv": conv_core + parts.get("conv_functional", 0),
            "conv_module": conv_core,
            "elementwise": c["maccs_elementwise"],
            "params_ntire": c["params_ntire"],
            "params_total": c["params_total"],
        },
        "parts": parts,
        "tools": [_tool_row(a, module, inputs, parts) for a in adapters],
    }
