# Licensed under a 3-clause BSD style license - see LICENSE
"""Request reuse, the polite default: the same request by the same user re-attaches to its job."""
import json
import logging
import stat

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xrtprods_astro import conf
from xrtprods_astro.core import XRTProducts, XRTProductsClass, _reusable, request_fingerprint
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.job import ProductStatus
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.server.catalogue import CATALOGUE

GRB = "GRB 200416A"
POSITION = SkyCoord(335.6985, -7.5179, unit="deg")


def _lc_request(name=GRB, **extra):
    return ProductRequest(name, ra=335.6985, dec=-7.5179, get_targs=True, centroid=True, pos_err=1,
                          use_sxps=False, lightcurve={"binning": "snapshot"}, **extra)


def _submissions(svc):
    return svc.request_counts().get("submit", 0)


@pytest.fixture
def svc(xrtprods_service_factory):
    return xrtprods_service_factory()


@pytest.fixture
def slow(xrtprods_service_factory):
    """Jobs that run far longer than any test waits."""
    return xrtprods_service_factory(job_duration=300)


def _client(service):
    return XRTProductsClass(server=service.url, email=service.email, poll_interval=0.05)


def test_get_lightcurve_twice_and_after_clearing_the_map_submits_one_job(svc):
    # The "a second identical run submits nothing", with the ready instance and the name
    # resolved by the service: twice from the fingerprint map, then from the job list alone.
    with conf.set_temp("server", svc.url), conf.set_temp("email", svc.email), \
            conf.set_temp("poll_interval", 0.05), conf.set_temp("name_resolver", "service"):
        first = XRTProducts.get_lightcurve(GRB)
        second = XRTProducts.get_lightcurve(GRB)
        path = XRTProducts.reuse_file
        assert path.is_file()
        path.unlink()
        third = XRTProducts.get_lightcurve(GRB)
    assert _submissions(svc) == 1 and len(svc.store.jobs_of(svc.email)) == 1
    assert first.meta["job_id"] == second.meta["job_id"] == third.meta["job_id"]
    assert type(first.meta["job_id"]) is int
    assert list(third["PC"]["rate"]) == list(first["PC"]["rate"])
    # The job list path recorded the job again for the next run.
    assert list(json.loads(path.read_text()).values())[0]["job_id"] == first.meta["job_id"]


def test_reuse_logs_the_job_and_how_to_get_a_new_one(svc, caplog):
    client = _client(svc)
    job = client.submit(_lc_request())
    with caplog.at_level(logging.INFO, logger="xrtprods_astro"):
        again = client.submit(_lc_request())
    assert again.job_id == job.job_id and again.url == job.url
    text = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(m.startswith(f"Re-using job {job.job_id} (submitted 20") and
               m.endswith("for the same request; pass reuse=False for a new one") for m in text)
    assert _submissions(svc) == 1


def test_reuse_false_and_conf_force_a_new_job(svc):
    client = _client(svc)
    first = client.submit(_lc_request())
    forced = client.submit(_lc_request(), reuse=False)
    assert forced.job_id != first.job_id
    with conf.set_temp("reuse_jobs", False):
        by_conf = client.get_lightcurve_async(POSITION, name=GRB)
    again = client.get_lightcurve_async(POSITION, name=GRB, reuse=False)
    assert len({first.job_id, forced.job_id, by_conf.job_id, again.job_id}) == 4
    assert _submissions(svc) == 4
    # The newest job of a request is the one reused next.
    assert client.submit(_lc_request()).job_id == forced.job_id
    with pytest.raises(InvalidRequestError, match="reuse: expected True or False"):
        client.submit(_lc_request(), reuse="yes")


def test_other_requests_and_other_users_are_not_reused(xrtprods_service_factory):
    svc = xrtprods_service_factory(users=("ann@example.org", "bob@example.org"))
    ann = XRTProductsClass(server=svc.url, email="ann@example.org")
    bob = XRTProductsClass(server=svc.url, email="bob@example.org")
    a = ann.submit(_lc_request())
    b = bob.submit(_lc_request())
    c = ann.submit(_lc_request(spectrum=True))
    d = ann.submit(_lc_request(name="GRB 200416A (again)"))
    assert len({a.job_id, b.job_id, c.job_id, d.job_id}) == 4
    assert ann.reuse_file != bob.reuse_file


