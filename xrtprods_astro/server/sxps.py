# Licensed under a 3-clause BSD style license - see LICENSE
"""
The catalogue functions of the local service's ``API/main.php``: ``getMetadata``, ``queryDB``, the
full tables ``getOldSXPSTables``/``getSXPSTable`` and the upper-limit server ``getSXPSUL``
(shared/spec/ukssdc-catalogues.md §2, §3.10, §4).

Not to be confused with `xrtprods_astro.server.catalogue`, the simulated sky's list of well-known
objects (the name resolver's catalogue). This module builds the catalogue tables *from* that sky:
every object and every serendipitous field source is an LSXPS source, and a fixed population of
faint "filler" sources (each in a field of its own) makes the tables larger than the 1000-row page
limit, so that paging is exercised. Every table of spec §4.1 is served (`ALL_TABLES`), all from one
sky (`sky_tables`, `grb_tables`):

* ``obs``: ``swiftmastr`` has one row per observation of every field (the product generator's
  schedule for the objects, so obsIDs and times agree with its products); ``swiftxrlog`` (one row
  per XRT mode), ``swiftbalog``, ``swiftuvlog`` and ``swifttdrss`` (the GRB triggers) hold the same
  observations.
* ``LSXPS``: ``datasets`` are those observations plus one stacked image per field with several
  (ObsIDs from 10000000001); ``obssources`` (a source in a dataset) and ``detections`` (per band)
  point at datasets and sources (a sky object is detected where its light curve gives enough
  counts); ``xcorr`` at sources; ``transients`` are the documented fixtures (1, 30, 576), the GRBs
  and a few fillers (Classification 1 for the docs' six); ``oldstacks`` are the superseded
  versions of the stacks. `sky_index` looks the tables up for the product functions
  (`xrtprods_astro.server.sxps_products`), which answer from the same rows.
* ``2SXPS``: LSXPS before the 2SXPS cut-off (2018-08-01), numbered afresh.
* ``UK_XRT/XRTLiveCat``, ``SDC_GRB/SDC_Data_Table``, ``BAT_GRB/BATGRBCat``: the GRBs of the local
  GRB repository (`xrtprods_astro.server.grb`), with its positions.

* ``getMetadata``: ``{"metadata": {"columns": [...], "metadata": [[row], ...]}}`` with the columns
  ``ColName, Class, Description, Type, LongDescription, IsObsCol, IsTargetCol`` (obs and SXPS) or
  the SDC_GRB shape of the docs ``ColName, IsError, Class, Description, Type, Nullable, Fstring,
  IsTargetCol, IsNameCol`` (GRB tables); units only inside ``Description`` as on the real service
  ("Roll Angle (degree)").
* ``queryDB``: ``cols``, ``constraints`` (all operators, ``combiner``, ``BETWEEN``), ``subset``
  (``clean``: flag <= 1, ``ultraclean``: flag 0, of ``DetFlag`` for sources and ``FieldFlag`` for
  datasets: our reading), cones by ``searchRA``/``searchDec`` or ``searchName`` (``Resolved*``
  keys) with ``_r`` in ``adUnits``, on ``RACol``/``DecCol`` where sent (rows without that position
  are in no cone), ``sortBy``/``sortDir``, ``numRows``/``firstRow`` over a stable order;
  ``numRows`` above 1000 is an error (the real service's memory limit).
* ``getOldSXPSTables``/``getSXPSTable``: the documented epochs and file names; equal ``URL`` and
  ``FILE`` base names; CSV (header of column names) or FITS (units in TUNIT); snapshots gzipped and
  holding the rows that existed at their epoch; files written once and served by GET under
  ``/<catalogue>/tables/``.
* ``getSXPSUL``: one row per dataset of the ``datasets`` table covering the position (the stacks
  and observations of every field pointed within the field of view; ``deepest``: the deepest one),
  computed from counts with a Bayesian (KBN-like) limit, ``Columns`` always sent,
  booleans as JSON booleans, ``DetData`` within 30"; ``ul_timeouts`` answers of ``{"TIMEOUT": id}``
  (set by tests), then ``{"ULID": id}`` returns the stored result once; a second fetch is an error
  (the real answer is not documented: spec §9.1).
"""
import functools
import gzip
import io
import math
import os
import tempfile
import re
import threading
import zlib

import numpy as np

from .catalogue import (CATALOGUE, FOV_RADIUS_ARCMIN, angular_separation_arcmin, field_sources,
                        lookup_name, observation_plan)
from .sky import met_to_mjd, met_to_utc

__all__ = ["SXPSService", "SXPSAPIError", "FUNCTIONS", "PAGE_LIMIT", "N_FILLER", "kbn", "sky_tables",
           "sky_index", "schedule", "TRANSIENT_FIXTURES", "CLASSIFICATIONS", "grb_tables", "ALL_TABLES",
           "GRB_POSITIONS", "SNAPSHOTS", "FULL_TABLES", "table_file_name"]

FUNCTIONS = ("getMetadata", "queryDB", "getSXPSUL", "getOldSXPSTables", "getSXPSTable")
#: The most rows one queryDB answer may hold.
PAGE_LIMIT = 1000
#: Faint sources added to the catalogue so that it outgrows one page.
N_FILLER = 2400
_BANDS = {"total": "Total", "soft": "Soft", "medium": "Medium", "hard": "Hard"}
_BAND_FRACTION = {"Total": 1.0, "Soft": 0.3, "Medium": 0.35, "Hard": 0.35}
#: The confidence of a 1-sigma error.
ONE_SIGMA = math.erf(1 / math.sqrt(2))
_OPS = ("<", ">", "=", "<=", ">=", "LIKE", "NOT LIKE", "!=", "BETWEEN", "IS NULL", "IS NOT NULL")
_AD_UNITS = {"arcsec": 3600.0, "arcmin": 60.0, "deg": 1.0}


def _col(name, cls, desc, typ, unit="", obs=0, targ=0):
    # A unit is written at the end of the description in brackets, as the real service does
    # ("Roll Angle (degree)"): the metadata has no units column.
    return (name, cls, f"{desc} ({unit})" if unit else desc, typ, obs, targ)


_B, _M, _W = "BASIC", "MISC", "WARN"
_RADEC = (_col("RA", _B, "Right Ascension (J2000)", "COORDH"),
          _col("Decl", _B, "Declination (J2000)", "COORDD"))
_GAL = (_col("l", _M, "Galactic longitude", "COORDH"), _col("b", _M, "Galactic latitude", "COORDD"))
_DS_TIMES = (_col("StartTime_UTC", _B, "Start of the dataset", "UTC"),
             _col("StopTime_UTC", _B, "End of the dataset", "UTC"))
_RATES = (_col("Rate", _B, "Count rate", "FLOAT", "ct/s"),
          _col("Rate_pos", _M, "Count rate positive error", "FLOAT", "ct/s"),
          _col("Rate_neg", _M, "Count rate negative error", "FLOAT", "ct/s"))
_LOG = (_col("obsid", _B, "Observation Number ID", "TXT", obs=1),
        _col("target_id", _B, "Unique Trigger Number with Any Degeneracy Removed", "INT", targ=1),
        _col("name", _B, "Designation of the NFI Pointed Source", "TXT"),
        _col("start_time", _B, "Start Time of the exposure", "UTC"),
        _col("stop_time", _B, "Stop Time of the exposure", "UTC"))
_XCORR = (_col("Distance", _B, "Distance between the LSXPS and external positions", "FLOAT", "arcsec"),
          _col("ExtCat_ID", _B, "Identifier in the external catalogue", "TXT"),
          _col("Catalogue", _B, "External catalogue", "TXT"),
          _col("Ext_RA", _B, "Right Ascension of the external source (J2000)", "COORDH"),
          _col("Ext_Decl", _B, "Declination of the external source (J2000)", "COORDD"),
          _col("Ext_Err90", _M, "90% position error of the external source", "FLOAT", "arcsec"))

