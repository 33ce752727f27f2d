# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the light-curve readers (getLCData JSON and archive QDP files)."""
import json
import pathlib
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time
from astropy.timeseries import BinnedTimeSeries

from xrtprods_astro.exceptions import ReaderError, XRTProductsWarning
from xrtprods_astro.readers.lightcurve import (LightCurve, parse_dataset_name, read_lightcurve_files,
                                               read_lightcurve_json, read_lightcurve_qdp)
from xrtprods_astro.times import clock_utcf, met_to_time

DATA = pathlib.Path(__file__).parent / "data"
T0 = 608713541.952
CT_S = u.ct / u.s
RATE_COLUMNS = ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "rate", "rate_err_pos",
                "rate_err_neg", "upper_limit", "frac_exp", "bg_rate", "bg_rate_err", "corr_fact", "counts",
                "bg_counts", "exposure", "sigma", "snr"]


def load_json(name):
    with open(DATA / name) as fh:
        return json.load(fh)


@pytest.fixture
def lc_json():
    return read_lightcurve_json(load_json("lc_getLCData.json"), job_id=1234)


def check_units(table):
    for name in ("time_err_pos", "time_err_neg", "exposure", "t_since_t0", "met"):
        if name in table.colnames:
            assert table[name].unit == u.s, name
    for name in ("rate", "rate_err_pos", "rate_err_neg", "rate_err", "bg_rate", "bg_rate_err"):
        if name in table.colnames:
            assert table[name].unit == CT_S, name
    for name in ("counts", "bg_counts"):
        if name in table.colnames:
            assert table[name].unit == u.ct, name


def test_met_to_time_pairs():
    # UTCF counts the 5 leap seconds since 2001 and the drift; without one, the clock table's.
    assert met_to_time(600000000, utcf=-5).iso == "2020-01-06 10:39:55.000"
    shifted = met_to_time(600000000, utcf=-25)
    assert (shifted - met_to_time(600000000, utcf=-5)).to_value(u.s) == pytest.approx(-20)
    assert met_to_time(600000000).iso == "2020-01-06 10:39:35.785"


def test_json_datasets_order_and_meta(lc_json):
    assert isinstance(lc_json, LightCurve)
    assert lc_json.datasets == ["WT", "WTHard", "WTSoft", "WTHR", "PC", "PCUL", "PC_incbad",
                                "WT_nosys", "WT_nosys_incbad"]
    assert lc_json.meta["job_id"] == 1234 and lc_json.meta["binning"] == "Counts"
    assert isinstance(lc_json.meta["t0"], Time)
    assert lc_json.meta["t0"].scale == "utc"
    assert lc_json.meta["t0_met"] == T0
    meta = lc_json["WT_nosys_incbad"].meta
    assert (meta["mode"], meta["kind"], meta["nosys"], meta["incbad"]) == ("WT", "rate", True, True)
    assert meta["url"].endswith("/lc/WTCURVE_nosys_incbad.qdp")
    assert lc_json["PCUL"].meta["kind"] == "ul"
    assert "PCUL" in repr(lc_json) and "job_id=1234" in repr(lc_json)
    with pytest.raises(KeyError, match="no dataset 'WTUL'"):
        lc_json["WTUL"]


def test_json_rate_columns_values_units(lc_json):
    pc = lc_json["PC"]
    assert pc.colnames == RATE_COLUMNS + ["obsid"]
    check_units(pc)
    assert isinstance(pc["time"], Time)
    np.testing.assert_allclose(pc["t_since_t0"], [4521.337, 9802.51, 25110.9])
    np.testing.assert_allclose(pc["met"], np.array([4521.337, 9802.51, 25110.9]) + T0)
    # Time = T0 + t; no UTCF stated -> the clock table's UTCF at T0, carried to each bin.
    assert pc.meta["utcf"] == pytest.approx(clock_utcf(T0), abs=1e-6)
    expected = met_to_time(T0 + 4521.337)
    assert abs((pc["time"][0] - expected).to_value(u.s)) < 1e-6
    # Negative extents become positive magnitudes.
    np.testing.assert_allclose(pc["time_err_neg"], [290.118, 388.7, 1990.2])
    np.testing.assert_allclose(pc["rate_err_neg"], [0.0231, 0.0112, 0.0023])
    assert not pc["upper_limit"].any()
    # ObsIDs from '::ObsID=' strings, bare numbers and padded strings all end as 11 digits.
    assert list(pc["obsid"]) == ["00968211000", "00968211001", "00968211002"]
    assert pc["sigma"][1] == 1000.0 and pc["counts"][1] == 20


