"""Fourier convolutions (LaMa's FFC global branch): a layer whose every output pixel sees the whole map.

A convolution's receptive field grows a few pixels per layer, so a hole wider than it is filled
from its rim alone. A 1x1 convolution applied to the 2-D Fourier transform of a feature map mixes
every position with every other in one layer (each frequency is a sum over the whole map), and its
weights do not depend on the map's size, so blocks trained on small crops apply unchanged to a
whole photo (Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions").

The transforms are written as products with cosine and sine matrices built from the map's size
rather than torch.fft: ONNX has no complex tensors and torch's exporter no rfft2, and on the small
maps the blocks see (1/16 of the image) the products cost little. They equal torch.fft.rfft2 /
irfft2 with norm="ortho" (tests/test_models_fourier.py).
"""

from __future__ import annotations

import torch
from torch import nn


class FourierUnit(nn.Module):
    """1x1 convolution, BatchNorm and ReLU over the real FFT of the input (real and imaginary parts as channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spectral = nn.Sequential(
            nn.Conv2d(2 * channels, 2 * channels, 1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The transforms run in fp32 even under autocast (bf16 sums over a whole row would lose the
        # small frequencies), the convolution in the autocast dtype.
        with torch.autocast(x.device.type, enabled=False):
            real, imag = rfft2(x.float())
        mixed = self.spectral(torch.cat([real, imag], dim=1))
        with torch.autocast(x.device.type, enabled=False):
            return irfft2(*mixed.float().chunk(2, dim=1), width=x.shape[-1]).to(x.dtype)


class SpectralBlock(nn.Module):
    """A residual block of LaMa's spectral transform: x + expand(y + FourierUnit(y)), y = reduce(x).

    `expand` starts at zero, so the block starts as the identity: the decoder below it first sees
    the encoder's features unchanged, and the global mixing grows in as it trains.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 2, 1)
        self.reduce = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.fourier = FourierUnit(hidden)
        self.expand = nn.Conv2d(hidden, channels, 1)
        self.zero_output()

    def zero_output(self) -> None:
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        return x + self.expand(y + self.fourier(y)).to(x.dtype)


def _cos_sin(size: torch.Tensor | int, count: torch.Tensor | int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of 2 pi k n / size for k < count (rows) and n < size (columns), on `like`'s device, in fp32."""
    k = torch.arange(count, device=like.device, dtype=torch.float32)
    n = torch.arange(size, device=like.device, dtype=torch.float32)
    angles = torch.outer(k, n) * (2 * torch.pi / size)
    return torch.cos(angles), torch.sin(angles)


def rfft2(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch.fft.rfft2(x, norm="ortho") as (real, imaginary) parts, by matrix products over the last two axes."""
    height, width = x.shape[-2], x.shape[-1]
    cos_w, sin_w = _cos_sin(width, width // 2 + 1, x)  # (W/2+1, W)
    real = x @ cos_w.T
    imag = -(x @ sin_w.T)
    cos_h, sin_h = _cos_sin(height, height, x)  # (H, H), symmetric
    scale = (height * width) ** -0.5
    # (cos - i sin) applied along H to real + i imag
    return (cos_h @ real + sin_h @ imag) * scale, (cos_h @ imag - sin_h @ real) * scale


def irfft2(real: torch.Tensor, imag: torch.Tensor, width: torch.Tensor | int) -> torch.Tensor:
    """torch.fft.irfft2(complex(real, imag), s=(H, width), norm="ortho"), by matrix products.

    As irfft, the imaginary parts of the zero and (for an even width) the Nyquist frequency are
    ignored: their sines are zero at every sample.
    """
    height, bins = real.shape[-2], real.shape[-1]
    cos_h, sin_h = _cos_sin(height, height, real)
    # (cos + i sin) applied along H
    real, imag = cos_h @ real - sin_h @ imag, cos_h @ imag + sin_h @ real
    cos_w, sin_w = _cos_sin(width, bins, real)  # (bins, W)
    # Each bin but the zero one (and the Nyquist one of an even width) stands for itself and its mirror.
    k = torch.arange(bins, device=real.device, dtype=torch.float32)
    twice = 2.0 - (k == 0).float() - (2 * k == width).float()
    out = (real * twice) @ cos_w - (imag * twice) @ sin_w
    return out * (height * width) ** -0.5
