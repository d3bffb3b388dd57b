"""The op recorder: one ``TorchDispatchMode`` that sees every aten op of the meta pass.

It prices each call with the op rules (:mod:`.rules`, the `true` convention), counts conv calls and
activations, adds the op-type parts the cross-check needs (:mod:`.parts`), and tracks when every
intermediate storage is first written and last read, for the peak-memory estimate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from bench.complexity.parts import add_parts
from bench.complexity.rules import bind_arguments, first_output, op_cost, rule_for


# Output-shape shortcuts for the few ops whose meta kernels are written in Python and slow
# (~0.5 ms for leaky_relu, ~7 ms for bilinear upsampling per call); tests check them against the
# real meta kernels.
def same_as_input(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    return torch.empty_like(x)


def upsample_shape(x: Tensor, output_size: Sequence[int] | None, *args: Any, **kwargs: Any) -> Tensor:
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
    torch.ops.aten.leaky_relu.default: same_as_input,
    torch.ops.aten.upsample_bilinear2d.default: upsample_shape,
    torch.ops.aten.upsample_bilinear2d.vec: upsample_shape,
}


@dataclass
class Storage:
    """One intermediate storage: its size and the op steps of its first write and last read."""

    nbytes: int
    first: int
    last: int


def storage_key(t: Tensor) -> int:
    """Identifies a tensor's storage (views share it)."""
    return t.untyped_storage()._cdata


class OpRecorder(TorchDispatchMode):
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
        self.storages: dict[int, Storage] = {}
        self.resident: set[int] = set()  # weights and inputs: present for the whole pass
        self.touched: set[int] = set()  # storages some op read (for executed parameters)
        self.keep: list[Tensor] = []  # keeps storages alive so that their ids stay unique
        # Op-type totals that explain how other profilers differ (see bench.complexity.parts).
        self.parts: dict[str, int] = defaultdict(int)
        # Whether a fused-attention call is running (set by the function recorder of the same pass).
        self.in_attention: Callable[[], bool] = lambda: False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shape_rule = SHAPE_RULES.get(func)
        out = shape_rule(*args, **kwargs) if shape_rule is not None else func(*args, **kwargs)
        self.step += 1
        for t in tree_leaves((args, kwargs)):
            if isinstance(t, Tensor):
                key = storage_key(t)
                self.touched.add(key)
                if key in self.storages:
                    self.storages[key].last = self.step
        aliased = any(r.alias_info is not None for r in func._schema.returns)
        for t in tree_leaves(out):
            if isinstance(t, Tensor) and not aliased:
                key = storage_key(t)
                if key not in self.storages and key not in self.resident:
                    self.storages[key] = Storage(t.untyped_storage().nbytes(), self.step, self.step)
                    self.keep.append(t)
        name = func.overloadpacket.__name__
        # Arguments by schema name, only for ops with a rule (binding every view would cost time).
        bound = bind_arguments(func, args, kwargs) if rule_for(func) is not None else None
        cost = op_cost(func, bound, out)
        row = self.by_op[name]
        row["calls"] += 1
        if cost is None:
            self.uncounted[name] += 1
            return out
        row["maccs"] += cost.maccs
        row["elementwise"] += cost.elementwise
        self.maccs += cost.maccs
        self.elementwise += cost.elementwise
        path = self.module_stack[-1]
        self.by_module[path] += cost.maccs
        first = first_output(out)
        if cost.kind == "conv":
            self.conv_calls += 1
            self.activations += first.numel()
        if isinstance(first, Tensor):
            add_parts(
                self.parts,
                name,
                bound,
                first,
                cost,
                path in self.conv_module_paths,
                self.classes.get(path, ""),
                cost.kind == "matmul" and self.in_attention(),
            )
        return out

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
