# Licensed under a 3-clause BSD style license - see LICENSE
"""One clock (issue 19 item 1): every MET<->UTC conversion uses the best correction available.

First what UKSSDC stated for the job (``t0.date``, ``UTCFINIT``), else the bundled clock table
(`xrtprods_astro.times.clock_utcf`, with its accuracy `clock_accuracy`), never zero. The local
service imitates UKSSDC with the same clock points, so against it the products of one job agree
with that job's ``t0.date`` to 1 ms.
"""
import logging

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import conf, times
from xrtprods_astro.batch import run_batch
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.readers.lightcurve import parse_t0_date, read_lightcurve_json
from xrtprods_astro.readers.spectrum import read_spectral_fits
from xrtprods_astro.times import clock_accuracy, clock_utcf, met_to_time, time_to_met, utcf_from_utc

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
NAME = "GRB 200416A"
LC = dict(binning="counts", pc_counts=20, wt_counts=30, dynamic=True)
# The T0 the issue typed for GRB 200416A; sent as a Time it must come back as the same UTC.
TYPED_T0 = Time("2020-04-16T07:05:17.079", scale="utc")


def _client(service, tmp_path):
    c = XRTProductsClass(server=service.url, email=service.email, poll_interval=0.05)
    c.cache_location = tmp_path / "xcache"
    c._transport.backoff = 0.01
    return c


@pytest.fixture
def client(xrtprods_service, tmp_path):
    return _client(xrtprods_service, tmp_path)


# ---------------------------------------------------------------------------------------------
# The table itself
# ---------------------------------------------------------------------------------------------
def test_clock_table_gives_back_each_published_value():
    for met, utcf, precision, source in times._CLOCK_POINTS:
        assert clock_utcf(met) == pytest.approx(utcf, abs=max(precision, 1e-6)), source
        assert clock_accuracy(met) <= 0.05 + 1e-9, source


def test_clock_accuracy_is_honest_leave_one_out():
    # Each interior point left out and predicted from the others must fall within the
    # accuracy the table states for an interval as long as the one it leaves (docs/times.rst).
    met = times._CLOCK_MET
    drift = times._CLOCK_DRIFT
    prec = times._CLOCK_PREC
    for i in range(1, len(met) - 1):
        keep = np.arange(len(met)) != i
        predicted = np.interp(met[i], met[keep], drift[keep])
        lo, hi = met[i - 1], met[i + 1]
        frac = (met[i] - lo) / (hi - lo)
        gap = (hi - lo) / (365.25 * 86400)
        bound = max(prec[i - 1], prec[i + 1], prec[i]) + 4 * frac * (1 - frac) * (0.03 + 0.015 * gap ** 2)
        assert abs(predicted - drift[i]) <= bound, times._CLOCK_POINTS[i][3]


def test_clock_extrapolation_bound_holds_on_the_past():
    # Each point predicted from the points before it only (as the last year of the table
    # extrapolates into the future) stays within the stated bound for that distance.
    met, drift = times._CLOCK_MET, times._CLOCK_DRIFT
    for i in range(8, len(met)):
        j = i - 1
        k = int(np.nonzero(met[:j] <= met[j] - 300 * 86400.0)[0][-1])
        slope = (drift[j] - drift[k]) / (met[j] - met[k])
        dt = (met[i] - met[j]) / (365.25 * 86400)
        bound = times._CLOCK_PREC[j] + 0.05 * min(1.0, dt / 0.25) + 0.2 * dt ** 2
        assert abs(drift[j] + slope * (met[i] - met[j]) - drift[i]) <= max(bound, 1e-3)


def test_clock_steps_at_leap_seconds_and_is_never_zero():
    before, after = time_to_met(Time("2016-12-31T23:59:00")), time_to_met(Time("2017-01-01T00:01:00"))
    assert clock_utcf(after) - clock_utcf(before) == pytest.approx(-1.0, abs=1e-3)
    # Never zero: the correction grows from +0.6 s (2005) to -33 s (2024) and beyond.
    grid = np.linspace(1.3e8, 8.0e8, 500)
    assert np.all(np.abs(clock_utcf(grid)) > 0.05)
    assert clock_accuracy(time_to_met(Time("2026-12-07"))) > clock_accuracy(7.3e8)


