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
``sys_neg``                   WT ``SYS_NEG`` as written (when present)
``sys_pos``                   WT ``SYS_POS`` as written (when present)
``obsid``          str        11-digit ObsID (when present)
``rate_err``       ct / s     Hard and Soft datasets: symmetric rate error
``hr``, ``hr_err``            HR datasets: hardness ratio and its error
``flux``...        erg/cm2/s  flux curves: ``flux``, ``flux_err_pos``,
                              ``flux_err_neg`` in place of the rate columns
=================  =========  ==============================================

``sys_neg`` and ``sys_pos`` are kept as UKSSDC writes them, without a unit:
in the real ``WTCURVE.qdp`` files they are numbers near 1 (0.9996 and 1.0004
for GRB 060403, whatever the rate), not systematic errors in ct / s, and what
they measure is not documented.

Times: a MET axis becomes `~astropy.time.Time` through
`xrtprods_astro.times.met_to_time` with the Swift clock correction UTCF taken,
in this order, from ``utcf=``, UKSSDC's own UTC for T0 (``t0.date`` line 2,
or the header line ``T0 for this burst is Swift MET=..., = <date> UT``), or
the bundled Swift clock table (`xrtprods_astro.times.clock_utcf`): a warning
is then logged and ``meta["time_error"]`` states the table's accuracy.
``meta["time_source"]`` says which. An MJD axis is read as UTC MJD, with its
half-widths converted from days to seconds.
"""
import logging
import os
import re
import warnings
from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, Table, vstack
from astropy.time import Time

from ..exceptions import ReaderError, XRTProductsWarning
from ..times import (MET_RANGE, clock_accuracy, clock_utcf, met_to_time, parse_ukssdc_date, time_to_met,
                     utcf_from_utc, utcf_near)
from .qdp import read_qdp

__all__ = ["LightCurve", "read_lightcurve_json", "read_lightcurve_qdp", "read_lightcurve_files",
           "parse_dataset_name", "parse_t0_date"]

log = logging.getLogger("xrtprods_astro.readers.lightcurve")

_CT_S = u.ct / u.s
FLUX_UNIT = u.erg / (u.cm ** 2 * u.s)
_UNITS = {
    "t_since_t0": u.s, "met": u.s, "time_err_pos": u.s, "time_err_neg": u.s,
    "rate": _CT_S, "rate_err_pos": _CT_S, "rate_err_neg": _CT_S, "rate_err": _CT_S,
    "flux": FLUX_UNIT, "flux_err_pos": FLUX_UNIT, "flux_err_neg": FLUX_UNIT, "flux_err": FLUX_UNIT,
    "flux_density": u.Jy, "flux_density_err_pos": u.Jy, "flux_density_err_neg": u.Jy,
    "gamma": u.dimensionless_unscaled, "gamma_err_pos": u.dimensionless_unscaled,
    "gamma_err_neg": u.dimensionless_unscaled,
    "bg_rate": _CT_S, "bg_rate_err": _CT_S,
    "counts": u.ct, "bg_counts": u.ct, "exposure": u.s,
}
# Columns sent as negative numbers whose magnitude we keep.
_NEGATIVE = {"time_err_neg", "rate_err_neg", "flux_err_neg", "flux_density_err_neg", "gamma_err_neg"}
_ORDER = ["time", "t_since_t0", "met", "time_err_pos", "time_err_neg", "rate", "rate_err_pos",
          "rate_err_neg", "rate_err", "flux", "flux_err_pos", "flux_err_neg", "flux_err",
          "flux_density", "flux_density_err_pos", "flux_density_err_neg", "gamma", "gamma_err_pos",
          "gamma_err_neg",
          "hr", "hr_err", "upper_limit", "frac_exp", "bg_rate",
          "bg_rate_err", "corr_fact", "counts", "bg_counts", "exposure", "sigma", "snr",
          "sys_neg", "sys_pos", "obsid"]

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
    "sig": "sigma", "snr": "snr", "syspos": "sys_pos", "sysneg": "sys_neg", "obsid": "obsid",
    "hr": "hr", "hrerr": "hr_err", "timeerr": "time_err",
    "flux": "flux", "fluxpos": "flux_err_pos", "fluxneg": "flux_err_neg", "fluxerr": "flux_err",
    # burst-analyser quantities (readers/burst.py names its columns so)
    "fluxdensity": "flux_density", "fluxdensitypos": "flux_density_err_pos",
    "fluxdensityneg": "flux_density_err_neg",
    "gamma": "gamma", "gammapos": "gamma_err_pos", "gammaneg": "gamma_err_neg",
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
    and a ``meta`` with the light-curve-wide keys below plus ``mode``,
    ``dataset``, ``kind`` (``rate``/``flux``/``ul``/``hard``/``soft``/``hr``),
    ``nosys``, ``incbad`` and ``url``.

    Light-curve-wide ``meta``: ``job_id``; ``t0`` (`~astropy.time.Time` or
    None) and ``t0_met`` (MET seconds or None); ``binning``;
    ``time_format`` (``MET``, ``MJD`` or ``TDB``); ``quantity`` (``rate``
    for count rates, ``flux`` for erg/cm2/s light curves); ``time_source``
    (where the absolute times come from: ``t0.date`` or ``header`` for UTC
    stated by UKSSDC, ``utcf`` for a clock correction given by the caller,
    ``t0`` for a T0 given as a Time, ``clock table`` when no clock correction
    is stated (the bundled table is used), ``mjd``/``tdb`` for a file already on those scales, None when
    there are no absolute times); ``utcf`` (the clock correction applied, s,
    or None) and ``time_error`` (a `~astropy.units.Quantity`: how far the
    absolute times may be from UTC, 1 ms where UKSSDC states the UTC).

    Parameters
    ----------
    tables : mapping of str to `~astropy.table.Table`
    meta : dict, optional
        Light-curve-wide metadata as above.
    """

    def __init__(self, tables, meta=None):
        self._tables = {name: tables[name] for name in sorted(tables, key=_sort_key)}
        self.meta = dict(meta or {})
        # Display formats (print to the data's precision; the data are untouched) are worked out
        # when a dataset is first taken out, not here: they are about a third of the cost of
        # reading a light curve, and most uses look at one or two of its datasets.
        self._unformatted = set(self._tables)
        self._format_memo = {}   # the datasets of one mode share their time columns: one format for each

    def __getitem__(self, name):
        try:
            table = self._tables[name]
        except KeyError:
            raise KeyError(f"no dataset {name!r} in this light curve; datasets: {self.datasets}") from None
        if name in self._unformatted:
            from ..display import _set_formats
            _set_formats(table, self._format_memo)
            self._unformatted.discard(name)
        return table

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

    def _select(self, kinds, nosys, incbad, modes, quantity=None):
        chosen = []
        for name, table in self._tables.items():
            m = table.meta
            if quantity is not None and m.get("quantity", "rate") != quantity:
                continue
            if (m.get("kind") in kinds and bool(m.get("nosys")) == nosys
                    and bool(m.get("incbad")) == incbad and (modes is None or m.get("mode") in modes)):
                chosen.append(self[name])
        return chosen

    def combined(self, kind="rate", *, nosys=False, incbad=False, modes=None):
        """All modes of one kind in a single table sorted by time.

        Parameters
        ----------
        kind : {"rate", "flux", "hard", "soft", "hr"}
            ``"rate"`` takes the count-rate *and* upper-limit datasets (the
            ``upper_limit`` column tells them apart); ``"flux"`` the same
            for a flux light curve.
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
        allowed = {"rate": ("rate", "ul"), "flux": ("flux", "ul"), "hard": ("hard",), "soft": ("soft",),
                   "hr": ("hr",)}
        if kind not in allowed:
            raise ValueError(f"kind: {kind!r} is not one of {sorted(allowed)}")
        if modes is not None:
            modes = [modes] if isinstance(modes, str) else list(modes)
        parts = []
        quantity = kind if kind in ("rate", "flux") else None
        for table in self._select(allowed[kind], nosys, incbad, modes, quantity):
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
        if len(parts) > 1:
            # vstack keeps one dataset's display format for each column (a lone upper limit's
            # may suit no other row): worked out again from all the rows.
            from ..display import reset_display_formats
            reset_display_formats(out)
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

    def to_timeseries(self, dataset=None, *, kind=None, nosys=False, incbad=False, modes=None):
        """The light curve as an astropy `~astropy.timeseries.BinnedTimeSeries`.

        Without arguments: the count rates and upper limits of every mode, on
        the real bin edges, with ``mode`` and ``upper_limit`` columns (limit
        rows carry the limit in ``rate`` and masked errors; a flux light
        curve gives ``flux`` the same way). ``kind="hr"`` gives the hardness
        ratios; ``dataset=`` one dataset. See
        `xrtprods_astro.readers.timeseries.lightcurve_to_timeseries`.

        Parameters
        ----------
        dataset : str, optional
            A dataset name from `datasets`.
        kind : {"rate", "flux", "hr"}, optional
            Default: the light curve's own quantity (``meta["quantity"]``).
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
    if arr.dtype.kind == "O":
        # JSON numbers (and numeric strings) in one C loop; None (masked) would become nan there,
        # and "NO" fails, so both go the value-by-value way below.
        try:
            out = arr.astype(np.float64)
        except (TypeError, ValueError):
            out = None
        if out is not None and not np.equal(arr, None).any():
            return out
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


