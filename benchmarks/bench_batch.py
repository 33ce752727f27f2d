# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark of batch runs and large downloads against the local service.

1. Makespan of a batch of ``n_targets`` jobs of fixed duration with an active-job
   limit, as a ratio to the ideal ``ceil(n_targets / max_active) * job_duration``.
2. HTTP requests per job, from the service's own counters.
3. Peak memory of downloading a large archive (Python allocations traced by
   tracemalloc, and the growth of the process's peak RSS), against the archive's
   size. The service runs in a subprocess for this part, so that its own copy of
   the file does not count.

Run ``python benchmarks/bench_batch.py`` (``--quick`` for a smoke run); ``run()``
returns the numbers as a dict.
"""
import argparse
import math
import os
import resource
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

from astropy.table import Table

from xrtprods_astro.batch import BatchRun
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.server.app import LocalService
from xrtprods_astro.server.catalogue import CATALOGUE


def _targets(n):
    entries = [CATALOGUE[i % 9] for i in range(n)]
    return Table({"name": [f"B{i:03d}" for i in range(n)], "ra": [e.ra for e in entries],
                  "dec": [e.dec for e in entries]})


def bench_makespan(n_targets=100, job_duration=1.0, max_active=5, poll_interval=0.05, workdir=None):
    """Run a batch; returns makespan, its ratio to the ideal, requests per job and the peak overlap."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp, \
            LocalService(job_duration=job_duration, job_limit=max_active) as svc:
        client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=poll_interval)
        batch = BatchRun(_targets(n_targets), products={"standard_position": True},
                         state_file=Path(tmp) / "state.json", dest_dir=Path(tmp) / "out", client=client,
                         max_active=max_active, retrieve=["standard_position", "archive"])
        start = time.perf_counter()
        summary = batch.run()
        makespan = time.perf_counter() - start
        counts = svc.request_counts()
        jobs = svc.store.jobs_of(svc.email)
        events = sorted([(j.started, 1) for j in jobs] + [(j.started + j.duration, -1) for j in jobs],
                        key=lambda e: (e[0], e[1]))
        active = peak = 0
        for _, step in events:
            active += step
            peak = max(peak, active)
    ideal = math.ceil(n_targets / max_active) * job_duration
    return {"n_targets": n_targets, "job_duration_s": job_duration, "max_active": max_active,
            "poll_interval_s": poll_interval, "ok": int(sum(summary["status"] == "ok")),
            "makespan_s": makespan, "ideal_s": ideal, "makespan_ratio": makespan / ideal,
            "requests_per_job": sum(counts.values()) / n_targets,
            "status_calls_per_job": counts.get("status", 0) / n_targets, "peak_active": peak,
            "jobs_on_server": len(jobs)}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _big_archive(path, size_mb):
    """A valid tar.gz of ``size_mb`` MB of incompressible bytes, written in chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    member = path.parent / "payload.bin"
    with open(member, "wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1 << 20))
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(member, arcname="psf/payload.bin")
    member.unlink()
    return path.stat().st_size


def bench_download(size_mb=100, workdir=None):
    """Download a ``size_mb`` archive from a service in a subprocess; returns memory figures."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-m", "xrtprods_astro.server", "--port", str(port),
                                 "--job-duration", "0", "--data-dir", str(tmp / "service")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client = XRTProductsClass(server=f"http://127.0.0.1:{port}", email="demo@example.org")
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.count_active_jobs()
                    break
                except Exception:  # noqa: BLE001 - the service is still starting
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            entry = CATALOGUE[0]
            job = client.submit(ProductRequest(name="big", ra=entry.ra, dec=entry.dec, get_targs=True,
                                               centroid=True, use_sxps=False, pos_err=1,
                                               standard_position=True))
            job.wait(poll_interval=0.1, progress=False)
            # The service keeps archives here and serves an existing one as is (server/archives.py).
            size = _big_archive(tmp / "service" / "archives" / f"USERPROD_{job.job_id}" / "psf.tar.gz",
                                size_mb)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            tracemalloc.start()
            start = time.perf_counter()
            path = client.download_archive(job.url, "psf", dest_dir=tmp / "dl")
            seconds = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            assert path.stat().st_size == size
        finally:
            proc.terminate()
            proc.wait(10)
    return {"archive_mb": size / 2**20, "download_s": seconds, "traced_peak_mb": peak / 2**20,
            "traced_peak_over_size": peak / size, "peak_rss_growth_mb": (rss_after - rss_before) / 2**20}


def run(quick=False, n_targets=None, job_duration=None, max_active=5, archive_mb=None):
    """Run both benchmarks; ``quick`` shrinks them to a smoke test of a few seconds.

    Returns
    -------
    dict
    """
    n_targets = n_targets or (10 if quick else 100)
    job_duration = job_duration or (0.3 if quick else 1.0)
    archive_mb = archive_mb or (5 if quick else 100)
    result = bench_makespan(n_targets, job_duration, max_active)
    result.update(bench_download(archive_mb))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    table = Table({"metric": list(result), "value": [f"{v:.3f}" if isinstance(v, float) else str(v)
                                                     for v in result.values()]})
    table.pprint(max_lines=-1, max_width=-1)


if __name__ == "__main__":
    main()
