# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the spectral-fit and spectrum-archive readers."""
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xrt_fake_session as fake
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro.readers.spectrum import (SPECTRAL_FIT_COLUMNS, FitValue, SpectrumProducts,
                                             read_areas_file, read_fit_file, read_spectral_fits,
                                             read_spectrum_archive)
from xrtprods_astro.times import clock_utcf, met_to_time

DATA = Path(__file__).parent / "data"
FLUX = u.erg / u.cm**2 / u.s


# --- read_spectral_fits -------------------------------------------------------------------------

def test_powerlaw_single_interval_values_and_units():
    table = read_spectral_fits(DATA / "spec_fits_powerlaw.json", job_id="3512")
    assert isinstance(table, Table) and len(table) == 2
    assert list(table["interval"]) == ["interval0", "interval0"]
    assert list(table["mode"]) == ["WT", "PC"]
    assert list(table["model"]) == ["PowerLaw", "PowerLaw"]
    assert list(table["status"]) == ["ok", "ok"]
    wt, pc = table
    assert table["start"].unit == u.s and wt["start"] == 0 and wt["stop"] == 86400
    assert wt["mean_time"] == pytest.approx(161.7) and table["exposure"].unit == u.s
    assert table["nh"].unit == u.cm**-2 and wt["nh"] == pytest.approx(2.31e21)
    # Negative offsets become positive magnitudes.
    assert wt["nh_err_neg"] == pytest.approx(3.7e20) and wt["nh_err_pos"] == pytest.approx(4.1e20)
    assert wt["gamma"] == pytest.approx(1.87) and wt["gamma_err_neg"] == pytest.approx(0.1)
    assert table["obs_flux"].unit == FLUX and wt["obs_flux"] == pytest.approx(1.12e-9)
    assert wt["unabs_flux_err_neg"] == pytest.approx(6.5e-11)
    # String values (PC) are read as numbers too.
    assert pc["nh"] == pytest.approx(1.9e21) and pc["gamma_err_pos"] == pytest.approx(0.21)
    assert table["dof"].dtype.kind == "i" and list(table["dof"]) == [418, 224]
    assert pc["cstat"] == pytest.approx(211.9) and pc["fit_chi"] == pytest.approx(205.1)
    assert pc["plot_url"].endswith("interval0pc_plot.gif")
    assert wt["data_file"].endswith("/spec/interval0.tar.gz")
    # Not fitted for a power law: masked.
    assert np.all(table["kt"].mask) and np.all(table["redshift"].mask) and np.all(table["galactic_nh"].mask)
    assert table["kt"].unit == u.keV
    meta = table.meta
    assert meta["job_id"] == "3512" and meta["no_spectrum"] is False
    assert meta["delta_fit_stat"] == 2.706
    assert meta["galactic_nh_unfitted"] == 4.42e20 * u.cm**-2
    assert isinstance(meta["t0"], Time)
    assert abs((meta["t0"] - met_to_time(608713541.952)).to_value(u.s)) < 1e-6


def test_time_columns_follow_t0():
    table = read_spectral_fits(DATA / "spec_fits_powerlaw.json")
    names = table.colnames
    assert names[names.index("mean_time") + 1:names.index("mean_time") + 4] == [
        "time_start", "time_stop", "time_mean"]
    assert isinstance(table["time_mean"], Time) and table["time_mean"].scale == "utc"
    t0 = table.meta["t0"]
    # UTC intervals are the MET ones plus the clock's change over them (-5.6 ms a day in 2020).
    drift = clock_utcf(table.meta["t0_met"] + 86400) - clock_utcf(table.meta["t0_met"])
    assert -0.01 < drift < 0
    assert (table["time_stop"][0] - t0).to_value(u.s) == pytest.approx(86400 + drift, abs=1e-5)
    drift = clock_utcf(table.meta["t0_met"] + 21304.2) - clock_utcf(table.meta["t0_met"])
    assert (table["time_mean"][1] - t0).to_value(u.s) == pytest.approx(21304.2 + drift, abs=1e-5)
    assert set(SPECTRAL_FIT_COLUMNS) <= set(names)


