"""The detector's confidence, and `--mask-source auto` asking the mask net where it is unsure."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data.hole_detection import CONFIDENT, HoleDetection, consult, detect_hole, find_hole
from data.inference_set import InferenceDataset
from data.synthetic import natural_image
from utils.color import pil_luma

H, W = 160, 200


def rectangle(top: int, left: int, height: int, width: int) -> np.ndarray:
    mask = np.zeros((H, W), dtype=bool)
    mask[top : top + height, left : left + width] = True
    return mask


def photo(seed: int) -> np.ndarray:
    return pil_luma(natural_image(H, W, np.random.default_rng(seed)))


def two_alike() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A hole filled with 0 and a dark window crushed to 0, alike in every respect but position."""
    gray, first, second = photo(1), rectangle(20, 20, 40, 50), rectangle(90, 120, 40, 55)
    gray[first | second] = 0
    return gray, first, second


def test_confident_on_a_clear_hole_and_zero_without_one() -> None:
    gray, hole = photo(0), rectangle(50, 60, 45, 70)
    gray[hole] = 37
    found = find_hole(gray)
    assert np.array_equal(found.mask, hole) and found.confidence >= CONFIDENT
    nothing = find_hole(photo(0))
    assert not nothing.mask.any() and nothing.confidence == 0.0 and nothing.candidates == []


def test_unsure_when_two_regions_fit_alike() -> None:
    gray, first, second = two_alike()
    found = find_hole(gray)
    assert found.confidence < CONFIDENT
    assert {tuple(np.argwhere(c.mask)[0]) for c in found.candidates[:2]} == {(20, 20), (90, 120)}


def test_consult_takes_the_candidate_the_guess_points_at_else_the_guess() -> None:
    gray, first, second = two_alike()
    found = find_hole(gray)
    blurry_guess = rectangle(95, 110, 30, 50)  # a learned net's rough blob over the second region
    assert np.array_equal(consult(found, blurry_guess), second)
    elsewhere = rectangle(0, 150, 10, 10)
    assert np.array_equal(consult(found, elsewhere), elsewhere)
    assert np.array_equal(consult(HoleDetection(np.zeros((H, W), bool), 0.0, []), elsewhere), elsewhere)


def test_auto_asks_the_mask_net_where_the_detector_is_unsure(tmp_path: Path) -> None:
    clear, hole = photo(0), rectangle(50, 60, 45, 70)
    clear[hole] = 37
    unsure, first, second = two_alike()
    detector_choice = detect_hole(unsure)
    other = second if np.array_equal(detector_choice, first) else first
    for name, gray in (("clear.png", clear), ("unsure.png", unsure)):
        cv2.imwrite(str(tmp_path / name), gray)
    asked = []

    def mask_net(gray: np.ndarray) -> np.ndarray:  # points roughly at the region the detector did not pick
        asked.append(gray)
        rows, cols = np.nonzero(other)
        return rectangle(rows.min() + 5, cols.min() - 5, np.ptp(rows) - 10, np.ptp(cols))

    data = InferenceDataset(tmp_path, mask_source="auto", mask_predictor=mask_net)
    samples = [data[i] for i in range(len(data))]
    masks = {sample["name"]: sample["mask"][0].numpy() > 0.5 for sample in samples}
    assert np.array_equal(masks["clear.png"], hole)
    assert len(asked) == 1 and np.array_equal(asked[0], unsure), "asked once, for the unsure image only"
    assert np.array_equal(masks["unsure.png"], other), "the candidate the net points at, with its exact outline"
    detector_only = InferenceDataset(tmp_path, mask_source="detector", mask_predictor=mask_net)
    assert np.array_equal(detector_only.find_hole(unsure), detector_choice) and len(asked) == 1
