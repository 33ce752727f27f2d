# Licensed under a 3-clause BSD style license - see LICENSE
"""Every table of the catalogue interface and the full-table downloads, client against the local service.

The client is `xrtprods_astro.catalogues` (queries over ``getMetadata``/``queryDB``, full tables
over ``getOldSXPSTables``/``getSXPSTable``), the service `xrtprods_astro.server.sxps`. The tests
named ``test_bug_<n>_*`` each pin one defect of the official client ``swifttools.ukssdc`` listed in
shared/spec/ukssdc-catalogues.md §7 (12, 16, 18, 19, 20) that this client does right;
``test_swifttools_*`` run the official client's documented calls unchanged against the local service.
"""
import gzip

import numpy as np
import pytest
import requests
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time

from xrtprods_astro import CataloguesClass
from xrtprods_astro.catalogues import CATALOGS, POSITION_SOURCES
from xrtprods_astro.exceptions import InvalidRequestError, ReaderError


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("tablesvc"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def cats(svc, tmp_path):
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
def official(svc, tmp_path, monkeypatch):
    pytest.importorskip("swifttools.ukssdc.query")
    pytest.importorskip("pandas")
    import warnings
    warnings.filterwarnings("ignore", "distutils Version classes are deprecated", DeprecationWarning)
    import swifttools.ukssdc.main as ukmain
    monkeypatch.setattr(ukmain, "APIURL", f"{svc.url}/API/main.php")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _post(svc, **body):
    return requests.post(f"{svc.url}/API/main.php", json={**body, "APIVersion": "1.0.5"}, timeout=60).json()


EVERY_TABLE = [(db, table) for db, tables in CATALOGS.items() for table in tables]


# ---------------------------------------------------------------------- every table
@pytest.mark.parametrize("catalog,table", EVERY_TABLE)
def test_every_table_answers_with_units_times_and_positions(cats, catalog, table):
    meta = cats.get_catalog_columns(catalog, table)
    rows = cats.query_criteria(catalog, table, columns="all", row_limit=5)
    assert 0 < len(rows) <= 5 and rows.meta["catalog"] == catalog and rows.meta["table"] == table
    for name, typ, unit, is_obsid in zip(meta["name"], meta["type"], meta["unit"], meta["is_obsid"]):
        column = rows[name]
        if is_obsid:
            assert all(len(v) == 11 and v.isdigit() for v in column)
        elif typ in ("COORDH", "COORDD"):
            assert column.unit == u.deg
        elif typ == "UTC":
            assert isinstance(column, Time)
        elif unit:
            assert column.unit == u.Unit(unit)
    pairs = [(a, b) for a, b in zip(meta["type"], meta["type"][1:]) if (a, b) == ("COORDH", "COORDD")]
    assert ("coord" in rows.colnames) == bool(pairs)
    if pairs:
        assert isinstance(rows["coord"], SkyCoord)


def test_grb_metadata_has_the_documented_shape(svc):
    # query/GRB.md shows SDC_GRB's metadata: 81 rows of these 9 columns, Name the name column.
    answer = _post(svc, APIFunc="getMetadata", database="SDC_GRB", table="SDC_Data_Table")["metadata"]
    assert answer["columns"] == ["ColName", "IsError", "Class", "Description", "Type", "Nullable", "Fstring",
                                 "IsTargetCol", "IsNameCol"]
    assert len(answer["metadata"]) == 81
    assert answer["metadata"][0] == ["Name", 0, "BASIC", "The GRB name.", "TXT", 0, "%s", 0, 1]
    assert answer["metadata"][3][:5] == ["BAT_RA", 0, "BASIC BAT",
                                         "The RA (J2000) of the GRB according to BAT.", "COORDH"]
    assert [row[0] for row in answer["metadata"][-4:]] == ["BAT_warn", "XRT_warn", "UVOT_warn", "Any_warn"]


def test_detections_point_at_datasets_sources_and_observations(cats):
    gk = cats.query_object("GK Per", 5 * u.arcsec, columns=["LSXPS_ID", "NumDetections"])
    source = int(gk["LSXPS_ID"][0])
    dets = cats.query_criteria("LSXPS", "obssources", LSXPS_ID=source, columns="all")
    assert len(dets) == gk["NumDetections"][0] > 1
    span = ("BETWEEN", int(min(dets["DatasetID"])), int(max(dets["DatasetID"])))
    datasets = cats.query_criteria("LSXPS", "datasets", DatasetID=span, columns="all")
    by_id = {int(d["DatasetID"]): d for d in datasets}
    for det in dets:
        assert by_id[int(det["DatasetID"])]["ObsID"] == det["ObsID"]
    # The observations of the (unstacked) datasets are the observations of swiftmastr.
    single = [d["ObsID"] for d in datasets if d["IsStackedImage"] == 0]
    obs = cats.query_object("GK Per", 60 * u.arcsec, catalog="obs", table="swiftmastr")
    assert set(single) <= set(obs["obsid"])
    assert np.all(datasets["ExposureUsed"] > 0 * u.s)
    transients = cats.query_criteria("LSXPS", "transients", Classification=1, columns="all")
    assert len(transients) == 6          # the docs' count of confirmed transients (query/SXPS.md)
    sources = cats.query_criteria("LSXPS", "sources", LSXPS_ID=("BETWEEN", 1, 100), columns="all")
    names = dict(zip(sources["LSXPS_ID"], sources["IAUName"]))
    assert all(names[t["LSXPS_ID"]] == t["LSXPSName"] for t in transients)


def test_sxps2_is_lsxps_before_its_cut_off(cats):
    two = cats.query_object("GK Per", 5 * u.arcsec, catalog="2SXPS", table="sources", columns="all")
    assert len(two) == 1 and two["IAUName"][0].startswith("2SXPS J")
    assert two["FirstObsDate"][0] < Time("2018-08-01")


def test_subsets_narrow_the_table_and_are_sent(cats, sent):
    everything = cats.query_criteria("LSXPS", "sources", columns=["LSXPS_ID", "DetFlag"])
    clean = cats.query_criteria("LSXPS", "sources", subset="Clean", columns=["LSXPS_ID", "DetFlag"])
    ultra = cats.query_criteria("LSXPS", "sources", subset="ultra-clean", columns=["LSXPS_ID", "DetFlag"])
    assert len(ultra) < len(clean) < len(everything)
    assert set(ultra["DetFlag"]) == {0} and set(clean["DetFlag"]) == {0, 1}
    assert {p.get("subset") for f, p in sent if f == "queryDB"} == {None, "clean", "ultraclean"}
    assert clean.meta["subset"] == "clean"
    datasets = cats.query_object("GK Per", 12 * u.arcmin, catalog="LSXPS", table="datasets",
                                 subset="ultraclean")
    assert len(datasets) > 0 and set(datasets["FieldFlag"]) == {0}


def test_bad_subset_is_refused_before_sending(cats, sent):
    with pytest.raises(InvalidRequestError, match="subset is 'dirty'.*clean, ultraclean"):
        cats.query_criteria("LSXPS", "sources", subset="dirty")
    with pytest.raises(InvalidRequestError, match="LSXPS/detections has no subsets.*LSXPS/sources"):
        cats.query_region(SkyCoord(52.8, 43.9, unit="deg"), catalog="LSXPS", table="detections",
                          subset="clean")
    assert [f for f, _ in sent if f == "queryDB"] == []


def test_grb_tables_hold_the_grb_repositorys_bursts(cats, svc):
    live = cats.query_criteria("UK_XRT", "XRTLiveCat", columns="all")
    from xrtprods_astro.server.grb import repository_grbs
    assert sorted(live["name"]) == sorted(repository_grbs())
    for row in live:
        # The same positions as the GRB repository's getGRBPositions.
        pos = _post(svc, APIFunc="getGRBPositions", targetID=int(row["targetID"]), posToGet="all")
        assert row["Enh_RA"] == pytest.approx(pos["Enhanced_RA"]) and row["PSF_Decl"] == pytest.approx(
            pos["Standard_Decl"])
        assert row["Err90"] == pytest.approx(float(pos["Best_Err90"]))
    bat = cats.query_criteria("BAT_GRB", "BATGRBCat", columns="all")
    sdc = cats.query_criteria("SDC_GRB", "SDC_Data_Table", columns="all")
    assert set(bat["Trig_ID"]) == set(sdc["TriggerNumber"]) == set(live["targetID"])
    assert bat["Trig_ID"].dtype.kind == "i" and isinstance(bat["Trig_time_UTC"], Time)
    assert bat["Fluence"].unit == u.erg / u.cm ** 2 and sdc["BAT_Err90"].unit == u.arcmin


@pytest.mark.parametrize("catalog,table", sorted(POSITION_SOURCES))
def test_grb_cones_on_every_position_source(cats, sent, catalog, table):
    grb = SkyCoord(335.6985, -7.5179, unit="deg")           # GRB 200416A
    for source, (ra_col, dec_col) in POSITION_SOURCES[(catalog, table)].items():
        rows = cats.query_region(grb, 10 * u.arcmin, catalog=catalog, table=table,
                                 position_source=source.upper())
        body = [p for f, p in sent if f == "queryDB"][-1]
        assert (body["RACol"], body["DecCol"]) == (ra_col, dec_col)
        # Positions the simulated bursts do not have (SPER, UVOT) find nothing; the others find the burst.
        if source in ("SPER", "UVOT"):
            assert len(rows) == 0
        else:
            assert len(rows) == 1 and rows["coord"][0].separation(grb) < 10 * u.arcmin
            assert rows.meta["position_columns"] == (ra_col, dec_col)


def test_bad_position_source_is_refused_before_sending(cats, sent):
    with pytest.raises(InvalidRequestError, match="position_source of UK_XRT/XRTLiveCat.*best, Onboard"):
        cats.query_object("GRB 200416A", catalog="UK_XRT", table="XRTLiveCat", position_source="XRT")
    with pytest.raises(InvalidRequestError, match="only the GRB tables"):
        cats.query_object("GK Per", position_source="best")
    assert [f for f, _ in sent if f == "queryDB"] == []


# ---------------------------------------------------------------------- full tables
def test_table_snapshots_have_the_documented_epochs(cats):
    snaps = cats.list_table_snapshots()
    hourly = list(snaps["epoch"][snaps["kind"] == "hourly"])
    daily = list(snaps["epoch"][snaps["kind"] == "daily"])
    assert hourly[:2] == ["2022-08-17 10:00:01 UTC", "2022-08-17 11:00:02 UTC"]
    assert daily[:2] == ["2022-08-16", "2022-08-17"]
    assert isinstance(snaps["time"], Time) and snaps["time"][list(snaps["epoch"]).index(hourly[0])].isot == \
        "2022-08-17T10:00:01.000"
    assert "sources" in snaps["tables"][0].split(",")


def test_full_table_csv_and_fits_give_the_same_table(cats):
    csv = cats.get_full_table("LSXPS", "datasets", subset="ultraclean")
    fits = cats.get_full_table("LSXPS", "datasets", subset="ultra-clean", format="fits")
    assert len(csv) == len(fits) > 1000 and csv.colnames == fits.colnames
    assert list(csv["ObsID"][:50]) == list(fits["ObsID"][:50]) and len(csv["ObsID"][0]) == 11
    assert csv["ExposureUsed"].unit == u.s and isinstance(csv["StartTime_UTC"], Time)
    assert np.all(csv["StartTime_UTC"] == fits["StartTime_UTC"]) and set(csv["FieldFlag"]) == {0}
    # The full table is the whole of what a query pages through.
    queried = cats.query_criteria("LSXPS", "datasets", subset="ultraclean", columns=["DatasetID"])
    assert sorted(queried["DatasetID"]) == sorted(csv["DatasetID"])


def test_full_table_snapshot_is_the_table_as_it_was(cats, sent, tmp_path):
    now = cats.get_full_table("LSXPS", "sources")
    then = cats.get_full_table("LSXPS", "sources", epoch="2022-08-17", download_dir=tmp_path)
    assert 0 < len(then) < len(now) and set(then["LSXPS_ID"]) < set(now["LSXPS_ID"])
    assert np.all(then["FirstObsDate"] <= Time("2022-08-17T00:00:01"))
    assert then.meta["path"].endswith("LSXPS_Sources_20220817T000001.csv.gz")
    with gzip.open(then.meta["path"], "rt") as handle:       # kept as served, a verified gzip file
        assert handle.readline().startswith("LSXPS_ID,IAUName,RA,Decl")
    bodies = [p for f, p in sent if f == "getSXPSTable"]
    assert bodies[-1] == {"whichCat": "LSXPS", "table": "sources", "format": "csv", "epoch": "2022-08-17"}


def test_full_table_options_are_checked_before_fetching(cats, sent, tmp_path):
    with pytest.raises(InvalidRequestError, match="epoch is '2022-08-17 10:00'.*exactly one.*'2022-08-16'"):
        cats.get_full_table("LSXPS", "sources", epoch="2022-08-17 10:00")
    with pytest.raises(InvalidRequestError, match="table is 'transients'.*sources, datasets"):
        cats.get_full_table("2SXPS", "transients")
    with pytest.raises(InvalidRequestError, match="format is 'votable'.*csv, fits"):
        cats.get_full_table("LSXPS", "sources", format="votable")
    with pytest.raises(InvalidRequestError, match="only LSXPS has snapshots"):
        cats.get_full_table("2SXPS", "sources", epoch="2022-08-17")
    assert [f for f, _ in sent if f == "getSXPSTable"] == []
    xcorr = cats.get_full_table("LSXPS", "extcatmatches")           # the official client's alias
    assert xcorr.meta["table"] == "xcorr" and xcorr["Distance"].unit == u.arcsec


def test_corrupt_download_never_replaces_a_good_copy(cats, svc, tmp_path):
    tmp_path = tmp_path / "tables"
    good = cats.get_full_table("LSXPS", "transients", epoch="2022-08-18", download_dir=tmp_path)
    kept = tmp_path / "LSXPS_Transients_20220818T000001.csv.gz"
    before = kept.read_bytes()
    served = svc.sxps.root / "LSXPS" / "tables" / kept.name
    data = bytearray(served.read_bytes())
    data[-6] ^= 0xFF                            # the gzip trailer's CRC no longer matches
    served.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="gzip"):
        cats.get_full_table("LSXPS", "transients", epoch="2022-08-18", download_dir=tmp_path, overwrite=True)
    assert kept.read_bytes() == before and len(good) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]     # no part file left behind


