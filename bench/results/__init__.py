"""The results store: every measurement (profile, time, eval, train) in one SQLite database.

A result is stored as its plain JSON record plus the key that says when it can be reused:

    cache key = sha256(kind, model name, config hash, settings)

where the *config hash* fingerprints the architecture actually built (module tree and parameter
shapes, see :func:`model_config_hash`), and *settings* is the dict of everything the measurement
depends on (size, device, repeats, weights file...). A repeated run with the same key reuses the
stored record (:func:`cached`) unless ``force`` is set; a forced run appends a new row, so the
history is kept and the newest row wins.

Each row also points to an *environment manifest* (suite version, git revision, torch/CUDA
versions, Python, platform, device), stored once per distinct manifest.

Every write is one SQLite transaction: an interrupted run (exception, Ctrl-C, killed process)
leaves the database as it was before the write began, never half-written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from bench.core import DEFAULT_DB, REPORTS_DIR_SHOWN, UsageError, atomic_write_text, to_json
from bench.core.environment import environment_manifest, suite_version  # noqa: F401 (re-exported)
from bench.spec.model import model_config_hash

KINDS = ("profile", "time", "eval", "train")
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS environments (
    id       INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    model       TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    settings    TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    env_id      INTEGER REFERENCES environments(id),
    created     TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_key ON results (cache_key);
CREATE INDEX IF NOT EXISTS results_by_model ON results (kind, model);
"""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal dicts hash equally."""
    return json.dumps(json.loads(to_json(obj)), sort_keys=True, separators=(",", ":"))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(kind: str, model: str, config_hash: str, settings: dict | None) -> str:
    """The key under which a result is reused: kind + model + config hash + settings."""
    return _sha256(
        canonical_json({"kind": kind, "model": model, "config": config_hash, "settings": settings or {}})
    )


def registry_config_hash(name: str, **overrides: Any) -> str:
    """:func:`model_config_hash` of a registered model, built on the meta device (no memory, no init)."""
    import torch

    from models.registry import create_model

    with torch.device("meta"):
        model = create_model(name, **overrides)
    return model_config_hash(model)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """An SQLite file of results. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | os.PathLike = DEFAULT_DB) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise UsageError(f"results database {self.path} is a folder, not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"results database {self.path}: cannot create its folder ({exc.strerror})"
            ) from exc
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so one write is one transaction.
            self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            # CREATE ... IF NOT EXISTS is idempotent, so the schema needs no transaction of its own.
            self._conn.executescript(_SCHEMA)
            with self._transaction():
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
                elif int(row["value"]) != SCHEMA_VERSION:
                    raise UsageError(
                        f"results database {self.path} has schema version {row['value']}, "
                        f"this suite writes version {SCHEMA_VERSION}; use another --db"
                    )
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"results database {self.path}: not a readable SQLite database ({exc})") from exc

    # -- plumbing -------------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two concurrent runs queue instead of failing
        # half-way; any exception (KeyboardInterrupt included) rolls the whole write back.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _env_id(self, conn: sqlite3.Connection, manifest: dict) -> int:
        # No cache of ids here: a rolled-back transaction would leave one pointing at nothing.
        text = canonical_json(manifest)
        digest = _sha256(text)
        conn.execute("INSERT OR IGNORE INTO environments (hash, manifest) VALUES (?, ?)", (digest, text))
        return conn.execute("SELECT id FROM environments WHERE hash=?", (digest,)).fetchone()["id"]

    # -- writing --------------------------------------------------------------------------------
    def add(
        self,
        kind: str,
        record: dict,
        *,
        model: str | None = None,
        config_hash: str = "",
        settings: dict | None = None,
        environment: dict | None = None,
    ) -> int:
        """Append one result; returns its id. ``model`` defaults to ``record['model']``."""
        return self.add_many(
            [
                dict(
                    kind=kind,
                    record=record,
                    model=model,
                    config_hash=config_hash,
                    settings=settings,
                    environment=environment,
                )
            ]
        )[0]

    def add_many(self, items: Iterable[dict]) -> list[int]:
        """Append several results in one transaction: all of them are stored, or none."""
        items = list(items)
        for item in items:
            if item["kind"] not in KINDS:
                raise ValueError(f"result kind {item['kind']!r} is not one of {', '.join(KINDS)}")
        ids = []
        with self._transaction() as conn:
            for item in items:
                record = json.loads(to_json(item["record"]))  # JSON-able copy; NaN becomes null
                model = item.get("model") or record.get("model")
                if not model:
                    raise ValueError(f"{item['kind']} result has no model name")
                settings = item.get("settings") or {}
                manifest = item.get("environment") or environment_manifest(record.get("device"))
                env_id = self._env_id(conn, manifest)
                key = cache_key(item["kind"], model, item.get("config_hash", ""), settings)
                cur = conn.execute(
                    "INSERT INTO results (kind, model, config_hash, settings, cache_key, env_id, created, record)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item["kind"],
                        model,
                        item.get("config_hash", ""),
                        canonical_json(settings),
                        key,
                        env_id,
                        _now(),
                        canonical_json(record),
                    ),
                )
                ids.append(int(cur.lastrowid))
        return ids

    # -- reading --------------------------------------------------------------------------------
    def _row(self, row: sqlite3.Row) -> dict:
        return {
            "id": row["id"],
            "kind": row["kind"],
            "model": row["model"],
            "created": row["created"],
            "config_hash": row["config_hash"],
            "settings": json.loads(row["settings"]),
            "record": json.loads(row["record"]),
            "environment": json.loads(row["manifest"]) if row["manifest"] else None,
        }

    _SELECT = "SELECT r.*, e.manifest AS manifest FROM results r LEFT JOIN environments e ON e.id = r.env_id"

    def lookup(self, kind: str, model: str, config_hash: str, settings: dict | None) -> dict | None:
        """The newest stored result with exactly this key, or None."""
        key = cache_key(kind, model, config_hash, settings)
        row = self._conn.execute(
            f"{self._SELECT} WHERE r.cache_key=? ORDER BY r.id DESC LIMIT 1", (key,)
        ).fetchone()
        return None if row is None else self._row(row)

    def get(self, result_id: int) -> dict | None:
        row = self._conn.execute(f"{self._SELECT} WHERE r.id=?", (int(result_id),)).fetchone()
        return None if row is None else self._row(row)

    def query(
        self, kind: str | None = None, model: str | None = None, latest_only: bool = False
    ) -> list[dict]:
        """Stored results, oldest first; ``model`` may be a comma-separated list of wildcards.

        ``latest_only`` keeps the newest row per cache key (what a cached run would reuse).
        """
        sql, params = self._SELECT, []
        if kind:
            if kind not in KINDS:
                raise UsageError(f"result kind {kind!r} is not one of {', '.join(KINDS)}")
            sql += " WHERE r.kind=?"
            params.append(kind)
        rows = [self._row(r) for r in self._conn.execute(sql + " ORDER BY r.id", params)]
        if model:
            patterns = [p.strip().lower() for p in model.split(",") if p.strip()]
            rows = [r for r in rows if any(fnmatchcase(r["model"].lower(), p) for p in patterns)]
        if latest_only:
            newest: dict[tuple, dict] = {}
            for r in rows:
                newest[(r["kind"], cache_key(r["kind"], r["model"], r["config_hash"], r["settings"]))] = r
            rows = sorted(newest.values(), key=lambda r: r["id"])
        return rows

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])


