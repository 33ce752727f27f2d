# Licensed under a 3-clause BSD style license - see LICENSE
"""The observation-data client (xrtprods_astro/obsdata.py) and ``xrtprods obsfiles`` against the
local service (server/obsdata.py), over real HTTP on 127.0.0.1.

The tests named ``test_bug_*`` each pin one defect of the official client's ``data.download``
(shared/spec/ukssdc-catalogues.md §7, bugs 21-23) that this client does not have.
"""
import gzip
import io
import os
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from xrtprods_astro import ObsDataClass, XRTObsData, conf
from xrtprods_astro.exceptions import InvalidRequestError, ProductUnavailableError, ReaderError

OBS = "00968211001"   # a later observation of GRB 200416A: PC events, no TDRSS


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("obsclient"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def client(svc, tmp_path):
    svc.obsdata.missing.clear()
    svc.obsdata.corrupt.clear()
    svc.obsdata.extra.clear()
    svc.faults.clear()
    c = ObsDataClass(server=svc.url)
    c.cache_location = tmp_path / "cache"
    return c


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(conf, "backoff", 0.01)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())


def _sent(svc):
    return len(svc.obsdata.listings), len(svc.obsdata.gets)


# ---------------------------------------------------------------------- observations
def test_ready_instance_is_an_obs_data_client():
    assert isinstance(XRTObsData, ObsDataClass)


@pytest.mark.parametrize("targets", [968211, "968211", "00968211", [968211, "00968211"],
                                     Table({"target_id": [968211]})])
def test_obsids_of_a_target(client, targets):
    table = client.get_obsids(targets)
    assert table.colnames == ["target_id", "obsid"]
    assert list(table["obsid"]) == [f"00968211{i:03d}" for i in range(6)]
    assert set(table["target_id"]) == {"00968211"}


def test_obsids_of_a_target_never_observed_is_an_empty_table(client):
    table = client.get_obsids(12345678)
    assert len(table) == 0 and table.colnames == ["target_id", "obsid"]


def test_obsids_of_a_grb_by_name(client):
    table = client.get_grb_obsids("GRB 060729")
    assert table.colnames == ["grb", "target_id", "obsid"]
    assert set(table["grb"]) == {"GRB 060729"} and table["obsid"][0] == "00221755000"


def test_bad_ids_are_refused_all_at_once_before_anything_is_sent(client, svc):
    before = _sent(svc)
    with pytest.raises(InvalidRequestError) as err:
        client.list_files(["abc", 968211001, "123456789012", None])
    text = str(err.value)
    assert "obsids" in text and "'abc'" in text and "123456789012" in text and "None" in text
    with pytest.raises(InvalidRequestError, match="target_ids"):
        client.get_obsids("GRB 200416A")
    with pytest.raises(InvalidRequestError, match="no obsid column"):
        client.list_files(Table({"name": ["x"]}))
    assert _sent(svc) == before


@pytest.mark.parametrize("options, words", [
    ({"mirror": "mars"}, ("mirror", "uk_reproc", "italy")),
    ({"instruments": "spam"}, ("instruments", "bat", "uvot")),
    ({"instruments": ["xrt", "nustar"]}, ("instruments", "xrt")),
    ({"auxil": "yes"}, ("auxil", "True or False")),
    ({"instruments": None, "auxil": False}, ("nothing to list",)),
    ({"match": 5}, ("match", "glob")),
    ({"errors": "ignore"}, ("errors", "collect")),
])
def test_bad_options_name_the_parameter_and_the_allowed_values(client, svc, options, words):
    before = _sent(svc)
    with pytest.raises(InvalidRequestError) as err:
        client.list_files(OBS, **options)
    for word in words:
        assert word in str(err.value)
    assert _sent(svc) == before


