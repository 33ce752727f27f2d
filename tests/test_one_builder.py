# Licensed under a 3-clause BSD style license - see LICENSE
"""One request builder under three front doors.

For every product and binning mode, and for every spelling of a targets table's
columns, the Python API (``get_query_payload=True``), the command line
(``xrtprods submit --dry-run``) and a batch preview (``BatchRun.get_query_payload``)
give the identical wire payload (keys, order, values and JSON types), or all
three refuse with the same message. Nothing is sent: the fake service counts calls.
"""
import json

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xrtprods_astro import cli
from xrtprods_astro.batch import BatchRun, run_batch
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.exceptions import InvalidRequestError

EMAIL = "you@example.org"
GRB = SkyCoord(335.6985, -7.5179, unit="deg")

#: (id, products, globals): every product, every light-curve binning, and requests that must be refused.
CASES = [
    ("lc-default", {"lightcurve": {}}, {}),
    ("lc-counts", {"lightcurve": {"binning": "counts", "pc_counts": 50, "wt_counts": 40,
                                  "dynamic": False}}, {}),
    ("lc-counts-partial", {"lightcurve": {"pc_counts": 50}}, {}),
    ("lc-time", {"lightcurve": {"binning": "time", "pc_bin_time": 100, "wt_bin_time": 10.5}}, {}),
    ("lc-snapshot", {"lightcurve": {"binning": "snapshot", "min_energy": 0.5}}, {}),
    ("lc-obsid", {"lightcurve": {"binning": "obsid", "time_format": "m"}}, {}),
    ("lc-time-without-bin-times", {"lightcurve": {"binning": "time"}}, {}),
    ("spectrum", {"spectrum": {}}, {}),
    ("spectrum-redshift", {"spectrum": {"redshift": 1.5, "models": "powerlaw,apec"}}, {}),
    ("spectrum-has-redshift-without-redshift", {"spectrum": {"has_redshift": True}}, {}),
    ("standard-position", {"standard_position": {}}, {}),
    ("enhanced-position", {"enhanced_position": {"which_data": "all"}}, {}),
    ("astrometric-position", {"astrometric_position": {"use_all_obs": True}}, {}),
    ("image", {"image": {"energies": "0.3-2,2-10"}}, {}),
    ("source-detection", {"source_detection": {}}, {}),
    ("source-detection-user", {"source_detection": {"use_obs": "00012345001"}}, {}),
    ("source-detection-user-without-obs", {"source_detection": {"which_data": "user"}}, {}),
    ("globals", {"lightcurve": {}, "standard_position": {}},
     {"pos_err": 2, "use_sxps": True, "get_t0": True, "notify": True}),
    ("srcrad-disagrees", {"lightcurve": {"source_radius": 10}, "spectrum": {"source_radius": 20}}, {}),
    ("srcrad-agrees", {"lightcurve": {"source_radius": 20}, "spectrum": {"source_radius": 20}}, {}),
]


@pytest.fixture
def client(service):
    """A client on the fake service: any call that reached it would be counted."""
    return XRTProductsClass(email=EMAIL)


def _typed(payload):
    """The payload as the wire carries it: (key, JSON type, value), in order."""
    wire = json.loads(json.dumps(payload))
    return [(k, type(v).__name__, v) for k, v in wire.items()]


