"""Plugins and the generic registry: what a plugin registers is usable through the CLI at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main as cli
from bench.cli import split_plugins
from bench.core import UsageError
from bench.core.plugins import ENV_VAR, load_plugin
from bench.core.registry import Registry

REPO = Path(__file__).resolve().parent.parent

MODEL_PLUGIN = """
import torch
from torch import nn

from models.blocks import HDRModel
from models.registry import register_model


class MeanOfFrames(HDRModel):
    def __init__(self):
        super().__init__()
        self.scale = nn.Conv2d(3, 3, 1)

    def reconstruct(self, ldrs, ev):
        return torch.relu(self.scale(ldrs.mean(dim=1)))


@register_model(family="plugin", description="a plugin's model")
def {name}(**kw):
    return MeanOfFrames()
"""


def _plugin(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(MODEL_PLUGIN.replace("{name}", name))
    return path


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full = {**os.environ, "EAPBENCH_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "run_bench.py"), *args], capture_output=True, text=True,
                          timeout=300, env=full, cwd=REPO)  # fmt: skip


def test_registry_add_get_replace_and_suggest():
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    reg.register("beta")(2)
    assert reg.names() == ["alpha", "beta"] and reg.get("beta") == 2 and "alpha" in reg
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", 3)
    reg.add("alpha", 3, replace=True)
    assert reg.get("alpha") == 3
    with pytest.raises(UsageError, match="unknown widget 'alpha2'.*did you mean alpha"):
        reg.get("alpha2")
    reg.remove("alpha")
    assert reg.names() == ["beta"]


def test_plugin_option_may_stand_anywhere():
    plugins, rest = split_plugins(["--plugin", "a.py", "list", "--plugin=b", "eapnet-*"])
    assert plugins == ["a.py", "b"] and rest == ["list", "eapnet-*"]


def test_plugin_model_is_listed_and_profiled(tmp_path):
    plugin = _plugin(tmp_path, "plugin_net_cli")
    out = tmp_path / "profile.json"
    proc = _run("--plugin", str(plugin), "profile", "--models", "plugin-net-cli", "--size", "32x32",
                "--no-store", "--json", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())[0]
    assert record["model"] == "plugin-net-cli" and record["params"] == 12
    proc = _run("list", "plugin-*", env={ENV_VAR: str(plugin)})
    assert proc.returncode == 0 and "plugin-net-cli" in proc.stdout


def test_plugin_failures_are_one_line_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("def oops(:\n")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(0)\n")
    for path, needle in ((broken, "failed to import: SyntaxError"), (exits, "called sys.exit(0)"),
                         (tmp_path / "missing.py", "does not exist")):  # fmt: skip
        assert cli(["--plugin", str(path), "list"]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert cli(["--plugin", "no_such_module_anywhere", "list"]) == 2
    assert "no_such_module_anywhere failed to import" in capsys.readouterr().err


def test_a_plugin_is_imported_once(tmp_path):
    plugin = _plugin(tmp_path, "plugin_net_once")
    assert load_plugin(str(plugin)) is load_plugin(str(plugin))


RAISING_PLUGIN = """
import torch

from models.blocks import HDRModel
from models.registry import register_model


class FailsInForward(HDRModel):
    def reconstruct(self, ldrs, ev):
        raise RuntimeError("illegal memory access (simulated)")


@register_model(family="plugin", description="parameter-free; its forward always fails")
def plugin_fails_in_forward(**kw):
    return FailsInForward()
"""


def test_eval_records_a_model_that_fails_and_goes_on(tmp_path, capsys):
    from bench.data.simulate import make_synthetic

    data = tmp_path / "data"
    make_synthetic(data, 1, size=(32, 32), seed=4)
    plugin = tmp_path / "fails.py"
    plugin.write_text(RAISING_PLUGIN)
    out = tmp_path / "eval.json"
    argv = [
        "--plugin",
        str(plugin),
        "eval",
        "--models",
        "plugin-fails-in-forward,ref-frame",
        "--data",
        str(data),
    ]
    assert cli([*argv, "--no-store", "--json", str(out)]) == 1
    err = capsys.readouterr().err
    assert "plugin-fails-in-forward: RuntimeError: illegal memory access" in err and "Traceback" not in err
    records = {r["model"]: r for r in json.loads(out.read_text())}
    assert records["plugin-fails-in-forward"]["status"] == "error"
    assert records["ref-frame"]["psnr"] is not None  # the other model was scored


def test_plugin_option_without_a_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli(["--plugin"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--plugin" in err
