"""Model complexity with zero compute: MAccs, parameters, activations, conv calls and peak memory.

The model runs once on the ``meta`` device: every tensor has a shape and a dtype but no storage, so
counting at 1900x1060 (or 3840x2160) allocates no activation memory and does no arithmetic. Two
recorders watch that single pass:

* module hooks reproduce the NTIRE organizers' tool, torchinfo 1.6 (protocol section 3), rule for
  rule: the ``ntire`` convention, equal to ``torchinfo.summary(...).total_mult_adds`` model by model;
* a ``TorchDispatchMode`` sees every aten op and prices it with one small formula per op from
  :data:`OP_RULES`: the ``true`` convention (real multiply-accumulates; elementwise work in its own
  column), plus activations, conv calls and the liveness of every intermediate tensor.

Everything returns plain dicts (JSON-able) so that the report and compare commands can reuse them.
To price a new op, add a function to :data:`OP_RULES`; ops that no rule covers are listed in the
record's ``uncounted_ops`` instead of being silently priced at zero.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bench.core import UsageError

CONVENTIONS = ("ntire", "true")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def hdr_input_shapes(width: int, height: int, batch: int = 1) -> list[tuple[int, ...]]:
    """The model contract's inputs: LDR frames ``[B, 3, 3, H, W]`` and EVs ``[B, 3]``."""
    return [(batch, 3, 3, height, width), (batch, 3)]


# ---------------------------------------------------------------------------------------------
# The `true` convention: one formula per aten op
# ---------------------------------------------------------------------------------------------


@dataclass
class OpCost:
    """What one op call costs. ``kind`` groups ops for the conv total and the cross-check."""

    maccs: int = 0  # real multiply-accumulates (conv, matmul, interpolation, sampling)
    elementwise: int = 0  # one per element per pointwise op, bias add, pooling tap or reduced element
    kind: str = "other"  # conv | matmul | interp | elementwise | free


def _numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def _conv_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    x, w, bias, transposed = args[0], args[1], args[2], bool(args[6])
    # A conv computes every weight element once per output position; a transposed conv scatters
    # every weight element once per *input* position (that is why counting it on its output, as
    # torchinfo does, overcounts by stride^2).
    positions = x.shape[0] * _numel(x.shape[2:] if transposed else out.shape[2:])
    return OpCost(positions * w.numel(), out.numel() if bias is not None else 0, "conv")


def _deform_conv_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    # torchvision::deform_conv2d(input, weight, offset, mask, bias, sh, sw, ph, pw, dh, dw, groups, offset_groups, use_mask)
    x, w, bias, use_mask = args[0], args[1], args[4], bool(args[13])
    n, c_in = x.shape[0], x.shape[1]
    taps = n * c_in * _numel(w.shape[2:]) * _numel(out.shape[2:])  # sampled input values
    conv = n * _numel(out.shape[2:]) * w.numel()
    # Each sampled value is a bilinear blend of 4 neighbours (4 MAccs); a mask scales it once more.
    sampling = taps * (4 + (1 if use_mask else 0))
    return OpCost(conv + sampling, out.numel() if bias is not None and bias.numel() else 0, "conv")


def _per_output(maccs_per_element: int, kind: str = "interp") -> Callable[[Sequence[Any], Tensor], OpCost]:
    return lambda args, out: OpCost(maccs_per_element * out.numel(), 0, kind)


def _grid_sample_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    per_element = {0: 4, 1: 0, 2: 16}.get(int(args[2]), 4)  # bilinear, nearest, bicubic neighbours
    return OpCost(per_element * out.numel(), 0, "interp")


def _mm_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    # mm/bmm(a, b) or addmm/baddbmm(bias, a, b, beta=, alpha=): the scalars may follow the
    # tensors (keyword arguments are appended to ``args``), so pick the operands by type.
    tensors = [t for t in args if isinstance(t, Tensor)]
    k = tensors[-2].shape[-1]
    bias_adds = out.numel() if len(tensors) == 3 else 0
    return OpCost(out.numel() * k, bias_adds, "matmul")


def _pool_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    kernel = args[1] if len(args) > 1 else [1]
    kernel = list(kernel) * (2 if len(kernel) == 1 else 1)
    return OpCost(0, out.numel() * _numel(kernel), "elementwise")


def _reduce_cost(args: Sequence[Any], out: Tensor) -> OpCost:
    return OpCost(0, args[0].numel(), "elementwise")


