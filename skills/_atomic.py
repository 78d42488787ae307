"""Atomic file writes: the one place that turns a temporary file into the real one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path"]


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` (same suffix); move it into place only if the block succeeds.

    The folder is created if missing. On success the file is made world-readable (``mkstemp`` creates it
    owner-only) and renamed over ``path`` with ``os.replace``, so a reader never sees half a file; on any
    error the temporary file is removed and nothing is left behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
