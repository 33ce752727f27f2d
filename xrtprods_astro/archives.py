# Licensed under a 3-clause BSD style license - see LICENSE
"""
Safe extraction of the product archives (tar, tar.gz, zip).

An archive comes from the network, so nothing in it is trusted: absolute
paths, ``..`` components, symbolic and hard links, devices and FIFOs are
refused before anything is written, and the files are first written into a
temporary folder inside the destination and moved into place only when the
whole archive has been read.
"""
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .exceptions import ReaderError

__all__ = ["safe_extract", "StreamVerifier", "ArchiveLimitError", "verify_file"]

_CHUNK = 1 << 20
# Most bytes inflated at once: the output stays in the CPU cache, and memory stays flat
# whatever the compression ratio.
_INFLATE = 1 << 18


def _limits(max_bytes=None, max_members=None):
    from . import conf
    return (int(conf.archive_max_bytes if max_bytes is None else max_bytes),
            int(conf.archive_max_members if max_members is None else max_members))


class ArchiveLimitError(ReaderError):
    """An archive holds more members or more bytes than the limits allow."""


class StreamVerifier:
    """Check an archive completely while its bytes arrive, without a second pass.

    ``tar.gz``: every gzip member is inflated and its CRC32 and length trailer
    checked (zlib does it); ``tar``: every header checksum is checked and every
    member's data accounted for up to the end-of-archive blocks; ``zip``:
    every member is inflated and its CRC32 and size compared with its local
    header (or data descriptor), up to the central directory. The number of
    members and the total uncompressed size are limited all along, so a small
    archive that expands without bound is stopped early.

    Parameters
    ----------
    kind : {'tar', 'tar.gz', 'zip'}
    name : str
        Used in messages.
    max_bytes, max_members : int, optional
        Default ``conf.archive_max_bytes`` and ``conf.archive_max_members``.

    Raises
    ------
    ReaderError
        From `feed` or `finish` when the archive is corrupt, cut short or of
        an unsupported kind; `ArchiveLimitError` when a limit is passed.
    """

    def __init__(self, kind, name, max_bytes=None, max_members=None):
        if kind not in ("tar", "tar.gz", "zip"):
            raise ValueError(f"kind must be 'tar', 'tar.gz' or 'zip', got {kind!r}")
        self.kind, self.name = kind, name
        self.max_bytes, self.max_members = _limits(max_bytes, max_members)
        self.members = 0
        self.total = 0          # declared sizes of the members
        self.inflated = 0       # bytes out of the gzip layer
        self._gz = zlib.decompressobj(31) if kind == "tar.gz" else None
        self._buf = bytearray()
        self._tar_skip = 0      # data bytes of the current tar member still to come
        self._tar_meta = None   # (type, remaining bytes) of a pax / GNU long-name record being read
        self._pax_size = None
        self._tar_end = False
        self._zip = None        # state of the zip member being inflated
        self._zip_end = False

    def _fail(self, text, cls=ReaderError):
        raise cls(f"{self.name}: {text}")

    def _count(self, size):
        self.members += 1
        self.total += max(int(size), 0)
        if self.members > self.max_members:
            self._fail(f"holds more than {self.max_members} members (conf.archive_max_members)",
                       ArchiveLimitError)
        if self.total > self.max_bytes:
            self._fail(f"expands to more than {self.max_bytes} bytes (conf.archive_max_bytes)",
                       ArchiveLimitError)

    # -- input ---------------------------------------------------------------
    def feed(self, data):
        """Check the next bytes of the archive."""
        if self.kind == "zip":
            self._buf += data
            self._zip_step()
            return
        if self._gz is None:
            self._tar_feed(data)
            return
        while data:
            if self._gz.eof:
                # A new gzip member follows (concatenated gzip is valid gzip).
                data = self._gz.unused_data + data
                self._gz = zlib.decompressobj(31)
            try:
                for out in _inflate(self._gz, data):
                    self.inflated += len(out)
                    if self.inflated > self.max_bytes + _CHUNK:
                        self._fail(f"expands to more than {self.max_bytes} bytes "
                                   "(conf.archive_max_bytes)", ArchiveLimitError)
                    self._tar_feed(out)
            except zlib.error as exc:
                self._fail(f"corrupt gzip data ({exc})")
            data = b""
            if self._gz.eof and self._gz.unused_data:
                data = self._gz.unused_data
                self._gz = zlib.decompressobj(31)

    def finish(self):
        """Check that the archive ended where it should.

        Raises
        ------
        ReaderError
        """
        if self._gz is not None and not self._gz.eof:
            self._fail("is cut short: the gzip stream has no end (CRC32 and length trailer)")
        if self.kind == "zip":
            if not self._zip_end:
                self._fail("is cut short or corrupt: the zip central directory was never reached")
        elif not self._tar_end:
            self._fail("is cut short: the tar end-of-archive blocks are missing")

    # -- tar -----------------------------------------------------------------
    def _tar_feed(self, data):
        if self._tar_skip and self._tar_meta is None:
            # Inside a member's data (the buffer is then empty): step over it without copying,
            # so headers alone go through the buffer and the per-byte cost is the inflate's.
            step = min(self._tar_skip, len(data))
            self._tar_skip -= step
            if step == len(data):
                return
            data = memoryview(data)[step:]
        buf = self._buf
        buf += data
        pos = 0
        while not self._tar_end:
            if self._tar_skip:
                step = min(self._tar_skip, len(buf) - pos)
                if self._tar_meta is not None:
                    self._tar_meta[1].extend(buf[pos:pos + step])
                pos += step
                self._tar_skip -= step
                if self._tar_skip:
                    break
                if self._tar_meta is not None:
                    self._tar_meta_done()
                continue
            if len(buf) - pos < tarfile.BLOCKSIZE:
                break
            block = bytes(buf[pos:pos + tarfile.BLOCKSIZE])
            pos += tarfile.BLOCKSIZE
            if block == tarfile.NUL * tarfile.BLOCKSIZE:
                self._tar_end = True
                break
            self._tar_header(block)
        del buf[:pos]
        if self._tar_end:
            buf.clear()   # padding after the end-of-archive blocks

    def _tar_header(self, block):
        try:
            info = tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
        except tarfile.HeaderError as exc:
            self._fail(f"corrupt tar header ({exc})")
        size = info.size
        if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                         tarfile.GNUTYPE_LONGLINK):
            if size > 1 << 20:
                self._fail(f"a tar extended header of {size} bytes is not plausible")
            self._tar_meta = (info.type, bytearray())
            self._tar_skip = _blocks(size)
            self._tar_meta_size = size
            if not self._tar_skip:
                self._tar_meta_done()
            return
        if info.type == tarfile.GNUTYPE_SPARSE:
            self._fail(f"member {info.name!r} is a sparse file; refusing it")
        if self._pax_size is not None:
            size, self._pax_size = self._pax_size, None
        self._count(size if info.type in tarfile.REGULAR_TYPES else 0)
        self._tar_skip = _blocks(size) if info.type in tarfile.REGULAR_TYPES else 0

    def _tar_meta_done(self):
        kind, data = self._tar_meta
        self._tar_meta = None
        data = bytes(data[:self._tar_meta_size])
        if kind == tarfile.XHDTYPE:
            for record in _pax_records(data, self.name):
                key, _, value = record.partition(b"=")
                if key.startswith(b"GNU.sparse."):
                    self._fail("holds a sparse file; refusing it")
                if key == b"size":
                    try:
                        self._pax_size = int(value)
                    except ValueError:
                        self._fail(f"corrupt pax size {value[:20]!r}")

    # -- zip -----------------------------------------------------------------
    def _zip_step(self):
        buf = self._buf
        while not self._zip_end:
            if self._zip is not None:
                if not self._zip_data():
                    return
                continue
            if len(buf) < 4:
                return
            sig = bytes(buf[:4])
            if sig in (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06"):
                self._zip_end = True   # the central directory: every member was checked
                buf.clear()
                return
            if sig != b"PK\x03\x04":
                self._fail(f"corrupt zip data (no member header where one was expected, got {sig!r})")
            if len(buf) < 30:
                return
            (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack(
                "<4sHHHHHIIIHH", bytes(buf[:30]))
            if len(buf) < 30 + nlen + xlen:
                return
            name = bytes(buf[30:30 + nlen]).decode("utf-8", "replace")
            extra = bytes(buf[30 + nlen:30 + nlen + xlen])
            del buf[:30 + nlen + xlen]
            zip64 = False
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                usize, csize, zip64 = (*_zip64_sizes(extra, self.name, name), True)
            if flags & 0x1:
                self._fail(f"member {name!r} is encrypted; refusing it")
            if method not in (0, 8):
                self._fail(f"member {name!r} uses compression method {method}; only stored and "
                           "deflated members are read")
            described = bool(flags & 0x8)
            if described and method == 0:
                self._fail(f"member {name!r} is stored with a data descriptor; its end cannot be found")
            if not described:
                self._count(usize)
            self._zip = {"name": name, "method": method, "crc": crc, "csize": csize, "usize": usize,
                         "described": described, "zip64": zip64, "left": csize, "got": 0, "sum": 0,
                         "inflate": zlib.decompressobj(-15) if method == 8 else None}

    def _zip_data(self):
        """Consume member data from the buffer; True when the member is finished."""
        z, buf = self._zip, self._buf
        if z.get("descriptor"):
            return self._zip_descriptor()
        if z["described"]:
            take = len(buf)
        else:
            take = min(z["left"], len(buf))
        chunk = bytes(buf[:take])
        try:
            # Piece by piece, limits checked after each: a small bomb never expands whole in memory.
            for out in (chunk,) if z["inflate"] is None else _inflate(z["inflate"], chunk):
                z["got"] += len(out)
                z["sum"] = zlib.crc32(out, z["sum"])
                if z["got"] > self.max_bytes:
                    self._fail(f"expands to more than {self.max_bytes} bytes (conf.archive_max_bytes)",
                               ArchiveLimitError)
                if not z["described"] and z["got"] > z["usize"]:
                    self._fail(f"member {z['name']!r} is longer than its header says")
        except zlib.error as exc:
            self._fail(f"member {z['name']!r} is corrupt ({exc})")
        if z["inflate"] is not None and z["described"] and z["inflate"].eof:
            take -= len(z["inflate"].unused_data)
        del buf[:take]
        z["left"] -= take
        if z["described"]:
            if not z["inflate"].eof:
                return False
            z["descriptor"] = True
            return self._zip_descriptor()
        if z["left"]:
            return False
        return self._zip_close()

    def _zip_descriptor(self):
        z, buf = self._zip, self._buf
        size = 24 if z["zip64"] else 16
        if len(buf) < size:
            return False
        if bytes(buf[:4]) != b"PK\x07\x08":
            size -= 4   # the descriptor's signature is optional
            if len(buf) < size:
                return False
            record = bytes(buf[:size])
        else:
            record = bytes(buf[4:size])
        fmt = "<IQQ" if z["zip64"] else "<III"
        z["crc"], _, z["usize"] = struct.unpack(fmt, record[:struct.calcsize(fmt)])
        del buf[:size]
        self._count(z["usize"])
        return self._zip_close()

    def _zip_close(self):
        z = self._zip
        if z["inflate"] is not None and not z["inflate"].eof:
            self._fail(f"member {z['name']!r} is corrupt (its deflate stream does not end)")
        if z["got"] != z["usize"] or (z["sum"] & 0xFFFFFFFF) != z["crc"]:
            self._fail(f"member {z['name']!r} is corrupt (CRC32 or size does not match)")
        self._zip = None
        return True


def _inflate(inflater, data):
    """Inflate ``data`` in pieces of at most `_INFLATE` bytes, whatever the compression ratio.

    Ends when the input is used up and no output is pending (a piece shorter than the most
    asked for), or at the end of the stream (the rest is then in ``unused_data``).
    """
    while True:
        out = inflater.decompress(data, _INFLATE)
        yield out
        data = inflater.unconsumed_tail
        if inflater.eof or (not data and len(out) < _INFLATE):
            return


def _blocks(size):
    return -(-int(size) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _pax_records(data, archive):
    pos = 0
    while pos < len(data):
        if data[pos:].strip(b"\0") == b"":
            return
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ReaderError(f"{archive}: corrupt pax header") from None
        if length <= 0 or space < 0:
            raise ReaderError(f"{archive}: corrupt pax header")
        yield data[space + 1:pos + length].rstrip(b"\n")
        pos += length


def _zip64_sizes(extra, archive, name):
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[pos:pos + 4])
        if tag == 1 and size >= 16:
            return struct.unpack("<QQ", extra[pos + 4:pos + 20])
        pos += 4 + size
    raise ReaderError(f"{archive}: member {name!r} has no zip64 sizes")


def verify_file(path, kind, max_bytes=None, max_members=None):
    """Check a whole archive file with `StreamVerifier` (for files already on disk).

    Raises
    ------
    ReaderError
    """
    verifier = StreamVerifier(kind, Path(path).name, max_bytes, max_members)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_INFLATE), b""):
            verifier.feed(chunk)
    verifier.finish()


