"""The three CLIs: --help documents every flag; user errors are one line and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "script, flags",
    [
        ("train.py", ["--config", "--resume", "--load-from", "key=value"]),
        ("infer.py", ["--checkpoint", "--input", "--output", "--zip", "--no-ema", "--tta", "--batch-size",
                      "--device", "--amp", "--masks", "--save-masks", "--skip-bad"]),
        ("evaluate.py", ["--pred", "--gt", "--input", "--json"]),
        ("app.py", ["--checkpoint", "--host", "--port", "bundled"]),
        ("tools/make_bundled_model.py", ["--checkpoint", "--out", "--quality-json", "--data"]),
    ],
)
def test_help_documents_every_flag(script: str, flags: list[str]) -> None:
    done = run(script, "--help")
    assert done.returncode == 0, done.stderr
    for flag in flags:
        assert flag in done.stdout, flag


def test_train_unknown_override_is_one_line(tmp_path: Path) -> None:
    done = run("train.py", "--config", "configs/smoke.yaml", "train.epoch=3")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: command-line override: train.epoch: unknown key; did you mean 'train.epochs'?"


def test_train_missing_config_is_one_line(tmp_path: Path) -> None:
    done = run("train.py", "--config", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: config file not found"


def test_train_resume_and_load_from_exclusive() -> None:
    done = run("train.py", "--config", "configs/smoke.yaml", "--resume", "auto", "--load-from", "x.pt")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr


def test_readme_config_reference_is_current() -> None:
    done = run("tools/config_reference.py", "--check")
    assert done.returncode == 0, done.stderr
