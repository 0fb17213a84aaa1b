"""Export a checkpoint's generator to ONNX: `python export.py --checkpoint best.pt --output model.onnx`."""

from __future__ import annotations

import argparse
from pathlib import Path

from trainers.bundled_name import BUNDLED
from utils.cli import run_cli



def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected HxW such as 256x256") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected positive sides")
    return h, w


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write a checkpoint's inference generator (EMA weights unless --no-ema, BatchNorm folded, eval "
        "mode) as an ONNX model that `python infer.py --checkpoint model.onnx` runs with onnxruntime.",
        epilog="example: python export.py --checkpoint checkpoints/dacon/best.pt --output model.onnx",
    )
    parser.add_argument("--checkpoint", default=BUNDLED, help="a ChromaFill checkpoint (best.pt, last.pt, epoch_NNN.pt), or "
                        "`bundled` (the default): the model shipped in weights/chromafill.pt")
    parser.add_argument("--output", required=True, type=Path, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default 17)")
    parser.add_argument("--dynamic", action=argparse.BooleanOptionalAction, default=True,
                        help="dynamic batch, height and width (default); --no-dynamic fixes them to batch 1 and --size")
    parser.add_argument("--size", type=_size, default=(256, 256), help="HxW traced (the only size with --no-dynamic; "
                        "rounded up to the generator's padding multiple); default 256x256")
    parser.add_argument("--no-ema", action="store_true", help="export the raw generator weights instead of the EMA copy")
    args = parser.parse_args(argv)
    if args.output.suffix.lower() != ".onnx":
        parser.error(f"--output: got {args.output}, expected a file name ending in .onnx")
    if not 7 <= args.opset <= 20:
        parser.error(f"--opset: got {args.opset}, expected 7..20 (the TorchScript exporter's range)")
    return args


def main() -> int:
    args = parse_args()
    from trainers.bundled import resolve_model
    from trainers.onnx_export import export_onnx

    result = export_onnx(resolve_model(args.checkpoint), args.output, args.opset, not args.no_ema, args.dynamic, args.size)
    print(f"wrote {result.path} (opset {result.opset}, {'EMA' if result.is_ema else 'raw'} weights, "
          f"sides padded to multiples of {result.size_multiple} by the runner)")
    return 0


if __name__ == "__main__":
    run_cli(main)
