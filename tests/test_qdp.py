# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of the UKSSDC QDP reader, on hand-made files with the real files' quirks."""
import io
import pathlib
import warnings

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table

from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro.readers.qdp import QDPFile, QDPSection, read_qdp

DATA = pathlib.Path(__file__).parent / "data"


def test_curve_sections_labels_and_header():
    qdp = read_qdp(DATA / "lc_curve.qdp")
    assert isinstance(qdp, QDPFile)
    assert qdp.labels == ["WT data", "PC data", "PC Upper limit"]
    assert all(isinstance(s, QDPSection) for s in qdp)
    # The header block lines start with a space before '!'; one has a second '!' and a stray '";'.
    assert qdp.header[0] == "Swift-XRT light curve of GRB 200416A"
    assert qdp.header[2].startswith("T0 = 608713541.952")
    assert len(qdp.header) == 5
    wt = qdp.find("WT data")
    assert wt.names == ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg"]
    assert wt.terr == (1, 2) and wt.serr == ()
    assert wt.table["Rate"].dtype == np.float64
    np.testing.assert_allclose(wt.table["Time"], [95.123, 98.91])
    assert len(qdp.find("PC data")) == 3
    # The upper-limit section has no column line: it takes the previous section's names,
    # and the file ends without a newline.
    ul = qdp.find(r"(PC )?upper limits?")
    assert ul.names == wt.names
    assert float(ul.table["Rate"][0]) == 0.00311
    assert float(ul.table["Time"][0]) == 152340.2


def test_separators_of_any_count_and_empty_sections():
    # A single "NO", a labelled empty section and "NO NO NO NO NO" with spaces.
    qdp = read_qdp(DATA / "lc_curve_nosys_incbad.qdp")
    assert qdp.labels == ["WTSLEW data", "PC data", "PC upper limits"]
    assert len(qdp[0]) == 0 and qdp[0].names == []
    assert len(qdp[1]) == 2 and len(qdp[2]) == 1


def test_single_no_line_between_data_sections():
    text = "READ TERR 1\n! WT data\n1 0.5 -0.5 3\n2 0.5 -0.5 4\nNO\n! PC data\n10 1 -1 0.5 0.1\n"
    qdp = read_qdp(text)
    assert qdp.labels == ["WT data", "PC data"]
    assert len(qdp[0].table.colnames) == 4 and len(qdp[1].table.colnames) == 5
    assert qdp[1].names == ["col1", "col1_perr", "col1_nerr", "col2", "col3"]
    assert list(qdp[1].table["col2"]) == [0.5]


def test_special_tokens_inf_nan_and_no_cells():
    text = ("READ SERR 2\n!Time\tRate\tErr\tSNR\n"
            "1\tinf\t-nan\tNO\n2\t-inf\tnan\t3.5\n3\t1e-3\t2E-4\tINF\n")
    sec = read_qdp(text)[0]
    t = sec.table
    assert np.isposinf(t["Rate"][0]) and np.isneginf(t["Rate"][1])
    assert np.isnan(t["Err"][0]) and np.isnan(t["Err"][1])
    assert isinstance(t["SNR"], MaskedColumn)
    assert list(t["SNR"].mask) == [True, False, False]
    assert t["SNR"][1] == 3.5 and np.isposinf(t["SNR"][2])
    assert t["Err"][2] == pytest.approx(2e-4)


def test_obsid_tokens_are_11_digit_strings():
    sec = read_qdp(DATA / "lc_curve_obsid.qdp")[0]
    assert sec.names[-1] == "ObsID"
    assert sec.table["ObsID"].dtype.kind == "U"
    assert list(sec.table["ObsID"]) == ["00010724002", "00010724003"]
    np.testing.assert_allclose(sec.table["Rate"], [0.8123, 0.7011])
    # Short ObsIDs are zero-padded.
    short = read_qdp("!Time\tObsID\n1\t::ObsID=10724002\n")[0]
    assert short.table["ObsID"][0] == "00010724002"


