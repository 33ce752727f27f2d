# Licensed under a 3-clause BSD style license - see LICENSE
"""
Plots of Swift-XRT products, ready for a paper: light curves, images and
spectral-fit summaries.

Every function returns the matplotlib Figure and Axes, so a plot can be
restyled or saved. matplotlib is optional: it is imported only when a plot is
made (install the ``plot`` extra, ``pip install 'xrtprods_astro[plot]'``).
"""
import logging

import numpy as np
from astropy import units as u
from astropy.time import Time

from .readers.timeseries import band_text, energy_bands

__all__ = ["plot_lightcurve", "plot_image", "plot_spectral_fits"]

log = logging.getLogger("xrtprods_astro.plotting")

_STYLE = {
    "WTSLEW": {"marker": "^", "color": "tab:green"},
    "WT": {"marker": "s", "color": "tab:blue"},
    "PC": {"marker": "o", "color": "tab:red"},
}
_OTHER = {"marker": "D", "color": "tab:gray"}
_TIME_AXES = ("since_t0", "mjd", "utc", "met")
# Colours that stand out on the magma colour map, from its dark edge to its bright centre.
_POSITION_COLOURS = {"standard": "lime", "enhanced": "cyan", "astrometric": "white"}


def _import_pyplot(what="plotting"):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(f"{what} needs matplotlib: install it, or the 'plot' extra "
                          "(pip install 'xrtprods_astro[plot]')") from exc
    return plt


def _unit_label(unit):
    """``erg s$^{-1}$ cm$^{-2}$``: a unit as a paper writes it, with real spaces between factors."""
    unit = u.Unit(unit)
    if not getattr(unit, "bases", None):
        return unit.to_string()
    parts = []
    for base, power in zip(unit.bases, unit.powers):
        name = base.to_string()
        parts.append(name if power == 1 else f"{name}$^{{{power:g}}}$")
    scale = "" if unit.scale == 1 else f"{unit.scale:g} "
    return scale + " ".join(parts)


def _title(ax, meta, default):
    """The target as the title; the job id small in the corner, as a paper figure wants it."""
    ax.set_title(meta.get("target") or default, loc="left", fontsize="medium")
    job = meta.get("job_id")
    if job is not None:
        ax.text(1.0, 1.01, f"Swift-XRT job {job}", transform=ax.transAxes, ha="right", va="bottom",
                fontsize="x-small", color="0.4")


# --------------------------------------------------------------------------- light curves

def _t0_label(meta):
    t0 = meta.get("t0")
    if not isinstance(t0, Time):
        return ""
    text = f"T0 = {t0.utc.iso} UTC"
    if meta.get("t0_met") is not None:
        text += f" = MET {meta['t0_met']:.3f} s"
    return text


def _x_values(table, time_axis, meta):
    """x values (plain floats), the factor from seconds to x units, and the axis label."""
    if time_axis in ("mjd", "utc"):
        if "time" not in table.colnames:
            raise ValueError(f"time_axis={time_axis!r} needs absolute times, but T0 is unknown")
        if time_axis == "mjd":
            return np.asarray(table["time"].utc.mjd), 1.0 / 86400.0, "Time [MJD (UTC)]"
        import matplotlib.dates as mdates
        return mdates.date2num(table["time"].utc.datetime), 1.0 / 86400.0, "Date (UTC)"
    if time_axis == "met":
        if "met" in table.colnames:
            return np.asarray(table["met"], float), 1.0, "Swift MET [s]"
        raise ValueError("time_axis='met' needs a MET time axis; use 'mjd' or 'utc' for this light curve")
    label = "Time since T0 [s]"
    t0_text = _t0_label(meta)
    if t0_text:
        label += f"\n({t0_text})"
    if "t_since_t0" in table.colnames:
        return np.asarray(table["t_since_t0"], float), 1.0, label
    t0 = meta.get("t0")
    if "time" in table.colnames and t0 is not None:
        return (table["time"] - t0).to_value(u.s), 1.0, label
    raise ValueError("time_axis='since_t0' needs T0; use time_axis='mjd' for this light curve")


