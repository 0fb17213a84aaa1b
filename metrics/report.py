"""Plain-text tables of an evaluation result, for the terminal."""

from __future__ import annotations

COLUMNS = ("score", "ssim_full", "ssim_lost", "hist", "psnr")


def _cells(row: dict[str, float]) -> str:
    return " ".join(f"{row[key]:>9.4f}" for key in COLUMNS)


def format_report(result: dict) -> str:
    """One row per image, the mean, then the mean per lost-area tercile (area as % of the image)."""
    names = list(result["images"])
    width = max([len(name) for name in names] + [len("image"), len("large")])
    header = f"{'image':<{width}} " + " ".join(f"{key:>9}" for key in COLUMNS) + f" {'lost %':>7}"
    lines = [header]
    for name in names:
        row = result["images"][name]
        lines.append(f"{name:<{width}} {_cells(row)} {100 * row['lost_fraction']:>7.2f}")
    lines.append("-" * len(header))
    lines.append(f"{'mean':<{width}} {_cells(result['mean'])} {'':>7}  ({len(names)} images)")
    lines.append("")
    lines.append(f"{'area':<{width}} " + " ".join(f"{key:>9}" for key in COLUMNS) + "  images  lost %")
    for group, row in result["by_area"].items():
        span = f"{100 * row['area_min']:.1f}..{100 * row['area_max']:.1f}"
        lines.append(f"{group:<{width}} {_cells(row)} {row['count']:>7}  {span}")
    return "\n".join(lines)
