"""A disk cache of slow pre-fills (FSR, ShiftMap), addressed by what they are computed from.

FSR takes 0.3 to 1.3 s per photo, ShiftMap seconds: too slow to run on every training draw.
Training therefore draws each photo's damage from a fixed schedule (data/datasets.py) and
pre-fills it once, at full size as inference does; this cache keeps the result. The key is a hash
of the method, the OpenCV version, the image size and the exact damaged gray and mask bytes, so
a hit is by construction what `prefill` would return, and anything that changes the damage (seed,
damage config, a mask net's new prediction) or the fill (method, OpenCV) misses instead of
returning a stale fill. Entries are lossless PNGs written atomically, so concurrent DataLoader
workers and runs can share one folder. A composite fill (fsr_ns, ...) is cached under its own name
and computed from its parts' cached fills, so a warm fsr_fast cache makes fsr_ns cost one NS fill
per entry. A mirrored part (fsr_fast:h) has its own folder (fsr_fast_h).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from data.io import write_image
from data.prefill import COMPOSITE_PARTS, SLOW_PREFILLS, check_part, check_prefill, combine_fills, prefill, prefill_part
from utils.errors import ChromaFillError

Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (damaged gray HxW uint8, mask HxW bool) -> filled gray
PREFILL_CACHE_FOLDER = "prefill"


class PrefillCache:
    """`prefill(gray, mask, method)`, memoised on disk under `folder/<method>/`; `method` may also be a
    composite's part ("fsr_fast:h", see data/prefill.py), kept under `folder/fsr_fast_h/`."""

    def __init__(self, folder: Path, method: str) -> None:
        if ":" in method:
            check_part(method)
        else:
            check_prefill(method, "prefill method")
        self.folder = Path(folder) / method.replace(":", "_")
        self.method = method

    def key(self, gray: np.ndarray, mask: np.ndarray) -> str:
        digest = hashlib.blake2b(digest_size=20)
        digest.update(f"{self.method}|{cv2.__version__}|{gray.shape}".encode())
        digest.update(np.ascontiguousarray(gray, dtype=np.uint8).tobytes())
        digest.update(np.packbits(mask).tobytes())
        return digest.hexdigest()

    def path(self, gray: np.ndarray, mask: np.ndarray) -> Path:
        key = self.key(gray, mask)
        return self.folder / key[:2] / f"{key}.png"  # 256 subfolders: no folder grows to thousands of files

    def __call__(self, gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
        path = self.path(gray, mask)
        cached = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
        if cached is not None and cached.shape == gray.shape:
            return cached
        filled = self._compute(gray, mask)
        try:
            write_image(path, filled)
        except ChromaFillError as err:  # write_image names the file and the OS error
            raise ChromaFillError(f"cannot write the prefill cache: {err}; set data.cache_dir to a writable folder") from None
        return filled

    def _compute(self, gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if ":" in self.method:
            return prefill_part(gray, mask, self.method)
        parts = COMPOSITE_PARTS.get(self.method)
        if parts is None or not mask.any() or mask.all():
            return prefill(gray, mask, self.method)
        cache_root = self.folder.parent
        fills = [PrefillCache(cache_root, part)(gray, mask) if _is_slow(part) else prefill_part(gray, mask, part)
                 for part in parts]
        return combine_fills(gray, mask, self.method, fills)


def _is_slow(part: str) -> bool:
    return part.partition(":")[0] in SLOW_PREFILLS


def make_filler(method: str, cache_dir: Path | None) -> Filler:
    """What fills holes for `method`: the disk cache for slow methods when there is a folder, else `prefill` itself."""
    check_prefill(method, "prefill method")
    if cache_dir is not None and method in SLOW_PREFILLS:
        return PrefillCache(Path(cache_dir) / PREFILL_CACHE_FOLDER, method)
    return _DirectFiller(method)


class _DirectFiller:
    """`prefill` bound to a method (a class, not a lambda, so DataLoader workers can pickle it)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def __call__(self, gray: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return prefill(gray, mask, self.method)