OP_RULES: dict[str, Callable[[Sequence[Any], Tensor], OpCost]] = {
    "convolution": _conv_cost,
    "deform_conv2d": _deform_conv_cost,
    "mm": _mm_cost,
    "addmm": _mm_cost,
    "bmm": _mm_cost,
    "baddbmm": _mm_cost,
    "upsample_bilinear2d": _per_output(4),
    "upsample_linear1d": _per_output(2),
    "upsample_trilinear3d": _per_output(8),
    "upsample_bicubic2d": _per_output(16),
    "_upsample_bilinear2d_aa": _per_output(4),
    "grid_sampler_2d": _grid_sample_cost,
    "avg_pool2d": _pool_cost,
    "max_pool2d_with_indices": _pool_cost,
    "avg_pool3d": _pool_cost,
    "_adaptive_avg_pool2d": _reduce_cost,
    "sum": _reduce_cost,
    "mean": _reduce_cost,
    "amax": _reduce_cost,
    "amin": _reduce_cost,
    "max": _reduce_cost,
    "min": _reduce_cost,
    "var": _reduce_cost,
    "_softmax": lambda args, out: OpCost(0, 3 * out.numel(), "elementwise"),  # exp, sum, divide
    # normalisation: subtract-and-scale per element (the statistics are a reduction, not priced here)
    "native_group_norm": lambda args, out: OpCost(0, 2 * args[0].numel(), "elementwise"),
    "native_layer_norm": lambda args, out: OpCost(0, 2 * args[0].numel(), "elementwise"),
    "native_batch_norm": lambda args, out: OpCost(0, 2 * args[0].numel(), "elementwise"),
    "_native_batch_norm_legit_no_training": lambda args, out: OpCost(0, 2 * args[0].numel(), "elementwise"),
}

# Ops that only move or create data: free in both conventions.
FREE_OPS = frozenset(
    """cat stack clone copy_ _to_copy copy contiguous pad constant_pad_nd replication_pad1d replication_pad2d
    replication_pad3d reflection_pad1d reflection_pad2d reflection_pad3d pixel_shuffle pixel_unshuffle flip roll
    empty empty_like empty_strided zeros zeros_like ones ones_like full full_like fill_ zero_ new_empty new_zeros
    new_ones new_full scalar_tensor lift_fresh arange _unsafe_view index_select gather repeat index
    upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact2d detach _cuda_version
    """.split()
)


_ACTIVATION_OPS = frozenset(
    {"relu", "leaky_relu", "hardtanh", "elu", "gelu", "prelu", "_prelu_kernel", "silu"}
)
_ACTIVATION_MODULES = frozenset({"ReLU", "LeakyReLU", "PReLU", "ELU", "ReLU6", "GELU"})
# Activations that ptflops prices when called as functions (it patches F.relu & co., not F.leaky_relu).
_PATCHED_ACTIVATIONS = frozenset({"relu", "elu", "gelu", "prelu", "_prelu_kernel", "silu"})
# normalisation ops -> index of their weight argument (None when not affine)
_NORM_OPS = {"native_group_norm": 1, "native_layer_norm": 2, "_native_batch_norm_legit_no_training": 1}
_POOL_OPS = frozenset({"avg_pool2d", "max_pool2d_with_indices", "avg_pool3d", "_adaptive_avg_pool2d"})


def op_cost(func: Any, args: Sequence[Any], out: Any) -> OpCost | None:
    """Price one aten op call; ``None`` when no rule covers it."""
    name = func.overloadpacket.__name__
    first = out[0] if isinstance(out, (tuple, list)) else out
    if name in OP_RULES:
        return OP_RULES[name](args, first)
    if func.is_view or name in FREE_OPS:
        return OpCost(kind="free")
    if torch.Tag.pointwise in func.tags and isinstance(first, Tensor):
        return OpCost(0, first.numel(), "elementwise")
    return None


