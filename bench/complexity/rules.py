"""The `true` convention's op rules: one formula per aten op, in a registry keyed by the op.

A rule prices one call of one op. It is registered for an op (``torch.ops.aten.convolution``, an
overload such as ``torch.ops.aten.sum.dim_IntList``, or ``"ns::name"``) and receives that call's
schema arguments **in schema order, bound by name** (positional and keyword arguments of the call
are matched to the schema's argument names, omitted ones take the schema default, the ``out=``
tensors of out-variants are left out), with every tensor replaced by its shape (``torch.Size``; a
list of tensors by a list of shapes). The shape of the op's (first) output comes as the keyword
``out_shape``::

    @register_op_rule(torch.ops.aten.cumsum)
    def cumsum_rule(x_shape, dim, *rest, out_shape) -> OpCost:
        return OpCost(elementwise=numel(out_shape), kind="elementwise")

A rule for an op that already has one needs ``replace=True``. Ops without a rule fall back to
:func:`op_cost`'s defaults (views and :data:`FREE_OPS` free, ``pointwise``-tagged ops one per output
element); the rest is reported as uncounted.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bench.core.registry import Registry


@dataclass
class OpCost:
    """What one op call costs. ``kind`` groups ops for the conv total and the cross-check."""

    maccs: int = 0  # real multiply-accumulates (conv, matmul, interpolation, sampling)
    elementwise: int = 0  # one per element per pointwise op, bias add, pooling tap or reduced element
    kind: str = "other"  # conv | matmul | attention | interp | elementwise | free


@dataclass(frozen=True)
class OpRule:
    """A registered rule: the op's key (``aten::convolution``) and the formula."""

    op: str
    formula: Callable[..., OpCost]


OP_RULES: Registry[OpRule] = Registry("op rule")

# Ops that only move or create data: free in both conventions (matched on the op's plain name).
FREE_OPS = frozenset(
    """cat stack clone copy_ _to_copy copy contiguous pad constant_pad_nd replication_pad1d replication_pad2d
    replication_pad3d reflection_pad1d reflection_pad2d reflection_pad3d pixel_shuffle pixel_unshuffle flip roll
    empty empty_like empty_strided zeros zeros_like ones ones_like full full_like fill_ zero_ new_empty new_zeros
    new_ones new_full scalar_tensor lift_fresh arange linspace logspace eye _unsafe_view index_select gather repeat index
    upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact2d detach _cuda_version
    """.split()
)

OpLike = Any  # torch.ops OpOverloadPacket | OpOverload | "ns::name" or "ns::name.overload"


def numel(shape: Iterable[int]) -> int:
    """Elements of a tensor of ``shape``."""
    return math.prod(int(s) for s in shape)


def op_key(op: OpLike) -> str:
    """The registry key of an op: ``aten::convolution``, or ``aten::sum.dim_IntList`` for one overload."""
    if isinstance(op, str):
        return op
    if isinstance(op, torch._ops.OpOverload):
        schema = op._schema
        return f"{schema.name}.{schema.overload_name}" if schema.overload_name else schema.name
    if isinstance(op, torch._ops.OpOverloadPacket):
        return op._qualified_op_name
    raise TypeError(f"an op rule is registered for a torch.ops op or 'ns::name', not {op!r}")


def _overloads(op: OpLike) -> list[torch._ops.OpOverload]:
    """The overloads a rule for ``op`` will see (for checking its signature at registration)."""
    if isinstance(op, str):
        namespace, _, rest = op.partition("::")
        name, _, overload = rest.partition(".")
        try:
            packet = getattr(getattr(torch.ops, namespace), name)
            op = getattr(packet, overload) if overload else packet
        except (AttributeError, RuntimeError):  # an op of a library not imported yet: checked at use
            return []
    if isinstance(op, torch._ops.OpOverload):
        return [op]
    return [getattr(op, name) for name in op.overloads()]


def _is_out_argument(arg: Any) -> bool:
    return arg.kwarg_only and arg.alias_info is not None and arg.alias_info.is_write


# func -> [(name, kwarg_only, default)] of its schema inputs, out= tensors left out
_SCHEMAS: dict[Any, list[tuple[str, bool, Any]]] = {}


def _schema_inputs(func: Any) -> list[tuple[str, bool, Any]]:
    cached = _SCHEMAS.get(func)
    if cached is None:
        cached = [
            (a.name, a.kwarg_only, a.default_value if a.has_default_value() else None)
            for a in func._schema.arguments
            if not _is_out_argument(a)
        ]
        _SCHEMAS[func] = cached
    return cached


def bind_arguments(func: Any, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """One call's arguments by schema name, in schema order, defaults filled in (``out=`` left out)."""
    bound = {}
    for i, (name, kwarg_only, default) in enumerate(_schema_inputs(func)):
        if not kwarg_only and i < len(args):
            bound[name] = args[i]
        else:
            bound[name] = kwargs.get(name, default)
    return bound


def shape_of(value: Any) -> Any:
    """A tensor's shape, a list of tensors' shapes; anything else as it is."""
    if isinstance(value, Tensor):
        return value.shape
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        return [v.shape for v in value]
    return value


def register_op_rule(*ops: OpLike, replace: bool = False) -> Callable[[Callable[..., OpCost]], Callable]:
    """Decorator: price ``ops`` with the decorated formula (see the module docstring for its arguments).

    The formula's signature is checked against every overload's schema now, so a rule that could not
    take an op's arguments fails at import, not in the middle of a count.
    """
    if not ops:
        raise TypeError("register_op_rule needs at least one op")

    def deco(formula: Callable[..., OpCost]) -> Callable[..., OpCost]:
        signature = inspect.signature(formula)
        for op in ops:
            for overload in _overloads(op):
                n_args = len(_schema_inputs(overload))
                try:
                    signature.bind(*([None] * n_args), out_shape=None)
                except TypeError as exc:
                    raise TypeError(
                        f"op rule {formula.__name__}{signature} cannot take the {n_args} arguments of "
                        f"{overload._schema} (plus out_shape=): {exc}"
                    ) from None
        for op in ops:
            OP_RULES.add(op_key(op), OpRule(op_key(op), formula), replace=replace)
        return formula

    return deco


# func -> (its overload's key, its packet's key): looked up on every op call
_KEYS: dict[Any, tuple[str, str]] = {}


def rule_for(func: Any) -> OpRule | None:
    """The rule registered for this overload, else for its op; ``None`` when neither has one."""
    keys = _KEYS.get(func)
    if keys is None:
        keys = _KEYS[func] = (op_key(func), func.overloadpacket._qualified_op_name)
    for key in keys:
        if key in OP_RULES:
            return OP_RULES.get(key)
    return None


def first_output(out: Any) -> Any:
    return out[0] if isinstance(out, (tuple, list)) else out


def op_cost(func: Any, bound: dict[str, Any] | None, out: Any) -> OpCost | None:
    """Price one aten op call (``bound``: :func:`bind_arguments` of it); ``None`` when nothing covers it."""
    first = first_output(out)
    rule = rule_for(func)
    if rule is not None:
        if bound is None:
            raise ValueError(f"{func} has a rule: pass its bound arguments")
        shapes = [shape_of(v) for v in bound.values()]
        return rule.formula(*shapes, out_shape=first.shape if isinstance(first, Tensor) else None)
    name = func.overloadpacket.__name__
    if func.is_view or name in FREE_OPS:
        return OpCost(kind="free")
    if torch.Tag.pointwise in func.tags and isinstance(first, Tensor):
        return OpCost(0, first.numel(), "elementwise")
    return None
