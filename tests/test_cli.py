# Licensed under a 3-clause BSD style license - see LICENSE
"""The ``xrtprods`` command line and the offline demo, end to end against the local service."""
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import cli, conf
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.demo import REAL_SERVICE_CODE, DemoResult, run_demo
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.readers.lightcurve import read_lightcurve_json
from xrtprods_astro.request import ProductRequest

matplotlib.use("Agg")

COMMANDS = ["submit", "status", "wait", "cancel", "download", "lightcurve", "jobs", "serve", "demo"]
GRB = SkyCoord(335.6985, -7.5179, unit="deg")


def run(capsys, *argv):
    """Run the command line in-process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def on(service, *argv):
    """Arguments that point the command line at a local service."""
    return ["--server", service.url, "--email", service.email, *argv]


def grb_request(**products):
    products = products or {"lightcurve": {"binning": "counts", "pc_counts": 20, "wt_counts": 30,
                                           "dynamic": True}}
    return ProductRequest(GRB, name="GRB 200416A", get_targs=True, get_t0=True, centroid=True, pos_err=1,
                          use_sxps=False, **products)


@pytest.fixture(scope="module")
def done_job(xrtprods_service):
    """A completed GRB 200416A job with a light curve, spectrum and standard position."""
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email,
                              poll_interval=0.2)
    request = grb_request(lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30,
                                      "dynamic": True},
                          spectrum=True, standard_position=True)
    job = client.submit(request)
    job.wait(timeout=60, progress=False)
    return job


@pytest.fixture
def slow_service(xrtprods_service_factory):
    """A service whose jobs take far longer than any test waits."""
    return xrtprods_service_factory(job_duration=300)


# ------------------------------------------------------------------------------------------ help

def test_console_script_help_runs_as_a_program():
    script = shutil.which("xrtprods", path=str(Path(sys.executable).parent)) or shutil.which("xrtprods")
    assert script is not None, "the xrtprods console script is not installed"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout
    assert "exit codes" in result.stdout
    assert "xrtprods demo" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_help_says_what_and_shows_an_example(capsys, command):
    code, out, err = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: xrtprods {command}")
    assert "example:" in out
    assert f"xrtprods {command}" in out.split("example:", 1)[1] or command == "serve"
    # The description is more than the usage line: at least one full sentence.
    description = out.split("\n\n")[1]
    assert len(description.split()) >= 8


def test_no_command_prints_help_and_is_a_usage_error(capsys):
    code, out, err = run(capsys)
    assert code == cli.EXIT_USAGE
    assert "COMMAND" in err


# ------------------------------------------------------------------------------- request building

def test_dry_run_applies_the_documented_defaults(capsys):
    code, out, err = run(capsys, "submit", "--ra", "335.6985", "--dec", "-7.5179", "--name", "GRB 200416A",
                         "--lightcurve", "--dry-run")
    assert code == 0
    wire = json.loads(out)
    assert wire["name"] == "GRB 200416A"
    assert wire["RA"] == pytest.approx(335.6985) and wire["Dec"] == pytest.approx(-7.5179)
    assert (wire["cent"], wire["useSXPS"], wire["poserr"], wire["getTargs"]) == (1, 0, 1, 1)
    assert (wire["lc"], wire["binMeth"], wire["pccounts"], wire["wtcounts"], wire["dynamic"]) == \
        (1, "counts", 20, 30, 1)
    assert "spec" not in wire


def test_params_override_defaults_in_any_spelling(capsys):
    code, out, err = run(capsys, "submit", "--ra", "22:22:47.64", "--dec=-07:31:04.4", "--lc", "--spec",
                         "-p", "posErr=2.5", "-p", "centroid=no", "-p", "binning=time",
                         "-p", "pc_bin_time=100", "-p", "wtBinTime=10", "-p", "spectrum.models=powerlaw,apec",
                         "-p", "targ=968211", "-p", "t0=608713541.952", "--dry-run")
    assert code == 0, err
    wire = json.loads(out)
    assert wire["poserr"] == 2.5 and wire["cent"] == 0
    assert wire["binMeth"] == "time" and "pccounts" not in wire
    assert wire["pcbin"] == 100 and wire["wtbin"] == 10
    assert wire["models"] == ["powerlaw", "apec"]
    assert wire["targ"] == "00968211" and wire["getTargs"] == 0
    assert wire["Tstart"] == pytest.approx(608713541.952)
    # Sexagesimal RA is read in hours; the name is made from the position.
    assert wire["RA"] == pytest.approx(335.6985, abs=1e-4)
    assert wire["name"].startswith("J222247.6-07310")


def test_parse_param_converts_and_explains():
    assert cli.parse_param("pc_counts=25", ("lightcurve",)) == ("lightcurve", "pc_counts", 25)
    assert cli.parse_param("dynamic=yes", ("lightcurve",)) == ("lightcurve", "dynamic", True)
    assert cli.parse_param("posErr=3", ()) == (None, "pos_err", 3.0)
    with pytest.raises(InvalidRequestError, match="KEY=VALUE"):
        cli.parse_param("pc_counts", ("lightcurve",))
    with pytest.raises(InvalidRequestError, match="did you mean 'pc_counts'"):
        cli.parse_param("pc_count=3", ("lightcurve",))
    with pytest.raises(InvalidRequestError, match="lightcurve and spectrum.*PRODUCT.KEY"):
        cli.parse_param("grades=0", ("lightcurve", "spectrum"))
    with pytest.raises(InvalidRequestError, match="not requested.*--lightcurve"):
        cli.parse_param("pc_counts=20", ("spectrum",))
    with pytest.raises(InvalidRequestError, match="not a boolean"):
        cli.parse_param("centroid=maybe", ())


def test_params_take_quantity_strings_in_any_unit_of_the_right_kind(capsys):
    code, out, err = run(capsys, "submit", "--ra", "335.6985", "--dec", "-7.5179", "--lc", "--spec",
                         "-p", "binning=time", "-p", "pc_bin_time=1 d", "-p", "wt_bin_time=500 ms",
                         "-p", "pos_radius=30 arcsec", "-p", "pos_err=0.05 deg",
                         "-p", "spectrum.inc_hours=1 d",
                         "-p", "lightcurve.source_radius=47.14 arcsec", "--dry-run")
    assert code == 0, err
    wire = json.loads(out)
    assert (wire["pcbin"], wire["wtbin"], wire["posRadius"], wire["poserr"], wire["specobstime"]) == \
        (86400, 0.5, 30, 3, 24)
    assert wire["srcrad"] == 20  # pixels, at 2.357 arcsec per pixel
    assert cli.parse_param("pc_bin_time=1 d", ("lightcurve",)) == ("lightcurve", "pc_bin_time", "1 d")


def test_a_name_with_ra_dec_says_which_wins(capsys):
    # Issue 20 item 19: the job is built at --ra/--dec; the name is not resolved, and the user is told.
    code, out, err = run(capsys, "submit", "GRB 200416A", "--ra", "1", "--dec", "2", "--lc", "--dry-run")
    assert code == 0, err
    wire = json.loads(out)
    assert (wire["name"], wire["RA"], wire["Dec"]) == ("GRB 200416A", 1, 2)
    assert "warning: the job is built at --ra/--dec (1.00000, +2.00000 deg)" in err
    assert "'GRB 200416A' is not resolved" in err


@pytest.mark.parametrize("ra, dec, fragment", [("395.6985", "-7.5", "--ra: '395.6985' is 395.699 deg"),
                                               ("335.6985", "-97.5", "--dec: '-97.5' is -97.5 deg")])
def test_ra_dec_out_of_range_are_usage_errors(capsys, ra, dec, fragment):
    code, out, err = run(capsys, "submit", "--ra", ra, f"--dec={dec}", "--lc", "--dry-run")
    assert code == cli.EXIT_USAGE and fragment in err and "Traceback" not in err


def test_a_coordinate_string_target_is_a_position(capsys, monkeypatch):
    def no_resolver(*args, **kwargs):
        raise AssertionError("a coordinate string must not be resolved as a name")
    monkeypatch.setattr(SkyCoord, "from_name", no_resolver)
    code, out, err = run(capsys, "submit", "22h22m47.64s -07d31m04.4s", "--lc", "--dry-run")
    assert code == 0, err
    wire = json.loads(out)
    assert wire["RA"] == pytest.approx(335.6985, abs=1e-4) and wire["Dec"] == pytest.approx(-7.5179, abs=1e-4)
    assert "getCoords" not in wire


@pytest.mark.parametrize("param, pieces", [
    ("pc_bin_time=1", ["pc_bin_time", "is 1 s", "PC frame time (2.5073 s)", "1*u.day"]),
    ("pc_bin_time=1 kg", ["1.0 kg has the wrong physical type"]),
    ("pc_bin_time=soon", ["'soon' is not a number nor a quantity"]),
])
def test_bad_quantity_strings_are_usage_errors_that_say_why(capsys, param, pieces):
    code, out, err = run(capsys, "submit", "--ra", "335.6985", "--dec", "-7.5179", "--lc",
                         "-p", "binning=time", "-p", param, "-p", "wt_bin_time=1", "--dry-run")
    assert code == cli.EXIT_USAGE and out == ""
    for piece in pieces:
        assert piece in err


def test_saved_request_round_trips_through_the_command_line(capsys, tmp_path):
    saved = tmp_path / "req.json"
    code, out, err = run(capsys, "submit", "--ra", "335.6985", "--dec", "-7.5179", "--name", "GRB 200416A",
                         "--lc", "--psf", "-p", "pos_err=3", "--save-request", saved, "--dry-run")
    assert code == 0
    first = json.loads(out)
    assert ProductRequest.load(saved).products == ("lightcurve", "standard_position")
    code, out, err = run(capsys, "submit", "--request", saved, "--dry-run")
    assert code == 0
    assert json.loads(out) == first


# ------------------------------------------------------------------------------ end to end

def test_submit_by_name_resolved_by_the_service_and_wait(capsys, xrtprods_service):
    code, out, err = run(capsys, *on(xrtprods_service, "submit", "GRB 200416A", "--resolver", "service",
                                     "--lc", "--psf", "--wait", "--timeout", 60))
    assert code == 0, err
    job_id = out.split("Submitted job ", 1)[1].split()[0]
    assert f"USERPROD_{job_id}" in out
    assert "2/2 products done" in err
    assert "lightcurve" in out and "complete" in out
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email)
    pars = client.old_job(job_id)["jobPars"]
    assert pars["name"] == "GRB 200416A"
    assert float(pars["RA"]) == pytest.approx(335.6985, abs=1e-3)


def test_quiet_submit_prints_only_the_job_id(capsys, xrtprods_service):
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "submit", "--ra", 335.6985, "--dec", -7.5179,
                                     "--psf"))
    assert code == 0
    assert out.strip().isdigit()
    jobs = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email).job_list_data()
    assert int(out) in [int(j["JobID"]) for j in jobs]


def test_status_shows_each_product(capsys, xrtprods_service, done_job):
    code, out, err = run(capsys, *on(xrtprods_service, "status", done_job.job_id))
    assert code == 0
    assert done_job.url in out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(lines) == {"lightcurve", "spectrum", "standard_position"}
    assert all("complete" in line and "(status 4)" in line for line in lines.values())


def test_status_of_a_running_job_shows_progress(capsys, slow_service):
    job = XRTProductsClass(server=slow_service.url, email=slow_service.email).submit(
        grb_request(standard_position=True))
    code, out, err = run(capsys, *on(slow_service, "status", job.job_id, "--products", "psf"))
    assert code == 0
    assert "standard_position  running" in out
    assert len(out.splitlines()) >= 3  # the progress text is printed under the product


def test_wait_succeeds_with_a_progress_bar(capsys, xrtprods_service):
    job = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email).submit(
        grb_request(standard_position=True, enhanced_position=True))
    code, out, err = run(capsys, *on(xrtprods_service, "wait", job.job_id, "--poll-interval", 0.1))
    assert code == 0
    assert "[####################] 2/2 products done" in err
    assert "enhanced_position" in out and "complete" in out


def test_wait_time_out_is_exit_code_4(capsys, slow_service):
    job = XRTProductsClass(server=slow_service.url, email=slow_service.email).submit(
        grb_request(standard_position=True))
    code, out, err = run(capsys, *on(slow_service, "wait", job.job_id, "--timeout", 0.3,
                                     "--poll-interval", 0.1))
    assert code == cli.EXIT_TIMEOUT
    assert "did not finish within 0.3 s" in err and f"xrtprods wait {job.job_id}" in err
    assert "Traceback" not in err


def test_ctrl_c_while_waiting_is_exit_code_130(capsys, slow_service, monkeypatch):
    job = XRTProductsClass(server=slow_service.url, email=slow_service.email).submit(
        grb_request(standard_position=True))

    def interrupt(self, seconds):
        raise KeyboardInterrupt

    # The CLI waits with XRTJob.wait, which pauses on the client's clock.
    monkeypatch.setattr(XRTProductsClass, "sleep", interrupt)
    code, out, err = run(capsys, *on(slow_service, "wait", job.job_id))
    assert code == cli.EXIT_INTERRUPT
    assert "interrupted" in err and "Traceback" not in err
    assert f"job {job.job_id} goes on; wait for it again with: xrtprods wait {job.job_id}" in err
    assert f"[interrupted; job {job.job_id} goes on]" in err and "failed" not in err.lower()


def test_cancel_reports_each_product(capsys, slow_service):
    client = XRTProductsClass(server=slow_service.url, email=slow_service.email)
    job = client.submit(grb_request(standard_position=True, enhanced_position=True))
    code, out, err = run(capsys, *on(slow_service, "cancel", job.job_id, "--products", "enh"))
    assert code == 0
    assert out.startswith("enhanced_position  cancelled")
    statuses = client.get_job(job.job_id).status()
    assert statuses["enhanced_position"].code < 0 and not statuses["standard_position"].done


def test_cancel_of_a_finished_job_fails_with_the_reason(capsys, xrtprods_service, done_job):
    code, out, err = run(capsys, *on(xrtprods_service, "cancel", done_job.job_id))
    assert code == cli.EXIT_FAILURE
    for key in ("lightcurve", "spectrum", "standard_position"):
        assert f"{key}" in out
    assert "not cancelled (probably already finished)" in out and " cancelled:" not in out
    assert f"job {done_job.job_id}: not cancelled: lightcurve (probably already finished)" in err


def test_download_archives_extract_and_zip(capsys, tmp_path, xrtprods_service, done_job):
    code, out, err = run(capsys, *on(xrtprods_service, "download", done_job.job_id, "-o", tmp_path / "a"))
    assert code == 0
    paths = [Path(line) for line in out.splitlines()]
    assert sorted(p.name for p in paths) == sorted(
        f"USERPROD_{done_job.job_id}_{code}.tar.gz" for code in ("lc", "spec", "psf"))
    for path in paths:
        with tarfile.open(path) as archive:
            assert archive.getnames()
    code, out, err = run(capsys, *on(xrtprods_service, "download", done_job.job_id, "-o", tmp_path / "z",
                                     "--format", "zip", "--products", "psf"))
    assert code == 0
    with zipfile.ZipFile(out.strip()) as archive:
        assert archive.namelist()
    code, out, err = run(capsys, *on(xrtprods_service, "download", done_job.job_id, "-o", tmp_path / "x",
                                     "--products", "lc", "--extract"))
    assert code == 0
    files = [Path(line) for line in out.splitlines()]
    assert files and all(f.is_file() and f.stat().st_size > 0 for f in files)
    assert any(f.suffix == ".qdp" for f in files)
    # A second download without --overwrite refuses, naming the file.
    code, out, err = run(capsys, *on(xrtprods_service, "download", done_job.job_id, "-o", tmp_path / "z",
                                     "--format", "zip", "--products", "psf"))
    assert code == cli.EXIT_FAILURE and "exists" in err


def test_lightcurve_ecsv_round_trip_fits_and_png(capsys, tmp_path, xrtprods_service, done_job):
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email)
    # The CLI's times are UKSSDC's UTC: the JSON's MET T0 with the job's lc/t0.date.
    t0_date = client.file_text(f"{done_job.url}/lc/t0.date")
    expected = read_lightcurve_json(client.lightcurve_data(done_job.job_id, cache=False),
                                    t0_date=t0_date).combined("rate")
    ecsv, fits, png = tmp_path / "lc.ecsv", tmp_path / "lc.fits", tmp_path / "lc.png"
    code, out, err = run(capsys, *on(xrtprods_service, "lightcurve", done_job.job_id, "--output", ecsv,
                                     "--plot", png, "--max-lines", 10))
    assert code == 0, err
    assert "rate" in out.splitlines()[0] and len(out.splitlines()) <= 11
    table = Table.read(ecsv)
    assert len(table) == len(expected) > 0
    assert isinstance(table["time"], Time)
    assert table["rate"].unit == u.ct / u.s
    np.testing.assert_allclose(table["rate"], expected["rate"])
    np.testing.assert_allclose(table["time"].mjd, expected["time"].mjd, rtol=0, atol=1e-9)
    assert list(table["mode"]) == list(expected["mode"])
    assert table.meta["t0"] == expected.meta["t0"].isot
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = run(capsys, *on(xrtprods_service, "-q", "lightcurve", done_job.job_id,
                                     "--dataset", "PCHR", "--output", fits))
    assert code == 0 and out == ""
    hr = Table.read(fits, astropy_native=True)  # Time columns come back as Time
    full = read_lightcurve_json(client.lightcurve_data(done_job.job_id, cache=False), t0_date=t0_date)
    assert len(hr) == len(full["PCHR"])
    np.testing.assert_allclose(hr["hr"], full["PCHR"]["hr"])
    assert isinstance(hr["time"], Time) and hr.meta["T0"] == full.meta["t0"].isot  # FITS: upper case

    code, out, err = run(capsys, *on(xrtprods_service, "lightcurve", done_job.job_id, "--dataset", "XX"))
    assert code == cli.EXIT_USAGE and "no dataset 'XX'" in err
    code, out, err = run(capsys, *on(xrtprods_service, "lightcurve", done_job.job_id,
                                     "-o", tmp_path / "a.txt"))
    assert code == cli.EXIT_USAGE and ".ecsv or .fits" in err


def test_lightcurve_of_an_unfinished_job_is_exit_code_1(capsys, slow_service):
    job = XRTProductsClass(server=slow_service.url, email=slow_service.email).submit(grb_request())
    code, out, err = run(capsys, *on(slow_service, "lightcurve", job.job_id))
    assert code == cli.EXIT_FAILURE
    assert "not complete yet" in err


def test_jobs_lists_the_history(capsys, xrtprods_service, done_job):
    code, out, err = run(capsys, *on(xrtprods_service, "jobs"))
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["job_id", "name", "submitted", "products", "has_products"]
    row = next(line for line in out.splitlines() if line.split()[0] == str(done_job.job_id))
    assert "GRB 200416A" in row and "lightcurve,spectrum,standard_position" in row
    code, out, err = run(capsys, *on(xrtprods_service, "jobs", "--limit", 1))
    assert code == 0 and len(out.splitlines()) == 3  # header, rule, one job


def test_serve_prints_how_to_connect_and_serves(capsys, monkeypatch, tmp_path):
    seen = {}

    def drive(service):
        client = XRTProductsClass(server=service.url, email="someone@example.org")
        seen["active"] = client.count_active_jobs()
        seen["service"] = service
        raise KeyboardInterrupt  # what Ctrl-C does

    monkeypatch.setattr(cli, "_wait_forever", drive)
    code, out, err = run(capsys, "serve", "--users", "someone@example.org", "--job-duration", 0,
                         "--data-dir", tmp_path / "svc")
    assert code == 0
    service = seen["service"]
    assert seen["active"] == 0
    assert f"running at {service.url}" in out
    assert f"xrtprods --server {service.url} --email someone@example.org" in out
    assert f"conf.server = '{service.url}'" in out
    assert not service.running  # stopped on Ctrl-C


# ------------------------------------------------------------------------------ error exit codes

def test_usage_errors_are_exit_code_2_without_traceback(capsys):
    code, out, err = run(capsys, "submit", "--bogus")
    assert code == cli.EXIT_USAGE and "unrecognized arguments: --bogus" in err
    code, out, err = run(capsys, "submit", "--ra", 10, "--dec", 10, "--dry-run")
    assert code == cli.EXIT_USAGE and "No products have been requested" in err
    code, out, err = run(capsys, "submit", "--ra", 10, "--lc", "--dry-run")
    assert code == cli.EXIT_USAGE and "--ra/--dec: give both" in err
    code, out, err = run(capsys, "wait", "1", "--timeout", "-3")
    assert code == cli.EXIT_USAGE and "a number >= 0" in err
    assert "Traceback" not in err


def test_missing_email_is_a_usage_error(capsys, xrtprods_service):
    code, out, err = run(capsys, "--server", xrtprods_service.url, "jobs")
    assert code == cli.EXIT_USAGE
    assert "XRTPRODS_EMAIL" in err


def test_client_side_resolver_failure_is_a_usage_error(capsys, monkeypatch):
    def fail(name, *args, **kwargs):
        raise ValueError(f"Unable to find coordinates for name '{name}'")

    monkeypatch.setattr(SkyCoord, "from_name", fail)
    code, out, err = run(capsys, "submit", "Nowhere X-1", "--resolver", "client", "--lc", "--dry-run")
    assert code == cli.EXIT_USAGE
    assert "could not be resolved" in err and "--ra/--dec" in err


def test_service_refusal_is_exit_code_3(capsys, xrtprods_service):
    code, out, err = run(capsys, "--server", xrtprods_service.url, "--email", "stranger@example.org",
                         "submit", "--ra", 335.6985, "--dec", -7.5179, "--psf")
    assert code == cli.EXIT_SERVICE
    assert err.startswith("xrtprods: error:") and "Traceback" not in err


def test_unreachable_service_is_exit_code_3(capsys, xrtprods_service_factory):
    service = xrtprods_service_factory()
    url = service.url
    service.stop()
    with conf.set_temp("retries", 0):
        code, out, err = run(capsys, "--server", url, "--email", "demo@example.org", "--timeout", 2, "jobs")
    assert code == cli.EXIT_SERVICE
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------- demo

def test_demo_command_in_a_temporary_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "demo", "--job-duration", 0.3)
    assert code == 0, err
    folder = tmp_path / "xrtprods-demo"
    archives = sorted(folder.glob("USERPROD_*.tar.gz"))
    assert [p.name.split("_")[-1] for p in archives] == sorted(
        ["lc.tar.gz", "spec.tar.gz", "psf.tar.gz", "enh.tar.gz"])
    for path in archives:
        with tarfile.open(path) as archive:
            assert archive.getmembers()
    lc = Table.read(folder / "lightcurve.ecsv")
    assert len(lc) > 10 and lc["rate"].unit == u.ct / u.s
    fits = Table.read(folder / "spectral_fits.ecsv")
    assert fits["nh"].unit == u.cm**-2 and set(fits["mode"]) <= {"WT", "PC"}
    for text in ("N_H =", "Gamma =", "erg / (s cm2)", "err90 =", "arcsec", "Summary", "lightcurve.ecsv"):
        assert text in out
    assert out.rstrip().endswith(REAL_SERVICE_CODE.splitlines()[-1])
    assert "XRTProducts.login(" in out


def test_demo_rerun_replaces_its_own_folder_only(capsys, tmp_path):
    dest = tmp_path / "my-demo"
    for _ in range(2):
        code, out, err = run(capsys, "demo", "--dest", dest, "--job-duration", 0.2)
        assert code == 0, err
        # One run's archives, never an accumulation over runs.
        assert len(list(dest.glob("USERPROD_*.tar.gz"))) == 4
        assert (dest / ".xrtprods-demo").is_file()
        assert f"Writing into {dest.resolve()}" in out
    # A folder (or file) the demo did not make is refused and left as it was.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    code, out, err = run(capsys, "demo", "--dest", mine, "--job-duration", 0.2)
    assert code == cli.EXIT_FAILURE and "was not made by xrtprods demo" in err and "--dest" in err
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
    (tmp_path / "file").write_text("x")
    code, out, err = run(capsys, "demo", "--dest", tmp_path / "file")
    assert code == cli.EXIT_FAILURE and (tmp_path / "file").read_text() == "x"


def test_run_demo_returns_astropy_objects(tmp_path):
    import io
    stream = io.StringIO()
    result = run_demo(tmp_path / "out", job_duration=0.2, stream=stream)
    assert isinstance(result, DemoResult)
    assert result.output_dir == tmp_path / "out"
    assert all(p.is_file() for p in result.archives + result.files)
    standard = result.positions["standard"]
    assert standard.found and standard.err90.unit == u.arcsec
    assert standard.coord.separation(GRB) < 30 * u.arcsec
    assert result.positions["enhanced"].err90 < standard.err90
    ok = result.spectral_fits[result.spectral_fits["status"] == "ok"]
    assert len(ok) >= 1 and np.all(ok["gamma"] > 1) and np.all(ok["obs_flux"].quantity > 0)
    assert "PC" in result.lightcurve.datasets
    # The narration went to the stream given, and says where the files are.
    assert str((tmp_path / "out").resolve()) in stream.getvalue()


def test_the_printed_python_runs(xrtprods_service_factory, monkeypatch):
    """The demo's closing lines of Python work as printed (here against a local service)."""
    from xrtprods_astro import XRTProducts
    service = xrtprods_service_factory(users=None)
    monkeypatch.setattr(XRTProducts, "_email", None)  # restored after the test: login() sets it
    namespace = {}
    with conf.set_temp("server", service.url), conf.set_temp("poll_interval", 0.1), \
            conf.set_temp("name_resolver", "service"):
        exec(REAL_SERVICE_CODE, namespace)
    lc = namespace["lc"]
    assert "PC" in lc.datasets and lc["PC"]["rate"].unit == u.ct / u.s
    # UKSSDC's own UTC for T0 (lc/t0.date, clock correction included), not the uncorrected MET.
    assert lc.meta["t0"].isot == "2020-04-16T07:05:17.171" and lc.meta["time_source"] == "t0.date"


