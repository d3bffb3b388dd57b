"""Python-level calls the profilers see: a ``TorchFunctionMode`` beside the aten op recorder.

thop and ptflops count functions, not aten ops: ptflops patches ``torch.matmul`` but not the ``@``
operator, ``F.softmax`` but not ``Tensor.softmax``, ``torch.mul`` but not ``*``; thop counts
functional products (matmul, ``@``, bmm, einsum, ``F.linear``, ``F.scaled_dot_product_attention``)
only while no module with a rule of its own runs. These distinctions vanish at dispatch, so
:class:`FunctionRecorder` watches the calls themselves and adds, per call, what each tool's formula
gives to the op-type parts (:data:`bench.complexity.parts.PARTS`). It also keeps the stack of
functions running, so the op recorder can tell the matmuls of a fused attention call from others.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode


def _shape_numel(shape: Any) -> int:
    return math.prod(int(s) for s in shape)


def _broadcast_numel(a: Any, b: Any) -> int:
    if not isinstance(a, Tensor):
        return b.numel() if isinstance(b, Tensor) else 1
    if not isinstance(b, Tensor):
        return a.numel()
    return _shape_numel(torch.broadcast_shapes(a.shape, b.shape))


def _attention_products(args: tuple, kwargs: dict) -> int:
    q, k, v = (*args, *(kwargs[n] for n in ("query", "key", "value")[len(args) :]))[:3]
    return _shape_numel(q.shape[:-1]) * k.shape[-2] * (q.shape[-1] + v.shape[-1])


def _einsum_products(args: tuple, out: Tensor) -> int:
    """Two-operand einsum: output elements x the summed labels' sizes (what thop's rule gives)."""
    equation, *operands = args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if len(operands) != 2 or "..." in equation:
        return 0
    lhs, _, rhs = equation.replace(" ", "").partition("->")
    sizes = {}
    for subs, t in zip(lhs.split(","), operands, strict=True):
        sizes.update({c: d for c, d in zip(subs, t.shape, strict=True)})
    a, b = lhs.split(",")
    summed = [c for c in set(a) & set(b) if c not in rhs]
    return out.numel() * math.prod(sizes[c] for c in summed)


# thop's rules for functional products (its `functional_hooks`): formula(args, kwargs, out)
THOP_PRODUCTS: dict[Any, Callable[[tuple, dict, Any], int]] = {
    f: (lambda args, kwargs, out: out.numel() * args[0].shape[-1])
    for f in (torch.matmul, Tensor.matmul, Tensor.__matmul__, torch.bmm, Tensor.bmm, F.linear)
}
THOP_PRODUCTS[torch.einsum] = lambda args, kwargs, out: _einsum_products(args, out)
THOP_PRODUCTS[F.scaled_dot_product_attention] = lambda args, kwargs, out: _attention_products(args, kwargs)

# ptflops' patched tensor ops and functionals (``TENSOR_OPS_MAPPING``, ``FUNCTIONAL_MAPPING``):
# part -> ((owner, attribute) patched, formula(args, out)). ptflops replaces these attributes during
# its pass, so only calls that look them up count: ``x.mul(y)`` does, ``x * y`` does not (both reach
# a TorchFunctionMode as the same function, hence the same patching here). F.relu & co. are priced
# at the aten level instead (bench.complexity.parts).
PTFLOPS_PATCHED: dict[str, tuple[tuple[tuple[Any, str], ...], Callable[[tuple, Any], int]]] = {
    "fn_matmul_ptflops": (
        tuple((owner, n) for owner in (torch, Tensor) for n in ("matmul", "mm", "bmm")),
        lambda args, out: args[0].numel() * args[1].shape[-1],
    ),
    "fn_addmm_ptflops": (
        ((torch, "addmm"), (Tensor, "addmm"), (torch, "baddbmm")),
        lambda args, out: args[1].numel() * args[2].shape[-1] + args[0].numel(),
    ),
    "fn_elementwise_ptflops": (
        tuple((owner, n) for owner in (torch, Tensor) for n in ("mul", "add")),
        lambda args, out: _broadcast_numel(args[0], args[1]),
    ),
    "fn_softmax_ptflops": (((F, "softmax"),), lambda args, out: args[0].numel()),
}


@contextlib.contextmanager
def ptflops_view(parts: MutableMapping[str, int], nested: Callable[[], bool]) -> Iterator[None]:
    """Patch the attributes ptflops patches with recorders of its formulas (restored on exit).

    ``nested()`` is true while a TorchFunctionMode handles a call: ``x * y`` reaches such a mode as
    ``Tensor.mul`` looked up on the class (the patched one), which ptflops, running without a
    mode, never sees, so that call is not counted.
    """
    saved = []

    def wrapper(original: Callable, part: str, formula: Callable[[tuple, Any], int]) -> Callable:
        @functools.wraps(original)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            enough = len(args) >= (1 if part == "fn_softmax_ptflops" else 2)
            if isinstance(out, Tensor) and enough and not nested():
                parts[part] += int(formula(args, out))
            return out

        return recorded

    try:
        for part, (targets, formula) in PTFLOPS_PATCHED.items():
            for owner, attr in targets:
                original = getattr(owner, attr)
                saved.append((owner, attr, original))
                setattr(owner, attr, wrapper(original, part, formula))
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


class FunctionRecorder(TorchFunctionMode):
    """Adds the profilers' function-level parts of every watched call to ``parts``.

    ``module_stack``: the running module paths (shared with the op recorder); ``thop_ruled``: paths
    of modules thop has a rule for (a functional product inside one is not counted by thop).
    """

    def __init__(
        self, parts: MutableMapping[str, int], module_stack: list[str], thop_ruled: set[str]
    ) -> None:
        super().__init__()
        self.parts = parts
        self.module_stack = module_stack
        self.thop_ruled = thop_ruled
        self.function_stack: list[Any] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.function_stack.append(func)
        try:
            out = func(*args, **kwargs)
        finally:
            self.function_stack.pop()
        if not isinstance(out, Tensor):
            return out
        thop = THOP_PRODUCTS.get(getattr(func, "__wrapped__", func))  # unwrapped from ptflops_view
        # only the outermost watched call: ptflops' and thop's wrappers do not see nested calls
        if thop is not None and not any(p in self.thop_ruled for p in self.module_stack):
            self.parts["fn_products_thop"] += thop(args, kwargs, out)
        return out

    def inside(self, func: Any) -> bool:
        """Whether ``func`` is running (e.g. the aten matmuls of ``F.scaled_dot_product_attention``)."""
        return func in self.function_stack
