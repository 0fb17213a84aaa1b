"""data.augment.exposure_prob: training crops clipped bright or dark, the damage kept as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from data.config import AugmentConfig, DamageConfig, DataConfig
from data.datasets import PairDataset, PairOptions
from data.exposure import expose, random_training_exposure
from data.prefill import prefill
from data.sources import photo_items
from data.synthetic import natural_image
from tests.sample_helpers import as_uint8, write_natural_photos
from utils.color import pil_luma
from utils.errors import ConfigError

CROP = 48


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    return write_natural_photos(tmp_path / "photos", 3, 64, 80)


def dataset(photos: Path, prefill_name: str, **augment: object) -> PairDataset:
    options = PairOptions(crop_size=CROP, augment=AugmentConfig(**augment), damage=DamageConfig(area_min=0.08),
                          prefill=prefill_name, prefill_damages=2)
    return PairDataset(photo_items(photos), options, 0, train=True)


def clipped_shares(rgb: np.ndarray) -> tuple[float, float]:
    gray = pil_luma(rgb)
    return float((gray == 255).mean()), float((gray == 0).mean())


@pytest.mark.parametrize("seed", range(12))
def test_the_drawn_exposure_clips_about_the_drawn_share(seed: int) -> None:
    rgb = natural_image(64, 80, np.random.default_rng(seed))
    before_white, before_black = clipped_shares(rgb)
    kind, gain = random_training_exposure(rgb, np.random.default_rng(seed))
    white, black = clipped_shares(expose(rgb, kind, gain))
    share = white if kind == "bright" else black
    assert gain >= 1.0
    # The drawn share lies in [0.1, 0.4]; ties at the quantile can only add pixels to it.
    assert 0.09 <= share <= 0.6, (kind, share)
    assert share > (before_white if kind == "bright" else before_black)


@pytest.mark.parametrize("prefill_name", ["telea", "fsr_fast"])
def test_exposed_crops_keep_the_damage_and_the_input_exact_outside_the_hole(photos: Path, prefill_name: str) -> None:
    plain = dataset(photos, prefill_name)
    exposed = dataset(photos, prefill_name, exposure_prob=1.0)
    kinds = set()
    for epoch in range(3):
        for index in range(3):
            s = exposed[(epoch, index)]
            target = as_uint8(s["target"].permute(1, 2, 0))
            raw, filled = as_uint8(s["raw_input"][0]), as_uint8(s["input"][0])
            hole = as_uint8(s["mask"][0]) > 0
            white, black = clipped_shares(target)
            kinds.add("bright" if white > black else "dark")
            assert max(white, black) >= 0.09
            # Outside the hole the input is the exposed photo's gray; inside, the damage's fill
            # value (one constant) is kept, whatever the exposure.
            assert np.array_equal(raw[~hole], pil_luma(target)[~hole])
            assert np.array_equal(filled[~hole], raw[~hole])
            assert len(np.unique(raw[hole])) == 1
            # The same draw unexposed has the same hole (the damage does not move with exposure).
            assert torch.equal(plain[(epoch, index)]["mask"], s["mask"])
    assert kinds == {"bright", "dark"}


def test_a_fast_prefill_fills_the_exposed_crop(photos: Path) -> None:
    s = dataset(photos, "telea", exposure_prob=1.0)[(0, 0)]
    raw, hole = as_uint8(s["raw_input"][0]), as_uint8(s["mask"][0]) > 0
    assert np.array_equal(as_uint8(s["input"][0]), prefill(raw, hole, "telea"))


def test_a_cached_slow_fill_gets_the_same_exposure(photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-photo fill (what the cache holds) is exposed with the crop's gain and clip."""
    seen: dict[str, object] = {}

    def remember(rgb: np.ndarray, rng: np.random.Generator) -> tuple[str, float]:
        seen["draw"] = random_training_exposure(rgb, rng)
        return seen["draw"]  # type: ignore[return-value]

    monkeypatch.setattr("data.datasets.random_training_exposure", remember)
    plain = dataset(photos, "fsr_fast")[(1, 2)]
    s = dataset(photos, "fsr_fast", exposure_prob=1.0)[(1, 2)]
    kind, gain = seen["draw"]  # type: ignore[misc]
    hole = as_uint8(s["mask"][0]) > 0
    assert hole.any()
    assert np.array_equal(as_uint8(s["input"][0])[hole], expose(as_uint8(plain["input"][0]), kind, gain)[hole])


def test_off_by_default_and_the_random_stream_unchanged(photos: Path) -> None:
    assert AugmentConfig().exposure_prob == 0.0
    a, b = dataset(photos, "telea"), dataset(photos, "telea", exposure_prob=0.0)
    for key in [(0, 0), (2, 1)]:
        assert all(torch.equal(a[key][k], b[key][k]) for k in ("input", "target", "mask"))


def test_whole_photos_with_a_slow_prefill_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"augment\.whole_photo_prob: got 0\.5 with prefill fsr_fast"):
        DataConfig(prefill="fsr_fast", augment=AugmentConfig(whole_photo_prob=0.5)).check()
    DataConfig(prefill="telea", augment=AugmentConfig(whole_photo_prob=0.5)).check()
