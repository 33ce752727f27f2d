# Licensed under a 3-clause BSD style license - see LICENSE
"""Many GRBs at once, the Table of GRBs and ``get_query_payload`` (xrtprods_astro/grb.py), against
the local service.

Concurrency is checked with barriers, never with a clock: a barrier of N parties is passed only
when N calls are in flight together, so a client that sends one call at a time fails these tests
(the barrier breaks) and one that sends more than allowed is caught by the in-flight counter.
"""
import io
import threading

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import GRBClass, conf
from xrtprods_astro.exceptions import (InvalidRequestError, RemoteServiceError, ResolverError,
                                       XRTProductsError)
from xrtprods_astro.grb import GRBResults
from xrtprods_astro.readers.lightcurve import LightCurve

BARRIER_WAIT = 30   # seconds a barrier waits before it breaks: a failure, never a measurement
THREE = ["GRB 060729", "GRB 080319B", "GRB 101225A"]
TIDS = {"GRB 060729": 221755, "GRB 080319B": 306757, "GRB 101225A": 441015}


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbmany"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def grbs(svc, tmp_path):
    client = GRBClass(server=svc.url)
    client.cache_location = tmp_path / "grbcache"
    return client


@pytest.fixture
def sent(grbs, monkeypatch):
    """Every common-API function the client sends, with its payload (any thread)."""
    calls, lock = [], threading.Lock()
    original = grbs._transport.call_common

    def spy(url, func, payload, **kwargs):
        with lock:
            calls.append((func, dict(payload)))
        return original(url, func, payload, **kwargs)

    monkeypatch.setattr(grbs._transport, "call_common", spy)
    return calls


class InFlight:
    """Wraps a product function: counts the calls in flight and lets ``parties`` of them meet."""

    def __init__(self, func, parties=None):
        self.func, self.now, self.most, self.calls = func, 0, 0, []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(parties, timeout=BARRIER_WAIT) if parties else None

    def __call__(self, tid, name, **kwargs):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.calls.append(tid)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            return self.func(tid, name, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


# ---------------------------------------------------------------- polite concurrency
def test_many_grbs_run_several_calls_at_once_never_more_than_allowed(grbs, monkeypatch):
    grbs.max_workers = 3
    spy = InFlight(grbs._positions, parties=3)
    monkeypatch.setattr(grbs, "_positions", spy)
    many = grbs.get_positions_many(["GRB 060729", "GRB 080319B", "GRB 101225A",
                                    221755, "00306757", 441015], ["best"], progress=False)
    # Three met at the barrier (so three were in flight together), and never a fourth.
    assert spy.most == 3
    # Two spellings of one GRB share one call: three distinct GRBs, three calls.
    assert sorted(spy.calls) == [221755, 306757, 441015]
    assert list(many) == ["GRB 060729", "GRB 080319B", "GRB 101225A", "221755", "00306757", "441015"]
    assert many["00306757"] is many["GRB 080319B"]


def test_conf_max_active_jobs_bounds_the_calls(grbs, monkeypatch):
    spy = InFlight(grbs._positions)
    monkeypatch.setattr(grbs, "_positions", spy)
    with conf.set_temp("max_active_jobs", 1):
        assert grbs.max_workers == 1
        grbs.get_positions_many(THREE, ["best"], progress=False)
    assert spy.most == 1 and len(spy.calls) == 3
    spy2 = InFlight(grbs._positions, parties=2)
    monkeypatch.setattr(grbs, "_positions", spy2)
    with conf.set_temp("max_active_jobs", 2):
        grbs.get_positions_many(THREE + [554620], ["best"], progress=False)
    assert spy2.most == 2


def test_max_workers_of_one_call(grbs, monkeypatch):
    spy = InFlight(grbs._positions, parties=2)
    monkeypatch.setattr(grbs, "_positions", spy)
    with conf.set_temp("max_active_jobs", 1):
        grbs.get_positions_many(THREE + [554620], ["best"], progress=False, max_workers=2)
    assert spy.most == 2


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "4"])
def test_bad_concurrency_is_refused_before_anything_is_sent(grbs, sent, bad):
    grbs.max_workers = bad
    with pytest.raises(InvalidRequestError, match="max_workers"):
        grbs.get_lightcurves(THREE, progress=False)
    grbs.max_workers = None
    with pytest.raises(InvalidRequestError, match="max_workers"):
        grbs.get_grb_table(THREE, progress=False, max_workers=bad)
    assert sent == []


