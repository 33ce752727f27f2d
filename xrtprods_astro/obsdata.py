# Licensed under a 3-clause BSD style license - see LICENSE
"""
Client of the UKSSDC observation-data functions of ``API/main.php``: the observations of a
target (``getObsByTarg``), the files of an observation in one of the Swift archives
(``listObsFiles``) and their download. See shared/spec/ukssdc-catalogues.md §5.

Compared with ``swifttools.ukssdc.data.downloadObsData`` and ``downloadObsDataByTarget``:

* the file lists come back as a `~astropy.table.Table` (one row per file: ``obsid``, ``path``,
  ``directory``, ``url``, ``mirror``) to look at, filter and pass on, before anything is
  downloaded;
* downloads are verified (Content-Length; every gzip file inflated to its CRC32 trailer; a FITS
  file must start as FITS and fill whole 2880-byte records) and atomic: a file appears under its
  final name only once complete and verified, so a run that was interrupted is run again and
  fetches only what is missing (files already there are skipped). A transfer cut off part-way,
  also by a killed run, is resumed by the next attempt or run with an HTTP Range request (and
  ``If-Range``) where the server gives a validator, from ``.<name>.part`` beside the file;
* a few files at a time (``conf.max_downloads``), each file's failure collected in the result
  table while the others go on, never a half-written file;
* paths from the service are checked: an absolute path, ``..``, an empty or odd component, or a
  link in the destination folder is refused, nothing is written through it;
* ``instruments="all"`` is the same list on every call (the official client's grows), an obsID
  the archive does not have is reported rather than a ``KeyError``, and an existing observation
  folder is resumed rather than an error.
"""
import fnmatch
import logging
import numbers
import os
import re
import shutil
import socket
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.table import Row, Table
from astroquery.query import BaseQuery

from .exceptions import (InvalidRequestError, ProductUnavailableError, ReaderError, RemoteServiceError,
                         XRTProductsError)
from .files import check_writable_dir, safe_component
from .services import ServiceClient
from .transport import Transport, check_url

__all__ = ["ObsDataClass", "XRTObsData", "MIRRORS", "INSTRUMENTS"]

logger = logging.getLogger("xrtprods_astro.obsdata")

#: The archives an observation's files can come from (``listObsFiles``'s ``source``): the UK copy
#: reprocessed with recent software (the default), and the UK, US and Italian archives.
MIRRORS = ("uk_reproc", "uk", "us", "italy")
#: The instruments' folders of an observation.
INSTRUMENTS = ("bat", "xrt", "uvot")
_ERRORS = ("raise", "collect")
#: Names whose content is FITS (after any .gz): checked as FITS once downloaded.
# (".fit" is left out: UKSSDC names text fit summaries *_fit.fit.)
_FITS_SUFFIXES = (".fits", ".fts", ".evt", ".hk", ".img", ".lc", ".pha", ".arf", ".rmf", ".att", ".exp",
                  ".gti", ".sky")
_FITS_BLOCK = 2880
#: Staging folders of earlier versions' downloads: ``.xrtprods-download-<host>-<pid>-<random>``
#: (removed once their process has died; downloads now resume from ``.<name>.part`` beside the file).
_STAGING = ".xrtprods-download-"
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
_READ = 1 << 20


def _choice(value, name, allowed):
    if value not in allowed:
        raise InvalidRequestError(f"{name} is {value!r}, but must be one of: " + ", ".join(map(str, allowed)))
    return value


def _digits(value, name, width, problems):
    """``value`` (int or digit string) as a zero-padded string of ``width`` digits, or None."""
    if isinstance(value, (np.integer, numbers.Integral)) and not isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, (str, np.str_)):
        text = str(value).strip()
    else:
        text = None
    if text is None or not re.fullmatch(r"[0-9]+", text) or len(text.lstrip("0")) > width:
        problems.append(f"{name}: {str(value)[:40]!r} is not a valid ID; give an integer or a string of "
                        f"at most {width} digits (e.g. {'00282445000' if width == 11 else '00282445'})")
        return None
    return "%0*d" % (width, int(text))


def _column(table, names, what):
    lower = {c.lower(): c for c in table.colnames}
    for name in names:
        if name.lower() in lower:
            return table[lower[name.lower()]]
    raise InvalidRequestError(f"{what}: the Table has no {names[0]} column (its columns: "
                              f"{', '.join(table.colnames) or 'none'})")


