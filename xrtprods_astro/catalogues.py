# Licensed under a 3-clause BSD style license - see LICENSE
"""
Client of the UKSSDC catalogue functions of ``API/main.php``: catalogue queries (``getMetadata``,
``queryDB``) over the LSXPS, 2SXPS, observation and GRB tables, and the SXPS upper-limit server
(``getSXPSUL``), and, through the mixin `xrtprods_astro.sxps.SXPSProducts`, the LSXPS / 2SXPS
products (source, transient and dataset details, light curves, spectra, images). See
shared/spec/ukssdc-catalogues.md.

Compared with ``swifttools.ukssdc.query`` and ``swifttools.ukssdc.data.SXPS``:

* queries return every row, paging past the service's 1000-row cap (the official client stops at
  1000 rows without a word), unless ``row_limit`` says otherwise;
* results are `~astropy.table.Table` objects: units and descriptions from the metadata, positions
  as a `~astropy.coordinates.SkyCoord` column ``coord``, dates as `~astropy.time.Time` columns;
* upper limits follow a time-out up by its ULID automatically and keep the result (the service
  deletes it once fetched), send ``sigma`` and every option they accept, and read booleans as
  booleans (``"0"`` is False).
"""
import logging
import re
import threading

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Column, Table, vstack
from astropy.time import Time
from astroquery.query import BaseQuery

from .exceptions import InvalidRequestError, JobTimeoutError, RemoteServiceError
from .services import ServiceClient
from .sxps import SXPSProducts
from .transport import Transport

__all__ = ["CataloguesClass", "XRTCatalogues", "CATALOGS", "PAGE_SIZE"]

log = logging.getLogger("xrtprods_astro.catalogues")

#: database -> tables of the catalogue query interface (spec §4.1).
CATALOGS = {
    "obs": ("swiftmastr", "swiftxrlog", "swiftbalog", "swiftuvlog", "swifttdrss"),
    "LSXPS": ("sources", "datasets", "detections", "obssources", "xcorr", "transients", "oldstacks"),
    "2SXPS": ("sources", "datasets", "detections", "xcorr"),
    "UK_XRT": ("XRTLiveCat",),
    "SDC_GRB": ("SDC_Data_Table",),
    "BAT_GRB": ("BATGRBCat",),
}
#: Rows per queryDB page: the service's cap (bigger answers exhaust its memory).
PAGE_SIZE = 1000
_OPERATORS = ("<", ">", "=", "<=", ">=", "LIKE", "NOT LIKE", "!=", "BETWEEN", "IS NULL", "IS NOT NULL")
_UL_BANDS = ("total", "soft", "medium", "hard")
_UL_CATALOGS = ("LSXPS", "2SXPS")
_WHICH_DATA = ("deepest", "all")
_UNIT_WORDS = {"degree": u.deg, "degrees": u.deg, "deg": u.deg, "arcsec": u.arcsec, "arcmin": u.arcmin,
               "s": u.s, "sec": u.s, "seconds": u.s, "ct/s": u.ct / u.s, "counts/s": u.ct / u.s,
               "erg/cm2/s": u.erg / u.cm ** 2 / u.s, "kev": u.keV, "cm-2": u.cm ** -2}


def _unit_of(description):
    """The unit written in brackets at the end of a metadata description, or None."""
    match = re.search(r"\(([^()]+)\)\s*$", description or "")
    if match is None:
        return None
    return _UNIT_WORDS.get(match.group(1).strip().lower())


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


def _table_targets(table):
    """One SkyCoord (or, for a row with a name only, the name) per row of a targets Table."""
    from .targets import find_columns, row_target
    columns = find_columns(table)
    out = []
    for row in table:
        target = row_target(row, columns, resolver="service")
        out.append(target.coord.icrs if target.coord is not None else target.name)
    return out