def _build_table(columns, *, info, common, utcf, mjd_axis, times=None, warn_no_t0=True):
    """Assemble one dataset's table with stable names, units and meta.

    ``columns`` is an ordered dict source name -> array; ``info`` comes from
    `parse_dataset_name`; ``common`` holds the light-curve-wide meta;
    ``times`` (a dict) keeps the MET -> Time conversions of one light curve:
    its rate, hard, soft and ratio datasets share their time axis.
    ``warn_no_t0`` False: a file that never carries T0 (burst analyser) is
    read without a warning when none is given.
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
    if "time_err" in data and "time_err_pos" not in data:
        # READ SERR 1: a symmetric half-width.
        half = np.abs(data.pop("time_err"))
        data["time_err_pos"], data["time_err_neg"] = half, half.copy()

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
            # The UTCF stated (or the table's) at T0, carried to each bin by the table's change.
            out["time"] = _met_to_time(met, utcf_near(common.get("utcf"), t0_met), dataset, times)
            out["t_since_t0"] = seconds
            out["met"] = met
        elif seconds.size and np.nanmin(seconds) > 1e8:
            # No T0 and values that can only be absolute MET (after 2004).
            out["time"] = _met_to_time(seconds, common.get("utcf"), dataset, times)
            out["met"] = seconds
        else:
            if seconds.size and warn_no_t0:
                warnings.warn(f"dataset {dataset}: T0 is unknown, so times stay as seconds since an "
                              "unknown T0 (column t_since_t0) and there is no 'time' column; "
                              "pass t0= to get absolute times", XRTProductsWarning, stacklevel=4)
            out["t_since_t0"] = seconds
    out.update(data)
    n = len(raw_time)
    if info["kind"] in ("rate", "flux", "ul"):
        out["upper_limit"] = np.full(n, info["kind"] == "ul", dtype=bool)
    ordered = [k for k in _ORDER if k in out] + [k for k in out if k not in _ORDER]
    # One Table of whole columns, not column by column (each add_column re-checks the table);
    # the arrays become Columns once, there.
    table = Table([out[name] for name in ordered], names=ordered, copy=False,
                  units={name: _UNITS[name] for name in ordered if _UNITS.get(name) is not None})
    table.meta.update(common)
    table.meta.update({
        "t0_met": t0_met, "mode": info["mode"], "dataset": dataset, "kind": info["kind"],
        "nosys": info["nosys"], "incbad": info["incbad"], "url": info.get("url"),
    })
    if mjd_axis or common.get("time_format", "").upper() == "TDB":
        table.meta["time_source"] = "tdb" if not mjd_axis else "mjd"
        table.meta["time_error"] = None
    elif "time" not in out:
        table.meta["time_source"], table.meta["time_error"] = None, None
    return table


def _met_to_time(met, utcf, dataset, times=None):
    """`met_to_time` with a reader's error for a value no Swift clock can hold."""
    key = met.tobytes() if times is not None else None
    if key in (times or {}):
        # A copy: each table owns its time column.
        return times[key].copy()
    try:
        result = met_to_time(met, utcf=utcf)
    except ValueError as exc:
        raise ReaderError(f"dataset {dataset}: {exc} (is T0 right?)") from None
    result.format = "isot"
    if times is not None:
        times[key] = result
    return result


