# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the local service's product builders: spectra, positions, images, source lists."""
import gzip
import io
import json
import re
import tarfile
from datetime import datetime, timedelta

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
import astropy.units as u

from xrtprods_astro.server import catalogue
from xrtprods_astro.server.build import ProductOutcome, build_products, rebin_lightcurve

GRB_PARS = {"name": "GRB 200416A", "RA": 335.6985, "Dec": -7.5179, "cent": 1, "poserr": 1,
            "Tstart": 608713541.952, "targ": "00968211", "useSXPS": 0,
            "lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1,
            "spec": 1, "specz": 0, "dchi": 2.706,
            "dopsf": 1, "doenh": 1, "doxastrom": 1, "allxastrom": 1,
            "image": 1, "sourceDet": 1, "detobs": "all", "detbands": "all"}
URL = "http://127.0.0.1:1/user_objects/tprods/USERPROD_7"
CODES = ["lc", "spec", "psf", "enh", "xastrom", "image", "sourceDet"]


@pytest.fixture(scope="module")
def grb_job(tmp_path_factory):
    d = tmp_path_factory.mktemp("job")
    return build_products(GRB_PARS, "7", URL, d, 42), d


def _members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_all_products_built(grb_job):
    out, d = grb_job
    assert sorted(out) == sorted(CODES)
    for code, o in out.items():
        assert isinstance(o, ProductOutcome) and o.code == code
        assert o.ok, o.reason
        assert o.files and all(f.exists() and d in f.parents for f in o.files)
        assert all(f.stat().st_size < 1_200_000 for f in o.files)
        json.dumps(o.data)  # the payload must be JSON-serialisable


def test_spectrum_payload(grb_job):
    out, _ = grb_job
    spec = out["spec"].data
    assert spec["T0"] == pytest.approx(608713541.952)
    assert spec["DeltaFitStat"] == 2.706
    assert spec["rnames"] == ["interval0"]
    assert spec["GalNH_unfitted"] == pytest.approx(4.1e20)
    iv = spec["interval0"]
    assert iv["DataFile"] == URL + "/spec/interval0.tar.gz"
    assert iv["Modes"] == ["WT", "PC"]
    truth = catalogue.lookup_name("GRB 200416A")
    for mode in iv["Modes"]:
        m = iv[mode]
        assert m["Exposure"] > 0 and iv["Start"] <= m["MeanTime"] <= iv["Stop"]
        fit = m["PowerLaw"]
        assert m["Models"] == ["PowerLaw"]
        assert "GalacticNH" not in fit
        # The estimate sits near the truth within a few of its (90%) errors.
        assert abs(fit["Gamma"] - truth.gamma) < 4 * max(fit["GammaPos"], -fit["GammaNeg"])
        assert abs(fit["NH"] - (truth.nh + truth.galnh)) < 4 * max(fit["NHPos"], -fit["NHNeg"]) + 1e20
        assert fit["NHNeg"] < 0 < fit["NHPos"] and fit["GammaNeg"] < 0 < fit["GammaPos"]
        assert 1e-14 < fit["ObsFlux"] < fit["UnabsFlux"] < 1e-8
        assert fit["Dof"] > 0 and fit["Cstat"] > 0
        assert fit["Image"].startswith(URL + "/spec/interval0")


