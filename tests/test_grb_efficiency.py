# Licensed under a 3-clause BSD style license - see LICENSE
"""What the GRB client asks the service for, and what it reads, per product (issue 21, item 6).

Every HTTP request is recorded at ``requests``' transport adapter (API calls and file GETs
alike). A GRB's targetID and its T0 with UKSSDC's UTC for it are asked for once per cache
folder, not once per client: a second session asks for the product alone, and still gets
UKSSDC's stated UTC. The spectrum archives' FITS files are read when first used, not when
unpacked. No timing is asserted here: the benchmark (benchmarks/bench_grb.py) measures time.
"""
import json
import os
from pathlib import Path

import pytest
import requests.adapters
from astropy.io import fits
from astropy.time import Time

from xrtprods_astro import GRBClass
from xrtprods_astro.exceptions import ReaderError, ResolverError

T0_060729 = 175893150.244       # the simulated GRB 060729's trigger (as tests/test_grb.py)
T0_UTC_060729 = Time("2006-07-29T19:12:28.888")


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("grbeffsvc"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def recorded(monkeypatch):
    """Every HTTP request sent, as (method, what): the API function for API/main.php, else the
    file name."""
    calls = []
    send = requests.adapters.HTTPAdapter.send

    def record(adapter, request, *args, **kwargs):
        what = request.url.rsplit("/", 1)[-1]
        if what == "main.php":
            what = json.loads(request.body)["APIFunc"]
        calls.append((request.method, what))
        return send(adapter, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", record)
    return calls


def _client(svc, cache):
    client = GRBClass(server=svc.url)
    client.cache_location = cache
    return client


def _whats(calls):
    return [what for _, what in calls]


def test_light_curve_first_and_later_sessions(svc, tmp_path, recorded):
    cold = _client(svc, tmp_path / "grbcache").get_lightcurve("GRB 060729")
    # The first session: the name, the curve, and T0's UTC from the header of curve.qdp.
    assert _whats(recorded) == ["GRBNameToTargetID", "downloadLightCurve", "curve.qdp"]
    recorded.clear()
    warm = _client(svc, tmp_path / "grbcache").get_lightcurve("GRB060729")
    # A new client of the same cache folder: the curve alone (swifttools: the name and the curve).
    assert _whats(recorded) == ["downloadLightCurve"]
    for lc in (cold, warm):
        assert lc.meta["target_id"] == 221755
        assert lc.meta["t0_met"] == pytest.approx(T0_060729)
        assert lc.meta["time_source"] == "t0.date"      # UKSSDC's stated UTC, not the clock table
        assert abs((lc.meta["t0"] - T0_UTC_060729).sec) < 2e-3


def test_burst_analyser_later_session_asks_for_the_product_alone(svc, tmp_path, recorded):
    cold = _client(svc, tmp_path / "grbcache").get_burst_analyser("GRB 060729", bat_binning=["snr4"])
    assert sorted(_whats(recorded)) == sorted(["GRBNameToTargetID", "downloadBurstAnalyser", "curve.qdp"])
    recorded.clear()
    warm = _client(svc, tmp_path / "grbcache").get_burst_analyser("GRB 060729", bat_binning=["snr4"])
    assert _whats(recorded) == ["downloadBurstAnalyser"]
    assert abs((warm.meta["t0"] - cold.meta["t0"]).sec) < 1e-6
    assert abs((warm.meta["t0"] - T0_UTC_060729).sec) < 2e-3


def test_spectrum_session_asks_for_the_answer_once(svc, tmp_path, recorded):
    first = _client(svc, tmp_path / "grbcache")
    first.get_spectral_fits("GRB 060729")
    first.get_spectra("GRB 060729", tmp_path / "spec1")
    # The fits' answer serves the archives: downloadSpectrum once.
    assert sorted(_whats(recorded)) == sorted(["GRBNameToTargetID", "downloadSpectrum", "curve.qdp",
                                               "interval0.tar.gz", "late_time.tar.gz"])
    recorded.clear()
    later = _client(svc, tmp_path / "grbcache")
    table = later.get_spectral_fits("GRB 060729")
    spectra = later.get_spectra("GRB 060729", tmp_path / "spec2")
    # swifttools' getSpectra: the name, the answer and the two archives, four requests; here three.
    assert sorted(_whats(recorded)) == sorted(["downloadSpectrum", "interval0.tar.gz", "late_time.tar.gz"])
    assert table.meta["time_source"] == "utcf"
    assert abs((table.meta["t0"] - T0_UTC_060729).sec) < 2e-3
    assert set(spectra) == set(table["interval"]) == {"interval0", "late_time"}


def test_spectrum_answer_is_handed_over_once_and_briefly(svc, tmp_path, recorded, monkeypatch):
    client = _client(svc, tmp_path / "grbcache")
    client.get_lightcurve("GRB 060729")     # the name and T0's UTC, kept from here on
    recorded.clear()
    # The archives first, then the fits: the other way round works too.
    client.get_spectra("GRB 060729", tmp_path / "spec1", intervals=["late_time"])
    client.get_spectral_fits("GRB 060729")
    assert _whats(recorded) == ["downloadSpectrum", "late_time.tar.gz"]
    recorded.clear()
    # Handed over once: the same call twice, or the other call again, asks again.
    client.get_spectral_fits("GRB 060729")
    client.get_spectral_fits("GRB 060729")
    assert _whats(recorded) == ["downloadSpectrum", "downloadSpectrum"]
    recorded.clear()
    # The repository adds intervals as a GRB is observed: a later call is not given an old answer.
    now = [1000.0]
    monkeypatch.setattr(client, "monotonic", lambda: now[0])
    client.get_spectral_fits("GRB 060729")
    now[0] += client.spectrum_handoff_seconds + 1
    client.get_spectra("GRB 060729", tmp_path / "spec2", intervals=["late_time"])
    assert _whats(recorded) == ["downloadSpectrum", "downloadSpectrum", "late_time.tar.gz"]
    recorded.clear()
    client.get_spectral_fits("GRB 060729")      # in time for the answer of that get_spectra
    assert _whats(recorded) == []
    # ... and another client never shares one.
    client.get_spectral_fits("GRB 060729")
    _client(svc, tmp_path / "grbcache").get_spectra("GRB 060729", tmp_path / "spec3", intervals=["late_time"])
    assert _whats(recorded) == ["downloadSpectrum", "downloadSpectrum", "late_time.tar.gz"]


def test_unknown_names_are_asked_again(svc, tmp_path, recorded):
    for _ in range(2):
        with pytest.raises(ResolverError, match="GRB 990101"):
            _client(svc, tmp_path / "grbcache").target_id("GRB 990101")
    # A name the repository does not know yet may be known tomorrow: never remembered.
    assert _whats(recorded) == ["GRBNameToTargetID", "GRBNameToTargetID"]


def test_memo_is_per_server(svc, tmp_path, recorded):
    cache = tmp_path / "grbcache"
    _client(svc, cache).target_id("GRB 060729")
    memo = json.loads((cache / GRBClass._MEMO_FILE).read_text())
    assert memo["targets"] == {svc.url: {"GRB 060729": 221755}}
    # Another server's answers are not taken for this one's.
    memo["targets"]["http://elsewhere.example"] = memo["targets"].pop(svc.url)
    (cache / GRBClass._MEMO_FILE).write_text(json.dumps(memo))
    recorded.clear()
    assert _client(svc, cache).target_id("GRB 060729") == 221755
    assert _whats(recorded) == ["GRBNameToTargetID"]


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"targets": {"%s": {"GRB 060729": "x"}}, '
                                     '"t0": {"%s": {"221755": ["1", "not a date", 3]}}}'])
