# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of ProductRequest: astropy inputs, triggers, validation, wire, jobPars and JSON round trips."""
import json
from pathlib import Path

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from xrtprods_astro import params as P
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.request import ProductRequest, coord_name
from xrtprods_astro.times import met_to_time

DATA = Path(__file__).parent / "data"


def _load(name, key):
    with open(DATA / name, encoding="utf-8") as fh:
        return json.load(fh)[key]


def grb_request():
    """The protocol.md section 2.1 example, built from astropy types."""
    return ProductRequest(
        SkyCoord(335.6985, -7.5179, unit="deg"), name="GRB 200416A",
        get_targs=True, centroid=True, use_sxps=False, t0=met_to_time(608713541.952),
        pos_err=1 * u.arcmin,
        lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True},
        spectrum={"delta_fit_stat": 2.706, "has_redshift": False},
        standard_position=True, enhanced_position=True, astrometric_position={"use_all_obs": True},
        source_detection={"which_data": "user", "use_obs": "00012345001", "which_bands": "all",
                          "fit_stray_light": False})


def minimal(**kwargs):
    """A complete request for a position, with the given products and globals."""
    base = dict(name="src", targ="00012345", centroid=False, use_sxps=False)
    return ProductRequest(SkyCoord(10, 20, unit="deg"), **{**base, **kwargs})


def _sections(wire):
    """Key order by section: (globals..., then per product flag followed by its keys)."""
    flags = [p.flag for p in P.PRODUCTS.values()]
    out, current = [], ["globals"]
    for key in wire:
        if key in flags:
            out.append(current)
            current = [key]
        else:
            current.append(key)
    out.append(current)
    return out


# ------------------------------------------------------------------------- the GRB 200416A example

def test_grb_example_encodes_exactly():
    expected = _load("request_grb200416a_wire.json", "wire")
    wire = grb_request().to_wire()
    assert wire == expected
    assert {k: type(v) for k, v in wire.items()} == {k: type(v) for k, v in expected.items()}
    assert json.dumps(wire, sort_keys=True) == json.dumps(expected, sort_keys=True)
    # order: globals first, then each product's flag followed by its parameters, as in the example
    got, want = _sections(wire), _sections(expected)
    assert [s[0] for s in got] == [s[0] for s in want]
    assert got[1:] == want[1:]
    assert sorted(got[0]) == sorted(want[0])


def test_grb_example_key_order_when_set_in_the_same_order():
    expected = _load("request_grb200416a_wire.json", "wire")
    req = ProductRequest()
    req.set(get_targs=True, centroid=True, name="GRB 200416A",
            position=SkyCoord(335.6985 * u.deg, -7.5179 * u.deg), use_sxps=False,
            t0=met_to_time(608713541.952), pos_err=1 * u.arcmin)
    req.add_product("lc", binning="counts", pcCounts=20, wtCounts=30, dynamic=True)
    req.add_product("Spectrum", hasRedshift=False)
    req.add_product("dopsf")
    req.add_product("EnhancedPos")
    req.add_product("xastrom", useAllObs=True)
    req.add_product("source_detection", whichData="user", useObs="00012345001", whichBands="ALL",
                    fitStrayLight=False)
    assert list(req.to_wire().items()) == list(expected.items())
    assert req == grb_request()


def test_grb_views():
    req = grb_request()
    assert req.products == ("lightcurve", "spectrum", "standard_position", "enhanced_position",
                            "astrometric_position", "source_detection")
    assert req.product_codes == ("lc", "spec", "psf", "enh", "xastrom", "sourceDet")
    assert req.params()["t0"] == 608713541.952
    assert req["Tstart"] == 608713541.952 and req["posErr"] == 1
    assert dict(req.params("lc")) == {"binning": "counts", "pc_counts": 20, "wt_counts": 30,
                                      "dynamic": True}
    with pytest.raises(TypeError):
        req.params()["name"] = "other"
    with pytest.raises(InvalidRequestError, match="image is not requested"):
        req.params("image")
    text = repr(req)
    assert text.startswith("ProductRequest(name='GRB 200416A', ra=335.6985, dec=-7.5179")
    assert "standard_position=True" in text and "'pc_counts': 20" in text


# ------------------------------------------------------------------------- jobPars round trips