def test_bug_12_full_table_read_from_what_was_downloaded(cats, svc, tmp_path, monkeypatch):
    """swifttools saves basename(URL) but opens basename(FILE), reuses an existing file silently and
    needs a gunzip binary."""
    original = svc.sxps.answer

    def renaming(body, base_url=""):
        answer = original(body, base_url)
        if body.get("APIFunc") == "getSXPSTable":
            answer["FILE"] = "/data/LSXPS/tables/some_other_name.csv"
        return answer

    monkeypatch.setattr(svc.sxps, "answer", renaming)
    table = cats.get_full_table("LSXPS", "oldstacks", epoch="2022-08-19", download_dir=tmp_path)
    assert table.meta["path"].endswith("LSXPS_OldStacks_20220819T000001.csv.gz") and len(table) > 0
    assert len(table["ObsID"][0]) == 11 and table["SupersededBy"][0].startswith("1")
    # An existing file is never reused in silence.
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cats.get_full_table("LSXPS", "oldstacks", epoch="2022-08-19", download_dir=tmp_path)
    # No gunzip binary is needed: a process without one reads the snapshot all the same.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    again = cats.get_full_table("LSXPS", "oldstacks", epoch="2022-08-19", download_dir=tmp_path,
                                overwrite=True)
    assert len(again) == len(table)


