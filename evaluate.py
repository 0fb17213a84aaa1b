"""Score predicted images with the exact competition metric and the metrics papers report.

    python evaluate.py --pred DIR --gt DIR --input DIR [--json FILE] [--workers N]
        [--lpips] [--fid] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse

from metrics.evaluate_dirs import evaluate_dirs
from metrics.report import format_report
from utils.atomic import atomic_write_bytes
from utils.cli import run_cli
from utils.strict_json import dumps_strict


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--pred", required=True, help="folder of predicted RGB images")
    parser.add_argument("--gt", required=True, help="folder of ground-truth RGB images (matched by file name)")
    parser.add_argument("--input", required=True, help="folder of damaged gray inputs; defines the lost regions")
    parser.add_argument("--json", help="also write every metric per image, the means and the area groups to this JSON file")
    parser.add_argument("--workers", type=int, help="scoring processes (default: number of CPU cores)")
    parser.add_argument("--lpips", action="store_true",
                        help="also LPIPS (AlexNet) per image; needs the 'research' extra and a one-time weight download")
    parser.add_argument("--fid", action="store_true",
                        help="also FID of the set and of each area group; needs the 'research' extra and a one-time "
                             "weight download")
    parser.add_argument("--device", default="auto", help="device of the LPIPS/FID networks: auto, cpu or cuda")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    result = evaluate_dirs(args.pred, args.gt, args.input, args.workers, args.lpips, args.fid, args.device)
    print(format_report(result))
    if args.json:
        atomic_write_bytes(args.json, dumps_strict(result, indent=2).encode())
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    run_cli(main)
