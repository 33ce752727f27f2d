# Licensed under a 3-clause BSD style license - see LICENSE
"""
The local service's files against real UKSSDC files of the same kind, line by line.

Every line is turned into a template (`line_template`: numbers, month names and the object name
masked, white space kept as written). Header lines, READ lines, section labels, column lines and
``NO`` separators must give exactly the templates of the real sample, in the same order; data lines
are compared by their shape (number of fields and the separators between them). A file kind the
service writes must either have a real sample here or be listed in `UNVERIFIED` with the spec
section it follows, so a new kind cannot drift in unnoticed.
"""
import gzip
import io
import re
import tarfile
from pathlib import Path

import pytest

from xrtprods_astro.server.build import build_products

REAL = Path(__file__).parent / "data" / "real"
COW = REAL / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc"
GRBS = REAL / "jracusin__GRBfits" / "GRBs"
LATE = REAL / "arnaudsomville__gamma_burst" / "spec" / "late_time_extracted"
URL = "http://127.0.0.1:1/user_objects/tprods/USERPROD_9"

#: The object names in the real samples (masked like numbers).
REAL_NAMES = ("AT2018cow", "GRB 060403", "GRB 081028")

#: Real samples per file kind (the kind of ``PCCURVE_incbad.qdp`` is ``PCCURVE.qdp`` ...).
SAMPLES = {
    "curve.qdp": [COW / "curve.qdp", GRBS / "GRB060403" / "curve.qdp", GRBS / "GRB081028A" / "curve.qdp"],
    "curve2.qdp": [COW / "curve2.qdp"],
    "curve_plot.qdp": [COW / "curve_plot.qdp"],
    "MODE.qdp": [COW / "PC.qdp"],
    "MODECURVE.qdp": [COW / "PCCURVE.qdp", GRBS / "GRB060403" / "PCCURVE.qdp",
                      GRBS / "GRB060403" / "WTCURVE.qdp", GRBS / "GRB081028A" / "WTCURVE.qdp"],
    "MODEUL.qdp": [COW / "PCUL.qdp", GRBS / "GRB060403" / "PCUL.qdp"],
    "MODEHR.qdp": [COW / "PCHR.qdp"],
    "MODEHRNOSYS.qdp": [COW / "PCHRNOSYS.qdp"],
    "hardrat.qdp": [COW / "hardrat.qdp"],
    "t0.date": [COW / "t0.date"],
    "_fit.fit": [GRBS / "GRB170705A" / "interval0pc_fit.fit", GRBS / "GRB170705A" / "late_timepc_fit.fit",
                 LATE / "late_timepc_fit.fit"],
    ".areas": [LATE / "late_time.areas"],
}

#: Kinds whose only real sample is PC-only: with WT and PC sections, the order of the sections
#: (which separator precedes which label) has no real evidence and is not compared.
PC_ONLY_SAMPLES = {"curve2.qdp", "curve_plot.qdp", "hardrat.qdp"}

#: Kinds the service writes with no real sample here, and the spec section each follows.
UNVERIFIED = {
    "README.txt": "protocol.md 6.2", ".xcm": "protocol.md 6.2 (models/<r><mode>.xcm)",
    "results.dat": "protocol.md 6.3", "INSXPS": "protocol.md 6.3", "success.txt": "protocol.md 6.4",
    "corrpos.dat": "protocol.md 6.5", "xastrom_corr.dat": "protocol.md 6.5", "NOCORR": "protocol.md 6.5",
}

_MONTHS = r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b"
_NONFINITE = r"(?<![A-Za-z])[-+]?(?:inf|nan)(?![A-Za-z])"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile("%s|%s" % (_NONFINITE, _NUMBER), re.IGNORECASE)
NUM = "<n>"


