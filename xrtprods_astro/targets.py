# Licensed under a 3-clause BSD style license - see LICENSE
"""
Targets of the one-call queries: a SkyCoord, a name, or a catalogue row.

`resolve_target` turns what the user gave into a `Target`: an object name, a
position (or the instruction to let the service resolve the name), and a
record of how the position was found, reported in the results' meta.

Accepted targets:

* a `~astropy.coordinates.SkyCoord` (one position, any frame);
* a coordinate string (``"335.6985 -7.5179"``, ``"22h22m47.64s -07d31m04.4s"``,
  ``"22:22:47.64 -07:31:04.4"``), read as ICRS the way astroquery's
  ``parse_coordinates`` reads it (see `parse_coordinate_string`);
* a name, resolved on this computer with `SkyCoord.from_name
  <astropy.coordinates.SkyCoord.from_name>` (``resolver="client"``, the
  default from ``conf.name_resolver``) or by the service with its
  ``getCoords`` option (``resolver="service"``, the name sent as given);
* a `~astropy.table.Row` or a one-row `~astropy.table.Table` from a SIMBAD
  query (``main_id`` with ``ra``/``dec`` in degrees, or the older
  ``MAIN_ID`` with sexagesimal ``RA``/``DEC`` strings), a VizieR query
  (``RAJ2000``/``DEJ2000`` or ``_RA``/``_DE``, the name from a common
  identifier column) or a HEASARC query such as 2SXPS (``name``, ``ra``,
  ``dec`` with units).
"""
import logging
import re
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Row, Table

from .exceptions import InvalidRequestError, ResolverError

__all__ = ["Target", "resolve_target", "RESOLVERS", "TableColumns", "find_columns", "row_target",
           "parse_coordinate_string"]

log = logging.getLogger("xrtprods_astro.targets")

#: Where names are resolved: on this computer (Sesame through astropy) or by the service.
RESOLVERS = ("client", "service")

# Column names, in order of preference (compared case-insensitively).
_RA_COLUMNS = ("ra", "raj2000", "_raj2000", "_ra", "ra_icrs", "ra_d", "radeg", "ra_deg")
_DEC_COLUMNS = ("dec", "dej2000", "_dej2000", "_de", "de_icrs", "dec_d", "dedeg", "dec_deg", "decl")
_NAME_COLUMNS = ("main_id", "name", "iauname", "iau_name", "2sxps", "1sxps", "sxps", "source",
                 "object", "objname", "obj_name", "designation", "id", "ident", "simbad", "_2sxps",
                 "source_id", "srcname", "target_name", "target")

#: The columns of a targets table that `find_columns` found (None where absent).
TableColumns = namedtuple("TableColumns", ["name", "coord", "ra", "dec"])


@dataclass
class Target:
    """A resolved target.

    Attributes
    ----------
    name : str
        The object name sent to the service.
    coord : `~astropy.coordinates.SkyCoord` or None
        The position, or None when the service resolves the name.
    get_coords : bool
        True when the service is asked to resolve ``name``.
    meta : dict
        How the target was found: ``target`` (what was given), ``resolver``
        (``"client"`` with ``resolver_service``, ``"service"``, ``"coordinates"``
        or ``"table"``) and ``resolved_coord`` when a name was resolved here.
    """

    name: str
    coord: SkyCoord = None
    get_coords: bool = False
    meta: dict = field(default_factory=dict)

    def request_kwargs(self):
        """Keyword arguments of `~xrtprods_astro.request.ProductRequest` for this target."""
        if self.coord is not None:
            return {"target": self.coord, "name": self.name}
        return {"target": self.name, "get_coords": True}


def _resolver(resolver):
    if resolver is None:
        from .localmode import default_resolver
        # conf.name_resolver, or the service with the server "local": there is no network.
        resolver = default_resolver()
    text = str(resolver).strip().lower()
    if text not in RESOLVERS:
        raise InvalidRequestError(f"resolver: {resolver!r} is not allowed; allowed: "
                                  f"{', '.join(map(repr, RESOLVERS))} (conf.name_resolver sets the default)")
    return text


def _text(value):
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf-8", "replace")
    if np.ma.is_masked(value):
        return ""
    return " ".join(str(value).split())


def _column(colnames, candidates):
    lower = {name.lower(): name for name in colnames}
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return None


