"""Importing an authors' checkpoint: load it safely, rename its keys, check it, write safetensors.

``run_bench.py weights import --model NAME FILE.pth`` is :func:`import_official_weights`:

1. ``torch.load(FILE, weights_only=True)`` (no code in the pickle runs); a checkpoint that nests
   its state dict (``{"state_dict": ...}``, ``{"model": ...}``, ...) is unwrapped and a
   ``module.`` prefix (``DataParallel``) dropped;
2. the model's converter (``@register_official_converter`` in its file, :mod:`models.official`)
   renames the keys;
3. the result must fit a freshly built model exactly: a missing or extra key or a wrong shape is
   one error line naming the file and the first problems, and nothing is written;
4. the weights are written atomically as safetensors whose metadata names the model and the
   source (file name and SHA-256), so ``--weights OUT`` loads them in every command and refuses
   them for another model.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save

from bench.core import ArtefactError, UsageError, atomic_write_bytes
from bench.core.paths import user_cache_dir
from bench.train.checkpoint import check_state
from models.official import OFFICIAL_CONVERTERS, StateDict, official_converter
from models.registry import canonical_name, create_model, is_model, suggest

__all__ = [
    "NESTED_KEYS",
    "ImportRecord",
    "default_import_path",
    "import_official_weights",
    "read_official_checkpoint",
    "sha256_of",
]

# torch.save writes a zip archive (since 1.6) or, in the legacy format, a pickle (protocol 2+).
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
# Where released checkpoints keep the state dict when they wrap it, tried in this order.
NESTED_KEYS = (
    "state_dict",
    "model_state_dict",
    "model",
    "params_ema",
    "params",
    "net",
    "network",
    "generator",
)


@dataclass(frozen=True)
class ImportRecord:
    """What ``weights import`` did: which file became which weights, and how."""

    model: str
    source: str  # the file as given
    source_name: str
    source_sha256: str  # of the source file's bytes
    out: str
    tensors: int
    params: int
    nested_key: str | None  # the checkpoint key the state dict was under (None: a plain state dict)
    stripped_prefix: str | None  # "module." when the keys carried it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unpickler_reason(exc: BaseException) -> str:
    """The sentence of torch's long weights_only message that says what was refused."""
    found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\.\s|\n\n|$)", str(exc), re.S)
    reason = " ".join(found.group(1).split()) if found else first_line(exc)
    return f"{reason} (it holds Python objects besides tensors; never load it with weights_only=False " + (
        "unless you trust its source)"
    )


def first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # one line, whatever the library printed
    return (text[:200] + "...") if len(text) > 200 else text


def is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_official_checkpoint(path: str | os.PathLike) -> tuple[StateDict, str | None, str | None]:
    """The state dict in ``path``, the nested key it was under and the prefix stripped from its keys."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise UsageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not magic.startswith(CHECKPOINT_MAGIC):
        raise ArtefactError(p, "not a PyTorch checkpoint (neither torch.save's zip archive nor a pickle)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refuses pickles that build other objects
        raise ArtefactError(p, f"refused by torch.load(weights_only=True): {unpickler_reason(exc)}") from None
    except Exception as exc:  # torch raises many types for a file that is no checkpoint at all
        raise ArtefactError(
            p, f"not a PyTorch checkpoint ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    nested = None
    if not is_state_dict(obj) and isinstance(obj, dict):
        nested = next((k for k in NESTED_KEYS if is_state_dict(obj.get(k))), None)
        obj = obj[nested] if nested else obj
    if not is_state_dict(obj):
        what = (
            f"a dict with keys {sorted(map(str, obj))[:6]}" if isinstance(obj, dict) else type(obj).__name__
        )
        raise ArtefactError(p, f"holds no state dict of tensors (found {what})")
    prefix = "module." if all(k.startswith("module.") for k in obj) else None
    if prefix:
        obj = {k[len(prefix) :]: v for k, v in obj.items()}
    return dict(obj), nested, prefix


def default_import_path(model: str, source: str | os.PathLike) -> Path:
    """``<user cache>/weights/<model>/<source stem>.safetensors``: outside every tracked file."""
    return user_cache_dir() / "weights" / model / f"{Path(source).stem}.safetensors"


def import_official_weights(
    model: str, source: str | os.PathLike, out: str | os.PathLike | None = None
) -> ImportRecord:
    """Convert the authors' checkpoint ``source`` for ``model`` and write it (see the module doc)."""
    if not is_model(model):
        hint = suggest(model)
        extra = f"; did you mean {', '.join(hint)}?" if hint else "; see `run_bench.py list`"
        raise UsageError(f"--model {model}: no such registered model{extra}")
    converter = official_converter(model) or official_converter(canonical_name(model))
    if converter is None:
        known = ", ".join(sorted(OFFICIAL_CONVERTERS)) or "none"
        raise UsageError(f"model {model!r} has no converter of official weights (models with one: {known})")
    target = Path(out) if out is not None else default_import_path(model, source)
    if target.suffix != ".safetensors":
        raise UsageError(f"--out {target}: must end in .safetensors (the format --weights reads)")
    state, nested, prefix = read_official_checkpoint(source)
    try:
        converted = converter(state)
    except Exception as exc:  # a checkpoint of another network can break a converter's assumptions
        raise ArtefactError(
            source, f"the {model} converter failed ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    net = create_model(model)
    check_state(net, converted, f"{source} (keys after the {model} converter)")
    net.load_state_dict(converted)  # dtype casts and the strict check, before anything is written
    digest = sha256_of(source)
    meta = {
        "eapbench_model": model,
        "eapbench_source": Path(source).name,
        "eapbench_source_sha256": digest,
        "eapbench_import": "official",
    }
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in converted.items()}
    atomic_write_bytes(target, st_save(tensors, metadata=meta))
    return ImportRecord(
        model=model,
        source=str(source),
        source_name=Path(source).name,
        source_sha256=digest,
        out=str(target),
        tensors=len(tensors),
        params=sum(p.numel() for p in net.parameters()),
        nested_key=nested,
        stripped_prefix=prefix,
    )
