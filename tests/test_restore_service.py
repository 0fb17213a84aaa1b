"""trainers/restore_service.py: reading uploads, damage, holes, restoring (also downscaled), the
colour-uncertainty map, scores and the pictures the page shows."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.config import DamageConfig
from tests.bundled_fixture import random_bundled
from trainers import restore_service as rs
from utils.color import pil_luma
from utils.errors import ChromaFillError


@pytest.fixture(scope="module")
def restorer(tmp_path_factory: pytest.TempPathFactory) -> rs.Restorer:
    return rs.load_restorer(random_bundled(tmp_path_factory.mktemp("bundled")))


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth colourful picture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3)


def write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_read_photo_tells_colour_from_gray(tmp_path: Path) -> None:
    colour = rs.read_photo(write(tmp_path / "c.png", photo()))
    gray_rgb = np.repeat(pil_luma(photo())[:, :, None], 3, axis=2)
    gray = rs.read_photo(write(tmp_path / "g.png", gray_rgb))
    assert (colour.name, colour.is_gray, gray.is_gray) == ("c.png", False, True)
    assert colour.rgb.shape == (96, 128, 3)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "c.png: the file is empty (0 bytes), expected an image"),
    (b"hello, not a picture", "c.png: not a readable image (corrupt, truncated or unsupported format)"),
])
def test_read_photo_refuses_what_is_not_a_picture_naming_the_file_not_its_folder(tmp_path: Path, content: bytes,
                                                                                message: str) -> None:
    (tmp_path / "c.png").write_bytes(content)
    with pytest.raises(ChromaFillError) as info:
        rs.read_photo(tmp_path / "c.png")
    assert str(info.value) == message


def test_read_photo_refuses_a_photo_above_the_size_limit_from_its_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "wide.png", np.zeros((4, rs.MAX_SIDE + 1, 3), np.uint8))
    monkeypatch.setattr(rs, "read_rgb", lambda p: pytest.fail("decoded a photo above the limit"))
    with pytest.raises(ChromaFillError, match=rf"wide.png: the photo is {rs.MAX_SIDE + 1}x4 pixels; this page restores "
                                              rf"photos up to {rs.MAX_SIDE} pixels on the long side"):
        rs.read_photo(path)


def test_seeded_damage_is_one_constant_hole_the_same_for_the_same_seed() -> None:
    rgb = photo()
    gray, mask = rs.seeded_damage(rgb, 7)
    again, _ = rs.seeded_damage(rgb, 7)
    other, _ = rs.seeded_damage(rgb, 8)
    assert np.array_equal(gray, again) and not np.array_equal(gray, other)
    cfg = DamageConfig()
    assert cfg.area_min <= mask.mean() <= cfg.area_max and len(np.unique(gray[mask])) == 1
    assert np.array_equal(gray[~mask], pil_luma(rgb)[~mask])


def test_painted_damage_fills_the_painted_region_with_one_gray_and_the_painted_hole_wins() -> None:
    rgb = photo()
    painted = np.zeros(rgb.shape[:2], bool)
    painted[10:30, 40:70] = True
    gray = rs.painted_damage(rgb, painted)
    assert (gray[painted] == rs.PAINT_FILL).all() and np.array_equal(gray[~painted], pil_luma(rgb)[~painted])
    assert np.array_equal(rs.hole_of(gray, painted), painted)
    assert np.array_equal(rs.hole_of(gray, None), painted)  # the constant patch is found without the paint too


def test_restore_keeps_size_and_the_gray_outside_the_hole(restorer: rs.Restorer) -> None:
    rgb = photo(90, 130)
    gray, mask = rs.seeded_damage(rgb, 1)
    result = rs.restore(restorer, gray, mask)
    assert result.rgb.shape == (90, 130, 3) and result.rgb.dtype == np.uint8 and result.model_size == (90, 130)
    # The chroma_bins head keeps the input's luminance outside the hole (to 8-bit rounding, except
    # where the random model's vivid colour is clipped to the RGB cube).
    assert np.median(np.abs(pil_luma(result.rgb).astype(int) - gray)[~mask]) <= 1
    assert result.uncertainty.shape == (90, 130) and 0 <= result.uncertainty.min() <= result.uncertainty.max() <= 1


def test_a_large_photo_is_restored_small_and_composited_onto_its_full_resolution_gray(
        restorer: rs.Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rs, "MODEL_MAX_SIDE", 64)
    rgb = photo(100, 160)
    rgb[:, ::2] = np.clip(rgb[:, ::2].astype(int) + 60, 0, 255)  # 2-pixel stripes: detail a 64-pixel copy loses
    gray, mask = rs.seeded_damage(rgb, 2)
    seen = []
    generator = restorer.generator

    def spy(gray_t: torch.Tensor, mask_t: torch.Tensor, with_logits: bool = False):  # noqa: ANN202
        seen.append(tuple(gray_t.shape[-2:]))
        return generator(gray_t, mask_t, with_logits=with_logits)

    small = rs.Restorer(spy, restorer.prefill, restorer.label, restorer.device, restorer.gives_logits)
    result = rs.restore(small, gray, mask)
    assert seen == [(40, 64)] and result.model_size == (40, 64)
    assert result.rgb.shape == (100, 160, 3) and result.uncertainty.shape == (100, 160)
    # Full-resolution detail outside the hole: the photo's own gray, not an upsampled one.
    upsampled = cv2.resize(cv2.resize(gray, (64, 40), interpolation=cv2.INTER_AREA), (160, 100))
    restored_error = np.median(np.abs(pil_luma(result.rgb).astype(int) - gray)[~mask])
    upsampled_error = np.median(np.abs(upsampled.astype(int) - gray)[~mask])
    assert restored_error <= 1 < upsampled_error, (restored_error, upsampled_error)


def test_chroma_entropy_is_0_when_sure_1_when_uniform_and_upsampled() -> None:
    bins = 9
    sure = torch.full((1, bins, 2, 3), -50.0)
    sure[:, 4] = 50.0
    uniform = torch.zeros(1, bins, 2, 3)
    assert rs.chroma_entropy(sure, (2, 3)).max() < 1e-6
    torch.testing.assert_close(rs.chroma_entropy(uniform, (2, 3)), torch.ones(1, 2, 3))
    half = torch.cat([uniform[..., :1, :], sure[..., :1, :]], dim=2)  # a quarter-resolution map: top sure-not, bottom sure
    up = rs.chroma_entropy(half, (8, 12))
    assert up.shape == (1, 8, 12) and up[0, 0].min() > 0.99 and up[0, -1].max() < 0.01
    two = torch.zeros(1, bins, 1, 1)
    two[:, :2] = 50.0  # two bins alike: log 2 of log 9
    assert rs.chroma_entropy(two, (1, 1)).item() == pytest.approx(math.log(2) / math.log(bins), abs=1e-4)


def test_scores_rate_the_restoration_and_telea_against_the_original() -> None:
    rgb = photo()
    gray, mask = rs.seeded_damage(rgb, 3)
    result = rs.scores(rgb, gray, rgb, mask)
    assert result["restoration"]["score"] == pytest.approx(1.0)
    assert result["telea"]["score"] < 0.9


def test_outline_and_overlay_pictures() -> None:
    gray = np.full((60, 80), 128, np.uint8)
    hole = np.zeros((60, 80), bool)
    hole[20:40, 30:50] = True
    picture = rs.outlined(gray, hole)
    red = np.all(picture == rs.OUTLINE_RGB, axis=2)
    assert red[20, 35] and red[35, 30] and not red[30, 40] and not red[5, 5]
    overlay = rs.uncertainty_overlay(np.zeros((2, 2, 3), np.uint8), np.array([[0.0, 1.0], [0.0, 1.0]], np.float32))
    assert overlay.shape == (2, 2, 3) and overlay[0, 1].sum() > overlay[0, 0].sum()
