"""The profile record of a model: :func:`profile` (one model, one convention), :func:`layer_tree`, :func:`profile_many`.

Records are plain dicts (JSON-able) so that the report and compare commands can reuse them; their
keys are stable (users script against them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from bench.complexity.counting import build_meta_model, count, hdr_input_shapes
from bench.core import UsageError

# The counting conventions, in --convention order (the first is the default): `ntire` reproduces
# torchinfo 1.6 (the NTIRE 2022 organizers' tool), `true` counts real multiply-accumulates.
CONVENTIONS = ("ntire", "true")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def check_convention(convention: str) -> None:
    """A :class:`UsageError` unless ``convention`` is one of :data:`CONVENTIONS`."""
    if convention not in CONVENTIONS:
        raise UsageError(f"convention {convention!r} is not one of {', '.join(CONVENTIONS)}")


def profile(
    model: str | nn.Module,
    width: int,
    height: int,
    convention: str = "ntire",
    dtype: str = "float32",
    batch: int = 1,
    per_layer: bool = False,
    input_shapes: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """The profile record of one model at ``width`` x ``height``.

    Keys: ``model, width, height, convention, dtype, maccs, params, params_total, activations,
    conv_calls, peak_memory_bytes`` plus ``maccs_ntire, maccs_true, maccs_elementwise, by_op``
    (MAccs per module class for ntire, per aten op for true), ``uncounted_ops`` (aten ops no rule
    prices, with their call counts) and, with ``per_layer``, ``layers`` (see :func:`layer_tree`). ``maccs`` and ``params`` follow the
    convention: ``ntire`` gives torchinfo 1.6's numbers, ``true`` real multiply-accumulates (bias
    adds and other elementwise work in ``maccs_elementwise``) and the parameters some op read.
    """
    check_convention(convention)
    if dtype not in DTYPES:
        raise UsageError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    name = model if isinstance(model, str) else getattr(model, "eapbench_name", type(model).__name__)
    module = build_meta_model(model) if isinstance(model, str) else model
    shapes = input_shapes or hdr_input_shapes(width, height, batch)
    c = count(module, shapes, DTYPES[dtype])
    ntire = convention == "ntire"
    record: dict[str, Any] = {
        "model": name,
        "width": width,
        "height": height,
        "convention": convention,
        "dtype": dtype,
        "batch": batch,
        "maccs": c["maccs_ntire"] if ntire else c["maccs_true"],
        "params": c["params_ntire"] if ntire else c["params_used"],
        "params_total": c["params_total"],
        "activations": c["activations"],
        "conv_calls": c["conv_calls"],
        # Weights + inputs + the largest set of intermediates alive at once: an estimate that
        # ignores allocator caching, fragmentation and library workspaces.
        "peak_memory_bytes": c["weight_bytes"] + c["input_bytes"] + c["peak_activation_bytes"],
        "maccs_ntire": c["maccs_ntire"],
        "maccs_true": c["maccs_true"],
        "maccs_elementwise": c["maccs_elementwise"],
        # ntire: MAccs per module class (torchinfo counts modules); true: per aten op
        "by_op": {k: v for k, v in c["by_class_ntire"].items() if v}
        if ntire
        else {k: v["maccs"] for k, v in c["by_op_true"].items() if v.get("maccs")},
        "uncounted_ops": c["uncounted_ops"],
    }
    if per_layer:
        record["layers"] = layer_tree(c, convention)
    return record


def layer_tree(counts: dict[str, Any], convention: str) -> list[dict[str, Any]]:
    """Per-module rows in model order: path, class, depth, calls, MAccs and params of the subtree, share."""
    mods = counts["_modules"]
    maccs, params = mods[f"maccs_{convention}"], mods[f"params_{convention}"]
    total = sum(maccs.values()) or 1

    def subtree(table: dict[str, int], path: str) -> int:
        if path == "":
            return sum(table.values())
        return sum(v for k, v in table.items() if k == path or k.startswith(path + "."))

    rows = []
    for path in mods["paths"]:
        m = subtree(maccs, path)
        rows.append(
            {
                "path": path,
                "class": mods["classes"][path],
                "depth": 0 if path == "" else path.count(".") + 1,
                "calls": mods["calls"].get(path, 0),
                "maccs": m,
                "params": subtree(params, path),
                "share": m / total,
            }
        )
    return rows


def profile_many(names: Iterable[str], width: int, height: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [profile(name, width, height, **kwargs) for name in names]
