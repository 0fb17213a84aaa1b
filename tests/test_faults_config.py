"""Bad configs at the command line: exit code 2, one `error:` line naming the file/key, no traceback.

test_config.py checks the loader's messages; this file checks what a user sees, through train.py's
own `run_cli(main)` in-process (fast), and through a real `python train.py` process for two cases.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fault_helpers import run_script

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs" / "smoke.yaml"

# case: (YAML text or None for "no such file", extra CLI arguments, the expected stderr after "error: <file>: ")
CASES = {
    "unknown key": ("train:\n  epochz: 3\n", [], "train.epochz: unknown key; did you mean 'train.epochs'?"),
    "unknown section": ("trian:\n  epochs: 3\n", [], "trian: unknown key; did you mean 'train'?"),
    "wrong type": ("train:\n  epochs: three\n", [], "train.epochs: got 'three', expected an integer"),
    "wrong type in a list": ("train:\n  optim:\n    betas: [0.5, x]\n", [], "train.optim.betas"),
    "out of range": ("train:\n  batch_size: 0\n", [], "train.batch_size: got 0, expected a value >= 1"),
    "out of range in a mapping": ("data:\n  damage:\n    shapes: {ellipse: -1}\n", [],
                                  "data.damage.shapes.ellipse: got -1.0, expected a value >= 0.0"),
    "bad choice": ("train:\n  amp: fp8\n", [], "train.amp: got 'fp8', expected one of 'off', 'bf16', 'fp16'"),
    "empty file": ("", [], "the file is empty; expected a mapping of config sections"),
    "only a comment": ("# nothing here\n", [], "the file is empty; expected a mapping of config sections"),
    "not a mapping": ("- train\n- data\n", [], "expected a mapping of config sections at the top, got list"),
    "syntax error": ("train:\n  epochs: 3\n  batch_size: [1, 2\ndata:\n  root: x\n", [], "YAML syntax error at line "),
    "tab indentation": ("train:\n\tepochs: 3\n", [], "YAML syntax error at line 2"),
    "missing base": ("base: nowhere.yaml\n", [], "nowhere.yaml: config file not found"),
    "missing file": (None, [], "config file not found"),
}


@pytest.fixture()
def run_train(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    return lambda *args: run_script("train", list(args), monkeypatch, capsys)


def real_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def one_error_line(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_file_is_one_line_naming_file_and_key(tmp_path: Path, case: str, run_train) -> None:
    text, extra, expected = CASES[case]
    path = tmp_path / "exp.yaml"
    if text is not None:
        path.write_text(text)
    line = one_error_line(run_train("--config", str(path), *extra))
    assert line.startswith(f"error: {path if case != 'missing base' else tmp_path}"), line
    assert expected in line, line


def test_syntax_error_names_the_line_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("experiment:\n  name: x\ntrain:\n  epochs: 3\n  batch_size: [1, 2\n  amp: off\n")
    line = one_error_line(real_train("--config", str(path)))
    assert f"error: {path}: YAML syntax error at line 6" in line, line


@pytest.mark.parametrize("override, expected", [
    ("train.epoch=3", "command-line override: train.epoch: unknown key; did you mean 'train.epochs'?"),
    ("train.epochs=-2", "command-line override: train.epochs: got -2, expected a value >= 1"),
    ("train.epochs=[1", "override 'train.epochs=[1': the value is not valid YAML"),
    ("data.crop_size=big", "command-line override: data.crop_size: got 'big', expected an integer"),
    ("train.epochs", "override 'train.epochs': expected key.sub=value"),
])
def test_bad_override_is_one_line(override: str, expected: str, run_train) -> None:
    line = one_error_line(run_train("--config", str(SMOKE), override))
    assert expected in line, line


def test_config_is_a_folder(tmp_path: Path, run_train) -> None:
    line = one_error_line(run_train("--config", str(tmp_path)))
    assert line.startswith(f"error: {tmp_path}"), line


def test_cross_field_rule_is_one_line_in_a_real_process() -> None:
    line = one_error_line(real_train("--config", str(SMOKE), "data.damage.area_min=0.5", "data.damage.area_max=0.1"))
    assert "data.damage." in line, line
