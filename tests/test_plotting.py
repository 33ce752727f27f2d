# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of plot_lightcurve: artists, labels and scales (not pixels), on the Agg backend."""
import json
import pathlib

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from astropy import units as u  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.markers import CARETDOWNBASE  # noqa: E402

from xrtprods_astro.plotting import plot_image, plot_lightcurve, plot_spectral_fits  # noqa: E402
from xrtprods_astro.readers.lightcurve import read_lightcurve_json, read_lightcurve_qdp  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def lc():
    with open(DATA / "lc_getLCData.json") as fh:
        lc = read_lightcurve_json(json.load(fh), job_id=1234)
    lc.meta["target"] = "GRB 200416A"
    return lc


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_rates_upper_limits_and_hr_panel(lc):
    fig, axes = plot_lightcurve(lc)
    assert len(axes) == 2 and axes[0].figure is fig
    rate_ax, hr_ax = axes
    # WT and PC rates plus the PC upper limits: three error-bar containers.
    assert len(rate_ax.containers) == 3
    labels = rate_ax.get_legend_handles_labels()[1]
    assert labels == ["WT", "PC", "PC upper limit (3σ)"]
    ul = rate_ax.containers[2]
    assert ul.has_yerr and len(ul.lines[1]) >= 1   # the caplines hold the downward arrow markers
    assert [line.get_marker() for line in ul.lines[1]] == [CARETDOWNBASE]   # downward arrow heads
    assert ul.lines[1][0].get_ydata()[0] < lc["PCUL"]["rate"][0]   # pointing below the limit
    # The legend shows the limits as an arrow too, not as an error-bar cross.
    legend = rate_ax.get_legend()
    ul_handle = legend.legend_handles[2]
    assert isinstance(ul_handle, Line2D) and ul_handle.get_marker() == CARETDOWNBASE
    assert not isinstance(legend.legend_handles[0], Line2D) or legend.legend_handles[0].get_marker() != \
        CARETDOWNBASE
    # WT and PC use different markers and colours.
    wt_line, pc_line = rate_ax.containers[0].lines[0], rate_ax.containers[1].lines[0]
    assert wt_line.get_marker() != pc_line.get_marker()
    assert wt_line.get_color() != pc_line.get_color()
    assert rate_ax.get_xscale() == "log" and rate_ax.get_yscale() == "log"
    # Energy bands in the labels: the UKSSDC defaults when the request is not known.
    assert "Count rate (0.3-10 keV)" in rate_ax.get_ylabel() and "ct" in rate_ax.get_ylabel()
    assert "(1.5-10 keV) / (0.3-1.5 keV)" in hr_ax.get_ylabel()
    # T0 in UTC and in MET under the time axis.
    xlabel = hr_ax.get_xlabel()
    assert xlabel.startswith("Time since T0 [s]")
    assert "T0 = 2020-04-16 07:05:17.171 UTC" in xlabel and f"MET {lc.meta['t0_met']:.3f} s" in xlabel
    assert len(hr_ax.containers) == 1
    # The HR panel shares the time axis.
    assert hr_ax.get_shared_x_axes().joined(rate_ax, hr_ax)
    # The target is the title; the job id is small print in the corner.
    assert rate_ax.get_title(loc="left") == "GRB 200416A"
    corner = [t.get_text() for t in rate_ax.texts]
    assert corner == ["Swift-XRT job 1234"]


def test_bands_from_the_meta(lc):
    lc.meta.update(soft_band=[0.5, 2] * u.keV, hard_band=[2, 10] * u.keV, energy_band=[0.5, 10] * u.keV)
    _, (rate_ax, hr_ax) = plot_lightcurve(lc)
    assert "(0.5-10 keV)" in rate_ax.get_ylabel()
    assert "(2-10 keV) / (0.5-2 keV)" in hr_ax.get_ylabel()


def test_modes_linear_axes_and_no_hardness(lc):
    fig, axes = plot_lightcurve(lc, modes=["PC"], log_time=False, log_rate=False, hardness=False)
    assert len(axes) == 1
    ax = axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert ax.get_legend_handles_labels()[1] == ["PC", "PC upper limit (3σ)"]
    assert ax.get_xlabel().startswith("Time since T0 [s]")


