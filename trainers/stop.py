"""Ctrl-C / SIGTERM: let the current step finish, then stop with a checkpoint instead of a traceback."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class GracefulStop:
    """Turns SIGINT/SIGTERM into a flag the training loop polls after each step.

    A second Ctrl-C while the first is being honoured raises KeyboardInterrupt, so a stuck run can
    still be killed from the keyboard.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
