# Licensed under a 3-clause BSD style license - see LICENSE
"""``xrtprods query`` and ``xrtprods upper-limits`` (xrtprods_astro/cli_catalogues.py), in-process against
the local service: the same bodies as from Python, printed tables, files read back with their units,
tables of targets, the kept results and exit codes."""
import json

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import CataloguesClass, cli
from xrtprods_astro.cli_catalogues import parse_constraint
from xrtprods_astro.exceptions import InvalidRequestError


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("clicat"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def run(capsys, svc):
    svc.sxps.ul_timeouts = 0

    def call(*argv):
        code = cli.main(["--server", svc.url, *[str(a) for a in argv]])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return call


@pytest.fixture
def py(svc):
    return CataloguesClass(server=svc.url)


def _asked(svc):
    return svc.request_counts().get("main", 0)


# ---------------------------------------------------------------------------------------- same payload
def test_query_dry_run_is_the_python_payload(run, py):
    code, out, err = run("query", "obs", "swiftmastr", "--ra", "52.80004", "--dec", "43.90431", "--radius",
                         "300", "--where", "xrt_exposure>1000", "--row-limit", "50", "--dry-run")
    assert code == 0, err
    assert json.loads(out) == py.query_region(SkyCoord(52.80004, 43.90431, unit="deg"), 300 * u.arcsec,
                                              catalog="obs", table="swiftmastr", row_limit=50,
                                              xrt_exposure=(">", 1000), get_query_payload=True)
    code, out, err = run("query", "LSXPS", "sources", "--where", "Rate_band0 BETWEEN 0.1 5", "--columns",
                         "IAUName,Rate_band0", "--sort-by", "Rate_band0", "--descending", "--dry-run")
    assert json.loads(out) == py.query_criteria("LSXPS", "sources", columns=["IAUName", "Rate_band0"],
                                                sort_by="Rate_band0", sort_descending=True,
                                                Rate_band0=("BETWEEN", 0.1, 5), get_query_payload=True)


def test_upper_limits_dry_run_is_the_python_payload(run, py, svc):
    before = _asked(svc)
    code, out, err = run("upper-limits", "GK Per", "--bands", "soft,hard", "--which-data", "all", "--sigma",
                         "2", "--skip-detections", "--dry-run")
    assert code == 0, err
    assert json.loads(out) == py.get_upper_limits("GK Per", bands=["soft", "hard"], which_data="all",
                                                  sigma=2.0, skip_detections=True, get_query_payload=True)
    code, out, err = run("upper-limits", "--ra", "03:31:12.01", "--dec", "43:54:15.5", "--dry-run")
    body = json.loads(out)
    assert body["RA"] == pytest.approx(52.80004, abs=1e-4) and "searchName" not in body
    assert _asked(svc) == before


def test_constraints_parse_as_python_takes_them():
    assert parse_constraint("Rate_band0>1") == ("Rate_band0", (">", 1))
    assert parse_constraint("name not like 'GK%'") == ("name", ("NOT LIKE", "GK%"))
    between = ("xrt_exposure", ("BETWEEN", 1000, 5000.0))
    assert parse_constraint("xrt_exposure BETWEEN 1000 AND 5e3") == between
    assert parse_constraint("Err90 is not null") == ("Err90", ("IS NOT NULL",))
    assert parse_constraint("obsid = '00030842001'") == ("obsid", ("=", "00030842001"))
    for bad in ("Rate_band0", "x BETWEEN 1", "x IS NULL 3", "x >"):
        with pytest.raises(InvalidRequestError, match="--where"):
            parse_constraint(bad)


# ---------------------------------------------------------------------------------------- query
def test_query_cone_by_name_writes_a_table(run, tmp_path):
    path = tmp_path / "near.ecsv"
    code, out, err = run("query", "LSXPS", "sources", "--name", "GK Per", "--radius", "5arcmin", "-o", path)
    assert code == 0, err
    assert "Resolved 'GK Per'" in err and f"Wrote {path}" in err and "LSXPS J033112.0+435415" in out
    table = Table.read(path)
    assert table["_r"].unit == u.arcsec and np.all(np.diff(table["_r"]) >= 0)
    assert table["Rate_band0"].unit == u.ct / u.s and table["ra"].unit == u.deg   # the coord, as columns


def test_query_criteria_row_limit_and_fits(run, tmp_path):
    path = tmp_path / "rows.fits"
    code, out, err = run("query", "LSXPS", "sources", "--row-limit", "1200", "-o", path, "-q")
    assert code == 0, err
    assert len(Table.read(path)) == 1200 and out == ""


def test_query_of_a_targets_file(run, tmp_path):
    targets = tmp_path / "targets.csv"
    Table({"main_id": ["GK Per", "Mrk 421"], "ra": [52.80004, 166.11381],
           "dec": [43.90431, 38.20883]}).write(targets)
    code, out, err = run("query", "LSXPS", "sources", "--targets", targets, "--radius", "30")
    assert code == 0, err
    assert "LSXPS J033112.0+435415" in out and "LSXPS J110427.3+381231" in out and "target_index" in out


def test_query_cache_flag(run, svc):
    run("query", "LSXPS", "sources", "--row-limit", "5", "--cache")
    before = _asked(svc)
    code, out, err = run("query", "LSXPS", "sources", "--row-limit", "5", "--cache")
    assert code == 0 and _asked(svc) == before


@pytest.mark.parametrize("argv, message", [
    (("query", "XMM", "sources"), "catalog"),
    (("query", "LSXPS", "sources", "--where", "Rate_band0"), "--where"),
    (("query", "LSXPS", "sources", "--radius", "5arcmin"), "--radius needs"),
    (("query", "LSXPS", "sources", "--name", "GK Per", "--radius", "5 kg"), "--radius"),
    (("query", "LSXPS", "sources", "--name", "GK Per", "--ra", "1", "--dec", "2"), "one of"),
    (("query", "LSXPS", "sources", "--row-limit", "5", "-o", "x.txt"), ".ecsv or .fits"),
    (("upper-limits",), "one of a name"),
    (("upper-limits", "--ra", "400", "--dec", "1"), "--ra"),
    (("upper-limits", "GK Per", "--bands", "xray"), "bands"),
    (("upper-limits", "GK Per", "--ulid", "UL1"), "--ulid"),
])
def test_bad_options_are_usage_errors_before_sending(run, svc, argv, message):
    before = _asked(svc)
    code, out, err = run(*argv)
    assert code == cli.EXIT_USAGE and message in err
    assert _asked(svc) - before <= 1     # at most the table's metadata, never a query


# ---------------------------------------------------------------------------------------- upper limits
def test_upper_limits_print_and_write(run, tmp_path):
    path = tmp_path / "ul.ecsv"
    code, out, err = run("upper-limits", "GK Per", "--which-data", "all", "--bands", "all", "-o", path)
    assert code == 0, err
    assert "Catalogued source within 30\": LSXPS J" in err and "Upper limits:" in err
    table = Table.read(path)
    assert isinstance(table["start"], Time) and table["Hard_UpperLimit"].unit == u.ct / u.s
    assert table["detected"].dtype == bool and table.meta["nearby_sources"]


def test_upper_limits_stacked(run, tmp_path):
    path = tmp_path / "stack.ecsv"
    code, out, err = run("upper-limits", "--ra", "166.11381", "--dec", "38.25", "--which-data", "all",
                         "--stack", "-o", path)
    assert code == 0, err
    table = Table.read(path)
    assert len(table) == 1 and table["n_datasets"][0] > 1 and table["Total_UpperLimit"].unit == u.ct / u.s


def test_upper_limits_of_a_targets_file_collect_errors_and_resume(run, svc, tmp_path):
    targets = tmp_path / "transients.ecsv"
    Table({"name": ["GK Per", "", "Mrk 421"]}).write(targets)
    code, out, err = run("upper-limits", "--targets", targets, "--errors", "collect", "-o",
                         tmp_path / "ul.fits")
    assert code == cli.EXIT_FAILURE and "target 1" in err and "2 row(s), 1 target(s) failed" in err
    assert "Upper limits: 3/3 targets done, 1 failed" in err                     # the progress line
    assert list(Table.read(tmp_path / "ul.fits")["target_index"]) == [0, 2]
    before = _asked(svc)
    code, out, err = run("upper-limits", "--targets", targets, "--errors", "collect")
    assert _asked(svc) == before            # the finished targets come from the kept results
    code, out, err = run("upper-limits", "--targets", targets)
    assert code == cli.EXIT_USAGE and "row" in err


def test_upper_limits_time_out_then_the_same_command_follows_up(run, svc):
    svc.sxps.ul_timeouts = 1 + CataloguesClass.UL_RETRIES
    code, out, err = run("upper-limits", "Mrk 421", "--which-data", "all")
    assert code == cli.EXIT_TIMEOUT and "ULID UL" in err
    ulid = err.split("ULID ")[1].split()[0]
    svc.sxps.ul_timeouts = 0
    before = _asked(svc)
    code, out, err = run("upper-limits", "Mrk 421", "--which-data", "all")
    assert code == 0 and _asked(svc) == before + 1          # one re-poll by ULID, no new request
    code, out, err = run("upper-limits", "--ulid", ulid)
    assert code == 0 and _asked(svc) == before + 1 and "Upper limits:" in err
