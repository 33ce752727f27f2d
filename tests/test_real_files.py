# Licensed under a 3-clause BSD style license - see LICENSE
"""The readers on real UKSSDC files (tests/data/real, provenance in its README.md).

Row counts are checked against a plain whitespace split of each file written
here, independent of the reader, so that a reader bug cannot hide behind
the expected numbers.
"""
import json
import math
import pathlib
import shutil
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time

from xrtprods_astro.exceptions import ReaderError, XRTProductsWarning
from xrtprods_astro.readers.lightcurve import (read_lightcurve_files, read_lightcurve_json,
                                               read_lightcurve_qdp)
from xrtprods_astro.readers.burst import read_burst_analyser
from xrtprods_astro.readers.qdp import read_qdp
from xrtprods_astro.readers.spectrum import read_fit_file

REAL = pathlib.Path(__file__).parent / "data" / "real"
COW = REAL / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc"
GRBS = REAL / "jracusin__GRBfits" / "GRBs"
FLUX = REAL / "annayqho__AT2022tsd" / "data" / "xray" / "data_xray_lcs" / "GRBs" / "sample"
LATE = REAL / "arnaudsomville__gamma_burst" / "spec" / "late_time_extracted"
CT_S = u.ct / u.s
FLUX_UNIT = u.erg / (u.cm ** 2 * u.s)

