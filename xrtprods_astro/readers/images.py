# Licensed under a 3-clause BSD style license - see LICENSE
"""
Reader for the files of an ``image`` archive (protocol §6.6).

``images.log`` lists one image per line (``n  Emin  Emax``, keV); each image
is ``image<n>.img.gz`` (FITS); the exposure maps are ``summed_ex.img.gz`` and
``summed_vignet_ex.img.gz``. Everything is read into memory, so no file stays
open.
"""
import io
import logging
import re
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS, FITSFixedWarning

from ..exceptions import ReaderError, XRTProductsWarning

__all__ = ["ImageSet", "read_image_files", "read_fits_bytes"]

log = logging.getLogger("xrtprods_astro.readers")

_IMAGE_NAME = re.compile(r"^image(\d+)\.img(?:\.gz)?$")


def read_fits_bytes(source, what=None):
    """Read a FITS file (optionally gzip-compressed) wholly into memory.

    Parameters
    ----------
    source : str, path or bytes
    what : str, optional
        Name used in error messages.

    Returns
    -------
    `~astropy.io.fits.HDUList`
        With every HDU and its data loaded; no file handle is left open.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        The file cannot be read, its gzip data is broken, it is not FITS, a
        header declares more data than the file holds, or it is (or inflates
        to) more than ``conf.fits_max_bytes`` bytes: gzip data is counted as
        it inflates, so a small file that would inflate to gigabytes is
        stopped at the limit.
    """
    raw, what = checked_fits_bytes(source, what)
    try:
        with warnings.catch_warnings():
            # Truncated or padded files still read; the problem is reported here.
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            hdul = fits.open(io.BytesIO(raw), lazy_load_hdus=False)
            for hdu in hdul:
                hdu.data  # noqa: B018 - force the data into memory before closing
            hdul.close()
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError, AssertionError,
            fits.VerifyError) as exc:
        # A damaged header surfaces in astropy as any of these (a missing NAXISn is a
        # KeyError, an unreadable HDU a _CorruptedHDU without .data, a TTYPEn too long for
        # a card an AssertionError).
        raise ReaderError(f"{what}: not a readable FITS file ({type(exc).__name__}: {exc})") from None
    return hdul


def checked_fits_bytes(source, what=None):
    """The bytes of a FITS file (or gzipped FITS), inflated and checked, and the name to report.

    Checked before astropy sees them: at most ``conf.fits_max_bytes`` on disk and once inflated
    (counted as it inflates), a FITS start, and every header's declared sizes within the bytes.
    Shared by `read_fits_bytes` and the spectrum reader's link headers.

    Returns
    -------
    (bytes, str)
        The raw FITS bytes and ``what`` (the name errors use).

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        The file cannot be read, is too big, its gzip data is broken, or it is not FITS.
    """
    from .. import conf
    limit = int(conf.fits_max_bytes)
    if isinstance(source, (bytes, bytearray)):
        raw, what = bytes(source), what or "FITS data"
    else:
        path = Path(source)
        what = what or str(path)
        try:
            if path.stat().st_size > limit:
                raise ReaderError(f"{what}: {path.stat().st_size} bytes, more than the "
                                  f"{limit} allowed (conf.fits_max_bytes)")
            raw = path.read_bytes()
        except OSError as exc:
            raise ReaderError(f"{what}: cannot be read ({exc})") from None
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, what, limit)
    elif len(raw) > limit:
        raise ReaderError(f"{what}: {len(raw)} bytes, more than the {limit} allowed (conf.fits_max_bytes)")
    if not raw.startswith(b"SIMPLE  ="):
        raise ReaderError(f"{what}: not a FITS file")
    _check_sizes(raw, what)
    return raw, what


def _gunzip(raw, what, limit):
    """Inflate gzip data (members may be concatenated), refusing more than ``limit`` bytes out.

    Inflated piece by piece and counted as it grows: a small file that inflates to
    gigabytes is refused at the limit instead of exhausting memory.
    """
    from ..archives import _inflate
    out = bytearray()
    data = raw
    try:
        while data:
            inflater = zlib.decompressobj(31)
            for piece in _inflate(inflater, data):
                out += piece
                if len(out) > limit:
                    raise ReaderError(f"{what}: inflates to more than the {limit} bytes allowed "
                                      "(conf.fits_max_bytes)")
            if not inflater.eof:
                raise ReaderError(f"{what}: broken gzip data (cut short)")
            # Zero padding after the last member is allowed, as gzip allows it.
            data = inflater.unused_data.lstrip(b"\0")
    except zlib.error as exc:
        raise ReaderError(f"{what}: broken gzip data ({exc})") from None
    return bytes(out)


_SIZE_KEYS = (b"BITPIX", b"NAXIS", b"PCOUNT", b"GCOUNT", b"GROUPS")


