# Licensed under a 3-clause BSD style license - see LICENSE
"""
The catalogue functions of the local service's ``API/main.php``: ``getMetadata``, ``queryDB`` and
the upper-limit server ``getSXPSUL`` (shared/spec/ukssdc-catalogues.md §2, §4).

Not to be confused with `xrtprods_astro.server.catalogue`, the simulated sky's list of well-known
objects (the name resolver's catalogue). This module builds a small LSXPS-like catalogue *from* that
sky: every object and every serendipitous field source is a catalogued source, and a fixed
population of faint "filler" sources makes the table larger than the 1000-row page limit, so that
paging is exercised. Two tables are served: ``LSXPS``/``sources`` and ``obs``/``swiftmastr``.

* ``getMetadata``: ``{"metadata": {"columns": [...], "metadata": [[row], ...]}}`` with the columns
  ``ColName, Class, Description, Type, LongDescription, IsObsCol, IsTargetCol``; units only inside
  ``Description`` as on the real service ("Roll Angle (degree)").
* ``queryDB``: ``cols``, ``constraints`` (all operators, ``combiner``, ``BETWEEN``), cones by
  ``searchRA``/``searchDec`` or ``searchName`` (``Resolved*`` keys) with ``_r`` in ``adUnits``,
  ``sortBy``/``sortDir``, ``numRows``/``firstRow`` over a stable order; ``numRows`` above 1000 is
  an error (the real service's memory limit).
* ``getSXPSUL``: rows computed from counts with a Bayesian (KBN-like) limit, ``Columns`` always sent,
  booleans as JSON booleans, ``DetData`` within 30"; ``ul_timeouts`` answers of ``{"TIMEOUT": id}``
  (set by tests), then ``{"ULID": id}`` returns the stored result once; a second fetch is an error
  (the real answer is not documented: spec §9.1).
"""
import functools
import math
import re
import threading
import zlib

import numpy as np

from .catalogue import (CATALOGUE, FOV_RADIUS_ARCMIN, angular_separation_arcmin, field_sources,
                        lookup_name, observation_plan)
from .sky import met_to_mjd, met_to_utc

__all__ = ["SXPSService", "SXPSAPIError", "FUNCTIONS", "PAGE_LIMIT", "N_FILLER", "kbn"]

FUNCTIONS = ("getMetadata", "queryDB", "getSXPSUL")
#: The most rows one queryDB answer may hold.
PAGE_LIMIT = 1000
#: Faint sources added to the catalogue so that it outgrows one page.
N_FILLER = 2400
_BANDS = {"total": "Total", "soft": "Soft", "medium": "Medium", "hard": "Hard"}
_BAND_FRACTION = {"Total": 1.0, "Soft": 0.3, "Medium": 0.35, "Hard": 0.35}
#: The confidence of a 1-sigma error.
ONE_SIGMA = math.erf(1 / math.sqrt(2))
_OPS = ("<", ">", "=", "<=", ">=", "LIKE", "NOT LIKE", "!=", "BETWEEN", "IS NULL", "IS NOT NULL")
_AD_UNITS = {"arcsec": 3600.0, "arcmin": 60.0, "deg": 1.0}

