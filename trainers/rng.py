"""Capture and restore every random number generator, so a resumed run draws what a straight run would."""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    """All RNG states as tensors and primitives (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _as_tuple(value: Any) -> Any:
    """random.setstate wants tuples where serialisation may have produced lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value


@contextlib.contextmanager
def rng_untouched() -> Iterator[None]:
    """Run a block (validation, test predictions) without moving any training RNG.

    Validation happens when a run chooses (every N epochs, or when a time budget cuts an epoch);
    if it drew from the global generators, the training steps after it would differ from those
    of a run that validated elsewhere, and a run resumed inside an epoch would drift.
    """
    state = capture_rng()
    try:
        yield
    finally:
        restore_rng(state)
