# Licensed under a 3-clause BSD style license - see LICENSE
"""Unit tests of the local service's pure parts: submit checks, jobPars, faults, job timelines."""
import ast
import io
import tarfile
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

import xrtprods_astro.server
from xrtprods_astro.server import validation
from xrtprods_astro.server.archives import archive_path, safe_job_file, split_archive_name
from xrtprods_astro.server.faults import FaultConfig, FaultInjector
from xrtprods_astro.server.jobs import Job, job_seed

BASE = {"UserID": "demo@example.org", "api_name": "xrt_prods", "api_version": "1.12",
        "name": "GRB 200416A", "targ": "00945521", "RA": 335.6985, "Dec": -7.5179, "cent": 1, "poserr": 1,
        "lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1}


def problems(**changes):
    pars = {**BASE, **changes}
    for key, value in changes.items():
        if value is None:
            del pars[key]
    with pytest.raises(validation.SubmitProblems) as info:
        validation.check_submit(pars)
    return info.value


def test_check_submit_accepts_a_good_request():
    assert validation.check_submit(BASE) == ["lc"]


def test_check_submit_groups_missing_and_invalid():
    err = problems(Dec=None, cent=None, poserr=0.01, binMeth="fred")
    assert str(err) == "There were problems with the parameters you supplied."
    assert "Dec" in err.missing and "cent" in err.missing
    assert "poserr is 0.01, but must be between 1 and 6" in err.invalid
    assert "binMeth is fred, but must be one of: counts, time, snapshot, obsid" in err.invalid
    groups = err.list_err()
    assert [g["label"] for g in groups] == [validation.MISSING_LABEL, validation.INVALID_LABEL]
    assert groups[0]["label"] == "The following parameters are needed, but were not supplied:"


@pytest.mark.parametrize("changes, missing", [
    ({"binMeth": "time", "pccounts": None, "wtcounts": None}, ["pcbin", "wtbin"]),
    ({"pccounts": None}, ["pccounts"]),
    ({"lc": None, "spec": 1, "specz": 1}, ["zval"]),
    ({"lc": None, "spec": 1, "specz": 0, "timeslice": "user"}, ["rname1", "gti1"]),
    ({"lc": None, "spec": 1, "specz": 0, "timeslice": "user", "rname2": "late"}, ["gti2"]),
    ({"lcobs": "user"}, ["uselcobs"]),
    ({"lc": None, "sourceDet": 1, "detobs": "user"}, ["usedetobs"]),
    ({"lc": None, "dopsf": 1, "posobs": "user"}, ["useposobs"]),
    ({"targ": None}, ["targ"]),
    ({"lc": None}, ["at least one product flag (lc, spec, dopsf, doenh, doxastrom, image, sourceDet)"]),
])
def test_check_submit_dependencies(changes, missing):
    assert problems(**changes).missing == missing


@pytest.mark.parametrize("changes, text", [
    ({"soft1": 0.2}, "soft1 is 0.2, but must be between 0.3 and 10"),
    ({"minen": 0.5, "soft1": 0.4}, "soft1 is 0.4, but must be between minen (0.5) and maxen (10)"),
    ({"maxen": 5, "hard2": 8}, "hard2 is 8, but must be between minen (0.3) and maxen (5)"),
    ({"minen": 3, "maxen": 2}, "minen is 3, but must be below maxen (2)"),
    ({"uselcobs": "0001234500"}, "uselcobs is 0001234500, but must be a comma-separated list of 11-digit "
                                 "obsIDs or of start-stop time ranges"),
    ({"pccounts": 2.5}, "pccounts is 2.5, but must be an integer"),
    ({"cent": "maybe"}, "cent is maybe, but must be 0 or 1"),
    ({"centMeth": "SIMPLE"}, "centMeth is SIMPLE, but must be one of: simple, iterative"),
    ({"RA": "east"}, "RA is east, but must be a number"),
    ({"targ": "GRB"}, "targ is GRB, but must be a comma-separated list of targetIDs of up to 8 digits"),
    ({"spec": 1, "specz": 0, "models": ["powerlaw", "bremss"]},
     "models is ['powerlaw', 'bremss'], but must be a list of: powerlaw, apec, blackbody"),
    ({"image": 1, "imen": "0.3-20"}, "imen is 0.3-20, but must be a comma-separated list of lo-hi energy "
                                     "bands in keV within 0.3-10"),
])
def test_check_submit_invalid_values(changes, text):
    assert text in problems(**changes).invalid


def test_check_submit_tolerates_client_quirks():
    # pcmaxGap/wtmaxGap are what the reference client really sends; product closed sets come lower-cased
    # but any case is accepted; obsID lists and MET ranges are both useObs syntax; numeric strings pass.
    pars = {**BASE, "pcmaxGap": 1e5, "wtmaxGap": 1000, "binMeth": "COUNTS", "lcobs": "user",
            "uselcobs": "00945521000,00945521001", "RA": "335.6985", "spec": 1, "specz": 0,
            "specobs": "user", "usespecobs": "608713541.952-608714541.952,608720000-608730000"}
    assert validation.check_submit(pars) == ["lc", "spec"]


def test_source_detection_only_needs_no_position():
    pars = {"UserID": "x", "name": "M31", "targ": "00012345", "sourceDet": 1, "detobs": "all"}
    assert validation.check_submit(pars) == ["sourceDet"]


def test_astrometry_implies_standard_position():
    assert validation.job_products({"doxastrom": 1}) == ["psf", "xastrom"]
    assert validation.job_products({"doxastrom": "1", "lc": True}) == ["lc", "psf", "xastrom"]


def test_job_parameters_echo():
    pars = {**BASE, "spec": 1, "specz": 0, "models": "APEC", "binMeth": "Counts", "getCoords": 1}
    products = validation.check_submit(pars)
    echo = validation.job_parameters(pars, products, {"RA": 1.5, "Dec": -2.0, "Tstart": 1e8})
    assert "UserID" not in echo and "api_name" not in echo
    assert echo["models"] == ["apec"] and echo["binMeth"] == "counts"
    assert (echo["lc"], echo["spec"], echo["dopsf"], echo["image"], echo["sourceDet"]) == (1, 1, 0, 0, 0)
    assert echo["RA"] == 1.5 and echo["Tstart"] == 1e8 and echo["getCoords"] == 1
    assert echo["dchi"] == 2.706 and echo["lctimetype"] == "s" and echo["centMeth"] == "simple"
    assert isinstance(echo["maxCentTries"], int) and echo["pcmaxgap"] == 1e8
    assert "posobs" not in echo  # no position product, no position defaults


def test_job_seed_depends_on_seed_and_parameters_not_order():
    a = job_seed(0, {"name": "X", "RA": 1.0})
    assert a == job_seed(0, {"RA": 1.0, "name": "X"})
    assert a != job_seed(1, {"name": "X", "RA": 1.0})
    assert a != job_seed(0, {"name": "X", "RA": 1.5})
    assert 0 <= a < 2 ** 32


def _job(products, duration=10.0, outcomes=None, built=True):
    job = Job(job_id=1, user="u", pars={"specstem": "interval0"}, products=products, url="u",
              job_dir=None, seed=0, duration=duration, started=100.0)
    job.outcomes = outcomes if outcomes is not None else {
        code: SimpleNamespace(ok=True, reason="", data={}) for code in products}
    if built:
        job.built.set()
    return job


def test_job_timeline_and_progress():
    job = _job(["lc", "psf", "xastrom", "enh"])
    seen = {t: {code: job.status(code, 100.0 + t)[0] for code in job.products} for t in (0, 1, 3, 7, 11)}
    assert seen[0] == {"lc": 1, "psf": 1, "xastrom": 1, "enh": 1}
    assert seen[1] == {"lc": 2, "psf": 2, "xastrom": 2, "enh": 2}
    assert seen[3] == {"lc": 3, "psf": 3, "xastrom": 5, "enh": 3}
    assert seen[7] == {"lc": 3, "psf": 4, "xastrom": 3, "enh": 3}
    assert seen[11] == {"lc": 4, "psf": 4, "xastrom": 4, "enh": 4}
    assert job.status("spec", 111.0) == (-1, "Unknown status")
    running = job.progress("enh", True, 105.0)
    assert running["GotProgress"] == 1 and running["PreProgress"].startswith("Trying using")
    assert running["TimeRunning"] == "00:00:03"
    statuses = [step["StepStatus"] for step in running["ProgressSteps"]]
    assert statuses.count(1) == 1 and statuses == sorted(statuses, reverse=True)
    assert job.progress("enh", False, 105.0) == {"GotProgress": 0}
    assert job.progress("lc", True, 111.0) == {"GotProgress": 0}
    assert job.is_active(105.0) and not job.is_active(111.0)


def test_job_waits_for_its_build_and_reports_failures():
    job = _job(["lc", "spec"], outcomes={"lc": SimpleNamespace(ok=False, reason="no data", data={}),
                                         "spec": SimpleNamespace(ok=True, reason="", data={})}, built=False)
    assert job.status("spec", 200.0)[0] == 3  # time is up but nothing is built yet
    job.built.set()
    assert job.status("spec", 200.0) == (4, "Complete")
    code, text = job.status("lc", 200.0)
    assert code == -3 and text.endswith("no data")


def test_job_cancel_codes():
    job = _job(["lc", "spec"])
    texts, codes = job.cancel(["lc", "image"], now=105.0)
    assert codes == {"lc": 0, "image": 2} and texts["lc"] == "Job cancelled OK"
    assert job.status("lc", 105.0) == (-4, "Cancelled at your request")
    texts, codes = job.cancel(["lc", "spec"], now=120.0)
    assert codes == {"lc": 1, "spec": 1}
    assert texts["spec"] == "Job could not be cancelled - has it already finished?"


def test_fault_injector_is_reproducible_and_counts():
    config = FaultConfig(error_rate={"status": 0.5}, drop_rate=0.1, seed=42)
    draws = []
    for _ in range(2):
        injector = FaultInjector(config)
        draws.append([injector.decide("status")[0] for _ in range(50)])
        assert injector.snapshot() == {"status": 50}
    assert draws[0] == draws[1]
    kinds = set(draws[0])
    assert {"drop", None} <= kinds and kinds & {"http500", "http502", "http503"}
    never = FaultInjector(config)
    assert {never.decide("lc")[0] for _ in range(30)} <= {"drop", None}


def test_fault_injector_scripted_and_configure():
    injector = FaultInjector()
    injector.script("submit", "drop_after", count=2)
    assert [injector.decide("submit")[0] for _ in range(3)] == ["drop_after", "drop_after", None]
    injector.configure(latency=0.25, truncate_rate={"archive": 1.0})
    assert injector.decide("archive") == ("truncate", 0.25)
    assert injector.decide("file") == (None, 0.25)
    injector.clear()
    assert injector.decide("archive") == (None, 0.0)
    injector.reset_counts()
    assert injector.snapshot() == {}


@pytest.mark.parametrize("bad, match", [
    ({"error_rate": 2}, "probability"), ({"drop_rate": {"nowhere": 0.1}}, "unknown endpoint"),
    ({"error_statuses": (200,)}, "HTTP error codes"), ({"latency": -1}, ">= 0"),
])
def test_fault_config_rejects_bad_values(bad, match):
    with pytest.raises(ValueError, match=match):
        FaultConfig(**bad)
    with pytest.raises(ValueError, match="kind must be one of"):
        FaultInjector().script("lc", "explode")


def test_archives_layout_and_determinism(tmp_path):
    job_dir = tmp_path / "jobs" / "USERPROD_7"
    (job_dir / "lc").mkdir(parents=True)
    (job_dir / "lc" / "PCCURVE.qdp").write_text("READ TERR 1 2\n")
    (job_dir / "spec" / "models").mkdir(parents=True)
    (job_dir / "spec" / "models" / "interval0pc.xcm").write_text("model powerlaw\n")
    names = {}
    for fmt in ("tar", "tar.gz", "zip"):
        path = archive_path(job_dir, tmp_path / "arch", "all", fmt, ["lc", "spec"])
        data = path.read_bytes()
        if fmt == "zip":
            names[fmt] = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
        else:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                names[fmt] = sorted(m.name for m in tar.getmembers() if m.isfile())
        # A second build (after removing the cached copy) gives identical bytes: ranges stay valid.
        path.unlink()
        assert archive_path(job_dir, tmp_path / "arch", "all", fmt, ["lc", "spec"]).read_bytes() == data
    assert names["tar"] == names["tar.gz"] == ["USERPROD_7/lc/PCCURVE.qdp",
                                               "USERPROD_7/spec/models/interval0pc.xcm"]
    assert [n for n in names["zip"] if not n.endswith("/")] == names["tar"]
    assert split_archive_name("lc.tar.gz") == ("lc", "tar.gz") and split_archive_name("x.gz") is None
    assert safe_job_file(job_dir, "lc/PCCURVE.qdp").name == "PCCURVE.qdp"
    assert safe_job_file(job_dir, "../USERPROD_7/lc/../../x") is None
    assert safe_job_file(job_dir, "lc/missing.qdp") is None


def test_archive_writes_are_safe_from_threads(tmp_path):
    job_dir = tmp_path / "USERPROD_9"
    (job_dir / "psf").mkdir(parents=True)
    (job_dir / "psf" / "results.dat").write_text("1\t2\n")
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        archive_path(job_dir, tmp_path / "a", "psf", "tar.gz", ["psf"]).read_bytes())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len(set(results)) == 1


