"""The training loop: :func:`train` runs a :class:`TrainConfig` on one CPU, one GPU or many (torchrun).

A run resumed from a checkpoint (model, EMA, optimizer state, iteration) continues bit for bit as
if it had never stopped (on the CPU; on GPUs also with ``deterministic=True``): the data order and
the flips depend only on (seed, iteration, rank), see :mod:`bench.train.batches`.

Run folder: ``config.json``, ``log.csv`` (:mod:`bench.train.log`), ``checkpoints/`` (see
:mod:`bench.train.checkpoint`), and at the end ``model.safetensors``, ``ema.safetensors`` (plain
state dicts) and ``summary.json``. Only rank 0 writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.core import UsageError, write_json
from bench.core import distributed as D
from bench.core.environment import device_name
from bench.data import PatchDataset, dataset_fingerprint, scan_dataset
from bench.evaluation.evaluate import evaluate_module
from bench.spec.model import ModelSpec
from bench.spec.variants import check_contract
from bench.train import checkpoint as ckpt
from bench.train.batches import IterationBatches, batch_stream, check_cache_fits, random_flips
from bench.train.config import TrainConfig, lr_at, resolve_config
from bench.train.ema import ema_copy, ema_update, ema_updates
from bench.train.interrupt import StepBoundaryInterrupt
from bench.train.log import log_row, progress_bar, read_log, write_log
from bench.train.losses import get_loss
from bench.train.summary import TrainSummary


def build_model(spec: str) -> tuple[str, nn.Module]:
    """A registered model name or a variant spec (``file.py:factory``, ``module:Class``) -> (name, model)."""
    model_spec = ModelSpec.parse(spec)
    return model_spec.name, model_spec.build()


def configure_backends(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels when asked (bit-for-bit GPU resume); otherwise let the GPU pick fast ones."""
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@dataclass
class RunState:
    """What a training window works on: the modules, the optimizer, and where the run stands."""

    model_name: str
    model: nn.Module
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    data_hash: str
    iteration: int = 0
    seconds_before: float = 0.0  # training time of the earlier windows of a resumed run


def resume_state(state: RunState, cfg: TrainConfig, device: torch.device) -> None:
    """Load the run's last checkpoint into ``state``; refuse changed data or a run that is already done."""
    run_dir = Path(cfg.out)
    side = ckpt.load_checkpoint(
        run_dir,
        model_name=state.model_name,
        model=state.model,
        ema=state.ema,
        optimizer=state.optimizer,
        map_location=device,
    )
    if side.get("data_hash") != state.data_hash:
        raise ckpt.CheckpointError(
            f"--resume: the training data changed since the checkpoint ({cfg.data}: files added, removed or "
            "rewritten); resuming would not continue the same run"
        )
    state.iteration, state.seconds_before = side["iteration"], float(side.get("seconds", 0.0))
    if state.iteration >= cfg.iters:
        raise UsageError(
            f"--resume: {run_dir} is already at iteration {state.iteration}; pass --iters above "
            f"{state.iteration} to train on"
        )


def save_checkpoint(state: RunState, cfg: TrainConfig, iteration: int, seconds: float) -> None:
    """Write the checkpoint of ``iteration`` (rank 0 only; the caller writes the log beside it)."""
    ckpt.save_checkpoint(
        Path(cfg.out),
        model_name=state.model_name,
        model=state.model,
        ema=state.ema,
        optimizer=state.optimizer,
        scaler_state=None,
        iteration=iteration,
        config=cfg.to_json(),
        data_hash=state.data_hash,
        extra={"seconds": seconds, "ema_updates": ema_updates(iteration, cfg.ema_every)},
    )


def validate_ema(ema: nn.Module, model_name: str, cfg: TrainConfig, device: torch.device) -> dict[str, str]:
    """Mean PSNR / PSNR-µ of the EMA model on the validation set (in memory, no 16-bit round trip)."""
    rec = evaluate_module(
        ema, cfg.val_data, cfg.val_ids, name=model_name, device=device, show_progress=False, distributed=False
    )
    # None when no image could be scored (non-finite outputs): logged as "nan", never as a number.
    return {f"val_{k}": "nan" if rec[k] is None else f"{rec[k]:.4f}" for k in ("psnr", "psnr_mu")}


