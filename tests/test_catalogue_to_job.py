# Licensed under a 3-clause BSD style license - see LICENSE
"""From catalogue to job: an observation Table, a list of obsIDs or an LSXPS source feeds a product request.

Payload tests send nothing (the fake service counts calls); the end-to-end test queries the local
service's observation table and runs a job over the chosen observations only.
"""
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import CataloguesClass
from xrtprods_astro.builder import OBS_POSITION_TOLERANCE, ObservationList, build_request, observation_list
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError

EMAIL = "you@example.org"
GK_PER = SkyCoord(52.80004, 43.90431, unit="deg")


class Source:
    """A stand-in for an LSXPS source of xrtprods_astro.sxps: exactly the attributes the builder reads."""

    def __init__(self, coord, observations):
        self.coord = coord
        self.observations = observations


def _source():
    return Source(GK_PER, Table({"obsid": ["00030842001", "00030842002", "00035210001", "00035210002"],
                                 "detected": [True, False, True, False]}))


@pytest.fixture
def client(service):
    return XRTProductsClass(email=EMAIL)


# ----------------------------------------------------------------------------- Table -> payload

def test_obs_table_gives_obslist_target_and_targets(client, service):
    """A swiftmastr-like table: its obsIDs for every product, its one position and name as the target."""
    obs = Table({"name": ["GKPer"] * 3, "target_id": [30842, 30842, 35210],
                 "ra": [52.80004] * 3 * u.deg, "decl": [43.90431] * 3 * u.deg,
                 "obsid": ["00030842001", "00030842002", "00035210001"]})
    payload = client.submit(lightcurve=True, spectrum=True, enhanced_position=True, observations=obs,
                            get_query_payload=True)
    obsids = "00030842001,00030842002,00035210001"
    assert (payload["name"], payload["RA"], payload["Dec"]) == ("GKPer", 52.80004, 43.90431)
    assert (payload["lcobs"], payload["uselcobs"]) == ("user", obsids)
    assert (payload["specobs"], payload["usespecobs"]) == ("user", obsids)
    assert (payload["posobs"], payload["useposobs"]) == ("user", obsids)
    # The observations' own targets, as the official makeProductRequest sets them (getTargs off).
    assert (payload["targ"], payload["getTargs"]) == ("00030842,00035210", 0)
    assert service.count() == 0


def test_int_obsid_column_and_user_filter(client, service):
    """Int ObsIDs (as the SXPS service sends them) are zero-padded; a filtered table gives its rows only."""
    obs = Table({"ObsID": [30842001, 30842002, 35210001], "xrt_exposure": [100.0, 2000.0, 3000.0]})
    long_ones = obs[obs["xrt_exposure"] > 1000]
    payload = client.submit(GK_PER, lightcurve=True, observations=long_ones, get_query_payload=True)
    assert payload["uselcobs"] == "00030842002,00035210001"
    assert payload["RA"] == GK_PER.ra.deg  # the table has no position: the target given is used
    assert service.count() == 0


def test_list_of_obsids_and_a_user_targ(client):
    payload = client.submit(GK_PER, source_detection=True, targ="00030842",
                            observations=["00030842001", 30842002, "00030842001"], get_query_payload=True)
    # In order, each once; the user's targ is kept when it holds the observations' target.
    assert payload["usedetobs"] == "00030842001,00030842002"
    assert payload["targ"] == "00030842" and payload["detobs"] == "user"


def test_get_calls_take_observations_too(client):
    one = client.get_spectrum(GK_PER, observations=["00030842001"], get_query_payload=True)
    assert one == client.submit(GK_PER, spectrum=True, observations=["00030842001"], get_query_payload=True)
    assert (one["specobs"], one["usespecobs"]) == ("user", "00030842001")


def test_the_builder_takes_a_ready_observation_list():
    obs = observation_list(Table({"obsid": ["00030842001"], "ra": [52.8], "dec": [43.9]}))
    assert isinstance(obs, ObservationList) and obs.obsids == ("00030842001",)
    assert obs.coord.separation(SkyCoord(52.8, 43.9, unit="deg")) < 1e-6 * u.arcsec
    request, meta = build_request(products={"image": True}, observations=obs)
    assert request.params("image")["use_obs"] == "00030842001"
    assert meta["resolver"] == "observations"


# ----------------------------------------------------------------------------- source -> payload

