# Licensed under a 3-clause BSD style license - see LICENSE
"""GRB rebin and time-slice jobs as handles (issue 21), against the local service.

``GRBs.rebin_lightcurve`` gives the product generator's `RebinJob` (the same common-API
functions), ``GRBs.timeslice_spectrum`` a `TimesliceJob`; both are `JobHandle`s (one waiter, one
progress line, Ctrl-C leaves the job on). The tests named ``test_bug_*`` each pin one defect of the
official client (``swifttools.ukssdc.data.GRB``, shared/spec/grb-repository.md §5.8, §6.4) that
these handles beat; ``test_wire_*`` compare the bodies with what swifttools sends.
"""
import contextlib
import io
import logging

import pytest
import requests
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import GRBClass
from xrtprods_astro.exceptions import (InvalidRequestError, ProductFailedError, ProductNotReadyError,
                                       ResolverError)
from xrtprods_astro.grb import TimesliceJob
from xrtprods_astro.job import JobHandle, RebinJob, StreamProgress, XRTJob
from xrtprods_astro.readers.grb import read_grb_spectral_fits
from xrtprods_astro.readers.lightcurve import LightCurve
from xrtprods_astro.times import met_to_time

T0_060729 = 175893150.244       # the simulated GRB 060729's trigger (the real one's, to the ms)
ID_KEYS = ("JobID", "objectID")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbjobs"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def grbs(svc, tmp_path):
    client = GRBClass(server=svc.url)
    client.cache_location = tmp_path / "grbcache"
    client.poll_interval = 0.05
    return client


@pytest.fixture
def sent(grbs, monkeypatch):
    """Every common-API function the client sends, in order, with its payload."""
    calls = []
    original = grbs._transport.call_common

    def spy(url, func, payload, **kwargs):
        calls.append((func, dict(payload)))
        return original(url, func, payload, **kwargs)

    monkeypatch.setattr(grbs._transport, "call_common", spy)
    return calls


@pytest.fixture
def slow(svc):
    """Jobs of the service take minutes while the test runs (no clock is asserted on)."""
    old = svc.job_duration, svc.store.job_duration
    svc.job_duration = svc.store.job_duration = 600
    yield svc
    svc.job_duration, svc.store.job_duration = old


def _funcs(sent):
    return [func for func, _ in sent]


# ---------------------------------------------------------------- rebin
def test_rebin_is_the_product_generators_handle_with_a_typed_lightcurve(grbs, sent):
    job = grbs.rebin_lightcurve("grb060729", binning="obsid")
    assert type(job) is RebinJob and isinstance(job, JobHandle)
    assert sent[-1] == ("rebinLightCurve", {"type": "GRB", "objectID": 221755, "binMeth": "obsid",
                                            "name": "GRB 060729"})
    assert job.wait(progress=False)["lightcurve"].ok
    lc = job.lightcurve()
    assert [s[1]["type"] for s in sent if s[0] == "downloadLightCurve"] == ["REBIN_LC"]
    assert isinstance(lc, LightCurve) and "PC_incbad" in lc        # incbad as get_lightcurve's default
    pc = lc["PC_incbad"]
    assert pc["rate"].unit == u.ct / u.s and isinstance(pc["time"], Time)
    assert pc["t_since_t0"].unit == u.s
    assert lc.meta["grb"] == "GRB 060729" and lc.meta["target_id"] == 221755
    assert lc.meta["rebin_id"] == job.job_id == pc.meta["rebin_id"]
    # T0 as the repository states it (UKSSDC's UTC for it), not the clock table's estimate.
    assert lc.meta["time_source"] == "t0.date"
    own = grbs.get_lightcurve("GRB 060729")
    assert own.meta["time_source"] == "t0.date" and lc.meta["t0"].isot == own.meta["t0"].isot
    assert abs((met_to_time(T0_060729) - lc.meta["t0"]).to_value(u.s)) < 0.1


def test_rebin_reattaches_by_id(grbs):
    job = grbs.rebin_lightcurve(221755, binning="snapshot")
    job.wait(progress=False)
    again = grbs.get_rebin(str(job.job_id), grb="GRB 060729")
    assert again.job_id == job.job_id and again.status()["lightcurve"].ok
    first, second = job.lightcurve(), again.lightcurve()
    assert first.meta["grb"] is None and second.meta["grb"] == "GRB 060729"   # as given
    assert list(first) == list(second) and all(first[k]["met"].tolist() == second[k]["met"].tolist()
                                               for k in first)
    assert "of GRB targetID 221755" in repr(job) and "of GRB 060729" in repr(again)


