"""``EvalConfig``: every option of one evaluation, checked in one place, and the cache key derived from it.

The results store reuses an evaluation whose key matches (:func:`bench.results.cached`). The key is
:meth:`EvalConfig.cache_settings`, built from the dataclass's fields: a field enters it unless its
metadata says it does not change a score (``workers``, ``save_predictions``, ...), so an option added
here is part of the key by default and can never leave a stale cached score behind. The keys and
values are those of the hand-written settings they replace (``data``, ``data_fingerprint``, ``ids``,
``weights``, ``device``, ``roundtrip16``, ``tile``, ``overlap``), so databases written before still
hit; ``metrics``, ``layout`` and ``protocol`` join the key only when they differ from their defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.core import UsageError, resolve_device
from bench.data import dataset_fingerprint
from bench.data.kalantari import check_tif_scale
from bench.data.layouts import Layout, resolve_layout
from bench.evaluation.predict import check_protocol, check_tiling
from bench.evaluation.registry import default_metrics, select_metrics
from bench.evaluation.saving import check_save_layout

if TYPE_CHECKING:  # annotation only: bench.spec pulls in training and the model registry
    from bench.spec.weights import WeightsRef

KeyRule = Callable[["EvalConfig"], dict[str, Any]]


def not_in_key() -> dict[str, Any]:
    """Field metadata: this option does not change any score (how to run, where to write)."""
    return {"in_key": False}


def key_rule(derive: KeyRule | None = None, *, omit_when: Callable[[EvalConfig], bool] | None = None) -> dict:
    """Field metadata: how the field enters the key (default ``{name: value}``), and when it stays out."""
    return {"in_key": True, "derive": derive, "omit_when": omit_when}


def device_kind(device: str) -> str:
    """cpu or cuda: what an evaluation's key holds (scores do not depend on which GPU of a kind)."""
    text = str(device)
    return (str(resolve_device(text)) if text == "auto" else text).split(":")[0]


def _data_key(cfg: EvalConfig) -> dict[str, Any]:
    return {
        "data": str(Path(cfg.data).resolve()),
        "data_fingerprint": dataset_fingerprint(cfg.data, cfg.id_list, cfg.data_layout),
    }


@dataclass(frozen=True)
class EvalConfig:
    """The options of one evaluation (the model is not one: the same config scores many models).

        ``ids=None`` scores every sample; ``metrics=None`` the layout's default metrics (``psnr``,
        ``psnr_mu``), stored as the checked tuple in registry order; ``protocol`` one of
    :data:`bench.evaluation.predict.PROTOCOLS` (the inference the scores come from); ``weights`` is the file loaded (a
        :class:`~bench.spec.weights.WeightsRef`), ``None`` for a parameter-free model. Invalid values
        raise :class:`~bench.core.errors.UsageError` (one line, exit 2) when the config is made.
    """

    data: str = field(metadata=key_rule(_data_key))
    ids: tuple[str, ...] | None = field(default=None, metadata=key_rule(lambda c: {"ids": c.id_list}))
    weights: WeightsRef | None = field(
        default=None, metadata=key_rule(lambda c: {"weights": c.weights.digest if c.weights else None})
    )
    device: str = field(default="auto", metadata=key_rule(lambda c: {"device": device_kind(c.device)}))
    roundtrip16: bool = field(default=False, metadata=key_rule())
    tile: int | None = field(default=None, metadata=key_rule())
    overlap: int | None = field(default=None, metadata=key_rule())
    metrics: tuple[str, ...] | None = field(
        default=None,
        metadata=key_rule(
            lambda c: {"metrics": list(c.metrics or ())},
            omit_when=lambda c: c.metrics == default_metrics(c.layout),  # old keys had no "metrics"
        ),
    )
    layout: str | None = field(default=None, metadata=key_rule(omit_when=lambda c: c.layout is None))
    # What 16-bit tifs are divided by (kalantari/hu/tel); None: the layout's default, 2^16.
    tif_scale: int | None = field(default=None, metadata=key_rule(omit_when=lambda c: c.tif_scale is None))
    # "full" (every key written before protocols existed) or "tiles-256"; eval picks each model's paper one.
    protocol: str = field(default="full", metadata=key_rule(omit_when=lambda c: c.protocol == "full"))
    save_predictions: str | None = field(default=None, metadata=not_in_key())
    save_layout: str | None = field(default=None, metadata=not_in_key())  # None: follows the data
    workers: int = field(default=0, metadata=not_in_key())
    show_progress: bool = field(default=True, metadata=not_in_key())
    distributed: bool = field(default=True, metadata=not_in_key())

    def __post_init__(self) -> None:
        # Normalise in place (frozen: object.__setattr__), so equal options give equal configs and keys.
        if not str(self.data):
            raise UsageError("no data folder given")
        object.__setattr__(self, "data", str(self.data))
        if self.ids is not None:
            object.__setattr__(self, "ids", tuple(str(i) for i in self.ids))
        if self.save_predictions is not None:
            object.__setattr__(self, "save_predictions", str(self.save_predictions))
        object.__setattr__(self, "device", str(self.device))
        check_tiling(self.tile, self.overlap)
        check_protocol(self.protocol, self.tile)
        check_save_layout(self.save_layout)
        if self.tif_scale is not None:
            check_tif_scale(self.tif_scale)
        if not isinstance(self.workers, int) or self.workers < 0:
            raise UsageError(f"--workers {self.workers} must be a whole number, at least 0")
        object.__setattr__(self, "metrics", select_metrics(self.metrics, self.layout))

    @property
    def data_layout(self) -> str | Layout | None:
        """What the datasets get as ``layout=``: the name, or the layout configured with ``tif_scale``."""
        return resolve_layout(self.data, self.layout, self.tif_scale)

    @property
    def id_list(self) -> list[str] | None:
        return None if self.ids is None else list(self.ids)

    @property
    def scoring(self) -> str:
        return "roundtrip16" if self.roundtrip16 else "in-memory"

    @property
    def must_measure(self) -> bool:
        """Saving predictions always evaluates (a cached score writes no files)."""
        return self.save_predictions is not None

    def cache_settings(self) -> dict[str, Any]:
        """The settings part of the results-store key, derived from the fields (see the module doc)."""
        settings: dict[str, Any] = {}
        for f in fields(self):
            if not f.metadata.get("in_key", True):
                continue
            omit = f.metadata.get("omit_when")
            if omit is not None and omit(self):
                continue
            derive = f.metadata.get("derive")
            settings.update(derive(self) if derive else {f.name: getattr(self, f.name)})
        return settings

    @classmethod
    def score_fields(cls) -> list[str]:
        """Names of the options that enter the cache key."""
        return [f.name for f in fields(cls) if f.metadata.get("in_key", True)]
