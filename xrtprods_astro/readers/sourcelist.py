# Licensed under a 3-clause BSD style license - see LICENSE
"""
Reader for source-detection results (``getSourceDetResults.php``, protocol §2.5).

The service answers one list of sources per energy band (``Total``, or
``Total``, ``Soft``, ``Medium``, ``Hard``), every value a string. Here each
band becomes a `~astropy.table.Table` whose columns are typed as a whole
(numbers become float or int, identifiers stay strings), with units on the
known physical columns and a ``coord`` `~astropy.coordinates.SkyCoord` column.
"""
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord
from astropy.table import Table

from ..exceptions import ReaderError
from .jobs import _ENVELOPE, _load_json

__all__ = ["read_source_list", "read_source_list_files", "BAND_ORDER", "SourceList"]

#: The service's bands in their natural order; other band names follow.
BAND_ORDER = ("Total", "Soft", "Medium", "Hard")

# Keys that hold identifiers: kept as strings even when they look numeric
# (an obsID "00012345001" must keep its leading zeros).
_IDENTIFIER_KEYS = {"name", "iauname", "iau_name", "obsid", "obsids", "targ", "targetid", "target",
                    "sxps_id", "id", "field"}

_FIXED_UNITS = {
    "ra": u.deg, "dec": u.deg, "l": u.deg, "b": u.deg,
    "err90": u.arcsec, "x": u.pix, "y": u.pix, "c": u.ct,
    "counts": u.ct, "exposure": u.s, "bg": u.ct,
}
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eEdD][-+]?\d+)?$|^[-+]?(?:nan|inf|infinity)$",
                     re.IGNORECASE)
_INTEGER = re.compile(r"^[-+]?\d+$")
_MISSING = {"", "null", "none", "n/a", "na", "-"}


def _unit_for(key, position_error_unit):
    low = key.lower()
    if low in _FIXED_UNITS:
        return _FIXED_UNITS[low]
    if low in ("ra_err_pos", "ra_err_neg", "dec_err_pos", "dec_err_neg", "ra_err", "dec_err"):
        return position_error_unit
    if low in ("c_err_pos", "c_err_neg", "c_err", "counts_err_pos", "counts_err_neg", "counts_err"):
        return u.ct
    if "rate" in low:
        return u.ct / u.s
    return None


def _type_column(key, values, position_error_unit):
    """One column's data from raw values: numeric when every present value is a number.

    Returns the array, or a masked array when values are missing, and its unit.
    """
    texts = [None if v is None else str(v).strip() for v in values]
    missing = [t is None or t.lower() in _MISSING for t in texts]
    present = [t for t, m in zip(texts, missing) if not m]
    unit = _unit_for(key, position_error_unit)
    numeric = (key.lower() not in _IDENTIFIER_KEYS and present
               and all(_NUMBER.match(t) for t in present)
               # A leading zero on a multi-digit integer marks an identifier.
               and not any(_INTEGER.match(t) and len(t.lstrip("+-")) > 1 and t.lstrip("+-")[0] == "0"
                           for t in present))
    if not present and unit is not None:
        numeric = True   # a quantity with every value missing is still a (masked) number column
    if numeric:
        # Integers beyond 64 bits are kept as floats rather than overflowing.
        is_int = (all(_INTEGER.match(t) and len(t.lstrip("+-")) <= 18 for t in present)
                  and unit in (None, u.ct))
        filled = [t if not m else "0" for t, m in zip(texts, missing)]
        if is_int:
            data = np.array([int(t) for t in filled], dtype=np.int64)
        else:
            data = np.array([float(t.replace("d", "e").replace("D", "e")) for t in filled], dtype=float)
    else:
        if unit is not None and present:
            raise ReaderError(f"source list: column {key!r} should hold numbers, got e.g. "
                              f"{next((t for t in present if not _NUMBER.match(t)), present[0])!r}")
        data = np.array([t if not m else "" for t, m in zip(texts, missing)], dtype=str)
    if any(missing):
        data = np.ma.MaskedArray(data, mask=np.array(missing, dtype=bool))
    return data, unit


