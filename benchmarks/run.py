# Licensed under a 3-clause BSD style license - see LICENSE
"""
Run every benchmark of xrtprods_astro and write the results.

Usage::

    python benchmarks/run.py [--quick] [--repeats N] [--only NAMES] [--output PATH] [--no-plot]

Sections: ``import`` (cold import, ours vs swifttools), ``qdp`` (read_qdp vs
astropy ascii.qdp), ``lcjson`` (getLCData answer to tables, ours vs
swifttools), ``job`` (a complete job and the cache, ours vs swifttools, against
the local service), ``batch`` (makespan and memory of a batch run, from
``benchmarks/bench_batch.py`` when present). Comparisons with swifttools are
skipped, with a note, when it is not installed.

``--output`` names the results file: ``.md`` (default
``benchmarks/results/results.md``), ``.rst`` or ``.ecsv``; a ``.json`` file
with every figure and a ``.png`` plot (if matplotlib is installed) are written
next to it.
"""
import argparse
import importlib
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _util import SWIFTTOOLS_MISSING, machine_info  # noqa: E402

SECTIONS = ("import", "qdp", "lcjson", "job", "batch")
QUICK = {"repeats": 2, "qdp_sizes": (100, 1000), "lcjson_sizes": (100, 1000)}


def run_section(name, repeats, quick):
    """Run one section; returns its result (a dict or list) or ``{"skipped": reason}``."""
    if name == "import":
        import bench_import
        return bench_import.run(repeats)
    if name == "qdp":
        import bench_qdp
        sizes = QUICK["qdp_sizes"] if quick else bench_qdp.SIZES
        return bench_qdp.run(repeats=repeats, sizes=sizes)
    if name == "lcjson":
        import bench_lcjson
        sizes = QUICK["lcjson_sizes"] if quick else bench_lcjson.SIZES
        return bench_lcjson.run(repeats=repeats, sizes=sizes)
    if name == "job":
        import bench_job
        return bench_job.run(repeats=repeats)
    if name == "batch":
        if not (HERE / "bench_batch.py").exists():
            return {"skipped": "benchmarks/bench_batch.py is not there yet"}
        bench_batch = importlib.import_module("bench_batch")
        try:
            return bench_batch.run(quick=quick)
        except TypeError:  # a run() without a quick option
            return bench_batch.run()
    raise ValueError(f"section: {name!r} is not a benchmark; allowed: {', '.join(SECTIONS)}")


def run_all(sections=SECTIONS, repeats=None, quick=False):
    """Run the sections.

    Returns
    -------
    dict
        ``{"machine": ..., "options": ..., "results": {name: ...}, "seconds": ...}``.
    """
    if repeats is None:
        repeats = QUICK["repeats"] if quick else 7
    report = {"machine": machine_info(), "options": {"repeats": repeats, "quick": quick,
                                                     "sections": list(sections)}, "results": {}}
    start = time.perf_counter()
    # Progress messages of the package and its local service would drown the results.
    logger = logging.getLogger("xrtprods_astro")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        for name in sections:
            t0 = time.perf_counter()
            report["results"][name] = run_section(name, repeats, quick)
            report.setdefault("section_seconds", {})[name] = round(time.perf_counter() - t0, 1)
    finally:
        logger.setLevel(level)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


# -- output ---------------------------------------------------------------------------------
def _ms(entry):
    if not isinstance(entry, dict) or "median" not in entry:
        reason = entry.get("skipped", "n/a") if isinstance(entry, dict) else "n/a"
        return "skipped: no swifttools" if reason == SWIFTTOOLS_MISSING else reason
    return f"{entry['median']:.1f} ({entry['min']:.1f}-{entry['max']:.1f})"


def _ratio(value):
    return "n/a" if value is None else f"{value:.1f}x"


def rows(report):
    """Flatten the results to rows ``(benchmark, case, ours, alternative, ratio, note)``.

    ``ours`` and ``alternative`` read "median (min-max)" in ms, or why they were skipped; ``ratio`` is
    the alternative's median over ours (above 1: ours is faster).
    """
    out = []
    res = report["results"]
    if "import" in res:
        r = res["import"]
        out.append(("cold import", "fresh subprocess", _ms(r.get("xrtprods_astro")),
                    _ms(r.get("swifttools")), _ratio(r.get("ratio")), "vs swifttools.ukssdc.xrt_prods"))
    if "qdp" in res and isinstance(res["qdp"], list):
        for r in res["qdp"]:
            out.append(("QDP light curve", f"{r['rows_per_section']} rows x 3 sections",
                        _ms({"median": r["ours_ms"], "min": r["ours_spread_ms"][0],
                             "max": r["ours_spread_ms"][1]}),
                        _ms({"median": r["astropy_ms"], "min": r["astropy_spread_ms"][0],
                             "max": r["astropy_spread_ms"][1]}),
                        _ratio(r["ratio"]), "vs astropy ascii.qdp, all sections"))
    if "lcjson" in res and isinstance(res["lcjson"], list):
        for r in res["lcjson"]:
            out.append(("getLCData to tables", f"{r['rows_per_dataset']} rows x 3 datasets", _ms(r["ours"]),
                        _ms(r["swifttools"]), _ratio(r.get("ratio")), "vs swifttools _handleLightCurve"))
    if "job" in res:
        r = res["job"]
        ours, theirs = r.get("ours", {}), r.get("swifttools", {})
        out.append(("complete job", "submit, wait, LC + fits + position", _ms(ours.get("job")),
                    _ms(theirs.get("job")) if "job" in theirs else _ms(theirs), _ratio(r.get("ratio")),
                    f"HTTP requests: ours {ours.get('job_requests_total')}, "
                    f"swifttools {theirs.get('job_requests_total', 'n/a')}"))
        for key, label in (("first_retrieval", "first retrieval"), ("repeat_retrieval", "repeat retrieval")):
            ratio = None
            if key in theirs and key in ours:
                ratio = theirs[key]["median"] / ours[key]["median"]
            out.append(("cache", f"{label}: LC + fits + position", _ms(ours.get(key)),
                        _ms(theirs.get(key)) if key in theirs else _ms(theirs), _ratio(ratio),
                        f"HTTP requests: ours {ours.get(key + '_requests')}, "
                        f"swifttools {theirs.get(key + '_requests', 'n/a')}"))
    if "batch" in res:
        r = res["batch"]
        if isinstance(r, dict) and "skipped" in r:
            out.append(("batch", "makespan and memory", "n/a", "n/a", "n/a", r["skipped"]))
        elif isinstance(r, dict) and "makespan_s" in r:
            out.append(("batch", f"{r.get('n_targets')} jobs of {r.get('job_duration_s')} s, "
                        f"{r.get('max_active')} active", f"makespan {r['makespan_s'] * 1000:.0f}",
                        f"ideal {r.get('ideal_s', float('nan')) * 1000:.0f}",
                        f"{r.get('makespan_ratio', float('nan')):.2f} (makespan / ideal)",
                        f"{r.get('requests_per_job', float('nan')):.1f} requests per job"))
            if "archive_mb" in r:
                out.append(("batch", f"download of a {r['archive_mb']:.0f} MB archive",
                            f"{r.get('download_s', float('nan')) * 1000:.0f}", "", "",
                            f"traced peak memory {r.get('traced_peak_mb', float('nan')):.1f} MB"))
        else:
            out.append(("batch", "makespan and memory", "see JSON", "", "", json.dumps(r, default=str)[:200]))
    return out


