# Licensed under a 3-clause BSD style license - see LICENSE
"""
Run the documentation's examples as doctests against the local XRT products service.

Every code example in ``docs/**/*.rst`` runs (pytest-doctestplus, ``--doctest-rst``):

* the session-wide `xrtprods_service` fixture of the package's pytest plugin (enabled
  below with ``pytest_plugins``; a
  `~xrtprods_astro.server.LocalService` on 127.0.0.1) stands in for UKSSDC, with short jobs, and
  the client is pointed at it with ``conf.set_temp``
  (server, e-mail and a quick poll interval), so the examples are exactly the
  lines a user types, minus the wait;
* each page runs in a fresh temporary directory with its own cache folder, so
  downloads do not litter the tree and no page sees another page's cache;
* names are resolved by the (local) service, ``conf.name_resolver = "service"``,
  since the client-side resolver (Sesame) needs the network;
* matplotlib uses the Agg backend; IERS tables are never downloaded;
* the package logger is set to WARNING, so waits print no progress spinner
  into the examples' output.

Examples that need the network (SIMBAD, VizieR, HEASARC, Gaia, the real
service) are in ``.. doctest-remote-data::`` blocks and are skipped unless
``--remote-data`` is given.
"""
import logging
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from astropy.utils import iers  # noqa: E402

# The Sphinx configuration and extension are build files, not documentation to
# test; they import Sphinx, which the test environment does not install.
collect_ignore = ["conf.py"]
collect_ignore_glob = ["_ext/*"]

# The doctests run offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False

# The local service's fixtures: the plugin is opt-in, enabled here as a user's conftest does.
pytest_plugins = ["xrtprods_astro.server.pytest_plugin"]

#: Seconds between status polls in the examples (UKSSDC itself asks for about 60).
DOCS_POLL_INTERVAL = 0.1


@pytest.fixture(autouse=True)
def _docs_in_tmp(tmp_path, monkeypatch, xrtprods_service, doctest_namespace):
    # The service is the package's own pytest-plugin fixture, as users' pipelines use it.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XRTPRODS_EMAIL", raising=False)
    from xrtprods_astro import XRTProducts, conf
    logger = logging.getLogger("xrtprods_astro")
    level = logger.level
    logger.setLevel(logging.WARNING)
    # Each page gets its own cache folder, and the shared client forgets the
    # identity a previous page logged in with.
    monkeypatch.setattr(XRTProducts, "_cache_location", tmp_path / "cache" / "xrtprods_astro")
    monkeypatch.setattr(XRTProducts, "_email", None)
    doctest_namespace["local_service"] = xrtprods_service
    with conf.set_temp("server", xrtprods_service.url), conf.set_temp("email", xrtprods_service.email), \
            conf.set_temp("poll_interval", DOCS_POLL_INTERVAL), conf.set_temp("name_resolver", "service"):
        try:
            yield
        finally:
            logger.setLevel(level)
            try:
                import matplotlib.pyplot as plt
                plt.close("all")
            except ImportError:
                pass