def test_nospec_nofit_fitfailed_apec_redshift_galactic():
    table = read_spectral_fits(json.loads((DATA / "spec_fits_mixed.json").read_text()), job_id=77)
    assert list(table["interval"]) == ["early", "early", "late", "late", "quiet"]
    assert list(table["status"]) == ["ok", "ok", "no fit", "fit failed", "no spectrum"]
    power, apec, wt_nofit, pc_failed, quiet = table
    assert power["model"] == "PowerLaw" and apec["model"] == "APEC"
    assert power["galactic_nh"] == pytest.approx(1.38e21) and power["redshift"] == pytest.approx(1.1)
    assert apec["kt"] == pytest.approx(4.7) and apec["kt_err_neg"] == pytest.approx(1.3)
    assert np.ma.is_masked(apec["gamma"]) and np.ma.is_masked(power["kt"])
    # Mode-level NOFIT: the mode's times stay, the fit is masked, no model.
    assert wt_nofit["mode"] == "WT" and np.ma.is_masked(wt_nofit["model"])
    assert wt_nofit["exposure"] == 60.0 and np.ma.is_masked(wt_nofit["nh"])
    # Model-level NOFIT: the model is named, its values masked.
    assert pc_failed["model"] == "PowerLaw" and np.ma.is_masked(pc_failed["gamma"])
    assert np.ma.is_masked(pc_failed["dof"])
    # NOSPEC: the interval and its window, nothing else.
    assert quiet["start"] == 90000 and quiet["stop"] == 200000
    assert np.ma.is_masked(quiet["mode"]) and np.ma.is_masked(quiet["mean_time"])
    t0 = table.meta["t0"]
    drift = clock_utcf(table.meta["t0_met"] + 90000) - clock_utcf(table.meta["t0_met"])
    assert (table["time_start"][4] - t0).to_value(u.s) == pytest.approx(90000 + drift, abs=1e-5)
    assert table["time_mean"].mask[4]
    assert not table["time_mean"].mask[0]
    assert table.meta["galactic_nh_unfitted"] is None
    assert table.meta["delta_fit_stat"] == 1


def test_top_level_nospectrum_is_empty_flagged_table():
    table = read_spectral_fits((DATA / "spec_fits_nospectrum.json").read_bytes())
    assert len(table) == 0
    assert table.meta["no_spectrum"] is True and table.meta["t0"] is None
    assert list(SPECTRAL_FIT_COLUMNS) == table.colnames
    assert table["nh"].unit == u.cm**-2


