"""Training curves of a run as one PNG, read from its TensorBoard events (for the README).

Usage: python benchmarks/plot_curves.py RUN_DIR --out docs/training_curves.png

Left: the generator's loss terms (`loss/g_*`, smoothed); right: the validation score and its
three terms (`val/*`). Events are read with TensorBoard's own EventAccumulator, so the plot shows
exactly what `tensorboard --logdir` shows, without a server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

VAL_TAGS = ("val/score", "val/ssim_full", "val/ssim_lost", "val/hist")


def read_scalars(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag of the run's events as (steps, values)."""
    folder = run_dir / "tensorboard" if (run_dir / "tensorboard").is_dir() else run_dir
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0 = keep every point
    events.Reload()
    return {
        tag: (np.array([e.step for e in events.Scalars(tag)]), np.array([e.value for e in events.Scalars(tag)]))
        for tag in events.Tags()["scalars"]
    }


def smooth(values: np.ndarray, weight: float = 0.8) -> np.ndarray:
    """TensorBoard's exponential moving average smoothing."""
    out, last = np.empty_like(values, dtype=float), float(values[0]) if len(values) else 0.0
    for i, value in enumerate(values):
        last = weight * last + (1 - weight) * float(value)
        out[i] = last
    return out


def plot(scalars: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, title: str) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    for tag in sorted(t for t in scalars if t.startswith("loss/g_") and t != "loss/g_total"):
        steps, values = scalars[tag]
        left.plot(steps, smooth(values), label=tag.removeprefix("loss/"), linewidth=1.2)
    left.set(xlabel="step", ylabel="weighted loss", title="generator loss terms (smoothed)", yscale="log")
    left.legend(fontsize=7)
    for tag in VAL_TAGS:
        if tag in scalars:
            steps, values = scalars[tag]
            right.plot(steps, values, marker="o", markersize=3, label=tag.removeprefix("val/"),
                       linewidth=2.0 if tag == "val/score" else 1.0)
    right.set(xlabel="step", title="validation score and its terms")
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (holding tensorboard/) or an events folder")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title (default: the run folder's name)")
    args = parser.parse_args(argv)
    scalars = read_scalars(args.run_dir)
    if not any(tag.startswith(("loss/g_", "val/")) for tag in scalars):
        print(f"error: {args.run_dir}: no loss/g_* or val/* scalars found in TensorBoard events", file=sys.stderr)
        return 2
    plot(scalars, args.out, args.title or args.run_dir.name)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