def line_template(line, names=()):
    """The template of one line: numbers (also ``inf``/``nan``) become ``<n>``, month names
    ``<mon>``, each of ``names`` ``<name>``; every other character, white space included, is kept."""
    for name in sorted(names, key=len, reverse=True):
        line = line.replace(name, "<name>")
    line = re.sub(_MONTHS, "<mon>", line)
    return _TOKEN.sub(NUM, line)


def is_data(template):
    """True for a line of numbers only (an ``::ObsID=<n>`` cell counts as a number)."""
    fields = template.split()
    return bool(fields) and all(f in (NUM, "::ObsID=" + NUM) for f in fields)


def data_shape(template):
    """Field count and separators of a data line: tabs are counted, padding spaces are not."""
    cells = re.split(r"(\s+)", template.strip())
    return "".join(c if i % 2 == 0 else ("\t" * c.count("\t") or " ") for i, c in enumerate(cells))


def structure(text, names=()):
    """The line templates of a file, each run of data lines replaced by one ``DATA`` entry
    naming the shapes of its lines."""
    out = []
    for line in text.split("\n"):
        t = line_template(line, names)
        if is_data(t):
            shape = "DATA " + data_shape(t)
            if not (out and out[-1].startswith("DATA ")):
                out.append(shape)
            elif shape not in out[-1].split(" | "):
                out[-1] += " | " + shape[5:]
        else:
            out.append(t)
    return out


def _runs(seq):
    return {item for item in seq}, set(zip(seq, seq[1:]))


def _header(seq):
    """Template lines before the first READ command (the header block)."""
    for i, t in enumerate(seq):
        if t.startswith("READ"):
            return seq[:i]
    return seq


def kind_of(name):
    """The file kind of a service file name (mode, NOSYS/_nosys/_incbad spellings removed)."""
    if name.endswith("_fit.fit"):
        return "_fit.fit"
    for ext in (".areas", ".xcm"):
        if name.endswith(ext):
            return ext
    base = re.sub(r"(_nosys|_incbad)", "", name)
    base = re.sub(r"^(WT|PC)", "MODE", base)
    if base == "MODENOSYS.qdp":
        return "MODE.qdp"
    return base


def check_exact(service_text, real_path, names):
    """The service file has the real sample's structure, line for line."""
    real_text = real_path.read_text()
    got, want = structure(service_text, names), structure(real_text, REAL_NAMES)
    assert got == want, "\n".join(["%s differs from %s:" % (names, real_path.name)] + [
        "%r  |  %r" % (g, w) for g, w in zip(got + [""] * len(want), want + [""] * len(got)) if g != w][:8])
    assert service_text.endswith("\n") == real_text.endswith("\n")


def _mode_masked(seq):
    """Section labels with the XRT mode masked (``! <mode> data``, ``! <mode> -- hard data``)."""
    return [re.sub(r"^! (WTSLEW|WT|PC)\b", "! <mode>", t) for t in seq]


def check_within(service_text, real_paths, names, pairs=True, extra=()):
    """The service file uses only templates, and (with ``pairs``) neighbouring pairs of templates,
    that real files of the kind use (or ``extra`` templates), and its header block is one of
    theirs. Section labels are compared with the mode masked: the exact labels are checked against
    the AT2018cow folder."""
    got = _mode_masked(structure(service_text, names))
    reals = [_mode_masked(structure(p.read_text(), REAL_NAMES)) for p in real_paths]
    items, known_pairs = set(extra), set()
    for seq in reals:
        i, p = _runs(seq)
        items |= i
        known_pairs |= p
    gi, gp = _runs(got)
    # DATA entries may hold fewer shapes than the real run: compare shape by shape.
    shapes = {s for item in items if item.startswith("DATA ") for s in item[5:].split(" | ")}
    for item in gi:
        if item.startswith("DATA "):
            assert set(item[5:].split(" | ")) <= shapes, item
    assert {i for i in gi if not i.startswith("DATA ")} <= items, sorted(gi - items)
    plain = {(a, b) for a, b in gp if not (a.startswith("DATA ") or b.startswith("DATA "))}
    assert not pairs or plain <= known_pairs, sorted(plain - known_pairs)
    if any(t.startswith("READ") for t in got):
        assert _header(got) in [_header(seq) for seq in reals]


