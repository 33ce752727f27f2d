# Licensed under a 3-clause BSD style license - see LICENSE
"""
Run every benchmark of xrtprods_astro and write the results, checked against the targets of issue 15.

Usage::

    python benchmarks/run.py [--quick] [--only NAMES] [--output-dir DIR] [--merge] [--update-docs]

Sections: ``import`` (cold import vs swifttools; ``xrtprods --help`` and
``xrtprods status``), ``qdp`` (read_qdp vs numpy.loadtxt, pandas and astropy,
10^2..10^6 rows, single- and multi-section files), ``lcjson`` (getLCData answer
to tables vs swifttools), ``job`` (client CPU per job vs swifttools; cache hit),
``batch`` (10..5,000 targets: client CPU per target, state-file cost per update,
makespan vs ideal, requests per job), ``download`` (verified download of a
256 MB archive vs curl; client and service memory) and ``service`` (64
concurrent connections) and ``grb`` (one GRB's light curve, spectrum and burst
analyser vs swifttools; 100 GRBs' makespan vs ideal). Every measurement runs in fresh child processes (see
``_util.in_child``); the local service in its own process.

Section ``catalogues``: a 10,000-row catalogue query and 200 positions' upper limits
against swifttools, and catalogue cache hits (issue 22).

Writes ``results.json`` (every figure, the machine and the load), ``results.md``
and ``results.rst`` (the target table and the scaling tables) to the output
directory (default ``benchmarks/results``); ``--update-docs`` also replaces the
results part of ``docs/performance.rst``. ``--merge`` keeps the other sections of
the results already there (``--only grb --merge`` re-runs one section).
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _util import SWIFTTOOLS_MISSING, load_average, machine_info, quiet_package  # noqa: E402

SECTIONS = ("import", "qdp", "lcjson", "job", "batch", "download", "service", "grb", "catalogues")
DOCS = HERE.parent / "docs" / "performance.rst"
DOCS_BEGIN, DOCS_END = ".. benchmark-results-begin", ".. benchmark-results-end"
# Settings of a quick (smoke) run: every section, a few seconds each.
QUICK = {"import": {"repeats": 1}, "qdp": {"sizes": (1000, 2000), "repeats": 1, "astropy_max_rows": 1000},
         "lcjson": {"repeats": 1, "sizes": (100,)}, "job": {"repeats": 1, "rounds": 1},
         "batch": {"sizes": (5, 10), "quick": True}, "download": {"size_mb": 4, "repeats": 1},
         "service": {"connections": 8, "requests_each": 3},
         "grb": {"repeats": 1, "rounds": 1, "n_grbs": 12},
         "catalogues": {"rows": 2500, "rounds": 1, "n_positions": 10, "ul_delay": 0.05, "hits": 5}}
FULL = {"import": {"repeats": 7}, "qdp": {"repeats": 5}, "lcjson": {"repeats": 5}, "job": {"repeats": 7},
        "batch": {}, "download": {"repeats": 3}, "service": {}, "grb": {"repeats": 5, "rounds": 3},
        "catalogues": {"rows": 10_000, "rounds": 3, "n_positions": 200, "ul_delay": 0.5, "hits": 20}}


def run_section(name, quick=False):
    """Run one section with its quick or full settings; returns its result dict (or list)."""
    options = dict((QUICK if quick else FULL)[name])
    if name == "import":
        import bench_import
        return bench_import.run(**options)
    if name == "qdp":
        import bench_qdp
        return bench_qdp.run(**options)
    if name == "lcjson":
        import bench_lcjson
        return bench_lcjson.run(**options)
    if name == "job":
        import bench_job
        return bench_job.run(**options)
    if name == "batch":
        import bench_batch
        return bench_batch.run(**options)
    if name == "download":
        import bench_download
        return bench_download.run(**options)
    if name == "service":
        import bench_service
        return bench_service.run(**options)
    if name == "grb":
        import bench_grb
        return bench_grb.run(**options)
    if name == "catalogues":
        import bench_catalogues
        return bench_catalogues.run(**options)
    raise ValueError(f"section: {name!r} is not a benchmark; allowed: {', '.join(SECTIONS)}")


def merge(previous, report):
    """``previous`` (a results.json) with the sections of ``report`` put in place of its own.

    The machine, date and commit of ``previous`` stay the report's; each merged run is listed in
    ``"merged"`` with its own sections, machine description (date, commit, load at its start) and
    duration (an earlier merged run whose sections are all run again is dropped), and the load
    before each of its sections replaces the old one.
    """
    out = dict(previous)
    out.pop("targets", None)
    sections = list(report["options"]["sections"])
    if report["options"]["quick"] != previous["options"]["quick"]:
        raise ValueError("merge: a quick run and a full run are not merged; run both the same way")
    for key in ("results", "section_seconds", "load"):
        out[key] = dict(previous.get(key, {}))
        for name in sections:
            if name in report.get(key, {}):
                out[key][name] = report[key][name]
    out["options"] = dict(previous["options"], sections=list(dict.fromkeys(
        list(previous["options"]["sections"]) + sections)))
    # A run whose sections have all been run again no longer stands behind any figure.
    out["merged"] = [x for x in previous.get("merged", []) if set(x["sections"]) - set(sections)] + [
        {"sections": sections, "machine": report["machine"], "seconds": report["seconds"],
         "load_end": report["load"].get("end")}]
    return out


def run_all(sections=SECTIONS, quick=False):
    """Run the sections, recording the load average before each.

    Returns
    -------
    dict
        ``{"machine", "options", "results": {name: ...}, "section_seconds", "load": {name: [1, 5, 15 min]},
        "seconds"}``.
    """
    quiet_package()
    report = {"machine": machine_info(), "options": {"quick": quick, "sections": list(sections)},
              "results": {}, "section_seconds": {}, "load": {}}
    start = time.perf_counter()
    for name in sections:
        report["load"][name] = load_average()
        t0 = time.perf_counter()
        report["results"][name] = run_section(name, quick)
        report["section_seconds"][name] = round(time.perf_counter() - t0, 1)
    report["load"]["end"] = load_average()
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report


# -- the targets ---------------------------------------------------------------------------------
def _check(item, measure, ours, alternative, ratio, limit, note=""):
    """One target row; ``limit`` is the largest ratio that meets the target (None: reported only)."""
    status = "n/a" if ratio is None or limit is None or (isinstance(ratio, float) and math.isnan(ratio)) \
        else ("pass" if ratio <= limit else "miss")
    return {"item": item, "measure": measure, "ours": ours, "alternative": alternative,
            "ratio": ratio, "target": None if limit is None else f"<= {limit:g}", "status": status,
            "note": note}


def _largest(rows, key=None):
    rows = [r for r in rows if key is None or key in r]
    return max(rows, key=lambda r: r["rows"]) if rows else None


def _qdp_checks(res):
    out = []
    for layout in ("single", "multi"):
        rows = res.get(layout, [])
        big = _largest(rows)
        if big is None:
            continue
        n = f"{big['rows']:,}"
        out.append(_check(1, f"QDP {layout}-section, {n} rows: time / numpy.loadtxt",
                          f"{big['xrtprods']['ms']:.0f} ms", f"{big['numpy']['ms']:.0f} ms",
                          big["vs_numpy"], 1.5))
        out.append(_check(1, f"QDP {layout}-section, {n} rows: peak memory growth / file size",
                          f"{big['xrtprods']['peak_growth_mb']:.1f} MB", f"{big['file_mb']:.1f} MB file",
                          big["memory_over_file"], 2.0))
        growth = res.get(layout + "_per_row_growth")
        if growth is not None:
            per = {r["rows"]: r["xrtprods"]["us_per_row"] for r in rows}
            out.append(_check(1, f"QDP {layout}-section: per-row cost at {n} / at 1,000 rows",
                              f"{per[big['rows']]:.2f} us/row", f"{per[1000]:.2f} us/row", growth, 1.25,
                              "flat: within 25 % (our reading of the target)"))
        astro = _largest(rows, "vs_astropy")
        if astro is not None:
            out.append(_check(1, f"QDP {layout}-section, {astro['rows']:,} rows: time / astropy per table",
                              f"{astro['xrtprods']['ms']:.1f} ms",
                              f"{astro['astropy']['ms_per_table']:.1f} ms per table", astro["vs_astropy"],
                              0.1 if layout == "single" else None,
                              f"astropy not run above {res['settings']['astropy_max_rows']:,} rows"))
    return out


def _batch_checks(res):
    out = []
    runs = res.get("scaling", [])
    if runs:
        small, big = runs[0], runs[-1]
        span = f"{small['n_targets']:,} to {big['n_targets']:,} targets"
        not_run = "; ".join([f"{x['n_targets']:,} not run: {x['reason']}" for x in res.get("not_run", [])]
                            + [f"{r['n_targets']:,} stopped at its {r['time_limit_s']:.0f} s share of the "
                               f"budget ({r['finished']:,} finished; CPU per finished target)"
                               for r in runs if r.get("timed_out")])
        if "update_ms_mean" in big:
            out.append(_check(2, f"batch: state-file cost per update, {span}",
                              f"{big['update_ms_mean']:.2f} ms", f"{small['update_ms_mean']:.2f} ms",
                              big["update_ms_mean"] / small["update_ms_mean"], 1.25,
                              "constant: within 25 %; " + (not_run or "all sizes run")))
        else:
            out.append(_check(2, f"batch: state-file cost per update, {span}", "not measured", "", None, 1.25,
                              "the state object has no update/save method to time any more"))
        out.append(_check(2, f"batch: client CPU per target, {span}", f"{big['cpu_ms_per_target']:.1f} ms",
                          f"{small['cpu_ms_per_target']:.1f} ms",
                          big["cpu_ms_per_target"] / small["cpu_ms_per_target"], 1.25,
                          "flat: within 25 %; " + (not_run or "all sizes run")))
    span = res.get("makespan")
    if span:
        out.append(_check(2, f"batch makespan / ideal ({span['n_targets']} jobs of "
                          f"{span['job_duration_s']:g} s, {span['max_active']} active)",
                          f"{span['makespan_s']:.1f} s",
                          f"{span['ideal_s']:.1f} s ideal", span["makespan_ratio"], 1.05,
                          f"{span['requests_per_job']:.1f} requests per job at a poll interval of "
                          f"{span['poll_interval_job_durations']:g} job durations"))
    return out


def targets(report):
    """The target table: one dict per check (``item``, ``measure``, ``ours``, ``alternative``,
    ``ratio``, ``target``, ``status`` pass/miss/n/a, ``note``)."""
    res, out = report["results"], []
    if "qdp" in res:
        out += _qdp_checks(res["qdp"])
    if "batch" in res:
        out += _batch_checks(res["batch"])
    if "job" in res:
        r = res["job"]
        ours = r["ours"]
        theirs = r.get("swifttools", {})
        out.append(_check(3, "client CPU per job (all data products) / swifttools",
                          f"{ours['cpu_ms']['median']:.0f} ms",
                          f"{theirs['cpu_ms']['median']:.0f} ms" if "cpu_ms" in theirs
                          else SWIFTTOOLS_MISSING,
                          r.get("ratio"), 1.0, f"requests per job: ours {ours['requests_per_job']:.0f}, "
                          f"swifttools {theirs.get('requests_per_job', 'n/a')}"))
        hit = ours["cache_hit_cpu_ms"]["median"]
        out.append(_check(3, "light-curve cache hit CPU / 10 ms", f"{hit:.1f} ms", "10 ms", hit / 10.0, 1.0))
    if "import" in res:
        r = res["import"]
        theirs = r.get("swifttools", {})
        out.append(_check(4, "cold import / swifttools' import", f"{r['xrtprods_astro']['median']:.0f} ms",
                          f"{theirs['median']:.0f} ms" if "median" in theirs else SWIFTTOOLS_MISSING,
                          r.get("ratio"), 0.5, "from xrtprods_astro import XRTProducts vs "
                          "import swifttools.ukssdc.xrt_prods"))
        if "astroquery.query" in r and "median" in r["astroquery.query"]:
            out.append(_check(4, "floor: import astroquery.query / swifttools' import",
                              f"{r['astroquery.query']['median']:.0f} ms",
                              f"{theirs['median']:.0f} ms" if "median" in theirs else SWIFTTOOLS_MISSING,
                              r.get("floor_ratio"), None,
                              "what any astroquery BaseQuery subclass pays before its own code"))
        for key, label in (("cli_help", "xrtprods --help"), ("cli_status", "xrtprods status N")):
            if key in r:
                ms = r[key]["median"]
                out.append(_check(4, f"{label} wall time / 0.3 s", f"{ms:.0f} ms", "300 ms", ms / 300.0,
                                  1.0, f"python -c pass: {r['python_startup']['median']:.0f} ms"))
    if "download" in res:
        r = res["download"]
        size = f"{r['archive_mb']:.0f} MB"
        out.append(_check(5, f"verified download of a {size} archive / curl", f"{r['ours']['s']:.2f} s",
                          f"{r['curl']['s']:.2f} s" if "s" in r["curl"] else r["curl"]["skipped"],
                          r.get("ratio"), 1.3))
        out.append(_check(5, "download: client peak memory growth / archive size",
                          f"{r['ours']['peak_growth_mb']:.1f} MB", size, r["client_memory_over_archive"], 0.1,
                          "flat: under 10 % of the archive (our reading)"))
        out.append(_check(6, "service: peak RSS growth serving the archive / archive size",
                          f"{r['service_peak_growth_mb']:.1f} MB", size, r["service_memory_over_archive"],
                          0.1,
                          "flat: under 10 % of the archive (our reading)"))
    if "service" in res:
        r = res["service"]
        bad = r["stalls"] + r["errors"]
        out.append(_check(6, f"service: requests stalled > {r['stall_s']} s or failed, {r['connections']} "
                          "concurrent connections", f"{r['stalls']} stalled, {r['errors']} failed",
                          f"of {r['requests']}", bad / r["requests"], 0.0,
                          f"median {r['median_ms']:.1f} ms, max {r['max_ms']:.0f} ms"))
    if "grb" in res:
        out += _grb_checks(res["grb"])
    if "catalogues" in res:
        import bench_catalogues
        out += bench_catalogues.checks(res["catalogues"], _check)
    return out


_GRB_STATES = {"cold": "first session (empty cache folder: name looked up, T0 header read)",
               "warm": "later session (targetID and stated T0 kept in the cache folder)"}


_GRB_PRODUCTS = {"all": "light curve + spectrum + burst analyser, one session"}


def _grb_checks(r):
    """GRB repository rows (issue 21 item 6): per product and state, client CPU, wall time and
    requests per GRB / swifttools' (target <= 1); 100 GRBs' makespan / ideal (target <= 1.1)."""
    out = []
    ours, theirs = r["ours"], r.get("swifttools", {})
    for state, label in _GRB_STATES.items():
        for product in ("lightcurve", "spectrum", "burst", "all"):
            if product not in ours[state]:
                continue   # results of a run from before the end-to-end row
            mine = ours[state][product]
            ratio = r.get("ratios", {}).get(state, {}).get(product, {})
            other = theirs.get(product)
            for key, measure, unit in (("cpu", "client CPU", "cpu_ms"), ("wall", "wall time", "wall_ms"),
                                       ("requests", "requests per GRB", None)):
                if unit:
                    value = f"{mine[unit]['median']:.0f} ms"
                    alt = f"{other[unit]['median']:.0f} ms" if other else SWIFTTOOLS_MISSING
                    note = (f"median of {mine[unit]['n']}; ours {mine[unit]['min']:.0f}-"
                            f"{mine[unit]['max']:.0f} ms" + (f", swifttools {other[unit]['min']:.0f}-"
                                                             f"{other[unit]['max']:.0f} ms" if other else ""))
                else:
                    value = f"{mine['requests_per_grb']:g}"
                    alt = f"{other['requests_per_grb']:g}" if other else SWIFTTOOLS_MISSING
                    note = label
                out.append(_check(21, f"GRB {_GRB_PRODUCTS.get(product, product)}, {state}: {measure} / "
                                  "swifttools", value, alt,
                                  ratio.get(key), 1.0, note))
    many = ours.get("many")
    if many:
        blocks = [_fmt_ratio(b["makespan_ms"] / b["ideal_ms"]) for b in many.get("blocks", [])]
        out.append(_check(21, f"GRB light curves of {many['n_grbs']} GRBs ({many['distinct_grbs']} "
                          "distinct) by one client, one request in flight: makespan / ideal",
                          f"{many['makespan_ms'] / 1000:.2f} s",
                          f"{many['ideal_ms'] / 1000:.2f} s ideal", r.get("many_makespan_over_ideal"), 1.1,
                          f"ideal: the sum of single warm calls; {many['requests']} requests; makespan / "
                          f"swifttools' {_fmt_ratio(r.get('many_vs_swifttools'))}"
                          + (f"; median of blocks {', '.join(blocks)}" if blocks else "")))
    return out


# -- output ------------------------------------------------------------------------------------------
def _fmt_ratio(value):
    return "n/a" if value is None else f"{value:.3g}"


def _machine_lines(report):
    m = report["machine"]
    pk = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    load = ", ".join(f"{k} {v[0]}" for k, v in report["load"].items() if v)
    kind = "quick" if report["options"]["quick"] else "full"
    return [f"Date: {m['date']}; took {report['seconds']} s ({kind} run)",
            f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['platform']}",
            f"Load average (1 min) before each section: {load} (the machine is shared)",
            f"Python: {m['python']}; packages: {pk}"
            + (f"; code at commit {m['commit']}" if m.get("commit") else "")] + [
        f"Sections {', '.join(x['sections'])} run again on {x['machine']['date']}, took {x['seconds']} s"
        + (f", code at commit {x['machine']['commit']}" if x["machine"].get("commit") else "")
        + (f"; load average (1, 5, 15 min) at its start {x['machine']['load_average_at_start']}, at its "
           f"end {x.get('load_end')}" if x["machine"].get("load_average_at_start") else "")
        for x in report.get("merged", [])]


def _target_rows(report):
    head = ("#", "measure", "ours", "alternative", "ratio", "target", "status", "note")
    rows = [(str(c["item"]), c["measure"], c["ours"], c["alternative"], _fmt_ratio(c["ratio"]),
             c["target"] or "-", c["status"], c["note"]) for c in targets(report)]
    return head, rows


def _qdp_rows(report):
    res = report["results"].get("qdp")
    if not isinstance(res, dict):
        return None
    head = ("layout", "rows", "file MB", "ours us/row", "numpy us/row", "pandas us/row", "astropy us/row",
            "ours MB", "numpy MB", "pandas MB", "astropy MB", "ours/numpy", "ours/astropy per table")
    rows = []
    for layout in ("single", "multi"):
        for r in res.get(layout, []):
            cells = [layout, f"{r['rows']:,}", f"{r['file_mb']:.2f}"]
            for key in ("us_per_row", "peak_growth_mb"):
                for reader in ("xrtprods", "numpy", "pandas", "astropy"):
                    e = r[reader]
                    cells.append(f"{e[key]:.2f}" if key in e else "-")
            cells += [f"{r['vs_numpy']:.2f}", f"{r['vs_astropy']:.3f}" if "vs_astropy" in r else "-"]
            rows.append(tuple(cells))
    return head, rows


def _batch_rows(report):
    res = report["results"].get("batch")
    if not isinstance(res, dict):
        return None
    head = ("targets", "job s", "active", "poll (job durations)", "client CPU ms/target", "state update ms",
            "saves/target", "makespan s", "ideal s", "makespan/ideal", "requests/job", "peak RSS growth MB")
    rows = []
    runs = list(res.get("scaling", [])) + ([res["makespan"]] if res.get("makespan") else [])
    for r in runs:
        targets = f"{r['n_targets']:,}"
        if r.get("timed_out"):
            targets += f" (stopped at {r['time_limit_s']:.0f} s, {r['finished']:,} finished)"
        rows.append((targets, f"{r['job_duration_s']:g}", str(r["max_active"]),
                     f"{r['poll_interval_job_durations']:g}", f"{r['cpu_ms_per_target']:.1f}",
                     f"{r['update_ms_mean']:.2f}" if "update_ms_mean" in r else "-",
                     f"{r['saves_per_target']:.1f}" if "saves_per_target" in r else "-",
                     f"{r['makespan_s']:.1f}", f"{r['ideal_s']:.1f}", f"{r['makespan_ratio']:.2f}",
                     f"{r['requests_per_job']:.1f}", f"{r['peak_growth_mb']:.1f}"))
    for x in res.get("not_run", []):
        rows.append((f"{x['n_targets']:,}", "not run: " + x["reason"]) + ("",) * (len(head) - 2))
    return head, rows


def _tables(report):
    out = [("Targets (ratio = ours / alternative; pass when ratio <= target)", _target_rows(report))]
    for title, func in (("QDP scaling (time per row; peak memory growth of a fresh process)", _qdp_rows),
                        ("Batch scaling (fast jobs; the row after them is the makespan run)", _batch_rows)):
        table = func(report)
        if table is not None:
            out.append((title, table))
    return out


def to_markdown(report):
    """The results as a Markdown document."""
    lines = ["# xrtprods_astro benchmarks", ""] + [f"- {x}" for x in _machine_lines(report)]
    for title, (head, rows) in _tables(report):
        lines += ["", f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def to_rst(report, level="-"):
    """The results as reStructuredText (list-tables), section titles underlined with ``level``."""
    lines = [f"- {x}" for x in _machine_lines(report)]
    for title, (head, rows) in _tables(report):
        lines += ["", title, level * len(title), "", ".. list-table::", "   :header-rows: 1", ""]
        for row in [head] + rows:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {c}" if str(c) else "     -" for c in row[1:])
    return "\n".join(lines) + "\n"


def update_docs(report, path=DOCS):
    """Replace the text between the result markers of ``docs/performance.rst`` by the results."""
    text = Path(path).read_text()
    if DOCS_BEGIN not in text or DOCS_END not in text:
        raise ValueError(f"{path} has no {DOCS_BEGIN!r} ... {DOCS_END!r} markers")
    head, rest = text.split(DOCS_BEGIN, 1)
    tail = rest.split(DOCS_END, 1)[1]
    Path(path).write_text(f"{head}{DOCS_BEGIN}\n\n{to_rst(report, level='^')}\n{DOCS_END}{tail}")
    return Path(path)


def write(report, output_dir):
    """Write ``results.json``, ``results.md`` and ``results.rst`` to ``output_dir``; returns the paths."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = dict(report, targets=targets(report))
    paths = [output_dir / "results.json", output_dir / "results.md", output_dir / "results.rst"]
    paths[0].write_text(json.dumps(report, indent=1, default=str) + "\n")
    paths[1].write_text(to_markdown(report))
    paths[2].write_text("xrtprods_astro benchmarks\n=========================\n\n" + to_rst(report))
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default all: {','.join(SECTIONS)})")
    parser.add_argument("--output-dir", default=str(HERE / "results"),
                        help="where results.json/.md/.rst go (default benchmarks/results)")
    parser.add_argument("--update-docs", action="store_true",
                        help="also write the results into docs/performance.rst")
    parser.add_argument("--from-json", metavar="FILE", default=None,
                        help="run nothing: write the tables (and docs) again from a results.json")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other sections of the output directory's results.json: the sections "
                             "run replace their own results only (each run's date, commit and load are kept)")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: {', '.join(unknown)} not known; allowed: {', '.join(SECTIONS)}")
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
        report.pop("targets", None)
    else:
        report = run_all(sections, quick=args.quick)
        if args.merge:
            previous = Path(args.output_dir) / "results.json"
            if not previous.is_file():
                parser.error(f"--merge: {previous} does not exist")
            report = merge(json.loads(previous.read_text()), report)
    paths = write(report, args.output_dir)
    if args.update_docs:
        paths.append(update_docs(report))
    sys.stdout.write(to_markdown(report))
    sys.stdout.write("\nWritten: " + ", ".join(str(p) for p in paths) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
