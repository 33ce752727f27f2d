# Licensed under a 3-clause BSD style license - see LICENSE
"""Batch runs against the local service: politeness, faults, interruption and resumption."""
import io
import json
import stat
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import conf
from xrtprods_astro.batch import BatchRun, run_batch
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.server.catalogue import CATALOGUE

LC_POS = {"lightcurve": {"binning": "snapshot"}, "standard_position": True}
POLL = 0.05


@pytest.fixture(autouse=True)
def _quick_backoff():
    # Retries against the local service need no real back-off; keep the file fast.
    with conf.set_temp("backoff", 0.005):
        yield


def _targets(n, prefix="T", cycle=9):
    """n targets in the fields of the simulated catalogue (so getTargs finds observations)."""
    entries = [CATALOGUE[i % cycle] for i in range(n)]
    return Table({"name": [f"{prefix}{i:02d}" for i in range(n)],
                  "ra": [e.ra for e in entries] * u.deg, "dec": [e.dec for e in entries] * u.deg})


def _client(svc, poll=POLL):
    return XRTProductsClass(server=svc.url, email=svc.email, poll_interval=poll)


def _server_jobs(svc):
    return svc.store.jobs_of(svc.email)


def _max_overlap(jobs):
    """Most jobs active at once on the server (from each job's own timeline)."""
    events = []
    for job in jobs:
        end = min([job.started + job.duration] + list(job.cancelled.values()))
        events.extend([(job.started, 1), (end, -1)])
    active = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        active += step
        peak = max(peak, active)
    return peak


def _check_products(summary, products):
    """Open every file the batch reports: archives read to the end, FITS members, ECSV tables."""
    opened = 0
    for row in summary:
        folder = Path(row["dest"])
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        paths = [Path(p) for p in row["paths"].split("; ") if p]
        assert len(paths) == row["n_files"] > 0
        for path in paths:
            assert path.parent == folder
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            if path.name.endswith(".tar.gz"):
                with tarfile.open(path, "r:gz") as tar:
                    members = [m for m in tar if m.isfile()]
                    assert members
                    for member in members:
                        data = tar.extractfile(member).read()
                        assert len(data) == member.size
                        if member.name.endswith((".img", ".fits", ".pha", ".arf", ".rmf", ".evt")):
                            with fits.open(io.BytesIO(data)) as hdul:
                                hdul.verify("exception")
                                assert len(hdul) >= 1
            elif path.suffix == ".ecsv":
                table = Table.read(path, format="ascii.ecsv")
                assert len(table.colnames) > 0
                if path.name.startswith("lightcurve_") and "rate" in table.colnames:
                    assert table["rate"].unit == u.ct / u.s
                if path.name == "standard_position.ecsv":
                    assert table["ra"].unit == u.deg and table["err90"].unit == u.arcsec
            opened += 1
        for product in products:
            assert row[product] == "ok"
    return opened


def test_thirty_targets_with_transient_faults(xrtprods_service_factory, tmp_path):
    faults = {"error_rate": 0.08, "html_rate": 0.04, "drop_rate": 0.03, "drop_after_rate": 0.05,
              "truncate_rate": 0.1, "seed": 11}
    svc = xrtprods_service_factory(job_duration=0.3, job_limit=5, faults=faults)
    targets = _targets(30)
    batch = BatchRun(targets, products=LC_POS, state_file=tmp_path / "state.json",
                     dest_dir=tmp_path / "out", client=_client(svc), max_active=5)
    summary = batch.run(timeout=120)

    assert len(summary) == 30
    assert list(summary["target"]) == list(targets["name"])
    assert set(summary["status"]) == {"ok"}, summary[summary["status"] != "ok"]
    counts = svc.request_counts()
    assert counts.get("submit", 0) >= 30  # faults were met on the way ...
    jobs = _server_jobs(svc)
    # ... yet exactly one job per target exists: nothing was submitted twice.
    assert sorted(job.pars["name"] for job in jobs) == sorted(targets["name"])
    by_name = {job.pars["name"]: str(job.job_id) for job in jobs}
    assert [by_name[n] for n in summary["name"]] == list(summary["job_id"])
    assert _max_overlap(jobs) <= 5
    assert _check_products(summary, LC_POS) >= 30 * 3
    # Times are astropy Time, in order, for every target.
    assert isinstance(summary["submitted"], Time)
    assert not np.any(summary["completed"].mask)
    assert np.all((summary["completed"] - summary["submitted"]).to_value(u.s) > 0)
    state = tmp_path / "state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    recorded = json.loads(state.read_text())["targets"]
    assert {rec["state"] for rec in recorded.values()} == {"retrieved"}


