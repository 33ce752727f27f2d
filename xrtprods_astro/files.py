# Licensed under a 3-clause BSD style license - see LICENSE
"""
Tables ready to be written to files, for the command line and the demo,
private files written atomically, and file names taken from the service made safe.
"""
import os
import re
import tempfile
from pathlib import Path

from .fileio import write_text

__all__ = ["table_for_file", "write_private_text", "check_writable_dir", "check_writable_file",
           "safe_component"]

# The characters a name from the service keeps; any other becomes "_" (so no separator survives).
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Longer names fail on common file systems (255 bytes) once a suffix is added.
_MAX_COMPONENT = 200


def safe_component(name, what):
    """One path component (a file or folder name) made from a name the service sent.

    Characters other than letters, digits, ``_``, ``.`` and ``-`` become
    ``_``, so no separator survives; what is left must still be a name of
    its own: empty, ``.``, ``..`` and names longer than 200 characters are
    refused, because joined to a folder they would name that folder, its
    parent, or fail half-way through writing.

    Parameters
    ----------
    name : object
        The name from the service (converted with `str`).
    what : str
        What the name is, for the error message (e.g. ``"spectral interval name"``).

    Returns
    -------
    str

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        The name cannot be a file or folder name; nothing was written.
    """
    text = _UNSAFE.sub("_", str(name))
    if text.strip(".") == "" or len(text) > _MAX_COMPONENT:
        from .exceptions import ReaderError
        raise ReaderError(f"{what} {str(name)[:80]!r} from the service cannot be used as a file or "
                          f"folder name (empty, only dots, or longer than {_MAX_COMPONENT} characters); "
                          "nothing was written")
    return text


def write_private_text(path, text, fsync=True):
    """Write ``text`` to ``path`` atomically, readable by the user only (mode 0600, folder 0700).

    The text goes to a temporary file in the same folder, which then replaces
    ``path`` at once: a reader never sees half a file, an interrupted write
    leaves the old one, and a link at ``path`` is replaced, never written
    through (see `xrtprods_astro.fileio.atomic_write`). ``fsync=False`` skips
    forcing the text to disk before the rename, for files whose loss in a
    power cut costs nothing but time.
    """
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_text(path, text, fsync=fsync)


def table_for_file(table):
    """A copy of a table whose meta FITS and ECSV can both write.

    Times in the meta become ISO text, Quantities a value and a ``<key>_unit``;
    Time columns keep nanoseconds in ECSV. A `~astropy.coordinates.SkyCoord`
    column becomes ICRS ``ra`` and ``dec`` columns in degrees, which any
    FITS or ECSV reader understands (``<name>_ra``, ``<name>_dec`` when the
    table already has other ``ra``/``dec`` columns); it is dropped when the
    table's own ``ra``/``dec`` columns already hold the same positions.

    Parameters
    ----------
    table : `~astropy.table.Table`

    Returns
    -------
    `~astropy.table.Table`
        A copy sharing the data.
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.time import Time
    out = table.copy(copy_data=False)
    for name in out.colnames:
        if isinstance(out[name], SkyCoord):
            _coord_columns(out, name)
        elif isinstance(out[name], Time):
            # ECSV writes times as text: keep them to the nanosecond, not the default millisecond.
            out[name] = out[name].copy()
            out[name].precision = 9
    meta = {}
    for key, value in table.meta.items():
        if value is None:
            continue
        if isinstance(value, Time):
            meta[key] = value.utc.isot
        elif isinstance(value, u.Quantity):
            meta[key] = float(value.value)
            meta[f"{key}_unit"] = value.unit.to_string()
        elif isinstance(value, (str, int, float, bool)):
            meta[key] = value
        else:
            meta[key] = str(value)
    out.meta = meta
    return out


def _coord_columns(table, name):
    """Replace the SkyCoord column ``name`` by ICRS ra/dec columns in degrees (see `table_for_file`)."""
    import numpy as np
    from astropy import units as u
    icrs = table[name].icrs
    ra, dec = icrs.ra.to(u.deg), icrs.dec.to(u.deg)
    index = table.colnames.index(name)
    table.remove_column(name)
    if "ra" in table.colnames and "dec" in table.colnames:
        try:
            same = all(np.allclose(u.Quantity(table[c], u.deg).value, mine.value, rtol=0, atol=1e-9,
                                   equal_nan=True) for c, mine in (("ra", ra), ("dec", dec)))
        except (u.UnitsError, TypeError, ValueError):
            same = False
        if same:
            return
        names = (f"{name}_ra", f"{name}_dec")
    else:
        names = ("ra", "dec")
    table.add_column(ra, name=names[0], index=index)
    table.add_column(dec, name=names[1], index=index + 1)


def check_writable_dir(path, parameter):
    """Refuse, before any work, a folder that cannot be made or written to.

    The folder itself may be missing (it is made later), but its nearest existing
    ancestor must be a folder this process can write into. Called before a job is
    submitted, so a typo costs no wait for products that could not be saved.

    Parameters
    ----------
    path : path-like
        The folder products will be written into.
    parameter : str
        How the caller names it in messages (``dest_dir``, ``--dest``).

    Raises
    ------
    `~xrtprods_astro.exceptions.InvalidRequestError`
        Naming ``parameter``, the path and what is wrong with it.
    """
    from .exceptions import InvalidRequestError
    path = Path(path).expanduser()
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        if ancestor.is_symlink():   # a dangling link: mkdir would fail on it
            break
        ancestor = ancestor.parent
    problem = None
    if not ancestor.is_dir():
        problem = (f"{ancestor} is not a folder" if ancestor.exists() or ancestor.is_symlink()
                   else f"{ancestor} does not exist")
    else:
        problem = _probe(ancestor)
    if problem:
        raise InvalidRequestError([], header=f"{parameter}: cannot write into {path}: {problem}")
    return path


def check_writable_file(path, parameter):
    """Refuse, before any work, a file whose folder does not exist or cannot be written to.

    Unlike `check_writable_dir`, the folder is not made: a file name with a
    mistyped folder is refused rather than creating folders nobody asked for.

    Parameters
    ----------
    path : path-like
        The file to be written.
    parameter : str
        How the caller names it in messages (``--output``, ``--plot``).

    Raises
    ------
    `~xrtprods_astro.exceptions.InvalidRequestError`
        Naming ``parameter`` and the folder.
    """
    from .exceptions import InvalidRequestError
    path = Path(path).expanduser()
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = f"{path} is a folder; give a file name"
    elif not folder.is_dir():
        problem = (f"the folder {folder} is not a folder" if folder.exists()
                   else f"the folder {folder} does not exist (make it first)")
    else:
        problem = _probe(folder)
    if problem:
        raise InvalidRequestError([], header=f"{parameter}: cannot write {path}: {problem}")
    return path


def _probe(folder):
    """Why nothing can be made in ``folder`` (None if something can).

    A real attempt, removed at once: permission bits do not tell (root passes every
    ``os.access`` test, yet cannot make folders in ``/proc``; a read-only mount looks writable).
    """
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".xrtprods-probe-", dir=folder))
    except OSError as exc:
        return f"{folder} is not writable ({exc.strerror or exc})"
    return None