#: (ColName, Class, Description, Type, IsObsCol, IsTargetCol) of each table.
_META = {
    ("LSXPS", "sources"): (
        ("LSXPS_ID", "BASIC", "Unique source identifier", "INT", 0, 0),
        ("IAUName", "BASIC", "IAU designation", "TXT", 0, 0),
        ("RA", "BASIC", "Right Ascension (J2000)", "COORDH", 0, 0),
        ("Decl", "BASIC", "Declination (J2000)", "COORDD", 0, 0),
        ("Err90", "BASIC", "90% position error radius (arcsec)", "FLOAT", 0, 0),
        ("Rate_band0", "BASIC", "Mean 0.3-10 keV count rate (ct/s)", "FLOAT", 0, 0),
        ("Exposure", "BASIC", "Total exposure at the source position (s)", "FLOAT", 0, 0),
        ("NumObs", "MISC", "Number of observations", "INT", 0, 0),
        ("FirstObsDate", "BASIC", "Start of the first observation", "UTC", 0, 0),
        ("LastObsDate", "MISC", "End of the last observation", "UTC", 0, 0),
        ("DetFlag", "WARN", "Detection quality flag", "INT", 0, 0),
    ),
    ("obs", "swiftmastr"): (
        ("name", "BASIC", "Designation of the NFI Pointed Source", "TXT", 0, 0),
        ("target_id", "BASIC", "Unique Trigger Number with Any Degeneracy Removed", "INT", 0, 1),
        ("ra", "BASIC", "Right Ascension (Pointing Position)", "COORDH", 0, 0),
        ("decl", "BASIC", "Declination (Pointing Position)", "COORDD", 0, 0),
        ("roll_angle", "BASIC", "Roll Angle (degree)", "FLOAT", 0, 0),
        ("start_time", "BASIC", "Start Time of Observation", "TXT", 0, 0),
        ("stop_time", "BASIC", "Stop Time of Observation", "TXT", 0, 0),
        ("obs_segment", "BASIC", "Observation Segment", "INT", 0, 0),
        ("obsid", "BASIC", "Observation Number ID", "TXT", 1, 0),
        ("xrt_exposure", "BASIC", "XRT Total Exposure (s)", "FLOAT", 0, 0),
    ),
}
_RA_DEC = {("LSXPS", "sources"): ("RA", "Decl"), ("obs", "swiftmastr"): ("ra", "decl")}


class SXPSAPIError(Exception):
    """An error answer of the common API: ``code`` (ERROR) and ``text`` (ERRORTEXT)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def _rng(*keys):
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def _iau(ra, dec):
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm, ds = int(d), int((d % 1) * 60), int(((d * 60) % 1) * 60)
    return "LSXPS J%02d%02d%04.1f%s%02d%02d%02d" % (hh, mm, ss, sign, dd, dm, ds)


def _cal(met):
    return met_to_utc(met).strftime("%Y-%m-%d %H:%M:%S")


def _schedule(entry):
    """(obsID, start MET, stop MET, exposure) of every observation of a sky object."""
    out = []
    for targ in entry.targets:
        pieces = observation_plan(entry, targ, _rng_stable("schedule", targ))
        by_seg = {}
        for seg, start, stop in pieces:
            by_seg.setdefault(seg, []).append((start, stop))
        for seg, snaps in sorted(by_seg.items()):
            out.append(("%s%03d" % (targ, seg), snaps[0][0], snaps[-1][1],
                        sum(b - a for a, b in snaps)))
    return out


def _rng_stable(*keys):
    # The product generator's schedule seeding (catalogue._stable_rng), so obsIDs and times agree.
    from .catalogue import _stable_rng
    return _stable_rng(*keys)


@functools.lru_cache(maxsize=4096)
def kbn(n, b, cl):
    """Kraft, Burrows & Nousek (1991): the most probable source counts and the shortest interval.

    The posterior of the source counts s >= 0 given ``n`` counts and ``b`` expected background
    counts is p(s) ~ (s + b)**n exp(-(s + b)); the interval holding ``cl`` of it is grown from the
    mode towards the more probable side, as UKSSDC's own ``bayesRate`` does.

    Returns
    -------
    tuple
        ``(mode, lower, upper)`` in counts.
    """
    top = n + 20 * math.sqrt(n + 1) + 30
    step = max(0.001, top / 200000.0)
    s = np.arange(0.0, top, step)
    logp = (n * np.log(s + b) if n > 0 else 0.0) - (s + b)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    inside = order[:int(np.searchsorted(np.cumsum(p[order]), cl)) + 1]
    mode = max(0.0, n - b)
    return mode, float(s[inside].min()), float(s[inside].max())


def _number(body, key, default=None, lo=-math.inf, hi=math.inf):
    """A finite number parameter within [lo, hi], or an error naming it."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        value = None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or not lo <= number <= hi:
        raise SXPSAPIError(4, f"{key} is {str(body.get(key, default))[:40]}, but must be a number "
                           f"from {lo:g} to {hi:g}.")
    return number


