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
import logging
import re
from datetime import date

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from .exceptions import InvalidRequestError

__all__ = ["SWIFT_MJDREFI", "SWIFT_MJDREFF", "SWIFT_EPOCH", "MET_RANGE", "met_to_time",
           "time_to_met", "to_met", "format_time_ranges", "utcf_from_utc", "utcf_from_header",
           "parse_ukssdc_date", "clock_error_estimate", "clock_utcf", "clock_accuracy",
           "CLOCK_TABLE_RANGE", "parse_time", "utcf_near"]

log = logging.getLogger("xrtprods_astro.times")

SWIFT_MJDREFI = 51910
SWIFT_MJDREFF = 7.428703703703703e-4
#: The MET zero point, 2001-01-01T00:00:00 UTC, held on the TT scale.
SWIFT_EPOCH = Time(SWIFT_MJDREFI, SWIFT_MJDREFF, format="mjd", scale="tt")
#: The MET values `met_to_time` accepts, in seconds: the 32-bit spacecraft clock.
MET_RANGE = (0.0, 2.0 ** 32)

# Swift's clock correction UTCF at known instants: (MET s, UTCF s, how well that UTCF is known s,
# source). UTC = MET + UTCF; UTCF holds the leap seconds since 2001 and the spacecraft clock drift.
# The official table (CALDB swift/mis/bcf/clock/swclockcor20041120v*.fits) is not public on a
# package registry, so this is built from values Swift and UKSSDC published: UTCFINIT (UTCF at
# TSTART, 1e-5 s) of Swift FITS headers from the Swift and GCN archives, and UKSSDC's own UTC for
# a T0 (the light-curve header line and t0.date; the MET there is given to 0.1 s or 1 ms). Dates
# known to the day only are placed at noon (the drift is < 6 ms a day). To add a point, append a
# row from any Swift FITS header (TSTART, UTCFINIT) and run tests/test_times.py::test_clock_*
# (which measures the table's accuracy again); the local service holds the same rows in
# xrtprods_astro/server/sky.py and must be updated with it. See docs/times.rst.
_CLOCK_POINTS = (
    (130126577.69644, 0.60710, 1e-4, "GRB 050215A sw00106106000sen.hk UTCFINIT"),
    (165762738.2, -1.070, 0.05, "UKSSDC GRB 060403 curve.qdp T0 line"),
    (175893150.6, -1.356, 0.05, "UKSSDC GRB 060729 flux.qdp T0 line"),
    (190110691.8209717, -1.68954, 1e-5, "UKSSDC GRB 070110 interval0pc.pi UTCFINIT"),
    (227620802.655, -2.655, 0.004, "XRT header 2008-03-19 (day only)"),
    (234402577.44042, -2.84452, 1e-5, "sw00313299 xrt_proc_spec2.fits UTCFINIT"),
    (245189548.9923, -3.15954, 1e-5, "sw00331093000msufc0856.fits UTCFINIT"),
    (246846304.0, -3.209, 0.001, "UKSSDC GRB 081028A curve.qdp T0 line"),
    (290433605.619, -5.619, 0.004, "XRT header 2010-03-16 (day only)"),
    (340977607.494, -7.494, 0.004, "XRT event file 2011-10-22 (day only)"),
    (377421550.62922, -9.99412, 1e-5, "sw00542441000msufc0072.fits UTCFINIT"),
    (400608114.78654, -11.02002, 1e-5, "sw00570402000msufc0114.fits UTCFINIT"),
    (463836270.38044, -15.12854, 1e-5, "sw00655449000msxwt2.fits UTCFINIT"),
    (477342961.6091, -15.85228, 1e-5, "sw00673978000msufc0314.fits UTCFINIT"),
    (507988818.568, -18.568, 0.004, "XRT header 2017-02-05 (day only)"),
    (517954326.157883, -19.14596, 1e-5, "GRB 170531A sw00755343000msxpc_cl.evt UTCFINIT"),
    (530087271.34296, -19.86354, 1e-5, "sw00780203000msufc4011.fits UTCFINIT"),
    (542681357.9838, -20.61988, 1e-5, "sw00814129000msufc0325.fits UTCFINIT"),
    (542759899.48964, -20.62462, 1e-5, "sw00814305000msufc0861.fits UTCFINIT"),
    (551097137.0, -21.155, 0.001, "UKSSDC AT2018cow lc/t0.date"),
    (577667083.97362, -22.78448, 1e-5, "sw00899979000msufc0531.fits UTCFINIT"),
    (600227310.0339, -24.22998, 1e-5, "sw00948361000msufc0109.fits UTCFINIT"),
    (612354228.864, -25.01712, 1e-4, "BAT PHA of trigger 612354468.864 UTCFINIT (TSTART ~ -240 s)"),
    (635550040.61824, -26.54212, 1e-5, "sw01033716000msxwt2.fits UTCFINIT"),
    (662731228.357, -28.3567, 0.003, "swifttools Clock notebook, 2022-01-01 (day only)"),
    (700258280.96026, -30.90592, 1e-5, "sw01159439000msxwt2.fits UTCFINIT"),
    (716317010.41624, -32.00264, 1e-5, "sw01191904000msxwt2.fits UTCFINIT"),
    (717624081.39261, -32.09212, 1e-5, "sw00015867051xwtw2st_uf.evt UTCFINIT"),
    (727202269.3773, -32.74826, 1e-5, "sw01209403000msxwt2.fits UTCFINIT"),
    (727363367.17606, -32.7593, 1e-5, "sw01209644000msxwt2.fits UTCFINIT"),
    (732148280.16666, -33.08696, 1e-5, "sw01220090000msxwt2.fits UTCFINIT"),
)
# UTC days after which a leap second had been inserted since 2001 (each makes UTCF 1 s more
# negative). A new one must be added here and in the local service's copy.
_LEAP_DAYS = ("2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01")
# Naive seconds (86400 a day) from 2001.0: no astropy Time at import, which is slow.
_LEAP_NAIVE = np.array([(date.fromisoformat(d) - date(2001, 1, 1)).days * 86400.0 for d in _LEAP_DAYS])


