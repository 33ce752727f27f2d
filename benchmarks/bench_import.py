# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: cold import time of ``xrtprods_astro`` and of ``swifttools.ukssdc.xrt_prods``.

Every sample is a fresh Python subprocess that times the import statement
itself (``time.perf_counter`` around ``import ...``), so the figure excludes
the interpreter's own start-up but includes everything the package pulls in
(astropy and astroquery for us; pandas and requests for swifttools). The OS
file cache is warm after the first sample, which is the usual case for a user.

Run ``python benchmarks/bench_import.py [repeats]``; or import `run`.
"""
import subprocess
import sys

from _util import SWIFTTOOLS_MISSING, have_swifttools, summary

MODULES = {"xrtprods_astro": "xrtprods_astro", "swifttools": "swifttools.ukssdc.xrt_prods"}

_SNIPPET = ("import time, warnings\nwarnings.simplefilter('ignore')\nt = time.perf_counter()\n"
            "import {module}\nprint((time.perf_counter() - t) * 1000.0)\n")


def import_time(module, python=None):
    """Import ``module`` in a fresh interpreter; the import's wall time in ms."""
    out = subprocess.run([python or sys.executable, "-c", _SNIPPET.format(module=module)],
                         capture_output=True, text=True, check=True, timeout=120)
    return float(out.stdout.strip().splitlines()[-1])


def run(repeats=5, python=None):
    """Time cold imports of both packages.

    Returns
    -------
    dict
        ``{client: {"module", "median", "min", "max", "n"}}`` in ms, or
        ``{client: {"module", "skipped": reason}}``; plus ``"ratio"`` (swifttools
        median / ours) when both ran.
    """
    results = {}
    for client, module in MODULES.items():
        if client == "swifttools" and python is None and not have_swifttools():
            results[client] = {"module": module, "skipped": SWIFTTOOLS_MISSING}
            continue
        import_time(module, python)  # untimed: fills the OS file cache and writes .pyc files
        samples = [import_time(module, python) for _ in range(repeats)]
        results[client] = {"module": module, **summary(samples)}
    if "median" in results.get("swifttools", {}):
        results["ratio"] = results["swifttools"]["median"] / results["xrtprods_astro"]["median"]
    return results


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for name, entry in run(n).items():
        print(name, entry)
