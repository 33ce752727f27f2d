# Licensed under a 3-clause BSD style license - see LICENSE
"""
LSXPS / 2SXPS products of the UKSSDC catalogue service (shared/spec/ukssdc-catalogues.md §3):
source, transient and dataset details, light curves, spectra and images.

`SXPSProducts` is a mixin of `~xrtprods_astro.catalogues.CataloguesClass`, so these are methods of
``XRTCatalogues``. Compared with ``swifttools.ukssdc.data.SXPS``:

* results are astropy objects: a source is an `SXPSSource` (`~astropy.coordinates.SkyCoord`,
  error radius as a `~astropy.units.Quantity`, detections and observations as Tables), light curves
  are the package's `~xrtprods_astro.readers.lightcurve.LightCurve` (ct/s, `~astropy.time.Time`
  columns, upper limits flagged and named the same whatever the flags), spectral fits a Table with
  units and the spectrum files `~astropy.io.fits.HDUList` objects, dataset images HDULists with WCS;
* upper limits are always upper limits (the official client renames them only when not silent),
  ``group_hrs`` reaches the service (the official client sends ``groupHRss``), a source that was
  split, a superseded stack and a removed dataset are an `SXPSSupersededError` that lists their
  replacements, an image the service does not have is never fetched as the URL ``NOTFOUND``;
* every option is checked before anything is sent, and every file is downloaded streamed,
  verified and renamed only when complete.
"""
import logging
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Column, MaskedColumn, Table
from astropy.time import Time

from .exceptions import InvalidRequestError, ProductUnavailableError, ReaderError, RemoteServiceError

__all__ = ["SXPSProducts", "SXPSSource", "SXPSTransient", "SXPSDataset", "SXPSSpectrum",
           "SXPSSupersededError", "SXPS_CATALOGS"]

log = logging.getLogger("xrtprods_astro.sxps")

#: The catalogues these products come from.
SXPS_CATALOGS = ("LSXPS", "2SXPS")
_CT_S = u.ct / u.s
_FLUX = u.erg / u.cm ** 2 / u.s
_LC_BANDS = ("total", "soft", "medium", "hard", "hr1", "hr2")
_BINNINGS = {"observation": "observation", "obs": "observation", "obsid": "observation",
             "snapshot": "snapshot", "ss": "snapshot"}
_TIME_FORMATS = ("mjd", "met", "tdb")
_IMAGE_BANDS = ("total", "soft", "medium", "hard", "expmap")
_DATASET_IMAGE_TYPES = {"image": "Image", "backgroundmap": "BackgroundMap", "bgmap": "BackgroundMap",
                        "backgroundmapwithsources": "BackgroundMapWithSources",
                        "bgmap_wsrc": "BackgroundMapWithSources"}
_SPEC_TYPES = ("discovery", "full", "both")
#: Keyword -> the service's light-curve flag (sent only when given).
_LC_FLAGS = {"group_rates": "groupRates", "group_uls": "groupULs", "group_hrs": "groupHRs",
             "retro_as_ul": "retroAsUL", "nondet_as_ul": "nondetAsUL", "get_retro_hr": "getRetroHR",
             "all_types": "getAllTypes", "show_obs": "showObs", "hide_bad_pileup": "hideBadPup",
             "merge_aliases": "mergeAliases"}
_PNG = b"\x89PNG\r\n\x1a\n"


class SXPSSupersededError(ProductUnavailableError):
    """The source or dataset asked for has been superseded in the (dynamic) LSXPS catalogue.

    Attributes
    ----------
    kind : str
        ``"newerSources"`` (a source split into several), ``"SupersedingStacks"`` (a stacked
        image removed, other stacks cover its field), ``"LatestVersion"`` (an older version of a
        stack) or ``"SupersededBy"`` (an obsolete stack, whose images are no longer kept).
    replacements : `~astropy.table.Table`
        What to ask for instead: ``LSXPS_ID``, ``IAUName``, ``coord``, ``err90`` for sources;
        ``DatasetID``, ``ObsID``, ``DataVersion``, ``ExposureUsed`` for stacks.
    """

    def __init__(self, message, *, kind, replacements):
        super().__init__(message, product="sxps")
        self.kind = kind
        self.replacements = replacements


# ---------------------------------------------------------------------- units of records
def _key_unit(key):
    """The unit of a source, transient or dataset record field, from its documented name."""
    if key in ("RA", "Decl", "l", "b", "Ext_RA", "Ext_Decl") or key.endswith(("_RA", "_Decl")):
        return u.deg
    if key.startswith("Err90") or key.endswith("Err90") or key == "Distance":
        return u.arcsec
    if key == "MeanOffAxisAngle":
        return u.arcmin
    if "Exposure" in key or key.endswith("MET") or key.endswith("_MET"):
        return u.s
    if re.match(r"(Rate|UL|PeakRate)_band\d(_pos|_neg)?$", key) or key in ("PeakRate", "Rate", "Rate_pos",
                                                                           "Rate_neg", "UL"):
        return _CT_S
    if re.match(r"(Bg)?Counts_band\d$", key) or key in ("CtsInRate", "BGCtsInRate", "C", "B"):
        return u.ct
    if "NH" in key and "Gamma" not in key:
        return u.cm ** -2
    if "Flux" in key:
        return _FLUX
    return None