@pytest.mark.parametrize("data, match", [
    ({"T0": 1}, "neither 'rnames' nor 'NoSpectrum'"),
    ({"rnames": "a"}, "listed in rnames but its entry is missing"),
    ({"rnames": ["a"], "a": {"Start": 0}}, "no 'Modes' list and no NOSPEC"),
    ({"rnames": ["a"], "a": {"Modes": ["PC"]}}, "listed in Modes"),
    ({"rnames": ["a"], "a": {"Modes": ["PC"], "PC": {"Models": ["PowerLaw"]}}}, "listed in Models"),
    ({"rnames": ["a"], "a": {"Modes": ["PC"],
                             "PC": {"Models": ["PowerLaw"], "PowerLaw": {"NH": "lots"}}}}, "NH"),
    ({"rnames": ["a"], "a": {"Modes": ["PC"],
                             "PC": {"Models": ["PowerLaw"], "PowerLaw": {"Dof": 3.5}}}}, "not an integer"),
    ({"T0": "soon", "rnames": []}, "T0"),
    ({"rnames": 3}, "must be a list"),
    ({"OK": 0, "ERROR": "Job 9 not found"}, "Job 9 not found"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_fits_raise(data, match):
    with pytest.raises(ReaderError, match=match):
        read_spectral_fits(data)


# --- fit and areas files --------------------------------------------------------------------------

FIT_WT = """Gal_nh 0.0442 (0.0442, 0.0442)
excess_nh 0.231 (0.194, 0.272)
gamma 1.87 (1.77, 1.98)
Obs flux 1.12e-09 (1.081e-09, 1.16e-09) erg cm**-2 s**-1
Unabs flux 1.51E-09 (1.445e-09, 1.582e-09) erg cm**-2 s**-1
Cstat = 402.3, DOF = 418
FitChi = 399.8
File count rate: 11.52 \nCorr factor:\t1.043
Ontime:\t95.3
"""
FIT_PC_POW = FIT_WT.replace("gamma 1.87", "z_abs 1.1 (1.1, 1.1)\ngamma 2.05").replace("Ontime:\t95.3",
                                                                                      "Ontime:\t8.1234E+03")
FIT_PC_APEC = """Gal_nh 0.0442 (0.0442, 0.0442)
excess_nh 0.1 (0.04, 0.18)
kT 4.7 (3.4, 6.8)
Obs flux 5.2e-12 (4.61e-12, 5.81e-12) erg cm**-2 s**-1
Unabs flux 6.0e-12 (5.3e-12, 6.8e-12) erg cm**-2 s**-1
Cstat = 158.9, DOF = 160
"""
AREAS = """00966554000/pcpup0.evt, 608720000.5 -- 608730000.2
annulus(335.6985,-7.5179,7.07",47.15")
Counts: 312
BACKSCAL 0.0215

00966554000/wtpup0.evt, 608713600 -- 608713800
circle(335.6985,-7.5179,47.15")
Counts: 1210
BACKSCAL 0.0197

"""


def test_read_fit_file_values_units_bounds(tmp_path):
    path = tmp_path / "interval0wt_fit.fit"
    path.write_text(FIT_WT)
    fit = read_fit_file(path)
    assert isinstance(fit["excess_nh"], FitValue)
    assert fit["excess_nh"].value.unit == u.cm**-2
    assert fit["excess_nh"].value.value == pytest.approx(2.31e21)
    assert fit["excess_nh"].lo.value == pytest.approx(1.94e21)
    assert fit["excess_nh"].err_neg.value == pytest.approx(3.7e20)
    assert fit["galactic_nh"].value.value == pytest.approx(4.42e20)
    assert fit["gamma"].value == 1.87 * u.one and fit["gamma"].hi == 1.98 * u.one
    assert fit["gamma"].err_pos.value == pytest.approx(0.11)
    assert fit["obs_flux"].value.unit == FLUX and fit["obs_flux"].value.value == pytest.approx(1.12e-9)
    assert fit["unabs_flux"].value.value == pytest.approx(1.51e-9)
    assert fit["cstat"] == pytest.approx(402.3) and fit["dof"] == 418 and isinstance(fit["dof"], int)
    assert fit["fit_chi"] == pytest.approx(399.8)
    assert fit["count_rate"].unit == u.ct / u.s and fit["count_rate"].value == pytest.approx(11.52)
    assert fit["corr_factor"] == pytest.approx(1.043)
    assert fit["ontime"] == 95.3 * u.s
    apec = read_fit_file(FIT_PC_APEC)
    assert apec["kt"].value == 4.7 * u.keV and "gamma" not in apec
    assert read_fit_file(FIT_PC_POW)["z_abs"].value == 1.1 * u.one
    assert read_fit_file(FIT_PC_POW)["ontime"] == 8123.4 * u.s


def test_read_fit_file_empty_and_bad(tmp_path):
    empty = tmp_path / "empty_fit.fit"
    empty.write_bytes(b"")
    assert read_fit_file(empty) is None
    with pytest.raises(ReaderError, match="line 2"):
        read_fit_file("gamma 1.8 (1.7, 1.9)\nthis is not a fit line\n")
    with pytest.raises(ReaderError, match="cannot be read"):
        read_fit_file(tmp_path / "absent_fit.fit")


def test_read_areas_file():
    areas = read_areas_file(AREAS)
    assert len(areas) == 2
    assert list(areas["obsid"]) == ["00966554000", "00966554000"]
    assert list(areas["mode"]) == ["PC", "WT"]
    assert areas["tstart"].unit == u.s and areas["tstart"][0] == pytest.approx(608720000.5)
    assert areas["counts"].unit == u.ct and list(areas["counts"]) == [312, 1210]
    assert areas["backscal"][1] == pytest.approx(0.0197)
    assert areas["region"][0].startswith("annulus(")
    with pytest.raises(ReaderError, match="expected '<obsid>"):
        read_areas_file("nonsense line\nmore\n")


# --- the archive ----------------------------------------------------------------------------------

def pha(rname, mode, kind, exposure, rng):
    """A small OGIP PHA file as bytes (grouped when kind is '')."""
    counts = rng.poisson(3, 1024).astype(np.int32)
    columns = [fits.Column("CHANNEL", "I", array=np.arange(1024, dtype=np.int16)),
               fits.Column("COUNTS", "J", unit="count", array=counts)]
    stem = rname + mode
    links = {"BACKFILE": "none", "RESPFILE": "none", "ANCRFILE": "none"}
    if kind == "":
        quality = np.zeros(1024, dtype=np.int16)
        quality[:30] = 5
        grouping = np.ones(1024, dtype=np.int16)
        columns += [fits.Column("QUALITY", "I", array=quality), fits.Column("GROUPING", "I", array=grouping)]
        links = {"BACKFILE": f"{stem}back.pi", "RESPFILE": f"{stem}.rmf", "ANCRFILE": f"{stem}.arf"}
    spectrum = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    spectrum.header.update({"TELESCOP": "SWIFT", "INSTRUME": "XRT", "FILTER": "NONE",
                            "HDUCLASS": "OGIP", "HDUCLAS1": "SPECTRUM", "HDUVERS": "1.2.1",
                            "HDUCLAS2": "BKG" if kind == "back" else "TOTAL", "HDUCLAS3": "COUNT",
                            "CHANTYPE": "PI", "DETCHANS": 1024, "POISSERR": True,
                            "EXPOSURE": exposure, "BACKSCAL": 0.0215 if kind != "back" else 0.1822,
                            "AREASCAL": 1.0, "CORRSCAL": 0.0, "CORRFILE": "none",
                            "OBJECT": "GRB200416a", **links})
    gti = fits.BinTableHDU.from_columns([fits.Column("START", "D", unit="s", array=[608720000.5]),
                                         fits.Column("STOP", "D", unit="s", array=[608730000.2])],
                                        name="GTI")
    return fits_bytes(fits.HDUList([fits.PrimaryHDU(), spectrum, gti]))


def arf():
    lo = np.linspace(0.1, 11.9, 240)
    columns = [fits.Column("ENERG_LO", "E", unit="keV", array=lo),
               fits.Column("ENERG_HI", "E", unit="keV", array=lo + 0.05),
               fits.Column("SPECRESP", "E", unit="cm**2", array=np.full(240, 110.0))]
    hdu = fits.BinTableHDU.from_columns(columns, name="SPECRESP")
    hdu.header.update({"HDUCLASS": "OGIP", "HDUCLAS1": "RESPONSE", "HDUCLAS2": "SPECRESP",
                       "TELESCOP": "SWIFT", "INSTRUME": "XRT"})
    return fits_bytes(fits.HDUList([fits.PrimaryHDU(), hdu]))


def rmf():
    n = 240
    lo = np.linspace(0.1, 11.9, n)
    first = np.clip((lo / 0.01).astype(np.int16) - 4, 0, 1015)
    matrix = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", unit="keV", array=lo),
        fits.Column("ENERG_HI", "E", unit="keV", array=lo + 0.05),
        fits.Column("N_GRP", "I", array=np.ones(n, dtype=np.int16)),
        fits.Column("F_CHAN", "I", array=first),
        fits.Column("N_CHAN", "I", array=np.full(n, 8, dtype=np.int16)),
        fits.Column("MATRIX", "8E", array=np.full((n, 8), 0.125, dtype=np.float32))], name="MATRIX")
    matrix.header.update({"HDUCLASS": "OGIP", "HDUCLAS1": "RESPONSE", "HDUCLAS2": "RSP_MATRIX",
                          "DETCHANS": 1024, "TLMIN4": 0, "CHANTYPE": "PI"})
    channels = np.arange(1024)
    ebounds = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "I", array=channels.astype(np.int16)),
        fits.Column("E_MIN", "E", unit="keV", array=channels * 0.01),
        fits.Column("E_MAX", "E", unit="keV", array=(channels + 1) * 0.01)], name="EBOUNDS")
    ebounds.header.update({"HDUCLASS": "OGIP", "HDUCLAS1": "RESPONSE", "HDUCLAS2": "EBOUNDS",
                           "DETCHANS": 1024})
    return fits_bytes(fits.HDUList([fits.PrimaryHDU(), matrix, ebounds]))