def test_a_damaged_memo_costs_requests_never_a_result(svc, tmp_path, recorded, content):
    cache = tmp_path / "grbcache"
    cache.mkdir(mode=0o700)
    text = content.replace("%s", svc.url) if "%s" in content else content
    (cache / GRBClass._MEMO_FILE).write_text(text)
    lc = _client(svc, cache).get_lightcurve("GRB 060729")
    assert _whats(recorded) == ["GRBNameToTargetID", "downloadLightCurve", "curve.qdp"]
    assert lc.meta["time_source"] == "t0.date"
    # ... and the memo is good again.
    memo = json.loads((cache / GRBClass._MEMO_FILE).read_text())
    assert memo["targets"][svc.url]["GRB 060729"] == 221755
    assert memo["t0"][svc.url]["221755"][0] == "175893150.244"


def test_a_kept_t0_for_another_t0_is_read_again(svc, tmp_path, recorded):
    cache = tmp_path / "grbcache"
    _client(svc, cache).get_lightcurve("GRB 060729")
    path = cache / GRBClass._MEMO_FILE
    memo = json.loads(path.read_text())
    # As if the repository had moved the GRB's T0 since: the answer's T0 no longer matches.
    memo["t0"][svc.url]["221755"] = ["175893000.000", "2006 Jul 29 at 19:10:00.000 UT"]
    path.write_text(json.dumps(memo))
    recorded.clear()
    lc = _client(svc, cache).get_lightcurve("GRB 060729")
    assert _whats(recorded) == ["downloadLightCurve", "curve.qdp"]
    assert lc.meta["time_source"] == "t0.date" and abs((lc.meta["t0"] - T0_UTC_060729).sec) < 2e-3
    assert json.loads(path.read_text())["t0"][svc.url]["221755"][0] == "175893150.244"


