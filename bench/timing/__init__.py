"""Inference timing with honest statistics, a numerics check and a roofline floor.

One call of :func:`time_model` times one model in one :class:`TimeConfig` and returns a plain
dict (see :data:`RECORD_KEYS`)::

    build the model (fp32, on the device)             + load weights if given
    make one input: a scene at pad_from size (1900x1060), replicate-padded to size (1920x1080)
    reference = eager fp32 forward (TF32 off)          the truth the backend is checked against
    convert: precision, channels_last                  then prepare the backend (compile / tensorrt)
    preparation + first call (+ graph capture) -> compile_s   compilation is reported, never timed
    warmup forwards (not recorded), repeat timed forwards
    relative L2 error of the backend's output vs the reference (cropped back to pad_from)
    peak memory, roofline floor

What is timed is the model's forward on the padded input and nothing else: CUDA events around
the forward on the GPU (then a synchronize), ``time.perf_counter`` on the CPU. Input preparation
(padding, transfer) is outside the timed region, as in the NTIRE organizers' script.

Modules: :mod:`~bench.timing.config` (``TimeConfig``: the options, their CLI flags and the cache
key), :mod:`~bench.timing.backends` (the ``BACKENDS`` registry; a new backend is one file),
:mod:`~bench.timing.numerics`, :mod:`~bench.timing.memory`, :mod:`~bench.timing.inputs`,
:mod:`~bench.timing.stats`, :mod:`~bench.timing.timers`, :mod:`~bench.timing.runner`,
:mod:`~bench.timing.threads` (the CPU thread count: given, calibrated or probed).

A round of timed forwards whose CV is above ``max_cv`` is measured again, up to ``noise_rounds``
rounds; still above, the record says ``noisy: true`` (shown with its p10-p90 spread, never reused
from the cache as a clean result).
"""

from bench.core import resolve_device
from bench.core.environment import cpu_name, device_name, torch_versions
from bench.timing.backends import (
    BACKENDS,
    TENSORRT_HINT,
    TimingBackend,
    check_backend,
    prepare_compile,
    prepare_eager,
    prepare_tensorrt,
    tensorrt_module,
    timing_backend,
)
from bench.timing.config import Option, TimeConfig, add_config_arguments, option, resolve_pad_from
from bench.timing.deploy_backends import (
    DEPLOY_PREFERENCE,
    DeployedForward,
    best_deploy_backend,
    deploy_problem,
)
from bench.timing.inputs import DEFAULT_EV, build_model, crop_to_size, make_inputs, pad_to_size
from bench.timing.memory import cpu_peak_memory
from bench.timing.numerics import (
    PRECISIONS,
    REL_L2_BOUNDS,
    NumericsVerdict,
    check_numerics,
    relative_l2,
    strict_fp32,
)
from bench.timing.onnx_export import DEPLOY_HINT, OPSET, ExportError, OnnxExport, blocking_op, export_onnx
from bench.timing.runner import (
    CPU_MACC_LIMIT,
    RECORD_KEYS,
    failed_record,
    measure_rounds,
    model_profile,
    time_model,
)
from bench.timing.stats import CV_WARNING, is_noisy, noise_warning, summarize
from bench.timing.threads import ThreadChoice, choose_threads, probe_threads
from bench.timing.timers import (
    Timer,
    capture_cuda_graph,
    cpu_timer,
    make_cuda_timer,
    make_timer,
    measure,
    synchronize,
)

__all__ = [
    "BACKENDS", "CPU_MACC_LIMIT", "DEPLOY_HINT", "DEPLOY_PREFERENCE", "DeployedForward", "ExportError",
    "OPSET", "OnnxExport", "best_deploy_backend", "blocking_op", "deploy_problem", "export_onnx", "CV_WARNING", "DEFAULT_EV", "PRECISIONS", "RECORD_KEYS", "REL_L2_BOUNDS",
    "TENSORRT_HINT", "NumericsVerdict", "Option", "ThreadChoice", "TimeConfig", "Timer", "TimingBackend",
    "add_config_arguments", "build_model", "capture_cuda_graph", "check_backend", "check_numerics", "choose_threads",
    "cpu_name", "cpu_peak_memory", "cpu_timer", "crop_to_size", "device_name", "failed_record", "is_noisy",
    "make_cuda_timer", "make_inputs", "make_timer", "measure", "measure_rounds", "model_profile", "noise_warning",
    "option", "probe_threads",
    "pad_to_size", "prepare_compile", "prepare_eager", "prepare_tensorrt", "relative_l2", "resolve_device",
    "resolve_pad_from", "strict_fp32", "summarize", "synchronize", "tensorrt_module", "time_model",
    "timing_backend", "torch_versions",
]  # fmt: skip
