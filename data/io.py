"""Reading and writing images with OpenCV, with one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from utils.atomic import atomic_write_bytes
from utils.color import pil_luma
from utils.errors import ChromaFillError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _read(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise ChromaFillError(f"{path}: image file not found")
    if path.stat().st_size == 0:
        raise ChromaFillError(f"{path}: the file is empty (0 bytes), expected an image")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ChromaFillError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if image.dtype == np.uint16:
        # 16-bit PNGs: keep the 8 most significant bits, as PIL/most viewers do for display.
        image = (image >> 8).astype(np.uint8)
    if image.dtype != np.uint8:
        raise ChromaFillError(f"{path}: unsupported pixel type {image.dtype}, expected 8- or 16-bit")
    return image


def read_rgb(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB; gray images are replicated, alpha is dropped."""
    image = _read(path)
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[:, :, :3]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_gray(path: str | Path) -> np.ndarray:
    """HxW uint8 gray; colour images are converted with PIL's exact L formula."""
    image = _read(path)
    if image.ndim == 2:
        return image
    return pil_luma(read_rgb(path)) if image.shape[2] in (3, 4) else image[:, :, 0]


def write_rgb_png(path: str | Path, rgb: np.ndarray) -> None:
    """Write HxWx3 uint8 RGB as PNG (or as the suffix says), atomically, creating the folder."""
    write_image(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an OpenCV image (gray, or BGR), encoded as its suffix says (PNG without one), atomically.

    Encoded in memory, then written through utils.atomic: a kill or a full disk mid-write leaves
    the previous file (or none), never a truncated image that looks finished. Fails naming the file.
    """
    path = Path(path)
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", image)
    except cv2.error:
        ok = False
    if not ok:
        raise ChromaFillError(f"{path}: could not encode the image as {path.suffix or '.png'}")
    try:
        atomic_write_bytes(path, encoded.tobytes())
    except OSError as err:
        raise ChromaFillError(f"{path}: could not write the image ({err.strerror or err})") from None
