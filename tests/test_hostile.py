# Licensed under a 3-clause BSD style license - see LICENSE
"""Hostile and faulty servers on 127.0.0.1: each test is one failure of issue 12, reproduced on
loopback, that must not happen (identity leaks, doubled jobs, corrupt files, unbounded waits,
stray exceptions). Every server loop is bounded; no traffic leaves the machine."""
import gzip
import io
import json
import os
import random
import socket
import stat
import tarfile
import threading
import time
import zipfile
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import xrt_fake_session as fake

from xrtprods_astro import cli, conf
from xrtprods_astro import archives
from xrtprods_astro.archives import safe_extract
from xrtprods_astro.batch import BatchRun
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import (InvalidRequestError, ReaderError, RemoteServiceError,
                                       ServiceUnavailableError, SubmissionUnknownError)
from xrtprods_astro.job import XRTJob
from xrtprods_astro.server.app import LocalService

EMAIL = "me@example.org"
SUBMIT = fake.SUBMIT_WIRE
ARCHIVE = fake.targz({"USERPROD_951/lc/curve.qdp": b"READ TERR 1 2\n" + bytes(range(256)) * 40,
                      "USERPROD_951/lc/README.txt": b"hello"})


# -- the hostile server -------------------------------------------------------------------------
class Seen:
    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def json(self):
        return json.loads(self.body or b"null")


class Hostile:
    """A loopback HTTP server whose every answer is written by ``handle(handler, seen)``."""

    def __init__(self, handle, host="127.0.0.1"):
        outer = self
        self.requests = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers),
                            self.rfile.read(length) if length else b"")
                outer.requests.append(seen)
                try:
                    handle(self, seen)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client hung up: that is what some tests want

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, suffix):
        return sum(1 for r in self.requests if r.path.split("?")[0].endswith(suffix))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile():
    servers = []

    def start(handle, host="127.0.0.1"):
        servers.append(Hostile(handle, host))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def reply(handler, status=200, body=b"", headers=()):
    body = body.encode() if isinstance(body, str) else body
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def ok(handler, **data):
    reply(handler, 200, json.dumps({"OK": 1, "APIVersion": "1.12", **data}),
          [("Content-Type", "text/html; charset=UTF-8")])


def client_for(server, tmp_path, **kw):
    client = XRTProductsClass(server=server.url, email=EMAIL, **kw)
    client.cache_location = tmp_path / "xcache"
    client.sleeps = []
    client._transport.sleep = client.sleeps.append
    client._transport.random = lambda: 0.5
    return client


def _now_text():
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


# -- 1. the identity never follows a redirect -------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_post_redirect_to_another_host_is_refused(hostile, tmp_path, status):
    elsewhere = hostile(lambda h, seen: ok(h, numJobs=1), host="127.0.0.2")
    server = hostile(lambda h, seen: reply(h, status, headers=[("Location", elsewhere.url + seen.path)]))
    with pytest.raises(RemoteServiceError, match=f"HTTP {status} redirect .* refused"):
        client_for(server, tmp_path).count_active_jobs()
    assert elsewhere.requests == []   # neither the body nor the UserID went there


def test_download_follows_only_same_origin_redirects(hostile, tmp_path):
    elsewhere = hostile(lambda h, seen: reply(h, 200, b"stolen"))

    def handle(h, seen):
        if seen.path.endswith("/away.bin"):
            reply(h, 302, headers=[("Location", elsewhere.url + "/x.bin")])
        elif seen.path.endswith("/moved.bin"):
            reply(h, 302, headers=[("Location", "/here.bin")])
        else:
            reply(h, 200, b"right", [("Content-Type", "application/octet-stream")])

    server = hostile(handle)
    client = client_for(server, tmp_path)
    with pytest.raises(RemoteServiceError, match="redirect .* another scheme, host or port"):
        client.download_file(server.url + "/away.bin", tmp_path / "a.bin")
    assert elsewhere.requests == [] and not (tmp_path / "a.bin").exists()
    assert client.download_file(server.url + "/moved.bin", tmp_path / "b.bin").read_bytes() == b"right"


# -- 2. archives: verified while they stream, resumed only with a validator, limited ---------
def _flip(data, index, bit=0):
    raw = bytearray(data)
    raw[index] ^= 1 << bit
    return bytes(raw)


