"""The field's layouts (Kalantari 2017, Hu 2020, Tel 2023): written by make-data, read, detected, validated."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import data
from bench.cli import main
from bench.data.hdrio import roundtrip16, write_radiance
from bench.data.headers import radiance_header, tiff_header
from bench.evaluation.metrics import score_image
from models.conventions import KALANTARI

FIELD = ("kalantari", "hu", "tel")
SIZE = (24, 16)  # width, height


def make(out: Path, layout: str, *extra: str, n: int = 2) -> Path:
    args = [
        "make-data",
        str(out),
        "--synthetic",
        str(n),
        "--size",
        "24x16",
        "--seed",
        "5",
        "--layout",
        layout,
    ]
    assert main([*args, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    """The same two simulated scenes in every layout."""
    root = tmp_path_factory.mktemp("field")
    return {name: make(root / name, name) for name in ("ntire", *FIELD)}


def first_tif(folder: Path) -> Path:
    return sorted(folder.glob("*.tif"))[0]


@pytest.mark.parametrize("name", FIELD)
def test_each_layout_round_trips_and_matches_the_ntire_copy(sets, name):
    root, layout = sets[name], data.LAYOUTS.get(name)
    assert data.open_layout(root) is layout and data.scan_dataset(root, require_gt=True) == ["0000", "0001"]
    assert json.loads((root / "manifest.json").read_text())["format"] == name
    assert layout.sample_size(root, "0001") == SIZE
    for sid in ("0000", "0001"):
        sample, ntire = layout.load(root, sid), data.LAYOUTS.get("ntire").load(sets["ntire"], sid)
        assert sample.convention is KALANTARI and sample.ldrs.dtype == np.float32
        assert np.array_equal(sample.ev, ntire.ev)
        assert (root / sid / layout.exposure_name).read_text().splitlines() == [
            "0.000000",
            "2.000000",
            "4.000000",
        ]
        # the 8-bit frames, re-encoded in gamma 2.2 and 16 bits, come back to within 16-bit steps
        assert np.abs(sample.contract_ldrs() - ntire.ldrs).max() < 2e-4
        # the GT in RGBE (8-bit mantissas) against NTIRE's 16-bit PNG: within 1% of each pixel's peak radiance
        contract, reference = sample.contract_gt(), ntire.gt
        linear, reference_linear = contract.astype(np.float64) ** 2.24, reference.astype(np.float64) ** 2.24
        peak = reference_linear.max(axis=-1, keepdims=True)
        assert np.all(np.abs(linear - reference_linear) <= 0.01 * peak + 1e-6)
        # GT scored against itself: infinite PSNR, through the contract
        record = score_image(contract, contract, image_id=sid)
        assert math.isinf(record["psnr"]) and math.isinf(record["psnr_mu"])
        back = sample.native_hdr(contract)
        assert np.allclose(back, sample.gt, rtol=1e-5, atol=1e-7)


def test_patches_of_a_kalantari_set_are_windows_of_the_full_image(sets):
    patches = data.PatchDataset(sets["kalantari"], patch=8, stride=8)
    assert patches.layout.name == "kalantari" and len(patches) == 2 * 2 * 3
    item = patches[4]  # scene 0000, row 1, column 1
    full = data.NTIREDataset(sets["kalantari"], require_gt=True)[0]
    assert item["pos"] == (8, 8)
    assert np.array_equal(item["ldrs"].numpy(), full["ldrs"][:, :, 8:16, 8:16].numpy())
    assert np.array_equal(item["gt"].numpy(), full["gt"][:, 8:16, 8:16].numpy())


def test_headers_are_read_without_decoding(sets, tmp_path):
    tif = first_tif(sets["kalantari"] / "0000")
    h = tiff_header(tif)
    assert (h.width, h.height, h.bits, h.channels) == (24, 16, 16, 3)
    assert radiance_header(sets["kalantari"] / "0000" / "HDRImg.hdr").size == SIZE
    cut = tmp_path / "cut.tif"
    cut.write_bytes(tif.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated TIFF"):
        tiff_header(cut)
    with pytest.raises(ValueError, match="not a TIFF"):
        tiff_header(sets["kalantari"] / "0000" / "exposure.txt")


def test_detection_names_ids_and_split_roots(sets, tmp_path):
    # any folder name is a scene id; Tel's folder reads the same through the general Kalantari layout
    tel = tmp_path / "Test"
    shutil.copytree(sets["tel"], tel)
    (tel / "0001").rename(tel / "BarbequeDay")
    assert data.scan_dataset(tel) == ["0000", "BarbequeDay"]
    as_tel, as_kalantari = data.LAYOUTS.get("tel"), data.LAYOUTS.get("kalantari")
    assert [la.name for la in data.detect_layouts(tel)] == ["tel"]
    assert data.scan_dataset(tel, layout="kalantari", require_gt=True) == ["0000", "BarbequeDay"]
    a, b = as_tel.load(tel, "BarbequeDay"), as_kalantari.load(tel, "BarbequeDay")
    assert np.array_equal(a.ldrs, b.ldrs) and np.array_equal(a.gt, b.gt)
    for name in ("kalantari", "hu"):
        assert [la.name for la in data.detect_layouts(sets[name])] == [name]
    # the root of a split set is not a data set: the message names its parts
    shutil.copytree(sets["kalantari"], tmp_path / "Training")
    with pytest.raises(data.DatasetError, match=r"holds the parts Test/, Training/ .* --data .*Test"):
        data.scan_dataset(tmp_path)
    # a fingerprint covers the scene folders' files, by relative path
    before = data.dataset_fingerprint(tel)
    os.utime(tel / "BarbequeDay" / "exposure.txt", ns=(1, 10**18))
    assert data.dataset_fingerprint(tel) != before and data.dataset_fingerprint(tel, ["0000"]) == (
        data.dataset_fingerprint(tel, ["0000"])
    )


def test_tif_scale_is_an_option_of_the_layout(tmp_path, capsys):
    out = make(tmp_path / "k", "kalantari", "--tif-scale", "65535", n=1)
    assert json.loads((out / "manifest.json").read_text())["tif_scale"] == 65535
    default = data.LAYOUTS.get("kalantari")
    matlab = data.resolve_layout(out, None, tif_scale=65535)
    assert default.tif_scale == 65536 and matlab.tif_scale == 65535 and matlab.name == "kalantari"
    assert data.resolve_layout(out, "kalantari") == "kalantari"  # no option: detection stays the datasets'
    a, b = default.load(out, "0000"), matlab.load(out, "0000")
    assert np.allclose(a.ldrs * 65536 / 65535, b.ldrs, rtol=1e-6)
    raw = cv2.imread(str(out / "0000" / "2.tif"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert np.array_equal(raw.astype(np.float32) / np.float32(65535), b.ldrs[1])
    with pytest.raises(SystemExit):  # argparse choices
        main(["make-data", str(tmp_path / "x"), "--synthetic", "1", "--tif-scale", "255"])
    capsys.readouterr()


def test_training_sets_default_to_motion_and_a_noise_range(tmp_path):
    train = json.loads(
        (make(tmp_path / "t", "kalantari", "--purpose", "train", n=1) / "manifest.json").read_text()
    )
    assert train["motion_kind"] == "both" and train["noise_range"] == [0.5, 4.0]
    assert "noise_scale" in train["samples"][0]
    test = json.loads((make(tmp_path / "s", "kalantari", n=1) / "manifest.json").read_text())
    assert test["motion"] is False and "noise_range" not in test and "motion_kind" not in test
    still = make(
        tmp_path / "u", "ntire", "--purpose", "train", "--motion", "none", "--noise-range", "1,1", n=1
    )
    manifest = json.loads((still / "manifest.json").read_text())
    assert manifest["motion"] is False and manifest["noise_range"] == [1.0, 1.0]


def break_folder(root: Path, name: str, case: str) -> str:
    """Damage scene 0000 of a copy of ``name``'s set; returns what the message must name."""
    layout = data.LAYOUTS.get(name)
    scene = root / "0000"
    tifs = [p for p in layout.member_files(root, "0000") if p.suffix == ".tif"]
    exposure, hdr = scene / layout.exposure_name, scene / layout.hdr_name
    if case == "missing tif":
        tifs[2].unlink()
        return f"0000: missing {tifs[2].name}" if layout.ldr_names else "0000: holds 2 .tif file(s)"
    if case == "8-bit tif":
        ok, buf = cv2.imencode(".tif", np.zeros((16, 24, 3), np.uint8))
        tifs[0].write_bytes(buf.tobytes())
        return f"0000/{tifs[0].name}: LDR must be a 16-bit RGB tif, found 8-bit"
    if case == "2 exposure lines":
        exposure.write_text("0\n2\n")
        return f"0000/{exposure.name}: bad exposures (2 line(s), expected 3"
    if case == "non-numbers":
        exposure.write_text("0\ntwo\n4\n")
        return f"0000/{exposure.name}: bad exposures (lines"
    if case == "missing HDR":
        hdr.unlink()
        return f"0000: missing {hdr.name}"
    if case == "unreadable tif":
        tifs[1].write_bytes(b"garbage")
        return f"0000/{tifs[1].name}: unreadable (not a TIFF file)"
    if case == "unreadable HDR":
        hdr.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n")
        return f"0000/{hdr.name}: unreadable (truncated Radiance .hdr"
    if case == "mixed sizes":
        ok, buf = cv2.imencode(".tif", np.zeros((8, 24, 3), np.uint16))
        tifs[1].write_bytes(buf.tobytes())
        return "0000: frames of different sizes"
    raise AssertionError(case)