# Stated UTC is given to the millisecond.
_STATED_ERROR = 1e-3 * u.s


def _common_meta(job_id, t0, utcf, binning, time_format, *, t0_utc=None, t0_source=None,
                 quantity="rate"):
    """Light-curve-wide meta; ``t0`` may be MET seconds, a Time or None.

    ``t0_utc`` is UKSSDC's own UTC for ``t0`` (from ``t0.date`` or the file
    header, named by ``t0_source``): the clock correction is derived from it
    unless the caller gave ``utcf``.
    """
    t0_met, t0_time, source, error = None, None, None, None
    if isinstance(t0, Time):
        t0_time = t0
        t0_met = float(time_to_met(t0, utcf=utcf))
        source, error = ("utcf", None) if utcf is not None else ("t0", None)
    elif t0 is not None and str(t0).strip() not in ("", "0"):
        try:
            t0_met = float(t0)
        except (TypeError, ValueError):
            raise ReaderError(f"T0: {t0!r} is not a Swift MET in seconds") from None
        if not MET_RANGE[0] <= t0_met < MET_RANGE[1]:
            raise ReaderError(f"T0: {t0_met!r} s is not a Swift MET (expected {MET_RANGE[0]:.0f} "
                              f"to 2**32 s)")
        if utcf is None and t0_utc is not None:
            # UKSSDC states T0's UTC with its own clock correction: keep that
            # correction for every bin (it drifts by ~2 s a year at most).
            utcf = utcf_from_utc(t0_met, t0_utc)
            source, error = t0_source, _STATED_ERROR
        elif utcf is not None:
            source, error = "utcf", None
        else:
            # Nothing stated for this job: the bundled clock table, and one warning with its bound.
            source = "clock table"
            # One UTCF (the table's at T0) for every bin, as with a stated one: one T0 per product.
            utcf = round(float(clock_utcf(t0_met)), 6)
            error = round(clock_accuracy(t0_met), 3) * u.s
            log.warning("T0 (MET %.3f) converted to UTC with the bundled Swift clock table, good to "
                        "%.3f s; pass utcf= (e.g. UTCFINIT) or read the lc/ folder with its t0.date "
                        "for UKSSDC's own conversion (1 ms)", t0_met, error.to_value(u.s))
        t0_time = t0_utc if t0_utc is not None and source == t0_source else met_to_time(t0_met, utcf=utcf)
        t0_time = Time(t0_time, format="isot", scale="utc")
    elif utcf is not None:
        source = "utcf"
    elif time_format in ("MJD", "TDB"):
        source = time_format.lower()
    if utcf is not None and not isinstance(utcf, (int, float, np.floating, np.integer, u.Quantity)):
        utcf_meta = utcf
    elif utcf is not None:
        utcf_meta = float(utcf.to_value(u.s)) if isinstance(utcf, u.Quantity) else float(utcf)
    else:
        utcf_meta = None
    return {"job_id": job_id, "t0": t0_time, "t0_met": t0_met, "binning": binning,
            "time_format": time_format, "quantity": quantity, "time_source": source,
            "utcf": utcf_meta, "time_error": error}


# --------------------------------------------------------------------------
# JSON (getLCData)
# --------------------------------------------------------------------------

_EXPECTED_JSON = ("the getLCData answer ('Datasets' and '<dataset>Data' entries with 'columns' and "
                  "'data') or a swifttools light-curve DataFrame dump (columns such as 'Time', "
                  "'TimePos', 'TimeNeg', 'Rate')")


def _dataframe_dump(data):
    """Columns of a pandas ``DataFrame.to_json()`` light curve, or None.

    ``orient="columns"`` (pandas' default: column -> {row index: value}),
    ``"split"`` and ``"records"`` are understood; rows follow the index.
    """
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        keys = list(data[0])
        columns = {k: [r.get(k) for r in data] for k in keys}
    elif (isinstance(data, Mapping) and set(data) >= {"columns", "data"} and isinstance(data["data"], list)
          and isinstance(data["columns"], list)):
        keys = [str(c) for c in data["columns"]]
        if any(not isinstance(r, list) or len(r) != len(keys) for r in data["data"]):
            raise ReaderError("data: a DataFrame dump (orient='split') whose rows do not match its columns")
        columns = {k: [r[j] for r in data["data"]] for j, k in enumerate(keys)}
    elif isinstance(data, Mapping) and data and all(isinstance(v, Mapping) for v in data.values()):
        keys = list(data)
        index = list(data[keys[0]])
        try:
            order = sorted(index, key=lambda i: float(i))
        except (TypeError, ValueError):
            order = index
        if any(set(data[k]) != set(index) for k in keys):
            raise ReaderError("data: a DataFrame dump whose columns have different row indices")
        columns = {k: [data[k][i] for i in order] for k in keys}
    else:
        return None
    if not any(_ALIASES.get(_norm(k)) == "time" for k in columns):
        return None
    return columns


