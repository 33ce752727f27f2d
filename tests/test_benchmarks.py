# Licensed under a 3-clause BSD style license - see LICENSE
"""Smoke test of the benchmark harness (benchmarks/run.py --quick): every section runs and produces
its fields, memory is measured in fresh processes, and the outputs are written.

Timings are never asserted (the machine is shared); only shapes, counts, files and that memory
growth is actually seen.
"""
import importlib.util
import json
import logging
import sys
from pathlib import Path

import pytest

from xrtprods_astro.readers.qdp import read_qdp

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
REAL_CURVE = ROOT / "tests" / "data" / "real" / "jracusin__GRBfits" / "GRBs" / "GRB060403" / "curve.qdp"


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("xrtprods_bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for its sibling modules
    return module


@pytest.fixture(scope="module")
def report(bench_run):
    level = logging.getLogger("xrtprods_astro").level
    try:
        yield bench_run.run_all(quick=True)
    finally:
        logging.getLogger("xrtprods_astro").setLevel(level)


def _summary(entry):
    assert set(entry) >= {"median", "min", "max", "n"} and entry["min"] <= entry["median"] <= entry["max"]


def test_machine_options_and_load(bench_run, report):
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["python"].startswith(("CPython", "PyPy"))
    assert machine["packages"]["astropy"] and machine["packages"]["xrtprods_astro"]
    assert report["options"] == {"quick": True, "sections": list(bench_run.SECTIONS)}
    assert set(report["results"]) == set(report["section_seconds"]) == set(bench_run.SECTIONS)
    assert set(report["load"]) == set(bench_run.SECTIONS) | {"end"}


def test_qdp_section(report):
    qdp = report["results"]["qdp"]
    for layout, sections in (("single", 1), ("multi", 4)):
        rows = qdp[layout]
        assert [r["rows"] for r in rows] == [1000, 2000] and all(r["sections"] == sections for r in rows)
        for r in rows:
            for reader in ("xrtprods", "numpy", "pandas"):
                if reader == "pandas" and "skipped" in r[reader]:  # pandas comes with the bench extra
                    assert "pandas is not installed" in r[reader]["skipped"] and "vs_pandas" not in r
                    continue
                assert r[reader]["rows_read"] == r["rows"] and r[reader]["us_per_row"] > 0
                assert r[reader]["peak_growth_mb"] >= 0
            assert r["vs_numpy"] > 0 and r.get("vs_pandas", 1) > 0 and r["memory_over_file"] >= 0
        # astropy_max_rows is 1000 in a quick run: run at 1000 rows, skipped with a reason above.
        assert rows[0]["astropy"]["ms_per_table"] == pytest.approx(rows[0]["astropy"]["ms"] / sections)
        assert rows[0]["vs_astropy"] > 0 and "vs_astropy" not in rows[1]
        assert "not run above 1000 rows" in rows[1]["astropy"]["skipped"]
        assert qdp[layout + "_per_row_growth"] > 0


def test_batch_section(report):
    batch = report["results"]["batch"]
    runs = batch["scaling"] + [batch["makespan"]]
    assert [r["n_targets"] for r in runs] == [5, 10, 5] and batch["not_run"] == []
    for r in runs:
        assert r["ok"] == r["finished"] == r["n_targets"] == r["jobs_on_server"] and not r["timed_out"]
        assert r["cpu_ms_per_target"] > 0 and r["makespan_ratio"] > 0 and r["peak_active"] <= r["max_active"]
        assert r["poll_interval_job_durations"] == pytest.approx(r["poll_interval_s"] / r["job_duration_s"])
        # Each job: one submission, one position and one archive at least, and some status calls.
        assert r["requests"]["submit"] == r["requests"]["psf"] == r["requests"]["archive"] == r["n_targets"]
        assert r["requests_per_job"] > 3 and r["status_calls_per_job"] >= 1
        assert r["instrumented"] == ["_State.update", "_State.save", "_State.sync"]
        # Updates append to the journal; the state file is rewritten at the start and end of the run.
        assert r["update_calls"] >= r["n_targets"] and r["update_ms_mean"] > 0 and r["save_calls"] >= 2
        assert r["state_s_total"] >= r["update_s_total"]


def test_batch_sizes_share_the_budget(bench_run, monkeypatch):
    import types
    import bench_batch
    clock, limits = [0.0], []

    def fake_run_one(n, duration, active, time_limit=None, workdir=None):
        limits.append(time_limit)
        clock[0] += time_limit * (2 if n in (100, 1000) else 1)  # 100 and 1000 overrun their share
        return {"n_targets": n}
    monkeypatch.setattr(bench_batch, "run_one", fake_run_one)
    monkeypatch.setattr(bench_batch, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    out = bench_batch.run(sizes=(10, 100, 1000, 5000), budget_s=100, makespan=False)
    # An equal share of what is left for each size still to run; nothing left for 5000.
    assert limits == [25, 25, 12.5]
    assert [r["n_targets"] for r in out["scaling"]] == [10, 100, 1000]
    assert out["not_run"] == [{"n_targets": 5000, "reason": "0 s left of the 100 s budget"}]
    assert out["makespan"] is None


def test_job_section(report):
    job = report["results"]["job"]
    ours = job["ours"]
    _summary(ours["cpu_ms"])
    _summary(ours["cache_hit_cpu_ms"])
    # submit, a status call, one call per data product (lc, spec, three positions, source list)
    # and the light curve's lc/t0.date (UKSSDC's own UTC for T0).
    assert ours["requests_per_job"] == 9
    assert set(ours["requests"]) == {"submit", "status", "lc", "spec", "psf", "enh", "xastrom", "sourceDet",
                                     "file"}
    theirs = job["swifttools"]
    if "skipped" in theirs:
        assert "swifttools is not installed" in theirs["skipped"] and "ratio" not in job
    else:
        _summary(theirs["cpu_ms"])
        assert theirs["requests"]["lc"] == ours["requests"]["lc"] and job["ratio"] > 0


def test_import_section(report):
    imp = report["results"]["import"]
    _summary(imp["xrtprods_astro"])
    assert imp["xrtprods_astro"]["statement"] == "from xrtprods_astro import XRTProducts"
    for key in ("cli_help", "cli_status", "python_startup"):
        _summary(imp[key])
    assert ("ratio" in imp) == ("median" in imp["swifttools"])


def test_download_and_service_sections(report):
    dl = report["results"]["download"]
    assert dl["archive_mb"] > 3 and dl["ours"]["s"] > 0 and dl["ours"]["peak_mb"] > 0
    assert dl["service_peak_growth_mb"] >= 0 and dl["service_memory_over_archive"] >= 0
    if "s" in dl["curl"]:
        assert dl["curl"]["peak_mb"] > 0 and dl["ratio"] > 0
    svc = report["results"]["service"]
    assert svc["connections"] == 8 and svc["requests"] == 24
    assert svc["stalls"] + svc["errors"] <= svc["requests"] and svc["median_ms"] > 0


def test_memory_growth_is_seen_in_a_fresh_child(bench_run, tmp_path):
    # The old harness measured in the parent, whose earlier peak hid every growth (always 0).
    import bench_qdp
    import _util
    meta = bench_qdp.make_file(tmp_path / "big.qdp", 100_000, 1)
    raw = _util.in_child("bench_qdp", "child_read", reader="numpy", path=meta["path"], sections=1,
                         skip_lines=meta["skip_lines"], repeats=1)
    assert raw["rows_read"] == 100_000
    assert raw["peak_growth_mb"] > 100_000 * 6 * 8 / 2**20  # at least the float64 array it returns


def test_child_failure_names_the_function(bench_run):
    import _util
    with pytest.raises(RuntimeError, match="bench_qdp.child_read failed in a child process"):
        _util.in_child("bench_qdp", "child_read", reader="nope", path="x", sections=1, skip_lines=[])


def test_generated_qdp_has_the_real_layout(bench_run, tmp_path):
    import bench_qdp
    real = read_qdp(REAL_CURVE)
    meta = bench_qdp.make_file(tmp_path / "multi.qdp", 200, 4)
    ours = read_qdp(meta["path"])
    assert [s.label for s in ours] == [s.label for s in real]
    assert [s.names for s in ours] == [s.names for s in real]
    assert ours.header == real.header
    assert sum(len(s.table) for s in ours) == 200
    # numpy.loadtxt and pandas, as the benchmark calls them, read the same numbers as read_qdp.
    import numpy as np
    rates = np.concatenate([np.asarray(s.table["Rate"]) for s in ours])
    np.testing.assert_allclose(np.loadtxt(meta["path"], comments=("!", "NO", "READ"))[:, 3], rates)
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(meta["path"], sep=r"\s+", comment="!", header=None, skiprows=meta["skip_lines"],
                        dtype="float64")
    np.testing.assert_allclose(frame[3].to_numpy(), rates)
    lines = Path(meta["path"]).read_text().splitlines()
    assert [lines[i].split()[0] for i in meta["skip_lines"][-4:]] == ["READ", "NO", "NO", "NO"]
    with pytest.raises(ValueError, match="sections: 2 is not allowed; allowed: 1, 4"):
        bench_qdp.make_file(tmp_path / "x.qdp", 10, 2)


def test_targets_table(bench_run, report):
    checks = bench_run.targets(report)
    assert {c["item"] for c in checks} == {1, 2, 3, 4, 5, 6, 21, 22}
    for c in checks:
        assert c["status"] in ("pass", "miss", "n/a")
        if c["target"] is not None and c["ratio"] is not None:
            limit = float(c["target"].split()[-1])
            assert c["status"] == ("pass" if c["ratio"] <= limit else "miss")
    measures = " ".join(c["measure"] for c in checks)
    for text in ("numpy.loadtxt", "astropy per table", "state-file cost per update", "makespan / ideal",
                 "/ swifttools", "cache hit", "xrtprods --help", "xrtprods status", "/ curl",
                 "concurrent connections"):
        assert text in measures


def test_outputs_and_docs(bench_run, report, tmp_path):
    paths = bench_run.write(report, tmp_path / "out")
    assert [p.name for p in paths] == ["results.json", "results.md", "results.rst"]
    saved = json.loads(paths[0].read_text())
    assert saved["results"]["job"]["ours"]["requests_per_job"] == 9 and saved["targets"]
    md = paths[1].read_text()
    assert "## Targets" in md and "## QDP scaling" in md and "## Batch scaling" in md
    assert report["machine"]["date"] in md and "Load average" in md
    assert ".. list-table::" in paths[2].read_text()
    docs = tmp_path / "performance.rst"
    docs.write_text(f"Intro\n\n{bench_run.DOCS_BEGIN}\nOLD RESULTS\n{bench_run.DOCS_END}\n\nCaveats\n")
    bench_run.update_docs(report, docs)
    text = docs.read_text()
    assert text.startswith("Intro\n") and text.endswith("\nCaveats\n") and "OLD RESULTS" not in text
    assert "QDP scaling" in text and text.count(bench_run.DOCS_BEGIN) == 1
    with pytest.raises(ValueError, match="markers"):
        bench_run.update_docs(report, paths[1])


def test_from_json_writes_the_same_tables(bench_run, report, tmp_path):
    first = bench_run.write(report, tmp_path / "a")
    assert bench_run.main(["--from-json", str(first[0]), "--output-dir", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "results.md").read_text() == first[1].read_text()


def test_logging_is_quiet(report):
    assert logging.getLogger("xrtprods_astro").getEffectiveLevel() >= logging.WARNING


def test_cli_rejects_unknown_section(bench_run, capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "qdp,speed"])
    assert "speed not known; allowed: import, qdp, lcjson, job, batch, download, service" in \
        capsys.readouterr().err
    assert str(BENCH) in sys.path


@pytest.fixture(scope="module")
def grb_result():
    # Its own small run (not the whole quick report): one GRB's products with both clients, then
    # the many-GRB makespan.
    import bench_grb
    return bench_grb.run(repeats=1, rounds=1, n_grbs=7)


def test_grb_section(bench_run, grb_result):
    # Shapes, request counts and the target rows, never timings.
    res = grb_result
    ours = res["ours"]
    # Requests per GRB: a first session looks the name up and reads T0's UTC from curve.qdp;
    # a later one has both in its cache folder (tests/test_grb_efficiency.py). A spectrum session
    # asks for the answer once (get_spectral_fits hands it to get_spectra); "all" is the three
    # products in one session, as issue 21 words the end-to-end benchmark.
    expected = {"cold": {"lightcurve": 3, "spectrum": 5, "burst": 3, "all": 7},
                "warm": {"lightcurve": 1, "spectrum": 3, "burst": 1, "all": 5}}
    for state, counts in expected.items():
        for product, count in counts.items():
            assert ours[state][product]["cpu_ms"]["n"] == 1
            assert ours[state][product]["requests_per_grb"] == count
    many = ours["many"]
    assert many["n_grbs"] == 7 and many["requests"] == 7 and res["many_makespan_over_ideal"] > 0
    rows = [c for c in bench_run.targets({"results": {"grb": res}}) if c["item"] == 21]
    assert len(rows) == 2 * 4 * 3 + 1
    assert all(c["target"] == "<= 1" for c in rows[:-1]) and rows[-1]["target"] == "<= 1.1"
    if "skipped" not in res["swifttools"]:
        assert set(res["ratios"]) == {"cold", "warm"}
        assert all(set(r) == {"lightcurve", "spectrum", "burst", "all"} for r in res["ratios"].values())
        assert {p: e["requests_per_grb"] for p, e in res["swifttools"].items() if p != "many"} == \
            {"lightcurve": 2, "spectrum": 4, "burst": 2, "all": 8}
        assert res["swifttools"]["many"]["requests"] >= 7
        assert all(c["status"] in ("pass", "miss") for c in rows)
    else:
        assert all(c["status"] == "n/a" for c in rows[:-1])


def _service_report(bench_run, quick=False):
    result = {"stalls": 0, "errors": 0, "requests": 24, "stall_s": 1.0, "connections": 8, "median_ms": 2.0,
              "max_ms": 9.0}
    return {"machine": bench_run.machine_info(), "options": {"quick": quick, "sections": ["service"]},
            "results": {"service": result}, "section_seconds": {"service": 1.0},
            "load": {"service": [1.0, 1.0, 1.0], "end": [1.0, 1.0, 1.0]}, "seconds": 1.0}


def test_merge_keeps_the_other_sections(bench_run, grb_result, tmp_path, monkeypatch):
    # --only grb --merge: the recorded sections stay, the GRB section is added with its own date.
    bench_run.write(_service_report(bench_run), tmp_path)
    run = {"machine": dict(bench_run.machine_info(), date="2030-01-01 00:00 UTC"),
           "options": {"quick": False, "sections": ["grb"]}, "results": {"grb": grb_result},
           "section_seconds": {"grb": 5.0}, "load": {"grb": [3.0, 2.0, 1.0], "end": [3.5, 2.0, 1.0]},
           "seconds": 5.0}
    monkeypatch.setattr(bench_run, "run_all", lambda sections, quick: run)
    assert bench_run.main(["--only", "grb", "--merge", "--output-dir", str(tmp_path)]) == 0
    merged = json.loads((tmp_path / "results.json").read_text())
    assert set(merged["results"]) == {"service", "grb"}
    assert merged["options"]["sections"] == ["service", "grb"]
    assert merged["load"]["service"] == [1.0, 1.0, 1.0] and merged["load"]["grb"] == [3.0, 2.0, 1.0]
    assert merged["merged"][0]["sections"] == ["grb"]
    items = {c["item"] for c in merged["targets"]}
    assert items == {6, 21}
    text = (tmp_path / "results.md").read_text()
    assert "Sections grb run again on 2030-01-01 00:00 UTC" in text
    # A second merge of the same section replaces it, and lists only the run its figures come from.
    run["machine"]["date"] = "2030-01-02 00:00 UTC"
    assert bench_run.main(["--only", "grb", "--merge", "--output-dir", str(tmp_path)]) == 0
    again = json.loads((tmp_path / "results.json").read_text())
    assert set(again["results"]) == {"service", "grb"}
    assert [x["machine"]["date"] for x in again["merged"]] == ["2030-01-02 00:00 UTC"]


def test_merge_refuses_what_cannot_be_merged(bench_run, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_run, "run_all", lambda sections, quick: _service_report(bench_run, quick))
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "service", "--merge", "--output-dir", str(tmp_path / "none")])
    bench_run.write(_service_report(bench_run), tmp_path)
    with pytest.raises(ValueError, match="quick run and a full run"):
        bench_run.main(["--only", "service", "--merge", "--quick", "--output-dir", str(tmp_path)])


