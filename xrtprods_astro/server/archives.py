# Licensed under a 3-clause BSD style license - see LICENSE
"""
Product archives of the local service (protocol §2.11, §6).

``<URL>/<stem>.<fmt>`` packs ``USERPROD_<id>/<subdir>/...``: one product's
sub-directory, or every finished product's for the stem ``all``. Archives are
written once per job, stem and format, with fixed timestamps, so repeated and
ranged downloads of one archive always see the same bytes.
"""
import gzip
import os
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

__all__ = ["FORMATS", "SUBDIRS", "split_archive_name", "archive_path", "safe_job_file"]

#: Archive formats, longest suffix first so ``x.tar.gz`` is not read as ``x.tar`` + ``.gz``.
FORMATS = ("tar.gz", "tar", "zip")

#: Product code -> sub-directory of the job directory (the archive stem is the product code).
SUBDIRS = {"lc": "lc", "spec": "spec", "psf": "psf", "enh": "enh", "xastrom": "xastrom", "image": "image",
           "sourceDet": "sourceDet"}

# A fixed date for every archive member: archives are then byte-identical on every build.
_EPOCH = 1577836800  # 2020-01-01T00:00:00Z
_lock = threading.Lock()


def split_archive_name(name):
    """``"lc.tar.gz"`` -> ``("lc", "tar.gz")``; None when not ``<stem>.<format>``."""
    for fmt in FORMATS:
        suffix = "." + fmt
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)], fmt
    return None


def _members(job_dir, subdirs):
    top = job_dir.name
    for subdir in subdirs:
        base = job_dir / subdir
        if not base.is_dir():
            continue
        yield f"{top}/{subdir}", None
        for path in sorted(base.rglob("*")):
            if path.is_symlink():
                continue  # never pack links: they could point outside the job
            arcname = f"{top}/{path.relative_to(job_dir).as_posix()}"
            yield arcname, path


def _write_tar(fileobj, members):
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in members:
            info = tarfile.TarInfo(arcname)
            info.mtime = _EPOCH
            info.uname = info.gname = "xrtprods"
            if path is None or path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = path.stat().st_size
                info.mode = 0o644
                with open(path, "rb") as source:   # streamed: memory does not grow with the file
                    tar.addfile(info, source)


def _write_zip(fileobj, members):
    with zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in members:
            if path is None or path.is_dir():
                info = zipfile.ZipInfo(arcname + "/", date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o40755 << 16) | 0x10
                archive.writestr(info, b"")
            else:
                info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(path, "rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)


def archive_path(job_dir, cache_dir, stem, fmt, subdirs):
    """Write (once) and return the archive of ``subdirs`` of ``job_dir``.

    Parameters
    ----------
    job_dir : `~pathlib.Path`
        The ``USERPROD_<id>`` directory.
    cache_dir : `~pathlib.Path`
        Where archives are kept (outside the job directory, so ``all`` never packs archives).
    stem : str
        Archive stem (a product code or ``all``).
    fmt : str
        One of `FORMATS`.
    subdirs : list of str
        Sub-directories to pack.

    Returns
    -------
    `~pathlib.Path`
    """
    target = Path(cache_dir) / job_dir.name / f"{stem}.{fmt}"
    with _lock:
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        members = list(_members(job_dir, subdirs))
        partial = target.with_name(target.name + ".part")
        # Written straight to disk, never whole in memory.
        with open(partial, "wb") as handle:
            if fmt == "zip":
                _write_zip(handle, members)
            elif fmt == "tar":
                _write_tar(handle, members)
            else:
                with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=_EPOCH) as gz:
                    _write_tar(gz, members)
        os.replace(partial, target)
    return target


def safe_job_file(job_dir, relative):
    """The file ``relative`` inside ``job_dir``, or None if it is missing or leaves the directory."""
    base = Path(job_dir).resolve()
    try:
        candidate = (base / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if base not in candidate.parents or not candidate.is_file():
        return None
    return candidate
