# Licensed under a 3-clause BSD style license - see LICENSE
"""
The GRB repository of the local service: the GRB functions of ``API/main.php`` and their files.

It answers what ``swifttools.ukssdc.data.GRB`` asks (shared/spec/grb-repository.md §11) for the
GRBs of the simulated sky (`xrtprods_astro.server.catalogue`, ``kind == "GRB"``):

* ``GRBNameToTargetID``: only the documented spelling ``GRB YYMMDD[A-Z]`` is accepted (one space,
  upper-case ``GRB``); anything else is ``NOTFOUND``, as the real server's policy for other
  spellings is not documented (spec §13.3): a client has to normalise names itself.
* ``downloadLightCurve`` (``type`` ``GRB``): the repository light curve, counts-binned as the
  repository bins GRBs, every dataset honouring ``incbad``/``nosys`` (``yes``/``no``/``both``), each
  with a ``URL`` of a QDP file served under ``/xrt_curves/<8-digit targetID>/``, plus ``Binning``,
  ``TimeFormat`` and ``T0``. The folder also holds ``curve.qdp`` (the header with T0 and its UTC)
  and ``flux.qdp`` (erg cm^-2 s^-1, in the dialect of the real repository files).
* ``downloadSpectrum`` (``type`` ``GRB``): the fits of ``interval0`` (all data) and ``late_time``
  (PC data from 4 ks), each with a ``DataFile`` gzip tar of flat members served under
  ``/xrt_spectra/<8-digit targetID>/`` and a plot ``Image``.
* ``getGRBPositions``: Best, Enhanced, Standard, SPER and Onboard, honouring ``posToGet``, with
  ``Best_Err90`` a string as on the real service (spec §8); missing positions are ``null``.
* ``getGRBTargetList``: the GRB's 8-digit targetIDs.
* ``downloadBurstAnalyser`` and ``getBurstAnalyserTarURL``: the burst analyser (spec §7) for BAT,
  BAT_NoEvolution and XRT (no UVOT is simulated: ``Instruments`` lists what exists), honouring
  ``instruments``, ``BATBinning`` (``snrN`` selects ``SNRN`` and ``SNRN_sinceT0``: our reading of
  spec §13.6) and ``bands`` (case-insensitive, ``"all"`` or lists), with the XRT datasets
  ``<band>_<mode>[_nosys][_incbad]`` honouring ``incbad``/``nosys``. The tar (spec §13.5) is served
  gzip-compressed, with one top-level folder, as the official client's ``tar -xzf
  --strip-components=1`` needs; its files follow the website's names (spec §7.5).

Errors follow the common API: HTTP 200 and ``{"ERROR": code, "ERRORTEXT": text}``, never OK. A
``null`` ``objectID``/``targetID`` (what swifttools sends after an unknown name, spec §4.2) is an
error naming the key, as is a targetID that is not a GRB of the repository (spec §13.2; the real
codes are not documented, so these codes are ours). Products are built on first use, once per GRB,
and are deterministic for the service's seed.

Jobs: ``rebinLightCurve`` of ``type`` GRB makes a rebin job of the service's own store (files under
``/xrt_curves/<tid>/lc_rebin<JobID>/``), so ``checkRebinStatus``, ``cancelRebin`` and
``downloadLightCurve`` (``REBIN_LC``) answer it as any rebin; ``timesliceSpectrum`` makes a
time-slice job (``checkSliceStatus``, ``cancelSlice``, ``downloadSpectrum`` of ``type`` timeslice,
files under ``/xrt_spectra/tprods/sliceSpec_<JobID>/`` as on the real site). A slice's mode is
checked (PC, WT or BOTH) but every slice is built from both modes' data.
"""
import io
import logging
import math
import re
import threading

import numpy as np
from pathlib import Path

from .catalogue import CATALOGUE
from .lcbuild import _met_text, build_lightcurve
from .sky import JobSky, ProductFailure, _rng, ukssdc_date
from .specbuild import build_spectra

__all__ = ["GRBRepository", "GRBAPIError", "FUNCTIONS", "GRB_NAME", "repository_grbs", "grb_catalogue_rows"]

log = logging.getLogger("xrtprods_astro.server.grb")

#: The documented spelling of a GRB name (spec §4.1): ``GRB`` + one space + YYMMDD + an optional letter.
GRB_NAME = re.compile(r"^GRB [0-9]{6}[A-Z]?$")
#: URL folders (relative to the site root) of the repository's files.
CURVES, SPECTRA, BURST = "xrt_curves", "xrt_spectra", "burst_analyser"
#: Mean energy-conversion factor of the simulated afterglows (0.3-10 keV unabsorbed flux per
#: count/s), roughly the repository's for a Gamma=2 power law; it turns curve rates into flux.qdp.
ECF = 4.0e-11
#: Seconds since T0 from which the ``late_time`` spectrum is taken.
LATE_TIME = 4000.0
_CHOICES = ("yes", "no", "both")
_POSITION_KINDS = ("Best", "Enhanced", "Standard", "SPER", "Onboard")


