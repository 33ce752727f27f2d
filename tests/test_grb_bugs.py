# Licensed under a 3-clause BSD style license - see LICENSE
"""The official client's bugs and quirks of shared/spec/grb-repository.md, each beaten by a test.

Every test is named ``test_bug_<what swifttools does>``. Where the official client
(``swifttools.ukssdc.data.GRB``) can run here, the test shows its behaviour against the same local
service first, then ours. Every bug and quirk of the spec, with its test:

* §2 no timeout on any POST or GET:
  ``test_bug_no_timeout_on_any_call``
* §2 no retry: HTTP 500 is a RuntimeError:
  ``test_bug_no_retry_after_a_server_error``
* §2 an HTML page gives an uncaught JSONDecodeError:
  ``test_bug_html_error_page_is_an_uncaught_json_error``
* §2 distutils: no import on Python 3.12 without setuptools:
  ``test_bug_does_not_import_on_python_312_without_setuptools``
* §4.1 names sent as typed; other spellings not found:
  ``test_bug_other_spellings_of_a_name_are_not_found``
* §4.2 an unknown name is sent on as ``null``:
  ``test_grb.py::test_bug_unknown_name_sent_as_null``
* §4.2 two names of one GRB collide, one key lost:
  ``test_grb.py::test_bug_two_names_of_one_grb_collide``
* §4.2 one ERROR aborts the whole list:
  ``test_bug_one_error_aborts_the_whole_list``
* §4.2 keys with spaces used verbatim in paths:
  ``test_bug_keys_with_spaces_used_verbatim_in_paths``
* §4.3 catalogue rows' names resolved one request each:
  ``test_bug_catalogue_rows_resolved_one_by_one``
* §5.2 ``{'NOLC': 1}`` returned in place of the curves:
  ``test_grb.py::test_bug_no_light_curve_is_an_error_not_a_dict``
* §5.4 SKIPPING an existing file, then overwriting it:
  ``test_bug_existing_file_skipped_but_downloaded_and_overwritten_anyway``
* §5.7 ``whichCurves`` ignored, header written twice, no units:
  ``test_bug_saved_curves_which_curves_ignored_and_header_twice``
* §5.8 ``getRebinnedLightCurve`` saves into ./lc by default:
  ``test_grb_jobs.py::test_bug_rebinned_curve_is_not_saved_into_the_working_directory``
* §5.8 rebin/slice status polled by hand:
  ``test_grb_jobs.py::test_bug_no_hand_written_polling_one_waiter``
* §5.8 (Ctrl-C in a hand-written loop):
  ``test_grb_jobs.py::test_bug_ctrl_c_leaves_the_job_running_and_says_how_to_come_back``
* §6.1 ``returnData`` gives the raw JSON dict:
  ``test_bug_spectra_return_data_is_the_raw_json``
* §6.3 a 404 page saved as the archive:
  ``test_grb.py::test_bug_spectrum_404_saved_as_the_archive``
* §6.3 an existing archive is an error without ``clobber``:
  ``test_bug_existing_archive_is_an_error_without_clobber``
* §6.3 ``extract=True`` leaves the working folder changed:
  ``test_grb.py::test_bug_extract_leaves_the_working_directory_changed``
* §6.4 an ``int`` redshift refused:
  ``test_grb_jobs.py::test_bug_int_redshift_is_refused_by_swifttools_taken_here``
* §6.4 per-slice modes sent unchecked, as typed:
  ``test_grb_jobs.py::test_bug_per_slice_modes_are_checked_and_upper_cased``
* §7.3 an XRT ``HRData_PC_incbad`` key passed on raw (crash):
  ``test_bug_unexpected_xrt_hr_key_is_passed_on_raw``
* §7.4 ``badBATBins=False`` still writes the bad BAT bins:
  ``test_bug_bad_bat_bins_written_although_bad_bat_bins_is_false``
* §8 ``Best_Err90`` a string:
  ``test_grb.py::test_bug_best_err90_is_a_string``
* §8 positions only as a list/tuple or 'all':
  ``test_bug_positions_must_be_a_list_or_all``
* §10 strictly sequential blocking calls:
  ``test_bug_strictly_sequential_blocking_calls``
"""
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.table import Table

from xrtprods_astro import GRBClass, cli
from xrtprods_astro.exceptions import (InvalidRequestError, RemoteServiceError, ServiceUnavailableError,
                                       XRTProductsError)
from xrtprods_astro.readers.burst import read_burst_analyser_json


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbbugs"))
    service.start()
    yield service
    service.faults.clear()
    service.stop()


@pytest.fixture
def grbs(svc, tmp_path):
    client = GRBClass(server=svc.url)
    client.cache_location = tmp_path / "grbcache"
    client._transport.backoff = 0.01      # retries without the polite pause: the local service
    return client


