# Licensed under a 3-clause BSD style license - see LICENSE
"""The LSXPS / 2SXPS product client (xrtprods_astro/sxps.py, methods of XRTCatalogues) against the
local service (server/sxps_products.py).

The tests named ``test_bug_<n>_*`` each pin one defect of the official client
(``swifttools.ukssdc.data.SXPS``) listed in shared/spec/ukssdc-catalogues.md §7 that this client
beats; ``test_swifttools_documented_calls`` runs the official client's documented calls unchanged
against the local service.
"""
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from xrtprods_astro import CataloguesClass, XRTCatalogues
from xrtprods_astro.exceptions import InvalidRequestError, ProductUnavailableError
from xrtprods_astro.readers.lightcurve import LightCurve
from xrtprods_astro.sxps import SXPSDataset, SXPSProducts, SXPSSource, SXPSSupersededError


def _lsxps_ids(*names):
    """The LSXPS_IDs of sky objects in the local service's catalogue (IDs follow its table's order)."""
    from xrtprods_astro.server.sxps import SXPSService
    from xrtprods_astro.server.sxps_products import SXPSProductService
    sources = SXPSProductService(SXPSService(), root=".").sources().values()
    return [next(s.id for s in sources if s.obj is not None and s.obj.name == name) for name in names]