def _archive_server(hostile, body, headers=()):
    return hostile(lambda h, seen: reply(h, 200, body, [("Content-Type", "application/gzip"), *headers]))


def test_corrupt_gzip_trailer_is_refused_and_good_copy_kept(hostile, tmp_path):
    bad = _flip(ARCHIVE, len(ARCHIVE) - 6)   # in the CRC32 trailer: tarfile never reads it
    with tarfile.open(fileobj=io.BytesIO(bad)) as tar:   # the precondition: tarfile alone accepts it
        assert len(tar.getmembers()) == 2
    server = _archive_server(hostile, bad)
    client = client_for(server, tmp_path)
    dest = tmp_path / "USERPROD_951_lc.tar.gz"
    dest.write_bytes(ARCHIVE)
    with conf.set_temp("retries", 1), pytest.raises(ReaderError, match="incorrect data check"):
        client.download_archive(server.url + "/USERPROD_951", "lc", dest_dir=tmp_path, overwrite=True)
    assert dest.read_bytes() == ARCHIVE
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [dest.name]


def test_every_single_bit_flip_in_a_tar_gz_is_caught():
    rng = random.Random(12)
    flips = [(rng.randrange(10, len(ARCHIVE)), rng.randrange(8)) for _ in range(300)]
    caught = harmless = 0
    for index, bit in flips:
        verifier = archives.StreamVerifier("tar.gz", "lc.tar.gz")
        flipped = _flip(ARCHIVE, index, bit)
        try:
            for start in range(0, len(ARCHIVE), 97):
                verifier.feed(flipped[start:start + 97])
            verifier.finish()
        except ReaderError:
            caught += 1
        else:
            # Accepted only if the flip changed no byte of the content (an unused bit of deflate).
            assert gzip.decompress(flipped) == gzip.decompress(ARCHIVE), (index, bit)
            harmless += 1
    assert caught + harmless == len(flips) and caught > 290


