# Licensed under a 3-clause BSD style license - see LICENSE
"""The local service's GRB repository (server/grb.py) over real HTTP, against the spec and real files.

The answers are checked against shared/spec/grb-repository.md (§4-§8, §11) with plain ``requests``,
not through the package's client, and the files against the real repository files in
tests/data/real (jracusin__GRBfits, annayqho__AT2022tsd), line template by line template.
"""
import gzip
import io
import re
import tarfile
from pathlib import Path

import pytest
import requests

REAL = Path(__file__).parent / "data" / "real"
REAL_FLUX = REAL / "annayqho__AT2022tsd/data/xray/data_xray_lcs/GRBs/sample/GRB060729_lc/flux.qdp"
REAL_GRBS = REAL / "jracusin__GRBfits/GRBs"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbsvc"))
    service.start()
    yield service
    service.stop()


def call(svc, func, **body):
    # Key order as swifttools sends it: the function's keys, then APIFunc and APIVersion (spec §2).
    body.update(APIFunc=func, APIVersion="1.0.5")
    response = requests.post(svc.api_url, json=body, timeout=60)
    assert response.status_code == 200
    return response.json()


def template(line):
    """A line with its numbers replaced by '#': the layout without the values."""
    return re.sub(r"-?(?:\d+\.?\d*(?:e[+-]?\d+)?|inf|nan)", "#", line.rstrip("\n"))


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name, target", [("GRB 060729", 221755), ("GRB 080319B", 306757),
                                          ("GRB 101225A", 441015), ("GRB 200416A", 968211)])
def test_name_to_target_documented_spelling(svc, name, target):
    answer = call(svc, "GRBNameToTargetID", name=name)
    assert answer == {"OK": 1, "targetID": target, "APIVersion": "1.0.5"}


@pytest.mark.parametrize("name", ["GRB060729", "060729", "grb 060729", "GRB 080319b", "GRB 990101", None, 7])
def test_name_to_target_other_spellings_are_notfound(svc, name):
    # The real server's policy for other spellings is undocumented (spec §13.3): the local one
    # accepts only the documented form, so a client that does not normalise is caught here.
    answer = call(svc, "GRBNameToTargetID", name=name)
    assert answer.get("NOTFOUND") == 1 and answer.get("OK") == 1 and "targetID" not in answer


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("func, key, extra", [("downloadLightCurve", "objectID", {"type": "GRB"}),
                                              ("downloadSpectrum", "objectID", {"type": "GRB"}),
                                              ("getGRBPositions", "targetID", {"posToGet": "all"})])
def test_null_target_is_an_error_without_ok(svc, func, key, extra):
    # What swifttools sends after an unknown name (spec §4.2): an error naming the key, never data.
    answer = call(svc, func, **extra, **{key: None})
    assert "OK" not in answer and isinstance(answer["ERROR"], int)
    assert key in answer["ERRORTEXT"] and "null" in answer["ERRORTEXT"]


def test_non_grb_target_is_an_error(svc):
    answer = call(svc, "downloadLightCurve", type="GRB", objectID=30842, incbad="yes", nosys="no")
    assert "OK" not in answer and "not a GRB" in answer["ERRORTEXT"]


def test_bad_incbad_value_is_an_error(svc):
    answer = call(svc, "downloadLightCurve", type="GRB", objectID=221755, incbad="maybe", nosys="no")
    assert "OK" not in answer and "incbad" in answer["ERRORTEXT"]


def test_unknown_function_lists_the_grb_functions(svc):
    answer = call(svc, "noSuchFunction")
    assert "GRBNameToTargetID" in answer["ERRORTEXT"] and "rebinLightCurve" in answer["ERRORTEXT"]