class GRBAPIError(Exception):
    """An error answer of the common API: ``code`` (ERROR) and ``text`` (ERRORTEXT)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def repository_grbs():
    """The simulated GRBs: ``{canonical name: catalogue entry}``."""
    return {e.name: e for e in CATALOGUE if e.kind == "GRB"}


def grb_catalogue_rows(seed=0):
    """The simulated GRBs as rows of the live XRT GRB catalogue (``UK_XRT``/``XRTLiveCat``).

    One dict per GRB, in trigger order, agreeing with what this repository answers for it: the
    name ``GRBNameToTargetID`` resolves, its (first) targetID, the trigger T0 its ``curve.qdp``
    header states (MET and UKSSDC's UTC), and its best position (``getGRBPositions``'s Best).
    For a catalogue service (``queryDB``) to serve, so that a catalogue query and the GRB
    functions tell one story.

    Parameters
    ----------
    seed : int
        The service's seed (the positions are scattered with it, as ``getGRBPositions``'s).

    Returns
    -------
    list of dict
        Keys ``targetID`` (int), ``name``, ``RA``, ``Decl`` (deg, ICRS), ``Err90`` (arcsec),
        ``T0`` (trigger, Swift MET s) and ``TriggerTime`` (UTC, ``YYYY-MM-DD HH:MM:SS.sss``). The
        first five are XRTLiveCat's documented columns (spec: query/GRB.md); the trigger's
        column names there are not documented, so these two are ours.
    """
    from .catalogue import t0_for
    rows = []
    for entry in repository_grbs().values():
        t0 = t0_for(entry.name, entry.ra, entry.dec, list(entry.targets))
        ra, dec, err = _positions(entry, seed)["Best"]
        rows.append({"targetID": int(entry.targets[0]), "name": entry.name, "RA": float(ra),
                     "Decl": float(dec), "Err90": err, "T0": t0, "TriggerTime": _utc_iso(t0)})
    return sorted(rows, key=lambda r: r["T0"])


def _utc_iso(met):
    """UTC of ``met`` as ISO text to the millisecond, rounded as `ukssdc_date` rounds it (the
    curve.qdp header's T0)."""
    from datetime import timedelta
    from .sky import met_to_utc
    t = met_to_utc(met)
    t = t.replace(microsecond=0) + timedelta(milliseconds=round(t.microsecond / 1000.0))
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (t.microsecond // 1000)


def _target_key(body, key):
    """The 8-digit targetID of ``body[key]`` (an int or a numeric string, any zero padding)."""
    value = body.get(key)
    if value is None:
        raise GRBAPIError(2, f"{key} is null: give the targetID of a GRB (an unknown GRB name "
                             "resolves to no targetID).")
    if isinstance(value, bool) or not str(value).strip().isdigit():
        raise GRBAPIError(2, f"{key} is {value!r}, but must be an integer targetID.")
    return "%08d" % int(str(value).strip())


def _choice(body, key, default):
    value = body.get(key, default)
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    if text not in _CHOICES:
        raise GRBAPIError(2, f"{key} is {value!r}, but must be one of: yes, no, both")
    return text


def _wanted(name, suffix, choice):
    return choice == "both" or ((suffix in name) == (choice == "yes"))


class GRBRepository:
    """The GRB repository of one local service.

    Parameters
    ----------
    root : path-like
        Folder for the built files (``<root>/xrt_curves/<tid>/``, ``<root>/xrt_spectra/<tid>/``).
    seed : int
        The service's seed.
    """

    def __init__(self, root, seed=0):
        self.root = Path(root)
        self.seed = int(seed)
        self._lock = threading.Lock()
        self._locks = {}
        self._built = {}
        self._slices = {}
        self._store, self._job_duration = None, 0.0
        self._base_url = None   # the site root of the last API call, for files asked for first

    # ------------------------------------------------------------------ dispatch
    def answer(self, body, base_url, store=None, job_duration=0.0):
        """The answer (without APIVersion) to one main.php call handled here.

        ``store`` is the service's job store: a GRB rebin is one of its rebin jobs, so the common
        API's checkRebinStatus, cancelRebin and downloadLightCurve (REBIN_LC) serve it unchanged.
        ``job_duration`` is how long a time-slice job takes.
        """
        self._store, self._job_duration = store, float(job_duration)
        self._base_url = base_url.rstrip("/")
        func = body.get("APIFunc")
        return FUNCTIONS[func](self, body, base_url.rstrip("/"))

    def _entry(self, tid):
        for entry in repository_grbs().values():
            if tid in entry.targets:
                return entry
        raise GRBAPIError(3, f"targetID {int(tid)} is not a GRB in the XRT GRB repository.")

    def _build(self, kind, entry, base_url):
        """Build (once) one product family of a GRB; returns the payload."""
        tid = entry.targets[0]
        key = (kind, tid, base_url)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._built:
                self._built[key] = _BUILDERS[kind](self, entry, tid, base_url)
            return self._built[key]

    def _sky(self, entry, **pars):
        job_pars = {"name": entry.name, "RA": entry.ra, "Dec": entry.dec, "targ": ",".join(entry.targets),
                    "Tstart": entry.t_first, **pars}
        return JobSky(job_pars, self.seed)

    # ------------------------------------------------------------------ builders
    def _build_curves(self, entry, tid, base_url):
        out = self.root / CURVES / tid
        sky = self._sky(entry, lc=1, binMeth="counts")
        try:
            data, _ = build_lightcurve(sky, out, f"{base_url}/{CURVES}/{tid}")
        except ProductFailure:
            return None
        (out / "flux.qdp").write_text(_flux_file(entry, tid, sky.t0, data))
        return data

    def _build_spectra(self, entry, tid, base_url):
        out = self.root / SPECTRA / tid
        sky = self._sky(entry, spec=1, timeslice="user", sinceT0=1, rname1="interval0", rname2="late_time",
                        specz=1 if entry.redshift else 0, zval=entry.redshift or 0.0)
        # Intervals end with the last data, so Start/Stop say when the data are (as the real ones).
        end = max(s.tstop for s in sky.snapshots) - sky.t0 if sky.snapshots else 1.0e7
        sky.pars.update(gti1=f"0-{end:.3f}", gti2=f"{LATE_TIME:.0f}-{end:.3f}")
        try:
            data, _ = build_spectra(sky, out, f"{base_url}/{SPECTRA}/{tid}")
        except ProductFailure:
            return None
        for rname in data["rnames"]:
            archive = out / f"{rname}.tar.gz"
            if archive.is_file():
                _repository_tar(archive, rname, entry, sky.t0)
        # The repository fits Galactic NH frozen (spec §6.2: GalacticNH without errors), so the
        # product generator's GalNH_unfitted does not belong here.
        data.pop("GalNH_unfitted", None)
        for rname in data["rnames"]:
            for mode in data[rname].get("Modes", []):
                for model in data[rname][mode].get("Models", []):
                    fit = data[rname][mode].get(model)
                    if isinstance(fit, dict) and "NOFIT" not in fit:
                        fit.setdefault("GalacticNH", entry.galnh)
                        if entry.redshift:
                            fit.setdefault("Redshift_abs", entry.redshift)
        return data

    # ------------------------------------------------------------------ functions
    def name_to_target(self, body, base_url):
        name = body.get("name")
        entry = repository_grbs().get(name) if isinstance(name, str) and GRB_NAME.match(name) else None
        if entry is None:
            return {"OK": 1, "NOTFOUND": 1}
        return {"OK": 1, "targetID": int(entry.targets[0])}

    def target_list(self, body, base_url):
        entry = self._entry(_target_key(body, "targetID"))
        return {"OK": 1, "targetList": list(entry.targets)}

    def light_curve(self, body, base_url):
        if body.get("type") != "GRB":
            raise GRBAPIError(2, f"type is {body.get('type')!r}, but must be GRB (or REBIN_LC for a "
                                 "rebinned light curve).")
        entry = self._entry(_target_key(body, "objectID"))
        nosys, incbad = _choice(body, "nosys", "no"), _choice(body, "incbad", "yes")
        data = self._build("lc", entry, base_url)
        if data is None:
            return {"OK": 1, "NOLC": 1, "Datasets": []}
        keep = [n for n in data["Datasets"] if _wanted(n, "_nosys", nosys) and _wanted(n, "_incbad", incbad)]
        answer = {"Datasets": keep}
        for name in keep:
            answer[f"{name}Data"] = data[f"{name}Data"]
        # Key order as the real answer (spec §5.2): datasets, OK, Binning, TimeFormat, T0.
        answer.update({"OK": 1, "Binning": "Counts", "TimeFormat": "MET", "T0": data["T0"]})
        return answer

    def spectrum(self, body, base_url):
        if body.get("type") == "timeslice":
            return self._slice_spectrum(body)
        if body.get("type") != "GRB":
            raise GRBAPIError(2, f"type is {body.get('type')!r}, but must be GRB or timeslice.")
        entry = self._entry(_target_key(body, "objectID"))
        data = self._build("spec", entry, base_url)
        if data is None:
            return {"OK": 1, "NoSpectrum": 1}
        return {**data, "OK": 1}

    def positions(self, body, base_url):
        entry = self._entry(_target_key(body, "targetID"))
        wanted = body.get("posToGet", "all")
        if isinstance(wanted, str) and wanted.lower() == "all":
            wanted = list(_POSITION_KINDS)
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list):
            raise GRBAPIError(2, "posToGet must be 'all' or a list of: " + ", ".join(_POSITION_KINDS))
        by_lower = {k.lower(): k for k in _POSITION_KINDS}
        bad = [w for w in wanted if str(w).lower() not in by_lower]
        if bad:
            raise GRBAPIError(2, f"posToGet has {', '.join(map(str, bad))}; allowed: "
                                 + ", ".join(_POSITION_KINDS))
        table = _positions(entry, self.seed)
        answer = {"OK": 1}
        for kind in (by_lower[str(w).lower()] for w in wanted):
            ra, dec, err = table[kind]
            answer[f"{kind}_RA"], answer[f"{kind}_Decl"] = ra, dec
            # The real service sends Best_Err90 as a string and the others as numbers (spec §8).
            answer[f"{kind}_Err90"] = (None if err is None else "%.1f" % err) if kind == "Best" else err
        return answer

    def burst_tar_url(self, body, base_url):
        entry = self._entry(_target_key(body, "targetID"))
        tid = entry.targets[0]
        if self._build("burst", entry, base_url) is None:
            raise GRBAPIError(4, f"targetID {int(tid)} has no burst analyser data.")
        return {"OK": 1, "URL": f"{base_url}/{BURST}/{tid}/batxrtfiles_{tid}.tar.gz"}

    def burst_analyser(self, body, base_url):
        entry = self._entry(_target_key(body, "targetID"))
        instruments = _list_choice(body, "instruments", ("bat", "xrt", "uvot"))
        binnings = _list_choice(body, "BATBinning", tuple(_BAT_BINNINGS))
        bands = _list_choice(body, "bands", tuple(_BANDS))
        nosys, incbad = _choice(body, "nosys", "no"), _choice(body, "incbad", "yes")
        data = self._build("burst", entry, base_url)
        if data is None:
            raise GRBAPIError(4, f"targetID {int(entry.targets[0])} has no burst analyser data.")
        answer = {"Instruments": []}
        band_names = [_BANDS[b] for b in bands]
        if "bat" in instruments:
            bins = [name for b in binnings for name in _BAT_BINNINGS[b]]
            for inst in ("BAT", "BAT_NoEvolution"):
                block = {} if inst == "BAT_NoEvolution" else {"HRData": data["BAT"]["HRData"]}
                if inst == "BAT_NoEvolution":
                    block["ECFs"] = {b: data[inst]["ECFs"][b] for b in band_names}
                block["Binning"] = bins
                for name in bins:
                    block[name] = {"Datasets": band_names,
                                   **{f"{b}Data": data[inst][name][f"{b}Data"] for b in band_names}}
                answer[inst] = block
                answer["Instruments"].append(inst)
        if "xrt" in instruments:
            keep = [n for n in data["XRT"]["Datasets"] if n.split("_")[0] in band_names
                    and _wanted(n, "_nosys", nosys) and _wanted(n, "_incbad", incbad)]
            block = {"Datasets": keep, **{f"{n}Data": data["XRT"][f"{n}Data"] for n in keep}}
            block.update({k: v for k, v in data["XRT"].items() if k.startswith("HRData_")})
            answer["XRT"] = block
            answer["Instruments"].append("XRT")
        answer["OK"] = 1
        return answer

    # ------------------------------------------------------------------ jobs
    def rebin(self, body, base_url):
        """``rebinLightCurve`` of type GRB: a rebin job of the service's store whose parent is the GRB."""
        if self._store is None:
            raise GRBAPIError(5, "This service cannot run rebin jobs.")
        entry = self._entry(_target_key(body, "objectID"))
        tid = entry.targets[0]
        method = str(body.get("binMeth", "")).lower()
        if method not in ("counts", "time", "snapshot", "obsid"):
            raise GRBAPIError(2, f"binMeth is {body.get('binMeth')!r}, but must be one of: counts, time, "
                                 "snapshot, obsid")
        params = {k: v for k, v in body.items() if k not in ("APIFunc", "APIVersion", "type", "objectID")}
        params["binMeth"] = method
        # Files go to xrt_curves/<tid>/lc_rebin<id>/, served as the GRB's other files are.
        parent = _GRBParent(pars={**self._sky_pars(entry), "lc": 1}, job_id=tid,
                            url=f"{base_url}/{CURVES}/{tid}", job_dir=self.root / CURVES / tid,
                            seed=self.seed)
        rebin = self._store.create_rebin(parent, params)
        return {"OK": 1, "JobID": rebin.rebin_id}

    def timeslice(self, body, base_url):
        """``timesliceSpectrum``: up to four named slices of seconds since T0 (or MET), one GRB."""
        entry = self._entry(_target_key(body, "targetID"))
        rnames, times = body.get("rnames"), body.get("times")
        if not isinstance(rnames, list) or not isinstance(times, list) or len(rnames) != len(times) \
                or not 1 <= len(rnames) <= 4:
            raise GRBAPIError(2, "rnames and times must be lists of the same length, 1 to 4 slices.")
        modes = body.get("modes", ["BOTH"] * len(rnames))
        if not isinstance(modes, list) or len(modes) != len(rnames) or any(
                str(m).upper() not in ("PC", "WT", "BOTH") for m in modes):
            raise GRBAPIError(2, "modes must be a list of PC, WT or BOTH, one per slice.")
        if any(not re.fullmatch(r"[A-Za-z0-9_]+", str(r)) for r in rnames):
            raise GRBAPIError(2, "rnames may hold only letters, digits and underscores.")
        pars = {**self._sky_pars(entry), "spec": 1, "timeslice": "user", "sinceT0": 1}
        for i, (rname, gti) in enumerate(zip(rnames, times), start=1):
            pars[f"rname{i}"], pars[f"gti{i}"] = str(rname), str(gti)
        z = body.get("redshift")
        if isinstance(z, (int, float)) and not isinstance(z, bool):
            pars.update(specz=1, zval=float(z))
        elif z in (None, "") and entry.redshift:
            pars.update(specz=1, zval=entry.redshift)
        with self._lock:
            job_id = 1000 + len(self._slices) + 1
            self._slices[job_id] = _Slice(job_id, pars, base_url, time_started(), self._job_duration)
        return {"OK": 1, "JobID": job_id}

    def _slice(self, body, key="JobID"):
        value = body.get(key)
        if isinstance(value, bool) or value is None or not str(value).strip().isdigit():
            raise GRBAPIError(2, f"{key} is {value!r}, but must be an integer JobID.")
        job = self._slices.get(int(str(value).strip()))
        if job is None:
            raise GRBAPIError(3, f"There is no time-slice job {value}.")
        return job

    def slice_status(self, body, base_url):
        status, text = self._slice(body).status()
        return {"OK": 1, "status": status, "text": text}

    def slice_cancel(self, body, base_url):
        job = self._slice(body)
        if job.status()[0] not in (1, 2, 3):
            raise GRBAPIError(6, f"Time-slice job {job.job_id} cannot be cancelled now.")
        job.cancelled = True
        return {"OK": 1}

    def _slice_spectrum(self, body):
        job = self._slice(body, "objectID")
        status, text = job.status()
        if status != 4:
            raise GRBAPIError(7, f"Time-slice job {job.job_id} is not complete (status {status}: {text}).")
        with self._lock:
            lock = self._locks.setdefault(("slice", job.job_id), threading.Lock())
        with lock:
            if job.result is None:
                folder = f"sliceSpec_{job.job_id}"
                sky = JobSky(job.pars, self.seed)
                try:
                    job.result, _ = build_spectra(sky, self.root / SPECTRA / "tprods" / folder,
                                                  f"{job.base_url}/{SPECTRA}/tprods/{folder}")
                except ProductFailure:
                    job.result = {"NoSpectrum": 1}
                job.result.pop("GalNH_unfitted", None)
        return {**job.result, "OK": 1}

    def _sky_pars(self, entry):
        return {"name": entry.name, "RA": entry.ra, "Dec": entry.dec, "targ": ",".join(entry.targets),
                "Tstart": entry.t_first}

    # ------------------------------------------------------------------ GET
    def file_for(self, path):
        """The file to send for a GET of ``/xrt_curves/<tid>/<name>`` or ``/xrt_spectra/<tid>/<name>``.

        None (a 404) for anything else: another folder, a name with a path in it, a file not built.
        """
        parts = path.strip("/").split("/")
        name = parts[-1] if parts else ""
        if not name or name.startswith(".") or "\\" in name:
            return None
        if len(parts) == 4 and parts[:2] == [SPECTRA, "tprods"] and re.fullmatch(r"sliceSpec_\d+", parts[2]):
            target = self.root / SPECTRA / "tprods" / parts[2] / name   # a time-slice job's files
        elif len(parts) == 4 and parts[0] == CURVES and parts[1].isdigit() \
                and re.fullmatch(r"lc_rebin\d+", parts[2]):
            target = self.root / CURVES / ("%08d" % int(parts[1])) / parts[2] / name   # a rebin's files
        elif len(parts) == 3 and parts[0] in (CURVES, SPECTRA, BURST) and parts[1].isdigit():
            target = self.root / parts[0] / ("%08d" % int(parts[1])) / name
            if not target.is_file():
                self._build_for_file(parts[0], "%08d" % int(parts[1]))
        else:
            return None
        return target if target.is_file() else None

    def _build_for_file(self, folder, tid):
        """Build a GRB's products when one of its files is asked for first: the real repository
        holds every GRB's files whether or not an API call named them (e.g. ``curve.qdp``, whose
        header states T0, read before any light curve is)."""
        base_url = self._base_url
        if base_url is None:
            return   # no API call yet: the URLs inside the products would not be known
        try:
            entry = self._entry(tid)
        except GRBAPIError:
            return
        self._build({CURVES: "lc", SPECTRA: "spec", BURST: "burst"}[folder], entry, base_url)


_BUILDERS = {"lc": GRBRepository._build_curves, "spec": GRBRepository._build_spectra}

#: APIFunc -> handler; app.py dispatches these functions here.
FUNCTIONS = {
    "GRBNameToTargetID": GRBRepository.name_to_target,
    "getGRBTargetList": GRBRepository.target_list,
    "getGRBPositions": GRBRepository.positions,
    "downloadSpectrum": GRBRepository.spectrum,
    "downloadLightCurve": GRBRepository.light_curve,
    "downloadBurstAnalyser": GRBRepository.burst_analyser,
    "getBurstAnalyserTarURL": GRBRepository.burst_tar_url,
    "rebinLightCurve": GRBRepository.rebin,
    "timesliceSpectrum": GRBRepository.timeslice,
    "checkSliceStatus": GRBRepository.slice_status,
    "cancelSlice": GRBRepository.slice_cancel,
}
#: Functions whose ``type`` says whether they are the GRB repository's: the others of that name
#: (a product-generator job's rebin, ``UOB_LC``; a rebinned curve, ``REBIN_LC``) are not.
TYPED = {"rebinLightCurve": ("GRB",), "downloadLightCurve": ("GRB",),
         "downloadSpectrum": ("GRB", "timeslice")}


class _GRBParent:
    """What the store's rebin job needs of its parent (a product-generator job): the GRB's sky."""

    def __init__(self, *, pars, job_id, url, job_dir, seed):
        self.pars, self.job_id, self.url, self.job_dir, self.seed = pars, job_id, url, job_dir, seed


def time_started():
    import time
    return time.monotonic()


class _Slice:
    """A time-slice job: queued, running, then complete after ``duration`` seconds (status codes of
    the common API: 1 queued, 2 running, 3 running, 4 complete, -4 cancelled)."""

    def __init__(self, job_id, pars, base_url, started, duration):
        self.job_id, self.pars, self.base_url = job_id, pars, base_url
        self.started, self.duration = started, duration
        self.cancelled, self.result = False, None

    def status(self):
        if self.cancelled:
            return -4, "Cancelled"
        fraction = 1.0 if self.duration <= 0 else (time_started() - self.started) / self.duration
        if fraction < 0.2:
            return 1, "Queued"
        if fraction < 1.0:
            return 2, "Running"
        return 4, "Complete"


def _positions(entry, seed):
    """(RA, Dec, err90 arcsec) per kind, scattered about the truth by their errors; SPER is absent.

    Enhanced is the best when present (the precedence of spec §8: Enhanced, Standard, SPER, Onboard).
    """
    rng = _rng("grb-position", seed, entry.name)
    out = {}
    for kind, err in (("Enhanced", 1.4 + 0.6 * rng.random()), ("Standard", 3.5 + 1.5 * rng.random()),
                      ("Onboard", 4.7)):
        sigma = err / 2.146 / 3600.0   # 90% of a 2-D Gaussian lies within 2.146 sigma
        dra, ddec = rng.normal(size=2) * sigma
        ra = (entry.ra + dra / max(math.cos(math.radians(entry.dec)), 1e-3)) % 360.0
        # Rounded as the real answers are: enhanced to 5 decimals, standard to 10, on-board to 4.
        digits = {"Enhanced": 5, "Standard": 10, "Onboard": 4}[kind]
        out[kind] = (round(ra, digits), round(entry.dec + ddec, digits), round(err, 1))
    out["SPER"] = (None, None, None)
    out["Best"] = out["Enhanced"]
    return out


def _member_rank(name, rname):
    """Position of a member in the real repository tar (GRB 101225A's late_time.tar.gz, spec §6.3):
    README, per mode (WT before PC) source, back, grouped spectrum, ARF, RMF; then the areas,
    GRB_info.txt, the xcm models and the fit summaries."""
    for rank, pattern in enumerate([r"README\.txt", r"(wt)source\.pi", r"(wt)back\.pi", r"(pc)source\.pi",
                                    r"(pc)back\.pi", r"wt\.pi", r"wt\.arf", r"wt\.rmf", r"pc\.pi",
                                    r"pc\.arf", r"pc\.rmf", r"\.areas", r"GRB_info\.txt", r"models/",
                                    r"_fit\.fit"]):
        if re.search(pattern + ("$" if not pattern.endswith("/") else ""), name):
            return rank
    return 99


def _repository_tar(path, rname, entry, t0):
    """Rewrite a built spectrum archive as the repository writes it: flat members in the real
    order, owned by autoproc/www, plus ``GRB_info.txt`` (RA, Dec, T0 in MET, 30: four bare lines)."""
    import gzip
    import tarfile
    with tarfile.open(path, "r:gz") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]
    members.append(("GRB_info.txt", ("%.10f\n%.10f\n%d\n30\n" % (entry.ra, entry.dec, round(t0))).encode()))
    # WT before PC within a rank (the xcm models and fit summaries), as in the real listing.
    members.sort(key=lambda item: (_member_rank(item[0], rname), "pc" in item[0].replace(rname, ""), item[0]))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, payload in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(payload), 0o644, 1_700_000_000
                info.uname, info.gname = "autoproc", "www"
                tar.addfile(info, io.BytesIO(payload))
    path.write_bytes(buf.getvalue())


