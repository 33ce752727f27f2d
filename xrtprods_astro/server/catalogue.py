# Licensed under a 3-clause BSD style license - see LICENSE
"""
The simulated sky's catalogue of well-known X-ray sources.

Positions are the real ICRS positions of the objects (to ~1"); everything else (targetIDs,
count rates, light-curve shapes, spectra) is *simulated*: plausible, not real data. The
targetIDs in particular are invented 8-digit numbers, except that GRB targetIDs follow the
Swift convention of being the BAT trigger number zero-padded to 8 digits.

The local service uses this module to resolve names (``getCoords``), pick targetIDs
(``getTargs``) and a reference time (``getT0``).
"""
import math
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CatalogueEntry", "FieldSource", "CATALOGUE", "FOV_RADIUS_ARCMIN", "resolve_name",
           "targets_for", "t0_for", "observation_plan", "ORBIT", "entry_for_target", "field_sources",
           "angular_separation_arcmin"]

#: Swift orbital period, seconds.
ORBIT = 5760.0
#: Radius of the XRT field of view used to decide whether a position is "in the field".
FOV_RADIUS_ARCMIN = 11.8


@dataclass(frozen=True)
class CatalogueEntry:
    """One simulated target.

    Attributes
    ----------
    name : str
        Canonical name.
    ra, dec : float
        ICRS position, degrees.
    kind : str
        ``GRB``, ``XRB``, ``AGN``, ``CV``, ``SNR`` or ``PULSAR``.
    targets : tuple of str
        8-digit Swift targetIDs.
    rate : float
        Corrected 0.3-10 keV count rate (ct/s). For GRBs: the rate 100 s after the trigger.
    nh : float
        Intrinsic absorbing column (cm**-2), on top of ``galnh``.
    gamma : float
        Photon index of the power-law spectrum.
    galnh : float
        Galactic column (cm**-2) in the Willingale et al. (2013) sense.
    t_first : float
        Swift MET of the first observation; for GRBs the BAT trigger time (T0).
    aliases : tuple of str
        Other names the resolver accepts.
    redshift : float or None
        Redshift (GRBs and AGN) if known.
    decay : tuple
        GRB only: ``((t_break1, alpha1), (t_break2, alpha2), ..., alpha_last)``, the broken
        power-law decay of the afterglow after 100 s.
    n_obs : int
        Number of observations (obsIDs) in the simulated schedule of a non-GRB target.
    n_field : int
        Number of serendipitous field sources in the simulated field.
    """

    name: str
    ra: float
    dec: float
    kind: str
    targets: tuple
    rate: float
    nh: float
    gamma: float
    galnh: float
    t_first: float
    aliases: tuple = ()
    redshift: float = None
    decay: tuple = ()
    n_obs: int = 8
    n_field: int = 5
    period: float = 0.0


@dataclass(frozen=True)
class FieldSource:
    """A faint serendipitous source in a target's field (constant rate, power law)."""

    name: str
    ra: float
    dec: float
    rate: float
    gamma: float = 1.8
    nh: float = 0.0
    galnh: float = 3e20
    kind: str = "FIELD"
    targets: tuple = field(default_factory=tuple)


