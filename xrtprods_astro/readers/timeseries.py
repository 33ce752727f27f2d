# Licensed under a 3-clause BSD style license - see LICENSE
"""
Light curves and hardness ratios as astropy `~astropy.timeseries.BinnedTimeSeries`.

A Swift-XRT bin is not centred on its reported time (counts-binned bins
report the mean photon arrival time), so the time series is built from the
real bin edges: ``time_bin_start = time - time_err_neg`` and
``time_bin_size = time_err_neg + time_err_pos``. The reported time is kept
in ``time_reported``.

Upper limits are marked, not hidden in zero errors: ``upper_limit`` is True,
``rate`` holds the 3-sigma limit and the errors (and the infinite ``snr``) are
masked. Hardness ratios become one row per bin with the hard and soft rates
and the ratio side by side; non-finite values (``-nan``, ``inf``) are masked.

The meta holds only values that a FITS header can carry (strings, numbers,
booleans), so the series round-trips through ECSV and FITS with its units,
masks and times::

    ts.write("lc.ecsv")
    BinnedTimeSeries.read("lc.ecsv")
    ts.write("lc.fits")
    BinnedTimeSeries.read("lc.fits", astropy_native=True)   # Time columns back as Time
"""
import numpy as np
from astropy import units as u
from astropy.table import MaskedColumn, QTable, vstack
from astropy.time import Time

from ..exceptions import ReaderError

__all__ = ["lightcurve_to_timeseries", "energy_bands", "DEFAULT_BANDS"]

#: The UKSSDC default energy bands of a light curve (keV): the rate band and
#: the soft and hard bands of the hardness ratio (``minen``/``maxen``,
#: ``soft1``/``soft2``, ``hard1``/``hard2``).
DEFAULT_BANDS = {"energy_band": (0.3, 10.0), "soft_band": (0.3, 1.5), "hard_band": (1.5, 10.0)}

# Request parameter names (friendly spelling) of each band's edges.
_BAND_PARAMS = {"energy_band": ("min_energy", "max_energy"), "soft_band": ("soft_lo", "soft_hi"),
                "hard_band": ("hard_lo", "hard_hi")}
# Columns dropped from the series: the bin edges carry them.
_DROPPED = ("time", "time_err_pos", "time_err_neg")
_KINDS = ("rate", "flux", "hr")


def energy_bands(meta=None, params=None):
    """The energy bands of a light curve, in keV.

    Parameters
    ----------
    meta : mapping, optional
        A light curve's meta; its ``energy_band``, ``soft_band`` and
        ``hard_band`` entries (``(lo, hi)`` in keV, numbers or Quantities) win.
    params : mapping, optional
        The light-curve parameters of the request (friendly names, keV:
        ``min_energy``, ``max_energy``, ``soft_lo``, ``soft_hi``, ``hard_lo``,
        ``hard_hi``), as `~xrtprods_astro.ProductRequest.params` gives them.

    Returns
    -------
    dict
        ``energy_band``, ``soft_band``, ``hard_band`` -> ``(lo, hi)`` floats
        in keV; the UKSSDC defaults (`DEFAULT_BANDS`) where nothing is known.

    Examples
    --------
    >>> energy_bands(params={"soft_lo": 0.5, "soft_hi": 2})["soft_band"]
    (0.5, 2.0)
    """
    out = dict(DEFAULT_BANDS)
    params = params or {}
    for key, (lo_name, hi_name) in _BAND_PARAMS.items():
        lo = params.get(lo_name, out[key][0])
        hi = params.get(hi_name, out[key][1])
        out[key] = (float(u.Quantity(lo, u.keV).value), float(u.Quantity(hi, u.keV).value))
    for key in _BAND_PARAMS:
        value = (meta or {}).get(key)
        if value is not None:
            lo, hi = u.Quantity(value, u.keV).value
            out[key] = (float(lo), float(hi))
    return out


def band_text(band):
    """``"0.3-10 keV"`` for ``(0.3, 10.0)``."""
    return f"{band[0]:g}-{band[1]:g} keV"


def _check_times(table, name):
    if "time" not in table.colnames:
        raise ReaderError(f"dataset {name!r} has no absolute times (T0 unknown): pass t0= "
                          "when reading the files")
    if "time_err_neg" not in table.colnames or "time_err_pos" not in table.colnames:
        raise ReaderError(f"dataset {name!r} has no time_err_pos/time_err_neg columns: its bin "
                          "edges are unknown")