def _date(value):
    try:
        return Time(str(value).replace(" ", "T"), format="isot", scale="utc")
    except ValueError:
        return value


def _record(data, skip=()):
    """The scalar fields of a record, with units where known and UTC dates as Times."""
    out = {}
    for key, value in data.items():
        if key in skip or key == "OK" or isinstance(value, (list, dict)):
            if isinstance(value, dict) and key not in skip:
                out[key] = dict(value)
            continue
        if value is None or isinstance(value, (bool, str)):
            out[key] = _date(value) if isinstance(value, str) and (key.endswith(("Date", "_UTC"))) else value
            continue
        unit = _key_unit(key)
        out[key] = value * unit if unit is not None and isinstance(value, (int, float)) else value
    return out


def _obsid(value):
    text = str(value).strip()
    if text.startswith("::"):
        text = text.split("=", 1)[-1]
    if re.fullmatch(r"\d+(\.0*)?", text):
        return "%011d" % int(float(text))
    return text


def _flatten_rows(rows):
    """Rows whose values may be objects (``Total_Info``...) as flat dicts (``Total_Info_Rate``)."""
    out = []
    for row in rows:
        flat = {}
        for key, value in row.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    flat[f"{key}_{k}"] = v
            elif not isinstance(value, list):
                flat[key] = value
        out.append(flat)
    return out


def _rows_table(rows, obsid_columns=("ObsID",)):
    """A Table of service rows: ObsIDs as 11-digit strings, units where the names say, nulls masked."""
    rows = _flatten_rows(rows)
    names = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    table = Table()
    for name in names:
        values = [row.get(name) for row in rows]
        if name in obsid_columns:
            table[name] = Column([_obsid(v) if v is not None else "" for v in values], dtype=str)
            continue
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            integral = all(isinstance(v, int) for v in present)
            data = np.array([v if v is not None else 0 for v in values], dtype=int if integral else float)
            unit = _key_unit(name.split("_Info_")[-1].split("Details_")[-1])
            mask = [v is None for v in values]
            table[name] = (MaskedColumn(data, mask=mask, unit=unit) if any(mask)
                           else Column(data, unit=unit))
        elif present and all(isinstance(v, bool) for v in present):
            table[name] = Column([bool(v) for v in values], dtype=bool)
        else:
            table[name] = Column(["" if v is None else str(v) for v in values], dtype=str)
    return table


class _Record:
    """Common parts of the records: the scalar fields and a position."""

    def _position(self, data):
        self.coord = SkyCoord(float(data["RA"]), float(data["Decl"]), unit="deg", frame="icrs")
        err = data.get("Err90")
        self.err90 = float(err) * u.arcsec if err is not None else None

    def __getitem__(self, key):
        return self.record[key]


class SXPSSource(_Record):
    """An LSXPS / 2SXPS source, from `SXPSProducts.get_source`.

    Attributes
    ----------
    catalog : str
    source_id : int
        ``LSXPS_ID`` (which differs from the ID asked for when the source was renamed).
    name : str
        IAU name.
    coord : `~astropy.coordinates.SkyCoord`
    err90 : `~astropy.units.Quantity`
        90% position error radius.
    record : dict
        The scalar fields: Quantities where the unit is known (deg, arcsec, s, ct/s, cm-2,
        erg/cm2/s), UTC dates as `~astropy.time.Time`, ``lcRanges`` as a dict.
    detections, non_detections : `~astropy.table.Table`
        One row per observation (``ObsID`` as an 11-digit string, ``DatasetID``; per band the
        detection or non-detection details flattened, e.g. ``Total_Info_Rate``), stacked images
        in ``detection_stacks`` / ``non_detection_stacks``.
    observations : `~astropy.table.Table`
        Every observation of the source, sorted by ObsID: ``obsid`` (11-digit string),
        ``dataset_id``, ``detected`` (a blind detection), ``retrospective`` (only found when
        looked for at the known position). Stacked images are not observations and are not listed.
    crossmatch : `~astropy.table.Table`
        Matches in external catalogues (``Distance`` in arcsec).
    """

    def __init__(self, data, catalog):
        self.catalog = catalog
        self.record = _record(data, skip=("Detections", "NonDetections", "CrossMatch"))
        self.source_id = int(data["LSXPS_ID"]) if data.get("LSXPS_ID") is not None else None
        self.name = str(data.get("IAUName", ""))
        self._position(data)
        det, non = data.get("Detections") or {}, data.get("NonDetections") or {}
        self.detections = _rows_table(det.get("Observations") or [])
        self.non_detections = _rows_table(non.get("Observations") or [])
        self.detection_stacks = _rows_table(det.get("Stacks") or [])
        self.non_detection_stacks = _rows_table(non.get("Stacks") or [])
        self.crossmatch = _rows_table(data.get("CrossMatch") or [])
        rows = [(_obsid(r["ObsID"]), int(r.get("DatasetID") or 0), True, False)
                for r in det.get("Observations") or []]
        for r in non.get("Observations") or []:
            info = r.get("Total_Info") or {}
            retro = str(info.get("isDet", 0)).strip() in ("1", "True", "true")
            rows.append((_obsid(r["ObsID"]), int(r.get("DatasetID") or 0), False, retro))
        rows.sort()
        obs = Table(rows=rows or None, names=("obsid", "dataset_id", "detected", "retrospective"),
                    dtype=(str, int, bool, bool))
        obs["obsid"].description = "ObsID (11 digits)"
        obs["detected"].description = "True where the source was detected blindly"
        obs.meta.update(catalog=catalog, source_id=self.source_id, name=self.name)
        self.observations = obs
        for table in (self.detections, self.non_detections, self.crossmatch):
            table.meta.update(catalog=catalog, source_id=self.source_id)

    def __repr__(self):
        return (f"<SXPSSource {self.catalog} {self.source_id} {self.name!r} at "
                f"{self.coord.to_string('hmsdms', precision=1)} ±{self.err90:.1f}; "
                f"{len(self.observations)} observations, "
                f"{int(self.observations['detected'].sum())} detected>")


