# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the position readers (JSON answers and archive files)."""
import json
import shutil
from pathlib import Path

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from xrtprods_astro.exceptions import InvalidRequestError, ReaderError
from xrtprods_astro.readers.positions import Position, read_position, read_position_files

DATA = Path(__file__).parent / "data"


def test_string_valued_json_standard_position():
    pos = read_position(DATA / "pos_psf_json_strings.json", "standard", job_id="3512")
    assert isinstance(pos, Position) and pos.found and bool(pos)
    assert pos.kind == "standard"
    assert isinstance(pos.coord, SkyCoord)
    assert pos.coord.frame.name == "icrs"
    assert pos.coord.ra.deg == pytest.approx(335.6985)
    assert pos.coord.dec.deg == pytest.approx(-7.5179)
    assert pos.err90.unit == u.arcsec
    assert pos.err90.value == pytest.approx(1.43)
    assert pos.from_sxps is False and pos.which_sxps is None
    assert pos.reason is None and pos.job_id == "3512"
    text = repr(pos)
    assert "standard" in text and "335.69850" in text and "1.43 arcsec" in text and "3512" in text


def test_numeric_json_astrometric_from_sxps():
    pos = read_position(json.loads((DATA / "pos_xastrom_json_sxps.json").read_text()), "xastrom")
    assert pos.kind == "astrometric"
    assert pos.from_sxps is True and pos.which_sxps == "2SXPS"
    assert pos.ra.deg == pytest.approx(49.98139) and pos.dec.deg == pytest.approx(43.90508)
    assert pos.err90 == 1.9 * u.arcsec
    assert "from 2SXPS" in repr(pos)


@pytest.mark.parametrize("data, reason", [
    ({"GotPos": 0}, "No position could be determined."),
    ({"GotPos": False, "Reason": "Job 12 is not owned by user x"}, "Job 12 is not owned by user x"),
    # The string "0" means no position (the reference client's bool("0") would say True).
    ({"GotPos": "0"}, "No position could be determined."),
])
def test_no_position_is_a_result_with_reason(data, reason):
    pos = read_position(data, "enhanced", job_id=9)
    assert pos.found is False and not pos
    assert pos.kind == "enhanced"
    assert pos.coord is None and pos.err90 is None
    assert pos.reason == reason
    assert "none found" in repr(pos) and reason in repr(pos)


@pytest.mark.parametrize("data, match", [
    ({"RA": "1", "Dec": "2"}, "no 'GotPos'"),
    ({"GotPos": 1, "RA": "1"}, "Dec, Err90 missing"),
    ({"GotPos": 1, "RA": "abc", "Dec": "2", "Err90": "3"}, "not a number"),
    ({"GotPos": 1, "RA": "10", "Dec": "95", "Err90": "3"}, "not a sky position"),
    ({"GotPos": "perhaps"}, "GotPos"),
    ({"OK": 0, "ERROR": "Job 3 does not exist"}, "Job 3 does not exist"),
    ([1, 2], "expected a JSON object"),
])
def test_malformed_json_raises(data, match):
    with pytest.raises(ReaderError, match=match):
        read_position(data, "standard")


def test_bad_kind_names_parameter_and_allowed_values():
    with pytest.raises(InvalidRequestError, match="kind: 'best'.*standard.*enhanced.*astrometric"):
        read_position({"GotPos": 0}, "best")


def test_files_standard_results_dat():
    pos = read_position_files(DATA / "pos_psf_results", "psf", job_id=1)
    assert pos.found and pos.kind == "standard" and not pos.from_sxps
    assert pos.ra.deg == pytest.approx(335.69852) and pos.dec.deg == pytest.approx(-7.51788)
    assert pos.err90 == 3.5 * u.arcsec
    assert pos.details["piled_up"] is False
    assert pos.details["matched_source"] == 1
    assert pos.details["psf_parameters"] == pytest.approx({"S": 1.64, "l": 4.52, "c": 0.071, "tau": 2.23})


def test_files_standard_insxps_wins_over_results():
    pos = read_position_files(DATA / "pos_psf_insxps", "standard")
    assert pos.found and pos.from_sxps and pos.which_sxps == "2SXPS"
    assert pos.details["sxps_id"] == "2SXPS J222247.6-073104"
    assert pos.details["sxps_obsid"] == "10000012345"
    assert pos.ra.deg == pytest.approx(335.69861)
    assert pos.err90 == 4.8 * u.arcsec


def test_files_standard_nopos_content_and_file(tmp_path):
    pos = read_position_files(DATA / "pos_psf_nopos", "standard")
    assert not pos.found and "NOPOS" in pos.reason
    (tmp_path / "NOPOS").write_text("")
    pos = read_position_files(tmp_path, "standard")
    assert not pos.found and "NOPOS" in pos.reason


def test_files_enhanced_success():
    pos = read_position_files(DATA / "pos_enh_success", "enhanced")
    assert pos.found and pos.kind == "enhanced"
    assert pos.ra.deg == pytest.approx(335.69849) and pos.dec.deg == pytest.approx(-7.51791)
    assert pos.err90 == 1.6 * u.arcsec
    assert pos.details["n_overlaps"] == 7
    assert pos.details["overlap_exposure"] == 8123.4 * u.s
    assert pos.details["name"] == "GRB 200416A"


def test_files_enhanced_missing_success_is_no_position(tmp_path):
    pos = read_position_files(tmp_path, "enhanced")
    assert not pos.found and "success.txt" in pos.reason


def test_files_astrometric_corrpos_with_correction():
    pos = read_position_files(DATA / "pos_xastrom_corrpos", "astrometric")
    assert pos.found and not pos.from_sxps
    assert pos.ra.deg == pytest.approx(49.98137) and pos.dec.deg == pytest.approx(43.90512)
    assert pos.err90 == 2.1 * u.arcsec
    assert pos.details["ra_shift"] == 0.85 * u.arcsec
    assert pos.details["dec_shift"] == -1.21 * u.arcsec
    assert pos.details["roll_correction"] == 0.35 * u.arcmin
    assert pos.details["correction_err90"] == 1.8 * u.arcsec


def test_files_astrometric_insxps_and_nocorr():
    pos = read_position_files(DATA / "pos_xastrom_insxps", "astrometric")
    assert pos.found and pos.from_sxps and pos.which_sxps == "2SXPS"
    pos = read_position_files(DATA / "pos_xastrom_nocorr", "astrometric")
    assert not pos.found and "NOCORR" in pos.reason and "2MASS" in pos.reason


def test_files_found_one_level_down(tmp_path):
    shutil.copytree(DATA / "pos_psf_results", tmp_path / "USERPROD_1" / "psf")
    pos = read_position_files(tmp_path, "standard")
    assert pos.err90 == 3.5 * u.arcsec


def test_files_errors(tmp_path):
    with pytest.raises(ReaderError, match="not a directory"):
        read_position_files(tmp_path / "nope", "standard")
    with pytest.raises(ReaderError, match="not a standard-position"):
        read_position_files(tmp_path, "standard")
    with pytest.raises(ReaderError, match="not an astrometric-position"):
        read_position_files(tmp_path, "astrometric")
    (tmp_path / "results.dat").write_text("335.7\t-7.5\n")
    with pytest.raises(ReaderError, match="tab-separated"):
        read_position_files(tmp_path, "standard")
    (tmp_path / "results.dat").unlink()
    (tmp_path / "INSXPS").write_text("2SXPS J1\n335.7\n")
    with pytest.raises(ReaderError, match="one per line"):
        read_position_files(tmp_path, "standard")
