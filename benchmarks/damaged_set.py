"""Write a small evaluation set from a photo folder: seeded damaged inputs, originals, pre-fill predictions.

    python benchmarks/damaged_set.py PHOTOS_DIR OUT_DIR [--limit 20] [--prefill telea]

OUT_DIR gets input/ (gray with one DACON-style lost region, seeded as in benchmarks/quality.py),
gt/ (the originals) and pred/ (the gray input with the detected hole pre-filled, Telea by default, a baseline),
so that `evaluate.py --pred OUT_DIR/pred --gt OUT_DIR/gt --input OUT_DIR/input` can be rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.quality import damaged_photos, prefilled  # noqa: E402
from data.prefill import PREFILL_METHODS  # noqa: E402
from data.io import write_image, write_rgb_png  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--prefill", choices=PREFILL_METHODS, default="telea", help="the baseline's fill of the hole")
    args = parser.parse_args()
    for folder in ("input", "gt", "pred"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    for photo in damaged_photos([args.photos], seed=0, limit=args.limit):
        name = Path(photo.name).stem
        write_image(args.out / "input" / f"{name}.png", photo.gray)
        write_rgb_png(args.out / "gt" / f"{name}.png", photo.rgb)
        write_rgb_png(args.out / "pred" / f"{name}.png", prefilled(photo, args.prefill))
    return 0


if __name__ == "__main__":
    sys.exit(main())
