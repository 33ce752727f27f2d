# Licensed under a 3-clause BSD style license - see LICENSE
"""
A counting fake of ``requests.Session.request`` for the transport, core, job
and cache tests.

It replaces only the network: astroquery's real ``BaseQuery._request`` and its
cache run on top of it. Answers are the recorded ``resp_*.json`` fixtures of
this folder (see README.rst), dicts, ready ``requests.Response`` objects,
exceptions to raise, or callables of the call.

Load it from a test module with ``load_fake()`` (tests/ is not a package):

    spec = importlib.util.spec_from_file_location("xrt_fake_session", DATA / "xrt_fake_session.py")
"""
import http.client
import io
import json
from collections import namedtuple
from pathlib import Path

import requests
from requests.structures import CaseInsensitiveDict

DATA = Path(__file__).parent

Call = namedtuple("Call", ["method", "url", "json", "headers", "timeout", "stream"])


#: A minimal valid submission in wire form (protocol.md §2.1), shared by the tests.
SUBMIT_WIRE = {"name": "GRB 200416A", "targ": "00968211", "RA": 335.6985, "Dec": -7.5179, "cent": 1,
               "poserr": 1, "useSXPS": 0, "lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30,
               "dynamic": 1}


def targz(files):
    """A gzipped tar archive in memory: {member name: bytes} -> bytes."""
    import tarfile
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def fixture(name):
    """The decoded ``resp_<name>.json`` fixture."""
    return json.loads((DATA / f"resp_{name}.json").read_text())


def make_response(status=200, body=b"", headers=None, url="https://www.swift.ac.uk/", method="POST"):
    """A real `requests.Response` holding ``body`` (bytes or str)."""
    response = requests.Response()
    response.status_code = status
    response.reason = http.client.responses.get(status, "")
    response._content = body.encode() if isinstance(body, str) else body
    response._content_consumed = True
    response.headers = CaseInsensitiveDict(headers or {})
    response.url = url
    response.encoding = "utf-8"
    response.request = requests.Request(method, url).prepare()
    return response


def fixture_response(name, url="https://www.swift.ac.uk/"):
    """The HTTP answer a fixture stands for (JSON body, or its recorded status and text)."""
    data = fixture(name)
    if "http_status" in data:
        return make_response(data["http_status"], data["text"],
                             {"Content-Type": data["content_type"]}, url=url)
    return make_response(200, json.dumps(data), {"Content-Type": "text/html; charset=UTF-8"}, url=url)


class BrokenStream(requests.Response):
    """A streamed answer whose connection breaks after ``cut`` bytes."""

    def __init__(self, body, cut, status=200, headers=None, url="https://www.swift.ac.uk/"):
        super().__init__()
        self.status_code = status
        self.reason = http.client.responses.get(status, "")
        self._body = body
        self._cut = cut
        self.raw = io.BytesIO()
        self.headers = CaseInsensitiveDict(headers or {})
        self.url = url
        self.request = requests.Request("GET", url).prepare()

    def iter_content(self, chunk_size=1, decode_unicode=False):
        yield self._body[:self._cut]
        raise requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead")


class FakeService:
    """Routes requests by URL path suffix (and APIFunc for main.php) to queued answers.

    ``add(route, *answers)`` queues answers; the last one repeats. Every call
    is recorded in ``calls``.
    """

    def __init__(self):
        self.routes = {}
        self.calls = []

    def add(self, route, *answers):
        self.routes[route] = list(answers)
        return self

    def route_of(self, url, body):
        path = url.split("?")[0]
        if path.endswith("main.php") and isinstance(body, dict):
            return f"main.php:{body.get('APIFunc')}"
        for route in sorted(self.routes, key=len, reverse=True):
            if path.endswith(route):
                return route
        return path.rsplit("/", 1)[-1]

    def count(self, route=None):
        if route is None:
            return len(self.calls)
        return sum(1 for call in self.calls if self.route_of(call.url, call.json) == route)

    def request(self, session, method, url, **kwargs):
        call = Call(method, url, kwargs.get("json"), kwargs.get("headers"), kwargs.get("timeout"),
                    kwargs.get("stream"))
        self.calls.append(call)
        route = self.route_of(url, call.json)
        queue = self.routes.get(route)
        if not queue:
            return make_response(404, "<html>Not Found</html>", url=url, method=method)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer) and not isinstance(answer, type):
            answer = answer(call)
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, str):
            return fixture_response(answer, url=url)
        if isinstance(answer, dict):
            return make_response(200, json.dumps(answer), url=url, method=method)
        return answer

    def install(self, monkeypatch):
        service = self

        def fake_request(session, method, url, **kwargs):
            return service.request(session, method, url, **kwargs)

        monkeypatch.setattr(requests.Session, "request", fake_request)
        return self
