# Licensed under a 3-clause BSD style license - see LICENSE
"""Concise reprs, notebook (HTML) views and display formats of the results."""
import json
import pathlib

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table
from astropy.time import Time

from xrtprods_astro.core import SpectrumResult, XRTProductsClass
from xrtprods_astro.display import column_format, set_display_formats
from xrtprods_astro.readers.lightcurve import LightCurve, read_lightcurve_json
from xrtprods_astro.readers.positions import read_position
from xrtprods_astro.readers.sourcelist import SourceList, read_source_list
from xrtprods_astro.readers.spectrum import read_spectral_fits

DATA = pathlib.Path(__file__).parent / "data"
GRB = "GRB 200416A"


@pytest.fixture
def lc():
    with open(DATA / "lc_getLCData.json") as fh:
        lc = read_lightcurve_json(json.load(fh), job_id=1234)
    lc.meta["target"] = GRB
    return lc


@pytest.fixture(scope="module")
def images(xrtprods_service, tmp_path_factory):
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.05)
    client.cache_location = tmp_path_factory.mktemp("cache")
    return client.get_image("GK Per", resolver="service", dest_dir=tmp_path_factory.mktemp("img"), timeout=60)


# ------------------------------------------------------------------------ display formats

@pytest.mark.parametrize("values, errors, expected, shown", [
    ([666.1523296833038, 12.5], None, "{:.2f}", "666.15"),          # arithmetic noise cut
    ([3.073320085487883e21], [3.1e20], "{:.2e}", "3.07e+21"),       # second digit of the error
    ([261.718, 461.718], None, "{:.3f}", "261.718"),                 # digits as written
    ([608713637.852, 608865882.1520001], None, "{:.3f}", "608713637.852"),   # a MET keeps its ms
    ([1.8641, 536.15], [0.023], "{:.3f}", "1.864"),
    ([608865882.1520001], None, "{:.3f}", "608865882.152"),      # a lone upper limit's MET
    ([608865882.1520001, 609265882.1520002], None, "{:.3f}", "608865882.152"),   # far apart
    ([np.nan, np.inf], None, None, None),
])
def test_column_format(values, errors, expected, shown):
    fmt = column_format(values, errors=errors)
    assert fmt == expected
    if shown is not None:
        assert fmt.format(values[0]) == shown


def test_set_display_formats_prints_rounded_and_keeps_data():
    table = QTable()
    table["time"] = Time([58000.123456789], format="mjd")
    table["nh"] = [3.073320085487883e21] * u.cm**-2
    table["nh_err_pos"] = [3.1e20] * u.cm**-2
    table["nh_err_neg"] = [2.9e20] * u.cm**-2
    table["t"] = [666.1523296833038] * u.s
    table["n"] = [3]
    table["done"] = [1.23456789]
    table["done"].info.format = "{:.1f}"
    set_display_formats(table)
    text = "\n".join(table.pformat())
    assert "3.07e+21" in text and "666.15" in text and "666.1523" not in text
    assert "2.9e+20" in text and "1.2" in text
    assert table["nh"][0].value == 3.073320085487883e21     # the data keep full precision
    assert table["done"].info.format == "{:.1f}" and table["n"].info.format is None


def test_reader_tables_print_to_their_precision(lc):
    text = "\n".join(lc["PC"].pformat(max_width=-1))
    assert "608718063.289" in text and "4521.337" in text
    fits = read_spectral_fits(DATA / "spec_fits_mixed.json")
    # NH errors of 6e20 and more: NH to the 1e19 digit; Gamma errors of 0.28: two decimals.
    assert fits["nh"].info.format == "{:.2e}" and fits["gamma"].info.format == "{:.2f}"


def test_every_way_to_a_light_curve_dataset_gives_it_its_formats(lc):
    # Formats are worked out when a dataset is first taken out: indexing, iteration over the
    # mapping, combined() and time series must all see them, and the shared-time memo gives the
    # rate and ratio tables of one mode the same time format.
    expected = {}
    for name in lc.datasets:
        fresh = read_lightcurve_json(json.load(open(DATA / "lc_getLCData.json")), job_id=1234)
        set_display_formats(fresh._tables[name])
        expected[name] = {c: fresh._tables[name][c].info.format for c in fresh._tables[name].colnames
                          if getattr(fresh._tables[name][c], "dtype", None) is not None
                          and fresh._tables[name][c].dtype.kind == "f"}
    for name, table in lc.items():
        got = {c: table[c].info.format for c in expected[name]}
        assert got == expected[name] and any(got.values()), name
    combined = lc.combined()
    assert combined["rate"].info.format is not None
    assert lc["WT"]["met"].info.format == lc["WTHR"]["met"].info.format is not None


# ------------------------------------------------------------------------ reprs and HTML

def test_lightcurve_repr_and_html(lc):
    text = repr(lc)
    lines = text.splitlines()
    assert lines[0] == f"<LightCurve {GRB} job_id=1234"
    assert "T0 2020-04-16T07:05:17.171 UTC (MET 608713541.952 s)" in lines[1]
    pc = next(line for line in lines if line.strip().startswith("PC "))
    assert "3 rows" in pc and "4521-25111 s after T0" in pc
    assert len(lines) == 2 + len(lc) and text.endswith(">")
    html = lc._repr_html_()
    assert GRB in html and "1234" in html and "<table" in html and "PCUL" in html
    assert "no datasets" in repr(LightCurve({}))