def _size_cards(raw, pos):
    """The header starting at byte ``pos``: where it ends (after its END card; None when it has
    none) and its size cards (BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, GROUPS) as raw values."""
    cards = {}
    for start in range(pos, len(raw) - 79, 80):
        card = raw[start:start + 80]
        key = card[:8].rstrip()
        if key == b"END":
            return start + 80, cards
        if card[8:10] == b"= " and (key in _SIZE_KEYS or key.startswith(b"NAXIS")):
            cards[key] = card[10:].split(b"/")[0].strip()
    return None, cards


def _check_sizes(raw, what):
    """Refuse HDUs whose header declares more data than the file holds.

    Done on the raw cards before astropy reads anything: a header with an
    absurd NAXISn would otherwise make astropy work on sizes the bytes cannot
    back. Headers this cannot parse are left to astropy to report.
    """
    pos, number = 0, 0
    while pos < len(raw) and raw[pos:pos + 2880].strip(b"\0 "):
        end, cards = _size_cards(raw, pos)
        if end is None:
            return
        try:
            bitpix, naxis = abs(int(cards[b"BITPIX"])), int(cards[b"NAXIS"])
            axes = [int(cards.get(b"NAXIS%d" % n, b"0")) for n in range(1, min(naxis, 999) + 1)]
            pcount, gcount = int(cards.get(b"PCOUNT", b"0")), int(cards.get(b"GCOUNT", b"1"))
        except (KeyError, ValueError):
            return
        if naxis < 0 or naxis > 999 or any(a < 0 for a in axes) or gcount < 0 or pcount < 0:
            # Negative sizes make astropy loop for a very long time.
            raise ReaderError(f"{what}: HDU {number} has a negative or impossible size in its header "
                              f"(NAXIS={naxis}, NAXISn={axes[:5]}, PCOUNT={pcount}, GCOUNT={gcount})")
        if axes and axes[0] == 0 and cards.get(b"GROUPS") == b"T":
            axes = axes[1:]   # random groups: NAXIS1 = 0 stands for no axis
        size = 0
        if axes:
            size = bitpix // 8 * gcount * (pcount + int(np.prod(axes, dtype=object)))
        header = -(-(end - pos) // 2880) * 2880
        if size < 0 or pos + header + size > len(raw) + 2880:
            raise ReaderError(f"{what}: HDU {number} declares {size} bytes of data, but the file holds "
                              f"only {max(len(raw) - pos - header, 0)} after its header")
        pos += header + -(-size // 2880) * 2880
        number += 1


def _celestial_wcs(header):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header)
            # Inside the try: with CTYPE1 = RA---TAN but the latitude on an axis the image lacks
            # (CTYPE6), astropy finds a celestial pair and then fails (IndexError) to slice it.
            return wcs.celestial if wcs.has_celestial else None
        except Exception:  # noqa: BLE001 - any WCS failure means "no valid WCS"
            return None


@dataclass
class ImageSet:
    """The images of an ``image`` product.

    Attributes
    ----------
    images : list of `~astropy.io.fits.HDUList`
        One per energy band, in the order of ``bands``; each primary header
        carries ``EMIN`` / ``EMAX`` (keV).
    bands : `~astropy.table.Table`
        ``number``, ``emin``, ``emax`` (keV), ``file`` and ``has_wcs`` for
        each image.
    summed_ex : `~astropy.io.fits.HDUList` or None
        Exposure map without vignetting.
    summed_vignet_ex : `~astropy.io.fits.HDUList` or None
        Exposure map with vignetting.
    directory : `pathlib.Path`
    meta : dict
        ``job_id`` and ``target`` when the set came from a job.
    """

    images: list
    bands: Table
    summed_ex: fits.HDUList = None
    summed_vignet_ex: fits.HDUList = None
    directory: Path = None
    paths: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.images)

    def __iter__(self):
        return iter(self.images)

    def __getitem__(self, index):
        return self.images[index]

    def wcs(self, index=0):
        """The celestial `~astropy.wcs.WCS` of image ``index``."""
        wcs = _celestial_wcs(self.images[index][0].header)
        if wcs is None:
            raise ReaderError(f"image {index}: its header has no valid celestial WCS")
        return wcs

    def band(self, emin, emax):
        """The image of the band ``emin``-``emax`` (keV numbers or Quantities)."""
        lo = u.Quantity(emin, u.keV).to_value(u.keV)
        hi = u.Quantity(emax, u.keV).to_value(u.keV)
        for row, image in zip(self.bands, self.images):
            if np.isclose(row["emin"], lo) and np.isclose(row["emax"], hi):
                return image
        available = ", ".join(f"{r['emin']:g}-{r['emax']:g}" for r in self.bands)
        raise KeyError(f"no image for the band {lo:g}-{hi:g} keV; available: {available}")

    def __repr__(self):
        from ..display import imageset_repr
        return imageset_repr(self)

    def _repr_html_(self):
        from ..display import imageset_html
        return imageset_html(self)

    def plot(self, index=0, **kwargs):
        """Plot with `xrtprods_astro.plotting.plot_image`; returns ``(fig, ax)``."""
        from ..plotting import plot_image
        return plot_image(self, index, **kwargs)