def _flux_file(entry, tid, t0, data):
    """``flux.qdp`` in the real repository dialect (GRB060729_lc/flux.qdp): the header block, then
    ``! WT data`` / ``! PC data`` / ``! PC Upper limit`` sections of 6 tab-separated columns, 5 ``NO``
    before a data section and 6 before the upper limits, upper limits with bare ``0`` errors."""
    head = [" ! Swift/XRT lightcurve of trigger: %d, name: %s" % (int(tid), entry.name),
            " ! T0 for this burst is Swift MET=%s s, = %s" % (_met_text(t0), ukssdc_date(t0)),
            " ! Data covers 0.3-10 keV",
            " ! The data are in 5 columns:  ! time, time error (+ve), time error (-ve), source flux, "
            "source error",
            " ! For a detailed description of light curve production, see Evans et al. 2007 "
            "(A&A, 469, 379 )",
            " ! For a detailed description of the file, see",
            " ! http://www.swift.ac.uk/xrt_curves/docs.php",
            " ! This lightcurve was obtained from http://www.swift.ac.uk/xrt_curves/%s" % tid,
            " ! BINMODE: GRB-like (counts)",
            "",
            "READ TERR 1 2"]
    # Padded to 8 characters but the last, as the real column line.
    col_line = "!" + "\t".join([c.ljust(8) for c in ("Time", "T_+ve", "T_-ve", "Flux", "Fluxpos")]
                               + ["Fluxneg"])
    body, first = [], True
    for name, label, is_ul in (("WT", "! WT data", False), ("PC", "! PC data", False),
                               ("PCUL", "! PC Upper limit", True)):
        block = data.get(f"{name}Data")
        if not block or not block["data"]:
            continue
        if not first:
            body.append("\t".join(["NO"] * (6 if is_ul else 5)))
        first = False
        body.append(label)
        if not is_ul:
            body.append(col_line)
        cols = block["columns"]
        ix = [cols.index(c) for c in ("Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg")]
        for row in block["data"]:
            t, tp, tn, r, rp, rn = (float(row[i]) for i in ix)
            if is_ul:
                cells = ["%.3f" % t, "%.3f" % tp, "%.3f" % tn, "%.7g" % (r * ECF), "0", "0"]
            else:
                cells = ["%.3f" % t, "%.3f" % tp, "%.3f" % tn, "%.8g" % (r * ECF), "%.8g" % (rp * ECF),
                         "%.8g" % (rn * ECF)]
            body.append("\t".join(cells))
    return "\n".join(head + body) + "\n"


