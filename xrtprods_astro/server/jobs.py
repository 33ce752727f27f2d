# Licensed under a 3-clause BSD style license - see LICENSE
"""
Jobs of the local XRT products service: the store, their lifecycle and progress.

A job's products pass through the status codes of protocol §4.1 on a time
scale set by ``job_duration``: requested (1), queued (2), running (3, with
progress), then complete (4) or failed (-3). The astrometric position waits
(5) while the standard position it needs is not done. Products are built once,
in a background thread, as soon as the job is accepted; a product is only
reported complete when both its time has come and the build has finished, so
a slow build simply keeps the product running.
"""
import hashlib
import itertools
import json
import logging
import random
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

__all__ = ["STEP_LABELS", "STATUS_TEXT", "Job", "RebinJob", "JobStore", "JobLimitReached", "job_seed"]

log = logging.getLogger("xrtprods_astro.server")

#: Step labels of each product's progress (protocol §4.2).
STEP_LABELS = {
    "lc": ("Prepare data and centroid (if selected).", "Extract data.", "Binning light curve.",
           "Plotting light curve as image."),
    "spec": ("Prepare data.", "Build spectra."),
    "psf": ("Collect data.", "Sum images and exposure maps.",
            "Perform detection with locally-estimated background", "Perform PSF fit."),
    "enh": ("Identify XRT-UVOT overlaps.", "Determine position.", "Build Images."),
    "xastrom": ("Prepare data.", "Collect data.", "Prepare data for iterative source detection.",
                "Create per-snapshot images and exposure maps.", "Sum per-snapshot images and exposure maps.",
                "Run source detection.", "Perform initial rough detection with locally-estimated background",
                "Construct initial background map.",
                "Perform initial source detection using the background map.",
                "Searching for sources.", "Perform final fit.", "Calculate astrometric correction."),
    "image": ("Collect data.", "Merge event lists.", "Creating images.", "Creating exposure map."),
    "sourceDet": ("Collect data.", "Sum images and exposure maps.", "Run source detection.",
                  "Perform final fit."),
}

#: Status texts per code (texts other than -4, 3, 4 are this service's own wording).
STATUS_TEXT = {
    -4: "Cancelled at your request",
    -3: "The job ran but no product could be created",
    -2: "Internal error: the job could not be added to the queue",
    -1: "Internal error: the job could not be requested",
    1: "Requested, not yet queued",
    2: "Queued",
    3: "Running",
    4: "Complete",
    5: "Waiting for the standard position",
}

# Fractions of the job duration at which products leave states 1 and 2, and at which the standard
# position completes when an astrometric position waits for it.
_QUEUED_AT, _RUNNING_AT, _PSF_DONE_AT = 0.05, 0.15, 0.6

# JobIDs continue from a random base per process, so that two runs of the service (in one process or
# in several) never hand out the same JobID and client caches cannot confuse them.
_ids = itertools.count(random.SystemRandom().randrange(10_000_000, 900_000_000, 1000))
_ids_lock = threading.Lock()


def _next_id():
    with _ids_lock:
        return next(_ids)