def test_job_pars_round_trip_with_server_extras_and_defaults():
    echo = _load("request_grb200416a_jobpars.json", "jobPars")
    original = grb_request()
    short = ProductRequest.from_job_pars(echo, keep_defaults=False)
    assert short == original
    assert short.to_wire() == original.to_wire()
    full = ProductRequest.from_job_pars(echo)
    # everything the job used is kept: defaults included, internal keys and image (flag 0) dropped
    assert full.products == original.products
    assert full.params("lc")["min_energy"] == 0.3 and full.params("lc")["time_format"] == "s"
    assert full.params("spectrum")["models"] == ["powerlaw"]
    assert full.params("standard_position")["which_data"] == "hours"
    wire = full.to_wire()
    for key in ("outdir", "whatSXPS", "do3col", "enh", "pcmaxbin", "wtmaxbin", "image", "imen"):
        assert key not in wire
    assert all(wire[k] == v for k, v in original.to_wire().items())
    assert wire["pcmaxgap"] == 1e8 and wire["SinceT0"] == 0


def test_job_pars_round_trip_of_every_example():
    """to_wire -> echo (with extras) -> from_job_pars gives the same request, for every record."""
    for p in P.PARAMS:
        req = minimal()
        scope = None if p.is_global else p.product
        if p.is_global:
            req.set(**{p.name: p.example})
            req.add_product("image")
        else:
            req.add_product(scope, **{p.name: p.example})
        echo = dict(req.to_wire(validate=False), outdir="/x", whatSXPS="2SXPS", spec=0)
        if scope == "spectrum":
            echo["spec"] = "1"
        back = ProductRequest.from_job_pars(echo)
        if p.name in ("get_coords", "get_targs"):
            # RA/Dec and targ are in jobPars: the service's choice is kept, not asked for again
            assert back.params()[p.name] is False
            back.set(**{p.name: True})
        assert back == req, p.qualname


def test_job_pars_tolerance():
    echo = {"name": "X", "RA": "10.5", "Dec": "-3", "lc": "1", "spec": True, "image": 0, "dopsf": "0",
            "binMeth": "COUNTS", "pccounts": "20.0", "lcobs": 0, "cent": "yes", "useSXPS": "2SXPS",
            "getTargs": 1, "targ": 945521, "getCoords": 1, "getT0": 1, "Tstart": "608713541.952",
            "dchi": "2.706", "specz": "0", "models": "powerlaw,apec", "imen": "0.3-10",
            "outdir": "/data/x", "newServerKey": {"nested": [1, 2]}, "posobs": 3}
    req = ProductRequest.from_job_pars(echo)
    assert req.products == ("lightcurve", "spectrum")
    g = req.params()
    assert g["ra"] == 10.5 and g["dec"] == -3.0 and type(g["dec"]) is float
    assert g["centroid"] is True and g["use_sxps"] is False
    # what the service derived is kept and its get_* flag switched off, so a resubmission is the same job
    assert g["targ"] == "00945521" and g["get_targs"] is False
    assert g["get_coords"] is False and g["get_t0"] is False and g["t0"] == 608713541.952
    assert "pos_which_data" not in g  # the numeric code 3 cannot be read and is skipped
    lc = req.params("lc")
    assert lc == {"binning": "counts", "pc_counts": 20}  # lcobs=0 skipped, not a crash
    assert req.params("spectrum")["models"] == ["powerlaw", "apec"]
    with pytest.raises(InvalidRequestError, match="expected a dict"):
        ProductRequest.from_job_pars(["not", "a", "dict"])


def test_get_flags_stay_when_nothing_was_derived():
    req = ProductRequest.from_job_pars({"getTargs": 1, "getCoords": "1", "name": "GK Per", "lc": 1})
    assert req.params()["get_targs"] is True and req.params()["get_coords"] is True


# ------------------------------------------------------------------------- JSON

def test_json_round_trip(tmp_path):
    req = grb_request()
    req.add_product("image", energies=[(0.3, 2), (2, 10)] * u.keV, time_range=(608713541, 608714541))
    req.add_product("spectrum", models=["powerlaw", "APEC"], redshift=0.5)
    text = req.to_json()
    data = json.loads(text)
    assert data["format"] == "xrtprods_astro.ProductRequest" and data["version"] == 1
    assert data["products"]["image"] == {"energies": "0.3-2,2-10", "use_obs": "608713541-608714541",
                                         "which_data": "user"}
    back = ProductRequest.from_json(text)
    assert back == req and back.to_wire() == req.to_wire()
    assert list(back.to_wire()) == list(req.to_wire())
    assert ProductRequest.from_json(data) == req
    path = req.save(tmp_path / "req.json")
    loaded = ProductRequest.load(path)
    assert loaded == req and loaded.to_json() == text
    with pytest.raises(FileExistsError):
        req.save(path)
    req.save(path, overwrite=True)


