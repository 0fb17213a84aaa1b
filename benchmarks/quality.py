"""The competition score of baselines and checkpoints on real photos with seeded DACON-style damage.

Usage:
    python benchmarks/quality.py PHOTOS_DIR [PHOTOS_DIR ...] [--checkpoint [LABEL=]PATH ...]
        [--seed 0] [--limit N] [--gray-snap X [X ...]] [--hole-blur SIGMA [SIGMA ...]] [--true-mask] [--exposure bright|dark] [--no-baselines] [--no-ema]
        [--baseline-prefill telea [fsr_fast ...]] [--prefill NAME]
        [--precision fp32 [bf16]] [--tta off [on]] [--by-folder] [--least-colourful-third DIR] [--most-colourful-third DIR]
        [--spread-last 5] [--paired-against NAME] [--lost-gain] [--lost-split] [--markdown] [--json OUT.json]
        [--grid OUT.png --grid-count 4 --grid-height 120 --grid-zoom MARGIN]

Every photo (colour; gray ones are skipped) gets one lost region from data/damage.py with the
default DamageConfig, seeded by (--seed, its index), so every method sees the same damage and a
rerun gives the same numbers. --exposure bright / dark first exposes each photo until a share drawn from
10 % to 40 % of it clips to pure white / black (data/exposure.py, as benchmarks/hole_iou.py's clipped
rows): skies and shadows that a constant-fill detector may take for the hole. Scores are the exact metric (metrics/competition.py score_image,
lost region = input != L(gt)), averaged over the photos. Methods:

- gray copy: the damaged gray input as the prediction (what a do-nothing submission scores);
- telea: the gray input with the hole inpainted by OpenCV Telea (--baseline-prefill picks other
  data/prefill.py methods, one row each; benchmarks/prefills.py times and compares them all);
- each checkpoint: predicted as infer.py does (EMA weights, the checkpoint's own prefill, or
  --prefill's, as infer.py --prefill); with --precision fp32 bf16, once in fp32 and once in bf16
  as infer.py --amp (one row each); with --tta off on, once as it is and once averaged with the
  prediction of the mirrored input, as infer.py --tta (one row each).

The hole that Telea and the checkpoints fill is the one a real submission has: found by the
training-free constant-fill detector (data/hole_detection.py); --true-mask gives them the true
mask instead. --gray-snap overrides model.generator.gray_snap of every checkpoint, so one trained
model can be measured with several thresholds (one row each); --hole-blur does the same for
model.generator.hole_blur (the Gaussian sigma that smooths the prediction inside the hole). --grid writes input | each method's prediction
(the baselines but the gray copy, then the checkpoints) | original rows of the first photos (a README figure);
--grid-zoom shows only the window around each hole.

Rows of photo subsets (one table, a `photos` column, every method on every subset; the damage is
the one the photo has in the whole set, so subsets are comparable with it): --by-folder adds one
row per folder; --least-colourful-third / --most-colourful-third DIR add the third of DIR's photos
with the lowest / highest mean chroma of the original (metrics/colourfulness.py mean_chroma):
washed-out photos, where a faint wrong tint loses HIST to a gray copy, and saturated ones, where
wrong chroma costs SSIM_full. `score sem` is the standard error of the mean score over the photos.
For a checkpoint whose run folder holds TensorBoard events, `hist spread` is the standard
deviation of the in-run val/hist over the run's last --spread-last validations: how much of a
difference between two runs' HIST the epoch a checkpoint came from can explain.

Every method scores the same photos, so two methods' `score sem` overstate the uncertainty of
their difference (much of a photo's score is the photo's, whatever restores it). --paired-against
NAME adds `diff vs NAME ± paired sem`: the mean over the row's photos of (method's score - NAME's
score) and the standard error of that mean, std(differences, ddof=1) / sqrt(photos). --json
writes every figure (NaN, e.g. the sem of one photo, as null), each photo's score per method
(`photo_scores`, in `photo_names` order) and the photos of each row (`subset_photos`).

--lost-gain adds `lost gain ± paired sem` to each checkpoint's row: the mean per-photo SSIM_lost of
the checkpoint minus that of its own pre-fill alone (the gray input with the hole filled by the
checkpoint's data.prefill, or --prefill's), with the paired standard error. It is what the network
adds in the hole on top of the classical fill it starts from; the pre-fill's row is scored too when
--baseline-prefill does not already include it.

--lost-split adds two rows per checkpoint that tell where that gain comes from, both built from the
checkpoint's own predictions (no second pass of the network): `NAME luma only`, the prediction's
PIL L as a gray image (the network's luminance in the hole, without colour), and `NAME colour only`,
the pre-fill's gray plus the prediction's colour offsets (each channel minus its L: the network's
colour on the classical fill's luminance). With --lost-gain their gains over the pre-fill are paired
too; a luminance network that only copies its pre-fill shows a luma-only gain of 0.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.config import DamageConfig  # noqa: E402
from data.damage import synthesize_damage  # noqa: E402
from data.datasets import make_sample  # noqa: E402
from data.exposure import EXPOSURES, random_clip_exposure  # noqa: E402
from data.hole_detection import detect_hole  # noqa: E402
from data.io import read_rgb  # noqa: E402
from data.masks import padded_box  # noqa: E402
from data.prefill import PREFILL_METHODS, prefill  # noqa: E402
from data.prefill_cache import Filler, make_filler  # noqa: E402
from data.sources import photo_items  # noqa: E402
from metrics.colourfulness import mean_chroma  # noqa: E402
from metrics.competition import mean_scores, score_image  # noqa: E402
from metrics.torch_score import to_uint8  # noqa: E402
from trainers.inference import chosen_prefill, inference_autocast, load_generator  # noqa: E402
from utils.atomic import atomic_write_bytes  # noqa: E402
from utils.color import pil_luma  # noqa: E402
from trainers.predict import generate  # noqa: E402
from utils.errors import ChromaFillError  # noqa: E402
from utils.runtime import pick_device  # noqa: E402
from utils.strict_json import dumps_strict  # noqa: E402

KEYS = ("score", "ssim_full", "ssim_lost", "hist")


@dataclass
class Damaged:
    """One photo with its seeded damage."""

    name: str
    folder: Path  # the folder given on the command line that holds the photo
    rgb: np.ndarray  # HxWx3 uint8, the ground truth
    gray: np.ndarray  # HxW uint8, the damaged input
    mask: np.ndarray  # HxW bool, the true lost region
    hole: np.ndarray  # HxW bool, the region a method fills (detected, or the true mask)


Predictor = Callable[[Damaged], np.ndarray]


def damaged_photos(folders: list[Path], seed: int, limit: int = 0, true_mask: bool = False,
                   exposure: str | None = None) -> list[Damaged]:
    """Colour photos of `folders` (recursive, sorted; the first `limit` of each) with damage seeded by (seed, index),
    each first over- or under-exposed until 10 % to 40 % of it clips when `exposure` is bright or dark (seeded by
    (seed, index, 1), as benchmarks/hole_iou.py's clipped rows)."""
    items = [(folder, item) for folder in folders for item in photo_items(folder)[: limit or None]]
    photos = []
    for index, (folder, item) in enumerate(items):
        rgb = read_rgb(item.target)
        if exposure is not None:
            rgb = random_clip_exposure(rgb, exposure, np.random.default_rng([seed, index, 1]))
        gray, mask = synthesize_damage(rgb, np.random.default_rng([seed, index]), DamageConfig())
        hole = mask if true_mask else detect_hole(gray)
        photos.append(Damaged(item.name, folder, rgb, gray, mask, hole))
    return photos


Subsets = dict[str, list[int]]  # a row label -> indices into the photo list


def photo_subsets(photos: list[Damaged], by_folder: bool, least: list[Path], most: list[Path]) -> Subsets:
    """The rows of the table: every photo, then per folder, then the colourfulness thirds."""
    subsets: Subsets = {"all": list(range(len(photos)))}
    folders = list(dict.fromkeys(photo.folder for photo in photos))
    if by_folder:
        subsets.update({folder_label(f): [i for i, p in enumerate(photos) if p.folder == f] for f in folders})
    for side, chosen in (("least", least), ("most", most)):
        for folder in chosen:
            if folder not in folders:
                raise ChromaFillError(f"--{side}-colourful-third: {folder}: not one of the photo folders given")
            indices = [i for i, p in enumerate(photos) if p.folder == folder]
            ranked = sorted(indices, key=lambda i: mean_chroma(photos[i].rgb))
            third = max(1, round(len(ranked) / 3))
            subsets[f"{side} colourful third of {folder_label(folder)}"] = ranked[:third] if side == "least" else ranked[-third:]
    return subsets


def photo_label(photo: Damaged) -> str:
    """camvid/val/0001.png: the folder label keeps two folders' same-named photos apart."""
    return f"{folder_label(photo.folder)}/{photo.name}"


def folder_label(folder: Path) -> str:
    """camvid/val for /data/camvid/val: the parent's name tells two val folders apart."""
    return f"{folder.parent.name}/{folder.name}" if folder.parent.name else folder.name


GRAY_COPY = "gray copy"  # the method name of the do-nothing baseline


def gray_copy(photo: Damaged) -> np.ndarray:
    return np.repeat(photo.gray[:, :, None], 3, axis=2)


class HoleFills:
    """Pre-fills for one run: a slow fill (FSR, ...) is computed once per photo, through the training
    disk cache (data/prefill_cache.py) in `folder`, and shared by its baseline row, the checkpoints
    that restore from it and the composite fills built on it (fsr_ns reuses fsr_fast's fill)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fillers: dict[str, Filler] = {}

    def __call__(self, photo: Damaged, method: str) -> np.ndarray:
        if method not in self.fillers:
            self.fillers[method] = make_filler(method, self.folder)
        return self.fillers[method](photo.gray, photo.hole)


def prefilled(photo: Damaged, method: str, fills: HoleFills | None = None) -> np.ndarray:
    """The damaged gray with its hole pre-filled by `method`, as an RGB prediction (gray: the fill alone)."""
    filled = prefill(photo.gray, photo.hole, method) if fills is None else fills(photo, method)
    return np.repeat(filled[:, :, None], 3, axis=2)


def checkpoint_predictor(path: Path, device: torch.device, gray_snap: float | None, use_ema: bool,
                         amp: bool = False, prefill_override: str | None = None, tta: bool = False,
                         fills: HoleFills | None = None, hole_blur: float | None = None) -> tuple[Predictor, str]:
    """Predict as infer.py does: the checkpoint's prefill of the hole (or the override, with infer.py's
    warning), then the generator (fp32, or bf16 as --amp; with `tta`, as --tta). Returns the predictor
    and that prefill's name."""
    generator, config, _ = load_generator(path, device, use_ema, amp)
    autocast = inference_autocast(device, amp)
    if gray_snap is not None:
        generator.gray_snap = gray_snap  # an eval-time post-processing step, no retraining needed
    if hole_blur is not None:
        generator.hole_blur = hole_blur  # eval-time too
    method = chosen_prefill(config, prefill_override)

    def predict(photo: Damaged) -> np.ndarray:
        filled = prefill(photo.gray, photo.hole, method) if fills is None else fills(photo, method)
        sample = make_sample(photo.gray, None, photo.hole, photo.name, filled)
        gray = sample["input"].unsqueeze(0).to(device)
        mask = sample["mask"].unsqueeze(0).to(device)
        with autocast():
            return to_uint8(generate(generator, gray, mask, tta))[0]

    return predict, method


