"""Inference on a folder or CSV of damaged inputs: PNGs named as the inputs, plus a flat zip."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from data.inference_set import InferenceDataset
from data.size_batches import same_size_batches
from data.io import write_image
from models.build import build_generator, build_mask_net
from models.chroma_bins import ChromaBinsHead
from models.fusion import fold_batchnorm
from trainers.bundled import bundled_errors
from trainers.checkpoint import checkpoint_position, generator_weights, load_checkpoint
from trainers.config import Config, config_from_dict
from trainers.onnx_model import is_onnx_path, load_onnx_generator
from trainers.predict import MaskNetPredictor, predict_to_folder, write_submission_zip
from utils.background import background
from utils.errors import ChromaFillError
from utils.runtime import native_bf16, pick_device


@dataclass
class InferenceOptions:
    checkpoint: Path
    input: Path
    output: Path
    zip: Path | None = None
    use_ema: bool = True
    tta: bool = False
    batch_size: int = 4
    device: str = "auto"
    amp: bool = False
    masks: Path | None = None
    save_masks: Path | None = None
    skip_bad: bool = False
    mask_source: str = "auto"
    prefill: str | None = None  # None = the model's own data.prefill
    hole_blur: float | None = None  # None = the model's own model.generator.hole_blur


@dataclass
class InferenceModel:
    """What a checkpoint (or an exported .onnx) gives inference."""

    generator: nn.Module
    config: Config
    weights: str  # "EMA" or "raw", for the log line
    mask_net: nn.Module | None = None
    saved_at: str = ""  # where in training the weights were saved (checkpoint_position), for the log line


def load_generator(path: Path, device: torch.device, use_ema: bool = True, amp: bool = False) -> tuple[nn.Module, Config, bool]:
    """The generator of one of our checkpoints (or the bundled model), prepared for inference; its
    config comes from the file.

    Returns (generator, config, whether the weights are the EMA ones). The generator is for
    prediction only: see `prepare_for_inference`.
    """
    with bundled_errors(path):
        return _generator_of(load_checkpoint(path, "cpu"), path, device, use_ema, amp)


def _generator_of(checkpoint: dict[str, Any], path: Path, device: torch.device, use_ema: bool,
                  amp: bool) -> tuple[nn.Module, Config, bool]:
    try:
        config = config_from_dict(checkpoint["config"])
    except (KeyError, ChromaFillError) as err:
        raise ChromaFillError(f"{path}: the checkpoint's stored config is missing or invalid ({err})") from None
    with torch.device("meta"):  # no random initialisation of weights about to be replaced (~0.3 s)
        generator = build_generator(config.model)
    weights, is_ema = generator_weights(checkpoint, use_ema)
    _load_fp32(generator, weights, path, "generator")
    return prepare_for_inference(generator, device, amp), config, is_ema


def _load_fp32(net: nn.Module, weights: dict[str, Any], path: Path, what: str) -> None:
    """Assign `weights` to a meta-device net in fp32: the bundled model stores fp16 (half the file),
    and fp16 convolutions on a CPU are slow or missing. fp32 tensors are assigned as they are."""
    weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
    try:
        net.load_state_dict(weights, assign=True)
    except RuntimeError as err:
        raise ChromaFillError(f"{path}: the {what} weights do not fit the model its config describes "
                              f"({str(err).splitlines()[0][:160]})") from None


def load_inference_model(path: Path, device: torch.device, use_ema: bool = True, amp: bool = False) -> InferenceModel:
    """The generator (torch, or onnxruntime for a .onnx file from export.py) and the mask net when the file has one."""
    if is_onnx_path(path):
        if amp:
            raise ChromaFillError(f"{path}: --amp does not apply to an ONNX model (it runs in fp32 with onnxruntime); drop --amp")
        generator, config, meta = load_onnx_generator(path)
        generator.gray_snap = config.model.generator.gray_snap  # the graph snaps each pass; predict.generate snaps the TTA mean
        if not use_ema and meta.get("weights") == "ema":
            raise ChromaFillError(f"{path}: --no-ema: this ONNX model holds the EMA weights; export the raw ones with "
                                  "export.py --no-ema")
        return InferenceModel(generator, config, f"{meta.get('weights', '?')} (ONNX, onnxruntime CPU)")
    with bundled_errors(path):
        checkpoint = load_checkpoint(path, "cpu")
        generator, config, is_ema = _generator_of(checkpoint, path, device, use_ema, amp)
        mask_net = _mask_net_of(checkpoint, config, path, device, amp)
    return InferenceModel(generator, config, "EMA" if is_ema else "raw", mask_net, checkpoint_position(checkpoint))


def _mask_net_of(checkpoint: dict[str, Any], config: Config, path: Path, device: torch.device, amp: bool) -> nn.Module | None:
    weights = checkpoint.get("trainer", {}).get("mask_net")
    if not weights or not config.model.mask_net.enabled:
        return None
    with torch.device("meta"):
        net = build_mask_net(config.model)
    _load_fp32(net, weights, path, "mask net")
    return prepare_for_inference(net, device, amp)


def prepare_for_inference(generator: nn.Module, device: torch.device, amp: bool = False) -> nn.Module:
    """Eval mode, BatchNorm folded into the convolutions, the chroma_bins temperature folded into
    its classifier, channels_last, and bf16 weights under `amp`.

    What infer.py, export.py and benchmarks/bench_infer.py run. After the folds the generator
    predicts exactly as the eval-mode original (to fp32 rounding) but cannot be trained any more.
    channels_last is oneDNN's fast layout for these convolutions on CPU.
    """
    generator.eval()
    fold_batchnorm(generator)
    for module in generator.modules():
        if isinstance(module, ChromaBinsHead):
            module.fold_temperature()
    generator.to(device, memory_format=torch.channels_last)
    if amp:
        bf16_convolutions(generator)
    return generator


def run_inference(opts: InferenceOptions) -> list[str]:
    _make_output_folder(opts.output)  # before the model loads: an unusable output fails in a second
    device = pick_device(opts.device)
    model = load_inference_model(opts.checkpoint, device, opts.use_ema, opts.amp)
    if opts.mask_source == "mask_net" and model.mask_net is None:
        raise ChromaFillError(f"{opts.checkpoint}: --mask-source mask_net: this model has no learned mask net "
                              "(trained with model.mask_net.enabled=false, or an ONNX export); use detector or auto")
    autocast = inference_autocast(device, opts.amp)
    predictor = None if model.mask_net is None else MaskNetPredictor(model.mask_net, device, autocast)
    prefill = chosen_prefill(model.config, opts.prefill)
    dataset = InferenceDataset(opts.input, prefill=prefill, masks_dir=opts.masks, skip_bad=opts.skip_bad,
                               mask_source=opts.mask_source, mask_predictor=predictor)
    saved_at = f" of {model.saved_at}" if model.saved_at else ""
    print(f"{len(dataset)} images, {model.weights} generator weights{saved_at}, masks from "
          f"{'--masks' if opts.masks else _mask_source_label(opts.mask_source, predictor)}, {prefill} pre-fill, "
          f"device {device}", file=sys.stderr)
    generator = model.generator
    if opts.hole_blur is not None:
        set_hole_blur(generator, opts.hole_blur, opts.checkpoint)
    index_batches = same_size_batches([dataset.image_size(i) for i in range(len(dataset))], opts.batch_size)
    batches = tqdm(background(_stacked_batches(dataset, index_batches)),
                   total=len(index_batches), desc="infer", unit="batch", disable=None)
    if opts.save_masks is not None:
        batches = _saving_masks(batches, opts.save_masks)
    names = predict_to_folder(generator, batches, opts.output, device, autocast, opts.tta)
    if opts.zip is not None:
        write_submission_zip(opts.output, names, opts.zip)
    if predictor is not None and opts.mask_source == "auto" and predictor.calls:
        print(f"the mask net found the lost region of {predictor.calls} images where the detector was unsure", file=sys.stderr)
    return names


def set_hole_blur(generator: nn.Module, sigma: float, path: Path) -> None:
    """infer.py --hole-blur: the eval-time smoothing of the hole (model.generator.hole_blur), chosen at inference."""
    if is_onnx_path(path):
        raise ChromaFillError(f"{path}: --hole-blur: an ONNX model holds the hole_blur it was exported with in its graph; "
                              "export the checkpoint again with model.generator.hole_blur set, or drop --hole-blur")
    generator.hole_blur = sigma


def chosen_prefill(config: Config, override: str | None) -> str:
    """The pre-fill to run: the model's own (data.prefill of its config; telea for checkpoints older than the
    key), or `override` with a one-line warning when it differs, since the generator only ever saw its own fills."""
    trained = config.data.prefill
    if override is None or override == trained:
        return trained
    print(f"warning: --prefill {override}: this model was trained with data.prefill={trained}; its inputs will "
          "not look like its training inputs", file=sys.stderr)
    return override


def _mask_source_label(source: str, predictor: MaskNetPredictor | None) -> str:
    if source == "auto":
        return "the detector, and the mask net where it is unsure" if predictor is not None else "the detector (no mask net to fall back to)"
    return "the mask net" if source == "mask_net" else "the detector"


def _make_output_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ChromaFillError(f"{folder}: the output folder exists as a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ChromaFillError(f"{folder}: cannot be used as the output folder ({err.strerror or err})") from None


def bf16_convolutions(generator: nn.Module) -> None:
    """Store convolution weights in bf16 once, for --amp.

    bf16 autocast casts every convolution's fp32 weights to bf16 on every forward pass; casting
    them once gives bit-identical outputs and saves ~10% of the CPU time of a 512x512 batch
    (benchmarks/bench_infer.py). Normalisation layers keep their fp32 parameters, as under autocast.
    """
    for module in generator.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.to(torch.bfloat16)


def inference_autocast(device: torch.device, amp: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """What --amp wraps each forward in: bf16 autocast (a no-op context without it)."""
    if not amp:
        return contextlib.nullcontext
    if not native_bf16(device):  # asked for per call, so kept, but the user should know it costs time here
        print(f"warning: --amp: this {device.type.upper()} has no native bf16; bf16 is emulated and slower than fp32",
              file=sys.stderr, flush=True)
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def _stacked_batches(dataset: InferenceDataset, index_batches: list[list[int]]) -> Iterator[dict[str, Any]]:
    """The samples of each index batch (all of one size), stacked, so any mix of sizes predicts without resizing."""
    for indices in index_batches:
        items = [dataset[i] for i in indices]
        yield {"input": torch.stack([it["input"] for it in items]), "mask": torch.stack([it["mask"] for it in items]),
               "name": [it["name"] for it in items]}


def _saving_masks(batches: Any, folder: Path) -> Iterator[dict[str, Any]]:
    folder.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        for name, mask in zip(batch["name"], batch["mask"]):
            write_image(folder / name, (mask[0].numpy() > 0.5).astype(np.uint8) * 255)
        yield batch
