"""The LDR simulator: eq. 1 properties, reproducibility, crops of radiance maps, the make-data command."""

from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest

from bench import data
from bench.cli import main
from bench.core import UsageError
from bench.data import simulate
from bench.evaluation import metrics

SIZE = (48, 32)


def _files(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


def _linear_frames(root, sid):
    s = data.load_sample(root, sid)
    return s["ldrs"].astype(np.float64) ** 2.24, s["gt"].astype(np.float64)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    ids = simulate.make_synthetic(root, 3, size=SIZE, seed=7)
    return root, ids


def test_synthetic_set_is_valid_ntire_layout(synth):
    root, ids = synth
    assert ids == ["0000", "0001", "0002"]
    assert data.scan_dataset(root, require_gt=True) == ids
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["size"] == "48x32" and manifest["evs"] == [-2, 0, 2]
    assert manifest["noise"] == {"shot": 0.01, "read": 0.002, "offset": 0.0002, "gain": 1.0}
    assert [s["id"] for s in manifest["samples"]] == ids
    assert np.load(root / "0000_exposures.npy").dtype == np.int64
    item = data.NTIREDataset(root)[0]
    assert item["ev"].tolist() == [-2.0, 0.0, 2.0]
    gt = item["gt"].numpy()
    assert metrics.psnr(gt, gt) == float("inf")


def test_scenes_are_high_dynamic_range(synth):
    root, ids = synth
    for sid in ids:
        _, gt = _linear_frames(root, sid)
        # highlights above the medium frame's saturation, and the GT capped at the short frame's
        assert gt.max() > 1.0
        assert gt.max() <= 4.0 ** (1 / 2.24) + 1e-3
        assert (gt**2.24 < 0.01).mean() > 0.001  # dark regions the long frame is needed for


def test_medium_frame_unsaturated_where_gt_below_one(synth):
    root, ids = synth
    for sid in ids:
        lin, gt = _linear_frames(root, sid)
        below = gt.max(axis=-1) < 0.95  # a margin for noise
        assert below.mean() > 0.3
        assert (lin[1][below] < 1.0).all()
        # and where the GT is well above 1, the medium frame clips
        above = gt.min(axis=-1) > 1.1
        if above.any():
            assert (lin[1][above] == 1.0).mean() > 0.95


def test_short_frame_is_4x_darker_in_linear_terms(synth):
    root, ids = synth
    ratios = []
    for sid in ids:
        lin, _ = _linear_frames(root, sid)
        usable = (lin[1] > 0.2) & (
            lin[1] < 0.9
        )  # well exposed in medium, clear of quantisation noise in short
        ratios.append(lin[1][usable] / lin[0][usable])
    assert np.median(np.concatenate(ratios)) == pytest.approx(4.0, rel=0.05)


def test_noise_level_as_configured():
    sensor = simulate.Sensor(shot=0.02, read=0.005, offset=0.001, gain=2.0)
    flat = np.full((200, 200, 3), 0.25, dtype=np.float32)
    out = simulate.expose(flat, 0.0, sensor, np.random.default_rng(0))
    expected = np.sqrt(2.0 * 0.02**2 * 0.25 + (2.0 * 0.005) ** 2)
    assert out.std() == pytest.approx(expected, rel=0.03)
    assert out.mean() == pytest.approx(0.25 + 0.001, abs=1e-3)
    # exposure: one stop down halves the signal; saturation clips at 1
    assert simulate.expose(flat, -1.0, sensor, np.random.default_rng(0)).mean() == pytest.approx(
        0.126, abs=1e-3
    )
    assert simulate.expose(flat, 3.0, sensor, np.random.default_rng(0)).max() == 1.0
    quiet = simulate.expose(flat, 0.0, simulate.Sensor(shot=0, read=0, offset=0), np.random.default_rng(0))
    assert np.all(quiet == 0.25)
    with pytest.raises(UsageError, match="gain"):
        simulate.Sensor(gain=0)


def test_seed_reproduces_bytes_and_other_seed_differs(tmp_path, synth):
    root, _ = synth
    again = tmp_path / "again"
    simulate.make_synthetic(again, 3, size=SIZE, seed=7)
    assert _files(again) == _files(root)
    other = tmp_path / "other"
    simulate.make_synthetic(other, 1, size=SIZE, seed=8)
    assert _files(other)["0000_medium.png"] != _files(root)["0000_medium.png"]


def test_motion_moves_only_the_non_reference_frames(tmp_path):
    still, moving = tmp_path / "still", tmp_path / "moving"
    simulate.make_synthetic(still, 1, size=(96, 64), seed=3)
    simulate.make_synthetic(moving, 1, size=(96, 64), seed=3, motion=True)
    a, b = _files(still), _files(moving)
    for name in ("0000_medium.png", "0000_gt.png", "0000_alignratio.npy", "0000_exposures.npy"):
        assert a[name] == b[name], name
    for name in ("0000_short.png", "0000_long.png"):
        assert a[name] != b[name], name
    manifest = json.loads((moving / "manifest.json").read_text())
    assert set(manifest["samples"][0]["motion"]) == {"short", "long"}
    s_still, s_move = data.load_sample(still, "0000"), data.load_sample(moving, "0000")
    # both runs draw the same noise, so the whole difference is the warp: it must be substantial (>2.5 levels/px)
    assert np.abs(s_still["ldrs"][0] - s_move["ldrs"][0]).mean() > 0.01


def _write_hdr(path, img_rgb):
    assert cv2.imwrite(str(path), img_rgb[..., ::-1].astype(np.float32))


def test_from_hdr_panorama_and_flat_image(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    pano = rng.uniform(0.01, 1.0, (32, 64, 3)).astype(np.float32)
    pano[4:8, 10:14] = 500.0  # a sun far brighter than the rest
    _write_hdr(src / "a_pano.hdr", pano)
    _write_hdr(src / "b_flat.hdr", rng.uniform(0.01, 2.0, (40, 60, 3)).astype(np.float32))
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    ids = simulate.make_from_hdr(src, out, size=(32, 24), seed=1, crops_per_image=2)
    assert ids == ["0000", "0001", "0002", "0003"]
    assert data.scan_dataset(out, require_gt=True) == ids
    manifest = json.loads((out / "manifest.json").read_text())
    sources = [(s["source"], s["crop"]["kind"]) for s in manifest["samples"]]
    assert sources == [
        ("a_pano.hdr", "perspective"),
        ("a_pano.hdr", "perspective"),
        ("b_flat.hdr", "central"),
        ("b_flat.hdr", "random"),
    ]
    assert all(s["scale"] > 0 for s in manifest["samples"])
    assert manifest["samples"][2]["crop"] == {"kind": "central", "x": 14, "y": 8, "upscale": 1.0}
    with pytest.raises(UsageError, match="already holds a data set"):
        simulate.make_from_hdr(src, out, size=(32, 24))
    with pytest.raises(UsageError, match="no .hdr or .exr"):
        simulate.make_from_hdr(tmp_path / "out", tmp_path / "o2", size=(32, 24))


def test_perspective_crop_looks_where_asked():
    h, w = 64, 128
    # each panorama pixel holds its longitude in degrees (+180 so all values are positive)
    lon = (np.arange(w) + 0.5) / w * 360.0
    pano = np.repeat(np.tile(lon, (h, 1))[..., None], 3, axis=-1).astype(np.float32)
    for yaw in (0.0, 90.0, -45.0):
        view = simulate.perspective_crop(pano, (33, 21), yaw_deg=yaw, pitch_deg=0.0, hfov_deg=60.0)
        assert view[10, 16, 0] == pytest.approx(180.0 + yaw, abs=1.5)
    # a flat image smaller than the size is upscaled, then cropped
    crop, info = simulate.flat_crop(
        np.ones((10, 20, 3), np.float32), (40, 10), np.random.default_rng(0), True
    )
    assert crop.shape == (10, 40, 3) and info["upscale"] == 2.0


def test_exr_without_openexr_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # makes `import OpenEXR` fail
    (tmp_path / "x.exr").write_bytes(b"not really")
    with pytest.raises(UsageError, match=r"pip install -e '\.\[exr\]'"):
        simulate.read_radiance(tmp_path / "x.exr")


def test_exr_round_trip(tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    rgb = np.random.default_rng(0).uniform(0, 50, (8, 10, 3)).astype(np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(
        header, {"R": rgb[..., 0].copy(), "G": rgb[..., 1].copy(), "B": rgb[..., 2].copy()}
    ) as f:
        f.write(str(tmp_path / "x.exr"))
    assert np.array_equal(simulate.read_radiance(tmp_path / "x.exr"), rgb)


def test_make_data_command(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        [
            "make-data",
            str(out),
            "--synthetic",
            "2",
            "--size",
            "40x24",
            "--evs=-3,-1,1",
            "--seed",
            "5",
            "--read",
            "0.004",
            "--json",
            str(tmp_path / "s.json"),
        ]
    )
    assert rc == 0
    assert "wrote 2 sample(s)" in capsys.readouterr().out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["ids"] == ["0000", "0001"] and summary["noise"]["read"] == 0.004
    assert np.load(out / "0000_exposures.npy").tolist() == [-3, -1, 1]
    assert data.NTIREDataset(out)[0]["ev"].tolist() == [-2.0, 0.0, 2.0]
    # bad input: one line, exit code 2
    assert main(["make-data", str(out), "--synthetic", "1", "--size", "40x24"]) == 2
    assert main(["make-data", str(tmp_path / "n"), "--synthetic", "1", "--evs=1,2"]) == 2
    assert main(["make-data", str(tmp_path / "n"), "--from-hdr", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "--force" in err
    assert main(["make-data", str(out), "--synthetic", "1", "--size", "40x24", "--force"]) == 0
    assert data.scan_dataset(out) == ["0000"]  # the old samples were replaced, not mixed in


def test_unreadable_source_leaves_the_existing_set_untouched(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    _write_hdr(src / "a.hdr", np.random.default_rng(0).uniform(0.01, 2.0, (30, 40, 3)).astype(np.float32))
    out = tmp_path / "out"
    simulate.make_from_hdr(src, out, size=(32, 24))
    before = _files(out)
    (src / "b.hdr").write_bytes(b"#?RADIANCE\ngarbage")  # sorted after a.hdr: found only after a.hdr was read
    assert main(["make-data", str(out), "--from-hdr", str(src), "--size", "32x24", "--force"]) == 2
    assert "b.hdr: cannot read" in capsys.readouterr().err
    assert _files(out) == before  # --force deletes nothing until every source has been read
    assert main(["make-data", str(tmp_path / "n"), "--synthetic", "1", "--crops-per-image", "2"]) == 2
    assert "--from-hdr only" in capsys.readouterr().err
