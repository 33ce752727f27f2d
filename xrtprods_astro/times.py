# Licensed under a 3-clause BSD style license - see LICENSE
"""
Swift mission elapsed time (MET) and astropy `~astropy.time.Time`.

MET counts seconds of the spacecraft clock from 2001-01-01T00:00:00 UTC. The
clock drifts, and Swift defines the correction to UTC as (HEASARC Swift time
guide; ``UTCFINIT`` in FITS headers)::

    MJD(UTC) = 51910 + (MET + UTCF) / 86400

where UTCF (about -21 s in 2018, -28 s in 2022) absorbs the leap seconds
since 2001 *and* the clock drift. `met_to_time` applies exactly that formula
when given UTCF. Without it, MET is converted through the 2001.0 epoch held
on the TT scale (``MJDREFI = 51910``, ``MJDREFF = 7.428703703703703e-4``):
the leap seconds are then right and only the drift is missing, an error that
`clock_error_estimate` sizes (about 0 s in 2005, 16 s in 2018, 23 s in 2022).

UKSSDC products state their own UTC where they can (``t0.date``, the
``T0 for this burst is Swift MET=..., = <date> UT`` header line, FITS
``UTCFINIT`` / ``DATE-OBS``): `utcf_from_utc` and `utcf_from_header` turn
those into the UTCF to apply.
"""
import re

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time, TimeDelta

from .exceptions import InvalidRequestError

__all__ = ["SWIFT_MJDREFI", "SWIFT_MJDREFF", "SWIFT_EPOCH", "MET_RANGE", "met_to_time",
           "time_to_met", "to_met", "format_time_ranges", "utcf_from_utc", "utcf_from_header",
           "parse_ukssdc_date", "clock_error_estimate"]

SWIFT_MJDREFI = 51910
SWIFT_MJDREFF = 7.428703703703703e-4
#: The MET zero point, 2001-01-01T00:00:00 UTC, held on the TT scale.
SWIFT_EPOCH = Time(SWIFT_MJDREFI, SWIFT_MJDREFF, format="mjd", scale="tt")
#: The MET values `met_to_time` accepts, in seconds: the 32-bit spacecraft clock.
MET_RANGE = (0.0, 2.0 ** 32)

# Swift clock drift (UTCF plus the leap seconds since 2001, s) at known dates,
# for sizing the error of uncorrected times only. From UTCFINIT values of XRT
# FITS headers and UKSSDC's own T0 dates (GRB 060403, GRB 081028, AT2018cow);
# see docs/times.rst. Later dates extrapolate at the last slope.
_DRIFT_MJD = np.array([53828.55, 54544.0, 54771.02, 55271.0, 55856.0, 57789.0, 58288.44, 59580.0])
_DRIFT_S = np.array([-0.07, -1.655, -2.209, -3.619, -5.494, -13.568, -16.155, -23.357])


def _check_met(seconds, name="met"):
    """Refuse MET values no Swift clock can hold (ERFA would fail obscurely)."""
    arr = np.asarray(seconds, dtype=float)
    bad = ~np.isfinite(arr) | (arr < MET_RANGE[0]) | (arr >= MET_RANGE[1])
    if np.any(bad):
        value = arr[bad].flat[0] if arr.ndim else float(arr)
        raise ValueError(f"{name}: {value!r} s is not a Swift MET; expected a finite number of seconds "
                         f"from {MET_RANGE[0]:.0f} to 2**32 (2001-01-01 to 2137)")