#: (ColName, Class, Description, Type, IsObsCol, IsTargetCol) of each table of the obs and SXPS databases.
_META = {
    ("LSXPS", "sources"): (
        _col("LSXPS_ID", _B, "Unique source identifier", "INT"),
        _col("IAUName", _B, "IAU designation", "TXT"),
        *_RADEC,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        _col("Rate_band0", _B, "Mean 0.3-10 keV count rate", "FLOAT", "ct/s"),
        _col("Exposure", _B, "Total exposure at the source position", "FLOAT", "s"),
        _col("NumObs", _M, "Number of observations", "INT"),
        _col("FirstObsDate", _B, "Start of the first observation", "UTC"),
        _col("LastObsDate", _M, "End of the last observation", "UTC"),
        _col("DetFlag", _W, "Detection quality flag", "INT"),
        *_GAL,
        _col("NumDetections", _M, "Number of datasets in which the source was detected", "INT"),
        _col("FirstDetDate", _M, "Start of the first dataset with a detection", "UTC"),
        _col("HR1", _M, "Hardness ratio (M-S)/(M+S)", "FLOAT"),
        _col("HR2", _M, "Hardness ratio (H-M)/(H+M)", "FLOAT"),
        _col("MatchIn2SXPS", _M, "1 if the source is in 2SXPS", "INT"),
    ),
    # The BASIC columns and their order are those of the docs' datasets query (query/SXPS.md).
    ("LSXPS", "datasets"): (
        _col("DatasetID", _B, "Unique dataset identifier", "INT"),
        _col("ObsID", _B, "ObsID (stacked images: from 10000000000)", "TXT", obs=1),
        _col("DataVersion", _B, "Version of the dataset", "INT"),
        _col("IsStackedImage", _B, "1 for a stacked image", "INT"),
        _col("FieldFlag", _B, "Field quality flag (0 good, 1 reasonable, 2 poor)", "INT"),
        *_RADEC,
        _col("l", _B, "Galactic longitude", "COORDH"), _col("b", _B, "Galactic latitude", "COORDD"),
        *_DS_TIMES,
        _col("TargetID", _M, "Swift target ID (0 for stacks)", "INT", targ=1),
        _col("TargetObjectName", _M, "Name of the target", "TXT"),
        _col("IsObsoleteStack", _M, "1 for a stack superseded by a newer one", "INT"),
        _col("OriginalExposure", _M, "Exposure before filtering", "FLOAT", "s"),
        _col("ExposureUsed", _M, "Exposure used in source detection", "FLOAT", "s"),
        _col("StartTime_MET", _M, "Start of the dataset, Swift MET", "FLOAT", "s"),
        _col("StopTime_MET", _M, "End of the dataset, Swift MET", "FLOAT", "s"),
        _col("MidTime_MET", _M, "Middle of the dataset, Swift MET", "FLOAT", "s"),
        _col("MidTime_MJD", _M, "Middle of the dataset, MJD", "FLOAT", "d"),
        _col("NumSrc_band0", _M, "Number of sources detected in the 0.3-10 keV band", "INT"),
    ),
    ("LSXPS", "detections"): (
        _col("DetectionID", _B, "Unique detection identifier", "INT"),
        _col("ObsSourceID", _M, "The obssources row of this detection", "INT"),
        _col("LSXPS_ID", _B, "The LSXPS source", "INT"),
        _col("DatasetID", _B, "The dataset", "INT"),
        _col("ObsID", _B, "ObsID of the dataset", "TXT", obs=1),
        _col("Band", _B, "Band (0 total 0.3-10, 1 soft 0.3-1, 2 medium 1-2, 3 hard 2-10 keV)", "INT"),
        *_RADEC,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        *_RATES,
        _col("Counts", _M, "Counts in the source region", "FLOAT", "ct"),
        _col("BGCounts", _M, "Expected background counts in the source region", "FLOAT", "ct"),
        _col("SNR", _M, "Signal-to-noise ratio", "FLOAT"),
        _col("DetFlag", _W, "Detection quality flag", "INT"),
    ),
    ("LSXPS", "obssources"): (
        _col("ObsSourceID", _B, "Unique identifier of a source in one dataset", "INT"),
        _col("DatasetID", _B, "The dataset", "INT"),
        _col("ObsID", _B, "ObsID of the dataset", "TXT", obs=1),
        _col("LSXPS_ID", _B, "The LSXPS source", "INT"),
        _col("OSNum", _M, "Number of the source within its dataset", "INT"),
        *_RADEC,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        _col("DetFlag", _W, "Detection quality flag", "INT"),
        _col("Rate_band0", _B, "0.3-10 keV count rate in this dataset", "FLOAT", "ct/s"),
        _col("BestDetFlag", _M, "Best detection flag of any band", "INT"),
    ),
    ("LSXPS", "xcorr"): (_col("LSXPS_ID", _B, "The LSXPS source", "INT"),) + _XCORR,
    # The BASIC columns and their order are those of the docs' transients query (query/SXPS.md).
    ("LSXPS", "transients"): (
        _col("TransientID", _B, "Unique transient identifier", "INT"),
        _col("IAUName", _B, "IAU designation", "TXT"),
        _col("LSXPS_ID", _B, "The LSXPS source of the transient", "INT"),
        _col("LSXPSName", _B, "The IAU name of the LSXPS source", "TXT"),
        _col("Classification", _B, "0 unclassified, 1 confirmed transient, 2 possible, 3 not a transient",
             "INT"),
        *_RADEC,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        _col("l", _B, "Galactic longitude", "COORDH"), _col("b", _B, "Galactic latitude", "COORDD"),
        _col("DiscoveryDatasetID", _B, "The dataset in which the transient was found", "INT"),
        _col("ObsSourceID", _B, "The obssources row of the discovery", "INT"),
        _col("Significance", _B, "Significance of the rise above the catalogue limit", "FLOAT"),
        _col("DiscoveryDate", _B, "When the transient was announced", "UTC"),
        _col("DetectionDate", _B, "Start of the discovery observation", "UTC"),
        _col("DetectionMET", _B, "Start of the discovery observation, Swift MET", "FLOAT", "s"),
        _col("Notes", _B, "Notes on the transient", "TXT"),
        _col("DiscoveryObs", _M, "ObsID of the discovery observation", "TXT", obs=1),
        _col("DiscoveryTarget", _M, "Target ID of the discovery observation", "INT", targ=1),
        _col("PeakRate", _M, "Peak 0.3-10 keV count rate", "FLOAT", "ct/s"),
    ),
    ("LSXPS", "oldstacks"): (
        _col("ObsID", _B, "ObsID of the old stacked image", "TXT", obs=1),
        _col("DatasetID", _B, "Dataset identifier of the old stack", "INT"),
        _col("DataVersion", _M, "Version of the old stack", "INT"),
        _col("SupersededBy", _B, "ObsID of the stack that replaced it", "TXT"),
        *_RADEC,
        _col("ExposureUsed", _B, "Exposure used in source detection", "FLOAT", "s"),
        *_DS_TIMES,
    ),
    ("2SXPS", "sources"): (
        _col("2SXPS_ID", _B, "Unique source identifier", "INT"),
        _col("IAUName", _B, "IAU designation", "TXT"),
        *_RADEC, *_GAL,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        _col("Exposure", _B, "Total exposure at the source position", "FLOAT", "s"),
        _col("Rate_band0", _B, "Mean 0.3-10 keV count rate", "FLOAT", "ct/s"),
        _col("HR1", _M, "Hardness ratio (M-S)/(M+S)", "FLOAT"),
        _col("HR2", _M, "Hardness ratio (H-M)/(H+M)", "FLOAT"),
        _col("DetFlag", _W, "Detection quality flag", "INT"),
        _col("FirstObsDate", _M, "Start of the first observation", "UTC"),
    ),
    ("2SXPS", "datasets"): (
        _col("DatasetID", _B, "Unique dataset identifier", "INT"),
        _col("ObsID", _B, "ObsID (stacked images: from 10000000000)", "TXT", obs=1),
        _col("IsStackedImage", _B, "1 for a stacked image", "INT"),
        *_RADEC,
        _col("ExposureUsed", _B, "Exposure used in source detection", "FLOAT", "s"),
        *_DS_TIMES,
        _col("FieldFlag", _W, "Field quality flag (0 good, 1 reasonable, 2 poor)", "INT"),
    ),
    ("2SXPS", "detections"): (
        _col("DetectionID", _B, "Unique detection identifier", "INT"),
        _col("2SXPS_ID", _B, "The 2SXPS source", "INT"),
        _col("DatasetID", _B, "The dataset", "INT"),
        _col("ObsID", _B, "ObsID of the dataset", "TXT", obs=1),
        _col("Band", _B, "Band (0 total 0.3-10, 1 soft 0.3-1, 2 medium 1-2, 3 hard 2-10 keV)", "INT"),
        *_RADEC,
        _col("Err90", _B, "90% position error radius", "FLOAT", "arcsec"),
        *_RATES,
        _col("DetFlag", _W, "Detection quality flag", "INT"),
    ),
    ("2SXPS", "xcorr"): (_col("2SXPS_ID", _B, "The 2SXPS source", "INT"),) + _XCORR,
    ("obs", "swiftmastr"): (
        _col("name", _B, "Designation of the NFI Pointed Source", "TXT"),
        _col("orig_target_id", _M, "Trigger Number as Originally Assigned", "INT"),
        _col("target_id", _B, "Unique Trigger Number with Any Degeneracy Removed", "INT", targ=1),
        _col("ra", _B, "Right Ascension (Pointing Position)", "COORDH"),
        _col("decl", _B, "Declination (Pointing Position)", "COORDD"),
        _col("roll_angle", _B, "Roll Angle", "FLOAT", "degree"),
        _col("start_time", _B, "Start Time of Observation", "TXT"),
        _col("stop_time", _B, "Stop Time of Observation", "TXT"),
        _col("obs_segment", _B, "Observation Segment", "INT"),
        _col("obsid", _B, "Observation Number ID", "TXT", obs=1),
        _col("bat_exposure", _B, "BAT Exposure", "INT", "s"),
        _col("xrt_exposure", _B, "XRT Total Exposure", "FLOAT", "s"),
        _col("xrt_expo_wt", _B, "XRT Exposure in Windowed Timing mode", "FLOAT", "s"),
        _col("xrt_expo_pc", _B, "XRT Exposure in Photon Counting mode", "FLOAT", "s"),
        _col("uvot_exposure", _B, "UVOT Total Exposure", "FLOAT", "s"),
        _col("cycle", _M, "Observing cycle", "INT"),
    ),
    ("obs", "swiftxrlog"): _LOG + (
        _col("ra", _B, "Right Ascension (Pointing Position)", "COORDH"),
        _col("decl", _B, "Declination (Pointing Position)", "COORDD"),
        _col("xrt_mode", _B, "XRT readout mode (WT or PC)", "TXT"),
        _col("exposure", _B, "Exposure in this mode", "FLOAT", "s")),
    ("obs", "swiftbalog"): _LOG + (
        _col("bat_mode", _B, "BAT data mode (survey or event)", "TXT"),
        _col("exposure", _B, "BAT exposure", "FLOAT", "s")),
    ("obs", "swiftuvlog"): _LOG + (
        _col("filter", _B, "UVOT filter", "TXT"),
        _col("exposure", _B, "Exposure in this filter", "FLOAT", "s")),
    ("obs", "swifttdrss"): (
        _col("target_id", _B, "BAT trigger number", "INT", targ=1),
        _col("name", _B, "Name of the burst", "TXT"),
        _col("obsid", _B, "Observation Number ID of the trigger", "TXT", obs=1),
        _col("trigger_time", _B, "BAT trigger time", "UTC"),
        _col("ra", _B, "Right Ascension of the trigger (J2000)", "COORDH"),
        _col("decl", _B, "Declination of the trigger (J2000)", "COORDD")),
}
#: The cone columns of each table (GRB tables: the default of their ``RACol``/``DecCol``).
_RA_DEC = {key: next(((m[0], n[0]) for m, n in zip(cols, cols[1:])
                      if m[3] == "COORDH" and n[3] == "COORDD"), None)
           for key, cols in _META.items()}
#: Tables with the subsets ``clean`` and ``ultraclean`` (spec §4.1), and the flag that defines them:
#: clean keeps flag <= 1, ultraclean flag 0 (our reading of the LSXPS quality flags).
_SUBSETS = {(db, t): flag for db in ("LSXPS", "2SXPS")
            for t, flag in (("sources", "DetFlag"), ("datasets", "FieldFlag"))}
_SUBSET_NAMES = {"clean": 1, "ultraclean": 0, "ultra-clean": 0}


