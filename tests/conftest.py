"""Shared test set-up: quiet progress bars, deterministic CPU threads."""

import os

import pytest
import torch

os.environ.setdefault("EAPBENCH_NO_PROGRESS", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_results_db(tmp_path, monkeypatch):
    # Commands run without --db must never write into the repository's reports/results.sqlite.
    monkeypatch.setenv("EAPBENCH_DB", str(tmp_path / "results.sqlite"))
