"""What the page's events do, as plain functions of plain values (no Gradio here, so tests call them).

Every handler returns a result whose `status` is the line the page shows: bad input (not a picture,
nothing uploaded, a huge photo, no hole painted) is a message there, never an exception that
reaches Gradio, and the server keeps serving.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data.io import write_rgb_png
from trainers.restore_service import (PAINT_FILL, Photo, Restorer, hole_of, outlined, painted_damage, read_photo, restore,
                                      scores, seeded_damage, uncertainty_overlay)
from utils.color import pil_luma
from utils.errors import ChromaFillError

log = logging.getLogger(__name__)

SEEDED, PAINTED, DAMAGED = "seeded", "painted", "damaged"
MODES = {
    SEEDED: "Damage it: a random DACON-style hole (seed below)",
    PAINTED: "Damage it: the hole I paint on the photo with the brush",
    DAMAGED: "It is already damaged: a gray photo with a constant-gray hole (found automatically, or paint it)",
}
SCORE_TERMS = ("score", "ssim_full", "ssim_lost", "hist")


@dataclass
class Loaded:
    """After an upload: the photo for the brush canvas, the damage mode to pick, the status line."""

    canvas: np.ndarray | None
    mode: str | None  # None: leave the user's choice
    status: str


@dataclass
class Restored:
    """The outputs of one Restore click (None where there is nothing to show)."""

    input_view: np.ndarray | None = None  # the damaged gray input, hole outlined
    restored: np.ndarray | None = None
    original: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    score_markdown: str = ""
    png: Path | None = None
    status: str = ""
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


def error_line(err: BaseException) -> str:
    return f"Error: {err}"


def load_upload(path: str | None) -> Loaded:
    """The uploaded photo onto the brush canvas; a gray photo switches the mode to 'already damaged'."""
    if not path:
        return Loaded(None, None, "Upload a photo (PNG or JPEG).")
    try:
        photo = read_photo(path)
    except ChromaFillError as err:
        return Loaded(None, None, error_line(err))
    h, w = photo.rgb.shape[:2]
    if photo.is_gray:
        return Loaded(photo.rgb, DAMAGED, f"{photo.name}: {w}x{h} gray photo, taken as an already damaged input. Press Restore.")
    return Loaded(photo.rgb, None, f"{photo.name}: {w}x{h} colour photo. Pick how to damage it, then press Restore.")


def painted_mask(editor: dict[str, Any] | None, shape: tuple[int, int]) -> np.ndarray | None:
    """Where the brush painted on the canvas (any layer's alpha > 0), at the photo's size; None when nothing was."""
    painted = np.zeros(shape, dtype=bool)
    for layer in (editor or {}).get("layers") or []:
        layer = np.asarray(layer) if layer is not None else None
        if layer is None or layer.ndim != 3 or layer.shape[2] != 4:
            continue  # a layer without alpha holds no strokes
        alpha = (layer[:, :, 3] > 0).astype(np.uint8)
        if alpha.shape != shape:  # the canvas may hold the photo at another size
            alpha = cv2.resize(alpha, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        painted |= alpha > 0
    return painted if painted.any() else None


def restore_upload(restorer: Restorer, path: str | None, editor: dict[str, Any] | None, mode: str, seed: float | None,
                   out_dir: Path | None = None) -> Restored:
    """One Restore click: damage (or take) the photo, find or take the hole, restore, score, write the PNG."""
    if not path:
        return Restored(status="Upload a photo first (PNG or JPEG), then press Restore.")
    try:
        return _restore(restorer, read_photo(path), editor, mode, seed, out_dir)
    except ChromaFillError as err:
        return Restored(status=error_line(err))
    except Exception as err:  # noqa: BLE001 - the page must answer; the traceback goes to the server log
        log.exception("restore failed")
        return Restored(status=f"Error: the restore failed unexpectedly ({type(err).__name__}: {str(err)[:200]})")


def _restore(restorer: Restorer, photo: Photo, editor: dict[str, Any] | None, mode: str, seed: float | None,
             out_dir: Path | None) -> Restored:
    start = time.perf_counter()
    if mode not in MODES:
        raise ChromaFillError(f"damage mode {mode!r}: expected one of {', '.join(MODES)}")
    painted = painted_mask(editor, photo.rgb.shape[:2])
    gray, hole, original, note = _damaged_input(photo, painted, mode, seed)
    result = restore(restorer, gray, hole)
    h, w = gray.shape
    out = Restored(input_view=outlined(gray, hole), restored=result.rgb, original=original)
    if result.uncertainty is not None:
        out.uncertainty = uncertainty_overlay(result.rgb, result.uncertainty)
    else:
        note += " No colour-uncertainty map: this model has no chroma-bin head."
    if original is not None:
        out.scores = scores(original, gray, result.rgb, hole)
        out.score_markdown = score_table(out.scores)
    out.png = _write_png(result.rgb, photo.name, out_dir)
    seen = "" if result.model_size == (h, w) else (f" The model saw {result.model_size[1]}x{result.model_size[0]}; its colour "
                                                   "was upsampled onto the full-resolution gray.")
    out.status = f"Restored {photo.name} ({w}x{h}) in {time.perf_counter() - start:.1f} s.{seen}{note}"
    return out


def _damaged_input(photo: Photo, painted: np.ndarray | None, mode: str,
                   seed: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(damaged gray, hole to fill, original or None, a note for the status line) for the chosen mode."""
    if photo.is_gray or mode == DAMAGED:
        gray = pil_luma(photo.rgb)
        hole = hole_of(gray, painted)
        how = "painted" if painted is not None else "detected"
        note = f" The hole was {how}." if hole.any() else (" No constant-gray hole was found, so the photo was only "
                                                          "colourised; paint the lost region to fill it.")
        if not photo.is_gray:
            note += " The colour photo was taken as its gray version."
        return gray, hole, None, note
    if mode == PAINTED:
        if painted is None:
            raise ChromaFillError("no hole painted: paint the region to damage on the photo with the brush, or pick "
                                  "another damage mode")
        return painted_damage(photo.rgb, painted), painted, photo.rgb, f" The painted hole was filled with gray {PAINT_FILL}."
    gray, true_hole = seeded_damage(photo.rgb, int(seed or 0))
    hole = hole_of(gray, painted)
    found = (hole & true_hole).sum() / max(1, true_hole.sum())
    return gray, hole, photo.rgb, f" Random hole (seed {int(seed or 0)}), detected automatically ({found:.0%} of it found)."


def score_table(by_method: dict[str, dict[str, float]]) -> str:
    """A markdown table of the competition score terms per method."""
    lines = ["| | " + " | ".join(SCORE_TERMS) + " |", "| --- |" + " ---: |" * len(SCORE_TERMS)]
    names = {"restoration": "**restoration**", "telea": "gray + Telea fill of the hole"}
    for method, terms in by_method.items():
        lines.append(f"| {names.get(method, method)} | " + " | ".join(f"{terms[k]:.3f}" for k in SCORE_TERMS) + " |")
    return "Competition score against the original (1.0 = perfect; docs/task.md):\n\n" + "\n".join(lines)


def _write_png(rgb: np.ndarray, name: str, out_dir: Path | None) -> Path:
    folder = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="chromafill_"))
    path = folder / f"{Path(name).stem}_restored.png"
    write_rgb_png(path, rgb)
    return path
