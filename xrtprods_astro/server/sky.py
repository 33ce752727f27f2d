# Licensed under a 3-clause BSD style license - see LICENSE
"""
The simulated sky seen by Swift-XRT: observation schedules, source models and Poisson events.

Everything here is a plausible simulation, not real data:

* a schedule of Swift snapshots per targetID (GRBs: WT while bright, dense in the first day,
  sparser out to ~1e6 s; other targets: a few observations of 1-2 snapshots spread over years),
  obsIDs ``<targ><3-digit segment>``, snapshots 0.5-2 ks separated by one orbit (~5.8 ks);
* source count rates (broken power-law afterglows, mild variability for other objects);
* Poisson events in the source and background regions with energies drawn from an absorbed
  power law folded through a simple XRT effective area and a Gaussian energy redistribution.

Absolute times use Swift's clock correction (`utcf`, interpolated from published UTCFINIT values and
UKSSDC's own T0 dates), so the UTC the service writes for a MET is the one UKSSDC wrote where it is
known, and within a few tens of ms of it elsewhere.

The same ``seed`` always gives the same events, whatever product asks for them, so light curves,
spectra and positions of one job are mutually consistent.
"""
import math
import re
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

from .catalogue import (CATALOGUE, FOV_RADIUS_ARCMIN, ORBIT, angular_separation_arcmin, entry_for_target,
                        field_sources, lookup_name, observation_plan, t0_for, targets_for)

__all__ = ["Snapshot", "SnapEvents", "JobSky", "ProductFailure", "schedule", "source_rate",
           "effective_area", "resolution_sigma", "photon_spectrum", "band_fraction", "ENERGY_EDGES",
           "N_CHANNELS", "CHANNEL_WIDTH", "PIXEL_ARCSEC", "ORBIT", "met_to_mjd", "met_to_utc", "ukssdc_date",
           "utcf", "parse_time_ranges"]

#: XRT sky pixel size in arcsec.
PIXEL_ARCSEC = 2.357
#: PI channels and their width (keV).
N_CHANNELS = 1024
CHANNEL_WIDTH = 0.01
#: Energy grid (keV) of the simulated responses: 1020 bins of 10 eV from 0.05 to 10.25 keV.
ENERGY_EDGES = np.round(np.arange(0.05, 10.2501, 0.01), 5)
_E_MID = 0.5 * (ENERGY_EDGES[:-1] + ENERGY_EDGES[1:])
_DE = np.diff(ENERGY_EDGES)

#: Source-region radius (pixels), encircled-energy fraction, background rate in the source region
#: (ct/s, full band) and source/background area ratio, per mode.
REGION = {
    "PC": {"radius": 20.0, "eef": 0.88, "bkg": 1.2e-3, "ratio": 0.04, "pup": 0.6},
    "WT": {"radius": 20.0, "eef": 0.90, "bkg": 1.5e-2, "ratio": 0.5, "pup": 150.0},
}

#: Swift clock correction UTCF (s; UTC = MET + UTCF, leap seconds included) at known METs, as
#: published in Swift FITS headers (UTCFINIT at TSTART) and UKSSDC T0 lines. UKSSDC applies
#: Swift's real clock correction; the service imitates it with these points: the drift
#: (UTCF + leap seconds so far) is interpolated linearly, extrapolated at the last year's rate,
#: and the leap seconds are taken off again, so UTCF steps by -1 s at each one as Swift's does.
#: The client bundles the same points (xrtprods_astro/times.py); the service shares no code with
#: it, so a point added there must be added here too (tests/test_times.py checks they agree).
_UTCF_POINTS = (
    (130126577.69644, 0.6071),
    (165762738.2, -1.07),
    (175893150.6, -1.356),
    (190110691.8209717, -1.68954),
    (227620802.655, -2.655),
    (234402577.44042, -2.84452),
    (245189548.9923, -3.15954),
    (246846304.0, -3.209),
    (290433605.619, -5.619),
    (340977607.494, -7.494),
    (377421550.62922, -9.99412),
    (400608114.78654, -11.02002),
    (463836270.38044, -15.12854),
    (477342961.6091, -15.85228),
    (507988818.568, -18.568),
    (517954326.157883, -19.14596),
    (530087271.34296, -19.86354),
    (542681357.9838, -20.61988),
    (542759899.48964, -20.62462),
    (551097137.0, -21.155),
    (577667083.97362, -22.78448),
    (600227310.0339, -24.22998),
    (612354228.864, -25.01712),
    (635550040.61824, -26.54212),
    (662731228.357, -28.3567),
    (700258280.96026, -30.90592),
    (716317010.41624, -32.00264),
    (717624081.39261, -32.09212),
    (727202269.3773, -32.74826),
    (727363367.17606, -32.7593),
    (732148280.16666, -33.08696),
)
_MET_EPOCH = datetime(2001, 1, 1)
#: UTC days from which one more leap second had been inserted since 2001.
_LEAP_NAIVE = np.array([(datetime.fromisoformat(d) - _MET_EPOCH).total_seconds()
                        for d in ("2006-01-01", "2009-01-01", "2012-07-01", "2015-07-01", "2017-01-01")])
