# Licensed under a 3-clause BSD style license - see LICENSE
"""
Reader for the job history (``listOldJobs.php``, protocol §2.9).

Also holds `_load_json`, the small "dict, JSON text, bytes or file" loader the
other JSON readers of this package share.
"""
import json
import os
from pathlib import Path

import numpy as np
from astropy.table import MaskedColumn, Table
from astropy.time import Time

from ..exceptions import ReaderError

__all__ = ["read_job_list", "JOB_PRODUCT_COLUMNS"]

#: Service flag -> column name, in the order the columns appear.
JOB_PRODUCT_COLUMNS = {
    "LightCurve": "lightcurve",
    "Spectrum": "spectrum",
    "StandardPos": "standard_position",
    "EnhancedPos": "enhanced_position",
    "AstromPos": "astrometric_position",
    "Image": "image",
    "SourceDet": "source_detection",
}

# Keys of the response envelope (protocol §1.4): never data.
_ENVELOPE = ("OK", "APIVersion", "deprecationWarning")


def _is_file(text):
    try:
        return Path(text).is_file()
    except (OSError, ValueError):   # a text far too long, or with a NUL, to be a file name
        return False


def _read_text(path, what):
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ReaderError(f"{what}: {path} cannot be read ({exc})") from None


def _load_json(data, what):
    """Return the decoded JSON answer as Python objects.

    ``data`` may already be decoded (dict or list), JSON text, JSON bytes, or
    the path of a file holding JSON. An answer with ``OK == 0`` (a service
    error that reached a reader) raises `ReaderError` with the service's text.
    """
    if isinstance(data, (dict, list)):
        obj = data
    else:
        if isinstance(data, (bytes, bytearray)):
            text = bytes(data).decode("utf-8", errors="replace")
        elif isinstance(data, os.PathLike):
            text = _read_text(data, what)
        elif isinstance(data, str):
            stripped = data.lstrip()
            if stripped[:1] in ("{", "[") or not stripped:
                text = data
            elif _is_file(data):
                text = _read_text(data, what)
            else:
                raise ReaderError(f"{what}: the text given is neither JSON nor the path of a file: "
                                  f"{data[:60]!r}")
        else:
            raise ReaderError(f"{what}: expected a dict, JSON text, bytes or a path, "
                              f"got {type(data).__name__}")
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ReaderError(f"{what}: the answer is not valid JSON ({exc})") from None
    if isinstance(obj, dict) and "OK" in obj and str(obj["OK"]).strip() in ("0", "False", "false"):
        raise ReaderError(f"{what}: the service reported an error: {obj.get('ERROR', '(no ERROR text)')}")
    return obj


