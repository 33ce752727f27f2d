# Licensed under a 3-clause BSD style license - see LICENSE
"""
Swift-XRT light curves from the UKSSDC product generator, as astropy Tables.

Two sources give the same result, a `LightCurve`:

* `read_lightcurve_json`: the ``getLCData`` answer (``Datasets``,
  ``<dataset>Data`` with ``columns``/``data``/``URL``, ``Binning``,
  ``TimeFormat``, ``T0``);
* `read_lightcurve_qdp` / `read_lightcurve_files`: the QDP files of the
  product archive's ``lc/`` folder (``curve.qdp``, ``PCCURVE.qdp``,
  ``WTUL.qdp``, ``PCHR.qdp``, ``hardrat.qdp``... and their ``_nosys`` /
  ``_incbad`` variants, with ``t0.date``).

Whatever the server version, file or flag, the tables have the same
snake_case columns (old ``T_+ve``/``Ratepos`` and new ``TimePos``/``RatePos``
/``UpperLimit`` names map to the same column):

=================  =========  ==============================================
column             unit       meaning
=================  =========  ==============================================
``time``           Time       bin time, UTC (see the UTCF note below)
``t_since_t0``     s          seconds since T0 (MET axis with a known T0)
``met``            s          Swift mission elapsed time (MET axis)
``time_err_pos``   s          bin end minus ``time`` (positive)
``time_err_neg``   s          ``time`` minus bin start (positive magnitude;
                              the service sends it negative)
``rate``           ct / s     count rate; the 3-sigma upper limit in UL
                              datasets
``rate_err_pos``   ct / s     upper 1-sigma error (0 for upper limits)
``rate_err_neg``   ct / s     lower 1-sigma error, positive magnitude
``upper_limit``               True in upper-limit datasets
``frac_exp``                  fractional exposure of the bin
``bg_rate``        ct / s     background rate in the source region
``bg_rate_err``    ct / s     its error
``corr_fact``                 PSF / pile-up / bad-column correction factor
``counts``         ct         counts in the source region
``bg_counts``      ct         background counts scaled to the source region
``exposure``       s          exposure
``sigma``                     detection significance
``snr``                       signal to noise (``inf`` for upper limits)
``sys_err_pos``    ct / s     WT systematic error (when present)
``sys_err_neg``    ct / s     WT systematic error, positive magnitude
``obsid``          str        11-digit ObsID (when present)
``rate_err``       ct / s     Hard and Soft datasets: symmetric rate error
``hr``, ``hr_err``            HR datasets: hardness ratio and its error
=================  =========  ==============================================

Times: a MET axis becomes `~astropy.time.Time` through
`xrtprods_astro.times.met_to_time`, which applies the spacecraft clock
correction UTCF only when ``utcf`` is given; otherwise the times are the
uncorrected spacecraft times (off by up to ~30 s). An MJD axis is read as UTC
MJD, with its half-widths converted from days to seconds.
"""
import logging
import os
import re
import warnings
from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.table import Column, MaskedColumn, Table, vstack
from astropy.time import Time

from ..exceptions import ReaderError, XRTProductsWarning
from ..times import met_to_time
from .qdp import read_qdp

__all__ = ["LightCurve", "read_lightcurve_json", "read_lightcurve_qdp", "read_lightcurve_files",
           "parse_dataset_name"]

log = logging.getLogger("xrtprods_astro.readers.lightcurve")

_CT_S = u.ct / u.s
_UNITS = {
    "t_since_t0": u.s, "met": u.s, "time_err_pos": u.s, "time_err_neg": u.s,
    "rate": _CT_S, "rate_err_pos": _CT_S, "rate_err_neg": _CT_S, "rate_err": _CT_S,
    "bg_rate": _CT_S, "bg_rate_err": _CT_S, "sys_err_pos": _CT_S, "sys_err_neg": _CT_S,
    "counts": u.ct, "bg_counts": u.ct, "exposure": u.s,
}
# Columns sent as negative numbers whose magnitude we keep.
_NEGATIVE = {"time_err_neg", "rate_err_neg", "sys_err_neg"}
_ORDER = ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "rate", "rate_err_pos",
          "rate_err_neg", "rate_err", "hr", "hr_err", "upper_limit", "frac_exp", "bg_rate",
          "bg_rate_err", "corr_fact", "counts", "bg_counts", "exposure", "sigma", "snr",
          "sys_err_pos", "sys_err_neg", "obsid"]

