"""Regenerate a paper table: one recipe, several seeds per row, runs handed to submitit, mean ± std and noise.

By concern: :mod:`~bench.reproduce.plan` (rows, runs, ``plan.json``, resume checks),
:mod:`~bench.reproduce.recipe` (the paper's recipe scaled to the budget, deviations),
:mod:`~bench.reproduce.probe` (cost from a short measured probe), :mod:`~bench.reproduce.job` (one
run as a checkpointable submitit job), :mod:`~bench.reproduce.executor` (submitit: Slurm or local),
:mod:`~bench.reproduce.stats` (spread, Welch's t), :mod:`~bench.reproduce.table` (aggregate, render),
:mod:`~bench.reproduce.runner` (:func:`reproduce`).
"""

from bench.reproduce.runner import ReproduceOptions, build_plan, reproduce

__all__ = ["ReproduceOptions", "build_plan", "reproduce"]
