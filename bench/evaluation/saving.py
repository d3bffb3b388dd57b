"""Writing predictions for scoring elsewhere: the NTIRE submission format or a Kalantari-style folder.

* ``ntire``: ``DIR/<id>.png`` (16-bit) + ``DIR/<id>_alignratio.npy``, the gamma-encoded contract
  image (what the NTIRE 2022 organizers' scoring reads; ``--roundtrip16`` scores exactly this).
* ``kalantari``: ``DIR/<id>/HDRImg.hdr``, the prediction as *linear* HDR on the shortest frame's
  scale (Radiance RGBE), i.e. a folder per scene as in Kalantari 2017's ``Test/<scene>/HDRImg.hdr``.
  HDR-VDP-2/3 exist only in MATLAB; their scripts (and SAFNet's ``matlab_evaluation``) read a
  prediction ``.hdr`` and the GT ``.hdr`` of the same scene, so this is the input they need.

The default follows the data: predictions of an ``ntire`` folder are saved in the NTIRE format,
those of any other layout (Kalantari 2017, Hu et al., SCTNet: all store linear ``.hdr`` GT) in the
Kalantari format; ``--save-layout`` picks either explicitly. Scene ids are used as they are (any
string a layout gives, not only NTIRE's four digits).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core import UsageError
from bench.core.io import atomic_write_bytes
from bench.data.hdrio import write_hdr_png
from models.conventions import KALANTARI

SAVE_LAYOUTS: dict[str, str] = {
    "ntire": "<id>.png (16-bit, gamma 2.24) + <id>_alignratio.npy (NTIRE submission format)",
    "kalantari": "<id>/HDRImg.hdr: linear HDR on the shortest frame's scale (for HDR-VDP's MATLAB scripts)",
}
KALANTARI_PREDICTION_NAME = "HDRImg.hdr"


def check_save_layout(name: str | None) -> None:
    if name is not None and name not in SAVE_LAYOUTS:
        raise UsageError(f"--save-layout {name!r}: use one of {', '.join(SAVE_LAYOUTS)}")


def save_layout_for(data_layout: str | None, requested: str | None = None) -> str:
    """The format predictions are written in: ``requested``, else ``ntire`` for NTIRE data, else ``kalantari``."""
    if requested is not None:
        check_save_layout(requested)
        return requested
    return "ntire" if data_layout in (None, "ntire") else "kalantari"


def prediction_files(root: str | Path, sid: str, layout: str) -> list[Path]:
    """The files :func:`save_prediction` writes for one scene."""
    r = Path(root)
    if layout == "ntire":
        return [r / f"{sid}.png", r / f"{sid}_alignratio.npy"]
    return [r / sid / KALANTARI_PREDICTION_NAME]


def encode_radiance_hdr(rgb: np.ndarray) -> bytes:
    """An ``HxWx3`` non-negative float RGB array as Radiance ``.hdr`` bytes (OpenCV's RGBE writer)."""
    import cv2  # deferred: only writing pixels needs OpenCV; the CLI start-up does not load it

    bgr = np.ascontiguousarray(np.maximum(rgb, 0.0)[..., ::-1], dtype=np.float32)
    ok, buf = cv2.imencode(".hdr", bgr)
    if not ok:
        raise OSError("OpenCV could not encode a Radiance .hdr image")
    return buf.tobytes()


def save_prediction(root: str | Path, sid: str, pred: np.ndarray, shortest: float, layout: str) -> Path:
    """Write one ``HxWx3`` contract prediction for scene ``sid``; ``shortest``: stops of the shortest frame
    below the medium (``-min(ev)``), which sets the linear scale of the Kalantari format."""
    check_save_layout(layout)
    if sid in ("", ".", "..") or "/" in sid or "\\" in sid:
        raise UsageError(f"scene id {sid!r} cannot name a prediction file")
    if layout == "ntire":
        return write_hdr_png(Path(root) / f"{sid}.png", pred)
    linear = KALANTARI.hdr_from_contract(np.asarray(pred, dtype=np.float64), float(shortest))
    return atomic_write_bytes(prediction_files(root, sid, layout)[0], encode_radiance_hdr(linear))
