# Licensed under a 3-clause BSD style license - see LICENSE
"""
Images and source lists of the simulated sky.

Images are 500x500 sky pixels of 2.357" on a TAN projection centred on the job position, built
from PC-mode data: each simulated source contributes Poisson counts spread with a King PSF
(r_c = 5.8", beta = 1.5), on top of a uniform Poisson background; exposure maps sum the snapshots
within the 11.8' field of view of each pointing, with (``summed_vignet_ex``) or without
(``summed_ex``) a simple quadratic vignetting. Files follow protocol.md §6.6.

Source detection lists every simulated source whose Poisson counts in a band are significant at
3 sigma or more over the local background (no real detection algorithm is run).
"""
import gzip
import io
import math
import re

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from .catalogue import FOV_RADIUS_ARCMIN, angular_separation_arcmin
from .lcbuild import detection_sigma
from .sky import (PIXEL_ARCSEC, REGION, ProductFailure, _rng, band_fraction, source_rate, total_nh)

__all__ = ["build_images", "build_source_list", "image_wcs", "IMAGE_SIZE", "DET_BANDS"]

IMAGE_SIZE = 500
#: Bands of the source-detection product (keV).
DET_BANDS = {"Total": (0.3, 10.0), "Soft": (0.3, 1.0), "Medium": (1.0, 2.0), "Hard": (2.0, 10.0)}
_BKG_PER_PIXEL = REGION["PC"]["bkg"] / (math.pi * REGION["PC"]["radius"] ** 2)  # ct/s/pixel


