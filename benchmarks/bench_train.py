"""Training speed: our GAN step against a plain pix2pix loop, side by side in one process.

    python benchmarks/bench_train.py [--config configs/dacon_unet.yaml] [--size 256] [--batch 4]
        [--steps 3] [--reps 5] [--variants same full bf16] [KEY=VALUE ...]
    python benchmarks/bench_train.py --score-check [--seeds 0 1 2]
    python benchmarks/bench_train.py --profile [--steps 2] [--variants ...]
    python benchmarks/bench_train.py --recipes NAME=CONFIG[,KEY=VALUE...] ... [--steps 2] [--reps 5]

Speed mode times generator+discriminator steps on one fixed batch of generated DACON-style
pairs (data loading excluded) for the reference loop and each variant of our trainer
(`trainers.gan_trainer.GANTrainer`), interleaving the repetitions so that load from other jobs on
a shared machine hits every variant alike, and prints steps/s, img/s and the ratio to the
reference (medians; best repetitions in brackets). The reference is what pix2pix does: the same
networks from models/build.py, L1 x100 + vanilla GAN, plain per-parameter Adam, fp32, default
memory format. Variants of ours (all with the config's model, EMA and trainer defaults):
  same  fp32, L1 + GAN only (ssim, smooth and hue_hist weights 0)
  full  fp32, the config's full loss set
  bf16  train.amp=bf16, the full loss set
  bf16-same  train.amp=bf16, L1 + GAN only

Profile mode runs each variant under torch.profiler (`reps` interleaved times) and prints the
seconds per step inside the convolution kernels against its unprofiled wall time per step:
convolutions are the same oneDNN calls in every variant, so the reference's step time over a
variant's convolution time bounds the ratio that variant could ever reach by removing other work.

Recipes mode times whole training steps of several configs, each with its OWN crop size, batch
size, amp, model and loss (one fixed generated batch each, data loading excluded; a pretrained
encoder is timed after its frozen epochs, as most of a 20-minute run trains it), interleaved, and
prints s/step, steps/s, the steps that would fit in 20 minutes at that rate and the ratio of
steps/s to the first recipe: e.g. configs/cpu_budget.yaml against configs/unet_budget.yaml, or
cpu_budget with narrower decoders (`cpu_dec96=configs/cpu_budget.yaml,model.generator.decoder_channels=[96,48,24,16,16]`).

Score-check mode trains the smoke config on a generated dataset with train.amp off and bf16 for
each seed (the same steps), and prints each run's final validation score, their mean and spread,
and the per-seed bf16 - fp32 differences: bf16 is "within noise" when the mean difference is
small against the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository root on sys.path)
import numpy as np
import torch
import torch.nn.functional as F
from _common import interleaved_times, interleaved_wall_and_cpu, machine_line, peaks_line, summary

from data.config import DamageConfig
from data.damage import synthesize_damage
from data.synthetic import natural_image, write_dacon_dataset
from models.build import build_discriminator, build_generator
from models.config import ModelConfig
from trainers.checkpoint import BEST, load_checkpoint
from trainers.config import Config, load_config
from trainers.gan_trainer import GANTrainer
from utils.color import pil_luma
from utils.runtime import pick_device

L1_GAN_ONLY = ["loss.ssim.weight=0", "loss.smooth.weight=0", "loss.hue_hist.weight=0"]
VARIANTS = {
    "same": ["train.amp=\"off\"", *L1_GAN_ONLY],
    "full": ["train.amp=\"off\""],
    "bf16": ["train.amp=bf16"],
    "bf16-same": ["train.amp=bf16", *L1_GAN_ONLY],
}


class ReferenceLoop:
    """A plain pix2pix step (Isola et al.'s `Pix2PixModel.optimize_parameters`), written out by hand."""

    def __init__(self, model: ModelConfig, device: torch.device) -> None:
        self.generator = build_generator(model).to(device).train()
        self.discriminator = build_discriminator(model).to(device).train()
        adam = lambda net: torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999), foreach=False)  # noqa: E731
        self.opt_g, self.opt_d = adam(self.generator), adam(self.discriminator)

    def logits(self, gray: torch.Tensor, rgb: torch.Tensor, mask: torch.Tensor) -> list[torch.Tensor]:
        return [scale[-1] for scale in self.discriminator(gray, rgb, mask)]

    @staticmethod
    def gan(logits: list[torch.Tensor], real: bool) -> torch.Tensor:
        target = 1.0 if real else 0.0
        return sum(F.binary_cross_entropy_with_logits(x, torch.full_like(x, target)) for x in logits) / len(logits)

    def step(self, batch: dict[str, torch.Tensor]) -> None:
        gray, target, mask = batch["input"], batch["target"], batch["mask"]
        fake = self.generator(gray, mask)
        for p in self.discriminator.parameters():
            p.requires_grad_(True)
        self.opt_d.zero_grad()
        loss_d = 0.5 * (self.gan(self.logits(gray, target, mask), True) + self.gan(self.logits(gray, fake.detach(), mask), False))
        loss_d.backward()
        self.opt_d.step()
        for p in self.discriminator.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        loss_g = self.gan(self.logits(gray, fake, mask), True) + 100.0 * F.l1_loss(fake, target)
        loss_g.backward()
        self.opt_g.step()


