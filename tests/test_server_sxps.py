# Licensed under a 3-clause BSD style license - see LICENSE
"""The local service's catalogue functions (server/sxps.py) on the wire, as the spec describes them.

Not server/catalogue.py (the simulated sky's objects, which the name resolver uses): server/sxps.py
builds an LSXPS-like catalogue from that sky and answers getMetadata, queryDB and getSXPSUL.
"""
import math

import pytest
import requests

from xrtprods_astro.server.sxps import PAGE_LIMIT, kbn


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("sxpssvc"))
    service.start()
    yield service
    service.stop()


def call(svc, **body):
    answer = requests.post(f"{svc.url}/API/main.php", json={**body, "APIVersion": "1.0.5"}, timeout=30)
    assert answer.status_code == 200
    return answer.json()


def test_kbn_reproduces_the_documented_upper_limit_rows():
    # spec §2.3/§2.5: row 00831816008 and example 1's stack 10000018414.
    three = math.erf(3 / math.sqrt(2))
    one = math.erf(1 / math.sqrt(2))
    assert kbn(5, 0.830020, three)[2] * 1.276016 / 3151.6761 == pytest.approx(0.005775, abs=1e-6)
    mode, lo, hi = (x * 1.276016 / 3151.6761 for x in kbn(5, 0.830020, one))
    assert mode == pytest.approx(0.001688, abs=1e-6)
    assert hi - mode == pytest.approx(0.001065, abs=2e-6) and lo - mode == pytest.approx(-0.000786, abs=2e-6)
    assert kbn(17, 22.100154, three)[2] * 1.326975 / 55395.777344 == pytest.approx(0.000321, abs=1e-6)


def test_metadata_shape(svc):
    answer = call(svc, APIFunc="getMetadata", database="obs", table="swiftmastr")
    assert answer["OK"] == 1 and answer["APIVersion"] == "1.0.5"
    meta = answer["metadata"]
    assert meta["columns"][:4] == ["ColName", "Class", "Description", "Type"]
    # The documented rows and their order (query.md): name, orig_target_id, target_id, ra, decl, roll_angle.
    assert [row[0] for row in meta["metadata"][:6]] == ["name", "orig_target_id", "target_id", "ra", "decl",
                                                        "roll_angle"]
    orig = ["orig_target_id", "MISC", "Trigger Number as Originally Assigned", "INT"]
    assert orig == meta["metadata"][1][:4]
    assert ["roll_angle", "BASIC", "Roll Angle (degree)", "FLOAT"] == meta["metadata"][5][:4]


def test_pages_are_capped_and_counted(svc):
    too_big = call(svc, APIFunc="queryDB", database="LSXPS", table="sources", numRows=PAGE_LIMIT + 1)
    assert "OK" not in too_big and "numRows" in too_big["ERRORTEXT"]
    seen = []
    for first in (0, 1000, 2000, 3000):
        page = call(svc, APIFunc="queryDB", database="LSXPS", table="Sources", cols=["LSXPS_ID"],
                    numRows=1000, firstRow=first)
        assert page["NumRows"] == len(page["Results"])
        seen += [row["LSXPS_ID"] for row in page["Results"]]
    assert len(seen) == len(set(seen)) > 2000


def test_constraints_combiner_between_and_like(svc):
    rows = call(svc, APIFunc="queryDB", database="obs", table="swiftmastr", cols=["obsid", "xrt_exposure"],
                constraints=[{"colName": "xrt_exposure", "filter": "<", "val": 1000, "combiner": "OR",
                              "filter2": ">", "val2": 2500},
                             {"colName": "obs_segment", "filter": "BETWEEN", "val": [1, 2], "combiner": None,
                              "filter2": None, "val2": None},
                             {"colName": "name", "filter": "LIKE", "val": "GK%", "combiner": None,
                              "filter2": None, "val2": None}])["Results"]
    assert rows and all(r["xrt_exposure"] < 1000 or r["xrt_exposure"] > 2500 for r in rows)
    assert all(r["obsid"].startswith(("00030842", "00035210")) for r in rows)
    bad = call(svc, APIFunc="queryDB", database="obs", table="swiftmastr",
               constraints=[{"colName": "nope", "filter": "=", "val": 1}])
    assert "ERROR" in bad and "OK" not in bad


