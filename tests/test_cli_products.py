# Licensed under a 3-clause BSD style license - see LICENSE
"""The product commands of ``xrtprods`` (spectrum, position, image, sources) and flux light curves.

Each command runs in-process against the local service: the printed table, the ECSV/FITS files read
back with their units, the PNG written, and the labels of the figure that was saved.
"""
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from xrtprods_astro import cli
from xrtprods_astro.core import XRTProductsClass
from xrtprods_astro.demo import _lightcurve_lines
from xrtprods_astro.files import table_for_file
from xrtprods_astro.job import XRTJob
from xrtprods_astro.plotting import plot_lightcurve
from xrtprods_astro.readers.lightcurve import read_lightcurve_qdp
from xrtprods_astro.request import ProductRequest

matplotlib.use("Agg")

GRB = SkyCoord(335.6985, -7.5179, unit="deg")
# 2.4 arcmin from the GRB: observed, but with no source within the 20 arcsec position radius.
EMPTY = SkyCoord(335.74, -7.5179, unit="deg")
FLUX_QDP = (Path(__file__).parent / "data" / "real" / "annayqho__AT2022tsd" / "data" / "xray"
            / "data_xray_lcs" / "GRBs" / "sample" / "GRB060729_lc" / "flux.qdp")
PNG = b"\x89PNG\r\n\x1a\n"
FLUX_UNIT = u.erg / u.cm**2 / u.s


def run(capsys, *argv):
    """Run the command line in-process: (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def on(service, *argv):
    return ["--server", service.url, "--email", service.email, *argv]


def submit(service, coord, name, **products):
    client = XRTProductsClass(server=service.url, email=service.email, poll_interval=0.2)
    request = ProductRequest(coord, name=name, get_targs=True, get_t0=True, centroid=True, pos_err=1,
                             use_sxps=False, **products)
    job = client.submit(request)
    job.wait(timeout=120, progress=False)
    return job


@pytest.fixture(scope="module")
def full_job(xrtprods_service):
    """GRB 200416A with every product."""
    return submit(xrtprods_service, GRB, "GRB 200416A",
                  lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True},
                  spectrum=True, standard_position=True, enhanced_position=True, astrometric_position=True,
                  image=True, source_detection={"which_data": "all"})


@pytest.fixture(scope="module")
def empty_job(xrtprods_service):
    """A field without a source at the target: no positions, a source list, no image, no spectrum."""
    return submit(xrtprods_service, EMPTY, "Empty field", standard_position=True, enhanced_position=True,
                  source_detection={"which_data": "all"})


@pytest.fixture
def saved(monkeypatch):
    """The figures the command line saved, in order."""
    figures = []
    original = cli._save_plot

    def record(fig, args, err):
        figures.append(fig)
        original(fig, args, err)

    monkeypatch.setattr(cli, "_save_plot", record)
    return figures


def unit_line(out):
    """The units row printed under a table's header."""
    return out.splitlines()[1]


# ------------------------------------------------------------------------------------------ spectrum