def test_local_service_clock_is_the_bundled_table():
    # The service shares no code with the client but holds the same points: products of the
    # local service are then as UKSSDC's would be, within the table's accuracy.
    from xrtprods_astro.server import sky
    grid = np.linspace(1.2e8, 8.5e8, 20001)
    np.testing.assert_allclose(sky.utcf(grid), clock_utcf(grid), atol=1e-9)


def test_times_and_strings_round_trip_through_met():
    met = time_to_met(TYPED_T0)
    assert abs((met_to_time(met) - TYPED_T0).to_value(u.s)) < 1e-6
    # UKSSDC's AT2018cow T0 (lc/t0.date) is a point of the table: given to the millisecond.
    assert met_to_time(551097137.0).isot == "2018-06-19T10:31:55.845"


# ---------------------------------------------------------------------------------------------
# Readers: the table's UTCF at T0, said in meta, one warning with the bound
# ---------------------------------------------------------------------------------------------
def test_spectral_fits_without_a_stated_clock_say_so_and_warn_once(caplog):
    with caplog.at_level(logging.WARNING, logger="xrtprods_astro"):
        table = read_spectral_fits({"T0": 608713541.952, "rnames": []})
    assert table.meta["time_source"] == "clock table"
    bound = clock_accuracy(608713541.952)
    assert table.meta["time_error"].to_value(u.s) == pytest.approx(bound, abs=1e-3)
    assert abs((table.meta["t0"] - met_to_time(608713541.952)).to_value(u.s)) < 1e-6
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"{bound:.3f} s" in warned[0].getMessage()


# ---------------------------------------------------------------------------------------------
# The local service: one job, one T0, to 1 ms, everywhere
# ---------------------------------------------------------------------------------------------
def test_t0_typed_as_time_comes_back_as_the_same_utc(client):
    job = client.submit(GRB, name=NAME, lightcurve=LC, t0=TYPED_T0)
    job.wait(timeout=30)
    lc = job.lightcurve()
    assert lc.meta["time_source"] == "t0.date"
    # The service states its own conversion (t0.date): within 1 ms of what was typed.
    assert abs((lc.meta["t0"] - TYPED_T0).to_value(u.s)) < 1e-3


def test_time_range_typed_as_times_selects_those_utc_instants(client):
    start, stop = Time("2020-04-16T08:00:00"), Time("2020-04-16T09:00:00")
    job = client.submit(GRB, name=NAME, lightcurve=dict(LC, time_range=(start, stop)), t0=TYPED_T0)
    # The range went on the wire as the METs whose UTC (through the service's clock) is what was typed.
    lo, hi = (float(x) for x in str(job.job_pars["uselcobs"]).split("-"))
    from xrtprods_astro.server import sky
    assert abs((Time(sky.met_to_utc(lo)) - start).to_value(u.s)) < 1e-3
    assert abs((Time(sky.met_to_utc(hi)) - stop).to_value(u.s)) < 1e-3


def _pha_header(spectra):
    """The header of the first grouped spectrum that carries UTCFINIT."""
    mode = next(iter(next(iter(spectra.values())).modes.values()))
    return next(hdu.header for hdu in mode.spectrum[:2] if "UTCFINIT" in hdu.header)


