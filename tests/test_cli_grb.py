# Licensed under a 3-clause BSD style license - see LICENSE
"""``xrtprods grb ...``: the GRB repository's commands (xrtprods_astro/cli_grb.py), in-process against
the local service: printed tables, files read back with their units, exit codes and messages."""
import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from xrtprods_astro import cli

FLUX_UNIT = u.erg / u.cm**2 / u.s
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from xrtprods_astro.server.app import LocalService
    service = LocalService(job_duration=0, data_dir=tmp_path_factory.mktemp("cligrb"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def run(capsys, svc):
    def call(*argv):
        code = cli.main(["--server", svc.url, "grb", *[str(a) for a in argv]])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return call


def test_lightcurve_prints_and_writes_rates_with_times(run, tmp_path):
    path = tmp_path / "lc.ecsv"
    code, out, err = run("lightcurve", "GRB 060729", "--output", path)
    assert code == 0, err
    assert "GRB 060729 (targetID 221755)" in err and f"Wrote {path}" in err
    assert "ct / s" in out.splitlines()[1]
    table = Table.read(path)
    assert table["rate"].unit == u.ct / u.s and isinstance(table["time"], Time)
    assert set(table["dataset"]) == {"WT_incbad", "PC_incbad", "PCUL_incbad"}
    assert np.all(np.diff(table["t_since_t0"]) >= 0)


def test_lightcurve_flux_and_plot(run, tmp_path):
    pytest.importorskip("matplotlib")
    path, png = tmp_path / "flux.fits", tmp_path / "flux.png"
    code, out, err = run("lightcurve", "060729", "--flux", "-o", path, "--plot", png)
    assert code == 0, err
    table = Table.read(path)
    assert table["flux"].unit == FLUX_UNIT and "rate" not in table.colnames
    assert png.read_bytes().startswith(PNG)


def test_lightcurve_output_exists_needs_overwrite(run, tmp_path):
    path = tmp_path / "lc.ecsv"
    path.write_text("keep")
    code, out, err = run("lightcurve", "GRB 060729", "-o", path)
    assert code == cli.EXIT_FAILURE and "--overwrite" in err and path.read_text() == "keep"
    assert run("lightcurve", "GRB 060729", "-o", path, "--overwrite")[0] == 0


def test_burst_lists_datasets_and_writes_each(run, tmp_path):
    dest = tmp_path / "burst"
    code, out, err = run("burst", "GRB 060729", "--bat-binning", "snr4", "--bands", "xrtband,density",
                         "--output", dest)
    assert code == 0, err
    assert "T0 (the BAT trigger) 2006-07-29T19:12:28.888 UTC" in err
    assert "BAT_SNR4_XRTBand" in out and "erg / (s cm2)" in out and "Jy" in out
    written = {p.name for p in dest.iterdir()}
    assert {"BAT_SNR4_XRTBand.ecsv", "XRT_Density_PC_incbad.ecsv", "BAT_HR.ecsv"} <= written
    assert not any("BATBand" in n or "SNR5" in n for n in written)
    table = Table.read(dest / "XRT_Density_PC_incbad.ecsv")
    assert table["flux_density"].unit == u.Jy and isinstance(table["time"], Time)
    # Again without --overwrite: nothing replaced, exit 1 naming the option.
    code, out, err = run("burst", "GRB 060729", "--bat-binning", "snr4", "--bands", "xrtband", "density",
                         "--output", dest)
    assert code == cli.EXIT_FAILURE and "--overwrite" in err


def test_burst_one_dataset_as_fits_in_mjy(run, tmp_path):
    path = tmp_path / "bat.fits"
    code, out, err = run("burst", "221755", "--instruments", "bat", "--bat-binning", "timedel10",
                         "--bands", "density", "--density-unit", "mJy",
                         "--dataset", "BAT_TimeBins_10s_Density", "-o", path)
    assert code == 0, err
    table = Table.read(path)
    assert table["flux_density"].unit == u.mJy and table["bad_bin"].dtype == bool
    assert "rate" not in " ".join(table.colnames)


@pytest.mark.parametrize("argv, word", [
    (["burst", "GRB 060729", "--bands", "radio"], "bands"),
    (["burst", "GRB 060729", "--bat-binning", "snr3"], "bat_binning"),
    (["burst", "GRB 060729", "--dataset", "X", "-o", "x.txt"], "--output"),
    (["lightcurve", "GRB 990101"], "GRB 990101"),
    (["lightcurve", "Swift J1644+57"], "not a GRB name"),
    (["position", "GRB 080319B", "--kind", "astrometric"], "invalid choice")])
def test_usage_errors_are_exit_2_and_say_what(run, argv, word):
    code, out, err = run(*argv)
    assert code == cli.EXIT_USAGE and word in err


def test_burst_unknown_dataset_names_the_datasets(run):
    code, out, err = run("burst", "GRB 060729", "--instruments", "xrt", "--bands", "xrtband",
                         "--dataset", "XRT_Flux_PC")
    assert code == cli.EXIT_USAGE and "XRT_XRTBand_PC_incbad" in err


def test_position_prints_and_writes(run, tmp_path):
    path = tmp_path / "pos.ecsv"
    code, out, err = run("position", "GRB 080319B", "-o", path)
    assert code == 0, err
    assert out.splitlines()[0].startswith("best") and "sper       no position" in out
    table = Table.read(path)
    assert table["ra"].unit == u.deg and table["err90"].unit == u.arcsec
    assert list(table["kind"]) == ["best", "enhanced", "standard", "sper", "onboard"]
    assert table["found"].tolist() == [True, True, True, False, True]


def test_position_none_found_is_exit_1(run):
    code, out, err = run("position", "GRB 080319B", "--kind", "sper")
    assert code == cli.EXIT_FAILURE and "no sper position" in err


def test_spectrum_prints_fits_writes_and_fetches(run, tmp_path):
    path = tmp_path / "fits.ecsv"
    code, out, err = run("spectrum", "GRB 060729", "-o", path, "--dest", tmp_path / "spec")
    assert code == 0, err
    assert "interval0" in out and "late_time" in out and "erg / (s cm2)" in out
    table = Table.read(path)
    assert table["gamma_frozen"].dtype == bool
    assert any(line.startswith("late_time PC:") and line.endswith(".rmf") for line in out.splitlines())


def test_quiet_keeps_stdout_for_results_only(svc, capsys, tmp_path):
    # -q with --output: the table went to a file, so nothing on stdout and no chatter on stderr.
    path = str(tmp_path / "q.ecsv")
    code = cli.main(["--server", svc.url, "-q", "grb", "lightcurve", "GRB 060729", "-o", path])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and "Light curve of" not in captured.err
    assert (tmp_path / "q.ecsv").is_file()


def test_global_options_after_a_grb_command_as_after_a_top_level_one(svc, capsys, tmp_path):
    # -q and --server at the end of the line, after the nested command, as `lightcurve 1 -q` allows.
    path = str(tmp_path / "q.ecsv")
    code = cli.main(["grb", "lightcurve", "GRB 060729", "-o", path, "-q", "--server", svc.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == "" and "Light curve of" not in captured.err
    assert (tmp_path / "q.ecsv").is_file()
    # Another grb command: -q after it leaves the rebin ID alone on stdout, nothing on stderr.
    code = cli.main(["grb", "rebin", "GRB 060729", "--binning", "obsid", "--server", svc.url, "-q"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.strip().isdigit() and captured.err == ""


def test_grb_without_a_product_prints_help(run):
    code, out, err = run()
    assert code == cli.EXIT_USAGE and "lightcurve" in err and "burst" in err


# ---------------------------------------------------------------- rebin
def test_rebin_waits_and_writes_the_rebinned_curve(run, tmp_path):
    path = tmp_path / "rebinned.ecsv"
    code, out, err = run("rebin", "GRB 060729", "--binning", "time", "--param", "pc_bin_time=5000",
                         "--output", path, "--poll-interval", "0.05")
    assert code == 0, err
    assert "Rebin job " in err and "of GRB 060729" in err and "--attach" in err
    table = Table.read(path)
    assert table["rate"].unit == u.ct / u.s and isinstance(table["time"], Time)
    assert set(table["dataset"]) >= {"PC_incbad"}


def test_rebin_prints_its_id_and_attach_follows_it(run):
    code, out, err = run("rebin", "060729", "--binning", "obsid")
    assert code == 0, err
    rebin_id = out.strip()
    assert rebin_id.isdigit()
    code, out, err = run("rebin", "060729", "--attach", rebin_id, "--wait", "--poll-interval", "0.05")
    assert code == 0, err
    assert "ct / s" in out


def test_rebin_without_binning_is_a_usage_error(run):
    code, out, err = run("rebin", "GRB 060729")
    assert code == cli.EXIT_USAGE and "--binning" in err and "obsid" in err


def test_rebin_bad_param_is_a_usage_error_before_anything_is_sent(run):
    code, out, err = run("rebin", "GRB 060729", "--binning", "counts", "--param", "pc_counts=lots")
    assert code == cli.EXIT_USAGE and "pc_counts" in err


# ---------------------------------------------------------------- timeslice
def test_timeslice_waits_prints_writes_and_fetches(run, tmp_path):
    path, dest = tmp_path / "slices.ecsv", tmp_path / "spectra"
    code, out, err = run("timeslice", "GRB 060729", "--slice", "early=100-800",
                         "--slice", "late=1000-5000:pc",
                         "--output", path, "--dest", dest, "--poll-interval", "0.05")
    assert code == 0, err
    assert "Time-slice job " in err and "of GRB 060729" in err and "--attach" in err
    assert "PowerLaw" in out and "late PC: " in out
    table = Table.read(path)
    assert set(table["interval"]) == {"early", "late"}
    assert table["obs_flux"].unit == FLUX_UNIT
    assert any((dest / "late").glob("*.pi")) and any((dest / "early").glob("*.arf"))


def test_timeslice_prints_its_id_and_attach_follows_it(run):
    code, out, err = run("timeslice", "060729", "--slice", "a=100-800", "--mode", "wt", "--redshift", "none")
    assert code == 0, err
    job_id = out.strip()
    assert job_id.isdigit()
    code, out, err = run("timeslice", "060729", "--attach", job_id, "--wait", "--poll-interval", "0.05")
    assert code == 0, err
    # (The local service checks a slice's mode but builds every slice from both modes' data.)
    assert "PowerLaw" in out and out.splitlines()[3].split()[:2] == ["a", "WT"]


@pytest.mark.parametrize("argv, words", [
    (("timeslice", "GRB 060729"), ("--slice", "--attach")),
    (("timeslice", "GRB 060729", "--slice", "early"), ("--slice", "NAME=TIMES")),
    (("timeslice", "GRB 060729", "--slice", "a=1-2", "--slice", "a=3-4"), ("'a'", "twice")),
    (("timeslice", "GRB 060729", "--slice", "bad name=100-800"), ("bad name",)),
    (("timeslice", "GRB 060729", "--slice", "a=100-800", "--redshift", "far"), ("--redshift", "far")),
    (("timeslice", "GRB 060729", "--slice", "a=100-800", "--mode", "xx"), ("--mode", "BOTH")),
])
def test_timeslice_usage_errors_are_exit_2_before_anything_is_sent(run, argv, words):
    code, out, err = run(*argv)
    assert code == cli.EXIT_USAGE and out == ""
    for word in words:
        assert word in err, err


# ---------------------------------------------------------------- many GRBs
def _names_file(tmp_path, fmt="csv"):
    table = Table({"name": ["GRB 060729", "GRB 990101", "080319B"], "T90": [116.0, 1.0, 57.0]})
    path = tmp_path / f"grbs.{fmt}"
    table.write(path, format="ascii.csv" if fmt == "csv" else "ascii.ecsv", overwrite=True)
    return path


def test_lightcurves_of_many_grbs_one_file_each_and_a_rerun_resumes(run, tmp_path, monkeypatch):
    dest = tmp_path / "curves"
    code, out, err = run("lightcurve", "101225A", "--table", _names_file(tmp_path), "--output", dest)
    # One GRB unknown: the others are written, the summary says which failed, exit 1.
    assert code == cli.EXIT_FAILURE, err
    written = sorted(p.name for p in dest.iterdir())
    assert written == ["GRB_060729.ecsv", "GRB_080319B.ecsv", "GRB_101225A.ecsv"]
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "written" in rows["101225A"] and "failed" in out and "GRB 990101" in out
    table = Table.read(dest / "GRB_060729.ecsv")
    assert table["rate"].unit == u.ct / u.s and isinstance(table["time"], Time)
    assert table.meta["grb"] == "GRB 060729"
    # A re-run asks for nothing already written: only the unknown name is looked up again.
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    from xrtprods_astro.transport import Transport
    funcs = []
    original = Transport.call_common

    def spy(self, url, func, payload, **kwargs):
        funcs.append(func)
        return original(self, url, func, payload, **kwargs)

    monkeypatch.setattr(Transport, "call_common", spy)
    code, out, err = run("lightcurve", "101225A", "--table", _names_file(tmp_path), "--output", dest)
    assert code == cli.EXIT_FAILURE
    assert out.count("skipped") == 3 and "already written" in out
    assert funcs == ["GRBNameToTargetID"]
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before


def test_many_grbs_by_name_with_a_column_and_fits_files(run, tmp_path):
    path = tmp_path / "mine.ecsv"
    Table({"burst": ["GRB 060729", "080319B"], "note": ["a", "b"]}).write(path)
    code, out, err = run("position", "--table", path, "--column", "burst", "-o", tmp_path / "pos",
                         "--format", "fits")
    assert code == 0, err
    table = Table.read(tmp_path / "pos" / "GRB_080319B.fits")
    assert table["err90"].unit == u.arcsec and table["kind"][0] == "best"
    code, out, err = run("position", "--table", path, "--column", "nope", "-o", tmp_path / "pos")
    assert code == cli.EXIT_USAGE and "burst" in err


def test_burst_of_many_grbs_one_folder_each(run, tmp_path):
    dest = tmp_path / "bursts"
    code, out, err = run("burst", "GRB 060729", "221755", "080319B", "--instruments", "xrt",
                         "--bands", "xrtband", "--output", dest)
    assert code == 0, err
    # A name and a targetID: each its own folder (the targetID's named by it), all complete.
    assert sorted(p.name for p in dest.iterdir()) == ["00221755", "GRB_060729", "GRB_080319B"]
    files = sorted(p.name for p in (dest / "GRB_060729").iterdir())
    assert "XRT_XRTBand_PC_incbad.ecsv" in files
    assert Table.read(dest / "GRB_060729" / "XRT_XRTBand_PC_incbad.ecsv")["flux"].unit == FLUX_UNIT
    assert not [p for p in dest.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("argv, word", [
    (("lightcurve", "GRB 060729", "080319B"), "--output"),
    (("lightcurve", "GRB 060729", "080319B", "-o", "x", "--plot", "x.png"), "--plot"),
    (("burst", "GRB 060729", "080319B", "-o", "x", "--dataset", "BAT_HR"), "--dataset"),
    (("lightcurve", "--table", "no-such-file.csv", "-o", "x"), "--table"),
    (("lightcurve",), "grb"),
])
def test_many_grbs_usage_errors(run, tmp_path, monkeypatch, argv, word):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*argv)
    assert code == cli.EXIT_USAGE and word in err
