"""Colour as classification: a distribution over a grid of (Cb, Cr) bins per pixel.

Regressing chroma with L1 gives the mean of the plausible colours, which for an ambiguous
object (a car, a shirt) is a faint, desaturated tint. Zhang et al. 2016 ("Colorful Image
Colorization") instead predict a distribution over quantised colours, train it with a
rebalanced cross-entropy (losses/chroma_ce.py) and decode it with the *annealed mean*: the mean
of the distribution sharpened by a temperature T < 1, which sits between the mode (vivid but
patchy) and the mean (smooth but gray). Here the grid is over BT.601 (Cb, Cr), the chroma of the
`luma_composite` head, so luminance outside the hole stays exact (models/composite.py).

The grid spans the whole [0, 1] x [0, 1] chroma square with an odd number of bins per axis, so
exact gray (0.5, 0.5) is a bin centre: a confident gray prediction decodes to exact gray.

The classification is the costly part: bins^2 (121) channels per pixel for the logits, the
softmax and the decode. Chroma varies far more slowly than luma in photos (what JPEG's 4:2:0
subsampling relies on), so with `scale` s > 1 the logits are computed on the network's features
averaged over s x s blocks, and the decoded (Cb, Cr) is upsampled bilinearly to full resolution;
Y stays at full resolution. The cross-entropy compares the logits with the true chroma averaged
over the same blocks (`area_downsample`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.composite import composite_rgb

# Channels the network hands to the head besides Y: a 1x1 convolution maps them to the logits,
# so the network's last (full-resolution, most expensive) layer stays narrow whatever the grid.
EMBED_CHANNELS = 16
# Pixels per step of the inference decode (ChromaBinsHead.chroma_in_chunks): 2048 x 121 float32
# logits (1 MB) stay in cache; 1024 and 4096 measured the same, 16384 slower.
DECODE_CHUNK = 2048


def area_downsample(x: Tensor, scale: int) -> Tensor:
    """The mean over `scale` x `scale` blocks from the top left; blocks cut by the bottom or right
    edge average the pixels they have. The chroma head's resolution, for its features and for
    the cross-entropy's target alike."""
    return x if scale == 1 else F.avg_pool2d(x, scale, ceil_mode=True)


def upsample(x: Tensor, scale: int, size: tuple[int, int]) -> Tensor:
    """`area_downsample`'s inverse in geometry: bilinear, each block's value at the block's centre, cropped to `size`."""
    if scale > 1:
        x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return x[..., :size[0], :size[1]]


class AnnealedMean(torch.autograd.Function):
    """softmax(classes_last * inv_temperature) @ centres^T with a backward pass written out.

    Autograd's own backward of the decode is a matmul of the (Cb, Cr) gradient with the 2 x bins^2
    centres, a K = 2 matmul that BLAS runs far below its speed (the slowest single op of a
    cpu_budget step's head), then the softmax's and the temperature's backward passes. Written
    out, the gradient of the logits is p * (g . (centre - chroma)) / T: two broadcast passes that
    build g . centre, one that subtracts g . chroma, one that multiplies by p.
    """

    @staticmethod
    def forward(ctx, classes_last: Tensor, centres: Tensor, inv_temperature: float) -> Tensor:  # type: ignore[override]
        probs = torch.softmax(classes_last * inv_temperature, dim=-1)
        chroma = F.linear(probs, centres)
        ctx.save_for_backward(probs, centres, chroma)
        ctx.inv_temperature = inv_temperature
        return chroma

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        probs, centres, chroma = ctx.saved_tensors
        grad = grad * ctx.inv_temperature
        along = grad[..., :1] * centres[0]
        along.addcmul_(grad[..., 1:], centres[1])
        along.sub_((grad * chroma).sum(dim=-1, keepdim=True))
        return along.mul_(probs), None, None