# ---------------------------------------------------------------------- burst analyser
#: Request binning -> the Binning names it selects (spec §7.1-§7.2).
_BAT_BINNINGS = {"snr4": ("SNR4", "SNR4_sinceT0"), "snr5": ("SNR5", "SNR5_sinceT0"),
                 "snr6": ("SNR6", "SNR6_sinceT0"), "snr7": ("SNR7", "SNR7_sinceT0"),
                 "timedel0.004": ("TimeBins_4ms",), "timedel0.064": ("TimeBins_64ms",),
                 "timedel1": ("TimeBins_1s",), "timedel10": ("TimeBins_10s",)}
#: Request band -> dataset name.
_BANDS = {"observedflux": "ObservedFlux", "density": "Density", "batband": "BATBand", "xrtband": "XRTBand"}
#: BAT count rate (ct/s/detector) -> band, for the documented GRB (spec §7.2, BAT_NoEvolution ECFs):
#: erg cm^-2 s^-1 for the flux bands, Jy at 10 keV for Density.
_BAT_ECF = {"ObservedFlux": 0.00243424007095474, "Density": 0.00231776220799315,
            "XRTBand": 4.70354458026304e-08, "BATBand": 6.85253672780114e-07}
#: XRT count rate (ct/s) -> band for a Gamma=2 afterglow (0.3-10 keV observed and unabsorbed,
#: 15-50 keV, Jy at 10 keV).
_XRT_ECF = {"ObservedFlux": 3.0e-11, "Density": 4.7e-7, "XRTBand": ECF, "BATBand": 1.4e-11}
#: Dataset band -> the tag of the website's file names (spec §7.5).
_FILE_TAGS = {"ObservedFlux": "OBSDENSITY", "Density": "DENSITY", "XRTBand": "XRTBAND", "BATBand": "BATBAND"}
_BAT_FLUX_COLUMNS = ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos", "FluxNeg", "FluxPosWithECFErr",
                     "FluxNegWithECFErr", "Gamma", "GammaPos", "GammaNeg", "ECF", "ECFPos", "ECFNeg"]
