"""Every pre-fill (data.prefill) fills the hole only, with values drawn from the known pixels."""

from __future__ import annotations

import re
import typing

import cv2
import numpy as np
import pytest

from data.config import DataConfig
from data.prefill import PREFILL_METHODS, SLOW_PREFILLS, check_part, combine_fills, prefill, prefill_part
from data.prefill_cache import PrefillCache, make_filler
from trainers.config import config_from_dict
from utils import config as cfgio
from utils.errors import ConfigError

FILLING = [m for m in PREFILL_METHODS if m != "none"]


def damaged(truth: np.ndarray, box: tuple[int, int, int, int], fill: int = 10) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros(truth.shape, bool)
    mask[box[0]:box[1], box[2]:box[3]] = True
    gray = truth.copy()
    gray[mask] = fill
    return gray, mask


def gradient(size: int) -> np.ndarray:
    """A smooth ramp in both directions (no two pixels of a row or column alike)."""
    y, x = np.mgrid[0:size, 0:size]
    return (40 + 2.5 * x + 1.5 * y).astype(np.uint8)


def stripes(size: int) -> np.ndarray:
    """Vertical bars 4 px wide: a texture whose continuation is exact, which smearing cannot reproduce."""
    x = np.mgrid[0:size, 0:size][1]
    return np.where((x // 4) % 2 == 0, 200, 60).astype(np.uint8)


def hole_error(filled: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(filled[mask].astype(float) - truth[mask]).mean())


@pytest.mark.parametrize("method", PREFILL_METHODS)
def test_known_pixels_stay_bit_exact_and_the_hole_is_filled_from_them(method: str) -> None:
    rng = np.random.default_rng(0)
    truth = np.clip(gradient(32).astype(int) + rng.integers(-3, 4, (32, 32)), 0, 255).astype(np.uint8)
    gray, mask = damaged(truth, (10, 20, 12, 22))
    out = prefill(gray, mask, method)
    assert out.dtype == np.uint8 and out.shape == gray.shape
    assert np.array_equal(out[~mask], gray[~mask]), "pixels outside the hole are returned unchanged"
    assert np.array_equal(gray[mask], np.full(mask.sum(), 10)), "the input is not modified"
    if method == "none":
        assert np.array_equal(out, gray)
    else:
        # The constant 10 is far below every known pixel: a fill from the known side lands within their range.
        known = gray[~mask]
        assert known.min() - 5 <= out[mask].min() and out[mask].max() <= known.max() + 5, method


@pytest.mark.parametrize("method", ["fsr_fast", "fsr_best"])
def test_fsr_continues_a_smooth_gradient_almost_exactly(method: str) -> None:
    truth = gradient(32)
    gray, mask = damaged(truth, (10, 20, 12, 22))
    constant = np.full_like(gray, int(round(gray[~mask].mean())))  # the best single gray for the hole
    fsr, telea = prefill(gray, mask, method), prefill(gray, mask, "telea")
    assert hole_error(fsr, truth, mask) < 1.5
    assert hole_error(fsr, truth, mask) < hole_error(constant, truth, mask) / 4
    assert hole_error(fsr, truth, mask) < hole_error(telea, truth, mask)


@pytest.mark.parametrize("method", ["fsr_fast", "shiftmap"])
def test_texture_continuing_fills_reproduce_stripes_that_telea_smears(method: str) -> None:
    truth = stripes(64)
    gray, mask = damaged(truth, (20, 40, 22, 42))
    assert hole_error(prefill(gray, mask, method), truth, mask) < 2.0
    assert hole_error(prefill(gray, mask, "telea"), truth, mask) > 30.0


@pytest.mark.parametrize("method", FILLING)
def test_no_hole_or_all_hole_returns_the_input(method: str) -> None:
    gray = gradient(16)
    for mask in (np.zeros(gray.shape, bool), np.ones(gray.shape, bool)):
        assert np.array_equal(prefill(gray, mask, method), gray)


def test_unknown_method_fails_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="'median'.*fsr_fast, fsr_best, shiftmap"):
        prefill(np.zeros((8, 8), np.uint8), np.zeros((8, 8), bool), "median")


def test_config_allows_exactly_the_prefill_methods() -> None:
    literal = typing.get_type_hints(DataConfig)["prefill"]
    assert typing.get_args(literal) == PREFILL_METHODS


def test_config_rejects_an_unknown_prefill_naming_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"data\.prefill: got 'fsr'.*'telea', 'ns', 'fsr_fast', 'fsr_best', 'shiftmap'"):
        config_from_dict({"data": {"prefill": "fsr"}})
    with pytest.raises(ConfigError, match=r"data\.prefill_damages"):
        config_from_dict({"data": {"prefill_damages": 0}})