def test_cone_by_name_gives_resolved_keys_and_sorted_r(svc):
    answer = call(svc, APIFunc="queryDB", database="LSXPS", table="sources", searchName="Mrk 421",
                  searchRad=10, adUnits="arcmin")
    assert answer["ResolvedInfo"] == "Resolved 'Mrk 421' as (166.11381, 38.20883) via SIMBAD"
    distances = [row["_r"] for row in answer["Results"]]
    assert distances == sorted(distances) and distances[-1] <= 10 and distances[0] == 0
    with_ra = call(svc, APIFunc="queryDB", database="LSXPS", table="sources", searchRA=166.11381,
                   searchDec=38.20883, searchRad=600)
    assert "ResolvedInfo" not in with_ra and with_ra["NumRows"] == answer["NumRows"]


def test_upper_limit_answer_shape(svc):
    answer = call(svc, APIFunc="getSXPSUL", catalogue="LSXPS", bands="all", whichData="all", timeFormat="cal",
                  sigma=3.0, detectionsAsRates=False, skipDetections=False, useCatValues=False,
                  searchName="52.80004, 43.90431")
    assert answer["ResolvedInfo"] == "Parsed '52.80004, 43.90431' as (52.80004, 43.90431)"
    assert len(answer["Columns"]) == 21 and answer["Columns"][:3] == ["StartTime", "StopTime", "ObsID"]
    assert all(len(row) == 21 for row in answer["ULData"]) and len(answer["ULData"]) > 1
    assert answer["ULData"][0][2].startswith("1") and len(answer["ULData"][1][2]) == 11
    assert answer["DetData"][0]["Distance"] == 0.0
    by_radec = call(svc, APIFunc="getSXPSUL", RA=52.80004, Dec=43.90431)
    assert "ResolvedInfo" not in by_radec and len(by_radec["ULData"]) == 1      # deepest: one stack
    rates = call(svc, APIFunc="getSXPSUL", RA=166.11381, Dec=38.25, whichData="all", detectionsAsRates=True)
    detected = rates["Columns"].index("Total_IsDetected")
    assert all(row[detected] is False for row in rates["ULData"])           # JSON booleans
    rate = rates["Columns"].index("Total_Rate")
    assert all(row[rate] == "nan" for row in rates["ULData"])               # never an all-null column


def test_upper_limit_time_out_then_once_by_ulid(svc):
    svc.sxps.ul_timeouts = 1
    first = call(svc, APIFunc="getSXPSUL", RA=52.80004, Dec=43.90431)
    assert first["OK"] == 1 and set(first) == {"OK", "TIMEOUT", "APIVersion"}
    again = call(svc, APIFunc="getSXPSUL", ULID=first["TIMEOUT"])
    assert "ULData" in again and "Columns" in again
    gone = call(svc, APIFunc="getSXPSUL", ULID=first["TIMEOUT"])
    assert "OK" not in gone and "already retrieved" in gone["ERRORTEXT"]


def test_upper_limit_without_a_position_is_an_error(svc):
    answer = call(svc, APIFunc="getSXPSUL", RA=10.0)
    assert "OK" not in answer and "RA and Dec" in answer["ERRORTEXT"]


HOSTILE = [None, True, False, 0, -1, 1.5, 1e308, -1e308, "", " ", "²", "NaN", "1e5", "\x00", "a" * 5000,
           [], [1, 2], [[[]]], {}, {"a": {"b": 1}}, "all", ["total", None]]