#: GK Per, GRB 221009A (fades below detection: upper limits), GRB 200416A, a faint GK Per field source.
GK, GRB22, GRB20, GKF5 = _lsxps_ids("GK Per", "GRB 221009A", "GRB 200416A", "GK Per field 5")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("sxpscli"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def cats(svc, tmp_path):
    svc.sxps_products.missing_images = set()
    client = CataloguesClass(server=svc.url)
    client.cache_location = tmp_path / "catcache"
    return client


@pytest.fixture
def sent(cats, monkeypatch):
    """Every common-API function the client sends, in order, with its payload."""
    calls = []
    original = cats._transport.call_common

    def spy(url, func, payload, **kwargs):
        calls.append((func, dict(payload)))
        return original(url, func, payload, **kwargs)

    monkeypatch.setattr(cats._transport, "call_common", spy)
    return calls


@pytest.fixture
def gets(cats, monkeypatch):
    """Every URL the client downloads."""
    urls = []
    original = cats._transport.download

    def spy(url, dest, **kwargs):
        urls.append(url)
        return original(url, dest, **kwargs)

    monkeypatch.setattr(cats._transport, "download", spy)
    return urls


# ---------------------------------------------------------------------- the instance
def test_products_are_methods_of_the_ready_instance():
    assert isinstance(XRTCatalogues, SXPSProducts)
    for name in ("get_source", "get_source_lightcurve", "get_source_spectrum", "get_source_images",
                 "get_transient", "get_transients_as_sources", "get_dataset", "get_dataset_images"):
        assert callable(getattr(XRTCatalogues, name))


# ---------------------------------------------------------------------- source details
def test_source_details_are_astropy_objects(cats):
    src = cats.get_source(GK)
    assert isinstance(src, SXPSSource) and src.source_id == GK and src.name.startswith("LSXPS J")
    assert isinstance(src.coord, SkyCoord) and src.err90.unit == u.arcsec
    assert src.record["RA"].unit == u.deg and src.record["Rate_band0"].unit == u.ct / u.s
    assert isinstance(src.record["FirstObsDate"], Time) and src.record["Exposure"].unit == u.s
    obs = src.observations
    assert obs.colnames[:2] == ["obsid", "dataset_id"] and obs["detected"].dtype == bool
    assert all(len(o) == 11 and o.isdigit() for o in obs["obsid"])
    assert list(obs["obsid"]) == sorted(obs["obsid"])
    assert len(obs) == len(src.detections) + len(src.non_detections)
    assert all(len(o) == 11 for o in src.detections["ObsID"])
    assert "Total_Info_Rate" in src.detections.colnames
    assert src.detections["Total_Info_Rate"].unit == u.ct / u.s
    # The source agrees with the catalogue table the query functions serve.
    row = cats.query_criteria("LSXPS", "sources", LSXPS_ID=GK)
    assert row["IAUName"][0] == src.name and row["coord"][0].separation(src.coord) < 0.01 * u.arcsec


def test_source_by_name_and_renamed_source(cats):
    name = cats.get_source(GK).name
    assert cats.get_source(name).source_id == GK
    renamed = cats.get_source(11375)
    assert renamed.source_id != 11375   # the service answers for the source it became


def test_bad_identifiers_are_refused_before_sending(cats, sent):
    for bad in (True, None, -3, 0, 1.5, ""):
        with pytest.raises(InvalidRequestError, match="source"):
            cats.get_source(bad)
    with pytest.raises(InvalidRequestError, match="catalog is '3SXPS'.*LSXPS, 2SXPS"):
        cats.get_source(GK, catalog="3SXPS")
    with pytest.raises(InvalidRequestError, match="binning"):
        cats.get_source_lightcurve(GK, binning="weekly")
    with pytest.raises(InvalidRequestError, match="time_format"):
        cats.get_source_lightcurve(GK, time_format="jd")
    with pytest.raises(InvalidRequestError, match="bands"):
        cats.get_source_lightcurve(GK, bands=["ultra"])
    with pytest.raises(InvalidRequestError, match="group_hrs"):
        cats.get_source_lightcurve(GK, group_hrs="no")
    with pytest.raises(InvalidRequestError, match="not light-curve options"):
        cats.get_source_lightcurve(GK, groupHRss=False)
    with pytest.raises(InvalidRequestError, match="spec_type"):
        cats.get_source_spectrum(1, transient=True, spec_type="half")
    with pytest.raises(InvalidRequestError, match="exactly one"):
        cats.get_dataset(5, obsid="00030842001")
    with pytest.raises(InvalidRequestError, match="obsid"):
        cats.get_dataset(obsid="abc")
    with pytest.raises(InvalidRequestError, match="types"):
        cats.get_dataset_images(obsid="00030842001", types=["gif"])
    assert sent == []


def test_split_source_is_a_clear_error_with_its_replacements(cats):
    with pytest.raises(SXPSSupersededError, match="split into 4 newer sources") as info:
        cats.get_source(37562)
    table = info.value.replacements
    assert info.value.kind == "newerSources" and len(table) == 4
    assert table["err90"].unit == u.arcsec and isinstance(table["coord"], SkyCoord)
    assert isinstance(info.value, ProductUnavailableError)
    # Each replacement is a live source.
    assert cats.get_source(int(table["LSXPS_ID"][0])).name == table["IAUName"][0]


# ---------------------------------------------------------------------- light curves
def test_light_curve_is_the_package_type_with_units_and_times(cats):
    lc = cats.get_source_lightcurve(GRB22, bands=["total", "HR1"], time_format="mjd")
    assert isinstance(lc, LightCurve) and {"Total_rates", "Total_UL", "HR1"} <= set(lc.datasets)
    rates, limits = lc["Total_rates"], lc["Total_UL"]
    assert rates["rate"].unit == u.ct / u.s and rates["time_err_pos"].unit == u.s
    assert isinstance(rates["time"], Time) and rates["time"].scale == "utc"
    assert not rates["upper_limit"].any() and limits["upper_limit"].all()
    assert (limits["rate"] > 0).all() and (limits["rate_err_pos"] == 0).all()
    assert (rates["time_err_neg"] > 0).all()
    assert limits.meta["kind"] == "ul" and rates.meta["kind"] == "rate" and lc["HR1"].meta["kind"] == "hr"
    assert lc.meta["binning"] == "Observation" and lc.meta["time_format"] == "MJD"
    combined = lc.combined("rate")
    assert len(combined) == len(rates) + len(limits)


@pytest.mark.parametrize("fmt,scale", [("met", "utc"), ("tdb", "tdb")])
def test_light_curve_time_formats_agree(cats, fmt, scale):
    mjd = cats.get_source_lightcurve(GK, bands=["total"], time_format="mjd")["Total_rates"]
    other = cats.get_source_lightcurve(GK, bands=["total"], time_format=fmt)["Total_rates"]
    assert other["time"].scale == scale
    # The same bins: MET through the clock agrees to the second; TDB differs by the barycentric
    # correction (at most about 500 s) and the TT-UTC offset.
    limit = 2 * u.s if fmt == "met" else 600 * u.s
    assert np.all(np.abs((other["time"].tdb - mjd["time"].tdb).to(u.s)) < limit)
    assert np.allclose(other["time_err_pos"], mjd["time_err_pos"], rtol=1e-6)


def test_snapshot_binning_and_show_obs(cats):
    obs = cats.get_source_lightcurve(GK, bands=["total"], binning="observation", show_obs=True)
    snaps = cats.get_source_lightcurve(GK, bands=["total"], binning="snapshot")
    assert len(snaps["Total_rates"]) > len(obs["Total_rates"])
    assert all(len(o) == 11 for o in obs["Total_rates"]["obsid"])
    assert set(obs["Total_rates"]["obsid"]) <= set(cats.get_source(GK).observations["obsid"])


def test_light_curve_plot_draws_the_upper_limits(cats):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    lc = cats.get_source_lightcurve(GRB22, bands=["total"])
    fig, axes = lc.plot(time_axis="mjd")
    labels = axes[0].get_legend_handles_labels()[1]
    assert any("upper limit" in text for text in labels)


def test_transient_light_curve(cats):
    lc = cats.get_source_lightcurve(30, transient=True)
    assert "PCUL_incbad" in lc.datasets and lc["PCUL_incbad"]["upper_limit"].all()
    assert lc["PC_incbad"]["rate"].unit == u.ct / u.s and lc.meta["transient"]


# ---------------------------------------------------------------------- spectra
def test_source_spectrum_fits_and_files(cats, tmp_path, gets):
    spec = cats.get_source_spectrum(GK, tmp_path / "spec")
    fits_table = spec.fits
    assert set(fits_table["model"]) == {"PowerLaw", "APEC"} and set(fits_table["mode"]) == {"PC"}
    assert fits_table["nh"].unit == u.cm ** -2 and fits_table["kt"].unit == u.keV
    assert fits_table["obs_flux"].unit == u.erg / u.cm ** 2 / u.s
    pc = spec.products.modes["PC"]
    assert isinstance(pc.spectrum, fits.HDUList) and isinstance(pc.rmf, fits.HDUList)
    assert spec.archive.name == "interval0.tar.gz" and len(gets) == 1
    # A re-run reads the verified archive already there.
    cats.get_source_spectrum(GK, tmp_path / "spec")
    assert len(gets) == 1
    only_fits = cats.get_source_spectrum(GK)
    assert only_fits.products is None and len(only_fits.fits) == 2


# ---------------------------------------------------------------------- images
def test_source_images_are_saved_pngs(cats, tmp_path):
    saved = cats.get_source_images(GK, tmp_path / "img", bands=["total", "expmap"])
    assert set(saved) == {"Total", "Expmap"}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in saved.values())


