"""Small random-weights bundled models, made by the same conversion code as the real one
(trainers/bundled.make_bundled_model), so tests never depend on the shipped weights/chromafill.pt."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from tests.random_weights import random_generator, shifted_ema
from trainers.bundled import make_bundled_model
from trainers.checkpoint import save_checkpoint
from trainers.config import load_config
from utils import config as cfgio

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"
# The smoke generator with the chroma_bins head: tiny, and it gives the chroma-bin logits the
# page's uncertainty map needs.
TINY_BINS = ["model.generator.head=chroma_bins", "model.generator.chroma_bins=5"]
EVENT_SPAN_MINUTES = 12.5  # the span of the TensorBoard events written beside the checkpoint


def random_run(run_dir: Path, config_path: Path = SMOKE, overrides: list[str] | None = None, ema_shift: float = 0.02,
               steps: int = 42) -> Path:
    """A run folder holding best.pt (random generator, an EMA copy `ema_shift` away, random
    BatchNorm statistics) and TensorBoard events EVENT_SPAN_MINUTES apart; returns best.pt."""
    config = load_config(config_path, ["model.init.type=kaiming", *(overrides or [])])
    raw = random_generator(config).state_dict()
    ema = shifted_ema(raw, ema_shift, steps)
    trainer = {"generator": raw, "ema": ema, "mask_net": None, "discriminator": None}
    path = run_dir / "best.pt"
    save_checkpoint(path, {"config": cfgio.to_dict(config), "epoch": 3, "global_step": steps,
                           "scores": {"score": 0.5, "hist": 0.25}, "trainer": trainer})
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    writer.add_scalar("loss/g", 1.0, 1, walltime=1_000_000.0)
    writer.add_scalar("val/score", 0.5, steps, walltime=1_000_000.0 + EVENT_SPAN_MINUTES * 60)
    writer.close()
    return path


def random_bundled(folder: Path, config_path: Path = SMOKE, overrides: list[str] | None = None) -> Path:
    """folder/weights/chromafill.pt converted from a random run in folder/run."""
    checkpoint = random_run(folder / "run", config_path, TINY_BINS if overrides is None else overrides)
    return make_bundled_model(checkpoint, folder / "weights").weights