def _ids(values, name, width, columns):
    """Validated, de-duplicated IDs from an int, a string, a list, a Table or a Row."""
    if isinstance(values, Row):
        values = Table(values.table[values.index:values.index + 1])
    if isinstance(values, Table):
        values = list(_column(values, columns, name))
    elif isinstance(values, (str, np.str_, numbers.Integral, np.integer)):
        values = [values]
    else:
        try:
            values = list(values)
        except TypeError:
            raise InvalidRequestError(f"{name} is {values!r}, but must be an ID, a list of IDs or a Table "
                                      f"with a {columns[0]} column") from None
    if not values:
        raise InvalidRequestError(f"{name} is empty: give at least one ID")
    problems = []
    ids = [_digits(v, name, width, problems) for v in values]
    if problems:
        raise InvalidRequestError(problems, header=f"These {name} are not valid:")
    return list(dict.fromkeys(ids))


def _safe_parts(path):
    """The components of a relative archive path, or ReaderError naming what is wrong with it.

    Each component must already be what `~xrtprods_astro.files.safe_component` makes of it: a
    name it would have to change (a separator, a NUL, ``..``) is refused rather than renamed, so
    a local name is always the archive's, and two hostile names cannot become one.
    """
    text = str(path)
    if not text or text.startswith(("/", "\\")):
        raise ReaderError(f"the service listed {text[:80]!r}, which is not a relative path; refused")
    parts = text.split("/")
    for part in parts:
        try:
            same = safe_component(part, "archive path component") == part
        except ReaderError:
            same = False
        if not same:
            raise ReaderError(f"the service listed {text[:80]!r}, whose component {part[:40]!r} is not a "
                              "plain file or folder name (empty, '.', '..', or a character other than "
                              "letters, digits, '_', '.', '-'); refused")
    return parts


def _verify(path, name):
    """Check a downloaded file whose type its name says: gzip to its trailer, FITS records.

    Raises
    ------
    ReaderError
    """
    lower = name.lower()
    inner = lower[:-3] if lower.endswith(".gz") else lower
    fits = inner.endswith(_FITS_SUFFIXES)
    if not lower.endswith(".gz") and not fits:
        return
    with open(path, "rb") as handle:
        if lower.endswith(".gz"):
            head, total = _inflated(handle, name)
        else:
            head = bytes(handle.read(_FITS_BLOCK))
            total = os.fstat(handle.fileno()).st_size
    if fits and not head.startswith(b"SIMPLE  ="):
        raise ReaderError(f"{name}: not a FITS file (it does not start with SIMPLE)")
    if fits and total % _FITS_BLOCK:
        raise ReaderError(f"{name}: not a whole FITS file ({total} bytes, not whole {_FITS_BLOCK}-byte "
                          "records)")


def _inflated(handle, name):
    """The first bytes and the length of a gzip file's content, every member checked to its CRC32
    and length trailer (zlib checks them)."""
    head, total, members, open_member = bytearray(), 0, 0, False
    inflater = zlib.decompressobj(31)
    while True:
        data = handle.read(_READ)
        if not data:
            break
        while data:
            try:
                out = inflater.decompress(data)
            except zlib.error as exc:
                raise ReaderError(f"{name}: corrupt gzip data ({exc})") from None
            open_member = True
            total += len(out)
            if len(head) < _FITS_BLOCK:
                head += out[:_FITS_BLOCK - len(head)]
            data = b""
            if inflater.eof:
                # Concatenated members are valid gzip: go on with the next one.
                members, open_member = members + 1, False
                data, inflater = inflater.unused_data, zlib.decompressobj(31)
    if open_member or not members:
        raise ReaderError(f"{name}: cut short, the gzip stream has no end (CRC32 and length trailer)")
    return bytes(head), total


