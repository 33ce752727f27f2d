# Licensed under a 3-clause BSD style license - see LICENSE
"""Wire identity (issue 19 item 3): every follow-up call sends what swifttools sends.

swifttools and this package drive the same kind of job on the local service, every HTTP body is
recorded, and the bodies are compared endpoint by endpoint: keys, values and JSON types (a JobID
the service gave as ``"4242"`` goes back as ``"4242"``; a rebin ID as an int). Only the ids
themselves differ (two jobs), so they are compared by type.
"""
import contextlib
import time
from urllib.parse import urlparse

import pytest
import requests

from xrtprods_astro.core import XRTProductsClass

st = pytest.importorskip("swifttools.ukssdc.xrt_prods", reason="swifttools (test extra) is not installed")
pytest.importorskip("pandas")

GRB = dict(name="GRB 200416A", targ="00968211", RA=335.6985, Dec=-7.5179)
ID_KEYS = ("JobID", "objectID", "oldJob")


@contextlib.contextmanager
def _recording(monkeypatch, calls):
    """Record every JSON body posted through requests (both clients use requests.Session)."""
    real = requests.sessions.Session.request

    def request(session, method, url, *args, **kwargs):
        if kwargs.get("json") is not None:
            calls.append((_route(url, kwargs["json"]), dict(kwargs["json"])))
        return real(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.sessions.Session, "request", request)
    yield calls


def _route(url, body):
    path = urlparse(url).path
    return f"main.php:{body.get('APIFunc')}" if path.endswith("main.php") else path.rsplit("/", 1)[-1]


@contextlib.contextmanager
def _swifttools_at(root):
    """Point swifttools at the local service (it hard-codes www.swift.ac.uk, protocol.md §1.1)."""
    import swifttools.ukssdc.main as st_main
    from swifttools.ukssdc.xrt_prods import prod_request

    class Redirect:
        def __init__(self, module):
            self._module = module

        def post(self, url, *args, **kwargs):
            return self._module.post(url.replace("https://www.swift.ac.uk", root, 1), *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._module, name)

    old = st_main.APIURL, prod_request.requests
    st_main.APIURL = f"{root}/API/main.php"
    prod_request.requests = Redirect(prod_request.requests)
    try:
        yield
    finally:
        st_main.APIURL, prod_request.requests = old


def _swifttools_session(svc):
    from swifttools.ukssdc.xrt_prods import XRTProductRequest, listOldJobs

    def new():
        req = XRTProductRequest(svc.email, silent=True, useDeprecate=False)
        req._baseURL = f"{svc.url}/user_objects"
        req.setGlobalPars(**GRB, centroid=True, posErr=1, useSXPS=False)
        req.addLightCurve(binMeth="counts", pcCounts=20, wtCounts=30, dynamic=True)
        req.addStandardPos()
        return req

    with _swifttools_at(svc.url):
        doomed = new()
        assert doomed.submit(), doomed.submitError
        doomed.cancelProducts()
        req = new()
        assert req.submit(), req.submitError
        while not req.complete:
            time.sleep(0.05)
        req.retrieveLightCurve(returnData=True)
        req.retrieveStandardPos(returnData=True)
        req.rebinLightCurve(binMeth="time", pcBinTime=100.0, wtBinTime=10.0, timeFormat="MJD")
        while not req.rebinComplete():
            time.sleep(0.05)
        req.getRebinnedLightCurve(returnData=True, saveData=False)
        jobs = listOldJobs(svc.email)
        XRTProductRequest(svc.email, silent=True)._baseURL = f"{svc.url}/user_objects"
        old = XRTProductRequest(svc.email, silent=True, useDeprecate=False)
        old._baseURL = f"{svc.url}/user_objects"
        old.copyOldJob(jobs["JobID"].iloc[0] if hasattr(jobs, "iloc") else jobs[0]["JobID"])