_UTCF_MET = np.array([m for m, _ in _UTCF_POINTS])
_UTCF_DRIFT = np.array([v for _, v in _UTCF_POINTS]) + np.searchsorted(
    _LEAP_NAIVE, _UTCF_MET + np.array([v for _, v in _UTCF_POINTS]), side="right")
_LATE = int(np.nonzero(_UTCF_MET <= _UTCF_MET[-1] - 300 * 86400.0)[0][-1])
_LATE_SLOPE = (_UTCF_DRIFT[-1] - _UTCF_DRIFT[_LATE]) / (_UTCF_MET[-1] - _UTCF_MET[_LATE])
_EARLY_SLOPE = (_UTCF_DRIFT[1] - _UTCF_DRIFT[0]) / (_UTCF_MET[1] - _UTCF_MET[0])


class ProductFailure(Exception):
    """A product cannot be made; the message is the reason reported to the user."""


def utcf(met):
    """The Swift clock correction (s) at ``met``: UTC = MET + UTCF."""
    met = np.asarray(met, dtype=float)
    late = _UTCF_DRIFT[-1] + _LATE_SLOPE * (met - _UTCF_MET[-1])
    # Before launch (2004-11-20, MET 122601600) a MET is no spacecraft time: the drift is held.
    early = _UTCF_DRIFT[0] + _EARLY_SLOPE * (np.maximum(met, 122601600.0) - _UTCF_MET[0])
    drift = np.where(met > _UTCF_MET[-1], late,
                     np.where(met < _UTCF_MET[0], early, np.interp(met, _UTCF_MET, _UTCF_DRIFT)))
    # Leap seconds count in UTC (MET + UTCF), which is within a second of MET + drift - leaps.
    first = np.searchsorted(_LEAP_NAIVE, met + drift, side="right")
    return drift - np.searchsorted(_LEAP_NAIVE, met + drift - first, side="right")


def met_to_mjd(met):
    """Swift MET to MJD (UTC), clock correction applied, as UKSSDC's MJD light curves and t0.date."""
    met = np.asarray(met, dtype=float)
    return 51910.0 + (met + utcf(met)) / 86400.0


def met_to_utc(met):
    """Swift MET to a UTC `~datetime.datetime` (clock correction applied)."""
    return _MET_EPOCH + timedelta(seconds=float(met) + float(utcf(met)))


