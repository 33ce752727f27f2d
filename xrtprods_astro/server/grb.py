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

Errors follow the common API: HTTP 200 and ``{"ERROR": code, "ERRORTEXT": text}``, never OK. A
``null`` ``objectID``/``targetID`` (what swifttools sends after an unknown name, spec §4.2) is an
error naming the key, as is a targetID that is not a GRB of the repository (spec §13.2; the real
codes are not documented, so these codes are ours). Products are built on first use, once per GRB,
and are deterministic for the service's seed. Rebin and time-slice jobs of GRBs and the burst
analyser are not served yet.
"""
import logging
import math
import re
import threading
from pathlib import Path

from .catalogue import CATALOGUE
from .lcbuild import _met_text, build_lightcurve
from .sky import JobSky, ProductFailure, _rng, ukssdc_date
from .specbuild import build_spectra

__all__ = ["GRBRepository", "GRBAPIError", "FUNCTIONS", "GRB_NAME", "repository_grbs"]

log = logging.getLogger("xrtprods_astro.server.grb")

#: The documented spelling of a GRB name (spec §4.1): ``GRB`` + one space + YYMMDD + an optional letter.
GRB_NAME = re.compile(r"^GRB [0-9]{6}[A-Z]?$")
#: URL folders (relative to the site root) of the repository's files.
CURVES, SPECTRA = "xrt_curves", "xrt_spectra"
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

    # ------------------------------------------------------------------ dispatch
    def answer(self, body, base_url):
        """The answer (without APIVersion) to one main.php call handled here."""
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
        if body.get("type") != "GRB":
            raise GRBAPIError(2, f"type is {body.get('type')!r}, but must be GRB (time-slice spectra "
                                 "are not served by the local service yet).")
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

    # ------------------------------------------------------------------ GET
    def file_for(self, path):
        """The file to send for a GET of ``/xrt_curves/<tid>/<name>`` or ``/xrt_spectra/<tid>/<name>``.

        None (a 404) for anything else: another folder, a name with a path in it, a file not built.
        """
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[0] not in (CURVES, SPECTRA) or not parts[1].isdigit():
            return None
        name = parts[2]
        if not name or name.startswith(".") or "\\" in name:
            return None
        tid = "%08d" % int(parts[1])
        target = self.root / parts[0] / tid / name
        return target if target.is_file() else None


_BUILDERS = {"lc": GRBRepository._build_curves, "spec": GRBRepository._build_spectra}

#: APIFunc -> handler; app.py dispatches these functions here.
FUNCTIONS = {
    "GRBNameToTargetID": GRBRepository.name_to_target,
    "getGRBTargetList": GRBRepository.target_list,
    "getGRBPositions": GRBRepository.positions,
    "downloadSpectrum": GRBRepository.spectrum,
    "downloadLightCurve": GRBRepository.light_curve,
}


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
    import io
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
