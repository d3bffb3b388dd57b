"""Where and with what a number was measured: git state, device names, library versions.

Every record that carries provenance (results store manifests, timing records, checkpoints, train
summaries) takes it from here, so the same fact is always named and computed the same way.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.core import CHECKOUT_ROOT


def _git(*args: str) -> str | None:
    if CHECKOUT_ROOT is None:
        return None  # an installed wheel: no revision (git -C would ask whatever repository holds it)
    try:
        out = subprocess.run(
            ["git", "-C", str(CHECKOUT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> tuple[str | None, bool | None]:
    """``(full commit hash, has uncommitted changes to tracked files)``; ``(None, None)`` outside git."""
    revision = _git("rev-parse", "HEAD")  # None outside a repository or before the first commit
    status = _git("status", "--porcelain", "--untracked-files=no")
    return revision, None if status is None else bool(status)


def git_revision() -> str | None:
    """Short commit hash, with ``-dirty`` for local changes to tracked files; None outside git."""
    revision, dirty = git_state()
    if revision is None:
        return None
    return revision[:12] + ("-dirty" if dirty else "")


def suite_version() -> str:
    try:
        return version("eapbench")
    except PackageNotFoundError:
        return "unknown"


def cpu_name() -> str:
    """The CPU's model name and logical core count (what a CPU timing was measured on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} logical cores)"
    except OSError:
        pass
    return (platform.processor() or platform.machine() or "cpu") + f" ({os.cpu_count()} logical cores)"


def device_name(device: Any) -> str:
    """A GPU's marketing name, or :func:`cpu_name` for the CPU."""
    import torch  # deferred: `import bench.core` loads no third-party package (test_architecture)

    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


def torch_versions() -> dict[str, str | None]:
    import torch  # deferred: `import bench.core` loads no third-party package (test_architecture)

    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": None if cudnn is None else str(cudnn),
    }


def environment_manifest(device: str | None = None) -> dict[str, Any]:
    """Where and with what a result was measured: versions, revision, machine, device."""
    import torch  # deferred: `import bench.core` loads no third-party package (test_architecture)

    revision, dirty = git_state()
    cuda = torch.cuda.is_available()
    manifest: dict[str, Any] = {
        "suite_version": suite_version(),
        "git_revision": revision,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        **torch_versions(),
        "cuda_available": cuda,
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
    }
    if device is not None:
        manifest["device"] = str(device)
    return manifest