def is_ok(kind: str, record: dict) -> bool:
    """Whether a record is a result worth keeping and reusing (not an error or a failed check).

    A ``status`` other than ``ok`` (timing errors, numerics failures) and an evaluation with
    failed (non-finite) images or no score are not: they are measured again next time.
    """
    if record.get("status", "ok") != "ok":
        return False
    if kind == "eval":
        return not record.get("n_failed") and record.get("psnr") is not None
    return True


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


# -- summaries and export (the `results` command, the report) ----------------------------------------


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summarize(row: dict) -> str:
    """One human line for a stored result, by kind."""
    r = row["record"]
    kind = row["kind"]
    if kind == "profile":
        maccs = r.get("maccs")
        params = r.get("params")
        return (
            f"{_fmt(None if maccs is None else maccs / 1e9, '.2f')} GMAccs, "
            f"{_fmt(None if params is None else params / 1e3, '.2f')} k params at "
            f"{r.get('width')}x{r.get('height')} ({r.get('convention', '?')})"
        )
    if kind == "time":
        return (
            f"median {_fmt(r.get('median_s'), '.4f')} s on {r.get('device_name') or r.get('device')} "
            f"{r.get('backend', '')} {r.get('precision', '')} {r.get('width')}x{r.get('height')} "
            f"({r.get('runs')} runs)"
        )
    if kind == "eval":
        return (
            f"PSNR {_fmt(r.get('psnr'), '.3f')} dB, PSNR-mu {_fmt(r.get('psnr_mu'), '.3f')} dB on "
            f"{r.get('n_images')} images of {r.get('data')} (weights {r.get('weights') or 'none'})"
        )
    if kind == "train":
        return (
            f"loss {r.get('loss')}, {r.get('iters')} iters, final {_fmt(r.get('final_loss'), '.4g')}, "
            f"weights {r.get('weights')}"
        )
    return ""


def flat_rows(rows: list[dict]) -> list[dict]:
    """Flatten stored results for CSV: metadata columns, then every record field (lists/dicts as JSON)."""
    out = []
    for row in rows:
        flat: dict[str, Any] = {
            "id": row["id"],
            "kind": row["kind"],
            "model": row["model"],
            "created": row["created"],
            "config_hash": row["config_hash"],
            "settings": canonical_json(row["settings"]),
        }
        env = row.get("environment") or {}
        flat["git_revision"] = env.get("git_revision")
        flat["suite_version"] = env.get("suite_version")
        for k, v in row["record"].items():
            if k in flat:
                k = f"record_{k}"
            flat[k] = canonical_json(v) if isinstance(v, (list, dict)) else v
        out.append(flat)
    return out


def export_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    flat = flat_rows(rows)
    columns = list(dict.fromkeys(k for row in flat for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return atomic_write_text(path, buf.getvalue())


def default_db() -> Path:
    """``$EAPBENCH_DB`` if set (CI, test sessions), else :data:`bench.core.paths.DEFAULT_DB` (``reports/`` or ``./eapbench-out/``)."""
    return Path(os.environ.get("EAPBENCH_DB") or DEFAULT_DB)


def open_store(path: str | os.PathLike | None, must_exist: bool = False) -> ResultsStore:
    """Open ``path`` (default :func:`default_db`); ``must_exist`` for read-only commands."""
    p = Path(path) if path else default_db()
    if must_exist and not p.is_file():
        raise UsageError(
            f"results database {p} does not exist (run `run_bench.py` or a measuring command first)"
        )
    return ResultsStore(p)


def add_store_arguments(p: Any) -> None:
    """The store options every measuring command shares (profile, time, eval, train)."""
    p.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help="results database the measurements are appended to "
        f"(default: {REPORTS_DIR_SHOWN}results.sqlite, or $EAPBENCH_DB)",
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
    from models.registry import is_model

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
