"""The results store: cache keys, reuse and --force, transactions, and the `results` command."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from bench.cli import main
from bench.results import (
    ResultsStore,
    cache_key,
    cached,
    environment_manifest,
    model_config_hash,
)

FIXTURE = Path(__file__).parent / "fixtures" / "results_fixture.json"
ENV = {"suite_version": "test", "git_revision": None}


def _profile(model: str, maccs: int) -> dict:
    return {"model": model, "width": 64, "height": 64, "convention": "ntire", "maccs": maccs, "params": 10}


def test_add_and_lookup_roundtrip(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        rid = store.add(
            "profile", _profile("m", 5), config_hash="abc", settings={"size": "64x64"}, environment=ENV
        )
        hit = store.lookup("profile", "m", "abc", {"size": "64x64"})
        assert hit["id"] == rid and hit["record"]["maccs"] == 5
        assert hit["environment"] == ENV and hit["settings"] == {"size": "64x64"}
        # Any part of the key differing is a miss.
        assert store.lookup("profile", "m", "abd", {"size": "64x64"}) is None
        assert store.lookup("profile", "m", "abc", {"size": "65x64"}) is None
        assert store.lookup("time", "m", "abc", {"size": "64x64"}) is None
        assert store.lookup("profile", "other", "abc", {"size": "64x64"}) is None


def test_cache_key_ignores_dict_order_only():
    a = cache_key("time", "m", "h", {"a": 1, "b": [1, 2]})
    assert a == cache_key("time", "m", "h", {"b": [1, 2], "a": 1})
    assert a != cache_key("time", "m", "h", {"a": 1, "b": [2, 1]})


def test_cached_reuses_until_forced(tmp_path):
    calls = []

    def compute() -> dict:
        calls.append(1)
        return _profile("m", len(calls))

    with ResultsStore(tmp_path / "r.sqlite") as store:
        first, hit1 = cached(store, "profile", "m", "h", {"s": 1}, compute)
        again, hit2 = cached(store, "profile", "m", "h", {"s": 1}, compute)
        assert (hit1, hit2) == (False, True) and again == first and len(calls) == 1
        forced, hit3 = cached(store, "profile", "m", "h", {"s": 1}, compute, force=True)
        assert not hit3 and forced["maccs"] == 2 and len(calls) == 2
        # The forced result supersedes the old one; both stay in the history.
        assert store.lookup("profile", "m", "h", {"s": 1})["record"]["maccs"] == 2
        assert len(store.query()) == 2 and len(store.query(latest_only=True)) == 1
        # Other settings: computed anew.
        cached(store, "profile", "m", "h", {"s": 2}, compute)
        assert len(calls) == 3


def test_cached_without_store_always_computes():
    calls = []
    for _ in range(2):
        _, hit = cached(None, "eval", "m", "h", {}, lambda: calls.append(1) or {"model": "m"})
        assert not hit
    assert len(calls) == 2


def test_failed_batch_write_stores_nothing(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.add("profile", _profile("kept", 1), environment=ENV)
        with pytest.raises(ValueError, match="no model"):
            store.add_many(
                [
                    {"kind": "profile", "record": _profile("a", 1), "environment": ENV},
                    {"kind": "profile", "record": {"maccs": 3}, "environment": ENV},  # no model name
                ]
            )
        assert [r["model"] for r in store.query()] == ["kept"]
        with pytest.raises(ValueError, match="kind"):
            store.add("bogus", _profile("b", 1))


def test_killed_writer_leaves_database_readable(tmp_path):
    """A process killed in the middle of a write (after inserting, before commit) loses only that write."""
    db = tmp_path / "r.sqlite"
    with ResultsStore(db) as store:
        store.add("profile", _profile("before", 1), environment=ENV)
    script = f"""
import os, bench.results as R
store = R.ResultsStore({str(db)!r})
store._conn.execute("BEGIN IMMEDIATE")
store._conn.execute("INSERT INTO results (kind, model, config_hash, settings, cache_key, env_id, created, record) "
                    "VALUES ('profile', 'half', '', '{{}}', 'k', NULL, 'now', '{{}}')")
os._exit(9)  # no commit, no cleanup: what a kill -9 or a power cut does
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parent.parent, timeout=120)
    assert proc.returncode == 9
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with ResultsStore(db) as store:
        assert [r["model"] for r in store.query()] == ["before"]
        store.add("profile", _profile("after", 2), environment=ENV)  # and it is writable again
        assert store.count() == 2


def test_model_config_hash_tracks_architecture():
    a = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    b = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    c = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())
    assert model_config_hash(a) == model_config_hash(b) != model_config_hash(c)


def test_environment_manifest_fields():
    env = environment_manifest("cpu")
    for key in (
        "suite_version",
        "git_revision",
        "torch_version",
        "cuda_version",
        "python",
        "platform",
        "device",
    ):
        assert key in env
    assert env["device"] == "cpu"


def _fixture_db(path: Path) -> Path:
    fx = json.loads(FIXTURE.read_text())
    with ResultsStore(path) as store:
        for item in fx["results"]:
            store.add(item["kind"], item["record"], settings=item["settings"], environment=fx["environment"])
    return path


def test_results_command_lists_filters_exports(tmp_path, capsys):
    db = _fixture_db(tmp_path / "r.sqlite")
    n_eval = sum(1 for r in json.loads(FIXTURE.read_text())["results"] if r["kind"] == "eval")
    assert (
        main(
            [
                "results",
                "--db",
                str(db),
                "--kind",
                "eval",
                "--csv",
                str(tmp_path / "e.csv"),
                "--json",
                str(tmp_path / "e.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{n_eval} result(s)" in out and "PSNR" in out
    rows = json.loads((tmp_path / "e.json").read_text())
    assert len(rows) == n_eval and {r["kind"] for r in rows} == {"eval"}
    csv_lines = (tmp_path / "e.csv").read_text().splitlines()
    assert len(csv_lines) == n_eval + 1 and "psnr_mu" in csv_lines[0].split(",")
    assert main(["results", "--db", str(db), "--model", "eapnet-*", "--kind", "profile"]) == 0
    out = capsys.readouterr().out
    assert "ahdr" not in out and "eapnet-standard" in out
    assert main(["results", "--db", str(db), "--show", str(rows[0]["id"])]) == 0
    assert '"environment"' in capsys.readouterr().out


def test_results_command_bad_input(tmp_path, capsys):
    assert main(["results", "--db", str(tmp_path / "missing.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err
    db = _fixture_db(tmp_path / "r.sqlite")
    assert main(["results", "--db", str(db), "--show", "99999"]) == 2
    not_db = tmp_path / "junk.sqlite"
    not_db.write_bytes(b"this is not sqlite" * 100)
    assert main(["results", "--db", str(not_db)]) == 2
    assert "not a readable SQLite database" in capsys.readouterr().err


def test_record_results_for_commands(tmp_path):
    from bench.results import record_results, registry_config_hash

    ok = {"model": "ref-frame", "median_s": 0.1, "status": "ok"}
    failed = {"model": "ref-frame", "median_s": None, "status": "error"}
    ids = record_results("time", [ok, failed], db=tmp_path / "r.sqlite", settings={"size": "64x64"})
    assert len(ids) == 1
    with ResultsStore(tmp_path / "r.sqlite") as store:
        hit = store.lookup("time", "ref-frame", registry_config_hash("ref-frame"), {"size": "64x64"})
    assert hit is not None and hit["record"]["median_s"] == 0.1
