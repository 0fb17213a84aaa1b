"""The `loss:` config section: one sub-section per term, each with a `weight` (0 = not computed).

Defaults follow pix2pix (L1 x100 plus a vanilla GAN loss) with the structure and colour terms
that target the competition score (SSIM, low-frequency colour, hue histogram) switched on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import param, section
from utils.errors import ConfigError


def _check_odd(key: str, value: int) -> None:
    """Gaussian windows need a centre pixel, so their sizes must be odd."""
    if value % 2 == 0:
        raise ConfigError(key, f"got {value}, expected an odd number")


@dataclass
class PixelLossConfig:
    weight: float = param(100.0, "weight of the per-pixel loss between prediction and target RGB in [0, 1] (0 = off)", ge=0.0)
    type: Literal["l1", "mse", "charbonnier"] = param(
        "l1", "l1 (pix2pix, sharp), mse (blurrier) or charbonnier (smooth L1: sqrt(d^2 + eps^2) - eps)"
    )
    eps: float = param(1e-3, "Charbonnier epsilon: below this error the loss is quadratic (only for type charbonnier)", gt=0.0)


@dataclass
class SSIMLossConfig:
    weight: float = param(10.0, "weight of 1 - SSIM(prediction, target) on RGB in [0, 1] (0 = off)", ge=0.0)
    win_size: int = param(
        11, "side of SSIM's Gaussian window (odd); training crops must be at least this large", ge=3
    )
    win_sigma: float = param(1.5, "standard deviation of SSIM's Gaussian window, in pixels", gt=0.0)

    def check(self) -> None:
        _check_odd("win_size", self.win_size)


@dataclass
class SmoothLossConfig:
    weight: float = param(
        10.0, "weight of the MSE between Gaussian-blurred prediction and target: low-frequency colour agreement (0 = off)", ge=0.0
    )
    kernel_size: int = param(15, "side of the Gaussian blur kernel (odd)", ge=3)
    sigma: float = param(3.0, "standard deviation of the Gaussian blur, in pixels", gt=0.0)

    def check(self) -> None:
        _check_odd("kernel_size", self.kernel_size)


@dataclass
class LostSSIMLossConfig:
    weight: float = param(
        0.0, "weight of 1 - the score's SSIM_lost: skimage's 1-D SSIM along the lost pixels in row-major order, computed as the metric does (0 = off)", ge=0.0
    )
    luma_weight: float = param(
        0.0,
        "extra weight of the same term whose gradient reaches only the luminance: the hole's luminance is trained at "
        "weight + luma_weight, its colour at weight (a heavier weight alone costs colour)",
        ge=0.0,
    )


@dataclass
class AdversarialLossConfig:
    weight: float = param(1.0, "weight of the generator's adversarial loss (0 = train without a discriminator)", ge=0.0)
    type: Literal["vanilla", "lsgan", "hinge"] = param(
        "vanilla", "GAN objective: vanilla (BCE with logits, pix2pix), lsgan (least squares) or hinge"
    )


@dataclass
class HueHistLossConfig:
    weight: float = param(
        5.0, "weight of 1 - correlation of soft 180-bin hue histograms, the differentiable twin of the score's HIST (0 = off)", ge=0.0
    )
    gray_tolerance: float = param(
        1.0,
        "chroma (max - min RGB, in 8-bit levels) below which a pixel counts partly as gray: OpenCV puts exactly gray "
        "pixels in hue bin 0, so a pixel with chroma c goes c/tolerance to its hue bin and the rest to bin 0",
        gt=0.0,
    )
    sigma_bins: float = param(
        1.0, "Gaussian smoothing of both histograms over the circular bins, in bins; widens the gradient's reach (0 = none)", ge=0.0
    )


@dataclass
class FeatMatchLossConfig:
    weight: float = param(
        0.0, "weight of pix2pixHD feature matching: L1 between discriminator features of real and fake (0 = off)", ge=0.0
    )


@dataclass
class PerceptualLossConfig:
    weight: float = param(0.0, "weight of the VGG perceptual loss (0 = off; needs weights_path)", ge=0.0)
    weights_path: str | None = param(
        None, "local torchvision VGG state dict (.pth; full, or only the `features` layers up to the deepest one used); nothing is downloaded"
    )
    network: Literal["vgg11", "vgg16", "vgg19"] = param("vgg19", "torchvision VGG variant the weights file belongs to")
    layers: list[str] = param(
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        "VGG activations compared with L1, named reluB_I (block B, conv I); the network is cut after the deepest",
    )

    def check(self) -> None:
        if self.weight > 0 and not self.weights_path:
            raise ConfigError("weights_path", "is required when loss.perceptual.weight > 0: give a local VGG .pth state dict (nothing is downloaded)")
        if not self.layers:
            raise ConfigError("layers", "got [], expected at least one layer name such as relu2_1")


@dataclass
class ChromaCELossConfig:
    weight: float = param(
        0.0, "weight of the rebalanced cross-entropy of the chroma_bins head's logits against the true (Cb, Cr) (needs model.generator.head chroma_bins; 0 = off)", ge=0.0
    )
    rebalance: float = param(
        0.5, "lambda of the class rebalancing: each pixel weighs 1 / ((1 - lambda) p(bin) + lambda / classes), classes = chroma_bins^2 (121 for 11), p = the batch's chroma histogram (Zhang et al. 0.5; 1 = no rebalancing)", ge=0.0, le=1.0
    )


@dataclass
class LossConfig:
    pixel: PixelLossConfig = section(PixelLossConfig)
    ssim: SSIMLossConfig = section(SSIMLossConfig)
    lost_ssim: LostSSIMLossConfig = section(LostSSIMLossConfig)
    smooth: SmoothLossConfig = section(SmoothLossConfig)
    adversarial: AdversarialLossConfig = section(AdversarialLossConfig)
    hue_hist: HueHistLossConfig = section(HueHistLossConfig)
    feat_match: FeatMatchLossConfig = section(FeatMatchLossConfig)
    perceptual: PerceptualLossConfig = section(PerceptualLossConfig)
    chroma_ce: ChromaCELossConfig = section(ChromaCELossConfig)
    mask_weight: float = param(
        2.0, "errors inside the lost region count this many times as much in the pixel and smooth terms (1 = no emphasis)", ge=0.0
    )
