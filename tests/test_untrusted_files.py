# Licensed under a 3-clause BSD style license - see LICENSE
"""Archives and names from the service are not trusted (issue 20, items 6, 7, 9 and 14):
a downloaded archive must pass every check extraction makes before it replaces a good one,
a name from the wire never becomes ``..`` in a path, extraction is all or nothing, and a
compressed FITS file cannot inflate without bound. Servers are on 127.0.0.1 only."""
import gzip
import io
import os
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from astropy.io import fits
import xrt_fake_session as fake

from xrtprods_astro import archives, conf
from xrtprods_astro.archives import StreamVerifier, safe_extract
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro import files
from xrtprods_astro.job import XRTJob
from xrtprods_astro.readers.images import read_fits_bytes, read_image_files

GOOD = fake.targz({"USERPROD_951/lc/curve.qdp": b"READ TERR 1 2\n1 2 3\n",
                   "USERPROD_951/lc/README.txt": b"hello"})


# -- a loopback server answering every GET with the bytes of its path ---------------------------
class _Files:
    def __init__(self, files):
        outer = self
        self.files, self.paths = dict(files), []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.paths.append(self.path)
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def files_server():
    servers = []

    def start(files):
        servers.append(_Files(files))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _client(server, tmp_path):
    client = XRTProductsClass(server=server.url, email="me@example.org")
    client.cache_location = tmp_path / "xcache"
    client._transport.sleep = lambda seconds: None
    client._transport.random = lambda: 0.5
    return client


# -- hostile archives that tarfile and zipfile read without complaint ---------------------------
def _tar(entries, fmt=tarfile.GNU_FORMAT, mode="w:gz"):
    """entries: (name, bytes, or one of the TarInfo types tarfile.SYMTYPE / DIRTYPE / FIFOTYPE)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=fmt) as tar:
        for name, what in entries:
            info = tarfile.TarInfo(name)
            if what not in (tarfile.SYMTYPE, tarfile.DIRTYPE, tarfile.FIFOTYPE):
                info.size = len(what)
                tar.addfile(info, io.BytesIO(what))
            else:
                info.type = what
                if what == tarfile.SYMTYPE:
                    info.linkname = "/etc/passwd"
                tar.addfile(info)
    return buffer.getvalue()


def _zip(entries):
    """entries: (name, bytes, unix mode or None)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload, mode in entries:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, payload)
    return buffer.getvalue()


LONG = "USERPROD_951/" + "d" * 110 + "/"
UNSAFE = {
    "tar.gz, '..' member": ("tar.gz", _tar([("USERPROD_951/ok.txt", b"ok"), ("../evil.txt", b"evil")])),
    "tar.gz, absolute member": ("tar.gz", _tar([("/tmp/evil.txt", b"evil")])),
    "tar.gz, symbolic link": ("tar.gz", _tar([("USERPROD_951/link", tarfile.SYMTYPE)])),
    "tar.gz, FIFO": ("tar.gz", _tar([("USERPROD_951/fifo", tarfile.FIFOTYPE)])),
    "tar.gz, GNU long name with '..'": ("tar.gz", _tar([(LONG + "../../../evil.txt", b"evil")])),
    "tar.gz, pax path with '..'": ("tar.gz", _tar([(LONG + "../../../evil.txt", b"evil")],
                                                  fmt=tarfile.PAX_FORMAT)),
    "tar.gz, a file and a folder of one name": ("tar.gz", _tar([("a/b", b"file"), ("a/b/c", b"below")])),
    "tar.gz, a file named twice": ("tar.gz", _tar([("a/b", b"one"), ("a/b", b"two")])),
    "tar, '..' member": ("tar", _tar([("../evil.txt", b"evil")], mode="w")),
    "zip, '..' member": ("zip", _zip([("USERPROD_951/ok.txt", b"ok", None), ("../evil.txt", b"evil", None)])),
    "zip, symbolic link": ("zip", _zip([("USERPROD_951/link", b"/etc/passwd", stat.S_IFLNK | 0o777)])),
    "zip, FIFO": ("zip", _zip([("USERPROD_951/fifo", b"", stat.S_IFIFO | 0o644)])),
    "zip, a file and a folder of one name": ("zip", _zip([("a", b"file", None), ("a/b", b"below", None)])),
}


def _renamed_in_directory(data, old, new):
    # The name changed in the central directory only: zipfile would refuse to extract it.
    cut = data.rindex(b"PK\x01\x02")
    return data[:cut] + data[cut:].replace(old, new)


UNSAFE["zip, directory and member header disagree"] = (
    "zip", _renamed_in_directory(_zip([("USERPROD_951/ab.txt", b"ab", None)]), b"ab.txt", b"ac.txt"))


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_verifier_refuses_what_extraction_refuses(case, tmp_path):
    kind, data = UNSAFE[case]
    archive = tmp_path / f"bad.{kind}"
    archive.write_bytes(data)
    with pytest.raises(ReaderError):
        safe_extract(archive, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))
    verifier = StreamVerifier(kind, archive.name)
    with pytest.raises(ReaderError, match="refusing"):
        # Piece by piece, as a download arrives.
        for start in range(0, len(data), 37):
            verifier.feed(data[start:start + 37])
        verifier.finish()