def _leaps_before(naive_utc):
    """Leap seconds inserted since 2001 before a UTC instant given as naive seconds since 2001.0."""
    return np.searchsorted(_LEAP_NAIVE, np.asarray(naive_utc, dtype=float), side="right")


_CLOCK_MET = np.array([p[0] for p in _CLOCK_POINTS])
_CLOCK_PREC = np.array([p[2] for p in _CLOCK_POINTS])
# Interpolate the drift (UTCF plus the leap seconds so far), which is smooth, not UTCF, which steps.
_CLOCK_DRIFT = np.array([p[1] for p in _CLOCK_POINTS]) + _leaps_before(_CLOCK_MET + np.array(
    [p[1] for p in _CLOCK_POINTS]))
_YEAR = 365.25 * 86400.0
# Beyond the ends the drift is extrapolated at its rate over the last (first) year of points.
_LATE = int(np.nonzero(_CLOCK_MET <= _CLOCK_MET[-1] - 300 * 86400.0)[0][-1])
_LATE_SLOPE = (_CLOCK_DRIFT[-1] - _CLOCK_DRIFT[_LATE]) / (_CLOCK_MET[-1] - _CLOCK_MET[_LATE])
_EARLY_SLOPE = (_CLOCK_DRIFT[1] - _CLOCK_DRIFT[0]) / (_CLOCK_MET[1] - _CLOCK_MET[0])
_LAUNCH_MET = 122601600.0   # 2004-11-20T00:00 UTC, naive seconds from 2001.0
#: The dates the bundled clock table covers with measured points (UTC, ISO).
CLOCK_TABLE_RANGE = ("2005-02-15", "2024-03-14")


def _drift(met):
    met = np.asarray(met, dtype=float)
    inside = np.interp(met, _CLOCK_MET, _CLOCK_DRIFT)
    late = _CLOCK_DRIFT[-1] + _LATE_SLOPE * (met - _CLOCK_MET[-1])
    # Before launch a MET is no spacecraft time: hold the drift at its launch value.
    early = _CLOCK_DRIFT[0] + _EARLY_SLOPE * (np.maximum(met, _LAUNCH_MET) - _CLOCK_MET[0])
    return np.where(met > _CLOCK_MET[-1], late, np.where(met < _CLOCK_MET[0], early, inside))


def clock_utcf(met):
    """Swift's clock correction UTCF (s) at ``met`` from the bundled clock table.

    The table's drift (UTCF plus the leap seconds so far) is interpolated
    linearly between published values and extrapolated at its last year's
    rate beyond them; the leap seconds are then taken off again. How far it
    can be trusted is `clock_accuracy`.

    Parameters
    ----------
    met : float or array-like
        Swift MET in seconds.

    Returns
    -------
    float or `numpy.ndarray`
        UTCF in seconds (UTC = MET + UTCF).

    Examples
    --------
    >>> from xrtprods_astro.times import clock_utcf
    >>> round(float(clock_utcf(551097137.0)), 3)   # AT2018cow, UKSSDC says -21.155
    -21.155
    """
    met = np.asarray(met, dtype=float)
    drift = _drift(met)
    # The leap count depends on UTC, which is MET + UTCF: UTCF is within a second of -drift-leaps.
    leaps = _leaps_before(met + drift - _leaps_before(met + drift))
    result = drift - leaps
    return float(result) if result.ndim == 0 else result