def test_spectrum_files_are_read_when_first_used(svc, tmp_path, monkeypatch):
    import xrtprods_astro.readers.spectrum as spectrum_reader
    opened = []
    original = spectrum_reader.read_fits_bytes

    def counting(source, *args, **kwargs):
        opened.append(Path(source).name)
        return original(source, *args, **kwargs)

    monkeypatch.setattr(spectrum_reader, "read_fits_bytes", counting)
    hdulists = []
    fits_open = fits.open
    monkeypatch.setattr(fits, "open", lambda *a, **k: hdulists.append(a) or fits_open(*a, **k))
    spectra = _client(svc, tmp_path / "grbcache").get_spectra("GRB 060729", tmp_path / "spec")
    # Unpacked, indexed and the grouped spectra's links checked from their headers: no data read,
    # and no HDUList built around those headers either (their cards are parsed as astropy does).
    assert opened == [] and hdulists == []
    assert not spectra["interval0"].broken_links and not spectra["late_time"].broken_links
    pc = spectra["late_time"]["PC"]
    assert isinstance(pc.spectrum, fits.HDUList) and pc.spectrum[1].header["BACKFILE"]
    assert len(pc.spectrum[1].data) > 0
    assert opened == ["late_timepc.pi"]
    pc.spectrum  # noqa: B018 - read once, then kept
    assert opened == ["late_timepc.pi"]
    assert isinstance(pc.rmf, fits.HDUList) and opened == ["late_timepc.pi", "late_timepc.rmf"]


def test_spectrum_extraction_logs_are_read_when_first_used(svc, tmp_path, monkeypatch):
    import xrtprods_astro.readers.spectrum as spectrum_reader
    read = []
    original = spectrum_reader.read_areas_file

    def counting(source):
        read.append(Path(source).name)
        return original(source)

    monkeypatch.setattr(spectrum_reader, "read_areas_file", counting)
    spectra = _client(svc, tmp_path / "grbcache").get_spectra("GRB 060729", tmp_path / "spec")
    assert read == []
    areas = spectra["late_time"].areas
    assert read == ["late_time.areas"] and areas["counts"].unit == "ct" and len(areas) > 0
    assert spectra["late_time"].areas is areas and read == ["late_time.areas"]


@pytest.fixture
def inflated(monkeypatch):
    """The bytes every zlib decompressor made in this test gives out (gzip, tarfile and the
    download's verifier all inflate through ``zlib.decompressobj``)."""
    import zlib
    total = [0]
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args, **kwargs):
            self._inflater = real(*args, **kwargs)

        def decompress(self, *args, **kwargs):
            out = self._inflater.decompress(*args, **kwargs)
            total[0] += len(out)
            return out

        def __getattr__(self, name):
            return getattr(self._inflater, name)

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    return total


def _tar_size(path):
    import gzip
    with gzip.open(path) as handle:
        return len(handle.read())


def test_spectrum_archives_are_inflated_once_to_unpack_them(svc, tmp_path, inflated):
    from xrtprods_astro.archives import safe_extract
    spectra = _client(svc, tmp_path / "grbcache").get_spectra("GRB 060729", tmp_path / "spec")
    archives = sorted((tmp_path / "spec").glob("*.tar.gz"))
    assert [a.name for a in archives] == ["interval0.tar.gz", "late_time.tar.gz"]
    sizes = sum(_tar_size(a) for a in archives)
    inflated[0] = 0
    for archive in archives:
        safe_extract(archive, tmp_path / "again" / archive.name)
    # One reading of each archive: no second pass over the headers, no inflating again from the
    # start to go back to a member. (The gzip trailer's CRC32 and length are still checked.)
    assert sizes <= inflated[0] <= sizes + 2 * (1 << 16)
    again = tmp_path / "again" / "late_time.tar.gz"
    assert sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file()) == \
        sorted(p.relative_to(spectra["late_time"].directory) for p in spectra["late_time"].files)


def test_spectrum_archives_are_inflated_once_from_download_to_files(svc, tmp_path, inflated):
    spectra = _client(svc, tmp_path / "grbcache").get_spectra("GRB 060729", tmp_path / "spec")
    used = inflated[0]
    sizes = sum(_tar_size(a) for a in (tmp_path / "spec").glob("*.tar.gz"))
    # Each archive is checked as it is unpacked (CRC32, length, headers, limits, members), not
    # inflated once more as it downloads.
    assert sizes <= used <= sizes + 4 * (1 << 16)
    assert set(spectra) == {"interval0", "late_time"}
    assert sorted(p.name for p in (tmp_path / "spec").iterdir()) == [
        "interval0", "interval0.tar.gz", "late_time", "late_time.tar.gz"]