def evaluate(photos: list[Damaged], predict: Predictor) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """The score terms of `predict` on each photo (exact metric, true lost region), and the predictions."""
    rows, preds = [], []
    for photo in photos:
        pred = predict(photo)
        rows.append(score_image(photo.rgb, pred, photo.mask))
        preds.append(pred)
    return rows, preds


def luma_only(pred: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """The prediction's PIL L as a gray RGB image: its luminance without its colour."""
    return np.repeat(pil_luma(pred)[:, :, None], 3, axis=2)


def colour_only(pred: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """The pre-fill's gray (`filled`, gray RGB) plus the prediction's colour offsets (each channel minus its L)."""
    offsets = pred.astype(np.int16) - pil_luma(pred)[:, :, None]
    return np.clip(filled.astype(np.int16) + offsets, 0, 255).astype(np.uint8)


LOST_SPLITS = {"luma only": luma_only, "colour only": colour_only}


def split_rows(photos: list[Damaged], preds: list[np.ndarray], method: str,
               fills: HoleFills) -> dict[str, list[dict[str, float]]]:
    """--lost-split: the score terms of each LOST_SPLITS part of a checkpoint's predictions, on its pre-fill `method`."""
    filled = [prefilled(photo, method, fills) for photo in photos]
    return {part: [score_image(photo.rgb, build(pred, fill), photo.mask) for photo, pred, fill in zip(photos, preds, filled)]
            for part, build in LOST_SPLITS.items()}


def paired_difference(scores: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """(mean of scores - reference, its standard error) over photos scored by both: the paired test's figures.

    The standard error is the sample standard deviation of the per-photo differences over
    sqrt(photos); NaN for fewer than two photos.
    """
    diffs = np.asarray(scores, dtype=float) - np.asarray(reference, dtype=float)
    sem = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else math.nan
    return float(diffs.mean()), sem


def add_paired_column(results: dict[str, dict[str, dict[str, float]]], values: dict[str, list[float]], subsets: Subsets,
                      reference_of: dict[str, str], key: str) -> None:
    """`key` and `key`_sem in every (method, subset) summary: the paired difference of the method's per-photo
    `values` to those of its reference in `reference_of`; NaN for a method without one."""
    for method, by_subset in results.items():
        reference = reference_of.get(method)
        for subset, indices in subsets.items():
            diff, sem = math.nan, math.nan
            if reference is not None:
                diff, sem = paired_difference([values[method][i] for i in indices], [values[reference][i] for i in indices])
            by_subset[subset].update({key: diff, f"{key}_sem": sem})


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean terms, and the standard error of the mean score (how far another draw of photos could move it)."""
    means = mean_scores(rows, KEYS)
    scores = np.array([row["score"] for row in rows], dtype=float)
    means["score_sem"] = float(scores.std(ddof=1) / np.sqrt(len(scores))) if len(scores) > 1 else math.nan
    return means


def hist_spread(checkpoint: Path, last: int) -> float:
    """Standard deviation of val/hist over the run's last `last` validations (NaN without events)."""
    folder = checkpoint.parent / "tensorboard"
    if not folder.is_dir():
        return math.nan
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    if "val/hist" not in events.Tags()["scalars"]:
        return math.nan
    by_step = {event.step: event.value for event in events.Scalars("val/hist")}  # a resume may repeat a step
    values = [by_step[step] for step in sorted(by_step)][-last:]
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def format_table(results: dict[str, dict[str, float]], markdown: bool, paired_against: str | None = None,
                 lost_gain: bool = False) -> str:
    """One row per method, the four terms (the table without subsets or spreads), and the paired difference and
    the lost gain when asked."""
    width = max(len("method"), *(len(name) for name in results))
    extra = _extra_headers(paired_against, lost_gain)
    if markdown:
        header = ["method", *KEYS, *extra]
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += [f"| {name} | " + " | ".join([*(f"{r[k]:.4f}" for k in KEYS), *_extra_cells(r, paired_against, lost_gain)]) + " |"
                  for name, r in results.items()]
        return "\n".join(lines)
    lines = [f"{'method':<{width}}  " + "  ".join([*(f"{k:>9}" for k in KEYS), *extra])]
    lines += [f"{name:<{width}}  " + "  ".join([*(f"{r[k]:>9.4f}" for k in KEYS), *_extra_cells(r, paired_against, lost_gain)])
              for name, r in results.items()]
    return "\n".join(lines)


LOST_GAIN_HEADER = "lost gain ± paired sem"


def _extra_headers(paired_against: str | None, lost_gain: bool) -> list[str]:
    return [*([f"diff vs {paired_against} ± paired sem"] if paired_against else []), *([LOST_GAIN_HEADER] if lost_gain else [])]


def _extra_cells(summary: dict[str, float], paired_against: str | None, lost_gain: bool) -> list[str]:
    return [*([_paired_cell(summary, "diff")] if paired_against else []), *([_paired_cell(summary, "lost_gain")] if lost_gain else [])]


def _paired_cell(summary: dict[str, float], key: str) -> str:
    """'+0.0123 ± 0.0045', or '-' where the figure does not apply (the reference itself, a baseline's lost gain)."""
    if math.isnan(summary[key]):
        return "-"
    sem = "-" if math.isnan(summary[f"{key}_sem"]) else f"{summary[f'{key}_sem']:.4f}"
    return f"{summary[key]:+.4f} ± {sem}"


def format_subset_table(results: dict[str, dict[str, dict[str, float]]], spreads: dict[str, float], markdown: bool,
                        paired_against: str | None = None, lost_gain: bool = False) -> str:
    """One row per (photo subset, method): the terms, the score's standard error, the run's HIST spread,
    and the paired difference against `paired_against` and the lost gain when asked."""
    header = ["photos", "method", *KEYS, "score sem", "hist spread", *_extra_headers(paired_against, lost_gain)]
    rows = []
    for subset in next(iter(results.values())):
        for method, by_subset in results.items():
            r = by_subset[subset]
            spread = spreads.get(method, math.nan)
            rows.append([subset, method, *(f"{r[k]:.4f}" for k in KEYS), "-" if math.isnan(r["score_sem"]) else f"{r['score_sem']:.4f}",
                         "-" if math.isnan(spread) else f"{spread:.4f}", *_extra_cells(r, paired_against, lost_gain)])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *rows])


def hole_window(mask: np.ndarray, margin: float) -> tuple[slice, slice]:
    """The lost region's bounding box grown by `margin` times its height and width on each side, inside the photo."""
    if not mask.any():  # an undamaged photo: the whole of it
        return slice(None), slice(None)
    rect = cv2.boundingRect(mask.astype(np.uint8))
    return padded_box(rect, (round(rect[3] * margin), round(rect[2] * margin)), mask.shape)


def restoration_grid(photos: list[Damaged], preds: list[list[np.ndarray]], count: int, height: int = 160,
                     zoom: float | None = None) -> np.ndarray:
    """Rows of input | each method's prediction (`preds[method][photo]`) | original, 4-pixel white gaps.

    Each panel is scaled to `height` pixels; with `zoom` every panel of a row shows only the hole's
    window (`hole_window`), where a pre-fill's streaks and the network's fill can be told apart.
    """
    rows = []
    for index, photo in enumerate(photos[:count]):
        panels = [gray_copy(photo), *(method_preds[index] for method_preds in preds), photo.rgb]
        if zoom is not None:
            window = hole_window(photo.mask, zoom)
            panels = [np.ascontiguousarray(p[window]) for p in panels]
        width = max(round(panels[0].shape[1] * height / panels[0].shape[0]), 1)
        gap = np.full((height, 4, 3), 255, np.uint8)
        # Shrink by area; enlarge a small hole's window by repeating pixels, so streaks are not blurred away.
        shrink = panels[0].shape[0] >= height
        scaled = [cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)
                  for p in panels]
        rows.append(np.concatenate([part for p in scaled for part in (p, gap)][:-1], axis=1))
    widest = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 4), (0, widest - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(padded, axis=0)[:-4]


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Maximum PNG compression: README figures should stay small in the repository."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ChromaFillError(f"{path}: could not write the image")


def parse_checkpoint(spec: str) -> tuple[str, Path]:
    """'LABEL=PATH' or 'PATH' (labelled by its run folder's name)."""
    label, sep, path = spec.partition("=")
    if not sep:
        path, label = spec, Path(spec).parent.name or Path(spec).stem
    if not Path(path).is_file():
        raise ChromaFillError(f"--checkpoint: {path}: file not found")
    return label, Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", nargs="+", type=Path, help="folders of colour photos (searched recursively)")
    parser.add_argument("--checkpoint", action="append", default=[], help="[LABEL=]PATH of a checkpoint (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="damage seed")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N photos of each folder (0 = all)")
    parser.add_argument("--gray-snap", type=float, nargs="+", default=None,
                        help="override model.generator.gray_snap of the checkpoints; several values = one row per value")
    parser.add_argument("--hole-blur", type=float, nargs="+", default=None, metavar="SIGMA",
                        help="override model.generator.hole_blur of the checkpoints (px, 0 = off); several values = one row per value")
    parser.add_argument("--true-mask", action="store_true", help="fill the true lost region instead of the detected one")
    parser.add_argument("--exposure", choices=EXPOSURES, default=None,
                        help="clipped photos: expose each until 10..40%% of it is pure white (bright) or black (dark)")
    parser.add_argument("--no-baselines", action="store_true", help="score the checkpoints only")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator weights, not the EMA copy")
    parser.add_argument("--baseline-prefill", nargs="+", choices=PREFILL_METHODS[1:], default=["telea"], metavar="NAME",
                        help=f"pre-fill baselines (gray input with the hole filled), one row each: {', '.join(PREFILL_METHODS[1:])}")
    parser.add_argument("--prefill", choices=PREFILL_METHODS, default=None,
                        help="pre-fill of every checkpoint's input instead of its own data.prefill (warns, as infer.py)")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"],
                        help="predict in fp32 and/or bf16 (infer.py --amp); several values = one row per value")
    parser.add_argument("--tta", nargs="+", choices=("off", "on"), default=["off"],
                        help="predict without and/or with the mirrored-input average (infer.py --tta); several values = one row per value")
    parser.add_argument("--by-folder", action="store_true", help="add a row per photo folder")
    parser.add_argument("--least-colourful-third", action="append", type=Path, default=[], metavar="DIR",
                        help="add a row: the third of DIR's photos with the lowest mean chroma (repeatable)")
    parser.add_argument("--most-colourful-third", action="append", type=Path, default=[], metavar="DIR",
                        help="add a row: the third of DIR's photos with the highest mean chroma (repeatable)")
    parser.add_argument("--spread-last", type=int, default=5,
                        help="hist spread: over this many last in-run validations of each checkpoint's run")
    parser.add_argument("--paired-against", metavar="NAME",
                        help="add a column: each method's mean per-photo score difference to method NAME (e.g. 'telea' or a "
                             "checkpoint label) and its paired standard error")
    parser.add_argument("--lost-gain", action="store_true",
                        help="add a column: each checkpoint's SSIM_lost minus its own pre-fill's alone, paired per photo")
    parser.add_argument("--lost-split", action="store_true",
                        help="add rows per checkpoint: its luminance alone (gray) and its colour on its pre-fill's gray")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--grid", type=Path,
                        help="write input | each method's prediction (not the gray copy) | original rows of the first photos")
    parser.add_argument("--grid-count", type=int, default=4, help="rows in --grid")
    parser.add_argument("--grid-height", type=int, default=120, help="height of each --grid panel in pixels")
    parser.add_argument("--grid-zoom", type=float, default=None, metavar="MARGIN",
                        help="--grid panels show only the hole's bounding box grown by MARGIN times its size on each side")
    args = parser.parse_args(argv)
    try:
        with torch.no_grad(), tempfile.TemporaryDirectory(prefix="chromafill_quality_") as fills_folder:
            # no_grad is scoped: tests call main() in-process and must get gradients back
            return _run(args, HoleFills(Path(fills_folder)))
    except ChromaFillError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, fills: HoleFills) -> int:
    checkpoints = [parse_checkpoint(spec) for spec in args.checkpoint]
    if args.lost_split and not checkpoints:
        raise ChromaFillError("--lost-split: give a --checkpoint to split (it splits checkpoints' predictions)")
    if args.grid and not checkpoints and args.no_baselines:
        raise ChromaFillError("--grid: --no-baselines and no --checkpoint leave no prediction to show")
    if args.grid_zoom is not None and not (math.isfinite(args.grid_zoom) and args.grid_zoom >= 0):
        raise ChromaFillError(f"--grid-zoom: {args.grid_zoom}: expected a margin >= 0 (a share of the hole's size)")
    for sigma in args.hole_blur or []:
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ChromaFillError(f"--hole-blur: {sigma}: expected a Gaussian sigma >= 0 in pixels (0 = off)")
    photos = damaged_photos(args.photos, args.seed, args.limit, args.true_mask, args.exposure)
    subsets = photo_subsets(photos, args.by_folder, args.least_colourful_third, args.most_colourful_third)
    device = pick_device(args.device)
    # method name -> a factory of (its predictor, the prefill it restores from: None for the baselines)
    methods: dict[str, Callable[[], tuple[Predictor, str | None]]] = {}
    if not args.no_baselines:
        methods[GRAY_COPY] = lambda: (gray_copy, None)
        for method in args.baseline_prefill:
            methods[method] = lambda method=method: (lambda photo: prefilled(photo, method, fills), None)
    snaps = args.gray_snap or [None]
    run_of: dict[str, Path] = {}  # method name -> its checkpoint, for the hist spread column
    prefill_of: dict[str, str] = {}  # checkpoint method name -> the prefill it restores from, for --lost-gain
    blurs = args.hole_blur or [None]
    for label, path in checkpoints:
        for snap, blur in itertools.product(snaps, blurs):
            for precision, tta in itertools.product(args.precision, args.tta):
                name = label if len(snaps) == 1 else f"{label} snap={snap:g}"
                name = name if len(blurs) == 1 else f"{name} blur={blur:g}"
                name = name if len(args.precision) == 1 else f"{name} {precision}"
                name = name if len(args.tta) == 1 else f"{name} tta {tta}"
                run_of[name] = path
                methods[name] = lambda path=path, snap=snap, blur=blur, amp=precision == "bf16", tta=tta == "on": checkpoint_predictor(
                    path, device, snap, not args.no_ema, amp, args.prefill, tta, fills, blur)
    if args.paired_against is not None and args.paired_against not in methods:
        raise ChromaFillError(f"--paired-against: {args.paired_against!r} is not a method of this run; expected one of "
                              f"{', '.join(repr(name) for name in methods)}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    scores: dict[str, list[float]] = {}  # method -> each photo's score, in photo order
    losts: dict[str, list[float]] = {}  # method -> each photo's SSIM_lost, in photo order
    spread_of = {path: hist_spread(path, args.spread_last) for path in set(run_of.values())}  # one read per run
    spreads = {name: spread_of[path] for name, path in run_of.items()}
    grid_preds: list[list[np.ndarray]] = []  # each shown method's first --grid-count predictions
    for name, make in methods.items():
        predict, prefill_used = make()
        if prefill_used is not None:
            prefill_of[name] = prefill_used
        rows, preds = evaluate(photos, predict)
        named_rows = {name: rows}
        if args.lost_split and prefill_used is not None:
            for part, part_rows in split_rows(photos, preds, prefill_used, fills).items():
                named_rows[f"{name} {part}"] = part_rows
                prefill_of[f"{name} {part}"] = prefill_used
        for row_name, method_rows in named_rows.items():
            scores[row_name] = [row["score"] for row in method_rows]
            losts[row_name] = [row["ssim_lost"] for row in method_rows]
            results[row_name] = {subset: summarise([method_rows[i] for i in indices]) for subset, indices in subsets.items()}
        if name != GRAY_COPY:  # the grid's input panel already shows it
            grid_preds.append(preds[:args.grid_count])
    if args.lost_gain:
        for method in sorted(set(prefill_of.values()) - set(losts)):  # a checkpoint's prefill not among the baselines
            rows, _ = evaluate(photos, lambda photo, method=method: prefilled(photo, method, fills))
            losts[method] = [row["ssim_lost"] for row in rows]
        add_paired_column(results, losts, subsets, prefill_of, "lost_gain")
    if args.paired_against is not None:
        others = {method: args.paired_against for method in results if method != args.paired_against}
        add_paired_column(results, scores, subsets, others, "diff")
    hole = "true mask" if args.true_mask else "detected hole"
    exposed = f", clipped {args.exposure}" if args.exposure else ""
    print(f"{len(photos)} photos{exposed}, damage seed {args.seed}, filled region: {hole}", file=sys.stderr)
    if len(subsets) == 1:
        print(format_table({name: by_subset["all"] for name, by_subset in results.items()}, args.markdown, args.paired_against,
                           args.lost_gain))
    else:
        print(format_subset_table(results, spreads, args.markdown, args.paired_against, args.lost_gain))
    if args.json:
        table = {name: by_subset["all"] for name, by_subset in results.items()}
        names = [photo_label(photo) for photo in photos]
        atomic_write_bytes(args.json, dumps_strict({"photos": len(photos), "seed": args.seed, "hole": hole,
                                                    "exposure": args.exposure, "results": table,
                                                    "subsets": results, "subset_sizes": {k: len(v) for k, v in subsets.items()},
                                                    "subset_photos": {k: [names[i] for i in v] for k, v in subsets.items()},
                                                    "hist_spread": spreads, "paired_against": args.paired_against,
                                                    "photo_names": names, "photo_scores": scores,
                                                    "prefill_of": prefill_of}).encode())
    if args.grid:
        write_png(args.grid, restoration_grid(photos, grid_preds, args.grid_count, args.grid_height, args.grid_zoom))
    return 0


if __name__ == "__main__":
    sys.exit(main())