def _our_session(svc):
    from xrtprods_astro.request import ProductRequest
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)

    def request():
        return ProductRequest(GRB["name"], ra=GRB["RA"], dec=GRB["Dec"], targ=GRB["targ"], centroid=True,
                              pos_err=1, use_sxps=False, standard_position=True,
                              lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30,
                                          "dynamic": True})

    doomed = client.submit(request(), reuse=False)
    doomed.cancel()
    job = client.submit(request(), reuse=False)
    job.wait(progress=False)
    job.lightcurve_data()
    job.position_data("standard")
    rebin = job.rebin(binning="time", pc_bin_time=100.0, wt_bin_time=10.0, time_format="MJD")
    rebin.wait(progress=False)
    client.rebinned_lightcurve_data(rebin.job_id)  # incbad "yes", as swifttools' default
    jobs = client.job_list_data()
    client.get_job(jobs[0]["JobID"])
    rebin.cancel()  # after completion: refused, but the body is swifttools' (spec §2.12: int JobID)


def _shape(body):
    """The body with ids reduced to their JSON type (two jobs, two ids) and the envelope kept."""
    return {k: (f"<id {type(v).__name__}>" if k in ID_KEYS else v) for k, v in body.items()}


def _by_route(calls):
    out = {}
    for route, body in calls:
        out.setdefault(route, []).append(_shape(body))
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # swifttools' distutils StrictVersion
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_follow_up_calls_send_what_swifttools_sends(xrtprods_service_factory, monkeypatch):
    svc = xrtprods_service_factory()
    theirs, ours = [], []
    with _recording(monkeypatch, theirs):
        _swifttools_session(svc)
    with _recording(monkeypatch, ours):
        _our_session(svc)
    theirs, ours = _by_route(theirs), _by_route(ours)
    follow_ups = ["checkProductStatus.php", "canceljob.php", "getLCData.php", "getPSFPos.php",
                  "main.php:rebinLightCurve", "main.php:checkRebinStatus", "main.php:downloadLightCurve",
                  "listOldJobs.php", "getOldProduct.php"]
    for route in follow_ups:
        assert route in theirs and route in ours, route
        for body in ours[route]:
            # Our client may call an endpoint more or fewer times (it polls on its own clock), but
            # every body it sends is one swifttools sends.
            assert body in theirs[route], f"{route}: ours {body}\n  theirs {theirs[route]}"
    # The ids: the service's string JobID goes back as a string; rebin IDs as ints (int(JobID)).
    assert {b["JobID"] for b in ours["checkProductStatus.php"]} == {"<id str>"}
    assert ours["main.php:rebinLightCurve"][0]["objectID"] == "<id str>"
    assert ours["main.php:rebinLightCurve"][0]["timeFormat"] == "MJD"
    assert {b["JobID"] for b in ours["main.php:checkRebinStatus"]} == {"<id int>"}
    # swifttools cannot reach cancelRebin (protocol.md §2.12): the spec's body, an int JobID.
    assert [set(b) for b in ours["main.php:cancelRebin"]] == [{"JobID", "APIFunc", "APIVersion"}]
    assert ours["main.php:cancelRebin"][0]["JobID"] == "<id int>"


def test_the_int_job_id_still_goes_back_as_the_services_string(xrtprods_service_factory, monkeypatch):
    # Python code holds job.job_id (an int); the client's own calls given it send the service's form.
    from xrtprods_astro.request import ProductRequest
    svc = xrtprods_service_factory()
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    job = client.submit(ProductRequest(GRB["name"], ra=GRB["RA"], dec=GRB["Dec"], targ=GRB["targ"],
                                       centroid=True, pos_err=1, use_sxps=False, standard_position=True))
    assert type(job.job_id) is int
    calls = []
    with _recording(monkeypatch, calls):
        client.product_status(job.job_id, "psf")
        client.get_job(job.job_id).status()
        client.old_job(job.job_id)
    assert [body.get("JobID", body.get("oldJob")) for _, body in calls] == [str(job.job_id)] * 4