# Every real QDP file and the datasets its sections are, in file order. A
# per-mode hardness-ratio file has one section that gives three datasets.
EXPECTED = {
    "jracusin__GRBfits/GRBs/GRB060403/curve.qdp": ["WTSLEW", "WT", "PC", "PCUL"],
    "jracusin__GRBfits/GRBs/GRB060403/PCCURVE.qdp": ["PC"],
    "jracusin__GRBfits/GRBs/GRB060403/PCUL.qdp": ["PCUL"],
    "jracusin__GRBfits/GRBs/GRB060403/WTCURVE.qdp": ["WT"],
    "jracusin__GRBfits/GRBs/GRB081028A/curve.qdp": ["WT", "PC"],
    "jracusin__GRBfits/GRBs/GRB081028A/WTCURVE.qdp": ["WT"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/PC.qdp": ["PC", "PCUL"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/PCCURVE.qdp": ["PC"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/PCUL.qdp": ["PCUL"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/PCHR.qdp": [("PCHard", "PCSoft", "PCHR")],
    "annayqho__AT2018cow/data/SwiftXRT/lc/PCHRNOSYS.qdp": [("PCHard_nosys", "PCSoft_nosys", "PCHR_nosys")],
    "annayqho__AT2018cow/data/SwiftXRT/lc/curve.qdp": ["PC", "PCUL"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/curve2.qdp": ["PC", "PCUL"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/curve_plot.qdp": ["PC", "PCUL"],
    "annayqho__AT2018cow/data/SwiftXRT/lc/hardrat.qdp": ["PCHard", "PCSoft", "PCHR"],
    "annayqho__AT2022tsd/data/xray/data_xray_lcs/GRBs/sample/GRB060729_lc/flux.qdp": ["WT", "PC", "PCUL"],
    "annayqho__AT2022tsd/data/xray/data_xray_lcs/GRBs/sample/GRB111209A_lc/flux.qdp":
        ["WTSLEW", "WT", "PC_incbad"],
}


# T0 (MET) of the folders whose per-mode files have no header, from their curve.qdp.
FOLDER_T0 = {"GRB060403": 165762738.2, "GRB081028A": 246846304.0, "lc": 551097137.0}


def split_sections(path):
    """Rows and columns per section from a plain whitespace split (not the reader).

    A section ends at a line made only of ``NO`` tokens; ``!`` comments,
    ``READ`` commands and blank lines are not rows.
    """
    sections, rows, width = [], 0, None
    with open(path, "rb") as fh:
        for raw in fh.read().decode("latin-1").splitlines():
            tokens = raw.split()
            if not tokens or tokens[0].startswith("!") or tokens[0].upper() == "READ":
                continue
            if all(t == "NO" for t in tokens):
                if rows:
                    sections.append((rows, width))
                rows, width = 0, None
                continue
            assert width in (None, len(tokens)), f"{path}: ragged rows"
            rows, width = rows + 1, len(tokens)
    if rows:
        sections.append((rows, width))
    return sections


def non_finite_tokens(path):
    return sum(t.lower().lstrip("+-") in ("nan", "inf") for t in path.read_bytes().decode().split())


def test_every_real_qdp_file_is_listed():
    assert sorted(str(p.relative_to(REAL)) for p in REAL.rglob("*.qdp")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rows_per_section_match_a_plain_split(name):
    path = REAL / name
    counts = split_sections(path)
    # Files without a T0 header line are read with the T0 of their folder.
    t0 = None if "T0 for this burst" in path.read_text() else FOLDER_T0.get(path.parent.name, 551097137.0)
    # PC.qdp and curve_plot.qdp have neither column names nor a header: only kind= says what they hold.
    kind = "rate" if path.name in ("PC.qdp", "curve_plot.qdp") else None
    lc = read_lightcurve_qdp(path, t0=t0, kind=kind)
    expected = EXPECTED[name]
    assert len(counts) == len(expected)
    got = {}
    for (rows, _), names in zip(counts, expected):
        for dataset in (names if isinstance(names, tuple) else (names,)):
            got[dataset] = rows
    assert {ds: len(t) for ds, t in lc.items()} == got
    for dataset, table in lc.items():
        # Upper limits flagged, every physical column with its unit.
        if "upper_limit" in table.colnames:
            flags = np.asarray(table["upper_limit"])
            assert flags.all() == ("UL" in dataset) and flags.any() == ("UL" in dataset)
        for column in ("time_err_pos", "time_err_neg", "t_since_t0", "met", "exposure"):
            if column in table.colnames:
                assert table[column].unit == u.s, (dataset, column)
        value_unit = FLUX_UNIT if "flux" in name else CT_S
        for column in ("rate", "rate_err_pos", "rate_err_neg", "rate_err", "flux", "flux_err_pos",
                       "flux_err_neg", "bg_rate", "bg_rate_err"):
            if column in table.colnames:
                assert table[column].unit == value_unit, (dataset, column)
        assert (np.asarray(table["time_err_neg"]) >= 0).all()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inf_and_nan_tokens_are_kept(name):
    path = REAL / name
    qdp = read_qdp(path)
    kept = sum(int((~np.isfinite(np.asarray(s.table[c], dtype=float))).sum())
               for s in qdp for c in s.table.colnames)
    assert kept == non_finite_tokens(path)


def test_header_t0_with_ukssdc_utc():
    lc = read_lightcurve_qdp(GRBS / "GRB060403" / "curve.qdp")
    assert lc.meta["t0_met"] == 165762738.2
    assert lc.meta["t0"].isot == "2006-04-03T13:12:17.130"
    assert lc.meta["time_source"] == "header" and lc.meta["time_error"] == 1 * u.ms
    assert lc.meta["binning"] == "GRB-like (counts)"
    wt = lc["WT"]
    # The bin times follow from UKSSDC's T0 with its clock correction.
    expected = lc.meta["t0"] + wt["t_since_t0"][0] * u.s
    assert abs((wt["time"][0] - expected).to_value(u.s)) < 1e-3
    assert wt.meta["time_source"] == "header"


def test_t0_given_as_the_header_met_keeps_the_header_utc():
    lc = read_lightcurve_qdp(GRBS / "GRB081028A" / "curve.qdp", t0=246846304.0)
    assert lc.meta["t0"].isot == "2008-10-28T00:25:00.791" and lc.meta["time_source"] == "header"


def test_hardness_ratio_header_without_seconds():
    lc = read_lightcurve_qdp(COW / "hardrat.qdp")
    assert lc.meta["t0_met"] == 551097137.0
    assert lc.meta["t0"].isot == "2018-06-19T10:31:55.845"
    assert lc.datasets == ["PCHard", "PCSoft", "PCHR"]
    assert lc["PCHR"].colnames[:6] == ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "hr"]
    assert lc["PCHard"]["rate_err"].unit == CT_S


def test_at2018cow_folder_t0_is_ukssdc_utc():
    lc = read_lightcurve_files(COW)
    assert lc.meta["t0"].isot == "2018-06-19T10:31:55.845"
    assert lc.meta["t0"].scale == "utc"
    assert lc.meta["time_source"] == "t0.date"
    assert lc.meta["utcf"] == pytest.approx(-21.155, abs=1e-5)
    assert lc.meta["binning"] == "TIME"
    # t0.date line 3 is the same instant as an MJD.
    assert lc.meta["t0"].mjd == pytest.approx(58288.4388407986116, abs=1e-9)
    pc = lc["PC"]
    assert abs((pc["time"][0] - Time("2018-06-19T10:31:55.845") - 211.718 * u.s).to_value(u.s)) < 1e-3
    assert {"PC", "PCUL", "PCHard", "PCSoft", "PCHR", "PCHard_nosys", "PCSoft_nosys",
            "PCHR_nosys"} <= set(lc.datasets)
    # The detailed files win: PCCURVE's 15 columns, not curve.qdp's 6.
    assert "counts" in pc.colnames and pc["counts"].unit == u.ct
    assert np.isinf(lc["PCUL"]["snr"]).all()


def test_grb_folder_without_t0_date_takes_t0_from_the_curve_header():
    lc = read_lightcurve_files(GRBS / "GRB060403")
    assert lc.meta["t0"].isot == "2006-04-03T13:12:17.130" and lc.meta["time_source"] == "header"
    assert lc.datasets == ["WTSLEW", "WT", "PC", "PCUL"]
    wt = lc["WT"]
    # WT from the 17-column WTCURVE.qdp with its SYS_NEG / SYS_POS; WTSLEW from curve.qdp. The real
    # SYS columns are numbers near 1 whatever the rate: kept as written, with no unit (not ct / s).
    assert "counts" in wt.colnames and wt.colnames[-2:] == ["sys_neg", "sys_pos"]
    assert wt["sys_neg"].unit is None and wt["sys_pos"].unit is None
    assert wt["sys_neg"][0] == 0.999595 and wt["sys_pos"][0] == 1.000362
    assert 0.9995 < wt["sys_neg"].min() and wt["sys_pos"].max() < 1.0005
    assert "counts" not in lc["WTSLEW"].colnames
    assert abs((wt["time"][0] - lc.meta["t0"] - 53.575 * u.s).to_value(u.s)) < 1e-3


def test_layout_named_columns_without_a_column_line():
    for name in ("PC.qdp", "curve_plot.qdp"):
        lc = read_lightcurve_qdp(COW / name, t0=551097137.0, kind="rate")
        pc = lc["PC"]
        assert pc.colnames[:8] == ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "rate",
                                   "rate_err_pos", "rate_err_neg"]
        assert pc["rate"].unit == CT_S and pc["time_err_neg"].quantity[0] == 50 * u.s
        assert lc["PCUL"]["upper_limit"].all()
    plain = read_lightcurve_qdp(COW / "PC.qdp", t0=551097137.0, kind="rate")
    curve = read_lightcurve_qdp(COW / "curve.qdp")
    for ds in ("PC", "PCUL"):
        np.testing.assert_allclose(plain[ds]["rate"], curve[ds]["rate"])


def test_flux_light_curve():
    lc = read_lightcurve_qdp(FLUX / "GRB060729_lc" / "flux.qdp")
    assert lc.meta["quantity"] == "flux" and lc.meta["binning"] == "GRB-like (counts)"
    wt = lc["WT"]
    assert wt.meta["kind"] == "flux" and lc["PCUL"].meta["kind"] == "ul"
    assert wt.colnames[5:9] == ["flux", "flux_err_pos", "flux_err_neg", "upper_limit"]
    for column in ("flux", "flux_err_pos", "flux_err_neg"):
        assert wt[column].unit == FLUX_UNIT
    # The file's Fluxneg is negative; like rate_err_neg it becomes a magnitude.
    assert wt["flux_err_neg"][0] == pytest.approx(6.1963368e-09)
    assert (wt["flux_err_neg"] > 0).all()
    assert lc["PCUL"]["upper_limit"].all() and lc["PCUL"]["flux"][0] == pytest.approx(1.474206e-14)
    both = lc.combined("flux")
    assert len(both) == sum(len(t) for t in lc.values()) and len(lc.combined()) == 0


def test_bare_flux_dialect():
    path = FLUX / "GRB111209A_lc" / "flux.qdp"
    assert not path.read_bytes().endswith(b"\n")
    with pytest.warns(XRTProductsWarning, match="T0 is unknown"):
        lc = read_lightcurve_qdp(path)
    assert lc.datasets == ["WTSLEW", "WT", "PC_incbad"]
    assert lc["PC_incbad"].meta["incbad"] and lc["PC_incbad"].meta["kind"] == "flux"
    # The first section has no column line: named from READ TERR 1 2.
    assert lc["WTSLEW"]["flux"].unit == FLUX_UNIT
    # The last row, without its newline, is read.
    assert lc["PC_incbad"]["t_since_t0"].quantity[-1] == 1982351.018 * u.s
    assert lc["PC_incbad"]["flux_err_neg"][-1] == pytest.approx(8.01459414e-15)


def test_nosys_spellings_in_the_folder_and_by_name(tmp_path):
    lc = read_lightcurve_qdp(COW / "PCHRNOSYS.qdp", t0=551097137.0)
    assert lc.datasets == ["PCHard_nosys", "PCSoft_nosys", "PCHR_nosys"]
    assert all(t.meta["nosys"] for t in lc.values())
    text = (COW / "PC.qdp").read_text()
    assert read_lightcurve_qdp(text, filename="PCNOSYS.qdp", t0=0.0, kind="rate").datasets == \
        ["PC_nosys", "PCUL_nosys"]
    curve = (COW / "curve.qdp").read_text()
    assert read_lightcurve_qdp(curve, filename="curve_nosys.qdp").datasets == ["PC_nosys", "PCUL_nosys"]
    curve2 = (COW / "curve2.qdp").read_text()
    assert read_lightcurve_qdp(curve2, filename="curve2_nosys.qdp").datasets == ["PC_nosys", "PCUL_nosys"]
    hardrat = (COW / "hardrat.qdp").read_text()
    assert read_lightcurve_qdp(hardrat, filename="hardrat_nosys_plot.qdp").datasets == \
        ["PCHard_nosys", "PCSoft_nosys", "PCHR_nosys"]
    # read_lightcurve_files finds the upper-case spelling alone.
    folder = tmp_path / "lc"
    folder.mkdir()
    shutil.copy(COW / "PCHRNOSYS.qdp", folder)
    shutil.copy(COW / "t0.date", folder)
    assert read_lightcurve_files(folder).datasets == ["PCHard_nosys", "PCSoft_nosys", "PCHR_nosys"]


def test_curve_cut_after_its_header_is_an_error():
    text = (GRBS / "GRB060403" / "curve.qdp").read_text()
    head = text[:text.index("! WTSLEW data")]
    for cut in (head, head[:head.index("READ")]):
        with pytest.raises(ReaderError, match="no data section after the header"):
            read_lightcurve_qdp(cut, filename="curve.qdp")


# --- swifttools DataFrame dumps -------------------------------------------------------------------

SWIFTTOOLS = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp", "BGrate", "BGerr",
              "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]


def _dump(orient="columns"):
    """A pandas DataFrame.to_json() of getLightCurves' PC dataset, from the real PCCURVE.qdp."""
    rows = [line.split() for line in (COW / "PCCURVE.qdp").read_text().splitlines()[3:8]]
    values = [[float(v) for v in row] for row in rows]
    if orient == "columns":
        return {c: {str(i): row[j] for i, row in enumerate(values)} for j, c in enumerate(SWIFTTOOLS)}
    if orient == "split":
        return {"columns": SWIFTTOOLS, "index": list(range(len(values))), "data": values}
    return [dict(zip(SWIFTTOOLS, row)) for row in values]


@pytest.mark.parametrize("orient", ["columns", "split", "records"])
def test_swifttools_dataframe_dump(orient):
    text = json.dumps(_dump(orient))
    lc = read_lightcurve_json(text, dataset="PC", t0=551097137.0)
    pc = lc["PC"]
    detailed = read_lightcurve_qdp(COW / "PCCURVE.qdp", t0=551097137.0)["PC"][:5]
    assert pc.colnames == detailed.colnames
    for column in ("t_since_t0", "time_err_neg", "rate", "rate_err_neg", "counts", "snr"):
        np.testing.assert_allclose(pc[column], detailed[column])
        assert pc[column].unit == detailed[column].unit


def test_swifttools_light_curve_dict_saved_as_json():
    # getLightCurves' dict: Datasets, T0, Binning and one DataFrame per dataset.
    saved = {"Datasets": ["PC"], "T0": 551097137.0, "Binning": "Time", "TimeFormat": "MET", "PC": _dump()}
    lc = read_lightcurve_json(json.dumps(saved))
    assert lc.datasets == ["PC"] and len(lc["PC"]) == 5 and lc["PC"]["rate"].unit == CT_S
    assert lc.meta["t0_met"] == 551097137.0 and lc.meta["binning"] == "Time"


def test_swifttools_dump_without_dataset_warns():
    with pytest.warns(XRTProductsWarning, match="dataset="):
        lc = read_lightcurve_json(_dump(), t0=551097137.0)
    assert lc.datasets == ["PC"]


@pytest.mark.parametrize("data", [{"RA": 1.0, "Dec": 2.0}, {"GotPos": True}, [1, 2, 3], {"a": {"0": 1}}, {}])
def test_json_that_is_not_a_light_curve(data):
    with pytest.raises(ReaderError, match="expected the getLCData answer"):
        read_lightcurve_json(data)


# --- fit summaries ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [GRBS / "GRB170705A" / "interval0pc_fit.fit",
                                  GRBS / "GRB170705A" / "interval0wt_fit.fit",
                                  GRBS / "GRB170705A" / "late_timepc_fit.fit",
                                  LATE / "late_timepc_fit.fit"])