class ObsDataClass(ServiceClient, BaseQuery):
    """Client of the UKSSDC observation lists and Swift archive files.

    Parameters
    ----------
    server : str, optional
        Root URL of the UKSSDC site, or ``"local"``; default ``conf.server``.
    timeout : float, optional
        Time limit of one HTTP call in seconds; default ``conf.timeout``.
    """

    def __init__(self, *, server=None, timeout=None):
        BaseQuery.__init__(self)
        self._server = server
        self._timeout = timeout
        self._transport = Transport(self)
        self._transport.timeout = timeout

    def _call(self, func, payload, required):
        return self._transport.call_common(f"{self.server}/API/main.php", func, payload, required=required)

    # ------------------------------------------------------------------ observations
    def get_obsids(self, target_ids):
        """The observations (obsIDs) of Swift targets, from ``getObsByTarg``.

        Parameters
        ----------
        target_ids : int, str, list or `~astropy.table.Table`
            One targetID (``282445`` or ``"00282445"``), several, or a Table with a ``target_id``
            column (as from a ``obs``/``swiftmastr`` query). Every ID is checked before anything
            is sent.

        Returns
        -------
        `~astropy.table.Table`
            Columns ``target_id`` (8 digits) and ``obsid`` (11 digits), one row per observation;
            empty for a target with none.
        """
        targets = _ids(target_ids, "target_ids", 8, ("target_id", "targetID", "target"))
        rows = []
        for target in targets:
            data = self._call("getObsByTarg", {"targetID": target}, required=("obsList",))
            listed = data["obsList"]
            if not isinstance(listed, list):
                raise RemoteServiceError(f"getObsByTarg answered obsList={str(listed)[:80]} for targetID "
                                         f"{target}, not a list", endpoint="main.php:getObsByTarg")
            problems = []
            obsids = [_digits(o, "obsList", 11, problems) for o in listed]
            if problems:
                raise RemoteServiceError("getObsByTarg answered obsIDs that are not IDs: "
                                         + "; ".join(problems), endpoint="main.php:getObsByTarg")
            if not obsids:
                logger.warning("targetID %s has no observations", target)
            rows.extend((target, obsid) for obsid in obsids)
        table = Table(rows=rows or None, names=("target_id", "obsid"), dtype=(str, str))
        table["obsid"].description = "Swift observation ID (targetID and segment)"
        table["target_id"].description = "Swift targetID"
        return table

    def get_grb_obsids(self, grbs):
        """The observations of GRBs given by name or targetID (``getGRBTargetList``, then
        ``getObsByTarg`` for each of the GRB's targetIDs).

        Parameters
        ----------
        grbs : str, int or list
            GRB names in any common spelling (``"GRB 060729"``) or targetIDs.

        Returns
        -------
        `~astropy.table.Table`
            As from `get_obsids`, with a first column ``grb`` (the GRB as given).
        """
        from .grb import GRBClass
        names = GRBClass(server=self._server, timeout=self._timeout).resolve(grbs)
        parts = []
        for row in names:
            data = self._call("getGRBTargetList", {"targetID": int(row["target_id"])},
                              required=("targetList",))
            listed = data["targetList"]
            if not isinstance(listed, list) or not listed:
                raise RemoteServiceError(f"getGRBTargetList answered targetList={str(listed)[:80]} for "
                                         f"{row['query']}", endpoint="main.php:getGRBTargetList")
            table = self.get_obsids(listed)
            table.add_column([str(row["query"])] * len(table), name="grb", index=0)
            parts.append(table)
        from astropy.table import vstack
        return vstack(parts) if len(parts) > 1 else parts[0]

    # ------------------------------------------------------------------ file lists
    @staticmethod
    def _dirs(instruments, auxil, tdrss, log_dir):
        if isinstance(instruments, str) and instruments.lower() == "all":
            dirs = list(INSTRUMENTS)   # a new list every call: the official client's grows (bug 21)
        elif instruments is None:
            dirs = []
        else:
            listed = [instruments] if isinstance(instruments, str) else instruments
            try:
                listed = list(listed)
            except TypeError:
                raise InvalidRequestError(f"instruments is {instruments!r}, but must be 'all', None or some "
                                          "of: " + ", ".join(INSTRUMENTS)) from None
            dirs = []
            for item in listed:
                name = item.lower() if isinstance(item, str) else item
                _choice(name, "instruments", INSTRUMENTS + ("all",))
                dirs.extend(INSTRUMENTS if name == "all" else [name])
            dirs = list(dict.fromkeys(dirs))
        for value, name in ((auxil, "auxil"), (tdrss, "tdrss"), (log_dir, "log")):
            if not isinstance(value, (bool, np.bool_)):
                raise InvalidRequestError(f"{name} is {value!r}, but must be True or False")
            if value:
                dirs.append(name)
        if not dirs:
            raise InvalidRequestError("instruments is empty and auxil, tdrss and log are False: nothing "
                                      "to list; give instruments ('all' or some of: "
                                      + ", ".join(INSTRUMENTS) + ") or auxil=True")
        return dirs

    @staticmethod
    def _patterns(match):
        if match is None:
            return None
        patterns = [match] if isinstance(match, str) else match
        try:
            patterns = list(patterns)
        except TypeError:
            patterns = None
        if not patterns or any(not isinstance(p, str) or not p for p in patterns):
            raise InvalidRequestError(f"match is {match!r}, but must be a glob pattern such as '*xpc*' "
                                      "or a list of them (matched against file names)")
        return patterns

    def _list_one(self, obsid, mirror, dirs):
        data = self._call("listObsFiles", {"obsid": obsid, "source": mirror, "dirs": list(dirs)},
                          required=("url", "fileList"))
        tree, url = data["fileList"], data["url"]
        if not isinstance(url, str):
            raise RemoteServiceError(f"listObsFiles answered url={str(url)[:80]} for {obsid}",
                                     endpoint="main.php:listObsFiles")
        check_url(url, f"the {mirror} archive URL of {obsid}")
        if not isinstance(tree, dict) or "files" not in tree:
            # The service's "no such observation" (the official client's "Cannot find obs").
            raise ProductUnavailableError(f"obsID {obsid} is not in the {mirror} archive")
        files = tree["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise RemoteServiceError(f"listObsFiles answered files={str(files)[:80]} for {obsid}: not a list "
                                     "of paths", endpoint="main.php:listObsFiles")
        return url.rstrip("/"), files

    def list_files(self, obsids, *, mirror="uk_reproc", instruments="all", auxil=True, tdrss=False,
                   log=False, match=None, errors="raise"):
        """The files of observations in a Swift archive, one row per file.

        Parameters
        ----------
        obsids : int, str, list or `~astropy.table.Table`
            One obsID (``282445000`` or ``"00282445000"``), several, or a Table with an ``obsid``
            column (from `get_obsids` or a catalogue query of ``XRTCatalogues``).
        mirror : {"uk_reproc", "uk", "us", "italy"}
            The archive: the UK copy reprocessed with recent software (default), or the UK, US or
            Italian archive.
        instruments : "all", str, list or None
            Instrument folders from ``bat``, ``xrt``, ``uvot``; None for none.
        auxil, tdrss, log : bool
            Also the ``auxil`` (attitude, orbit; default True), ``tdrss`` and ``log`` folders.
        match : str or list of str, optional
            Glob patterns (``"*xpc*po_cl.evt.gz"``): keep only files whose name matches one.
        errors : {"raise", "collect"}
            For an obsID the archive does not have, or a path refused as unsafe: raise (default),
            or go on and keep the messages in ``meta["errors"]`` (``{obsid or obsid/path: message}``).

        Returns
        -------
        `~astropy.table.Table`
            Columns ``obsid``, ``path`` (relative to the observation's folder), ``directory``,
            ``url`` and ``mirror``; meta ``mirror``, ``dirs`` (as sent), ``urls`` (each
            observation's base URL) and ``errors``.

        Raises
        ------
        InvalidRequestError
            A bad option or ID, before anything is sent; the message names the allowed values.
        ProductUnavailableError
            An obsID not in the archive (``errors="raise"``).
        ReaderError
            The service listed an unsafe path (``errors="raise"``).
        """
        _choice(errors, "errors", _ERRORS)
        mirror = _choice(mirror.lower() if isinstance(mirror, str) else mirror, "mirror", MIRRORS)
        dirs = self._dirs(instruments, auxil, tdrss, log)
        patterns = self._patterns(match)
        ids = _ids(obsids, "obsids", 11, ("obsid", "ObsID", "obs_id"))
        rows, urls, problems = [], {}, {}
        for obsid in ids:
            try:
                base, files = self._list_one(obsid, mirror, dirs)
            except ProductUnavailableError as exc:
                if errors == "raise":
                    raise
                problems[obsid] = str(exc)
                continue
            urls[obsid] = base
            for path in files:
                try:
                    parts = _safe_parts(path)
                except ReaderError as exc:
                    if errors == "raise":
                        raise ReaderError(f"obsID {obsid}: {exc}") from None
                    problems[f"{obsid}/{path}"] = str(exc)
                    logger.warning("obsID %s: %s", obsid, exc)
                    continue
                if patterns and not any(fnmatch.fnmatchcase(parts[-1], p) for p in patterns):
                    continue
                rows.append((obsid, path, "/".join(parts[:-1]), f"{base}/{path}", mirror))
        table = Table(rows=rows or None, names=("obsid", "path", "directory", "url", "mirror"),
                      dtype=(str,) * 5)
        for name, text in (("obsid", "Swift observation ID"), ("path", "Path in the observation's folder"),
                           ("directory", "Folder of the file in the observation's folder"),
                           ("url", "Where the file is fetched from"), ("mirror", "The archive")):
            table[name].description = text
        table.meta.update(mirror=mirror, dirs=dirs, urls=urls, errors=problems)
        return table

    # ------------------------------------------------------------------ downloads
    def download(self, files, dest_dir=".", *, mirror="uk_reproc", instruments="all", auxil=True,
                 tdrss=False, log=False, match=None, overwrite=False, max_workers=None):
        """Download observations' files into ``dest_dir/<obsid>/<path>``: verified, atomic, resumable.

        A file is written under a temporary name and takes its final name only once its length
        matches Content-Length and, where its type allows, it is verified (gzip inflated to its
        CRC32 trailer; FITS starting with ``SIMPLE`` and made of whole 2880-byte records). Files
        already there are skipped, so a run interrupted for any reason is completed by running it
        again. A transfer cut off part-way, within the run or by a run that was killed (Ctrl-C, a
        crash, a network lost for longer than the retries), resumes with an HTTP Range request
        carrying the server's validator in ``If-Range``, from the part file ``.<name>.part`` beside
        the file and its sidecar ``.<name>.part.json`` (URL, validator, length); a file changed on
        the server, or a part file that fails its check, starts again from zero (see
        `~xrtprods_astro.transport.Transport.download`). Each file's failure is collected in the
        result; the other files go on.

        Parameters
        ----------
        files : `~astropy.table.Table`, `~astropy.table.Row`, int, str or list
            A table from `list_files` (its rows, or some of them, or one Row), or obsIDs (as for `list_files`,
            which is then called with the options below; a Table with an ``obsid`` column and no
            ``url`` column counts as obsIDs).
        dest_dir : path-like
            Folder to download into (made if missing); each observation gets its own folder.
        mirror, instruments, auxil, tdrss, log, match
            As for `list_files`, when ``files`` are obsIDs.
        overwrite : bool
            Download again files that are already there (each replaced only once the new copy
            verified).
        max_workers : int, optional
            Files fetched at once; default ``conf.max_downloads``.

        Returns
        -------
        `~astropy.table.Table`
            One row per file: ``obsid``, ``path``, ``local_path``, ``status`` (``downloaded``,
            ``skipped``: already there, or ``failed``), ``size`` (bytes) and ``error``; an
            observation that could not be listed has a row with an empty ``path``. meta ``errors``
            holds ``{obsid/path: message}`` for every failure.

        Raises
        ------
        InvalidRequestError
            A bad option, ID or destination, before anything is sent.
        """
        from . import conf
        workers = conf.max_downloads if max_workers is None else max_workers
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise InvalidRequestError(f"max_workers is {max_workers!r}, but must be a positive integer "
                                      f"(conf.max_downloads is {conf.max_downloads!r})")
        if not isinstance(overwrite, (bool, np.bool_)):
            raise InvalidRequestError(f"overwrite is {overwrite!r}, but must be True or False")
        check_writable_dir(dest_dir, "dest_dir")
        dest = Path(dest_dir).expanduser()
        if isinstance(files, Row) and "url" in files.colnames:
            files = files.table[files.index:files.index + 1]   # one file of a list_files table
        if isinstance(files, Table) and "url" in files.colnames:
            for name in ("obsid", "path"):
                _column(files, (name,), "files")
            listing, failed = files, {}
        else:
            listing = self.list_files(files, mirror=mirror, instruments=instruments, auxil=auxil, tdrss=tdrss,
                                      log=log, match=match, errors="collect")
            failed = dict(listing.meta.get("errors", {}))
        jobs = [(str(r["obsid"]), str(r["path"]), str(r["url"])) for r in listing]
        dest.mkdir(parents=True, exist_ok=True)
        progress = _Progress(len(jobs), dest)
        pool = ThreadPoolExecutor(max_workers=min(int(workers), max(len(jobs), 1)),
                                  thread_name_prefix="xrtprods-obsdata")
        try:
            results = list(pool.map(lambda job: self._one(dest, *job, overwrite, progress), jobs))
        except BaseException:
            # Ctrl-C: the files not started are dropped at once rather than fetched first; those
            # being fetched end within their time limits, each complete and verified or not there.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        rows = [(key.split("/", 1)[0], key.split("/", 1)[1] if "/" in key else "", "", "failed", 0, msg)
                for key, msg in failed.items()]
        rows.extend(results)
        table = Table(rows=rows or None, names=("obsid", "path", "local_path", "status", "size", "error"),
                      dtype=(str, str, str, str, np.int64, str))
        table["size"].unit = "byte"
        table.meta["errors"] = {f"{r[0]}/{r[1]}" if r[1] else r[0]: r[5] for r in rows if r[3] == "failed"}
        table.meta["dest_dir"] = str(dest)
        progress.summary(table)
        return table

    def _one(self, dest, obsid, path, url, overwrite, progress):
        """Fetch one file; a result row, whatever happened."""
        local = ""
        try:
            problems = []
            obsid = _digits(obsid, "obsid", 11, problems) or obsid
            if problems:
                raise InvalidRequestError(problems)
            parts = _safe_parts(path)
            folder = _make_folders(dest, [obsid, *parts[:-1]])
            final = folder / parts[-1]
            local = str(final)
            if final.is_symlink():
                raise ReaderError(f"{final} is a link; refusing to write through it")
            if final.exists() and not overwrite:
                status = "skipped"
            else:
                check_url(url, f"the URL of {obsid}/{path}")
                _remove_dead_staging(folder)
                # The part file is beside the final name (.<name>.part, with a sidecar saying what it
                # is part of), so a run killed part-way is resumed by the next one; the file takes its
                # final name only once complete and verified, in full, from disk.
                self._transport.download(url, final, overwrite=overwrite,
                                         verify=lambda part: _verify(part, final.name))
                logger.debug("Downloaded %s", final)
                status = "downloaded"
            row = (obsid, path, local, status, final.stat().st_size, "")
        except (XRTProductsError, OSError) as exc:
            logger.warning("%s/%s: %s", obsid, path, exc)
            row = (obsid, path, local, "failed", 0, f"{type(exc).__name__}: {exc}")
        progress.step()
        return row