def test_one_job_one_t0_in_light_curve_spectral_fits_and_pha(client, tmp_path):
    job = client.submit(GRB, name=NAME, lightcurve=LC, spectrum=dict(models=["powerlaw"]))
    job.wait(timeout=60)
    met, utc = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date"))
    lc = job.lightcurve()
    spectra = job.spectra(tmp_path / "spec")
    fits_table = job.spectral_fits()
    assert abs((lc.meta["t0"] - utc).to_value(u.s)) < 1e-3
    assert abs((fits_table.meta["t0"] - utc).to_value(u.s)) < 1e-3
    assert fits_table.meta["time_source"] == "utcf"
    # The grouped PHA of the same job states UTCFINIT at its TSTART: the same clock to 1 ms.
    header = _pha_header(spectra)
    from_pha = job.spectral_fits(spectra=spectra)
    assert abs((from_pha.meta["t0"] - utc).to_value(u.s)) < 1e-3
    assert header["UTCFINIT"] == pytest.approx(
        utcf_from_utc(met, utc) + clock_utcf(header["TSTART"]) - clock_utcf(met), abs=1e-3)


def test_spectrum_only_job_takes_the_pha_utcfinit(client, tmp_path):
    result = client.get_spectrum(GRB, name=NAME, dest_dir=tmp_path / "spec", timeout=60)
    assert result.fits.meta["time_source"] == "utcf"
    header = _pha_header(result.spectra)
    t0_met = result.fits.meta["t0_met"]
    # UTCFINIT carried from TSTART to T0 by the table's change over that interval.
    carried = header["UTCFINIT"] + clock_utcf(t0_met) - clock_utcf(header["TSTART"])
    expected = met_to_time(t0_met, utcf=carried)
    assert abs((result.fits.meta["t0"] - expected).to_value(u.s)) < 1e-6


def test_batch_light_curve_ecsv_agrees_with_the_job(xrtprods_service_factory, tmp_path):
    svc = xrtprods_service_factory()
    client = _client(svc, tmp_path)
    targets = Table({"name": [NAME], "ra": [GRB.ra.deg] * u.deg, "dec": [GRB.dec.deg] * u.deg})
    with conf.set_temp("backoff", 0.005):
        summary = run_batch(targets, products={"lightcurve": LC}, state_file=tmp_path / "s.json",
                            dest_dir=tmp_path / "out", client=client, timeout=60)
    assert list(summary["status"]) == ["ok"]
    written = sorted((tmp_path / "out").rglob("lightcurve_PC.ecsv"))
    assert written
    from_batch = Table.read(written[0])
    job = client.get_job(summary["job_id"][0])
    lc = job.lightcurve()
    met, utc = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date"))
    assert abs((Time(from_batch.meta["t0"]) - utc).to_value(u.s)) < 1e-3
    batch_times = Time(from_batch["time"])
    assert np.max(np.abs((batch_times - lc["PC"]["time"]).to_value(u.s))) < 1e-3


def test_light_curve_json_alone_is_within_the_stated_accuracy(client):
    job = client.submit(GRB, name=NAME, lightcurve=LC)
    job.wait(timeout=30)
    met, utc = parse_t0_date(client.file_text(f"{job.url}/lc/t0.date"))
    alone = read_lightcurve_json(client.lightcurve_data(job.job_id))
    assert alone.meta["time_source"] == "clock table"
    assert abs((alone.meta["t0"] - utc).to_value(u.s)) <= alone.meta["time_error"].to_value(u.s) + 1e-3


def test_grouped_pha_of_the_local_service_states_the_table(client, tmp_path):
    result = client.get_spectrum(GRB, name=NAME, dest_dir=tmp_path / "spec", timeout=60)
    header = _pha_header(result.spectra)
    assert header["UTCFINIT"] == pytest.approx(clock_utcf(header["TSTART"]), abs=1e-5)


# ---------------------------------------------------------------------------------------------
# Time inputs (issue 19 item 6): Time, ISO strings, MET numbers, Quantities in s or d, one rule
# ---------------------------------------------------------------------------------------------
def _request(**lightcurve):
    from xrtprods_astro.request import ProductRequest
    return ProductRequest(NAME, targ="00968211", ra=335.6985, dec=-7.5179, centroid=True, use_sxps=False,
                          lightcurve=dict(binning="counts", **lightcurve))


def _time_problems(request):
    return [p for p in request.problems() if "time_range" in p or p.startswith("t0")]