@pytest.mark.parametrize("payload,match", [
    ("not json", "not JSON"),
    ({"globals": {}}, "not a saved ProductRequest"),
    ({"format": "xrtprods_astro.ProductRequest", "version": 99}, "version 99"),
    ({"format": "xrtprods_astro.ProductRequest", "version": 1, "globals": {"poserr": 2}},
     "friendly names"),
    ({"format": "xrtprods_astro.ProductRequest", "version": 1, "globals": {"pos_err": 60}},
     "between 1 and 6"),
])
def test_from_json_errors(payload, match):
    with pytest.raises(InvalidRequestError, match=match):
        ProductRequest.from_json(payload)


# ------------------------------------------------------------------------- astropy inputs

def test_skycoord_any_frame_and_derived_name():
    c = SkyCoord(335.6985, -7.5179, unit="deg")
    gal = c.galactic
    req = ProductRequest(gal, lightcurve=True)
    assert req.params()["ra"] == pytest.approx(335.6985, abs=1e-9)
    assert req.params()["dec"] == pytest.approx(-7.5179, abs=1e-9)
    assert req.params()["name"] == "J222247.6-073104" == coord_name(c)
    assert type(req.to_wire(validate=False)["RA"]) is float


def test_name_target_and_angles():
    req = ProductRequest("GK Per", ra=52.79958 * u.deg, dec=43.90 * u.deg, get_targs=True)
    assert req.params()["name"] == "GK Per"
    assert req.params()["ra"] == 52.79958 and req.params()["dec"] == 43.9
    req = ProductRequest("GK Per", get_coords=True, ra=3.5197 * u.hourangle)
    assert req.params()["ra"] == pytest.approx(52.7955)
    with pytest.raises(InvalidRequestError, match="disagree"):
        ProductRequest("GK Per", name="Other")
    with pytest.raises(InvalidRequestError, match="neither a SkyCoord nor a name"):
        ProductRequest(42)
    with pytest.raises(InvalidRequestError, match="one SkyCoord"):
        ProductRequest(position=(1, 2))


def test_time_range_convenience_and_since_t0():
    t0 = Time("2020-04-16T20:45:00", scale="utc")
    req = minimal(lightcurve={"binning": "snapshot",
                              "time_range": (t0, t0 + 1 * u.h)})
    lc = req.params("lc")
    assert lc["which_data"] == "user"
    start = float(P.lookup("t0").coerce(t0))
    assert lc["use_obs"] == f"{start:.3f}".rstrip("0").rstrip(".") + "-" + \
        f"{start + 3600:.3f}".rstrip("0").rstrip(".")
    # relative to T0 when since_t0 is set
    req = minimal(t0=t0, since_t0=True)
    req.add_product("spectrum", time_range=[(t0 + 100 * u.s, t0 + 1 * u.ks)])
    assert req.params("spectrum")["use_obs"] == "100-1000"
    assert req.params("spectrum")["which_data"] == "user"
    req.add_product("enhanced_position", time_range=(0, 500))
    assert req.params()["pos_use_obs"] == "0-500" and req.params()["pos_which_data"] == "user"
    assert req.params("enhanced_position")["use_obs"] == "0-500"


def test_srcrad_collapses_and_models_are_lists():
    req = minimal(centroid=True, pos_err=2,
                  lightcurve={"binning": "obsid", "srcrad": 40},
                  spectrum={"source_radius": 94.28 * u.arcsec, "models": ("powerlaw", "apec")})
    wire = req.to_wire()
    assert list(wire).count("srcrad") == 1 and wire["srcrad"] == 40
    assert wire["models"] == ["powerlaw", "apec"]
    assert json.loads(json.dumps(wire))["models"] == ["powerlaw", "apec"]


def test_srcrad_set_differently_by_two_products_is_refused_naming_both():
    # One wire key for both products: sending one value would silently drop the other.
    req = minimal(centroid=True, pos_err=2, lightcurve={"binning": "obsid", "srcrad": 10},
                  spectrum={"source_radius": 94.28 * u.arcsec})
    with pytest.raises(InvalidRequestError) as info:
        req.to_wire()
    text = str(info.value)
    assert "lightcurve source_radius=10" in text and "spectrum source_radius=40" in text
    assert "srcrad" in text


