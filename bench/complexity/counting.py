"""One meta pass, every count: :func:`count` runs a model once on meta tensors under both recorders.

The model runs on the ``meta`` device: every tensor has a shape and a dtype but no storage, so
counting at 1900x1060 (or 3840x2160) allocates no activation memory and does no arithmetic. Module
hooks feed the torchinfo emulation (:mod:`.ntire`) and keep the module stack of the op recorder
(:mod:`.recorder`), which sees every aten op.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils._pytree import tree_leaves

from bench.complexity.functions import FunctionRecorder, ptflops_view
from bench.complexity.ntire import TorchinfoRecorder
from bench.complexity.recorder import OpRecorder, storage_key
from models.registry import create_model

# Module types thop 2.x has a counting rule for (not zero_ops): a functional product run inside one
# is left to that rule, so thop does not count it (bench.complexity.functions).
THOP_RULED_TYPES: tuple[type, ...] = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.PReLU,
    nn.Softmax,
    nn.LogSoftmax,
    nn.Softmin,
    nn.Softmax2d,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.Linear,
    nn.Bilinear,
    nn.Upsample,
    nn.RNNBase,
    nn.modules.rnn.RNNCellBase,
    nn.MultiheadAttention,
    nn.Embedding,
)


def hdr_input_shapes(width: int, height: int, batch: int = 1) -> list[tuple[int, ...]]:
    """The model contract's inputs: LDR frames ``[B, 3, 3, H, W]`` and EVs ``[B, 3]``."""
    return [(batch, 3, 3, height, width), (batch, 3)]


def meta_state(model: nn.Module, dtype: torch.dtype) -> dict[str, Tensor]:
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
    state = dict([*model.named_parameters(), *model.named_buffers()]) if direct else meta_state(model, dtype)
    inputs = [torch.empty(tuple(s), dtype=dtype, device="meta") for s in input_shapes]
    ti = TorchinfoRecorder(model)
    conv_leaves = {name for name, m in named if "Conv" in classes[name] and not m._modules}
    rec = OpRecorder(conv_leaves, classes)
    calls: dict[str, int] = defaultdict(int)
    thop_ruled = {name for name, m in named if isinstance(m, THOP_RULED_TYPES)}
    functions = FunctionRecorder(rec.parts, rec.module_stack, thop_ruled)
    rec.in_attention = lambda: functions.inside(F.scaled_dot_product_attention)

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
        name_of_key.setdefault(storage_key(t), name)
    rec.resident = set(name_of_key) | {storage_key(x) for x in inputs}
    handles = [
        nn.modules.module.register_module_forward_pre_hook(pre),
        nn.modules.module.register_module_forward_hook(post),
    ]
    try:
        with torch.no_grad(), rec, functions, ptflops_view(rec.parts, lambda: bool(functions.function_stack)):
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
        if isinstance(t, Tensor) and storage_key(t) in rec.storages:
            rec.storages[storage_key(t)].last = rec.step + 1

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
        t.untyped_storage().nbytes() for t in {storage_key(t): t for t in state.values()}.values()
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
