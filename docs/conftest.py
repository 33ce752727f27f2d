# Licensed under a 3-clause BSD style license - see LICENSE
"""
Run the documentation's examples as doctests, exactly as a reader runs them.

Every code example in ``docs/**/*.rst`` runs (pytest-doctestplus, ``--doctest-rst``) with what
each page tells the reader to set, and nothing else:

* ``XRTPRODS_SERVER=local``, as the note at the top of each page says: the client starts the
  service that ships with the package and talks to it (no network, any e-mail address, names
  resolved by the service, sub-second polls on loopback). The page logs in itself where it
  needs to, with ``XRTProducts.login(...)``;
* each page starts as a fresh Python process would: in an empty working folder with its own
  cache folder (``XDG_CACHE_HOME``), the configuration at its defaults and the shared client
  with no identity, so no page sees what another page did;
* what is not the package's business is set for the test run only: matplotlib uses the Agg
  backend, and IERS tables are never downloaded (the machine may be offline).

tests/test_docs_as_scripts.py runs the same code as plain scripts in fresh processes.
Examples that need the network (SIMBAD, VizieR, the real service) are in
``.. doctest-remote-data::`` blocks and are skipped unless ``--remote-data`` is given.
"""
import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

from astropy.utils import iers  # noqa: E402

# The Sphinx configuration and extensions are build files, not documentation to
# test; they import Sphinx, which the test environment does not install.
collect_ignore = ["conf.py"]
collect_ignore_glob = ["_ext/*"]

# The doctests run offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False


@pytest.fixture(autouse=True)
def _fresh_reader(tmp_path, monkeypatch):
    from xrtprods_astro import XRTProducts, conf
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XRTPRODS_SERVER", "local")      # the one line each page asks for
    monkeypatch.delenv("XRTPRODS_EMAIL", raising=False)  # nor the developer's identity
    # The shared client as a new process has it: no e-mail, default cache folder (which follows
    # XDG_CACHE_HOME), and the configuration at its defaults.
    monkeypatch.setattr(XRTProducts, "_email", None)
    monkeypatch.setattr(XRTProducts, "_cache_location", None)
    conf.reset()
    yield
    conf.reset()
    try:
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass
