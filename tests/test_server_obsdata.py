# Licensed under a 3-clause BSD style license - see LICENSE
"""The local service's observation-data functions (server/obsdata.py): ``getObsByTarg``,
``listObsFiles`` (shared/spec/ukssdc-catalogues.md §5, §8 item 11) and the archive files they
point at, over real HTTP; and the official client's documented calls run unchanged against it."""
import gzip
import io
import warnings

import pytest
import requests
from astropy.io import fits

from xrtprods_astro.server.catalogue import CATALOGUE
from xrtprods_astro.server.obsdata import DIRS
from xrtprods_astro.server.sxps import SXPSService


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("obssvc"))
    service.start()
    yield service
    service.stop()


def _post(svc, **body):
    answer = requests.post(svc.api_url, json={**body, "APIVersion": "1.0.5"}, timeout=30)
    assert answer.status_code == 200
    return answer.json()


def _listing(svc, obsid="00968211000", source="uk_reproc", dirs=("bat", "xrt", "uvot", "auxil")):
    return _post(svc, APIFunc="listObsFiles", obsid=obsid, source=source, dirs=list(dirs))


# ---------------------------------------------------------------------- getObsByTarg
def test_obs_lists_are_the_simulated_skys_observations(svc):
    """Every target's obsIDs are those of the obs/swiftmastr table (and of the product generator)."""
    table = SXPSService()._build_obs()
    for entry in CATALOGUE:
        for targ in entry.targets:
            answer = _post(svc, APIFunc="getObsByTarg", targetID=targ)
            assert answer["OK"] == 1 and answer["APIVersion"] == "1.0.5"
            expected = sorted(r["obsid"] for r in table if r["target_id"] == int(targ))
            assert sorted(answer["obsList"]) == expected and expected


@pytest.mark.parametrize("target", [968211, "968211", "00968211"])
def test_obs_list_takes_int_or_string_ids(svc, target):
    assert _post(svc, APIFunc="getObsByTarg", targetID=target)["obsList"][0] == "00968211000"


def test_obs_list_of_a_target_never_observed_is_empty(svc):
    assert _post(svc, APIFunc="getObsByTarg", targetID=12345678)["obsList"] == []


@pytest.mark.parametrize("target", [None, "GRB 060729", True, "1234567890"])
def test_obs_list_refuses_what_is_no_target_id(svc, target):
    answer = _post(svc, APIFunc="getObsByTarg", targetID=target)
    assert "OK" not in answer and answer["ERROR"] and "targetID" in answer["ERRORTEXT"]


# ---------------------------------------------------------------------- listObsFiles
def test_file_list_has_parent_first_dirs_and_relative_files(svc):
    answer = _listing(svc, dirs=DIRS)
    assert answer["OK"] == 1 and answer["url"] == f"{svc.url}/archive/reproc/00968211000"
    dirs, files = answer["fileList"]["dirs"], answer["fileList"]["files"]
    assert dirs[0] == "" and all(d.endswith("/") for d in dirs[1:])
    for i, folder in enumerate(dirs[1:], start=1):
        parent = folder[:-1].rpartition("/")[0]
        # os.mkdir order: every parent is listed, and before its children.
        assert parent == "" or parent + "/" in dirs[:i]
    assert len(set(dirs)) == len(dirs)
    for path in files:
        assert not path.startswith("/") and ".." not in path.split("/")
        assert path.rpartition("/")[0] + "/" in dirs
    # The first observation of a GRB has TDRSS messages and BAT events; every folder asked for is listed.
    assert {p.split("/")[0] for p in files} == set(DIRS)
    assert any(p.startswith("bat/event/") for p in files)


def test_file_list_holds_only_the_folders_asked_for(svc):
    auxil = _listing(svc, dirs=["auxil"])["fileList"]
    assert auxil["dirs"] == ["", "auxil/"] and len(auxil["files"]) == 3
    xrt = _listing(svc, obsid="00030842002", dirs=["XRT"])["fileList"]["files"]
    assert xrt == ["xrt/event/sw00030842002xpcw3po_cl.evt.gz", "xrt/hk/sw00030842002xhd.hk.gz",
                   "xrt/hk/sw00030842002xtr.hk.gz"]
    # A later observation of a GRB has no TDRSS messages: the folder is not listed at all.
    later = _listing(svc, obsid="00968211001", dirs=["tdrss", "log"])["fileList"]
    assert later["dirs"] == ["", "log/"] and later["files"] == ["log/sw00968211001xrt.log"]


@pytest.mark.parametrize("source, base", [("uk_reproc", "/archive/reproc/00968211000"),
                                          ("UK", "/archive/obs/00968211000"),
                                          ("us", "/FTP/swift/data/obs/2020_04/00968211000"),
                                          ("Italy", "/italy/swift/data/obs/00968211000")])
def test_each_mirror_has_its_own_url_base(svc, source, base):
    answer = _listing(svc, source=source, dirs=["xrt"])
    assert answer["url"] == svc.url + base
    path = answer["fileList"]["files"][0]
    got = requests.get(f"{answer['url']}/{path}", timeout=30)
    assert got.status_code == 200
    with fits.open(io.BytesIO(gzip.decompress(got.content))) as hdus:
        origin = hdus[0].header["ORIGIN"]
    assert origin == {"uk_reproc": "UKSSDC", "uk": "UKSSDC", "us": "HEASARC", "italy": "ASDC"}[source.lower()]


def test_an_obsid_not_in_the_archive_has_no_files(svc):
    """What the official client's "Cannot find obs" branch reads (spec §9 q6: not documented)."""
    answer = _listing(svc, obsid="00968211099")
    assert answer["OK"] == 1 and answer["fileList"] == {}


@pytest.mark.parametrize("body, word", [({"obsid": "abc"}, "obsid"), ({"obsid": None}, "obsid"),
                                        ({"source": "mars"}, "uk_reproc"), ({"source": None}, "source"),
                                        ({"dirs": ["xrt", "spam"]}, "auxil"), ({"dirs": "xrt"}, "dirs")])
def test_file_list_errors_name_the_key_and_the_allowed_values(svc, body, word):
    request = {"obsid": "00968211000", "source": "uk_reproc", "dirs": ["xrt"], **body}
    answer = _post(svc, APIFunc="listObsFiles", **request)
    assert "OK" not in answer and word in answer["ERRORTEXT"]


# ---------------------------------------------------------------------- the files
def test_files_are_real_gzipped_fits_and_text(svc):
    answer = _listing(svc, dirs=DIRS)
    for path in answer["fileList"]["files"]:
        got = requests.get(f"{answer['url']}/{path}", timeout=30)
        assert got.status_code == 200 and int(got.headers["Content-Length"]) == len(got.content)
        if path.endswith(".log"):
            assert "00968211000" in got.text
            continue
        raw = gzip.decompress(got.content)
        assert len(raw) % 2880 == 0
        with fits.open(io.BytesIO(raw)) as hdus:
            assert hdus[0].header["OBS_ID"] == "00968211000" and hdus[0].header["TARG_ID"] == 968211
            if path.startswith("xrt/event/"):
                events = hdus["EVENTS"].data
                assert len(events) > 0 and set(events.names) >= {"TIME", "X", "Y", "PI", "GRADE"}
                gti = hdus["GTI"].data
                assert (events["TIME"] >= gti["START"].min()).all()
                assert (events["TIME"] <= gti["STOP"].max()).all()
                assert hdus[0].header["DATAMODE"] == ("WINDOWED" if "xwt" in path else "PHOTON")


def test_a_missing_file_is_404(svc):
    base = _listing(svc, dirs=["xrt"])["url"]
    assert requests.get(f"{base}/xrt/event/nothing.evt.gz", timeout=30).status_code == 404
    assert requests.get(f"{svc.url}/archive/reproc/00968211099/log/x.log", timeout=30).status_code == 404
    hostile = f"{svc.url}/archive/reproc/00968211000/../../etc/passwd"
    assert requests.get(hostile, timeout=30).status_code == 404
    path = "xrt/hk/sw00968211000xhd.hk.gz"
    svc.obsdata.missing.add(f"00968211000/{path}")
    try:
        assert requests.get(f"{base}/{path}", timeout=30).status_code == 404
    finally:
        svc.obsdata.missing.clear()
    assert requests.get(f"{base}/{path}", timeout=30).status_code == 200


def test_files_are_served_in_ranges_with_validators(svc):
    url = f"{_listing(svc, dirs=['xrt'])['url']}/xrt/event/sw00968211000xpcw3po_cl.evt.gz"
    whole = requests.get(url, timeout=30)
    etag = whole.headers["ETag"]
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = requests.get(url, headers={"Range": "bytes=100-", "If-Range": etag}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole.content) - 1}/{len(whole.content)}"
    # Another version's validator: the whole file, never a piece of this one spliced onto it.
    again = requests.get(url, headers={"Range": "bytes=100-", "If-Range": '"other"'}, timeout=30)
    assert again.status_code == 200 and again.content == whole.content
    assert (url[len(svc.url):], "bytes=100-") in svc.obsdata.gets


# ---------------------------------------------------------------------- the official client
def test_swifttools_documented_calls(svc, tmp_path, monkeypatch):
    """data.md's downloadObsData / downloadObsDataByTarget and GRB.md's getObsData, unchanged."""
    pytest.importorskip("swifttools.ukssdc.data")
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    import swifttools.ukssdc.main as ukmain
    from swifttools.ukssdc import data as udat
    from swifttools.ukssdc.data import GRB as ugrb
    from swifttools.ukssdc.data import download as dl
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    # The official client appends to its module list on instruments="all" (spec §7 bug 21): restored after.
    monkeypatch.setattr(dl, "_allowedInstruments", list(dl._allowedInstruments))
    monkeypatch.chdir(tmp_path)
    udat.downloadObsData("00968211001", destDir="obs")
    listed = _listing(svc, obsid="00968211001")["fileList"]["files"]
    got = sorted(str(p.relative_to(tmp_path / "obs" / "00968211001")) for p in
                 (tmp_path / "obs" / "00968211001").rglob("*") if p.is_file())
    assert got == sorted(listed)
    udat.downloadObsDataByTarget(30842, destDir="bytarget", instruments=["XRT"], getAuxil=False)
    folders = sorted(p.name for p in (tmp_path / "bytarget").iterdir())
    assert folders == [f"0003084200{i}" for i in range(1, 5)]
    ugrb.getObsData(GRBName="GRB 060729", destDir="grb", instruments=["xrt"], match="*po_cl.evt.gz")
    events = sorted((tmp_path / "grb").rglob("*.evt.gz"))
    assert len(events) == 7 and events[0].parent.name == "event"
    with fits.open(events[0]) as hdus:
        assert hdus["EVENTS"].header["DATAMODE"] in ("PHOTON", "WINDOWED")
