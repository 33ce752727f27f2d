# Licensed under a 3-clause BSD style license - see LICENSE
"""
Safe extraction of the product archives (tar, tar.gz, zip).

An archive comes from the network, so nothing in it is trusted: absolute
paths, ``..`` components, symbolic and hard links, devices and FIFOs are
refused before anything is written, and the files are first written into a
private temporary folder beside the destination and moved into place only when
the whole archive has been read and checked (gzip CRC32 included) and every
file has a place to go: a failed extraction leaves the destination as it was.
`StreamVerifier` makes the same checks of member names and types while a
download streams, so a new archive that extraction would refuse never
replaces a good one.
"""
import logging
import os
import shutil
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

from .exceptions import ReaderError

__all__ = ["safe_extract", "StreamVerifier", "ArchiveLimitError", "UnsafeArchiveError", "verify_file"]

log = logging.getLogger("xrtprods_astro")

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


class UnsafeArchiveError(ReaderError):
    """An archive holds a member extraction refuses: an absolute or ``..`` path, a link, a
    device or FIFO, or a name that is both a file and a folder or appears twice.

    The archive is intact; downloading it again gives the same refusal.
    """


class StreamVerifier:
    """Check an archive completely while its bytes arrive, without a second pass.

    ``tar.gz``: every gzip member is inflated and its CRC32 and length trailer
    checked (zlib does it); ``tar``: every header checksum is checked and every
    member's data accounted for up to the end-of-archive blocks; ``zip``:
    every member is inflated and its CRC32 and size compared with its local
    header (or data descriptor), then the central directory is read to its
    end record. The number of members and the total uncompressed size are
    limited all along, so a small archive that expands without bound is
    stopped early. Every member is also checked as `safe_extract` would check
    it: no absolute path, no ``..``, no link, device or FIFO, and no name
    that is both a file and a folder or appears twice.

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
        From `feed` or `finish` when the archive is corrupt, cut short, of
        an unsupported kind or holds a member `safe_extract` would refuse;
        `ArchiveLimitError` when a limit is passed.
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
        self._zip_central = False   # inside the central directory
        self._zip_names = set()     # names of the local headers, which zipfile matches the directory to
        self._tar_name = None   # the next member's name from a pax or GNU long-name record
        self._layout = _Layout(name)

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
        name, self._tar_name = (info.name if self._tar_name is None else self._tar_name), None
        if info.type == tarfile.GNUTYPE_SPARSE:
            self._fail(f"member {name!r} is a sparse file; refusing it")
        _check_member(self._layout, name, is_dir=info.type == tarfile.DIRTYPE,
                      is_link=info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE),
                      is_special=info.type not in tarfile.REGULAR_TYPES + (tarfile.DIRTYPE,))
        if self._pax_size is not None:
            size, self._pax_size = self._pax_size, None
        self._count(size if info.type in tarfile.REGULAR_TYPES else 0)
        self._tar_skip = _blocks(size) if info.type in tarfile.REGULAR_TYPES else 0

    def _tar_meta_done(self):
        kind, data = self._tar_meta
        self._tar_meta = None
        data = bytes(data[:self._tar_meta_size])
        if kind in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
            if kind == tarfile.GNUTYPE_LONGNAME:
                # tarfile takes the name up to the first NUL, decoded as it decodes headers.
                self._tar_name = data.split(b"\0", 1)[0].decode(tarfile.ENCODING, "surrogateescape")
            return
        for record in _pax_records(data, self.name):
            key, _, value = record.partition(b"=")
            if key.startswith(b"GNU.sparse."):
                self._fail("holds a sparse file; refusing it")
            if key == b"path":
                if kind == tarfile.XGLTYPE:
                    # A global path would name every following member; tarfile's own use of it
                    # differs between versions, so no safe reading of it exists.
                    self._fail("has a global pax header giving a path; refusing it")
                self._tar_name = value.decode("utf-8", "surrogateescape")
            if key == b"size" and kind == tarfile.XHDTYPE:
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
            if sig in _ZIP_CENTRAL or self._zip_central:
                # Every member's data was checked; the central directory gives the names and
                # file types zipfile extracts with, so it is read to its end record.
                self._zip_central = True
                if not self._zip_central_step():
                    return
                continue
            if sig != b"PK\x03\x04":
                self._fail(f"corrupt zip data (no member header where one was expected, got {sig!r})")
            if len(buf) < 30:
                return
            (_, _, flags, method, _, _, crc, csize, usize, nlen, xlen) = struct.unpack(
                "<4sHHHHHIIIHH", bytes(buf[:30]))
            if len(buf) < 30 + nlen + xlen:
                return
            name = _zip_name(bytes(buf[30:30 + nlen]), flags)
            _check_name(name, self.name)
            self._zip_names.add(name)
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

    def _zip_central_step(self):
        """Read one record of the central directory; False when more bytes are needed."""
        buf = self._buf
        sig = bytes(buf[:4])
        if sig == b"PK\x01\x02":
            if len(buf) < 46:
                return False
            flags, nlen, xlen, clen, attr = (struct.unpack("<H", buf[8:10])[0],
                                             *struct.unpack("<HHH", buf[28:34]),
                                             struct.unpack("<I", buf[38:42])[0])
            if len(buf) < 46 + nlen + xlen + clen:
                return False
            name = _zip_name(bytes(buf[46:46 + nlen]), flags)
            if name not in self._zip_names:
                # zipfile extracts by the directory's names and refuses one its local header
                # does not repeat: such an archive could not be extracted.
                self._fail(f"the zip directory names {name!r}, which no member header holds; "
                           "refusing it")
            mode = attr >> 16
            _check_member(self._layout, name, is_dir=name.endswith("/"),
                          is_link=stat.S_ISLNK(mode),
                          is_special=stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR))
            del buf[:46 + nlen + xlen + clen]
            return True
        if sig == b"PK\x05\x06":
            if len(buf) < 22:
                return False
            self._zip_end = True   # the end record: the archive comment after it is not read
            buf.clear()
            return True
        if sig == b"PK\x06\x06":   # zip64 end record: its size follows the signature
            if len(buf) < 12:
                return False
            size = 12 + struct.unpack("<Q", buf[4:12])[0]
        elif sig == b"PK\x06\x07":   # zip64 end locator
            size = 20
        elif sig == b"PK\x05\x05":   # digital signature
            if len(buf) < 6:
                return False
            size = 6 + struct.unpack("<H", buf[4:6])[0]
        else:
            if len(buf) < 4:
                return False
            self._fail(f"corrupt zip central directory (got {sig!r} where a record was expected)")
        if size > 1 << 20:
            self._fail(f"a zip directory record of {size} bytes is not plausible")
        if len(buf) < size:
            return False
        del buf[:size]
        return True

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


_ZIP_CENTRAL = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x05")


def _zip_name(raw, flags):
    # As zipfile decodes it: UTF-8 when the header says so (bit 11), else code page 437.
    return raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")


class _Layout:
    """The files and folders an archive would create, to refuse a name that is both, or twice.

    An extraction would otherwise fail half-way: a member written where an
    earlier one made a folder, or a folder needed where a file was written.
    """

    def __init__(self, archive):
        self.archive = archive
        self.files, self.dirs = set(), set()

    def add(self, name, parts, is_dir):
        for depth in range(1, len(parts)):
            folder = tuple(parts[:depth])
            if folder in self.files:
                raise UnsafeArchiveError(f"{self.archive}: member {name!r} needs {'/'.join(folder)!r} to be "
                                         "a folder, but the archive has a file of that name; refusing to "
                                         "extract")
            self.dirs.add(folder)
        key = tuple(parts)
        if not key:
            return
        if key in (self.dirs if not is_dir else self.files):
            raise UnsafeArchiveError(f"{self.archive}: {'/'.join(key)!r} is both a file and a folder in "
                                     "the archive; refusing to extract")
        if not is_dir:
            if key in self.files:
                raise UnsafeArchiveError(f"{self.archive}: member {name!r} appears twice; "
                                         "refusing to extract")
            self.files.add(key)
        else:
            self.dirs.add(key)


def _check_member(layout, name, *, is_dir, is_link, is_special):
    """Every check `safe_extract` makes of one member, from its name and type alone."""
    parts = _check_name(name, layout.archive)
    if is_link:
        raise UnsafeArchiveError(f"{layout.archive}: member {name!r} is a link; refusing to extract")
    if is_special:
        raise UnsafeArchiveError(f"{layout.archive}: member {name!r} is a device, FIFO or other "
                                 "special file; refusing to extract")
    layout.add(name, parts, is_dir)
    return parts


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
    """Return the member's relative parts, or raise UnsafeArchiveError."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    # As PurePosixPath(text).parts once a leading "/" is refused, without building a path.
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} climbs out of the folder with '..'; "
                                 "refusing to extract")
    return parts