def test_frozen_fit_parameters(path):
    fit = read_fit_file(path)
    for name in ("galactic_nh", "z_abs"):
        value = fit[name]
        assert value.frozen
        assert np.ma.getmask(value.err_pos).all() and np.ma.getmask(value.lo).all()
        assert np.ma.getmask(value.err_neg).all() and np.ma.getmask(value.hi).all()
    assert fit["galactic_nh"].value.unit == u.cm ** -2 and fit["galactic_nh"].value.value > 1e19
    gamma = fit["gamma"]
    assert not gamma.frozen and 0 < gamma.err_pos.value < 0.2 and 0 < gamma.err_neg.value < 0.2
    assert fit["obs_flux"].value.unit == FLUX_UNIT and fit["dof"] > 500


def test_fit_summary_with_fitchi_and_empty_fit():
    fit = read_fit_file(LATE / "late_timepc_fit.fit")
    assert fit["fit_chi"] == pytest.approx(673.9661886) and fit["ontime"] == 42772.0306998491 * u.s
    empty = GRBS / "GRB170629A" / "interval0wt_fit.fit"
    assert empty.stat().st_size == 0
    assert read_fit_file(empty) is None


# --- layouts the spec describes but the sample lacks ---------------------------------------------

def test_bare_dialect_pcul_and_spaces():
    text = ("READ TERR 1 2\n! WT\n!Time       T_+ve       T_-ve       Rate        Ratepos     Rateneg\n"
            "100.5\t1.5\t-1.5\t12.0\t1.0\t-1.0\n"
            "NO NO NO NO NO NO\n! PC\n5000 100 -100 0.5 0.1 -0.1\n"
            "NO NO NO NO NO NO\n! PCUL\n9000 200 -200 0.02 0 0")
    lc = read_lightcurve_qdp(text, t0=551097137.0)
    assert lc.datasets == ["WT", "PC", "PCUL"]
    assert lc["PCUL"]["upper_limit"].all() and lc["PCUL"]["rate"].quantity[0] == 0.02 * CT_S