def check_spellings(text):
    """Non-finite values are written as UKSSDC writes them (``inf``, ``-inf``, ``-nan``)."""
    bad = {m for m in re.findall(r"\S*(?:inf|nan)\S*", text, re.IGNORECASE)
           if re.fullmatch(_NONFINITE, m, re.IGNORECASE) and m not in ("inf", "-inf", "-nan")}
    assert not bad


# ------------------------------------------------------------------------------------- jobs
GK_PER = {"name": "GK Per", "lc": 1, "binMeth": "time", "pcbin": 100, "spec": 1, "galactic": 1,
          "specz": 1, "zval": 0.01, "dopsf": 1, "doenh": 1, "doxastrom": 1, "useSXPS": 0}
GRB = {"name": "GRB 200416A", "RA": 335.6985, "Dec": -7.5179, "Tstart": 608713541.952, "targ": "00968211",
       "lc": 1, "binMeth": "time", "pcbin": 2000, "wtbin": 50, "spec": 1, "dopsf": 1, "doenh": 1,
       "doxastrom": 1, "allxastrom": 1, "useSXPS": 0}


@pytest.fixture(scope="module")
def gk_per(tmp_path_factory):
    d = tmp_path_factory.mktemp("gkper")
    out = build_products(GK_PER, "9", URL, d, 3)
    assert all(o.ok for o in out.values()), {c: o.reason for c, o in out.items()}
    return d, out


@pytest.fixture(scope="module")
def grb(tmp_path_factory):
    d = tmp_path_factory.mktemp("grb")
    out = build_products(GRB, "9", URL, d, 5)
    assert all(o.ok for c, o in out.items() if c in ("lc", "spec")), {c: o.reason for c, o in out.items()}
    return d, out