def fits_bytes(hdul):
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def members():
    """The members of a realistic ``interval0.tar.gz``: WT without a fit, PC with two models."""
    rng = np.random.default_rng(200416)
    files = {"README.txt": b"Grouped spectra have BACKFILE, RESPFILE and ANCRFILE set.\n",
             "interval0.areas": AREAS.encode()}
    for mode, exposure in (("wt", 95.3), ("pc", 8123.4)):
        files[f"interval0{mode}.pi"] = pha("interval0", mode, "", exposure, rng)
        files[f"interval0{mode}source.pi"] = pha("interval0", mode, "source", exposure, rng)
        files[f"interval0{mode}back.pi"] = pha("interval0", mode, "back", exposure, rng)
        files[f"interval0{mode}.arf"] = arf()
        files[f"interval0{mode}.rmf"] = rmf()
    files["interval0wt_fit.fit"] = b""
    files["interval0pc_pow_fit.fit"] = FIT_PC_POW.encode()
    files["interval0pc_apec_fit.fit"] = FIT_PC_APEC.encode()
    files["models/interval0pc_pow.xcm"] = b"method leven 10 0.01\nabund wilm\nxsect vern\n"
    return files


def test_archive_from_path(tmp_path, members):
    archive = tmp_path / "interval0.tar.gz"
    archive.write_bytes(fake.targz(members))
    products = read_spectrum_archive(archive, tmp_path / "spec")
    assert isinstance(products, SpectrumProducts)
    assert products.interval == "interval0"
    assert products.directory == tmp_path / "spec"
    assert list(products.modes) == ["WT", "PC"]
    assert products.broken_links == []
    assert "pc" in products and "XX" not in products
    pc = products["pc"]
    assert pc.paths["spectrum"] == tmp_path / "spec" / "interval0pc.pi"
    assert pc.paths["background"].name == "interval0pcback.pi"
    assert pc.paths["xcm"]["pow"].name == "interval0pc_pow.xcm"
    spectrum = pc.spectrum
    assert isinstance(spectrum, fits.HDUList)
    header = spectrum["SPECTRUM"].header
    assert header["EXPOSURE"] == 8123.4 and header["RESPFILE"] == "interval0pc.rmf"
    # The links resolve next to the spectrum, where XSPEC and Sherpa look for them.
    for key in ("BACKFILE", "RESPFILE", "ANCRFILE"):
        assert (pc.paths["spectrum"].parent / header[key]).is_file()
    assert spectrum["SPECTRUM"].data["QUALITY"][:30].tolist() == [5] * 30
    assert len(spectrum["GTI"].data) == 1
    assert pc.arf["SPECRESP"].data["SPECRESP"][0] == pytest.approx(110.0)
    assert pc.rmf["EBOUNDS"].header["DETCHANS"] == 1024
    assert pc.background["SPECTRUM"].header["HDUCLAS2"] == "BKG"
    assert pc.source["SPECTRUM"].header["BACKFILE"] == "none"
    # Fits: PC has power law and APEC; WT's fit file is empty = no fit.
    assert set(pc.fits) == {"pow", "apec"}
    assert pc.fit is pc.fits["pow"]
    assert pc.fits["pow"]["z_abs"].value == 1.1 * u.one
    assert pc.fits["apec"]["kt"].value == 4.7 * u.keV
    assert products["WT"].fits == {"default": None} and products["WT"].fit is None
    assert list(products.areas["counts"]) == [312, 1210]
    assert {p.name for p in products.files} >= {"README.txt", "interval0wt.rmf", "interval0pc_pow.xcm"}
    assert "spectrum" in repr(pc)


