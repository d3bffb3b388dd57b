"""The plan of scripts/gpu_timing.py: its steps in priority order, their time estimates, and running one.

A step is one child process (``gpu_child.py`` around a ``run_bench.py`` command) with its own
timeout: when it runs over, its process group is killed and the step is recorded as ``cut-off``;
what it wrote before (``time --json`` rewrites its file after every model) is kept.

Time estimates (seconds) come from the paper's V100 runtimes at 1920x1080: eapnet-standard 0.24 s
and eapnet-lightweight 0.15 s per forward; any other model is scaled from standard by its MAccs
(AHDR ~19x, ADNet ~43x: pessimistic, their dense convolutions run closer to the card's peak than
EAPNet's memory-bound ones). A current data-centre card (A100/H100/H200) is taken as
:data:`CARD_SPEEDUP` times a V100; fp16/bf16 halve the time. A step's timeout is twice its
estimate plus a margin, never more than what is left of the budget.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent

PAPER_V100_S = {"eapnet-standard": 0.24, "eapnet-lightweight": 0.15}  # the paper, V100, padded 1920x1080
STANDARD_GMACCS = 159.43  # eapnet-standard at 1920x1080, true convention (run_bench.py profile)
CARD_SPEEDUP = 4.0  # vs a V100: bandwidth x4-5, fp32 x4 for A100-H200 (the conservative end)
CPU_FLOPS = 20e9  # a rehearsal's CPU, for its own timeouts
CHILD_START_S = 10.0  # python + torch + bench import, CUDA context
PER_MODEL_S = 2.0  # build, synthetic scene, meta-tensor profile
# One model at 1920x1080 (torch.compile on a CPU: same); ONNX Runtime: the ONNX export (~6 s an
# EAPNet, cached after) + the session, with TensorRT its engine build.
COMPILE_S = {"compile": 45.0, "tensorrt": 60.0, "onnxruntime": 20.0, "onnxruntime-tensorrt": 80.0}
MIN_STEP_S = 5.0  # a step is not started with less budget left

HEADLINE = ("eapnet-lightweight", "eapnet-standard", "ahdr", "adnet")  # the paper's four networks
FAST_PAIR = ("eapnet-lightweight", "eapnet-standard")


@dataclass(frozen=True)
class Step:
    """One child process. ``command``: the full argv; ``outputs``: the raw JSON files it writes.

    ``label``: backend/precision/mode, for the tables; ``skip``: why it is not run (recorded).
    """

    name: str
    command: tuple[str, ...]
    estimate_s: float
    timeout_s: float
    outputs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    mode: str = ""
    skip: str | None = None
    backend: str = ""
    precision: str = ""


@dataclass
class StepResult:
    """What happened: ``status`` ok, failed (exit code), cut-off (timeout), skipped or budget spent."""

    name: str
    status: str
    seconds: float = 0.0
    timeout_s: float = 0.0
    estimate_s: float = 0.0
    exit_code: int | None = None
    detail: str = ""
    models: list[str] = field(default_factory=list)
    mode: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PlanOptions:
    """What the plan depends on (the command line, and what the first steps found out)."""

    device: str
    size: str
    repeat: int
    warmup: int
    raw_dir: Path
    store: tuple[str, ...]  # the results-store options of every ``time`` child
    tensorrt: str | None  # None: torch_tensorrt imports; else why TensorRT is not timed
    maccs: dict[str, float] = field(default_factory=dict)  # per model at --size (profile)
    timeouts: dict[str, float] = field(default_factory=dict)  # overrides, by step-name pattern
    # ONNX Runtime backends that cannot run (backend -> why), from its provider list: see deploy_skips()
    deploy: dict[str, str] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


def child(*argv: str, tf32: str = "default") -> tuple[str, ...]:
    return (sys.executable, str(SCRIPTS / "gpu_child.py"), "--tf32", tf32, "--", *argv)


def forward_s(model: str, maccs: float | None, precision: str, cuda: bool) -> float:
    """Estimated seconds per forward (see the module docstring)."""
    if not cuda:
        return 2.0 * (maccs or 0.0) / CPU_FLOPS
    v100 = (
        PAPER_V100_S.get(model)
        or (maccs or STANDARD_GMACCS * 1e9) / 1e9 * PAPER_V100_S["eapnet-standard"] / STANDARD_GMACCS
    )
    return v100 / CARD_SPEEDUP * (0.5 if precision in ("fp16", "bf16") else 1.0)


def time_estimate(opts: PlanOptions, tier: Tier, backend: str, precision: str) -> float:
    forwards = tier.warmup + tier.repeat + 3  # + the reference, the first call and the checked output
    per = [
        PER_MODEL_S
        + COMPILE_S.get(backend, 0.0)
        + forwards * forward_s(m, opts.maccs.get(m), precision, opts.cuda)
        for m in tier.models
    ]
    return CHILD_START_S + sum(per)


def timeout_for(opts: PlanOptions, name: str, estimate_s: float) -> float:
    for pattern, seconds in opts.timeouts.items():
        if fnmatch.fnmatchcase(name, pattern):
            return seconds
    if not opts.cuda:  # a rehearsal on a shared CPU: its timeouts must not cut the plan it rehearses
        return 4.0 * estimate_s + 120.0
    return 2.0 * estimate_s + 15.0


def by_cost(opts: PlanOptions, models: list[str]) -> tuple[str, ...]:
    """Cheapest first: a step cut off by its timeout loses the costliest models, not the cheap ones."""
    return tuple(sorted(models, key=lambda m: (opts.maccs.get(m) or 0.0, m)))


@dataclass(frozen=True)
class Tier:
    """Models timed together (one child per setting), with their repeats."""

    name: str
    models: tuple[str, ...]
    repeat: int
    warmup: int


def tiers(opts: PlanOptions, models: list[str]) -> list[Tier]:
    """The models by priority: EAPNet standard and lightweight, AHDR, ADNet, every other network.

    AHDR and ADNet cost 19x and 43x EAPNet's MAccs: a quarter of the repeats (at least 5) keeps
    their steps near EAPNet's. The others (EAPNet ablation variants, each about a lightweight)
    get half the repeats.
    """
    heavy_repeat, rest_repeat = max(5, opts.repeat // 4), max(2, opts.repeat // 2)
    groups = [
        Tier("eapnet", by_cost(opts, [m for m in models if m in FAST_PAIR]), opts.repeat, opts.warmup),
        Tier("ahdr", tuple(m for m in models if m == "ahdr"), heavy_repeat, min(opts.warmup, 1)),
        Tier("adnet", tuple(m for m in models if m == "adnet"), heavy_repeat, min(opts.warmup, 1)),
        Tier("others", by_cost(opts, [m for m in models if m not in HEADLINE]), rest_repeat, opts.warmup),
    ]
    return [t for t in groups if t.models]


def time_step(opts: PlanOptions, tier: Tier, backend: str, precision: str, tf32: str = "default",
              graphs: bool = False) -> Step:  # fmt: skip
    """One ``time`` child: ``tier``'s models in one backend, precision and mode."""
    modes, name = [], [backend, precision]
    if precision == "fp32" and tf32 != "default":
        modes.append(f"TF32 {tf32}" + ("" if opts.cuda else " (no effect on cpu)"))
        name.append(f"tf32-{tf32}")
    if graphs:
        modes.append("CUDA graphs" if opts.cuda else "CUDA graphs skipped (cpu rehearsal)")
        name.append("graphs")
    name = "-".join([*name, tier.name])
    out = f"{name}.json"
    argv = ["time", "--models", ",".join(tier.models), "--backend", backend, "--precision", precision]
    argv += ["--device", opts.device, "--size", opts.size, "--pad-from", "auto"]
    argv += ["--warmup", str(tier.warmup), "--repeat", str(tier.repeat), *opts.store]
    argv += ["--json", str(opts.raw_dir / out)]
    if graphs and opts.cuda:
        argv.append("--cuda-graphs")
    estimate = time_estimate(opts, tier, backend, precision)
    skip = opts.tensorrt if backend == "tensorrt" else opts.deploy.get(backend)
    return Step(
        name, child(*argv, tf32=tf32), estimate, timeout_for(opts, name, estimate), (out,), tier.models,
        "; ".join(modes), skip, backend, precision,
    )  # fmt: skip