def read_lightcurve_json(data, *, job_id=None, utcf=None, dataset=None, t0=None, t0_date=None):
    """Read the ``getLCData`` answer (or a swifttools dump) into a `LightCurve`.

    Parameters
    ----------
    data : dict, list, str or bytes
        The decoded JSON answer (or its text). Current (``Datasets``) and
        older (``datasets``, or only ``<name>Data`` keys) layouts are read,
        and so is one dataset of swifttools' ``getLightCurves`` saved with
        pandas ``DataFrame.to_json()`` (``Time``, ``TimePos``, ``TimeNeg``,
        ``Rate``, ``RatePos``, ``RateNeg``, ``FracExp``, ``BGrate``,
        ``BGerr``, ``CorrFact``, ``CtsInSrc``, ``BGInSrc``, ``Exposure``,
        ``Sigma``, ``SNR``... renamed to this package's columns).
    job_id : int or str, optional
        Recorded in the meta.
    utcf : float, `~astropy.units.Quantity`, `~astropy.table.Table` or callable, optional
        Spacecraft clock correction for MET times, see
        `xrtprods_astro.times.met_to_time`.
    dataset : str, optional
        The dataset a DataFrame dump holds (``"PC"``, ``"WT_incbad"``...);
        a dump does not say. Without it the dump is named ``"PC"`` (or
        ``"PCUL"`` with an ``UpperLimit`` column) with a warning.
    t0 : float or `~astropy.time.Time`, optional
        T0 for a DataFrame dump (which does not carry it); the getLCData
        answer's own ``T0`` is used otherwise.
    t0_date : str, optional
        The text of the job's ``lc/t0.date``: UKSSDC's own UTC for T0, whose
        clock correction then applies to every bin (the answer itself gives
        T0 in MET only). Ignored when it states another T0.

    Returns
    -------
    `LightCurve`

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        When the data are neither a getLCData answer nor a light-curve
        DataFrame dump (the message says what was expected), or a dataset is
        malformed.
    """
    if isinstance(data, (str, bytes, bytearray)):
        import json
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise ReaderError(f"data: not valid JSON: {exc}") from exc
    dump = None
    if not (isinstance(data, Mapping) and ("Datasets" in data or "datasets" in data)):
        dump = _dataframe_dump(data)
    if dump is not None:
        return _read_dump(dump, job_id=job_id, utcf=utcf, dataset=dataset, t0=t0)
    if not isinstance(data, Mapping):
        raise ReaderError(f"data: expected {_EXPECTED_JSON}; got a {type(data).__name__}")
    names = data.get("Datasets", data.get("datasets"))
    if names is None:
        names = [k[:-4] for k, v in data.items()
                 if k.endswith("Data") and isinstance(v, Mapping) and "columns" in v]
        if not names:
            keys = ", ".join(repr(k) for k in list(data)[:8]) or "none"
            raise ReaderError(f"data: not a light curve: expected {_EXPECTED_JSON}; got keys {keys}")
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ReaderError(f"Datasets: expected a list of dataset names, got {names!r}")
    time_format = str(data.get("TimeFormat") or "MET")
    if "mjd" in time_format.lower():
        time_format = "MJD"
    elif "tdb" in time_format.lower():
        time_format = "TDB"
    else:
        time_format = "MET"
    t0_utc = None
    if t0_date is not None and utcf is None:
        stated_met, stated_utc = parse_t0_date(t0_date)
        t0_utc = stated_utc if _same_met(stated_met, data.get("T0")) else None
    common = _common_meta(job_id if job_id is not None else data.get("JobID"), data.get("T0"), utcf,
                          data.get("Binning"), time_format, t0_utc=t0_utc,
                          t0_source="t0.date" if t0_utc is not None else None)
    tables, times = {}, {}
    for name in names:
        block = data.get(f"{name}Data")
        frame = (_dataframe_dump(data[name]) if block is None and isinstance(name, str) and name in data
                 else None)
        if frame is not None:
            # swifttools' light-curve dict saved as JSON: each dataset a DataFrame dump.
            info = dict(parse_dataset_name(name), url=(data.get("URLs") or {}).get(name))
            tables[info["name"]] = _build_table({k: np.asarray(v, dtype=object) for k, v in frame.items()},
                                                info=info, common=common, utcf=utcf,
                                                mjd_axis=time_format == "MJD", times=times)
            continue
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
                                            mjd_axis=time_format == "MJD", times=times)
    return LightCurve(tables, common)


def _read_dump(columns, *, job_id, utcf, dataset, t0):
    """One swifttools DataFrame dump as a one-dataset `LightCurve`."""
    if dataset is None:
        dataset = "PCUL" if any(_norm(k) == "upperlimit" for k in columns) else "PC"
        warnings.warn(f"data: a DataFrame dump does not say which dataset it holds; read as "
                      f"{dataset!r} (pass dataset= to name it)", XRTProductsWarning, stacklevel=3)
    info = parse_dataset_name(dataset)
    info["url"] = None
    if any(_norm(k) == "flux" for k in columns) and info["kind"] == "rate":
        info["kind"] = "flux"
    mjd = any(_norm(k) == "mjd" for k in columns)
    common = _common_meta(job_id, t0, utcf, None, "MJD" if mjd else "MET",
                          quantity="flux" if info["kind"] == "flux" else "rate")
    table = _build_table({k: np.asarray(v, dtype=object) for k, v in columns.items()}, info=info,
                         common=common, utcf=utcf, mjd_axis=mjd)
    return LightCurve({info["name"]: table}, common)


# --------------------------------------------------------------------------
# QDP files
# --------------------------------------------------------------------------

# File names in lc/ folders and the GRB repository: detailed per-mode files
# (PCCURVE, WTUL, PCHR), per-mode plot files (PC.qdp, PCNOSYS.qdp), combined
# curves and hardness ratios, each with nosys / incbad / plot tags spelled
# "_nosys" or "NOSYS".
_FILENAME = re.compile(r"^(?:(?P<stem>curve2?|flux|hardrat)|(?P<mode>WTSLEW|WT|PC)(?P<what>CURVE|UL|HR)?)"
                       r"(?P<tags>(?:_?(?:nosys|incbad|plot))*)\.qdp$", re.IGNORECASE)
_T0_LINE = re.compile(r"\bT0\b.*?\bMET\s*=\s*([0-9]+(?:\.[0-9]*)?)", re.IGNORECASE)
_T0_IN_HEADER = re.compile(r"\bT0\b[^0-9]{0,20}?([0-9]{7,10}(?:\.[0-9]*)?)", re.IGNORECASE)
# A UTCF beyond this means the stated date does not belong to the MET (a typo
# in the header, say): the date is then not trusted.
_MAX_UTCF = 120.0


