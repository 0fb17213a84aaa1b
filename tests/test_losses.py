"""Loss terms and their combination: zero at identity, gradients, GAN signs, weights, masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor, nn

from losses.adversarial import discriminator_losses, generator_adversarial_loss
from losses.combined import DiscriminatorLoss, GeneratorLoss
from losses.config import LossConfig
from losses.feature_matching import feature_matching_loss
from losses.hue_hist import HueHistogramLoss
from losses.pixel import PixelLoss
from losses.smooth import GaussianSmoothLoss
from losses.ssim import SSIMLoss
from utils.config import from_dict
from utils.errors import ChromaFillError, ConfigError

IMAGE_TERMS = ["pixel", "ssim", "smooth", "hue_hist"]
GAN_TYPES = ["vanilla", "lsgan", "hinge"]
ALL_OFF = {name: {"weight": 0.0} for name in ["pixel", "ssim", "smooth", "adversarial", "hue_hist", "feat_match", "perceptual"]}


def natural_image(batch: int = 2, size: int = 48, seed: int = 0) -> Tensor:
    """Colourful smooth gradients plus fine texture, RGB in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    phases = torch.rand(batch, 3, 1, 1, generator=gen) * 6.28
    freqs = 2 + 4 * torch.rand(batch, 3, 1, 1, generator=gen)
    base = 0.5 + 0.35 * torch.sin(freqs * xx + phases) * torch.cos(freqs * yy - phases)
    texture = 0.05 * torch.randn(batch, 3, size, size, generator=gen)
    return (base + texture).clamp(0, 1)


