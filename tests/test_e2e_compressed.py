# Licensed under a 3-clause BSD style license - see LICENSE
"""End to end through a service that compresses its answers as Apache's mod_deflate does (issue 20,
item 1): every JSON answer (labelled text/html) and text file gzipped and sent chunked to a client
whose Accept-Encoding allows it. The main flows, run again with compression on."""
import tarfile

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.readers.lightcurve import parse_t0_date
from xrtprods_astro.server.app import LocalService

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
NAME = "GRB 200416A"
LC = dict(binning="counts", pc_counts=20, wt_counts=30, dynamic=True)


@pytest.fixture(scope="module")
def compressing_service(tmp_path_factory):
    service = LocalService(job_duration=0.3, job_limit=None, compress=True,
                           data_dir=tmp_path_factory.mktemp("compressing_service"))
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def client(compressing_service, tmp_path):
    c = XRTProductsClass(server=compressing_service.url, email=compressing_service.email, poll_interval=0.05)
    c.cache_location = tmp_path / "xcache"
    c._transport.backoff = 0.01
    # What came over the wire, to show the answers really were compressed.
    c.codings = []
    c._session.hooks["response"].append(
        lambda r, *args, **kwargs: c.codings.append((r.url.rsplit("/", 1)[-1],
                                                     r.headers.get("Content-Encoding"))))
    return c


def test_submit_wait_lightcurve_and_files(client, tmp_path):
    job = client.submit(GRB, name=NAME, lightcurve=LC, spectrum=True)
    statuses = job.wait(timeout=30)
    assert all(s.ok for s in statuses.values())
    lc = job.lightcurve()
    assert "PC" in lc and len(lc["PC"]) > 0 and lc["PC"]["rate"].unit == u.ct / u.s
    assert lc.meta["time_source"] == "t0.date"
    met, _ = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date", cache=False))
    assert lc.meta["t0_met"] == pytest.approx(met, abs=1e-3)
    fits_table = job.spectral_fits()
    assert fits_table.meta["job_id"] == job.job_id
    # A QDP file of the job, downloaded as a file: the file's bytes, not gzip.
    qdp = client.download_file(f"{job.url}/lc/curve.qdp", tmp_path / "curve.qdp")
    assert qdp.read_bytes()[:2] != b"\x1f\x8b" and b"READ" in qdp.read_bytes()
    assert qdp.read_text() == client.file_text(f"{job.url}/lc/curve.qdp")   # same bytes, decoded
    codings = dict(client.codings)
    assert codings["checkProductStatus.php"] == "gzip" and codings["getLCData.php"] == "gzip"
    # The text file read as text came gzipped; downloaded as a file, it came as it is (identity).
    assert ("curve.qdp", "gzip") in client.codings and ("curve.qdp", None) in client.codings


def test_spectra_and_archives(client, tmp_path):
    result = client.get_spectrum(GRB, name=NAME, dest_dir=tmp_path / "spec", timeout=30)
    assert result.spectra and result.fits.meta["job_id"] == result.job.job_id
    for products in result.spectra.values():
        mode = next(iter(products.modes.values()))
        assert mode.spectrum[1].header["HDUCLAS1"] == "SPECTRUM"
    archives = result.job.download(tmp_path / "dl", products=["spectrum"])
    for archive in archives:
        with tarfile.open(archive) as tar:
            assert tar.getmembers()
    assert dict(client.codings)["getSpecData.php"] == "gzip"


def test_serve_compress_option_starts_a_compressing_service(monkeypatch, tmp_path):
    """``xrtprods serve --compress`` (and ``python -m xrtprods_astro.server --compress``) serves gzipped
    answers, so the compressed path can be tried by hand; without it answers stay plain."""
    import requests
    from xrtprods_astro import cli
    seen = {}

    def drive(service):
        answer = requests.get(service.url + "/API/main.php", headers={"Accept-Encoding": "gzip"},
                              data='{"APIFunc": "getGRBTargetList"}', timeout=10)
        seen.setdefault("codings", []).append(answer.headers.get("Content-Encoding"))

    monkeypatch.setattr(cli, "_wait_forever", drive)
    assert cli.main(["serve", "--compress", "--job-duration", "0", "--data-dir", str(tmp_path / "a")]) == 0
    assert cli.main(["serve", "--job-duration", "0", "--data-dir", str(tmp_path / "b")]) == 0
    assert seen["codings"] == ["gzip", None]