# ---------------------------------------------------------------- light curves
def test_light_curve_answer_shape(svc):
    answer = call(svc, "downloadLightCurve", type="GRB", objectID=221755, incbad="yes", nosys="no")
    datasets = answer["Datasets"]
    assert datasets and all(name.endswith("_incbad") and "_nosys" not in name for name in datasets)
    # Key order of the real answer (spec §5.2): datasets, then OK, Binning, TimeFormat, T0, APIVersion.
    assert list(answer)[-5:] == ["OK", "Binning", "TimeFormat", "T0", "APIVersion"]
    assert answer["Binning"] == "Counts" and answer["TimeFormat"] == "MET"
    assert answer["T0"] == pytest.approx(175893150.244)
    pc = answer["PC_incbadData"]
    assert pc["columns"][:6] == ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/xrt_curves/00221755/PCCURVE_incbad\.qdp", pc["URL"])
    assert answer["PCHR_incbadData"]["columns"] == ["Time", "TimePos", "TimeNeg", "HR", "HRErr"]
    # Hard, Soft and HR share the one HR file (spec §5.3).
    assert answer["PCHard_incbadData"]["URL"] == answer["PCHR_incbadData"]["URL"]
    rows = pc["data"]
    assert all(len(row) == len(pc["columns"]) for row in rows)
    # A decaying afterglow: the late rate is far below the early one; TimeNeg and RateNeg negative.
    assert rows[-1][3] < rows[0][3] / 10
    assert all(row[2] < 0 and row[5] < 0 for row in rows)


@pytest.mark.parametrize("incbad, nosys, want", [
    ("no", "no", lambda n: "_incbad" not in n and "_nosys" not in n),
    ("both", "no", lambda n: "_nosys" not in n),
    ("no", "yes", lambda n: "_incbad" not in n and "_nosys" in n),
])
def test_light_curve_honours_incbad_and_nosys(svc, incbad, nosys, want):
    answer = call(svc, "downloadLightCurve", type="GRB", objectID="00221755", incbad=incbad, nosys=nosys)
    assert answer["Datasets"] and all(want(name) for name in answer["Datasets"])
    assert set(k[:-4] for k in answer if k.endswith("Data")) == set(answer["Datasets"])


def test_light_curve_files_follow_the_real_repository_files(svc):
    answer = call(svc, "downloadLightCurve", type="GRB", objectID=221755, incbad="both", nosys="no")
    pc = requests.get(answer["PCData"]["URL"], timeout=60)
    assert pc.status_code == 200 and "Content-Encoding" not in pc.headers
    ours = pc.text.splitlines()
    real = (REAL_GRBS / "GRB060403/PCCURVE.qdp").read_text().splitlines()
    assert ours[:3] == real[:3]            # READ TERR 1 2 / READ SERR 4 / the padded column line
    assert len(ours[3].split("\t")) == len(real[3].split("\t")) == 15
    wt = requests.get(answer["WTData"]["URL"], timeout=60).text.splitlines()
    assert wt[:3] == (REAL_GRBS / "GRB060403/WTCURVE.qdp").read_text().splitlines()[:3]
    curve = requests.get(answer["PCData"]["URL"].rsplit("/", 1)[0] + "/curve.qdp", timeout=60).text
    real_head = (REAL_GRBS / "GRB060403/curve.qdp").read_text().splitlines()[:12]
    head = curve.splitlines()[:12]
    assert [template(x) for x in head[2:8]] == [template(x) for x in real_head[2:8]]
    assert re.fullmatch(r" ! T0 for this burst is Swift MET=175893150\.244 s, = 2006 Jul 29 at "
                        r"19:12:\d\d\.\d{3} UT", head[1])


def test_flux_file_follows_the_real_flux_qdp(svc):
    text = requests.get(f"{svc.url}/xrt_curves/00221755/flux.qdp", timeout=60).text
    ours, real = text.splitlines(), REAL_FLUX.read_text().splitlines()
    # The header block: the same lines but for the trigger's numbers (T0, its UTC).
    assert [template(x) for x in ours[:13]] == [template(x) for x in real[:13]]
    # Sections, their separators and the upper limits' bare zero errors, as in the real file.
    labels = [x for x in ours if x.startswith("! ") or x.startswith("NO")]
    real_labels = [x for x in real if x.startswith("! ") or x.startswith("NO")]
    assert labels == real_labels
    ul = ours[ours.index("! PC Upper limit") + 1]
    assert ul.split("\t")[4:] == ["0", "0"]
    assert ours[14].count("\t") == 5 and "e-" in ours[14].split("\t")[3]