class _HideStaging(logging.Filter):
    """Drops the transport's "Downloaded <path>" line of each file `ObsDataClass.download` fetches
    (its threads are named ``xrtprods-obsdata``): it logs each file in place (DEBUG), its progress
    on long runs and a summary (INFO), rather than a line per file at INFO."""

    def filter(self, record):
        return not (record.msg == "Downloaded %s" and record.threadName.startswith("xrtprods-obsdata")
                    or _STAGING in record.getMessage())


_transport_log = logging.getLogger("xrtprods_astro.transport")
if not any(type(f).__name__ == "_HideStaging" for f in _transport_log.filters):   # once, even if reloaded
    _transport_log.addFilter(_HideStaging())


def _remove_dead_staging(folder):
    """Remove the staging folders left in ``folder`` by processes of this host that no longer run
    (killed mid-download, by an earlier version): what they hold was never verified, and nothing
    recorded what it is part of, so it is never used."""
    if os.name != "posix":
        return   # os.kill(pid, 0) would not ask, it would signal
    try:
        names = [p.name for p in folder.iterdir() if p.name.startswith(f"{_STAGING}{_HOST}-")]
    except OSError:
        return
    for name in names:
        pid = name[len(f"{_STAGING}{_HOST}-"):].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue   # alive (or a reused pid: then left, which is safe)
        except ProcessLookupError:
            shutil.rmtree(folder / name, ignore_errors=True)
        except OSError:
            continue


