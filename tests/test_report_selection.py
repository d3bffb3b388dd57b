"""The report never mixes what it must not: one data set per table and plot, Table 3 joined by the
weights digest, aliases measured once per command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.report.plots as plots
from bench.cli import main
from bench.commands.eval import _models_to_evaluate
from bench.core.errors import ModelFailure
from bench.jobs import compare as compare_job
from bench.jobs.mainjob import evaluated_models, timed_models
from bench.report import Measurements, build_table, write_report
from bench.results import ResultsStore
from bench.spec.names import one_per_architecture
from bench.spec.weights import file_digest
from bench.train.checkpoint import FORMAT

FP_MANY, FP_ONE = "a" * 64, "b" * 64


def _eval(model: str, data: Path, fingerprint: str, n: int, psnr: float, weights: str | None = None) -> dict:
    return {
        "kind": "eval",
        "record": {
            "model": model,
            "weights": weights,
            "data": str(data),
            "n_images": n,
            "n_failed": 0,
            "psnr": psnr,
            "psnr_mu": psnr + 1,
            "scoring": "in-memory",
        },
        "settings": {"data": str(data.resolve()), "data_fingerprint": fingerprint, "weights": None},
    }


@pytest.fixture()
def two_data_sets(tmp_path) -> Path:
    """A store as it was found: three models scored on 12 images, then two on 1 image (newest)."""
    many, one = tmp_path / "many", tmp_path / "one"
    many.mkdir()
    one.mkdir()
    shipped = "weights/eapnet-lightweight.safetensors"
    items = [
        _eval("ref-frame", many, FP_MANY, 12, 30.0),
        _eval("exposure-merge", many, FP_MANY, 12, 31.0),
        _eval("eapnet-lightweight", many, FP_MANY, 12, 35.0, weights=shipped),
        _eval("ref-frame", one, FP_ONE, 1, 20.0),  # the newest eval of ref-frame: one image
        _eval("eapnet-standard", one, FP_ONE, 1, 42.0, weights="weights/eapnet-standard.safetensors"),
    ]
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store:
        for item in items:
            store.add(item["kind"], item["record"], settings=item["settings"])
        for model, maccs in (("eapnet-lightweight", 20e9), ("eapnet-standard", 140e9)):
            store.add("profile", {"model": model, "width": 1900, "height": 1060, "maccs": int(maccs)})
    return db


def _rows(db: Path) -> list[dict]:
    with ResultsStore(db) as store:
        return store.query(latest_only=True)


def _by_model(table: dict) -> dict[str, dict]:
    return {r["model"]: r for r in table["rows"]}


def test_one_data_set_per_table(two_data_sets):
    meas = Measurements(_rows(two_data_sets))
    assert meas.data_set.fingerprint == FP_MANY and meas.data_set.n_images == 12
    table = _by_model(build_table("6", meas))
    # The 1-image scores are not beside the 12-image ones: ref-frame keeps its 12-image score,
    # eapnet-standard (only scored on 1 image) shows none.
    assert meas.measured_metrics("ref-frame")["psnr"] == 30.0
    assert table["eapnet-lightweight"]["psnr_measured"] == 35.0
    assert table["eapnet-standard"]["psnr_measured"] is None
    shown = {r["eval_data"] for r in table.values() if r["psnr_measured"] is not None}
    assert shown == {meas.data_set.label()}
    assert "12 images" in meas.data_set.label() and FP_MANY[:12] in meas.data_set.label()
    assert any("1 other data set" in n for n in build_table("6", meas)["notes"])


@pytest.mark.parametrize("pin", ["one", FP_ONE[:8]])
def test_data_pins_the_other_data_set(two_data_sets, pin):
    data = str(two_data_sets.parent / "one") if pin == "one" else pin
    meas = Measurements(_rows(two_data_sets), data=data)
    assert meas.data_set.fingerprint == FP_ONE
    table = _by_model(build_table("6", meas))
    assert meas.measured_metrics("ref-frame")["psnr"] == 20.0
    assert table["eapnet-standard"]["psnr_measured"] == 42.0
    assert table["eapnet-lightweight"]["psnr_measured"] is None


def test_plot_reference_line_and_points_from_one_data_set(two_data_sets, tmp_path, monkeypatch):
    drawn = {}

    def capture(panels, stem, *args, **kwargs):
        drawn[Path(stem).name] = panels
        return []

    monkeypatch.setattr(plots, "scatter_plot", capture)
    plots.render_plots(Measurements(_rows(two_data_sets)), tmp_path)
    measured = drawn["psnr_vs_gmaccs"][1]
    # Today's bug: ref-frame's 1-image line (20 dB) under 12-image points. Now: the 12-image line.
    assert sorted(measured["hlines"]) == [("reference: exposure-merge", 31.0), ("reference: ref-frame", 30.0)]
    labels = [p["label"] for s in measured["series"] for p in s["points"]]
    assert "standard" not in labels and "lightweight" in labels
    assert "12 images" in measured["title"] and "1 images" not in measured["title"]


def test_report_json_and_index_name_the_data_set(two_data_sets, tmp_path):
    out = tmp_path / "rep"
    result = write_report(_rows(two_data_sets), out, plots=False, data=FP_ONE[:10])
    saved = json.loads((out / "report.json").read_text())
    assert saved["data_set"]["fingerprint"] == FP_ONE and saved["data_set"]["n_images"] == 1
    assert saved["data_set"]["scoring"] == "in-memory"
    assert [d["fingerprint"] for d in saved["other_data_sets"]] == [FP_MANY]
    summary = {r["model"]: r for r in result["summary"]}
    assert summary["eapnet-standard"]["eval_fingerprint"] == FP_ONE
    assert summary["eapnet-lightweight"]["psnr"] is None
    index = (out / "index.md").read_text()
    assert "1 images, in-memory, fingerprint " + FP_ONE[:12] in index and FP_MANY[:12] in index
    csv_text = (out / "table6.csv").read_text()
    assert "Accuracy measured on" in csv_text and FP_ONE[:12] in csv_text


def test_report_cli_data_option(two_data_sets, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--db", str(two_data_sets), "--out", str(out), "--no-plots", "--data", "one"]) == 2
    assert "--data one" in capsys.readouterr().err and not (out / "report.json").exists()
    args = ["report", "--db", str(two_data_sets), "--out", str(out), "--no-plots"]
    assert main([*args, "--data", str(two_data_sets.parent / "one")]) == 0
    assert "fingerprint " + FP_ONE[:12] in capsys.readouterr().out
    assert json.loads((out / "report.json").read_text())["data_set"]["n_images"] == 1


def _write_run(run: Path, weights: bytes, checkpoint: bytes) -> Path:
    """A finished train run folder: ema.safetensors and a last checkpoint (what `--weights RUN` loads)."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "ema.safetensors").write_bytes(weights)
    ckpt = run / "checkpoints" / "ckpt-00010.safetensors"
    ckpt.write_bytes(checkpoint)
    side = {"format": FORMAT, "model": "eapnet-lightweight", "iteration": 10, "weights": ckpt.name}
    (run / "checkpoints" / "last.json").write_text(json.dumps({**side, "optimizer": "x.pt"}))
    return ckpt