@pytest.fixture
def sent(grbs, monkeypatch):
    calls, lock = [], threading.Lock()
    original = grbs._transport.call_common

    def spy(url, func, payload, **kwargs):
        with lock:
            calls.append((func, dict(payload)))
        return original(url, func, payload, **kwargs)

    monkeypatch.setattr(grbs._transport, "call_common", spy)
    return calls


@pytest.fixture
def udg(svc, monkeypatch, tmp_path):
    """The official client, pointed at the local service (its one URL is read at call time)."""
    module = pytest.importorskip("swifttools.ukssdc.data.GRB")
    pytest.importorskip("pandas")
    import swifttools.ukssdc.main as ukmain
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.chdir(tmp_path)
    return module


# ---------------------------------------------------------------- §7.4 burst analyser
def test_bug_bad_bat_bins_written_although_bad_bat_bins_is_false(grbs, udg, tmp_path):
    # swifttools' saveSingleBurstAn computes the frame without bad bins but writes the unfiltered
    # one, and drops the BadBin column from the file: the bad bins are kept and can no longer be told.
    udg.getBurstAnalyser(GRBName="GRB 060729", saveData=True, returnData=False, instruments=["BAT"],
                         BATBinning=["timedel1"], bands=["XRTBand"], destDir=str(tmp_path / "theirs"),
                         badBATBins=False)
    saved = [p for p in (tmp_path / "theirs").rglob("BAT_TimeBins_1s_XRTBand.dat")]
    assert len(saved) == 1
    their_rows = np.loadtxt(saved[0], delimiter=",", ndmin=2)
    ours = grbs.get_burst_analyser("GRB 060729", instruments=["bat"], bat_binning=["timedel1"],
                                   bands=["xrtband"])
    bat = ours["BAT_TimeBins_1s_XRTBand"]
    bad = np.asarray(bat["bad_bin"])
    assert bat["bad_bin"].dtype == bool and 0 < bad.sum() < len(bat)
    assert len(their_rows) == len(bat)          # the bug: every bad bin is in their file
    # Ours flags them, and the documented way to drop them is a boolean mask.
    good = bat[~bat["bad_bin"]]
    assert len(good) == len(bat) - bad.sum() and not good["bad_bin"].any()
    assert np.array_equal(good["flux"], bat["flux"][~bad])
    # The flag survives a file: written and read back, the bad bins can still be told and dropped.
    from xrtprods_astro.files import table_for_file
    table_for_file(bat).write(tmp_path / "bat.ecsv")
    back = Table.read(tmp_path / "bat.ecsv")
    assert back["bad_bin"].tolist() == bat["bad_bin"].tolist()


def test_bug_unexpected_xrt_hr_key_is_passed_on_raw(grbs):
    # swifttools copies an XRT key such as HRData_PC_incbad through as a raw dict and then its
    # saver crashes on .columns (spec §7.3); ours reads it as the hardness-ratio dataset it is.
    data = grbs._call("downloadBurstAnalyser", {"targetID": 221755, "instruments": ["xrt"],
                                                "bands": ["xrtband"], "BATBinning": ["snr4"],
                                                "incbad": "yes", "nosys": "no"})
    data["XRT"]["HRData_PC_incbad"] = data["XRT"]["HRData_PC"]
    lc = read_burst_analyser_json(data)
    assert "XRT_HR_PC_incbad" in lc.datasets
    assert len(lc["XRT_HR_PC_incbad"]) == len(lc["XRT_HR_PC"])


# ---------------------------------------------------------------- §2 transport
def test_bug_no_timeout_on_any_call(grbs, monkeypatch):
    # swifttools posts with requests.post(APIURL, json=data): no timeout, so a hung service hangs it.
    timeouts = []
    original = requests.Session.send

    def spy(self, request, **kwargs):
        timeouts.append(kwargs.get("timeout"))
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", spy)
    grbs.get_position("GRB 080319B")
    grbs.get_lightcurve("GRB 080319B")
    assert timeouts and all(t is not None for t in timeouts)


def test_bug_no_retry_after_a_server_error(grbs, udg, svc):
    # swifttools raises RuntimeError on the first HTTP 500; ours retries the idempotent call.
    svc.faults.script("main", "http500")
    with pytest.raises(RuntimeError, match="HTTP error"):
        udg.getPositions(GRBName="GRB 080319B")
    svc.faults.clear()
    svc.faults.script("main", "http500", count=2)
    assert grbs.get_position("GRB 080319B").found


def test_bug_html_error_page_is_an_uncaught_json_error(grbs, svc):
    # swifttools json.loads an HTML page and lets JSONDecodeError out (spec §2); ours retries it,
    # and says what happened when the page stays.
    svc.faults.script("main", "html")
    assert grbs.get_position(306757).found
    grbs._transport.retries = 1
    svc.faults.script("main", "html", count=2)
    try:
        with pytest.raises((RemoteServiceError, ServiceUnavailableError)) as info:
            grbs.get_position(306757)
    finally:
        svc.faults.clear()
    assert isinstance(info.value, XRTProductsError)
    assert "JSON" in str(info.value) or "HTML" in str(info.value)