def test_results_keep_the_input_order_whatever_order_they_end_in(grbs, monkeypatch):
    # The last GRB's call ends first, the first GRB's last.
    order = [441015, 306757, 221755]
    turn = {t: threading.Event() for t in order}
    turn[order[0]].set()
    ended = []
    original = grbs._positions

    def in_turn(tid, name, **kwargs):
        assert turn[tid].wait(BARRIER_WAIT)
        out = original(tid, name, **kwargs)
        ended.append(tid)
        nxt = order.index(tid) + 1
        if nxt < len(order):
            turn[order[nxt]].set()
        return out

    monkeypatch.setattr(grbs, "_positions", in_turn)
    grbs.max_workers = 3
    many = grbs.get_positions_many(THREE, ["best"], progress=False)
    assert ended == order
    assert list(many) == THREE
    assert list(many.summary["target_id"]) == [TIDS[g] for g in THREE]
    assert [p["best"].details["target_id"] for p in many.values()] == [TIDS[g] for g in THREE]


def test_many_light_curves_at_once_are_the_one_at_a_time_ones(grbs):
    grbs.max_workers = 3
    together = grbs.get_lightcurves(THREE, progress=False)
    for grb in THREE:
        alone = grbs.get_lightcurve(grb)
        assert isinstance(together[grb], LightCurve)
        assert together[grb].datasets == alone.datasets
        assert np.array_equal(together[grb]["PC_incbad"]["rate"], alone["PC_incbad"]["rate"])
        assert together[grb].meta["t0"] == alone.meta["t0"]


def test_names_are_looked_up_several_at_once(grbs, monkeypatch):
    grbs.max_workers = 3
    barrier = threading.Barrier(3, timeout=BARRIER_WAIT)
    original = grbs._lookup

    def meet(name):
        barrier.wait()
        return original(name)

    monkeypatch.setattr(grbs, "_lookup", meet)
    table = grbs.resolve(THREE)
    assert list(table["target_id"]) == [TIDS[g] for g in THREE]


def test_errors_collect_keeps_going_and_raise_stops_starting_new_calls(grbs, monkeypatch):
    original = grbs._lightcurve
    calls = []

    def flaky(tid, name, **kwargs):
        calls.append(tid)
        if tid == 306757:
            raise RemoteServiceError("the service failed")
        return original(tid, name, **kwargs)

    monkeypatch.setattr(grbs, "_lightcurve", flaky)
    grbs.max_workers = 2
    got = grbs.get_lightcurves(THREE + ["GRB 990101"], errors="collect", progress=False)
    assert list(got) == ["GRB 060729", "GRB 101225A"]
    assert got.summary["ok"].tolist() == [True, False, True, False]
    assert "RemoteServiceError: the service failed" in got.summary["error"][1]
    assert sorted(calls) == [221755, 306757, 441015]
    # errors="raise", one call at a time: the failure of the 2nd stops the 3rd from being asked for.
    calls.clear()
    grbs.max_workers = 1
    with pytest.raises(RemoteServiceError, match="the service failed"):
        grbs.get_lightcurves(THREE, progress=False)
    assert calls == [221755, 306757]


def test_one_progress_line(grbs):
    stream = io.StringIO()
    grbs.get_positions_many(THREE + ["GRB 990101"], ["best"], errors="collect", progress=stream)
    assert stream.getvalue() == "GRB positions: 3/3 done\n"
    stream = io.StringIO()
    grbs.get_positions_many(THREE, ["best"], progress=False)
    with pytest.raises(InvalidRequestError, match="progress"):
        grbs.get_positions_many(THREE, progress="yes")


def test_one_progress_line_counts_failures(grbs, monkeypatch):
    def fail(tid, name, **kwargs):
        raise RemoteServiceError("down")

    monkeypatch.setattr(grbs, "_positions", fail)
    stream = io.StringIO()
    grbs.get_positions_many(THREE, errors="collect", progress=stream)
    assert stream.getvalue() == "GRB positions: 3/3 done, 3 failed\n"


def test_callback_sees_each_grb_once_in_the_calling_thread(grbs):
    seen, threads = [], set()

    def callback(query, result):
        seen.append((query, type(result).__name__))
        threads.add(threading.get_ident())

    grbs.max_workers = 3
    got = grbs.get_burst_analysers(THREE + ["221755", "GRB 990101"], instruments=["xrt"], bands=["xrtband"],
                                   errors="collect", callback=callback, progress=False)
    assert sorted(seen) == sorted([(g, "LightCurve") for g in THREE] + [("221755", "LightCurve"),
                                                                        ("GRB 990101", "ResolverError")])
    assert threads == {threading.get_ident()}
    assert isinstance(got, GRBResults) and len(got) == 4


