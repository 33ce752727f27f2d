# Licensed under a 3-clause BSD style license - see LICENSE
"""``XRTPRODS_SERVER=local``: the bundled service in the background, jobs kept across runs, and
the poll interval each server gets."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest
from astropy import units as u

from xrtprods_astro import conf, localmode
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError, XRTProductsWarning
from xrtprods_astro.server.app import LocalService
from xrtprods_astro.server.jobs import JobStore

UKSSDC = "https://www.swift.ac.uk"
LOOPBACK = "http://127.0.0.1:8765"

# One run of a user's script: log in with any address, get a light curve by name (so the name
# goes through the service), and re-attach to the job a previous run made (its id in argv[2]).
SCRIPT = r"""
import json, sys
from xrtprods_astro import XRTProducts
XRTProducts.login(sys.argv[1])
before = [int(i) for i in XRTProducts.list_jobs()["job_id"]]
previous = {}
if len(sys.argv) > 2:
    old = XRTProducts.get_job(int(sys.argv[2]))
    previous = {"url": old.url, "pc_rows": len(old.lightcurve()["PC"])}
lc = XRTProducts.get_lightcurve("GRB 200416A")
print(json.dumps({"server": XRTProducts.server, "poll": XRTProducts.poll_interval,
                  "job_id": int(lc.meta["job_id"]), "url": XRTProducts.get_job(int(lc.meta["job_id"])).url,
                  "resolver": lc.meta["resolver"], "pc_rows": len(lc["PC"]), "before": before,
                  "previous": previous}))
"""


# ---------------------------------------------------------------------------- poll interval
@pytest.mark.parametrize("server, configured, expected", [
    (LOOPBACK, "auto", 0.5),
    ("http://localhost:9000", None, 0.5),
    ("http://[::1]:9000", "AUTO", 0.5),
    (UKSSDC, "auto", 60.0),
    (UKSSDC, None, 60.0),
    (LOOPBACK, 0.1, 0.1),
    (LOOPBACK, "2.5", 2.5),  # as read from a configuration file
    (UKSSDC, 120, 120.0),
    (UKSSDC, 2 * u.min, 120.0),
])
def test_poll_interval_follows_the_server(server, configured, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert localmode.effective_poll_interval(server, configured) == expected


def test_fast_polling_of_ukssdc_is_honoured_with_a_warning():
    with pytest.warns(XRTProductsWarning, match="one poll a minute"):
        assert localmode.effective_poll_interval(UKSSDC, 5) == 5.0


@pytest.mark.parametrize("bad", ["soon", -1, True, 3 * u.m])
def test_bad_poll_interval_names_the_allowed_values(bad):
    with pytest.raises(InvalidRequestError, match="poll_interval.*'auto'"):
        localmode.effective_poll_interval(LOOPBACK, bad)


def test_client_poll_interval_is_auto_by_default():
    assert conf.poll_interval == "auto"
    assert XRTProductsClass().poll_interval == 60.0
    assert XRTProductsClass(server=LOOPBACK).poll_interval == 0.5
    with conf.set_temp("poll_interval", 1.5):
        assert XRTProductsClass(server=LOOPBACK).poll_interval == 1.5
    with pytest.warns(XRTProductsWarning):
        assert XRTProductsClass(poll_interval=10).poll_interval == 10.0


# ---------------------------------------------------------------------------- server setting
def test_environment_replaces_only_the_default_server(monkeypatch):
    monkeypatch.setenv("XRTPRODS_SERVER", "https://mirror.example.org/")
    assert XRTProductsClass().server == "https://mirror.example.org"
    with conf.set_temp("server", "https://chosen.example.org"):
        assert XRTProductsClass().server == "https://chosen.example.org"
    assert XRTProductsClass(server=UKSSDC).server == UKSSDC
    monkeypatch.setenv("XRTPRODS_SERVER", "")
    assert XRTProductsClass().server == UKSSDC


def test_local_is_a_server_setting_and_implies_the_service_resolver(monkeypatch):
    client = XRTProductsClass(server=" Local ", email="anyone@example.net")
    payload = client.submit("GRB 200416A", lightcurve=True, get_query_payload=True)
    assert payload["getCoords"] == 1 and "RA" not in payload
    monkeypatch.setenv("XRTPRODS_SERVER", "local")
    assert XRTProductsClass().submit("GRB 200416A", lightcurve=True, get_query_payload=True)["getCoords"] == 1
    assert localmode._service is None  # nothing was started to build the payloads
    with pytest.raises(InvalidRequestError, match="server: 'lokal'.*or 'local'"):
        XRTProductsClass(server="lokal").server
    monkeypatch.setenv("XRTPRODS_SERVER", "lokal")
    with pytest.raises(InvalidRequestError, match="XRTPRODS_SERVER: 'lokal'.*or 'local'"):
        XRTProductsClass().server


def test_local_resolves_names_through_the_service_in_every_path(monkeypatch, capsys):
    from xrtprods_astro import cli
    from xrtprods_astro.targets import resolve_target
    assert cli.main(["--server", "local", "submit", "GRB 200416A", "--lightcurve", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["getCoords"] == 1
    monkeypatch.setenv("XRTPRODS_SERVER", "local")
    assert resolve_target("GRB 200416A").get_coords is True
    assert cli.main(["submit", "GRB 200416A", "--lightcurve", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["getCoords"] == 1
    assert localmode._service is None  # a dry run starts nothing
    # A client of a real server keeps the configured resolver whatever the environment says.
    assert localmode.default_resolver(UKSSDC) == conf.name_resolver == "client"


@pytest.fixture
def local_in_process(tmp_path, monkeypatch):
    """``local`` started in this process, in this test's cache folder, stopped afterwards."""
    monkeypatch.setattr(localmode, "_service", None)
    monkeypatch.setattr(localmode, "_attached", None)
    yield localmode.local_data_dir()
    localmode._stop()


