# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared test configuration."""
import os

import pytest
from astropy.utils import iers

# The suite runs offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False

# Tests must never read a developer's own identity or configuration.
os.environ.pop("XRTPRODS_EMAIL", None)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """Give every test its own astropy cache directory and a pristine conf."""
    from xrtprods_astro import conf
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    conf.reset()
    yield
    conf.reset()
