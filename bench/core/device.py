"""Choosing the torch device from what the user typed (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

from bench.core.errors import UsageError


def resolve_device(name: str | None = "auto", local_rank: int | None = None):
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> a ``torch.device``; a missing GPU is a UsageError.

    ``auto`` picks a CUDA GPU when there is one. A bare ``cuda`` means this process's GPU: under
    torchrun ``cuda:LOCAL_RANK`` (pass ``local_rank``), else the current device.
    """
    import torch  # deferred: `import bench.core` loads no third-party package (test_architecture)

    text = (name or "auto").strip().lower()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except RuntimeError as exc:
        raise UsageError(f"device {name!r} is not cpu, cuda, cuda:N or auto") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device {name!r}: CUDA is not available here (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu"
            )
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device() if local_rank is None else local_rank)
        if dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type != "cpu":
        raise UsageError(f"device {name!r}: only cpu and cuda are supported")
    return dev
