# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: client CPU of one complete job, our client against swifttools, and of a cache hit.

The local service runs in its own process (`_service.ServiceProcess`, ``job_duration=0``:
products are built before the submission is answered) and each client in a fresh child
process (on a machine of two or more cores, the service on the last core and the clients on
the others, so that they never share one), so the CPU time measured (user + system of the
child, every thread) is the client's alone: building the request, submitting, polling, and
retrieving every data product both clients can read: the light curve, the spectral fits, the standard,
enhanced and astrometric positions and the source list (images are files, not data,
and are left out). Both send the same request (GRB 200416A, as in the demo).

* ours: ``XRTProductsClass(server=..., email=...).submit(...)``, ``job.wait(poll_interval=0)``,
  ``job.lightcurve()``, ``job.spectral_fits()``, ``job.position(kind)`` x 3, ``job.source_list()``;
* swifttools: ``XRTProductRequest(email, silent=True, useDeprecate=False)`` pointed at the
  service (``_baseURL``, ``swifttools.ukssdc.main.APIURL`` and its module-level ``requests``
  wrapped so that the hard-coded URLs of ``listOldJobs``/``getNumJobs`` go there too),
  ``submit()``, ``while not r.complete: time.sleep(0)``, then ``retrieveLightCurve``,
  ``retrieveSpectralFits``, ``retrieveStandardPos``, ``retrieveEnhancedPos``,
  ``retrieveAstromPos``, ``retrieveSourceList`` (all ``returnData=True``).

A *cache hit* is ``job.lightcurve()`` once more on a job whose light curve is cached.

