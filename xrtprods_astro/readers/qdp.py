# Licensed under a 3-clause BSD style license - see LICENSE
"""
A reader for the QDP files written by the UKSSDC (Swift-XRT light curves,
hardness ratios, burst-analyser curves).

`astropy.io.ascii` has a QDP reader, but it cannot read many real UKSSDC
files: it rejects ``inf`` tokens, ``::ObsID=`` cells, a single ``NO``
separator and sections with different column counts, it ignores the column
names written in the file, finds sections only by index and re-parses the
whole file for each section. `read_qdp` reads every section in one pass,
keeps each section's ``!`` label and header-derived column names, and builds
each section's columns with numpy on the whole block.

What the reader understands:

* ``READ TERR`` / ``READ SERR`` commands, counting QDP *vectors* (a vector
  with ``TERR`` spans three columns, with ``SERR`` two); when commands
  conflict, the last one before the data wins. Other QDP commands (``LA``,
  ``PLOT``, ``SKIP``, ``@file``...) are ignored.
* ``!`` comment lines: those before the first command form the file header;
  between sections they give each section its label (``WT data``,
  ``PC Upper limit``, ``PC -- hard data``...) and its column-name line
  (``!Time T_+ve ...``, ``!MJD ...``), in either order.
* separators: a line made only of ``NO`` tokens, whatever their number.
* cells: numbers, ``inf``, ``-inf``, ``nan``, ``-nan``, ``NO`` (a masked
  value) and ``::ObsID=00012345001`` tokens (kept as 11-digit strings).
"""
import io
import itertools
import logging
import os
import re
from dataclasses import dataclass, field

import numpy as np
from astropy.table import MaskedColumn, Table

from ..exceptions import ReaderError

__all__ = ["QDPSection", "QDPFile", "read_qdp"]

log = logging.getLogger("xrtprods_astro.readers.qdp")

# Tokens that can start a data line although they do not start with a digit.
_DATA_WORDS = {"NO", "NAN", "+NAN", "-NAN", "INF", "+INF", "-INF", "INFINITY", "-INFINITY", "+INFINITY"}
_NUMERIC_START = frozenset("0123456789+-.")
# QDP/PLT commands (and common abbreviations) that may appear in a data file;
# only READ changes how the data are read, the rest only affect plotting.
_QDP_COMMANDS = {
    "LA", "LAB", "LABEL", "PLOT", "PL", "PLO", "P", "SKIP", "SK", "LOG", "LO", "R", "RESCALE",
    "LINE", "LI", "MA", "MARKER", "CO", "COLOR", "COLOUR", "LW", "LS", "CS", "TIME", "VIEW", "V",
    "WINDOW", "WI", "WIN", "ERROR", "ER", "GAP", "FONT", "FO", "DEVICE", "DEV", "D", "HARDCOPY",
    "HARD", "H", "CP", "CPD", "SCR", "WEIGHT", "WE", "FIT", "MODEL", "MO", "MOD", "NEWPAR", "NE",
    "DG", "GRID", "GR", "TICKS", "X", "Y", "XAX", "YAX", "XAXIS", "YAXIS", "STATISTIC", "ST",
    "QUIT", "Q", "EXIT", "WDATA", "WH", "WENV", "FREEZE", "THAW", "CLEAR", "CL", "IGNORE", "IG",
}
# Column-name lines start with the time axis name; labels never do.
_COLUMN_LINE = re.compile(r"^\s*(time|mjd|met|tdb|t_?start|t)\b", re.IGNORECASE)
_TAGGED = re.compile(r"^::([A-Za-z_]\w*)=(.*)$")


