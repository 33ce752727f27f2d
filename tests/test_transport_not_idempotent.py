# Licensed under a 3-clause BSD style license - see LICENSE
"""``Transport.call_common(..., idempotent=False)``: a call that starts work at the service is sent
again only when it provably never left; after a lost answer it raises instead of starting the work
twice (the SXPS upper-limit request, shared/spec/ukssdc-catalogues.md §2.4)."""
import socket

import pytest

from xrtprods_astro import CataloguesClass
from xrtprods_astro.exceptions import ServiceUnavailableError, SubmissionUnknownError


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("nidsvc"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def client(svc, tmp_path):
    svc.faults.clear()
    svc.sxps.ul_timeouts = 0
    c = CataloguesClass(server=svc.url)
    c.cache_location = tmp_path / "cache"
    for transport in (c._transport, c._ul_transport):
        transport.sleep = lambda seconds: None
        transport.retries = 3
    yield c
    svc.faults.clear()


def _body():
    return {"catalogue": "LSXPS", "bands": ["total"], "whichData": "deepest", "timeFormat": "met",
            "sigma": 3.0, "detectionsAsRates": True, "skipDetections": False, "useCatValues": False,
            "searchName": "GK Per"}


@pytest.mark.parametrize("kind", ["drop_after", "drop", "http500"])
def test_a_lost_answer_is_not_sent_again(client, svc, kind):
    svc.faults.script("main", kind)
    before = svc.request_counts().get("main", 0)
    with pytest.raises(SubmissionUnknownError, match="getSXPSUL.*not sent again"):
        client._ul_transport.call_common(f"{svc.url}/API/main.php", "getSXPSUL", _body(), idempotent=False)
    assert svc.request_counts()["main"] - before == 1


def test_an_answer_held_past_the_time_limit_is_not_sent_again(client, svc):
    # As the real service holding a request 5 minutes: the client's time limit passes first.
    svc.faults.configure(latency=1.0)
    client._ul_transport.timeout = 0.3
    before = svc.request_counts().get("main", 0)
    with pytest.raises(SubmissionUnknownError, match="answer was lost"):
        client._ul_transport.call_common(f"{svc.url}/API/main.php", "getSXPSUL", _body(), idempotent=False)
    assert svc.request_counts()["main"] - before == 1


def test_idempotent_calls_are_still_retried(client, svc):
    svc.faults.script("main", "drop_after")
    before = svc.request_counts().get("main", 0)
    data = client._transport.call_common(f"{svc.url}/API/main.php", "getMetadata",
                                         {"database": "LSXPS", "table": "sources"}, required=("metadata",))
    assert "metadata" in data and svc.request_counts()["main"] - before == 2


def test_a_call_that_never_left_is_retried():
    # Nothing listens on a port just closed: the connection is refused before a byte is sent.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = CataloguesClass(server=f"http://127.0.0.1:{port}")
    pauses = []
    c._ul_transport.sleep = pauses.append
    c._ul_transport.retries = 2
    with pytest.raises(ServiceUnavailableError) as info:
        c._ul_transport.call_common(f"http://127.0.0.1:{port}/API/main.php", "getSXPSUL", _body(),
                                    idempotent=False)
    assert not isinstance(info.value, SubmissionUnknownError)
    assert "3 attempt(s)" in str(info.value) and len(pauses) == 2


def test_get_upper_limits_raises_after_a_lost_answer_and_asks_once(client, svc):
    svc.faults.script("main", "drop_after")
    before = svc.request_counts().get("main", 0)
    with pytest.raises(SubmissionUnknownError):
        client.get_upper_limits("GK Per")
    assert svc.request_counts()["main"] - before == 1
    # Nothing was kept, so asking again sends a new request, which is answered.
    assert len(client.get_upper_limits("GK Per")) == 1
