"""Report rendering from a fixture database: structure, labels, every paper row, no paper/measured mixing."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import Measurements, build_table, render_latex
from bench.report.paper import TABLES, load_paper_rows, normalize_loss, paper_table, row_label
from bench.report.plots import pareto_front
from bench.results import ResultsStore

FIXTURE = Path(__file__).parent / "fixtures" / "results_fixture.json"


@pytest.fixture()
def fixture_db(tmp_path) -> Path:
    fx = json.loads(FIXTURE.read_text())
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as store:
        for item in fx["results"]:
            store.add(item["kind"], item["record"], settings=item["settings"], environment=fx["environment"])
    return db


@pytest.fixture()
def fixture_records() -> list[dict]:
    return json.loads(FIXTURE.read_text())["results"]


@pytest.fixture()
def meas(fixture_db) -> Measurements:
    with ResultsStore(fixture_db) as store:
        return Measurements.from_store(store)


def _rows_by_model(table: dict) -> dict[str, dict]:
    return {r["model"]: r for r in table["rows"]}


def _fixture(records: list[dict], kind: str, model: str, **match) -> dict:
    found = [
        r["record"]
        for r in records
        if r["kind"] == kind
        and r["record"]["model"] == model
        and all(r["record"].get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, (kind, model, match)
    return found[0]


def test_paper_csv_loads_every_table():
    rows = load_paper_rows()
    assert {r["table"] for r in rows} == set(TABLES)
    assert all(isinstance(r["psnr"], float) for r in rows)
    # Rows linked to our models include the two EAPNets and AHDR; other teams are paper-only.
    linked = {(r["table"], r["row"]): r["model"] for r in rows}
    assert linked[("5", "EAPNet-lightweight")] == "eapnet-lightweight"
    assert linked[("5", "AHDR-baseline")] == "ahdr"
    assert linked[("4", "ALONG")] is None


def test_normalize_loss_matches_spellings():
    # The paper's names, the CSV's row ids and bench/losses.py's names.
    assert normalize_loss("Tan L1 + mu-law L1") == normalize_loss("tan_mu_l1") == normalize_loss("mu_tanh")
    assert (
        normalize_loss("µ-law L1") == normalize_loss("mu_l1") == normalize_loss("mu") != normalize_loss("L1")
    )
    assert normalize_loss("Tan L1") == normalize_loss("tanh") != normalize_loss("mu")
    assert normalize_loss("l1") == normalize_loss("L1") == "l1"


def test_every_table_has_every_paper_row_and_labelled_columns(meas):
    for number, spec in TABLES.items():
        table = build_table(number, meas)
        assert [r["row"] for r in table["rows"]] == [row_label(p) for p in paper_table(number)]
        sources = {c["key"]: c["source"] for c in table["columns"]}
        for m in spec.metrics:
            assert (sources[f"{m}_paper"], sources[f"{m}_measured"], sources[f"{m}_diff"]) == (
                "paper",
                "measured",
                "diff",
            )
        # Paper cells hold exactly the paper's numbers.
        for row, prow in zip(table["rows"], paper_table(number), strict=True):
            for m in spec.metrics:
                assert row[f"{m}_paper"] == prow[m]


def test_measured_cells_come_from_the_store_only(meas, fixture_records):
    t5 = _rows_by_model(build_table("5", meas))
    light = t5["eapnet-lightweight"]
    prof = _fixture(fixture_records, "profile", "eapnet-lightweight")
    assert light["maccs_measured"] == prof["maccs"]
    assert light["maccs_diff"] == pytest.approx(prof["maccs"] - 146.28e9)
    # The shipped-weights eval stands for the model, not the Table 3 run trained with another loss.
    shipped = _fixture(
        fixture_records, "eval", "eapnet-lightweight", weights="weights/eapnet-lightweight.safetensors"
    )
    assert light["psnr_measured"] == shipped["psnr"]
    # The numerics-failed fp16 timing is ignored; the full-size fp32 GPU time is used, with its setting.
    gpu = _fixture(fixture_records, "time", "eapnet-lightweight", precision="fp32")
    assert light["median_s_measured"] == gpu["median_s"]
    assert "Test GPU" in light["runtime_setting"] and "1920x1080" in light["runtime_setting"]
    assert light["median_s_diff"] == pytest.approx(gpu["median_s"] - 0.155)
    # Other teams: paper only, every measured cell empty.
    for name, row in t5.items():
        if name == "paper only":
            assert all(row[f"{m}_measured"] is None and row[f"{m}_diff"] is None for m in TABLES["5"].metrics)


def test_reduced_size_runtime_has_no_difference(meas):
    std = _rows_by_model(build_table("4", meas))["eapnet-standard"]
    assert std["median_s_measured"] is not None and std["median_s_diff"] is None
    assert "480x270" in std["runtime_setting"]


def test_untrained_eval_is_never_reported(meas):
    # The fixture holds an eval of eapnet-standard without weights (random init): it must not appear.
    std = _rows_by_model(build_table("6", meas))["eapnet-standard"]
    assert std["psnr_measured"] is None and std["maccs_measured"] is not None


def test_ahdr_params_note(meas, fixture_records):
    ahdr = _rows_by_model(build_table("5", meas))["ahdr"]
    assert ahdr["params_paper"] == 1_141_280  # the paper's 1141.28 k, exactly, in record units
    assert ahdr["params_measured"] == _fixture(fixture_records, "profile", "ahdr")["params"]
    assert "1441.28" in ahdr["note"] and "transposition" in ahdr["note"]


def test_table3_measured_only_with_matching_train_and_eval(meas, fixture_records):
    rows = {r["row"]: r for r in build_table("3", meas)["rows"]}
    tan_eval = _fixture(fixture_records, "eval", "eapnet-lightweight", weights="runs/tan/ema.safetensors")
    assert rows["Tan L1"]["psnr_measured"] == tan_eval["psnr"]
    # exp7 was trained with mu-law L1 but never evaluated; the other losses were never trained.
    measured = [label for label, r in rows.items() if r["psnr_measured"] is not None]
    assert measured == ["Tan L1"]
    assert "not trained here" in rows["mu-law L1 + half*"]["model"]


def test_write_report_files(fixture_db, tmp_path):
    out = tmp_path / "report"
    assert (
        main(["report", "--db", str(fixture_db), "--out", str(out), "--json", str(tmp_path / "rep.json")])
        == 0
    )
    for number in TABLES:
        n_rows = len(paper_table(number))
        md = (out / f"table{number}.md").read_text()
        assert sum(line.startswith("| ") for line in md.splitlines()) == n_rows + 1  # header + rows
        for p in paper_table(number):
            assert f"| {row_label(p)} |" in md
        assert "[paper]" in md and "[measured]" in md and "[diff]" in md
        with open(out / f"table{number}.csv") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) == n_rows + 1
        assert any(h.endswith("[paper]") for h in rows[0]) and any(h.endswith("[measured]") for h in rows[0])
        tex = (out / f"table{number}.tex").read_text()
        assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
        assert tex.count(r" \\") == n_rows + 2  # two header lines + one line per paper row
    report = json.loads((out / "report.json").read_text())
    first = report["tables"][0]["rows"][0]  # Table 1, Exp. 1: 152.11 GMAccs in the paper
    assert first["maccs_paper"] == 152_110_000_000 and first["gmaccs_paper"] == 152.11  # + the 0.1 key
    index = (out / "index.md").read_text()
    for target in re.findall(r"\]\(([^)]+)\)", index):
        assert (out / target).is_file(), target
    for stem in ("psnr_mu_vs_gmaccs", "psnr_vs_gmaccs", "runtime_vs_gmaccs", "params_vs_gmaccs"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{stem}.svg").read_bytes()[:1000]
    assert "Test GPU" in index  # the device of every runtime is named
    assert json.loads((tmp_path / "rep.json").read_text())["plots"]


def test_latex_escapes_special_characters():
    table = {
        "number": "9",
        "title": "a_b & c%",
        "columns": [{"key": "row", "label": "Row", "source": "paper"}],
        "rows": [{"row": "x_1 & µ"}],
        "notes": [],
    }
    tex = render_latex(table)
    assert r"a\_b \& c\%" in tex and r"x\_1 \& $\mu$" in tex


def test_pareto_front():
    pts = [{"x": 1, "y": 1}, {"x": 2, "y": 3}, {"x": 3, "y": 2}, {"x": 4, "y": 5}, {"x": 2, "y": 0}]
    assert [(p["x"], p["y"]) for p in pareto_front(pts)] == [(1, 1), (2, 3), (4, 5)]


def test_report_without_database_is_a_usage_error(tmp_path, capsys):
    assert main(["report", "--db", str(tmp_path / "none.sqlite"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_empty_store_renders_paper_only(tmp_path):
    from bench.report import write_report

    result = write_report([], tmp_path, plots=True)
    for number, paths in result["tables"].items():
        table = build_table(number, Measurements([]))
        assert all(r[f"{m}_measured"] is None for r in table["rows"] for m in TABLES[number].metrics)
        assert all(Path(p).is_file() for p in paths)
    assert len(result["plots"]) == 8 and result["summary"] == []


def _eval_row(data: Path) -> dict:
    record = {
        "model": "ref-frame",
        "weights": None,
        "data": str(data),
        "n_images": 2,
        "n_failed": 0,
        "psnr": 30.0,
        "psnr_mu": 31.0,
    }
    return {
        "id": 1,
        "kind": "eval",
        "model": "ref-frame",
        "config_hash": "",
        "settings": {},
        "record": record,
    }


def test_accuracy_difference_only_on_real_data(tmp_path):
    # The same eval, once on a folder make-data wrote (simulated: no difference to the paper), once on
    # a folder of real captures (no make-data manifest: build_table gives a difference).
    from bench.report import is_real_data

    simulated, real = tmp_path / "sim", tmp_path / "real"
    simulated.mkdir()
    real.mkdir()
    (simulated / "manifest.json").write_text(
        json.dumps({"generator": "eapbench make-data", "kind": "synthetic"})
    )
    assert not is_real_data(simulated) and is_real_data(real) and not is_real_data(tmp_path / "gone")
    meas_sim = Measurements([_eval_row(simulated)])
    meas_real = Measurements([_eval_row(real)])
    assert meas_sim.measured_metrics("ref-frame")["eval_real_data"] is False
    assert meas_real.measured_metrics("ref-frame")["eval_real_data"] is True


def test_psnr_diff_suppressed_for_simulated_data(meas):
    # The fixture's evals are on "synthetic-small", a folder that does not exist here: no difference.
    light = _rows_by_model(build_table("6", meas))["eapnet-lightweight"]
    assert light["psnr_measured"] is not None and light["psnr_diff"] is None
    assert light["maccs_diff"] is not None
    assert any("simulated" in n for n in build_table("6", meas)["notes"])


def test_paper_points_keep_the_two_data_sets_apart():
    from bench.report.paper import paper_points

    points = paper_points("psnr_mu")
    by_label = {p["label"]: p for p in points}
    online = {t for p in points if "online" in p["data"] for t in p["tables"]}
    validation = {t for p in points if "online" not in p["data"] for t in p["tables"]}
    assert online == {"4", "5"} and validation == {"1", "2", "6"}
    # Teams in both tracks are told apart (or merged when the numbers agree); ablations merge into names.
    assert {
        "ALONG (T1)",
        "ALONG (T2)",
        "AdeTeam (T1, T2)",
        "EAPNet-lightweight",
        "EAPNet-lightweight (T2)",
    } <= set(by_label)
    assert (
        by_label["EAPNet-lightweight"]["tables"] == ["1", "2", "6"]
        and not by_label["EAPNet-lightweight"]["ablation"]
    )
    assert by_label["Exp. 1"]["ablation"]


def test_bad_output_paths_exit_2(fixture_db, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", "--db", str(fixture_db), "--out", str(blocker / "sub")]) == 2
    assert main(["results", "--db", str(fixture_db), "--csv", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(blocker / "sub") in err and "is a folder" in err
