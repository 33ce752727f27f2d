# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: the GRB repository end to end, our client against ``swifttools.ukssdc.data.GRB``.

The local service runs in its own process (`_service.ServiceProcess`) and each client in a fresh
child process (on a machine of two or more cores, the service on the last core and the clients on
the others), so the CPU time measured (user + system of the child, every thread) is the client's
alone. HTTP requests are counted in the child, at ``requests``' transport adapter, which both
clients go through (the service's own counters miss the repository's file GETs).

Per GRB (GRB 060729, as in the swifttools documentation), a fresh client each time, in two states:

* ``cold``: a new cache folder each time, as a new user's first call for this GRB: the name is
  looked up and T0's UTC read from the header of the GRB's ``curve.qdp``;
* ``warm``: the cache folder of earlier calls, as any later session: the GRB's targetID and its
  T0 with UKSSDC's UTC are kept there (GRB targetIDs and T0s do not change), so only the product
  is asked for. swifttools keeps nothing, so it has one state.

The products:

* ``lightcurve``: ours ``GRBs.get_lightcurve(name)``; swifttools
  ``getLightCurves(GRBName=name, returnData=True, saveData=False)``;
* ``spectrum``: ours ``get_spectral_fits`` then ``get_spectra`` (download, verify, unpack and open
  every spectrum, background, ARF and RMF as HDULists); swifttools
  ``getSpectra(GRBName=name, returnData=True, saveData=True, saveImages=False, extract=True)``
  (download and unpack with the system ``tar``, nothing opened): ours does more;
* ``burst``: ours ``get_burst_analyser(name, bat_binning=["snr4"])``; swifttools
  ``getBurstAnalyser(GRBName=name, returnData=True, saveData=False, BATBinning=["snr4"])``;
* ``all``: the three above end to end in one session (ours: one client; swifttools: the
  three calls in turn).

