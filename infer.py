"""Restore damaged inputs with a trained checkpoint: `python infer.py --checkpoint best.pt --input DIR --output DIR`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from data.prefill import PREFILL_METHODS
from trainers.bundled_name import BUNDLED
from utils.cli import run_cli



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Predict the restored colour image of every damaged gray input (a folder of images, or a "
        "DACON test.csv). Writes RGB PNGs with the inputs' file names and sizes, and optionally a flat "
        "submission zip. The checkpoint carries its config, so no YAML is needed.",
        epilog="examples: python infer.py --input damaged/ --output restored/   (the bundled model); "
        "python infer.py --checkpoint checkpoints/dacon/best.pt --input /data/dacon/test.csv --output out/ --zip submission.zip --amp",
    )
    parser.add_argument("--checkpoint", default=BUNDLED, help="a ChromaFill checkpoint (best.pt, last.pt, epoch_NNN.pt), "
                        "a .onnx model written by export.py (run with onnxruntime), or `bundled` (the default): the "
                        "model shipped in weights/chromafill.pt, no training needed")
    parser.add_argument("--input", required=True, type=Path, help="folder of damaged gray images, or a CSV with input_image_path")
    parser.add_argument("--output", required=True, type=Path, help="folder for the predicted PNGs")
    parser.add_argument("--zip", type=Path, help="also write this flat submission zip of exactly the predicted files")
    parser.add_argument("--no-ema", action="store_true", help="use the raw generator weights instead of the EMA copy")
    parser.add_argument("--tta", action="store_true", help="average with the prediction of the horizontally flipped input")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (same-size images are batched; default 4)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda when present, else cpu")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (fast on CPUs with AVX512-BF16 and on GPUs); not for .onnx models")
    parser.add_argument("--masks", type=Path, help="folder of lost-region masks (PNG, 255 = lost) named as the inputs, instead of detecting them")
    parser.add_argument("--mask-source", choices=("detector", "mask_net", "auto"), default=None,
                        help="where lost regions come from without --masks: detector = the constant-fill detector; mask_net = "
                        "the checkpoint's learned mask net; auto (default) = the detector, and where it is unsure (no plausible "
                        "constant-fill region, or two alike) the mask net picks among its candidates (when the checkpoint has one)")
    parser.add_argument("--save-masks", type=Path, help="write the masks used (PNG, 255 = lost) to this folder")
    parser.add_argument("--prefill", choices=PREFILL_METHODS, default=None,
                        help="classical fill of the lost region before the generator (default: the one the model was "
                        "trained with, data.prefill in its config; another one warns, as the model never saw its fills)")
    parser.add_argument("--hole-blur", type=float, default=None, metavar="SIGMA",
                        help="smooth the prediction inside the hole with a Gaussian of this sigma in pixels, 0 = off "
                        "(default: the model's model.generator.hole_blur)")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable inputs with a warning instead of stopping")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size: got {args.batch_size}, expected an integer >= 1")
    if args.hole_blur is not None and not (math.isfinite(args.hole_blur) and args.hole_blur >= 0):
        parser.error(f"--hole-blur: got {args.hole_blur}, expected a Gaussian sigma >= 0 in pixels (0 = off)")
    if args.masks is not None and args.mask_source is not None:
        parser.error("--mask-source: does not apply with --masks (the masks are read from files)")
    args.mask_source = args.mask_source or "auto"
    return args


def main() -> int:
    args = parse_args()
    from trainers.bundled import resolve_model
    from trainers.inference import InferenceOptions, run_inference

    names = run_inference(InferenceOptions(
        checkpoint=resolve_model(args.checkpoint), input=args.input, output=args.output, zip=args.zip, use_ema=not args.no_ema,
        tta=args.tta, batch_size=args.batch_size, device=args.device, amp=args.amp, masks=args.masks,
        save_masks=args.save_masks, skip_bad=args.skip_bad, mask_source=args.mask_source, prefill=args.prefill,
        hole_blur=args.hole_blur,
    ))
    print(f"wrote {len(names)} predictions to {args.output}" + (f" and {args.zip}" if args.zip else ""))
    return 0


if __name__ == "__main__":
    run_cli(main)