@pytest.mark.parametrize("which, expected", [
    (None, "00030842001,00030842002,00035210001,00035210002"),
    ("all", "00030842001,00030842002,00035210001,00035210002"),
    ("detected", "00030842001,00035210001"),
    ("undetected", "00030842002,00035210002"),
    ("allCat", "00030842001,00030842002,00035210001,00035210002"),
    ("allDet", "00030842001,00035210001"),
])
def test_source_gives_position_and_its_selected_observations(client, service, which, expected):
    payload = client.submit(lightcurve=True, standard_position=True, observations=_source(),
                            which_observations=which, get_query_payload=True)
    assert (payload["RA"], payload["Dec"]) == (GK_PER.ra.deg, GK_PER.dec.deg)
    assert payload["uselcobs"] == payload["useposobs"] == expected
    assert service.count() == 0


def test_bug_13_non_detections_by_the_documented_name(client):
    """The official getObsList refuses its documented useObs='nonDet' (spec §7, bug 13); here it works."""
    payload = client.submit(lightcurve=True, observations=_source(), which_observations="nonDet",
                            get_query_payload=True)
    assert payload["uselcobs"] == "00030842002,00035210002"


def test_bug_13_a_bad_obsid_is_a_clear_error_not_a_key_error(client):
    """The official client raises KeyError on an ObsID that is not 11 characters; here it is named."""
    source = Source(GK_PER, Table({"obsid": ["00030842001", "3084200"], "detected": [True, True]}))
    with pytest.raises(InvalidRequestError, match=r"observations: '3084200' is not an obsID \(11 digits"):
        client.submit(lightcurve=True, observations=source, get_query_payload=True)


def test_official_client_getobslist_on_the_same_source():
    """What bug 13 is: the official client, given this source, refuses nonDet and fails on a short ObsID."""
    pd = pytest.importorskip("pandas")
    sxps = pytest.importorskip("swifttools.ukssdc.data.SXPS")
    info = {"isDet": 0}
    details = {"IAUName": "LSXPS J033112.0+435415", "RA": GK_PER.ra.deg, "Decl": GK_PER.dec.deg,
               "Detections": {"Observations": pd.DataFrame({"ObsID": ["00030842001"]})},
               "NonDetections": {"Observations": pd.DataFrame(
                   {"ObsID": ["00030842002"], **{f"{b}_Info": [info] for b in sxps.BAND_NAMES}})}}
    with pytest.raises(ValueError, match="nonDet"):
        sxps.getObsList(details, useObs="nonDet")
    assert sxps.getObsList(details, useObs="allnondet")["obsList"] == ["00030842002"]
    details["NonDetections"]["Observations"]["ObsID"] = ["3084200"]
    with pytest.raises(KeyError):
        sxps.getObsList(details, useObs="allCat")


# ----------------------------------------------------------------------------- errors, before sending

@pytest.mark.parametrize("kwargs, message", [
    (dict(observations=[]), "observations: no observation selected (the list is empty)"),
    (dict(observations=Table({"obsid": ["00030842001"]})[:0]), "observations: no observation selected "
                                                               "(the table has no rows)"),
    (dict(observations=Source(GK_PER, Table({"obsid": ["00030842001"], "detected": [True]})),
          which_observations="undetected"), "the source has no undetected observations"),
    (dict(observations=["0003084200x"]), "'0003084200x' is not an obsID"),
    (dict(observations=Table({"obsid": ["00030842001", ""]})), "observations: item 1 is empty"),
    (dict(observations=Table({"exposure": [1.0]})), "observations: the table has no obsID column"),
    (dict(observations=[3.5]), "3.5 is not an obsID"),
    (dict(observations=object()), "is not a Table, a list of obsIDs or an LSXPS source"),
    (dict(observations=_source(), which_observations="blind"), "which_observations: 'blind' is not allowed"),
    (dict(observations=["00030842001"], which_observations="detected"),
     "which_observations: 'detected' needs a source or a table with a 'detected' column"),
    (dict(observations=Table({"obsid": ["00030842001"]}), which_observations="detected"),
     "needs a 'detected' column in the table"),
    (dict(which_observations="all"), "which_observations: given without observations"),
    (dict(observations=["00030842001"], lightcurve={"use_obs": "00030842002"}),
     "lightcurve: the observations are given twice, in observations= and in use_obs"),
    (dict(observations=["00030842001"], lightcurve={"time_range": (Time("2015-01-01"), Time("2015-02-01"))}),
     "lightcurve: the observations are given twice, in observations= and in time_range"),
    (dict(observations=["00030842001"], spectrum={"which_data": "hours"}),
     "spectrum: which_data='hours' contradicts observations="),
    (dict(observations=["00030842001"], standard_position=True, pos_use_obs="00030842002"),
     "standard_position: the observations are given twice, in observations= and in pos_use_obs"),
    (dict(observations=["00030842001"], astrometric_position={"use_all_obs": True}),
     "astrometric_position: use_all_obs=True uses every observation"),
    (dict(observations=["00030842001"], astrometric_position={"useAllObs": 1}),
     "astrometric_position: useAllObs=True uses every observation"),
    (dict(observations=["00030842001"], targ="00035210"),
     "targ: 00035210 leaves out the targets of the observations 00030842001"),
])
def test_invalid_observations_are_refused_before_sending(client, service, kwargs, message):
    kwargs = dict(kwargs)
    if not any(k in kwargs for k in ("spectrum", "standard_position", "astrometric_position")):
        kwargs.setdefault("lightcurve", True)
    with pytest.raises(InvalidRequestError) as info:
        client.submit(GK_PER, **kwargs)
    assert message in str(info.value)
    assert service.count() == 0