# ------------------------------------------------------------------------------ package imports
SERVER = Path(xrtprods_astro.server.__file__).parent


def server_imports():
    """``{module: set of xrtprods_astro modules it imports}`` for the server package, from the
    source (imports inside functions included)."""
    graph = {}
    for path in sorted(SERVER.glob("*.py")):
        name = path.stem
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("xrtprods_astro")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x / from .x import y
                    base = "xrtprods_astro.server" + ("." + node.module if node.module else "")
                    if node.level > 1:
                        base = "xrtprods_astro" + ("." + node.module if node.module else "")
                else:
                    base = node.module or ""
                if not base.startswith("xrtprods_astro"):
                    continue
                if base == "xrtprods_astro.server":
                    found |= {base + "." + a.name for a in node.names}
                else:
                    found.add(base)
        graph[name] = found
    return graph


def test_server_imports_nothing_from_the_client():
    for module, imports in server_imports().items():
        outside = {m for m in imports if not m.startswith("xrtprods_astro.server")}
        assert not outside, (module, outside)


def test_server_package_has_no_import_cycles():
    graph = {m: {i.split(".")[2] for i in imps if i.count(".") >= 2} - {"__init__"}
             for m, imps in server_imports().items()}
    assert "catalogue" in graph["sky"] and "sky" in graph["lcbuild"]  # the parse sees the imports
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "active", "import cycle: " + " -> ".join(path + [module])
        state[module] = "active"
        for dep in sorted(graph.get(module, ())):
            visit(dep, path + [module])
        state[module] = "done"

    for module in graph:
        visit(module, [])
