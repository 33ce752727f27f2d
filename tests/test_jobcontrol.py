# Licensed under a 3-clause BSD style license - see LICENSE
"""JobControl: the job-control calls XRTProductsClass inherits; the light client of ``xrtprods status``."""
import io
import json
import subprocess
import sys

import pytest
import xrt_fake_session as fake

from xrtprods_astro import cli
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.jobcontrol import JobControl

EMAIL = "someone@example.org"
#: What the command line's job control must answer without (most of a short command's start-up).
HEAVY = ("astroquery.query", "pyvo", "astropy.units", "astropy.coordinates")


def _job_control_calls(client):
    """Every job-control call, in one order; returns what each gave."""
    job = client.get_job("11721010")
    return [job.url, job.job_pars, {k: s.to_dict() for k, s in job.status(["lc", "psf"]).items()},
            client.product_status(11721010, "lightcurve,spec"),
            {k: tuple(v) for k, v in job.cancel("spectrum").items()},
            client.job_list_data(), client.count_active_jobs()]


def _script(service):
    service.add("getOldProduct.php", "oldjob").add("checkProductStatus.php", "status_running")
    service.add("canceljob.php", "cancel_ok1").add("listOldJobs.php", "joblist")
    service.add("getNumJobs.php", "numjobs")


def test_the_light_client_sends_what_the_full_client_sends(service):
    _script(service)
    full = XRTProductsClass(email=EMAIL, timeout=7)
    answers = _job_control_calls(full)
    sent = list(service.calls)
    service.calls.clear()
    light = JobControl(email=EMAIL, timeout=7)
    assert _job_control_calls(light) == answers
    # Same endpoints, payloads (envelope and identity included), headers, time limits and streaming.
    assert service.calls == sent and len(sent) == 6
    assert [c.json["oldJob"] for c in sent if "oldJob" in c.json] == ["11721010"]  # as given
    assert all(c.json["UserID"] == EMAIL for c in sent)


def test_the_light_client_names_itself_and_never_follows_redirects(service, monkeypatch):
    seen = []
    real = service.request

    def record(session, method, url, **kwargs):
        seen.append((session.headers["User-Agent"], kwargs.get("allow_redirects")))
        return real(session, method, url, **kwargs)

    monkeypatch.setattr(service, "request", record)
    service.add("getNumJobs.php", "numjobs")
    JobControl(email=EMAIL).count_active_jobs()
    agent, redirects = seen[0]
    assert agent.startswith("xrtprods_astro/") and "python-requests/" in agent
    assert redirects is False


def test_the_light_client_keeps_the_settings_and_checks_of_the_full_one(service):
    with pytest.raises(InvalidRequestError, match="XRTPRODS_EMAIL"):
        JobControl().old_job(1)
    with pytest.raises(InvalidRequestError, match="not an e-mail address"):
        JobControl(email="nobody")
    with pytest.raises(InvalidRequestError, match="JobID"):
        JobControl(email=EMAIL).product_status("twelve", "lc")
    assert service.count() == 0
    light = JobControl(server="http://127.0.0.1:8765/", email=EMAIL, poll_interval="auto")
    assert light.server == "http://127.0.0.1:8765" and light.poll_interval == 0.5
    assert isinstance(XRTProductsClass(), JobControl)


def test_status_from_a_fresh_process_imports_no_query_machinery(xrtprods_service):
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.1)
    job = client.submit({**fake.SUBMIT_WIRE, "dopsf": 1})
    job.wait(timeout=60, progress=False)
    # What the full client gives, in the command's layout.
    expected = io.StringIO()
    full = client.get_job(job.job_id)
    expected.write(f"Job {full.job_id}: {full.url}\n")
    cli._print_statuses(full.status(), expected, progress=True)

    assert _fresh_cli(xrtprods_service, "status", job.job_id) == (0, [], expected.getvalue())
    # cancel is light as well: a finished job's products are not cancelled (exit code 1), with the reasons.
    code, heavy, out = _fresh_cli(xrtprods_service, "cancel", job.job_id)
    assert (code, heavy) == (1, []) and "lightcurve         not cancelled (probably already finished)" in out


def _fresh_cli(service, *argv):
    """Run the command line in a new Python: (exit code, heavy modules it imported, standard output)."""
    argv = ["--server", service.url, "--email", service.email, *map(str, argv)]
    code = ("import json, sys\nfrom xrtprods_astro.cli import main\n"
            f"code = main({argv!r})\n"
            f"sys.stderr.write(json.dumps([code, [m for m in {HEAVY!r} if m in sys.modules]]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    code, heavy = json.loads(done.stderr.splitlines()[-1])
    return code, heavy, done.stdout


def test_the_plain_session_never_caches_and_keeps_the_clients_private_cache_folder(tmp_path):
    session = JobControl(email=EMAIL)._transport._query
    # The transport keeps its own cache; a cached call through this session would silently not be.
    with pytest.raises(ValueError, match="cache"):
        session._request("POST", "https://www.swift.ac.uk/user_objects/getNumJobs.php", cache=True)
    folder = session.cache_location
    assert folder == XRTProductsClass().cache_location and folder.is_dir()
    assert folder.stat().st_mode & 0o077 == 0


def test_a_job_of_the_light_client_decodes_its_request_when_asked(service):
    service.add("getOldProduct.php", "oldjob")
    job = JobControl(email=EMAIL).get_job(11721010)
    full = XRTProductsClass(email=EMAIL).get_job(11721010)
    assert job.request.products == full.request.products and job.request.products
    job.request = None  # a request set by hand is kept, not decoded again
    assert job.request is None and job.products == full.products
