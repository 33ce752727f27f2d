# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: one complete job against the local service, our client against swifttools.

A `~xrtprods_astro.server.LocalService` runs in this process with
``job_duration=0`` (products are built before the submission is answered), so
the figures are client overhead plus the local service's own work, the same for
both clients. One job is the GRB 200416A request of the demo: a light curve
(counts binning, 20/30 counts per PC/WT bin, dynamic), a spectrum and a standard
position; both clients send the identical wire request.

Timed, per sample: build the request, submit, wait until complete, retrieve the
light curve, the spectral fits and the standard position.

* ours: ``XRTProductsClass(server=..., email=...)``, ``submit(ProductRequest(...))``,
  ``job.wait(poll_interval=0)``, ``job.lightcurve()``, ``job.spectral_fits()``,
  ``job.position("standard")`` -> astropy objects (LightCurve of Tables with
  units and Time, Table, Position with SkyCoord).
* swifttools: ``XRTProductRequest(email, useDeprecate=False)``, ``_baseURL``
  set to the local service, ``setGlobalPars``, ``addLightCurve``,
  ``addSpectrum``, ``addStandardPos``, ``submit()``, ``while not r.complete:
  time.sleep(0)`` (it has no wait function; polling as fast as it allows),
  ``retrieveLightCurve(returnData=True)``, ``retrieveSpectralFits(returnData=True)``,
  ``retrieveStandardPos(returnData=True)`` -> pandas DataFrames and dicts.

HTTP requests are counted by the service per endpoint. The cache figures time
a repeated retrieval (same light curve, fits and position of the same job)
against the first one.

Run ``python benchmarks/bench_job.py [repeats]``; or import `run`.
"""
import contextlib
import logging
import statistics
import sys
import tempfile
import time
import warnings

from astropy import units as u

from _util import SWIFTTOOLS_MISSING, have_swifttools, summary

TARGET = {"name": "GRB 200416A", "targ": "00968211", "ra": 335.6985, "dec": -7.5179}
LIGHTCURVE = {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}


@contextlib.contextmanager
def quiet():
    """Silence the package's INFO logging (progress, service banner) and warnings while timing."""
    logger = logging.getLogger("xrtprods_astro")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


# -- our client ------------------------------------------------------------------------
def _ours_request():
    from xrtprods_astro.request import ProductRequest
    return ProductRequest(TARGET["name"], targ=TARGET["targ"], ra=TARGET["ra"], dec=TARGET["dec"],
                          centroid=True, pos_err=1 * u.arcmin, use_sxps=False, lightcurve=dict(LIGHTCURVE),
                          spectrum=True, standard_position=True)


def _ours_client(service, cache_dir):
    from xrtprods_astro.core import XRTProductsClass
    client = XRTProductsClass(server=service.url, email=service.email, poll_interval=0)
    client.cache_location = cache_dir
    return client


def _ours_retrieve(job):
    return job.lightcurve(), job.spectral_fits(), job.position("standard")


def ours_submit_wait(service, cache_dir):
    """Submit and wait with a new client of ours; returns the `~xrtprods_astro.job.XRTJob`."""
    client = _ours_client(service, cache_dir)
    job = client.submit(_ours_request(), reuse=False)  # measure a new job, not the re-attachment
    job.wait(poll_interval=0, progress=False)
    return job


def ours_job(service, cache_dir):
    """Submit, wait and retrieve with our client; returns the job and (LightCurve, Table, Position)."""
    job = ours_submit_wait(service, cache_dir)
    return job, _ours_retrieve(job)


# -- swifttools ---------------------------------------------------------------------------
class _Redirect:
    """Stands in for the ``requests`` module inside swifttools' xrt_prods: same functions, but URLs of
    www.swift.ac.uk go to the local service (protocol.md §1.1: listOldJobs and countActiveJobs
    hard-code their URLs)."""

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
def swifttools_redirect(service):
    """Point swifttools at ``service``: ``ukssdc.main.APIURL`` and the module-level hard-coded URLs.

    ``_baseURL`` of each request object is set by `swifttools_job`, as protocol.md §1.1 says.
    """
    import swifttools.ukssdc.main as st_main
    from swifttools.ukssdc.xrt_prods import prod_request
    old_api, old_requests = st_main.APIURL, prod_request.requests
    st_main.APIURL = service.api_url
    prod_request.requests = _Redirect(old_requests, service.url)
    try:
        yield
    finally:
        st_main.APIURL, prod_request.requests = old_api, old_requests


def _swifttools_retrieve(req):
    return (req.retrieveLightCurve(returnData=True), req.retrieveSpectralFits(returnData=True),
            req.retrieveStandardPos(returnData=True))


