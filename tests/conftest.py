# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared test configuration, and the counting fake of the UKSSDC service."""
import importlib.util
import sys
from pathlib import Path

import pytest
from astropy.utils import iers

# The suite runs offline: never try to refresh IERS or leap-second tables.
iers.conf.auto_download = False

# The local service's fixtures (xrtprods_service, xrtprods_service_factory). The plugin is
# opt-in, not a pytest11 entry point, so it is enabled here as users enable it.
pytest_plugins = ["xrtprods_astro.server.pytest_plugin"]


@pytest.fixture(autouse=True)
def _isolated_config(request, tmp_path, monkeypatch):
    """Give every test its own astropy cache directory and a pristine conf.

    Offline tests never see the developer's identity (``XRTPRODS_EMAIL``); the tests marked
    ``remote_data`` keep it, since they run against the real service as that user.
    """
    from xrtprods_astro import conf
    (tmp_path / "cache").mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if request.node.get_closest_marker("remote_data") is None:
        monkeypatch.delenv("XRTPRODS_EMAIL", raising=False)
    # Every test names its server itself (a developer's XRTPRODS_SERVER=local must not leak in).
    monkeypatch.delenv("XRTPRODS_SERVER", raising=False)
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
