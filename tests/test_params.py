# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the parameter catalogue: every record is encoded, decoded and validated.

The per-record tests are parametrized over `PARAMS`, so a new record is tested
without writing a new test.
"""
import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import params as P
from xrtprods_astro.exceptions import InvalidRequestError
from xrtprods_astro.request import ProductRequest
from xrtprods_astro.times import met_to_time

IDS = [p.qualname for p in P.PARAMS]
UNIT_PARAMS = [p for p in P.PARAMS if p.unit is not None and p.kind not in ("energybands",)]

# One value per kind that must be refused.
BAD = {"bool": "maybe", "int": 2.5, "float": "abc", "degrees": "abc", "str": 42, "choice": "nonsense",
       "models": ["nonsense"], "time": "not a time", "timeranges": 42, "obslist": "123",
       "targets": "abc", "energybands": "3-1"}


def _scope_and_name(p, spelling):
    """Where and under which name a user sets a record, through the request API."""
    if p.is_global:
        return None, spelling
    return p.product, spelling


def _request_with(p, spelling, value):
    req = ProductRequest()
    if p.is_global:
        req.set(**{spelling: value})
    else:
        req.add_product(p.product, **{spelling: value})
    return req


def _expected_wire(p, example):
    if p.kind == "bool":
        return int(example)
    return example


# ------------------------------------------------------------------------- products

def test_products_table():
    assert list(P.PRODUCTS) == ["lightcurve", "spectrum", "standard_position", "enhanced_position",
                                "astrometric_position", "image", "source_detection"]
    codes = {k: (p.long_name, p.code, p.flag, p.archive_stem) for k, p in P.PRODUCTS.items()}
    assert codes["lightcurve"] == ("LightCurve", "lc", "lc", "lc")
    assert codes["standard_position"] == ("StandardPos", "psf", "dopsf", "psf")
    assert codes["enhanced_position"] == ("EnhancedPos", "enh", "doenh", "enh")
    assert codes["astrometric_position"] == ("AstromPos", "xastrom", "doxastrom", "xastrom")
    assert codes["source_detection"] == ("SourceDet", "sourceDet", "sourceDet", "sourceDet")
    assert P.PRODUCTS["lightcurve"].label == "light curve"
    assert [k for k, p in P.PRODUCTS.items() if p.position] == [
        "standard_position", "enhanced_position", "astrometric_position"]


@pytest.mark.parametrize("spelling", ["lightcurve", "LightCurve", "lc", "light curve", "Light_Curve"])
def test_product_spellings(spelling):
    assert P.product(spelling) is P.PRODUCTS["lightcurve"]


@pytest.mark.parametrize("spelling,key", [("dopsf", "standard_position"), ("psf", "standard_position"),
                                          ("xastrom", "astrometric_position"), ("AstromPos",
                                                                                "astrometric_position"),
                                          ("sourceDet", "source_detection"), ("spec", "spectrum")])
def test_product_codes_and_flags(spelling, key):
    assert P.product(spelling).key == key


def test_every_spelling_of_every_product_is_found():
    # The lookup table must accept exactly what the documented rule accepts: any of a product's five
    # names, and the aliases, with case and "-", "_", spaces ignored.
    for key, prod in P.PRODUCTS.items():
        for name in (prod.key, prod.long_name, prod.label, prod.code, prod.flag):
            for variant in (name, name.upper(), name.replace("_", " "), f" {name.title()} ",
                            name.replace(" ", "-")):
                assert P.product(variant) is prod, variant
    for alias, key in [("StandardPos", "standard_position"), ("Enhanced-Pos", "enhanced_position"),
                       ("astrom_pos", "astrometric_position"), ("Source List", "source_detection")]:
        assert P.product(alias).key == key
    for wrong in ("", "lightcurves", "pos", "light_curve_x"):
        with pytest.raises(InvalidRequestError, match="is not a product"):
            P.product(wrong)


def test_unknown_product_suggests():
    with pytest.raises(InvalidRequestError, match="lightcurv.*did you mean 'lightcurve'"):
        P.product("lightcurv")
    with pytest.raises(InvalidRequestError, match="3 is not a product"):
        P.product(3)


# ------------------------------------------------------------------------- catalogue consistency

def test_catalogue_is_consistent():
    for scope in [None, *P.PRODUCTS]:
        own = [p for p in P.PARAMS if p.product == scope]
        assert len({p.name for p in own}) == len(own), scope
        assert len({p.wire for p in own}) == len(own), scope
    global_wires = {p.wire for p in P.PARAMS if p.is_global}
    flags = {p.flag for p in P.PRODUCTS.values()}
    for p in P.PARAMS:
        assert p.doc and p.example is not P.UNSET, p.qualname
        assert p.kind in BAD, p.qualname
        if not p.is_global:
            assert p.wire not in global_wires, p.qualname
        assert p.wire not in flags, p.qualname
        for rule in p.requires:
            for name in rule.names:
                assert name in P._BY_SCOPE[p.product], (p.qualname, name)
        for trig in p.implies:
            assert trig.target in P._BY_SCOPE[p.product], (p.qualname, trig.target)
        if p.allowed and p.default is not P.UNSET and p.kind == "choice":
            assert p.default in p.allowed, p.qualname
    # the only wire key shared between products is the source radius
    product_wires = [p.wire for p in P.PARAMS if not p.is_global]
    assert {w for w in product_wires if product_wires.count(w) > 1} == {"srcrad"}
    # every global of protocol.md section 3.2 is there, including the six shared position globals
    assert {p.wire for p in P.PARAMS if p.is_global} == {
        "name", "targ", "Tstart", "SinceT0", "RA", "Dec", "cent", "centMeth", "maxCentTries", "poserr",
        "sss", "useSXPS", "wtpuprate", "pcpuprate", "notify", "getCoords", "getTargs", "getT0",
        "posRadius", "posobs", "useposobs", "posobstime", "detMeth", "detornot"}
    assert sum(1 for p in P.PARAMS if p.shared_name) == 6
    assert {p.wire for p in P.params_for("spectrum")} >= {f"rname{i}" for i in range(1, 5)} | {
        f"gti{i}" for i in range(1, 5)}


@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_example_is_valid_and_stable(p):
    stored = p.coerce(p.example)
    # coercion is idempotent: what is stored (and saved as JSON) reads back unchanged
    assert p.coerce(stored) == stored
    assert type(p.coerce(stored)) is type(stored)


# ------------------------------------------------------------------------- lookup

@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_lookup_every_spelling(p):
    for spelling in p.spellings():
        if p.is_global:
            assert P.lookup(spelling) is p
        else:
            assert P.lookup(spelling, p.product) is p
            assert P.lookup(spelling.upper() if spelling.islower() else spelling, p.product) is p
    if p.shared_name:
        for pos in ("standard_position", "enhanced_position", "astrometric_position"):
            assert P.lookup(p.shared_name, pos) is p
            assert P.lookup(p.shared_ukssdc, pos) is p


def test_lookup_conflicts_and_suggestions():
    # centMeth is the global centroid method, but in a position product it is detMeth
    assert P.lookup("centMeth").wire == "centMeth"
    assert P.lookup("centMeth", "enhanced_position").wire == "detMeth"
    assert P.lookup("grades", "spectrum").wire == "specgrades"
    assert P.lookup("grades", "lightcurve").wire == "grades"
    assert P.lookup("pcMaxGap", "lc").wire == "pcmaxgap"
    assert P.lookup("pcmaxGap", "lc").wire == "pcmaxgap"
    assert P.lookup("timeType", "lc").name == "time_format"
    with pytest.raises(InvalidRequestError, match="several products"):
        P.lookup("which_data")
    with pytest.raises(InvalidRequestError, match="did you mean 'pc_counts'"):
        P.lookup("pc_count")
    with pytest.raises(InvalidRequestError, match="global parameter.*pos_err"):
        P.lookup("posErr", "lightcurve")
    with pytest.raises(InvalidRequestError, match="catalogue_table"):
        P.lookup("nonsense_name", "image")


def test_user_name_for_wire_and_translation():
    assert P.user_name_for_wire("poserr") == "pos_err"
    assert P.user_name_for_wire("pccounts") == "lightcurve.pc_counts"
    assert P.user_name_for_wire("pccounts", "lc") == "pc_counts"
    assert P.user_name_for_wire("srcrad") == "lightcurve/spectrum.source_radius"
    assert P.user_name_for_wire("specgrades") == "spectrum.grades"
    assert P.user_name_for_wire("nonsense") is None
    assert (P.translate_wire_names("poserr is 0.01, but must be between 1 and 6")
            == "pos_err is 0.01, but must be between 1 and 6")
    assert P.translate_wire_names("pccounts") == "lightcurve.pc_counts"
    assert (P.translate_wire_names("Missing: Dec, cent, Tstart; pcmaxGap bad")
            == "Missing: dec, centroid, t0; lightcurve.pc_max_gap bad")
    # words merely containing a wire name are left alone
    assert P.translate_wire_names("percent poserror centroid") == "percent poserror centroid"
    assert P.translate_wire_names(None) is None


@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_translation_covers_every_wire_name(p):
    text = P.translate_wire_names(f"{p.wire} is wrong")
    expected = p.name if p.is_global else f"{p.product}.{p.name}"
    if p.wire == "srcrad":
        expected = "lightcurve/spectrum.source_radius"
    assert text == f"{expected} is wrong"


def test_catalogue_table():
    t = P.catalogue_table()
    assert isinstance(t, Table)
    assert t.colnames == ["product", "name", "ukssdc", "wire", "kind", "unit", "default", "allowed", "doc"]
    assert len(t) == len(P.PARAMS)
    row = t[list(t["wire"]).index("poserr")]
    assert (row["name"], row["ukssdc"], row["unit"], row["product"]) == ("pos_err", "posErr", "arcmin", "")
    lc = P.catalogue_table("lc")
    assert "product" not in lc.colnames
    assert list(lc["wire"]) == [p.wire for p in P.params_for("lightcurve")]
    row = lc[list(lc["name"]).index("binning")]
    assert row["allowed"] == "counts, time, snapshot, obsid"
    psf = P.catalogue_table("standard_position")
    assert list(psf["name"]) == ["which_data", "use_obs", "inc_hours", "pos_radius", "det_or_cent",
                                 "cent_method"]
    assert list(psf["wire"])[-1] == "detMeth"
    ast = P.catalogue_table("astrometric_position")
    assert list(ast["wire"])[-1] == "allxastrom"


# ------------------------------------------------------------------------- encoding, per record

@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_encoding_every_spelling(p):
    for spelling in dict.fromkeys([p.name, p.ukssdc, p.wire]):
        wire = _request_with(p, spelling, p.example).to_wire(validate=False)
        assert wire[p.wire] == _expected_wire(p, p.example)
        assert type(wire[p.wire]) is type(_expected_wire(p, p.example))
        if not p.is_global:
            assert wire[P.PRODUCTS[p.product].flag] == 1


@pytest.mark.parametrize("p", [p for p in P.PARAMS if p.kind == "choice"], ids=lambda p: p.qualname)
def test_encoding_closed_sets_are_canonical(p):
    value = str(p.example).upper()
    wire = _request_with(p, p.name, value).to_wire(validate=False)
    assert wire[p.wire] == str(p.example).lower()


@pytest.mark.parametrize("p", UNIT_PARAMS, ids=lambda p: p.qualname)
def test_encoding_quantities(p):
    # the example in the wire unit, but expressed in another unit of the same kind
    other = {u.deg: u.arcmin, u.arcmin: u.arcsec, u.arcsec: u.deg, u.s: u.min, u.h: u.min,
             u.keV: u.eV, u.ct: u.ct, u.ct / u.s: u.ct / u.min, u.pix: u.pix}[p.unit]
    q = (p.example * p.unit).to(other)
    wire = _request_with(p, p.name, q).to_wire(validate=False)
    assert wire[p.wire] == pytest.approx(p.example, rel=1e-12)
    if p.kind == "int":
        assert type(wire[p.wire]) is int


@pytest.mark.parametrize("p", UNIT_PARAMS, ids=lambda p: p.qualname)
def test_wrong_physical_type_names_parameter(p):
    with pytest.raises(InvalidRequestError) as info:
        _request_with(p, p.ukssdc, 3 * u.kg)
    assert repr(p.ukssdc) in str(info.value)


@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_bad_value_message_names_parameter_as_typed(p):
    with pytest.raises(InvalidRequestError) as info:
        _request_with(p, p.ukssdc, BAD[p.kind])
    err = info.value
    assert len(err.problems) == 1
    assert repr(p.ukssdc) in err.problems[0]
    if p.allowed:
        assert all(str(a) in err.problems[0] for a in p.allowed)


NUMERIC_BOUNDS = [p for p in P.PARAMS if p.bounds and not any(isinstance(b, str) for b in p.bounds)]


@pytest.mark.parametrize("p", NUMERIC_BOUNDS, ids=lambda p: p.qualname)
def test_bounds_are_enforced(p):
    low, high = p.bounds
    bad = (low - 1) if low is not None else (high + 1)
    with pytest.raises(InvalidRequestError, match=f"'{p.name}' is {bad}, but must be"):
        _request_with(p, p.name, bad)


# ------------------------------------------------------------------------- decoding, per record

@pytest.mark.parametrize("p", P.PARAMS, ids=IDS)
def test_decoding_from_job_pars(p):
    stored = p.coerce(p.example)
    wire = _expected_wire(p, p.example)
    flag = {} if p.is_global else {P.PRODUCTS[p.product].flag: 1}
    variants = [wire]
    if isinstance(wire, (int, float)) and not isinstance(wire, bool):
        variants.append(str(wire))  # servers may echo numbers as strings
    for value in variants:
        req = ProductRequest.from_job_pars({**flag, p.wire: value, "outdir": "/tmp/x"})
        view = req.params() if p.is_global else req.params(p.product)
        assert view[p.name] == stored
        assert type(view[p.name]) is type(stored)
    for alias in p.wire_aliases:
        req = ProductRequest.from_job_pars({**flag, alias: wire})
        view = req.params() if p.is_global else req.params(p.product)
        assert view[p.name] == stored


@pytest.mark.parametrize("value,expected", [(1, True), ("1", True), ("yes", True), (True, True),
                                            (0, False), ("0", False), ("2SXPS", False), (False, False)])
def test_bool_decoding_is_tolerant(value, expected):
    assert P.lookup("use_sxps").decode(value) is expected


def test_models_decoding_from_strings():
    models = P.lookup("models", "spectrum")
    assert models.decode(["powerlaw", "APEC"]) == ["powerlaw", "APEC"]
    assert models.decode('["powerlaw", "apec"]') == ["powerlaw", "apec"]
    assert models.decode("powerlaw,blackbody") == ["powerlaw", "blackbody"]


# ------------------------------------------------------------------------- conversions

def test_source_radius_from_angle_uses_plate_scale():
    p = P.lookup("srcrad", "lightcurve")
    assert p.coerce(47.14 * u.arcsec) == 20
    assert p.coerce(1 * u.arcmin) == round(60 / 2.357)
    assert p.coerce(12 * u.pix) == 12
    assert p.coerce(12) == 12
    with pytest.raises(InvalidRequestError, match="not an integer"):
        p.coerce(12.5)


def test_energy_and_time_units():
    assert P.lookup("minen", "lc").coerce(500 * u.eV) == 0.5
    assert P.lookup("maxen", "lc").coerce(10 * u.keV) == 10
    assert P.lookup("pcbin", "lc").coerce(2 * u.min) == 120
    assert P.lookup("posobstime").coerce(90 * u.min) == 1.5
    assert P.lookup("posRadius").coerce(0.5 * u.arcmin) == 30
    assert P.lookup("pcpuprate").coerce(60 * u.ct / u.min) == 1
    assert P.lookup("poserr").coerce(90 * u.arcsec) == 1.5
    # a plain number is in the wire unit, unchanged
    assert P.lookup("poserr").coerce(2.5) == 2.5


def test_t0_from_time_is_exact_met():
    p = P.lookup("T0")
    assert p.coerce(met_to_time(608713541.952)) == 608713541.952
    assert p.coerce(608713541.952) == 608713541.952
    # Through the clock table, which gives UTC 10:39:35.785 for MET 600000000.
    assert p.coerce(Time("2020-01-06T10:39:35.785", scale="utc")) == pytest.approx(600000000, abs=1e-3)
    assert p.coerce("2020-01-06T10:39:35.785") == pytest.approx(600000000, abs=1e-3)
    with pytest.raises(InvalidRequestError, match="expected one time"):
        p.coerce(Time(["2020-01-01", "2020-01-02"]))


def test_obs_lists_and_time_ranges():
    p = P.lookup("useObs", "lightcurve")
    assert p.coerce([12345001, "00012345002"]) == "00012345001,00012345002"
    assert p.coerce(12345001) == "00012345001"
    assert p.coerce("00012345001, 00012345002") == "00012345001,00012345002"
    assert p.coerce("608713541-608714541") == "608713541-608714541"
    assert p.coerce(met_to_time([600000000, 600003600])) == "600000000-600003600"
    assert p.coerce([(0, 1000) * u.s, (2000, 3000) * u.s]) == "0-1000,2000-3000"
    with pytest.raises(InvalidRequestError, match="not an obsID"):
        p.coerce("12345")
    with pytest.raises(InvalidRequestError, match="at most 11 digits"):
        p.coerce([10**12])
    gti = P.lookup("gti1", "spectrum")
    assert gti.coerce((100 * u.s, 1 * u.ks)) == "100-1000"
    with pytest.raises(InvalidRequestError, match="time range"):
        gti.coerce("00012345001")


def test_targets_and_energy_bands():
    targ = P.lookup("targ")
    assert targ.coerce([945521, "13267"]) == "00945521,00013267"
    assert targ.coerce("00945521") == "00945521"
    with pytest.raises(InvalidRequestError, match="not a Swift target ID"):
        targ.coerce("123456789")
    imen = P.lookup("energies", "image")
    assert imen.coerce([[0.3, 10], [0.3, 1.5]] * u.keV) == "0.3-10,0.3-1.5"
    assert imen.coerce((300 * u.eV, 2 * u.keV)) == "0.3-2"
    assert imen.coerce(np.array([0.5, 2.0])) == "0.5-2"
    with pytest.raises(InvalidRequestError, match="not an energy"):
        imen.coerce([1, 2] * u.s)


def test_models_validation():
    p = P.lookup("models", "spectrum")
    assert p.coerce("apec") == ["apec"]
    assert p.coerce(("PowerLaw", "apec")) == ["PowerLaw", "apec"]
    with pytest.raises(InvalidRequestError, match="at least one model"):
        p.coerce([])


# ------------------------------------------------------------------------- rules and triggers, per record

RULES = [(p, rule) for p in P.PARAMS for rule in p.requires]
TRIGGERS = [(p, trig) for p in P.PARAMS for trig in p.implies]


def _complete(p):
    """A valid request that holds the record's product (or an image, for globals)."""
    req = ProductRequest(name="src", ra=1.0, dec=2.0, targ="00012345", centroid=False, use_sxps=False)
    key = p.product or "image"
    quiet = {}
    for q in P.params_for(key):
        if q.mandatory and not q.is_global and q.preset is P.UNSET:
            # a value of the mandatory parameter that brings in no further requirement
            conditions = [r.when for r in q.requires]
            quiet[q.name] = next(a for a in (q.allowed or (q.example,)) if a not in conditions)
    req.add_product(key, **quiet)
    return req