def swifttools_submit_wait(service):
    """Submit and wait with a new swifttools ``XRTProductRequest``; returns it."""
    from swifttools.ukssdc.xrt_prods import XRTProductRequest
    req = XRTProductRequest(service.email, silent=True, useDeprecate=False)
    req._baseURL = service.user_objects_url
    req.setGlobalPars(name=TARGET["name"], targ=TARGET["targ"], RA=TARGET["ra"], Dec=TARGET["dec"],
                      centroid=True, posErr=1, useSXPS=False)
    req.addLightCurve(binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
    req.addSpectrum(hasRedshift=False)
    req.addStandardPos()
    if not req.submit():
        raise RuntimeError(f"swifttools could not submit: {req.submitError}")
    while not req.complete:
        time.sleep(0)
    return req


def swifttools_job(service):
    """Submit, wait and retrieve with swifttools; returns the request and (lc dict, spec dict, pos dict)."""
    req = swifttools_submit_wait(service)
    return req, _swifttools_retrieve(req)


# -- the benchmark -------------------------------------------------------------------------
def _counted(service, func):
    """Run ``func`` and return (its result, the service's request counts during it)."""
    service.reset_counts()
    result = func()
    return result, service.request_counts()


def _timed(func):
    start = time.perf_counter()
    result = func()
    return (time.perf_counter() - start) * 1000.0, result


def _job_and_cache(service, repeats, clients):
    """Time complete jobs, then first and repeated retrievals of fresh jobs; count requests.

    The clients take turns sample by sample, so slow phases of a shared machine hit both alike.
    ``clients`` maps a name to ``(submit_wait, retrieve)``.
    """
    def do_job(submit_wait, retrieve):
        handle = submit_wait()
        return handle, retrieve(handle)

    out = {name: {"job": [], "first": [], "again": []} for name in clients}
    for name, (submit_wait, retrieve) in clients.items():  # warm-up, and one job's request counts
        do_job(submit_wait, retrieve)
        (_, out[name]["products"]), out[name]["job_counts"] = _counted(
            service, lambda: do_job(submit_wait, retrieve))
    for _ in range(repeats):
        for name, (submit_wait, retrieve) in clients.items():
            out[name]["job"].append(_timed(lambda: do_job(submit_wait, retrieve))[0])
    for _ in range(repeats):
        for name, (submit_wait, retrieve) in clients.items():
            handle = submit_wait()
            ms, (_, out[name]["first_counts"]) = _timed(lambda: _counted(service, lambda: retrieve(handle)))
            out[name]["first"].append(ms)
            ms, (_, out[name]["again_counts"]) = _timed(lambda: _counted(service, lambda: retrieve(handle)))
            out[name]["again"].append(ms)
    results = {}
    for name, o in out.items():
        results[name] = {
            "job": summary(o["job"]), "job_requests": o["job_counts"],
            "job_requests_total": sum(o["job_counts"].values()),
            "first_retrieval": summary(o["first"]),
            "first_retrieval_requests": sum(o["first_counts"].values()),
            "repeat_retrieval": summary(o["again"]),
            "repeat_retrieval_requests": sum(o["again_counts"].values()),
            "cache_speedup": statistics.median(o["first"]) / statistics.median(o["again"]),
            "products": o["products"]}
    return results


def run(repeats=5, compare=None):
    """Time complete jobs with both clients against one local service (job_duration 0).

    Parameters
    ----------
    repeats : int
        Timed jobs per client (after one untimed warm-up job).
    compare : bool, optional
        Also run swifttools; default: if it is installed.

    Returns
    -------
    dict
        ``{"settings": {...}, "ours": {...}, "swifttools": {...} or {"skipped": reason},
        "ratio": ...}``; each client has ``job`` (ms: median, min, max, n), ``job_requests``
        (endpoint -> count for one job), ``job_requests_total``, ``first_retrieval`` /
        ``repeat_retrieval`` (ms) and their request totals, ``cache_speedup`` and ``returns``.
        ``ratio`` is swifttools' job median / ours.
    """
    from xrtprods_astro.server.app import LocalService
    if compare is None:
        compare = have_swifttools()
    results = {"settings": {"job_duration_s": 0, "ours_poll_interval_s": 0,
                            "swifttools_poll": "while not r.complete: time.sleep(0)"}}
    with quiet(), tempfile.TemporaryDirectory(prefix="xrtprods-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        with LocalService(job_duration=0, job_limit=None, data_dir=f"{tmp}/service") as service:
            clients = {"ours": (lambda: ours_submit_wait(service, f"{tmp}/cache"), _ours_retrieve)}
            if compare:
                stack.enter_context(swifttools_redirect(service))
                clients["swifttools"] = (lambda: swifttools_submit_wait(service), _swifttools_retrieve)
            timed = _job_and_cache(service, repeats, clients)
            if compare:
                stack.close()
        lc, fits, pos = timed["ours"].pop("products")
        timed["ours"]["returns"] = (f"{type(lc).__name__} ({len(lc)} datasets), {type(fits).__name__} "
                                    f"({len(fits)} rows), {type(pos).__name__}")
        results["ours"] = timed["ours"]
        if compare:
            lc, fits, pos = timed["swifttools"].pop("products")
            timed["swifttools"]["returns"] = (f"dict of {len(lc['Datasets'])} DataFrames, dict "
                                              f"({len(fits['rnames'])} spectra), dict")
            results["swifttools"] = timed["swifttools"]
            results["ratio"] = timed["swifttools"]["job"]["median"] / timed["ours"]["job"]["median"]
        else:
            results["swifttools"] = {"skipped": SWIFTTOOLS_MISSING}
    return results


if __name__ == "__main__":
    import json
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(json.dumps(run(n), indent=1))
