"""A small DACON-layout dataset generated on the fly, shared by the trainer and CLI tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from utils.color import pil_luma


def _photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colourful smooth image with some texture (uint8 RGB)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [127 + 100 * np.sin(xx / rng.uniform(6, 20) + rng.uniform(0, 6)) * np.cos(yy / rng.uniform(6, 20)) for _ in range(3)]
    image = np.stack(channels, axis=2) + rng.normal(0, 8, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _damage(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gray = pil_luma(rgb)
    h, w = gray.shape
    top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
    gray[top:top + h // 4, left:left + w // 4] = rng.integers(0, 100)
    return gray


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)


def make_dacon_root(root: Path, n_train: int = 6, n_test: int = 2, size: tuple[int, int] = (80, 96), seed: int = 0) -> Path:
    """root/train.csv, train_input/, train_gt/, test.csv, test_input/ as the competition ships them."""
    rng = np.random.default_rng(seed)
    rows = ["id,input_image_path,gt_image_path"]
    for i in range(n_train):
        rgb = _photo(rng, *size)
        name = f"TRAIN_{i:05d}.png"
        _write(root / "train_gt" / name, rgb)
        _write(root / "train_input" / name, _damage(rgb, rng))
        rows.append(f"TRAIN_{i:05d},./train_input/{name},./train_gt/{name}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    test_rows = ["id,input_image_path"]
    for i in range(n_test):
        name = f"TEST_{i:03d}.png"
        test_size = (size[0] + 8 * i, size[1] - 4 * i)  # different sizes on purpose
        _write(root / "test_input" / name, _damage(_photo(rng, *test_size), rng))
        test_rows.append(f"TEST_{i:03d},./test_input/{name}")
    (root / "test.csv").write_text("\n".join(test_rows) + "\n")
    return root
