"""``time --trace``: where one forward's time goes, per op type, beside where its MAccs are.

Op types (:data:`OP_TYPES`) split convs by what they cost per MAcc: dense (k x k), pointwise
(1x1), depthwise (one input channel per output channel), grouped, transposed, deformable; then
matmul/attention, interpolation (resize, ``grid_sample``), elementwise (activations, adds, muls...),
pooling, normalization, data movement (cat, pad, slice, layout changes) and other.

- MAccs: one meta pass (no memory, no arithmetic) priced by the complexity op rules
  (:mod:`bench.complexity.rules`, the ``true`` convention), each call classified from its shapes.
- Time: one forward after a warm-up, under ``torch.profiler`` for eager (each top-level aten op's
  total time; children, e.g. ``mkldnn_convolution`` inside ``conv2d``, are not counted twice), and
  under ONNX Runtime's own profiler (``enable_profiling``) for ``--backend onnxruntime``, whose
  node kernels are classified the same way (a ``FusedConv`` counts as a conv: the activation it
  absorbed costs no time of its own, which is the point of fusing).
- Floor: per op type, the roofline floor of that type's work done unfused: ``2 x MAccs`` at the
  device's peak rate, or its weights + inputs + outputs through memory once
  (:func:`bench.roofline.roofline_floor`, the device's calibration or data sheet).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bench.complexity.counting import build_meta_model
from bench.complexity.rules import bind_arguments, op_cost, rule_for
from bench.core.environment import device_name
from bench.roofline import device_ceilings, roofline_floor
from bench.timing.config import TimeConfig
from bench.timing.deploy_backends import export_for, ort_session
from bench.timing.inputs import build_model, make_inputs, pad_to_size

OP_TYPES = (
    "dense conv", "pointwise conv", "depthwise conv", "grouped conv", "transposed conv", "deformable conv",
    "matmul/attention", "interpolation", "elementwise", "pooling", "normalization", "data movement", "other",
)  # fmt: skip

# Op names (aten without the namespace, ONNX op types) -> op type; convs are split by their shapes.
_CONV = {"conv2d", "convolution", "_convolution", "conv3d", "conv", "fusedconv", "nchwcconv"}
_TRANSPOSED = {"conv_transpose2d", "convtranspose"}
_NAMES = {
    "deformable conv": {"deform_conv2d", "deformconv"},
    "matmul/attention": {"mm", "addmm", "bmm", "matmul", "linear", "baddbmm", "gemm", "fusedgemm", "softmax",
                         "_softmax", "scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                         "attention", "multiheadattention", "einsum"},
    "interpolation": {"upsample_bilinear2d", "upsample_nearest2d", "upsample_bicubic2d", "grid_sampler",
                      "grid_sampler_2d", "grid_sample", "resize", "upsample", "gridsample", "interpolate"},
    "pooling": {"avg_pool2d", "max_pool2d", "max_pool2d_with_indices", "adaptive_avg_pool2d",
                "_adaptive_avg_pool2d", "averagepool", "maxpool", "globalaveragepool", "nchwcmaxpool",
                "nchwcaveragepool", "nchwcglobalaveragepool"},
    "normalization": {"group_norm", "native_group_norm", "layer_norm", "native_layer_norm", "batch_norm",
                      "instancenormalization", "layernormalization", "groupnormalization", "batchnormalization"},
    "data movement": {"cat", "concat", "stack", "pad", "constant_pad_nd", "replication_pad2d", "reflection_pad2d",
                      "copy_", "clone", "contiguous", "slice", "split", "split_with_sizes", "unbind", "reshape",
                      "view", "permute", "transpose", "expand", "gather", "index", "index_select", "select",
                      "reorderinput", "reorderoutput", "squeeze", "unsqueeze", "flatten", "tile", "repeat",
                      "to", "_to_copy", "cast", "narrow", "chunk", "roll", "pixel_shuffle", "depthtospace",
                      "spacetodepth", "pixel_unshuffle", "identity", "shape", "constant", "empty_like", "zeros_like"},
}  # fmt: skip
_ELEMENTWISE = re.compile(
    r"^(add|sub|mul|div|rsub|neg|abs|exp|log|pow|sqrt|rsqrt|reciprocal|clamp|clamp_min|clamp_max|clip|relu|"
    r"leaky_relu|leakyrelu|sigmoid|tanh|gelu|elu|silu|hardtanh|prelu|where|mean|sum|amax|max|min|maximum|"
    r"minimum|lerp|erf|sign|round|floor|ceil|mish|softplus|fill|masked_fill|reducemean|reducesum|reducemax|"
    r"equal|greater|less|not|and|or|eq|ne|gt|lt|ge|le)_?$"
)


def conv_type(input_shape: list[int], weight_shape: list[int]) -> str:
    """dense / pointwise / depthwise / grouped, from the input ``[N, C, ...]`` and weight ``[O, C/g, kh, kw]``."""
    if len(input_shape) < 2 or len(weight_shape) < 3 or not weight_shape[1]:
        return "dense conv"
    channels, per_group = input_shape[1], weight_shape[1]
    groups = max(1, channels // per_group)
    if groups > 1:
        return "depthwise conv" if per_group == 1 else "grouped conv"
    taps = 1
    for k in weight_shape[2:]:
        taps *= k
    return "pointwise conv" if taps == 1 else "dense conv"


def op_type(name: str, shapes: list[list[int]] | None = None) -> str:
    """The op type of an aten op (``aten::conv2d`` or ``conv2d``) or an ONNX op (``Conv``), given its input shapes."""
    key = name.split("::")[-1].split(".")[0].lower()
    if key in _CONV:
        return conv_type(*(shapes or [[], []])[:2]) if shapes and len(shapes) >= 2 else "dense conv"
    if key in _TRANSPOSED:
        return "transposed conv"
    for kind, names in _NAMES.items():
        if key in names:
            return kind
    return "elementwise" if _ELEMENTWISE.match(key) else "other"


@dataclass
class OpTypeRow:
    """One op type of a trace: calls, MAccs and element traffic (meta pass), seconds (profiler), floor."""

    op_type: str
    calls: int = 0
    maccs: int = 0
    elements: int = 0  # weights + inputs + outputs of its calls, unfused
    time_s: float = 0.0
    floor_s: float | None = None


@dataclass
class Trace:
    """A per-op-type breakdown of one forward on one backend."""

    model: str
    backend: str
    profiler: str
    device_name: str
    rows: list[OpTypeRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model, "backend": self.backend, "profiler": self.profiler,
            "device_name": self.device_name, "notes": self.notes,
            "rows": [row.__dict__ for row in self.rows],
        }  # fmt: skip


class MaccsByType(TorchDispatchMode):
    """Prices every aten op of a meta pass (complexity rules) and adds it to its op type."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, OpTypeRow] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)]
        shapes = [list(t.shape) for t in tensors]
        kind = op_type(name, shapes)
        if name in ("detach", "alias", "lift_fresh") or func._schema.returns[0].alias_info is not None:
            return out  # a view moves nothing
        bound = bind_arguments(func, args, kwargs) if rule_for(func) is not None else None
        cost = op_cost(func, bound, out)
        row = self.rows.setdefault(kind, OpTypeRow(kind))
        row.calls += 1
        row.maccs += cost.maccs if cost is not None else 0
        outputs = [t for t in tree_leaves(out) if isinstance(t, Tensor)]
        row.elements += sum(t.numel() for t in tensors) + sum(t.numel() for t in outputs)
        return out


