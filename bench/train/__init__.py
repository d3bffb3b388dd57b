"""Training with the paper's recipe (protocol section 5), resumable, on one CPU, one GPU or many (torchrun).

Defaults are the paper's: Adam, lr 8e-4 with a linear warm-up over 1000 steps and x0.75 every
100k iterations, batch 32 of 256x256 crops at stride 128, loss 0.5 µ-law L1 + 0.5 tanh L1, an EMA
copy updated every 5k steps with decay 0.5 (the model evaluated), 10 million iterations (as the
paper writes). Every value is a field of :class:`TrainConfig` and a CLI option.

Reproducibility. The data order is a pure function of (seed, iteration, rank): iteration ``i``
takes the next ``batch / world`` indices of an endless stream made of one shuffled epoch after
another (each epoch shuffled by a ``DistributedSampler`` seeded with ``seed`` and the epoch).
Flips, when enabled, are drawn from a generator seeded with (seed, iteration, rank). So a run
resumed from a checkpoint (model, EMA, optimizer state, iteration) continues bit for bit as if
it had never stopped (on the CPU; on GPUs also with ``deterministic=True``).

Run folder: ``config.json``, ``log.csv`` (iteration, loss, lr, seconds, it/s, optional
validation), ``checkpoints/`` (see :mod:`bench.train.checkpoint`), and at the end ``model.safetensors``,
``ema.safetensors`` (plain state dicts) and ``summary.json``. Only rank 0 writes.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler

from bench.core import UsageError, atomic_write_text, progress, write_json
from bench.core import distributed as D
from bench.core.environment import device_name
from bench.train import checkpoint as ckpt
from bench.train.losses import LOSSES, get_loss

# Options that may change when a run is resumed; everything else must match the run's config.json.
RUNTIME_KEYS = frozenset(
    {
        "iters",
        "max_minutes",
        "workers",
        "device",
        "save_every",
        "log_every",
        "val_every",
        "cache",
        "out",
        "data",
    }
)
LOG_FIELDS = ["iteration", "loss", "lr", "seconds", "it_per_s", "val_psnr", "val_psnr_mu"]


@dataclass
class TrainConfig:
    """Everything that defines a training run (written to ``RUN/config.json``)."""

    model: str
    data: str
    out: str
    ids: list[str] | None = None
    iters: int = 10_000_000
    batch: int = 32  # global batch: split evenly over torchrun processes
    patch: int = 256
    stride: int = 128
    lr: float = 8e-4
    lr_decay: float = 0.75
    lr_step: int = 100_000
    warmup: int = 1000
    loss: str = "mu_tanh"
    ema_every: int = 5000
    ema_decay: float = 0.5
    flips: bool = False  # random horizontal/vertical flips (the paper does not mention any augmentation)
    seed: int = 0
    amp: bool = False  # bfloat16 autocast
    deterministic: bool = False
    # Runtime options (may change on --resume).
    device: str = "auto"
    workers: int = 2
    cache: bool = False  # hold all training patches in memory (on the GPU when training there)
    max_minutes: float | None = None
    save_every: int = 1000
    log_every: int = 50
    val_data: str | None = None
    val_ids: list[str] | None = None
    val_every: int = 0  # 0: never; otherwise evaluate the EMA model on val_data every N iterations
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes stored with the config

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise UsageError(f"--loss {self.loss!r}: choose one of {', '.join(LOSSES)}")
        for name in ("iters", "batch", "patch", "stride", "lr_step", "ema_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0 or self.workers < 0 or self.val_every < 0:
            raise UsageError("--warmup, --workers and --val-every must not be negative")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UsageError(f"--lr must be a positive number, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise UsageError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UsageError(f"--max-minutes must be positive, got {self.max_minutes}")
        if self.val_every and not self.val_data:
            raise UsageError("--val-every needs --val-data")


def lr_at(cfg: TrainConfig, iteration: int) -> float:
    """The learning rate of step ``iteration`` (0-based): linear warm-up, then step decay."""
    warm = min(1.0, (iteration + 1) / cfg.warmup) if cfg.warmup else 1.0
    return cfg.lr * warm * cfg.lr_decay ** (iteration // cfg.lr_step)


def build_model(spec: str) -> tuple[str, nn.Module]:
    """A registered model name or a variant spec (``file.py:factory``, ``module:Class``) -> (name, model)."""
    from bench.spec.variants import load_variant

    name, factory = load_variant(spec)
    return name, factory()


class IterationBatches(torch.utils.data.Sampler):
    """Index lists of iterations ``start .. stop-1`` for one rank (see the module doc).

    Used as a DataLoader ``batch_sampler``; also indexes the in-memory cache directly.
    """

    def __init__(
        self, n: int, batch: int, start: int, stop: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        self.n, self.batch, self.start, self.stop = n, batch, start, stop
        self.seed, self.rank, self.world = seed, rank, world
        self._epochs: dict[int, list[int]] = {}

    def _epoch(self, epoch: int) -> list[int]:
        if epoch not in self._epochs:
            sampler = DistributedSampler(
                range(self.n), num_replicas=self.world, rank=self.rank, shuffle=True, seed=self.seed
            )
            sampler.set_epoch(epoch)
            self._epochs = {epoch: list(sampler)}  # keep only the current epoch
        return self._epochs[epoch]

    def indices(self, iteration: int) -> list[int]:
        per_epoch = len(self._epoch(0))
        pos, out = iteration * self.batch, []
        while len(out) < self.batch:
            epoch, offset = divmod(pos, per_epoch)
            take = self._epoch(epoch)[offset : offset + self.batch - len(out)]
            out.extend(take)
            pos += len(take)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        for it in range(self.start, self.stop):
            yield self.indices(it)

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def random_flips(batch: dict[str, Tensor], seed: int, iteration: int, rank: int) -> dict[str, Tensor]:
    """Flip each sample horizontally and/or vertically, drawn from (seed, iteration, rank)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + iteration * 1009 + rank)
    n = batch["gt"].shape[0]
    choice = torch.randint(0, 2, (n, 2), generator=gen).bool().to(batch["gt"].device)
    out = dict(batch)
    for key in ("ldrs", "gt"):
        x = out[key]
        shape = (n,) + (1,) * (x.dim() - 1)
        x = torch.where(choice[:, 0].view(shape), x.flip(-1), x)
        out[key] = torch.where(choice[:, 1].view(shape), x.flip(-2), x)
    return out


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * model`` for parameters; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers(), strict=True):
        e.copy_(b)


