# Licensed under a 3-clause BSD style license - see LICENSE
"""End to end: the real client against the local service over HTTP on 127.0.0.1."""

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import (InvalidRequestError, JobLimitError, JobTimeoutError,
                                       ProductFailedError, ProductNotReadyError, RemoteServiceError,
                                       UnknownUserError)
from xrtprods_astro.readers.lightcurve import read_lightcurve_json

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
NAME = "GRB 200416A"
LC = dict(binning="counts", pc_counts=20, wt_counts=30, dynamic=True)


def _client(service, tmp_path):
    c = XRTProductsClass(server=service.url, email=service.email, poll_interval=0.05)
    c.cache_location = tmp_path / "xcache"
    c._transport.backoff = 0.01
    return c


@pytest.fixture
def client(xrtprods_service, tmp_path):
    return _client(xrtprods_service, tmp_path)


@pytest.mark.parametrize("binning, extra", [
    ("counts", dict(pc_counts=20, wt_counts=30, dynamic=True)),
    ("time", dict(pc_bin_time=1000 * u.s, wt_bin_time=10 * u.s)),
    ("snapshot", {}),
    ("obsid", {}),
])
def test_get_lightcurve_each_binning(client, binning, extra):
    lc = client.get_lightcurve(GRB, name=NAME, binning=binning, timeout=30, **extra)
    assert lc.meta["job_id"] is not None and lc.meta["resolver"] == "coordinates"
    # The service names obsID binning "Observation" (protocol.md open question 10).
    assert lc.meta["binning"].lower() == {"obsid": "observation"}.get(binning, binning)
    assert "PC" in lc
    pc = lc["PC"]
    assert pc["rate"].unit == u.ct / u.s
    assert len(pc) > 0 and (pc["rate"] > 0).any()
    assert pc.meta["job_id"] == lc.meta["job_id"]


