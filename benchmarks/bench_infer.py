"""Inference speed of one or more generators: images/s, achieved GFLOP/s, bf16 vs fp32 score, infer.py end to end.

    python benchmarks/bench_infer.py [--config configs/dacon_unet.yaml [MORE.yaml ...] | --checkpoint PATH]
        [--size 512] [--batch 4] [--reps 5] [--modes fp32 fp32+TTA bf16 bf16+TTA ORT] [--score-images 8]
        [--e2e-images 100] [--skip-e2e]

With several --config files every mode of every generator takes turns in one loop (the CPU is
shared: a burst of foreign load then hits all alike), and each row also gives its speed relative
to the first config's row of the same mode: the median over repetitions of the paired ratio
(first config's seconds / this one's), with the ratio of the medians beside it.

1. The machine's practical peaks, fp32 and bf16: a 2048x2048 torch.mm and one large convolution
   (on AMD CPUs MKL's fp32 matmul reaches well under half of oneDNN's convolution kernels).
2. Forward passes of one batch, prepared as infer.py prepares them (`prepare_for_inference`:
   eval mode, BatchNorm folded, channels_last, bf16 weights for --amp; the same
   `trainers.predict.generate`), fp32 and bf16 autocast, with and without the flip
   TTA, and the generator exported as export.py does run by onnxruntime (fp32, ORT_ENABLE_ALL
   graph optimisations, CPU; "ORT fp32"), interleaved repetitions (median and best): images/s and the GFLOP/s achieved, from the FLOPs
   torch.utils.flop_counter counts for that forward.
3. The exact competition score of fp32 and bf16 predictions of the same generator (randomly
   initialised with seed 0, or --checkpoint's) on generated DACON-style images (true masks), and
   their difference. A random generator's colours are faint tints whose hue histogram flips with
   any rounding, so only a trained one says what bf16 costs (benchmarks/quality.py --precision
   measures it on real photos).
4. `python infer.py` timed end to end (process start, model load, reading, hole detection, Telea
   pre-fill, prediction, PNGs, zip) on generated 512x512 test inputs, with --checkpoint or else a
   checkpoint of the config's model with random weights, saved in the trainer's format; fp32 and
   --amp; with the process's peak resident memory (VmHWM, read by the process itself at exit).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import _common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np
import torch
from _common import ROOT, interleaved_wall_and_cpu, machine_line, peaks_line, summary
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.synthetic import natural_image, write_dacon_dataset
from metrics.competition import score_image
from metrics.torch_score import to_uint8
from models.build import build_generator
from trainers.checkpoint import generator_weights, load_checkpoint, save_checkpoint
from trainers.config import Config, config_from_dict, load_config
from trainers.inference import prepare_for_inference
from trainers.predict import generate
from utils import config as cfgio
from utils.color import pil_luma
from utils.runtime import pick_device


def save_random_checkpoint(config: Config, path: Path, seed: int = 0) -> None:
    """A checkpoint of `config`'s generator with random weights, laid out as trainers/loop.py's best.pt."""
    torch.manual_seed(seed)
    generator = build_generator(config.model)
    trainer = {"generator": generator.state_dict(), "ema": None, "mask_net": None, "discriminator": None}
    save_checkpoint(path, {"config": cfgio.to_dict(config), "epoch": 0, "global_step": 0, "scores": {}, "trainer": trainer})


def make_images(count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gray inputs NxHxW, ground truths NxHxWx3, true masks NxHxW) of generated photos with DACON damage."""
    rng = np.random.default_rng(seed)
    grays, gts, masks = [], [], []
    for _ in range(count):
        rgb = natural_image(size, size, rng)
        gray, _ = synthesize_damage(rgb, rng, DamageConfig())
        grays.append(gray), gts.append(rgb), masks.append(gray != pil_luma(rgb))
    return np.stack(grays), np.stack(gts), np.stack(masks)