def test_active_limit_counts_jobs_started_elsewhere(xrtprods_service_factory, tmp_path):
    # The service enforces no limit here: only the batch's own politeness keeps the count down.
    svc = xrtprods_service_factory(job_duration=1.2, job_limit=None)
    other = _client(svc)
    outside = [other.submit(ProductRequest(SkyCoord(e.ra, e.dec, unit="deg"), name=f"outside{i}",
                                           get_targs=True, centroid=True, use_sxps=False,
                                           pos_err=1 * u.arcmin, standard_position=True))
               for i, e in enumerate(CATALOGUE[:3])]
    svc.set_job_duration(0.3)
    calls = []
    client = _client(svc, poll=0.1)
    real_status = client.product_status

    def recording_status(job_id, products):
        calls.append((str(job_id), time.monotonic()))
        return real_status(job_id, products)

    client.product_status = recording_status
    summary = run_batch(_targets(8, "B"), products=LC_POS, state_file=tmp_path / "s.json",
                        dest_dir=tmp_path / "out", client=client, max_active=4, timeout=60)
    assert set(summary["status"]) == {"ok"}
    jobs = _server_jobs(svc)
    assert len(jobs) == 8 + 3
    assert _max_overlap(jobs) <= 4
    # While the three outside jobs ran, at most one batch job could run beside them.
    outside_jobs = [j for j in jobs if str(j.job_id) in {str(o.job_id) for o in outside}]
    outside_end = max(j.started + j.duration for j in outside_jobs)
    early = [j for j in jobs if j not in outside_jobs and j.started < outside_end]
    assert _max_overlap(outside_jobs + early) <= 4
    # One status call per active job per interval: never two calls for a job closer than the interval.
    by_job = {}
    for job_id, when in calls:
        by_job.setdefault(job_id, []).append(when)
    assert set(by_job) == set(summary["job_id"])
    for times in by_job.values():
        assert np.all(np.diff(times) >= 0.1 - 1e-3)


def test_active_job_count_is_asked_politely(xrtprods_service_factory, tmp_path):
    # The loop wakes at each job's own poll time; the count of active jobs must not be
    # asked at every wake, only once per interval or when one of our jobs has finished.
    svc = xrtprods_service_factory(job_duration=0.6, job_limit=None)
    client = _client(svc, poll=0.2)
    asked = []
    real_count = client.count_active_jobs

    def recording_count():
        asked.append(time.monotonic())
        return real_count()

    client.count_active_jobs = recording_count
    start = time.monotonic()
    summary = run_batch(_targets(10, "N"), products=LC_POS, state_file=tmp_path / "s.json",
                        dest_dir=tmp_path / "out", client=client, max_active=3, timeout=60)
    elapsed = time.monotonic() - start
    assert set(summary["status"]) == {"ok"}
    assert len(asked) <= elapsed / 0.2 + len(summary) + 1
    assert svc.request_counts().get("numJobs", 0) == len(asked)


def test_interrupt_and_resume_without_resubmitting(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.3, job_limit=5)
    products = {"lightcurve": {"binning": "snapshot"}, "image": True}
    targets = _targets(10, cycle=4)  # the first four have PC-mode data, which images need
    kwargs = dict(products=products, state_file=tmp_path / "state.json", dest_dir=tmp_path / "out",
                  max_active=3)

    def stop_midway(counts):
        if counts.get("retrieved", 0) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        BatchRun(targets, client=_client(svc), **kwargs).run(progress=stop_midway)
    recorded = json.loads((tmp_path / "state.json").read_text())["targets"]
    before = {k: r["job_id"] for k, r in recorded.items() if r["job_id"] is not None}
    assert 2 <= len(before) < 10
    assert any(r["state"] == "pending" for r in recorded.values())
    n_jobs = len(_server_jobs(svc))
    assert n_jobs == len(before)

    summary = BatchRun(targets, client=_client(svc), **kwargs).run(timeout=60)
    assert set(summary["status"]) == {"ok"}
    jobs = _server_jobs(svc)
    assert len(jobs) == 10
    assert sorted(j.pars["name"] for j in jobs) == sorted(targets["name"])
    for key, job_id in before.items():
        assert summary["job_id"][list(summary["target"]).index(key)] == job_id
    _check_products(summary, products)
    # A third run finds everything done and sends no submission at all.
    svc.reset_counts()
    again = BatchRun(targets, client=_client(svc), **kwargs).run(timeout=30)
    assert list(again["job_id"]) == list(summary["job_id"])
    assert svc.request_counts().get("submit", 0) == 0