class ChromaGrid:
    """`bins` x `bins` centres over [0, 1]^2, spacing 1 / (bins - 1); bin index = cb_index * bins + cr_index."""

    def __init__(self, bins: int) -> None:
        # `bins` is odd and >= 3 (gray a bin centre): model.generator.chroma_bins is checked when the config loads.
        self.bins = bins
        self.count = bins * bins
        # On the CPU explicitly: inference builds the generator under torch.device("meta"), and
        # the grid is a constant, not a weight that the checkpoint would fill in.
        axis = torch.linspace(0.0, 1.0, bins, device="cpu")
        cb, cr = torch.meshgrid(axis, axis, indexing="ij")
        self.centres = torch.stack([cb.reshape(-1), cr.reshape(-1)], dim=1)  # count x 2

    def soft_targets(self, chroma: Tensor) -> tuple[Tensor, Tensor]:
        """Bilinear encoding of Bx2xHxW chroma in [0, 1] onto its 4 surrounding bins.

        Returns (indices, weights), each Bx4xHxW; the weights sum to 1 per pixel, and the
        weighted mean of the 4 centres is the chroma itself (no quantisation error in the target).
        """
        position = chroma.clamp(0, 1) * (self.bins - 1)
        low = position.floor().clamp(max=self.bins - 2)
        frac = position - low
        low = low.long()
        cb_i, cr_i = low[:, :1], low[:, 1:]
        cb_f, cr_f = frac[:, :1], frac[:, 1:]
        indices = torch.cat([cb_i * self.bins + cr_i, cb_i * self.bins + cr_i + 1,
                             (cb_i + 1) * self.bins + cr_i, (cb_i + 1) * self.bins + cr_i + 1], dim=1)
        weights = torch.cat([(1 - cb_f) * (1 - cr_f), (1 - cb_f) * cr_f, cb_f * (1 - cr_f), cb_f * cr_f], dim=1)
        return indices, weights


