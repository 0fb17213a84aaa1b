"""The training clock: seconds spent training, the quantity `train.max_minutes` budgets.

It runs only inside the training part of an epoch (steps, data loading, the checkpoints written
inside an epoch) and is not read while the loop validates, predicts the test split or writes its
end-of-epoch checkpoints, so a large validation split does not eat the budget. The seconds live in
last.pt and a resumed run starts its clock from them: the budget and the `cosine_time` learning
rate that follows it continue where they stopped, however often the run was interrupted.

The time source is injectable: tests pass a fake clock, so the training time after each step,
and with it the learning rate, is a deterministic function of the step.
"""

from __future__ import annotations

import time
from typing import Callable

Now = Callable[[], float]


class TrainingClock:
    """Training seconds = seconds banked by earlier epochs and runs + time since `start`."""

    def __init__(self, now: Now = time.monotonic) -> None:
        self._now = now
        self._banked = 0.0
        self._since: float | None = None

    def start(self, seconds_so_far: float) -> None:
        """Start (or restart) the clock for a stretch of training that begins at `seconds_so_far`.

        The stretch is banked by the caller (as `Position.train_seconds`, the value every rank
        agreed on), not by the clock, so what a checkpoint holds is exactly what the schedule used.
        """
        self._banked = seconds_so_far
        self._since = self._now()

    def read(self) -> float:
        """Training seconds now; 0 + the banked seconds when not started."""
        if self._since is None:
            return self._banked
        return self._banked + (self._now() - self._since)