class SXPSAPIError(Exception):
    """An error answer of the common API: ``code`` (ERROR) and ``text`` (ERRORTEXT)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def _rng(*keys):
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def _iau(ra, dec):
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm, ds = int(d), int((d % 1) * 60), int(((d * 60) % 1) * 60)
    return "LSXPS J%02d%02d%04.1f%s%02d%02d%02d" % (hh, mm, ss, sign, dd, dm, ds)


def _cal(met):
    text = _CAL.get(float(met))
    if text is None:
        text = met_to_utc(met).strftime("%Y-%m-%d %H:%M:%S")
        if len(_CAL) < 500000:
            _CAL[float(met)] = text
    return text


def schedule(entry):
    """The observations of a sky object, as the product generator schedules them.

    The one schedule of the local service: the catalogue tables (`sky_tables`), the upper limits
    and the SXPS products (`xrtprods_astro.server.sxps_products`) all read it.

    Returns
    -------
    list of tuple
        ``(obsID, start MET, stop MET, exposure, [(start, stop) of each snapshot])``, by
        targetID then segment.
    """
    out = []
    for targ in entry.targets:
        pieces = observation_plan(entry, targ, _rng_stable("schedule", targ))
        by_seg = {}
        for seg, start, stop in pieces:
            by_seg.setdefault(seg, []).append((start, stop))
        for seg, snaps in sorted(by_seg.items()):
            out.append(("%s%03d" % (targ, seg), snaps[0][0], snaps[-1][1],
                        sum(b - a for a, b in snaps), snaps))
    return out


def _schedule(entry):
    """(obsID, start MET, stop MET, exposure) of every observation of a sky object."""
    return [o[:4] for o in schedule(entry)]


def _rng_stable(*keys):
    # The product generator's schedule seeding (catalogue._stable_rng), so obsIDs and times agree.
    from .catalogue import _stable_rng
    return _stable_rng(*keys)


@functools.lru_cache(maxsize=4096)
def kbn(n, b, cl):
    """Kraft, Burrows & Nousek (1991): the most probable source counts and the shortest interval.

    The posterior of the source counts s >= 0 given ``n`` counts and ``b`` expected background
    counts is p(s) ~ (s + b)**n exp(-(s + b)); the interval holding ``cl`` of it is grown from the
    mode towards the more probable side, as UKSSDC's own ``bayesRate`` does.

    Returns
    -------
    tuple
        ``(mode, lower, upper)`` in counts.
    """
    top = n + 20 * math.sqrt(n + 1) + 30
    step = max(0.001, top / 200000.0)
    s = np.arange(0.0, top, step)
    # With no background the density is s**n: zero (not log 0) at s = 0.
    logp = (n * np.log(np.maximum(s + b, 1e-300)) if n > 0 else 0.0) - (s + b)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    inside = order[:int(np.searchsorted(np.cumsum(p[order]), cl)) + 1]
    mode = max(0.0, n - b)
    return mode, float(s[inside].min()), float(s[inside].max())


def _number(body, key, default=None, lo=-math.inf, hi=math.inf):
    """A finite number parameter within [lo, hi], or an error naming it."""
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        value = None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or not lo <= number <= hi:
        raise SXPSAPIError(4, f"{key} is {str(body.get(key, default))[:40]}, but must be a number "
                           f"from {lo:g} to {hi:g}.")
    return number


def _integer(body, key, default, lo, hi):
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SXPSAPIError(4, f"{key} is {str(value)[:40]}, but must be an integer from {lo} to {hi}.")
    return value


class SXPSService:
    """The catalogue functions of one local service (state: pending and stored upper limits).

    Parameters
    ----------
    seed : int
        The service's seed; the catalogue is fixed, the seed varies the counts of upper limits.
    """

    def __init__(self, seed=0, root=None):
        self.seed = seed
        #: How many getSXPSUL answers (new requests or ULID re-polls) still answer TIMEOUT.
        self.ul_timeouts = 0
        self._lock = threading.Lock()
        self._stored = {}      # ULID -> finished answer, deleted when fetched
        self._next_ulid = 1
        #: Folder of the full-table files (getSXPSTable); a temporary one if None.
        self.root = root
        self._files_lock = threading.Lock()
        self._coords = {}      # (table, RA column, Dec column) -> positions, for cones

    # ------------------------------------------------------------------ the simulated catalogue
    def _table(self, key):
        if key in _GRB_META:
            return grb_tables(self.seed)[key]
        return sky_tables()[key]

    @staticmethod
    def _build_sources():
        """The LSXPS ``sources`` rows of the simulated sky (the columns of the first table served).

        Other helpers build source details from these rows: the keys and the LSXPS_ID numbering
        stay stable; `lsxps_tables` holds every table built on them.
        """
        return [{k: v for k, v in row.items() if not k.startswith("__")} for row in _source_rows()]

    @staticmethod
    def _build_obs():
        return [{k: v for k, v in row.items() if not k.startswith("__")}
                for row in sky_tables()[("obs", "swiftmastr")]]

    # ------------------------------------------------------------------ dispatch
    def answer(self, body, base_url=""):
        """The answer (a dict, without the envelope's APIVersion) to one catalogue call.

        ``base_url`` is the service's root URL, for the full tables' ``URL``.

        Raises
        ------
        SXPSAPIError
            For an answer that is an ERROR.
        """
        func = body.get("APIFunc")
        if func == "getMetadata":
            return self._metadata(body)
        if func == "queryDB":
            return self._query(body)
        if func == "getOldSXPSTables":
            return self._old_tables()
        if func == "getSXPSTable":
            return self._full_table(body, base_url)
        return self._upper_limits(body)

    def _table_key(self, body):
        database, table = body.get("database"), body.get("table")
        known = ", ".join("/".join(k) for k in ALL_TABLES)
        if not isinstance(database, str) or not isinstance(table, str):
            raise SXPSAPIError(1, "database and table must be strings: this service has " + known)
        # SXPS table names are case-insensitive (the official client lower-cases them).
        key = (database, table.lower() if database in ("LSXPS", "2SXPS") else table)
        if key not in ALL_TABLES:
            raise SXPSAPIError(1, f"Unknown database/table {database[:40]}/{table[:40]}: this service has "
                               + known)
        return key

    @staticmethod
    def _columns(key):
        return [m["ColName"] for m in _GRB_META[key]] if key in _GRB_META else [m[0] for m in _META[key]]

    @staticmethod
    def _basic(key):
        if key in _GRB_META:
            return [m["ColName"] for m in _GRB_META[key] if "BASIC" in m["Class"]]
        return [m[0] for m in _META[key] if "BASIC" in m[1]]

    def _metadata(self, body):
        key = self._table_key(body)
        if key in _GRB_META:
            rows = [[m[c] for c in _GRB_META_COLUMNS] for m in _GRB_META[key]]
            return {"OK": 1, "metadata": {"columns": list(_GRB_META_COLUMNS), "metadata": rows}}
        rows = [[name, cls, desc, typ, desc, obs, targ] for name, cls, desc, typ, obs, targ in _META[key]]
        return {"OK": 1, "metadata": {"columns": ["ColName", "Class", "Description", "Type",
                                                  "LongDescription", "IsObsCol", "IsTargetCol"],
                                      "metadata": rows}}

    @staticmethod
    def _subset(key, value):
        """The rows filter of a ``subset`` (None: the whole table), or an error naming the choices."""
        if value is None:
            return None
        if key not in _SUBSETS:
            raise SXPSAPIError(3, f"{'/'.join(key)} has no subsets: only the sources and datasets tables of "
                               "LSXPS and 2SXPS have (clean, ultraclean).")
        if not isinstance(value, str) or value.lower() not in _SUBSET_NAMES:
            raise SXPSAPIError(3, f"subset is {str(value)[:40]}, but must be clean or ultraclean.")
        flag, limit = _SUBSETS[key], _SUBSET_NAMES[value.lower()]
        return lambda row: row[flag] is not None and row[flag] <= limit

    # ------------------------------------------------------------------ positions
    @staticmethod
    def _resolve(text):
        """(ra, dec, info) of a free-form position or an object name."""
        numbers = re.findall(r"[-+]?\d+(?:\.\d*)?", text)
        if re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*[, ]\s*[-+]?\d+(\.\d*)?\s*", text) and len(numbers) == 2:
            ra, dec = float(numbers[0]), float(numbers[1])
            if 0 <= ra < 360 and -90 <= dec <= 90:
                return ra, dec, f"Parsed '{text}' as ({ra:.5f}, {dec:.5f})"
        entry = lookup_name(text)
        if entry is None:
            raise SXPSAPIError(2, f"Could not resolve '{text}'.")
        return entry.ra, entry.dec, f"Resolved '{text}' as ({entry.ra}, {entry.dec}) via SIMBAD"

    # ------------------------------------------------------------------ queryDB
    def _query(self, body):
        key = self._table_key(body)
        names = self._columns(key)
        cols = body.get("cols") or self._basic(key)
        if not isinstance(cols, list):
            raise SXPSAPIError(3, "cols must be a list of column names.")
        bad = [c for c in cols if c not in names]
        if bad:
            raise SXPSAPIError(3, f"Unknown column(s) {', '.join(map(str, bad))} in {'/'.join(key)}.")
        num = _integer(body, "numRows", PAGE_LIMIT, 1, PAGE_LIMIT)
        first = _integer(body, "firstRow", 0, 0, 2 ** 31)
        rows = self._table(key)
        keep = self._subset(key, body.get("subset"))
        constraints = body.get("constraints") or []
        if not isinstance(constraints, list):
            raise SXPSAPIError(3, "constraints must be a list of objects.")
        for con in constraints:
            self._check_constraint(con, names)
        out = {"OK": 1}
        cone = None
        if body.get("searchName") is not None:
            ra, dec, info = self._resolve(str(body["searchName"]))
            out.update(ResolvedInfo=info, ResolvedRA=ra, ResolvedDec=dec)
            cone = (ra, dec)
        elif body.get("searchRA") is not None and body.get("searchDec") is not None:
            cone = (_number(body, "searchRA", lo=0, hi=360), _number(body, "searchDec", lo=-90, hi=90))
        if cone is not None:
            units = body.get("adUnits", "arcsec")
            if not isinstance(units, str) or units not in _AD_UNITS:
                raise SXPSAPIError(4, f"adUnits is {str(units)[:40]}, but must be one of: "
                                   "arcsec, arcmin, deg.")
            radius = _number(body, "searchRad", lo=0, hi=180 * _AD_UNITS[units]) / _AD_UNITS[units]
            index, ras, decs = self._positions(key, *self._cone_columns(key, body))
            # Vectorised: the tables hold tens of thousands of rows.
            dist = angular_separation_arcmin(cone[0], cone[1], ras, decs) / 60.0
            inside = np.nonzero(dist <= radius)[0]
            order = inside[np.argsort(dist[inside], kind="stable")]
            rows = [dict(rows[index[i]], _r=float(dist[i]) * _AD_UNITS[units]) for i in order]
            cols = ["_r"] + list(cols)
        if keep is not None:
            rows = [r for r in rows if keep(r)]
        for con in constraints:
            rows = [r for r in rows if self._keep(r, con)]
        if body.get("sortBy"):
            if not isinstance(body["sortBy"], str) or body["sortBy"] not in names:
                raise SXPSAPIError(3, f"Unknown sortBy column {body['sortBy']}.")
            col = body["sortBy"]
            # sorted(), never sort(): without a filter, rows is the shared table itself.
            rows = sorted(rows, key=lambda r: (r[col] is None, "" if r[col] is None else r[col]),
                          reverse=body.get("sortDir") == "DESC")
        page = [{c: r[c] for c in cols} for r in rows[first:first + num]]
        out.update(NumRows=len(page), Results=page)
        return out

    def _cone_columns(self, key, body):
        """The RA/Dec columns of a cone: the table's own, or ``RACol``/``DecCol`` where sent."""
        racol, deccol = body.get("RACol"), body.get("DecCol")
        if racol is None and deccol is None:
            if _RA_DEC.get(key) is None:
                raise SXPSAPIError(3, f"{'/'.join(key)} has no position columns: it takes no cone search.")
            return _RA_DEC[key]
        meta = {m["ColName"]: m["Type"] for m in _GRB_META[key]} if key in _GRB_META else \
            {m[0]: m[3] for m in _META[key]}
        if meta.get(racol if isinstance(racol, str) else None) != "COORDH" \
                or meta.get(deccol if isinstance(deccol, str) else None) != "COORDD":
            pairs = [f"{m}/{n}" for m, n in zip(meta, list(meta)[1:])
                     if meta[m] == "COORDH" and meta[n] == "COORDD"]
            raise SXPSAPIError(3, f"RACol/DecCol are {str(racol)[:40]}/{str(deccol)[:40]}, but must be a "
                               "right ascension and a declination column of the table: " + ", ".join(pairs))
        return racol, deccol

    @staticmethod
    def _test(value, op, ref):
        if op == "IS NULL":
            return value is None
        if op == "IS NOT NULL":
            return value is not None
        if value is None:
            return False
        if op in ("LIKE", "NOT LIKE"):
            pattern = "^" + ".*".join(re.escape(p) for p in str(ref).split("%")) + "$"
            match = re.match(pattern.replace("_", "."), str(value), re.I) is not None
            return match if op == "LIKE" else not match
        try:
            if op == "BETWEEN":
                lo, hi = ref
                return type(value)(lo) <= value <= type(value)(hi)
            ref = type(value)(ref)
        except (TypeError, ValueError, OverflowError):
            raise SXPSAPIError(5, f"Bad value {str(ref)[:40]} for operator {op}.") from None
        return {"<": value < ref, ">": value > ref, "=": value == ref, "<=": value <= ref,
                ">=": value >= ref, "!=": value != ref}[op]

    @staticmethod
    def _check_constraint(con, names):
        if not isinstance(con, dict) or not isinstance(con.get("colName"), str) \
                or con["colName"] not in names:
            raise SXPSAPIError(3, f"Bad constraint {str(con)[:80]}: colName must be a column of the table.")
        for key in ("filter", "filter2"):
            if (con.get(key) is not None or key == "filter") and (not isinstance(con.get(key), str)
                                                                  or con[key] not in _OPS):
                raise SXPSAPIError(5, f"{key} is {str(con.get(key))[:40]}, but must be one of: "
                                   + ", ".join(_OPS))

    def _positions(self, key, racol, deccol):
        """(row indices, RAs, Decs) of the rows of a table that have a position in those columns."""
        cache_key = (key, racol, deccol)
        with self._lock:
            cached = self._coords.get(cache_key)
        if cached is None:
            rows = self._table(key)
            index = np.array([i for i, r in enumerate(rows)
                              if r[racol] is not None and r[deccol] is not None], dtype=int)
            cached = (index, np.array([float(rows[i][racol]) for i in index]),
                      np.array([float(rows[i][deccol]) for i in index]))
            with self._lock:
                self._coords[cache_key] = cached
        return cached

    def _keep(self, row, con):
        value = row[con["colName"]]
        first = self._test(value, con["filter"], con.get("val"))
        if con.get("filter2") is None:
            return first
        second = self._test(value, con["filter2"], con.get("val2"))
        return first or second if con.get("combiner") == "OR" else first and second

    # ------------------------------------------------------------------ full tables
    @staticmethod
    def _old_tables():
        """``getOldSXPSTables``: each snapshot epoch with, per table, its file names (spec §9.4: the
        inner shape is ours: ``{table: [file, ...]}`` for every subset and format)."""
        out = {"OK": 1}
        for kind, epochs in SNAPSHOTS.items():
            out[kind] = {}
            for epoch in epochs:
                out[kind][epoch] = {
                    table: [table_file_name("LSXPS", table, subset, epoch, fmt)
                            for subset in ((None, "clean", "ultraclean") if ("LSXPS", table) in _SUBSETS
                                           else (None,))
                            for fmt in ("csv", "fits")]
                    for table in FULL_TABLES["LSXPS"]}
        return out

    def _full_table(self, body, base_url):
        """``getSXPSTable``: the URL (and FILE, with the same base name) of a full table."""
        cat = body.get("whichCat", "LSXPS")
        if not isinstance(cat, str) or cat not in FULL_TABLES:
            raise SXPSAPIError(1, f"whichCat is {str(cat)[:40]}, but must be LSXPS or 2SXPS.")
        table = body.get("table")
        table = table.lower() if isinstance(table, str) else table
        table = "xcorr" if table == "extcatmatches" else table
        if not isinstance(table, str) or table not in FULL_TABLES[cat]:
            raise SXPSAPIError(1, f"table is {str(body.get('table'))[:40]}, but must be one of: "
                               + ", ".join(FULL_TABLES[cat]))
        subset = body.get("subset")
        keep = self._subset((cat, table), subset)
        fmt = body.get("format", "csv")
        if not isinstance(fmt, str) or fmt.lower() not in ("csv", "fits"):
            raise SXPSAPIError(1, f"format is {str(fmt)[:40]}, but must be csv or fits.")
        fmt = fmt.lower()
        epoch = body.get("epoch")
        if epoch is not None:
            known = [e for epochs in SNAPSHOTS.values() for e in epochs]
            if cat != "LSXPS" or epoch not in known:
                raise SXPSAPIError(1, f"epoch is {str(epoch)[:40]}, but must be exactly one of the snapshot "
                                   "epochs of getOldSXPSTables (LSXPS only).")
        name = table_file_name(cat, table, subset.lower() if subset else None, epoch, fmt)
        path = self._tables_dir(cat) / name
        with self._files_lock:
            if not path.exists():
                rows = [r for r in sky_tables()[(cat, table)] if keep is None or keep(r)]
                if epoch is not None:
                    cut = _met_of(epoch)
                    rows = [r for r in rows if r["__since"] <= cut]
                data = _file_bytes((cat, table), rows, fmt)
                if epoch is not None:
                    data = gzip.compress(data, mtime=0)
                part = path.with_name(path.name + ".part")
                part.write_bytes(data)
                os.replace(part, path)
        return {"OK": 1, "URL": f"{base_url}/{cat}/{TABLES_DIR}/{name}",
                "FILE": f"/data/{cat}/{TABLES_DIR}/{name}"}

    def _tables_dir(self, cat):
        from pathlib import Path
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="xrtprods-sxps-")
        folder = Path(self.root) / cat / TABLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def file_for(self, path):
        """The file to send for a GET of ``/<catalogue>/tables/<name>``, or None (a 404)."""
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] not in FULL_TABLES or parts[1] != TABLES_DIR or self.root is None:
            return None
        name = parts[2]
        if not name or name.startswith(".") or "\\" in name or name.endswith(".part"):
            return None
        from pathlib import Path
        target = Path(self.root) / parts[0] / TABLES_DIR / name
        return target if target.is_file() else None

    # ------------------------------------------------------------------ getSXPSUL
    def _upper_limits(self, body):
        if "ULID" in body:
            ulid = str(body["ULID"])
            with self._lock:
                if ulid not in self._stored:
                    raise SXPSAPIError(6, f"There is no upper-limit result with ULID {ulid}: it never "
                                       "existed or was already retrieved (results are deleted once fetched).")
                if self.ul_timeouts > 0:
                    self.ul_timeouts -= 1
                    return {"OK": 1, "TIMEOUT": ulid}
                return self._stored.pop(ulid)
        result = self._compute_ul(body)
        with self._lock:
            if self.ul_timeouts > 0:
                self.ul_timeouts -= 1
                ulid = "UL%06d" % self._next_ulid
                self._next_ulid += 1
                self._stored[ulid] = result
                return {"OK": 1, "TIMEOUT": ulid}
        return result

    def _compute_ul(self, body):
        cat = body.get("catalogue", "LSXPS")
        if cat not in ("LSXPS", "2SXPS"):
            raise SXPSAPIError(1, f"catalogue is {cat}, but must be LSXPS or 2SXPS.")
        out = {"OK": 1}
        if body.get("searchName") is not None:
            ra, dec, info = self._resolve(str(body["searchName"]))
            out.update(ResolvedRA=round(ra, 5), ResolvedDec=round(dec, 5), ResolvedInfo=info)
        elif body.get("RA") is not None and body.get("Dec") is not None:
            ra, dec = _number(body, "RA", lo=0, hi=360), _number(body, "Dec", lo=-90, hi=90)
        else:
            raise SXPSAPIError(2, "No position given: send searchName or both RA and Dec.")
        bands = body.get("bands", ["total"])
        bands = list(_BANDS) if bands == "all" else [bands] if isinstance(bands, str) else bands
        if not isinstance(bands, list) or not bands:
            raise SXPSAPIError(1, "bands must be 'all', a band name or a list of them.")
        bad = [b for b in bands if str(b).lower() not in _BANDS]
        if bad:
            raise SXPSAPIError(1, f"bands has {bad}, but must be 'all' or from: " + ", ".join(_BANDS))
        bands = [_BANDS[b] for b in _BANDS if b in {str(x).lower() for x in bands}]
        fmt = str(body.get("timeFormat", "cal")).lower()
        if fmt not in ("cal", "met", "mjd"):
            raise SXPSAPIError(1, f"timeFormat is {body.get('timeFormat')}, but must be cal, met or mjd.")
        sigma = _number(body, "sigma", 3.0, lo=0.1, hi=10)
        rates = bool(body.get("detectionsAsRates", False))
        # Sources of the simulated catalogue near the position.
        near, det = None, []
        for entry in CATALOGUE:
            if angular_separation_arcmin(ra, dec, entry.ra, entry.dec) > FOV_RADIUS_ARCMIN + 9:
                continue
            for src in [entry] + list(field_sources(entry)):
                d = angular_separation_arcmin(ra, dec, src.ra, src.dec) * 60.0
                if d <= 30.0:
                    det.append({"Distance": round(d, 1), "SourceName": _iau(src.ra, src.dec)})
                    near = near or src
        if det:
            out["DetData"] = det
        # The datasets of the LSXPS datasets table that cover the position: the observations of
        # every field pointed within the field of view, and those fields' stacks (the same ObsIDs,
        # times and exposures as getSXPSDatasetInfo and queryDB give).
        index = sky_index()
        rows = [d for fnum in index.fields_near(ra, dec) for d in index.field_datasets[fnum]]
        observations = sorted((d for d in rows if not d["IsStackedImage"]), key=lambda d: d["ObsID"])
        stacks = sorted((d for d in rows if d["IsStackedImage"]), key=lambda d: d["ObsID"])
        if body.get("skipDetections") and det:
            observations = stacks = []
        if body.get("whichData", "deepest") == "deepest":
            # The deepest dataset: a field's stack, or its only observation.
            chosen = sorted(stacks or observations, key=lambda d: (-d["ExposureUsed"], d["ObsID"]))[:1]
        else:
            chosen = stacks + observations
        datasets = [(d["ObsID"], d["StartTime_MET"], d["StopTime_MET"], d["ExposureUsed"]) for d in chosen]
        columns = ["StartTime", "StopTime", "ObsID", "SourceExposure", "ImageExposure"]
        for b in bands:
            columns += [f"{b}_UpperLimit"] + ([f"{b}_Rate", f"{b}_RatePos", f"{b}_RateNeg"] if rates else [])
            columns += [f"{b}_Counts", f"{b}_BGCounts", f"{b}_CorrectionFactor"]
            columns += [f"{b}_IsDetected"] if rates else []
        cl = math.erf(sigma / math.sqrt(2))
        rows = []
        for obsid, start, stop, exposure in datasets:
            rng = _rng("ul", self.seed, obsid, round(ra, 4), round(dec, 4))
            row = {"StartTime": self._time(start, fmt), "StopTime": self._time(stop, fmt), "ObsID": obsid,
                   "SourceExposure": round(exposure * 0.93, 2), "ImageExposure": round(exposure, 6)}
            for b in bands:
                cf = round(float(rng.uniform(1.1, 1.4)), 6)
                bg = round(float(exposure * 2.5e-4 * _BAND_FRACTION[b]), 6)
                src_rate = near.rate * _BAND_FRACTION[b] if near is not None else 0.0
                n = int(rng.poisson(bg + src_rate * exposure / cf))
                _, lowest, ul = kbn(n, bg, cl)
                row[f"{b}_UpperLimit"] = ul * cf / exposure
                detected = rates and lowest > 0
                mode, lo, hi = kbn(n, bg, ONE_SIGMA) if detected else (0.0, 0.0, 0.0)
                if rates:
                    row[f"{b}_Rate"] = mode * cf / exposure if detected else None
                    row[f"{b}_RatePos"] = (hi - mode) * cf / exposure if detected else None
                    row[f"{b}_RateNeg"] = (lo - mode) * cf / exposure if detected else None
                row[f"{b}_Counts"] = float(n)
                row[f"{b}_BGCounts"] = bg
                row[f"{b}_CorrectionFactor"] = cf
                if rates:
                    row[f"{b}_IsDetected"] = bool(detected)
            rows.append(row)
        out["Columns"] = columns
        # A float column whose every value is null crashes the official client (spec §7 #3): send "nan".
        for col in columns:
            if rows and all(r.get(col, 0) is None for r in rows):
                for r in rows:
                    r[col] = "nan"
        out["ULData"] = [[r[c] for c in columns] for r in rows]
        return out

    @staticmethod
    def _time(met, fmt):
        if fmt == "met":
            return round(met, 3)
        if fmt == "mjd":
            return float(met_to_mjd(met))
        return _cal(met)