@pytest.mark.parametrize("label", ["PC upper limits", "PC Upper limit", "Upper limit", "PCUL"])
def test_upper_limit_labels_and_five_no_separator(label):
    text = (" ! T0 for this burst is Swift MET=551097137.0 s, = 2018 Jun 19 at 10:31:55.845 UT\n\n"
            "READ TERR 1 2\n! PC data\n!Time\tT_+ve\tT_-ve\tRate\tRatepos\tRateneg\n"
            "211.7\t50\t-50\t0.84\t0.13\t-0.13\nNO\tNO\tNO\tNO\tNO\n"
            f"! {label}\n178511.7\t50\t-50\t1.86\t0\t0\n")
    lc = read_lightcurve_qdp(text, filename="curve.qdp")
    assert lc.datasets == ["PC", "PCUL"] and lc["PCUL"]["upper_limit"][0]


def test_mjd_axis_with_half_widths_in_days():
    text = ("READ TERR 1 2\n! PC data\n!MJD\tT_+ve\tT_-ve\tRate\tRatepos\tRateneg\n"
            "58288.5\t0.001\t-0.001\t0.5\t0.1\t-0.1\n")
    pc = read_lightcurve_qdp(text)["PC"]
    assert pc["time"].scale == "utc" and pc["time"][0].mjd == 58288.5
    assert pc["time_err_pos"].quantity[0].to_value(u.s) == pytest.approx(86.4)
    assert pc.meta["time_source"] == "mjd"


