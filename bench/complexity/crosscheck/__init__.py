"""Cross-check against the usual profilers (torchinfo, fvcore, thop, ptflops; real tensors, small sizes).

Importing this package registers the built-in tools; plugins register more with
:func:`register_counting_tool`.
"""

from bench.complexity.crosscheck import builtin as builtin  # registers the built-in tools
from bench.complexity.crosscheck.check import cross_check, emulate, real_inputs, run_tool, tool_parts
from bench.complexity.crosscheck.tools import (
    COUNTING_TOOLS,
    CountingTool,
    ToolRule,
    ToolTerm,
    ToolTotals,
    register_counting_tool,
)

__all__ = [
    "COUNTING_TOOLS",
    "CountingTool",
    "ToolRule",
    "ToolTerm",
    "ToolTotals",
    "cross_check",
    "emulate",
    "real_inputs",
    "register_counting_tool",
    "run_tool",
    "tool_parts",
]
