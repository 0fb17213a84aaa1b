"""Checkpoint files: atomic writes, safe loading, rotation of epoch files.

A checkpoint is a plain dict of tensors and Python primitives, so it loads with
``torch.load(weights_only=True)``: a file crafted to run code on unpickling is refused, not run.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from utils.atomic import atomic_write
from utils.errors import ChromaFillError

FORMAT = "chromafill-checkpoint"
VERSION = 1
LAST = "last.pt"
BEST = "best.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Serialise to memory first, then write atomically: a kill leaves the previous file intact."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **payload}, buffer)
    try:
        atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))
    except OSError as err:
        raise ChromaFillError(f"{path}: could not write the checkpoint ({err.strerror or err}); the previous file is intact") from None


class CorruptCheckpointError(ChromaFillError):
    """The file itself is bad (not a zip, a failed checksum, an unreadable pickle).

    Only this kind of failure lets `--resume auto` fall back to an older epoch checkpoint: any
    other failure (out of memory, a CUDA error, a file from a newer torch) says nothing about the
    file, and falling back would silently throw away the progress it holds.
    """


# torch's weights-only unpickler: what it raises (KeyError for an unknown memo index, IndexError
# for an empty stack, EOFError, ValueError, ...) while reading a damaged pickle stream inside a zip
# whose checksums passed (a hand-edited or half-rewritten archive) is damage; the same exception
# types raised anywhere else are bugs and must surface as themselves, not as "corrupt".
_UNPICKLER_MODULE = "torch._weights_only_unpickler"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one of our checkpoints safely, with one-line errors for anything else.

    Raises CorruptCheckpointError when the file is damaged, ChromaFillError for everything else
    (named as itself: out of memory, a device error, a format this torch cannot read).
    """
    path = Path(path)
    if not path.is_file():
        raise ChromaFillError(f"{path}: checkpoint not found")
    if not zipfile.is_zipfile(path):
        raise CorruptCheckpointError(f"{path}: not a checkpoint file (truncated, corrupt, or not written by ChromaFill)")
    _check_crc(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CorruptCheckpointError(f"{path}: refused to load: it holds objects other than tensors and plain data "
                                         "(not a ChromaFill checkpoint; nothing in it was run)") from None
        raise CorruptCheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {_first_line(err)}") from None
    except RuntimeError as err:
        if "PytorchStreamReader" in str(err):  # the archive's records are inconsistent
            raise CorruptCheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {_first_line(err)}") from None
        raise ChromaFillError(_load_failure(path, map_location, err)) from None
    except MemoryError as err:
        raise ChromaFillError(_load_failure(path, map_location, err)) from None
    except Exception as err:  # noqa: BLE001 - re-raised unless the unpickler itself raised it
        if not _raised_while_unpickling(err):
            raise
        raise CorruptCheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): "
                                     f"{type(err).__name__}: {_first_line(err)}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ChromaFillError(f"{path}: not a ChromaFill checkpoint (no '{FORMAT}' marker)")
    if data.get("version", 0) > VERSION:
        raise ChromaFillError(f"{path}: checkpoint version {data['version']} is newer than this code ({VERSION})")
    return data


def _raised_while_unpickling(err: BaseException) -> bool:
    """Whether `err` came from inside torch's unpickler, i.e. from the bytes of the file."""
    frame = err.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") == _UNPICKLER_MODULE:
            return True
        frame = frame.tb_next
    return False


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0][:160] if str(err) else type(err).__name__


def _load_failure(path: Path, map_location: str | torch.device, err: BaseException) -> str:
    """A failure that is not the file's fault, named as what it is; the file passed its checksums."""
    if isinstance(err, MemoryError) or isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower():
        what = f"out of memory while loading it onto {map_location}"
    else:
        what = f"{type(err).__name__}: {_first_line(err)}"
    return f"{path}: could not load the checkpoint ({what}); the file passed its checksum test and was left as it is"


def _check_crc(path: Path) -> None:
    """Verify every member's CRC: torch's reader does not, so flipped bytes would load as wrong weights."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CorruptCheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {err}") from None
    if bad is not None:
        raise CorruptCheckpointError(f"{path}: corrupt checkpoint (checksum mismatch in {bad})")


def epoch_checkpoint_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.pt"


def epoch_checkpoints(run_dir: Path) -> list[Path]:
    """The run's epoch_NNN.pt files, oldest epoch first (by number: epoch_1000 after epoch_999)."""
    numbered = []
    for path in run_dir.glob("epoch_*.pt"):
        digits = path.stem.removeprefix("epoch_")
        if digits.isdigit():
            numbered.append((int(digits), path))
    return [path for _, path in sorted(numbered)]


def rotate_epoch_checkpoints(run_dir: Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` epoch_NNN.pt files."""
    files = epoch_checkpoints(run_dir)
    for old in files[: max(len(files) - keep_last, 0)]:
        old.unlink(missing_ok=True)


def previous_good_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest epoch checkpoint that is not damaged, and its contents, for recovering from a
    damaged last.pt; each candidate is read once (the one that loads is returned, not re-read).

    Only damage skips a candidate: any other load failure propagates, as for last.pt itself.
    """
    for candidate in reversed(epoch_checkpoints(run_dir)):
        try:
            return candidate, load_checkpoint(candidate, map_location)
        except CorruptCheckpointError:
            continue
    return None


def first_difference(expected: Any, actual: Any, prefix: str = "") -> str | None:
    """The dotted key of the first difference between two config trees, or None when equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in list(expected) + [k for k in actual if k not in expected]:
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key not in expected or key not in actual:
                return sub
            found = first_difference(expected[key], actual[key], sub)
            if found:
                return found
        return None
    return None if expected == actual else (prefix or "<root>")


def generator_weights(checkpoint: dict[str, Any], use_ema: bool = True) -> tuple[dict[str, Any], bool]:
    """The generator state dict to predict with: the EMA copy when present and wanted.

    Returns the weights and whether they are the EMA ones. The EMA is stored as an
    ``AveragedModel`` state dict (``module.``-prefixed keys plus ``n_averaged``). A bundled model
    (trainers/bundled.py) stores its EMA weights as the generator, marked `generator_is_ema`: it has
    no raw weights to give, so asking for them fails.
    """
    state = checkpoint.get("trainer", {})
    ema = state.get("ema")
    if use_ema and ema:
        prefix = "module."
        return {k[len(prefix):]: v for k, v in ema.items() if k.startswith(prefix)}, True
    if checkpoint.get("generator_is_ema", False):
        if not use_ema:
            raise ChromaFillError("--no-ema: this model file holds only the EMA generator weights (a bundled model); drop --no-ema")
        return state["generator"], True
    return state["generator"], False


def checkpoint_position(checkpoint: dict[str, Any]) -> str:
    """Where in training the checkpoint's weights were saved, for messages: 'epoch 16 (global
    step 4640)' at the end of epoch 16, 'step 120 of epoch 17 (global step 4760)' for weights saved
    inside epoch 17 (a train.max_minutes cut, a signal); the `epoch` key alone counts completed
    epochs, so it reads the same for both."""
    epoch, inside, step = checkpoint.get("epoch"), checkpoint.get("step_in_epoch", 0), checkpoint.get("global_step")
    if epoch is None:
        return "an unknown step"
    where = f"step {inside} of epoch {epoch + 1}" if inside else f"epoch {epoch}"
    return where if step is None else f"{where} (global step {step})"