class ChromaBinsHead(nn.Module):
    """Raw channels [Y residual, EMBED_CHANNELS features] -> RGB, through chroma-bin logits at 1/`scale` resolution.

    Y as in the `luma_composite` head (the input's gray outside the hole, a residual on the
    pre-fill inside); chroma is the annealed mean of softmax(logits / temperature) over the grid.
    No tensor with bins^2 channels is ever copied: in training (and export) the logits stay in
    the layout the classifier writes (channels_last), where the classes of a pixel are
    contiguous, and the softmax and the decode run along the last dimension of a
    (B, H, W, classes) view; at inference they exist only a chunk of pixels at a time.
    """

    def __init__(self, bins: int, temperature: float, scale: int) -> None:
        super().__init__()
        self.grid = ChromaGrid(bins)
        self.temperature = temperature
        self.scale = scale
        self.temperature_folded = False
        self.raw_channels = 1 + EMBED_CHANNELS
        self.classifier = nn.Conv2d(EMBED_CHANNELS, self.grid.count, kernel_size=1)
        # The decode as a linear map with the bin centres as weights (2 x count, so the matmul
        # reads them transposed: ~3x faster on CPU than count x 2 for 2 outputs). A constant of
        # `bins`: a buffer so it moves with the head, non-persistent so checkpoints do not hold
        # it, and made on the CPU explicitly so that a generator built on the meta device
        # (inference, before loading) still has it.
        self.register_buffer("centres", self.grid.centres.t().contiguous(), persistent=False)

    def fold_temperature(self) -> None:
        """For inference: divide the classifier by the temperature once, instead of every logit on every forward.

        The logits then come out already sharpened (they are no longer the cross-entropy's), so
        call it only on a generator that will not be trained again (trainers/inference.py).
        """
        if self.temperature_folded:
            return
        with torch.no_grad():
            self.classifier.weight.div_(self.temperature)
            self.classifier.bias.div_(self.temperature)
        self.temperature_folded = True

    def _classifier(self) -> tuple[Tensor, Tensor]:
        """(weight over all raw channels, bias), float32 (bf16 after trainers.inference.bf16_convolutions).

        The classifier reads all raw channels with a zero weight on Y rather than a channel slice
        of `raw`, which in channels_last would be a strided view (~10x slower to walk).
        """
        weight = self.classifier.weight.float()
        return torch.cat([weight.new_zeros(weight.shape[0], 1, 1, 1), weight], dim=1), self.classifier.bias.float()

    def _features(self, raw: Tensor) -> Tensor:
        """The classifier's float32 input: the raw channels averaged over scale x scale blocks, then SiLU."""
        return F.silu(area_downsample(raw, self.scale).float())

    def logits(self, raw: Tensor) -> Tensor:
        """B x bins^2 x H/scale x W/scale float32 logits of the block-averaged features (in raw's memory layout).

        float32 even under bf16 autocast (softmax and cross-entropy need the range): the
        17-channel input is converted, not the bins^2-channel output.
        """
        weight, bias = self._classifier()
        with torch.autocast(device_type=raw.device.type, enabled=False):
            return F.conv2d(self._features(raw), weight, bias)

    def decode(self, logits: Tensor) -> Tensor:
        """Annealed mean: B x 2 x h x w (Cb, Cr) in [0, 1] of float32 logits B x bins^2 x h x w."""
        # float32 even under autocast: a bf16 mean would move chroma by a level and gray off gray.
        with torch.autocast(device_type=logits.device.type, enabled=False):
            classes_last = logits.permute(0, 2, 3, 1)  # a view; contiguous when logits are channels_last
            if torch.is_grad_enabled() and classes_last.requires_grad and classes_last.is_contiguous():
                inv_temperature = 1.0 if self.temperature_folded else 1.0 / self.temperature
                return AnnealedMean.apply(classes_last, self.centres, inv_temperature).permute(0, 3, 1, 2)
            # Inference and export (a traced graph has no custom backward to keep): plain ops.
            if not self.temperature_folded:
                classes_last = classes_last / self.temperature
            return F.linear(torch.softmax(classes_last, dim=-1), self.centres).permute(0, 3, 1, 2)

    def chroma_in_chunks(self, raw: Tensor) -> Tensor:
        """`decode(logits(raw))` without ever holding all the logits: DECODE_CHUNK pixels at a time.

        For inference, where nothing needs the logits: the bins^2 values of a chunk are written
        by the classifier, read by the softmax and the decode while they are still in the CPU
        cache, instead of each pass streaming B x bins^2 x h x w floats through memory (4x less
        CPU time for the head at 512x512, batch 4, scale 2).
        """
        weight, bias = self._classifier()
        if not self.temperature_folded:
            weight, bias = weight / self.temperature, bias / self.temperature
        with torch.autocast(device_type=raw.device.type, enabled=False):
            features = self._features(raw)
            b, c, h, w = features.shape
            pixels = features.permute(0, 2, 3, 1).reshape(-1, c)  # a view when channels_last
            weight = weight.view(weight.shape[0], c).t()
            chroma = pixels.new_empty(pixels.shape[0], 2)
            for start in range(0, pixels.shape[0], DECODE_CHUNK):
                logits = torch.mm(pixels[start:start + DECODE_CHUNK], weight).add_(bias)  # addmm would copy the bias in first
                chroma[start:start + DECODE_CHUNK] = F.linear(torch.softmax(logits, dim=-1), self.centres)
            return chroma.view(b, h, w, 2).permute(0, 3, 1, 2)

    def forward(self, raw: Tensor, gray: Tensor, mask: Tensor, with_logits: bool = True) -> tuple[Tensor, Tensor | None]:
        """(RGB, logits) of `raw` padded at the bottom and right beyond gray's H x W (or not):
        RGB B x 3 x H x W in [0, 1]; logits B x bins^2 x ceil(H / scale) x ceil(W / scale).

        Without `with_logits`, under no_grad (inference, validation) the logits are None and the
        chroma comes from `chroma_in_chunks`; with gradients (training) or while an ONNX export
        traces the graph (a Python loop would be unrolled into it), from the whole logits.
        """
        h, w = gray.shape[-2:]
        whole = with_logits or torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        logits = self.logits(raw) if whole else None
        low = self.decode(logits) if logits is not None else self.chroma_in_chunks(raw)
        chroma = upsample(low.contiguous(), self.scale, (h, w))
        rgb = composite_rgb(gray, mask, torch.tanh(raw[:, :1, :h, :w].float()), chroma)
        return rgb, None if logits is None else logits[..., :-(-h // self.scale), :-(-w // self.scale)]
