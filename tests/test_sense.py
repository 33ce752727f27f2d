# Licensed under a 3-clause BSD style license - see LICENSE
"""A newcomer's first calls (issue 13): defaults that work, physical sense before sending, help().

Every check here runs on the payload (``get_query_payload=True``): nothing is sent.
"""
import pydoc

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from xrtprods_astro import params as P
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.targets import parse_coordinate_string, resolve_target

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
#: MET of the BAT trigger of GRB 200416A: a time inside Swift's lifetime.
T0 = 608713541.952


@pytest.fixture
def client():
    return XRTProductsClass(server="https://example.invalid/", email="you@example.org")


def payload(client, method, *args, **params):
    return getattr(client, method)(GRB, *args, get_query_payload=True, **params)


def message(excinfo):
    return "\n".join(excinfo.value.problems)


# ------------------------------------------------------------------ 3. defaults that make first calls work

def test_readme_quick_look_counts_binning_needs_nothing_more(client):
    """README's call (binning, pc_counts, wt_counts, no dynamic) gets dynamic as UKSSDC's GRB curves."""
    wire = payload(client, "get_lightcurve", binning="counts", pc_counts=20, wt_counts=30)
    assert (wire["binMeth"], wire["pccounts"], wire["wtcounts"], wire["dynamic"]) == ("counts", 20, 30, 1)


@pytest.mark.parametrize("given, expected", [
    ({"binMeth": "Counts", "pcCounts": 50, "wt_counts": 5}, (50, 5, 1)),
    ({"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": False}, (20, 30, 0)),
])
def test_counts_binning_fills_only_dynamic(client, given, expected):
    wire = payload(client, "get_lightcurve", **given)
    assert (wire["pccounts"], wire["wtcounts"], wire["dynamic"]) == expected


def test_counts_binning_default_through_submit_and_a_base_request(client):
    wire = client.submit(GRB, lightcurve={"binning": "counts", "pc_counts": 7, "wt_counts": 9},
                         get_query_payload=True)
    assert wire["dynamic"] == 1
    from xrtprods_astro.builder import build_request
    base = ProductRequest(GRB, lightcurve={"binning": "counts", "pc_counts": 7})
    request, _ = build_request(base=base, products={"lightcurve": {"wt_counts": 9}})
    assert request.params("lightcurve") == {"binning": "counts", "pc_counts": 7, "wt_counts": 9,
                                            "dynamic": True}


def test_counts_per_bin_stay_the_users_choice_and_the_error_says_the_likely_one(client):
    with pytest.raises(InvalidRequestError) as exc:
        payload(client, "get_lightcurve", binning="counts")
    assert message(exc).splitlines() == [
        "lightcurve: binning='counts' needs pc_counts (UKSSDC pcCounts), which is not set (a whole number in "
        "ct, or a Quantity (at least 1); UKSSDC's GRB light curves use pc_counts=20)",
        "lightcurve: binning='counts' needs wt_counts (UKSSDC wtCounts), which is not set (a whole number in "
        "ct, or a Quantity (at least 1); UKSSDC's GRB light curves use wt_counts=30)"]


def test_time_binning_is_not_given_counts_settings(client):
    wire = payload(client, "get_lightcurve", binning="time", pc_bin_time=100, wt_bin_time=10)
    assert not {"pccounts", "wtcounts", "dynamic"} & set(wire)


def test_source_list_without_which_data(client):
    wire = payload(client, "get_source_list")
    assert wire["sourceDet"] == 1 and wire["detobs"] == "all"


def test_not_set_messages_name_allowed_values_and_the_likely_choice():
    req = ProductRequest(name="x", lightcurve={"binning": "counts"}, source_detection=True,
                         spectrum={"has_redshift": True, "which_data": "user"})
    lines = req.problems()
    assert ("lightcurve: binning='counts' needs dynamic, which is not set (True or False; UKSSDC's GRB "
            "light curves use dynamic=True)") in lines
    assert ("lightcurve: binning='counts' needs pc_counts (UKSSDC pcCounts), which is not set (a whole "
            "number in ct, or a Quantity (at least 1); UKSSDC's GRB light curves use pc_counts=20)") in lines
    assert any(line.startswith("global parameter centroid is not set (True or False; UKSSDC's own examples "
                               "use centroid=True") for line in lines)
    not_set = [line for line in lines if "not set" in line]
    assert len(not_set) >= 8
    # Every one says what is allowed, in parentheses, as the catalogue describes the parameter.
    for line in not_set:
        assert line.endswith(")") and " (" in line, line


