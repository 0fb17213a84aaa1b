"""How well the training-free hole detector finds seeded synthetic damage on a folder of real photos.

Usage: python benchmarks/hole_iou.py FOLDER [--seed 0] [--limit N] [--draws 1] [--checkpoint PATH]
Prints the mean / median IoU between the detected and the true mask, the share of failures
(IoU < 0.5), and how often an undamaged photo gets a (false) hole. With --checkpoint (a run
trained with model.mask_net.enabled=true) it also scores the learned mask net and the
combination "detector, else mask net" on the same damages.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.config import DamageConfig  # noqa: E402
from data.damage import synthesize_damage  # noqa: E402
from data.hole_detection import detect_hole  # noqa: E402
from data.io import IMAGE_SUFFIXES, read_rgb  # noqa: E402
from models.build import build_mask_net  # noqa: E402
from trainers.checkpoint import load_checkpoint  # noqa: E402
from trainers.config import config_from_dict  # noqa: E402
from utils.color import pil_luma  # noqa: E402


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


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


def summary(name: str, scores: list[float]) -> str:
    s = np.array(scores)
    return f"{name}: IoU mean {s.mean():.4f} median {np.median(s):.4f} failures(<0.5) {np.mean(s < 0.5):.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos (0 = all)")
    parser.add_argument("--draws", type=int, default=1, help="damages per photo")
    parser.add_argument("--checkpoint", type=Path, help="also score the learned mask net of this checkpoint")
    args = parser.parse_args()
    files = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"{args.folder}: no images found")
    cfg, rng = DamageConfig(), np.random.default_rng(args.seed)
    learned = learned_detector(args.checkpoint) if args.checkpoint else None
    scores, learned_scores, combined_scores, false_holes, start = [], [], [], 0, time.perf_counter()
    for path in files:
        rgb = read_rgb(path)
        false_holes += int(detect_hole(pil_luma(rgb)).any())
        for _ in range(args.draws):
            gray, mask = synthesize_damage(rgb, rng, cfg)
            found = detect_hole(gray)
            scores.append(iou(found, mask))
            if learned is not None:
                guess = learned(gray)
                learned_scores.append(iou(guess, mask))
                combined_scores.append(iou(found if found.any() else guess, mask))
    s = np.array(scores)
    elapsed = (time.perf_counter() - start) / (len(files) * (args.draws + 1))
    print(
        f"{args.folder}: {len(files)} photos x {args.draws} damages: IoU mean {s.mean():.4f} median {np.median(s):.4f} "
        f"failures(<0.5) {np.mean(s < 0.5):.1%}; false holes on undamaged photos {false_holes}/{len(files)}; "
        f"{elapsed * 1000:.1f} ms per detection"
    )
    if learned is not None:
        print(summary("learned mask net", learned_scores))
        print(summary("detector, else mask net", combined_scores))


if __name__ == "__main__":
    main()
