# Licensed under a 3-clause BSD style license - see LICENSE
"""The local service's LSXPS / 2SXPS product functions (server/sxps_products.py) on the wire.

Each test holds an answer against the shapes of shared/spec/ukssdc-catalogues.md §3 and §8 (items
4-8): the verbatim key lists, wrappers, fixtures (renamed 11375, split 37562, transients 1/30/576,
the superseded stacks and the ``10000000668`` ERROR), and the files the answers name.
"""
import gzip
import io
import tarfile

import pytest
import requests
from astropy.io import fits
from astropy.wcs import WCS


def _lsxps_ids(*names):
    """The LSXPS_IDs of sky objects in the local service's catalogue (IDs follow its table's order)."""
    from xrtprods_astro.server.sxps import SXPSService
    from xrtprods_astro.server.sxps_products import SXPSProductService
    sources = SXPSProductService(SXPSService(), root=".").sources().values()
    return [next(s.id for s in sources if s.obj is not None and s.obj.name == name) for name in names]


#: GK Per, GRB 221009A (fades below detection: upper limits), GRB 200416A, a faint GK Per field source.
GK, GRB22, GRB20, GKF5 = _lsxps_ids("GK Per", "GRB 221009A", "GRB 200416A", "GK Per field 5")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("sxpsprod"))
    service.start()
    yield service
    service.stop()


def call(svc, **body):
    answer = requests.post(f"{svc.url}/API/main.php", json={**body, "APIVersion": "1.0.5"}, timeout=120)
    assert answer.status_code == 200
    return answer.json()


def catalogue_row(svc, source_id):
    cols = ["LSXPS_ID", "IAUName", "RA", "Decl", "Err90", "NumObs"]
    rows = call(svc, APIFunc="queryDB", database="LSXPS", table="sources", cols=cols, numRows=1000,
                firstRow=0, constraints=[{"colName": "LSXPS_ID", "filter": "=", "val": source_id,
                                          "combiner": None, "filter2": None, "val2": None}])["Results"]
    assert len(rows) == 1
    return rows[0]


def first_obsid(svc):
    record = call(svc, APIFunc="getSXPSSourceInfo", sourceID=GK)["data"]
    return record["Detections"]["Observations"][0]["ObsID"]


def test_source_record_is_wrapped_and_agrees_with_the_sources_table(svc):
    answer = call(svc, APIFunc="getSXPSSourceInfo", whichCat="LSXPS", sourceID=GK)
    assert answer["OK"] == 1 and set(answer) == {"OK", "data", "APIVersion"}
    rec = answer["data"]
    assert rec["OK"] == 1   # the inner OK of the documented record
    row = catalogue_row(svc, GK)
    for key in ("LSXPS_ID", "IAUName", "RA", "Decl", "Err90"):
        assert rec[key] == row[key]
    det, non = rec["Detections"], rec["NonDetections"]
    assert det["NumObservations"] + non["NumObservations"] == row["NumObs"]
    assert all(isinstance(r["ObsID"], int) for r in det["Observations"])
    assert ("Stacks" in det) == (det["NumStacks"] > 0)
    assert {"DetectionID", "DatasetID", "Band"} <= set(det["Observations"][0]["Total_Info"])
    assert isinstance(rec["lcRanges"], dict) and {"MJD_lo", "MET_hi", "TDB_lo"} <= set(rec["lcRanges"])


def test_non_detections_carry_isdet(svc):
    rec = call(svc, APIFunc="getSXPSSourceInfo", sourceID=GRB22)["data"]   # a fading GRB
    rows = rec["NonDetections"]["Observations"]
    assert rows and all({"sourceID", "dsID", "band", "C", "isDet"} <= set(r["Total_Info"]) for r in rows)


