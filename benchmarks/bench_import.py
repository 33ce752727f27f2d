# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: cold import of ``xrtprods_astro`` against swifttools', and the wall time of CLI calls.

Import: every sample is a fresh Python that times the import statement itself
(``time.perf_counter`` around ``from xrtprods_astro import XRTProducts``, or
``import swifttools.ukssdc.xrt_prods``), so the figure excludes the
interpreter's own start-up. ``import astroquery.query`` is timed the same way:
it is the floor of any astroquery module (every ``BaseQuery`` subclass imports
it first). The OS file cache is warm after the first sample
(untimed), which is the usual case for a user.

CLI: the wall time of the ``xrtprods`` console script as a user sees it
(interpreter start-up included) for ``xrtprods --help`` and for ``xrtprods
status N`` against a local service in its own process; ``python -c pass`` is
given as the floor.

Run ``python benchmarks/bench_import.py [repeats]``; or import `run`.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _service import ServiceProcess, submit_job  # noqa: E402
from _util import SWIFTTOOLS_MISSING, have_swifttools, summary  # noqa: E402

STATEMENTS = {"xrtprods_astro": "from xrtprods_astro import XRTProducts",
              "swifttools": "import swifttools.ukssdc.xrt_prods",
              # The floor of any astroquery module: every BaseQuery subclass imports this first.
              "astroquery.query": "import astroquery.query"}

_SNIPPET = ("import time, warnings\nwarnings.simplefilter('ignore')\nt = time.perf_counter()\n"
            "{statement}\nprint((time.perf_counter() - t) * 1000.0)\n")


def import_time(statement, python=None):
    """Run ``statement`` in a fresh interpreter; its wall time in ms."""
    out = subprocess.run([python or sys.executable, "-c", _SNIPPET.format(statement=statement)],
                         capture_output=True, text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def command_time(argv):
    """Wall time in ms of running ``argv`` to completion (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, timeout=120)
    return (time.perf_counter() - start) * 1000.0


def _cli():
    script = Path(sys.executable).parent / "xrtprods"
    return [str(script)] if script.exists() else [sys.executable, "-m", "xrtprods_astro.cli"]


def run(repeats=5, python=None, cli=True, workdir=None):
    """Time cold imports of both packages and the CLI calls.

    Returns
    -------
    dict
        ``{"xrtprods_astro": {...}, "swifttools": {...} or {"skipped": reason}, "astroquery.query": {...},
        "ratio": ours / theirs, "floor_ratio": astroquery.query / theirs, "cli_help": {...},
        "cli_status": {...}, "python_startup": {...}}``, times in ms.
    """
    results = {}
    for client, statement in STATEMENTS.items():
        if client == "swifttools" and python is None and not have_swifttools():
            results[client] = {"statement": statement, "skipped": SWIFTTOOLS_MISSING}
            continue
        import_time(statement, python)  # untimed: fills the OS file cache and writes .pyc files
        samples = [import_time(statement, python) for _ in range(repeats)]
        results[client] = {"statement": statement, **summary(samples)}
    if "median" in results.get("swifttools", {}):
        results["ratio"] = results["xrtprods_astro"]["median"] / results["swifttools"]["median"]
        results["floor_ratio"] = results["astroquery.query"]["median"] / results["swifttools"]["median"]
    if cli:
        results["python_startup"] = summary([command_time([sys.executable, "-c", "pass"])
                                             for _ in range(repeats)])
        command_time(_cli() + ["--help"])
        results["cli_help"] = summary([command_time(_cli() + ["--help"]) for _ in range(repeats)])
        with tempfile.TemporaryDirectory(prefix="xrtprods-bench-cli-", dir=workdir) as tmp, \
                ServiceProcess(Path(tmp) / "service", job_duration=0) as svc:
            job_id = submit_job(svc.url, svc.email).job_id
            argv = _cli() + ["--server", svc.url, "--email", svc.email, "status", str(job_id)]
            command_time(argv)
            results["cli_status"] = summary([command_time(argv) for _ in range(repeats)])
    return results


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for name, entry in run(n).items():
        print(name, entry)