def _integer(body, key, default, lo, hi):
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SXPSAPIError(4, f"{key} is {str(value)[:40]}, but must be an integer from {lo} to {hi}.")
    return value


class SXPSService:
    """The catalogue functions of one local service (state: pending and stored upper limits).

    Parameters
    ----------
    seed : int
        The service's seed; the catalogue is fixed, the seed varies the counts of upper limits.
    """

    def __init__(self, seed=0):
        self.seed = seed
        #: How many getSXPSUL answers (new requests or ULID re-polls) still answer TIMEOUT.
        self.ul_timeouts = 0
        self._lock = threading.Lock()
        self._stored = {}      # ULID -> finished answer, deleted when fetched
        self._next_ulid = 1
        self._tables = {}

    # ------------------------------------------------------------------ the simulated catalogue
    def _table(self, key):
        if key not in self._tables:
            self._tables[key] = self._build_sources() if key[0] == "LSXPS" else self._build_obs()
        return self._tables[key]

    @staticmethod
    def _build_sources():
        rows = []
        for entry in CATALOGUE:
            obs = _schedule(entry)
            srcs = [entry] + list(field_sources(entry))
            for i, src in enumerate(srcs):
                rows.append({"RA": src.ra, "Decl": src.dec, "Rate_band0": float(src.rate),
                             "Exposure": float(sum(o[3] for o in obs)), "NumObs": len(obs),
                             "FirstObsDate": min(o[1] for o in obs), "LastObsDate": max(o[2] for o in obs),
                             "Err90": 3.5 if i == 0 else 5.5, "DetFlag": 0 if i == 0 else 1})
        rng = _rng("filler")
        for _ in range(N_FILLER):
            dec = math.degrees(math.asin(rng.uniform(-1, 1)))
            start = rng.uniform(1.6e8, 7.0e8)
            exposure = float(rng.uniform(500, 5.0e4))
            rows.append({"RA": float(rng.uniform(0, 360)), "Decl": dec,
                         "Rate_band0": float(10 ** rng.uniform(-3, -1.5)), "Exposure": exposure,
                         "NumObs": int(rng.integers(1, 12)), "FirstObsDate": start,
                         "LastObsDate": start + float(rng.uniform(1e4, 1e8)),
                         "Err90": float(rng.uniform(4, 8)), "DetFlag": int(rng.integers(0, 3))})
        for i, row in enumerate(rows, start=1):
            row["LSXPS_ID"] = i
            row["IAUName"] = _iau(row["RA"], row["Decl"])
            row["FirstObsDate"] = _cal(row["FirstObsDate"]).replace(" ", "T")
            row["LastObsDate"] = _cal(min(row["LastObsDate"], 7.5e8)).replace(" ", "T")
        return rows

    @staticmethod
    def _build_obs():
        rows = []
        for entry in CATALOGUE:
            for obsid, start, stop, exposure in _schedule(entry):
                rows.append({"name": entry.name.replace(" ", ""), "target_id": int(obsid[:8]),
                             "ra": entry.ra, "decl": entry.dec,
                             "roll_angle": float(_rng("roll", obsid).uniform(0, 360)),
                             "start_time": _cal(start).replace(" ", "T"),
                             "stop_time": _cal(stop).replace(" ", "T"),
                             "obs_segment": int(obsid[8:]), "obsid": obsid,
                             "xrt_exposure": round(exposure, 3)})
        return rows

    # ------------------------------------------------------------------ dispatch
    def answer(self, body):
        """The answer (a dict, without the envelope's APIVersion) to one catalogue call.

        Raises
        ------
        SXPSAPIError
            For an answer that is an ERROR.
        """
        func = body.get("APIFunc")
        if func == "getMetadata":
            return self._metadata(body)
        if func == "queryDB":
            return self._query(body)
        return self._upper_limits(body)

    def _table_key(self, body):
        database, table = body.get("database"), body.get("table")
        if not isinstance(database, str) or not isinstance(table, str):
            raise SXPSAPIError(1, "database and table must be strings: this service has "
                               + ", ".join("/".join(k) for k in _META))
        key = (database, table.lower() if database != "obs" else table)
        if key not in _META:
            raise SXPSAPIError(1, f"Unknown database/table {database}/{table}: this service has "
                               + ", ".join("/".join(k) for k in _META))
        return key

    def _metadata(self, body):
        key = self._table_key(body)
        rows = [[name, cls, desc, typ, desc, obs, targ] for name, cls, desc, typ, obs, targ in _META[key]]
        return {"OK": 1, "metadata": {"columns": ["ColName", "Class", "Description", "Type",
                                                  "LongDescription", "IsObsCol", "IsTargetCol"],
                                      "metadata": rows}}

    # ------------------------------------------------------------------ positions
    @staticmethod
    def _resolve(text):
        """(ra, dec, info) of a free-form position or an object name."""
        numbers = re.findall(r"[-+]?\d+(?:\.\d*)?", text)
        if re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*[, ]\s*[-+]?\d+(\.\d*)?\s*", text) and len(numbers) == 2:
            ra, dec = float(numbers[0]), float(numbers[1])
            if 0 <= ra < 360 and -90 <= dec <= 90:
                return ra, dec, f"Parsed '{text}' as ({ra:.5f}, {dec:.5f})"
        entry = lookup_name(text)
        if entry is None:
            raise SXPSAPIError(2, f"Could not resolve '{text}'.")
        return entry.ra, entry.dec, f"Resolved '{text}' as ({entry.ra}, {entry.dec}) via SIMBAD"

    # ------------------------------------------------------------------ queryDB
    def _query(self, body):
        key = self._table_key(body)
        names = [m[0] for m in _META[key]]
        cols = body.get("cols") or [m[0] for m in _META[key] if "BASIC" in m[1]]
        if not isinstance(cols, list):
            raise SXPSAPIError(3, "cols must be a list of column names.")
        bad = [c for c in cols if c not in names]
        if bad:
            raise SXPSAPIError(3, f"Unknown column(s) {', '.join(map(str, bad))} in {'/'.join(key)}.")
        num = _integer(body, "numRows", PAGE_LIMIT, 1, PAGE_LIMIT)
        first = _integer(body, "firstRow", 0, 0, 2 ** 31)
        rows = list(self._table(key))
        constraints = body.get("constraints") or []
        if not isinstance(constraints, list):
            raise SXPSAPIError(3, "constraints must be a list of objects.")
        for con in constraints:
            rows = [r for r in rows if self._keep(r, con, names)]
        out = {"OK": 1}
        cone = None
        if body.get("searchName") is not None:
            ra, dec, info = self._resolve(str(body["searchName"]))
            out.update(ResolvedInfo=info, ResolvedRA=ra, ResolvedDec=dec)
            cone = (ra, dec)
        elif body.get("searchRA") is not None and body.get("searchDec") is not None:
            cone = (_number(body, "searchRA", lo=0, hi=360), _number(body, "searchDec", lo=-90, hi=90))
        if cone is not None:
            units = body.get("adUnits", "arcsec")
            if not isinstance(units, str) or units not in _AD_UNITS:
                raise SXPSAPIError(4, f"adUnits is {str(units)[:40]}, but must be one of: "
                                   "arcsec, arcmin, deg.")
            radius = _number(body, "searchRad", lo=0, hi=180 * _AD_UNITS[units]) / _AD_UNITS[units]
            rac, decc = _RA_DEC[key]
            hits = []
            for r in rows:
                dist = angular_separation_arcmin(cone[0], cone[1], r[rac], r[decc]) / 60.0
                if dist <= radius:
                    hits.append((dist * _AD_UNITS[units], r))
            rows = [dict(r, _r=d) for d, r in sorted(hits, key=lambda h: h[0])]
            cols = ["_r"] + list(cols)
        if body.get("sortBy"):
            if not isinstance(body["sortBy"], str) or body["sortBy"] not in names:
                raise SXPSAPIError(3, f"Unknown sortBy column {body['sortBy']}.")
            col = body["sortBy"]
            rows.sort(key=lambda r: (r[col] is None, "" if r[col] is None else r[col]),
                      reverse=body.get("sortDir") == "DESC")
        page = [{c: r[c] for c in cols} for r in rows[first:first + num]]
        out.update(NumRows=len(page), Results=page)
        return out

    @staticmethod
    def _test(value, op, ref):
        if op == "IS NULL":
            return value is None
        if op == "IS NOT NULL":
            return value is not None
        if value is None:
            return False
        if op in ("LIKE", "NOT LIKE"):
            pattern = "^" + ".*".join(re.escape(p) for p in str(ref).split("%")) + "$"
            match = re.match(pattern.replace("_", "."), str(value), re.I) is not None
            return match if op == "LIKE" else not match
        try:
            if op == "BETWEEN":
                lo, hi = ref
                return type(value)(lo) <= value <= type(value)(hi)
            ref = type(value)(ref)
        except (TypeError, ValueError, OverflowError):
            raise SXPSAPIError(5, f"Bad value {str(ref)[:40]} for operator {op}.") from None
        return {"<": value < ref, ">": value > ref, "=": value == ref, "<=": value <= ref,
                ">=": value >= ref, "!=": value != ref}[op]

    def _keep(self, row, con, names):
        if not isinstance(con, dict) or con.get("colName") not in names:
            raise SXPSAPIError(3, f"Bad constraint {con!r}: colName must be a column of the table.")
        for key in ("filter", "filter2"):
            if (con.get(key) is not None or key == "filter") and (not isinstance(con.get(key), str)
                                                                  or con[key] not in _OPS):
                raise SXPSAPIError(5, f"{key} is {str(con.get(key))[:40]}, but must be one of: "
                                   + ", ".join(_OPS))
        value = row[con["colName"]]
        first = self._test(value, con["filter"], con.get("val"))
        if con.get("filter2") is None:
            return first
        second = self._test(value, con["filter2"], con.get("val2"))
        return first or second if con.get("combiner") == "OR" else first and second

    # ------------------------------------------------------------------ getSXPSUL
    def _upper_limits(self, body):
        if "ULID" in body:
            ulid = str(body["ULID"])
            with self._lock:
                if ulid not in self._stored:
                    raise SXPSAPIError(6, f"There is no upper-limit result with ULID {ulid}: it never "
                                       "existed or was already retrieved (results are deleted once fetched).")
                if self.ul_timeouts > 0:
                    self.ul_timeouts -= 1
                    return {"OK": 1, "TIMEOUT": ulid}
                return self._stored.pop(ulid)
        result = self._compute_ul(body)
        with self._lock:
            if self.ul_timeouts > 0:
                self.ul_timeouts -= 1
                ulid = "UL%06d" % self._next_ulid
                self._next_ulid += 1
                self._stored[ulid] = result
                return {"OK": 1, "TIMEOUT": ulid}
        return result

    def _compute_ul(self, body):
        cat = body.get("catalogue", "LSXPS")
        if cat not in ("LSXPS", "2SXPS"):
            raise SXPSAPIError(1, f"catalogue is {cat}, but must be LSXPS or 2SXPS.")
        out = {"OK": 1}
        if body.get("searchName") is not None:
            ra, dec, info = self._resolve(str(body["searchName"]))
            out.update(ResolvedRA=round(ra, 5), ResolvedDec=round(dec, 5), ResolvedInfo=info)
        elif body.get("RA") is not None and body.get("Dec") is not None:
            ra, dec = _number(body, "RA", lo=0, hi=360), _number(body, "Dec", lo=-90, hi=90)
        else:
            raise SXPSAPIError(2, "No position given: send searchName or both RA and Dec.")
        bands = body.get("bands", ["total"])
        bands = list(_BANDS) if bands == "all" else [bands] if isinstance(bands, str) else bands
        if not isinstance(bands, list) or not bands:
            raise SXPSAPIError(1, "bands must be 'all', a band name or a list of them.")
        bad = [b for b in bands if str(b).lower() not in _BANDS]
        if bad:
            raise SXPSAPIError(1, f"bands has {bad}, but must be 'all' or from: " + ", ".join(_BANDS))
        bands = [_BANDS[b] for b in _BANDS if b in {str(x).lower() for x in bands}]
        fmt = str(body.get("timeFormat", "cal")).lower()
        if fmt not in ("cal", "met", "mjd"):
            raise SXPSAPIError(1, f"timeFormat is {body.get('timeFormat')}, but must be cal, met or mjd.")
        sigma = _number(body, "sigma", 3.0, lo=0.1, hi=10)
        rates = bool(body.get("detectionsAsRates", False))
        # Sources of the simulated catalogue near the position, and their datasets.
        near, det, datasets = None, [], []
        for entry in CATALOGUE:
            sep = angular_separation_arcmin(ra, dec, entry.ra, entry.dec)
            if sep > FOV_RADIUS_ARCMIN + 9:
                continue
            for src in [entry] + list(field_sources(entry)):
                d = angular_separation_arcmin(ra, dec, src.ra, src.dec) * 60.0
                if d <= 30.0:
                    det.append({"Distance": round(d, 1), "SourceName": _iau(src.ra, src.dec)})
                    near = near or src
            if sep <= FOV_RADIUS_ARCMIN:
                datasets.extend(_schedule(entry))
        if det:
            out["DetData"] = det
        if body.get("skipDetections") and det:
            datasets = []
        if datasets:
            stack = ("1%010d" % (zlib.crc32(("%.3f%.3f" % (ra, dec)).encode()) % 10 ** 10),
                     min(d[1] for d in datasets), max(d[2] for d in datasets), sum(d[3] for d in datasets))
            datasets = [stack] + sorted(datasets)
            if body.get("whichData", "deepest") == "deepest":
                datasets = [stack]
        columns = ["StartTime", "StopTime", "ObsID", "SourceExposure", "ImageExposure"]
        for b in bands:
            columns += [f"{b}_UpperLimit"] + ([f"{b}_Rate", f"{b}_RatePos", f"{b}_RateNeg"] if rates else [])
            columns += [f"{b}_Counts", f"{b}_BGCounts", f"{b}_CorrectionFactor"]
            columns += [f"{b}_IsDetected"] if rates else []
        cl = math.erf(sigma / math.sqrt(2))
        rows = []
        for obsid, start, stop, exposure in datasets:
            rng = _rng("ul", self.seed, obsid, round(ra, 4), round(dec, 4))
            row = {"StartTime": self._time(start, fmt), "StopTime": self._time(stop, fmt), "ObsID": obsid,
                   "SourceExposure": round(exposure * 0.93, 2), "ImageExposure": round(exposure, 6)}
            for b in bands:
                cf = round(float(rng.uniform(1.1, 1.4)), 6)
                bg = round(float(exposure * 2.5e-4 * _BAND_FRACTION[b]), 6)
                src_rate = near.rate * _BAND_FRACTION[b] if near is not None else 0.0
                n = int(rng.poisson(bg + src_rate * exposure / cf))
                _, lowest, ul = kbn(n, bg, cl)
                row[f"{b}_UpperLimit"] = ul * cf / exposure
                detected = rates and lowest > 0
                mode, lo, hi = kbn(n, bg, ONE_SIGMA) if detected else (0.0, 0.0, 0.0)
                if rates:
                    row[f"{b}_Rate"] = mode * cf / exposure if detected else None
                    row[f"{b}_RatePos"] = (hi - mode) * cf / exposure if detected else None
                    row[f"{b}_RateNeg"] = (lo - mode) * cf / exposure if detected else None
                row[f"{b}_Counts"] = float(n)
                row[f"{b}_BGCounts"] = bg
                row[f"{b}_CorrectionFactor"] = cf
                if rates:
                    row[f"{b}_IsDetected"] = bool(detected)
            rows.append(row)
        out["Columns"] = columns
        # A float column whose every value is null crashes the official client (spec §7 #3): send "nan".
        for col in columns:
            if rows and all(r.get(col, 0) is None for r in rows):
                for r in rows:
                    r[col] = "nan"
        out["ULData"] = [[r[c] for c in columns] for r in rows]
        return out

    @staticmethod
    def _time(met, fmt):
        if fmt == "met":
            return round(met, 3)
        if fmt == "mjd":
            return float(met_to_mjd(met))
        return _cal(met)
