"""TensorBoard logging from rank 0, continuing the same step axis after a resume."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter

TB_FOLDER = "tensorboard"


class TensorBoardLogger:
    def __init__(self, run_dir: Path, start_step: int, enabled: bool = True) -> None:
        # A resumed run hides the events a killed run wrote *after* its checkpoint, so curves go on
        # without duplicated points. The purge starts one step past the checkpoint's step: events
        # at that step (the validation scores and images of the epoch the checkpoint closed) were
        # written before the checkpoint and belong to the run; TensorBoard hides purge_step itself.
        purge_step = start_step + 1 if start_step else None
        self.writer = SummaryWriter(str(run_dir / TB_FOLDER), purge_step=purge_step) if enabled else None

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """A CxHxW image in [0, 1]."""
        if self.writer is not None:
            self.writer.add_image(tag, image.clamp(0, 1), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
