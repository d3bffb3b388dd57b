"""The `ntire` convention: torchinfo 1.6's counting rules (NTIRE 2022 protocol section 3) on module hooks.

Equal to ``torchinfo.summary(...).total_mult_adds`` model by model (tested for every registered
model), without a real forward pass: :func:`bench.complexity.count` feeds the hooks of one meta pass
to :class:`TorchinfoRecorder` and sums the leaf rows it returns.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

# torchinfo 1.6 records these containers when it walks the model, not when they run.
_TI_WRAPPERS = (nn.ParameterList, nn.ModuleList)


def _ti_prod(values: Any) -> int:
    result = 1
    for v in values:
        result *= _ti_prod(v) if isinstance(v, (list, tuple, torch.Size)) else int(v)
    return result


def _ti_output_size(out: Any) -> list:
    """torchinfo's shape of a module output: a tensor's shape, a sequence's first tensor, a dict's last."""
    if isinstance(out, Tensor):
        return list(out.shape)
    if isinstance(out, dict) and out:
        return list(list(out.values())[-1].shape)
    if isinstance(out, (list, tuple)) and out:
        return _ti_output_size(out[0]) if not isinstance(out[0], Tensor) else list(out[0].shape)
    return []


@dataclass
class TorchinfoLayer:
    """One row of torchinfo's summary list."""

    module: nn.Module
    path: str
    leaf: bool
    executed: bool = False
    recursive: bool = False
    macs: int = 0
    params: int = 0

    @property
    def class_name(self) -> str:
        return type(self.module).__name__

    def count_params(self) -> None:
        self.params = sum(p.numel() for p in self.module.parameters() if not _is_lazy(p))

    def count_macs(self, out: Any) -> None:
        size = _ti_output_size(out)
        for name, p in self.module.named_parameters():
            n = p.numel()
            if name in ("weight", "bias"):
                # Every module whose class name says Conv, transposed and deformable too: parameter
                # elements x batch x output spatial size (the bias included).
                if "Conv" in self.class_name:
                    self.macs += n * _ti_prod(size[:1] + size[2:])
                else:
                    self.macs += size[0] * n if size else 0
            elif "weight" in name or "bias" in name:  # e.g. RNN weight_ih_l0
                self.macs += _ti_prod(size[:2]) * n


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _is_lazy(p: Tensor) -> bool:
    return isinstance(p, nn.parameter.UninitializedParameter)


class TorchinfoRecorder:
    """Builds torchinfo 1.6's summary list from module hooks, including its two quirks:

    * a shared module counts MAccs at every call but parameters once (the ``recursive`` flag);
    * after the pass torchinfo re-inserts never-executed modules, but only when some class name
      among them never ran at all (it matches the two lists of class names with difflib); their
      parameters then count, with zero MAccs.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.summary: list[TorchinfoLayer] = []
        self.in_summary: set[int] = set()  # ids of modules with a row (for the recursive flag)
        self.all_layers: list[TorchinfoLayer] = []
        self.pending: dict[int, list[TorchinfoLayer]] = defaultdict(list)
        self.hooked: dict[int, tuple[str, bool]] = {}  # module id -> (path, leaf), like its hooks
        self._walk(model, type(model).__name__, is_root=True)

    def _walk(self, module: nn.Module, path: str, is_root: bool = False) -> None:
        leaf = not module._modules
        self.all_layers.append(TorchinfoLayer(module, path, leaf))
        if not is_root or isinstance(module, nn.MultiheadAttention) or leaf:
            if isinstance(module, _TI_WRAPPERS):
                self._append(module, path, leaf)
            else:
                self.hooked.setdefault(id(module), (path, leaf))
        for name, child in module._modules.items():  # not deduplicated, exactly as torchinfo walks
            if child is not None:
                self._walk(child, f"{path}.{name}" if not is_root else name)

    def _append(self, module: nn.Module, path: str, leaf: bool) -> TorchinfoLayer:
        layer = TorchinfoLayer(module, path, leaf)
        layer.count_params()
        layer.recursive = id(module) in self.in_summary and _has_params(module)
        self.summary.append(layer)
        self.in_summary.add(id(module))
        return layer

    def pre(self, module: nn.Module) -> None:
        if id(module) in self.hooked:
            self.pending[id(module)].append(self._append(module, *self.hooked[id(module)]))

    def post(self, module: nn.Module, out: Any) -> None:
        if id(module) in self.hooked:
            layer = self.pending[id(module)].pop()
            layer.executed = True
            layer.count_macs(out)

    def finish(self) -> list[TorchinfoLayer]:
        rows = self.summary
        if not rows or rows[0].path != type(self.model).__name__:
            rows.insert(0, TorchinfoLayer(self.model, "", False))
        a = [r.class_name for r in rows]
        b = [r.class_name for r in self.all_layers]
        if set(b) - set(a):
            for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
                if tag == "insert":
                    for i, layer in enumerate(self.all_layers[j1:j2]):
                        layer.count_params()
                        layer.recursive = id(layer.module) in self.in_summary and _has_params(layer.module)
                        rows.insert(j1 + i, layer)
                        self.in_summary.add(id(layer.module))
        return rows
