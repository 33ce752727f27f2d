# Licensed under a 3-clause BSD style license - see LICENSE
"""
The local service in its own process, for benchmarks that measure the client alone.

`ServiceProcess` starts ``python benchmarks/_service.py`` which runs a
`~xrtprods_astro.server.LocalService` and answers one-line commands on its
standard input with one JSON line: ``counts`` (requests per endpoint),
``reset`` (zero them), ``jobs`` (start and duration of every job, for the
overlap of active jobs), ``quit``. Its CPU and memory are then its own, not the
client's, and its RSS can be read from ``/proc/<pid>/status``.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


class ServiceProcess:
    """A local service in a child process; use as a context manager.

    Parameters
    ----------
    data_dir : path-like
        Where the service keeps jobs (``jobs/``) and archives (``archives/``).
    job_duration : float
        Seconds from submission to completion of each job.
    job_limit : int or None
        Most jobs active per user (None: no limit).
    """

    def __init__(self, data_dir, job_duration=0.0, job_limit=None):
        self.data_dir = Path(data_dir)
        self.job_duration, self.job_limit = job_duration, job_limit
        self.proc = self.url = self.email = None

    def _argv(self):
        """The child's command line (a subclass serves another kind of service the same way)."""
        return [sys.executable, str(HERE / "_service.py"), json.dumps(
            {"data_dir": str(self.data_dir), "job_duration": self.job_duration, "job_limit": self.job_limit})]

    def _started(self, hello):
        """Keep what the child's first line says of itself."""
        self.url, self.email = hello["url"], hello["email"]

    def __enter__(self):
        self.proc = subprocess.Popen(self._argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1)
        hello = json.loads(self.proc.stdout.readline() or "null")
        if not hello:
            self.proc.kill()
            raise RuntimeError(f"the {type(self).__name__} process did not start")
        self._started(hello)
        return self

    def __exit__(self, *exc):
        try:
            self.command("quit")
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    @property
    def pid(self):
        return self.proc.pid

    @property
    def user_objects_url(self):
        return f"{self.url}/user_objects"

    @property
    def api_url(self):
        return f"{self.url}/API/main.php"

    def command(self, name):
        """Send one command; returns the decoded answer."""
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline() or "null")

    def request_counts(self):
        return self.command("counts")

    def reset_counts(self):
        self.command("reset")

    def archive_path(self, job_id, stem="psf", fmt="tar.gz"):
        """Where the service keeps (and serves as is, once it exists) an archive of a job."""
        return self.data_dir / "archives" / f"USERPROD_{job_id}" / f"{stem}.{fmt}"


def submit_job(url, email, **products):
    """Submit a standard-position job (and ``products``) with our client; returns the job handle.

    Used by the parent of the benchmarks to have a finished job on a ``job_duration=0`` service.
    """
    import _util
    from xrtprods_astro.core import XRTProductsClass
    from xrtprods_astro.request import ProductRequest
    _util.quiet_package()   # the parent's level (it was set to WARNING here, so later sections warned)
    client = XRTProductsClass(server=url, email=email, poll_interval=0)
    request = ProductRequest("GRB 200416A", ra=335.6985, dec=-7.5179, get_targs=True, centroid=True,
                             pos_err=1, use_sxps=False, standard_position=True, **products)
    return client.submit(request, reuse=False)  # a new job each time, not the re-attachment


def _serve(options):
    sys.path.insert(0, str(HERE))
    import _util
    _util.quiet_package()
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=options["job_duration"], job_limit=options["job_limit"],
                           data_dir=options["data_dir"])
    service.start()
    _util.quiet_package()
    print(json.dumps({"url": service.url, "email": service.email}), flush=True)
    try:
        for line in sys.stdin:
            name = line.strip()
            if name == "counts":
                answer = service.request_counts()
            elif name == "reset":
                service.reset_counts()
                answer = {}
            elif name == "jobs":
                now = time.monotonic()
                answer = [[j.started - now, j.duration] for j in service.store.jobs_of(service.email)]
            elif name == "quit":
                print("{}", flush=True)
                break
            else:
                answer = {"error": f"unknown command {name!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        service.stop()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
