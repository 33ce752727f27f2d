# Licensed under a 3-clause BSD style license - see LICENSE
"""The burst-analyser reader (issue 19, item 4: flux is never counts).

The real files are redback's saves of the burst analyser's combined page
(tests/data/real/nikhil-sarin__redback, provenance in tests/data/real/README.md);
row counts are checked against a plain split of each file written here.
"""
import pathlib
import shutil
import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.time import Time

from xrtprods_astro.exceptions import ReaderError
from xrtprods_astro.readers.burst import parse_burst_label, read_burst_analyser
from xrtprods_astro.readers.lightcurve import LightCurve, read_lightcurve_qdp

REDBACK = (pathlib.Path(__file__).parent / "data" / "real" / "nikhil-sarin__redback" / "redback" / "data"
           / "GRBData")
FILES = sorted(REDBACK.glob("*/*_rawSwiftData.dat"))
FLUX_UNIT = u.erg / (u.cm ** 2 * u.s)


def plain_sections(path):
    """{label: rows} by a plain line split, independent of the readers."""
    out, label = {}, None
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() == "READ" or set(words) == {"NO"}:
            continue
        if line.startswith("!"):
            label = line[1:].strip()
            out[label] = 0
        else:
            out[label] += 1
    return out


def test_the_real_files_are_here():
    assert [p.parent.name for p in FILES] == ["GRB050406", "GRB090926B", "GRB121209A"]