def test_spectrum_without_has_redshift_gets_the_stated_default():
    # swifttools refuses a spectrum without hasRedshift; we apply False and say so in the repr.
    req = minimal(centroid=True, pos_err=2, spectrum=True)
    assert req.params("spectrum")["has_redshift"] is False
    assert "'has_redshift': False" in repr(req)
    assert req.to_wire()["specz"] == 0


def test_max_gap_decision():
    req = minimal(lightcurve={"binning": "time", "pcbin": 100, "wtbin": 10, "pcMaxGap": 1 * u.d,
                              "wtmaxGap": 500})
    wire = req.to_wire()
    assert wire["pcmaxgap"] == 86400 and wire["wtmaxgap"] == 500
    assert "pcmaxGap" not in wire and "pcMaxGap" not in wire


# ------------------------------------------------------------------------- triggers (protocol.md 3.9)

def test_triggers():
    req = minimal(lightcurve={"binning": "counts", "use_obs": "00012345001"})
    assert req.params("lc")["which_data"] == "user"
    req.add_product("lc", which_data="all")
    assert "use_obs" not in req.params("lc") and req.params("lc")["which_data"] == "all"
    req.set(pos_use_obs=[12345001])
    assert req.params()["pos_which_data"] == "user"
    req.set(posobs="all")
    assert "pos_use_obs" not in req.params()
    req.set(T0=608713541.952)
    assert req.params()["get_t0"] is False
    req.set(targ=["00012345"])
    assert req.params()["get_targs"] is False
    req.add_product("spectrum", redshift=1.2)
    sp = req.params("spectrum")
    assert sp["has_redshift"] is True and sp["galactic"] is True and sp["redshift"] == 1.2
    req.unset("redshift", product="spectrum")
    assert req.params("spectrum")["has_redshift"] is False and "redshift" not in req.params("spectrum")
    req.add_product("spectrum", do_not_fit=True, has_redshift=True)
    assert req.params("spectrum")["has_redshift"] is True  # set after do_not_fit: the user wins
    req.add_product("spectrum", do_not_fit=True)
    assert req.params("spectrum")["has_redshift"] is False
    req.add_product("spectrum", galactic=False, hasRedshift=True)
    assert req.params("spectrum")["galactic"] is True
    req.set(targ=None)
    assert "targ" not in req.params()


def test_presets_make_spectrum_true_complete():
    req = minimal(centroid=True, pos_err=1, spectrum=True)
    assert dict(req.params("spectrum")) == {"delta_fit_stat": 2.706, "has_redshift": False}
    wire = req.to_wire()
    assert list(wire)[list(wire).index("spec"):] == ["spec", "dchi", "specz"]


# ------------------------------------------------------------------------- validation

def test_every_set_time_problem_at_once():
    with pytest.raises(InvalidRequestError) as info:
        ProductRequest(pos_err=10, ra=3 * u.kg, foo=1, pc_counts=3,
                       lightcurve={"binning": "count", "pcCount": 3, "posErr": 3},
                       image="yes")
    problems = info.value.problems
    assert len(problems) == 8
    text = "\n".join(problems)
    assert "'pos_err' is 10, but must be between 1 and 6 arcmin" in text
    assert "'ra': 3.0 kg has the wrong physical type" in text
    assert "'foo' is not a known parameter" in text
    assert "'pc_counts' is a lightcurve parameter" in text
    assert "did you mean 'counts'?" in text and "allowed: counts, time, snapshot, obsid" in text
    assert "did you mean 'pcCounts'" in text
    assert "'posErr' is a global parameter" in text
    assert "image: 'yes' is not valid" in text


def test_set_is_atomic():
    req = grb_request()
    before = req.copy()
    with pytest.raises(InvalidRequestError):
        req.set(name="new", pos_err=0.01)
    assert req == before and req.params()["name"] == "GRB 200416A"
    with pytest.raises(InvalidRequestError):
        req.add_product("image", which_data="user", energies="bad")
    assert "image" not in req.products