# ---------------------------------------------------------------------- file lists
def test_file_list_is_a_table_of_paths_and_urls(client, svc):
    table = client.list_files(int(OBS), instruments=["XRT"])
    assert table.colnames == ["obsid", "path", "directory", "url", "mirror"]
    assert list(table["path"]) == [f"xrt/event/sw{OBS}xpcw3po_cl.evt.gz", f"xrt/hk/sw{OBS}xhd.hk.gz",
                                   f"xrt/hk/sw{OBS}xtr.hk.gz", f"auxil/sw{OBS}sat.fits.gz",
                                   f"auxil/sw{OBS}pat.fits.gz", f"auxil/sw{OBS}sao.fits.gz"]
    assert list(table["directory"][:2]) == ["xrt/event", "xrt/hk"]
    base = f"{svc.url}/archive/reproc/{OBS}"
    assert all(url == f"{base}/{path}" for url, path in zip(table["url"], table["path"]))
    assert table.meta["urls"] == {OBS: base} and table.meta["dirs"] == ["xrt", "auxil"]
    assert svc.obsdata.listings[-1] == {"APIFunc": "listObsFiles", "APIVersion": "1.0.5", "obsid": OBS,
                                        "source": "uk_reproc", "dirs": ["xrt", "auxil"]}


def test_file_list_of_another_mirror_with_a_glob(client, svc):
    table = client.list_files([OBS, "00968211000"], mirror="US", match=["*po_cl.evt.gz"], auxil=False)
    assert [p.rsplit("/", 1)[1] for p in table["path"]] == [
        f"sw{OBS}xpcw3po_cl.evt.gz", "sw00968211000xwtw2po_cl.evt.gz", "sw00968211000xpcw3po_cl.evt.gz"]
    assert set(table["mirror"]) == {"us"} and "/FTP/swift/data/obs/2020_04/" in table["url"][0]


def test_file_list_from_a_catalogue_query_of_observations(client, svc):
    from xrtprods_astro import CataloguesClass
    cats = CataloguesClass(server=svc.url)
    obs = cats.query_criteria("obs", "swiftmastr", target_id=30842)
    table = client.list_files(obs, instruments="xrt", auxil=False, match="*.evt.gz")
    assert sorted(table["obsid"]) == sorted(obs["obsid"]) and len(table) == len(obs) == 4


def test_an_obsid_not_in_the_archive(client):
    with pytest.raises(ProductUnavailableError, match="00968211099 is not in the uk archive"):
        client.list_files("00968211099", mirror="uk")
    table = client.list_files(["00968211099", OBS], errors="collect", instruments="xrt")
    assert set(table["obsid"]) == {OBS} and list(table.meta["errors"]) == ["00968211099"]


HOSTILE = ["../../evil.txt", "/etc/passwd", "xrt/../../../evil.txt", "xrt//x.fits", "xrt/./x.fits",
           "C:/evil.txt", "xrt/event/..", "xrt/a\\..\\..\\evil.txt", "xrt/\x00.fits", "..."]


def test_hostile_paths_are_refused(client, svc, tmp_path):
    svc.obsdata.extra[OBS] = HOSTILE
    with pytest.raises(ReaderError, match="refused"):
        client.list_files(OBS)
    table = client.list_files(OBS, errors="collect")
    assert not set(table["path"]) & set(HOSTILE)
    assert sorted(table.meta["errors"]) == sorted(f"{OBS}/{p}" for p in HOSTILE)
    # A hand-made table with hostile paths gets no further than a file list from the service.
    made = Table({"obsid": [OBS] * 3, "path": ["../../evil.txt", "/tmp/evil.txt", "xrt/../../evil.txt"],
                  "url": [table["url"][0]] * 3})
    dest = tmp_path / "dest"
    result = client.download(made, dest)
    assert list(result["status"]) == ["failed"] * 3
    assert not (tmp_path / "evil.txt").exists() and _files(tmp_path) == []


def test_links_in_the_destination_are_not_written_through(client, svc, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / OBS).symlink_to(outside)
    result = client.download(OBS, dest, instruments="xrt", auxil=False)
    assert set(result["status"]) == {"failed"} and all("link" in e for e in result["error"])
    assert list(outside.iterdir()) == []