BASES = {
    "getMetadata": {"database": "LSXPS", "table": "sources"},
    "queryDB": {"database": "obs", "table": "swiftmastr", "cols": ["obsid"], "numRows": 10, "firstRow": 0,
                "sortBy": "obsid", "sortDir": "ASC", "searchRA": 52.8, "searchDec": 43.9, "searchRad": 60,
                "adUnits": "arcsec", "searchName": "GK Per",
                "constraints": [{"colName": "xrt_exposure", "filter": ">", "val": 1, "combiner": "OR",
                                 "filter2": "BETWEEN", "val2": [1, 2]}],
                "subset": None, "RACol": "ra", "DecCol": "decl"},
    "getSXPSTable": {"whichCat": "LSXPS", "table": "transients", "epoch": "2022-08-20", "format": "csv"},
    "getSXPSUL": {"catalogue": "LSXPS", "bands": "all", "whichData": "all", "timeFormat": "met", "sigma": 3,
                  "detectionsAsRates": True, "RA": 166.1, "Dec": 38.2, "ULID": "UL000001"},
}


@pytest.mark.parametrize("func", sorted(BASES))
def test_hostile_values_never_get_a_5xx(svc, func):
    session = requests.Session()
    failures = []
    for key in BASES[func]:
        for value in HOSTILE:
            body = {**BASES[func], key: value, "APIFunc": func}
            if func == "getSXPSUL" and key != "ULID":
                body.pop("ULID")
            if func == "queryDB" and key == "subset" and value is None:
                continue
            answer = session.post(f"{svc.url}/API/main.php", json=body, timeout=30)
            if answer.status_code >= 500 or ("OK" not in answer.json() and "ERROR" not in answer.json()):
                failures.append((key, repr(value)[:30], answer.status_code))
    assert failures == []


# ---------------------------------------------------------------------- every table (spec §4.1)
def test_every_table_has_metadata_matching_its_rows(svc):
    from xrtprods_astro.server.sxps import ALL_TABLES
    assert len(ALL_TABLES) == 19
    for database, table in ALL_TABLES:
        meta = call(svc, APIFunc="getMetadata", database=database, table=table)["metadata"]
        rows = [dict(zip(meta["columns"], r)) for r in meta["metadata"]]
        names = [r["ColName"] for r in rows]
        page = call(svc, APIFunc="queryDB", database=database, table=table, cols=names, numRows=50,
                    firstRow=0)
        assert page["NumRows"] == len(page["Results"]) > 0, (database, table)
        assert all(list(r) == names for r in page["Results"])
        for col in (r["ColName"] for r in rows if int(r.get("IsObsCol", 0)) == 1):
            # The official client formats these with %011d: never null, always 11 digits.
            assert all(len(str(r[col])) == 11 and str(r[col]).isdigit() for r in page["Results"]), col
        flags = [r for r in rows if int(r.get("IsNameCol", 0)) == 1]
        assert len(flags) == (1 if database in ("UK_XRT", "SDC_GRB", "BAT_GRB") else 0)


def test_subset_and_cone_columns_on_the_wire(svc):
    ultra = call(svc, APIFunc="queryDB", database="LSXPS", table="datasets", cols=["DatasetID", "FieldFlag"],
                 subset="ultraclean", numRows=1000, firstRow=0)["Results"]
    assert ultra and {r["FieldFlag"] for r in ultra} == {0}
    assert "no subsets" in call(svc, APIFunc="queryDB", database="LSXPS", table="detections",
                                subset="clean")["ERRORTEXT"]
    assert "clean or ultraclean" in call(svc, APIFunc="queryDB", database="2SXPS", table="sources",
                                         subset="nice")["ERRORTEXT"]
    cone = dict(APIFunc="queryDB", database="UK_XRT", table="XRTLiveCat", searchName="GRB 200416A",
                searchRad=30, cols=["name"])
    assert [r["name"] for r in call(svc, **cone)["Results"]] == ["GRB 200416A"]
    assert call(svc, **cone, RACol="Onboard_RA", DecCol="Onboard_Decl")["NumRows"] == 1
    assert call(svc, **cone, RACol="SPER_RA", DecCol="SPER_Decl")["NumRows"] == 0      # no SPER positions
    bad = call(svc, **cone, RACol="Err90", DecCol="Decl")
    assert "OK" not in bad and "RA_s" not in bad["ERRORTEXT"] and "Enh_RA/Enh_Decl" in bad["ERRORTEXT"]
    assert "no position columns" in call(svc, APIFunc="queryDB", database="obs", table="swiftbalog",
                                         searchRA=1.0, searchDec=2.0, searchRad=10)["ERRORTEXT"]


