"""The `data:` config section."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import param, section
from utils.errors import ConfigError

# Too slow to run per training sample (seconds per photo): training computes them once per
# (photo, damage) at full size and caches them on disk (data/prefill_cache.py).
SLOW_PREFILLS = ("fsr_fast", "fsr_best", "shiftmap", "fsr_ns", "fsr_ns_soft", "fsr_flips_ns_soft")

SHAPE_KINDS = ("rectangle", "ellipse", "polygon", "star")


@dataclass
class DamageConfig:
    """Synthetic damage: one lost region per image, filled with one constant gray (docs/task.md)."""

    shapes: dict[str, float] = param(
        {"rectangle": 0.3, "ellipse": 0.3, "polygon": 0.2, "star": 0.2},
        "relative probability of each shape kind: rectangle (incl. thin ones), ellipse (incl. circles), "
        "polygon (random vertex order, self-intersecting), star (star-shaped with long thin spikes)",
        ge=0.0,
    )
    area_min: float = param(0.01, "smallest lost area as a fraction of the image", gt=0.0, le=1.0)
    area_max: float = param(0.13, "largest lost area as a fraction of the image", gt=0.0, le=1.0)
    fill_min: int = param(0, "darkest constant gray of the lost region (competition: 0..86 seen)", ge=0, le=255)
    fill_max: int = param(100, "brightest constant gray of the lost region", ge=0, le=255)
    vertices_min: int = param(3, "fewest vertices of polygon and star shapes", ge=3)
    vertices_max: int = param(20, "most vertices of polygon and star shapes", ge=3)
    rect_aspect_max: float = param(4.0, "rectangles: largest long/short side ratio (thin rectangles)", ge=1.0)
    ellipse_aspect_max: float = param(2.0, "ellipses: largest long/short axis ratio (1 = circles only)", ge=1.0)
    polygon_aspect_max: float = param(2.5, "polygons and stars: largest stretch of one axis before rotation", ge=1.0)
    spike_ratio_max: float = param(5.0, "stars: largest ratio of a spike's tip radius to the shape's inner radius", ge=1.0)

    def check(self) -> None:
        unknown = sorted(set(self.shapes) - set(SHAPE_KINDS))
        if unknown:
            raise ConfigError("shapes", f"unknown shape kind {unknown[0]!r}, expected some of {', '.join(SHAPE_KINDS)}")
        if sum(self.shapes.values()) <= 0:
            raise ConfigError("shapes", "got all probabilities 0, expected at least one shape kind with a probability > 0")
        for low, high in (("area_min", "area_max"), ("fill_min", "fill_max"), ("vertices_min", "vertices_max")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(low, f"got {getattr(self, low)}, expected a value <= {high} ({getattr(self, high)})")


@dataclass
class AugmentConfig:
    """Training augmentation, applied identically to input, target and mask."""

    hflip: bool = param(True, "flip training crops left-right with probability 0.5")
    scale_min: float = param(1.0, "smallest random rescale factor of a training image before cropping (1 = off)", gt=0.0)
    scale_max: float = param(1.0, "largest random rescale factor of a training image before cropping (1 = off)", gt=0.0)
    whole_photo_prob: float = param(
        0.0,
        "probability of training on the whole photo (its centred square) resized to data.crop_size instead of a random "
        "crop: the scene's context, as inference sees it; a photo's damage is then drawn at the crop size (the usual "
        "area fraction), a DACON pair's is shrunk with it; scale_min/scale_max do not apply to it",
        ge=0.0,
        le=1.0,
    )

    hole_crop_prob: float = param(
        0.0,
        "probability that a training crop is placed to contain the lost region (around a random pixel of it) "
        "instead of anywhere: a uniform 128-px crop of the CamVid + BSDS500 photos misses its 1-13 % hole 37 % of the time, so the "
        "hole's losses get more pixels a step; scale and flip are drawn as usual",
        ge=0.0,
        le=1.0,
    )

    exposure_prob: float = param(
        0.0,
        "probability of exposing a training crop bright or dark until 10 % to 40 % of it clips at gray 255 or 0 "
        "(blown-out skies, crushed shadows: data/exposure.py); the hole keeps its fill value, a slow pre-fill's "
        "cached fill gets the same exposure",
        ge=0.0,
        le=1.0,
    )

    def check(self) -> None:
        if self.scale_min > self.scale_max:
            raise ConfigError("scale_min", f"got {self.scale_min}, expected a value <= scale_max ({self.scale_max})")


@dataclass
class ValConfig:
    """How the validation split is carved out of the training data, or which folder it is."""

    root: str = param(
        "",
        "a separate validation folder instead of a split of data.root (then every training image trains and "
        "fraction is not used): colour photos, damaged with fixed synthetic damage, or a DACON-layout folder "
        "with its own train.csv (its damaged inputs as they are)",
    )
    fraction: float = param(0.1, "hold-out fraction of the training images used for validation (0 = no validation); used when folds = 0 and root is empty", ge=0.0, lt=1.0)
    folds: int = param(0, "K-fold cross-validation: number of folds (0 = plain hold-out by `fraction`)", ge=0)
    fold: int = param(0, "K-fold: which fold (0-based) is the validation set", ge=0)
    group: bool = param(
        False,
        "group-aware split: cluster visually similar images (photos of the same place) and keep each "
        "group entirely on one side, so near-duplicates cannot leak into validation",
    )
    group_threshold: float = param(
        12.0,
        "group mode: two images are near-duplicates when the RMS difference of their 8x8 Lab thumbnails "
        "(0..255 units) is below this; groups are the connected sets of near-duplicates",
        gt=0.0,
    )

    def check(self) -> None:
        if self.root and self.folds:
            raise ConfigError("folds", f"got {self.folds}, expected 0 with data.val.root set (the validation images are that folder)")
        if self.root and self.group:
            raise ConfigError("group", "got true, expected false with data.val.root set (nothing is split)")
        if self.folds == 1:
            raise ConfigError("folds", "got 1, expected 0 (hold-out) or at least 2 folds")
        if self.folds and self.fold >= self.folds:
            raise ConfigError("fold", f"got {self.fold}, expected a fold index below folds ({self.folds})")


@dataclass
class DataConfig:
    format: Literal["dacon", "photos", "samples"] = param(
        "dacon",
        "dacon = train.csv/test.csv layout of the competition; photos = any folder of colour photos, damaged on the fly; "
        "samples = scikit-image's bundled sample photos (nothing to download), written once as PNGs under data.root "
        "(photos/ to train on, test_input/ + test_gt/ = held-out photos with fixed damage as the test split)",
    )
    root: str = param("", "the dataset folder (for dacon: the folder holding train.csv; for samples: created when missing)")
    crop_size: int = param(256, "training crop size in pixels (square)", ge=8)
    num_workers: int = param(2, "DataLoader worker processes (0 = load in the main process)", ge=0)
    prefill: Literal["none", "telea", "ns", "fsr_fast", "fsr_best", "shiftmap", "fsr_ns", "fsr_ns_soft",
                     "fsr_flips_ns_soft"] = param(
        "telea",
        "classical fill of the lost region in the network's input (pixels outside the hole stay exact): none = keep "
        "the constant gray; telea / ns = OpenCV Telea / Navier-Stokes inpainting (~10 ms per photo, run on each "
        "training crop); fsr_fast / fsr_best = Frequency Selective Reconstruction, shiftmap = ShiftMap "
        "(cv2.xphoto; ~1 s / ~30 s / seconds per photo: run once per photo and damage at full size, as at "
        "inference, and cached on disk, see prefill_damages); fsr_ns = the mean of fsr_fast and ns, fsr_ns_soft = "
        "fsr_ns blurred more the deeper inside the hole, fsr_flips_ns_soft = 0.7 x fsr_fast averaged over the photo's "
        "four mirrorings + 0.3 x ns, blurred likewise, plain fsr_fast where that is near black (4x fsr_fast's time; "
        "composites are cached like fsr_fast and reuse its cache). infer.py "
        "uses the checkpoint's own",
    )
    prefill_damages: int = param(
        4,
        "slow prefills (fsr_fast, fsr_best, shiftmap and the fsr_* composites): how many fixed damages each training photo gets, used in turn "
        "(epoch e: damage e mod N), so each is pre-filled once and then read from the cache (crops and flips stay "
        "fresh); fast prefills draw fresh damage at every draw instead",
        ge=1,
    )
    resynth_prob: float = param(
        0.0,
        "dacon: probability of replacing a training pair's damage by freshly synthesized damage on its "
        "ground truth (more masks per photo)",
        ge=0.0,
        le=1.0,
    )
    pad_if_smaller: bool = param(
        False,
        "an image smaller than crop_size (or val_size) is reflect-padded instead of failing with an error",
    )
    val_size: int | None = param(
        None,
        "centre-crop validation images to this square size (null = every image whole, at its own size; "
        "images of equal size are batched together, so folders of mixed sizes need no val_size)",
        ge=8,
    )
    test_dir: str = param("", "photos format: optional folder of damaged gray test images to predict (empty = no test split; the samples format has its own)")
    cache_dir: str = param("", "where the group-split cache and the slow prefills' cache are written (empty = <root>/.chromafill_cache)")
    damage: DamageConfig = section(DamageConfig, "synthetic damage (photos format, and dacon resynthesis)")
    augment: AugmentConfig = section(AugmentConfig, "training augmentation")
    val: ValConfig = section(ValConfig, "validation split")

    def check(self) -> None:
        # A slow pre-fill's crops come from whole photos filled once and cached (data/datasets.py),
        # a path that has no whole-photo samples: refuse the pair instead of ignoring the key.
        if self.prefill in SLOW_PREFILLS and self.augment.whole_photo_prob > 0:
            raise ConfigError("augment.whole_photo_prob", f"got {self.augment.whole_photo_prob} with prefill "
                              f"{self.prefill}, expected 0: slow pre-fills train on cached crops of whole photos only")
