"""Over- and under-exposed versions of a photo, clipped to pure white or pure black over a chosen share.

Real inputs often hold large areas at the clipping values (a blown-out sky at gray 255, crushed
shadows at 0), which look like a constant-filled lost region to a naive detector. The shared
photo folders hold almost none, so the hole detector's clipped benchmark rows make them:

- `bright`: every channel multiplied by a gain and clipped at 255 (more light on the sensor;
  in gamma-encoded values this is again a multiplication), until the wanted share of pixels has
  PIL gray 255. Around the clipped area brightness rises gradually into the clip, as in photos.
- `dark`: the same on the negative (a raised black point, crushed blacks): gray 0 over the share.

The gain is found by bisection, since the clipped share grows monotonically with it.

Training (`data.augment.exposure_prob`) draws such exposures on each crop with a cheaper gain:
the quantile of the per-pixel channel minimum (bright) or maximum (dark), which clips about the
drawn share, since a pixel's PIL gray reaches 255 (or 0) once all three channels do.
"""

from __future__ import annotations

import numpy as np

from utils.color import pil_luma

EXPOSURES = ("bright", "dark")
_MAX_GAIN = 256.0  # beyond this every pixel with a channel >= 1 has clipped already
_STEPS = 24


def clip_exposure(rgb: np.ndarray, kind: str, share: float) -> np.ndarray:
    """`rgb` (HxWx3 uint8) exposed so that about `share` of its pixels clip: gray 255 (bright) or 0 (dark).

    A photo that cannot reach the share (e.g. mostly pure black for `bright`) gets the largest gain.
    """
    if kind not in EXPOSURES:
        raise ValueError(f"exposure {kind!r}: expected one of {', '.join(EXPOSURES)}")
    if not 0.0 < share < 1.0:
        raise ValueError(f"clipped share {share}: expected a fraction strictly between 0 and 1")
    source = _source(rgb, kind)
    clip_value = 255 if kind == "bright" else 0
    low, high = 1.0, _MAX_GAIN
    for _ in range(_STEPS):  # geometric bisection: gains span two orders of magnitude
        gain = float(np.sqrt(low * high))
        if (pil_luma(_exposed(source, gain, kind)) == clip_value).mean() < share:
            low = gain
        else:
            high = gain
    return _exposed(source, high, kind)


def random_clip_exposure(rgb: np.ndarray, kind: str, rng: np.random.Generator,
                         share_min: float = 0.1, share_max: float = 0.4) -> np.ndarray:
    """`clip_exposure` with the clipped share drawn uniformly from [share_min, share_max]."""
    return clip_exposure(rgb, kind, float(rng.uniform(share_min, share_max)))


def _source(values: np.ndarray, kind: str) -> np.ndarray:
    """What the gain multiplies: the values for `bright`, their negative for `dark`."""
    return values.astype(np.float32) if kind == "bright" else 255.0 - values.astype(np.float32)


def _exposed(source: np.ndarray, gain: float, kind: str) -> np.ndarray:
    out = np.clip(np.rint(source * gain), 0, 255)
    return (out if kind == "bright" else 255.0 - out).astype(np.uint8)


def random_training_exposure(rgb: np.ndarray, rng: np.random.Generator,
                             share_min: float = 0.1, share_max: float = 0.4) -> tuple[str, float]:
    """(kind, gain) that clips about a share drawn from [share_min, share_max] of `rgb` (HxWx3 uint8).

    bright or dark with equal odds. A gain >= 1 always: a crop already clipped over the share keeps its values.
    """
    kind = EXPOSURES[int(rng.integers(len(EXPOSURES)))]
    share = float(rng.uniform(share_min, share_max))
    extreme = rgb.min(axis=2) if kind == "bright" else 255 - rgb.max(axis=2)
    level = float(np.quantile(extreme, 1.0 - share))
    return kind, min(255.0 / max(level, 1.0), _MAX_GAIN)


def expose(values: np.ndarray, kind: str, gain: float) -> np.ndarray:
    """uint8 `values` (RGB or gray, any shape) under the exposure (kind, gain) of `clip_exposure`."""
    return _exposed(_source(values, kind), gain, kind)
