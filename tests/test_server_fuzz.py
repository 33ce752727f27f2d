# Licensed under a 3-clause BSD style license - see LICENSE
"""
Malformed request bodies against every endpoint of the local service (issue 20, item 16).

A deterministic set of a few hundred bodies: raw bytes that are not a JSON object, and valid
bodies with one parameter replaced by a hostile value, removed, or joined by an unexpected key.
Whatever the body, the answer is the protocol's error answer (HTTP 200 with ``OK: 0`` / ``ERROR``)
or a 4xx, never a 5xx: a 500 means a handler raised on input it should have refused.
"""
import json
import random
import socket

import pytest
import requests

from xrtprods_astro.server import LocalService

# Every POST path of protocol.md §2, and every APIFunc of main.php (§2.12).
USER_OBJECTS = ["run_userobject.php", "canceljob.php", "checkProductStatus.php", "tprods/getPSFPos.php",
                "tprods/getEnhPos.php", "tprods/getAstromPos.php", "tprods/getXastromPos.php",
                "tprods/getSourceDetResults.php", "tprods/getLCData.php", "tprods/getSpecData.php",
                "getOldProduct.php", "listOldJobs.php", "getNumJobs.php"]
MAIN_FUNCS = ["rebinLightCurve", "checkRebinStatus", "downloadLightCurve", "cancelRebin"]

# Bodies that are not a JSON object of parameters at all.
RAW_BODIES = [b"", b"null", b"[]", b"1", b'"text"', b"{", b"}", b'{"a":', b"\xff\xfe{}", b"\xef\xbb\xbf{}",
              b"NaN", b"{\"UserID\": NaN}", b"{\"UserID\": Infinity}", b"{\"x\": 1e999}",
              b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
              b'{"UserID": ' + b"1" * 5000 + b"}", b'{"JobID": -' + b"9" * 5000 + b"}",
              b'{"UserID": "a", "UserID": "b"}', b"\x00" * 64, "{\"JobID\": \"²\"}".encode(),
              b'{"UserID": "\\ud800"}']

# Values that stand in for one parameter at a time.
HOSTILE = [None, True, False, 0, -1, 1.5, 1e308, -1e308, 10 ** 4000, "", " ", "²", "¹", "١٢",
           "0x1F", "1e5", "NaN", "-0", "ftp://127.0.0.1/x", "../../../etc/passwd", "\x00", "%s%n",
           "a" * 10_000, "9" * 5000, [], [1, 2], [[[]]], {}, {"a": {"b": 1}}, "lc,,spec", "all,lc"]


def _post(session, url, data):
    try:
        return session.post(url, data=data, timeout=30).status_code
    except requests.ConnectionError:
        # A server may close the connection on a body it will not read (413, 411); that is not a 5xx.
        return None


def _build_nothing(*args):
    raise RuntimeError("products are not built in the fuzz test")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with LocalService(job_duration=0, job_limit=None, users=None,
                      data_dir=tmp_path_factory.mktemp("fuzz")) as svc:
        yield svc


@pytest.fixture(scope="module")
def bodies(service):
    """(path, body bytes) pairs: a deterministic set over every endpoint."""
    session = requests.Session()
    submit = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": service.email,
              "name": "GRB 200416A", "getCoords": 1, "getTargs": 1, "getT0": 1, "cent": 1, "poserr": 1,
              "lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dopsf": 1}
    answer = session.post(f"{service.user_objects_url}/run_userobject.php", json=submit).json()
    job_id = answer["JobID"]
    rebin = session.post(service.api_url, json={"APIFunc": "rebinLightCurve", "type": "UOB_LC",
                                                "objectID": job_id, "binMeth": "time",
                                                "pcBinTime": 1000, "wtBinTime": 100}).json()
    rebin_id = rebin["JobID"]
    follow_up = {"UserID": service.email, "JobID": job_id, "what": "lc,psf", "whatProg": "lc",
                 "nosys": "no", "incbad": "no", "oldJob": job_id}
    main = {"type": "UOB_LC", "objectID": job_id, "JobID": rebin_id, "binMeth": "time",
            "pcBinTime": 1000, "nosys": "both", "incbad": "yes"}
    # Bodies the service accepts would each build products or rebin a light curve, which takes a
    # second of CPU and cannot answer a 5xx anyway (build errors fail the job, not the request):
    # from here on a build fails at once, so the fuzz checks request handling alone.
    service.store.builder = service.store.rebinner = _build_nothing
    rng = random.Random(20)   # a fixed sample, so a failure names a body that fails every time
    pairs = []
    for path in USER_OBJECTS:
        url = f"{service.user_objects_url}/{path}"
        base = submit if path == "run_userobject.php" else follow_up
        pairs += [(url, raw) for raw in RAW_BODIES]
        for key in base:
            for value in rng.sample(HOSTILE, 6):
                pairs.append((url, json.dumps({**base, key: value})))
            pairs.append((url, json.dumps({k: v for k, v in base.items() if k != key})))
        pairs.append((url, json.dumps({**base, "URL": "ftp://127.0.0.1/x", "": 1, "__proto__": {}})))
    for func in MAIN_FUNCS:
        base = {"APIFunc": func, **main}
        pairs += [(service.api_url, raw) for raw in RAW_BODIES[:8]]
        for key in base:
            for value in rng.sample(HOSTILE, 6):
                pairs.append((service.api_url, json.dumps({**base, key: value})))
        pairs.append((service.api_url, json.dumps({**base, "JobID": "¹"})))
    return pairs


def test_malformed_bodies_never_get_a_5xx(service, bodies):
    assert len(bodies) > 500
    session = requests.Session()
    failures = []
    for url, data in bodies:
        status = _post(session, url, data)
        if status is not None and status >= 500:
            failures.append((status, url.rsplit("/", 1)[-1], str(data)[:80]))
    assert failures == []
    # The service is still answering after all that.
    assert session.post(f"{service.user_objects_url}/getNumJobs.php",
                        json={"UserID": service.email}).json()["OK"] == 1


@pytest.mark.parametrize("path,body,fragment", [
    ("/user_objects/checkProductStatus.php", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("/user_objects/getNumJobs.php", b'{"UserID": ' + b"1" * 5000 + b"}", "not valid JSON"),
    ("/user_objects/checkProductStatus.php", '{"UserID": "demo@example.org", "JobID": "²", "what": "lc"}',
     "JobID is ²"),
])
def test_named_bad_bodies_get_the_error_envelope(service, path, body, fragment):
    answer = requests.post(service.url + path, data=body if isinstance(body, bytes) else body.encode())
    assert answer.status_code == 200
    assert answer.json()["OK"] == 0 and fragment in answer.json()["ERROR"]


def test_main_php_superscript_job_id_is_a_bad_parameter(service):
    answer = requests.post(service.api_url, json={"APIFunc": "checkRebinStatus", "JobID": "¹"})
    assert answer.status_code == 200
    assert answer.json()["ERROR"] == "BAD_PARAMETER" and "JobID" in answer.json()["ERRORTEXT"]


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_service_binds_ipv6_loopback():
    with LocalService(host="::1", job_duration=0) as svc:
        assert svc.url.startswith("http://[::1]:")
        answer = requests.post(f"{svc.user_objects_url}/getNumJobs.php", json={"UserID": svc.email})
    assert answer.json() == {"OK": 1, "numJobs": 0, "APIVersion": "1.12"}


def test_serve_on_an_address_it_cannot_bind_is_a_message(capsys):
    from xrtprods_astro.cli import main
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "cannot serve on --host 127.0.0.1" in err and "Traceback" not in err