def test_dataset_details_and_images(cats, tmp_path):
    obsid = cats.get_source(GK).observations["obsid"][0]
    ds = cats.get_dataset(obsid=obsid)
    assert isinstance(ds, SXPSDataset) and ds.obsid == obsid and not ds.is_stack
    assert ds.record["ExposureUsed"].unit == u.s and isinstance(ds.start, Time) and ds.start < ds.stop
    assert GK in list(ds.sources["LSXPS_ID"])
    assert cats.get_dataset(ds.dataset_id).obsid == obsid
    assert cats.get_dataset(obsid=int(obsid)).dataset_id == ds.dataset_id
    images = cats.get_dataset_images(obsid=obsid, dest_dir=tmp_path / "ds", bands=["total"],
                                     types=["image", "bgmap"])
    hdul = images["Total"]["Image"]
    assert isinstance(hdul, fits.HDUList) and WCS(hdul[0].header).has_celestial
    assert set(images["Total"]) == {"Image", "BackgroundMap", "Regions"}
    assert images["Total"]["Regions"].read_text().startswith("# Region file format")
    assert isinstance(images["Expmap"], fits.HDUList)
    assert (tmp_path / "ds" / f"{obsid}_total.img.gz").is_file()


def test_superseded_stacks_are_clear_errors(cats, tmp_path):
    with pytest.raises(SXPSSupersededError, match="superseded by the stacks") as info:
        cats.get_dataset(obsid="10000000668")
    assert info.value.kind == "SupersedingStacks" and info.value.replacements["ObsID"][0].startswith("1")
    with pytest.raises(SXPSSupersededError, match="old version") as info:
        cats.get_dataset(229018)
    assert info.value.kind == "LatestVersion"
    latest = cats.get_dataset(int(info.value.replacements["DatasetID"][0]))
    assert latest.is_stack


# ---------------------------------------------------------------------- transients
def test_transient_details_and_lookup(cats):
    trans = cats.get_transient(576)
    assert trans.transient_id == 576 and trans.name.startswith("Swift J")
    assert isinstance(trans.coord, SkyCoord)
    assert trans.observations["discovery"][0] and all(len(o) == 11 for o in trans.observations["obsid"])
    assert cats.get_transient(trans.name).transient_id == 576
    table = cats.get_transients_as_sources([576, 30])
    assert list(table["in_catalog"]) == [True, False] and table["source"][0] == trans.lsxps_id
    assert table["source"].mask[1]


