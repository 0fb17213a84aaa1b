"""The bundled generator, weights/chromafill.pt: a clone restores photos without training.

The file is a checkpoint in the trainer's layout (trainers/checkpoint.py: the format marker, the
config, `trainer.generator`), so the same safe loader reads it (`torch.load(weights_only=True)`
after a CRC check of every member) and every tool that takes a checkpoint takes it. It holds only
what inference needs: the EMA generator (and the mask net when the run had one) in fp16, which
halves the file; the loaders convert it to fp32 for CPU inference. Its provenance (data, steps,
minutes, commit, scores) travels inside it and beside it in PROVENANCE.md (trainers/provenance.py).

`--checkpoint bundled` (or no --checkpoint) in infer.py, export.py and app.py, and
`--load-from bundled` in train.py, name it. A missing or damaged file is one line that says how to
make it again.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from trainers import provenance as prov
from trainers.bundled_name import BUNDLED
from trainers.checkpoint import FORMAT, VERSION, generator_weights, load_checkpoint
from trainers.config import config_from_dict
from utils import config as cfgio
from utils.atomic import atomic_write_bytes
from utils.errors import ChromaFillError

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUNDLED_PATH = WEIGHTS_DIR / "chromafill.pt"
MAX_BYTES = 20_000_000  # a clone stays small: at most 20 MB of weights in the repository
REGENERATE = ("regenerate it with `bash benchmarks/bundled_model.sh CAMVID_DIR BSDS500_DIR` (trains 60 minutes), "
              "or convert a trained run with `python tools/make_bundled_model.py --checkpoint checkpoints/bundled/best.pt "
              "--out weights/`")


def resolve_model(spec: str | Path | None) -> Path:
    """The file a --checkpoint / --load-from value names: the bundled file for None or 'bundled'."""
    if spec is None or str(spec) == BUNDLED:
        return BUNDLED_PATH
    return Path(spec)


def is_bundled(path: str | Path) -> bool:
    return Path(path).resolve() == BUNDLED_PATH.resolve()


@contextlib.contextmanager
def bundled_errors(path: str | Path) -> Iterator[None]:
    """Loading `path`: when it is the bundled file, a missing or unusable file becomes one line
    that says how to regenerate it (a clone without the file, or one whose file no longer fits the
    code, cannot be fixed by anything else). Other files' errors pass unchanged."""
    if not is_bundled(path):
        yield
        return
    if not Path(path).is_file():
        raise ChromaFillError(f"{path}: the bundled model is missing; {REGENERATE}")
    try:
        yield
    except ChromaFillError as err:
        reason = str(err).removeprefix(f"{path}: ").removeprefix(f"{BUNDLED_PATH}: ")
        raise ChromaFillError(f"{path}: the bundled model cannot be used ({reason}); {REGENERATE}") from None


def half_weights(weights: dict[str, Any], where: str) -> dict[str, Any]:
    """Floating tensors in fp16 (integer counters kept); a value fp16 cannot hold fails, naming it."""
    halved = {}
    for key, value in weights.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            value = value.detach().to("cpu", torch.float16)
            if not torch.isfinite(value).all():
                raise ChromaFillError(f"{where}: weight {key} does not fit in fp16 (|value| > 65504 or not finite)")
        halved[key] = value
    return halved


def bundled_payload(checkpoint: dict[str, Any], source: str, provenance: dict[str, Any]) -> dict[str, Any]:
    """The bundled file's contents from a trainer checkpoint: its inference weights in fp16.

    The generator is the EMA copy when the checkpoint has one (what validation scored); it is
    stored as `trainer.generator` with `generator_is_ema` set, so loaders name it correctly and
    refuse --no-ema (there are no raw weights to give).
    """
    if "config" not in checkpoint:
        raise ChromaFillError(f"{source}: the checkpoint has no stored config")
    state = checkpoint.get("trainer") or {}
    if state.get("generator") is None:
        raise ChromaFillError(f"{source}: the checkpoint holds no generator weights")
    weights, is_ema = generator_weights(checkpoint, use_ema=True)
    mask_net = state.get("mask_net")
    trainer = {"generator": half_weights(weights, source), "ema": None, "discriminator": None,
               "mask_net": half_weights(mask_net, source) if mask_net else None}
    return {"format": FORMAT, "version": VERSION, "kind": BUNDLED, "config": checkpoint["config"],
            "epoch": checkpoint.get("epoch", 0), "global_step": checkpoint.get("global_step", 0),
            "scores": checkpoint.get("scores", {}), "generator_is_ema": is_ema, "trainer": trainer,
            "provenance": provenance}


def serialise(payload: dict[str, Any], max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes; refused above `max_bytes` (the repository carries it)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if len(data) > max_bytes:
        raise ChromaFillError(f"the bundled model would be {len(data) / 1e6:.1f} MB, above the {max_bytes / 1e6:.0f} MB limit "
                              "of a file the repository carries; train a smaller generator")
    return data


@dataclass
class BundledFiles:
    weights: Path
    config: Path
    provenance: Path
    size_bytes: int


def make_bundled_model(checkpoint_path: Path, out_dir: Path, quality_jsons: Sequence[Path] = (), data_note: str = "",
                       max_bytes: int = MAX_BYTES, training_commit: str = "") -> BundledFiles:
    """Convert a trainer checkpoint into out_dir/chromafill.pt, chromafill.yaml (its config, for
    reading; the file's embedded copy is what loads) and PROVENANCE.md. Nothing is written when the
    checkpoint, a quality JSON or the size check fails."""
    checkpoint = load_checkpoint(checkpoint_path, "cpu")
    try:
        config = config_from_dict(checkpoint["config"])
    except (KeyError, ChromaFillError) as err:
        raise ChromaFillError(f"{checkpoint_path}: the checkpoint's stored config is missing or invalid ({err})") from None
    quality = [prov.read_quality(path) for path in quality_jsons]
    provenance = prov.collect(checkpoint, Path(checkpoint_path), data_note, quality, training_commit)
    data = serialise(bundled_payload(checkpoint, str(checkpoint_path), provenance), max_bytes)
    files = BundledFiles(out_dir / BUNDLED_PATH.name, out_dir / "chromafill.yaml", out_dir / "PROVENANCE.md", len(data))
    atomic_write_bytes(files.weights, data)
    cfgio.dump(config, files.config)
    atomic_write_bytes(files.provenance, prov.markdown(provenance, files.weights.name, data).encode())
    return files