def _two_member_tar():
    """A PAX tar (long name: an extended header) of two members; returns it and the offset of the
    second member's header."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, size in (("USERPROD_951/lc/" + "n" * 120 + ".qdp", 700), ("USERPROD_951/lc/b", 1000)):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(range(256)) * 4))
    data = buffer.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        second = tar.getmembers()[1].offset
    return data, second


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_verifier_gives_one_verdict_wherever_the_pieces_end(kind):
    # Member data is stepped over without buffering; headers straddling two pieces, pieces ending
    # exactly at a member's end and pieces holding the end of one member and the next header must
    # all be checked the same way.
    tar, second = _two_member_tar()
    bad = _flip(tar, second + 3)   # in the second member's name: its header checksum no longer matches
    cut = tar[:second + 512 + 300]   # inside the second member's data
    if kind == "tar.gz":
        tar, bad, cut = gzip.compress(tar), gzip.compress(bad), gzip.compress(cut)

    def verdict(data, split):
        verifier = archives.StreamVerifier(kind, "x." + kind)
        try:
            verifier.feed(data[:split])
            verifier.feed(memoryview(data)[split:])
            verifier.finish()
        except ReaderError as exc:
            return str(exc)
        return verifier.members

    # Every split up to the end-of-archive blocks (a tar is padded with zeros well past them).
    for split in range(min(len(tar), second + 3072) + 1):
        assert verdict(tar, split) == 2, split
    for split in range(min(len(bad), second + 3072) + 1):
        assert "corrupt tar header" in str(verdict(bad, split)), split
    for split in range(len(cut) + 1):
        assert "end-of-archive" in str(verdict(cut, split)), split


def _zip(members, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _streamed_zip(members):
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.parts = []

        def writable(self):
            return True

        def write(self, data):
            self.parts.append(bytes(data))
            return len(data)

    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return b"".join(stream.parts)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_verifier_memory_stays_flat_on_a_bomb_in_one_piece(kind):
    # 64 MiB of zeros in a ~64 KiB archive, handed over in a single piece: it is inflated piece by
    # piece, limits checked after each, so memory stays far below the expanded size.
    import tracemalloc
    member = {"USERPROD_951/lc/zeros.bin": bytes(64 << 20)}
    # The zip is written as a stream: sizes come after the data (a data descriptor), so no
    # header announces the 64 MiB before the inflating starts.
    bomb = _streamed_zip(member) if kind == "zip" else fake.targz(member)
    assert len(bomb) < 200_000
    verifier = archives.StreamVerifier(kind, "bomb." + kind, max_bytes=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(archives.ArchiveLimitError):
            verifier.feed(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_highly_compressed_members_verify_whole(kind):
    # Members much larger than one inflate piece (and not a multiple of it) are checked to the end.
    member = {"USERPROD_951/lc/zeros.bin": bytes((3 << 20) + 77), "USERPROD_951/lc/b.txt": b"x" * 5}
    for archive in ([_zip(member), _streamed_zip(member)] if kind == "zip" else [fake.targz(member)]):
        verifier = archives.StreamVerifier(kind, "ok." + kind)
        verifier.feed(archive)
        verifier.finish()
        assert verifier.members == 2


ZIP = _zip({"USERPROD_951/lc/curve.qdp": b"READ TERR 1 2\n" + b"1 2 3\n" * 3000})


@pytest.mark.parametrize("offset", [60, 80, 120])
def test_corrupt_zip_member_is_a_reader_error(hostile, tmp_path, offset):
    bad = _flip(ZIP, offset)
    (tmp_path / "bad.zip").write_bytes(bad)
    with pytest.raises(ReaderError):
        safe_extract(tmp_path / "bad.zip", tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*.qdp"))
    server = hostile(lambda h, seen: reply(h, 200, bad, [("Content-Type", "application/zip")]))
    with conf.set_temp("retries", 0), pytest.raises(ReaderError, match="corrupt"):
        client_for(server, tmp_path).download_archive(server.url + "/USERPROD_951", "lc", format="zip",
                                                      dest_dir=tmp_path / "dl")
    assert not (tmp_path / "dl" / "USERPROD_951_lc.zip").exists()


def test_zip_is_verified_while_streaming(hostile, tmp_path):
    server = hostile(lambda h, seen: reply(h, 200, ZIP, [("Content-Type", "application/zip")]))
    path = client_for(server, tmp_path).download_archive(server.url + "/USERPROD_951", "lc", format="zip",
                                                         dest_dir=tmp_path)
    assert path.read_bytes() == ZIP


def _cut_then(versions, etag_of=None):
    """A server sending half of the current version and hanging up, then honouring Range the way
    real servers do: without If-Range a Range is always honoured, with it only if it still matches."""
    state = {"calls": 0}

    def handle(h, seen):
        state["calls"] += 1
        body = versions[min(state["calls"], len(versions)) - 1]
        tag = etag_of(body) if etag_of else None
        headers = [("ETag", tag)] if tag else []
        if state["calls"] == 1:
            h.send_response(200)
            for name, value in headers:
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        rng, if_range = seen.headers.get("Range"), seen.headers.get("If-Range")
        if rng and (if_range is None or if_range == tag):
            start = int(rng.split("=")[1].rstrip("-"))
            span = ("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            reply(h, 206, body[start:], [*headers, span])
        else:
            reply(h, 200, body, headers)

    return handle


def test_resume_after_the_file_changed_is_not_spliced(hostile, tmp_path):
    # Bigger than one read chunk, so the first half is really on disk when the connection breaks.
    old, new = b"A" * (3 << 20), b"B" * (3 << 20)
    server = hostile(_cut_then([old, new], etag_of=lambda body: f'"{body[:1].decode()}"'))
    path = client_for(server, tmp_path).download_file(server.url + "/data.bin", tmp_path / "data.bin")
    assert path.read_bytes() == new
    assert server.requests[1].headers.get("If-Range") == '"A"'


def test_no_validator_means_starting_again(hostile, tmp_path):
    body = bytes(range(256)) * 12288
    server = hostile(_cut_then([body]))
    path = client_for(server, tmp_path).download_file(server.url + "/data.bin", tmp_path / "data.bin")
    assert path.read_bytes() == body
    assert "Range" not in server.requests[1].headers


def test_corrupt_archive_is_abandoned_without_reading_the_rest(hostile, tmp_path):
    # The check runs beside the transfer: once it fails, the download stops rather than
    # fetching the remaining 64 MiB of an archive already known to be bad.
    total, piece, sent, done = 64 << 20, 1 << 20, [0], threading.Event()

    def handle(h, seen):
        h.send_response(200)
        h.send_header("Content-Length", str(total))
        h.end_headers()
        try:
            h.wfile.write(b"not gzip at all" + bytes(piece - 15))
            sent[0] += piece
            while sent[0] < total:
                h.wfile.write(bytes(piece))
                sent[0] += piece
        except OSError:
            h.close_connection = True
        finally:
            done.set()

    server = hostile(handle)
    with conf.set_temp("retries", 0), pytest.raises(ReaderError, match="corrupt gzip"):
        client_for(server, tmp_path).download_archive(server.url + "/USERPROD_951", "lc", dest_dir=tmp_path)
    assert done.wait(30)
    assert sent[0] < total // 2
    assert not list(tmp_path.glob("*.tar.gz*"))


def test_a_full_disk_stops_the_download_with_its_error(hostile, tmp_path, monkeypatch):
    # The part file is written from a thread beside the transfer: a failed write must still stop
    # the transfer and reach the caller, leaving neither a part file nor a short copy behind.
    import errno
    from xrtprods_astro import transport
    total = 16 << 20
    server = hostile(lambda h, seen: reply(h, 200, bytes(total)))
    real_open = open

    class FullDisk:
        def __init__(self, path, mode):
            self.file, self.room = real_open(path, mode), 1 << 20

        def write(self, data):
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= len(data)
            return self.file.write(data)

        def close(self):
            self.file.close()

    monkeypatch.setattr(transport, "open", FullDisk, raising=False)
    with pytest.raises(OSError, match="No space left"):
        client_for(server, tmp_path).download_file(server.url + "/data.bin", tmp_path / "data.bin")
    assert not list(tmp_path.glob("data.bin*"))


def test_corrupt_bytes_then_a_broken_connection_start_again_not_resume(hostile, tmp_path):
    # The first answer is corrupt and then cut: resuming it with Range would splice good bytes
    # onto bad ones behind a check already failed, so the verdict wins and the copy starts again.
    bad = b"not gzip at all" + ARCHIVE[15:]
    state = {"calls": 0}

    def handle(h, seen):
        state["calls"] += 1
        if state["calls"] == 1:
            h.send_response(200)
            h.send_header("ETag", '"v1"')
            h.send_header("Content-Length", str(len(bad)))
            h.end_headers()
            h.wfile.write(bad[:len(bad) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if seen.headers.get("Range"):   # as a real server would: the rest of the same version
            start = int(seen.headers["Range"].split("=")[1].rstrip("-"))
            span = f"bytes {start}-{len(ARCHIVE) - 1}/{len(ARCHIVE)}"
            reply(h, 206, ARCHIVE[start:], [("ETag", '"v1"'), ("Content-Range", span)])
            return
        reply(h, 200, ARCHIVE, [("ETag", '"v1"')])

    server = hostile(handle)
    client = client_for(server, tmp_path)
    path = client.download_archive(server.url + "/USERPROD_951", "lc", dest_dir=tmp_path)
    assert path.read_bytes() == ARCHIVE
    assert "Range" not in server.requests[1].headers


def test_archive_expanding_past_the_limit_is_stopped(hostile, tmp_path):
    bomb = fake.targz({"USERPROD_951/lc/zeros.bin": bytes(3 << 20)})
    assert len(bomb) < 20000
    server = _archive_server(hostile, bomb)
    with conf.set_temp("archive_max_bytes", 1 << 20):
        with pytest.raises(ReaderError, match="archive_max_bytes"):
            client_for(server, tmp_path).download_archive(server.url + "/USERPROD_951", "lc",
                                                          dest_dir=tmp_path)
        assert server.count("lc.tar.gz") == 1   # a limit is final, not retried
        (tmp_path / "bomb.tar.gz").write_bytes(bomb)
        with pytest.raises(ReaderError):
            safe_extract(tmp_path / "bomb.tar.gz", tmp_path / "out")
    assert not list((tmp_path / "out").rglob("zeros.bin"))


def _sparse_tar(realsize):
    """A 10 KiB PAX tar whose one member is a GNU sparse file of ``realsize`` bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("GNUSparseFile.0/big.bin")
        info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                            "GNU.sparse.name": "USERPROD_951/big.bin", "GNU.sparse.realsize": str(realsize)}
        payload = (b"1\n%d\n1\n" % (realsize - 1)).ljust(512, b"\0") + b"x"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_sparse_member_is_refused(hostile, tmp_path):
    sparse = _sparse_tar(1 << 30)
    assert len(sparse) <= 10240
    (tmp_path / "sparse.tar").write_bytes(sparse)
    with pytest.raises(ReaderError, match="sparse"):
        safe_extract(tmp_path / "sparse.tar", tmp_path / "out")
    assert not list((tmp_path / "out").rglob("big.bin"))
    server = hostile(lambda h, seen: reply(h, 200, sparse, [("Content-Type", "application/x-tar")]))
    with conf.set_temp("retries", 0), pytest.raises(ReaderError, match="sparse"):
        client_for(server, tmp_path).download_archive(server.url + "/USERPROD_951", "lc", format="tar",
                                                      dest_dir=tmp_path / "dl")


