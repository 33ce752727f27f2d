# Licensed under a 3-clause BSD style license - see LICENSE
"""
Positions of the simulated sky: standard (PSF fit), enhanced (UVOT-aided) and astrometric.

A position is the simulated truth scattered by a 2-D Gaussian whose 90% radius is the reported
error (sigma = err90 / 2.146), so positions are statistically consistent with their errors.
Errors: standard ``sqrt((22"/sqrt(C))**2 + 3.5**2)``, enhanced ``sqrt((13"/sqrt(C))**2 + 1.4**2)``,
astrometric ``sqrt((20"/sqrt(C))**2 + (4.5"/sqrt(N_match) + 1")**2)`` with ``C`` the PC counts of
the source in the selected data. Files follow protocol.md §6.3-6.5.
"""
import math
import zlib

import numpy as np

from .sky import REGION, _rng, correction_factor, source_rate

__all__ = ["build_position", "sexagesimal"]

_R90_TO_SIGMA = 1.0 / 2.146  # 90% of a 2-D Gaussian lies within 2.146 sigma


def sexagesimal(ra, dec):
    """``('hh mm ss.ss', '+dd mm ss.s')`` strings for a position in degrees."""
    h = (ra % 360.0) / 15.0
    hh = int(h)
    mm = int((h - hh) * 60)
    ss = ((h - hh) * 60 - mm) * 60
    if round(ss, 2) >= 60.0:
        ss, mm = 0.0, mm + 1
    sign = "-" if dec < 0 else "+"
    d = abs(dec)
    dd = int(d)
    dm = int((d - dd) * 60)
    ds = ((d - dd) * 60 - dm) * 60
    if round(ds, 1) >= 60.0:
        ds, dm = 0.0, dm + 1
    return "%02d %02d %05.2f" % (hh, mm, ss), "%s%02d %02d %04.1f" % (sign, dd, dm, ds)


def _expected_counts(src, windows, mode="PC"):
    total = 0.0
    for snap, a, b in windows:
        if snap.mode != mode:
            continue
        grid = np.linspace(a, b, 33)
        rate = source_rate(src, grid) / correction_factor(src, snap)
        total += float(np.trapezoid(rate, grid)) if hasattr(np, "trapezoid") else float(np.trapz(rate, grid))
    return total


def _scatter(rng, ra, dec, err90):
    sig = err90 * _R90_TO_SIGMA / 3600.0
    dra, ddec = rng.normal(size=2) * sig
    return (ra + dra / max(math.cos(math.radians(dec)), 1e-3)) % 360.0, dec + ddec


def _fmt_pos(ra, dec, err):
    return {"RA": "%.5f" % ra, "Dec": "%.5f" % dec, "Err90": "%.1f" % err}