def test_bug_does_not_import_on_python_312_without_setuptools(tmp_path):
    # swifttools imports distutils (gone in Python 3.12) for StrictVersion; ours needs neither it nor
    # setuptools: both are made unimportable in a fresh interpreter.
    code = ("import sys\n"
            "for m in ('distutils', 'setuptools', 'pkg_resources'):\n"
            "    sys.modules[m] = None\n"
            "from xrtprods_astro import GRBs\n"
            "from xrtprods_astro.grb import grb_name\n"
            "import xrtprods_astro.readers.burst, xrtprods_astro.cli_grb\n"
            "print(GRBs.target_id(221755), grb_name('grb060729'))\n"
            "try:\n"
            "    import swifttools.ukssdc.data.GRB\n"
            "    print('swifttools imported')\n"
            "except ImportError:\n"
            "    print('swifttools failed')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert lines[0] == "221755 GRB 060729"
    # The official client needs distutils (or is not installed: ours ran all the same).
    assert lines[1] == "swifttools failed"


# ---------------------------------------------------------------- §4 names
def test_bug_other_spellings_of_a_name_are_not_found(grbs, udg, sent):
    # swifttools sends the name exactly as typed (spec §4.1; redback tries three spellings in turn).
    assert udg.GRBNameToTargetID("GRB060729", silent=True) is None
    assert udg.GRBNameToTargetID("060729", silent=True) is None
    assert grbs.target_id("GRB060729") == grbs.target_id("060729") == 221755
    assert sent == [("GRBNameToTargetID", {"name": "GRB 060729"})]


def test_bug_one_error_aborts_the_whole_list(grbs, udg):
    # swifttools sends the unknown name on as null; the service's ERROR aborts every GRB (spec §4.2).
    with pytest.raises(RuntimeError):
        udg.getLightCurves(GRBName=("GRB 060729", "GRB 990101"), returnData=True, saveData=False)
    got = grbs.get_lightcurves(["GRB 060729", "GRB 990101"], errors="collect", progress=False)
    assert list(got) == ["GRB 060729"] and got.summary["ok"].tolist() == [True, False]


def test_bug_strictly_sequential_blocking_calls(grbs, monkeypatch):
    # swifttools makes N lookups then N product calls, one after the other (spec §10). Ours keeps
    # several in flight (here two met at a barrier), never more than allowed.
    grbs.max_workers = 2
    barrier = threading.Barrier(2, timeout=30)
    in_flight, most, lock = [0], [0], threading.Lock()
    original = grbs._lightcurve

    def meet(tid, name, **kwargs):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        try:
            barrier.wait()
            return original(tid, name, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(grbs, "_lightcurve", meet)
    got = grbs.get_lightcurves(["GRB 060729", "GRB 080319B", "GRB 101225A", "GRB 130427A"], progress=False)
    assert len(got) == 4 and most[0] == 2


def test_bug_catalogue_rows_resolved_one_by_one(grbs, sent):
    # swifttools' query module passes each row's name on, one GRBNameToTargetID per row, although
    # the catalogue gives the targetIDs (spec §4.3: "16 Resolved lines"). A Table with both columns
    # (a catalogue's answer, or ours from get_grb_table) asks no name again.
    catalogue = Table({"name": ["GRB 060729", "GRB 080319B"], "targetID": [221755, 306757],
                       "Err90": [1.8, 1.6]})
    got = grbs.get_positions_many(catalogue, ["best"], progress=False)
    assert list(got) == ["GRB 060729", "GRB 080319B"]
    assert [f for f, _ in sent] == ["getGRBPositions", "getGRBPositions"]
    for given in (["GRB 060729", "GRB 080319B"], [221755, 306757]):
        table = grbs.get_grb_table(given, progress=False)
        sent.clear()
        got = grbs.get_positions_many(table, ["best"], progress=False)
        assert [f for f, _ in sent] == ["getGRBPositions", "getGRBPositions"]
        assert got.summary["target_id"].tolist() == [221755, 306757]


def test_bug_keys_with_spaces_used_verbatim_in_paths(svc, udg, tmp_path, capsys):
    # swifttools makes destDir/<GRB name as typed>, spaces kept ("APIDemo_GRBLC2/GRB 060729").
    udg.getLightCurves(GRBName=("GRB 060729", "GRB 080319B"), saveData=True, destDir=str(tmp_path / "theirs"))
    assert (tmp_path / "theirs" / "GRB 060729").is_dir()
    code = cli.main(["--server", svc.url, "grb", "lightcurve", "GRB 060729", "GRB 080319B",
                     "-o", str(tmp_path / "ours")])
    capsys.readouterr()
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == ["GRB_060729.ecsv", "GRB_080319B.ecsv"]


# ---------------------------------------------------------------- §5 light curves
def test_bug_existing_file_skipped_but_downloaded_and_overwritten_anyway(svc, tmp_path, capsys, monkeypatch):
    # swifttools prints SKIPPING for an existing file (clobber=False, skipErrors=True) and then
    # downloads and overwrites it (spec §5.4). Ours skips what is there, asking nothing for it.
    dest = tmp_path / "curves"
    argv = ["--server", svc.url, "grb", "lightcurve", "GRB 060729", "GRB 080319B", "-o", str(dest)]
    assert cli.main(argv) == 0
    (dest / "GRB_060729.ecsv").write_text("mine")
    from xrtprods_astro.transport import Transport
    funcs = []
    original = Transport.call_common

    def spy(self, url, func, payload, **kwargs):
        funcs.append(func)
        return original(self, url, func, payload, **kwargs)

    monkeypatch.setattr(Transport, "call_common", spy)
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert (dest / "GRB_060729.ecsv").read_text() == "mine"
    assert funcs == []


def test_bug_saved_curves_which_curves_ignored_and_header_twice(svc, tmp_path, capsys):
    # swifttools' saveLightCurves ignores the documented whichCurves=, writes every dataset, and with
    # header=True writes the header line twice, without units (spec §5.7). Ours writes the one dataset
    # asked for, with one header, units and times.
    path = tmp_path / "pc.ecsv"
    code = cli.main(["--server", svc.url, "grb", "lightcurve", "GRB 060729", "--dataset", "PC_incbad",
                     "-o", str(path)])
    capsys.readouterr()
    assert code == 0 and sorted(p.name for p in tmp_path.glob("*.*")) == ["pc.ecsv"]
    text = path.read_text()
    assert text.count("# %ECSV") == 1
    table = Table.read(path)
    assert table["rate"].unit == u.ct / u.s and table.meta["dataset"] == "PC_incbad"


# ---------------------------------------------------------------- §6 spectra
def test_bug_spectra_return_data_is_the_raw_json(grbs, udg):
    # swifttools' getSpectra(returnData=True) hands back the JSON dict, numbers without units.
    theirs = udg.getSpectra(GRBName="GRB 060729", returnData=True, saveData=False, saveImages=False)
    assert isinstance(theirs["late_time"]["PC"]["PowerLaw"]["Gamma"], float)
    fits = grbs.get_spectral_fits("GRB 060729")
    row = fits[(fits["interval"] == "late_time") & (fits["mode"] == "PC")][0]
    assert fits["unabs_flux"].unit == u.erg / u.cm ** 2 / u.s and fits["nh"].unit == u.cm ** -2
    assert row["gamma"] == pytest.approx(theirs["late_time"]["PC"]["PowerLaw"]["Gamma"])
    assert bool(row["galactic_nh_frozen"])


def test_bug_existing_archive_is_an_error_without_clobber(grbs, udg, tmp_path, monkeypatch):
    # swifttools refuses to save over an existing archive (RuntimeError "Cannot save/extract")
    # unless clobber=True; ours reads the verified archive already there, downloading nothing.
    kwargs = dict(GRBName="GRB 060729", saveData=True, saveImages=False, destDir=str(tmp_path / "theirs"),
                  spectra=["late_time"])
    udg.getSpectra(**kwargs)
    with pytest.raises(RuntimeError, match="Cannot save"):
        udg.getSpectra(**kwargs)
    first = grbs.get_spectra("GRB 060729", tmp_path / "ours", intervals=["late_time"])
    downloads = []
    monkeypatch.setattr(grbs._transport, "download", lambda *a, **k: downloads.append(a))
    again = grbs.get_spectra("GRB 060729", tmp_path / "ours", intervals=["late_time"])
    assert downloads == []
    assert again["late_time"]["PC"].spectrum[1].header["EXPOSURE"] == \
        first["late_time"]["PC"].spectrum[1].header["EXPOSURE"]


# ---------------------------------------------------------------- §8 positions
def test_bug_positions_must_be_a_list_or_all(grbs, udg, sent):
    # swifttools raises "Positions must be list/tuple or 'all'" for one kind given as a string.
    with pytest.raises(ValueError, match="list/tuple"):
        udg.getPositions(GRBName="GRB 080319B", positions="Enhanced")
    one = grbs.get_positions("GRB 080319B", "enhanced")
    assert list(one) == ["enhanced"] and one["enhanced"].found
    sent.clear()
    with pytest.raises(InvalidRequestError, match="'best', 'enhanced', 'standard', 'sper', 'onboard'"):
        grbs.get_positions("GRB 080319B", ["nearest"])
    assert sent == []
