"""Atomic file writes: a crash, kill or full disk at any moment leaves the old file intact."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable, IO

# ".<target name>.<writer pid>.<8 random characters>.tmp", as made by tempfile.mkstemp below.
_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}\.tmp$")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through `write(fileobj)` to a temporary file beside `path`, fsync it, then rename.

    The rename is atomic on POSIX, so readers see either the previous file or the complete new
    one. On any error the temporary file is removed and the error propagates. Temporaries that
    killed writers left in the folder are removed first, so they cannot accumulate.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the result should look like any file we create
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename not in (None, tmp):  # about another file (e.g. one being zipped)
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err  # name the target, not the temporary
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files in `folder` left by writers that were killed (kill -9, power loss).

    Temporary names carry the writer's process id, so only files of processes that no longer run
    are removed; a concurrent writer's file is left alone. Returns the files removed.
    """
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        match = _TEMP_NAME.match(tmp.name)
        if match and not _process_alive(int(match.group(1))):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (the directory entry) where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
