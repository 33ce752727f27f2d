# Licensed under a 3-clause BSD style license - see LICENSE
"""The GRB repository client (xrtprods_astro/grb.py), against the local service and real files.

The tests named ``test_bug_*`` each pin one defect of the official client
(``swifttools.ukssdc.data.GRB``) listed in shared/spec/grb-repository.md that this client beats;
``test_swifttools_documented_calls`` runs the official client's documented calls unchanged against
the local service.
"""
import os
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time

from xrtprods_astro import GRBClass, GRBs
from xrtprods_astro.exceptions import (InvalidRequestError, ProductUnavailableError, ReaderError,
                                       RemoteServiceError, ResolverError, ServiceUnavailableError)
from xrtprods_astro.grb import grb_name
from xrtprods_astro.readers.grb import read_grb_positions, read_grb_spectral_fits
from xrtprods_astro.readers.lightcurve import LightCurve

REAL = Path(__file__).parent / "data" / "real"
FLUX_SAMPLE = REAL / "annayqho__AT2022tsd/data/xray/data_xray_lcs/GRBs/sample"
T0_060729 = 175893150.244       # the simulated GRB 060729's trigger (the real one's, to the ms)


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbsvc"))
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
    """Every common-API function the client sends, in order, with its payload."""
    calls = []
    original = grbs._transport.call_common

    def spy(url, func, payload, **kwargs):
        calls.append((func, dict(payload)))
        return original(url, func, payload, **kwargs)

    monkeypatch.setattr(grbs._transport, "call_common", spy)
    return calls


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("text, expected", [
    ("GRB 060729", "GRB 060729"), ("GRB060729", "GRB 060729"), ("grb 060729", "GRB 060729"),
    ("060729", "GRB 060729"), ("080319B", "GRB 080319B"), ("grb080319b", "GRB 080319B"),
    ("GRB_101225A", "GRB 101225A"), (" GRB 101225a ", "GRB 101225A"),
    ("GRB 061329", None), ("GK Per", None), ("221755", None), ("", None)])
def test_grb_name_spellings(text, expected):
    assert grb_name(text) == expected


def test_the_ready_instance_is_exported():
    assert isinstance(GRBs, GRBClass)


@pytest.mark.parametrize("spelling", ["GRB 060729", "GRB060729", "grb 060729", "060729", 221755, "00221755",
                                      "221755", np.int64(221755)])
def test_every_spelling_gives_the_target(grbs, spelling):
    assert grbs.target_id(spelling) == 221755


def test_names_sent_in_the_documented_form(grbs, sent):
    grbs.target_id("grb080319b")
    assert sent == [("GRBNameToTargetID", {"name": "GRB 080319B"})]


def test_target_ids_are_not_looked_up(grbs, sent):
    assert grbs.target_id("00306757") == 306757
    assert sent == []


def test_many_names_one_lookup_each(grbs, sent):
    table = grbs.resolve(["GRB 060729", "GRB060729", "GRB 080319B", 441015])
    assert list(table["target_id"]) == [221755, 221755, 306757, 441015]
    assert list(table["query"]) == ["GRB 060729", "GRB060729", "GRB 080319B", "441015"]
    assert list(table["grb"]) == ["GRB 060729", "GRB 060729", "GRB 080319B", ""]
    # The two spellings of GRB 060729 are one name once normalised: looked up once.
    assert [f for f, _ in sent] == ["GRBNameToTargetID"] * 2


def test_unknown_names_are_all_named(grbs):
    with pytest.raises(ResolverError) as info:
        grbs.resolve(["GRB 060729", "GRB 990101", "GRB 010101A"])
    assert "'GRB 990101'" in str(info.value) and "'GRB 010101A'" in str(info.value)
    assert "060729" not in str(info.value)


def test_unknown_names_masked_on_request(grbs):
    table = grbs.resolve(["GRB 990101", "GRB 080319B"], unknown="mask")
    assert list(table["target_id"].mask) == [True, False]


@pytest.mark.parametrize("bad", ["GK Per", None, True, -5, 3.5, "GRB 061399"])
def test_invalid_grb_is_refused_before_anything_is_sent(grbs, sent, bad):
    with pytest.raises(InvalidRequestError, match="grb"):
        grbs.get_lightcurve(bad)
    assert sent == []


def test_invalid_options_are_refused_before_anything_is_sent(grbs, sent):
    with pytest.raises(InvalidRequestError, match="incbad.*'both'"):
        grbs.get_lightcurve("GRB 060729", incbad="yes please")
    with pytest.raises(InvalidRequestError, match="kinds.*'enhanced'"):
        grbs.get_positions("GRB 060729", ["nearby"])
    with pytest.raises(InvalidRequestError, match="unknown"):
        grbs.resolve(["GRB 060729"], unknown="ignore")
    assert sent == []


