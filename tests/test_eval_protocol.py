"""Evaluation protocols (full, the papers' 256-pixel tiles), eval with every metric, Kalantari-style saving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bench.cli import main as cli
from bench.core import UsageError
from bench.evaluation import METRICS, EvalConfig
from bench.evaluation.predict import (
    PAPER_PROTOCOLS,
    check_protocol,
    paper_tile_count,
    predict,
    predict_paper_tiles,
    protocol_for,
)
from bench.evaluation.saving import prediction_files, save_layout_for, save_prediction

ALL = ",".join(METRICS.names())

VARIANTS = '''
import torch
from torch import nn


class Tiny(nn.Module):
    """A 3x3 conv on the stacked frames, bounded output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(9, 3, 3, padding=1)

    def forward(self, ldrs, ev):
        b, f, c, h, w = ldrs.shape
        return torch.sigmoid(self.conv(ldrs.reshape(b, f * c, h, w))) * 1.5


def tiny():
    return Tiny()
'''


class Recorder(nn.Module):
    """Pixel-wise (the medium frame), recording every input it is run on."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, ldrs: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(ldrs.shape))
        return ldrs[:, 1]


class TileMean(nn.Module):
    """Each output pixel is the mean of its whole input window: shows which window a pixel came from."""

    def forward(self, ldrs: torch.Tensor, ev: torch.Tensor) -> torch.Tensor:
        return ldrs[:, 1].mean(dim=(-1, -2), keepdim=True).expand_as(ldrs[:, 1]).clone()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("protocol_data")
    make_synthetic(root, 2, size=(80, 48), seed=2)
    return root


def test_paper_tiles_at_kalantari_size_are_24_non_overlapping_tiles():
    assert paper_tile_count(1000, 1500) == 24
    model = Recorder()
    ldrs = torch.rand(1, 3, 3, 1000, 1500)
    out = predict_paper_tiles(model, ldrs, torch.zeros(1, 3))
    assert len(model.shapes) == 24 and set(model.shapes) == {(1, 3, 3, 256, 256)}
    assert out.shape == (1, 3, 1000, 1500) and torch.equal(out, ldrs[:, 1])  # stitched and cropped exactly


def test_paper_tiles_pad_with_ones_and_keep_a_256_grid():
    ldrs = torch.zeros(1, 3, 3, 300, 256)  # 300 -> 2 tiles; 256 (a multiple) still gets a second column
    out = predict(TileMean(), ldrs, torch.zeros(1, 3), protocol="tiles-256")
    assert paper_tile_count(300, 256) == 4
    assert torch.all(out[..., :256, :] == 0)  # the first tile row holds only image pixels
    # The second row's tiles hold 44 image rows and 212 rows of padding at 1.0.
    assert torch.allclose(out[..., 256:, :], torch.full_like(out[..., 256:, :], 212 / 256))


def test_protocol_defaults_and_bad_choices():
    assert protocol_for("hdr-transformer") == protocol_for("sctnet") == "tiles-256"
    assert protocol_for("eapnet-lightweight") == "full" and protocol_for(None) == "full"
    assert set(PAPER_PROTOCOLS) == {"hdr-transformer", "sctnet"}

    class Declared(nn.Module):
        eval_protocol = "tiles-256"

    assert protocol_for("my-net", Declared()) == "tiles-256"
    with pytest.raises(UsageError, match="--protocol 'tiles-64'"):
        check_protocol("tiles-64", None)
    with pytest.raises(UsageError, match="--tile applies to the full protocol"):
        check_protocol("tiles-256", 64)


def test_protocol_enters_the_key_only_when_not_full(data):
    plain = EvalConfig(data=str(data), device="cpu")
    assert "protocol" not in plain.cache_settings()
    tiled = EvalConfig(data=str(data), device="cpu", protocol="tiles-256")
    assert tiled.cache_settings()["protocol"] == "tiles-256"
    with pytest.raises(UsageError, match="--save-layout 'png'"):
        EvalConfig(data=str(data), save_layout="png")


def test_eval_all_metrics_for_references_and_a_model(data, tmp_path, capsys):
    out = tmp_path / "eval.json"
    base = ["eval", "--data", str(data), "--metrics", ALL, "--device", "cpu", "--no-store"]
    assert cli([*base, "--models", "ref-frame,exposure-merge", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "protocol full (full-image inference): ref-frame, exposure-merge" in printed
    assert "PSNR-mu (K): Kalantari-style PSNR-mu" in printed and "[linear domain]" in printed
    records = json.loads(out.read_text())
    for r in records:
        assert r["protocol"] == "full" and r["data_layout"] == "ntire" and r["n_failed"] == 0
        assert list(r["metrics"]) == list(METRICS.names())
        assert r["metric_domains"]["psnr"] == "contract" and r["metric_domains"]["ssim_l"] == "linear"
        for image in r["per_image"]:
            assert all(np.isfinite(image[m]) for m in METRICS.names())
    merge = next(r for r in records if r["model"] == "exposure-merge")
    ref = next(r for r in records if r["model"] == "ref-frame")
    assert merge["psnr_l"] > ref["psnr_l"] and merge["ssim_mu"] > ref["ssim_mu"]

    # A model with weights, under the papers' tile protocol.
    from bench.spec.variants import load_variant
    from bench.train.checkpoint import save_weights

    variants = tmp_path / "variants.py"
    variants.write_text(VARIANTS)
    name, factory = load_variant(f"{variants}:tiny")
    save_weights(tmp_path / "tiny.safetensors", factory(), name)
    spec = ["--variant", f"{variants}:tiny", "--weights", str(tmp_path / "tiny.safetensors")]
    assert cli([*base, *spec, "--protocol", "tiles-256", "--json", str(out)]) == 0
    (rec,) = json.loads(out.read_text())
    assert rec["protocol"] == "tiles-256" and "256x256" in rec["protocol_description"]
    assert all(rec[m] is not None for m in METRICS.names())


def test_bad_protocol_options_are_one_line_exit_2(data, capsys):
    base = ["eval", "--models", "ref-frame", "--data", str(data), "--no-store"]
    assert cli([*base, "--protocol", "tiles-256", "--tile", "64"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tile applies to the full protocol" in err[0]
    with pytest.raises(SystemExit) as exc:
        cli([*base, "--protocol", "tiles-512"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli([*base, "--save-predictions", "x", "--save-layout", "exr"])
    assert exc.value.code == 2


def test_kalantari_predictions_are_linear_hdr_per_scene_folder(data, tmp_path):
    import cv2

    saved = tmp_path / "preds"
    assert cli(["eval", "--models", "exposure-merge", "--data", str(data), "--no-store",
                "--save-predictions", str(saved), "--save-layout", "kalantari", "--json", str(tmp_path / "e.json")]) == 0  # fmt: skip
    (rec,) = json.loads((tmp_path / "e.json").read_text())
    assert rec["save_layout"] == "kalantari"
    from bench.data import NTIREDataset
    from models.registry import create_model

    model = create_model("exposure-merge")
    for item in NTIREDataset(data, require_gt=True):
        path = saved / item["id"] / "HDRImg.hdr"
        assert prediction_files(saved, item["id"], "kalantari") == [path]
        written = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
        with torch.no_grad():
            pred = model(item["ldrs"][None], item["ev"][None])[0].permute(1, 2, 0).numpy().astype(np.float64)
        stops = -float(item["ev"].min())
        linear = np.clip(pred, 0, None) ** 2.24 / 2**stops
        # RGBE: 8 mantissa bits under an exponent shared by the pixel's three channels.
        assert np.all(np.abs(written - linear) <= linear.max(axis=-1, keepdims=True) / 128 + 1e-7)


def test_saving_takes_any_scene_id_and_follows_the_data(tmp_path):
    pred = np.full((4, 6, 3), 0.5, dtype=np.float32)
    path = save_prediction(tmp_path, "BarbequeDay", pred, 2.0, "kalantari")
    assert path == tmp_path / "BarbequeDay" / "HDRImg.hdr" and path.is_file()
    assert save_prediction(tmp_path, "scene_0001_2", pred, 2.0, "ntire").name == "scene_0001_2.png"
    with pytest.raises(UsageError, match="cannot name a prediction file"):
        save_prediction(tmp_path, "../up", pred, 2.0, "kalantari")
    assert save_layout_for("ntire") == "ntire" and save_layout_for("kalantari") == "kalantari"
    assert save_layout_for("sctnet") == "kalantari" and save_layout_for("kalantari", "ntire") == "ntire"