_BAT_HR_COLUMNS = ["Time", "TimePos", "TimeNeg", "HR", "HRPos", "HRNeg"] + [
    f"{name}{suffix}"
    for name in ("ECF_XRTBand", "ECF_BATBand", "Gamma", "ECF_Density", "ECF_ObservedDensity")
    for suffix in ("", "Pos", "Neg")]


def _list_choice(body, key, allowed):
    """A burst-analyser selection: "all" or a list (or one string), case-insensitive (spec §7.1)."""
    value = body.get(key, "all")
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise GRBAPIError(2, f"{key} must be 'all' or a list of: " + ", ".join(allowed))
    items = [str(i).strip().lower() for i in items]
    if items == ["all"]:
        return list(allowed)
    bad = [i for i in items if i not in allowed]
    if bad:
        raise GRBAPIError(2, f"{key} has {', '.join(bad)}; allowed: 'all' or " + ", ".join(allowed))
    return items


def _bat_rate(entry, t):
    """The simulated BAT count rate (ct/s/det): a fast-rise exponential-decay pulse of the prompt
    emission, brighter for brighter afterglows, gone by ~150 s."""
    peak = 0.05 * (entry.rate / 40.0) ** 0.5
    rise, decay, start = 2.0, 25.0, -2.0
    x = np.maximum(t - start, 0.0)
    shape = 2.0 * np.sqrt(rise / decay) - rise / np.maximum(x, 1e-9) - x / decay
    return np.where(t > start, peak * np.exp(shape), 0.0)