def image_wcs(ra, dec, size=IMAGE_SIZE):
    """A TAN celestial WCS of ``size`` x ``size`` XRT sky pixels centred on (ra, dec)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    w.wcs.cdelt = [-PIXEL_ARCSEC / 3600.0, PIXEL_ARCSEC / 3600.0]
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.radesys = "FK5"
    w.wcs.equinox = 2000.0
    return w


def _pc_windows(windows):
    pc = [w for w in windows if w[0].mode == "PC"]
    if not pc:
        raise ProductFailure("No PC-mode data in the selected observations: images and source detection "
                             "need PC mode.")
    return pc


def _source_exposure(src, windows):
    """(integrated source counts ignoring vignetting, total exposure with the source in the FoV)."""
    counts, expo = 0.0, 0.0
    for snap, a, b in windows:
        off = float(angular_separation_arcmin(src.ra, src.dec, snap.ra_pnt, snap.dec_pnt))
        if off > FOV_RADIUS_ARCMIN:
            continue
        vig = 1.0 - 0.35 * (off / FOV_RADIUS_ARCMIN) ** 2
        grid = np.linspace(a, b, 17)
        rate = source_rate(src, grid)
        counts += vig * float(np.mean(rate)) * (b - a)
        expo += b - a
    return counts, expo


def _exposure_maps(wcs, windows, size):
    yy, xx = np.mgrid[0:size, 0:size]
    flat = np.zeros((size, size))
    vig = np.zeros((size, size))
    by_point = {}
    for snap, a, b in windows:
        key = (snap.ra_pnt, snap.dec_pnt)
        by_point[key] = by_point.get(key, 0.0) + (b - a)
    for (ra, dec), expo in by_point.items():
        px, py = wcs.all_world2pix([[ra, dec]], 0)[0]
        off = np.hypot(xx - px, yy - py) * PIXEL_ARCSEC / 60.0
        inside = off <= FOV_RADIUS_ARCMIN
        flat += np.where(inside, expo, 0.0)
        vig += np.where(inside, expo * (1.0 - 0.35 * (off / FOV_RADIUS_ARCMIN) ** 2), 0.0)
    return np.round(flat).astype(np.float32), np.round(vig).astype(np.float32)


def _gz_fits(hdul):
    raw = io.BytesIO()
    hdul.writeto(raw)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return buf.getvalue()


def _header(hdr, sky, expo, band=None):
    hdr["TELESCOP"], hdr["INSTRUME"], hdr["DATAMODE"] = "SWIFT", "XRT", "PHOTON"
    hdr["OBJECT"] = sky.name
    hdr["EXPOSURE"] = (float(expo), "[s] total exposure")
    hdr["ORIGIN"] = ("xrtprods_astro local service", "Simulated data: not real Swift data")
    if band is not None:
        hdr["E_MIN"], hdr["E_MAX"] = (band[0], "[keV] lower energy"), (band[1], "[keV] upper energy")


def _parse_bands(text):
    bands = []
    for tok in str(text).split(","):
        m = re.fullmatch(r"\s*([0-9.]+)\s*-\s*([0-9.]+)\s*", tok)
        if not m:
            raise ProductFailure("imen: %r is not an energy band lo-hi in keV" % tok)
        lo, hi = float(m.group(1)), float(m.group(2))
        if not 0 <= lo < hi:
            raise ProductFailure("imen: band %r must have 0 <= lo < hi" % tok)
        bands.append((lo, hi))
    return bands


def build_images(sky, out_dir):
    """Build the image product: ``images.log``, ``image<n>.img.gz`` and the exposure maps.

    Returns
    -------
    data : dict
        ``{"Bands": [[emin, emax], ...], "Exposure": s}`` (the real service has no image JSON).
    files : list of `pathlib.Path`
    """
    bands = _parse_bands(sky.get("imen", "0.3-10,0.3-1.5,1.51-10"))
    windows = _pc_windows(sky.windows(sky.gets("imobs", "all"), sky.get("useimobs")))
    size = IMAGE_SIZE
    wcs = image_wcs(sky.ra, sky.dec, size)
    flat, vig = _exposure_maps(wcs, windows, size)
    total_expo = sum(b - a for _, a, b in windows)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    log = []
    for n, band in enumerate(bands, start=1):
        rng = _rng("image", sky.seed, n, band)
        bkg_frac = (min(band[1], 10.24) - min(band[0], 10.24)) / 10.1
        img = rng.poisson(np.maximum(flat, 0) * _BKG_PER_PIXEL * bkg_frac).astype(np.int32)
        for src in sky.field:
            expected, _ = _source_exposure(src, windows)
            n_ph = rng.poisson(expected * band_fraction(src.gamma, total_nh(src), "PC", *band))
            if n_ph == 0:
                continue
            px, py = wcs.all_world2pix([[src.ra, src.dec]], 0)[0]
            u = rng.random(n_ph)
            r = np.minimum(5.8 * np.sqrt((1.0 - u) ** (1.0 / (1.0 - 1.5)) - 1.0), 600.0) / PIXEL_ARCSEC
            th = rng.uniform(0, 2 * np.pi, n_ph)
            x = np.floor(px + 0.5 + r * np.cos(th)).astype(int)
            y = np.floor(py + 0.5 + r * np.sin(th)).astype(int)
            ok = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            np.add.at(img, (y[ok], x[ok]), 1)
        hdu = fits.PrimaryHDU(img, header=wcs.to_header())
        _header(hdu.header, sky, total_expo, band)
        path = out_dir / ("image%d.img.gz" % n)
        path.write_bytes(_gz_fits(fits.HDUList([hdu])))
        files.append(path)
        log.append("%d\t%g\t%g" % (n, band[0], band[1]))
    for name, arr in (("summed_ex.img.gz", flat), ("summed_vignet_ex.img.gz", vig)):
        hdu = fits.PrimaryHDU(arr, header=wcs.to_header())
        _header(hdu.header, sky, total_expo)
        hdu.header["BUNIT"] = "s"
        path = out_dir / name
        path.write_bytes(_gz_fits(fits.HDUList([hdu])))
        files.append(path)
    path = out_dir / "images.log"
    path.write_text("\n".join(log) + "\n")
    files.append(path)
    return {"Bands": [list(b) for b in bands], "Exposure": total_expo}, files


def build_source_list(sky, out_dir):
    """Build the source-detection product.

    Returns
    -------
    data : dict
        ``{band: [source dicts with string values]}`` for ``Total`` (``detbands=total``) or
        ``Total``, ``Soft``, ``Medium``, ``Hard`` (``detbands=all``).
    files : list of `pathlib.Path`
    """
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    which = sky.gets("detbands", "total")
    if which not in ("total", "all"):
        raise ProductFailure("detbands %r is not one of total, all" % which)
    names = ["Total"] if which == "total" else ["Total", "Soft", "Medium", "Hard"]
    detobs = sky.gets("detobs", "user")
    windows = _pc_windows(sky.windows(detobs, sky.get("usedetobs")))
    wcs = image_wcs(sky.ra, sky.dec)
    out_dir.mkdir(parents=True, exist_ok=True)
    data, files, region = {}, [], ["# Region file format: DS9 version 4.1", "fk5"]
    cell = math.pi * 10.0 ** 2  # detection cell, pixels
    for band in names:
        lo, hi = DET_BANDS[band]
        rng = _rng("sourcedet", sky.seed, band)
        rows = []
        for src in sky.field:
            expected, expo = _source_exposure(src, windows)
            if expo <= 0:
                continue
            bkg = _BKG_PER_PIXEL * cell * expo * (hi - lo) / 10.1
            c = int(rng.poisson(expected * band_fraction(src.gamma, total_nh(src), "PC", lo, hi) * 0.8
                                + bkg))
            sig = detection_sigma(c, bkg)
            if c < 5 or sig < 3.0:
                continue
            net = c - bkg
            err90 = math.hypot(22.0 / math.sqrt(net), 3.5)
            sd = err90 / 2.146 / 3600.0
            ra = src.ra + rng.normal() * sd / max(math.cos(math.radians(src.dec)), 1e-3)
            dec = src.dec + rng.normal() * sd
            x, y = wcs.all_world2pix([[ra, dec]], 1)[0]
            gal = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic
            rate = net / expo / 0.8
            rerr = math.sqrt(c + bkg) / expo / 0.8
            rows.append({"sno": "", "x": "%.2f" % x, "y": "%.2f" % y, "ra": "%.5f" % ra,
                         "ra_pos": "%.6f" % sd, "ra_neg": "%.6f" % -sd, "dec": "%.5f" % dec,
                         "dec_pos": "%.6f" % sd, "dec_neg": "%.6f" % -sd, "err90": "%.1f" % err90,
                         "l": "%.5f" % gal.l.deg, "b": "%.5f" % gal.b.deg, "C": "%d" % c,
                         "C_pos": "%.2f" % (1.0 + math.sqrt(c + 0.75)), "C_neg": "%.2f" % -math.sqrt(c),
                         "bg": "%.3f" % bkg, "exposure": "%.1f" % expo, "rate": "%.5g" % rate,
                         "rate_pos": "%.3g" % rerr, "rate_neg": "%.3g" % -rerr,
                         "snr": "%.2f" % (net / math.sqrt(c)), "sig": "%.2f" % sig,
                         "detflag": "Good" if sig >= 5 else "Reasonable"})
        rows.sort(key=lambda r: -float(r["rate"]))
        for i, r in enumerate(rows, start=1):
            r["sno"] = str(i)
            if band == "Total":
                region.append('circle(%s,%s,%s") # text={%d}' % (r["ra"], r["dec"], r["err90"], i))
        data[band] = rows
        keys = list(rows[0]) if rows else ["sno", "x", "y", "ra", "ra_pos", "ra_neg", "dec", "dec_pos",
                                           "dec_neg", "err90", "l", "b", "C"]
        path = out_dir / ("%s_sources.txt" % band)
        path.write_text("\n".join(["!" + "\t".join(keys)] + ["\t".join(r[k] for k in keys) for r in rows])
                        + "\n")
        files.append(path)
    path = out_dir / "sources.reg"
    path.write_text("\n".join(region) + "\n")
    files.append(path)
    return data, files