# ====================================================================== the simulated catalogue tables
# One sky, every table built from it: observations (swiftmastr and the instrument logs) are the
# LSXPS datasets that are not stacks; detections and obssources point at datasets and sources;
# transients and cross-matches point at sources; 2SXPS is LSXPS as it stood at its cut-off date.
# Private keys (``__since``: MET from which a row exists, for snapshots) start with two underscores
# and never reach an answer.

#: The documented transients (spec §3.7, §8): TransientID -> (object of the sky, Classification,
#: in LSXPS yet). Transient 30 is not in LSXPS yet (its lookup is MISSING, spec §3.2).
TRANSIENT_FIXTURES = {1: ("V404 Cyg", 1, True), 30: ("Aql X-1 field 2", 2, False),
                      576: ("Swift J1753.5-0127", 1, True)}
#: The Classification codes of the transients table and the words getSXPSTransInfo answers.
CLASSIFICATIONS = {0: "Unclassified", 1: "Confirmed transient", 2: "Possible transient", 3: "Not a transient"}

#: MET of the 2SXPS cut-off (2018-08-01): datasets, detections and sources later than this are LSXPS only.
SXPS2_CUTOFF = 554774405.0
#: Swift MET of 2001-01-01T00:00:00 UTC is 0; the snapshots' epochs are turned into MET with the
#: leap seconds since then (5 by 2017), close enough for deciding what a snapshot held.
_LEAP_2017 = 5.0


