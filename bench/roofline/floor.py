"""The roofline floor of a forward and the roofline fields of a time record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.roofline.calibration import calibration_path, load_calibration
from bench.roofline.specs import PRECISION_BYTES, find_spec, spec_ceilings


def roofline_floor(
    maccs: float,
    params: float,
    activations: float,
    precision: str,
    peak_flops: float | None,
    bandwidth_Bps: float | None,
) -> dict:
    """The roofline floor in seconds and which ceiling sets it (``compute`` or ``memory``)."""
    compute_s = 2.0 * maccs / peak_flops if peak_flops else None
    memory_bytes = (params + activations) * PRECISION_BYTES[precision]
    memory_s = memory_bytes / bandwidth_Bps if bandwidth_Bps else None
    # A floor needs both ceilings: with one missing (e.g. no fp16 rate calibrated on a CPU) the
    # other alone would pass for a roofline it is not.
    floor_s = max(compute_s, memory_s) if compute_s is not None and memory_s is not None else None
    bound = None
    if floor_s is not None:
        bound = "compute" if floor_s == compute_s else "memory"
    return {
        "floor_compute_s": compute_s,
        "floor_memory_s": memory_s,
        "floor_memory_bytes": memory_bytes,
        "floor_s": floor_s,
        "floor_bound": bound,
    }


def device_ceilings(
    device_name: str, precision: str, tf32: bool = False, calibration_dir: Path | None = None
) -> dict:
    """Ceilings for a device: its calibration file if there is one, else its data sheet, else none."""
    cal = load_calibration(device_name, calibration_dir)
    if cal is not None:
        flops = cal.get("peak_flops", {})
        peak = (
            flops.get("tf32")
            if (precision == "fp32" and tf32 and flops.get("tf32"))
            else flops.get(precision)
        )
        return {
            "roofline_source": f"calibrated ({calibration_path(device_name, calibration_dir).name}"
            + ("" if "machine" in cal else ", machine unverified")
            + ")",
            "peak_flops": peak,
            "bandwidth_Bps": cal.get("bandwidth_Bps"),
        }
    spec = find_spec(device_name)
    if spec is not None:
        peak, bw = spec_ceilings(spec, precision, tf32)
        return {"roofline_source": spec.source, "peak_flops": peak, "bandwidth_Bps": bw}
    return {"roofline_source": None, "peak_flops": None, "bandwidth_Bps": None}


def roofline_fields(
    profile: dict | None,
    device_name: str,
    precision: str,
    median_s: float | None,
    tf32: bool = False,
    calibration_dir: Path | None = None,
) -> dict[str, Any]:
    """The roofline fields of a time record, from a complexity profile (maccs, params, activations).

    The weights counted are those the forward reads (``params`` of a ``true`` profile); a
    profile without them falls back to all of the model's parameters.
    """
    empty = {
        "maccs": None,
        "roofline_source": None,
        "peak_flops": None,
        "bandwidth_Bps": None,
        "floor_compute_s": None,
        "floor_memory_s": None,
        "floor_memory_bytes": None,
        "floor_s": None,
        "floor_bound": None,
        "floor_fraction": None,
    }
    if not profile or profile.get("maccs") is None:
        return empty
    ceilings = device_ceilings(device_name, precision, tf32, calibration_dir)
    floor = roofline_floor(
        profile["maccs"],
        profile.get("params") or profile.get("params_total") or 0,
        profile.get("activations") or 0,
        precision,
        ceilings["peak_flops"],
        ceilings["bandwidth_Bps"],
    )
    fraction = floor["floor_s"] / median_s if (floor["floor_s"] and median_s) else None
    return {**empty, "maccs": profile["maccs"], **ceilings, **floor, "floor_fraction": fraction}
