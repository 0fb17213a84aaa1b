"""How long scoring 100 generated 512x512 images takes, on each path.

    python benchmarks/bench_metrics.py [--images 100] [--size 512]

Paths: the exact skimage metric in one process and in a 2-process pool (what evaluate.py does,
end to end on PNG files: process start, reading and scoring), the OpenCV twin (score_batch on a
CPU) and the torch twin (score_batch on a GPU; timed here on whatever device is present).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402

from metrics.competition import score_image  # noqa: E402
from metrics.evaluate_dirs import evaluate_dirs  # noqa: E402
from metrics.torch_score import score_batch  # noqa: E402
from utils.color import pil_luma  # noqa: E402
from utils.runtime import pick_device  # noqa: E402


def make_images(count: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truths cut from a sample photo, noisy blurred predictions, one rectangular hole each."""
    rng = np.random.default_rng(0)
    photo = cv2.resize(skimage.data.astronaut(), (size * 2, size * 2))
    gts, preds, masks = [], [], []
    for _ in range(count):
        y, x = rng.integers(0, size, 2)
        gt = np.ascontiguousarray(photo[y:y + size, x:x + size])
        pred = cv2.GaussianBlur(gt, (7, 7), 0).astype(np.int16) + rng.integers(-10, 11, gt.shape)
        mask = np.zeros((size, size), bool)
        h, w = rng.integers(size // 10, size // 3, 2)
        top, left = rng.integers(0, size - h), rng.integers(0, size - w)
        mask[top:top + h, left:left + w] = True
        gts.append(gt), preds.append(np.clip(pred, 0, 255).astype(np.uint8)), masks.append(mask)
    return np.stack(gts), np.stack(preds), np.stack(masks)


def timed(label: str, count: int, run) -> None:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.2f} s  ({1000 * seconds / count:6.1f} ms/image)")


def write_dirs(root: Path, gts: np.ndarray, preds: np.ndarray, masks: np.ndarray) -> None:
    for folder in ("gt", "input", "pred"):
        (root / folder).mkdir()
    for i, (gt, pred, mask) in enumerate(zip(gts, preds, masks)):
        gray = pil_luma(gt)
        gray[mask] = 40
        cv2.imwrite(str(root / "gt" / f"{i:03d}.png"), cv2.cvtColor(gt, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "pred" / f"{i:03d}.png"), cv2.cvtColor(pred, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "input" / f"{i:03d}.png"), gray)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    n = args.images
    gts, preds, masks = make_images(n, args.size)
    print(f"{n} images of {args.size}x{args.size}, torch threads {torch.get_num_threads()}")
    timed("exact (skimage), 1 process, in memory", n, lambda: [score_image(*z) for z in zip(gts, preds, masks)])
    with tempfile.TemporaryDirectory() as tmp:
        write_dirs(Path(tmp), gts, preds, masks)
        for workers in (1, 2):
            timed(f"evaluate_dirs (exact, files), {workers} worker(s)", n,
                  lambda: evaluate_dirs(Path(tmp) / "pred", Path(tmp) / "gt", Path(tmp) / "input", workers))
    to_tensor = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    pred_t, gt_t, mask_t = to_tensor(preds), to_tensor(gts), torch.from_numpy(masks)[:, None]
    batches = lambda: zip(pred_t.split(16), gt_t.split(16), mask_t.split(16))  # noqa: E731
    timed("score_batch opencv (CPU path), batch 16", n, lambda: [score_batch(*b, backend="opencv") for b in batches()])
    device = pick_device()
    pred_d, gt_d, mask_d = pred_t.to(device), gt_t.to(device), mask_t.to(device)
    score_batch(pred_d[:2], gt_d[:2], mask_d[:2], backend="torch")  # warm-up (hue table, kernels)

    def torch_path() -> None:
        for b in zip(pred_d.split(16), gt_d.split(16), mask_d.split(16)):
            score_batch(*b, backend="torch")
        if device.type == "cuda":
            torch.cuda.synchronize()

    timed(f"score_batch torch on {device.type}, batch 16", n, torch_path)


if __name__ == "__main__":
    main()
