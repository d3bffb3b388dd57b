"""Model complexity with zero compute: MAccs, parameters, activations, conv calls and peak memory.

The model runs once on the ``meta`` device (:mod:`.counting`): every tensor has a shape and a dtype
but no storage, so counting at 1900x1060 (or 3840x2160) allocates no activation memory and does no
arithmetic. Two recorders watch that single pass:

* module hooks reproduce the NTIRE organizers' tool, torchinfo 1.6 (protocol section 3), rule for
  rule (:mod:`.ntire`): the ``ntire`` convention, equal to ``torchinfo.summary(...).total_mult_adds``;
* a ``TorchDispatchMode`` (:mod:`.recorder`) sees every aten op and prices it with the op rules of
  :data:`OP_RULES` (:mod:`.rules`, :mod:`.builtin_rules`): the ``true`` convention (real
  multiply-accumulates; elementwise work in its own column), plus activations, conv calls and the
  liveness of every intermediate tensor.

To price a new op, register a rule from a plugin with :func:`register_op_rule`; ops that no rule
covers are listed in the record's ``uncounted_ops`` instead of being silently priced at zero. The
cross-check (:mod:`.crosscheck`) runs the registered :data:`COUNTING_TOOLS` and explains their totals.
"""

from bench.complexity import builtin_rules as builtin_rules  # registers the built-in op rules
from bench.complexity.counting import build_meta_model, count, hdr_input_shapes, meta_state
from bench.complexity.crosscheck import (
    COUNTING_TOOLS,
    CountingTool,
    ToolRule,
    ToolTerm,
    ToolTotals,
    cross_check,
    emulate,
    register_counting_tool,
    run_tool,
    tool_parts,
)
from bench.complexity.parts import PARTS
from bench.complexity.profiling import (
    CONVENTIONS,
    DTYPES,
    check_convention,
    layer_tree,
    profile,
    profile_many,
)
from bench.complexity.recorder import SHAPE_RULES, OpRecorder
from bench.complexity.rules import (
    FREE_OPS,
    OP_RULES,
    OpCost,
    OpRule,
    bind_arguments,
    numel,
    op_cost,
    op_key,
    register_op_rule,
)

__all__ = [
    "CONVENTIONS",
    "COUNTING_TOOLS",
    "DTYPES",
    "FREE_OPS",
    "OP_RULES",
    "PARTS",
    "SHAPE_RULES",
    "CountingTool",
    "OpCost",
    "OpRecorder",
    "OpRule",
    "ToolRule",
    "ToolTerm",
    "ToolTotals",
    "bind_arguments",
    "build_meta_model",
    "check_convention",
    "count",
    "cross_check",
    "emulate",
    "hdr_input_shapes",
    "layer_tree",
    "meta_state",
    "numel",
    "op_cost",
    "op_key",
    "profile",
    "profile_many",
    "register_counting_tool",
    "register_op_rule",
    "run_tool",
    "tool_parts",
]