def test_archive_with_too_many_members_is_refused(tmp_path):
    many = fake.targz({f"USERPROD_951/lc/f{i}.txt": b"x" for i in range(30)})
    (tmp_path / "many.tar.gz").write_bytes(many)
    with conf.set_temp("archive_max_members", 10):
        with pytest.raises(ReaderError, match="archive_max_members"):
            safe_extract(tmp_path / "many.tar.gz", tmp_path / "out")
        verifier = archives.StreamVerifier("tar.gz", "many.tar.gz")
        with pytest.raises(ReaderError):
            verifier.feed(many)


def test_extraction_never_writes_through_an_existing_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "USERPROD_951").symlink_to(outside, target_is_directory=True)
    (tmp_path / "a.tar.gz").write_bytes(ARCHIVE)
    with pytest.raises(ReaderError, match="symbolic link"):
        safe_extract(tmp_path / "a.tar.gz", dest)
    assert list(outside.rglob("*")) == []


# -- 3. a slow submission never becomes two jobs ----------------------------------------------
def _slow_submission_service(create_after, answer_after):
    jobs, sent = [], []

    def handle(h, seen):
        path = seen.path
        if path.endswith("run_userobject.php"):
            sent.append(seen.json)
            time.sleep(create_after)
            if create_after < answer_after:
                jobs.append({"JobID": 951 + len(jobs), "Name": seen.json["name"],
                             "DateSubmitted": _now_text()})
                time.sleep(answer_after - create_after)
            ok(h, JobID=951, URL="x", jobPars={})
        elif path.endswith("listOldJobs.php"):
            ok(h, jobs=list(jobs))
        elif path.endswith("getOldProduct.php"):
            pars = {k: v for k, v in sent[0].items() if k not in ("api_name", "api_version", "UserID")}
            ok(h, oldJob=seen.json["oldJob"], jobPars=pars, URL=f"http://x/USERPROD_{seen.json['oldJob']}")
        else:
            reply(h, 404)

    return handle


