# Licensed under a 3-clause BSD style license - see LICENSE
"""
Client of the UKSSDC catalogue functions of ``API/main.php``: catalogue queries (``getMetadata``,
``queryDB``) over the LSXPS, 2SXPS, observation and GRB tables, the full-table downloads
(``getOldSXPSTables``, ``getSXPSTable``) and the SXPS upper-limit server (``getSXPSUL``), and,
through the mixin `xrtprods_astro.sxps.SXPSProducts`, the LSXPS / 2SXPS products (source,
transient and dataset details, light curves, spectra, images). See
shared/spec/ukssdc-catalogues.md.

Compared with ``swifttools.ukssdc.query`` and ``swifttools.ukssdc.data.SXPS``:

* queries return every row, paging past the service's 1000-row cap (the official client stops at
  1000 rows without a word), unless ``row_limit`` says otherwise;
* results are `~astropy.table.Table` objects: units and descriptions from the metadata, positions
  as a `~astropy.coordinates.SkyCoord` column ``coord``, dates as `~astropy.time.Time` columns;
* upper limits follow a time-out up by its ULID automatically and keep the result on disk, in
  the client's private cache folder, on first fetch (the service deletes it once fetched), with
  the ULID of a request still pending, so that no script, process or interruption loses one; a
  request whose answer was lost is never sent again by itself (that would start a second job);
  they send ``sigma`` and every option they accept, and read booleans as booleans (``"0"`` is
  False);
* a Table of targets (SIMBAD, VizieR...) is asked a few targets at once, in input order, with
  failures collected on request.
"""
import hashlib
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from math import erf

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Column, Table, vstack
from astropy.time import Time
from astroquery.query import BaseQuery

from .exceptions import InvalidRequestError, JobTimeoutError, RemoteServiceError, XRTProductsError
from .fileio import atomic_write
from .locking import file_lock
from .services import ServiceClient
from .sxps import SXPSProducts
from .transport import Transport
from .vocabulary import CATALOGS

__all__ = ["CataloguesClass", "XRTCatalogues", "CATALOGS", "PAGE_SIZE", "POSITION_SOURCES", "FULL_TABLES"]

log = logging.getLogger("xrtprods_astro.catalogues")

#: The tables of the full-table downloads (``getSXPSTable``; spec §3.10).
FULL_TABLES = {
    "LSXPS": ("sources", "datasets", "detections", "obssources", "xcorr", "transients", "oldstacks"),
    "2SXPS": ("sources", "datasets", "detections", "xcorr"),
}
#: Rows per queryDB page: the service's cap (bigger answers exhaust its memory).
PAGE_SIZE = 1000
_OPERATORS = ("<", ">", "=", "<=", ">=", "LIKE", "NOT LIKE", "!=", "BETWEEN", "IS NULL", "IS NOT NULL")
_UL_BANDS = ("total", "soft", "medium", "hard")
_UL_CATALOGS = ("LSXPS", "2SXPS")
_WHICH_DATA = ("deepest", "all")
#: Folder of the cache holding upper-limit results and pending ULIDs (never expire: they are final).
_UL_FOLDER = "upper_limits"
_UNIT_WORDS = {"degree": u.deg, "degrees": u.deg, "deg": u.deg, "arcsec": u.arcsec, "arcmin": u.arcmin,
               "s": u.s, "sec": u.s, "seconds": u.s, "ct/s": u.ct / u.s, "counts/s": u.ct / u.s,
               "erg/cm2/s": u.erg / u.cm ** 2 / u.s, "kev": u.keV, "cm-2": u.cm ** -2,
               "ct": u.ct, "counts": u.ct, "d": u.d, "days": u.d, "mag": u.mag, "erg/cm2": u.erg / u.cm ** 2,
               "ph/cm2/s": u.ph / u.cm ** 2 / u.s}
#: Tables with the predefined subsets (spec §4.1), and the subsets' names.
_SUBSET_TABLES = {("LSXPS", "sources"), ("LSXPS", "datasets"), ("2SXPS", "sources"), ("2SXPS", "datasets")}
_SUBSETS = ("clean", "ultraclean")
#: The position sources of the GRB tables, each an (RACol, DecCol) pair, the first the default
#: (spec §4.3). The official client sends "SPER_Decl" for Enhanced (spec §7 #19): the enhanced
#: position's declination is Enh_Decl.
POSITION_SOURCES = {
    ("UK_XRT", "XRTLiveCat"): {"best": ("RA", "Decl"), "Onboard": ("Onboard_RA", "Onboard_Decl"),
                               "SPER": ("SPER_RA", "SPER_Decl"), "Standard": ("PSF_RA", "PSF_Decl"),
                               "Enhanced": ("Enh_RA", "Enh_Decl")},
    ("SDC_GRB", "SDC_Data_Table"): {"BAT": ("BAT_RA", "BAT_Dec"), "XRT": ("XRT_RA", "XRT_Dec"),
                                    "UVOT": ("UVOT_RA", "UVOT_Dec")},
    ("BAT_GRB", "BATGRBCat"): {"BAT": ("RA_ground", "DEC_ground")},
}


def _unit_of(description):
    """The unit written in brackets at the end of a metadata description, or None.

    Known words first ("degree", "ct/s"); else anything astropy reads as a unit with a physical
    type ("(J2000)" or "(1 = yes)" are no units).
    """
    match = re.search(r"\(([^()]+)\)\s*$", description or "")
    if match is None:
        return None
    text = match.group(1).strip()
    if text.lower() in _UNIT_WORDS:
        return _UNIT_WORDS[text.lower()]
    try:
        unit = u.Unit(text, parse_strict="silent")
    except (ValueError, TypeError):
        return None
    if isinstance(unit, u.UnrecognizedUnit) or unit == u.dimensionless_unscaled:
        return None
    return unit


def _choice(value, name, allowed):
    if value not in allowed:
        raise InvalidRequestError(f"{name} is {value!r}, but must be one of: "
                                  + ", ".join(map(str, allowed)))
    return value


def _as_bool(value):
    """A service boolean: JSON true/false, 0/1 or their strings ("0" is False)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value) if value is not None else False


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _table_targets(table, lenient=False):
    """One SkyCoord (or, for a row with a name only, the name) per row of a targets Table.

    With ``lenient``, a row that names no target gives its `InvalidRequestError` in its place (a
    failure of that target alone) instead of raising.
    """
    from .targets import find_columns, row_target
    columns = find_columns(table)
    out = []
    for row in table:
        try:
            target = row_target(row, columns, resolver="service")
        except InvalidRequestError as exc:
            if not lenient:
                raise
            out.append(exc)
            continue
        out.append(target.coord.icrs if target.coord is not None else target.name)
    return out


def _target_text(target):
    if isinstance(target, SkyCoord):
        return target.to_string("decimal", precision=6)
    return str(target) if not isinstance(target, Exception) else "(no target)"


def _stack(parts, indices=None):
    """Per-target Tables stacked, each row with its target's ``target_index``."""
    indices = range(len(parts)) if indices is None else indices
    for i, part in zip(indices, parts):
        part.add_column(np.full(len(part), i), name="target_index", index=0)
    if not parts:
        return Table({"target_index": np.zeros(0, dtype=int)})
    return vstack(parts, metadata_conflicts="silent")