def test_no_target_and_no_one_position_names_target(client, service):
    # Pointing positions a few arcmin apart are not one source position.
    obs = Table({"obsid": ["00030842001", "00030842002"], "ra": [52.80, 52.86] * u.deg,
                 "decl": [43.90, 43.90] * u.deg})
    with pytest.raises(InvalidRequestError, match="target: the observations give no target position") as info:
        client.submit(lightcurve=True, observations=obs, get_query_payload=True)
    assert f"more than {OBS_POSITION_TOLERANCE}" in str(info.value)
    with pytest.raises(InvalidRequestError, match=r"target: .*a list of obsIDs has no position"):
        client.submit(lightcurve=True, observations=["00030842001"], get_query_payload=True)
    # With the target given, the same table is fine.
    assert client.submit(GK_PER, lightcurve=True, observations=obs, get_query_payload=True)["uselcobs"]
    assert service.count() == 0


def test_observations_with_a_ready_request_are_refused(client, service):
    request, _ = build_request(GK_PER, products={"lightcurve": True})
    with pytest.raises(InvalidRequestError, match="observations: not allowed with a ready request"):
        client.submit(request, observations=["00030842001"])
    assert service.count() == 0


# ----------------------------------------------------------------------------- end to end

def test_catalogue_query_to_job_on_the_local_service(xrtprods_service, tmp_path):
    """Query the observations near GK Per, keep one target's, and build a light curve from those only."""
    cats = CataloguesClass(server=xrtprods_service.url)
    cats.cache_location = tmp_path / "catcache"
    obs = cats.query_region(GK_PER, 5 * u.arcmin, catalog="obs", table="swiftmastr")
    assert set(obs["target_id"]) == {30842, 35210}
    chosen = obs[obs["target_id"] == 35210]
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.05)
    client.cache_location = tmp_path / "xcache"
    job = client.submit(lightcurve={"binning": "snapshot"}, observations=chosen, reuse=False)
    assert job.job_pars["uselcobs"] == ",".join(chosen["obsid"])
    assert (job.job_pars["lcobs"], job.job_pars["targ"]) == ("user", "00035210")
    assert abs(job.job_pars["RA"] - GK_PER.ra.deg) < 1e-6 and job.job_pars["name"] == "GKPer"
    assert all(status.ok for status in job.wait(timeout=120).values())
    lc = job.lightcurve()
    pc = lc["PC"]
    assert len(pc) > 0
    # Every bin lies inside one of the chosen observations, none in the other target's.
    spans = [(Time(a), Time(b)) for a, b in zip(chosen["start_time"], chosen["stop_time"])]
    for t in pc["time"]:
        assert any(a <= t <= b for a, b in spans), t


def test_lsxps_source_to_job_on_the_local_service(xrtprods_service, tmp_path):
    """An LSXPS source from the catalogue (not a stand-in) feeds a job: its position is the target and
    its detected observations the observation list, and the job's light curve uses only those."""
    cats = CataloguesClass(server=xrtprods_service.url)
    cats.cache_location = tmp_path / "catcache"
    near = cats.query_region(GK_PER, 30 * u.arcsec, catalog="LSXPS", table="sources", columns=["LSXPS_ID"])
    source = cats.get_source(int(near["LSXPS_ID"][0]))
    detected = source.observations[source.observations["detected"]]
    assert len(detected) > 0
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.05)
    client.cache_location = tmp_path / "xcache"
    job = client.submit(lightcurve={"binning": "obsid"}, observations=source, which_observations="detected",
                        reuse=False)
    assert job.job_pars["uselcobs"] == ",".join(sorted(detected["obsid"]))
    assert abs(job.job_pars["RA"] - source.coord.ra.deg) < 1e-6
    assert all(status.ok for status in job.wait(timeout=120).values())
    # Every bin lies inside one of the source's detected observations (times from the obs table).
    obs = cats.query_region(source.coord, 5 * u.arcmin, catalog="obs", table="swiftmastr")
    chosen = obs[[o in set(detected["obsid"]) for o in obs["obsid"]]]
    assert len(chosen) == len(detected)
    spans = [(Time(a), Time(b)) for a, b in zip(chosen["start_time"], chosen["stop_time"])]
    pc = job.lightcurve()["PC"]
    assert len(pc) > 0
    for t in pc["time"]:
        assert any(a <= t <= b for a, b in spans), t