def test_validation_reports_everything():
    req = ProductRequest(lightcurve={"binning": "time", "which_data": "user", "soft_lo": 0.1,
                                     "match_hr": False, "min_energy": 2, "max_energy": 1},
                         spectrum={"timeslice": "user", "which_data": "hours", "rname1": "a"},
                         pos_which_data="hours", centroid=True)
    problems = req.problems()
    text = "\n".join(problems)
    for piece in ["global parameter name is not set",
                  "targ is not set, and nor is the alternative get_targs (UKSSDC getTargs)",
                  "ra (UKSSDC RA) is not set, and nor is the alternative get_coords",
                  "use_sxps (UKSSDC useSXPS) is not set",
                  "centroid=True needs pos_err (UKSSDC posErr)",
                  "pos_which_data='hours' needs pos_obs_time",
                  "lightcurve: binning='time' needs pc_bin_time (UKSSDC pcBinTime)",
                  "lightcurve: binning='time' needs wt_bin_time",
                  "which_data='user' needs use_obs",
                  "match_hr=False needs pc_hr_bin_time",
                  "spectrum: timeslice='user' needs at least one complete pair of rname1/gti1",
                  "spectrum: which_data='hours' needs inc_hours",
                  "'soft_lo' is 0.1, but must be between 2 and 1 keV",
                  "min_energy (2 keV) must be below max_energy (1 keV)"]:
        assert piece in text, piece
    with pytest.raises(InvalidRequestError) as info:
        req.validate()
    assert info.value.problems == problems
    assert str(info.value).startswith("The request is not ready to submit:")
    assert not req.is_valid
    with pytest.raises(InvalidRequestError):
        req.to_wire()
    assert req.to_wire(validate=False)["binMeth"] == "time"


def test_validation_of_products():
    assert "No products have been requested" in ProductRequest(name="x").problems()[0]
    req = minimal(lightcurve={"binning": "counts"}, source_detection=True, image={"which_data": "user"})
    text = "\n".join(req.problems())
    assert "binning='counts' needs pc_counts (UKSSDC pcCounts)" in text
    assert "needs wt_counts" in text and "needs dynamic" in text
    assert ("source_detection: parameter which_data (UKSSDC whichData) is not set (all, user; "
            "xrtprods_astro's default is which_data='all'") in text
    assert "image: which_data='user' needs use_obs" in text
    req = minimal(spectrum={"has_redshift": True})
    assert req.problems() == ["spectrum: has_redshift=True needs redshift, which is not set "
                              "(a number (at least 0); e.g. redshift=1.5)"]
    req = minimal(spectrum={"timeslice": "user", "rname2": "late", "gti2": "608713641-608713741"})
    assert req.is_valid
    req = minimal(lightcurve={"binning": "snapshot", "hard_hi": 12})
    assert req.problems() == ["lightcurve 'hard_hi' is 12, but must be between 0.3 and 10 keV "
                              "(the bounds come from min_energy and max_energy)"]
    req.add_product("lc", max_energy=12)
    assert req.is_valid


def test_source_detection_only_exemptions():
    req = ProductRequest(name="field", get_targs=True, source_detection={"which_data": "all"})
    assert req.problems() == []
    assert req.to_wire() == {"name": "field", "getTargs": 1, "sourceDet": 1, "detobs": "all"}
    req.add_product("image")
    assert len(req.problems()) == 4  # ra, dec, centroid, use_sxps now needed


def test_get_coords_stands_in_for_position():
    req = ProductRequest("GK Per", get_coords=False, targ="00012345", centroid=False, use_sxps=True,
                         image=True)
    # as the reference client: the presence of the key satisfies the check, whatever its value
    assert req.is_valid


# ------------------------------------------------------------------------- product management

def test_add_remove_copy_eq():
    req = grb_request()
    other = req.copy()
    assert other == req and other is not req
    other.add_product("lc", pc_counts=25)
    assert other != req and req.params("lc")["pc_counts"] == 20
    other.remove_product("LightCurve")
    assert "lightcurve" not in other.products and "lc" not in other.to_wire(validate=False)
    with pytest.raises(InvalidRequestError, match="not requested"):
        other.remove_product("lightcurve")
    # removing a position product keeps the shared position globals for the others
    other.add_product("standard_position", pos_radius=30 * u.arcsec)
    other.remove_product("standard_position")
    assert other.params("enhanced_position")["pos_radius"] == 30
    assert other.to_wire()["posRadius"] == 30
    assert (req == "not a request") is False
    with pytest.raises(TypeError):
        hash(req)


def test_global_param_in_product_and_product_param_at_top_level():
    with pytest.raises(InvalidRequestError, match="lightcurve parameter: give it in that product's dict"):
        ProductRequest(binMeth="counts")
    with pytest.raises(InvalidRequestError, match="several products|spectrum"):
        ProductRequest(whichData="all")
    with pytest.raises(InvalidRequestError, match="global parameter"):
        ProductRequest(spectrum={"centroid": True})