def test_source_by_name_and_unknown_source(svc):
    name = catalogue_row(svc, GK)["IAUName"]
    assert call(svc, APIFunc="getSXPSSourceInfo", sourceName=name)["data"]["LSXPS_ID"] == GK
    answer = call(svc, APIFunc="getSXPSSourceInfo", sourceID=99999999)
    assert "OK" not in answer and answer["ERROR"] and "not found" in answer["ERRORTEXT"]


def test_renamed_source_answers_for_its_new_self_and_split_one_lists_newer(svc):
    renamed = call(svc, APIFunc="getSXPSSourceInfo", sourceID=11375)["data"]
    assert renamed["LSXPS_ID"] != 11375
    split = call(svc, APIFunc="getSXPSSourceInfo", sourceID=37562)
    assert "data" not in split and len(split["newerSources"]) == 4
    assert all(set(s) == {"LSXPS_ID", "IAUName", "RA", "Decl", "Err90"} for s in split["newerSources"])


def test_transients_as_sources_keys_are_the_stringified_inputs(svc):
    answer = call(svc, APIFunc="getSXPSTransAsSources", whichCat="LSXPS", sourceID=[576, 30, 424242])
    lookup = answer["lookup"]
    assert set(lookup) == {"576", "30", "424242"}
    assert isinstance(lookup["576"], int) and lookup["30"] == "MISSING" and lookup["424242"] == "MISSING"


def test_transient_record_is_flat(svc):
    rec = call(svc, APIFunc="getSXPSTransInfo", whichCat="LSXPS", sourceID=576)
    assert "data" not in rec and rec["TransientID"] == 576 and rec["IAUName"].startswith("Swift J")
    assert all(len(o) == 11 for o in rec["AllNewObs"]) and all(isinstance(t, int) for t in rec["AllNewTargs"])
    assert rec["DiscoveryObs"] == rec["AllNewObs"][0]
    by_name = call(svc, APIFunc="getSXPSTransInfo", sourceName=rec["IAUName"])
    assert by_name["TransientID"] == 576


@pytest.mark.parametrize("binning,fmt", [("obsid", "MJD"), ("Observation", "mjd"), ("ss", "Swift MET"),
                                         ("Snapshot", "TDB")])
def test_light_curve_keys_and_spellings(svc, binning, fmt):
    lc = call(svc, APIFunc="getSXPSLC", whichCat="LSXPS", sourceID=GRB22, bands="all", binning=binning,
              timeFormat=fmt)
    assert list(lc)[:4] == ["TimeFormat", "T0", "Binning", "Datasets"] and lc["T0"] == 0
    assert lc["Binning"] in ("Observation", "Snapshot")
    assert lc["TimeFormat"] == {"mjd": "MJD", "swift met": "MET", "tdb": "TDB"}[fmt.lower()]
    assert "URL" not in str(list(lc))
    assert lc["Total_ULData"]["columns"] == ["Time", "TimePos", "TimeNeg", "UpperLimit", "CtsInSrc",
                                             "BGInSrc", "CorrFact", "Exposure"]
    assert lc["Total_ratesData"]["columns"][3:6] == ["Rate", "RatePos", "RateNeg"]
    assert lc["HR1Data"]["columns"] == ["Time", "TimePos", "TimeNeg", "HR", "HRPos", "HRNeg"]
    for name in lc["Datasets"]:
        block = lc[f"{name}Data"]
        assert all(len(row) == len(block["columns"]) for row in block["data"])
    if fmt == "TDB":
        assert lc["Total_ratesData"]["data"][0][0] > 2.4e6   # JD-like, as the docs' lcRanges


