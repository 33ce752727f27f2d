# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark of batch runs (`xrtprods_astro.batch.BatchRun`) against the local service.

The service runs in its own process (`_service.ServiceProcess`) and the batch in a
fresh child process, so the child's CPU time (user + system, every thread) is the
client's alone and its peak RSS growth is the batch's. Each target asks for a
standard position and retrieves it and its archive.

* **Scaling** (fast jobs): 10, 100, 1,000, 5,000 targets, jobs of
  `FAST_JOB` s, `FAST_ACTIVE` active at most, polled every
  `POLL_FRACTION` job durations. Reported per size: client CPU per target,
  makespan and its ratio to the ideal, requests per job, state-file saves per
  target and the cost of one state update (the wall time spent in the state
  object's ``update``, ``sync`` and ``save``, divided by the updates; measured
  by wrapping those methods in the child). The sizes share a time budget (`BUDGET_S`); a run stopped by its
  share still gives the cost of a state update at its full size, and its CPU
  and requests per *finished* target (``timed_out`` and ``finished`` say so).
* **Makespan**: `MAKESPAN_TARGETS` targets, jobs of `MAKESPAN_JOB` s,
  `MAKESPAN_ACTIVE` active, against the ideal ``ceil(n / max_active) *
  job_duration``; here the jobs are long enough for the client to keep up.