class _Cached:
    """All training patches in memory on ``device`` (``--cache``), indexed like the dataset.

    LDR frames are kept as their 8-bit values (a quarter of float32's memory) and divided by 255
    batch by batch, which gives the dataset's float32 values bit for bit; the GT is kept as float32.
    """

    def __init__(self, dataset: Any, device: torch.device, workers: int, show: bool) -> None:
        n, p = len(dataset), dataset.patch
        self.ldr8 = torch.empty((n, 3, 3, p, p), dtype=torch.uint8, device=device)
        self.ev = torch.empty((n, 3), dtype=torch.float32, device=device)
        self.gt = torch.empty((n, 3, p, p), dtype=torch.float32, device=device)
        # In order: each worker decodes every image once (PatchDataset keeps the last few decoded).
        loader = DataLoader(dataset, batch_size=64, shuffle=False, num_workers=workers)
        start = 0
        for b in progress(loader, desc="caching patches") if show else loader:
            end = start + len(b["gt"])
            self.ldr8[start:end] = (b["ldrs"] * 255).round().to(torch.uint8)
            self.ev[start:end] = b["ev"]
            self.gt[start:end] = b["gt"]
            start = end

    def batch(self, indices: list[int]) -> dict[str, Tensor]:
        idx = torch.as_tensor(indices, device=self.gt.device)
        return {
            "ldrs": self.ldr8.index_select(0, idx).float() / 255,
            "ev": self.ev.index_select(0, idx),
            "gt": self.gt.index_select(0, idx),
        }


def cache_bytes(n_patches: int, patch: int) -> int:
    """Memory of ``--cache``: per patch 9 uint8 LDR channels, 3 float32 GT channels and 3 float32 EVs."""
    return n_patches * (patch * patch * (9 + 3 * 4) + 3 * 4)