def test_obsid_column_and_symmetric_time_errors():
    text = ("READ SERR 1 2\n! PC data\n"
            "1000\t500\t0.5\t0.1\t::ObsID=00010724002\n2000\t400\t0.4\t0.1\t::ObsID=00010724003\n")
    pc = read_lightcurve_qdp(text, t0=551097137.0, kind="rate")["PC"]
    assert list(pc["time_err_pos"].value) == [500, 400] and list(pc["time_err_neg"].value) == [500, 400]
    assert pc["rate_err"].unit == CT_S and list(pc["obsid"]) == ["00010724002", "00010724003"]


def test_burst_analyser_labels():
    # A burst-analyser file is read by read_burst_analyser: every section is a dataset named by its
    # label. The light-curve reader used to drop the BAT section and call the XRT one PC_nosys.
    text = ("READ TERR 1 2\n! batSNR4flux\n1 0.5 -0.5 1e-8 1e-9 -1e-9\nNO NO NO NO NO NO\n"
            "! xrtpcflux_nosys\n5000 100 -100 1e-11 1e-12 -1e-12\n")
    with pytest.raises(ReaderError, match="flux.qdp: a burst-analyser file.*read_burst_analyser"):
        read_lightcurve_qdp(text, filename="flux.qdp", t0=551097137.0)
    lc = read_burst_analyser(text, t0=551097137.0, utcf=-20.0)
    assert lc.datasets == ["batSNR4flux", "xrtpcflux_nosys"] and lc.meta["product"] == "burst_analyser"
    assert lc["xrtpcflux_nosys"]["flux"].unit == FLUX_UNIT and lc["xrtpcflux_nosys"].meta["mode"] == "PC"
    assert lc["batSNR4flux"]["flux"].unit == FLUX_UNIT and lc["batSNR4flux"].meta["instrument"] == "BAT"