# ---------------------------------------------------------------- light curves
def test_lightcurve_is_the_package_type_with_units_and_times(grbs):
    lc = grbs.get_lightcurve("GRB 060729")
    assert isinstance(lc, LightCurve)
    assert lc.meta["grb"] == "GRB 060729" and lc.meta["target_id"] == 221755
    assert lc.meta["t0_met"] == pytest.approx(T0_060729)
    # T0's UTC as UKSSDC states it (the curve.qdp header), so the clock correction is known.
    assert lc.meta["time_source"] == "t0.date" and lc.meta["time_error"] == 1 * u.ms
    assert abs((lc.meta["t0"] - Time("2006-07-29T19:12:28.888")).sec) < 2e-3
    assert all(name.endswith("_incbad") for name in lc)             # the default, as swifttools'
    pc = lc["PC_incbad"]
    assert pc["rate"].unit == u.ct / u.s and pc["t_since_t0"].unit == u.s
    assert isinstance(pc["time"], Time)
    assert np.all(pc["rate_err_neg"] >= 0) and np.all(pc["time_err_neg"] >= 0)
    assert abs((pc["time"][0] - lc.meta["t0"]).sec - pc["t_since_t0"][0]) < 1e-3
    assert lc["PCUL_incbad"]["upper_limit"].all()
    assert set(lc["PCHR_incbad"].colnames) >= {"hr", "hr_err"}


@pytest.mark.parametrize("incbad, nosys, check", [
    (False, False, lambda n: "_incbad" not in n and "_nosys" not in n),
    ("both", False, lambda n: "_nosys" not in n),
    (False, True, lambda n: "_nosys" in n and "_incbad" not in n)])
def test_lightcurve_variants(grbs, incbad, nosys, check):
    lc = grbs.get_lightcurve(221755, incbad=incbad, nosys=nosys)
    assert lc.datasets and all(check(name) for name in lc)


def test_lightcurve_sends_what_swifttools_sends(grbs, sent):
    grbs.get_lightcurve(221755)
    assert sent == [("downloadLightCurve",
                     {"type": "GRB", "objectID": 221755, "incbad": "yes", "nosys": "no"})]


def test_lightcurves_of_many_grbs(grbs):
    curves = grbs.get_lightcurves(["GRB 060729", "GRB 080319B"])
    assert list(curves) == ["GRB 060729", "GRB 080319B"]
    assert curves["GRB 080319B"].meta["target_id"] == 306757
    assert curves["GRB 080319B"].meta["t0_met"] != curves["GRB 060729"].meta["t0_met"]


def test_flux_lightcurve_from_the_repository(grbs):
    lc = grbs.get_flux_lightcurve("GRB 060729")
    assert lc.meta["quantity"] == "flux" and lc.meta["target_id"] == 221755
    flux_unit = u.erg / u.cm ** 2 / u.s
    assert lc["PC"]["flux"].unit == flux_unit and "rate" not in lc["PC"].colnames
    assert lc["PC"].meta["kind"] == "flux" and lc["PCUL"]["upper_limit"].all()
    assert 1e-15 < np.median(lc["PC"]["flux"].value) < 1e-8
    # The same bins as the count-rate curve.
    rate = grbs.get_lightcurve("GRB 060729", incbad=False)
    assert np.allclose(lc["PC"]["t_since_t0"], rate["PC"]["t_since_t0"], atol=1e-3)


def _serve_text(monkeypatch, grbs, files):
    def get_text(url, cache=False):
        name = url.rsplit("/", 1)[-1]
        if name not in files:
            raise RemoteServiceError(f"HTTP 404 for {url}")
        return files[name]
    monkeypatch.setattr(grbs._transport, "get_text", get_text)


def test_flux_lightcurve_reads_the_real_repository_file(grbs, monkeypatch):
    # The real flux.qdp of GRB 060729, header block and all: its T0 line gives T0 and its UTC.
    _serve_text(monkeypatch, grbs, {"flux.qdp": (FLUX_SAMPLE / "GRB060729_lc/flux.qdp").read_text()})
    monkeypatch.setattr(grbs, "target_id", lambda grb: 221755)
    lc = grbs.get_flux_lightcurve("GRB 060729")
    assert lc.meta["quantity"] == "flux" and lc.meta["time_source"] == "header"
    assert lc.meta["t0_met"] == 175893150.6
    assert all(lc[name]["flux"].unit == u.erg / u.cm ** 2 / u.s for name in lc)


def test_flux_lightcurve_bare_dialect_takes_t0_from_curve_qdp(grbs, monkeypatch):
    # GRB 111209A's real flux.qdp has no header (the newer bare dialect): T0 comes from curve.qdp.
    header = (" ! Swift/XRT lightcurve of trigger: 509336, name: GRB 111209A\n"
              " ! T0 for this burst is Swift MET=345193933.0 s, = 2011 Dec 09 at 07:12:08.123 UT\n")
    _serve_text(monkeypatch, grbs, {"flux.qdp": (FLUX_SAMPLE / "GRB111209A_lc/flux.qdp").read_text(),
                                    "curve.qdp": header})
    monkeypatch.setattr(grbs, "target_id", lambda grb: 509336)
    lc = grbs.get_flux_lightcurve("GRB 111209A")
    assert lc.meta["quantity"] == "flux" and lc.meta["t0_met"] == 345193933.0
    assert lc.meta["time_source"] == "utcf"
    assert abs((lc.meta["t0"] - Time("2011-12-09T07:12:08.123")).sec) < 2e-3
    assert lc.datasets == ["WTSLEW", "WT", "PC_incbad"]
    assert lc["WT"]["flux"].unit == u.erg / u.cm ** 2 / u.s and isinstance(lc["WT"]["time"], Time)


def test_flux_lightcurve_without_any_t0_says_so(grbs, monkeypatch):
    _serve_text(monkeypatch, grbs, {"flux.qdp": (FLUX_SAMPLE / "GRB111209A_lc/flux.qdp").read_text()})
    monkeypatch.setattr(grbs, "target_id", lambda grb: 509336)
    with pytest.warns(Warning, match="T0 is unknown"):
        lc = grbs.get_flux_lightcurve(509336)
    assert "time" not in lc["WT"].colnames and lc["WT"]["t_since_t0"].unit == u.s


