"""Ctrl-C during training lands at a step boundary, so the checkpoint it saves is what its label says.

Without this, an interrupt between ``optimizer.step()`` and the iteration counter would save a
checkpoint labelled N that holds N+1 updates, and the resumed run would no longer match an
uninterrupted one bit for bit. :class:`StepBoundaryInterrupt` turns the first SIGINT into a request
that the loop honours between iterations; a second one interrupts at once (a stuck data loader),
and the loop then keeps the previous checkpoint instead of saving a half-updated state.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class StepBoundaryInterrupt:
    """Context manager: defer SIGINT to :meth:`check` calls (main thread only; elsewhere a no-op)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StepBoundaryInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def check(self) -> None:
        """Raise the deferred KeyboardInterrupt here, at a step boundary."""
        if self.requested:
            raise KeyboardInterrupt