def box_mask(batch: int, size: int) -> Tensor:
    mask = torch.zeros(batch, 1, size, size)
    mask[:, :, size // 4 : size // 2, size // 3 : 2 * size // 3] = 1.0
    return mask


def config(**sections: dict) -> LossConfig:
    """A LossConfig with every term off except the given sections (validated like YAML)."""
    tree = {name: dict(value) for name, value in ALL_OFF.items()}
    for name, value in sections.items():
        tree[name] = {**tree.get(name, {}), **value} if isinstance(value, dict) else value
    return from_dict(LossConfig, tree, "loss")


class TinyGenerator(nn.Module):
    """Gray + mask -> RGB in [0, 1], just deep enough to show gradients reach parameters."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, gray: Tensor, mask: Tensor) -> Tensor:
        return self.net(torch.cat([gray, mask], dim=1))


class TinyDiscriminator(nn.Module):
    """Two-scale conditional patch discriminator returning features with the logits last."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.body = nn.Sequential(nn.Conv2d(4, 8, 4, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, gray: Tensor, rgb: Tensor) -> list[list[Tensor]]:
        out = []
        x = torch.cat([gray, rgb], dim=1)
        for _ in range(2):
            feat = self.body(x)
            out.append([feat, self.head(feat)])
            x = nn.functional.avg_pool2d(x, 2)
        return out


def test_default_weights_are_the_documented_pix2pix_ones() -> None:
    cfg = LossConfig()
    assert (cfg.pixel.weight, cfg.pixel.type, cfg.ssim.weight, cfg.smooth.weight) == (100.0, "l1", 10.0, 10.0)
    assert (cfg.adversarial.weight, cfg.adversarial.type, cfg.hue_hist.weight) == (1.0, "vanilla", 5.0)
    assert (cfg.feat_match.weight, cfg.perceptual.weight, cfg.mask_weight) == (0.0, 0.0, 2.0)


@pytest.mark.parametrize("term", [PixelLoss("l1"), PixelLoss("mse"), PixelLoss("charbonnier"), SSIMLoss(),
                                  GaussianSmoothLoss(), HueHistogramLoss()], ids=lambda t: type(t).__name__ + getattr(t, "kind", ""))
def test_each_image_loss_is_zero_for_identical_images_and_positive_otherwise(term: nn.Module) -> None:
    target = natural_image()
    other = natural_image(seed=5)
    assert term(target, target).item() == pytest.approx(0.0, abs=1e-5)
    assert term(other, target).item() > 1e-3


def test_feature_matching_is_zero_for_identical_features_and_ignores_logits() -> None:
    feats = [[torch.rand(1, 4, 8, 8), torch.rand(1, 1, 8, 8)], [torch.rand(1, 4, 4, 4), torch.rand(1, 1, 4, 4)]]
    other_logits = [[f[0], torch.rand_like(f[1])] for f in feats]
    assert feature_matching_loss(feats, feats).item() == 0.0
    assert feature_matching_loss(other_logits, feats).item() == 0.0
    moved = [[f[0] + 0.5, f[1]] for f in feats]
    assert feature_matching_loss(moved, feats).item() == pytest.approx(0.5)


@pytest.mark.parametrize("term", IMAGE_TERMS + ["adv", "feat_match"])
def test_every_term_sends_gradients_to_the_generator(term: str) -> None:
    section = {"adv": "adversarial"}.get(term, term)
    loss_fn = GeneratorLoss(config(**{section: {"weight": 1.0}}))
    generator, discriminator = TinyGenerator(), TinyDiscriminator()
    target = natural_image()
    mask = box_mask(2, 48)
    gray = target.mean(dim=1, keepdim=True) * (1 - mask)
    pred = generator(gray, mask)
    total, terms = loss_fn(pred, target, mask, d_fake=discriminator(gray, pred), d_real=discriminator(gray, target))
    assert list(terms) == [term]
    total.backward()
    for name, param in generator.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_total_is_the_sum_of_the_named_weighted_terms() -> None:
    cfg = config(pixel={"weight": 100.0}, ssim={"weight": 10.0}, smooth={"weight": 10.0}, adversarial={"weight": 1.0},
                 hue_hist={"weight": 5.0}, feat_match={"weight": 10.0}, mask_weight=2.0)
    loss_fn = GeneratorLoss(cfg)
    target, pred, mask = natural_image(), natural_image(seed=3), box_mask(2, 48)
    d = TinyDiscriminator()
    gray = target.mean(dim=1, keepdim=True)
    total, terms = loss_fn(pred, target, mask, d_fake=d(gray, pred), d_real=d(gray, target))
    assert set(terms) == {"pixel", "ssim", "smooth", "adv", "hue_hist", "feat_match"}
    assert total.item() == pytest.approx(sum(v.item() for v in terms.values()), rel=1e-6)
    assert all(not v.requires_grad for v in terms.values())
    unweighted = PixelLoss("l1")(pred, target, 1.0 + mask).item()
    assert terms["pixel"].item() == pytest.approx(100.0 * unweighted, rel=1e-5)


def test_terms_with_weight_zero_are_neither_built_nor_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> Tensor:
        raise AssertionError("a term with weight 0 was computed")

    for cls in (SSIMLoss, HueHistogramLoss, GaussianSmoothLoss):
        monkeypatch.setattr(cls, "forward", fail)
    monkeypatch.setattr("losses.combined.generator_adversarial_loss", fail)
    monkeypatch.setattr("losses.combined.feature_matching_loss", fail)
    loss_fn = GeneratorLoss(config(pixel={"weight": 1.0}))
    assert not loss_fn.needs_discriminator and not loss_fn.needs_real_features
    total, terms = loss_fn(natural_image(), natural_image(seed=1), box_mask(2, 48))
    assert list(terms) == ["pixel"]
    assert list(loss_fn.weighted_terms) == ["pixel"] and len(loss_fn.image_terms) == 0


def test_discriminator_flags_follow_the_weights() -> None:
    adv_only = GeneratorLoss(config(adversarial={"weight": 1.0}))
    assert adv_only.needs_discriminator and not adv_only.needs_real_features
    fm_only = GeneratorLoss(config(feat_match={"weight": 1.0}))
    assert fm_only.needs_discriminator and fm_only.needs_real_features
    with pytest.raises(ValueError, match="d_fake"):
        adv_only(natural_image(), natural_image(), None)


def _logits(value: float) -> list[list[Tensor]]:
    """Two scales of constant patch logits, with a dummy feature map before them."""
    return [[torch.zeros(2, 4, 8, 8), torch.full((2, 1, 8, 8), value)], [torch.zeros(2, 4, 4, 4), torch.full((2, 1, 4, 4), value)]]


@pytest.mark.parametrize("kind", GAN_TYPES)
def test_discriminator_loss_is_lower_when_it_tells_real_from_fake(kind: str) -> None:
    d_loss = DiscriminatorLoss(config(adversarial={"weight": 1.0, "type": kind}))
    right, right_terms = d_loss(_logits(3.0), _logits(-3.0))
    wrong, _ = d_loss(_logits(-3.0), _logits(3.0))
    assert right.item() < wrong.item()
    assert right.item() == pytest.approx(right_terms["real"].item() + right_terms["fake"].item())
    if kind == "hinge":  # beyond the margin a confident discriminator pays nothing
        assert right.item() == 0.0


@pytest.mark.parametrize("kind", GAN_TYPES)
def test_generator_adversarial_loss_is_lower_when_fakes_look_real(kind: str) -> None:
    fooled = generator_adversarial_loss(_logits(3.0), kind)
    caught = generator_adversarial_loss(_logits(-3.0), kind)
    assert fooled.item() < caught.item()
    if kind == "hinge":
        assert fooled.item() == pytest.approx(-3.0)


def test_gan_losses_average_over_scales() -> None:
    one = [[torch.zeros(1, 1, 4, 4), torch.randn(1, 1, 4, 4)]]
    real, fake = discriminator_losses(one * 2, one * 2, "vanilla")
    real1, fake1 = discriminator_losses(one, one, "vanilla")
    assert (real.item(), fake.item()) == pytest.approx((real1.item(), fake1.item()))
    assert generator_adversarial_loss(one * 3, "lsgan").item() == pytest.approx(generator_adversarial_loss(one, "lsgan").item())


@pytest.mark.parametrize("section", ["pixel", "smooth"])
def test_mask_weight_scales_errors_inside_the_hole_only(section: str) -> None:
    target, mask = natural_image(size=64), box_mask(2, 64)
    inside = target + 0.2 * mask  # error only in the hole (blur spreads it a little for smooth)
    outside = target + 0.2 * (1 - mask)

    def loss(pred: Tensor, mask_weight: float) -> float:
        return GeneratorLoss(config(**{section: {"weight": 1.0}}, mask_weight=mask_weight))(pred, target, mask)[0].item()

    assert loss(inside, 3.0) > 2.0 * loss(inside, 1.0)
    if section == "pixel":
        assert loss(inside, 3.0) == pytest.approx(3.0 * loss(inside, 1.0), rel=1e-5)
        assert loss(outside, 3.0) == pytest.approx(loss(outside, 1.0), rel=1e-6)


def test_ssim_works_on_32px_crops_and_names_the_key_when_the_window_does_not_fit() -> None:
    target = natural_image(size=32)
    assert SSIMLoss(win_size=11)(target.flip(-1), target).item() > 0.05
    with pytest.raises(ChromaFillError, match="loss.ssim.win_size"):
        SSIMLoss(win_size=11)(target[..., :9, :], target[..., :9, :])


@pytest.mark.parametrize("tree, key", [({"ssim": {"win_size": 10}}, "loss.ssim.win_size"),
                                       ({"smooth": {"kernel_size": 4}}, "loss.smooth.kernel_size"),
                                       ({"adversarial": {"type": "wgan"}}, "loss.adversarial.type"),
                                       ({"pixel": {"weight": -1}}, "loss.pixel.weight")])
def test_bad_loss_config_names_the_key(tree: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(LossConfig, tree, "loss")
    assert err.value.key == key


def test_every_loss_config_key_changes_the_built_loss() -> None:
    """No dead options: each non-weight key reaches a module attribute."""
    cfg = LossConfig()
    changed = dataclasses.replace(cfg, pixel=dataclasses.replace(cfg.pixel, type="charbonnier", eps=0.01))
    built = GeneratorLoss(changed).weighted_terms["pixel"]
    assert (built.kind, built.eps) == ("charbonnier", 0.01)
    hue = GeneratorLoss(dataclasses.replace(cfg, hue_hist=dataclasses.replace(cfg.hue_hist, gray_tolerance=3.0, sigma_bins=2.0)))
    assert (hue.image_terms["hue_hist"].gray_tolerance, hue.image_terms["hue_hist"].sigma_bins) == (3.0, 2.0)
    smooth = GeneratorLoss(dataclasses.replace(cfg, smooth=dataclasses.replace(cfg.smooth, kernel_size=7, sigma=2.0)))
    assert smooth.weighted_terms["smooth"].kernel_size == (7, 7) and smooth.weighted_terms["smooth"].sigma == (2.0, 2.0)
    ssim = GeneratorLoss(dataclasses.replace(cfg, ssim=dataclasses.replace(cfg.ssim, win_size=7, win_sigma=1.0)))
    assert (ssim.image_terms["ssim"].win_size, ssim.image_terms["ssim"].win_sigma) == (7, 1.0)


def test_smooth_loss_is_the_difference_of_the_two_blurred_images() -> None:
    """One blur of the difference replaces blurring both images: same value, by linearity."""
    smooth = GaussianSmoothLoss(kernel_size=7, sigma=2.0)
    pred, target = natural_image(), natural_image(seed=1)
    weights = torch.rand(pred.shape[0], 1, *pred.shape[-2:])
    expected = ((smooth.blur(pred) - smooth.blur(target)).square() * weights).mean()
    assert torch.allclose(smooth(pred, target, weights), expected, rtol=1e-5, atol=1e-7)
    assert torch.allclose(smooth(pred, target), (smooth.blur(pred) - smooth.blur(target)).square().mean(), rtol=1e-5, atol=1e-7)


# (section turned on, its settings, the option changed, the other value): every option must move the loss.
OPTION_CHANGES = [
    ("pixel", {"weight": 1.0, "type": "l1"}, "type", "mse"),
    ("pixel", {"weight": 1.0, "type": "l1"}, "type", "charbonnier"),
    ("pixel", {"weight": 1.0, "type": "charbonnier", "eps": 1e-3}, "eps", 0.2),
    ("ssim", {"weight": 1.0}, "win_size", 5),
    ("ssim", {"weight": 1.0}, "win_sigma", 0.5),
    ("smooth", {"weight": 1.0}, "kernel_size", 5),
    ("smooth", {"weight": 1.0}, "sigma", 1.0),
    ("hue_hist", {"weight": 1.0}, "gray_tolerance", 8.0),
    ("hue_hist", {"weight": 1.0}, "sigma_bins", 4.0),
    ("adversarial", {"weight": 1.0, "type": "vanilla"}, "type", "lsgan"),
    ("adversarial", {"weight": 1.0, "type": "vanilla"}, "type", "hinge"),
]


@pytest.mark.parametrize("section, settings, option, value", OPTION_CHANGES,
                         ids=[f"{s}.{o}={v}" for s, _, o, v in OPTION_CHANGES])
def test_every_loss_option_changes_the_loss_value(section: str, settings: dict, option: str, value) -> None:
    """No dead options: copying a value into a module is not enough, it must change what is minimised."""
    pred, target, mask = natural_image(seed=0), natural_image(seed=1), box_mask(2, 48)
    # A faint-tint band (chroma of a few 8-bit levels), where gray_tolerance decides the hue bin.
    pred[..., :16] = pred[..., :16].mean(1, keepdim=True) + torch.tensor([3.0, 0.0, 1.5]).view(1, 3, 1, 1) / 255
    d_fake = [[torch.zeros(2, 4, 8, 8), torch.linspace(-2, 3, 128).reshape(2, 1, 8, 8)]]

    def total(cfg: LossConfig) -> float:
        return float(GeneratorLoss(cfg)(pred, target, mask, d_fake=d_fake)[0])

    before = total(config(**{section: settings}))
    after = total(config(**{section: {**settings, option: value}}))
    assert abs(after - before) > 1e-4 * max(abs(before), 1e-3), (before, after)


@pytest.mark.parametrize("section", ["pixel", "smooth"])
def test_mask_weight_changes_the_loss_value(section: str) -> None:
    pred, target, mask = natural_image(seed=0), natural_image(seed=1), box_mask(2, 48)
    values = [float(GeneratorLoss(config(**{section: {"weight": 1.0}}, mask_weight=w))(pred, target, mask)[0]) for w in (1.0, 4.0)]
    assert values[1] > values[0] * 1.01
