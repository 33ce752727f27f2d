# Licensed under a 3-clause BSD style license - see LICENSE
"""
Spectra of the simulated sky: OGIP PHA/ARF/RMF files, fit summaries and the per-interval tarballs.

Each time slice (``timeslice`` single / user / snapshot / obsid) gets, per XRT mode with data,
``<r><mode>source.pi``, ``<r><mode>back.pi``, the grouped ``<r><mode>.pi`` (channels 0-29 bad,
``group min 1``), ``<r><mode>.arf`` and ``<r><mode>.rmf``, plus ``<r>.areas``, ``models/<r><mode>.xcm``,
``<r><mode>_fit.fit`` and ``README.txt``, all packed without a leading directory into
``spec/<r>.tar.gz``.

The "fit" is *not* a real fit: it is a cheap estimate scattered around the simulated truth
(photon index, absorption) with errors that scale as 1/sqrt(net counts) and with the requested
``dchi``; fluxes follow from the observed net count rate and the model folded through the ARF,
so they are consistent with the data. Only the power law is consistent with the truth; APEC and
blackbody temperatures are rough mappings of the photon index.
"""
import gzip
import io
import math
import re
import tarfile
from functools import lru_cache

import numpy as np
from astropy.io import fits

from .sky import (ENERGY_EDGES, N_CHANNELS, CHANNEL_WIDTH, REGION, ProductFailure, effective_area,
                  met_to_utc, parse_time_ranges, photon_spectrum, resolution_sigma, utcf, _rng)

__all__ = ["build_spectra", "make_rmf", "make_arf", "GIF_1X1"]

#: A valid 1x1 GIF, used for the plot files a simulation has no business drawing.
GIF_1X1 = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
           b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

_KEV_TO_ERG = 1.602176634e-9
_E_MID = 0.5 * (ENERGY_EDGES[:-1] + ENERGY_EDGES[1:])
_MODEL_KEYS = {"powerlaw": ("PowerLaw", "pow"), "apec": ("APEC", "apec"), "blackbody": ("Blackbody", "bb")}
_TAR_MTIME = 1_700_000_000


def _common_header(hdr, mode, sky):
    hdr["TELESCOP"] = ("SWIFT", "Telescope (mission) name")
    hdr["INSTRUME"] = ("XRT", "Instrument name")
    hdr["DATAMODE"] = ("PHOTON" if mode == "PC" else "WINDOWED", "Instrument data mode")
    hdr["OBJECT"] = (sky.name.replace(" ", ""), "Name of observed object")
    hdr["RA_OBJ"] = (sky.ra, "[deg] R.A. Object")
    hdr["DEC_OBJ"] = (sky.dec, "[deg] Dec Object")
    hdr["EQUINOX"] = 2000.0
    hdr["RADECSYS"] = "FK5"
    hdr["TIMESYS"] = ("TT", "time system")
    hdr["MJDREFI"] = (51910, "MJD reference day 01 Jan 2001 00:00:00")
    hdr["MJDREFF"] = (7.428703703703703e-4, "MJD reference (fraction of day)")
    hdr["TIMEUNIT"] = "s"
    hdr["CLOCKAPP"] = (False, "If clock correction are applied (F/T)")
    hdr["ORIGIN"] = ("xrtprods_astro local service", "Simulated data: not real Swift data")
    hdr["CREATOR"] = "xrtprods_astro.server.specbuild"


def make_arf(mode, corr):
    """The ARF HDUList: simple XRT area divided by the correction factor (PSF and pile-up)."""
    spec = effective_area(_E_MID, mode) / corr
    cols = [fits.Column(name="ENERG_LO", format="E", unit="keV", array=ENERGY_EDGES[:-1]),
            fits.Column(name="ENERG_HI", format="E", unit="keV", array=ENERGY_EDGES[1:]),
            fits.Column(name="SPECRESP", format="E", unit="cm**2", array=spec)]
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECRESP")
    h = hdu.header
    h["TELESCOP"], h["INSTRUME"] = "SWIFT", "XRT"
    h["FILTER"] = "NONE"
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("RESPONSE", "dataset relates to spectral response")
    h["HDUCLAS2"] = ("SPECRESP", "dataset contains spectral response")
    h["HDUVERS"] = ("1.1.0", "version of format")
    h["CORRFACT"] = (corr, "PSF/pile-up correction folded into SPECRESP")
    return fits.HDUList([fits.PrimaryHDU(), hdu])