def test_json_wt_systematics_and_nosys(lc_json):
    wt = lc_json["WT"]
    # SYS_NEG / SYS_POS as written (numbers near 1 in real files), in the file's order, no unit.
    assert wt.colnames[-2:] == ["sys_neg", "sys_pos"]
    check_units(wt)
    np.testing.assert_allclose(wt["sys_neg"], [0.999595, 0.999582])
    np.testing.assert_allclose(wt["sys_pos"], [1.000362, 1.000373])
    assert wt["sys_neg"].unit is None and wt["sys_pos"].unit is None
    assert "sys_pos" not in lc_json["WT_nosys"].colnames


def test_json_upper_limits_new_name(lc_json):
    ul = lc_json["PCUL"]
    assert ul["upper_limit"].all()
    assert ul["rate"][0] == pytest.approx(0.00311) and ul["rate"].unit == CT_S
    assert np.isposinf(ul["snr"][0])
    assert ul["rate_err_pos"][0] == 0 and ul["rate_err_neg"][0] == 0


def test_json_hard_soft_hr(lc_json):
    hard, soft, hr = lc_json["WTHard"], lc_json["WTSoft"], lc_json["WTHR"]
    assert hard.colnames == ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "rate", "rate_err"]
    check_units(hard)
    assert hard["rate"][0] == 20.5 and soft["rate_err"][0] == 2.4
    assert hr.colnames[-2:] == ["hr", "hr_err"]
    assert hr["hr"].unit is None and hr["hr"][0] == 0.83
    assert hr.meta["kind"] == "hr" and soft.meta["kind"] == "soft"
    assert "upper_limit" not in hr.colnames


def test_json_numeric_strings(lc_json):
    # PC_incbad is sent as strings: still floats.
    t = lc_json["PC_incbad"]
    assert t["rate"].dtype == np.float64 and t["rate"][0] == 0.1275


def test_json_old_names_map_to_the_same_columns(lc_json):
    old = read_lightcurve_json(load_json("lc_getLCData_old.json"))
    assert old.datasets == ["WT", "PC", "PCUL"]
    assert old["PC"].colnames == RATE_COLUMNS
    for name in ("time_err_pos", "time_err_neg", "rate", "rate_err_pos", "rate_err_neg", "counts"):
        np.testing.assert_allclose(old["PC"][name], lc_json["PC"][name])
    assert old["PCUL"]["upper_limit"].all() and old["PCUL"]["rate"][0] == pytest.approx(0.00311)
    # T0 sent as a string is still MET.
    assert old.meta["t0_met"] == T0


def test_json_from_text_and_utcf():
    text = (DATA / "lc_getLCData.json").read_text()
    plain = read_lightcurve_json(text)
    corrected = read_lightcurve_json(text, utcf=-25 * u.s)
    # The given UTCF holds at T0; each bin adds the clock table's change since T0.
    met = np.asarray(corrected["PC"]["met"], dtype=float)
    carried = -25 + clock_utcf(met) - clock_utcf(T0)
    dt = (corrected["PC"]["time"] - met_to_time(met, utcf=carried)).to_value(u.s)
    np.testing.assert_allclose(dt, 0, atol=1e-6)
    assert (corrected.meta["t0"] - met_to_time(T0, utcf=-25)).to_value(u.s) == pytest.approx(0, abs=1e-6)
    assert corrected.meta["time_source"] == "utcf" and corrected.meta["utcf"] == -25
    assert plain.meta["time_source"] == "clock table"
    assert plain.meta["utcf"] == pytest.approx(clock_utcf(T0), abs=1e-6)
    assert 0 * u.s < plain.meta["time_error"] < 0.1 * u.s


def test_json_mjd_axis():
    lc = read_lightcurve_json(load_json("lc_getLCData_mjd.json"))
    pc = lc["PC"]
    assert lc.meta["time_format"] == "MJD" and lc.meta["t0"] is None
    assert pc["time"].scale == "utc" and pc["time"].mjd[0] == 58955.5
    assert "t_since_t0" not in pc.colnames
    # Half-widths in days become seconds.
    assert pc["time_err_pos"][0] == pytest.approx(864.0) and pc["time_err_pos"].unit == u.s
    assert pc["time_err_neg"][0] == pytest.approx(432.0)