def test_slow_submission_is_adopted_not_sent_twice(hostile, tmp_path):
    # The service creates the job 1.4 s after receiving it and answers at 2.5 s; the client gives up
    # reading at 1 s. The job list is empty then, but the job appears within the watch window.
    server = hostile(_slow_submission_service(create_after=1.4, answer_after=2.5))
    client = client_for(server, tmp_path, timeout=1)
    client._transport.sleep = time.sleep
    job = client.submit(SUBMIT)
    assert str(job.job_id) == "951"
    assert server.count("run_userobject.php") == 1
    assert server.count("listOldJobs.php") >= 2


def test_slow_submission_never_seen_says_what_is_known(hostile, tmp_path):
    server = hostile(_slow_submission_service(create_after=3.0, answer_after=2.0))
    client = client_for(server, tmp_path, timeout=0.5)
    with pytest.raises(SubmissionUnknownError, match="sent once .* checked 4 times .* not sent again"):
        client.submit(SUBMIT, reuse=False)  # only the reconciliation reads the job list
    assert server.count("run_userobject.php") == 1
    assert server.count("listOldJobs.php") == 4


# -- 4. Retry-After, a time limit for every call, a minimum transfer rate ----------------------
def _busy_then_ok(times, retry_after):
    state = {"n": 0}

    def handle(h, seen):
        state["n"] += 1
        if state["n"] <= times:
            reply(h, 503, "busy", [("Retry-After", retry_after)])
        else:
            ok(h, numJobs=2)

    return handle


