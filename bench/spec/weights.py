"""``WeightsRef``: the weight file a command actually loads, and its digest, resolved once.

Every command that takes ``--weights`` (time, eval, compare, the main job, train's validation)
resolves it to a :class:`WeightsRef`. Loading reads ``ref.path`` and the results cache keys on
``ref.digest`` of that same file, so the two can never disagree (a run folder's cached score is
renewed when training goes on, because its ``checkpoints/last.json`` then names a new file).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from bench.core import WEIGHTS_DIR, ArtefactError, UsageError
from bench.train.checkpoint import load_weights, resolve_weights_file
from models.registry import is_model, model_info


def file_digest(path: str | os.PathLike) -> str:
    """sha256 (first 16 hex digits) of a file: retrained weights at the same path get a new digest."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ArtefactError(path, f"cannot read ({exc.strerror or exc})") from exc
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class WeightsRef:
    """What the user named (``given``), the safetensors file that is loaded (``path``) and its digest."""

    given: str
    path: Path
    digest: str

    @classmethod
    def resolve(cls, given: str | os.PathLike) -> WeightsRef:
        """Resolve a weight file, a checkpoint sidecar or a run folder; a bad path is exit 2 naming it."""
        text = str(given)
        if not Path(text).exists():
            raise UsageError(f"weights {text}: no such file or folder")
        path = resolve_weights_file(text)
        return cls(given=text, path=path, digest=file_digest(path))

    @classmethod
    def default_for(cls, name: str) -> WeightsRef | None:
        """The registered model's shipped weights (``weights/`` in the suite), if the file is there."""
        if not is_model(name):
            return None
        info = model_info(name)
        if info.weights and (WEIGHTS_DIR / info.weights).is_file():
            return cls.resolve(WEIGHTS_DIR / info.weights)
        return None

    def load_into(self, model: nn.Module, model_name: str | None = None) -> dict[str, Any]:
        """Load this file into ``model`` (shapes and keys checked); returns what was loaded."""
        return load_weights(model, self.path, model_name=model_name)

    def __str__(self) -> str:
        return str(self.path)
