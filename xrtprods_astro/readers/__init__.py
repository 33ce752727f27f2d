# Licensed under a 3-clause BSD style license - see LICENSE
"""
Pure readers: service answers and product files in, astropy objects out.

Nothing here speaks HTTP. Each reader takes a decoded JSON answer (a dict), text,
bytes or a path, and returns Tables with units, `~astropy.time.Time` and
`~astropy.coordinates.SkyCoord` objects or `~astropy.io.fits.HDUList` objects.
Malformed input raises `~xrtprods_astro.exceptions.ReaderError`.
"""
from .burst import read_burst_analyser
from .images import ImageSet, read_image_files
from .jobs import read_job_list
from .lightcurve import LightCurve, read_lightcurve_files, read_lightcurve_json, read_lightcurve_qdp
from .positions import Position, read_position, read_position_files
from .qdp import QDPFile, QDPSection, read_qdp
from .sourcelist import read_source_list, read_source_list_files
from .spectrum import (ModeProducts, SpectrumProducts, read_fit_file, read_spectral_fits,
                       read_spectrum_archive)

__all__ = ["read_burst_analyser", "ImageSet", "read_image_files", "read_job_list", "LightCurve",
           "read_lightcurve_files",
           "read_lightcurve_json", "read_lightcurve_qdp", "Position", "read_position",
           "read_position_files", "QDPFile", "QDPSection", "read_qdp", "read_source_list",
           "read_source_list_files", "ModeProducts", "SpectrumProducts", "read_fit_file",
           "read_spectral_fits", "read_spectrum_archive"]
