# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ready-made GRB products of the UKSSDC GRB repository, the astropy way.

`GRBClass` speaks the GRB functions of the UKSSDC common API (``API/main.php``): name to
targetID, the repository's light curves, positions, spectra and burst analyser. `GRBs` is the ready instance.
No job is needed: the repository holds products made automatically for every Swift GRB.

A GRB can be given as a name in any common spelling (``"GRB 060729"``, ``"GRB060729"``,
``"grb 080319b"``, ``"060729"``) or as a Swift targetID (an int, or an 8-digit string such as
``"00221755"``). Names are sent in the documented form ``GRB YYMMDD[A-Z]``; a name the repository
does not know raises `~xrtprods_astro.exceptions.ResolverError` before any product is asked
for, so an unknown GRB is never sent on as ``null`` (the official client does that).

What comes back:

* light curves as `~xrtprods_astro.readers.lightcurve.LightCurve` (the type a product-generator
  job gives), count rates in ct / s, times as `~astropy.time.Time` with T0 from the repository;
  flux light curves in erg cm^-2 s^-1 from the repository's ``flux.qdp``;
* positions as `~xrtprods_astro.readers.positions.Position` (SkyCoord and 90% error radius);
* spectral fits as a Table with units and frozen parameters flagged, and the spectrum archives
  downloaded, verified and read as HDULists;
* the burst analyser (BAT and XRT fluxes in erg cm^-2 s^-1, flux densities in Jy, photon indices)
  as a `~xrtprods_astro.readers.lightcurve.LightCurve` with times from T0, the BAT trigger.

