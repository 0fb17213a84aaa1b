"""Bad data through the CLI and inside DataLoader workers: one line naming the file, or documented handling.

The unit-level checks of each CSV/file problem live in test_data_dacon.py; here the same problems
go through `train.py` (exit code 2, one `error:` line, no traceback), plus the odd-but-valid image
kinds (16-bit, RGBA, palette) that are converted rather than refused.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from data.build import build_datasets
from data.config import AugmentConfig, DataConfig, ValConfig
from data.headers import MAX_PIXELS, image_info
from tests.dacon_fixture import make_dacon_root
from tests.fault_helpers import assert_one_error_line, run_script
from trainers.config import load_config
from utils.color import pil_luma
from utils.errors import ChromaFillError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"


def png_with_header(path: Path, width: int, height: int) -> Path:
    """A structurally valid PNG whose IHDR claims width x height but holds almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
                     + chunk(b"IEND", b""))
    return path


def rewrite_row(root: Path, index: int, text: str) -> None:
    lines = (root / "train.csv").read_text().splitlines()
    lines[index] = text
    (root / "train.csv").write_text("\n".join(lines) + "\n")


def train_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", str(SMOKE), f"data.root={root}", f"experiment.output_dir={out}", *extra]


def train_cli(root: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """A real `python train.py` process: needed where DataLoader worker processes are part of the case."""
    cmd = [sys.executable, "train.py", *train_args(root, out, *extra)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


CLI_CASES = {
    "empty folder": (lambda r: [p.unlink() for p in r.rglob("*") if p.is_file()], "train.csv: CSV file not found"),
    "missing column": (lambda r: rewrite_row(r, 0, "id,input_image_path,gt_path"), "missing column 'gt_image_path'"),
    "duplicate id": (lambda r: rewrite_row(r, 2, "TRAIN_00000,./train_input/TRAIN_00001.png,./train_gt/TRAIN_00001.png"),
                     "row 2 (id TRAIN_00000): duplicate id, already used in row 1"),
    "path escaping the root": (lambda r: rewrite_row(r, 1, "TRAIN_00000,../../etc/passwd,./train_gt/TRAIN_00000.png"),
                               "row 1 (id TRAIN_00000): path '../../etc/passwd' points outside the dataset folder"),
    "truncated png": (lambda r: (r / "train_gt" / "TRAIN_00003.png").write_bytes((r / "train_gt" / "TRAIN_00003.png").read_bytes()[:200]),
                      "TRAIN_00003.png: truncated PNG"),
    "0-byte file": (lambda r: (r / "train_input" / "TRAIN_00002.png").write_bytes(b""), "TRAIN_00002.png: the file is empty (0 bytes)"),
    "huge header": (lambda r: [png_with_header(r / sub / "TRAIN_00001.png", 20000, 20000) for sub in ("train_gt", "train_input")],
                    "TRAIN_00001.png: image is 20000x20000 pixels, more than the 64 MP limit"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_dataset_through_train_py_is_one_line(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    root = make_dacon_root(tmp_path / "data", n_train=5, n_test=1, size=(64, 64))
    damage, expected = CLI_CASES[case]
    damage(root)
    result = run_script("train", train_args(root, tmp_path / "runs"), monkeypatch, capsys)
    assert_one_error_line(result, expected)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs" / "smoke" / "last.pt").exists()


def test_photos_format_empty_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "notes.txt").write_text("not a photo")
    result = run_script("train", train_args(tmp_path / "photos", tmp_path / "runs", "data.format=photos"), monkeypatch, capsys)
    assert_one_error_line(result)
    assert result.stderr.strip() == f"error: {tmp_path / 'photos'}: no images found (looked recursively for " \
                                    ".png, .jpg, .jpeg, .bmp, .webp, .tif, .tiff)"


def test_huge_header_is_refused_without_decoding(tmp_path: Path) -> None:
    # 20000 x 20000 x 3 bytes would be 1.2 GB: the header alone decides, the pixels are never read.
    path = png_with_header(tmp_path / "huge.png", 20000, 20000)
    with pytest.raises(ChromaFillError, match=r"huge.png: image is 20000x20000 pixels, more than the 64 MP limit"):
        image_info(path)
    side = int(MAX_PIXELS ** 0.5)
    assert image_info(png_with_header(tmp_path / "edge.png", side, side)).width == side  # the limit itself passes


def _odd_kinds_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A DACON root whose files are 16-bit, RGBA and palette PNGs; returns the expected 8-bit RGB targets."""
    root = make_dacon_root(tmp_path / "odd", n_train=4, n_test=1, size=(64, 64))
    expected = {}
    for i, kind in enumerate(("16-bit", "rgba", "palette", "plain")):
        gt_path = root / "train_gt" / f"TRAIN_{i:05d}.png"
        rgb = cv2.cvtColor(cv2.imread(str(gt_path)), cv2.COLOR_BGR2RGB)
        if kind == "16-bit":  # the 8 significant bits are kept
            cv2.imwrite(str(gt_path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
            gray_path = root / "train_input" / gt_path.name
            cv2.imwrite(str(gray_path), cv2.imread(str(gray_path), cv2.IMREAD_UNCHANGED).astype(np.uint16) * 257)
        elif kind == "rgba":  # alpha is dropped
            Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 77, np.uint8)]), "RGBA").save(gt_path)
        elif kind == "palette":  # expanded to RGB through its palette
            gray_path = root / "train_input" / gt_path.name
            gray = cv2.imread(str(gray_path), cv2.IMREAD_GRAYSCALE)
            mask = gray != pil_luma(rgb)  # the hole, kept in the input rebuilt from the quantized colours
            pal = Image.fromarray(rgb).quantize(64)
            pal.save(gt_path)
            rgb = np.asarray(pal.convert("RGB"))
            new_gray = pil_luma(rgb)
            new_gray[mask] = gray[mask]
            cv2.imwrite(str(gray_path), new_gray)
        expected[gt_path.name] = rgb
    return root, expected


def test_16_bit_rgba_and_palette_images_are_converted_to_8_bit_rgb(tmp_path: Path) -> None:
    root, expected = _odd_kinds_root(tmp_path)
    assert Image.open(root / "train_gt" / "TRAIN_00002.png").mode == "P"
    assert Image.open(root / "train_gt" / "TRAIN_00001.png").mode == "RGBA"
    cfg = DataConfig(root=str(root), crop_size=64, val=ValConfig(fraction=0.0), prefill="none",
                     augment=AugmentConfig(hflip=False))
    train = build_datasets(cfg, seed=0).train
    for key in range(len(train)):
        sample = train[key]
        target = (sample["target"].permute(1, 2, 0) * 255).round().byte().numpy()
        assert np.array_equal(target, expected[sample["name"]]), sample["name"]
        gray = (sample["raw_input"][0] * 255).round().byte().numpy()
        mask = sample["mask"][0].numpy() > 0.5
        assert np.array_equal(gray[~mask], pil_luma(target)[~mask]), sample["name"]  # the true mask survives
        assert 0 < mask.mean() < 0.2, sample["name"]


def test_file_unreadable_after_the_check_fails_in_a_worker_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import trainers.loop as loop

    root = make_dacon_root(tmp_path / "data", n_train=6, n_test=1, size=(64, 64))
    original = loop.build_datasets

    def then_corrupt(*args, **kwargs):  # the up-front check passed; the file breaks afterwards
        splits = original(*args, **kwargs)
        for path in (root / "train_gt").glob("*.png"):
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
        return splits

    monkeypatch.setattr(loop, "build_datasets", then_corrupt)
    config = load_config(SMOKE, [f"data.root={root}", f"experiment.output_dir={tmp_path / 'runs'}", "data.num_workers=2",
                                 "train.test.enabled=false"])
    with pytest.raises(ChromaFillError) as info:
        loop.run_training(config)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert "train_gt/TRAIN_0000" in message and "not a readable image" in message, message


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_pixel_data_found_at_load_time_is_one_error_line(tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    # Header and end marker intact, compressed data broken: only decoding (in a worker) can tell.
    root = make_dacon_root(tmp_path / "data", n_train=5, n_test=1, size=(64, 64))
    path = root / "train_gt" / "TRAIN_00001.png"
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0x55
    path.write_bytes(bytes(data))
    args = (f"data.num_workers={workers}", "train.test.enabled=false")
    if workers:  # a real process, so the worker processes and their error path are the real ones
        done = train_cli(root, tmp_path / "runs", *args)
    else:
        done = run_script("train", train_args(root, tmp_path / "runs", *args), monkeypatch, capsys)
    assert "DataLoader worker" not in done.stderr, done.stderr
    # libpng may print its own "libpng error: ..." diagnostic line before ours (only in a real process).
    line = assert_one_error_line(done)
    assert line == f"error: {path}: not a readable image (corrupt, truncated or unsupported format)", done.stderr
