# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: catalogue queries and upper limits (`xrtprods_astro.catalogues`), our client against
``swifttools.ukssdc.query`` and ``swifttools.ukssdc.data.SXPS`` (issue 22, item 8).

The local service runs in its own process (started by this module with a catalogue of the size
asked for, see `CatalogueService`) and each client in a fresh child process (on a machine of two or
more cores, the service on the last core and the clients on the others), so the CPU time measured
(user + system of the child, every thread) is the client's alone. HTTP requests are counted in the
child at ``requests``' transport adapter, which both clients go through.

* **query**: every row of the LSXPS ``sources`` table, grown to ``rows`` rows (10,000 in a full
  run; the service answers at most 1000 rows per ``queryDB`` call). Ours
  ``CataloguesClass(server=...).query_criteria("LSXPS", "sources")`` (all rows by default);
  swifttools ``SXPSQuery(cat="LSXPS", table="sources").submit()`` twice over: with its default
  ``maxRows`` (1000: it stops there, silently) and with ``maxRows = None`` (all rows, like for
  like). Client CPU, wall time, requests, rows returned and the peak RSS growth of the query
  (after a small warm-up query has done the imports). The clients take turns, ``rounds`` times.
* **upper limits**: ``n_positions`` distinct positions (in and around the fields of the simulated
  sky) with a service whose ``getSXPSUL`` takes ``ul_delay`` s per request (the real back end takes
  seconds to minutes). Ours: one ``get_upper_limits(Table of positions)`` call; swifttools:
  ``getUpperLimits(RA=..., Dec=...)`` once per position (it never runs two at once). The *ideal*
  makespan is ``ceil(n / allowed) * per-request time``, where the per-request time is the median
  time the service spent on one ``getSXPSUL`` (measured in the service process, so it includes
  the service's own work) and *allowed* is the number of requests the client lets be in flight
  at once by default (its politeness limit; 1 when it states none, i.e. one after another). The
  service also records the peak number of ``getSXPSUL`` requests in flight, which must not exceed
  it; more than 1 with no limit found by name, and the ideal takes the number seen.
* **cache hits**: ``query_criteria(..., cache=True)`` (a small query and the big one) and
  ``get_upper_limits(..., cache=True)`` called again after a first call: the CPU of the repeated
  call (median of ``hits``), its requests (0 for a hit), and the CPU of the first call of a new
  client over the same cache folder (a hit from disk). Where the client has no ``cache``
  keyword the figure is recorded as not available, not failed.

Run ``python benchmarks/bench_catalogues.py [--quick]``; or import `run`.
"""
import inspect
import json
import math
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _service import ServiceProcess  # noqa: E402
from _util import (SWIFTTOOLS_MISSING, RequestCounter, have_swifttools, in_child, own_cores,  # noqa: E402
                   split_cores, summary, swifttools_at)

#: The sizes of a full run.
ROWS, N_POSITIONS, UL_DELAY = 10_000, 200, 0.5
#: The politeness target: makespan / ideal.
UL_TARGET = 1.1
#: The cache-hit target, in ms of CPU.
HIT_TARGET_MS = 10.0
#: The small query of the cache-hit figure: the observations of one target.
SMALL_QUERY = ("obs", "swiftmastr", {"name": "GKPer"})
#: Where the client may state how many upper-limit requests it keeps in flight (our reading of
#: "bounded concurrency": a keyword of get_upper_limits, an attribute of the class, or a conf item).
_CONCURRENCY_NAMES = re.compile(r"concurr|workers|in_flight|max_active|parallel", re.I)


# -- the service process ---------------------------------------------------------------------------
class CatalogueService(ServiceProcess):
    """The local service in a child process, its LSXPS ``sources`` table grown to ``rows`` rows and
    each ``getSXPSUL`` taking ``ul_delay`` s more; use as a context manager.

    The table's size is set through ``server.sxps.N_FILLER`` (faint filler sources) in the service
    process only: the service's defaults do not change. Commands (one line in, one JSON line out):
    ``info`` (the table's size), ``counts``, ``reset``, ``uls`` (start and end, in the monotonic clock
    every process shares, of each upper-limit request since the last ``uls``), ``quit``.
    """

    def __init__(self, data_dir, rows=None, ul_delay=0.0):
        self.data_dir = Path(data_dir)
        self.options = {"data_dir": str(data_dir), "rows": rows, "ul_delay": float(ul_delay)}
        self.proc = self.url = self.email = None

    def _argv(self):
        return [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(self.options)]

    def _started(self, hello):
        self.url = hello["url"]


def _grow_table(sxps, rows):
    """Set the filler count so that LSXPS ``sources`` has ``rows`` rows; returns how it went."""
    def forget():
        # The service memoises its tables (functools.lru_cache): built again with the new count.
        for value in list(vars(sxps).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    try:
        default = sxps.N_FILLER
        sxps.N_FILLER = 0
        forget()
        base = len(sxps.SXPSService._build_sources())
        sxps.N_FILLER = max(0, int(rows) - base)
        forget()
        return {"n_filler": sxps.N_FILLER, "default_n_filler": default, "sky_rows": base}
    except (AttributeError, TypeError) as exc:   # the hook moved: report it, the figures say the size
        return {"hook": f"not available ({exc!r})"}


def _serve(options):
    import _util
    _util.quiet_package()
    from xrtprods_astro.server import sxps
    from xrtprods_astro.server.app import LocalService
    grown = _grow_table(sxps, options["rows"]) if options.get("rows") else {}
    service = LocalService(job_duration=0, data_dir=options["data_dir"]).start()
    _util.quiet_package()
    delay, intervals, lock = options["ul_delay"], [], threading.Lock()
    upper_limits = service.sxps._upper_limits

    def slow_upper_limits(body):
        # The service's own time per upper limit: a fixed wait standing for the back end, then the
        # computation. The interval is recorded for the per-request time and the requests in flight.
        start = time.monotonic()
        try:
            if delay:
                time.sleep(delay)
            return upper_limits(body)
        finally:
            with lock:
                intervals.append((start, time.monotonic()))
    service.sxps._upper_limits = slow_upper_limits
    print(json.dumps({"url": service.url}), flush=True)
    try:
        for line in sys.stdin:
            name = line.strip()
            if name == "info":
                try:
                    answer = dict(grown, lsxps_rows=len(service.sxps._table(("LSXPS", "sources"))))
                except Exception as exc:  # noqa: BLE001 - a private method that may change
                    answer = dict(grown, lsxps_rows=None, error=repr(exc))
            elif name == "counts":
                answer = service.request_counts()
            elif name == "reset":
                service.reset_counts()
                answer = {}
            elif name == "uls":
                with lock:
                    answer, intervals[:] = list(intervals), []
            elif name == "quit":
                print("{}", flush=True)
                break
            else:
                answer = {"error": f"unknown command {name!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        service.stop()


# -- helpers of the children ---------------------------------------------------------------------
def _client(url, cache_dir):
    from xrtprods_astro.catalogues import CataloguesClass
    client = CataloguesClass(server=url)
    client.cache_location = cache_dir
    return client


def _has_keyword(func, name):
    """Whether ``func`` takes the keyword ``name`` itself (not swallowed by ``**constraints``)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return name in params and params[name].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                    inspect.Parameter.POSITIONAL_OR_KEYWORD)