@pytest.mark.parametrize("payload, match", [
    ([1, 2], "expected the getLCData answer"),
    ("{not json", "not valid JSON"),
    ({"Datasets": ["PC"]}, "PCData: missing"),
    ({"Datasets": "PC"}, "expected a list"),
    ({"Datasets": ["PC"], "PCData": {"columns": ["Time", "Rate"], "data": [[1, 2, 3]]}}, "row 0 has 3"),
    ({"Datasets": ["PC"], "PCData": {"columns": ["Time", "Rate"], "data": [[1, "x"]]}}, "'x' is not"),
    ({"Datasets": ["XX"], "XXData": {"columns": ["Time"], "data": [[1]]}}, "not a light-curve dataset"),
    ({"Datasets": ["PC"], "PCData": {"columns": ["Rate"], "data": [[1]]}}, "no time column"),
])
def test_json_malformed(payload, match):
    with pytest.raises(ReaderError, match=match):
        read_lightcurve_json(payload)


def test_parse_dataset_name():
    expected = {"name": "PCUL_incbad", "mode": "PC", "kind": "ul", "nosys": False, "incbad": True}
    assert parse_dataset_name("PCUL_incbad") == expected
    assert parse_dataset_name("wthard")["name"] == "WTHard"
    assert parse_dataset_name("WTSLEW")["mode"] == "WTSLEW"


# ----------------------------------------------------------------- QDP files

def test_qdp_curve_matches_json(lc_json):
    lc = read_lightcurve_qdp(DATA / "lc_curve.qdp")
    assert lc.datasets == ["WT", "PC", "PCUL"]
    # T0 and BINMODE come from the header block.
    assert lc.meta["t0_met"] == T0 and lc.meta["binning"] == "counts"
    pc = lc["PC"]
    check_units(pc)
    for name in ("t_since_t0", "time_err_pos", "time_err_neg", "rate", "rate_err_pos", "rate_err_neg"):
        np.testing.assert_allclose(pc[name], lc_json["PC"][name])
    assert abs((pc["time"] - lc_json["PC"]["time"]).to_value(u.s)).max() < 1e-6
    assert lc["PCUL"]["upper_limit"].all() and not pc["upper_limit"].any()


def test_qdp_per_mode_files():
    pc = read_lightcurve_qdp(DATA / "lc_PCCURVE.qdp", t0=T0, dataset="PC")["PC"]
    assert pc.colnames == RATE_COLUMNS
    check_units(pc)
    assert pc["counts"][0] == 21 and pc["exposure"][2] == 4300.6
    wt = read_lightcurve_qdp(DATA / "lc_WTCURVE.qdp", t0=T0, dataset="WT")["WT"]
    np.testing.assert_allclose(wt["sys_neg"], [0.999595, 0.999582])
    # GRB binning: 15 columns, no systematics.
    grb = read_lightcurve_qdp(DATA / "lc_WTCURVE_grb.qdp", t0=T0, dataset="WT")["WT"]
    assert "sys_pos" not in grb.colnames and len(grb) == 2
    ul = read_lightcurve_qdp(DATA / "lc_PCUL.qdp", t0=Time(met_to_time(T0)), dataset="PCUL")["PCUL"]
    assert ul["upper_limit"].all() and np.isposinf(ul["snr"][0])
    assert ul["t_since_t0"][0] == pytest.approx(152340.2)


def test_qdp_per_mode_filename_from_content():
    text = (DATA / "lc_PCCURVE.qdp").read_bytes()
    lc = read_lightcurve_qdp(text, t0=T0, filename="PCCURVE_nosys_incbad.qdp")
    assert lc.datasets == ["PC_nosys_incbad"]
    meta = lc["PC_nosys_incbad"].meta
    assert meta["nosys"] and meta["incbad"] and meta["mode"] == "PC"


def test_qdp_hr_file_split():
    lc = read_lightcurve_qdp(DATA / "lc_PCHR.qdp", t0=T0, dataset="PCHR")
    assert lc.datasets == ["PCHard", "PCSoft", "PCHR"]
    hard, soft, hr = lc["PCHard"], lc["PCSoft"], lc["PCHR"]
    assert hard["rate"][0] == 0.0412 and hard["rate_err"][0] == 0.0101 and hard["sigma"][0] == 4.1
    assert soft["rate"][0] == 0.0903 and np.isnan(soft["sigma"][1])
    assert hr["hr"][0] == 0.456 and np.isposinf(hr["hr"][1]) and np.isnan(hr["hr_err"][1])
    assert hr["exposure"].unit == u.s and hard["rate"].unit == CT_S
    assert hr["time_err_neg"][0] == pytest.approx(790.3)


