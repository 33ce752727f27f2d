# Licensed under a 3-clause BSD style license - see LICENSE
"""Tests of plot_lightcurve: artists, labels and scales (not pixels), on the Agg backend."""
import json
import pathlib

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from xrtprods_astro.plotting import plot_lightcurve  # noqa: E402
from xrtprods_astro.readers.lightcurve import read_lightcurve_json, read_lightcurve_qdp  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture
def lc():
    with open(DATA / "lc_getLCData.json") as fh:
        return read_lightcurve_json(json.load(fh), job_id=1234)


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
    assert labels == ["WT", "PC", "PC upper limit"]
    ul = rate_ax.containers[2]
    assert ul.has_yerr and len(ul.lines[1]) >= 1   # the caplines hold the downward arrow markers
    from matplotlib.markers import CARETDOWNBASE
    assert [line.get_marker() for line in ul.lines[1]] == [CARETDOWNBASE]   # downward arrow heads
    assert ul.lines[1][0].get_ydata()[0] < lc["PCUL"]["rate"][0]   # pointing below the limit
    # WT and PC use different markers and colours.
    wt_line, pc_line = rate_ax.containers[0].lines[0], rate_ax.containers[1].lines[0]
    assert wt_line.get_marker() != pc_line.get_marker()
    assert wt_line.get_color() != pc_line.get_color()
    assert rate_ax.get_xscale() == "log" and rate_ax.get_yscale() == "log"
    assert "ct / s" in rate_ax.get_ylabel()
    assert hr_ax.get_xlabel() == "Time since T0 [s]"
    assert "HR" in hr_ax.get_ylabel()
    assert len(hr_ax.containers) == 1
    # The HR panel shares the time axis.
    assert hr_ax.get_shared_x_axes().joined(rate_ax, hr_ax)
    assert "1234" in rate_ax.get_title()


def test_modes_linear_axes_and_no_hardness(lc):
    fig, axes = plot_lightcurve(lc, modes=["PC"], log_time=False, log_rate=False, hardness=False)
    assert len(axes) == 1
    ax = axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert ax.get_legend_handles_labels()[1] == ["PC", "PC upper limit"]
    assert ax.get_xlabel() == "Time since T0 [s]"


def test_mjd_and_met_axes(lc):
    _, axes = plot_lightcurve(lc, time_axis="mjd", hardness=False)
    assert axes[0].get_xlabel() == "Time (MJD, UTC)" and axes[0].get_xscale() == "linear"
    x = axes[0].containers[1].lines[0].get_xdata()
    assert x[0] == pytest.approx(lc["PC"]["time"].mjd[0])
    _, axes = plot_lightcurve(lc, time_axis="met", hardness=False)
    assert "MET" in axes[0].get_xlabel()
    assert axes[0].containers[0].lines[0].get_xdata()[0] == pytest.approx(lc["WT"]["met"][0])


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