def _service_files(job_dir):
    """``{name: text}`` of every text file of the job, spectrum tarball members included."""
    out = {}
    for path in sorted(job_dir.rglob("*")):
        if path.name.endswith(".tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(path.read_bytes()))) as tar:
                for m in tar.getmembers():
                    if not m.name.endswith((".pi", ".arf", ".rmf")):
                        out[m.name.rsplit("/", 1)[-1]] = tar.extractfile(m).read().decode()
        elif path.is_file() and not path.name.endswith((".gif", ".gz")):
            out[path.name] = path.read_text()
    return out


# ------------------------------------------------------------------------------------ tests
def test_line_template():
    real = " ! T0 for this burst is Swift MET=551097137.0 s, = 2018 Jun 19 at 10:31:55.845 UT"
    assert line_template(real) == (" ! T<n> for this burst is Swift MET=<n> s, = <n> <mon> <n> at "
                                   "<n>:<n>:<n> UT")
    assert line_template("1.0\t-nan\tinf\t-1.2e-03 ") == "<n>\t<n>\t<n>\t<n> "
    assert line_template("trigger: 10724, name: GK Per", ["GK Per"]) == "trigger: <n>, name: <name>"
    assert data_shape("<n> \t<n>\t\t<n>   ") == "<n>\t<n>\t\t<n>"
    assert structure("READ TERR 1 2\n1 2\n3 4\nNO NO\n") == ["READ TERR <n> <n>", "DATA <n> <n>", "NO NO", ""]


def test_every_service_file_kind_has_a_sample_or_a_spec_section(gk_per, grb):
    for job_dir, _ in (gk_per, grb):
        for name in _service_files(job_dir):
            assert kind_of(name) in SAMPLES or kind_of(name) in UNVERIFIED, name


def test_pc_only_time_binned_lc_folder_matches_at2018cow(gk_per):
    """GK Per, PC only, 100 s bins, one upper limit: the layout of the real AT2018cow lc/ folder."""
    job_dir, _ = gk_per
    files = _service_files(job_dir / "lc")
    for name in ("curve.qdp", "curve_nosys.qdp", "curve2.qdp", "curve2_nosys.qdp", "curve_plot.qdp",
                 "PC.qdp", "PCNOSYS.qdp", "PCCURVE.qdp", "PCUL.qdp", "PCHR.qdp", "PCHRNOSYS.qdp",
                 "hardrat.qdp", "t0.date"):
        assert name in files, name
    for name, text in files.items():
        real = {"curve.qdp": COW / "curve.qdp"}.get(kind_of(name), SAMPLES[kind_of(name)][0])
        check_exact(text, real, ["GK Per"])
        check_spellings(text)


def test_wt_and_pc_lc_folder_uses_real_templates_only(grb):
    """A GRB with WT and PC sections: every template and neighbouring pair occurs in real files."""
    job_dir, _ = grb
    files = _service_files(job_dir / "lc")
    assert {"WTCURVE.qdp", "WT.qdp", "PCCURVE.qdp", "curve.qdp", "WTHR.qdp"} <= set(files)
    # The NO lines between data sections are those of the real curve.qdp files (products.md 5).
    separators = {t for p in SAMPLES["curve.qdp"] for t in structure(p.read_text()) if t.startswith("NO")}
    for name, text in files.items():
        if kind_of(name) == "t0.date":
            check_exact(text, SAMPLES["t0.date"][0], ["GRB 200416A"])
        else:
            pc_only = kind_of(name) in PC_ONLY_SAMPLES
            check_within(text, SAMPLES[kind_of(name)], ["GRB 200416A"], pairs=not pc_only,
                         extra=separators if pc_only else ())
        check_spellings(text)


def test_spectrum_members_match_real_fit_and_areas(gk_per, grb):
    files = _service_files(gk_per[0] / "spec")
    # Galactic absorber and redshift: the full set of lines of the real late-time fit summary.
    check_exact(files["interval0pc_fit.fit"], LATE / "late_timepc_fit.fit", [])
    assert files["interval0pc_fit.fit"].splitlines()[0].endswith(" (0, 0)")  # frozen: written (0, 0)
    for job_dir, _ in (gk_per, grb):
        for name, text in _service_files(job_dir / "spec").items():
            if kind_of(name) == "_fit.fit":
                # Gal_nh and z_abs are optional (products.md 5): the lines are those of the
                # fullest real summary, in its order, some left out.
                got, full = structure(text), structure((LATE / "late_timepc_fit.fit").read_text())
                it = iter(full)
                assert all(line in it for line in got), got
                check_within(text, SAMPLES["_fit.fit"], [], pairs=False)
            elif kind_of(name) == ".areas":
                # The real extraction log is PC only; WT event lists are named alike
                # (``<obsid>/<mode>pup<n>.evt``, protocol.md 6.2).
                check_within(text.replace("/wt", "/pc"), SAMPLES[kind_of(name)], [])


def test_wt_sys_columns_hold_what_the_real_file_holds(grb):
    """SYS_NEG / SYS_POS: numbers just below and above 1, whatever the rate, as in GRB 060403's file
    (the service used to write -0.03 and +0.03 times the rate)."""
    from xrtprods_astro.readers.lightcurve import read_lightcurve_qdp
    job_dir, _ = grb
    ours = read_lightcurve_qdp(job_dir / "lc" / "WTCURVE.qdp", t0=0.0, dataset="WT")["WT"]
    real = read_lightcurve_qdp(GRBS / "GRB060403" / "WTCURVE.qdp", t0=0.0, dataset="WT")["WT"]
    for table in (ours, real):
        detections = ~table["upper_limit"]
        neg, pos = table["sys_neg"][detections], table["sys_pos"][detections]
        assert len(neg) and (0.999 < neg).all() and (neg < 1).all()
        assert (1 < pos).all() and (pos < 1.001).all()
        assert table["sys_neg"].unit is None