def test_rebin_parameters_any_spelling_sent_under_swifttools_names(grbs, sent):
    grbs.rebin_lightcurve("GRB 060729", binning="COUNTS", pc_counts=20, wtCounts=30, dynamic=True,
                          time_format="MJD")
    assert sent[-1][1] == {"type": "GRB", "objectID": 221755, "binMeth": "counts", "pcCounts": 20,
                           "wtCounts": 30, "dynamic": True, "timeFormat": "MJD", "name": "GRB 060729"}


@pytest.mark.parametrize("kwargs, match", [
    (dict(binning="weekly"), "binning: 'weekly' is not allowed; allowed: counts"),
    (dict(binning="counts", pc_counts="many"), "pc_counts"),
    (dict(binning="counts", no_such_thing=1), "no_such_thing"),
])
def test_rebin_parameters_checked_before_anything_is_sent(grbs, sent, kwargs, match):
    with pytest.raises(InvalidRequestError, match=match):
        grbs.rebin_lightcurve("GRB 060729", **kwargs)
    assert sent == []


def test_rebin_of_an_unknown_grb_is_never_sent(grbs, sent):
    with pytest.raises(ResolverError, match="GRB 990101"):
        grbs.rebin_lightcurve("GRB 990101", binning="obsid")
    assert _funcs(sent) == ["GRBNameToTargetID"]


def test_rebin_before_it_is_done_and_cancelled_follows_the_products_rule(grbs, slow):
    job = grbs.rebin_lightcurve("GRB 060729", binning="snapshot")
    assert not job.status()["lightcurve"].done
    with pytest.raises(ProductNotReadyError, match=f"job {job.job_id} is not complete"):
        job.lightcurve()
    assert job.cancel()["lightcurve"].cancelled
    assert job.status()["lightcurve"].code == -4
    with pytest.raises(ProductFailedError, match="was cancelled"):
        job.lightcurve()


# ---------------------------------------------------------------- time slices
def test_timeslice_handle_gives_typed_fits_and_verified_spectra(grbs, sent, tmp_path):
    job = grbs.timeslice_spectrum("GRB 060729", slices={"early": "100-800",
                                                        "mixed": ("100-300,500-1000", "both")})
    assert isinstance(job, TimesliceJob) and isinstance(job, JobHandle)
    assert sent[-1] == ("timesliceSpectrum", {
        "targetID": 221755, "rnames": ["early", "mixed"], "times": ["100-800", "100-300,500-1000"],
        "modes": ["BOTH", "BOTH"], "name": "GRB 060729", "grades": "all"})
    assert job.wait(progress=False)["spectrum"].ok
    fits_table = job.spectral_fits()
    data = grbs._call("downloadSpectrum", {"type": "timeslice", "objectID": job.job_id})
    same = read_grb_spectral_fits(data, target_id=221755, grb="GRB 060729", utcf=grbs._utcf(221755))
    assert isinstance(fits_table, Table) and list(fits_table["interval"]) == list(same["interval"])
    assert set(fits_table["interval"]) == {"early", "mixed"}
    assert fits_table.meta["job_id"] == job.job_id and fits_table.meta["grb"] == "GRB 060729"
    assert any(col.unit is not None for col in fits_table.itercols())
    spectra = job.spectra(tmp_path / "slices")
    assert set(spectra) == {"early", "mixed"}
    assert (tmp_path / "slices" / "early.tar.gz").is_file()
    mode = next(iter(spectra["early"].modes.values()))
    assert isinstance(mode.spectrum, fits.HDUList)


def test_timeslice_answers_are_asked_again_unless_cache_true(grbs, monkeypatch):
    # The local service numbers time-slice jobs afresh after a restart on the same URL.
    job = grbs.timeslice_spectrum("GRB 060729", slices={"a": "100-800"})
    job.wait(progress=False)
    with _recording(monkeypatch) as http:
        job.spectral_fits()
        job.spectral_fits()
        job.spectral_fits(cache=True)
        job.spectral_fits(cache=True)
    assert [b["APIFunc"] for b in http].count("downloadSpectrum") == 3


def test_timeslice_reattaches_by_id(grbs):
    job = grbs.timeslice_spectrum(221755, slices={"late": "1000-5000"})
    job.wait(progress=False)
    again = grbs.get_timeslice(str(job.job_id), grb="GRB 060729")
    assert again.job_id == job.job_id and again.status()["spectrum"].ok
    assert set(again.spectral_fits()["interval"]) == {"late"}


