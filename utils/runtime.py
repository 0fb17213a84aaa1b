"""Device choice and seeding: the same run reproduces on the same machine."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from utils.errors import ChromaFillError


def pick_device(preference: str = "auto") -> torch.device:
    """`auto` takes CUDA when present, else the CPU; `cuda` without a GPU is a clear error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ChromaFillError("device 'cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'")
    if preference not in ("cpu", "cuda"):
        raise ChromaFillError(f"device {preference!r}: expected one of 'auto', 'cpu', 'cuda'")
    return torch.device(preference)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); optionally force deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
