"""Paired augmentation keeps input, target and mask aligned."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from data.augment import ensure_size, random_crop, random_crop_filled, whole_photo, whole_photo_pair
from data.config import AugmentConfig, DamageConfig
from data.damage import synthesize_damage
from data.datasets import PairDataset, PairOptions
from data.sources import PairItem
from data.synthetic import natural_image
from utils.color import pil_luma
from utils.errors import ChromaFillError


def coordinate_image(h: int, w: int) -> np.ndarray:
    """RGB encoding each pixel's position, so any misalignment shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([yy % 256, xx % 256, (yy // 256) * 16 + (xx // 256)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("scale", [(1.0, 1.0), (0.6, 1.5)])
def test_crop_flip_and_scale_keep_the_triple_aligned(scale: tuple[float, float]) -> None:
    cfg = AugmentConfig(hflip=True, scale_min=scale[0], scale_max=scale[1])
    rng = np.random.default_rng(0)
    flips = 0
    for i in range(60):
        rgb = natural_image(90, 120, rng)
        gray, mask = synthesize_damage(rgb, rng, DamageConfig(area_min=0.1, area_max=0.13))
        fill = int(gray[mask][0])
        g, t, m = random_crop(gray, rgb, mask if i % 2 else None, rng, 64, cfg)
        assert g.shape == (64, 64) and t.shape == (64, 64, 3) and m.shape == (64, 64) and m.dtype == bool
        assert np.array_equal(g[~m], pil_luma(t)[~m]), "input == L(target) outside the mask"
        assert np.all(g[m] == fill), "the mask covers exactly the constant fill"
        if scale == (1.0, 1.0):
            flips += int(_is_flipped(t, rgb))
    if scale == (1.0, 1.0):
        assert 15 < flips < 45, "flips happen about half the time"


def _is_flipped(crop: np.ndarray, full: np.ndarray) -> bool:
    """Whether `crop` occurs in `full` mirrored (searching every window)."""
    h, w = crop.shape[:2]
    for top in range(full.shape[0] - h + 1):
        for left in range(full.shape[1] - w + 1):
            window = full[top : top + h, left : left + w]
            if np.array_equal(window, crop):
                return False
            if np.array_equal(window[:, ::-1], crop):
                return True
    raise AssertionError("the crop is not a window of the image")


def test_crop_is_a_window_of_the_image_at_the_same_place_for_all_three() -> None:
    rgb = coordinate_image(100, 140)
    gray = pil_luma(rgb)
    mask = np.zeros((100, 140), bool)
    mask[::3, ::5] = True
    rng = np.random.default_rng(1)
    for _ in range(30):
        g, t, m = random_crop(gray, rgb, mask, rng, 40, AugmentConfig(hflip=True))
        top, left = int(t[:, :, 0].min()), int(t[:, :, 1].min())
        flipped = t[0, 0, 1] != left
        window = np.s_[top : top + 40, left : left + 40]
        expect = (lambda a: a[:, ::-1]) if flipped else (lambda a: a)
        assert np.array_equal(t, expect(rgb[window]))
        assert np.array_equal(g, expect(gray[window]))
        assert np.array_equal(m, expect(mask[window]))


def test_crop_larger_than_image_fails_clearly_or_pads() -> None:
    rgb = coordinate_image(30, 50)
    gray = pil_luma(rgb)
    with pytest.raises(ChromaFillError, match=r"photo.jpg: image is 50x30 pixels, smaller than data.crop_size 40"):
        ensure_size(gray, rgb, None, 40, False, "photo.jpg", "data.crop_size")
    g, t, m = ensure_size(gray, rgb, np.zeros((30, 50), bool), 40, True, "photo.jpg", "data.crop_size")
    assert g.shape == (40, 50) and t.shape == (40, 50, 3) and m.shape == (40, 50)
    assert np.array_equal(g, pil_luma(t)), "padding keeps input == L(target)"
    g, t, m = random_crop(g, t, m, np.random.default_rng(0), 40, AugmentConfig())
    assert t.shape == (40, 40, 3)


def test_whole_photo_is_the_centred_square_shrunk_to_the_crop_size() -> None:
    rgb = coordinate_image(90, 120)  # R = row, G = column: the centred square spans columns 15..104
    t = whole_photo(rgb, 45)
    assert t.shape == (45, 45, 3) and t.dtype == np.uint8
    rows, cols = t[:, :, 0].astype(int), t[:, :, 1].astype(int)
    assert abs(rows[0, 0] - 0) <= 1 and abs(rows[-1, 0] - 89) <= 1, "all rows, top to bottom"
    assert abs(cols[0, 0] - 15) <= 1 and abs(cols[0, -1] - 104) <= 1, "the centred 90 columns, not the full 120"
    assert np.array_equal(whole_photo(rgb[:, 15:105], 90), rgb[:, 15:105]), "a square at the crop size is unchanged"


def _uint8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0) * 255).round().byte().numpy() if t.shape[0] == 3 else (t[0] * 255).round().byte().numpy()


def _photo_items(folder: Path, count: int) -> list[PairItem]:
    rng = np.random.default_rng(3)
    items = []
    for i in range(count):
        path = folder / f"p{i}.png"
        cv2.imwrite(str(path), natural_image(90, 120, rng)[:, :, ::-1])
        items.append(PairItem(path.name, path, None, 90, 120))
    return items


