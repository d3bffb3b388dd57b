"""Speed and memory of the complexity profiler (pytest-benchmark; `make benchmark`).

The profiler counts on meta tensors, so the whole registry at 1900x1060 should take a few seconds
at most with next to no memory; torchinfo, the NTIRE organizers' tool, runs a real forward pass at
full resolution. Both are recorded here; EAPBENCH_TORCHINFO_MODELS (default: eapnet-lightweight)
picks the models torchinfo is timed on, because a real full-resolution forward of the large
baselines takes minutes and gigabytes on a CPU.
"""

from __future__ import annotations

import os
import resource
import time

import pytest
import torch

from bench import complexity as cx
from bench.core import NTIRE_SIZE
from bench.spec.names import resolve_model_names
from models.registry import create_model, list_models

pytestmark = pytest.mark.benchmark

W, H = NTIRE_SIZE
TORCHINFO_MODELS = os.environ.get("EAPBENCH_TORCHINFO_MODELS", "eapnet-lightweight")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_profile_whole_registry_full_resolution(benchmark):
    names = list_models()
    cx.profile(names[0], 64, 64)  # imports and torch's lazy set-up are not the profiler's cost
    before = _peak_rss_mib()
    records = benchmark.pedantic(cx.profile_many, args=(names, W, H), rounds=3, iterations=1)
    extra = _peak_rss_mib() - before
    benchmark.extra_info.update(
        models=len(names), size=f"{W}x{H}", threads=torch.get_num_threads(), extra_peak_rss_mib=extra
    )
    assert len(records) == len(names)
    assert extra <= 200, f"counting the registry grew peak RSS by {extra:.0f} MiB"


@pytest.mark.parametrize("name", resolve_model_names(TORCHINFO_MODELS) if list_models() else [])
def test_torchinfo_full_resolution_forward(benchmark, name):
    import torchinfo

    model = create_model(name).eval()
    shapes = cx.hdr_input_shapes(W, H)
    t0 = time.perf_counter()
    ours = cx.profile(name, W, H)
    ours_s = time.perf_counter() - t0
    summary = benchmark.pedantic(
        lambda: torchinfo.summary(model, input_size=shapes, verbose=0, device="cpu"), rounds=1, iterations=1
    )
    ti_s = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        model=name, size=f"{W}x{H}", ours_s=ours_s, torchinfo_s=ti_s, ratio=ti_s / ours_s
    )
    assert summary.total_mult_adds == ours["maccs"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    "name", resolve_model_names(os.environ.get("EAPBENCH_MEMORY_MODELS", "*")) if list_models() else []
)
def test_peak_memory_estimate_against_cuda(benchmark, name):
    """How the liveness estimate compares with what the CUDA allocator really peaks at (fp32, no_grad)."""
    model = create_model(name).eval().cuda()
    ldrs, ev = torch.rand(1, 3, 3, H, W, device="cuda"), torch.tensor([[-2.0, 0.0, 2.0]], device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        benchmark.pedantic(model, args=(ldrs, ev), rounds=1, iterations=1)
    torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated()
    estimate = cx.profile(name, W, H)["peak_memory_bytes"]
    benchmark.extra_info.update(
        model=name, measured_bytes=measured, estimate_bytes=estimate, ratio=measured / estimate
    )
    assert 0.5 < measured / estimate < 3, f"{name}: allocator peak {measured:,} B vs estimate {estimate:,} B"