def test_intent_without_job_id_is_reconciled(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.3, job_limit=5)
    targets = _targets(5)
    kwargs = dict(products=LC_POS, state_file=tmp_path / "state.json", dest_dir=tmp_path / "out")
    client = _client(svc)
    real_submit = client.submit
    sent = []

    def crash_after_third(request, **kw):
        job = real_submit(request, **kw)
        sent.append(job.job_id)
        if len(sent) == 3:
            raise KeyboardInterrupt  # the job exists, but its id was never recorded
        return job

    client.submit = crash_after_third
    with pytest.raises(KeyboardInterrupt):
        BatchRun(targets, client=client, **kwargs).run()
    recorded = json.loads((tmp_path / "state.json").read_text())["targets"]
    assert recorded["T02"]["state"] == "intent" and recorded["T02"]["job_id"] is None
    summary = BatchRun(targets, client=_client(svc), **kwargs).run(timeout=60)
    assert set(summary["status"]) == {"ok"}
    jobs = _server_jobs(svc)
    assert len(jobs) == 5
    assert summary["job_id"][2] == str(sent[2])


def test_failures_do_not_stop_the_batch(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.2, job_limit=5)
    good = CATALOGUE[0]
    targets = Table({"name": ["good", "nowhere", "badparam"],
                     "ra": [good.ra, 10.0, good.ra] * u.deg, "dec": [good.dec, -80.0, good.dec] * u.deg,
                     "pc_counts": [20, 20, -5]})
    lc = {"binning": "counts", "dynamic": True, "wt_counts": 30}
    summary = run_batch(targets, products={"lightcurve": lc},
                        state_file=tmp_path / "s.json", dest_dir=tmp_path / "out", client=_client(svc),
                        timeout=60)
    assert list(summary["status"]) == ["ok", "failed", "failed"]
    assert summary["lightcurve"][1].startswith("failed: submission refused")
    assert "No Swift observations" in summary["reasons"][1]
    assert "pc_counts" in summary["reasons"][2]
    assert summary["job_id"][2] == "" and summary["submitted"].mask[2]
    # The per-row column reached the request of the good target.
    assert [job.pars.get("pccounts") for job in _server_jobs(svc)] == [20]


def test_timeout_reports_and_keeps_state(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=30, job_limit=5)
    batch = BatchRun(_targets(2), products={"standard_position": True}, state_file=tmp_path / "s.json",
                     dest_dir=tmp_path / "out", client=_client(svc))
    summary = batch.run(timeout=0.3 * u.s)
    assert list(summary["status"]) == ["timeout", "timeout"]
    assert list(summary["standard_position"]) == ["timeout", "timeout"]
    assert all(summary["job_id"])
    recorded = json.loads((tmp_path / "s.json").read_text())["targets"]
    assert {r["state"] for r in recorded.values()} == {"submitted"}
    for job in _server_jobs(svc):
        job.cancel(job.products)


def test_cancelled_products_are_reported(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=2.0, job_limit=5)
    client = _client(svc)

    def cancel_everything(counts):
        for job in _server_jobs(svc):
            job.cancel(job.products)

    summary = run_batch(_targets(2), products={"standard_position": True}, state_file=tmp_path / "s.json",
                        dest_dir=tmp_path / "out", client=client, progress=cancel_everything, timeout=30)
    assert list(summary["status"]) == ["cancelled", "cancelled"]
    assert list(summary["n_files"]) == [0, 0]


