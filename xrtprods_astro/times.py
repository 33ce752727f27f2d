# Licensed under a 3-clause BSD style license - see LICENSE
"""
Swift mission elapsed time (MET) and astropy `~astropy.time.Time`.

MET counts SI seconds of the spacecraft clock from 2001-01-01T00:00:00 UTC; FITS
headers express that epoch on the TT scale (``MJDREFI = 51910``,
``MJDREFF = 7.428703703703703e-4``, i.e. 64.184 s after midnight TT). Converting
through the TT epoch makes the conversion leap-second aware.

The spacecraft clock also drifts: the true UTC is ``MET + UTCF`` where UTCF
(tens of seconds, tracked by the Swift MOC) absorbs leap seconds *and* drift.
Nothing here knows UTCF: it is applied only when the caller supplies it, as a
number, a `~astropy.units.Quantity` or a table of values against MET.
Otherwise times are uncorrected spacecraft times, off by up to ~30 s.
"""
import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time, TimeDelta

from .exceptions import InvalidRequestError

__all__ = ["SWIFT_MJDREFI", "SWIFT_MJDREFF", "SWIFT_EPOCH", "met_to_time",
           "time_to_met", "to_met", "format_time_ranges"]

SWIFT_MJDREFI = 51910
SWIFT_MJDREFF = 7.428703703703703e-4
#: The MET zero point, 2001-01-01T00:00:00 UTC, held on the TT scale.
SWIFT_EPOCH = Time(SWIFT_MJDREFI, SWIFT_MJDREFF, format="mjd", scale="tt")


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
        Mission elapsed time in seconds.
    utcf : float, `~astropy.units.Quantity`, `~astropy.table.Table`, callable, optional
        The UTC clock correction (``UTC = MET + UTCF``) in seconds: one value,
        a table with columns ``met`` and ``utcf`` (interpolated), or a function
        of MET. Without it the result is the uncorrected spacecraft time.

    Returns
    -------
    `~astropy.time.Time`
        On the UTC scale.

    Examples
    --------
    >>> from xrtprods_astro.times import met_to_time
    >>> met_to_time(600000000).iso
    '2020-01-06 10:39:55.000'
    >>> met_to_time(600000000, utcf=-25).iso
    '2020-01-06 10:39:30.000'
    """
    seconds = met.to_value(u.s) if isinstance(met, u.Quantity) else np.asarray(met, dtype=float)
    seconds = seconds + _utcf_at(utcf, seconds)
    return (SWIFT_EPOCH + TimeDelta(seconds, format="sec")).utc


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
    seconds = (Time(time) - SWIFT_EPOCH).to_value(u.s)
    if utcf is not None:
        # UTCF is a function of MET; one fixed-point step is exact for
        # tabulated values that vary by far less than a second per second.
        seconds = seconds - _utcf_at(utcf, seconds - _utcf_at(utcf, seconds))
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
