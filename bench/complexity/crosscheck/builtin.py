"""The built-in counting tools: torchinfo, fvcore, thop and ptflops.

Each tool is an optional dependency, imported in :meth:`run` only. The rules say how each total
follows from our op-type parts, relative to our conv MAccs (every conv call, module or functional,
without bias); they were learned from the tools' sources and are checked by tests/test_complexity.py:
a model that breaks one shows up as an unexplained residual.
"""

from __future__ import annotations

from torch import Tensor, nn

from bench.complexity.crosscheck.tools import CountingTool, ToolRule, ToolTotals, register_counting_tool


@register_counting_tool
class Torchinfo(CountingTool):
    name = module = "torchinfo"
    rules = (
        ToolRule("conv_bias", +1, "counts conv bias (one add per output element)"),
        ToolRule("transposed_extra", +1, "prices transposed convs on their output size (stride^2 too high)"),
        ToolRule("conv_functional", -1, "misses functional convs (F.conv2d outside a Conv module)"),
        ToolRule("other_param_layers", +1, "counts batch x parameters for other layers with weights"),
    )
    misses = "zero for every parameter-free op"

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        import torchinfo  # optional dependency

        # device="cpu": left alone, torchinfo would move the model to a GPU when one exists
        s = torchinfo.summary(model, input_data=list(inputs), verbose=0, device="cpu")
        return ToolTotals(int(s.total_mult_adds), int(s.total_params))


@register_counting_tool
class Fvcore(CountingTool):
    name = module = "fvcore"
    rules = (
        ToolRule("deform_conv", -1, "does not know torchvision::deform_conv2d (counts it 0)"),
        ToolRule("interp_maccs", +1, "counts bilinear interpolation (4 per output element)"),
        ToolRule(
            "norm_fvcore",
            +1,
            "counts normalisation layers (5 per element for group/layer norm, 2 for batch norm)",
        ),
    )
    misses = "skips elementwise ops (mul, add, sigmoid) and bias"

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        from fvcore.nn import FlopCountAnalysis  # optional dependency

        a = FlopCountAnalysis(model, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = {k: int(v) for k, v in a.by_operator().items()}
        return ToolTotals(int(a.total()), None, by_op)


@register_counting_tool
class Thop(CountingTool):
    name = module = "thop"
    rules = (
        ToolRule("conv_functional", -1, "misses functional convs (module hooks only)"),
        ToolRule("deform_conv", -1, "has no rule for torchvision's DeformConv2d (counts it 0)"),
        ToolRule("norm_thop", +1, "counts normalisation layers (2 per element, 4 when affine)"),
    )
    misses = "misses functional convs and F.interpolate; no bias"

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        from thop import profile as thop_profile  # optional dependency

        macs, params = thop_profile(model, inputs=inputs, verbose=False)
        return ToolTotals(int(macs), int(params))


@register_counting_tool
class Ptflops(CountingTool):
    name = module = "ptflops"
    rules = (
        ToolRule("conv_functional", -1, "misses functional convs (module hooks only)"),
        ToolRule("conv_bias", +1, "counts conv bias (one add per output element)"),
        ToolRule(
            "deform_ptflops_extra",
            +1,
            "adds 24 (25 with a mask) per kernel tap and output position of deformable convs",
        ),
        ToolRule("act_module", +1, "counts one op per element of activation modules (ReLU, LeakyReLU, ...)"),
        ToolRule(
            "act_functional", +1, "counts F.relu & co. (not F.leaky_relu) per element, inside nn.ReLU again"
        ),
        ToolRule("interp_outputs", +1, "counts one op per interpolated output element"),
        ToolRule("pool_inputs", +1, "counts one op per pooled input element"),
        ToolRule("norm_ptflops", +1, "counts normalisation layers (2 per element when affine)"),
    )
    misses = "misses functional convs; skips mul, add, sigmoid, F.leaky_relu"

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        from ptflops import get_model_complexity_info  # optional dependency

        macs, params = get_model_complexity_info(
            model,
            tuple(inputs[0].shape[1:]),
            input_constructor=lambda _shape: {"ldrs": inputs[0], "ev": inputs[1]} if len(inputs) == 2 else {},
            as_strings=False,
            print_per_layer_stat=False,
            verbose=False,
            backend="pytorch",
        )
        return ToolTotals(int(macs), int(params))