def test_retry_after_seconds_is_honoured(hostile, tmp_path):
    client = client_for(hostile(_busy_then_ok(2, "7")), tmp_path)
    assert client.count_active_jobs() == 2
    assert client.sleeps == [7.0, 7.0]


def test_retry_after_date_is_honoured_and_capped(hostile, tmp_path):
    later = formatdate(time.time() + 40, usegmt=True)
    client = client_for(hostile(_busy_then_ok(1, later)), tmp_path)
    assert client.count_active_jobs() == 2
    assert 25 < client.sleeps[0] <= 40
    client = client_for(hostile(_busy_then_ok(1, "86400")), tmp_path)
    client.count_active_jobs()
    assert client.sleeps == [300.0]


def test_total_deadline_stops_waiting(hostile, tmp_path):
    client = client_for(hostile(_busy_then_ok(5, "120")), tmp_path)
    with conf.set_temp("deadline", 30), pytest.raises(ServiceUnavailableError, match="conf.deadline"):
        client.count_active_jobs()
    assert client.sleeps == []


def _trickle(body, pause, piece=4):
    def handle(h, seen):
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for start in range(0, len(body), piece):   # bounded: the body's length
            h.wfile.write(body[start:start + piece])
            h.wfile.flush()
            time.sleep(pause)

    return handle


def test_trickled_answer_cannot_pass_the_time_limit(hostile, tmp_path):
    body = json.dumps({"OK": 1, "APIVersion": "1.12", "numJobs": 3}).encode().ljust(48)
    client = client_for(hostile(_trickle(body, 0.3)), tmp_path, timeout=1)
    with conf.set_temp("retries", 0), pytest.raises(ServiceUnavailableError, match="time limit"):
        client.count_active_jobs()


def test_download_slower_than_the_minimum_rate_is_abandoned(hostile, tmp_path):
    server = hostile(_trickle(b"x" * 48, 0.15))
    client = client_for(server, tmp_path, timeout=0.5)
    with conf.set_temp("retries", 0), conf.set_temp("min_download_rate", 1000):
        with pytest.raises(ServiceUnavailableError, match="min_download_rate"):
            client.download_file(server.url + "/slow.bin", tmp_path / "slow.bin")
    assert not (tmp_path / "slow.bin").exists() and not (tmp_path / "slow.bin.part").exists()


# -- 5. the cache keeps only accepted answers, and no identity ---------------------------------
def _position_service(position):
    def handle(h, seen):
        if seen.path.endswith("checkProductStatus.php"):
            ok(h, JobID=951, psf={"statusCode": 4, "statusText": "Complete"})
        else:
            ok(h, **position)

    return handle


def test_answer_rejected_by_the_reader_is_not_cached(hostile, tmp_path):
    server = hostile(_position_service({"GotPos": 1, "RA": "not a number"}))
    job = XRTJob(client_for(server, tmp_path), 951, server.url + "/USERPROD_951")
    job.status("standard_position")
    for _ in range(2):
        with pytest.raises(ReaderError):
            job.position()
    assert server.count("getPSFPos.php") == 2
    assert list((tmp_path / "xcache").glob("*.pickle")) == []


def test_cached_objects_hold_no_identity(hostile, tmp_path):
    server = hostile(_position_service(fake.fixture("pos_psf")))
    job = XRTJob(client_for(server, tmp_path), 951, server.url + "/USERPROD_951")
    job.status("standard_position")
    first = job.position()
    assert job.position().coord == first.coord
    assert server.count("getPSFPos.php") == 1   # the second came from the cache
    files = [p for p in (tmp_path / "xcache").rglob("*") if p.is_file()]
    assert files and all(EMAIL.encode() not in p.read_bytes() for p in files)


