"""Roofline floors: the fastest a forward could possibly run on a device, and how close we get.

A forward needs ``2 x MAccs`` floating-point operations and has to move at least its weights and
its activations through memory once. On a device with peak rate ``P`` (FLOP/s) and memory
bandwidth ``B`` (bytes/s) it therefore cannot take less than::

    floor = max(2 * maccs / P, (params + activations) * bytes_per_element / B)

``floor / measured`` is the fraction of the device's ceiling that a backend achieves (1.0 would
be perfect). MAccs are the complexity profile's ``true`` convention (real multiply-accumulates),
``params`` the weights some op read, and ``activations`` its activations: the elements of every
conv output, each counted once (written, never read back; elementwise intermediates left out).
A backend that fuses a conv with its neighbours keeps some of these out of memory, so for a
memory-bound model the floor is the floor of *unfused* execution: a fraction above 1 then means
the backend fused, not that the clock is wrong.

Ceilings come from two sources: the vendor's data sheets for known GPUs (:data:`DEVICE_SPECS`,
dense rates without sparsity) and ``run_bench.py calibrate``, which measures a large copy and a
large matmul on the current device and stores the result in the user cache folder. A
calibration file, when present, wins over the data sheet because it is what this machine really
does. A CPU has no data-sheet entry: calibrate it.
"""

from bench.roofline.calibration import (
    CALIBRATION_DIR,
    best_seconds,
    calibrate,
    calibration_path,
    device_slug,
    foreign_machine,
    load_calibration,
    run_seconds,
    save_calibration,
    spread,
)
from bench.roofline.floor import device_ceilings, roofline_fields, roofline_floor
from bench.roofline.machine import machine_key, machine_mismatch, measured_signature
from bench.roofline.specs import (
    DEVICE_SPECS,
    PRECISION_BYTES,
    DeviceSpec,
    find_spec,
    spec_ceilings,
    spec_table,
)

__all__ = [
    "CALIBRATION_DIR", "DEVICE_SPECS", "PRECISION_BYTES", "DeviceSpec", "best_seconds", "calibrate",
    "calibration_path", "device_ceilings", "device_slug", "find_spec", "foreign_machine", "load_calibration",
    "machine_key", "machine_mismatch", "measured_signature", "roofline_fields", "roofline_floor", "run_seconds",
    "save_calibration", "spec_ceilings", "spec_table", "spread",
]  # fmt: skip
