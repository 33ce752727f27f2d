# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the image-product reader."""
import gzip
import io

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS

from xrtprods_astro.exceptions import ReaderError, XRTProductsWarning
from xrtprods_astro.readers.images import ImageSet, read_fits_bytes, read_image_files

BANDS = [(1, 0.3, 10.0), (2, 0.3, 1.5), (3, 1.51, 10.0)]


def xrt_image(seed, size=40, wcs=True):
    """A small XRT-like sky image: counts with a TAN WCS around GRB 200416A."""
    rng = np.random.default_rng(seed)
    data = rng.poisson(0.2, (size, size)).astype(np.int32)
    data[size // 2, size // 2] += 50
    header = fits.Header()
    if wcs:
        header.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": size / 2 + 0.5,
                       "CRPIX2": size / 2 + 0.5, "CRVAL1": 335.6985, "CRVAL2": -7.5179,
                       "CDELT1": -6.548e-4, "CDELT2": 6.548e-4, "CUNIT1": "deg", "CUNIT2": "deg",
                       "RADESYS": "ICRS", "EQUINOX": 2000.0})
    header["TELESCOP"] = "SWIFT"
    header["INSTRUME"] = "XRT"
    return fits.PrimaryHDU(data, header=header)


def write_gz(hdu, path):
    buffer = io.BytesIO()
    fits.HDUList([hdu]).writeto(buffer)
    path.write_bytes(gzip.compress(buffer.getvalue()))


@pytest.fixture
def image_dir(tmp_path):
    directory = tmp_path / "image"
    directory.mkdir()
    (directory / "images.log").write_text("".join(f"{n}\t{lo}\t{hi}\n" for n, lo, hi in BANDS))
    for n, _, _ in BANDS:
        write_gz(xrt_image(n), directory / f"image{n}.img.gz")
        (directory / f"image{n}.gif").write_bytes(b"GIF89a")
    exposure = xrt_image(9)
    exposure.data = np.full((40, 40), 812.5, dtype=np.float32)
    write_gz(exposure, directory / "summed_ex.img.gz")
    exposure.data = np.full((40, 40), 640.25, dtype=np.float32)
    write_gz(exposure, directory / "summed_vignet_ex.img.gz")
    return directory


def test_images_bands_and_headers(image_dir):
    images = read_image_files(image_dir)
    assert isinstance(images, ImageSet) and len(images) == 3
    assert list(images.bands["number"]) == [1, 2, 3]
    assert images.bands["emin"].unit == u.keV and images.bands["emax"].unit == u.keV
    assert list(images.bands["emin"]) == [0.3, 0.3, 1.51]
    assert list(images.bands["emax"]) == [10.0, 1.5, 10.0]
    assert list(images.bands["file"]) == ["image1.img.gz", "image2.img.gz", "image3.img.gz"]
    assert all(images.bands["has_wcs"])
    for hdul, (n, lo, hi) in zip(images, BANDS):
        assert isinstance(hdul, fits.HDUList)
        assert hdul[0].header["EMIN"] == lo and hdul[0].header["EMAX"] == hi
        np.testing.assert_array_equal(hdul[0].data, xrt_image(n).data)
    assert images.band(1.51, 10 * u.keV) is images[2]
    with pytest.raises(KeyError, match="available: 0.3-10, 0.3-1.5, 1.51-10"):
        images.band(2, 10)
    assert "3 image(s)" in repr(images)


def test_wcs_is_valid(image_dir):
    images = read_image_files(image_dir)
    wcs = images.wcs(0)
    assert isinstance(wcs, WCS) and wcs.has_celestial
    sky = wcs.pixel_to_world(19.5, 19.5)
    assert sky.ra.deg == pytest.approx(335.6985, abs=1e-6)
    assert sky.dec.deg == pytest.approx(-7.5179, abs=1e-6)


def test_exposure_maps(image_dir):
    images = read_image_files(image_dir)
    assert float(images.summed_ex[0].data[0, 0]) == 812.5
    assert float(images.summed_vignet_ex[0].data[5, 5]) == 640.25
    assert images.paths["summed_ex"].name == "summed_ex.img.gz"


def test_parent_directory_and_existing_emin_kept(image_dir):
    hdu = xrt_image(1)
    hdu.header["EMIN"] = 0.31
    write_gz(hdu, image_dir / "image1.img.gz")
    images = read_image_files(image_dir.parent)
    # A value already in the header is not overwritten; the band table follows images.log.
    assert images[0][0].header["EMIN"] == 0.31
    assert images.bands["emin"][0] == 0.3


def test_without_log_and_without_wcs(tmp_path):
    write_gz(xrt_image(1, wcs=False), tmp_path / "image1.img.gz")
    with pytest.warns(XRTProductsWarning, match="no valid celestial WCS"):
        images = read_image_files(tmp_path)
    assert images.bands["emin"].mask[0] and not images.bands["has_wcs"][0]
    assert images.summed_ex is None
    with pytest.raises(ReaderError, match="no valid celestial WCS"):
        images.wcs(0)


def test_errors(tmp_path, image_dir):
    with pytest.raises(ReaderError, match="not a directory"):
        read_image_files(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReaderError, match="no image<n>.img.gz"):
        read_image_files(empty)
    (image_dir / "image3.img.gz").unlink()
    with pytest.raises(ReaderError, match="image3.img.gz not found"):
        read_image_files(image_dir)
    (image_dir / "images.log").write_text("1 0.3\n")
    with pytest.raises(ReaderError, match="expected 'n Emin Emax'"):
        read_image_files(image_dir)
    (image_dir / "images.log").write_text("1 10 0.3\n")
    with pytest.raises(ReaderError, match="not valid"):
        read_image_files(image_dir)
    (image_dir / "images.log").write_text("1 0.3 10\n")
    (image_dir / "image1.img.gz").write_bytes(gzip.compress(b"not fits at all"))
    with pytest.raises(ReaderError, match="not a FITS file"):
        read_image_files(image_dir)


def test_read_fits_bytes_leaves_nothing_open(tmp_path):
    path = tmp_path / "x.img"
    fits.HDUList([xrt_image(3)]).writeto(path)
    hdul = read_fits_bytes(path)
    path.unlink()  # the data are in memory: the file is no longer needed
    assert hdul[0].data.sum() == xrt_image(3).data.sum()
    hdul[0].data[0, 0] = 7  # and writeable