def test_empty_section_then_data():
    text = ("READ TERR 1 2\n! WT data\n\nNO NO NO NO NO\n! PC data\n"
            "!Time\tT_+ve\tT_-ve\tRate\tRatepos\tRateneg\n5000\t100\t-100\t0.5\t0.1\t-0.1\n")
    assert read_lightcurve_qdp(text, t0=551097137.0).datasets == ["PC"]


def test_impossible_met_is_a_reader_error_not_erfa():
    bad_t0 = " ! T0 for this burst is Swift MET=99999999999999.0 s\nREAD TERR 1 2\n! PC data\n1 1 -1 1 1 -1\n"
    with pytest.raises(ReaderError, match="not a Swift MET"):
        read_lightcurve_qdp(bad_t0, kind="rate")
    far_bins = "READ TERR 1 2\n! PC data\n1e15 1 -1 1 1 -1\n"
    with pytest.raises(ReaderError, match="not a Swift MET"):
        read_lightcurve_qdp(far_bins, t0=551097137.0, kind="rate")


def test_header_date_that_contradicts_the_met_is_not_trusted():
    text = (" ! T0 for this burst is Swift MET=551097137.0 s, = 2019 Jun 19 at 10:31:55.845 UT\n"
            "READ TERR 1 2\n! PC data\n1 1 -1 1 1 -1\n")
    lc = read_lightcurve_qdp(text, kind="rate")
    # The wrong date is not used; the bundled clock table (which knows this T0) is.
    assert lc.meta["time_source"] == "clock table" and lc.meta["t0"].isot == "2018-06-19T10:31:55.845"
    assert lc.meta["time_error"] <= 0.001 * u.s


def test_plain_split_helper_counts():
    # The helper itself, on a file whose layout is known line by line.
    assert split_sections(GRBS / "GRB060403" / "curve.qdp") == [(4, 6), (28, 6), (4, 6), (1, 6)]
    assert math.isclose(sum(r for r, _ in split_sections(COW / "hardrat.qdp")), 3 * 145)


