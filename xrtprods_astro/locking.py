# Licensed under a 3-clause BSD style license - see LICENSE
"""
Advisory file locks between processes, for the package's small state files.

Two processes that submit the same request at once must not make two jobs,
and two batches must not write one state file at once: each holds a lock on
a small ``.lock`` file beside what it guards while it reads, decides and
writes. `file_lock` is the one helper for that.

How the lock is taken:

* POSIX: ``fcntl.flock`` on the lock file. The kernel drops the lock when the
  process ends, however it ends, so a crash never leaves a stale lock.
* Windows: ``msvcrt.locking`` on the lock file's first byte; also released
  by the system when the process ends.
* Elsewhere (no ``fcntl`` nor ``msvcrt``): the lock file is created with
  ``O_CREAT | O_EXCL`` and removed on release. A process killed while holding
  it leaves it behind, so a lock file older than ``stale`` seconds is taken
  over (with a warning in the log).

The lock is per process and file, advisory (only code that asks for it is
kept out) and not re-entrant.
"""
import contextlib
import errno
import logging
import os
import time
from pathlib import Path

from .exceptions import XRTProductsError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None

__all__ = ["file_lock", "LockTimeoutError", "LOCK_METHOD"]

log = logging.getLogger("xrtprods_astro.locking")

#: How locks are taken on this system: ``"fcntl"``, ``"msvcrt"`` or ``"exclusive-create"``.
LOCK_METHOD = "fcntl" if fcntl is not None else "msvcrt" if msvcrt is not None else "exclusive-create"

_PAUSE = 0.05  # seconds between attempts while another process holds the lock


class LockTimeoutError(XRTProductsError, TimeoutError):
    """Another process held a lock for longer than the caller would wait.

    Attributes
    ----------
    path : pathlib.Path
        The lock file.
    """

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


def _try_lock(handle):
    """Take the lock on an open file without waiting: True if taken."""
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
            return False
        raise
    return True


def _unlock(handle):
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
    else:  # pragma: no cover - Windows
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)


def _try_create(path, stale):  # pragma: no cover - used only where neither fcntl nor msvcrt exists
    try:
        handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
        if stale is not None and age > stale:
            log.warning("Taking over the lock %s, left %.0f s ago by a process that did not release it",
                        path, age)
            with contextlib.suppress(OSError):
                path.unlink()
        return None
    os.write(handle, str(os.getpid()).encode("ascii"))
    return handle


@contextlib.contextmanager
def file_lock(path, *, timeout=None, what=None, stale=3600.0):
    """Hold an exclusive lock on ``path`` for the ``with`` block, waiting for other processes.

    Parameters
    ----------
    path : path-like
        The lock file (created, mode 0600, folder 0700; left in place). Use a
        file beside the one it guards, e.g. ``state.json.lock``.
    timeout : float, optional
        Longest wait in seconds; None waits as long as needed, 0 does not wait.
    what : str, optional
        What the lock guards, for the error message (default the path).
    stale : float, optional
        Only without ``fcntl`` and ``msvcrt``: age in seconds after which a
        lock file left by a dead process is taken over.

    Yields
    ------
    pathlib.Path
        The lock file.

    Raises
    ------
    LockTimeoutError
        Another process still held the lock after ``timeout`` seconds.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from xrtprods_astro.locking import file_lock
    >>> with file_lock(pathlib.Path(tempfile.mkdtemp()) / "state.json.lock", timeout=10):
    ...     pass  # read, decide and write the state file here
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + max(float(timeout), 0.0)
    handle = None if LOCK_METHOD == "exclusive-create" else os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            if handle is not None and LOCK_METHOD != "exclusive-create":
                if _try_lock(handle):
                    break
            else:  # pragma: no cover - neither fcntl nor msvcrt
                handle = _try_create(path, stale)
                if handle is not None:
                    break
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeoutError(
                    f"{what or path}: another process has held its lock ({path}) for more than "
                    f"{float(timeout):g} s; try again when it has finished, or remove the lock file if "
                    "no other process of this package is running", path=path)
            time.sleep(_PAUSE)
        try:
            yield path
        finally:
            if LOCK_METHOD == "exclusive-create":  # pragma: no cover
                os.close(handle)
                handle = None
                with contextlib.suppress(OSError):
                    path.unlink()
            else:
                _unlock(handle)
    finally:
        if handle is not None:
            os.close(handle)
