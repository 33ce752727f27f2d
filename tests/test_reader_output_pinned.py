# Licensed under a 3-clause BSD style license - see LICENSE
"""The output of the spectral-fit, source-list and position readers, pinned.

These readers were rewritten for speed (issue 15); what they return must not
change. ``data/pinned_reader_output.json`` holds a full description of their
output on recorded answers (the documented examples of ``data/`` and the local
service's answers to the benchmark job) and on answers built here for the
edge cases, as the readers of commit 5b4783f wrote it: per column its name,
class, dtype, unit, mask, every value bit for bit (also under the mask),
``info.format`` and description; the meta; the printed table. Each test
compares the readers' present output with it.

Regenerate (only for a deliberate change of the output) with
``python tests/test_reader_output_pinned.py``.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Column
from astropy.time import Time

from xrtprods_astro.readers.positions import read_position, read_position_files
from xrtprods_astro.readers.sourcelist import read_source_list
from xrtprods_astro.readers.spectrum import read_areas_file, read_spectral_fits

DATA = Path(__file__).parent / "data"
PINNED = DATA / "pinned_reader_output.json"
SERVICE = json.loads((DATA / "service_answers_bench_job.json").read_text())


def _load(name):
    return json.loads((DATA / name).read_text())


def _hex(values):
    """Floats bit for bit (nan and inf included)."""
    return [float(v).hex() for v in np.ravel(np.asarray(values, dtype=float))]


def _values(array):
    array = np.asarray(array)
    if array.dtype.kind == "f":
        return _hex(array)
    if array.dtype.kind in "iub":
        return [int(v) for v in array.ravel()]
    return [str(v) for v in array.ravel()]


def _time(t):
    jd1, jd2 = (getattr(t.jd1, "unmasked", t.jd1), getattr(t.jd2, "unmasked", t.jd2))
    return {"class": type(t).__name__, "format": t.format, "scale": t.scale, "precision": t.precision,
            "shape": list(t.shape), "jd1": _hex(jd1), "jd2": _hex(jd2),
            "mask": np.ravel(t.mask).tolist(), "location": repr(t.location), "repr": repr(t),
            "writeable": t.writeable}


def _scalar(value):
    """A meta value, its type and exact content."""
    if isinstance(value, Time):
        return _time(value)
    if isinstance(value, u.Quantity):
        return {"class": type(value).__name__, "unit": str(value.unit), "value": _hex(value.value),
                "repr": repr(value)}
    if isinstance(value, float):
        return {"class": "float", "value": value.hex()}
    return {"class": type(value).__name__, "repr": repr(value)}


def _column(table, name):
    col = table[name]
    out = {"name": name, "class": type(col).__name__, "info_name": col.info.name,
           "format": col.info.format, "description": col.info.description,
           "meta": repr(dict(col.info.meta or {}))}
    if isinstance(col, Time):
        out.update(_time(col))
    elif isinstance(col, SkyCoord):
        out.update(frame=col.frame.name, representation=col.representation_type.__name__,
                   ra=_hex(col.ra.deg), dec=_hex(col.dec.deg), shape=list(col.shape))
    else:
        assert isinstance(col, Column), type(col)
        out.update(dtype=col.dtype.str, unit=None if col.unit is None else col.unit.to_string(),
                   values=_values(np.asarray(col.data if not hasattr(col, "mask") else col.data.data)),
                   mask=np.ma.getmaskarray(col).tolist() if hasattr(col, "mask") else None,
                   fill_value=repr(getattr(col, "fill_value", None)), writeable=col.flags.writeable)
    return out


def describe_table(table):
    return {"class": type(table).__name__, "masked": table.masked, "colnames": table.colnames,
            "columns": [_column(table, name) for name in table.colnames],
            "meta_class": type(table.meta).__name__,
            "meta": [[key, _scalar(value)] for key, value in table.meta.items()],
            "printed": table.pformat(max_lines=-1, max_width=-1, show_unit=True, show_dtype=True),
            "html": table.pformat(max_lines=-1, max_width=-1, html=True, tableid="pinned")}


def _no_ids(html):
    """HTML without the ids astropy makes from ``id(table)``."""
    return re.sub(r'id="table\d+"', 'id="table"', html)


def describe_position(pos):
    return {"class": type(pos).__name__, "kind": pos.kind, "found": pos.found,
            "coord": None if pos.coord is None else
            {"frame": pos.coord.frame.name, "ra": _hex(pos.coord.ra.deg), "dec": _hex(pos.coord.dec.deg),
             "shape": list(pos.coord.shape), "repr": repr(pos.coord)},
            "err90": None if pos.err90 is None else _scalar(pos.err90),
            "from_sxps": repr(pos.from_sxps), "which_sxps": repr(pos.which_sxps), "reason": repr(pos.reason),
            "job_id": repr(pos.job_id), "details": repr(pos.details), "bool": bool(pos), "repr": repr(pos),
            "html": _no_ids(pos._repr_html_())}


# --- inputs ---------------------------------------------------------------------------------------

def _fits_edge_cases():
    """Answers reaching every branch of the spectral-fit reader."""
    mixed = _load("spec_fits_mixed.json")
    no_t0 = {k: v for k, v in mixed.items() if k != "T0"}
    strings = json.loads(json.dumps(SERVICE["spectral_fits"]), parse_float=str, parse_int=str)
    return {
        "mixed": (mixed, {}),
        "mixed_utcf_quantity": (mixed, {"utcf": -24.5 * u.s, "job_id": 12}),
        "mixed_no_t0": (no_t0, {}),
        "powerlaw": (_load("spec_fits_powerlaw.json"), {"job_id": "3512"}),
        "powerlaw_utcf": (_load("spec_fits_powerlaw.json"), {"utcf": -21.155}),
        "resp_specdata": (_load("resp_specdata.json"), {}),
        "nospectrum": (_load("spec_fits_nospectrum.json"), {"job_id": 5}),
        "nospectrum_with_t0": ({"NoSpectrum": 1, "T0": "551097137.0", "GalNH_unfitted": "4e20"}, {}),
        "no_intervals": ({"T0": 551097137.0, "rnames": []}, {"utcf": -21.155}),
        "one_rname_string": ({"T0": 551097137.0, "rnames": "a",
                              "a": {"Start": "10", "Stop": "20", "Modes": "pc",
                                    "pc": {"MeanTime": "15", "Models": "PowerLaw",
                                           "PowerLaw": {"Gamma": "2", "Dof": "7.0", "Image": ""}}}}, {}),
        "service": (SERVICE["spectral_fits"], {"utcf": SERVICE["utcf"], "job_id": 342044000}),
        "service_uncorrected": (SERVICE["spectral_fits"], {}),
        "service_as_strings": (strings, {"utcf": SERVICE["utcf"]}),
    }


def _source_edge_cases():
    rows = [
        {"sno": "1", "ra": "10.5", "dec": "-5.25", "err90": "3.5", "C": "120", "rate": "1.5d-2",
         "obsid": "00012345001", "flag": "Good", "big": "1234567890123456789012", "zeroes": "007",
         "empty_rate": "", "x": "12", "cnt_neg": "-3"},
        {"sno": "2", "ra": "", "dec": "null", "err90": None, "C": "n/a", "rate": "inf",
         "obsid": "00012345002", "flag": "-", "big": "5", "zeroes": "12", "empty_rate": "NA", "x": "1.5"},
        {"sno": 3, "ra": 359.9, "dec": 89.5, "err90": 2, "C": 7, "rate": "nan", "flag": "Bad",
         "big": "-7", "zeroes": "0", "empty_rate": "none", "x": "-2.5e1", "extra": "only here"},
    ]
    return {
        "all_bands": (_load("src_all_bands.json"), {"job_id": 951}),
        "total": (_load("src_total.json"), {}),
        "resp_all": (_load("resp_sourcelist_all.json"), {"position_error_unit": u.arcsec}),
        "resp_total": (_load("resp_sourcelist_total.json"), {"job_id": "7"}),
        "edge": ({"OK": 1, "JobID": 4, "Broad": [], "Hard": rows[:1], "Total": rows}, {"job_id": 4}),
        "no_coordinates": ({"Total": [{"sno": "1", "rate": "0.5", "rate_pos": "0.1"}]}, {}),
        # Columns with every value missing: counts (int), degrees (float), no unit (str).
        "all_missing": ({"Total": [{"C": "", "dec_err": None, "note": "-"},
                                   {"C": "null", "dec_err": "", "note": ""}]}, {}),
        "service": (SERVICE["source_list"], {"job_id": 342044000}),
    }


def _position_cases():
    cases = {f"service_{kind}": (SERVICE[kind], kind) for kind in ("standard", "enhanced", "astrometric")}
    cases.update({
        "psf": (_load("resp_pos_psf.json"), "psf"),
        "psf_sxps": (_load("resp_pos_psf_sxps.json"), "standard"),
        "enh": (_load("resp_pos_enh.json"), "enh"),
        "none": (_load("resp_pos_none.json"), "enhanced"),
        "none_reason": ({"GotPos": False, "Reason": "Too few counts"}, "xastrom"),
        "json_strings": (_load("pos_psf_json_strings.json"), "standard"),
        "xastrom_sxps": (_load("pos_xastrom_json_sxps.json"), "astrometric"),
    })
    return cases


def _position_file_cases():
    """The files of the psf, enh and xastrom archives in data/ (directory -> kind)."""
    return {"pos_enh_success": "enhanced", "pos_psf_insxps": "standard", "pos_psf_nopos": "standard",
            "pos_psf_results": "standard", "pos_xastrom_corrpos": "astrometric",
            "pos_xastrom_insxps": "astrometric", "pos_xastrom_nocorr": "astrometric"}


def _areas_cases():
    """``.areas`` extraction logs: the real one, and one with a block lacking counts, region, BACKSCAL."""
    return {
        "real": DATA / "real/arnaudsomville__gamma_burst/spec/late_time_extracted/late_time.areas",
        "partial": ("00966554000/pcpup0.evt, 608720000.5 -- 608730000.2\n"
                    "annulus(335.6985,-7.5179,7.07\",47.15\")\nCounts: 312\nBACKSCAL 0.0215\n\n"
                    "sub/dir/wt.evt, 1e3 -- 2000\n\nx.evt, 5 -- 6\ncounts: 7.0\n"),
        "empty": "\n",
    }


def current_output():
    out = {"spectral_fits": {}, "source_list": {}, "position": {}, "position_files": {}, "areas": {}}
    for case, (data, kwargs) in _fits_edge_cases().items():
        out["spectral_fits"][case] = describe_table(read_spectral_fits(data, **kwargs))
    for case, (data, kwargs) in _source_edge_cases().items():
        result = read_source_list(data, **kwargs)
        out["source_list"][case] = {"class": type(result).__name__, "bands": list(result),
                                    "repr": repr(result), "html": _no_ids(result._repr_html_()),
                                    "tables": {band: describe_table(t) for band, t in result.items()}}
    for case, (data, kind) in _position_cases().items():
        out["position"][case] = describe_position(read_position(data, kind, job_id=case))
    for case, kind in _position_file_cases().items():
        out["position_files"][case] = describe_position(read_position_files(DATA / case, kind, job_id=case))
    for case, source in _areas_cases().items():
        out["areas"][case] = describe_table(read_areas_file(source))
    return json.loads(json.dumps(out))    # as the file holds it (tuples -> lists)


@pytest.fixture(scope="module")
def pinned():
    return json.loads(PINNED.read_text())


@pytest.fixture(scope="module")
def current():
    return current_output()


def _compare(expected, actual, where):
    """Assert equality, naming the first place that differs."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        assert list(expected) == list(actual), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            _compare(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (e, a) in enumerate(zip(expected, actual)):
            _compare(e, a, f"{where}[{index}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("case", list(_fits_edge_cases()))
def test_spectral_fits_output_unchanged(pinned, current, case):
    _compare(pinned["spectral_fits"][case], current["spectral_fits"][case], f"spectral_fits[{case}]")


@pytest.mark.parametrize("case", list(_source_edge_cases()))
def test_source_list_output_unchanged(pinned, current, case):
    _compare(pinned["source_list"][case], current["source_list"][case], f"source_list[{case}]")


@pytest.mark.parametrize("case", list(_position_cases()))
def test_position_output_unchanged(pinned, current, case):
    _compare(pinned["position"][case], current["position"][case], f"position[{case}]")


@pytest.mark.parametrize("case", list(_areas_cases()))
def test_areas_output_unchanged(pinned, current, case):
    _compare(pinned["areas"][case], current["areas"][case], f"areas[{case}]")


@pytest.mark.parametrize("case", list(_position_file_cases()))
def test_position_files_output_unchanged(pinned, current, case):
    _compare(pinned["position_files"][case], current["position_files"][case], f"position_files[{case}]")


def test_pinned_cases_cover_what_matters(pinned):
    """The pinned answers reach masked and unmasked columns, Time and SkyCoord columns and no-position."""
    fits = pinned["spectral_fits"]
    classes = {c["class"] for case in fits.values() for c in case["columns"]}
    assert {"Column", "MaskedColumn", "Time"} <= classes
    assert any(any(c.get("mask") and any(c["mask"]) for c in case["columns"]) for case in fits.values())
    assert any(c["class"] == "Time" and any(c["mask"]) for case in fits.values() for c in case["columns"])
    src = [t for case in pinned["source_list"].values() for t in case["tables"].values()]
    classes = {c["class"] for t in src for c in t["columns"]}
    assert {"Column", "MaskedColumn", "SkyCoord"} <= classes
    assert {c["dtype"] for t in src for c in t["columns"] if "dtype" in c} >= {"<f8", "<i8"}
    assert {p["found"] for p in pinned["position"].values()} == {True, False}


def test_service_answer_is_the_benchmark_job(current):
    """The recorded service answer is read as a job of the benchmark reads it: fits with clock correction."""
    table = read_spectral_fits(SERVICE["spectral_fits"], utcf=SERVICE["utcf"])
    assert table.meta["time_source"] == "utcf" and len(table) == 2
    assert len(current["source_list"]["service"]["tables"]["Total"]["columns"]) > 20


@pytest.mark.parametrize("utcf", [None, -24.873])
def test_time_columns_are_separate_and_editable(utcf):
    """The three time columns come from one conversion; each is still its own writeable column."""
    table = read_spectral_fits(SERVICE["spectral_fits"], utcf=utcf)
    before = {name: table[name].copy() for name in ("time_start", "time_stop", "time_mean")}
    table["time_start"][0] = np.ma.masked
    table["time_stop"][1] = Time("2021-01-01T00:00:00", scale="utc")
    assert table["time_start"].mask.tolist() == [True, False]
    assert table["time_stop"][1].isot == "2021-01-01T00:00:00.000"
    assert np.all(table["time_stop"][:1] == before["time_stop"][:1])
    assert not np.any(table["time_mean"].mask) and np.all(table["time_mean"] == before["time_mean"])
    assert table["time_start"][1] == before["time_start"][1]


if __name__ == "__main__":
    PINNED.write_text(json.dumps(current_output(), indent=0, sort_keys=False) + "\n")
    print(f"wrote {PINNED}")