# ---------------------------------------------------------------------- the official client's bugs
def test_bug_16_changing_a_cone_and_its_units(cats, sent):
    """swifttools' editConeSearch passes the units as the name: every edit is a ValueError."""
    where = SkyCoord(52.80004, 43.90431, unit="deg")
    first = cats.query_region(where, 6 * u.arcmin, catalog="obs", table="swiftmastr")
    same = cats.query_region(where, 0.1 * u.deg, catalog="obs", table="swiftmastr")
    wider = cats.query_region(where, 360, catalog="obs", table="swiftmastr")     # a number is arcsec
    bodies = [p for f, p in sent if f == "queryDB"]
    assert [b["searchRad"] for b in bodies] == pytest.approx([360.0, 360.0, 360.0])
    assert {b["adUnits"] for b in bodies} == {"arcsec"}
    assert list(first["obsid"]) == list(same["obsid"]) == list(wider["obsid"]) and len(first) > 0
    smaller = cats.query_region(where, 1 * u.arcsec, catalog="LSXPS", table="sources")
    assert len(smaller) == 1


def test_bug_18_dataset_ids_subsets_and_wrong_tables(cats):
    """swifttools' SXPSQuery names the datasets id Dataset_ID (real: DatasetID), a subset of a table
    without subsets is a KeyError, and a wrong-table call returns its error instead of raising."""
    datasets = cats.query_object("GK Per", 12 * u.arcmin, catalog="LSXPS", table="datasets")
    assert "DatasetID" in datasets.colnames and "Dataset_ID" not in datasets.colnames
    with pytest.raises(InvalidRequestError, match="subset is 'clean', but LSXPS/xcorr has no subsets"):
        cats.query_criteria("LSXPS", "xcorr", subset="clean")
    with pytest.raises(InvalidRequestError, match="table is 'transients'"):
        cats.query_criteria("2SXPS", "transients")


