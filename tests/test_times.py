# Licensed under a 3-clause BSD style license - see LICENSE
import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.times import (SWIFT_EPOCH, clock_error_estimate, format_time_ranges, met_to_time,
                                  parse_ukssdc_date, time_to_met, to_met, utcf_from_header, utcf_from_utc)


def _leaps(met):
    """Leap seconds since 2001 at a MET (2006, 2009, 2012, 2015, 2017)."""
    return int(np.searchsorted([157766400, 252460800, 362793600, 457401600, 504921600], met))


def test_epoch_is_2001_utc():
    assert SWIFT_EPOCH.utc.iso == "2001-01-01 00:00:00.000"
    assert met_to_time(0, utcf=0).iso == "2001-01-01 00:00:00.000"


def test_known_pair_leap_seconds():
    # Five leap seconds since 2001 and 19.2 s of drift: the naive datetime sum would say 10:40:00.
    # sw00948361000msufc0109.fits states UTCFINIT = -24.22998 at TSTART 600227310.0339.
    assert met_to_time(600000000).iso == "2020-01-06 10:39:35.785"
    assert met_to_time(600227310.0339).isot == met_to_time(600227310.0339, utcf=-24.22998).isot
    assert met_to_time(600000000).scale == "utc"


@pytest.mark.parametrize("utcf", [-25, -25 * u.s, Table({"met": [5e8, 7e8], "utcf": [-25, -25]})])
def test_utcf_follows_the_swift_definition(utcf):
    # MJD(UTC) = 51910 + (MET + UTCF) / 86400: UTCF includes the 5 leap seconds since 2001.
    corrected = met_to_time(600000000, utcf=utcf)
    assert corrected.mjd == pytest.approx(51910 + (600000000 - 25) / 86400, abs=1e-10)
    assert (corrected - met_to_time(600000000, utcf=0)).to_value(u.s) == pytest.approx(-25, abs=1e-6)


def test_utcf_table_interpolates():
    table = Table({"met": [0.0, 1e9], "utcf": [0.0, -20.0]})
    shift = (met_to_time(5e8, utcf=table) - met_to_time(5e8, utcf=0)).to_value(u.s)
    assert shift == pytest.approx(-10.0)


@pytest.mark.parametrize("met, stated", [
    (551097137.0, "2018 Jun 19 at 10:31:55.845 UT"),    # AT2018cow t0.date / curve.qdp header
    (165762738.2, "2006 Apr 03 at 13:12:17.130 UT"),    # GRB 060403 curve.qdp header
    (246846304.0, "2008 Oct 28 at 00:25:00.791 UT"),    # GRB 081028 curve.qdp header
])
def test_utcf_from_ukssdc_dates_round_trips(met, stated):
    utc = parse_ukssdc_date(stated)
    utcf = utcf_from_utc(met, utc)
    assert abs((met_to_time(met, utcf=utcf) - utc).to_value(u.s)) < 1e-6
    assert float(time_to_met(utc, utcf=utcf)) == pytest.approx(met, abs=1e-6)
    # Without any correction the error would be the clock drift, which the estimate sizes;
    # the clock table (these are among its points) gives UKSSDC's UTC to the point's precision.
    drift = abs((met_to_time(met, utcf=0) - utc).to_value(u.s)) - _leaps(met)
    assert abs(clock_error_estimate(met) - drift) < 0.1
    assert abs((met_to_time(met) - utc).to_value(u.s)) < 0.051


def test_at2018cow_needs_the_clock_correction():
    # Leap seconds alone would be 16 s late for AT2018cow (issue 10); the table is not.
    assert met_to_time(551097137.0, utcf=-5).isot == "2018-06-19T10:32:12.000"
    assert met_to_time(551097137.0, utcf=-21.155).isot == "2018-06-19T10:31:55.845"
    assert met_to_time(551097137.0).isot == "2018-06-19T10:31:55.845"


def test_parse_ukssdc_date_forms():
    assert parse_ukssdc_date("2018 Jun 19 at 10:31:55.845 UT").isot == "2018-06-19T10:31:55.845"
    assert parse_ukssdc_date("2020-04-16 07:05:36.952").isot == "2020-04-16T07:05:36.952"
    assert parse_ukssdc_date("no date here") is None


def test_utcf_from_fits_header():
    assert utcf_from_header({"UTCFINIT": -20.891}) == (-20.891, "UTCFINIT")
    header = {"TSTART": 551097137.0, "DATE-OBS": "2018-06-19T10:31:55.845"}
    utcf, key = utcf_from_header(header)
    assert key == "DATE-OBS" and utcf == pytest.approx(-21.155, abs=1e-6)
    assert utcf_from_header({"TSTART": 5e8}) == (None, None)


@pytest.mark.parametrize("met", [1e15, -1e12, np.nan, np.inf, [5e8, 1e13]])
def test_met_out_of_range_is_a_value_error_not_erfa(met):
    import erfa
    try:
        met_to_time(met)
    except erfa.ErfaError:   # pragma: no cover - the old behaviour
        pytest.fail("ErfaError leaked")
    except ValueError as exc:
        assert "not a Swift MET" in str(exc)
    else:
        pytest.fail("no error")


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
    t = met_to_time([600000000, 600003600])
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
