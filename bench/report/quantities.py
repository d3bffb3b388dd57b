"""The measured quantities the report prints: record field, label, printed unit and format.

Records keep the producers' units (MAccs and parameters as counts, seconds); the paper prints
GMAccs and thousands of parameters. Scaling happens here and only when a value is shown, so tables,
plots and JSON outputs share the record field names (``maccs``, ``params``, ``median_s``, ``psnr``,
``psnr_mu``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Quantity:
    field: str  # the record field (ProfileRecord.maccs, TimeRecord.median_s, EvalRecord.psnr...)
    label: str  # column and axis label, in the printed unit
    scale: float  # a stored value divided by this is the printed value
    fmt: str  # format spec of the printed value
    paper_column: str  # the column of paper_tables.csv (the paper's printed units)

    def shown(self, value: float | None) -> float | None:
        """``value`` in the printed unit (None stays None)."""
        if value is None or self.scale == 1:
            return value
        return value / self.scale

    def from_printed(self, text: str) -> float | int | None:
        """A number as the paper prints it (e.g. ``146.28`` GMAccs) in record units, exactly.

        Decimal arithmetic keeps ``shown(from_printed(t)) == float(t)``: 146.28 G is the integer
        146280000000, and dividing it by 1e9 rounds back to the float the text names.
        """
        text = (text or "").strip()
        if not text:
            return None
        if self.scale == 1:
            return float(text)
        value = Decimal(text) * Decimal(repr(self.scale))
        return int(value) if value == value.to_integral_value() else float(value)

    def format(self, value: float | None, signed: bool = False, missing: str = "-") -> str:
        shown = self.shown(value)
        return missing if shown is None else format(shown, ("+" if signed else "") + self.fmt)


QUANTITIES: dict[str, Quantity] = {
    q.field: q
    for q in (
        Quantity("psnr", "PSNR (dB)", 1, ".3f", "psnr_db"),
        Quantity("psnr_mu", "PSNR-µ (dB)", 1, ".3f", "psnr_mu_db"),
        Quantity("median_s", "Runtime (s)", 1, ".4f", "runtime_s"),
        Quantity("maccs", "MAccs (G)", 1e9, ".2f", "gmaccs"),
        Quantity("params", "Params (k)", 1e3, ".2f", "params_k"),
    )
}
ACCURACY = ("psnr", "psnr_mu")


# Suffixes the report's table rows put after a quantity's field (``maccs_measured``, ...).
ROW_SUFFIXES = ("", "_paper", "_measured", "_diff")


def with_legacy_keys(row: dict) -> dict:
    """``row`` plus each quantity under its 0.1 JSON name in the printed unit (``gmaccs``, ``params_k``...).

    ``report.json``, ``compare``'s JSON and ``all --json`` wrote printed units under those names
    before the record vocabulary was unified; scripts written against them keep working. The record
    field names (raw counts, seconds) are the ones to use: the aliases are only ever added here.
    """
    out = dict(row)
    for q in QUANTITIES.values():
        if q.field == q.paper_column:
            continue
        for suffix in ROW_SUFFIXES:
            key = q.field + suffix
            if key in row and q.paper_column + suffix not in row:
                out[q.paper_column + suffix] = q.shown(row[key])
    return out
