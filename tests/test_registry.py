"""The model registry: listing, wildcards, natural sort, creation, errors, the `list` command."""

import json

import pytest
import torch
from torch import nn

from bench.cli import main
from models.blocks import HDRModel
from models.conventions import CONTRACT, convention
from models.registry import UnknownModelError, create_model, list_models, model_info, register_model


def test_wildcards_and_natural_sort():
    names = list_models("eapnet-exp*")
    assert names == [f"eapnet-exp{i}" for i in range(1, 9)]
    pdubs = list_models("eapnet-lightweight-pdub*")
    assert pdubs == [f"eapnet-lightweight-pdub{i}" for i in range(2, 6)]
    assert set(list_models(["eapnet-standard", "eapnet-lightweight"])) == {
        "eapnet-standard",
        "eapnet-lightweight",
    }
    assert list_models("no-such-*") == []


def test_natural_sort_puts_10_after_9():
    @register_model(name="zz-test-net10", family="test", overwrite=True)
    def _a(**kw):
        return nn.Identity()

    @register_model(name="zz-test-net9", family="test", overwrite=True)
    def _b(**kw):
        return nn.Identity()

    assert list_models("zz-test-net*") == ["zz-test-net9", "zz-test-net10"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownModelError) as err:
        create_model("eapnet-standrad")
    assert "eapnet-standard" in str(err.value)


def test_metadata_and_aliases():
    info = model_info("eapnet-exp6")
    assert (info.paper_table, info.paper_row, info.alias_of) == ("1", "exp6", "eapnet-lightweight")
    assert model_info("eapnet-lightweight-pdub4").paper_table == "2"
    with pytest.raises(ValueError):
        register_model(lambda: nn.Identity(), name="eapnet-standard")  # no silent overwrite
    with pytest.raises(ValueError):
        register_model(lambda: nn.Identity(), name="Bad_Name")


def test_overrides_reach_the_config():
    model = create_model("eapnet-lightweight", n_blocks=5)
    assert model.config.n_blocks == 5 and len(model.blocks) == 5
    with pytest.raises(ValueError):
        create_model("eapnet-lightweight", align="diagonal")


def test_list_command_table_and_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["list", "eapnet-exp*", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "eapnet-exp8" in text and "T1 exp8" in text
    rows = json.loads(out.read_text())
    assert [r["name"] for r in rows] == [f"eapnet-exp{i}" for i in range(1, 9)]
    for key in ("name", "family", "paper_table", "paper_row", "params"):
        assert key in rows[0]
    assert rows[5]["params"] == 393_667  # exp6 = lightweight


def test_list_command_bad_pattern_exits_2(capsys):
    assert main(["list", "eapnet-standrad"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "eapnet-standard" in err[0]


def test_every_registered_convention_is_the_one_its_model_converts_from():
    # The registry's convention (what `list` prints) and the class attribute HDRModel.forward
    # converts with are stated in two places: they must agree for every model.
    for name in list_models():
        with torch.device("meta"):
            model = create_model(name)
        declared = model.convention if isinstance(model, HDRModel) else CONTRACT
        assert declared == convention(model_info(name).convention), name
