"""Plain-text tables of an evaluation result, for the terminal.

Two tables of the same layout (one row per image, the mean, then the mean per lost-area tercile):
the competition score and its terms, the headline, then the research metrics. Keeping them apart
keeps each under ~110 characters wide. FID is a set-level figure: it fills the mean and area rows
only.
"""

from __future__ import annotations

import math

COMPETITION = ("score", "ssim_full", "ssim_lost", "hist")
RESEARCH = ("psnr", "psnr_hole", "ssim", "ssim_hole", "cf_pred", "cf_gt", "cf_diff", "lpips", "fid")
DECIBELS_AND_COUNTS = {"psnr", "psnr_hole", "cf_pred", "cf_gt", "cf_diff", "fid"}  # 2 decimals suffice
CELL = 9


def _cell(row: dict[str, float], key: str) -> str:
    value = row.get(key)
    if value is None or math.isnan(value):
        return f"{'-':>{CELL}}"
    return f"{value:>{CELL}.{2 if key in DECIBELS_AND_COUNTS else 4}f}"


def _table(result: dict, columns: tuple[str, ...], width: int) -> list[str]:
    names = list(result["images"])
    head = " ".join(f"{key:>{CELL}}" for key in columns)
    lines = [f"{'image':<{width}} {head} {'lost %':>7}"]
    for name in names:
        row = result["images"][name]
        lines.append(f"{name:<{width}} {' '.join(_cell(row, k) for k in columns)} {100 * row['lost_fraction']:>7.2f}")
    lines.append("-" * len(lines[0]))
    mean = " ".join(_cell(result["mean"], k) for k in columns)
    lines.append(f"{'mean':<{width}} {mean} {'':>7}  ({len(names)} images)")
    lines.append("")
    lines.append(f"{'area':<{width}} {head}  images  lost %")
    for group, row in result["by_area"].items():
        span = f"{100 * row['area_min']:.1f}..{100 * row['area_max']:.1f}"
        lines.append(f"{group:<{width}} {' '.join(_cell(row, k) for k in columns)} {row['count']:>7}  {span}")
    return lines


def format_report(result: dict) -> str:
    """The competition table, then the research table with the columns this result has."""
    width = max([len(name) for name in result["images"]] + [len("image"), len("medium")])
    present = set(result["mean"])
    research = tuple(key for key in RESEARCH if key in present)
    lines = ["competition score (0.2 ssim_full + 0.4 ssim_lost + 0.4 hist)", *_table(result, COMPETITION, width)]
    if research:
        lines += ["", "research metrics (PSNR in dB, SSIM with data range 255, colourfulness; see README)",
                  *_table(result, research, width)]
    return "\n".join(lines)