def _bat_bins(entry, rng, width, since_t0=False, snr=None):
    """BAT bins ``[(time, half-width, rate, err)]`` from T0-30 s (or T0) to T0+200 s: fixed widths, or
    1 s bins merged until their signal-to-noise reaches ``snr``."""
    lo, hi = (0.0 if since_t0 else -30.0), 200.0
    if width < 0.05:
        # 4 ms bins only over the pulse's peak: the whole burst would be 57 500 rows per band.
        lo, hi = (0.0 if since_t0 else -1.0), 5.0
    edges = np.arange(lo, hi + width / 2, width)
    mids = 0.5 * (edges[:-1] + edges[1:])
    sigma = 0.006 / np.sqrt(width)   # background noise per bin, ct/s/det
    rates = _bat_rate(entry, mids) + rng.normal(0.0, sigma, mids.size)
    rows = [(m, width / 2, r, sigma) for m, r in zip(mids, rates)]
    if snr is None:
        return rows
    merged, acc = [], []
    for row in rows:
        acc.append(row)
        total_w = len(acc) * width
        rate = sum(r[2] for r in acc) / len(acc)
        err = sigma * np.sqrt(width / total_w)
        if rate / err >= snr:
            merged.append(((acc[0][0] + acc[-1][0]) / 2, total_w / 2, rate, err))
            acc = []
    return merged