def _file_kind(base):
    """What a light-curve file name says, or None for a name we do not know."""
    m = _FILENAME.match(base or "")
    if m is None:
        return None
    tags = m.group("tags").lower()
    suffix = ("_nosys" if "nosys" in tags else "") + ("_incbad" if "incbad" in tags else "")
    what = (m.group("what") or "").upper()
    return {"stem": (m.group("stem") or "").lower(), "mode": (m.group("mode") or "").upper(),
            "what": {"CURVE": "", "UL": "UL", "HR": "HR"}.get(what), "suffix": suffix,
            "plot": "plot" in tags}


def _clean_label(label):
    """(label text, qualifier) of a section label, lower case.

    ``PC data:`` and ``PC data (rate)`` are the ``PC data`` label: a trailing
    colon and a parenthesised qualifier (returned apart, it may say ``rate``
    or ``flux``) do not change which dataset a section is.
    """
    text = re.sub(r"\s+", " ", (label or "").strip()).lower()
    qualifier = None
    m = re.match(r"^(.*?)\s*\(([^()]*)\)\s*:?$", text)
    if m and m.group(1):
        text, qualifier = m.group(1), m.group(2).strip()
    return text.rstrip(" :"), qualifier


def _label_dataset(label, suffix, default_mode=None):
    """Dataset name for a section label (``WT data``, ``PC Upper limit``,
    ``PC -- hard data``, ``PC_incbad``, ``PCUL``, ``xrtpcflux_nosys``...), or None.

    An unlabelled section, or one whose label has no mode (``Upper limit``),
    takes ``default_mode`` (the mode a file such as ``PC.qdp`` is named
    after); without one, a mode-less upper limit is PC's (WT has none).
    """
    text = _clean_label(label)[0]
    own_suffix = ""
    for tag in ("_nosys", "_incbad"):
        if tag in text:
            own_suffix += tag
            text = text.replace(tag, " ")
    m = re.match(r"^(?:xrt)?(wtslew|wt|pc)?\s*(?:--\s*)?(.*)$", text)
    mode = (m.group(1) or "").upper()
    rest = m.group(2).strip(" _-")
    if rest in ("", "data", "flux"):
        what = ""
    elif rest in ("ul", "ul data", "upper limit", "upper limits", "upper limit data"):
        what = "UL"
    elif rest.startswith("hardness ratio") or rest in ("hr", "ratio", "hr data"):
        what = "HR"
    elif rest.startswith("hard"):
        what = "Hard"
    elif rest.startswith("soft"):
        what = "Soft"
    else:
        return None
    if label is None and default_mode is None:
        return None
    mode = mode or default_mode or ("PC" if what == "UL" else None)
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


def _layout_names(section, value):
    """Source-style names for a section without a column line, from its READ layout.

    Vector 1 is the time with its errors (``TERR``: +/-, ``SERR``: a
    half-width), vector 2 the ``value`` (``Rate``, ``Flux``, ``HR``) with
    its errors; further vectors keep astropy-style names.
    """
    names = []
    for k, (name, errors) in enumerate(section.vectors()):
        if k < 2:
            base = "Time" if k == 0 else value
            names.append(base)
            names.extend([base + "Pos", base + "Neg"] if len(errors) == 2 else [base + "Err"] * len(errors))
        else:
            names.append(name)
            names.extend(errors)
    return names


def _section_columns(section, value="Rate"):
    names = section.table.colnames
    ours = _layout_names(section, value) if not section.named else list(names)
    # An unnamed column of '::ObsID=' tokens (obsid-binned curves) is the ObsID.
    ours = ["ObsID" if section.table[n].dtype.kind == "U" and re.fullmatch(r"col\d+", n) else o
            for n, o in zip(names, ours)]
    return dict(zip(ours, (section.table[n] for n in names)))


def _t0_from_header(header):
    """(T0 in MET, UKSSDC's UTC for it or None) from a QDP file header, or (None, None)."""
    for line in header:
        m = _T0_LINE.search(line)
        if m:
            met = float(m.group(1))
            utc = parse_ukssdc_date(line[m.end():])
            if utc is not None and abs(utcf_from_utc(met, utc)) > _MAX_UTCF:
                log.warning("header T0 line %r: the date is %.0f s from the MET; the date is ignored",
                            line.strip(), utcf_from_utc(met, utc))
                utc = None
            return met, utc
    for line in header:
        m = _T0_IN_HEADER.search(line)
        if m:
            return float(m.group(1)), None
    return None, None


# Burst-analyser section labels: <instrument><mode><binning><quantity>[_nosys][_incbad]...
# (readers/burst.py reads those files; the pattern lives here so that this reader can refuse them).
BURST_LABEL = re.compile(
    r"^(?P<instrument>bat|xrt|uvot)(?P<mode>wtslew|wt|pc)?(?P<binning>[a-z0-9.]*?)"
    r"(?P<what>obsdensity|density|flux|gamma|hr|cf|ecf)?"
    r"(?P<tags>(?:_(?:nosys|incbad|noevolve|noevolution))*)$",
    re.IGNORECASE)


def is_burst_label(label):
    """True when ``label`` reads as a burst-analyser section label (``batSNR4flux``...)."""
    return label is not None and BURST_LABEL.match(label.strip()) is not None


_FLUX_NAMES = {"flux", "fluxpos", "fluxneg", "fluxerr"}
_RATE_NAMES = {"rate", "ratepos", "rateneg", "rateerr", "upperlimit", "ctsinsrc"}
# Count rates of detected XRT sources and their upper limits are above this...
_MIN_RATE = 1e-4
# ... and fluxes in erg cm^-2 s^-1 below this: the gap between them is four decades.
_MAX_FLUX = 1e-6


