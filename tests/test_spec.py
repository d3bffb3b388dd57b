"""ModelSpec and WeightsRef: one way to name a model and the weight file that is actually loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.core import UsageError
from bench.jobs import measure
from bench.results import ResultsStore
from bench.spec.model import ModelSpec
from bench.spec.weights import WeightsRef
from bench.train.checkpoint import CheckpointError, save_checkpoint, save_weights
from models.registry import create_model

FIXTURES = Path(__file__).parent / "fixtures"
VARIANT = f"{FIXTURES / 'tiny_variant.py'}:tiny_hdr"


def _checkpoint(run: Path, model: torch.nn.Module, iteration: int) -> Path:
    opt = torch.optim.Adam(model.parameters())
    return save_checkpoint(run, model_name="variant", model=model, ema=model, optimizer=opt, scaler_state=None,
                           iteration=iteration, config={}, data_hash="x")  # fmt: skip


def test_registered_and_variant_specs_build_and_hash():
    reg = ModelSpec.parse("eapnet-lightweight")
    assert reg.is_registered and reg.name == "eapnet-lightweight"
    assert reg.config_hash() == ModelSpec.registered("eapnet-lightweight").config_hash()
    assert reg.config_hash() != ModelSpec.parse("eapnet-standard").config_hash()
    var = ModelSpec.parse(VARIANT)
    assert not var.is_registered and var.source == VARIANT
    model = var.build()
    assert model.eapbench_name == var.name
    assert sum(p.numel() for p in model.parameters()) > 0


def test_unknown_spec_is_a_usage_error():
    with pytest.raises(UsageError, match="eapnet-standard"):
        ModelSpec.parse("eapnet-standart")


def test_run_folder_resolves_to_the_checkpoint_the_loader_reads(tmp_path):
    torch.manual_seed(1)
    model = ModelSpec.parse(VARIANT).build()
    run = tmp_path / "run"
    save_weights(run / "ema.safetensors", model, "variant")  # an older final export beside the checkpoints
    _checkpoint(run, model, 5)
    ref = WeightsRef.resolve(run)
    assert ref.path.name == "ckpt-00000005.safetensors"  # checkpoints/last.json wins while it exists
    loaded = ref.load_into(ModelSpec.parse(VARIANT).build())
    assert Path(loaded["path"]) == ref.path
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    _checkpoint(run, model, 6)
    newer = WeightsRef.resolve(run)
    assert newer.path.name == "ckpt-00000006.safetensors" and newer.digest != ref.digest


def test_sidecar_pointing_outside_its_folder_is_refused(tmp_path):
    model = ModelSpec.parse(VARIANT).build()
    side = _checkpoint(tmp_path / "run", model, 1)
    text = side.read_text().replace('"ckpt-00000001.safetensors"', '"../../elsewhere.safetensors"')
    side.write_text(text)
    with pytest.raises(CheckpointError, match="not beside it"):
        WeightsRef.resolve(side)


def test_missing_weights_is_one_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        WeightsRef.resolve(tmp_path / "nope.safetensors")


def test_eval_cache_follows_a_resumed_run(tmp_path):
    """`eval --weights RUN/` must score anew when training has gone on (stale cache before)."""
    from bench.data.simulate import make_synthetic

    data = tmp_path / "data"
    make_synthetic(data, 1, size=(32, 32), seed=3)
    name, factory = "variant", ModelSpec.parse(VARIANT).factory
    torch.manual_seed(2)
    model = factory()
    run = tmp_path / "run"
    save_weights(run / "ema.safetensors", model, "variant")  # a finished run's export, then resumed
    _checkpoint(run, model, 1)
    with ResultsStore(tmp_path / "db.sqlite") as store:
        first, hit = measure.evaluate(store, name, factory, data=data, weights=str(run))
        assert not hit
        again, hit = measure.evaluate(store, name, factory, data=data, weights=str(run))
        assert hit and again["psnr"] == first["psnr"]
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(0.5)
        _checkpoint(run, model, 2)
        resumed, hit = measure.evaluate(store, name, factory, data=data, weights=str(run))
        assert not hit and resumed["psnr"] != first["psnr"]
        assert resumed["weights"].endswith("ckpt-00000002.safetensors")


def test_default_weights_resolve_to_the_shipped_file():
    ref = WeightsRef.default_for("eapnet-lightweight")
    assert ref is not None and ref.path.suffix == ".safetensors"
    assert WeightsRef.default_for("ref-frame") is None
    create_model("eapnet-lightweight").load_state_dict(create_model("eapnet-lightweight").state_dict())