def _read_log(path):
    bands = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", "!")):
            continue
        fields = line.split()
        if len(fields) < 3:
            raise ReaderError(f"{path}, line {number}: expected 'n Emin Emax', got {line!r}")
        try:
            index, emin, emax = int(fields[0]), float(fields[1]), float(fields[2])
        except ValueError:
            raise ReaderError(f"{path}, line {number}: expected 'n Emin Emax' numbers, "
                              f"got {line!r}") from None
        # Finite too: the band goes into the image's header, where FITS allows no inf.
        if not (0 <= emin < emax and np.isfinite(emax)):
            raise ReaderError(f"{path}, line {number}: energy band {emin}-{emax} keV is not valid")
        bands[index] = (emin, emax)
    return bands


def _find_file(directory, *names):
    for name in names:
        path = directory / name
        if path.is_file():
            return path
    return None


def read_image_files(directory):
    """Read the images and exposure maps of an unpacked ``image`` archive.

    Parameters
    ----------
    directory : str or path
        The directory holding ``images.log`` and ``image<n>.img.gz`` (or a
        directory with an ``image/`` sub-directory holding them).

    Returns
    -------
    `ImageSet`

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If no image is found, ``images.log`` is malformed or names an image
        that is missing, or a file is not FITS.

    Notes
    -----
    The energy band of each image comes from ``images.log``; it is written
    into the primary header as ``EMIN`` / ``EMAX`` (keV) when absent. An
    image without ``images.log`` takes its band from those keywords if
    present (else the band is masked). An image whose header has no valid
    celestial WCS is kept, with a warning and ``has_wcs`` False.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ReaderError(f"directory: {directory} is not a directory")
    if not (directory / "images.log").is_file() and (directory / "image" / "images.log").is_file():
        directory = directory / "image"

    files = {}
    for path in directory.iterdir():
        match = _IMAGE_NAME.match(path.name)
        if match and path.is_file():
            number = int(match.group(1))
            if number not in files or path.name.endswith(".gz"):
                files[number] = path
    log_path = directory / "images.log"
    bands = _read_log(log_path) if log_path.is_file() else {}
    missing = sorted(set(bands) - set(files))
    if missing:
        raise ReaderError(f"{log_path}: lists image(s) {', '.join(map(str, missing))} but "
                          f"{', '.join(f'image{n}.img.gz' for n in missing)} not found")
    if not files:
        raise ReaderError(f"{directory}: no image<n>.img.gz file: not an image product directory")

    numbers = sorted(files)
    images, emins, emaxs, masks, has_wcs = [], [], [], [], []
    for number in numbers:
        hdul = read_fits_bytes(files[number])
        header = hdul[0].header
        if number in bands:
            emin, emax = bands[number]
            if "EMIN" not in header:
                header["EMIN"] = (emin, "lower energy of the image band (keV)")
            if "EMAX" not in header:
                header["EMAX"] = (emax, "upper energy of the image band (keV)")
            masked = False
        elif "EMIN" in header and "EMAX" in header:
            emin, emax, masked = float(header["EMIN"]), float(header["EMAX"]), False
        else:
            emin, emax, masked = 0.0, 0.0, True
        ok = _celestial_wcs(header) is not None
        if not ok:
            warnings.warn(f"{files[number].name}: the header has no valid celestial WCS",
                          XRTProductsWarning)
        images.append(hdul)
        emins.append(emin)
        emaxs.append(emax)
        masks.append(masked)
        has_wcs.append(ok)

    table = Table()
    table["number"] = np.array(numbers, dtype=int)
    table["emin"] = MaskedColumn(emins, mask=masks, unit=u.keV, dtype=float)
    table["emax"] = MaskedColumn(emaxs, mask=masks, unit=u.keV, dtype=float)
    table["file"] = [files[n].name for n in numbers]
    table["has_wcs"] = np.array(has_wcs, dtype=bool)

    paths = {f"image{n}": files[n] for n in numbers}
    maps = {}
    for name in ("summed_ex", "summed_vignet_ex"):
        path = _find_file(directory, f"{name}.img.gz", f"{name}.img")
        maps[name] = read_fits_bytes(path) if path is not None else None
        if path is not None:
            paths[name] = path
    return ImageSet(images=images, bands=table, directory=directory, paths=paths, **maps)