def _quantity_from_content(qdp):
    """("rate" or "flux", the evidence) from what the file says, or (None, None).

    Column names first, then the header block ("source flux", "source
    count-rate"), then label qualifiers ("PC data (flux)"). Never the file's
    name: users save flux.qdp as lc.qdp and curve.qdp as anything.
    """
    names = {_norm(n) for s in qdp if s.named for n in s.names}
    said = set()
    if names & _FLUX_NAMES:
        said.add("flux")
    if names & _RATE_NAMES or any(n.endswith("rate") for n in names):
        said.add("rate")
    if len(said) == 1:
        return said.pop(), "columns"
    if said:
        return "both", "columns"
    header = " ".join(qdp.header).lower()
    flux, rate = "source flux" in header, bool(re.search(r"count[- ]?rate", header))
    if flux != rate:
        return ("flux" if flux else "rate"), "header"
    qualifiers = {_clean_label(s.label)[1] for s in qdp if s.label}
    flux = any(q and "flux" in q for q in qualifiers)
    rate = any(q and ("rate" in q or "count" in q) for q in qualifiers)
    if flux != rate:
        return ("flux" if flux else "rate"), "label"
    return None, None


def _value_column(section):
    """Values of a section's second QDP vector (the rate or flux), or None."""
    layout = section.vectors()
    if len(layout) < 2 or not len(section.table):
        return None
    column = section.table[layout[1][0]]
    if column.dtype.kind != "f":
        return None
    return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)


def _quantity_from_values(qdp, where):
    """Last resort: "rate" or "flux" from the size of the values, with a warning."""
    parts = [v for v in (_value_column(s) for s in qdp) if v is not None]
    values = np.abs(np.concatenate(parts)) if parts else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    typical = float(np.median(values)) if values.size else None
    if typical is not None and typical >= _MIN_RATE:
        quantity = "rate"
    elif typical is not None and typical <= _MAX_FLUX:
        quantity = "flux"
    else:
        shown = "no values" if typical is None else f"values near {typical:.3g}"
        raise ReaderError(f"{where}: neither column names, header nor labels say whether the file "
                          f"holds count rates or fluxes, and {shown} do not tell; pass kind='rate' "
                          "or kind='flux'")
    unit = "ct / s" if quantity == "rate" else "erg / (cm2 s)"
    warnings.warn(f"{where}: neither column names, header nor labels say whether the file holds "
                  f"count rates or fluxes; read as {quantity} ({unit}) from the size of its values "
                  f"(near {typical:.3g}); pass kind= to say",
                  XRTProductsWarning, stacklevel=4)
    return quantity


def _decide_quantity(qdp, kind, kind_hint, where):
    """("rate" or "flux", where the answer came from) for a light-curve QDP file."""
    if kind is not None:
        return kind, "kind"
    quantity, source = _quantity_from_content(qdp)
    if quantity == "both":
        raise ReaderError(f"{where}: the column names say both count rate and flux; pass kind='rate' "
                          "or kind='flux'")
    if quantity is not None:
        return quantity, source
    if kind_hint is not None:
        # What the folder's other files (with column names) said.
        return kind_hint, "folder"
    return _quantity_from_values(qdp, where), "values"


def read_lightcurve_qdp(source, *, t0=None, utcf=None, dataset=None, filename=None, job_id=None,
                        binning=None, url=None, kind=None):
    """Read one light-curve QDP file into a `LightCurve`.

    Any UKSSDC layout is read: combined curves (``curve.qdp``,
    ``curve2.qdp``, ``flux.qdp``, ``curve_plot.qdp``, their ``_nosys`` and
    ``_incbad`` variants, the bare dialect without a header block), detailed
    per-mode files (``PCCURVE.qdp``, ``WTUL.qdp``, ``PCHR.qdp``,
    ``PCHRNOSYS.qdp``...), per-mode plot files (``PC.qdp``,
    ``PCNOSYS.qdp``: the mode's detections, then ``! Upper limit``) and
    hardness ratios (``hardrat.qdp``). Sections without a column line are
    named from the file's ``READ TERR``/``READ SERR`` layout (time and its
    errors, then the rate, flux or ratio and its errors).

    Parameters
    ----------
    source : str, bytes, path-like or file-like
        A path, or the file's content.
    t0 : float or `~astropy.time.Time`, optional
        T0 in Swift MET seconds (as in ``t0.date``) or as a Time. Without it
        T0 comes from the file header's ``T0 for this burst is Swift
        MET=..., = <date> UT`` line, whose UTC date also gives the clock
        correction (see `LightCurve` ``meta["time_source"]``).
    utcf : optional
        Spacecraft clock correction UTCF, see
        `xrtprods_astro.times.met_to_time`; it overrides the header's date.
    dataset : str, optional
        The dataset a per-mode file holds (``"PC"``, ``"WTUL_incbad"``,
        ``"PCHR"``...), when it cannot be told from ``filename``.
    filename : str, optional
        The file's name, when ``source`` is content rather than a path; it
        tells which datasets the file holds (``PCCURVE_nosys.qdp`` ->
        ``PC_nosys``, ``curve_incbad.qdp`` -> ``*_incbad``, ``PCHR.qdp`` ->
        ``PCHard``, ``PCSoft``, ``PCHR``, ``PC.qdp`` -> ``PC`` and
        ``PCUL``).
    job_id, binning, url : optional
        Recorded in the meta.
    kind : {"rate", "flux"}, optional
        Whether the file holds count rates or fluxes, overriding what its
        content says. Without it the column names (``Rate``, ``Flux``...),
        then the header block (``source flux``, ``source count-rate``), then
        label qualifiers (``PC data (flux)``) decide; the file's name never
        does. A file that says nothing (no column line, no header) is read
        from the size of its values with a warning (count rates are above
        1e-4, fluxes in erg cm^-2 s^-1 below 1e-6), and refused when they
        do not tell. ``meta["quantity_source"]`` says which evidence decided.

    Returns
    -------
    `LightCurve`
        Count rates in ct / s, fluxes (``meta["quantity"] == "flux"``,
        dataset ``kind`` ``"flux"``) in erg / (cm2 s), times in s
        (or days turned into s for an MJD axis); negative errors as positive
        magnitudes; ``inf`` and ``nan`` kept.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        On malformed files, a file with neither data rows nor a column line
        (one cut right after its header, say), a T0 that is not a Swift MET, or when the datasets cannot
        be told apart. Rows are never dropped: a section with rows whose
        label names no dataset (a ``NO`` line inside a section leaves an
        unlabelled one), and a dataset whose label appears twice, are
        refused. So is a file whose quantity cannot be told (the message
        names ``kind=``), and a burst-analyser file (labels such as
        ``! batSNR4flux``), with a message that names
        `~xrtprods_astro.readers.burst.read_burst_analyser`.
    """
    return _read_qdp_lightcurve(source, t0=t0, utcf=utcf, dataset=dataset, filename=filename,
                                job_id=job_id, binning=binning, url=url, kind=kind)


