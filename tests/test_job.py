# Licensed under a 3-clause BSD style license - see LICENSE
"""XRTJob handles: status and progress, polite waiting, cancelling, retrieval gates, downloads."""
import logging

import pytest
import xrt_fake_session as fake
from astropy import units as u

from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import (InvalidRequestError, JobTimeoutError, ProductFailedError,
                                       ProductNotReadyError, ProductNotRequestedError,
                                       ProductUnavailableError, XRTProductsWarning)
from xrtprods_astro.job import CancelOutcome, ProductStatus, XRTJob


EMAIL = "me@example.org"
URL = "https://www.swift.ac.uk/user_objects/tprods/USERPROD_951"


class Clock:
    """A fake monotonic clock advanced by the fake sleep."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(tmp_path, clock):
    c = XRTProductsClass(email=EMAIL)
    c.cache_location = tmp_path / "xcache"
    c._transport.sleep = clock.sleep
    c._transport.monotonic = clock
    return c


def _job(client, **flags):
    pars = dict(fake.fixture("oldjob")["jobPars"])
    pars.update(flags)
    return XRTJob(client, "951", URL, job_pars=pars)


def test_status_with_nested_progress(service, client):
    service.add("checkProductStatus.php", "status_running")
    job = _job(client, dopsf=1)
    assert job.products == ["lightcurve", "standard_position"]
    status = job.status()
    lc, psf = status["lightcurve"], status["standard_position"]
    assert (lc.code, lc.text, lc.done, lc.ok) == (3, "Running", False, False)
    assert lc.time_running == 3728 * u.s
    assert lc.progress_text == "\n".join([
        "Trying using the v,b,white filters:",
        "  Prepare data and centroid (if selected). - DONE",
        "  ** Extract data. - ACTIVE -- Working on observation 2 / 121**",
        "    Fit spectrum. - DONE",
        "    Build spectra.",
        "  Binning light curve.",
        "  Plotting light curve as image.",
        "The job has been running for 01:02:08"])
    assert psf.code == 2 and psf.progress_text == "No progress information available"
    assert psf.time_running is None
    assert service.calls[0].json["what"] == "lc,psf"


def test_final_and_unknown_states(service, client):
    service.add("checkProductStatus.php", "status_failed")
    job = _job(client, dopsf=1, doxastrom=1, image=1)
    status = job.status()
    assert [(k, s.code, s.done, s.ok) for k, s in status.items()] == [
        ("lightcurve", -4, True, False), ("standard_position", -3, True, False),
        ("astrometric_position", 5, False, False), ("image", -10, False, False)]
    assert status["image"].text == "Unknown status"
    assert ProductStatus.from_service(None).text == "The server did not return the status"


def test_is_complete_polls_only_when_needed(service, client):
    service.add("checkProductStatus.php", "status_running", "status_complete")
    job = _job(client, dopsf=1)
    assert job.is_complete is False
    assert job.is_complete is True
    assert job.is_complete is True
    assert service.count() == 2


def test_wait_polls_once_per_interval(service, client, clock):
    service.add("checkProductStatus.php", "status_running", "status_running", "status_complete")
    job = _job(client, dopsf=1)
    final = job.wait(poll_interval=30)
    assert all(s.ok for s in final.values())
    assert service.count() == 3
    assert clock.sleeps == [30, 30]


def test_wait_default_interval_is_conf(service, client, clock):
    service.add("checkProductStatus.php", "status_running", "status_complete")
    _job(client, dopsf=1).wait()
    assert clock.sleeps == [60.0]


def test_wait_timeout_names_what_is_running(service, client, clock):
    service.add("checkProductStatus.php", "status_running")
    job = _job(client, dopsf=1)
    with pytest.raises(JobTimeoutError) as info:
        job.wait(timeout=2 * u.min, poll_interval=50 * u.s)
    text = str(info.value)
    assert "lightcurve (Running)" in text and "standard_position (Queued)" in text and "120 s" in text
    assert clock.sleeps == [50, 50, 20]
    assert service.count() == 4
    with pytest.raises(Exception, match="timeout"):
        job.wait(timeout=3 * u.m)


def test_wait_logs_only_changes_of_state(service, client, clock, caplog):
    # Four polls, one change: the progress line is drawn twice and no INFO line is logged per poll.
    import io
    from xrtprods_astro.job import StreamProgress
    service.add("checkProductStatus.php", "status_running", "status_running", "status_running",
                "status_complete")
    stream = io.StringIO()
    with caplog.at_level(logging.DEBUG, logger="xrtprods_astro"):
        _job(client, dopsf=1).wait(poll_interval=5, progress=StreamProgress(stream))
    assert service.count() == 4 and len(stream.getvalue().splitlines()) == 2
    waits = [r for r in caplog.records if r.name == "xrtprods_astro.job"]
    assert not [r for r in waits if r.levelno >= logging.INFO]
    assert len(waits) == 2  # the two states, at DEBUG


def test_ctrl_c_says_the_job_goes_on_and_how_to_get_back(service, client, clock, caplog):
    import io
    from xrtprods_astro.job import StreamProgress
    service.add("checkProductStatus.php", "status_running")

    def interrupt(seconds):
        raise KeyboardInterrupt

    client._transport.sleep = interrupt
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="xrtprods_astro"), pytest.raises(KeyboardInterrupt):
        _job(client, dopsf=1).wait(poll_interval=5, progress=StreamProgress(stream))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "Job 951 goes on; re-attach with XRTProducts.get_job(951)"]
    last = stream.getvalue().splitlines()[-1]
    assert last.endswith("(lightcurve: Running; standard_position: Queued)  [interrupted; job 951 goes on]")
    assert "fail" not in stream.getvalue().lower()


def test_time_out_line_says_timed_out_never_failed(service, client, clock, capsys):
    service.add("checkProductStatus.php", "status_running")
    job = _job(client, dopsf=1)
    with pytest.raises(JobTimeoutError):
        job.wait(timeout=60, poll_interval=30, progress=True)
    err = capsys.readouterr().err
    assert err.splitlines()[-1].endswith("[timed out; job 951 goes on]")
    assert "fail" not in err.lower()

    class OldStyle:  # a progress callable whose close() takes no outcome still works
        closed = False

        def __call__(self, job, statuses):
            pass

        def close(self):
            OldStyle.closed = True

    with pytest.raises(JobTimeoutError):
        job.wait(timeout=0, progress=OldStyle())
    assert OldStyle.closed


def test_job_ids_are_ints(service, client):
    assert _job(client).job_id == 951 and XRTJob(client, " 12 ", URL).job_id == 12
    for bad in ("abc", "1.5", None, True, -3):
        with pytest.raises(InvalidRequestError, match="job_id"):
            XRTJob(client, bad, URL)
    with pytest.raises(InvalidRequestError, match="job_id: expected an integer JobID"):
        client.get_job("USERPROD_951")
    assert service.count() == 0


def test_wait_progress_follows_log_level(service, client, capsys):
    service.add("checkProductStatus.php", "status_running", "status_complete")
    logger = logging.getLogger("xrtprods_astro")
    old = logger.level
    try:
        logger.setLevel(logging.WARNING)
        _job(client).wait(poll_interval=1)
        assert capsys.readouterr() == ("", "")
        service.add("checkProductStatus.php", "status_running", "status_complete")
        logger.setLevel(logging.INFO)
        _job(client).wait(poll_interval=1)
        assert capsys.readouterr().err.splitlines() == [
            "Job 951 [--------------------] 0/1 products done  (lightcurve: Running)",
            "Job 951 [####################] 1/1 products done"]
    finally:
        logger.setLevel(old)


def test_cancel_outcomes(service, client):
    service.add("canceljob.php", "cancel_ok2")
    job = _job(client, spec=1, dopsf=1, doenh=1, doxastrom=1)
    outcome = job.cancel()
    assert outcome["lightcurve"] == CancelOutcome(0, "Job cancelled OK", True)
    assert outcome["spectrum"].code == 1 and outcome["spectrum"].cancelled is False
    positions = ("standard_position", "enhanced_position", "astrometric_position")
    assert [outcome[k].code for k in positions] == [2, 3, 4]
    service.add("canceljob.php", "cancel_ok1")
    outcome = job.cancel(["lc", "psf"])
    assert all(o.cancelled for o in outcome.values()) and list(outcome) == ["lightcurve", "standard_position"]
    assert service.calls[-1].json["what"] == "lc,psf"


def test_retrieval_gated_on_completion(service, client):
    service.add("checkProductStatus.php", "status_running")
    job = _job(client, dopsf=1)
    with pytest.raises(ProductNotReadyError, match="not complete yet: Running") as info:
        job.lightcurve_data()
    assert (info.value.job_id, info.value.product, info.value.status.code) == (951, "lightcurve", 3)
    with pytest.raises(ProductNotRequestedError, match="has no spectrum: it was not requested") as info:
        job.spectral_fit_data()
    assert not isinstance(info.value, ProductNotReadyError) and info.value.product == "spectrum"
    service.add("checkProductStatus.php", "status_failed")
    job = _job(client, dopsf=1)
    with pytest.raises(ProductFailedError, match="failed: No product could be made") as info:
        job.position_data("standard")
    assert not isinstance(info.value, ProductNotReadyError) and info.value.status.code == -3
    with pytest.raises(ProductFailedError, match="was cancelled"):
        job.lightcurve_data()
    for cls in (ProductNotReadyError, ProductNotRequestedError, ProductFailedError):
        assert issubclass(cls, ProductUnavailableError)
    assert service.count("getLCData.php") == service.count("getPSFPos.php") == 0


def test_retrieval_once_complete_is_cached(service, client):
    service.add("checkProductStatus.php", "status_complete")
    service.add("getLCData.php", "lcdata")
    service.add("getPSFPos.php", "pos_psf")
    job = _job(client, dopsf=1)
    assert job.lightcurve_data()["Datasets"] == ["WT", "PC", "PCUL", "PCHard", "PCSoft", "PCHR"]
    assert job.lightcurve_data()["Binning"] == "Counts"
    assert job.position_data("standard")["Err90"] == "3.5"
    assert job.position_data("standard")["GotPos"] == 1
    assert service.count("checkProductStatus.php") == 2  # once per product, then remembered
    assert service.count("getLCData.php") == 1 and service.count("getPSFPos.php") == 1


def test_download_skips_failed_products_and_extracts(service, client, tmp_path):
    service.add("checkProductStatus.php", {"OK": 1, "APIVersion": "1.12",
                                           "lc": {"statusCode": 4, "statusText": "Complete",
                                                  "progress": {"GotProgress": 0}},
                                           "psf": {"statusCode": -3, "statusText": "No product",
                                                   "progress": {"GotProgress": 0}}})
    body = fake.targz({"USERPROD_951/lc/curve.qdp": b"data"})
    service.add("lc.tar.gz", fake.make_response(200, body, {"Content-Length": str(len(body))}, method="GET"))
    job = _job(client, dopsf=1)
    with pytest.warns(XRTProductsWarning, match="standard position .* not downloaded"):
        paths = job.download(tmp_path / "out", extract=True)
    assert paths == [tmp_path / "out/USERPROD_951/lc/curve.qdp"]
    assert paths[0].read_bytes() == b"data"
    assert (tmp_path / "out/USERPROD_951_lc.tar.gz").exists()
    with pytest.raises(ProductFailedError):
        job.download(tmp_path / "out2", products=["standard_position"])


def test_attach_repr_dict_and_rebin(service, client):
    service.add("getOldProduct.php", "oldjob")
    job = XRTJob.attach(951, client=client)
    assert job.job_id == 951 and job.url == URL and job.products == ["lightcurve"]
    assert job.request is not None and job.request.products == ("lightcurve",)
    assert repr(job) == "<XRTJob 951 products=[lightcurve]>"
    service.add("checkProductStatus.php", "status_complete")
    service.add("main.php:rebinLightCurve", "api_rebin")
    assert job.rebin(binning="obsid").job_id == 77
    assert service.calls[-1].json["name"] == "GRB 200416A"
    assert service.calls[-1].json["objectID"] == 951
    summary = job.to_dict()
    assert summary["job_id"] == 951 and summary["status"]["lightcurve"]["code"] == 4
    assert "status: lightcurve=4" in repr(job)


def test_wait_reports_each_poll_to_a_progress_callable(service, client, clock):
    # The one wait loop: the CLI, the demo and callers draw progress through this hook.
    service.add("checkProductStatus.php", "status_running", "status_complete")
    seen = []

    class Recorder:
        closed = False

        def __call__(self, job, statuses):
            seen.append((job.job_id, {k: s.code for k, s in statuses.items()}))

        def close(self):
            Recorder.closed = True

    _job(client, dopsf=1).wait(poll_interval=5, progress=Recorder())
    assert seen == [(951, {"lightcurve": 3, "standard_position": 2}),
                    (951, {"lightcurve": 4, "standard_position": 4})]
    assert Recorder.closed and clock.sleeps == [5]


def test_stream_progress_draws_a_bar_per_change(service, client, clock):
    import io
    from xrtprods_astro.job import StreamProgress
    service.add("checkProductStatus.php", "status_running", "status_running", "status_complete")
    stream = io.StringIO()
    _job(client, dopsf=1).wait(poll_interval=5, progress=StreamProgress(stream))
    lines = stream.getvalue().splitlines()
    assert lines == ["[--------------------] 0/2 products done  "
                     "(lightcurve: Running; standard_position: Queued)",
                     "[####################] 2/2 products done"]


def test_poll_is_one_status_call(service, client):
    service.add("checkProductStatus.php", "status_running")
    statuses, finished = _job(client, dopsf=1).poll()
    assert finished is False and set(statuses) == {"lightcurve", "standard_position"}
    assert service.count() == 1


def test_target_name_is_the_requested_source_name(client):
    job = _job(client)
    assert job.target_name == job.request["name"] and isinstance(job.target_name, str)
    job.target_meta = {"target": "GK Per"}     # what a name-resolved submission records wins
    assert job.target_name == "GK Per"
    nameless = XRTJob(client, "952", URL, job_pars={})
    assert nameless.target_name is None