def concurrency_limit():
    """How many upper-limit requests our client keeps in flight by default, and where it says so.

    Returns
    -------
    dict
        ``{"allowed": int, "stated": bool, "source": str}``; ``allowed`` is 1 (one request after
        another) when the client states no limit.
    """
    from xrtprods_astro import catalogues, conf
    cls = catalogues.CataloguesClass
    try:
        params = inspect.signature(cls.get_upper_limits).parameters
    except (TypeError, ValueError):
        params = {}
    found = []
    doc = inspect.getdoc(cls.get_upper_limits) or ""
    for name, param in params.items():
        if not _CONCURRENCY_NAMES.search(name):
            continue
        if isinstance(param.default, int) and not isinstance(param.default, bool) and param.default > 0:
            found.append((f"get_upper_limits({name}={param.default})", param.default))
        elif param.default is None:
            # "default ``conf.x``" in the parameter's docstring entry: the limit is that conf item.
            entry = re.search(rf"^{name} :.*?(?=^\w+ :|\Z)", doc, re.M | re.S)
            item = re.search(r"default ``conf\.(\w+)``", entry.group(0)) if entry else None
            value = getattr(conf, item.group(1), None) if item else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                found.append((f"get_upper_limits({name}=None): conf.{item.group(1)} = {value}", value))
    for name in dir(cls):
        value = getattr(cls, name, None)
        if name.isupper() and _CONCURRENCY_NAMES.search(name) and isinstance(value, int) and value > 0:
            found.append((f"CataloguesClass.{name} = {value}", value))
    for name in dir(conf):
        if _CONCURRENCY_NAMES.search(name) and re.search(r"(^|_)(ul|upper)(_|$)", name.lower()):
            value = getattr(conf, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                found.append((f"conf.{name} = {value}", value))
    if not found:
        return {"allowed": 1, "stated": False, "source": "none stated: one request after another"}
    return {"allowed": found[0][1], "stated": True, "source": "; ".join(f for f, _ in found)}


# -- (a) the big query, in the child -----------------------------------------------------------
def child_query(client, url, tmp, cores=None):
    """One full query by ``client`` ("ours", "swifttools" with its default maxRows, or
    "swifttools_all" with maxRows=None), after a small untimed one."""
    import _util
    own_cores(cores)
    counter = RequestCounter()
    if client == "ours":
        _client(url, Path(tmp) / "warm").query_criteria("LSXPS", "sources", row_limit=5)

        def query():
            return len(_client(url, Path(tmp) / "cache").query_criteria("LSXPS", "sources"))
        context = None
    else:
        os.chdir(tmp)
        context = swifttools_at(url)
        context.__enter__()
        from swifttools.ukssdc.query import SXPSQuery
        warm = SXPSQuery(cat="LSXPS", table="sources", silent=True)
        warm.maxRows = 5
        warm.submit()

        def query():
            q = SXPSQuery(cat="LSXPS", table="sources", silent=True)
            if client == "swifttools_all":
                q.maxRows = None
            q.submit()
            return len(q.results)
    try:
        baseline = _util.reset_peak()
        n0, c0, w0 = counter.count, _util.cpu_seconds(), time.perf_counter()
        rows = query()
        wall, cpu = time.perf_counter() - w0, _util.cpu_seconds() - c0
        return {"cpu_ms": cpu * 1000, "wall_ms": wall * 1000, "requests": counter.count - n0, "rows": rows,
                "peak_growth_mb": _util.peak_mb() - baseline}
    finally:
        if context is not None:
            context.__exit__(None, None, None)


# -- (b) upper limits of many positions, in the child ----------------------------------------
def positions(n):
    """``n`` distinct positions: in turn near each object of the simulated sky (inside its field of
    view, so that there are datasets) and in empty sky (no datasets), as a list of (ra, dec)."""
    from xrtprods_astro.server.catalogue import CATALOGUE, FOV_RADIUS_ARCMIN
    out = []
    for i in range(n):
        entry = CATALOGUE[i % len(CATALOGUE)]
        if i % 4 == 3:   # empty sky, far from every field
            out.append(((entry.ra + 40.0 + i * 0.01) % 360.0, max(-80.0, min(80.0, -entry.dec))))
            continue
        step = i // len(CATALOGUE) + 1
        offset = (FOV_RADIUS_ARCMIN * 0.8 / 60.0) * (step % 7) / 7.0
        angle = math.radians(37.0 * step)
        dec = entry.dec + offset * math.sin(angle)
        ra = (entry.ra + offset * math.cos(angle) / max(0.05, math.cos(math.radians(dec)))) % 360.0
        out.append((round(ra, 6), round(dec, 6)))
    return out


def child_uls(client, url, tmp, n_positions, cores=None):
    """Upper limits of ``n_positions`` positions by ``client``; returns the CPU, the monotonic start
    and end of the run (the service's intervals are cut to it) and the rows."""
    import _util
    own_cores(cores)
    counter = RequestCounter()
    where = positions(n_positions + 1)   # the first one warms the client up, untimed
    if client == "ours":
        from astropy.table import Table
        targets = Table(rows=where, names=("ra", "dec"))
        targets["ra"].unit = targets["dec"].unit = "deg"
        ours = _client(url, Path(tmp) / "cache")
        ours.get_upper_limits(targets[:1])  # warm: imports and the first Table, before the clock starts
        run_all = lambda: len(ours.get_upper_limits(targets[1:]))  # noqa: E731
        context = None
    else:
        os.chdir(tmp)
        context = swifttools_at(url)
        context.__enter__()
        from swifttools.ukssdc.data import SXPS as uds

        uds.getUpperLimits(RA=where[0][0], Dec=where[0][1], cat="LSXPS", detectionsAsRates=True, silent=True)

        def run_all():
            rows = 0
            for ra, dec in where[1:]:
                answer = uds.getUpperLimits(RA=ra, Dec=dec, cat="LSXPS", detectionsAsRates=True,
                                            silent=True)
                rows += len(answer.get("ULData", ())) if isinstance(answer, dict) else 0
            return rows
    try:
        n0, c0, t0 = counter.count, _util.cpu_seconds(), time.monotonic()
        rows = run_all()
        t1, cpu = time.monotonic(), _util.cpu_seconds() - c0
        return {"start": t0, "end": t1, "cpu_ms": cpu * 1000, "requests": counter.count - n0, "rows": rows}
    finally:
        if context is not None:
            context.__exit__(None, None, None)


def _in_flight(intervals):
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda x: (x[0], x[1]))
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak


# -- (c) cache hits, in the child ------------------------------------------------------------------
def _hit(call, counter, hits):
    """CPU (ms) and requests of ``hits`` calls after a first one that fills the cache."""
    import _util
    call()
    cpu, requests = [], []
    for _ in range(hits):
        n0, c0 = counter.count, _util.cpu_seconds()
        call()
        cpu.append((_util.cpu_seconds() - c0) * 1000)
        requests.append(counter.count - n0)
    return {"cpu_ms": cpu, "requests_per_hit": max(requests)}


def child_cache(url, tmp, hits=20, cores=None):
    """Cache hits of a small query, the big query and an upper limit, where ``cache=`` exists."""
    import _util
    own_cores(cores)
    from astropy.coordinates import SkyCoord
    from xrtprods_astro.catalogues import CataloguesClass
    counter = RequestCounter()
    database, table, constraints = SMALL_QUERY
    ra, dec = positions(1)[0]
    where = SkyCoord(ra, dec, unit="deg")
    calls = {
        "query_small": ("query_criteria",
                        lambda c: c.query_criteria(database, table, cache=True, **constraints)),
        "query_big": ("query_criteria", lambda c: c.query_criteria("LSXPS", "sources", cache=True)),
        "upper_limits": ("get_upper_limits", lambda c: c.get_upper_limits(where, cache=True)),
    }
    out = {}
    for name, (method, call) in calls.items():
        if not _has_keyword(getattr(CataloguesClass, method), "cache"):
            out[name] = {"not_available": f"CataloguesClass.{method} has no cache keyword in this version"}
            continue
        folder = Path(tmp) / name
        client = _client(url, folder)
        entry = _hit(lambda: call(client), counter, hits)
        # A new client over the same folder: what a script run again tomorrow gets.
        n0, c0 = counter.count, _util.cpu_seconds()
        call(_client(url, folder))
        entry["new_client_cpu_ms"] = (_util.cpu_seconds() - c0) * 1000
        entry["new_client_requests"] = counter.count - n0
        out[name] = entry
    return out


