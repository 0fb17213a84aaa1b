"""Score a folder of predictions against ground truth and damaged inputs (what evaluate.py runs).

Files are matched by name without extension, so PNG predictions can be scored against JPEG
ground truth. The set of inputs defines the evaluation: every input needs exactly one prediction
and one ground truth; a missing or extra prediction is an error naming the file, because silently
scoring a subset makes two runs' means incomparable. Images are scored in a process pool with the
exact (skimage) metric and the research metrics (metrics/research.py); the optional LPIPS and FID
networks (metrics/perceptual_extra.py) are loaded before any scoring, so a missing package or
download fails at once, and run afterwards in this process (one copy of each network).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data.io import IMAGE_SUFFIXES, read_gray, read_rgb
from metrics import research
from metrics.by_area import area_groups, split_by_area
from metrics.competition import KEYS, lost_mask, mean_scores, score_image
from metrics.fid import fid
from metrics.perceptual_extra import FeatureFn, LpipsFn, load_inception, load_lpips
from utils.errors import ChromaFillError
from utils.runtime import pick_device

ROW_KEYS = (*KEYS, *research.KEYS)
Job = tuple[str, Path, Path, Path]  # name, prediction, ground truth, input


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


def match_files(pred_dir: str | Path, gt_dir: str | Path, input_dir: str | Path) -> list[Job]:
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


def read_prediction(pred_path: Path, gt: np.ndarray, gt_path: Path) -> np.ndarray:
    """The prediction as HxWx3 uint8; another size than its ground truth is an error naming both."""
    pred = read_rgb(pred_path)
    if pred.shape != gt.shape:
        raise ChromaFillError(f"{pred_path}: prediction size {pred.shape[1]}x{pred.shape[0]} differs from ground "
                              f"truth {gt_path} ({gt.shape[1]}x{gt.shape[0]})")
    return pred


def score_files(pred_path: Path, gt_path: Path, input_path: Path) -> dict[str, float]:
    """The exact score and the research metrics of one prediction, plus `lost_fraction` (lost / all pixels)."""
    gt, gray = read_rgb(gt_path), read_gray(input_path)
    if gray.shape != gt.shape[:2]:
        raise ChromaFillError(f"{input_path}: size {gray.shape[1]}x{gray.shape[0]} differs from ground truth "
                              f"{gt_path} ({gt.shape[1]}x{gt.shape[0]})")
    pred = read_prediction(pred_path, gt, gt_path)
    mask = lost_mask(gray, gt)
    return {**score_image(gt, pred, mask), **research.research_terms(gt, pred, mask),
            "lost_fraction": float(mask.mean())}


def _score_job(job: Job) -> tuple[str, dict[str, float]]:
    name, pred, gt, inp = job
    return name, score_files(pred, gt, inp)


def _init_worker() -> None:
    """One OpenCV thread per process: the pool already uses every core."""
    cv2.setNumThreads(1)


def score_all(jobs: list[Job], workers: int) -> dict[str, dict[str, float]]:
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


@dataclass
class Networks:
    """The optional networks asked for; None where not."""

    lpips: LpipsFn | None = None
    features: FeatureFn | None = None


def load_networks(lpips: bool, fid_features: bool, device: str) -> Networks:
    if not (lpips or fid_features):
        return Networks()
    torch_device = pick_device(device)
    return Networks(load_lpips(torch_device) if lpips else None,
                    load_inception(torch_device) if fid_features else None)


def perceptual_pass(jobs: list[Job], images: dict[str, dict[str, float]],
                    networks: Networks) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Adds `lpips` to each image row; returns {name: (pred features, gt features)} when FID is on.

    A second, serial read of every image pair: only when a network was asked for.
    """
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if networks.lpips is None and networks.features is None:
        return features
    for name, pred_path, gt_path, _ in jobs:
        gt = read_rgb(gt_path)
        pred = read_prediction(pred_path, gt, gt_path)
        if networks.lpips:
            images[name]["lpips"] = networks.lpips(gt, pred)
        if networks.features:
            features[name] = (networks.features(pred), networks.features(gt))
    return features


def fid_of(names: list[str], features: dict[str, tuple[np.ndarray, np.ndarray]]) -> float:
    """FID of the predictions against the ground truths of `names`."""
    return fid(np.stack([features[name][0] for name in names]), np.stack([features[name][1] for name in names]))


def evaluate_dirs(pred_dir: str | Path, gt_dir: str | Path, input_dir: str | Path, workers: int | None = None,
                  lpips: bool = False, fid_features: bool = False, device: str = "auto") -> dict:
    """{"mean": {...}, "images": {name: {...}}, "by_area": {small|medium|large: {...}}}.

    Each image row has the competition terms (score, ssim_full, ssim_lost: NaN under 7 lost pixels,
    hist, psnr), the research metrics (metrics/research.py KEYS), `lpips` when asked for, and
    lost_fraction. "mean" and each area group average every row key; with `fid_features` they
    also hold `fid`, a set-level figure (no per-image value). `workers` defaults to the number
    of CPU cores; `device` runs the LPIPS/FID networks.
    """
    if workers is not None and workers < 1:
        raise ChromaFillError(f"--workers: got {workers}, expected at least 1")
    jobs = match_files(pred_dir, gt_dir, input_dir)
    networks = load_networks(lpips, fid_features, device)
    images = score_all(jobs, workers or os.cpu_count() or 1)
    images = {name: images[name] for name, *_ in jobs}
    features = perceptual_pass(jobs, images, networks)
    keys = ROW_KEYS + (("lpips",) if lpips else ())
    areas = {name: row["lost_fraction"] for name, row in images.items()}
    result = {"mean": mean_scores(list(images.values()), keys), "images": images,
              "by_area": split_by_area(images, areas, keys)}
    if fid_features:
        result["mean"]["fid"] = fid_of(list(images), features)
        for group, members in area_groups(areas).items():
            result["by_area"][group]["fid"] = fid_of(members, features)
    return result
