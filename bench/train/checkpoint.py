"""Checkpoints and weight files: safetensors weights, a JSON sidecar, strict checks on load.

A training checkpoint at iteration N in ``RUN/checkpoints/`` is three files written one by one
through temp file + rename, and a pointer written last::

    ckpt-0000N.safetensors   model weights under "model.", EMA weights under "ema."
    ckpt-0000N.optim.pt      optimizer (and AMP scaler) state, loaded with weights_only=True
    ckpt-0000N.json          sidecar: model name, config, iteration, file names, data hash, git revision
    last.json                copy of the newest complete sidecar

An interruption at any point leaves ``last.json`` naming a complete, older checkpoint.

Weight files for evaluation (``RUN/ema.safetensors``, ``weights/*.safetensors``) are plain state
dicts; their safetensors metadata names the model, so loading them into another model is refused.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from bench.core import UsageError, atomic_write_bytes, write_json
from bench.core.environment import git_revision
from models.registry import canonical_name

FORMAT = "eapbench-checkpoint-1"
CKPT_DIR = "checkpoints"
KEEP = 2  # complete checkpoints kept on disk (the newest ones)


class CheckpointError(UsageError):
    """A checkpoint or weight file that is missing, corrupt or does not fit the model."""


# ---------------------------------------------------------------------------------------------
# Plain weight files
# ---------------------------------------------------------------------------------------------


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors wants contiguous tensors that own their memory (no shared storage).
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def save_weights(
    path: str | Path, module: nn.Module, model_name: str, extra: dict[str, str] | None = None
) -> Path:
    """Write ``module``'s state dict as safetensors, with the model name in the metadata."""
    meta = {"eapbench_model": model_name, **(extra or {})}
    return atomic_write_bytes(path, st_save(_cpu_state(module), metadata=meta))


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file; a missing or corrupt file is a CheckpointError."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"weights {p}: cannot read ({exc.strerror or exc})") from exc
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__") or {}
    except Exception as exc:  # safetensors raises its own error type for damaged headers and data
        raise CheckpointError(f"weights {p}: not a valid safetensors file ({exc})") from exc
    return tensors, meta


def check_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Refuse a state dict whose keys or shapes differ from ``model``'s, naming the differences."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [
        f"{k} {list(state[k].shape)} != {list(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            shown = ", ".join(items[:4]) + (f" (+{len(items) - 4} more)" if len(items) > 4 else "")
            problems.append(f"{len(items)} {label}: {shown}")
    if problems:
        raise CheckpointError(f"{source} does not fit this model: " + "; ".join(problems))


def resolve_weights_file(path: str | Path) -> Path:
    """The safetensors file that :func:`load_weights` reads for ``path``: the one rule for every command.

    A run folder means its newest checkpoint (``checkpoints/last.json``) while training has left one,
    else its final ``ema.safetensors``; a ``.json`` sidecar means the weight file it names (which
    must lie beside it); anything else is the file itself. The results cache hashes this same file,
    so a resumed run can never return a stale cached score.
    """
    p = Path(path)
    if p.is_dir():
        pointer = p / CKPT_DIR / "last.json"
        if (p / "ema.safetensors").is_file() and not pointer.is_file():
            p = p / "ema.safetensors"
        elif pointer.is_file():
            p = pointer
        else:
            raise CheckpointError(
                f"weights {path}: folder holds neither {CKPT_DIR}/last.json nor ema.safetensors"
            )
    if p.suffix == ".json":
        p = sidecar_member(p, read_sidecar(p), "weights")
    if not p.is_file():
        raise CheckpointError(f"weights {path}: no such file ({p})")
    return p


def load_weights(
    model: nn.Module, path: str | Path, model_name: str | None = None, prefer: str = "ema"
) -> dict[str, Any]:
    """Load weights into ``model`` from a weight file, a checkpoint (``.json``/``.safetensors``) or a run folder.

    A checkpoint holds model and EMA weights; ``prefer`` picks which (the EMA model is the one the
    paper evaluates). Returns ``{"path", "model", "iteration", "which"}`` describing what was loaded.
    """
    p = resolve_weights_file(path)
    tensors, meta = read_safetensors(p)
    saved_name = meta.get("eapbench_model")
    if model_name and saved_name and canonical_name(saved_name) != canonical_name(model_name):
        raise CheckpointError(f"weights {p} were trained for model {saved_name!r}, not {model_name!r}")
    which = "plain"
    if any(k.startswith(("model.", "ema.")) for k in tensors) and meta.get("eapbench_format") == FORMAT:
        which = prefer if any(k.startswith(prefer + ".") for k in tensors) else "model"
        tensors = {k[len(which) + 1 :]: v for k, v in tensors.items() if k.startswith(which + ".")}
    check_state(model, tensors, f"weights {p}")
    model.load_state_dict(tensors)
    return {
        "path": str(p),
        "model": saved_name,
        "iteration": int(meta["iteration"]) if "iteration" in meta else None,
        "which": which,
    }


