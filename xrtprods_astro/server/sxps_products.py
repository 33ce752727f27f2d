# Licensed under a 3-clause BSD style license - see LICENSE
"""
The LSXPS / 2SXPS product functions of the local service's ``API/main.php``
(shared/spec/ukssdc-catalogues.md §3): source, transient and dataset details, light curves,
spectra and images, with the files they name served under ``/LSXPS/``.

One sky with the catalogue tables of `xrtprods_astro.server.sxps`: the sources are the rows of
its LSXPS ``sources`` table, read through that service's own ``queryDB`` answer; a source's
observations and stack are the rows of the ``datasets`` table of its field (the product
generator's schedule for a sky object, `xrtprods_astro.server.sxps.schedule`, so obsIDs and times
agree with its products); its ``Detections`` are its rows of ``obssources``/``detections`` (same
DatasetIDs, ObsSourceIDs, DetectionIDs and rates) and its ``NonDetections`` the other datasets of
its field; a dataset's record is its ``datasets`` row with the sources detected in it; the
transients are the rows of the ``transients`` table (the documented fixtures 1, 30 and 576 among
them). Counts where the tables hold no detection are drawn from the sky object's light curve (or
the catalogued rate), and retrospective detections and upper limits follow from them with the
Kraft-Burrows-Nousek interval, as in the upper-limit server.

Shapes follow the spec's verbatim examples: a ``data`` wrapper with an inner ``OK`` for source and
dataset records, flat transient records, ``newerSources`` for a split source (ID 37562), a silent
answer for the renamed one (ID 11375), ``SupersedingStacks`` (ObsID 10000000668) and
``LatestVersion`` (DatasetID 229018), the documented ERROR text for a dataset that is not in the
catalogue, spectrum dicts with ``interval0``/``PC``/``PowerLaw``+``APEC`` (``KT``) and a flat
12-member tar, ``{"Discovery", "Full"}`` transient spectra (transient 30 has no full one), and
``NOTFOUND`` images for an obsolete stack. Open questions of spec §9 answered here: the light-curve
defaults (``Observation`` binning, ``MJD``), the returned ``TimeFormat`` spellings (``MJD``,
``MET``, ``TDB``), HR columns ``HR, HRPos, HRNeg``, both ``groupHRs`` and ``groupHRss`` honoured,
the region-file key ``Regions``, ``SupersededBy`` as an int ObsID, and 2SXPS answering the same
products as LSXPS.
"""
import gzip
import io
import math
import re
import struct
import tarfile
import threading
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .catalogue import CATALOGUE, field_sources
from .sky import met_to_mjd, met_to_utc
from .sxps import CLASSIFICATIONS, TRANSIENT_FIXTURES, SXPSAPIError, kbn, schedule, sky_index, sky_tables

__all__ = ["SXPSProductService", "FUNCTIONS", "RENAMED", "SPLIT", "TRANSIENTS", "URL_PREFIX"]

FUNCTIONS = ("getSXPSSourceInfo", "getSXPSTransAsSources", "getSXPSLC", "getSXPSSpectrumData",
             "getSXPSSourceImages", "getSXPSTransInfo", "getSXPSDatasetInfo", "getSXPSDatasetImages")
#: GET prefix of the files the answers name.
URL_PREFIX = "/LSXPS/"
_BANDS = ("Total", "Soft", "Medium", "Hard")
_BAND_FRACTION = {"Total": 1.0, "Soft": 0.3, "Medium": 0.35, "Hard": 0.35}
_BAND_FILE = {"Total": "total", "Soft": "band1", "Medium": "band2", "Hard": "band3"}
_ONE_SIGMA = math.erf(1 / math.sqrt(2))
_THREE_SIGMA = math.erf(3 / math.sqrt(2))
#: Superseded source IDs of the spec's examples: renamed (the service answers for the new one) and
#: split (``newerSources``). Their targets are chosen in this sky by name.
RENAMED = {11375: "GK Per"}
SPLIT = {37562: ("GK Per field 1", "GK Per field 2", "GK Per field 3", "GK Per field 4")}
#: The documented transients: TransientID -> (object of the sky, classification, in LSXPS yet). They
#: are rows of the LSXPS ``transients`` table (`xrtprods_astro.server.sxps.TRANSIENT_FIXTURES`), which
#: holds every transient these functions answer for.
TRANSIENTS = {tid: (obj, CLASSIFICATIONS[cls], in_lsxps)
              for tid, (obj, cls, in_lsxps) in TRANSIENT_FIXTURES.items()}
#: The documented stack fixtures: removed (superseded by other stacks), an old version, obsolete.
_REMOVED_STACK = "10000000668"
_OLD_VERSION_DSID = 229018
_OBSOLETE_STACK = "10000000700"
_STACK_OWNER = "GK Per"
_SRC_COLUMNS = ("LSXPS_ID", "IAUName", "RA", "Decl", "Err90", "Rate_band0", "Exposure", "NumObs",
                "FirstObsDate", "LastObsDate", "DetFlag")
_BINNINGS = {"observation": "Observation", "obs": "Observation", "obsid": "Observation",
             "obslc": "Observation", "snapshot": "Snapshot", "ss": "Snapshot", "sslc": "Snapshot",
             "counts": "Counts"}
_TIME_FORMATS = {"met": "MET", "swift met": "MET", "mjd": "MJD", "tdb": "TDB"}
_LC_FLAGS = {"groupRates": True, "groupULs": True, "groupHRs": True, "retroAsUL": False, "nondetAsUL": True,
             "getRetroHR": True, "getAllTypes": False, "showObs": False}
_IMAGE_TYPES = {"image": "Image", "backgroundmap": "BackgroundMap", "bgmap": "BackgroundMap",
                "backgroundmapwithsources": "BackgroundMapWithSources",
                "bgmap_wsrc": "BackgroundMapWithSources"}
_TYPE_SUFFIX = {"Image": ".img.gz", "BackgroundMap": "_final_BGmap.img.gz",
                "BackgroundMapWithSources": "_final_BGmap_w_source.img.gz"}
_IMAGE_PIXELS = 300


def _rng(*keys):
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def _interval(n, b, cl):
    """(mode, lower, upper) source counts: KBN for few counts, Gaussian for many."""
    if n > 80:
        k = math.sqrt(2) * _erfinv(cl)
        mode = max(0.0, n - b)
        return mode, max(0.0, mode - k * math.sqrt(n)), mode + k * math.sqrt(n)
    return kbn(int(n), round(float(b), 2), cl)


def _erfinv(y):
    # Newton on erf: enough for the few confidence levels used here.
    x = 1.0
    for _ in range(30):
        x -= (math.erf(x) - y) / (2 / math.sqrt(math.pi) * math.exp(-x * x))
    return x


