# Licensed under a 3-clause BSD style license - see LICENSE
"""
Polite batch runs: XRT products for many targets, resumable.

`BatchRun` (and its one-call form `run_batch`) takes a catalogue `~astropy.table.Table`
or a list of targets and builds the same products for each of them, politely:

* at most ``max_active`` jobs are queued or running for the user at once, where
  the number active is the service's own count (``getNumJobs``), so jobs started
  elsewhere count against the limit;
* each active job is polled with one status call per poll interval;
* completed products are retrieved (as astropy objects written to ECSV files and
  as product archives) by a small thread pool into ``dest_dir/<target>/``;
* every step is recorded, *before* a submission is sent (the intent, fsync'd)
  and after it (the JobID), in a journal of one JSON line per change beside
  the JSON state file, into which it is folded (atomically) at the start and
  end of a run and as it grows: the cost of a change does not grow with the
  batch. An interrupted run (even killed) resumes without submitting anything
  twice: recorded jobs are re-attached, and an intent without a JobID is
  reconciled with the service's job list before anything is sent again;
* the job list is read once per run, to re-use the earlier jobs of the same
  requests (see ``XRTProducts.submit``), not once per submission;
* a failing target never stops the batch; the result is a summary Table, one
  row per target.

State and product files are readable by the user only.
"""
import concurrent.futures as _futures
import contextlib
import heapq
import json
import logging
import math
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Row, Table
from astropy.time import Time
from astropy.utils.console import ProgressBar

from . import params as P
from .builder import build_request, normalise_products
from .exceptions import (InvalidRequestError, JobLimitError, RemoteServiceError, ServiceUnavailableError,
                         SubmissionUnknownError, XRTProductsError)
from .fileio import atomic_write, chmod_private, fsync_dir, open_append, private_dir, with_microsecond_times
from .files import write_private_text
from .job import XRTJob
from .locking import LockTimeoutError, file_lock
from .request import ProductRequest, coord_name
from .targets import Target, find_columns, row_target
from .vocabulary import ARCHIVE_FORMATS, PRODUCTS, product_code, product_key

__all__ = ["BatchRun", "run_batch", "RETRIEVABLE"]

log = logging.getLogger("xrtprods_astro.batch")


#: What can be retrieved on completion: each product's data as astropy objects (written as ECSV),
#: and ``"archive"``, the service's product archive of every completed product.
RETRIEVABLE = ("lightcurve", "spectrum", "standard_position", "enhanced_position",
               "astrometric_position", "source_detection", "archive")

_STATE_FORMAT = "xrtprods_astro.batch"
_STATE_VERSION = 1
_CLOCK_SKEW = 600.0            # seconds of clock difference tolerated when reconciling an intent
_MAX_SUBMIT_ATTEMPTS = 4       # transient submission failures before a target is given up
_MAX_RETRIEVE_ATTEMPTS = 3     # retrieval failures of a target before its products are reported failed
_FINAL = ("retrieved", "failed")
_COMPACT_MIN = 1000        # journal lines at least between two rewrites of the state file


def _now_iso():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _one_line(exc):
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _safe_key(name):
    key = re.sub(r"[^A-Za-z0-9._+-]+", "_", str(name)).strip("._")
    return key or "target"


# The private folders and folder fsyncs of every writer of the package (see xrtprods_astro.fileio).
_private_dir = private_dir
_fsync_dir = fsync_dir


def _local_error(exc):
    """True if ``exc`` is a failure of this computer's disk (full, a size limit, no permission...).

    Such a failure says nothing about the job: a later run, once there is room, retrieves the
    products again. Network errors are OSErrors too (ConnectionError, TimeoutError, requests'
    exceptions), and the package's own errors are the service's: neither is local.
    """
    import requests
    return (isinstance(exc, OSError) and exc.errno is not None
            and not isinstance(exc, (XRTProductsError, ConnectionError, TimeoutError,
                                     requests.RequestException)))