@dataclass
class QDPSection:
    """One section (one QDP "table") of a QDP file.

    Attributes
    ----------
    label : str or None
        The section's ``!`` label without the ``!``, e.g. ``"WT data"``,
        ``"PC Upper limit"``, ``"PC -- hard data"``; None when unlabelled.
    names : list of str
        Column names as written in the file's column-name line (stripped,
        inner spaces kept, e.g. ``"Err (pos)"``), or astropy-style names
        (``col1``, ``col1_perr``, ``col1_nerr``, ``col2_err``...) when the
        section has no column-name line.
    table : `~astropy.table.Table`
        The data; numeric columns are float64 (`~astropy.table.MaskedColumn`
        where a cell was ``NO``), tagged ``::Key=value`` columns are strings.
    terr, serr : tuple of int
        The QDP vectors (1-based) with two-sided and symmetric errors in force
        for this section.
    comments : list of str
        Every ``!`` comment line attached to the section, without the ``!``.
    line : int
        1-based line number of the section's first data line (or of the line
        that opened it when it is empty).
    named : bool
        True when `names` come from a column-name line of the file (the
        section's own, or the previous section's for a section without one);
        False when they are the astropy-style defaults, in which case only the
        ``READ`` layout (`vectors`) says what the columns are.
    """

    label: object
    names: list
    table: Table
    terr: tuple = ()
    serr: tuple = ()
    comments: list = field(default_factory=list)
    line: int = 0
    named: bool = False

    def __len__(self):
        return len(self.table)

    def __repr__(self):
        return (f"<QDPSection label={self.label!r} rows={len(self.table)} "
                f"columns={len(self.names)} terr={self.terr} serr={self.serr}>")

    def vectors(self):
        """Map QDP vectors to column names.

        Returns
        -------
        list of tuple
            One ``(value_name, error_names)`` per vector, where
            ``error_names`` is ``(pos, neg)`` for ``TERR`` vectors, ``(err,)``
            for ``SERR`` vectors and ``()`` otherwise.
        """
        return _vector_layout(len(self.names), self.terr, self.serr, self.names)


class QDPFile(list):
    """The sections of a QDP file, in file order (a `list` of `QDPSection`).

    Attributes
    ----------
    header : list of str
        The ``!`` comment lines before the first QDP command, without the
        ``!`` (object name, T0, binning... in UKSSDC curves).
    """

    def __init__(self, sections=(), header=()):
        super().__init__(sections)
        self.header = list(header)

    @property
    def labels(self):
        """The sections' labels, in file order."""
        return [s.label for s in self]

    def find(self, *patterns, default=None):
        """First section whose label matches one of ``patterns``.

        Parameters
        ----------
        *patterns : str
            Regular expressions matched case-insensitively against the whole
            label (``re.fullmatch``), e.g. ``"PC data"`` or
            ``r"(PC )?upper limits?"``.
        default : object, optional
            Returned when no section matches.
        """
        regexes = [re.compile(p, re.IGNORECASE) for p in patterns]
        for section in self:
            if section.label is not None and any(r.fullmatch(section.label.strip()) for r in regexes):
                return section
        return default

    def __repr__(self):
        return f"<QDPFile {len(self)} sections: {self.labels}>"


def _vector_layout(ncols, terr, serr, names=None):
    """Split ``ncols`` columns into QDP vectors following the error specs."""
    layout, col, vec = [], 0, 1
    while col < ncols:
        width = 3 if vec in terr else 2 if vec in serr else 1
        idx = list(range(col, min(col + width, ncols)))
        layout.append(idx)
        col += width
        vec += 1
    if names is None:
        return layout
    return [(names[idx[0]], tuple(names[i] for i in idx[1:])) for idx in layout]


def _default_names(ncols, terr, serr):
    """astropy's ``ascii.qdp`` naming: col1, col1_perr, col1_nerr, col2_err..."""
    names = []
    for vec, idx in enumerate(_vector_layout(ncols, terr, serr), start=1):
        base = f"col{vec}"
        suffixes = ["", "_perr", "_nerr"] if len(idx) == 3 and vec in terr else ["", "_err"]
        names.extend(base + suffixes[k] for k in range(len(idx)))
    return names