def parse_ukssdc_date(text):
    """A UKSSDC date such as ``"2006 Apr 03 at 13:12:17.130 UT"`` as a UTC `~astropy.time.Time`.

    ISO dates (``2006-04-03 13:12:17.130``) are read too. Returns None when
    ``text`` holds no date.
    """
    iso = re.search(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2}(?:\.\d*)?)", str(text))
    if iso is not None:
        return Time("{}-{}-{}T{}:{}:{}".format(*iso.groups()), scale="utc")
    m = re.search(r"(\d{4})[ -]([A-Za-z]{3})[a-z]*[ -](\d{1,2})(?:\s+at)?[\sT]+"
                  r"(\d{1,2}):(\d{2}):(\d{2}(?:\.\d*)?)", str(text))
    if m is None:
        return None
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    try:
        month = months.index(m.group(2).lower()) + 1
    except ValueError:
        return None
    year, day, hour, minute, sec = int(m.group(1)), int(m.group(3)), int(m.group(4)), int(m.group(5)), \
        m.group(6)
    return Time(f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{sec}", scale="utc")


def utcf_from_utc(met, utc):
    """The UTCF that makes ``met`` the UTC instant ``utc``.

    Parameters
    ----------
    met : float
        Swift MET in seconds.
    utc : `~astropy.time.Time`
        The same instant as UKSSDC (or a FITS header) states it.

    Returns
    -------
    float
        UTCF in seconds, to use with `met_to_time`.
    """
    t = Time(utc).utc
    # Days since 2001.0 counted as UTC MJD (86400 s a day), as the UTCF formula does.
    days = (t.jd1 - (2400000.5 + SWIFT_MJDREFI)) + t.jd2
    return float(days * 86400.0 - float(met))


def utcf_from_header(header):
    """UTCF in seconds from a Swift FITS header, and which keyword gave it.

    ``UTCFINIT`` is used when present; otherwise ``DATE-OBS`` (UTC, often to
    the whole second only) against ``TSTART`` (+ ``TIMEZERO``), when the two
    are the same instant (they differ by less than 120 s).

    Parameters
    ----------
    header : `~astropy.io.fits.Header` or mapping

    Returns
    -------
    (float, str) or (None, None)
        The UTCF and ``"UTCFINIT"`` or ``"DATE-OBS"``; ``(None, None)`` when
        the header carries neither.
    """
    if header.get("UTCFINIT") not in (None, ""):
        return float(header["UTCFINIT"]), "UTCFINIT"
    date, tstart = header.get("DATE-OBS"), header.get("TSTART")
    if date and tstart not in (None, "") and "T" in str(date):
        try:
            utc = Time(str(date).strip(), format="isot", scale="utc")
        except ValueError:
            return None, None
        met = float(tstart) + float(header.get("TIMEZERO", 0.0) or 0.0)
        utcf = utcf_from_utc(met, utc)
        # Merged products write the first event file's DATE-OBS beside a later
        # TSTART: a "correction" of minutes or hours is not one.
        if abs(utcf) <= 120.0:
            return utcf, "DATE-OBS"
    return None, None


def clock_error_estimate(met):
    """How far an uncorrected `met_to_time` (no UTCF) may be from UTC, in seconds.

    A rough size of the Swift clock drift at that MET (leap seconds are
    handled in the uncorrected conversion), for warnings; not a correction.
    """
    mjd = SWIFT_MJDREFI + np.asarray(met, dtype=float) / 86400.0
    slope = (_DRIFT_S[-1] - _DRIFT_S[-2]) / (_DRIFT_MJD[-1] - _DRIFT_MJD[-2])
    drift = np.interp(mjd, _DRIFT_MJD, _DRIFT_S, left=0.0, right=np.nan)
    late = mjd > _DRIFT_MJD[-1]
    drift = np.where(late, _DRIFT_S[-1] + slope * (mjd - _DRIFT_MJD[-1]), drift)
    return float(np.nanmax(np.abs(drift))) if np.size(drift) else 0.0


def _utcf_at(utcf, met):
    """UTCF in seconds at the given MET, from a number, Quantity or table."""
    if utcf is None:
        return 0.0
    if isinstance(utcf, u.Quantity):
        return utcf.to_value(u.s)
    if isinstance(utcf, Table) or isinstance(utcf, dict):
        try:
            grid = np.asarray(utcf["met"], dtype=float)
            values = utcf["utcf"]
        except KeyError as exc:
            raise InvalidRequestError(
                "utcf: a table of UTCF values needs columns 'met' and 'utcf'") from exc
        values = values.to_value(u.s) if isinstance(values, u.Quantity) else np.asarray(values, float)
        order = np.argsort(grid)
        return np.interp(met, grid[order], values[order])
    if callable(utcf):
        return np.asarray(utcf(met), dtype=float)
    return float(utcf)


def met_to_time(met, utcf=None):
    """Convert Swift MET to `~astropy.time.Time`.

    Parameters
    ----------
    met : float, array-like or `~astropy.units.Quantity`
        Mission elapsed time in seconds, from 0 to 2**32 (`MET_RANGE`).
    utcf : float, `~astropy.units.Quantity`, `~astropy.table.Table`, callable, optional
        Swift's clock correction UTCF in seconds, as in ``UTCFINIT`` (leap
        seconds since 2001 *and* drift included): one value, a table with
        columns ``met`` and ``utcf`` (interpolated), or a function of MET.
        The result is then ``MJD(UTC) = 51910 + (MET + UTCF) / 86400``.
        Without it the result is the leap-second-aware but drift-uncorrected
        spacecraft time (off by `clock_error_estimate` seconds).

    Returns
    -------
    `~astropy.time.Time`
        On the UTC scale.

    Raises
    ------
    ValueError
        When a MET is not finite or outside `MET_RANGE`.

    Examples
    --------
    >>> from xrtprods_astro.times import met_to_time
    >>> met_to_time(600000000).iso
    '2020-01-06 10:39:55.000'
    >>> met_to_time(551097137.0, utcf=-21.155).iso   # AT2018cow T0, as UKSSDC states it
    '2018-06-19 10:31:55.845'
    """
    seconds = met.to_value(u.s) if isinstance(met, u.Quantity) else np.asarray(met, dtype=float)
    _check_met(seconds)
    if utcf is None:
        return (SWIFT_EPOCH + TimeDelta(seconds, format="sec")).utc
    corrected = seconds + _utcf_at(utcf, seconds)
    # Swift's definition counts UTC days of 86400 s from 2001.0 (MJD 51910).
    return Time(np.full(np.shape(corrected), float(SWIFT_MJDREFI))[()], corrected / 86400.0,
                format="mjd", scale="utc")


def time_to_met(time, utcf=None):
    """Convert a `~astropy.time.Time` to Swift MET in seconds.

    Parameters
    ----------
    time : `~astropy.time.Time`
    utcf : see `met_to_time`
        The same correction that `met_to_time` would apply, removed here.

    Returns
    -------
    float or `numpy.ndarray`
    """
    if utcf is None:
        seconds = (Time(time) - SWIFT_EPOCH).to_value(u.s)
    else:
        t = Time(time).utc
        elapsed = ((t.jd1 - (2400000.5 + SWIFT_MJDREFI)) + t.jd2) * 86400.0
        # UTCF is a function of MET; one fixed-point step is exact for
        # tabulated values that vary by far less than a second per second.
        seconds = elapsed - _utcf_at(utcf, elapsed - _utcf_at(utcf, elapsed))
    return seconds[()] if isinstance(seconds, np.ndarray) and seconds.ndim == 0 else seconds


def to_met(value, *, name="time", t0=None):
    """Express one time value as seconds, for the service's time syntax.

    A `~astropy.time.Time` becomes MET (or seconds since ``t0`` when given);
    a time `~astropy.units.Quantity` becomes seconds; a plain number is taken
    as already being in seconds.

    Parameters
    ----------
    value : `~astropy.time.Time`, `~astropy.units.Quantity` or number
    name : str
        The parameter name, used in error messages.
    t0 : `~astropy.time.Time` or float, optional
        Reference time; when given, Times are returned relative to it.
    """
    if isinstance(value, Time):
        if not value.isscalar:
            raise InvalidRequestError(f"{name}: expected one time, got {value.size}")
        met = float(time_to_met(value))
        if t0 is not None:
            met -= float(time_to_met(t0)) if isinstance(t0, Time) else float(t0)
        return met
    if isinstance(value, u.Quantity):
        if not value.unit.is_equivalent(u.s):
            raise InvalidRequestError(f"{name}: {value} is not a time (expected a unit of time)")
        return float(value.to_value(u.s))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidRequestError(
            f"{name}: {value!r} is not a time (expected astropy Time, a time Quantity or seconds)")
    return float(value)


def _fmt(seconds):
    """Seconds as the shortest exact-enough decimal (millisecond precision)."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_time_ranges(ranges, *, name="time_range", t0=None):
    """Format one or more time ranges in the service's ``start-stop`` syntax.

    Parameters
    ----------
    ranges : pair or sequence of pairs, or `~astropy.time.Time` of shape (2,) or (N, 2)
        Each pair is (start, stop) as `~astropy.time.Time`, time Quantities or
        seconds.
    name : str
        Parameter name for error messages.
    t0 : `~astropy.time.Time` or float, optional
        When given, Times are written as seconds since ``t0``.

    Returns
    -------
    str
        For example ``"608713541.952-608714541.952"``; several ranges are
        comma-separated.

    Examples
    --------
    >>> from astropy.time import Time
    >>> from xrtprods_astro.times import format_time_ranges
    >>> format_time_ranges(Time(["2020-01-06T10:39:55", "2020-01-06T11:39:55"]))
    '600000000-600003600'
    >>> format_time_ranges([(0, 1000), (2000, 3000)])
    '0-1000,2000-3000'
    """
    if isinstance(ranges, Time):
        if ranges.shape == (2,):
            pairs = [(ranges[0], ranges[1])]
        elif ranges.ndim == 2 and ranges.shape[1] == 2:
            pairs = [(row[0], row[1]) for row in ranges]
        else:
            raise InvalidRequestError(f"{name}: a Time of shape {ranges.shape} is not "
                                      "a (start, stop) pair or an (N, 2) array of them")
    elif isinstance(ranges, u.Quantity) and ranges.shape == (2,):
        pairs = [(ranges[0], ranges[1])]
    else:
        try:
            items = list(ranges)
        except TypeError:
            raise InvalidRequestError(f"{name}: {ranges!r} is not a (start, stop) pair") from None
        if len(items) == 2 and not any(isinstance(x, (tuple, list)) or
                                       (isinstance(x, Time) and not x.isscalar) for x in items):
            pairs = [tuple(items)]
        else:
            pairs = []
            for item in items:
                item = list(item)
                if len(item) != 2:
                    raise InvalidRequestError(f"{name}: {item!r} is not a (start, stop) pair")
                pairs.append(tuple(item))
    if not pairs:
        raise InvalidRequestError(f"{name}: no time range given")
    parts = []
    for start, stop in pairs:
        a, b = to_met(start, name=name, t0=t0), to_met(stop, name=name, t0=t0)
        if a < 0 or b < 0:
            raise InvalidRequestError(
                f"{name}: negative times cannot be written in the service's "
                f"'start-stop' syntax (got {_fmt(a)} to {_fmt(b)})")
        if b <= a:
            raise InvalidRequestError(f"{name}: the range {_fmt(a)}-{_fmt(b)} ends before it starts")
        parts.append(f"{_fmt(a)}-{_fmt(b)}")
    return ",".join(parts)
