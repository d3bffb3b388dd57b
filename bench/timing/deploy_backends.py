"""Deployment backends: ONNX Runtime (CPU, CUDA and TensorRT execution providers) and OpenVINO (CPU).

Each runs the cached ONNX export of the model (:mod:`bench.timing.onnx_export`) and is registered
in :data:`bench.timing.backends.BACKENDS`, so ``time --backend onnxruntime`` works like any other
backend: the export (when not cached), the session's creation and the first call are
``compile_s``; the export alone is ``export_s``; the output is checked against eager fp32.

- ``onnxruntime``: the CPU provider on ``--device cpu`` (``intra_op_num_threads`` = the timing's
  threads), the CUDA provider on ``--device cuda`` (inputs and output bound to torch's CUDA tensors,
  run on torch's stream, so the CUDA events time it); fp32 or fp16 graphs.
- ``onnxruntime-tensorrt``: the TensorRT provider (CUDA provider for what TensorRT does not take)
  from the fp32 graph, TensorRT lowering to fp16 itself with ``--precision fp16``.
- ``openvino``: the CPU plugin from the same fp32 ONNX file, with ``INFERENCE_PRECISION_HINT``
  set from ``--precision`` (f32 for fp32: it would pick bf16 on CPUs that have it) and read back,
  so a run that is not in the precision asked for fails instead of passing for fp32.

The packages are optional (``pip install 'eapbench[deploy]'``): a missing one makes the backend
unavailable with one line saying so. A provider the session did not take is an error, never a
silent fallback to the CPU.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from bench.core import UsageError
from bench.timing.backends import BACKENDS, TimingBackend
from bench.timing.onnx_export import (
    DEPLOY_HINT,
    EXPORTER,
    INPUT_NAMES,
    OPSET,
    ExportError,
    OnnxExport,
    blocking_op,
    export_onnx,
    first_line,
)

if TYPE_CHECKING:
    from bench.timing.config import TimeConfig

# The ONNX Runtime provider each backend asks for, per device kind.
ORT_PROVIDERS = {
    "onnxruntime": {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"},
    "onnxruntime-tensorrt": {"cuda": "TensorrtExecutionProvider"},
}
OPENVINO_PRECISION = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
# Which deployment backend the main job uses on a device: the first one that can run there.
DEPLOY_PREFERENCE = {"cpu": ("openvino", "onnxruntime"), "cuda": ("onnxruntime-tensorrt", "onnxruntime")}
NUMPY_TYPES = {torch.float32: np.float32, torch.float16: np.float16}


def optional_module(name: str) -> Any:
    """The installed package ``name`` (onnxruntime, openvino, onnxscript), or a UsageError saying how to get it."""
    try:
        module = importlib.import_module(name)  # optional dependencies (the deploy extra)
    except Exception as exc:  # ImportError, or a broken install raising OSError/RuntimeError
        raise UsageError(f"{name} is not installed ({first_line(exc)}); {DEPLOY_HINT}") from exc
    return module


def probe(name: str) -> Callable[[], str | None]:
    def available() -> str | None:
        try:
            optional_module(name)
            optional_module("onnxscript")  # the exporter's dependency
        except UsageError as exc:
            return str(exc)
        return None

    return available


def runtime_version(backend: str) -> str | None:
    """``onnxruntime 1.32.0`` / ``openvino 2026.4...`` for a deployment backend (its times depend on it), else None."""
    package = "openvino" if backend == "openvino" else "onnxruntime" if backend in ORT_PROVIDERS else None
    if package is None:
        return None
    try:
        return f"{package} {optional_module(package).__version__}"
    except UsageError:
        return None


def deploy_problem(backend: str, device: torch.device | str) -> str | None:
    """None when ``backend`` can run on ``device`` here, else one line saying why not (package, provider)."""
    dev = torch.device(device)
    entry = BACKENDS.get(backend)
    if dev.type not in entry.device_kinds:
        return f"{backend} does not run on {dev.type}" + (f"; {entry.hint}" if entry.hint else "")
    why = entry.available()
    if why or backend not in ORT_PROVIDERS:
        return why
    provider = ORT_PROVIDERS[backend][dev.type]
    providers = optional_module("onnxruntime").get_available_providers()
    if provider not in providers:
        return f"{provider} is not in this onnxruntime ({', '.join(providers)}): install onnxruntime-gpu"
    return None


def best_deploy_backend(device: torch.device | str) -> str | None:
    """The first of :data:`DEPLOY_PREFERENCE` that can run on ``device`` here, else None."""
    kind = torch.device(device).type
    return next((b for b in DEPLOY_PREFERENCE.get(kind, ()) if deploy_problem(b, device) is None), None)


class DeployedForward:
    """What a deployment backend times: ``(ldrs, ev) -> Tensor``, plus the facts its time record keeps."""

    def __init__(self, run: Callable[[Tensor, Tensor], Tensor], record_fields: dict[str, Any]) -> None:
        self.run = run
        self.record_fields = record_fields

    def __call__(self, ldrs: Tensor, ev: Tensor) -> Tensor:
        return self.run(ldrs, ev)


def export_for(model: nn.Module, example: tuple[Tensor, Tensor], precision: str) -> OnnxExport:
    label = getattr(model, "eapbench_name", type(model).__name__)
    return export_onnx(model, example, label=label, precision=precision)


def fp32_copy(model: nn.Module, example: tuple[Tensor, Tensor]) -> tuple[nn.Module, tuple[Tensor, Tensor]]:
    """The model and inputs in fp32 (a copy: the timing's own model keeps its precision)."""
    if all(t.dtype == torch.float32 for t in example):
        return model, example
    return copy.deepcopy(model).float(), (example[0].float(), example[1].float())


def export_fields(export: OnnxExport) -> dict[str, Any]:
    return {
        "export_s": None if export.cached else export.export_s,
        "export_cached": export.cached,
        "onnx_opset": OPSET,
        "exporter": EXPORTER,
    }


def ort_session(
    backend: str, export: OnnxExport, config: TimeConfig, threads: int | None, profiling: bool = False
) -> Any:
    """An ONNX Runtime session of the export on the provider ``backend`` asks for (``profiling``: for ``time --trace``)."""
    ort = optional_module("onnxruntime")
    dev = config.torch_device
    options = ort.SessionOptions()
    options.enable_profiling = profiling
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers: list[Any] = ["CPUExecutionProvider"]
    if dev.type == "cuda":
        # torch's stream: the CUDA events around the forward see ORT's kernels.
        stream = str(torch.cuda.current_stream(dev).cuda_stream)
        cuda = {"device_id": dev.index or 0, "user_compute_stream": stream}
        if config.cuda_graphs and backend == "onnxruntime":
            cuda["enable_cuda_graph"] = "1"
        providers = [("CUDAExecutionProvider", cuda)]
        if backend == "onnxruntime-tensorrt":
            trt = {"device_id": dev.index or 0, "user_compute_stream": stream}
            trt["trt_fp16_enable"] = str(config.precision == "fp16")
            if config.cuda_graphs:
                trt["trt_cuda_graph_enable"] = "1"
            providers.insert(0, ("TensorrtExecutionProvider", trt))
    try:
        session = ort.InferenceSession(str(export.path), options, providers=providers)
    except Exception as exc:  # a node the runtime has no kernel for: reported with that op
        raise ExportError(
            f"ONNX Runtime cannot run the export: {first_line(exc)}", blocking_op(str(exc))
        ) from exc
    wanted = ORT_PROVIDERS[backend][dev.type]
    if wanted not in session.get_providers():
        raise RuntimeError(
            f"ONNX Runtime did not take {wanted} (it has {', '.join(session.get_providers())})"
        )
    return session


def prepare_onnxruntime(
    model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig
) -> DeployedForward:
    return ort_forward("onnxruntime", model, example, config)


def prepare_onnxruntime_tensorrt(
    model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig
) -> DeployedForward:
    return ort_forward("onnxruntime-tensorrt", model, example, config)


def ort_forward(
    backend: str, model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig
) -> DeployedForward:
    if config.precision == "bf16":
        raise RuntimeError(
            f"{backend} runs fp32 or fp16 graphs (numpy has no bfloat16): use --precision fp32|fp16"
        )
    problem = deploy_problem(backend, config.torch_device)
    if problem:
        raise UsageError(f"--backend {backend} cannot run here: {problem}")
    tensorrt = backend == "onnxruntime-tensorrt"
    # TensorRT lowers an fp32 graph to fp16 itself (trt_fp16_enable), as torch-tensorrt does.
    net, x = fp32_copy(model, example) if tensorrt else (model, example)
    export = export_for(net, x, "fp32" if tensorrt else config.precision)
    dev = config.torch_device
    threads = config.threads if dev.type == "cpu" else None
    session = ort_session(backend, export, config, threads)
    present = {i.name for i in session.get_inputs()}  # an input the model ignores is not in the graph
    output = session.get_outputs()[0]
    fields = {
        **export_fields(export),
        "provider": ", ".join(session.get_providers()),
        "backend_threads": threads,
    }
    if dev.type == "cpu":

        def run_cpu(ldrs: Tensor, ev: Tensor) -> Tensor:
            feed = {n: t.numpy() for n, t in zip(INPUT_NAMES, (ldrs, ev), strict=True) if n in present}
            return torch.from_numpy(session.run(None, feed)[0])

        return DeployedForward(run_cpu, fields)

    out_dtype = torch.float32 if tensorrt else config.dtype
    result = torch.empty([int(d) for d in output.shape], dtype=out_dtype, device=dev)
    index = dev.index or 0

    def run_cuda(ldrs: Tensor, ev: Tensor) -> Tensor:
        binding = session.io_binding()
        for name, t in zip(INPUT_NAMES, (ldrs, ev), strict=True):
            if name in present:
                t = (t.float() if tensorrt else t).contiguous()
                binding.bind_input(name, "cuda", index, NUMPY_TYPES[t.dtype], tuple(t.shape), t.data_ptr())
        binding.bind_output(
            output.name, "cuda", index, NUMPY_TYPES[out_dtype], tuple(result.shape), result.data_ptr()
        )
        session.run_with_iobinding(binding)
        return result

    return DeployedForward(run_cuda, fields)


def prepare_openvino(model: nn.Module, example: tuple[Tensor, Tensor], config: TimeConfig) -> DeployedForward:
    ov = optional_module("openvino")
    net, x = fp32_copy(model, example)  # OpenVINO lowers precision itself, from the hint
    export = export_for(net, x, "fp32")  # the same file as onnxruntime's fp32 one
    hint = OPENVINO_PRECISION[config.precision]
    core = ov.Core()
    try:
        compiled = core.compile_model(
            core.read_model(str(export.path)),
            "CPU",
            {
                "INFERENCE_PRECISION_HINT": hint,
                "INFERENCE_NUM_THREADS": int(config.threads or torch.get_num_threads()),
                "PERFORMANCE_HINT": "LATENCY",
                "NUM_STREAMS": 1,
            },
        )
    except Exception as exc:  # an op OpenVINO's ONNX frontend does not convert
        raise ExportError(
            f"OpenVINO cannot run the export: {first_line(exc)}", blocking_op(str(exc))
        ) from exc
    # Read back what the plugin took: on a CPU with bf16 an unset hint silently means bf16.
    taken = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
    expected = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[hint]
    if expected not in taken:
        raise RuntimeError(f"OpenVINO runs {taken} where --precision {config.precision} was asked")
    names = [i.get_any_name() for i in compiled.inputs]
    request = compiled.create_infer_request()

    def run(ldrs: Tensor, ev: Tensor) -> Tensor:
        given = dict(zip(INPUT_NAMES, (ldrs, ev), strict=True))
        request.infer({n: given[n].float().numpy() for n in names})
        return torch.from_numpy(request.get_output_tensor(0).data.copy())  # the request reuses its buffer

    threads = int(compiled.get_property("INFERENCE_NUM_THREADS"))
    return DeployedForward(
        run, {**export_fields(export), "provider": f"OpenVINO CPU ({taken})", "backend_threads": threads}
    )


BACKENDS.add(
    "onnxruntime",
    TimingBackend(
        "onnxruntime", prepare_onnxruntime, probe=probe("onnxruntime"), own_cuda_graphs=True, hint=DEPLOY_HINT
    ),
)
BACKENDS.add(
    "onnxruntime-tensorrt",
    TimingBackend(
        "onnxruntime-tensorrt",
        prepare_onnxruntime_tensorrt,
        device_kinds=("cuda",),
        probe=probe("onnxruntime"),
        own_cuda_graphs=True,
        hint=DEPLOY_HINT + " and onnxruntime-gpu with TensorRT",
    ),
)
BACKENDS.add(
    "openvino",
    TimingBackend(
        "openvino", prepare_openvino, device_kinds=("cpu",), probe=probe("openvino"), hint=DEPLOY_HINT
    ),
)