def test_targets_from_lists_and_tables(tmp_path):
    client = XRTProductsClass(server="http://127.0.0.1:9", email="me@example.org")
    common = dict(products=["standard_position"], state_file=tmp_path / "s.json", dest_dir=tmp_path / "o",
                  client=client)
    coord = SkyCoord(335.6985, -7.5179, unit="deg")
    req = ProductRequest(coord, name="ready", targ="00968211", centroid=False, use_sxps=True,
                         pos_err=2 * u.arcmin, standard_position=True)
    batch = BatchRun(["GK Per", coord, ("named", coord), {"name": "d", "position": coord, "pos_err": 3},
                      req, 42, "GK Per"], **common)
    keys = [t.key for t in batch.targets]
    assert keys == ["GK_Per", "J222247.6-073104", "named", "d", "ready", "target6", "GK_Per_2"]
    wires = [t.wire for t in batch.targets]
    assert wires[0]["getCoords"] == 1 and wires[0]["getTargs"] == 1 and "RA" not in wires[0]
    assert wires[0]["cent"] == 1 and wires[0]["useSXPS"] == 0 and wires[0]["poserr"] == 1
    assert wires[1]["RA"] == pytest.approx(335.6985) and "getCoords" not in wires[1]
    assert wires[3]["poserr"] == 3
    assert wires[4]["cent"] == 0 and wires[4]["targ"] == "00968211" and wires[4]["poserr"] == 2
    assert wires[5] is None and "not a name" in batch.targets[5].error
    # A SIMBAD-like table: sexagesimal strings, MAIN_ID; per-row light-curve parameters.
    table = Table({"MAIN_ID": ["A", "B"], "RA": ["22 22 47.64", "03 31 12.01"],
                   "DEC": ["-07 31 04.4", "+43 54 15.5"], "pc_counts": [10, 40]})
    lc = {"binning": "counts", "dynamic": False, "pc_counts": 20, "wt_counts": 5}
    batch = BatchRun(table, products={"lightcurve": lc},
                     state_file=tmp_path / "t.json", dest_dir=tmp_path / "o", client=client, centroid=False)
    a, b = (t.wire for t in batch.targets)
    assert a["RA"] == pytest.approx(335.6985, abs=1e-3) and b["Dec"] == pytest.approx(43.90431, abs=1e-3)
    assert (a["pccounts"], b["pccounts"], a["wtcounts"]) == (10, 40, 5)
    assert a["cent"] == 0
    sky = SkyCoord([1, 2] * u.deg, [3, 4] * u.deg)
    batch = BatchRun(Table({"c": sky}), products=["psf"], state_file=tmp_path / "u.json",
                     dest_dir=tmp_path / "o", client=client)
    assert [t.wire["Dec"] for t in batch.targets] == pytest.approx([3, 4])