def test_spectrum_tarball_is_valid_ogip(grb_job):
    out, d = grb_job
    members = _members(d / "spec" / "interval0.tar.gz")
    assert all("/" not in n or n.startswith("models/") for n in members)
    for name in ("README.txt", "interval0.areas", "interval0pcsource.pi", "interval0pcback.pi",
                 "interval0pc.pi", "interval0pc.arf", "interval0pc.rmf", "models/interval0pc.xcm",
                 "interval0pc_fit.fit", "interval0wt.pi", "interval0wt.rmf"):
        assert name in members
    for mode in ("wt", "pc"):
        stem = "interval0" + mode
        pha = fits.open(io.BytesIO(members[stem + ".pi"]))
        assert [h.name for h in pha] == ["PRIMARY", "SPECTRUM", "GTI"]
        h = pha["SPECTRUM"].header
        for key, value in (("TELESCOP", "SWIFT"), ("INSTRUME", "XRT"), ("HDUCLASS", "OGIP"),
                           ("HDUCLAS1", "SPECTRUM"), ("CHANTYPE", "PI"), ("DETCHANS", 1024)):
            assert h[key] == value
        for key in ("EXPOSURE", "BACKSCAL", "AREASCAL", "POISSERR"):
            assert key in h
        assert h["BACKFILE"] == stem + "back.pi" and h["RESPFILE"] == stem + ".rmf"
        assert h["ANCRFILE"] == stem + ".arf"
        for ref in (h["BACKFILE"], h["RESPFILE"], h["ANCRFILE"]):
            assert ref in members
        spec = pha["SPECTRUM"].data
        assert spec.columns.names == ["CHANNEL", "COUNTS", "QUALITY", "GROUPING"]
        np.testing.assert_array_equal(spec["CHANNEL"], np.arange(1024))
        assert np.all(spec["QUALITY"][:30] == 5) and np.all(spec["QUALITY"][30:] == 0)
        assert set(np.unique(spec["GROUPING"])) <= {1, -1}
        # 'group min 1': every group (above channel 30) but the last holds at least one count.
        starts = np.flatnonzero(spec["GROUPING"][30:] == 1) + 30
        sums = np.add.reduceat(spec["COUNTS"], starts)
        assert np.all(sums[:-1] >= 1)
        src = fits.open(io.BytesIO(members[stem + "source.pi"]))
        np.testing.assert_array_equal(src["SPECTRUM"].data["COUNTS"], spec["COUNTS"])
        assert src["SPECTRUM"].header["BACKFILE"] == "none"
        bkg = fits.open(io.BytesIO(members[stem + "back.pi"]))
        assert bkg["SPECTRUM"].header["BACKSCAL"] > h["BACKSCAL"]
        assert bkg["SPECTRUM"].header["HDUCLAS2"] == "BKG"
        gti = pha["GTI"].data
        assert np.all(gti["STOP"] > gti["START"])
        assert h["EXPOSURE"] == pytest.approx(np.sum(gti["STOP"] - gti["START"]))

        arf = fits.open(io.BytesIO(members[stem + ".arf"]))["SPECRESP"]
        rmf = fits.open(io.BytesIO(members[stem + ".rmf"]))
        assert arf.header["HDUCLAS2"] == "SPECRESP"
        assert 300 <= len(arf.data) <= 2400
        assert arf.columns["SPECRESP"].unit == "cm**2" and arf.columns["ENERG_LO"].unit == "keV"
        assert 50 < arf.data["SPECRESP"].max() < 200
        mat = rmf["MATRIX"]
        assert mat.header["HDUCLAS3"] == "REDIST" and mat.header["DETCHANS"] == 1024
        np.testing.assert_array_equal(mat.data["ENERG_LO"], arf.data["ENERG_LO"])
        np.testing.assert_array_equal(mat.data["ENERG_HI"], arf.data["ENERG_HI"])
        assert np.all(mat.data["ENERG_HI"] > mat.data["ENERG_LO"])
        sums = np.array([np.sum(row) for row in mat.data["MATRIX"]])
        np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
        assert np.all(mat.data["N_CHAN"] == [len(r) for r in mat.data["MATRIX"]])
        eb = rmf["EBOUNDS"].data
        assert len(eb) == 1024 and np.all(eb["E_MAX"] > eb["E_MIN"])


def test_spectrum_clock_keywords(grb_job):
    """UTCFINIT and the UTC dates of a spectrum agree with each other, as in real XRT files."""
    out, d = grb_job
    h = fits.open(io.BytesIO(_members(d / "spec" / "interval0.tar.gz")["interval0pc.pi"]))["SPECTRUM"].header
    assert -30 < h["UTCFINIT"] < -20 and h["TIMEZERO"] == 0.0
    utc = datetime(2001, 1, 1) + timedelta(seconds=h["TSTART"] + h["UTCFINIT"])
    assert h["DATE-OBS"] == utc.strftime("%Y-%m-%dT%H:%M:%S")