# Normalised source name (lower case, no blanks or underscores) -> our name.
_ALIASES = {
    "time": "time", "mjd": "time", "tdb": "time", "met": "time",
    "timepos": "time_err_pos", "t+ve": "time_err_pos", "err(pos)": "time_err_pos",
    "timeneg": "time_err_neg", "t-ve": "time_err_neg", "err(neg)": "time_err_neg",
    "rate": "rate", "upperlimit": "rate",
    "ratepos": "rate_err_pos", "rateneg": "rate_err_neg",
    "rateerr": "rate_err", "error": "rate_err", "err": "rate_err",
    "fracexp": "frac_exp", "bgrate": "bg_rate", "bgerr": "bg_rate_err", "corrfact": "corr_fact",
    "ctsinsrc": "counts", "bginsrc": "bg_counts", "exposure": "exposure", "sigma": "sigma",
    "sig": "sigma", "snr": "snr", "syspos": "sys_err_pos", "sysneg": "sys_err_neg", "obsid": "obsid",
    "hr": "hr", "hrerr": "hr_err",
}
_KINDS = {"": "rate", "UL": "ul", "Hard": "hard", "Soft": "soft", "HR": "hr"}
_KIND_ORDER = {"rate": 0, "ul": 1, "hard": 2, "soft": 3, "hr": 4}
_MODE_ORDER = {"WTSLEW": 0, "WT": 1, "PC": 2}
_DATASET = re.compile(r"^(WTSLEW|WT|PC)(UL|Hard|Soft|HR)?(_nosys)?(_incbad)?$", re.IGNORECASE)


def _norm(name):
    return re.sub(r"[\s_]", "", str(name)).lower()