def test_count_rates_are_never_read_as_flux(grbs, monkeypatch):
    # A count-rate curve.qdp served where flux.qdp should be: refused, not labelled flux or rate.
    counts = (REAL / "jracusin__GRBfits/GRBs/GRB060403/curve.qdp").read_text()
    _serve_text(monkeypatch, grbs, {"flux.qdp": counts})
    monkeypatch.setattr(grbs, "target_id", lambda grb: 203755)
    with pytest.raises(ReaderError, match="no flux columns"):
        grbs.get_flux_lightcurve("GRB 060403")


def test_unknown_targetid_is_a_service_error(grbs):
    with pytest.raises(RemoteServiceError, match="not a GRB"):
        grbs.get_lightcurve(30842)


def test_products_are_not_cached_unless_asked(grbs, svc):
    # The repository's curves grow while Swift observes: asked for again by default.
    grbs.get_lightcurve(221755)
    before = svc.request_counts().get("main", 0)
    grbs.get_lightcurve(221755)
    assert svc.request_counts()["main"] == before + 1
    grbs.get_lightcurve(221755, cache=True)
    cached = svc.request_counts()["main"]
    again = grbs.get_lightcurve(221755, cache=True)
    assert svc.request_counts()["main"] == cached and "PC_incbad" in again


# ---------------------------------------------------------------- positions
def test_positions(grbs):
    pos = grbs.get_positions("GRB 080319B")
    assert list(pos) == ["best", "enhanced", "standard", "sper", "onboard"]
    best = pos["best"]
    assert isinstance(best.coord, SkyCoord) and best.err90.unit == u.arcsec
    assert best.coord.separation(SkyCoord(217.92067, 36.30226, unit="deg")) < 5 * u.arcsec
    assert best.details["from"] == "enhanced"
    assert not pos["sper"].found and "SPER" in pos["sper"].reason
    assert pos["standard"].err90 > pos["enhanced"].err90


def test_best_position_and_subset(grbs, sent):
    assert grbs.get_position("GRB 101225A").found
    assert sent[-1] == ("getGRBPositions", {"posToGet": ["Best"], "targetID": 441015})
    some = grbs.get_positions(441015, ["enhanced", "SPER"])
    assert list(some) == ["enhanced", "sper"]


def test_positions_of_many(grbs):
    many = grbs.get_positions_many(["GRB 080319B", "GRB 101225A"], ["enhanced"])
    assert list(many) == ["GRB 080319B", "GRB 101225A"]
    assert many["GRB 101225A"]["enhanced"].coord.dec.deg == pytest.approx(44.60034, abs=2e-3)


def test_documented_positions_answer_is_read():
    # Verbatim from the swifttools docs (spec §8): Best_Err90 a string, SPER null.
    answer = {'Best_RA': 217.92067, 'Best_Decl': 36.30226, 'Best_Err90': '1.4',
              'Enhanced_RA': 217.92067, 'Enhanced_Decl': 36.30226, 'Enhanced_Err90': 1.4,
              'Standard_RA': 217.9197187854, 'Standard_Decl': 36.3024413265, 'Standard_Err90': 3.5,
              'SPER_RA': None, 'SPER_Decl': None, 'SPER_Err90': None,
              'Onboard_RA': 217.9196, 'Onboard_Decl': 36.3041, 'Onboard_Err90': 4.7}
    pos = read_grb_positions(answer)
    assert pos["best"].err90 == 1.4 * u.arcsec and pos["best"].details["from"] == "enhanced"
    assert pos["onboard"].coord.dec.deg == 36.3041 and not pos["sper"].found
    with pytest.raises(ReaderError, match="only some"):
        read_grb_positions({"Best_RA": 1.0, "Best_Decl": None, "Best_Err90": "1"})


# ---------------------------------------------------------------- spectra
# Verbatim from the swifttools docs (spec §6.2), GRB 130925A's late_time.
DOC_SPECTRUM = {"T0": 401775096, "DeltaFitStat": 2.706, "rnames": ["late_time"], "late_time": {
    "DataFile": "https://www.swift.ac.uk/xrt_spectra/00571830/late_time.tar.gz",
    "Start": 5502.69384342432, "Stop": 40413.0104033947, "Modes": ["PC"],
    "PC": {"Models": ["PowerLaw"], "PowerLaw": {
        "GalacticNH": 1.74728e+20, "NH": 3.15504e+22, "NHPos": 3.276992999999999e+21,
        "NHNeg": -3.0701709200000014e+21, "Redshift_abs": 0.347, "Gamma": 2.68868,
        "GammaPos": 0.14820270499999966, "GammaNeg": -0.13902135400000004,
        "ObsFlux": 6.826529950876817e-11, "ObsFluxPos": 3.594728145422862e-12,
        "ObsFluxNeg": -3.3616900080457612e-12, "UnabsFlux": 2.852200160603111e-10,
        "UnabsFluxPos": 6.096089137778289e-11, "UnabsFluxNeg": -4.542858750653171e-11,
        "Cstat": 450.7716251, "Dof": 470, "FitChi": 458.30322,
        "Image": "https://www.swift.ac.uk/xrt_spectra/00571830/late_timepc_plot.gif"},
        "Exposure": 4966.961300075054, "MeanTime": 18497.190929234}}}


