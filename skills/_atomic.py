"""Atomic file writes: the one place that turns a temporary file into the real one (`atomic_path`), and
several files that appear together or not at all (`write_together`)."""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_together"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process, or a platform without signal 0
        return True
    return True


def _remove_stale(path: Path, base: str, suffixes: str) -> None:
    """Delete temporary files a killed writer of ``path`` left behind (their process is gone)."""
    pattern = re.compile(rf"\.{re.escape(base)}\.(\d+)\.[^.]+\.tmp{re.escape(suffixes)}")
    for sibling in path.parent.iterdir():
        match = pattern.fullmatch(sibling.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            sibling.unlink(missing_ok=True)


def _fsync(path, directory=False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # e.g. folders cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary name is hidden, carries the writer's process id and ends in ``.tmp`` plus all of
    ``path``'s suffixes (``m.weights.h5`` -> ``.m.<pid>.<random>.tmp.weights.h5``), so writers that
    look at the suffix (Keras, matplotlib) still work. The folder is created if missing. On success
    the file is made world-readable (``mkstemp`` creates it owner-only), flushed to disk and renamed
    over ``path`` with ``os.replace``: a reader, or a process killed at any moment, sees the old file
    or the new one, never half a file. On an error the temporary file is removed; one left by a
    killed writer is removed by the next write to the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    base = path.name[: len(path.name) - len(suffixes)] if suffixes else path.name
    _remove_stale(path, base, suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.{os.getpid()}.", suffix=f".tmp{suffixes}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_together(writers) -> list[str]:
    """Write several files so that they appear together or not at all.

    Each file is staged beside its target with `atomic_path`; only when every writer has succeeded are they
    all moved into place. If a writer raises, no target is touched and every staged file is removed.

    Args:
        writers: mapping of target path -> a function that writes the file to the temporary path it is given
            (e.g. ``model.save`` or ``lambda tmp: figure.savefig(tmp)``), called in order.

    Returns:
        list[str]: the target paths, in order.

    Raises:
        Whatever a writer raises.
    """
    with ExitStack() as outputs:
        staged = {path: outputs.enter_context(atomic_path(path)) for path in writers}
        for path, write in writers.items():
            write(staged[path])
    return [str(path) for path in writers]