class SXPSTransient(_Record):
    """An LSXPS transient, from `SXPSProducts.get_transient`.

    Attributes
    ----------
    transient_id : int
    name : str
        ``Swift J...`` name.
    lsxps_id : int or None
        The LSXPS source it is, once it is in the catalogue.
    coord, err90, record
        As for `SXPSSource`.
    observations : `~astropy.table.Table`
        ``obsid`` (11-digit strings) of every observation since discovery, ``discovery`` True for
        the discovery observation.
    """

    def __init__(self, data, catalog):
        self.catalog = catalog
        self.record = _record(data)
        self.transient_id = int(data["TransientID"]) if data.get("TransientID") is not None else None
        self.name = str(data.get("IAUName", ""))
        self.lsxps_id = int(data["LSXPS_ID"]) if data.get("LSXPS_ID") is not None else None
        self._position(data)
        self.record["AllNewObs"] = [_obsid(o) for o in data.get("AllNewObs") or []]
        self.record["AllNewTargs"] = [int(t) for t in data.get("AllNewTargs") or []]
        discovery = _obsid(data["DiscoveryObs"]) if data.get("DiscoveryObs") else None
        obs = self.record["AllNewObs"]
        self.observations = Table([Column(obs, dtype=str, name="obsid"),
                                   Column([o == discovery for o in obs], dtype=bool, name="discovery")])

    def __repr__(self):
        return (f"<SXPSTransient {self.transient_id} {self.name!r} ({self.record.get('Classification')}) "
                f"at {self.coord.to_string('hmsdms', precision=1)}>")


class SXPSDataset(_Record):
    """An LSXPS dataset (an observation or a stacked image), from `SXPSProducts.get_dataset`.

    Attributes
    ----------
    dataset_id : int
    obsid : str
        11-digit ObsID (stacks have IDs from 10000000000).
    coord : `~astropy.coordinates.SkyCoord`
        Centre of the dataset.
    record : dict
        Scalar fields with units, ``StartTime_UTC``/``StopTime_UTC`` as Times.
    start, stop : `~astropy.time.Time`
    is_stack, is_obsolete : bool
    sources : `~astropy.table.Table`
        The catalogued sources in the dataset, band details flattened
        (``Total_DetectionDetails_Rate`` in ct/s...).
    """

    def __init__(self, data, catalog):
        self.catalog = catalog
        self.record = _record(data, skip=("Sources",))
        self.dataset_id = int(data["DatasetID"])
        self.obsid = _obsid(data["ObsID"])
        self.record["ObsID"] = self.obsid
        self._position(data)
        self.start = self.record.get("StartTime_UTC")
        self.stop = self.record.get("StopTime_UTC")
        self.is_stack = bool(data.get("IsStackedImage"))
        self.is_obsolete = bool(data.get("IsObsoleteStack"))
        self.record["inStack"] = [_obsid(s) for s in data.get("inStack") or []]
        self.sources = _rows_table(data.get("Sources") or [])
        self.sources.meta.update(catalog=catalog, dataset_id=self.dataset_id, obsid=self.obsid)

    def __repr__(self):
        kind = "stack" if self.is_stack else "observation"
        return (f"<SXPSDataset {self.dataset_id} ({kind} {self.obsid}), "
                f"{self.record.get('ExposureUsed')}, {len(self.sources)} sources>")


class SXPSSpectrum:
    """The automatic spectrum of an LSXPS source or transient.

    Attributes
    ----------
    fits : `~astropy.table.Table`
        The fits (``PowerLaw``, ``APEC``) with units, as for job and GRB spectra
        (`~xrtprods_astro.readers.spectrum.read_spectral_fits`).
    products : `~xrtprods_astro.readers.spectrum.SpectrumProducts` or None
        The downloaded, verified and unpacked ``interval0.tar.gz``: grouped spectrum, background,
        ARF, RMF as HDULists (None when no folder was given).
    archive : pathlib.Path or None
    """

    def __init__(self, fits, products=None, archive=None):
        self.fits, self.products, self.archive = fits, products, archive

    def __repr__(self):
        return (f"<SXPSSpectrum: {len(self.fits)} fits"
                + (f", files in {self.products.directory}>" if self.products is not None else ">"))