def test_qdp_hardrat():
    lc = read_lightcurve_qdp(DATA / "lc_hardrat.qdp")
    assert lc.datasets == ["PCHard", "PCSoft", "PCHR"]
    hr = lc["PCHR"]
    assert hr.colnames == ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "hr", "hr_err"]
    assert np.isneginf(hr["hr"][2]) and hr["time_err_pos"][0] == 801.2
    assert lc["PCSoft"]["rate"][0] == 0.0903


def test_qdp_obsid_mjd_bare_and_variants():
    obs = read_lightcurve_qdp(DATA / "lc_curve_obsid.qdp")["PC"]
    assert list(obs["obsid"]) == ["00010724002", "00010724003"]
    mjd = read_lightcurve_qdp(DATA / "lc_curve_mjd.qdp")["PC"]
    assert mjd["time"].mjd[1] == 58956.25 and mjd["time_err_neg"][0] == pytest.approx(432.0)
    bare = read_lightcurve_qdp(DATA / "lc_bare.qdp", t0=T0)
    assert bare.datasets == ["WT", "PC", "PCUL", "PC_incbad"]
    assert bare["PC_incbad"].meta["incbad"] and bare["PCUL"]["upper_limit"].all()
    # The file-name suffix applies to every dataset of a combined curve; the empty
    # WTSLEW section (no rows, no column line) gives no dataset.
    variants = read_lightcurve_qdp((DATA / "lc_curve_nosys_incbad.qdp").read_text(),
                                   filename="curve_nosys_incbad.qdp")
    assert variants.datasets == ["PC_nosys_incbad", "PCUL_nosys_incbad"]


def test_qdp_curve2_column_line_before_label():
    pc = read_lightcurve_qdp(DATA / "lc_curve2.qdp", t0=T0)["PC"]
    np.testing.assert_allclose(pc["bg_rate"], [0.00121, 0.00098, 0.00101])
    np.testing.assert_allclose(pc["frac_exp"], [1.0, 0.97, 0.88])


def test_qdp_unknown_t0_warns():
    with pytest.warns(XRTProductsWarning, match="T0 is unknown"):
        lc = read_lightcurve_qdp(DATA / "lc_PCCURVE.qdp", dataset="PC")
    assert "time" not in lc["PC"].colnames
    assert lc["PC"]["t_since_t0"].unit == u.s
    with pytest.raises(ReaderError, match="T0 unknown"):
        lc.to_timeseries("PC")


def test_qdp_errors():
    with pytest.raises(ReaderError, match="labelled 'mystery', which names no light-curve dataset"):
        read_lightcurve_qdp("READ TERR 1\n! mystery\n1 1 -1 2\n", kind="rate")
    with pytest.raises(ReaderError, match="not a light-curve dataset"):
        read_lightcurve_qdp(DATA / "lc_PCCURVE.qdp", t0=T0, dataset="XY")


def test_read_lightcurve_files(tmp_path):
    lc_dir = tmp_path / "USERPROD_4321" / "lc"
    lc_dir.mkdir(parents=True)
    for src, dst in [("lc_PCCURVE.qdp", "PCCURVE.qdp"), ("lc_WTCURVE.qdp", "WTCURVE.qdp"),
                     ("lc_PCUL.qdp", "PCUL.qdp"), ("lc_PCHR.qdp", "PCHR.qdp"),
                     ("lc_PCCURVE.qdp", "PCCURVE_incbad.qdp"), ("lc_curve.qdp", "curve.qdp"),
                     ("lc_t0.date", "t0.date")]:
        shutil.copy(DATA / src, lc_dir / dst)
    lc = read_lightcurve_files(tmp_path / "USERPROD_4321")
    assert lc.meta["job_id"] == 4321 and lc.meta["t0_met"] == T0
    assert lc.datasets == ["WT", "PC", "PCUL", "PCHard", "PCSoft", "PCHR", "PC_incbad"]
    # The detailed file wins over curve.qdp: all 15 columns.
    assert "counts" in lc["PC"].colnames and lc["PC"]["counts"][0] == 21
    assert lc["PC"].meta["url"] == "PCCURVE.qdp" and lc["PC"].meta["job_id"] == 4321
    with pytest.raises(ReaderError, match="no light-curve QDP files"):
        read_lightcurve_files(tmp_path)
    with pytest.raises(ReaderError, match="not a folder"):
        read_lightcurve_files(tmp_path / "nope")


# --------------------------------------------------------- derived products