def maccs_by_type(model: str | nn.Module, width: int, height: int, batch: int = 1) -> dict[str, OpTypeRow]:
    """MAccs, calls and element traffic per op type of one forward, from a meta pass."""
    module = build_meta_model(model) if isinstance(model, str) else model
    if not isinstance(model, str):
        module = module.to("meta")
    inputs = (
        torch.empty(batch, 3, 3, height, width, device="meta"),
        torch.empty(batch, 3, device="meta"),
    )
    mode = MaccsByType()
    with torch.no_grad(), mode:
        module(*inputs)
    return mode.rows


def torch_profile(
    fn: Any, example: tuple[Tensor, Tensor], device: torch.device
) -> dict[str, tuple[int, float]]:
    """``{op type: (calls, seconds)}`` of one call of ``fn`` under torch.profiler (top-level aten ops)."""
    from torch.profiler import ProfilerActivity, profile  # only for a trace: the profiler is heavy

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.no_grad():
        fn(*example)  # warm-up: first-call costs (allocation, kernel choice) are not the op's
        with profile(activities=activities, record_shapes=True) as prof:
            fn(*example)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for evt in prof.events():
        parent = evt.cpu_parent
        if not evt.name.startswith("aten::") or (parent is not None and parent.name.startswith("aten::")):
            continue
        micros = evt.device_time_total if device.type == "cuda" else evt.cpu_time_total
        row = totals[op_type(evt.name, [list(s) for s in evt.input_shapes])]
        row[0] += 1
        row[1] += micros * 1e-6
    return {k: (n, s) for k, (n, s) in totals.items()}