def test_archive_into_relative_directory(tmp_path, members, monkeypatch):
    # A relative dest_dir once had extracted paths joined to it twice.
    monkeypatch.chdir(tmp_path)
    products = read_spectrum_archive(fake.targz(members), "spec")
    pc = products["pc"]
    assert pc.paths["spectrum"] == tmp_path / "spec" / "interval0pc.pi"
    assert pc.paths["spectrum"].is_file() and products.broken_links == []
    assert pc.spectrum["SPECTRUM"].header["EXPOSURE"] == 8123.4


def test_archive_from_bytes_file_handles_closed(tmp_path, members):
    products = read_spectrum_archive(fake.targz(members), tmp_path)
    wt = products["WT"]
    counts = wt.spectrum["SPECTRUM"].data["COUNTS"]
    assert counts.sum() > 0 and len(counts) == 1024
    # Everything is in memory: the files can go (no open handles, no memmap).
    for path in tmp_path.rglob("*"):
        if path.is_file():
            path.unlink()
    assert wt.spectrum["SPECTRUM"].data["COUNTS"].sum() == counts.sum()
    with pytest.raises(ReaderError, match="cannot be read"):
        wt.arf


def test_archive_broken_link_reported(tmp_path, members, caplog):
    broken = {k: v for k, v in members.items() if k != "interval0wt.rmf"}
    with caplog.at_level("WARNING", logger="xrtprods_astro"):
        products = read_spectrum_archive(fake.targz(broken), tmp_path / "out")
    assert products.broken_links == [("interval0wt.pi", "RESPFILE", "interval0wt.rmf")]
    assert "RESPFILE" in caplog.text
    with pytest.raises(ReaderError, match="no rmf file"):
        products["WT"].rmf
    with pytest.raises(KeyError, match="available: WT, PC"):
        products["XRT"]


