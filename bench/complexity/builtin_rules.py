"""The built-in op rules of the `true` convention (registered on import; see :mod:`.rules`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from bench.complexity.rules import OpCost, numel, register_op_rule

aten = torch.ops.aten
Shape = Sequence[int]


@register_op_rule(aten.convolution)
def conv_rule(
    x_shape: Shape,
    w_shape: Shape,
    bias: Shape | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
    *,
    out_shape: Shape,
) -> OpCost:
    # A conv computes every weight element once per output position; a transposed conv scatters
    # every weight element once per *input* position (that is why counting it on its output, as
    # torchinfo does, overcounts by stride^2).
    positions = x_shape[0] * numel(x_shape[2:] if transposed else out_shape[2:])
    return OpCost(positions * numel(w_shape), numel(out_shape) if bias is not None else 0, "conv")


# by name: torchvision registers the op when it is imported, which counting does not need
@register_op_rule("torchvision::deform_conv2d")
def deform_conv_rule(
    x_shape: Shape,
    w_shape: Shape,
    offset_shape: Shape,
    mask_shape: Shape,
    bias_shape: Shape | None,
    *strides_pads_dilations_groups: int,
    out_shape: Shape,
) -> OpCost:
    use_mask = bool(strides_pads_dilations_groups[-1])
    n, c_in = x_shape[0], x_shape[1]
    taps = n * c_in * numel(w_shape[2:]) * numel(out_shape[2:])  # sampled input values
    conv = n * numel(out_shape[2:]) * numel(w_shape)
    # Each sampled value is a bilinear blend of 4 neighbours (4 MAccs); a mask scales it once more.
    sampling = taps * (4 + (1 if use_mask else 0))
    bias_adds = numel(out_shape) if bias_shape is not None and numel(bias_shape) else 0
    return OpCost(conv + sampling, bias_adds, "conv")


@register_op_rule(aten.mm, aten.bmm)
def mm_rule(a_shape: Shape, b_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    return OpCost(numel(out_shape) * a_shape[-1], 0, "matmul")


@register_op_rule(aten.addmm, aten.baddbmm)
def addmm_rule(bias_shape: Shape, a_shape: Shape, b_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    # rest: out_dtype (the .dtype overloads), beta, alpha
    return OpCost(numel(out_shape) * a_shape[-1], numel(out_shape), "matmul")


def per_output_rule(maccs_per_element: int, kind: str = "interp") -> Callable[..., OpCost]:
    """A rule pricing ``maccs_per_element`` MAccs per output element (interpolation)."""

    def rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
        return OpCost(maccs_per_element * numel(out_shape), 0, kind)

    rule.__name__ = f"per_output_{maccs_per_element}_rule"
    return rule


register_op_rule(aten.upsample_bilinear2d, aten._upsample_bilinear2d_aa)(per_output_rule(4))
register_op_rule(aten.upsample_linear1d)(per_output_rule(2))
register_op_rule(aten.upsample_trilinear3d)(per_output_rule(8))
register_op_rule(aten.upsample_bicubic2d)(per_output_rule(16))


@register_op_rule(aten.grid_sampler_2d)
def grid_sample_rule(
    x_shape: Shape,
    grid_shape: Shape,
    interpolation_mode: int,
    padding_mode: int,
    align_corners: bool,
    *,
    out_shape: Shape,
) -> OpCost:
    per_element = {0: 4, 1: 0, 2: 16}.get(int(interpolation_mode), 4)  # bilinear, nearest, bicubic
    return OpCost(per_element * numel(out_shape), 0, "interp")


@register_op_rule(aten.avg_pool2d, aten.max_pool2d_with_indices, aten.avg_pool3d)
def pool_rule(x_shape: Shape, kernel_size: Sequence[int], *rest: object, out_shape: Shape) -> OpCost:
    kernel = list(kernel_size) * (2 if len(kernel_size) == 1 else 1)
    return OpCost(0, numel(out_shape) * numel(kernel), "elementwise")


@register_op_rule(
    aten._adaptive_avg_pool2d, aten.sum, aten.mean, aten.amax, aten.amin, aten.max, aten.min, aten.var
)
def reduce_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    """One per reduced (input) element."""
    return OpCost(0, numel(x_shape), "elementwise")


@register_op_rule(aten._softmax)
def softmax_rule(x_shape: Shape, dim: int, half_to_float: bool, *, out_shape: Shape) -> OpCost:
    return OpCost(0, 3 * numel(out_shape), "elementwise")  # exp, sum, divide


@register_op_rule(
    aten.native_group_norm,
    aten.native_layer_norm,
    aten.native_batch_norm,
    aten._native_batch_norm_legit_no_training,
)
def norm_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    # subtract-and-scale per element (the statistics are a reduction, not priced here)
    return OpCost(0, 2 * numel(x_shape), "elementwise")


# --- attention and the other ops of the transformer / warping HDR networks --------------------


def attention_cost(q_shape: Shape, k_shape: Shape, v_shape: Shape) -> OpCost:
    """Fused attention: Q K^T and (softmax) V, each a batched matmul over all query and key positions.

    The leading dims are the query's (with grouped-query attention the keys are shared across heads,
    the products are not); the softmax is priced like :func:`softmax_rule` (3 per score).
    """
    scores = numel(q_shape[:-1]) * k_shape[-2]
    return OpCost(scores * (q_shape[-1] + v_shape[-1]), 3 * scores, "attention")


@register_op_rule(
    aten.scaled_dot_product_attention,  # composite: reaches dispatch only where a backend keeps it whole
    aten._scaled_dot_product_attention_math,
    aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_flash_attention_for_cpu,
    aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention,
)
def sdpa_rule(q_shape: Shape, k_shape: Shape, v_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    return attention_cost(q_shape, k_shape, v_shape)


@register_op_rule(aten._safe_softmax, aten._log_softmax)
def safe_softmax_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    # the masked-row-safe softmax of decomposed attention; log-softmax: exp, sum, log-subtract
    return OpCost(0, 3 * numel(out_shape), "elementwise")


@register_op_rule(aten.im2col)
def im2col_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    return OpCost(kind="free")  # nn.Unfold: a gather of patches, no arithmetic


@register_op_rule(aten.col2im)
def col2im_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    # nn.Fold sums overlapping patches: one add per input element
    return OpCost(0, numel(x_shape), "elementwise")


@register_op_rule(aten.linalg_vector_norm)
def vector_norm_rule(x_shape: Shape, *rest: object, out_shape: Shape) -> OpCost:
    return OpCost(0, 2 * numel(x_shape), "elementwise")  # square (or abs) and sum per element


@register_op_rule(aten.masked_fill)
def masked_fill_rule(x_shape: Shape, mask_shape: Shape, value: object, *, out_shape: Shape) -> OpCost:
    return OpCost(0, numel(out_shape), "elementwise")  # the .Tensor overload has no pointwise tag


@register_op_rule(aten._prelu_kernel)
def prelu_rule(x_shape: Shape, weight_shape: Shape, *, out_shape: Shape) -> OpCost:
    return OpCost(0, numel(out_shape), "elementwise")  # nn.PReLU (GSANet); no pointwise tag
