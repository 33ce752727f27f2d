# Licensed under a 3-clause BSD style license - see LICENSE
"""Against the real UKSSDC service: every call the client makes, as a registered user.

Run with ``python -m pytest tests/test_remote.py --remote-data=any`` (or ``tox -e online``)
and ``XRTPRODS_EMAIL`` set to an address registered at
https://www.swift.ac.uk/user_objects/register.php. Without ``--remote-data`` these tests
are skipped; with it, a missing address or an unreachable service makes them fail (never
skip), so a run that was asked to check the service cannot pass without checking it.

One job asks for every product of GRB 200416A (a short GRB with little data, so the job
takes minutes, not hours); the tests share it, so the service sees two jobs per run (that
one and one that is cancelled at once), well below the five active jobs UKSSDC allows.
"""
import os
import time

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import ImageSet, LightCurve, Position, XRTProductsClass

pytestmark = pytest.mark.remote_data

#: GRB 200416A (Swift/XRT position), named so that the service does not resolve anything.
GRB = SkyCoord(335.6985, -7.5179, unit="deg")
GRB_NAME = "GRB 200416A"
#: Longest wait for the shared job; UKSSDC asks for polls no more than about once a minute.
JOB_TIMEOUT = 90 * u.min
POLL = 60 * u.s


@pytest.fixture(scope="module")
def client():
    email = os.environ.get("XRTPRODS_EMAIL", "").strip()
    if not email:
        pytest.fail("The remote tests need a registered UKSSDC user: set XRTPRODS_EMAIL to an address "
                    "registered at https://www.swift.ac.uk/user_objects/register.php", pytrace=False)
    return XRTProductsClass(email=email)


@pytest.fixture(scope="module")
def job(client):
    """One completed job with every product (submitted once per module)."""
    known = [str(job_id) for job_id in client.list_jobs()["job_id"]]
    job = client.submit(GRB, name=GRB_NAME,
                        lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True},
                        spectrum={"has_redshift": False},
                        standard_position=True,
                        enhanced_position=True,
                        astrometric_position=True,
                        image=True,
                        source_detection={"which_data": "all"},
                        known_job_ids=known)
    try:
        job.wait(timeout=JOB_TIMEOUT, poll_interval=POLL)
        yield job
    finally:
        if not job.is_complete:
            job.cancel()


def test_count_active_jobs(client):
    count = client.count_active_jobs()
    assert isinstance(count, int)
    assert count >= 0


def test_job_list_has_the_job(client, job):
    jobs = client.list_jobs()
    assert isinstance(jobs["submitted"], Time)
    assert str(job.job_id) in [str(job_id) for job_id in jobs["job_id"]]


def test_get_job_reattaches(client, job):
    again = client.get_job(job.job_id)
    assert str(again.job_id) == str(job.job_id)
    assert sorted(again.products) == sorted(job.products)
    assert again.is_complete


def test_every_product_completed(job):
    statuses = job.status()
    assert sorted(statuses) == sorted(["lightcurve", "spectrum", "standard_position", "enhanced_position",
                                       "astrometric_position", "image", "source_detection"])
    failed = {key: (status.code, status.text) for key, status in statuses.items() if not status.ok}
    assert not failed, f"products that did not complete: {failed}"


def test_lightcurve(job):
    lc = job.lightcurve()
    assert isinstance(lc, LightCurve)
    assert lc.datasets
    table = lc[lc.datasets[0]]
    assert isinstance(table["time"], Time)
    assert table["rate"].unit == u.ct / u.s


def test_spectral_fits_and_spectra(job, tmp_path):
    fits_table = job.spectral_fits()
    assert isinstance(fits_table, Table)
    assert len(fits_table) >= 1
    spectra = job.spectra(tmp_path)
    assert spectra, "the service listed no spectrum file"


@pytest.mark.parametrize("kind", ["standard", "enhanced", "astrometric"])
def test_position(job, kind):
    pos = job.position(kind)
    assert isinstance(pos, Position)
    assert pos.kind == kind
    if pos.found:
        assert isinstance(pos.coord, SkyCoord)
        assert pos.coord.separation(GRB) < 1 * u.arcmin
        assert pos.err90.unit.physical_type == "angle"
    else:
        assert pos.reason, "a position that was not found must say why"


def test_source_list(job):
    lists = job.source_list()
    assert "Total" in lists
    total = lists["Total"]
    assert total["ra"].unit == u.deg
    assert total["rate"].unit == u.ct / u.s


def test_images(job, tmp_path):
    images = job.images(tmp_path)
    assert isinstance(images, ImageSet)
    assert len(images) >= 1
    assert isinstance(images.images[0], fits.HDUList)
    assert images.wcs(0).has_celestial


def test_download_archive(job, tmp_path):
    paths = job.download(tmp_path, products=["lightcurve"])
    assert len(paths) == 1
    assert paths[0].stat().st_size > 0


def _wait_for_rebin(client, rebin_id, timeout=30 * 60, interval=30):
    start = time.monotonic()
    while True:
        status = client.rebin_status(rebin_id)
        if str(status.get("status")) == "4":
            return status
        if time.monotonic() - start > timeout:
            pytest.fail(f"rebin {rebin_id} did not finish within {timeout} s: {status}")
        time.sleep(interval)


def test_rebin(client, job):
    rebin_id = job.rebin(binning="snapshot")
    assert isinstance(rebin_id, int)
    _wait_for_rebin(client, rebin_id)
    data = client.rebinned_lightcurve_data(rebin_id)
    assert data["Datasets"]


def test_cancel_rebin(client, job):
    rebin_id = job.rebin(binning="obsid")
    cancelled = client.cancel_rebin(rebin_id)
    if not cancelled:
        # Only a rebin that already finished may refuse to be cancelled.
        assert str(client.rebin_status(rebin_id).get("status")) == "4"


def test_cancel(client):
    job = client.submit(SkyCoord(52.79958, 43.90431, unit="deg"), name="GK Per",
                        lightcurve={"binning": "snapshot"})
    outcome = job.cancel()
    assert list(outcome) == ["lightcurve"]
    assert outcome["lightcurve"].cancelled, outcome["lightcurve"].text
    status = job.status()["lightcurve"]
    assert status.done and not status.ok
