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
  target and the cost of one state update (the wall time of ``_State.update``,
  save included, measured by wrapping the methods of the state object in the
  child). Sizes whose run is estimated to overrun the time budget are not run,
  and the result says so; the largest of `FALLBACK_SIZES` that fits is run instead.
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
# Run instead of a size that does not fit in the budget (the largest that fits, if any).
FALLBACK_SIZES = (3000, 2000, 1000, 500, 300, 200)
FAST_JOB, FAST_ACTIVE = 0.5, 20
POLL_FRACTION = 0.1
MAKESPAN_TARGETS, MAKESPAN_JOB, MAKESPAN_ACTIVE = 100, 2.0, 10
BUDGET_S = 200.0


# -- in the child process ----------------------------------------------------------------------
def _instrument_state(record):
    """Wrap the state-file methods of `xrtprods_astro.batch` to time every call; returns the names wrapped.

    The harness must not change the library: it only wraps, in this child, what exists.
    """
    import functools
    from xrtprods_astro import batch
    state_cls = getattr(batch, "_State", None)
    wrapped = []
    for name in ("update", "save"):
        method = getattr(state_cls, name, None)
        if method is None:
            continue

        def timed(*args, _method=method, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                record.setdefault(_name, []).append(time.perf_counter() - start)
        setattr(state_cls, name, functools.wraps(method)(timed))
        wrapped.append(f"_State.{name}")
    return wrapped


def child_batch(url, email, n_targets, max_active, poll_interval, workdir):
    """Run one batch against ``url``; returns client CPU, wall time, memory and state-file figures."""
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
    summary = batch.run()
    wall, cpu = time.perf_counter() - start, _util.cpu_seconds() - cpu0
    out = {"ok": int(sum(summary["status"] == "ok")), "wall_s": wall, "cpu_s": cpu,
           "peak_growth_mb": _util.peak_mb() - baseline, "instrumented": wrapped}
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


def run_one(n_targets, job_duration, max_active, poll_fraction=POLL_FRACTION, workdir=None):
    """One batch of ``n_targets`` against a fresh service process; returns its figures."""
    poll = job_duration * poll_fraction
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-batch-", dir=workdir) as tmp:
        with ServiceProcess(Path(tmp) / "service", job_duration=job_duration, job_limit=max_active) as svc:
            raw = in_child("bench_batch", "child_batch", timeout=3600, url=svc.url, email=svc.email,
                           n_targets=n_targets, max_active=max_active, poll_interval=poll,
                           workdir=str(Path(tmp) / "client"))
            counts = svc.request_counts()
            jobs = svc.command("jobs")
    ideal = math.ceil(n_targets / max_active) * job_duration
    result = {"n_targets": n_targets, "job_duration_s": job_duration, "max_active": max_active,
              "poll_interval_s": poll, "poll_interval_job_durations": poll_fraction, **raw,
              "cpu_ms_per_target": raw["cpu_s"] * 1000 / n_targets, "makespan_s": raw["wall_s"],
              "ideal_s": ideal, "makespan_ratio": raw["wall_s"] / ideal,
              "requests_per_job": sum(counts.values()) / n_targets,
              "status_calls_per_job": counts.get("status", 0) / n_targets, "requests": counts,
              "peak_active": _peak_active(jobs), "jobs_on_server": len(jobs)}
    if "save_calls" in raw:
        result["saves_per_target"] = raw["save_calls"] / n_targets
    if "update_calls" in raw:
        result["update_ms_mean"] = raw["update_s_total"] * 1000 / raw["update_calls"]
    return result


def _estimate(done, n):
    """Seconds a batch of ``n`` targets should take, from the runs done: per-target wall time
    extrapolated linearly in the number of targets (the state file makes it grow)."""
    (n1, t1), (n2, t2) = [(r["n_targets"], r["wall_s"] / r["n_targets"]) for r in done[-2:]]
    slope = max(0.0, (t2 - t1) / (n2 - n1)) if n2 != n1 else 0.0
    return n * (t2 + slope * (n - n2))


def run(sizes=SIZES, budget_s=BUDGET_S, makespan=True, quick=False, workdir=None):
    """Scaling runs within ``budget_s`` seconds, then the makespan run.

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
    for n in sizes:
        left = budget_s - (time.perf_counter() - start)
        if len(out["scaling"]) >= 2:
            estimate = _estimate(out["scaling"], n)
            if estimate > left:
                out["not_run"].append({"n_targets": n, "reason": f"estimated {estimate:.0f} s, more than the "
                                       f"{max(left, 0):.0f} s left of the {budget_s:.0f} s budget"})
                # Instead, the largest of a few round sizes between the last run and this one that fits.
                last = out["scaling"][-1]["n_targets"]
                n = next((m for m in FALLBACK_SIZES if last < m < n and _estimate(out["scaling"], m) <= left),
                         None)
                if n is None:
                    continue
        out["scaling"].append(run_one(n, FAST_JOB, FAST_ACTIVE, workdir=workdir))
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