def _met_of(text):
    """MET of a UTC 'YYYY-MM-DD[ HH:MM:SS]' epoch (to the leap second, for snapshot cuts)."""
    from datetime import datetime
    stamp = datetime.fromisoformat(text.replace(" UTC", "").strip())
    return (stamp - datetime(2001, 1, 1)).total_seconds() + _LEAP_2017


def _swift_name(ra, dec, prefix="Swift"):
    return _iau(ra, dec).replace("LSXPS", prefix)


# ICRS -> Galactic rotation (Hipparcos definition, as astropy uses).
_TO_GALACTIC = np.array([[-0.0548755604162154, -0.8734370902348850, -0.4838350155487132],
                         [+0.4941094278755837, -0.4448296299600112, +0.7469822444972189],
                         [-0.8676661490190047, -0.1980763734312015, +0.4559837761750669]])


def _galactic(pairs):
    """``{(ra, dec): (l, b)}`` in degrees for (ra, dec) pairs in degrees."""
    radec = np.radians(np.array(pairs, dtype=float).reshape(-1, 2))
    xyz = np.stack([np.cos(radec[:, 1]) * np.cos(radec[:, 0]), np.cos(radec[:, 1]) * np.sin(radec[:, 0]),
                    np.sin(radec[:, 1])])
    gx, gy, gz = _TO_GALACTIC @ xyz
    lon = np.round(np.degrees(np.arctan2(gy, gx)) % 360.0, 5)
    lat = np.round(np.degrees(np.arcsin(np.clip(gz, -1, 1))), 5)
    return {p: (float(a), float(b)) for p, a, b in zip(pairs, lon, lat)}


def _unit(*keys):
    """A fixed number in [0, 1) for keys: a cheap stand-in for a seeded generator's first draw."""
    return zlib.crc32("/".join(map(str, keys)).encode()) / 2.0 ** 32


_CAL = {}


def _cal_bulk(mets):
    """Fill the memo of `_cal` for many METs at once (the clock correction is vectorised)."""
    from datetime import timedelta
    from .sky import utcf
    todo = np.array(sorted({float(m) for m in mets} - set(_CAL)), dtype=float)
    if not len(todo):
        return
    from datetime import datetime
    epoch = datetime(2001, 1, 1)
    for met, seconds in zip(todo.tolist(), (todo + utcf(todo)).tolist()):
        t = epoch + timedelta(seconds=seconds)
        _CAL[met] = "%04d-%02d-%02d %02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)


def _filler_observations(row, index):
    """(obsID, start, stop, exposure) of a filler source's observations (its NumObs of them)."""
    n, first, last = row["NumObs"], row["__first"], row["__last"]
    each = row["Exposure"] / n
    targ = "%08d" % (3500000 + index)
    out = []
    for k in range(n):
        start = first if n == 1 else first + k * (last - each * 1.05 - first) / (n - 1)
        out.append(("%s%03d" % (targ, k + 1), start, start + each * 1.05, each))
    return out


@functools.lru_cache(maxsize=1)
def _fields():
    """The pointed fields: (name, ra, dec, observations, source indices into `_source_rows`)."""
    rows = _source_rows()
    out, i = [], 0
    for entry in CATALOGUE:
        n = 1 + len(field_sources(entry))
        out.append((entry.name.replace(" ", ""), entry.ra, entry.dec, _schedule(entry),
                    list(range(i, i + n))))
        i += n
    for k, row in enumerate(rows[i:]):
        out.append((row["IAUName"].split()[1], row["RA"], row["Decl"], _filler_observations(row, k), [i + k]))
    return out


@functools.lru_cache(maxsize=1)
def _source_rows():
    rows = []
    for entry in CATALOGUE:
        obs = _schedule(entry)
        srcs = [entry] + list(field_sources(entry))
        for i, src in enumerate(srcs):
            rows.append({"RA": src.ra, "Decl": src.dec, "Rate_band0": float(src.rate),
                         "Exposure": float(sum(o[3] for o in obs)), "NumObs": len(obs),
                         "FirstObsDate": min(o[1] for o in obs), "LastObsDate": max(o[2] for o in obs),
                         "Err90": 3.5 if i == 0 else 5.5, "DetFlag": 0 if i == 0 else 1})
    rng = _rng("filler")
    for _ in range(N_FILLER):
        dec = math.degrees(math.asin(rng.uniform(-1, 1)))
        start = rng.uniform(1.6e8, 7.0e8)
        exposure = float(rng.uniform(500, 5.0e4))
        rows.append({"RA": float(rng.uniform(0, 360)), "Decl": dec,
                     "Rate_band0": float(10 ** rng.uniform(-3, -1.5)), "Exposure": exposure,
                     "NumObs": int(rng.integers(1, 12)), "FirstObsDate": start,
                     "LastObsDate": start + float(rng.uniform(1e4, 1e8)),
                     "Err90": float(rng.uniform(4, 8)), "DetFlag": int(rng.integers(0, 3))})
        if rows[-1]["NumObs"] == 1:
            # One observation: it ends when its exposure does.
            rows[-1]["LastObsDate"] = start + exposure * 1.05
    for i, row in enumerate(rows, start=1):
        row["LSXPS_ID"] = i
        row["IAUName"] = _iau(row["RA"], row["Decl"])
        row["__first"], row["__last"] = row["FirstObsDate"], min(row["LastObsDate"], 7.5e8)
        row["FirstObsDate"] = _cal(row["__first"]).replace(" ", "T")
        row["LastObsDate"] = _cal(row["__last"]).replace(" ", "T")
        row["__since"] = row["__first"]
    return rows


def _row_rate(rate, exposure, frac, cf=1.2):
    """(counts, rate, +err, -err, snr) of a source of ``rate`` ct/s seen for ``exposure`` s."""
    counts = rate * frac * exposure / cf
    err = math.sqrt(max(counts, 1.0)) * cf / exposure
    # Six decimals, as the catalogue's rates are printed.
    return counts, round(rate * frac, 6), round(err, 6), -round(err, 6), counts / math.sqrt(max(counts, 1.0))


@functools.lru_cache(maxsize=None)
def _seen_rate(obj, start, stop):
    """Mean count rate of a sky object over one observation (as the SXPS products measure it)."""
    from .sky import source_rate
    return float(np.mean(source_rate(obj, np.linspace(start, stop, 7))))


