"""The results store: every measurement (profile, time, eval, train...) in one SQLite database.

A result is stored as its plain JSON record (:mod:`bench.results.records` names its keys) plus the
key that says when it can be reused (:func:`cache_key`, see :mod:`bench.results.cache`). Each row
also points to an *environment manifest* (suite version, git revision, torch/CUDA versions,
Python, platform, device), stored once per distinct manifest.

Every write is one SQLite transaction: an interrupted run (exception, Ctrl-C, killed process)
leaves the database as it was before the write began, never half-written. Every record is checked
against its kind's record class on the way in and on the way out: a row whose values have the
wrong types (a foreign writer, a hand edit) is reported on stderr, naming the database and the row,
and skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from bench.core import DEFAULT_DB, ArtefactError, UsageError, to_json
from bench.core.environment import environment_manifest
from bench.results.kinds import RESULT_KINDS, typed

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


def plain_record(record: Any) -> dict:
    """A JSON-able copy of a record (a dict or a :class:`~bench.results.records.Record`); NaN becomes null."""
    return json.loads(to_json(record.to_json() if hasattr(record, "to_json") else record))


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
            # Malformed rows met while reading, by id (reported once each).
            self.skipped: dict[int, ArtefactError] = {}
            self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._check_version()  # before the schema is created: a foreign database is left as it was
            # CREATE ... IF NOT EXISTS is idempotent, so the schema needs no transaction of its own.
            self._conn.executescript(_SCHEMA)
            with self._transaction():
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                    )
                elif str(row["value"]).strip() != str(SCHEMA_VERSION):  # a foreign or hand-edited value too
                    raise UsageError(
                        f"results database {self.path} has schema version {row['value']}, "
                        f"this suite writes version {SCHEMA_VERSION}; use another --db"
                    )
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"results database {self.path}: not a readable SQLite database ({exc})") from exc

    def _check_version(self) -> None:
        has_meta = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        row = has_meta and self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row and str(row["value"]).strip() != str(SCHEMA_VERSION):
            raise UsageError(
                f"results database {self.path} has schema version {row['value']}, "
                f"this suite writes version {SCHEMA_VERSION}; use another --db"
            )

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
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                # SQLite may have rolled back already (a full disk): then "cannot rollback" must not
                # hide the real error.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:  # disk full, read-only file, locked for too long
            raise UsageError(
                f"results database {self.path}: cannot write ({exc}); its earlier results are unchanged"
            ) from exc

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
            if item["kind"] not in RESULT_KINDS:
                raise ValueError(
                    f"result kind {item['kind']!r} is not one of {', '.join(RESULT_KINDS.names())}"
                )
            # A malformed record is refused before anything is written (RecordError, a ValueError).
            typed(item["kind"], plain_record(item["record"]))
        ids = []
        with self._transaction() as conn:
            for item in items:
                record = plain_record(item["record"])
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
        """The stored result as a dict; its ``record`` checked against its kind (RecordError if malformed).

        A row of a kind no plugin registered in this process is returned unchecked.
        """
        record = json.loads(row["record"])
        if row["kind"] in RESULT_KINDS:
            typed(row["kind"], record)
        return {
            "id": row["id"],
            "kind": row["kind"],
            "model": row["model"],
            "created": row["created"],
            "config_hash": row["config_hash"],
            "settings": json.loads(row["settings"]),
            "record": record,
            "environment": json.loads(row["manifest"]) if row["manifest"] else None,
        }

    def _checked(self, rows: Iterable[sqlite3.Row]) -> list[dict]:
        """Rows that read back; each malformed one is reported (stderr, once) and skipped."""
        out = []
        for row in rows:
            try:
                out.append(self._row(row))
            except ValueError as exc:  # RecordError, or JSON that does not parse
                problem = self.row_problem(row["id"], exc)
                if row["id"] not in self.skipped:
                    self.skipped[row["id"]] = problem
                    print(f"skipped: {problem}", file=sys.stderr)
        return out

    def row_problem(self, result_id: int, exc: Exception) -> ArtefactError:
        """The error naming this database and the row: ``DB: database row 7: field maccs is not a number``."""
        return ArtefactError(self.path, f"database row {result_id}: {exc}")

    _SELECT = "SELECT r.*, e.manifest AS manifest FROM results r LEFT JOIN environments e ON e.id = r.env_id"

    def lookup(self, kind: str, model: str, config_hash: str, settings: dict | None) -> dict | None:
        """The newest stored result with exactly this key, or None (also when that row is malformed)."""
        key = cache_key(kind, model, config_hash, settings)
        rows = self._conn.execute(f"{self._SELECT} WHERE r.cache_key=? ORDER BY r.id DESC LIMIT 1", (key,))
        checked = self._checked(rows)
        return checked[0] if checked else None

    def get(self, result_id: int) -> dict | None:
        """One result by id; a malformed row is an :class:`ArtefactError` (exit 2 naming the database)."""
        row = self._conn.execute(f"{self._SELECT} WHERE r.id=?", (int(result_id),)).fetchone()
        if row is None:
            return None
        try:
            return self._row(row)
        except ValueError as exc:
            raise self.row_problem(row["id"], exc) from None

    def query(
        self, kind: str | None = None, model: str | None = None, latest_only: bool = False
    ) -> list[dict]:
        """Stored results, oldest first; ``model`` may be a comma-separated list of wildcards.

        ``latest_only`` keeps the newest row per cache key (what a cached run would reuse).
        Malformed rows are reported and left out (:attr:`skipped`).
        """
        sql, params = self._SELECT, []
        if kind:
            RESULT_KINDS.get(kind)  # a UsageError naming the known kinds
            sql += " WHERE r.kind=?"
            params.append(kind)
        rows = self._checked(self._conn.execute(sql + " ORDER BY r.id", params))
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
    if must_exist and p.stat().st_size == 0:  # opening it would write a schema into a reader's file
        raise UsageError(f"results database {p} is an empty file, not a results database")
    return ResultsStore(p)