def test_slices_as_quantities_since_t0_and_absolute_times(grbs, sent, caplog):
    t1 = met_to_time(T0_060729 + 100)
    grbs.timeslice_spectrum("GRB 060729", slices={
        "q": [100, 800] * u.s,
        "qq": ([(100 * u.s, 0.01 * u.d), (2000 * u.s, 3000 * u.s)], "pc"),
        "abs": (t1, t1 + 700 * u.s)}, redshift=1.5)
    body = sent[-1][1]
    assert body["times"][:2] == ["100-800", "100-864,2000-3000"]
    start, stop = (float(x) for x in body["times"][2].split("-"))
    assert start > 1e8 and abs(start - (T0_060729 + 100)) < 0.1 and abs(stop - start - 700) < 1e-3
    assert body["modes"] == ["BOTH", "PC", "BOTH"] and body["redshift"] == 1.5


@pytest.mark.parametrize("kwargs, match", [
    (dict(slices={}), "slices: expected a dict of 1 to 4 slices"),
    (dict(slices={f"s{i}": "1-2" for i in range(5)}), "got 5 slices"),
    (dict(slices=["100-200"]), "slices: expected a dict"),
    (dict(slices={"bad name": "1-2"}), "may hold only letters"),
    (dict(slices={"a": "soon-later"}), r"slices\['a'\]: 'soon-later' is not a slice"),
    (dict(slices={"a": ("100-200", "XX")}), r"slices\['a'\]: mode 'XX' not allowed"),
    (dict(slices={"a": [800, 100] * u.s}), "ends before it starts"),
    (dict(slices={"a": "1-2"}, mode="ALL"), "mode: 'ALL' not allowed"),
    (dict(slices={"a": "1-2"}, redshift="high"), "redshift: 'high' not allowed"),
    (dict(slices={"a": "1-2"}, redshift=-1.0), "redshift: -1.0 not allowed"),
    (dict(slices={"a": "1-2"}, grades=7), "grades: 7 not allowed; allowed: 'all', 0, 4"),
])
def test_slices_checked_before_anything_is_sent(grbs, sent, kwargs, match):
    with pytest.raises(InvalidRequestError, match=match):
        grbs.timeslice_spectrum("GRB 060729", **kwargs)
    assert sent == []


def test_every_bad_slice_named_at_once(grbs, sent):
    with pytest.raises(InvalidRequestError) as info:
        grbs.timeslice_spectrum("GRB 060729", slices={"a": "x", "b": ("1-2", "QQ")}, grades=3)
    text = str(info.value)
    assert "slices['a']" in text and "slices['b']" in text and "grades" in text
    assert sent == []


def test_timeslice_before_it_is_done_and_cancelled(grbs, slow):
    job = grbs.timeslice_spectrum("GRB 060729", slices={"early": "100-800"})
    assert not job.status()["spectrum"].done
    with pytest.raises(ProductNotReadyError, match=f"job {job.job_id} is not complete"):
        job.spectral_fits()
    assert job.cancel()["spectrum"].cancelled
    assert job.status()["spectrum"].code == -4
    with pytest.raises(ProductFailedError, match="was cancelled"):
        job.spectra("unused")


# ---------------------------------------------------------------- the official client's defects
def test_bug_int_redshift_is_refused_by_swifttools_taken_here(grbs, sent):
    # swifttools raises ValueError for redshift=1 (an int, spec §6.4); 1 is a redshift.
    grbs.timeslice_spectrum("GRB 060729", slices={"a": "100-800"}, redshift=1)
    assert sent[-1][1]["redshift"] == 1.0 and isinstance(sent[-1][1]["redshift"], float)
    grbs.timeslice_spectrum("GRB 060729", slices={"a": "100-800"}, redshift="none")
    assert sent[-1][1]["redshift"] == "NONE"


def test_bug_per_slice_modes_are_checked_and_upper_cased(grbs, sent):
    # swifttools checks the default mode but sends per-slice modes as given (spec §6.4).
    grbs.timeslice_spectrum("GRB 060729", slices={"a": ("100-800", "wt"), "b": "100-800"}, mode="pc")
    assert sent[-1][1]["modes"] == ["WT", "PC"]


def test_bug_no_hand_written_polling_one_waiter(grbs, slow, monkeypatch):
    # swifttools has rebinComplete/timesliceComplete and leaves the loop to the user (spec §5.8, §6.4);
    # here wait() is the package's one loop, with the clock of the client.
    assert RebinJob.wait is TimesliceJob.wait is XRTJob.wait is JobHandle.wait
    job = grbs.timeslice_spectrum("GRB 060729", slices={"a": "100-800"})
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        if len(pauses) == 3:
            slow.grb._slices[job.job_id].duration = 0     # the service finishes the job

    monkeypatch.setattr(grbs, "sleep", sleep)
    stream = io.StringIO()
    final = job.wait(progress=StreamProgress(stream, prefix=f"Time-slice job {job.job_id} "))
    assert final["spectrum"].ok and len(pauses) == 3 and all(p == 0.05 for p in pauses)
    assert f"Time-slice job {job.job_id} [" in stream.getvalue()