def build_position(sky, kind, out_dir):
    """Build one position product.

    Parameters
    ----------
    sky : `~xrtprods_astro.server.sky.JobSky`
    kind : str
        ``psf``, ``enh`` or ``xastrom``.
    out_dir : `pathlib.Path`

    Returns
    -------
    data : dict
        The get*Pos payload (protocol.md §2.4).
    files : list of `pathlib.Path`
    """
    which = sky.gets("posobs", "hours")
    if kind == "xastrom" and sky.flag("allxastrom", 0):
        which = "all"
    windows = sky.windows(which, sky.get("useposobs"), sky.getf("posobstime", 12.0))
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []

    def write(name, text):
        path = out_dir / name
        path.write_text(text)
        files.append(path)

    rng = _rng("position", kind, sky.seed, round(sky.ra, 6), round(sky.dec, 6))
    radius = sky.getf("posRadius", 20.0)
    cands = sky.sources_near(max(radius, 1.0))
    src = cands[0] if cands else None
    counts = int(rng.poisson(_expected_counts(src, windows))) if src is not None else 0
    if src is None or counts < 10:
        reason = ("No source was detected within %g arcsec of the input position." % radius
                  if src is None else "The source has too few counts (%d) for a position." % counts)
        if kind == "psf":
            write("results.dat", "NOPOS\n")
        elif kind == "xastrom":
            write("NOCORR", reason + "\n")
        data = {"GotPos": 0, "Reason": reason}
        if kind != "enh":
            data["FromSXPS"] = 0
        return data, files

    from_sxps = kind in ("psf", "xastrom") and sky.flag("useSXPS", 0) and src.kind not in ("GRB",)
    if from_sxps:
        err = 4.5
        ra, dec = _scatter(rng, src.ra, src.dec, err)
        ras, decs = sexagesimal(ra, dec)
        sxps_id = 100000 + zlib.crc32(src.name.encode()) % 900000
        write("INSXPS", "%d\n%.5f\n%.5f\n%.1f\n%s\n%s\n%s\nLSXPS\n"
              % (sxps_id, ra, dec, err, ras, decs, windows[0][0].obsid))
        data = {"GotPos": 1, **_fmt_pos(ra, dec, err), "FromSXPS": 1, "WhichSXPS": "LSXPS"}
        return data, files

    if kind == "psf":
        err = math.hypot(22.0 / math.sqrt(counts), 3.5)
        ra, dec = _scatter(rng, src.ra, src.dec, err)
        ras, decs = sexagesimal(ra, dec)
        piled = int(any(snap.mode == "PC" and correction_factor(src, snap) > 1.0 / REGION["PC"]["eef"] * 1.05
                        for snap, _, _ in windows))
        write("results.dat", "\t".join([
            "%.5f" % ra, "%.5f" % dec, ras, decs, "%.1f" % err, str(piled), "1",
            "0.0807", "6.1", "-0.0317", "1.0"]) + "\n")
        (out_dir / "summed.gif").write_bytes(_gif())
        files.append(out_dir / "summed.gif")
        return {"GotPos": 1, **_fmt_pos(ra, dec, err), "FromSXPS": 0}, files

    if kind == "enh":
        if counts < 20:
            return {"GotPos": 0, "Reason": "Too few X-ray counts in the XRT-UVOT overlaps."}, files
        err = math.hypot(13.0 / math.sqrt(counts), 1.4)
        ra, dec = _scatter(rng, src.ra, src.dec, err)
        ras, decs = sexagesimal(ra, dec)
        n_overlap = min(len(windows), 5)
        exposure = sum(b - a for _, a, b in windows[:n_overlap])
        write("success.txt", "\n".join([sky.name, ",".join(sky.targets), str(n_overlap), "%.1f" % exposure,
                                        "0", "0", "%.5f" % ra, "%.5f" % dec, ras, decs, "%.1f" % err]) + "\n")
        return {"GotPos": 1, **_fmt_pos(ra, dec, err)}, files

    # Astrometric: X-ray sources of the field matched to 2MASS.
    matches = 0
    for fsrc in sky.field:
        if rng.poisson(_expected_counts(fsrc, windows)) >= 15:
            matches += 1
    if matches < 3:
        write("NOCORR", "Only %d X-ray/2MASS matches: no astrometric correction.\n" % matches)
        return {"GotPos": 0, "Reason": "Too few X-ray/2MASS matches (%d)." % matches, "FromSXPS": 0}, files
    astrom = 4.5 / math.sqrt(matches) + 1.0
    err = math.hypot(20.0 / math.sqrt(counts), astrom)
    ra, dec = _scatter(rng, src.ra, src.dec, err)
    ras, decs = sexagesimal(ra, dec)
    write("corrpos.dat", "\t".join(["%.5f" % ra, "%.5f" % dec, ras, decs, "%.1f" % err]) + "\n")
    shift = rng.normal(size=3) * np.array([2.0, 2.0, 1.5])
    write("xastrom_corr.dat", "\t".join(["%.2f" % shift[0], "%.2f" % shift[1], "%.2f" % shift[2],
                                         "%.2f" % astrom]) + "\n")
    return {"GotPos": 1, **_fmt_pos(ra, dec, err), "FromSXPS": 0}, files


def _gif():
    from .specbuild import GIF_1X1
    return GIF_1X1