def _limits():
    """``(conf.qdp_max_bytes, conf.qdp_max_sections)``, read when used."""
    from .. import conf
    return int(conf.qdp_max_bytes), int(conf.qdp_max_sections)


def _too_big(size, what):
    max_bytes = _limits()[0]
    if size > max_bytes:
        raise ReaderError(f"source: {what} holds {size} bytes, more than conf.qdp_max_bytes "
                          f"({max_bytes}); raise the limit to read it")


def _read_bytes(source):
    """Bytes of ``source`` and the encoding of its text.

    ``source`` is str content, bytes, a path or a file-like object. Numbers
    are ASCII; the encoding only matters for comments (headers sometimes carry
    Latin-1 object names).
    """
    if hasattr(source, "read"):
        source = source.read()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data.isascii():
            return data, "ascii"
        try:
            data.decode("utf-8")
            return data, "utf-8"
        except UnicodeDecodeError:
            return data, "latin-1"
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and "\r" not in source and os.path.isfile(source)):
        try:
            # Refused before a byte is read: the limit is also about memory.
            _too_big(os.path.getsize(source), f"the QDP file {os.fspath(source)!r}")
            with open(source, "rb") as fh:
                return _read_bytes(fh.read())
        except OSError as exc:
            raise ReaderError(f"source: cannot read QDP file {os.fspath(source)!r}: {exc}") from exc
    if isinstance(source, str):
        if not source.strip():
            raise ReaderError("source: the QDP text is empty")
        one_line = "\n" not in source and "\r" not in source
        if one_line and not source.lstrip().upper().startswith(("!", "READ")):
            # A one-line string that is not a file: almost certainly a wrong path.
            raise ReaderError(f"source: {source!r} is neither an existing file nor QDP text")
        return source.encode("utf-8", "surrogatepass"), "utf-8"
    raise ReaderError(f"source: expected QDP text (str or bytes), a path or a file object, "
                      f"got {type(source).__name__}")


def _name_splits(text):
    """Candidate splits of a column-name line, the most literal first."""
    # Names are padded with spaces and separated by tabs in UKSSDC files, and
    # some names hold spaces ("Err (pos)"): try tabs first, then any blank.
    by_tab = [p for p in (p.strip() for p in text.split("\t")) if p]
    by_blank = text.split()
    # A copy whose tabs were expanded to spaces has lost the tabs: there a "(pos)" word
    # qualifies the name before it, as in hardrat.qdp's "Err (pos)".
    merged = []
    for word in by_blank:
        if merged and word.startswith("(") and not merged[-1].endswith(")"):
            merged[-1] += " " + word
        else:
            merged.append(word)
    return by_tab, by_blank, merged


def _parse_names(comment, ncols):
    """Column names from a ``!Time ...`` line, fitted to ``ncols`` columns.

    ``ncols`` None (an empty section) keeps every name found. Returns None
    when the line names more columns than the section has however it is
    split: the names cannot be matched to the columns, and a wrong match
    would put, say, time errors under a rate error's name.
    """
    text = comment.strip()
    by_tab, by_blank, merged = _name_splits(text)
    if ncols is None:
        return by_tab if len(by_tab) > 1 else merged
    for parts in (by_tab, by_blank, merged):
        if len(parts) == ncols:
            return parts
    parts = by_tab if len(by_tab) > 1 else merged
    if len(parts) > ncols:
        log.warning("column line %r has %d names for %d columns: names not used", text[:80],
                    len(parts), ncols)
        return None
    # Fewer names than columns (an unnamed trailing ObsID column, say).
    return parts + [f"col{i + 1}" for i in range(len(parts), ncols)]


def _unique(names):
    seen, out = {}, []
    for name in names:
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 1)
        out.append(name)
    return out


