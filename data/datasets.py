"""Training and validation samples from DACON pairs or from colour photos damaged on the fly.

A sample is a dict of tensors: `input` (1xHxW, the damaged gray with the hole pre-filled; outside
the mask exactly the damaged gray), `raw_input` (1xHxW, the damaged gray before pre-filling: what
a mask detector sees at test time), `target` (3xHxW RGB), `mask` (1xHxW, 1 = lost), all float32
in [0, 1], and `name` (the file name).

Randomness comes from a generator seeded by (seed, epoch, index), never from worker state: a
sample is the same whatever the number of workers, differs between epochs, and epoch e of a
resumed run sees exactly what a straight run saw. The epoch reaches the workers inside the index
(see data/loader.py), so it works with persistent workers.

The pre-fill runs where it is cheap enough. Fast ones (telea, ns) run on each training crop with
fresh damage at every draw. Slow ones (fsr_fast, fsr_best, shiftmap; ~1 s per photo) run on the
whole damaged photo, as at inference, so a crop sees exactly the fill the model gets at test
time: the damage then comes from a fixed schedule of `prefill_damages` damages per photo (epoch
e uses damage e mod N, seeded apart from the crop), so each (photo, damage) is pre-filled once and
served from the disk cache (data/prefill_cache.py) afterwards; crops and flips stay fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from data.augment import center_crop, ensure_size, random_crop, random_crop_filled, random_flip, whole_photo, whole_photo_pair
from data.config import AugmentConfig, DamageConfig
from data.damage import synthesize_damage
from data.exposure import expose, random_training_exposure
from data.io import read_gray, read_rgb
from data.prefill import SLOW_PREFILLS
from data.prefill_cache import Filler, make_filler
from data.sources import PairItem
from utils.color import pil_luma
from utils.errors import ChromaFillError

Key = int | tuple[int, int]


def split_key(key: Key) -> tuple[int, int]:
    """(epoch, index) from a plain index (epoch 0) or an (epoch, index) pair from EpochSampler."""
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return 0, int(key)


def to_tensor_gray(gray: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(gray)).float().div_(255.0).unsqueeze(0)


def make_sample(gray: np.ndarray, rgb: np.ndarray | None, mask: np.ndarray, name: str, filled: np.ndarray) -> dict:
    """The sample dict from uint8 damaged gray, uint8 RGB target (None at test time), bool mask and the pre-filled gray."""
    sample = {
        "input": to_tensor_gray(filled),
        "raw_input": to_tensor_gray(gray),
        "mask": torch.from_numpy(np.ascontiguousarray(mask)).float().unsqueeze(0),
        "name": name,
    }
    if rgb is not None:
        sample["target"] = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0).contiguous()
    return sample


@dataclass
class PairOptions:
    """What PairDataset needs from the config (kept apart so tests can build datasets directly)."""

    crop_size: int
    augment: AugmentConfig
    damage: DamageConfig
    prefill: str = "telea"
    prefill_damages: int = 4  # slow pre-fills: fixed damages per training photo (see the module docstring)
    prefill_cache: str | None = None  # folder of the slow pre-fills' disk cache (None = compute every time)
    resynth_prob: float = 0.0
    pad_if_smaller: bool = False
    val_size: int | None = None


class PairDataset(Dataset):
    """Training (random crop, flip, fresh damage) or validation (whole image, fixed damage) pairs.

    Items with an `input` file are DACON pairs (mask = input != L(gt)); items without one are
    photos that get synthesized damage: a new one at every draw in training, one fixed per image
    (seeded by the image's index) in validation so scores compare across epochs.
    """

    epoch_keys = True  # accepts (epoch, index) keys from data.loader.EpochSampler

    def __init__(self, items: list[PairItem], options: PairOptions, seed: int, train: bool) -> None:
        self.items = items
        self.options = options
        self.seed = seed
        self.train = train
        self.fill: Filler = make_filler(options.prefill, None if options.prefill_cache is None else Path(options.prefill_cache))

    def __len__(self) -> int:
        return len(self.items)

    def sample_size(self, index: int) -> tuple[int, int]:
        """(H, W) of sample `index` without reading it, so validation can batch equal sizes."""
        if self.train:
            return self.options.crop_size, self.options.crop_size
        if self.options.val_size is not None:
            return self.options.val_size, self.options.val_size
        item = self.items[index]
        return item.height, item.width

    def __getitem__(self, key: Key) -> dict:
        epoch, index = split_key(key)
        item = self.items[index]
        if self.train:
            rng = np.random.default_rng([self.seed, epoch, index])
        else:
            rng = np.random.default_rng([self.seed, 0x7A1, index])
        rgb = read_rgb(item.target)
        gray = None if item.input is None else read_gray(item.input)
        if gray is not None and gray.shape != rgb.shape[:2]:
            raise ChromaFillError(f"{item.input}: size {gray.shape[::-1]} differs from its ground truth {item.target} {rgb.shape[1::-1]}")
        if not self.train:
            return self._val_sample(item, rgb, gray, rng)
        if self.options.prefill in SLOW_PREFILLS:
            damage_rng = np.random.default_rng([self.seed, 0xDA3, epoch % self.options.prefill_damages, index])
            return self._train_sample_full_fill(item, rgb, gray, rng, damage_rng)
        return self._train_sample(item, rgb, gray, rng)

    def _train_sample(self, item: PairItem, rgb: np.ndarray, gray: np.ndarray | None, rng: np.random.Generator) -> dict:
        o = self.options
        # Drawn only when enabled, so configs without whole photos keep their random streams.
        if o.augment.whole_photo_prob > 0 and rng.random() < o.augment.whole_photo_prob:
            return self._whole_photo_sample(item, rgb, gray, rng)
        mask = None
        if gray is None or (o.resynth_prob > 0 and rng.random() < o.resynth_prob):
            gray, mask = synthesize_damage(rgb, rng, o.damage)
        gray, rgb, mask = ensure_size(gray, rgb, mask, o.crop_size, o.pad_if_smaller, str(item.target), "data.crop_size")
        gray, rgb, mask = random_crop(gray, rgb, mask, rng, o.crop_size, o.augment)
        gray, rgb, _ = self._maybe_exposed(gray, rgb, mask, rng)
        return make_sample(gray, rgb, mask, item.name, self.fill(gray, mask))

    def _train_sample_full_fill(self, item: PairItem, rgb: np.ndarray, gray: np.ndarray | None, rng: np.random.Generator,
                                damage_rng: np.random.Generator) -> dict:
        """A training crop of the photo pre-filled whole: damage from `damage_rng` (the schedule), crop from `rng`."""
        o = self.options
        if gray is None or (o.resynth_prob > 0 and damage_rng.random() < o.resynth_prob):
            gray, mask = synthesize_damage(rgb, damage_rng, o.damage)
        else:
            mask = gray != pil_luma(rgb)
        filled = self.fill(gray, mask)
        filled, _, _ = ensure_size(filled, rgb, None, o.crop_size, o.pad_if_smaller, str(item.target), "data.crop_size")
        gray, rgb, mask = ensure_size(gray, rgb, mask, o.crop_size, o.pad_if_smaller, str(item.target), "data.crop_size")
        gray, filled, rgb, mask = random_crop_filled(gray, filled, rgb, mask, rng, o.crop_size, o.augment)
        gray, rgb, filled = self._maybe_exposed(gray, rgb, mask, rng, filled)
        return make_sample(gray, rgb, mask, item.name, filled)

    def _whole_photo_sample(self, item: PairItem, rgb: np.ndarray, gray: np.ndarray | None, rng: np.random.Generator) -> dict:
        """The whole photo at the crop size (data/augment.py `whole_photo`); a photo's damage is
        drawn on the small image, a DACON pair keeps its own, shrunk with it."""
        o = self.options
        if gray is None or (o.resynth_prob > 0 and rng.random() < o.resynth_prob):
            rgb = whole_photo(rgb, o.crop_size)
            gray, mask = synthesize_damage(rgb, rng, o.damage)
        else:
            gray, rgb, mask = whole_photo_pair(gray, rgb, None, o.crop_size)
        gray, rgb, mask = random_flip(gray, rgb, mask, rng, o.augment)
        gray, rgb, _ = self._maybe_exposed(gray, rgb, mask, rng)
        return make_sample(gray, rgb, mask, item.name, self.fill(gray, mask))

    def _maybe_exposed(self, gray: np.ndarray, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                       filled: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The crop over- or under-exposed with probability `augment.exposure_prob` (data/exposure.py).

        The damage does not depend on the exposure: outside the hole the gray is the exposed
        photo's, inside it keeps its fill value. A fill cached for the unexposed photo gets the
        same gain and clip, exact where inpainting is linear in the known pixels (Telea's and
        FSR's weighted sums) and nothing clips around the hole.
        """
        prob = self.options.augment.exposure_prob
        # Drawn only when enabled, so configs without it keep their random streams.
        if prob <= 0 or rng.random() >= prob:
            return gray, rgb, filled
        kind, gain = random_training_exposure(rgb, rng)
        rgb = expose(rgb, kind, gain)
        hole = mask.astype(bool)
        gray = np.where(hole, gray, pil_luma(rgb))
        if filled is not None:
            filled = np.where(hole, expose(filled, kind, gain), gray)
        return gray, rgb, filled

    def _val_sample(self, item: PairItem, rgb: np.ndarray, gray: np.ndarray | None, rng: np.random.Generator) -> dict:
        o = self.options
        if o.val_size is not None:
            placeholder = gray if gray is not None else rgb[:, :, 0]
            placeholder, rgb, _ = ensure_size(placeholder, rgb, None, o.val_size, o.pad_if_smaller, str(item.target), "data.val_size")
            gray = placeholder if gray is not None else None
            gray, rgb, _ = center_crop(gray, rgb, None, o.val_size)
            rgb = np.ascontiguousarray(rgb)
        if gray is None:
            gray, mask = synthesize_damage(rgb, rng, o.damage)
        else:
            mask = gray != pil_luma(rgb)
        return make_sample(gray, rgb, mask, item.name, self.fill(gray, mask))
