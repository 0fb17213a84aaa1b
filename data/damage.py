"""DACON-style damage: one lost region per image, filled with one constant gray.

The facts reproduced here were measured on real competition pairs (docs/task.md): the damaged
input is PIL ``convert("L")`` of the ground truth on every pixel outside the lost region; the
region is a rectangle (incl. thin ones), an ellipse, or a random polygon of 3..20 vertices
(incl. self-intersecting stars with long thin spikes) covering 1%..13% of the image, filled with
ONE gray value. Shapes are drawn at the requested area (rasterised once at a reference scale,
then rescaled), so the area distribution is what the config says rather than an accident of the
shape generator. The returned mask is exact: one 4-connected region without holes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from data.config import SHAPE_KINDS, DamageConfig
from data.masks import fill_holes, largest_component
from utils.color import pil_luma

_SHIFT = 4  # sub-pixel bits for OpenCV polygon drawing
_ATTEMPTS = 30
_REFERENCE = 256.0  # size of the canvas a polygon is first measured on


def synthesize_damage(rgb: np.ndarray, rng: np.random.Generator, cfg: DamageConfig) -> tuple[np.ndarray, np.ndarray]:
    """Damage a colour image: (gray HxW uint8 with one constant-filled region, exact mask HxW bool)."""
    gray = pil_luma(rgb)
    mask, _ = draw_mask(gray.shape[0], gray.shape[1], rng, cfg)
    gray[mask] = rng.integers(cfg.fill_min, cfg.fill_max + 1)
    return gray, mask


def draw_mask(height: int, width: int, rng: np.random.Generator, cfg: DamageConfig) -> tuple[np.ndarray, str]:
    """One lost region of an area within [area_min, area_max] of the image, and its shape kind."""
    kinds = [k for k in SHAPE_KINDS if cfg.shapes.get(k, 0.0) > 0]
    weights = np.array([cfg.shapes[k] for k in kinds], dtype=float)
    kind = kinds[rng.choice(len(kinds), p=weights / weights.sum())]
    total = height * width
    low, high = cfg.area_min * total, cfg.area_max * total
    for _ in range(_ATTEMPTS):
        target = rng.uniform(low, high)
        mask = _DRAW[kind](height, width, target, rng, cfg)
        if mask is not None and low <= mask.sum() <= high:
            return mask, kind
    # A shape that cannot reach the area on this canvas (e.g. a long star on a tiny image):
    # fall back to a rectangle, which always can.
    kind = "rectangle"
    while True:
        mask = _rectangle(height, width, rng.uniform(low, high), rng, cfg)
        if low <= mask.sum() <= high:
            return mask, kind


def _log_uniform_aspect(rng: np.random.Generator, aspect_max: float) -> float:
    return math.exp(rng.uniform(-math.log(aspect_max), math.log(aspect_max)))


def _rectangle(height: int, width: int, area: float, rng: np.random.Generator, cfg: DamageConfig) -> np.ndarray:
    aspect = _log_uniform_aspect(rng, cfg.rect_aspect_max)
    w = min(width, max(1, round(math.sqrt(area * aspect))))
    h = min(height, max(1, round(area / w)))
    w = min(width, max(1, round(area / h)))
    top = rng.integers(0, height - h + 1)
    left = rng.integers(0, width - w + 1)
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + h, left : left + w] = True
    return mask


def _ellipse(height: int, width: int, area: float, rng: np.random.Generator, cfg: DamageConfig) -> np.ndarray | None:
    aspect = _log_uniform_aspect(rng, cfg.ellipse_aspect_max)
    a = math.sqrt(area / math.pi * aspect)
    b = area / (math.pi * a)
    angle = rng.uniform(0, 180)
    theta = math.radians(angle)
    half_w = math.hypot(a * math.cos(theta), b * math.sin(theta))
    half_h = math.hypot(a * math.sin(theta), b * math.cos(theta))
    if 2 * half_w > width or 2 * half_h > height:
        return None
    cx = rng.uniform(half_w, width - half_w)
    cy = rng.uniform(half_h, height - half_h)
    canvas = np.zeros((height, width), np.uint8)
    scale = 1 << _SHIFT
    center = (round(cx * scale), round(cy * scale))
    axes = (round(a * scale), round(b * scale))
    cv2.ellipse(canvas, center, axes, angle, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8, shift=_SHIFT)
    return canvas.astype(bool)


def _polygon_vertices(rng: np.random.Generator, cfg: DamageConfig, star: bool) -> np.ndarray:
    """Unit-scale vertices: random order inside a disc (self-intersecting) or a star of spikes."""
    n = int(rng.integers(cfg.vertices_min, cfg.vertices_max + 1))
    if star:
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        spikes = rng.random(n) < 0.5
        radii = np.where(spikes, np.exp(rng.uniform(0, math.log(cfg.spike_ratio_max), n)), rng.uniform(0.5, 1.0, n))
    else:
        angles = rng.uniform(0, 2 * math.pi, n)
        radii = np.sqrt(rng.uniform(0.05, 1.0, n))
    points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    points[:, 0] *= _log_uniform_aspect(rng, cfg.polygon_aspect_max)
    rotation = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(rotation), math.sin(rotation)
    return points @ np.array([[c, s], [-s, c]])


def _raster_polygon(points: np.ndarray, height: int, width: int) -> np.ndarray:
    canvas = np.zeros((height, width), np.uint8)
    cv2.fillPoly(canvas, [np.round(points * (1 << _SHIFT)).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return fill_holes(largest_component(canvas))


def _polygon(height: int, width: int, area: float, rng: np.random.Generator, cfg: DamageConfig, star: bool = False) -> np.ndarray | None:
    points = _polygon_vertices(rng, cfg, star)
    points -= points.min(axis=0)
    extent = points.max(axis=0)
    # Measure the drawn area at a reference scale, then rescale to the requested area.
    ref = _REFERENCE / float(extent.max())
    size = np.ceil(extent * ref).astype(int) + 2
    measured = _raster_polygon(points * ref, int(size[1]), int(size[0])).sum()
    if measured == 0:
        return None
    scale = ref * math.sqrt(area / measured)
    span = extent * scale
    if span[0] + 2 > width or span[1] + 2 > height:
        return None
    # Draw on a canvas the size of the shape (cheaper than the whole image), then paste it.
    local = _raster_polygon(points * scale, int(span[1]) + 2, int(span[0]) + 2)
    top = int(rng.integers(0, height - local.shape[0] + 1))
    left = int(rng.integers(0, width - local.shape[1] + 1))
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + local.shape[0], left : left + local.shape[1]] = local
    return mask


def _star(height: int, width: int, area: float, rng: np.random.Generator, cfg: DamageConfig) -> np.ndarray | None:
    return _polygon(height, width, area, rng, cfg, star=True)


_DRAW = {"rectangle": _rectangle, "ellipse": _ellipse, "polygon": _polygon, "star": _star}