def test_spectrum_with_user_time_slices(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative dest_dir, as users type it
    result = client.get_spectrum(GRB, name=NAME, timeslice="user", rname1="early",
                                 gti1="608713541-608720000", rname2="late", gti2="608720000-609400000",
                                 dest_dir="spec", timeout=30)
    assert (tmp_path / "spec" / "early.tar.gz").is_file()
    assert set(result.spectra) == {"early", "late"}
    assert set(result.fits["interval"]) <= {"early", "late"}
    assert result.fits.meta["job_id"] == result.job.job_id
    ok = result.fits[result.fits["status"] == "ok"]
    assert len(ok) and ok["exposure"].unit == u.s and ok["nh"].unit == u.cm ** -2
    assert ((ok["gamma"] > 0.5) & (ok["gamma"] < 4)).all()
    for products in result.spectra.values():
        mode = next(iter(products.modes.values()))
        assert mode.spectrum[1].header["HDUCLAS1"] == "SPECTRUM"
        assert (products.directory / mode.paths["spectrum"].name).is_file()
        assert products.broken_links == []


def test_every_product_of_one_job(client, tmp_path):
    job = client.submit(GRB, name=NAME, lightcurve=LC, spectrum=True, standard_position=True,
                        enhanced_position=True, astrometric_position=True, image=True,
                        source_detection={"which_data": "all"})
    statuses = job.wait(timeout=30)
    assert all(s.ok for s in statuses.values())
    for kind in ("standard", "enhanced", "astrometric"):
        pos = job.position(kind)
        assert pos.found and pos.kind == kind and pos.job_id == job.job_id
        assert pos.coord.separation(GRB) < 30 * u.arcsec
        assert 0 * u.arcsec < pos.err90 < 10 * u.arcsec
    images = job.images(tmp_path / "img")
    assert len(images) == 3 and images.bands["emin"].unit == u.keV
    assert isinstance(images[0], fits.HDUList) and images.wcs(0).naxis == 2
    bands = job.source_list()
    assert "Total" in bands and bands["Total"]["ra"].unit == u.deg
    assert bands["Total"].meta["job_id"] == job.job_id
    fits_table = job.spectral_fits()
    assert fits_table.meta["job_id"] == job.job_id
    archives = job.download(tmp_path / "dl", products=["lightcurve", "image"])
    assert [p.name.split("_")[-1] for p in archives] == ["lc.tar.gz", "image.tar.gz"]
    jobs = client.list_jobs()
    # The job may be an earlier test's, re-attached for the same request: not always the newest.
    assert isinstance(jobs, Table) and int(job.job_id) in jobs["job_id"]
    assert client.count_active_jobs() == 0


def test_cancel_reattach_and_timeout(xrtprods_service_factory, tmp_path):
    service = xrtprods_service_factory(job_duration=60)
    client = _client(service, tmp_path)
    with pytest.raises(JobTimeoutError, match=r"get_job\(") as info:
        client.get_lightcurve(GRB, name=NAME, timeout=0.2 * u.s, **LC)
    job_id = info.value.job_id
    again = client.get_job(job_id)
    assert again.products == ["lightcurve"] and again.request.products == ("lightcurve",)
    with pytest.raises(ProductNotReadyError, match="not complete"):
        again.lightcurve()
    outcome = again.cancel()
    assert outcome["lightcurve"].cancelled
    with pytest.raises(ProductFailedError, match="cancelled"):
        again.lightcurve()


def test_rebin(client):
    job = client.submit(GRB, name=NAME, lightcurve=LC)
    job.wait(timeout=30)
    rebin = job.rebin(binning="time", pc_bin_time=2000 * u.s, wtBinTime=20)
    rebin.wait(timeout=30)  # a job handle (issue 19 item 5); the client's calls still take its ID
    assert str(client.rebin_status(rebin.job_id)["status"]) == "4"
    data = client.rebinned_lightcurve_data(rebin.job_id, incbad=False)
    lc = read_lightcurve_json(data, job_id=job.job_id)
    assert lc.meta["binning"].lower() == "time" and "PC" in lc


def test_validation_errors_client_and_server_side(client, xrtprods_service):
    before = xrtprods_service.request_counts().get("submit", 0)
    with pytest.raises(InvalidRequestError, match="pc_counts"):
        client.submit(GRB, lightcurve={"binning": "counts", "wt_counts": 30, "dynamic": True})
    assert xrtprods_service.request_counts().get("submit", 0) == before
    with pytest.raises(RemoteServiceError) as info:
        client.submit(GRB, name=NAME, spectrum={"spec_stem": "bad stem!"})
    text = str(info.value)
    assert "spectrum.spec_stem" in text and "specstem" not in text


def test_unknown_user(xrtprods_service):
    stranger = XRTProductsClass(server=xrtprods_service.url, email="nobody@example.org")
    with pytest.raises(UnknownUserError, match="nobody@example.org"):
        stranger.count_active_jobs()
    with pytest.raises(UnknownUserError):
        stranger.submit(GRB, name=NAME, lightcurve=LC)


def test_job_limit(xrtprods_service_factory, tmp_path):
    service = xrtprods_service_factory(job_duration=60, job_limit=1)
    client = _client(service, tmp_path)
    client.submit(GRB, name=NAME, lightcurve=LC)
    with pytest.raises(JobLimitError):
        client.submit(GRB, name=NAME, lightcurve=LC, reuse=False)  # the same request would re-attach
    assert client.count_active_jobs() == 1


def test_completed_retrieval_is_fetched_once(client, xrtprods_service):
    job = client.submit(GRB, name=NAME, lightcurve=LC)
    job.wait(timeout=30)
    xrtprods_service.reset_counts()
    first, second = job.lightcurve(), job.lightcurve()
    assert xrtprods_service.request_counts().get("lc") == 1
    assert list(first) == list(second)
    job.lightcurve(cache=False)
    assert xrtprods_service.request_counts().get("lc") == 2


def test_faults_are_survived(xrtprods_service_factory, tmp_path):
    service = xrtprods_service_factory(job_duration=0.2)
    client = _client(service, tmp_path)
    # The answer to the submission is lost after the job was created: adopted, not duplicated.
    service.faults.script("submit", "drop_after")
    service.faults.script("status", "http503")
    service.faults.script("status", "html")
    job = client.submit(GRB, name=NAME, lightcurve=LC, image=True)
    assert len(client.list_jobs()) == 1
    job.wait(timeout=30)
    service.faults.script("lc", "drop")
    service.faults.script("lc", "http500")
    assert "PC" in job.lightcurve()
    # A truncated archive is detected and fetched again.
    service.faults.script("archive", "truncate")
    service.reset_counts()
    images = job.images(tmp_path / "img")
    assert len(images) == 3
    assert service.request_counts()["archive"] == 2


def test_names_resolved_here_or_by_the_service(client, monkeypatch):
    asked = []

    def from_name(name, *args, **kwargs):
        asked.append(name)
        return GRB

    monkeypatch.setattr(SkyCoord, "from_name", staticmethod(from_name))
    position = client.get_position(NAME, timeout=30)
    assert asked == [NAME]
    assert position.details["resolver"] == "client"
    assert position.details["resolved_coord"] is GRB
    assert position.details["job_id"] == position.job_id
    job = client.submit(NAME, resolver="service", standard_position=True)
    assert asked == [NAME]
    assert job.job_pars["name"] == NAME and float(job.job_pars["RA"]) == pytest.approx(335.6985, abs=0.01)


def test_job_lightcurve_times_are_ukssdcs_own_utc(client, tmp_path):
    # getLCData gives T0 in MET only; the job's lc/t0.date states UKSSDC's UTC for it (clock
    # correction included). The job's light curve must agree with the lc/ folder's files to 1 ms.
    from xrtprods_astro.readers.lightcurve import parse_t0_date, read_lightcurve_files
    job = client.submit(GRB, name=NAME, lightcurve=LC)
    job.wait(timeout=30)
    lc = job.lightcurve()
    met, utc = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date"))
    assert lc.meta["time_source"] == "t0.date" and lc.meta["t0_met"] == pytest.approx(met, abs=1e-3)
    assert abs((lc.meta["t0"] - utc).to_value(u.s)) < 1e-3
    # Without t0.date the clock table is used, and it is within its stated accuracy (the local
    # service holds the same clock points, so here within t0.date's own 1 ms rounding).
    table = read_lightcurve_json(client.lightcurve_data(job.job_id))
    assert table.meta["time_source"] == "clock table"
    assert abs((table.meta["t0"] - utc).to_value(u.s)) <= table.meta["time_error"].to_value(u.s) + 1e-3
    archive = job.download(tmp_path, products=["lightcurve"], extract=True)
    folder = next(p for p in tmp_path.rglob("t0.date")).parent
    files = read_lightcurve_files(folder)
    assert abs((files["PC"]["time"] - lc["PC"]["time"]).to_value(u.s)).max() < 1e-3
    assert archive


def test_a_job_reads_its_t0_date_once(client, xrtprods_service, monkeypatch):
    # The light curve and the spectral fits both need lc/t0.date; a made light curve's file never
    # changes, so a job reads it once (from the service, then neither the service nor the disk
    # cache), however often they are read; cache=False asks the service again.
    job = client.submit(GRB, name=NAME, lightcurve=LC, spectrum=True)
    job.wait(timeout=30)
    reads, before = [], xrtprods_service.request_counts().get("file", 0)
    file_text = client.file_text
    monkeypatch.setattr(client, "file_text", lambda url, **kw: reads.append(url) or file_text(url, **kw))
    first = job.lightcurve()
    for _ in range(3):
        job.lightcurve()
        job.spectral_fits()
    assert reads == [f"{job.url}/lc/t0.date"] and first.meta["time_source"] == "t0.date"
    # the service counts every GET of a job's file as "file": here only t0.date
    assert xrtprods_service.request_counts().get("file", 0) - before == 1
    assert job.lightcurve(cache=False).meta["time_source"] == "t0.date" and len(reads) == 2
    assert xrtprods_service.request_counts().get("file", 0) - before == 2


def test_job_spectral_fit_times_use_the_clock_correction_the_job_states(client):
    from xrtprods_astro.readers.lightcurve import parse_t0_date
    from xrtprods_astro.times import met_to_time, utcf_from_utc
    job = client.submit(GRB, name=NAME, lightcurve=LC, spectrum=True)
    job.wait(timeout=30)
    fits_table = job.spectral_fits()
    met, utc = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date"))
    assert fits_table.meta["time_source"] == "utcf"
    assert fits_table.meta["utcf"] == pytest.approx(utcf_from_utc(met, utc), abs=1e-6)
    assert abs((fits_table.meta["t0"] - utc).to_value(u.s)) < 1e-3  # T0 as UKSSDC states it
    start = met_to_time(met + fits_table["start"].quantity[0].to_value(u.s), utcf=utcf_from_utc(met, utc))
    assert abs((fits_table["time_start"][0] - start).to_value(u.s)) < 1e-3
