"""Image size and validity from file headers, without decoding the pixels.

Checking every row of DACON's train.csv (2 x 29,603 PNGs) by decoding would take minutes; the
header (plus the PNG/JPEG end marker, which catches truncated files) takes microseconds. A file
whose compressed data is corrupt in the middle passes here and fails later, at load time, with
the one-line error of `data.io`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from data.io import read_rgb
from utils.errors import ChromaFillError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# Larger images are refused from the header, before anything is allocated: decoding a crafted or
# mistaken 20000x20000 file would take gigabytes. 8192x8192 is far above any photo this task needs.
MAX_PIXELS = 8192 * 8192
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ImageInfo:
    height: int
    width: int
    channels: int


def image_info(path: str | Path) -> ImageInfo:
    """Size and channel count of an image file; ChromaFillError naming the file when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise ChromaFillError(f"{path}: image file not found")
    size = path.stat().st_size
    if size == 0:
        raise ChromaFillError(f"{path}: the file is empty (0 bytes), expected an image")
    with path.open("rb") as handle:
        head = handle.read(65536)
        handle.seek(max(0, size - 64))
        tail = handle.read()
    if head.startswith(_PNG_SIGNATURE):
        return _check_pixels(path, _png_info(path, head, tail))
    if head.startswith(b"\xff\xd8"):
        return _check_pixels(path, _jpeg_info(path, head, tail))
    image = read_rgb(path)  # other formats: decode (fails with a one-line error; OpenCV caps the size)
    return _check_pixels(path, ImageInfo(image.shape[0], image.shape[1], 3))


def _check_pixels(path: Path, info: ImageInfo) -> ImageInfo:
    if info.height * info.width > MAX_PIXELS:
        raise ChromaFillError(f"{path}: image is {info.width}x{info.height} pixels, more than the "
                              f"{MAX_PIXELS // 2**20} MP limit (downscale it first)")
    return info


def _png_info(path: Path, head: bytes, tail: bytes) -> ImageInfo:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ChromaFillError(f"{path}: corrupt PNG (no IHDR header)")
    width, height, _depth, colour = struct.unpack(">IIBB", head[16:26])
    (crc,) = struct.unpack(">I", head[29:33])
    if zlib.crc32(head[12:29]) != crc or colour not in _PNG_CHANNELS or not width or not height:
        raise ChromaFillError(f"{path}: corrupt PNG header")
    if not tail.endswith(_PNG_END):
        raise ChromaFillError(f"{path}: truncated PNG (no IEND chunk at the end of the file)")
    return ImageInfo(height, width, _PNG_CHANNELS[colour])


def _jpeg_info(path: Path, head: bytes, tail: bytes) -> ImageInfo:
    if b"\xff\xd9" not in tail:
        raise ChromaFillError(f"{path}: truncated JPEG (no end-of-image marker)")
    pos = 2
    while pos + 9 < len(head):
        if head[pos] != 0xFF:
            pos += 1
            continue
        marker = head[pos + 1]
        if marker in _JPEG_SOF:
            height, width, channels = struct.unpack(">HHB", head[pos + 5 : pos + 10])
            if not width or not height:
                break
            return ImageInfo(height, width, channels)
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", head[pos + 2 : pos + 4])
        pos += 2 + length
    image = read_rgb(path)  # header beyond the first 64 KiB or unusual: decode
    return ImageInfo(image.shape[0], image.shape[1], 3)
