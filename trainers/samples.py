"""`samples.png` in the run folder: the fixed validation samples as input | prediction | original.

TensorBoard holds the full history, but a newcomer (and a README) wants one picture file to open.
It is rewritten at every validation from the same grid the TensorBoard image shows, so it always
shows the latest model on the same photos with the same damage.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from utils.atomic import atomic_write
from utils.errors import ChromaFillError

SAMPLES_PNG = "samples.png"
_PANELS = 4  # the validation grid's columns: input | mask | prediction | target
_KEEP = (0, 2, 3)  # input | prediction | original


def samples_image(grid: torch.Tensor) -> np.ndarray:
    """HxWx3 uint8 RGB from a validation grid (3 x N*H x 4*W in [0, 1]), without the mask column."""
    width = grid.shape[2] // _PANELS
    panels = [grid[:, :, i * width:(i + 1) * width] for i in _KEEP]
    image = torch.cat(panels, dim=2).clamp(0, 1).mul(255).round().to(torch.uint8)
    return image.permute(1, 2, 0).cpu().numpy()


def write_samples_png(grid: torch.Tensor, path: Path) -> None:
    """Write `samples_image(grid)` to `path` atomically (a viewer never sees a half-written file)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(samples_image(grid), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ChromaFillError(f"{path}: could not encode the samples picture")
    atomic_write(path, lambda handle: handle.write(encoded.tobytes()))