def test_mjd_utc_and_met_axes(lc):
    _, axes = plot_lightcurve(lc, time_axis="mjd", hardness=False)
    assert axes[0].get_xlabel() == "Time [MJD (UTC)]" and axes[0].get_xscale() == "linear"
    x = axes[0].containers[1].lines[0].get_xdata()
    assert x[0] == pytest.approx(lc["PC"]["time"].mjd[0])
    _, axes = plot_lightcurve(lc, time_axis="met", hardness=False)
    assert "MET" in axes[0].get_xlabel()
    assert axes[0].containers[0].lines[0].get_xdata()[0] == pytest.approx(lc["WT"]["met"][0])
    _, axes = plot_lightcurve(lc, time_axis="utc")
    assert axes[1].get_xlabel() == "Date (UTC)" and axes[0].get_xscale() == "linear"
    x = axes[0].containers[1].lines[0].get_xdata()
    assert x[0] == pytest.approx(mdates.date2num(lc["PC"]["time"][0].utc.datetime))
    assert isinstance(axes[1].xaxis.get_major_formatter(), mdates.AutoDateFormatter)


def test_given_axes_and_lightcurve_plot_method(lc):
    fig, ax = plt.subplots()
    fig2, axes = lc.plot(ax=ax)
    assert fig2 is fig and axes == [ax]   # one axes given: no HR panel
    fig, (a1, a2) = plt.subplots(2, 1)
    _, axes = lc.plot(ax=(a1, a2))
    assert axes == [a1, a2] and len(a2.containers) == 1