def _errors(table, scale):
    if "time_err_neg" not in table.colnames or "time_err_pos" not in table.colnames:
        return None
    return np.vstack([np.asarray(table["time_err_neg"], float) * scale,
                      np.asarray(table["time_err_pos"], float) * scale])


def _upper_limit_handler():
    """A legend handler drawing a downward arrow, as the upper limits are drawn."""
    from matplotlib.legend_handler import HandlerBase
    from matplotlib.lines import Line2D
    from matplotlib.markers import CARETDOWNBASE

    class HandlerUpperLimit(HandlerBase):
        def create_artists(self, legend, orig_handle, xdescent, ydescent, width, height, fontsize, trans):
            color = orig_handle.lines[0].get_color()
            x = width / 2 - xdescent
            top, bottom = height - ydescent + 0.15 * height, -ydescent - 0.1 * height
            head = Line2D([x], [bottom], marker=CARETDOWNBASE, markersize=fontsize * 0.5, color=color,
                          linestyle="none", transform=trans)
            stem = Line2D([x, x], [top, bottom], color=color, linewidth=1.2, transform=trans)
            return [head, stem]

    return HandlerUpperLimit()


def _log_time_suits(x):
    """Whether a logarithmic time axis shows these times (s since T0) better than a linear one.

    A fading GRB's bins get longer with time: on a linear axis the early points crowd into the
    first few per cent and one gap fills the rest. A monitored source observed once a day is
    the opposite: on a log axis the gap from its first snapshot to the second takes most of
    the axis and squashes the other points together. The scale whose largest gap between
    neighbouring points is the smaller share of the axis is the one that spreads them out.
    """
    x = np.unique(np.asarray(x, float)[np.isfinite(x)])
    if len(x) == 0 or x[0] <= 0:
        return False   # no log axis can show a point at or before T0
    if len(x) < 3:
        return bool(x[-1] / x[0] > 100)

    def largest_gap(values):
        return np.max(np.diff(values)) / (values[-1] - values[0])
    return bool(largest_gap(np.log10(x)) < largest_gap(x))