def free_memory(device: torch.device) -> int | None:
    """Bytes free on ``device`` (a GPU's free memory, the host's MemAvailable), or None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_cache_fits(n_patches: int, patch: int, device: torch.device) -> None:
    """Refuse ``--cache`` when the patches would take more than half the free memory (the rest is for training).

    The full NTIRE set (1494 images of 1900x1060, 112 patches each at 256/128) would need 230 GB.
    """
    need, free = cache_bytes(n_patches, patch), free_memory(device)
    if free is not None and need > free / 2:
        raise UsageError(
            f"--cache: the {n_patches} training patches need {need / 1e9:.1f} GB, more than half of the "
            f"{free / 1e9:.1f} GB free on {device}; train without --cache (patches are then read from disk by "
            "the --workers processes) or on fewer or smaller images"
        )


def _progress_bar(total: int, initial: int, desc: str, enabled: bool):
    """A tqdm bar (iterations/s shown by tqdm, loss and lr as postfix); off on non-main ranks and in tests."""
    from tqdm.auto import tqdm

    disable = not enabled or bool(os.environ.get("EAPBENCH_NO_PROGRESS"))
    return tqdm(total=total, initial=initial, desc=desc, disable=disable, dynamic_ncols=True, leave=False)


def _read_log(path: Path, upto: int) -> list[dict[str, Any]]:
    """Rows of an existing log up to iteration ``upto`` (a resumed run drops what it redoes)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [row for row in csv.DictReader(fh) if int(row["iteration"]) <= upto]


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _resolve_config(cfg: TrainConfig, resume: bool, given: set[str]) -> TrainConfig:
    """On resume, the run's saved config wins; an explicitly given recipe option that differs is an error."""
    path = Path(cfg.out) / "config.json"
    if not resume:
        if (Path(cfg.out) / ckpt.CKPT_DIR / "last.json").exists():
            raise UsageError(
                f"{cfg.out} already holds a training run: pass --resume to continue it, or choose another --out"
            )
        return cfg
    import json

    try:
        saved = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--resume: cannot read {path} ({exc})") from exc
    known = {f.name for f in fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in known}
    for key in given:
        new = getattr(cfg, key)
        if key in RUNTIME_KEYS:
            merged[key] = new
        elif merged.get(key) != new:
            raise UsageError(
                f"--resume: {cfg.out} was trained with {key}={merged.get(key)!r}; it cannot change to {new!r} "
                "(start a new --out instead)"
            )
    merged["out"] = cfg.out
    return TrainConfig(**merged)


