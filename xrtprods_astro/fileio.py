# Licensed under a 3-clause BSD style license - see LICENSE
"""
Writing files on the user's disk safely: atomically, and never through a link.

Every file the package writes on the user's side (batch tables and state,
ECSV/FITS tables, saved requests, plots, the reuse map, the demo's files) goes
through `atomic_write`: the data go to a temporary file that only this call
can have created (``mkstemp``: ``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600) in
the target's own folder, are forced to disk, and the temporary file then
replaces the target with ``os.replace``. A link planted at the target's name,
or at any name the writer might have used for its temporary file, is never
written through: ``os.replace`` replaces the link itself. A failed write (a
full disk, a file-size limit, an exception in the caller's code) removes the
temporary file and leaves the old target as it was.

Files appended to (the batch journal) are opened with `open_append`, which
refuses a link; `chmod_private` changes a file's mode without following one.
"""
import contextlib
import errno
import os
import tempfile
import threading
from pathlib import Path

__all__ = ["atomic_write", "write_bytes", "write_text", "write_table", "open_append", "chmod_private",
           "fsync_dir", "private_dir", "with_microsecond_times"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_umask_lock = threading.Lock()
_umask = None


def _default_mode():
    """The mode a new file gets from ``open`` under the process's umask (read once, then kept)."""
    global _umask
    with _umask_lock:
        if _umask is None:
            # There is no way to read the umask without setting it: set it back at once.
            _umask = os.umask(0o077)
            os.umask(_umask)
    return 0o666 & ~_umask


def fsync_dir(path):
    """Make a rename or unlink in the folder ``path`` durable (where the platform allows it).

    Parameters
    ----------
    path : path-like
        A folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def private_dir(path):
    """Create the folder ``path`` readable by the user only; a folder that exists keeps its permissions.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)   # mkdir's mode is reduced by the umask, never widened
    return path


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, encoding=None, private=True, fsync=True, overwrite=True):
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without an error.

    Parameters
    ----------
    path : path-like
        The file to write. A link at this name is replaced, never followed.
    mode : {"wb", "w"}
        Binary or text.
    encoding : str, optional
        For text mode; default UTF-8.
    private : bool
        True (default): the file is readable by the user only (0600). False:
        it gets the mode ``open`` would give it (0666 less the umask).
    fsync : bool
        Force the data to disk before the rename (default True). False for
        files whose loss in a power cut costs nothing but time.
    overwrite : bool
        False: raise `FileExistsError` if ``path`` exists (a link included),
        checked again at the rename so that a file appearing meanwhile is kept.

    Yields
    ------
    file object
        Open on the temporary file, in ``path``'s folder.

    Raises
    ------
    FileExistsError
        ``overwrite`` is False and ``path`` exists.
    OSError
        The folder cannot be written (a full disk, a size limit...); the
        temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: {mode!r} is not allowed; allowed: 'wb', 'w'")
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path} exists (a link counts); it is left as it is")
    # mkstemp opens with O_CREAT | O_EXCL (and O_NOFOLLOW where there is one), mode 0600: the name is
    # new and ours, so no link planted beside the target can redirect the write.
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if not private:
            os.chmod(tmp, _default_mode())
        kwargs = {"encoding": encoding or "utf-8"} if mode == "w" else {}
        with os.fdopen(handle, mode, **kwargs) as stream:
            handle = None
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() fails if the name exists, whatever it is: a file created meanwhile is kept.
            os.link(tmp, path)
            os.unlink(tmp)
        tmp = None
        if fsync:
            fsync_dir(path.parent)
    finally:
        if handle is not None:
            os.close(handle)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_bytes(path, data, **options):
    """Write ``data`` to ``path`` with `atomic_write` (same options); returns ``path`` as a Path."""
    with atomic_write(path, "wb", **options) as stream:
        stream.write(data)
    return Path(path)


def write_text(path, text, **options):
    """Write ``text`` to ``path`` with `atomic_write` (same options); returns ``path`` as a Path."""
    with atomic_write(path, "w", **options) as stream:
        stream.write(text)
    return Path(path)


def write_table(table, path, format, **options):
    """Write an astropy ``table`` to ``path`` with `atomic_write` (same options); returns a Path.

    Parameters
    ----------
    table : `~astropy.table.Table`
    path : path-like
    format : str
        An astropy format, e.g. ``"ascii.ecsv"`` or ``"fits"`` (written in binary mode).
    **options
        Those of `atomic_write`.
    """
    binary = str(format).split(".")[0] in ("fits", "hdf5", "votable", "parquet", "asdf")
    with atomic_write(path, "wb" if binary else "w", **options) as stream:
        with_microsecond_times(table).write(stream, format=format)
    return Path(path)


def with_microsecond_times(table):
    """``table``, or a shallow copy whose `~astropy.time.Time` columns are written to the microsecond.

    Text formats (ECSV) write a Time to its ``precision`` (3 digits by default), and clock-corrected
    times are not whole milliseconds: written at 3 digits they would move by up to 0.5 ms.
    """
    from astropy.time import Time
    short = [name for name in table.colnames if isinstance(table[name], Time) and table[name].precision < 6]
    if not short:
        return table
    out = table.copy(copy_data=False)
    for name in short:
        column = table[name].copy()
        column.precision = 6
        out.replace_column(name, column)
    return out


def open_append(path, private=True):
    """Open ``path`` for appending in binary mode, created if absent, refusing a link at its name.

    Parameters
    ----------
    path : path-like
    private : bool
        Create it readable by the user only (default).

    Returns
    -------
    file object

    Raises
    ------
    OSError
        ``path`` is a link (``ELOOP``), or cannot be opened.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o600 if private else 0o666)
    return os.fdopen(fd, "ab")


def chmod_private(path):
    """Make the file ``path`` readable by the user only, without following a link at its name.

    Parameters
    ----------
    path : path-like

    Raises
    ------
    OSError
        ``path`` is a link (``ELOOP``) or cannot be opened.
    """
    if not _NOFOLLOW or os.chmod not in os.supports_fd:
        if os.path.islink(path):
            raise OSError(errno.ELOOP, "refusing to change the mode through a link", str(path))
        os.chmod(path, 0o600)
        return
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