def test_spectrum_prints_fits_with_errors_and_units_writes_and_plots(capsys, tmp_path, saved,
                                                                     xrtprods_service, full_job):
    expected = full_job.spectral_fits(cache=False)
    ecsv, png, dest = tmp_path / "fits.ecsv", tmp_path / "fits.png", tmp_path / "spectra"
    code, out, err = run(capsys, *on(xrtprods_service, "spectrum", full_job.job_id, "--output", ecsv,
                                     "--plot", png, "--dest", dest))
    assert code == cli.EXIT_OK, err
    header = out.splitlines()[0].split()
    for column in ("interval", "mode", "model", "exposure", "nh", "nh_err_neg", "nh_err_pos", "gamma",
                   "gamma_err_neg", "gamma_err_pos", "obs_flux", "cstat", "dof", "status"):
        assert column in header
    assert "kt" not in header   # no row fitted kT: the column would be empty
    assert "1 / cm2" in unit_line(out) and "erg / (s cm2)" in unit_line(out)
    assert "GRB 200416A" in err and "2 fitted" in err

    table = Table.read(ecsv)
    assert len(table) == len(expected) == 2 and list(table["mode"]) == list(expected["mode"])
    assert table["nh"].unit == u.cm**-2 and table["obs_flux"].unit == FLUX_UNIT
    assert table["exposure"].unit == u.s and table["gamma_err_pos"].unit == u.dimensionless_unscaled
    np.testing.assert_allclose(table["gamma"], expected["gamma"])
    assert table.meta["target"] == "GRB 200416A" and table.meta["galactic_nh_unfitted_unit"] == "1 / cm2"

    # --dest: one line per interval and mode naming its PHA, ARF and RMF, all on disk.
    lines = [line for line in out.splitlines() if re.match(r"^\S+ \S+: ", line)]
    assert [line.split(":")[0] for line in lines] == ["interval0 WT", "interval0 PC"]
    for line in lines:
        paths = [Path(p) for p in line.split(": ", 1)[1].split()]
        assert [p.suffix for p in paths] == [".pi", ".arf", ".rmf"]
        assert all(p.is_file() and dest in p.parents for p in paths)
        assert fits.getheader(paths[0], 1)["TELESCOP"] == "SWIFT"

    assert png.read_bytes()[:8] == PNG
    fig, = saved
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert any("N_\\mathrm{H}" in text for text in labels) and any("Photon index" in text for text in labels)
    assert fig.axes[-1].get_xlabel() == "Interval\n(errors: 90% confidence, \u0394 fit statistic = 2.706)"
    assert fig.axes[0].get_title(loc="left") == "GRB 200416A"


def test_spectrum_fits_output_and_time_axis(capsys, tmp_path, xrtprods_service, full_job, saved):
    path = tmp_path / "fits.fits"
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "spectrum", full_job.job_id, "-o", path,
                                     "--plot", tmp_path / "fits.pdf", "--x", "time"))
    assert code == cli.EXIT_OK and out == ""
    table = Table.read(path, astropy_native=True)
    assert table["unabs_flux"].unit == FLUX_UNIT and len(table) == 2
    assert saved[0].axes[-1].get_xscale() == "log" and "since T0" in saved[0].axes[-1].get_xlabel()


def test_a_product_the_job_was_not_asked_for_is_exit_code_1(capsys, xrtprods_service, empty_job):
    code, out, err = run(capsys, *on(xrtprods_service, "spectrum", empty_job.job_id))
    assert code == cli.EXIT_FAILURE and out == ""
    assert f"job {empty_job.job_id} has no spectrum (not requested; it has: standard position" in err
    for command in ("image", "lightcurve"):
        code, out, err = run(capsys, *on(xrtprods_service, command, empty_job.job_id))
        assert code == cli.EXIT_FAILURE and "(not requested" in err
    code, out, err = run(capsys, *on(xrtprods_service, "position", empty_job.job_id, "--kind", "astrometric"))
    assert code == cli.EXIT_FAILURE and "has no astrometric position (not requested" in err


# ------------------------------------------------------------------------------------------ position

def test_position_prints_every_kind_and_writes_a_table(capsys, tmp_path, xrtprods_service, full_job):
    expected = {kind: full_job.position(kind) for kind in ("standard", "enhanced", "astrometric")}
    path = tmp_path / "pos.ecsv"
    code, out, err = run(capsys, *on(xrtprods_service, "position", full_job.job_id, "--output", path))
    assert code == cli.EXIT_OK, err
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["standard", "enhanced", "astrometric"]
    for line, pos in zip(lines, expected.values()):
        assert pos.coord.to_string("hmsdms", precision=2) in line
        assert f"{pos.coord.ra.deg:.5f}, {pos.coord.dec.deg:+.5f} deg" in line
        assert f"err90 = {pos.err90.to_value(u.arcsec):.2f} arcsec" in line
    table = Table.read(path)
    assert list(table["kind"]) == list(expected) and table["found"].all()
    assert table["ra"].unit == u.deg and table["dec"].unit == u.deg and table["err90"].unit == u.arcsec
    np.testing.assert_allclose(table["dec"], [p.coord.dec.deg for p in expected.values()])
    np.testing.assert_allclose(table["err90"], [p.err90.to_value(u.arcsec) for p in expected.values()])
    back = SkyCoord(table["ra_hms"], table["dec_dms"], unit=(u.hourangle, u.deg))
    assert back.separation(SkyCoord(table["ra"], table["dec"])).max() < 0.2 * u.arcsec
    assert table.meta["job_id"] == full_job.job_id and table.meta["target"] == "GRB 200416A"

    code, out, err = run(capsys, *on(xrtprods_service, "position", full_job.job_id, "--kind", "enhanced"))
    assert code == cli.EXIT_OK and len(out.splitlines()) == 1 and out.startswith("enhanced")


