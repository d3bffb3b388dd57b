"""NTIRE data reading: round trip of a written sample set, every validation error, datasets, fingerprint."""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import pytest
import torch

from bench import data
from bench.core import UsageError
from bench.data import hdrio
from bench.evaluation import metrics

H, W = 20, 28


def write_sample(root, sid: str, seed: int = 0, gt: bool = True, size=(W, H), exposures=(-3, -1, 1)) -> dict:
    """Write one NTIRE-layout sample with OpenCV directly (independent of bench.data.simulate)."""
    rng = np.random.default_rng(seed)
    w, h = size
    ldrs = rng.integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    for name, frame in zip(data.LDR_NAMES, ldrs, strict=True):
        cv2.imwrite(str(root / f"{sid}_{name}.png"), frame[..., ::-1])
    np.save(root / f"{sid}_exposures.npy", np.array(exposures, dtype=np.int64))
    out = {"ldrs": ldrs}
    if gt:
        img = rng.uniform(0, 1.6, (h, w, 3)).astype(np.float32)
        hdrio.write_hdr_png(root / f"{sid}_gt.png", img)
        out["gt"] = hdrio.roundtrip16(img)
    return out


@pytest.fixture
def good(tmp_path):
    root = tmp_path / "set"
    root.mkdir()
    written = {sid: write_sample(root, sid, seed=n) for n, sid in enumerate(["0000", "0001", "0002"])}
    return root, written


def test_round_trip(good):
    root, written = good
    assert data.scan_dataset(root) == ["0000", "0001", "0002"]
    ds = data.NTIREDataset(root, require_gt=True)
    assert len(ds) == 3
    item = ds[1]
    assert item["id"] == "0001"
    assert item["ldrs"].shape == (3, 3, H, W) and item["ldrs"].dtype == torch.float32
    assert item["ev"].tolist() == [-2.0, 0.0, 2.0]
    assert item["gt"].shape == (3, H, W) and item["gt"].dtype == torch.float32
    # RGB order and scaling: the medium frame's red channel is what was written, / 255
    expected = written["0001"]["ldrs"][1, :, :, 0] / 255.0
    assert np.allclose(item["ldrs"][1, 0].numpy(), expected)
    assert np.array_equal(item["gt"].permute(1, 2, 0).numpy(), written["0001"]["gt"])
    gt = item["gt"].numpy()
    assert metrics.psnr(gt, gt) == math.inf
    assert metrics.psnr(gt + 0.01 * gt.max(), gt) == pytest.approx(40.0, abs=1e-4)


def test_ids_subset_and_test_inputs_without_gt(tmp_path):
    root = tmp_path / "test"
    root.mkdir()
    write_sample(root, "0010", gt=False)
    write_sample(root, "0011", gt=False)
    ds = data.NTIREDataset(root, ids=["0011"])
    assert ds.ids == ["0011"] and "gt" not in ds[0]
    with pytest.raises(data.DatasetError, match="0010_gt.png, 0010_alignratio.npy"):
        data.scan_dataset(root, require_gt=True)
    assert data.ids_from_args("0010-0011") == ["0010", "0011"]
    with pytest.raises(UsageError):
        data.ids_from_args("0010", split="x.txt")


def _expect_problem(root, *fragments, **kw):
    with pytest.raises(data.DatasetError) as exc:
        data.scan_dataset(root, **kw)
    assert isinstance(exc.value, UsageError)  # the CLI maps it to exit code 2
    for f in fragments:
        assert f in str(exc.value), str(exc.value)
    return str(exc.value)


def test_missing_member_files(good):
    root, _ = good
    os.remove(root / "0000_long.png")
    os.remove(root / "0001_alignratio.npy")
    msg = _expect_problem(root, "0000: missing 0000_long.png", "0001: missing 0001_alignratio.npy")
    assert "2 problem(s)" in msg  # all problems in one message


def test_unknown_ids_and_empty_or_missing_folder(good, tmp_path):
    root, _ = good
    _expect_problem(root, "0042: missing 0042_short.png", ids=["0042"])
    (tmp_path / "empty").mkdir()
    _expect_problem(tmp_path / "empty", "holds no NTIRE samples")
    _expect_problem(tmp_path / "nope", "does not exist")


def test_frames_of_different_sizes(good):
    root, _ = good
    cv2.imwrite(str(root / "0002_long.png"), np.zeros((H + 2, W, 3), np.uint8))
    _expect_problem(root, "0002: frames of different sizes", f"long {W}x{H + 2}")


def test_ldr_not_8bit_rgb(good):
    root, _ = good
    cv2.imwrite(str(root / "0000_short.png"), np.zeros((H, W, 3), np.uint16))
    cv2.imwrite(str(root / "0001_medium.png"), np.zeros((H, W), np.uint8))
    cv2.imwrite(str(root / "0002_long.png"), np.zeros((H, W, 4), np.uint8))
    _expect_problem(
        root,
        "0000_short.png: LDR must be 8-bit RGB, found 16-bit RGB",
        "0001_medium.png: LDR must be 8-bit RGB, found 8-bit grey",
        "0002_long.png: LDR must be 8-bit RGB, found 8-bit RGBA",
    )


