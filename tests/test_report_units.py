"""Units: records and the paper's rows share field names and units; scaling happens only when printing."""

from __future__ import annotations

import csv

from bench.report import QUANTITIES, Measurements, build_table, render_csv, render_markdown
from bench.report.paper import PAPER_CSV, load_paper_rows


def test_paper_numbers_load_in_record_units_and_print_back_exactly():
    with open(PAPER_CSV, newline="") as fh:
        printed = list(csv.DictReader(fh))
    rows = load_paper_rows()
    assert len(rows) == len(printed)
    for row, text in zip(rows, printed, strict=True):
        for name, q in QUANTITIES.items():
            cell = text[q.paper_column].strip()
            assert q.shown(row[name]) == (float(cell) if cell else None), (row["row"], name)
    # MAccs and parameters are counts, as the profiler records them.
    ahdr = next(r for r in rows if r["row"] == "AHDR-baseline")
    assert ahdr["maccs"] == 2_916_920_000_000 and ahdr["params"] == 1_141_280


def _profile_row(maccs: int, params: int) -> dict:
    record = {"model": "eapnet-lightweight", "width": 1900, "height": 1060, "convention": "ntire"}
    record |= {"maccs": maccs, "params": params}
    return {"id": 1, "kind": "profile", "model": "eapnet-lightweight", "config_hash": "", "record": record}


def test_cells_hold_counts_and_print_in_g_and_k():
    maccs, params = 146_512_345_678, 393_731
    table = build_table("5", Measurements([_profile_row(maccs, params)]))
    light = next(r for r in table["rows"] if r["model"] == "eapnet-lightweight")
    assert light["maccs_measured"] == maccs and light["params_measured"] == params
    assert light["maccs_diff"] == maccs - 146_280_000_000
    md = render_markdown(table)
    line = next(x for x in md.splitlines() if "| eapnet-lightweight |" in x)
    assert f"| {maccs / 1e9:.2f} | {maccs / 1e9 - 146.28:+.2f} |" in line
    assert f"| {params / 1e3:.2f} | {params / 1e3 - 393.73:+.2f} |" in line
    # CSV: full precision in the printed units; the difference is that of the printed numbers.
    header, *body = list(csv.reader(render_csv(table).splitlines()))
    cells = dict(zip(header, next(r for r in body if "eapnet-lightweight" in r), strict=True))
    assert float(cells["MAccs (G) [measured]"]) == maccs / 1e9
    assert float(cells["MAccs (G) [diff]"]) == maccs / 1e9 - 146.28


def test_json_outputs_keep_the_legacy_keys_in_printed_units():
    from bench.report.quantities import with_legacy_keys

    row = {"model": "m", "maccs": 146_280_000_000, "params_measured": 393_667, "median_s": 0.5, "psnr": 40.0}
    out = with_legacy_keys(row)
    assert out["gmaccs"] == 146.28 and out["params_k_measured"] == 393.667 and out["runtime_s"] == 0.5
    assert out["psnr_db"] == 40.0 and out["maccs"] == row["maccs"]  # the record names stay, in record units
    assert "psnr_mu_db" not in out  # only what the row holds