def clock_accuracy(met):
    """How far `clock_utcf` may be from Swift's real UTCF at ``met``, in seconds.

    Measured on the table itself (each point left out and predicted from
    the others, see docs/times.rst): between two points the bound grows with
    their distance ``g`` (years) as ``0.03 + 0.015 g**2`` s at mid-interval
    (about 30 ms with points a year apart, 0.3 s across the 2012-2015 gap),
    plus the points' own precision; beyond the last point it grows as
    ``0.05 + 0.2 dt**2`` s for ``dt`` years of extrapolation.

    Parameters
    ----------
    met : float or array-like

    Returns
    -------
    float
        The largest bound over the given METs.
    """
    met = np.atleast_1d(np.asarray(met, dtype=float))
    idx = np.clip(np.searchsorted(_CLOCK_MET, met), 1, len(_CLOCK_MET) - 1)
    lo, hi = _CLOCK_MET[idx - 1], _CLOCK_MET[idx]
    frac = np.clip((met - lo) / (hi - lo), 0.0, 1.0)
    gap = (hi - lo) / _YEAR
    inside = (np.maximum(_CLOCK_PREC[idx - 1], _CLOCK_PREC[idx])
              + 4 * frac * (1 - frac) * (0.03 + 0.015 * gap ** 2))
    beyond = np.maximum(met - _CLOCK_MET[-1], _CLOCK_MET[0] - met) / _YEAR
    outside = _CLOCK_PREC[-1] + 0.05 * np.minimum(1.0, beyond / 0.25) + 0.2 * beyond ** 2
    bound = np.where((met > _CLOCK_MET[-1]) | (met < _CLOCK_MET[0]), outside, inside)
    return float(np.max(bound)) if bound.size else 0.0


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
    """How far MET taken as spacecraft time with no clock correction is from UTC, in seconds.

    The size of the Swift clock drift at that MET (leap seconds aside), from
    the bundled clock table: what ignoring UTCF would cost. The package
    itself never ignores it (see `clock_utcf`).
    """
    drift = np.abs(_drift(np.asarray(met, dtype=float)))
    return float(np.max(drift)) if np.size(drift) else 0.0


def utcf_near(utcf, met0):
    """A UTCF stated at ``met0`` (``t0.date``, ``UTCFINIT``), carried to other METs by the clock table.

    Swift's UTCF changes by a few ms a day; one stated value applied to bins
    days away would inherit that. The stated value is kept at ``met0`` and
    the bundled table's change from ``met0`` is added elsewhere, so each
    instant gets the best correction there is for it.

    Parameters
    ----------
    utcf : float, `~astropy.units.Quantity` or None
        The stated UTCF (s). Tables, functions and None are returned unchanged.
    met0 : float
        The MET it was stated for.

    Returns
    -------
    callable, or ``utcf`` unchanged
        A function of MET for `met_to_time`.
    """
    if utcf is None or met0 is None or \
            not isinstance(utcf, (int, float, np.integer, np.floating, u.Quantity)):
        return utcf
    value = utcf.to_value(u.s) if isinstance(utcf, u.Quantity) else float(utcf)
    at0 = clock_utcf(float(met0))
    return lambda met: value + (clock_utcf(met) - at0)


def _utcf_at(utcf, met):
    """UTCF in seconds at the given MET, from a number, Quantity or table; the clock table for None."""
    if utcf is None:
        return clock_utcf(met)
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
    # One value, or one per MET.
    values = np.asarray(utcf, dtype=float)
    return values if values.ndim else float(values)


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
        Without it UTCF comes from the bundled clock table (`clock_utcf`),
        good to `clock_accuracy` seconds: pass the job's own value (its
        ``t0.date`` or ``UTCFINIT``) when there is one.

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
    >>> met_to_time(600000000).iso   # the clock table: good to about 10 ms here
    '2020-01-06 10:39:35.772'
    >>> met_to_time(551097137.0, utcf=-21.155).iso   # AT2018cow T0, as UKSSDC states it
    '2018-06-19 10:31:55.845'
    """
    seconds = met.to_value(u.s) if isinstance(met, u.Quantity) else np.asarray(met, dtype=float)
    _check_met(seconds)
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
        The same correction that `met_to_time` would apply, removed here;
        without it the bundled clock table's.

    Returns
    -------
    float or `numpy.ndarray`
    """
    t = Time(time).utc
    elapsed = ((t.jd1 - (2400000.5 + SWIFT_MJDREFI)) + t.jd2) * 86400.0
    # UTCF is a function of MET; fixed-point steps converge at once for a UTCF that varies
    # by far less than a second per second (a leap second needs the third).
    seconds = elapsed - _utcf_at(utcf, elapsed)
    for _ in range(2):
        seconds = elapsed - _utcf_at(utcf, seconds)
    return seconds[()] if isinstance(seconds, np.ndarray) and seconds.ndim == 0 else seconds


