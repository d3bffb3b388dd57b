"""Counting-tool adapters: one per third-party profiler, in the :data:`COUNTING_TOOLS` registry.

An adapter says how to run its tool (:meth:`CountingTool.run`, on real small tensors), whether the
tool is installed (:meth:`CountingTool.available`), what the tool counts relative to our conv MAccs
(:attr:`CountingTool.rules`, in terms of the op-type parts of :data:`bench.complexity.parts.PARTS`)
and what it leaves out (:attr:`CountingTool.misses`, printed to explain the gap). A plugin adds a
tool with ``@register_counting_tool`` on a subclass; ``profile --cross-check NAME`` then runs it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from torch import Tensor, nn

from bench.core.registry import Registry


@dataclass(frozen=True)
class ToolRule:
    """One term of a tool's total: ``sign`` x our op-type part ``part``, and why the tool counts it so."""

    part: str
    sign: int
    why: str


@dataclass
class ToolTotals:
    """What a tool reports for one model: MAccs, parameters (``None`` when it has no count) and per-op MAccs."""

    maccs: int
    params: int | None = None
    by_op: dict[str, int] | None = field(default=None)


@dataclass(frozen=True)
class ToolTerm:
    """One explained part of the gap between a tool's total and our conv MAccs."""

    part: str
    maccs: int
    why: str


class CountingTool:
    """Base class of an adapter; subclasses set the class attributes and implement :meth:`run`."""

    name: str = ""
    module: str = ""  # the import name :meth:`available` looks for ("" when nothing to import)
    rules: tuple[ToolRule, ...] = ()
    misses: str = ""

    def available(self) -> bool:
        """Whether the tool can run here (by default: its module can be imported)."""
        if not self.module:
            return True
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module without a spec
            return False

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        """Run the tool on ``model`` with real ``inputs`` (LDR frames, EVs); called under ``no_grad``."""
        raise NotImplementedError(f"counting tool {self.name!r} does not implement run()")

    def explain(self, parts: Mapping[str, int]) -> tuple[int, list[ToolTerm]]:
        """The total this tool should report given our op-type ``parts``, and the terms beyond our conv MAccs."""
        expected = parts.get("conv_module", 0) + parts.get("conv_functional", 0)
        terms = []
        for rule in self.rules:
            value = rule.sign * parts.get(rule.part, 0)
            if value:
                expected += value
                terms.append(ToolTerm(rule.part, value, rule.why))
        return expected, terms


COUNTING_TOOLS: Registry[CountingTool] = Registry("counting tool")

ToolClass = TypeVar("ToolClass", bound=type)


def register_counting_tool(
    cls: ToolClass | None = None, *, replace: bool = False
) -> ToolClass | Callable[[ToolClass], ToolClass]:
    """Class decorator: register one instance of a :class:`CountingTool` subclass under its ``name``.

    ``@register_counting_tool`` or ``@register_counting_tool(replace=True)`` to override a tool of that name.
    """

    def deco(tool_class: ToolClass) -> ToolClass:
        tool = tool_class()
        if not isinstance(tool, CountingTool) or not tool.name:
            raise TypeError(f"{tool_class.__name__} must be a CountingTool subclass with a name")
        COUNTING_TOOLS.add(tool.name, tool, replace=replace)
        return tool_class

    return deco(cls) if cls is not None else deco