def test_local_starts_one_service_for_the_process(local_in_process):
    client = XRTProductsClass(server="local", email="anyone@example.net")
    url = client.server
    assert url == f"http://127.0.0.1:{localmode.local_port()}"
    assert client.poll_interval == 0.5
    assert XRTProductsClass(server="local").server == url  # the same service, not a second one
    pos = client.get_position("GRB 200416A")
    assert pos.details["resolver"] == "service"
    assert (local_in_process / "state" / f"{pos.details['job_id']}.json").is_file()


def test_a_running_local_service_is_used(tmp_path, local_in_process):
    data_dir = local_in_process
    with LocalService(port=localmode.local_port(data_dir), users=None, data_dir=data_dir, persist=True,
                      job_duration=0) as running:
        client = XRTProductsClass(server="local", email="anyone@example.net")
        assert client.server == running.url
        assert localmode._service is None  # attached, nothing started
        job = client.submit("GRB 200416A", standard_position=True)
        assert running.store.get(job.job_id).user == "anyone@example.net"


def test_a_foreign_listener_on_the_port_is_left_alone(tmp_path, local_in_process):
    port = localmode.local_port(local_in_process)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        url = XRTProductsClass(server="local").server
    assert url.startswith("http://127.0.0.1:") and url != f"http://127.0.0.1:{port}"
    assert localmode._service is not None and localmode._service.url == url


# ---------------------------------------------------------------------------- persistence
def _persisting(data_dir, **options):
    options.setdefault("job_duration", 0)
    return LocalService(users=None, data_dir=data_dir, persist=True, **options)


def test_persisting_service_keeps_jobs_across_restarts(tmp_path):
    with _persisting(tmp_path) as first:
        client = XRTProductsClass(server=first.url, email="a@example.org")
        done = client.submit("GRB 200416A", lightcurve=True, spectrum=True, resolver="service")
        first.set_job_duration(600)
        cancelled = client.submit("GRB 200416A", standard_position=True, resolver="service")
        cancelled.cancel()
        old_url, old_fits = first.url, client.spectral_fit_data(done.job_id)
    with _persisting(tmp_path) as second:  # another port: the saved URLs follow it
        assert second.url != old_url
        client = XRTProductsClass(server=second.url, email="a@example.org")
        listed = client.list_jobs()
        assert sorted(listed["job_id"]) == sorted([int(done.job_id), int(cancelled.job_id)])
        again = client.get_job(int(done.job_id))
        assert again.url == f"{second.url}/user_objects/tprods/USERPROD_{done.job_id}"
        assert again.status()["spectrum"].code == 4
        assert client.get_job(int(cancelled.job_id)).status()["standard_position"].code == -4
        fits = client.spectral_fit_data(done.job_id)
        assert fits["interval0"]["DataFile"] == old_fits["interval0"]["DataFile"].replace(old_url, second.url)
        same = json.dumps(old_fits, sort_keys=True).replace(old_url, second.url)  # NaN != NaN in dicts
        assert json.dumps(fits, sort_keys=True) == same
        archive = client.download_archive(again.url, "lc", dest_dir=tmp_path)
        assert archive.stat().st_size > 0
        # New jobs never take the id of a reloaded one (reuse=False: the same request would re-attach).
        fresh = client.submit("GRB 200416A", lightcurve=True, resolver="service", reuse=False)
        assert int(fresh.job_id) not in listed["job_id"]


