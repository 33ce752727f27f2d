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
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .exceptions import ReaderError

__all__ = ["safe_extract"]

_CHUNK = 1 << 20


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
    for member in tar.getmembers():
        parts = _check_name(member.name, archive)
        if member.issym() or member.islnk():
            raise ReaderError(f"{archive}: member {member.name!r} is a link; refusing to extract")
        if not (member.isfile() or member.isdir()):
            raise ReaderError(f"{archive}: member {member.name!r} is a device, FIFO or other "
                              "special file; refusing to extract")
        if parts:
            members.append((member, parts))
    return members


def _zip_members(archive_zip, archive):
    members = []
    for info in archive_zip.infolist():
        parts = _check_name(info.filename, archive)
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


def _write(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


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
        The archive cannot be read, or a member is unsafe (absolute path,
        ``..``, link, device or FIFO): nothing is extracted then.
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
                            _write(source, target)
                        written.append(parts)
            elif tarfile.is_tarfile(archive_path):
                with tarfile.open(archive_path) as archive:
                    for member, parts in _tar_members(archive, name):
                        target = staging.joinpath(*parts)
                        if member.isdir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        _write(archive.extractfile(member), target)
                        written.append(parts)
            else:
                raise ReaderError(f"{name}: not a tar, tar.gz or zip archive")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ReaderError(f"{name}: could not be extracted ({exc})") from exc
        # The whole archive was read: only now do files appear in dest.
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