# ---------------------------------------------------------------------- full tables (spec §3.10)
def test_old_tables_have_the_documented_epochs(svc):
    old = call(svc, APIFunc="getOldSXPSTables")
    assert set(old) == {"OK", "hourly", "daily", "APIVersion"}
    assert list(old["hourly"])[0] == "2022-08-17 10:00:01 UTC"
    assert list(old["daily"])[:2] == ["2022-08-16", "2022-08-17"]
    files = old["daily"]["2022-08-17"]["sources"]
    assert "LSXPS_Sources_ultra-clean_20220817T000001.fits.gz" in files


@pytest.mark.parametrize("body,name", [
    ({"table": "sources", "format": "csv"}, "LSXPS_Sources.csv"),
    ({"table": "datasets", "subset": "ultra-clean", "format": "fits"}, "LSXPS_Datasets_ultra-clean.fits"),
    ({"table": "sources", "subset": "ultraclean", "epoch": "2022-08-17", "format": "fits"},
     "LSXPS_Sources_ultra-clean_20220817T000001.fits.gz"),
    ({"whichCat": "2SXPS", "table": "xcorr", "format": "CSV"}, "2SXPS_Xcorr.csv"),
])
def test_full_table_names_and_bytes(svc, tmp_path, body, name):
    import gzip
    import io
    answer = call(svc, APIFunc="getSXPSTable", **body)
    assert set(answer) == {"OK", "URL", "FILE", "APIVersion"}
    # The official client saves basename(URL) and opens basename(FILE): they must be equal.
    assert answer["URL"].rsplit("/", 1)[1] == answer["FILE"].rsplit("/", 1)[1] == name
    got = requests.get(answer["URL"], timeout=60)
    assert got.status_code == 200 and int(got.headers["Content-Length"]) == len(got.content)
    data = gzip.decompress(got.content) if name.endswith(".gz") else got.content
    if ".csv" in name:
        pandas = pytest.importorskip("pandas")
        frame = pandas.read_csv(io.BytesIO(data), sep=",", low_memory=False)
        assert len(frame) > 0 and frame.columns[0] in ("LSXPS_ID", "2SXPS_ID")
    else:
        from astropy.io import fits
        with fits.open(io.BytesIO(data)) as hdus:
            assert hdus[1].columns["RA"].unit == "deg" and len(hdus[1].data) > 0


def test_full_table_errors_and_missing_files(svc):
    assert "exactly one" in call(svc, APIFunc="getSXPSTable", table="sources", epoch="2022-08-17 10:00")[
        "ERRORTEXT"]
    assert "csv or fits" in call(svc, APIFunc="getSXPSTable", table="sources", format="xml")["ERRORTEXT"]
    assert "no subsets" in call(svc, APIFunc="getSXPSTable", table="xcorr", subset="clean")["ERRORTEXT"]
    assert "oldstacks" in call(svc, APIFunc="getSXPSTable", table="stars")["ERRORTEXT"]
    for path in ("/LSXPS/tables/LSXPS_Nothing.csv", "/LSXPS/tables/../../etc/passwd", "/LSXPS/tables/"):
        assert requests.get(f"{svc.url}{path}", timeout=30).status_code == 404