# ---------------------------------------------------------------------- downloads
def _check_fits(path):
    with fits.open(path) as hdus:
        assert hdus[0].header["OBS_ID"] == OBS


def test_download_is_verified_and_a_second_run_skips_what_is_there(client, svc, tmp_path):
    dest = tmp_path / "data"
    result = client.download(OBS, dest)
    assert result.colnames == ["obsid", "path", "local_path", "status", "size", "error"]
    assert set(result["status"]) == {"downloaded"} and len(result) == 8
    listed = client.list_files(OBS)
    assert _files(dest) == sorted(f"{OBS}/{p}" for p in listed["path"])   # no part or staging files
    for row in result:
        assert os.path.getsize(row["local_path"]) == row["size"] > 0
        _check_fits(row["local_path"])
    gets = len(svc.obsdata.gets)
    again = client.download(listed, dest)
    assert set(again["status"]) == {"skipped"} and len(svc.obsdata.gets) == gets
    forced = client.download(listed[0], dest, overwrite=True, max_workers=1)
    assert list(forced["status"]) == ["downloaded"] and len(svc.obsdata.gets) == gets + 1
    assert list(forced["path"]) == [listed["path"][0]]


def test_download_resumes_an_interrupted_transfer_with_a_range_request(client, svc, tmp_path, fast_retries):
    table = client.list_files(OBS, instruments="xrt", auxil=False, match="*.evt.gz")
    # The server announces the whole length, sends half and hangs up.
    svc.faults.script("file", "truncate")
    result = client.download(table, tmp_path)
    assert list(result["status"]) == ["downloaded"]
    path = table["url"][0][len(svc.url):]
    ranges = [r for p, r in svc.obsdata.gets if p == path]
    assert ranges[-2] is None and ranges[-1] and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    _check_fits(result["local_path"][0])
    whole = svc.obsdata.file_for(path).read_bytes()
    assert (tmp_path / OBS / table["path"][0]).read_bytes() == whole


def test_an_interrupted_run_is_completed_by_running_it_again(client, svc, tmp_path, monkeypatch):
    monkeypatch.setattr(conf, "retries", 0)
    dest = tmp_path / "data"
    svc.faults.script("file", "truncate", count=3)
    first = client.download(OBS, dest, max_workers=1)
    assert list(first["status"]).count("failed") == 3 and list(first["status"]).count("downloaded") == 5
    failed = first[first["status"] == "failed"]
    assert not any(os.path.exists(p) for p in failed["local_path"])
    assert set(first.meta["errors"]) == {f"{OBS}/{p}" for p in failed["path"]}
    # Their halves wait in hidden part files beside them, which the next run resumes.
    assert all(os.path.exists(os.path.join(os.path.dirname(p), f".{os.path.basename(p)}.part"))
               for p in failed["local_path"])
    gets = len(svc.obsdata.gets)
    second = client.download(OBS, dest)
    done = dict(zip(second["path"], second["status"]))
    assert all(done[p] == "downloaded" for p in failed["path"])
    assert all(r and r.startswith("bytes=") for _, r in svc.obsdata.gets[gets:])
    assert list(second["status"]).count("skipped") == 5
    assert _files(dest) == sorted(f"{OBS}/{p}" for p in second["path"])


_FIRST_RUN = """
import sys
from xrtprods_astro import ObsDataClass, conf
conf.retries = 0
result = ObsDataClass(server=sys.argv[1]).download(sys.argv[2], sys.argv[3], instruments="xrt", auxil=False,
                                                   match="*.evt.gz")
print(result["status"][0])
"""


