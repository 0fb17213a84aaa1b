"""How well the training-free hole detector finds seeded synthetic damage on folders of real photos.

Usage: python benchmarks/hole_iou.py FOLDER [FOLDER ...] [--rows plain clipped-bright clipped-dark]
                                     [--seed 0] [--limit N] [--draws 1] [--checkpoint PATH]
Prints one table row per folder and photo set:
- plain: the photos as they are;
- clipped-bright / clipped-dark: each photo first over- / under-exposed until a share drawn from
  10%..40% of it is pure white (gray 255) / pure black (gray 0) (data/exposure.py), the natural
  plateaus a constant-fill detector can mistake for the hole.
Every set gets the same damages (seeded by seed and photo index), so its rows compare like for like.
Columns: IoU between the detected and the true mask (mean / median / min), failures (IoU < 0.5),
how often the detector is unsure (confidence below CONFIDENT, where `--mask-source auto` asks the
mask net), and false holes on the undamaged photos (any region found / found confidently).
With --checkpoint (a run trained with model.mask_net.enabled=true) two more columns: the learned
mask net alone and `auto` (the detector, and the mask net where it is unsure) on the same damages.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.config import DamageConfig  # noqa: E402
from data.damage import synthesize_damage  # noqa: E402
from data.exposure import random_clip_exposure  # noqa: E402
from data.hole_detection import CONFIDENT, auto_mask, find_hole  # noqa: E402
from data.io import IMAGE_SUFFIXES, read_rgb  # noqa: E402
from models.build import build_mask_net  # noqa: E402
from trainers.checkpoint import load_checkpoint  # noqa: E402
from trainers.config import config_from_dict  # noqa: E402
from utils.color import pil_luma  # noqa: E402

ROWS = {"plain": None, "clipped-bright": "bright", "clipped-dark": "dark"}  # photo set -> exposure


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


@dataclass
class DamagedPhoto:
    undamaged: np.ndarray  # gray of the (exposed) photo before damage
    damages: list[tuple[np.ndarray, np.ndarray]]  # (damaged gray, true mask) per draw


def damaged_set(files: list[Path], row: str, seed: int, draws: int = 1) -> Iterator[DamagedPhoto]:
    """The photos of a set (`ROWS`), exposed as the set says, each with `draws` seeded DACON-style damages.

    Damage is seeded by (seed, photo index) and the exposure by (seed, photo index, 1), so every
    set holds the same hole shapes and fills on the same photos.
    """
    exposure, cfg = ROWS[row], DamageConfig()
    for index, path in enumerate(files):
        rgb = read_rgb(path)
        if exposure is not None:
            rgb = random_clip_exposure(rgb, exposure, np.random.default_rng([seed, index, 1]))
        rng = np.random.default_rng([seed, index])
        yield DamagedPhoto(pil_luma(rgb), [synthesize_damage(rgb, rng, cfg) for _ in range(draws)])


def learned_detector(checkpoint: Path) -> Callable[[np.ndarray], np.ndarray]:
    """The mask net of a checkpoint as a function gray uint8 -> bool mask (sigmoid > 0.5)."""
    state = load_checkpoint(checkpoint)
    config = config_from_dict(state["config"])
    net = build_mask_net(config.model)
    weights = state["trainer"].get("mask_net")
    if net is None or weights is None:
        raise SystemExit(f"{checkpoint}: no mask net in this checkpoint (train with model.mask_net.enabled=true)")
    net.load_state_dict(weights)
    net.eval()

    @torch.no_grad()
    def detect(gray: np.ndarray) -> np.ndarray:
        logits = net(torch.from_numpy(gray).float().div(255)[None, None])
        return (logits[0, 0] > 0).numpy()

    return detect


def stats(scores: list[float]) -> str:
    s = np.array(scores)
    return f"{s.mean():.4f} / {np.median(s):.4f} / {s.min():.3f} | {np.mean(s < 0.5):.1%}"


def measure(files: list[Path], row: str, seed: int, draws: int, learned: Callable[[np.ndarray], np.ndarray] | None) -> str:
    """One table row for a folder's photo set."""
    scores, unsure, learned_scores, auto_scores = [], 0, [], []
    false_any = false_confident = 0
    seconds, detections = 0.0, 0
    for photo in damaged_set(files, row, seed, draws):
        start = time.perf_counter()
        empty = find_hole(photo.undamaged)
        seconds, detections = seconds + time.perf_counter() - start, detections + 1
        false_any += int(empty.mask.any())
        false_confident += int(empty.confidence >= CONFIDENT)
        for gray, mask in photo.damages:
            start = time.perf_counter()
            found = find_hole(gray)
            seconds, detections = seconds + time.perf_counter() - start, detections + 1
            scores.append(iou(found.mask, mask))
            unsure += int(found.confidence < CONFIDENT)
            if learned is not None:
                guess = learned(gray)
                learned_scores.append(iou(guess, mask))
                auto_scores.append(iou(auto_mask(found, gray, lambda _: guess), mask))
    cells = [f"{len(files)} x {draws}", stats(scores), f"{unsure / len(scores):.1%}",
             f"{false_any} / {false_confident}", f"{seconds / detections * 1000:.0f}"]
    if learned is not None:
        cells += [stats(learned_scores), stats(auto_scores)]
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS), help="photo sets to measure (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos per folder (0 = all)")
    parser.add_argument("--draws", type=int, default=1, help="damages per photo")
    parser.add_argument("--checkpoint", type=Path, help="also score the learned mask net of this checkpoint, alone and in auto")
    args = parser.parse_args()
    learned = learned_detector(args.checkpoint) if args.checkpoint else None
    header = ["folder", "set", "photos x damages", "IoU mean / median / min", "failures (IoU < 0.5)",
              f"unsure (confidence < {CONFIDENT})", "false holes on undamaged (any / confident)", "ms per detection"]
    if learned is not None:
        header += ["mask net IoU mean / median / min", "mask net failures", "auto IoU mean / median / min", "auto failures"]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for folder in args.folders:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: args.limit or None]
        if not files:
            raise SystemExit(f"{folder}: no images found")
        label = f"{folder.parent.name}/{folder.name}"
        for row in args.rows:
            print(f"| {label} | {row} | {measure(files, row, args.seed, args.draws, learned)} |", flush=True)


if __name__ == "__main__":
    main()
