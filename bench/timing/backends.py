"""Timing backends: one registry entry per way of running the forward (eager, torch.compile, TensorRT).

An entry is a :class:`TimingBackend`: its name, the device kinds it runs on, an availability probe
(None = usable, else one line saying why not) and ``prepare(model, example, config) -> callable``
that turns the converted model into what is timed. Adding a backend is one file, inside ``bench/``
or in a plugin (``eapbench --plugin FILE.py time --backend NAME``)::

    from bench.timing import timing_backend

    @timing_backend("eager-twice", device_kinds=("cpu",))
    def prepare(model, example, config):
        return lambda ldrs, ev: model(ldrs, model(ldrs, ev) * 0 + ev)

``time --backend`` offers every registered name. Every backend but eager (the reference) has its
output checked against eager fp32 unless it says ``numerics_check=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from bench.core import UsageError
from bench.core.registry import Registry
from bench.timing.numerics import PRECISIONS

if TYPE_CHECKING:
    from bench.timing.config import TimeConfig

Prepare = Callable[[nn.Module, tuple[Tensor, Tensor], "TimeConfig"], Callable[..., Tensor]]

TENSORRT_HINT = (
    "the tensorrt backend needs torch-tensorrt and a CUDA GPU: pip install 'eapbench[tensorrt]' "
    "(a torch-tensorrt release built for this torch version); no other backend is used instead"
)


def always_available() -> str | None:
    return None


@dataclass(frozen=True)
class TimingBackend:
    """One backend. ``prepare`` is called once per timing, outside the timed region.

    ``numerics_check``: compare its output with eager fp32 (only the reference itself says no).
    ``compiles``: its preparation + first call is reported as ``compile_s``.
    ``own_cuda_graphs``: with ``--cuda-graphs`` it captures graphs itself (no second capture by hand).
    ``hint``: how to get it, appended to the message when it cannot be used.
    """

    name: str
    prepare: Prepare
    device_kinds: tuple[str, ...] = ("cpu", "cuda")
    probe: Callable[[], str | None] = always_available
    numerics_check: bool = True
    compiles: bool = True
    own_cuda_graphs: bool = False
    hint: str = ""

    def available(self) -> str | None:
        """None when the backend can be used here, else one line saying why not."""
        return self.probe()

    def check(self, device: torch.device) -> None:
        """A UsageError (one line) when this backend cannot run on ``device`` here."""
        hint = f"; {self.hint}" if self.hint else ""
        if device.type not in self.device_kinds:
            kinds = " or ".join(self.device_kinds)
            raise UsageError(f"--backend {self.name} needs --device {kinds}{hint}")
        why = self.available()
        if why:
            raise UsageError(f"--backend {self.name} is not available: {why}")


BACKENDS: Registry[TimingBackend] = Registry("timing backend")


def timing_backend(name: str, **options: Any) -> Callable[[Prepare], Prepare]:
    """Decorator: register ``prepare`` as the backend ``name`` (``options``: the other :class:`TimingBackend` fields)."""

    def deco(prepare: Prepare) -> Prepare:
        BACKENDS.add(name, TimingBackend(name, prepare, **options))
        return prepare

    return deco


def check_backend(name: str, device: torch.device) -> TimingBackend:
    """The registered backend ``name`` after checking it can run on ``device`` (UsageError otherwise)."""
    backend = BACKENDS.get(name)
    backend.check(device)
    return backend


# ---------------------------------------------------------------------------------------------
# The built-in backends
# ---------------------------------------------------------------------------------------------


def prepare_eager(model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig) -> Callable:
    return model


def prepare_compile(model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig) -> Callable:
    # "reduce-overhead" is torch.compile's own CUDA-graph mode: with --cuda-graphs the graphs are
    # left to it instead of being captured a second time by hand.
    mode = "reduce-overhead" if config.cuda_graphs else config.compile_mode
    return torch.compile(model, mode=mode, dynamic=False)


def tensorrt_module() -> Any:
    """torch_tensorrt, or a UsageError saying how to get it (never a silent fallback)."""
    try:
        import torch_tensorrt  # optional dependency (the tensorrt extra)
    except Exception as exc:  # ImportError, or a broken install raising OSError/RuntimeError
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise UsageError(f"{TENSORRT_HINT} (import failed: {type(exc).__name__}: {first})") from exc
    return torch_tensorrt


def probe_tensorrt() -> str | None:
    try:
        tensorrt_module()
    except UsageError as exc:
        return str(exc)
    return None


def prepare_tensorrt(model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig) -> Callable:
    trt = tensorrt_module()
    return trt.compile(
        model,
        ir="dynamo",
        inputs=list(example),
        enabled_precisions={PRECISIONS[config.precision]},
        min_block_size=1,
    )


BACKENDS.add("eager", TimingBackend("eager", prepare_eager, numerics_check=False, compiles=False))
BACKENDS.add("compile", TimingBackend("compile", prepare_compile, own_cuda_graphs=True))
BACKENDS.add(
    "tensorrt",
    TimingBackend(
        "tensorrt", prepare_tensorrt, device_kinds=("cuda",), probe=probe_tensorrt, hint=TENSORRT_HINT
    ),
)
