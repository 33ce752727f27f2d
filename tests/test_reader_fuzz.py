# Licensed under a 3-clause BSD style license - see LICENSE
"""Deterministic fuzz of every public reader (issue 20, item 15): real product files and
service answers, mutated with fixed seeds (truncation, byte flips, lines removed, doubled or
swapped, numbers replaced by odd tokens, FITS cards removed, doubled or given swapped or odd
values, JSON values replaced or removed), must give a result or a documented error
(`ReaderError`), never a stray ValueError, KeyError, IndexError or OSError.

Each reader gets ``XRTPRODS_FUZZ_MUTATIONS`` mutations (120 in the suite; raise it by hand for
a longer run); a failure lists every input that escaped, by reader, seed and exception.
"""
import copy
import gzip
import io
import json
import os
import random
import re
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from xrtprods_astro.exceptions import ReaderError, XRTProductsWarning
from xrtprods_astro.readers import (read_image_files, read_job_list, read_lightcurve_files,
                                    read_lightcurve_json, read_lightcurve_qdp, read_position,
                                    read_position_files, read_qdp, read_source_list,
                                    read_source_list_files, read_spectral_fits, read_spectrum_archive)
from xrtprods_astro.readers.images import read_fits_bytes
from xrtprods_astro.readers.spectrum import read_areas_file, read_fit_file

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"
COUNT = int(os.environ.get("XRTPRODS_FUZZ_MUTATIONS", "120"))
DOCUMENTED = (ReaderError,)

PI = REAL / "JohannesBuchner__BXA/examples/sherpa/swift/interval0pc.pi"
AREAS = REAL / "arnaudsomville__gamma_burst/spec/late_time_extracted/late_time.areas"
FITS_FILES = [REAL / "jracusin__GRBfits/GRBs/GRB170705A/interval0pc_fit.fit",
              REAL / "jracusin__GRBfits/GRBs/GRB170705A/interval0wt_fit.fit",
              REAL / "arnaudsomville__gamma_burst/spec/late_time_extracted/late_timepc_fit.fit"]
QDP_FILES = sorted(REAL.rglob("*.qdp"))
LC_DIR = REAL / "annayqho__AT2018cow/data/SwiftXRT/lc"
ODD = [b"", b"nan", b"NaN", b"inf", b"-inf", b"1e999", b"-1e999", b"2x44", b"-", b"--", b"1,2", b"0x10",
       b"99999999999999999999999", b"-0", b"T", b"'", b"\xff\xfe", b"()", b"1.2.3", b"e5", b"#"]
JSON_ODD = [None, "", "x", "NaN", "1e999", -1, 0, 10**30, 1e308, float("nan"), True, [], {}, [1, "a"],
            {"a": None}, "2x44", "-", "2024-13-45 99:99:99"]


# -- mutations ----------------------------------------------------------------------------------
def _lines(raw):
    return raw.split(b"\n")