# ---------------------------------------------------------------- positions
def test_positions_all(svc):
    answer = call(svc, "getGRBPositions", posToGet="all", targetID=306757)
    assert isinstance(answer["Best_Err90"], str)                 # as on the real service (spec §8)
    assert isinstance(answer["Enhanced_Err90"], float)
    assert answer["SPER_RA"] is None and answer["SPER_Err90"] is None
    assert (answer["Best_RA"], answer["Best_Decl"]) == (answer["Enhanced_RA"], answer["Enhanced_Decl"])
    assert abs(answer["Enhanced_RA"] - 217.92067) < 5 / 3600
    assert abs(answer["Enhanced_Decl"] - 36.30226) < 5 / 3600


def test_positions_only_those_asked(svc):
    answer = call(svc, "getGRBPositions", posToGet=["Enhanced", "SPER"], targetID=441015)
    assert sorted(k for k in answer if k not in ("OK", "APIVersion")) == sorted(
        ["Enhanced_RA", "Enhanced_Decl", "Enhanced_Err90", "SPER_RA", "SPER_Decl", "SPER_Err90"])
    assert "ERROR" in call(svc, "getGRBPositions", posToGet=["Nearby"], targetID=441015)


def test_target_list(svc):
    assert call(svc, "getGRBTargetList", targetID=221755)["targetList"] == ["00221755"]


# ---------------------------------------------------------------- spectra
def test_spectrum_answer_and_archive(svc):
    answer = call(svc, "downloadSpectrum", type="GRB", objectID=221755)
    assert answer["rnames"] == ["interval0", "late_time"]
    assert answer["T0"] == pytest.approx(175893150.244) and answer["DeltaFitStat"] == 2.706
    late = answer["late_time"]
    assert late["Modes"] == ["PC"] and late["Start"] == 4000.0 and late["Stop"] > late["Start"]
    fit = late["PC"]["PowerLaw"]
    # The keys of the documented answer (spec §6.2); GalacticNH and the redshift come without errors.
    for key in ("GalacticNH", "NH", "NHPos", "NHNeg", "Redshift_abs", "Gamma", "GammaPos", "GammaNeg",
                "ObsFlux", "UnabsFlux", "Cstat", "Dof", "FitChi", "Image"):
        assert key in fit
    assert "GalacticNHPos" not in fit and "Redshift_absPos" not in fit
    assert fit["Image"].endswith("/xrt_spectra/00221755/late_timepc_plot.gif")
    response = requests.get(late["DataFile"], timeout=60)
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    raw = response.content
    assert raw[:2] == b"\x1f\x8b"                     # gzip, as swifttools' tar -xzf needs
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
        names = tar.getnames()
    # Flat member names, as in the real late_time.tar.gz (spec §6.3).
    assert all("/" not in n or n.startswith("models/") for n in names)
    assert {"late_timepc.pi", "late_timepc.arf", "late_timepc.rmf", "late_timepcback.pi",
            "late_timepc_fit.fit", "late_time.areas", "models/late_timepc.xcm"} <= set(names)
    assert requests.get(fit["Image"], timeout=60).content[:3] == b"GIF"


def test_file_gets_are_confined(svc):
    call(svc, "downloadLightCurve", type="GRB", objectID=221755, incbad="yes", nosys="no")
    for path in ("/xrt_curves/00221755/nothing.qdp", "/xrt_curves/00221755/../../grb/x",
                 "/xrt_curves/abc/flux.qdp", "/xrt_curves/00221755/sub/flux.qdp",
                 "/xrt_other/00221755/flux.qdp"):
        assert requests.get(svc.url + path, timeout=60).status_code == 404, path
    # Any zero padding names the same folder, as targetIDs are sent both ways.
    assert requests.get(f"{svc.url}/xrt_curves/221755/flux.qdp", timeout=60).status_code == 200


