"""Train the GAN from a YAML config: `python train.py --config configs/dacon.yaml [key=value ...]`."""

from __future__ import annotations

import argparse

from utils.cli import run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the ChromaFill generator/discriminator pair. Outputs go to "
        "<experiment.output_dir>/<experiment.name>/ (config.yaml, last.pt, best.pt, TensorBoard events, "
        "per-epoch test predictions and submission zips).",
        epilog="example: python train.py --config configs/dacon.yaml data.root=/data/dacon train.epochs=50",
    )
    parser.add_argument("--config", required=True, help="experiment YAML file (may name a `base:` file)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--resume",
        metavar="auto|PATH",
        help="continue a run with its full state: `auto` takes last.pt of the run the config names "
        "(starts fresh when there is none); PATH takes that checkpoint",
    )
    start.add_argument(
        "--load-from",
        metavar="PATH",
        help="initialise the generator (and discriminator, if present) from a checkpoint's weights only, "
        "for fine-tuning; optimizer, schedule and epoch start fresh. `bundled` = the model shipped in "
        "weights/chromafill.pt (its config's model section must match)",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.epochs=10 data.crop_size=256")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    from trainers.config import load_config

    config = load_config(args.config, args.overrides)  # fail on a bad config before importing torch-heavy code
    from trainers.loop import run_training

    return run_training(config, resume=args.resume, load_from=args.load_from)


if __name__ == "__main__":
    run_cli(main)