Many GRBs: ``n_grbs`` light-curve calls (cycling over the simulated sky's GRBs, which are fewer)
by one client, one request in flight at a time, which is the politeness limit of the common API
(the official client is strictly sequential too). The makespan is compared with the sum of the
warm single-call wall times of the same GRBs by the same client (ideal: no cost that grows with
the number of GRBs; each GRB's single time is the median of 3 calls just before and 3 just after
the run, as the load of a shared machine drifts), in three blocks of which the median is
reported; and with swifttools' ``getLightCurves`` of each, in turn.

Run ``python benchmarks/bench_grb.py [repeats]``; or import `run`.
"""
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _service import ServiceProcess  # noqa: E402
from _util import (SWIFTTOOLS_MISSING, RequestCounter, have_swifttools, in_child, own_cores,  # noqa: E402
                   split_cores, summary, swifttools_at)

GRB = "GRB 060729"
PRODUCTS = ("lightcurve", "spectrum", "burst", "all")
BAT_BINNING = ["snr4"]


def _cpu_seconds():
    """User + system CPU of this process and of its finished children: swifttools unpacks spectra
    with the system ``tar``, whose CPU is the client's too."""
    import resource
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(func, counter):
    n0, c0, w0 = counter.count, _cpu_seconds(), time.perf_counter()
    func()
    return ((_cpu_seconds() - c0) * 1000, (time.perf_counter() - w0) * 1000, counter.count - n0)


def _collect(samples, name, cpu, wall, requests):
    entry = samples.setdefault(name, {"cpu_ms": [], "wall_ms": [], "requests": []})
    entry["cpu_ms"].append(cpu)
    entry["wall_ms"].append(wall)
    entry["requests"].append(requests)


# -- our client (in the child) -------------------------------------------------------------------
STATES = ("cold", "warm")


def _ours_products(url, tmp, state="warm"):
    from xrtprods_astro.grb import GRBClass

    def fresh():
        client = GRBClass(server=url)
        # cold: an empty cache folder, as a first session; warm: the one of earlier calls.
        client.cache_location = (Path(tempfile.mkdtemp(dir=tmp)) if state == "cold"
                                 else Path(tmp) / "cache")
        return client

    def spectrum():
        client = fresh()
        client.get_spectral_fits(GRB)
        folder = Path(tempfile.mkdtemp(dir=tmp))
        client.get_spectra(GRB, folder)

    def all_three():
        # One session: one client, the light curve, the spectrum, the burst analyser.
        client = fresh()
        client.get_lightcurve(GRB)
        client.get_spectral_fits(GRB)
        client.get_spectra(GRB, Path(tempfile.mkdtemp(dir=tmp)))
        client.get_burst_analyser(GRB, bat_binning=BAT_BINNING)

    return {"lightcurve": lambda: fresh().get_lightcurve(GRB), "spectrum": spectrum,
            "burst": lambda: fresh().get_burst_analyser(GRB, bat_binning=BAT_BINNING), "all": all_three}


def child_ours(url, tmp, repeats=3, n_grbs=100, names=(), cores=None, many_blocks=3):
    """Per-product CPU, wall time and requests of ``repeats`` runs (after one untimed), cold and
    warm in turn, then the makespan of ``n_grbs`` light-curve calls in ``many_blocks`` blocks
    (the block of median makespan / ideal is reported, every block is kept)."""
    own_cores(cores)
    counter = RequestCounter()
    products = {state: _ours_products(url, tmp, state) for state in STATES}
    for state in STATES:
        for func in products[state].values():
            func()
    samples = {}
    for _ in range(repeats):
        for name in PRODUCTS:
            for state in STATES:
                _collect(samples, f"{name}:{state}", *_timed(products[state][name], counter))
    many = None
    if n_grbs:
        from xrtprods_astro.grb import GRBClass
        client = GRBClass(server=url)
        client.cache_location = Path(tmp) / "cache"
        grbs = [names[i % len(names)] for i in range(n_grbs)]
        for name in names:
            client.get_lightcurve(name)   # warm: every GRB looked up and built once

        def singles(into):
            for name in names:
                into.setdefault(name, []).extend(_timed(lambda: client.get_lightcurve(name), counter)[1]
                                                 for _ in range(3))

        def all_of_them():
            for name in grbs:
                client.get_lightcurve(name)
        # The load of a shared machine drifts over a run of seconds: each block's ideal comes from
        # single calls made just before and just after its own run of n_grbs calls.
        blocks = []
        for _ in range(many_blocks):
            warm = {}
            singles(warm)
            cpu, wall, requests = _timed(all_of_them, counter)
            singles(warm)
            ideal = sum(statistics.median(warm[name]) for name in grbs)
            blocks.append({"makespan_ms": wall, "ideal_ms": ideal, "cpu_ms": cpu, "requests": requests})
        middle = sorted(blocks, key=lambda b: b["makespan_ms"] / b["ideal_ms"])[len(blocks) // 2]
        many = dict(middle, n_grbs=n_grbs, distinct_grbs=len(names), blocks=blocks)
    return {"samples": samples, "many": many}


# -- swifttools (in the child) ---------------------------------------------------------------------
def _swifttools_products(tmp):
    import swifttools.ukssdc.data.GRB as udg

    def spectrum():
        folder = tempfile.mkdtemp(dir=tmp)
        udg.getSpectra(GRBName=GRB, returnData=True, saveData=True, saveImages=False, destDir=folder,
                       extract=True, silent=True)

    def lightcurve():
        udg.getLightCurves(GRBName=GRB, returnData=True, saveData=False, silent=True)

    def burst():
        udg.getBurstAnalyser(GRBName=GRB, returnData=True, saveData=False, BATBinning=BAT_BINNING,
                             silent=True)

    def all_three():
        lightcurve()
        spectrum()
        burst()

    return {"lightcurve": lightcurve, "spectrum": spectrum, "burst": burst, "all": all_three}


def child_swifttools(url, tmp, repeats=3, n_grbs=100, names=(), cores=None):
    """As `child_ours`, for swifttools."""
    own_cores(cores)
    counter = RequestCounter()
    os.chdir(tmp)   # swifttools writes relative to the working folder
    with swifttools_at(url):
        import swifttools.ukssdc.data.GRB as udg
        products = _swifttools_products(tmp)
        for func in products.values():
            func()
        samples = {}
        for _ in range(repeats):
            for name, func in products.items():
                _collect(samples, name, *_timed(func, counter))
        many = None
        if n_grbs:
            grbs = [names[i % len(names)] for i in range(n_grbs)]

            def all_of_them():
                for g in grbs:
                    udg.getLightCurves(GRBName=g, returnData=True, saveData=False, silent=True)
            cpu, wall, requests = _timed(all_of_them, counter)
            many = {"n_grbs": n_grbs, "distinct_grbs": len(names), "makespan_ms": wall, "cpu_ms": cpu,
                    "requests": requests}
    return {"samples": samples, "many": many}


# -- the parent ----------------------------------------------------------------------------------------
def _ratio(ours, theirs, key):
    return ours[key]["median"] / theirs[key]["median"]


def _names():
    from xrtprods_astro.server.grb import repository_grbs
    return sorted(repository_grbs())


def run(repeats=3, n_grbs=100, compare=None, workdir=None, rounds=2):
    """One GRB's light curve, spectrum and burst analyser with both clients, and many GRBs at once.

    The clients take turns, ``rounds`` times, each turn in a new child (see bench_job).

    Returns
    -------
    dict
        ``{"settings", "ours": {"cold"|"warm": {product: {"cpu_ms", "wall_ms", "requests_per_grb"}},
        "many": {...}}, "swifttools": {product: {...}, "many": {...}} or {"skipped": reason},
        "ratios": {"cold"|"warm": {product: {"cpu", "wall", "requests"}}},
        "many_makespan_over_ideal", "many_vs_swifttools"}``; ratios are ours / swifttools'.
    """
    if compare is None:
        compare = have_swifttools()
    names = _names()
    out = {"settings": {"grb": GRB, "repeats": repeats, "rounds": rounds, "n_grbs": n_grbs,
                        "distinct_grbs": len(names), "bat_binning": BAT_BINNING,
                        "in_flight": 1}}
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-grb-", dir=workdir) as tmp, \
            ServiceProcess(Path(tmp) / "service", job_duration=0) as svc:
        client_cores, service_cores = split_cores()
        if service_cores:
            os.sched_setaffinity(svc.proc.pid, set(service_cores))
        out["settings"]["cores"] = {"client": client_cores, "service": service_cores}
        clients = [("ours", "child_ours")]
        if compare:
            clients.append(("swifttools", "child_swifttools"))
        else:
            out["swifttools"] = {"skipped": SWIFTTOOLS_MISSING}
        merged = {name: {"samples": {}, "many": []} for name, _ in clients}
        for turn in range(max(1, rounds)):
            for name, func in clients:
                folder = Path(tmp) / f"{name}{turn}"
                folder.mkdir()
                raw = in_child("bench_grb", func, url=svc.url, tmp=str(folder), repeats=repeats,
                               n_grbs=n_grbs if turn == 0 else 0, names=names, cores=client_cores)
                for product, got in raw["samples"].items():
                    empty = {"cpu_ms": [], "wall_ms": [], "requests": []}
                    into = merged[name]["samples"].setdefault(product, empty)
                    for key in into:
                        into[key] += got[key]
                if raw["many"]:
                    merged[name]["many"].append(raw["many"])
        for name, got in merged.items():
            entry = {}
            for key, s in got["samples"].items():
                product, _, state = key.partition(":")
                figures = {"cpu_ms": summary(s["cpu_ms"]), "wall_ms": summary(s["wall_ms"]),
                           "requests_per_grb": sum(s["requests"]) / len(s["requests"])}
                # Ours: {state: {product: ...}}; swifttools (one state): {product: ...}.
                (entry.setdefault(state, {}) if state else entry)[product] = figures
            entry["many"] = got["many"][0] if got["many"] else None
            out[name] = entry
    ours = out["ours"]
    many = ours.get("many")
    if many:
        out["many_makespan_over_ideal"] = many["makespan_ms"] / many["ideal_ms"]
    theirs = out.get("swifttools", {})
    if "lightcurve" in theirs:
        out["ratios"] = {state: {p: {"cpu": _ratio(ours[state][p], theirs[p], "cpu_ms"),
                                     "wall": _ratio(ours[state][p], theirs[p], "wall_ms"),
                                     "requests": ours[state][p]["requests_per_grb"]
                                     / theirs[p]["requests_per_grb"]}
                                 for p in PRODUCTS}
                         for state in STATES}
        if many and theirs.get("many"):
            out["many_vs_swifttools"] = many["makespan_ms"] / theirs["many"]["makespan_ms"]
    return out


if __name__ == "__main__":
    import json
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps(run(n), indent=1))
