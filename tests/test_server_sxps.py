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
    assert ["orig_target_id", "MISC", "Trigger Number as Originally Assigned", "INT"] == meta["metadata"][1][:4]
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
                                 "filter2": "BETWEEN", "val2": [1, 2]}]},
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
            answer = session.post(f"{svc.url}/API/main.php", json=body, timeout=30)
            if answer.status_code >= 500 or ("OK" not in answer.json() and "ERROR" not in answer.json()):
                failures.append((key, repr(value)[:30], answer.status_code))
    assert failures == []
