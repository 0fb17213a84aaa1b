"""The competition score re-implemented in torch, for fast validation inside the training loop.

It reproduces :mod:`metrics.competition` term by term, not approximately:

* skimage's SSIM (uniform 7-tap window, sample covariance, K1=0.01, K2=0.03) averages the SSIM map
  only over windows that lie fully inside the image (it crops the 3-pixel border), so padding never
  matters and "valid" pooling is the same computation. It runs in float64, as skimage does:
  in float32 the variance ``E[x^2] - E[x]^2`` of 0..255 levels loses ~1e-4 to cancellation.
* OpenCV's 8-bit RGB->HSV hue is read from a table that OpenCV itself filled for all 2^24
  colours, so it is bit-exact by construction.
* The predictions are quantised to uint8 levels first, exactly as a PNG written from them would be,
  so the figures are those that the submitted images would get.

The same edge-case rules as the exact metric apply (constant prediction, < 7 lost pixels).
``score_batch`` is the one scoring call of the training loop and takes the fastest exact path:
this torch code for CUDA tensors; on a CPU, where torch's float64 pooling is slower than skimage
itself, the OpenCV twin (:mod:`metrics.fast_score`) over a thread pool (OpenCV and NumPy release
the GIL). Both agree with :func:`metrics.competition.score_image` within 1e-7 (tested).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from metrics.competition import HUE_BINS, KEYS, PSNR_CAP_DB, SSIM_WINDOW, combine
from metrics.fast_score import fast_score_image

Backend = Literal["auto", "torch", "opencv"]

_K1, _K2 = 0.01, 0.03


def to_levels(images: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] images -> float64 uint8 levels 0..255: ``(x.clamp(0, 1) * 255).round()``.

    Round half to even on the float64 values; a PNG writer must quantise the same way
    (:func:`to_uint8`) for these figures to be the submitted images' figures.
    """
    return (images.detach().to(torch.float64).clamp(0, 1) * 255).round()