def test_submit_table_row_needs_one_target_source(capsys, tmp_path):
    path = tmp_path / "t.ecsv"
    Table({"name": ["A", "B"], "ra": [1.0, 2.0], "dec": [3.0, 4.0]}).write(path)
    code, out, err = run(capsys, "--email", "a@b.org", "submit", "--table", path, "--lc", "--dry-run")
    assert code == cli.EXIT_USAGE and "--row N" in err
    code, out, err = run(capsys, "--email", "a@b.org", "submit", "--table", path, "--row", 1, "--lc",
                         "--dry-run")
    assert code == 0 and json.loads(out)["RA"] == 2.0 and json.loads(out)["name"] == "B"
    code, out, err = run(capsys, "submit", "X", "--table", path, "--row", 0, "--lc", "--dry-run")
    assert code == cli.EXIT_USAGE and "not two of them" in err


def test_submit_says_when_it_reuses_a_job_and_no_reuse_submits_anew(capsys, xrtprods_service):
    args = ("submit", "--ra", 335.6985, "--dec", -7.5179, "--name", "reuse-check", "--psf")
    code, out, err = run(capsys, *on(xrtprods_service, *args))
    assert code == 0 and out.startswith("Submitted job ")
    first = out.split()[2]
    code, out, err = run(capsys, *on(xrtprods_service, *args))
    assert code == 0 and out.startswith(f"Re-using job {first} ") and "--no-reuse" in out
    code, out, err = run(capsys, *on(xrtprods_service, *args, "--no-reuse"))
    assert code == 0 and out.startswith("Submitted job ") and out.split()[2] != first
    jobs = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email).job_list_data()
    assert sum(j["Name"] == "reuse-check" for j in jobs) == 2


def test_the_default_demo_folder_is_ignored_by_git_in_a_clone():
    # Issue 20 item 19: "xrtprods demo" run in a clone must not leave untracked files in git status.
    root = Path(__file__).resolve().parent.parent
    if not (root / ".gitignore").is_file():
        pytest.skip("not a source checkout")
    default = cli.build_parser().parse_args(["demo"]).dest
    patterns = (root / ".gitignore").read_text().splitlines()
    assert f"/{default}/" in patterns or f"{default}/" in patterns


def test_lightcurve_prints_mets_as_plain_decimals(capsys, xrtprods_service, done_job):
    # Issue 20 item 19: the combined table took a lone upper limit's display format for every
    # row's MET, and printed 6.0871e+08.
    code, out, err = run(capsys, *on(xrtprods_service, "lightcurve", done_job.job_id, "--max-lines", -1))
    assert code == 0, err
    lines = out.splitlines()
    header = lines[0].split()
    assert "met" in header and "PCUL" in out
    mets = [line.split()[header.index("met")] for line in lines[3:]]
    assert mets and all("e" not in m and float(m) > 1e8 for m in mets), mets
