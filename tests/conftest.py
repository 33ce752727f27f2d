# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared test configuration, and the counting fake of the UKSSDC service."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest
from astropy.utils import iers

# The suite runs offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False

# Tests must never read a developer's own identity or configuration.
os.environ.pop("XRTPRODS_EMAIL", None)
os.environ.pop("XRTPRODS_SERVER", None)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """Give every test its own astropy cache directory and a pristine conf."""
    from xrtprods_astro import conf
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    conf.reset()
    yield
    conf.reset()


# The counting fake behind requests.Session.request (tests/data/xrt_fake_session.py),
# registered once so that test modules can ``import xrt_fake_session as fake``.
_spec = importlib.util.spec_from_file_location("xrt_fake_session",
                                               Path(__file__).parent / "data" / "xrt_fake_session.py")
fake = importlib.util.module_from_spec(_spec)
sys.modules["xrt_fake_session"] = fake
_spec.loader.exec_module(fake)


@pytest.fixture
def service(monkeypatch):
    """The fake UKSSDC service, serving the recorded answers in tests/data.

    Its answers are scripted call by call, so job reuse (which reads the job
    list before a submission) is off here; tests/test_reuse.py turns it on.
    """
    from xrtprods_astro import conf
    monkeypatch.setattr(conf, "reuse_jobs", False)
    return fake.FakeService().install(monkeypatch)