def test_the_checkpoint_config_records_the_prefill_and_old_ones_mean_telea() -> None:
    stored = cfgio.to_dict(config_from_dict({"data": {"prefill": "fsr_fast"}}))
    assert config_from_dict(stored).data.prefill == "fsr_fast"
    del stored["data"]["prefill"]  # a checkpoint saved before the key existed
    assert config_from_dict(stored).data.prefill == "telea"


def test_only_slow_methods_are_cached(tmp_path) -> None:
    for method in PREFILL_METHODS:
        filler = make_filler(method, tmp_path)
        assert isinstance(filler, PrefillCache) == (method in SLOW_PREFILLS), method
        assert not isinstance(make_filler(method, None), PrefillCache)


def test_fsr_ns_is_the_rounded_mean_of_its_parts_in_the_hole() -> None:
    rng = np.random.default_rng(3)
    truth = np.clip(gradient(48).astype(int) + rng.integers(-20, 21, (48, 48)), 0, 255).astype(np.uint8)
    gray, mask = damaged(truth, (10, 38, 8, 40))
    fsr, ns = prefill(gray, mask, "fsr_fast").astype(float), prefill(gray, mask, "ns").astype(float)
    assert np.abs(fsr - ns)[mask].max() > 4, "the parts must differ for the mean to be tested"
    out = prefill(gray, mask, "fsr_ns").astype(float)
    assert np.abs(out - (fsr + ns) / 2)[mask].max() <= 0.5


def test_fsr_ns_soft_keeps_the_edge_and_smooths_deep_inside_the_hole() -> None:
    # The parts' fills as fine noise around 120: what the softening does to detail, with nothing else varying.
    rng = np.random.default_rng(5)
    gray, mask = damaged(np.full((96, 96), 120, np.uint8), (8, 88, 8, 88))
    parts = [np.clip(120 + rng.normal(0, 30, gray.shape), 0, 255).astype(np.uint8) for _ in range(2)]
    plain = combine_fills(gray, mask, "fsr_ns", parts).astype(float)
    soft = combine_fills(gray, mask, "fsr_ns_soft", parts).astype(float)
    edge, deep = mask.copy(), np.zeros_like(mask)
    edge[9:87, 9:87] = False  # the hole's outermost ring: blur weight about 0
    deep[40:56, 40:56] = True  # 32 px or more from the edge: the full blur
    assert np.abs(soft - plain)[edge].max() <= 0.1 * np.abs(plain - 120)[edge].max() + 1
    assert soft[deep].std() < plain[deep].std() / 5, "a sigma-4 blur flattens pixel noise"
    assert abs(soft[deep].mean() - plain[deep].mean()) < 2, "blurring shrinks toward the local mean, not elsewhere"
    assert np.array_equal(soft[~mask], gray[~mask])


@pytest.mark.parametrize("method", ["fsr_ns", "fsr_ns_soft"])
def test_a_composite_cache_reuses_the_cached_fsr_fill_and_matches_the_direct_fill(tmp_path, method: str) -> None:
    rng = np.random.default_rng(4)
    truth = np.clip(gradient(48).astype(int) + rng.integers(-20, 21, (48, 48)), 0, 255).astype(np.uint8)
    gray, mask = damaged(truth, (10, 38, 8, 40))
    direct = prefill(gray, mask, method)
    assert np.array_equal(make_filler(method, tmp_path)(gray, mask), direct)
    fsr_cache = PrefillCache(tmp_path / "prefill", "fsr_fast")
    assert fsr_cache.path(gray, mask).is_file(), "the composite filled its FSR part through the fsr_fast cache"
    # A planted FSR entry is what the composite is built from on its next miss (so it is read, not recomputed).
    other_gray = gray.copy()
    other_gray[0, 0] ^= 1
    planted_path = fsr_cache.path(other_gray, mask)
    planted_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(planted_path), np.where(mask, 200, other_gray).astype(np.uint8))
    built = make_filler(method, tmp_path)(other_gray, mask)
    assert abs(built[mask].mean() - (prefill(other_gray, mask, "ns")[mask].mean() + 200) / 2) < 3