def any_rank(ctx: D.DistContext, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on one (all ranks must stop at the same iteration)."""
    if not ctx.distributed:
        return flag
    tensor = torch.tensor([float(flag)], device=device)
    torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
    return bool(tensor.item())


def train(
    cfg: TrainConfig,
    resume: bool = False,
    given: set[str] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainSummary:
    """Train (or continue training) and return the train summary.

    ``given`` names the options the user set explicitly (checked against the saved config on resume);
    ``on_log`` is called with each log row on rank 0.
    """
    ctx = D.setup(cfg.device)
    cfg = resolve_config(cfg, resume, given if given is not None else set())
    run_dir = Path(cfg.out)
    if cfg.batch % ctx.world:
        raise UsageError(f"--batch {cfg.batch} must be a multiple of the number of processes ({ctx.world})")
    device = ctx.device
    configure_backends(cfg.deterministic, device)

    spec = ModelSpec.parse(cfg.model)  # an unknown model is reported before any data is read
    ids = scan_dataset(cfg.data, cfg.ids, require_gt=True)
    if cfg.val_data:  # a bad --val-data is reported now, not at the first validation hours later
        scan_dataset(cfg.val_data, cfg.val_ids, require_gt=True)
    dataset = PatchDataset(cfg.data, ids, patch=cfg.patch, stride=cfg.stride)
    if cfg.cache:
        check_cache_fits(len(dataset), cfg.patch, device)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank (DDP checks that too)
    model = spec.build()
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params == 0:
        raise UsageError(f"model {spec.name!r} has no trainable parameters (a parameter-free reference)")
    check_contract(model, spec.name)  # as compare does: a broken forward is one line before any step
    model.to(device)
    state = RunState(
        model_name=spec.name,
        model=model,
        ema=ema_copy(model),
        optimizer=torch.optim.Adam(model.parameters(), lr=cfg.lr),
        data_hash=dataset_fingerprint(cfg.data, ids),
    )
    if resume:
        resume_state(state, cfg, device)
    start, seconds_before = state.iteration, state.seconds_before
    # The old log is read (and checked) before config.json is rewritten: a bad run folder stays as it was.
    log_rows = read_log(run_dir / "log.csv", start) if ctx.is_main else []
    if ctx.is_main:
        write_json(run_dir / "config.json", cfg.to_json())

    net: nn.Module = model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    loss_fn = get_loss(cfg.loss)
    sampler = IterationBatches(
        len(dataset), cfg.batch // ctx.world, start, cfg.iters, cfg.seed, ctx.rank, ctx.world
    )
    batches = batch_stream(dataset, sampler, device, cfg.workers, cfg.cache, show=ctx.is_main)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp)

    def save(iteration: int, seconds: float) -> None:
        if ctx.is_main:
            save_checkpoint(state, cfg, iteration, seconds)
            write_log(run_dir / "log.csv", log_rows)

    it = start
    t0 = time.perf_counter()
    t_log, it_log = t0, start
    running = torch.zeros((), device=device)
    n_running = 0
    last_loss = math.nan
    stopped = "iterations"
    bar = progress_bar(cfg.iters, start, f"train {spec.name}", enabled=ctx.is_main)
    net.train()
    interrupt = StepBoundaryInterrupt().__enter__()  # left in the finally below
    in_update = False  # between optimizer.step() and the counter: the state is not at a step boundary
    try:
        while it < cfg.iters:
            interrupt.check()
            batch = next(batches)
            ldrs = batch["ldrs"].to(device, non_blocking=True)
            ev = batch["ev"].to(device, non_blocking=True)
            gt = batch["gt"].to(device, non_blocking=True)
            if cfg.flips:
                flipped = random_flips({"ldrs": ldrs, "gt": gt}, cfg.seed, it, ctx.rank)
                ldrs, gt = flipped["ldrs"], flipped["gt"]
            lr = lr_at(cfg, it)
            for group in state.optimizer.param_groups:
                group["lr"] = lr
            with amp:
                pred = net(ldrs, ev)
            loss = loss_fn(pred.float(), gt)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            in_update = True
            state.optimizer.step()
            it += 1
            if it % cfg.ema_every == 0:
                ema_update(state.ema, model, cfg.ema_decay)
            in_update = False
            running += loss.detach()
            n_running += 1
            bar.update(1)

            elapsed = time.perf_counter() - t0
            out_of_time = cfg.max_minutes is not None and (seconds_before + elapsed) >= cfg.max_minutes * 60
            if cfg.max_minutes is not None:
                out_of_time = any_rank(ctx, out_of_time, device)
            if it % cfg.log_every == 0 or it == cfg.iters or out_of_time:
                mean_loss = running / max(n_running, 1)
                if ctx.distributed:
                    torch.distributed.all_reduce(mean_loss, op=torch.distributed.ReduceOp.AVG)
                last_loss = float(mean_loss)
                if not math.isfinite(last_loss):
                    raise RuntimeError(
                        f"training diverged: loss is {last_loss} at iteration {it} (lower --lr?)"
                    )
                now = time.perf_counter()
                row = log_row(
                    it, last_loss, lr, seconds_before + now - t0, (it - it_log) / max(now - t_log, 1e-9)
                )
                t_log, it_log = now, it
                running.zero_()
                n_running = 0
                at_val = cfg.val_every and (it % cfg.val_every == 0 or it == cfg.iters or out_of_time)
                if at_val and ctx.is_main:
                    row.update(validate_ema(state.ema, spec.name, cfg, device))
                log_rows.append(row)
                if ctx.is_main:
                    bar.set_postfix(loss=f"{last_loss:.4f}", lr=f"{lr:.2e}")
                    if on_log:
                        on_log(row)
            if it % cfg.save_every == 0 and it != cfg.iters and not out_of_time:
                save(it, seconds_before + time.perf_counter() - t0)
            if out_of_time:
                stopped = f"time limit ({cfg.max_minutes:g} min)"
                break
    except KeyboardInterrupt:
        # Keep what was done: the checkpoint lets --resume continue from here. A second Ctrl-C in the
        # middle of an update leaves no consistent state to save: the previous checkpoint stays.
        if not in_update:
            save(it, seconds_before + time.perf_counter() - t0)
        raise
    finally:
        interrupt.__exit__(None, None, None)
        bar.close()
    seconds = seconds_before + time.perf_counter() - t0
    save(it, seconds)
    summary = TrainSummary(
        model=spec.name,
        run_dir=str(run_dir),
        iters=it,
        batch=cfg.batch,
        patch=cfg.patch,
        loss=cfg.loss,
        final_loss=last_loss,
        lr=cfg.lr,
        seconds=round(seconds, 3),
        device=str(device),
        device_name=device_name(device),
        world_size=ctx.world,
        amp=cfg.amp,
        torch_version=torch.__version__,
        weights=str(run_dir / "ema.safetensors"),
        ema_updates=ema_updates(it, cfg.ema_every),
        ema_every=cfg.ema_every,
        ema_decay=cfg.ema_decay,
        stopped=stopped,
        params=n_params,
        n_patches=len(dataset),
        data_hash=state.data_hash,
    )
    if ctx.is_main:
        meta = {"iteration": str(it), "data_hash": state.data_hash}
        ckpt.save_weights(run_dir / "model.safetensors", model, spec.name, meta)
        ckpt.save_weights(run_dir / "ema.safetensors", state.ema, spec.name, {**meta, "ema": "true"})
        write_json(run_dir / "summary.json", summary.to_json())
    D.barrier(ctx)
    return summary