def test_gt_not_16bit_rgb(good):
    root, _ = good
    cv2.imwrite(str(root / "0000_gt.png"), np.zeros((H, W, 3), np.uint8))
    _expect_problem(root, "0000_gt.png: GT must be 16-bit RGB, found 8-bit RGB")


@pytest.mark.parametrize(
    "value, fragment",
    [
        (np.array([-1, 0]), "shape (2,) is not (3,)"),
        (np.array([0.0, np.nan, 2.0]), "not all finite"),
        (np.array([2, 0, -2]), "short <= medium <= long"),
        (np.array(["a", "b", "c"]), "is not numeric"),
    ],
)
def test_bad_exposures(good, value, fragment):
    root, _ = good
    np.save(root / "0001_exposures.npy", value)
    _expect_problem(root, "0001_exposures.npy: bad exposures array", fragment)


def test_bad_alignratio(good):
    root, _ = good
    np.save(root / "0002_alignratio.npy", np.float64(-3.0))
    _expect_problem(root, "0002_alignratio.npy: bad alignratio array")


def test_unreadable_files(good):
    root, _ = good
    (root / "0000_medium.png").write_bytes(b"not a png at all")
    whole = (root / "0001_gt.png").read_bytes()
    (root / "0001_gt.png").write_bytes(whole[: len(whole) // 2])  # interrupted copy
    (root / "0002_exposures.npy").write_bytes(b"garbage")
    _expect_problem(
        root,
        "0000_medium.png: unreadable (not a PNG file)",
        "0001_gt.png: unreadable (truncated PNG",
        "0002_exposures.npy: unreadable",
    )


def test_patch_dataset_grid_and_flips(tmp_path):
    root = tmp_path / "train"
    root.mkdir()
    written = write_sample(root, "0000", size=(40, 24))
    ds = data.PatchDataset(root, patch=16, stride=8)
    # x: 0, 8, 16, 24 (flush with 40); y: 0, 8 (flush with 24)
    assert data.grid_positions(40, 16, 8) == [0, 8, 16, 24]
    assert data.grid_positions(21, 16, 8) == [0, 5]
    assert len(ds) == 4 * 2
    item = ds[len(ds) - 1]
    assert item["pos"] == (8, 24)
    assert item["ldrs"].shape == (3, 3, 16, 16) and item["gt"].shape == (3, 16, 16)
    ref = written["ldrs"][:, 8:24, 24:40].transpose(0, 3, 1, 2) / 255.0
    assert np.allclose(item["ldrs"].numpy(), ref)
    assert np.array_equal(item["gt"].numpy(), written["gt"][8:24, 24:40].transpose(2, 0, 1))

    flipped = data.PatchDataset(root, patch=16, stride=8, flips=True)
    seen = set()
    for _ in range(24):
        f = flipped[0]
        plain = ds[0]
        for dims in ((), (-1,), (-2,), (-2, -1)):
            a = plain["ldrs"].flip(dims) if dims else plain["ldrs"]
            b = plain["gt"].flip(dims) if dims else plain["gt"]
            if torch.equal(f["ldrs"], a) and torch.equal(f["gt"], b):  # LDRs and GT flipped together
                seen.add(dims)
    assert len(seen) >= 3


def test_patch_dataset_requires_gt_and_big_enough_images(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    write_sample(root, "0000", gt=False)
    with pytest.raises(data.DatasetError, match="missing 0000_gt.png"):
        data.PatchDataset(root, patch=8)
    write_sample(root, "0000")
    with pytest.raises(data.DatasetError, match="smaller than the 256px patch"):
        data.PatchDataset(root)


def test_fingerprint_changes_with_files(good):
    root, _ = good
    fp = data.dataset_fingerprint(root, ["0000", "0001"])
    assert fp == data.dataset_fingerprint(root, ["0001", "0000"])
    assert fp != data.dataset_fingerprint(root, ["0000"])
    assert data.dataset_fingerprint(root) == data.dataset_fingerprint(root, ["0000", "0001", "0002"])
    st = os.stat(root / "0001_gt.png")
    os.utime(root / "0001_gt.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fp != data.dataset_fingerprint(root, ["0000", "0001"])


def test_corrupt_pixel_data_is_reported_by_path_when_decoded(good):
    root, _ = good
    raw = bytearray((root / "0001_long.png").read_bytes())
    for i in range(60, len(raw) - 20):  # keep the header and the IEND chunk: the scan cannot tell
        raw[i] ^= 0x55
    (root / "0001_long.png").write_bytes(bytes(raw))
    ds = data.NTIREDataset(root)
    with pytest.raises(data.DatasetError, match="0001_long.png: cannot decode"):
        ds[1]


def test_decode_error_in_a_loader_worker_stays_one_line(good):
    # A DataLoader worker re-raises the error with its traceback in the message; the CLI must still print one line.
    root, _ = good
    raw = bytearray((root / "0001_long.png").read_bytes())
    for i in range(60, len(raw) - 20):
        raw[i] ^= 0x55
    (root / "0001_long.png").write_bytes(bytes(raw))
    loader = torch.utils.data.DataLoader(data.NTIREDataset(root), batch_size=None, num_workers=1)
    with pytest.raises(data.DatasetError) as exc:
        list(loader)
    assert str(exc.value) == f"{root / '0001_long.png'}: cannot decode the image (corrupt file?)"
