"""The built-in counting tools: torchinfo, fvcore, thop and ptflops.

Each tool is an optional dependency, imported in :meth:`run` only. The rules say how each total
follows from our op-type parts, relative to our conv MAccs (every conv call, module or functional,
without bias); they were learned from the tools' sources and are checked by tests/test_complexity.py:
a model that breaks one shows up as an unexplained residual.
"""

from __future__ import annotations

import importlib

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
        ToolRule("linear_module", +1, "counts nn.Linear over all tokens (no bias)"),
        ToolRule("matmul_functional", +1, "counts matmul, bmm, einsum and F.linear"),
        ToolRule("grid_sample_fvcore", +1, "counts grid_sample as bilinear (4 per output element)"),
        ToolRule("adaptive_pool_inputs", +1, "counts adaptive average pools (1 per input element)"),
    )
    misses = (
        "skips elementwise ops (mul, add, sigmoid, softmax), bias, baddbmm and "
        "F.scaled_dot_product_attention (no rule: 0)"
    )

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
        ToolRule("linear_module", +1, "counts nn.Linear over all tokens (no bias)"),
        ToolRule("softmax_thop", +1, "counts nn.Softmax modules (3 x features - 1 per row)"),
        ToolRule("prelu_module", +1, "counts nn.PReLU modules (1 per element)"),
        ToolRule("adaptive_pool_thop", +1, "counts nn.AdaptiveAvgPool modules (1 per input, 1 per output)"),
        ToolRule(
            "fn_products_thop",
            +1,
            "counts functional matmul, @, bmm, einsum, F.linear and attention outside modules it has a rule for",
        ),
    )
    misses = "misses functional convs, F.interpolate, grid_sample, baddbmm, functional softmax; no bias"

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
        ToolRule(
            "pool_module_inputs", +1, "and again inside pooling modules (module hook + its patched F.*_pool)"
        ),
        ToolRule(
            "norm_ptflops", +1, "counts normalisation layers (2 per element when affine; 1 for nn.LayerNorm)"
        ),
        ToolRule("linear_module", +1, "counts nn.Linear over all tokens"),
        ToolRule("linear_bias", +1, "counts nn.Linear bias (one add per output element)"),
        ToolRule("fn_matmul_ptflops", +1, "counts torch.matmul / mm / bmm calls (not the @ operator)"),
        ToolRule("fn_addmm_ptflops", +1, "counts torch.addmm / baddbmm calls with their adds"),
        ToolRule("fn_elementwise_ptflops", +1, "counts torch.mul / torch.add calls (not * or +)"),
        ToolRule("fn_softmax_ptflops", +1, "counts F.softmax calls per input element"),
    )
    misses = (
        "misses functional convs, the @ operator, F.scaled_dot_product_attention, grid_sample; "
        "skips *, +, sigmoid, F.leaky_relu"
    )

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


@register_counting_tool
class ThopLegacy(CountingTool):
    """thop as the HDR papers of 2022-2024 used it (0.1.x): module hooks only.

    Emulated with the installed thop: its functional counting switched off and transposed convs
    priced like plain convs, on their output size (what thop 0.1 did with ``count_convNd``).
    """

    name = "thop-legacy"
    module = "thop"
    rules = (
        ToolRule("conv_functional", -1, "misses functional convs (module hooks only)"),
        ToolRule("deform_conv", -1, "has no rule for torchvision's DeformConv2d (counts it 0)"),
        ToolRule("transposed_extra", +1, "prices transposed convs on their output size (stride^2 too high)"),
        ToolRule("norm_thop", +1, "counts normalisation layers (2 per element, 4 when affine)"),
        ToolRule("linear_module", +1, "counts nn.Linear over all tokens (no bias)"),
        ToolRule("softmax_thop", +1, "counts nn.Softmax modules (3 x features - 1 per row)"),
        ToolRule("prelu_module", +1, "counts nn.PReLU modules (1 per element)"),
        ToolRule("adaptive_pool_thop", +1, "counts nn.AdaptiveAvgPool modules (1 per input, 1 per output)"),
    )
    misses = "misses every functional op (attention matmuls, F.interpolate, grid_sample); no bias"

    def run(self, model: nn.Module, inputs: tuple[Tensor, ...]) -> ToolTotals:
        thop_module = importlib.import_module("thop.profile")  # optional dependency (thop.profile is
        # also the name of a function in thop's namespace, hence the module by its import path)

        transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
        saved = (thop_module._COUNTS_FUNCTIONS, {t: thop_module.register_hooks[t] for t in transposed})
        thop_module._COUNTS_FUNCTIONS = False  # 0.1.x had no functional counting
        thop_module.register_hooks.update({t: thop_module.count_convNd for t in transposed})
        try:
            macs, params = thop_module.profile(model, inputs=inputs, verbose=False)
        finally:
            thop_module._COUNTS_FUNCTIONS = saved[0]
            thop_module.register_hooks.update(saved[1])
        return ToolTotals(int(macs), int(params))
