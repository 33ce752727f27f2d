# Licensed under a 3-clause BSD style license - see LICENSE
"""
pytest plugin: fixtures that run the local XRT products service.

Opt-in, so that installing xrtprods_astro changes no other project's pytest sessions
(it is deliberately not a ``pytest11`` entry point). Enable it in a project's top-level
``conftest.py``::

    pytest_plugins = ["xrtprods_astro.server.pytest_plugin"]

or for one run with ``pytest -p xrtprods_astro.server.pytest_plugin``; then test
pipelines offline::

    def test_my_pipeline(xrtprods_service):
        run_pipeline(server=xrtprods_service.url, email=xrtprods_service.email)

    def test_flaky_network(xrtprods_service_factory):
        svc = xrtprods_service_factory(faults={"error_rate": 0.3, "seed": 1})

Importing this module costs nothing: the service is imported when a fixture
is first used.
"""
import pytest

#: Job duration (seconds) of the session-wide service: quick, but long enough to see jobs run.
FAST_JOB_DURATION = 0.3


@pytest.fixture(scope="session")
def xrtprods_service(tmp_path_factory):
    """A local XRT products service shared by the whole session (fast jobs, no faults).

    Yields a running `~xrtprods_astro.server.LocalService`; use ``.url`` as the server and ``.email``
    as the registered user.
    """
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=FAST_JOB_DURATION, job_limit=None,
                           data_dir=tmp_path_factory.mktemp("xrtprods_service"))
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def xrtprods_service_factory(tmp_path):
    """A function that starts a `~xrtprods_astro.server.LocalService` with any options.

    Every service it started is stopped at the end of the test. Keyword arguments are those of
    `LocalService`; ``job_duration`` defaults to a fast value and ``data_dir`` to a fresh temporary
    directory.
    """
    from xrtprods_astro.server.app import LocalService
    started = []

    def start(**options):
        options.setdefault("job_duration", FAST_JOB_DURATION)
        options.setdefault("data_dir", tmp_path / f"xrtprods_service_{len(started)}")
        service = LocalService(**options)
        service.start()
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:
            service.stop()
