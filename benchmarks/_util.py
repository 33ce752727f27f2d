# Licensed under a 3-clause BSD style license - see LICENSE
"""
Shared helpers of the benchmarks: timing with median and spread, the machine
description, and whether swifttools can be imported.
"""
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
    }
