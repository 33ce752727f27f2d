# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: reading QDP light curves, `xrtprods_astro.readers.qdp.read_qdp` against
``numpy.loadtxt``, ``pandas.read_csv`` and astropy's ``ascii.qdp`` on the same file.

The files have the layout of a real UKSSDC ``curve.qdp`` (tests/data/real/
jracusin__GRBfits/GRBs/GRB060403/curve.qdp): the `` ! `` header block,
``READ TERR 1 2``, then per section a ``! WT data`` label, a ``!Time ...``
column line and tab-separated rows of six columns (``%.3f`` times,
``%.6e`` rates), sections separated by ``NO`` lines (five, then six before the
last section, as UKSSDC writes them). *Single-section* files hold one ``WT
data`` section; *multi-section* files the four sections of the real file
(WTSLEW, WT, PC, PC Upper limit) sharing the rows 5/45/45/5 %.

Every reader reads the whole file (every section) in a fresh child process, so
that its peak memory growth (peak RSS minus the RSS after imports) is its own:

* ours: ``read_qdp(path)``;
* ``numpy.loadtxt(path, comments=("!", "NO", "READ"))`` (the QDP commands and
  separators as comments, every section into one array);
* ``pandas.read_csv(path, sep=r"\\s+", comment="!", header=None,
  skiprows=<the header block, READ and NO lines>, dtype="float64")``;
* astropy: ``Table.read(path, format="ascii.qdp", table_id=i)`` for each
  section (astropy reads one table per call); capped at `ASTROPY_MAX_ROWS`
  rows because it takes minutes beyond.

