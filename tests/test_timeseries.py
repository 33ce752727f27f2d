# Licensed under a 3-clause BSD style license - see LICENSE
"""Light curves and hardness ratios as BinnedTimeSeries, and their ECSV / FITS round trips."""
import json
import pathlib

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time
from astropy.timeseries import BinnedTimeSeries

from xrtprods_astro.exceptions import ReaderError, XRTProductsWarning
from xrtprods_astro.readers.lightcurve import read_lightcurve_files, read_lightcurve_json, read_lightcurve_qdp
from xrtprods_astro.readers.timeseries import DEFAULT_BANDS, energy_bands

DATA = pathlib.Path(__file__).parent / "data"
REAL_LC = DATA / "real" / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc"
CT_S = u.ct / u.s
FLUX_QDP = (DATA / "real" / "annayqho__AT2022tsd" / "data" / "xray" / "data_xray_lcs" / "GRBs" / "sample"
            / "GRB060729_lc" / "flux.qdp")


@pytest.fixture
def lc():
    with open(DATA / "lc_getLCData.json") as fh:
        return read_lightcurve_json(json.load(fh), job_id=1234)


@pytest.fixture
def real_lc():
    return read_lightcurve_files(REAL_LC)


def _edges(table):
    start = table["time"] - u.Quantity(table["time_err_neg"])
    return start, u.Quantity(table["time_err_neg"]) + u.Quantity(table["time_err_pos"])


def _mask(column):
    return np.array(column.mask, dtype=bool) if hasattr(column, "mask") else np.zeros(len(column), bool)


def test_all_modes_on_real_bin_edges(lc):
    ts = lc.to_timeseries()
    assert isinstance(ts, BinnedTimeSeries)
    # WT (2) + PC (3) + PCUL (1); the variants are not mixed in.
    assert len(ts) == 6 and list(ts["mode"]) == ["WT", "WT", "PC", "PC", "PC", "PC"]
    assert np.all(np.diff(ts.time_bin_start.mjd) > 0)
    start, size = _edges(lc["PC"])
    pc = ts[ts["dataset"] == "PC"]
    assert abs((pc.time_bin_start - start).to_value(u.s)).max() < 1e-6
    np.testing.assert_allclose(pc.time_bin_size.to_value(u.s), size.to_value(u.s))
    assert ts.time_bin_size.unit == u.s and ts.time_bin_start.scale == "utc"
    # The reported (mean photon) time is kept: it is not the bin centre.
    assert abs((pc["time_reported"] - lc["PC"]["time"]).to_value(u.s)).max() < 1e-6
    for name in ("rate", "rate_err_pos", "rate_err_neg"):
        assert ts[name].unit == CT_S
    assert "time_err_pos" not in ts.colnames and "time" not in ts.colnames
    assert ts.meta["job_id"] == 1234 and ts.meta["kind"] == "rate" and ts.meta["band"] == "0.3-10 keV"
    assert ts.meta["t0"] == lc.meta["t0"].utc.isot and ts.meta["t0_met"] == lc.meta["t0_met"]


def test_upper_limits_are_marked_not_zero_errors(lc):
    ts = lc.to_timeseries()
    limit = np.asarray(ts["upper_limit"])
    assert ts["upper_limit"].dtype == bool and limit.tolist() == [False] * 5 + [True]
    # The limit is the value; its errors (0 in the files) and its infinite SNR are masked.
    assert ts["rate"][limit][0].value == pytest.approx(float(lc["PCUL"]["rate"][0]))
    for name in ("rate_err_pos", "rate_err_neg", "snr"):
        assert _mask(ts[name]).tolist() == limit.tolist(), name
    assert np.isinf(lc["PCUL"]["snr"][0])   # the source table itself is untouched


def test_dataset_selects_one_and_old_positional_call(lc):
    ts = lc.to_timeseries(dataset="PCUL")
    assert len(ts) == 1 and bool(ts["upper_limit"][0]) and ts.meta["dataset"] == "PCUL"
    assert len(lc.to_timeseries("WT_nosys")) == 2            # the old positional form
    assert len(lc.to_timeseries(nosys=True, incbad=True)) == 2
    assert list(lc.to_timeseries(modes="PC")["mode"]) == ["PC"] * 4
    with pytest.raises(KeyError, match="no dataset 'WTUL'"):
        lc.to_timeseries("WTUL")
    with pytest.raises(ValueError, match="dataset: give either"):
        lc.to_timeseries("PC", modes="PC")
    with pytest.raises(ValueError, match="kind"):
        lc.to_timeseries(kind="fluxes")
    with pytest.raises(ReaderError, match="no flux dataset"):
        lc.to_timeseries(kind="flux")    # a count-rate light curve has no fluxes
    with pytest.raises(ValueError, match="modes"):
        lc.to_timeseries(modes=["XRT"])
    with pytest.raises(TypeError, match="dataset"):
        lc.to_timeseries(3)


