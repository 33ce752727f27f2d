# Licensed under a 3-clause BSD style license - see LICENSE
"""
The local XRT products service over real HTTP on 127.0.0.1, spoken to with plain ``requests``.

The sky and product builders are replaced by small stand-ins defined here (same interface as
``server/catalogue.py`` and ``server/build.py``), so these tests check the protocol side alone:
envelopes, errors, validation, users, lifecycle, cancel, retrieval, archives, ranges and faults.
"""
import io
import json
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests

from xrtprods_astro.server import LocalService
from xrtprods_astro.server.__main__ import main as server_main

USER = "demo@example.org"
OTHER = "other@example.org"


# ----------------------------------------------------------------------------- stand-ins
class StandInCatalogue:
    """resolve_name / targets_for / t0_for for two known objects."""

    known = {"GRB 200416A": (335.6985, -7.5179, ["00945521"], 608713541.952),
             "GK Per": (52.7993, 43.9047, ["00030842", "00031130"], 575000000.0)}

    @classmethod
    def resolve_name(cls, name):
        entry = cls.known.get(name)
        return None if entry is None else entry[:2]

    @classmethod
    def targets_for(cls, name, ra, dec):
        if name in cls.known:
            return list(cls.known[name][2])
        return [t for n, (r, d, targs, _) in cls.known.items()
                if ra is not None and abs(r - ra) < 0.2 and abs(d - dec) < 0.2 for t in targs]

    @classmethod
    def t0_for(cls, name, ra, dec, targs):
        entry = cls.known.get(name)
        return None if entry is None else entry[3]


@dataclass
class Outcome:
    code: str
    ok: bool
    reason: str = ""
    data: dict = field(default_factory=dict)
    files: list = field(default_factory=list)


LC_COLUMNS = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg"]