@functools.lru_cache(maxsize=1)
def sky_tables():
    """Every table of the catalogue interface except the GRB ones: ``{(database, table): rows}``.

    The rows are dicts keyed by column name (private ``__`` keys aside); they are built once and
    shared, so callers must not change them.
    """
    sources = _source_rows()
    fields = _fields()
    pairs = tuple(sorted({(round(s["RA"], 6), round(s["Decl"], 6)) for s in sources}
                         | {(round(f[1], 6), round(f[2], 6)) for f in fields}))
    gal = _galactic(pairs)
    _cal_bulk([t for f in fields for o in f[3] for t in (o[1], o[2])])
    datasets, mastr, xrlog, balog, uvlog, tdrss = [], [], [], [], [], []
    detections, obssources, oldstacks = [], [], []
    det_of_source = {}
    grb_names = {e.name.replace(" ", ""): e for e in CATALOGUE if e.kind == "GRB"}
    objects = {}     # source index -> its object of the simulated sky (the fillers have none)
    for entry in CATALOGUE:
        for obj in [entry] + list(field_sources(entry)):
            objects[len(objects)] = obj
    for fnum, (name, ra, dec, observations, members) in enumerate(fields):
        l_deg, b_deg = gal[(round(ra, 6), round(dec, 6))]
        deepest = max(observations, key=lambda o: o[3])[0]
        field_sets = []
        for obsid, start, stop, exposure in observations:
            field_sets.append((obsid, start, stop, exposure, 0))
            targ = int(obsid[:8])
            grb = grb_names.get(name)
            wt = round(exposure * (0.15 if grb is not None and obsid.endswith("000") else 0.02), 3)
            xrt = round(exposure, 3)
            row = {"name": name, "orig_target_id": targ, "target_id": targ, "ra": ra, "decl": dec,
                   "roll_angle": round(360.0 * _unit("roll", obsid), 4),
                   "start_time": _cal(start).replace(" ", "T"), "stop_time": _cal(stop).replace(" ", "T"),
                   "obs_segment": int(obsid[8:]), "obsid": obsid,
                   "bat_exposure": int(round(exposure * 1.02)), "xrt_exposure": xrt,
                   "xrt_expo_wt": wt, "xrt_expo_pc": round(xrt - wt, 3),
                   "uvot_exposure": round(exposure * 0.97, 3), "cycle": 1 + int((start - 1.0e8) // 3.15e7),
                   "__since": start}
            mastr.append(row)
            for mode, expo in (("WT", wt), ("PC", row["xrt_expo_pc"])):
                if expo > 0:
                    xrlog.append({"obsid": obsid, "target_id": targ, "name": name, "ra": ra, "decl": dec,
                                  "start_time": _cal(start), "stop_time": _cal(stop), "xrt_mode": mode,
                                  "exposure": expo, "__since": start})
            balog.append({"obsid": obsid, "target_id": targ, "name": name, "start_time": _cal(start),
                          "stop_time": _cal(stop), "bat_mode": "survey" if grb is None else "event",
                          "exposure": float(row["bat_exposure"]), "__since": start})
            filt = ("UVW1", "UVM2", "UVW2", "U", "B", "V", "WHITE")[int(7 * _unit("filter", obsid))]
            uvlog.append({"obsid": obsid, "target_id": targ, "name": name, "start_time": _cal(start),
                          "stop_time": _cal(stop), "filter": filt, "exposure": row["uvot_exposure"],
                          "__since": start})
            if grb is not None and obsid.endswith("000"):
                tdrss.append({"target_id": targ, "name": grb.name, "obsid": obsid,
                              "trigger_time": _cal(grb.t_first), "ra": ra, "decl": dec,
                              "__since": grb.t_first})
        if len(observations) > 1:
            stack_id = "1%010d" % (fnum + 1)
            field_sets.append((stack_id, min(o[1] for o in observations), max(o[2] for o in observations),
                               sum(o[3] for o in observations), 1))
            old_id = "1%010d" % (50000 + fnum + 1)
            oldstacks.append({"ObsID": old_id, "DatasetID": 900000 + fnum + 1, "DataVersion": 1,
                              "SupersededBy": stack_id, "RA": ra, "Decl": dec,
                              "ExposureUsed": round(sum(o[3] for o in observations[:-1]), 2),
                              "StartTime_UTC": _cal(observations[0][1]),
                              "StopTime_UTC": _cal(observations[-2][2]), "__since": observations[-2][2]})
        for obsid, start, stop, exposure, stacked in field_sets:
            did = len(datasets) + 1
            flag = (0, 0, 0, 1, 2)[int(5 * _unit("fieldflag", obsid))]
            ds = {"DatasetID": did, "ObsID": obsid, "TargetID": int(obsid[:8]) if not stacked else 0,
                  "TargetObjectName": name, "IsStackedImage": stacked, "IsObsoleteStack": 0, "DataVersion": 2,
                  "RA": ra, "Decl": dec, "l": l_deg, "b": b_deg,
                  "OriginalExposure": round(exposure * 1.03, 2), "ExposureUsed": round(exposure, 2),
                  "StartTime_MET": round(start, 3), "StopTime_MET": round(stop, 3),
                  "MidTime_MET": round((start + stop) / 2, 3), "StartTime_UTC": _cal(start),
                  "StopTime_UTC": _cal(stop), "MidTime_MJD": None,
                  "FieldFlag": flag, "NumSrc_band0": 0, "__since": stop, "__field": fnum}
            datasets.append(ds)
            for num, i in enumerate(members):
                src = sources[i]
                bands = []
                # The rate in this dataset: the sky object's light curve (a GRB fades below detection),
                # exposure-weighted over the observations for a stack; a filler's catalogued rate.
                if i not in objects:
                    seen = src["Rate_band0"]
                elif stacked:
                    seen = sum(_seen_rate(objects[i], o[1], o[2]) * o[3] for o in observations) / exposure
                else:
                    seen = _seen_rate(objects[i], start, stop)
                for band, frac in enumerate((1.0, 0.3, 0.35, 0.35)):
                    counts, rate, pos, neg, snr = _row_rate(seen, exposure, frac)
                    if counts >= 5 or band == 0 and obsid == deepest and i not in det_of_source:
                        bands.append((band, counts, rate, pos, neg, snr))
                if not bands or bands[0][0] != 0:
                    continue
                osid = len(obssources) + 1
                det_of_source.setdefault(i, []).append(did)
                ds["NumSrc_band0"] += 1
                obssources.append({"ObsSourceID": osid, "DatasetID": did, "ObsID": obsid,
                                   "LSXPS_ID": src["LSXPS_ID"], "OSNum": num + 1, "RA": src["RA"],
                                   "Decl": src["Decl"], "Err90": src["Err90"], "DetFlag": src["DetFlag"],
                                   "Rate_band0": bands[0][2], "BestDetFlag": src["DetFlag"],
                                   "__since": stop})
                for band, counts, rate, pos, neg, snr in bands:
                    detections.append({"DetectionID": len(detections) + 1, "ObsSourceID": osid,
                                       "LSXPS_ID": src["LSXPS_ID"], "DatasetID": did, "ObsID": obsid,
                                       "Band": band, "RA": src["RA"], "Decl": src["Decl"],
                                       "Err90": src["Err90"], "Rate": rate, "Rate_pos": pos, "Rate_neg": neg,
                                       "Counts": round(counts, 3),
                                       "BGCounts": round(exposure * 2.5e-4, 3), "SNR": round(snr, 3),
                                       "DetFlag": src["DetFlag"], "__since": stop})
    mids = np.array([d["MidTime_MET"] for d in datasets], dtype=float)
    for ds, mjd in zip(datasets, np.round(met_to_mjd(mids), 6).tolist()):
        ds["MidTime_MJD"] = mjd
    by_id = {d["DatasetID"]: d for d in datasets}
    lsxps_sources, xcorr, transients = [], [], []
    for i, src in enumerate(sources):
        row = {k: v for k, v in src.items() if not k.startswith("__") or k == "__since"}
        dets = det_of_source.get(i, [])
        row["NumDetections"] = len(dets)
        row["l"], row["b"] = gal[(round(src["RA"], 6), round(src["Decl"], 6))]
        row["FirstDetDate"] = min(by_id[d]["StartTime_UTC"] for d in dets).replace(" ", "T") if dets else None
        row["HR1"] = round(-0.8 + 1.4 * _unit("hr1", i), 4)
        row["HR2"] = round(-0.6 + 1.4 * _unit("hr2", i), 4)
        in2 = src["__first"] < SXPS2_CUTOFF
        row["MatchIn2SXPS"] = int(in2)
        lsxps_sources.append(row)
        if in2:
            xcorr.append({"LSXPS_ID": src["LSXPS_ID"], "Distance": round(src["Err90"] / 3, 2),
                          "ExtCat_ID": src["IAUName"].replace("LSXPS", "2SXPS"), "Catalogue": "2SXPS",
                          "Ext_RA": src["RA"], "Ext_Decl": src["Decl"], "Ext_Err90": src["Err90"] + 0.5,
                          "__since": src["__first"]})
        if i % 4 == 0:
            xcorr.append({"LSXPS_ID": src["LSXPS_ID"], "Distance": round(src["Err90"] / 2, 2),
                          "ExtCat_ID": src["IAUName"].replace("LSXPS ", "4XMM "), "Catalogue": "4XMM-DR10",
                          "Ext_RA": src["RA"], "Ext_Decl": src["Decl"], "Ext_Err90": 1.5,
                          "__since": src["__first"]})
    first_of = {}
    k = 0
    for entry in CATALOGUE:
        first_of[entry.name] = k
        k += 1 + len(field_sources(entry))
    # The documented fixtures (spec §3.7, §8) first, at their TransientIDs, then the GRB afterglows
    # and a few fillers numbered from 2 upwards around them. The confirmed ones (Classification 1)
    # are the docs' six (spec §4.5): fixtures 1 and 576 and the four latest GRBs; the two earliest
    # GRB afterglows stay unclassified.
    by_name = {}
    for entry in CATALOGUE:
        by_name[entry.name] = first_of[entry.name]
        for n, fs in enumerate(field_sources(entry), start=1):
            by_name[fs.name] = first_of[entry.name] + n
    grbs = sorted((e for e in CATALOGUE if e.kind == "GRB"), key=lambda e: e.t_first)
    candidates = [(tid, by_name[obj], cls, in_lsxps)
                  for tid, (obj, cls, in_lsxps) in sorted(TRANSIENT_FIXTURES.items())]
    candidates += [(None, first_of[e.name], 1 if g >= 2 else 0, True) for g, e in enumerate(grbs)]
    candidates += [(None, i, (0, 2, 3)[int(3 * _unit("class", i))], True)
                   for i in range(k, len(sources), 250)]
    next_id = 1
    for tid, i, cls, in_lsxps in candidates:
        src = sources[i]
        dets = det_of_source.get(i, [])
        first = min((by_id[d] for d in dets if not by_id[d]["IsStackedImage"]),
                    key=lambda d: d["StartTime_MET"], default=None)
        if first is None:
            continue
        if tid is None:
            while next_id in TRANSIENT_FIXTURES:
                next_id += 1
            tid, next_id = next_id, next_id + 1
        discovery = next(o for o in obssources if o["DatasetID"] == first["DatasetID"]
                         and o["LSXPS_ID"] == src["LSXPS_ID"])
        l_deg, b_deg = gal[(round(src["RA"], 6), round(src["Decl"], 6))]
        transients.append({"TransientID": tid, "IAUName": _swift_name(src["RA"], src["Decl"]),
                           "LSXPS_ID": src["LSXPS_ID"] if in_lsxps else None,
                           "LSXPSName": src["IAUName"] if in_lsxps else None, "Classification": cls,
                           "RA": src["RA"], "Decl": src["Decl"], "Err90": src["Err90"],
                           "l": l_deg, "b": b_deg,
                           "DiscoveryDatasetID": first["DatasetID"], "ObsSourceID": discovery["ObsSourceID"],
                           "Significance": round(2.0 + 4.0 * _unit("significance", i), 5),
                           "DiscoveryDate": _cal(first["StopTime_MET"] + 3600.0),
                           "DetectionDate": first["StartTime_UTC"], "DetectionMET": first["StartTime_MET"],
                           "Notes": "A gamma-ray burst afterglow." if i in [first_of[e.name] for e in grbs]
                           else None,
                           "DiscoveryObs": first["ObsID"], "DiscoveryTarget": int(first["ObsID"][:8]),
                           "PeakRate": round(src["Rate_band0"] * 5, 6), "__since": first["StopTime_MET"],
                           # The sky's source of the transient (also when it is not in LSXPS yet).
                           "__source": src["LSXPS_ID"]})
    transients.sort(key=lambda t: t["TransientID"])
    tables = {("LSXPS", "sources"): lsxps_sources, ("LSXPS", "datasets"): datasets,
              ("LSXPS", "detections"): detections, ("LSXPS", "obssources"): obssources,
              ("LSXPS", "xcorr"): xcorr, ("LSXPS", "transients"): transients,
              ("LSXPS", "oldstacks"): oldstacks,
              ("obs", "swiftmastr"): mastr, ("obs", "swiftxrlog"): xrlog, ("obs", "swiftbalog"): balog,
              ("obs", "swiftuvlog"): uvlog, ("obs", "swifttdrss"): tdrss}
    tables.update(_sxps2(tables))
    return tables


class _SkyIndex:
    """Look-ups over `sky_tables` shared by the catalogue and the product functions.

    Attributes
    ----------
    dataset_by_id, dataset_by_obsid : dict
        Rows of the LSXPS ``datasets`` table.
    field_of_source : dict
        LSXPS_ID -> the field (index into the pointed fields) whose datasets observe it.
    field_members : dict
        field -> the LSXPS_IDs of the sources in it.
    field_datasets : dict
        field -> its dataset rows (observations in time order, then its stack if any).
    obssource : dict
        (LSXPS_ID, DatasetID) -> the ``obssources`` row (a source detected in a dataset).
    detections : dict
        (LSXPS_ID, DatasetID) -> {band: ``detections`` row}.
    dataset_sources : dict
        DatasetID -> [LSXPS_ID of the sources detected in it], by OSNum.
    transient_by_id : dict
        TransientID -> ``transients`` row.
    """

    def __init__(self, tables):
        datasets = tables[("LSXPS", "datasets")]
        self.dataset_by_id = {d["DatasetID"]: d for d in datasets}
        self.dataset_by_obsid = {d["ObsID"]: d for d in datasets}
        self.field_datasets = {}
        for d in datasets:
            self.field_datasets.setdefault(d["__field"], []).append(d)
        for rows in self.field_datasets.values():
            rows.sort(key=lambda d: (d["IsStackedImage"], d["StartTime_MET"], d["ObsID"]))
        self.field_of_source, self.field_members = {}, {}
        for fnum, field in enumerate(_fields()):
            self.field_members[fnum] = [i + 1 for i in field[4]]
            for i in field[4]:
                self.field_of_source[i + 1] = fnum
        self.obssource, self.detections, self.dataset_sources = {}, {}, {}
        for o in tables[("LSXPS", "obssources")]:
            self.obssource[(o["LSXPS_ID"], o["DatasetID"])] = o
            self.dataset_sources.setdefault(o["DatasetID"], []).append(o["LSXPS_ID"])
        for d in tables[("LSXPS", "detections")]:
            self.detections.setdefault((d["LSXPS_ID"], d["DatasetID"]), {})[d["Band"]] = d
        self.transient_by_id = {t["TransientID"]: t for t in tables[("LSXPS", "transients")]}
        centres = [(fnum, rows[0]["RA"], rows[0]["Decl"])
                   for fnum, rows in sorted(self.field_datasets.items())]
        self._fnums = np.array([c[0] for c in centres])
        self._ras = np.array([c[1] for c in centres], dtype=float)
        self._decs = np.array([c[2] for c in centres], dtype=float)

    def source_datasets(self, lsxps_id):
        """The dataset rows of a source's field: its observations in time order, then its stack."""
        return self.field_datasets.get(self.field_of_source.get(lsxps_id), [])

    def fields_near(self, ra, dec, radius_arcmin=FOV_RADIUS_ARCMIN):
        """The fields whose pointing is within ``radius_arcmin`` of (ra, dec), nearest first."""
        dist = angular_separation_arcmin(ra, dec, self._ras, self._decs)
        inside = np.nonzero(dist <= radius_arcmin)[0]
        return [int(self._fnums[i]) for i in inside[np.argsort(dist[inside], kind="stable")]]


@functools.lru_cache(maxsize=1)
def sky_index():
    """The `_SkyIndex` of `sky_tables` (built once per process)."""
    return _SkyIndex(sky_tables())


def _sxps2(lsxps):
    """2SXPS: the LSXPS rows before the 2SXPS cut-off, numbered afresh."""
    ids, out = {}, {}
    rows = []
    for src in lsxps[("LSXPS", "sources")]:
        if src["__since"] < SXPS2_CUTOFF:
            ids[src["LSXPS_ID"]] = len(rows) + 1
            rows.append({"2SXPS_ID": len(rows) + 1, "IAUName": src["IAUName"].replace("LSXPS", "2SXPS"),
                         "RA": src["RA"], "Decl": src["Decl"], "Err90": src["Err90"], "l": src["l"],
                         "b": src["b"], "Exposure": src["Exposure"], "Rate_band0": src["Rate_band0"],
                         "HR1": src["HR1"], "HR2": src["HR2"], "DetFlag": src["DetFlag"],
                         "FirstObsDate": src["FirstObsDate"], "__since": src["__since"]})
    out[("2SXPS", "sources")] = rows
    dsets = {}
    out[("2SXPS", "datasets")] = []
    for ds in lsxps[("LSXPS", "datasets")]:
        if ds["StopTime_MET"] < SXPS2_CUTOFF:
            dsets[ds["DatasetID"]] = len(dsets) + 1
            out[("2SXPS", "datasets")].append(
                {"DatasetID": dsets[ds["DatasetID"]], "ObsID": ds["ObsID"],
                 "IsStackedImage": ds["IsStackedImage"],
                 "RA": ds["RA"], "Decl": ds["Decl"], "ExposureUsed": ds["ExposureUsed"],
                 "StartTime_UTC": ds["StartTime_UTC"], "StopTime_UTC": ds["StopTime_UTC"],
                 "FieldFlag": ds["FieldFlag"], "__since": ds["__since"]})
    out[("2SXPS", "detections")] = [
        {"DetectionID": n + 1, "2SXPS_ID": ids[d["LSXPS_ID"]], "DatasetID": dsets[d["DatasetID"]],
         "ObsID": d["ObsID"], "Band": d["Band"], "RA": d["RA"], "Decl": d["Decl"], "Err90": d["Err90"],
         "Rate": d["Rate"], "Rate_pos": d["Rate_pos"], "Rate_neg": d["Rate_neg"], "DetFlag": d["DetFlag"],
         "__since": d["__since"]}
        for n, d in enumerate(d for d in lsxps[("LSXPS", "detections")]
                              if d["DatasetID"] in dsets and d["LSXPS_ID"] in ids)]
    out[("2SXPS", "xcorr")] = [
        {"2SXPS_ID": ids[x["LSXPS_ID"]], "Distance": x["Distance"], "ExtCat_ID": x["ExtCat_ID"],
         "Catalogue": x["Catalogue"], "Ext_RA": x["Ext_RA"], "Ext_Decl": x["Ext_Decl"],
         "Ext_Err90": x["Ext_Err90"], "__since": x["__since"]}
        for x in lsxps[("LSXPS", "xcorr")] if x["LSXPS_ID"] in ids and x["Catalogue"] != "2SXPS"]
    return out


# ====================================================================== the GRB catalogues
# UK_XRT/XRTLiveCat, SDC_GRB/SDC_Data_Table and BAT_GRB/BATGRBCat hold the GRBs of the local GRB
# repository (server/grb.py), with its positions, so that a GRB found here has its light curve,
# spectrum and positions there. Their metadata has the SDC_GRB shape of the docs (query/GRB.md).
_GRB_META_COLUMNS = ["ColName", "IsError", "Class", "Description", "Type", "Nullable", "Fstring",
                     "IsTargetCol", "IsNameCol"]
#: The position sources of each GRB table (``RACol``/``DecCol``), the first being the default.
GRB_POSITIONS = {
    ("UK_XRT", "XRTLiveCat"): {"best": ("RA", "Decl"), "Onboard": ("Onboard_RA", "Onboard_Decl"),
                               "SPER": ("SPER_RA", "SPER_Decl"), "Standard": ("PSF_RA", "PSF_Decl"),
                               "Enhanced": ("Enh_RA", "Enh_Decl")},
    ("SDC_GRB", "SDC_Data_Table"): {"BAT": ("BAT_RA", "BAT_Dec"), "XRT": ("XRT_RA", "XRT_Dec"),
                                    "UVOT": ("UVOT_RA", "UVOT_Dec")},
    ("BAT_GRB", "BATGRBCat"): {"BAT": ("RA_ground", "DEC_ground")},
}


def _gcol(name, cls, desc, typ, unit="", *, err=0, null=1, fmt="%s", targ=0, isname=0):
    return {"ColName": name, "IsError": err, "Class": cls,
            "Description": f"{desc} ({unit})" if unit else desc,
            "Type": typ, "Nullable": null, "Fstring": fmt, "IsTargetCol": targ, "IsNameCol": isname}


def _position_cols(prefix_ra, prefix_dec, err_name, who, cls):
    return [_gcol(prefix_ra, cls, f"The RA (J2000) of the GRB according to {who}.", "COORDH", fmt="%.5f"),
            _gcol(prefix_dec, cls, f"The declination (J2000) of the GRB according to {who}.", "COORDD",
                  fmt="%+.5f"),
            _gcol(err_name, cls, f"The 90% confidence radial position error according to {who}", "NUM",
                  "arcsec", fmt="%.1f")]


#: SDC_Data_Table's columns whose ingestion can fail: each has ``_orig`` and ``_warn`` (query/GRB.md).
_SDC_CHECKED = ("BAT_T90", "BAT_Err90", "XRT_Err90", "UVOT_Err90", "BAT_Gamma", "BAT_Fluence",
                "BAT_Fluence_Err", "BAT_1s_Peak_Photon_Flux", "BAT_1s_Peak_Photon_Flux_err", "XRT_StartTime",
                "XRT_Early_Flux", "XRT_11_Hr_Flux", "XRT_24_Hr_Flux", "XRT_Initial_Alpha", "XRT_Gamma",
                "XRT_NH", "UVOT_StartTime")
_UVOT_FILTERS = ("v", "white", "b", "u", "uvw1", "uvm2", "uvw2")

_GRB_META = {
    ("UK_XRT", "XRTLiveCat"): [
        _gcol("targetID", "BASIC", "The Swift target ID of the GRB.", "NUM", null=0, fmt="%d", targ=1),
        _gcol("name", "BASIC", "The GRB name.", "TXT", null=0, isname=1),
        _gcol("T0", "BASIC", "The BAT trigger time.", "UTC"),
        _gcol("RA", "BASIC", "The best XRT RA (J2000).", "COORDH", fmt="%.5f"),
        _gcol("Decl", "BASIC", "The best XRT declination (J2000).", "COORDD", fmt="%+.5f"),
        _gcol("Err90", "BASIC", "The 90% confidence radial error of the best position", "NUM", "arcsec",
              fmt="%.1f"),
        _gcol("NumLCBreaks", "BASIC", "The number of breaks in the light-curve fit.", "NUM", fmt="%d"),
        *_position_cols("Enh_RA", "Enh_Decl", "Enh_Err90", "the enhanced XRT position", "MISC"),
        *_position_cols("PSF_RA", "PSF_Decl", "PSF_Err90", "the standard (PSF-fit) XRT position", "MISC"),
        *_position_cols("SPER_RA", "SPER_Decl", "SPER_Err90", "the SPER XRT position", "MISC"),
        *_position_cols("Onboard_RA", "Onboard_Decl", "Onboard_Err90", "the on-board XRT position", "MISC"),
        _gcol("Redshift", "MISC", "The redshift, if known.", "NUM", fmt="%.3f"),
    ],
    ("SDC_GRB", "SDC_Data_Table"): [
        _gcol("Name", "BASIC", "The GRB name.", "TXT", null=0, isname=1),
        _gcol("TriggerTime", "BASIC", "The GRB trigger time, on the day of the trigger.", "UTC"),
        _gcol("TriggerNumber", "BASIC", "The BAT trigger number; for GRBs which did not trigger BAT, "
              "the target ID.", "NUM", fmt="%d", targ=1),
        _gcol("BAT_RA", "BASIC BAT", "The RA (J2000) of the GRB according to BAT.", "COORDH", fmt="%.1f"),
        _gcol("BAT_Dec", "BASIC BAT", "The declination (J2000) of the GRB according to BAT.", "COORDD",
              fmt="%+.1f"),
        _gcol("BAT_Err90", "BASIC BAT", "The 90% confidence BAT position error", "NUM", "arcmin", fmt="%.1f"),
        _gcol("BAT_T90", "BASIC BAT", "The BAT T90", "NUM", "s", fmt="%.3f"),
        _gcol("BAT_Fluence", "BASIC BAT", "The 15-150 keV fluence", "NUM", "erg/cm2", fmt="%.2e"),
        _gcol("BAT_Fluence_Err", "BAT", "The error on the fluence", "NUM", "erg/cm2", err=1, fmt="%.2e"),
        _gcol("BAT_1s_Peak_Photon_Flux", "BAT", "The 1-s peak photon flux", "NUM", "ph/cm2/s", fmt="%.2f"),
        _gcol("BAT_1s_Peak_Photon_Flux_err", "BAT", "The error on the peak photon flux", "NUM", "ph/cm2/s",
              err=1, fmt="%.2f"),
        _gcol("BAT_Gamma", "BAT", "The BAT photon index.", "NUM", fmt="%.2f"),
        _gcol("BAT_Gamma_Err", "BAT", "The error on the BAT photon index.", "NUM", err=1, fmt="%.2f"),
        _gcol("BAT_SpectralModel", "BAT", "The BAT spectral model (PL or CPL).", "TXT"),
        *_position_cols("XRT_RA", "XRT_Dec", "XRT_Err90", "XRT", "BASIC XRT"),
        _gcol("XRT_StartTime", "XRT", "The start of XRT observations after the trigger", "NUM", "s",
              fmt="%.1f"),
        _gcol("XRT_Early_Flux", "XRT", "The 0.3-10 keV flux 100 s after the trigger", "NUM", "erg/cm2/s",
              fmt="%.2e"),
        _gcol("XRT_11_Hr_Flux", "XRT", "The 0.3-10 keV flux 11 hours after the trigger", "NUM", "erg/cm2/s",
              fmt="%.2e"),
        _gcol("XRT_24_Hr_Flux", "XRT", "The 0.3-10 keV flux 24 hours after the trigger", "NUM", "erg/cm2/s",
              fmt="%.2e"),
        _gcol("XRT_Initial_Alpha", "XRT", "The initial temporal decay index.", "NUM", fmt="%.2f"),
        _gcol("XRT_Gamma", "XRT", "The XRT photon index.", "NUM", fmt="%.2f"),
        _gcol("XRT_NH", "XRT", "The absorbing column", "NUM", "cm-2", fmt="%.2e"),
        *_position_cols("UVOT_RA", "UVOT_Dec", "UVOT_Err90", "UVOT", "BASIC UVOT"),
        _gcol("UVOT_StartTime", "UVOT", "The start of UVOT observations after the trigger", "NUM", "s",
              fmt="%.1f"),
        *[c for f in _UVOT_FILTERS for c in (
            _gcol(f"UVOT_mag_{f}", "UVOT", f"The UVOT {f} magnitude", "NUM", "mag", fmt="%.2f"),
            _gcol(f"UVOT_limit_{f}", "UVOT", f"1 if UVOT_mag_{f} is an upper limit", "NUM", fmt="%d"))],
        _gcol("Redshift", "BASIC", "The redshift, if known.", "NUM", fmt="%.3f"),
        *[c for name in _SDC_CHECKED for c in (
            _gcol(f"{name}_orig", "MISC", f"The original text of {name}, if it could not be ingested.",
                  "TXT"),
            _gcol(f"{name}_warn", "WARN", f"Whether {name} was non-numeric and may be wrong.", "NUM",
                  null=0, fmt="%d"))],
        *[_gcol(f"{who}_warn", "WARN", f"Whether any {who}-related warnings were set.", "NUM", null=0,
                fmt="%d")
          for who in ("BAT", "XRT", "UVOT")],
        _gcol("Any_warn", "WARN", "Whether any warnings were set.", "NUM", null=0, fmt="%d"),
    ],
    ("BAT_GRB", "BATGRBCat"): [
        _gcol("GRBname", "BASIC", "The GRB name.", "TXT", null=0, isname=1),
        _gcol("Trig_ID", "BASIC", "The BAT trigger number.", "NUM", null=0, fmt="%d", targ=1),
        _gcol("Trig_time_met", "BASIC", "The trigger time, Swift MET", "NUM", "s", fmt="%.3f"),
        _gcol("Trig_time_UTC", "BASIC", "The trigger time.", "UTC"),
        _gcol("RA_ground", "BASIC", "The RA (J2000) from the ground analysis.", "COORDH", fmt="%.4f"),
        _gcol("DEC_ground", "BASIC", "The declination (J2000) from the ground analysis.", "COORDD",
              fmt="%+.4f"),
        _gcol("Image_position_err", "BASIC", "The 90% position error", "NUM", "arcmin", fmt="%.3f"),
        _gcol("Image_SNR", "BASIC", "The signal-to-noise ratio of the image detection.", "NUM", fmt="%.2f"),
        _gcol("T90", "BASIC", "The T90 duration", "NUM", "s", fmt="%.3f"),
        _gcol("T90_err", "MISC", "The error on T90", "NUM", "s", err=1, fmt="%.3f"),
        _gcol("T50", "MISC", "The T50 duration", "NUM", "s", fmt="%.3f"),
        _gcol("Fluence", "MISC", "The 15-150 keV fluence", "NUM", "erg/cm2", fmt="%.3e"),
        _gcol("Fluence_err", "MISC", "The error on the fluence", "NUM", "erg/cm2", err=1, fmt="%.3e"),
    ],
}
for _key, _positions_of in GRB_POSITIONS.items():
    _RA_DEC[_key] = next(iter(_positions_of.values()))


def _scatter(rng, ra, dec, err_arcsec):
    sigma = err_arcsec / 2.146 / 3600.0
    dra, ddec = rng.normal(size=2) * sigma
    return (round((ra + dra / max(math.cos(math.radians(dec)), 1e-3)) % 360.0, 5), round(dec + ddec, 5))


@functools.lru_cache(maxsize=8)
def grb_tables(seed):
    """The rows of the three GRB tables for a service's seed: ``{(database, table): rows}``."""
    from .grb import _positions, grb_catalogue_rows, repository_grbs
    # The trigger UTC the GRB repository states (its curve.qdp T0), so both services tell one story.
    stated = {row["name"]: row["TriggerTime"] for row in grb_catalogue_rows(seed)}
    xrt, sdc, bat = [], [], []
    for name, entry in sorted(repository_grbs().items(), key=lambda item: item[1].t_first):
        pos = _positions(entry, seed)
        rng = _rng("grb-table", seed, name)
        tid = int(entry.targets[0])
        t0 = stated[name]
        best = pos["Best"]
        row = {"targetID": tid, "name": name, "T0": t0, "RA": best[0], "Decl": best[1], "Err90": best[2],
               "NumLCBreaks": max(0, len(entry.decay) - 1), "Redshift": entry.redshift,
               "__since": entry.t_first}
        for prefix, kind in (("Enh", "Enhanced"), ("PSF", "Standard"), ("SPER", "SPER"),
                             ("Onboard", "Onboard")):
            row[f"{prefix}_RA"], row[f"{prefix}_Decl"], row[f"{prefix}_Err90"] = pos[kind]
        xrt.append(row)
        bat_err = round(float(rng.uniform(0.8, 3.0)), 1)
        bat_ra, bat_dec = _scatter(rng, entry.ra, entry.dec, bat_err * 60)
        t90 = round(float(10 ** rng.uniform(0, 2.5)), 3)
        fluence = float(10 ** rng.uniform(-7, -4.5))
        first_xrt = min(o[1] for o in _schedule(entry)) - entry.t_first
        flux100 = entry.rate * 4.0e-11
        sdc_row = {"Name": name, "TriggerTime": t0, "TriggerNumber": tid, "BAT_RA": bat_ra,
                   "BAT_Dec": bat_dec, "BAT_Err90": bat_err, "BAT_T90": t90, "BAT_Fluence": fluence,
                   "BAT_Fluence_Err": fluence * 0.1,
                   "BAT_1s_Peak_Photon_Flux": round(float(rng.uniform(0.5, 50)), 2),
                   "BAT_1s_Peak_Photon_Flux_err": round(float(rng.uniform(0.05, 0.5)), 2),
                   "BAT_Gamma": round(float(rng.uniform(1.2, 2.2)), 2), "BAT_Gamma_Err": 0.1,
                   "BAT_SpectralModel": "PL", "XRT_RA": pos["Standard"][0], "XRT_Dec": pos["Standard"][1],
                   "XRT_Err90": pos["Standard"][2], "XRT_StartTime": round(first_xrt, 1),
                   "XRT_Early_Flux": flux100, "XRT_11_Hr_Flux": flux100 * (39600 / 100) ** -1.2,
                   "XRT_24_Hr_Flux": flux100 * (86400 / 100) ** -1.2,
                   "XRT_Initial_Alpha": entry.decay[0][1] if entry.decay else 1.2, "XRT_Gamma": entry.gamma,
                   "XRT_NH": entry.nh + entry.galnh, "UVOT_RA": None, "UVOT_Dec": None, "UVOT_Err90": None,
                   "UVOT_StartTime": None, "Redshift": entry.redshift, "__since": entry.t_first}
        for f in _UVOT_FILTERS:
            sdc_row[f"UVOT_mag_{f}"], sdc_row[f"UVOT_limit_{f}"] = None, None
        for checked in _SDC_CHECKED:
            sdc_row[f"{checked}_orig"], sdc_row[f"{checked}_warn"] = None, 0
        if name == "GRB 060729":
            # One ingestion warning, as the SDC table has: T90 written "~115" in the source table.
            sdc_row.update(BAT_T90=115.0, BAT_T90_orig="~115", BAT_T90_warn=1)
        for who in ("BAT", "XRT", "UVOT"):
            sdc_row[f"{who}_warn"] = int(any(sdc_row[f"{c}_warn"] for c in _SDC_CHECKED if c.startswith(who)))
        sdc_row["Any_warn"] = int(any(sdc_row[f"{who}_warn"] for who in ("BAT", "XRT", "UVOT")))
        sdc.append(sdc_row)
        bat.append({"GRBname": name, "Trig_ID": tid, "Trig_time_met": round(entry.t_first, 3),
                    "Trig_time_UTC": t0, "RA_ground": bat_ra, "DEC_ground": bat_dec,
                    "Image_position_err": round(bat_err * 0.9, 3),
                    "Image_SNR": round(float(rng.uniform(7, 80)), 2), "T90": t90,
                    "T90_err": round(t90 * 0.05, 3), "T50": round(t90 * 0.4, 3), "Fluence": fluence,
                    "Fluence_err": fluence * 0.1, "__since": entry.t_first})
    return {("UK_XRT", "XRTLiveCat"): xrt, ("SDC_GRB", "SDC_Data_Table"): sdc, ("BAT_GRB", "BATGRBCat"): bat}


#: Every (database, table) of the catalogue interface (spec §4.1).
ALL_TABLES = tuple(_META) + tuple(_GRB_META)

# ====================================================================== full tables (spec §3.10)
#: The snapshot epochs, as the docs list them (data/SXPS.md): hourly ones are kept for a while,
#: daily ones for ever. Each is taken one or two seconds after its hour.
SNAPSHOTS = {
    "hourly": ("2022-08-17 10:00:01 UTC", "2022-08-17 11:00:02 UTC", "2022-08-17 12:00:01 UTC",
               "2022-08-17 13:00:01 UTC", "2022-08-17 14:00:02 UTC"),
    "daily": ("2022-08-16", "2022-08-17", "2022-08-18", "2022-08-19", "2022-08-20"),
}
#: Full tables per catalogue, with the capitalised name used in their file names.
FULL_TABLES = {
    "LSXPS": {"sources": "Sources", "datasets": "Datasets", "detections": "Detections",
              "obssources": "ObsSources", "xcorr": "Xcorr", "transients": "Transients",
              "oldstacks": "OldStacks"},
    "2SXPS": {"sources": "Sources", "datasets": "Datasets", "detections": "Detections", "xcorr": "Xcorr"},
}
#: The URL folder of the full-table files: ``/<catalogue>/tables/<file>``.
TABLES_DIR = "tables"


def _stamp(epoch):
    """The file-name stamp of a snapshot: '2022-08-17' -> 20220817T000001 (taken at 00:00:01)."""
    text = epoch.replace(" UTC", "")
    if " " not in text:
        text += " 00:00:01"
    return text.replace("-", "").replace(":", "").replace(" ", "T")


def table_file_name(cat, table, subset=None, epoch=None, fmt="csv"):
    """The file name of a full table: ``LSXPS_Sources.csv``, ``LSXPS_Datasets_ultra-clean.fits``,
    ``LSXPS_Sources_ultra-clean_20220817T000001.fits.gz`` (the names in the docs); snapshots are
    gzipped, and a CSV snapshot is ``.csv.gz`` (spec §9.4: our choice)."""
    name = f"{cat}_{FULL_TABLES[cat][table]}"
    if subset is not None:
        name += "_" + ("ultra-clean" if _SUBSET_NAMES[subset] == 0 else "clean")
    if epoch is not None:
        name += "_" + _stamp(epoch)
    return name + "." + fmt + (".gz" if epoch is not None else "")


def _file_bytes(key, rows, fmt):
    """The bytes of a table file: CSV with a header of column names, or a FITS binary table with units."""
    names = [m[0] for m in _META[key]]
    if fmt == "csv":
        import csv
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if row[n] is None else row[n] for n in names])
        return out.getvalue().encode()
    from astropy.io import fits
    from astropy import units as u
    columns = []
    for name, _cls, desc, typ, obs, _targ in _META[key]:
        values = [row[name] for row in rows]
        unit = re.search(r"\(([^()]+)\)\s*$", desc)
        tunit = None
        if unit and typ in ("FLOAT", "INT", "NUM"):
            try:
                tunit = u.Unit(unit.group(1)).to_string("fits")
            except ValueError:
                tunit = None
        if typ in ("COORDH", "COORDD"):
            tunit = "deg"
        if typ in ("TXT", "UTC") or obs:
            text = ["" if v is None else str(v) for v in values]
            columns.append(fits.Column(name=name, format="%dA" % max([1] + [len(t) for t in text]),
                                       array=np.array(text)))
        elif typ == "INT" and all(v is not None for v in values):
            columns.append(fits.Column(name=name, format="K", unit=tunit,
                                       array=np.array(values, dtype=np.int64)))
        else:
            floats = np.array([np.nan if v is None else v for v in values], dtype=float)
            columns.append(fits.Column(name=name, format="D", unit=tunit, array=floats))
    hdu = fits.BinTableHDU.from_columns(columns)
    hdu.header["EXTNAME"] = f"{key[0]}_{key[1]}"
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out)
    return out.getvalue()
