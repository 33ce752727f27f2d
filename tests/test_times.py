# Licensed under a 3-clause BSD style license - see LICENSE
import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.times import (SWIFT_EPOCH, format_time_ranges, met_to_time,
                                  time_to_met, to_met)


def test_epoch_is_2001_utc():
    assert SWIFT_EPOCH.utc.iso == "2001-01-01 00:00:00.000"
    assert met_to_time(0).iso == "2001-01-01 00:00:00.000"


def test_known_pair_leap_seconds():
    # Five leap seconds since 2001: the naive datetime sum would say 10:40:00.
    assert met_to_time(600000000).iso == "2020-01-06 10:39:55.000"
    assert met_to_time(600000000).scale == "utc"


@pytest.mark.parametrize("utcf", [-25, -25 * u.s, Table({"met": [5e8, 7e8], "utcf": [-25, -25]})])
def test_utcf_moves_by_its_value(utcf):
    assert (met_to_time(600000000, utcf=utcf) - met_to_time(600000000)).to_value(u.s) == pytest.approx(-25)


def test_utcf_table_interpolates():
    table = Table({"met": [0.0, 1e9], "utcf": [0.0, -20.0]})
    shift = (met_to_time(5e8, utcf=table) - met_to_time(5e8)).to_value(u.s)
    assert shift == pytest.approx(-10.0)


def test_round_trip_arrays():
    met = np.array([1e8, 6e8, 7.5e8])
    assert np.allclose(time_to_met(met_to_time(met)), met, atol=1e-6)
    assert np.allclose(time_to_met(met_to_time(met, utcf=-28.3), utcf=-28.3), met, atol=1e-6)


def test_to_met_kinds():
    assert to_met(Time("2020-01-06T10:39:55")) == pytest.approx(6e8)
    assert to_met(2 * u.ks) == 2000.0
    assert to_met(12.5) == 12.5
    assert to_met(Time("2020-01-06T10:40:55"), t0=Time("2020-01-06T10:39:55")) == pytest.approx(60)


@pytest.mark.parametrize("bad", ["yesterday", True, 3 * u.m, None])
def test_to_met_rejects_non_times_naming_the_parameter(bad):
    with pytest.raises(InvalidRequestError, match="gti1"):
        to_met(bad, name="gti1")


def test_format_ranges():
    t = Time(["2020-01-06T10:39:55", "2020-01-06T11:39:55"])
    assert format_time_ranges(t) == "600000000-600003600"
    assert format_time_ranges([t, t + 2 * u.h]) == "600000000-600003600,600007200-600010800"
    assert format_time_ranges((0, 1000)) == "0-1000"
    assert format_time_ranges([(0 * u.s, 1 * u.ks), (2e3, 3.5e3)]) == "0-1000,2000-3500"
    assert format_time_ranges((608713541.952, 608714541.952)) == "608713541.952-608714541.952"


@pytest.mark.parametrize("bad, why", [((10, 5), "ends before"), ((-5, 5), "negative"),
                                      ([(1, 2, 3)], "pair"), ([], "no time range")])
def test_format_ranges_errors(bad, why):
    with pytest.raises(InvalidRequestError, match=why):
        format_time_ranges(bad)