def test_header_quirks_empty_binmode_stray_characters():
    text = (' ! Swift/XRT lightcurve of trigger: 1104, name: GRB 220101A\n'
            ' ! T0 for this burst is Swift MET=662688000.0 s, = 2022 Jan 01 at 00:00:00.000 UT\n'
            ' ! The data are in 5 columns:  ! time, time error (+ve)";\n'
            ' ! BINMODE: \n\nREAD TERR 1 2\n! WT data\n!Time\tT_+ve\tT_-ve\tRate\tRatepos\tRateneg\n'
            '100\t1\t-1\t5\t0.5\t-0.5\nNO\tNO\tNO\tNO\tNO\n! PC upper limits\n9000\t100\t-100\t0.01\t0\t0')
    lc = read_lightcurve_qdp(text, filename="curve.qdp")
    assert lc.meta["binning"] is None and lc.meta["time_source"] == "header"
    assert lc.datasets == ["WT", "PCUL"] and lc["WT"]["time"][0].isot == "2022-01-01T00:01:40.000"


def test_json_t0_out_of_range_is_a_reader_error():
    answer = {"Datasets": ["PC"], "T0": 1e16, "PCData": {"columns": ["Time", "Rate"], "data": [[1, 2]]}}
    with pytest.raises(ReaderError, match="not a Swift MET"):
        read_lightcurve_json(answer)


def test_mjd_json_without_t0_says_mjd():
    answer = {"Datasets": ["PC"], "TimeFormat": "MJD",
              "PCData": {"columns": ["Time", "TimePos", "TimeNeg", "Rate"],
                         "data": [[58288.5, 0.01, -0.01, 2]]}}
    lc = read_lightcurve_json(answer)
    assert lc.meta["time_source"] == "mjd" and lc["PC"].meta["time_source"] == "mjd"
    assert lc["PC"]["time_err_neg"].quantity[0] == 864 * u.s


# -- issue 19 item 4: flux is never counts; the content decides, kind= overrides ---------------

@pytest.mark.parametrize("grb", ["GRB060729_lc", "GRB111209A_lc"])
def test_renamed_flux_files_are_fluxes(grb, tmp_path):
    renamed = tmp_path / "lc.qdp"
    shutil.copy(FLUX / grb / "flux.qdp", renamed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XRTProductsWarning)    # GRB111209A has no T0
        lc = read_lightcurve_qdp(renamed)
    assert lc.meta["quantity"] == "flux" and lc.meta["quantity_source"] == "columns"
    for table in lc.values():
        assert table["flux"].unit == FLUX_UNIT and "rate" not in table.colnames
        assert np.median(table["flux"]) < 1e-6


def test_count_rates_saved_as_flux_qdp_stay_count_rates(tmp_path):
    # The old reader believed the name: a curve.qdp saved as flux.qdp came back in erg/cm2/s.
    path = tmp_path / "flux.qdp"
    shutil.copy(GRBS / "GRB060403" / "curve.qdp", path)
    lc = read_lightcurve_qdp(path)
    assert lc.meta["quantity"] == "rate" and lc["PC"]["rate"].unit == CT_S
    assert all("flux" not in t.colnames for t in lc.values())


def test_flux_file_without_column_lines_is_read_from_its_values_with_a_warning(tmp_path):
    # GRB111209A's flux.qdp has one column line; without it nothing but the values says flux.
    text = (FLUX / "GRB111209A_lc" / "flux.qdp").read_text()
    stripped = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("!Time"))
    assert "!Time" in text and "Flux" not in stripped
    with pytest.warns(XRTProductsWarning) as record:
        lc = read_lightcurve_qdp(stripped)
    assert any("read as flux" in str(w.message) and "kind=" in str(w.message) for w in record)
    assert lc.meta["quantity_source"] == "values" and lc["WT"]["flux"].unit == FLUX_UNIT
    # kind= overrides, silently.
    with pytest.warns(XRTProductsWarning, match="T0 is unknown"):
        assert read_lightcurve_qdp(stripped, kind="flux").meta["quantity_source"] == "kind"


