"""`compare`: a user's variant file against baselines, with the contract check, caching and --force."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.jobs.compare import evaluable
from bench.results import ResultsStore

FIXTURES = Path(__file__).parent / "fixtures"
VARIANT = f"{FIXTURES / 'tiny_variant.py'}:tiny_hdr"
AGAINST = "exposure-merge,ref-frame"  # parameter-free: cheap to time and to evaluate


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from bench.data.simulate import make_synthetic

    root = tmp_path_factory.mktemp("data")
    make_synthetic(root, 2, size=(48, 32), seed=1)
    return root


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    import importlib.util

    from safetensors.torch import save_file

    spec = importlib.util.spec_from_file_location("tiny_variant_for_weights", FIXTURES / "tiny_variant.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_file(module.tiny_hdr().state_dict(), str(path))
    return path


def _compare(tmp_path: Path, data: Path, weights: Path, *extra: str) -> dict:
    out = tmp_path / "out"
    rc = main(
        [
            "compare",
            "--variant",
            VARIANT,
            "--against",
            AGAINST,
            "--data",
            str(data),
            "--weights",
            str(weights),
            "--device",
            "cpu",
            "--size",
            "32x32",
            "--warmup",
            "0",
            "--repeat",
            "1",
            "--db",
            str(tmp_path / "r.sqlite"),
            "--out",
            str(out),
            "--json",
            str(tmp_path / "cmp.json"),
            *extra,
        ]
    )
    assert rc == 0
    return json.loads((tmp_path / "cmp.json").read_text())


def test_compare_variant_file_end_to_end(tmp_path, tiny_data, tiny_weights, capsys):
    result = _compare(tmp_path, tiny_data, tiny_weights)
    rows = {r["model"]: r for r in result["rows"]}
    assert list(rows) == ["tiny-hdr", "exposure-merge", "ref-frame"]
    assert rows["tiny-hdr"]["role"] == "variant"
    for name, row in rows.items():
        assert row["median_s"] > 0, name
        assert row["psnr"] is not None and row["psnr_mu"] is not None, name  # weights or parameter-free
    # The variant's MAccs/params are its own: the profile of the same module, counted the NTIRE way.
    import torch

    from bench import complexity
    from bench.spec.variants import load_variant

    _, factory = load_variant(VARIANT)
    with torch.device("meta"):
        expected = complexity.profile(factory(), 1900, 1060, convention="ntire")
    assert rows["tiny-hdr"]["maccs"] == expected["maccs"]
    assert rows["tiny-hdr"]["params"] == expected["params"]
    assert rows["exposure-merge"]["maccs"] == 0
    # Identical settings recorded once for all rows; files written.
    s = result["settings"]
    assert (s["time_size"], s["repeat"], s["device"]) == ("32x32", 1, "cpu")
    md = Path(result["files"][0]).read_text()
    assert "tiny-hdr" in md and "32x32" in md and str(tiny_data) in md
    with open(result["files"][1]) as fh:
        assert len(list(csv.reader(fh))) == 1 + len(rows)
    assert any(f.endswith("_front.png") for f in result["files"])
    assert "tiny-hdr" in capsys.readouterr().out
    # Everything went through the store.
    with ResultsStore(tmp_path / "r.sqlite") as store:
        kinds = {(r["kind"], r["model"]) for r in store.query()}
    assert {
        ("profile", "tiny-hdr"),
        ("time", "tiny-hdr"),
        ("eval", "tiny-hdr"),
        ("eval", "ref-frame"),
    } <= kinds


def test_compare_reuses_cache_until_forced(tmp_path, tiny_data, tiny_weights, capsys):
    first = _compare(tmp_path, tiny_data, tiny_weights)
    assert all(r["cached"] == [] for r in first["rows"])
    second = _compare(tmp_path, tiny_data, tiny_weights)
    assert all(set(r["cached"]) == {"profile", "time", "eval"} for r in second["rows"])
    assert [r["median_s"] for r in second["rows"]] == [r["median_s"] for r in first["rows"]]
    assert "reused from the results store" in capsys.readouterr().out
    with ResultsStore(tmp_path / "r.sqlite") as store:
        n_before = store.count()
    forced = _compare(tmp_path, tiny_data, tiny_weights, "--force")
    assert all(r["cached"] == [] for r in forced["rows"])
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert store.count() == 2 * n_before  # forced results are appended; the newest wins


def test_contract_violation_is_one_line_and_measures_nothing(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    rc = main(
        [
            "compare",
            "--variant",
            f"{FIXTURES / 'tiny_variant.py'}:BrokenShape",
            "--against",
            "ref-frame",
            "--device",
            "cpu",
            "--db",
            str(db),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "output shape" in err
    with ResultsStore(db) as store:
        assert store.count() == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variant", "tests/fixtures/no_such_file.py:f"], "does not exist"),
        (["--variant", f"{FIXTURES / 'tiny_variant.py'}:nothing_here"], "no attribute"),
        (["--variant", VARIANT, "--against", "no-such-model"], "no registered model"),
        (["--variant", VARIANT, "--weights", "w.safetensors"], "give --data"),
        (["--variant", VARIANT, "--size", "big"], "WIDTHxHEIGHT"),
    ],
)
def test_compare_bad_input(tmp_path, capsys, args, message):
    assert main(["compare", *args, "--db", str(tmp_path / "r.sqlite"), "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_baseline_without_weights_is_not_evaluated():
    ok, why = evaluable("eapnet-lightweight", None, None)
    assert not ok and "no weights" in why
    assert evaluable("ref-frame", None, None) == (True, None)
