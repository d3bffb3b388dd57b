"""Shared test set-up: quiet progress bars, deterministic CPU threads."""

import os

import pytest
import torch

os.environ.setdefault("EAPBENCH_NO_PROGRESS", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
