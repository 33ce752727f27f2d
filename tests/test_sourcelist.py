# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the source-detection readers."""
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro.readers.sourcelist import read_source_list, read_source_list_files

DATA = Path(__file__).parent / "data"


def test_bands_all_ordered_and_typed():
    bands = read_source_list(DATA / "src_all_bands.json", job_id="3512")
    assert isinstance(bands, OrderedDict)
    # The service's order was Hard, Total, Soft, Medium: the natural order is restored
    # and the envelope keys are not bands.
    assert list(bands) == ["Total", "Soft", "Medium", "Hard"]
    total = bands["Total"]
    assert isinstance(total, Table) and len(total) == 2
    assert total.meta["band"] == "Total" and total.meta["job_id"] == "3512"
    assert total["sno"].dtype.kind == "i" and list(total["sno"]) == [1, 2]
    assert total["C"].dtype.kind == "i" and total["C"].unit == u.ct and total["C"][0] == 120
    assert total["ra"].dtype.kind == "f" and total["ra"].unit == u.deg
    assert total["ra"][1] == pytest.approx(335.6521)
    # Errors are named and signed as in light curves (the service's dec_neg was -0.00028).
    assert total["dec_err_neg"].unit == u.deg and total["dec_err_neg"][0] == pytest.approx(0.00028)
    assert total["err90"].unit == u.arcsec and total["err90"][1] == pytest.approx(6.2)
    assert total["l"].unit == u.deg and total["b"].unit == u.deg
    assert total["x"].unit == u.pix and total["x"].dtype.kind == "f"
    assert total["rate"].unit == u.ct / u.s and total["rate"][0] == pytest.approx(0.026)
    assert total["C_err_pos"].unit == u.ct and total["C_err_pos"].dtype.kind == "f"
    # obsIDs keep their leading zeros.
    assert total["obsid"].dtype.kind == "U" and total["obsid"][0] == "00966554000"
    coord = total["coord"]
    assert isinstance(coord, SkyCoord) and coord.frame.name == "icrs"
    assert coord[0].ra.deg == pytest.approx(335.6985) and coord[0].dec.deg == pytest.approx(-7.5179)
    # An empty band is an empty table, not an error.
    assert len(bands["Medium"]) == 0
    assert bands["Hard"]["C"][0] == 57


def test_band_total_only_with_missing_value_and_unknown_keys():
    bands = read_source_list(json.loads((DATA / "src_total.json").read_text()))
    assert list(bands) == ["Total"]
    table = bands["Total"]
    assert np.ma.is_masked(table["err90"][1]) and not np.ma.is_masked(table["err90"][0])
    assert table["err90"][0] == pytest.approx(2.9)
    assert table["err90"].unit == u.arcsec
    # Unknown keys are kept, typed, without units.
    assert table["Flag"].dtype.kind == "i" and list(table["Flag"]) == [0, 2]
    assert table["Flag"].unit is None
    assert table["Detected"].dtype.kind == "i"
    # The SkyCoord column agrees with the ra/dec columns.
    sep = table["coord"][1].separation(SkyCoord(50.04 * u.deg, 43.85 * u.deg))
    assert sep.to_value(u.arcsec) < 1e-6


def test_numbers_as_json_numbers_and_error_unit_option():
    bands = read_source_list({"Total": [{"sno": 1, "ra": 10.5, "dec": -20.25, "ra_pos": 1.5,
                                         "dec_pos": 1.2, "name": "1234"}]},
                             position_error_unit=u.arcsec)
    table = bands["Total"]
    assert table["ra"][0] == 10.5 and table["ra_err_pos"].unit == u.arcsec
    assert table["name"].dtype.kind == "U" and table["name"][0] == "1234"


@pytest.mark.parametrize("data, match", [
    ({"OK": 1, "APIVersion": "1.12"}, "no energy band"),
    ({"Total": "none"}, "must be a list"),
    ({"Total": ["x"]}, "entry 0 is not an object"),
    ({"Total": [{"ra": "abc", "dec": "1"}]}, "column 'ra' should hold numbers"),
    ({"Total": [{"ra": "10", "dec": "100"}]}, "beyond"),
    ([], "expected an object of bands"),
    ({"OK": 0, "ERROR": "Job 5 has no source detection"}, "no source detection"),
])
def test_malformed_raises(data, match):
    with pytest.raises(ReaderError, match=match):
        read_source_list(data)