Many GRBs at once (a list, or a Table such as a catalogue query's answer): the ``get_*s`` /
``*_many`` methods and `GRBClass.get_grb_table` (names, targetIDs, trigger times and best
positions as one Table) keep several requests in flight, at most ``conf.max_active_jobs``,
return results in input order, draw one progress line, and with ``errors="collect"`` keep going
past a GRB that fails. Every method that sends a request takes ``get_query_payload=True``
(astroquery's convention): it then returns the request bodies it would send, sending nothing.

Only the GRB name lookup may come from the cache: the repository's products grow as Swift keeps
observing, so they are asked for again unless ``cache=True``.
"""
import logging
import numbers
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

from astroquery.query import BaseQuery

from .exceptions import (InvalidRequestError, ProductUnavailableError, ReaderError, RemoteServiceError,
                         ResolverError, ServiceUnavailableError, XRTProductsError)
from .job import CancelOutcome, JobHandle, ProductStatus, check_product
from .services import ServiceClient
from .transport import Transport, check_url

__all__ = ["GRBClass", "GRBs", "GRBResults", "grb_name", "GRBLightCurveSource", "TimesliceJob"]

log = logging.getLogger("xrtprods_astro.grb")

# "GRB 060729", "GRB060729", "grb_080319B", "GRB-080319b", "060729", "080319B".
_NAME = re.compile(r"^(?:GRB[\s_-]*)?(\d{2})(\d{2})(\d{2})\s*([A-Za-z]?)$", re.IGNORECASE)
_YES_NO_BOTH = "True, False or 'both'"
#: The burst analyser's instruments and BAT binnings as the service takes them (spec §7.1).
BURST_INSTRUMENTS = ("bat", "xrt", "uvot")
BURST_BAT_BINNINGS = ("snr4", "snr5", "snr6", "snr7", "timedel0.004", "timedel0.064", "timedel1", "timedel10")
#: The XRT modes and event grades a time slice takes (spec §6.4).
SLICE_MODES = ("PC", "WT", "BOTH")
SLICE_GRADES = ("all", 0, 4)
#: At most this many slices per time-slice job (the site's form, and the service, take four).
MAX_SLICES = 4
_SLICE_TIMES = re.compile(r"^(?:OBS\d{11}-OBS\d{11}|\d+(?:\.\d*)?-\d+(?:\.\d*)?)"
                          r"(?:,(?:OBS\d{11}-OBS\d{11}|\d+(?:\.\d*)?-\d+(?:\.\d*)?))*$")
_T0_LINE = re.compile(r"\bT0\b.*?\bMET\s*=\s*([0-9]+(?:\.[0-9]*)?)\s*s?\s*,\s*=\s*(.+?)\s*$", re.IGNORECASE)


def grb_name(text):
    """The documented spelling ``GRB YYMMDD[A-Z]`` of a GRB name, or None if ``text`` is not one.

    Parameters
    ----------
    text : str
        ``"GRB 060729"``, ``"GRB060729"``, ``"grb 080319b"``, ``"080319B"``...

    Returns
    -------
    str or None

    Examples
    --------
    >>> from xrtprods_astro.grb import grb_name
    >>> grb_name("grb080319b")
    'GRB 080319B'
    >>> grb_name("Swift J1644+57") is None
    True
    """
    m = _NAME.match(str(text).strip())
    if m is None:
        return None
    yy, mm, dd, letter = m.groups()
    if not (1 <= int(mm) <= 12 and 1 <= int(dd) <= 31):
        return None
    return f"GRB {yy}{mm}{dd}{letter.upper()}"


def _choice(value, name):
    if isinstance(value, str) and value.strip().lower() == "both":
        return "both"
    if isinstance(value, bool):
        return "yes" if value else "no"
    raise InvalidRequestError(f"{name}: expected {_YES_NO_BOTH}, got {value!r}")


def _classify(grb):
    """``("target", int)`` or ``("name", canonical name)`` for one GRB as the user gave it.

    Ints are targetIDs; strings are names, except 8-digit strings (``"00221755"``, the
    repository's own spelling of targetIDs) and digit strings that are not a date.
    """
    if isinstance(grb, bool) or grb is None:
        raise InvalidRequestError(f"grb: {grb!r} is neither a GRB name nor a targetID")
    if isinstance(grb, numbers.Integral):
        if int(grb) <= 0:
            raise InvalidRequestError(f"grb: the targetID {grb!r} must be a positive integer")
        return "target", int(grb)
    if not isinstance(grb, str):
        raise InvalidRequestError(f"grb: expected a GRB name (str) or a targetID (int), got "
                                  f"{type(grb).__name__} {grb!r}")
    text = grb.strip()
    name = grb_name(text)
    if text.isdigit() and (len(text) == 8 or name is None) and int(text) > 0:
        return "target", int(text)
    if name is None:
        raise InvalidRequestError(f"grb: {grb!r} is not a GRB name or a targetID; expected a name such "
                                  "as 'GRB 060729', 'GRB060729', '080319B' or a targetID such as "
                                  "221755 or '00221755'")
    return "name", name


#: Column names taken as a Table's GRB column when ``column=`` is not given (any case), in order.
_GRB_COLUMNS = ("grb", "name", "grb_name", "grbname", "target_id", "targetid", "query")
#: What the many-GRB methods do with a GRB that fails.
_ERRORS = ("raise", "collect")


def _classify_all(grbs):
    """`_classify` for one GRB or each of several; every bad one named in one error, before any call."""
    items = [grbs] if isinstance(grbs, (str, numbers.Integral)) else list(grbs)
    kinds, problems = [], []
    for item in items:
        try:
            kinds.append(_classify(item))
        except InvalidRequestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidRequestError(problems, header="These GRBs cannot be looked up:")
    return kinds


def _grb_items(grbs, column=None):
    """The GRBs of ``grbs`` as a list: one name or targetID, a sequence, a Column, or a Table's
    GRB column (``column``, else the first of `_GRB_COLUMNS`, else its only text column)."""
    import numpy as np
    from astropy.table import Table
    if isinstance(grbs, Table):
        chosen = _grb_items_column(grbs, column)
        lower = {n.lower(): n for n in grbs.colnames}
        tcol = next((lower[c] for c in _TARGET_COLUMNS if c in lower), None)
        if column is None and tcol not in (None, chosen) and grbs[tcol].dtype.kind in "iu":
            # A row without a name (a targetID given alone, as get_grb_table keeps it) is its targetID.
            return [tid if (name is np.ma.masked or not str(name).strip()) and tid is not np.ma.masked
                    else name for name, tid in zip(grbs[chosen], grbs[tcol])]
        grbs = grbs[chosen]
    elif column is not None:
        raise InvalidRequestError("column: only for a Table of GRBs (grbs is "
                                  f"{type(grbs).__name__})")
    if isinstance(grbs, (str, numbers.Integral)):
        return [grbs]
    # A masked entry (a catalogue row without a name) stays itself: it is reported, not skipped.
    return list(grbs)


#: Column names of a Table's targetIDs (any case), read beside its GRB-name column.
_TARGET_COLUMNS = ("target_id", "targetid")


def _known_targets(grbs, column=None):
    """``{canonical name: targetID}`` from a Table whose GRB column holds names and which also has a
    targetID column (a catalogue's answer, e.g. UK_XRT's ``name`` and ``targetID``): its names
    need no lookup. Empty for anything else."""
    import numpy as np
    from astropy.table import Table
    if not isinstance(grbs, Table):
        return {}
    lower = {n.lower(): n for n in grbs.colnames}
    tcol = next((lower[c] for c in _TARGET_COLUMNS if c in lower), None)
    try:
        ncol = _grb_items_column(grbs, column)
    except InvalidRequestError:
        return {}
    if tcol is None or ncol == tcol or grbs[tcol].dtype.kind not in "iuf":
        return {}
    known = {}
    for name, tid in zip(grbs[ncol], grbs[tcol]):
        if name is np.ma.masked or tid is np.ma.masked:
            continue
        canonical = grb_name(name) if isinstance(name, str) else None
        if canonical is not None and float(tid) > 0 and float(tid) == int(tid):
            known[canonical] = int(tid)
    return known


def _grb_items_column(grbs, column):
    """The name of the GRB column of the Table ``grbs`` (``column``, else found as `_grb_items` does)."""
    names = grbs.colnames
    if column is None:
        lower = {n.lower(): n for n in names}
        found = [lower[c] for c in _GRB_COLUMNS if c in lower]
        text = [n for n in names if getattr(grbs[n], "dtype", None) is not None
                and grbs[n].dtype.kind in "US"]
        column = found[0] if found else (text[0] if len(text) == 1 else None)
        if column is None:
            raise InvalidRequestError(f"column: the Table has no GRB column named one of "
                                      f"{list(_GRB_COLUMNS)}; give column=, one of {names}")
    elif column not in names:
        raise InvalidRequestError(f"column: {column!r} is not a column of the Table; allowed: {names}")
    return column


def _stated_time(stated):
    """T0 as a UTC `~astropy.time.Time` from the repository's (MET, UTC text), or None."""
    from .times import met_to_time, parse_ukssdc_date
    if not stated:
        return None
    return parse_ukssdc_date(stated[1]) or met_to_time(float(stated[0]))


def _masked_times(times):
    """One UTC `~astropy.time.Time` column (ISO, ms) from Times and Nones, masked at the Nones."""
    import numpy as np
    from astropy.time import Time
    good = [t is not None for t in times]
    jd1 = [t.utc.jd1 if g else 2451545.0 for t, g in zip(times, good)]
    jd2 = [t.utc.jd2 if g else 0.0 for t, g in zip(times, good)]
    out = Time(np.array(jd1, dtype=float), np.array(jd2, dtype=float), format="jd", scale="utc")
    out.format, out.precision = "isot", 3
    if not all(good):
        out[~np.array(good)] = np.ma.masked
    return out


def _attempt(task):
    """``task()``, or the `~xrtprods_astro.exceptions.XRTProductsError` it raised."""
    try:
        return task()
    except XRTProductsError as exc:
        return exc


class _ManyProgress:
    """The one progress line of a many-GRB call: ``"GRB light curves: 3/10 done, 1 failed"``.

    On a terminal it is redrawn in place as GRBs end; on any other stream (a log file, a pipe)
    it is written once, when the call ends, so that a log gets one line, not one per GRB.
    """

    def __init__(self, total, stream, label):
        self.total, self.stream, self.label = int(total), stream, label
        self.done = 0

    @staticmethod
    def check(progress):
        if not (progress is None or isinstance(progress, bool) or hasattr(progress, "write")):
            raise InvalidRequestError(f"progress: {progress!r} is not allowed; allowed: None (a line on "
                                      "standard error for several GRBs), True, False or a text stream")

    @classmethod
    def make(cls, progress, total, label):
        cls.check(progress)
        if progress is False or (progress is None and (total < 2 or not log.isEnabledFor(logging.INFO))):
            return None
        return cls(total, None if isinstance(progress, bool) or progress is None else progress, label)

    def _out(self):
        import sys
        return self.stream if self.stream is not None else sys.stderr

    def _tty(self):
        out = self._out()
        return hasattr(out, "isatty") and out.isatty()

    def line(self, failed):
        return f"{self.label}: {self.done}/{self.total} done" + (f", {failed} failed" if failed else "")

    def update(self, failed):
        self.done += 1
        if self._tty():
            self._out().write("\r\033[K" + self.line(failed))
            self._out().flush()

    def close(self, failed):
        out = self._out()
        out.write(("\r\033[K" if self._tty() else "") + self.line(failed) + "\n")
        out.flush()


class GRBResults(dict):
    """The products of several GRBs: ``{grb as given: product}``, with a summary.

    A `dict` keyed by the GRBs as given (a GRB that failed with ``errors="collect"`` has no key);
    ``summary`` says what happened to each.

    Attributes
    ----------
    summary : `~astropy.table.Table`
        One row per GRB as given, in order: ``query``, ``grb`` (the documented spelling, empty
        for a targetID), ``target_id`` (masked when unknown), ``ok`` and ``error`` (the error's
        message, empty when ``ok``).
    errors : dict
        ``{grb as given: exception}`` for the GRBs that failed.
    """

    def __init__(self, products, rows):
        import numpy as np
        from astropy.table import MaskedColumn, Table
        super().__init__(products)
        self.errors = {query: exc for query, _, _, exc in rows if exc is not None}
        self.summary = Table(
            [[r[0] for r in rows], [r[1] or "" for r in rows],
             MaskedColumn([r[2] or 0 for r in rows], dtype=np.int64, mask=[r[2] is None for r in rows]),
             np.array([r[3] is None for r in rows], dtype=bool),
             [("" if r[3] is None else f"{type(r[3]).__name__}: {r[3]}") for r in rows]],
            names=["query", "grb", "target_id", "ok", "error"])


class GRBClass(ServiceClient, BaseQuery):
    """Client of the UKSSDC GRB repository (light curves, positions, spectra of Swift GRBs).

    Parameters
    ----------
    server : str, optional
        Root URL of the UKSSDC site, or ``"local"``; default ``conf.server``.
    timeout : float, optional
        Time limit of one HTTP call in seconds; default ``conf.timeout``.

    Notes
    -----
    Every call goes through the package's `~xrtprods_astro.transport.Transport`
    (retries, time limits, verified downloads), as the product generator's do.
    """

    def __init__(self, *, server=None, timeout=None):
        BaseQuery.__init__(self)
        self._server = server
        self._transport = Transport(self)
        self._transport.timeout = timeout
        self._targets = {}   # (server, canonical name) -> targetID: a name never changes its GRB
        self._t0 = {}        # (server, targetID) -> (T0 MET, UKSSDC's UTC text) or None
        # (server, targetID) -> (the call that asked, monotonic time, downloadSpectrum answer)
        self._spectrum_handoff = {}
        self._memo_lock = threading.Lock()

    def _api_url(self):
        return f"{self.server}/API/main.php"

    def _call(self, func, payload, **kwargs):
        return self._transport.call_common(self._api_url(), func, payload, **kwargs)

    # -- what a call would send (astroquery's get_query_payload) ----------------------------------
    def _planned(self, grbs, func=None, build=None):
        """The request bodies a call over ``grbs`` would send, in order, sending nothing.

        One ``GRBNameToTargetID`` body per name not looked up yet in this session, then (with
        ``func``) one ``func`` body, ``build(target_id)``, per distinct GRB. A targetID only the
        lookup would give is shown as the text ``"<targetID of 'GRB 060729'>"``. Each body is
        the JSON object POSTed to ``API/main.php``, ``APIFunc`` and ``APIVersion`` included. The
        file GETs the answers lead to (QDP headers, archives) are not listed.
        """
        from .transport import COMMON_API_VERSION
        kinds = _classify_all(grbs)
        # Every name is looked up before any product is asked for, as the calls do.
        lookups, products, seen = {}, [], set()
        for kind, value in kinds:
            tid = value
            if kind == "name":
                with self._memo_lock:
                    tid = self._targets.get((self.server, value))
                if tid is None:
                    lookups.setdefault(value, {"name": value, "APIFunc": "GRBNameToTargetID",
                                               "APIVersion": COMMON_API_VERSION})
                    tid = f"<targetID of {value!r}>"
            if func is None or tid in seen:
                continue
            seen.add(tid)
            products.append({**build(tid), "APIFunc": func, "APIVersion": COMMON_API_VERSION})
        return list(lookups.values()) + products

    # -- names --------------------------------------------------------------------------------
    # A GRB's targetID, and its T0 with UKSSDC's UTC for it, do not change: besides the memos of
    # this client they are kept in the cache folder, so a new session (a new client, a new
    # process) asks for neither again. Losing the file costs requests, never a result.
    _MEMO_FILE = "grb_memo.json"

    def _memo_get(self, table, key):
        """This server's entry ``key`` of ``table`` in the on-disk memo, or None."""
        import json
        try:
            return json.loads((self.cache_location / self._MEMO_FILE).read_text())[table][self.server][key]
        except (OSError, ValueError, LookupError, TypeError):
            return None

    def _memo_put(self, table, key, value):
        """Record ``value`` in the on-disk memo (under a lock, replaced atomically; best effort)."""
        import json
        from .fileio import atomic_write
        from .locking import file_lock
        try:
            path = self.cache_location / self._MEMO_FILE
            with file_lock(path.with_name(path.name + ".lock"), timeout=10):
                try:
                    memo = json.loads(path.read_text())
                except (OSError, ValueError):
                    memo = {}
                if not isinstance(memo, dict):
                    memo = {}
                tables = memo.setdefault(table, {})
                if not isinstance(tables, dict) or not isinstance(tables.get(self.server, {}), dict):
                    memo[table] = tables = {}
                tables.setdefault(self.server, {})[key] = value
                with atomic_write(path, "w", fsync=False) as out:
                    json.dump(memo, out)
        except (OSError, XRTProductsError) as exc:
            log.debug("the GRB memo in the cache folder was not updated: %s", exc)

    def _lookup(self, name):
        """The targetID of a canonical GRB name, or None when the repository does not know it."""
        key = (self.server, name)
        with self._memo_lock:
            if key in self._targets:
                return self._targets[key]
        stored = self._memo_get("targets", name)
        if isinstance(stored, int) and not isinstance(stored, bool) and stored > 0:
            with self._memo_lock:
                self._targets[key] = stored
            return stored
        # An unknown name is never recorded: a new GRB enters the repository within hours.
        data = self._call("GRBNameToTargetID", {"name": name})
        if "NOTFOUND" in data:
            return None
        if "targetID" not in data:
            raise ResolverError(f"GRBNameToTargetID answered {sorted(data)} for {name!r}: neither "
                                "targetID nor NOTFOUND")
        try:
            target = int(str(data["targetID"]).strip())
        except ValueError:
            raise ResolverError(f"GRBNameToTargetID answered targetID={data['targetID']!r} for "
                                f"{name!r}, which is not an integer") from None
        with self._memo_lock:
            self._targets[key] = target
        self._memo_put("targets", name, target)
        return target

    def resolve(self, grbs, *, unknown="raise", get_query_payload=False, _known=None, _max_workers=None):
        """The targetIDs of GRBs given by name or targetID, with one lookup per distinct name.

        Parameters
        ----------
        grbs : str, int or sequence of them
            Names in any common spelling (``"GRB 060729"``, ``"GRB060729"``, ``"060729"``) or
            targetIDs (``221755``, ``"00221755"``). Every item is checked before anything is sent.
        unknown : {"raise", "mask"}
            What to do with names the repository does not know: raise
            `~xrtprods_astro.exceptions.ResolverError` naming all of them (default), or keep them
            with a masked ``target_id``.
        get_query_payload : bool
            Return the request bodies the call would send (a list of dicts, see
            `get_query_payload`), sending nothing.

        Returns
        -------
        `~astropy.table.Table`
            One row per item, in order: ``query`` (as given), ``grb`` (the documented spelling,
            empty for a targetID), ``target_id`` (int).

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            An item is neither a name nor a targetID (nothing is sent), or ``unknown`` is not
            allowed.
        `~xrtprods_astro.exceptions.ResolverError`
            Some names are not in the repository (``unknown="raise"``).
        """
        import numpy as np
        from astropy.table import MaskedColumn, Table
        if unknown not in ("raise", "mask"):
            raise InvalidRequestError(f"unknown: {unknown!r} is not allowed; allowed: 'raise', 'mask'")
        if get_query_payload:
            return self._planned(grbs)
        items = [grbs] if isinstance(grbs, (str, numbers.Integral)) else list(grbs)
        kinds = _classify_all(items)
        looked = self._resolve_names([v for k, v in kinds if k == "name"], stop_on_error=True, known=_known,
                                     max_workers=_max_workers)
        failure = next((v for v in looked.values() if isinstance(v, XRTProductsError)), None)
        if failure is not None:
            raise failure
        targets, missing = [], []
        for item, (kind, value) in zip(items, kinds):
            target = value if kind == "target" else looked[value]
            if target is None:
                missing.append(str(item))
            targets.append(target)
        if missing and unknown == "raise":
            raise ResolverError("No confirmed GRB of these names is in the XRT GRB repository: "
                                + ", ".join(repr(m) for m in missing)
                                + " (names are looked up as 'GRB YYMMDD' plus the letter, if any)")
        return Table([[str(i) for i in items], [v if k == "name" else "" for k, v in kinds],
                      MaskedColumn([t or 0 for t in targets], dtype=np.int64,
                                   mask=[t is None for t in targets])],
                     names=["query", "grb", "target_id"])

    def target_id(self, grb, *, get_query_payload=False):
        """The targetID of one GRB (name in any common spelling, or targetID).

        ``get_query_payload=True`` returns the lookup body it would send (none for a targetID).

        Raises
        ------
        `~xrtprods_astro.exceptions.ResolverError`
            The repository does not know the name.
        """
        if get_query_payload:
            return self._planned([grb])
        return int(self.resolve([grb])["target_id"][0])

    # -- a Table of GRBs ------------------------------------------------------------------------
    #: The catalogue listing every GRB of the repository (the live XRT GRB catalogue, spec §4.3).
    GRB_CATALOG = ("UK_XRT", "XRTLiveCat")
    #: Numeric catalogue columns read as the trigger time in Swift MET (any case), in order.
    _MET_COLUMNS = ("t0", "trigger_met", "triggermet", "trig_time_met", "t0_met")

    def _grb_facts(self, target_id, name):
        """(best `~xrtprods_astro.readers.positions.Position`, stated T0 or None) of one GRB."""
        # Every kind in the one call: the best one then says which kind it is.
        best = self._positions(target_id, name, kinds="all")["best"]
        return best, self._t0_utc(target_id, f"{self.server}/xrt_curves/{target_id:08d}")

    def get_grb_table(self, grbs=None, *, column=None, errors="raise", progress=None, max_workers=None,
                      get_query_payload=False):
        """A Table of GRBs: names, targetIDs, trigger times and best XRT positions.

        Parameters
        ----------
        grbs : sequence, `~astropy.table.Table` or None
            GRBs (names in any common spelling or targetIDs, or a Table with a GRB column, as
            for `get_lightcurves`): for each, the repository is asked for its best position
            (``getGRBPositions``) and T0 (the header of its ``curve.qdp``), several GRBs at
            once (``max_workers``). None (default): every GRB of the live XRT GRB catalogue
            (``UK_XRT``/``XRTLiveCat``), in one catalogue query, paged past the service's
            1000-row cap (`~xrtprods_astro.catalogues.CataloguesClass.query_criteria`).
        column, errors, progress, max_workers
            As for `get_lightcurves` (with ``grbs`` only). With ``errors="collect"`` a GRB that
            fails keeps its row, its values masked, and the table has an ``error`` column.
        get_query_payload : bool
            Return the request bodies it would send, sending nothing (with ``grbs`` only: the
            catalogue query's body depends on the table's metadata).

        Returns
        -------
        `~astropy.table.Table`
            One row per GRB: ``grb`` (``GRB YYMMDD[A-Z]``; empty for a targetID given without a
            name), ``target_id``, ``trigger_time`` (T0, the BAT trigger, a UTC
            `~astropy.time.Time`; masked where unknown), ``coord`` (the best XRT position, a
            `~astropy.coordinates.SkyCoord`, ICRS; NaN where there is none), ``err90`` (its 90%
            error radius, arcsec) and ``position`` (which position is the best: ``enhanced``,
            ``standard``...; with the catalogue, ``best``). With ``grbs``, ``query`` (as given)
            comes first. ``meta["source"]`` says where the rows come from.

        Raises
        ------
        `~xrtprods_astro.exceptions.RemoteServiceError`
            ``grbs=None`` and the service has no GRB catalogue to query.
        """
        import numpy as np
        if grbs is None:
            if get_query_payload:
                raise InvalidRequestError("get_query_payload: only with grbs (the catalogue query's "
                                          "columns come from the catalogue's metadata, asked for first)")
            return self._grb_table_from_catalogue(progress, max_workers)
        if get_query_payload:
            items = _grb_items(grbs, column)
            return self._planned(items, "getGRBPositions",
                                 lambda tid: {"posToGet": "all", "targetID": tid})
        done = self._many(grbs, self._grb_facts, column=column, errors=errors, progress=progress,
                          label="GRBs", max_workers=max_workers)
        summary = done.summary
        facts = [done.get(q) for q in summary["query"]]
        stated = [f[1] if f else None for f in facts]
        table = self._grb_table(list(summary["grb"]), [None if m else int(t) for t, m in zip(
            summary["target_id"].filled(0), np.ma.getmaskarray(summary["target_id"]))],
            [_stated_time(s) for s in stated], [f[0] if f else None for f in facts])
        table.add_column(summary["query"], name="query", index=0)
        if errors == "collect":
            table["error"] = summary["error"]
        table.meta["source"] = "GRB repository: getGRBPositions (best) and curve.qdp (T0)"
        return table

    @staticmethod
    def _grb_table(names, tids, times, positions):
        """The GRB table from per-row names, targetIDs (None: masked), Times and best Positions."""
        from astropy import units as u
        from astropy.coordinates import SkyCoord
        import numpy as np
        from astropy.table import MaskedColumn, Table
        table = Table()
        table["grb"] = np.array([n or "" for n in names], dtype=str)
        table["target_id"] = MaskedColumn([t or 0 for t in tids], dtype=np.int64,
                                          mask=[t is None for t in tids])
        table["trigger_time"] = _masked_times(times)
        found = [p is not None and p.found for p in positions]
        ra = [p.coord.icrs.ra.deg if f else np.nan for p, f in zip(positions, found)]
        dec = [p.coord.icrs.dec.deg if f else np.nan for p, f in zip(positions, found)]
        table["coord"] = SkyCoord(np.array(ra, dtype=float) * u.deg, np.array(dec, dtype=float) * u.deg,
                                  frame="icrs")
        table["err90"] = u.Quantity([p.err90.to_value(u.arcsec) if f and p.err90 is not None else np.nan
                                     for p, f in zip(positions, found)], u.arcsec)
        table["position"] = np.array([str(p.details.get("from", p.kind)) if f else ""
                                      for p, f in zip(positions, found)], dtype=str)
        table["trigger_time"].info.description = "T0, the BAT trigger (UTC)"
        table["coord"].info.description = "Best XRT position (ICRS)"
        table["err90"].info.description = "90% error radius of the best position"
        return table

    def _grb_table_from_catalogue(self, progress, max_workers):
        import numpy as np
        from astropy import units as u
        from astropy.time import Time
        from .catalogues import CataloguesClass
        from .readers.positions import Position
        from .times import met_to_time
        catalogues = CataloguesClass(server=self.server, timeout=self._transport.timeout)
        catalog, table_name = self.GRB_CATALOG
        try:
            meta = catalogues.get_catalog_columns(catalog, table_name)
            # Only the columns the table needs: the catalogue has dozens, and a big answer is what
            # the service's memory limit is about (spec §10).
            wanted = [n for n, typ in zip(meta["name"], meta["type"])
                      if n.lower() in ("targetid", "name", "ra", "decl", "err90") + self._MET_COLUMNS
                      or typ == "UTC"]
            rows = catalogues.query_criteria(catalog, table_name, columns=wanted)
        except RemoteServiceError as exc:
            raise RemoteServiceError(f"The service has no GRB catalogue {catalog}/{table_name} to list every "
                                     f"GRB ({exc}); give the GRBs: get_grb_table(grbs=[...])",
                                     endpoint=exc.endpoint) from exc
        lower = {n.lower(): n for n in rows.colnames}
        missing = [c for c in ("targetid", "name") if c not in lower]
        if missing:
            raise RemoteServiceError(f"{catalog}/{table_name} has no {', '.join(missing)} column; it has "
                                     f"{rows.colnames}", endpoint="main.php:queryDB")
        tids = [int(t) if np.isfinite(float(t)) else None for t in np.asarray(rows[lower["targetid"]], float)]
        names = [grb_name(n) or str(n) for n in rows[lower["name"]]]
        times = [None] * len(rows)
        time_cols = [n for n in rows.colnames if isinstance(rows[n], Time)]
        met_col = next((lower[c] for c in self._MET_COLUMNS if c in lower), None)
        if time_cols:
            col = rows[time_cols[0]]
            mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else np.zeros(len(col), bool)
            times = [None if m else col[i] for i, m in enumerate(mask)]
        elif met_col is not None:
            mets = np.asarray(rows[met_col], dtype=float)
            times = [met_to_time(m) if np.isfinite(m) and m > 0 else None for m in mets]
        else:
            # No trigger column: each GRB's T0 as the repository states it, several at once.
            stated = self._run_many([lambda t=t: self._t0_utc(t, f"{self.server}/xrt_curves/{t:08d}")
                                     for t in tids if t is not None], progress=progress, label="GRB T0s",
                                    max_workers=max_workers)
            it = iter(stated)
            times = [None if t is None else _stated_time(next(it)) for t in tids]
        coord = rows["coord"] if "coord" in rows.colnames else None
        err_col = lower.get("err90")
        positions = []
        for i in range(len(rows)):
            if coord is None or not np.isfinite(coord[i].ra.deg):
                positions.append(None)
                continue
            err = float(rows[err_col][i]) if err_col is not None else np.nan
            positions.append(Position(kind="best", found=True, coord=coord[i],
                                      err90=err * u.arcsec if np.isfinite(err) else None,
                                      details={"from": "best"}))
        table = self._grb_table(names, tids, times, positions)
        table.meta["source"] = f"catalogue {catalog}/{table_name} (queryDB)"
        return table

    # -- many GRBs at once ------------------------------------------------------------------------
    @property
    def max_workers(self):
        """Most requests a many-GRB call keeps in flight at once, unless the call says
        (``max_workers=``); default ``conf.max_active_jobs``, as for many catalogue targets."""
        from . import conf
        value = getattr(self, "_max_workers", None)
        return conf.max_active_jobs if value is None else value

    @max_workers.setter
    def max_workers(self, value):
        self._max_workers = value

    def _workers(self, max_workers):
        value = self.max_workers if max_workers is None else max_workers
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidRequestError(f"max_workers: {value!r} is not valid; give a positive integer "
                                      "(default conf.max_active_jobs)")
        return int(value)

    def _run_many(self, tasks, *, stop_on_error=False, progress=None, label="GRBs", on_done=None,
                  max_workers=None):
        """The results of ``tasks`` (callables without arguments), in input order.

        At most `max_workers` run at once, each in a worker thread. An
        `~xrtprods_astro.exceptions.XRTProductsError` a task raises is its result (anything else,
        a bug, is raised at once). With ``stop_on_error`` the tasks not started yet are dropped
        after the first failure (their result stays None). ``on_done(index, result)`` is called in
        the calling thread as each task ends. Ctrl-C drops the tasks not started and waits for
        none of the running ones.
        """
        import concurrent.futures as futures
        results = [None] * len(tasks)
        workers = self._workers(max_workers)
        if not tasks:
            return results
        bar = _ManyProgress.make(progress, len(tasks), label)
        failed = 0

        def finished(index, result):
            nonlocal failed
            results[index] = result
            failed += isinstance(result, XRTProductsError)
            if bar is not None:
                bar.update(failed)
            if on_done is not None:
                on_done(index, result)

        workers = min(workers, len(tasks))
        try:
            if workers == 1:
                for index, task in enumerate(tasks):
                    finished(index, _attempt(task))
                    if stop_on_error and failed:
                        break
                return results
            pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xrtprods-grb")
            try:
                pending = {pool.submit(_attempt, task): index for index, task in enumerate(tasks)}
                for done in futures.as_completed(pending):
                    finished(pending[done], done.result())
                    if stop_on_error and failed:
                        break
            finally:
                # Ctrl-C, a failure with stop_on_error, or a bug: nothing more is started.
                pool.shutdown(wait=False, cancel_futures=True)
            return results
        finally:
            if bar is not None:
                bar.close(failed)

    def _resolve_names(self, names, *, stop_on_error, progress=False, known=None, max_workers=None):
        """``{canonical name: targetID, None (unknown) or the lookup's exception}``, one lookup per
        name not yet known (``known``: pairs a catalogue gave, not asked for), several at once."""
        known = known or {}
        names = [n for n in dict.fromkeys(names) if n not in known]
        found = self._run_many([lambda n=n: self._lookup(n) for n in names], stop_on_error=stop_on_error,
                               progress=progress, label="GRB names", max_workers=max_workers)
        return {**known, **dict(zip(names, found))}

    def _many(self, grbs, func, *, column=None, errors="raise", progress=None, callback=None,
              label="GRBs", max_workers=None, **kwargs):
        """`GRBResults` ``{query: func(target_id, name, **kwargs)}`` for many GRBs, several at once.

        ``errors="raise"``: all names resolved before any product call, the first error (in input
        order) raised, no new call started after it. ``errors="collect"``: each GRB's error (not a
        GRB, unknown name, no product, service error) is kept in the result and the others go
        on. At most ``max_workers`` requests are in flight; one call per distinct GRB (two
        spellings of one GRB share it); results keep the input order. ``callback(query, product
        or exception)`` is called in the calling thread as each GRB ends.
        """
        if errors not in _ERRORS:
            raise InvalidRequestError(f"errors: {errors!r} is not allowed; allowed: {list(_ERRORS)}")
        _ManyProgress.check(progress)
        self._workers(max_workers)   # checked before anything is sent
        if callback is not None and not callable(callback):
            raise InvalidRequestError(f"callback: {callback!r} is not callable")
        items = _grb_items(grbs, column)
        # A catalogue Table names its GRBs and gives their targetIDs: those names are not looked
        # up (swifttools' query module resolves every row's name, one request each).
        known = _known_targets(grbs, column)
        keys = [str(item) for item in items]
        names, tids, problems = [None] * len(items), [None] * len(items), [None] * len(items)
        if errors == "raise":
            table = self.resolve(items, _known=known, _max_workers=max_workers)
            names = [row["grb"] or None for row in table]
            tids = [int(t) for t in table["target_id"]]
        else:
            for i, item in enumerate(items):
                try:
                    kind, value = _classify(item)
                except InvalidRequestError as exc:
                    problems[i] = exc
                    continue
                if kind == "name":
                    names[i] = value
                else:
                    tids[i] = value
            looked = self._resolve_names([n for n, p in zip(names, problems) if n and p is None],
                                         stop_on_error=False, known=known, max_workers=max_workers)
            for i, name in enumerate(names):
                if name is None or problems[i] is not None:
                    continue
                found = looked[name]
                if isinstance(found, XRTProductsError):
                    problems[i] = found
                elif found is None:
                    problems[i] = ResolverError(
                        f"{keys[i]!r} is not a confirmed GRB of the XRT GRB repository (names are looked "
                        "up as 'GRB YYMMDD' plus the letter, if any)")
                else:
                    tids[i] = found
        # One call per distinct GRB, named as its first spelling names it.
        order = list(dict.fromkeys(t for t, p in zip(tids, problems) if p is None))
        first_name = {}
        for t, n, p in zip(tids, names, problems):
            if p is None:
                first_name.setdefault(t, n)
        owners = {t: [i for i, (u, p) in enumerate(zip(tids, problems)) if u == t and p is None]
                  for t in order}

        def on_done(index, result):
            if callback is not None:
                for i in owners[order[index]]:
                    callback(keys[i], result)

        if callback is not None:
            for i, p in enumerate(problems):
                if p is not None:
                    callback(keys[i], p)
        done = self._run_many([lambda t=t: func(t, first_name[t], **kwargs) for t in order],
                              stop_on_error=errors == "raise", progress=progress, label=label,
                              on_done=on_done, max_workers=max_workers)
        by_tid = dict(zip(order, done))
        if errors == "raise":
            for t in order:
                if isinstance(by_tid[t], XRTProductsError):
                    raise by_tid[t]
        out, rows = {}, []
        for i, key in enumerate(keys):
            exc = problems[i] if problems[i] is not None else by_tid.get(tids[i])
            if isinstance(exc, XRTProductsError):
                log.info("GRB %s: %s", key, exc)
                rows.append((key, names[i], tids[i], exc))
                continue
            out[key] = by_tid[tids[i]]
            rows.append((key, names[i], tids[i], None))
        return GRBResults(out, rows)

    # -- light curves ---------------------------------------------------------------------------
    @staticmethod
    def _other_t0(kept, t0_met):
        """Whether an answer's T0 (MET; None: not stated) is not the T0 kept (more than 1 s apart:
        answers may round it)."""
        try:
            return t0_met is not None and abs(float(kept) - float(t0_met)) > 1.0
        except (TypeError, ValueError):
            return False

    def _t0_utc(self, target_id, folder_url, t0_met=None):
        """(T0 MET, UKSSDC's UTC for it as text) from the header of the repository's ``curve.qdp``,
        or None; the light curve's JSON gives T0 in MET only, without the clock correction.

        Read once per GRB: kept by this client and in the cache folder. ``t0_met``, the T0 an
        answer states, checks what was kept: one for another T0 is read again.
        """
        key = (self.server, target_id)
        with self._memo_lock:
            found = self._t0.get(key)
        if found is None:
            stored = self._memo_get("t0", str(target_id))
            if isinstance(stored, list) and len(stored) == 2 and all(isinstance(x, str) for x in stored):
                m = _T0_LINE.search(f"T0 MET={stored[0]} s, = {stored[1]}")
                found = tuple(stored) if m and m.groups() == tuple(stored) else None
        if found is not None and not self._other_t0(found[0], t0_met):
            with self._memo_lock:
                self._t0[key] = found
            return found
        found = None
        try:
            text = self._transport.get_text(f"{folder_url}/curve.qdp")
        except (RemoteServiceError, ServiceUnavailableError) as exc:
            # A missing header costs the clock correction (the reader then says so), never the data.
            log.debug("no curve.qdp header for targetID %s: %s", target_id, exc)
            text = ""
        for line in text.splitlines()[:20]:
            m = _T0_LINE.search(line)
            if m:
                found = (m.group(1), m.group(2))
                break
        if found is not None:
            # Only a stated T0 is kept: a file missing now (a GRB still being processed) may come.
            with self._memo_lock:
                self._t0[key] = found
            self._memo_put("t0", str(target_id), list(found))
        return found

    def _folder(self, target_id, data=None, kind="xrt_curves"):
        """The URL folder of a GRB's files: the one the service named, else the site's."""
        for name in (data or {}).get("Datasets", []):
            url = (data.get(f"{name}Data") or {}).get("URL")
            if url:
                return url.rsplit("/", 1)[0]
        return f"{self.server}/{kind}/{target_id:08d}"

    def _lightcurve(self, target_id, name, *, incbad, nosys, cache, utcf):
        from .readers.lightcurve import read_lightcurve_json
        payload = {"type": "GRB", "objectID": target_id, "incbad": incbad, "nosys": nosys}
        data = self._call("downloadLightCurve", payload, required=("Datasets",), cache=cache)
        if "NOLC" in data or not data.get("Datasets"):
            raise ProductUnavailableError(f"The GRB repository has no light curve for "
                                          f"{name or 'targetID %d' % target_id}.", product="lightcurve")
        t0_date = None
        if utcf is None:
            stated = self._t0_utc(target_id, self._folder(target_id, data), t0_met=data.get("T0"))
            t0_date = f"{stated[0]}\n{stated[1]}\n" if stated else None
        lc = read_lightcurve_json(data, utcf=utcf, t0_date=t0_date)
        lc.meta.update(grb=name, target_id=target_id)
        return lc

    def get_lightcurve(self, grb, *, incbad=True, nosys=False, cache=False, utcf=None,
                       get_query_payload=False):
        """The repository light curve of one GRB.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        incbad : bool or "both"
            True (default, as the official client): the datasets that include bins with an
            unverified centroid (``*_incbad``); False: those without; "both": all.
        nosys : bool or "both"
            False (default): WT rates with their systematic error; True: the ``*_nosys``
            datasets; "both": all.
        cache : bool
            Allow a cached answer (the repository's curves grow while Swift observes: off by
            default).
        utcf : float or `~astropy.units.Quantity`, optional
            Swift's clock correction; by default the one UKSSDC states with T0 in the header of
            the repository's ``curve.qdp``.
        get_query_payload : bool
            Return what the call would send, sending nothing (astroquery's convention): a list of
            the JSON bodies POSTed to ``API/main.php``, in order, ``APIFunc`` and ``APIVersion``
            included. A name not looked up yet in this session adds its ``GRBNameToTargetID``
            body, and the product body then shows the targetID as ``"<targetID of 'GRB
            060729'>"``. The file GETs the answers lead to (``curve.qdp`` for T0) are not listed.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``WT``, ``PC``, ``PCUL``, ``WTHR``, ``PCHard``... (with their suffixes), count
            rates in ct / s, ``time`` a `~astropy.time.Time`, ``t_since_t0`` in s;
            ``meta["t0"]`` is T0 as a Time, ``meta["grb"]`` and ``meta["target_id"]`` say which GRB.

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            A parameter is not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository (no light curve is asked for).
        `~xrtprods_astro.exceptions.ProductUnavailableError`
            The repository has no light curve for this GRB.
        """
        incbad, nosys = _choice(incbad, "incbad"), _choice(nosys, "nosys")
        if get_query_payload:
            return self._planned([grb], "downloadLightCurve", lambda tid: {
                "type": "GRB", "objectID": tid, "incbad": incbad, "nosys": nosys})
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        return self._lightcurve(tid, value if kind == "name" else None, incbad=incbad, nosys=nosys,
                                cache=bool(cache), utcf=utcf)

    def get_lightcurves(self, grbs, *, incbad=True, nosys=False, cache=False, column=None, errors="raise",
                        progress=None, callback=None, max_workers=None, get_query_payload=False):
        """The light curves of several GRBs: `GRBResults` ``{grb as given: LightCurve}``.

        By default (``errors="raise"``) every name is looked up before any light curve is asked
        for, so one unknown name stops the call at once with a
        `~xrtprods_astro.exceptions.ResolverError` naming all the unknown ones.
        ``grbs`` may be a Table with a GRB column (``column=``; by default a column named
        ``grb``, ``name``, ``target_id``..., any case, or its only text column), e.g. a catalogue
        query's result. With ``errors="collect"`` a GRB that fails (not a GRB, an unknown name,
        no such product, a service error) does not stop the others: the result's ``summary``
        Table has one row per GRB with ``ok`` and ``error``, and only the GRBs done are keys.
        Several GRBs are asked for at once, at most ``max_workers`` requests in flight (default
        `max_workers`, ``conf.max_active_jobs``), one call per distinct GRB; the results keep the input
        order. ``progress``: None (default) draws one progress line on standard error for
        several GRBs (when the log level allows INFO), True always, False never, or a text
        stream to draw it on. ``callback(grb as given, product or exception)`` is called as
        each GRB ends (e.g. to save it at once). ``get_query_payload=True`` returns the request
        bodies the call would send, sending nothing (see `get_lightcurve`).
        Other parameters as for `get_lightcurve`.
        """
        incbad, nosys = _choice(incbad, "incbad"), _choice(nosys, "nosys")
        if get_query_payload:
            return self._planned(_grb_items(grbs, column), "downloadLightCurve", lambda tid: {
                "type": "GRB", "objectID": tid, "incbad": incbad, "nosys": nosys})
        return self._many(grbs, self._lightcurve, column=column, errors=errors, incbad=incbad, nosys=nosys,
                          cache=bool(cache), utcf=None, progress=progress, callback=callback,
                          label="GRB light curves", max_workers=max_workers)

    def get_flux_lightcurve(self, grb, *, cache=False):
        """The repository's flux light curve of one GRB (0.3-10 keV, erg cm^-2 s^-1).

        The common API has no function for it (spec §13.8): this reads the repository's own
        ``flux.qdp`` (``<server>/xrt_curves/<8-digit targetID>/flux.qdp``). Whether the file holds
        fluxes is decided from its content (its column names and header), never from its name.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``WT``, ``PC``, ``PCUL`` of kind ``flux`` with ``flux``, ``flux_err_pos``,
            ``flux_err_neg`` in erg / (cm2 s); ``meta["quantity"] == "flux"``.

        Raises
        ------
        `~xrtprods_astro.exceptions.ReaderError`
            The file does not hold fluxes.
        """
        from .readers.lightcurve import read_lightcurve_qdp
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        folder = f"{self.server}/xrt_curves/{tid:08d}"
        url = f"{folder}/flux.qdp"
        text = self._transport.get_text(url, cache=bool(cache))
        # Newer flux.qdp files have no header block, so no T0: take it, with UKSSDC's UTC for it,
        # from the header of the GRB's curve.qdp (a file that states its own T0 keeps it).
        t0, utcf = None, None
        if "T0 for this burst" not in text:
            t0, utcf = self._t0_utcf(tid)
        # Bytes, not str: a str source may be taken for a path.
        lc = read_lightcurve_qdp(text.encode("utf-8"), url=url, t0=t0, utcf=utcf)
        if lc.meta.get("quantity") != "flux":
            raise ReaderError(f"{url}: the file holds no flux columns (quantity "
                              f"{lc.meta.get('quantity')!r}); it is not read as a flux light curve")
        lc.meta.update(grb=value if kind == "name" else None, target_id=tid)
        return lc

    # -- burst analyser -------------------------------------------------------------------------
    @staticmethod
    def _burst_selection(value, name, allowed):
        """``"all"`` or the list of ``allowed`` values (case-insensitive) the service takes."""
        if isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        items = [value] if isinstance(value, str) else list(value) if value is not None else []
        lowered = [str(i).strip().lower() for i in items]
        bad = [i for i, low in zip(items, lowered) if low not in allowed]
        if bad or not items:
            raise InvalidRequestError(f"{name}: {bad or items!r} not allowed; allowed: 'all' or some of "
                                      + ", ".join(repr(a) for a in allowed))
        return list(dict.fromkeys(lowered))

    def _burst(self, target_id, name, *, payload, cache, utcf, density_unit):
        from .readers.burst import read_burst_analyser_json
        from .times import parse_ukssdc_date
        data = self._call("downloadBurstAnalyser", {"targetID": target_id, **payload},
                          required=("Instruments",), cache=cache)
        if not data.get("Instruments"):
            raise ProductUnavailableError(f"The GRB repository has no burst-analyser data for "
                                          f"{name or 'targetID %d' % target_id}.", product="burst_analyser")
        # The answer's times are seconds since T0, the BAT trigger, which it does not state: the
        # repository states it (with UKSSDC's UTC for it) in the header of the GRB's curve.qdp.
        stated = self._t0_utc(target_id, f"{self.server}/xrt_curves/{target_id:08d}")
        t0, t0_utc = (None, None) if not stated else (float(stated[0]), parse_ukssdc_date(stated[1]))
        if stated is None:
            log.info("targetID %s: T0 is not stated by the repository; times stay seconds since T0",
                     target_id)
        return read_burst_analyser_json(data, t0=t0, utcf=utcf, t0_utc=None if utcf is not None else t0_utc,
                                        density_unit=density_unit, target=target_id, grb=name)

    def _burst_payload(self, instruments, bat_binning, bands, incbad, nosys, density_unit):
        from .readers.burst import BURST_BANDS
        if density_unit not in ("Jy", "mJy"):
            raise InvalidRequestError(f"density_unit: {density_unit!r} not allowed; allowed: 'Jy', 'mJy'")
        # Key order and values as the official client sends them (spec §3).
        return {"instruments": self._burst_selection(instruments, "instruments", BURST_INSTRUMENTS),
                "bands": self._burst_selection(bands, "bands", tuple(b.lower() for b in BURST_BANDS)),
                "BATBinning": self._burst_selection(bat_binning, "bat_binning", BURST_BAT_BINNINGS),
                "incbad": _choice(incbad, "incbad"), "nosys": _choice(nosys, "nosys")}

    def get_burst_analyser(self, grb, *, instruments="all", bat_binning="all", bands="all", incbad=True,
                           nosys=False, density_unit="Jy", cache=False, utcf=None, get_query_payload=False):
        """The burst analyser of one GRB: BAT and XRT fluxes, flux densities and photon indices.

        The burst analyser (Evans et al. 2010, A&A 519, A102) converts BAT and XRT count rates to
        fluxes with the spectral evolution taken into account. One ``downloadBurstAnalyser`` call
        (plus the name lookup and, once per GRB, the header of its ``curve.qdp`` for T0).

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        instruments : "all" or sequence of str
            Some of ``"bat"`` (which also brings the BAT data without spectral evolution),
            ``"xrt"``, ``"uvot"``.
        bat_binning : "all" or sequence of str
            Some of ``"snr4"``... ``"snr7"`` (each with its ``_sinceT0`` variant),
            ``"timedel0.004"``, ``"timedel0.064"``, ``"timedel1"``, ``"timedel10"``. Asking for
            everything of a bright GRB can exceed the service's memory (spec §7.1): subset.
        bands : "all" or sequence of str
            Some of ``"xrtband"`` (0.3-10 keV flux), ``"batband"`` (15-50 keV flux), ``"density"``
            (unabsorbed flux density at 10 keV), ``"observedflux"`` (observed flux density).
        incbad, nosys : bool or "both"
            Which XRT datasets: as for `get_lightcurve` (defaults as the official client's).
        density_unit : {"Jy", "mJy"}
            Unit of the flux densities.
        cache : bool
            Allow a cached answer (off by default: the repository's products grow).
        utcf : float or `~astropy.units.Quantity`, optional
            Swift's clock correction; by default the one UKSSDC states with T0.
        get_query_payload : bool
            Return the request bodies the call would send (a list of dicts, see
            `get_query_payload`), sending nothing.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets ``BAT_SNR4_XRTBand``, ``BAT_NoEvolution_SNR4_Density``, ``BAT_HR``,
            ``XRT_XRTBand_PC_incbad``, ``XRT_HR_PC``... (see
            `~xrtprods_astro.readers.burst.read_burst_analyser_json`): fluxes in erg / (cm2 s),
            flux densities in ``density_unit``, ``gamma`` the photon index, ``time`` a
            `~astropy.time.Time` and ``t_since_t0`` in s since T0, the BAT trigger
            (``meta["t0"]``), never a count rate.

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            A parameter is not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository.
        `~xrtprods_astro.exceptions.ProductUnavailableError`
            The repository has no burst-analyser data for this GRB.
        """
        payload = self._burst_payload(instruments, bat_binning, bands, incbad, nosys, density_unit)
        if get_query_payload:
            return self._planned([grb], "downloadBurstAnalyser", lambda tid: {"targetID": tid, **payload})
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        return self._burst(tid, value if kind == "name" else None, payload=payload, cache=bool(cache),
                           utcf=utcf, density_unit=density_unit)

    def get_burst_analysers(self, grbs, *, instruments="all", bat_binning="all", bands="all", incbad=True,
                            nosys=False, density_unit="Jy", cache=False, column=None, errors="raise",
                            progress=None, callback=None, max_workers=None,
                            get_query_payload=False):
        """The burst analyser of several GRBs: `GRBResults` ``{grb as given: LightCurve}``.

        Every parameter (and, by default, every name) is checked before any burst-analyser data
        is asked for.
        ``grbs`` may be a Table with a GRB column (``column=``; by default a column named
        ``grb``, ``name``, ``target_id``..., any case, or its only text column), e.g. a catalogue
        query's result. With ``errors="collect"`` a GRB that fails (not a GRB, an unknown name,
        no such product, a service error) does not stop the others: the result's ``summary``
        Table has one row per GRB with ``ok`` and ``error``, and only the GRBs done are keys.
        Several GRBs are asked for at once, at most ``max_workers`` requests in flight (default
        `max_workers`, ``conf.max_active_jobs``), one call per distinct GRB; the results keep the input
        order. ``progress``: None (default) draws one progress line on standard error for
        several GRBs (when the log level allows INFO), True always, False never, or a text
        stream to draw it on. ``callback(grb as given, product or exception)`` is called as
        each GRB ends (e.g. to save it at once). ``get_query_payload=True`` returns the request
        bodies the call would send, sending nothing (see `get_lightcurve`).
        Other parameters as for `get_burst_analyser`.
        """
        payload = self._burst_payload(instruments, bat_binning, bands, incbad, nosys, density_unit)
        if get_query_payload:
            return self._planned(_grb_items(grbs, column), "downloadBurstAnalyser",
                                 lambda tid: {"targetID": tid, **payload})
        return self._many(grbs, self._burst, column=column, errors=errors, payload=payload,
                          progress=progress, callback=callback, label="GRB burst analysers",
                          max_workers=max_workers,
                          cache=bool(cache), utcf=None, density_unit=density_unit)

    def download_burst_analyser(self, grb, dest_dir, *, overwrite=False, get_query_payload=False):
        """Download the burst analyser's own files of one GRB (the website's tar) into ``dest_dir``.

        The tar whose URL ``getBurstAnalyserTarURL`` gives is downloaded through the package's
        verified download path (streamed, checked, renamed only when complete).

        ``get_query_payload=True`` returns the request bodies it would send (the tar's GET, named
        by the answer, is not listed), sending nothing and writing nothing.

        Returns
        -------
        `~pathlib.Path`
            The downloaded archive.
        """
        if get_query_payload:
            return self._planned([grb], "getBurstAnalyserTarURL", lambda tid: {"targetID": tid})
        tid = self.target_id(grb)
        data = self._call("getBurstAnalyserTarURL", {"targetID": tid}, required=("URL",))
        url = str(data["URL"])
        check_url(url, "URL")
        name = os.path.basename(urlparse(url).path) or f"batxrtfiles_{tid:08d}.tar.gz"
        path = Path(dest_dir) / name
        if path.is_file() and not overwrite:
            log.info("%s is already here (overwrite=True downloads it again)", path)
            return path
        return Path(self._transport.download(url, path, overwrite=overwrite))

    # -- positions ------------------------------------------------------------------------------
    def _positions(self, target_id, name, *, kinds):
        from .readers.grb import read_grb_positions
        data = self._call("getGRBPositions", {"posToGet": kinds, "targetID": target_id})
        return read_grb_positions(data, target_id=target_id)

    @staticmethod
    def _position_kinds(kinds):
        from .readers.grb import GRB_POSITION_KINDS
        if isinstance(kinds, str) and kinds.strip().lower() == "all":
            return "all"
        items = [kinds] if isinstance(kinds, str) else list(kinds)
        bad = [k for k in items if str(k).strip().lower() not in GRB_POSITION_KINDS]
        if bad or not items:
            raise InvalidRequestError(f"kinds: {bad or items!r} not allowed; allowed: 'all' or some of "
                                      + ", ".join(repr(k) for k in GRB_POSITION_KINDS))
        return [GRB_POSITION_KINDS[str(k).strip().lower()] for k in items]

    def get_positions(self, grb, kinds="all", *, get_query_payload=False):
        """The XRT positions of one GRB.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        kinds : "all" or sequence of str
            Some of ``"best"``, ``"enhanced"``, ``"standard"``, ``"sper"``, ``"onboard"``.
        get_query_payload : bool
            Return the request bodies the call would send (a list of dicts, see
            `get_query_payload`), sending nothing.

        Returns
        -------
        dict
            Kind -> `~xrtprods_astro.readers.positions.Position`: ``coord`` a SkyCoord (ICRS),
            ``err90`` the 90% error radius in arcsec; a kind the repository lacks has ``found``
            False and a ``reason``.
        """
        kinds = self._position_kinds(kinds)
        if get_query_payload:
            return self._planned([grb], "getGRBPositions", lambda tid: {"posToGet": kinds, "targetID": tid})
        return self._positions(self.target_id(grb), None, kinds=kinds)

    def get_position(self, grb, *, get_query_payload=False):
        """The best position of one GRB (enhanced, else standard, else SPER, else on-board).

        ``get_query_payload=True`` returns the request bodies it would send, sending nothing.
        """
        if get_query_payload:
            return self.get_positions(grb, ["best"], get_query_payload=True)
        return self.get_positions(grb, ["best"])["best"]

    def get_positions_many(self, grbs, kinds="all", *, column=None, errors="raise", progress=None,
                           callback=None, max_workers=None, get_query_payload=False):
        """`get_positions` for several GRBs: `GRBResults` ``{grb as given: {kind: Position}}``.

        ``grbs`` may be a Table with a GRB column (``column=``; by default a column named
        ``grb``, ``name``, ``target_id``..., any case, or its only text column), e.g. a catalogue
        query's result. With ``errors="collect"`` a GRB that fails (not a GRB, an unknown name,
        no such product, a service error) does not stop the others: the result's ``summary``
        Table has one row per GRB with ``ok`` and ``error``, and only the GRBs done are keys.
        Several GRBs are asked for at once, at most ``max_workers`` requests in flight (default
        `max_workers`, ``conf.max_active_jobs``), one call per distinct GRB; the results keep the input
        order. ``progress``: None (default) draws one progress line on standard error for
        several GRBs (when the log level allows INFO), True always, False never, or a text
        stream to draw it on. ``callback(grb as given, product or exception)`` is called as
        each GRB ends (e.g. to save it at once). ``get_query_payload=True`` returns the request
        bodies the call would send, sending nothing (see `get_lightcurve`).
        """
        kinds = self._position_kinds(kinds)
        if get_query_payload:
            return self._planned(_grb_items(grbs, column), "getGRBPositions",
                                 lambda tid: {"posToGet": kinds, "targetID": tid})
        return self._many(grbs, self._positions, column=column, errors=errors, kinds=kinds,
                          progress=progress, callback=callback, label="GRB positions",
                          max_workers=max_workers)

    # -- spectra --------------------------------------------------------------------------------
    #: Seconds for which the ``downloadSpectrum`` answer one of `get_spectral_fits` and
    #: `get_spectra` asked for serves the other one's next call for the same GRB.
    spectrum_handoff_seconds = 60.0

    def _spectrum_data(self, target_id, cache):
        return self._call("downloadSpectrum", {"type": "GRB", "objectID": target_id}, cache=cache)

    def _spectrum_answer(self, target_id, cache, by):
        """The ``downloadSpectrum`` answer for ``by`` ("fits" or "spectra").

        The fits and the archives of a GRB come from one answer (swifttools' ``getSpectra`` asks
        once for both): the answer one of the two calls asked for is handed, once, to the other
        one's next call for the same GRB on this server, if it comes within
        `spectrum_handoff_seconds`. The fits and the archives then describe the same intervals,
        even if the repository adds one in between (it does as a GRB is observed). Anything
        else asks again: the same call twice, a later call, another client.
        """
        key = (self.server, target_id)
        with self._memo_lock:
            kept = self._spectrum_handoff.pop(key, None)
        if kept is not None and kept[0] != by and 0 <= self.monotonic() - kept[1] <= \
                float(self.spectrum_handoff_seconds):
            return kept[2]
        data = self._spectrum_data(target_id, cache)
        with self._memo_lock:
            self._spectrum_handoff[key] = (by, self.monotonic(), data)
        return data

    def _t0_utcf(self, target_id):
        """(T0 MET, the clock correction UTCF at T0) as the repository states them, or Nones."""
        from .times import parse_ukssdc_date, utcf_from_utc
        stated = self._t0_utc(target_id, f"{self.server}/xrt_curves/{target_id:08d}")
        if not stated:
            return None, None
        utc = parse_ukssdc_date(stated[1])
        return float(stated[0]), (None if utc is None else utcf_from_utc(float(stated[0]), utc))

    def _utcf(self, target_id):
        return self._t0_utcf(target_id)[1]

    def get_spectral_fits(self, grb, *, cache=False, get_query_payload=False):
        """The repository's automatic spectral fits of one GRB.

        ``get_query_payload=True`` returns the request bodies it would send, sending nothing.

        Returns
        -------
        `~astropy.table.Table`
            One row per interval (``interval0``: all data; ``late_time``...), mode and model, with
            units on every physical column and boolean ``*_frozen`` columns flagging the
            parameters held fixed (see `~xrtprods_astro.readers.grb.read_grb_spectral_fits`).
            An empty table with ``meta["no_spectrum"]`` True when there is no spectrum.

        Notes
        -----
        Called within `spectrum_handoff_seconds` after `get_spectra` for the same GRB, it reads
        the answer the archives came from, without asking again (once).
        """
        from .readers.grb import read_grb_spectral_fits
        if get_query_payload:
            return self._planned([grb], "downloadSpectrum", lambda tid: {"type": "GRB", "objectID": tid})
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        data = self._spectrum_answer(tid, bool(cache), "fits")
        return read_grb_spectral_fits(data, target_id=tid, grb=value if kind == "name" else None,
                                      utcf=self._utcf(tid))

    def _spectral_fits(self, target_id, name, *, cache):
        from .readers.grb import read_grb_spectral_fits
        return read_grb_spectral_fits(self._spectrum_data(target_id, cache), target_id=target_id, grb=name,
                                      utcf=self._utcf(target_id))

    def get_spectral_fits_many(self, grbs, *, cache=False, column=None, errors="raise", progress=None,
                               callback=None, max_workers=None, get_query_payload=False):
        """`get_spectral_fits` for several GRBs: `GRBResults` ``{grb as given: fit Table}``.

        ``grbs`` may be a Table with a GRB column (``column=``), as for `get_lightcurves`; with
        ``errors="collect"`` a GRB that fails does not stop the others (the result's
        ``summary`` says what happened to each).
        Several GRBs are asked for at once, at most ``max_workers`` requests in flight (default
        `max_workers`, ``conf.max_active_jobs``), one call per distinct GRB; the results keep the input
        order. ``progress``: None (default) draws one progress line on standard error for
        several GRBs (when the log level allows INFO), True always, False never, or a text
        stream to draw it on. ``callback(grb as given, product or exception)`` is called as
        each GRB ends (e.g. to save it at once). ``get_query_payload=True`` returns the request
        bodies the call would send, sending nothing (see `get_lightcurve`).
        """
        if get_query_payload:
            return self._planned(_grb_items(grbs, column), "downloadSpectrum",
                                 lambda tid: {"type": "GRB", "objectID": tid})
        return self._many(grbs, self._spectral_fits, column=column, errors=errors, cache=bool(cache),
                          progress=progress, callback=callback, label="GRB spectral fits",
                          max_workers=max_workers)

    def get_spectra(self, grb, dest_dir, *, intervals=None, overwrite=False, get_query_payload=False):
        """Download the repository's spectrum archives of one GRB and read them.

        Each ``<interval>.tar.gz`` is downloaded through the package's verified download path
        (streamed, checked as a gzip tar, renamed only when complete), then unpacked safely into
        ``dest_dir/<interval>/``.

        Parameters
        ----------
        grb : str or int
        dest_dir : path-like
        intervals : sequence of str, optional
            Interval names (``"interval0"``, ``"late_time"``); default all.
        overwrite : bool
            Download again archives already in ``dest_dir`` (by default they are read as they
            are: only a complete, verified download ever takes an archive's name).
        get_query_payload : bool
            Return the request bodies it would send (the archives' GETs, named by the answer,
            are not listed), sending nothing and writing nothing.

        Returns
        -------
        dict
            Interval name -> `~xrtprods_astro.readers.spectrum.SpectrumProducts` (per mode the
            grouped spectrum, background, ARF and RMF as HDULists, the fit summaries).

        Notes
        -----
        Called within `spectrum_handoff_seconds` after `get_spectral_fits` for the same GRB, it
        downloads the archives of the answer the fits were read from, without asking for it
        again (once): the fits and the files then describe the same intervals.
        """
        if intervals is not None:
            intervals = [intervals] if isinstance(intervals, str) else list(intervals)
        if get_query_payload:
            return self._planned([grb], "downloadSpectrum", lambda tid: {"type": "GRB", "objectID": tid})
        tid = self.target_id(grb)
        data = self._spectrum_answer(tid, False, "spectra")
        if "NoSpectrum" in data:
            raise ProductUnavailableError(f"The GRB repository has no spectrum for {grb!r}.",
                                          product="spectrum")
        return self._read_spectra(data, dest_dir, intervals, overwrite, grb)

    def _read_spectra(self, data, dest_dir, intervals, overwrite, what):
        """Download (verified) and read the spectrum archives a ``downloadSpectrum`` answer names."""
        from .readers.spectrum import read_spectrum_archive
        rnames = [str(r) for r in data.get("rnames", [])]
        if intervals is not None:
            unknown = [i for i in intervals if i not in rnames]
            if unknown:
                raise InvalidRequestError(f"intervals: {unknown} not among the intervals of {what}: "
                                          f"{rnames}")
            rnames = [r for r in rnames if r in intervals]
        from .readers.spectrum import _index_products
        dest = Path(dest_dir)
        out = {}
        for rname in rnames:
            url = (data.get(rname) or {}).get("DataFile")
            if not url:
                log.info("%s: interval %s has no DataFile; skipped", what, rname)
                continue
            name = os.path.basename(urlparse(url).path) or f"{rname}.tar.gz"
            path = dest / name
            try:
                if path.is_file() and not overwrite:
                    # Only a verified archive is ever renamed to this name: a re-run reads it again.
                    log.info("%s is already here; reading it (overwrite=True downloads it again)", path)
                    out[rname] = read_spectrum_archive(path, dest / rname)
                else:
                    into = (dest / rname).resolve()
                    out[rname] = _index_products(self._download_unpacked(url, path, into), into, name)
            except ReaderError as exc:
                raise ReaderError(f"{path}: {exc} (overwrite=True downloads it again)") from exc
        return out

    def _download_unpacked(self, url, path, into):
        """Download the archive ``url`` to ``path`` and unpack it into ``into``, reading it once.

        The download (streamed, its first bytes and size checked, renamed only when complete)
        lands under a private hidden name beside ``path``; `~xrtprods_astro.archives.safe_extract` then
        checks the whole archive as it unpacks it, all or nothing (gzip CRC32 and length, tar
        headers, limits, unsafe members: every check of the download's own verifier), and only
        then does the archive take its name. One inflation instead of two (one to verify the
        download, one to unpack it). An archive that does not unpack for any other reason than
        a limit or an unsafe member is downloaded again once, verified as it streams.

        Returns
        -------
        list of `pathlib.Path`
            The unpacked files, in archive order.
        """
        import secrets
        from .archives import ArchiveLimitError, UnsafeArchiveError, safe_extract
        path.parent.mkdir(parents=True, exist_ok=True)
        for verified_download in (False, True):
            # A name of this call's own, ending as the archive's (the download checks the first
            # bytes against it); a file, not a folder: each folder made and removed costs.
            staged = path.with_name(f".{secrets.token_hex(6)}.{path.name}")
            try:
                self._transport.download(url, staged, archive=None if verified_download else False)
                try:
                    files = safe_extract(staged, into)
                except (ArchiveLimitError, UnsafeArchiveError):
                    raise   # the archive itself: the same bytes would come again
                except ReaderError as exc:
                    if verified_download:
                        raise
                    log.warning("%s: %s; downloading it again", path.name, exc)
                    continue
                os.replace(staged, path)
                log.info("Unpacked %s into %s", path, into)
                return files
            finally:
                staged.unlink(missing_ok=True)
        raise AssertionError("unreachable")

    @staticmethod
    def _read_checked(fetch, reader):
        """``reader`` applied to what ``fetch`` retrieves, as the check that lets it be cached."""
        read = []
        fetch(accept=lambda data: read.append(reader(data)))
        return read[-1]

    # -- jobs: rebinned light curves and time-sliced spectra ---------------------------------
    @property
    def poll_interval(self):
        """Seconds between status polls of a job ("auto": 0.5 s on loopback, 60 s elsewhere)."""
        from . import conf
        from .localmode import effective_poll_interval
        configured = getattr(self, "_poll_interval", None)
        return effective_poll_interval(self.server, conf.poll_interval if configured is None else configured)

    @poll_interval.setter
    def poll_interval(self, value):
        self._poll_interval = value

    def monotonic(self):
        """The client's clock for waits, in seconds (the transport's, replaceable in tests)."""
        return self._transport.monotonic()

    def sleep(self, seconds):
        """Pause between polls on the client's clock (the transport's, replaceable in tests)."""
        self._transport.sleep(seconds)

    def _source(self, grb):
        tid = self.target_id(grb)
        kind, value = _classify(grb)
        return GRBLightCurveSource(self, tid, value if kind == "name" else None)

    def rebin_lightcurve(self, grb, *, binning, get_query_payload=False, **params):
        """Ask the repository to rebin a GRB's light curve; a job handle comes back.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        binning : {"counts", "time", "snapshot", "obsid"}
        **params
            Light-curve parameters in any spelling (``pc_counts``, ``pcCounts``...), checked as a
            product-generator rebin's are (`~xrtprods_astro.core.rebin_parameters`) and sent
            under swifttools' names.
        get_query_payload : bool
            Return the request bodies it would send (see `get_lightcurve`), submitting nothing.

        Returns
        -------
        `~xrtprods_astro.job.RebinJob`
            The handle a product-generator rebin gives: ``status()``, ``wait()``, ``cancel()``,
            and ``lightcurve()`` read as `get_lightcurve` reads the GRB's own (units, T0 as the
            repository states it, ``meta["grb"]``, ``meta["target_id"]``, ``meta["rebin_id"]``).

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            A parameter is not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository.
        """
        from .core import rebin_parameters
        from .job import RebinJob
        binning, extra = rebin_parameters(binning, params)

        def body(tid, name):
            payload = {"type": "GRB", "objectID": tid, "binMeth": binning, **extra}
            if name is not None:
                payload["name"] = name   # swifttools sends the name when called by name
            return payload

        return self._start_job(grb, "rebinLightCurve", body, RebinJob, get_query_payload)

    def _start_job(self, grb, func, body, job_class, get_query_payload):
        """Plan (``get_query_payload``) or submit a GRB job whose request is ``body(targetID, name)``
        (the name only when the GRB was given by name, as swifttools sends it); a ``job_class``
        handle on the new job."""
        from .job import job_id_int
        if get_query_payload:
            kind, value = _classify(grb)
            return self._planned([grb], func, lambda tid: body(tid, value if kind == "name" else None))
        source = self._source(grb)
        data = self._call(func, body(source.target_id, source.grb), required=("JobID",))
        return job_class(self, job_id_int(data["JobID"], "JobID"), source)

    def get_rebin(self, rebin_id, grb):
        """Re-attach to a rebin job of a GRB's light curve.

        Parameters
        ----------
        rebin_id : int or str
            The rebin job's ID (``GRBs.rebin_lightcurve(...).job_id``).
        grb : str or int
            The GRB rebinned (its T0 and name are read from the repository).

        Returns
        -------
        `~xrtprods_astro.job.RebinJob`
        """
        from .job import RebinJob
        return RebinJob(self, rebin_id, self._source(grb))

    # The common API's rebin functions, as swifttools calls them (JobIDs as ints).
    def rebin_status(self, rebin_id):
        """Status of a rebin job (``checkRebinStatus``): ``status`` code and ``text``."""
        from .job import job_id_int
        return self._call("checkRebinStatus", {"JobID": job_id_int(rebin_id, "rebin_id")},
                          required=("status",))

    def rebinned_lightcurve_data(self, rebin_id, nosys=False, incbad=True, *, cache=None, accept=None):
        """The rebinned light curve as the service sends it (``downloadLightCurve``, ``REBIN_LC``)."""
        from .job import job_id_int
        payload = {"type": "REBIN_LC", "objectID": job_id_int(rebin_id, "rebin_id"),
                   "incbad": _choice(incbad, "incbad"), "nosys": _choice(nosys, "nosys")}
        return self._call("downloadLightCurve", payload, required=("Datasets",), accept=accept,
                          cache=bool(cache))

    def cancel_rebin(self, rebin_id):
        """Cancel a rebin job (``cancelRebin``). Returns True if the service confirmed."""
        return self._cancel("cancelRebin", rebin_id, "rebin_id")

    def _cancel(self, func, job_id, name):
        from .job import job_id_int
        try:
            self._call(func, {"JobID": job_id_int(job_id, name)})
        except RemoteServiceError as exc:
            log.info("%s %s: not cancelled: %s", func, job_id, exc)
            return False
        return True

    @staticmethod
    def _slice_times(value, name):
        from .times import format_time_ranges
        if isinstance(value, str):
            text = re.sub(r"\s+", "", value)
            if not _SLICE_TIMES.match(text):
                raise InvalidRequestError(
                    f"{name}: {value!r} is not a slice; expected 'start-stop' in seconds since T0 (MET "
                    "if > 1e8), several joined with commas, or 'OBS<11-digit obsID>-OBS<obsID>'")
            return text
        # Quantities: seconds since T0; Times: absolute, sent as MET (the service reads > 1e8 as MET).
        return format_time_ranges(value, name=name)

    def _slice_payload(self, slices, mode, redshift, grades):
        mode_up = str(mode).strip().upper() if isinstance(mode, str) else mode
        if mode_up not in SLICE_MODES:
            raise InvalidRequestError(f"mode: {mode!r} not allowed; allowed: 'PC', 'WT', 'BOTH'")
        if not isinstance(slices, dict) or not 1 <= len(slices) <= MAX_SLICES:
            got = f"{len(slices)} slices" if isinstance(slices, dict) else repr(slices)
            raise InvalidRequestError(f"slices: expected a dict of 1 to {MAX_SLICES} slices "
                                      f"{{name: times or (times, mode)}}, got {got}")
        rnames, times, modes, problems = [], [], [], []
        for label, entry in slices.items():
            where = f"slices[{label!r}]"
            if not isinstance(label, str) or not re.fullmatch(r"[A-Za-z0-9_]+", label):
                problems.append(f"slices: the name {label!r} may hold only letters, digits and underscores")
                continue
            this_mode = mode_up
            pair = isinstance(entry, (tuple, list)) and len(entry) == 2 and isinstance(entry[1], str)
            if pair and (entry[1].strip().upper() in SLICE_MODES
                         or isinstance(entry[0], str) and _SLICE_TIMES.match(re.sub(r"\s+", "", entry[0]))):
                entry, this_mode = entry[0], entry[1].strip().upper()
                if this_mode not in SLICE_MODES:
                    problems.append(f"{where}: mode {this_mode!r} not allowed; allowed: 'PC', 'WT', 'BOTH'")
                    continue
            try:
                times.append(self._slice_times(entry, where))
            except InvalidRequestError as exc:
                problems.extend(exc.problems)
                continue
            rnames.append(label)
            modes.append(this_mode)
        grades_ok = grades.strip().lower() if isinstance(grades, str) else grades
        if isinstance(grades, bool) or grades_ok not in SLICE_GRADES:
            problems.append(f"grades: {grades!r} not allowed; allowed: 'all', 0, 4")
        if redshift is not None:
            if isinstance(redshift, str) and redshift.strip().upper() == "NONE":
                redshift = "NONE"
            elif isinstance(redshift, numbers.Real) and not isinstance(redshift, bool) and redshift >= 0:
                redshift = float(redshift)   # swifttools refuses an int redshift (spec §6.4)
            else:
                problems.append(f"redshift: {redshift!r} not allowed; allowed: None (the GRB system's "
                                "value), a number >= 0, or 'NONE' (fit no redshift)")
        if problems:
            raise InvalidRequestError(problems, header="The time slices are not valid:")
        return {"rnames": rnames, "times": times, "modes": modes}, grades_ok, redshift

    def timeslice_spectrum(self, grb, *, slices, mode="BOTH", redshift=None, grades="all",
                           get_query_payload=False):
        """Ask the repository for spectra of a GRB over chosen time slices; a job handle comes back.

        Parameters
        ----------
        grb : str or int
            A GRB name in any common spelling, or its targetID.
        slices : dict
            1 to 4 slices, ``{name: times}`` or ``{name: (times, mode)}``; a name holds letters,
            digits and underscores. ``times`` is the service's text (``"100-800"`` seconds since
            T0, MET if > 1e8, ``"100-300,500-1000"``, ``"OBS00221755001-OBS00221755002"``), a
            time `~astropy.units.Quantity` pair since T0 (``[100, 800] * u.s``), an absolute
            `~astropy.time.Time` pair (sent as MET, through `~xrtprods_astro.times`), or a list
            of such pairs.
        mode : {"BOTH", "PC", "WT"}
            The mode of slices that do not name one (any case; every mode is sent upper-case).
        redshift : float, "NONE" or None
            The redshift of the intrinsic absorber; None (default) the GRB system's value,
            ``"NONE"`` none.
        grades : {"all", 0, 4}
        get_query_payload : bool
            Return the request bodies it would send (see `get_lightcurve`), submitting nothing.

        Returns
        -------
        `TimesliceJob`
            ``status()``, ``wait()``, ``cancel()``, ``spectral_fits()``, ``spectra(dest_dir)``.

        Raises
        ------
        `~xrtprods_astro.exceptions.InvalidRequestError`
            Naming every slice or parameter not valid (nothing is sent).
        `~xrtprods_astro.exceptions.ResolverError`
            The name is not in the repository.
        """
        wire, grades, redshift = self._slice_payload(slices, mode, redshift, grades)

        def body(tid, name):
            # Key order as swifttools sends it (spec §3).
            payload = {"targetID": tid, **wire}
            if name is not None:
                payload["name"] = name
            payload["grades"] = grades
            if redshift is not None:
                payload["redshift"] = redshift
            return payload

        return self._start_job(grb, "timesliceSpectrum", body, TimesliceJob, get_query_payload)

    def get_timeslice(self, job_id, grb):
        """Re-attach to a time-slice job of a GRB.

        Parameters
        ----------
        job_id : int or str
            The time-slice job's ID (``GRBs.timeslice_spectrum(...).job_id``).
        grb : str or int
            The GRB sliced.

        Returns
        -------
        `TimesliceJob`
        """
        return TimesliceJob(self, job_id, self._source(grb))


class GRBLightCurveSource:
    """A GRB as the thing a `~xrtprods_astro.job.RebinJob` rebins: it names it and states its T0.

    Parameters
    ----------
    client : `GRBClass`
    target_id : int
    grb : str or None
        The documented spelling of its name, when it was given by name.
    """

    #: A GRB's rebinned light curve is read with the incbad datasets, as `GRBClass.get_lightcurve`.
    _rebin_incbad = True

    def __init__(self, client, target_id, grb=None):
        self.client = client
        self.target_id = int(target_id)
        self.grb = grb
        self.job_id = self.target_id

    def _what(self):
        return repr(self.grb) if self.grb else str(self.target_id)

    def _rebin_hint(self, rebin_id):
        return f"GRBs.get_rebin({rebin_id}, grb={self._what()})"

    def _rebin_parent(self):
        return f"GRB {self.grb or 'targetID %d' % self.target_id}".replace("GRB GRB ", "GRB ")

    def _t0_date(self, data):
        """T0 with UKSSDC's UTC for it, as ``t0.date`` text: from the repository's ``curve.qdp``,
        else from the header of the rebinned curve's own ``curve.qdp`` (its folder is named in
        ``data``), else None (the reader then uses the clock table and says so)."""
        client = self.client
        stated = client._t0_utc(self.target_id, f"{client.server}/xrt_curves/{self.target_id:08d}")
        if stated is None:
            folder = client._folder(self.target_id, data)
            try:
                text = client._transport.get_text(f"{folder}/curve.qdp")
            except (RemoteServiceError, ServiceUnavailableError) as exc:
                log.debug("no curve.qdp in %s: %s", folder, exc)
                text = ""
            found = (_T0_LINE.search(line) for line in text.splitlines()[:20])
            stated = next(((m.group(1), m.group(2)) for m in found if m), None)
        return f"{stated[0]}\n{stated[1]}\n" if stated else None

    def _read_rebinned(self, rebin, *, nosys, incbad, cache):
        from .readers.lightcurve import read_lightcurve_json
        lc = GRBClass._read_checked(
            lambda accept: rebin.lightcurve_data(nosys=nosys, incbad=incbad, cache=cache, accept=accept),
            lambda data: read_lightcurve_json(data, t0_date=self._t0_date(data)))
        lc.meta.update(grb=self.grb, target_id=self.target_id)
        return lc


class TimesliceJob(JobHandle):
    """A time-slice job of the GRB repository: spectra of a GRB over chosen times (spec §6.4).

    What `GRBClass.timeslice_spectrum` returns and `GRBClass.get_timeslice` re-creates. It is
    followed as any job of the package (`status`, `wait` with the one progress line, `cancel`;
    Ctrl-C in `wait` leaves the job running and logs how to re-attach) and read with
    `spectral_fits` (the reader of `GRBClass.get_spectral_fits`) and `spectra` (the verified
    downloads of `GRBClass.get_spectra`).

    Parameters
    ----------
    client : `GRBClass`
    job_id : int or str
        The JobID as the service gave it.
    source : `GRBLightCurveSource`
        The GRB sliced.

    Attributes
    ----------
    job_id : int
    grb : str or None
        The GRB's name, when it was given by name.
    target_id : int
    """

    _label = "Time-slice job"
    #: The one part of a time-slice job (the key of `status` and `cancel`).
    products = ("spectrum",)

    def __init__(self, client, job_id, source):
        super().__init__(client, job_id)
        # swifttools keeps int(JobID) and sends it back so (spec §3: {"JobID": 1518}).
        self._wire_id = self.job_id
        self._source = source
        self.grb = source.grb
        self.target_id = source.target_id
        self._statuses = {}

    def _reattach_hint(self):
        return f"GRBs.get_timeslice({self.job_id}, grb={self._source._what()})"

    def status(self, products=None):
        """Ask the service for the job's status (``checkSliceStatus``, one HTTP call).

        Parameters
        ----------
        products : optional
            Accepted for the common handle vocabulary; a time-slice job has one part, ``"spectrum"``.

        Returns
        -------
        dict
            ``{"spectrum": ProductStatus}`` (4 complete; negative failed or cancelled).
        """
        data = self._client._call("checkSliceStatus", {"JobID": self._wire_id}, required=("status",))
        try:
            code = int(data.get("status"))
        except (TypeError, ValueError):
            code = -10
        self._statuses = {"spectrum": ProductStatus(code, data.get("text") or "")}
        return dict(self._statuses)

    def cancel(self, products=None):
        """Cancel the job (``cancelSlice``).

        Returns
        -------
        dict
            ``{"spectrum": CancelOutcome}``; ``cancelled`` says whether the service confirmed.
        """
        cancelled = self._client._cancel("cancelSlice", self._wire_id, "job_id")
        text = "Cancelled at your request" if cancelled else "The service did not cancel the time-slice job"
        if cancelled:
            self._statuses = {"spectrum": ProductStatus(-4, text)}
        return {"spectrum": CancelOutcome(0 if cancelled else 3, text, cancelled)}

    def spectrum_data(self, *, cache=None):
        """The ``downloadSpectrum`` answer (type ``timeslice``) once the job is complete.

        ``cache=True`` allows a cached answer; by default the service is asked.

        Raises
        ------
        `~xrtprods_astro.exceptions.ProductNotReadyError`, `~xrtprods_astro.exceptions.ProductFailedError`
            The job is not complete, or failed or was cancelled.
        """
        status = self._statuses.get("spectrum")
        if status is None or not status.done:
            status = self.status()["spectrum"]
        check_product(self.job_id, "spectrum", status)
        # Not cached unless asked: the local service numbers its time-slice jobs afresh after a
        # restart on the same URL, so an answer cached under a JobID may be another job's.
        return self._client._call("downloadSpectrum", {"type": "timeslice", "objectID": self._wire_id},
                                  cache=bool(cache))

    def spectral_fits(self, *, cache=None):
        """The fits of the slices, read as `GRBClass.get_spectral_fits` reads the repository's.

        Returns
        -------
        `~astropy.table.Table`
            One row per slice, mode and model, with units and ``*_frozen`` flags;
            ``meta["job_id"]`` is this job's ID.
        """
        from .readers.grb import read_grb_spectral_fits
        data = self.spectrum_data(cache=cache)
        table = read_grb_spectral_fits(data, target_id=self.target_id, grb=self.grb,
                                       utcf=self._client._utcf(self.target_id))
        table.meta["job_id"] = self.job_id
        return table

    def spectra(self, dest_dir, *, intervals=None, overwrite=False, cache=None):
        """Download the slices' spectrum archives (verified) and read them, as `GRBClass.get_spectra`.

        Parameters
        ----------
        dest_dir : path-like
        intervals : sequence of str, optional
            Slice names; default all.
        overwrite : bool

        Returns
        -------
        dict
            Slice name -> `~xrtprods_astro.readers.spectrum.SpectrumProducts`.
        """
        if intervals is not None:
            intervals = [intervals] if isinstance(intervals, str) else list(intervals)
        data = self.spectrum_data(cache=cache)
        if "NoSpectrum" in data:
            raise ProductUnavailableError(f"Time-slice job {self.job_id} made no spectrum.",
                                          product="spectrum")
        return self._client._read_spectra(data, dest_dir, intervals, overwrite,
                                          f"time-slice job {self.job_id}")

    def __repr__(self):
        state = self._statuses.get("spectrum")
        return (f"<TimesliceJob {self.job_id} of {self._source._rebin_parent()}"
                + (f" status: {state.code}" if state else "") + ">")


#: The ready instance.
GRBs = GRBClass()