@pytest.mark.parametrize("kwargs, word", [
    ({"products": None}, "products"),
    ({"products": ["nothing"]}, "products"),
    ({"max_active": 0}, "max_active"),
    ({"poll_interval": "soon"}, "poll_interval"),
    ({"download_format": "rar"}, "download_format"),
    ({"retrieve": ["everything"]}, "retrieve"),
    ({"name_column": "nope"}, "name_column"),
    ({"params_columns": ["missing"]}, "params_columns"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, word):
    options = dict(products=["standard_position"], state_file=tmp_path / "s.json", dest_dir=tmp_path,
                   client=XRTProductsClass(server="http://127.0.0.1:9", email="me@example.org"))
    options.update(kwargs)
    with pytest.raises(InvalidRequestError, match=word):
        BatchRun(Table({"name": ["x"]}), **options)


def test_foreign_state_file_is_refused(tmp_path):
    state = tmp_path / "s.json"
    state.write_text('{"something": "else"}')
    batch = BatchRun(["GK Per"], products=["standard_position"], state_file=state, dest_dir=tmp_path,
                     client=XRTProductsClass(server="http://127.0.0.1:9", email="me@example.org"))
    with pytest.raises(InvalidRequestError, match="state_file"):
        batch.run()
    assert state.read_text() == '{"something": "else"}'


# -- the state journal ----------------------------------------------------------------------------
def _journal(state):
    return state.with_name(state.name + ".journal")


def _loaded_state(path, n=3):
    from xrtprods_astro.batch import _State
    state = _State(path)
    for i in range(n):
        state.targets[f"T{i}"] = {"index": i, "name": f"T{i}", "wire": {"name": f"T{i}"}, "state": "pending",
                                  "job_id": None, "url": None, "intent_at": None, "submit_attempts": 0,
                                  "retrieve_attempts": 0, "statuses": {}, "outcomes": {}, "paths": {},
                                  "reasons": []}
    state.reindex()
    state.save()
    return state


def test_state_updates_append_to_a_journal_and_leave_the_state_file_alone(tmp_path):
    from xrtprods_astro.batch import _State
    path = tmp_path / "s.json"
    state = _loaded_state(path)
    before = path.read_bytes()
    state.update("T0", state="intent", intent_at=1.5, submit_attempts=1)
    state.update("T0", state="submitted", job_id="42", url="http://x/42")
    state.update("T1", state="failed", reasons=["no"])
    assert path.read_bytes() == before  # not rewritten per update
    assert stat.S_IMODE(_journal(path).stat().st_mode) == 0o600
    assert len(_journal(path).read_text().splitlines()) == 1 + 3  # a header and one line per update
    assert state.counts() == {"pending": 1, "submitted": 1, "failed": 1}
    state.close()
    again = _State(path)
    assert again.load()
    assert again.targets["T0"]["job_id"] == "42" and again.targets["T0"]["state"] == "submitted"
    assert again.targets["T1"]["reasons"] == ["no"]
    assert again.first_pending(5) == ["T2"]
    # Folding the journal into the state file removes it.
    again.save()
    assert not _journal(path).exists()
    assert json.loads(path.read_text())["targets"]["T0"]["job_id"] == "42"


def test_a_torn_last_journal_line_is_dropped(tmp_path):
    from xrtprods_astro.batch import _State
    path = tmp_path / "s.json"
    state = _loaded_state(path)
    state.update("T0", state="intent", intent_at=2.0, submit_attempts=1)
    state.close()
    with open(_journal(path), "ab") as stream:  # what kill -9 in the middle of a write leaves
        stream.write(b'["T0",{"state":"submitted","job_id":"7"')
    again = _State(path)
    assert again.load()
    assert again.targets["T0"]["state"] == "intent" and again.targets["T0"]["job_id"] is None
    # A broken line before the last one is not a torn write: the file is refused.
    _journal(path).write_bytes(_journal(path).read_bytes() + b"\n" + b'["T1",{"state":"pending"}]\n')
    with pytest.raises(InvalidRequestError, match="line 3"):
        _State(path).load()


def test_a_journal_of_another_batch_is_not_replayed(tmp_path):
    from xrtprods_astro.batch import _State
    path = tmp_path / "s.json"
    state = _loaded_state(path)
    state.update("T0", state="failed", reasons=["old batch"])
    state.close()
    journal = _journal(path).read_bytes()
    path.unlink()
    _loaded_state(path).close()  # a new batch in the same place
    _journal(path).write_bytes(journal)
    again = _State(path)
    assert again.load()
    assert again.targets["T0"]["state"] == "pending"


def test_the_journal_is_folded_in_after_as_many_updates_as_targets(tmp_path, monkeypatch):
    from xrtprods_astro import batch
    monkeypatch.setattr(batch, "_COMPACT_MIN", 4)
    path = tmp_path / "s.json"
    state = _loaded_state(path, n=3)
    for attempt in range(1, 4):
        state.update("T0", submit_attempts=attempt)
    assert _journal(path).exists()
    state.update("T0", submit_attempts=4)  # the fourth line: max(4, 3 targets) reached
    assert not _journal(path).exists()
    assert json.loads(path.read_text())["targets"]["T0"]["submit_attempts"] == 4


_KILLED_BATCH = """
import sys
from astropy.table import Table
from xrtprods_astro.batch import BatchRun
from xrtprods_astro.core import XRTProductsClass
url, email, state, out, names, ras, decs = sys.argv[1:8]
client = XRTProductsClass(server=url, email=email, poll_interval=0.05)
targets = Table({"name": names.split(","), "ra": [float(x) for x in ras.split(",")],
                 "dec": [float(x) for x in decs.split(",")]})
BatchRun(targets, products={"standard_position": True}, state_file=state, dest_dir=out, client=client,
         max_active=3, retrieve=["standard_position"]).run(timeout=120)
"""


def test_kill_9_at_random_points_resumes_without_duplicates(xrtprods_service_factory, tmp_path):
    import random
    import signal
    import subprocess
    import sys
    svc = xrtprods_service_factory(job_duration=0.4, job_limit=3)
    targets = _targets(12, "K")
    argv = [sys.executable, "-c", _KILLED_BATCH, svc.url, svc.email, str(tmp_path / "state.json"),
            str(tmp_path / "out"), ",".join(targets["name"]),
            ",".join(str(x) for x in targets["ra"].value), ",".join(str(x) for x in targets["dec"].value)]
    rng = random.Random(15)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Wait for the run to be under way (the interpreter's imports take a while), then kill it.
        while proc.poll() is None and not _journal(tmp_path / "state.json").exists():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 3  # the run was interrupted several times ...
    summary = BatchRun(targets, products={"standard_position": True}, state_file=tmp_path / "state.json",
                       dest_dir=tmp_path / "out", client=_client(svc), max_active=3,
                       retrieve=["standard_position"]).run(timeout=120)
    assert set(summary["status"]) == {"ok"}
    # ... and still every target has exactly one job on the service.
    jobs = _server_jobs(svc)
    assert sorted(job.pars["name"] for job in jobs) == sorted(targets["name"])
    by_name = {job.pars["name"]: str(job.job_id) for job in jobs}
    assert [by_name[n] for n in summary["name"]] == list(summary["job_id"])


def test_the_job_list_is_read_once_per_run_not_once_per_submission(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.2, job_limit=4)
    kwargs = dict(products={"standard_position": True}, dest_dir=tmp_path / "out", max_active=4,
                  retrieve=["standard_position"])
    first = BatchRun(_targets(8, "L"), client=_client(svc), state_file=tmp_path / "one.json",
                     **kwargs).run(timeout=60)
    assert set(first["status"]) == {"ok"}
    counts = svc.request_counts()
    assert counts.get("submit", 0) == 8
    assert counts.get("listOldJobs", 0) == 1  # read once to look for earlier jobs of all eight
    # Another batch of the same targets and four new ones: the eight are re-used, with the one read.
    svc.reset_counts()
    again = BatchRun(_targets(12, "L"), client=_client(svc), state_file=tmp_path / "two.json",
                     **kwargs).run(timeout=60)
    assert set(again["status"]) == {"ok"}
    assert list(again["job_id"][:8]) == list(first["job_id"])
    counts = svc.request_counts()
    assert counts.get("submit", 0) == 4 and counts.get("listOldJobs", 0) == 1
    assert len(_server_jobs(svc)) == 12


def test_links_planted_in_a_target_folder_are_never_written_through(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.2, job_limit=5)
    folder = tmp_path / "out" / "T00"
    folder.mkdir(parents=True, mode=0o700)
    outside = {}
    for name in ("standard_position.ecsv.part", "standard_position.ecsv"):
        victim = tmp_path / f"victim_{name}"
        victim.write_text("not yours\n")
        victim.chmod(0o644)
        (folder / name).symlink_to(victim)
        outside[victim] = name
    summary = run_batch(_targets(1), products={"standard_position": True}, state_file=tmp_path / "s.json",
                        dest_dir=tmp_path / "out", client=_client(svc), timeout=60)
    assert list(summary["status"]) == ["ok"]
    for victim in outside:
        assert victim.read_text() == "not yours\n"
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    written = folder / "standard_position.ecsv"
    assert not written.is_symlink() and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert Table.read(written, format="ascii.ecsv")["found"][0]
    # Nothing of ours is left beside the products (the planted .part link is not ours to remove).
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_target_folder_that_is_a_link_is_refused(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0.2, job_limit=5)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "T00").symlink_to(elsewhere)
    (tmp_path / "state.json.lock").symlink_to(tmp_path / "victim.lock")
    kwargs = dict(products={"standard_position": True}, state_file=tmp_path / "state.json",
                  dest_dir=tmp_path / "out", client=_client(svc))
    with pytest.raises(InvalidRequestError, match="state_file: .*state.json cannot be locked"):
        run_batch(_targets(1), timeout=60, **kwargs)
    assert not (tmp_path / "victim.lock").exists()
    (tmp_path / "state.json.lock").unlink()
    summary = run_batch(_targets(1), timeout=60, **kwargs)
    assert list(summary["status"]) == ["failed"]
    assert "is a link; products are never written through one" in summary["reasons"][0]
    assert list(elsewhere.iterdir()) == []
    recorded = json.loads((tmp_path / "state.json").read_text())["targets"]
    assert not recorded["T00"].get("local_failures")   # a resume does not retry it for ever


_FULL_DISK_BATCH = """
import resource, signal, sys
from astropy.table import Table
from xrtprods_astro.batch import run_batch
from xrtprods_astro.core import XRTProductsClass
url, email, names, ras, decs, limit = sys.argv[1:7]
# A full disk, as a file-size limit: EFBIG for every write past it, not SIGXFSZ, which is ignored.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
client = XRTProductsClass(server=url, email=email, poll_interval=0.05)
targets = Table({"name": names.split(","), "ra": [float(x) for x in ras.split(",")],
                 "dec": [float(x) for x in decs.split(",")]})
run_batch(targets, products={"lightcurve": {"binning": "counts", "pc_counts": 3, "wt_counts": 5}},
          state_file="s.json", dest_dir="out", client=client, timeout=120)
"""


def test_a_resume_retries_what_a_full_disk_failed(xrtprods_service_factory, tmp_path):
    import subprocess
    import sys
    svc = xrtprods_service_factory(job_duration=0.2, job_limit=6)
    targets = _targets(6, "F")
    # 32 kB: the state file and its journal fit, the fine-binned light curves do not.
    argv = [sys.executable, "-c", _FULL_DISK_BATCH, svc.url, svc.email, ",".join(targets["name"]),
            ",".join(str(x) for x in targets["ra"].value), ",".join(str(x) for x in targets["dec"].value),
            str(32 * 1024)]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    recorded = json.loads((tmp_path / "s.json").read_text())["targets"]
    local = {k: r["local_failures"] for k, r in recorded.items() if r.get("local_failures")}
    assert local, done.stderr   # the premise: some products could not be written
    for reason in (r for failures in local.values() for r in failures.values()):
        assert "run again to retry" in reason
    # A failed write leaves nothing behind: no part file, no temporary file.
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.name.endswith((".part", ".tmp"))]
    assert leftovers == []
    assert len(_server_jobs(svc)) == 6
    svc.reset_counts()

    # More room (no limit): the resume retrieves what failed locally, and submits nothing.
    summary = run_batch(targets, products={"lightcurve": {"binning": "counts", "pc_counts": 3,
                                                          "wt_counts": 5}},
                        state_file=tmp_path / "s.json", dest_dir=tmp_path / "out", client=_client(svc),
                        timeout=120)
    assert set(summary["status"]) == {"ok"}, summary["target", "lightcurve"]
    assert svc.request_counts().get("submit", 0) == 0
    assert len(_server_jobs(svc)) == 6
    assert all("run again" not in r for r in summary["reasons"])
    recorded = json.loads((tmp_path / "s.json").read_text())["targets"]
    assert not any(r.get("local_failures") for r in recorded.values())
    _check_products(summary, ["lightcurve"])


_LOCKING_BATCH = """
import sys
from astropy.table import Table
from xrtprods_astro.batch import run_batch
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError
url, email, state, out, names, ras, decs = sys.argv[1:8]
client = XRTProductsClass(server=url, email=email, poll_interval=0.05)
targets = Table({"name": names.split(","), "ra": [float(x) for x in ras.split(",")],
                 "dec": [float(x) for x in decs.split(",")]})
try:
    run_batch(targets, products={"standard_position": True}, state_file=state, dest_dir=out, client=client,
              retrieve=["standard_position"], timeout=120)
except InvalidRequestError as exc:
    sys.stderr.write(f"refused: {exc}\\n")
    sys.exit(2)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _batch_argv(script, svc, tmp_path, targets):
    import sys
    return [sys.executable, "-c", script, svc.url, svc.email, str(tmp_path / "state.json"),
            str(tmp_path / "out"), ",".join(targets["name"]),
            ",".join(str(x) for x in targets["ra"].value), ",".join(str(x) for x in targets["dec"].value)]


def test_two_runs_started_together_submit_each_target_once(xrtprods_service_factory, tmp_path):
    import subprocess
    svc = xrtprods_service_factory(job_duration=1.0, job_limit=10)
    targets = _targets(6, "P")
    argv = _batch_argv(_LOCKING_BATCH, svc, tmp_path, targets)
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(proc.wait(timeout=300), proc.stderr.read()) for proc in procs]
    for proc in procs:
        proc.stderr.close()
    # One job per target, not two: a run that found the state file in use refused, naming it.
    assert sorted(job.pars["name"] for job in _server_jobs(svc)) == sorted(targets["name"])
    assert 0 in [code for code, _ in results]
    for code, err in results:
        if code != 0:
            assert code == 2, err
            assert f"state_file: {tmp_path / 'state.json'} is in use by another batch run (process " in err


def test_a_running_batch_locks_its_state_file_until_its_process_ends(xrtprods_service_factory, tmp_path):
    import signal
    import subprocess
    svc = xrtprods_service_factory(job_duration=60, job_limit=10)
    targets = _targets(2, "Q")
    proc = subprocess.Popen(_batch_argv(_LOCKING_BATCH, svc, tmp_path, targets),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = tmp_path / "state.json.lock"
    try:
        deadline = time.monotonic() + 120   # a guard against a hang, not a measure
        while f"process {proc.pid} " not in (lock.read_text() if lock.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never took its lock"
            time.sleep(0.02)
        kwargs = dict(products={"standard_position": True}, state_file=tmp_path / "state.json",
                      dest_dir=tmp_path / "out", client=_client(svc), retrieve=["standard_position"])
        with pytest.raises(InvalidRequestError, match=f"state_file: .* is in use by another batch run "
                                                      f"\\(process {proc.pid} on "):
            BatchRun(targets, **kwargs).run(timeout=5)
    finally:
        proc.send_signal(signal.SIGKILL)   # no clean-up at all: the system drops its lock
        proc.wait()
    # Not refused, nor blocked, by the dead run's lock: this run goes on with the batch.
    summary = BatchRun(targets, **kwargs).run(timeout=0.5)
    assert set(summary["status"]) == {"timeout"} and all(summary["job_id"])
    assert len(_server_jobs(svc)) == 2
    for job in _server_jobs(svc):
        job.cancel(job.products)


_INTERRUPTED_BATCH = """
import sys
from astropy.table import Table
from xrtprods_astro.batch import run_batch
from xrtprods_astro.core import XRTProductsClass
url, email, state, out, names, ras, decs = sys.argv[1:8]
client = XRTProductsClass(server=url, email=email, poll_interval=0.05)
targets = Table({"name": names.split(","), "ra": [float(x) for x in ras.split(",")],
                 "dec": [float(x) for x in decs.split(",")]})
run_batch(targets, products={"standard_position": True}, state_file=state, dest_dir=out, client=client,
          retrieve=["standard_position"], timeout=120)
"""


def test_ctrl_c_saves_the_state_and_says_how_to_resume(xrtprods_service_factory, tmp_path):
    import signal
    import subprocess
    svc = xrtprods_service_factory(job_duration=2.0, job_limit=10)
    targets = _targets(4, "I")
    proc = subprocess.Popen(_batch_argv(_INTERRUPTED_BATCH, svc, tmp_path, targets),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    journal = _journal(tmp_path / "state.json")
    deadline = time.monotonic() + 120   # a guard against a hang, not a measure
    while '"state":"submitted"' not in (journal.read_text() if journal.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never submitted"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode != 0
    state = tmp_path / "state.json"
    assert f"Batch interrupted; state saved in {state}; run the same batch again to resume." in err
    # Saved: the state file alone (the journal folded in) records the submitted jobs.
    assert not journal.exists()
    recorded = json.loads(state.read_text())["targets"]
    before = {k: r["job_id"] for k, r in recorded.items() if r["job_id"] is not None}
    assert before
    summary = run_batch(targets, products={"standard_position": True}, state_file=state,
                        dest_dir=tmp_path / "out", client=_client(svc), retrieve=["standard_position"],
                        timeout=120)
    assert set(summary["status"]) == {"ok"}
    assert len(_server_jobs(svc)) == 4
    for key, job_id in before.items():
        assert summary["job_id"][list(summary["target"]).index(key)] == job_id