def find_columns(table, name_column=None):
    """Find the name and position columns of a targets table (the one column discovery).

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.Row`
    name_column : str, optional
        The column of target names (default: the first of ``main_id``,
        ``name``, ``iauname``, ``object``, ``target``... present, any case).

    Returns
    -------
    `TableColumns`
        ``name``, ``coord`` (a SkyCoord column), ``ra`` and ``dec`` column
        names, None where absent. RA/Dec are found case-insensitively among
        ``ra/dec``, ``RAJ2000/DEJ2000``, ``_RAJ2000/_DEJ2000``, ``_RA/_DE``,
        ``RA_ICRS/DE_ICRS``, ``ra_deg/dec_deg``...

    Raises
    ------
    InvalidRequestError
        If ``name_column`` is not a column, or only one of RA and Dec is found.
    """
    table = table.table if isinstance(table, Row) else table
    cols = list(table.colnames)
    if name_column is not None:
        if name_column not in cols:
            raise InvalidRequestError(f"name_column: no column {name_column!r} in the targets table; "
                                      f"columns: {', '.join(cols)}")
        name_col = name_column
    else:
        name_col = _column(cols, _NAME_COLUMNS)
    coord_col = next((c for c in cols if isinstance(table[c], SkyCoord)), None)
    ra_col = dec_col = None
    if coord_col is None:
        ra_col, dec_col = _column(cols, _RA_COLUMNS), _column(cols, _DEC_COLUMNS)
        if (ra_col is None) != (dec_col is None):
            raise InvalidRequestError(f"target: found the column {ra_col or dec_col!r} but not its partner "
                                      f"(RA in {', '.join(_RA_COLUMNS)}; Dec in {', '.join(_DEC_COLUMNS)}; "
                                      "any case)")
    return TableColumns(name_col, coord_col, ra_col, dec_col)


def row_target(row, columns=None, *, name=None, resolver=None):
    """The `Target` of one table row.

    A row with a position gives it (the name from the name column, else a
    J-name); a row with a name but no position (no coordinate columns, or
    masked ones) is resolved by name like a string target.

    Parameters
    ----------
    row : `~astropy.table.Row`
    columns : `TableColumns`, optional
        Default `find_columns` of the row's table.
    name : str, optional
        Overrides the name column.
    resolver : {"client", "service"}, optional
        For a row with a name only.

    Raises
    ------
    InvalidRequestError
        If the row has neither a readable position nor a name.
    """
    columns = find_columns(row) if columns is None else columns
    name_col = columns.name
    if name is None and name_col is not None:
        name = _text(row[name_col]) or None
    coord = None
    position_columns = None
    if columns.coord is not None:
        coord = row[columns.coord]
        position_columns = (columns.coord,)
    elif columns.ra is not None and not (np.ma.is_masked(row[columns.ra])
                                         or np.ma.is_masked(row[columns.dec])):
        ra, dec = _angle(row, columns.ra, True), _angle(row, columns.dec, False)
        try:
            coord = SkyCoord(ra, dec, frame="icrs")
        except ValueError as exc:
            raise InvalidRequestError(f"target: {columns.ra}={ra}, {columns.dec}={dec} is not a sky "
                                      f"position ({exc})") from None
        position_columns = (columns.ra, columns.dec)
    if coord is None:
        if name is None and columns.ra is not None:
            raise InvalidRequestError(f"target: the row's {columns.ra}/{columns.dec} are masked (no "
                                      "position) and it has no name to resolve")
        if name is None:
            raise InvalidRequestError(
                f"target: the row has no position and no name (looked for RA in {', '.join(_RA_COLUMNS)}, "
                f"Dec in {', '.join(_DEC_COLUMNS)}, a SkyCoord column, and a name in "
                f"{', '.join(_NAME_COLUMNS)}, any case; it has {', '.join(row.colnames)})")
        found = resolve_target(name, resolver=resolver)
        found.meta["name_column"] = name_col
        return found
    if name is None:
        from .request import coord_name
        name = coord_name(coord)
    meta = {"target": name, "resolver": "table", "name_column": name_col,
            "position_columns": position_columns}
    return Target(name=name, coord=coord, meta=meta)


