"""scripts/gpu_timing.py, rehearsed on the CPU: the plan, the step runner's timeouts, the output folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the script's helper modules are files beside it, not a package

import gpu_env  # noqa: E402
import gpu_plan  # noqa: E402
import gpu_report  # noqa: E402

CARD_FILES = (
    "timing.md",
    "timing.csv",
    "timing.json",
    "numerics.md",
    "numerics.csv",
    "memory.md",
    "memory.csv",
)


def opts(tmp_path: Path, device: str = "cuda", tensorrt: str | None = None) -> gpu_plan.PlanOptions:
    maccs = {"eapnet-lightweight": 1.49e11, "eapnet-standard": 1.59e11, "ahdr": 3.0e12, "adnet": 6.8e12}
    return gpu_plan.PlanOptions(device, "1920x1080", 20, 3, tmp_path, ("--no-store",), tensorrt, maccs)


def test_plan_priority_order_and_gpu_only_parts(tmp_path):
    models = ["adnet", "ahdr", "eapnet-exp1", "eapnet-lightweight", "eapnet-standard"]
    names = [s.name for s in gpu_plan.timing_plan(opts(tmp_path), models)]
    assert names[:4] == [
        "eager-fp32-tf32-off-eapnet", "eager-fp32-tf32-on-eapnet", "eager-fp16-graphs-eapnet",
        "eager-bf16-graphs-eapnet",
    ]  # fmt: skip
    # the "done" set (standard, lightweight, AHDR: eager fp32, fp16, TensorRT fp16) before ADNet
    assert (
        names.index("tensorrt-fp16-ahdr")
        < names.index("compile-fp16-eapnet")
        < names.index("eager-fp32-tf32-off-adnet")
    )
    assert names[-1] == "compile-fp16-others"
    cuda = {s.name: s for s in gpu_plan.timing_plan(opts(tmp_path), models)}
    assert "--cuda-graphs" in cuda["eager-fp16-graphs-eapnet"].command
    assert cuda["eager-fp32-tf32-off-eapnet"].command[3] == "off"  # gpu_child.py --tf32 off
    # the heavy baselines get fewer repeats, so their step stays near EAPNet's
    ahdr = cuda["eager-fp32-tf32-off-ahdr"].command
    assert ahdr[ahdr.index("--repeat") + 1] == "5"
    cpu = {s.name: s for s in gpu_plan.timing_plan(opts(tmp_path, "cpu", tensorrt="GPU-only"), models)}
    assert "--cuda-graphs" not in cpu["eager-fp16-graphs-eapnet"].command
    assert (
        "skipped" in cpu["eager-fp16-graphs-eapnet"].mode and cpu["tensorrt-fp16-eapnet"].skip == "GPU-only"
    )
    assert all(s.timeout_s > s.estimate_s for s in cuda.values())


def test_onnxruntime_providers_beside_torch_tensorrt(tmp_path):
    models = ["adnet", "ahdr", "eapnet-lightweight", "eapnet-standard"]
    names = [s.name for s in gpu_plan.timing_plan(opts(tmp_path), models)]
    # right after torch-tensorrt for the paper's networks, before torch.compile
    assert (
        names.index("tensorrt-fp16-ahdr")
        < names.index("onnxruntime-tensorrt-fp16-eapnet")
        < names.index("onnxruntime-fp16-eapnet")
        < names.index("onnxruntime-fp32-ahdr")
        < names.index("compile-fp16-eapnet")
    )
    assert "onnxruntime-tensorrt-fp16-adnet" in names
    step = {s.name: s for s in gpu_plan.timing_plan(opts(tmp_path), models)}[
        "onnxruntime-tensorrt-fp16-eapnet"
    ]
    cmd = step.command
    assert (
        cmd[cmd.index("--backend") + 1] == "onnxruntime-tensorrt" and cmd[cmd.index("--device") + 1] == "cuda"
    )
    assert step.skip is None and step.estimate_s > 80
    # which providers the machine's onnxruntime has decides what is skipped, with the reason
    assert (
        gpu_plan.deploy_skips(
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"], False
        )
        == {}
    )
    cpu_only = gpu_plan.deploy_skips(["CPUExecutionProvider"], False)
    assert (
        set(cpu_only) == {"onnxruntime", "onnxruntime-tensorrt"}
        and "CUDAExecutionProvider" in cpu_only["onnxruntime"]
    )
    missing = gpu_plan.deploy_skips("not available (ImportError: x)", False)
    assert missing["onnxruntime"].startswith("onnxruntime not available")
    rehearsal = gpu_plan.deploy_skips(["CPUExecutionProvider"], True)
    assert list(rehearsal) == ["onnxruntime-tensorrt"]  # the CPU provider rehearses onnxruntime
    o = gpu_plan.PlanOptions("cuda", "1920x1080", 20, 3, tmp_path, ("--no-store",), None, {}, {}, cpu_only)
    skipped = {s.name: s.skip for s in gpu_plan.timing_plan(o, models) if s.skip}
    assert set(skipped) == {n for n in names if n.startswith("onnxruntime")}
    # onnxruntime-gpu is installed only when the CUDA provider is missing
    facts = {"torch_version": "2.14.1", "torch_tensorrt_version": "2.14.0", "backends": ["onnxruntime"]}
    have = gpu_env.wanted_packages({**facts, "onnxruntime_providers": ["CUDAExecutionProvider"]})
    assert have[1][0] == "onnxruntime-gpu" and have[1][2] is not None
    assert gpu_env.wanted_packages({**facts, "onnxruntime_providers": ["CPUExecutionProvider"]})[1][2] is None


def test_tensorrt_requirement_follows_torch_and_never_moves_torch(tmp_path):
    assert gpu_env.tensorrt_requirement("2.5.1+cu124") == "torch-tensorrt==2.5.*"
    cmd = gpu_env.pip_command("torch-tensorrt==2.5.*", "2.5.1+cu124", tmp_path / "c.txt")
    assert cmd[cmd.index("-c") + 1] == str(tmp_path / "c.txt")
    assert "https://download.pytorch.org/whl/cu124" in cmd
    facts = {
        "torch_version": "2.5.1",
        "torch_tensorrt_version": "not available (ImportError)",
        "backends": ["eager"],
    }
    assert [w[0] for w in gpu_env.wanted_packages(facts)] == ["torch-tensorrt"]
    with_ort = gpu_env.wanted_packages({**facts, "backends": ["eager", "onnxruntime"]})
    assert [w[0] for w in with_ort] == ["torch-tensorrt", "onnxruntime-gpu"]
    results = gpu_env.install_all(
        facts, rehearsal=True, deadline=time.perf_counter() + 60, log=tmp_path / "l"
    )
    assert [r.status for r in results] == ["skipped"]  # a rehearsal never runs pip


def fake_step(name: str, code: str, timeout_s: float, models: tuple[str, ...]) -> gpu_plan.Step:
    return gpu_plan.Step(name, (sys.executable, "-c", code), 1.0, timeout_s, (f"{name}.json",), models,
                         backend="eager", precision="fp32")  # fmt: skip


def test_cut_off_step_is_recorded_and_earlier_results_remain(tmp_path):
    """A step over its timeout is killed and recorded as cut-off; the folder keeps what came before."""
    import gpu_timing

    raw = tmp_path / "card" / "raw"
    raw.mkdir(parents=True)
    record = {"model": "m1", "backend": "eager", "precision": "fp32", "median_s": 0.012, "p10_s": 0.011,
              "p90_s": 0.013, "cv": 0.02, "runs": 2, "status": "ok", "width": 64, "height": 48, "maccs": 2e9,
              "rel_l2_error": 1e-3, "rel_l2_bound": 2e-2, "peak_memory_bytes": 2**20, "device": "cpu"}  # fmt: skip
    writes = f"import json; json.dump([{record!r}], open({str(raw / 'fast.json')!r}, 'w'))"
    # the slow step writes its first model, then hangs: a cut-off keeps that model
    hangs = f"import json, time; json.dump([{{**{record!r}, 'model': 'm2'}}], open({str(raw / 'slow.json')!r}, 'w')); time.sleep(60)"
    steps = [fake_step("fast", writes, 30, ("m1",)), fake_step("slow", hangs, 2, ("m2", "m3"))]
    summary = {"card": "Test Card X1", "rehearsal": True, "versions": {"card": "Test Card X1", "driver": "n/a"},
               "steps": [], "records": [], "notes": [], "profile": [{"model": "m1", "peak_memory_bytes": 2**21}]}  # fmt: skip
    t0 = time.perf_counter()
    for step in steps:
        result = gpu_plan.run_step(step, time.perf_counter() + 60, tmp_path / "log", dict(os.environ))
        summary["steps"].append(result.as_dict())
        summary["records"] += gpu_timing.step_records(step, result, raw)
        gpu_report.write_card_folder(tmp_path / "card", summary)
    assert time.perf_counter() - t0 < 30  # killed at its timeout, not after its sleep
    assert [s["status"] for s in summary["steps"]] == ["ok", "cut-off"]
    status = {r["model"]: r["status"] for r in summary["records"]}
    assert status == {"m1": "ok", "m2": "ok", "m3": "cut-off"}
    folder = tmp_path / "card"
    for name in CARD_FILES:
        assert (folder / name).stat().st_size > 0
    assert (folder / "runtime_vs_maccs.png").read_bytes()[:4] == b"\x89PNG"
    md = (folder / "timing.md").read_text()
    assert md.startswith("# Inference time on Test Card X1\n") and "| m1 | eager | fp32 | 12.0 |" in md
    assert "cut-off" in md
    rows = list(csv.DictReader(open(folder / "timing.csv")))
    assert [r["model"] for r in rows] == ["m1", "m2", "m3"]
    assert json.loads((folder / "timing.json").read_text())["steps"][1]["status"] == "cut-off"
    assert "| fp32 | 2 | 1.00e-03 |" in (folder / "numerics.md").read_text()
    assert "| m1 | 2 |" in (folder / "memory.md").read_text()  # 2 MiB estimate beside the 1 MiB measured
    # budget spent: a step is not started, and says so
    late = gpu_plan.run_step(steps[0], time.perf_counter() + 1, tmp_path / "log", dict(os.environ))
    assert late.status == "budget spent"


@pytest.mark.slow
def test_rehearsal_writes_every_output(tmp_path):
    """The script end to end on the CPU: 1 model, 2 time steps, the second cut off by its timeout."""
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPTS / "gpu_timing.py"), "--out", str(out), "--device", "cpu",
           "--size", "64x48", "--repeat", "2", "--warmup", "0", "--no-store", "--models", "eapnet-lightweight",
           "--steps", "eager-fp32-tf32-off-*,compile-*", "--step-timeout", "compile-*=1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "EAPBENCH_NO_PROGRESS": "1"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name != "cache"]
    for name in (
        *CARD_FILES,
        "runtime_vs_maccs.png",
        "raw/calibrate.json",
        "raw/profile.json",
        "raw/list.json",
    ):
        assert (folder / name).exists(), name
    summary = json.loads((folder / "timing.json").read_text())
    steps = {s["name"]: s["status"] for s in summary["steps"]}
    assert steps["calibrate"] == "ok" and steps["eager-fp32-tf32-off-eapnet"] == "ok"
    assert steps["compile-fp16-eapnet"] == "cut-off"
    recs = {(r["backend"], r["precision"]): r for r in summary["records"]}
    assert recs[("eager", "fp32")]["status"] == "ok" and recs[("eager", "fp32")]["median_s"] > 0
    assert recs[("compile", "fp16")]["status"] == "cut-off"
    assert (folder / "timing.md").read_text().startswith(f"# Inference time on {summary['card']}\n")
    assert summary["card"] == recs[("eager", "fp32")]["device_name"]
    assert {i["package"]: i["status"] for i in summary["installs"]} == {
        "torch-tensorrt": "skipped", "onnxruntime-gpu": "skipped",
    }  # fmt: skip
    assert json.loads((folder / "raw" / "calibrate.json").read_text())["bandwidth_Bps"] > 0