def _bat_block(entry, rng, rows, band, evolution):
    """One BAT dataset (``columns``/``data``) in ``band`` from the bins ``rows``."""
    ecf = _BAT_ECF[band]
    t, half, rate, err = (np.array([r[k] for r in rows], dtype=float) for k in range(4))
    flux, ferr = rate * ecf, err * ecf
    bad = (rate / err < 2.0).astype(int)   # the website flags bins too faint for a spectral fit
    if evolution:
        ecf_err = 0.1 * ecf
        with_ecf = np.hypot(ferr, rate * ecf_err)
        gamma = 1.3 + 0.4 * rng.random(t.size)
        const = [np.full(t.size, v) for v in (0.2, -0.2, ecf, ecf_err, -ecf_err)]
        cols = [t, half, -half, flux, ferr, -ferr, with_ecf, -with_ecf, gamma, *const]
        columns = _BAT_FLUX_COLUMNS + ["BadBin"]
    else:
        cols = [t, half, -half, flux, ferr, -ferr]
        columns = _BAT_FLUX_COLUMNS[:6] + ["BadBin"]
    values = np.column_stack(cols).tolist() if t.size else []
    return {"columns": columns, "data": [row + [int(b)] for row, b in zip(values, bad.tolist())]}


def _round(value):
    return int(value) if isinstance(value, (int, np.integer)) else float("%.6g" % value)


