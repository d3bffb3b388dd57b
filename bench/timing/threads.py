"""How many CPU threads the timings use: given, taken from this machine's calibration, or probed.

On a small VM more threads can be much slower: with 2 threads eager PyTorch may send every conv to
a oneDNN path that takes ~30 ms per call, where 1 thread is 4x faster overall. :func:`probe_threads`
times a short EAPNet-like conv stack at each candidate count and picks the fastest;
``calibrate --threads auto`` stores that probe in the calibration file, and the main job's
``--threads auto`` (its default on a CPU) uses it, or probes once and keeps the answer in the user
cache folder beside the calibrations. The choice is always said in one line.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from bench.core import CALIBRATION_CACHE_DIR, UsageError, write_json
from bench.roofline import calibration_path, load_calibration
from bench.roofline.machine import machine_key, machine_mismatch, measured_signature

PROBE_SIZE = (160, 96)  # small enough for a few seconds in all, large enough for the conv paths of a real run


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a job uses, the seconds per probed count and where the choice came from."""

    threads: int
    source: str
    seconds: dict[int, float] = field(default_factory=dict)

    def describe(self) -> str:
        probed = ", ".join(f"{n}: {s * 1e3:.0f} ms" for n, s in sorted(self.seconds.items()))
        return f"{self.threads} thread{'s' if self.threads != 1 else ''} ({self.source}" + (
            f"; probe {probed})" if probed else ")"
        )


def probe_model() -> nn.Module:
    """A stand-in for EAPNet's forward: 3x3 convs at 64 channels with a stride-2 stage and a 1x1 merge."""
    return nn.Sequential(
        nn.Conv2d(18, 64, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 64, 3, padding=1), nn.LeakyReLU(0.1),
        nn.Conv2d(64, 3, 1),
    ).eval()  # fmt: skip


def candidate_counts() -> list[int]:
    """1, 2, 4, ... up to the logical cores (always including the core count itself)."""
    cores = os.cpu_count() or 1
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return [*counts, cores]


def probe_threads(
    counts: list[int] | None = None, repeat: int = 3, size: tuple[int, int] = PROBE_SIZE
) -> ThreadChoice:
    """Time the probe model at each count (best of ``repeat`` after one warm-up); the fastest wins."""
    counts = counts or candidate_counts()
    saved = torch.get_num_threads()
    model = probe_model()
    x = torch.rand(1, 18, size[1], size[0])
    seconds: dict[int, float] = {}
    try:
        with torch.no_grad():
            for n in counts:
                torch.set_num_threads(n)
                model(x)
                best = float("inf")
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    model(x)
                    best = min(best, time.perf_counter() - t0)
                seconds[n] = best
    finally:
        torch.set_num_threads(saved)
    fastest = min(seconds, key=lambda n: (seconds[n], n))
    return ThreadChoice(fastest, "probed now", seconds)


def probe_path(directory: Path | None = None) -> Path:
    """Where the main job keeps its probe: beside the calibrations, named after this CPU."""
    cal = calibration_path(machine_key("cpu")["device_name"], directory or CALIBRATION_CACHE_DIR)
    return cal.with_name(cal.stem + ".threads.json")


def stored_choice(record: dict | None, source: str) -> ThreadChoice | None:
    """A probe kept in ``record["threads_probe"]`` (a calibration or a probe file), if valid."""
    probe = (record or {}).get("threads_probe")
    try:
        seconds = {int(n): float(s) for n, s in probe["seconds"].items()}
        return ThreadChoice(int(probe["threads"]), source, seconds)
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def choose_threads(requested: str | int | None, directory: Path | None = None) -> ThreadChoice:
    """``N`` -> N; ``auto`` -> this machine's calibration probe, else a kept probe, else a probe now (kept).

    ``None`` leaves torch's choice. Bad text is a one-line UsageError.
    """
    if requested is None:
        return ThreadChoice(torch.get_num_threads(), "torch's default")
    text = str(requested).strip().lower()
    if text != "auto":
        try:
            n = int(text)
        except ValueError:
            raise UsageError(f"--threads {requested!r}: give a number >= 1 or auto") from None
        if n < 1:
            raise UsageError(f"--threads {requested}: must be >= 1")
        return ThreadChoice(n, "--threads")
    key = machine_key("cpu")
    cal = load_calibration(key["device_name"], directory)  # None when another machine made it
    choice = stored_choice(cal, "this machine's calibration")
    if choice is not None:
        return choice
    path = probe_path(directory)
    try:
        kept = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        kept = None  # unreadable: probe again and rewrite it
    if isinstance(kept, dict) and machine_mismatch(kept.get("machine"), key, measured_signature()) is None:
        choice = stored_choice(kept, f"probe kept in {path}")
        if choice is not None:
            return choice
    choice = probe_threads()
    probe = probe_record(choice)
    machine = {**key, "signature_gflops": measured_signature()}
    write_json(
        path,
        {"machine": machine, "threads_probe": probe, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    )
    return ThreadChoice(choice.threads, f"probed now, kept in {path}", choice.seconds)


def probe_record(choice: ThreadChoice) -> dict:
    """The ``threads_probe`` entry of a calibration file."""
    return {"threads": choice.threads, "seconds": {str(n): s for n, s in choice.seconds.items()}}