Run ``python benchmarks/bench_qdp.py [--quick]``; or import `run`.
"""
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _util import in_child  # noqa: E402

SIZES = (100, 1000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (100, 1000)
ASTROPY_MAX_ROWS = 100_000
READERS = ("xrtprods", "numpy", "pandas", "astropy")
LABELS = ("WTSLEW data", "WT data", "PC data", "PC Upper limit")
SHARES = (0.05, 0.45, 0.45, 0.05)
_HEADER = [
    " ! Swift/XRT lightcurve of trigger: 203755, name: GRB 060403",
    " ! T0 for this burst is Swift MET=165762738.2 s, = 2006 Apr 03 at 13:12:17.130 UT",
    " ! Data covers 0.3-10 keV",
    " ! The data are in 5 columns:  ! time, time error (+ve), time error (-ve), source count-rate, "
    "source error",
    " ! For a detailed description of light curve production, see Evans et al. 2007 (A&A, 469, 379 )",
    " ! For a detailed description of the file, see",
    " ! http://www.swift.ac.uk/xrt_curves/docs.php",
    " ! This lightcurve was obtained from http://www.swift.ac.uk/xrt_curves/00203755",
    " ! BINMODE: GRB-like (counts)",
    "",
    "READ TERR 1 2",
]
_COLUMN_LINE = "!Time    \tT_+ve   \tT_-ve   \tRate    \tRatepos \tRateneg "
_FMT = ("%.3f", "%.3f", "%.3f", "%.6e", "%.6e", "%.6e")


def _split(rows, sections):
    if sections == 1:
        return [rows]
    counts = [max(1, int(rows * share)) for share in SHARES[:sections]]
    counts[-1] = rows - sum(counts[:-1])
    return counts


def make_file(path, rows, sections=1, seed=1):
    """Write a curve.qdp-like file of ``rows`` data rows in ``sections`` (1 or 4) sections.

    Returns
    -------
    dict
        ``path``, ``rows``, ``sections``, ``bytes`` and ``skip_lines`` (0-based numbers of the
        header block, ``READ`` and ``NO`` lines, which pandas is told to skip: with ``sep=r"\\s+"``
        its ``comment`` does not drop the header's `` ! `` lines, which start with a blank).
    """
    if sections not in (1, 4):
        raise ValueError(f"sections: {sections!r} is not allowed; allowed: 1, 4")
    rng = np.random.default_rng(seed)
    labels = ("WT data",) if sections == 1 else LABELS
    lineno = len(_HEADER)
    skip = list(range(len(_HEADER)))
    t = 40.0
    with open(path, "w") as out:
        out.write("\n".join(_HEADER) + "\n")
        for k, (label, n) in enumerate(zip(labels, _split(rows, sections))):
            if k:
                out.write("\t".join(["NO"] * (6 if k == sections - 1 else 5)) + "\n")
                skip.append(lineno)
                lineno += 1
            out.write(f"! {label}\n{_COLUMN_LINE}\n")
            lineno += 2
            step = rng.uniform(1.0, 3.0, n)
            times = t + np.cumsum(step)
            t = float(times[-1]) + 1.0
            rate = rng.uniform(0.01, 30.0, n)
            err = rate * rng.uniform(0.05, 0.3, n)
            block = np.column_stack([times, step / 2, -step / 2, rate, err, -err])
            np.savetxt(out, block, fmt=_FMT, delimiter="\t")
            lineno += n
    return {"path": str(path), "rows": rows, "sections": sections, "bytes": os.path.getsize(path),
            "skip_lines": skip}


# -- in the child process --------------------------------------------------------------------
def _reader(name, path, sections, skip_lines):
    """A no-argument function reading the file with ``name``, returning the rows it read."""
    if name == "xrtprods":
        from xrtprods_astro.readers.qdp import read_qdp
        return lambda: sum(len(s.table) for s in read_qdp(path))
    if name == "numpy":
        return lambda: np.loadtxt(path, comments=("!", "NO", "READ")).shape[0]
    if name == "pandas":
        import pandas as pd
        return lambda: len(pd.read_csv(path, sep=r"\s+", comment="!", header=None, skiprows=skip_lines,
                                       dtype="float64"))
    if name == "astropy":
        import warnings
        from astropy.table import Table

        def read_all():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return sum(len(Table.read(path, format="ascii.qdp", table_id=i)) for i in range(sections))
        return read_all
    raise ValueError(f"reader: {name!r} is not known; allowed: {', '.join(READERS)}")


def child_read(reader, path, sections, skip_lines, repeats=5, budget_s=3.0):
    """Read the file with one reader: memory of the first call, wall time of up to ``repeats`` calls
    (fewer once ``budget_s`` is spent, but two unless the first took 15 s or more)."""
    import _util
    func = _reader(reader, path, sections, skip_lines)
    baseline = _util.reset_peak()
    start = time.perf_counter()
    rows = func()
    samples = [time.perf_counter() - start]
    growth = _util.peak_mb() - baseline
    # A second read when the first took under 15 s: the first also pays first-call costs.
    while len(samples) < repeats and (sum(samples) < budget_s or (len(samples) < 2 and samples[0] < 15)):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return {"rows_read": int(rows), "ms": [s * 1000.0 for s in samples], "peak_growth_mb": growth}


# -- in the parent -----------------------------------------------------------------------------
def _entry(raw, rows):
    # The first call also measured memory and paid first-call costs; the median is of the others.
    ms = statistics.median(raw["ms"][1:] or raw["ms"])
    return {"ms": ms, "us_per_row": ms * 1000.0 / rows, "n": len(raw["ms"]), "min_ms": min(raw["ms"]),
            "max_ms": max(raw["ms"]), "peak_growth_mb": raw["peak_growth_mb"], "rows_read": raw["rows_read"]}


def run(sizes=SIZES, repeats=5, astropy_max_rows=ASTROPY_MAX_ROWS, workdir=None):
    """Read files of each size and layout with every reader, each in its own child process.

    Returns
    -------
    dict
        ``{"single": [row, ...], "multi": [row, ...], "settings": {...}}``; a row has ``rows``,
        ``file_mb``, one entry per reader (``ms`` median, ``us_per_row``, ``peak_growth_mb``, ``n``...,
        or ``{"skipped": reason}``: astropy above ``astropy_max_rows``, pandas when it is not
        installed) and the ratios ``vs_numpy``, ``vs_pandas``, ``vs_astropy`` (our
        time over theirs; for astropy per table, i.e. over its time for all tables divided by the
        number of sections) and ``memory_over_file`` (our peak growth over the file size).
    """
    out = {"settings": {"sizes": list(sizes), "repeats": repeats, "astropy_max_rows": astropy_max_rows,
                        "layout": "UKSSDC curve.qdp: 6 tab-separated columns, READ TERR 1 2"}}
    with tempfile.TemporaryDirectory(prefix="xrtprods-bench-qdp-", dir=workdir) as tmp:
        for layout, sections in (("single", 1), ("multi", 4)):
            table = out[layout] = []
            for rows in sizes:
                meta = make_file(Path(tmp) / f"{layout}_{rows}.qdp", rows, sections)
                row = {"rows": rows, "sections": sections, "file_mb": meta["bytes"] / 2**20}
                for reader in READERS:
                    if reader == "pandas" and importlib.util.find_spec("pandas") is None:
                        row[reader] = {"skipped": "pandas is not installed (the bench extra has it)"}
                        continue
                    if reader == "astropy" and rows > astropy_max_rows:
                        row[reader] = {"skipped": f"not run above {astropy_max_rows} rows (minutes per file)"}
                        continue
                    raw = in_child("bench_qdp", "child_read", reader=reader, path=meta["path"],
                                   sections=sections, skip_lines=meta["skip_lines"], repeats=repeats)
                    if raw["rows_read"] != rows:
                        raise RuntimeError(f"{reader} read {raw['rows_read']} rows of {rows} "
                                           f"({layout}-section file)")
                    row[reader] = _entry(raw, rows)
                ours = row["xrtprods"]["ms"]
                row["vs_numpy"] = ours / row["numpy"]["ms"]
                if "ms" in row["pandas"]:
                    row["vs_pandas"] = ours / row["pandas"]["ms"]
                if "ms" in row["astropy"]:
                    row["astropy"]["ms_per_table"] = row["astropy"]["ms"] / sections
                    row["vs_astropy"] = ours / row["astropy"]["ms_per_table"]
                    row["vs_astropy_all_tables"] = ours / row["astropy"]["ms"]
                row["memory_over_file"] = row["xrtprods"]["peak_growth_mb"] / row["file_mb"]
                table.append(row)
                os.unlink(meta["path"])
        for layout in ("single", "multi"):
            per_row = {r["rows"]: r["xrtprods"]["us_per_row"] for r in out[layout]}
            if 1000 in per_row and max(per_row) > 1000:
                out[layout + "_per_row_growth"] = per_row[max(per_row)] / per_row[1000]
    return out


def format_table(result):
    """The results as fixed-width text tables, one per layout."""
    lines = []
    for layout in ("single", "multi"):
        lines.append(f"{layout}-section files: us/row (peak growth MB); ratios ours / theirs")
        lines.append(f"{'rows':>8} {'MB':>7} {'ours':>16} {'numpy':>16} {'pandas':>16} {'astropy':>16} "
                     f"{'/numpy':>7} {'/astropy':>8}")
        for r in result[layout]:
            cells = []
            for reader in READERS:
                e = r[reader]
                cells.append(f"{e['us_per_row']:>7.2f} ({e['peak_growth_mb']:>6.1f})" if "ms" in e
                             else f"{'-':>16}")
            astro = f"{r['vs_astropy']:>8.3f}" if "vs_astropy" in r else f"{'-':>8}"
            lines.append(f"{r['rows']:>8} {r['file_mb']:>7.1f} " + " ".join(cells)
                         + f" {r['vs_numpy']:>7.2f} {astro}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(format_table(run(sizes=QUICK_SIZES if quick else SIZES, repeats=2 if quick else 5)))
