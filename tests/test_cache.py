# Licensed under a 3-clause BSD style license - see LICENSE
"""Cache policy: what is cached, what never is, eviction of bad answers, keys, expiry, permissions."""
import os
import stat
import time
from pathlib import Path

import pytest
import xrt_fake_session as fake
from astropy.config import paths

from xrtprods_astro import conf
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import RemoteServiceError


EMAIL = "me@example.org"
SUBMIT = fake.SUBMIT_WIRE


def _client(tmp_path, **kw):
    c = XRTProductsClass(email=kw.pop("email", EMAIL), **kw)
    c.cache_location = tmp_path / "xcache"
    c._transport.sleep = lambda s: None
    return c


@pytest.fixture
def client(tmp_path):
    return _client(tmp_path)


def _pickles(client):
    return sorted(client.cache_location.glob("*.pickle"))


def test_default_location_is_ours_and_private():
    c = XRTProductsClass(email=EMAIL)
    location = c.cache_location
    assert location == Path(paths.get_cache_dir("xrtprods_astro")) / "XRTProducts"
    assert "astroquery" not in location.parts
    assert stat.S_IMODE(location.stat().st_mode) == 0o700
    assert stat.S_IMODE(location.parent.stat().st_mode) == 0o700


def test_completed_retrieval_cached_with_private_file(service, client):
    service.add("checkProductStatus.php", "status_complete")
    service.add("getLCData.php", "lcdata")
    client.product_status(951, ["lightcurve"])
    first = client.lightcurve_data(951)
    second = client.lightcurve_data(951)
    assert first == second and first["Datasets"][0] == "WT"
    assert service.count("getLCData.php") == 1
    files = _pickles(client)
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    # other arguments are another query
    client.lightcurve_data(951, nosys=True)
    assert service.count("getLCData.php") == 2


def test_unknown_completion_is_not_cached(service, client):
    service.add("getPSFPos.php", "pos_none")
    client.position_data(951, "standard")
    client.position_data(951, "standard")
    assert service.count("getPSFPos.php") == 2
    assert _pickles(client) == []


def test_cache_false_is_honoured_on_every_retrieval(service, client):
    service.add("checkProductStatus.php", "status_complete")
    service.add("getLCData.php", "lcdata")
    service.add("getSpecData.php", "specdata")
    service.add("getPSFPos.php", "pos_psf")
    service.add("getSourceDetResults.php", "sourcelist_total")
    for _ in range(2):
        client.lightcurve_data(951, cache=False)
        client.spectral_fit_data(951, cache=False)
        client.position_data(951, "standard", cache=False)
        client.source_list_data(951, cache=False)
    assert service.count() == 8
    assert _pickles(client) == []


@pytest.mark.parametrize("call, route, answer", [
    (lambda c: c.product_status(951, "lc"), "checkProductStatus.php", "status_complete"),
    (lambda c: c.cancel_products(951, "lc"), "canceljob.php", "cancel_ok1"),
    (lambda c: c.job_list_data(), "listOldJobs.php", "joblist"),
    (lambda c: c.count_active_jobs(), "getNumJobs.php", "numjobs"),
    (lambda c: c.old_job(951), "getOldProduct.php", "oldjob"),
    (lambda c: c.submit(SUBMIT), "run_userobject.php", "submit_ok"),
    (lambda c: c.rebin_status(77), "main.php:checkRebinStatus", "api_rebin_running"),
])
def test_job_control_is_never_cached(service, client, call, route, answer):
    service.add(route, answer)
    with conf.set_temp("cache_timeout", -1):
        call(client)
        call(client)
    assert service.count(route) == 2
    assert _pickles(client) == []


@pytest.mark.parametrize("bad", ["http_500", "html_page"])
def test_bad_answers_are_evicted_at_once(service, client, bad):
    service.add("getSpecData.php", bad, "specdata")
    data = client.spectral_fit_data(951, cache=True)
    assert data["rnames"] == ["interval0", "late", "empty"]
    assert len(_pickles(client)) == 1
    client.spectral_fit_data(951, cache=True)
    assert service.count("getSpecData.php") == 2  # the retry, then the cache


def test_error_json_is_evicted(service, client):
    service.add("getSpecData.php", "not_owned")
    for _ in range(2):
        with pytest.raises(RemoteServiceError, match="not owned"):
            client.spectral_fit_data(951, cache=True)
    assert service.count("getSpecData.php") == 2
    assert _pickles(client) == []


def test_cache_keyed_per_user_and_server(service, tmp_path):
    service.add("getSpecData.php", "specdata")
    a = _client(tmp_path)
    b = _client(tmp_path, email="other@example.org")
    c = _client(tmp_path, server="https://mirror.example.org")
    for client in (a, b, c, a, b, c):
        client.spectral_fit_data(951, cache=True)
    assert service.count("getSpecData.php") == 3
    assert len(_pickles(a)) == 3
    users = {call.json["UserID"] for call in service.calls}
    hosts = {call.url.split("/")[2] for call in service.calls}
    assert users == {EMAIL, "other@example.org"} and hosts == {"www.swift.ac.uk", "mirror.example.org"}


def test_cache_timeout(service, client):
    service.add("getSpecData.php", "specdata")
    client.spectral_fit_data(951, cache=True)
    (path,) = _pickles(client)
    old = time.time() - 2 * 86400
    os.utime(path, (old, old))
    with conf.set_temp("cache_timeout", 10 * 86400):
        client.spectral_fit_data(951, cache=True)
    assert service.count() == 1
    with conf.set_temp("cache_timeout", 86400):
        client.spectral_fit_data(951, cache=True)
    assert service.count() == 2
    ancient = time.time() - 3650 * 86400
    os.utime(path, (ancient, ancient))
    with conf.set_temp("cache_timeout", -1):
        client.spectral_fit_data(951, cache=True)
    assert service.count() == 2


def test_clear_cache(service, client):
    service.add("getEnhPos.php", "pos_enh")
    client.position_data(951, "enhanced", cache=True)
    assert len(_pickles(client)) == 1
    client.clear_cache()
    assert _pickles(client) == []
    client.position_data(951, "enhanced", cache=True)
    assert service.count() == 2


def test_rebinned_lightcurve_cached_once_complete(service, client):
    service.add("main.php:downloadLightCurve", "api_lc")
    service.add("main.php:checkRebinStatus", "api_rebin_running", "api_rebin_status")
    client.rebinned_lightcurve_data(77)
    client.rebin_status(77)
    client.rebinned_lightcurve_data(77)
    assert service.count("main.php:downloadLightCurve") == 2
    client.rebin_status(77)
    client.rebinned_lightcurve_data(77)
    client.rebinned_lightcurve_data(77)
    assert service.count("main.php:downloadLightCurve") == 3
    assert service.calls[0].json["incbad"] == "yes" and service.calls[0].json["nosys"] == "no"
