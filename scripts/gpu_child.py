#!/usr/bin/env python3
"""The child process of scripts/gpu_timing.py: one ``run_bench.py`` command with TF32 set, or a description.

    python scripts/gpu_child.py [--tf32 on|off] -- COMMAND ARGS...   # run_bench.py COMMAND ARGS
    python scripts/gpu_child.py --describe DEVICE                    # JSON facts on stdout

TF32 has no ``time`` option: it is torch's process-global switch (``torch.backends.cudnn.allow_tf32``
for convolutions, ``torch.backends.cuda.matmul.allow_tf32`` for matmuls), which ``TimeConfig.tf32``
reads and records. This wrapper sets both before the command runs, so "TF32 on" and "TF32 off" are
two children of the same command; the reference forward of the numerics check turns TF32 off
itself (``strict_fp32``) either way. ``--describe`` prints the device's name, the torch, CUDA, cuDNN
and TensorRT versions and the registered timing backends, so the parent never initialises CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TF32_CHOICES = ("on", "off", "default")


def set_tf32(mode: str) -> None:
    """``on``/``off``: both of torch's TF32 switches; ``default``: leave torch's defaults."""
    import torch

    if mode != "default":
        torch.backends.cudnn.allow_tf32 = mode == "on"
        torch.backends.cuda.matmul.allow_tf32 = mode == "on"


def optional_version(module: str) -> str:
    """The module's version, or ``not available (why)``: an optional GPU package never fails the run."""
    try:
        mod = __import__(module)  # optional dependency (torch_tensorrt, tensorrt): probed, never required
    except Exception as exc:  # ImportError, or a broken install raising OSError/RuntimeError
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"not available ({type(exc).__name__}: {first})"[:200]
    return str(getattr(mod, "__version__", "unknown"))


def describe(device: str) -> dict:
    """What the parent needs to know about this machine, measured in a child."""
    import torch

    from bench.core.environment import device_name, torch_versions
    from bench.timing import BACKENDS

    cuda = device.startswith("cuda")
    available = torch.cuda.is_available() if cuda else True
    return {
        "device": device,
        "cuda_available": available,
        "device_name": device_name(device) if available else None,
        **torch_versions(),
        "torch_tensorrt_version": optional_version("torch_tensorrt"),
        "tensorrt_version": optional_version("tensorrt"),
        "backends": BACKENDS.names(),
        "onnxruntime_providers": onnxruntime_providers(),
    }


def onnxruntime_providers() -> list[str] | str:
    """ONNX Runtime's execution providers here, or ``not available (why)``."""
    version = optional_version("onnxruntime")
    if version.startswith("not available"):
        return version
    import onnxruntime  # imported above by optional_version: only its provider list is read here

    return list(onnxruntime.get_available_providers())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tf32", choices=TF32_CHOICES, default="default")
    ap.add_argument("--describe", metavar="DEVICE")
    args = ap.parse_args(argv)
    if args.describe:
        print(json.dumps(describe(args.describe)))
        return 0
    set_tf32(args.tf32)
    from bench.cli import main as bench_main

    return bench_main(command)


if __name__ == "__main__":
    sys.exit(main())
