# Licensed under a 3-clause BSD style license - see LICENSE
"""Hostile servers on 127.0.0.1 against the transport (issue 20, items 1-5 and 10): compressed
answers, headers trickled past every limit, answers too big or too deep, product files that are not
what their names say, and two processes downloading the same file. Every server loop is bounded."""
import gzip
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest
import xrt_fake_session as fake

from xrtprods_astro import conf
from xrtprods_astro.exceptions import (ReaderError, RemoteServiceError, ServiceUnavailableError,
                                       SubmissionUnknownError)

# The hostile server and its helpers live in test_hostile.py; loaded by path, as the suite imports
# test modules by path (--import-mode=importlib), not as a package.
_spec = importlib.util.spec_from_file_location("_hostile_servers",
                                               Path(__file__).with_name("test_hostile.py"))
_h = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_h)
hostile = _h.hostile
reply, client_for, EMAIL = _h.reply, _h.client_for, _h.EMAIL

ARCHIVE = fake.targz({"USERPROD_951/lc/curve.qdp": b"READ TERR 1 2\n" + bytes(range(256)) * 800,
                      "USERPROD_951/lc/README.txt": b"hello"})
REAL_QDP = (Path(__file__).parent / "data" / "real" / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc"
            / "curve2.qdp").read_bytes()
JSON_TYPE = ("Content-Type", "text/html; charset=UTF-8")
NUM_JOBS = json.dumps({"OK": 1, "APIVersion": "1.12", "numJobs": 3}).encode()


def _deflate(data, raw=False):
    obj = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


def _listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# -- item 1: compressed answers ---------------------------------------------------------------------
@pytest.mark.parametrize("coding, encode", [("gzip", gzip.compress), ("x-gzip", gzip.compress),
                                            ("deflate", _deflate),
                                            ("deflate", lambda data: _deflate(data, raw=True))])
def test_compressed_json_answer_is_decoded(hostile, tmp_path, coding, encode):
    # What Apache's mod_deflate does to the text/html the service labels its JSON with.
    server = hostile(lambda h, seen: reply(h, 200, encode(NUM_JOBS),
                                           [JSON_TYPE, ("Content-Encoding", coding)]))
    assert client_for(server, tmp_path).count_active_jobs() == 3
    assert server.requests[0].headers["Accept-Encoding"] == "gzip, deflate"


def test_gzip_bomb_answer_is_refused_with_memory_flat(hostile, tmp_path):
    # 1 GiB of JSON whitespace in 1 MiB of gzip: refused once past the limit, a piece at a time.
    member = gzip.compress(b" " * (1 << 20), 9)
    bomb = member * 1024
    server = hostile(lambda h, seen: reply(h, 200, bomb, [JSON_TYPE, ("Content-Encoding", "gzip")]))
    client = client_for(server, tmp_path)
    tracemalloc.start()
    try:
        with conf.set_temp("max_answer_bytes", 4 << 20), \
                pytest.raises(RemoteServiceError, match=r"decoded from gzip.*conf.max_answer_bytes=4194304"):
            client.count_active_jobs()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20