def test_file_that_says_nothing_is_read_from_its_values_and_refused_when_they_do_not_tell():
    with pytest.warns(XRTProductsWarning, match=r"PC\.qdp: .*read as rate .*kind="):
        lc = read_lightcurve_qdp(COW / "PC.qdp", t0=551097137.0)
    assert lc["PC"]["rate"].unit == CT_S
    # Values between count rates (>1e-4) and fluxes (<1e-6): refused, naming kind=.
    text = "READ TERR 1 2\n! PC data\n100 5 -5 3e-5 1e-6 -1e-6\n"
    with pytest.raises(ReaderError, match=r"kind='rate' or kind='flux'"):
        read_lightcurve_qdp(text, t0=551097137.0)
    assert read_lightcurve_qdp(text, t0=551097137.0, kind="flux")["PC"]["flux"].unit == FLUX_UNIT
    with pytest.raises(ReaderError, match="kind: 'counts'"):
        read_lightcurve_qdp(text, kind="counts")
    with pytest.raises(ReaderError, match="kind: 'density' is not 'rate' or 'flux'"):
        read_lightcurve_qdp(text, kind="density")


def test_folder_files_without_names_take_the_folder_s_quantity(tmp_path):
    folder = tmp_path / "lc"
    folder.mkdir()
    for name in ("PC.qdp", "curve.qdp", "t0.date"):
        shutil.copy(COW / name, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # curve.qdp's Rate columns speak for PC.qdp
        lc = read_lightcurve_files(folder)
    assert lc["PC"]["rate"].unit == CT_S
    # Alone, PC.qdp says nothing: kind= says it for the folder.
    (folder / "curve.qdp").unlink()
    with pytest.warns(XRTProductsWarning, match="read as rate"):
        read_lightcurve_files(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_lightcurve_files(folder, kind="rate")["PC"].meta["quantity_source"] == "kind"
    with pytest.raises(ReaderError, match="kind: 'ct/s'"):
        read_lightcurve_files(folder, kind="ct/s")


# -- issue 20 item 13: a real file changed so that rows would be dropped ----------------------

CURVE = GRBS / "GRB060403" / "curve.qdp"


def _rows(lc):
    return {name: len(t) for name, t in lc.items()}


def test_no_line_inside_a_section_is_refused():
    lines = CURVE.read_text().splitlines(keepends=True)
    k = next(i for i, line in enumerate(lines) if line.startswith("! WT data")) + 10
    changed = "".join(lines[:k] + ["NO\tNO\tNO\tNO\tNO\n"] + lines[k:])
    with pytest.raises(ReaderError, match=r"section starting on line \d+ has no label.*cannot be placed"):
        read_lightcurve_qdp(changed)


@pytest.mark.parametrize("label", ["! PC data:", "! PC data (rate)", "! PC data (count rate) :"])
def test_label_with_colon_or_qualifier_reads_every_row(label):
    original = read_lightcurve_qdp(CURVE)
    changed = read_lightcurve_qdp(CURVE.read_text().replace("! PC data", label))
    assert _rows(changed) == _rows(original) and changed.datasets == ["WTSLEW", "WT", "PC", "PCUL"]
    np.testing.assert_array_equal(changed["PC"]["rate"], original["PC"]["rate"])


def test_label_qualifier_says_flux():
    text = "READ TERR 1 2\n! PC data (flux)\n100 5 -5 3e-11 1e-12 -1e-12\n"
    lc = read_lightcurve_qdp(text, t0=551097137.0)
    assert lc.meta["quantity_source"] == "label" and lc["PC"]["flux"].unit == FLUX_UNIT


def test_repeated_label_is_refused():
    changed = CURVE.read_text().replace("! WTSLEW data", "! WT data")
    with pytest.raises(ReaderError, match=r"dataset WT appears twice \(sections starting on lines"):
        read_lightcurve_qdp(changed)


def test_hardrat_with_tabs_expanded_keeps_time_errors_out_of_rate_err():
    original = read_lightcurve_qdp(COW / "hardrat.qdp")
    expanded = read_lightcurve_qdp((COW / "hardrat.qdp").read_text().expandtabs())
    assert expanded.datasets == original.datasets == ["PCHard", "PCSoft", "PCHR"]
    for name in original.datasets:
        assert expanded[name].colnames == original[name].colnames
        for column in original[name].colnames:
            if column != "time":
                np.testing.assert_array_equal(expanded[name][column], original[name][column])
    assert not np.array_equal(expanded["PCHard"]["rate_err"], expanded["PCHard"]["time_err_pos"])
