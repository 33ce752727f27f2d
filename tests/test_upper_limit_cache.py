# Licensed under a 3-clause BSD style license - see LICENSE
"""Upper limits are never lost: the service deletes a result once fetched, so the client writes it
to its private cache folder on first fetch (by request and by ULID), and keeps the ULID of a request
that timed out, so that another client instance, another process or an interrupted script gets the
same result without asking the service again (shared/spec/ukssdc-catalogues.md §2.4)."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xrtprods_astro import CataloguesClass
from xrtprods_astro.exceptions import InvalidRequestError, JobTimeoutError, RemoteServiceError

GK_PER = SkyCoord(52.80004, 43.90431, unit="deg")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("ulsvc"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def where(tmp_path):
    return tmp_path / "ulcache"


@pytest.fixture
def make(svc, where):
    svc.faults.clear()
    svc.sxps.ul_timeouts = 0

    def make_client():
        client = CataloguesClass(server=svc.url)
        client.cache_location = where
        return client
    return make_client


def _asked(svc):
    return svc.request_counts().get("main", 0)


def _same(a, b):
    assert a.colnames == b.colnames and list(a["obsid"]) == list(b["obsid"])
    assert np.allclose(a["Total_UpperLimit"], b["Total_UpperLimit"])
    assert np.all(a["start"] == b["start"])


def test_a_second_client_gets_the_result_without_asking(make, svc):
    first = make().get_upper_limits(GK_PER, which_data="all")
    before = _asked(svc)
    again = make().get_upper_limits(GK_PER, which_data="all")
    assert _asked(svc) == before
    _same(first, again)
    assert again.meta["nearby_sources"] == first.meta["nearby_sources"]


def test_cache_false_asks_again(make, svc):
    make().get_upper_limits(GK_PER)
    before = _asked(svc)
    make().get_upper_limits(GK_PER, cache=False)
    assert _asked(svc) == before + 1


def test_other_options_are_another_request(make, svc):
    make().get_upper_limits(GK_PER)
    before = _asked(svc)
    make().get_upper_limits(GK_PER, sigma=2.0)
    assert _asked(svc) == before + 1


def test_a_result_fetched_by_ulid_is_kept_for_another_client(make, svc):
    svc.sxps.ul_timeouts = 1
    late = make().get_upper_limits("Mrk 421")
    ulid = late.meta["ULID"]
    before = _asked(svc)
    # The service has deleted it; both ways of asking another client give it from the cache.
    _same(make().get_upper_limits_by_id(ulid), late)
    _same(make().get_upper_limits("Mrk 421"), late)
    assert _asked(svc) == before


def test_a_pending_ulid_is_followed_up_by_a_new_client(make, svc):
    client = make()
    svc.sxps.ul_timeouts = 1 + client.UL_RETRIES        # the request and every re-poll time out
    with pytest.raises(JobTimeoutError) as info:
        client.get_upper_limits(GK_PER, bands="all")
    ulid = str(info.value).split("ULID ")[1].split()[0]
    sent = []
    other = make()
    original = other._ul_transport.call_common

    def spy(url, func, payload, **kwargs):
        sent.append(dict(payload))
        return original(url, func, payload, **kwargs)

    other._ul_transport.call_common = spy
    svc.sxps.ul_timeouts = 0
    ul = other.get_upper_limits(GK_PER, bands="all")
    assert sent == [{"ULID": ulid}]                      # followed up, not asked anew
    assert ul.meta["ULID"] == ulid and "Hard_UpperLimit" in ul.colnames


def test_an_interrupted_script_loses_nothing(make, svc, monkeypatch):
    client = make()
    svc.sxps.ul_timeouts = 1

    def interrupted(ulid, **kwargs):
        raise KeyboardInterrupt    # the user stops the script while it waits on the ULID
    monkeypatch.setattr(client, "_ul_poll", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.get_upper_limits("Mrk 421", which_data="all")
    ul = make().get_upper_limits("Mrk 421", which_data="all")
    assert ul.meta["ULID"].startswith("UL") and len(ul) > 1


def test_two_processes(make, svc, where):
    script = textwrap.dedent(f"""
        import json
        from astropy.coordinates import SkyCoord
        from xrtprods_astro import CataloguesClass
        client = CataloguesClass(server={svc.url!r})
        client.cache_location = {str(where)!r}
        ul = client.get_upper_limits(SkyCoord(166.11381, 38.25, unit="deg"), which_data="all")
        print(json.dumps([list(ul["obsid"]), [float(x) for x in ul["Total_UpperLimit"]]]))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = []
    for _ in range(2):
        before = _asked(svc)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                              timeout=120, cwd=str(where.parent))
        assert done.returncode == 0, done.stderr
        runs.append((json.loads(done.stdout.strip().splitlines()[-1]), _asked(svc) - before))
    assert runs[0][0] == runs[1][0] and len(runs[0][0][0]) > 1
    assert runs[0][1] == 1 and runs[1][1] == 0