@lru_cache(maxsize=4)
def _rmf_bytes(mode):
    e_lo, e_hi = ENERGY_EDGES[:-1], ENERGY_EDGES[1:]
    ch_lo = np.arange(N_CHANNELS) * CHANNEL_WIDTH
    ch_mid = ch_lo + 0.5 * CHANNEL_WIDTH
    f_chan, n_chan, matrix = [], [], []
    for e in _E_MID:
        sig = float(resolution_sigma(e))
        c1 = max(0, int((e - 5 * sig) / CHANNEL_WIDTH))
        c2 = min(N_CHANNELS - 1, int((e + 5 * sig) / CHANNEL_WIDTH) + 1)
        w = np.exp(-0.5 * ((ch_mid[c1:c2 + 1] - e) / sig) ** 2)
        w = (w / w.sum()).astype(np.float32)
        f_chan.append(c1)
        n_chan.append(len(w))
        matrix.append(w)
    cols = [fits.Column(name="ENERG_LO", format="E", unit="keV", array=e_lo),
            fits.Column(name="ENERG_HI", format="E", unit="keV", array=e_hi),
            fits.Column(name="N_GRP", format="I", array=np.ones(len(e_lo), dtype=np.int16)),
            fits.Column(name="F_CHAN", format="J", array=np.array(f_chan, dtype=np.int32)),
            fits.Column(name="N_CHAN", format="J", array=np.array(n_chan, dtype=np.int32)),
            fits.Column(name="MATRIX", format="PE()", array=np.array(matrix, dtype=object))]
    mat = fits.BinTableHDU.from_columns(cols, name="MATRIX")
    h = mat.header
    h["TELESCOP"], h["INSTRUME"], h["FILTER"] = "SWIFT", "XRT", "NONE"
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (N_CHANNELS, "total number of detector channels")
    h["TLMIN4"] = (0, "first channel")
    h["TLMAX4"] = (N_CHANNELS - 1, "last channel")
    h["HDUCLASS"] = "OGIP"
    h["HDUCLAS1"] = "RESPONSE"
    h["HDUCLAS2"] = "RSP_MATRIX"
    h["HDUCLAS3"] = "REDIST"
    h["HDUVERS"] = "1.3.0"
    h["LO_THRES"] = (0.0, "lower threshold of stored matrix")
    h["DATAMODE"] = "PHOTON" if mode == "PC" else "WINDOWED"
    eb = fits.BinTableHDU.from_columns([
        fits.Column(name="CHANNEL", format="J", array=np.arange(N_CHANNELS, dtype=np.int32)),
        fits.Column(name="E_MIN", format="E", unit="keV", array=ch_lo),
        fits.Column(name="E_MAX", format="E", unit="keV", array=ch_lo + CHANNEL_WIDTH)], name="EBOUNDS")
    h = eb.header
    h["TELESCOP"], h["INSTRUME"], h["FILTER"] = "SWIFT", "XRT", "NONE"
    h["CHANTYPE"], h["DETCHANS"] = "PI", N_CHANNELS
    h["HDUCLASS"], h["HDUCLAS1"], h["HDUCLAS2"], h["HDUVERS"] = "OGIP", "RESPONSE", "EBOUNDS", "1.2.0"
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), mat, eb]).writeto(buf)
    return buf.getvalue()


def make_rmf(mode):
    """The RMF HDUList (MATRIX + EBOUNDS), Gaussian redistribution, every row normalised to 1."""
    return fits.HDUList.fromstring(_rmf_bytes(mode))