def test_bug_19_enhanced_grb_positions_use_their_own_declination(cats, sent, official):
    """swifttools' posSource 'Enhanced' sends DecCol SPER_Decl, so its cone uses another position's Dec."""
    rows = cats.query_object("GRB 200416A", 30 * u.arcsec, catalog="UK_XRT", table="XRTLiveCat",
                             position_source="Enhanced")
    body = [p for f, p in sent if f == "queryDB"][-1]
    assert (body["RACol"], body["DecCol"]) == ("Enh_RA", "Enh_Decl")
    assert list(rows["name"]) == ["GRB 200416A"]
    from swifttools.ukssdc.query import GRBQuery
    q = GRBQuery(cat="UK_XRT", silent=True)
    q.posSource = "Enhanced"
    q.addConeSearch(name="GRB 200416A", radius=30, units="arcsec")
    q.submit()
    assert q.numRows == 0           # the simulated bursts have no SPER position: their cone finds nothing


def test_bug_20_two_clause_constraints(cats, sent):
    """swifttools' DBFilter documents a 7-item list it rejects (at most 6 items)."""
    rows = cats.query_criteria("obs", "swiftmastr", xrt_exposure=("<", 600, "OR", "BETWEEN", 1500, 1600),
                               columns=["obsid", "xrt_exposure"])
    body = [p for f, p in sent if f == "queryDB"][0]
    assert body["constraints"] == [{"colName": "xrt_exposure", "filter": "<", "val": 600, "combiner": "OR",
                                    "filter2": "BETWEEN", "val2": [1500, 1600]}]
    exposure = rows["xrt_exposure"].quantity.to_value(u.s)
    assert len(rows) > 0 and np.all((exposure < 600) | ((exposure >= 1500) & (exposure <= 1600)))
    assert np.any(exposure < 600) and np.any(exposure >= 1500)
    with pytest.raises(InvalidRequestError,
                       match="combiner of xrt_exposure is 'XOR', but must be one of: AND, OR"):
        cats.query_criteria("obs", "swiftmastr", xrt_exposure=("<", 600, "XOR", ">", 1500))