def test_spectrum_archive_members_as_the_real_repository_tar(svc):
    # The member listing of the real interval0.tar.gz (spec §6.3, verbatim from the swifttools docs);
    # late_time is the same without the WT files (the real late_time.tar.gz of GRB 101225A).
    real = ("README.txt interval0wtsource.pi interval0wtback.pi interval0pcsource.pi interval0pcback.pi "
            "interval0wt.pi interval0wt.arf interval0wt.rmf interval0pc.pi interval0pc.arf interval0pc.rmf "
            "interval0.areas GRB_info.txt models/interval0wt.xcm models/interval0pc.xcm interval0wt_fit.fit "
            "interval0pc_fit.fit").split()
    answer = call(svc, "downloadSpectrum", type="GRB", objectID=441015)
    raw = requests.get(answer["interval0"]["DataFile"], timeout=60).content
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        members = tar.getmembers()
        info = tar.extractfile("GRB_info.txt").read().decode()
    assert [m.name for m in members] == real
    assert {(m.uname, m.gname) for m in members} == {("autoproc", "www")}
    # GRB_info.txt: RA, Dec, T0 (MET) and 30, four bare lines, as the real file.
    real_info = (REAL / "arnaudsomville__gamma_burst/spec/late_time_extracted/GRB_info.txt").read_text()
    assert [template(x) for x in info.splitlines()] == [template(x) for x in real_info.splitlines()]
    assert info.splitlines()[2] == real_info.splitlines()[2] == "314995072"


# ---------------------------------------------------------------- burst analyser
def test_burst_analyser_selection(svc):
    answer = call(svc, "downloadBurstAnalyser", targetID=221755, instruments=["XRT", "bat"],
                  bands=["Density"], BATBinning=["snr4", "timedel0.064"], incbad="both", nosys="no")
    assert answer["Instruments"] == ["BAT", "BAT_NoEvolution", "XRT"]
    bat = answer["BAT"]
    assert bat["Binning"] == ["SNR4", "SNR4_sinceT0", "TimeBins_64ms"]
    assert bat["SNR4"]["Datasets"] == ["Density"]
    density = bat["SNR4"]["DensityData"]
    # The documented BAT flux columns (spec §7.3), BadBin last; HR with its 21 columns.
    assert density["columns"] == ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos", "FluxNeg",
                                  "FluxPosWithECFErr", "FluxNegWithECFErr", "Gamma", "GammaPos", "GammaNeg",
                                  "ECF", "ECFPos", "ECFNeg", "BadBin"]
    assert len(bat["HRData"]["columns"]) == 21
    assert all(row[-1] in (0, 1) for row in density["data"])
    # Signal-to-noise bins: every good bin has flux/error >= 4 in the SNR4 binning.
    assert all(row[3] / row[4] >= 4 - 1e-9 for row in density["data"])
    assert min(row[0] for row in bat["SNR4_sinceT0"]["DensityData"]["data"]) > 0
    noev = answer["BAT_NoEvolution"]
    assert set(noev["ECFs"]) == {"Density"} and len(noev["SNR4"]["DensityData"]["columns"]) == 7
    xrt = answer["XRT"]
    assert xrt["Datasets"] == ["Density_WT", "Density_WT_incbad", "Density_PC", "Density_PC_incbad"]
    assert xrt["Density_PC_incbadData"]["columns"] == density["columns"][:-1]


def test_burst_analyser_bad_selection(svc):
    answer = call(svc, "downloadBurstAnalyser", targetID=221755, instruments="all", bands=["radio"],
                  BATBinning="all", incbad="yes", nosys="no")
    assert "OK" not in answer and "bands" in answer["ERRORTEXT"] and "density" in answer["ERRORTEXT"]


def test_burst_analyser_tar(svc):
    url = call(svc, "getBurstAnalyserTarURL", targetID="00221755")["URL"]
    assert url.endswith("/burst_analyser/00221755/batxrtfiles_00221755.tar.gz")
    raw = requests.get(url, timeout=60).content
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        names = tar.getnames()
        text = tar.extractfile("00221755/xrt/xrt_flux_pc_DENSITY.qdp").read().decode()
    # One top-level folder (tar --strip-components=1 in swifttools), the website's file names.
    assert {n.split("/")[0] for n in names} == {"00221755"}
    assert "00221755/bat/bat_flux_snr4_XRTBAND_NOEVOLVE.qdp" in names
    lines = text.splitlines()
    assert lines[:2] == ["READ TERR 1 2", "! xrtpcflux"] and len(lines[2].split("\t")) == 6


# ---------------------------------------------------------------- jobs
def _wait(svc, func, job_id):
    # Polls the local service, whose jobs take job_duration=0 here: complete at the first look
    # or soon after; the loop is bounded by the number of polls, not by time.
    for _ in range(200):
        answer = call(svc, func, JobID=job_id)
        if answer["status"] == 4:
            return answer
    raise AssertionError(f"{func} {job_id} never completed: {answer}")


