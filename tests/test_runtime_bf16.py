"""train.amp=bf16 runs as bf16 only where the device has native bf16; elsewhere (a CPU without AVX512,
where PyTorch emulates bf16 several times slower than fp32) training falls back to fp32 with a warning."""

from __future__ import annotations

import pytest
import torch

from trainers.config import load_config
from trainers.gan_trainer import GANTrainer
from trainers.inference import inference_autocast
from utils.runtime import BF16_OVERRIDE_ENV, effective_amp, native_bf16

CPU = torch.device("cpu")


@pytest.mark.parametrize("forced, native", [("1", True), ("0", False)])
def test_the_override_decides_the_cpus_answer(monkeypatch: pytest.MonkeyPatch, forced: str, native: bool) -> None:
    monkeypatch.setenv(BF16_OVERRIDE_ENV, forced)
    assert native_bf16(CPU) is native


def test_without_the_override_torch_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BF16_OVERRIDE_ENV, raising=False)
    assert native_bf16(CPU) is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_emulated_bf16_trains_in_fp32_with_a_one_line_warning(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(BF16_OVERRIDE_ENV, "0")
    assert effective_amp("bf16", CPU) == "off"
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.amp=bf16" in err and "fp32" in err and BF16_OVERRIDE_ENV in err
    assert effective_amp("bf16", CPU, warn=False) == "off" and capsys.readouterr().err == ""
    for amp in ("off", "fp16"):
        assert effective_amp(amp, CPU) == amp


def test_native_bf16_keeps_the_config(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(BF16_OVERRIDE_ENV, "1")
    assert effective_amp("bf16", CPU) == "bf16" and capsys.readouterr().err == ""


@pytest.mark.parametrize("forced, autocast_on", [("1", True), ("0", False)])
def test_the_trainer_autocasts_only_where_bf16_is_native(monkeypatch: pytest.MonkeyPatch, forced: str, autocast_on: bool) -> None:
    monkeypatch.setenv(BF16_OVERRIDE_ENV, forced)
    trainer = GANTrainer(load_config("configs/smoke.yaml", ["train.amp=bf16", "model.generator.depth=3"]), CPU)
    with trainer.autocast():
        assert torch.is_autocast_enabled("cpu") is autocast_on
        out = torch.nn.functional.linear(torch.ones(1, 4), torch.ones(2, 4))
    assert out.dtype == (torch.bfloat16 if autocast_on else torch.float32)
    assert trainer.config.train.amp == "bf16", "the config (saved in checkpoints) keeps what the user asked for"


def test_inference_amp_warns_where_bf16_is_emulated(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(BF16_OVERRIDE_ENV, "0")
    inference_autocast(CPU, True)
    assert "--amp" in capsys.readouterr().err
    monkeypatch.setenv(BF16_OVERRIDE_ENV, "1")
    inference_autocast(CPU, True)
    assert capsys.readouterr().err == ""