# ---------------------------------------------------------------------- the official client, unchanged
def test_swifttools_documented_table_queries(official, cats):
    from swifttools.ukssdc import query as uq
    # query/SXPS.md: datasets within 12' of GK Per with at least 5 ks (and the catalogue/table setters).
    q = uq.SXPSQuery(silent=True, cat="LSXPS", table="datasets")
    q.cat = "2SXPS"
    q.table = "sources"
    q = uq.SXPSQuery(silent=True, cat="LSXPS", table="datasets")
    q.addConeSearch(name="GK Per", radius=12, units="arcmin")
    q.addFilter(["ExposureUsed", ">=", 5000])
    q.submit()
    assert q.numRows == len(q.results) > 0 and "l_apy" in q.results.columns
    # The subsets (query/SXPS.md): "Clean" is sent as typed.
    q = uq.SXPSQuery(cat="LSXPS", table="sources", silent=True)
    assert tuple(q.subsets) == ("clean", "ultraclean")
    q.subset = "Clean"
    q.addConeSearch(name="GRB 060729", radius=2, units="arcmin")
    q.addFilter(("DetFlag", "=", 0))
    q.submit()
    ours = cats.query_object("GRB 060729", 2 * u.arcmin, subset="clean", DetFlag=0)
    assert q.numRows == len(ours) >= 1 and sorted(q.results["LSXPS_ID"]) == sorted(ours["LSXPS_ID"])
    # Transients confirmed (Classification=1): the docs find 6.
    q = uq.SXPSQuery(cat="LSXPS", table="transients", silent=True)
    q.addFilter(("Classification", "=", 1))
    q.submit()
    assert q.numRows == 6 and set(q.results["Classification"]) == {1}
    # An instrument log.
    q = uq.ObsQuery(silent=True)
    q.table = "swiftxrlog"
    q.addConeSearch(name="GK Per", radius=300, units="arcsec")
    q.submit()
    assert q.numRows > 0 and set(q.results["xrt_mode"]) <= {"WT", "PC"}