class CataloguesClass(SXPSProducts, ServiceClient, BaseQuery):
    """Client of the UKSSDC catalogue queries, the SXPS upper-limit server and the LSXPS / 2SXPS
    products (`~xrtprods_astro.sxps.SXPSProducts`).

    Parameters
    ----------
    server : str, optional
        Root URL of the UKSSDC site, or ``"local"``; default ``conf.server``.
    timeout : float, optional
        Time limit of one HTTP call in seconds; default ``conf.timeout``.

    Attributes
    ----------
    ROW_LIMIT : int
        Default most rows a query returns; -1 (the default) means all of them.
    UL_RETRIES : int
        How many times a timed-out upper-limit request is polled again by its ULID.
    """

    ROW_LIMIT = -1
    UL_RETRIES = 4
    #: Seconds an upper-limit call may take: the service waits 5 minutes for its back end before it
    #: answers TIMEOUT (spec §2.4), so a shorter HTTP limit would cut off answers that are coming.
    UL_CALL_TIMEOUT = 330.0

    def __init__(self, *, server=None, timeout=None):
        BaseQuery.__init__(self)
        self._server = server
        self._transport = Transport(self)
        self._transport.timeout = timeout
        self._ul_transport = Transport(self)
        self._ul_transport.timeout = max(float(timeout or 0), self.UL_CALL_TIMEOUT)
        self._metadata = {}     # (server, database, table) -> metadata Table
        self._memo_lock = threading.Lock()

    def _call(self, func, payload, **kwargs):
        # getSXPSUL has its own transport: the service may hold it 5 minutes (UL_CALL_TIMEOUT).
        transport = self._ul_transport if func == "getSXPSUL" else self._transport
        return transport.call_common(f"{self.server}/API/main.php", func, payload, **kwargs)

    # ------------------------------------------------------------------ metadata
    @staticmethod
    def list_catalogs():
        """The databases and tables of the catalogue query interface.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``catalog`` and ``table``, one row per table.
        """
        rows = [(db, table) for db, tables in CATALOGS.items() for table in tables]
        return Table(rows=rows, names=("catalog", "table"), dtype=(str, str))

    @staticmethod
    def _check_table(catalog, table):
        _choice(catalog, "catalog", tuple(CATALOGS))
        if catalog in ("LSXPS", "2SXPS") and isinstance(table, str):
            table = table.lower()
        return _choice(table, "table", CATALOGS[catalog])

    def get_catalog_columns(self, catalog, table, *, cache=False):
        """The columns of one table, from the service's metadata (fetched once per session).

        Parameters
        ----------
        catalog : str
            A database of `list_catalogs`, e.g. ``"LSXPS"`` or ``"obs"``.
        table : str
            One of its tables, e.g. ``"sources"``.
        cache : bool
            Whether the metadata may come from (and go to) the cache folder.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``name``, ``type`` (the service's ``NUM/FLOAT/INT/UTC/COORDH/COORDD/TXT``; a
            ``NUM`` column the service prints as an integer, Fstring ``%d``, is ``INT``),
            ``unit`` (read from the description, "" if none), ``basic`` (returned by default),
            ``is_obsid``, ``description``.

        Raises
        ------
        InvalidRequestError
            For a catalog or table not in `list_catalogs`, before anything is sent.
        """
        table = self._check_table(catalog, table)
        key = (self.server, catalog, table)
        with self._memo_lock:
            if key in self._metadata:
                return self._metadata[key].copy()
        data = self._call("getMetadata", {"database": catalog, "table": table}, required=("metadata",),
                          cache=bool(cache))
        meta = data["metadata"]
        try:
            names = list(meta["columns"])
            rows = [dict(zip(names, r)) if not isinstance(r, dict) else r for r in meta["metadata"]]
            result = Table()
            result["name"] = [str(r["ColName"]) for r in rows]
            # A NUM column printed as an integer (the GRB tables' Fstring "%d") is an INT column.
            result["type"] = ["INT" if str(r.get("Type", "")).upper() == "NUM"
                              and str(r.get("Fstring", "")) == "%d" else str(r.get("Type", "TXT")).upper()
                              for r in rows]
            units = [_unit_of(str(r.get("Description", ""))) for r in rows]
            result["unit"] = [str(unit) if unit is not None else "" for unit in units]
            result["basic"] = ["BASIC" in str(r.get("Class", "")) for r in rows]
            result["is_obsid"] = [_as_bool(r.get("IsObsCol", 0)) for r in rows]
            result["description"] = [str(r.get("Description", "")) for r in rows]
        except (KeyError, TypeError) as exc:
            raise RemoteServiceError(f"getMetadata answered metadata the client cannot read ({exc!r}).",
                                     endpoint="main.php:getMetadata") from None
        result.meta.update(catalog=catalog, table=table)
        with self._memo_lock:
            self._metadata[key] = result
        return result.copy()

    # ------------------------------------------------------------------ queries
    def _constraints(self, constraints, columns):
        out = []
        for name, spec in constraints.items():
            if name not in columns:
                raise InvalidRequestError(f"{name} is not a column of this table; the columns are: "
                                          + ", ".join(columns))
            if not isinstance(spec, tuple):
                spec = ("=", spec)
            first, rest = self._clause(name, spec)
            con = {"colName": name, "filter": first[0], "val": first[1], "combiner": None,
                   "filter2": None, "val2": None}
            if rest:
                # A second clause on the same column: (op, value, "OR"|"AND", op2, value2).
                combiner = str(rest[0]).upper()
                _choice(combiner, f"the combiner of {name}", ("AND", "OR"))
                second, left = self._clause(name, rest[1:])
                if left or not rest[1:]:
                    raise InvalidRequestError(
                        f"{name}: give one or two clauses, e.g. {name}=('<', 1000, 'OR', '>', 2500) or "
                        f"{name}=('<', 3, 'OR', 'BETWEEN', 7, 10)")
                con.update(combiner=combiner, filter2=second[0], val2=second[1])
            out.append(con)
        return out

    def _clause(self, name, spec):
        """((operator, wire value), the items left) of the clause at the start of ``spec``."""
        op = str(spec[0]).upper()
        _choice(op, f"the operator of {name}", _OPERATORS)
        if op in ("IS NULL", "IS NOT NULL"):
            return (op, None), tuple(spec[1:])
        if op == "BETWEEN":
            if len(spec) >= 2 and isinstance(spec[1], (list, tuple)) and len(spec[1]) == 2:
                return (op, [self._wire(spec[1][0]), self._wire(spec[1][1])]), tuple(spec[2:])
            if len(spec) < 3:
                raise InvalidRequestError(f"{name}: BETWEEN takes two values, "
                                          f"e.g. {name}=('BETWEEN', 1, 5)")
            return (op, [self._wire(spec[1]), self._wire(spec[2])]), tuple(spec[3:])
        if len(spec) < 2:
            raise InvalidRequestError(f"{name}: {op} takes one value, e.g. {name}=({op!r}, 10)")
        return (op, self._wire(spec[1])), tuple(spec[2:])

    @staticmethod
    def _wire(value):
        if isinstance(value, u.Quantity):
            return value.value.item() if value.isscalar else value.value.tolist()
        if isinstance(value, Time):
            return value.utc.isot
        if isinstance(value, np.generic):
            return value.item()
        return value

    def _limit(self, row_limit):
        limit = self.ROW_LIMIT if row_limit is None else row_limit
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit == 0 or limit < -1:
            raise InvalidRequestError(f"row_limit is {row_limit!r}, but must be a positive integer, or -1 "
                                      "for all rows.")
        return int(limit)

    @staticmethod
    def _check_subset(catalog, table, subset):
        """The wire ``subset`` (None, ``clean`` or ``ultraclean``), checked against the table."""
        if subset is None:
            return None
        if (catalog, table) not in _SUBSET_TABLES:
            tables = ", ".join(sorted("/".join(k) for k in _SUBSET_TABLES))
            raise InvalidRequestError(f"subset is {subset!r}, but {catalog}/{table} has no subsets; the "
                                      f"tables with subsets are: {tables}")
        wire = str(subset).lower().replace("-", "") if isinstance(subset, str) else subset
        return _choice(wire, "subset", _SUBSETS)

    @staticmethod
    def _check_position_source(catalog, table, position_source):
        """The (RACol, DecCol) of a GRB table's cone, or None for the other tables."""
        sources = POSITION_SOURCES.get((catalog, table))
        if sources is None:
            if position_source is not None:
                raise InvalidRequestError(f"position_source is {position_source!r}, but only the GRB tables "
                                          "have several positions: " + ", ".join(
                                              "/".join(k) for k in POSITION_SOURCES))
            return None
        if position_source is None:
            return next(iter(sources.values()))
        by_lower = {k.lower(): k for k in sources}
        key = by_lower.get(str(position_source).lower())
        if key is None:
            _choice(position_source, f"position_source of {catalog}/{table}", tuple(sources))
        return sources[key]

    def _query(self, catalog, table, *, columns=None, sort_by=None, sort_descending=False,
               row_limit=None, constraints=None, cone=None, subset=None, position_source=None, cache=False,
               get_query_payload=False):
        table = self._check_table(catalog, table)
        wire_subset = self._check_subset(catalog, table, subset)
        positions = self._check_position_source(catalog, table, position_source)
        limit = self._limit(row_limit)
        meta = self.get_catalog_columns(catalog, table, cache=cache)
        names = list(meta["name"])
        if columns is None:
            columns = [n for n, basic in zip(meta["name"], meta["basic"]) if basic]
        elif columns == "all":
            columns = names
        else:
            columns = [columns] if isinstance(columns, str) else list(columns)
            bad = [c for c in columns if c not in names]
            if bad:
                raise InvalidRequestError(f"columns has {', '.join(bad)}, but must be from: "
                                          + ", ".join(names))
        if sort_by is not None:
            _choice(sort_by, "sort_by", names)
        payload = {"database": catalog, "table": table, "adUnits": "arcsec",
                   "sortDir": "DESC" if sort_descending else "ASC", "cols": columns}
        if sort_by is not None:
            payload["sortBy"] = sort_by
        if constraints:
            payload["constraints"] = self._constraints(constraints, names)
        if wire_subset is not None:
            payload["subset"] = wire_subset
        if cone is not None:
            payload.update(cone)
            if positions is not None:
                payload.update(RACol=positions[0], DecCol=positions[1])
        if get_query_payload:
            return {**payload, "numRows": PAGE_SIZE if limit == -1 else min(PAGE_SIZE, limit), "firstRow": 0}
        rows, extra, first = [], {}, 0
        while True:
            size = PAGE_SIZE if limit == -1 else min(PAGE_SIZE, limit - len(rows))
            data = self._call("queryDB", {**payload, "numRows": size, "firstRow": first},
                              required=("Results", "NumRows"), cache=bool(cache))
            page = data["Results"]
            if not isinstance(page, list) or int(data["NumRows"]) != len(page):
                raise RemoteServiceError(f"queryDB answered NumRows={data['NumRows']!r} with "
                                         f"{len(page) if isinstance(page, list) else page!r} rows.",
                                         endpoint="main.php:queryDB")
            if len(page) > size or (page and rows and page == rows[-len(page):]):
                # A service that ignores firstRow would be paged for ever: refuse its answer.
                raise RemoteServiceError(f"queryDB answered {len(page)} rows for numRows={size}, "
                                         f"firstRow={first}, repeating or exceeding the page asked for.",
                                         endpoint="main.php:queryDB")
            rows.extend(page)
            extra = {k: data[k] for k in ("ResolvedInfo", "ResolvedRA", "ResolvedDec") if k in data}
            first += len(page)
            if len(page) < size or (limit != -1 and len(rows) >= limit):
                break
        result = self._to_table(rows, columns, meta, cone is not None, positions)
        result.meta.update(catalog=catalog, table=table, **extra)
        if wire_subset is not None:
            result.meta["subset"] = wire_subset
        if positions is not None and cone is not None:
            result.meta["position_columns"] = positions
        return result

    @staticmethod
    def _to_table(rows, columns, meta, cone, positions=None):
        info = {name: (typ, unit, desc, obs) for name, typ, unit, desc, obs
                in zip(meta["name"], meta["type"], meta["unit"], meta["description"], meta["is_obsid"])}
        result = Table()
        if cone:
            result["_r"] = Column([_as_float(r.get("_r")) for r in rows], unit=u.arcsec, dtype=float,
                                  description="Distance from the search position")
        ra_dec = [None, None]
        for name in columns:
            typ, unit, desc, obs = info[name]
            values = [r.get(name) for r in rows]
            if obs:
                col = Column([("%011d" % int(v)) if v is not None else "" for v in values], dtype=str)
            elif typ in ("NUM", "FLOAT", "INT"):
                data = [_as_float(v) for v in values]
                integral = typ == "INT" and all(v is not None for v in values)
                col = Column(np.array(data, dtype=int if integral and data else float), unit=unit or None)
            elif typ in ("COORDH", "COORDD"):
                col = Column(np.array([_as_float(v) for v in values], dtype=float), unit=u.deg)
                ra_dec[typ == "COORDD"] = ra_dec[typ == "COORDD"] or name
            elif typ == "UTC":
                good = [v is not None for v in values]
                texts = [str(v).replace(" ", "T") if v is not None else "2000-01-01T00:00:00" for v in values]
                col = Time(texts, scale="utc", format="isot") if texts else Time([], format="isot")
                if not all(good):
                    col[~np.array(good)] = np.ma.masked
                result[name] = col
                result[name].info.description = desc
                continue
            else:
                col = Column(["" if v is None else str(v) for v in values], dtype=str)
            col.description = desc
            result[name] = col
        if positions is not None and all(p in result.colnames for p in positions):
            ra_dec = list(positions)        # a GRB table's chosen position source gives the SkyCoord
        if all(ra_dec):
            result["coord"] = SkyCoord(result[ra_dec[0]], result[ra_dec[1]], frame="icrs")
            result["coord"].info.description = f"Position from {ra_dec[0]}, {ra_dec[1]}"
        return result

    def query_criteria(self, catalog, table, *, columns=None, sort_by=None, sort_descending=False,
                       row_limit=None, subset=None, cache=False, get_query_payload=False, **constraints):
        """Rows of a catalogue table that meet constraints.

        Parameters
        ----------
        catalog, table : str
            As in `list_catalogs`.
        columns : list of str or "all", optional
            Columns to return; default the table's basic columns.
        sort_by : str, optional
            Column to order by (the service's order otherwise).
        sort_descending : bool
        row_limit : int, optional
            Most rows to return; -1 for all; default ``ROW_LIMIT`` (all). Pages of 1000 rows are
            fetched one after another until it is reached.
        subset : {"clean", "ultraclean"}, optional
            A predefined subset of the LSXPS and 2SXPS ``sources`` and ``datasets`` tables
            (``"ultra-clean"`` and any case accepted); the whole table by default.
        **constraints
            ``column=value`` (equality), ``column=(op, value)`` with op one of ``<, >, =, <=, >=,
            LIKE, NOT LIKE, !=``, ``column=("BETWEEN", low, high)``, or ``column=("IS NULL",)``;
            two clauses on one column joined by ``"OR"`` or ``"AND"``, e.g.
            ``xrt_exposure=("<", 200, "OR", ">", 1000)``. Quantities are sent in their own unit's
            value; Times as UTC ISO text.
        cache : bool
            False (default): ask the service (LSXPS is updated hourly). True: the pages come from
            the cache folder (astroquery's cache: ``cache_location``, ``conf.cache_timeout``,
            ``clear_cache()``) when they are there, without a request, and go to it when not.
        get_query_payload : bool
            Return the body of the first page's request instead of sending it (the table's
            metadata may be fetched to know its columns).

        Returns
        -------
        `~astropy.table.Table`
            Units and descriptions from the metadata, ``Time`` columns for dates, a `SkyCoord`
            column ``coord``; ``meta`` says the catalog, table and subset.

        Raises
        ------
        InvalidRequestError
            For a table, column, operator or subset the table does not have, before anything is sent.
        """
        return self._query(catalog, table, columns=columns, sort_by=sort_by, subset=subset,
                           sort_descending=sort_descending, row_limit=row_limit, constraints=constraints,
                           cache=cache, get_query_payload=get_query_payload)

    @staticmethod
    def _radius(radius):
        try:
            value = (radius.to(u.arcsec) if isinstance(radius, u.Quantity)
                     else u.Quantity(radius, u.arcsec))
        except (u.UnitsError, TypeError, ValueError):
            raise InvalidRequestError(f"radius is {radius!r}, but must be an angle such as 5 * u.arcmin "
                                      "(a number is arcseconds).") from None
        if not value.isscalar or not value.value > 0:
            raise InvalidRequestError(f"radius is {radius!r}, but must be one positive angle.")
        return float(value.value)

    def query_region(self, coordinates, radius=5 * u.arcmin, *, catalog="LSXPS", table="sources",
                     columns=None, row_limit=None, subset=None, position_source=None, cache=False,
                     errors="raise", max_workers=None, progress=True, get_query_payload=False, **constraints):
        """Rows of a catalogue table within ``radius`` of a position, nearest first.

        Parameters
        ----------
        coordinates : `~astropy.coordinates.SkyCoord`, str or `~astropy.table.Table`
            One position, or an array of them, or a Table of targets (RA/Dec or SkyCoord columns, as
            from SIMBAD, VizieR or HEASARC; a row with a name only is resolved by the service):
            queried target by target, at most ``max_workers`` at once, and stacked in input order
            with a ``target_index`` column.
        radius : `~astropy.units.Quantity`
            Cone radius (a number is arcseconds).
        catalog, table, columns, row_limit, subset, cache, get_query_payload, **constraints
            As in `query_criteria` (a list of bodies for several targets).
        errors, max_workers, progress
            For several targets, as in `get_upper_limits`; with ``cache=True`` a run started again
            takes the targets it finished from the cache.
        position_source : str, optional
            GRB tables only: which of their positions the cone is on (`POSITION_SOURCES`):
            ``UK_XRT/XRTLiveCat``: ``best`` (default), ``Enhanced``, ``Standard``, ``SPER``,
            ``Onboard``; ``SDC_GRB/SDC_Data_Table``: ``BAT`` (default), ``XRT``, ``UVOT``;
            ``BAT_GRB/BATGRBCat``: ``BAT``. Case-insensitive. The ``coord`` column is that position.

        Returns
        -------
        `~astropy.table.Table`
            With ``_r`` (arcsec) from the position.
        """
        rad = self._radius(radius)
        _choice(errors, "errors", ("raise", "collect"))
        # Checked once, before the first of many requests.
        self._check_subset(catalog, self._check_table(catalog, table), subset)
        self._check_position_source(catalog, self._check_table(catalog, table), position_source)
        many = (_table_targets(coordinates, lenient=True) if isinstance(coordinates, Table)
                else list(coordinates.icrs) if isinstance(coordinates, SkyCoord) and not coordinates.isscalar
                else None)
        if many is not None:
            # The table and columns checked, and the metadata fetched, once before any target is asked.
            self.get_catalog_columns(catalog, table, cache=cache)

            def one(target):
                ask = self.query_region if isinstance(target, SkyCoord) else self.query_object
                return ask(target, rad * u.arcsec, catalog=catalog, table=table, columns=columns,
                           row_limit=row_limit, subset=subset, position_source=position_source,
                           cache=cache, get_query_payload=get_query_payload, **constraints)
            if get_query_payload:
                return [one(t) for t in many]
            return self._for_each(one, many, errors=errors, max_workers=max_workers, progress=progress,
                                  what="cone searches")
        if isinstance(coordinates, str):
            coordinates = SkyCoord(coordinates, unit=(u.deg, u.deg)) if re.fullmatch(
                r"[\d.+\-\s,]+", coordinates) else SkyCoord(coordinates)
        if not isinstance(coordinates, SkyCoord):
            raise InvalidRequestError(f"coordinates is {coordinates!r}, but must be a SkyCoord "
                                      "(use query_object for a name).")
        icrs = coordinates.icrs
        cone = {"searchRA": float(icrs.ra.deg), "searchDec": float(icrs.dec.deg), "searchRad": rad}
        return self._query(catalog, table, columns=columns, row_limit=row_limit, constraints=constraints,
                           cone=cone, subset=subset, position_source=position_source, cache=cache,
                           get_query_payload=get_query_payload)

    def query_object(self, name, radius=5 * u.arcmin, *, catalog="LSXPS", table="sources", columns=None,
                     row_limit=None, subset=None, position_source=None, cache=False, get_query_payload=False,
                     **constraints):
        """Rows of a catalogue table near an object, resolved by name on the service.

        Parameters
        ----------
        name : str
            Object name (SIMBAD/MARS/TNS through the service).
        radius, catalog, table, columns, row_limit, subset, position_source
            As in `query_region`.
        cache, get_query_payload, **constraints
            As in `query_region`.

        Returns
        -------
        `~astropy.table.Table`
            Its meta holds the service's ``ResolvedInfo``, ``ResolvedRA`` and ``ResolvedDec``.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError(f"name is {name!r}, but must be an object name.")
        cone = {"searchName": name.strip(), "searchRad": self._radius(radius)}
        return self._query(catalog, table, columns=columns, row_limit=row_limit, constraints=constraints,
                           cone=cone, subset=subset, position_source=position_source, cache=cache,
                           get_query_payload=get_query_payload)

    # ------------------------------------------------------------------ upper limits
    def _ul_payload(self, catalog, bands, which_data, sigma, detections_as_rates, skip_detections,
                    use_catalog_values):
        """The getSXPSUL options (without the position), checked before anything is sent."""
        _choice(catalog, "catalog", _UL_CATALOGS)
        _choice(which_data, "which_data", _WHICH_DATA)
        if isinstance(bands, str) and bands.lower() == "all":
            wire_bands = "all"
        else:
            listed = [bands] if isinstance(bands, str) else list(bands)
            for band in listed:
                _choice(str(band).lower(), "bands", ("all",) + _UL_BANDS)
            wire_bands = [str(b).lower() for b in listed]
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise InvalidRequestError(f"sigma is {sigma!r}, but must be a positive number.")
        return {"catalogue": catalog, "bands": wire_bands, "whichData": which_data, "timeFormat": "met",
                "sigma": float(sigma), "detectionsAsRates": bool(detections_as_rates),
                "skipDetections": bool(skip_detections), "useCatValues": bool(use_catalog_values)}

    @staticmethod
    def _ul_position(payload, target):
        if isinstance(target, SkyCoord) and target.isscalar:
            icrs = target.icrs
            return {**payload, "RA": float(icrs.ra.deg), "Dec": float(icrs.dec.deg)}
        if isinstance(target, str) and target.strip():
            return {**payload, "searchName": target.strip()}
        raise InvalidRequestError(f"target is {target!r}, but must be a SkyCoord or an object name.")

    def get_upper_limits(self, target, *, catalog="LSXPS", bands="total", which_data="deepest", sigma=3.0,
                         detections_as_rates=True, skip_detections=False, use_catalog_values=False,
                         cache=True, errors="raise", max_workers=None, progress=True,
                         get_query_payload=False):
        """SXPS upper limits (and rates of detections) at a position, one row per dataset.

        Parameters
        ----------
        target : `~astropy.coordinates.SkyCoord`, str or `~astropy.table.Table`
            A position, or an object name resolved by the service; an array of positions or a Table
            of targets (RA/Dec or SkyCoord columns as from SIMBAD or VizieR, or names) is asked
            target by target, at most ``max_workers`` at once, and stacked in input order with
            ``target_index``.
        catalog : {"LSXPS", "2SXPS"}
        bands : str or list of str
            ``"all"`` or from ``"total"`` (0.3-10 keV), ``"soft"`` (0.3-1), ``"medium"`` (1-2), ``"hard"``
            (2-10).
        which_data : {"deepest", "all"}
            The dataset with most exposure (a stack), or every dataset covering the position.
        sigma : float
            Confidence of the limits, in Gaussian sigma.
        detections_as_rates : bool
            Also give rate and 1-sigma errors, and ``<Band>_IsDetected``, where the source is detected.
        skip_detections : bool
            Skip datasets with a catalogued source within 30".
        use_catalog_values : bool
            Use catalogue values where the source is catalogued.
        cache : bool
            True (default): a result fetched before for the same request and server comes from the
            client's cache folder, and a request that timed out earlier (its ULID kept there) is
            followed up rather than asked again. The service's results are final once computed.
            False: ask the service again. Either way the result is written there on first fetch,
            before it is returned (the service deletes it once fetched).
        errors : {"raise", "collect"}
            For several targets: raise the first failure (targets under way still finish and are
            cached), or collect failures in ``meta["errors"]`` (a list of dicts of ``target_index``,
            ``target`` and ``error``; ``Table(rows=meta["errors"])`` makes it a Table) and return
            the others.
        max_workers : int, optional
            For several targets: most requests at once; default ``conf.max_active_jobs`` (each
            request is a job of the service's upper-limit back end, which runs a finite number).
        progress : bool or callable
            For several targets: True logs a progress line (INFO) as targets finish; a callable is
            called with ``(done, total, failed)``.
        get_query_payload : bool
            Return the body that would be sent (a list of them for several targets), sending
            nothing.

        Returns
        -------
        `~astropy.table.Table`
            ``start``/``stop`` (Time), ``obsid``, exposures (s), per band the limits and rates
            (ct/s), counts, and ``detected`` (True where any band is a detection, not a limit). The
            meta holds ``ResolvedInfo``, ``ResolvedRA``/``ResolvedDec`` and ``nearby_sources`` (the
            service's ``DetData``: catalogued sources within 30") and the ``ULID`` if there was one.

        Raises
        ------
        InvalidRequestError
            For a bad option, before anything is sent.
        JobTimeoutError
            When the service still had no result after ``UL_RETRIES`` polls of the ULID; the message
            holds the ULID to pass to `get_upper_limits_by_id` later (a later call with the same
            arguments follows it up too).
        SubmissionUnknownError
            The request reached the service but its answer was lost (a broken connection, no answer
            within the time limit): it is not sent again by itself, since that would start a second
            job at the service.
        """
        payload = self._ul_payload(catalog, bands, which_data, sigma, detections_as_rates, skip_detections,
                                   use_catalog_values)
        _choice(errors, "errors", ("raise", "collect"))
        many = (_table_targets(target, lenient=True) if isinstance(target, Table)
                else list(target.icrs) if isinstance(target, SkyCoord) and not target.isscalar else None)
        if many is not None:
            if get_query_payload:
                return [self._ul_position(payload, one) for one in many]
            return self._for_each(lambda one: self._ul_answer(self._ul_position(payload, one), cache),
                                  many, errors=errors, max_workers=max_workers, progress=progress,
                                  what="upper limits", convert=lambda answer: self._read_ul(*answer))
        body = self._ul_position(payload, target)
        if get_query_payload:
            return body
        return self._read_ul(*self._ul_answer(body, cache))

    # -- the upper-limit store: one JSON file per request and per ULID in the private cache folder
    def _ul_file(self, kind, what):
        text = json.dumps({"server": self.server, kind: what}, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha224(text.encode("utf-8")).hexdigest()
        folder = self.cache_location / _UL_FOLDER
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder / f"{kind}-{digest}.json"

    @staticmethod
    def _ul_load(path):
        try:
            with open(path, encoding="utf-8") as stream:
                record = json.load(stream)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("Ignoring an unreadable upper-limit cache file %s (%s)", path, exc)
            return None
        return record if isinstance(record, dict) else None

    @staticmethod
    def _ul_save(path, record):
        with atomic_write(path, "w") as stream:
            json.dump(record, stream)

    def _ul_answer(self, body, cache):
        """One target's answer and ULID (or None): from the store, by its pending ULID, or asked for
        (and stored); `_read_ul` makes it a Table."""
        path = self._ul_file("request", body)
        # Held while asking: a second process asking the same waits, then reads the stored result.
        with file_lock(path.with_name(path.name + ".lock"), what="an upper-limit request"):
            record = self._ul_load(path) if cache else None
            if record and isinstance(record.get("answer"), dict):
                return record["answer"], record.get("ULID")
            if record and record.get("ULID"):
                log.info("Following up the upper-limit request that timed out earlier (ULID %s)",
                         record["ULID"])
                try:
                    return self._ul_poll(str(record["ULID"]), request=body, cache=cache)
                except RemoteServiceError as exc:
                    # The service no longer knows the ULID (its job was killed, or its result was
                    # fetched by an answer that was lost): nothing is left to follow up, so ask anew.
                    log.warning("%s; asking for the upper limits again", exc)
            data = self._call("getSXPSUL", body, idempotent=False)
            if "TIMEOUT" in data:
                ulid = str(data["TIMEOUT"])
                # Kept before polling, so that an interrupted script or another process follows it up.
                self._ul_save(path, {"request": body, "ULID": ulid, "answer": None})
                self._ul_save(self._ul_file("ULID", ulid), {"request": body, "ULID": ulid, "answer": None})
                log.info("The upper-limit server timed out; following up ULID %s", ulid)
                return self._ul_poll(ulid, request=body, cache=cache)
            self._ul_save(path, {"request": body, "ULID": None, "answer": data})
            return data, None

    def get_upper_limits_by_id(self, ulid, *, cache=True):
        """The upper limits of a request that timed out, by its ULID.

        The service deletes a result once fetched; this client keeps it in its cache folder, so
        asking again (from this or another process) returns the same Table.

        Parameters
        ----------
        ulid : str
            The ``TIMEOUT`` identifier of the service (in the message of `JobTimeoutError`).
        cache : bool
            True (default): a result kept earlier is returned without asking the service.

        Returns
        -------
        `~astropy.table.Table`
            As from `get_upper_limits`.
        """
        if not isinstance(ulid, (str, int)) or isinstance(ulid, bool) or not str(ulid).strip():
            raise InvalidRequestError(f"ulid is {ulid!r}, but must be the TIMEOUT identifier (a string).")
        return self._read_ul(*self._ul_poll(str(ulid).strip(), request=None, cache=cache))

    def _ul_poll(self, ulid, *, request, cache):
        """The answer of a timed-out request and its ULID, by polling the ULID (and stored)."""
        path = self._ul_file("ULID", ulid)
        record = self._ul_load(path) or {}
        if cache and isinstance(record.get("answer"), dict):
            return record["answer"], ulid
        request = request or record.get("request")
        for _ in range(self.UL_RETRIES):
            # A re-poll starts no work at the service: safe to send again after a lost answer.
            try:
                data = self._call("getSXPSUL", {"ULID": ulid})
            except RemoteServiceError as exc:
                raise RemoteServiceError(
                    f"The upper-limit server no longer knows ULID {ulid} ({exc}). It deletes a result "
                    "once it is fetched, so either another client fetched it or its job was killed; "
                    "ask for the limits again with get_upper_limits.", endpoint="main.php:getSXPSUL") from exc
            if "TIMEOUT" in data:
                continue
            # Written before anything else: the service has just deleted its copy.
            self._ul_save(path, {"request": request, "ULID": ulid, "answer": data})
            if isinstance(request, dict):
                self._ul_save(self._ul_file("request", request),
                              {"request": request, "ULID": ulid, "answer": data})
            return data, ulid
        raise JobTimeoutError(f"The upper-limit server had no result for ULID {ulid} after "
                              f"{self.UL_RETRIES} polls; try get_upper_limits_by_id({ulid!r}) later "
                              "(a job unfinished after about 20 minutes has probably been killed).")

    # -- many targets
    def _for_each(self, one, targets, *, errors, max_workers, progress, what, convert=None):
        """``one(target)`` for every target, at most ``max_workers`` at once; stacked in input order.

        ``convert``, if given, turns each ``one`` result into its Table in the calling thread, so
        that a worker sends its next request as soon as its answer is in, rather than after the
        Table is built: requests of a round do not wait on the parsing of the round before.
        """
        from . import conf
        workers = conf.max_active_jobs if max_workers is None else max_workers
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise InvalidRequestError(f"max_workers is {max_workers!r}, but must be a positive integer.")
        total = len(targets)
        results, failures = [None] * total, []
        state = {"done": 0, "logged": 0.0}

        def call(target):
            if isinstance(target, Exception):
                raise target
            return one(target)

        def report():
            state["done"] += 1
            if callable(progress):
                progress(state["done"], total, len(failures))
            elif progress:
                now = time.monotonic()
                if state["done"] == total or now - state["logged"] >= 1.0:
                    state["logged"] = now
                    log.info("%s: %d/%d targets done%s", what.capitalize(), state["done"], total,
                             f" ({len(failures)} failed)" if failures else "")

        pool = ThreadPoolExecutor(max_workers=min(int(workers), max(total, 1)),
                                  thread_name_prefix="xrtprods-catalogues")
        try:
            futures = {pool.submit(call, target): i for i, target in enumerate(targets)}
            for future in as_completed(futures):
                index = futures[future]
                try:
                    result = future.result()
                    results[index] = convert(result) if convert is not None else result
                except (XRTProductsError, ValueError, OSError) as exc:
                    if errors == "raise":
                        raise
                    failures.append((index, _target_text(targets[index]), f"{type(exc).__name__}: {exc}"))
                report()
        finally:
            # On a failure (errors="raise") or an interrupt: targets not started are dropped; those
            # under way finish, and their results are in the cache for a run started again.
            pool.shutdown(wait=True, cancel_futures=True)
        parts = [(i, r) for i, r in enumerate(results) if r is not None]
        stacked = _stack([r for _, r in parts], [i for i, _ in parts])
        failures.sort()
        # Plain dicts, so that the Table can still be written to ECSV or FITS with its meta.
        stacked.meta["errors"] = [{"target_index": i, "target": t, "error": e} for i, t, e in failures]
        if failures:
            log.warning("%s: %d of %d targets failed; see meta['errors']", what.capitalize(),
                        len(failures), total)
        return stacked

    @staticmethod
    def _read_ul(data, ulid):
        rows = data.get("ULData") or []
        columns = data.get("Columns")
        if rows and not isinstance(rows[0], dict):
            if not isinstance(columns, list):
                raise RemoteServiceError("getSXPSUL answered ULData rows without Columns.",
                                         endpoint="main.php:getSXPSUL")
            rows = [dict(zip(columns, r)) for r in rows]
        if not isinstance(columns, list):
            columns = list(rows[0]) if rows else ["StartTime", "StopTime", "ObsID"]
        from .times import met_to_time
        result = Table()
        start = [_as_float(r.get("StartTime")) for r in rows]
        stop = [_as_float(r.get("StopTime")) for r in rows]
        result["start"] = met_to_time(np.array(start, dtype=float)) if rows else Time([], format="mjd")
        result["stop"] = met_to_time(np.array(stop, dtype=float)) if rows else Time([], format="mjd")
        result["start"].format = result["stop"].format = "isot"
        result["start"].info.description = "Start of the dataset (UTC)"
        result["stop"].info.description = "End of the dataset (UTC)"
        result["obsid"] = Column([str(r.get("ObsID", "")).zfill(11) for r in rows], dtype=str,
                                 description="ObsID (stacked images have IDs from 10000000000)")
        detected = np.zeros(len(rows), dtype=bool)
        for name in columns:
            if name in ("StartTime", "StopTime", "ObsID"):
                continue
            values = [r.get(name) for r in rows]
            if name.endswith(("_IsDetected", "_IsRetrospectiveDetection", "_DataFromCatalogue",
                              "_PileupWarning")):
                flags = np.array([_as_bool(v) for v in values], dtype=bool)
                result[name] = Column(flags, description=name.split("_", 1)[1])
                if name.endswith("_IsDetected"):
                    detected |= flags
                continue
            unit = (u.s if name.endswith("Exposure") else u.ct if name.endswith("Counts")
                    else u.dimensionless_unscaled if name.endswith("CorrectionFactor") else u.ct / u.s)
            result[name] = Column(np.array([_as_float(v) for v in values], dtype=float), unit=unit,
                                  description=name.replace("_", " "))
        result["detected"] = Column(detected, description="True: a detection (rates valid); "
                                    "False: an upper limit")
        result["is_stack"] = Column([len(o) == 11 and o.startswith("1") for o in result["obsid"]],
                                    dtype=bool, description="True: a stacked image (several observations)")
        for key in ("ResolvedInfo", "ResolvedRA", "ResolvedDec"):
            if key in data:
                result.meta[key] = data[key]
        result.meta["nearby_sources"] = list(data.get("DetData") or [])
        if ulid is not None:
            result.meta["ULID"] = ulid
        return result

    @staticmethod
    def stack_upper_limits(limits, *, sigma=3.0, include_stacks=False):
        """One limit (or rate) from several datasets' counts, as UKSSDC's ``mergeUpperLimits``.

        The counts, background counts and exposures of the rows are summed, the correction factors
        averaged weighted by exposure, and the Bayesian interval of Kraft, Burrows & Nousek (1991)
        found for the sums: a limit at ``sigma``, and a rate with 1-sigma errors where its lower
        bound at ``sigma`` is above zero.

        Parameters
        ----------
        limits : `~astropy.table.Table`
            Rows of `get_upper_limits` (``which_data="all"``) of one position, e.g. those of one
            target of a stacked Table, or of a time range.
        sigma : float
            Confidence of the limit and detection threshold, in Gaussian sigma.
        include_stacks : bool
            False (default): stacked-image rows (``is_stack``) are left out, since their counts are
            those of observations that are rows too.

        Returns
        -------
        `~astropy.table.Table`
            One row: ``start``/``stop`` of the first and last dataset, ``n_datasets``, summed
            exposures, per band ``<Band>_UpperLimit``, ``_Rate``/``_RatePos``/``_RateNeg`` (NaN
            unless detected), ``_Counts``, ``_BGCounts``, ``_CorrectionFactor``, ``_IsDetected``,
            and ``detected``.
        """
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise InvalidRequestError(f"sigma is {sigma!r}, but must be a positive number.")
        rows = limits if include_stacks or "is_stack" not in limits.colnames else limits[~limits["is_stack"]]
        if len(rows) == 0:
            raise InvalidRequestError("limits has no rows to stack (stacked images are left out unless "
                                      "include_stacks=True).")
        for name in ("SourceExposure", "ImageExposure"):
            if name not in rows.colnames:
                raise InvalidRequestError(f"limits has no {name} column: pass rows of get_upper_limits.")
        level = float(erf(sigma / np.sqrt(2)))
        image = np.asarray(rows["ImageExposure"], dtype=float)
        out = Table()
        out["start"] = rows["start"][[int(np.argmin(rows["start"].jd))]]
        out["stop"] = rows["stop"][[int(np.argmax(rows["stop"].jd))]]
        out["n_datasets"] = [len(rows)]
        for name in ("SourceExposure", "ImageExposure"):
            out[name] = Column([float(np.sum(rows[name]))], unit=u.s)
        detected = False
        for band in ("Total", "Soft", "Medium", "Hard"):
            if not all(f"{band}_{c}" in rows.colnames for c in ("Counts", "BGCounts", "CorrectionFactor")):
                continue
            n = int(round(float(np.sum(rows[f"{band}_Counts"]))))
            b = float(np.sum(rows[f"{band}_BGCounts"]))
            weighted = np.asarray(rows[f"{band}_CorrectionFactor"], dtype=float) * image
            factor = float(np.sum(weighted) / image.sum())
            scale = factor / image.sum()
            lower, upper = _kbn(n, b, level)
            rate = pos = neg = np.nan
            if lower > 0:
                low1, up1 = _kbn(n, b, 0.683)
                mean = max(0.0, n - b)
                rate, pos, neg = mean * scale, (up1 - mean) * scale, (low1 - mean) * scale
            detected |= lower > 0
            for key, value, unit in (("UpperLimit", upper * scale, u.ct / u.s), ("Rate", rate, u.ct / u.s),
                                     ("RatePos", pos, u.ct / u.s), ("RateNeg", neg, u.ct / u.s),
                                     ("Counts", n, u.ct), ("BGCounts", b, u.ct),
                                     ("CorrectionFactor", factor, u.dimensionless_unscaled)):
                out[f"{band}_{key}"] = Column([float(value)], unit=unit)
            out[f"{band}_IsDetected"] = [bool(lower > 0)]
        out["detected"] = [bool(detected)]
        out.meta["sigma"] = float(sigma)
        return out

    # ------------------------------------------------------------------ full tables (spec §3.10)
    def list_table_snapshots(self):
        """The snapshots of the LSXPS tables that `get_full_table` can fetch by ``epoch``.

        LSXPS changes all the time; the service keeps hourly snapshots for a while and daily ones
        for ever (``getOldSXPSTables``). Use a daily epoch to come back to the same table later.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``kind`` (``hourly`` or ``daily``), ``epoch`` (the exact key to pass as
            ``epoch``), ``time`` (a `~astropy.time.Time`) and ``tables`` (the tables of the
            snapshot, comma-separated); daily snapshots first.
        """
        data = self._call("getOldSXPSTables", {}, required=("hourly", "daily"))
        rows = []
        for kind in ("daily", "hourly"):
            listing = data.get(kind) or {}
            if not isinstance(listing, dict):
                raise RemoteServiceError(f"getOldSXPSTables answered {kind} as {type(listing).__name__}, "
                                         "not an object of epochs.", endpoint="main.php:getOldSXPSTables")
            for epoch, tables in listing.items():
                names = sorted(tables) if isinstance(tables, dict) else []
                rows.append((kind, str(epoch), ",".join(names)))
        result = Table(rows=rows or None, names=("kind", "epoch", "tables"), dtype=(str, str, str))
        times = []
        for epoch in result["epoch"]:
            try:
                times.append(Time(epoch.replace(" UTC", "").strip(), scale="utc").isot)
            except ValueError:
                times.append(None)
        good = np.array([t is not None for t in times], dtype=bool)
        col = Time([t or "2000-01-01T00:00:00" for t in times], scale="utc", format="isot") if rows \
            else Time([], format="isot")
        if not good.all():
            col[~good] = np.ma.masked
        result["time"] = col
        result["time"].info.description = "Time of the snapshot (UTC)"
        result["epoch"].description = "The exact epoch key for get_full_table(epoch=...)"
        return result

    def get_full_table(self, catalog, table, subset=None, epoch=None, format="csv", *, download_dir=None,
                       overwrite=False):
        """A whole LSXPS or 2SXPS table, downloaded as one file and read into a Table.

        The file (``getSXPSTable``) streams to disk and is checked as it comes (its length, that it
        is what its name says, the gzip CRC of a snapshot, then that it reads as a table) before it
        takes its name, so an interrupted or corrupt transfer never leaves a half file under that
        name. It is read from the very path it was written to, whatever names the service gave.

        Parameters
        ----------
        catalog : {"LSXPS", "2SXPS"}
        table : str
            LSXPS: ``sources``, ``datasets``, ``detections``, ``obssources``, ``xcorr`` (or
            ``extcatmatches``), ``transients``, ``oldstacks``; 2SXPS: ``sources``, ``datasets``,
            ``detections``, ``xcorr``.
        subset : {"clean", "ultraclean"}, optional
            For the ``sources`` and ``datasets`` tables (``"ultra-clean"`` accepted).
        epoch : str, optional
            An LSXPS snapshot: an exact ``epoch`` of `list_table_snapshots` (e.g. ``"2022-08-17"``);
            the current table by default.
        format : {"csv", "fits"}
            The file format asked for; both give the same Table.
        download_dir : path-like, optional
            Keep the file there (its path is ``meta["path"]``); by default it goes to a temporary
            folder that is removed once read.
        overwrite : bool
            Replace a file of the same name in ``download_dir`` (only once the new one verified);
            otherwise an existing file is an error, never silently reused.

        Returns
        -------
        `~astropy.table.Table`
            The table's columns with units and descriptions from the metadata (``getMetadata``),
            ``Time`` columns for dates, obsIDs as 11-digit text and a `SkyCoord` ``coord``; ``meta``
            holds ``catalog``, ``table``, ``subset``, ``epoch``, ``url`` and ``path``.

        Raises
        ------
        InvalidRequestError
            For a bad catalog, table, subset, format, epoch or folder, before any file is fetched.
        FileExistsError
            ``download_dir`` already holds the file and ``overwrite`` is False.
        ReaderError
            The file is corrupt or cut short on every attempt, or does not read as a table.
        """
        import os
        import shutil
        import tempfile
        from pathlib import Path
        from urllib.parse import urlsplit

        from .exceptions import ReaderError
        from .files import check_writable_dir, safe_component

        _choice(catalog, "catalog", tuple(FULL_TABLES))
        name = table.lower() if isinstance(table, str) else table
        name = "xcorr" if name == "extcatmatches" else name
        table = _choice(name, "table", FULL_TABLES[catalog])
        wire_subset = self._check_subset(catalog, table, subset)
        fmt = _choice(format.lower() if isinstance(format, str) else format, "format", ("csv", "fits"))
        payload = {"whichCat": catalog, "table": table, "format": fmt}
        if wire_subset is not None:
            payload["subset"] = wire_subset
        if epoch is not None:
            if catalog != "LSXPS":
                raise InvalidRequestError(f"epoch is {epoch!r}, but only LSXPS has snapshots.")
            known = list(self.list_table_snapshots()["epoch"])
            if not isinstance(epoch, str) or epoch not in known:
                raise InvalidRequestError(f"epoch is {epoch!r}, but must be exactly one of the snapshot "
                                          "epochs of list_table_snapshots(), e.g. "
                                          + ", ".join(map(repr, known[:3])))
            payload["epoch"] = epoch
        if download_dir is not None:
            check_writable_dir(download_dir, "download_dir")
        meta = self.get_catalog_columns(catalog, table)
        data = self._call("getSXPSTable", payload, required=("URL", "FILE"))
        url = str(data["URL"])
        served = os.path.basename(urlsplit(url).path)
        told = os.path.basename(str(data["FILE"]))
        if served != told:
            # The official client saves basename(URL) and opens basename(FILE) (spec §7 #12); here the
            # file is read from where it was written, whatever FILE says.
            log.warning("getSXPSTable named the file %s but serves %s; reading what was downloaded",
                        told, served)
        filename = safe_component(served, "full-table file name")
        if not filename.lower().endswith((".csv", ".csv.gz", ".fits", ".fits.gz", ".fit", ".fits.fz")):
            raise RemoteServiceError(f"getSXPSTable sent a URL ending {filename!r}, not a CSV or FITS file.",
                                     endpoint="main.php:getSXPSTable")
        keep = download_dir is not None
        folder = Path(download_dir).expanduser() if keep else Path(tempfile.mkdtemp(prefix="xrtprods-table-"))
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / filename
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it (only once the new "
                                  "file verified), or another download_dir")
        # Downloaded under its own name (so the transport checks it is what the name says) into a
        # private folder beside the destination, then renamed once every check passed.
        staging = Path(tempfile.mkdtemp(prefix=".xrtprods-part-", dir=folder))
        try:
            part = self._transport.download(url, staging / filename, overwrite=True, archive=False)
            if filename.lower().endswith(".gz"):
                import gzip
                import zlib
                try:
                    with gzip.open(part, "rb") as stream:   # reads to the end: CRC32 and length checked
                        while stream.read(1 << 20):
                            pass
                except (OSError, EOFError, zlib.error) as exc:
                    raise ReaderError(f"{filename}: the gzip file is corrupt or cut short ({exc})") from None
            result = self._read_full_table(part, fmt, meta)
            os.replace(part, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        result.meta.update(catalog=catalog, table=table, subset=wire_subset, epoch=epoch, url=url,
                           path=str(dest) if keep else None)
        return result

    def _read_full_table(self, path, fmt, meta):
        """A downloaded table file as a Table with the metadata's units, Times, obsIDs and SkyCoord."""
        from .exceptions import ReaderError
        try:
            if fmt == "csv":
                import gzip
                opener = gzip.open if path.name.lower().endswith(".gz") else open
                with opener(path, "rt", encoding="utf-8", newline="") as handle:
                    # astropy's fast CSV reader takes the text, not a gzip file.
                    raw = Table.read(handle.read(), format="ascii.csv", guess=False)
            else:
                raw = Table.read(path, format="fits", hdu=1, character_as_bytes=False)
        except Exception as exc:     # any failure to parse is a bad file, whatever the reader raised
            raise ReaderError(f"{path.name}: not a readable {fmt.upper()} table ({exc})") from None
        known = set(meta["name"])
        names = [n for n in raw.colnames if n in known]
        if not names:
            raise ReaderError(f"{path.name}: none of its columns ({', '.join(raw.colnames[:5])}, ...) is a "
                              "column of the table's metadata")
        columns = {}
        for name in names:
            values = raw[name].tolist()     # masked (empty) cells become None
            columns[name] = [None if (isinstance(v, str) and not v.strip()) else v for v in values]
        rows = [dict(zip(names, vals)) for vals in zip(*(columns[n] for n in names))]
        result = self._to_table(rows, names, meta, cone=False)
        for extra in raw.colnames:
            if extra not in known:
                result[extra] = raw[extra]      # a column the metadata does not describe, as read
        return result


def _kbn(n, b, level):
    """Kraft, Burrows & Nousek (1991): the shortest interval of source counts holding ``level``.

    The posterior of the source counts s >= 0 given ``n`` counts and ``b`` expected background
    counts is proportional to (s + b)**n exp(-(s + b)); the interval is grown from its most probable
    value, as UKSSDC's ``bayesRate`` does. Returns ``(lower, upper)`` in counts.
    """
    top = n + 20 * np.sqrt(n + 1) + 30
    step = max(0.001, top / 200000.0)
    s = np.arange(0.0, top, step)
    logp = (n * np.log(s + b) if n > 0 else 0.0) - (s + b)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    inside = order[:int(np.searchsorted(np.cumsum(p[order]), level)) + 1]
    return float(s[inside].min()), float(s[inside].max())


XRTCatalogues = CataloguesClass()
