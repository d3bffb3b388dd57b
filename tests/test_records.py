"""Typed records: every record the suite produces round-trips; old rows read back; malformed rows are skipped."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bench import complexity, timing
from bench.cli import main
from bench.jobs import measure
from bench.report import Measurements
from bench.results import (
    RESULT_KINDS,
    EvalRecord,
    ProfileRecord,
    RecordError,
    ResultsStore,
    TimeRecord,
    TrainRecord,
    is_ok,
    summarize,
    typed,
)

FIXTURE = Path(__file__).parent / "fixtures" / "results_fixture.json"
ENV = {"suite_version": "test", "git_revision": None}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("records_data")
    make_synthetic(root, 2, size=(64, 64), seed=3)
    return root


def _roundtrip(kind: str, record: dict) -> None:
    plain = json.loads(json.dumps(record))  # as the store keeps it
    rec = typed(kind, plain)
    assert isinstance(rec, RESULT_KINDS.get(kind).record)
    assert rec.to_json() == plain
    # Every key of a real producer is a declared field: one vocabulary, nothing left in `extra`.
    assert dict(rec.extra) == {}, sorted(rec.extra)


def test_producers_round_trip(tiny_data, tmp_path):
    for model, per_layer in (("ref-frame", False), ("eapnet-lightweight", True)):
        for convention in ("ntire", "true"):
            _roundtrip(
                "profile", complexity.profile(model, 64, 64, convention=convention, per_layer=per_layer)
            )
    timed = timing.time_model(
        "ref-frame", size=(16, 16), warmup=0, repeat=1, threads=1, memory=False, profile=None
    )
    _roundtrip("time", timed)
    assert TimeRecord.from_json(timed).median_s == timed["median_s"]
    _roundtrip("time", timing.failed_record("ref-frame", RuntimeError("boom"), device="cpu", width=16))
    scored, _ = measure.evaluate(None, "ref-frame", data=tiny_data, device="cpu")
    _roundtrip("eval", scored)
    assert EvalRecord.from_json(scored).psnr == scored["psnr"] and is_ok("eval", scored)
    args = ["train", "--model", "eapnet-lightweight", "--data", str(tiny_data), "--iters", "1"]
    args += ["--batch", "1", "--patch", "32", "--stride", "32", "--workers", "0", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "run"), "--no-store"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    _roundtrip("train", summary)
    assert TrainRecord.from_json(summary).iters == 1


def test_fixture_records_round_trip():
    for item in json.loads(FIXTURE.read_text())["results"]:
        rec = typed(item["kind"], item["record"])
        assert rec.to_json() == item["record"]
        assert summarize({"kind": item["kind"], "record": item["record"]})  # one non-empty line


def test_old_row_reads_back_and_unknown_keys_survive(tmp_path):
    # A profile as an older suite wrote it: no dtype, batch, by-op table..., plus a key this one does not know.
    old = {"model": "eapnet-standard", "width": 1900, "height": 1060, "convention": "ntire"}
    old |= {"maccs": 198_380_000_000, "params": 576_230, "counted_by": "v0.1"}
    rec = ProfileRecord.from_json(old)
    assert rec.maccs == 198_380_000_000 and rec.dtype is None and rec.extra == {"counted_by": "v0.1"}
    assert rec.to_json() == old  # absent fields are not invented, unknown ones are not dropped
    assert rec.get("counted_by") == "v0.1"
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.add("profile", old, environment=ENV)
        (row,) = store.query()
    assert row["record"] == old
    assert Measurements([row]).measured_metrics("eapnet-standard")["maccs"] == 198_380_000_000


def test_wrong_type_is_a_record_error_naming_the_field():
    with pytest.raises(RecordError, match="field maccs is not a number"):
        ProfileRecord.from_json({"model": "m", "maccs": "lots"})
    with pytest.raises(RecordError, match="field roundtrip16 is not true or false"):
        EvalRecord.from_json({"model": "m", "roundtrip16": "yes"})
    with pytest.raises(RecordError, match="field maccs"):
        ProfileRecord.from_json({"model": "m", "maccs": True})  # a bool is not a count
    assert ProfileRecord.from_json({"model": "m", "maccs": float("nan")}).maccs is None


def _insert_raw(db: Path, kind: str, model: str, record: dict) -> int:
    """A row written by a foreign writer (another tool, a hand edit): straight into SQLite."""
    conn = sqlite3.connect(db)
    cur = conn.execute(
        "INSERT INTO results (kind, model, config_hash, settings, cache_key, env_id, created, record)"
        " VALUES (?, ?, '', '{}', 'foreign', NULL, 'now', ?)",
        (kind, model, json.dumps(record)),
    )
    conn.commit()
    conn.close()
    return int(cur.lastrowid)


def test_foreign_row_with_a_non_numeric_field_is_reported_and_skipped(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as store:
        store.add("profile", {"model": "good", "width": 1900, "height": 1060, "maccs": 5}, environment=ENV)
    bad = _insert_raw(db, "profile", "bad", {"model": "bad", "width": 1900, "height": 1060, "maccs": "many"})
    assert main(["results", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert f"database row {bad}: field maccs is not a number" in captured.err and str(db) in captured.err
    assert "good" in captured.out and "bad" not in captured.out and "1 result(s)" in captured.out
    assert "Traceback" not in captured.err
    # The report renders from the good rows; --show of the bad row is one line naming the database.
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "rep"), "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["results", "--db", str(db), "--show", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "field maccs is not a number" in err and str(db) in err


def test_malformed_record_is_refused_on_write(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(RecordError, match="field median_s"):
            store.add("time", {"model": "m", "median_s": "fast"}, environment=ENV)
        assert store.count() == 0


PLUGIN = """
from dataclasses import dataclass
from typing import ClassVar

from bench.results import RESULT_KINDS, Record, ResultKind


@dataclass(frozen=True)
class EnergyRecord(Record):
    KIND: ClassVar[str] = "energy"
    joules: float | None = None


RESULT_KINDS.add(
    "energy", ResultKind("energy", EnergyRecord, summary=lambda r: f"{r.joules:.1f} J per forward")
)
"""


def test_plugin_result_kind_is_listed_by_the_results_command(tmp_path, capsys):
    plugin = tmp_path / "energy_kind.py"
    plugin.write_text(PLUGIN)
    db = tmp_path / "r.sqlite"
    ResultsStore(db).close()
    _insert_raw(db, "energy", "eapnet-standard", {"model": "eapnet-standard", "joules": 12.5})
    try:
        with pytest.raises(SystemExit) as no_plugin:  # not a choice without the plugin
            main(["results", "--db", str(db), "--kind", "energy"])
        assert no_plugin.value.code == 2 and "invalid choice: 'energy'" in capsys.readouterr().err
        assert main(["--plugin", str(plugin), "results", "--db", str(db), "--kind", "energy"]) == 0
        out = capsys.readouterr().out
        assert "12.5 J per forward" in out and "eapnet-standard" in out and "1 result(s)" in out
        with ResultsStore(db) as store:
            store.add("energy", {"model": "m", "joules": 1.0}, environment=ENV)  # storable, checked
            with pytest.raises(RecordError, match="field joules is not a number"):
                store.add("energy", {"model": "m", "joules": "hot"}, environment=ENV)
    finally:
        RESULT_KINDS.remove("energy")
