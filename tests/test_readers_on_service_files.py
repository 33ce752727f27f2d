# Licensed under a 3-clause BSD style license - see LICENSE
"""
The readers on files the local service writes, against the same products' JSON.

The service and the readers were written apart from each other from the same
specification (protocol.md, products.md); here one job's products are built
with the service's builders and each is read twice, from its archive files and
from its JSON answer, and the two readings must agree.
"""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from xrtprods_astro.readers import (read_image_files, read_lightcurve_files, read_lightcurve_json,
                                    read_position, read_position_files, read_source_list,
                                    read_source_list_files, read_spectral_fits, read_spectrum_archive)
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.server.build import build_products

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
URL = "http://127.0.0.1:1/user_objects/tprods/USERPROD_1"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    request = ProductRequest(GRB, name="GRB 200416A", centroid=True, pos_err=1 * u.arcmin,
                             use_sxps=False, get_targs=True,
                             lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30,
                                         "dynamic": True},
                             spectrum=True, standard_position=True, enhanced_position=True,
                             astrometric_position=True, image=True,
                             source_detection={"which_data": "all", "which_bands": "all"})
    job_dir = tmp_path_factory.mktemp("USERPROD_1")
    outcomes = build_products(request.to_wire(), "1", URL, job_dir, seed=7)
    assert {code: o.ok for code, o in outcomes.items()} == dict.fromkeys(
        ["lc", "spec", "psf", "enh", "xastrom", "image", "sourceDet"], True)
    return job_dir, outcomes


def test_lightcurve_files_match_json(built):
    job_dir, outcomes = built
    from_json = read_lightcurve_json(outcomes["lc"].data)
    from_files = read_lightcurve_files(job_dir / "lc")
    for name in ("WT", "PC", "PCHR"):
        assert name in from_json and name in from_files, name
        a, b = from_json[name], from_files[name]
        assert len(a) == len(b) > 0
        column = "hr" if name.endswith("HR") else "rate"
        assert a[column].unit == b[column].unit
        assert np.allclose(a[column], b[column], rtol=1e-3, atol=1e-6)
        since = [u.Quantity(t["t_since_t0"]).to_value(u.s) for t in (a, b)]
        assert np.allclose(*since, rtol=1e-6, atol=0.5)
    # The same T0 in MET; the files state UKSSDC's UTC (t0.date, clock correction included), the JSON
    # gives MET only, so its UTC is the clock table's and says by how much it may be off.
    assert from_json.meta["t0_met"] == pytest.approx(from_files.meta["t0_met"], abs=1e-3)
    assert from_files.meta["time_source"] == "t0.date"
    assert from_json.meta["time_source"] == "clock table"
    offset = abs((from_json.meta["t0"] - from_files.meta["t0"]).to(u.s))
    assert offset <= from_json.meta["time_error"] + 1 * u.ms
    assert np.allclose(from_files["PC"]["counts"].value, from_json["PC"]["counts"].value)


def test_spectrum_archive_matches_fit_table(built, tmp_path):
    job_dir, outcomes = built
    fits_table = read_spectral_fits(outcomes["spec"].data)
    archive = job_dir / "spec" / "interval0.tar.gz"
    products = read_spectrum_archive(archive, tmp_path / "interval0")
    assert products.broken_links == []
    for row in fits_table[fits_table["status"] == "ok"]:
        mode = products[row["mode"]]
        header = mode.spectrum["SPECTRUM"].header
        assert fits_table["exposure"].unit == u.s
        assert header["EXPOSURE"] == pytest.approx(row["exposure"], rel=1e-3)
        # The fit file and the JSON carry the same photon index and absorber.
        assert mode.fit["gamma"].value.value == pytest.approx(row["gamma"], rel=1e-3)
        assert mode.fit["excess_nh"].value.to_value(u.cm**-2) == pytest.approx(row["nh"], rel=1e-3)


@pytest.mark.parametrize("code, kind", [("psf", "standard"), ("enh", "enhanced"), ("xastrom", "astrometric")])
def test_position_files_match_json(built, code, kind):
    job_dir, outcomes = built
    from_json = read_position(outcomes[code].data, kind)
    from_files = read_position_files(job_dir / code, kind)
    assert from_json.found == from_files.found
    if from_json.found:
        assert from_json.coord.separation(from_files.coord) < 0.1 * u.arcsec
        err90 = [p.err90.to_value(u.arcsec) for p in (from_json, from_files)]
        assert err90[0] == pytest.approx(err90[1], abs=0.05)
        assert from_json.coord.separation(GRB) < 3 * from_json.err90 + 5 * u.arcsec


def test_source_list_files_match_json(built):
    job_dir, outcomes = built
    from_json = read_source_list(outcomes["sourceDet"].data)
    from_files = read_source_list_files(job_dir / "sourceDet")
    assert list(from_json) == list(from_files) == ["Total", "Soft", "Medium", "Hard"]
    for band in from_json:
        a, b = from_json[band], from_files[band]
        assert len(a) == len(b)
        assert np.allclose(a["ra"], b["ra"]) and np.allclose(a["dec"], b["dec"])
        assert a["err90"].unit == u.arcsec
    brightest = from_json["Total"][0]
    assert brightest["coord"].separation(GRB) < 10 * u.arcsec


def test_images_have_bands_and_wcs(built):
    job_dir, outcomes = built
    images = read_image_files(job_dir / "image")
    assert len(images.images) == len(images.bands) == 3
    assert list(u.Quantity(images.bands["emin"]).to_value(u.keV)) == pytest.approx([0.3, 0.3, 1.51])
    x, y = images.wcs(0).world_to_pixel(GRB)
    data = images.images[0][0].data
    assert 0 <= x < data.shape[1] and 0 <= y < data.shape[0]
    assert images.summed_ex is not None and images.summed_ex[0].header["BUNIT"] == "s"