def test_time_binning_message_says_bins_take_quantities():
    with pytest.raises(InvalidRequestError) as exc:
        ProductRequest(GRB, name="x", centroid=False, use_sxps=False, get_targs=True,
                       lightcurve={"binning": "time"}).validate()
    assert "needs pc_bin_time (UKSSDC pcBinTime), which is not set (a number in s, or a Quantity such as " \
           "1*u.day (at least the PC frame time, 2.5073 s)" in message(exc)


# ---------------------------------------------------------------- 5. physical sense before anything is sent

def test_mjds_as_a_time_range_are_refused_with_the_fix(client):
    with pytest.raises(InvalidRequestError) as exc:
        payload(client, "get_spectrum", time_range=(57082, 57113))
    text = message(exc)
    assert "spectrum: time_range: 57082, 57113" in text and "before Swift's launch (2004-11-20" in text
    assert "these look like MJDs: pass Time(57082, format='mjd')" in text
    # The fix, as printed, is accepted.
    wire = payload(client, "get_spectrum", time_range=(Time(57082, format="mjd"), Time(57113, format="mjd")))
    start, stop = (float(x) for x in wire["usespecobs"].split("-"))
    assert 4.4e8 < start < stop < 4.5e8


@pytest.mark.parametrize("params, hint", [
    ({"t0": 2458955.3}, "these look like JDs: pass Time(2458955.3, format='jd')"),
    ({"time_range": (1.6e9, 1.7e9)}, "these look like Unix times"),
    ({"time_range": (100, 200)}, "for seconds since T0 set t0 and since_t0=True"),
])
def test_other_plain_numbers_outside_swifts_life_are_refused(client, params, hint):
    with pytest.raises(InvalidRequestError) as exc:
        payload(client, "get_lightcurve", **params)
    assert hint in message(exc) and "outside Swift's lifetime" in message(exc)


def test_future_times_and_service_syntax_strings_are_checked():
    future = Time.now() + 30 * u.day
    with pytest.raises(InvalidRequestError, match="after now"):
        ProductRequest(GRB, name="x", centroid=False, use_sxps=False, get_targs=True,
                       spectrum={"time_range": (Time.now() - 1 * u.day, future)}).validate()
    req = ProductRequest(GRB, name="x", centroid=False, use_sxps=False, get_targs=True,
                         spectrum={"timeslice": "user", "rname1": "a", "gti1": "57082-57113"})
    assert any("spectrum: gti1: 57082, 57113" in p and "MJDs" in p for p in req.problems())
    # Obs IDs are not times.
    req.add_product("spectrum", gti1=f"{T0}-{T0 + 1000}", use_obs="00012345001")
    assert req.is_valid


def test_seconds_since_t0_may_be_small(client):
    wire = payload(client, "get_spectrum", t0=T0, since_t0=True, time_range=(100, 200))
    assert wire["usespecobs"] == "100-200"


def test_bins_shorter_than_the_frame_time_are_refused(client):
    with pytest.raises(InvalidRequestError) as exc:
        payload(client, "get_lightcurve", binning="time", pc_bin_time=1, wt_bin_time=10)
    text = message(exc)
    for piece in ("pc_bin_time", "is 1 s", "PC frame time (2.5073 s)", "1*u.day"):
        assert piece in text
    with pytest.raises(InvalidRequestError, match=r"WT frame time \(0.001766 s\)"):
        payload(client, "get_lightcurve", binning="time", pc_bin_time=100, wt_bin_time=1 * u.ms)
    with pytest.raises(InvalidRequestError, match="pc_hr_bin_time"):
        payload(client, "get_lightcurve", match_hr=False, pc_hr_bin_time=1, wt_hr_bin_time=1)
    # A day as meant: a Quantity, or its text.
    wire = payload(client, "get_lightcurve", binning="time", pc_bin_time=1 * u.day, wt_bin_time="2 ms")
    assert (wire["pcbin"], wire["wtbin"]) == (86400, 0.002)
    # The server defaults are at least a frame.
    for name in ("pc_bin_time", "wt_bin_time", "pc_hr_bin_time", "wt_hr_bin_time"):
        record = P.lookup(name, "lightcurve")
        assert record.check_frame(record.default) is None