def test_swifttools_documented_grb_queries(official):
    from swifttools.ukssdc import query as uq
    # query/GRB.md: the SDC table's short bursts with every column.
    q = uq.GRBQuery(cat="SDC_GRB", silent=True)
    q.addFilter(("BAT_T90", "<", 2))
    q.addCol("*")
    q.submit()
    assert list(q.results.columns[:3]) == ["Name", "TriggerTime", "TriggerNumber"] or q.numRows == 0
    assert len(q.metadata) == 81
    # query/GRB.md: BAT catalogue with the XRT live catalogue as auxiliary catalogue, merged.
    q = uq.GRBQuery(cat="BAT_GRB", silent=True)
    q.setAuxCat("UK_XRT")
    q.addFilter(("T90", "<", 1000))
    q.auxCat.addFilter(("NumLCBreaks", ">=", 1))
    q.submit(merge=True)
    assert q.numRows > 0 and {"GRBname", "name", "NumLCBreaks"} <= set(q.results.columns)
    # Cones on each position source the official client gets right.
    for cat, source in (("UK_XRT", "best"), ("UK_XRT", "Standard"), ("SDC_GRB", "XRT"), ("BAT_GRB", "BAT")):
        q = uq.GRBQuery(cat=cat, silent=True)
        q.posSource = source
        q.addConeSearch(name="GRB 200416A", radius=10, units="arcmin")
        q.submit()
        assert q.numRows == 1, (cat, source)


def test_swifttools_documented_full_tables(official):
    from swifttools.ukssdc.data import SXPS as uds
    # data/SXPS.md: the current table, read back; a subset in FITS; the snapshots and one of them.
    data = uds.getFullTable(table="sources", returnData=True, saveData=False, silent=True)
    assert list(data.columns[:4]) == ["LSXPS_ID", "IAUName", "RA", "Decl"] and len(data) > 2000
    uds.getFullTable(table="datasets", destDir=str(official / "cat"), saveData=True, subset="ultra-clean",
                     format="fits", silent=True)
    assert (official / "cat" / "LSXPS_Datasets_ultra-clean.fits").stat().st_size > 0
    old = uds.listOldTables()
    assert list(old) == ["hourly", "daily"]
    assert list(old["hourly"])[:5] == ["2022-08-17 10:00:01 UTC", "2022-08-17 11:00:02 UTC",
                                       "2022-08-17 12:00:01 UTC", "2022-08-17 13:00:01 UTC",
                                       "2022-08-17 14:00:02 UTC"]
    assert list(old["daily"])[:5] == ["2022-08-16", "2022-08-17", "2022-08-18", "2022-08-19", "2022-08-20"]
    uds.getFullTable(table="sources", destDir=str(official / "cat"), saveData=True, subset="ultra-clean",
                     format="fits", epoch="2022-08-17", silent=True)
    # gunzipped by the official client: the names of the docs, equal for URL and FILE.
    assert (official / "cat" / "LSXPS_Sources_ultra-clean_20220817T000001.fits").stat().st_size > 0
