"""What every CLI shares: one-line errors and a clean exit on Ctrl-C."""

from __future__ import annotations

import errno
import sys
from typing import Callable

from utils.allocator import keep_freed_memory
from utils.errors import ChromaFillError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# OSErrors that the machine, not the code, causes: a full disk, a read-only or missing output
# folder. Any write can meet them (config.yaml, TensorBoard events, predictions), so they are
# reported here as one line; every file already written stays intact (writes are atomic).
# Other OSErrors keep their traceback: they point at a bug.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                      errno.EISDIR, errno.EEXIST, errno.EFBIG, errno.EIO, errno.ENAMETOOLONG}


def run_cli(main: Callable[[], int | None]) -> None:
    """Run `main`, turning user errors into `error: ...` on stderr and a non-zero exit code."""
    keep_freed_memory()  # before any tensor exists: every CLI trains or predicts with large tensors
    try:
        code = main()
    except ChromaFillError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except OSError as err:
        if err.errno not in ENVIRONMENT_ERRNOS:
            raise
        print(f"error: {os_error_message(err)}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code or 0)


def os_error_message(err: OSError) -> str:
    """`<file>: <reason>` for an OSError, with the file it concerns when the OS named one."""
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{err.strerror or err} (is the disk full or the folder not writable?)"