@pytest.mark.parametrize("text", ["335.6985 -7.5179", "335.6985, -7.5179", "22h22m47.64s -07d31m04.4s",
                                  "22:22:47.64 -07:31:04.4", "22 22 47.64 -07 31 04.4"])
def test_coordinate_strings_are_positions_not_names(client, monkeypatch, text):
    def no_resolver(*args, **kwargs):
        raise AssertionError("a coordinate string must not be sent to a name resolver")
    monkeypatch.setattr(SkyCoord, "from_name", no_resolver)
    for resolver in ("client", "service"):
        wire = payload(client, "get_lightcurve", resolver=resolver)
        assert abs(wire["RA"] - 335.6985) < 1e-4 and abs(wire["Dec"] + 7.5179) < 1e-4
        assert "getCoords" not in wire and wire["name"] == "J222247.6-073104"
    found = resolve_target(text)
    assert found.meta == {"target": text, "resolver": "coordinates"}


def test_names_are_still_resolved(monkeypatch):
    asked = []

    def from_name(name, *args, **kwargs):
        asked.append(name)
        return GRB
    monkeypatch.setattr(SkyCoord, "from_name", from_name)
    for name in ("GRB 200416A", "GK Per", "1E 1740.7-2942", "4U 1820-30", "PSR B1919+21"):
        assert parse_coordinate_string(name) is None
        assert resolve_target(name, resolver="client").meta["resolver"] == "client"
    assert asked == ["GRB 200416A", "GK Per", "1E 1740.7-2942", "4U 1820-30", "PSR B1919+21"]


def test_numbers_that_are_no_position_are_refused():
    with pytest.raises(InvalidRequestError, match="'10 100' is not a sky position"):
        resolve_target("10 100")


# ------------------------------------------------------------------------- 7. help() lists the parameters

@pytest.mark.parametrize("method, products", [
    ("get_lightcurve", ["lightcurve"]), ("get_spectrum", ["spectrum"]), ("get_image", ["image"]),
    ("get_source_list", ["source_detection"]),
    ("get_position", ["standard_position", "enhanced_position", "astrometric_position"]),
    ("submit", [None]),
])
def test_help_lists_every_parameter_of_the_product(method, products):
    text = pydoc.render_doc(getattr(XRTProductsClass, method), renderer=pydoc.plaintext)
    assert "Other Parameters" in text
    for key in products:
        for row in P.catalogue_table(key) if key else P.catalogue_table()[[
                r["product"] == "" for r in P.catalogue_table()]]:
            assert f"\n    {row['name']} : " in text, row["name"]
            if row["default"]:
                assert row["default"] in text


def test_help_of_get_lightcurve_shows_units_defaults_and_allowed_values():
    text = " ".join(pydoc.render_doc(XRTProductsClass.get_lightcurve, renderer=pydoc.plaintext).split())
    for piece in ("binning : {'counts', 'time', 'snapshot', 'obsid'}, optional",
                  "pc_bin_time : float or Quantity [s], optional",
                  "at least the PC frame time, 2.5073 s", "Server default: 2.51 s",
                  "Default here: counts (as UKSSDC's GRB light curves", "UKSSDC name: ``pcBinTime``",
                  "time_range : (start, stop) of Time"):
        assert piece in text, piece


def test_docstring_sections_are_numpydoc():
    docscrape = pytest.importorskip("numpydoc.docscrape")
    doc = docscrape.FunctionDoc(XRTProductsClass.get_spectrum)
    names = [p.name for p in doc["Other Parameters"]]
    expected = [p.name for p in P.params_for("spectrum")]
    # In catalogue order, with the time_range convenience after use_obs.
    assert [n for n in names if n != "time_range"] == expected
    assert names.index("time_range") == names.index("use_obs") + 1
    assert all(p.desc for p in doc["Other Parameters"])