def _png(gray):
    """PNG bytes of an 8-bit greyscale image (rows top to bottom)."""
    gray = np.asarray(gray, dtype=np.uint8)
    h, w = gray.shape
    raw = b"".join(b"\0" + gray[i].tobytes() for i in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class _Source:
    """One catalogued source, its sky object (or None for a filler) and observations."""

    def __init__(self, row, obj, entry):
        self.row = row
        self.id = int(row["LSXPS_ID"])
        self.name = str(row["IAUName"])
        self.ra, self.dec = float(row["RA"]), float(row["Decl"])
        self.rate = float(row.get("Rate_band0") or 0.0)
        self.err90 = float(row.get("Err90") or 5.0)
        self.obj, self.entry = obj, entry
        self._obs = None

    def datasets(self):
        """The rows of the LSXPS ``datasets`` table that observe this source (its field's)."""
        return sky_index().source_datasets(self.id)

    def observations(self):
        """(obsid, start, stop, exposure, [(start, stop) snapshots]) in time order.

        The observations (not stacks) of the ``datasets`` table: the same ObsIDs, times and
        exposures as queryDB gives; the snapshots are those of the one schedule
        (`xrtprods_astro.server.sxps.schedule`) for a sky object, one per observation for a filler.
        """
        if self._obs is None:
            snaps = {o[0]: o[4] for o in schedule(self.entry)} if self.entry is not None else {}
            out = [(d["ObsID"], d["StartTime_MET"], d["StopTime_MET"], d["ExposureUsed"],
                    snaps.get(d["ObsID"], [(d["StartTime_MET"], d["StopTime_MET"])]))
                   for d in self.datasets() if not d["IsStackedImage"]]
            self._obs = sorted(out, key=lambda o: (o[1], o[0]))
        return self._obs

    def stack(self):
        """The ``datasets`` row of the stacked image of this source's field, or None."""
        return next((d for d in self.datasets() if d["IsStackedImage"]), None)


class SXPSProductService:
    """The SXPS product functions of one local service.

    Parameters
    ----------
    catalogue_service : `xrtprods_astro.server.sxps.SXPSService`
        The service whose LSXPS ``sources`` table these products describe.
    root : path-like
        Where built files are kept.
    seed : int
    """

    def __init__(self, catalogue_service, root, seed=0):
        self.catalogue = catalogue_service
        self.root = Path(root)
        self.seed = int(seed)
        #: Image bands (e.g. ``{"Soft"}``) answered ``NOTFOUND`` by getSXPSSourceImages (set by tests).
        self.missing_images = set()
        self._lock = threading.Lock()
        self._sources = None
        self._by_name = {}
        self._built = {}
        self._measured = {}

    # ------------------------------------------------------------------ the sky
    def sources(self):
        """id -> `_Source`, read once from the catalogue service's ``queryDB`` answers."""
        with self._lock:
            if self._sources is not None:
                return self._sources
            meta = self.catalogue.answer({"APIFunc": "getMetadata", "database": "LSXPS", "table": "sources"})
            names = [r[0] for r in meta["metadata"]["metadata"]]
            cols = [c for c in _SRC_COLUMNS if c in names]
            rows, first = [], 0
            while True:
                page = self.catalogue.answer({"APIFunc": "queryDB", "database": "LSXPS", "table": "sources",
                                              "cols": cols, "numRows": 1000, "firstRow": first})["Results"]
                rows.extend(page)
                first += len(page)
                if len(page) < 1000:
                    break
            objects = [(entry, entry) for entry in CATALOGUE]
            objects += [(fs, entry) for entry in CATALOGUE for fs in field_sources(entry)]
            out = {}
            for row in rows:
                obj = entry = None
                for cand, owner in objects:
                    if abs(cand.ra - row["RA"]) < 1e-6 and abs(cand.dec - row["Decl"]) < 1e-6:
                        obj, entry = cand, owner
                        break
                src = _Source(row, obj, entry)
                out[src.id] = src
                self._by_name[src.name] = src
                if obj is not None:
                    self._by_name.setdefault(obj.name, src)
            self._sources = out
            return out

    def _named(self, name):
        self.sources()
        return self._by_name[name]

    # ------------------------------------------------------------------ dispatch
    def answer(self, body, base_url):
        """The answer of one SXPS product function (``base_url``: this service's root URL)."""
        func = body.get("APIFunc")
        cat = body.get("whichCat", "LSXPS")
        if cat not in ("LSXPS", "2SXPS"):
            raise SXPSAPIError(1, f"whichCat is {str(cat)[:40]}, but must be LSXPS or 2SXPS.")
        out = getattr(self, "_" + func)(body, base_url)
        # OK comes last, before the envelope's APIVersion, as in the documented key lists.
        out.pop("OK", None)
        out["OK"] = 1
        return out

    def _source(self, body):
        """The `_Source` a request names, or a flat answer for a superseded one."""
        srcs = self.sources()
        if "sourceID" in body:
            value = body["sourceID"]
            try:
                sid = int(str(value).strip())
            except (TypeError, ValueError):
                raise SXPSAPIError(1, f"sourceID is {str(value)[:40]}, but must be an integer.") from None
            if sid in RENAMED:
                return self._named(RENAMED[sid]), None
            if sid in SPLIT:
                newer = [self._named(n) for n in SPLIT[sid]]
                return None, {"OK": 1, "newerSources": [
                    {"LSXPS_ID": s.id, "IAUName": s.name, "RA": s.ra, "Decl": s.dec, "Err90": s.err90}
                    for s in newer]}
            if sid not in srcs:
                raise SXPSAPIError(1, f"Source with sourceID: `{sid}` is not found in the LSXPS catalogue.")
            return srcs[sid], None
        if "sourceName" in body:
            name = str(body["sourceName"]).strip()
            self.sources()
            if name not in self._by_name or not name.startswith("LSXPS"):
                raise SXPSAPIError(1, f"Source with sourceName: `{name[:40]}` is not found in the LSXPS "
                                   "catalogue.")
            return self._by_name[name], None
        raise SXPSAPIError(1, "Either sourceID or sourceName must be given.")

    def _transient(self, body):
        """(TransientID, the `_Source` of the sky it is) of a row of the ``transients`` table."""
        key = "sourceID" if "sourceID" in body else "sourceName" if "sourceName" in body else None
        if key is None:
            raise SXPSAPIError(1, "Either sourceID or sourceName must be given.")
        value = str(body[key]).strip()
        for tid, row in sky_index().transient_by_id.items():
            if (key == "sourceID" and value == str(tid)) or (key == "sourceName" and value == row["IAUName"]):
                return tid, self.sources()[row["__source"]]
        raise SXPSAPIError(1, f"Transient with {key}: `{value[:40]}` is not found in the LSXPS catalogue.")

    # ------------------------------------------------------------------ measurements
    def _rate(self, src, span):
        """The source's mean rate over one bin (a sky object's light curve, else the catalogued rate)."""
        if src.obj is None or span is None:
            return src.rate
        from .sky import source_rate
        return float(np.mean(source_rate(src.obj, np.linspace(span[0], span[1], 7))))

    def _measure(self, src, obsid, exposure, band, span=None):
        """(counts, background counts, correction factor) of a source in one dataset and band."""
        key = (src.id, obsid, round(exposure, 3), band)
        if key in self._measured:
            return self._measured[key]
        rng = _rng("sxpsprod", self.seed, src.name, obsid, band)
        cf = round(float(rng.uniform(1.1, 1.4)), 6)
        bg = round(float(exposure * 2.5e-4 * _BAND_FRACTION[band]), 6)
        n = int(rng.poisson(bg + self._rate(src, span) * _BAND_FRACTION[band] * exposure / cf))
        self._measured[key] = (n, bg, cf)
        return n, bg, cf

    def _bin(self, src, obsid, exposure, band, span=None):
        """One light-curve value: class (blind/retro/nondet), rate and errors, UL, counts.

        In a dataset of the ``datasets`` table, a blind detection is exactly a row of the
        ``detections`` table (its rate and counts); otherwise the counts decide between a
        retrospective detection and an upper limit.
        """
        n, bg, cf = self._measure(src, obsid, exposure, band, span)
        mode, lo1, hi1 = _interval(n, bg, _ONE_SIGMA)
        _, lo3, ul = _interval(n, bg, _THREE_SIGMA)
        what = "retro" if lo1 > 0 else "nondet"
        scale = cf / exposure
        out = {"class": what, "Rate": mode * scale, "RatePos": (hi1 - mode) * scale,
               "RateNeg": (lo1 - mode) * scale, "UpperLimit": ul * scale, "CtsInSrc": float(n),
               "BGInSrc": bg, "CorrFact": cf, "Exposure": round(exposure, 3)}
        found = self._table_detection(src, obsid, band)
        if found is not None:
            out.update({"class": "blind", "Rate": found["Rate"], "RatePos": found["Rate_pos"],
                        "RateNeg": found["Rate_neg"], "CtsInSrc": float(found["Counts"]),
                        "BGInSrc": found["BGCounts"]})
        return out

    @staticmethod
    def _table_detection(src, obsid, band):
        """The ``detections`` row of a source in the dataset ``obsid`` and band, or None."""
        index = sky_index()
        ds = index.dataset_by_obsid.get(obsid)
        if ds is None:
            return None
        return index.detections.get((src.id, ds["DatasetID"]), {}).get(_BANDS.index(band))

    # ------------------------------------------------------------------ source details
    def _getSXPSSourceInfo(self, body, base_url):
        src, flat = self._source(body)
        if flat is not None:
            return flat
        return {"OK": 1, "data": self._record(src)}

    def _record(self, src):
        obs = src.observations()
        rec = {"IAUName": src.name, "LSXPS_ID": src.id, "RA": src.ra, "Decl": src.dec, "Err90": src.err90,
               "AstromType": 0, "MeanOffAxisAngle": round(3.0 + src.id % 5, 3),
               "Exposure": round(sum(o[3] for o in obs), 3), "DetFlag": int(src.row.get("DetFlag") or 0)}
        dets = {b: [self._bin(src, o[0], o[3], b, o[1:3]) for o in obs] for b in _BANDS}
        det_obs = [o for o, d in zip(obs, dets["Total"]) if d["class"] == "blind"]
        rec["FirstObsDate"], rec["FirstObsMET"] = _cal(obs[0][1]), round(obs[0][1], 3)
        rec["LastObsDate"], rec["LastObsMET"] = _cal(obs[-1][2]), round(obs[-1][2], 3)
        for which, pick in (("Det", det_obs), ("BlindDet", det_obs)):
            rec[f"First{which}Date"] = _cal(pick[0][1]) if pick else None
            rec[f"First{which}MET"] = round(pick[0][1], 3) if pick else None
            rec[f"Last{which}Date"] = _cal(pick[-1][2]) if pick else None
            rec[f"Last{which}MET"] = round(pick[-1][2], 3) if pick else None
        total_exp = sum(o[3] for o in obs)
        for i, band in enumerate(_BANDS):
            n = sum(self._measure(src, o[0], o[3], band, o[1:3])[0] for o in obs)
            bg = sum(self._measure(src, o[0], o[3], band, o[1:3])[1] for o in obs)
            cf = float(np.mean([self._measure(src, o[0], o[3], band, o[1:3])[2] for o in obs]))
            mode, lo, hi = _interval(n, bg, _ONE_SIGMA)
            rec[f"Rate_band{i}"] = mode * cf / total_exp
            rec[f"Rate_band{i}_pos"] = (hi - mode) * cf / total_exp
            rec[f"Rate_band{i}_neg"] = (lo - mode) * cf / total_exp
            rec[f"Counts_band{i}"] = n
            rec[f"BgCounts_band{i}"] = round(bg, 4)
            rec[f"RateCF_band{i}"] = round(cf, 6)
            rec[f"UL_band{i}"] = _interval(n, bg, _THREE_SIGMA)[2] * cf / total_exp
            rec[f"PeakRate_band{i}"] = max(d["Rate"] for d in dets[band])
        s, m, h = (rec[f"Rate_band{i}"] for i in (1, 2, 3))
        rec["HR1"] = (m - s) / (m + s) if m + s > 0 else None
        rec["HR2"] = (h - m) / (h + m) if h + m > 0 else None
        for k in ("HR1", "HR2"):
            rec[f"{k}_pos"] = 0.05 if rec[k] is not None else None
            rec[f"{k}_neg"] = -0.05 if rec[k] is not None else None
        obj = src.obj
        from astropy.coordinates import SkyCoord
        gal = SkyCoord(src.ra, src.dec, unit="deg").galactic
        rec["l"], rec["b"] = round(float(gal.l.deg), 6), round(float(gal.b.deg), 6)
        rec["GalacticNH"] = float(getattr(obj, "galnh", 3e20))
        gamma = float(getattr(obj, "gamma", 1.7))
        rec["PowGamma"], rec["PowFlux"] = gamma, rec["Rate_band0"] * 4.0e-11
        rec["PowUnabsFlux"] = rec["PowFlux"] * 1.15
        rec["APECFlux"] = rec["APECUnabsFlux"] = None
        rec["MatchIn2SXPS"] = sky_tables()[("LSXPS", "sources")][src.id - 1]["MatchIn2SXPS"]
        rec["MatchInROSAT"] = 0
        mjd = [float(met_to_mjd(o[1])) for o in obs] + [float(met_to_mjd(o[2])) for o in obs]
        rates = [d["Rate"] for d in dets["Total"]]
        rec["lcRanges"] = {"TDB_lo": min(mjd) + 2400000.5, "MJD_lo": min(mjd), "MET_lo": obs[0][1],
                           "TDB_hi": max(mjd) + 2400000.5, "MJD_hi": max(mjd), "MET_hi": obs[-1][2],
                           "rate_lo": min(rates), "rate_hi": max(rates)}
        rec["NearestNeighbour"] = rec["NearestOKNeighbour"] = None
        rec["NearestNeighbour_name"] = rec["NearestOKNeighbour_name"] = None
        rec["OK"] = 1
        # Detections are the source's rows of the obssources/detections tables; NonDetections its
        # other datasets (the observations and stack of its field), with the same IDs.
        index = sky_index()
        det_rows, non_rows, stacks_det, stacks_non = [], [], [], []
        for d in src.datasets():
            o = (d["ObsID"], d["StartTime_MET"], d["StopTime_MET"], d["ExposureUsed"])
            stack = bool(d["IsStackedImage"])
            if (src.id, d["DatasetID"]) in index.obssource:
                (stacks_det if stack else det_rows).append(self._detection_row(src, o, d))
            else:
                total = self._bin(src, o[0], o[3], "Total", o[1:3])
                (stacks_non if stack else non_rows).append(self._nondet_row(src, o, d["DatasetID"], total,
                                                                            stack))
        rec["Detections"] = _obs_block(det_rows, stacks_det)
        rec["NonDetections"] = _obs_block(non_rows, stacks_non)
        rec["CrossMatch"] = ([{"LSXPS_ID": src.id, "Distance": 1.2, "ExtCat_ID": f"{src.obj.name}",
                               "Catalogue": "SIMBAD", "Ext_RA": src.obj.ra, "Ext_Decl": src.obj.dec,
                               "Ext_Err90": 0.1}] if isinstance(src.obj, type(CATALOGUE[0])) else [])
        return rec

    def _detection_row(self, src, obs, ds):
        dsid = ds["DatasetID"]
        index = sky_index()
        found = index.detections.get((src.id, dsid), {})
        os_row = index.obssource[(src.id, dsid)]
        row = {"ObsSourceID": os_row["ObsSourceID"], "DatasetID": dsid, "LSXPS_ID": src.id,
               "OSNum": os_row["OSNum"], "ObsID": int(obs[0]), "RA": src.ra, "Decl": src.dec,
               "Err90": src.err90,
               "IsStackedImage": int(ds["IsStackedImage"]), "IsObsoleteStack": int(ds["IsObsoleteStack"]),
               "BestDetFlag": os_row["BestDetFlag"]}
        for i, band in enumerate(_BANDS):
            b = self._bin(src, obs[0], obs[3], band, obs[1:3])
            det = found.get(i)
            row[f"{band}_Info"] = {"DetectionID": det["DetectionID"] if det else None, "DatasetID": dsid,
                                   "Band": i, "Rate": b["Rate"], "Rate_pos": b["RatePos"],
                                   "Rate_neg": b["RateNeg"], "CtsInRate": b["CtsInSrc"],
                                   "BGCtsInRate": b["BGInSrc"]}
            row[f"HasBlindDetection_band{i}"] = int(det is not None)
        return row

    def _nondet_row(self, src, obs, dsid, total, stack):
        row = {"ObsID": int(obs[0]), "DatasetID": dsid, "IsStackedImage": int(stack)}
        for i, band in enumerate(_BANDS):
            b = total if band == "Total" else self._bin(src, obs[0], obs[3], band, obs[1:3])
            row[f"{band}_Info"] = {"sourceID": src.id, "dsID": dsid, "band": i, "C": b["CtsInSrc"],
                                   "B": b["BGInSrc"], "UL": b["UpperLimit"],
                                   "isDet": int(b["class"] == "retro")}
        return row

    def _getSXPSTransAsSources(self, body, base_url):
        key = "sourceID" if "sourceID" in body else "sourceName"
        values = body.get(key)
        if not isinstance(values, list):
            values = [values]
        lookup = {}
        for value in values:
            try:
                tid, _ = self._transient({key: value})
                row = sky_index().transient_by_id[tid]
            except SXPSAPIError:
                row = None
            found = row is not None and row["LSXPS_ID"] is not None
            lookup[str(value)] = ((row["LSXPS_ID"] if key == "sourceID" else row["LSXPSName"]) if found
                                  else "MISSING")
        return {"OK": 1, "lookup": lookup}

    def _getSXPSTransInfo(self, body, base_url):
        """The transient's row of the ``transients`` table (Classification in words), then the
        observations of its field since its detection."""
        tid, src = self._transient(body)
        row = sky_index().transient_by_id[tid]
        out = {k: v for k, v in row.items() if not k.startswith("__")}
        out["Classification"] = CLASSIFICATIONS[row["Classification"]]
        new = [o[0] for o in src.observations() if o[1] >= row["DetectionMET"]]
        out.update(AllNewObs=new, AllNewTargs=sorted({int(o[:8]) for o in new}))
        return dict(out, OK=1)

    # ------------------------------------------------------------------ light curves
    def _getSXPSLC(self, body, base_url):
        if body.get("transient"):
            tid, src = self._transient(body)
            return self._transient_lc(src)
        src, flat = self._source(body)
        if flat is not None:
            return flat
        binning = body.get("binning")
        binning = "Observation" if binning is None else _BINNINGS.get(str(binning).lower())
        if binning not in ("Observation", "Snapshot"):
            raise SXPSAPIError(1, f"binning is {str(body.get('binning'))[:40]}, but must be one of: "
                               "observation, snapshot.")
        fmt = body.get("timeFormat")
        fmt = "MJD" if fmt is None else _TIME_FORMATS.get(str(fmt).lower())
        if fmt is None:
            raise SXPSAPIError(1, f"timeFormat is {str(body.get('timeFormat'))[:40]}, but must be one of: "
                               "met, mjd, tdb.")
        flags = dict(_LC_FLAGS)
        for key in list(_LC_FLAGS) + ["groupHRss", "hideBadPup", "mergeAliases"]:
            if key in body and body[key] is not None:
                flags["groupHRs" if key == "groupHRss" else key] = bool(body[key])
        bands = body.get("bands", "all")
        wanted = {"total", "soft", "medium", "hard", "hr1", "hr2"}
        if bands is None or (isinstance(bands, str) and bands.lower() == "all"):
            bands = sorted(wanted)
        elif isinstance(bands, str):
            bands = [bands]
        if not isinstance(bands, list) or any(str(b).lower() not in wanted for b in bands):
            raise SXPSAPIError(1, f"bands is {str(body.get('bands'))[:60]}, but must be 'all' or from: "
                               "total, soft, medium, hard, HR1, HR2.")
        bands = {str(b).lower() for b in bands}
        bins = []
        for o in src.observations():
            if binning == "Observation":
                bins.append((o[0], o[1], o[2], o[3]))
            else:
                bins.extend((o[0] + "_%d" % k, a, b, b - a) for k, (a, b) in enumerate(o[4], start=1))
        out = {"OK": 1, "TimeFormat": fmt, "T0": 0, "Binning": binning, "Datasets": []}
        times = self._times([(b[1], b[2]) for b in bins], fmt, src)
        measured = {band: [self._bin(src, b[0], b[3], band, b[1:3]) for b in bins] for band in _BANDS}
        rate_cols = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "CtsInSrc", "BGInSrc",
                     "CorrFact", "Exposure"]
        ul_cols = ["Time", "TimePos", "TimeNeg", "UpperLimit", "CtsInSrc", "BGInSrc", "CorrFact", "Exposure"]
        if flags["showObs"]:
            rate_cols, ul_cols = rate_cols + ["ObsID"], ul_cols + ["ObsID"]
        for band in _BANDS:
            if band.lower() not in bands:
                continue
            groups = {}
            for (obsid, *_), t, m in zip(bins, times, measured[band]):
                cls = m["class"]
                as_rate = cls == "blind" or (cls == "retro" and not flags["retroAsUL"]) or (
                    cls == "nondet" and not flags["nondetAsUL"])
                kinds = ([(cls, "rates")] + ([(cls, "UL")] if cls != "blind" else [])
                         if flags["getAllTypes"] else [(cls, "rates" if as_rate else "UL")])
                for cls_, what in kinds:
                    if flags["getAllTypes"]:
                        name = f"{band}_{cls_}_{what}"
                    elif what == "rates":
                        name = f"{band}_rates" if flags["groupRates"] else f"{band}_{cls_}_rates"
                    else:
                        name = f"{band}_UL" if flags["groupULs"] else f"{band}_{cls_}_UL"
                    cols = rate_cols if what == "rates" else ul_cols
                    values = dict(m, Time=t[0], TimePos=t[1], TimeNeg=t[2], ObsID=obsid.split("_")[0])
                    groups.setdefault(name, (cols, []))[1].append([values[c] for c in cols])
            for name, (cols, rows) in groups.items():
                out["Datasets"].append(name)
                out[f"{name}Data"] = {"columns": cols, "data": rows}
        for hr, (lo, hi) in (("HR1", ("Soft", "Medium")), ("HR2", ("Medium", "Hard"))):
            if hr.lower() not in bands:
                continue
            groups = {}
            for t, a, b, tot in zip(times, measured[lo], measured[hi], measured["Total"]):
                if tot["class"] == "nondet" or (tot["class"] == "retro" and not flags["getRetroHR"]):
                    continue
                sa, sb = a["Rate"], b["Rate"]
                if sa + sb <= 0:
                    continue
                value = (sb - sa) / (sb + sa)
                err = 2 * math.hypot(sa * b["RatePos"], sb * a["RatePos"]) / (sa + sb) ** 2
                name = hr if flags["groupHRs"] and not flags["getAllTypes"] else (
                    f"{hr}_{'blind' if tot['class'] == 'blind' else 'retro'}")
                groups.setdefault(name, []).append([t[0], t[1], t[2], value, min(err, 1 - value),
                                                    -min(err, 1 + value)])
            for name, rows in groups.items():
                out["Datasets"].append(name)
                out[f"{name}Data"] = {"columns": ["Time", "TimePos", "TimeNeg", "HR", "HRPos", "HRNeg"],
                                      "data": rows}
        return out

    def _times(self, spans, fmt, src):
        """(time, +half, -half) per bin in the requested format (days for MJD/TDB, s for MET)."""
        out = []
        if fmt == "TDB" and spans:
            from astropy import units as u
            from astropy.coordinates import EarthLocation, SkyCoord
            from astropy.time import Time
            mids = Time([float(met_to_mjd(0.5 * (a + b))) for a, b in spans], format="mjd", scale="utc")
            with_ltt = mids.tdb + mids.light_travel_time(
                SkyCoord(src.ra, src.dec, unit="deg"), "barycentric",
                location=EarthLocation.from_geocentric(0, 0, 0, unit=u.m))
            jds = with_ltt.tdb.jd
        for k, (a, b) in enumerate(spans):
            half = 0.5 * (b - a)
            if fmt == "MET":
                out.append((0.5 * (a + b), half, -half))
            elif fmt == "MJD":
                out.append((float(met_to_mjd(0.5 * (a + b))), half / 86400.0, -half / 86400.0))
            else:
                out.append((float(jds[k]), half / 86400.0, -half / 86400.0))
        return out

    def _transient_lc(self, src):
        obs = src.observations()
        times = self._times([(o[1], o[2]) for o in obs], "MJD", src)
        rate_cols = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp", "BGrate", "BGerr",
                     "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]
        out = {"OK": 1, "TimeFormat": "MJD", "T0": 0, "Binning": "Observation", "Datasets": []}
        rows = {"PC": [], "PCUL": [], "PCHard": [], "PCSoft": [], "PCHR": []}
        for o, t in zip(obs, times):
            m = self._bin(src, o[0], o[3], "Total", o[1:3])
            bgrate = m["BGInSrc"] / o[3]
            values = [t[0], t[1], t[2], m["Rate"] if m["class"] != "nondet" else m["UpperLimit"],
                      m["RatePos"], m["RateNeg"], 1.0, bgrate, math.sqrt(m["BGInSrc"]) / o[3], m["CorrFact"],
                      m["CtsInSrc"], m["BGInSrc"], o[3], 0.0, 0.0]
            if m["class"] == "nondet":
                values[4] = values[5] = 0.0
                rows["PCUL"].append(values)
                continue
            values[13] = values[14] = m["Rate"] / max(-m["RateNeg"], 1e-12)
            rows["PC"].append(values)
            # Transient bands are 0.3-1.5 and 1.5-10 keV (spec §3.4): soft = Soft + half of Medium.
            s = self._bin(src, o[0], o[3], "Soft", o[1:3])
            h = self._bin(src, o[0], o[3], "Hard", o[1:3])
            md = self._bin(src, o[0], o[3], "Medium", o[1:3])
            soft, hard = s["Rate"] + 0.5 * md["Rate"], h["Rate"] + 0.5 * md["Rate"]
            serr = math.hypot(s["RatePos"], 0.5 * md["RatePos"])
            herr = math.hypot(h["RatePos"], 0.5 * md["RatePos"])
            rows["PCSoft"].append([t[0], t[1], t[2], soft, serr])
            rows["PCHard"].append([t[0], t[1], t[2], hard, herr])
            if soft > 0:
                hr = hard / soft
                err = hr * math.hypot(herr / max(hard, 1e-12), serr / soft)
                rows["PCHR"].append([t[0], t[1], t[2], hr, err])
        columns = {"PC": rate_cols, "PCUL": rate_cols,
                   "PCHard": ["Time", "TimePos", "TimeNeg", "Rate", "RateErr"],
                   "PCSoft": ["Time", "TimePos", "TimeNeg", "Rate", "RateErr"],
                   "PCHR": ["Time", "TimePos", "TimeNeg", "HR", "HRErr"]}
        for suffix in ("_incbad", "_nosys_incbad"):
            for name, data in rows.items():
                if data:
                    out["Datasets"].append(name + suffix)
                    out[f"{name}{suffix}Data"] = {"columns": columns[name], "data": data}
        return out

    # ------------------------------------------------------------------ spectra
    def _getSXPSSpectrumData(self, body, base_url):
        if body.get("transient"):
            tid, src = self._transient(body)
            kind = str(body.get("specType", "")).lower()
            if kind not in ("discovery", "full", "both"):
                raise SXPSAPIError(1, f"specType is {str(body.get('specType'))[:40]}, but must be one of: "
                                   "discovery, full, both.")
            out = {}
            for which in ("Discovery", "Full"):
                if kind in (which.lower(), "both"):
                    out[which] = (self._spectrum(src, f"transData/{tid}/spectrum_{which.lower()}", base_url,
                                                 discovery=which == "Discovery", models="powerlaw")
                                  if not (tid == 30 and which == "Full") else {"NoSpectrum": 1})
            return dict(out, OK=1) if kind == "both" else dict(out[kind.capitalize()], OK=1)
        src, flat = self._source(body)
        if flat is not None:
            return flat
        return dict(self._spectrum(src, f"sources/source{src.id}/spectrum", base_url), OK=1)

    def _spectrum(self, src, rel, base_url, discovery=False, models="powerlaw,apec"):
        key = ("spec", rel)
        with self._lock:
            lock = self._built.setdefault(("lock",) + key, threading.Lock())
        with lock:
            if key not in self._built:
                self._built[key] = self._build_spectrum(src, rel, discovery, models)
        data = self._built[key]
        if "NoSpectrum" in data:
            return dict(data)
        # URLs are written per request: the same files answer under any host name of the service.
        text = _json_dumps(data).replace("@BASE@", f"{base_url}{URL_PREFIX}{rel}")
        import json
        return json.loads(text)

    def _build_spectrum(self, src, rel, discovery, models):
        from .sky import JobSky
        from .specbuild import build_spectra
        from .sky import ProductFailure
        obs = src.observations()
        out = self.root / rel
        targ = ",".join(src.entry.targets) if src.entry is not None else ""
        if not targ:
            return {"NoSpectrum": 1}
        pars = {"name": src.name, "RA": src.ra, "Dec": src.dec, "targ": targ, "spec": 1, "models": models,
                "Tstart": obs[0][1]}
        if discovery:
            pars.update(timeslice="user", sinceT0=1, rname1="interval0",
                        gti1=f"0-{obs[0][2] - obs[0][1]:.3f}", T0=obs[0][1])
        try:
            sky = JobSky(pars, self.seed)
            data, _ = build_spectra(sky, out, "@BASE@")
        except ProductFailure:
            return {"NoSpectrum": 1}
        if "interval0" not in data.get("rnames", []) or "NOSPEC" in data.get("interval0", {}):
            return {"NoSpectrum": 1}
        interval = data["interval0"]
        pc_only = "PC" in interval.get("Modes", []) and len(interval["Modes"]) > 1
        if pc_only:
            # LSXPS is built from PC data only: a bright field's WT spectrum is no part of it.
            interval["Modes"] = ["PC"]
            interval.pop("WT", None)
        _flatten_tar(out / "interval0.tar.gz", src, drop_wt=pc_only)
        # The documented key order: T0, DeltaFitStat, GalNH_unfitted, rnames, interval0.
        order = ("T0", "DeltaFitStat", "GalNH_unfitted", "rnames")
        return {**{k: data[k] for k in order if k in data},
                **{k: v for k, v in data.items() if k not in order}}

    # ------------------------------------------------------------------ images
    def _getSXPSSourceImages(self, body, base_url):
        if body.get("transient"):
            tid, src = self._transient(body)
            rel = f"transData/{tid}/images"
        else:
            src, flat = self._source(body)
            if flat is not None:
                return flat
            rel = f"sources/source{src.id}/images"
        allowed = {b.lower(): b for b in _BANDS + ("Expmap",)}
        bands = body.get("bands", "all")
        if isinstance(bands, str) and bands.lower() == "all":
            bands = list(allowed.values())
        elif isinstance(bands, str):
            bands = [bands]
        if not isinstance(bands, list) or any(str(b).lower() not in allowed for b in bands):
            raise SXPSAPIError(1, f"bands is {str(body.get('bands'))[:60]}, but must be 'all' or from: "
                               "total, soft, medium, hard, expmap.")
        out = {"OK": 1}
        for band in (allowed[str(b).lower()] for b in bands):
            out[band] = ("NOTFOUND" if band in self.missing_images
                         else f"{base_url}{URL_PREFIX}{rel}/{band}.png")
        return out

    def _thumbnail(self, src, band):
        """A PNG thumbnail: the source's counts over a 2-arcmin field, smoothed."""
        rng = _rng("thumb", self.seed, src.name, band)
        size = 120
        y, x = np.mgrid[0:size, 0:size] - size / 2
        frac = _BAND_FRACTION.get(band, 1.0)
        exposure = sum(o[3] for o in src.observations())
        if band == "Expmap":
            img = np.clip(1.0 - (x * x + y * y) / (2.0 * size * size), 0, 1) * 255
        else:
            psf = np.exp(-(x * x + y * y) / (2 * 2.5 ** 2))
            counts = rng.poisson(psf / psf.sum() * src.rate * frac * exposure + 2e-4 * frac * exposure / 100)
            img = np.sqrt(counts.astype(float))
            img = 255 * img / img.max() if img.max() > 0 else img
        return _png(255 - img)

    def _dataset(self, body):
        """(obsid, ``datasets`` table row) a request names; (obsid or None, None) for a superseded one."""
        index = sky_index()
        if "ObsID" in body:
            value = str(body["ObsID"]).strip()
            obsid = value.zfill(11) if value.isdigit() else value
            if obsid == _REMOVED_STACK:
                return obsid, None
            if obsid == _OBSOLETE_STACK:
                return obsid, self._obsolete_stack()
            if obsid not in index.dataset_by_obsid:
                raise SXPSAPIError(1, f"Dataset with obsid: `{obsid}` is not found in the LSXPS catalogue.")
            return obsid, index.dataset_by_obsid[obsid]
        if "DatasetID" in body:
            try:
                dsid = int(str(body["DatasetID"]).strip())
            except ValueError:
                raise SXPSAPIError(1, f"DatasetID is {str(body['DatasetID'])[:40]}, but must be an "
                                   "integer.") from None
            if dsid == _OLD_VERSION_DSID:
                return None, None
            if dsid == _OLD_VERSION_DSID - 1:
                return _OBSOLETE_STACK, self._obsolete_stack()
            if dsid not in index.dataset_by_id:
                raise SXPSAPIError(1, f"Dataset with DatasetID: `{dsid}` is not found in the LSXPS "
                                   "catalogue.")
            row = index.dataset_by_id[dsid]
            return row["ObsID"], row
        raise SXPSAPIError(1, "Either DatasetID or ObsID must be given.")

    def _owner_stack(self):
        """The ``datasets`` row of the stack that supersedes the documented stack fixtures."""
        return self._named(_STACK_OWNER).stack()

    def _obsolete_stack(self):
        # The documented obsolete stack: an older version of the owner's stack, so the same field.
        return dict(self._owner_stack(), ObsID=_OBSOLETE_STACK, DatasetID=_OLD_VERSION_DSID - 1,
                    IsObsoleteStack=1, __of=self._owner_stack()["DatasetID"])

    def _current_stack(self):
        row = self._owner_stack()
        return {"DatasetID": row["DatasetID"], "DataVersion": row["DataVersion"], "ObsID": int(row["ObsID"]),
                "ExposureUsed": round(row["ExposureUsed"], 1)}

    def _getSXPSDatasetInfo(self, body, base_url):
        obsid, row = self._dataset(body)
        if row is None:
            key = "SupersedingStacks" if obsid == _REMOVED_STACK else "LatestVersion"
            value = {"OtherStacks": [self._current_stack()]} if obsid else self._current_stack()
            return {"OK": 1, key: value}
        return {"OK": 1, "data": self._dataset_record(obsid, row)}

    def _dataset_sources(self, row):
        """The `_Source` objects detected in a dataset (its ``obssources`` rows), by OSNum."""
        srcs = self.sources()
        return [srcs[i] for i in sky_index().dataset_sources.get(row.get("__of", row["DatasetID"]), [])]

    def _dataset_record(self, obsid, ds):
        """The dataset's ``datasets`` row, its detected sources (``Sources``) and stack membership."""
        index = sky_index()
        real = ds.get("__of", ds["DatasetID"])
        start, stop, exposure = ds["StartTime_MET"], ds["StopTime_MET"], ds["ExposureUsed"]
        rec = {k: ds[k] for k in ("DatasetID", "OriginalExposure", "ExposureUsed", "RA", "Decl", "l", "b")}
        for i, band in enumerate(_BANDS):
            rec[f"FieldBG_band{i}"] = 2.5e-4 * _BAND_FRACTION[band] / 1000.0
        sources = []
        for src in self._dataset_sources(ds):
            found = index.detections.get((src.id, real), {})
            row = {"LSXPS_ID": src.id, "IAUName": src.name, "RA": src.ra, "Decl": src.dec, "Err90": src.err90,
                   "DetFlag": int(src.row.get("DetFlag") or 0)}
            for i, band in enumerate(_BANDS):
                det = found.get(i)
                if det is not None:
                    row[f"{band}_DetectionDetails"] = {
                        "DetectionID": det["DetectionID"], "Rate": det["Rate"], "Rate_pos": det["Rate_pos"],
                        "Rate_neg": det["Rate_neg"], "DetFlag": det["DetFlag"], "CtsInRate": det["Counts"],
                        "BGCtsInRate": det["BGCounts"], "SNR": det["SNR"], "PileupFitted": 0, "RA": det["RA"],
                        "Decl": det["Decl"], "Err90": det["Err90"]}
                    row[f"{band}_NonDetectionDetails"] = None
                else:
                    b = self._bin(src, obsid, exposure, band, (start, stop))
                    row[f"{band}_DetectionDetails"] = None
                    row[f"{band}_NonDetectionDetails"] = {
                        "UL": b["UpperLimit"], "C": b["CtsInSrc"], "B": b["BGInSrc"],
                        "isDet": int(b["class"] == "retro")}
            sources.append(row)
        for i, band in enumerate(_BANDS):
            rec[f"NumSrc_band{i}"] = sum(1 for r in sources if r[f"{band}_DetectionDetails"])
        stack = next((d for d in index.field_datasets.get(ds["__field"], []) if d["IsStackedImage"]), None)
        rec.update({"StartTime_MET": start, "StopTime_MET": stop, "MidTime_MET": ds["MidTime_MET"],
                    "MidTime_TDB": ds["MidTime_MJD"] + 2400000.5, "MidTime_MJD": ds["MidTime_MJD"],
                    "StartTime_UTC": ds["StartTime_UTC"], "StopTime_UTC": ds["StopTime_UTC"],
                    "IsStackedImage": ds["IsStackedImage"], "DataVersion": ds["DataVersion"], "ObsID": obsid,
                    "IsObsoleteStack": ds["IsObsoleteStack"],
                    "TargetID": ds["TargetID"] if not ds["IsStackedImage"] else None,
                    "inStack": ([int(stack["ObsID"])] if stack is not None and not ds["IsStackedImage"]
                                else []),
                    "TargetObjectName": ds["TargetObjectName"], "FieldFlag": ds["FieldFlag"], "OK": 1,
                    "Sources": sources})
        return rec

    def _getSXPSDatasetImages(self, body, base_url):
        obsid, entry = self._dataset(body)
        if entry is None:
            shown = obsid or str(body.get("DatasetID"))
            raise SXPSAPIError(1, f"Dataset with obsid: `{shown}` is not found in the LSXPS catalogue.")
        allowed = {b.lower(): b for b in _BANDS}
        bands = body.get("bands", "all")
        bands = list(_BANDS) if isinstance(bands, str) and bands.lower() == "all" else (
            [bands] if isinstance(bands, str) else bands)
        if not isinstance(bands, list) or any(str(b).lower() not in allowed for b in bands):
            raise SXPSAPIError(1, f"bands is {str(body.get('bands'))[:60]}, but must be 'all' or from: "
                               "total, soft, medium, hard.")
        types = body.get("types", "all")
        types = list(_TYPE_SUFFIX) if isinstance(types, str) and types.lower() == "all" else (
            [types] if isinstance(types, str) else types)
        if not isinstance(types, list) or any(str(t).lower() not in _IMAGE_TYPES for t in types):
            raise SXPSAPIError(1, f"types is {str(body.get('types'))[:60]}, but must be 'all' or from: "
                               "Image, BackgroundMap, BackgroundMapWithSources.")
        types = [_IMAGE_TYPES[str(t).lower()] for t in types]
        obsolete = obsid == _OBSOLETE_STACK
        base = f"{base_url}{URL_PREFIX}datasets/{obsid}"
        out = {"OK": 1}
        if obsolete:
            out["SupersededBy"] = self._current_stack()["ObsID"]
        for band in (allowed[str(b).lower()] for b in bands):
            stem = f"{obsid}_{_BAND_FILE[band]}"
            item = {t: "NOTFOUND" if obsolete else f"{base}/{stem}{_TYPE_SUFFIX[t]}" for t in types}
            if body.get("getRegions", True):
                item["Regions"] = "NOTFOUND" if obsolete else f"{base}/{_BAND_FILE[band]}.reg"
            out[band] = item
        if obsolete:
            out["Missingexpmap"] = "NOTFOUND"
        else:
            out["Expmap"] = f"{base}/{obsid}_ex.img.gz"
        return out

    def _dataset_file(self, obsid, name):
        """Bytes of one dataset file (FITS image, background map, exposure map, region file)."""
        index = sky_index()
        ds = index.dataset_by_obsid.get(obsid)
        if ds is None:
            return None
        start, stop, exposure = ds["StartTime_MET"], ds["StopTime_MET"], ds["ExposureUsed"]
        # Every source of the field shines in the image; the region file marks the detected ones.
        srcs = [self.sources()[i] for i in index.field_members.get(ds["__field"], [])]
        centre = SimpleNamespace(ra=ds["RA"], dec=ds["Decl"], name=ds["TargetObjectName"])
        m = re.fullmatch(re.escape(obsid) + r"_(total|band[123])(\.img\.gz|_final_BGmap\.img\.gz|"
                         r"_final_BGmap_w_source\.img\.gz)", name)
        reg = re.fullmatch(r"(total|band[123])\.reg", name)
        from .imgbuild import image_wcs
        wcs = image_wcs(centre.ra, centre.dec, _IMAGE_PIXELS)
        if reg:
            band = {v: k for k, v in _BAND_FILE.items()}[reg.group(1)]
            lines = ["# Region file format: DS9 version 4.1", "fk5"]
            for src in srcs:
                found = self._table_detection(src, obsid, band) is not None
                colour = "green" if found else "red"
                lines.append(f'circle({src.ra:.5f},{src.dec:.5f},{max(src.err90, 20):.1f}") # color={colour} '
                             f"text={{{src.id}}}")
            return ("\n".join(lines) + "\n").encode()
        from astropy.io import fits
        header = wcs.to_header()
        header.update(TELESCOP="SWIFT", INSTRUME="XRT", DATAMODE="PHOTON", OBS_ID=obsid, EXPOSURE=exposure,
                      TSTART=start, TSTOP=stop, OBJECT=str(getattr(centre, "name", "")))
        y, x = np.mgrid[0:_IMAGE_PIXELS, 0:_IMAGE_PIXELS]
        if name == f"{obsid}_ex.img.gz":
            r2 = (x - _IMAGE_PIXELS / 2) ** 2 + (y - _IMAGE_PIXELS / 2) ** 2
            data = (exposure * np.clip(1 - r2 / (2.2 * (_IMAGE_PIXELS / 2) ** 2), 0, 1)).astype(np.float32)
            header["BUNIT"] = "s"
            return _gz(fits.HDUList([fits.PrimaryHDU(data, header)]))
        if not m:
            return None
        band = {v: k for k, v in _BAND_FILE.items()}[m.group(1)]
        bg_level = 2.5e-4 * _BAND_FRACTION[band] * exposure / 1000.0
        model = np.full((_IMAGE_PIXELS, _IMAGE_PIXELS), bg_level)
        with_sources = np.zeros_like(model)
        for src in srcs:
            px, py = wcs.world_to_pixel_values(src.ra, src.dec)
            psf = np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 2.0 ** 2))
            if psf.sum() > 0:
                with_sources += psf / psf.sum() * src.rate * _BAND_FRACTION[band] * exposure
        if m.group(2) == ".img.gz":
            data = _rng("img", self.seed, obsid, band).poisson(model + with_sources).astype(np.int32)
            header["BUNIT"] = "count"
        elif m.group(2) == "_final_BGmap.img.gz":
            data = model.astype(np.float32)
            header["BUNIT"] = "count"
        else:
            data = (model + with_sources).astype(np.float32)
            header["BUNIT"] = "count"
        return _gz(fits.HDUList([fits.PrimaryHDU(data, header)]))

    # ------------------------------------------------------------------ files
    def file_for(self, path):
        """The file to send for a GET of ``/LSXPS/...`` (made on first use), or None (a 404)."""
        found = self._file_bytes(path)
        if found is None or isinstance(found, Path):
            return found
        target = self.root / "files" / path.strip("/")
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.{threading.get_ident()}.part")
            part.write_bytes(found[0])
            part.replace(target)
        return target

    def _file_bytes(self, path):
        """(bytes, name) or a built file's Path for a GET of ``/LSXPS/...``, or None (a 404)."""
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "LSXPS" or any(p in ("", ".", "..") for p in parts):
            return None
        try:
            if parts[1] == "datasets" and len(parts) == 4:
                data = self._dataset_file(parts[2], parts[3])
                return None if data is None else (data, parts[3])
            srcs = self.sources()
            if parts[1] == "sources" and len(parts) == 5 and re.fullmatch(r"source\d+", parts[2]):
                src = srcs.get(int(parts[2][6:]))
                rel = f"sources/{parts[2]}"
            elif parts[1] == "transData" and len(parts) == 5 and parts[2].isdigit() \
                    and int(parts[2]) in sky_index().transient_by_id:
                src = srcs[sky_index().transient_by_id[int(parts[2])]["__source"]]
                rel = f"transData/{parts[2]}"
            else:
                return None
            if src is None:
                return None
            if parts[3] == "images" and parts[4].endswith(".png"):
                band = parts[4][:-4]
                if band not in _BANDS + ("Expmap",):
                    return None
                return self._thumbnail(src, band), parts[4]
            if parts[3].startswith("spectrum"):
                target = self.root / rel / parts[3] / parts[4]
                if target.is_file() and target.resolve().is_relative_to(self.root.resolve()):
                    return target
        except (SXPSAPIError, ValueError, KeyError):
            return None
        return None


