"""Helpers for the data tests: generated photo folders and samples read back as uint8."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from data.synthetic import natural_image


def as_uint8(t: torch.Tensor) -> np.ndarray:
    """A sample tensor in [0, 1] as the uint8 values it was made from."""
    return (t * 255).round().byte().numpy()


def write_natural_photos(folder: Path, count: int, height: int, width: int, seed: int = 0) -> Path:
    """`count` generated natural-looking photos as PNGs p0.png, p1.png, ... in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        cv2.imwrite(str(folder / f"p{i}.png"), natural_image(height, width, rng)[:, :, ::-1])
    return folder