def test_cancelled_jobs_are_not_reused_from_the_map_or_the_job_list(slow):
    client = _client(slow)
    first = client.submit(_lc_request())
    running = client.submit(_lc_request())
    assert running.job_id == first.job_id  # a running job is re-attached: the re-run waits for it
    first.cancel()
    second = client.submit(_lc_request())
    assert second.job_id != first.job_id
    second.cancel()
    client.reuse_file.unlink()
    third = client.submit(_lc_request())  # both look-alikes in the job list were cancelled
    assert third.job_id not in (first.job_id, second.job_id)
    assert _submissions(slow) == 3


def test_a_stale_map_entry_falls_back_to_the_job_list(svc):
    client = _client(svc)
    job = client.submit(_lc_request())
    fingerprint = request_fingerprint(client.submit(_lc_request(), get_query_payload=True))
    # As after the service was reset: the recorded JobID is no job of this user any more.
    client._reuse_update(fingerprint, 999999, "2020-01-01 00:00:00 UTC")
    assert client.submit(_lc_request()).job_id == job.job_id
    assert json.loads(client.reuse_file.read_text())[fingerprint]["job_id"] == job.job_id
    assert _submissions(svc) == 1


def test_which_states_are_reused():
    def states(*codes):
        return {f"p{i}": ProductStatus(code) for i, code in enumerate(codes)}

    assert _reusable(states(3)) and _reusable(states(4, 2)) and _reusable(states(4, -3))
    assert not _reusable(states(-3)) and not _reusable(states(-1, -3))  # every product failed
    assert not _reusable(states(4, -4)) and not _reusable(states(-4))   # cancelled by the user


def test_fingerprint_names_the_request_not_the_sender():
    wire = {"name": "X", "lc": 1, "binMeth": "snapshot", "RA": 1.5, "targ": ["00968211", "1"]}
    envelope = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": "a@example.org"}
    same = dict(reversed(list({**envelope, **wire, "targ": ("00968211", "1")}.items())))
    assert request_fingerprint(wire) == request_fingerprint(same)
    assert len(request_fingerprint(wire)) == 64
    assert request_fingerprint(wire) != request_fingerprint({**wire, "RA": 1.6})


def test_the_map_is_private_and_keeps_no_email(svc, tmp_path):
    client = _client(svc)
    job = client.submit(_lc_request())
    path = client.reuse_file
    assert path.parent.name == "reuse" and path.parent.parent == client.cache_location.parent
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert svc.email not in text and svc.email not in path.name
    (entry,) = json.loads(text).values()
    assert entry["job_id"] == job.job_id
    assert not list(path.parent.glob("*.tmp"))  # written through a temporary file, renamed


def test_a_batch_does_not_submit_targets_whose_job_exists(svc, tmp_path):
    from xrtprods_astro.batch import BatchRun
    entries = CATALOGUE[:2]
    targets = Table({"name": ["A0", "A1"], "ra": [e.ra for e in entries] * u.deg,
                     "dec": [e.dec for e in entries] * u.deg})
    kwargs = dict(products={"lightcurve": {"binning": "snapshot"}}, dest_dir=tmp_path / "out")
    first = BatchRun(targets, client=_client(svc), state_file=tmp_path / "one.json", **kwargs).run(timeout=60)
    # A new batch (another state file) with the same targets re-attaches to their jobs.
    again = BatchRun(targets, client=_client(svc), state_file=tmp_path / "two.json", **kwargs).run(timeout=60)
    assert list(again["job_id"]) == list(first["job_id"])
    assert set(again["status"]) == {"ok"}
    assert _submissions(svc) == 2


def test_an_unreadable_job_list_does_not_stop_the_submission(service, monkeypatch, caplog):
    # The recorded-answer fake: no job list to read (HTTP 404), the submission itself works.
    import xrt_fake_session as fake
    monkeypatch.setattr(conf, "reuse_jobs", True)
    service.add("run_userobject.php", "submit_ok")
    client = XRTProductsClass(email="me@example.org")
    with caplog.at_level(logging.WARNING, logger="xrtprods_astro"):
        job = client.submit(fake.SUBMIT_WIRE)
    assert job.job_id == 951
    routes = [fake.FakeService.route_of(service, c.url, c.json) for c in service.calls]
    assert routes == ["listOldJobs.php", "run_userobject.php"]
    assert any("Could not look for an earlier job" in r.getMessage() for r in caplog.records)