def _read_qdp_lightcurve(source, *, t0=None, utcf=None, dataset=None, filename=None, job_id=None,
                         binning=None, url=None, t0_utc=None, t0_source="header", kind=None,
                         kind_hint=None):
    if filename is None and isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        filename = os.path.basename(os.fspath(source))
    qdp = read_qdp(source)
    base = os.path.basename(filename) if filename else ""
    where = base or "source"
    burst = next((s.label for s in qdp if is_burst_label(s.label)), None)
    if dataset is None and burst is not None:
        # Burst-analyser labels (batSNR4flux, xrtpcflux_nosys, xrtpcgamma_incbad) hold fluxes,
        # densities and photon indices of BAT and XRT, never count rates; readers/burst.py builds
        # on this module, so the file is sent there by the caller, not from here.
        raise ReaderError(f"{where}: a burst-analyser file (section label {burst!r}): read it with "
                          "xrtprods_astro.readers.read_burst_analyser")
    if kind not in (None, "rate", "flux"):
        raise ReaderError(f"kind: {kind!r} is not 'rate' or 'flux'")
    header_t0, header_utc = _t0_from_header(qdp.header)
    if t0 is None or (t0_utc is None and header_utc is not None and not isinstance(t0, Time)
                      and _same_met(t0, header_t0)):
        # The header's UTC also serves a T0 given as the same MET.
        t0, t0_utc, t0_source = header_t0, header_utc, "header"
    if binning is None:
        for line in qdp.header:
            m = re.search(r"BINMODE:\s*(.*?)\s*$", line, re.IGNORECASE)
            if m and m.group(1):
                binning = m.group(1)
    if not any(len(s.table) or s.named for s in qdp):
        raise ReaderError(f"{where}: no data section after the header; expected a light curve: "
                          "READ lines, then sections such as '! WT data' / '! PC data' with rows "
                          "(is the file cut short?)")
    quantity, quantity_source = _decide_quantity(qdp, kind, kind_hint, where)
    kind = _file_kind(base)
    flux = quantity == "flux"
    value = "Flux" if flux else "Rate"
    first = next((s for s in qdp if s.named and s.names), None)
    mjd_axis = bool(first is not None and _norm(first.names[0]) == "mjd")
    common = _common_meta(job_id, t0, utcf, binning, "MJD" if mjd_axis else "MET", t0_utc=t0_utc,
                          t0_source=t0_source, quantity="flux" if flux else "rate")
    common["quantity_source"] = quantity_source

    per_mode = None
    if dataset is not None:
        per_mode = parse_dataset_name(dataset)
    elif kind is not None and kind["mode"] and kind["what"] is not None:
        per_mode = parse_dataset_name(kind["mode"] + kind["what"] + kind["suffix"])

    pieces = []
    if per_mode is not None:
        sections = [s for s in qdp if len(s.table.colnames)]
        if len(sections) > 1:
            raise ReaderError(f"{where}: {len(sections)} sections where a per-mode file "
                              f"({per_mode['name']}) has one")
        columns = _section_columns(sections[0], "HR" if per_mode["kind"] == "hr" else value) \
            if sections else {}
        info = dict(per_mode, url=url)
        if per_mode["kind"] == "hr":
            pieces.extend(_split_hr(columns, info, url) if columns else [])
        else:
            pieces.append((info, columns))
    else:
        suffix = kind["suffix"] if kind is not None else ""
        default_mode = kind["mode"] or None if kind is not None else None
        first_line = {}
        for k, section in enumerate(qdp):
            label = section.label
            if label is None and k > 0 and default_mode is None:
                name = None
            else:
                name = _label_dataset(label, suffix, default_mode)
            if name is None:
                if len(section.table):
                    # Reading on would lose these rows without a word.
                    what = ("has no label (a NO line inside the section before it?)" if label is None
                            else f"is labelled {label!r}, which names no light-curve dataset")
                    raise ReaderError(f"{where}: the section starting on line {section.line} {what}; "
                                      f"its {len(section.table)} rows cannot be placed. Expected labels "
                                      "such as 'WT data', 'PC', 'PC Upper limit', 'PC -- hard data'; pass "
                                      "filename= (e.g. 'PC.qdp') for a per-mode plot file")
                continue
            info = parse_dataset_name(name)
            info["url"] = url
            if info["name"] in first_line and (len(section.table) or section.named):
                raise ReaderError(f"{where}: dataset {info['name']} appears twice (sections starting on "
                                  f"lines {first_line[info['name']]} and {section.line}); which rows "
                                  "belong to it is ambiguous")
            first_line.setdefault(info["name"], section.line)
            pieces.append((info, _section_columns(section, "HR" if info["kind"] == "hr" else value)))
        if not pieces and any(len(s.table) for s in qdp):
            raise ReaderError(f"{where}: no section label names a light-curve dataset "
                              f"(labels: {qdp.labels}); expected labels such as 'WT data', 'PC', "
                              "'PC Upper limit', 'PC -- hard data'; pass dataset= for a per-mode file")
    tables, times = {}, {}
    for info, columns in pieces:
        if not columns:
            continue   # an empty section with no column line: nothing to build
        if info["name"] in tables:
            raise ReaderError(f"{where}: dataset {info['name']} appears twice")
        if flux and info["kind"] == "rate":
            info = dict(info, kind="flux")
        tables[info["name"]] = _build_table(columns, info=info, common=common, utcf=utcf, mjd_axis=mjd_axis,
                                            times=times)
    return LightCurve(tables, common)