def test_documented_spectrum_answer_frozen_flags_and_units():
    table = read_grb_spectral_fits(DOC_SPECTRUM, target_id=571830, grb="GRB 130925A")
    row = table[0]
    assert row["galactic_nh_frozen"] and row["redshift_frozen"]
    assert not row["nh_frozen"] and not row["gamma_frozen"]
    assert table["nh"].unit == u.cm ** -2 and table["obs_flux"].unit == u.erg / u.cm ** 2 / u.s
    assert row["nh_err_neg"] == pytest.approx(3.0701709200000014e+21)     # a positive magnitude
    assert table.meta["grb"] == "GRB 130925A" and table.meta["t0_met"] == 401775096


def test_spectral_fits(grbs):
    table = grbs.get_spectral_fits("GRB 060729")
    assert list(table["interval"]) == ["interval0", "interval0", "late_time"]
    assert list(table["mode"]) == ["WT", "PC", "PC"]
    assert table["galactic_nh_frozen"].all() and table["redshift_frozen"].all()
    assert not table["gamma_frozen"].any()
    assert table["gamma"].unit == u.dimensionless_unscaled and table["exposure"].unit == u.s
    # T0's clock correction comes from the repository, as for the light curve.
    assert table.meta["time_source"] == "utcf"
    assert abs((table.meta["t0"] - Time("2006-07-29T19:12:28.888")).sec) < 2e-3


