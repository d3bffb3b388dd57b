"""`run_bench.py weights import`: an authors' checkpoint becomes weights that --weights loads; bad files exit 2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from bench.cli import main as cli
from bench.train.checkpoint import read_safetensors
from models.official import official_converter
from models.registry import create_model

FIXTURES = Path(__file__).parent / "fixtures" / "official_keys"


def official_state(name: str) -> dict[str, torch.Tensor]:
    """A state dict with the authors' key names and shapes (random values: PReLU slopes too)."""
    keys = json.loads((FIXTURES / f"{name}.json").read_text())["keys"]
    return {k: torch.randn(shape) * 0.05 for k, shape in keys.items()}


class NotATensor:
    """Any class in a pickle makes torch.load(weights_only=True) refuse it."""


def run(args: list[str], capsys) -> tuple[int, str, str]:
    rc = cli(["weights", "import", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_import_writes_loadable_weights_naming_their_source(tmp_path, capsys):
    state = official_state("safnet-s")
    src = tmp_path / "SAFNet_S_siggraph17.pth"
    torch.save(state, src)
    out, record = tmp_path / "w" / "safnet-s.safetensors", tmp_path / "import.json"
    rc, stdout, err = run(["--model", "safnet-s", str(src), "--out", str(out), "--json", str(record)], capsys)
    assert rc == 0, err
    assert str(out) in stdout
    tensors, meta = read_safetensors(out)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["eapbench_model"] == "safnet-s" and meta["eapbench_source"] == src.name
    assert meta["eapbench_source_sha256"] == digest
    expected = official_converter("safnet-s")(state)
    assert tensors.keys() == expected.keys() and all(torch.equal(tensors[k], expected[k]) for k in expected)
    rec = json.loads(record.read_text())
    assert rec["source_sha256"] == digest and rec["out"] == str(out) and rec["params"] == 566_713
    # The imported model computes what the same weights give when loaded directly.
    model = create_model("safnet-s").eval()
    model.load_state_dict(expected)
    x, ev = torch.rand(1, 3, 3, 32, 40), torch.tensor([[-2.0, 0.0, 2.0]])
    from bench.spec.weights import WeightsRef  # here: the path exists only now

    imported = create_model("safnet-s").eval()
    WeightsRef.resolve(out).load_into(imported, "safnet-s")
    with torch.no_grad():
        assert torch.equal(imported(x, ev), model(x, ev))


def test_nested_checkpoint_with_module_prefix_and_default_location(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EAPBENCH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "release.pth"
    torch.save(
        {"epoch": 7, "state_dict": {f"module.{k}": v for k, v in official_state("safnet").items()}}, src
    )
    rc, _, err = run(["--model", "safnet", str(src), "--json", str(tmp_path / "r.json")], capsys)
    assert rc == 0, err
    rec = json.loads((tmp_path / "r.json").read_text())
    assert rec["nested_key"] == "state_dict" and rec["stripped_prefix"] == "module."
    assert Path(rec["out"]) == tmp_path / "cache" / "weights" / "safnet" / "release.safetensors"
    assert Path(rec["out"]).is_file()


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda s: s.pop("decoder.conv6.bias"), ["1 missing keys", "decoder.upsample.bias"]),
        (
            lambda s: s.update({"refinenet.extra.weight": torch.zeros(1)}),
            ["1 unexpected keys", "refinenet.extra"],
        ),
        (
            lambda s: s.update({"refinenet.conv7.weight": torch.zeros(3, 31, 3, 3)}),
            ["wrong shapes", "refiner.head"],
        ),
    ],
    ids=["missing", "unexpected", "shape"],
)
def test_a_checkpoint_that_does_not_fit_is_one_line_and_writes_nothing(tmp_path, capsys, damage, words):
    state = official_state("safnet-s")
    damage(state)
    src = tmp_path / "bad.pth"
    torch.save(state, src)
    out = tmp_path / "kept.safetensors"
    out.write_bytes(b"previous")
    rc, _, err = run(["--model", "safnet-s", str(src), "--out", str(out)], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert str(src) in err and all(w in err for w in words), err
    assert out.read_bytes() == b"previous"


def test_refusals_are_one_line_exit_2(tmp_path, capsys):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    evil = tmp_path / "objects.pth"
    torch.save({"model": NotATensor()}, evil)
    empty = tmp_path / "list.pth"
    torch.save([1, 2, 3], empty)
    good = tmp_path / "good.pth"
    torch.save(official_state("safnet-s"), good)
    cases = [
        (["--model", "ahdr", str(good)], "has no converter of official weights"),
        (["--model", "safnet-x", str(good)], "no such registered model"),
        (["--model", "safnet-s", str(tmp_path / "missing.pth")], "no such file"),
        (["--model", "safnet-s", str(text)], "not a PyTorch checkpoint"),
        (["--model", "safnet-s", str(evil)], "refused by torch.load(weights_only=True)"),
        (["--model", "safnet-s", str(empty)], "holds no state dict"),
        (["--model", "safnet-s", str(good), "--out", str(tmp_path / "w.json")], "must end in .safetensors"),
    ]
    for args, words in cases:
        rc, _, err = run(args, capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and words in err, (args, err)
    assert not list(tmp_path.glob("*.safetensors"))


def test_imported_weights_load_for_eval(tmp_path, capsys):
    from bench.data.simulate import make_synthetic  # here: data only this test needs

    src = tmp_path / "SAFNet_S.pth"
    torch.save(official_state("safnet-s"), src)
    out = tmp_path / "safnet-s.safetensors"
    assert run(["--model", "safnet-s", str(src), "--out", str(out)], capsys)[0] == 0
    data = tmp_path / "data"
    make_synthetic(data, 1, size=(48, 32), seed=1)
    ev_json = tmp_path / "eval.json"
    rc = cli(
        ["eval", "--models", "safnet-s", "--weights", str(out), "--data", str(data), "--json", str(ev_json)]
    )
    assert rc == 0, capsys.readouterr().err
    rec = json.loads(ev_json.read_text())
    rec = rec[0] if isinstance(rec, list) else rec
    assert rec["weights"].endswith("safnet-s.safetensors") and rec["n_failed"] == 0
    # the weights belong to safnet-s: another model refuses them
    assert cli(["eval", "--models", "safnet", "--weights", str(out), "--data", str(data)]) == 2