def _tar_members(tar, archive):
    """Each member of ``tar`` to be written, with its relative parts, checked as it comes.

    A generator: a tar read as a stream (``r|``) gives its members one by one, so each is
    checked (name, type, limits, layout) before it is written and before the next is read;
    the archive is read once.
    """
    max_bytes, max_members = _limits()
    layout = _Layout(archive)
    total = 0
    for number, member in enumerate(tar, 1):
        _check_name(member.name, archive)
        if member.issparse():
            raise ReaderError(f"{archive}: member {member.name!r} is a sparse file; refusing to extract")
        total += member.size if member.isfile() else 0
        _check_limits(archive, number, total, max_members, max_bytes)
        parts = _check_member(layout, member.name, is_dir=member.isdir(),
                              is_link=member.issym() or member.islnk(),
                              is_special=not (member.isfile() or member.isdir()))
        if parts:
            yield member, parts


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
    layout = _Layout(archive)
    total = 0
    for number, info in enumerate(archive_zip.infolist(), 1):
        _check_name(info.filename, archive)
        total += info.file_size
        _check_limits(archive, number, total, max_members, max_bytes)
        mode = info.external_attr >> 16
        # Writers often store permission bits only; a file type, when given, must be plain.
        parts = _check_member(layout, info.filename, is_dir=info.is_dir(), is_link=stat.S_ISLNK(mode),
                              is_special=stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR))
        if parts:
            members.append((info, parts))
    return members