@pytest.mark.parametrize("kind", ["tar.gz", "tar", "zip"])
def test_verifier_passes_a_good_archive_in_any_pieces(kind):
    entries = [("USERPROD_951/", tarfile.DIRTYPE), ("USERPROD_951/lc/a.txt", b"a" * 3000),
               (LONG + "long.txt", b"long")]
    if kind == "zip":
        data = _zip([(n, b"" if w == tarfile.DIRTYPE else w, None) for n, w in entries])
    else:
        data = _tar(entries, mode="w:gz" if kind == "tar.gz" else "w")
    for piece in (1, 7, 512, len(data)):
        verifier = StreamVerifier(kind, "good")
        for start in range(0, len(data), piece):
            verifier.feed(data[start:start + piece])
        verifier.finish()
    assert verifier.members == 3


def test_zip_cut_in_its_central_directory_is_refused():
    data = _zip([("a.txt", b"a" * 100, None), ("b.txt", b"b", None)])
    verifier = StreamVerifier("zip", "cut.zip")
    verifier.feed(data[:-30])   # the end record, and part of the last directory record, are missing
    with pytest.raises(ReaderError, match="central directory"):
        verifier.finish()


@pytest.mark.parametrize("case", ["tar.gz, '..' member", "zip, symbolic link", "tar.gz, pax path with '..'"])
def test_overwrite_never_replaces_a_good_archive_with_an_unsafe_one(case, files_server, tmp_path):
    # Issue 20 item 6: readable, CRCs right, but extraction would refuse it.
    kind, data = UNSAFE[case]
    server = files_server({f"/USERPROD_951/lc.{kind}": data})
    good = _tar([("USERPROD_951/lc/curve.qdp", b"1 2 3\n")], mode="w" if kind == "tar" else "w:gz")
    if kind == "zip":
        good = _zip([("USERPROD_951/lc/curve.qdp", b"1 2 3\n", None)])
    dest = tmp_path / f"USERPROD_951_lc.{kind}"
    dest.write_bytes(good)
    client = _client(server, tmp_path)
    with conf.set_temp("retries", 1), pytest.raises(ReaderError, match="refusing"):
        client.download_archive(server.url + "/USERPROD_951", "lc", format=kind, dest_dir=tmp_path,
                                overwrite=True)
    assert dest.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [dest.name]


def test_an_unsafe_archive_is_not_fetched_again(files_server, tmp_path):
    # Its members are what the archive holds, not a transfer fault: retrying brings the same bytes.
    kind, data = UNSAFE["tar.gz, '..' member"]
    server = files_server({f"/USERPROD_951/lc.{kind}": data})
    client = _client(server, tmp_path)
    with conf.set_temp("retries", 3), pytest.raises(archives.UnsafeArchiveError):
        client.download_archive(server.url + "/USERPROD_951", "lc", format=kind, dest_dir=tmp_path)
    assert server.paths == [f"/USERPROD_951/lc.{kind}"]
    assert not [p for p in tmp_path.iterdir() if p.is_file()]


# -- item 9: extraction is all or nothing --------------------------------------------------------
def _dest_state(dest):
    return {str(p.relative_to(dest)): (p.read_bytes() if p.is_file() else None) for p in dest.rglob("*")}


def test_member_that_collides_with_a_folder_changes_nothing(tmp_path):
    dest = tmp_path / "dest"
    (dest / "b").mkdir(parents=True)
    (dest / "a.txt").write_bytes(b"old a")
    (dest / "b" / "keep.txt").write_bytes(b"keep")
    before = _dest_state(dest)
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(_tar([("a.txt", b"new a"), ("b", b"a file where a folder is")]))
    with pytest.raises(ReaderError, match="would replace the folder"):
        safe_extract(archive, dest)
    assert _dest_state(dest) == before


def test_member_needing_a_folder_where_a_file_is_changes_nothing(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"old a")
    (dest / "c").write_bytes(b"a file")
    before = _dest_state(dest)
    archive = tmp_path / "x.zip"
    archive.write_bytes(_zip([("a.txt", b"new a", None), ("c/d.txt", b"below", None)]))
    with pytest.raises(ReaderError, match="which is a file"):
        safe_extract(archive, dest)
    assert _dest_state(dest) == before