def test_no_position_is_exit_code_1_with_the_reason(capsys, tmp_path, xrtprods_service, empty_job):
    path = tmp_path / "pos.fits"
    code, out, err = run(capsys, *on(xrtprods_service, "position", empty_job.job_id, "-o", path))
    assert code == cli.EXIT_FAILURE
    reason = empty_job.position("standard").reason
    assert reason and out.splitlines() == [f"standard     no position: {reason}",
                                           f"enhanced     no position: "
                                           f"{empty_job.position('enhanced').reason}"]
    assert "no standard and no enhanced position" in err
    table = Table.read(path)   # the table is written all the same, saying why
    assert not table["found"].any() and table["ra"].mask.all() and list(table["reason"])[0] == reason


# ------------------------------------------------------------------------------------------ image

def test_image_prints_bands_writes_fits_and_plots_with_overlays(capsys, tmp_path, saved,
                                                                xrtprods_service, full_job):
    dest, png = tmp_path / "images", tmp_path / "image.png"
    code, out, err = run(capsys, *on(xrtprods_service, "image", full_job.job_id, "--output", dest,
                                     "--plot", png, "--band", 2))
    assert code == cli.EXIT_OK, err
    header, units = out.splitlines()[:2]
    assert header.split()[:3] == ["number", "emin", "emax"] and "size" in header and "counts" in header
    assert "keV" in units and "arcsec" in units
    rows = out.splitlines()[3:]
    assert len(rows) == 3 and all("500x500" in row for row in rows)

    written = sorted(p.name for p in dest.iterdir())
    assert written == ["image1.fits", "image2.fits", "image3.fits", "summed_ex.fits", "summed_vignet_ex.fits"]
    with fits.open(dest / "image2.fits") as hdul:
        assert hdul[0].header["EMIN"] == pytest.approx(0.3) and hdul[0].data.shape == (500, 500)
        assert WCS(hdul[0].header).has_celestial
        # The counts printed are the image's.
        assert f"{hdul[0].data.sum():.0f}" in rows[1]

    assert png.read_bytes()[:8] == PNG
    ax = saved[0].axes[0]
    assert ax.coords[0].get_axislabel() == "Right ascension (ICRS)"
    assert ax.coords[1].get_axislabel() == "Declination (ICRS)"
    assert ax.get_title(loc="left") == "GRB 200416A, 0.3-1.5 keV"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "detected sources (Total)" in legend
    for kind in ("standard", "enhanced", "astrometric"):
        assert any(text.startswith(f"{kind} position, 90% error") for text in legend)

    code, out, err = run(capsys, *on(xrtprods_service, "image", full_job.job_id, "--output", dest))
    assert code == cli.EXIT_FAILURE and "add --overwrite" in err
    code, out, err = run(capsys, *on(xrtprods_service, "image", full_job.job_id, "--plot", png, "--band", 7))
    assert code == cli.EXIT_USAGE and "--band: 7 is not an image of this job" in err


def test_image_radius_option_sets_the_field(capsys, tmp_path, xrtprods_service, full_job, saved):
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "image", full_job.job_id,
                                     "--plot", tmp_path / "a.png", "--radius", 120))
    assert code == cli.EXIT_OK, err
    ax = saved[0].axes[0]
    scale = 2.357   # arcsec per pixel of the service's images
    assert (ax.get_xlim()[1] - ax.get_xlim()[0]) * scale == pytest.approx(240, rel=0.02)


# ------------------------------------------------------------------------------------------ sources