def _error_names(keys):
    """The service's ``<x>_pos``/``<x>_neg`` error keys -> the package's ``<x>_err_pos``/``<x>_err_neg``.

    Light curves and spectral fits name their errors ``rate_err_pos``/``rate_err_neg``, both
    positive magnitudes; the service's source lists send ``rate_pos`` and a negative
    ``rate_neg``. One convention for every table: renamed here, and made positive in
    `_band_table`. Only keys whose quantity is itself a column are errors (``cnt_neg`` alone
    is left as it is).
    """
    names = {}
    for key in keys:
        base, _, side = key.rpartition("_")
        if (side in ("pos", "neg") and base in keys and not base.endswith("_err")
                and f"{base}_err_{side}" not in keys):   # never two columns of one name
            names[key] = f"{base}_err_{side}"
    return names


def _band_table(band, rows, job_id, position_error_unit):
    if not isinstance(rows, list):
        raise ReaderError(f"source list: band {band!r} must be a list of sources, got {type(rows).__name__}")
    keys = {}   # an ordered set: every key of every row, in the order met
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ReaderError(f"source list: band {band!r} entry {index} is not an object")
        keys.update(dict.fromkeys(row))
    renamed = _error_names(keys)
    names, columns, units = [renamed.get(key, key) for key in keys], [], {}
    for key, name in zip(keys, names):
        data, unit = _type_column(name, [row.get(key) for row in rows], position_error_unit)
        if key in renamed and data.dtype.kind in "if":
            data = abs(data)   # a magnitude, as in light curves (the service sends rate_neg < 0)
        columns.append(data)
        if unit is not None:
            units[name] = unit
    if "ra" in keys and "dec" in keys:
        try:
            ra, dec = (np.ma.filled(np.ma.asarray(columns[names.index(key)], dtype=float), np.nan)
                       for key in ("ra", "dec"))
        except (TypeError, ValueError):
            raise ReaderError(f"source list: band {band!r} has an ra or dec that is not a number") from None
        # NaN is a missing value (masked below); an infinite dec is as impossible as 91 deg.
        if np.any(np.abs(dec[~np.isnan(dec)]) > 90):
            raise ReaderError(f"source list: band {band!r} has a dec beyond +/-90 deg")
        names.append("coord")
        # As SkyCoord(ra, dec, frame="icrs"), without parsing the arguments.
        columns.append(SkyCoord(ICRS(ra=ra * u.deg, dec=dec * u.deg), copy=False))
    # One Table of whole arrays: adding columns one by one re-checks the table each time.
    table = Table(columns, names=names, units=units, copy=False, meta={"band": band, "job_id": job_id})
    from ..display import set_display_formats
    return set_display_formats(table)   # print to the data's precision; the data are untouched


def _order_bands(names):
    known = [b for b in BAND_ORDER if b in names]
    return known + [b for b in names if b not in known]