def _masked(column, mask):
    """A masked copy of ``column`` with ``mask`` added to its own mask."""
    out = MaskedColumn(column, copy=True)
    out.mask = np.ma.getmaskarray(column) | mask
    return out


def _binned(table):
    """A QTable with the real bin edges of ``table`` (time minus and plus its errors) and its mode."""
    out = QTable()
    neg = u.Quantity(table["time_err_neg"], u.s)
    pos = u.Quantity(table["time_err_pos"], u.s)
    out["time_bin_start"] = table["time"] - neg
    out["time_bin_size"] = (neg + pos).to(u.s)
    out["time_reported"] = table["time"]
    out["mode"] = np.full(len(table), table.meta.get("mode") or "", dtype="U6")
    return out


def _rate_part(table, name):
    """One rate or upper-limit dataset as a plain table with bin edges and marked limits."""
    _check_times(table, name)
    out = _binned(table)
    out["dataset"] = np.full(len(table), table.meta.get("dataset") or name, dtype="U24")
    for col in table.colnames:
        if col not in _DROPPED and col not in out.colnames:
            out[col] = table[col]
    limit = (np.asarray(out["upper_limit"], bool) if "upper_limit" in out.colnames
             else np.full(len(out), table.meta.get("kind") == "ul"))
    out["upper_limit"] = limit
    for col in ("rate_err_pos", "rate_err_neg", "rate_err", "flux_err_pos", "flux_err_neg", "flux_err"):
        if col in out.colnames:
            out[col] = _masked(out[col], limit)
    for col in ("snr", "sigma"):
        if col in out.colnames:
            values = np.ma.filled(np.ma.asarray(out[col], dtype=float), np.nan)
            out[col] = _masked(out[col], limit & ~np.isfinite(values))
    return out


def _hr_part(lc, hr_name):
    """One mode's HR dataset with its Hard and Soft datasets side by side."""
    hr = lc[hr_name]
    _check_times(hr, hr_name)
    out = _binned(hr)
    for col in ("t_since_t0", "met"):
        if col in hr.colnames:
            out[col] = hr[col]
    for band in ("Hard", "Soft"):
        other = hr_name.replace("HR", band, 1)
        if other not in lc:
            continue
        table = lc[other]
        same = (len(table) == len(hr) and "time" in table.colnames
                and np.allclose((table["time"] - hr["time"]).to_value(u.s), 0, atol=1e-3))
        if not same:
            raise ReaderError(f"datasets {other!r} and {hr_name!r} do not share their bins")
        for col in ("rate", "rate_err"):
            if col in table.colnames:
                out[f"{band.lower()}_{col}"] = table[col]
    for col in hr.colnames:
        if col not in _DROPPED and col not in out.colnames:
            out[col] = hr[col]
    for col in out.colnames[4:]:
        if out[col].dtype.kind == "f":
            values = np.ma.filled(np.ma.asarray(out[col], dtype=float), np.nan)
            if not np.isfinite(values).all():
                out[col] = _masked(out[col], ~np.isfinite(values))
    return out


def _series_meta(lc, kind, nosys, incbad, dataset):
    meta = {"job_id": lc.meta.get("job_id"), "target": lc.meta.get("target"), "kind": kind,
            "binning": lc.meta.get("binning"), "nosys": bool(nosys), "incbad": bool(incbad)}
    if dataset is not None:
        meta["dataset"] = dataset
    t0 = lc.meta.get("t0")
    if isinstance(t0, Time):
        meta["t0"] = t0.utc.isot   # a string: FITS headers cannot hold a Time
        meta["t0_met"] = lc.meta.get("t0_met")
    bands = energy_bands(lc.meta)
    if kind == "hr":
        meta["hard"], meta["soft"] = band_text(bands["hard_band"]), band_text(bands["soft_band"])
    else:
        meta["band"] = band_text(bands["energy_band"])
    # FITS headers have no "undefined" value a reader gives back as None: leave unknowns out.
    return {key: value for key, value in meta.items() if value is not None}