def _corrupting(client, times):
    """Damage the next ``times`` archives the client downloads (a byte flipped mid-stream)."""
    download = client._transport.download
    left = [times]

    def damaged(url, dest, **kwargs):
        path = download(url, dest, **kwargs)
        if left[0] > 0:
            left[0] -= 1
            data = bytearray(Path(path).read_bytes())
            data[len(data) // 2] ^= 0xFF
            Path(path).write_bytes(bytes(data))
        return path

    client._transport.download = damaged


def test_a_damaged_spectrum_archive_is_downloaded_again(svc, tmp_path, recorded):
    client = _client(svc, tmp_path / "grbcache")
    client.get_lightcurve("GRB 060729")
    recorded.clear()
    _corrupting(client, 1)
    spectra = client.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert _whats(recorded) == ["downloadSpectrum", "late_time.tar.gz", "late_time.tar.gz"]
    assert isinstance(spectra["late_time"]["PC"].spectrum, fits.HDUList)
    assert sorted(p.name for p in (tmp_path / "spec").iterdir()) == ["late_time", "late_time.tar.gz"]


def test_a_damaged_spectrum_archive_never_takes_its_name(svc, tmp_path, recorded):
    client = _client(svc, tmp_path / "grbcache")
    _corrupting(client, 2)
    with pytest.raises(ReaderError, match="late_time.tar.gz"):
        client.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert _whats(recorded).count("late_time.tar.gz") == 2
    # Nothing unpacked, no archive under its name, no private download folder left behind.
    assert [p.name for p in (tmp_path / "spec").iterdir()] in ([], ["late_time"])
    assert not list((tmp_path / "spec").rglob("*.*"))
    # A re-run downloads it again (only a checked archive is ever read from the folder).
    recorded.clear()
    client.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert "late_time.tar.gz" in _whats(recorded)


def test_an_unsafe_spectrum_archive_is_not_downloaded_again(svc, tmp_path, recorded, monkeypatch):
    import io
    import tarfile
    client = _client(svc, tmp_path / "grbcache")
    download = client._transport.download

    def hostile(url, dest, **kwargs):
        path = download(url, dest, **kwargs)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("../escape.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        Path(path).write_bytes(buffer.getvalue())
        return path

    client._transport.download = hostile
    with pytest.raises(ReaderError, match="climbs out"):
        client.get_spectra("GRB 060729", tmp_path / "spec", intervals=["late_time"])
    assert _whats(recorded).count("late_time.tar.gz") == 1
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "spec" / "late_time.tar.gz").exists()


def test_spectrum_archive_costs_few_folder_operations(svc, tmp_path, monkeypatch):
    client = _client(svc, tmp_path / "grbcache")
    client.get_lightcurve("GRB 060729")
    spec = tmp_path / "spec"
    calls = []
    for name in ("mkdir", "rmdir"):
        real = getattr(os, name)

        def counting(path, *args, _real=real, _name=name, **kwargs):
            if str(spec) in os.fspath(path):
                calls.append((_name, os.path.relpath(os.fspath(path), tmp_path)))
            return _real(path, *args, **kwargs)
        monkeypatch.setattr(os, name, counting)
    client.get_spectra("GRB 060729", spec, intervals=["late_time"])
    # On a shared file system each folder made or removed costs about as much as writing a file:
    # one mkdir per folder, not one per file; a staging folder and its "new" folder, but none
    # for the files replaced when nothing is replaced, none for the download.
    made = [path for op, path in calls if op == "mkdir"]
    staging = [p for p in made if p.startswith("spec/.late_time.extract-") and p.count("/") == 1]
    assert len(staging) == 1
    # Under the staging folder: each folder made once, no folder for replaced files (none is).
    assert sorted(p.replace(staging[0], "STAGING") for p in made if p.startswith(staging[0])) == [
        "STAGING", "STAGING/new", "STAGING/new/models"]
    # No folder for the download; the new interval folder (made by this call, still empty)
    # replaced by the staged one in one rename: its models/ is not made again.
    assert sorted(p for p in made if not p.startswith(staging[0]) and p != "spec") == ["spec/late_time"]
    assert sorted(p.relative_to(spec).as_posix() for p in (spec / "late_time").rglob("*.xcm")) == [
        "late_time/models/late_timepc.xcm"]
    # A second time, into the folder now full: the files are moved one by one, all or nothing.
    client.get_spectra("GRB 060729", spec, intervals=["late_time"], overwrite=True)
    assert (spec / "late_time" / "models" / "late_timepc.xcm").is_file()