def _xrt_datasets(lc_data, rng):
    """XRT flux datasets ``<band>_<mode>[_nosys][_incbad]`` from the repository's count-rate curves."""
    out = {"Datasets": []}
    for name in lc_data["Datasets"]:
        m = re.fullmatch(r"(WT|PC)((?:_nosys)?(?:_incbad)?)", name)
        if m is None:
            continue   # hard/soft/HR and upper limits have no flux datasets
        block = lc_data[f"{name}Data"]
        cols = block["columns"]
        ix = [cols.index(c) for c in ("Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg")]
        for band, ecf in _XRT_ECF.items():
            rows = []
            for row in block["data"]:
                t, tp, tn, r, rp, rn = (float(row[i]) for i in ix)
                ecf_err = 0.08 * ecf
                gamma = 2.0 + 0.1 * rng.normal()
                rows.append([_round(v) for v in (
                    t, tp, tn, r * ecf, rp * ecf, rn * ecf, np.hypot(rp * ecf, r * ecf_err),
                    -np.hypot(rn * ecf, r * ecf_err), gamma, 0.15, -0.15, ecf, ecf_err, -ecf_err)])
            ds = f"{band}_{m.group(1)}{m.group(2)}"
            out["Datasets"].append(ds)
            out[f"{ds}Data"] = {"columns": _BAT_FLUX_COLUMNS, "data": rows}
    for mode in ("WT", "PC"):
        hr = lc_data.get(f"{mode}HRData")
        if hr:
            rows = [[_round(v) for v in (row[0], row[1], row[2], row[3], row[4], -row[4],
                                         2.0 + 0.1 * rng.normal(), 0.15, -0.15)] for row in hr["data"]]
            columns = ["Time", "TimePos", "TimeNeg", "HR", "HRPos", "HRNeg", "Gamma", "GammaPos", "GammaNeg"]
            out[f"HRData_{mode}"] = {"columns": columns, "data": rows}
    return out


def _qdp(rows, label):
    """A burst-analyser web file (spec §7.5): READ TERR 1 2, a label, then time, +, -, value, +, -."""
    out = io.StringIO()
    out.write(f"READ TERR 1 2\n! {label}\n")
    if rows:
        np.savetxt(out, np.array([r[:6] for r in rows], dtype=float), fmt="%.6g", delimiter="\t")
    return out.getvalue()


def _build_burst(repo, entry, tid, base_url):
    """The burst analyser of one GRB: the answer of ``downloadBurstAnalyser`` for everything, and the tar."""
    import gzip
    import tarfile
    lc = repo._build("lc", entry, base_url)
    if lc is None:
        return None
    rng = _rng("burst", repo.seed, entry.name)
    data = {"BAT": {}, "BAT_NoEvolution": {"ECFs": dict(_BAT_ECF)}}
    files = {}
    for request, names in _BAT_BINNINGS.items():
        for name in names:
            width = {"TimeBins_4ms": 0.004, "TimeBins_64ms": 0.064, "TimeBins_10s": 10.0}.get(name, 1.0)
            snr = int(name[3]) if name.startswith("SNR") else None
            rows = _bat_bins(entry, rng, width, since_t0=name.endswith("sinceT0"), snr=snr)
            for inst, evolution in (("BAT", True), ("BAT_NoEvolution", False)):
                block = {"Datasets": list(_BANDS.values())}
                for band in _BANDS.values():
                    block[f"{band}Data"] = _bat_block(entry, rng, rows, band, evolution)
                    tag = _FILE_TAGS[band]
                    fname = f"bat/bat_flux_{request}{'_sinceT0' if name.endswith('sinceT0') else ''}_{tag}" \
                            f"{'' if evolution else '_NOEVOLVE'}.qdp"
                    files[fname] = _qdp(block[f"{band}Data"]["data"], f"bat{name}flux")
                data[inst][name] = block
    hr_rows = []
    for t, half, rate, err in _bat_bins(entry, rng, 1.0, snr=5):
        hr = 0.8 + 0.2 * rng.random()
        hr_rows.append([_round(v) for v in [t, half, -half, hr, 0.1, -0.1] + [
            _BAT_ECF["XRTBand"], 0, 0, _BAT_ECF["BATBand"], 0, 0, 1.5, 0.2, -0.2,
            _BAT_ECF["Density"], 0, 0, _BAT_ECF["ObservedFlux"], 0, 0]])
    data["BAT"]["HRData"] = {"columns": _BAT_HR_COLUMNS, "data": hr_rows}
    data["XRT"] = _xrt_datasets(lc, rng)
    for ds in data["XRT"]["Datasets"]:
        band, mode, *tags = ds.split("_")
        tag = _FILE_TAGS[band]
        if "incbad" in tags:
            continue   # the website's files are the default (centroid-checked) selection
        fname = f"xrt/xrt_flux_{mode.lower()}_{tag}{'_nosys' if 'nosys' in tags else ''}.qdp"
        files[fname] = _qdp(data["XRT"][f"{ds}Data"]["data"], f"xrt{mode.lower()}flux")
    out = repo.root / BURST / tid
    out.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name in sorted(files):
                payload = files[name].encode()
                info = tarfile.TarInfo(f"{tid}/{name}")
                info.size, info.mode, info.mtime = len(payload), 0o644, 1_700_000_000
                tar.addfile(info, io.BytesIO(payload))
    (out / f"batxrtfiles_{tid}.tar.gz").write_bytes(buf.getvalue())
    return data


_BUILDERS["burst"] = _build_burst
