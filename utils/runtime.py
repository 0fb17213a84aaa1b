"""Device choice and seeding: the same run reproduces on the same machine."""

from __future__ import annotations

import os
import random
import sys

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


BF16_OVERRIDE_ENV = "CHROMAFILL_CPU_BF16"  # "1" / "0": treat the CPU as having / lacking native bf16


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 runs natively on `device`. On a CPU without AVX512 (e.g. AVX2 only) PyTorch emulates
    bf16 and a bf16 training step measured 7x slower than fp32 (README "Speed"); `CHROMAFILL_CPU_BF16`
    overrides the CPU's answer (tests use it to take both paths on any machine)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    forced = os.environ.get(BF16_OVERRIDE_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # oneDNN has bf16 kernels for this CPU
    except (AttributeError, RuntimeError):
        return True  # no way to ask: keep what the config says


def effective_amp(amp: str, device: torch.device, warn: bool = True) -> str:
    """`train.amp` as it will run: bf16 becomes off, with a one-line warning, where bf16 is emulated,
    because the bf16 recipes chose it for speed and there it is several times slower than fp32."""
    if amp != "bf16" or native_bf16(device):
        return amp
    if warn:
        print(f"warning: train.amp=bf16: this {device.type.upper()} has no native bf16 (bf16 would be emulated, several "
              f"times slower than fp32); training in fp32 (set {BF16_OVERRIDE_ENV}=1 to force bf16)", file=sys.stderr, flush=True)
    return "off"
