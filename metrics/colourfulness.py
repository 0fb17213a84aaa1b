"""Colourfulness of Hasler and Süsstrunk (2003), the figure colourisation papers report (DDColor's CF).

    rg = R - G,  yb = (R + G) / 2 - B          (on 0..255 RGB)
    M  = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)

over all pixels of the image (population std). A gray image scores 0; the paper's scale puts
"not colourful" below ~15, "quite colourful" around 60 and "extremely colourful" above ~110.
A restoration that plays safe with sepia or gray scores far below its ground truth, which the
competition's hue-histogram term (a correlation of bin shapes, not amounts) does not show.
"""

from __future__ import annotations

import numpy as np
import torch

from utils.color import rgb_to_ycbcr

CHROMA_WEIGHT = 0.3  # the paper's weight of the mean opponent colour against its spread


def colourfulness(rgb: np.ndarray) -> float:
    """M of an HxWx3 (or N x 3) RGB image in 0..255."""
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    red, green, blue = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = np.hypot(rg.std(), yb.std())
    offset = np.hypot(rg.mean(), yb.mean())
    return float(spread + CHROMA_WEIGHT * offset)


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean distance, for an HxWx3 uint8 RGB image, of each pixel's (Cb, Cr) from neutral gray, in 8-bit levels (0 for a gray image).

    The chroma the composite head predicts, so it ranks photos by how much colour there is to get
    right (benchmarks/quality.py's least / most colourful thirds).
    """
    # The head's own BT.601 conversion (utils/color.py), in float64 so rankings do not tie on rounding.
    ycbcr = rgb_to_ycbcr(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].double() / 255)
    return float(torch.hypot(ycbcr[:, 1] - 0.5, ycbcr[:, 2] - 0.5).mean() * 255)