def _snake(name):
    """A generic snake_case name for a column we do not know."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", str(name))
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return text.strip("_").lower() or "col"


def parse_dataset_name(name):
    """Split a UKSSDC light-curve dataset name into its parts.

    Parameters
    ----------
    name : str
        ``<mode><type>[_nosys][_incbad]``, e.g. ``"PCUL_incbad"``,
        ``"WTHard"``, ``"WT_nosys_incbad"``.

    Returns
    -------
    dict
        ``mode`` (``"WT"``, ``"PC"`` or ``"WTSLEW"``), ``kind`` (``"rate"``,
        ``"ul"``, ``"hard"``, ``"soft"`` or ``"hr"``), ``nosys`` and
        ``incbad`` (bool), and ``name`` in canonical spelling.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        When the name does not follow the pattern.

    Examples
    --------
    >>> from xrtprods_astro.readers.lightcurve import parse_dataset_name
    >>> parse_dataset_name("WT_nosys_incbad")["kind"]
    'rate'
    >>> parse_dataset_name("pchr")["name"]
    'PCHR'
    """
    m = _DATASET.match(str(name).strip())
    if m is None:
        raise ReaderError(f"dataset: {name!r} is not a light-curve dataset name; expected "
                          "<WT|PC|WTSLEW><''|UL|Hard|Soft|HR>[_nosys][_incbad], e.g. 'PCUL_incbad'")
    mode = m.group(1).upper()
    what = {k.lower(): k for k in _KINDS}[(m.group(2) or "").lower()]
    nosys, incbad = bool(m.group(3)), bool(m.group(4))
    canonical = mode + what + ("_nosys" if nosys else "") + ("_incbad" if incbad else "")
    return {"name": canonical, "mode": mode, "kind": _KINDS[what], "nosys": nosys, "incbad": incbad}


def _sort_key(name):
    try:
        p = parse_dataset_name(name)
    except ReaderError:
        return (9, 9, 1, 1, name)
    return (p["nosys"], p["incbad"], _MODE_ORDER.get(p["mode"], 9), _KIND_ORDER[p["kind"]], name)


class LightCurve(Mapping):
    """A Swift-XRT light curve: an ordered mapping dataset name -> `~astropy.table.Table`.

    Dataset names follow the service: ``WT``, ``PC``, ``PCUL``, ``WTHard``,
    ``PCSoft``, ``PCHR``, ``PC_incbad``, ``WT_nosys_incbad``... Every table
    has the stable columns described in `xrtprods_astro.readers.lightcurve`
    and a ``meta`` with ``job_id``, ``t0`` (`~astropy.time.Time` or None),
    ``t0_met``, ``binning``, ``time_format``, ``mode``, ``dataset``, ``kind``
    (``rate``/``ul``/``hard``/``soft``/``hr``), ``nosys``, ``incbad`` and
    ``url``.

    Parameters
    ----------
    tables : mapping of str to `~astropy.table.Table`
    meta : dict, optional
        Light-curve-wide metadata (``job_id``, ``t0``, ``t0_met``,
        ``binning``, ``time_format``).
    """

    def __init__(self, tables, meta=None):
        self._tables = {name: tables[name] for name in sorted(tables, key=_sort_key)}
        self.meta = dict(meta or {})
        from ..display import set_display_formats
        for table in self._tables.values():
            set_display_formats(table)   # print to the data's precision; the data are untouched

    def __getitem__(self, name):
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"no dataset {name!r} in this light curve; datasets: {self.datasets}") from None

    def __iter__(self):
        return iter(self._tables)

    def __len__(self):
        return len(self._tables)

    @property
    def datasets(self):
        """The dataset names, in a stable order (plain before variants, WT before PC)."""
        return list(self._tables)

    def __repr__(self):
        from ..display import lightcurve_repr
        return lightcurve_repr(self)

    def _select(self, kinds, nosys, incbad, modes):
        chosen = []
        for name, table in self._tables.items():
            m = table.meta
            if (m.get("kind") in kinds and bool(m.get("nosys")) == nosys
                    and bool(m.get("incbad")) == incbad and (modes is None or m.get("mode") in modes)):
                chosen.append(table)
        return chosen

    def combined(self, kind="rate", *, nosys=False, incbad=False, modes=None):
        """All modes of one kind in a single table sorted by time.

        Parameters
        ----------
        kind : {"rate", "hard", "soft", "hr"}
            ``"rate"`` takes the count-rate *and* upper-limit datasets (the
        ``upper_limit`` column tells them apart).
        nosys, incbad : bool
            Which variant to take (default: the plain datasets).
        modes : sequence of str, optional
            Restrict to these modes (``"WT"``, ``"PC"``, ``"WTSLEW"``).

        Returns
        -------
        `~astropy.table.Table`
            The columns common to every chosen dataset plus ``mode`` and
            ``dataset``; empty when no dataset matches.
        """
        allowed = {"rate": ("rate", "ul"), "hard": ("hard",), "soft": ("soft",), "hr": ("hr",)}
        if kind not in allowed:
            raise ValueError(f"kind: {kind!r} is not one of {sorted(allowed)}")
        if modes is not None:
            modes = [modes] if isinstance(modes, str) else list(modes)
        parts = []
        for table in self._select(allowed[kind], nosys, incbad, modes):
            t = table.copy(copy_data=False)
            t["mode"] = np.full(len(t), t.meta.get("mode") or "", dtype="U6")
            t["dataset"] = np.full(len(t), t.meta.get("dataset") or "", dtype="U24")
            t.meta = {}
            parts.append(t)
        if not parts:
            return Table(meta=dict(self.meta))
        out = parts[0] if len(parts) == 1 else vstack(parts, join_type="inner", metadata_conflicts="silent")
        key = out["time"].mjd if "time" in out.colnames else np.asarray(out[out.colnames[0]], dtype=float)
        out = out[np.argsort(key, kind="stable")]
        out.meta = dict(self.meta)
        out.meta["kind"] = kind
        return out

    def _with_times(self, dataset):
        """The dataset's table, which must have absolute times for a time series."""
        table = self[dataset]
        if "time" not in table.colnames:
            raise ReaderError(f"dataset {dataset!r} has no absolute times (T0 unknown): pass t0= "
                              "when reading the files")
        return table

    def to_timeseries(self, dataset=None, *, kind="rate", nosys=False, incbad=False, modes=None):
        """The light curve as an astropy `~astropy.timeseries.BinnedTimeSeries`.

        Without arguments: the count rates and upper limits of every mode, on
        the real bin edges, with ``mode`` and ``upper_limit`` columns (limit
        rows carry the limit in ``rate`` and masked errors). ``kind="hr"``
        gives the hardness ratios; ``dataset=`` one dataset. See
        `xrtprods_astro.readers.timeseries.lightcurve_to_timeseries`.

        Parameters
        ----------
        dataset : str, optional
            A dataset name from `datasets`.
        kind : {"rate", "hr"}
        nosys, incbad : bool
        modes : str or sequence of str, optional
        """
        from .timeseries import lightcurve_to_timeseries
        return lightcurve_to_timeseries(self, dataset, kind=kind, nosys=nosys, incbad=incbad, modes=modes)

    def to_binned_timeseries(self, dataset):
        """One dataset as a `~astropy.timeseries.BinnedTimeSeries`: ``to_timeseries(dataset)``.

        Parameters
        ----------
        dataset : str
            A dataset name from `datasets`.
        """
        return self.to_timeseries(dataset)

    def plot(self, **kwargs):
        """Plot with `xrtprods_astro.plotting.plot_lightcurve`; returns ``(fig, axes)``."""
        from ..plotting import plot_lightcurve
        return plot_lightcurve(self, **kwargs)

    def _repr_html_(self):
        from ..display import lightcurve_html
        return lightcurve_html(self)