def read_source_list(data, *, job_id=None, position_error_unit=u.deg):
    """Read the source-detection answer into one table per energy band.

    Parameters
    ----------
    data : dict, str, bytes or path
        The decoded answer of ``getSourceDetResults.php``: one key per band,
        each a list of per-source objects (values as strings or numbers); or
        its JSON text or file. Envelope keys (``OK``, ``APIVersion``) are
        ignored.
    job_id : str or int, optional
        Recorded in each table's meta.
    position_error_unit : `~astropy.units.Unit`, optional
        Unit of the position errors ``ra_err_pos``, ``ra_err_neg``,
        ``dec_err_pos``, ``dec_err_neg``; the service documents them with
        the positions, in degrees.

    Returns
    -------
    `collections.OrderedDict`
        Band name (``"Total"``, ``"Soft"``, ``"Medium"``, ``"Hard"``, then any
        other band in the answer's order) -> `~astropy.table.Table`. Columns
        keep the service's names, except its errors ``<x>_pos``/``<x>_neg``
        (``rate_pos``, ``rate_neg``, ``C_neg``, ``ra_neg``...), which are named
        ``<x>_err_pos``/``<x>_err_neg`` and hold positive magnitudes, as in
        light curves and spectral fits. Units: ``ra``, ``dec``, ``l``, ``b``
        deg; ``err90`` arcsec; ``x``, ``y`` pix; ``C`` and ``bg`` (background
        counts in the source region) ct; ``exposure`` s; columns whose name
        contains ``rate`` ct / s. A ``coord`` column holds the ICRS
        `~astropy.coordinates.SkyCoord`. Missing values are masked.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the answer is not a mapping of band -> list of sources, or a
        physical column holds something that is not a number.

    Examples
    --------
    >>> from xrtprods_astro.readers.sourcelist import read_source_list
    >>> bands = read_source_list({"Total": [{"sno": "1", "ra": "335.6985",
    ...     "dec": "-7.5179", "err90": "3.5", "C": "120"}]})
    >>> bands["Total"]["err90"].unit
    Unit("arcsec")
    """
    obj = _load_json(data, "source list")
    if not isinstance(obj, dict):
        raise ReaderError(f"source list: expected an object of bands, got {type(obj).__name__}")
    bands = {k: v for k, v in obj.items() if k not in _ENVELOPE and k not in ("JobID",)}
    if not bands:
        raise ReaderError("source list: the answer holds no energy band")
    position_error_unit = u.Unit(position_error_unit)
    result = SourceList()
    for band in _order_bands(list(bands)):
        result[band] = _band_table(band, bands[band], job_id, position_error_unit)
    return result


def read_source_list_files(directory, *, job_id=None, position_error_unit=u.deg):
    """Read source lists from files of an unpacked ``sourceDet`` archive.

    The layout of these files is not documented in the material available
    (protocol §6.7); this reader assumes one text file per band whose name
    contains the band name (``Total``, ``Soft``, ``Medium``, ``Hard``, any
    case) and ends in ``.txt``, ``.dat`` or ``.tsv``, holding a header line of
    column names (optionally starting with ``#`` or ``!``) and one
    white-space separated line per source, with the same column names as the
    JSON answer.

    Parameters
    ----------
    directory : str or path
    job_id : str or int, optional
    position_error_unit : `~astropy.units.Unit`, optional
        As for `read_source_list`.

    Returns
    -------
    `collections.OrderedDict`
        As `read_source_list`.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If no band file is found or a file is malformed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ReaderError(f"directory: {directory} is not a directory")
    found = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".txt", ".dat", ".tsv"):
            continue
        for band in BAND_ORDER:
            if band.lower() in path.name.lower():
                if band in found:
                    raise ReaderError(f"{directory}: several files for band {band}: "
                                      f"{found[band].name}, {path.name}")
                found[band] = path
    if not found:
        raise ReaderError(f"{directory}: no source-list file named after a band "
                          f"({', '.join(BAND_ORDER)})")
    payload = {}
    for band, path in found.items():
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if not lines:
            payload[band] = []
            continue
        header = lines[0].lstrip("#! \t").split()
        rows = []
        for number, line in enumerate(lines[1:], start=2):
            values = line.split()
            if len(values) != len(header):
                raise ReaderError(f"{path}, line {number}: {len(values)} values for "
                                  f"{len(header)} columns")
            rows.append(dict(zip(header, values)))
        payload[band] = rows
    return read_source_list(payload, job_id=job_id, position_error_unit=position_error_unit)


class SourceList(OrderedDict):
    """The detected sources: an ordered dict band name -> `~astropy.table.Table`.

    What `read_source_list` returns; an `~collections.OrderedDict` with a
    concise ``repr``, a notebook view and a `plot` method.
    """

    def __repr__(self):
        from ..display import sourcelist_repr
        return sourcelist_repr(self)

    def _repr_html_(self):
        from ..display import sourcelist_html
        return sourcelist_html(self)
