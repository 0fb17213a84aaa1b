"""What every CLI shares: one-line errors and a clean exit on Ctrl-C."""

from __future__ import annotations

import sys
from typing import Callable

from utils.errors import ChromaFillError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def run_cli(main: Callable[[], int | None]) -> None:
    """Run `main`, turning user errors into `error: ...` on stderr and a non-zero exit code."""
    try:
        code = main()
    except ChromaFillError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)
