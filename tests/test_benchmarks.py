# Licensed under a 3-clause BSD style license - see LICENSE
"""Smoke test of benchmarks/run.py: the quick pieces run and the results have the promised structure.

Timings are never asserted (the machine is shared); only shapes, counts and files.
"""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_run():
    spec = importlib.util.spec_from_file_location("xrtprods_bench_run", BENCH / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # puts benchmarks/ on sys.path for its sibling modules
    return module


@pytest.fixture(scope="module")
def report(bench_run):
    # Left out: import (one subprocess per sample; test_import_time runs one) and batch (the batch
    # helper's benchmark, tested with it).
    return bench_run.run_all(("qdp", "lcjson", "job"), repeats=1, quick=True)


def _timing(entry):
    assert set(entry) >= {"median", "min", "max", "n"}
    assert entry["n"] == 1 and entry["min"] <= entry["median"] <= entry["max"] and entry["min"] > 0


def _theirs(entry):
    """swifttools' figure: a timing if it is installed, else a skip note naming it."""
    if "skipped" in entry:
        assert "swifttools is not installed" in entry["skipped"]
        return False
    _timing(entry)
    return True


def test_machine_and_options(report):
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["python"].startswith(("CPython", "PyPy"))
    assert machine["packages"]["astropy"] and machine["packages"]["xrtprods_astro"]
    assert report["options"] == {"repeats": 1, "quick": True,
                                 "sections": ["qdp", "lcjson", "job"]}
    assert set(report["section_seconds"]) == set(report["results"])


def test_import_time(bench_run):
    import bench_import
    assert bench_import.MODULES == {"xrtprods_astro": "xrtprods_astro",
                                    "swifttools": "swifttools.ukssdc.xrt_prods"}
    ms = bench_import.import_time("xrtprods_astro")
    assert isinstance(ms, float) and ms > 0


def test_qdp_and_lcjson_sections(report):
    qdp = report["results"]["qdp"]
    assert [r["rows_per_section"] for r in qdp] == [100, 1000]
    assert all(r["ratio"] > 0 and r["file_kb"] > 0 for r in qdp)
    lcjson = report["results"]["lcjson"]
    assert [r["rows_per_dataset"] for r in lcjson] == [100, 1000]
    for r in lcjson:
        _timing(r["ours"])
        assert _theirs(r["swifttools"]) == ("ratio" in r)


def test_job_section_counts_requests(report):
    job = report["results"]["job"]
    assert job["settings"]["job_duration_s"] == 0
    ours = job["ours"]
    _timing(ours["job"])
    # submit, one status poll (job_duration 0: complete at once), then light curve, fits and position.
    assert ours["job_requests"] == {"submit": 1, "status": 1, "lc": 1, "spec": 1, "psf": 1}
    assert ours["job_requests_total"] == 5
    # First retrieval of a finished job: three data calls; repeating it is served from the cache.
    assert ours["first_retrieval_requests"] == 3 and ours["repeat_retrieval_requests"] == 0
    assert ours["returns"].startswith("LightCurve (") and "Table" in ours["returns"]
    if _theirs(job["swifttools"].get("job", job["swifttools"])):
        assert job["swifttools"]["repeat_retrieval_requests"] >= 3


def test_outputs(bench_run, report, tmp_path):
    rows = bench_run.rows(report)
    assert {r[0] for r in rows} >= {"QDP light curve", "getLCData to tables", "complete job",
                                    "cache"}
    assert all(len(r) == 6 for r in rows)
    md = bench_run.write(report, tmp_path / "r.md", make_plot=False)
    assert [p.suffix for p in md] == [".md", ".json"]
    text = md[0].read_text()
    assert "| complete job |" in text and "cores" in text and report["machine"]["date"] in text
    assert json.loads(md[1].read_text())["results"]["job"]["ours"]["job_requests_total"] == 5
    rst = bench_run.write(report, tmp_path / "r.rst", make_plot=False)[0].read_text()
    assert ".. list-table::" in rst and "   * - complete job" in rst
    from astropy.table import Table
    table = Table.read(bench_run.write(report, tmp_path / "r.ecsv", make_plot=False)[0], format="ascii.ecsv")
    assert table.colnames == ["benchmark", "case", "ours_ms", "alternative_ms", "ratio", "note"]
    assert len(table) == len(rows) and table.meta["machine"]["cores"] == report["machine"]["cores"]
    with pytest.raises(ValueError, match="must end in .md, .rst or .ecsv"):
        bench_run.write(report, tmp_path / "r.txt")


def test_plot(bench_run, report, tmp_path):
    pytest.importorskip("matplotlib")
    path = bench_run.plot(report, tmp_path / "r.png")
    assert path is not None and path.stat().st_size > 1000


def test_cli_rejects_unknown_section(bench_run, capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "qdp,speed"])
    assert "speed not known; allowed: import, qdp, lcjson, job, batch" in capsys.readouterr().err
    assert str(BENCH) in sys.path
