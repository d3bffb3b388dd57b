"""Op-type totals ("parts") that explain how other profilers' totals differ from ours.

Every priced op call adds to a few named parts (conv MAccs inside Conv modules, functional convs,
conv bias, interpolated outputs, pooled inputs, normalised elements...). A counting tool's rules
(:class:`bench.complexity.crosscheck.ToolRule`) say which parts that tool adds or leaves out, so its
total can be rebuilt from ours. :data:`PARTS` lists every name a tool rule may use.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from torch import Tensor

from bench.complexity.rules import OpCost, numel

PARTS = {
    "conv_module": "conv MAccs of Conv modules, without bias",
    "conv_functional": "conv MAccs outside Conv modules (F.conv2d), without bias",
    "conv_bias": "bias adds of Conv modules (one per output element)",
    "transposed_extra": "what pricing transposed convs on their output adds (stride^2 - 1 times)",
    "deform_conv": "the conv part of deformable convs",
    "deform_sampling": "the bilinear sampling of deformable convs",
    "deform_ptflops_extra": "24 (25 with a mask) per kernel tap and output position of deformable convs",
    "interp_maccs": "interpolation MAccs (bilinear 4 per output element...)",
    "interp_outputs": "interpolated output elements",
    "act_module": "output elements of activation modules (nn.ReLU, nn.LeakyReLU...)",
    "act_functional": "output elements of F.relu & co. (not F.leaky_relu), also inside nn.ReLU",
    "pool_inputs": "pooled input elements",
    "norm_fvcore": "normalised elements x 5 for group/layer norm (4 not affine), x 2 for batch norm (1)",
    "norm_ptflops": "normalised elements x 2 when affine, else x 1",
    "norm_thop": "normalised elements x 4 when affine, else x 2",
    "other_param_layers": "what torchinfo counts for layers with weights that are not convs",
    "linear_module": "matmul MAccs of nn.Linear modules over all tokens, without bias",
    "linear_bias": "bias adds of nn.Linear modules (one per output element)",
    "matmul_functional": "matmul MAccs outside nn.Linear (q @ k, torch.matmul, bmm, einsum, F.linear)",
    "matmul_baddbmm": "MAccs of baddbmm calls (fvcore has no rule for it)",
    "attention": "the two matmuls of F.scaled_dot_product_attention (fused or decomposed)",
    "softmax_thop": "nn.Softmax modules: exp, sum and divide per row, 3 x features - 1 per row",
    "grid_sample_fvcore": "4 per output element of grid_sample (fvcore assumes bilinear)",
    "adaptive_pool_inputs": "input elements of adaptive average pools (module or functional)",
    "adaptive_pool_thop": "nn.AdaptiveAvgPool modules: pooled input elements + one divide per output",
    "pool_module_inputs": "pooled input elements inside pooling modules (ptflops: module hook + its F.*_pool)",
    "prelu_module": "input elements of nn.PReLU modules (thop counts one per element)",
    "fn_products_thop": "functional products thop counts outside modules it has a rule for",
    "fn_matmul_ptflops": "torch.matmul / mm / bmm calls (not the @ operator): numel(a) x b's last dim",
    "fn_addmm_ptflops": "torch.addmm / baddbmm calls: the product plus one add per input element",
    "fn_elementwise_ptflops": "torch.mul / torch.add calls (not * or +): broadcast output elements",
    "fn_softmax_ptflops": "F.softmax calls (also inside nn.Softmax; not Tensor.softmax): input elements",
}

ACTIVATION_OPS = frozenset(
    {"relu", "leaky_relu", "hardtanh", "elu", "gelu", "prelu", "_prelu_kernel", "silu"}
)
# The activation modules ptflops prices per element (and again their F.relu / F.gelu inside).
ACTIVATION_MODULES = frozenset({"ReLU", "LeakyReLU", "PReLU", "ELU", "ReLU6", "GELU"})
# Activations that ptflops prices when called as functions (it patches F.relu & co., not F.leaky_relu).
PATCHED_ACTIVATIONS = frozenset({"relu", "elu", "gelu", "prelu", "_prelu_kernel", "silu"})
NORM_OPS = frozenset({"native_group_norm", "native_layer_norm", "_native_batch_norm_legit_no_training"})
LINEAR_MODULES = frozenset({"Linear", "NonDynamicallyQuantizableLinear", "LazyLinear"})
# Normalisation modules thop and ptflops have a rule for; a functional F.layer_norm counts only in fvcore.
NORM_MODULES = frozenset(
    """LayerNorm GroupNorm BatchNorm1d BatchNorm2d BatchNorm3d InstanceNorm1d InstanceNorm2d InstanceNorm3d""".split()
)
POOL_OPS = frozenset({"avg_pool2d", "max_pool2d_with_indices", "avg_pool3d", "_adaptive_avg_pool2d"})


def add_parts(
    parts: MutableMapping[str, int],
    name: str,
    bound: dict[str, Any] | None,
    out: Tensor,
    cost: OpCost,
    in_conv_module: bool,
    module_class: str,
    in_attention: bool = False,
) -> None:
    """Add one priced op call (plain op ``name``, arguments ``bound`` by schema name) to ``parts``.

    ``in_conv_module``: the innermost running module is a leaf whose class name says Conv;
    ``module_class``: that module's class name; ``in_attention``: the op runs inside
    ``F.scaled_dot_product_attention`` (its decomposed matmuls).
    """
    if cost.kind == "conv":
        linear = cost.maccs
        if name == "deform_conv2d":
            # Split the deformable conv into its conv (what torchinfo and ptflops price like any
            # conv) and its sampling, which every tool prices differently or not at all.
            w = bound["weight"]
            positions = bound["input"].shape[0] * numel(out.shape[2:])
            linear = positions * w.numel()
            parts["deform_conv"] += linear
            parts["deform_sampling"] += cost.maccs - linear
            parts["deform_ptflops_extra"] += positions * numel(w.shape[2:]) * (24 + bool(bound["use_mask"]))
        if in_conv_module:
            parts["conv_module"] += linear
            parts["conv_bias"] += cost.elementwise
            if name == "convolution" and bool(bound["transposed"]):  # torchinfo prices it on its output
                x, w = bound["input"], bound["weight"]
                parts["transposed_extra"] += (
                    x.shape[0] * w.numel() * (numel(out.shape[2:]) - numel(x.shape[2:]))
                )
        else:
            parts["conv_functional"] += linear
    elif cost.kind == "attention" or (cost.kind == "matmul" and in_attention):
        parts["attention"] += cost.maccs
    elif cost.kind == "matmul":
        if module_class in LINEAR_MODULES:
            parts["linear_module"] += cost.maccs
            parts["linear_bias"] += cost.elementwise
        elif name == "baddbmm":
            parts["matmul_baddbmm"] += cost.maccs
        else:
            parts["matmul_functional"] += cost.maccs
    elif name == "grid_sampler_2d":
        parts["grid_sample_fvcore"] += 4 * out.numel()
    elif cost.kind == "interp":
        parts["interp_maccs"] += cost.maccs
        parts["interp_outputs"] += out.numel()
    elif name.rstrip("_") in ACTIVATION_OPS:
        if module_class == "PReLU":
            parts["prelu_module"] += out.numel()
        if module_class in ACTIVATION_MODULES:
            parts["act_module"] += out.numel()
        if name.rstrip("_") in PATCHED_ACTIVATIONS:  # also inside a module: nn.ReLU calls F.relu
            parts["act_functional"] += out.numel()
    elif bound is not None and (
        name == "_adaptive_avg_pool2d" or (name == "mean" and module_class.startswith("AdaptiveAvgPool"))
    ):
        # a global pool reaches dispatch as `mean`; every tool prices it as the pool it is
        parts["pool_inputs"] += next(iter(bound.values())).numel()
        parts["adaptive_pool_inputs"] += next(iter(bound.values())).numel()
        if module_class.startswith("AdaptiveAvgPool"):
            parts["pool_module_inputs"] += next(iter(bound.values())).numel()
            parts["adaptive_pool_thop"] += next(iter(bound.values())).numel() + out.numel()
    elif name in POOL_OPS and bound is not None:
        parts["pool_inputs"] += next(iter(bound.values())).numel()
        if "Pool" in module_class:
            parts["pool_module_inputs"] += next(iter(bound.values())).numel()
    elif name in NORM_OPS and bound is not None:
        n, affine = next(iter(bound.values())).numel(), bound["weight"] is not None
        batch_norm = "batch_norm" in name
        parts["norm_fvcore"] += n * ((2 if affine else 1) if batch_norm else (5 if affine else 4))
        if module_class in NORM_MODULES:
            # ptflops reads `module.affine`, which nn.LayerNorm lacks (it has elementwise_affine)
            parts["norm_ptflops"] += n * (2 if affine and module_class != "LayerNorm" else 1)
            parts["norm_thop"] += n * (4 if affine else 2)
    elif name in ("_softmax", "_safe_softmax") and module_class == "Softmax" and bound is not None:
        rows, features = out.numel() // max(out.shape[bound["dim"]], 1), out.shape[bound["dim"]]
        parts["softmax_thop"] += rows * (3 * features - 1)