# -- 6. wrong-typed answers are service errors; batch state and folders ---------------------------
@pytest.mark.parametrize("answer", [{"numJobs": "many"}, {"numJobs": None}, {"numJobs": [1]},
                                    {"numJobs": True}])
def test_wrong_typed_job_count_is_a_service_error(hostile, tmp_path, answer):
    client = client_for(hostile(lambda h, seen: ok(h, **answer)), tmp_path)
    with pytest.raises(RemoteServiceError, match="numJobs"):
        client.count_active_jobs()


def test_null_job_id_is_a_service_error(hostile, tmp_path):
    client = client_for(hostile(lambda h, seen: ok(h, JobID=None, URL="http://x", jobPars={})), tmp_path)
    with pytest.raises(RemoteServiceError, match="JobID=None"):
        client.submit(SUBMIT)


def test_job_list_with_garbage_entries_does_not_crash_reconciliation(hostile, tmp_path):
    def handle(h, seen):
        if seen.path.endswith("run_userobject.php"):
            reply(h, 500, "oops")
        else:
            ok(h, jobs=[None, 7, "x", {"JobID": 1, "Name": "other"}])

    client = client_for(hostile(handle), tmp_path)
    with pytest.raises(SubmissionUnknownError, match="sent 2 times"):
        client.submit(SUBMIT)


def _state_file(path, **changes):
    rec = {"index": 0, "name": "GK Per", "wire": {"name": "GK Per"}, "error": None, "state": "submitted",
           "job_id": "951", "url": "http://127.0.0.1:9/USERPROD_951", "intent_at": None, "submit_attempts": 1,
           "retrieve_attempts": 0, "submitted": None, "completed": None, "statuses": {}, "outcomes": {},
           "paths": {}, "reasons": []}
    rec.update(changes)
    for key in [k for k, v in changes.items() if v is KeyError]:
        del rec[key]
    path.write_text(json.dumps({"format": "xrtprods_astro.batch", "version": 1, "created": "x",
                                "targets": {"GK_Per": rec}}))


@pytest.mark.parametrize("changes, words", [
    ({"job_id": KeyError}, "target 'GK_Per'.*'job_id' is missing"),
    ({"state": "sleeping"}, "target 'GK_Per'.*'sleeping'; allowed: pending, intent"),
    ({"job_id": None}, "target 'GK_Per'.*'job_id' or 'url' is empty"),
    ({"submit_attempts": "two"}, "target 'GK_Per'.*'submit_attempts'.*wrong type"),
])
def test_broken_state_records_are_named(tmp_path, changes, words):
    state = tmp_path / "s.json"
    _state_file(state, **changes)
    batch = BatchRun(["GK Per"], products=["standard_position"], state_file=state, dest_dir=tmp_path,
                     client=XRTProductsClass(server="http://127.0.0.1:9", email=EMAIL))
    with pytest.raises(InvalidRequestError, match=words):
        batch.run(timeout=5)


def test_batch_leaves_existing_folders_permissions_alone(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory(job_duration=0)
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chmod(mine, 0o755)
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    summary = BatchRun(["GK Per"], products=["standard_position"], state_file=mine / "batch.json",
                       dest_dir=mine, client=client).run(timeout=60)
    assert list(summary["status"]) == ["ok"]
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755
    made = [p for p in mine.iterdir() if p.is_dir()]
    assert made and all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in made)


# -- 8. the local service ---------------------------------------------------------------------------
def test_local_service_refuses_a_non_loopback_address_unless_told():
    with pytest.raises(ValueError, match="allow_remote"):
        LocalService(host="0.0.0.0")
    with pytest.warns(UserWarning, match="other machines can reach it"):
        service = LocalService(host="0.0.0.0", allow_remote=True)
    assert service.url.startswith("http://127.0.0.1:")   # announced as loopback, never started here


