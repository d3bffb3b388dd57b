"""The results store: every measurement (profile, time, eval, train) in one SQLite database.

- :mod:`bench.results.records`: the typed records (one dataclass per kind, fields = stored JSON keys);
- :mod:`bench.results.kinds`: the registry of result kinds (:data:`RESULT_KINDS`);
- :mod:`bench.results.store`: the SQLite store (:class:`ResultsStore`, transactions, checked reads);
- :mod:`bench.results.cache`: reuse by cache key (:func:`cached`) and the commands' store options;
- :mod:`bench.results.export`: flat rows and CSV.
"""

from __future__ import annotations

from bench.core.environment import environment_manifest, suite_version
from bench.results.cache import (
    add_store_arguments,
    cached,
    record_results,
    registry_config_hash,
    store_from_args,
)
from bench.results.export import export_csv, flat_rows
from bench.results.kinds import RESULT_KINDS, ResultKind, is_ok, status_ok, summarize, typed
from bench.results.records import EvalRecord, ProfileRecord, Record, RecordError, TimeRecord, TrainRecord
from bench.results.store import (
    DEFAULT_DB,
    SCHEMA_VERSION,
    ResultsStore,
    cache_key,
    canonical_json,
    default_db,
    open_store,
    plain_record,
)
from bench.spec.model import model_config_hash

__all__ = [
    "DEFAULT_DB",
    "RESULT_KINDS",
    "SCHEMA_VERSION",
    "EvalRecord",
    "ProfileRecord",
    "Record",
    "RecordError",
    "ResultKind",
    "ResultsStore",
    "TimeRecord",
    "TrainRecord",
    "add_store_arguments",
    "cache_key",
    "cached",
    "canonical_json",
    "default_db",
    "environment_manifest",
    "export_csv",
    "flat_rows",
    "is_ok",
    "model_config_hash",
    "open_store",
    "plain_record",
    "record_results",
    "registry_config_hash",
    "status_ok",
    "store_from_args",
    "suite_version",
    "summarize",
    "typed",
]
