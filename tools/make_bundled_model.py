"""Convert a trained run's checkpoint into the bundled model: weights/chromafill.pt (+ .yaml, PROVENANCE.md).

    python tools/make_bundled_model.py --checkpoint checkpoints/bundled/best.pt --out weights/ \
        [--quality-json checkpoints/bundled/quality.json [clipped.json ...]] [--data "CamVid train + BSDS500 train"]

benchmarks/bundled_model.sh trains the run and calls this; trainers/bundled.py says what the file holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from utils.cli import run_cli  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write a checkpoint's inference generator (EMA weights, fp16, at most 20 MB) as the bundled model "
        "that infer.py, export.py and app.py use without --checkpoint, with its config and provenance "
        "(data, steps, minutes from TensorBoard, git commit, scores).",
        epilog="example: python tools/make_bundled_model.py --checkpoint checkpoints/bundled/best.pt --out weights/",
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="the trained run's checkpoint (best.pt)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write chromafill.pt, chromafill.yaml, PROVENANCE.md")
    parser.add_argument("--quality-json", type=Path, nargs="+", default=[],
                        help="benchmarks/quality.py --json files (e.g. plain and clipped photos): their score tables go into the provenance")
    parser.add_argument("--training-commit", default="",
                        help="the commit of the code that trained the run, for a checkpoint that does not record it "
                             "(trainers/loop.py records it in checkpoints since that record was added)")
    parser.add_argument("--data", default="", help="what the model was trained on, in words (e.g. 'CamVid train + BSDS500 train')")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    from trainers.bundled import make_bundled_model

    files = make_bundled_model(args.checkpoint, args.out, args.quality_json, args.data, training_commit=args.training_commit)
    print(f"wrote {files.weights} ({files.size_bytes / 1e6:.1f} MB), {files.config} and {files.provenance}")
    return 0


if __name__ == "__main__":
    run_cli(main)