# -- one request identity (issue 19 item 2) ----------------------------------------------------------
def _identity_base(param):
    """The smallest valid request that ``param`` can be varied in: typed position, targets, no T0."""
    from xrtprods_astro import params as P
    products = {"lightcurve": {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}}
    if param.product and param.product != "lightcurve":
        products = {param.product: {"which_data": "all"} if param.product == "source_detection" else {}}
    if param.shared_name:  # a position product's parameter, sent as a global
        products["standard_position"] = {}
    # Each parameter's pair under its own name, so that pairs share neither map entries nor job-list
    # entries on the one service; the name must resolve when the service is asked to resolve it.
    name = GRB if param.name == "get_coords" else f"{GRB} {param.qualname}"
    req = ProductRequest(name, ra=335.6985, dec=-7.5179, targ="00968211", centroid=True, pos_err=1,
                         use_sxps=False)
    req.update(products=products)
    assert P.lookup(param.name, param.product) is param
    return req


def _other_value(param, current):
    """A valid value of ``param`` that differs from ``current`` and from its default (from the catalogue)."""
    from xrtprods_astro.params import UNSET
    from xrtprods_astro.transport import _normalise

    def differs(value, against=(current, param.default)):
        return all(_normalise(value) != _normalise(v) for v in against if v is not None and v is not UNSET)

    candidates = [param.example]
    if param.kind == "bool":
        candidates += [True, False]
    candidates += list(param.allowed or ())
    if param.kind in ("float", "int", "degrees", "time"):
        candidates += [param.example + 1 if param.example is not UNSET else 1]
    if param.kind in ("str", "targets"):
        candidates += [f"{param.example}9"]
    for value in candidates:
        if value is not UNSET and differs(value):
            return value
    for value in candidates:  # a closed set of two, the base holding the non-default one
        if value is not UNSET and differs(value, (current,)):
            return value
    raise AssertionError(f"no second value for {param.qualname}")


def _vary(param):
    """(base, variant): two valid requests differing in ``param`` alone (and what the service ties to it)."""
    base = _identity_base(param)
    variant = base.copy()
    # The switches that let the service work a value out replace the typed value.
    switched = {"get_coords": ("ra", "dec"), "get_targs": ("targ",), "get_t0": ("t0",)}
    if param.name in switched:
        variant.unset(*switched[param.name])
        variant.set(**{param.name: True})
        return base, variant
    try:
        current = base[param.name] if param.is_global else base.params(param.product).get(param.name)
    except KeyError:
        current = None
    # Another name, not one the other pairs use.
    value = f"{current} (again)" if param.name == "name" else _other_value(param, current)
    if param.is_global:
        variant.set(**{param.name: value})
    else:
        variant.add_product(param.product, **{param.name: value})
    # What the catalogue says this value needs (e.g. which_data="user" needs use_obs): its examples.
    needs = {}
    for rule in param.requires:
        if rule.when == value or rule.when is True and value is True:
            for name in (rule.names[:2] if rule.mode == "pair" else rule.names):
                from xrtprods_astro import params as P
                needs[name] = P.lookup(name, param.product).example
    if needs:
        if param.is_global:
            variant.set(**needs)
        else:
            variant.add_product(param.product, **needs)
    return base, variant


def _params_to_vary():
    from xrtprods_astro.params import PARAMS
    return list(PARAMS)


@pytest.fixture(scope="module")
def identity_service(tmp_path_factory):
    """One service for the whole matrix (a service per parameter would cost a minute more)."""
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=300, job_limit=1000, data_dir=tmp_path_factory.mktemp("identity"))
    service.start()
    yield service
    service.stop()


@pytest.mark.parametrize("param", _params_to_vary(), ids=lambda p: p.qualname)
def test_requests_differing_in_one_parameter_get_their_own_job(identity_service, param):
    slow = identity_service
    submitted = _submissions(slow)
    # Derived from the catalogue: a new parameter is covered without touching this test. Each
    # pair differs in one parameter; each request gets its own job, the same request its job again,
    # from the fingerprint map and, with the map gone, from the job list alone.
    client = _client(slow)
    base, variant = _vary(param)
    assert base.to_wire() != variant.to_wire()
    first = client.submit(base)
    second = client.submit(variant)
    assert second.job_id != first.job_id, f"{param.qualname}: the variant re-used the base job"
    assert client.submit(variant).job_id == second.job_id
    assert client.submit(base).job_id == first.job_id
    client.reuse_file.unlink()
    # The job list of these two jobs only (the service's list holds every pair of the test run).
    jobs = [j for j in client.job_list_data() if j["JobID"] in (first.job_id, second.job_id)
            or str(j["JobID"]) in (str(first.job_id), str(second.job_id))]
    assert client.submit(variant, job_list=jobs).job_id == second.job_id
    assert client.submit(base, job_list=jobs).job_id == first.job_id
    assert _submissions(slow) - submitted == 2