# ---------------------------------------------------------------------- the official client's bugs
def test_bug_5_upper_limits_are_upper_limits_whatever_the_verbosity(cats):
    """swifttools renames the UL column Rate -> UpperLimit only with silent=False, so a transient's
    PCUL keeps 'Rate' by default and plotLightCurve fails; here every limit dataset has the same
    columns and upper_limit True, for sources and transients alike."""
    source = cats.get_source_lightcurve(GRB22, bands=["total"])
    transient = cats.get_source_lightcurve(30, transient=True)
    for table in (source["Total_UL"], transient["PCUL_incbad"]):
        assert table["upper_limit"].all() and "rate" in table.colnames and table["rate"].unit == u.ct / u.s


def test_bug_6_a_split_source_light_curve_is_an_error_not_a_keyerror(cats):
    """swifttools reads tmp['Binning'] unconditionally: KeyError on a newerSources answer."""
    with pytest.raises(SXPSSupersededError) as info:
        cats.get_source_lightcurve(37562)
    assert len(info.value.replacements) == 4


def test_bug_7_group_hrs_reaches_the_service(cats, sent):
    """swifttools forwards groupHRss (sic) and drops the documented groupHRs."""
    lc = cats.get_source_lightcurve(GRB20, bands=["HR1"], group_hrs=False)
    payload = [p for f, p in sent if f == "getSXPSLC"][-1]
    assert payload["groupHRs"] is False and "groupHRss" not in payload
    assert lc.datasets and all(name.startswith("HR1_") for name in lc.datasets)


def test_bug_8_transient_light_curve_with_a_tuple_of_bands(cats):
    """swifttools raises AttributeError for a transient with silent=False and tuple bands."""
    lc = cats.get_source_lightcurve(576, transient=True, bands=("total", "hard"))
    assert "PC_incbad" in lc.datasets


def test_bug_9_transients_not_in_lsxps_are_rows_not_crashes(cats, svc, monkeypatch):
    """swifttools: with skipErrors an absent key raises KeyError and "MISSING" is sent on as an id."""
    table = cats.get_transients_as_sources([576, 30, 424242])
    assert list(table["in_catalog"]) == [True, False, False]
    assert list(table["source"].mask) == [False, True, True]
    original = svc.sxps_products._getSXPSTransAsSources

    def drop_one(body, base_url):
        answer = original(body, base_url)
        answer["lookup"].pop("576", None)
        return answer

    monkeypatch.setattr(svc.sxps_products, "_getSXPSTransAsSources", drop_one)
    table = cats.get_transients_as_sources([576, 1])
    assert list(table["in_catalog"]) == [False, True]


def test_bug_10_transient_spectra_saved_in_their_own_folders_silently(cats, tmp_path, capsys):
    """swifttools: the documented subDirs is a TypeError, saveData=False saves no images, and it
    prints "Transient ..." even when silent."""
    both = cats.get_source_spectrum(30, tmp_path / "t30", transient=True, spec_type="both")
    assert both["full"] is None   # transient 30 has no full spectrum
    assert both["discovery"].products.directory.is_relative_to(tmp_path / "t30" / "discovery")
    assert capsys.readouterr().out == ""
    with pytest.raises(ProductUnavailableError, match="no spectrum"):
        cats.get_source_spectrum(30, transient=True, spec_type="full")


def test_bug_11_notfound_images_are_never_fetched(cats, svc, tmp_path, gets):
    """swifttools guards NOTFOUND with `not silent`, so by default it GETs the URL "NOTFOUND"."""
    svc.sxps_products.missing_images = {"Soft"}
    saved = cats.get_source_images(GK, tmp_path / "img")
    assert "Soft" not in saved and {"Total", "Medium", "Hard", "Expmap"} <= set(saved)
    assert all(url.startswith(svc.url) for url in gets)
    with pytest.raises(SXPSSupersededError, match="obsolete stack") as info:
        cats.get_dataset_images(obsid="10000000700", dest_dir=tmp_path / "old")
    assert info.value.kind == "SupersededBy" and not any("NOTFOUND" in u_ for u_ in gets)


def test_bug_13_observation_lists_take_any_obsid_form(cats):
    """swifttools' getObsList rejects the documented useObs='nonDet' and a non-11-character ObsID
    string; the service sends ObsIDs as ints (30842001)."""
    src = cats.get_source(GKF5)   # a faint field source with retrospective detections
    obs = src.observations
    assert all(len(o) == 11 for o in obs["obsid"])
    not_detected = obs[~obs["detected"]]
    assert len(not_detected) > 0 and not_detected["retrospective"].any()
    assert set(not_detected["obsid"]) == set(src.non_detections["ObsID"])


