# Licensed under a 3-clause BSD style license - see LICENSE
"""XRTProductsClass: settings read at use time, identity, one method per endpoint, no e-mail in logs."""
import logging

import pytest
import xrt_fake_session as fake
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord

from xrtprods_astro import conf
from xrtprods_astro.core import XRTProducts, XRTProductsClass, position_kind
from xrtprods_astro.exceptions import InvalidRequestError, UnknownUserError
from xrtprods_astro.job import XRTJob
from xrtprods_astro.request import ProductRequest


EMAIL = "secret.person@example.org"
SUBMIT = fake.SUBMIT_WIRE


@pytest.fixture
def client(tmp_path):
    c = XRTProductsClass(email=EMAIL)
    c.cache_location = tmp_path / "xcache"
    c._transport.sleep = lambda s: None
    return c


def test_ready_instance_and_fresh_copies():
    assert isinstance(XRTProducts, XRTProductsClass)
    other = XRTProducts(server="https://mirror.example.org")
    assert isinstance(other, XRTProductsClass) and other is not XRTProducts
    assert other.server == "https://mirror.example.org"
    assert XRTProducts.server == "https://www.swift.ac.uk"


def test_settings_are_read_at_use_time(service, client):
    service.add("getNumJobs.php", "numjobs")
    with conf.set_temp("server", "http://127.0.0.1:8765/"), conf.set_temp("timeout", 3.0):
        client.count_active_jobs()
        assert client.poll_interval == 0.5  # "auto" on a loopback server
        with conf.set_temp("poll_interval", 2):
            assert client.poll_interval == 2.0
    assert service.calls[0].url == "http://127.0.0.1:8765/user_objects/getNumJobs.php"
    assert service.calls[0].timeout == 3.0
    fixed = XRTProductsClass(email=EMAIL, server="https://a.example.org", timeout=9, poll_interval=90)
    with conf.set_temp("server", "https://b.example.org"), conf.set_temp("timeout", 1.0):
        assert fixed.server == "https://a.example.org" and fixed.timeout == 9.0
        assert fixed.poll_interval == 90.0


def test_missing_email_says_the_three_ways(service, monkeypatch):
    c = XRTProductsClass()
    with pytest.raises(InvalidRequestError) as info:
        c.count_active_jobs()
    text = str(info.value)
    assert "login(" in text and "conf.email" in text and "XRTPRODS_EMAIL" in text
    assert service.count() == 0
    service.add("getNumJobs.php", "numjobs")
    with conf.set_temp("email", "conf@example.org"):
        c.count_active_jobs()
    monkeypatch.setenv("XRTPRODS_EMAIL", "env@example.org")
    c.count_active_jobs()
    c.login("login@example.org")
    c.count_active_jobs()
    assert [call.json["UserID"] for call in service.calls] == ["conf@example.org", "env@example.org",
                                                               "login@example.org"]


@pytest.mark.parametrize("bad", ["not-an-email", "a@b", "two words@example.org", 42])
def test_login_validates(bad):
    with pytest.raises(InvalidRequestError, match="email"):
        XRTProductsClass().login(bad)


def test_submit_validates_before_sending(service, client):
    with pytest.raises(InvalidRequestError, match="binning"):
        client.submit({"name": "GRB", "lc": 1, "targ": "00968211", "RA": 1.0, "Dec": 2.0,
                       "cent": 0, "useSXPS": 0})
    with pytest.raises(InvalidRequestError, match="no products"):
        client.submit({"name": "GRB"})
    with pytest.raises(InvalidRequestError, match="ProductRequest or a dict"):
        client.submit(["name", "GRB"])
    with pytest.raises(InvalidRequestError):
        client.submit(ProductRequest("GRB 200416A", lightcurve=True))
    assert service.count() == 0


def test_submit_product_request_and_dict(service, client):
    service.add("run_userobject.php", "submit_ok")
    req = ProductRequest("GRB 200416A", targ="00968211", ra=335.6985, dec=-7.5179, centroid=True,
                         pos_err=1 * u.arcmin, use_sxps=False,
                         lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True})
    job = client.submit(req)
    assert isinstance(job, XRTJob) and job.job_id == 951
    body = service.calls[-1].json
    assert body["pccounts"] == 20 and body["lc"] == 1 and body["UserID"] == EMAIL
    assert job.products == ["lightcurve"]
    assert isinstance(job.request, ProductRequest) and job.request.products == ("lightcurve",)
    job = client.submit(SUBMIT)
    assert service.calls[-1].json["binMeth"] == "counts"


@pytest.mark.parametrize("kind, route", [("standard", "getPSFPos.php"), ("enhanced", "getEnhPos.php"),
                                         ("astrometric", "getAstromPos.php"), ("psf", "getPSFPos.php"),
                                         ("enhanced_position", "getEnhPos.php")])
