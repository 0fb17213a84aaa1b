"""One photo restored for a person (the web app, app.py): damage it or take it damaged, find the
hole, restore it, show how sure the colours are, and score it when the original is known.

Everything here is plain numpy/torch, so the tests call it directly; webapp/ only wires it to a
Gradio page. Photos run on the CPU: the model sees at most MODEL_MAX_SIDE pixels on the long side
(a 512x512 restore takes a few seconds on two cores); a larger photo is restored at that size and
its chroma upsampled onto the photo's own full-resolution luminance, so the gray detail outside the
hole stays exact. Photos above MAX_SIDE are refused with a message.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.datasets import make_sample
from data.headers import image_info
from data.hole_detection import detect_hole
from data.io import read_rgb
from data.prefill import prefill
from metrics.competition import lost_mask, score_image
from metrics.torch_score import to_uint8
from trainers.inference import load_inference_model
from utils.color import pil_luma, rgb_to_ycbcr, ycbcr_to_rgb
from utils.errors import ChromaFillError

MODEL_MAX_SIDE = 1024  # the long side the model sees; above it, chroma is upsampled onto the full-res luma
MAX_SIDE = 4096  # longer photos are refused: minutes of CPU and gigabytes for one request
PAINT_FILL = 40  # the constant gray a painted hole is filled with (the competition's fills: 0..86)
OUTLINE_RGB = (255, 40, 40)


@dataclass
class Restorer:
    """A generator loaded for restoring single photos on one device."""

    generator: torch.nn.Module
    prefill: str  # the model's own pre-fill of the hole (its config's data.prefill)
    label: str  # what the page says about the model
    device: torch.device
    gives_logits: bool  # whether the generator can return chroma-bin logits (torch models)


def load_restorer(path: Path, device: str = "cpu") -> Restorer:
    """The model of a checkpoint, the bundled file or an exported .onnx, ready for `restore`."""
    target = torch.device(device)
    model = load_inference_model(path, target)
    forward = inspect.signature(model.generator.forward).parameters
    label = f"{Path(path).name} ({model.config.model.generator.type}, head {model.config.model.generator.head}, {model.weights} weights)"
    return Restorer(model.generator, model.config.data.prefill, label, target, "with_logits" in forward)


@dataclass
class Photo:
    """An uploaded picture: RGB pixels, and whether it is a gray picture (all channels equal)."""

    name: str
    rgb: np.ndarray  # HxWx3 uint8
    is_gray: bool


def read_photo(path: str | Path) -> Photo:
    """Read an upload; refuse what is not a picture or too large, naming the file (not the temp path)."""
    path = Path(path)
    try:
        info = image_info(path)  # from the header: a huge image is refused before it is decoded
        if max(info.height, info.width) > MAX_SIDE:
            raise ChromaFillError(f"{path}: the photo is {info.width}x{info.height} pixels; this page restores photos up "
                                  f"to {MAX_SIDE} pixels on the long side (downscale it first)")
        rgb = read_rgb(path)
    except ChromaFillError as err:
        raise ChromaFillError(str(err).replace(str(path), path.name)) from None
    is_gray = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    return Photo(path.name, rgb, is_gray)


def seeded_damage(rgb: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """DACON-style damage (data/damage.py, default shapes and areas), the same for the same seed."""
    return synthesize_damage(rgb, np.random.default_rng(seed), DamageConfig())


def painted_damage(rgb: np.ndarray, painted: np.ndarray, fill: int = PAINT_FILL) -> np.ndarray:
    """The gray photo with the painted region (HxW bool) filled with one constant gray, as the competition damages."""
    gray = pil_luma(rgb)
    gray[painted] = fill
    return gray


def hole_of(gray: np.ndarray, painted: np.ndarray | None) -> np.ndarray:
    """The lost region of a damaged gray input: the painted one when there is one, else the detected one."""
    if painted is not None and painted.any():
        return painted
    return detect_hole(gray)


@dataclass
class Restoration:
    rgb: np.ndarray  # HxWx3 uint8, the photo's size
    uncertainty: np.ndarray | None  # HxW float32 in [0, 1]: normalised chroma-bin entropy; None without a bins head
    model_size: tuple[int, int]  # (height, width) the model saw


@torch.no_grad()
def restore(restorer: Restorer, gray: np.ndarray, hole: np.ndarray) -> Restoration:
    """Restore a damaged gray photo (HxW uint8) whose lost region is `hole` (HxW bool)."""
    height, width = gray.shape
    small_gray, small_hole = _model_input(gray, hole)
    sample = make_sample(small_gray, None, small_hole, "photo", restorer.prefill)
    gray_t = sample["input"][None].to(restorer.device)
    mask_t = sample["mask"][None].to(restorer.device)
    if restorer.gives_logits:
        rgb_t, logits = restorer.generator(gray_t, mask_t, with_logits=True)
    else:
        rgb_t, logits = restorer.generator(gray_t, mask_t), None
    rgb_t = rgb_t.float().cpu()
    if small_gray.shape != gray.shape:
        rgb_t = _onto_full_luma(rgb_t, gray, hole)
    uncertainty = None if logits is None else chroma_entropy(logits.float().cpu(), (height, width))[0].numpy()
    return Restoration(to_uint8(rgb_t)[0], uncertainty, small_gray.shape)


def _model_input(gray: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gray photo and hole at most MODEL_MAX_SIDE on the long side (area-averaged; the hole
    grows to cover every small pixel it touches, whose gray mixes the fill in)."""
    scale = MODEL_MAX_SIDE / max(gray.shape)
    if scale >= 1:
        return gray, hole
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    small_gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    return small_gray, small_hole