Run ``python benchmarks/bench_job.py [repeats]``; or import `run`.
"""
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _service import ServiceProcess  # noqa: E402
from _util import (SWIFTTOOLS_MISSING, have_swifttools, in_child, own_cores, split_cores,  # noqa: E402
                   summary)

TARGET = {"name": "GRB 200416A", "targ": "00968211", "ra": 335.6985, "dec": -7.5179}
LIGHTCURVE = {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}


# -- our client (in the child) -------------------------------------------------------------------
def _ours_once(client):
    from astropy import units as u
    from xrtprods_astro.request import ProductRequest
    request = ProductRequest(TARGET["name"], targ=TARGET["targ"], ra=TARGET["ra"], dec=TARGET["dec"],
                             centroid=True, pos_err=1 * u.arcmin, use_sxps=False, lightcurve=dict(LIGHTCURVE),
                             spectrum=True, standard_position=True, enhanced_position=True,
                             astrometric_position=True, source_detection={"which_data": "all"})
    job = client.submit(request, reuse=False)  # measure a new job, not the re-attachment
    job.wait(poll_interval=0, progress=False)
    job.lightcurve(), job.spectral_fits(), job.source_list()
    for kind in ("standard", "enhanced", "astrometric"):
        job.position(kind)
    return job


def child_ours(url, email, cache_dir, repeats=5, cache_repeats=20, cores=None):
    """CPU and wall time of ``repeats`` complete jobs (after one untimed), then of light-curve cache hits."""
    import _util
    own_cores(cores)
    from xrtprods_astro.core import XRTProductsClass
    client = XRTProductsClass(server=url, email=email, poll_interval=0)
    client.cache_location = cache_dir
    _ours_once(client)
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = _util.cpu_seconds(), time.perf_counter()
        job = _ours_once(client)
        cpu.append((_util.cpu_seconds() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    hits = []
    for _ in range(cache_repeats):
        c0 = time.thread_time()
        job.lightcurve()
        hits.append((time.thread_time() - c0) * 1000)
    return {"cpu_ms": cpu, "wall_ms": wall, "cache_hit_cpu_ms": hits, "jobs": repeats + 1}


# -- swifttools (in the child) ---------------------------------------------------------------------
class _Redirect:
    """Stands in for the ``requests`` module inside swifttools' xrt_prods: URLs of www.swift.ac.uk go
    to the local service (protocol.md §1.1: listOldJobs and countActiveJobs hard-code their URLs)."""

    def __init__(self, requests_module, root):
        self._requests, self._root = requests_module, root

    def _fix(self, url):
        return url.replace("https://www.swift.ac.uk", self._root, 1)

    def post(self, url, *args, **kwargs):
        return self._requests.post(self._fix(url), *args, **kwargs)

    def get(self, url, *args, **kwargs):
        return self._requests.get(self._fix(url), *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._requests, name)


@contextlib.contextmanager
def swifttools_redirect(url):
    """Point swifttools at the service of root ``url``."""
    import swifttools.ukssdc.main as st_main
    from swifttools.ukssdc.xrt_prods import prod_request
    old_api, old_requests = st_main.APIURL, prod_request.requests
    st_main.APIURL = f"{url}/API/main.php"
    prod_request.requests = _Redirect(old_requests, url)
    try:
        yield
    finally:
        st_main.APIURL, prod_request.requests = old_api, old_requests


def _swifttools_once(url, email):
    from swifttools.ukssdc.xrt_prods import XRTProductRequest
    req = XRTProductRequest(email, silent=True, useDeprecate=False)
    req._baseURL = f"{url}/user_objects"
    req.setGlobalPars(name=TARGET["name"], targ=TARGET["targ"], RA=TARGET["ra"], Dec=TARGET["dec"],
                      centroid=True, posErr=1, useSXPS=False)
    req.addLightCurve(binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
    req.addSpectrum(hasRedshift=False)
    req.addStandardPos()
    req.addEnhancedPos()
    req.addAstromPos()
    req.addSourceDet(whichData="all")
    if not req.submit():
        raise RuntimeError(f"swifttools could not submit: {req.submitError}")
    while not req.complete:
        time.sleep(0)
    for name in ("retrieveLightCurve", "retrieveSpectralFits", "retrieveStandardPos", "retrieveEnhancedPos",
                 "retrieveAstromPos", "retrieveSourceList"):
        if getattr(req, name)(returnData=True) is None:
            raise RuntimeError(f"swifttools {name} returned nothing")
    return req


def child_swifttools(url, email, repeats=5, cores=None):
    """CPU and wall time of ``repeats`` complete swifttools jobs (after one untimed)."""
    import _util
    own_cores(cores)
    with swifttools_redirect(url):
        _swifttools_once(url, email)
        cpu, wall = [], []
        for _ in range(repeats):
            c0, w0 = _util.cpu_seconds(), time.perf_counter()
            _swifttools_once(url, email)
            cpu.append((_util.cpu_seconds() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
    return {"cpu_ms": cpu, "wall_ms": wall, "jobs": repeats + 1}


# -- the parent ----------------------------------------------------------------------------------------
def run(repeats=5, compare=None, workdir=None, rounds=3):
    """Client CPU per job with both clients (each in its own child) against one service process.

    The clients take turns, ``rounds`` times (ours, swifttools, ours, ...), each turn in a new
    child of ``repeats`` jobs, and the medians are over all turns: a shared machine's load drifts
    over a minute, and turns spread the drift over both clients instead of charging it to one.

    Returns
    -------
    dict
        ``{"ours": {"cpu_ms", "wall_ms", "cache_hit_cpu_ms", "requests_per_job", ...},
        "swifttools": {...} or {"skipped": reason}, "ratio": ours CPU median / swifttools'}``.
    """
    if compare is None:
        compare = have_swifttools()
    out = {"settings": {"job_duration_s": 0, "repeats": repeats, "rounds": rounds,
                        "products": "lc, spectral fits, standard/enhanced/astrometric position, source list"}}
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-job-", dir=workdir) as tmp, \
            ServiceProcess(Path(tmp) / "service", job_duration=0) as svc:
        client_cores, service_cores = split_cores()
        if service_cores:
            os.sched_setaffinity(svc.proc.pid, set(service_cores))
        out["settings"]["cores"] = {"client": client_cores, "service": service_cores}
        clients = [("ours", "child_ours", {"cache_dir": str(Path(tmp) / "cache"), "cores": client_cores})]
        if compare:
            clients.append(("swifttools", "child_swifttools", {"cores": client_cores}))
        else:
            out["swifttools"] = {"skipped": SWIFTTOOLS_MISSING}
        samples = {name: {"cpu_ms": [], "wall_ms": [], "cache_hit_cpu_ms": [], "jobs": 0, "requests": {}}
                   for name, _, _ in clients}
        for _ in range(max(1, rounds)):
            for name, func, extra in clients:
                svc.reset_counts()
                raw = in_child("bench_job", func, url=svc.url, email=svc.email, repeats=repeats, **extra)
                got = samples[name]
                for key in ("cpu_ms", "wall_ms", "cache_hit_cpu_ms"):
                    got[key] += raw.get(key, [])
                got["jobs"] += raw["jobs"]
                for endpoint, count in svc.request_counts().items():
                    got["requests"][endpoint] = got["requests"].get(endpoint, 0) + count
        for name, got in samples.items():
            entry = {"cpu_ms": summary(got["cpu_ms"]), "wall_ms": summary(got["wall_ms"]),
                     "requests_per_job": sum(got["requests"].values()) / got["jobs"],
                     "requests": got["requests"]}
            if got["cache_hit_cpu_ms"]:
                entry["cache_hit_cpu_ms"] = summary(got["cache_hit_cpu_ms"])
            out[name] = entry
    if "cpu_ms" in out.get("swifttools", {}):
        out["ratio"] = out["ours"]["cpu_ms"]["median"] / out["swifttools"]["cpu_ms"]["median"]
    return out


if __name__ == "__main__":
    import json
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(json.dumps(run(n), indent=1))