def _tagged_column(values, first_line, colno):
    """Strip ``::Key=`` prefixes; ObsIDs become 11-digit zero-padded strings."""
    out = []
    for k, token in enumerate(values):
        m = _TAGGED.match(token)
        if m is None:
            if token.upper() == "NO":
                out.append("")
                continue
            raise ReaderError(f"data row {k + 1} of the section starting on line {first_line}: "
                              f"column {colno} mixes '::key=value' tags and the value {str(token)!r}")
        key, value = m.groups()
        if key.lower() == "obsid" and value.isdigit():
            value = value.zfill(11)
        out.append(value)
    return np.array(out, dtype=str)


def _convert(block, first_line, ncols):
    """Convert a 2-D array of string tokens into a list of columns."""
    columns = []
    try:
        whole = block.astype(np.float64)
    except ValueError:
        whole = None
    if whole is not None:
        return [whole[:, j] for j in range(ncols)]
    for j in range(ncols):
        col = block[:, j]
        try:
            columns.append(col.astype(np.float64))
            continue
        except ValueError:
            pass
        upper = np.char.upper(col)
        masked = upper == "NO"
        if np.char.startswith(col, "::").any():
            columns.append(_tagged_column(col, first_line, j + 1))
            continue
        try:
            values = np.where(masked, "nan", col).astype(np.float64)
        except ValueError:
            for k, token in enumerate(col):
                if masked[k]:
                    continue
                try:
                    float(token)
                except ValueError:
                    raise ReaderError(f"data row {k + 1} of the section starting on line {first_line}: "
                                      f"column {j + 1}: {str(token)!r} is not a number, NO, inf, nan "
                                      "or a '::key=value' tag") from None
            raise  # pragma: no cover - every token converted one by one
        columns.append(MaskedColumn(values, mask=masked))
    return columns


class _Pending:
    """A section being collected: its comments and the byte ranges of its data lines."""

    def __init__(self, line):
        self.lead = []          # comments before the first data line
        self.trail = []         # comments after it
        self.runs = []          # (start, end) byte ranges holding only data (and blank) lines
        self.first = None       # 1-based line number of the first data line
        self.opened = line
        self.terr = ()
        self.serr = ()

    def has_content(self):
        return bool(self.runs or self.lead or self.trail)


# A line that does not start like a number (after blanks): a comment, a separator, a command,
# or a data line starting with NO, inf, nan or a '::' tag. Only these lines are looked at one by
# one; the lines between them are data, converted block by block.
_EVENT = re.compile(rb"\n[ \t]*[^0-9+\-.\s]")
_FIRST_EVENT = re.compile(rb"[ \t]*[^0-9+\-.\s]")
_NONBLANK = re.compile(rb"\S")


def _classify(s):
    """Kind of a stripped, non-empty line: data, comment, separator or command (None: none)."""
    c = s[0]
    if c in _NUMERIC_START:
        return "data"
    if c == "!":
        return "comment"
    first = s.split(None, 1)[0]
    upper = first.upper()
    if upper == "NO" and all(t == "NO" for t in s.upper().split()):
        return "separator"
    if upper in _DATA_WORDS or first.startswith("::"):
        return "data"
    if upper == "READ" or upper in _QDP_COMMANDS or c == "@":
        return "command"
    return None


