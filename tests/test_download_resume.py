# Licensed under a 3-clause BSD style license - see LICENSE
"""A download interrupted in one process is resumed by the next one (issue 22 item 4).

`Transport.download` keeps ``.<name>.part`` beside the file with a sidecar ``.<name>.part.json``
(URL, validator, length); the next call for the same URL and destination asks for the rest with
``Range`` and ``If-Range``. These tests run a small file server on 127.0.0.1 that honours Range
and If-Range, records every GET and counts the bytes it sent, and can stop an answer part-way:
hang (until the client process is killed) or hang up.
"""
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from xrtprods_astro import XRTProductsClass, conf
from xrtprods_astro.exceptions import ReaderError, ServiceUnavailableError

EMAIL = "resume@example.org"
NAME = "USERPROD_951_lc.tar.gz"


def _targz(seed, size=300_000):
    """A .tar.gz of incompressible bytes, so the file is about ``size`` bytes long."""
    data = random.Random(seed).randbytes(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("USERPROD_951/lc/curve.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


BODY = _targz(1)


class Files:
    """Files served by GET with ETag, a single ``bytes=a-`` Range and If-Range, as Apache does.

    ``cuts`` holds, for the next answers in turn, ``(n, "hang")`` (send n bytes, then wait until
    `release` is set) or ``(n, "drop")`` (send n bytes, then hang up). ``seen`` records every GET
    as ``(path, Range, If-Range, bytes sent)``.
    """

    def __init__(self):
        self.files = {}
        self.seen = []
        self.cuts = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                try:
                    outer._answer(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the client went away (killed): that is what some tests do

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def put(self, path, body, etag):
        self.files[path] = (body, etag)

    def _answer(self, h):
        body, etag = self.files[h.path]
        spec, if_range = h.headers.get("Range"), h.headers.get("If-Range")
        with self._lock:
            cut = self.cuts.pop(0) if self.cuts else None
            record = [h.path, spec, if_range, 0]
            self.seen.append(record)
        start = 0
        if spec and (if_range is None or if_range == etag):
            start = int(spec.split("=")[1].rstrip("-"))
            if start >= len(body):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(body)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            h.send_response(200)
        h.send_header("Content-Length", str(len(body) - start))
        h.send_header("ETag", etag)
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        out = body[start:] if cut is None else body[start:start + cut[0]]
        h.wfile.write(out)
        h.wfile.flush()
        record[3] = len(out)
        if cut is not None:
            if cut[1] == "hang":
                self.release.wait(60)
            h.close_connection = True
            h.connection.shutdown(2)

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def files():
    server = Files()
    server.put("/job/lc.tar.gz", BODY, '"v1"')
    yield server
    server.close()


def _client(tmp_path):
    client = XRTProductsClass(server="http://127.0.0.1:1", email=EMAIL)
    client.cache_location = tmp_path / "xcache"
    client._transport.sleep = lambda seconds: None
    return client


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def _wait_for(condition, what):
    for _ in range(3000):   # bounded: 30 s at most
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _size(path):
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _interrupted(files, tmp_path, dest, cut):
    """A download that ends (retries 0) after ``cut`` bytes: its part file is kept."""
    files.cuts.append((cut, "drop"))
    with conf.set_temp("retries", 0), pytest.raises(ServiceUnavailableError, match="(?i)got|connection"):
        _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert _listing(dest.parent) == [f".{NAME}.part", f".{NAME}.part.json"]
    assert _size(dest.parent / f".{NAME}.part") == cut
    assert not dest.exists()


_KILLED = """
import sys
from xrtprods_astro.core import XRTProductsClass
client = XRTProductsClass(server="http://127.0.0.1:1", email=sys.argv[1])
client.cache_location = sys.argv[4]
client.download_file(sys.argv[2], sys.argv[3])
"""


def test_a_download_killed_mid_file_is_resumed_by_the_next_process(files, tmp_path):
    folder = tmp_path / "out"
    dest = folder / NAME
    half = len(BODY) // 2
    files.cuts.append((half, "hang"))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")}
    first = subprocess.Popen([sys.executable, "-c", _KILLED, EMAIL, files.url + "/job/lc.tar.gz", str(dest),
                              str(tmp_path / "xcache2")], env=env)
    part = folder / f".{NAME}.part"
    try:
        _wait_for(lambda: _size(part) == half, "the first process wrote half the file")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    # What a killed process leaves: the part file and what it is part of (and its lock file).
    record = json.loads((folder / f".{NAME}.part.json").read_text())
    assert record == {"url": files.url + "/job/lc.tar.gz", "validator": '"v1"', "length": len(BODY)}
    assert not dest.exists()
    assert _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest) == dest
    assert dest.read_bytes() == BODY
    # The rest only was asked for, and sent.
    assert files.seen[-1][1:] == [f"bytes={half}-", '"v1"', len(BODY) - half]
    assert len(files.seen) == 2
    assert _listing(folder) == [NAME]   # no part file, sidecar or lock file left


def test_an_interrupted_call_leaves_a_part_the_next_call_resumes(files, tmp_path):
    dest = tmp_path / "out" / NAME
    cut = 100_000
    _interrupted(files, tmp_path, dest, cut)
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert dest.read_bytes() == BODY
    assert [s[1:] for s in files.seen] == [[None, None, cut], [f"bytes={cut}-", '"v1"', len(BODY) - cut]]
    assert _listing(dest.parent) == [NAME]


def test_a_resumed_archive_is_checked_in_full_from_the_bytes_on_disk(files, tmp_path):
    # The gzip CRC32 covers the whole file: a byte changed in the part file on disk is found, the
    # part discarded before anything is asked for, and the file fetched whole.
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 150_000)
    part = dest.parent / f".{NAME}.part"
    data = bytearray(part.read_bytes())
    data[50_000] ^= 0xFF
    part.write_bytes(bytes(data))
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert dest.read_bytes() == BODY
    assert files.seen[-1][1:] == [None, None, len(BODY)]


@pytest.mark.parametrize("head", [b"<!DOCTYPE html><html>", b"\0" * 64])
def test_a_part_that_is_not_what_the_name_says_is_discarded(files, tmp_path, head):
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    part = dest.parent / f".{NAME}.part"
    part.write_bytes(head + part.read_bytes()[len(head):])
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert dest.read_bytes() == BODY and files.seen[-1][1] is None


def test_a_changed_file_is_fetched_again_from_its_start(files, tmp_path):
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    new = _targz(2)
    files.put("/job/lc.tar.gz", new, '"v2"')
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    # Asked with the old validator, the server sent the whole new file: nothing of the old is kept.
    assert files.seen[-1][1:] == ["bytes=100000-", '"v1"', len(new)]
    assert dest.read_bytes() == new
    assert _listing(dest.parent) == [NAME]


def test_another_length_under_the_same_validator_starts_again(files, tmp_path):
    # A server whose validator did not change with the file: the length recorded by the sidecar
    # no longer matches the one the server gives, so the part file is not spliced onto it.
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    new = _targz(3, size=320_000)
    files.put("/job/lc.tar.gz", new, '"v1"')
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert [s[1] for s in files.seen[1:]] == ["bytes=100000-", None]
    assert dest.read_bytes() == new


def test_a_part_of_another_url_is_never_used(files, tmp_path):
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    other = _targz(4)
    files.put("/other/lc.tar.gz", other, '"v1"')
    _client(tmp_path).download_file(files.url + "/other/lc.tar.gz", dest)
    assert files.seen[-1][:2] == ["/other/lc.tar.gz", None]
    assert dest.read_bytes() == other


def test_a_complete_part_left_before_its_rename_asks_for_its_last_byte(files, tmp_path):
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    (dest.parent / f".{NAME}.part").write_bytes(BODY)   # as if killed between the last byte and the rename
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert files.seen[-1][1:] == [f"bytes={len(BODY) - 1}-", '"v1"', 1]
    assert dest.read_bytes() == BODY


def test_links_at_the_part_and_sidecar_names_are_never_written_through(files, tmp_path):
    dest = tmp_path / "out" / NAME
    _interrupted(files, tmp_path, dest, 100_000)
    victim = tmp_path / "victim"   # outside the download folder
    victim.write_bytes(BODY[:100_000])   # what a resume would append to
    part, meta = dest.parent / f".{NAME}.part", dest.parent / f".{NAME}.part.json"
    part.unlink()
    part.symlink_to(victim)
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert victim.read_bytes() == BODY[:100_000] and files.seen[-1][1] is None
    assert dest.read_bytes() == BODY and not part.is_symlink() and not meta.exists()
    # A link at the sidecar's name: its target is neither read as a record nor written to.
    dest.unlink()
    _interrupted(files, tmp_path, dest, 100_000)
    record = victim.with_name("record")
    record.write_text(meta.read_text())
    meta.unlink()
    meta.symlink_to(record)
    _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest)
    assert files.seen[-1][1] is None and dest.read_bytes() == BODY
    assert json.loads(record.read_text())["length"] == len(BODY)