def _obs_block(rows, stacks):
    # Stacks is absent when NumStacks is 0 (spec §3.3); Observations likewise when there are none,
    # as the official client's getObsList reads an empty table as "the wrong format".
    block = {"NumStacks": len(stacks), "NumObservations": len(rows)}
    if rows:
        block["Observations"] = rows
    if stacks:
        block["Stacks"] = stacks
    return block


def _cal(met):
    return met_to_utc(met).strftime("%Y-%m-%d %H:%M:%S")


def _gz(hdul):
    raw = io.BytesIO()
    hdul.writeto(raw)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return buf.getvalue()


def _json_dumps(data):
    import json
    return json.dumps(data)


def _flatten_tar(path, src, drop_wt=False):
    """Rewrite a built spectrum archive as LSXPS writes it: 12 flat members (spec §3.5)."""
    from .grb import _repository_tar
    if drop_wt:
        with tarfile.open(path, "r:gz") as tar:
            members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()
                       if m.isfile() and "interval0wt" not in m.name]
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                for info, payload in members:
                    tar.addfile(info, io.BytesIO(payload))
        path.write_bytes(buf.getvalue())
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
    if "GRB_info.txt" not in names:
        _repository_tar(path, "interval0", SimpleNamespace(ra=src.ra, dec=src.dec), 0.0)