CATALOGUE = (
    CatalogueEntry("GRB 200416A", 335.6985, -7.5179, "GRB", ("00968211",), 60.0, 2.0e21, 2.0, 4.1e20,
                   608713541.952, aliases=("GRB200416A",),
                   decay=((300.0, 3.0), (1.0e4, 0.5), 1.3), n_field=4),
    CatalogueEntry("GRB 221009A", 288.26452, 19.77350, "GRB", ("01126853",), 150.0, 1.4e22, 1.8, 5.4e21,
                   687017422.0, aliases=("GRB221009A", "Swift J1913.1+1946"), redshift=0.151,
                   decay=((1.0e5, 1.5), 1.9), n_field=6),
    CatalogueEntry("GRB 130427A", 173.13667, 27.69889, "GRB", ("00554620",), 100.0, 8.0e20, 1.7, 2.0e20,
                   388741680.0, aliases=("GRB130427A",), redshift=0.34,
                   decay=((5.0e4, 1.3), 1.6), n_field=3),
    CatalogueEntry("GK Per", 52.80004, 43.90431, "CV", ("00030842", "00035210"), 0.3, 1.0e22, 1.0, 1.5e21,
                   446860803.0, aliases=("V* GK Per", "Nova Persei 1901", "GKPer"), n_field=5, period=351.3),
    CatalogueEntry("Sco X-1", 244.97945, -15.64022, "XRB", ("00030000",), 15.0, 1.0e21, 2.0, 1.5e21,
                   220838401.0, aliases=("4U 1617-15", "V* V818 Sco"), n_obs=3, n_field=3),
    CatalogueEntry("Cyg X-1", 299.59032, 35.20161, "XRB", ("00031100",), 12.0, 2.0e21, 1.7, 7.0e21,
                   250000000.0, aliases=("HD 226868", "4U 1956+35"), n_obs=5, n_field=4),
    CatalogueEntry("Her X-1", 254.45755, 35.34236, "XRB", ("00030009",), 8.0, 0.0, 1.0, 1.6e20,
                   280000000.0, aliases=("4U 1656+35", "V* HZ Her"), n_field=4, period=1.24),
    CatalogueEntry("Swift J1753.5-0127", 268.36788, -1.45175, "XRB", ("00030090", "00031232"), 20.0,
                   0.0, 1.7, 2.3e21, 174000000.0, aliases=("SwiftJ1753.5-0127",), n_obs=6, n_field=4),
    CatalogueEntry("Mrk 421", 166.11381, 38.20883, "AGN", ("00030352",), 12.0, 0.0, 2.3, 1.9e20,
                   290000000.0, aliases=("Markarian 421", "Mkn 421", "QSO B1101+384"), redshift=0.031,
                   n_field=5),
    CatalogueEntry("3C 273", 187.27792, 2.05239, "AGN", ("00035017",), 2.0, 0.0, 1.7, 1.8e20,
                   300000000.0, aliases=("3C273", "QSO B1226+023"), redshift=0.158, n_field=6),
    CatalogueEntry("Cen X-3", 170.31288, -60.62375, "PULSAR", ("00030912",), 10.0, 2.0e22, 1.2, 1.2e22,
                   310000000.0, aliases=("4U 1119-60", "CenX-3"), n_obs=5, n_field=1, period=4.8),
    CatalogueEntry("SN 1987A", 83.86662, -69.26975, "SNR", ("00031306",), 0.5, 1.5e21, 2.8, 6.0e20,
                   320000000.0, aliases=("SN1987A", "Supernova 1987A"), n_field=5),
    CatalogueEntry("Aql X-1", 287.81688, 0.58494, "XRB", ("00030796",), 0.8, 3.0e21, 1.9, 3.6e21,
                   340000000.0, aliases=("4U 1908+005", "V* V1333 Aql"), n_field=4),
    CatalogueEntry("V404 Cyg", 306.01596, 33.86722, "XRB", ("00031403",), 0.4, 8.0e21, 1.6, 8.6e21,
                   488000000.0, aliases=("GS 2023+338", "V* V404 Cyg"), n_field=5),
    # GRBs of the swifttools GRB documentation (the GRB repository's examples run unchanged
    # against the local service): real targetIDs, positions and trigger times; 060729 with its
    # long plateau, 080319B the naked-eye burst, 101225A the slow "Christmas burst". Appended,
    # not inserted: tests pick the entries above by index.
    CatalogueEntry("GRB 060729", 95.38271, -62.37011, "GRB", ("00221755",), 40.0, 1.3e21, 2.1, 4.5e20,
                   175893150.244, aliases=("GRB060729",), redshift=0.54,
                   decay=((400.0, 3.2), (6.0e4, 0.15), 1.4), n_field=3),
    CatalogueEntry("GRB 080319B", 217.92067, 36.30226, "GRB", ("00306757",), 400.0, 1.0e20, 1.8, 1.1e20,
                   227599970.0, aliases=("GRB080319B",), redshift=0.937,
                   decay=((3.0e3, 1.5), 1.9), n_field=3),
    CatalogueEntry("GRB 101225A", 0.19792, 44.60034, "GRB", ("00441015",), 8.0, 5.0e20, 2.2, 7.9e20,
                   314995072.0, aliases=("GRB101225A",), decay=((2.0e3, 0.3), 1.2), n_field=3),
)


def _normalise(name):
    """Case-, space- and punctuation-insensitive key for a name."""
    return re.sub(r"[^0-9a-z.+]", "", str(name).lower())


_NAME_INDEX = {}
for _entry in CATALOGUE:
    for _n in (_entry.name,) + tuple(_entry.aliases):
        _NAME_INDEX[_normalise(_n)] = _entry