def test_light_curve_grouping_flags(svc):
    split = call(svc, APIFunc="getSXPSLC", sourceID=GRB22, bands=["total"], binning="obs", timeFormat="mjd",
                 retroAsUL=True, groupULs=False)
    assert split["Datasets"][0] == "Total_rates" and set(split["Datasets"]) <= {
        "Total_rates", "Total_retro_UL", "Total_nondet_UL"} and "Total_nondet_UL" in split["Datasets"]
    rates = call(svc, APIFunc="getSXPSLC", sourceID=GRB22, bands=["total"], binning="obs", timeFormat="mjd",
                 groupRates=False, nondetAsUL=False)
    assert {"Total_blind_rates", "Total_nondet_rates"} <= set(rates["Datasets"])
    every = call(svc, APIFunc="getSXPSLC", sourceID=GRB22, bands=["total", "HR1"], binning="obs",
                 timeFormat="mjd", getAllTypes=True)
    assert "Total_nondet_UL" in every["Datasets"] and "Total_nondet_rates" in every["Datasets"]
    assert "HR1_blind" in every["Datasets"]
    # Both spellings of the HR grouping flag: the documented groupHRs and the client's groupHRss.
    for key in ("groupHRs", "groupHRss"):
        hr = call(svc, APIFunc="getSXPSLC", sourceID=GRB20, bands=["HR1"], binning="obs", timeFormat="mjd",
                  **{key: False})
        assert hr["Datasets"] and all(d.startswith("HR1_") for d in hr["Datasets"])


def test_light_curve_show_obs_and_bad_options(svc):
    lc = call(svc, APIFunc="getSXPSLC", sourceID=GK, bands=["total"], binning="obs", timeFormat="mjd",
              showObs=True)
    assert lc["Total_ratesData"]["columns"][-1] == "ObsID"
    assert all(len(r[-1]) == 11 for r in lc["Total_ratesData"]["data"])
    bad = call(svc, APIFunc="getSXPSLC", sourceID=GK, bands=["ultra"], binning="obs")
    assert "bands" in bad["ERRORTEXT"]
    bad = call(svc, APIFunc="getSXPSLC", sourceID=GK, binning="weekly")
    assert "binning" in bad["ERRORTEXT"]
    assert "Binning" not in call(svc, APIFunc="getSXPSLC", sourceID=37562) and \
        "newerSources" in call(svc, APIFunc="getSXPSLC", sourceID=37562)


def test_transient_light_curve_uses_rate_for_its_upper_limits(svc):
    lc = call(svc, APIFunc="getSXPSLC", whichCat="LSXPS", sourceID=30, transient=True, binning=None,
              timeFormat=None, bands="all")
    assert lc["TimeFormat"] == "MJD" and "PCUL_incbad" in lc["Datasets"]
    assert "PC_nosys_incbad" in lc["Datasets"]
    assert lc["PCUL_incbadData"]["columns"][3] == "Rate" and len(lc["PC_incbadData"]["columns"]) == 15


def test_source_spectrum_dict_and_its_twelve_member_tar(svc):
    spec = call(svc, APIFunc="getSXPSSpectrumData", whichCat="LSXPS", sourceID=GK)
    assert list(spec) == ["T0", "DeltaFitStat", "GalNH_unfitted", "rnames", "interval0", "OK", "APIVersion"]
    assert spec["rnames"] == ["interval0"]
    pc = spec["interval0"]["PC"]
    assert spec["interval0"]["Modes"] == ["PC"] and pc["Models"] == ["PowerLaw", "APEC"]
    assert "KT" in pc["APEC"] and "kT" not in pc["APEC"] and pc["PowerLaw"]["Image"].endswith(".gif")
    url = spec["interval0"]["DataFile"]
    assert url.startswith(f"{svc.url}/LSXPS/sources/source{GK}/")
    raw = requests.get(url, timeout=60).content
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        names = tar.getnames()
    assert sorted(names) == sorted(["README.txt", "interval0pcsource.pi", "interval0pcback.pi",
                                    "interval0pc.pi", "interval0pc.arf", "interval0pc.rmf", "interval0.areas",
                                    "GRB_info.txt",
                                    "models/interval0pc_apec.xcm", "models/interval0pc_pow.xcm",
                                    "interval0pc_apec_fit.fit", "interval0pc_pow_fit.fit"])
    gif = requests.get(pc["PowerLaw"]["Image"], timeout=30)
    assert gif.status_code == 200 and gif.content.startswith(b"GIF8")