def _onto_full_luma(rgb: torch.Tensor, gray: np.ndarray, hole: np.ndarray) -> torch.Tensor:
    """A small prediction (1x3xhxw) as a full-size one: its chroma upsampled, the photo's own luma
    outside the hole (exact detail) and the prediction's upsampled luma inside it."""
    ycbcr = F.interpolate(rgb_to_ycbcr(rgb), size=gray.shape, mode="bilinear", align_corners=False)
    own = torch.from_numpy(gray).float().div(255)[None, None]
    inside = torch.from_numpy(hole)[None, None]
    y = torch.where(inside, ycbcr[:, :1], own)
    return ycbcr_to_rgb(torch.cat([y, ycbcr[:, 1:]], dim=1)).clamp(0, 1)


def chroma_entropy(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bx(bins^2)xhxw chroma-bin logits -> BxHxW entropy of their softmax, divided by log(bins^2)
    (0 = one colour for sure, 1 = every bin alike), upsampled to `size` (heads may predict the
    bins at a fraction of the image's resolution)."""
    # Contiguous first: the channels_last logits of a channels_last generator make the reductions
    # over the channel axis three times slower.
    log_p = torch.log_softmax(logits.float().contiguous(), dim=1)
    entropy = -(log_p.exp() * log_p).sum(dim=1, keepdim=True) / math.log(logits.shape[1])
    if entropy.shape[-2:] != size:
        entropy = F.interpolate(entropy, size=size, mode="bilinear", align_corners=False)
    return entropy[:, 0].clamp(0, 1)


def scores(original: np.ndarray, gray: np.ndarray, restored: np.ndarray, hole: np.ndarray) -> dict[str, dict[str, float]]:
    """The competition score (metrics/competition.py) of the restoration and of the Telea fill of
    the same hole, against the original; the lost region is where the input differs from the
    original's gray, as the competition defines it."""
    lost = lost_mask(gray, original)
    telea = np.repeat(prefill(gray, hole, "telea")[:, :, None], 3, axis=2)
    return {"restoration": score_image(original, restored, lost), "telea": score_image(original, telea, lost)}


def outlined(gray: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The gray input as RGB with the hole's outline drawn in red (2 px)."""
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    contours, _ = cv2.findContours(hole.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    thickness = max(2, round(max(gray.shape) / 400))
    cv2.drawContours(rgb, contours, -1, OUTLINE_RGB, thickness)
    return rgb


def uncertainty_overlay(rgb: np.ndarray, uncertainty: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The restoration under a heat map of the uncertainty (inferno: dark = sure, yellow = unsure)."""
    heat = cv2.applyColorMap(np.round(uncertainty * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return np.round((1 - alpha) * rgb + alpha * heat).astype(np.uint8)