def _read_t0_date(path):
    """(T0 in MET, UKSSDC's UTC for it) from a ``t0.date`` file."""
    with open(path, errors="replace") as fh:
        return parse_t0_date(fh.read(), source=path)


def parse_t0_date(text, *, source="t0.date"):
    """T0 in MET and UKSSDC's own UTC for it, from the text of a ``t0.date`` file.

    Line 1 is the MET, line 2 UKSSDC's UTC date (``2018 Jun 19 at
    10:31:55.845 UT``, clock correction included), line 3 the same instant
    as an MJD (UTC); line 4, a later MJD, is not needed.

    Parameters
    ----------
    text : str
    source : str, optional
        Named in error messages.

    Returns
    -------
    (float, `~astropy.time.Time` or None)

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        No MET on the first line, or a date that is not that MET.
    """
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    try:
        met = float(lines[0].split()[0])
    except (IndexError, ValueError):
        raise ReaderError(f"{source}: expected T0 in MET seconds on the first line") from None
    utc = parse_ukssdc_date(lines[1]) if len(lines) > 1 else None
    if utc is None and len(lines) > 2:
        try:
            utc = Time(float(lines[2].split()[0]), format="mjd", scale="utc")
        except ValueError:
            utc = None
    if utc is not None and abs(utcf_from_utc(met, utc)) > _MAX_UTCF:
        raise ReaderError(f"{source}: the date {lines[1]!r} is not the MET {met} (they differ by "
                          f"{utcf_from_utc(met, utc):.0f} s)")
    return met, utc


def _same_met(a, b):
    try:
        return abs(float(a) - float(b)) < 1e-3
    except (TypeError, ValueError):
        return False


def _header_lines(path):
    """The comment lines before a QDP file's first READ command."""
    lines = []
    with open(path, errors="replace") as fh:
        for line in fh:
            if line.strip().upper().startswith("READ"):
                break
            if line.strip().startswith("!"):
                lines.append(line.strip()[1:])
    return lines


# Order in which read_lightcurve_files takes datasets: the first file that
# holds a dataset wins, so the files with most columns come first.
def _file_priority(kind):
    if kind["mode"] and kind["what"] is not None:
        return 0
    order = {"curve": 1, "curve2": 2, "hardrat": 3, "": 4, "flux": 6}[kind["stem"]]
    return order + (4 if kind["plot"] else 0)


def read_lightcurve_files(directory, *, utcf=None, t0=None, job_id=None, binning=None, kind=None):
    """Read the light-curve files of a product archive's ``lc/`` folder.

    The detailed per-mode files (``WTCURVE``, ``PCCURVE``, ``WTUL``,
    ``PCUL``, ``WTHR``, ``PCHR`` and their ``_nosys``/``NOSYS``/``_incbad``
    variants) are preferred, as they carry every column; datasets they lack
    are taken from ``curve*.qdp``, ``hardrat*.qdp``, the per-mode plot
    files (``PC.qdp``) and last the ``*_plot.qdp`` files. T0 and UKSSDC's
    own UTC for it come from ``t0.date`` unless given.

    Parameters
    ----------
    directory : str or path-like
        The ``lc`` folder, or a folder holding one (``USERPROD_<JobID>``).
    utcf, t0, job_id, binning : optional
        As for `read_lightcurve_qdp`; ``job_id`` defaults to the number in a
        ``USERPROD_<JobID>`` path.
    kind : {"rate", "flux"}, optional
        What every file holds, as for `read_lightcurve_qdp`. Without it each
        file's content decides, and files without column names or header
        (``PC.qdp``, ``curve_plot.qdp``) take what the folder's other files
        said.

    Returns
    -------
    `LightCurve`
    """
    if kind not in (None, "rate", "flux"):
        raise ReaderError(f"kind: {kind!r} is not 'rate' or 'flux'")
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ReaderError(f"directory: {directory!r} is not a folder")
    if os.path.isdir(os.path.join(directory, "lc")):
        directory = os.path.join(directory, "lc")
    if job_id is None:
        m = re.search(r"USERPROD_(\d+)", os.path.abspath(directory))
        job_id = int(m.group(1)) if m else None
    files = sorted(os.listdir(directory))
    t0_utc, t0_source = None, "header"
    if t0 is None and "t0.date" in files:
        t0, t0_utc = _read_t0_date(os.path.join(directory, "t0.date"))
        t0_source = "t0.date"
    elif t0 is None:
        # Per-mode files have no header: T0 comes from a combined curve's.
        for name in files:
            if _file_kind(name) is not None:
                t0, t0_utc = _t0_from_header(_header_lines(os.path.join(directory, name)))
                if t0 is not None:
                    break
    known = [(f, _file_kind(f)) for f in files]
    known = sorted(((f, k) for f, k in known if k is not None), key=lambda fk: (_file_priority(fk[1]), fk[0]))
    if any(k["stem"] != "flux" for _, k in known):
        # Flux curves repeat the count-rate datasets' names in other units.
        known = [(f, k) for f, k in known if k["stem"] != "flux"]
    if not known:
        raise ReaderError(f"directory: no light-curve QDP files in {directory!r}")
    tables, meta, said = {}, None, None
    for name, _ in known:
        # Files with column names come first; what they say (count rates or fluxes) also holds
        # for the folder's files without any (PC.qdp, curve_plot.qdp).
        lc = _read_qdp_lightcurve(os.path.join(directory, name), t0=t0, utcf=utcf, job_id=job_id,
                                  binning=binning, url=name, t0_utc=t0_utc, t0_source=t0_source,
                                  kind=kind, kind_hint=said)
        if said is None and lc.meta.get("quantity_source") in ("columns", "header", "label"):
            said = lc.meta["quantity"]
        meta = meta or lc.meta
        if meta.get("binning") is None and lc.meta.get("binning"):
            meta["binning"] = lc.meta["binning"]
        for ds, table in lc.items():
            tables.setdefault(ds, table)
    return LightCurve(tables, meta)