# ----------------------------------------------------------------------------- batches

def test_batch_rows_carry_their_own_observations(service, tmp_path):
    from xrtprods_astro.batch import run_batch
    targets = Table({"name": ["GK Per", "Her X-1", "Mrk 421"],
                     "ra": [52.80004, 254.45755, 166.11381], "dec": [43.90431, 35.34236, 38.20883],
                     "obs": ["00030842001, 00030842002", "00030009001", ""]})
    payloads = run_batch(targets, products={"lightcurve": True}, state_file=tmp_path / "s.json",
                         dest_dir=tmp_path / "out", client=XRTProductsClass(email=EMAIL),
                         observations_column="obs", get_query_payload=True)
    assert payloads["GK_Per"]["uselcobs"] == "00030842001,00030842002"
    assert payloads["Her_X-1"]["uselcobs"] == "00030009001" and payloads["Her_X-1"]["targ"] == "00030009"
    # An empty cell leaves its target unrestricted: all data, targets found by the service.
    assert "uselcobs" not in payloads["Mrk_421"] and payloads["Mrk_421"]["getTargs"] == 1
    assert service.count() == 0


def test_batch_refuses_a_row_with_bad_observations_by_name(service, tmp_path):
    from xrtprods_astro.batch import BatchRun
    targets = Table({"name": ["good", "bad"], "ra": [10.0, 20.0], "dec": [1.0, 2.0],
                     "observations": ["00030842001", "0003084200"]})
    batch = BatchRun(targets, products={"lightcurve": True}, state_file=tmp_path / "s.json",
                     dest_dir=tmp_path / "out", client=XRTProductsClass(email=EMAIL))
    with pytest.raises(InvalidRequestError) as info:
        batch.get_query_payload()
    assert info.value.problems == ["bad: observations: '0003084200' is not an obsID (11 digits, e.g. "
                                   "'00012345001')"]
    with pytest.raises(InvalidRequestError, match="observations_column: no column 'obsids'"):
        BatchRun(targets, products={"lightcurve": True}, state_file=tmp_path / "s.json",
                 dest_dir=tmp_path / "out", client=XRTProductsClass(email=EMAIL),
                 observations_column="obsids")
    assert service.count() == 0


# ----------------------------------------------------------------------------- command line

def _cli(capsys, *argv):
    from xrtprods_astro import cli
    code = cli.main(["--email", EMAIL, "submit", *argv, "--lc", "--dry-run"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_obs_table_column_and_detected_rows(service, capsys, tmp_path):
    import json
    path = tmp_path / "source_obs.csv"
    # A CSV loses the leading zeros: the obsIDs come back as ints and are padded again.
    Table({"ra": [52.80004] * 3, "dec": [43.90431] * 3,
           "my_obs": ["00030842001", "00030842002", "00035210001"],
           "detected": [True, False, True]}).write(path)
    code, out, err = _cli(capsys, "--obs-table", str(path), "--obs-column", "my_obs",
                          "--which-obs", "detected")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["uselcobs"] == "00030842001,00035210001" and payload["RA"] == 52.80004
    assert service.count() == 0


@pytest.mark.parametrize("argv, message", [
    (["--ra", "10", "--dec", "1", "--obs-column", "x"], "--obs-column: only with --obs-table"),
    (["--ra", "10", "--dec", "1", "--which-obs", "detected"], "--which-obs: only with --obs-table"),
    (["--obs-table", "nowhere.ecsv"], "--obs-table: nowhere.ecsv is not a file"),
    (["--obs-table", "{obs}"], "target: the observations of --obs-table give no target position"),
    (["--ra", "10", "--dec", "1", "--obs-table", "{obs}", "--which-obs", "undetected"],
     "--which-obs: 'undetected' needs a 'detected' column in the table"),
])
def test_cli_obs_table_errors(service, capsys, tmp_path, monkeypatch, argv, message):
    from xrtprods_astro import cli
    monkeypatch.chdir(tmp_path)
    Table({"obsid": ["00030842001"]}).write(tmp_path / "obs.ecsv")
    code, out, err = _cli(capsys, *[a.replace("{obs}", "obs.ecsv") for a in argv])
    assert code == cli.EXIT_USAGE and message in err and not out
    assert service.count() == 0


def test_a_pandas_table_of_the_official_client(client):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"ObsID": [30842001, 35210002], "RA": [52.80004] * 2, "Decl": [43.90431] * 2})
    payload = client.submit(lightcurve=True, observations=frame, get_query_payload=True)
    assert payload["uselcobs"] == "00030842001,00035210002" and payload["Dec"] == 43.90431