def _angle(row, column, is_ra):
    value = row[column]
    if np.ma.is_masked(value):
        raise InvalidRequestError(f"target: the row's {column} is masked (no position)")
    unit = getattr(row.table[column], "unit", None) if hasattr(row, "table") else None
    if isinstance(value, u.Quantity):
        return value.to(u.deg)
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        text = _text(value)
        try:
            return float(text) * u.deg
        except ValueError:
            pass
        # Sexagesimal strings: RA in hours, Dec in degrees (SIMBAD's and VizieR's habit).
        from astropy.coordinates import Angle
        try:
            return Angle(text, unit=u.hourangle if is_ra else u.deg).to(u.deg)
        except (ValueError, u.UnitsError) as exc:
            raise InvalidRequestError(f"target: cannot read {column}={text!r} as an angle ({exc})") from None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"target: cannot read {column}={value!r} as an angle") from None
    if unit is not None and unit != u.dimensionless_unscaled:
        try:
            return (number * u.Unit(unit)).to(u.deg)
        except u.UnitConversionError:
            raise InvalidRequestError(f"target: column {column} has unit {unit}, not an angle") from None
    return number * u.deg


# Text made only of numbers, signs, separators and h/m/s/d marks: a position, never a name.
_COORD_TEXT = re.compile(r"^[\s\d.,:+\-hmsd°'\"]+$")
_PLAIN_PAIR = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*[,\s]\s*[+-]?\d+(\.\d*)?\s*$")
# Sexagesimal marks (22h22m, 22:22:47, -07d31m): text with them was meant as a position, so a
# typo in it ("22h22m4x.6s") is an error to report, not a name to send to a resolver.
_SEXAGESIMAL = re.compile(r"\d\s*h\s*\d+\s*m|\d+:\d+:\d|\d\s*d\s*\d+\s*m", re.IGNORECASE)
# The leading RA of a position text and the mark after it: hours (h, :, a space and more digits)
# or degrees (d, °, a lone decimal number).
_LEADING_RA = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?)\s*(h|:|d|°|\s+\d|,|\s)?", re.IGNORECASE)


def _check_ra_range(text, units):
    """Refuse an RA beyond its circle: SkyCoord would wrap 395.6985 deg to 35.6985 deg silently."""
    match = _LEADING_RA.match(text)
    if not match:
        return
    value, mark = float(match.group(1)), (match.group(2) or "").strip().lower()
    in_hours = mark in ("h", ":") or (units[0] == u.hourangle and mark not in ("d", "°"))
    limit, unit = (24, "h") if in_hours else (360, "deg")
    if not 0 <= value < limit:
        raise InvalidRequestError(f"target: {text!r} has RA {match.group(1)} {unit}, outside 0 to {limit} "
                                  f"{unit}; give RA and Dec in degrees ('335.6985 -7.5179') or "
                                  "sexagesimal ('22h22m47.64s -07d31m04.4s')")


def parse_coordinate_string(text):
    """Read a string as an ICRS position, as astroquery's ``parse_coordinates`` does; None for a name.

    As in astroquery, the string is first given to `~astropy.coordinates.SkyCoord`
    (units in the text: ``"22h22m47.64s -07d31m04.4s"``); text without units
    is then read in degrees when it is two decimal numbers (``"335.6985
    -7.5179"``). Unlike astroquery, sexagesimal text without units
    (``"22:22:47.64 -07:31:04.4"``, ``"22 22 47.64 -07 31 04.4"``) is read
    with RA in hours, the convention of SIMBAD and of the catalogues
    (astroquery would take 22:22:47.64 as degrees). Anything else is a name.

    Parameters
    ----------
    text : str

    Returns
    -------
    `~astropy.coordinates.SkyCoord` or None
        None when the text is a name.

    Raises
    ------
    InvalidRequestError
        If the text is made of numbers, or carries sexagesimal marks
        (``22h22m``, ``22:22:``), but is not a sky position: Dec beyond 90
        degrees, RA outside 0-360 degrees or 0-24 hours (never wrapped), or a
        typo such as ``"22h22m4x.6s -07d31m04.4s"`` (never sent to a resolver
        as a name).

    Examples
    --------
    >>> parse_coordinate_string("22:22:47.64 -07:31:04.4").to_string(precision=4)
    '335.6985 -7.5179'
    >>> parse_coordinate_string("GRB 200416A") is None
    True
    """
    text = text.strip()
    meant_as_position = bool(_COORD_TEXT.match(text) or _SEXAGESIMAL.search(text))
    units = (u.deg, u.deg) if _PLAIN_PAIR.match(text) else (u.hourangle, u.deg)
    try:
        coord = SkyCoord(text, frame="icrs")
    except u.UnitsError:
        pass  # the text's units are not those of an ICRS position: say so below
    except ValueError as exc:
        if not isinstance(exc.__context__, u.UnitsError) and not meant_as_position:
            return None  # not coordinates (astroquery resolves it as a name)
    else:
        _check_ra_range(text, units)
        return coord
    try:
        coord = SkyCoord(text.replace(",", " "), unit=units, frame="icrs")
    except (ValueError, u.UnitsError) as exc:
        if meant_as_position:
            raise InvalidRequestError(f"target: {text!r} is not a sky position ({exc}); give RA and Dec "
                                      "in degrees ('335.6985 -7.5179') or sexagesimal "
                                      "('22h22m47.64s -07d31m04.4s')") from None
        return None
    _check_ra_range(text, units)
    return coord