def lightcurve_to_timeseries(lc, dataset=None, *, kind=None, nosys=False, incbad=False, modes=None):
    """A light curve as an astropy `~astropy.timeseries.BinnedTimeSeries`.

    Parameters
    ----------
    lc : `~xrtprods_astro.readers.lightcurve.LightCurve`
    dataset : str, optional
        One dataset (``"PC"``, ``"PCUL"``, ``"WTHR"``...); by default all
        modes of ``kind``.
    kind : {"rate", "flux", "hr"}, optional
        ``"rate"``: count rates and upper limits of every mode; ``"flux"``:
        the same for a flux light curve (erg cm^-2 s^-1); ``"hr"``:
        hardness ratios with the hard and soft rates of the same bins.
        Default: what the light curve holds (``meta["quantity"]``, ``"rate"``
        or ``"flux"``).
    nosys, incbad : bool
        Which variant of the datasets to take (default the plain ones).
    modes : str or sequence of str, optional
        Restrict to these modes (``"WT"``, ``"PC"``, ``"WTSLEW"``).

    Returns
    -------
    `~astropy.timeseries.BinnedTimeSeries`
        Sorted by bin start. Columns: ``time_bin_start`` (UTC),
        ``time_bin_size`` (s), ``time_reported``, ``mode``; for rates
        ``dataset``, ``rate``, ``rate_err_pos``, ``rate_err_neg`` (ct / s;
        ``flux``... in erg cm^-2 s^-1 for a flux light curve), ``upper_limit``
        and the dataset's other columns; for hardness ratios
        ``hard_rate``, ``hard_rate_err``, ``soft_rate``, ``soft_rate_err``
        (ct / s), ``hr`` and ``hr_err``. ``meta``: ``job_id``, ``target``,
        ``t0`` (ISO UTC string), ``t0_met``, ``kind``, the energy band(s) as
        text, ``binning``, ``nosys``, ``incbad``.

    Raises
    ------
    ValueError
        For an unknown ``kind`` or ``modes``, or ``dataset`` given with them.
    KeyError
        For a dataset the light curve does not have.
    `~xrtprods_astro.exceptions.ReaderError`
        When T0 is unknown (no absolute times) or no dataset matches.
    """
    from astropy.timeseries import BinnedTimeSeries
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {list(_KINDS)}")
    if modes is not None:
        modes = [modes] if isinstance(modes, str) else list(modes)
        unknown = sorted(set(modes) - {"WT", "PC", "WTSLEW"})
        if unknown:
            raise ValueError(f"modes: {unknown} not allowed; choose from ['WTSLEW', 'WT', 'PC']")
    if dataset is not None:
        if not isinstance(dataset, str):
            raise TypeError(f"dataset: expected a dataset name (str), got {type(dataset).__name__}")
        if kind is not None or modes is not None or nosys or incbad:
            raise ValueError("dataset: give either one dataset name or kind/modes/nosys/incbad, not both")
        table = lc[dataset]
        kind = "hr" if table.meta.get("kind") == "hr" else table.meta.get("quantity") or "rate"
        nosys, incbad = bool(table.meta.get("nosys")), bool(table.meta.get("incbad"))
        parts = [_hr_part(lc, dataset) if kind == "hr" else _rate_part(table, dataset)]
    else:
        if kind is None:
            kind = "flux" if lc.meta.get("quantity") == "flux" else "rate"
        wanted = ("hr",) if kind == "hr" else (kind, "ul")
        names = [name for name, t in lc.items()
                 if t.meta.get("kind") in wanted and bool(t.meta.get("nosys")) == bool(nosys)
                 # a flux light curve's upper limits are fluxes, a rate one's are rates
                 and (kind == "hr" or (t.meta.get("quantity") or "rate") == kind)
                 and bool(t.meta.get("incbad")) == bool(incbad)
                 and (modes is None or t.meta.get("mode") in modes)]
        if not names:
            raise ReaderError(f"no {kind} dataset with nosys={nosys}, incbad={incbad}"
                              f"{'' if modes is None else f', modes={modes}'}; datasets: {lc.datasets}")
        parts = [_hr_part(lc, n) if kind == "hr" else _rate_part(lc[n], n) for n in names]
    table = parts[0] if len(parts) == 1 else vstack(parts, join_type="outer", metadata_conflicts="silent")
    table = table[np.argsort(table["time_bin_start"].mjd, kind="stable")]
    data = {name: table[name] for name in table.colnames if name not in ("time_bin_start", "time_bin_size")}
    series = BinnedTimeSeries(time_bin_start=table["time_bin_start"], time_bin_size=table["time_bin_size"],
                              data=data, meta=_series_meta(lc, kind, nosys, incbad, dataset))
    from ..display import reset_display_formats, set_display_formats
    # Stacked datasets: each column's format from all the rows, not one dataset's.
    (reset_display_formats if len(parts) > 1 else set_display_formats)(series)
    for name in ("time_bin_start", "time_reported"):
        if name in series.colnames:
            # ECSV writes a Time as its printed text (to the ms): written as two doubles
            # instead, a bin edge reads back to the ns whatever the clock's offset.
            series[name].info.serialize_method["ecsv"] = "jd1_jd2"
    return series