def test_spectra_downloaded_verified_and_read(grbs, tmp_path):
    spectra = grbs.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert list(spectra) == ["late_time"]
    pc = spectra["late_time"]["PC"]
    assert isinstance(pc.spectrum, fits.HDUList) and pc.spectrum[1].header["BACKFILE"]
    assert isinstance(pc.arf, fits.HDUList) and isinstance(pc.rmf, fits.HDUList)
    assert not spectra["late_time"].broken_links
    assert (tmp_path / "spec" / "late_time.tar.gz").is_file()
    assert not list((tmp_path / "spec").glob("*.part"))
    # A second call reads the archive already here; overwrite=True fetches it again.
    again = grbs.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert isinstance(again["late_time"]["PC"].arf, fits.HDUList)
    (tmp_path / "spec" / "late_time.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ReaderError, match="overwrite=True"):
        grbs.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    grbs.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"], overwrite=True)
    with pytest.raises(InvalidRequestError, match="intervals"):
        grbs.get_spectra("GRB 060729", tmp_path / "spec", intervals=["early"])


# ---------------------------------------------------------------- the official client's bugs
def test_bug_unknown_name_sent_as_null(grbs, sent):
    # swifttools resolves names one by one and then sends {"objectID": null} for an unknown one
    # (spec §4.2); here every name is resolved first and nothing else is sent.
    with pytest.raises(ResolverError, match="GRB 990101"):
        grbs.get_lightcurves(["GRB 060729", "GRB 990101"])
    assert [f for f, _ in sent] == ["GRBNameToTargetID", "GRBNameToTargetID"]
    assert all(p.get("objectID", 0) is not None and p.get("targetID", 0) is not None for _, p in sent)


def test_bug_two_names_of_one_grb_collide(grbs, sent):
    # swifttools keys its results by targetID internally and loses one of two names of one GRB.
    curves = grbs.get_lightcurves(["GRB 060729", "221755"])
    assert list(curves) == ["GRB 060729", "221755"]
    assert curves["GRB 060729"] is curves["221755"]
    assert [f for f, _ in sent].count("downloadLightCurve") == 1


def test_bug_best_err90_is_a_string(grbs):
    # The service sends Best_Err90 as '1.4' (a string) and swifttools passes it on as is.
    best = grbs.get_position("GRB 080319B")
    assert isinstance(best.err90, u.Quantity) and best.err90.unit == u.arcsec


def test_bug_spectrum_404_saved_as_the_archive(grbs, monkeypatch, tmp_path):
    # swifttools' _saveURLToFile never checks the HTTP status, so a 404 page is saved as the tar.
    data = grbs._spectrum_data(221755, False)
    data["interval0"]["DataFile"] = data["interval0"]["DataFile"].replace("interval0", "missing")
    monkeypatch.setattr(grbs, "_spectrum_data", lambda tid, cache: data)
    grbs._transport.retries = 0
    with pytest.raises((RemoteServiceError, ServiceUnavailableError)):
        grbs.get_spectra("GRB 060729", tmp_path, intervals=["interval0"])
    assert not list(tmp_path.glob("missing*"))


def test_bug_extract_leaves_the_working_directory_changed(grbs, tmp_path):
    # swifttools' extract=True chdirs into the destination and never comes back (spec §6.3).
    before = os.getcwd()
    grbs.get_spectra("GRB 060729", tmp_path / "s", intervals=["late_time"])
    assert os.getcwd() == before


def test_bug_no_light_curve_is_an_error_not_a_dict(grbs, monkeypatch):
    # swifttools hands back the raw {'NOLC': 1, 'Datasets': []} where the curves should be.
    monkeypatch.setattr(grbs, "_call", lambda func, payload, **kw: {"NOLC": 1, "Datasets": []})
    with pytest.raises(ProductUnavailableError, match="no light curve"):
        grbs.get_lightcurve(221755)


# ---------------------------------------------------------------- the official client, unchanged
def test_swifttools_documented_calls(svc, tmp_path, monkeypatch):
    udg = pytest.importorskip("swifttools.ukssdc.data.GRB")
    pytest.importorskip("pandas")
    import warnings
    # swifttools compares versions with distutils' StrictVersion, deprecated: its warning, not ours.
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    import swifttools.ukssdc.main as ukmain
    # The one URL of the official client, read at call time (spec §0).
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.chdir(tmp_path)
    assert udg.GRBNameToTargetID("GRB 060729") == 221755
    assert udg.GRBNameToTargetID("GRB 990101", silent=True) is None
    lcs = udg.getLightCurves(GRBName=("GRB 060729", "GRB 080319B"), returnData=True, saveData=False)
    assert set(lcs) == {"GRB 060729", "GRB 080319B"}
    assert "PC_incbad" in lcs["GRB 060729"]["Datasets"]
    assert lcs["GRB 060729"]["PC_incbad"]["Rate"].dtype == float
    assert "UpperLimit" in lcs["GRB 060729"]["PCUL_incbad"].columns
    udg.getLightCurves(GRBName="GRB 060729", saveData=True, destDir="APIDemo_GRBLC", incbad="both")
    saved = sorted(p.name for p in (tmp_path / "APIDemo_GRBLC").iterdir())
    assert "PCCURVE_incbad.qdp" in saved and "PCCURVE.qdp" in saved
    pos = udg.getPositions(GRBName="GRB 080319B")
    assert isinstance(pos["Best_Err90"], str) and pos["SPER_RA"] is None
    two = udg.getPositions(GRBName=("GRB 080319B", "GRB 101225A"), positions=("Enhanced", "SPER"))
    assert set(two["GRB 101225A"]) == {"Enhanced_RA", "Enhanced_Decl", "Enhanced_Err90", "SPER_RA",
                                       "SPER_Decl", "SPER_Err90"}
    spec = udg.getSpectra(GRBName="GRB 060729", returnData=True, saveData=True, saveImages=True,
                          destDir=str(tmp_path / "APIDemo_GRBSpec"), extract=True)
    assert spec["rnames"] == ["interval0", "late_time"]
    assert spec["late_time"]["PC"]["PowerLaw"]["Dof"] > 0
    folder = tmp_path / "APIDemo_GRBSpec"
    assert (folder / "late_time.tar.gz").is_file() and (folder / "late_timepc_plot.gif").is_file()
    assert (folder / "late_timepc.pi").is_file()       # tar -xzf of flat members worked
    burst = udg.getBurstAnalyser(GRBName="GRB 060729", returnData=True, saveData=False,
                                 instruments=["XRT", "BAT"], BATBinning=["snr4"], bands=["Density"])
    assert burst["Instruments"] == ["BAT", "BAT_NoEvolution", "XRT"]
    assert burst["BAT"]["SNR4"]["Density"]["BadBin"].dtype == bool
    assert "Density_PC_incbad" in burst["XRT"]
    udg.getBurstAnalyser(GRBName="GRB 060729", saveData=False, downloadTar=True, extract=True,
                         destDir=str(tmp_path / "BurstAn"))
    assert (tmp_path / "BurstAn" / "xrt" / "xrt_flux_pc_DENSITY.qdp").is_file()


def test_swifttools_documented_jobs(svc, tmp_path, monkeypatch):
    # The official client's rebin and time-slice calls, as data/GRB.md shows them.
    udg = pytest.importorskip("swifttools.ukssdc.data.GRB")
    pytest.importorskip("pandas")
    import warnings
    import swifttools.ukssdc.main as ukmain
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.chdir(tmp_path)
    job = udg.rebinLightCurve(GRBName="GRB 060729", binMeth="obsid")
    # The module's service runs jobs with job_duration=0; the rebin is built in the background, so
    # poll (a bounded number of times, no clock) as a user would.
    assert any(udg.rebinComplete(job) for _ in range(200))
    lc = udg.getRebinnedLightCurve(job, saveData=False, returnData=True)
    assert lc["Binning"] == "ObsID" and lc["PC_incbad"]["ObsID"].str.len().eq(11).all()
    sid = udg.timesliceSpectrum(GRBName="GRB 060729",
                                slices={"early": "100-800", "mixed": ["100-300,500-1000", "BOTH"]})
    assert udg.timesliceComplete(sid)
    spec = udg.getSpectra(JobID=sid, returnData=True, saveData=True, destDir=str(tmp_path / "slices"))
    assert spec["rnames"] == ["early", "mixed"]
    assert (tmp_path / "slices" / "early.tar.gz").is_file()


# ---------------------------------------------------------------- burst analyser
REDBACK = REAL / "nikhil-sarin__redback/redback/data/GRBData"


def test_burst_analyser_fluxes_densities_and_times(grbs, sent):
    lc = grbs.get_burst_analyser("GRB060729", bat_binning=["SNR4"], bands=["xrtband", "Density"])
    assert sent[-1] == ("downloadBurstAnalyser", {
        "targetID": 221755, "instruments": "all", "bands": ["xrtband", "density"], "BATBinning": ["snr4"],
        "incbad": "yes", "nosys": "no"})
    assert "BAT_SNR4_XRTBand" in lc and "BAT_NoEvolution_SNR4_sinceT0_Density" in lc
    assert "XRT_XRTBand_PC_incbad" in lc and "XRT_HR_PC" in lc and "BAT_HR" in lc
    assert not any("BATBand" in name or "ObservedFlux" in name for name in lc)
    flux, density = lc["BAT_SNR4_XRTBand"], lc["XRT_Density_PC_incbad"]
    assert flux["flux"].unit == u.erg / u.cm**2 / u.s and flux.meta["energy_band"] == (0.3, 10.0)
    assert flux["ecf"].unit == u.erg / u.cm**2 / u.ct
    assert density["flux_density"].unit == u.Jy and density.meta["energy"] == 10 * u.keV
    assert flux["bad_bin"].dtype == bool and flux["gamma"].unit == u.dimensionless_unscaled
    for table in lc.values():
        # Never a count rate: no rate column, and every physical column has its unit.
        assert not any(c.startswith("rate") for c in table.colnames)
        assert table.meta["kind"] in ("flux", "density", "hr")
        assert all(table[c].unit is not None for c in table.colnames
                   if c.startswith(("flux", "ecf", "t_since", "met", "time_err")))
    # T0 is the trigger, through the one clock: absolute times from the repository's stated UTC.
    assert lc.meta["t0_met"] == pytest.approx(T0_060729) and lc.meta["time_source"] == "header"
    assert isinstance(flux["time"], Time)
    assert np.allclose(flux["met"].value, flux["t_since_t0"].value + T0_060729)
    assert np.all(flux["flux_err_neg"] >= 0) and np.all(flux["flux_err_neg_with_ecf"] >= 0)
    assert lc.meta["grb"] == "GRB 060729" and lc.meta["target_id"] == 221755


def test_burst_analyser_values_are_the_services(grbs, svc):
    import requests
    body = {"APIFunc": "downloadBurstAnalyser", "targetID": 221755, "instruments": ["xrt"],
            "bands": ["batband"], "BATBinning": "all", "incbad": "no", "nosys": "both"}
    raw = requests.post(svc.api_url, json=body, timeout=60).json()
    lc = grbs.get_burst_analyser(221755, instruments=["XRT"], bands=["BATBand"], incbad=False, nosys="both")
    fluxes = sorted(n for n in lc.datasets if "_HR_" not in n)
    assert fluxes == sorted(f"XRT_{n}" for n in raw["XRT"]["Datasets"])
    # The systematic error is a WT-mode matter: only WT has _nosys datasets.
    assert "XRT_BATBand_WT_nosys" in lc and lc["XRT_BATBand_WT_nosys"].meta["nosys"]
    block = raw["XRT"]["BATBand_PCData"]
    cols = block["columns"]
    table = lc["XRT_BATBand_PC"]
    assert table.meta["energy_band"] == (15.0, 50.0)
    assert np.allclose(table["flux"].value, [r[cols.index("Flux")] for r in block["data"]])
    assert np.allclose(table["flux_err_neg"].value, [-r[cols.index("FluxNeg")] for r in block["data"]])
    assert np.allclose(table["t_since_t0"].value, [r[cols.index("Time")] for r in block["data"]])


def test_burst_analyser_density_in_mjy(grbs):
    jy = grbs.get_burst_analyser("GRB 060729", instruments="bat", bat_binning="timedel10", bands="density")
    mjy = grbs.get_burst_analyser("GRB 060729", instruments="bat", bat_binning="timedel10", bands="density",
                                  density_unit="mJy")
    a, b = jy["BAT_TimeBins_10s_Density"], mjy["BAT_TimeBins_10s_Density"]
    assert b["flux_density"].unit == u.mJy
    assert np.allclose(b["flux_density"].quantity.to_value(u.Jy), a["flux_density"].quantity.to_value(u.Jy))
    assert np.allclose(b["ecf"].quantity.to_value(u.Jy * u.s / u.ct), a["ecf"].value)


@pytest.mark.parametrize("kwargs, word", [
    ({"instruments": ["bat", "radio"]}, "instruments"), ({"bands": ["flux"]}, "bands"),
    ({"bat_binning": ["snr3"]}, "bat_binning"), ({"bands": []}, "bands"), ({"incbad": "yes"}, "incbad"),
    ({"density_unit": "uJy"}, "density_unit")])
def test_burst_analyser_bad_parameters_send_nothing(grbs, sent, kwargs, word):
    with pytest.raises(InvalidRequestError, match=word):
        grbs.get_burst_analyser("GRB 060729", **kwargs)
    with pytest.raises(InvalidRequestError, match=word):
        grbs.get_burst_analysers(["GRB 060729", "GRB 080319B"], **kwargs)
    assert sent == []


def test_burst_analysers_of_several_grbs(grbs, sent):
    out = grbs.get_burst_analysers(["GRB 060729", 221755, "GRB 080319B"], instruments=["xrt"],
                                   bands=["xrtband"])
    assert list(out) == ["GRB 060729", "221755", "GRB 080319B"]
    assert out["GRB 060729"] is out["221755"]       # two spellings of one GRB: one call
    assert [f for f, _ in sent].count("downloadBurstAnalyser") == 2
    assert out["GRB 080319B"].meta["grb"] == "GRB 080319B"
    with pytest.raises(ResolverError, match="GRB 990101"):
        grbs.get_burst_analysers(["GRB 060729", "GRB 990101"])


def test_burst_analyser_without_data_is_a_clear_error(grbs, monkeypatch):
    monkeypatch.setattr(grbs, "_call", lambda func, payload, **kw: {"Instruments": []})
    with pytest.raises(ProductUnavailableError, match="burst-analyser"):
        grbs.get_burst_analyser(221755)


def test_burst_analyser_tar_agrees_with_the_json(grbs, tmp_path):
    import tarfile
    from xrtprods_astro.readers.burst import read_burst_analyser
    path = grbs.download_burst_analyser("GRB 060729", tmp_path)
    assert path.name == "batxrtfiles_00221755.tar.gz"
    with tarfile.open(path) as tar:
        text = tar.extractfile("00221755/xrt/xrt_flux_pc_XRTBAND.qdp").read()
    from_file = read_burst_analyser(text, band="0.3-10 keV")["xrtpcflux"]
    lc = grbs.get_burst_analyser("GRB 060729", instruments=["xrt"], bands=["xrtband"], incbad=False)
    from_json = lc["XRT_XRTBand_PC"]
    assert np.allclose(from_file["flux"].value, from_json["flux"].value, rtol=1e-5)
    assert from_file["flux"].unit == from_json["flux"].unit
    # The same file again: already here, not downloaded twice.
    assert grbs.download_burst_analyser("GRB 060729", tmp_path) == path


@pytest.mark.parametrize("name", ["GRB050406", "GRB090926B", "GRB121209A"])
def test_burst_json_reader_agrees_with_the_qdp_reader_on_real_values(name):
    # The real burst-analyser values redback saved, put in the API's JSON layout (spec §7.2):
    # both readers must give the same fluxes, times and units, whichever way the data came.
    from xrtprods_astro.readers.burst import read_burst_analyser, read_burst_analyser_json
    qdp = read_burst_analyser(REDBACK / name / f"{name}_rawSwiftData.dat", t0=T0_060729, utcf=0)
    answer = {"Instruments": [], "XRT": {"Datasets": []}}
    cols = ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos", "FluxNeg"]
    pairs = []
    for label, table in qdp.items():
        info = table.meta
        rows = np.column_stack([table["t_since_t0"].value, table["time_err_pos"].value,
                                -table["time_err_neg"].value, table["flux"].value,
                                table["flux_err_pos"].value, -table["flux_err_neg"].value]).tolist()
        if info["instrument"] == "BAT":
            snr4 = {"Datasets": ["XRTBand"], "XRTBandData": {"columns": cols, "data": rows}}
            answer["BAT"] = {"Binning": ["SNR4"], "SNR4": snr4}
            pairs.append((label, "BAT_SNR4_XRTBand"))
        else:
            ds = "XRTBand_" + info["mode"] + ("_nosys" if info["nosys"] else "") + \
                ("_incbad" if info["incbad"] else "")
            answer["XRT"]["Datasets"].append(ds)
            answer["XRT"][f"{ds}Data"] = {"columns": cols, "data": rows}
            pairs.append((label, f"XRT_{ds}"))
    lc = read_burst_analyser_json(answer, t0=T0_060729, utcf=0)
    assert {"WTSLEW"} <= {lc[ours].meta["mode"] for _, ours in pairs} or name == "GRB050406"
    for label, ours in pairs:
        a, b = qdp[label], lc[ours]
        assert len(a) == len(b) > 0
        assert b["flux"].unit == a["flux"].unit == u.erg / u.cm**2 / u.s
        assert np.array_equal(a["flux"].value, b["flux"].value)
        assert np.array_equal(a["flux_err_neg"].value, b["flux_err_neg"].value)
        assert np.all(a["time"] == b["time"])
        assert (a.meta["mode"], a.meta["nosys"], a.meta["incbad"]) == \
            (b.meta["mode"], b.meta["nosys"], b.meta["incbad"])


def test_burst_json_reader_refuses_what_it_cannot_place():
    from xrtprods_astro.readers.burst import read_burst_analyser_json
    good = {"columns": ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos", "FluxNeg"],
            "data": [[1.0, 0.5, -0.5, 1e-9, 1e-10, -1e-10]]}
    with pytest.raises(ReaderError, match="Instruments"):
        read_burst_analyser_json({"Datasets": []})
    with pytest.raises(ReaderError, match="unknown band 'Radio'"):
        read_burst_analyser_json({"Instruments": ["XRT"],
                                  "XRT": {"Datasets": ["Radio_PC"], "Radio_PCData": good}})
    bad_rows = dict(good, data=[[1.0, 0.5]])
    with pytest.raises(ReaderError, match="length"):
        read_burst_analyser_json({"Instruments": ["XRT"],
                                  "XRT": {"Datasets": ["XRTBand_PC"], "XRTBand_PCData": bad_rows}})
    with pytest.raises(ReaderError, match="without its block"):
        read_burst_analyser_json({"Instruments": ["BAT"], "BAT": {"Binning": ["SNR4"]}})


def test_burst_json_reader_uvot_is_flux_density():
    from xrtprods_astro.readers.burst import read_burst_analyser_json
    columns = ["Time", "TimePos", "TimeNeg", "FluxDensity", "FluxDensityPos", "FluxDensityNeg"]
    uvot = {"Datasets": ["b", "b_UL"],
            "bData": {"columns": columns, "data": [[300.0, 10.0, -10.0, 2e-4, 1e-5, -1e-5]]},
            "b_ULData": {"columns": columns, "data": [[9e4, 1e3, -1e3, 3e-6, 0, 0]]}}
    lc = read_burst_analyser_json({"Instruments": ["UVOT"], "UVOT": uvot}, density_unit="mJy")
    table = lc["UVOT_b"]
    assert table["flux_density"].unit == u.mJy and table["flux_density"][0] == pytest.approx(0.2)
    assert table["flux_density_err_neg"][0] == pytest.approx(0.01)
    assert table.meta["instrument"] == "UVOT" and "time" not in table.colnames   # no T0 given
    assert "upper_limit" not in table.colnames
    limits = lc["UVOT_b_UL"]
    assert limits["upper_limit"].all() and limits.meta["mode"] == "b" and limits["flux_density"].unit == u.mJy


def test_burst_analyser_plots_fluxes_and_two_sided_hardness_ratios():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from xrtprods_astro.readers.burst import read_burst_analyser_json
    flux = {"columns": ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos", "FluxNeg"],
            "data": [[300.0, 10.0, -10.0, 1e-10, 1e-11, -1e-11], [600.0, 10.0, -10.0, 5e-11, 1e-11, -1e-11]]}
    hr = {"columns": ["Time", "TimePos", "TimeNeg", "HR", "HRPos", "HRNeg"],
          "data": [[300.0, 10.0, -10.0, 0.8, 0.1, -0.2]]}
    lc = read_burst_analyser_json({"Instruments": ["XRT"], "XRT": {
        "Datasets": ["XRTBand_PC"], "XRTBand_PCData": flux, "HRData_PC": hr}})
    assert lc["XRT_HR_PC"]["hr_err_neg"][0] == pytest.approx(0.2)
    fig, axes = lc.plot()
    try:
        assert "Flux" in axes[0].get_ylabel() and len(axes[1].containers) == 1
    finally:
        plt.close(fig)


def test_burst_analyser_agrees_with_swifttools(svc, grbs, tmp_path, monkeypatch):
    # The official client's DataFrames and our tables of the same answer: same values, same bins.
    udg = pytest.importorskip("swifttools.ukssdc.data.GRB")
    pytest.importorskip("pandas")
    import warnings
    import swifttools.ukssdc.main as ukmain
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    monkeypatch.setattr(ukmain, "APIURL", svc.api_url)
    monkeypatch.chdir(tmp_path)
    theirs = udg.getBurstAnalyser(GRBName="GRB 060729", returnData=True, saveData=False,
                                  BATBinning=["snr4"], bands=["Density"])
    ours = grbs.get_burst_analyser("GRB 060729", bat_binning=["snr4"], bands=["density"])
    bat_t, bat_o = theirs["BAT"]["SNR4"]["Density"], ours["BAT_SNR4_Density"]
    assert np.allclose(bat_o["flux_density"].value, bat_t["Flux"].to_numpy())
    assert np.array_equal(bat_o["bad_bin"], bat_t["BadBin"].to_numpy())
    xrt_t, xrt_o = theirs["XRT"]["Density_PC_incbad"], ours["XRT_Density_PC_incbad"]
    assert np.allclose(xrt_o["t_since_t0"].value, xrt_t["Time"].to_numpy())
    assert np.allclose(xrt_o["flux_density_err_neg_with_ecf"].value, -xrt_t["FluxNegWithECFErr"].to_numpy())


# ---------------------------------------------------------------- many GRBs from a Table
def _catalogue():
    """A catalogue query's answer: a GRB-name column (any case), a masked row, other columns."""
    from astropy.table import MaskedColumn, Table
    return Table({"GRBname": MaskedColumn(["GRB 060729", "GRB 990101", "x", "080319B", "221755"],
                                          mask=[False, False, True, False, False]),
                  "T90": [116.0, 1.0, 2.0, 57.0, 116.0]})


def test_many_grbs_from_a_table_collect_per_grb_errors(grbs, sent, monkeypatch):
    # GRB 080319B's light curve fails on the service side: the others still come back.
    original = grbs._lightcurve

    def flaky(tid, name, **kwargs):
        if tid == 306757:
            raise RemoteServiceError("the service failed")
        return original(tid, name, **kwargs)

    monkeypatch.setattr(grbs, "_lightcurve", flaky)
    curves = grbs.get_lightcurves(_catalogue(), errors="collect")
    assert list(curves) == ["GRB 060729", "221755"] and curves["221755"] is curves["GRB 060729"]
    assert isinstance(curves["GRB 060729"], LightCurve)
    summary = curves.summary
    assert summary["query"].tolist() == ["GRB 060729", "GRB 990101", "--", "080319B", "221755"]
    assert summary["ok"].tolist() == [True, False, False, False, True]
    assert "ResolverError" in summary["error"][1] and "GRB 990101" in summary["error"][1]
    assert "InvalidRequestError" in summary["error"][2]
    assert "RemoteServiceError: the service failed" in summary["error"][3]
    assert summary["target_id"].mask.tolist() == [False, True, True, False, False]
    assert set(curves.errors) == {"GRB 990101", "--", "080319B"}
    # One request at a time, one light curve per GRB (two spellings of GRB 060729 share one).
    assert [f for f, _ in sent].count("downloadLightCurve") == 1


def test_many_grbs_from_a_table_by_default_raise_and_name_the_column(grbs):
    from astropy.table import Table
    table = _catalogue()[[0, 3]]
    many = grbs.get_positions_many(table, ["best"])
    assert list(many) == ["GRB 060729", "080319B"] and many.summary["ok"].all()
    assert many["080319B"]["best"].found
    with pytest.raises(ResolverError, match="GRB 990101"):
        grbs.get_lightcurves(_catalogue()[:2])
    with pytest.raises(InvalidRequestError, match="column: 'nope'.*GRBname"):
        grbs.get_lightcurves(table, column="nope")
    with pytest.raises(InvalidRequestError, match="column: the Table has no GRB column"):
        grbs.get_lightcurves(Table({"a": [1], "b": [2]}))
    with pytest.raises(InvalidRequestError, match="errors: 'ignore'.*'collect'"):
        grbs.get_burst_analysers(table, errors="ignore")
