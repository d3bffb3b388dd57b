"""Peak memory of a forward: the CUDA allocator's peak on a GPU, RSS growth of a fresh child process on a CPU."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.timing.config import TimeConfig
from bench.timing.inputs import build_model, make_inputs, pad_to_size
from bench.timing.timers import synchronize


def cuda_memory_baseline(device: torch.device) -> int:
    """Bytes allocated now, with the peak counter reset: the forward's peak is measured above this."""
    synchronize(device)
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    return baseline


def cuda_peak_bytes(device: torch.device, baseline: int) -> int:
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - baseline


def rss_bytes() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process from /proc (Linux)."""
    cur = peak = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
    return cur, peak


def cpu_memory_child(model: str | nn.Module, config: TimeConfig, queue: Any) -> None:
    """Child process: build model and input, reset the RSS high-water mark, run one forward."""
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        net = build_model(model, config.weights, torch.device("cpu"))
        ldrs, ev = make_inputs(*config.source_size, config.batch, config.scene)
        ldrs = pad_to_size(ldrs, *config.size)
        net = net.to(config.dtype)
        if config.channels_last:
            net = net.to(memory_format=torch.channels_last)
        ldrs, ev = ldrs.to(config.dtype), ev.to(config.dtype)
        with torch.no_grad():
            # The first forward of a fresh process: a second one would reuse memory that the allocator
            # kept from the first and show (almost) no growth. Writing 5 to clear_refs resets VmHWM
            # (Linux >= 4.0), so the peak is this forward's alone.
            Path("/proc/self/clear_refs").write_text("5")
            base, _ = rss_bytes()
            net(ldrs, ev)
        _, peak = rss_bytes()
        queue.put({"peak_memory_bytes": max(peak - base, 0)})
    except Exception as exc:  # reported to the parent, which records it as a warning
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def cpu_peak_memory(
    model: str | nn.Module, config: TimeConfig, timeout_s: float = 600.0
) -> tuple[int | None, str | None]:
    """Peak RSS growth of one eager forward in ``config``, measured in a fresh child process (Linux only).

    The child rebuilds model and input itself, so only their forward's working memory counts.
    Returns ``(bytes, None)`` or ``(None, why not)``.
    """
    if not Path("/proc/self/clear_refs").exists():
        return None, "CPU peak memory needs Linux /proc (not measured)"
    ctx = mp.get_context("spawn")  # a fresh interpreter: no memory from this process's history
    queue = ctx.Queue()
    proc = ctx.Process(target=cpu_memory_child, args=(model, config, queue), daemon=True)
    proc.start()
    try:
        result = queue.get(timeout=timeout_s)
    except Exception:
        result = {"error": f"no answer within {timeout_s:.0f} s"}
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
    if "error" in result:
        return None, f"CPU peak memory not measured: {result['error']}"
    return result["peak_memory_bytes"], None
