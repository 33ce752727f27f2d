# Licensed under a 3-clause BSD style license - see LICENSE
"""Targets: SkyCoord, names resolved here or by the service, SIMBAD / VizieR / HEASARC rows."""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.coordinates.name_resolve import NameResolveError
from astropy.table import QTable, Table

from xrtprods_astro import conf
from xrtprods_astro.exceptions import InvalidRequestError, ResolverError
from xrtprods_astro.targets import resolve_target

GRB = SkyCoord(335.6985, -7.5179, unit="deg")


@pytest.fixture
def sesame(monkeypatch):
    """SkyCoord.from_name without the network: a tiny table of names, counting calls."""
    calls = []
    known = {"GK Per": SkyCoord(52.79917, 43.90464, unit="deg")}

    def from_name(name, *args, **kwargs):
        calls.append(name)
        if name not in known:
            raise NameResolveError(f"Unable to find coordinates for name '{name}'")
        return known[name]

    monkeypatch.setattr(SkyCoord, "from_name", staticmethod(from_name))
    return calls


def test_skycoord_gets_iau_style_name_in_any_frame():
    target = resolve_target(GRB.galactic)
    assert target.name == "J222247.6-073104"
    assert target.coord.icrs.separation(GRB) < 1e-6 * u.arcsec
    assert target.get_coords is False
    assert target.meta["resolver"] == "coordinates"
    assert resolve_target(GRB, name="GRB 200416A").name == "GRB 200416A"


def test_array_skycoord_refused():
    with pytest.raises(InvalidRequestError, match="2 positions"):
        resolve_target(SkyCoord([1, 2], [3, 4], unit="deg"))


def test_name_resolved_on_client_is_recorded(sesame):
    target = resolve_target("GK Per")
    assert sesame == ["GK Per"]
    assert target.name == "GK Per"
    assert target.coord.ra.deg == pytest.approx(52.79917)
    assert target.meta["resolver"] == "client"
    assert target.meta["resolved_coord"].dec.deg == pytest.approx(43.90464)
    assert target.request_kwargs()["target"] is target.coord


def test_unresolvable_name_names_it(sesame):
    with pytest.raises(ResolverError, match="'No Such Star'.*resolver='service'"):
        resolve_target("No Such Star")


def test_service_resolver_sends_name_and_get_coords(sesame):
    target = resolve_target("GK Per", resolver="service")
    assert sesame == []
    assert (target.name, target.coord, target.get_coords) == ("GK Per", None, True)
    assert target.request_kwargs() == {"target": "GK Per", "get_coords": True}


def test_conf_name_resolver_is_read_at_use_time(sesame):
    with conf.set_temp("name_resolver", "service"):
        assert resolve_target("GK Per").get_coords is True
    assert resolve_target("GK Per").get_coords is False
    with pytest.raises(InvalidRequestError, match="resolver: 'sesame' is not allowed"):
        resolve_target("GK Per", resolver="sesame")


def test_simbad_row_current_layout():
    table = Table({"main_id": ["V* GK Per"], "ra": [52.79917], "dec": [43.90464]})
    table["ra"].unit = u.deg
    table["dec"].unit = u.deg
    target = resolve_target(table[0])
    assert target.name == "V* GK Per"
    assert target.coord.ra.deg == pytest.approx(52.79917)
    assert target.meta["name_column"] == "main_id"
    # A one-row table works as the row does.
    assert resolve_target(table).coord.dec.deg == pytest.approx(43.90464)


def test_simbad_row_old_sexagesimal_layout():
    table = Table({"MAIN_ID": [b"V* GK Per"], "RA": ["03 31 11.8200"], "DEC": ["+43 54 16.704"]})
    target = resolve_target(table[0])
    assert target.name == "V* GK Per"
    assert target.coord.ra.deg == pytest.approx(52.79925, abs=1e-5)
    assert target.coord.dec.deg == pytest.approx(43.90464, abs=1e-5)


def test_vizier_rows():
    table = Table({"recno": [1], "2SXPS": ["2SXPS J033111.8+435416"], "RAJ2000": [52.7992],
                   "DEJ2000": [43.9046]})
    table["RAJ2000"].unit = u.deg
    target = resolve_target(table[0])
    assert target.name == "2SXPS J033111.8+435416"
    assert target.coord.ra.deg == pytest.approx(52.7992)
    underscored = Table({"_RA": [10.5], "_DE": [-5.25]})
    target = resolve_target(underscored[0])
    assert target.coord.dec.deg == pytest.approx(-5.25)
    assert target.name == "J004200.0-051500"


def test_heasarc_2sxps_row_with_quantities():
    table = QTable({"name": ["2SXPS J222247.6-073104"], "ra": [335.6985] * u.deg,
                    "dec": [-7.5179 * 3600] * u.arcsec})
    target = resolve_target(table[0])
    assert target.name == "2SXPS J222247.6-073104"
    assert target.coord.separation(GRB) < 0.01 * u.arcsec
    assert target.meta["resolver"] == "table"


def test_bad_tables():
    with pytest.raises(InvalidRequestError, match="a Table of 2 rows"):
        resolve_target(Table({"ra": [1.0, 2.0], "dec": [3.0, 4.0]}))
    with pytest.raises(InvalidRequestError, match="no position and no name"):
        resolve_target(Table({"x": [1.0], "y": [2.0]})[0])
    masked = Table({"ra": np.ma.array([1.0], mask=[True]), "dec": [2.0]}, masked=True)
    with pytest.raises(InvalidRequestError, match="masked"):
        resolve_target(masked[0])
    with pytest.raises(InvalidRequestError, match="not a target"):
        resolve_target(12.5)
    with pytest.raises(InvalidRequestError, match="empty name"):
        resolve_target("  ")


@pytest.mark.parametrize("text, fragment", [
    ("395.6985 -7.5179", "RA 395.6985 deg, outside 0 to 360 deg"),
    ("-5.0 10.0", "outside 0 to 360 deg"),
    ("395d -7d", "outside 0 to 360 deg"),
    ("22h22m4x.6s -07d31m04.4s", "is not a sky position"),
    ("26h00m00s +10d00m00s", "is not a sky position"),
])
def test_malformed_coordinate_strings_are_refused_not_wrapped_or_resolved(monkeypatch, text, fragment):
    # Issue 20 item 20: 395.6985 was wrapped to RA 35.7 deg; a typo in sexagesimal text went to the
    # name resolver. Both are errors naming the parameter, and no resolver is asked.
    def no_resolver(*args, **kwargs):
        raise AssertionError("malformed coordinates must not be resolved as a name")
    monkeypatch.setattr(SkyCoord, "from_name", no_resolver)
    with pytest.raises(InvalidRequestError, match="target: ") as info:
        resolve_target(text, resolver="client")
    assert fragment in str(info.value)


@pytest.mark.parametrize("text", ["335.6985 -7.5179", "22h22m47.64s -07d31m04.4s", "22:22:47.64 -07:31:04.4",
                                  "0 0", "359.99 89.9"])
def test_well_formed_coordinate_strings_still_read(text):
    assert resolve_target(text).meta["resolver"] == "coordinates"