def test_table3_joins_train_and_eval_by_weights_digest(tmp_path):
    run = tmp_path / "runs" / "tan"
    ckpt = _write_run(run, b"ema weights", b"checkpoint weights")
    train = {
        "model": "eapnet-lightweight",
        "run_dir": str(run),
        "weights": str(run / "ema.safetensors"),
        "loss": "tanh",
        "iters": 10,
        "batch": 2,
    }
    data = tmp_path / "data"
    data.mkdir()
    # `eval --weights RUN` loads the last checkpoint: its path never equals the train record's.
    by_run = _eval("eapnet-lightweight", data, FP_MANY, 4, 33.0, weights=str(ckpt))
    by_run["settings"]["weights"] = file_digest(ckpt)
    # An eval of older weights once at the run's ema.safetensors path: same string, other digest.
    stale = _eval("eapnet-lightweight", data, FP_MANY, 4, 99.0, weights=str(run / "ema.safetensors"))
    stale["settings"]["weights"] = "0123456789abcdef"
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store:
        store.add("train", train, settings={"loss": "tanh"})
        store.add("eval", by_run["record"], settings=by_run["settings"])
    rows = {r["row"]: r for r in build_table("3", Measurements(_rows(db)))["rows"]}
    assert rows["Tan L1"]["psnr_measured"] == 33.0
    with ResultsStore(db) as store:
        store.add("eval", stale["record"], settings=stale["settings"])
    rows = {r["row"]: r for r in build_table("3", Measurements(_rows(db)))["rows"]}
    assert rows["Tan L1"]["psnr_measured"] == 33.0  # the path match of other weights never wins


ALIASES = ["eapnet-exp6", "eapnet-lightweight", "eapnet-lightweight-pdub3"]


def test_one_per_architecture_keeps_the_original():
    kept, dropped = one_per_architecture([*ALIASES, "ahdr"])
    assert kept == ["eapnet-lightweight", "ahdr"]
    assert dropped == {"eapnet-exp6": "eapnet-lightweight", "eapnet-lightweight-pdub3": "eapnet-lightweight"}
    assert one_per_architecture(["eapnet-exp6"])[0] == ["eapnet-exp6"]  # an alias alone still counts


def test_eval_wildcard_scores_aliases_once(capsys):
    names = _models_to_evaluate("eapnet-lightweight*,eapnet-exp6", None)
    assert [n for n in names if n in ALIASES] == ["eapnet-lightweight"]
    assert "eapnet-exp6 = eapnet-lightweight" in capsys.readouterr().err


def test_main_job_measures_aliases_once():
    # The main job measures originals only; an alias shares its original's results.
    assert timed_models([*ALIASES, "eapnet-standard"]) == ["eapnet-lightweight", "eapnet-standard"]
    assert [n for n in evaluated_models([*ALIASES, "ref-frame"]) if n in ALIASES] in (
        [],
        ["eapnet-lightweight"],
    )  # once, if its shipped weights are on disk
    assert "ref-frame" in evaluated_models([*ALIASES, "ref-frame"])


def test_compare_measures_alias_baselines_once(tmp_path, monkeypatch):
    measured = []

    def fake_safe(fn, store, name, *args, **kwargs):
        measured.append((fn.__name__, name))
        return None, False, ModelFailure(name, RuntimeError("not measured in this test"))

    monkeypatch.setattr(compare_job.measure, "safe", fake_safe)
    result = compare_job.compare(
        "ref-frame", [*ALIASES, "ref-frame"], device="cpu", out_dir=tmp_path, plots=False
    )
    assert [r["model"] for r in result["rows"]] == ["ref-frame", "eapnet-lightweight"]
    assert sorted(n for f, n in measured if f == "profile") == ["eapnet-lightweight", "ref-frame"]
