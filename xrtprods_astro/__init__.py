# Licensed under a 3-clause BSD style license - see LICENSE
"""
xrtprods_astro: Swift-XRT products from the UKSSDC product generator, the astropy way.

Light curves, hardness ratios, spectra with automatic fits, standard, enhanced and
astrometric positions, images and source lists for any point source, built by the
UK Swift Science Data Centre (https://www.swift.ac.uk/user_objects), returned as
astropy Tables with units, Time and SkyCoord objects and FITS HDULists.
"""
import logging
import sys

try:
    from .version import version as __version__
except ImportError:  # pragma: no cover - only in a source tree never installed
    __version__ = ""


class _FallbackHandler(logging.StreamHandler):
    """Print a record on standard error only while the application has configured no logging.

    Python prints a record that finds no handler through `logging.lastResort`, but only from
    WARNING up; astroquery shows INFO (progress, "Downloaded ...") by default. This handler
    fills that gap and nothing more: as soon as any handler would receive the record (a
    ``logging.basicConfig`` root handler, pytest's capture, a handler of the application's on
    ``xrtprods_astro``), it stays silent, so each record is shown once. The stream is looked up
    at each record, as `logging.lastResort` does, so redirections of ``sys.stderr`` apply.
    """

    def __init__(self):
        logging.Handler.__init__(self)
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s [%(name)s]"))

    @property
    def stream(self):
        return sys.stderr

    def handle(self, record):
        logger = logging.getLogger(record.name)
        while logger is not None:
            if any(handler is not self for handler in logger.handlers):
                return False
            if not logger.propagate:
                break
            logger = logger.parent
        return super().handle(record)


# The package logger, parent of every module's logger. Its level follows astropy's
# ``[logger] log_level`` (INFO unless configured), as astroquery's logger does, so
# progress shows by default and ``log.setLevel("WARNING")`` silences it. Importing the
# package imports no astropy (the command line's --help needs none): the level is
# astropy's default, INFO, until astropy's setting is applied with the configuration
# (`_follow_astropy_log_level`), which every call of the client reads first.
log = logging.getLogger("xrtprods_astro")
_IMPORT_LEVEL = logging.INFO
if log.level == logging.NOTSET:
    # A level the application set before importing the package is its choice: kept.
    log.setLevel(_IMPORT_LEVEL)
for _old in [h for h in log.handlers if type(h).__name__ == "_FallbackHandler"]:
    log.removeHandler(_old)  # a reloaded package must not print each record twice
log.addHandler(_FallbackHandler())
_followed = False


def _follow_astropy_log_level():
    """Apply astropy's ``[logger] log_level``, unless the level was changed since the import."""
    global _followed
    if _followed:
        return
    _followed = True
    from astropy import logger as astropy_logger
    if log.level == _IMPORT_LEVEL:
        log.setLevel(astropy_logger.conf.log_level)