def stand_in_build(job_pars, job_id, job_url, job_dir, seed):
    """Write a few files per product and return payloads drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = {}
    flags = {"lc": "lc", "spec": "spec", "psf": "dopsf", "enh": "doenh", "xastrom": "doxastrom",
             "image": "image", "sourceDet": "sourceDet"}
    for code, flag in flags.items():
        if job_pars.get(flag) != 1:
            continue
        sub = Path(job_dir) / code
        sub.mkdir(parents=True, exist_ok=True)
        if job_pars["name"] == "FAIL" and code == "enh":
            out[code] = Outcome(code, False, "No UVOT overlaps were found.")
            continue
        if code == "lc":
            data = {"Binning": "Counts", "TimeFormat": "MET", "T0": 608713541.952, "Datasets": []}
            for name in ("WT", "WT_nosys", "WT_incbad", "WT_nosys_incbad", "PC", "PC_incbad", "PCUL"):
                rows = np.round(rng.uniform(1, 100, (4, len(LC_COLUMNS))), 3).tolist()
                data["Datasets"].append(name)
                data[f"{name}Data"] = {"columns": LC_COLUMNS, "data": rows, "URL": f"{job_url}/lc/{name}.qdp"}
                (sub / f"{name}.qdp").write_text("READ TERR 1 2\n" + "\n".join(
                    "\t".join(str(v) for v in row) for row in rows) + "\n")
            out[code] = Outcome(code, True, data=data, files=sorted(sub.iterdir()))
        elif code == "spec":
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                payload = b"model powerlaw\n"
                info = tarfile.TarInfo("interval0pc.xcm")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            (sub / "interval0.tar.gz").write_bytes(buffer.getvalue())
            gamma = float(rng.uniform(1.5, 2.5))
            data = {"T0": 608713541.952, "DeltaFitStat": job_pars["dchi"], "GalNH_unfitted": 3.1e20,
                    "rnames": ["interval0"],
                    "interval0": {"DataFile": f"{job_url}/spec/interval0.tar.gz", "Start": 0, "Stop": 1000,
                                  "Modes": ["PC"], "PC": {"MeanTime": 500.0, "Exposure": 900.0,
                                                          "Models": ["PowerLaw"],
                                                          "PowerLaw": {"Gamma": gamma}}}}
            out[code] = Outcome(code, True, data=data)
        elif code in ("psf", "enh", "xastrom"):
            ra = float(job_pars.get("RA", 0)) + float(rng.normal(0, 1e-4))
            (sub / "results.dat").write_text(f"{ra}\t{job_pars.get('Dec')}\n")
            data = {"GotPos": 1, "RA": f"{ra:.5f}", "Dec": str(job_pars.get("Dec")), "Err90": "3.5"}
            if code != "enh":
                data["FromSXPS"] = 0
            out[code] = Outcome(code, True, data=data)
        elif code == "image":
            (sub / "images.log").write_text("1\t0.3\t10\n")
            out[code] = Outcome(code, True)
        else:
            (sub / "sources.txt").write_text("1\n")
            bands = ["Total", "Soft", "Medium", "Hard"] if job_pars.get("detbands") == "all" else ["Total"]
            out[code] = Outcome(code, True, data={band: [{"sno": 1, "ra": 52.8, "dec": 43.9, "err90": 4.2}]
                                                  for band in bands})
    return out


def stand_in_rebin(job_pars, job_id, job_url, job_dir, seed, rebin_id, params):
    if params.get("name") == "empty":
        return None
    return {"Binning": params["binMeth"], "TimeFormat": "MET", "T0": 1.0,
            "Datasets": ["PC", "PC_incbad"],
            "PCData": {"columns": LC_COLUMNS, "data": [[1, 1, -1, 2, 0.1, -0.1]]},
            "PC_incbadData": {"columns": LC_COLUMNS, "data": [[1, 1, -1, 3, 0.1, -0.1]]}}


def start(**options):
    options.setdefault("job_duration", 0)
    options.setdefault("users", (USER, OTHER))
    return LocalService(catalogue=StandInCatalogue, builder=stand_in_build, rebinner=stand_in_rebin,
                        **options).start()


@pytest.fixture
def svc():
    service = start()
    yield service
    service.stop()


@pytest.fixture
def slow_svc():
    """Jobs that stay running for the whole test."""
    service = start(job_duration=60, job_limit=2)
    yield service
    service.stop()


def post(service, path, user=USER, **body):
    if user is not None:
        body = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": user, **body}
    response = requests.post(f"{service.url}{path}", json=body, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    return response.json()


GRB = {"name": "GRB 200416A", "targ": "00945521", "RA": 335.6985, "Dec": -7.5179, "cent": 1, "poserr": 1,
       "useSXPS": 0}
LC = {"lc": 1, "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1}
SPEC = {"spec": 1, "specz": 0, "dchi": 2.706}
ALL = {**LC, **SPEC, "dopsf": 1, "doenh": 1, "doxastrom": 1, "image": 1, "sourceDet": 1, "detobs": "all",
       "detbands": "all"}


def submit(service, user=USER, **pars):
    answer = post(service, "/user_objects/run_userobject.php", user=user, **{**GRB, **pars})
    assert answer["OK"] == 1, answer
    return answer


def status(service, job_id, what, user=USER):
    return post(service, "/user_objects/checkProductStatus.php", user=user, JobID=job_id, what=what,
                whatProg=what)


# ----------------------------------------------------------------------------- submit
def test_submit_envelope_url_and_job_pars(svc):
    answer = submit(svc, **LC, **SPEC, getT0=1, models=["PowerLaw"])
    assert answer["APIVersion"] == "1.12" and isinstance(answer["JobID"], str) and answer["JobID"].isdigit()
    assert answer["URL"] == f"{svc.url}/user_objects/tprods/USERPROD_{answer['JobID']}"
    pars = answer["jobPars"]
    assert pars["Tstart"] == 608713541.952 and pars["models"] == ["powerlaw"]
    assert (pars["lc"], pars["spec"], pars["dopsf"], pars["sourceDet"]) == (1, 1, 0, 0)
    assert pars["targ"] == "00945521" and pars["pccounts"] == 20 and pars["minen"] == 0.3
    assert set(answer) == {"OK", "APIVersion", "JobID", "URL", "jobPars"}


def test_submit_reads_raw_json_whatever_the_content_type(svc):
    body = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": USER, **GRB, "dopsf": 1}
    response = requests.post(f"{svc.url}/user_objects/run_userobject.php", data=json.dumps(body),
                             headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.json()["OK"] == 1


def test_submit_resolves_name_targets_and_t0(svc):
    answer = submit(svc, name="GK Per", RA=None, Dec=None, targ=None, getCoords=1, getTargs=1, getT0=1,
                    doenh=1)
    pars = answer["jobPars"]
    assert (pars["RA"], pars["Dec"]) == (52.7993, 43.9047)
    assert pars["targ"] == "00030842,00031130" and pars["Tstart"] == 575000000.0
    assert pars["getCoords"] == pars["getTargs"] == pars["getT0"] == 1


def test_submit_name_resolution_failures(svc):
    body = {**GRB, "name": "Nowhere", "dopsf": 1, "getCoords": 1}
    del body["RA"], body["Dec"]
    answer = post(svc, "/user_objects/run_userobject.php", **body)
    assert answer["OK"] == 0 and "Could not resolve the name `Nowhere`" in answer["ERROR"]
    answer = post(svc, "/user_objects/run_userobject.php",
                  **{**GRB, "name": "Far", "RA": 10.0, "Dec": 10.0, "targ": None, "getTargs": 1, "dopsf": 1})
    assert answer["OK"] == 0 and "No Swift observations were found for `Far`" in answer["ERROR"]


def test_submit_validation_groups(svc):
    body = {**GRB, **LC, "poserr": 0.01, "pcmaxGap": 1e6}
    del body["Dec"], body["pccounts"]
    answer = post(svc, "/user_objects/run_userobject.php", **body)
    assert answer["OK"] == 0 and answer["APIVersion"] == "1.12"
    assert answer["ERROR"] == "There were problems with the parameters you supplied."
    assert answer["listErr"] == [
        {"label": "The following parameters are needed, but were not supplied:", "list": ["Dec", "pccounts"]},
        {"label": "The following parameters have invalid values:",
         "list": ["poserr is 0.01, but must be between 1 and 6"]}]


def test_unknown_and_missing_user(svc):
    answer = post(svc, "/user_objects/run_userobject.php", user="nobody@x.org", **GRB, dopsf=1)
    assert answer == {"OK": 0, "ERROR": "The user `nobody@x.org` is not recognised / validated",
                      "APIVersion": "1.12"}
    answer = post(svc, "/user_objects/getNumJobs.php", user="nobody@x.org")
    assert answer["OK"] == 0 and "not recognised / validated" in answer["ERROR"]
    answer = post(svc, "/user_objects/listOldJobs.php", user=None)
    assert answer["OK"] == 0 and "UserID" in answer["ERROR"]


def test_bad_bodies_methods_and_paths(svc):
    response = requests.post(f"{svc.url}/user_objects/getNumJobs.php", data=b"{not json", timeout=10)
    assert response.status_code == 200 and response.json()["OK"] == 0
    assert "not valid JSON" in response.json()["ERROR"]
    response = requests.post(f"{svc.url}/user_objects/getNumJobs.php", data=b"[1, 2]", timeout=10)
    assert "JSON object" in response.json()["ERROR"]
    response = requests.get(f"{svc.url}/user_objects/getNumJobs.php", timeout=10)
    assert response.json()["OK"] == 0 and "POST" in response.json()["ERROR"]
    response = requests.post(f"{svc.url}/user_objects/nothing.php", json={}, timeout=10)
    assert response.status_code == 404


# ----------------------------------------------------------------------------- users, ownership, limits
def test_ownership_and_job_id_types(svc):
    job_id = submit(svc, dopsf=1)["JobID"]
    for value in (job_id, int(job_id)):
        answer = status(svc, value, "psf")
        assert answer["OK"] == 1 and answer["JobID"] == value
    answer = status(svc, job_id, "psf", user=OTHER)
    assert answer["OK"] == 0 and answer["ERROR"] == f"Job {job_id} is not owned by user {OTHER}."
    for bad in ("12x", True, None):
        answer = status(svc, bad, "psf")
        assert answer["OK"] == 0 and "JobID" in answer["ERROR"]
    answer = status(svc, "1", "psf")
    assert answer["OK"] == 0 and answer["ERROR"] == "Job 1 does not exist."
    answer = status(svc, job_id, "psf,bogus")
    assert answer["OK"] == 0 and "unknown product code(s) bogus" in answer["ERROR"]


def test_job_limit_and_num_jobs(slow_svc):
    for _ in range(2):
        submit(slow_svc, dopsf=1)
    assert post(slow_svc, "/user_objects/getNumJobs.php") == {"OK": 1, "numJobs": 2, "APIVersion": "1.12"}
    answer = post(slow_svc, "/user_objects/run_userobject.php", **GRB, dopsf=1)
    assert answer["OK"] == 0 and "already has 2 jobs queued or running" in answer["ERROR"]
    assert "(2)" in answer["ERROR"]
    # The limit is per user.
    assert submit(slow_svc, user=OTHER, dopsf=1)["OK"] == 1
    slow_svc.set_job_limit(3)
    assert submit(slow_svc, dopsf=1)["OK"] == 1


def test_job_ids_unique_across_services_and_products_deterministic(tmp_path):
    results = []
    for seed in (5, 5, 6):
        service = start(seed=seed)
        try:
            answer = submit(service, **LC)
            lc = post(service, "/user_objects/tprods/getLCData.php", JobID=answer["JobID"])
            results.append((answer["JobID"], [lc[f"{d}Data"]["data"] for d in lc["Datasets"]]))
        finally:
            service.stop()
    ids = [job_id for job_id, _ in results]
    assert len(set(ids)) == 3
    assert results[0][1] == results[1][1]
    assert results[0][1] != results[2][1]


# ----------------------------------------------------------------------------- lifecycle and cancel
def test_lifecycle_reaches_complete_with_progress():
    service = start(job_duration=0.4)
    try:
        job_id = submit(service, **LC, dopsf=1, doxastrom=1)["JobID"]
        seen = {"lc": [], "psf": [], "xastrom": []}
        for _ in range(500):
            answer = status(service, job_id, "lc,psf,xastrom")
            for code in seen:
                product = answer[code]
                assert isinstance(product["statusCode"], int) and "GotProgress" in product["progress"]
                if product["statusCode"] == 3 and product["progress"]["GotProgress"] == 1:
                    steps = product["progress"]["ProgressSteps"]
                    assert all(set(step) >= {"StepLabel", "StepStatus"} for step in steps)
                    assert len(product["progress"]["TimeRunning"].split(":")) == 3
                seen[code].append(product["statusCode"])
            if all(codes[-1] == 4 for codes in seen.values()):
                break
            time.sleep(0.02)
        order = {1: 0, 2: 1, 5: 2, 3: 3, 4: 4}
        for codes in seen.values():
            assert codes[-1] == 4
            assert [order[c] for c in codes] == sorted(order[c] for c in codes)
        assert set(seen["lc"]) <= {1, 2, 3, 4} and set(seen["psf"]) <= {1, 2, 3, 4}
    finally:
        service.stop()


def test_status_of_products_outside_the_job(svc):
    job_id = submit(svc, dopsf=1)["JobID"]
    answer = status(svc, job_id, "psf,lc")
    assert answer["psf"]["statusCode"] == 4 and answer["psf"]["statusText"] == "Complete"
    assert answer["lc"] == {"statusCode": -1, "statusText": "Unknown status", "progress": {"GotProgress": 0}}


def test_failed_product_is_minus_three(svc):
    job_id = submit(svc, name="FAIL", doenh=1)["JobID"]
    answer = status(svc, job_id, "enh")["enh"]
    assert answer["statusCode"] == -3 and "No UVOT overlaps" in answer["statusText"]
    position = post(svc, "/user_objects/tprods/getEnhPos.php", JobID=job_id)
    assert position["OK"] == 1 and position["GotPos"] == 0 and "No UVOT overlaps" in position["Reason"]


def test_cancel_running_finished_and_absent(slow_svc, svc):
    job_id = submit(slow_svc, **LC, dopsf=1)["JobID"]
    answer = post(slow_svc, "/user_objects/canceljob.php", JobID=job_id, what="lc")
    assert answer == {"OK": 1, "JobID": job_id, "status": {"lc": "Job cancelled OK"},
                      "statusCodes": {"lc": 0}, "APIVersion": "1.12"}
    assert status(slow_svc, job_id, "lc")["lc"]["statusCode"] == -4
    answer = post(slow_svc, "/user_objects/canceljob.php", JobID=job_id, what="psf,image")
    assert answer["OK"] == 2 and answer["statusCodes"] == {"psf": 0, "image": 2}
    answer = post(slow_svc, "/user_objects/canceljob.php", JobID=job_id, what="psf", user=OTHER)
    assert answer["OK"] == 0 and "is not owned by user" in answer["ERROR"]
    done = submit(svc, dopsf=1)["JobID"]
    answer = post(svc, "/user_objects/canceljob.php", JobID=done, what="psf")
    assert answer["OK"] == 2 and answer["statusCodes"] == {"psf": 1}
    assert answer["status"]["psf"] == "Job could not be cancelled - has it already finished?"


# ----------------------------------------------------------------------------- retrieval
def test_retrieval_before_completion_is_an_error(slow_svc):
    job_id = submit(slow_svc, **LC, dopsf=1)["JobID"]
    for path in ("tprods/getLCData.php", "tprods/getPSFPos.php"):
        answer = post(slow_svc, f"/user_objects/{path}", JobID=job_id)
        assert answer["OK"] == 0 and "is not complete yet" in answer["ERROR"]
    answer = post(slow_svc, "/user_objects/tprods/getSpecData.php", JobID=job_id)
    assert answer["OK"] == 0 and "did not request a spectrum" in answer["ERROR"]
    assert requests.get(f"{slow_svc.url}/user_objects/tprods/USERPROD_{job_id}/lc.tar.gz",
                        timeout=10).status_code == 404


def test_positions_source_list_and_spectrum(svc):
    job_id = submit(svc, **ALL)["JobID"]
    for path in ("getPSFPos", "getAstromPos", "getXastromPos"):
        answer = post(svc, f"/user_objects/tprods/{path}.php", JobID=job_id)
        assert answer["GotPos"] == 1 and answer["FromSXPS"] == 0
        assert abs(float(answer["RA"]) - 335.6985) < 0.01
    enh = post(svc, "/user_objects/tprods/getEnhPos.php", JobID=job_id)
    assert enh["GotPos"] == 1 and "FromSXPS" not in enh and enh["Err90"] == "3.5"
    sources = post(svc, "/user_objects/tprods/getSourceDetResults.php", JobID=job_id)
    assert set(sources) == {"OK", "APIVersion", "Total", "Soft", "Medium", "Hard"}
    assert sources["Total"] == [{"sno": "1", "ra": "52.8", "dec": "43.9", "err90": "4.2"}]
    spec = post(svc, "/user_objects/tprods/getSpecData.php", JobID=job_id)
    assert spec["rnames"] == ["interval0"] and spec["GalNH_unfitted"] == 3.1e20
    tarball = requests.get(spec["interval0"]["DataFile"], timeout=10)
    with tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz") as tar:
        assert tar.getnames() == ["interval0pc.xcm"]


@pytest.mark.parametrize("nosys, incbad, expected", [
    (None, None, ["WT", "PC", "PCUL"]),
    ("yes", "no", ["WT_nosys"]),
    ("no", "yes", ["WT_incbad", "PC_incbad"]),
    ("both", "yes", ["WT_incbad", "WT_nosys_incbad", "PC_incbad"]),
    ("both", "both", ["WT", "WT_nosys", "WT_incbad", "WT_nosys_incbad", "PC", "PC_incbad", "PCUL"]),
    (True, False, ["WT_nosys"]),
])
def test_light_curve_dataset_selection(svc, nosys, incbad, expected):
    job_id = submit(svc, **LC)["JobID"]
    body = {"JobID": job_id}
    if nosys is not None:
        body.update(nosys=nosys, incbad=incbad)
    answer = post(svc, "/user_objects/tprods/getLCData.php", **body)
    assert answer["Datasets"] == expected
    data_keys = sorted(key for key in answer if key.endswith("Data"))
    assert data_keys == sorted(f"{name}Data" for name in expected)
    assert answer["Binning"] == "Counts" and answer["T0"] == 608713541.952
    first = answer[f"{expected[0]}Data"]
    assert first["columns"] == LC_COLUMNS and all(len(row) == len(LC_COLUMNS) for row in first["data"])


def test_light_curve_rejects_bad_selection(svc):
    job_id = submit(svc, **LC)["JobID"]
    answer = post(svc, "/user_objects/tprods/getLCData.php", JobID=job_id, nosys="maybe")
    assert answer["OK"] == 0 and answer["ERROR"] == "nosys is maybe, but must be one of: yes, no, both"


def test_old_product_job_list_and_counts(svc):
    first = submit(svc, **LC)["JobID"]
    second = submit(svc, name="GK Per", dopsf=1, doxastrom=1)
    old = post(svc, "/user_objects/getOldProduct.php", oldJob=second["JobID"])
    assert old["OK"] == 1 and old["jobPars"] == second["jobPars"] and old["URL"] == second["URL"]
    assert old["oldJob"] == second["JobID"]
    answer = post(svc, "/user_objects/getOldProduct.php", oldJob=first, user=OTHER)
    assert answer["OK"] == 0 and "is not owned by user" in answer["ERROR"]
    jobs = post(svc, "/user_objects/listOldJobs.php")["jobs"]
    assert [job["JobID"] for job in jobs] == [int(second["JobID"]), int(first)]
    newest = jobs[0]
    assert newest["Name"] == "GK Per" and newest["StandardPos"] is True and newest["AstromPos"] is True
    assert newest["LightCurve"] is False and newest["hasProd"] is True
    assert time.strptime(newest["DateSubmitted"], "%Y-%m-%d %H:%M:%S")
    assert post(svc, "/user_objects/listOldJobs.php", user=OTHER)["jobs"] == []
    assert post(svc, "/user_objects/getNumJobs.php")["numJobs"] == 0


# ----------------------------------------------------------------------------- common API (rebinning)
def main_api(service, **body):
    response = requests.post(f"{service.url}/API/main.php", json={**body, "APIVersion": "1.0.5"}, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_rebin_flow(svc):
    job_id = submit(svc, **LC)["JobID"]
    answer = main_api(svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=job_id, binMeth="time",
                      pcBinTime=100.0, wtBinTime=10.0, timeFormat="MJD", name="GRB")
    assert answer["OK"] == 1 and answer["APIVersion"] == "1.0.5" and isinstance(answer["JobID"], int)
    rebin_id = answer["JobID"]
    assert main_api(svc, APIFunc="checkRebinStatus", JobID=rebin_id) == {
        "OK": 1, "status": 4, "text": "Complete", "APIVersion": "1.0.5"}
    lc = main_api(svc, APIFunc="downloadLightCurve", type="REBIN_LC", objectID=rebin_id)
    assert lc["Datasets"] == ["PC_incbad"] and lc["Binning"] == "time"  # incbad defaults to yes here
    lc = main_api(svc, APIFunc="downloadLightCurve", type="REBIN_LC", objectID=rebin_id, incbad="no")
    assert lc["Datasets"] == ["PC"] and lc["PCData"]["data"] == [[1, 1, -1, 2, 0.1, -0.1]]
    answer = main_api(svc, APIFunc="cancelRebin", JobID=rebin_id)
    assert "OK" not in answer and answer["ERROR"] == "CANNOT_CANCEL"
    empty = main_api(svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=job_id, binMeth="obsid",
                     name="empty")["JobID"]
    assert main_api(svc, APIFunc="downloadLightCurve", type="REBIN_LC", objectID=empty)["NOLC"] == 1


def test_rebin_errors_and_cancel(slow_svc, svc):
    for body, code in [({"APIFunc": "nothing"}, "UNKNOWN_FUNCTION"),
                       ({"APIFunc": "rebinLightCurve", "type": "X", "objectID": 1}, "BAD_PARAMETER"),
                       ({"APIFunc": "rebinLightCurve", "type": "UOB_LC", "objectID": 3}, "NO_SUCH_JOB"),
                       ({"APIFunc": "checkRebinStatus", "JobID": "x"}, "BAD_PARAMETER")]:
        answer = main_api(svc, **body)
        assert answer["ERROR"] == code and "OK" not in answer and answer["ERRORTEXT"]
    job_id = submit(svc, **LC)["JobID"]
    answer = main_api(svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=job_id, binMeth="weekly")
    assert answer["ERROR"] == "BAD_PARAMETER" and "counts, time, snapshot, obsid" in answer["ERRORTEXT"]
    answer = main_api(svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=job_id, binMeth="counts",
                      pcCounts=-3)
    assert answer["ERROR"] == "BAD_PARAMETER" and "pcCounts" in answer["ERRORTEXT"]
    running = submit(slow_svc, **LC)["JobID"]
    answer = main_api(slow_svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=running,
                      binMeth="counts")
    assert answer["ERROR"] == "NOT_COMPLETE"
    # A slow rebin can be cancelled; downloading it is then refused.
    slow_svc.store.get(running).duration = 0
    # Products are built in a background thread; the light curve is complete only once built.
    assert slow_svc.store.get(running).built.wait(timeout=30)
    rebin_id = main_api(slow_svc, APIFunc="rebinLightCurve", type="UOB_LC", objectID=running,
                        binMeth="counts")["JobID"]
    assert main_api(slow_svc, APIFunc="cancelRebin", JobID=rebin_id) == {"OK": 1, "APIVersion": "1.0.5"}
    assert main_api(slow_svc, APIFunc="checkRebinStatus", JobID=rebin_id)["status"] == -4
    answer = main_api(slow_svc, APIFunc="downloadLightCurve", type="REBIN_LC", objectID=rebin_id)
    assert answer["ERROR"] == "NOT_COMPLETE"


# ----------------------------------------------------------------------------- archives and files
def _names(fmt, data):
    if fmt == "zip":
        return sorted(n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if not n.endswith("/"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "zip"])
def test_archives_have_the_userprod_layout(svc, fmt):
    answer = submit(svc, **ALL)
    job, url = answer["JobID"], answer["URL"]
    response = requests.get(f"{url}/lc.{fmt}", timeout=10)
    assert response.status_code == 200 and int(response.headers["Content-Length"]) == len(response.content)
    names = _names(fmt, response.content)
    assert f"USERPROD_{job}/lc/PCCURVE.qdp" not in names and f"USERPROD_{job}/lc/PC.qdp" in names
    assert all(name.startswith(f"USERPROD_{job}/lc/") for name in names)
    everything = _names(fmt, requests.get(f"{url}/all.{fmt}", timeout=10).content)
    tops = {name.split("/")[1] for name in everything}
    assert tops == {"lc", "spec", "psf", "enh", "xastrom", "image", "sourceDet"}
    assert set(names) < set(everything)


def test_archive_and_file_not_found(svc):
    answer = submit(svc, dopsf=1)
    url = answer["URL"]
    for path in ("lc.tar.gz", "psf.rar", "nothing.zip", "psf/missing.dat", "psf/../../../etc/passwd"):
        assert requests.get(f"{url}/{path}", timeout=10).status_code == 404, path
    assert requests.get(f"{svc.url}/user_objects/tprods/USERPROD_1/psf.tar", timeout=10).status_code == 404
    assert requests.get(f"{svc.url}/somewhere/else", timeout=10).status_code == 404
    text = requests.get(f"{url}/psf/results.dat", timeout=10)
    assert text.status_code == 200 and text.text.startswith("335.69")


def test_range_requests_resume_a_download(svc):
    url = submit(svc, **LC)["URL"] + "/all.tar"
    full = requests.get(url, timeout=10).content
    assert len(full) > 2000
    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert part.status_code == 206 and part.content == full[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(full)}"
    rest = requests.get(url, headers={"Range": "bytes=1000-"}, timeout=10)
    assert full[:1000] + rest.content == full
    tail = requests.get(url, headers={"Range": "bytes=-10"}, timeout=10)
    assert tail.content == full[-10:]
    bad = requests.get(url, headers={"Range": f"bytes={len(full)}-"}, timeout=10)
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{len(full)}"
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(full)
    assert head.headers["Accept-Ranges"] == "bytes"


# ----------------------------------------------------------------------------- faults
@pytest.mark.parametrize("kind, status", [("http500", 500), ("http502", 502), ("http503", 503)])
def test_scripted_http_errors(svc, kind, status):
    svc.faults.script("numJobs", kind)
    url = f"{svc.url}/user_objects/getNumJobs.php"
    body = {"UserID": USER, "api_name": "xrt_prods", "api_version": "1.12"}
    response = requests.post(url, json=body, timeout=10)
    assert response.status_code == status and response.text.startswith("<!DOCTYPE html>")
    assert requests.post(url, json=body, timeout=10).json()["numJobs"] == 0


def test_html_page_with_status_200(svc):
    svc.set_faults(html_rate={"status": 1.0})
    job_id = submit(svc, dopsf=1)["JobID"]
    response = requests.post(f"{svc.url}/user_objects/checkProductStatus.php",
                             json={"UserID": USER, "JobID": job_id, "what": "psf"}, timeout=10)
    assert response.status_code == 200 and "<html>" in response.text
    with pytest.raises(ValueError):
        response.json()
    svc.set_faults(None)
    assert status(svc, job_id, "psf")["psf"]["statusCode"] == 4


def test_dropped_connections_before_and_after_submit(svc):
    body = {"api_name": "xrt_prods", "api_version": "1.12", "UserID": USER, **GRB, "dopsf": 1}
    url = f"{svc.url}/user_objects/run_userobject.php"
    svc.faults.script("submit", "drop")
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=body, timeout=10)
    assert post(svc, "/user_objects/listOldJobs.php")["jobs"] == []
    # Outcome unknown: the job exists although the client never heard of it.
    svc.faults.script("submit", "drop_after")
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=body, timeout=10)
    jobs = post(svc, "/user_objects/listOldJobs.php")["jobs"]
    assert len(jobs) == 1 and jobs[0]["Name"] == "GRB 200416A"
    counts = svc.request_counts()
    assert counts["submit"] == 2 and counts["listOldJobs"] == 2


def test_truncated_archive_then_resume(svc):
    url = submit(svc, **LC)["URL"] + "/lc.tar.gz"
    full = requests.get(url, timeout=10).content
    svc.faults.script("archive", "truncate")
    received = bytearray()
    with pytest.raises(requests.exceptions.RequestException):
        with requests.get(url, stream=True, timeout=10) as response:
            assert int(response.headers["Content-Length"]) == len(full)
            for chunk in response.iter_content(256):
                received.extend(chunk)
    assert 0 < len(received) < len(full) and bytes(received) == full[:len(received)]
    rest = requests.get(url, headers={"Range": f"bytes={len(received)}-"}, timeout=10)
    assert bytes(received) + rest.content == full


def test_rate_faults_are_reproducible_for_a_seed():
    outcomes = []
    for _ in range(2):
        service = start(faults={"error_rate": {"numJobs": 0.5}, "seed": 3})
        try:
            codes = [requests.post(f"{service.url}/user_objects/getNumJobs.php", json={"UserID": USER},
                                   timeout=10).status_code for _ in range(12)]
        finally:
            service.stop()
        outcomes.append(codes)
    assert outcomes[0] == outcomes[1]
    assert 200 in outcomes[0] and set(outcomes[0]) - {200} <= {500, 502, 503} and len(set(outcomes[0])) > 1


def test_latency_option_still_answers(svc):
    svc.set_faults(latency=0.05)
    assert post(svc, "/user_objects/getNumJobs.php")["numJobs"] == 0
    assert svc.faults.config.latency == 0.05


# ----------------------------------------------------------------------------- ways to start
def test_context_manager_and_stop(tmp_path):
    with LocalService(catalogue=StandInCatalogue, builder=stand_in_build, rebinner=stand_in_rebin,
                      job_duration=0, data_dir=tmp_path / "data") as service:
        assert service.running and service.email == "demo@example.org"
        assert service.url.startswith("http://127.0.0.1:") and service.port > 0
        assert service.api_url == f"{service.url}/API/main.php"
        answer = submit(service, dopsf=1)
        assert (tmp_path / "data" / "jobs" / f"USERPROD_{answer['JobID']}" / "psf" / "results.dat").exists()
    assert not service.running
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{service.url}/user_objects/getNumJobs.php", json={}, timeout=2)


def test_open_registration_and_bad_options():
    service = start(users=None)
    try:
        assert post(service, "/user_objects/getNumJobs.php", user="anyone@x.org")["numJobs"] == 0
    finally:
        service.stop()
    with pytest.raises(ValueError, match="job_duration"):
        LocalService(job_duration=-1)
    with pytest.raises(ValueError, match="job_limit"):
        LocalService(job_limit=0)


def test_command_line_main(monkeypatch, capsys):
    import xrtprods_astro.server.app as app
    real = app.LocalService

    def with_stand_ins(**options):
        return real(catalogue=StandInCatalogue, builder=stand_in_build, rebinner=stand_in_rebin, **options)

    monkeypatch.setattr(app, "LocalService", with_stand_ins)
    stop, seen = threading.Event(), []

    def ready(service):
        seen.append(post(service, "/user_objects/getNumJobs.php", user="a@b.org"))
        seen.append(service.faults.config.error_rate)
        stop.set()

    assert server_main(["--users", "a@b.org", "--job-duration", "0", "--error-rate", "0"],
                       ready=ready, stop_event=stop) == 0
    assert seen[0]["numJobs"] == 0 and seen[1] == 0
    out = capsys.readouterr().out
    assert "Local XRT products service running at http://127.0.0.1:" in out and "a@b.org" in out


def test_factory_fixture_starts_custom_services(xrtprods_service_factory):
    service = xrtprods_service_factory(catalogue=StandInCatalogue, builder=stand_in_build,
                                       rebinner=stand_in_rebin, users=("me@x.org",), job_duration=0)
    assert service.running and service.email == "me@x.org"
    assert post(service, "/user_objects/getNumJobs.php", user="me@x.org")["numJobs"] == 0


# ----------------------------------------------------------------------------- with the real sky
def test_real_catalogue_resolves_for_submit():
    from xrtprods_astro.server import catalogue
    service = LocalService(catalogue=catalogue, builder=stand_in_build, rebinner=stand_in_rebin,
                           job_duration=0).start()
    try:
        answer = submit(service, RA=None, Dec=None, targ=None, getCoords=1, getTargs=1, getT0=1, dopsf=1)
        pars = answer["jobPars"]
        assert (pars["RA"], pars["Dec"]) == catalogue.resolve_name("GRB 200416A")
        assert pars["targ"] == ",".join(catalogue.targets_for("GRB 200416A", pars["RA"], pars["Dec"]))
        assert pars["Tstart"] == catalogue.t0_for("GRB 200416A", None, None, None)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def real_builders():
    """Skip until the simulated product builders exist (they are written in parallel)."""
    return pytest.importorskip("xrtprods_astro.server.build")


def test_session_fixture_with_the_real_builders(real_builders, xrtprods_service):
    # The simulated sky has its own targetIDs: let the service pick them.
    answer = submit(xrtprods_service, **LC, dopsf=1, targ=None, getTargs=1)
    job_id, url = answer["JobID"], answer["URL"]
    for _ in range(1000):
        codes = status(xrtprods_service, job_id, "lc,psf")
        if all(codes[code]["statusCode"] not in (1, 2, 3) for code in ("lc", "psf")):
            break
        time.sleep(0.02)
    assert codes["lc"]["statusCode"] == 4 and codes["psf"]["statusCode"] == 4
    lc = post(xrtprods_service, "/user_objects/tprods/getLCData.php", JobID=job_id)
    assert lc["OK"] == 1 and lc["Datasets"] and all("_incbad" not in d for d in lc["Datasets"])
    for name in lc["Datasets"]:
        block = lc[f"{name}Data"]
        assert all(len(row) == len(block["columns"]) for row in block["data"])
    names = _names("tar.gz", requests.get(f"{url}/lc.tar.gz", timeout=10).content)
    assert names and all(name.startswith(f"USERPROD_{job_id}/lc/") for name in names)
    for name in lc["Datasets"]:
        # Dataset URLs point at files this service really serves, inside the job directory.
        response = requests.get(lc[f"{name}Data"]["URL"], timeout=10)
        assert response.status_code == 200 and response.text.strip()
    position = post(xrtprods_service, "/user_objects/tprods/getPSFPos.php", JobID=job_id)
    assert position["GotPos"] in (0, 1) and (not position["GotPos"] or position["FromSXPS"] in (0, 1))


def _somaxconn():
    try:
        return int(Path("/proc/sys/net/core/somaxconn").read_text())
    except (OSError, ValueError):
        return 0


@pytest.mark.skipif(_somaxconn() < 256, reason="needs Linux with net.core.somaxconn >= 256")
def test_a_burst_of_connections_waits_in_the_listen_queue():
    # 200 clients arriving while no request has been accepted yet (the accept loop is not even
    # running): every connection must still be established, none left to a SYN retry 1 s later
    # (the stalls and resets the 64-connection benchmark showed with a small listen queue).
    import socket
    from xrtprods_astro.server.app import _Handler, _Server
    server = _Server(("127.0.0.1", 0), _Handler)
    clients = []
    try:
        for _ in range(200):
            clients.append(socket.create_connection(server.server_address[:2], timeout=3))
        assert len(clients) == 200
    finally:
        for client in clients:
            client.close()
        server.server_close()