CASES = (
    "missing tif",
    "8-bit tif",
    "2 exposure lines",
    "non-numbers",
    "missing HDR",
    "unreadable tif",
    "unreadable HDR",
    "mixed sizes",
)


@pytest.mark.parametrize("name", FIELD)
def test_bad_folders_are_refused_naming_every_file(sets, tmp_path, name):
    expected = []
    for n, case in enumerate(CASES):
        root = tmp_path / f"case{n}"
        shutil.copytree(sets[name], root)
        expected.append(break_folder(root, name, case))
        with pytest.raises(data.DatasetError) as exc:
            data.NTIREDataset(root, require_gt=True, layout=name)
        assert expected[-1] in str(exc.value), case
        assert "0001" not in str(exc.value)  # the intact scene has nothing to report
    # several problems at once: all of them in one message
    root = tmp_path / "all"
    shutil.copytree(sets[name], root)
    wanted = [break_folder(root, name, "2 exposure lines"), break_folder(root, name, "unreadable HDR")]
    with pytest.raises(data.DatasetError, match=r"2 problem\(s\) in 2 sample\(s\)") as exc:
        data.scan_dataset(root, require_gt=True)
    assert all(w in str(exc.value) for w in wanted)


def test_eval_on_a_bad_kalantari_folder_exits_2(sets, tmp_path, capsys):
    root = tmp_path / "bad"
    shutil.copytree(sets["kalantari"], root)
    break_folder(root, "kalantari", "non-numbers")
    assert main(["eval", "--models", "ref-frame", "--data", str(root), "--no-store"]) == 2
    err = capsys.readouterr().err
    assert "0000/exposure.txt: bad exposures" in err and "Traceback" not in err


def test_ntire_gt_round_trip_is_unchanged(sets):
    sample = data.LAYOUTS.get("ntire").load(sets["ntire"], "0000")
    assert sample.contract_gt() is sample.gt and np.array_equal(roundtrip16(sample.gt), sample.gt)


def test_make_data_from_hdr_files_and_force_in_a_field_layout(tmp_path, capsys):
    src = tmp_path / "maps"
    src.mkdir()
    rng = np.random.default_rng(2)
    write_radiance(src / "a.hdr", (2.0 ** rng.uniform(-4, 3, (20, 30, 3))).astype(np.float32))
    out = tmp_path / "hu"
    args = ["make-data", str(out), "--from-hdr", str(src), "--size", "24x16", "--layout", "hu"]
    assert main([*args, "--crops-per-image", "2"]) == 0
    assert data.scan_dataset(out, require_gt=True) == ["0000", "0001"]
    assert json.loads((out / "manifest.json").read_text())["samples"][1]["source"] == "a.hdr"
    assert main(args) == 2  # a data set is there already
    assert "already holds a data set (0000/input_1_aligned.tif, ...)" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert data.scan_dataset(out) == ["0000"]  # the replaced set's second scene is gone