def angular_separation_arcmin(ra1, dec1, ra2, dec2):
    """Great-circle separation in arcmin (Vincenty formula; inputs in degrees, broadcastable)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(dra),
                   np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den)) * 60.0


def lookup_name(name):
    """The `CatalogueEntry` whose name or alias matches ``name``, or None."""
    if name is None:
        return None
    key = _normalise(name)
    if not key:
        return None
    return _NAME_INDEX.get(key)


def resolve_name(name):
    """Resolve an object name to its ICRS position.

    Parameters
    ----------
    name : str
        Object name; case, spaces and punctuation are ignored (``"grb200416a"``, ``"GK Per"``).

    Returns
    -------
    tuple of float or None
        ``(ra_deg, dec_deg)``, or None if the name is unknown to the simulated sky.
    """
    entry = lookup_name(name)
    if entry is None:
        return None
    return (entry.ra, entry.dec)


def entry_for_target(targ):
    """The `CatalogueEntry` owning targetID ``targ`` (int or string, any zero padding), or None."""
    try:
        key = "%08d" % int(str(targ).strip())
    except ValueError:
        return None
    for entry in CATALOGUE:
        if key in entry.targets:
            return entry
    return None


def targets_for(name, ra, dec):
    """TargetIDs to use for a job, as the real ``getTargs`` does.

    Parameters
    ----------
    name : str or None
        Object name; a catalogue match contributes all of its targetIDs.
    ra, dec : float or None
        Position in degrees; every target whose field (radius `FOV_RADIUS_ARCMIN`) contains it
        contributes its targetIDs.

    Returns
    -------
    list of str
        8-digit targetIDs, without duplicates, name matches first.
    """
    out = []
    entry = lookup_name(name)
    if entry is not None:
        out.extend(entry.targets)
    if ra is not None and dec is not None:
        try:
            ra, dec = float(ra), float(dec)
        except (TypeError, ValueError):
            ra = dec = None
    if ra is not None and dec is not None:
        for cand in CATALOGUE:
            if angular_separation_arcmin(ra, dec, cand.ra, cand.dec) <= FOV_RADIUS_ARCMIN:
                out.extend(cand.targets)
    seen = set()
    return [t for t in out if not (t in seen or seen.add(t))]


def t0_for(name, ra, dec, targs):
    """Reference time for ``getT0``: a GRB's trigger time, else the start of the first observation.

    Parameters
    ----------
    name : str or None
    ra, dec : float or None
    targs : list of str or str or None
        TargetIDs (list or comma-separated string).

    Returns
    -------
    float or None
        Swift MET in seconds, or None if nothing is known about the object.
    """
    if isinstance(targs, str):
        targs = [t for t in targs.split(",") if t.strip()]
    entries = []
    entry = lookup_name(name)
    if entry is not None:
        entries.append(entry)
    for t in targs or ():
        e = entry_for_target(t)
        if e is not None and e not in entries:
            entries.append(e)
    if not entries and ra is not None and dec is not None:
        entries = [entry_for_target(t) for t in targets_for(None, ra, dec)]
    if not entries:
        return None
    grbs = [e for e in entries if e.kind == "GRB"]
    if grbs:
        return float(grbs[0].t_first)
    starts = [piece[1] for e in entries for t in e.targets
              for piece in observation_plan(e, t, _stable_rng("schedule", t))]
    return float(min(starts)) if starts else None


def _grb_snapshot_starts(rng):
    """(segment, start since T0, duration) of a GRB's snapshots."""
    out = [(0, 95.0 + rng.uniform(0, 60), 1650.0 + rng.uniform(-100, 100))]
    orbits = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14]
    for k in orbits:
        out.append((0, k * ORBIT + rng.uniform(-300, 300), rng.uniform(1000, 1800)))
    for seg, t_mid, n in ((1, 1.0e5, 4), (2, 2.2e5, 3), (3, 3.9e5, 2), (4, 6.0e5, 2), (5, 9.0e5, 2)):
        for j in range(n):
            out.append((seg, t_mid + (j - n / 2) * 2 * ORBIT + rng.uniform(-200, 200),
                        rng.uniform(1200, 2000)))
    return out


def observation_plan(entry, targ, rng):
    """The simulated observations of targetID ``targ`` of ``entry``, before mode switching.

    Parameters
    ----------
    entry : `CatalogueEntry`
    targ : str
        8-digit targetID (one of ``entry.targets``).
    rng : `numpy.random.Generator`
        Drawn from in a fixed order (the schedule seeds it from ``("schedule", targ)``).

    Returns
    -------
    list of tuple
        ``(segment, tstart, tstop)`` in MET, one per snapshot.
    """
    pieces = []
    if entry.kind == "GRB":
        t0 = entry.t_first
        for seg, start, dur in _grb_snapshot_starts(rng):
            pieces.append((seg, t0 + start, t0 + start + dur))
        return pieces
    n_obs = max(2, entry.n_obs // len(entry.targets))
    t = entry.t_first + entry.targets.index(targ) * 2.0e7
    for seg in range(1, n_obs + 1):
        t += rng.uniform(20, 200) * 86400.0
        n_snap = 1 + int(rng.random() < 0.6)
        start = t
        for _ in range(n_snap):
            dur = rng.uniform(500, 1800)
            pieces.append((seg, start, start + dur))
            start += ORBIT + rng.uniform(-200, 200)
    return pieces


def _stable_rng(*keys):
    """A numpy Generator seeded from strings/ints, identical on every platform and run."""
    words = [zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(words)


def field_sources(entry):
    """The serendipitous sources in ``entry``'s field (fixed for the simulated sky).

    Returns
    -------
    list of `FieldSource`
        Faint sources 1.5-8 arcmin from the target, rates 0.003-0.05 ct/s.
    """
    rng = _stable_rng("field", entry.name)
    out = []
    for i in range(entry.n_field):
        off = rng.uniform(1.5, 8.0) / 60.0
        pa = rng.uniform(0, 2 * math.pi)
        dec = entry.dec + off * math.cos(pa)
        ra = (entry.ra + off * math.sin(pa) / max(math.cos(math.radians(entry.dec)), 1e-3)) % 360.0
        rate = float(10 ** rng.uniform(math.log10(0.003), math.log10(0.05)))
        out.append(FieldSource("%s field %d" % (entry.name, i + 1), ra, dec, rate,
                               gamma=float(rng.uniform(1.4, 2.4)), galnh=entry.galnh,
                               targets=entry.targets))
    return out
