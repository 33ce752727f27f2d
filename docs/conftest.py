# Licensed under a 3-clause BSD style license - see LICENSE
"""Run documentation doctests in a temporary directory so downloads do not litter the tree."""
import pytest
from astropy.utils import iers

# The doctests run offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False


@pytest.fixture(autouse=True)
def _docs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