def test_sources_print_write_ra_dec_degrees_and_plot_on_the_image(capsys, tmp_path, saved,
                                                                  xrtprods_service, full_job):
    lists = full_job.source_list()
    total = lists["Total"]
    for path in (tmp_path / "src.ecsv", tmp_path / "src.fits"):
        code, out, err = run(capsys, *on(xrtprods_service, "sources", full_job.job_id, "-o", path,
                                         "--plot", tmp_path / "src.png", "--overwrite"))
        assert code == cli.EXIT_OK, err
        table = Table.read(path)
        assert len(table) == len(total) > 1 and set(table["band"]) == {"Total"}
        # The SkyCoord column goes to files as the service's ra/dec in degrees, not twice.
        assert not [c for c in table.colnames if c.startswith("coord")]
        assert table["ra"].unit == u.deg and table["err90"].unit == u.arcsec
        assert table["rate"].unit == u.ct / u.s
        np.testing.assert_allclose(table["ra"], total["coord"].ra.deg)
    header = out.splitlines()[0].split()
    assert header == ["band", "sno", "ra", "dec", "err90", "C", "rate", "rate_err_neg", "rate_err_pos",
                      "snr", "detflag"]
    assert "deg" in unit_line(out) and "ct / s" in unit_line(out)
    assert len(out.splitlines()) == 3 + len(total)

    ax = saved[-1].axes[0]
    assert ax.coords[0].get_axislabel() == "Right ascension (ICRS)"
    # Zoomed out enough to show every source, not only the position's error circle.
    x, y = ax.wcs.world_to_pixel(total["coord"])
    assert ax.get_xlim()[0] < x.min() and x.max() < ax.get_xlim()[1]
    assert ax.get_ylim()[0] < y.min() and y.max() < ax.get_ylim()[1]

    code, out, err = run(capsys, *on(xrtprods_service, "sources", full_job.job_id, "--band", "Hard"))
    assert code == cli.EXIT_USAGE and "--band: no band 'Hard' in this source list; bands: Total" in err


def test_sources_of_a_job_without_image_are_drawn_on_sky_axes(capsys, tmp_path, xrtprods_service,
                                                              empty_job, saved):
    code, out, err = run(capsys, *on(xrtprods_service, "sources", empty_job.job_id, "--band", "Total",
                                     "--plot", tmp_path / "sky.png"))
    assert code == cli.EXIT_OK, err
    ax = saved[0].axes[0]
    assert ax.get_xlabel() == "Right ascension (ICRS) [deg]" and ax.get_ylabel() == "Declination (ICRS) [deg]"
    assert ax.xaxis_inverted() and ax.get_title(loc="left") == "Empty field"
    n = len(empty_job.source_list()["Total"])
    assert n > 0 and len(ax.collections[0].get_offsets()) == n


# ------------------------------------------------------------------------------------------ options

def test_bad_output_and_plot_names_are_usage_errors_before_any_call(capsys):
    # No --server: nothing could be asked, so the check runs first.
    for command in ("lightcurve", "spectrum", "sources", "position"):
        code, out, err = run(capsys, command, "1", "--output", "x.txt")
        assert code == cli.EXIT_USAGE and "--output: 'x.txt' must end in .ecsv or .fits" in err
    for command in ("lightcurve", "spectrum", "sources", "image"):
        code, out, err = run(capsys, command, "1", "--plot", "x.docx")
        assert code == cli.EXIT_USAGE and "--plot: 'x.docx' must end in one of" in err and ".png" in err


def test_outputs_in_missing_or_unwritable_folders_are_usage_errors_before_any_call(capsys, tmp_path):
    # Issue 20 item 17: each file and folder option is checked before the service is asked anything
    # (no --server here), with the option named, and no folder is made on the way.
    missing = tmp_path / "results"
    cases = [("lightcurve", "--output", missing / "grb.ecsv"), ("lightcurve", "--plot", missing / "grb.png"),
             ("sources", "--output", missing / "src.fits"), ("position", "--output", missing / "pos.ecsv"),
             ("spectrum", "--output", missing / "fits.ecsv"), ("spectrum", "--dest", "/proc/nope/spec"),
             ("image", "--output", "/proc/nope/images"), ("download", "--output", "/proc/nope/x")]
    for command, option, path in cases:
        code, out, err = run(capsys, command, "1", option, path)
        assert code == cli.EXIT_USAGE, (command, option, err)
        assert f"{option}: cannot write" in err and "Traceback" not in err
    assert not missing.exists()