def test_spectral_fits_of_many_grbs(grbs, sent):
    fits = grbs.get_spectral_fits_many(["GRB 060729", "080319B"], progress=False)
    assert list(fits) == ["GRB 060729", "080319B"]
    for table, tid in zip(fits.values(), (221755, 306757)):
        assert table["nh"].unit == u.cm ** -2 and set(table["interval"]) >= {"interval0"}
        assert table.meta["target_id"] == tid
    assert [f for f, _ in sent].count("downloadSpectrum") == 2


# ---------------------------------------------------------------- the Table of GRBs
def test_grb_table_from_the_repository_agrees_with_each_grb(grbs):
    table = grbs.get_grb_table(["GRB 060729", "080319B", 441015], progress=False)
    assert table.colnames == ["query", "grb", "target_id", "trigger_time", "coord", "err90", "position"]
    assert list(table["grb"]) == ["GRB 060729", "GRB 080319B", ""]
    assert list(table["target_id"]) == [221755, 306757, 441015]
    assert isinstance(table["trigger_time"], Time) and isinstance(table["coord"], SkyCoord)
    assert table["err90"].unit == u.arcsec
    for row, grb in zip(table, ["GRB 060729", "GRB 080319B", 441015]):
        best = grbs.get_positions(grb)["best"]
        assert row["coord"].separation(best.coord) < 1e-6 * u.arcsec
        assert row["err90"] == best.err90.to_value(u.arcsec)
        assert row["position"] == best.details["from"] == "enhanced"
        # T0 as the GRB's own light curve states it (the repository's UTC, to the ms).
        lc = grbs.get_lightcurve(grb)
        assert abs((row["trigger_time"] - lc.meta["t0"]).to_value(u.s)) < 1e-3


def test_grb_table_agrees_with_the_catalogue_rows_of_the_service(grbs):
    from xrtprods_astro.server.grb import grb_catalogue_rows
    rows = {r["targetID"]: r for r in grb_catalogue_rows(seed=0)}
    table = grbs.get_grb_table(list(rows), progress=False)
    for row in table:
        cat = rows[int(row["target_id"])]
        assert row["coord"].separation(SkyCoord(cat["RA"], cat["Decl"], unit="deg")) < 1e-6 * u.arcsec
        assert row["err90"] == cat["Err90"]
        assert row["trigger_time"].isot.replace("T", " ") == cat["TriggerTime"]


def test_grb_table_collect_masks_what_failed(grbs):
    table = grbs.get_grb_table(["GRB 060729", "GRB 990101"], errors="collect", progress=False)
    assert table["target_id"].mask.tolist() == [False, True]
    assert table["trigger_time"].mask.tolist() == [False, True]
    assert np.isnan(table["err90"][1]) and np.isnan(table["coord"][1].ra.deg)
    assert table["error"][0] == "" and "GRB 990101" in table["error"][1]
    with pytest.raises(ResolverError, match="GRB 990101"):
        grbs.get_grb_table(["GRB 060729", "GRB 990101"])


def _catalogue_answer(with_time):
    """What `CataloguesClass.query_criteria` gives for UK_XRT/XRTLiveCat, made from the local
    service's catalogue rows (the types its metadata states: INT, TXT, COORDH/COORDD, NUM, UTC)."""
    from xrtprods_astro.server.grb import grb_catalogue_rows
    rows = grb_catalogue_rows(seed=0)
    table = Table()
    table["targetID"] = [r["targetID"] for r in rows]
    table["name"] = [r["name"] for r in rows]
    table["RA"] = [r["RA"] for r in rows] * u.deg
    table["Decl"] = [r["Decl"] for r in rows] * u.deg
    table["Err90"] = [r["Err90"] for r in rows] * u.arcsec
    if with_time == "utc":
        table["TriggerTime"] = Time([r["TriggerTime"].replace(" ", "T") for r in rows], scale="utc")
    elif with_time == "met":
        table["T0"] = [r["T0"] for r in rows] * u.s
    table["coord"] = SkyCoord(table["RA"], table["Decl"], frame="icrs")
    return table, rows