def test_fit_and_areas_text(grb_job):
    out, d = grb_job
    members = _members(d / "spec" / "interval0.tar.gz")
    fit = members["interval0pc_fit.fit"].decode().splitlines()
    assert re.fullmatch(r"excess_nh  \S+ \(\S+, \S+\)", fit[0])
    assert re.fullmatch(r"gamma  \S+ \(\S+, \S+\)", fit[1])
    assert fit[2].startswith("Obs flux ") and fit[2].endswith("erg cm**-2 s**-1")
    assert any(re.fullmatch(r"Cstat = \S+, DOF = \d+", line) for line in fit)
    assert any(line.startswith("File count rate: ") and line.endswith(" ") for line in fit)
    assert any(line.startswith("Corr factor:\t") for line in fit)
    gamma, lo, hi = map(float, re.findall(r"[-0-9.e+]+", fit[1])[:3])
    pc = out["spec"].data["interval0"]["PC"]["PowerLaw"]
    assert gamma == pytest.approx(pc["Gamma"], rel=1e-5) and lo < gamma < hi
    areas = members["interval0.areas"].decode()
    assert re.search(r"00968211000/(wt|pc)(pup|allnonpup)\d+\.evt, \d+ -- \d+\n  (circle|annulus)\(", areas)
    assert "\n  Counts: " in areas and "\n  BACKSCAL " in areas and areas.endswith("\n\n")
    assert "model  cflux*TBabs*powerlaw" in members["models/interval0pc.xcm"].decode()


def test_spectrum_options(tmp_path):
    pars = dict(GRB_PARS, lc=0, dopsf=0, doenh=0, doxastrom=0, image=0, sourceDet=0,
                galactic=1, specz=1, zval=1.5, models=["powerlaw", "apec"], timeslice="user",
                rname1="early one", gti1="0-1000", rname2="gap", gti2="3000-4000")
    out = build_products(pars, "8", URL, tmp_path, 1)
    spec = out["spec"].data
    assert out["spec"].ok
    assert "GalNH_unfitted" not in spec
    assert spec["rnames"] == ["earlyone", "gap"]
    assert spec["gap"]["NOSPEC"] == 1 and "Modes" not in spec["gap"]
    early = spec["earlyone"]
    assert early["Start"] == 0 and early["Stop"] == 1000
    fit = early["WT"]
    assert fit["Models"] == ["PowerLaw", "APEC"]
    assert fit["PowerLaw"]["GalacticNH"] == pytest.approx(4.1e20)
    assert fit["PowerLaw"]["Redshift_abs"] == 1.5 and "KT" in fit["APEC"]
    names = _members(tmp_path / "spec" / "earlyone.tar.gz")
    assert "earlyonewt_pow_fit.fit" in names and "models/earlyonewt_apec.xcm" in names
    assert not (tmp_path / "spec" / "gap.tar.gz").exists()
    nofit = build_products(dict(pars, doNotFit=1, timeslice="single"), "9", URL, tmp_path / "b", 1)
    assert nofit["spec"].data["interval0"]["WT"]["NOFIT"] == 1


def test_positions(grb_job):
    out, d = grb_job
    truth = SkyCoord(335.6985 * u.deg, -7.5179 * u.deg)
    for code in ("psf", "enh", "xastrom"):
        pos = out[code].data
        assert pos["GotPos"] == 1
        assert all(isinstance(pos[k], str) for k in ("RA", "Dec", "Err90"))
        assert re.fullmatch(r"\d+\.\d{5}", pos["RA"])
        c = SkyCoord(float(pos["RA"]) * u.deg, float(pos["Dec"]) * u.deg)
        err = float(pos["Err90"]) * u.arcsec
        assert 1 * u.arcsec < err < 10 * u.arcsec
        assert c.separation(truth) < 3 * err
    assert out["psf"].data["FromSXPS"] == 0 and out["xastrom"].data["FromSXPS"] == 0
    assert float(out["enh"].data["Err90"]) < float(out["psf"].data["Err90"])
    res = (d / "psf" / "results.dat").read_text().rstrip("\n").split("\t")
    assert len(res) == 11 and res[0] == out["psf"].data["RA"]
    assert re.fullmatch(r"\d\d \d\d \d\d\.\d\d", res[2]) and res[3].startswith("-07 31")
    succ = (d / "enh" / "success.txt").read_text().splitlines()
    assert len(succ) == 11 and succ[0] == "GRB 200416A" and succ[1] == "00968211"
    assert len((d / "xastrom" / "corrpos.dat").read_text().split("\t")) == 5
    assert len((d / "xastrom" / "xastrom_corr.dat").read_text().split("\t")) == 4


