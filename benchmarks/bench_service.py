# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: the local service under many concurrent connections.

The service runs in its own process (`_service.ServiceProcess`, ``job_duration=0``,
one finished job). A fresh child starts `CONNECTIONS` threads together; each
opens a new TCP connection per request (as many clients arriving at once do) and
asks for the job's status (``checkProductStatus.php``) `REQUESTS_EACH` times.
Every request's latency (connect to last byte) is recorded; a *stall* is one
that took more than `STALL_S` seconds (a lost SYN waits a second before it is
sent again, so a full listen backlog shows as 1 s stalls).

Run ``python benchmarks/bench_service.py``; or import `run`.
"""
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _util  # noqa: E402
from _service import ServiceProcess, submit_job  # noqa: E402

CONNECTIONS, REQUESTS_EACH, STALL_S = 64, 10, 0.5


def child_hammer(url, email, job_id, connections=CONNECTIONS, requests_each=REQUESTS_EACH):
    """``connections`` threads, each making ``requests_each`` status requests on new connections."""
    import http.client
    import threading
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    body = json.dumps({"UserID": email, "JobID": job_id})
    latencies, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(connections)

    def worker():
        barrier.wait()
        for _ in range(requests_each):
            start = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                conn.request("POST", "/user_objects/checkProductStatus.php", body=body,
                             headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                answer.read()
                conn.close()
                if answer.status != 200:
                    raise OSError(f"HTTP {answer.status}")
            except OSError as exc:
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies_s": latencies, "errors": errors, "wall_s": time.perf_counter() - start}


def run(connections=CONNECTIONS, requests_each=REQUESTS_EACH, workdir=None):
    """Hammer a service process; returns latency figures, stalls and the service's RSS growth.

    Returns
    -------
    dict
        ``connections``, ``requests``, ``stalls`` (latency > `STALL_S`), ``errors``, ``median_ms``,
        ``p99_ms``, ``max_ms``, ``requests_per_s``, ``service_peak_growth_mb``.
    """
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-svc-", dir=workdir) as tmp, \
            ServiceProcess(Path(tmp) / "service", job_duration=0) as svc:
        job = submit_job(svc.url, svc.email)
        base = _util.reset_peak(svc.pid)
        raw = _util.in_child("bench_service", "child_hammer", url=svc.url, email=svc.email,
                             job_id=str(job.job_id), connections=connections, requests_each=requests_each)
        growth = _util.peak_mb(svc.pid) - base
    lat = sorted(raw["latencies_s"]) or [float("nan")]
    return {"connections": connections, "requests": connections * requests_each, "stall_s": STALL_S,
            "stalls": sum(x > STALL_S for x in lat), "errors": len(raw["errors"]),
            "error_examples": raw["errors"][:3], "median_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, "max_ms": lat[-1] * 1000,
            "requests_per_s": len(raw["latencies_s"]) / raw["wall_s"], "service_peak_growth_mb": growth}


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
