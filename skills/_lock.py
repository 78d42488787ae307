"""One writer per output: an exclusive lock on a path, held for a whole run (`exclusive_lock`).

Two runs that would write the same model file or the same training backup would overwrite each other's
files in turn; with the lock the second one stops at once, before it writes anything, with one line that
names the path and the process holding it. The lock is ``fcntl.flock`` on a sidecar file ``<path>.lock``:
the operating system releases it when its holder exits, however it exits (a killed run never leaves a lock
that blocks the next one), and the holder removes the sidecar when it is done.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LockedError", "exclusive_lock", "lock_path"]

try:
    import fcntl
except ImportError:  # Windows: no flock; O_EXCL creation below
    fcntl = None


class LockedError(RuntimeError):
    """Another run holds the lock on the path (its message is one line naming the path and the holder)."""


def lock_path(path) -> Path:
    """The sidecar lock file of ``path``: ``<path>.lock`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _holder(sidecar: Path) -> str:
    try:
        pid = sidecar.read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _locked(path: Path, sidecar: Path, what: str) -> LockedError:
    return LockedError(f"{path}: another run ({_holder(sidecar)}) is writing this {what}; wait for it to finish "
                       f"or choose another path (lock {sidecar})")


def _acquire(path: Path, sidecar: Path, what: str) -> int:
    """Open, lock and stamp the sidecar; returns its descriptor. Retries when the holder removed the file
    between our open and our lock (we would otherwise hold a lock on a file no one else can see)."""
    while True:
        if fcntl is None:
            try:
                fd = os.open(sidecar, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            except FileExistsError:
                raise _locked(path, sidecar, what) from None
        else:
            fd = os.open(sidecar, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise _locked(path, sidecar, what) from None
                raise
            try:
                same = os.stat(sidecar).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder unlinked it as we opened it: lock the current file
                os.close(fd)
                continue
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd


@contextmanager
def exclusive_lock(path, what: str = "file"):
    """Hold an exclusive lock on ``path`` for the block; another holder makes it fail at once.

    The lock lives in the sidecar ``<path>.lock`` (`lock_path`), created beside ``path`` and removed when the
    block ends (with the folders it had to create, if the block left them empty). It locks against other
    processes (and other opens of the same path in this one); it does not wait.

    Args:
        path (str or Path): the file or folder a run is about to write.
        what (str): what ``path`` is, for the message ("model file", "training backup").

    Raises:
        LockedError: another run holds the lock; nothing has been written.
    """
    path = Path(path)
    sidecar = lock_path(path)
    created = [folder for folder in [sidecar.parent, *sidecar.parent.parents] if not folder.exists()]
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire(path, sidecar, what)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield sidecar
    finally:
        try:  # removed while still held: a waiting opener sees the file is gone and retries on a fresh one
            os.unlink(sidecar)
        except FileNotFoundError:
            pass
        os.close(fd)
        _remove_empty(created)


def _remove_empty(folders) -> None:
    """Remove the folders the lock created, deepest first, if the run left them empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
