"""prepare-data: the frame store reads bit for bit like its source, trains, and refuses bad or stale stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.cli import main
from bench.data import PatchDataset, dataset_fingerprint
from bench.data.prepare import prepare_store
from bench.data.store import FRAMES, MANIFEST, StoreLayout, open_store, scene_bytes
from bench.train.config import TrainConfig
from bench.train.loop import train


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src") / "train"
    assert main(["make-data", "--synthetic", "2", "--size", "80x64", str(root)]) == 0
    return root


@pytest.fixture()
def store(source, tmp_path) -> Path:
    out = tmp_path / "store"
    assert main(["prepare-data", str(source), "--out", str(out), "--patch", "64"]) == 0
    return out


def test_store_reads_bit_for_bit_like_its_source(source, store):
    a, b = PatchDataset(source, patch=64, stride=16), PatchDataset(store, patch=64, stride=16)
    assert isinstance(b.layout, StoreLayout) and len(a) == len(b) > 2
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["pos"] == y["pos"]
        for key in ("ldrs", "gt", "ev"):
            assert x[key].dtype == y[key].dtype and bool((x[key] == y[key]).all()), (i, key)
    manifest = json.loads((store / MANIFEST).read_text())
    assert manifest["source"]["fingerprint"] == dataset_fingerprint(source)
    assert manifest["scenes"][0]["ldr_dtype"] == "uint8"  # NTIRE's 8-bit PNGs stored as bytes
    assert (store / FRAMES).stat().st_size >= 2 * scene_bytes(80, 64)
    assert not [p for p in store.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_kalantari_store_keeps_16_bit_ldrs_and_reads_like_its_source(tmp_path):
    # Kalantari-family data is stored in its own convention (tif / 2^16 as 16-bit values, linear GT)
    # and converted to the contract per crop, exactly as the folder's reader converts it.
    src, out = tmp_path / "Test", tmp_path / "store"
    assert main(["make-data", "--synthetic", "2", "--size", "64x48", "--layout", "kalantari", str(src)]) == 0
    assert main(["prepare-data", str(src), "--out", str(out), "--patch", "32"]) == 0
    entry = json.loads((out / MANIFEST).read_text())["scenes"][0]
    assert (entry["ldr_dtype"], entry["ldr_scale"], entry["convention"]) == ("uint16", 65536.0, "kalantari")
    a, b = PatchDataset(src, patch=32, stride=16), PatchDataset(out, patch=32, stride=16)
    assert len(a) == len(b) > 2
    for i in range(len(a)):
        for key in ("ldrs", "gt", "ev"):
            assert bool((a[i][key] == b[i][key]).all()), (i, key)


def test_train_reads_a_store(store, tmp_path):
    cfg = TrainConfig(
        model="eapnet-lightweight-pdub2",
        data=str(store),
        out=str(tmp_path / "run"),
        iters=2,
        batch=1,
        patch=64,
    )
    summary = train(TrainConfig(**{**cfg.to_json(), "workers": 0}))
    assert summary.iters == 2 and summary.n_patches == 2 * 2  # 80x64 frames: two 64x64 crops each


def one_line_refusal(capsys, args: list[str], needle: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_bad_and_stale_stores_are_refused_in_one_line(source, store, tmp_path, capsys):
    eval_args = ["eval", "--models", "ref-frame", "--data", str(store), "--no-store"]
    assert main(eval_args) == 0  # a good store evaluates like a folder
    capsys.readouterr()
    # truncated data file
    frames = store / FRAMES
    data = frames.read_bytes()
    frames.write_bytes(data[:-10])
    one_line_refusal(capsys, eval_args, "truncated")
    frames.write_bytes(data)
    # another manifest version
    manifest_path = store / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "version": 99}))
    one_line_refusal(capsys, eval_args, "manifest version 99")
    manifest_path.write_text(json.dumps(manifest))
    open_store(store)
    # the source changed since prepare-data: stale
    member = next(source.glob("*_medium.png"))
    st = member.stat()
    os.utime(member, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    try:
        one_line_refusal(capsys, eval_args, "stale")
    finally:
        os.utime(member, ns=(st.st_atime_ns, st.st_mtime_ns))
    # an existing --out is not replaced without --force
    one_line_refusal(capsys, ["prepare-data", str(source), "--out", str(store)], "--force")
    one_line_refusal(
        capsys, ["prepare-data", str(source), "--out", str(tmp_path / "s2"), "--patch", "72"], "72"
    )


def test_force_replaces_a_store_atomically(source, store):
    summary = prepare_store(source, store, force=True, gt_dtype="float16", show_progress=False)
    assert summary.scenes == 2 and json.loads((store / MANIFEST).read_text())["gt_dtype"] == "float16"
    assert sorted(p.name for p in store.parent.iterdir()) == ["store"]