def _problems_about(req, name):
    return [x for x in req.problems() if f"needs {name}" in x or f"{name}/" in x or f"/{name}" in x]


@pytest.mark.parametrize("p,rule", RULES, ids=[f"{p.qualname}={r.when}" for p, r in RULES])
def test_every_requirement(p, rule):
    req = _complete(p)
    owner = {p.name: rule.when}
    if p.is_global:
        req.set(**owner)
    else:
        req.add_product(p.product, **owner)
    missing = rule.names[:2] if rule.mode == "pair" else rule.names
    for name in missing:
        found = _problems_about(req, name)
        assert found, (name, req.problems())
        assert all(repr(rule.when) in x and p.name in x for x in found)
    # supplying the needed values (one pair suffices for "pair" rules) clears them
    for name in missing:
        q = P._BY_SCOPE[p.product][name]
        if p.is_global:
            req.set(**{name: q.example})
        else:
            req.add_product(p.product, **{name: q.example})
    for name in rule.names:
        assert not _problems_about(req, name)
    assert req.is_valid, req.problems()


@pytest.mark.parametrize("p,trig", TRIGGERS, ids=[f"{p.qualname}->{t.target}" for p, t in TRIGGERS])
def test_every_trigger(p, trig):
    req = _complete(p)

    def setp(**kw):
        if p.is_global:
            req.set(**kw)
        else:
            req.add_product(p.product, **kw)

    def view():
        return req.params() if p.is_global else req.params(p.product)

    target = P._BY_SCOPE[p.product][trig.target]
    value = p.example if trig.when in (P.ANY, P.REMOVED) else trig.when
    if trig.value is P.REMOVED:
        setp(**{target.name: target.example})
        setp(**{p.name: value})
        assert target.name not in view()
        return
    if trig.when is P.REMOVED:
        setp(**{p.name: value})
        req.unset(p.name, product=p.product)
        assert p.name not in view()
    else:
        setp(**{p.name: value})
    assert view()[target.name] == trig.value
    assert type(view()[target.name]) is type(trig.value)