def test_grb_rebin_is_a_rebin_job(svc):
    job = call(svc, "rebinLightCurve", type="GRB", objectID=221755, binMeth="obsid", name="GRB 060729")
    job_id = job["JobID"]
    assert _wait(svc, "checkRebinStatus", job_id)["text"]
    curve = call(svc, "downloadLightCurve", type="REBIN_LC", objectID=job_id, incbad="yes", nosys="no")
    assert curve["Binning"] == "ObsID" and "PC_incbadData" in curve
    url = curve["PC_incbadData"]["URL"]
    assert f"/xrt_curves/00221755/lc_rebin{job_id}/" in url
    assert requests.get(url, timeout=60).status_code == 200
    assert "ERROR" in call(svc, "rebinLightCurve", type="GRB", objectID=221755, binMeth="weekly")


def test_timeslice_job(svc):
    job = call(svc, "timesliceSpectrum", targetID="00221755", rnames=["early", "mixed"],
               times=["100-800", "100-300,500-1000"], modes=["WT", "BOTH"], name="GRB 060729",
               grades="all", redshift="NONE")
    job_id = job["JobID"]
    _wait(svc, "checkSliceStatus", job_id)
    spec = call(svc, "downloadSpectrum", type="timeslice", objectID=job_id)
    assert spec["rnames"] == ["early", "mixed"]
    fit = spec["early"]["WT"]["PowerLaw"]
    # The documented time-slice URLs (spec §6.2): xrt_spectra/tprods/sliceSpec_<JobID>/.
    assert fit["Image"].endswith(f"/xrt_spectra/tprods/sliceSpec_{job_id}/earlywt_plot.gif")
    assert "Redshift_abs" not in fit     # redshift "NONE": no intrinsic absorber at a redshift
    assert requests.get(spec["mixed"]["DataFile"], timeout=60).content[:2] == b"\x1f\x8b"
    assert "ERROR" in call(svc, "cancelSlice", JobID=job_id)          # complete: too late to cancel


@pytest.mark.parametrize("body, word", [
    ({"rnames": ["a"], "times": ["1-2", "3-4"]}, "same length"),
    ({"rnames": ["a"], "times": ["1-2"], "modes": ["XRT"]}, "modes"),
    ({"rnames": ["a/b"], "times": ["1-2"]}, "letters")])
def test_timeslice_refuses_bad_requests(svc, body, word):
    answer = call(svc, "timesliceSpectrum", targetID=221755, **body)
    assert "OK" not in answer and word in answer["ERRORTEXT"]


# ---------------------------------------------------------------- the GRBs as catalogue rows
def test_catalogue_rows_tell_the_story_of_the_grb_functions(svc):
    # grb_catalogue_rows is what a catalogue service (UK_XRT/XRTLiveCat) serves: each row must be
    # what the GRB functions answer for that GRB, files included, fetched before any other call.
    from xrtprods_astro.server.grb import grb_catalogue_rows, repository_grbs
    rows = grb_catalogue_rows(seed=svc.seed)
    assert sorted(r["name"] for r in rows) == sorted(repository_grbs())
    assert [r["T0"] for r in rows] == sorted(r["T0"] for r in rows)
    for row in rows:
        assert set(row) == {"targetID", "name", "RA", "Decl", "Err90", "T0", "TriggerTime"}
        assert call(svc, "GRBNameToTargetID", name=row["name"])["targetID"] == row["targetID"]
        # The header of curve.qdp, asked for before any light curve: T0 in MET and its UTC.
        header = requests.get(f"{svc.url}/xrt_curves/{row['targetID']:08d}/curve.qdp", timeout=60).text
        line = next(x for x in header.splitlines() if "T0 for this burst" in x)
        assert f"MET={row['T0']:.3f}".rstrip("0").rstrip(".") in line.replace(" s,", ",")
        utc = row["TriggerTime"]
        month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                 "Dec"][int(utc[5:7]) - 1]
        assert f"{utc[:4]} {month} {utc[8:10]} at {utc[11:]} UT" in line
        best = call(svc, "getGRBPositions", posToGet=["Best"], targetID=row["targetID"])
        assert (best["Best_RA"], best["Best_Decl"], float(best["Best_Err90"])) == (
            row["RA"], row["Decl"], row["Err90"])