# ---------------------------------------------------------------------- the official client
def test_swifttools_documented_calls(svc, tmp_path, monkeypatch):
    pytest.importorskip("swifttools.ukssdc.data")
    pytest.importorskip("pandas")
    import warnings
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    import swifttools.ukssdc.main as ukmain
    from swifttools.ukssdc.data import SXPS as uds
    monkeypatch.setattr(ukmain, "APIURL", f"{svc.url}/API/main.php")
    monkeypatch.chdir(tmp_path)
    svc.sxps_products.missing_images = set()
    # data/SXPS.md "Source details", and the observation list built from them.
    info = uds.getSourceDetails(sourceID=GK, cat="LSXPS")
    assert info["LSXPS_ID"] == GK and "Observations" in info["Detections"]
    assert uds.getObsList(sourceDetails=info, useObs="allCat")["obsList"]
    # "Light curves": the documented call and the retroAsUL/groupULs one.
    lcs = uds.getLightCurves(sourceID=GK, cat="LSXPS", binning="obsid", timeFormat="MJD", saveData=False,
                             returnData=True)
    assert {"Total_rates", "HR1", "Datasets", "Binning"} <= set(lcs) and lcs["Binning"] == "Observation"
    lcs = uds.getLightCurves(sourceID=GRB22, cat="LSXPS", bands=["total"], binning="obsid", timeFormat="MJD",
                             saveData=False, returnData=True, retroAsUL=True, groupULs=False)
    assert "Total_nondet_UL" in lcs["Datasets"] and "UpperLimit" in lcs["Total_nondet_UL"].columns
    uds.getLightCurves(sourceID=GK, cat="LSXPS", binning="obsid", timeFormat="MJD", saveData=True,
                       destDir="lcs")
    # "Spectra": fetched, then saved (archive and fit plots).
    spec = uds.getSpectra(sourceID=GK, cat="LSXPS", saveData=False, returnData=True)
    assert spec["interval0"]["PC"]["Models"] == ["PowerLaw", "APEC"]
    uds.saveSpectra(spec, destDir="spec")
    assert (tmp_path / "spec" / "interval0.tar.gz").stat().st_size > 1000
    both = uds.getSpectra(sourceID=30, cat="LSXPS", transient=True, specType="both", saveData=False,
                          returnData=True)
    assert "NoSpectrum" in both["Full"] and "rnames" in both["Discovery"]
    # "Images" of a source, transient details, dataset details and images.
    uds.saveSourceImages(sourceID=GK, cat="LSXPS", destDir="images")
    assert (tmp_path / "images" / str(GK) / "Total.png").read_bytes().startswith(b"\x89PNG")
    trans = uds.getTransientDetails(sourceID=576, cat="LSXPS")
    assert trans["IAUName"].startswith("Swift J")
    obsid = info["Detections"]["Observations"]["ObsID"][0]
    details = uds.getDatasetDetails(ObsID="%011d" % obsid, cat="LSXPS")
    assert details["ObsID"] == "%011d" % obsid and len(details["Sources"]) > 0
    assert "SupersedingStacks" in uds.getDatasetDetails(ObsID="10000000668")
    assert "LatestVersion" in uds.getDatasetDetails(DatasetID=229018)
    uds.saveDatasetImages(ObsID="%011d" % obsid, destDir="dsimg")
    assert (tmp_path / "dsimg" / ("%011d" % obsid) / ("%011d_total.img.gz" % obsid)).is_file()
    with pytest.raises(RuntimeError, match="is not found in the LSXPS catalogue"):
        uds.saveDatasetImages(ObsID="10000000668", destDir="dsimg")


# ---------------------------------------------------------------------- the real service
@pytest.mark.remote_data
def test_remote_documented_products(tmp_path):
    """The spec's documented products (§3), from the real UKSSDC service: LSXPS is live, so only
    shapes and the fixed facts are pinned."""
    real = CataloguesClass(server="https://www.swift.ac.uk")
    src = real.get_source("LSXPS J051152.3-621925")
    assert src.err90.unit == u.arcsec and len(src.observations) > 0
    assert all(len(o) == 11 for o in src.observations["obsid"])
    lc = real.get_source_lightcurve(src.source_id, bands=["total"])
    assert any(t.meta["kind"] == "rate" for t in lc.values())
    with pytest.raises(SXPSSupersededError):
        real.get_source(37562)
    trans = real.get_transient(576)
    assert trans.name == "Swift J073006.8-193709"
    ds = real.get_dataset(obsid="00282445000")
    assert ds.dataset_id == 9725 and ds.record["TargetID"] == 282445