def parse_time(value, *, name="time"):
    """One time as the package accepts it everywhere: a `~astropy.time.Time` or a number.

    ISO strings (``"2020-04-16T07:05:17.079"``, ``"2015-03-01"``) become a
    UTC `~astropy.time.Time`; a string holding a plain number is that number
    (MET seconds); Times, Quantities and numbers are returned as they are.

    Parameters
    ----------
    value : `~astropy.time.Time`, str, `~astropy.units.Quantity` or number
    name : str
        The parameter name, used in error messages.

    Raises
    ------
    InvalidRequestError
        When a string is neither a number nor a date.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return Time(text, scale="utc")
        except ValueError:
            raise InvalidRequestError(
                f"{name}: {value!r} is not a time (expected astropy Time, an ISO time string such as "
                "'2020-04-16T07:05:17', a time Quantity in s or d, or MET seconds)") from None
    return value


def _warn_table(name, mets):
    """The one warning for times sent through the clock table: the service's UTC may differ by its bound."""
    bound = clock_accuracy(mets)
    log.warning("%s: UTC converted to Swift MET with the bundled clock table, good to %.3f s at that "
                "date; UKSSDC's products will state that MET's UTC to 1 ms (docs: times)", name, bound)


def to_met(value, *, name="time", t0=None, warn=True):
    """Express one time value as seconds, for the service's time syntax.

    A `~astropy.time.Time` or ISO string becomes MET through the bundled
    clock table (`clock_utcf`), or seconds since ``t0`` when given; a time
    `~astropy.units.Quantity` (s, d, ...) becomes seconds; a plain number is
    taken as already being in seconds.

    Parameters
    ----------
    value : `~astropy.time.Time`, str, `~astropy.units.Quantity` or number
    name : str
        The parameter name, used in error messages.
    t0 : `~astropy.time.Time` or float, optional
        Reference time; when given, Times are returned relative to it.
    warn : bool
        Log the one warning that states the clock table's accuracy when an
        absolute time went through it.
    """
    value = parse_time(value, name=name)
    if isinstance(value, Time):
        if not value.isscalar:
            raise InvalidRequestError(f"{name}: expected one time, got {value.size}")
        met = float(time_to_met(value))
        if t0 is None and warn:
            _warn_table(name, [met])
        if t0 is not None:
            t0 = parse_time(t0, name="t0")
            met -= float(time_to_met(t0)) if isinstance(t0, Time) else float(t0)
        return met
    if isinstance(value, u.Quantity):
        if not value.unit.is_equivalent(u.s):
            raise InvalidRequestError(f"{name}: {value} is not a time (expected a unit of time)")
        if not value.isscalar:
            raise InvalidRequestError(f"{name}: expected one time, got {value.size}")
        return float(value.to_value(u.s))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidRequestError(
            f"{name}: {value!r} is not a time (expected astropy Time, an ISO time string, a time "
            "Quantity in s or d, or MET seconds)")
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
                try:
                    item = list(item) if not isinstance(item, (str, Time)) or \
                        (isinstance(item, Time) and not item.isscalar) else None
                except TypeError:
                    item = None
                if item is None or len(item) != 2:
                    raise InvalidRequestError(
                        f"{name}: {ranges!r} is not a (start, stop) pair nor a list of them "
                        "(each of start and stop a Time, ISO string, time Quantity or MET seconds)")
                pairs.append(tuple(item))
    if not pairs:
        raise InvalidRequestError(f"{name}: no time range given")
    parts, through_table = [], []
    for start, stop in pairs:
        a, b = to_met(start, name=name, t0=t0, warn=False), to_met(stop, name=name, t0=t0, warn=False)
        through_table += [m for m, x in ((a, start), (b, stop)) if t0 is None and isinstance(x, (Time, str))
                          and not isinstance(parse_time(x, name=name), float)]
        if a < 0 or b < 0:
            raise InvalidRequestError(
                f"{name}: negative times cannot be written in the service's "
                f"'start-stop' syntax (got {_fmt(a)} to {_fmt(b)})")
        if b <= a:
            raise InvalidRequestError(f"{name}: the range {_fmt(a)}-{_fmt(b)} ends before it starts")
        parts.append(f"{_fmt(a)}-{_fmt(b)}")
    if through_table:
        _warn_table(name, through_table)
    return ",".join(parts)