def ukssdc_date(met):
    """UTC of ``met`` written as UKSSDC writes it: ``2018 Jun 19 at 10:31:55.845 UT``."""
    t = met_to_utc(met)
    t = t.replace(microsecond=0) + timedelta(milliseconds=round(t.microsecond / 1000.0))
    return "%s.%03d UT" % (t.strftime("%Y %b %d at %H:%M:%S"), t.microsecond // 1000)


def _rng(*keys):
    """A numpy Generator seeded deterministically from the given keys."""
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


# --------------------------------------------------------------------------------------------
# Instrument: effective area, resolution, absorption
# --------------------------------------------------------------------------------------------
def effective_area(energy, mode="PC"):
    """Simple on-axis XRT effective area (cm**2, no PSF loss) at ``energy`` keV.

    A smooth curve peaking near 110 cm**2 at 1.5 keV with the steep low-energy cut-off of the
    filter and CCD and the mirror fall-off above a few keV; WT is slightly higher at low energy.
    """
    e = np.asarray(energy, dtype=float)
    peak = 115.0 if mode == "WT" else 110.0
    low = 1.0 / (1.0 + (0.45 / np.maximum(e, 1e-3)) ** (5.0 if mode == "WT" else 6.0))
    high = 1.0 / (1.0 + (e / 3.8) ** 2.6)
    shape = low * high * (1.0 + 0.25 * np.exp(-0.5 * ((e - 1.4) / 0.5) ** 2))
    norm = (1.0 / (1.0 + (0.45 / 1.5) ** 6.0)) * (1.0 / (1.0 + (1.5 / 3.8) ** 2.6)) * 1.25
    return peak * shape / norm


def resolution_sigma(energy):
    """Gaussian sigma (keV) of the CCD energy redistribution at ``energy`` keV."""
    e = np.asarray(energy, dtype=float)
    fwhm = np.sqrt(0.06 ** 2 + 0.0036 * 2.355 ** 2 * 0.12 * e)
    return fwhm / 2.355


def _cross_section(energy):
    """Photo-absorption cross-section per H atom (cm**2), a Morrison & McCammon-like power law."""
    return 2.0e-22 * np.asarray(energy, dtype=float) ** (-8.0 / 3.0)


def photon_spectrum(energy, gamma, nh):
    """Absorbed power law, photons/cm**2/s/keV for unit normalisation at 1 keV."""
    e = np.asarray(energy, dtype=float)
    return e ** (-gamma) * np.exp(-nh * _cross_section(e))


@lru_cache(maxsize=128)
def _folded_cdf(gamma, nh, mode):
    """CDF over `ENERGY_EDGES` of the detected counts of an absorbed power law."""
    w = photon_spectrum(_E_MID, gamma, nh) * effective_area(_E_MID, mode) * _DE
    cdf = np.concatenate([[0.0], np.cumsum(w)])
    return cdf / cdf[-1]


def band_fraction(gamma, nh, mode, lo, hi):
    """Fraction of a source's detected counts with (true) energy in ``[lo, hi]`` keV."""
    cdf = _folded_cdf(round(float(gamma), 4), float(nh), mode)
    return float(np.interp(hi, ENERGY_EDGES, cdf) - np.interp(lo, ENERGY_EDGES, cdf))


def sample_energies(rng, n, gamma, nh, mode):
    """Measured energies (keV) of ``n`` detected source photons (true energy + redistribution)."""
    cdf = _folded_cdf(round(float(gamma), 4), float(nh), mode)
    true = np.interp(rng.random(n), cdf, ENERGY_EDGES)
    meas = true + rng.normal(size=n) * resolution_sigma(true)
    return np.clip(meas, 0.0, N_CHANNELS * CHANNEL_WIDTH - 1e-6)


def sample_background_energies(rng, n):
    """Measured energies (keV) of background events: flat plus a soft component."""
    soft = rng.random(n) < 0.3
    e = np.where(soft, 0.2 + rng.exponential(0.4, n), rng.uniform(0.1, 10.2, n))
    return np.clip(e, 0.0, N_CHANNELS * CHANNEL_WIDTH - 1e-6)


# --------------------------------------------------------------------------------------------
# Observation schedule
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """One continuous stretch of XRT data in one mode (a snapshot, or its WT/PC part)."""

    targ: str
    obsid: str
    snapnum: int
    mode: str
    tstart: float
    tstop: float
    ra_pnt: float
    dec_pnt: float

    @property
    def exposure(self):
        return self.tstop - self.tstart


@lru_cache(maxsize=64)
def schedule(targ):
    """The simulated Swift-XRT snapshots of targetID ``targ`` (empty if the target is unknown).

    Returns
    -------
    tuple of `Snapshot`
        Sorted by start time. A snapshot with a WT-to-PC mode switch appears as two records
        with the same ``snapnum``.
    """
    entry = entry_for_target(targ)
    if entry is None:
        return ()
    targ = "%08d" % int(targ)
    # The same generator goes on to draw the pointings: keep the draws in this order.
    rng = _rng("schedule", targ)
    pieces = observation_plan(entry, targ, rng)
    snaps = []
    pointing = {}
    for num, (seg, a, b) in enumerate(pieces, start=1):
        obsid = "%s%03d" % (targ, seg)
        if obsid not in pointing:
            off = rng.uniform(0.0, 3.5) / 60.0
            pa = rng.uniform(0, 2 * math.pi)
            pointing[obsid] = (
                (entry.ra + off * math.sin(pa) / max(math.cos(math.radians(entry.dec)), 1e-3)) % 360.0,
                entry.dec + off * math.cos(pa))
        ra_p, dec_p = pointing[obsid]
        r_a, r_b = source_rate(entry, a), source_rate(entry, b)
        if r_a > 1.5 and r_b <= 1.5:
            # Automatic mode switching: WT while bright, PC once the rate has dropped.
            ts = _switch_time(entry, a, b, 1.5)
            snaps.append(Snapshot(targ, obsid, num, "WT", a, ts, ra_p, dec_p))
            snaps.append(Snapshot(targ, obsid, num, "PC", ts, b, ra_p, dec_p))
        else:
            snaps.append(Snapshot(targ, obsid, num, "WT" if r_a > 1.5 else "PC", a, b, ra_p, dec_p))
    return tuple(sorted(snaps, key=lambda s: s.tstart))


def _switch_time(entry, a, b, level):
    lo, hi = a, b
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if source_rate(entry, mid) > level:
            lo = mid
        else:
            hi = mid
    return round(0.5 * (lo + hi), 3)


# --------------------------------------------------------------------------------------------
# Source models
# --------------------------------------------------------------------------------------------
def source_rate(src, t):
    """Corrected 0.3-10 keV count rate (ct/s) of a source at MET ``t`` (scalar or array)."""
    t = np.asarray(t, dtype=float)
    kind = getattr(src, "kind", "FIELD")
    if kind == "GRB":
        dt = np.maximum(t - src.t_first, 1.0)
        rate = np.full(dt.shape, float(src.rate))
        breaks = list(src.decay[:-1])
        alphas = [b[1] for b in breaks] + [src.decay[-1]]
        edges = [100.0] + [b[0] for b in breaks]
        # Continuous broken power law anchored at 100 s.
        rate = src.rate * (dt / 100.0) ** (-alphas[0])
        norm = src.rate
        for i, tb in enumerate(edges[1:], start=1):
            norm = norm * (tb / edges[i - 1]) ** (-alphas[i - 1])
            rate = np.where(dt > tb, norm * (dt / tb) ** (-alphas[i]), rate)
        rate = np.where(t < src.t_first, 0.0, rate)
    elif kind == "FIELD":
        rate = np.full(t.shape, float(src.rate))
    else:
        period = src.period if src.period > 0 else 3000.0
        phase = zlib.crc32(src.name.encode()) / 2 ** 32 * 2 * math.pi
        # Slow (per ~week) variability plus a small periodic modulation.
        slow = 10 ** (0.15 * np.sin(2 * np.pi * t / (9.3 * 86400.0) + phase))
        rate = src.rate * slow * (1.0 + 0.1 * np.sin(2 * np.pi * t / period + phase))
    return float(rate) if rate.ndim == 0 else rate


def total_nh(src):
    return float(src.galnh) + float(src.nh)


def correction_factor(src, snap):
    """CorrFact for a source in a snapshot: PSF (encircled energy) and pile-up losses."""
    reg = REGION[snap.mode]
    corr = 1.0 / reg["eef"]
    if src is not None:
        rate = float(np.mean(source_rate(src, np.linspace(snap.tstart, snap.tstop, 9))))
        if rate > reg["pup"]:
            # Pile-up: the core is excised and the loss corrected through the PSF model.
            corr *= (rate / reg["pup"]) ** 0.5
    if zlib.crc32(snap.obsid.encode()) % 5 == 0:
        corr *= 1.04  # a bad column crosses the source region in this obsID
    return corr


@dataclass(frozen=True)
class SnapEvents:
    """Events of one snapshot: source region (source + background) and background region."""

    src_time: np.ndarray
    src_energy: np.ndarray
    bkg_time: np.ndarray
    bkg_energy: np.ndarray
    ratio: float
    corr: float


@lru_cache(maxsize=512)
def snapshot_events(snap, src, seed):
    """Simulate the events of ``snap`` for source ``src`` (None: background only).

    Parameters
    ----------
    snap : `Snapshot`
    src : `~xrtprods_astro.server.catalogue.CatalogueEntry` or `FieldSource` or None
    seed : int

    Returns
    -------
    `SnapEvents`
    """
    rng = _rng("events", seed, snap.obsid, snap.snapnum, snap.mode, getattr(src, "name", "none"))
    reg = REGION[snap.mode]
    corr = correction_factor(src, snap)
    a, b = snap.tstart, snap.tstop
    times, energies = [], []
    if src is not None:
        grid = np.linspace(a, b, 257)
        rate = source_rate(src, grid) / corr
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (rate[1:] + rate[:-1]) * np.diff(grid))])
        frac = band_fraction(src.gamma, total_nh(src), snap.mode, 0.3, 10.0)
        mu = cum[-1] / max(frac, 1e-6)
        n = rng.poisson(mu)
        times.append(np.interp(rng.random(n) * cum[-1], cum, grid))
        energies.append(sample_energies(rng, n, src.gamma, total_nh(src), snap.mode))
    nb = rng.poisson(reg["bkg"] * (b - a))
    times.append(rng.uniform(a, b, nb))
    energies.append(sample_background_energies(rng, nb))
    t = np.concatenate(times)
    e = np.concatenate(energies)
    order = np.argsort(t, kind="stable")
    nbb = rng.poisson(reg["bkg"] / reg["ratio"] * (b - a))
    bt = np.sort(rng.uniform(a, b, nbb))
    be = sample_background_energies(rng, nbb)
    out = SnapEvents(t[order], e[order], bt, be, reg["ratio"], corr)
    for arr in (out.src_time, out.src_energy, out.bkg_time, out.bkg_energy):
        arr.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# Parameter access and data selection