def plot_lightcurve(lc, *, ax=None, log_time=None, log_rate=True, hardness=True, modes=None,
                    time_axis="since_t0", nosys=False, incbad=False):
    """Plot a Swift-XRT light curve: rates or fluxes per mode, upper limits and hardness ratio.

    The title is the target's name (the job id is in small print in the
    corner); the time axis label gives T0 in UTC and Swift MET; the count-rate
    (or, for a flux light curve, the flux) label gives the energy band and
    the hardness-ratio label both bands (from the request, else the UKSSDC
    defaults 0.3-10, 0.3-1.5 and 1.5-10 keV).
    Upper limits are downward arrows, in the legend too.

    Parameters
    ----------
    lc : `~xrtprods_astro.readers.lightcurve.LightCurve`
    ax : `matplotlib.axes.Axes` or sequence of two, optional
        Where to draw: one axes for the rates, or (rate axes, HR axes).
        When omitted a new figure is made, with an HR panel sharing the time
        axis when ``hardness`` is true and the light curve has HR datasets.
    log_time : bool or None
        Logarithmic time axis (the usual GRB view; only for
        ``time_axis="since_t0"``). None (the default) chooses from the data:
        logarithmic when that spreads the points out better than a linear
        axis (a fading GRB), linear otherwise (a source monitored at regular
        intervals) and when any point is at or before T0.
    log_rate : bool
        Logarithmic rate axis.
    hardness : bool
        Draw the hardness ratio panel when HR datasets exist.
    modes : sequence of str, optional
        Restrict to these modes (``"WT"``, ``"PC"``, ``"WTSLEW"``).
    time_axis : {"since_t0", "mjd", "utc", "met"}
        The x axis: seconds since T0, MJD (UTC), calendar dates (UTC) or
        Swift MET.
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
    plt = _import_pyplot("plot_lightcurve")

    rate_tables, hr_tables = [], []
    for table in lc.values():
        m = table.meta
        if bool(m.get("nosys")) != nosys or bool(m.get("incbad")) != incbad:
            continue
        if modes is not None and m.get("mode") not in modes:
            continue
        if m.get("kind") in ("rate", "flux", "ul"):
            rate_tables.append(table)
        elif m.get("kind") == "hr":
            hr_tables.append(table)
    want_hr = hardness and bool(hr_tables)

    if ax is None:
        if want_hr:
            fig, axes = plt.subplots(2, 1, sharex=True, figsize=(7, 6), layout="constrained",
                                     gridspec_kw={"height_ratios": [3, 1]})
            axes = list(axes)
        else:
            fig, one = plt.subplots(figsize=(7, 4.5), layout="constrained")
            axes = [one]
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        fig = axes[0].figure
        if want_hr and len(axes) < 2:
            log.info("one axes given: the hardness ratio panel is not drawn")
            want_hr = False
    rate_ax = axes[0]
    meta = lc.meta
    bands = energy_bands(meta)
    xlabel = None
    handlers = {}
    if log_time is None:
        if time_axis == "since_t0":
            times = [_x_values(t, time_axis, meta)[0] for t in rate_tables + hr_tables if len(t)]
            log_time = _log_time_suits(np.concatenate(times)) if times else True
        else:
            log_time = False
    for table in rate_tables:
        if len(table) == 0:
            continue
        mode = table.meta.get("mode") or "?"
        style = _STYLE.get(mode, _OTHER)
        x, scale, xlabel = _x_values(table, time_axis, meta)
        xerr = _errors(table, scale)
        # Flux light curves (erg/cm2/s) carry "flux" where count-rate ones carry "rate".
        quantity = "flux" if "flux" in table.colnames else "rate"
        y = np.asarray(table[quantity], float)
        if table.meta.get("kind") == "ul":
            # Downward arrows from the 3-sigma limit, half a decade long on a log axis.
            length = y * 0.5 if log_rate else np.full_like(y, np.nanmax(y) * 0.1)
            container = rate_ax.errorbar(x, y, xerr=xerr, yerr=length, uplims=True, linestyle="none",
                                         color=style["color"], marker="none",
                                         label=f"{mode} upper limit (3σ)")
            handlers[container] = _upper_limit_handler()
        else:
            yerr = np.vstack([np.asarray(table[f"{quantity}_err_neg"], float),
                              np.asarray(table[f"{quantity}_err_pos"], float)])
            rate_ax.errorbar(x, y, xerr=xerr, yerr=yerr, linestyle="none", marker=style["marker"],
                             markersize=3, color=style["color"], label=mode, elinewidth=0.8)
    if rate_tables and "flux" in rate_tables[0].colnames:
        rate_ax.set_ylabel(f"Flux ({band_text(bands['energy_band'])}) "
                           f"[{_unit_label(rate_tables[0]['flux'].unit or u.erg / u.cm**2 / u.s)}]")
    else:
        unit = rate_tables[0]["rate"].unit if rate_tables else None
        rate_ax.set_ylabel(f"Count rate ({band_text(bands['energy_band'])}) "
                           f"[{_unit_label(unit or u.ct / u.s)}]")
    if log_rate:
        rate_ax.set_yscale("log")
    if log_time and time_axis == "since_t0":
        rate_ax.set_xscale("log")
    if rate_ax.get_legend_handles_labels()[1]:
        rate_ax.legend(loc="best", fontsize="small", handler_map=handlers)
    if want_hr:
        hr_ax = axes[1]
        for table in hr_tables:
            if len(table) == 0:
                continue
            mode = table.meta.get("mode") or "?"
            style = _STYLE.get(mode, _OTHER)
            x, scale, xlabel = _x_values(table, time_axis, meta)
            # Burst-analyser ratios have two-sided errors (hr_err_neg, hr_err_pos), the others one.
            yerr = (np.asarray(table["hr_err"], float) if "hr_err" in table.colnames else
                    [np.asarray(table["hr_err_neg"], float), np.asarray(table["hr_err_pos"], float)])
            hr_ax.errorbar(x, np.asarray(table["hr"], float), xerr=_errors(table, scale), yerr=yerr,
                           linestyle="none",
                           marker=style["marker"], markersize=3, color=style["color"], label=f"{mode} HR",
                           elinewidth=0.8)
        hard, soft = band_text(bands["hard_band"]), band_text(bands["soft_band"])
        hr_ax.set_ylabel(f"HR\n({hard}) / ({soft})", fontsize="small")
        hr_ax.set_xlabel(xlabel or "Time")
        if log_time and time_axis == "since_t0":
            hr_ax.set_xscale("log")
    else:
        rate_ax.set_xlabel(xlabel or "Time")
    if time_axis == "utc":
        for one in axes[:2] if want_hr else axes[:1]:
            one.xaxis_date()
        if ax is None:
            fig.autofmt_xdate()
    _title(rate_ax, meta, "Swift-XRT light curve")
    return fig, axes[:2] if want_hr else axes[:1]


# --------------------------------------------------------------------------- images

def _source_table(sources, band):
    if sources is None:
        return None
    if hasattr(sources, "colnames"):
        return sources
    if band not in sources:
        raise ValueError(f"sources: no band {band!r}; bands: {list(sources)}")
    return sources[band]


def plot_image(images, index=0, *, ax=None, sources=None, position=None, band="Total", radius=None,
               stretch="log", cmap="magma", colorbar=True):
    """Plot an XRT image on WCS axes, with the source list and a position's error circle.

    Parameters
    ----------
    images : `~xrtprods_astro.readers.images.ImageSet`
    index : int
        Which image (the order of ``images.bands``).
    ax : `astropy.visualization.wcsaxes.WCSAxes`, optional
        Axes made with the image's WCS as projection; a new figure by default.
    sources : `~xrtprods_astro.readers.sourcelist.SourceList` or Table, optional
        Sources to mark (circles, numbered by ``sno`` when present).
    position : `~xrtprods_astro.readers.positions.Position` or list of them, optional
        Drawn as 90% error circles (a colour per kind); positions not found
        are skipped.
    band : str
        The band of ``sources`` to mark when it holds several.
    radius : `~astropy.units.Quantity`, optional
        Show only this radius around the position (or the image centre). By
        default the whole image, or, with a position, a zoom of 15 times its
        error (at least 30 arcsec) so that the error circle can be seen; the
        first position found is the centre.
    stretch : {"log", "sqrt", "linear", "asinh"}
        Intensity stretch of the counts image.
    cmap : str
        matplotlib colour map.
    colorbar : bool
        Add a colour bar labelled with the image's counts.

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    ax : `astropy.visualization.wcsaxes.WCSAxes`
    """
    stretches = ("log", "sqrt", "linear", "asinh")
    if stretch not in stretches:
        raise ValueError(f"stretch: {stretch!r} is not one of {list(stretches)}")
    if not 0 <= index < len(images.images):
        raise ValueError(f"index: {index} is not an image number; the set has {len(images.images)} "
                         f"image(s), 0 to {len(images.images) - 1}")
    plt = _import_pyplot("plot_image")
    from astropy.visualization import (AsinhStretch, ImageNormalize, LinearStretch, LogStretch,
                                       MinMaxInterval, SqrtStretch)
    from astropy.visualization.wcsaxes import SphericalCircle

    wcs = images.wcs(index)
    data = np.asarray(images.images[index][0].data, float)
    if ax is None:
        fig = plt.figure(figsize=(6.4, 5.6))
        ax = fig.add_subplot(projection=wcs)
        fig.subplots_adjust(left=0.17, right=0.95)   # room for the sexagesimal Dec labels
    else:
        fig = ax.figure
        if not hasattr(ax, "get_transform") or not hasattr(ax, "coords"):
            raise ValueError("ax: give axes made with the image's WCS, "
                             "e.g. fig.add_subplot(projection=images.wcs(index))")
    norm_stretch = {"log": LogStretch(1000), "sqrt": SqrtStretch(), "linear": LinearStretch(),
                    "asinh": AsinhStretch(0.05)}[stretch]
    norm = ImageNormalize(data, interval=MinMaxInterval(), stretch=norm_stretch)
    shown = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    ax.coords[0].set_axislabel("Right ascension (ICRS)")
    ax.coords[1].set_axislabel("Declination (ICRS)")
    ax.coords[0].set_major_formatter("hh:mm:ss")
    ax.coords[1].set_major_formatter("dd:mm")
    if colorbar:
        bar = fig.colorbar(shown, ax=ax, shrink=0.85, pad=0.02)
        if stretch != "linear":
            # Evenly spaced ticks crowd at the top of a compressed scale: 1, 3, 10, 30... instead.
            top = float(np.nanmax(data)) if data.size else 0.0
            steps = [m * 10.0 ** e for e in range(0, 7) for m in (1, 3)]
            bar.set_ticks([0.0] + [v for v in steps if v <= top])
        bar.set_label(f"{images.images[index][0].header.get('BUNIT', 'counts')} / pixel")
    icrs = ax.get_transform("icrs")
    table = _source_table(sources, band)
    if table is not None and len(table):
        coords = table["coord"]
        ax.scatter(coords.ra.deg, coords.dec.deg, transform=icrs, s=300, facecolor="none",
                   edgecolor="deepskyblue", linewidth=0.8, label=f"detected sources ({band})")
        if "sno" in table.colnames:
            for row, c in zip(table, coords):
                ax.text(c.ra.deg, c.dec.deg, f"   {row['sno']}", transform=icrs, color="deepskyblue",
                        fontsize="x-small", ha="left", va="bottom", clip_on=True)
    centre = None
    positions = [] if position is None else (
        list(position) if isinstance(position, (list, tuple)) else [position])
    found = [p for p in positions if getattr(p, "found", False)]
    # The largest circle first, so that a smaller one drawn on it stays visible.
    for pos in sorted(found, key=lambda p: -p.err90.to_value(u.arcsec)):
        ax.add_patch(SphericalCircle((pos.coord.ra, pos.coord.dec), pos.err90.to(u.deg), transform=icrs,
                                     edgecolor=_POSITION_COLOURS.get(pos.kind, "white"), facecolor="none",
                                     linewidth=1.2, label=f"{pos.kind} position, 90% error "
                                                          f"({pos.err90.to_value(u.arcsec):.1f}\")"))
    if found:
        centre = found[0].coord
        if radius is None:
            radius = max(15 * max(p.err90 for p in found), 30 * u.arcsec)
    if radius is not None:
        if centre is None:
            ny, nx = data.shape
            centre = wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        x0, y0 = wcs.world_to_pixel(centre)
        half = (u.Quantity(radius) / (wcs.proj_plane_pixel_scales()[0].to(u.deg) / u.pix)).to_value(u.pix)
        ax.set_xlim(x0 - half, x0 + half)
        ax.set_ylim(y0 - half, y0 + half)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="upper right", fontsize="x-small", framealpha=0.8)
    row = images.bands[index]
    meta = dict(getattr(images, "meta", None) or {})
    if not np.ma.is_masked(row["emin"]):
        meta["target"] = f"{meta.get('target') or 'Swift-XRT image'}, {row['emin']:g}-{row['emax']:g} keV"
    _title(ax, meta, "Swift-XRT image")
    return fig, ax


# --------------------------------------------------------------------------- spectral fits

_PARAMS = {
    "nh": ("$N_\\mathrm{H}$ (intrinsic)", True),
    "gamma": ("Photon index $\\Gamma$", False),
    "kt": ("$kT$", False),
    "obs_flux": ("Observed flux\n(0.3-10 keV)", True),
    "unabs_flux": ("Unabsorbed flux\n(0.3-10 keV)", True),
}


def plot_spectral_fits(fits, params=None, *, axes=None, models=None, x="interval"):
    """Plot the automatic spectral fits: each parameter with its errors per interval and mode.

    Parameters
    ----------
    fits : `~astropy.table.Table`
        The fit table (`~xrtprods_astro.readers.spectrum.read_spectral_fits`,
        ``SpectrumResult.fits``).
    params : sequence of str, optional
        Columns to plot, from ``nh``, ``gamma``, ``kt``, ``obs_flux``,
        ``unabs_flux``; by default those of ``nh``, ``gamma``, ``kt`` and
        ``obs_flux`` that have a fitted value.
    axes : sequence of `matplotlib.axes.Axes`, optional
        One per parameter; a new figure (one panel per parameter, sharing the
        interval axis) by default.
    models : str or sequence of str, optional
        Restrict to these models (e.g. ``"PowerLaw"``).
    x : {"interval", "time"}
        One column per interval, or the time since T0 (the fitted spectrum's
        mean time, with its start-stop span, on a log axis: the view of a
        fading GRB's spectral evolution).

    Returns
    -------
    fig : `matplotlib.figure.Figure`
    axes : list of `matplotlib.axes.Axes`
        One per parameter, in the order of ``params``.
    """
    if x not in ("interval", "time"):
        raise ValueError(f"x: {x!r} is not one of ['interval', 'time']")
    ok = fits[np.asarray(fits["status"]) == "ok"] if "status" in fits.colnames else fits
    if models is not None:
        models = [models] if isinstance(models, str) else list(models)
        known = sorted(set(np.asarray(fits["model"]).tolist()) - {""})
        unknown = sorted(set(models) - set(known))
        if unknown:
            raise ValueError(f"models: {unknown} not in the fits; models: {known}")
        ok = ok[np.isin(np.asarray(ok["model"]), models)]

    def fitted(name):
        return name in ok.colnames and (~np.ma.getmaskarray(ok[name])).any()

    if params is None:
        params = [p for p in ("nh", "gamma", "kt", "obs_flux") if fitted(p)]
    else:
        params = [params] if isinstance(params, str) else list(params)
        bad = sorted(set(params) - set(_PARAMS))
        if bad:
            raise ValueError(f"params: {bad} not allowed; choose from {list(_PARAMS)}")
    if not params:
        raise ValueError("fits: no fitted value to plot (no row with status 'ok')")
    plt = _import_pyplot("plot_spectral_fits")
    if axes is None:
        fig, axes = plt.subplots(len(params), 1, sharex=True, figsize=(6, 1.9 * len(params) + 1),
                                 layout="constrained", squeeze=False)
        axes = list(axes[:, 0])
    else:
        axes = list(axes) if isinstance(axes, (list, tuple, np.ndarray)) else [axes]
        if len(axes) != len(params):
            raise ValueError(f"axes: {len(axes)} given for {len(params)} parameters {params}")
        fig = axes[0].figure

    intervals = list(dict.fromkeys(np.asarray(fits["interval"]).tolist()))
    position = {name: i for i, name in enumerate(intervals)}
    series = list(dict.fromkeys(zip(np.asarray(ok["mode"]).tolist(), np.asarray(ok["model"]).tolist())))
    model_markers = {m: mk for m, mk in zip(dict.fromkeys(s[1] for s in series), "osD^v")}
    width = 0.5 / max(len(series), 1)
    for ax, name in zip(axes, params):
        label, log_scale = _PARAMS[name]
        column = fits[name] if name in fits.colnames else None
        unit = getattr(column, "unit", None)
        for k, (mode, model) in enumerate(series):
            rows = ok[(np.asarray(ok["mode"]) == mode) & (np.asarray(ok["model"]) == model)]
            if name not in rows.colnames:
                continue
            have = ~np.ma.getmaskarray(rows[name])
            if not have.any():
                continue
            rows = rows[have]
            xerr = None
            if x == "time":
                xs = np.ma.filled(np.ma.asarray(rows["mean_time"], dtype=float), np.nan)
                xerr = np.vstack([xs - np.ma.filled(np.ma.asarray(rows["start"], dtype=float), np.nan),
                                  np.ma.filled(np.ma.asarray(rows["stop"], dtype=float), np.nan) - xs])
                xerr = np.where(np.isfinite(xerr) & (xerr > 0), xerr, 0.0)
            else:
                xs = (np.array([position[i] for i in rows["interval"]], float)
                      + (k - (len(series) - 1) / 2) * width)
            y = np.ma.filled(np.ma.asarray(rows[name], dtype=float), np.nan)
            err = []
            for suffix in ("_err_neg", "_err_pos"):
                col = f"{name}{suffix}"
                err.append(np.ma.filled(np.ma.asarray(rows[col], dtype=float), 0.0)
                           if col in rows.colnames else np.zeros(len(rows)))
            ax.errorbar(xs, y, xerr=xerr, yerr=np.vstack(err), linestyle="none", capsize=2,
                        marker=model_markers.get(model, "o"), markersize=4,
                        color=_STYLE.get(mode, _OTHER)["color"], label=f"{mode} {model}")
        if name == "nh":
            galactic = _galactic_nh(fits)
            if galactic is not None:
                ax.axhline(galactic, color="0.5", linestyle="--", linewidth=0.8,
                           label="Galactic $N_\\mathrm{H}$ (fixed)")
        unit_text = f" [{_unit_label(unit)}]" if unit not in (None, u.dimensionless_unscaled) else ""
        ax.set_ylabel(label + unit_text, fontsize="small")
        if log_scale:
            ax.set_yscale("log")
    if x == "time":
        axes[-1].set_xscale("log")
        label = "Time since T0 [s]"
        t0_text = _t0_label(fits.meta)
        axes[-1].set_xlabel(label + (f"\n({t0_text})" if t0_text else ""))
    else:
        axes[-1].set_xticks(range(len(intervals)))
        # Many intervals (snapshots) need upright-rotated names to stay readable.
        axes[-1].set_xticklabels(intervals, rotation=90 if len(intervals) > 5 else 0, fontsize="small")
        axes[-1].set_xlim(-0.6, len(intervals) - 0.4)
        axes[-1].set_xlabel("Interval")
    # The error bars are not 1 sigma: the service fits to a change of the fit statistic of
    # delta_fit_stat (2.706 by default, 90 % for one parameter); the plot says which.
    axes[-1].set_xlabel(axes[-1].get_xlabel() + f"\n({_confidence_text(fits.meta)})")
    if axes[0].get_legend_handles_labels()[1]:
        axes[0].legend(fontsize="x-small", loc="best")
    _title(axes[0], dict(fits.meta), "Swift-XRT spectral fits")
    return fig, axes


def _confidence_text(meta):
    """"errors: 90% confidence" from the fit's delta statistic (one interesting parameter)."""
    import math
    delta = meta.get("delta_fit_stat")
    try:
        delta = float(delta) if delta is not None else 2.706   # the service's default (protocol §3)
    except (TypeError, ValueError):
        return "errors: confidence level unknown"
    if not delta > 0:
        return "errors: confidence level unknown"
    # For one parameter, a change of the fit statistic by delta bounds the chi^2(1) probability
    # erf(sqrt(delta / 2)): 1.0 -> 68.3 %, 2.706 -> 90 %, 6.63 -> 99 %.
    level = 100 * math.erf(math.sqrt(delta / 2))
    return f"errors: {level:.3g}% confidence, \u0394 fit statistic = {delta:g}"


def _galactic_nh(fits):
    value = fits.meta.get("galactic_nh_unfitted")
    if value is not None:
        return u.Quantity(value, u.cm**-2).value
    if "galactic_nh" in fits.colnames:
        values = np.ma.compressed(np.ma.asarray(fits["galactic_nh"], dtype=float))
        if len(values):
            return float(values[0])
    return None