def test_position_endpoints(service, client, kind, route):
    service.add(route, "pos_psf_sxps")
    data = client.position_data("951", kind)
    assert data["GotPos"] == 1 and data["FromSXPS"] == 1 and data["WhichSXPS"] == "2SXPS"
    assert service.calls[0].url.endswith("/user_objects/tprods/" + route)
    assert service.calls[0].json["JobID"] == "951"  # as given: swifttools echoes the service's string


def test_bad_position_kind():
    with pytest.raises(InvalidRequestError, match="standard, enhanced, astrometric"):
        position_kind("best")


@pytest.mark.parametrize("nosys, incbad, wire", [(False, False, ("no", "no")),
                                                 (True, "both", ("yes", "both")),
                                                 ("BOTH", True, ("both", "yes"))])
def test_lightcurve_flags(service, client, nosys, incbad, wire):
    service.add("getLCData.php", "lcdata")
    data = client.lightcurve_data(951, nosys=nosys, incbad=incbad)
    assert data["PCData"]["columns"][0] == "Time" and data["T0"] == 608713541.952
    assert (service.calls[0].json["nosys"], service.calls[0].json["incbad"]) == wire


def test_lightcurve_flag_errors(client):
    with pytest.raises(InvalidRequestError, match="nosys"):
        client.lightcurve_data(951, nosys="maybe")


def test_retrievals_and_lists(service, client):
    service.add("getSpecData.php", "specdata")
    service.add("getSourceDetResults.php", "sourcelist_all")
    service.add("getOldProduct.php", "oldjob")
    service.add("listOldJobs.php", "joblist")
    spec = client.spectral_fit_data(951)
    assert spec["empty"]["NOSPEC"] == 1 and spec["late"]["PC"]["NOFIT"] == 1
    bands = client.source_list_data(951)
    assert sorted(bands) == ["Hard", "Medium", "Soft", "Total"]  # only band keys
    old = client.old_job(951)
    assert old["jobPars"]["pccounts"] == 20 and service.calls[-1].json["oldJob"] == 951
    job = client.get_job(951)
    assert job.url == old["URL"] and job.products == ["lightcurve"]
    assert client.job_list_data()[1]["Name"] == "GK Per"


def test_product_status_and_cancel_wire(service, client):
    service.add("checkProductStatus.php", "status_running")
    service.add("canceljob.php", "cancel_ok2")
    data = client.product_status(951, ["lightcurve", "StandardPos"])
    assert service.calls[0].json["what"] == "lc,psf" and service.calls[0].json["whatProg"] == "lc,psf"
    assert data["lc"]["statusCode"] == 3
    data = client.cancel_products(951, "lc,spec,psf,enh,xastrom")
    assert data["OK"] == 2 and data["statusCodes"]["spec"] == 1
    assert service.calls[1].json["what"] == "lc,spec,psf,enh,xastrom"
    with pytest.raises(InvalidRequestError, match="not a product"):
        client.product_status(951, ["lightcurves!"])


def test_email_never_logged_at_info_or_above(service, client, caplog, tmp_path):
    service.add("run_userobject.php", requests.exceptions.ConnectionError("Connection aborted"), "submit_ok")
    service.add("listOldJobs.php", "joblist")
    service.add("getOldProduct.php", fake.fixture("oldjob") | {"jobPars": {"name": "other"}})
    service.add("getNumJobs.php", "http_500", "unknown_user")
    service.add("lc.tar.gz", fake.make_response(500, "oops", method="GET"))
    with caplog.at_level(logging.DEBUG):
        client.submit(SUBMIT)
        with pytest.raises(UnknownUserError):
            client.count_active_jobs()
        with conf.set_temp("retries", 1), pytest.raises(Exception):
            client.download_archive(fake.fixture("oldjob")["URL"], "lc", dest_dir=tmp_path)
    loud = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert any("unknown" in r.getMessage() for r in loud)  # there was something to log
    assert all(EMAIL not in r.getMessage() for r in loud)


def test_empty_products_pass_through(service, client):
    service.add("getSpecData.php", "specdata_nospectrum")
    service.add("main.php:downloadLightCurve", "api_nolc")
    service.add("getPSFPos.php", "pos_none")
    assert client.spectral_fit_data(951) == {"NoSpectrum": 1}
    assert client.rebinned_lightcurve_data(77) == {"NOLC": 1}
    assert client.position_data(951, "standard") == {"GotPos": 0}


GRB = SkyCoord(335.6985, -7.5179, unit="deg")


def test_async_returns_the_submitted_job_at_once(service, client):
    # The asynchronous form of a job service: submit and hand back the job; no status call, no wait.
    service.add("run_userobject.php", "submit_ok")
    job = client.get_lightcurve_async(GRB, binning="counts", pc_counts=20, wt_counts=30, dynamic=True)
    assert isinstance(job, XRTJob) and job.job_id == 951
    routes = [fake.FakeService.route_of(service, c.url, c.json) for c in service.calls]
    assert routes == ["run_userobject.php"]
    assert job.target_meta["resolver"] == "coordinates"


