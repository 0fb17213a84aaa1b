"""infer.py pre-fills with the method the model trained with (data.prefill of the checkpoint's config);
--prefill overrides it with a one-line warning; checkpoints older than the key mean telea."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import data.prefill_cache as prefill_cache
import infer
from data.prefill import prefill
from tests.test_export import random_checkpoint, write_inputs
from trainers.checkpoint import load_checkpoint, save_checkpoint
from trainers.inference import InferenceOptions, run_inference


@pytest.fixture(scope="module")
def fsr_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a checkpoint whose config says data.prefill=fsr_fast, a folder of damaged inputs)."""
    folder = tmp_path_factory.mktemp("fsr")
    return random_checkpoint(folder / "best.pt", ["data.prefill=fsr_fast"]), write_inputs(folder / "in")


def methods_used(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every pre-fill method that inference runs."""
    used: list[str] = []

    def spy(gray: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
        used.append(method)
        return prefill(gray, mask, method)

    monkeypatch.setattr(prefill_cache, "prefill", spy)
    return used


def infer_with(checkpoint: Path, inputs: Path, out: Path, override: str | None = None) -> None:
    run_inference(InferenceOptions(checkpoint=checkpoint, input=inputs, output=out, device="cpu", prefill=override))


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_inference_uses_the_prefill_the_model_trained_with(fsr_model: tuple[Path, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    used = methods_used(monkeypatch)
    infer_with(*fsr_model, tmp_path / "out")
    assert used and set(used) == {"fsr_fast"}
    assert not warnings(capsys.readouterr().err)
    infer_with(*fsr_model, tmp_path / "same", override="fsr_fast")  # the same one named explicitly: no warning
    assert not warnings(capsys.readouterr().err)


def test_an_override_that_differs_is_used_with_a_one_line_warning(fsr_model: tuple[Path, Path], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    used = methods_used(monkeypatch)
    infer_with(*fsr_model, tmp_path / "out", override="telea")
    assert used and set(used) == {"telea"}
    lines = warnings(capsys.readouterr().err)
    assert len(lines) == 1 and "--prefill telea" in lines[0] and "data.prefill=fsr_fast" in lines[0]


def test_a_checkpoint_from_before_the_key_prefills_with_telea(fsr_model: tuple[Path, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    payload = load_checkpoint(fsr_model[0])
    del payload["config"]["data"]["prefill"]
    save_checkpoint(tmp_path / "old.pt", payload)
    used = methods_used(monkeypatch)
    infer_with(tmp_path / "old.pt", fsr_model[1], tmp_path / "out")
    assert used and set(used) == {"telea"}


def test_the_cli_takes_only_known_prefills(capsys: pytest.CaptureFixture) -> None:
    base = ["--checkpoint", "x.pt", "--input", "in", "--output", "out"]
    assert infer.parse_args([*base, "--prefill", "shiftmap"]).prefill == "shiftmap"
    assert infer.parse_args(base).prefill is None
    with pytest.raises(SystemExit):
        infer.parse_args([*base, "--prefill", "median"])
    assert "fsr_fast" in capsys.readouterr().err
