"""The GPU machine around scripts/gpu_timing.py: installs, the driver version, the card's folder name.

Nothing here imports torch: versions come from ``gpu_child.py --describe`` (a child process), so
the parent process never holds a CUDA context while the timings run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

INSTALL_TIMEOUT_S = 120.0  # one pip install: ~1 GB of TensorRT wheels on a data-centre link, with margin


@dataclass
class InstallResult:
    """One package install: ``status`` is installed, present, failed, timeout or skipped."""

    package: str
    requirement: str
    status: str
    seconds: float = 0.0
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def card_slug(name: str) -> str:
    """The card's folder name: ``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def tensorrt_requirement(torch_version: str) -> str:
    """torch-tensorrt releases follow torch's minor version (2.5.x for torch 2.5): pin that series."""
    major, minor = torch_version.split("+")[0].split(".")[:2]
    return f"torch-tensorrt=={major}.{minor}.*"


def pip_command(requirement: str, torch_version: str, constraints: Path) -> list[str]:
    """pip install ``requirement`` without touching torch (a constraint pins the installed build)."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--retries", "1"]
    cmd += ["--timeout", "15", "-c", str(constraints), requirement]
    local = torch_version.partition("+")[2]
    if local.startswith("cu"):  # a CUDA build of torch: its index has the matching torch-tensorrt wheels
        cmd += ["--extra-index-url", f"https://download.pytorch.org/whl/{local}"]
    return cmd


def pip_install(
    package: str, requirement: str, torch_version: str, timeout_s: float, log: Path
) -> InstallResult:
    """Run one pip install with a timeout; never raises (a failed install is a result)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(f"torch=={torch_version}\n")
        cmd = pip_command(requirement, torch_version, constraints)
        with open(log, "a") as fh:
            fh.write(f"\n$ {' '.join(cmd)}  (timeout {timeout_s:.0f} s)\n")
            fh.flush()
            try:
                rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s).returncode
            except subprocess.TimeoutExpired:
                return InstallResult(package, requirement, "timeout", time.perf_counter() - t0, "see the log")
            except OSError as exc:
                return InstallResult(package, requirement, "failed", time.perf_counter() - t0, str(exc))
    status = "installed" if rc == 0 else "failed"
    detail = "" if rc == 0 else f"pip exit {rc}; see the log"
    return InstallResult(package, requirement, status, time.perf_counter() - t0, detail)


def wanted_packages(facts: dict) -> list[tuple[str, str, str | None]]:
    """``(package, requirement, why it is already there or None)`` for what this run can use.

    torch-tensorrt for ``--backend tensorrt``; onnxruntime-gpu only when an ``onnxruntime``
    timing backend is registered (the deployment-backend issue).
    """
    torch_version = facts.get("torch_version") or "0.0"
    have_trt = facts.get("torch_tensorrt_version", "")
    wanted = [
        (
            "torch-tensorrt",
            tensorrt_requirement(torch_version),
            None if have_trt.startswith("not available") else f"torch_tensorrt {have_trt} imports",
        )
    ]
    if "onnxruntime" in facts.get("backends", []):
        providers = facts.get("onnxruntime_providers") or []
        has_cuda = isinstance(providers, list) and "CUDAExecutionProvider" in providers
        wanted.append(
            ("onnxruntime-gpu", "onnxruntime-gpu", "CUDAExecutionProvider present" if has_cuda else None)
        )
    return wanted


def install_all(facts: dict, rehearsal: bool, deadline: float, log: Path) -> list[InstallResult]:
    """Install what is missing, each within its timeout and the run's budget; rehearsal: record only."""
    results = []
    for package, requirement, present in wanted_packages(facts):
        if rehearsal:
            results.append(
                InstallResult(package, requirement, "skipped", detail="cpu rehearsal: not installed")
            )
        elif present:
            results.append(InstallResult(package, requirement, "present", detail=present))
        else:
            left = min(INSTALL_TIMEOUT_S, deadline - time.perf_counter())
            if left < 10:
                results.append(InstallResult(package, requirement, "skipped", detail="budget spent"))
                continue
            results.append(pip_install(package, requirement, facts.get("torch_version", ""), left, log))
    return results


def driver_version(rehearsal: bool) -> str:
    """The NVIDIA driver: nvidia-smi, else /proc/driver/nvidia/version, else ``unknown``."""
    if rehearsal:
        return "not queried (cpu rehearsal)"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return "unknown (no nvidia-smi, no /proc/driver/nvidia/version)"
    found = re.search(r"Kernel Module\s+(\S+)", text)
    return found.group(1) if found else text.splitlines()[0][:80]