@pytest.mark.parametrize("with_time", ["utc", "met", None])
def test_grb_table_of_every_grb_from_the_catalogue(grbs, sent, monkeypatch, with_time):
    from xrtprods_astro.catalogues import CataloguesClass
    answer, rows = _catalogue_answer(with_time)
    asked = []

    def query_criteria(self, catalog, table, **kwargs):
        asked.append((catalog, table, kwargs))
        return answer

    # The catalogue's metadata: the table's columns and many more it does not ask for.
    types = {"targetID": "INT", "name": "TXT", "RA": "COORDH", "Decl": "COORDD", "Err90": "NUM",
             "TriggerTime": "UTC", "T0": "NUM", "NumLCBreaks": "INT", "PSF_RA": "COORDH"}
    meta = Table({"name": list(types), "type": list(types.values())})
    monkeypatch.setattr(CataloguesClass, "get_catalog_columns", lambda self, catalog, table: meta)
    monkeypatch.setattr(CataloguesClass, "query_criteria", query_criteria)
    table = grbs.get_grb_table(progress=False)
    assert asked == [("UK_XRT", "XRTLiveCat",
                      {"columns": ["targetID", "name", "RA", "Decl", "Err90", "TriggerTime", "T0"]})]
    assert list(table["grb"]) == [r["name"] for r in rows]
    assert list(table["target_id"]) == [r["targetID"] for r in rows]
    assert table["err90"].unit == u.arcsec and list(table["err90"]) == [r["Err90"] for r in rows]
    expected = Time([r["TriggerTime"].replace(" ", "T") for r in rows], scale="utc")
    # From the UTC column, from MET through the clock table, or from each curve.qdp header.
    assert np.all(np.abs((table["trigger_time"] - expected).to_value(u.s)) < 0.01)
    # The catalogue carries the targetIDs: no name is looked up, one row after the other.
    assert "GRBNameToTargetID" not in [f for f, _ in sent]
    assert table.meta["source"] == "catalogue UK_XRT/XRTLiveCat (queryDB)"


def test_grb_table_without_a_catalogue_says_what_to_do(grbs, monkeypatch):
    from xrtprods_astro.catalogues import CataloguesClass

    def no_table(self, catalog, table, **kwargs):
        raise RemoteServiceError("Unknown database/table UK_XRT/XRTLiveCat", endpoint="main.php:getMetadata")

    monkeypatch.setattr(CataloguesClass, "get_catalog_columns", no_table)
    with pytest.raises(RemoteServiceError, match=r"give the GRBs: get_grb_table\(grbs=\[...\]\)"):
        grbs.get_grb_table()


def test_grb_table_of_the_local_catalogue_tells_the_grb_functions_story(grbs):
    # With no GRBs given, one UK_XRT/XRTLiveCat query: its names, targetIDs, trigger times and best
    # positions must be those the GRB functions answer (the catalogue service serves
    # server.grb.grb_catalogue_rows' trigger times).
    from xrtprods_astro.server.grb import grb_catalogue_rows
    table = grbs.get_grb_table(progress=False)
    rows = {r["targetID"]: r for r in grb_catalogue_rows(seed=0)}
    assert sorted(table["target_id"]) == sorted(rows)
    for row in table:
        assert grbs.target_id(row["grb"]) == row["target_id"]
        stated = Time(rows[row["target_id"]]["TriggerTime"], scale="utc")
        assert abs((row["trigger_time"] - stated).to_value(u.s)) < 1e-3
        best = grbs.get_position(row["grb"])
        assert row["coord"].separation(best.coord) < 0.01 * u.arcsec


# ---------------------------------------------------------------- get_query_payload
@pytest.fixture
def no_http(monkeypatch):
    """Counts every HTTP request any client makes (and refuses it)."""
    count = []

    def refuse(self, *args, **kwargs):
        count.append(args)
        raise AssertionError("a request was sent")

    monkeypatch.setattr(requests.Session, "send", refuse)
    return count