def test_position_special_cases(tmp_path):
    # From SXPS for a persistent source.
    out = build_products({"name": "GK Per", "RA": 52.80004, "Dec": 43.90431, "useSXPS": 1, "dopsf": 1,
                          "doxastrom": 1, "doenh": 0, "posobs": "all"}, "1", URL, tmp_path / "a", 1)
    for code in ("psf", "xastrom"):
        assert out[code].ok and out[code].data["FromSXPS"] == 1 and out[code].data["WhichSXPS"] == "LSXPS"
        lines = (tmp_path / "a" / code / "INSXPS").read_text().splitlines()
        assert len(lines) == 8 and lines[-1] == "LSXPS"
    # A sparse field: too few X-ray/2MASS matches -> complete, no position, NOCORR file.
    out = build_products({"name": "Cen X-3", "doxastrom": 1, "posobs": "all"}, "2", URL, tmp_path / "b", 1)
    assert out["xastrom"].ok and out["xastrom"].data["GotPos"] == 0
    assert (tmp_path / "b" / "xastrom" / "NOCORR").exists()
    # In the field but away from every source: no position, not a failure.
    off = {"name": "blank", "RA": 335.6985, "Dec": -7.5179 + 0.6 / 60, "targ": "00968211", "dopsf": 1}
    out = build_products(off, "3", URL, tmp_path / "c", 1)
    assert out["psf"].ok and out["psf"].data["GotPos"] == 0 and "Reason" in out["psf"].data
    assert (tmp_path / "c" / "psf" / "results.dat").read_text() == "NOPOS\n"


def test_images(grb_job):
    out, d = grb_job
    log = (d / "image" / "images.log").read_text().splitlines()
    assert [line.split("\t") for line in log] == [["1", "0.3", "10"], ["2", "0.3", "1.5"],
                                                  ["3", "1.51", "10"]]
    totals = []
    for n in (1, 2, 3):
        with gzip.open(d / "image" / ("image%d.img.gz" % n)) as f:
            hdul = fits.open(io.BytesIO(f.read()))
        img = hdul[0].data
        w = WCS(hdul[0].header)
        assert w.has_celestial and w.wcs.ctype[0] == "RA---TAN" and w.wcs.ctype[1] == "DEC--TAN"
        scale = w.proj_plane_pixel_scales()[0].to(u.arcsec)
        assert scale.value == pytest.approx(2.357, rel=1e-3)
        x, y = w.world_to_pixel(SkyCoord(335.6985 * u.deg, -7.5179 * u.deg))
        xi, yi = int(round(float(x))), int(round(float(y)))
        core = img[yi - 3:yi + 4, xi - 3:xi + 4].sum()
        assert core > 100 * np.median(img) + 20  # the GRB stands out at its position
        assert hdul[0].header["EXPOSURE"] > 0
        totals.append(img.sum())
    assert totals[0] == pytest.approx(totals[1] + totals[2], rel=0.1)
    for name in ("summed_ex.img.gz", "summed_vignet_ex.img.gz"):
        with gzip.open(d / "image" / name) as f:
            hdul = fits.open(io.BytesIO(f.read()))
        assert WCS(hdul[0].header).has_celestial and hdul[0].data.max() > 0
    with gzip.open(d / "image" / "summed_ex.img.gz") as f1:
        flat = fits.getdata(io.BytesIO(f1.read()))
    with gzip.open(d / "image" / "summed_vignet_ex.img.gz") as f2:
        vig = fits.getdata(io.BytesIO(f2.read()))
    assert np.all(vig <= flat + 0.5)