def _make_folders(root, parts):
    """``root/parts...``, made one folder at a time, refusing any link on the way."""
    folder = root
    for part in parts:
        folder = folder / part
        if folder.is_symlink():
            raise ReaderError(f"{folder} is a link; refusing to write through it")
        try:
            folder.mkdir()
        except FileExistsError:
            if not folder.is_dir():
                raise ReaderError(f"{folder} exists and is not a folder") from None
    return folder


class _Progress:
    """Log lines as files complete: one per tenth of a long run, at INFO."""

    def __init__(self, total, dest):
        self.total, self.dest, self.done = total, dest, 0
        self._lock = threading.Lock()
        self._step = max(1, total // 10) if total >= 20 else 0

    def step(self):
        with self._lock:
            self.done += 1
            if self._step and self.done % self._step == 0 and self.done < self.total:
                logger.info("Observation data: %d of %d files done", self.done, self.total)

    def summary(self, table):
        counts = {s: int(np.sum(table["status"] == s)) for s in ("downloaded", "skipped", "failed")}
        level = logging.WARNING if counts["failed"] else logging.INFO
        logger.log(level, "Observation data in %s: %d downloaded, %d already there, %d failed",
                   self.dest, counts["downloaded"], counts["skipped"], counts["failed"])


XRTObsData = ObsDataClass()
