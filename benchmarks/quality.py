"""The competition score of baselines and checkpoints on real photos with seeded DACON-style damage.

Usage:
    python benchmarks/quality.py PHOTOS_DIR [PHOTOS_DIR ...] [--checkpoint [LABEL=]PATH ...]
        [--seed 0] [--limit N] [--gray-snap X [X ...]] [--true-mask] [--no-baselines] [--no-ema]
        [--precision fp32 [bf16]] [--markdown] [--json OUT.json] [--grid OUT.png --grid-count 4 --grid-height 120]

Every photo (colour; gray ones are skipped) gets one lost region from data/damage.py with the
default DamageConfig, seeded by (--seed, its index), so every method sees the same damage and a
rerun gives the same numbers. Scores are the exact metric (metrics/competition.py score_image,
lost region = input != L(gt)), averaged over the photos. Methods:

- gray copy: the damaged gray input as the prediction (what a do-nothing submission scores);
- telea: the gray input with the hole inpainted by OpenCV Telea;
- each checkpoint: predicted as infer.py does (EMA weights, the checkpoint's own prefill); with
  --precision fp32 bf16, once in fp32 and once in bf16 as infer.py --amp (one row each).

The hole that Telea and the checkpoints fill is the one a real submission has: found by the
training-free constant-fill detector (data/hole_detection.py); --true-mask gives them the true
mask instead. --gray-snap overrides model.generator.gray_snap of every checkpoint, so one trained
model can be measured with several thresholds (one row each). --grid writes input | prediction | original rows
of the first photos for the first checkpoint (a README figure).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.config import DamageConfig  # noqa: E402
from data.damage import synthesize_damage  # noqa: E402
from data.datasets import make_sample  # noqa: E402
from data.hole_detection import detect_hole  # noqa: E402
from data.io import read_rgb  # noqa: E402
from data.prefill import prefill  # noqa: E402
from data.sources import photo_items  # noqa: E402
from metrics.competition import mean_scores, score_image  # noqa: E402
from metrics.torch_score import to_uint8  # noqa: E402
from trainers.inference import inference_autocast, load_generator  # noqa: E402
from utils.atomic import atomic_write_bytes  # noqa: E402
from trainers.predict import generate  # noqa: E402
from utils.errors import ChromaFillError  # noqa: E402
from utils.runtime import pick_device  # noqa: E402

KEYS = ("score", "ssim_full", "ssim_lost", "hist")


@dataclass
class Damaged:
    """One photo with its seeded damage."""

    name: str
    rgb: np.ndarray  # HxWx3 uint8, the ground truth
    gray: np.ndarray  # HxW uint8, the damaged input
    mask: np.ndarray  # HxW bool, the true lost region
    hole: np.ndarray  # HxW bool, the region a method fills (detected, or the true mask)


Predictor = Callable[[Damaged], np.ndarray]


def damaged_photos(folders: list[Path], seed: int, limit: int = 0, true_mask: bool = False) -> list[Damaged]:
    """Colour photos of `folders` (recursive, sorted; the first `limit` of each) with damage seeded by (seed, index)."""
    items = [item for folder in folders for item in photo_items(folder)[: limit or None]]
    photos = []
    for index, item in enumerate(items):
        rgb = read_rgb(item.target)
        gray, mask = synthesize_damage(rgb, np.random.default_rng([seed, index]), DamageConfig())
        hole = mask if true_mask else detect_hole(gray)
        photos.append(Damaged(item.name, rgb, gray, mask, hole))
    return photos


def gray_copy(photo: Damaged) -> np.ndarray:
    return np.repeat(photo.gray[:, :, None], 3, axis=2)


def telea(photo: Damaged) -> np.ndarray:
    return np.repeat(prefill(photo.gray, photo.hole, "telea")[:, :, None], 3, axis=2)


def checkpoint_predictor(path: Path, device: torch.device, gray_snap: float | None, use_ema: bool,
                         amp: bool = False) -> Predictor:
    """Predict as infer.py does: the checkpoint's prefill of the hole, then the generator (fp32, or bf16 as --amp)."""
    generator, config, _ = load_generator(path, device, use_ema, amp)
    autocast = inference_autocast(device, amp)
    if gray_snap is not None:
        generator.gray_snap = gray_snap  # an eval-time post-processing step, no retraining needed
    method = config.data.prefill

    def predict(photo: Damaged) -> np.ndarray:
        sample = make_sample(photo.gray, None, photo.hole, photo.name, method)
        gray = sample["input"].unsqueeze(0).to(device)
        mask = sample["mask"].unsqueeze(0).to(device)
        with autocast():
            return to_uint8(generate(generator, gray, mask))[0]

    return predict


