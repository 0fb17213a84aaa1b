"""Score predicted images with the exact competition metric.

    python evaluate.py --pred DIR --gt DIR --input DIR [--json FILE] [--workers N]
"""

from __future__ import annotations

import argparse
import json

from metrics.evaluate_dirs import evaluate_dirs, json_safe
from metrics.report import format_report
from utils.atomic import atomic_write_bytes
from utils.cli import run_cli


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--pred", required=True, help="folder of predicted RGB images")
    parser.add_argument("--gt", required=True, help="folder of ground-truth RGB images (matched by file name)")
    parser.add_argument("--input", required=True, help="folder of damaged gray inputs; defines the lost regions")
    parser.add_argument("--json", help="also write the per-image scores, mean and area groups to this JSON file")
    parser.add_argument("--workers", type=int, help="scoring processes (default: number of CPU cores)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    result = evaluate_dirs(args.pred, args.gt, args.input, args.workers)
    print(format_report(result))
    if args.json:
        text = json.dumps(json_safe(result), indent=2, allow_nan=False) + "\n"
        atomic_write_bytes(args.json, text.encode())
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    run_cli(main)
