"""scikit-image's bundled colour photos as a tiny ready-made dataset (`data.format: samples`).

The demo must run anywhere in minutes with nothing to download, so it trains on the sample photos
that ship inside the scikit-image wheel. They are written once as PNGs under `data.root`:

    root/photos/       training (and validation) photos, RGB
    root/test_input/   held-out photos with fixed, seeded DACON-style damage (gray, mode L)
    root/test_gt/      their originals, so `evaluate.py` can score the demo's test predictions

Photos are shrunk so their longer side is at most MAX_SIDE pixels: the demo trains small models at
small sizes, and full-size photos (retina is 1411x1411) would only slow reading and validation.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.io import write_rgb_png
from utils.atomic import atomic_write_bytes
from utils.errors import ChromaFillError

log = logging.getLogger(__name__)

MAX_SIDE = 256
# Distinct scenes only (the right stereo view of the motorcycle would leak into validation).
TRAIN_PHOTOS = ("astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "motorcycle")
TEST_PHOTOS = ("chelsea", "coffee")
_MARKER = "samples.json"
_DAMAGE_SEED = 2024  # fixed: the held-out test damage is the same on every machine and run


def _loader(name: str) -> Callable[[], np.ndarray]:
    import skimage.data  # imported here: only the samples format needs it

    if name == "motorcycle":
        return lambda: skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)


def load_sample(name: str) -> np.ndarray | None:
    """One bundled photo as HxWx3 uint8 RGB, shrunk to MAX_SIDE; None when this install lacks it."""
    try:
        image = np.asarray(_loader(name)())
    except (AttributeError, ImportError, OSError, ValueError) as err:  # missing file, or needs a download
        log.warning("scikit-image sample %r is not available offline (%s); skipped", name, err)
        return None
    image = image[..., :3].astype(np.uint8)
    scale = MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def ensure_samples(root: Path, damage: DamageConfig) -> tuple[Path, Path]:
    """Write the sample dataset under `root` unless it is already there; (photos folder, test input folder)."""
    photos, test_input, test_gt = root / "photos", root / "test_input", root / "test_gt"
    marker = root / _MARKER
    if marker.is_file():
        return photos, test_input
    written = {"train": _write_photos(photos, TRAIN_PHOTOS), "test": _write_test(test_input, test_gt, damage)}
    if not written["train"] or not written["test"]:
        raise ChromaFillError(
            "data.format=samples: this scikit-image install lacks the bundled sample photos "
            f"(need some of {', '.join(TRAIN_PHOTOS)} and of {', '.join(TEST_PHOTOS)}); reinstall scikit-image"
        )
    atomic_write_bytes(marker, (json.dumps(written, indent=1) + "\n").encode())  # last: a half-written folder is redone
    return photos, test_input


def _write_photos(folder: Path, names: tuple[str, ...]) -> list[str]:
    done = []
    for name in names:
        image = load_sample(name)
        if image is not None:
            write_rgb_png(folder / f"{name}.png", image)
            done.append(name)
    return done


def _write_test(input_dir: Path, gt_dir: Path, damage: DamageConfig) -> list[str]:
    input_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for index, name in enumerate(TEST_PHOTOS):
        image = load_sample(name)
        if image is None:
            continue
        gray, _ = synthesize_damage(image, np.random.default_rng([_DAMAGE_SEED, index]), damage)
        if not cv2.imwrite(str(input_dir / f"{name}.png"), gray):
            raise ChromaFillError(f"{input_dir / name}.png: could not write the damaged test photo")
        write_rgb_png(gt_dir / f"{name}.png", image)
        done.append(name)
    return done