def eager_steps(opts: PlanOptions, tier: Tier) -> list[Step]:
    """Eager fp32 with TF32 off (strict, the numerics reference's setting) and on; fp16, bf16 with CUDA graphs."""
    return [
        time_step(opts, tier, "eager", "fp32", tf32="off"),
        time_step(opts, tier, "eager", "fp32", tf32="on"),
        time_step(opts, tier, "eager", "fp16", graphs=True),
        time_step(opts, tier, "eager", "bf16", graphs=True),
    ]


def timing_plan(opts: PlanOptions, models: list[str]) -> list[Step]:
    """The ``time`` steps in priority order.

    1. eager (4 settings) for EAPNet standard + lightweight, then for AHDR; 2. TensorRT fp16 for
    standard + lightweight, then AHDR; 3. ONNX Runtime (TensorRT provider fp16, CUDA provider fp16
    and fp32) for the same; 4. torch.compile fp16 for the same; 5. all of it for ADNet (ONNX
    Runtime with TensorRT only); 6. the same for every other registered network. TensorRT first and AHDR before ADNet: the
    issue is done with standard, lightweight and AHDR in eager fp32, fp16 and TensorRT fp16.
    """
    groups = {t.name: t for t in tiers(opts, models)}
    steps: list[Step] = []
    first = [groups[n] for n in ("eapnet", "ahdr") if n in groups]
    for tier in first:
        steps += eager_steps(opts, tier)
    steps += [time_step(opts, tier, "tensorrt", "fp16") for tier in first]
    steps += [s for tier in first for s in deploy_steps(opts, tier)]
    steps += [time_step(opts, tier, "compile", "fp16") for tier in first]
    for tier in (groups[n] for n in ("adnet", "others") if n in groups):
        steps += [*eager_steps(opts, tier), time_step(opts, tier, "tensorrt", "fp16")]
        steps.append(time_step(opts, tier, "onnxruntime-tensorrt", "fp16"))
        steps.append(time_step(opts, tier, "compile", "fp16"))
    return steps


