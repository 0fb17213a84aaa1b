"""Which validated weights best.pt holds: a window of val/score, read against its standard error.

The rule, for `train.validation.select_window` N and `select_tolerance` k (both in the config):

1. Every whole-epoch validation appends its val/score s to the last N scores; its standard error
   e (of the mean over the validation images, `val/score_sem`) comes with it.
2. Until N scores exist, best.pt follows the latest validated weights: a mean of fewer scores is
   noisier than a full window and is never compared with one.
3. From then on the *best window* B is the highest mean of N consecutive scores seen. best.pt
   moves to the latest weights when their window mean m is at most k * e below B
   (m >= B - k * e, e the latest validation's error), and otherwise stays where it is. Older
   weights are kept only when they beat the latest by more than the latest validation's standard
   error (k = 1): a smaller difference is what re-drawing the validation photos could undo, and
   the later weights have trained longer. With fewer than 2 validation images e is undefined and
   the comparison is strict (m >= B); k = 0 is the strict rule as well.

Only whole-epoch validations enter the window. A `train.max_minutes` cut scores its weights with
`preview`, which answers the same question without recording the score, so a cut-and-resumed run
keeps exactly the window of an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace


@dataclass
class Selection:
    window: int
    tolerance: float
    recent: list[float] = field(default_factory=list)  # the last `window` whole-epoch val/score values
    best: float = float("-inf")  # the best full-window mean so far (-inf until the window is full)

    def add(self, score: float, sem: float) -> tuple[bool, float]:
        """Record a whole-epoch validation; returns (best.pt moves to these weights, their window mean)."""
        self.recent = (self.recent + [score])[-self.window:]
        mean = sum(self.recent) / len(self.recent)
        if len(self.recent) < self.window:
            return True, mean
        self.best = max(self.best, mean)
        margin = self.tolerance * sem if math.isfinite(sem) else 0.0
        return mean >= self.best - margin, mean

    def preview(self, score: float, sem: float) -> tuple[bool, float]:
        """What `add` would answer, leaving the window and the best window untouched."""
        return replace(self, recent=list(self.recent)).add(score, sem)

    @property
    def validated(self) -> bool:
        """Whether any whole epoch was validated yet (before that, best.pt follows the latest epoch)."""
        return bool(self.recent)