def test_an_existing_output_needs_overwrite(capsys, tmp_path, xrtprods_service, full_job):
    path = tmp_path / "lc.ecsv"
    path.write_text("keep me")
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "lightcurve", full_job.job_id, "-o", path))
    assert code == cli.EXIT_FAILURE and "exists; add --overwrite" in err and path.read_text() == "keep me"
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "lightcurve", full_job.job_id, "-o", path,
                                     "--overwrite"))
    assert code == cli.EXIT_OK and len(Table.read(path)) > 0


def test_global_options_after_the_command_and_any_case_dataset(capsys, tmp_path, xrtprods_service,
                                                               full_job):
    # Issue 20 item 19: "-q" and "--server" after the command are the global options; "pchr" is PCHR.
    path = tmp_path / "hr.ecsv"
    code, out, err = run(capsys, "lightcurve", full_job.job_id, "--dataset", "pchr", "--output", path,
                         "-q", "--server", xrtprods_service.url, "--email", xrtprods_service.email)
    assert code == cli.EXIT_OK, err
    assert out == "" and len(Table.read(path)) > 0
    # A command's own option keeps its meaning: wait --timeout is the wait's limit.
    args = cli.build_parser().parse_args(["--timeout", "7", "wait", "1", "--timeout", "5", "-v"])
    assert (args.http_timeout, args.wait_timeout, args.verbose) == (7.0, 5.0, 1)


def test_position_of_every_kind_succeeds_when_one_is_found(capsys, monkeypatch, xrtprods_service,
                                                           full_job, empty_job):
    # Issue 20 item 19: the positions found are the result; a kind without one is a warning.
    # With --kind naming the missing one, it is still a failure (a script's cue to fall back).
    from xrtprods_astro.job import XRTJob
    none = empty_job.position("enhanced")
    real = XRTJob.position
    monkeypatch.setattr(XRTJob, "position",
                        lambda self, kind, **kw: none if kind == "enhanced" else real(self, kind, **kw))
    code, out, err = run(capsys, *on(xrtprods_service, "position", full_job.job_id))
    assert code == cli.EXIT_OK, err
    assert [line.split()[0] for line in out.splitlines()] == ["standard", "enhanced", "astrometric"]
    assert "warning: job" in err and "no enhanced position" in err
    code, out, err = run(capsys, *on(xrtprods_service, "position", full_job.job_id, "--kind", "enhanced"))
    assert code == cli.EXIT_FAILURE and "error: job" in err


# ------------------------------------------------------------------------------------------ flux

@pytest.fixture
def flux_lc():
    return read_lightcurve_qdp(FLUX_QDP)


def test_lightcurve_command_on_a_flux_light_curve(capsys, tmp_path, monkeypatch, xrtprods_service, full_job,
                                                  flux_lc, saved):
    # The service answers count rates only; a flux light curve (as UKSSDC's GRB pages give) stands in.
    monkeypatch.setattr(XRTJob, "lightcurve", lambda self, **kwargs: flux_lc)
    path = tmp_path / "flux.fits"
    code, out, err = run(capsys, *on(xrtprods_service, "lightcurve", full_job.job_id, "-o", path,
                                     "--plot", tmp_path / "flux.png"))
    assert code == cli.EXIT_OK, err
    assert "flux" in out.splitlines()[0].split() and "erg / (s cm2)" in unit_line(out)
    table = Table.read(path, astropy_native=True)
    expected = flux_lc.combined("flux")
    assert len(table) == len(expected) == sum(len(flux_lc[n]) for n in ("WT", "PC", "PCUL"))
    assert table["flux"].unit == FLUX_UNIT and table["flux_err_neg"].unit == FLUX_UNIT
    assert table["upper_limit"].sum() == len(flux_lc["PCUL"])
    assert set(table["mode"]) == {"WT", "PC"}
    assert saved[0].axes[0].get_ylabel().startswith("Flux (0.3-10 keV) [erg")