# -- the parent ----------------------------------------------------------------------------------------
def _pin(svc):
    client_cores, service_cores = split_cores()
    if service_cores:
        os.sched_setaffinity(svc.proc.pid, set(service_cores))
    return {"client": client_cores, "service": service_cores}


def _query_part(tmp, rows, rounds, compare, cores_out):
    clients = ["ours"] + (["swifttools", "swifttools_all"] if compare else [])
    samples = {name: [] for name in clients}
    with CatalogueService(Path(tmp) / "svc-query", rows=rows) as svc:
        cores = _pin(svc)
        cores_out.update(cores)
        info = svc.command("info")
        for turn in range(max(1, rounds)):
            for name in clients:
                folder = Path(tmp) / f"query-{name}-{turn}"
                folder.mkdir()
                samples[name].append(in_child("bench_catalogues", "child_query", client=name, url=svc.url,
                                              tmp=str(folder), cores=cores["client"]))
    out = {"table": info}
    for name, got in samples.items():
        out[name] = {"cpu_ms": summary([g["cpu_ms"] for g in got]),
                     "wall_ms": summary([g["wall_ms"] for g in got]),
                     "peak_growth_mb": summary([g["peak_growth_mb"] for g in got]),
                     "requests": statistics.median(g["requests"] for g in got),
                     "rows": statistics.median(g["rows"] for g in got)}
    if not compare:
        out["swifttools"] = out["swifttools_all"] = {"skipped": SWIFTTOOLS_MISSING}
    return out