_HEAD = ("benchmark", "case", "ours ms: median (min-max)", "alternative ms: median (min-max)",
         "alternative / ours", "note")


def _skipped_swifttools(report):
    return SWIFTTOOLS_MISSING in json.dumps(report["results"], default=str)


def _machine_lines(report):
    m = report["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    return [f"Date: {m['date']}", f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
            f"{m['platform']}; load average at start {m['load_average_at_start']}",
            f"Python: {m['python']}", f"Packages: {pk}",
            f"Options: repeats {report['options']['repeats']}, quick {report['options']['quick']}; "
            f"took {report['seconds']} s"]


def to_markdown(report):
    """The results as a Markdown document."""
    lines = ["# xrtprods_astro benchmarks", ""] + [f"- {x}" for x in _machine_lines(report)] + [""]
    lines.append("| " + " | ".join(_HEAD) + " |")
    lines.append("|" + "---|" * len(_HEAD))
    for row in rows(report):
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in row) + " |")
    if _skipped_swifttools(report):
        lines += ["", "Comparisons with swifttools were " + SWIFTTOOLS_MISSING + "."]
    return "\n".join(lines) + "\n"


def to_rst(report):
    """The results as a reStructuredText document (a list-table)."""
    lines = ["xrtprods_astro benchmarks", "=========================", ""]
    lines += [f"- {x}" for x in _machine_lines(report)] + ["", ".. list-table::", "   :header-rows: 1", ""]
    for row in [_HEAD] + rows(report):
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {c}" for c in row[1:])
    return "\n".join(lines) + "\n"


def to_table(report):
    """The results as an astropy Table, machine description in its meta."""
    from astropy.table import Table
    names = ("benchmark", "case", "ours_ms", "alternative_ms", "ratio", "note")
    data = rows(report)
    table = Table(rows=data or None, names=names, dtype=[str] * len(names))
    table.meta.update({"machine": report["machine"], "options": report["options"]})
    return table


def plot(report, path):
    """A bar chart of the alternative / ours ratios (log scale); returns the path or None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels, ratios = [], []
    for row in rows(report):
        if row[4].endswith("x") and row[4] != "n/a":
            labels.append(f"{row[0]}\n{row[1]}")
            ratios.append(float(row[4][:-1]))
    if not ratios:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(ratios) + 1.5))
    ax.barh(range(len(ratios)), ratios, color=["tab:green" if r >= 1 else "tab:red" for r in ratios])
    ax.axvline(1.0, color="k", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(ratios)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("alternative time / xrtprods_astro time (>1: xrtprods_astro faster)")
    ax.set_title(f"xrtprods_astro benchmarks, {report['machine']['date']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(report, output, make_plot=True):
    """Write the results file, the JSON and (optionally) the plot; returns the paths written."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    suffix = output.suffix.lower()
    if suffix == ".rst":
        output.write_text(to_rst(report))
    elif suffix == ".ecsv":
        to_table(report).write(output, format="ascii.ecsv", overwrite=True)
    elif suffix == ".md":
        output.write_text(to_markdown(report))
    else:
        raise ValueError(f"--output: {output.name!r} must end in .md, .rst or .ecsv")
    written = [output]
    json_path = output.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    written.append(json_path)
    if make_plot:
        png = plot(report, output.with_suffix(".png"))
        if png is not None:
            written.append(png)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per case (default 7, quick 2)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    parser.add_argument("--output", default=str(HERE / "results" / "results.md"),
                        help="results file: .md, .rst or .ecsv (default benchmarks/results/results.md)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the ratio plot")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: {', '.join(unknown)} not known; allowed: {', '.join(SECTIONS)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    report = run_all(sections, repeats=args.repeats, quick=args.quick)
    paths = write(report, args.output, make_plot=not args.no_plot)
    sys.stdout.write(to_markdown(report))
    sys.stdout.write("\nWritten: " + ", ".join(str(p) for p in paths) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
