"""Finding the lost region of a damaged input without any training.

The competition's damage is ONE region filled with ONE constant gray (docs/task.md). Every
connected area of one exact gray value large enough to be it is a candidate; each is scored by
how well it fits what is known about the damage (data/hole_evidence.py: fill value, area,
a hard border, an image that carries on past it, a geometric outline), which rules out the
natural plateaus photos also hold (clipped sky at 255, crushed shadows at 0, dark windows).
The most plausible candidate is the hole.

The confidence says how sure that choice is: the winner's plausibility minus the runner-up's,
so it is low both when nothing fits well and when two candidates fit alike (a real hole of fill
0 beside a crushed shadow). `--mask-source auto` asks the learned mask net below CONFIDENT
(data/inference_set.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from data.hole_evidence import Evidence, evidence
from data.masks import fill_holes, padded_box

CONFIDENT = 0.5  # below this confidence `auto` consults the learned mask net
_BOX = np.ones((3, 3), np.float32)
_KEPT_PART = 0.01  # parts of a trimmed region kept, relative to its largest part


@dataclass(frozen=True)
class Candidate:
    """One connected region of a single gray value, inner gaps filled, and how hole-like it is."""

    mask: np.ndarray
    value: int
    evidence: Evidence

    @property
    def plausibility(self) -> float:
        return self.evidence.plausibility


@dataclass(frozen=True)
class HoleDetection:
    """The chosen lost region (all False when none), its confidence in [0, 1], and every candidate, best first."""

    mask: np.ndarray
    confidence: float
    candidates: list[Candidate] = field(default_factory=list)


def detect_hole(gray: np.ndarray, min_area: float = 0.004) -> np.ndarray:
    """The constant-filled lost region of `gray` (HxW uint8) as HxW bool; all False when none."""
    return find_hole(gray, min_area).mask


def find_hole(gray: np.ndarray, min_area: float = 0.004) -> HoleDetection:
    """The most plausible constant-filled region of `gray` (HxW uint8) with its confidence.

    min_area: smallest region considered, as a fraction of the image (the damage is >= 1%).
    A region is returned only when its plausibility is above 0; the confidence is its
    plausibility minus the next candidate's (0 when nothing is found).
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"expected an HxW uint8 gray image, got shape {gray.shape} dtype {gray.dtype}")
    candidates = sorted(_candidates(gray, max(16, int(min_area * gray.size))), key=lambda c: -c.plausibility)
    candidates = [c for c in candidates if c.plausibility > 0]
    if not candidates:
        return HoleDetection(np.zeros(gray.shape, dtype=bool), 0.0, [])
    runner_up = candidates[1].plausibility if len(candidates) > 1 else 0.0
    return HoleDetection(candidates[0].mask, candidates[0].plausibility - runner_up, candidates)


def _candidates(gray: np.ndarray, min_pixels: int) -> list[Candidate]:
    found = []
    for value in _candidate_values(gray, min_pixels):
        _, labels, stats, _ = cv2.connectedComponentsWithStats((gray == value).astype(np.uint8), connectivity=4)
        for label in np.nonzero(stats[1:, cv2.CC_STAT_AREA] >= min_pixels)[0] + 1:
            window = padded_box(tuple(stats[label, :4]), 1, gray.shape)  # work inside the region's box
            region = _remove_leaks(labels[window] == label)
            if region.sum() < min_pixels:
                continue
            mask = np.zeros(gray.shape, dtype=bool)
            mask[window] = fill_holes(region)  # the box has a free margin, so gaps open to the outside stay open
            found.append(Candidate(mask, int(value), evidence(gray, mask, int(value))))
    return found


def _candidate_values(gray: np.ndarray, min_pixels: int) -> np.ndarray:
    """Gray values owning many 'flat' pixels (all four neighbours equal): cheap pre-filter."""
    centre = gray[1:-1, 1:-1]
    flat = (
        (centre == gray[:-2, 1:-1]) & (centre == gray[2:, 1:-1]) & (centre == gray[1:-1, :-2]) & (centre == gray[1:-1, 2:])
    )
    counts = np.bincount(centre[flat], minlength=256)
    return np.nonzero(counts >= min_pixels // 2)[0]


def _remove_leaks(region: np.ndarray) -> np.ndarray:
    """Drop image pixels that merely happen to equal the fill and touch the hole's border.

    Such pixels form thin, ragged attachments; a pixel stays when at least 4 of its 3x3
    neighbourhood belong to the region (straight borders keep 6, corners 4). Trimming can also
    cut a polygon's own one-pixel-wide neck, so every remaining part of at least 1% of the largest
    stays: a star's spike beyond such a neck (2% measured) is kept, while the leaks that survive
    trimming as parts of their own are tiny (at most 0.1% of the hole on CamVid/BSDS500 train).
    """
    counts = cv2.filter2D(region.astype(np.float32), -1, _BOX, borderType=cv2.BORDER_CONSTANT)
    _, labels, stats, _ = cv2.connectedComponentsWithStats((region & (counts >= 3.5)).astype(np.uint8), connectivity=4)
    areas = stats[:, cv2.CC_STAT_AREA]
    if len(areas) <= 1:
        return np.zeros(region.shape, dtype=bool)
    keep = np.concatenate([[False], areas[1:] >= _KEPT_PART * areas[1:].max()])
    return keep[labels]


def auto_mask(detection: HoleDetection, gray: np.ndarray, predictor: Callable[[np.ndarray], np.ndarray] | None) -> np.ndarray:
    """`--mask-source auto`: the detector's region, unless it is unsure and a learned predictor can be asked."""
    if predictor is None or detection.confidence >= CONFIDENT:
        return detection.mask
    return consult(detection, predictor(gray))


def consult(detection: HoleDetection, guess: np.ndarray) -> np.ndarray:
    """The lost region when the detector is unsure, given the learned mask net's `guess` (HxW bool).

    The candidate that overlaps the guess most (by IoU) wins: the net tells which region is the
    hole, the constant fill gives its exact outline. When no candidate touches the guess (or there
    is none), the guess itself.
    """
    overlaps = [_iou(c.mask, guess) for c in detection.candidates]
    if not overlaps or max(overlaps) == 0:
        return guess
    return detection.candidates[int(np.argmax(overlaps))].mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0
