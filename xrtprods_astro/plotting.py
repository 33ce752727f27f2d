# Licensed under a 3-clause BSD style license - see LICENSE
"""
Quick-look plots of Swift-XRT light curves.

matplotlib is optional: it is imported only when a plot is made (install the
``plot`` extra, ``pip install xrtprods_astro[plot]``).
"""
import logging

import numpy as np
from astropy import units as u

__all__ = ["plot_lightcurve"]

log = logging.getLogger("xrtprods_astro.plotting")

_STYLE = {
    "WTSLEW": {"marker": "^", "color": "tab:green"},
    "WT": {"marker": "s", "color": "tab:blue"},
    "PC": {"marker": "o", "color": "tab:red"},
}
_TIME_AXES = ("since_t0", "mjd", "met")


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the test environment
        raise ImportError("plot_lightcurve needs matplotlib: install it, or the 'plot' extra "
                          "(pip install 'xrtprods_astro[plot]')") from exc
    return plt


def _x_values(table, time_axis, t0):
    """x values (plain floats) and the axis label for one table."""
    if time_axis == "mjd":
        if "time" not in table.colnames:
            raise ValueError("time_axis='mjd' needs absolute times, but T0 is unknown")
        return np.asarray(table["time"].utc.mjd), 1.0 / 86400.0, "Time (MJD, UTC)"
    if time_axis == "met":
        if "met" in table.colnames:
            return np.asarray(table["met"], float), 1.0, "Time (Swift MET) [s]"
        raise ValueError("time_axis='met' needs a MET time axis; use 'mjd' for this light curve")
    if "t_since_t0" in table.colnames:
        return np.asarray(table["t_since_t0"], float), 1.0, "Time since T0 [s]"
    if "time" in table.colnames and t0 is not None:
        return ((table["time"] - t0).to_value(u.s)), 1.0, "Time since T0 [s]"
    raise ValueError("time_axis='since_t0' needs T0; use time_axis='mjd' for this light curve")


def _errors(table, scale):
    neg = np.asarray(table["time_err_neg"], float) * scale if "time_err_neg" in table.colnames else None
    pos = np.asarray(table["time_err_pos"], float) * scale if "time_err_pos" in table.colnames else None
    return None if neg is None or pos is None else np.vstack([neg, pos])


def plot_lightcurve(lc, *, ax=None, log_time=True, log_rate=True, hardness=True, modes=None,
                    time_axis="since_t0", nosys=False, incbad=False):
    """Plot a Swift-XRT light curve: rates per mode, upper limits and hardness ratio.

    Parameters
    ----------
    lc : `~xrtprods_astro.readers.lightcurve.LightCurve`
    ax : `matplotlib.axes.Axes` or sequence of two, optional
        Where to draw: one axes for the rates, or (rate axes, HR axes).
        When omitted a new figure is made, with an HR panel sharing the time
        axis when ``hardness`` is true and the light curve has HR datasets.
    log_time, log_rate : bool
        Logarithmic time and rate axes (the usual GRB view). A logarithmic
        time axis needs positive times, so it is dropped for ``"met"`` and
        ``"mjd"`` axes only if asked for explicitly.
    hardness : bool
        Draw the hardness ratio panel when HR datasets exist.
    modes : sequence of str, optional
        Restrict to these modes (``"WT"``, ``"PC"``, ``"WTSLEW"``).
    time_axis : {"since_t0", "mjd", "met"}
        The x axis: seconds since T0, MJD (UTC) or Swift MET.
    nosys, incbad : bool
        Which dataset variant to draw (default: the plain datasets).

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    axes : list of `matplotlib.axes.Axes`
        ``[rate_axes]`` or ``[rate_axes, hr_axes]``.
    """
    if time_axis not in _TIME_AXES:
        raise ValueError(f"time_axis: {time_axis!r} is not one of {list(_TIME_AXES)}")
    if modes is not None:
        modes = [modes] if isinstance(modes, str) else list(modes)
        unknown = sorted(set(modes) - set(_STYLE))
        if unknown:
            raise ValueError(f"modes: {unknown} not allowed; choose from {list(_STYLE)}")
    plt = _import_pyplot()

    rate_tables, hr_tables = [], []
    for table in lc.values():
        m = table.meta
        if bool(m.get("nosys")) != nosys or bool(m.get("incbad")) != incbad:
            continue
        if modes is not None and m.get("mode") not in modes:
            continue
        if m.get("kind") in ("rate", "ul"):
            rate_tables.append(table)
        elif m.get("kind") == "hr":
            hr_tables.append(table)
    want_hr = hardness and bool(hr_tables)

    if ax is None:
        if want_hr:
            fig, axes = plt.subplots(2, 1, sharex=True, figsize=(7, 6),
                                     gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
            axes = list(axes)
        else:
            fig, one = plt.subplots(figsize=(7, 4.5))
            axes = [one]
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        fig = axes[0].figure
        if want_hr and len(axes) < 2:
            log.info("one axes given: the hardness ratio panel is not drawn")
            want_hr = False
    rate_ax = axes[0]
    t0 = lc.meta.get("t0")
    xlabel = None
    for table in rate_tables:
        if len(table) == 0:
            continue
        mode = table.meta.get("mode") or "?"
        style = _STYLE.get(mode, {"marker": "D", "color": "tab:gray"})
        x, scale, xlabel = _x_values(table, time_axis, t0)
        xerr = _errors(table, scale)
        y = np.asarray(table["rate"], float)
        if table.meta.get("kind") == "ul":
            # Downward arrows from the 3-sigma limit, half a decade long on a log axis.
            length = y * 0.5 if log_rate else np.full_like(y, np.nanmax(y) * 0.1)
            rate_ax.errorbar(x, y, xerr=xerr, yerr=length, uplims=True, linestyle="none",
                             color=style["color"], marker="none", label=f"{mode} upper limit")
        else:
            yerr = np.vstack([np.asarray(table["rate_err_neg"], float),
                              np.asarray(table["rate_err_pos"], float)])
            rate_ax.errorbar(x, y, xerr=xerr, yerr=yerr, linestyle="none", marker=style["marker"],
                             markersize=3, color=style["color"], label=mode)
    unit = rate_tables[0]["rate"].unit if rate_tables else u.ct / u.s
    rate_ax.set_ylabel(f"Count rate (0.3-10 keV) [{(unit or u.ct / u.s).to_string()}]")
    if log_rate:
        rate_ax.set_yscale("log")
    if log_time and time_axis == "since_t0":
        rate_ax.set_xscale("log")
    if rate_ax.get_legend_handles_labels()[1]:
        rate_ax.legend(loc="best", fontsize="small")
    if want_hr:
        hr_ax = axes[1]
        for table in hr_tables:
            if len(table) == 0:
                continue
            mode = table.meta.get("mode") or "?"
            style = _STYLE.get(mode, {"marker": "D", "color": "tab:gray"})
            x, scale, xlabel = _x_values(table, time_axis, t0)
            hr_ax.errorbar(x, np.asarray(table["hr"], float), xerr=_errors(table, scale),
                           yerr=np.asarray(table["hr_err"], float), linestyle="none",
                           marker=style["marker"], markersize=3, color=style["color"], label=f"{mode} HR")
        hr_ax.set_ylabel("HR (hard/soft)")
        hr_ax.set_xlabel(xlabel or "Time")
    else:
        rate_ax.set_xlabel(xlabel or "Time")
    if job := lc.meta.get("job_id"):
        rate_ax.set_title(f"Swift-XRT light curve (job {job})", fontsize="medium")
    return fig, axes[:2] if want_hr else axes[:1]