# Output-shape shortcuts for the few ops whose meta kernels are written in Python and slow
# (~0.5 ms for leaky_relu, ~7 ms for bilinear upsampling per call); tests check them against the
# real meta kernels.
def _same_as_input(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    return torch.empty_like(x)


def _upsample_shape(x: Tensor, output_size: Sequence[int] | None, *args: Any, **kwargs: Any) -> Tensor:
    if output_size is None:  # the .vec overload with scale factors
        scales = args[1]
        output_size = [math.floor(n * f) for n, f in zip(x.shape[2:], scales, strict=True)]
    fmt = (
        torch.channels_last
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        else torch.contiguous_format
    )
    return torch.empty((*x.shape[:2], *output_size), dtype=x.dtype, device=x.device, memory_format=fmt)


SHAPE_RULES: dict[Any, Callable[..., Tensor]] = {
    torch.ops.aten.leaky_relu.default: _same_as_input,
    torch.ops.aten.upsample_bilinear2d.default: _upsample_shape,
    torch.ops.aten.upsample_bilinear2d.vec: _upsample_shape,
}


# ---------------------------------------------------------------------------------------------
# The `ntire` convention: torchinfo 1.6's rules, reproduced on module hooks
# ---------------------------------------------------------------------------------------------

# torchinfo 1.6 records these containers when it walks the model, not when they run.
_TI_WRAPPERS = (nn.ParameterList, nn.ModuleList)


def _ti_prod(values: Any) -> int:
    result = 1
    for v in values:
        result *= _ti_prod(v) if isinstance(v, (list, tuple, torch.Size)) else int(v)
    return result


def _ti_output_size(out: Any) -> list:
    """torchinfo's shape of a module output: a tensor's shape, a sequence's first tensor, a dict's last."""
    if isinstance(out, Tensor):
        return list(out.shape)
    if isinstance(out, dict) and out:
        return list(list(out.values())[-1].shape)
    if isinstance(out, (list, tuple)) and out:
        return _ti_output_size(out[0]) if not isinstance(out[0], Tensor) else list(out[0].shape)
    return []


@dataclass
class _TILayer:
    """One row of torchinfo's summary list."""

    module: nn.Module
    path: str
    leaf: bool
    executed: bool = False
    recursive: bool = False
    macs: int = 0
    params: int = 0

    @property
    def class_name(self) -> str:
        return type(self.module).__name__

    def count_params(self) -> None:
        self.params = sum(p.numel() for p in self.module.parameters() if not _is_lazy(p))

    def count_macs(self, out: Any) -> None:
        size = _ti_output_size(out)
        for name, p in self.module.named_parameters():
            n = p.numel()
            if name in ("weight", "bias"):
                # Every module whose class name says Conv, transposed and deformable too: parameter
                # elements x batch x output spatial size (the bias included).
                if "Conv" in self.class_name:
                    self.macs += n * _ti_prod(size[:1] + size[2:])
                else:
                    self.macs += size[0] * n if size else 0
            elif "weight" in name or "bias" in name:  # e.g. RNN weight_ih_l0
                self.macs += _ti_prod(size[:2]) * n


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _is_lazy(p: Tensor) -> bool:
    return isinstance(p, nn.parameter.UninitializedParameter)


class _TorchinfoRecorder:
    """Builds torchinfo 1.6's summary list from module hooks, including its two quirks:

    * a shared module counts MAccs at every call but parameters once (the ``recursive`` flag);
    * after the pass torchinfo re-inserts never-executed modules, but only when some class name
      among them never ran at all (it matches the two lists of class names with difflib); their
      parameters then count, with zero MAccs.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.summary: list[_TILayer] = []
        self.in_summary: set[int] = set()  # ids of modules with a row (for the recursive flag)
        self.all_layers: list[_TILayer] = []
        self.pending: dict[int, list[_TILayer]] = defaultdict(list)
        self.hooked: dict[int, tuple[str, bool]] = {}  # module id -> (path, leaf), like its hooks
        self._walk(model, type(model).__name__, is_root=True)

    def _walk(self, module: nn.Module, path: str, is_root: bool = False) -> None:
        leaf = not module._modules
        self.all_layers.append(_TILayer(module, path, leaf))
        if not is_root or isinstance(module, nn.MultiheadAttention) or leaf:
            if isinstance(module, _TI_WRAPPERS):
                self._append(module, path, leaf)
            else:
                self.hooked.setdefault(id(module), (path, leaf))
        for name, child in module._modules.items():  # not deduplicated, exactly as torchinfo walks
            if child is not None:
                self._walk(child, f"{path}.{name}" if not is_root else name)

    def _append(self, module: nn.Module, path: str, leaf: bool) -> _TILayer:
        layer = _TILayer(module, path, leaf)
        layer.count_params()
        layer.recursive = id(module) in self.in_summary and _has_params(module)
        self.summary.append(layer)
        self.in_summary.add(id(module))
        return layer

    def pre(self, module: nn.Module) -> None:
        if id(module) in self.hooked:
            self.pending[id(module)].append(self._append(module, *self.hooked[id(module)]))

    def post(self, module: nn.Module, out: Any) -> None:
        if id(module) in self.hooked:
            layer = self.pending[id(module)].pop()
            layer.executed = True
            layer.count_macs(out)

    def finish(self) -> list[_TILayer]:
        rows = self.summary
        if not rows or rows[0].path != type(self.model).__name__:
            rows.insert(0, _TILayer(self.model, "", False))
        a = [r.class_name for r in rows]
        b = [r.class_name for r in self.all_layers]
        if set(b) - set(a):
            for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
                if tag == "insert":
                    for i, layer in enumerate(self.all_layers[j1:j2]):
                        layer.count_params()
                        layer.recursive = id(layer.module) in self.in_summary and _has_params(layer.module)
                        rows.insert(j1 + i, layer)
                        self.in_summary.add(id(layer.module))
        return rows


# ---------------------------------------------------------------------------------------------
# The op recorder (true convention, activations, liveness)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Storage:
    nbytes: int
    first: int
    last: int


class _OpRecorder(TorchDispatchMode):
    """Prices every aten op and tracks when each intermediate storage is first written and last read."""

    def __init__(self, conv_module_paths: set[str], classes: dict[str, str]) -> None:
        super().__init__()
        self.classes = classes  # module path -> class name
        self.module_stack = [""]  # module paths, innermost last (kept by module hooks)
        self.conv_module_paths = conv_module_paths  # leaf modules whose class name says Conv
        self.step = 0
        self.maccs = self.elementwise = self.conv_calls = self.activations = 0
        self.by_op: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.by_module: dict[str, int] = defaultdict(int)
        self.uncounted: dict[str, int] = defaultdict(int)
        self.storages: dict[int, _Storage] = {}
        self.resident: set[int] = set()  # weights and inputs: present for the whole pass
        self.touched: set[int] = set()  # storages some op read (for executed parameters)
        self.keep: list[Tensor] = []  # keeps storages alive so that their ids stay unique
        # Op-type totals that explain how other profilers differ (see cross_check).
        self.parts: dict[str, int] = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shape_rule = SHAPE_RULES.get(func)
        out = shape_rule(*args, **kwargs) if shape_rule is not None else func(*args, **kwargs)
        self.step += 1
        for t in tree_leaves((args, kwargs)):
            if isinstance(t, Tensor):
                key = _storage_key(t)
                self.touched.add(key)
                if key in self.storages:
                    self.storages[key].last = self.step
        aliased = any(r.alias_info is not None for r in func._schema.returns)
        for t in tree_leaves(out):
            if isinstance(t, Tensor) and not aliased:
                key = _storage_key(t)
                if key not in self.storages and key not in self.resident:
                    self.storages[key] = _Storage(t.untyped_storage().nbytes(), self.step, self.step)
                    self.keep.append(t)
        name = func.overloadpacket.__name__
        cost = op_cost(func, list(args) + list(kwargs.values()), out)
        row = self.by_op[name]
        row["calls"] += 1
        if cost is None:
            self.uncounted[name] += 1
            return out
        row["maccs"] += cost.maccs
        row["elementwise"] += cost.elementwise
        self.maccs += cost.maccs
        self.elementwise += cost.elementwise
        self.by_module[self.module_stack[-1]] += cost.maccs
        if cost.kind == "conv":
            self.conv_calls += 1
            self.activations += (out[0] if isinstance(out, (tuple, list)) else out).numel()
        self._explain(name, args, out, cost)
        return out

    def _explain(self, name: str, args: Sequence[Any], out: Any, cost: OpCost) -> None:
        first = out[0] if isinstance(out, (tuple, list)) else out
        inside = self.classes.get(self.module_stack[-1], "")
        if cost.kind == "conv":
            linear = cost.maccs
            if name == "deform_conv2d":
                # Split the deformable conv into its conv (what torchinfo and ptflops price like any
                # conv) and its sampling, which every tool prices differently or not at all.
                x, w, use_mask = args[0], args[1], bool(args[13])
                positions = x.shape[0] * _numel(first.shape[2:])
                linear = positions * w.numel()
                self.parts["deform_conv"] += linear
                self.parts["deform_sampling"] += cost.maccs - linear
                self.parts["deform_ptflops_extra"] += positions * _numel(w.shape[2:]) * (24 + use_mask)
            if self.module_stack[-1] in self.conv_module_paths:
                self.parts["conv_module"] += linear
                self.parts["conv_bias"] += cost.elementwise
                if name == "convolution" and bool(args[6]):  # transposed: torchinfo prices it on its output
                    x, w = args[0], args[1]
                    self.parts["transposed_extra"] += (
                        x.shape[0] * w.numel() * (_numel(first.shape[2:]) - _numel(x.shape[2:]))
                    )
            else:
                self.parts["conv_functional"] += linear
        elif cost.kind == "interp":
            self.parts["interp_maccs"] += cost.maccs
            self.parts["interp_outputs"] += first.numel()
        elif name.rstrip("_") in _ACTIVATION_OPS:
            if inside in _ACTIVATION_MODULES:
                self.parts["act_module"] += first.numel()
            if name.rstrip("_") in _PATCHED_ACTIVATIONS:  # also inside a module: nn.ReLU calls F.relu
                self.parts["act_functional"] += first.numel()
        elif name in _POOL_OPS:
            self.parts["pool_inputs"] += args[0].numel()
        elif name in _NORM_OPS:
            n, affine = args[0].numel(), args[_NORM_OPS[name]] is not None
            batch_norm = "batch_norm" in name
            self.parts["norm_fvcore"] += n * ((2 if affine else 1) if batch_norm else (5 if affine else 4))
            self.parts["norm_ptflops"] += n * (2 if affine else 1)
            self.parts["norm_thop"] += n * (4 if affine else 2)

    def peak_activation_bytes(self) -> int:
        """Peak of the bytes alive at once if every intermediate is freed after its last read."""
        delta: dict[int, int] = defaultdict(int)
        for s in self.storages.values():
            delta[s.first] += s.nbytes
            delta[s.last + 1] -= s.nbytes
        live = peak = 0
        for step in sorted(delta):
            live += delta[step]
            peak = max(peak, live)
        return peak


def _storage_key(t: Tensor) -> int:
    return t.untyped_storage()._cdata


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _meta_state(model: nn.Module, dtype: torch.dtype) -> dict[str, Tensor]:
    """Meta stand-ins for the model's parameters and buffers (tied tensors stay tied)."""
    by_id: dict[int, Tensor] = {}
    state = {}
    for name, t in [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]:
        if id(t) not in by_id:
            by_id[id(t)] = torch.empty(
                t.shape, dtype=dtype if t.is_floating_point() else t.dtype, device="meta"
            )
        state[name] = by_id[id(t)]
    return state


def build_meta_model(name: str) -> nn.Module:
    """Create a registered model on the meta device: no weight memory, no initialisation cost."""
    from models.registry import create_model

    with torch.device("meta"):
        model = create_model(name)
    return model.eval()


def count(
    model: nn.Module,
    input_shapes: Sequence[Sequence[int]],
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """Run ``model`` once on meta tensors of ``input_shapes`` and return every count (both conventions).

    The model's own weights are not touched: unless they already are meta tensors of ``dtype``, the
    pass swaps in meta tensors of the same shapes (``torch.func.functional_call``), so a model on the
    meta device and a trained one on a GPU count alike. Floating inputs and weights take ``dtype``
    (it matters only for the memory estimate).
    """
    modes = {m: m.training for m in model.modules()}  # restored afterwards: counting is read-only
    model.eval()
    named = list(model.named_modules())
    paths = {id(m): name for name, m in named}
    classes = {name: type(m).__name__ for name, m in named}
    tensors = [*model.parameters(), *model.buffers()]
    direct = all(t.is_meta and (t.dtype == dtype or not t.is_floating_point()) for t in tensors)
    state = dict([*model.named_parameters(), *model.named_buffers()]) if direct else _meta_state(model, dtype)
    inputs = [torch.empty(tuple(s), dtype=dtype, device="meta") for s in input_shapes]
    ti = _TorchinfoRecorder(model)
    conv_leaves = {name for name, m in named if "Conv" in classes[name] and not m._modules}
    rec = _OpRecorder(conv_leaves, classes)
    calls: dict[str, int] = defaultdict(int)

    # Global module hooks: two registrations instead of four per module.
    def pre(module: nn.Module, _inputs: Any) -> None:
        path = paths.get(id(module))
        if path is not None:
            calls[path] += 1
            rec.module_stack.append(path)
            ti.pre(module)

    def post(module: nn.Module, _inputs: Any, out: Any) -> None:
        if id(module) in paths:
            ti.post(module, out)
            rec.module_stack.pop()

    name_of_key: dict[int, str] = {}
    for name, t in state.items():  # the first name of a tied tensor, as named_parameters() gives it
        name_of_key.setdefault(_storage_key(t), name)
    rec.resident = set(name_of_key) | {_storage_key(x) for x in inputs}
    handles = [
        nn.modules.module.register_module_forward_pre_hook(pre),
        nn.modules.module.register_module_forward_hook(post),
    ]
    try:
        with torch.no_grad(), rec:
            if direct:
                out = model(*inputs)
            else:
                out = torch.func.functional_call(model, state, tuple(inputs), tie_weights=True, strict=False)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.training = training
    rows = ti.finish()
    for t in tree_leaves(out):  # the result lives on after the forward
        if isinstance(t, Tensor) and _storage_key(t) in rec.storages:
            rec.storages[_storage_key(t)].last = rec.step + 1

    # torchinfo totals: leaf rows only; a shared module's parameters once.
    ti_leaves = [r for r in rows if r.leaf]
    ntire_maccs = sum(r.macs for r in ti_leaves)
    ntire_params = sum(r.params for r in ti_leaves if not r.recursive)
    seen: set[int] = set()
    params_total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            params_total += p.numel()
    # Executed parameters in the true sense: those some op actually read (functional uses too).
    used_names = {name_of_key[k] for k in rec.touched if k in name_of_key}
    param_names = {n for n, _ in model.named_parameters()}
    params_used = sum(state[n].numel() for n in used_names & param_names)
    weight_bytes = sum(
        t.untyped_storage().nbytes() for t in {_storage_key(t): t for t in state.values()}.values()
    )
    input_bytes = sum(x.untyped_storage().nbytes() for x in inputs)

    ntire_by_module: dict[str, int] = defaultdict(int)
    ntire_by_class: dict[str, int] = defaultdict(int)
    ntire_params_by_module: dict[str, int] = defaultdict(int)
    for r in ti_leaves:
        path = paths.get(id(r.module), r.path)
        ntire_by_module[path] += r.macs
        ntire_by_class[r.class_name] += r.macs
        if not r.recursive:
            ntire_params_by_module[path] += r.params
    true_params_by_module: dict[str, int] = defaultdict(int)
    for name in used_names & param_names:
        true_params_by_module[name.rpartition(".")[0]] += state[name].numel()

    return {
        "maccs_ntire": ntire_maccs,
        "params_ntire": ntire_params,
        "maccs_true": rec.maccs,
        "maccs_elementwise": rec.elementwise,
        "params_used": params_used,
        "params_total": params_total,
        "activations": rec.activations,
        "conv_calls": rec.conv_calls,
        "parts": dict(rec.parts),
        "weight_bytes": weight_bytes,
        "input_bytes": input_bytes,
        "peak_activation_bytes": rec.peak_activation_bytes(),
        "by_op_true": {k: dict(v) for k, v in sorted(rec.by_op.items())},
        "by_class_ntire": dict(ntire_by_class),
        "uncounted_ops": dict(rec.uncounted),
        "_modules": {
            "paths": [p for p in paths.values()],
            "classes": classes,
            "calls": dict(calls),
            "maccs_ntire": dict(ntire_by_module),
            "maccs_true": dict(rec.by_module),
            "params_ntire": dict(ntire_params_by_module),
            "params_true": dict(true_params_by_module),
        },
    }


def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise UsageError(f"convention {convention!r} is not one of {', '.join(CONVENTIONS)}")


def profile(
    model: str | nn.Module,
    width: int,
    height: int,
    convention: str = "ntire",
    dtype: str = "float32",
    batch: int = 1,
    per_layer: bool = False,
    input_shapes: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """The profile record of one model at ``width`` x ``height``.

    Keys: ``model, width, height, convention, dtype, maccs, params, params_total, activations,
    conv_calls, peak_memory_bytes`` plus ``maccs_ntire, maccs_true, maccs_elementwise, by_op``
    (MAccs per module class for ntire, per aten op for true), ``uncounted_ops`` (aten ops no rule
    prices, with their call counts) and, with ``per_layer``, ``layers`` (see :func:`layer_tree`). ``maccs`` and ``params`` follow the
    convention: ``ntire`` gives torchinfo 1.6's numbers, ``true`` real multiply-accumulates (bias
    adds and other elementwise work in ``maccs_elementwise``) and the parameters some op read.
    """
    _check_convention(convention)
    if dtype not in DTYPES:
        raise UsageError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    name = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    module = build_meta_model(model) if isinstance(model, str) else model
    shapes = input_shapes or hdr_input_shapes(width, height, batch)
    c = count(module, shapes, DTYPES[dtype])
    ntire = convention == "ntire"
    record: dict[str, Any] = {
        "model": name,
        "width": width,
        "height": height,
        "convention": convention,
        "dtype": dtype,
        "batch": batch,
        "maccs": c["maccs_ntire"] if ntire else c["maccs_true"],
        "params": c["params_ntire"] if ntire else c["params_used"],
        "params_total": c["params_total"],
        "activations": c["activations"],
        "conv_calls": c["conv_calls"],
        # Weights + inputs + the largest set of intermediates alive at once: an estimate that
        # ignores allocator caching, fragmentation and library workspaces.
        "peak_memory_bytes": c["weight_bytes"] + c["input_bytes"] + c["peak_activation_bytes"],
        "maccs_ntire": c["maccs_ntire"],
        "maccs_true": c["maccs_true"],
        "maccs_elementwise": c["maccs_elementwise"],
        # ntire: MAccs per module class (torchinfo counts modules); true: per aten op
        "by_op": {k: v for k, v in c["by_class_ntire"].items() if v}
        if ntire
        else {k: v["maccs"] for k, v in c["by_op_true"].items() if v.get("maccs")},
        "uncounted_ops": c["uncounted_ops"],
    }
    if per_layer:
        record["layers"] = layer_tree(c, convention)
    return record


def layer_tree(counts: dict[str, Any], convention: str) -> list[dict[str, Any]]:
    """Per-module rows in model order: path, class, depth, calls, MAccs and params of the subtree, share."""
    mods = counts["_modules"]
    maccs, params = mods[f"maccs_{convention}"], mods[f"params_{convention}"]
    total = sum(maccs.values()) or 1

    def subtree(table: dict[str, int], path: str) -> int:
        if path == "":
            return sum(table.values())
        return sum(v for k, v in table.items() if k == path or k.startswith(path + "."))

    rows = []
    for path in mods["paths"]:
        m = subtree(maccs, path)
        rows.append(
            {
                "path": path,
                "class": mods["classes"][path],
                "depth": 0 if path == "" else path.count(".") + 1,
                "calls": mods["calls"].get(path, 0),
                "maccs": m,
                "params": subtree(params, path),
                "share": m / total,
            }
        )
    return rows


def profile_many(names: Iterable[str], width: int, height: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [profile(name, width, height, **kwargs) for name in names]


# ---------------------------------------------------------------------------------------------
# Cross-check against the usual profilers (real tensors: keep the size small)
# ---------------------------------------------------------------------------------------------

TOOLS = ("torchinfo", "fvcore", "thop", "ptflops")


def _real_inputs(width: int, height: int) -> tuple[Tensor, Tensor]:
    ldrs = torch.rand(1, 3, 3, height, width)
    ev = torch.tensor([[-2.0, 0.0, 2.0]])
    return ldrs, ev


def run_tool(tool: str, model: nn.Module, inputs: tuple[Tensor, ...]) -> dict[str, Any]:
    """One third-party profiler on real (small) inputs: ``{maccs, params}`` as that tool reports them."""
    # The tools print tables and deprecation warnings of their own; only their totals matter here.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if tool == "torchinfo":
            import torchinfo

            # device="cpu": left alone, torchinfo would move the model to a GPU when one exists
            s = torchinfo.summary(model, input_data=list(inputs), verbose=0, device="cpu")
            return {"maccs": int(s.total_mult_adds), "params": int(s.total_params)}
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            a = (
                FlopCountAnalysis(model, inputs)
                .unsupported_ops_warnings(False)
                .uncalled_modules_warnings(False)
            )
            by_op = {k: int(v) for k, v in a.by_operator().items()}
            return {"maccs": int(a.total()), "params": None, "by_op": by_op}
        if tool == "thop":
            from thop import profile as thop_profile

            macs, params = thop_profile(model, inputs=inputs, verbose=False)
            return {"maccs": int(macs), "params": int(params)}
        if tool == "ptflops":
            from ptflops import get_model_complexity_info

            macs, params = get_model_complexity_info(
                model,
                tuple(inputs[0].shape[1:]),
                input_constructor=lambda _shape: (
                    {"ldrs": inputs[0], "ev": inputs[1]} if len(inputs) == 2 else {}
                ),
                as_strings=False,
                print_per_layer_stat=False,
                verbose=False,
                backend="pytorch",
            )
            return {"maccs": int(macs), "params": int(params)}
    raise UsageError(f"unknown tool {tool!r}; one of {', '.join(TOOLS)}")


# How each tool's total follows from our op-type totals (``parts``), relative to our conv MAccs
# (every conv call, module or functional, without bias). Each entry: (part, sign, why). Learned from the tools' sources and
# checked by tests/test_complexity.py; a model that breaks a rule shows up as an unexplained residual.
TOOL_RULES: dict[str, list[tuple[str, int, str]]] = {
    "torchinfo": [
        ("conv_bias", +1, "counts conv bias (one add per output element)"),
        ("transposed_extra", +1, "prices transposed convs on their output size (stride^2 too high)"),
        ("conv_functional", -1, "misses functional convs (F.conv2d outside a Conv module)"),
        ("other_param_layers", +1, "counts batch x parameters for other layers with weights"),
    ],
    "fvcore": [
        ("deform_conv", -1, "does not know torchvision::deform_conv2d (counts it 0)"),
        ("interp_maccs", +1, "counts bilinear interpolation (4 per output element)"),
        (
            "norm_fvcore",
            +1,
            "counts normalisation layers (5 per element for group/layer norm, 2 for batch norm)",
        ),
    ],
    "thop": [
        ("conv_functional", -1, "misses functional convs (module hooks only)"),
        ("deform_conv", -1, "has no rule for torchvision's DeformConv2d (counts it 0)"),
        ("norm_thop", +1, "counts normalisation layers (2 per element, 4 when affine)"),
    ],
    "ptflops": [
        ("conv_functional", -1, "misses functional convs (module hooks only)"),
        ("conv_bias", +1, "counts conv bias (one add per output element)"),
        (
            "deform_ptflops_extra",
            +1,
            "adds 24 (25 with a mask) per kernel tap and output position of deformable convs",
        ),
        ("act_module", +1, "counts one op per element of activation modules (ReLU, LeakyReLU, ...)"),
        ("act_functional", +1, "counts F.relu & co. (not F.leaky_relu) per element, inside nn.ReLU again"),
        ("interp_outputs", +1, "counts one op per interpolated output element"),
        ("pool_inputs", +1, "counts one op per pooled input element"),
        ("norm_ptflops", +1, "counts normalisation layers (2 per element when affine)"),
    ],
}
TOOL_MISSES = {
    "fvcore": "skips elementwise ops (mul, add, sigmoid) and bias",
    "thop": "misses functional convs and F.interpolate; no bias",
    "ptflops": "misses functional convs; skips mul, add, sigmoid, F.leaky_relu",
    "torchinfo": "zero for every parameter-free op",
}


def _explain_tool(tool: str, parts: dict[str, int]) -> tuple[int, list[dict[str, Any]]]:
    """The total a tool should report given our op-type totals, and the terms that make it up."""
    expected = parts.get("conv_module", 0) + parts.get("conv_functional", 0)
    terms = []
    for part, sign, why in TOOL_RULES[tool]:
        value = sign * parts.get(part, 0)
        if value:
            expected += value
            terms.append({"part": part, "maccs": value, "why": why})
    return expected, terms


def cross_check(
    model: str | nn.Module, width: int = 64, height: int = 64, tools: Sequence[str] = TOOLS
) -> dict[str, Any]:
    """Run torchinfo, fvcore, thop and ptflops on ``model`` at a small size next to our two conventions.

    Returns ``{model, width, height, ours: {ntire, true, conv}, tools: [{tool, maccs, params,
    expected, residual, terms}]}``: ``expected`` is what the tool should print according to
    :data:`TOOL_RULES` applied to our per-op totals, ``terms`` explains the gap to our conv MAccs and
    ``residual = maccs - expected`` is what those rules leave unexplained (0 when they hold).
    """
    name = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    if isinstance(model, str):
        from models.registry import create_model

        module = create_model(model).eval()
    else:
        module = model.eval()
    c = count(module, hdr_input_shapes(width, height))
    parts = dict(c["parts"])
    conv_core = parts.get("conv_module", 0)
    # What torchinfo counts beyond conv modules: layers with weights that are not convs (norms, linear...).
    parts["other_param_layers"] = c["maccs_ntire"] - (
        conv_core + parts.get("conv_bias", 0) + parts.get("transposed_extra", 0)
    )
    inputs = _real_inputs(width, height)
    rows = []
    for tool in tools:
        try:
            got = run_tool(tool, module, inputs)
        except ImportError as exc:
            rows.append({"tool": tool, "error": f"not installed ({exc.name})"})
            continue
        except Exception as exc:  # a third-party tool failing on a model is a result, not a crash
            rows.append({"tool": tool, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:200]})
            continue
        expected, terms = _explain_tool(tool, parts)
        rows.append(
            {
                "tool": tool,
                "maccs": got["maccs"],
                "params": got["params"],
                "expected": expected,
                "residual": got["maccs"] - expected,
                "terms": terms,
                "misses": TOOL_MISSES[tool],
                **({"by_op": got["by_op"]} if "by_op" in got else {}),
            }
        )
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
        "tools": rows,
    }