def _window_means(x: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """skimage's uniform_filter(size=7) cropped by 3 pixels: the mean of each full window.

    Summing first (divisor 1) keeps the window sums of integer levels exact in float64.
    """
    n, c = x.shape[0], x.shape[1]
    if spatial_dims == 2:
        sums = F.avg_pool2d(x.flatten(1, 2), SSIM_WINDOW, stride=1, divisor_override=1)
    else:
        sums = F.avg_pool1d(x.flatten(1, 2), SSIM_WINDOW, stride=1) * SSIM_WINDOW
    return sums.view(n, c, -1, *sums.shape[2:]) / SSIM_WINDOW**spatial_dims


def ssim_mean(x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor) -> torch.Tensor:
    """Mean SSIM over every full window and channel; x, y: B x C x spatial levels, data_range: B.

    Differentiable: losses/lost_ssim.py trains on it (in float32, on values in [0, 1]).
    """
    spatial = x.dim() - 2
    shape = (-1,) + (1,) * (x.dim() - 1)
    c1 = ((_K1 * data_range) ** 2).view(shape)
    c2 = ((_K2 * data_range) ** 2).view(shape)
    n = SSIM_WINDOW**spatial
    cov_norm = n / (n - 1)
    # One filter pass over the five stacked moment maps instead of five passes.
    ux, uy, uxx, uyy, uxy = _window_means(torch.stack([x, y, x * x, y * y, x * y], dim=1), spatial).unbind(1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1)


def _flat_rule(ssim: torch.Tensor, equal: torch.Tensor, data_range: torch.Tensor) -> torch.Tensor:
    """Data range 0: 1.0 when the pixels equal the ground truth, else 0.0 (as the exact metric)."""
    flat = torch.where(equal, torch.ones_like(ssim), torch.zeros_like(ssim))
    return torch.where(data_range == 0, flat, ssim)


def ssim_full(pred: torch.Tensor, target: torch.Tensor, chunk: int = 4) -> torch.Tensor:
    """Per-image SSIM_full of B x 3 x H x W level tensors (float64, 0..255): a B tensor.

    Images go `chunk` at a time: the stacked moment maps take 15 float64 planes per image.
    """
    out = []
    for p, t in zip(pred.split(chunk), target.split(chunk)):
        data_range = p.flatten(1).amax(1) - p.flatten(1).amin(1)
        ssim = ssim_mean(t, p, data_range.clamp_min(1))
        out.append(_flat_rule(ssim, (p == t).flatten(1).all(1), data_range))
    return torch.cat(out)


def ssim_lost(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image 1-D SSIM along the lost pixels (row-major), NaN under 7 lost pixels: a B tensor."""
    out = torch.full((pred.shape[0],), math.nan, dtype=torch.float64, device=pred.device)
    counts = mask.flatten(1).sum(1).tolist()
    for b in range(pred.shape[0]):
        if counts[b] < SSIM_WINDOW:
            continue
        m = mask[b, 0]
        x, y = target[b][:, m].unsqueeze(0), pred[b][:, m].unsqueeze(0)  # 1 x 3 x N
        data_range = (pred[b].max() - pred[b].min()).view(1)
        ssim = ssim_mean(x, y, data_range.clamp_min(1))
        out[b] = _flat_rule(ssim, (x == y).all().view(1), data_range)[0]
    return out


_HUE_LUT: dict[torch.device, torch.Tensor] = {}


def _hue_lut(device: torch.device) -> torch.Tensor:
    """OpenCV's own 8-bit hue of every RGB colour (2^24 entries, 16 MB), so lookups are bit-exact."""
    if device not in _HUE_LUT:
        levels = np.arange(256, dtype=np.uint8)
        colours = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(4096, 4096, 3)
        hue = cv2.cvtColor(colours, cv2.COLOR_RGB2HSV)[..., 0].reshape(-1)
        _HUE_LUT[device] = torch.from_numpy(hue.copy()).to(device)  # uint8
    return _HUE_LUT[device]


def opencv_hue(levels: torch.Tensor) -> torch.Tensor:
    """OpenCV's 8-bit RGB2HSV hue (0..179) of B x 3 x H x W levels: B x H x W int64."""
    rgb = levels.to(torch.int64)
    index = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    return _hue_lut(levels.device)[index].to(torch.int64)


def hist_correl(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image correlation of the 180-bin hue histograms (1.0 for a flat histogram, as OpenCV)."""
    def histograms(levels: torch.Tensor) -> torch.Tensor:
        hue = opencv_hue(levels).flatten(1)
        offset = torch.arange(hue.shape[0], device=hue.device).unsqueeze(1) * HUE_BINS
        counts = torch.bincount((hue + offset).flatten(), minlength=hue.shape[0] * HUE_BINS)
        return counts.view(-1, HUE_BINS).to(torch.float64)

    h1, h2 = histograms(target), histograms(pred)
    d1, d2 = h1 - h1.mean(1, keepdim=True), h2 - h2.mean(1, keepdim=True)
    denom = torch.sqrt((d1 * d1).sum(1) * (d2 * d2).sum(1))
    num = (d1 * d2).sum(1)
    return torch.where(denom > 0, num / denom.clamp_min(1e-300), torch.ones_like(num))


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR of level tensors in dB, capped at 100 dB like the exact metric."""
    mse = ((pred - target) ** 2).flatten(1).mean(1)
    value = 10 * torch.log10(255.0**2 / mse.clamp_min(1e-300))
    return value.clamp(max=PSNR_CAP_DB)


@torch.no_grad()
def torch_score_batch(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> list[dict[str, float]]:
    """The competition terms of each image, on the tensors' device; see :func:`score_batch`."""
    p, t = to_levels(pred), to_levels(target)
    terms = {
        "ssim_full": ssim_full(p, t).tolist(),
        "ssim_lost": ssim_lost(p, t, mask).tolist(),
        "hist": hist_correl(p, t).tolist(),
        "psnr": psnr(p, t).tolist(),
    }
    rows = []
    for i in range(pred.shape[0]):
        row = {key: terms[key][i] for key in terms}
        row["score"] = combine(row["ssim_full"], row["ssim_lost"], row["hist"])
        rows.append({key: row[key] for key in KEYS})
    return rows


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """B x 3 x H x W float [0, 1] -> B x H x W x 3 uint8, quantised as the scores assume."""
    return to_levels(images).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 3:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must be equal Bx3xHxW")
    if mask.shape != (pred.shape[0], 1, *pred.shape[2:]):
        raise ValueError(f"mask {tuple(mask.shape)} must be Bx1xHxW for pred {tuple(pred.shape)}")


def _opencv_score_batch(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> list[dict[str, float]]:
    preds, targets = to_uint8(pred), to_uint8(target)
    masks = mask[:, 0].cpu().numpy()
    workers = max(1, min(len(preds), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fast_score_image, targets, preds, masks))


@torch.no_grad()
def score_batch(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, backend: Backend = "auto"
) -> list[dict[str, float]]:
    """Competition terms per image: keys score, ssim_full, ssim_lost, hist, psnr (python floats).

    pred, target: B x 3 x H x W RGB in [0, 1]; mask: B x 1 x H x W, bool or float (> 0.5 = lost),
    which should be the true lost region ``input != L(gt)`` as the competition defines it.
    ``auto`` picks torch for CUDA tensors and OpenCV otherwise.
    """
    _check(pred, target, mask)
    mask = mask if mask.dtype == torch.bool else mask > 0.5
    if backend == "auto":
        backend = "torch" if pred.is_cuda else "opencv"
    if backend == "torch":
        return torch_score_batch(pred, target, mask)
    return _opencv_score_batch(pred, target, mask)