def test_mjd_only_light_curve_and_qdp_input():
    qdp_lc = read_lightcurve_qdp(DATA / "lc_curve_mjd.qdp")
    with pytest.raises(ValueError, match="needs T0"):
        plot_lightcurve(qdp_lc)
    _, axes = plot_lightcurve(qdp_lc, time_axis="mjd")
    assert len(axes[0].containers) == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"time_axis": "days"}, "time_axis"),
    ({"modes": ["XX"]}, "modes"),
])
def test_bad_arguments(lc, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_lightcurve(lc, **kwargs)


def test_empty_light_curve_plots_without_legend():
    lc = read_lightcurve_json({"Datasets": ["PC"], "T0": 6e8, "PCData": {
        "columns": ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg"], "data": []}})
    fig, axes = plot_lightcurve(lc)
    assert len(axes) == 1 and axes[0].get_legend() is None and not axes[0].containers


# --------------------------------------------------------------------------- through the service

@pytest.fixture(scope="module")
def products(xrtprods_service, tmp_path_factory):
    """One job with a light curve asked with its own bands, a position, images and source lists."""
    from xrtprods_astro.core import XRTProductsClass
    client = XRTProductsClass(server=xrtprods_service.url, email=xrtprods_service.email, poll_interval=0.05)
    client.cache_location = tmp_path_factory.mktemp("cache")
    job = client.submit("GRB 200416A", resolver="service",
                        lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True,
                                    "soft_lo": 0.5, "soft_hi": 2, "hard_lo": 2, "hard_hi": 10},
                        standard_position=True, image=True, source_detection={"which_data": "all"})
    job.wait(timeout=120)
    images = job.images(tmp_path_factory.mktemp("img"))
    return {"lc": job.lightcurve(), "images": images, "position": job.position("standard"),
            "sources": job.source_list(), "job": job}


def test_bands_from_the_request(products):
    lc = products["lc"]
    # The job names its products after the request's source, for titles and reprs.
    assert lc.meta["target"] == "GRB 200416A"
    assert products["images"].meta == {"job_id": products["job"].job_id, "target": "GRB 200416A"}
    assert products["sources"]["Total"].meta["target"] == "GRB 200416A"
    assert lc.meta["soft_band"] == (0.5, 2.0) and lc.meta["energy_band"] == (0.3, 10.0)
    _, (rate_ax, hr_ax) = lc.plot()
    assert "(0.3-10 keV)" in rate_ax.get_ylabel()
    assert "(2-10 keV) / (0.5-2 keV)" in hr_ax.get_ylabel()
    assert lc.to_timeseries(kind="hr").meta["soft"] == "0.5-2 keV"


def test_image_with_sources_and_error_circle(products):
    from astropy.visualization.wcsaxes import SphericalCircle, WCSAxes
    from matplotlib.collections import PathCollection
    from matplotlib.image import AxesImage
    images, pos, sources = products["images"], products["position"], products["sources"]
    fig, ax = plot_image(images, 0, sources=sources, position=pos)
    assert isinstance(ax, WCSAxes) and ax.figure is fig
    assert [type(im) for im in ax.images] == [AxesImage]
    assert ax.coords[0].get_axislabel() == "Right ascension (ICRS)"
    assert ax.coords[1].get_axislabel() == "Declination (ICRS)"
    scatter = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == len(sources["Total"])
    circles = [p for p in ax.patches if isinstance(p, SphericalCircle)]
    assert len(circles) == 1 and "90% error" in circles[0].get_label()
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "detected sources (Total)" and "standard position" in labels[1]
    # Zoomed on the position (15 x err90, at least 30 arcsec) so the circle can be seen.
    scale = images.wcs(0).proj_plane_pixel_scales()[0].to_value(u.arcsec)
    width = np.diff(ax.get_xlim())[0] * scale
    assert width == pytest.approx(2 * max(15 * pos.err90.to_value(u.arcsec), 30), rel=1e-6)
    assert ax.get_title(loc="left") == "GRB 200416A, 0.3-10 keV"
    assert [t.get_text() for t in ax.texts if "job" in t.get_text()] == [
        f"Swift-XRT job {products['job'].job_id}"]
    assert fig.axes[-1].get_ylabel() == "counts / pixel"   # the colour bar


def test_image_whole_field_and_errors(products):
    images = products["images"]
    fig, ax = images.plot(1, stretch="linear", colorbar=False)
    ny, nx = images[1][0].data.shape
    assert ax.get_xlim() == pytest.approx((-0.5, nx - 0.5)) and len(fig.axes) == 1
    assert not ax.collections and not ax.patches
    with pytest.raises(ValueError, match="stretch"):
        images.plot(stretch="cubic")
    with pytest.raises(ValueError, match="index"):
        images.plot(7)
    with pytest.raises(ValueError, match="ax: give axes made with the image's WCS"):
        images.plot(ax=plt.subplots()[1])
    with pytest.raises(ValueError, match="no band 'Soft2'"):
        images.plot(sources=products["sources"], band="Soft2")


# --------------------------------------------------------------------------- spectral fits

@pytest.fixture
def fits():
    from xrtprods_astro.readers.spectrum import read_spectral_fits
    table = read_spectral_fits(DATA / "spec_fits_mixed.json", job_id=77)
    table.meta["target"] = "GK Per"
    return table


def test_spectral_fit_summary(fits):
    from xrtprods_astro.core import SpectrumResult
    fig, axes = SpectrumResult(fits, {}, None).plot()
    names = ["nh", "gamma", "kt", "obs_flux"]
    assert len(axes) == len(names) and all(a.figure is fig for a in axes)
    nh_ax, gamma_ax, kt_ax, flux_ax = axes
    assert "N_\\mathrm{H}" in nh_ax.get_ylabel() and "cm" in nh_ax.get_ylabel()
    assert "Gamma" in gamma_ax.get_ylabel() and "keV" in kt_ax.get_ylabel()
    assert "0.3-10 keV" in flux_ax.get_ylabel() and "erg" in flux_ax.get_ylabel()
    assert nh_ax.get_yscale() == "log" and gamma_ax.get_yscale() == "linear"
    # Only the "ok" fits: PowerLaw and APEC of interval "early" (PC), errors on every point.
    labels = sorted(nh_ax.get_legend_handles_labels()[1])
    assert labels == ["Galactic $N_\\mathrm{H}$ (fixed)", "PC APEC", "PC PowerLaw"]
    gamma = gamma_ax.containers
    assert len(gamma) == 1 and gamma[0].has_yerr      # Gamma belongs to the power law only
    assert gamma[0].lines[0].get_ydata()[0] == pytest.approx(2.2)
    seg = gamma[0].lines[2][0].get_segments()[0]
    assert seg[0][1] == pytest.approx(2.2 - 0.28) and seg[1][1] == pytest.approx(2.2 + 0.3)
    assert [t.get_text() for t in flux_ax.get_xticklabels()] == ["early", "late", "quiet"]
    assert nh_ax.get_title(loc="left") == "GK Per"


def test_spectral_fit_time_axis_and_errors(fits):
    fig, axes = plot_spectral_fits(fits, ["gamma"], x="time")
    assert len(axes) == 1 and axes[0].get_xscale() == "log"
    assert axes[0].get_xlabel().startswith("Time since T0 [s]") and "MET" in axes[0].get_xlabel()
    assert axes[0].containers[0].lines[0].get_xdata()[0] == pytest.approx(2480.5)
    _, axes = plot_spectral_fits(fits, models="APEC")
    assert [a.get_ylabel().split(" [")[0] for a in axes][:1] == ["$N_\\mathrm{H}$ (intrinsic)"]
    with pytest.raises(ValueError, match="params"):
        plot_spectral_fits(fits, ["norm"])
    with pytest.raises(ValueError, match="models"):
        plot_spectral_fits(fits, models="Blackbody")
    with pytest.raises(ValueError, match="x: "):
        plot_spectral_fits(fits, x="mjd")
    with pytest.raises(ValueError, match="no fitted value"):
        plot_spectral_fits(fits[fits["status"] != "ok"])


def test_spectral_fit_plot_says_the_errors_are_90_percent(fits):
    # Issue 20 item 20: the service's errors are for a change of the fit statistic of 2.706,
    # 90 % for one parameter, not 1 sigma; the plot says so (for either x axis).
    fits.meta["delta_fit_stat"] = 2.706
    for x in ("interval", "time"):
        _, axes = plot_spectral_fits(fits, ["gamma"], x=x)
        assert "errors: 90% confidence" in axes[-1].get_xlabel()
    fits.meta["delta_fit_stat"] = 1.0   # the level follows the answer's DeltaFitStat
    assert "errors: 68.3% confidence" in plot_spectral_fits(fits, ["gamma"])[1][-1].get_xlabel()


def test_matplotlib_missing_names_the_extra(lc, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"xrtprods_astro\[plot\]"):
        plot_lightcurve(lc)


def test_image_with_several_positions(products):
    from astropy.visualization.wcsaxes import SphericalCircle
    from xrtprods_astro.readers.positions import Position
    missing = Position(kind="enhanced", found=False, reason="no UVOT stars")
    _, ax = products["images"].plot(position=[products["position"], missing])
    circles = [p for p in ax.patches if isinstance(p, SphericalCircle)]
    assert len(circles) == 1 and circles[0].get_label().startswith("standard position")


def _monitoring(lc, times):
    """The PC light curve with its points moved to ``times`` (s since T0), the only dataset."""
    pc = lc["PC"][[i % len(lc["PC"]) for i in range(len(times))]]
    pc["t_since_t0"] = times * pc["t_since_t0"].unit
    pc["time_err_pos"] = pc["time_err_neg"] = 50 * pc["time_err_pos"].unit
    return type(lc)({"PC": pc}, meta=lc.meta)


def test_time_axis_scale_is_chosen_from_the_data(lc):
    # Issue 20 item 20: a source monitored once a day from T0 = its first snapshot was drawn on a
    # log axis, six of seven points squashed at the right; a fading GRB keeps its log axis.
    _, axes = plot_lightcurve(lc)
    assert axes[0].get_xscale() == "log" and axes[1].get_xscale() == "log"
    daily = _monitoring(lc, np.array([60.0] + [d * 86400.0 for d in range(1, 7)]))
    _, axes = plot_lightcurve(daily)
    assert axes[0].get_xscale() == "linear"
    _, axes = plot_lightcurve(daily, log_time=True)   # asked for, it is given
    assert axes[0].get_xscale() == "log"
    fading = _monitoring(lc, np.geomspace(100, 1e6, 12))
    assert plot_lightcurve(fading)[1][0].get_xscale() == "log"
    before_t0 = _monitoring(lc, np.array([-300.0, 100.0, 1e3, 1e4, 1e5]))
    assert plot_lightcurve(before_t0)[1][0].get_xscale() == "linear"