# --------------------------------------------------------------------------------------------
def _flag(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "y", "on")
    return bool(value)


_RANGE = re.compile(r"^\s*(-?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*-\s*(-?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*$")


def parse_time_ranges(text, t0, since_t0=False):
    """Parse ``"a-b,c-d"`` into MET ranges and a list of obsIDs.

    Values are seconds since ``t0`` when ``since_t0`` is true or when they are too small to be
    Swift METs (< 1e8 s, i.e. before 2004); otherwise they are METs.

    Returns
    -------
    obsids : set of str
    ranges : list of (float, float)
    """
    obsids, ranges = set(), []
    for tok in str(text).split(","):
        tok = tok.strip()
        if not tok:
            continue
        if re.fullmatch(r"\d{11}", tok):
            obsids.add(tok)
            continue
        m = _RANGE.match(tok)
        if not m:
            raise ProductFailure("Could not understand the observation / time selection %r: use "
                                 "11-digit obsIDs or start-stop time ranges" % tok)
        lo, hi = float(m.group(1)), float(m.group(2))
        if (since_t0 or (abs(lo) < 1e8 and abs(hi) < 1e8)) and t0 is not None:
            lo, hi = lo + t0, hi + t0
        if hi <= lo:
            raise ProductFailure("Time range %r ends before it starts" % tok)
        ranges.append((lo, hi))
    return obsids, ranges


