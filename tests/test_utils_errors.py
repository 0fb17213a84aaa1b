"""utils/errors.py first_line: the one line every error that quotes a library's exception shows."""

from __future__ import annotations

import pytest
import torch

from models.build import build_generator
from trainers.config import load_config
from trainers.gan_trainer import GANTrainer
from utils.errors import ChromaFillError, first_line


def test_first_line_skips_blank_lines_and_strips() -> None:
    assert first_line(RuntimeError("\n\n  size mismatch for conv.weight  \n\tdetail\nmore")) == "size mismatch for conv.weight"


def test_first_line_of_an_empty_message_is_the_type_name() -> None:
    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError(" \n \n")) == "ValueError"


def test_first_line_is_cut_to_the_limit() -> None:
    line = first_line(RuntimeError("x" * 500 + "\nsecond"), limit=40)
    assert len(line) == 40 and line.endswith("...") and "second" not in line


def test_load_from_weights_of_another_model_is_one_line() -> None:
    """An existing error path through the helper: torch's multi-line load_state_dict error, one line."""
    config = load_config("configs/smoke.yaml")
    other = load_config("configs/smoke.yaml", ["model.generator.base_channels=16"])
    torch.manual_seed(0)
    weights = build_generator(other.model).state_dict()
    with pytest.raises(ChromaFillError) as err:
        GANTrainer(config, torch.device("cpu")).load_weights({"trainer": {"generator": weights}})
    message = str(err.value)
    assert "\n" not in message and message.startswith("--load-from: the generator weights do not fit this model config: ")
    assert message.endswith("Error(s) in loading state_dict for UNetGenerator:")