def test_the_store_is_private_json(make):
    client = make()
    client.get_upper_limits(GK_PER)
    files = sorted((client.cache_location / "upper_limits").glob("*.json"))
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        record = json.loads(path.read_text())
        assert record["request"]["RA"] == pytest.approx(52.80004) and "ULData" in record["answer"]


def test_a_corrupt_store_file_is_asked_again(make, svc):
    client = make()
    client.get_upper_limits(GK_PER)
    for path in (client.cache_location / "upper_limits").glob("*.json"):
        path.write_text("{not json")
    before = _asked(svc)
    assert len(make().get_upper_limits(GK_PER)) == 1
    assert _asked(svc) == before + 1


def test_many_targets_resume_from_the_cache(make, svc):
    targets = Table({"ra": [52.80004, 166.11381, 166.11381], "dec": [43.90431, 38.20883, 38.25]})
    first = make().get_upper_limits(targets[:2])
    before = _asked(svc)
    # A run "started again" on the whole table asks only for the target it had not finished.
    ul = make().get_upper_limits(targets)
    assert _asked(svc) == before + 1
    assert list(ul["target_index"][:len(first)]) == list(first["target_index"])


def test_many_targets_collect_errors_in_input_order(make):
    targets = Table({"name": ["GK Per", "", "Mrk 421"]})
    seen = []
    ul = make().get_upper_limits(targets, errors="collect", max_workers=2,
                                 progress=lambda done, total, failed: seen.append((done, total, failed)))
    assert list(ul["target_index"]) == [0, 2]
    errors = Table(rows=ul.meta["errors"])
    assert list(errors["target_index"]) == [1] and "InvalidRequestError" in errors["error"][0]
    assert seen[-1] == (3, 3, 1)
    with pytest.raises(InvalidRequestError):
        make().get_upper_limits(targets, errors="raise")


def test_batch_options_are_checked(make):
    with pytest.raises(InvalidRequestError, match="errors.*raise, collect"):
        make().get_upper_limits(Table({"name": ["GK Per"]}), errors="ignore")
    with pytest.raises(InvalidRequestError, match="max_workers"):
        make().get_upper_limits(Table({"name": ["GK Per"]}), max_workers=0)


def test_get_query_payload_sends_nothing(make, svc):
    before = _asked(svc)
    body = make().get_upper_limits(GK_PER, bands="all", get_query_payload=True)
    assert body["RA"] == pytest.approx(52.80004) and body["bands"] == "all" and body["timeFormat"] == "met"
    bodies = make().get_upper_limits(Table({"name": ["GK Per", "Mrk 421"]}), get_query_payload=True)
    assert [b["searchName"] for b in bodies] == ["GK Per", "Mrk 421"]
    assert _asked(svc) == before


def test_a_ulid_the_service_no_longer_knows(make, svc):
    """Spec §9.1 (a second ULID fetch is not evidenced): an ERROR means nothing is left to follow up."""
    client = make()
    svc.sxps.ul_timeouts = 1 + client.UL_RETRIES
    with pytest.raises(JobTimeoutError) as info:
        client.get_upper_limits("Mrk 421", bands="all")
    ulid = str(info.value).split("ULID ")[1].split()[0]
    del svc.sxps._stored[ulid]               # the service's job was killed (or fetched elsewhere)
    svc.sxps.ul_timeouts = 0
    with pytest.raises(RemoteServiceError, match=f"no longer knows ULID {ulid}.*get_upper_limits"):
        make().get_upper_limits_by_id(ulid)
    before = _asked(svc)
    ul = make().get_upper_limits("Mrk 421", bands="all")   # the dead ULID, then a new request
    assert _asked(svc) == before + 2 and "ULID" not in ul.meta
    assert len(make().get_upper_limits("Mrk 421", bands="all")) == len(ul) and _asked(svc) == before + 2


def test_two_clients_asking_at_once_make_one_request(make, svc):
    import threading
    svc.faults.configure(latency=0.5)          # both are asking while the first answer is on its way
    try:
        results, before = [], _asked(svc)
        threads = [threading.Thread(target=lambda: results.append(make().get_upper_limits(GK_PER, sigma=2.5)))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        svc.faults.clear()
    assert len(results) == 2 and _asked(svc) == before + 1
    _same(results[0], results[1])


def test_many_targets_parse_answers_in_the_calling_thread(make, monkeypatch):
    # Workers only ask (and store); the Tables are built in the calling thread, so a worker sends
    # its next request as soon as its answer is in, not after parsing it (the 200-position makespan).
    import threading
    client = make()
    threads = []
    original = CataloguesClass._read_ul

    def spy(data, ulid):
        threads.append(threading.current_thread().name)
        return original(data, ulid)
    monkeypatch.setattr(CataloguesClass, "_read_ul", staticmethod(spy))
    targets = SkyCoord([52.80004, 166.11381, 10.0], [43.90431, 38.25, -20.0], unit="deg")
    ul = client.get_upper_limits(targets, max_workers=2, progress=False)
    assert set(ul["target_index"]) <= {0, 1, 2}
    assert len(threads) == 3 and set(threads) == {threading.current_thread().name}