def _stack(parts):
    """Per-target Tables stacked, each row with its target's ``target_index``."""
    for i, part in enumerate(parts):
        part.add_column(np.full(len(part), i), name="target_index", index=0)
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
        self._ul_results = {}   # (server, ULID) -> finished upper-limit result
        self._memo_lock = threading.Lock()

    def _call(self, func, payload, **kwargs):
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

    def get_catalog_columns(self, catalog, table):
        """The columns of one table, from the service's metadata (fetched once per session).

        Parameters
        ----------
        catalog : str
            A database of `list_catalogs`, e.g. ``"LSXPS"`` or ``"obs"``.
        table : str
            One of its tables, e.g. ``"sources"``.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``name``, ``type`` (the service's ``NUM/FLOAT/INT/UTC/COORDH/COORDD/TXT``),
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
        data = self._call("getMetadata", {"database": catalog, "table": table}, required=("metadata",))
        meta = data["metadata"]
        try:
            names = list(meta["columns"])
            rows = [dict(zip(names, r)) if not isinstance(r, dict) else r for r in meta["metadata"]]
            result = Table()
            result["name"] = [str(r["ColName"]) for r in rows]
            result["type"] = [str(r.get("Type", "TXT")).upper() for r in rows]
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
            op = str(spec[0]).upper()
            _choice(op, f"the operator of {name}", _OPERATORS)
            if op in ("IS NULL", "IS NOT NULL"):
                value = None
                if len(spec) != 1:
                    raise InvalidRequestError(f"{name}: {op} takes no value, e.g. {name}=({op!r},)")
            elif op == "BETWEEN":
                if len(spec) != 3:
                    raise InvalidRequestError(f"{name}: BETWEEN takes two values, "
                                              f"e.g. {name}=('BETWEEN', 1, 5)")
                value = [self._wire(spec[1]), self._wire(spec[2])]
            else:
                if len(spec) != 2:
                    raise InvalidRequestError(f"{name}: {op} takes one value, e.g. {name}=({op!r}, 10)")
                value = self._wire(spec[1])
            out.append({"colName": name, "filter": op, "val": value, "combiner": None,
                        "filter2": None, "val2": None})
        return out

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

    def _query(self, catalog, table, *, columns=None, sort_by=None, sort_descending=False,
               row_limit=None, constraints=None, cone=None):
        table = self._check_table(catalog, table)
        limit = self._limit(row_limit)
        meta = self.get_catalog_columns(catalog, table)
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
        if cone is not None:
            payload.update(cone)
        rows, extra, first = [], {}, 0
        while True:
            size = PAGE_SIZE if limit == -1 else min(PAGE_SIZE, limit - len(rows))
            data = self._call("queryDB", {**payload, "numRows": size, "firstRow": first},
                              required=("Results", "NumRows"))
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
        result = self._to_table(rows, columns, meta, cone is not None)
        result.meta.update(catalog=catalog, table=table, **extra)
        return result

    @staticmethod
    def _to_table(rows, columns, meta, cone):
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
        if all(ra_dec):
            result["coord"] = SkyCoord(result[ra_dec[0]], result[ra_dec[1]], frame="icrs")
            result["coord"].info.description = f"Position from {ra_dec[0]}, {ra_dec[1]}"
        return result

    def query_criteria(self, catalog, table, *, columns=None, sort_by=None, sort_descending=False,
                       row_limit=None, **constraints):
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
        **constraints
            ``column=value`` (equality), ``column=(op, value)`` with op one of ``<, >, =, <=, >=,
            LIKE, NOT LIKE, !=``, ``column=("BETWEEN", low, high)``, or ``column=("IS NULL",)``.
            Quantities are sent in their own unit's value; Times as UTC ISO text.

        Returns
        -------
        `~astropy.table.Table`
        """
        return self._query(catalog, table, columns=columns, sort_by=sort_by,
                           sort_descending=sort_descending, row_limit=row_limit, constraints=constraints)

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
                     columns=None, row_limit=None, **constraints):
        """Rows of a catalogue table within ``radius`` of a position, nearest first.

        Parameters
        ----------
        coordinates : `~astropy.coordinates.SkyCoord`, str or `~astropy.table.Table`
            One position, or an array of them, or a Table of targets (RA/Dec or SkyCoord columns, as
            from SIMBAD, VizieR or HEASARC; a row with a name only is resolved by the service):
            queried one after another, one request each, and stacked with a ``target_index`` column.
        radius : `~astropy.units.Quantity`
            Cone radius (a number is arcseconds).
        catalog, table, columns, row_limit, **constraints
            As in `query_criteria`.

        Returns
        -------
        `~astropy.table.Table`
            With ``_r`` (arcsec) from the position.
        """
        rad = self._radius(radius)
        if isinstance(coordinates, Table):
            parts = [self.query_region(t, rad * u.arcsec, catalog=catalog, table=table, columns=columns,
                                       row_limit=row_limit, **constraints) if isinstance(t, SkyCoord)
                     else self.query_object(t, rad * u.arcsec, catalog=catalog, table=table, columns=columns,
                                            row_limit=row_limit, **constraints)
                     for t in _table_targets(coordinates)]
            return _stack(parts)
        if isinstance(coordinates, str):
            coordinates = SkyCoord(coordinates, unit=(u.deg, u.deg)) if re.fullmatch(
                r"[\d.+\-\s,]+", coordinates) else SkyCoord(coordinates)
        if not isinstance(coordinates, SkyCoord):
            raise InvalidRequestError(f"coordinates is {coordinates!r}, but must be a SkyCoord "
                                      "(use query_object for a name).")
        icrs = coordinates.icrs
        if not icrs.isscalar:
            return _stack([self.query_region(one, rad * u.arcsec, catalog=catalog, table=table,
                                             columns=columns, row_limit=row_limit, **constraints)
                           for one in icrs])
        cone = {"searchRA": float(icrs.ra.deg), "searchDec": float(icrs.dec.deg), "searchRad": rad}
        return self._query(catalog, table, columns=columns, row_limit=row_limit, constraints=constraints,
                           cone=cone)

    def query_object(self, name, radius=5 * u.arcmin, *, catalog="LSXPS", table="sources", columns=None,
                     row_limit=None, **constraints):
        """Rows of a catalogue table near an object, resolved by name on the service.

        Parameters
        ----------
        name : str
            Object name (SIMBAD/MARS/TNS through the service).
        radius, catalog, table, columns, row_limit, **constraints
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
                           cone=cone)

    # ------------------------------------------------------------------ upper limits
    def get_upper_limits(self, target, *, catalog="LSXPS", bands="total", which_data="deepest", sigma=3.0,
                         detections_as_rates=True, skip_detections=False, use_catalog_values=False):
        """SXPS upper limits (and rates of detections) at a position, one row per dataset.

        Parameters
        ----------
        target : `~astropy.coordinates.SkyCoord`, str or `~astropy.table.Table`
            A position, or an object name resolved by the service; an array of positions or a Table
            of targets is asked one after another, one request each, stacked with ``target_index``.
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
            holds the ULID to pass to `get_upper_limits_by_id` later.
        """
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
        payload = {"catalogue": catalog, "bands": wire_bands, "whichData": which_data, "timeFormat": "met",
                   "sigma": float(sigma), "detectionsAsRates": bool(detections_as_rates),
                   "skipDetections": bool(skip_detections), "useCatValues": bool(use_catalog_values)}
        many = (_table_targets(target) if isinstance(target, Table)
                else list(target.icrs) if isinstance(target, SkyCoord) and not target.isscalar else None)
        if many is not None:
            return _stack([self.get_upper_limits(one, catalog=catalog, bands=bands, which_data=which_data,
                                                 sigma=sigma, detections_as_rates=detections_as_rates,
                                                 skip_detections=skip_detections,
                                                 use_catalog_values=use_catalog_values) for one in many])
        if isinstance(target, SkyCoord):
            icrs = target.icrs
            payload.update(RA=float(icrs.ra.deg), Dec=float(icrs.dec.deg))
        elif isinstance(target, str) and target.strip():
            payload["searchName"] = target.strip()
        else:
            raise InvalidRequestError(f"target is {target!r}, but must be a SkyCoord or an object name.")
        data = self._call("getSXPSUL", payload)
        ulid = None
        if "TIMEOUT" in data:
            ulid = str(data["TIMEOUT"])
            log.info("The upper-limit server timed out; following up ULID %s", ulid)
            return self.get_upper_limits_by_id(ulid)
        return self._read_ul(data, ulid)

    def get_upper_limits_by_id(self, ulid):
        """The upper limits of a request that timed out, by its ULID.

        The service deletes a result once fetched; this client keeps it, so asking again returns
        the same Table.

        Parameters
        ----------
        ulid : str
            The ``TIMEOUT`` identifier of the service (in the message of `JobTimeoutError`).

        Returns
        -------
        `~astropy.table.Table`
            As from `get_upper_limits`.
        """
        if not isinstance(ulid, (str, int)) or isinstance(ulid, bool) or not str(ulid).strip():
            raise InvalidRequestError(f"ulid is {ulid!r}, but must be the TIMEOUT identifier (a string).")
        ulid = str(ulid).strip()
        key = (self.server, ulid)
        with self._memo_lock:
            if key in self._ul_results:
                return self._ul_results[key].copy()
        for _ in range(self.UL_RETRIES):
            data = self._call("getSXPSUL", {"ULID": ulid})
            if "TIMEOUT" in data:
                continue
            result = self._read_ul(data, ulid)
            with self._memo_lock:
                self._ul_results[key] = result
            return result.copy()
        raise JobTimeoutError(f"The upper-limit server had no result for ULID {ulid} after "
                              f"{self.UL_RETRIES} polls; try get_upper_limits_by_id({ulid!r}) later "
                              "(a job unfinished after about 20 minutes has probably been killed).")

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
        for key in ("ResolvedInfo", "ResolvedRA", "ResolvedDec"):
            if key in data:
                result.meta[key] = data[key]
        result.meta["nearby_sources"] = list(data.get("DetData") or [])
        if ulid is not None:
            result.meta["ULID"] = ulid
        return result


XRTCatalogues = CataloguesClass()
