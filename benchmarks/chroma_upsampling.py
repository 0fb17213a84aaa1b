"""What computing chroma at 1/s resolution costs in score, without training: a cheap proxy for chroma_scale.

    python benchmarks/chroma_upsampling.py FOLDER [FOLDER ...] [--images 50] [--scales 1 2 4]

For every photo: its true (Cb, Cr) is averaged over s x s blocks exactly as the chroma_bins head
sees its features and its cross-entropy target (models/chroma_bins.area_downsample, on the
image padded to a multiple of 32 as the generator pads it), brought back to full resolution by
each method, composited with the photo's TRUE Y through the gamut-safe conversion
(utils/color.ycbcr_to_rgb_in_gamut), rounded to 8 bits and scored against the photo with the
competition score (a DACON-style lost region drawn per photo, seed 0). Scale 1 is the round trip
alone: a perfect chroma prediction's score. The gap between scale s and scale 1 is an upper
bound of what the reduced resolution itself can cost a model that predicts chroma perfectly
(a real model's chroma is far blurrier than the blocks).

Methods:
  bilinear         the head's upsampling (models/chroma_bins.upsample)
  guided r=R e=E   a fast guided filter (He & Sun 2015) guided by the full-resolution Y: the
                   linear model chroma ~ a * Y + b fitted per block over a (2R+1)^2-block window
                   of the block means (regularised by E), a and b upsampled bilinearly, then
                   applied to the full-resolution Y, so chroma edges follow luma edges
  kornia guided    kornia.filters.guided_blur(Y, bilinear chroma, subsample=s): the same filter
                   from the library, which subsamples by picking pixels instead of block means
  joint bilateral  bilinear whose 4 taps are also weighted by a Gaussian (sigma S) of the
                   difference between the pixel's Y and the Y of the tap's block

Prints per scale and method the means of the score and its terms, and the mean absolute (Cb, Cr)
error in 8-bit levels.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Callable

import _common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np
import torch
from kornia.filters import box_blur, guided_blur

from data.config import DamageConfig
from data.damage import draw_mask
from data.io import read_rgb
from data.sources import list_images
from metrics.fast_score import fast_score_image
from metrics.torch_score import to_uint8
from models.chroma_bins import area_downsample, upsample
from models.layers import pad_to_multiple
from utils.color import rgb_to_ycbcr, ycbcr_to_rgb_in_gamut

Upsampler = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]  # (low chroma, full Y, scale) -> full chroma


def bilinear(low: torch.Tensor, y: torch.Tensor, scale: int) -> torch.Tensor:
    return upsample(low, scale, y.shape[-2:])


def fast_guided(radius: int, eps: float) -> Upsampler:
    def run(low: torch.Tensor, y: torch.Tensor, scale: int) -> torch.Tensor:
        if scale == 1:
            return low
        size = (2 * radius + 1, 2 * radius + 1)
        guide = area_downsample(y, scale)
        mean_i, mean_p = box_blur(guide, size), box_blur(low, size)
        var_i = box_blur(guide * guide, size) - mean_i * mean_i
        cov_ip = box_blur(guide * low, size) - mean_i * mean_p
        a = cov_ip / (var_i + eps)
        b = mean_p - a * mean_i
        return upsample(box_blur(a, size), scale, y.shape[-2:]) * y + upsample(box_blur(b, size), scale, y.shape[-2:])
    return run


def kornia_guided(radius: int, eps: float) -> Upsampler:
    def run(low: torch.Tensor, y: torch.Tensor, scale: int) -> torch.Tensor:
        if scale == 1:
            return low
        return guided_blur(y, bilinear(low, y, scale), 2 * radius * scale + 1, eps, subsample=scale)
    return run


def _taps(size: int, scale: int, low_size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Bilinear (align_corners=False) taps along one axis: the two low-res indices of every full-res pixel and the second's weight."""
    position = ((torch.arange(size) + 0.5) / scale - 0.5).clamp(min=0)
    first = position.floor().long().clamp(max=low_size - 1)
    return [first, (first + 1).clamp(max=low_size - 1)], position - first