def test_source_list(grb_job):
    out, d = grb_job
    data = out["sourceDet"].data
    assert sorted(data) == ["Hard", "Medium", "Soft", "Total"]
    total = data["Total"]
    assert len(total) >= 2
    for src in total:
        assert all(isinstance(v, str) for v in src.values())
        for key in ("sno", "x", "y", "ra", "ra_pos", "ra_neg", "dec", "dec_pos", "dec_neg", "err90", "l",
                    "b", "C", "rate", "rate_pos", "rate_neg", "snr"):
            assert key in src
    assert [s["sno"] for s in total] == [str(i) for i in range(1, len(total) + 1)]
    best = total[0]
    c = SkyCoord(float(best["ra"]) * u.deg, float(best["dec"]) * u.deg)
    assert c.separation(SkyCoord(335.6985 * u.deg, -7.5179 * u.deg)) < 10 * u.arcsec
    gal = c.galactic
    assert float(best["l"]) == pytest.approx(gal.l.deg, abs=1e-4)
    assert (d / "sourceDet" / "Total_sources.txt").exists()
    only_total = build_products(dict(GRB_PARS, lc=0, spec=0, dopsf=0, doenh=0, doxastrom=0, image=0,
                                     detbands="total"), "5", URL, d / "t", 42)
    assert list(only_total["sourceDet"].data) == ["Total"]


def test_deterministic_for_seed(tmp_path):
    pars = dict(GRB_PARS, image=0, sourceDet=0)
    a = build_products(pars, "1", URL, tmp_path / "a", 99)
    b = build_products(pars, "1", URL, tmp_path / "b", 99)
    c = build_products(pars, "1", URL, tmp_path / "c", 100)
    for code in a:
        assert json.dumps(a[code].data, sort_keys=True) == json.dumps(b[code].data, sort_keys=True)
    tar = "spec/interval0.tar.gz"
    assert (tmp_path / "a" / tar).read_bytes() == (tmp_path / "b" / tar).read_bytes()
    assert (tmp_path / "a/lc/curve.qdp").read_text() == (tmp_path / "b/lc/curve.qdp").read_text()
    assert json.dumps(a["lc"].data) != json.dumps(c["lc"].data)


def test_failures_far_from_everything(tmp_path):
    pars = dict(GRB_PARS, name="nowhere", RA=10.0, Dec=10.0, targ=None)
    out = build_products(pars, "1", URL, tmp_path, 1)
    assert sorted(out) == sorted(CODES)
    for o in out.values():
        assert not o.ok and o.reason and o.data == {} and o.files == []
    # A targetID whose observations never cover the position.
    out = build_products(dict(GRB_PARS, RA=52.8, Dec=43.9), "2", URL, tmp_path / "b", 1)
    assert not out["lc"].ok and "cover the position" in out["lc"].reason
    # Only the requested products are built.
    out = build_products({"name": "GK Per", "dopsf": 1}, "3", URL, tmp_path / "c", 1)
    assert list(out) == ["psf"]
    bad = build_products({"name": "GK Per", "lc": 1, "binMeth": "weekly"}, "4", URL, tmp_path / "d", 1)
    assert not bad["lc"].ok and "binMeth" in bad["lc"].reason


def test_rebin(tmp_path):
    params = {"binMeth": "obsid", "timeFormat": "MJD", "name": "GRB 200416A", "type": "UOB_LC"}
    data = rebin_lightcurve(GRB_PARS, "7", URL, tmp_path, 42, 3, params)
    assert data["Binning"] == "ObsID" and data["TimeFormat"] == "MJD"
    assert data["PCData"]["URL"].startswith(URL + "/lc_rebin3/")
    assert (tmp_path / "lc_rebin3" / "curve.qdp").exists()
    obsids = [row[-1] for row in data["PC_incbadData"]["data"]]
    assert len(obsids) == len(set(obsids))
    assert rebin_lightcurve(dict(GRB_PARS, lc=0), "7", URL, tmp_path, 42, 4, {"binMeth": "time"}) is None
