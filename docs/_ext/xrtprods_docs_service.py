# Licensed under a 3-clause BSD style license - see LICENSE
"""
The local service the documentation's figures are drawn against, at build time.

``plot_pre_code`` in ``conf.py`` calls `use_local_service` before each
``.. plot::`` block: the first call starts one
`~xrtprods_astro.server.LocalService` for the whole build (no network, no
account, deterministic products) and points the shared client at it, as
``docs/conftest.py`` does for the doctests. A later issue replaces this with
``XRTPRODS_SERVER=local``.
"""
import atexit
import logging
import shutil
import tempfile
from pathlib import Path

_STATE = {}


def use_local_service():
    """Start the build's local service once, and point `~xrtprods_astro.XRTProducts` at it."""
    if "service" in _STATE:
        return _STATE["service"]
    from astropy.utils import iers

    from xrtprods_astro import XRTProducts, conf
    from xrtprods_astro.server import LocalService

    iers.conf.auto_download = False          # the build runs offline
    logging.getLogger("xrtprods_astro").setLevel(logging.WARNING)   # no spinner in the build log
    work = Path(tempfile.mkdtemp(prefix="xrtprods-docs-"))
    service = LocalService(job_duration=0, job_limit=None, data_dir=work / "service")
    service.start()
    atexit.register(shutil.rmtree, work, True)
    atexit.register(service.stop)
    conf.server = service.url
    conf.email = service.email
    conf.poll_interval = 0.1
    conf.name_resolver = "service"          # Sesame would need the network
    XRTProducts.cache_location = work / "cache"
    XRTProducts.login(service.email)
    _STATE["service"] = service
    return service