def test_local_tar_gz_with_a_bad_crc_writes_nothing(tmp_path):
    bad = bytearray(GOOD)
    bad[-6] ^= 1   # in the gzip CRC32 trailer, which tarfile alone never reads
    with tarfile.open(fileobj=io.BytesIO(bytes(bad))) as tar:
        assert len(tar.getmembers()) == 2
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(bytes(bad))
    dest = tmp_path / "dest"
    with pytest.raises(ReaderError, match="nothing was written"):
        safe_extract(archive, dest)
    assert not any(dest.rglob("*"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no staging folder left


def test_a_failed_move_puts_back_what_it_replaced(tmp_path, monkeypatch):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"old a")
    before = _dest_state(dest)
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(_tar([("a.txt", b"new a"), ("sub/b.txt", b"new b")]))
    real_replace, calls = os.replace, []

    def failing_replace(source, target):
        calls.append(target)
        if str(target).endswith("b.txt"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(archives.os, "replace", failing_replace)
    with pytest.raises(ReaderError, match="unchanged"):
        safe_extract(archive, dest)
    assert _dest_state(dest) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_extraction_stages_outside_dest(tmp_path, monkeypatch):
    seen = []
    real = archives._unpack

    def spy(archive_path, into, name):
        seen.append(into)
        return real(archive_path, into, name)

    monkeypatch.setattr(archives, "_unpack", spy)
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(GOOD)
    files = safe_extract(archive, tmp_path / "dest")
    assert [p.name for p in files] == ["curve.qdp", "README.txt"]
    assert (tmp_path / "dest") not in seen[0].parents and seen[0].parent.parent == tmp_path


# -- item 7: names from the wire -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", "", "...", "a" * 201])
def test_unusable_wire_names_are_refused(name):
    with pytest.raises(ReaderError, match="interval name"):
        files.safe_component(name, "spectral interval name")


@pytest.mark.parametrize("name, expected", [("interval0", "interval0"), ("../x", ".._x"),
                                            ("a/b\\c", "a_b_c"), ("late time", "late_time"),
                                            ("..a", "..a")])
def test_wire_names_keep_no_separator(name, expected):
    assert files.safe_component(name, "name") == expected


def test_spectral_interval_named_dotdot_writes_nothing_outside_dest(files_server, tmp_path, monkeypatch):
    archive = fake.targz({"interval0wt.pi": b"not really a spectrum"})
    server = files_server({"/USERPROD_951/spec/x.tar.gz": archive})
    client = _client(server, tmp_path)
    job = XRTJob(client, 951, server.url + "/USERPROD_951")
    answer = {"rnames": [".."], "..": {"DataFile": server.url + "/USERPROD_951/spec/x.tar.gz"}}
    monkeypatch.setattr(job, "spectral_fit_data", lambda: answer)
    top = tmp_path / "top"
    dest = top / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(ReaderError, match="spectral interval name '..'"):
        job.spectra(dest_dir=dest)
    assert [p.name for p in top.iterdir()] == ["dest"]
    assert not any(dest.iterdir())
    assert server.paths == []   # refused before anything was fetched


def test_download_file_named_dotdot_by_the_url_is_refused(files_server, tmp_path):
    server = files_server({})
    client = _client(server, tmp_path)
    folder = tmp_path / "into"
    folder.mkdir()
    with pytest.raises(ReaderError, match="file name in the URL '..'"):
        client.download_file(server.url + "/USERPROD_951/..", folder)
    assert server.paths == []


# -- item 14 (images): inflated sizes are bounded ------------------------------------------------
def _image_gz(side=256):
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.zeros((side, side), dtype=np.float32)).writeto(buffer)
    return gzip.compress(buffer.getvalue()), len(buffer.getvalue())


def test_img_gz_inflating_past_the_limit_is_refused(tmp_path):
    packed, size = _image_gz()
    assert len(packed) < size // 50   # a small download, a large image
    (tmp_path / "image1.img.gz").write_bytes(packed)
    with conf.set_temp("fits_max_bytes", size - 1):
        with pytest.raises(ReaderError, match=r"image1\.img\.gz.*conf\.fits_max_bytes"):
            read_image_files(tmp_path)
        with pytest.raises(ReaderError, match="conf.fits_max_bytes"):
            read_fits_bytes(packed, "packed")
    with conf.set_temp("fits_max_bytes", size):
        assert read_fits_bytes(packed)[0].data.shape == (256, 256)


def test_uncompressed_fits_past_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "image1.img"
    fits.PrimaryHDU(np.zeros((64, 64), dtype=np.float32)).writeto(path)
    with conf.set_temp("fits_max_bytes", 2880):
        with pytest.raises(ReaderError, match="conf.fits_max_bytes"):
            read_fits_bytes(path)


def test_concatenated_gzip_members_count_together(tmp_path):
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.zeros((64, 64), dtype=np.float32)).writeto(buffer)
    raw = buffer.getvalue()
    half = len(raw) // 2
    packed = gzip.compress(raw[:half]) + gzip.compress(raw[half:])
    assert read_fits_bytes(packed)[0].data.shape == (64, 64)
    with conf.set_temp("fits_max_bytes", len(raw) - 1), pytest.raises(ReaderError, match="fits_max_bytes"):
        read_fits_bytes(packed)


def test_unsafe_members_have_their_own_error_class():
    # An intact archive that is refused for what it holds: downloading it again cannot help.
    kind, data = UNSAFE["tar.gz, '..' member"]
    verifier = StreamVerifier(kind, "bad")
    with pytest.raises(archives.UnsafeArchiveError, match="'..'"):
        verifier.feed(data)
    assert issubclass(archives.UnsafeArchiveError, ReaderError)