def joint_bilateral(sigma: float) -> Upsampler:
    """Bilinear upsampling whose 4 taps are also weighted by exp(-(Y - Y of the tap's block)^2 / 2 sigma^2)."""
    def run(low: torch.Tensor, y: torch.Tensor, scale: int) -> torch.Tensor:
        if scale == 1:
            return low
        guide = area_downsample(y, scale)
        rows, fy = _taps(y.shape[-2], scale, low.shape[-2])
        cols, fx = _taps(y.shape[-1], scale, low.shape[-1])
        fy, fx = fy.view(-1, 1), fx.view(1, -1)
        total, weights = 0, 0
        for i, wy in ((0, 1 - fy), (1, fy)):
            for j, wx in ((0, 1 - fx), (1, fx)):
                tap_c = low.index_select(-2, rows[i]).index_select(-1, cols[j])
                tap_y = guide.index_select(-2, rows[i]).index_select(-1, cols[j])
                weight = wy * wx * torch.exp(-(y - tap_y) ** 2 / (2 * sigma**2)) + 1e-12
                total, weights = total + weight * tap_c, weights + weight
        return total / weights
    return run


METHODS: dict[str, Upsampler] = {
    "bilinear": bilinear,
    "guided r=1 e=1e-3": fast_guided(1, 1e-3),
    "guided r=2 e=1e-2": fast_guided(2, 1e-2),
    "kornia guided r=1 e=1e-3": kornia_guided(1, 1e-3),
    "joint bilateral s=0.1": joint_bilateral(0.1),
}


def evaluate(photo: np.ndarray, mask: np.ndarray, scales: list[int]) -> dict[tuple[int, str], dict[str, float]]:
    rgb = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    h, w = photo.shape[:2]
    ycc = pad_to_multiple(rgb_to_ycbcr(rgb), 32, "reflect")
    y, chroma = ycc[:, :1], ycc[:, 1:]
    rows = {}
    for scale in scales:
        low = area_downsample(chroma, scale)
        for name, method in METHODS.items():
            if scale == 1 and name != "bilinear":
                continue
            full = method(low, y, scale).clamp(0, 1)[..., :h, :w]
            pred = to_uint8(ycbcr_to_rgb_in_gamut(y[..., :h, :w], full))[0]
            terms = fast_score_image(photo, pred, mask)
            error = (full - chroma[..., :h, :w]).abs().mean() * 255
            rows[scale, "round trip" if scale == 1 else name] = {**{k: terms[k] for k in ("score", "ssim_full", "ssim_lost", "hist")},
                                                                  "chroma_mae": float(error)}
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("folders", nargs="+", type=Path, help="folders of colour photos")
    parser.add_argument("--images", type=int, default=50, help="photos per folder (the first, sorted)")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    count = 0
    for folder in args.folders:
        for path in list_images(folder, recursive=False)[:args.images]:
            photo = read_rgb(path)
            mask, _ = draw_mask(*photo.shape[:2], rng, DamageConfig())
            for key, row in evaluate(photo, mask, args.scales).items():
                results.setdefault(key, []).append(row)
            count += 1
    print(f"{count} photos from {', '.join(str(f) for f in args.folders)}; true Y, chroma at 1/scale; means")
    print(f"{'scale':>5} {'method':<26} {'score':>7} {'SSIM_full':>9} {'SSIM_lost':>9} {'HIST':>7} {'CbCr MAE':>9}")
    for (scale, name), rows in results.items():
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
        print(f"{scale:>5} {name:<26} {mean['score']:7.4f} {mean['ssim_full']:9.4f} {mean['ssim_lost']:9.4f} "
              f"{mean['hist']:7.4f} {mean['chroma_mae']:9.3f}")


if __name__ == "__main__":
    main()
