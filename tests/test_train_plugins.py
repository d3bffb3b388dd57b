"""The loss seam: a plugin file outside ``bench/`` registers a loss and ``train --loss`` trains with it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from bench.cli import main as cli
from bench.train.losses import LOSSES

PLUGIN = textwrap.dedent(
    '''
    """A test plugin: mean squared error as the training loss ``l2``, counting its calls."""

    from bench.train.losses import register_loss


    @register_loss("l2")
    def l2_loss(pred, gt):
        l2_loss.calls += 1
        return (pred - gt).square().mean()


    l2_loss.calls = 0
    '''
)


@pytest.fixture
def plugin(tmp_path) -> Path:
    path = tmp_path / "l2_loss_plugin.py"
    path.write_text(PLUGIN)
    yield path
    LOSSES.remove("l2")  # registries are process-global


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("train_plugin_data")
    make_synthetic(root, 2, size=(48, 32), seed=5)
    return root


def _train_args(data: Path, out: Path) -> list[str]:
    tiny = ["--iters", "2", "--batch", "2", "--patch", "32", "--stride", "16", "--workers", "0"]
    return ["train", "--model", "eapnet-lightweight", "--data", str(data), "--out", str(out), *tiny,
            "--device", "cpu", "--loss", "l2"]  # fmt: skip


def test_a_plugin_loss_is_a_train_choice_and_is_trained_with(plugin, data, tmp_path):
    run = tmp_path / "run"
    assert cli(["--plugin", str(plugin), *_train_args(data, run)]) == 0
    assert LOSSES.get("l2").calls == 2  # one call per iteration: the plugin's function did the training
    assert json.loads((run / "config.json").read_text())["loss"] == "l2"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["loss"] == "l2" and summary["iters"] == 2


def test_without_the_plugin_the_loss_is_refused(data, tmp_path, capsys):
    assert "l2" not in LOSSES
    with pytest.raises(SystemExit) as exc:
        cli(_train_args(data, tmp_path / "run"))
    assert exc.value.code == 2
    assert "--loss" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