def test_compressed_download_is_stored_decoded(hostile, tmp_path):
    # A proxy compressing although the file's own bytes were asked for: the file is the QDP.
    server = hostile(lambda h, seen: reply(h, 200, gzip.compress(REAL_QDP),
                                           [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")]))
    folder = tmp_path / "products"
    path = client_for(server, tmp_path).download_file(server.url + "/lc/curve.qdp", folder / "curve.qdp")
    assert path.read_bytes() == REAL_QDP
    assert server.requests[0].headers["Accept-Encoding"] == "identity"
    assert _listing(folder) == ["curve.qdp"]


def test_compressed_download_bomb_is_stopped_at_the_limit(hostile, tmp_path):
    # Inflated on its way to the disk, a quarter MiB at a time, and stopped at the limit.
    bomb = gzip.compress(b"READ TERR 1\n") + gzip.compress(b" " * (1 << 20), 9) * 1024
    server = hostile(lambda h, seen: reply(h, 200, bomb, [("Content-Encoding", "gzip")]))
    folder = tmp_path / "products"
    with conf.set_temp("archive_max_bytes", 4 << 20), \
            pytest.raises(ReaderError, match=r"curve.qdp: .*past conf.archive_max_bytes=4194304"):
        client_for(server, tmp_path).download_file(server.url + "/curve.qdp", folder / "curve.qdp")
    assert _listing(folder) == [] and len(server.requests) == 1   # a passed limit is not retried


def test_tar_gz_labelled_gzip_encoded_keeps_the_files_bytes(hostile, tmp_path):
    # Apache's "AddEncoding x-gzip .gz": the .tar.gz itself, labelled as if gzip were a transfer
    # coding. The bytes as sent are the file; inflating them would store a tar named .tar.gz.
    server = hostile(lambda h, seen: reply(h, 200, ARCHIVE, [("Content-Type", "application/x-tar"),
                                                             ("Content-Encoding", "x-gzip")]))
    client = client_for(server, tmp_path)
    path = client.download_archive(server.url + "/USERPROD_951", "lc", dest_dir=tmp_path)
    assert path.read_bytes() == ARCHIVE
    path = client.download_file(server.url + "/image.img.gz", tmp_path / "image.img.gz")
    assert path.read_bytes() == ARCHIVE


def test_tar_gz_compressed_again_by_a_proxy_is_decoded_once(hostile, tmp_path):
    server = hostile(lambda h, seen: reply(h, 200, gzip.compress(ARCHIVE), [
        ("Content-Type", "application/gzip"), ("Content-Encoding", "gzip")]))
    client = client_for(server, tmp_path)
    path = client.download_archive(server.url + "/USERPROD_951", "lc", dest_dir=tmp_path)
    assert path.read_bytes() == ARCHIVE


def test_decoded_download_is_started_again_not_resumed(hostile, tmp_path):
    # Range offsets count the bytes as sent; a decoded part file cannot be resumed with them.
    body = gzip.compress(REAL_QDP * 40)
    calls = []

    def handle(h, seen):
        calls.append(seen.headers.get("Range"))
        headers = [("Content-Type", "text/plain"), ("Content-Encoding", "gzip"), ("ETag", '"q"')]
        if len(calls) == 1:
            h.send_response(200)
            for name, value in headers:
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(_h.socket.SHUT_RDWR)
            return
        reply(h, 200, body, headers)

    server = hostile(handle)
    path = client_for(server, tmp_path).download_file(server.url + "/curve.qdp", tmp_path / "curve.qdp")
    assert path.read_bytes() == REAL_QDP * 40
    assert calls == [None, None]


# -- item 2: the deadline covers the headers ------------------------------------------------------
def test_trickled_headers_cannot_pass_the_deadline(hostile, tmp_path):
    # One header line every 0.15 s, 60 of them: each line resets requests' per-read timeout.
    finished = []

    def handle(h, seen):
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for number in range(60):   # bounded: 9 s, then a good answer (http.client takes 100 headers)
            h.wfile.write(b"X-Pad-%d: x\r\n" % number)
            h.wfile.flush()
            _h.time.sleep(0.15)
        h.wfile.write(b"Content-Length: %d\r\n\r\n%s" % (len(NUM_JOBS), NUM_JOBS))
        finished.append(True)

    server = hostile(handle)
    client = client_for(server, tmp_path, timeout=0.5)
    with conf.set_temp("deadline", 1.2), pytest.raises(ServiceUnavailableError, match="conf.deadline"):
        client.count_active_jobs()
    assert finished == []   # every attempt was cut off before the server's last header line


def test_trickled_headers_cannot_hold_a_submission_past_the_timeout(hostile, tmp_path):
    # A submission is not retried, but its exchange is still held to conf.timeout, headers included;
    # the job list is then checked rather than the submission sent again.
    finished = []

    def handle(h, seen):
        if seen.path.endswith("listOldJobs.php"):
            _h.ok(h, jobs=[])
            return
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for number in range(60):   # bounded: 9 s, then a good answer (http.client takes 100 headers)
            h.wfile.write(b"X-Pad-%d: x\r\n" % number)
            h.wfile.flush()
            _h.time.sleep(0.15)
        body = json.dumps({"OK": 1, "APIVersion": "1.12", "JobID": 951, "URL": "x", "jobPars": {}}).encode()
        h.wfile.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        finished.append(True)

    server = hostile(handle)
    client = client_for(server, tmp_path, timeout=0.5)
    with pytest.raises(SubmissionUnknownError, match="sent once .*time limit of 0.5 s"):
        client.submit(_h.SUBMIT, reuse=False)
    assert finished == [] and server.count("run_userobject.php") == 1


# -- item 3: answers too big -----------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_json_answer_is_refused(hostile, tmp_path, chunked):
    body = b" " * (1 << 20) + NUM_JOBS

    def handle(h, seen):
        if not chunked:
            reply(h, 200, body, [JSON_TYPE])
            return
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(body), 65536):   # no length announced: counted as it comes
            piece = body[start:start + 65536]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    client = client_for(hostile(handle), tmp_path)
    with conf.set_temp("max_answer_bytes", 100_000), \
            pytest.raises(RemoteServiceError, match="larger than conf.max_answer_bytes=100000"):
        client.count_active_jobs()


# -- item 4: answers too deep ----------------------------------------------------------------------
def test_deeply_nested_json_is_a_service_error(hostile, tmp_path):
    depth = 100_000
    body = b'{"OK": 1, "APIVersion": "1.12", "numJobs": ' + b"[" * depth + b"]" * depth + b"}"
    server = hostile(lambda h, seen: reply(h, 200, body, [JSON_TYPE]))
    with pytest.raises(RemoteServiceError, match="nested deeper than"):
        client_for(server, tmp_path).count_active_jobs()
    assert len(server.requests) == 1   # the same would come again: not retried


# -- item 5: product files that are not what their names say ------------------------------------
LOGIN = b"<!DOCTYPE html>\n<html><head><title>Log in</title></head><body>Please log in</body></html>\n"


@pytest.mark.parametrize("name, body, what", [
    ("curve.qdp", LOGIN, "an HTML page, not the text file"),
    ("curve.qdp", b"READ TERR 1\n\x00\x00\x00", "not the text file"),
    # A gzip header with no NUL byte: still not text.
    ("curve.qdp", b"\x1f\x8b\x08\x01" + REAL_QDP, "a gzip file, not the text file"),
    ("spectrum.pi", LOGIN, "an HTML page, not the FITS file"),
    ("spectrum.pi", b"SIMPLE = T" + b" " * 70, "not the FITS file"),
    ("image.img.gz", REAL_QDP, "not the gzip file"),
])
def test_product_file_not_what_its_name_says_is_refused(hostile, tmp_path, name, body, what):
    server = hostile(lambda h, seen: reply(h, 200, body, [("Content-Type", "text/plain")]))
    folder = tmp_path / "products"
    with conf.set_temp("retries", 1), pytest.raises(ReaderError, match=f"{name}: the server sent .*{what}"):
        client_for(server, tmp_path).download_file(server.url + "/" + name, folder / name)
    assert _listing(folder) == []   # nothing kept, not even a part file
    assert len(server.requests) == 2


def test_fragment_sent_for_the_whole_file_is_refused(hostile, tmp_path):
    piece = REAL_QDP[100:600]
    server = hostile(lambda h, seen: reply(h, 206, piece, [
        ("Content-Type", "text/plain"), ("Content-Range", f"bytes 100-599/{len(REAL_QDP)}")]))
    folder = tmp_path / "products"
    with conf.set_temp("retries", 0), pytest.raises(ReaderError, match="HTTP 206"):
        client_for(server, tmp_path).download_file(server.url + "/curve.qdp", folder / "curve.qdp")
    assert _listing(folder) == []
    assert "Range" not in server.requests[0].headers


def test_real_product_files_download_whole(hostile, tmp_path):
    real = Path(__file__).parent / "data" / "real"
    files = {path.name: path.read_bytes() for path in [
        real / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc" / "curve2.qdp",
        real / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc" / "t0.date",
        *(real / "jracusin__GRBfits" / "GRBs").rglob("*.fit"),   # text, one of them empty
        *real.rglob("*.pi"), *real.rglob("*.areas")]}
    files["lc.tar.gz"] = ARCHIVE
    assert files["interval0wt_fit.fit"] == b"" and any(b.startswith(b"SIMPLE") for b in files.values())
    server = hostile(lambda h, seen: reply(h, 200, files[seen.path.rsplit("/", 1)[-1]]))
    client = client_for(server, tmp_path)
    for name, body in files.items():
        assert client.download_file(server.url + "/" + name, tmp_path / "out" / name).read_bytes() == body


# -- item 10: two processes, one folder ----------------------------------------------------------
_SECOND = """
import sys
from xrtprods_astro.core import XRTProductsClass
client = XRTProductsClass(server=sys.argv[1], email=sys.argv[2])
client.cache_location = sys.argv[4]
client.download_file(sys.argv[1] + "/lc.tar.gz", sys.argv[3])
"""


def _wait_for(condition, what):
    for _ in range(3000):   # bounded: 30 s at most
        if condition():
            return
        _h.time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_second_process_killed_midway_does_not_corrupt_the_first(hostile, tmp_path):
    # Both requests are in before either answer starts; the first process writes 64 KiB, then
    # the second (another process) opens its part file, is killed, and the first finishes.
    # With one shared "<dest>.part", the second truncated the first one's file, which then
    # finished full size with a hole of zeros: a corrupt file, returned as good.
    body = bytes(range(256)) * 1024
    first = 64 << 10
    gates = {name: _h.threading.Event()
             for name in ("b_arrived", "a_written", "b_sent", "release_a", "release_b")}

    def handle(h, seen):
        number = len(server.requests)
        if number > 2:
            reply(h, 200, body)
            return
        if number == 2:
            gates["b_arrived"].set()
            gates["a_written"].wait(30)
        else:
            gates["b_arrived"].wait(30)
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("ETag", '"one"')
        h.end_headers()
        if number == 2:
            h.wfile.write(body[:1000])
            h.wfile.flush()
            gates["b_sent"].set()
            gates["release_b"].wait(30)
            return
        h.wfile.write(body[:first])
        h.wfile.flush()
        gates["release_a"].wait(30)
        h.wfile.write(body[first:])

    server = hostile(handle)
    folder = tmp_path / "shared"
    dest = folder / "data.bin"
    result = {}

    def download():
        try:
            result["path"] = client_for(server, tmp_path).download_file(server.url + "/lc.tar.gz", dest)
        except Exception as exc:   # reported by the assertion below
            result["error"] = exc

    def sizes():
        return [p.stat().st_size for p in folder.iterdir()] if folder.is_dir() else []

    thread = _h.threading.Thread(target=download)
    thread.start()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")}
    second = subprocess.Popen([sys.executable, "-c", _SECOND, server.url, EMAIL, str(dest),
                               str(tmp_path / "xcache2")], env=env)
    try:
        _wait_for(lambda: any(size >= first - 8192 for size in sizes()), "the first process wrote 64 KiB")
        gates["a_written"].set()
        _wait_for(gates["b_sent"].is_set, "the second process got its first bytes")
        # The second has opened its part file: its own (two now), or the shared one, truncated.
        _wait_for(lambda: len(sizes()) > 1 or max(sizes()) < first - 8192, "the second opened its file")
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(30)
        for gate in gates.values():
            gate.set()
        thread.join(60)
    assert "error" not in result, result.get("error")
    assert result["path"] == dest and dest.read_bytes() == body
    # The killed process's part file is its own, and the next download here removes it.
    left = [name for name in _listing(folder) if name != "data.bin"]
    assert len(left) == 1 and left[0].endswith(".part") and f".{second.pid}." in left[0]
    dest.unlink()
    client_for(server, tmp_path).download_file(server.url + "/lc.tar.gz", dest)
    assert _listing(folder) == ["data.bin"]