def read_qdp(source):
    """Read every section of a QDP file in one pass.

    Parameters
    ----------
    source : str, bytes, path-like or file-like
        QDP text (a `str` containing a newline), raw bytes, a path to a file
        or an open file.

    Returns
    -------
    `QDPFile`
        A list of `QDPSection` in file order, with the file header in
        ``.header`` and label look-up through ``.find(...)``.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        On malformed input: rows of different lengths within a section, a
        token that is not a number, ``NO``, ``inf``/``nan`` or a
        ``::key=value`` tag, a malformed ``READ`` command, a line that is
        neither data, comment nor a QDP command, or empty input; input
        larger than ``conf.qdp_max_bytes`` or with more sections than
        ``conf.qdp_max_sections``.

    Examples
    --------
    >>> from xrtprods_astro.readers.qdp import read_qdp
    >>> qdp = read_qdp("READ TERR 1\\n! PC data\\n!Time\\tT_+ve\\tT_-ve\\tRate\\n"
    ...                "100\\t5\\t-5\\t0.5\\n")
    >>> qdp[0].label, qdp[0].names
    ('PC data', ['Time', 'T_+ve', 'T_-ve', 'Rate'])
    >>> float(qdp.find("PC data").table["Rate"][0])
    0.5
    """
    data, encoding = _read_bytes(source)
    _too_big(len(data), "the QDP text")
    max_sections = _limits()[1]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if _NONBLANK.search(data) is None:
        raise ReaderError("source: the QDP text is empty")
    header = []
    terr, serr = set(), set()
    done = []
    current = _Pending(1)
    counted, lineno = 0, 1      # line number of byte offset `counted`

    def line_at(pos):
        nonlocal counted, lineno
        lineno += data.count(b"\n", counted, pos)
        counted = pos
        return lineno

    def close(sec):
        if sec.has_content():
            if sec.first is None:
                sec.terr, sec.serr = tuple(sorted(terr)), tuple(sorted(serr))
            if len(done) >= max_sections:
                # Refused during the scan, before any table is built: each section costs a
                # Table, and a million tiny ones cost minutes and gigabytes.
                raise ReaderError(f"source: more than conf.qdp_max_sections ({max_sections}) "
                                  f"sections (line {sec.opened}); raise the limit to read it")
            done.append(sec)

    def add_run(start, end):
        # The lines between two non-data lines: data, unless all blank.
        m = _NONBLANK.search(data, start, end)
        if m is None:
            return
        if current.first is None:
            current.first = line_at(m.start())
            current.terr, current.serr = tuple(sorted(terr)), tuple(sorted(serr))
        current.runs.append((start, end))

    starts = itertools.chain([0] if _FIRST_EVENT.match(data) else [],
                             (m.start() + 1 for m in _EVENT.finditer(data)))
    run_start = 0
    for start in starts:
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        s = data[start:end].decode(encoding, "surrogatepass").strip()
        kind = _classify(s)
        if kind == "data":
            continue
        add_run(run_start, start)
        run_start = end + 1
        here = line_at(start)
        if kind == "comment":
            (current.trail if current.runs else current.lead).append(s[1:])
        elif kind == "separator":
            close(current)
            current = _Pending(here)
        elif kind == "command":
            if not current.runs and not done:
                # Comments before the commands are the file header.
                header.extend(c.strip() for c in current.lead)
                current.lead = []
            if s.split(None, 1)[0].upper() == "READ":
                _read_command(s, here, terr, serr)
            else:
                log.debug("line %d: QDP command %r ignored", here, s.split(None, 1)[0])
        else:
            raise ReaderError(f"line {here}: {s[:60]!r} is neither QDP data, a '!' comment, "
                              "a NO separator nor a QDP command")
    add_run(run_start, len(data))
    close(current)

    sections = QDPFile(header=header)
    last_names = None
    buffer = io.BytesIO(data)   # shares the bytes; sections are read from it in place
    for sec in done:
        section, named = _build(sec, _columns(sec, data, buffer, encoding), last_names)
        if named:
            last_names = section.names
        sections.append(section)
    return sections