class JobSky:
    """Everything the product builders need to know about one job's sky and data.

    Parameters
    ----------
    job_pars : dict
        Wire-format job parameters.
    seed : int
        Random seed of the job.
    """

    def __init__(self, job_pars, seed):
        self.pars = dict(job_pars)
        self.seed = int(seed)
        name = self.pars.get("name")
        ra, dec = self.pars.get("RA"), self.pars.get("Dec")
        if ra in (None, "") or dec in (None, ""):
            entry = lookup_name(name)
            if entry is None:
                raise ProductFailure("No position given and the name %r could not be resolved" % name)
            ra, dec = entry.ra, entry.dec
        self.ra, self.dec = float(ra), float(dec)
        self.name = str(name) if name not in (None, "") else "%.4f %+.4f" % (self.ra, self.dec)
        targ = self.pars.get("targ")
        if targ in (None, ""):
            targs = targets_for(name, self.ra, self.dec)
        else:
            targs = ["%08d" % int(t) for t in str(targ).split(",") if t.strip().isdigit()]
        self.targets = targs
        self.t0 = self._parse_t0()
        snaps = sorted((s for t in targs for s in schedule(t)), key=lambda s: s.tstart)
        self.snapshots = snaps
        self.covering = [s for s in snaps
                         if angular_separation_arcmin(self.ra, self.dec, s.ra_pnt, s.dec_pnt)
                         <= FOV_RADIUS_ARCMIN]
        if self.t0 is None:
            t0 = t0_for(name, self.ra, self.dec, targs)
            if t0 is None and self.covering:
                t0 = self.covering[0].tstart
            self.t0 = t0 if t0 is not None else 0.0
        self.field = self._field_sources()
        self.source = self._match_source()

    # -- parameters -------------------------------------------------------------------------
    def get(self, key, default=None):
        value = self.pars.get(key, default)
        return default if value in (None, "") else value

    def getf(self, key, default):
        try:
            return float(self.get(key, default))
        except (TypeError, ValueError):
            raise ProductFailure("Parameter %s must be a number, not %r" % (key, self.pars.get(key)))

    def geti(self, key, default):
        return int(round(self.getf(key, default)))

    def gets(self, key, default):
        return str(self.get(key, default)).strip().lower()

    def flag(self, key, default=0):
        return _flag(self.get(key, default))

    @property
    def since_t0(self):
        return self.flag("sinceT0") or self.flag("SinceT0")

    def _parse_t0(self):
        value = self.pars.get("Tstart")
        if value in (None, ""):
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
        try:
            from astropy.time import Time
            epoch = Time("2001-01-01T00:00:00", scale="utc")
            return float((Time(str(value).strip(), scale="utc") - epoch).sec)
        except ValueError:
            raise ProductFailure("Tstart %r is not a MET or a date the service understands" % value)

    # -- sources ----------------------------------------------------------------------------
    def _field_sources(self):
        """Catalogue targets and serendipitous sources in the fields of the selected targets."""
        seen, out = set(), []
        entries = []
        for t in self.targets:
            e = entry_for_target(t)
            if e is not None and e not in entries:
                entries.append(e)
        for e in CATALOGUE:
            if e not in entries and any(
                    angular_separation_arcmin(e.ra, e.dec, s.ra_pnt, s.dec_pnt) <= FOV_RADIUS_ARCMIN
                    for s in self.covering):
                entries.append(e)
        for e in entries:
            for src in [e] + field_sources(e):
                if src.name not in seen:
                    seen.add(src.name)
                    out.append(src)
        return out

    def _match_source(self):
        """The simulated source at the job position (None: only background there)."""
        tol = 0.8  # arcmin: the 20-pixel source region
        if self.flag("cent", 0):
            tol = max(tol, self.getf("poserr", 1.0))
        best, best_sep = None, None
        for src in self.field:
            sep = float(angular_separation_arcmin(self.ra, self.dec, src.ra, src.dec))
            if sep <= tol and (best_sep is None or sep < best_sep):
                best, best_sep = src, sep
        return best

    def sources_near(self, radius_arcsec):
        """Simulated sources within ``radius_arcsec`` of the job position, nearest first."""
        out = []
        for src in self.field:
            sep = float(angular_separation_arcmin(self.ra, self.dec, src.ra, src.dec)) * 60.0
            if sep <= radius_arcsec:
                out.append((sep, src))
        return [s for _, s in sorted(out, key=lambda p: p[0])]

    # -- data selection ---------------------------------------------------------------------
    def require_coverage(self):
        if not self.covering:
            if not self.targets:
                raise ProductFailure("No Swift observations were found for this object: no targetIDs "
                                     "match the name or cover the position.")
            raise ProductFailure("None of the observations of targetID(s) %s cover the position "
                                 "RA=%.5f, Dec=%.5f." % (",".join(self.targets), self.ra, self.dec))

    def windows(self, which, use=None, hours=12.0):
        """Selected data: a list of ``(snapshot, tstart, tstop)`` windows.

        Parameters
        ----------
        which : str
            ``all``, ``user`` (obsIDs and/or time ranges in ``use``) or ``hours`` (the first
            ``hours`` hours of data from the first covering snapshot).
        """
        self.require_coverage()
        snaps = self.covering
        which = (which or "all").lower()
        if which == "all" or (which == "user" and use in (None, "")):
            out = [(s, s.tstart, s.tstop) for s in snaps]
        elif which == "hours":
            end = snaps[0].tstart + float(hours) * 3600.0
            out = [(s, s.tstart, min(s.tstop, end)) for s in snaps if s.tstart < end]
        elif which == "user":
            obsids, ranges = parse_time_ranges(use, self.t0, self.since_t0)
            out = []
            for s in snaps:
                if s.obsid in obsids:
                    out.append((s, s.tstart, s.tstop))
                    continue
                for lo, hi in ranges:
                    a, b = max(lo, s.tstart), min(hi, s.tstop)
                    if b > a:
                        out.append((s, a, b))
        else:
            raise ProductFailure("Data selection %r is not one of all, user, hours" % which)
        out = [w for w in out if w[2] - w[1] > 7.0]  # like the real service: drop < 7 s
        if not out:
            raise ProductFailure("No data were found in the requested observations / times.")
        return out

    def events(self, snap, t1=None, t2=None):
        """Events of ``snap`` for the job's source, cut to ``[t1, t2]``; returns 4 arrays."""
        ev = snapshot_events(snap, self.source, self.seed)
        t1 = snap.tstart if t1 is None else t1
        t2 = snap.tstop if t2 is None else t2
        i, j = np.searchsorted(ev.src_time, [t1, t2])
        k, m = np.searchsorted(ev.bkg_time, [t1, t2])
        return ev.src_time[i:j], ev.src_energy[i:j], ev.bkg_time[k:m], ev.bkg_energy[k:m], ev
