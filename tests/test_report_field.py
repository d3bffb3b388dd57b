"""The field table and its plot: published figures as printed, ours counted, published MACs recomputed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.report.field as field
from bench.report import write_report
from bench.report.field_plot import field_points, render_field_plot
from bench.report.render import render_markdown
from bench.report.selection import Measurements
from models import registry
from models.registry import list_models


def test_published_csv_is_read_whole():
    rows = field.read_published()
    names = [r["model"] for r in rows]
    assert {"ahdrnet", "hdr-transformer", "sctnet", "safnet", "safnet-s", "gsanet", "cen-hdr"} <= set(names)
    by = {r["model"]: r for r in rows}
    assert by["hdr-transformer"]["safnet_table_TMACs_thop_1500x1000"] == "1.886"
    assert by["gsanet"]["params_official_code"] == "80647" and by["gsanet"]["kalantari_psnr_mu"] == ""


def test_unregistered_networks_keep_the_paper_numbers():
    table = field.build_field_table()
    rows = {r["row"]: r for r in table["rows"]}
    for name in ("nhdrrnet", "deephdr", "hdr-gan", "hyhdrnet", "cen-hdr"):
        assert rows[name]["model"] == "not implemented" and rows[name]["explanation"] == ""
    assert rows["deephdr"]["psnr_mu_paper"] == 41.65 and rows["deephdr"]["params_paper"] == 16.61e6
    assert "1.304 T (thop, 1500x1000, SAFNet Table 2)" in rows["deephdr"]["published_macs"]
    text = render_markdown(table)
    assert text.startswith("## Field table:") and "not implemented" in text
    # Every registered field network has a measured row, also one the CSV has no figures for (drhdr).
    for name in list_models(family="field"):
        assert rows[name]["params_measured"] > 0 and rows[name]["maccs_true_1900x1060"] > 0, name


@pytest.mark.skipif("adnet" not in list_models(), reason="adnet not registered")
def test_adnet_published_figure_is_reproduced_by_legacy_thop_on_the_full_image():
    row = field.field_row(next(r for r in field.read_published() if r["model"] == "adnet"), {"adnet"})
    (fig,) = row["figures"]
    assert fig["tool"] == "thop-legacy" and fig["setting"] == "thop-legacy on the full image 1500x1000"
    assert fig["reproduced"] and abs(fig["diff_percent"]) < 0.1  # 4.648 T printed
    assert row["maccs_true_1500x1000"] > 0 and row["maccs_ntire_1900x1060"] > row["maccs_ntire_1500x1000"]


@pytest.fixture
def toy_network(monkeypatch):
    """The registry with 'ahdr' also registered as 'hdr-transformer' (a tiled network) for this test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_model(name="hdr-transformer", overwrite=True)(registry.model_info("ahdr").factory)
    field.counted.cache_clear()
    yield "hdr-transformer"
    field.counted.cache_clear()


def test_tiling_follows_the_paper(toy_network):
    tile, _ = field.tool_total(toy_network, 256, 256, "thop-legacy")
    ours, how, _ = field.recount(toy_network, field.FIGURES[0])
    assert (ours, how) == (24 * tile, "thop-legacy on 24 tiles of 256x256")
    per_tile, _ = field.tool_total(toy_network, 256, 256, "torchinfo")
    ours, how, _ = field.recount(toy_network, field.FIGURES[1])
    assert ours == round(per_tile * 1500 * 1000 / 256**2) and "x 22.89" in how
    fig = field.explain_figure(toy_network, field.FIGURES[0], "1.886")
    assert fig["ours"] == 24 * tile and fig["text"].startswith("SAFNet Table 2: thop-legacy on 24 tiles")
    assert fig["diff_percent"] == pytest.approx(100 * (24 * tile - 1.886e12) / 1.886e12)
    assert ("not reproduced" in fig["text"]) == (abs(fig["diff_percent"]) > 1)


def test_report_writes_the_field_table_and_panel(tmp_path, toy_network):
    result = write_report([], tmp_path, plots=False)
    assert [Path(p).name for p in result["field"]] == ["field.md", "field.csv", "field.tex"]
    assert "## Field table" in Path(result["field"][0]).read_text(encoding="utf-8")
    report = json.loads(Path(result["json"]).read_text(encoding="utf-8"))
    rows = {r["row"]: r for r in report["field"]["rows"]}
    assert rows["hdr-transformer"]["model"] == "hdr-transformer" and rows["hdr-transformer"]["figures"]
    assert "Field table" in Path(result["index"]).read_text(encoding="utf-8")
    assert result["field_plots"] == []
    paths = render_field_plot(report["field"], Measurements([]), tmp_path)
    assert [p.suffix for p in paths] == [".png", ".svg"]
    points = field_points(report["field"])
    assert {"hdr-transformer"} <= {p["label"] for p in points}
    assert all(p["x"] > 0 for p in points)


def test_field_plot_without_implemented_networks(tmp_path):
    table = {"rows": [{"row": "x", "model": "not implemented", "psnr_mu_paper": 44.0}]}
    paths = render_field_plot(table, Measurements([]), tmp_path)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)


def test_a_model_that_cannot_be_counted_is_a_cell(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("meta kernel missing")

    monkeypatch.setattr(field, "counted", broken)
    row = field.field_row({"model": "adnet", "kalantari_psnr_mu": "44.368"}, {"adnet"})
    assert row["explanation"] == "not counted: RuntimeError: meta kernel missing" and row["figures"] == []
    assert row["psnr_mu_paper"] == 44.368