def make_batch(batch: int, size: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """Generated photos with synthesized DACON damage, as the training loader would deliver them."""
    rng = np.random.default_rng(seed)
    grays, targets, masks = [], [], []
    for _ in range(batch):
        rgb = natural_image(size, size, rng)
        gray, _ = synthesize_damage(rgb, rng, DamageConfig())
        masks.append(torch.from_numpy(gray != pil_luma(rgb)).float()[None])
        grays.append(torch.from_numpy(gray).float()[None] / 255)
        targets.append(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    stack = lambda xs: torch.stack(xs).to(device)  # noqa: E731
    return {"input": stack(grays), "target": stack(targets), "mask": stack(masks), "raw_input": stack(grays)}


def build_runs(args: argparse.Namespace, device: torch.device, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """name -> callable running `args.steps` steps; the reference first, then our variants."""
    base = [f"train.batch_size={args.batch}", *args.overrides]
    torch.manual_seed(0)
    reference = ReferenceLoop(load_config(args.config, base).model, device)
    runs = {"reference": lambda: [reference.step(batch) for _ in range(args.steps)]}
    for name in args.variants:
        torch.manual_seed(0)
        trainer = GANTrainer(load_config(args.config, base + VARIANTS[name]), device)
        runs[name] = lambda t=trainer: [t.train_step(batch) for _ in range(args.steps)]
    return runs


def warmed_up_runs(args: argparse.Namespace, min_warmup: int = 0) -> tuple[torch.device, dict[str, Any]]:
    """The device (named on stdout) and build_runs' runs, each run `args.warmup` (at least
    `min_warmup`) times untimed: allocator, oneDNN primitive caches, bf16 weight reorders."""
    device = pick_device("auto")
    print(machine_line(device))
    runs = build_runs(args, device, make_batch(args.batch, args.size, device))
    for run in runs.values():
        for _ in range(max(min_warmup, args.warmup)):
            run()
    return device, runs


def speed(args: argparse.Namespace) -> None:
    device, runs = warmed_up_runs(args)
    print(peaks_line(device))
    times, cpu = interleaved_wall_and_cpu(runs, args.reps, device)
    print(f"config {args.config} {' '.join(args.overrides)}; batch {args.batch}, {args.size}x{args.size}, "
          f"{args.steps} steps x {args.reps} interleaved repetitions; median (best); "
          f"cpu = CPU seconds of this process per step (median)")
    ref_median, ref_best = summary(times["reference"])
    ref_cpu = summary(cpu["reference"])[0]
    print(f"{'variant':<10} {'s/step':>15} {'steps/s':>8} {'img/s':>7} {'x reference':>16} {'cpu s/step':>10} {'x ref (cpu)':>11}")
    for name, seconds in times.items():
        median, best = summary(seconds)
        per_step, best_step = median / args.steps, best / args.steps
        cpu_median = summary(cpu[name])[0]
        print(f"{name:<10} {per_step:7.3f} ({best_step:5.3f}) {1 / per_step:8.3f} {args.batch / per_step:7.2f} "
              f"{ref_median / median:7.2f} ({ref_best / best:5.2f}) {cpu_median / args.steps:10.3f} {ref_cpu / cpu_median:11.2f}")


def parse_recipe(text: str) -> tuple[str, str, list[str]]:
    """NAME=CONFIG[,KEY=VALUE...] -> (name, config, overrides); commas inside [...] stay in the value."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError(f"--recipes: got {text!r}, expected NAME=CONFIG[,KEY=VALUE...]")
    parts, depth, current = [], 0, ""
    for char in rest:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return name, parts[0], parts[1:]


def recipe_runs(args: argparse.Namespace, device: torch.device) -> tuple[dict[str, Any], dict[str, int]]:
    """name -> callable running `args.steps` training steps of that recipe; name -> its batch size."""
    runs, batches = {}, {}
    for name, config_path, overrides in args.recipes:
        config = load_config(config_path, [*overrides, *args.overrides])
        torch.manual_seed(0)
        trainer = GANTrainer(config, device)
        # Timed in the state most of the run spends its steps in: the encoder trained after its frozen
        # epochs, or frozen throughout when they outlast the run.
        frozen = getattr(config.model.generator, "encoder_frozen_epochs", 0)
        trainer.on_epoch_start(frozen if frozen < config.train.epochs else 0)
        batch = make_batch(config.train.batch_size, config.data.crop_size, device)
        runs[name] = lambda t=trainer, b=batch: [t.train_step(b) for _ in range(args.steps)]
        batches[name] = config.train.batch_size
        print(f"{name}: {' '.join([config_path, *overrides])}; batch {config.train.batch_size} of "
              f"{config.data.crop_size}x{config.data.crop_size}, amp {config.train.amp}")
    return runs, batches


def recipes(args: argparse.Namespace) -> None:
    """Training steps of whole recipes against each other (the first is the reference)."""
    device = pick_device("auto")
    print(machine_line(device))
    runs, batches = recipe_runs(args, device)
    for run in runs.values():
        for _ in range(max(1, args.warmup)):
            run()
    times, cpu = interleaved_wall_and_cpu(runs, args.reps, device)
    print(f"{args.steps} steps x {args.reps} interleaved repetitions; median (best); cpu = CPU seconds of this "
          f"process per step (median); steps/20 min = 1200 / s/step")
    first = next(iter(times))
    ref_median, ref_best = summary(times[first])
    ref_cpu = summary(cpu[first])[0]
    print(f"{'recipe':<14} {'s/step':>15} {'steps/s':>8} {'img/s':>7} {'steps/20 min':>12} {'x ' + first:>16} {'cpu s/step':>10} {'x (cpu)':>7}")
    for name, seconds in times.items():
        median, best = summary(seconds)
        per_step, cpu_median = median / args.steps, summary(cpu[name])[0]
        print(f"{name:<14} {per_step:7.3f} ({best / args.steps:5.3f}) {1 / per_step:8.3f} {batches[name] / per_step:7.2f} "
              f"{1200 / per_step:12.0f} {ref_median / median:7.2f} ({ref_best / best:5.2f}) {cpu_median / args.steps:10.3f} "
              f"{ref_cpu / cpu_median:7.2f}")


def convolution_seconds(run: Any) -> float:
    """Seconds spent inside convolution kernels during one call of `run` (torch.profiler: self
    time of the aten convolution ops, forward and backward)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return sum(e.self_cpu_time_total for e in prof.key_averages() if "convolution" in e.key) / 1e6


def convolution_share(args: argparse.Namespace) -> None:
    """Per variant, the seconds per step inside convolution kernels against its unprofiled wall
    time per step (both medians of `reps` interleaved repetitions: one profiled run moves by 10%
    or more on a virtual machine); then the most it could gain on the reference if everything but
    its convolutions were free."""
    device, runs = warmed_up_runs(args, min_warmup=1)
    walls = {name: summary(seconds)[0] / args.steps for name, seconds in interleaved_times(runs, args.reps, device).items()}
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, run in runs.items():
            samples[name].append(convolution_seconds(run) / args.steps)
    convs = {name: statistics.median(values) for name, values in samples.items()}
    print(f"batch {args.batch}, {args.size}x{args.size}; seconds per step, medians of {args.reps} interleaved repetitions "
          f"of {args.steps} step(s): convolutions (profiled), wall (unprofiled)")
    print(f"{'variant':<10} {'convolutions':>12} {'wall':>7} {'share':>6} {'bound x ref':>11}")
    for name in runs:
        print(f"{name:<10} {convs[name]:12.3f} {walls[name]:7.3f} {convs[name] / walls[name]:6.0%} {walls['reference'] / convs[name]:11.2f}")
    print("bound x ref = reference's wall time / this variant's convolution time: its ratio if all its other work were free")


def score_check(args: argparse.Namespace) -> None:
    """Final validation score of smoke runs with amp off and bf16, per seed."""
    from trainers.loop import run_training

    results: dict[str, list[float]] = {"off": [], "bf16": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_dacon_dataset(root, args.pairs, args.image_size, np.random.default_rng(0), DamageConfig())
        for seed in args.seeds:
            for amp in results:
                name = f"s{seed}_{amp}"
                config = load_config(args.score_config, [
                    f"data.root={root}", f"experiment.output_dir={tmp}/runs", f"experiment.name={name}",
                    f"experiment.seed={seed}", f"train.amp=\"{amp}\"", f"train.epochs={args.epochs}",
                    f"train.validation.every_epochs={args.epochs}", "train.test.enabled=false", *args.overrides])
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    run_training(config)
                score = load_checkpoint(Path(tmp) / "runs" / name / BEST)["scores"]["score"]
                results[amp].append(score)
                print(f"seed {seed} amp {amp:<4}: val/score {score:.4f}", flush=True)
    for amp, scores in results.items():
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"amp {amp:<4}: mean {statistics.mean(scores):.4f}, std over seeds {spread:.4f}")
    diffs = [b - f for b, f in zip(results["bf16"], results["off"])]
    print("bf16 - fp32 per seed: " + " ".join(f"{d:+.4f}" for d in diffs) + f"; mean {statistics.mean(diffs):+.4f}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config", default="configs/dacon_unet.yaml", help="config whose model (and loss) to time")
    parser.add_argument("--size", type=int, default=256, help="square crop side")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed repetition")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions of each run first")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["same", "full", "bf16"])
    parser.add_argument("--score-check", action="store_true", help="compare bf16 and fp32 validation scores instead")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the speed table: each run's convolution time (profiled) against its wall time")
    parser.add_argument("--recipes", nargs="+", type=parse_recipe, metavar="NAME=CONFIG[,KEY=VALUE...]",
                        help="instead of the variant table: whole training steps of these recipes, each at its own "
                             "crop, batch and amp, against the first")
    parser.add_argument("--score-config", default="configs/smoke.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="score check: epochs per run")
    parser.add_argument("--pairs", type=int, default=48, help="score check: generated training pairs")
    parser.add_argument("--image-size", type=int, default=96, help="score check: generated image side")
    parser.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE applied to every run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.score_check:
        score_check(args)
    elif args.recipes:
        recipes(args)
    elif args.profile:
        convolution_share(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
