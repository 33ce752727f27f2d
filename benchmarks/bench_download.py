# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: a verified download of a large archive against ``curl`` on the same URL, and the
local service's memory while it serves it.

The local service runs in its own process (`_service.ServiceProcess`); a job's
``psf.tar.gz`` is replaced by a valid tar.gz of `SIZE_MB` MB of incompressible
bytes (the service serves an existing archive as is). Then, taking turns:

* ours, in a fresh child: ``XRTProductsClass(...).download_archive(job.url, "psf")``
  (checked completely while it streams: gzip CRC32 and length, tar headers), wall
  time and peak RSS growth of the child over its RSS after imports;
* ``curl -sSf -o FILE URL`` in a fresh child, wall time and its peak RSS
  (``ru_maxrss`` of the child's only child).

For each download the service's peak RSS growth is read from
``/proc/<pid>/status`` (VmHWM reset through ``clear_refs`` before).

Run ``python benchmarks/bench_download.py [size_mb]``; or import `run`.
"""
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _util  # noqa: E402
from _service import ServiceProcess, submit_job  # noqa: E402

SIZE_MB = 256


def big_archive(path, size_mb):
    """Write a valid tar.gz of ``size_mb`` MB of incompressible bytes; returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    member = path.parent / "payload.bin"
    with open(member, "wb") as handle:
        for _ in range(size_mb):
            handle.write(os.urandom(1 << 20))
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        tar.add(member, arcname="psf/payload.bin")
    member.unlink()
    return path.stat().st_size


def child_ours(url, email, job_url, dest_dir):
    """Download the psf archive with our client; wall time and memory."""
    from xrtprods_astro.core import XRTProductsClass
    client = XRTProductsClass(server=url, email=email)
    baseline = _util.reset_peak()
    start = time.perf_counter()
    path = client.download_archive(job_url, "psf", dest_dir=dest_dir, overwrite=True)
    return {"s": time.perf_counter() - start, "peak_growth_mb": _util.peak_mb() - baseline,
            "peak_mb": _util.peak_mb(), "bytes": path.stat().st_size}


def child_command(argv):
    """Run ``argv``; its wall time and peak RSS (this process has no other child)."""
    import resource
    import subprocess
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=600)
    seconds = time.perf_counter() - start
    return {"s": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0}


def run(size_mb=SIZE_MB, repeats=3, workdir=None):
    """Download the archive ``repeats`` times with each tool, taking turns.

    Returns
    -------
    dict
        ``archive_mb``, ``ours`` and ``curl`` (``s`` median and samples, ``peak_growth_mb`` or
        ``peak_mb``), ``service_peak_growth_mb`` (max over the downloads), ``ratio`` (ours / curl),
        and ``client_memory_over_archive`` / ``service_memory_over_archive``.
    """
    curl = shutil.which("curl")
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-dl-", dir=workdir) as tmp, \
            ServiceProcess(Path(tmp) / "service", job_duration=0) as svc:
        job = submit_job(svc.url, svc.email)
        size = big_archive(svc.archive_path(job.job_id), size_mb)
        url = f"{str(job.url).rstrip('/')}/psf.tar.gz"
        ours, theirs, service = [], [], []
        for _ in range(repeats):
            base = _util.reset_peak(svc.pid)
            ours.append(_util.in_child("bench_download", "child_ours", url=svc.url, email=svc.email,
                                       job_url=str(job.url), dest_dir=str(Path(tmp) / "ours")))
            service.append(_util.peak_mb(svc.pid) - base)
            if ours[-1]["bytes"] != size:
                raise RuntimeError(f"our client wrote {ours[-1]['bytes']} bytes of {size}")
            # Each tool writes a new file: replacing the previous copy would time the unlinking of
            # 256 MB for us only (curl's file is removed after each of its runs too).
            for done in (Path(tmp) / "ours").iterdir():
                done.unlink()
            if curl:
                base = _util.reset_peak(svc.pid)
                theirs.append(_util.in_child("bench_download", "child_command",
                                             argv=[curl, "-sSf", "-o", str(Path(tmp) / "curl.tar.gz"), url]))
                service.append(_util.peak_mb(svc.pid) - base)
                os.unlink(Path(tmp) / "curl.tar.gz")
    out = {"archive_mb": size / 2**20, "repeats": repeats,
           "ours": {"s": statistics.median(r["s"] for r in ours), "samples_s": [r["s"] for r in ours],
                    "peak_growth_mb": max(r["peak_growth_mb"] for r in ours),
                    "peak_mb": max(r["peak_mb"] for r in ours)},
           "service_peak_growth_mb": max(service)}
    out["client_memory_over_archive"] = out["ours"]["peak_growth_mb"] / out["archive_mb"]
    out["service_memory_over_archive"] = out["service_peak_growth_mb"] / out["archive_mb"]
    if curl:
        out["curl"] = {"s": statistics.median(r["s"] for r in theirs), "samples_s": [r["s"] for r in theirs],
                       "peak_mb": max(r["peak_mb"] for r in theirs)}
        out["ratio"] = out["ours"]["s"] / out["curl"]["s"]
    else:
        out["curl"] = {"skipped": "curl is not installed"}
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else SIZE_MB), indent=1))