# ---------------------------------------------------------------------------------------------
# Training checkpoints
# ---------------------------------------------------------------------------------------------


def read_sidecar(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        side = json.loads(p.read_text())
    except OSError as exc:
        raise CheckpointError(f"checkpoint {p}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {p}: corrupt JSON ({exc})") from exc
    if not isinstance(side, dict) or side.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {p}: not an eapbench checkpoint (format != {FORMAT})")
    for key in ("model", "iteration", "weights", "optimizer"):
        if key not in side:
            raise CheckpointError(f"checkpoint {p}: sidecar lacks {key!r}")
    # A hand-edited or foreign sidecar must fail here, naming the file, not deep inside the loop.
    for key in ("model", "weights", "optimizer", "data_hash"):
        if key in side and not isinstance(side[key], str):
            raise CheckpointError(f"checkpoint {p}: {key!r} must be a string, got {side[key]!r}")
    iteration = side["iteration"]
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        raise CheckpointError(f"checkpoint {p}: 'iteration' must be a whole number >= 0, got {iteration!r}")
    seconds = side.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise CheckpointError(f"checkpoint {p}: 'seconds' must be a number >= 0, got {seconds!r}")
    return side


def sidecar_member(sidecar: Path, side: dict[str, Any], key: str) -> Path:
    """The file a sidecar names under ``key``; it must lie beside the sidecar (no path out of the run)."""
    name = side[key]
    target = (sidecar.parent / name).resolve()
    if not name or target.parent != sidecar.parent.resolve():
        raise CheckpointError(f"checkpoint {sidecar}: its {key} file {name!r} is not beside it")
    return target


def save_checkpoint(
    run_dir: str | Path,
    *,
    model_name: str,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler_state: dict[str, Any] | None,
    iteration: int,
    config: dict[str, Any],
    data_hash: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of ``iteration`` (see module doc) and return its sidecar's path."""
    folder = Path(run_dir) / CKPT_DIR
    stem = f"ckpt-{iteration:08d}"
    tensors = {f"model.{k}": v for k, v in _cpu_state(model).items()}
    tensors.update({f"ema.{k}": v for k, v in _cpu_state(ema).items()})
    meta = {"eapbench_format": FORMAT, "eapbench_model": model_name, "iteration": str(iteration)}
    atomic_write_bytes(folder / f"{stem}.safetensors", st_save(tensors, metadata=meta))
    buf = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scaler": scaler_state}, buf)
    atomic_write_bytes(folder / f"{stem}.optim.pt", buf.getvalue())
    side = {
        "format": FORMAT,
        "model": model_name,
        "iteration": iteration,
        "weights": f"{stem}.safetensors",
        "optimizer": f"{stem}.optim.pt",
        "data_hash": data_hash,
        "git_revision": git_revision(),
        "torch_version": torch.__version__,
        "config": config,
        **(extra or {}),
    }
    write_json(folder / f"{stem}.json", side)
    write_json(folder / "last.json", side)
    _prune(folder, keep=KEEP)
    return folder / f"{stem}.json"


def _prune(folder: Path, keep: int) -> None:
    stems = sorted({p.name.split(".")[0] for p in folder.glob("ckpt-*.json")})
    for stem in stems[:-keep]:
        for p in folder.glob(f"{stem}.*"):
            p.unlink(missing_ok=True)


def load_checkpoint(
    run_dir: str | Path,
    *,
    model_name: str,
    model: nn.Module,
    ema: nn.Module,
    optimizer: torch.optim.Optimizer,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Restore model, EMA and optimizer from ``RUN/checkpoints/last.json``; return the sidecar.

    The scaler state (or None) is returned under ``"scaler_state"``.
    """
    pointer = Path(run_dir) / CKPT_DIR / "last.json"
    if not pointer.is_file():
        raise CheckpointError(f"--resume: no checkpoint in {pointer.parent} (last.json missing)")
    side = read_sidecar(pointer)
    if side["model"] != model_name:
        raise CheckpointError(f"checkpoint {pointer} is of model {side['model']!r}, not {model_name!r}")
    weights_path = sidecar_member(pointer, side, "weights")
    tensors, meta = read_safetensors(weights_path)
    if meta.get("eapbench_format") != FORMAT:
        raise CheckpointError(f"checkpoint {weights_path}: not a training checkpoint")
    for prefix, module in (("model", model), ("ema", ema)):
        state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        check_state(module, state, f"checkpoint {weights_path} ({prefix})")
        module.load_state_dict(state)
    optim_path = sidecar_member(pointer, side, "optimizer")
    try:
        opt = torch.load(optim_path, map_location=map_location, weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint {optim_path}: missing") from exc
    except Exception as exc:  # torch raises many types for a damaged pickle/zip
        raise CheckpointError(f"checkpoint {optim_path}: cannot load optimizer state ({exc})") from exc
    side["scaler_state"] = opt.get("scaler")
    return side