def _uls_part(tmp, n_positions, ul_delay, compare, limit):
    clients = ["ours"] + (["swifttools"] if compare else [])
    out = {}
    with CatalogueService(Path(tmp) / "svc-uls", ul_delay=ul_delay) as svc:
        cores = _pin(svc)
        for name in clients:
            folder = Path(tmp) / f"uls-{name}"
            folder.mkdir()
            svc.command("uls")   # forget anything before
            raw = in_child("bench_catalogues", "child_uls", client=name, url=svc.url, tmp=str(folder),
                           n_positions=n_positions, cores=cores["client"])
            intervals = [(s, e) for s, e in svc.command("uls") if raw["start"] <= s <= raw["end"]]
            allowed, source = (limit["allowed"], limit["source"]) if name == "ours" else (1, "one at a time")
            peak = _in_flight(intervals)
            if peak > allowed and not limit["stated"]:
                # A limit under a name not recognised here: the ideal takes the concurrency the service
                # saw, the most demanding reading (never the 1 that would flatter the client).
                allowed, source = peak, f"none found by name; {peak} in flight at most, as measured"
            elif peak > allowed:
                source += f"; EXCEEDED: {peak} in flight at the service"
            per_request = statistics.median(e - s for s, e in intervals) if intervals else math.nan
            makespan = raw["end"] - raw["start"]
            ideal = math.ceil(n_positions / allowed) * per_request
            out[name] = {"makespan_s": makespan, "ideal_s": ideal, "makespan_over_ideal": makespan / ideal,
                         "allowed_in_flight": allowed, "limit_source": source, "peak_in_flight": peak,
                         "service_requests": len(intervals), "per_request_s": per_request,
                         "client_cpu_ms": raw["cpu_ms"],
                         "client_cpu_ms_per_position": raw["cpu_ms"] / n_positions,
                         "http_requests": raw["requests"], "rows": raw["rows"]}
    if not compare:
        out["swifttools"] = {"skipped": SWIFTTOOLS_MISSING}
    return out


def _cache_part(tmp, hits, cores):
    with CatalogueService(Path(tmp) / "svc-cache") as svc:
        _pin(svc)
        raw = in_child("bench_catalogues", "child_cache", url=svc.url, tmp=str(Path(tmp) / "cache"),
                       hits=hits, cores=cores)
    out = {}
    for name, got in raw.items():
        out[name] = got if "not_available" in got else dict(got, cpu_ms=summary(got["cpu_ms"]))
    return out


def run(rows=ROWS, rounds=3, n_positions=N_POSITIONS, ul_delay=UL_DELAY, hits=20, compare=None,
        workdir=None):
    """The three parts: the big query, many upper limits, and cache hits.

    Returns
    -------
    dict
        ``{"settings", "query": {"table", "ours", "swifttools", "swifttools_all"}, "upper_limits":
        {"ours", "swifttools"}, "cache": {"query_small", "query_big", "upper_limits"}, "ratios"}``;
        ratios are ours / swifttools'.
    """
    if compare is None:
        compare = have_swifttools()
    limit = in_child("bench_catalogues", "concurrency_limit")
    out = {"settings": {"rows": rows, "rounds": rounds, "n_positions": n_positions, "ul_delay_s": ul_delay,
                        "hits": hits, "small_query": list(SMALL_QUERY), "cores": {}}}
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-cat-", dir=workdir) as tmp:
        out["query"] = _query_part(tmp, rows, rounds, compare, out["settings"]["cores"])
        out["upper_limits"] = _uls_part(tmp, n_positions, ul_delay, compare, limit)
        out["cache"] = _cache_part(tmp, hits, out["settings"]["cores"].get("client"))
    ratios = {}
    query, uls = out["query"], out["upper_limits"]
    for theirs in ("swifttools_all", "swifttools"):
        if "cpu_ms" in query[theirs]:
            ratios[theirs] = {key: query["ours"][key]["median"] / query[theirs][key]["median"]
                              for key in ("cpu_ms", "wall_ms", "peak_growth_mb")
                              if query[theirs][key]["median"] > 0}
            ratios[theirs]["requests"] = query["ours"]["requests"] / query[theirs]["requests"]
            ratios[theirs]["rows"] = query["ours"]["rows"] / query[theirs]["rows"]
    if "makespan_s" in uls.get("swifttools", {}):
        ratios["upper_limits_makespan"] = uls["ours"]["makespan_s"] / uls["swifttools"]["makespan_s"]
        ratios["upper_limits_cpu"] = uls["ours"]["client_cpu_ms"] / uls["swifttools"]["client_cpu_ms"]
    out["ratios"] = ratios
    return out