def test_transient_spectra_both_and_no_full_spectrum(svc):
    both = call(svc, APIFunc="getSXPSSpectrumData", whichCat="LSXPS", transient=True, specType="both",
                sourceID=1)
    assert set(both) == {"Discovery", "Full", "OK", "APIVersion"}
    assert both["Full"]["interval0"]["PC"]["Models"] == ["PowerLaw"]
    assert "/LSXPS/transData/1/" in both["Full"]["interval0"]["DataFile"]
    thirty = call(svc, APIFunc="getSXPSSpectrumData", transient=True, specType="both", sourceID=30)
    assert thirty["Full"] == {"NoSpectrum": 1} and "rnames" in thirty["Discovery"]
    one = call(svc, APIFunc="getSXPSSpectrumData", transient=True, specType="Discovery", sourceID=1)
    assert "rnames" in one and "Discovery" not in one
    assert "specType" in call(svc, APIFunc="getSXPSSpectrumData", transient=True, sourceID=1)["ERRORTEXT"]


def test_source_images_hold_only_the_requested_bands_and_are_pngs(svc):
    answer = call(svc, APIFunc="getSXPSSourceImages", whichCat="LSXPS", bands=["soft", "expmap"], sourceID=GK)
    assert list(answer) == ["Soft", "Expmap", "OK", "APIVersion"]
    png = requests.get(answer["Soft"], timeout=30)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    svc.sxps_products.missing_images = {"Soft"}
    try:
        assert call(svc, APIFunc="getSXPSSourceImages", bands="all", sourceID=GK)["Soft"] == "NOTFOUND"
    finally:
        svc.sxps_products.missing_images = set()


def test_dataset_record_and_superseded_stacks(svc):
    obsid = first_obsid(svc)
    rec = call(svc, APIFunc="getSXPSDatasetInfo", whichCat="LSXPS", ObsID=obsid)["data"]
    assert rec["OK"] == 1 and rec["ObsID"] == "%011d" % obsid and isinstance(rec["TargetID"], int)
    assert rec["Sources"] and any(r["LSXPS_ID"] == GK for r in rec["Sources"])
    again = call(svc, APIFunc="getSXPSDatasetInfo", DatasetID=rec["DatasetID"])
    assert again["data"]["ObsID"] == rec["ObsID"]
    removed = call(svc, APIFunc="getSXPSDatasetInfo", ObsID="10000000668")
    other = removed["SupersedingStacks"]["OtherStacks"]
    assert set(other[0]) == {"DatasetID", "DataVersion", "ObsID", "ExposureUsed"}
    latest = call(svc, APIFunc="getSXPSDatasetInfo", DatasetID=229018)
    assert set(latest["LatestVersion"]) == {"DatasetID", "DataVersion", "ObsID", "ExposureUsed"}
    obsolete = call(svc, APIFunc="getSXPSDatasetInfo", ObsID=10000000700)["data"]
    assert obsolete["IsObsoleteStack"] == 1


def test_dataset_images_are_fits_with_wcs(svc):
    obsid = first_obsid(svc)
    answer = call(svc, APIFunc="getSXPSDatasetImages", whichCat="LSXPS", bands="all", types="all",
                  getRegions=True, ObsID=obsid)
    assert {"Total", "Soft", "Medium", "Hard", "Expmap"} <= set(answer)
    assert set(answer["Total"]) == {"Image", "BackgroundMap", "BackgroundMapWithSources", "Regions"}
    assert answer["Total"]["Image"].endswith("%011d_total.img.gz" % obsid)
    assert answer["Soft"]["Image"].endswith("_band1.img.gz")
    raw = requests.get(answer["Total"]["Image"], timeout=60).content
    with fits.open(io.BytesIO(gzip.decompress(raw))) as h:
        assert WCS(h[0].header).has_celestial and h[0].data.sum() > 0
    region = requests.get(answer["Total"]["Regions"], timeout=30).text
    assert region.startswith("# Region file format: DS9") and "circle(" in region


