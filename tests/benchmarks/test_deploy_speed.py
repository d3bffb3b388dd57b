"""pytest-benchmark: the deployment backends' speed-up over eager PyTorch on the CPU (excluded from the default run).

    .venv/bin/python -m pytest -m benchmark --benchmark-enable tests/benchmarks/test_deploy_speed.py \\
        --benchmark-json reports/benchmarks/deploy-cpu.json

In one run per model, eager fp32 and every installed deployment backend (onnxruntime, openvino)
are timed by :func:`bench.timing.time_model` at 640x360 on 2 threads (the main job's CPU size):
medians of 7 forwards after 2 warm-ups, each backend's output checked against eager fp32.
``extra_info`` keeps every median and the ratio eager / best backend; the goal is 4x.
"""

from __future__ import annotations

import pytest
import torch

from bench.timing import cpu_name, deploy_problem, time_model

SIZE = (640, 360)
THREADS = 2
GOAL = 4.0  # eager / best deployment backend, on the 2-core CI machine
DEPLOY = ("onnxruntime", "openvino")


@pytest.mark.benchmark(group="deploy-cpu")
@pytest.mark.parametrize("name", ["eapnet-lightweight", "eapnet-standard"])
def test_deploy_speedup(benchmark, name):
    backends = [b for b in DEPLOY if deploy_problem(b, "cpu") is None]
    if not backends:
        pytest.skip("no deployment backend installed: pip install 'eapbench[deploy]'")

    def time_all() -> dict[str, dict]:
        options = {"size": SIZE, "threads": THREADS, "warmup": 2, "repeat": 7, "memory": False}
        return {b: time_model(name, backend=b, **options) for b in ("eager", *backends)}

    records = benchmark.pedantic(time_all, rounds=1, iterations=1)
    assert all(r["status"] == "ok" for r in records.values()), {b: r["warnings"] for b, r in records.items()}
    best = min(backends, key=lambda b: records[b]["median_s"])
    ratio = records["eager"]["median_s"] / records[best]["median_s"]
    benchmark.extra_info.update({
        "model": name, "width": SIZE[0], "height": SIZE[1], "threads": THREADS, "precision": "fp32",
        "medians_s": {b: r["median_s"] for b, r in records.items()},
        "cv": {b: r["cv"] for b, r in records.items()},
        "rel_l2_error": {b: records[b]["rel_l2_error"] for b in backends},
        "best_backend": best, "speedup_vs_eager": ratio, "goal": GOAL,
        "torch_version": torch.__version__, "device_name": cpu_name(),
    })  # fmt: skip
    print(
        f"{name}: "
        + ", ".join(f"{b} {r['median_s'] * 1e3:.0f} ms" for b, r in records.items())
        + f"; {ratio:.1f}x"
    )
    assert ratio >= GOAL, f"{best} is {ratio:.1f}x faster than eager, goal {GOAL}x"
