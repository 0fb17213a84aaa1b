"""The weighted sum of every configured loss term, for the generator and for the discriminator.

Only terms with weight > 0 are built and computed. Each forward returns the total (for backward)
and a dict of the weighted, detached value of every term (for logging), whose values add up to
the total.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from losses.adversarial import DiscOutput, discriminator_losses, generator_adversarial_loss
from losses.chroma_ce import ChromaClassLoss
from losses.config import LossConfig
from losses.feature_matching import feature_matching_loss
from losses.hue_hist import HueHistogramLoss
from losses.lost_ssim import LostSSIMLoss
from losses.perceptual import PerceptualLoss
from losses.pixel import PixelLoss, mask_weights
from losses.smooth import GaussianSmoothLoss
from losses.ssim import SSIMLoss
from models.config import GeneratorConfig
from utils.errors import ConfigError


def _weighted_terms(cfg: LossConfig) -> dict[str, nn.Module]:
    """Terms compared pixel by pixel, so the lost region can be emphasised: called (pred, target, weights)."""
    terms: dict[str, nn.Module] = {}
    if cfg.pixel.weight > 0:
        terms["pixel"] = PixelLoss(cfg.pixel.type, cfg.pixel.eps)
    if cfg.smooth.weight > 0:
        terms["smooth"] = GaussianSmoothLoss(cfg.smooth.kernel_size, cfg.smooth.sigma)
    return terms


def _image_terms(cfg: LossConfig) -> dict[str, nn.Module]:
    """Terms on whole images (windows, histograms, deep features): called (pred, target)."""
    terms: dict[str, nn.Module] = {}
    if cfg.ssim.weight > 0:
        terms["ssim"] = SSIMLoss(cfg.ssim.win_size, cfg.ssim.win_sigma)
    if cfg.hue_hist.weight > 0:
        terms["hue_hist"] = HueHistogramLoss(cfg.hue_hist.gray_tolerance, cfg.hue_hist.sigma_bins)
    if cfg.perceptual.weight > 0:
        p = cfg.perceptual
        if not p.weights_path:  # checked at config load too; repeated for configs built in code
            raise ConfigError("loss.perceptual.weights_path", "is required when loss.perceptual.weight > 0")
        terms["perceptual"] = PerceptualLoss(p.network, p.layers, p.weights_path)
    return terms


class GeneratorLoss(nn.Module):
    """Everything the generator minimises: reconstruction, structure, colour and GAN terms."""

    def __init__(self, cfg: LossConfig, generator: GeneratorConfig | None = None) -> None:
        """`generator`: model.generator, whose chroma_bins head the chroma_ce term trains (the config
        checks that the head is chroma_bins when chroma_ce is on; the default is the default head's)."""
        super().__init__()
        self.cfg = cfg
        self.weighted_terms = nn.ModuleDict(_weighted_terms(cfg))
        self.image_terms = nn.ModuleDict(_image_terms(cfg))
        lost = cfg.lost_ssim
        lost_weight = lost.weight + lost.luma_weight
        self.lost_ssim = LostSSIMLoss(lost.weight / lost_weight) if lost_weight > 0 else None
        self.chroma_ce: ChromaClassLoss | None = None
        if cfg.chroma_ce.weight > 0:
            generator = generator or GeneratorConfig()
            self.chroma_ce = ChromaClassLoss(generator.chroma_bins, cfg.chroma_ce.rebalance, generator.chroma_scale)
        self.weights = {
            "pixel": cfg.pixel.weight, "smooth": cfg.smooth.weight, "ssim": cfg.ssim.weight,
            "lost_ssim": lost_weight,
            "hue_hist": cfg.hue_hist.weight, "perceptual": cfg.perceptual.weight,
            "adv": cfg.adversarial.weight, "feat_match": cfg.feat_match.weight, "chroma_ce": cfg.chroma_ce.weight,
        }

    @property
    def needs_chroma_logits(self) -> bool:
        """Whether forward needs the generator's chroma-bin logits (chroma_logits)."""
        return self.chroma_ce is not None

    @property
    def needs_discriminator(self) -> bool:
        """Whether forward needs D's output on the prediction (d_fake)."""
        return self.cfg.adversarial.weight > 0 or self.cfg.feat_match.weight > 0

    @property
    def needs_real_features(self) -> bool:
        """Whether forward also needs D's output on the real image (d_real)."""
        return self.cfg.feat_match.weight > 0

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        mask: Tensor | None,
        d_fake: DiscOutput | None = None,
        d_real: DiscOutput | None = None,
        chroma_logits: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """pred, target: Bx3xHxW RGB in [0, 1]; mask: Bx1xHxW, 1 in the lost region.

        d_fake is D's output on the prediction (with gradients to the generator), d_real on the
        ground truth; both are lists per scale of feature maps with the logits last.
        chroma_logits: the chroma_bins head's logits, for the chroma_ce term.
        """
        raw: dict[str, Tensor] = {}
        weights = mask_weights(mask, self.cfg.mask_weight)
        for name, term in self.weighted_terms.items():
            raw[name] = term(pred, target, weights)
        for name, term in self.image_terms.items():
            raw[name] = term(pred, target)
        if self.lost_ssim is not None:
            if mask is None:
                raise ValueError("GeneratorLoss: the lost_ssim term needs the lost-region mask")
            raw["lost_ssim"] = self.lost_ssim(pred, target, mask)
        raw.update(self._gan_terms(d_fake, d_real))
        if self.chroma_ce is not None:
            if chroma_logits is None:
                raise ValueError("GeneratorLoss: the chroma_ce term needs the generator's chroma_logits")
            raw["chroma_ce"] = self.chroma_ce(chroma_logits, target)
        weighted = {name: self.weights[name] * value for name, value in raw.items()}
        total = torch.stack(list(weighted.values())).sum() if weighted else pred.new_zeros(())
        return total, {name: value.detach() for name, value in weighted.items()}

    def _gan_terms(self, d_fake: DiscOutput | None, d_real: DiscOutput | None) -> dict[str, Tensor]:
        if not self.needs_discriminator:
            return {}
        if d_fake is None:
            raise ValueError("GeneratorLoss: the adversarial / feature matching terms need d_fake")
        terms = {}
        if self.cfg.adversarial.weight > 0:
            terms["adv"] = generator_adversarial_loss(d_fake, self.cfg.adversarial.type)
        if self.cfg.feat_match.weight > 0:
            if d_real is None:
                raise ValueError("GeneratorLoss: feature matching needs d_real")
            terms["feat_match"] = feature_matching_loss(d_fake, d_real)
        return terms


class DiscriminatorLoss(nn.Module):
    """The discriminator's objective: real patches towards 'real', fake ones towards 'fake'.

    Unweighted (the discriminator has its own optimiser); averaged over scales. Pass D's output
    on the detached prediction as d_fake.
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.kind = cfg.adversarial.type

    def forward(self, d_real: DiscOutput, d_fake: DiscOutput) -> tuple[Tensor, dict[str, Tensor]]:
        real, fake = discriminator_losses(d_real, d_fake, self.kind)
        total = real + fake
        return total, {"real": real.detach(), "fake": fake.detach()}