def _calls(grbs):
    return {
        "get_lightcurve": lambda g: grbs.get_lightcurve(g, incbad="both", get_query_payload=True),
        "get_lightcurves": lambda g: grbs.get_lightcurves([g, 441015], get_query_payload=True),
        "get_burst_analyser": lambda g: grbs.get_burst_analyser(g, bands=["density"], bat_binning=["snr4"],
                                                                get_query_payload=True),
        "get_burst_analysers": lambda g: grbs.get_burst_analysers([g], get_query_payload=True),
        "get_positions": lambda g: grbs.get_positions(g, ["enhanced", "sper"], get_query_payload=True),
        "get_position": lambda g: grbs.get_position(g, get_query_payload=True),
        "get_positions_many": lambda g: grbs.get_positions_many([g], get_query_payload=True),
        "get_spectral_fits": lambda g: grbs.get_spectral_fits(g, get_query_payload=True),
        "get_spectral_fits_many": lambda g: grbs.get_spectral_fits_many([g], get_query_payload=True),
        "get_spectra": lambda g: grbs.get_spectra(g, "nowhere", get_query_payload=True),
        "download_burst_analyser": lambda g: grbs.download_burst_analyser(g, "nowhere",
                                                                          get_query_payload=True),
        "rebin_lightcurve": lambda g: grbs.rebin_lightcurve(g, binning="obsid", get_query_payload=True),
        "timeslice_spectrum": lambda g: grbs.timeslice_spectrum(g, slices={"early": "100-800"},
                                                                get_query_payload=True),
        "get_grb_table": lambda g: grbs.get_grb_table([g], get_query_payload=True),
        "resolve": lambda g: grbs.resolve([g], get_query_payload=True),
        "target_id": lambda g: grbs.target_id(g, get_query_payload=True),
    }


@pytest.mark.parametrize("method", list(_calls(None)))
def test_query_payload_sends_nothing(grbs, no_http, tmp_path, method):
    bodies = _calls(grbs)[method]("GRB060729")
    assert no_http == []
    assert not (tmp_path / "nowhere").exists()
    assert bodies[0] == {"name": "GRB 060729", "APIFunc": "GRBNameToTargetID", "APIVersion": "1.0.5"}
    # Every lookup comes before any product, as the call sends them.
    funcs = [b["APIFunc"] for b in bodies]
    products = [b for b in bodies if b["APIFunc"] != "GRBNameToTargetID"]
    assert funcs == sorted(funcs, key=lambda f: f != "GRBNameToTargetID")
    assert all(b["APIVersion"] == "1.0.5" for b in bodies)
    if method not in ("resolve", "target_id"):
        assert "<targetID of 'GRB 060729'>" in products[0].values()
    # With the targetID there is nothing to look up.
    assert all(b["APIFunc"] != "GRBNameToTargetID" for b in _calls(grbs)[method](221755))


@pytest.mark.parametrize("method", ["get_lightcurve", "get_burst_analyser", "get_positions",
                                    "get_spectral_fits", "rebin_lightcurve", "timeslice_spectrum",
                                    "get_lightcurves"])
def test_query_payload_is_what_the_call_sends(grbs, sent, method):
    grbs.target_id("GRB 060729")      # known now: the payload then holds the targetID itself
    grbs.target_id("GRB 101225A")
    planned = _calls(grbs)[method]("GRB 060729")
    sent.clear()
    real = {"get_lightcurve": lambda: grbs.get_lightcurve("GRB 060729", incbad="both"),
            "get_lightcurves": lambda: grbs.get_lightcurves(["GRB 060729", 441015], progress=False),
            "get_burst_analyser": lambda: grbs.get_burst_analyser("GRB 060729", bands=["density"],
                                                                  bat_binning=["snr4"]),
            "get_positions": lambda: grbs.get_positions("GRB 060729", ["enhanced", "sper"]),
            "get_spectral_fits": lambda: grbs.get_spectral_fits("GRB 060729"),
            "rebin_lightcurve": lambda: grbs.rebin_lightcurve("GRB 060729", binning="obsid"),
            "timeslice_spectrum": lambda: grbs.timeslice_spectrum("GRB 060729", slices={"early": "100-800"})}
    real[method]()
    got = [{**payload, "APIFunc": func, "APIVersion": "1.0.5"} for func, payload in sent]
    planned_funcs = {b["APIFunc"] for b in planned}
    got = [b for b in got if b["APIFunc"] in planned_funcs]
    assert sorted(map(repr, got)) == sorted(map(repr, planned))


def test_query_payload_checks_parameters_first(grbs, no_http):
    with pytest.raises(InvalidRequestError, match="incbad"):
        grbs.get_lightcurve("GRB 060729", incbad="maybe", get_query_payload=True)
    with pytest.raises(InvalidRequestError, match="grb"):
        grbs.get_positions_many(["GK Per"], get_query_payload=True)
    assert no_http == []


def test_errors_are_the_package_errors(grbs):
    # What a many-GRB call collects is always the package's error type, whatever failed.
    got = grbs.get_positions_many(["GK Per", "GRB 990101", 99999999], errors="collect", progress=False)
    assert len(got) == 0 and all(isinstance(e, XRTProductsError) for e in got.errors.values())