def _check_name(name, archive):
    """Return the member's relative parts, or raise ReaderError."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise ReaderError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise ReaderError(f"{archive}: member {name!r} climbs out of the folder with '..'; "
                          "refusing to extract")
    return parts


def _tar_members(tar, archive):
    members = []
    max_bytes, max_members = _limits()
    total = 0
    for number, member in enumerate(tar, 1):
        parts = _check_name(member.name, archive)
        if member.issym() or member.islnk():
            raise ReaderError(f"{archive}: member {member.name!r} is a link; refusing to extract")
        if member.issparse():
            raise ReaderError(f"{archive}: member {member.name!r} is a sparse file; refusing to extract")
        total += member.size if member.isfile() else 0
        _check_limits(archive, number, total, max_members, max_bytes)
        if not (member.isfile() or member.isdir()):
            raise ReaderError(f"{archive}: member {member.name!r} is a device, FIFO or other "
                              "special file; refusing to extract")
        if parts:
            members.append((member, parts))
    return members


def _check_limits(archive, members, total, max_members, max_bytes):
    if members > max_members:
        raise ArchiveLimitError(f"{archive}: holds more than {max_members} members "
                                "(conf.archive_max_members); refusing to extract")
    if total > max_bytes:
        raise ArchiveLimitError(f"{archive}: expands to more than {max_bytes} bytes "
                                "(conf.archive_max_bytes); refusing to extract")


def _zip_members(archive_zip, archive):
    members = []
    max_bytes, max_members = _limits()
    total = 0
    for number, info in enumerate(archive_zip.infolist(), 1):
        parts = _check_name(info.filename, archive)
        total += info.file_size
        _check_limits(archive, number, total, max_members, max_bytes)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ReaderError(f"{archive}: member {info.filename!r} is a link; refusing to extract")
        # Writers often store permission bits only; a file type, when given, must be plain.
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ReaderError(f"{archive}: member {info.filename!r} is a device, FIFO or other "
                              "special file; refusing to extract")
        if parts:
            members.append((info, parts))
    return members


def _write(source, target, size):
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
        # A member must hold what its header says, no more (the limits were checked on the headers).
        if out.tell() != size:
            raise ReaderError(f"{target.name}: {out.tell()} bytes where the archive header says {size}")


def _no_links_below(dest, parts, archive):
    """Refuse when a folder between ``dest`` and a member's place is an existing link."""
    path = dest
    for part in parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise ReaderError(f"{archive}: {path} is a symbolic link; extracting through it could write "
                              "outside the folder, so nothing was extracted")