# ---------------------------------------------------------------------- checks
def _catalog(catalog):
    if catalog not in SXPS_CATALOGS:
        raise InvalidRequestError(f"catalog is {catalog!r}, but must be one of: " + ", ".join(SXPS_CATALOGS))
    return catalog


def _ident(value, what, names):
    """The wire key and value of a source/transient given as an ID or a name."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise InvalidRequestError(f"{what} is {value!r}, but must be an integer ID or a name "
                                  f"such as {names!r}.")
    if isinstance(value, (int, np.integer)):
        if value <= 0:
            raise InvalidRequestError(f"{what} is {value!r}, but an ID must be a positive integer.")
        return "sourceID", int(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return "sourceID", int(text)
        return "sourceName", text
    raise InvalidRequestError(f"{what} is {value!r}, but must be an integer ID or a name such as {names!r}.")


def _bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidRequestError(f"{name} is {value!r}, but must be True or False.")
    return bool(value)


def _listed(value, name, allowed):
    """'all' or a list of names from ``allowed`` (case-insensitive), lower-cased."""
    if isinstance(value, str) and value.lower() == "all":
        return "all"
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if not items or any(not isinstance(v, str) or v.lower() not in allowed for v in items):
        raise InvalidRequestError(f"{name} is {value!r}, but must be 'all' or from: " + ", ".join(allowed))
    return [v.lower() for v in items]


def _folder(dest_dir):
    from .files import check_writable_dir
    path = Path(dest_dir)
    check_writable_dir(path, "dest_dir")
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------- light curves
def _lc_time(values, fmt):
    """Times and the factor from the answer's half-widths to seconds."""
    values = np.asarray(values, dtype=float)
    if fmt == "MET":
        from .times import met_to_time
        t = met_to_time(values)
        t.format = "isot"
        return t, 1.0
    if fmt == "TDB":
        # Barycentric JD (the service sends TDB as JD-like values, spec §2.3): kept on the TDB scale.
        jd = values if values.size == 0 or np.nanmin(values) > 2.4e6 else values + 2400000.5
        return Time(jd, format="jd", scale="tdb"), 86400.0
    return Time(values, format="mjd", scale="utc"), 86400.0


def _sxps_lightcurve(data, source, catalog):
    """A `LightCurve` of a ``getSXPSLC`` answer for a source (datasets ``Total_rates``, ``HR1``...)."""
    from .readers.lightcurve import LightCurve
    fmt = str(data.get("TimeFormat") or "MJD").upper()
    fmt = "MET" if "MET" in fmt else "TDB" if "TDB" in fmt else "MJD"
    tables = {}
    for name in data.get("Datasets") or []:
        block = data.get(f"{name}Data")
        if not isinstance(block, dict) or not isinstance(block.get("columns"), list):
            raise RemoteServiceError(f"getSXPSLC listed dataset {name!r} without its data.",
                                     endpoint="main.php:getSXPSLC")
        cols = [str(c) for c in block["columns"]]
        rows = block.get("data") or []
        if any(not isinstance(r, list) or len(r) != len(cols) for r in rows):
            raise RemoteServiceError(f"getSXPSLC: a row of {name} does not match its columns {cols}.",
                                     endpoint="main.php:getSXPSLC")
        raw = {c: [r[i] for r in rows] for i, c in enumerate(cols)}
        band, _, what = name.partition("_")
        kind = "hr" if name.upper().startswith("HR") else "ul" if what.endswith("UL") else "rate"
        number = {c: np.array([np.nan if v is None else float(v) for v in raw[c]], dtype=float)
                  for c in cols if c != "ObsID"}
        times, scale = _lc_time(number["Time"], fmt)
        out = Table()
        out["time"] = times
        out["time_err_pos"] = Column(np.abs(number["TimePos"]) * scale, unit=u.s)
        out["time_err_neg"] = Column(np.abs(number["TimeNeg"]) * scale, unit=u.s)
        if kind == "hr":
            out["hr"] = Column(number["HR"], description=f"{band} hardness ratio")
            out["hr_err_pos"] = Column(np.abs(number.get("HRPos", np.zeros(len(rows)))))
            out["hr_err_neg"] = Column(np.abs(number.get("HRNeg", np.zeros(len(rows)))))
        else:
            # The upper-limit datasets call the limit UpperLimit (or Rate, as transients do).
            value = number.get("UpperLimit", number.get("Rate"))
            out["rate"] = Column(value, unit=_CT_S)
            zeros = np.zeros(len(rows))
            out["rate_err_pos"] = Column(np.abs(number.get("RatePos", zeros)) if kind == "rate" else zeros,
                                         unit=_CT_S)
            out["rate_err_neg"] = Column(np.abs(number.get("RateNeg", zeros)) if kind == "rate" else zeros,
                                         unit=_CT_S)
            out["upper_limit"] = np.full(len(rows), kind == "ul", dtype=bool)
            for src, ours, unit in (("CtsInSrc", "counts", u.ct), ("BGInSrc", "bg_counts", u.ct),
                                    ("CorrFact", "corr_fact", None), ("Exposure", "exposure", u.s)):
                if src in number:
                    out[ours] = Column(number[src], unit=unit)
        if "ObsID" in raw:
            out["obsid"] = Column([_obsid(v) for v in raw["ObsID"]], dtype=str)
        detection = next((c for c in ("blind", "retro", "nondet") if f"_{c}" in f"_{what}"), None)
        out.meta.update(dataset=name, mode=band if kind != "hr" else "PC",
                        band=band if kind != "hr" else None,
                        kind=kind, nosys=False, incbad=False, url=None, detection=detection,
                        quantity="rate", t0=None, t0_met=None, binning=data.get("Binning"), time_format=fmt)
        tables[name] = out
    meta = {"job_id": None, "source": source, "catalog": catalog, "t0": None, "t0_met": None,
            "binning": data.get("Binning"), "time_format": fmt, "quantity": "rate",
            "time_source": fmt.lower() if fmt != "MET" else "clock table", "utcf": None, "time_error": None,
            "energy_band": (0.3, 10.0)}
    return LightCurve(tables, meta)