def evaluate(photos: list[Damaged], predict: Predictor) -> tuple[dict[str, float], list[np.ndarray]]:
    """Mean score terms of `predict` over `photos` (exact metric, true lost region), and the predictions."""
    rows, preds = [], []
    for photo in photos:
        pred = predict(photo)
        rows.append(score_image(photo.rgb, pred, photo.mask))
        preds.append(pred)
    return mean_scores(rows, KEYS), preds


def format_table(results: dict[str, dict[str, float]], markdown: bool) -> str:
    width = max(len("method"), *(len(name) for name in results))
    if markdown:
        lines = ["| method | score | ssim_full | ssim_lost | hist |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | " + " | ".join(f"{r[k]:.4f}" for k in KEYS) + " |" for name, r in results.items()]
        return "\n".join(lines)
    lines = [f"{'method':<{width}}  " + "  ".join(f"{k:>9}" for k in KEYS)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{r[k]:>9.4f}" for k in KEYS) for name, r in results.items()]
    return "\n".join(lines)


def restoration_grid(photos: list[Damaged], preds: list[np.ndarray], count: int, height: int = 160) -> np.ndarray:
    """Rows of input | prediction | original, each panel scaled to `height` pixels, 4-pixel white gaps."""
    rows = []
    for photo, pred in list(zip(photos, preds))[:count]:
        panels = [gray_copy(photo), pred, photo.rgb]
        width = round(photo.rgb.shape[1] * height / photo.rgb.shape[0])
        scaled = [cv2.resize(p, (width, height), interpolation=cv2.INTER_AREA) for p in panels]
        gap = np.full((height, 4, 3), 255, np.uint8)
        rows.append(np.concatenate([scaled[0], gap, scaled[1], gap, scaled[2]], axis=1))
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
    parser.add_argument("--true-mask", action="store_true", help="fill the true lost region instead of the detected one")
    parser.add_argument("--no-baselines", action="store_true", help="score the checkpoints only")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator weights, not the EMA copy")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"],
                        help="predict in fp32 and/or bf16 (infer.py --amp); several values = one row per value")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--grid", type=Path, help="write input | prediction | original rows of the first checkpoint")
    parser.add_argument("--grid-count", type=int, default=4, help="rows in --grid")
    parser.add_argument("--grid-height", type=int, default=120, help="height of each --grid panel in pixels")
    args = parser.parse_args(argv)
    try:
        with torch.no_grad():  # scoped: tests call main() in-process and must get gradients back
            return _run(args)
    except ChromaFillError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    checkpoints = [parse_checkpoint(spec) for spec in args.checkpoint]
    if args.grid and not checkpoints:
        raise ChromaFillError("--grid: needs a --checkpoint to show predictions of")
    photos = damaged_photos(args.photos, args.seed, args.limit, args.true_mask)
    device = pick_device(args.device)
    methods: dict[str, Callable[[], Predictor]] = {}
    if not args.no_baselines:
        methods.update({"gray copy": lambda: gray_copy, "telea": lambda: telea})
    snaps = args.gray_snap or [None]
    for label, path in checkpoints:
        for snap in snaps:
            for precision in args.precision:
                name = label if len(snaps) == 1 else f"{label} snap={snap:g}"
                name = name if len(args.precision) == 1 else f"{name} {precision}"
                methods[name] = lambda path=path, snap=snap, amp=precision == "bf16": checkpoint_predictor(
                    path, device, snap, not args.no_ema, amp)
    results, first_preds = {}, None
    for name, make in methods.items():
        results[name], preds = evaluate(photos, make())
        if first_preds is None and name not in ("gray copy", "telea"):
            first_preds = preds
    hole = "true mask" if args.true_mask else "detected hole"
    print(f"{len(photos)} photos, damage seed {args.seed}, filled region: {hole}", file=sys.stderr)
    print(format_table(results, args.markdown))
    if args.json:
        atomic_write_bytes(args.json, json.dumps({"photos": len(photos), "seed": args.seed, "hole": hole, "results": results},
                                                 indent=1).encode())
    if args.grid and first_preds is not None:
        write_png(args.grid, restoration_grid(photos, first_preds, args.grid_count, args.grid_height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
