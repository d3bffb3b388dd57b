"""``TimeConfig``: every option of one timing, written once.

The fields' metadata (:class:`Option`) gives each option's command-line flag, help text and
choices (:func:`add_config_arguments`, :meth:`TimeConfig.from_args`) and how it enters the results
cache key (:meth:`TimeConfig.cache_settings`). The key is derived from the fields, so a new option
is in it unless its metadata says ``in_key=False``; facts of the environment the number depends
on (the device's name, TF32, the torch version) are added to it. Validation is in
``__post_init__``: a config that exists can run (bad input is a one-line :class:`UsageError`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.core import NTIRE_SIZE, PADDED_SIZE, UsageError, format_size, parse_size, resolve_device
from bench.core.environment import device_name
from bench.spec.weights import WeightsRef
from bench.timing.backends import BACKENDS, TimingBackend, check_backend
from bench.timing.deploy_backends import runtime_version
from bench.timing.numerics import PRECISIONS, REL_L2_BOUNDS
from bench.timing.stats import CV_WARNING

Size = tuple[int, int]

MAX_BATCH = 1024  # bounds that turn a typo (--batch 100000) into one line, not an out-of-memory hang
MAX_REPEAT = 100_000


@dataclass(frozen=True)
class Option:
    """How one :class:`TimeConfig` field appears on the command line and in the cache key.

    ``flag``: the option (default ``--field-name``; ``--no-field-name`` for a bool that defaults
    to True; None: no command-line option). ``cli_default``: the default as typed, when the
    field's own default is not (e.g. ``"1920x1080"``). ``parse(text, namespace)``: typed text ->
    field value. ``in_key``: whether the field belongs in the cache key; ``encode(config, value)``:
    what the key stores for it (default: the value).
    """

    help: str
    flag: str | None = ""
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    choices: Callable[[], list[str]] | None = None
    cli_default: Any = None
    parse: Callable[[Any, argparse.Namespace], Any] | None = None
    in_key: bool = True
    encode: Callable[[Any, Any], Any] | None = None


def option(help: str, **kwargs: Any) -> dict[str, Option]:
    """Field metadata: ``field(default=..., metadata=option("help", ...))``."""
    return {"option": Option(help, **kwargs)}


def resolve_pad_from(text: str | None, size: Size) -> Size | None:
    """``auto`` (1900x1060 when ``size`` is 1920x1080, else none), ``none`` or ``WxH`` (not above ``size``)."""
    text = str(text).strip().lower()
    if text == "none":
        return None
    if text == "auto":
        return NTIRE_SIZE if tuple(size) == PADDED_SIZE else None
    pad = parse_size(text)
    if pad[0] > size[0] or pad[1] > size[1]:
        raise UsageError(f"--pad-from {text} is larger than --size {format_size(*size)}")
    return pad


def _size_or_none(value: Any) -> Size | None:
    if value is None:
        return None
    if isinstance(value, str):
        return parse_size(value)
    width, height = value
    return int(width), int(height)


@dataclass(frozen=True)
class TimeConfig:
    """One configuration of a timing (see :func:`bench.timing.time_model`). Sizes are ``(width, height)``."""

    device: str = field(
        default="cpu",
        metadata=option("cpu or cuda[:N] (default: cpu)", encode=lambda c, v: device_name(c.torch_device)),
    )
    backend: str = field(default="eager", metadata=option("default: eager", choices=lambda: BACKENDS.names()))
    precision: str = field(
        default="fp32",
        metadata=option(
            "model and input dtype (default: fp32); TensorRT is usually run with fp16",
            choices=lambda: list(PRECISIONS),
        ),
    )
    channels_last: bool = field(default=False, metadata=option("NHWC memory format for the model"))
    cuda_graphs: bool = field(
        default=False,
        metadata=option("replay the forward as a CUDA graph (with --backend compile: mode reduce-overhead)"),
    )
    compile_mode: str | None = field(
        default=None,
        metadata=option("torch.compile mode, e.g. max-autotune (default: torch's default)", metavar="MODE"),
    )
    size: Size = field(
        default=PADDED_SIZE,
        metadata=option(
            "timed input size (default: 1920x1080)",
            metavar="WxH",
            cli_default=format_size(*PADDED_SIZE),
            parse=lambda text, ns: parse_size(text),
            encode=lambda c, v: format_size(*v),
        ),
    )
    pad_from: Size | None = field(
        default=None,
        metadata=option(
            "make the input at this size and replicate-pad it to --size, output cropped back "
            "(default: 1900x1060 when --size is 1920x1080, else none)",
            metavar="WxH|none",
            cli_default="auto",
            parse=lambda text, ns: resolve_pad_from(text, parse_size(ns.size)),
            encode=lambda c, v: format_size(*v) if v else None,
        ),
    )
    batch: int = field(default=1, metadata=option("batch size (default: 1)", type=int))
    warmup: int = field(default=10, metadata=option("untimed forwards first (default: 10)", type=int))
    repeat: int = field(default=100, metadata=option("timed forwards (default: 100)", type=int))
    max_cv: float = field(
        default=CV_WARNING,
        metadata=option(
            "noise bound: a timing whose coefficient of variation is above it is measured again "
            f"(default: {CV_WARNING})",
            type=float,
            in_key=False,  # a bound on the result, not a setting of it: a cached result is checked against it
        ),
    )
    noise_rounds: int = field(
        default=3,
        metadata=option(
            "rounds of timed forwards at most while the CV is above --max-cv; still above: stored as noisy "
            "(default: 3)",
            type=int,
            in_key=False,
        ),
    )
    threads: int | None = field(
        default=None,
        metadata=option(
            "CPU threads (default: torch's choice; always recorded)",
            type=int,
            # the number actually used: torch's default differs between machines
            encode=lambda c, v: v or (torch.get_num_threads() if c.torch_device.type == "cpu" else None),
        ),
    )
    weights: WeightsRef | None = field(
        default=None,
        metadata=option(
            "safetensors weights (timing does not depend on them)",
            metavar="PATH",
            encode=lambda c, v: v.digest if v else None,  # the file loaded, not the name typed
        ),
    )
    scene: str | None = field(
        default=None,
        metadata=option(
            "input scene: an .hdr/.exr radiance map or an NTIRE prefix DIR/0000 (default: a synthetic HDR scene)",
            metavar="PATH",
            encode=lambda c, v: str(Path(v).resolve()) if v else None,
        ),
    )
    max_rel_error: float | None = field(
        default=None,
        metadata=option(
            "numerics bound on the relative L2 error (default: 5e-3 fp32, 2e-2 fp16, 5e-2 bf16)", type=float
        ),
    )
    memory: bool = field(
        default=True, metadata=option("skip the peak-memory measurement (CPU: a child process)")
    )

    def __post_init__(self) -> None:
        def normalize(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # frozen: normalized once, here

        dev = resolve_device(self.device)
        normalize("device", str(dev))
        normalize("size", _size_or_none(self.size))
        normalize("pad_from", _size_or_none(self.pad_from))
        if self.weights is not None and not isinstance(self.weights, WeightsRef):
            normalize("weights", WeightsRef.resolve(self.weights))
        if self.scene is not None:
            normalize("scene", str(self.scene))
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.cuda_graphs and dev.type != "cuda":
            raise UsageError("--cuda-graphs needs --device cuda")
        check_backend(self.backend, dev)
        if self.batch < 1 or self.repeat < 1 or self.warmup < 0:
            raise UsageError(
                f"--batch {self.batch} and --repeat {self.repeat} must be >= 1, --warmup {self.warmup} >= 0"
            )
        if self.batch > MAX_BATCH or self.repeat > MAX_REPEAT or self.warmup > MAX_REPEAT:
            raise UsageError(
                f"--batch {self.batch}, --repeat {self.repeat} or --warmup {self.warmup} is too large "
                f"(at most {MAX_BATCH} images a batch, {MAX_REPEAT} forwards)"
            )
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads {self.threads}: must be >= 1")
        if not (math.isfinite(self.max_cv) and self.max_cv > 0) or self.noise_rounds < 1:
            raise UsageError(
                f"--max-cv {self.max_cv} must be a positive number and --noise-rounds {self.noise_rounds} >= 1"
            )
        bound = self.max_rel_error
        if bound is not None and not (math.isfinite(bound) and bound > 0):
            raise UsageError(f"--max-rel-error {bound}: must be a positive number")
        if self.pad_from and (self.pad_from[0] > self.size[0] or self.pad_from[1] > self.size[1]):
            raise UsageError(
                f"--pad-from {format_size(*self.pad_from)} is larger than --size {format_size(*self.size)}"
            )

    # -- derived facts -------------------------------------------------------------------------

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def backend_entry(self) -> TimingBackend:
        return BACKENDS.get(self.backend)

    @property
    def source_size(self) -> Size:
        """The size the input is made at (``pad_from``, else ``size``)."""
        return self.pad_from or self.size

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    @property
    def rel_l2_bound(self) -> float:
        return REL_L2_BOUNDS[self.precision] if self.max_rel_error is None else self.max_rel_error

    @property
    def tf32(self) -> bool:
        """Whether cuDNN may use TF32 for this timing's fp32 convolutions (torch's global switch)."""
        return bool(self.torch_device.type == "cuda" and torch.backends.cudnn.allow_tf32)

    def needs_numerics_check(self) -> bool:
        """Everything but the reference itself (eager fp32, contiguous, no graphs, CPU) is checked."""
        return not (
            self.torch_device.type == "cpu"
            and not self.backend_entry.numerics_check
            and self.precision == "fp32"
            and not self.channels_last
            and not self.cuda_graphs
        )

    def replace(self, **changes: Any) -> TimeConfig:
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """The fields a failed record keeps (what was tried)."""
        return {
            "device": self.torch_device.type,
            "backend": self.backend,
            "precision": self.precision,
            "width": self.size[0],
            "height": self.size[1],
            "batch": self.batch,
        }

    def cache_settings(self) -> dict[str, Any]:
        """The results-cache settings: every field (encoded as its :class:`Option` says) + environment facts.

        The keys are the field names (stable: databases written before ``TimeConfig`` existed hit).
        """
        settings: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            opt = f.metadata.get("option")
            if opt is not None and not opt.in_key:
                continue
            value = getattr(self, f.name)
            settings[f.name] = opt.encode(self, value) if opt is not None and opt.encode else value
        settings["tf32"] = self.tf32
        settings["torch"] = torch.__version__
        runtime = runtime_version(self.backend)
        if runtime:  # a deployment backend's time depends on its runtime's version (other keys unchanged)
            settings["runtime"] = runtime
        return settings

    # -- the command line ----------------------------------------------------------------------

    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> TimeConfig:
        """The config the options of :func:`add_config_arguments` describe (validated)."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            opt = f.metadata.get("option")
            if opt is None or opt.flag is None:
                continue
            value = getattr(args, f.name)
            values[f.name] = opt.parse(value, args) if opt.parse else value
        return cls(**{**values, **overrides})


def add_config_arguments(
    parser: argparse.ArgumentParser, config_class: type[TimeConfig] = TimeConfig
) -> None:
    """One command-line option per field, from the field's :class:`Option` (flag, help, choices)."""
    for f in dataclasses.fields(config_class):
        opt = f.metadata.get("option")
        if opt is None or opt.flag is None:
            continue
        name = f.name.replace("_", "-")
        if f.default is True:  # an on-by-default switch is offered as --no-NAME
            parser.add_argument(opt.flag or f"--no-{name}", dest=f.name, action="store_false", help=opt.help)
            continue
        if f.default is False:
            parser.add_argument(opt.flag or f"--{name}", dest=f.name, action="store_true", help=opt.help)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "help": opt.help}
        kwargs["default"] = opt.cli_default if opt.cli_default is not None else f.default
        if opt.metavar:
            kwargs["metavar"] = opt.metavar
        if opt.type:
            kwargs["type"] = opt.type
        if opt.choices:
            kwargs["choices"] = opt.choices()
        parser.add_argument(opt.flag or f"--{name}", **kwargs)