def test_whole_photo_samples_are_the_whole_scene_with_damage_drawn_at_the_crop_size(tmp_path: Path) -> None:
    """Every sample is the whole photo at 48x48 (or its mirror image), damaged exactly, with the
    hole covering 1-13 % of the 48x48 image."""
    items = _photo_items(tmp_path, 3)
    damage = DamageConfig()
    options = PairOptions(crop_size=48, augment=AugmentConfig(whole_photo_prob=1.0), damage=damage, prefill="none")
    dataset = PairDataset(items, options, seed=0, train=True)
    flips = 0
    for epoch in range(8):
        for index, item in enumerate(items):
            sample = dataset[(epoch, index)]
            gray, target, mask = _uint8(sample["raw_input"]), _uint8(sample["target"]), sample["mask"][0].numpy() > 0.5
            assert gray.shape == mask.shape == (48, 48) and target.shape == (48, 48, 3)
            assert damage.area_min <= mask.mean() <= damage.area_max
            assert np.array_equal(gray[~mask], pil_luma(target)[~mask]) and len(np.unique(gray[mask])) == 1
            whole = whole_photo(cv2.imread(str(item.target))[:, :, ::-1], 48)
            flipped = np.array_equal(target, whole[:, ::-1])
            assert flipped or np.array_equal(target, whole)
            flips += int(flipped)
    assert 0 < flips < 24, "whole photos are flipped like crops"


def test_whole_photo_prob_mixes_whole_photos_and_crops(tmp_path: Path) -> None:
    items = _photo_items(tmp_path, 4)

    def dataset(**augment) -> PairDataset:
        return PairDataset(items, PairOptions(48, AugmentConfig(hflip=False, **augment), DamageConfig(), "none"), seed=0, train=True)

    half = dataset(whole_photo_prob=0.5)
    whole_count = 0
    for epoch in range(5):
        for index, item in enumerate(items):
            target = _uint8(half[(epoch, index)]["target"])
            whole_count += int(np.array_equal(target, whole_photo(cv2.imread(str(item.target))[:, :, ::-1], 48)))
    assert 3 <= whole_count <= 17, f"about half of 20 samples are whole photos, got {whole_count}"


def test_whole_photo_of_a_dacon_pair_keeps_its_own_damage() -> None:
    rng = np.random.default_rng(5)
    rgb = natural_image(96, 128, rng)
    gray, mask = synthesize_damage(rgb, rng, DamageConfig(area_min=0.05, area_max=0.08))
    g, t, m = whole_photo_pair(gray, rgb, None, 48)
    assert g.shape == m.shape == (48, 48) and np.array_equal(t, whole_photo(rgb, 48))
    assert np.array_equal(g[~m], pil_luma(t)[~m]) and np.all(g[m] == gray[mask][0])
    square_fraction = mask[:, 16:112].mean()
    assert abs(m.mean() - square_fraction) < 0.01, "the hole shrinks with the photo"


def _small_hole_photo(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 180x240 photo with a 1-2 % hole: a 48-px crop of it misses the hole most of the time."""
    rng = np.random.default_rng(seed)
    rgb = natural_image(180, 240, rng)
    gray, mask = synthesize_damage(rgb, rng, DamageConfig(area_min=0.01, area_max=0.02))
    return gray, rgb, mask


@pytest.mark.parametrize("known_mask", [True, False], ids=["photo", "dacon_pair"])
def test_hole_crops_always_hold_the_hole_and_still_move(known_mask: bool) -> None:
    """hole_crop_prob=1: every crop holds part of the hole, whether the mask is given (a damaged
    photo) or found as input != L(target) (a DACON pair), stays exact, and lands in many places."""
    cfg = AugmentConfig(hflip=True, scale_min=0.7, scale_max=1.0, hole_crop_prob=1.0)
    rng = np.random.default_rng(0)
    places = set()
    for seed in range(6):
        gray, rgb, mask = _small_hole_photo(seed)
        fill = int(gray[mask][0])
        for _ in range(10):
            g, t, m = random_crop(gray, rgb, mask if known_mask else None, rng, 48, cfg)
            assert m.any(), "the crop holds hole pixels"
            assert np.array_equal(g[~m], pil_luma(t)[~m]) and np.all(g[m] == fill)
            places.add((seed, t.tobytes()[:64]))
    assert len(places) > 40, "crops around the hole still vary"


def test_hole_crop_prob_sets_how_often_a_crop_is_placed_by_the_hole() -> None:
    def hits(prob: float) -> int:
        rng = np.random.default_rng(1)
        count = 0
        for seed in range(40):
            gray, rgb, mask = _small_hole_photo(seed)
            count += int(random_crop(gray, rgb, mask, rng, 48, AugmentConfig(hole_crop_prob=prob))[2].any())
        return count

    uniform, half, always = hits(0.0), hits(0.5), hits(1.0)
    assert uniform < 24, f"a uniform 48-px crop misses a 1-2 % hole often, hit {uniform} of 40"
    assert always == 40 and uniform < half < always


def test_hole_crops_of_a_slow_prefill_keep_the_quadruple_aligned() -> None:
    gray, rgb, mask = _small_hole_photo(7)
    filled = cv2.inpaint(gray, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    rng = np.random.default_rng(2)
    for _ in range(20):
        g, f, t, m = random_crop_filled(gray, filled, rgb, mask, rng, 48, AugmentConfig(hole_crop_prob=1.0, scale_min=0.6))
        assert m.any() and np.array_equal(f[~m], g[~m]) and np.array_equal(g[~m], pil_luma(t)[~m])


def test_dataset_hole_crops_reach_every_training_sample(tmp_path: Path) -> None:
    items = _photo_items(tmp_path, 4)
    damage = DamageConfig(area_min=0.01, area_max=0.02)
    options = PairOptions(crop_size=40, augment=AugmentConfig(hole_crop_prob=1.0), damage=damage, prefill="telea")
    dataset = PairDataset(items, options, seed=0, train=True)
    assert all(dataset[(epoch, index)]["mask"].any() for epoch in range(5) for index in range(4))
