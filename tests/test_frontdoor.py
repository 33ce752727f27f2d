# Licensed under a 3-clause BSD style license - see LICENSE
"""The one-call queries' front door: payloads, defaults, parameter routing, errors (nothing is sent)."""
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.times import to_met

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
LC = dict(binning="counts", pc_counts=20, wt_counts=30, dynamic=True)


@pytest.fixture
def client(monkeypatch):
    c = XRTProductsClass(email="me@example.org")

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(c, "_request", refuse)
    return c


def test_payload_has_envelope_and_documented_defaults(client):
    wire = client.get_lightcurve(GRB, name="GRB 200416A", get_query_payload=True, **LC)
    assert wire == {"api_name": "xrt_prods", "api_version": "1.12", "UserID": "me@example.org",
                    "name": "GRB 200416A", "RA": 335.6985, "Dec": -7.5179, "cent": 1, "poserr": 1,
                    "useSXPS": 0, "getTargs": 1, "lc": 1, "binMeth": "counts", "pccounts": 20,
                    "wtcounts": 30, "dynamic": 1}


def test_user_overrides_defaults_in_any_spelling(client):
    wire = client.get_lightcurve(GRB, get_query_payload=True, cent=False, useSXPS=True,
                                 targ="00968211", **LC)
    assert wire["cent"] == 0 and "poserr" not in wire
    assert wire["useSXPS"] == 1
    assert wire["targ"] == "00968211" and wire.get("getTargs", 0) == 0
    wire = client.get_lightcurve(GRB, get_query_payload=True, posErr=3 * u.arcmin, **LC)
    assert (wire["cent"], wire["poserr"]) == (1, 3)


def test_parameters_routed_in_friendly_ukssdc_and_wire_spelling(client):
    wire = client.get_lightcurve(GRB, get_query_payload=True, binMeth="time", pcbin=500 * u.s,
                                 wt_bin_time=0.02 * u.min, minEnergy=0.5 * u.keV, pos_radius=30 * u.arcsec)
    assert (wire["binMeth"], wire["pcbin"], wire["wtbin"], wire["minen"]) == ("time", 500, 1.2, 0.5)
    assert wire["posRadius"] == 30  # a global, routed to the request itself


def test_parameter_of_another_product_is_refused_clearly(client):
    with pytest.raises(InvalidRequestError, match="'inc_hours' is a spectrum parameter.*lightcurve only"):
        client.get_lightcurve(GRB, get_query_payload=True, inc_hours=3, **LC)
    with pytest.raises(InvalidRequestError, match="'pc_count' is not a light curve parameter.*pc_counts"):
        client.get_lightcurve(GRB, get_query_payload=True, pc_count=3, binning="counts")


def test_lightcurve_without_binning_gets_the_ukssdc_grb_binning(client):
    wire = client.get_lightcurve(GRB, get_query_payload=True)
    assert (wire["binMeth"], wire["pccounts"], wire["wtcounts"], wire["dynamic"]) == ("counts", 20, 30, 1)
    # The user's values win over the defaults, in any spelling ...
    wire = client.get_lightcurve(GRB, get_query_payload=True, pcCounts=50)
    assert (wire["binMeth"], wire["pccounts"], wire["wtcounts"]) == ("counts", 50, 30)
    # ... and a binning of the user's own brings no counts settings with it.
    wire = client.get_lightcurve(GRB, get_query_payload=True, binning="time", pc_bin_time=100, wt_bin_time=10)
    assert wire["binMeth"] == "time" and "pccounts" not in wire and "dynamic" not in wire


def test_spectrum_time_range_from_time_pair(client):
    start, stop = Time("2020-04-16T08:00:00"), Time("2020-04-16T10:00:00")
    wire = client.get_spectrum(GRB, get_query_payload=True, time_range=(start, stop))
    lo, hi = (float(x) for x in wire["usespecobs"].split("-"))
    assert lo == pytest.approx(to_met(start), abs=1)
    assert hi == pytest.approx(to_met(stop), abs=1)
    assert wire["specobs"] == "user"
    assert (wire["spec"], wire["dchi"], wire["specz"]) == (1, 2.706, 0)


def test_positions_take_shared_parameters(client):
    wire = client.get_position(GRB, "enhanced", get_query_payload=True, which_data="all",
                               det_or_cent="centroid")
    assert (wire["doenh"], wire["posobs"], wire["detornot"]) == (1, "all", "centroid")
    assert "dopsf" not in wire
    wire = client.get_position(GRB, "xastrom", get_query_payload=True, use_all_obs=True)
    assert (wire["doxastrom"], wire["allxastrom"]) == (1, 1)
    with pytest.raises(InvalidRequestError, match="kind: 'best'"):
        client.get_position(GRB, "best", get_query_payload=True)


def test_image_and_source_list_payloads(client):
    wire = client.get_image(GRB, get_query_payload=True, energies="0.3-2,2-10")
    assert (wire["image"], wire["imen"]) == (1, "0.3-2,2-10")
    wire = client.get_source_list(GRB, get_query_payload=True, which_data="all", which_bands="all")
    assert (wire["sourceDet"], wire["detobs"], wire["detbands"]) == (1, "all", "all")


def test_service_resolver_sends_the_name(client):
    wire = client.get_lightcurve("GRB 200416A", resolver="service", get_query_payload=True, **LC)
    assert (wire["name"], wire["getCoords"]) == ("GRB 200416A", 1)
    assert "RA" not in wire and "Dec" not in wire
    with pytest.raises(InvalidRequestError, match="ra/dec"):
        client.get_lightcurve("GRB 200416A", resolver="service", get_query_payload=True, ra=1, dec=2, **LC)


def test_submit_keywords_and_ready_requests(client):
    wire = client.submit(GRB, lightcurve=LC, standard_position=True, notify=True, get_query_payload=True)
    assert (wire["lc"], wire["dopsf"], wire["notify"]) == (1, 1, 1)
    request = ProductRequest(GRB, get_targs=True, centroid=False, use_sxps=False, lightcurve=LC)
    wire = client.submit(request, get_query_payload=True)
    assert wire["cent"] == 0 and "poserr" not in wire
    with pytest.raises(InvalidRequestError, match="not allowed with a ready request"):
        client.submit(request, spectrum=True)
    with pytest.raises(InvalidRequestError, match="no target"):
        client.submit(lightcurve=LC)


def test_payload_without_email_leaves_user_empty(monkeypatch):
    c = XRTProductsClass()
    monkeypatch.setattr(c, "_request", lambda *a, **k: pytest.fail("nothing may be sent"))
    assert c.get_image(GRB, get_query_payload=True)["UserID"] == ""


def test_rebin_parameters_in_any_spelling(client, monkeypatch):
    sent = {}

    def call_common(url, func, payload, **kw):
        sent.update(payload)
        return {"JobID": 5}

    monkeypatch.setattr(client._transport, "call_common", call_common)
    assert client.rebin_lightcurve(7, name="X", binning="time", pc_bin_time=2 * u.min, wtbin=1,
                                   minEnergy=500 * u.eV, dynamic=False) == 5
    assert sent == {"type": "UOB_LC", "objectID": 7, "binMeth": "time", "pcBinTime": 120.0,
                    "wtBinTime": 1, "minEnergy": 0.5, "dynamic": False, "name": "X"}
    assert sent["dynamic"] is False
    with pytest.raises(InvalidRequestError, match="inc_hours"):
        client.rebin_lightcurve(7, name="X", binning="time", inc_hours=3)
