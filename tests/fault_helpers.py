"""Running a CLI's `main` in-process (no 3-second interpreter and torch start per case) and reading stderr."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

import pytest

from utils.cli import run_cli


@dataclass
class CliResult:
    returncode: int
    stderr: str


def run_script(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> CliResult:
    """`python <script>.py ARGS` through the same `run_cli(main)` the script runs: exit code and stderr.

    An exception that run_cli does not turn into a one-line error propagates, failing the test
    with the traceback a user would have seen.
    """
    module = importlib.import_module(script)
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        run_cli(module.main)
    return CliResult(int(info.value.code or 0), capsys.readouterr().err)


def assert_one_error_line(result, *fragments: str) -> str:
    """Exit code 2, exactly one `error:` line on stderr, no traceback; returns the line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]