def test_a_run_cut_off_in_another_process_is_resumed_by_the_next_run(client, svc, tmp_path):
    # The first run (another process, no retries) gets half of the event file and gives up; the
    # next run asks for the rest only, with Range and the validator in If-Range.
    import subprocess
    import sys
    dest = tmp_path / "data"
    svc.faults.script("file", "truncate")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache2")}
    first = subprocess.run([sys.executable, "-c", _FIRST_RUN, svc.url, OBS, str(dest)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and first.stdout.split()[-1] == "failed", first.stderr
    table = client.list_files(OBS, instruments="xrt", auxil=False, match="*.evt.gz")
    local = dest / OBS / table["path"][0]
    part, meta = local.with_name(f".{local.name}.part"), local.with_name(f".{local.name}.part.json")
    url_path = table["url"][0][len(svc.url):]
    whole = svc.obsdata.file_for(url_path).read_bytes()
    # Never a half-written file under the final name: the half is in the hidden part file.
    assert not local.exists() and part.stat().st_size == len(whole) // 2 and meta.exists()
    result = ObsDataClass(server=svc.url).download(table, dest)
    assert list(result["status"]) == ["downloaded"]
    ranges = [r for p, r in svc.obsdata.gets if p == url_path]
    assert ranges[-1] == f"bytes={len(whole) // 2}-"
    assert local.read_bytes() == whole
    _check_fits(local)
    assert _files(dest) == [f"{OBS}/{table['path'][0]}"]   # no part file or sidecar left


def test_a_resumed_file_failing_its_check_is_fetched_again_whole(client, svc, tmp_path, monkeypatch):
    # The gzip check of the whole file runs from disk once the file is complete: a part file whose
    # bytes were damaged on disk after the run that wrote it fails it, and the file comes again whole.
    monkeypatch.setattr(conf, "retries", 0)
    table = client.list_files(OBS, instruments="xrt", auxil=False, match="*.evt.gz")
    svc.faults.script("file", "truncate")
    first = client.download(table, tmp_path)
    assert list(first["status"]) == ["failed"]
    local = tmp_path / OBS / table["path"][0]
    part = local.with_name(f".{local.name}.part")
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    result = client.download(table, tmp_path)
    assert list(result["status"]) == ["downloaded"]
    url_path = table["url"][0][len(svc.url):]
    ranges = [r for p, r in svc.obsdata.gets if p == url_path]
    assert ranges[-2].startswith("bytes=") and ranges[-1] is None
    assert local.read_bytes() == svc.obsdata.file_for(url_path).read_bytes()
    assert _files(tmp_path / OBS) == [table["path"][0]]


def test_an_interrupt_stops_the_run_without_fetching_the_rest(client, svc, tmp_path, monkeypatch):
    calls = []
    original = client._one

    def interrupted(*args):
        calls.append(args[2])
        if len(calls) == 1:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(client, "_one", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client.download(OBS, tmp_path, max_workers=1)
    assert 1 <= len(calls) <= 2 < 8   # the files not started were dropped, not fetched first
    assert not [f for f in _files(tmp_path) if ".xrtprods-download-" in f or f.endswith(".part")]


def test_staging_left_by_a_killed_process_is_removed(client, tmp_path):
    import subprocess
    import sys
    from xrtprods_astro.obsdata import _HOST, _STAGING
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    folder = tmp_path / OBS / "log"
    folder.mkdir(parents=True)
    left = folder / f"{_STAGING}{_HOST}-{dead}-abc"
    left.mkdir()
    (left / f"sw{OBS}xrt.log.part").write_text("half")
    mine = folder / f"{_STAGING}{_HOST}-{os.getpid()}-abc"
    mine.mkdir()
    result = client.download(OBS, tmp_path, instruments=None, auxil=False, log=True)
    assert list(result["status"]) == ["downloaded"]
    assert not left.exists() and mine.exists()   # a live process's staging is never touched


def test_long_runs_log_their_progress(client, tmp_path, caplog):
    caplog.set_level("INFO", logger="xrtprods_astro")
    result = client.download([OBS, "00968211000"], tmp_path, tdrss=True, log=True)
    assert len(result) >= 20
    lines = [r.getMessage() for r in caplog.records if r.name == "xrtprods_astro.obsdata"]
    assert any(f"of {len(result)} files done" in line for line in lines)
    assert lines[-1].endswith(f"{len(result)} downloaded, 0 already there, 0 failed")
    # The files are logged where they are, never at their unverified staging place.
    assert not any(".xrtprods-download-" in r.getMessage() for r in caplog.records)


def test_a_file_failing_verification_is_never_put_in_place(client, svc, tmp_path):
    path = f"xrt/hk/sw{OBS}xhd.hk.gz"
    svc.obsdata.corrupt.add(f"{OBS}/{path}")
    result = client.download(OBS, tmp_path)
    row = result[result["path"] == path][0]
    assert row["status"] == "failed" and "gzip" in row["error"] and row["size"] == 0
    assert not (tmp_path / OBS / path).exists()
    assert list(result["status"]).count("downloaded") == len(result) - 1
    assert _files(tmp_path) == sorted(f"{OBS}/{p}" for p in result["path"] if p != path)


def test_verification_of_gzip_and_fits(tmp_path):
    from xrtprods_astro.obsdata import _verify
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(np.zeros(3))]).writeto(buffer)
    good = gzip.compress(buffer.getvalue())
    cases = {"ok.fits.gz": good, "two.evt.gz": good[:] + gzip.compress(b""),
             "short.fits.gz": good[:-5], "crc.hk.gz": good[:-8] + b"\0\0\0\0" + good[-4:],
             "notfits.fits.gz": gzip.compress(b"<html>" * 480), "cut.fits": buffer.getvalue()[:2000],
             "plain.fits": buffer.getvalue(), "text.log.gz": gzip.compress(b"a log\n")}
    verdict = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        try:
            _verify(tmp_path / name, name)
            verdict[name] = "ok"
        except ReaderError as exc:
            verdict[name] = str(exc)
    assert verdict["ok.fits.gz"] == verdict["plain.fits"] == verdict["text.log.gz"] == "ok"
    assert verdict["two.evt.gz"] == "ok"
    assert "cut short" in verdict["short.fits.gz"] and "corrupt gzip" in verdict["crc.hk.gz"]
    assert "SIMPLE" in verdict["notfits.fits.gz"] and "2880" in verdict["cut.fits"]


def test_download_options_are_checked_before_anything_is_sent(client, svc, tmp_path):
    before = _sent(svc)
    with pytest.raises(InvalidRequestError, match="max_workers"):
        client.download(OBS, tmp_path, max_workers=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidRequestError, match="dest_dir"):
        client.download(OBS, tmp_path / "file" / "sub")
    assert _sent(svc) == before


# ---------------------------------------------------------------------- the official client's bugs
def _official(svc, monkeypatch):
    pytest.importorskip("swifttools.ukssdc.data")
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    import swifttools.ukssdc.main as ukmain
    from swifttools.ukssdc.data import download as dl
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.setattr(dl, "_allowedInstruments", list(dl._allowedInstruments))
    return dl


def test_bug_21_instruments_all_asks_for_the_same_folders_every_call(client, svc, tmp_path, monkeypatch):
    dl = _official(svc, monkeypatch)
    monkeypatch.chdir(tmp_path)
    dl.downloadObsData(OBS, destDir="a", match="*.log")
    dl.downloadObsData(OBS, destDir="b", match="*.log")
    theirs = [b["dirs"] for b in svc.obsdata.listings[-2:]]
    assert theirs[1] == theirs[0] + ["auxil"]   # theirs grows with every call
    client.list_files(OBS)
    client.list_files(OBS)
    ours = [b["dirs"] for b in svc.obsdata.listings[-2:]]
    assert ours[0] == ours[1] == ["bat", "xrt", "uvot", "auxil"]


def test_bug_22_a_missing_obsid_or_an_existing_folder_stops_nothing(client, svc, tmp_path, monkeypatch):
    dl = _official(svc, monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyError):   # theirs: skipErrors=True, yet a KeyError on the missing obsID
        dl.downloadObsData(["00968211099", OBS], destDir="theirs", skipErrors=True)
    dl.downloadObsData([OBS], destDir="theirs", instruments=["xrt"], getAuxil=False)
    with pytest.raises(RuntimeError, match="exists"):   # and, run again, its own folder is an error
        dl.downloadObsData([OBS], destDir="theirs", skipErrors=True, instruments=["xrt"], getAuxil=False)
    result = client.download(["00968211099", OBS], tmp_path / "ours", instruments="xrt")
    assert result["status"][0] == "failed" and "00968211099" in result["error"][0]
    assert set(result["status"][1:]) == {"downloaded"}
    again = client.download(["00968211099", OBS], tmp_path / "ours", instruments="xrt")
    assert set(again["status"][1:]) == {"skipped"}


def test_bug_23_an_error_page_is_never_saved_as_the_file(client, svc, tmp_path, monkeypatch):
    dl = _official(svc, monkeypatch)
    path = f"xrt/hk/sw{OBS}xtr.hk.gz"
    svc.obsdata.missing.add(f"{OBS}/{path}")
    url = f"{svc.url}/archive/reproc/{OBS}/{path}"
    (tmp_path / "theirs").mkdir()
    dl._saveURLToFile(url, str(tmp_path / "theirs"))   # theirs: the 404 page, under the file's name
    assert (tmp_path / "theirs" / os.path.basename(path)).read_bytes().startswith(b"<!DOCTYPE html>")
    result = client.download(OBS, tmp_path / "ours", instruments="xrt", auxil=False)
    row = result[result["path"] == path][0]
    assert row["status"] == "failed" and "404" in row["error"]
    assert not (tmp_path / "ours" / OBS / path).exists()


# ---------------------------------------------------------------------- command line
def test_cli_choices_are_the_clients():
    from xrtprods_astro import cli_obsdata, obsdata
    assert (cli_obsdata.MIRRORS, cli_obsdata.INSTRUMENTS) == (obsdata.MIRRORS, obsdata.INSTRUMENTS)


def test_cli_lists_and_downloads(svc, tmp_path, capsys):
    from xrtprods_astro.cli import main
    out_table = tmp_path / "files.ecsv"
    code = main(["--server", svc.url, "obsfiles", "list", "--target", "30842", "--instruments", "xrt",
                 "--no-auxil", "--match", "*.evt.gz", "--output", str(out_table)])
    out, err = capsys.readouterr()
    assert code == 0 and "4 files of 4 observations" in err and "00030842004" in out
    assert len(Table.read(out_table)) == 4
    dest = tmp_path / "data"
    args = ["--server", svc.url, "obsfiles", "download", OBS, "--instruments", "none", "--dest", str(dest)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "3 downloaded, 0 already there, 0 failed" in err
    assert main(args) == 0
    assert "0 downloaded, 3 already there" in capsys.readouterr()[1]
    assert main(["--server", svc.url, "obsfiles", "download", "--dest", str(dest)]) == 2
    assert main(["--server", svc.url, "obsfiles", "list", OBS, "--instruments", "nustar"]) == 2
    assert "instruments" in capsys.readouterr()[1]


def test_cli_download_failures_exit_1(svc, tmp_path, capsys):
    from xrtprods_astro.cli import main
    svc.obsdata.missing.add(f"{OBS}/log/sw{OBS}xrt.log")
    try:
        code = main(["--server", svc.url, "obsfiles", "download", OBS, "--instruments", "none", "--no-auxil",
                     "--log", "--dest", str(tmp_path)])
    finally:
        svc.obsdata.missing.clear()
    assert code == 1 and "run the same command again" in capsys.readouterr()[1]


# ---------------------------------------------------------------------- the real service
@pytest.mark.remote_data
def test_real_service_lists_the_documented_observation():
    """data.md: target 282445 has the 4 obsIDs 00282445000-003; auxil alone is 11 files."""
    client = ObsDataClass(server="https://www.swift.ac.uk")
    assert list(client.get_obsids(282445)["obsid"]) == [f"00282445{i:03d}" for i in range(4)]
    files = client.list_files("00282445000", instruments=None)
    assert len(files) == 11 and all(d.split("/")[0] == "auxil" for d in files["directory"])