def test_catalogues_section(bench_run, report):
    # The quick run's section: a 2,500-row table (paged at 1000 rows), 10 positions' upper limits,
    # cache hits where the client has cache=; shapes, rows, requests and target rows, never timings.
    res = report["results"]["catalogues"]
    query = res["query"]
    assert query["table"]["lsxps_rows"] == 2500
    ours = query["ours"]
    _summary(ours["cpu_ms"])
    assert ours["rows"] == 2500 and ours["requests"] == 4   # metadata and three pages
    if "skipped" in query["swifttools"]:
        assert "swifttools is not installed" in query["swifttools"]["skipped"] and not res["ratios"]
    else:
        # swifttools stops at 1000 rows by default; with maxRows=None it pages as we do.
        assert query["swifttools"]["rows"] == 1000 and query["swifttools_all"]["rows"] == 2500
        assert query["swifttools_all"]["requests"] == ours["requests"]
        assert res["ratios"]["swifttools_all"]["rows"] == 1 and res["ratios"]["swifttools_all"]["cpu_ms"] > 0
    uls = res["upper_limits"]["ours"]
    assert uls["service_requests"] == uls["http_requests"] == 10
    assert 1 <= uls["peak_in_flight"] <= uls["allowed_in_flight"] and uls["makespan_over_ideal"] > 0
    assert uls["per_request_s"] >= 0.05   # the service's wait is part of its per-request time
    for name in ("query_small", "query_big", "upper_limits"):
        entry = res["cache"][name]
        if "not_available" in entry:
            assert "has no cache keyword" in entry["not_available"]
        else:
            _summary(entry["cpu_ms"])
            assert entry["requests_per_hit"] == 0 and entry["new_client_requests"] >= 0
    rows = [c for c in bench_run.targets({"results": {"catalogues": res}}) if c["item"] == 22]
    assert len(rows) == 7 and rows[2]["target"] == "<= 1.1" and rows[3]["target"] == "<= 1"
    assert all(c["status"] in ("pass", "miss", "n/a") for c in rows)