def as_batch(grays: np.ndarray, masks: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gray = torch.from_numpy(grays).float()[:, None].div(255).to(device)
    return gray, torch.from_numpy(masks).float()[:, None].to(device)


def autocast(device: torch.device, amp: bool) -> Callable[[], contextlib.AbstractContextManager]:
    """What infer.py --amp does: bf16 autocast around the forward."""
    return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext


def forward_flops(generator: nn.Module, gray: torch.Tensor, mask: torch.Tensor, tta: bool,
                  amp: Callable[[], contextlib.AbstractContextManager]) -> int:
    counter = FlopCounterMode(display=False)
    with counter, amp():
        generate(generator, gray, mask, tta)
    return counter.get_total_flops()


def prepared(generator: nn.Module, device: torch.device) -> dict[bool, nn.Module]:
    """{amp: a copy of `generator` prepared as infer.py prepares it, with and without --amp}."""
    return {amp: prepare_for_inference(copy.deepcopy(generator), device, amp) for amp in (False, True)}


def onnx_generator(generator: nn.Module, size: int) -> nn.Module:
    """`generator` exported as export.py exports it (fp32, BatchNorm folded), run by onnxruntime
    with ORT_ENABLE_ALL graph optimisations on the CPU, behind the torch call interface."""
    import io

    import onnxruntime as ort

    from trainers.onnx_export import DEFAULT_OPSET, size_multiple
    from trainers.onnx_model import INPUTS, OUTPUT, OnnxGenerator

    net = prepare_for_inference(copy.deepcopy(generator), torch.device("cpu")).to(memory_format=torch.contiguous_format)
    buffer, example = io.BytesIO(), (torch.rand(1, 1, size, size), torch.zeros(1, 1, size, size))
    axes = {name: {0: "batch", 2: "height", 3: "width"} for name in (*INPUTS, OUTPUT)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes, as export.py silences them
        torch.onnx.export(net, example, buffer, dynamo=False, opset_version=DEFAULT_OPSET, input_names=list(INPUTS),
                          output_names=[OUTPUT], dynamic_axes=axes)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    return OnnxGenerator(session, size_multiple(net), getattr(net, "pad_mode", "reflect"))


MODES = ("fp32", "fp32+TTA", "bf16", "bf16+TTA", "ORT")


@dataclass
class Model:
    """A generator to time, under the label its rows carry (its config file or checkpoint)."""

    label: str
    config: Config
    generator: nn.Module


def mode_runs(model: Model, modes: list[str], gray: torch.Tensor, mask: torch.Tensor,
              device: torch.device) -> tuple[dict[str, Callable[[], None]], dict[str, int]]:
    """({mode: one timed call}, {mode: FLOPs of that call}) of one generator, prepared as infer.py prepares it."""
    runs: dict[str, Callable[[], None]] = {}
    flops: dict[str, int] = {}
    nets = prepared(model.generator, device)
    for mode in modes:
        if mode == "ORT":
            ort_net = onnx_generator(model.generator, gray.shape[-1])
            flops[mode] = forward_flops(nets[False], gray, mask, False, autocast(device, False))  # the same graph
            runs[mode] = lambda net=ort_net: generate(net, gray.cpu(), mask.cpu())
            continue
        amp, tta = mode.startswith("bf16"), mode.endswith("+TTA")
        flops[mode] = forward_flops(nets[amp], gray, mask, tta, autocast(device, amp))

        def run(amp: bool = amp, tta: bool = tta) -> None:
            with autocast(device, amp)():
                generate(nets[amp], gray, mask, tta)
        runs[mode] = run
    return runs, flops


def speed(args: argparse.Namespace, models: list[Model], device: torch.device) -> None:
    grays, _, masks = make_images(args.batch, args.size)
    gray, mask = as_batch(grays, masks, device)
    runs, flops = {}, {}
    for index, model in enumerate(models):
        model_runs, model_flops = mode_runs(model, args.modes, gray, mask, device)
        for mode in args.modes:
            runs[index, mode], flops[index, mode] = model_runs[mode], model_flops[mode]
    for run in runs.values():
        run()  # warm-up: oneDNN primitives, bf16 weight reorders
    names = {key: f"{key[0]}|{key[1]}" for key in runs}
    wall, cpu = interleaved_wall_and_cpu({names[key]: run for key, run in runs.items()}, args.reps, device)
    print(f"generator forward, batch {args.batch}, {args.size}x{args.size}, {args.reps} interleaved repetitions; "
          "median (best); CPU s = this process's CPU seconds (all threads)")
    header = f"{'mode':<9} {'GFLOP/batch':>11} {'s/batch':>15} {'img/s':>15} {'CPU s':>7} {'GFLOP/s':>12}"
    if len(models) > 1:
        header += f"  {'x first: wall, paired (of medians)':>34} {'CPU, paired':>11}  model"
    print(header)
    for mode in args.modes:
        for index, model in enumerate(models):
            seconds, cpu_seconds = wall[names[index, mode]], cpu[names[index, mode]]
            median, best = summary(seconds)
            gflop = flops[index, mode] / 1e9
            row = (f"{mode:<9} {gflop:11.1f} {median:7.3f} ({best:5.3f}) {args.batch / median:7.2f} ({args.batch / best:5.2f}) "
                   f"{statistics.median(cpu_seconds):7.3f} {gflop / median:5.0f} ({gflop / best:4.0f})")
            if len(models) > 1:
                first, first_cpu = wall[names[0, mode]], cpu[names[0, mode]]
                paired = statistics.median(f / t for f, t in zip(first, seconds))
                paired_cpu = statistics.median(f / t for f, t in zip(first_cpu, cpu_seconds))
                row += f"  {paired:27.2f} ({statistics.median(first) / median:4.2f}) {paired_cpu:11.2f}  {model.label}"
            print(row)


def score_difference(args: argparse.Namespace, model: Model, device: torch.device) -> None:
    grays, gts, masks = make_images(args.score_images, args.size, seed=1)
    scores = {}
    nets = prepared(model.generator, device)
    for amp in (False, True):
        preds = []
        for start in range(0, len(grays), args.batch):
            gray, mask = as_batch(grays[start:start + args.batch], masks[start:start + args.batch], device)
            with autocast(device, amp)():
                preds.append(to_uint8(generate(nets[amp], gray, mask)))
        rows = [score_image(gt, pred, m) for gt, pred, m in zip(gts, np.concatenate(preds), masks)]
        scores[amp] = {k: statistics.mean(r[k] for r in rows) for k in ("score", "ssim_full", "ssim_lost", "hist")}
    weights = args.checkpoint or f"randomly initialised generator of {model.label} (seed 0)"
    print(f"exact score on {args.score_images} generated {args.size}x{args.size} images, {weights}:")
    for amp, terms in scores.items():
        print(f"  {'bf16' if amp else 'fp32'}: " + " ".join(f"{k} {v:.4f}" for k, v in terms.items()))
    print(f"  bf16 - fp32: score {scores[True]['score'] - scores[False]['score']:+.4f}")


# Runs a script as __main__ and then writes the process's own peak resident memory (VmHWM): not
# ru_maxrss, which a child started by fork or vfork and exec inherits from its parent (this
# benchmark, gigabytes of models) on Linux.
_PEAK_RSS_WRAPPER = """
import runpy, sys
report = sys.argv.pop(1)
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open("/proc/self/status") as status, open(report, "w") as out:
        out.write(next((line.split()[1] for line in status if line.startswith("VmHWM:")), "0"))
"""


def timed_process(script: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of `python SCRIPT ARGS...` run to completion (raises if it fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "peak_kib"
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", _PEAK_RSS_WRAPPER, str(report), *script], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"python {' '.join(script)} failed: {result.stderr[-2000:]}")
        peak_kib = float(report.read_text() or 0) if report.exists() else float("nan")
    return seconds, peak_kib / 1024


def end_to_end(args: argparse.Namespace, model: Model) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, checkpoint = Path(tmp) / "dacon", args.checkpoint or Path(tmp) / "random.pt"
        write_dacon_dataset(root, 0, args.size, np.random.default_rng(2), DamageConfig(), tests=args.e2e_images)
        if args.checkpoint is None:
            save_random_checkpoint(model.config, checkpoint)
        for amp in ([], ["--amp"]):
            script = ["infer.py", "--checkpoint", str(checkpoint), "--input", str(root / "test.csv"),
                      "--output", str(Path(tmp) / f"out{len(amp)}"), "--zip", str(Path(tmp) / f"sub{len(amp)}.zip"),
                      "--batch-size", str(args.batch), *amp]
            seconds, peak_mib = timed_process(script)
            print(f"python infer.py {' '.join(amp) or '(fp32)'}: {args.e2e_images} images {args.size}x{args.size} "
                  f"in {seconds:.1f} s end to end ({args.e2e_images / seconds:.2f} img/s, model load included), "
                  f"peak RSS {peak_mib:.0f} MiB, batch {args.batch}, {model.label}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", nargs="+", default=["configs/dacon_unet.yaml"],
                        help="configs whose generators to time, interleaved; ratios are against the first")
    parser.add_argument("--checkpoint", type=Path, help="time and score this checkpoint's generator (its weights and "
                        "its config's model) instead of randomly initialised ones of --config")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions of each mode")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                        help="what to time: torch fp32 / bf16 autocast, each with or without flip TTA, and onnxruntime fp32")
    parser.add_argument("--score-images", type=int, default=8, help="images for the bf16 - fp32 score (0 = skip)")
    parser.add_argument("--e2e-images", type=int, default=100)
    parser.add_argument("--skip-e2e", action="store_true", help="skip the infer.py end-to-end timing")
    parser.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE (e.g. model.generator.base_channels=8), "
                        "applied to every --config")
    args = parser.parse_args(argv)
    if args.checkpoint is not None:
        checkpoint = load_checkpoint(args.checkpoint, "cpu")
        configs = [(str(args.checkpoint), config_from_dict(checkpoint["config"]))]
    else:
        checkpoint = None
        configs = [(path, load_config(path, args.overrides)) for path in args.config]
    device = pick_device("auto")
    print(machine_line(device))
    print(peaks_line(device))
    models = []
    for label, config in configs:
        torch.manual_seed(0)
        generator = build_generator(config.model)
        if checkpoint is not None:
            generator.load_state_dict(generator_weights(checkpoint)[0])
        models.append(Model(label, config, generator))
    speed(args, models, device)
    for model in models:
        if args.score_images > 0:
            score_difference(args, model, device)
        if not args.skip_e2e:
            end_to_end(args, model)


if __name__ == "__main__":
    main()
