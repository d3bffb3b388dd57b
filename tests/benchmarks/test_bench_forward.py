"""pytest-benchmark: CPU forward of the EAPNet models at a reduced size (excluded from the default run).

    make benchmark
    # or: .venv/bin/python -m pytest -m benchmark --benchmark-enable tests/benchmarks \
    #         --benchmark-json reports/benchmarks/forward-cpu.json

Each benchmark times the eager fp32 forward on 2 threads at 256x128 (padded like every input to
the model's size multiple). ``extra_info`` records what a reader needs to compare numbers:
model, size, threads, torch version and the CPU's name.
"""

from __future__ import annotations

import pytest
import torch

from bench.timing import cpu_name, make_inputs
from models.registry import create_model

SIZE = (256, 128)  # (width, height): 1/56 of the 1900x1060 pixels, a few seconds per model on two cores
THREADS = 2


@pytest.mark.benchmark(group="forward-cpu")
@pytest.mark.parametrize("name", ["eapnet-lightweight", "eapnet-standard"])
def test_forward_cpu(benchmark, name):
    torch.set_num_threads(THREADS)
    model = create_model(name).eval()
    ldrs, ev = make_inputs(*SIZE)
    benchmark.extra_info.update({
        "model": name, "width": SIZE[0], "height": SIZE[1], "threads": THREADS, "precision": "fp32",
        "backend": "eager", "torch_version": torch.__version__, "device_name": cpu_name(),
    })  # fmt: skip

    def forward():
        with torch.no_grad():
            return model(ldrs, ev)

    out = benchmark.pedantic(forward, rounds=5, warmup_rounds=1, iterations=1)
    assert out.shape == (1, 3, SIZE[1], SIZE[0]) and torch.isfinite(out).all()