def test_plain_call_waits_and_returns_astropy_objects(service, client):
    service.add("run_userobject.php", "submit_ok")
    service.add("checkProductStatus.php", "status_running", "status_complete")
    service.add("getLCData.php", "lcdata")
    lc = client.get_lightcurve(GRB)
    routes = [fake.FakeService.route_of(service, c.url, c.json) for c in service.calls]
    # The recorded service has no lc/t0.date (HTTP 404): the times use the clock table, as the meta says.
    assert routes == ["run_userobject.php", "checkProductStatus.php", "checkProductStatus.php",
                      "t0.date", "getLCData.php"]
    assert lc.meta["job_id"] == 951 and "PC" in lc.datasets
    assert lc.meta["time_source"] == "clock table"
    assert lc["PC"]["rate"].unit is not None


@pytest.mark.parametrize("method", ["get_spectrum", "get_image"])
def test_unwritable_dest_dir_is_refused_before_submitting(service, client, tmp_path, method):
    # Issue 20 item 17: the folder is checked first, not after the job was built and waited for.
    service.add("run_userobject.php", "submit_ok")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    for dest in ("/proc/nope/spec", not_a_folder / "spec"):
        with pytest.raises(InvalidRequestError, match=r"dest_dir: cannot write into .*spec"):
            getattr(client, method)(GRB, dest_dir=dest)
    assert service.calls == []


def test_rebin_sends_json_booleans(client, monkeypatch):
    # API/main.php takes Python-style values, as swifttools sends them: true/false, not 1/0.
    import json
    sent = {}

    def call_common(url, func, payload, **kw):
        sent.update(payload)
        return {"JobID": 5}

    monkeypatch.setattr(client._transport, "call_common", call_common)
    client.rebin_lightcurve(7, name="X", binning="counts", pc_counts=20, wt_counts=30, dynamic=True,
                            match_hr=False)
    text = json.dumps(sent)
    assert '"dynamic": true' in text and '"matchHR": false' in text and '"pcCounts": 20' in text


# ---------------------------------------------------------------- one error rule, every path
def _lc_only():
    return ProductRequest("GRB 200416A", ra=335.6985, dec=-7.5179, get_targs=True, centroid=True, pos_err=1,
                          use_sxps=False, lightcurve={"binning": "snapshot"})


def test_one_error_rule_from_every_path(xrtprods_service_factory):
    from xrtprods_astro.exceptions import (ProductFailedError, ProductNotReadyError,
                                           ProductNotRequestedError, RemoteServiceError)
    svc = xrtprods_service_factory(job_duration=300)
    client = XRTProductsClass(server=svc.url, email=svc.email)
    job = client.submit(_lc_only())
    other = XRTProductsClass(server=svc.url, email=svc.email)  # knows nothing of the job
    attached = other.get_job(str(job.job_id))
    assert attached.job_id == job.job_id and type(attached.job_id) is int
    not_ready = [lambda: client.lightcurve_data(job.job_id), lambda: other.lightcurve_data(str(job.job_id)),
                 job.lightcurve_data, job.lightcurve, attached.lightcurve]
    for call in not_ready:
        with pytest.raises(ProductNotReadyError, match="not complete yet") as info:
            call()
        assert not isinstance(info.value, RemoteServiceError) and info.value.job_id == job.job_id
    not_requested = [lambda: other.spectral_fit_data(job.job_id),
                     lambda: other.position_data(job.job_id, "psf"),
                     lambda: other.source_list_data(job.job_id), job.spectral_fits, job.images,
                     attached.images, lambda: attached.position("enhanced")]
    for call in not_requested:
        with pytest.raises(ProductNotRequestedError, match="not requested"):
            call()
    job.cancel()
    cancelled = [lambda: XRTProductsClass(server=svc.url, email=svc.email).lightcurve_data(job.job_id),
                 job.lightcurve, other.get_job(job.job_id).lightcurve]
    for call in cancelled:
        with pytest.raises(ProductFailedError, match="was cancelled") as info:
            call()
        assert info.value.status.code == -4


def test_get_functions_follow_the_rule(xrtprods_service_factory):
    from xrtprods_astro.exceptions import ProductFailedError
    from xrtprods_astro.server.build import ProductOutcome

    def nothing_builds(job_pars, job_id, job_url, job_dir, seed):
        return {"lc": ProductOutcome("lc", False, "no data in this test")}

    svc = xrtprods_service_factory(builder=nothing_builds)
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    with pytest.raises(ProductFailedError, match="light curve of job .* failed: .*no data in this test") \
            as info:
        client.get_lightcurve(GRB, name="GRB 200416A")
    assert info.value.product == "lightcurve" and type(info.value.job_id) is int


def test_job_ids_from_every_path_are_ints(xrtprods_service_factory):
    svc = xrtprods_service_factory(job_duration=0)
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    lc = client.get_lightcurve(GRB, name="GRB 200416A", binning="snapshot")
    job_id = lc.meta["job_id"]
    assert type(job_id) is int and all(type(t.meta["job_id"]) is int for t in lc.values())
    assert client.get_job(str(job_id)).job_id == job_id == client.get_job(job_id).job_id
    assert client.list_jobs()["job_id"][0] == job_id
