# Licensed under a 3-clause BSD style license - see LICENSE
"""
Entry points the local service's HTTP side calls to make a job's products.

`build_products` builds every requested product of a job into ``job_dir/<subdir>/`` (``lc``,
``spec``, ``psf``, ``enh``, ``xastrom``, ``image``, ``sourceDet``) and returns, per product
code, a `ProductOutcome` holding the JSON retrieval payload (without envelope) or the reason the
product could not be made. `rebin_lightcurve` rebuilds a job's light curve with new binning.
Results are deterministic for a given ``(seed, job_pars)``.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .imgbuild import build_images, build_source_list
from .lcbuild import build_lightcurve
from .posbuild import build_position
from .sky import JobSky, ProductFailure, _flag
from .specbuild import build_spectra

__all__ = ["ProductOutcome", "build_products", "rebin_lightcurve", "PRODUCT_FLAGS", "REBIN_NAMES"]

log = logging.getLogger("xrtprods_astro.server.build")

#: Product code -> submit flag key (protocol.md §3.1).
PRODUCT_FLAGS = {"lc": "lc", "spec": "spec", "psf": "dopsf", "enh": "doenh", "xastrom": "doxastrom",
                 "image": "image", "sourceDet": "sourceDet"}

#: Python-style light-curve names accepted by rebinLightCurve -> wire names (protocol.md §2.12).
REBIN_NAMES = {"binMeth": "binMeth", "pcCounts": "pccounts", "wtCounts": "wtcounts", "dynamic": "dynamic",
               "pcBinTime": "pcbin", "wtBinTime": "wtbin", "timeFormat": "lctimetype",
               "timeType": "lctimetype",
               "minEnergy": "minen", "maxEnergy": "maxen", "softLo": "soft1", "softHi": "soft2",
               "hardLo": "hard1", "hardHi": "hard2", "minSig": "sigmin", "allowUL": "allowUL",
               "allowBayes": "allowB", "bayesCounts": "bayesCounts", "bayesSNR": "bayesSNR",
               "whichData": "lcobs", "useObs": "uselcobs", "minCounts": "mincmin", "minSNR": "minsnr",
               "rateFact": "ratefact", "binFact": "binfact", "minFracExp": "femin", "matchHR": "hrbin",
               "pcHRBinTime": "pchrbin", "wtHRBinTime": "wthrbin"}


@dataclass
class ProductOutcome:
    """The result of building one product.

    Attributes
    ----------
    code : str
        Product code (``lc``, ``spec``, ``psf``, ``enh``, ``xastrom``, ``image``, ``sourceDet``).
    ok : bool
        False when the product could not be made (status -3 on the real service).
    reason : str
        Why not, when ``ok`` is False ("" otherwise).
    data : dict
        The retrieval payload (no envelope); empty when ``ok`` is False.
    files : list of `pathlib.Path`
        Files written under ``job_dir``.
    """

    code: str
    ok: bool
    reason: str = ""
    data: dict = field(default_factory=dict)
    files: list = field(default_factory=list)


def requested_products(job_pars):
    """Product codes whose submit flag is set in ``job_pars``."""
    return [code for code, flag in PRODUCT_FLAGS.items() if _flag(job_pars.get(flag, 0))]


def _run(code, func, *args):
    try:
        data, files = func(*args)
    except ProductFailure as exc:
        return ProductOutcome(code, False, str(exc))
    except Exception as exc:  # a bug must not take the whole service down
        log.exception("building product %s failed", code)
        return ProductOutcome(code, False, "Internal error building the product: %s" % exc)
    return ProductOutcome(code, True, "", data, files)


def build_products(job_pars, job_id, job_url, job_dir, seed):
    """Build every product requested in ``job_pars``.

    Parameters
    ----------
    job_pars : dict
        Wire-format job parameters (protocol.md §2.1/§3); flags 1/0, values numbers or strings.
    job_id : str
        The job's ID (used only in logs).
    job_url : str
        The job's ``URL``; dataset/DataFile URLs are ``<job_url>/<subdir>/<file>``.
    job_dir : `pathlib.Path`
        Directory to write ``<subdir>/`` trees into.
    seed : int
        Random seed: the same seed and parameters give the same products.

    Returns
    -------
    dict
        Product code -> `ProductOutcome`, one per requested product.
    """
    job_dir = Path(job_dir)
    codes = requested_products(job_pars)
    url = str(job_url).rstrip("/")
    try:
        sky = JobSky(job_pars, seed)
    except ProductFailure as exc:
        return {code: ProductOutcome(code, False, str(exc)) for code in codes}
    out = {}
    for code in codes:
        log.debug("job %s: building %s", job_id, code)
        sub = job_dir / code
        if code == "lc":
            out[code] = _run(code, build_lightcurve, sky, sub, url + "/lc")
        elif code == "spec":
            out[code] = _run(code, build_spectra, sky, sub, url + "/spec")
        elif code in ("psf", "enh", "xastrom"):
            out[code] = _run(code, build_position, sky, code, sub)
        elif code == "image":
            out[code] = _run(code, build_images, sky, sub)
        elif code == "sourceDet":
            out[code] = _run(code, build_source_list, sky, sub)
    return out


def rebin_lightcurve(job_pars, job_id, job_url, job_dir, seed, rebin_id, params):
    """Rebuild a job's light curve with new binning (main.php ``rebinLightCurve``).

    Parameters
    ----------
    job_pars : dict
        The original job's wire parameters.
    job_id, job_url, job_dir, seed
        As for `build_products`.
    rebin_id : int or str
        The rebin job's ID; files go to ``job_dir/lc_rebin<rebin_id>/`` and their URLs to
        ``<job_url>/lc_rebin<rebin_id>/``.
    params : dict
        The rebin request's parameters: Python-style names (``binMeth``, ``pcCounts``,
        ``timeFormat``...) or wire names; unknown keys (``name``, ``type``...) are ignored.

    Returns
    -------
    dict or None
        The light-curve payload (as getLCData), or None when no light curve can be made (the
        caller answers ``NOLC``).
    """
    if not _flag(job_pars.get("lc", 0)):
        return None
    pars = dict(job_pars)
    wire = set(REBIN_NAMES.values())
    for key, value in (params or {}).items():
        if key in REBIN_NAMES:
            pars[REBIN_NAMES[key]] = value
        elif key in wire:
            pars[key] = value
    if isinstance(pars.get("lctimetype"), str):
        pars["lctimetype"] = {"mjd": "m", "met": "s", "sec": "s"}.get(pars["lctimetype"].lower(),
                                                                      pars["lctimetype"].lower())
    sub = "lc_rebin%s" % rebin_id
    try:
        sky = JobSky(pars, seed)
        method = sky.gets("binMeth", "counts")
        label = "ObsID" if method == "obsid" else None
        data, _ = build_lightcurve(sky, Path(job_dir) / sub, str(job_url).rstrip("/") + "/" + sub, label)
    except ProductFailure as exc:
        log.info("rebin %s of job %s: no light curve (%s)", rebin_id, job_id, exc)
        return None
    return data