def test_services_forget_their_jobs_unless_asked(tmp_path):
    with LocalService(users=None, data_dir=tmp_path, job_duration=0) as svc:
        client = XRTProductsClass(server=svc.url, email="a@example.org")
        client.submit("GRB 200416A", lightcurve=True, resolver="service")
    assert not (tmp_path / "state").exists()
    with pytest.raises(ValueError, match="data_dir"):
        LocalService(persist=True)


def test_a_build_cut_short_is_redone_on_reload(tmp_path):
    release = threading.Event()
    calls = []

    def builder(job_pars, job_id, job_url, job_dir, seed):
        calls.append(job_url)
        if job_url.startswith("http://127.0.0.1:1/"):
            release.wait(30)  # the first process "dies" before this build ends
        return {}

    first = JobStore(tmp_path / "jobs", builder, None, job_duration=0.01, state_dir=tmp_path / "state")
    job = first.create("a@example.org", {"name": "X", "lc": 1}, ["lc"],
                       "http://127.0.0.1:1/user_objects/tprods")
    second = JobStore(tmp_path / "jobs", builder, None, job_duration=0.01, state_dir=tmp_path / "state")
    assert second.load("http://127.0.0.1:2/user_objects/tprods") == 1
    second.join()
    reloaded = second.get(job.job_id)
    later = time.monotonic() + 1  # past the job's 0.01 s
    assert reloaded.built.is_set() and reloaded.status("lc", later)[0] == -3  # built again: no outcome
    assert f"http://127.0.0.1:2/user_objects/tprods/USERPROD_{job.job_id}" in calls
    release.set()
    first.join()


def test_unreadable_records_are_skipped(tmp_path):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "1.json").write_text("{not json")
    store = JobStore(tmp_path / "jobs", None, None, state_dir=tmp_path / "state")
    assert store.load("http://127.0.0.1:2/user_objects/tprods") == 0


# ---------------------------------------------------------------------------- a user's script, twice
def _run_script(tmp_path, *args):
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRTPRODS_")}
    env.update(XRTPRODS_SERVER="local", HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"),
               TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, str(tmp_path / "script.py"), *map(str, args)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def _refused(url):
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


def test_a_script_runs_offline_twice_and_finds_its_first_job(tmp_path):
    for folder in ("work", "tmp", "home", "xdg"):
        (tmp_path / folder).mkdir()
    (tmp_path / "script.py").write_text(SCRIPT)
    before = time.monotonic()
    first, log_text = _run_script(tmp_path, "whoever@example.net")
    first_seconds = time.monotonic() - before
    assert first["resolver"] == "service" and first["pc_rows"] > 0 and first["before"] == []
    assert first["poll"] == 0.5
    assert "Started the local XRT products service" in log_text
    assert _refused(first["server"])  # nothing left serving
    assert list((tmp_path / "work").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []
    state = tmp_path / "xdg" / "xrtprods_astro" / "local-service" / "state"
    assert (state / f"{first['job_id']}.json").is_file()

    before = time.monotonic()
    second, _ = _run_script(tmp_path, "whoever@example.net", first["job_id"])
    second_seconds = time.monotonic() - before
    assert first["job_id"] in second["before"]
    assert second["previous"] == {"url": first["url"], "pc_rows": first["pc_rows"]}
    assert second["server"] == first["server"]
    assert _refused(second["server"])
    assert list((tmp_path / "work").iterdir()) == [] and list((tmp_path / "tmp").iterdir()) == []
    print(f"wall time: first run {first_seconds:.1f} s, second run {second_seconds:.1f} s")
