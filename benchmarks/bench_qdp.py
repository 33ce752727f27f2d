# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: `xrtprods_astro.readers.qdp.read_qdp` against astropy's ``ascii.qdp``.

A synthetic UKSSDC-like file (15 tab-separated columns, ``READ TERR 1 2``,
``READ SERR 4``, three labelled sections separated by ``NO`` lines, i.e. a
file both readers accept) is read completely: one call of ``read_qdp``, one
``Table.read(..., table_id=i)`` per section for astropy. Each measurement is
repeated; the table gives the median and the spread (min-max) in ms.

Run ``python benchmarks/bench_qdp.py [repeats]``; or import `run`.
"""
import statistics
import sys
import time
import warnings

import numpy as np
from astropy.table import Table

from xrtprods_astro.readers.qdp import read_qdp

SIZES = (100, 1000, 10000)
COLUMNS = ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg", "FracExp", "BGrate", "BGerr",
           "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]


def make_file(rows, sections=3, seed=1):
    """Text of a 15-column, ``sections``-section QDP file with ``rows`` rows per section."""
    rng = np.random.default_rng(seed)
    parts = [" ! Synthetic Swift-XRT light curve", " ! T0 = 608713541.952", "",
             "READ TERR 1 2", "READ SERR 4"]
    for k, label in enumerate(["WT data", "PC data", "PC Upper limit"][:sections]):
        if k:
            parts.append("\t".join(["NO"] * len(COLUMNS)))
        parts.append(f"! {label}")
        parts.append("!" + "\t".join(COLUMNS))
        values = rng.uniform(0.001, 1000.0, size=(rows, len(COLUMNS)))
        values[:, 10] = np.round(values[:, 10])
        parts.extend("\t".join(f"{v:.6g}" for v in row) for row in values)
    return "\n".join(parts) + "\n"


def _time(func, repeats):
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def _astropy_all(text, sections):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [Table.read(text, format="ascii.qdp", table_id=i) for i in range(sections)]


def run(repeats=5, sizes=SIZES, sections=3):
    """Time both readers; return one dict per size.

    Parameters
    ----------
    repeats : int
        Timed repetitions per reader and size (one untimed warm-up first).
    sizes : sequence of int
        Rows per section.
    sections : int
        Sections per file.

    Returns
    -------
    list of dict
        Keys ``rows_per_section``, ``file_kb``, ``ours_ms`` / ``astropy_ms``
        (medians), ``ours_spread_ms`` / ``astropy_spread_ms`` ((min, max)),
        and ``ratio`` (astropy median / ours median).
    """
    results = []
    for rows in sizes:
        text = make_file(rows, sections)
        ours_result = read_qdp(text)
        theirs_result = _astropy_all(text, sections)
        # Same numbers from both readers, or the timing means nothing.
        for mine, theirs in zip(ours_result, theirs_result):
            np.testing.assert_allclose(np.asarray(mine.table["Rate"]), np.asarray(theirs["col2"]))
        ours = _time(lambda: read_qdp(text), repeats)
        astro = _time(lambda: _astropy_all(text, sections), repeats)
        results.append({
            "rows_per_section": rows,
            "file_kb": len(text.encode()) / 1024.0,
            "ours_ms": statistics.median(ours),
            "ours_spread_ms": (min(ours), max(ours)),
            "astropy_ms": statistics.median(astro),
            "astropy_spread_ms": (min(astro), max(astro)),
            "ratio": statistics.median(astro) / statistics.median(ours),
        })
    return results


def format_table(results):
    """The results as a fixed-width text table."""
    head = (f"{'rows/section':>12} {'file kB':>9} {'read_qdp ms (min-max)':>26} "
            f"{'astropy ms (min-max)':>28} {'ratio':>7}")
    lines = [head, "-" * len(head)]
    for r in results:
        o, a = r["ours_spread_ms"], r["astropy_spread_ms"]
        lines.append(f"{r['rows_per_section']:>12} {r['file_kb']:>9.0f} "
                     f"{r['ours_ms']:>9.1f} ({o[0]:.1f}-{o[1]:.1f}){'':>3} "
                     f"{r['astropy_ms']:>10.1f} ({a[0]:.1f}-{a[1]:.1f}) {r['ratio']:>7.1f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    table = run(repeats=n)
    print(format_table(table))
    print(f"\nastropy ascii.qdp (all sections) / read_qdp at {table[-1]['rows_per_section']} rows "
          f"per section: {table[-1]['ratio']:.1f}x (target >= 10x)")