def safe_extract(archive_path, dest_dir):
    """Extract a tar, tar.gz or zip archive safely into ``dest_dir``.

    Parameters
    ----------
    archive_path : path-like
    dest_dir : path-like
        Created if needed. Files already there with the same names are
        replaced; nothing else is touched.

    Returns
    -------
    list of pathlib.Path
        The extracted files, in archive order.

    Raises
    ------
    ReaderError
        The archive cannot be read, is corrupt, passes the limits
        ``conf.archive_max_bytes`` / ``conf.archive_max_members``, a member
        is unsafe (absolute path, ``..``, link, sparse file, device or FIFO),
        or a folder on a member's way in ``dest_dir`` is an existing
        symbolic link: nothing is extracted then.
    """
    archive_path = Path(archive_path)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive_path.name
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    written = []
    try:
        try:
            if zipfile.is_zipfile(archive_path):
                with zipfile.ZipFile(archive_path) as archive:
                    for info, parts in _zip_members(archive, name):
                        target = staging.joinpath(*parts)
                        if info.is_dir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        with archive.open(info) as source:
                            _write(source, target, info.file_size)
                        written.append(parts)
            elif tarfile.is_tarfile(archive_path):
                with tarfile.open(archive_path) as archive:
                    for member, parts in _tar_members(archive, name):
                        target = staging.joinpath(*parts)
                        if member.isdir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        _write(archive.extractfile(member), target, member.size)
                        written.append(parts)
            else:
                raise ReaderError(f"{name}: not a tar, tar.gz or zip archive")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise ReaderError(f"{name}: could not be extracted ({exc})") from exc
        # The whole archive was read: only now do files appear in dest, and
        # never through a link that was already there.
        for parts in written:
            _no_links_below(dest, parts, name)
        result = []
        for parts in written:
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise ReaderError(f"{name}: member {'/'.join(parts)!r} would replace the folder "
                                  f"{target}")
            os.replace(staging.joinpath(*parts), target)
            result.append(target)
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