def _json_value(value):
    """Make a wire value JSON-serialisable (numpy scalars from Table rows)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


#: Every state a target record can be in, and the fields every record has.
_STATES = ("pending", "intent", "submitted", "complete", "retrieved", "failed")
_RECORD_FIELDS = {"index": int, "name": str, "wire": (dict, type(None)), "state": str,
                  "job_id": (str, int, type(None)), "url": (str, type(None)),
                  "intent_at": (float, int, type(None)), "submit_attempts": int,
                  "retrieve_attempts": int, "statuses": dict, "outcomes": dict, "paths": dict,
                  "reasons": list}


def _check_record(path, key, rec):
    """Refuse a state record that the run could not use, naming the target and the field."""
    where = f"state_file: {path}: target {key!r}"
    if not isinstance(rec, dict):
        raise InvalidRequestError(f"{where} is not a record (got {type(rec).__name__}); move the file "
                                  "away to start a new batch")
    for field, types in _RECORD_FIELDS.items():
        if field not in rec:
            raise InvalidRequestError(f"{where}: the field {field!r} is missing; move the file away to "
                                      "start a new batch")
        if isinstance(rec[field], bool) or not isinstance(rec[field], types):
            raise InvalidRequestError(f"{where}: the field {field!r} is {rec[field]!r}, of the wrong type")
    if rec["state"] not in _STATES:
        raise InvalidRequestError(f"{where}: the field 'state' is {rec['state']!r}; allowed: "
                                  f"{', '.join(_STATES)}")
    has_job = rec["job_id"] not in (None, "") and bool(rec["url"])
    if rec["state"] in ("submitted", "complete", "retrieved") and not has_job:
        raise InvalidRequestError(f"{where}: the state is {rec['state']!r} but the field 'job_id' or "
                                  "'url' is empty")


class _State:
    """The batch's state: a JSON file plus an append-only journal of the changes since.

    Every `update` appends one JSON line to ``<state file>.journal`` (the cost
    of an update does not grow with the batch); the line is in the operating
    system's hands at once, so it survives the process being killed, and on
    disk after the next `sync` (fsync), which the batch calls once per round
    and, for intents, before the submission is sent. The journal is folded
    into the state file, which is replaced atomically, by `save` at the start
    and end of a run and once it holds as many lines as there are targets (so
    that work stays constant per update, amortised). `load` reads the state
    file and replays the journal over it: a last line torn by a crash
    mid-write is dropped, which loses nothing (a line is only relied upon
    once synced whole).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock = threading.RLock()
        self.data = {"format": _STATE_FORMAT, "version": _STATE_VERSION, "created": _now_iso(),
                     "targets": {}}
        self._journal = None        # the open journal file, between the first update and save/close
        self._lines = 0             # lines in the journal since the last save
        self._dirty = False         # lines written since the last fsync
        self._by_state = {}         # state -> {key: None}, so a round never scans every target
        self._pending = []          # heap of (index, key) of targets that were set pending

    def _invalid(self, why):
        return InvalidRequestError(f"state_file: {self.path} {why}; move it (and {self.journal_path.name}) "
                                   "away to start a new batch")

    def load(self):
        if not self.path.exists():
            if self.journal_path.exists():
                # A journal whose state file was moved away belongs to another batch.
                log.warning("Ignoring %s: its state file %s does not exist.", self.journal_path, self.path)
                self.journal_path.unlink()
            return False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise self._invalid(f"cannot be read as a batch state file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != _STATE_FORMAT \
                or data.get("version") != _STATE_VERSION or not isinstance(data.get("targets"), dict):
            raise self._invalid(f"is not a batch state file of version {_STATE_VERSION}")
        self._replay(data)
        for key, rec in data["targets"].items():
            _check_record(self.path, key, rec)
        self.data = data
        self.reindex()
        return True

    def _replay(self, data):
        """Apply the journal's updates to ``data`` (each sets fields: replaying one twice is harmless)."""
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._invalid(f"has a journal that cannot be read ({exc})") from None
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        elif lines:
            # No newline at the end: the process died while writing this line; it was never relied on.
            log.info("Dropping the torn last line of %s.", self.journal_path)
            lines.pop()
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if number == 1:
                if not isinstance(entry, dict) or entry.get("journal") != data.get("created"):
                    log.warning("Ignoring %s: it belongs to another batch than %s.", self.journal_path,
                                self.path)
                    return
                continue
            if not (isinstance(entry, list) and len(entry) == 2 and entry[0] in data["targets"]
                    and isinstance(entry[1], dict)):
                raise self._invalid(f"has a journal whose line {number} is not an update of a target")
            data["targets"][entry[0]].update(entry[1])

    def reindex(self):
        """Rebuild the index by state (after the records were changed in place)."""
        with self.lock:
            self._by_state = {state: {} for state in _STATES}
            for key, rec in self.targets.items():
                self._by_state.setdefault(rec["state"], {})[key] = None
            self._pending = [(self.targets[key]["index"], key) for key in self._by_state["pending"]]
            heapq.heapify(self._pending)

    @property
    def targets(self):
        return self.data["targets"]

    def save(self):
        """Write the whole state to the state file atomically, then start a new journal."""
        with self.lock:
            self.close()
            text = json.dumps(self.data, indent=1, sort_keys=True)
            write_private_text(self.path, text)
            # The new state file must be on disk before the journal it contains goes.
            _fsync_dir(self.path.parent)
            try:
                self.journal_path.unlink()
            except FileNotFoundError:
                pass
            self._lines = 0
            self._dirty = False

    def close(self):
        with self.lock:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    def update(self, key, **changes):
        """Change a target's record and append the change to the journal (on disk at the next `sync`)."""
        with self.lock:
            rec = self.targets[key]
            old_state = rec["state"]
            rec.update(changes)
            if rec["state"] != old_state:
                del self._by_state[old_state][key]
                self._by_state[rec["state"]][key] = None
                if rec["state"] == "pending":
                    heapq.heappush(self._pending, (rec["index"], key))
            if self._journal is None:
                self._open_journal()
            self._journal.write(json.dumps([key, changes], separators=(",", ":")).encode("utf-8") + b"\n")
            self._journal.flush()  # one write per line: a killed process leaves whole lines (or a torn last)
            self._dirty = True
            self._lines += 1
            if self._lines >= max(_COMPACT_MIN, len(self.targets)):
                self.save()  # amortised over as many updates as there are targets

    def sync(self):
        """fsync the journal lines written since the last call: they survive a power cut from now on."""
        with self.lock:
            if self._dirty and self._journal is not None:
                os.fsync(self._journal.fileno())
            self._dirty = False

    def _open_journal(self):
        _private_dir(self.path.parent)
        # A link planted at the journal's name is refused (ELOOP), never appended through.
        self._journal = open_append(self.journal_path)
        if self._journal.tell() == 0:
            # Names the state file's batch: a journal left beside a replaced state file is not replayed.
            self._journal.write(json.dumps({"journal": self.data["created"]}).encode("utf-8") + b"\n")

    def keys(self, *states):
        """The keys of the targets in these states (a snapshot, in no particular order)."""
        with self.lock:
            return [key for state in states for key in self._by_state.get(state, ())]

    def count(self, state):
        return len(self._by_state.get(state, ()))

    def counts(self):
        with self.lock:
            return {state: len(keys) for state, keys in self._by_state.items() if keys}

    def first_pending(self, n):
        """Up to ``n`` pending keys, lowest index first."""
        with self.lock:
            out = []
            while self._pending and len(out) < n:
                index, key = heapq.heappop(self._pending)
                if self.targets[key]["state"] == "pending" and key not in out:
                    out.append(key)
            for key in out:
                heapq.heappush(self._pending, (self.targets[key]["index"], key))
            return out


def _normalise_products(products):
    if products is None:
        raise InvalidRequestError("products: give the products to build, e.g. "
                                  "products={'lightcurve': {'binning': 'counts'}, 'standard_position': True}")
    out = normalise_products(products)
    if not out:
        raise InvalidRequestError(f"products: no product given; allowed: {', '.join(PRODUCTS)}")
    return out


def _cell(value):
    """A table cell as a plain value, or None when masked or empty."""
    if value is np.ma.masked or (np.ma.isMaskedArray(value) and np.all(np.ma.getmaskarray(value))):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _observations_cell(value):
    """A table cell of obsIDs as a list (a comma-separated string, a list or one obsID), or None if empty."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUSi" and value.ndim == 1:
        items = [v for v in (_cell(v) for v in value) if v is not None]
        return items or None
    value = _cell(value)
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()] or None
    if isinstance(value, (list, tuple)):
        return list(value) or None
    return [value]


def _param_target(column, mapping, products):
    """(product key or None, parameter spelling) that a per-row column sets."""
    spelling = mapping if isinstance(mapping, str) else column
    if "." in spelling:
        prod, _, name = spelling.partition(".")
        return P.product(prod).key, name
    for key in products:
        try:
            p = P.lookup(spelling, key)
        except InvalidRequestError:
            continue
        if not p.is_global or p.shared_name:
            return key, spelling
    P.lookup(spelling)  # raises with the allowed names when it is not a parameter at all
    return None, spelling


class _Target:
    """One target of a batch: its key, name and request (or why none could be built)."""

    def __init__(self, key, name, wire=None, error=None):
        self.key, self.name, self.wire = key, name, wire
        # The exception (kept for get_query_payload) and its one-line text (kept in the state file).
        self.exc = error if isinstance(error, Exception) else None
        self.error = _one_line(error) if error is not None else None


class BatchRun:
    """Build the same XRT products for many targets, politely and resumably.

    Parameters
    ----------
    targets : `~astropy.table.Table`, `~astropy.table.Row`, `~astropy.coordinates.SkyCoord` or list
        A table (a name column and/or coordinate columns, found by
        `xrtprods_astro.targets.find_columns`: a SkyCoord column, or RA/Dec
        columns such as ``ra/dec``, ``RAJ2000/DEJ2000`` or ``_RA/_DE``, any case,
        in degrees, sexagesimal strings or Quantities; other
        columns named after parameters set that row's parameters, overriding
        the shared settings), or a list whose items are names (resolved by the
        service, ``get_coords``), scalar SkyCoords, ``(name, SkyCoord)`` pairs,
        dicts of `~xrtprods_astro.request.ProductRequest` arguments, or ready
        ProductRequests.
    products : dict or list of str
        The products and their shared parameters, e.g.
        ``{"lightcurve": {"binning": "counts"}, "standard_position": True}``.
    state_file : path-like
        JSON file recording the batch; an existing one is resumed.
    dest_dir : path-like
        Products go to ``dest_dir/<target>/``.
    client : `~xrtprods_astro.core.XRTProductsClass`, optional
        Default `~xrtprods_astro.core.XRTProducts`.
    max_active : int, optional
        Most jobs queued or running for the user at once, counting jobs
        started elsewhere; default ``conf.max_active_jobs``.
    poll_interval : float or `~astropy.units.Quantity`, optional
        Seconds between status calls of one job; default the client's
        ``poll_interval`` (``conf.poll_interval``).
    retrieve : iterable of str, optional
        What to fetch when a job completes (see `RETRIEVABLE`): product keys
        whose data are read into astropy objects and written as ECSV files, and
        ``"archive"`` for the product archives. Default: every requested
        product's data and the archives.
    download_format : {"tar.gz", "tar", "zip"}
    name_column : str, optional
        The table column holding target names (default: the first of
        ``name``, ``main_id``, ``target``, ``object``... present).
    params_columns : list of str or dict, optional
        Table columns that set per-row parameters (a dict maps column names to
        parameter names; ``"lightcurve.pc_counts"`` names a product's
        parameter explicitly). Default: every column whose name is a parameter.
    observations_column : str, optional
        The table column holding each target's observations (obsIDs: a
        comma-separated string, a list or one obsID); default the column
        ``observations`` (any case) if there is one. A target's products are
        then built from those observations only, as ``submit(...,
        observations=...)`` builds them; an empty cell leaves its target
        unrestricted. A dict target takes them under the key ``observations``.
    max_workers : int
        Threads retrieving products in parallel.
    rebin : dict, optional
        Also rebin each completed light curve (`~xrtprods_astro.job.XRTJob.rebin`):
        ``binning`` and light-curve parameters, e.g. ``{"binning": "time",
        "pc_bin_time": 1000}``. The rebinned datasets are written beside the
        others as ``lightcurve_rebinned_<dataset>.ecsv``.
    **global_params
        Global parameters shared by every target (``pos_err``,
        ``get_t0``...). Requests are built by `xrtprods_astro.builder.build_request`,
        as ``XRTProducts.submit`` builds its own: unless set here or in a
        column, its defaults apply (globals, the GRB light-curve binning,
        source detection on all data), and a target given by name alone is
        resolved by the service (``get_coords``), which spares hundreds of
        name look-ups on this computer.

    Raises
    ------
    InvalidRequestError
        If an argument is not valid (naming it and the allowed values). A
        target whose own request is not valid does not raise: it is reported
        failed in the summary.
    """

    def __init__(self, targets, *, products, state_file, dest_dir, client=None, max_active=None,
                 poll_interval=None, retrieve=None, download_format="tar.gz", name_column=None,
                 params_columns=None, observations_column=None, max_workers=4, rebin=None,
                 **global_params):
        from . import conf
        if client is None:
            from .core import XRTProducts as client
        self.client = client
        self.products = _normalise_products(products)
        self.state_file = Path(state_file)
        self.dest_dir = Path(dest_dir)
        if max_active is None:
            max_active = conf.max_active_jobs
        if isinstance(max_active, bool) or not isinstance(max_active, (int, np.integer)) or max_active < 1:
            raise InvalidRequestError(f"max_active: {max_active!r} is not valid; give a positive integer")
        self.max_active = int(max_active)
        if poll_interval is None:
            poll_interval = client.poll_interval
        if isinstance(poll_interval, u.Quantity):
            poll_interval = poll_interval.to_value(u.s)
        try:
            self.poll_interval = float(poll_interval)
        except (TypeError, ValueError):
            raise InvalidRequestError(f"poll_interval: {poll_interval!r} is not a number of "
                                      "seconds") from None
        if not self.poll_interval >= 0:
            raise InvalidRequestError(f"poll_interval: must be >= 0 seconds, got {poll_interval!r}")
        if download_format not in ARCHIVE_FORMATS:
            raise InvalidRequestError(f"download_format: {download_format!r} is not allowed; allowed: "
                                      f"{', '.join(ARCHIVE_FORMATS)}")
        self.download_format = download_format
        if retrieve is None:
            retrieve = [k for k in self.products if k in RETRIEVABLE] + ["archive"]
        elif isinstance(retrieve, str):
            retrieve = [r for r in retrieve.split(",") if r.strip()]
        self.retrieve = []
        for item in retrieve:
            item = str(item).strip()
            if item != "archive":
                try:
                    item = product_key(item, name="retrieve")
                except InvalidRequestError:
                    item = None
            if item not in RETRIEVABLE:
                raise InvalidRequestError(f"retrieve: {item!r} is not retrievable; allowed: "
                                          f"{', '.join(RETRIEVABLE)}")
            if item not in self.retrieve:
                self.retrieve.append(item)
        if isinstance(max_workers, bool) or not isinstance(max_workers, (int, np.integer)) or max_workers < 1:
            raise InvalidRequestError(f"max_workers: {max_workers!r} is not valid; give a positive integer")
        self.max_workers = int(max_workers)
        self.rebin = _check_rebin(rebin, self.products)
        self.global_params = dict(global_params)
        self.observations_column = observations_column
        self.targets = self._parse_targets(targets, name_column, params_columns)
        self._state = _State(self.state_file)
        self._jobs = {}
        self._next_poll = {}
        # When the service's count of active jobs is next worth asking for: once per poll
        # interval, or at once when one of our jobs has finished and freed a slot.
        self._next_count = 0.0
        self._timed_out = False
        self._jobs_by_name = None   # the job list read at the start of a run, by name (see _read_job_list)
        self._same_name = {}

    # ------------------------------------------------------------------ targets
    def _parse_targets(self, targets, name_column, params_columns):
        if isinstance(targets, Row):
            targets = targets.table[[targets.index]]
        items = []
        if isinstance(targets, Table):
            items = self._table_items(targets, name_column, params_columns)
        elif isinstance(targets, SkyCoord):
            items = [{"target": c} for c in (targets if not targets.isscalar else [targets])]
        elif isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
            raise InvalidRequestError("targets: give a Table, a SkyCoord or a list of names, SkyCoords, "
                                      f"(name, SkyCoord) pairs, dicts or ProductRequests, not {targets!r}")
        else:
            for item in targets:
                if isinstance(item, ProductRequest):
                    items.append(item)
                elif isinstance(item, (SkyCoord, str)):
                    items.append({"target": item})
                elif isinstance(item, dict):
                    items.append(dict(item))
                elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], SkyCoord):
                    items.append({"name": str(item[0]), "target": item[1]})
                else:
                    items.append({"_error": f"target {item!r} is not a name, SkyCoord, (name, SkyCoord), "
                                            "dict or ProductRequest"})
        if not items:
            raise InvalidRequestError("targets: no targets given")
        out, used = [], set()
        for index, item in enumerate(items):
            name, wire, error = self._build(item, index)
            key = base = _safe_key(name)
            n = 2
            while key in used:
                key, n = f"{base}_{n}", n + 1
            used.add(key)
            out.append(_Target(key, name, wire, error))
        return out

    def _obs_column(self, cols):
        """The column of per-target observations, or None."""
        column = self.observations_column
        if column is None:
            return next((c for c in cols if c.lower() == "observations"), None)
        if column not in cols:
            raise InvalidRequestError(f"observations_column: no column {column!r} in the targets table; "
                                      f"columns: {', '.join(cols)}")
        return column

    def _table_items(self, table, name_column, params_columns):
        cols = list(table.colnames)
        columns = find_columns(table, name_column)
        if columns.name is None and columns.coord is None and columns.ra is None and len(table):
            row_target(table[0], columns)  # raises the message every door gives for such a row
        obs_column = self._obs_column(cols)
        taken = set(columns) | {obs_column}
        if params_columns is None:
            mapping = {}
            for col in cols:
                if col in taken:
                    continue
                try:
                    _param_target(col, None, self.products)
                except InvalidRequestError:
                    continue
                mapping[col] = col
        elif isinstance(params_columns, dict):
            mapping = dict(params_columns)
        else:
            mapping = {c: c for c in params_columns}
        routes = {}
        for col, spelling in mapping.items():
            if col not in cols:
                raise InvalidRequestError(f"params_columns: no column {col!r} in the targets table; columns: "
                                          f"{', '.join(cols)}")
            routes[col] = _param_target(col, spelling, self.products)
        items = []
        for row in table:
            item = {}
            try:
                # Names alone are resolved by the service: it spares many look-ups on this computer.
                item["target"] = row_target(row, columns, resolver="service")
            except (InvalidRequestError, ValueError, TypeError, u.UnitsError) as exc:
                item["_error"] = exc
                if columns.name is not None and _cell(row[columns.name]) is not None:
                    item["name"] = str(_cell(row[columns.name])).strip()  # names the failed target
            if obs_column is not None:
                observations = _observations_cell(row[obs_column])
                if observations is not None:
                    item["observations"] = observations
            for col, (prod, spelling) in routes.items():
                value = _cell(row[col])
                if value is None:
                    continue
                unit = getattr(table[col], "unit", None)
                if unit is not None and not isinstance(value, (str, u.Quantity)):
                    value = value * unit
                if prod is None:
                    item[spelling] = value
                else:
                    item.setdefault("_products", {}).setdefault(prod, {})[spelling] = value
            items.append(item)
        return items

    def _build(self, item, index):
        """(name, wire dict or None, error or None) of one target, built by the one request builder."""
        if isinstance(item, ProductRequest):
            name = str(item.params().get("name") or f"target{index + 1}")
            try:
                return name, {k: _json_value(v) for k, v in item.to_wire().items()}, None
            except InvalidRequestError as exc:
                return name, None, exc
        item = dict(item)
        error = item.pop("_error", None)
        row_products = item.pop("_products", {})
        target = item.pop("target", None)
        position = item.pop("position", None)
        target = position if target is None else target
        name = item.pop("name", None)
        observations = item.pop("observations", None)
        if isinstance(target, Target):
            label = name or target.name
        elif isinstance(target, SkyCoord) and target.isscalar:
            label = name or coord_name(target)
        elif isinstance(target, str):
            label = name or target
        else:
            label = name or f"target{index + 1}"
        if error is not None:
            return label, None, error
        for key in row_products:
            if key not in self.products:
                return label, None, f"{key}: parameters given for a product that was not requested"
        products = {key: {**shared, **row_products.get(key, {})} for key, shared in self.products.items()}
        params = {**self.global_params, **item}
        given = set()
        for key in params:
            try:
                given.add(P.lookup(key).name)
            except InvalidRequestError:
                pass  # the builder reports it with the others
        if target is None and name is not None and not {"ra", "dec", "get_coords"} & given:
            target, name = name, None  # a bare name: the service resolves it
        try:
            request, _ = build_request(target, name=name, resolver="service", products=products,
                                       params=params, observations=observations)
            wire = request.to_wire()
        except InvalidRequestError as exc:
            return label, None, exc
        return label, {k: _json_value(v) for k, v in wire.items()}, None

    def get_query_payload(self):
        """The payload of every target, as ``submit(..., get_query_payload=True)`` gives it; sends nothing.

        Use it to check a batch before spending the service's time on it.

        Returns
        -------
        dict
            Target key (the folder name) -> the wire payload with its envelope.

        Raises
        ------
        InvalidRequestError
            Naming each target whose request cannot be built, with its problems.
        """
        problems = []
        for target in self.targets:
            if target.exc is not None and isinstance(target.exc, InvalidRequestError):
                problems.extend(f"{target.key}: {p}" for p in target.exc.problems)
            elif target.error is not None:
                problems.append(f"{target.key}: {target.error}")
        if problems:
            raise InvalidRequestError(problems, header="These targets' requests cannot be built "
                                                       "(nothing was sent):")
        return {t.key: self.client.submit(dict(t.wire), get_query_payload=True) for t in self.targets}

    # ------------------------------------------------------------------ state
    def _init_state(self):
        resumed = self._state.load()
        records = self._state.targets
        for index, target in enumerate(self.targets):
            rec = records.get(target.key)
            if rec is None:
                records[target.key] = {
                    "index": index, "name": target.name, "wire": target.wire, "error": target.error,
                    "state": "failed" if target.error else "pending", "job_id": None, "url": None,
                    "intent_at": None, "submit_attempts": 0, "retrieve_attempts": 0, "submitted": None,
                    "completed": None, "statuses": {}, "outcomes": {}, "paths": {}, "reasons": []}
                if target.error:
                    records[target.key]["reasons"] = [target.error]
                    records[target.key]["outcomes"] = {p: f"failed: {target.error}" for p in self.products}
            elif rec.get("job_id") is None and rec.get("state") in ("pending", "failed") \
                    and rec.get("intent_at") is None and rec.get("wire") != target.wire:
                # Nothing was sent for it yet: the new settings apply.
                rec.update(wire=target.wire, error=target.error, name=target.name, index=index,
                           state="failed" if target.error else "pending",
                           reasons=[target.error] if target.error else [],
                           outcomes=({p: f"failed: {target.error}" for p in self.products}
                                     if target.error else {}))
            elif rec.get("wire") != target.wire and rec.get("job_id") is not None:
                log.warning("Target %s was submitted as job %s with other settings than now asked; the "
                            "recorded job is kept.", target.key, rec["job_id"])
            if rec is not None and rec.get("state") == "retrieved" and rec.get("local_failures"):
                # Products that this computer could not write (a full disk...): the job has them, so
                # they are retrieved again; the others keep their outcome and files.
                local = rec["local_failures"]
                log.info("Target %s: retrieving again what could not be written here (%s).", target.key,
                         ", ".join(local))
                rec.update(state="complete", retrieve_attempts=0, local_failures={},
                           outcomes={p: o for p, o in rec["outcomes"].items() if p not in local},
                           reasons=[r for r in rec["reasons"] if r not in local.values()])
        self._state.reindex()
        self._state.save()
        if resumed:
            counts = self._counts()
            log.info("Resuming batch %s: %s", self.state_file,
                     ", ".join(f"{v} {k}" for k, v in counts.items()))
        for key in self._state.keys("submitted"):
            self._attach(key, records[key])
        # Which targets share a name: a submission's job can only be confused with theirs.
        self._same_name = {}
        for key, rec in records.items():
            self._same_name.setdefault((rec.get("wire") or {}).get("name"), []).append(key)

    def _attach(self, key, rec):
        job = XRTJob(self.client, rec["job_id"], rec["url"], job_pars=rec.get("wire") or None)
        self._jobs[key] = job
        self._next_poll[key] = 0.0
        return job

    def _detach(self, key):
        self._jobs.pop(key, None)
        self._next_poll.pop(key, None)

    def _counts(self):
        return self._state.counts()

    def _records(self, *states):
        targets = self._state.targets
        return [(k, targets[k]) for k in self._state.keys(*states)]

    def _read_job_list(self):
        """Read the user's job list once for the run, by name, to find earlier jobs of our targets.

        Each submission then looks for a job to re-use (see ``XRTProducts.submit``) in
        its name's part of this list instead of reading the whole list again: one read
        per run, not one per target. None when re-use is off or the list cannot be read
        (each submission then looks for itself).
        """
        self._jobs_by_name = None
        if not self._state.count("pending") or not self.client._reuse_wanted(None):
            return
        try:
            jobs = self.client.job_list_data()
        except (ServiceUnavailableError, RemoteServiceError) as exc:
            log.info("Could not read the job list (%s); each submission looks for an earlier job itself.",
                     exc)
            return
        self._jobs_by_name = {}
        for job in jobs or []:
            if isinstance(job, dict):
                self._jobs_by_name.setdefault(job.get("Name"), []).append(job)

    def _known_job_ids(self, rec):
        """JobIDs that a submission of ``rec`` cannot have created: those of our targets of the same name.

        Jobs of other names never match it, so they need not be listed (a batch of thousands
        would otherwise pass thousands per submission); older jobs are excluded by their time.
        """
        name = (rec.get("wire") or {}).get("name")
        targets = self._state.targets
        return {str(targets[k]["job_id"]) for k in self._same_name.get(name, ())
                if targets[k].get("job_id") is not None}

    # ------------------------------------------------------------------ submission
    def _reconcile(self, key, rec):
        """Find the job of an intent whose outcome was not recorded; adopt it or return False."""
        since = (rec.get("intent_at") or 0.0) - _CLOCK_SKEW
        job = self.client.find_submitted_job(rec["wire"], since=since,
                                             known_job_ids=self._known_job_ids(rec))
        if job is None:
            return False
        log.warning("Target %s: adopted job %s, found in the job list, for the submission whose "
                    "outcome was not recorded.", key, job.job_id)
        self._state.update(key, state="submitted", job_id=str(job.job_id), url=job.url,
                           submitted=rec.get("submitted") or _now_iso())
        self._attach(key, rec)
        return True

    def _settle_intents(self):
        """Intents left by an interrupted run (or an unknown outcome): adopt their job or free them."""
        for key, rec in self._records("intent"):
            try:
                if not self._reconcile(key, rec):
                    log.info("Target %s: no job matches its recorded intent; it will be submitted.", key)
                    self._state.update(key, state="pending", intent_at=None)
            except (ServiceUnavailableError, RemoteServiceError) as exc:
                log.info("Target %s: the job list could not be checked (%s); trying later.", key, exc)

    def _submit_some(self):
        if not self._state.count("pending") or time.monotonic() < self._next_count:
            return
        self._next_count = time.monotonic() + self.poll_interval
        try:
            active = self.client.count_active_jobs()
        except (ServiceUnavailableError, RemoteServiceError) as exc:
            log.info("Could not count the active jobs (%s); not submitting this round.", exc)
            return
        free = self.max_active - active
        if free <= 0:
            return
        keys = self._state.first_pending(free)
        targets = self._state.targets
        for key in keys:
            self._state.update(key, state="intent", intent_at=time.time(),
                               submit_attempts=targets[key].get("submit_attempts", 0) + 1)
        # The intents are on disk before anything is sent (one fsync for them all): a crash from here
        # on is reconciled with the job list on resume, where an intent never sent finds no job.
        self._state.sync()
        for number, key in enumerate(keys):
            rec = targets[key]
            options = {"known_job_ids": self._known_job_ids(rec)}
            if self._jobs_by_name is not None:
                options["job_list"] = self._jobs_by_name.get(rec["wire"].get("name"), [])
            try:
                job = self.client.submit(dict(rec["wire"]), **options)
            except JobLimitError as exc:
                log.info("Target %s: the service refused a new job (%s); waiting for a free slot.", key, exc)
                for other in keys[number:]:  # not sent: back to pending
                    self._state.update(other, state="pending", intent_at=None,
                                       submit_attempts=targets[other]["submit_attempts"] - 1)
                return
            except SubmissionUnknownError as exc:
                # Leave the intent: it is reconciled with the job list before anything is sent again.
                log.warning("Target %s: %s", key, exc)
                if rec["submit_attempts"] >= _MAX_SUBMIT_ATTEMPTS:
                    self._fail(key, f"submission outcome unknown after {rec['submit_attempts']} "
                                    f"attempts: {exc}")
                continue
            except ServiceUnavailableError as exc:
                # Never reached the service (connect failures): nothing to reconcile.
                log.warning("Target %s: submission failed (%s).", key, exc)
                if rec["submit_attempts"] >= _MAX_SUBMIT_ATTEMPTS:
                    self._fail(key, f"submission failed {rec['submit_attempts']} times: {exc}")
                else:
                    self._state.update(key, state="pending", intent_at=None)
                continue
            except (InvalidRequestError, RemoteServiceError) as exc:
                self._fail(key, f"submission refused: {_one_line(exc)}")
                continue
            self._state.update(key, state="submitted", job_id=str(job.job_id), url=job.url,
                               submitted=_now_iso())
            self._jobs[key] = job
            self._next_poll[key] = time.monotonic() + self.poll_interval
            log.info("Target %s: submitted job %s.", key, job.job_id)

    def _fail(self, key, reason):
        rec = self._state.targets[key]
        outcomes = {p: f"failed: {reason}" for p in self.products if p not in rec.get("outcomes", {})}
        self._state.update(key, state="failed", reasons=rec.get("reasons", []) + [reason],
                           outcomes={**rec.get("outcomes", {}), **outcomes})
        self._detach(key)
        log.warning("Target %s failed: %s", key, reason)

    # ------------------------------------------------------------------ polling
    def _poll_due(self):
        now = time.monotonic()
        for key, rec in self._records("submitted"):
            job = self._jobs.get(key) or self._attach(key, rec)
            if self._next_poll.get(key, 0.0) > now:
                continue
            # From the moment of this call, not the start of the round: calls stay an interval apart.
            self._next_poll[key] = time.monotonic() + self.poll_interval
            try:
                statuses, finished = job.poll()  # one call for every product of the job
            except ServiceUnavailableError as exc:
                log.info("Target %s: status of job %s unavailable (%s); polling again later.",
                         key, job.job_id, exc)
                continue
            except RemoteServiceError as exc:
                self._fail(key, f"status of job {job.job_id}: {exc}")
                continue
            if finished:
                self._next_count = 0.0  # a slot is free: worth counting again now
                self._detach(key)
                self._state.update(key, state="complete", completed=_now_iso(),
                                   statuses={k: [s.code, s.text] for k, s in statuses.items()})
                log.info("Target %s: job %s finished (%s).", key, job.job_id,
                         ", ".join(f"{k} {s.text}" for k, s in statuses.items()))

    def _schedule_retrievals(self, pool, futures):
        for key, rec in self._records("complete"):
            if key in futures.values():
                continue
            future = pool.submit(self._retrieve, key, dict(rec))
            futures[future] = key

    # ------------------------------------------------------------------ retrieval
    def _retrieve(self, key, rec):
        """Fetch one target's completed products; returns (outcomes, paths, reasons, local). Runs in a thread.

        ``local`` maps the products that could not be written on this computer (see
        `_local_error`) to why: a later run retrieves them again. Products retrieved by an
        earlier attempt are not fetched again.
        """
        outcomes, paths, reasons, local = {}, {}, [], {}
        if (self.dest_dir / key).is_symlink():
            # Planted or not, a link would send the products elsewhere: refused, and not a local
            # failure that the next run would retry.
            why = f"{self.dest_dir / key} is a link; products are never written through one"
            return {p: f"failed: {why}" for p in self.products}, paths, [why], local
        try:
            target_dir = _private_dir(self.dest_dir / key)
        except OSError as exc:
            if not _local_error(exc):
                raise
            for product in self.products:
                outcomes[product] = f"failed: local: {exc}"
                local[product] = f"{product}: not written here ({exc}); run again to retry"
            return outcomes, paths, list(local.values()), local
        job_id = rec["job_id"]
        for product in self.products:
            if (rec.get("outcomes") or {}).get(product) == "ok":
                continue    # retrieved by an earlier run, before a local failure of another product
            code, text = (rec.get("statuses") or {}).get(product, [-10, "no status was recorded"])
            if code == -4:
                outcomes[product] = "cancelled"
                continue
            if code != 4:
                outcomes[product] = f"failed: {text} (status {code})"
                reasons.append(f"{product}: {text}")
                continue
            files = []
            try:
                if product in self.retrieve:
                    files.extend(self._write_data(product, job_id, target_dir, url=rec["url"]))
                if product == "lightcurve" and self.rebin is not None:
                    files.extend(self._write_rebinned(key, rec, target_dir))
                if "archive" in self.retrieve:
                    archive = self.client.download_archive(rec["url"], product_code(product),
                                                           format=self.download_format, dest_dir=target_dir,
                                                           overwrite=True)
                    chmod_private(archive)   # never through a link at the archive's name
                    files.append(str(archive))
            except (XRTProductsError, OSError, ValueError) as exc:
                if _local_error(exc):
                    outcomes[product] = f"failed: local: {exc}"
                    local[product] = f"{product}: not written here ({exc}); run again to retry"
                    reasons.append(local[product])
                else:
                    outcomes[product] = f"failed: retrieval: {exc}"
                    reasons.append(f"{product}: retrieval failed: {exc}")
                paths[product] = files
                continue
            outcomes[product] = "ok"
            paths[product] = files
        return outcomes, paths, reasons, local

    def _t0_date(self, url):
        """The text of the job's ``lc/t0.date`` (UKSSDC's UTC of T0), or None."""
        if "lightcurve" not in self.products or not url:
            return None
        from .readers.lightcurve import parse_t0_date
        try:
            return self.client.file_text(f"{url}/lc/t0.date", cache=False, accept=parse_t0_date)
        except (XRTProductsError, OSError, ValueError) as exc:
            log.debug("%s: no usable lc/t0.date (%s); times use the clock table", url, exc)
            return None

    def _stated_utcf(self, url, t0):
        """The UTCF the job's ``t0.date`` states for the spectral fits' T0 (MET), or None."""
        from .readers.lightcurve import parse_t0_date
        from .times import utcf_from_utc
        text = self._t0_date(url)
        met, utc = parse_t0_date(text) if text is not None else (None, None)
        try:
            return utcf_from_utc(met, utc) if utc is not None and abs(float(t0) - met) < 1e-3 else None
        except (TypeError, ValueError):
            return None

    def _write_rebinned(self, key, rec, target_dir):
        """Rebin a target's light curve through the job handle, wait for it and write its datasets."""
        job = XRTJob(self.client, rec["job_id"], rec["url"], job_pars=rec.get("wire") or None)
        rebin = job.rebin(**self.rebin)
        log.info("Batch: target %s: rebin job %s of job %s", key, rebin.job_id, job.job_id)
        # The one waiter, quiet here: the batch draws its own progress.
        rebin.wait(poll_interval=self.poll_interval, progress=False)
        lc = rebin.lightcurve(cache=False)
        return [_write_table(lc[dataset], target_dir / f"lightcurve_rebinned_{_safe_key(dataset)}.ecsv")
                for dataset in lc.datasets]

    def _write_data(self, product, job_id, target_dir, *, url=None):
        from . import readers
        client = self.client
        written = []
        if product == "lightcurve":
            # The job's lc/t0.date states UKSSDC's UTC for T0: the same times as get_job(id).lightcurve().
            t0_date = self._t0_date(url)
            lc = readers.read_lightcurve_json(client.lightcurve_data(job_id, cache=False), job_id=job_id,
                                              t0_date=t0_date)
            for dataset in lc.datasets:
                path = target_dir / f"lightcurve_{_safe_key(dataset)}.ecsv"
                written.append(_write_table(lc[dataset], path))
        elif product == "spectrum":
            data = client.spectral_fit_data(job_id, cache=False)
            fits = readers.read_spectral_fits(data, job_id=job_id,
                                              utcf=self._stated_utcf(url, data.get("T0")))
            written.append(_write_table(fits, target_dir / "spectral_fits.ecsv"))
        elif product.endswith("_position"):
            kind = product[:-len("_position")]
            pos = readers.read_position(client.position_data(job_id, kind, cache=False), kind, job_id=job_id)
            written.append(_write_table(_position_table(pos), target_dir / f"{product}.ecsv"))
        elif product == "source_detection":
            bands = readers.read_source_list(client.source_list_data(job_id, cache=False), job_id=job_id)
            for band, table in bands.items():
                written.append(_write_table(table, target_dir / f"source_list_{_safe_key(band)}.ecsv"))
        return written

    def _harvest(self, futures, block_for):
        if not futures:
            if block_for > 0:
                time.sleep(block_for)
            return
        done, _ = _futures.wait(list(futures), timeout=max(block_for, 0.0),
                                return_when=_futures.FIRST_COMPLETED)
        for future in done:
            key = futures.pop(future)
            rec = self._state.targets[key]
            try:
                outcomes, paths, reasons, local = future.result()
            except Exception as exc:  # noqa: BLE001 - a bug in one retrieval must not stop the batch
                log.exception("Target %s: retrieval crashed", key)
                outcomes = {p: f"failed: retrieval: {exc}" for p in self.products}
                paths, reasons, local = {}, [f"retrieval crashed: {exc}"], {}
            # Products retrieved by an earlier attempt keep their outcome and files.
            outcomes = {**(rec.get("outcomes") or {}), **outcomes}
            paths = {**(rec.get("paths") or {}), **paths}
            attempts = rec.get("retrieve_attempts", 0) + 1
            retry = any(o.startswith(("failed: retrieval", "failed: local")) for o in outcomes.values())
            if retry and attempts < _MAX_RETRIEVE_ATTEMPTS:
                log.info("Target %s: retrieval failed (%s); trying again.", key, "; ".join(reasons))
                self._state.update(key, retrieve_attempts=attempts)
                continue
            # Local failures are kept apart: the next run retrieves those products again (_init_state).
            self._state.update(key, state="retrieved", outcomes=outcomes, paths=paths,
                               reasons=rec.get("reasons", []) + reasons, retrieve_attempts=attempts,
                               local_failures=local)
            if local:
                log.warning("Target %s: %s", key, "; ".join(local.values()))
            log.info("Target %s: products retrieved (%s).", key,
                     ", ".join(f"{k} {v}" for k, v in outcomes.items()))

    # ------------------------------------------------------------------ run
    def run(self, progress=None, timeout=None):
        """Run (or resume) the batch until every target is finished.

        Parameters
        ----------
        progress : bool or callable, optional
            None (default): log lines at INFO level when the counts change
            (silent above INFO). True: also an astropy ProgressBar when the
            logger is enabled for INFO. A callable is called after every round
            with a dict of counts per state (``pending``, ``intent``,
            ``submitted``, ``complete``, ``retrieved``, ``failed``); an
            exception it raises (e.g. KeyboardInterrupt) stops the run, which
            can be resumed later from the state file.
        timeout : float or `~astropy.units.Quantity`, optional
            Stop after this long; targets not finished are reported
            ``timeout`` (their state is kept: run again to resume).

        Returns
        -------
        `~astropy.table.Table`
            The summary (see `summary`).

        Raises
        ------
        InvalidRequestError
            If another run (in this process or another) is using the same
            ``state_file``: a run holds a lock on ``<state_file>.lock`` from
            start to end, which the system drops when its process ends.
        KeyboardInterrupt
            On Ctrl-C, once the state is saved (logged at WARNING: run the
            same batch again to resume).
        """
        limit = None
        if timeout is not None:
            limit = timeout.to_value(u.s) if isinstance(timeout, u.Quantity) else float(timeout)
            if not limit >= 0:
                raise InvalidRequestError(f"timeout: must be >= 0 seconds, got {timeout!r}")
        with self._run_lock():
            try:
                return self._run(progress, limit)
            except KeyboardInterrupt:
                # _run's own clean-up saved the state on the way out (and the journal kept every change
                # before that): say so, rather than leave a bare traceback from concurrent.futures.
                log.warning("Batch interrupted; state saved in %s; run the same batch again to resume.",
                            self.state_file)
                raise
            finally:
                self._state.close()

    @contextlib.contextmanager
    def _run_lock(self):
        """Hold ``<state_file>.lock`` for the whole run: a second run on the same state file is refused.

        Two runs on one state file would each submit every target. The system drops the lock when the
        process ends, so a run that was killed leaves no stale lock; the file itself stays (removing it
        would let a third run lock a new file while the second holds the old one).
        """
        path = self.state_file.with_name(self.state_file.name + ".lock")
        held = contextlib.ExitStack()
        try:
            _private_dir(path.parent)
            held.enter_context(file_lock(path, timeout=0, what=f"state_file: {self.state_file}"))
        except LockTimeoutError as exc:
            raise InvalidRequestError(f"state_file: {self.state_file} is in use by another batch run "
                                      f"({exc.holder or 'another process'}); wait for it to end, or give "
                                      "another state_file") from None
        except OSError as exc:   # a link planted at its name (ELOOP), a folder we cannot write...
            raise InvalidRequestError(f"state_file: {self.state_file} cannot be locked for this run "
                                      f"({exc})") from None
        with held:
            yield

    def _run(self, progress, limit):
        start = time.monotonic()
        self._timed_out = False
        _private_dir(self.dest_dir)
        self._init_state()
        self._read_job_list()
        self._settle_intents()
        hook = progress if callable(progress) else None
        bar = None
        if progress is True and log.isEnabledFor(logging.INFO):
            bar = ProgressBar(len(self._state.targets))
        last_counts = None
        pool = _futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="xrtprods-batch")
        futures = {}
        try:
            self._schedule_retrievals(pool, futures)
            while True:
                self._poll_due()
                self._settle_intents()
                # Freed slots are filled in the same wake-up, before the retrievals start competing
                # with the submissions for this process and the service.
                self._submit_some()
                self._schedule_retrievals(pool, futures)
                self._state.sync()  # the round's changes on disk at once: one fsync, not one per change
                counts = self._counts()
                if counts != last_counts:
                    last_counts = counts
                    log.info("Batch: %s", ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
                    if bar is not None:
                        bar.update(sum(counts.get(s, 0) for s in _FINAL))
                if hook is not None:
                    hook(dict(counts))
                if not futures and sum(counts.get(s, 0) for s in _FINAL) == len(self._state.targets):
                    break
                elapsed = time.monotonic() - start
                if limit is not None and elapsed >= limit:
                    self._timed_out = True
                    log.warning("Batch stopped after %.0f s: %s", elapsed,
                                ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
                    break
                now = time.monotonic()
                waits = [self._next_poll[k] - now for k in self._state.keys("submitted")
                         if k in self._next_poll]
                pause = min(waits) if waits else self.poll_interval
                if counts.get("pending") or counts.get("intent"):
                    pause = min(pause, self.poll_interval)
                if limit is not None:
                    pause = min(pause, limit - elapsed)
                self._harvest(futures, max(pause, 0.0))
        except KeyboardInterrupt:
            if futures:
                log.warning("Batch interrupted: waiting for the %d retrieval(s) under way before saving "
                            "the state.", len(futures))
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if futures:
                # Finished while shutting down: keep what was fetched.
                self._harvest(futures, 0.0)
            if bar is not None:
                bar.__exit__(None, None, None)
            # Fold the journal into the state file: the file alone tells where the batch stands.
            self._state.save()
        return self.summary()

    # ------------------------------------------------------------------ summary
    def summary(self):
        """The batch's summary Table, one row per target, in input order.

        Columns: ``target`` (the key, also the folder name), ``name``,
        ``job_id``, ``status`` (``ok``, ``partial``, ``failed``,
        ``cancelled``, ``timeout`` or ``pending``), one column per requested
        product with its outcome (``ok``, ``failed: <reason>``,
        ``cancelled``, ``timeout``, ``pending``), ``reasons``, ``dest``,
        ``n_files``, ``paths`` (``"; "``-joined) and ``submitted`` /
        ``completed`` (`~astropy.time.Time`, masked when not reached).
        """
        records = sorted(self._state.targets.items(), key=lambda item: item[1]["index"])
        keys = {t.key for t in self.targets}
        records = [(k, r) for k, r in records if k in keys] or records
        rows = {name: [] for name in ("target", "name", "job_id", "status", *self.products, "reasons",
                                      "dest", "n_files", "paths")}
        submitted, completed = [], []
        for key, rec in records:
            outcomes = dict(rec.get("outcomes") or {})
            if rec["state"] not in _FINAL:
                unfinished = "timeout" if self._timed_out else "pending"
                outcomes = {p: outcomes.get(p, unfinished) for p in self.products}
            values = [outcomes.get(p, "pending") for p in self.products]
            if all(v == "ok" for v in values):
                status = "ok"
            elif any(v == "ok" for v in values):
                status = "partial"
            elif all(v == "cancelled" for v in values):
                status = "cancelled"
            elif any(v == "timeout" for v in values):
                status = "timeout"
            elif any(v == "pending" for v in values):
                status = "pending"
            else:
                status = "failed"
            files = [f for p in self.products for f in (rec.get("paths") or {}).get(p, [])]
            rows["target"].append(key)
            rows["name"].append(str(rec.get("name") or ""))
            rows["job_id"].append("" if rec.get("job_id") is None else str(rec["job_id"]))
            rows["status"].append(status)
            for product, value in zip(self.products, values):
                rows[product].append(value)
            rows["reasons"].append("; ".join(rec.get("reasons") or []))
            rows["dest"].append(str(self.dest_dir / key))
            rows["n_files"].append(len(files))
            rows["paths"].append("; ".join(files))
            submitted.append(rec.get("submitted"))
            completed.append(rec.get("completed"))
        table = Table(rows, meta={"state_file": str(self.state_file), "dest_dir": str(self.dest_dir),
                                  "max_active": self.max_active})
        for name in ("target", "name", "job_id", "status", *self.products, "reasons", "dest", "paths"):
            table[name] = table[name].astype(str)
        table["submitted"] = _times(submitted)
        table["completed"] = _times(completed)
        return table


def _check_rebin(rebin, products):
    """The ``rebin`` option of a batch, checked: None or a dict with a valid ``binning``."""
    if rebin is None:
        return None
    from .vocabulary import BINNINGS
    if not isinstance(rebin, dict) or str(rebin.get("binning", "")).lower() not in BINNINGS:
        raise InvalidRequestError(f"rebin: expected a dict with binning one of {', '.join(BINNINGS)} (and "
                                  f"light-curve parameters), got {rebin!r}")
    if "lightcurve" not in products:
        raise InvalidRequestError("rebin: the batch requests no light curve to rebin; add lightcurve to "
                                  "products")
    return dict(rebin)


def _times(values):
    filled = [v or "2000-01-01T00:00:00" for v in values]
    times = Time(filled, format="isot", scale="utc") if filled else Time([], format="isot", scale="utc")
    mask = np.array([v is None for v in values], dtype=bool)
    if mask.any():
        times[mask] = np.ma.masked
    return times


def _write_table(table, path):
    """Write a Table as ECSV atomically, readable by the user only; returns the path as str.

    Through `~xrtprods_astro.fileio.atomic_write`: a private temporary name, never a link
    planted at ``<path>.part`` or at ``path``, and nothing left behind when the disk is full.
    """
    path = Path(path)
    table = with_microsecond_times(Table(table, copy=False))
    with atomic_write(path, "w") as stream:
        try:
            table.write(stream, format="ascii.ecsv")
        except OSError:
            raise   # our disk failed: writing again without the metadata cannot help
        except Exception:  # noqa: BLE001 - metadata YAML cannot hold everything; the data must still be saved
            log.debug("writing %s with its metadata failed; writing without it", path, exc_info=True)
            stream.seek(0)
            stream.truncate()
            bare = table.copy(copy_data=False)
            bare.meta = {k: v for k, v in table.meta.items() if isinstance(v, (str, int, float, bool))}
            bare.write(stream, format="ascii.ecsv")
    return str(path)


def _position_table(pos):
    found = bool(pos.found)
    ra = pos.coord.ra.deg if found else math.nan
    dec = pos.coord.dec.deg if found else math.nan
    err = pos.err90.to_value(u.arcsec) if found and pos.err90 is not None else math.nan
    table = Table({"kind": [pos.kind], "found": [found], "ra": [ra] * u.deg, "dec": [dec] * u.deg,
                   "err90": [err] * u.arcsec, "from_sxps": [bool(pos.from_sxps)],
                   "reason": [str(pos.reason or "")]},
                  meta={"job_id": str(pos.job_id)})
    return table


def run_batch(targets, *, products, state_file, dest_dir, progress=None, timeout=None,
              get_query_payload=False, **options):
    """Run (or resume) a batch in one call; see `BatchRun` for the arguments.

    Parameters
    ----------
    get_query_payload : bool
        Return the payload of every target (see `BatchRun.get_query_payload`)
        and send nothing.

    Returns
    -------
    `~astropy.table.Table`
        The summary table of `BatchRun.summary`, or a dict of payloads with
        ``get_query_payload=True``.
    """
    batch = BatchRun(targets, products=products, state_file=state_file, dest_dir=dest_dir, **options)
    if get_query_payload:
        return batch.get_query_payload()
    return batch.run(progress=progress, timeout=timeout)
