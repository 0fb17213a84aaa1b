"""Export a checkpoint's inference generator to ONNX, with what inference needs in its metadata.

The graph is the generator exactly as infer.py runs it (`prepare_for_inference`: eval mode, so
dropout is off; BatchNorm folded), traced by torch's TorchScript exporter (the torch.export one
needs onnxscript, which is not a dependency). Batch, height and width are dynamic; the sides must
be multiples of `size_multiple` (stored in the metadata), which trainers/onnx_model.py pads to.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from trainers.inference import load_generator
from trainers.onnx_model import FORMAT, INPUTS, OUTPUT, VERSION
from utils import config as cfgio
from utils.atomic import atomic_write_bytes
from utils.errors import ChromaFillError

DEFAULT_OPSET = 17


@dataclass
class ExportResult:
    path: Path
    is_ema: bool
    size_multiple: int
    opset: int


def size_multiple(generator: nn.Module) -> int:
    """The side multiple the generator pads its inputs to: `size_multiple`, else 2**depth."""
    if hasattr(generator, "size_multiple"):
        return int(generator.size_multiple)
    if hasattr(generator, "depth"):
        return 2 ** int(generator.depth)
    raise ChromaFillError(f"generator {type(generator).__name__}: cannot export it: it has neither size_multiple nor depth "
                          "to tell which side multiple its inputs are padded to")


def export_onnx(checkpoint: Path, output: Path, opset: int = DEFAULT_OPSET, use_ema: bool = True, dynamic: bool = True,
                size: tuple[int, int] = (256, 256)) -> ExportResult:
    """Write `checkpoint`'s generator to `output` (atomically); `size` is the traced (and, without
    `dynamic`, the only accepted) input size, rounded up to the size multiple."""
    import onnx  # only export needs it

    generator, config, is_ema = load_generator(checkpoint, torch.device("cpu"), use_ema)
    generator.to(memory_format=torch.contiguous_format)
    multiple = size_multiple(generator)
    h, w = (-(-s // multiple) * multiple for s in size)
    example = (torch.rand(1, 1, h, w), (torch.rand(1, 1, h, w) > 0.9).float())
    axes = {name: {0: "batch", 2: "height", 3: "width"} for name in (*INPUTS, OUTPUT)} if dynamic else None
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about the padding branch, which the caller owns
            torch.onnx.export(generator, example, buffer, dynamo=False, opset_version=opset, input_names=list(INPUTS),
                              output_names=[OUTPUT], dynamic_axes=axes, do_constant_folding=True)
    except Exception as err:  # the exporter's errors have no common base class
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ChromaFillError(f"{checkpoint}: the generator cannot be exported to ONNX opset {opset}: {first}") from None
    model = onnx.load_from_string(buffer.getvalue())
    meta = {
        "format": FORMAT, "version": str(VERSION), "config": json.dumps(cfgio.to_dict(config)),
        "generator": config.model.generator.type, "head": config.model.generator.head, "prefill": config.data.prefill,
        "size_multiple": str(multiple), "pad_mode": getattr(generator, "pad_mode", "reflect"),
        "weights": "ema" if is_ema else "raw", "checkpoint": Path(checkpoint).name, "dynamic": str(dynamic).lower(),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    atomic_write_bytes(output, model.SerializeToString())
    return ExportResult(Path(output), is_ema, multiple, opset)