def test_flux_light_curve_keeps_its_fluxes():
    # A real flux.qdp (GRB 060729): WT 156 + PC 676 flux bins and 1 PC upper limit. The series
    # used to hold the limit alone (it looked for count-rate datasets).
    lc = read_lightcurve_qdp(FLUX_QDP)
    assert lc.meta["quantity"] == "flux"
    ts = lc.to_timeseries()
    assert len(ts) == 156 + 676 + 1 and ts.meta["kind"] == "flux"
    assert sorted(set(ts["dataset"])) == ["PC", "PCUL", "WT"]
    flux_unit = u.erg / u.cm**2 / u.s
    assert ts["flux"].unit == flux_unit and "rate" not in ts.colnames
    limit = np.asarray(ts["upper_limit"])
    assert limit.sum() == 1
    for name in ("flux_err_pos", "flux_err_neg"):
        assert _mask(ts[name]).tolist() == limit.tolist(), name
    assert ts["flux"][limit][0].to_value(flux_unit) == pytest.approx(float(lc["PCUL"]["flux"][0]))
    pc = ts[ts["dataset"] == "PC"]
    start, size = _edges(lc["PC"])
    assert abs((pc.time_bin_start - start).to_value(u.s)).max() < 1e-6
    assert len(lc.to_timeseries(kind="flux")) == len(ts) and len(lc.to_timeseries("PC")) == 676
    with pytest.raises(ReaderError, match="no rate dataset"):
        lc.to_timeseries(kind="rate")


def test_unknown_t0_fails_clearly():
    with pytest.warns(XRTProductsWarning, match="T0 is unknown"):
        lc = read_lightcurve_qdp(DATA / "lc_PCCURVE.qdp", dataset="PC")
    with pytest.raises(ReaderError, match="T0 unknown"):
        lc.to_timeseries()


def test_hardness_ratio_with_both_bands(real_lc):
    ts = real_lc.to_timeseries(kind="hr")
    hr = real_lc["PCHR"]
    assert len(ts) == len(hr) and set(ts["mode"]) == {"PC"}
    for name in ("hard_rate", "hard_rate_err", "soft_rate", "soft_rate_err"):
        assert ts[name].unit == CT_S
    np.testing.assert_allclose(np.asarray(ts["hard_rate"].value), np.asarray(real_lc["PCHard"]["rate"]))
    # The real file's "-nan" HR error is masked, not carried as NaN.
    bad = ~np.isfinite(np.asarray(hr["hr_err"], float))
    assert bad.any()
    assert _mask(ts["hr_err"])[bad].all()
    assert ts.meta["hard"] == "1.5-10 keV" and ts.meta["soft"] == "0.3-1.5 keV"
    one = real_lc.to_timeseries("PCHR")
    assert len(one) == len(hr) and "hr" in one.colnames and one.meta["kind"] == "hr"


@pytest.mark.parametrize("fmt", ["ecsv", "fits"])
@pytest.mark.parametrize("kind", ["rate", "hr", "flux"])
def test_round_trip(lc, real_lc, tmp_path, fmt, kind):
    source = {"rate": lc, "hr": real_lc, "flux": read_lightcurve_qdp(FLUX_QDP)}[kind]
    ts = source.to_timeseries(kind=kind)
    path = tmp_path / f"lc.{fmt}"
    ts.write(path)
    # FITS needs astropy_native to give Time columns back; ECSV reads as it is.
    back = BinnedTimeSeries.read(path, **({"astropy_native": True} if fmt == "fits" else {}))
    assert back.colnames == ts.colnames
    assert isinstance(back.time_bin_start, Time) and back.time_bin_start.scale == "utc"
    assert abs((back.time_bin_start - ts.time_bin_start).to_value(u.s)).max() < 1e-6
    assert abs((back["time_reported"] - ts["time_reported"]).to_value(u.s)).max() < 1e-6
    np.testing.assert_allclose(back.time_bin_size.to_value(u.s), ts.time_bin_size.to_value(u.s))
    for name in ts.colnames:
        if getattr(ts[name], "unit", None) is not None:
            assert back[name].unit == ts[name].unit, name
    masked = {"rate": "rate_err_pos", "hr": "hr_err", "flux": "flux_err_pos"}[kind]
    assert _mask(back[masked]).tolist() == _mask(ts[masked]).tolist() and _mask(ts[masked]).any()
    assert list(back["mode"]) == list(ts["mode"])
    if kind != "hr":
        assert back["upper_limit"].dtype == bool
        assert np.asarray(back["upper_limit"]).tolist() == np.asarray(ts["upper_limit"]).tolist()
    meta = {k.lower(): v for k, v in back.meta.items()}   # FITS keywords come back upper case
    assert meta["t0"] == ts.meta["t0"] and meta["kind"] == kind


def test_energy_bands():
    assert energy_bands() == DEFAULT_BANDS
    bands = energy_bands({"hard_band": [2, 10] * u.keV}, params={"min_energy": 0.5})
    assert bands["hard_band"] == (2.0, 10.0) and bands["energy_band"] == (0.5, 10.0)
    assert bands["soft_band"] == DEFAULT_BANDS["soft_band"]