def test_combined(lc_json):
    comb = lc_json.combined()
    assert len(comb) == 2 + 3 + 1
    assert list(comb["mode"]) == ["WT", "WT", "PC", "PC", "PC", "PC"]
    assert list(comb["upper_limit"]) == [False] * 5 + [True]
    assert np.all(np.diff(comb["time"].mjd) > 0)
    assert comb["rate"].unit == CT_S and "obsid" not in comb.colnames
    assert list(lc_json.combined(modes="PC")["dataset"]) == ["PC", "PC", "PC", "PCUL"]
    assert len(lc_json.combined("hr")) == 1
    assert len(lc_json.combined(nosys=True, incbad=True)) == 2
    assert len(lc_json.combined("soft", modes=["PC"])) == 0
    assert len(lc_json.combined("flux")) == 0    # a count-rate curve has no flux datasets
    with pytest.raises(ValueError, match="kind"):
        lc_json.combined("fluence")


def test_timeseries(lc_json):
    # The positional dataset still selects one dataset, now as a BinnedTimeSeries (issue 14).
    ts = lc_json.to_timeseries("PC")
    assert isinstance(ts, BinnedTimeSeries)
    assert len(ts) == 3 and ts["rate"].unit == CT_S
    assert ts.meta["dataset"] == "PC"
    assert abs((ts["time_reported"] - lc_json["PC"]["time"]).to_value(u.s)).max() < 1e-6


def test_binned_timeseries(lc_json):
    pc = lc_json["PC"]
    bts = lc_json.to_binned_timeseries("PC")
    assert isinstance(bts, BinnedTimeSeries)
    start = (bts.time_bin_start - pc["time"]).to_value(u.s)
    np.testing.assert_allclose(start, -np.asarray(pc["time_err_neg"]), atol=1e-5)
    np.testing.assert_allclose(bts.time_bin_size.to_value(u.s), [600.67, 800.7, 4300.6], atol=1e-5)
    assert abs((bts["time_reported"] - pc["time"]).to_value(u.s)).max() < 1e-6


def test_lightcurve_is_a_mapping(lc_json):
    assert len(lc_json) == 9 and "PC" in lc_json
    assert all(isinstance(t, Table) for t in lc_json.values())
    empty = LightCurve({})
    assert "no datasets" in repr(empty) and len(empty.combined()) == 0


def test_datasets_sharing_a_time_axis_own_their_columns():
    # WT, WTHard, WTSoft and WTHR share their times (converted once): each table still has its
    # own Time column and display formats, so changing one leaves the others alone.
    times = [[100.5, 1.5, -1.5], [104.25, 2.25, -2.25]]
    answer = {"Datasets": ["WT", "WTHard", "WTHR"], "T0": T0, "WTData": {
        "columns": ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg"],
        "data": [t + [2.5, 0.5, -0.5] for t in times]},
        "WTHardData": {"columns": ["Time", "TimePos", "TimeNeg", "HardRate", "HardRateErr"],
                       "data": [t + [1.25, 0.25] for t in times]},
        "WTHRData": {"columns": ["Time", "TimePos", "TimeNeg", "HR", "HRErr"],
                     "data": [t + [0.5, 0.125] for t in times]}}
    lc = read_lightcurve_json(answer)
    rate, hard, hr = lc["WT"], lc["WTHard"], lc["WTHR"]
    np.testing.assert_array_equal(rate["time"].mjd, hard["time"].mjd)
    assert rate["time"] is not hard["time"] and rate["time"].format == hard["time"].format == "isot"
    for other in (hard, hr):
        assert not np.may_share_memory(rate["time"].jd2, other["time"].jd2)
    assert hr["time"].info.name == "time" and hr["time"].info.parent_table is hr
    assert rate["met"].info.format == hard["met"].info.format is not None
    rate["met"].info.format = "{:.1f}"
    assert hard["met"].info.format != "{:.1f}"


def test_json_values_with_none_and_no_are_masked_others_exact():
    # The one-cast conversion of JSON numbers must keep None and "NO" masked.
    answer = {"Datasets": ["PC"], "T0": T0, "PCData": {
        "columns": ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp"],
        "data": [[1.5, 1, -1, 0.25, 0.1, -0.1, None], [3.5, 1, -1, "0.5", 0.1, -0.1, "NO"],
                 [5.5, 1, -1, 1e-3, 0.1, -0.1, 0.75]]}}
    table = read_lightcurve_json(answer)["PC"]
    assert list(table["frac_exp"].mask) == [True, True, False] and table["frac_exp"][2] == 0.75
    np.testing.assert_array_equal(np.asarray(table["rate"]), [0.25, 0.5, 1e-3])
    assert table["rate"].dtype == np.float64