def test_dataset_images_obsolete_stack_and_removed_dataset(svc):
    obsolete = call(svc, APIFunc="getSXPSDatasetImages", bands="all", types="all", getRegions=False,
                    ObsID="10000000700")
    assert list(obsolete) == ["SupersededBy", "Total", "Soft", "Medium", "Hard", "Missingexpmap", "OK",
                              "APIVersion"]
    assert obsolete["Total"]["Image"] == "NOTFOUND"
    removed = call(svc, APIFunc="getSXPSDatasetImages", bands="all", types="all", getRegions=True,
                   ObsID="10000000668")
    assert "OK" not in removed and removed["ERROR"] == 1
    assert removed["ERRORTEXT"] == "Dataset with obsid: `10000000668` is not found in the LSXPS catalogue."


def test_files_outside_the_products_are_not_found(svc):
    for path in (f"/LSXPS/sources/source{GK}/images/Nope.png", f"/LSXPS/sources/source{GK}/../../etc/passwd",
                 "/LSXPS/datasets/00000000000/00000000000_total.img.gz",
                 "/LSXPS/sources/sourceX/images/Total.png"):
        assert requests.get(svc.url + path, timeout=30).status_code == 404


def test_bad_catalogue_and_missing_ids_are_errors(svc):
    assert "whichCat" in call(svc, APIFunc="getSXPSSourceInfo", whichCat="3SXPS", sourceID=1)["ERRORTEXT"]
    assert "sourceID" in call(svc, APIFunc="getSXPSSourceInfo")["ERRORTEXT"]
    assert "DatasetID" in call(svc, APIFunc="getSXPSDatasetInfo")["ERRORTEXT"]
    assert call(svc, APIFunc="getSXPSSourceInfo", whichCat="2SXPS", sourceID=GK)["data"]["LSXPS_ID"] == GK


HOSTILE = [None, True, False, 0, -1, 1.5, 1e308, "", " ", "²", "NaN", "\x00", "a" * 5000, [], [1, 2],
           [[[]]], {}, {"a": {"b": 1}}, "all", ["total", None]]
BASES = {
    "getSXPSSourceInfo": {"whichCat": "LSXPS", "sourceID": 17},
    "getSXPSTransAsSources": {"whichCat": "LSXPS", "sourceID": [576]},
    "getSXPSLC": {"whichCat": "LSXPS", "sourceID": 17, "bands": ["total"], "binning": "obs",
                  "timeFormat": "mjd", "groupULs": False, "showObs": True},
    "getSXPSSpectrumData": {"whichCat": "LSXPS", "transient": True, "specType": "both", "sourceID": 30},
    "getSXPSSourceImages": {"whichCat": "LSXPS", "bands": ["total"], "sourceID": 17},
    "getSXPSTransInfo": {"whichCat": "LSXPS", "sourceID": 576},
    "getSXPSDatasetInfo": {"whichCat": "LSXPS", "DatasetID": 31},
    "getSXPSDatasetImages": {"whichCat": "LSXPS", "bands": ["total"], "types": ["image"], "getRegions": True,
                             "ObsID": "10000000700"},
}


@pytest.mark.parametrize("func", sorted(BASES))
def test_hostile_values_never_get_a_5xx(svc, func):
    session = requests.Session()
    failures = []
    for key in BASES[func]:
        for value in HOSTILE:
            body = {**BASES[func], key: value, "APIFunc": func}
            answer = session.post(f"{svc.url}/API/main.php", json=body, timeout=120)
            if answer.status_code >= 500 or ("OK" not in answer.json() and "ERROR" not in answer.json()):
                failures.append((key, repr(value)[:30], answer.status_code))
    assert failures == []
