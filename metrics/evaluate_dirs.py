"""Score a folder of predictions against ground truth and damaged inputs (what evaluate.py runs).

Files are matched by name without extension, so PNG predictions can be scored against JPEG
ground truth. The set of inputs defines the evaluation: every input needs exactly one prediction
and one ground truth; a missing or extra prediction is an error naming the file, because silently
scoring a subset makes two runs' means incomparable. Images are scored in a process pool with the
exact (skimage) metric.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2

from data.io import IMAGE_SUFFIXES, read_gray, read_rgb
from metrics.by_area import split_by_area
from metrics.competition import lost_mask, mean_scores, score_image
from utils.errors import ChromaFillError


def list_images(folder: str | Path, role: str) -> dict[str, Path]:
    """{stem: path} of the image files in `folder`; two files with one stem are an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChromaFillError(f"{folder}: {role} folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        if path.stem in found:
            raise ChromaFillError(f"{path}: two {role} images named {path.stem!r} ({found[path.stem].name}, {path.name})")
        found[path.stem] = path
    return found


def match_files(pred_dir: str | Path, gt_dir: str | Path, input_dir: str | Path) -> list[tuple[str, Path, Path, Path]]:
    """(name, pred, gt, input) for every input, in name order; fails naming the first odd file."""
    inputs = list_images(input_dir, "input")
    if not inputs:
        raise ChromaFillError(f"{input_dir}: no input images found (expected {', '.join(IMAGE_SUFFIXES)})")
    preds, gts = list_images(pred_dir, "prediction"), list_images(gt_dir, "ground-truth")
    for name, path in preds.items():
        if name not in inputs:
            raise ChromaFillError(f"{path}: extra prediction, no input named {name!r} in {input_dir}")
    matched = []
    for name, input_path in inputs.items():
        if name not in preds:
            raise ChromaFillError(f"{Path(pred_dir) / (name + '.png')}: missing prediction for input {input_path}")
        if name not in gts:
            raise ChromaFillError(f"{Path(gt_dir) / name}.*: missing ground truth for input {input_path}")
        matched.append((name, preds[name], gts[name], input_path))
    return matched


def score_files(pred_path: Path, gt_path: Path, input_path: Path) -> dict[str, float]:
    """The exact score of one prediction, plus `lost_fraction` (lost pixels / all pixels)."""
    gt, gray = read_rgb(gt_path), read_gray(input_path)
    if gray.shape != gt.shape[:2]:
        raise ChromaFillError(f"{input_path}: size {gray.shape[1]}x{gray.shape[0]} differs from ground truth "
                              f"{gt_path} ({gt.shape[1]}x{gt.shape[0]})")
    pred = read_rgb(pred_path)
    if pred.shape != gt.shape:
        raise ChromaFillError(f"{pred_path}: prediction size {pred.shape[1]}x{pred.shape[0]} differs from ground "
                              f"truth {gt_path} ({gt.shape[1]}x{gt.shape[0]})")
    mask = lost_mask(gray, gt)
    return {**score_image(gt, pred, mask), "lost_fraction": float(mask.mean())}


def _score_job(job: tuple[str, Path, Path, Path]) -> tuple[str, dict[str, float]]:
    name, pred, gt, inp = job
    return name, score_files(pred, gt, inp)


def _init_worker() -> None:
    """One OpenCV thread per process: the pool already uses every core."""
    cv2.setNumThreads(1)


def score_all(jobs: list[tuple[str, Path, Path, Path]], workers: int) -> dict[str, dict[str, float]]:
    """{name: row} over a process pool.

    "spawn", not "fork": a forked worker deadlocked (0 CPU, forever) in the benchmark once the
    parent had used OpenCV's thread pool, and the trainer's process holds torch/CUDA state too.
    Spawning costs each worker ~2 s of imports (torch, via utils.color), paid in parallel.
    """
    if workers <= 1 or len(jobs) == 1:
        return dict(map(_score_job, jobs))
    context = multiprocessing.get_context("spawn")
    chunk = max(1, len(jobs) // (workers * 4))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        return dict(pool.map(_score_job, jobs, chunksize=chunk))


def evaluate_dirs(pred_dir: str | Path, gt_dir: str | Path, input_dir: str | Path, workers: int | None = None) -> dict:
    """{"mean": {...}, "images": {name: {...}}, "by_area": {small|medium|large: {...}}}.

    Each image row has score, ssim_full, ssim_lost (NaN when under 7 lost pixels), hist, psnr
    and lost_fraction. `workers` defaults to the number of CPU cores.
    """
    if workers is not None and workers < 1:
        raise ChromaFillError(f"--workers: got {workers}, expected at least 1")
    jobs = match_files(pred_dir, gt_dir, input_dir)
    images = score_all(jobs, workers or os.cpu_count() or 1)
    images = {name: images[name] for name, *_ in jobs}
    areas = {name: row["lost_fraction"] for name, row in images.items()}
    return {"mean": mean_scores(list(images.values())), "images": images, "by_area": split_by_area(images, areas)}


def json_safe(value):
    """NaN (an unmeasurable term) becomes null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