def job_seed(server_seed, job_pars):
    """A build seed fixed by the server seed and the job parameters (sorted items, hashed)."""
    text = json.dumps([server_seed, sorted((k, json.dumps(v, sort_keys=True)) for k, v in job_pars.items())])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _jsonable(value):
    """JSON form of the numpy values, paths and sets that builders may leave in a payload."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, set, frozenset, tuple)):
        return str(value) if isinstance(value, Path) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _hms(seconds):
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class JobLimitReached(Exception):
    """The user already has ``limit`` jobs queued or running."""


@dataclass
class Job:
    """One submitted job: its parameters, its timeline and what the build made."""

    job_id: int
    user: str
    pars: dict
    products: list
    url: str
    job_dir: Path
    seed: int
    duration: float
    submitted: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    outcomes: dict = None
    build_error: str = None
    built: threading.Event = field(default_factory=threading.Event)
    cancelled: dict = field(default_factory=dict)

    def fraction(self, now=None):
        """How far along its timeline the job is (>= 1 when its time is up)."""
        if self.duration <= 0:
            return float("inf")
        return ((time.monotonic() if now is None else now) - self.started) / self.duration

    def status(self, code, now=None):
        """``(statusCode, statusText)`` of one product (protocol §4.1)."""
        if code not in self.products:
            return -1, "Unknown status"
        if code in self.cancelled:
            return -4, STATUS_TEXT[-4]
        f = self.fraction(now)
        if f < _QUEUED_AT:
            return 1, STATUS_TEXT[1]
        if f < _RUNNING_AT:
            return 2, STATUS_TEXT[2]
        if code == "xastrom" and "psf" in self.products and self.status("psf", now)[0] in (1, 2, 3):
            return 5, STATUS_TEXT[5]
        end = _PSF_DONE_AT if code == "psf" and "xastrom" in self.products else 1.0
        if f < end or not self.built.is_set():
            return 3, STATUS_TEXT[3]
        if self.build_error is not None:
            return -1, f"{STATUS_TEXT[-1]}: {self.build_error}"
        outcome = (self.outcomes or {}).get(code)
        if outcome is None:
            return -3, STATUS_TEXT[-3]
        if not outcome.ok:
            return -3, f"{STATUS_TEXT[-3]}: {outcome.reason}" if outcome.reason else STATUS_TEXT[-3]
        return 4, STATUS_TEXT[4]

    def is_active(self, now=None):
        """Whether any product is still requested, queued or running."""
        return any(self.status(code, now)[0] in (1, 2, 3, 5) for code in self.products)

    def progress(self, code, wanted, now=None):
        """The progress object of one product (protocol §4.2); ``GotProgress`` is always present."""
        status = self.status(code, now)[0]
        if not wanted or status != 3:
            return {"GotProgress": 0}
        now = time.monotonic() if now is None else now
        labels = STEP_LABELS[code]
        begin = _PSF_DONE_AT if code == "xastrom" and "psf" in self.products else _RUNNING_AT
        end = _PSF_DONE_AT if code == "psf" and "xastrom" in self.products else 1.0
        f = self.fraction(now)
        share = 1.0 if f == float("inf") else min(max((f - begin) / (end - begin), 0.0), 0.999)
        active = min(int(share * len(labels)), len(labels) - 1)
        steps = []
        for i, label in enumerate(labels):
            step = {"StepLabel": label, "StepStatus": 2 if i < active else (1 if i == active else 0)}
            if i == active:
                extra = self._step_extra(code, label)
                if extra:
                    step.update(extra)
            steps.append(step)
        result = {"GotProgress": 1, "ProgressSteps": steps,
                  "TimeRunning": _hms((now - self.started) - _RUNNING_AT * self.duration)}
        if code == "enh":
            result["PreProgress"] = "Trying using the <em>v,b,white</em> filters:"
        return result

    def _step_extra(self, code, label):
        if code == "spec" and label == "Build spectra.":
            name = self.pars.get("specstem", "interval0")
            return {"StepExtra": f"Working on spectrum: {name} (1/1)",
                    "SubStep": [{"StepLabel": "Extract data.", "StepStatus": 2},
                                {"StepLabel": "Fit spectrum.", "StepStatus": 1}]}
        if code == "enh" and label == "Determine position.":
            return {"StepExtra": "Working on overlap 1 / 1"}
        if code == "xastrom" and label == "Searching for sources.":
            return {"StepExtra": "Iteration 1",
                    "SubStep": [{"StepLabel": "PSF fit sources found in previous iteration.",
                                 "StepStatus": 2},
                                {"StepLabel": "Build background map.", "StepStatus": 1},
                                {"StepLabel": "Perform source detection.", "StepStatus": 0}]}
        if label in ("Extract data.", "Collect data."):
            return {"StepExtra": "Working on observation 1 / 1"}
        return None

    def cancel(self, codes, now=None):
        """Cancel products; returns ``(status, statusCodes)`` dicts as in protocol §2.2."""
        texts, codes_out = {}, {}
        for code in codes:
            if code not in self.products:
                texts[code], codes_out[code] = "Not cancelled: this job has no such product", 2
                continue
            current = self.status(code, now)[0]
            if current in (1, 2, 3, 5):
                self.cancelled[code] = time.monotonic()
                texts[code], codes_out[code] = "Job cancelled OK", 0
            elif current == -4:
                texts[code], codes_out[code] = "Job could not be cancelled - it was already cancelled", 1
            else:
                texts[code], codes_out[code] = "Job could not be cancelled - has it already finished?", 1
        return texts, codes_out

    def date_submitted(self):
        """Submission time as ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
        return datetime.fromtimestamp(self.submitted, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class RebinJob:
    """A light-curve rebinning job of the common API (protocol §2.12)."""

    rebin_id: int
    parent: Job
    params: dict
    duration: float
    started: float = field(default_factory=time.monotonic)
    result: dict = None
    error: str = None
    built: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False

    def status(self, now=None):
        """``(status, text)`` with the codes of protocol §4.1."""
        if self.cancelled:
            return -4, STATUS_TEXT[-4]
        f = float("inf") if self.duration <= 0 else (
            ((time.monotonic() if now is None else now) - self.started) / self.duration)
        if f < _QUEUED_AT:
            return 1, STATUS_TEXT[1]
        if f < _RUNNING_AT:
            return 2, STATUS_TEXT[2]
        if f < 1.0 or not self.built.is_set():
            return 3, STATUS_TEXT[3]
        if self.error is not None:
            return -1, f"{STATUS_TEXT[-1]}: {self.error}"
        return 4, STATUS_TEXT[4]


class JobStore:
    """All jobs of one service, with the per-user limit and the background builds.

    Parameters
    ----------
    root : `~pathlib.Path`
        Directory holding ``USERPROD_<id>`` job directories.
    builder : callable
        ``builder(job_pars, job_id, job_url, job_dir, seed) -> {code: outcome}``.
    rebinner : callable
        ``rebinner(job_pars, job_id, job_url, job_dir, seed, rebin_id, params) -> dict or None``.
    job_duration : float
        Seconds from submission to completion (0: products complete as soon as they are built,
        and they are built before the submission is answered).
    job_limit : int or None
        Most jobs a user may have queued or running at once (None: no limit).
    seed : int
        Server seed mixed into every build seed.
    state_dir : `~pathlib.Path`, optional
        Where each job's record is kept as ``<JobID>.json`` (see `load`), so that a
        restarted service still knows its jobs; None (default) keeps jobs in memory only.
    """

    def __init__(self, root, builder, rebinner, *, job_duration=5.0, job_limit=10, seed=0, state_dir=None):
        self.root = Path(root)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.builder = builder
        self.rebinner = rebinner
        self.job_duration = float(job_duration)
        self.job_limit = job_limit
        self.seed = seed
        self._jobs = {}
        self._rebins = {}
        self._lock = threading.Lock()
        self._threads = []

    def create(self, user, job_pars, products, url_base):
        """Accept a job: allocate its id, start its build; raises `JobLimitReached`."""
        with self._lock:
            if self.job_limit is not None:
                active = sum(1 for job in self._jobs.values() if job.user == user and job.is_active())
                if active >= self.job_limit:
                    raise JobLimitReached(
                        f"The user `{user}` already has {active} jobs queued or running, the most allowed "
                        f"at once ({self.job_limit}). Wait for some to finish or cancel them, then submit "
                        "again.")
            job_id = _next_id()
            while job_id in self._jobs:  # a reloaded job may hold an id this process also drew
                job_id = _next_id()
            job = Job(job_id=job_id, user=user, pars=job_pars, products=list(products),
                      url=f"{url_base}/USERPROD_{job_id}", job_dir=self.root / f"USERPROD_{job_id}",
                      seed=job_seed(self.seed, job_pars), duration=self.job_duration)
            self._jobs[job_id] = job
        self.save(job)
        self._run(self._build, job)
        return job

    def _run(self, target, item):
        if self.job_duration <= 0:
            target(item)
            return
        thread = threading.Thread(target=target, args=(item,), daemon=True,
                                  name=f"xrtprods-build-{getattr(item, 'job_id', None)}")
        thread.start()
        self._threads.append(thread)

    def _build(self, job):
        try:
            job.job_dir.mkdir(parents=True, exist_ok=True)
            job.outcomes = self.builder(dict(job.pars), str(job.job_id), job.url, job.job_dir, job.seed)
        except Exception as exc:  # a build bug must fail the job, not kill the service
            log.exception("Building products of job %s failed", job.job_id)
            job.build_error = f"{type(exc).__name__}: {exc}"
        finally:
            job.built.set()
            self.save(job)

    def get(self, job_id):
        """The job with this id (int or numeric string); KeyError if there is none."""
        key = int(str(job_id).strip())
        with self._lock:
            return self._jobs[key]

    def jobs_of(self, user):
        """The user's jobs, most recent first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.user == user]
        return sorted(jobs, key=lambda job: job.job_id, reverse=True)

    def active_count(self, user):
        """Number of the user's jobs queued or running."""
        return sum(1 for job in self.jobs_of(user) if job.is_active())

    def create_rebin(self, parent, params):
        """Start rebinning the light curve of ``parent``."""
        rebin_id = _next_id()
        rebin = RebinJob(rebin_id=rebin_id, parent=parent, params=dict(params),
                         duration=self.job_duration / 2)
        with self._lock:
            self._rebins[rebin_id] = rebin
        self._run(self._build_rebin, rebin)
        return rebin

    def _build_rebin(self, rebin):
        job = rebin.parent
        try:
            rebin.result = self.rebinner(dict(job.pars), str(job.job_id), job.url, job.job_dir, job.seed,
                                         rebin.rebin_id, dict(rebin.params))
        except Exception as exc:  # as for builds: report, don't die
            log.exception("Rebinning job %s failed", job.job_id)
            rebin.error = f"{type(exc).__name__}: {exc}"
        finally:
            rebin.built.set()

    def get_rebin(self, rebin_id):
        """The rebin job with this id; KeyError if there is none."""
        key = int(str(rebin_id).strip())
        with self._lock:
            return self._rebins[key]

    # ------------------------------------------------------------------ persistence
    def save(self, job):
        """Write the record of one job to ``state_dir`` (nothing when there is none).

        The record holds what `load` needs to serve the job again: its parameters, owner,
        timeline (submission as wall-clock time), cancellations and built outcomes. The file
        is replaced atomically, so a crash never leaves half a record.
        """
        if self.state_dir is None:
            return
        url_base = job.url.rsplit("/", 1)[0]
        outcomes = None if job.outcomes is None or not job.built.is_set() else {
            code: {"ok": bool(o.ok), "reason": o.reason, "data": o.data} for code, o in job.outcomes.items()}
        record = {"job_id": job.job_id, "user": job.user, "pars": job.pars, "products": job.products,
                  "url_base": url_base, "job_dir": job.job_dir.name, "seed": job.seed,
                  "duration": job.duration, "submitted": job.submitted,
                  "cancelled_after": {code: at - job.started for code, at in job.cancelled.items()},
                  "outcomes": outcomes, "build_error": job.build_error}
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            path = self.state_dir / f"{job.job_id}.json"
            part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            part.write_text(json.dumps(record, default=_jsonable))
            os.replace(part, path)
        except OSError as exc:  # a full disk must not fail the job itself
            log.warning("Could not save job %s: %s", job.job_id, exc)

    def save_all(self):
        """Write the records of every job (cancellations happen after `save` at creation)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.save(job)

    def load(self, url_base):
        """Read the jobs saved in ``state_dir``; returns how many were loaded.

        Jobs keep their ids. URLs saved under another address (the service restarted on
        another port) are rewritten to ``url_base``. A job whose build had not finished is
        built again (builds are deterministic for a seed and the parameters).
        """
        if self.state_dir is None or not self.state_dir.is_dir():
            return 0
        now_wall, now = time.time(), time.monotonic()
        loaded = []
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                text = path.read_text()
                old_base = json.loads(text)["url_base"]
                moved = old_base != url_base
                if moved:
                    # Every URL of a job (its own and its products') starts with the base.
                    text = text.replace(json.dumps(old_base)[1:-1], json.dumps(url_base)[1:-1])
                record = json.loads(text)
                started = now - (now_wall - record["submitted"])
                job = Job(job_id=int(record["job_id"]), user=record["user"], pars=record["pars"],
                          products=list(record["products"]), url=f"{url_base}/{record['job_dir']}",
                          job_dir=self.root / record["job_dir"], seed=record["seed"],
                          duration=record["duration"], submitted=record["submitted"], started=started,
                          build_error=record.get("build_error"),
                          cancelled={code: started + after
                                     for code, after in record.get("cancelled_after", {}).items()})
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("Skipping the unreadable job record %s: %s", path, exc)
                continue
            if record.get("outcomes") is not None:
                job.outcomes = {code: SimpleNamespace(code=code, files=[], **o)
                                for code, o in record["outcomes"].items()}
                job.built.set()
            with self._lock:
                self._jobs[job.job_id] = job
            loaded.append((job, moved))
        for job, moved in loaded:
            if not job.built.is_set():
                self._run(self._build, job)  # saves the job when built
            elif moved:
                self.save(job)
        return len(loaded)

    def join(self, timeout=5.0):
        """Wait for background builds to end (used when the service stops)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(deadline - time.monotonic(), 0))
