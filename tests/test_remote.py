# Licensed under a 3-clause BSD style license - see LICENSE
"""Against the real UKSSDC service: run only with ``--remote-data`` and a registered e-mail address.

Set the address with ``XRTPRODS_EMAIL`` (or ``conf.email``). The light curve of
GRB 200416A with counts binning is small: it takes a few minutes on the service.
"""
import os

import pytest
from astropy import units as u

from xrtprods_astro import conf
from xrtprods_astro.core import XRTProductsClass

pytestmark = pytest.mark.remote_data


@pytest.fixture(scope="module")
def client():
    email = conf.email or os.environ.get("XRTPRODS_EMAIL")
    if not email:
        pytest.skip("set XRTPRODS_EMAIL to a registered UKSSDC address to run remote tests")
    return XRTProductsClass(email=email)


def test_count_and_list(client):
    assert client.count_active_jobs() >= 0
    jobs = client.job_list_data()
    assert isinstance(jobs, list)


def test_grb_lightcurve_round_trip(client, tmp_path):
    request = {"name": "GRB 200416A", "getTargs": 1, "getCoords": 1, "getT0": 1, "cent": 1, "poserr": 1,
               "useSXPS": 0, "lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1}
    known = [job["JobID"] for job in client.job_list_data()]
    job = client.submit(request, known_job_ids=known)
    try:
        final = job.wait(timeout=30 * u.min, poll_interval=60)
        assert final["lightcurve"].ok, final["lightcurve"].text
        data = job.lightcurve_data()
        assert data["Datasets"]
        first = data["Datasets"][0]
        assert data[f"{first}Data"]["columns"][0] == "Time"
        paths = job.download(tmp_path, products=["lightcurve"])
        assert paths[0].stat().st_size > 0
    finally:
        if not job.is_complete:
            job.cancel()