def _pha(sky, mode, counts, exposure, backscal, kind, gti, stem, tstart, tstop):
    """A PHA HDUList; ``kind`` is ``source``, ``back`` or ``grouped``."""
    cols = [fits.Column(name="CHANNEL", format="J", array=np.arange(N_CHANNELS, dtype=np.int32)),
            fits.Column(name="COUNTS", format="J", unit="count", array=counts.astype(np.int32))]
    if kind == "grouped":
        quality = np.zeros(N_CHANNELS, dtype=np.int16)
        quality[:30] = 5
        grouping = np.ones(N_CHANNELS, dtype=np.int16)
        # 'group min 1': a new group starts once the current one holds at least one count.
        acc, start_new = 0, True
        for ch in range(30, N_CHANNELS):
            grouping[ch] = 1 if start_new else -1
            acc += int(counts[ch])
            start_new = acc >= 1
            if start_new:
                acc = 0
        cols += [fits.Column(name="QUALITY", format="I", array=quality),
                 fits.Column(name="GROUPING", format="I", array=grouping)]
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    h = hdu.header
    _common_header(h, mode, sky)
    h["FILTER"] = "NONE"
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("SPECTRUM", "PHA dataset (OGIP memo OGIP-92-007)")
    h["HDUCLAS2"] = ("BKG" if kind == "back" else "TOTAL", "Gross PHA spectrum")
    h["HDUCLAS3"] = ("COUNT", "PHA data stored as Counts (not count/s)")
    h["HDUVERS"] = ("1.2.1", "Version of format (OGIP memo OGIP-92-007a)")
    h["CHANTYPE"] = ("PI", "channel type (PHA, PI etc)")
    h["DETCHANS"] = (N_CHANNELS, "total number possible channels")
    h["TLMIN1"], h["TLMAX1"] = 0, N_CHANNELS - 1
    h["POISSERR"] = (True, "Poissonian errors to be assumed")
    h["SYS_ERR"] = (0, "no systematic error specified")
    h["GROUPING"] = (1 if kind == "grouped" else 0, "grouping of the data has been defined")
    h["QUALITY"] = (0, "data quality information specified")
    h["EXPOSURE"] = (exposure, "Exposure time")
    h["AREASCAL"] = (1.0, "nominal effective area")
    h["BACKSCAL"] = (backscal, "background scale factor")
    h["CORRSCAL"] = (0.0, "correlation scale factor")
    h["BACKFILE"] = ("%sback.pi" % stem if kind == "grouped" else "none", "background FITS file")
    h["CORRFILE"] = ("none", "correlation FITS file")
    h["RESPFILE"] = ("%s.rmf" % stem if kind == "grouped" else "none", "redistribution matrix")
    h["ANCRFILE"] = ("%s.arf" % stem if kind == "grouped" else "none", "ancillary response")
    h["TSTART"], h["TSTOP"] = tstart, tstop
    # Clock keywords as in real XRT spectra: UTCFINIT at TSTART, dates in UTC (UTCF applied).
    h["TIMEZERO"] = (0.0, "Time Zero")
    h["UTCFINIT"] = (round(float(utcf(tstart)), 5), "[s] UTCF at TSTART")
    h["DATE-OBS"] = (met_to_utc(tstart).strftime("%Y-%m-%dT%H:%M:%S"), "UTC of TSTART")
    h["DATE-END"] = (met_to_utc(tstop).strftime("%Y-%m-%dT%H:%M:%S"), "UTC of TSTOP")
    gti_hdu = fits.BinTableHDU.from_columns([
        fits.Column(name="START", format="D", unit="s", array=np.array([g[0] for g in gti])),
        fits.Column(name="STOP", format="D", unit="s", array=np.array([g[1] for g in gti]))], name="GTI")
    gh = gti_hdu.header
    gh["HDUCLASS"], gh["HDUCLAS1"], gh["HDUCLAS2"] = "OGIP", "GTI", "STANDARD"
    gh["TIMESYS"], gh["MJDREFI"], gh["MJDREFF"] = "TT", 51910, 7.428703703703703e-4
    return fits.HDUList([fits.PrimaryHDU(), hdu, gti_hdu])


def _to_bytes(hdul):
    buf = io.BytesIO()
    hdul.writeto(buf)
    return buf.getvalue()


def _model_rates(gamma, nh, arf, lo=0.3, hi=10.0):
    """Counts (ct/s) and absorbed/unabsorbed energy fluxes (erg/cm2/s) for unit normalisation."""
    sel = (_E_MID >= lo) & (_E_MID <= hi)
    de = np.diff(ENERGY_EDGES)[sel]
    e = _E_MID[sel]
    absd = photon_spectrum(e, gamma, nh)
    unabs = photon_spectrum(e, gamma, 0.0)
    rate = float(np.sum(absd * arf[sel] * de))
    return (rate, float(np.sum(e * absd * de)) * _KEV_TO_ERG, float(np.sum(e * unabs * de)) * _KEV_TO_ERG)