def _as_bool(value, what):
    """Interpret a service flag (JSON bool, 0/1, "0"/"1", "yes"/"no", "true"/"false")."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "y"):
            return True
        if text in ("0", "false", "no", "n", ""):
            return False
    raise ReaderError(f"{what}: {value!r} is not a yes/no flag (expected true/false or 1/0)")


def _empty_job_table():
    table = Table()
    table["job_id"] = np.zeros(0, dtype=np.int64)
    table["name"] = np.zeros(0, dtype=str)
    table["submitted"] = Time([], format="iso", scale="utc")
    for column in JOB_PRODUCT_COLUMNS.values():
        table[column] = MaskedColumn(np.zeros(0, dtype=bool), mask=np.zeros(0, dtype=bool))
    table["products"] = np.zeros(0, dtype=str)
    table["has_products"] = np.zeros(0, dtype=bool)
    return table


def read_job_list(data):
    """Read the answer of ``listOldJobs.php`` into a table.

    Parameters
    ----------
    data : dict, list, str, bytes or path
        The decoded answer (``{"jobs": [...]}`` or the bare list of jobs), its
        JSON text or bytes, or a file holding it.

    Returns
    -------
    `~astropy.table.Table`
        One row per job, most recent first, with columns ``job_id`` (int),
        ``name`` (str), ``submitted`` (`~astropy.time.Time`, UTC), one bool
        column per product (``lightcurve``, ``spectrum``,
        ``standard_position``, ``enhanced_position``, ``astrometric_position``,
        ``image``, ``source_detection``; masked where the service did not say,
        which is usual for ``source_detection``), ``products`` (comma-separated
        names of the requested products) and ``has_products`` (whether the
        products can still be downloaded). An empty job list gives an empty
        table with the same columns.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the answer is not a job list or a job entry is malformed.

    Examples
    --------
    >>> from xrtprods_astro.readers.jobs import read_job_list
    >>> jobs = read_job_list({"jobs": [{"JobID": 7, "Name": "GK Per",
    ...     "DateSubmitted": "2024-03-01 10:00:00", "LightCurve": True,
    ...     "Spectrum": False, "StandardPos": True, "EnhancedPos": False,
    ...     "AstromPos": False, "Image": False, "hasProd": True}]})
    >>> str(jobs["products"][0])
    'lightcurve,standard_position'
    """
    obj = _load_json(data, "job list")
    if isinstance(obj, dict):
        if "jobs" not in obj:
            raise ReaderError("job list: the answer has no 'jobs' key "
                              f"(keys: {', '.join(sorted(obj)) or 'none'})")
        jobs = obj["jobs"]
    else:
        jobs = obj
    if jobs is None:
        jobs = []
    if not isinstance(jobs, list):
        raise ReaderError(f"job list: 'jobs' must be a list, got {type(jobs).__name__}")
    if not jobs:
        return _empty_job_table()

    ids, names, dates, has_products, products = [], [], [], [], []
    flags = {column: [] for column in JOB_PRODUCT_COLUMNS.values()}
    masks = {column: [] for column in JOB_PRODUCT_COLUMNS.values()}
    for index, job in enumerate(jobs):
        where = f"job list entry {index}"
        if not isinstance(job, dict):
            raise ReaderError(f"{where}: expected an object, got {type(job).__name__}")
        try:
            job_id = job["JobID"]
            date = job["DateSubmitted"]
        except KeyError as exc:
            raise ReaderError(f"{where}: missing key {exc.args[0]!r}") from None
        try:
            number = int(str(job_id).strip())
        except ValueError:
            raise ReaderError(f"{where}: JobID {job_id!r} is not an integer") from None
        if not 0 <= number < 2 ** 63:
            # The table holds JobIDs as 64-bit integers; no real JobID comes near that.
            raise ReaderError(f"{where}: JobID {str(job_id)[:30]!r} is out of range")
        ids.append(number)
        names.append(str(job.get("Name", "")))
        dates.append(str(date).strip())
        requested = []
        for key, column in JOB_PRODUCT_COLUMNS.items():
            present = key in job and job[key] is not None
            value = _as_bool(job[key], f"{where}: {key}") if present else False
            flags[column].append(value)
            masks[column].append(not present)
            if value:
                requested.append(column)
        products.append(",".join(requested))
        has_products.append(_as_bool(job.get("hasProd", False), f"{where}: hasProd"))

    try:
        submitted = Time(dates, format="iso", scale="utc")
    except ValueError as exc:
        raise ReaderError(f"job list: a DateSubmitted is not 'YYYY-MM-DD HH:MM:SS' ({exc})") from None

    table = Table()
    table["job_id"] = np.array(ids, dtype=np.int64)
    table["name"] = names
    table["submitted"] = submitted
    for column in JOB_PRODUCT_COLUMNS.values():
        table[column] = MaskedColumn(flags[column], mask=masks[column], dtype=bool)
    table["products"] = products
    table["has_products"] = np.array(has_products, dtype=bool)
    # Most recent first, whatever order the answer came in: newest
    # submission, then highest JobID for jobs submitted in the same second.
    order = np.lexsort((-table["job_id"], -submitted.mjd))
    table = table[order]
    table.meta["source"] = "listOldJobs"
    return table