def _columns(sec, data, buffer, encoding):
    """The columns of a section's data: one numpy conversion of the whole block.

    Returns None for a section without data. A block that is not all numbers
    (``NO`` cells, ``::ObsID=`` tags, malformed rows) is converted token by
    token instead, which also gives the precise error.
    """
    if not sec.runs:
        return None
    if len(sec.runs) == 1:
        start, end = sec.runs[0]
        buffer.seek(start)
        nlines = data.count(b"\n", start, end) + (end == len(data) and not data.endswith(b"\n"))
        lines = itertools.islice(buffer, nlines)
    else:
        lines = io.BytesIO(b"".join(data[a:b] + b"\n" for a, b in sec.runs))
    try:
        # numpy's C parser, no Python object per row; it takes inf, -inf, nan, -nan and checks that
        # every row has the same number of values.
        values = np.loadtxt(lines, dtype=np.float64, comments=None, ndmin=2)
        return list(values.T)
    except ValueError:
        pass
    text = "\n".join(data[a:b].decode(encoding, "surrogatepass") for a, b in sec.runs)
    rows = [r for r in (line.strip() for line in text.splitlines()) if r]
    return _convert_rows(rows, sec)


def _read_command(s, lineno, terr, serr):
    parts = s.split()
    what = parts[1].upper() if len(parts) > 1 else ""
    if what not in ("TERR", "SERR"):
        raise ReaderError(f"line {lineno}: unsupported READ command {s!r} (expected READ TERR or READ SERR)")
    try:
        vectors = {int(p) for p in parts[2:]}
    except ValueError:
        raise ReaderError(f"line {lineno}: {s!r}: READ {what} takes vector numbers (integers)") from None
    if not vectors or min(vectors) < 1:
        raise ReaderError(f"line {lineno}: {s!r}: READ {what} takes vector numbers from 1 up")
    # The last command wins: a vector named again moves to the new kind.
    mine, other = (terr, serr) if what == "TERR" else (serr, terr)
    mine |= vectors
    other -= vectors


def _split_comments(comments):
    """(label, column line) from the comments before a section's data."""
    column_line, label = None, None
    for c in comments:
        if column_line is None and _COLUMN_LINE.match(c):
            column_line = c
        elif c.strip():
            # The label nearest the data wins over earlier stray comments.
            label = c.strip()
    return label, column_line


def _convert_rows(rows, sec):
    """Columns of a section from its stripped data lines, token by token."""
    splits = [r.split() for r in rows]
    ncols = len(splits[0])
    lengths = np.fromiter(map(len, splits), dtype=np.intp, count=len(splits))
    bad = np.flatnonzero(lengths != ncols)
    if bad.size:
        k = int(bad[0])
        label, _ = _split_comments(sec.lead)
        where = f"section {label!r}" if label else "the section"
        raise ReaderError(f"data row {k + 1} of {where} (first data line {sec.first}) has "
                          f"{lengths[k]} values, not {ncols}: {rows[k][:80]!r}")
    flat = list(itertools.chain.from_iterable(splits))
    try:
        values = np.fromiter(map(float, flat), dtype=np.float64, count=len(flat))
        return list(values.reshape(len(splits), ncols).T)
    except ValueError:
        block = np.array(flat, dtype=str).reshape(len(splits), ncols)
        return _convert(block, sec.first, ncols)


def _build(sec, columns, last_names):
    """Build a `QDPSection`; also say whether it had its own column line."""
    label, column_line = _split_comments(sec.lead)
    comments = sec.lead + sec.trail
    if columns is None:
        names = _unique(_parse_names(column_line, None)) if column_line is not None else []
        table = Table(names=names, dtype=[float] * len(names))
        return QDPSection(label, names, table, sec.terr, sec.serr, comments, sec.opened,
                          named=bool(names)), False
    ncols = len(columns)
    named = True
    names = _parse_names(column_line, ncols) if column_line is not None else None
    if names is None and column_line is None and last_names is not None and len(last_names) == ncols:
        # Upper-limit sections and the bare dialect's later sections carry no
        # column line: they share the previous section's columns.
        names = list(last_names)
    elif names is None:
        # No column line, or one that cannot be matched to the columns.
        names = _default_names(ncols, sec.terr, sec.serr)
        named = False
    names = _unique(names)
    table = Table(columns, names=names, copy=False)
    return (QDPSection(label, names, table, sec.terr, sec.serr, comments, sec.first, named=named),
            column_line is not None and named)
