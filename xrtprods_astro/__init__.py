# Licensed under a 3-clause BSD style license - see LICENSE
"""
xrtprods_astro: Swift-XRT products from the UKSSDC product generator, the astropy way.

Light curves, hardness ratios, spectra with automatic fits, standard, enhanced and
astrometric positions, images and source lists for any point source, built by the
UK Swift Science Data Centre (https://www.swift.ac.uk/user_objects), returned as
astropy Tables with units, Time and SkyCoord objects and FITS HDULists.
"""
import logging

from astropy import config as _config

try:
    from .version import version as __version__
except ImportError:  # pragma: no cover - only in a source tree never installed
    __version__ = ""

log = logging.getLogger("xrtprods_astro")
# As astroquery does for its own logger: INFO by default, so progress on long
# waits is shown; ``log.setLevel("WARNING")`` silences it.
if not log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s [%(name)s]"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)


class Conf(_config.ConfigNamespace):
    """Configuration parameters for `xrtprods_astro`.

    Every item is read when it is used, never frozen at import, so
    ``conf.set_temp(...)`` and assignments made at run time take effect.
    """

    server = _config.ConfigItem(
        "https://www.swift.ac.uk",
        "Root URL of the UKSSDC site: the product generator lives under "
        "<server>/user_objects and the common API at <server>/API/main.php.",
        cfgtype="string")
    email = _config.ConfigItem(
        "",
        "Registered e-mail address used as the UKSSDC user identity. The "
        "XRTPRODS_EMAIL environment variable is used when this is empty.",
        cfgtype="string")
    timeout = _config.ConfigItem(
        60.0, "Time limit, in seconds, for one HTTP call.", cfgtype="float")
    poll_interval = _config.ConfigItem(
        60.0,
        "Seconds between status polls of a running job. UKSSDC asks for no "
        "more than about one poll a minute.", cfgtype="float")
    max_active_jobs = _config.ConfigItem(
        5, "Most jobs a batch run keeps active at once for a user (UKSSDC "
        "asks for no more than about five).", cfgtype="integer")
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


conf = Conf()

from .exceptions import *  # noqa: E402,F401,F403
from .request import ProductRequest  # noqa: E402,F401
from .job import XRTJob  # noqa: E402,F401
from .core import XRTProducts, XRTProductsClass  # noqa: E402,F401