def _fit(sky, mode, net, exposure, ngroups, arf, rng, model, dchi, galactic, z):
    """Estimated fit results around the truth (see module docstring)."""
    src = sky.source
    scale = math.sqrt(dchi)
    net = max(net, 1.0)
    galnh = float(src.galnh)
    intr = float(src.nh) * ((1 + z) ** 2.4 if z is not None else 1.0)
    nh_true = intr if galactic else intr + galnh
    sig_nh = (0.25 * nh_true + 1.0e21) * math.sqrt(300.0 / net)
    nh = max(0.0, nh_true + rng.normal() * sig_nh)
    sig_g = 2.0 / math.sqrt(net)
    gamma = src.gamma + rng.normal() * sig_g
    res = {}
    if galactic:
        res["GalacticNH"] = galnh
    res.update({"NH": nh, "NHPos": 1.1 * scale * sig_nh, "NHNeg": -min(nh, 0.9 * scale * sig_nh)})
    if z is not None:
        res["Redshift_abs"] = z
    if model == "powerlaw":
        res.update({"Gamma": gamma, "GammaPos": 1.1 * scale * sig_g, "GammaNeg": -0.9 * scale * sig_g})
        shape_pars = ("gamma", gamma, res["GammaPos"], res["GammaNeg"])
    else:
        kt = float(np.clip(7.0 / gamma ** 2 if model == "apec" else 2.3 / gamma ** 2, 0.1, 60.0))
        sig_kt = 0.2 * kt * math.sqrt(300.0 / net)
        res.update({"KT": kt, "KTPos": 1.1 * scale * sig_kt, "KTNeg": -min(kt * 0.9, 0.9 * scale * sig_kt)})
        shape_pars = ("kT", kt, res["KTPos"], res["KTNeg"])
    rate_unit, fabs, funabs = _model_rates(gamma, nh + (galnh if galactic else 0.0), arf)
    norm = net / exposure / rate_unit if rate_unit > 0 else 0.0
    rel = math.sqrt(1.0 / net + (0.3 * sig_g) ** 2) * scale
    obs, unabs = norm * fabs, norm * funabs
    res.update({"ObsFlux": obs, "ObsFluxPos": obs * rel, "ObsFluxNeg": -obs * rel * 0.95,
                "UnabsFlux": unabs, "UnabsFluxPos": unabs * rel * 1.1, "UnabsFluxNeg": -unabs * rel})
    dof = max(ngroups - 3, 1)
    res.update({"Cstat": float(dof * (1.0 + 0.08 * rng.normal())), "Dof": int(dof),
                "FitChi": float(dof * (1.0 + 0.1 * rng.normal()))})
    return res, shape_pars


def _fit_text(res, shape, galactic, z, rate, corr, ontime):
    """``<r><mode>_fit.fit`` as UKSSDC writes it (products.md §5): two spaces after each name,
    bounds (not errors) in brackets, ``(0, 0)`` for a frozen parameter."""
    def line(name, v, pos=None, neg=None, spec="%.10g"):
        if pos is None:
            return "%s  %.6g (0, 0)" % (name, v)
        return ("%s  %.6g (" + spec + ", " + spec + ")") % (name, v, v + neg, v + pos)

    def flux(name, v, pos, neg):
        return "%s  %r (%r, %r) erg cm**-2 s**-1" % (name, float(v), float(v + neg), float(v + pos))
    out = []
    if galactic:
        out.append(line("Gal_nh", res["GalacticNH"] / 1e22))
    out.append(line("excess_nh", res["NH"] / 1e22, res["NHPos"] / 1e22, res["NHNeg"] / 1e22))
    if z is not None:
        out.append(line("z_abs", z))
    out.append(line(*shape))
    out.append(flux("Obs flux", res["ObsFlux"], res["ObsFluxPos"], res["ObsFluxNeg"]))
    out.append(flux("Unabs flux", res["UnabsFlux"], res["UnabsFluxPos"], res["UnabsFluxNeg"]))
    out.append("Cstat = %.10g, DOF = %d" % (res["Cstat"], res["Dof"]))
    out.append("FitChi = %.10g" % res["FitChi"])
    out.append("File count rate: %.10g " % rate)
    out.append("Corr factor:\t%.15g" % corr)
    out.append("Ontime:\t%.15E" % ontime)
    return "\n".join(out) + "\n"