def _raw(service, request):
    """Send raw bytes, return the status line of the answer (or b"" when dropped)."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            piece = sock.recv(4096)
            if not piece:
                break
            answer += piece
    return answer.split(b"\r\n", 1)[0]


_POST = "POST /user_objects/getNumJobs.php HTTP/1.1\r\nHost: x\r\n"
_GET = "GET /user_objects/tprods/USERPROD_{{job}}/{} HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("request_text, status", [
    (f"{_POST}Content-Length: {200 << 20}\r\n\r\n{{}}", b" 413 "),
    (f"{_POST}Content-Length: abc\r\n\r\n{{}}", b" 400 "),
    (f"{_POST}Content-Length: -5\r\n\r\n", b" 400 "),
    (_GET.format("psf%00.tar.gz"), b" 404 "),
    (_GET.format("psf/a%00b"), b" 404 "),
    (_GET.format("a%00/x"), b" 404 "),
], ids=["body-200MiB", "length-abc", "length-negative", "nul-in-archive-name", "nul-in-file",
        "nul-in-folder"])
def test_local_service_answers_bad_requests(xrtprods_service_factory, request_text, status):
    svc = xrtprods_service_factory(job_duration=0)
    job = XRTProductsClass(server=svc.url, email=svc.email).submit(dict(SUBMIT, lc=0, dopsf=1, name="nul"))
    assert status in _raw(svc, request_text.replace("{job}", str(job.job_id)).encode())


def test_local_service_job_urls_ignore_the_host_header(xrtprods_service_factory):
    svc = xrtprods_service_factory(job_duration=0)
    body = json.dumps({**SUBMIT, "api_name": "xrt_prods", "api_version": "1.12", "UserID": svc.email})
    request = (f"POST /user_objects/run_userobject.php HTTP/1.1\r\nHost: evil.example:666\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode()
    with socket.create_connection(("127.0.0.1", svc.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
    data = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert data["OK"] == 1 and data["URL"].startswith(svc.url + "/") and "evil" not in answer.decode()
    # Bound to every interface (never started here), it used to take job URLs from the Host header.
    with pytest.warns(UserWarning):
        wide = LocalService(host="0.0.0.0", allow_remote=True)
    assert wide._base("evil.example:666").startswith("http://127.0.0.1:")


def test_local_service_backlog_and_streamed_files(xrtprods_service_factory, tmp_path, monkeypatch):
    from pathlib import Path
    svc = xrtprods_service_factory(job_duration=0)
    assert svc._server.request_queue_size >= 128
    client = XRTProductsClass(server=svc.url, email=svc.email)
    job = client.submit(dict(SUBMIT, lc=0, dopsf=1, name="streamed"))

    def whole(self):
        raise AssertionError(f"{self} read whole into memory")

    path = client.download_archive(job.url, "psf", dest_dir=tmp_path)   # the archive is written once ...
    monkeypatch.setattr(Path, "read_bytes", whole)
    again = client.download_archive(job.url, "psf", dest_dir=tmp_path / "2")   # ... and sent from disk
    monkeypatch.undo()
    assert again.read_bytes() == path.read_bytes()


def test_cli_serve_has_the_module_fault_options(monkeypatch, capsys):
    seen = {}

    def drive(service):
        seen["config"] = service.faults.config
        seen["url"] = service.url

    monkeypatch.setattr(cli, "_wait_forever", drive)
    code = cli.main(["serve", "--drop-after-rate", "0.25", "--truncate-rate", "0.5",
                     "--job-duration", "0"])
    assert code == 0
    assert (seen["config"].drop_after_rate, seen["config"].truncate_rate) == (0.25, 0.5)
    code = cli.main(["serve", "--host", "0.0.0.0"])
    captured = capsys.readouterr()
    assert code == 2 and "--allow-remote" in captured.err


def test_corrupt_img_gz_is_reader_error():
    import zlib
    from xrtprods_astro.readers.images import read_fits_bytes
    raw = gzip.compress(bytes(range(256)) * 40)
    # The first flip that makes zlib itself fail (not only the CRC check): the case that escaped.
    bad = next(b for b in (_flip(raw, i) for i in range(12, len(raw) - 8)) if _zlib_fails(b))
    with pytest.raises(zlib.error):
        gzip.decompress(bad)
    with pytest.raises(ReaderError, match="broken gzip"):
        read_fits_bytes(bad)


def _zlib_fails(data):
    import zlib
    try:
        gzip.decompress(data)
    except zlib.error:
        return True
    except (OSError, EOFError):
        return False
    return False