def _write(source, target, size, made=None):
    """Write one member; ``made``: the folders already made in this extraction (one mkdir each)."""
    if made is None or target.parent not in made:
        target.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(target.parent)
    with open(target, "xb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
        # A member must hold what its header says, no more (the limits were checked on the headers).
        if out.tell() != size:
            raise ReaderError(f"{target.name}: {out.tell()} bytes where the archive header says {size}")


def _no_links_below(dest, parts, archive, checked=None):
    """Refuse when a folder between ``dest`` and a member's place is an existing link or a file.

    ``checked``: a set of the folders (relative parts) already found safe in this extraction,
    so members of one folder cost one look at it.
    """
    path = dest
    for depth, part in enumerate(parts[:-1], 1):
        path = path / part
        if checked is not None and parts[:depth] in checked:
            continue
        if path.is_symlink():
            raise ReaderError(f"{archive}: {path} is a symbolic link; extracting through it could write "
                              "outside the folder, so nothing was extracted")
        if path.exists() and not path.is_dir():
            raise ReaderError(f"{archive}: member {'/'.join(parts)!r} needs the folder {path}, which is a "
                              "file; nothing was extracted")
        if checked is not None:
            checked.add(parts[:depth])
    target = path / parts[-1]
    if target.is_dir() and not target.is_symlink():
        raise ReaderError(f"{archive}: member {'/'.join(parts)!r} would replace the folder {target}; "
                          "nothing was extracted")


def _unpack(archive_path, into, name):
    """Write every member into the folder ``into``; returns the files' parts, in archive order."""
    written, made = [], set()
    if zipfile.is_zipfile(archive_path):
        with zipfile.ZipFile(archive_path) as archive:
            for info, parts in _zip_members(archive, name):
                target = into.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                # zipfile checks each member's CRC32 when its end is read.
                with archive.open(info) as source:
                    _write(source, target, info.file_size, made)
                written.append(parts)
    else:
        written = _unpack_tar(archive_path, into, name)
        if written is None:
            raise ReaderError(f"{name}: not a tar, tar.gz or zip archive")
        return written
    return written


def _open_decompressed(archive_path):
    """``archive_path`` opened for reading, decompressed (gzip, bzip2, xz) by its first bytes.

    Each decompressor checks the stream's own check value (gzip CRC32 and length, bzip2 CRCs,
    xz checks) when it is read to its end.
    """
    import bz2
    import gzip
    import lzma
    with open(archive_path, "rb") as probe:
        magic = probe.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(archive_path, "rb")
    if magic[:3] == b"BZh":
        return bz2.BZ2File(archive_path, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(archive_path, "rb")
    return open(archive_path, "rb")


def _unpack_tar(archive_path, into, name):
    """Write every member of a tar (compressed or not) into ``into`` in one reading of it.

    Returns the files' parts in archive order, or None when it is not a tar archive. The tar
    is read as a stream: each member is checked, then written, before the next one is read
    (seeking back in a compressed tar would inflate it again from its start); then the
    rest of the file is read, so the decompressor checks the whole stream.
    """
    written, made = [], set()
    with _open_decompressed(archive_path) as handle:
        try:
            archive = tarfile.open(fileobj=handle, mode="r|", bufsize=_INFLATE)
        except tarfile.ReadError:
            # The first header is not a tar header (or the stream is not one of the formats).
            return None
        with archive:
            for member, parts in _tar_members(archive, name):
                target = into.joinpath(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                _write(archive.extractfile(member), target, member.size, made)
                written.append(parts)
        # tarfile stops at the end-of-archive blocks: reading on to the end makes the
        # decompressor check the stream's CRC32 and length.
        while handle.read(_CHUNK):
            pass
    return written


def _move_into_place(staging, dest, written, name, backups):
    """Move the staged files into ``dest``, all or none: a failure puts back what was replaced.

    ``backups()`` gives the folder the files replaced are moved to meanwhile (made when first
    needed: most extractions replace nothing).
    """
    checked = set()
    for parts in written:
        _no_links_below(dest, tuple(parts), name, checked)
    old = None
    new, dest_text = os.fspath(staging), os.fspath(dest)
    done, created = [], []
    present = {()}   # folders below dest (relative parts) known to be there: dest itself
    try:
        for number, parts in enumerate(written):
            parts = tuple(parts)
            # The folders from dest down to the member's, made where missing (dest exists).
            for depth in range(1, len(parts)):
                if parts[:depth] in present:
                    continue
                folder = os.path.join(dest_text, *parts[:depth])
                if not os.path.isdir(folder):
                    os.mkdir(folder)
                    created.append(Path(folder))
                present.add(parts[:depth])
            target = os.path.join(dest_text, *parts)
            backup = None
            if os.path.lexists(target):
                old = old or backups()
                backup = os.path.join(old, str(number))
                os.replace(target, backup)
            done.append((target, backup))
            os.replace(os.path.join(new, *parts), target)
    except OSError as exc:
        for target, backup in reversed(done):
            try:
                if backup is not None:
                    os.replace(backup, target)
                else:
                    Path(target).unlink(missing_ok=True)
            except OSError:
                log.warning("%s: could not put back %s after a failed extraction", name, target)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise ReaderError(f"{name}: could not be moved into {dest} ({exc}); what was there is "
                          "unchanged") from exc
    return [dest.joinpath(*parts) for parts in written]


def _rename_folder(new, dest):
    """Put the staged folder in the place of ``dest``, a folder this extraction made and that
    is still empty, in one rename (all or nothing, as moving file by file is, at a fraction of
    its cost); False when it cannot (then the files are moved one by one)."""
    try:
        if not stat.S_ISDIR(os.lstat(dest).st_mode):
            return False
        # On POSIX a folder may replace an empty folder; a link, a file or a folder something was
        # written into meanwhile makes the rename fail, and nothing is changed.
        os.rename(new, dest)
        return True
    except OSError:
        return False


def _staging_folder(dest):
    """A private temporary folder on dest's file system (so files move with a rename), outside dest."""
    for parent in (dest.parent, dest):
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f".{dest.name or 'extract'}.extract-", dir=parent))
        except OSError:
            # dest's parent may be read-only where dest itself is writable.
            if parent == dest:
                raise
    raise AssertionError("unreachable")


def safe_extract(archive_path, dest_dir):
    """Extract a tar, tar.gz or zip archive safely into ``dest_dir``, all or nothing.

    Every member is written into a private temporary folder beside
    ``dest_dir`` first; the archive is read to its end (the gzip CRC32 and
    zip member CRC32s checked); only then, once each file is known to have a
    place to go, are the files moved into ``dest_dir``. If anything fails,
    ``dest_dir`` is left as it was (files that had been replaced are put
    back).

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
        a name is both a file and a folder or appears twice, or in
        ``dest_dir`` a folder on a member's way is a symbolic link or a file,
        or a member would replace a folder: nothing is extracted then.
    """
    archive_path = Path(archive_path)
    dest = Path(dest_dir).absolute()
    name = archive_path.name
    try:
        dest.mkdir(parents=True)
        made_dest = True
    except FileExistsError:
        made_dest = False
    staging = _staging_folder(dest)

    def backups():
        # Where the files replaced wait: made only when a file is replaced (most extractions
        # replace none, and every folder made and removed costs).
        (staging / "old").mkdir()
        return staging / "old"
    try:
        os.chmod(staging, 0o700)
        try:
            written = _unpack(archive_path, staging / "new", name)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise ReaderError(f"{name}: could not be extracted ({exc}); nothing was written") from exc
        if made_dest and staging.parent == dest.parent and _rename_folder(staging / "new", dest):
            return [dest.joinpath(*parts) for parts in written]
        return _move_into_place(staging / "new", dest, written, name, backups)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
