"""Which timing backends a model runs on: ``profile --backends`` tries each one on a tiny input.

A backend "supports" a model when one forward runs and passes the numerics check against eager
fp32 at :data:`SUPPORT_SIZE`. A model a deployment backend cannot export or load is reported
with the op that blocks it (:func:`bench.timing.onnx_export.blocking_op`, generic: deformable
convs, ``grid_sample``, attention or a custom op all read the same way); a backend that is not
installed, or not for this device, says so in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.core import UsageError
from bench.timing.backends import BACKENDS
from bench.timing.config import TimeConfig
from bench.timing.deploy_backends import deploy_problem
from bench.timing.onnx_export import ExportError, first_line
from bench.timing.runner import time_model

SUPPORT_SIZE = (64, 64)
DEFAULT_BACKENDS = ("onnxruntime", "openvino")


@dataclass(frozen=True)
class BackendSupport:
    """One model on one backend: ``status`` ok / blocked / failed / numerics-failed / unavailable."""

    model: str
    backend: str
    status: str
    op: str | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.status == "ok":
            return "ok"
        if self.status == "blocked":
            return f"blocked by {self.op}"
        return f"{self.status}: {self.detail}"[:120]


def backend_support(model: str, backend: str, device: str = "cpu") -> BackendSupport:
    """Try ``backend`` on ``model`` once at :data:`SUPPORT_SIZE` (see the module docstring)."""
    BACKENDS.get(backend)  # an unknown name: a UsageError with the close matches
    why = deploy_problem(backend, device)  # device kind, package, ONNX Runtime provider
    if why:
        return BackendSupport(model, backend, "unavailable", detail=why)
    config = TimeConfig(
        device=device, backend=backend, size=SUPPORT_SIZE, warmup=0, repeat=1, memory=False, noise_rounds=1
    )
    try:
        rec = time_model(model, config)
    except ExportError as exc:
        status = "blocked" if exc.op else "failed"
        return BackendSupport(model, backend, status, exc.op, first_line(exc))
    except UsageError:
        raise
    except Exception as exc:  # any other failure of this model on this backend: reported, not raised
        return BackendSupport(model, backend, "failed", detail=first_line(exc))
    if rec["status"] != "ok":
        return BackendSupport(model, backend, rec["status"], detail="; ".join(rec["warnings"]))
    return BackendSupport(model, backend, "ok")