def _make_conf():
    """Define `Conf` and make `conf` (on first use: astropy.config costs the import of astropy)."""
    from astropy import config as _config

    class Conf(_config.ConfigNamespace):
        """Configuration parameters for `xrtprods_astro`.

        Every item is read when it is used, never frozen at import, so
        ``conf.set_temp(...)`` and assignments made at run time take effect.
        """

        server = _config.ConfigItem(
            "https://www.swift.ac.uk",
            "Root URL of the UKSSDC site: the product generator lives under "
            "<server>/user_objects and the common API at <server>/API/main.php. "
            "'local': the bundled service, started in the background for the life "
            "of the Python process, keeping its jobs in the package cache. The "
            "XRTPRODS_SERVER environment variable (a URL or 'local') is used while "
            "this keeps its default.",
            cfgtype="string")
        email = _config.ConfigItem(
            "",
            "Registered e-mail address used as the UKSSDC user identity. The "
            "XRTPRODS_EMAIL environment variable is used when this is empty.",
            cfgtype="string")
        timeout = _config.ConfigItem(
            60.0, "Time limit, in seconds, for one HTTP call.", cfgtype="float")
        poll_interval = _config.ConfigItem(
            "auto",
            "Seconds between status polls of a running job, or 'auto': 0.5 s for "
            "a server on this machine, 60 s for any other (UKSSDC asks for no more "
            "than about one poll a minute; less than that warns).", cfgtype="pass")
        max_active_jobs = _config.ConfigItem(
            5, "Most jobs a batch run keeps active at once for a user (UKSSDC "
            "asks for no more than about five); also the most upper-limit or "
            "cone requests a Table of targets has in flight at once.", cfgtype="integer")
        retries = _config.ConfigItem(
            4, "Retries of an idempotent call after a connection error, an HTTP "
            "5xx answer or an HTML page instead of JSON.", cfgtype="integer")
        backoff = _config.ConfigItem(
            1.0, "Base delay in seconds of the exponential back-off between "
            "retries (full jitter).", cfgtype="float")
        cache_timeout = _config.ConfigItem(
            604800, "Seconds a cached product retrieval stays valid (-1: never "
            "expires). Job control calls are never cached.", cfgtype="integer")
        name_resolver = _config.ConfigItem(
            "client",
            "Where target names are resolved: 'client' (astropy's Sesame "
            "resolver, position reported in the result) or 'service' (the "
            "UKSSDC getCoords option).", cfgtype="string")
        reuse_jobs = _config.ConfigItem(
            True,
            "Re-attach to an existing job of the same user on the same server "
            "when the same request is submitted again, instead of loading the "
            "service with a new one (failed or cancelled jobs are not reused; "
            "reuse=False on a call forces a new job).", cfgtype="boolean")
        max_downloads = _config.ConfigItem(
            4, "Most archive files an observation-data download fetches at once from "
            "one server (xrtprods_astro.obsdata).", cfgtype="integer")
        # -- limits that keep a faulty or hostile server from costing unbounded time or disk
        deadline = _config.ConfigItem(
            600.0, "Total seconds one call may take, retries and pauses included "
            "(0: no total limit; each HTTP exchange is still limited by timeout).", cfgtype="float")
        min_download_rate = _config.ConfigItem(
            1024.0, "Bytes per second below which a download is abandoned (and "
            "retried) once it has run for timeout seconds (0: no minimum).", cfgtype="float")
        archive_max_bytes = _config.ConfigItem(
            4 << 30, "Most bytes a product archive may expand to when checked or "
            "extracted.", cfgtype="integer")
        archive_max_members = _config.ConfigItem(
            20000, "Most members a product archive may hold.", cfgtype="integer")
        qdp_max_bytes = _config.ConfigItem(
            1 << 30, "Most bytes of QDP text (a light curve, hardness ratio or "
            "burst-analyser file) a reader takes; real files are a few MB at most.",
            cfgtype="integer")
        qdp_max_sections = _config.ConfigItem(
            1000, "Most sections (NO-separated tables) a QDP file may hold; real "
            "files hold a few dozen at most, and each section costs a table.",
            cfgtype="integer")
        max_answer_bytes = _config.ConfigItem(
            256 << 20, "Most bytes one answer of the service (JSON, or a small text file read "
            "into memory) may hold, as sent and once decoded; a larger one is refused.",
            cfgtype="integer")
        fits_max_bytes = _config.ConfigItem(
            512 << 20, "Most bytes a product FITS file (image, exposure map, spectrum, "
            "response) may take once inflated; XRT products are a few MB.", cfgtype="integer")

    Conf.__module__, Conf.__qualname__ = __name__, "Conf"
    return Conf, Conf()


# Every public name, the configuration and the exceptions included, is imported on first
# access (``__getattr__`` below), so that ``import xrtprods_astro`` costs little and
# imports neither astropy, the client, the batch runner nor the readers before they are
# used (the command line builds its parser, and answers --help, without them).

#: The exceptions (`xrtprods_astro.exceptions.__all__`; a test checks the two agree).
_EXCEPTIONS = ("XRTProductsError", "InvalidRequestError", "RemoteServiceError", "UnknownUserError",
               "JobLimitError", "ServiceUnavailableError", "SubmissionUnknownError", "JobTimeoutError",
               "ProductUnavailableError", "ProductNotReadyError", "ProductNotRequestedError",
               "ProductFailedError", "ReaderError", "ResolverError", "XRTProductsWarning")

#: Public name -> module (relative to this package) that defines it, imported on first use.
_LAZY = {
    # the client and its job
    "XRTProducts": "core",
    "XRTProductsClass": "core",
    "XRTJob": "job",
    "GRBs": "grb", "GRBClass": "grb",   # the GRB repository (API/main.php), xrtprods_astro/grb.py
    "XRTCatalogues": "catalogues", "CataloguesClass": "catalogues",  # queryDB, upper limits: catalogues.py
    "XRTObsData": "obsdata", "ObsDataClass": "obsdata",  # getObsByTarg, listObsFiles, files: obsdata.py
    "ProductRequest": "request",
    # many targets
    "run_batch": "batch",
    "BatchRun": "batch",
    # what the product calls return
    "LightCurve": "readers.lightcurve",
    "SpectrumResult": "core",
    "SpectrumProducts": "readers.spectrum",
    "ModeProducts": "readers.spectrum",
    "Position": "readers.positions",
    "ImageSet": "readers.images",
    **{name: "exceptions" for name in _EXCEPTIONS},
}

#: The readers' result classes are importable from here, but listed (and documented) by
#: `xrtprods_astro.readers` only: docs/api.rst documents this module from ``__all__``, and a
#: class listed in both would be described twice (a Sphinx warning, an error in our build).
_LISTED_BY_READERS = ("LightCurve", "SpectrumProducts", "ModeProducts", "Position", "ImageSet")

__all__ = ["conf", "Conf", "log", *(name for name in _LAZY if name not in _LISTED_BY_READERS
                                    and name not in _EXCEPTIONS), *_EXCEPTIONS]


def __getattr__(name):
    if name in ("conf", "Conf"):
        globals()["Conf"], globals()["conf"] = _make_conf()
        _follow_astropy_log_level()
        return globals()[name]
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    _follow_astropy_log_level()  # astropy is loaded by now
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_LAZY) | {"conf", "Conf"})