def test_time_range_takes_iso_strings_like_t0():
    request = _request(time_range=("2015-03-01", "2015-04-01"))
    assert _time_problems(request) == []
    lo, hi = (float(x) for x in request.to_wire(validate=False)["uselcobs"].split("-"))
    assert abs((met_to_time(lo) - Time("2015-03-01")).to_value(u.s)) < 1e-3
    assert abs((met_to_time(hi) - Time("2015-04-01")).to_value(u.s)) < 1e-3


@pytest.mark.parametrize("bad", [(57082 * u.d, 57113 * u.d), (57082, 57113)])
def test_time_range_in_mjd_gets_the_mjd_hint(bad):
    problems = _time_problems(_request(time_range=bad))
    assert len(problems) == 1 and "MJD" in problems[0] and "format='mjd'" in problems[0]


def test_t0_as_days_gets_the_same_mjd_hint():
    from xrtprods_astro.request import ProductRequest
    request = ProductRequest(NAME, targ="00968211", ra=335.6985, dec=-7.5179, lightcurve=True, t0=57082 * u.d)
    problems = [p for p in request.problems() if p.startswith("t0")]
    assert len(problems) == 1 and "format='mjd'" in problems[0]


def test_a_lone_time_in_a_range_is_a_clear_error_naming_the_parameter():
    from xrtprods_astro.exceptions import InvalidRequestError
    with pytest.raises(InvalidRequestError, match=r"time_range.*\(start, stop\) pair"):
        _request(time_range=(Time("2020-04-16"),))


def test_t0_takes_time_iso_met_and_quantity_alike():
    from xrtprods_astro import params as P
    p = P.lookup("T0")
    met = float(time_to_met(TYPED_T0))
    assert p.coerce(TYPED_T0) == pytest.approx(met, abs=1e-6)
    assert p.coerce("2020-04-16T07:05:17.079") == pytest.approx(met, abs=1e-6)
    assert p.coerce(met) == met
    assert p.coerce(met * u.s) == pytest.approx(met, abs=1e-6)
    assert p.coerce(met / 86400 * u.d) == pytest.approx(met, abs=1e-3)


def test_a_time_sent_through_the_table_warns_once_with_its_bound(caplog):
    from xrtprods_astro import params as P
    with caplog.at_level(logging.WARNING, logger="xrtprods_astro"):
        P.lookup("T0").coerce(TYPED_T0)
        P.lookup("useObs", "lightcurve").coerce([(TYPED_T0, TYPED_T0 + 1 * u.h),
                                                 (TYPED_T0 + 2 * u.h, TYPED_T0 + 3 * u.h)])
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    bound = f"{clock_accuracy(time_to_met(TYPED_T0)):.3f} s"
    assert len(warned) == 2 and all("clock table" in w and bound in w for w in warned)
    assert "t0" in warned[0] and "use_obs" in warned[1]


def test_cli_spectrum_of_a_spectrum_only_job_uses_its_pha_clock(capsys, client, xrtprods_service, tmp_path):
    from xrtprods_astro import cli
    from xrtprods_astro.server import sky
    job = client.submit(GRB, name=NAME, spectrum=dict(models=["powerlaw"]))
    job.wait(timeout=60)
    path = tmp_path / "fits.ecsv"
    code = cli.main(["--server", xrtprods_service.url, "--email", xrtprods_service.email, "-q", "spectrum",
                     str(job.job_id), "--dest", str(tmp_path / "spec"), "-o", str(path)])
    capsys.readouterr()
    assert code == cli.EXIT_OK
    written = Table.read(path)
    assert written.meta["time_source"] == "utcf"
    t0_met = written.meta["t0_met"]
    # The service's own UTC for that T0 (as UKSSDC would state it), to 1 ms.
    assert abs((Time(written.meta["t0"]) - Time(sky.met_to_utc(t0_met))).to_value(u.s)) < 1e-3


def test_the_stated_table_range_is_the_table():
    first, last = times._CLOCK_MET[0], times._CLOCK_MET[-1]
    assert (met_to_time(first).isot[:10], met_to_time(last).isot[:10]) == times.CLOCK_TABLE_RANGE
