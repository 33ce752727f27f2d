# Licensed under a 3-clause BSD style license - see LICENSE
"""Rebinning as a job (issue 19 item 5): a handle like the job's own, giving the same LightCurve."""
import io
import logging

import pytest
from astropy import units as u
from astropy.time import Time

from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import ProductFailedError, ProductNotReadyError
from xrtprods_astro.job import JobHandle, RebinJob, StreamProgress, XRTJob
from xrtprods_astro.readers.lightcurve import LightCurve
from xrtprods_astro.request import ProductRequest

GRB = "GRB 200416A"


def _request():
    return ProductRequest(GRB, ra=335.6985, dec=-7.5179, get_targs=True, centroid=True, pos_err=1,
                          use_sxps=False, get_t0=True,
                          lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True})


@pytest.fixture
def done(xrtprods_service_factory):
    """(service, client, a job whose light curve is complete)."""
    svc = xrtprods_service_factory()
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    job = client.submit(_request())
    job.wait(progress=False)
    return svc, client, job


def test_rebin_returns_a_job_handle_whose_light_curve_is_the_jobs_type(done):
    svc, client, job = done
    own = job.lightcurve()
    rebin = job.rebin(binning="time", pc_bin_time=1 * u.ks, wt_bin_time=100)
    assert isinstance(rebin, RebinJob) and isinstance(rebin, JobHandle) and isinstance(job, JobHandle)
    assert type(rebin.job_id) is int and rebin.job is job
    states = rebin.wait(progress=False)
    assert states["lightcurve"].ok
    curve = rebin.lightcurve()
    assert type(curve) is LightCurve is type(own)
    assert curve.meta["rebin_id"] == rebin.job_id and curve.meta["job_id"] == job.job_id
    assert curve.meta["target"] == GRB
    for name in ("PC", "WT"):
        table = curve[name]
        assert isinstance(table["time"], Time)
        assert table["rate"].unit == u.ct / u.s and table["t_since_t0"].unit == u.s
        # The job's T0, clock-corrected the same way (from its lc/t0.date).
        assert table.meta["t0"] == own[name].meta["t0"] and table.meta["t0_met"] == own[name].meta["t0_met"]
        assert table.meta["time_source"] == own[name].meta["time_source"] == "t0.date"
        assert len(table) < len(own[name])  # 1 ks bins: fewer than the counts bins
    # Re-attached by ID (another session), the same curve.
    again = client.get_rebin(rebin.job_id, job_id=job.job_id)
    assert list(again.lightcurve()["PC"]["rate"]) == list(curve["PC"]["rate"])


def test_a_rebinned_curve_before_it_is_done_follows_the_products_rule(done):
    svc, client, job = done
    svc.store.job_duration = 300  # rebins now take minutes
    rebin = job.rebin(binning="snapshot")
    assert not rebin.status()["lightcurve"].done
    with pytest.raises(ProductNotReadyError, match=f"job {rebin.job_id} is not complete"):
        rebin.lightcurve()
    outcome = rebin.cancel()["lightcurve"]
    assert outcome.cancelled and outcome.code == 0
    assert rebin.status()["lightcurve"].code == -4
    with pytest.raises(ProductFailedError, match="was cancelled"):
        rebin.lightcurve()


def test_ctrl_c_leaves_the_rebin_running_and_says_how_to_come_back(done, caplog, monkeypatch):
    # The one waiter: the same progress line and the same Ctrl-C handling as a job's wait.
    svc, client, job = done
    svc.store.job_duration = 300
    rebin = job.rebin(binning="snapshot")

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "sleep", interrupt)
    stream = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="xrtprods_astro"), pytest.raises(KeyboardInterrupt):
        rebin.wait(progress=StreamProgress(stream, prefix=f"Rebin job {rebin.job_id} "))
    assert f"[interrupted; job {rebin.job_id} goes on]" in stream.getvalue()
    assert any(f"re-attach with XRTProducts.get_rebin({rebin.job_id}, job_id={job.job_id})" in r.getMessage()
               for r in caplog.records)
    assert not rebin.status()["lightcurve"].done  # not cancelled
    assert XRTJob.wait is JobHandle.wait is RebinJob.wait  # one waiter, not a second loop


# -- the command line reaches it the same way ------------------------------------------------------------
def _cli(capsys, svc, *argv):
    from xrtprods_astro import cli
    code = cli.main(["--server", svc.url, "--email", svc.email, *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_line_rebins_waits_and_writes_the_curve(done, capsys, tmp_path):
    from astropy.table import QTable
    svc, client, job = done
    path = tmp_path / "rebinned.ecsv"
    code, out, err = _cli(capsys, svc, "rebin", job.job_id, "--binning", "time",
                          "--param", "pc_bin_time=1000", "--param", "wtBinTime=100", "--output", path)
    assert code == 0, err
    table = QTable.read(path)
    assert table["rate"].unit == u.ct / u.s and 0 < len(table) < len(job.lightcurve()["PC"])
    # Without --wait: the rebin job's ID; --attach follows it later, like 'wait' follows a job.
    code, out, err = _cli(capsys, svc, "rebin", job.job_id, "--binning", "snapshot")
    rebin_id = int(out.strip())
    assert code == 0 and f"xrtprods rebin {job.job_id} --attach {rebin_id} --wait" in err
    code, out, err = _cli(capsys, svc, "rebin", job.job_id, "--attach", rebin_id, "--wait")
    assert code == 0, err
    assert "rate" in out
    code, out, err = _cli(capsys, svc, "rebin", job.job_id)
    assert code == 2 and "--binning: needed" in err and "counts, time, snapshot, obsid" in err


# -- and so does a batch ----------------------------------------------------------------------------------
def test_a_batch_rebins_each_light_curve_through_the_handle(xrtprods_service_factory, tmp_path):
    from astropy.table import QTable, Table

    from xrtprods_astro.batch import BatchRun
    from xrtprods_astro.exceptions import InvalidRequestError
    svc = xrtprods_service_factory()
    client = XRTProductsClass(server=svc.url, email=svc.email, poll_interval=0.05)
    targets = Table({"name": [GRB], "ra": [335.6985] * u.deg, "dec": [-7.5179] * u.deg})
    products = {"lightcurve": {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}}
    batch = BatchRun(targets, products=products, client=client, state_file=tmp_path / "state.json",
                     dest_dir=tmp_path / "out", retrieve=["lightcurve"],
                     rebin={"binning": "time", "pc_bin_time": 1000, "wt_bin_time": 100})
    summary = batch.run(timeout=120)
    assert list(summary["status"]) == ["ok"]
    folder = next((tmp_path / "out").iterdir())
    own = QTable.read(folder / "lightcurve_PC.ecsv")
    rebinned = QTable.read(folder / "lightcurve_rebinned_PC.ecsv")
    assert rebinned["rate"].unit == u.ct / u.s and 0 < len(rebinned) < len(own)
    with pytest.raises(InvalidRequestError, match="rebin: expected a dict with binning one of counts, time"):
        BatchRun(targets, products=products, client=client, state_file=tmp_path / "s2.json",
                 dest_dir=tmp_path / "o2", rebin={"binning": "weekly"})


def test_rebin_help_says_what_and_shows_an_example(capsys):
    from xrtprods_astro import cli
    assert cli.main(["rebin", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: xrtprods rebin") and "xrtprods rebin 123456 --attach 77 --wait" in out