def _xcm(stem, model, res, galactic, z, shape):
    comp = {"powerlaw": "powerlaw", "apec": "apec", "blackbody": "bbody"}[model]
    absorb = ("TBabs*" if galactic else "") + ("zTBabs*" if z is not None else "TBabs*")
    lines = ["statistic cstat", "method leven 10 0.01", "abund wilm", "xsect vern", "cosmo 70 0 0.73",
             "xset delta 0.01", "systematic 0", "data 1:1 %s.pi" % stem,
             "model  cflux*%s%s" % (absorb, comp),
             "            0.3      -0.1          0          0      1e+06      1e+06",
             "             10      -0.1          0          0      1e+06      1e+06",
             "%15.6g       0.01       -100       -100        100        100"
             % math.log10(max(res["ObsFlux"], 1e-30))]
    if galactic:
        lines.append("%15.6g         -1          0          0     100000      1e+06"
                     % (res["GalacticNH"] / 1e22))
    lines.append("%15.6g      0.001          0          0     100000      1e+06" % (res["NH"] / 1e22))
    if z is not None:
        lines.append("%15.6g         -1     -0.999     -0.999         10         10" % z)
    lines.append("%15.6g       0.01         -3         -2          9         10" % shape[1])
    if model == "apec":
        lines += ["              1     -0.001          0          0          5          5",
                  "%15.6g         -1          0          0          2          2" % (z or 0.0)]
    lines.append("              1         -1          0          0      1e+20      1e+24")
    return "\n".join(lines) + "\n"


_README = """This archive contains Swift-XRT spectral files built by the xrtprods_astro local service.
THESE ARE SIMULATED DATA, NOT REAL SWIFT DATA.

{stem}<mode>source.pi  - source spectrum (no response or background set)
{stem}<mode>back.pi    - background spectrum
{stem}<mode>.pi        - the spectrum used for fitting: BACKFILE, RESPFILE and ANCRFILE are set.
                        Channels 0-29 are marked bad; grouped with 'group min 1'.
{stem}<mode>.arf       - ancillary response (includes the PSF / pile-up correction)
{stem}<mode>.rmf       - response matrix
{stem}.areas           - extraction regions and event counts per event list
models/{stem}<mode>.xcm - xspec command file restoring the fitted model
{stem}<mode>_fit.fit   - a summary of the fit (bounds are {dchi} delta-statistic limits)
"""


def _intervals(sky):
    """``[(rname, windows, start, stop)]`` for the requested time slices."""
    slicing = sky.gets("timeslice", "single")
    specobs = sky.gets("specobs", "hours")
    use = sky.get("usespecobs")
    hours = sky.getf("specobstime", 12.0)
    if slicing == "single":
        wins = sky.windows(specobs, use, hours)
        stem = re.sub(r"[^0-9A-Za-z]", "", str(sky.get("specstem", "interval0"))) or "interval0"
        return [(stem, wins, wins[0][1], wins[-1][2])]
    base = sky.windows("all" if specobs == "hours" else specobs, use, hours)
    if slicing == "user":
        out = []
        for i in range(1, 5):
            name, gti = sky.get("rname%d" % i), sky.get("gti%d" % i)
            if name is None and gti is None:
                continue
            if name is None or gti is None:
                raise ProductFailure("rname%d and gti%d must be given together" % (i, i))
            # Underscores kept: real interval names have them (the GRB repository's late_time).
            name = re.sub(r"[^0-9A-Za-z_]", "", str(name))
            if not name:
                raise ProductFailure("rname%d must contain letters or digits" % i)
            _, ranges = parse_time_ranges(gti, sky.t0, sky.since_t0)
            wins = [(s, max(a, lo), min(b, hi)) for s, a, b in base for lo, hi in ranges
                    if min(b, hi) > max(a, lo)]
            lo = min(r[0] for r in ranges) if ranges else sky.t0
            hi = max(r[1] for r in ranges) if ranges else sky.t0
            out.append((name, wins, lo, hi))
        if not out:
            raise ProductFailure("timeslice=user needs at least one rname1/gti1 pair")
        return out
    if slicing == "snapshot":
        # A snapshot is (obsID, number): numbers repeat across targets. Slices are numbered
        # 1, 2, ... in time order so that their names stay unique.
        groups = {}
        for w in base:
            groups.setdefault((w[0].obsid, w[0].snapnum), []).append(w)
        return [("Snapshot_%d" % i, ws, ws[0][1], ws[-1][2]) for i, ws in enumerate(groups.values(), start=1)]
    if slicing == "obsid":
        groups = {}
        for w in base:
            groups.setdefault(w[0].obsid, []).append(w)
        return [("Obs_%s" % k, ws, ws[0][1], ws[-1][2]) for k, ws in groups.items()]
    raise ProductFailure("timeslice %r is not one of single, user, snapshot, obsid" % slicing)


