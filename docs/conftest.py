# Licensed under a 3-clause BSD style license - see LICENSE
"""Run documentation doctests in a temporary directory so downloads do not litter the tree."""
import pytest


@pytest.fixture(autouse=True)
def _docs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