def onnxruntime_profile(session_factory: Any, feed: dict[str, Any]) -> dict[str, tuple[int, float]]:
    """``{op type: (calls, seconds)}`` of one run under ONNX Runtime's profiler (node kernel times)."""
    session = session_factory(profiling=True)
    session.run(None, feed)  # warm-up, also profiled: only the last run's events are used
    session.run(None, feed)
    path = Path(session.end_profiling())
    try:
        events = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    nodes = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    last_run = [e for e in events if e.get("name") == "model_run"][-1:]
    if last_run:
        start = last_run[0]["ts"]
        nodes = [e for e in nodes if e["ts"] >= start]
    totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for e in nodes:
        args = e.get("args", {})
        shapes = [next(iter(d.values()), []) for d in args.get("input_type_shape", []) if isinstance(d, dict)]
        row = totals[op_type(str(args.get("op_name", "")), shapes)]
        row[0] += 1
        row[1] += float(e.get("dur", 0)) * 1e-6
    return {k: (n, s) for k, (n, s) in totals.items()}


def build_trace(
    model: str,
    backend: str,
    profiler: str,
    device: torch.device,
    precision: str,
    maccs: dict[str, OpTypeRow],
    times: dict[str, tuple[int, float]],
    bytes_per_element: int = 4,
) -> Trace:
    """Join MAccs and times per op type and add each type's roofline floor."""
    name = device_name(device)
    ceilings = device_ceilings(name, precision, tf32=False)
    trace = Trace(model, backend, profiler, name)
    for kind in OP_TYPES:
        counted = maccs.get(kind)
        calls, seconds = times.get(kind, (0, 0.0))
        if counted is None and not seconds:
            continue
        row = OpTypeRow(
            kind, calls, counted.maccs if counted else 0, counted.elements if counted else 0, seconds
        )
        if counted is not None:
            # roofline_floor counts (params + activations) x bytes: here the type's whole traffic.
            floor = roofline_floor(
                row.maccs, 0, row.elements, precision, ceilings["peak_flops"], ceilings["bandwidth_Bps"]
            )
            row.floor_s = floor["floor_s"]
        trace.rows.append(row)
    if ceilings["peak_flops"] is None:
        trace.notes.append(f"no roofline ceilings for {name}: run `run_bench.py calibrate` for the floors")
    return trace


def format_trace(trace: Trace) -> str:
    """The trace as a table: calls, MAccs share, time share, ms, floor ms and floor / time per op type."""
    from bench.core.tables import format_table  # the CLI's table helper, only when printing

    total_maccs = sum(r.maccs for r in trace.rows) or 1
    total_s = sum(r.time_s for r in trace.rows) or 1e-30
    rows = [
        [
            r.op_type, str(r.calls), f"{r.maccs / total_maccs:.1%}", f"{r.time_s / total_s:.1%}",
            f"{r.time_s * 1e3:.2f}", "-" if r.floor_s is None else f"{r.floor_s * 1e3:.2f}",
            "-" if not (r.floor_s and r.time_s) else f"{r.floor_s / r.time_s:.1%}",
        ]
        for r in trace.rows
    ]  # fmt: skip
    head = f"trace: {trace.model} | {trace.backend} ({trace.profiler}) | {trace.device_name} | {total_s * 1e3:.1f} ms traced"
    table = format_table(
        ["op type", "calls", "MAccs share", "time share", "time ms", "floor ms", "of floor"],
        rows,
        align="lrrrrrr",
    )
    return "\n".join([head, table, *[f"note: {n}" for n in trace.notes]])


def trace_model(model: str | nn.Module, config: TimeConfig) -> list[Trace]:
    """The traces of one forward of ``model`` in ``config``: eager's always, ONNX Runtime's with that backend.

    Other backends have no per-op profiler here; their line says so and eager's trace stands in.
    """
    dev = config.torch_device
    if dev.type == "cpu" and config.threads:
        torch.set_num_threads(config.threads)
    label = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    width, height = config.size
    src_w, src_h = config.source_size
    ldrs, ev = make_inputs(src_w, src_h, config.batch, config.scene)
    x = (pad_to_size(ldrs, width, height).to(dev, config.dtype), ev.to(dev, config.dtype))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same weights as the timing: its cached export is found
        net = build_model(model, config.weights, dev).to(config.dtype)
    maccs = maccs_by_type(model if isinstance(model, str) else net, width, height, config.batch)
    traces = [
        build_trace(
            label, "eager", "torch.profiler", dev, config.precision, maccs, torch_profile(net, x, dev)
        )
    ]
    if config.backend == "onnxruntime" and dev.type == "cpu":
        export = export_for(net, x, config.precision)
        feed = {"ldrs": x[0].cpu().numpy(), "ev": x[1].cpu().numpy()}

        def factory(profiling: bool) -> Any:
            return ort_session("onnxruntime", export, config, config.threads, profiling=profiling)

        present = {i.name for i in factory(False).get_inputs()}
        times = onnxruntime_profile(factory, {k: v for k, v in feed.items() if k in present})
        traces.append(
            build_trace(label, "onnxruntime", "onnxruntime profiler", dev, config.precision, maccs, times)
        )
    elif config.backend != "eager":
        traces[0].notes.append(f"{config.backend} has no per-op profiler here: eager's breakdown is shown")
    return traces