Run ``python benchmarks/bench_batch.py [--quick]``; or import `run`.
"""
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _service import ServiceProcess  # noqa: E402
from _util import in_child  # noqa: E402

SIZES = (10, 100, 1000, 5000)
QUICK_SIZES = (5, 10)
FAST_JOB, FAST_ACTIVE = 0.5, 20
POLL_FRACTION = 0.1
MAKESPAN_TARGETS, MAKESPAN_JOB, MAKESPAN_ACTIVE = 100, 2.0, 10
BUDGET_S = 240.0
MIN_RUN_S = 10.0


# -- in the child process ----------------------------------------------------------------------
def _instrument_state(record):
    """Wrap the state-file methods of `xrtprods_astro.batch` to time every call; returns the names wrapped.

    The harness must not change the library: it only wraps, in this child, what exists. Besides each
    method's samples, ``record["_outer"]`` gets the time of every outermost call (a save made inside
    an update is counted once), so that their sum is all the time spent on the state file.
    """
    import functools
    from xrtprods_astro import batch
    state_cls = getattr(batch, "_State", None)
    wrapped = []
    depth = [0]
    for name in ("update", "save", "sync"):
        method = getattr(state_cls, name, None)
        if method is None:
            continue

        def timed(*args, _method=method, _name=name, **kwargs):
            start = time.perf_counter()
            depth[0] += 1
            try:
                return _method(*args, **kwargs)
            finally:
                depth[0] -= 1
                spent = time.perf_counter() - start
                record.setdefault(_name, []).append(spent)
                if depth[0] == 0:
                    record.setdefault("_outer", []).append(spent)
        setattr(state_cls, name, functools.wraps(method)(timed))
        wrapped.append(f"_State.{name}")
    return wrapped


def child_batch(url, email, n_targets, max_active, poll_interval, workdir, time_limit=None):
    """Run one batch against ``url`` (stopping after ``time_limit`` s if given); returns client CPU,
    wall time, memory and state-file figures."""
    import _util
    from astropy.table import Table
    from xrtprods_astro.batch import BatchRun
    from xrtprods_astro.core import XRTProductsClass
    from xrtprods_astro.server.catalogue import CATALOGUE
    calls = {}
    wrapped = _instrument_state(calls)
    entries = [CATALOGUE[i % 9] for i in range(n_targets)]
    targets = Table({"name": [f"B{i:05d}" for i in range(n_targets)], "ra": [e.ra for e in entries],
                     "dec": [e.dec for e in entries]})
    baseline = _util.reset_peak()
    cpu0, start = _util.cpu_seconds(), time.perf_counter()
    client = XRTProductsClass(server=url, email=email, poll_interval=poll_interval)
    batch = BatchRun(targets, products={"standard_position": True}, state_file=Path(workdir) / "state.json",
                     dest_dir=Path(workdir) / "out", client=client, max_active=max_active,
                     retrieve=["standard_position", "archive"])
    summary = batch.run(timeout=time_limit)
    wall, cpu = time.perf_counter() - start, _util.cpu_seconds() - cpu0
    out = {"ok": int(sum(summary["status"] == "ok")), "wall_s": wall, "cpu_s": cpu,
           "timed_out": bool(sum(summary["status"] == "timeout")),
           "peak_growth_mb": _util.peak_mb() - baseline, "instrumented": wrapped}
    outer = calls.pop("_outer", [])
    out["state_s_total"] = sum(outer)
    for name, samples in calls.items():
        tail = samples[-max(1, len(samples) // 10):]
        out[f"{name}_calls"] = len(samples)
        out[f"{name}_ms_median"] = statistics.median(samples) * 1000
        out[f"{name}_ms_last_decile"] = statistics.mean(tail) * 1000
        out[f"{name}_s_total"] = sum(samples)
    return out


# -- in the parent ---------------------------------------------------------------------------
def _peak_active(jobs):
    events = sorted([(s, 1) for s, d in jobs] + [(s + d, -1) for s, d in jobs], key=lambda e: (e[0], e[1]))
    active = peak = 0
    for _, step in events:
        active += step
        peak = max(peak, active)
    return peak


def run_one(n_targets, job_duration, max_active, poll_fraction=POLL_FRACTION, time_limit=None, workdir=None):
    """One batch of ``n_targets`` against a fresh service process; returns its figures.

    Per-target figures are per finished target when ``time_limit`` stopped the run."""
    poll = job_duration * poll_fraction
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-batch-", dir=workdir) as tmp:
        with ServiceProcess(Path(tmp) / "service", job_duration=job_duration, job_limit=max_active) as svc:
            raw = in_child("bench_batch", "child_batch", timeout=3600, url=svc.url, email=svc.email,
                           n_targets=n_targets, max_active=max_active, poll_interval=poll,
                           workdir=str(Path(tmp) / "client"), time_limit=time_limit)
            counts = svc.request_counts()
            jobs = svc.command("jobs")
    done = max(raw["ok"], 1) if raw["timed_out"] else n_targets
    ideal = math.ceil(done / max_active) * job_duration
    result = {"n_targets": n_targets, "job_duration_s": job_duration, "max_active": max_active,
              "poll_interval_s": poll, "poll_interval_job_durations": poll_fraction, **raw,
              "time_limit_s": time_limit, "finished": raw["ok"],
              "cpu_ms_per_target": raw["cpu_s"] * 1000 / done, "makespan_s": raw["wall_s"],
              "ideal_s": ideal, "makespan_ratio": raw["wall_s"] / ideal,
              "requests_per_job": sum(counts.values()) / done,
              "status_calls_per_job": counts.get("status", 0) / done, "requests": counts,
              "peak_active": _peak_active(jobs), "jobs_on_server": len(jobs)}
    if "save_calls" in raw:
        result["saves_per_target"] = raw["save_calls"] / done
    if "update_calls" in raw:
        # All the time spent on the state file (updates, group fsyncs, rewrites) per update.
        result["update_ms_mean"] = raw["state_s_total"] * 1000 / raw["update_calls"]
    return result


def run(sizes=SIZES, budget_s=BUDGET_S, makespan=True, quick=False, workdir=None):
    """Scaling runs sharing ``budget_s`` seconds, then the makespan run.

    Each size gets an equal share of the budget left (what small sizes do not use goes to the larger
    ones) as the time limit of its `~xrtprods_astro.batch.BatchRun.run`. A run stopped by its limit
    still measures the cost of a state update at its full size (the state file holds every target from
    the start); its CPU and requests are then per finished target, and ``timed_out`` says so.

    Returns
    -------
    dict
        ``{"scaling": [run, ...], "not_run": [{"n_targets", "reason"}], "makespan": run or None,
        "settings": {...}}``.
    """
    out = {"settings": {"sizes": list(sizes), "budget_s": budget_s, "fast_job_s": FAST_JOB,
                        "fast_max_active": FAST_ACTIVE, "poll_interval_job_durations": POLL_FRACTION},
           "scaling": [], "not_run": []}
    start = time.perf_counter()
    for k, n in enumerate(sizes):
        left = budget_s - (time.perf_counter() - start)
        if left < MIN_RUN_S:
            out["not_run"].append({"n_targets": n, "reason": f"{max(left, 0):.0f} s left of the "
                                   f"{budget_s:.0f} s budget"})
            continue
        out["scaling"].append(run_one(n, FAST_JOB, FAST_ACTIVE, time_limit=left / (len(sizes) - k),
                                      workdir=workdir))
    if makespan:
        n, duration, active = (5, 0.3, 5) if quick else (MAKESPAN_TARGETS, MAKESPAN_JOB, MAKESPAN_ACTIVE)
        out["makespan"] = run_one(n, duration, active, workdir=workdir)
    else:
        out["makespan"] = None
    return out


if __name__ == "__main__":
    import json
    quick = "--quick" in sys.argv
    print(json.dumps(run(QUICK_SIZES if quick else SIZES, quick=quick), indent=1))
