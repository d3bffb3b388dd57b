"""Evaluation: scores equal the metrics computed directly, the 16-bit round trip, tiling, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.cli import main as cli
from bench.core import UsageError
from bench.data import NTIREDataset
from bench.data.hdrio import read_hdr_png
from bench.evaluation.evaluate import evaluate, predict, tile_starts
from bench.evaluation.metrics import score
from models.registry import create_model

VARIANTS = '''
import torch
from torch import nn


class Tiny(nn.Module):
    """A 3x3 conv on the stacked frames: receptive radius 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(9, 3, 3, padding=1)

    def forward(self, ldrs, ev):
        b, f, c, h, w = ldrs.shape
        return torch.relu(self.conv(ldrs.reshape(b, f * c, h, w)))


class NaNModel(nn.Module):
    def forward(self, ldrs, ev):
        return ldrs[:, 1] * float("nan")


def tiny():
    return Tiny()


def nan_model():
    return NaNModel()
'''


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("eval_data")
    make_synthetic(root, 3, size=(72, 40), seed=5)
    return root


@pytest.fixture()
def variants(tmp_path) -> Path:
    path = tmp_path / "variants.py"
    path.write_text(VARIANTS)
    return path


def test_reference_scores_equal_the_metrics_computed_directly(data):
    rec = evaluate("ref-frame", data, device="cpu", show_progress=False)
    model = create_model("ref-frame")
    expected = []
    for item in NTIREDataset(data, require_gt=True):
        with torch.no_grad():
            pred = model(item["ldrs"][None], item["ev"][None])[0]
        expected.append({"id": item["id"], **score(pred, item["gt"])})
    assert [p["id"] for p in rec["per_image"]] == [e["id"] for e in expected]
    for got, want in zip(rec["per_image"], expected, strict=True):
        assert got["psnr"] == pytest.approx(want["psnr"], abs=1e-9)
        assert got["psnr_mu"] == pytest.approx(want["psnr_mu"], abs=1e-9)
    assert rec["psnr_mu"] == pytest.approx(np.mean([e["psnr_mu"] for e in expected]), abs=1e-9)
    assert rec["n_images"] == rec["ids"] == 3 and rec["n_failed"] == 0 and rec["weights"] is None


def test_saved_predictions_roundtrip_to_the_same_scores(data, tmp_path):
    out = tmp_path / "pred"
    rec = evaluate(
        "exposure-merge", data, roundtrip16=True, save_predictions=out, device="cpu", show_progress=False
    )
    assert rec["roundtrip16"] is True
    for p in rec["per_image"]:
        assert (out / f"{p['id']}.png").is_file() and (out / f"{p['id']}_alignratio.npy").is_file()
        gt = NTIREDataset(data, [p["id"]], require_gt=True)[0]["gt"]
        again = score(read_hdr_png(out / f"{p['id']}.png"), gt)
        assert again["psnr"] == pytest.approx(p["psnr"], abs=1e-6)
        assert again["psnr_mu"] == pytest.approx(p["psnr_mu"], abs=1e-6)
    in_memory = evaluate("exposure-merge", data, device="cpu", show_progress=False)
    assert in_memory["psnr"] != rec["psnr"]  # the quantisation is real, and only applied when asked


def test_tile_starts_cover_the_length():
    assert tile_starts(100, 40, 30) == [0, 30, 60]
    assert tile_starts(30, 40, 30) == [0]


def test_tiled_prediction_equals_whole_image():
    torch.manual_seed(0)
    ldrs, ev = torch.rand(1, 3, 3, 45, 70), torch.tensor([[-2.0, 0.0, 2.0]])
    merge = create_model("exposure-merge")
    assert torch.equal(predict(merge, ldrs, ev, tile=16, overlap=4), predict(merge, ldrs, ev))
    # A conv stack with receptive radius 3: a margin of overlap/2 = 4 pixels hides every seam.
    net = torch.nn.Sequential(
        *[torch.nn.Conv2d(9, 9, 3, padding=1) for _ in range(2)], torch.nn.Conv2d(9, 3, 3, padding=1)
    )

    class Wrap(torch.nn.Module):
        def forward(self, ldrs, ev):
            return net(ldrs.flatten(1, 2))

    whole = predict(Wrap(), ldrs, ev)
    tiled = predict(Wrap(), ldrs, ev, tile=24, overlap=8)
    assert torch.allclose(tiled, whole, atol=1e-6)


def test_non_finite_predictions_are_counted_not_averaged(data, variants):
    rec = evaluate(f"{variants}:nan_model", data, device="cpu", show_progress=False)
    assert rec["n_failed"] == 3 and rec["failed"] == ["0000", "0001", "0002"]
    assert rec["psnr"] is None and rec["psnr_mu"] is None
    assert not any(p["finite"] for p in rec["per_image"])


def test_models_with_parameters_need_weights(data, variants, tmp_path, capsys):
    with pytest.raises(UsageError, match="no trained weights"):
        evaluate(f"{variants}:tiny", data, device="cpu")
    assert cli(["eval", "--variant", f"{variants}:tiny", "--data", str(data)]) == 2
    assert "random weights are never evaluated" in capsys.readouterr().err
    # With weights it runs, and the record names them.
    from bench.spec.variants import load_variant
    from bench.train.checkpoint import save_weights

    name, factory = load_variant(f"{variants}:tiny")
    save_weights(tmp_path / "tiny.safetensors", factory(), name)
    rec = evaluate(
        f"{variants}:tiny",
        data,
        weights=str(tmp_path / "tiny.safetensors"),
        device="cpu",
        show_progress=False,
    )
    assert rec["weights"].endswith("tiny.safetensors") and rec["n_images"] == 3


def test_bad_weights_exit_2(data, variants, tmp_path, capsys):
    from bench.train.checkpoint import save_weights

    base = ["eval", "--data", str(data), "--device", "cpu"]
    assert (
        cli([*base, "--models", "eapnet-lightweight", "--weights", str(tmp_path / "missing.safetensors")])
        == 2
    )
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    assert (
        cli([*base, "--models", "eapnet-lightweight", "--weights", str(tmp_path / "junk.safetensors")]) == 2
    )
    assert "not a valid safetensors" in capsys.readouterr().err
    save_weights(tmp_path / "tiny.safetensors", torch.nn.Conv2d(9, 3, 3), "tiny")
    assert (
        cli([*base, "--models", "eapnet-lightweight", "--weights", str(tmp_path / "tiny.safetensors")]) == 2
    )
    assert "trained for model 'tiny'" in capsys.readouterr().err
    save_weights(tmp_path / "unnamed.safetensors", torch.nn.Conv2d(9, 3, 3), "")
    assert (
        cli([*base, "--variant", f"{variants}:tiny", "--weights", str(tmp_path / "unnamed.safetensors")]) == 2
    )
    assert "does not fit" in capsys.readouterr().err
    assert (
        cli([*base, "--models", "ref-frame,exposure-merge", "--weights", str(tmp_path / "tiny.safetensors")])
        == 2
    )


def test_cli_writes_json_and_csv(data, tmp_path, capsys):
    rc = cli(
        [
            "eval",
            "--models",
            "ref-frame,exposure-merge",
            "--data",
            str(data),
            "--ids",
            "0000-0001",
            "--device",
            "cpu",
            "--tile",
            "32",
            "--json",
            str(tmp_path / "e.json"),
            "--csv",
            str(tmp_path / "e.csv"),
        ]
    )
    assert rc == 0
    records = json.loads((tmp_path / "e.json").read_text())
    assert [r["model"] for r in records] == ["ref-frame", "exposure-merge"]
    for r in records:
        for key in (
            "model",
            "weights",
            "data",
            "ids",
            "n_images",
            "n_failed",
            "failed",
            "psnr",
            "psnr_mu",
            "roundtrip16",
            "device",
            "per_image",
        ):
            assert key in r
        assert r["n_images"] == 2 and r["tile"] == 32
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert lines[0] == "model,id,psnr,psnr_mu,finite" and len(lines) == 1 + 4
    assert "exposure-merge" in capsys.readouterr().out


def test_bad_tiling_options_exit_2(data, capsys):
    base = ["eval", "--models", "ref-frame", "--data", str(data), "--device", "cpu", "--no-store"]
    assert cli([*base, "--tile", "32", "--overlap", "32"]) == 2
    assert "--overlap 32 must be at least 0 and less than --tile 32" in capsys.readouterr().err
    assert cli([*base, "--overlap", "8"]) == 2
    assert cli([*base, "--tile", "8"]) == 2


def test_records_say_how_they_scored_and_why_an_image_failed(data, variants):
    rec = evaluate("ref-frame", data, roundtrip16=True, device="cpu", show_progress=False)
    assert rec["scoring"] == "roundtrip16" and rec["n_scored"] == 3
    bad = evaluate(f"{variants}:nan_model", data, device="cpu", show_progress=False)
    assert bad["scoring"] == "in-memory" and bad["n_scored"] == 0
    assert all("NaN" in p["error"] for p in bad["per_image"])


def test_wildcards_skip_models_without_weights_but_names_do_not(data, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert (
        cli(
            [
                "eval",
                "--models",
                "eapnet-lightweight-pdub*,ref-frame",
                "--data",
                str(data),
                "--ids",
                "0000",
                "--no-store",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "skipped 3 model(s)" in err and "eapnet-lightweight-pdub2" in err
    # pdub3 is an alias of eapnet-lightweight and shares its shipped weights
    assert [r["model"] for r in json.loads(out.read_text())] == ["eapnet-lightweight-pdub3", "ref-frame"]
    assert cli(["eval", "--models", "eapnet-exp5", "--data", str(data), "--no-store"]) == 2
    assert "no trained weights" in capsys.readouterr().err
