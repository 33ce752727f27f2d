# Licensed under a 3-clause BSD style license - see LICENSE
"""
Shared helpers of the benchmarks: timing with median and spread, the machine
description, and whether swifttools can be imported.
"""
import contextlib
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import time

__all__ = ["measure", "summary", "machine_info", "have_swifttools", "SWIFTTOOLS_MISSING"]

#: The note written in place of a comparison that needs swifttools when it is not installed.
SWIFTTOOLS_MISSING = ("skipped: swifttools is not installed in this Python (pip install "
                      "'xrtprods_astro[bench]' in a separate virtualenv, see docs/performance.rst)")


def summary(samples):
    """Median and spread (min, max) of a list of samples."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples),
            "n": len(samples)}


def measure(func, repeats, warmup=1):
    """Call ``func`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns
    -------
    samples : list of float
        Wall time of each timed call, in ms.
    last : object
        What the last call returned.
    """
    last = None
    for _ in range(warmup):
        last = func()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        last = func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples, last


def have_swifttools():
    """Whether ``swifttools.ukssdc.xrt_prods`` can be found in this Python."""
    try:
        return importlib.util.find_spec("swifttools") is not None
    except (ImportError, ValueError):
        return False


def _version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - not installed, or no metadata
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 1024 ** 3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info():
    """A description of the machine and software the benchmarks ran on."""
    try:
        load = os.getloadavg()
    except (OSError, AttributeError):
        load = None
    packages = ("xrtprods_astro", "astropy", "astroquery", "numpy", "requests", "swifttools", "pandas",
                "matplotlib")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "load_average_at_start": None if load is None else [round(x, 2) for x in load],
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "packages": {name: _version(name) for name in packages},
        "commit": _commit(),
    }


def _commit():
    """The git commit of the code measured (``+dirty`` with uncommitted changes), or None.

    An editable install's version is the one of the commit it was installed at, not of the
    code it runs: the commit says what was measured. The results folder is not code: a run
    merged into recorded results (``run.py --merge``) starts with them changed.
    """
    import subprocess
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short=9", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                "--", "xrtprods_astro", "benchmarks", ":(exclude)benchmarks/results"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


# -- fresh child processes ------------------------------------------------------------------
# Peak memory is only meaningful in a process that did nothing else before: the parent of a
# benchmark has already read files, started services and built tables, so its high-water mark
# hides the growth of one more operation. Every memory figure therefore comes from a child.
HERE = os.path.dirname(os.path.abspath(__file__))
_RESULT_MARK = "@@BENCH-RESULT@@ "


def quiet_package():
    """Set the package's logger to ERROR: progress and INFO lines would flood the output, and the
    light-curve sections read answers without their lc/t0.date on purpose, thousands of times, each
    of which warns that its times are uncorrected."""
    import logging
    import warnings
    logging.getLogger("xrtprods_astro").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def _status_kb(field, pid="self"):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mb(pid="self"):
    """Current resident set size (VmRSS) of a process, in MB."""
    return _status_kb("VmRSS", pid) / 1024.0


def peak_mb(pid="self"):
    """Peak resident set size (VmHWM) of a process, in MB."""
    return _status_kb("VmHWM", pid) / 1024.0


def reset_peak(pid="self"):
    """Reset the peak RSS of a process to its current RSS; returns the baseline in MB.

    Linux resets VmHWM when "5" is written to ``/proc/<pid>/clear_refs``. Where that is not possible the
    baseline is the current peak, so the growth measured from it is a lower bound.
    """
    import gc
    if pid == "self":
        gc.collect()
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
        return rss_mb(pid)
    except OSError:
        return peak_mb(pid)


def cpu_seconds():
    """User + system CPU time of this process (every thread), in s."""
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_child(module, func, timeout=900, **kwargs):
    """Call ``module.func(**kwargs)`` in a fresh Python and return what it returned (JSON-able).

    The child puts ``benchmarks/`` on its path, quiets the package's logging and prints its result as
    one JSON line; a failure raises `RuntimeError` with the child's stderr.
    """
    import json
    import subprocess
    code = ("import sys, json; sys.path.insert(0, {here!r}); import _util; _util.quiet_package(); "
            "import {module} as m; _util.quiet_package(); "
            "r = m.{func}(**json.loads(sys.stdin.read())); print({mark!r} + json.dumps(r))"
            ).format(here=HERE, module=module, func=func, mark=_RESULT_MARK)
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(kwargs), capture_output=True,
                          text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_RESULT_MARK):
            return json.loads(line[len(_RESULT_MARK):])
    raise RuntimeError(f"{module}.{func} failed in a child process (exit {proc.returncode}):\n"
                       f"{proc.stderr[-3000:]}")


def load_average():
    """The 1, 5 and 15 minute load averages, rounded, or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def own_cores(cores):
    """Run this process on ``cores`` only (a set of CPU numbers; None or no support: as it is).

    The client and the service then never share a core: on a 2-core machine, which process lands
    on which core otherwise moves a client's CPU per job by 10-20 % from one process to the next.
    """
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cores))


def split_cores():
    """(client cores, service cores): the last core for the service, the others for the client."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return available[:-1], available[-1:]


class RequestCounter:
    """Counts the HTTP requests of this process (``requests``' adapter, used by both clients)."""

    def __init__(self):
        import requests.adapters
        self.count = 0
        self._adapter = requests.adapters.HTTPAdapter
        self._send = self._adapter.send
        counter = self

        def send(adapter, request, *args, **kwargs):
            counter.count += 1
            return counter._send(adapter, request, *args, **kwargs)
        self._adapter.send = send


@contextlib.contextmanager
def swifttools_at(url):
    """swifttools' ``APIURL`` pointed at ``url`` (the local service) for the ``with`` block."""
    import warnings
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import swifttools.ukssdc.main as st_main
    old = st_main.APIURL
    st_main.APIURL = f"{url}/API/main.php"
    try:
        yield
    finally:
        st_main.APIURL = old