def test_plot_lightcurve_draws_fluxes_and_their_upper_limits(flux_lc):
    fig, (ax,) = plot_lightcurve(flux_lc)
    assert ax.get_ylabel() == "Flux (0.3-10 keV) [erg s$^{-1}$ cm$^{-2}$]"
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["WT", "PC", "PC upper limit (3σ)"]
    drawn = [c for c in ax.containers]
    np.testing.assert_allclose(drawn[0].lines[0].get_ydata(), flux_lc["WT"]["flux"])
    np.testing.assert_allclose(drawn[2].lines[0].get_ydata(), flux_lc["PCUL"]["flux"])
    matplotlib.pyplot.close(fig)


def test_demo_summary_lines_of_a_flux_light_curve(flux_lc):
    lines = _lightcurve_lines(flux_lc)
    assert [line.split()[0] for line in lines] == ["WT", "PC", "PCUL"]
    assert "erg" in lines[0] and "highest limit" in lines[2]


# ------------------------------------------------------------------------------------------ files

def test_table_for_file_writes_sky_coordinates_as_ra_dec_degrees(tmp_path):
    coord = SkyCoord([10.0, 20.0] * u.deg, [-5.0, 5.0] * u.deg).galactic
    plain = table_for_file(Table({"name": ["a", "b"], "where": coord}))
    assert plain.colnames == ["name", "ra", "dec"] and plain["ra"].unit == u.deg
    np.testing.assert_allclose(plain["ra"], [10.0, 20.0])
    np.testing.assert_allclose(plain["dec"], [-5.0, 5.0])
    other = table_for_file(Table({"ra": [1.0, 2.0] * u.deg, "dec": [0.0, 0.0] * u.deg, "where": coord}))
    assert other.colnames == ["ra", "dec", "where_ra", "where_dec"]
    for fmt, name in (("fits", "t.fits"), ("ascii.ecsv", "t.ecsv")):
        other.write(tmp_path / name, format=fmt)
        back = Table.read(tmp_path / name)
        assert back.colnames == other.colnames and back["where_dec"].unit == u.deg


def test_quiet_prints_the_result_only_when_no_file_was_asked_for(capsys, tmp_path,
                                                                 xrtprods_service, full_job):
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "position", full_job.job_id))
    assert code == cli.EXIT_OK and len(out.splitlines()) == 3 and err == ""
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "position", full_job.job_id,
                                     "-o", tmp_path / "p.ecsv"))
    assert code == cli.EXIT_OK and out == "" and (tmp_path / "p.ecsv").is_file()
    code, out, err = run(capsys, *on(xrtprods_service, "-q", "spectrum", full_job.job_id))
    assert code == cli.EXIT_OK and out.split()[:3] == ["interval", "mode", "model"] and err == ""


@pytest.mark.parametrize("command", ["spectrum", "position", "image", "sources"])
def test_product_command_help_says_what_and_shows_an_example(capsys, command):
    code, out, err = run(capsys, command, "--help")
    assert code == 0 and f"xrtprods {command} 123456" in out and "--output" in out
    code, out, err = run(capsys, "--help")
    assert command in out


def test_spectrum_without_a_spectrum_or_a_fit_is_exit_code_1(capsys, tmp_path, monkeypatch,
                                                             xrtprods_service, full_job):
    from xrtprods_astro.readers.spectrum import read_spectral_fits
    answers = iter([{"T0": 608713541.952, "NoSpectrum": 1},
                    {"T0": 608713541.952, "rnames": ["interval0"], "interval0": {"NOSPEC": 1}}])
    monkeypatch.setattr(XRTJob, "spectral_fits", lambda self, **kw: read_spectral_fits(next(answers)))
    code, out, err = run(capsys, *on(xrtprods_service, "spectrum", full_job.job_id))
    assert code == cli.EXIT_FAILURE and out == "" and "could make no spectrum (NoSpectrum)" in err
    path = tmp_path / "fits.ecsv"
    code, out, err = run(capsys, *on(xrtprods_service, "spectrum", full_job.job_id, "-o", path,
                                     "--plot", tmp_path / "f.png"))
    assert code == cli.EXIT_FAILURE
    assert "no fit succeeded (status: no spectrum); nothing plotted" in err
    assert "no spectrum" in out and not (tmp_path / "f.png").exists()
    assert list(Table.read(path)["status"]) == ["no spectrum"]   # written all the same, saying why
