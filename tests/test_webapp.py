"""webapp/handlers.py: what the page's upload and Restore events return, called directly (no server)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.bundled_fixture import random_bundled
from tests.test_restore_service import photo, write
from trainers import restore_service as rs
from utils.color import pil_luma
from webapp import handlers
from webapp.handlers import DAMAGED, PAINTED, SEEDED, load_upload, painted_mask, restore_upload


@pytest.fixture(scope="module")
def restorer(tmp_path_factory: pytest.TempPathFactory) -> rs.Restorer:
    return rs.load_restorer(random_bundled(tmp_path_factory.mktemp("bundled")))


def brush(shape: tuple[int, int], box: tuple[slice, slice]) -> dict:
    """An ImageEditor value whose one layer has strokes (alpha > 0) in `box`."""
    layer = np.zeros((*shape, 4), np.uint8)
    layer[box] = (255, 48, 48, 255)
    return {"background": None, "layers": [layer], "composite": None}


def test_upload_puts_the_photo_on_the_canvas_and_a_gray_one_switches_to_damaged(tmp_path: Path) -> None:
    colour = load_upload(str(write(tmp_path / "c.png", photo())))
    assert colour.canvas.shape == (96, 128, 3) and colour.mode is None and "128x96 colour photo" in colour.status
    gray = load_upload(str(write(tmp_path / "g.png", np.repeat(pil_luma(photo())[:, :, None], 3, axis=2))))
    assert gray.mode == DAMAGED and "already damaged" in gray.status


@pytest.mark.parametrize(("content", "status"), [
    (None, "Upload a photo (PNG or JPEG)."),
    (b"", "Error: bad.png: the file is empty (0 bytes), expected an image"),
    (b"GIF89a nonsense", "Error: bad.png: not a readable image (corrupt, truncated or unsupported format)"),
])
def test_bad_uploads_are_a_status_line(content: bytes | None, status: str, tmp_path: Path) -> None:
    path = None
    if content is not None:
        path = tmp_path / "bad.png"
        path.write_bytes(content)
    loaded = load_upload(None if path is None else str(path))
    assert loaded.canvas is None and loaded.status == status


def test_painted_mask_reads_the_strokes_at_the_photos_size() -> None:
    assert painted_mask(None, (10, 20)) is None
    assert painted_mask({"layers": [np.zeros((10, 20, 4), np.uint8)]}, (10, 20)) is None
    half = brush((5, 10), (slice(0, 5), slice(0, 5)))  # the canvas held the photo at half size
    mask = painted_mask(half, (10, 20))
    assert mask.shape == (10, 20) and mask[:, :10].all() and not mask[:, 10:].any()


def test_restore_a_seeded_hole_shows_everything_and_writes_the_png(restorer: rs.Restorer, tmp_path: Path) -> None:
    rgb = photo()
    out = restore_upload(restorer, str(write(tmp_path / "cat.png", rgb)), None, SEEDED, 4, tmp_path / "out")
    assert out.status.startswith("Restored cat.png (128x96) in ") and "Random hole (seed 4)" in out.status
    assert out.restored.shape == out.input_view.shape == out.uncertainty.shape == rgb.shape
    assert np.array_equal(out.original, rgb)
    gray, _ = rs.seeded_damage(rgb, 4)
    assert not np.array_equal(out.restored, np.repeat(gray[:, :, None], 3, axis=2))
    assert set(out.scores) == {"restoration", "telea"} and "**restoration**" in out.score_markdown
    assert out.png == tmp_path / "out" / "cat_restored.png"
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(out.png)), cv2.COLOR_BGR2RGB), out.restored)


def test_restore_a_painted_hole(restorer: rs.Restorer, tmp_path: Path) -> None:
    path = str(write(tmp_path / "p.png", photo()))
    missing = restore_upload(restorer, path, None, PAINTED, 0, tmp_path)
    assert missing.restored is None and missing.status.startswith("Error: no hole painted")
    box = (slice(20, 50), slice(30, 90))
    out = restore_upload(restorer, path, brush((96, 128), box), PAINTED, 0, tmp_path)
    outline = np.all(out.input_view == rs.OUTLINE_RGB, axis=2)
    assert outline[20, 60] and outline[35, 30] and not outline[35, 60]
    assert out.scores["restoration"]["score"] > 0 and "filled with gray 40" in out.status


def test_restore_an_already_damaged_gray_photo_finds_its_hole_and_has_no_score(restorer: rs.Restorer, tmp_path: Path) -> None:
    gray, mask = rs.seeded_damage(photo(), 5)
    out = restore_upload(restorer, str(write(tmp_path / "d.png", np.repeat(gray[:, :, None], 3, axis=2))), None, SEEDED, 0,
                         tmp_path)
    assert "The hole was detected." in out.status and out.original is None and out.score_markdown == ""
    outline = np.all(out.input_view == rs.OUTLINE_RGB, axis=2)
    assert outline.any() and (outline & ~mask).sum() < outline.sum()  # drawn on the hole's border


def test_a_gray_photo_without_a_hole_is_only_colourised_and_says_so(restorer: rs.Restorer, tmp_path: Path) -> None:
    gray = np.repeat(pil_luma(photo())[:, :, None], 3, axis=2)
    out = restore_upload(restorer, str(write(tmp_path / "n.png", gray)), None, DAMAGED, 0, tmp_path)
    assert out.restored is not None and "No constant-gray hole was found" in out.status


def test_nothing_uploaded_and_unexpected_failures_are_a_status_line(restorer: rs.Restorer, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert restore_upload(restorer, None, None, SEEDED, 0).status == "Upload a photo first (PNG or JPEG), then press Restore."

    def broken(*args: object) -> None:
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(handlers, "restore", broken)
    out = restore_upload(restorer, str(write(tmp_path / "x.png", photo())), None, SEEDED, 0, tmp_path)
    assert out.status == "Error: the restore failed unexpectedly (RuntimeError: out of cheese)" and out.restored is None