def mutate_text(raw, rng):
    """One to three of: truncation, byte flips, insertions, lines removed/doubled/swapped, odd tokens."""
    for _ in range(rng.randint(1, 3)):
        how = rng.randrange(8)
        if how == 0 and raw:
            raw = raw[:rng.randrange(len(raw))]
        elif how == 1 and raw:
            data = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            raw = bytes(data)
        elif how == 2:
            pos = rng.randrange(len(raw) + 1)
            raw = raw[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + raw[pos:]
        elif how in (3, 4, 5):
            lines = _lines(raw)
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            if how == 3:
                del lines[i]
            elif how == 4:
                lines.insert(i, lines[j])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            raw = b"\n".join(lines)
        else:
            tokens = list(re.finditer(rb"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|[A-Za-z_]+", raw))
            if tokens:
                token = rng.choice(tokens)
                raw = raw[:token.start()] + rng.choice(ODD) + raw[token.end():]
    return raw


def _header_end(raw):
    for start in range(0, len(raw) - 79, 80):
        if raw[start:start + 8] == b"END     ":
            return start
    return None


def _cards(raw):
    """(start of the primary header, start of each later header) -> the card offsets of one header."""
    offsets, pos = [], 0
    while pos < len(raw):
        end = _header_end(raw[pos:])
        if end is None:
            break
        offsets.append([pos + c for c in range(0, end, 80)])
        # Jump over this HDU's data with the sizes in its header, as a reader would.
        header = fits.Header.fromstring(raw[pos:pos + end + 80].decode("ascii", "replace"))
        naxes = [header.get(f"NAXIS{n}", 0) for n in range(1, header.get("NAXIS", 0) + 1)]
        size = abs(header.get("BITPIX", 8)) // 8 * (header.get("PCOUNT", 0) + int(np.prod(naxes or [0])))
        pos += -(-(end + 80) // 2880) * 2880 + -(-size // 2880) * 2880
    return offsets


def mutate_fits(raw, rng, cards=None):
    """Mutate a (possibly gzipped) FITS file: mostly header cards, sometimes bytes."""
    packed = raw[:2] == b"\x1f\x8b"
    plain = gzip.decompress(raw) if packed else raw
    if packed and rng.random() < 0.15:
        return mutate_text(raw, rng)   # the compressed bytes themselves
    cards = cards if cards is not None else _cards(plain)
    data = bytearray(plain)
    for _ in range(rng.randint(1, 3)):
        header = rng.choice(cards)
        how = rng.randrange(6)
        card = rng.choice(header)
        if how == 0:   # a card removed (the rest shift up; END keeps its block)
            data[card:header[-1] + 80] = data[card + 80:header[-1] + 80] + b" " * 80
        elif how == 1:   # a card doubled over another one
            other = rng.choice(header)
            data[other:other + 80] = data[card:card + 80]
        elif how == 2:   # values of two cards swapped
            other = rng.choice(header)
            a, b = bytes(data[card + 10:card + 80]), bytes(data[other + 10:other + 80])
            data[card + 10:card + 80], data[other + 10:other + 80] = b, a
        elif how == 3:   # an odd value
            value = rng.choice(ODD + [b"-1", b"0", b"999999999", b"'RA---TAN'", b"'DEC--TAN'", b"T"])
            data[card + 10:card + 80] = value.ljust(70)
        elif how == 4:   # a keyword renamed (e.g. CTYPE2 -> CTYPE6, NAXIS1 -> NAXIS9)
            key = bytes(data[card:card + 8]).rstrip()
            if key[-1:].isdigit():
                data[card:card + 8] = (key[:-1] + str(rng.randrange(10)).encode()).ljust(8)
            else:
                data[card:card + 8] = rng.choice([b"NAXIS", b"BITPIX", b"CTYPE1", b"EXTNAME"]).ljust(8)
        else:
            return mutate_text(bytes(data), rng)
    out = bytes(data)
    return gzip.compress(out, mtime=0) if packed else out


def _leaves(value, path=()):
    if isinstance(value, dict):
        yield path
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    elif isinstance(value, list):
        yield path
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    else:
        yield path


def mutate_json(obj, rng):
    """One to three values replaced, removed or swapped anywhere in a decoded answer."""
    obj = copy.deepcopy(obj)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _leaves(obj) if p]
        if not paths:
            return rng.choice(JSON_ODD)
        path = rng.choice(paths)
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        how = rng.randrange(4)
        if how == 0:
            parent[path[-1]] = copy.deepcopy(rng.choice(JSON_ODD))
        elif how == 1:
            del parent[path[-1]]
        elif how == 2:
            other = rng.choice(paths)
            holder = obj
            try:
                for key in other[:-1]:
                    holder = holder[key]
                parent[path[-1]], holder[other[-1]] = holder[other[-1]], parent[path[-1]]
            except (KeyError, IndexError, TypeError):
                pass
        else:
            value = parent[path[-1]]
            if isinstance(value, str):
                parent[path[-1]] = mutate_text(value.encode(), rng).decode("utf-8", "replace")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[path[-1]] = str(value)
    return obj


# -- running a reader ---------------------------------------------------------------------------
def _run(escapes, name, seed, call):
    """Call a reader; a result or a documented error is fine, anything else is recorded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # readers may warn about odd input: that is their job
        try:
            call()
        except DOCUMENTED:
            pass
        except Exception as exc:  # noqa: BLE001 - the point is to catch what should not escape
            escapes.append(f"{name} seed {seed}: {type(exc).__name__}: {str(exc)[:160]}")


def _report(escapes):
    kinds = sorted({e.split(": ")[1] for e in escapes})
    return f"{len(escapes)} inputs escaped ({', '.join(kinds)}):\n" + "\n".join(escapes[:40])


def _gz_fits(hdul):
    buffer = io.BytesIO()
    hdul.writeto(buffer)
    return gzip.compress(buffer.getvalue(), mtime=0)


def _image_files():
    """An image product as the service writes it: images.log, image1.img.gz with a TAN WCS, exposure map."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [335.6985, -7.5179]
    wcs.wcs.crpix = [16.5, 16.5]
    wcs.wcs.cdelt = [-6.55e-4, 6.55e-4]
    image = fits.PrimaryHDU(np.arange(32 * 32, dtype=np.int32).reshape(32, 32) % 7, header=wcs.to_header())
    image.header["EXPOSURE"] = 1234.5
    exposure = fits.PrimaryHDU(np.full((32, 32), 1234.5, dtype=np.float32), header=wcs.to_header())
    return {"images.log": b"1  0.3  10.0\n", "image1.img.gz": _gz_fits(fits.HDUList([image])),
            "summed_ex.img.gz": _gz_fits(fits.HDUList([exposure]))}


def _targz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _write_dir(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    return folder


# -- the readers this package's reader modules own ------------------------------------------------
def test_fuzz_areas_and_fit_files(tmp_path):
    escapes = []
    sources = [AREAS.read_bytes()] + [p.read_bytes() for p in FITS_FILES]
    for seed in range(COUNT):
        rng = random.Random(seed)
        index = seed % len(sources)
        raw = mutate_text(sources[index], rng)
        path = tmp_path / f"case{seed}"
        path.write_bytes(raw)
        reader = read_areas_file if index == 0 else read_fit_file
        _run(escapes, reader.__name__, seed, lambda: reader(path))
        text = raw.decode("utf-8", "replace")
        if "\n" in text:
            _run(escapes, reader.__name__ + " (text)", seed, lambda: reader(text))
    assert not escapes, _report(escapes)


def _spectrum_archive_escapes(tmp_path, seeds):
    members = {"interval0pc.pi": PI.read_bytes(), "interval0.areas": AREAS.read_bytes(),
               "interval0pc_fit.fit": FITS_FILES[0].read_bytes()}
    cards = _cards(members["interval0pc.pi"])
    escapes = []
    for seed in seeds:
        rng = random.Random(seed)
        changed = dict(members)
        choice = rng.randrange(10)
        if choice < 6:
            changed["interval0pc.pi"] = mutate_fits(members["interval0pc.pi"], rng, cards)
        elif choice < 8:
            key = rng.choice(["interval0.areas", "interval0pc_fit.fit"])
            changed[key] = mutate_text(members[key], rng)
        archive = _targz(changed)
        if choice == 8:
            archive = mutate_text(archive, rng)

        def read(archive=archive, dest=tmp_path / f"case{seed}"):
            products = read_spectrum_archive(archive, dest)
            for mode in products.modes.values():
                mode.spectrum  # noqa: B018 - the lazily read files are part of the reader
                mode.utcf  # noqa: B018
        _run(escapes, "read_spectrum_archive", seed, read)
    return escapes


def test_fuzz_spectrum_archive(tmp_path):
    # Each case extracts an archive, the slowest reader here: half as many cases.
    escapes = _spectrum_archive_escapes(tmp_path, range(COUNT // 2))
    assert not escapes, _report(escapes)


def test_spectrum_archive_former_escapes(tmp_path):
    # Seeds that escaped once (AssertionError from astropy for a TTYPEn no card can hold).
    escapes = _spectrum_archive_escapes(tmp_path, [89, 128])
    assert not escapes, _report(escapes)


def test_fuzz_image_files(tmp_path):
    files = _image_files()
    cards = {name: _cards(gzip.decompress(raw)) for name, raw in files.items() if name.endswith(".gz")}
    escapes = []
    for seed in range(COUNT):
        rng = random.Random(seed)
        changed = dict(files)
        name = rng.choice(["image1.img.gz"] * 4 + ["summed_ex.img.gz", "images.log"])
        if name == "images.log":
            changed[name] = mutate_text(files[name], rng)
        else:
            changed[name] = mutate_fits(files[name], rng, cards[name])
        folder = _write_dir(tmp_path / f"case{seed}", changed)

        def read(folder=folder):
            result = read_image_files(folder)
            for index, row in enumerate(result.bands):
                if row["has_wcs"]:
                    result.wcs(index)
        _run(escapes, "read_image_files", seed, read)
        _run(escapes, "read_fits_bytes", seed, lambda: read_fits_bytes(changed["image1.img.gz"]))
    # The three FITS cases of the issue, exactly.
    header = fits.Header.fromstring(gzip.decompress(files["image1.img.gz"]).decode("ascii", "replace"))
    assert header["CTYPE1"] == "RA---TAN"
    assert not escapes, _report(escapes)


def test_image_with_ctype6_instead_of_ctype2_keeps_the_image(tmp_path):
    files = _image_files()
    raw = gzip.decompress(files["image1.img.gz"]).replace(b"CTYPE2  =", b"CTYPE6  =")
    files["image1.img.gz"] = gzip.compress(raw)
    with pytest.warns(XRTProductsWarning, match="no valid celestial WCS"):
        result = read_image_files(_write_dir(tmp_path / "img", files))
    assert not result.bands["has_wcs"][0]
    assert result[0][0].data.shape == (32, 32)


def test_areas_file_with_a_bad_count_is_a_reader_error(tmp_path):
    text = AREAS.read_text().replace("Counts: 244", "Counts: 2x44")
    with pytest.raises(ReaderError, match="2x44"):
        read_areas_file(text)


def test_spectrum_archive_with_a_pi_that_is_not_fits_is_a_reader_error(tmp_path):
    archive = _targz({"interval0pc.pi": b"not FITS at all\n" * 10, "interval0.areas": AREAS.read_bytes()})
    with pytest.raises(ReaderError, match="interval0pc.pi"):
        read_spectrum_archive(archive, tmp_path / "out")
    broken = bytearray(PI.read_bytes())
    start = bytes(broken).index(b"NAXIS1  =", 2880)
    broken[start:start + 8] = b"NAXIS7  "
    archive = _targz({"interval0pc.pi": bytes(broken), "interval0.areas": AREAS.read_bytes()})
    with pytest.raises(ReaderError, match="interval0pc.pi"):
        read_spectrum_archive(archive, tmp_path / "out2")


POS_DIRS = [("pos_psf_results", "standard"), ("pos_psf_insxps", "standard"), ("pos_psf_nopos", "standard"),
            ("pos_enh_success", "enhanced"), ("pos_xastrom_corrpos", "astrometric"),
            ("pos_xastrom_insxps", "astrometric"), ("pos_xastrom_nocorr", "astrometric")]
POS_JSON = [("resp_pos_psf.json", "standard"), ("resp_pos_psf_sxps.json", "standard"),
            ("resp_pos_enh.json", "enhanced"), ("resp_pos_none.json", "standard"),
            ("pos_psf_json_strings.json", "standard"), ("pos_xastrom_json_sxps.json", "astrometric")]


def test_fuzz_positions(tmp_path):
    escapes = []
    dirs = [(DATA / name, kind) for name, kind in POS_DIRS if (DATA / name).is_dir()]
    answers = [(json.loads((DATA / name).read_text()), kind) for name, kind in POS_JSON
               if (DATA / name).is_file()]
    for seed in range(COUNT):
        rng = random.Random(seed)
        folder, kind = dirs[seed % len(dirs)]
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        if files:
            name = rng.choice(sorted(files))
            files[name] = mutate_text(files[name], rng)
        target = _write_dir(tmp_path / f"case{seed}", files)
        _run(escapes, f"read_position_files {folder.name}", seed, lambda: read_position_files(target, kind))
        answer, kind = answers[seed % len(answers)]
        _run(escapes, "read_position", seed, lambda: read_position(mutate_json(answer, rng), kind))
    assert not escapes, _report(escapes)


def _source_text(rows):
    keys = list(rows[0])
    lines = ["# " + " ".join(keys)] + [" ".join(str(r.get(k, "")) or "-" for k in keys) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def test_fuzz_source_lists(tmp_path):
    names = ("src_total.json", "src_all_bands.json", "resp_sourcelist_total.json", "resp_sourcelist_all.json")
    answers = [json.loads((DATA / n).read_text()) for n in names]
    escapes = []
    for seed in range(COUNT):
        rng = random.Random(seed)
        answer = answers[seed % len(answers)]
        _run(escapes, "read_source_list", seed, lambda: read_source_list(mutate_json(answer, rng)))
        bands = {k: v for k, v in answer.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        files = {f"{band}.txt": _source_text(rows) for band, rows in bands.items()}
        name = rng.choice(sorted(files))
        files[name] = mutate_text(files[name], rng)
        target = _write_dir(tmp_path / f"case{seed}", files)
        _run(escapes, "read_source_list_files", seed, lambda: read_source_list_files(target))
    assert not escapes, _report(escapes)


def test_fuzz_job_list_and_spectral_fits():
    jobs = [json.loads((DATA / n).read_text()) for n in ("jobs_list.json", "resp_joblist.json")]
    fits_answers = [json.loads((DATA / n).read_text()) for n in
                    ("spec_fits_mixed.json", "spec_fits_powerlaw.json", "spec_fits_nospectrum.json",
                     "resp_specdata.json", "resp_specdata_nospectrum.json")]
    escapes = []
    for seed in range(COUNT):
        rng = random.Random(seed)
        answer = jobs[seed % len(jobs)]
        _run(escapes, "read_job_list", seed, lambda: read_job_list(mutate_json(answer, rng)))
        text = mutate_text(json.dumps(answer).encode(), rng).decode("utf-8", "replace")
        _run(escapes, "read_job_list (text)", seed, lambda: read_job_list(text))
        answer = fits_answers[seed % len(fits_answers)]
        _run(escapes, "read_spectral_fits", seed, lambda: read_spectral_fits(mutate_json(answer, rng)))
    assert not escapes, _report(escapes)


# -- readers owned elsewhere (qdp, light curves): fuzzed here, escapes reported --------------------
def _lightcurve_escapes(tmp_path, count):
    escapes = []
    lc_json = [json.loads((DATA / n).read_text()) for n in ("lc_getLCData.json", "resp_lcdata.json")]
    for seed in range(count):
        rng = random.Random(seed)
        path = QDP_FILES[seed % len(QDP_FILES)]
        raw = mutate_text(path.read_bytes(), rng)
        target = tmp_path / f"case{seed}.qdp"
        target.write_bytes(raw)
        _run(escapes, "read_qdp", seed, lambda: read_qdp(target))
        _run(escapes, "read_lightcurve_qdp", seed, lambda: read_lightcurve_qdp(target))
        answer = lc_json[seed % len(lc_json)]
        _run(escapes, "read_lightcurve_json", seed, lambda: read_lightcurve_json(mutate_json(answer, rng)))
        if seed % 5 == 0:
            files = {p.name: p.read_bytes() for p in LC_DIR.iterdir() if p.is_file()}
            name = rng.choice(sorted(files))
            files[name] = mutate_text(files[name], rng)
            folder = _write_dir(tmp_path / f"lc{seed}", files)
            _run(escapes, "read_lightcurve_files", seed, lambda: read_lightcurve_files(folder))
    return escapes


def test_fuzz_lightcurve_readers(tmp_path):
    escapes = _lightcurve_escapes(tmp_path, COUNT // 2)
    if escapes:
        # readers/qdp.py and readers/lightcurve.py belong to another change (issue 20); what
        # escapes is reported to it rather than fixed here.
        pytest.xfail(_report(escapes))


# -- what a longer fuzz run (XRTPRODS_FUZZ_MUTATIONS=800) found, pinned ----------------------------
def test_job_list_text_too_long_for_a_file_name():
    # Not JSON, so taken for a path: the file system refused the name (OSError) before.
    with pytest.raises(ReaderError, match="neither JSON nor the path"):
        read_job_list("\ufffd" + "x" * 5000)


def test_corrpos_of_blanks_is_a_reader_error(tmp_path):
    folder = _write_dir(tmp_path / "pos", {"corrpos.dat": b"   \n \t \n"})
    with pytest.raises(ReaderError, match="corrpos.dat"):
        read_position_files(folder, "astrometric")


def test_spectral_fit_integer_too_large_for_its_column():
    answer = json.loads((DATA / "spec_fits_powerlaw.json").read_text())
    answer["interval0"]["WT"]["PowerLaw"]["Dof"] = 10**30
    with pytest.raises(ReaderError, match="Dof"):
        read_spectral_fits(answer)


@pytest.mark.parametrize("value", ["inf", "nan", "12.5"])
def test_fit_file_dof_that_is_not_a_whole_number(value):
    # Found by XRTPRODS_FUZZ_MUTATIONS=2000 (seed 1254): int(inf) raised OverflowError.
    text = FITS_FILES[0].read_text() + f"Cstat = 250.1, Dof = {value}\n"
    with pytest.raises(ReaderError, match="Dof"):
        read_fit_file(text)


def test_images_log_with_an_infinite_band_is_a_reader_error(tmp_path):
    # Found with XRTPRODS_FUZZ_MUTATIONS=4000 (seed 2644): astropy refused inf in the header.
    files = _image_files()
    files["images.log"] = b"1  0.3  inf\n"
    with pytest.raises(ReaderError, match="energy band"):
        read_image_files(_write_dir(tmp_path / "img", files))


def test_spectrum_with_an_unparsable_link_card_lists_it_as_broken(tmp_path):
    # Found with XRTPRODS_FUZZ_MUTATIONS=4000 (seed 1078): astropy's VerifyError on RESPFILE.
    raw = bytearray(PI.read_bytes())
    start = bytes(raw).index(b"RESPFILE=", 2880)
    raw[start + 8:start + 80] = b"= 'unterminated".ljust(72)
    archive = _targz({"interval0pc.pi": bytes(raw), "interval0.areas": AREAS.read_bytes()})
    products = read_spectrum_archive(archive, tmp_path / "out")
    assert ("interval0pc.pi", "RESPFILE", "(unreadable card)") in products.broken_links