# ---------------------------------------------------------------------- the mixin
class SXPSProducts:
    """LSXPS / 2SXPS products: a mixin of `~xrtprods_astro.catalogues.CataloguesClass`.

    It uses the client's ``_call`` (the common API) and ``_transport`` (verified downloads).
    Every method takes ``catalog="LSXPS"`` (default) or ``"2SXPS"``; sources and transients are
    given by ID (int) or name (``"LSXPS J221755.4-082100"``, ``"Swift J073006.8-193709"``).
    """

    # -------------------------------------------------------------- plumbing
    def _sxps(self, func, payload, catalog, what):
        data = self._call(func, {"whichCat": _catalog(catalog), **payload})
        if "newerSources" in data:
            newer = data["newerSources"] or []
            table = Table()
            table["LSXPS_ID"] = Column([int(s["LSXPS_ID"]) for s in newer], dtype=int)
            table["IAUName"] = Column([str(s["IAUName"]) for s in newer], dtype=str)
            table["coord"] = SkyCoord([float(s["RA"]) for s in newer], [float(s["Decl"]) for s in newer],
                                      unit="deg")
            table["err90"] = Column([float(s["Err90"]) for s in newer], unit=u.arcsec)
            listed = ", ".join(f"{i} ({n})" for i, n in zip(table["LSXPS_ID"], table["IAUName"]))
            raise SXPSSupersededError(f"{what} has been split into {len(table)} newer sources: {listed}; ask "
                                      "for those (the error's .replacements Table lists them).",
                                      kind="newerSources", replacements=table)
        return data

    def _source_payload(self, source, transient):
        key, value = _ident(source, "transient" if transient else "source",
                            "Swift J073006.8-193709" if transient else "LSXPS J062131.8-622213")
        payload = {key: value}
        if transient:
            payload["transient"] = True
        return payload

    # -------------------------------------------------------------- details
    def get_source(self, source, *, catalog="LSXPS"):
        """Details of one catalogued source (``getSXPSSourceInfo``).

        Parameters
        ----------
        source : int or str
            ``LSXPS_ID`` or IAU name. A renamed source answers as its new self (compare
            ``.source_id``); a split one raises `SXPSSupersededError`.
        catalog : {"LSXPS", "2SXPS"}

        Returns
        -------
        `SXPSSource`
        """
        payload = self._source_payload(source, False)
        data = self._sxps("getSXPSSourceInfo", payload, catalog, f"Source {source!r}")
        record = data.get("data", data)
        if not isinstance(record, dict) or "RA" not in record:
            raise RemoteServiceError(f"getSXPSSourceInfo answered no source record for {source!r}.",
                                     endpoint="main.php:getSXPSSourceInfo")
        return SXPSSource(record, catalog)

    def get_transient(self, transient, *, catalog="LSXPS"):
        """Details of one LSXPS transient (``getSXPSTransInfo``).

        Parameters
        ----------
        transient : int or str
            TransientID or ``Swift J...`` name.
        catalog : {"LSXPS", "2SXPS"}

        Returns
        -------
        `SXPSTransient`
        """
        key, value = _ident(transient, "transient", "Swift J073006.8-193709")
        data = self._sxps("getSXPSTransInfo", {key: value}, catalog, f"Transient {transient!r}")
        return SXPSTransient(data, catalog)

    def get_transients_as_sources(self, transients, *, catalog="LSXPS"):
        """Which LSXPS source each transient is, in one request (``getSXPSTransAsSources``).

        Parameters
        ----------
        transients : int, str or sequence of them
            TransientIDs, or ``Swift J...`` names (all of one kind).
        catalog : {"LSXPS", "2SXPS"}

        Returns
        -------
        `~astropy.table.Table`
            ``transient`` (as given, text), ``in_catalog`` (False: not yet in LSXPS) and
            ``source`` (the LSXPS ID, or the IAU name when names were given; masked when not in
            the catalogue).
        """
        items = [transients] if isinstance(transients, (str, int, np.integer)) else list(transients)
        if not items:
            raise InvalidRequestError("transients is empty, but must hold at least one ID or name.")
        keys = {_ident(t, "transients", "Swift J073006.8-193709") for t in items}
        kinds = {k for k, _ in keys}
        if len(kinds) > 1:
            raise InvalidRequestError("transients mixes IDs and names; give all as IDs or all as names.")
        key = kinds.pop()
        values = [_ident(t, "transients", "")[1] for t in items]
        data = self._call("getSXPSTransAsSources", {"whichCat": _catalog(catalog), key: values},
                          required=("lookup",))
        lookup = data["lookup"] or {}
        found = [lookup.get(str(v), "MISSING") for v in values]
        ok = [f not in (None, "MISSING") for f in found]
        table = Table()
        table["transient"] = Column([str(v) for v in values], dtype=str)
        table["in_catalog"] = Column(ok, dtype=bool)
        if key == "sourceID":
            table["source"] = MaskedColumn([int(f) if k else 0 for f, k in zip(found, ok)],
                                           mask=[not k for k in ok])
        else:
            table["source"] = MaskedColumn([str(f) if k else "" for f, k in zip(found, ok)],
                                           mask=[not k for k in ok])
        table.meta["catalog"] = catalog
        return table

    def get_dataset(self, dataset=None, *, obsid=None, catalog="LSXPS"):
        """Details of one dataset, an observation or a stacked image (``getSXPSDatasetInfo``).

        Parameters
        ----------
        dataset : int, optional
            DatasetID.
        obsid : str or int, optional
            ObsID (``"00282445000"`` or ``282445000``; stacks from ``10000000000``). Give exactly
            one of ``dataset`` and ``obsid``.
        catalog : {"LSXPS", "2SXPS"}

        Returns
        -------
        `SXPSDataset`

        Raises
        ------
        SXPSSupersededError
            For a removed stack (``kind="SupersedingStacks"``) or an old version of one
            (``kind="LatestVersion"``), with the stacks to use instead.
        """
        payload = self._dataset_payload(dataset, obsid)
        data = self._sxps("getSXPSDatasetInfo", payload, catalog, "dataset")
        for kind in ("SupersedingStacks", "LatestVersion"):
            if kind in data:
                value = data[kind]
                rows = value.get("OtherStacks", []) if kind == "SupersedingStacks" else [value]
                table = Table()
                table["DatasetID"] = Column([int(r["DatasetID"]) for r in rows], dtype=int)
                table["ObsID"] = Column([_obsid(r["ObsID"]) for r in rows], dtype=str)
                table["DataVersion"] = Column([int(r.get("DataVersion") or 0) for r in rows], dtype=int)
                table["ExposureUsed"] = Column([float(r.get("ExposureUsed") or 0) for r in rows], unit=u.s)
                what = "has been superseded by the stacks" if kind == "SupersedingStacks" else \
                    "is an old version; the latest is"
                raise SXPSSupersededError(f"Dataset {payload} {what}: "
                                          + ", ".join(f"ObsID {o} (DatasetID {d})"
                                                      for o, d in zip(table["ObsID"], table["DatasetID"])),
                                          kind=kind, replacements=table)
        record = data.get("data", data)
        if not isinstance(record, dict) or "DatasetID" not in record:
            raise RemoteServiceError("getSXPSDatasetInfo answered no dataset record.",
                                     endpoint="main.php:getSXPSDatasetInfo")
        return SXPSDataset(record, catalog)

    @staticmethod
    def _dataset_payload(dataset, obsid):
        if (dataset is None) == (obsid is None):
            raise InvalidRequestError("Give exactly one of dataset (a DatasetID) and obsid.")
        if dataset is not None:
            if isinstance(dataset, (bool, np.bool_)) or not isinstance(dataset, (int, np.integer)) \
                    or dataset <= 0:
                raise InvalidRequestError(f"dataset is {dataset!r}, but must be a positive integer DatasetID "
                                          "(use obsid= for an ObsID).")
            return {"DatasetID": int(dataset)}
        text = str(obsid).strip()
        if isinstance(obsid, (bool, np.bool_)) or not text.isdigit() or len(text) > 11:
            raise InvalidRequestError(f"obsid is {obsid!r}, but must be an ObsID of up to 11 digits, "
                                      "e.g. '00282445000'.")
        return {"ObsID": text.zfill(11)}

    # -------------------------------------------------------------- light curves
    def get_source_lightcurve(self, source, *, catalog="LSXPS", bands="all", binning="observation",
                              time_format="mjd", transient=False, **flags):
        """The light curve of a source (or of a transient), compiled by the service (``getSXPSLC``).

        Parameters
        ----------
        source : int or str
            Source ID or IAU name; with ``transient=True`` a TransientID or ``Swift J...`` name.
        catalog : {"LSXPS", "2SXPS"}
        bands : "all" or list of str
            From ``total`` (0.3-10 keV), ``soft`` (0.3-1), ``medium`` (1-2), ``hard`` (2-10),
            ``HR1`` (medium vs soft), ``HR2`` (hard vs medium). Ignored for transients.
        binning : {"observation", "snapshot"}
        time_format : {"mjd", "met", "tdb"}
            The service's time axis: UTC MJD, Swift MET (converted with the Swift clock) or
            barycentric TDB. The ``time`` column is a `~astropy.time.Time` on the matching scale.
        transient : bool
            The on-demand light curve of an LSXPS transient (MJD, ``PC_incbad``-style datasets).
        **flags : bool
            Only the ones given are sent: ``group_rates``, ``group_uls``, ``group_hrs``,
            ``retro_as_ul``, ``nondet_as_ul``, ``get_retro_hr``, ``all_types``, ``show_obs``,
            ``hide_bad_pileup``, ``merge_aliases`` (the service's ``groupRates`` ...).

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Datasets as the service names them (``Total_rates``, ``Total_UL``, ``HR1``...; with
            ``group_uls=False``: ``Total_retro_UL``, ``Total_nondet_UL``). Count rates in ct/s,
            ``upper_limit`` True in the limit datasets (the limit is in ``rate``), ``time`` a Time,
            half-widths in s, counts, background, correction factor, exposure; HR datasets
            ``hr`` with two-sided errors. ``lc.plot(time_axis="mjd")`` draws limits as arrows.
        """
        payload = self._source_payload(source, transient)
        if not transient:
            wire_bands = _listed(bands, "bands", _LC_BANDS)
            if binning not in _BINNINGS:
                raise InvalidRequestError(f"binning is {binning!r}, but must be one of: observation, "
                                          "snapshot")
            if not isinstance(time_format, str) or time_format.lower() not in _TIME_FORMATS:
                raise InvalidRequestError(f"time_format is {time_format!r}, but must be one of: "
                                          + ", ".join(_TIME_FORMATS))
            unknown = sorted(set(flags) - set(_LC_FLAGS))
            if unknown:
                raise InvalidRequestError(f"{', '.join(unknown)}: not light-curve options; they are: "
                                          + ", ".join(_LC_FLAGS))
            payload.update(bands=wire_bands if wire_bands == "all" else
                           [b.upper() if b.startswith("hr") else b for b in wire_bands],
                           binning=_BINNINGS[binning], timeFormat=time_format.lower())
            for key, value in flags.items():
                payload[_LC_FLAGS[key]] = _bool(value, key)
        elif flags:
            raise InvalidRequestError(f"{', '.join(sorted(flags))}: transient light curves take no options.")
        data = self._sxps("getSXPSLC", payload, catalog, f"Source {source!r}")
        if transient:
            from .readers.lightcurve import read_lightcurve_json
            # The transient curves are product-generator light curves (PC_incbad ...): their UL
            # datasets carry the limit as Rate, which the reader knows.
            lc = read_lightcurve_json(data)
            lc.meta.update(source=source, catalog=catalog, transient=True)
            return lc
        return _sxps_lightcurve(data, source, catalog)

    # -------------------------------------------------------------- spectra
    def get_source_spectrum(self, source, dest_dir=None, *, catalog="LSXPS", transient=False,
                            spec_type="full", overwrite=False):
        """The automatic spectrum of a source or transient (``getSXPSSpectrumData``).

        Parameters
        ----------
        source : int or str
            Source ID or name; with ``transient=True`` a TransientID or ``Swift J...`` name.
        dest_dir : path-like, optional
            Where to download (streamed, verified, renamed only when complete) and unpack the
            ``interval0.tar.gz`` archive; without it only the fits are returned.
        catalog : {"LSXPS", "2SXPS"}
        transient : bool
        spec_type : {"full", "discovery", "both"}
            For transients: all data since discovery, the discovery dataset only, or both.
        overwrite : bool
            Download an archive already in ``dest_dir`` again.

        Returns
        -------
        `SXPSSpectrum` or dict
            With ``spec_type="both"``, ``{"discovery": ..., "full": ...}`` (None for one the
            service does not have).

        Raises
        ------
        ProductUnavailableError
            When the service has no spectrum.
        """
        payload = self._source_payload(source, transient)
        if transient:
            if not isinstance(spec_type, str) or spec_type.lower() not in _SPEC_TYPES:
                raise InvalidRequestError(f"spec_type is {spec_type!r}, but must be one of: "
                                          + ", ".join(_SPEC_TYPES))
            payload["specType"] = spec_type.lower()
        data = self._sxps("getSXPSSpectrumData", payload, catalog, f"Source {source!r}")
        dest = None if dest_dir is None else _folder(dest_dir)
        if transient and spec_type.lower() == "both":
            out = {}
            for key in ("Discovery", "Full"):
                part = data.get(key)
                if not isinstance(part, dict) or "NoSpectrum" in part:
                    out[key.lower()] = None
                    continue
                out[key.lower()] = self._one_spectrum(part, None if dest is None else dest / key.lower(),
                                                      overwrite, source)
            return out
        if "NoSpectrum" in data:
            raise ProductUnavailableError(f"The {catalog} service has no spectrum of {source!r}.",
                                          product="spectrum")
        return self._one_spectrum(data, dest, overwrite, source)

    def _one_spectrum(self, data, dest, overwrite, what):
        from .readers.spectrum import read_spectral_fits, read_spectrum_archive
        t0 = data.get("T0")
        clean = dict(data)
        if t0 in (0, 0.0, "0"):
            # Source spectra have no T0 (times are MET): read them as since MET 0.
            clean.pop("T0")
        fits = read_spectral_fits(clean)
        fits.meta["source"] = what
        if dest is None:
            return SXPSSpectrum(fits)
        url = (data.get("interval0") or {}).get("DataFile")
        if not url:
            raise ProductUnavailableError(f"The spectrum of {what!r} names no archive.", product="spectrum")
        name = os.path.basename(urlparse(url).path) or "interval0.tar.gz"
        path = dest / name
        if not path.is_file() or overwrite:
            path = self._transport.download(url, path, overwrite=overwrite)
        try:
            products = read_spectrum_archive(path, dest / "interval0")
        except ReaderError as exc:
            raise ReaderError(f"{path}: {exc} (overwrite=True downloads it again)") from exc
        return SXPSSpectrum(fits, products, path)

    # -------------------------------------------------------------- images
    def _fetch_file(self, url, dest, overwrite, kind):
        """Download a file named by an answer, verified; ``kind``: 'png', 'fits' or 'text'."""
        name = os.path.basename(urlparse(url).path)
        path = dest / name
        if not path.is_file() or overwrite:
            path = self._transport.download(url, path, overwrite=overwrite, archive=False)
        head = path.read_bytes()[:8]
        if kind == "png" and not head.startswith(_PNG):
            path.unlink()
            raise ReaderError(f"{url}: not a PNG image; the file was removed.")
        return path

    def get_source_images(self, source, dest_dir, *, catalog="LSXPS", bands="all", transient=False,
                          overwrite=False):
        """PNG thumbnails of a source (``getSXPSSourceImages``), saved in ``dest_dir``.

        Parameters
        ----------
        source : int or str
        dest_dir : path-like
        catalog : {"LSXPS", "2SXPS"}
        bands : "all" or list of str
            From ``total``, ``soft``, ``medium``, ``hard`` and ``expmap`` (the exposure map).
        transient : bool
        overwrite : bool

        Returns
        -------
        dict
            Band (``"Total"``... ``"Expmap"``) -> path of the PNG. A band the service does not have
            (``NOTFOUND``) is left out, with a log message, and never fetched.
        """
        payload = self._source_payload(source, transient)
        payload["bands"] = _listed(bands, "bands", _IMAGE_BANDS)
        dest = _folder(dest_dir)
        data = self._sxps("getSXPSSourceImages", payload, catalog, f"Source {source!r}")
        out = {}
        for band, url in data.items():
            if not isinstance(url, str):
                continue
            if url == "NOTFOUND":
                log.info("%s: the service has no %s image", source, band)
                continue
            path = self._fetch_file(url, dest, overwrite, "png")
            target = dest / f"{band}.png"
            if path != target:
                path.replace(target)
            out[band] = target
        return out

    def get_dataset_images(self, dataset=None, dest_dir=".", *, obsid=None, catalog="LSXPS", bands="all",
                           types="all", regions=True, overwrite=False):
        """The FITS images, background maps and exposure map of a dataset (``getSXPSDatasetImages``).

        Parameters
        ----------
        dataset : int, optional
            DatasetID (or give ``obsid``).
        dest_dir : path-like
            Where the files are saved, under their own names (``00282445000_total.img.gz``...).
        obsid : str or int, optional
        catalog : {"LSXPS", "2SXPS"}
        bands : "all" or list of str
            From ``total``, ``soft``, ``medium``, ``hard``.
        types : "all" or list of str
            From ``Image``, ``BackgroundMap`` (``bgmap``), ``BackgroundMapWithSources``
            (``bgmap_wsrc``).
        regions : bool
            Also the DS9 region files of the detected sources.
        overwrite : bool

        Returns
        -------
        dict
            Band -> {type -> `~astropy.io.fits.HDUList` (with a celestial WCS in the header),
            ``"Regions"`` -> path}, and ``"Expmap"`` -> HDUList.

        Raises
        ------
        SXPSSupersededError
            For an obsolete stack (``kind="SupersededBy"``), whose images are no longer kept.
        """
        from .readers.images import read_fits_bytes
        payload = self._dataset_payload(dataset, obsid)
        wire_bands = _listed(bands, "bands", _IMAGE_BANDS[:4])
        wire_types = _listed(types, "types", tuple(_DATASET_IMAGE_TYPES))
        payload.update(bands=wire_bands, types=wire_types if wire_types == "all" else
                       [_DATASET_IMAGE_TYPES[t] for t in wire_types], getRegions=_bool(regions, "regions"))
        dest = _folder(dest_dir)
        data = self._sxps("getSXPSDatasetImages", payload, catalog, "dataset")
        if "SupersededBy" in data:
            newer = _obsid(data["SupersededBy"])
            table = Table({"ObsID": Column([newer], dtype=str)})
            raise SXPSSupersededError(f"Dataset {payload} is an obsolete stack, superseded by ObsID {newer}; "
                                      "its images are no longer kept.", kind="SupersededBy",
                                      replacements=table)
        out = {}
        for key, value in data.items():
            if key in ("OK", "APIVersion"):
                continue
            if isinstance(value, str):
                if value != "NOTFOUND":
                    out[key] = read_fits_bytes(self._fetch_file(value, dest, overwrite, "fits"))
                continue
            if not isinstance(value, dict):
                continue
            band = {}
            for kind, url in value.items():
                if not isinstance(url, str) or url == "NOTFOUND":
                    continue
                path = self._fetch_file(url, dest, overwrite, "text" if url.endswith(".reg") else "fits")
                band[kind] = path if path.suffix == ".reg" else read_fits_bytes(path)
            out[key] = band
        return out
