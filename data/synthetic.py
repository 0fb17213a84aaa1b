"""Generated natural-looking colour photos, for tests and benchmarks that must not ship real data.

Smooth colour gradients (low-frequency random fields) plus fine texture and a few sharp-edged
objects: enough structure that hole detection, splits and loaders are exercised as on photos.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data.config import DamageConfig
from data.damage import synthesize_damage


def natural_image(height: int, width: int, rng: np.random.Generator, texture: float = 4.0) -> np.ndarray:
    """An HxWx3 uint8 RGB image: smooth random colour field + objects + Gaussian texture."""
    coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(2, 6))):
        colour = rng.uniform(0, 255, 3).tolist()
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(width // 16 + 1, width // 3 + 2)), int(rng.integers(height // 16 + 1, height // 3 + 2)))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, thickness=-1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5)
    image += rng.normal(0, texture, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_dacon_dataset(root: Path, count: int, size: int, rng: np.random.Generator, damage: DamageConfig, tests: int = 0) -> None:
    """A DACON-layout dataset (train.csv, train_input/, train_gt/, optional test.csv) of generated photos."""
    for sub in ("train_input", "train_gt", "test_input"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rows = ["id,input_image_path,gt_image_path"]
    for i in range(count):
        name = f"TRAIN_{i:05d}"
        rgb = natural_image(size, size, rng)
        gray, _ = synthesize_damage(rgb, rng, damage)
        cv2.imwrite(str(root / "train_input" / f"{name}.png"), gray)
        cv2.imwrite(str(root / "train_gt" / f"{name}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        rows.append(f"{name},./train_input/{name}.png,./train_gt/{name}.png")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    if tests:
        rows = ["id,input_image_path"]
        for i in range(tests):
            gray, _ = synthesize_damage(natural_image(size, size, rng), rng, damage)
            cv2.imwrite(str(root / "test_input" / f"TEST_{i:03d}.png"), gray)
            rows.append(f"TEST_{i:03d},./test_input/TEST_{i:03d}.png")
        (root / "test.csv").write_text("\n".join(rows) + "\n")
