"""A U-Net (or U-Net++) decoder from segmentation_models_pytorch on a pretrained timm encoder.

The encoder sees what its ImageNet weights expect: the gray input normalised by the averages of
the weights' per-channel mean and std (the packaged Lite0 expects [-1, 1]), with a stem whose gray
channel carries the summed, rescaled RGB weights, whose bias (or following BatchNorm) carries what
each RGB channel's own mean adds, and whose mask channel starts at zero
(pretrained_weights.adapt_stem). The output head and padding are the
ones of the `unet` type (models/generator_io.py), so luminance stays exact outside the hole.

The model also describes how it wants to be fine-tuned, so the trainer stays generic:
`optimizer_groups` (the encoder at its own learning rate) and `start_epoch` (the encoder frozen
for the first epochs). Frozen encoder BatchNorm statistics are kept by overriding `train()`.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import segmentation_models_pytorch as smp
import timm
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from models import pretrained_weights
from models.generator_io import check_gray_mask, finish, padded
from models.config import GeneratorConfig
from models.fourier import SpectralBlock
from models.heads import OutputHead
from models.init import init_weights
from models.registry import register
from utils.errors import ConfigError

DECODERS = {"unet": smp.Unet, "unetplusplus": smp.UnetPlusPlus}
ENCODER_DEPTH = 5  # smp's deepest: features down to 1/32, so inputs are padded to a multiple of 32
# The feature the global blocks mix (1/16 resolution): 8x8 on a 128-pixel training crop, 30x24 on a
# 480x360 photo; the deepest (1/32) is 4x4 on a crop, where the encoder's own reach already spans it.
GLOBAL_LEVEL = 4


@register("generator", "smp_unet")
class PretrainedUNetGenerator(nn.Module):
    """`G(gray, mask) -> RGB` as the `unet` type (same shapes, ranges and head), on a timm encoder."""

    def __init__(
        self,
        encoder: str = pretrained_weights.PACKAGED_ENCODER,
        encoder_weights: str = "packaged",
        decoder: str = "unet",
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        encoder_lr_multiplier: float = 1.0,
        encoder_frozen_epochs: int = 0,
        encoder_frozen_stages: int = 0,
        encoder_freeze_bn: bool = False,
        decoder_sees_mask: bool = False,
        global_blocks: int = 0,
        mask_channel: bool = True,
        head: str = "luma_composite",
        chroma_bins: int = GeneratorConfig.chroma_bins,
        chroma_temperature: float = GeneratorConfig.chroma_temperature,
        chroma_scale: int = GeneratorConfig.chroma_scale,
        gray_snap: float = 0.0,
        hole_blur: float = 0.0,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        self.check_options(encoder=encoder, encoder_weights=encoder_weights, decoder=decoder, decoder_channels=decoder_channels,
                           decoder_sees_mask=decoder_sees_mask, mask_channel=mask_channel)
        self.mask_channel, self.head, self.gray_snap, self.pad_mode = mask_channel, head, gray_snap, pad_mode
        self.hole_blur = hole_blur
        self.output_head = OutputHead(head, chroma_bins, chroma_temperature, chroma_scale)
        self.encoder_lr_multiplier = encoder_lr_multiplier
        self.encoder_frozen_epochs = encoder_frozen_epochs
        self.encoder_freeze_bn = encoder_freeze_bn
        self.encoder_frozen = False
        self.size_multiple = 2**ENCODER_DEPTH  # what inputs are padded to (export.py reads it too)
        self.net = DECODERS[decoder](
            encoder_name=f"tu-{encoder}", encoder_weights=None, encoder_depth=ENCODER_DEPTH,
            decoder_channels=tuple(decoder_channels), in_channels=2 if mask_channel else 1,
            classes=self.output_head.raw_channels)
        cfg = self.net.encoder.model.pretrained_cfg
        # One scalar pair for the gray channel; the stem takes each RGB channel's own (adapt_stem).
        self.input_mean, self.input_std = pretrained_weights.gray_normalisation(cfg["mean"], cfg["std"])
        if not _on_meta_device():  # a meta build (inference) is about to receive its weights
            self.load_encoder_weights(encoder_weights, encoder)
        self.stage_frozen = stage_modules(self.net.encoder.model, encoder_frozen_stages)
        # Level 0 of the features is the input itself, which the decoder drops.
        self.mask_embeddings = nn.ParameterList(
            [nn.Parameter(torch.zeros(c)) for c in self.net.encoder.out_channels[1:]] if decoder_sees_mask else [])
        self.global_blocks = nn.Sequential(*(SpectralBlock(self.net.encoder.out_channels[GLOBAL_LEVEL]) for _ in range(global_blocks)))
        self.set_encoder_frozen(False)

    @staticmethod
    def check_options(**options: Any) -> None:
        """Cross-key rules, checked when the config is loaded (the registry calls this)."""
        encoder, weights = options.get("encoder"), options.get("encoder_weights")
        if encoder is not None and not timm.is_model(encoder):
            raise ConfigError("encoder", f"got {encoder!r}, expected a timm model name such as tf_efficientnet_lite0, tf_efficientnet_b4 or convnext_tiny")
        if weights == "packaged" and encoder != pretrained_weights.PACKAGED_ENCODER:
            raise ConfigError("encoder_weights", f"packaged holds {pretrained_weights.PACKAGED_ENCODER} weights, not {encoder}; use hub, none or a weights file")
        if options.get("decoder") not in (None, *DECODERS):
            raise ConfigError("decoder", f"got {options['decoder']!r}, expected one of {', '.join(DECODERS)}")
        if options.get("decoder_sees_mask") and options.get("mask_channel") is False:
            raise ConfigError("decoder_sees_mask", "reads the mask from the input's mask channel; set mask_channel: true")
        channels = options.get("decoder_channels")
        if channels is not None and (len(channels) != ENCODER_DEPTH or min(channels) < 1):
            raise ConfigError("decoder_channels", f"got {list(channels)}, expected {ENCODER_DEPTH} positive channel counts, coarsest first")

    def load_encoder_weights(self, weights: str, encoder: str) -> None:
        source = pretrained_weights.source_state_dict(weights, encoder)
        if source is None:
            return
        model = self.net.encoder.model
        first_conv = model.pretrained_cfg.get("first_conv") or "conv_stem"
        state = pretrained_weights.encoder_state(source, model.state_dict(), first_conv,
                                                 tuple(model.pretrained_cfg["mean"]), tuple(model.pretrained_cfg["std"]),
                                                 pretrained_weights.stem_offset_key(model, first_conv))
        model.load_state_dict(state)

    # -- initialisation: the config's init touches the decoder and head, never the encoder ------

    def init_weights(self, kind: str, gain: float) -> None:
        init_weights(self.net.decoder, kind, gain)
        init_weights(self.net.segmentation_head, kind, gain)
        init_weights(self.output_head, kind, gain)
        init_weights(self.global_blocks, kind, gain)
        for block in self.global_blocks:
            block.zero_output()  # each starts as the identity (models/fourier.py)

    # -- fine-tuning ----------------------------------------------------------------------------

    def encoder_parameters(self) -> Iterator[nn.Parameter]:
        return self.net.encoder.parameters()

    def optimizer_groups(self, lr: float) -> list[dict[str, Any]]:
        """Adam parameter groups: decoder and head at `lr` (first, so `lr/g` logs it), the encoder at lr x multiplier."""
        encoder = {id(p) for p in self.encoder_parameters()}
        rest = [p for p in self.parameters() if id(p) not in encoder]
        return [{"params": rest, "lr": lr}, {"params": list(self.encoder_parameters()), "lr": lr * self.encoder_lr_multiplier}]

    def start_epoch(self, epoch: int) -> None:
        """Before the epoch that follows `epoch` completed ones: frozen while epoch < encoder_frozen_epochs.

        A function of the epoch alone, so a resumed run recomputes it.
        """
        self.set_encoder_frozen(epoch < self.encoder_frozen_epochs)

    def set_encoder_frozen(self, frozen: bool) -> None:
        """No encoder gradients (Adam skips parameters without one), and its BatchNorm on running
        statistics; the stages frozen for good (encoder_frozen_stages) stay frozen either way."""
        self.encoder_frozen = frozen
        for p in self.encoder_parameters():
            p.requires_grad_(not frozen)
        for module in self.stage_frozen:
            module.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "PretrainedUNetGenerator":
        super().train(mode)
        if not mode:
            return self
        frozen_all = self.encoder_freeze_bn or self.encoder_frozen
        for module in (self.net.encoder.modules() if frozen_all else _modules_of(self.stage_frozen)):
            if isinstance(module, _BatchNorm):
                module.eval()
        return self

    # -- forward --------------------------------------------------------------------------------

    def forward(self, gray: torch.Tensor, mask: torch.Tensor, with_logits: bool = False) -> Any:
        """RGB; or (RGB, chroma-bin logits or None) with `with_logits` (models/generator_io.finish)."""
        check_gray_mask(gray, mask)
        raw = padded(self.run_net, self.encoder_input(gray, mask), self.size_multiple, self.pad_mode)
        return finish(raw, gray, mask, self.output_head, self.hole_blur, self.gray_snap, self.training, with_logits)

    def run_net(self, x: torch.Tensor) -> torch.Tensor:
        """The smp model's encoder, decoder and head on the padded input, with the mask added to the
        decoder's features when it is to see it (decoder_sees_mask) and the global blocks on the
        1/16 feature (global_blocks)."""
        if not len(self.mask_embeddings) and not len(self.global_blocks):
            return self.net(x)
        features = self.net.encoder(x)
        self.add_mask(features, x)  # no-op without decoder_sees_mask
        features[GLOBAL_LEVEL] = self.global_blocks(features[GLOBAL_LEVEL])  # an empty Sequential is the identity
        return self.net.segmentation_head(self.net.decoder(features))

    def add_mask(self, features: list[torch.Tensor], x: torch.Tensor) -> None:
        """Each feature level plus its learned vector times the hole's share of each feature pixel."""
        hole = x[:, -1:] * 0.5 + 0.5  # the padded mask channel, back in [0, 1]
        for level, embedding in enumerate(self.mask_embeddings, start=1):
            feature = features[level]
            factor = x.shape[-1] // feature.shape[-1]
            added = F.avg_pool2d(hole, factor) * embedding.view(1, -1, 1, 1)
            features[level] = feature + added.to(feature.dtype)

    def encoder_input(self, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The gray normalised as the adapted stem expects (pretrained_weights.adapt_stem), then the mask in [-1, 1]."""
        x = (gray - self.input_mean) / self.input_std
        return torch.cat([x, mask * 2 - 1], dim=1) if self.mask_channel else x


def stage_modules(model: nn.Module, stages: int) -> list[nn.Module]:
    """The modules of a timm features model that compute its first `stages` feature outputs.

    timm registers modules in forward order, so the first stage is every top-level module up to
    its feature module (the stem) and each further stage runs up to the next feature module;
    nested containers (`blocks`) are walked one level down. Stage k ends at feature_info[k-1].
    """
    if stages == 0:
        return []
    ends = [info["module"] for info in model.feature_info.get_dicts()][:stages]
    chosen: list[nn.Module] = []
    for name, module in _forward_order(model):
        chosen.append(module)
        if name == ends[-1]:
            return chosen
    raise ValueError(f"feature module {ends[-1]!r} not found in {type(model).__name__}")


def _forward_order(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Top-level modules, with a sequence of blocks (no own parameters) walked one level down."""
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential) and not list(child.parameters(recurse=False)):
            for sub, module in child.named_children():
                yield f"{name}.{sub}", module
        else:
            yield name, child


def _modules_of(roots: list[nn.Module]) -> Iterator[nn.Module]:
    for root in roots:
        yield from root.modules()


def _on_meta_device() -> bool:
    return torch.empty(0).device.type == "meta"