def test_a_mirrored_part_fills_the_mirrored_photo_and_mirrors_back() -> None:
    # A ramp rising to the right with a hole at the left edge: mirrored left-right, the hole sits at the right
    # edge of a ramp rising to the left. A fill that forgot to mirror back would put the wrong end of the ramp there.
    truth = gradient(48)
    gray, mask = damaged(truth, (14, 34, 0, 12))
    for part in ("ns:h", "ns:v", "ns:hv", "fsr_fast:h"):
        out = prefill_part(gray, mask, part)
        assert np.array_equal(out[~mask], gray[~mask]), part
        assert hole_error(out, truth, mask) < 12, part  # not mirrored back: 21 (v) to 90 (h)
    assert not np.array_equal(prefill_part(gray, mask, "fsr_fast:hv"), prefill(gray, mask, "fsr_fast")), \
        "FSR visits its blocks in a fixed order, so a mirrored photo gives another guess"


@pytest.mark.parametrize("part", ["fsr_ns:h", "fsr_fast:x", "fsr_fast:", "fsr:h"])
def test_a_malformed_part_is_refused_naming_it(part: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(part))):
        check_part(part)


def test_fsr_flips_ns_soft_is_the_weighted_softened_mean_of_its_parts() -> None:
    rng = np.random.default_rng(6)
    gray, mask = damaged(np.full((96, 96), 120, np.uint8), (8, 88, 8, 88))
    fsr = [np.full(gray.shape, value, np.uint8) for value in (100, 110, 130, 140)]
    ns = np.clip(120 + rng.normal(0, 30, gray.shape), 0, 255).astype(np.uint8)
    out = combine_fills(gray, mask, "fsr_flips_ns_soft", [*fsr, ns]).astype(float)
    edge = mask.copy()
    edge[9:87, 9:87] = False
    expected = 0.7 * 120 + 0.3 * ns.astype(float)  # the four mirrorings' mean is 120
    assert np.abs(out - expected)[edge].max() <= 0.1 * np.abs(expected - 120)[edge].max() + 1
    assert out[40:56, 40:56].std() < 0.3 * ns[40:56, 40:56].std() / 5, "deep inside the NS noise is blurred away"
    assert np.array_equal(out[~mask], gray[~mask])


def test_fsr_flips_ns_soft_keeps_plain_fsr_where_it_is_near_black() -> None:
    # Crushed blacks: the plain FSR fill says 0 on the left half of the hole; the mirrored guesses and NS say brighter.
    # SSIM's luminance term punishes a lifted black most, so there the composite must stay at plain FSR's 0.
    gray, mask = damaged(np.full((64, 64), 90, np.uint8), (8, 56, 8, 56))
    plain = np.where(np.arange(64)[None, :] < 32, 0, 100).astype(np.uint8).repeat(64, 0)
    others = [np.full(gray.shape, 60, np.uint8) for _ in range(4)]
    out = combine_fills(gray, mask, "fsr_flips_ns_soft", [plain, *others])
    assert out[mask & (plain == 0)].max() == 0
    bright = mask & (np.arange(64)[None, :] >= 40)
    assert np.abs(out[bright].astype(float) - (0.175 * 100 + 0.825 * 60)).max() < 6, "elsewhere the mean holds"
    unguarded = combine_fills(gray, mask, "fsr_ns_soft", [plain, others[0]])
    assert unguarded[mask & (plain == 0)].max() > 20, "without the guard the black would lift (the test can fail)"


def test_a_composite_cache_keeps_each_mirrored_fsr_part_in_its_own_folder(tmp_path) -> None:
    rng = np.random.default_rng(4)
    truth = np.clip(gradient(48).astype(int) + rng.integers(-20, 21, (48, 48)), 0, 255).astype(np.uint8)
    gray, mask = damaged(truth, (10, 38, 8, 40))
    direct = prefill(gray, mask, "fsr_flips_ns_soft")
    assert np.array_equal(make_filler("fsr_flips_ns_soft", tmp_path)(gray, mask), direct)
    for part in ("fsr_fast", "fsr_fast:h", "fsr_fast:v", "fsr_fast:hv"):
        cache = PrefillCache(tmp_path / "prefill", part)
        assert cache.folder.name == part.replace(":", "_")
        assert np.array_equal(cv2.imread(str(cache.path(gray, mask)), cv2.IMREAD_UNCHANGED), prefill_part(gray, mask, part))
    assert not (tmp_path / "prefill" / "ns").exists(), "NS is fast: computed, not cached"