# --------------------------------------------------------------------------
# Building one table
# --------------------------------------------------------------------------

def _as_float(values, name, dataset):
    """Float array from numbers, numeric strings, "inf"/"nan"; None -> masked."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "f":
        return arr
    if arr.dtype.kind in "iub":
        return arr.astype(np.float64)
    if arr.dtype.kind in "US":
        try:
            return arr.astype(np.float64)
        except ValueError:
            pass
    mask = np.array([v is None or (isinstance(v, str) and v.strip().upper() in ("", "NO")) for v in arr],
                    dtype=bool)
    try:
        out = np.array([np.nan if m else float(v) for v, m in zip(arr, mask)], dtype=np.float64)
    except (TypeError, ValueError):
        bad = next(v for v, m in zip(arr, mask) if not m and not _floatable(v))
        raise ReaderError(f"dataset {dataset}: column {name!r}: {bad!r} is not a number") from None
    return MaskedColumn(out, mask=mask) if mask.any() else out


def _floatable(v):
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _obsid(values):
    """ObsIDs as 11-digit strings, from numbers or '::ObsID=...' strings."""
    out = []
    for v in values:
        if v is None:
            out.append("")
            continue
        if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
            v = int(v)
        text = str(v).strip()
        if text.startswith("::"):
            text = text.split("=", 1)[-1]
        out.append(text.zfill(11) if text.isdigit() else text)
    return np.array(out, dtype=str)


def _rename(names, kind):
    """Our names for the source columns; unknown names become snake_case."""
    out, band = [], kind if kind in ("hard", "soft") else None
    for name in names:
        key = _norm(name)
        if band and key.startswith(band) and key != band:
            key = key[len(band):]
        ours = _ALIASES.get(key) or _snake(name)
        if kind == "hr" and ours in ("rate", "rate_err"):
            # hardrat.qdp's HR section calls the ratio "Rate" and its error "Error".
            ours = "hr" if ours == "rate" else "hr_err"
        out.append(ours)
    return out


def _build_table(columns, *, info, common, utcf, mjd_axis):
    """Assemble one dataset's table with stable names, units and meta.

    ``columns`` is an ordered dict source name -> array; ``info`` comes from
    `parse_dataset_name`; ``common`` holds the light-curve-wide meta.
    """
    dataset = info["name"]
    names = list(columns)
    ours = _rename(names, info["kind"])
    data = {}
    for src, name in zip(names, ours):
        if name in data:
            log.debug("dataset %s: column %r duplicates %r; kept as %s_2", dataset, src, name, name)
            name = f"{name}_2"
        values = columns[src]
        if name == "obsid":
            data[name] = _obsid(values)
            continue
        values = _as_float(values, src, dataset)
        if name in _NEGATIVE:
            values = np.abs(values)
        data[name] = values
    if "time" not in data:
        raise ReaderError(f"dataset {dataset}: no time column among {names}")

    t0_met = common.get("t0_met")
    raw_time = data.pop("time")
    out = {}
    if mjd_axis:
        out["time"] = Time(np.asarray(raw_time, dtype=float), format="mjd", scale="utc")
        for name in ("time_err_pos", "time_err_neg"):
            if name in data:
                data[name] = data[name] * 86400.0   # half-widths are in days on an MJD axis
    elif common.get("time_format", "").upper() == "TDB":
        # Barycentred MJD: keep the TDB scale, converting it to UTC would be misleading.
        out["time"] = Time(np.asarray(raw_time, dtype=float), format="mjd", scale="tdb")
        for name in ("time_err_pos", "time_err_neg"):
            if name in data:
                data[name] = data[name] * 86400.0
    else:
        seconds = np.asarray(raw_time, dtype=float)
        if t0_met is not None:
            met = seconds + t0_met
            out["time"] = met_to_time(met, utcf=utcf)
            out["time"].format = "isot"
            out["t_since_t0"] = seconds
            out["met"] = met
        elif seconds.size and np.nanmin(seconds) > 1e8:
            # No T0 and values that can only be absolute MET (after 2004).
            out["time"] = met_to_time(seconds, utcf=utcf)
            out["time"].format = "isot"
            out["met"] = seconds
        else:
            if seconds.size:
                warnings.warn(f"dataset {dataset}: T0 is unknown, so times stay as seconds since an "
                              "unknown T0 (column t_since_t0) and there is no 'time' column; "
                              "pass t0= to get absolute times", XRTProductsWarning, stacklevel=4)
            out["t_since_t0"] = seconds
    out.update(data)
    n = len(raw_time)
    if info["kind"] in ("rate", "ul"):
        out["upper_limit"] = np.full(n, info["kind"] == "ul", dtype=bool)
    ordered = [k for k in _ORDER if k in out] + [k for k in out if k not in _ORDER]
    table = Table()
    for name in ordered:
        value = out[name]
        if isinstance(value, Time):
            table[name] = value
            continue
        unit = _UNITS.get(name)
        if isinstance(value, MaskedColumn):
            table[name] = MaskedColumn(value, name=name, unit=unit, copy=False)
        else:
            table[name] = Column(value, name=name, unit=unit, copy=False)
    table.meta.update({
        "job_id": common.get("job_id"), "t0": common.get("t0"), "t0_met": t0_met,
        "binning": common.get("binning"), "time_format": common.get("time_format"),
        "mode": info["mode"], "dataset": dataset, "kind": info["kind"],
        "nosys": info["nosys"], "incbad": info["incbad"], "url": info.get("url"),
    })
    return table


def _common_meta(job_id, t0, utcf, binning, time_format):
    """Light-curve-wide meta; ``t0`` may be MET seconds, a Time or None."""
    t0_met, t0_time = None, None
    if isinstance(t0, Time):
        from ..times import time_to_met
        t0_time = t0
        t0_met = float(time_to_met(t0, utcf=utcf))
    elif t0 is not None and str(t0).strip() not in ("", "0"):
        try:
            t0_met = float(t0)
        except (TypeError, ValueError):
            raise ReaderError(f"T0: {t0!r} is not a Swift MET in seconds") from None
        t0_time = met_to_time(t0_met, utcf=utcf)
    return {"job_id": job_id, "t0": t0_time, "t0_met": t0_met, "binning": binning,
            "time_format": time_format}


# --------------------------------------------------------------------------
# JSON (getLCData)
# --------------------------------------------------------------------------

def read_lightcurve_json(data, *, job_id=None, utcf=None):
    """Read the ``getLCData`` answer into a `LightCurve`.

    Parameters
    ----------
    data : dict, str or bytes
        The decoded JSON answer (or its text). Current (``Datasets``) and
        older (``datasets``, or only ``<name>Data`` keys) layouts are read.
    job_id : int or str, optional
        Recorded in the meta.
    utcf : float, `~astropy.units.Quantity`, `~astropy.table.Table` or callable, optional
        Spacecraft clock correction for MET times, see
        `xrtprods_astro.times.met_to_time`.

    Returns
    -------
    `LightCurve`

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        When the answer is not a light-curve answer or a dataset is malformed.
    """
    if isinstance(data, (str, bytes, bytearray)):
        import json
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ReaderError(f"data: not valid JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ReaderError(f"data: expected the getLCData answer as a dict, got {type(data).__name__}")
    names = data.get("Datasets", data.get("datasets"))
    if names is None:
        names = [k[:-4] for k, v in data.items()
                 if k.endswith("Data") and isinstance(v, Mapping) and "columns" in v]
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ReaderError(f"Datasets: expected a list of dataset names, got {names!r}")
    time_format = str(data.get("TimeFormat") or "MET")
    if "mjd" in time_format.lower():
        time_format = "MJD"
    elif "tdb" in time_format.lower():
        time_format = "TDB"
    else:
        time_format = "MET"
    common = _common_meta(job_id if job_id is not None else data.get("JobID"), data.get("T0"), utcf,
                          data.get("Binning"), time_format)
    tables = {}
    for name in names:
        block = data.get(f"{name}Data")
        if not isinstance(block, Mapping) or "columns" not in block or "data" not in block:
            raise ReaderError(f"{name}Data: missing or without 'columns' and 'data' "
                              f"(dataset {name!r} is listed in Datasets)")
        info = parse_dataset_name(name)
        info["url"] = block.get("URL")
        if not isinstance(block["columns"], list) or not isinstance(block["data"], (list, type(None))):
            raise ReaderError(f"{name}Data: 'columns' and 'data' must be lists, got "
                              f"{type(block['columns']).__name__} and {type(block['data']).__name__}")
        cols = [str(c) for c in block["columns"]]
        rows = block["data"] or []
        bad = [i for i, row in enumerate(rows) if not isinstance(row, list) or len(row) != len(cols)]
        if bad and not isinstance(rows[bad[0]], list):
            raise ReaderError(f"{name}Data: row {bad[0]} is not a list of values")
        if bad:
            raise ReaderError(f"{name}Data: row {bad[0]} has {len(rows[bad[0]])} values for "
                              f"{len(cols)} columns {cols}")
        if rows:
            arr = np.empty((len(rows), len(cols)), dtype=object)
            arr[:] = rows
        else:
            arr = np.empty((0, len(cols)), dtype=float)
        columns = {c: arr[:, j] for j, c in enumerate(cols)}
        # The JSON UL datasets of older servers call the limit "Rate"; newer ones "UpperLimit".
        tables[info["name"]] = _build_table(columns, info=info, common=common, utcf=utcf,
                                            mjd_axis=time_format == "MJD")
    return LightCurve(tables, common)


# --------------------------------------------------------------------------
# QDP files
# --------------------------------------------------------------------------

_FILE = re.compile(r"^(WTSLEW|WT|PC)(CURVE|UL|HR)((?:_nosys)?)((?:_incbad)?)\.qdp$", re.IGNORECASE)
_CURVE = re.compile(r"^curve((?:_nosys)?)((?:_incbad)?)\.qdp$", re.IGNORECASE)
_HARDRAT = re.compile(r"^hardrat((?:_nosys)?)((?:_incbad)?)\.qdp$", re.IGNORECASE)
_T0_IN_HEADER = re.compile(r"\bT0\b[^0-9]{0,20}?([0-9]{7,10}(?:\.[0-9]*)?)", re.IGNORECASE)


def _label_dataset(label, suffix):
    """Dataset name for a curve.qdp / hardrat.qdp section label, or None."""
    text = re.sub(r"\s+", " ", (label or "").strip())
    low = text.lower()
    m = re.match(r"^(wtslew|wt|pc)?\s*(?:--\s*)?(.*)$", low)
    mode = (m.group(1) or "").upper()
    rest = m.group(2).strip()
    own_suffix = ""
    for tag in ("_nosys", "_incbad"):
        if tag in rest or tag in low:
            own_suffix += tag
            rest = rest.replace(tag, "").strip()
    if rest.startswith("_"):
        rest = rest.lstrip("_")
    if rest in ("", "data"):
        what = ""
    elif rest in ("ul", "upper limit", "upper limits") or low in ("pcul", "wtul"):
        what = "UL"
    elif rest.startswith("hard data") or rest == "hard":
        what = "Hard"
    elif rest.startswith("soft data") or rest == "soft":
        what = "Soft"
    elif rest.startswith("hardness ratio") or rest == "hr":
        what = "HR"
    else:
        return None
    if low.replace("_nosys", "").replace("_incbad", "") in ("pcul", "wtul"):
        mode, what = low[:2].upper(), "UL"
    if not mode:
        # "! Upper limit" sections are PC upper limits (WT has no upper-limit bins there).
        mode = "PC" if what == "UL" else None
    if mode is None:
        return None
    return mode + what + (own_suffix or suffix)


def _split_hr(columns, base_info, url):
    """Split a <mode>HR.qdp table into Hard, Soft and HR column sets."""
    shared, bands = {}, {"hard": {}, "soft": {}, "hr": {}}
    for name, values in columns.items():
        key = _norm(name)
        if key.startswith("hard"):
            bands["hard"][name] = values
        elif key.startswith("soft"):
            bands["soft"][name] = values
        elif key in ("hr", "hrerr"):
            bands["hr"][name] = values
        else:
            shared[name] = values
    out = []
    mode, suffix = base_info["mode"], base_info["name"][len(base_info["mode"]) + 2:]
    for kind, what in (("hard", "Hard"), ("soft", "Soft"), ("hr", "HR")):
        if not bands[kind]:
            continue
        info = parse_dataset_name(mode + what + suffix)
        info["url"] = url
        cols = {}
        for name, values in shared.items():
            if _ALIASES.get(_norm(name)) in ("time", "time_err_pos", "time_err_neg"):
                cols[name] = values
        cols.update(bands[kind])
        for name, values in shared.items():
            if name not in cols:
                cols[name] = values
        out.append((info, cols))
    return out


def _section_columns(section):
    return {name: section.table[name] for name in section.table.colnames}


def read_lightcurve_qdp(source, *, t0=None, utcf=None, dataset=None, filename=None, job_id=None,
                        binning=None, url=None):
    """Read one light-curve QDP file into a `LightCurve`.

    Parameters
    ----------
    source : str, bytes, path-like or file-like
        A path, or the file's content.
    t0 : float or `~astropy.time.Time`, optional
        T0 in Swift MET seconds (as in ``t0.date``) or as a Time. Without it
        the reader looks for T0 in the file header.
    utcf : optional
        Spacecraft clock correction, see `xrtprods_astro.times.met_to_time`.
    dataset : str, optional
        The dataset a per-mode file holds (``"PC"``, ``"WTUL_incbad"``,
        ``"PCHR"``...), when it cannot be told from ``filename``.
    filename : str, optional
        The file's name, when ``source`` is content rather than a path; it
        tells which datasets the file holds (``PCCURVE_nosys.qdp`` ->
        ``PC_nosys``, ``curve_incbad.qdp`` -> ``*_incbad``, ``PCHR.qdp`` ->
        ``PCHard``, ``PCSoft``, ``PCHR``).
    job_id, binning, url : optional
        Recorded in the meta.

    Returns
    -------
    `LightCurve`

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        On malformed files, or when the datasets cannot be told apart.
    """
    if filename is None and isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        filename = os.path.basename(os.fspath(source))
    qdp = read_qdp(source)
    if t0 is None:
        for line in qdp.header:
            m = _T0_IN_HEADER.search(line)
            if m:
                t0 = float(m.group(1))
                break
    if binning is None:
        for line in qdp.header:
            m = re.search(r"BINMODE:\s*(\S*)", line, re.IGNORECASE)
            if m and m.group(1):
                binning = m.group(1)
    first = next((s for s in qdp if s.names), None)
    mjd_axis = bool(first is not None and _norm(first.names[0]) == "mjd")
    common = _common_meta(job_id, t0, utcf, binning, "MJD" if mjd_axis else "MET")

    base = os.path.basename(filename) if filename else ""
    per_mode = None
    if dataset is not None:
        per_mode = parse_dataset_name(dataset)
    elif _FILE.match(base):
        m = _FILE.match(base)
        what = {"CURVE": "", "UL": "UL", "HR": "HR"}[m.group(2).upper()]
        per_mode = parse_dataset_name(m.group(1).upper() + what + m.group(3).lower() + m.group(4).lower())

    pieces = []
    if per_mode is not None:
        sections = [s for s in qdp if len(s.table.colnames)]
        if len(sections) > 1:
            raise ReaderError(f"{base or 'source'}: {len(sections)} sections where a per-mode file "
                              f"({per_mode['name']}) has one")
        columns = _section_columns(sections[0]) if sections else {}
        info = dict(per_mode, url=url)
        if per_mode["kind"] == "hr":
            pieces.extend(_split_hr(columns, info, url) if columns else [])
        else:
            pieces.append((info, columns))
    else:
        m = _CURVE.match(base) or _HARDRAT.match(base)
        suffix = (m.group(1) + m.group(2)).lower() if m else ""
        for section in qdp:
            name = _label_dataset(section.label, suffix)
            if name is None:
                if len(section.table):
                    log.debug("section %r not recognised as a light-curve dataset; skipped", section.label)
                continue
            info = parse_dataset_name(name)
            info["url"] = url
            pieces.append((info, _section_columns(section)))
        if not pieces and any(len(s.table) for s in qdp):
            raise ReaderError(f"{base or 'source'}: no section label names a light-curve dataset "
                              f"(labels: {qdp.labels}); pass dataset= for a per-mode file")
    tables = {}
    for info, columns in pieces:
        if not columns:
            continue   # an empty section with no column line: nothing to build
        if info["name"] in tables:
            log.debug("dataset %s appears twice in %s; the first is kept", info["name"], base or "source")
            continue
        tables[info["name"]] = _build_table(columns, info=info, common=common, utcf=utcf, mjd_axis=mjd_axis)
    return LightCurve(tables, common)


def _read_t0_date(path):
    """T0 (MET seconds) from a ``t0.date`` file: its first line."""
    with open(path) as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    try:
        return float(lines[0].split()[0])
    except (IndexError, ValueError):
        raise ReaderError(f"{path}: expected T0 in MET seconds on the first line") from None


def read_lightcurve_files(directory, *, utcf=None, t0=None, job_id=None, binning=None):
    """Read the light-curve files of a product archive's ``lc/`` folder.

    The detailed per-mode files (``WTCURVE``, ``PCCURVE``, ``WTUL``,
    ``PCUL``, ``WTHR``, ``PCHR`` and their ``_nosys``/``_incbad``
    variants) are preferred, as they carry every column; datasets they lack
    are taken from ``curve*.qdp`` and ``hardrat*.qdp``. T0 comes from
    ``t0.date`` unless given.

    Parameters
    ----------
    directory : str or path-like
        The ``lc`` folder, or a folder holding one (``USERPROD_<JobID>``).
    utcf, t0, job_id, binning : optional
        As for `read_lightcurve_qdp`; ``job_id`` defaults to the number in a
        ``USERPROD_<JobID>`` path.

    Returns
    -------
    `LightCurve`
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ReaderError(f"directory: {directory!r} is not a folder")
    if os.path.isdir(os.path.join(directory, "lc")):
        directory = os.path.join(directory, "lc")
    if job_id is None:
        m = re.search(r"USERPROD_(\d+)", os.path.abspath(directory))
        job_id = int(m.group(1)) if m else None
    files = sorted(os.listdir(directory))
    if t0 is None and "t0.date" in files:
        t0 = _read_t0_date(os.path.join(directory, "t0.date"))
    tables, meta = {}, None
    detailed = [f for f in files if _FILE.match(f)]
    fallback = [f for f in files if _CURVE.match(f) or _HARDRAT.match(f)]
    for name in detailed + fallback:
        lc = read_lightcurve_qdp(os.path.join(directory, name), t0=t0, utcf=utcf, job_id=job_id,
                                 binning=binning, url=name)
        meta = meta or lc.meta
        for ds, table in lc.items():
            tables.setdefault(ds, table)
    if not detailed and not fallback:
        raise ReaderError(f"directory: no light-curve QDP files in {directory!r}")
    return LightCurve(tables, meta or _common_meta(job_id, t0, utcf, binning, "MET"))