def _text(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def python_door(target, products, params, **kwargs):
    """submit(..., get_query_payload=True), and the get_* call when one product is asked for."""
    client = XRTProductsClass(email=EMAIL)
    args = {key: (spec or True) for key, spec in products.items()}
    payload = client.submit(target, get_query_payload=True, **args, **params, **kwargs)
    if len(products) == 1:
        (key, spec), = products.items()
        call, extra = {"lightcurve": ("get_lightcurve", ()), "spectrum": ("get_spectrum", ()),
                       "image": ("get_image", ()), "source_detection": ("get_source_list", ())}.get(
            key, ("get_position", (key.replace("_position", ""),)))
        one = getattr(client, call)(target, *extra, get_query_payload=True, **spec, **params, **kwargs)
        assert _typed(one) == _typed(payload), f"{call} and submit disagree"
    return payload


def cli_door(capsys, target_args, products, params):
    argv = ["--email", EMAIL, "submit", *target_args, "--dry-run"]
    for key, spec in products.items():
        argv.append("--" + key.replace("_", "-"))
        argv.extend(f"-p{key}.{name}={_text(value)}" for name, value in spec.items())
    argv.extend(f"-p{name}={_text(value)}" for name, value in params.items())
    code = cli.main(argv)
    captured = capsys.readouterr()
    if code == cli.EXIT_OK:
        return json.loads(captured.out), None
    return None, (code, captured.err)


def batch_door(targets, products, params, tmp_path, **kwargs):
    batch = BatchRun(targets, products={k: (v or True) for k, v in products.items()},
                     state_file=tmp_path / "state.json", dest_dir=tmp_path / "out",
                     client=XRTProductsClass(email=EMAIL), **params, **kwargs)
    payloads = batch.get_query_payload()
    assert len(payloads) == 1
    return next(iter(payloads.values()))


def assert_same(service, capsys, tmp_path, python, cli_args, batch_targets, products, params):
    """The three doors give the identical payload, or refuse with the same problems."""
    try:
        expected = python()
    except InvalidRequestError as exc:
        payload, (code, err) = cli_door(capsys, cli_args, products, params)
        assert code == cli.EXIT_USAGE
        assert str(exc) in err
        with pytest.raises(InvalidRequestError) as info:
            batch_door(batch_targets, products, params, tmp_path)
        for problem in exc.problems:
            assert any(p.endswith(problem) for p in info.value.problems), (problem, info.value.problems)
        assert service.count() == 0
        return None
    payload, failure = cli_door(capsys, cli_args, products, params)
    assert failure is None, failure
    assert _typed(payload) == _typed(expected)
    assert _typed(batch_door(batch_targets, products, params, tmp_path)) == _typed(expected)
    assert service.count() == 0
    return expected


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_product_and_binning_gives_one_payload(case, service, capsys, tmp_path):
    _, products, params = case
    payload = assert_same(service, capsys, tmp_path,
                          lambda: python_door(GRB, products, params),
                          ["--ra", "335.6985", "--dec", "-7.5179"], [GRB], products, params)
    if case[0] == "lc-default":
        # The UKSSDC's GRB light-curve binning, whichever door.
        assert {k: payload[k] for k in ("binMeth", "pccounts", "wtcounts", "dynamic")} == {
            "binMeth": "counts", "pccounts": 20, "wtcounts": 30, "dynamic": 1}
    if case[0] == "lc-time":
        # The catalogue's type decides: 100 stays the int it was typed as, 10.5 a float.
        assert _typed(payload)[-2:] == [("pcbin", "int", 100), ("wtbin", "float", 10.5)]
    if case[0] == "source-detection":
        assert payload["detobs"] == "all"
    if payload is None:
        assert case[0].endswith(("without-bin-times", "without-redshift", "without-obs", "disagrees"))


#: (id, columns of a one-row table): every spelling of targets tables that the package reads.
TABLES = [
    ("vizier-_RA-_DE", {"Name": ["SRC1"], "_RA": [335.6985], "_DE": [-7.5179]}),
    ("vizier-RAJ2000", {"name": ["SRC1"], "RAJ2000": [335.6985] * u.deg, "DEJ2000": [-7.5179] * u.deg}),
    ("simbad-main_id-ra-dec", {"main_id": ["SRC1"], "ra": [335.6985] * u.deg, "dec": [-7.5179] * u.deg}),
    ("upper-case-sexagesimal", {"NAME": ["SRC1"], "RA": ["22 22 47.64"], "DEC": ["-07 31 04.4"]}),
    ("skycoord-column", {"object": ["SRC1"], "coord": GRB.reshape((1,))}),
    ("no-name", {"ra_deg": [335.6985], "dec_deg": [-7.5179]}),
    ("names-only", {"Name": ["GRB 200416A"]}),
    ("ra-without-dec", {"Name": ["SRC1"], "_RA": [335.6985]}),
    ("nothing-usable", {"x": [1.0], "y": [2.0]}),
]


@pytest.mark.parametrize("columns", [t[1] for t in TABLES], ids=[t[0] for t in TABLES])
def test_every_column_spelling_gives_one_payload(columns, service, capsys, tmp_path):
    table = Table(columns)
    path = tmp_path / "targets.ecsv"
    table.write(path)
    products = {"lightcurve": {}}
    # Names alone are resolved by the service in batches; the other doors are told to do the same.
    payload = assert_same(service, capsys, tmp_path,
                          lambda: python_door(table[0], products, {}, resolver="service"),
                          ["--table", str(path), "--resolver", "service"], table, products, {})
    if payload is not None and "RA" in payload:
        # The row's position is sent, never a name for the service to resolve instead.
        assert abs(payload["RA"] - 335.6985) < 1e-4 and abs(payload["Dec"] + 7.5179) < 1e-4
        assert "getCoords" not in payload
    if "Name" in columns and "_RA" in columns and "_DE" in columns:
        assert payload["name"] == "SRC1" and "RA" in payload


def test_run_batch_get_query_payload_sends_nothing(service, tmp_path):
    table = Table({"Name": ["A", "B"], "_RA": [10.0, 20.0], "_DE": [-5.0, 5.0]})
    payloads = run_batch(table, products={"lightcurve": True, "source_detection": True},
                         state_file=tmp_path / "s.json", dest_dir=tmp_path / "out",
                         client=XRTProductsClass(email=EMAIL), get_query_payload=True)
    assert list(payloads) == ["A", "B"]
    assert [p["RA"] for p in payloads.values()] == [10.0, 20.0]
    assert all(p["UserID"] == EMAIL and p["detobs"] == "all" and p["binMeth"] == "counts"
               for p in payloads.values())
    assert service.count() == 0
    assert not (tmp_path / "s.json").exists()


def test_batch_preview_names_each_refused_target(service, tmp_path):
    table = Table({"name": ["good", "bad"], "ra": [10.0, 20.0], "dec": [-5.0, 5.0],
                   "pos_err": np.array([2.0, 9.0])})
    batch = BatchRun(table, products={"lightcurve": True}, state_file=tmp_path / "s.json",
                     dest_dir=tmp_path / "out", client=XRTProductsClass(email=EMAIL))
    with pytest.raises(InvalidRequestError) as info:
        batch.get_query_payload()
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("bad: ")
    assert "pos_err" in info.value.problems[0]
    assert service.count() == 0


def test_batch_row_with_unreadable_position_is_named_by_its_name(service, tmp_path):
    table = Table({"name": ["X1"], "ra": ["not an angle"], "dec": ["1"]})
    batch = BatchRun(table, products={"lightcurve": True}, state_file=tmp_path / "s.json",
                     dest_dir=tmp_path / "out", client=XRTProductsClass(email=EMAIL))
    with pytest.raises(InvalidRequestError) as info:
        batch.get_query_payload()
    assert info.value.problems[0].startswith("X1: ") and "not an angle" in info.value.problems[0]


#: (id, products, obsIDs): requests restricted to observations, one product each and all at once.
OBS = ["00968211001", "00968211002"]
OBS_CASES = [
    ("lc", {"lightcurve": {}}, OBS),
    ("spectrum", {"spectrum": {"models": "powerlaw"}}, OBS),
    ("positions", {"standard_position": {}, "enhanced_position": {}}, OBS[:1]),
    ("image-and-sources", {"image": {}, "source_detection": {}}, OBS),
    ("every-product", {"lightcurve": {"binning": "snapshot"}, "spectrum": {}, "standard_position": {},
                       "astrometric_position": {}, "image": {}, "source_detection": {}}, OBS),
    ("bad-obsid", {"lightcurve": {}}, ["00968211001", "968211"]),
    ("use-obs-twice", {"lightcurve": {"use_obs": "00968211003"}}, OBS),
]


@pytest.mark.parametrize("case", OBS_CASES, ids=[c[0] for c in OBS_CASES])
def test_observations_give_one_payload(case, service, capsys, tmp_path):
    """observations= in Python, --obs-table on the command line, an observations column in a batch."""
    _, products, obsids = case
    obs_file = tmp_path / "obs.ecsv"
    Table({"obsid": obsids}).write(obs_file)
    targets = Table({"name": ["SRC1"], "ra": [GRB.ra.deg], "dec": [GRB.dec.deg],
                     "observations": [",".join(obsids)]})
    payload = assert_same(service, capsys, tmp_path,
                          lambda: python_door(GRB, products, {}, name="SRC1", observations=obsids),
                          ["--ra", "335.6985", "--dec", "-7.5179", "--name", "SRC1",
                           "--obs-table", str(obs_file)], targets, products, {})
    if payload is None:
        assert case[0] in ("bad-obsid", "use-obs-twice")
        return
    wire = ",".join(obsids)
    # Every product that takes an observation list gets it, with its which_data set to user.
    for key, (which, use) in {"lightcurve": ("lcobs", "uselcobs"), "spectrum": ("specobs", "usespecobs"),
                              "image": ("imobs", "useimobs"), "source_detection": ("detobs", "usedetobs"),
                              "standard_position": ("posobs", "useposobs"),
                              "enhanced_position": ("posobs", "useposobs"),
                              "astrometric_position": ("posobs", "useposobs")}.items():
        if key in products:
            assert (payload[which], payload[use]) == ("user", wire)
    assert payload["targ"] == "00968211" and payload["getTargs"] == 0


def test_observation_table_alone_gives_the_target_through_every_door(service, capsys, tmp_path):
    """Without a target, the rows' one position is the target, whichever door."""
    obs = Table({"name": ["GRB200416A"] * 2, "ra": [GRB.ra.deg] * 2 * u.deg,
                 "decl": [GRB.dec.deg] * 2 * u.deg, "obsid": OBS})
    path = tmp_path / "obs.ecsv"
    obs.write(path)
    products = {"lightcurve": {}, "spectrum": {}}
    expected = python_door(None, products, {}, observations=obs)
    cli_payload, failure = cli_door(capsys, ["--obs-table", str(path)], products, {})
    assert failure is None, failure
    batch = batch_door([{"observations": obs}], products, {}, tmp_path)
    assert _typed(cli_payload) == _typed(expected) == _typed(batch)
    assert (expected["name"], expected["RA"], expected["Dec"]) == ("GRB200416A", GRB.ra.deg, GRB.dec.deg)
    assert expected["uselcobs"] == expected["usespecobs"] == ",".join(OBS)
    assert service.count() == 0