@pytest.mark.parametrize("path", FILES, ids=[p.parent.name for p in FILES])
def test_real_burst_analyser_files_are_fluxes_whatever_their_name(path, tmp_path):
    # Saved under a name that says nothing (redback's, or "lc.qdp"): the labels decide.
    renamed = tmp_path / "lc.qdp"
    shutil.copy(path, renamed)
    expected = plain_sections(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # no T0 in these files, and none is needed
        for lc in (read_burst_analyser(path), read_burst_analyser(renamed)):
            assert isinstance(lc, LightCurve) and lc.meta["product"] == "burst_analyser"
            assert sorted(lc.datasets) == sorted(expected)
            assert {name: len(t) for name, t in lc.items()} == expected
            for name, table in lc.items():
                info = parse_burst_label(name)
                assert table.meta["kind"] == "flux" and table.meta["quantity"] == "flux"
                assert table.meta["instrument"] == ("BAT" if name.startswith("bat") else "XRT")
                assert table.meta["nosys"] == info["nosys"] == ("_nosys" in name)
                assert table.meta["incbad"] == info["incbad"] == ("_incbad" in name)
                for column in ("flux", "flux_err_pos", "flux_err_neg"):
                    assert table[column].unit == FLUX_UNIT, (name, column)
                for column in ("t_since_t0", "time_err_pos", "time_err_neg"):
                    assert table[column].unit == u.s
                # erg cm^-2 s^-1, not counts: the values the issue saw come back as ct/s.
                assert 1e-15 < np.median(table["flux"]) < 1e-6
                assert (np.asarray(table["flux_err_neg"]) >= 0).all()
                assert "time" not in table.colnames and table.meta["t0"] is None
    # The light-curve reader used to read them as count rates (ct/s, values 1e-9); it now sends
    # them here.
    with pytest.raises(ReaderError, match=r"lc\.qdp: a burst-analyser file .*read_burst_analyser"):
        read_lightcurve_qdp(renamed)


def test_values_and_modes_of_one_real_file():
    lc = read_burst_analyser(REDBACK / "GRB050406" / "GRB050406_rawSwiftData.dat")
    assert lc.datasets == ["batSNR4flux", "xrtpcflux_incbad", "xrtwtflux_incbad"]
    wt = lc["xrtwtflux_incbad"]
    assert wt.meta["mode"] == "WT" and lc["batSNR4flux"].meta["mode"] == "BAT"
    assert lc["batSNR4flux"].meta["binning"] == "SNR4"
    # First row: 115.233 42.747 -22.903 3.02952828927869e-11 5.93259385395594e-12 -5.93259105981709e-12
    assert wt["t_since_t0"].quantity[0] == 115.233 * u.s
    assert wt["time_err_neg"].quantity[0] == 22.903 * u.s
    assert wt["flux"].quantity[0] == 3.02952828927869e-11 * FLUX_UNIT
    assert wt["flux_err_neg"][0] == pytest.approx(5.93259105981709e-12)


def test_absolute_times_where_t0_is_known():
    path = REDBACK / "GRB121209A" / "GRB121209A_rawSwiftData.dat"
    t0 = Time("2012-12-09T21:59:13", scale="utc")
    lc = read_burst_analyser(path, t0=t0)
    bat = lc["batSNR4flux"]
    assert isinstance(bat["time"], Time) and bat.colnames[:3] == ["time", "t_since_t0", "met"]
    assert abs((bat["time"][0] - t0).to_value(u.s) - bat["t_since_t0"][0]) < 1e-6
    # The flux datasets of the plain variant make a time series and a combined table.
    series = lc.to_timeseries()
    assert len(series) == len(bat) and series["flux"].unit == FLUX_UNIT
    nosys = lc.combined("flux", nosys=True)
    assert len(nosys) == len(lc["xrtpcflux_nosys"]) + len(lc["xrtwtslewflux_nosys"])


GAMMA = ("READ TERR 1 2\n! xrtpcflux_nosys_incbad\n155.7 42.2 -56.9 6.7e-11 1.5e-11 -1.5e-11\n"
         "NO NO NO NO NO NO\n! xrtpcgamma_incbad\n155.7 42.2 -56.9 2.1 0.3 -0.2\n")


def test_photon_index_sections_are_dimensionless():
    lc = read_burst_analyser(GAMMA)
    gamma = lc["xrtpcgamma_incbad"]
    assert gamma.meta["kind"] == "gamma" and gamma["gamma"].unit == u.dimensionless_unscaled
    assert gamma["gamma"][0] == 2.1 and gamma["gamma_err_neg"][0] == 0.2
    flux = lc["xrtpcflux_nosys_incbad"]
    assert flux.meta["nosys"] and flux.meta["incbad"] and flux["flux"].unit == FLUX_UNIT
    # kind= changes the flux-like sections only: a photon index stays one.
    density = read_burst_analyser(GAMMA, kind="density")
    assert density["xrtpcflux_nosys_incbad"]["flux_density"].unit == u.Jy
    assert density["xrtpcgamma_incbad"]["gamma"].unit == u.dimensionless_unscaled


def test_density_sections_in_jy_or_mjy():
    text = "READ TERR 1 2\n! xrtpcdensity\n155.7 42.2 -56.9 3.1e-6 1e-7 -1e-7\n"
    table = read_burst_analyser(text)["xrtpcdensity"]
    assert table.meta["kind"] == "density" and table["flux_density"].unit == u.Jy
    assert table.meta["energy"] == 10 * u.keV
    assert read_burst_analyser(text, density_unit="mJy")["xrtpcdensity"]["flux_density"].unit == u.mJy
    with pytest.raises(ReaderError, match="density_unit"):
        read_burst_analyser(text, density_unit="erg")


def test_flux_label_on_densities_is_refused_naming_kind():
    # A page saved in flux-density mode still says "flux": values in Jy are no erg cm^-2 s^-1.
    text = "READ TERR 1 2\n! batSNR4flux\n1 0.5 -0.5 2.5e-3 1e-4 -1e-4\n2 0.5 -0.5 4e-3 1e-4 -1e-4\n"
    with pytest.raises(ReaderError, match=r"batSNR4flux.*cannot be fluxes.*kind='density'"):
        read_burst_analyser(text)
    lc = read_burst_analyser(text, kind="density")
    assert lc["batSNR4flux"]["flux_density"].unit == u.Jy


def test_label_without_a_quantity_is_refused_naming_kind():
    text = "READ TERR 1 2\n! xrtpc_incbad\n155.7 42.2 -56.9 6.7e-11 1.5e-11 -1.5e-11\n"
    with pytest.raises(ReaderError, match=r"does not say what the values are.*kind='flux'"):
        read_burst_analyser(text)
    assert read_burst_analyser(text, kind="flux")["xrtpc_incbad"]["flux"].unit == FLUX_UNIT
    with pytest.raises(ReaderError, match="kind: 'rate'.*never counts"):
        read_burst_analyser(text, kind="rate")


def test_rows_are_never_dropped():
    path = REDBACK / "GRB050406" / "GRB050406_rawSwiftData.dat"
    lines = path.read_text().splitlines(keepends=True)
    # A NO line inside a section leaves an unlabelled section behind it.
    split = lines[:5] + ["NO NO NO NO NO NO\n"] + lines[5:]
    with pytest.raises(ReaderError, match="line 7 has no label.*rows would be lost"):
        read_burst_analyser("".join(split))
    # A repeated label.
    repeated = "".join(lines).replace("! xrtpcflux_incbad", "! xrtwtflux_incbad")
    with pytest.raises(ReaderError, match="xrtwtflux_incbad.*repeated"):
        read_burst_analyser(repeated)
    # A label that is not a burst-analyser one.
    with pytest.raises(ReaderError, match="'PC data'.*rows cannot be placed"):
        read_burst_analyser("".join(lines).replace("! xrtpcflux_incbad", "! PC data"))
    with pytest.raises(ReaderError, match="without data rows"):
        read_burst_analyser("READ TERR 1 2\n! batSNR4flux\n")


def test_one_unlabelled_section_needs_kind():
    text = "READ TERR 1 2\n155.7 42.2 -56.9 6.7e-11 1.5e-11 -1.5e-11\n372.3 10 -10 5e-12 1e-12 -1e-12\n"
    with pytest.raises(ReaderError, match=r"line 2 has no label, so nothing says .*kind='flux'"):
        read_burst_analyser(text)
    lc = read_burst_analyser(text, kind="flux", band="0.3-10 keV")
    assert lc.datasets == ["flux"] and len(lc["flux"]) == 2 and lc["flux"]["flux"].unit == FLUX_UNIT
    assert lc["flux"].meta["band"] == "0.3-10 keV" and lc["flux"].meta["instrument"] is None
    # The band is what the time series and the plot label say.
    assert read_burst_analyser(text, kind="flux", band=(15, 50) * u.keV).meta["energy_band"] == (15.0, 50.0)
    for bad in ("BAT band", (50, 15)):
        with pytest.raises(ReaderError, match="band: "):
            read_burst_analyser(text, kind="flux", band=bad)


def test_parse_burst_label():
    assert parse_burst_label("xrtwtslewflux_nosys_incbad") == {
        "name": "xrtwtslewflux_nosys_incbad", "instrument": "XRT", "mode": "WTSLEW", "binning": None,
        "quantity": "flux", "nosys": True, "incbad": True, "noevolve": False}
    assert parse_burst_label("batSNR4flux")["binning"] == "SNR4"
    with pytest.raises(ReaderError, match="label: 'PC data'"):
        parse_burst_label("PC data")