@pytest.mark.parametrize("make, hint", [
    (lambda g: g.rebin_lightcurve("GRB 060729", binning="obsid"), "GRBs.get_rebin({id}, grb='GRB 060729')"),
    (lambda g: g.timeslice_spectrum(221755, slices={"a": "100-800"}), "GRBs.get_timeslice({id}, grb=221755)"),
])
def test_bug_ctrl_c_leaves_the_job_running_and_says_how_to_come_back(grbs, slow, monkeypatch, caplog,
                                                                     make, hint):
    # swifttools' jobs are followed by the user's own loop; Ctrl-C there loses the JobID unless saved.
    job = make(grbs)

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(grbs, "sleep", interrupt)
    stream = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="xrtprods_astro"), pytest.raises(KeyboardInterrupt):
        job.wait(progress=StreamProgress(stream))
    assert f"[interrupted; job {job.job_id} goes on]" in stream.getvalue()
    assert any("re-attach with " + hint.format(id=job.job_id) in r.getMessage() for r in caplog.records)
    assert not job.status()[job.products[0]].done       # nothing was cancelled


def test_bug_rebinned_curve_is_not_saved_into_the_working_directory(grbs, tmp_path, monkeypatch):
    # swifttools' getRebinnedLightCurve saves into ./lc by default (spec §5.8); the handle returns data.
    monkeypatch.chdir(tmp_path)
    job = grbs.rebin_lightcurve("GRB 060729", binning="obsid")
    job.wait(progress=False)
    job.lightcurve()
    assert not (tmp_path / "lc").exists()


# ---------------------------------------------------------------- wire identity with swifttools
@contextlib.contextmanager
def _recording(monkeypatch):
    """Record every common-API body posted through requests (both clients use requests.Session)."""
    calls = []
    real = requests.sessions.Session.request

    def request(session, method, url, *args, **kwargs):
        if kwargs.get("json") is not None and url.endswith("main.php"):
            calls.append(dict(kwargs["json"]))
        return real(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.sessions.Session, "request", request)
    yield calls
    monkeypatch.setattr(requests.sessions.Session, "request", real)


def _shape(calls):
    out = {}
    for body in calls:
        if body.get("APIFunc") == "GRBNameToTargetID":
            continue
        shaped = {k: (f"<id {type(v).__name__}>" if k in ID_KEYS else v) for k, v in body.items()
                  if k not in ("APIVersion",)}
        if shaped not in out.setdefault(body["APIFunc"], []):
            out[body["APIFunc"]].append(shaped)
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # swifttools' distutils StrictVersion
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_wire_rebin_and_timeslice_send_what_swifttools_sends(svc, grbs, monkeypatch, tmp_path):
    udg = pytest.importorskip("swifttools.ukssdc.data.GRB")
    pytest.importorskip("pandas")
    import swifttools.ukssdc.main as ukmain
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.chdir(tmp_path)
    slices = {"early": "100-800", "mixed": ["100-300,500-1000", "WT"]}
    with _recording(monkeypatch) as theirs:
        rid = udg.rebinLightCurve(GRBName="GRB 060729", binMeth="counts", pcCounts=20, dynamic=True,
                                  timeFormat="MJD")
        assert any(udg.rebinComplete(rid) for _ in range(200))
        udg.getRebinnedLightCurve(rid, saveData=False, returnData=True)
        udg.cancelRebin(rid)
        sid = udg.timesliceSpectrum(GRBName="GRB 060729", slices=slices, redshift=2.0)
        assert any(udg.timesliceComplete(sid) for _ in range(200))
        udg.getSpectra(JobID=sid, returnData=True, saveData=False)
        udg.cancelTimeslice(sid)
    with _recording(monkeypatch) as ours:
        job = grbs.rebin_lightcurve("GRB 060729", binning="counts", pcCounts=20, dynamic=True,
                                    timeFormat="MJD")
        job.wait(progress=False)
        job.lightcurve()
        job.cancel()
        sj = grbs.timeslice_spectrum("GRB 060729", slices=slices, redshift=2.0)
        sj.wait(progress=False)
        sj.spectral_fits()
        sj.cancel()
    theirs, ours = _shape(theirs), _shape(ours)
    for func in ("rebinLightCurve", "checkRebinStatus", "downloadLightCurve", "cancelRebin",
                 "timesliceSpectrum", "checkSliceStatus", "downloadSpectrum", "cancelSlice"):
        assert theirs.get(func) and ours.get(func) == theirs.get(func), func