_SECOND = """
import sys
from xrtprods_astro.core import XRTProductsClass
client = XRTProductsClass(server="http://127.0.0.1:1", email=sys.argv[1])
client.cache_location = sys.argv[4]
print(client.download_file(sys.argv[2], sys.argv[3]))
"""


def test_two_processes_downloading_the_same_file_at_once_do_not_mix_their_bytes(files, tmp_path):
    # The first call owns the resumable part file and stalls half-way; another process downloads
    # the same file meanwhile, into a part file of its own (no Range: it never read the first's),
    # and puts a verified copy in place; then the first ends, verified too.
    dest = tmp_path / "out" / NAME
    half = len(BODY) // 2
    files.cuts.append((half, "hang"))
    result = {}

    def first():
        try:
            result["path"] = _client(tmp_path).download_file(files.url + "/job/lc.tar.gz", dest,
                                                             overwrite=True)
        except Exception as exc:   # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        _wait_for(lambda: _size(dest.parent / f".{NAME}.part") == half, "the first call wrote half")
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")}
        second = subprocess.run([sys.executable, "-c", _SECOND, EMAIL, files.url + "/job/lc.tar.gz",
                                 str(dest), str(tmp_path / "xcache2")], env=env, capture_output=True,
                                text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert dest.read_bytes() == BODY
        assert files.seen[1][1:] == [None, None, len(BODY)]
        assert _size(dest.parent / f".{NAME}.part") == half   # the first's part file was not touched
    finally:
        files.release.set()
        thread.join(60)
    # The first call's transfer was cut; it resumes its own part file and finishes.
    assert "error" not in result, result.get("error")
    assert dest.read_bytes() == BODY
    assert files.seen[-1][1:] == [f"bytes={half}-", '"v1"', len(BODY) - half]
    assert _listing(dest.parent) == [NAME]


def test_threads_downloading_the_same_file_share_no_part_file(files, tmp_path):
    dest = tmp_path / "out" / NAME
    client = _client(tmp_path)
    results, errors = [], []

    def fetch():
        try:
            results.append(client.download_file(files.url + "/job/lc.tar.gz", dest, overwrite=True))
        except Exception as exc:   # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and results == [dest] * 4
    assert dest.read_bytes() == BODY
    assert _listing(dest.parent) == [NAME]


def test_a_resumed_file_failing_the_callers_check_is_fetched_again_whole(files, tmp_path):
    # The caller's check (obsdata's gzip and FITS check) runs on the whole file from disk; when the
    # file was resumed, the earlier part may be what is wrong, so it is fetched once more, whole.
    dest = tmp_path / "out" / "data.bin"
    body = random.Random(5).randbytes(200_000)
    files.put("/job/data.bin", body, '"b1"')
    files.cuts.append((80_000, "drop"))
    transport = _client(tmp_path)._transport
    with conf.set_temp("retries", 0), pytest.raises(ServiceUnavailableError):
        transport.download(files.url + "/job/data.bin", dest)
    part = dest.parent / ".data.bin.part"
    part.write_bytes(b"\1" * 80_000)   # not the file's bytes, which no check of a .bin can see
    checked = []

    def verify(path):
        checked.append(path.read_bytes() == body)
        if not checked[-1]:
            raise ReaderError("data.bin: not the file")

    assert transport.download(files.url + "/job/data.bin", dest, verify=verify) == dest
    assert checked == [False, True] and dest.read_bytes() == body
    assert [s[1] for s in files.seen[1:]] == ["bytes=80000-", None]

    # A file fetched whole in this call that fails the check is refused at once, not fetched again.
    def refuse(path):
        raise ReaderError("data.bin: refused")

    dest.unlink()
    with pytest.raises(ReaderError, match="refused"):
        transport.download(files.url + "/job/data.bin", dest, verify=refuse)
    assert len(files.seen) == 4   # one request: not fetched again
    assert not dest.exists() and not part.exists()