def test_spectrum_result_repr_is_a_few_lines():
    fits = read_spectral_fits(DATA / "spec_fits_mixed.json", job_id=77)
    fits.meta["target"] = GRB
    result = SpectrumResult(fits, {}, None)
    text = repr(result)
    assert len(text) < 700 and len(text.splitlines()) <= 2 + len(fits)
    assert text.startswith(f"<SpectrumResult {GRB}, job 77")
    assert "early PC PowerLaw: NH=3.20e+21 +1.1e+21/-9.0e+20 cm-2, Gamma=2.20 +0.30/-0.28" in text
    assert "kT=4.7 +2.1/-1.3 keV" in text
    assert "quiet: no spectrum" in text and "late WT: no fit" in text
    html = result._repr_html_()
    assert "<table" in html and "gamma" in html and GRB in html
    # The long table repr the issue reported is gone.
    assert "plot_url" not in text


def test_position_html():
    pos = read_position(DATA / "resp_pos_psf.json", "standard", job_id=9)
    html = pos._repr_html_()
    assert "standard" in html and "arcsec" in html and "9" in html
    none = read_position({"GotPos": 0, "Reason": "too few counts"}, "enhanced")
    assert "too few counts" in none._repr_html_()


def test_source_list_repr_and_html():
    lists = read_source_list(DATA / "src_all_bands.json", job_id="3512")
    assert isinstance(lists, SourceList)
    text = repr(lists)
    assert text == ("<SourceList job 3512: Total: 2 sources, Soft: 1 source, Medium: 0 sources, "
                    "Hard: 1 source>")
    html = lists._repr_html_()
    assert "<table" in html and "Total" in html and "coord" not in html


def test_image_set_repr_and_html(images):
    text = repr(images)
    assert text.startswith("<ImageSet GK Per, job ") and "3 image(s), 0.3-10, 0.3-1.5, 1.51-10 keV" in text
    assert "arcsec/pix" in text and "exposure maps: summed_ex, summed_vignet_ex" in text
    assert len(text.splitlines()) == 3
    html = images._repr_html_()
    assert "<table" in html and "emin" in html and "GK Per" in html
    assert isinstance(images.bands, Table)


def test_last_significant_digits_in_one_pass_match_the_shortest_repr():
    # The vectorised digit count used by the display formats agrees with repr() for values
    # written with 1 to 12 significant digits, and flags the longer ones as such.
    from xrtprods_astro.display import _NOISE_DIGITS, _last_digit, _last_digits
    rng = np.random.default_rng(7)
    raw = np.concatenate([rng.uniform(0, 1e4, 3000), 10 ** rng.uniform(-30, 30, 3000)])
    values = [float(f"{v:.{k}g}") for k in range(1, 14) for v in raw[::13]]
    values += list(raw) + [1200.0, 1e22, 1e16, 0.00311, 608713541.952, 5e-324, 1.7976931348623157e308]
    values = np.unique([v for v in values if v > 0])
    exponents = np.floor(np.log10(values)).astype(int)
    got = _last_digits(values, exponents)
    expected = np.array([_last_digit(v) for v in values])
    written = exponents - expected + 1 < _NOISE_DIGITS
    np.testing.assert_array_equal(exponents - got + 1 < _NOISE_DIGITS, written)
    np.testing.assert_array_equal(got[written], expected[written])
    assert _last_digit(1200.0) == 2 and _last_digit(0.00311) == -5 and _last_digit(3.5e-7) == -8


def test_few_values_get_the_format_the_vectorised_count_gives(monkeypatch):
    # Up to display._FEW distinct values are counted with repr() one by one: the formats must be
    # those of the vectorised count, for written values, noisy ones, offsets and mixes.
    import xrtprods_astro.display as display
    rng = np.random.default_rng(11)
    cases = []
    for n in (1, 2, 3, 7, 24):
        for k in (1, 3, 6, 12):
            cases.append([float(f"{v:.{k}g}") for v in 10 ** rng.uniform(-6, 9, n)])
        cases.append(list(rng.uniform(0, 1e3, n)))                     # arithmetic results
        cases.append(list(608713541.952 + rng.uniform(0, 10, n)))       # a MET offset
        cases.append([1.5e22, 2.25e22, 3.1e22][:n] + [0.0, np.nan][: max(0, n - 3)])
    for values in cases:
        few = column_format(values)
        monkeypatch.setattr(display, "_FEW", 0)
        assert column_format(values) == few, values
        monkeypatch.setattr(display, "_FEW", 24)


def test_combined_datasets_print_every_column_to_all_its_rows(lc):
    # Issue 20 item 19: vstack kept one dataset's formats (the lone PCUL row's MET as {:.4e}).
    table = lc.combined("rate")
    assert set(table["dataset"]) == {"WT", "PC", "PCUL"}
    text = "\n".join(table.pformat(max_width=-1, max_lines=-1))
    assert "e+08" not in text and "608865882.152" in text and "608713637.075" in text
    fresh = Table(table, copy=True)
    for name in fresh.colnames:
        fresh[name].info.format = None
    set_display_formats(fresh)
    for name in table.colnames:
        assert table[name].info.format == fresh[name].info.format, name
    assert table["met"][-1] == lc["PCUL"]["met"][0]       # the data are not changed
    series = lc.to_timeseries()
    assert series["met"].info.format == "{:.3f}" and "e+08" not in "\n".join(series.pformat(max_width=-1))