def test_sections_with_different_column_counts():
    text = ("READ TERR 1 2\n! WT data\n!Time T_+ve T_-ve Rate Ratepos Rateneg SYS_NEG SYS_POS\n"
            "1 1 -1 5 1 -1 -0.2 0.2\nNO NO NO NO NO\n! PC data\n!Time T_+ve T_-ve Rate Ratepos Rateneg\n"
            "100 10 -10 0.5 0.1 -0.1\n")
    qdp = read_qdp(text)
    assert len(qdp.find("WT data").names) == 8
    assert len(qdp.find("PC data").names) == 6
    assert qdp.find("WT data").table["SYS_POS"][0] == 0.2


def test_hardrat_names_with_spaces_and_double_tabs():
    qdp = read_qdp(DATA / "lc_hardrat.qdp")
    assert qdp.labels == ["PC -- hard data", "PC -- soft data", "PC -- hardness ratio"]
    sec = qdp.find("PC -- hardness ratio")
    assert sec.names == ["Time", "Err (pos)", "Err(neg)", "Rate", "Error"]
    assert sec.terr == (1,) and sec.serr == (2,)
    assert sec.vectors() == [("Time", ("Err (pos)", "Err(neg)")), ("Rate", ("Error",))]
    assert np.isposinf(sec.table["Rate"][1]) and np.isneginf(sec.table["Rate"][2])
    assert np.isnan(sec.table["Error"][1])
    # The first header line has no leading space; the second has one.
    assert qdp.header == ["Hardness ratio of GRB 200416A", "T0 = 608713541.952"]


def test_per_mode_file_padding_and_serr_counts_vectors():
    sec = read_qdp(DATA / "lc_PCCURVE.qdp")[0]
    assert sec.label is None
    assert sec.names[:6] == ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg"]
    assert len(sec.names) == 15 and sec.names[-1] == "SNR"
    # "READ TERR 1 2 " (trailing space) then "READ SERR 4": vector 4 is column 8 (BGrate),
    # with its error in column 9 (BGerr) - not raw column 4.
    assert sec.terr == (1, 2) and sec.serr == (4,)
    vec = dict(sec.vectors())
    assert vec["BGrate"] == ("BGerr",)
    assert vec["FracExp"] == ()
    assert sec.table["CtsInSrc"][1] == 20.0 and sec.table["Sigma"][1] == 1000.0


def test_per_mode_hr_file():
    sec = read_qdp(DATA / "lc_PCHR.qdp")[0]
    assert sec.terr == (1,) and sec.serr == (2, 4, 6)
    vec = dict(sec.vectors())
    assert vec["HardRate"] == ("Harderr",)
    assert vec["SoftRate"] == ("SoftErr",)
    assert vec["HR"] == ("HRerr",)
    assert np.isposinf(sec.table["HR"][1]) and np.isnan(sec.table["HRerr"][1])


def test_last_read_command_wins():
    sec = read_qdp(DATA / "lc_conflict.qdp")[0]
    assert sec.terr == (1, 2) and sec.serr == ()
    # No column line: astropy-style names following the error specs in force.
    assert sec.names == ["col1", "col1_perr", "col1_nerr", "col2", "col2_perr", "col2_nerr"]
    assert sec.label == "PC data"


def test_column_line_before_label_curve2():
    qdp = read_qdp(DATA / "lc_curve2.qdp")
    sec = qdp.find("PC data")
    assert sec.names[-3:] == ["BGrate", "BGerr", "FracExp"]
    assert sec.serr == (3,)
    assert dict(sec.vectors())["BGrate"] == ("BGerr",)


def test_bare_dialect():
    qdp = read_qdp(DATA / "lc_bare.qdp")
    assert qdp.labels == ["WT", "PC", "PCUL", "PC_incbad"]
    assert qdp.header == []
    # Space-padded names on the first section only; later sections share them.
    assert qdp[0].names == ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg"]
    assert all(s.names == qdp[0].names for s in qdp)
    ul = qdp.find("PCUL").table
    assert list(ul["Ratepos"]) == [0.0] and ul["Rate"][0] == 0.00311