def train(
    cfg: TrainConfig,
    resume: bool = False,
    given: set[str] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train (or continue training) and return the train-summary record.

    ``given`` names the options the user set explicitly (checked against the saved config on resume).
    """
    from bench.data import PatchDataset, dataset_fingerprint, scan_dataset

    cfg.validate()
    ctx = D.setup(cfg.device)
    cfg = _resolve_config(cfg, resume, given if given is not None else set())
    cfg.validate()
    run_dir = Path(cfg.out)
    if cfg.batch % ctx.world:
        raise UsageError(f"--batch {cfg.batch} must be a multiple of the number of processes ({ctx.world})")
    local_batch = cfg.batch // ctx.world
    device = ctx.device
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch size: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    from bench.spec.variants import load_variant

    model_name, factory = load_variant(cfg.model)  # an unknown model is reported before any data is read
    ids = scan_dataset(cfg.data, cfg.ids, require_gt=True)
    dataset = PatchDataset(cfg.data, ids, patch=cfg.patch, stride=cfg.stride)
    if cfg.cache:
        check_cache_fits(len(dataset), cfg.patch, device)
    data_hash = dataset_fingerprint(cfg.data, ids)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank (DDP checks that too)
    model = factory()
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_params == 0:
        raise UsageError(f"model {model_name!r} has no trainable parameters (a parameter-free reference)")
    model.to(device)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    start, seconds_before = 0, 0.0
    if resume:
        side = ckpt.load_checkpoint(
            run_dir, model_name=model_name, model=model, ema=ema, optimizer=optimizer, map_location=device
        )
        if side.get("data_hash") != data_hash:
            raise ckpt.CheckpointError(
                f"--resume: the training data changed since the checkpoint ({cfg.data}: files added, removed or "
                "rewritten); resuming would not continue the same run"
            )
        start, seconds_before = int(side["iteration"]), float(side.get("seconds", 0.0))
        if start >= cfg.iters:
            raise UsageError(
                f"--resume: {run_dir} is already at iteration {start}; pass --iters above {start} to train on"
            )
    if ctx.is_main:
        write_json(run_dir / "config.json", asdict(cfg))
    log_rows = _read_log(run_dir / "log.csv", start) if ctx.is_main else []

    net: nn.Module = model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    loss_fn = get_loss(cfg.loss)
    sampler = IterationBatches(len(dataset), local_batch, start, cfg.iters, cfg.seed, ctx.rank, ctx.world)
    cached = _Cached(dataset, device, cfg.workers, ctx.is_main) if cfg.cache else None
    if cached is not None:
        batches: Iterator[Any] = (cached.batch(idx) for idx in sampler)
    else:
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=cfg.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )
        batches = iter(loader)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp)

    def save(iteration: int, seconds: float) -> None:
        if ctx.is_main:
            ckpt.save_checkpoint(
                run_dir,
                model_name=model_name,
                model=model,
                ema=ema,
                optimizer=optimizer,
                scaler_state=None,
                iteration=iteration,
                config=asdict(cfg),
                data_hash=data_hash,
                extra={"seconds": seconds, "ema_updates": iteration // cfg.ema_every},
            )
            _write_log(run_dir / "log.csv", log_rows)

    it = start
    t0 = time.perf_counter()
    t_log, it_log = t0, start
    running = torch.zeros((), device=device)
    n_running = 0
    last_loss = math.nan
    stopped = "iterations"
    bar = _progress_bar(cfg.iters, start, f"train {model_name}", enabled=ctx.is_main)
    net.train()
    try:
        while it < cfg.iters:
            batch = next(batches)
            ldrs = batch["ldrs"].to(device, non_blocking=True)
            ev = batch["ev"].to(device, non_blocking=True)
            gt = batch["gt"].to(device, non_blocking=True)
            if cfg.flips:
                flipped = random_flips({"ldrs": ldrs, "gt": gt}, cfg.seed, it, ctx.rank)
                ldrs, gt = flipped["ldrs"], flipped["gt"]
            lr = lr_at(cfg, it)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with amp:
                pred = net(ldrs, ev)
            loss = loss_fn(pred.float(), gt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            it += 1
            if it % cfg.ema_every == 0:
                ema_update(ema, model, cfg.ema_decay)
            running += loss.detach()
            n_running += 1
            bar.update(1)

            elapsed = time.perf_counter() - t0
            out_of_time = cfg.max_minutes is not None and (seconds_before + elapsed) >= cfg.max_minutes * 60
            if ctx.distributed and cfg.max_minutes is not None:
                # Every rank must stop at the same iteration, or DDP's next all-reduce would hang.
                flag = torch.tensor([float(out_of_time)], device=device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                out_of_time = bool(flag.item())
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
                row: dict[str, Any] = {
                    "iteration": it,
                    "loss": f"{last_loss:.6g}",
                    "lr": f"{lr:.6g}",
                    "seconds": f"{seconds_before + now - t0:.2f}",
                    "it_per_s": f"{(it - it_log) / max(now - t_log, 1e-9):.3f}",
                }
                t_log, it_log = now, it
                running.zero_()
                n_running = 0
                if (
                    cfg.val_every
                    and (it % cfg.val_every == 0 or it == cfg.iters or out_of_time)
                    and ctx.is_main
                ):
                    row.update(_validate(ema, model_name, cfg, device))
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
        # Keep what was done: the checkpoint lets --resume continue from here.
        save(it, seconds_before + time.perf_counter() - t0)
        raise
    finally:
        bar.close()
    seconds = seconds_before + time.perf_counter() - t0
    save(it, seconds)
    summary = {
        "model": model_name,
        "run_dir": str(run_dir),
        "iters": it,
        "batch": cfg.batch,
        "patch": cfg.patch,
        "loss": cfg.loss,
        "final_loss": last_loss,
        "lr": cfg.lr,
        "seconds": round(seconds, 3),
        "device": str(device),
        "device_name": device_name(device),
        "world_size": ctx.world,
        "amp": cfg.amp,
        "torch_version": torch.__version__,
        "weights": str(run_dir / "ema.safetensors"),
        "ema_updates": it // cfg.ema_every,
        "ema_every": cfg.ema_every,
        "ema_decay": cfg.ema_decay,
        "stopped": stopped,
        "params": n_params,
        "n_patches": len(dataset),
        "data_hash": data_hash,
    }
    if ctx.is_main:
        meta = {"iteration": str(it), "data_hash": data_hash}
        ckpt.save_weights(run_dir / "model.safetensors", model, model_name, meta)
        ckpt.save_weights(run_dir / "ema.safetensors", ema, model_name, {**meta, "ema": "true"})
        write_json(run_dir / "summary.json", summary)
    D.barrier(ctx)
    return summary


def _validate(ema: nn.Module, model_name: str, cfg: TrainConfig, device: torch.device) -> dict[str, str]:
    """Mean PSNR / PSNR-µ of the EMA model on the validation set (in memory, no 16-bit round trip)."""
    from bench.evaluation.evaluate import evaluate_module

    rec = evaluate_module(
        ema, cfg.val_data, cfg.val_ids, name=model_name, device=device, show_progress=False, distributed=False
    )
    # None when no image could be scored (non-finite outputs): logged as "nan", never as a number.
    return {f"val_{k}": "nan" if rec[k] is None else f"{rec[k]:.4f}" for k in ("psnr", "psnr_mu")}
