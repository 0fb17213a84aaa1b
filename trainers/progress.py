"""Per-epoch progress: a tqdm bar on a terminal, plain periodic lines otherwise (CI logs, nohup)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

SHOWN = ("loss/g_total", "loss/d_total", "loss/g_pixel")
PLAIN_EVERY_SECONDS = 30.0


class EpochProgress:
    def __init__(self, epoch: int, epochs: int, total: int, done: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.label = f"epoch {epoch}/{epochs}"
        self.total = total
        self.done = done
        self.last_print = time.monotonic()
        self.bar = tqdm(total=total, initial=done, desc=self.label, leave=False, dynamic_ncols=True) if self.tty else None

    def update(self, scalars: dict[str, float], images_per_s: float) -> None:
        self.done += 1
        if not self.enabled:
            return
        shown = {k.split("/")[-1]: f"{scalars[k]:.3f}" for k in SHOWN if k in scalars}
        if self.bar is not None:
            self.bar.set_postfix(shown | {"img/s": f"{images_per_s:.1f}"}, refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last_print >= PLAIN_EVERY_SECONDS:
            self.last_print = time.monotonic()
            terms = " ".join(f"{k}={v}" for k, v in shown.items())
            print(f"{self.label} step {self.done}/{self.total} {terms} img/s={images_per_s:.1f}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