def test_t0_typed_left_to_the_service_or_unset_are_three_requests(slow):
    # The two stories: a typed T0 must not re-use the job whose T0 the service set (or
    # that set none), and get_t0=True must not adopt a job whose T0 was typed, from the map or the list.
    from astropy.time import Time
    client = _client(slow)
    kw = dict(binning="counts", pc_counts=20, wt_counts=30, resolver="service")
    typed = client.get_lightcurve_async(GRB, t0=Time("2020-04-16T07:00:00"), **kw)
    derived = client.get_lightcurve_async(POSITION, name=GRB, get_t0=True, **kw)
    unset = client.get_lightcurve_async(GRB, **kw)
    assert len({typed.job_id, derived.job_id, unset.job_id}) == 3
    client.reuse_file.unlink()
    assert client.get_lightcurve_async(POSITION, name=GRB, get_t0=True, **kw).job_id == derived.job_id
    assert client.get_lightcurve_async(GRB, t0=Time("2020-04-16T07:00:00"), **kw).job_id == typed.job_id
    assert client.get_lightcurve_async(GRB, **kw).job_id == unset.job_id
    assert _submissions(slow) == 3


# -- the same request from two processes at once (issue 20 item 12) -------------------------------------
_TWIN = """
import json, pathlib, sys, time
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.request import ProductRequest
url, email, folder, me = sys.argv[1:5]
folder = pathlib.Path(folder)
client = XRTProductsClass(server=url, email=email)
request = ProductRequest("GRB 200416A", ra=335.6985, dec=-7.5179, get_targs=True, centroid=True, pos_err=1,
                         use_sxps=False, lightcurve={"binning": "snapshot"})
client.reuse_file  # everything imported and made before the start line
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
job = client.submit(request)
print(json.dumps({"job_id": job.job_id, "reused": job.reused}))
"""


def test_the_same_request_from_two_processes_at_once_makes_one_job(xrtprods_service_factory, tmp_path):
    import subprocess
    import sys
    import time
    from xrtprods_astro.server.faults import FaultConfig
    # Slow answers widen the moment between looking for the job and recording it to seconds.
    svc = xrtprods_service_factory(job_duration=300, faults=FaultConfig(latency=0.3))
    children = [subprocess.Popen([sys.executable, "-c", _TWIN, svc.url, svc.email, str(tmp_path), str(n)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for n in range(2)]
    try:
        for _ in range(1200):
            if all((tmp_path / f"ready-{n}").exists() for n in range(2)) \
                    or any(c.poll() is not None for c in children):
                break
            time.sleep(0.05)
        (tmp_path / "go").touch()
        outs = [c.communicate(timeout=120) for c in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert all(c.returncode == 0 for c in children), [err[-2000:] for _, err in outs]
    answers = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert answers[0]["job_id"] == answers[1]["job_id"]
    assert sorted(a["reused"] is None for a in answers) == [False, True]  # one submitted, one re-attached
    assert _submissions(svc) == 1


def test_a_held_reuse_map_refuses_with_a_message_after_the_wait(svc, monkeypatch):
    # A process that waits longer than the limit is told what holds it and what to do.
    import xrtprods_astro.core as core
    from xrtprods_astro.locking import LockTimeoutError, file_lock
    client = _client(svc)
    monkeypatch.setattr(core, "_REUSE_LOCK_WAIT", 0.2)
    client.timeout = 0.01
    import threading
    held, release = threading.Event(), threading.Event()

    def hold():
        # Another open file description: flock conflicts as it would with another process.
        with file_lock(client.reuse_file.with_suffix(".lock")):
            held.set()
            release.wait(30)

    other = threading.Thread(target=hold)
    other.start()
    try:
        held.wait(30)
        with pytest.raises(LockTimeoutError, match="re-use map .* another process has held its lock"):
            client.submit(_lc_request())
    finally:
        release.set()
        other.join()
    assert _submissions(svc) == 0
    assert client.submit(_lc_request()).job_id  # released: submits