def test_source_list_files(tmp_path):
    (tmp_path / "Total_sources.txt").write_text(
        "# sno ra dec err90 C obsid\n1 335.6985 -7.5179 3.5 120 00966554000\n"
        "2 335.6521 -7.4860 6.2 18 00966554000\n")
    (tmp_path / "soft_sources.txt").write_text("# sno ra dec err90 C obsid\n1 335.69848 -7.51792 4.1 44 "
                                               "00966554000\n")
    (tmp_path / "notes.log").write_text("ignored")
    bands = read_source_list_files(tmp_path, job_id=4)
    assert list(bands) == ["Total", "Soft"]
    assert bands["Total"]["C"].unit == u.ct and list(bands["Total"]["C"]) == [120, 18]
    assert bands["Soft"]["err90"][0] == pytest.approx(4.1)
    assert bands["Total"]["obsid"][1] == "00966554000"


def test_source_list_files_errors(tmp_path):
    with pytest.raises(ReaderError, match="no source-list file"):
        read_source_list_files(tmp_path)
    (tmp_path / "total.txt").write_text("sno ra dec\n1 2\n")
    with pytest.raises(ReaderError, match="2 values for 3 columns"):
        read_source_list_files(tmp_path)
    with pytest.raises(ReaderError, match="not a directory"):
        read_source_list_files(tmp_path / "missing")


def test_quantity_column_with_every_value_missing_is_masked_numbers():
    # Found by the fuzz run: an all-missing ra used to become a text column, then a TypeError.
    table = read_source_list({"Total": [{"sno": "1", "ra": None, "dec": "-7.5", "err90": "3.6"}]})["Total"]
    assert table["ra"].unit == u.deg and bool(table["ra"].mask[0])
    assert table["ra"].dtype.kind == "f"


def test_errors_follow_the_light_curve_convention_and_bg_has_a_unit():
    # Issue 20 item 20: the service's rate_pos/rate_neg (negative), C_neg, ra_neg become
    # <x>_err_pos/<x>_err_neg holding magnitudes, as rate_err_pos/rate_err_neg in light curves;
    # bg (background counts in the source region) is in ct. A _neg key whose quantity is not a
    # column is not an error and keeps its name and sign.
    bands = read_source_list({"Total": [
        {"sno": "1", "ra": "335.6985", "ra_pos": "0.0003", "ra_neg": "-0.0003", "dec": "-7.5179",
         "dec_pos": "0.0003", "dec_neg": "-0.0003", "C": "120", "C_pos": "12.0", "C_neg": "-10.9",
         "bg": "1.25", "rate": "0.026", "rate_pos": "0.0031", "rate_neg": "-0.0029", "cnt_neg": "-3"},
        {"sno": "2", "ra": "335.7", "ra_pos": "", "ra_neg": "", "dec": "-7.5", "dec_pos": "0.001",
         "dec_neg": "-0.001", "C": "8", "C_pos": "4.0", "C_neg": "-2.8", "bg": "0.5", "rate": "0.002",
         "rate_pos": "0.001", "rate_neg": "-0.0008", "cnt_neg": "-1"}]})
    table = bands["Total"]
    for old in ("ra_pos", "ra_neg", "dec_pos", "dec_neg", "C_pos", "C_neg", "rate_pos", "rate_neg"):
        assert old not in table.colnames
    for name, unit in (("ra", u.deg), ("dec", u.deg), ("C", u.ct), ("rate", u.ct / u.s)):
        for side in ("pos", "neg"):
            column = table[f"{name}_err_{side}"]
            assert column.unit == unit
            assert np.all(np.ma.compressed(np.ma.asarray(column)) >= 0)
    assert table["rate_err_neg"][0] == pytest.approx(0.0029) and table["C_err_neg"][1] == pytest.approx(2.8)
    assert np.ma.is_masked(table["ra_err_neg"][1])
    assert table["bg"].unit == u.ct and table["bg"][0] == pytest.approx(1.25)
    assert list(table["cnt_neg"]) == [-3, -1] and table["cnt_neg"].unit is None
    # An answer that already has both spellings keeps both, under their own names.
    both = read_source_list({"Total": [{"rate": "1", "rate_pos": "0.1", "rate_err_pos": "0.2"}]})["Total"]
    assert both["rate_pos"][0] == 0.1 and both["rate_err_pos"][0] == 0.2
