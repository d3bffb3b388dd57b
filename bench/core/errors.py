"""The suite's error kinds, each with its exit code.

- :class:`UsageError`: what the user typed is wrong (a path, a size, a name): exit 2.
- :class:`ArtefactError`: a file the user gave is broken (corrupt weights, data, database rows): exit 2,
  naming the file.
- :class:`ModelFailure`: a model failed at run time; jobs record it and go on with the other models.
"""

from __future__ import annotations


class UsageError(Exception):
    """A problem with what the user supplied (a path, a size, a model name...): exit code 2."""


class ArtefactError(UsageError):
    """A file the user supplied is broken or not what it claims (weights, data, a database row)."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ModelFailure(RuntimeError):
    """A model failed while being measured; the job records it and goes on with the next model."""

    def __init__(self, model: str, exc: BaseException) -> None:
        self.model = model
        self.cause = exc
        first = (str(exc).strip().splitlines() or [""])[0]
        self.message = f"{type(exc).__name__}: {first}"[:300]
        super().__init__(f"{model}: {self.message}")