def test_archive_refuses_unsafe_members(tmp_path, members):
    evil = dict(members)
    evil["../escape.txt"] = b"x"
    with pytest.raises(ReaderError):
        read_spectrum_archive(fake.targz(evil), tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_archive_private_fallback_extract(tmp_path, members, monkeypatch):
    """The private unpacker used when xrtprods_astro.archives is absent is safe too."""
    from xrtprods_astro.readers import spectrum as module
    good = module._private_safe_extract(io.BytesIO(fake.targz(members)), tmp_path / "a")
    assert (tmp_path / "a" / "models" / "interval0pc_pow.xcm") in good
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("interval0pc.rmf")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ReaderError, match="link"):
        module._private_safe_extract(io.BytesIO(buffer.getvalue()), tmp_path / "b")
    with pytest.raises(ReaderError, match="unsafe member"):
        module._private_safe_extract(io.BytesIO(fake.targz({"/abs.txt": b"x"})), tmp_path / "c")


def test_archive_errors(tmp_path):
    with pytest.raises(ReaderError):
        read_spectrum_archive(b"this is not a tar archive", tmp_path / "x")
    with pytest.raises(ReaderError, match="interval name"):
        read_spectrum_archive(fake.targz({"README.txt": b"nothing"}), tmp_path / "y")


def test_archive_with_leading_directory(tmp_path, members):
    nested = {f"USERPROD_77/spec/{name}": payload for name, payload in members.items()}
    products = read_spectrum_archive(fake.targz(nested), tmp_path)
    assert products.interval == "interval0"
    assert products.directory == tmp_path / "USERPROD_77" / "spec"
    assert products.broken_links == []
    assert products["PC"].paths["xcm"]["pow"] == tmp_path / "USERPROD_77" / "spec" / "models" / \
        "interval0pc_pow.xcm"
    assert products["PC"].spectrum["SPECTRUM"].header["EXPOSURE"] == 8123.4


def test_utcf_from_the_real_grouped_spectrum_and_applied_to_fits():
    from astropy.io import fits as pyfits

    from xrtprods_astro.times import utcf_from_header
    pha = Path(__file__).parent / "data" / "real" / "JohannesBuchner__BXA" / "examples" / \
        "sherpa" / "swift" / "interval0pc.pi"
    with pyfits.open(pha) as hdul:
        assert utcf_from_header(hdul[0].header) == (-1.68954, "UTCFINIT")
        # The SPECTRUM extension has no UTCFINIT and a DATE-OBS an hour before
        # TSTART (a merged spectrum): no correction is made up from it.
        assert utcf_from_header(hdul[1].header) == (None, None)
    answer = {"T0": 190110691.0, "rnames": []}
    plain = read_spectral_fits(answer)
    assert plain.meta["time_source"] == "clock table" and plain.meta["time_error"] < 0.1 * u.s
    # The table holds this very UTCFINIT: it gives the same T0 to the point's precision.
    assert abs((plain.meta["t0"] - met_to_time(190110691.0, utcf=-1.68954)).to_value(u.s)) < 1e-4
    fixed = read_spectral_fits(answer, utcf=-1.68954)
    assert fixed.meta["time_source"] == "utcf"
    assert abs((fixed.meta["t0"] - met_to_time(190110691.0, utcf=-1.68954)).to_value(u.s)) < 1e-6


def test_mode_products_utcf_from_the_real_spectrum(tmp_path):
    pha = Path(__file__).parent / "data" / "real" / "JohannesBuchner__BXA" / "examples" / \
        "sherpa" / "swift" / "interval0pc.pi"
    archive = tmp_path / "interval0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(pha, arcname="interval0pc.pi")
    products = read_spectrum_archive(archive, tmp_path / "out")
    assert products["PC"].utcf == -1.68954