def _add_member(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = _TAR_MTIME
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(payload))


def build_spectra(sky, out_dir, url_base):
    """Build the spectra of one job.

    Parameters
    ----------
    sky : `~xrtprods_astro.server.sky.JobSky`
    out_dir : `pathlib.Path`
        The ``spec/`` directory.
    url_base : str
        Its URL.

    Returns
    -------
    data : dict
        The getSpecData payload (protocol.md §5.2).
    files : list of `pathlib.Path`
    """
    dchi = sky.getf("dchi", 2.706)
    galactic = sky.flag("galactic", 0)
    z = sky.getf("zval", 0.0) if sky.flag("specz", 0) else None
    no_fit = sky.flag("doNotFit", 0)
    models = sky.get("models", ["powerlaw"])
    if isinstance(models, str):
        models = [m for m in re.split(r"[,\s]+", models) if m]
    models = [str(m).lower() for m in models] or ["powerlaw"]
    for m in models:
        if m not in _MODEL_KEYS:
            raise ProductFailure("models: %r is not one of powerlaw, apec, blackbody" % m)
    intervals = _intervals(sky)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"T0": sky.t0, "DeltaFitStat": dchi, "rnames": []}
    if not galactic and sky.source is not None:
        data["GalNH_unfitted"] = float(sky.source.galnh)
    elif not galactic:
        data["GalNH_unfitted"] = float(sky.field[0].galnh) if sky.field else 3e20
    files = []
    any_spec = False
    for rname, wins, start, stop in intervals:
        data["rnames"].append(rname)
        entry = {"DataFile": "%s/%s.tar.gz" % (url_base.rstrip("/"), rname),
                 "Start": start - sky.t0, "Stop": stop - sky.t0}
        members = {}
        areas = []
        modes = []
        for mode in ("WT", "PC"):
            mw = [w for w in wins if w[0].mode == mode]
            src_counts = np.zeros(N_CHANNELS, dtype=np.int64)
            bkg_counts = np.zeros(N_CHANNELS, dtype=np.int64)
            exposure, corr_w, times = 0.0, 0.0, []
            ratio = REGION[mode]["ratio"]
            pup = {}
            for snap, a, b in mw:
                st, se, bt, be, ev = sky.events(snap, a, b)
                sc = np.bincount(np.minimum((se / CHANNEL_WIDTH).astype(int), N_CHANNELS - 1),
                                 minlength=N_CHANNELS)
                src_counts += sc
                bkg_counts += np.bincount(np.minimum((be / CHANNEL_WIDTH).astype(int), N_CHANNELS - 1),
                                          minlength=N_CHANNELS)
                exposure += b - a
                corr_w += ev.corr * (b - a)
                times.append(st)
                radius = REGION[mode]["radius"] * 2.357
                # As the real .areas: piled-up event lists ``<mode>pupN`` with an annulus, the
                # others ``<mode>allnonpupN`` with a circle; N counts from 1 within each obsID.
                piled = ev.corr > 1.0 / REGION[mode]["eef"] * 1.05
                region = ("annulus(%.10f,%.10f,%.9g\",%g\")" % (sky.ra, sky.dec, 7.0, radius) if piled
                          else "circle(%.10f,%.10f,%g\")" % (sky.ra, sky.dec, radius))
                evt = "%s%s" % (mode.lower(), "pup" if piled else "allnonpup")
                pup[snap.obsid, evt] = pup.get((snap.obsid, evt), 0) + 1
                areas.append("%s/%s%d.evt, %d -- %d\n  %s\n  Counts: %d\n  BACKSCAL %.15g\n\n"
                             % (snap.obsid, evt, pup[snap.obsid, evt], a - sky.t0, b - sky.t0, region,
                                len(st), ratio * 1.2566e-3))
            if exposure <= 0 or src_counts.sum() == 0:
                continue
            modes.append(mode)
            corr = corr_w / exposure
            stem = "%s%s" % (rname, mode.lower())
            gti = [(a, b) for _, a, b in mw]
            tstart, tstop = gti[0][0], gti[-1][1]
            backscal = 1.2566e-3
            members["%ssource.pi" % stem] = _to_bytes(
                _pha(sky, mode, src_counts, exposure, backscal, "source", gti, stem, tstart, tstop))
            members["%sback.pi" % stem] = _to_bytes(
                _pha(sky, mode, bkg_counts, exposure, backscal / ratio, "back", gti, stem, tstart, tstop))
            grouped = _pha(sky, mode, src_counts, exposure, backscal, "grouped", gti, stem, tstart, tstop)
            members["%s.pi" % stem] = _to_bytes(grouped)
            arf_hdul = make_arf(mode, corr)
            members["%s.arf" % stem] = _to_bytes(arf_hdul)
            members["%s.rmf" % stem] = _rmf_bytes(mode)
            all_t = np.concatenate(times)
            in_band = (slice(30, N_CHANNELS))
            net = float(src_counts[in_band].sum() - ratio * bkg_counts[in_band].sum())
            mean_t = float(all_t.mean()) if len(all_t) else 0.5 * (tstart + tstop)
            mode_entry = {"MeanTime": mean_t - sky.t0,
                          "Exposure": exposure}
            if no_fit:
                mode_entry["NOFIT"] = 1
            else:
                ngroups = int(np.sum(grouped[1].data["GROUPING"][30:] == 1))
                mode_entry["Models"] = []
                rng = _rng("fit", sky.seed, rname, mode)
                for model in models:
                    key, short = _MODEL_KEYS[model]
                    mode_entry["Models"].append(key)
                    suffix = "" if len(models) == 1 else "_" + short
                    if sky.source is None or net < 10:
                        mode_entry[key] = {"NOFIT": 1}
                        continue
                    res, shape = _fit(sky, mode, net, exposure, ngroups, arf_hdul[1].data["SPECRESP"], rng,
                                      model, dchi, galactic, z)
                    plot = "%s%s%s_plot.gif" % (rname, mode.lower(), suffix)
                    res["Image"] = "%s/%s" % (url_base.rstrip("/"), plot)
                    (out_dir / plot).write_bytes(GIF_1X1)
                    files.append(out_dir / plot)
                    mode_entry[key] = res
                    members["models/%s%s.xcm" % (stem, suffix)] = _xcm(
                        stem, model, res, galactic, z, shape).encode()
                    members["%s%s_fit.fit" % (stem, suffix)] = _fit_text(
                        res, shape, galactic, z, net / exposure, corr, exposure).encode()
            entry[mode] = mode_entry
        if not modes:
            entry["NOSPEC"] = 1
        else:
            any_spec = True
            entry["Modes"] = modes
            members["%s.areas" % rname] = "".join(areas).encode()
            members["README.txt"] = _README.format(stem=rname, dchi=dchi).encode()
            buf = io.BytesIO()
            with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
                with tarfile.open(fileobj=gz, mode="w") as tar:
                    for name in sorted(members):
                        _add_member(tar, name, members[name])
            path = out_dir / ("%s.tar.gz" % rname)
            path.write_bytes(buf.getvalue())
            files.append(path)
        data[rname] = entry
    if not any_spec:
        raise ProductFailure("No spectrum could be made: no events in any requested interval.")
    return data, files
