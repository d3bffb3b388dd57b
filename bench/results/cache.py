"""Reuse of stored results: :func:`cached`, and the store options every measuring command shares.

    cache key = sha256(kind, model name, config hash, settings)

where the *config hash* fingerprints the architecture actually built (module tree and parameter
shapes, :func:`bench.spec.model.model_config_hash`), and *settings* is the dict of everything the
measurement depends on (size, device, repeats, weights file...). A repeated run with the same key
reuses the stored record unless ``force`` is set; a forced run appends a new row, so the history is
kept and the newest row wins. Only records their kind judges ok (:func:`bench.results.kinds.is_ok`)
are stored or reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from bench.core import OUTPUT_DIR_SHOWN
from bench.results.kinds import is_ok
from bench.results.store import ResultsStore, open_store
from bench.spec.model import model_config_hash
from models.registry import create_model, is_model


def registry_config_hash(name: str, **overrides: Any) -> str:
    """:func:`model_config_hash` of a registered model, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = create_model(name, **overrides)
    return model_config_hash(model)


def cached(
    store: ResultsStore | None,
    kind: str,
    model: str,
    config_hash: str,
    settings: dict,
    compute: Callable[[], dict],
    force: bool = False,
    write: bool = True,
) -> tuple[dict, bool]:
    """Return ``(record, from_cache)``: the stored record for this key, or ``compute()`` stored now.

    With ``store=None`` nothing is read or written (a run with caching switched off); ``write=False``
    reads but never writes (the non-zero ranks of a torchrun job). Only :func:`is_ok` records are
    stored or reused.
    """
    if store is not None and not force:
        hit = store.lookup(kind, model, config_hash, settings)
        if hit is not None and is_ok(kind, hit["record"]):
            return hit["record"], True
    record = compute()
    if store is not None and write and is_ok(kind, record):
        store.add(kind, record, model=model, config_hash=config_hash, settings=settings)
    return record, False


def add_store_arguments(p: Any) -> None:
    """The store options every measuring command shares (profile, time, eval, train)."""
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="results database the measurements are appended to "
        f"(default: {OUTPUT_DIR_SHOWN}results.sqlite, or $EAPBENCH_DB)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="measure again even when the database holds a result with the same model, "
        "architecture and settings (the new result is appended)",
    )
    p.add_argument("--no-store", action="store_true", help="neither read nor write the results database")


def store_from_args(args: Any) -> ResultsStore | None:
    """The store chosen by :func:`add_store_arguments`' options, or None with ``--no-store``.

    Opened before any measuring, so a bad ``--db`` is reported at once (exit 2), not after the work.
    """
    return None if args.no_store else open_store(args.db)


def record_results(
    kind: str,
    records: list[dict],
    db: str | os.PathLike | None = None,
    settings: dict | None = None,
) -> list[int]:
    """Append the records a measuring command produced, in one transaction (one line in a command).

    ``settings`` (the command's options) become part of each key; the config hash of a registered
    model is computed here, on the meta device. Records whose ``status`` is not ``ok`` are skipped:
    a failure is not a result to reuse.
    """
    items = []
    for rec in records:
        if rec.get("status", "ok") != "ok":
            continue
        name = rec["model"]
        items.append(
            {
                "kind": kind,
                "record": rec,
                "model": name,
                "settings": settings or {},
                "config_hash": registry_config_hash(name) if is_model(name) else "",
            }
        )
    with open_store(db) as store:
        return store.add_many(items) if items else []