def checks(res, check):
    """The target rows of this section (issue 22), built with run.py's ``check(item, measure, ours,
    alternative, ratio, limit, note)``."""
    out = []
    query, ratios = res["query"], res.get("ratios", {})
    ours = query["ours"]
    n = f"{int(ours['rows']):,}"
    for theirs, label in (("swifttools_all", "maxRows=None, all rows"),
                          ("swifttools", "default maxRows: stops at 1,000 rows")):
        got, ratio = query.get(theirs, {}), ratios.get(theirs, {})
        have = "cpu_ms" in got
        note = (f"rows ours {n}, swifttools {int(got['rows']):,}; requests ours {ours['requests']:.0f}, "
                f"swifttools {got['requests']:.0f}; wall ratio {ratio.get('wall_ms', math.nan):.3g}; "
                f"peak memory growth ours {ours['peak_growth_mb']['median']:.1f} MB, swifttools "
                f"{got['peak_growth_mb']['median']:.1f} MB") if have else ""
        out.append(check(22, f"catalogue query of {n} rows: client CPU / swifttools ({label})",
                         f"{ours['cpu_ms']['median']:.0f} ms",
                         f"{got['cpu_ms']['median']:.0f} ms" if have
                         else got.get("skipped", SWIFTTOOLS_MISSING),
                         ratio.get("cpu_ms"), None, note))
    uls = res["upper_limits"]
    mine, theirs = uls["ours"], uls.get("swifttools", {})
    settings = res["settings"]
    out.append(check(22, f"upper limits of {settings['n_positions']} positions ({settings['ul_delay_s']:g} s "
                     f"per request, {mine['allowed_in_flight']} in flight allowed): makespan / ideal",
                     f"{mine['makespan_s']:.1f} s", f"{mine['ideal_s']:.1f} s ideal",
                     mine["makespan_over_ideal"], UL_TARGET,
                     f"peak in flight {mine['peak_in_flight']}; service "
                     f"{mine['per_request_s']:.3f} s per request; client CPU "
                     f"{mine['client_cpu_ms_per_position']:.1f} ms per position"
                     + (f"; swifttools {theirs['makespan_s']:.1f} s one at a time (ours / theirs "
                        f"{ratios['upper_limits_makespan']:.3g}), its makespan / ideal "
                        f"{theirs['makespan_over_ideal']:.3g}" if "makespan_s" in theirs else "")))
    out.append(check(22, "upper limits: most requests in flight at the service / allowed (politeness)",
                     str(mine["peak_in_flight"]), f"{mine['allowed_in_flight']} allowed",
                     mine["peak_in_flight"] / mine["allowed_in_flight"], 1.0, mine["limit_source"]))
    for name, label in (("query_small", "query_criteria(..., cache=True) of a small query"),
                        ("upper_limits", "get_upper_limits(..., cache=True)"),
                        ("query_big", f"query_criteria(..., cache=True) of the {n}-row query")):
        got = res["cache"].get(name, {})
        limit = None if name == "query_big" else 1.0
        if "cpu_ms" not in got:
            out.append(check(22, f"cache hit CPU / {HIT_TARGET_MS:g} ms: {label}", "not available",
                             f"{HIT_TARGET_MS:g} ms", None, limit, got.get("not_available", "not run")))
            continue
        hit = got["cpu_ms"]["median"]
        out.append(check(22, f"cache hit CPU / {HIT_TARGET_MS:g} ms: {label}", f"{hit:.1f} ms",
                         f"{HIT_TARGET_MS:g} ms", hit / HIT_TARGET_MS, limit,
                         f"requests per hit {got['requests_per_hit']}; a new client over the same cache: "
                         f"{got['new_client_cpu_ms']:.1f} ms, {got['new_client_requests']} requests"))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve":
        _serve(json.loads(sys.argv[2]))
    else:
        quick = "--quick" in sys.argv
        result = run(rows=2500, rounds=1, n_positions=10, ul_delay=0.05, hits=5) if quick else run()
        print(json.dumps(result, indent=1))
