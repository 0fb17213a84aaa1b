"""Running an exported ChromaFill ONNX generator with onnxruntime, as a drop-in for the torch one.

`OnnxGenerator(gray, mask) -> rgb` takes and returns torch tensors like the generator it was
exported from, so infer.py's pipeline (hole detection, pre-fill, batching by size, TTA, zip) runs
unchanged. The graph is traced on inputs whose sides are multiples of the generator's padding
multiple (the generator's own size-dependent padding branch cannot be traced), so the padding
happens here: the same `pad_to_multiple` the generator uses, then the output is cropped back.
Every layer after the padding is per-pixel at the output (the head, gray snap), so this equals
the torch path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.layers import pad_to_multiple
from trainers.config import Config, config_from_dict
from utils.errors import ChromaFillError

FORMAT = "chromafill-onnx"
VERSION = 1
INPUTS = ("gray", "mask")
OUTPUT = "rgb"


class OnnxGenerator(nn.Module):
    """An exported generator behind the torch generator's call interface (eval mode only)."""

    def __init__(self, session: Any, multiple: int, pad_mode: str) -> None:
        super().__init__()
        self.session = session
        self.multiple = multiple
        self.pad_mode = pad_mode
        shape = session.get_inputs()[0].shape
        self.fixed = tuple(shape[2:]) if all(isinstance(d, int) for d in shape) else None  # export.py --no-dynamic
        self.train(False)

    def train(self, mode: bool = True) -> "OnnxGenerator":
        if mode:
            raise RuntimeError("an ONNX generator cannot be trained")
        return super().train(False)

    def forward(self, gray: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, w = gray.shape[-2:]
        padded = [pad_to_multiple(t.float(), self.multiple, self.pad_mode).cpu().numpy() for t in (gray, mask)]
        if self.fixed is None:
            (rgb,) = self.session.run([OUTPUT], dict(zip(INPUTS, padded)))
        else:
            if padded[0].shape[2:] != self.fixed:
                raise ChromaFillError(f"this ONNX model was exported for {self.fixed[0]}x{self.fixed[1]} inputs only "
                                      f"(export.py --no-dynamic); got {h}x{w}: export it without --no-dynamic")
            rgb = np.concatenate([self.session.run([OUTPUT], {INPUTS[0]: g[None], INPUTS[1]: m[None]})[0]
                                  for g, m in zip(*padded)])
        return torch.from_numpy(np.ascontiguousarray(rgb[..., :h, :w])).to(gray.device)


def is_onnx_path(path: Path) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def load_onnx_generator(path: Path, threads: int = 0) -> tuple[OnnxGenerator, Config, dict[str, str]]:
    """(generator, the checkpoint's config, the file's metadata) of an .onnx file written by export.py."""
    import onnxruntime as ort  # only ONNX inference needs it

    path = Path(path)
    if not path.is_file():
        raise ChromaFillError(f"{path}: ONNX model not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # its own errors come back as exceptions, reworded below
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for every parse failure
        first = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise ChromaFillError(f"{path}: not a readable ONNX model (truncated or corrupt?): {first}") from None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("format") != FORMAT:
        raise ChromaFillError(f"{path}: not a ChromaFill ONNX model (no '{FORMAT}' marker in its metadata; export one with export.py)")
    if int(meta.get("version", "0")) > VERSION:
        raise ChromaFillError(f"{path}: ONNX model version {meta['version']} is newer than this code ({VERSION})")
    names = sorted(i.name for i in session.get_inputs())
    if names != sorted(INPUTS) or [o.name for o in session.get_outputs()] != [OUTPUT]:
        raise ChromaFillError(f"{path}: ONNX graph has inputs {names}, expected {list(INPUTS)} and output {OUTPUT!r}")
    try:
        config = config_from_dict(json.loads(meta["config"]))
        multiple = int(meta["size_multiple"])
    except (KeyError, ValueError, ChromaFillError) as err:
        raise ChromaFillError(f"{path}: the model's stored config is missing or invalid ({err})") from None
    return OnnxGenerator(session, multiple, meta.get("pad_mode", "reflect")), config, meta