def _from_row(row, name, resolver):
    if isinstance(row, Table):
        if len(row) != 1:
            raise InvalidRequestError(
                f"target: a Table of {len(row)} rows; give one row (table[i]) or a one-row table "
                "(for many sources use xrtprods_astro.batch)")
        row = row[0]
    return row_target(row, name=name, resolver=resolver)


def resolve_target(target, *, name=None, resolver=None):
    """Turn a user's target into a name and a position.

    Parameters
    ----------
    target : `~astropy.coordinates.SkyCoord`, str, `~astropy.table.Row`, `~astropy.table.Table` or `Target`
        See the module documentation (a `Target` is returned unchanged).
    name : str, optional
        The object name to use (a SkyCoord's default is ``J222247.6-073104``
        style; a row's is its identifier).
    resolver : {"client", "service"}, optional
        For a name: where to resolve it; default ``conf.name_resolver``.

    Returns
    -------
    `Target`

    Raises
    ------
    ResolverError
        If a name cannot be resolved on this computer (the message names it).
    InvalidRequestError
        If the target is none of the accepted kinds.
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidRequestError(f"name: {name!r} is not a non-empty string")
    if isinstance(target, Target):
        return target
    if isinstance(target, SkyCoord):
        if not target.isscalar:
            raise InvalidRequestError(f"target: a SkyCoord of {target.size} positions; give one "
                                      "(for many sources use xrtprods_astro.batch)")
        from .request import coord_name
        return Target(name=name or coord_name(target), coord=target,
                      meta={"target": name or coord_name(target), "resolver": "coordinates"})
    if isinstance(target, (Row, Table)):
        return _from_row(target, name, resolver)
    if isinstance(target, str):
        text = target.strip()
        if not text:
            raise InvalidRequestError("target: an empty name")
        coord = parse_coordinate_string(text)
        if coord is not None:
            from .request import coord_name
            log.info("Read %r as the ICRS position RA=%.5f, Dec=%.5f deg", text, coord.ra.deg, coord.dec.deg)
            return Target(name=name or coord_name(coord), coord=coord,
                          meta={"target": text, "resolver": "coordinates"})
        how = _resolver(resolver)
        label = name or text
        if how == "service":
            return Target(name=label, get_coords=True,
                          meta={"target": text, "resolver": "service"})
        try:
            coord = SkyCoord.from_name(text)
        except Exception as exc:  # noqa: BLE001 - astropy raises NameResolveError or network errors
            raise ResolverError(f"target: could not resolve the name {text!r} on this computer "
                                f"({type(exc).__name__}: {exc}). Give a SkyCoord, or "
                                "resolver='service' to let UKSSDC resolve it.") from exc
        log.info("Resolved %r to RA=%.5f, Dec=%.5f deg (Sesame, via astropy)", text, coord.icrs.ra.deg,
                 coord.icrs.dec.deg)
        return Target(name=label, coord=coord,
                      meta={"target": text, "resolver": "client", "resolver_service": "Sesame (astropy)",
                            "resolved_coord": coord})
    raise InvalidRequestError(
        f"target: {target!r} is not a target; give a SkyCoord, a name, or a row of a SIMBAD, "
        "VizieR or HEASARC table (submit also takes a ProductRequest or a dict of wire parameters)")
