"""What is timed: one call of ``timer(fn)`` runs ``fn`` once and returns its seconds; CUDA-graph replay.

CUDA events around the forward on the GPU (after a synchronize, so earlier work does not count),
``time.perf_counter`` on the CPU. Nothing but the forward is inside the timed region.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

Timer = Callable[[Callable[[], Any]], float]


def cpu_timer(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def make_cuda_timer(device: torch.device) -> Timer:
    """CUDA events around ``fn`` only; the synchronize before makes earlier work not count."""

    def timer(fn: Callable[[], Any]) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0

    return timer


def make_timer(device: torch.device) -> Timer:
    return make_cuda_timer(device) if device.type == "cuda" else cpu_timer


def measure(fn: Callable[[], Any], timer: Timer, warmup: int, repeat: int) -> list[float]:
    """``warmup`` untimed calls (results dropped), then ``repeat`` timed ones."""
    for _ in range(warmup):
        timer(fn)
    return [timer(fn) for _ in range(repeat)]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def capture_cuda_graph(
    fn: Callable, example: tuple[Tensor, Tensor], device: torch.device
) -> Callable[[], Tensor]:
    """Capture one forward on static inputs; the returned callable replays it (CUDA only)."""
    static = tuple(t.clone() for t in example)
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):  # warm-up on a side stream, as CUDA-graph capture requires
        for _ in range(3):
            fn(*static)
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn(*static)

    def replay() -> Tensor:
        graph.replay()
        return out

    return replay