def test_sources_bytes_str_path_fileobj_agree():
    path = DATA / "lc_curve.qdp"
    raw = path.read_bytes()
    results = [read_qdp(path), read_qdp(str(path)), read_qdp(raw), read_qdp(raw.decode()),
               read_qdp(io.BytesIO(raw))]
    for qdp in results:
        assert qdp.labels == results[0].labels
        np.testing.assert_array_equal(qdp[1].table["Rate"], results[0][1].table["Rate"])


def test_crlf_and_other_commands_ignored():
    text = ("READ TERR 1\r\nLA T my plot\r\nSKIP SINGLE\r\n@plot.pco\r\n"
            "!Time\tdT\tdT2\tRate\r\n1\t1\t-1\t2\r\n")
    sec = read_qdp(text)[0]
    assert sec.names == ["Time", "dT", "dT2", "Rate"]
    assert sec.table["Rate"][0] == 2.0


def test_matches_astropy_on_a_clean_file():
    qdp = read_qdp(DATA / "lc_clean.qdp")
    for table_id, ours in enumerate(qdp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = Table.read(DATA / "lc_clean.qdp", format="ascii.qdp", table_id=table_id)
        assert len(theirs) == len(ours.table)
        assert len(theirs.colnames) == len(ours.names)
        for a, b in zip(theirs.colnames, ours.names):
            np.testing.assert_array_equal(np.asarray(theirs[a], float), np.asarray(ours.table[b], float))


@pytest.mark.parametrize("text, match", [
    ("READ TERR 1 2\n1 2 3\n1 2\n", "has 2 values, not 3"),
    ("READ TERR 1\n1 abc 3\n", "'abc' is not a number"),
    ("READ TERR x\n1 2 3\n", "vector numbers"),
    ("READ WHATEVER 1\n1 2 3\n", "unsupported READ"),
    ("<html><body>Error</body></html>\n", "neither QDP data"),
    ("hello world\n1 2\n", "neither QDP data"),
    ("", "empty"),
    ("!Time\tObsID\n1\t::ObsID=00010724002\n2\t5\n", "mixes"),
])
def test_malformed_input_raises_reader_error(text, match):
    with pytest.raises(ReaderError, match=match):
        read_qdp(text)


def test_bad_source_types_and_missing_file(tmp_path):
    with pytest.raises(ReaderError, match="neither an existing file"):
        read_qdp(str(tmp_path / "missing.qdp"))
    with pytest.raises(ReaderError, match="cannot read"):
        read_qdp(tmp_path / "missing.qdp")
    with pytest.raises(ReaderError, match="got int"):
        read_qdp(42)


def test_find_default_and_repr():
    qdp = read_qdp(DATA / "lc_curve.qdp")
    assert qdp.find("WT upper limit") is None
    assert "PC data" in repr(qdp)
    assert "rows=3" in repr(qdp.find("pc DATA"))


def test_named_flag_says_where_names_come_from():
    text = ("READ TERR 1 2\n! PC data\n1 1 -1 2 0.1 -0.1\nNO NO NO NO NO NO\n! Upper limit\n"
            "3 1 -1 4 0 0\n")
    plain = read_qdp(text)
    assert [s.named for s in plain] == [False, False]
    assert plain[0].names == ["col1", "col1_perr", "col1_nerr", "col2", "col2_perr", "col2_nerr"]
    named = read_qdp(text.replace("! PC data\n", "! PC data\n!Time\tT_+ve\tT_-ve\tRate\tRatepos\tRateneg\n"))
    # The upper-limit section has no column line of its own and shares the previous one.
    assert [s.named for s in named] == [True, True] and named[1].names[3] == "Rate"


def _reference_parse(text):
    """A straightforward line-by-line parse: {label: rows of float()s (None for NO)} per section."""
    sections, label, rows = [], None, []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("READ"):
            continue
        if s.startswith("!"):
            if not s[1:].startswith("Time"):
                label = s[1:].strip()
            continue
        if all(t == "NO" for t in s.split()) and len(rows):
            sections.append((label, rows))
            rows = []
            continue
        rows.append([None if t == "NO" else float(t) for t in s.split()])
    sections.append((label, rows))
    return sections


def _big_curve(rows, rng):
    """A curve.qdp-like text: header, READ TERR 1 2, a WT section of ``rows`` rows, a PC section."""
    lines = [" ! Swift/XRT lightcurve", " ! T0 = 165762738.2", "", "READ TERR 1 2"]
    t = 40.0
    for k, (label, n) in enumerate((("WT data", rows), ("PC data", 7))):
        if k:
            lines.append("NO\tNO\tNO\tNO\tNO")
        lines += [f"! {label}", "!Time    \tT_+ve   \tT_-ve   \tRate    \tRatepos \tRateneg "]
        step = rng.uniform(1.0, 3.0, n)
        times = t + np.cumsum(step)
        t = times[-1] + 1
        rate = rng.uniform(1e-4, 30.0, n)
        lines += [f"{a:.3f}\t{b:.3f}\t{-b:.3f}\t{r:.6e}\t{r / 5:.6e}\t{-r / 5:.6e}"
                  for a, b, r in zip(times, step / 2, rate)]
    return "\n".join(lines) + "\n"


def test_large_file_equals_a_line_by_line_parse(tmp_path):
    # 10^5 rows through the block conversion: every value as float() reads it, names and labels kept.
    text = _big_curve(100_000, np.random.default_rng(3))
    path = tmp_path / "curve.qdp"
    path.write_text(text)
    qdp = read_qdp(path)
    reference = _reference_parse(text)
    assert qdp.labels == [label for label, _ in reference] == ["WT data", "PC data"]
    assert qdp.header == ["Swift/XRT lightcurve", "T0 = 165762738.2"]
    for section, (_, rows) in zip(qdp, reference):
        assert section.names == ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg"]
        expected = np.array(rows, dtype=float)
        got = np.column_stack([np.asarray(section.table[n]) for n in section.names])
        np.testing.assert_array_equal(got, expected)
        assert all(section.table[n].dtype == np.float64 for n in section.names)
    assert qdp[0].line == 7 and qdp[1].line == 7 + 100_000 + 3


def test_special_tokens_kept_in_a_large_section():
    # NO cells, ::ObsID= tags, inf and nan deep inside a long section, and at a line start.
    rng = np.random.default_rng(5)
    n = 20_000
    rate = rng.uniform(0.1, 5.0, n)
    lines = ["READ SERR 2", "!Time\tRate\tErr\tObsID"]
    for k in range(n):
        err = "NO" if k % 997 == 0 else ("inf" if k % 1009 == 0 else f"{rate[k] / 10:.6e}")
        first = "-nan" if k == n - 2 else f"{k + 0.5:.1f}"
        lines.append(f"{first}\t{rate[k]:.6e}\t{err}\t::ObsID={10724002 + k % 3}")
    sec = read_qdp("\n".join(lines))[0]
    t = sec.table
    assert len(t) == n and sec.names == ["Time", "Rate", "Err", "ObsID"]
    assert isinstance(t["Err"], MaskedColumn)
    np.testing.assert_array_equal(np.flatnonzero(t["Err"].mask), np.arange(0, n, 997))
    assert np.isposinf(t["Err"][1009]) and np.isnan(t["Time"][n - 2])
    assert t["Time"][n - 1] == n - 0.5
    assert list(t["ObsID"][:4]) == ["00010724002", "00010724003", "00010724004", "00010724002"]
    np.testing.assert_array_equal(np.asarray(t["Rate"]), np.array([float(f"{r:.6e}") for r in rate]))


def test_comments_blank_lines_and_line_endings_inside_sections():
    # Comments and blank lines between data rows stay in the same section; a data line first in
    # the file, CR-only line ends and no final newline read as with LF.
    text = ("1 2 3\n\n   \n4 5 6\n! a note\n7 8 9\n  10 11 12\nNO NO NO\n"
            "!Time A B\n\n13 14 15\n! PC data\nnan 16 17")
    for variant in (text, text.replace("\n", "\r\n"), text.replace("\n", "\r"), text.encode("latin-1")):
        qdp = read_qdp(variant)
        assert [len(s) for s in qdp] == [4, 2]
        first, second = qdp
        assert first.line == 1 and first.comments == [" a note"]
        np.testing.assert_array_equal(first.table["col3"], [3, 6, 9, 12])
        assert second.names == ["Time", "A", "B"] and second.line == 11
        assert second.table["A"][0] == 14 and np.isnan(second.table["Time"][1])


# -- issue 20: names that cannot be matched, and bounded sections and sizes ------------------

REAL_LC = pathlib.Path(__file__).parent / "data" / "real" / "annayqho__AT2018cow" / "data" / "SwiftXRT" / "lc"


def test_hardrat_with_tabs_expanded_keeps_err_pos_a_time_error():
    # An editor that expands tabs turns "!Time\t\tErr (pos)\tErr(neg)\tRate\t\tError" into
    # blanks only: a plain split gives six words for five columns, and the old reader cut the
    # last one, so "Err" (the time's half-width) became the rate error's name.
    text = (REAL_LC / "hardrat.qdp").read_text()
    qdp = read_qdp(text.expandtabs())
    assert qdp[0].names == ["Time", "Err (pos)", "Err(neg)", "Rate", "Error"]
    original = read_qdp(text)
    for expanded, section in zip(qdp, original):
        assert expanded.names == section.names
        for name in section.names:
            np.testing.assert_array_equal(expanded.table[name], section.table[name])


def test_column_line_with_more_names_than_columns_is_not_used(caplog):
    text = "READ TERR 1\n! PC data\n!Time Err Lo Rate Rateerr Extra\n1 0.5 -0.5 2 0.1\n"
    with caplog.at_level("WARNING", logger="xrtprods_astro.readers.qdp"):
        section = read_qdp(text)[0]
    assert not section.named and section.names == ["col1", "col1_perr", "col1_nerr", "col2", "col3"]
    assert "names not used" in caplog.text


def _tiny_sections(n):
    return "READ SERR 1\n" + "".join(f"! s{k}\n{k} 1\nNO NO\n" for k in range(n))


def test_sections_beyond_conf_limit_are_refused():
    from xrtprods_astro import conf
    with conf.set_temp("qdp_max_sections", 10):
        assert len(read_qdp(_tiny_sections(10))) == 10
        with pytest.raises(ReaderError, match=r"conf\.qdp_max_sections \(10\)"):
            read_qdp(_tiny_sections(11))
    # The default is far above any real file (a few dozen sections) and below a hostile one.
    assert 100 <= conf.qdp_max_sections <= 100000
    with pytest.raises(ReaderError, match="qdp_max_sections"):
        read_qdp(_tiny_sections(conf.qdp_max_sections + 1))


def test_qdp_larger_than_conf_limit_is_refused(tmp_path):
    from xrtprods_astro import conf
    path = tmp_path / "big.qdp"
    path.write_text(_tiny_sections(50))
    with conf.set_temp("qdp_max_bytes", 100):
        with pytest.raises(ReaderError, match=r"source: .*big\.qdp.*conf\.qdp_max_bytes \(100\)"):
            read_qdp(path)
        with pytest.raises(ReaderError, match=r"source: the QDP text .*conf\.qdp_max_bytes"):
            read_qdp(path.read_bytes())
    assert len(read_qdp(path)) == 50
