"""The ONNX file a deployment backend runs: exported once per model, weights, input and precision, then cached.

``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` based exporter, which needs
onnxscript) is used, at opset :data:`OPSET`: with torch 2.14 it exports every built-in model,
adnet's deformable convs included (as ONNX ``DeformConv``, an opset-19 op), whereas the TorchScript
exporter (``dynamo=False``, deprecated since torch 2.9) stops at ``torchvision::deform_conv2d``.
It is slower (~5 s for an EAPNet, ~1.5 s with TorchScript); the cache makes that a one-time cost.

The file is named by a key of everything it depends on: the architecture hash
(:func:`bench.spec.model.model_config_hash`), a digest of the weights (an ONNX file embeds them, so
another set of weights is another file), the input shapes and dtypes, the precision, the opset, the
exporter and the torch version. It lives in ``CACHE_DIR/onnx`` (``$EAPBENCH_CACHE``) and is written
atomically. A model that does not export, or that a runtime cannot load, is reported with the op
that blocks it when the message names one (:func:`blocking_op`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from bench.core import CACHE_DIR, atomic_write_bytes
from bench.spec.model import model_config_hash

OPSET = 19  # DeformConv (adnet) is an opset-19 op; GridSample (16) and attention's ops are older
EXPORTER = "torch.onnx.export(dynamo=True)"
INPUT_NAMES = ("ldrs", "ev")
OUTPUT_NAMES = ("hdr",)
DEPLOY_HINT = "pip install 'eapbench[deploy]' (onnx, onnxscript, onnxruntime, openvino)"


def onnx_cache_dir() -> Path:
    return CACHE_DIR / "onnx"


@dataclass(frozen=True)
class OnnxExport:
    """An exported file: where it is, the seconds the export took (0 when cached), whether it was cached."""

    path: Path
    export_s: float
    cached: bool


class ExportError(RuntimeError):
    """A model that does not export; ``op`` names the op that blocks it when the message tells."""

    def __init__(self, message: str, op: str | None) -> None:
        self.op = op
        super().__init__(f"blocked by {op}: {message}" if op else message)


def weights_digest(model: nn.Module) -> str:
    """sha256 of every parameter and buffer (names, dtypes, bytes): the weights an export embeds."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        data = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()[:16]


def export_key(model: nn.Module, example: tuple[Tensor, ...], precision: str, opset: int = OPSET) -> str:
    """The cache key of one export (see the module docstring)."""
    shapes = [(tuple(t.shape), str(t.dtype)) for t in example]
    text = (
        f"{model_config_hash(model)}|{weights_digest(model)}|{shapes}|{precision}|{opset}|{EXPORTER}|"
        f"{torch.__version__}"
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(label: str, key: str, directory: Path | None = None) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:60] or "model"
    return (directory or onnx_cache_dir()) / f"{slug}-{key}.onnx"


# What a failing exporter or runtime says about the op it stopped at, most specific first.
_OP_PATTERNS = (
    r"No ONNX function found for <OpOverload\(op='([\w.]+)'",  # the dynamo exporter
    r"(torchvision::\w+)",
    r"Could not find an implementation for (\w+)\(\d+\)",
    r"No conversion rule found for operations: (\w+)-\d+",  # OpenVINO's unconverted-ops summary
    r"-- (\w+)-\d+ with a message",
    r"(aten[.:]+\w+(?:\.\w+)?)",
    r"[Uu]nsupported (?:ONNX )?(?:op(?:erator)?|node)s?:? '?([A-Za-z_][\w:.]*)",
    r"No Op registered for (\w+)",
)


def blocking_op(message: str) -> str | None:
    """The op a failure message names (``torchvision::deform_conv2d``, ``DeformConv``...), else None."""
    for pattern in _OP_PATTERNS:
        match = re.search(pattern, message)
        if match:
            return match.group(1)
    return None


def first_line(exc: BaseException) -> str:
    """``Type: first line`` of an error, without the terminal colour codes some exporters print."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def export_onnx(
    model: nn.Module,
    example: tuple[Tensor, ...],
    *,
    label: str,
    precision: str,
    opset: int = OPSET,
    directory: Path | None = None,
) -> OnnxExport:
    """The cached ONNX file of ``model`` on ``example``, exported now if absent (an :class:`ExportError` if it cannot be)."""
    path = cache_path(label, export_key(model, example, precision, opset), directory)
    if path.is_file():
        return OnnxExport(path, 0.0, True)
    t0 = time.perf_counter()
    chatter = io.StringIO()
    try:
        # The exporter narrates each step on stdout and warns about shape checks turned into
        # constants (static shapes are what is wanted here): kept out of the command's output.
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                tuple(example),
                dynamo=True,
                opset_version=opset,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                optimize=True,
                verbose=False,
            )
        data = program.model_proto.SerializeToString()
    except Exception as exc:  # any exporter failure: the model is reported, not the run stopped
        text = f"{exc}\n{chatter.getvalue()}"
        raise ExportError(f"ONNX export failed: {first_line(exc)}", blocking_op(text)) from exc
    atomic_write_bytes(path, data)
    return OnnxExport(path, time.perf_counter() - t0, False)
