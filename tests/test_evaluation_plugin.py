"""A metric added by a plugin file outside bench/ is scored by `eval --metrics` with no change to the package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main as cli
from bench.data import NTIREDataset
from bench.evaluation import METRICS
from models.registry import create_model

PLUGIN = '''
import numpy as np

from bench.evaluation import register_metric


@register_metric("mae-linear", unit="", higher_is_better=False, format=".5f", label="MAE-lin")
def mae_linear(pred, gt):
    """Mean absolute error of the linear values (gamma 2.24), relative to the linear GT's maximum."""
    p, g = np.maximum(pred, 0) ** 2.24, np.maximum(gt, 0) ** 2.24
    return float(np.abs(p - g).mean() / g.max())
'''


@pytest.fixture()
def plugin(tmp_path):
    """The plugin file; what it registers is removed afterwards (the registry is process-global)."""
    path = tmp_path / "my_metric.py"
    path.write_text(PLUGIN)
    yield path
    METRICS.remove("mae-linear")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("plugin_data")
    make_synthetic(root, 2, size=(40, 32), seed=9)
    return root


def _mae_linear(pred: np.ndarray, gt: np.ndarray) -> float:
    """The plugin's formula, written again here."""
    p, g = np.clip(pred, 0, None).astype(np.float64) ** 2.24, np.clip(gt, 0, None).astype(np.float64) ** 2.24
    return float(np.mean(np.abs(p - g)) / np.max(g))


def test_plugin_metric_is_reported_per_image_and_in_the_summary(plugin, data, tmp_path, capsys):
    out, table = tmp_path / "out.json", tmp_path / "o.csv"
    argv = ["--plugin", str(plugin), "eval", "--models", "ref-frame,exposure-merge", "--data", str(data)]
    extra = ["--metrics", "psnr,mae-linear", "--no-store", "--json", str(out), "--csv", str(table)]
    assert cli([*argv, *extra]) == 0
    stdout = capsys.readouterr().out
    records = json.loads(out.read_text())
    model = create_model("ref-frame")
    for item, image in zip(NTIREDataset(data, require_gt=True), records[0]["per_image"], strict=True):
        pred = model(item["ldrs"][None], item["ev"][None])[0].permute(1, 2, 0).numpy()
        assert image["id"] == item["id"]
        assert image["mae-linear"] == pytest.approx(
            _mae_linear(pred, item["gt"].permute(1, 2, 0).numpy()), rel=1e-9
        )
    for r in records:
        assert set(r["per_image"][0]) == {"id", "psnr", "mae-linear", "finite"}
        assert r["mae-linear"] == pytest.approx(np.mean([p["mae-linear"] for p in r["per_image"]]))
        assert "psnr_mu" not in r and r["psnr"] is not None
        assert r["metrics"]["mae-linear"] == {
            "label": "MAE-lin",
            "unit": "",
            "higher_is_better": False,
            "aggregation": "mean",
            "format": ".5f",
            "description": "Mean absolute error of the linear values (gamma 2.24), relative to the linear GT's maximum.",
        }
    # The table: a column per metric in its format, the best by its direction marked.
    lines = stdout.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    assert "PSNR (dB)" in header and "MAE-lin" in header and "PSNR-mu" not in header
    best = min(records, key=lambda r: r["mae-linear"])
    row = next(line for line in lines if line.startswith(best["model"] + " "))
    assert f"{best['mae-linear']:.5f}*" in row
    assert "lower is better: MAE-lin" in stdout and "higher is better: PSNR" in stdout
    assert table.read_text().splitlines()[0] == "model,id,psnr,mae-linear,finite"


def test_unknown_metric_is_one_line_exit_2(data, capsys):
    assert "mae-linear" not in METRICS  # the other test's plugin was removed again
    # Without the plugin, the name is unknown: one line naming the known metrics, before any work.
    assert cli(["eval", "--models", "ref-frame", "--data", str(data), "--metrics", "psnr,mae-linear"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown metric 'mae-linear'" in err[0] and "psnr_mu" in err[0]
    assert cli(["eval", "--models", "ref-frame", "--data", str(data), "--metrics", "psnr-mu"]) == 2
    assert "did you mean psnr_mu" in capsys.readouterr().err