def deploy_steps(opts: PlanOptions, tier: Tier) -> list[Step]:
    """ONNX Runtime beside torch-tensorrt: its TensorRT provider (fp16), its CUDA provider (fp16, fp32)."""
    return [
        time_step(opts, tier, "onnxruntime-tensorrt", "fp16"),
        time_step(opts, tier, "onnxruntime", "fp16"),
        time_step(opts, tier, "onnxruntime", "fp32"),
    ]


def deploy_skips(providers: list[str] | str | None, rehearsal: bool) -> dict[str, str]:
    """Why each ONNX Runtime backend is not timed (absent: it is), from ``onnxruntime_providers``.

    A cpu rehearsal runs ``onnxruntime`` on the CPU provider and skips the TensorRT one.
    """
    if not isinstance(providers, list):
        why = f"onnxruntime {providers or 'not available'}"
        return {"onnxruntime": why, "onnxruntime-tensorrt": why}
    if rehearsal:
        return {"onnxruntime-tensorrt": "GPU-only: skipped in the cpu rehearsal"}
    needed = {"onnxruntime": "CUDAExecutionProvider", "onnxruntime-tensorrt": "TensorrtExecutionProvider"}
    return {
        backend: f"{provider} not in onnxruntime's providers ({', '.join(providers)})"
        for backend, provider in needed.items()
        if provider not in providers
    }


def select(steps: list[Step], patterns: list[str] | None) -> list[Step]:
    """The steps whose name matches one of ``patterns`` (shell wildcards; None: all)."""
    if not patterns:
        return steps
    return [s for s in steps if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]


def run_step(step: Step, deadline: float, log: Path, env: dict[str, str]) -> StepResult:
    """Run one step within its timeout and what is left of the budget; never raises."""
    base = {"timeout_s": 0.0, "estimate_s": step.estimate_s, "models": list(step.models), "mode": step.mode}
    if step.skip:
        return StepResult(step.name, "skipped", detail=step.skip, **base)
    left = deadline - time.perf_counter()
    if left < MIN_STEP_S:
        return StepResult(step.name, "budget spent", detail=f"{max(left, 0):.0f} s left", **base)
    base["timeout_s"] = timeout = min(step.timeout_s, left)
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"\n## step {step.name} (timeout {timeout:.0f} s)\n$ {' '.join(step.command)}\n")
        fh.flush()
        try:
            proc = subprocess.Popen(
                list(step.command), cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            return StepResult(step.name, "failed", detail=str(exc), **base)
        try:
            rc = proc.wait(timeout=max(timeout, 1.0))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the child and any compile workers it started
            proc.wait()
            secs = time.perf_counter() - t0
            return StepResult(step.name, "cut-off", secs, detail=f"killed after {secs:.0f} s", **base)
    secs = time.perf_counter() - t0
    # time exits 1 when a model failed or missed its numerics bound: its records say which
    status = "ok" if rc in (0, 1) else "failed"
    return StepResult(step.name, status, secs, exit_code=rc, detail="" if rc == 0 else f"exit {rc}", **base)
