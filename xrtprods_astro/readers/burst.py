# Licensed under a 3-clause BSD style license - see LICENSE
"""
Burst-analyser files (BAT + XRT flux light curves of a GRB) as a `LightCurve`.

The UKSSDC burst analyser (Evans et al. 2010, A&A 519, A102) converts BAT and
XRT count rates to fluxes with the spectral evolution taken into account. Its
combined-page QDP files (as saved by redback, say, under names such as
``GRB050406_rawSwiftData.dat``) hold one section per dataset, with
``READ TERR 1 2``, no header and no column line; the ``!`` label of each
section says what it is:

``<instrument><mode><binning><quantity>[_nosys][_incbad]``

e.g. ``batSNR4flux``, ``xrtwtslewflux_nosys``, ``xrtpcflux_incbad``,
``xrtpcgamma_incbad``. Each section becomes one dataset named by its label.

=================  ==============  ============================================
column             unit            meaning
=================  ==============  ============================================
``time``           Time            bin time, UTC (only when T0 is given)
``t_since_t0``     s               seconds since the BAT trigger (T0)
``met``            s               Swift MET (only when T0 is given)
``time_err_pos``   s               bin end minus time
``time_err_neg``   s               time minus bin start (positive magnitude)
``flux``...        erg/cm2/s       ``flux`` sections, with ``flux_err_pos``,
                                   ``flux_err_neg``
``flux_density``   Jy              ``density`` / ``obsdensity`` sections
                                   (mJy with ``density_unit="mJy"``)
``gamma``...                       ``gamma`` sections: the photon index
=================  ==============  ============================================

What a section holds is read from its label, never from the file's name;
``kind=`` overrides it for the sections whose label says ``flux`` or
``density`` (a page saved in flux-density mode still labels its sections
``flux``). A label that says nothing the reader knows is refused with a
message naming ``kind=``, and so is a ``flux`` section whose values cannot be
fluxes in erg cm^-2 s^-1 (above 1e-5: flux densities, most likely).
"""
import re

import numpy as np
from astropy import units as u

from ..exceptions import ReaderError
from .lightcurve import BURST_LABEL as _LABEL
from .lightcurve import LightCurve, _build_table, _common_meta, _section_columns, is_burst_label
from .qdp import QDPFile, read_qdp

__all__ = ["read_burst_analyser", "parse_burst_label", "is_burst_label"]

# What the burst analyser's labels say, and our column names and units for it.
_QUANTITIES = {
    "flux": ("flux", "Flux"),
    "density": ("density", "FluxDensity"),
    "obsdensity": ("density", "FluxDensity"),
    "gamma": ("gamma", "Gamma"),
}
_KIND_VALUE = {"flux": "Flux", "density": "FluxDensity", "gamma": "Gamma"}
# The largest value a flux in erg cm^-2 s^-1 can take in these files: the brightest GRBs peak
# near 1e-4 in the BAT band, while flux densities in Jy (or mJy) of the same bins are far above.
_MAX_FLUX = 1e-5
_KINDS = ("flux", "density", "gamma")


def parse_burst_label(label):
    """Split a burst-analyser section label into its parts.

    Parameters
    ----------
    label : str
        e.g. ``"batSNR4flux"``, ``"xrtpcflux_nosys_incbad"``,
        ``"xrtpcgamma_incbad"``.

    Returns
    -------
    dict
        ``instrument`` (``"BAT"``, ``"XRT"`` or ``"UVOT"``), ``mode``
        (``"WT"``, ``"PC"``, ``"WTSLEW"``; ``"BAT"`` for BAT sections),
        ``binning`` (``"SNR4"``... or None), ``quantity`` (the label's word:
        ``flux``, ``density``, ``obsdensity``, ``gamma``, ``hr``, ``cf``, or
        None), ``nosys``, ``incbad``, ``noevolve`` (bool) and ``name`` (the
        label itself).

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        When the label does not follow the pattern.
    """
    text = str(label).strip()
    m = _LABEL.match(text)
    if m is None:
        raise ReaderError(f"label: {label!r} is not a burst-analyser section label; expected "
                          "<bat|xrt|uvot>[wt|pc|wtslew][binning]<flux|density|gamma>[_nosys][_incbad], "
                          "e.g. 'xrtpcflux_incbad'")
    instrument = m.group("instrument").upper()
    tags = m.group("tags").lower()
    return {"name": text, "instrument": instrument,
            "mode": (m.group("mode") or "").upper() or instrument,
            "binning": m.group("binning") or None,
            "quantity": (m.group("what") or "").lower() or None,
            "nosys": "_nosys" in tags, "incbad": "_incbad" in tags,
            "noevolve": "_noevol" in tags}


def read_burst_analyser(source, *, t0=None, utcf=None, kind=None, band=None, density_unit="Jy",
                        job_id=None, target=None):
    """Read a burst-analyser QDP file into a `LightCurve` of fluxes.

    Parameters
    ----------
    source : str, bytes, path-like, file-like or `~xrtprods_astro.readers.qdp.QDPFile`
        The file (any name: what it holds is read from its section labels),
        its content, or the file already read with
        `~xrtprods_astro.readers.qdp.read_qdp`. A file of one unlabelled
        section is read with ``kind=`` as one dataset named after it.
    t0 : float or `~astropy.time.Time`, optional
        The BAT trigger time, in Swift MET seconds or as a Time. The files do
        not carry it: without it the tables have ``t_since_t0`` only, with
        it also ``time`` (UTC) and ``met``.
    utcf : optional
        Spacecraft clock correction for a MET ``t0``, see
        `xrtprods_astro.times.met_to_time`.
    kind : {"flux", "density", "gamma"}, optional
        What the sections labelled ``flux`` or ``density`` (and sections
        whose label names no quantity) hold, overriding their labels: a page
        saved in flux-density mode labels its sections ``flux``. Sections
        labelled ``gamma`` stay photon indices.
    band : str or (lo, hi), optional
        The energy band of the fluxes (``"0.3-10 keV"``, ``"15-50 keV"`` or
        ``(15, 50)`` in keV, numbers or Quantities), recorded in
        ``meta["band"]`` (text) and ``meta["energy_band"]`` (keV, which the
        time series and plot labels use): the files do not say which band the
        burst analyser's page was set to.
    density_unit : {"Jy", "mJy"}
        Unit of flux densities (UKSSDC writes Jy).
    job_id, target : optional
        Recorded in the meta.

    Returns
    -------
    `LightCurve`
        One dataset per section, named by its label (``"batSNR4flux"``,
        ``"xrtpcflux_nosys"``, ``"xrtpcgamma_incbad"``...), each a Table
        with the columns in `xrtprods_astro.readers.burst` and a meta with
        ``instrument``, ``mode``, ``binning``, ``kind`` (``flux``,
        ``density`` or ``gamma``), ``quantity``, ``nosys``, ``incbad``,
        ``band``, ``label``. The light curve's ``meta["product"]`` is
        ``"burst_analyser"``. ``to_timeseries()`` and ``plot()`` take the
        flux datasets. `~xrtprods_astro.readers.read_lightcurve_qdp` refuses
        these files with a message that names this function.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        A section without a label or with one that is not a burst-analyser
        label, a label that appears twice, a label that names no quantity
        (without ``kind=``), ``flux`` values that cannot be fluxes, a file
        without data, or an unknown ``kind`` or ``density_unit``.

    Examples
    --------
    >>> from xrtprods_astro.readers.burst import read_burst_analyser
    >>> lc = read_burst_analyser("READ TERR 1 2\\n! xrtpcflux_incbad\\n"
    ...                          "155.7 42.2 -56.9 6.7e-11 1.5e-11 -1.5e-11\\n")
    >>> lc.datasets
    ['xrtpcflux_incbad']
    >>> lc["xrtpcflux_incbad"]["flux"].unit
    Unit("erg / (s cm2)")
    """
    if kind is not None and kind not in _KINDS:
        raise ReaderError(f"kind: {kind!r} is not one of {list(_KINDS)} for a burst-analyser file "
                          "(its sections hold fluxes, flux densities or photon indices, never counts)")
    if density_unit not in ("Jy", "mJy"):
        raise ReaderError(f"density_unit: {density_unit!r} is not 'Jy' or 'mJy'")
    qdp = source if isinstance(source, QDPFile) else read_qdp(source)
    if not any(len(s.table) for s in qdp):
        raise ReaderError("source: a burst-analyser file without data rows")
    energy_band = _band(band)
    band = None if energy_band is None else f"{energy_band[0]:g}-{energy_band[1]:g} keV"
    common = _common_meta(job_id, t0, utcf, None, "MET", quantity="flux")
    common.update({"product": "burst_analyser", "target": target, "band": band})
    if energy_band is not None:
        common["energy_band"] = energy_band
    tables, times, lines, kinds = {}, {}, {}, []
    data_sections = [s for s in qdp if len(s.table) or s.label is not None]
    for section in data_sections:
        where = f"section {section.label!r} (line {section.line})"
        if section.label is None and len(data_sections) == 1 and kind is not None:
            # A file of one unlabelled section (one quantity of one instrument): kind= says
            # what it is, and nothing says which instrument.
            info = {"name": kind, "instrument": None, "mode": None, "binning": None, "quantity": None,
                    "nosys": False, "incbad": False, "noevolve": False}
        elif section.label is None and len(data_sections) == 1:
            raise ReaderError(f"the section starting on line {section.line} has no label, so nothing "
                              "says what its values are; pass kind='flux', kind='density' or "
                              "kind='gamma' to read it as one dataset")
        elif section.label is None:
            raise ReaderError(f"the section starting on line {section.line} has no label: its "
                              f"{len(section.table)} rows would be lost (a NO line inside a section?); "
                              "burst-analyser sections are labelled e.g. '! xrtpcflux'")
        else:
            info = None
        try:
            info = info or parse_burst_label(section.label)
        except ReaderError as exc:
            raise ReaderError(f"{where}: {exc}; its {len(section.table)} rows cannot be placed") from None
        if info["name"] in lines:
            raise ReaderError(f"{where}: the label is repeated (first on line {lines[info['name']]}); "
                              "which rows belong to it is ambiguous")
        lines[info["name"]] = section.line
        what = _section_kind(info, kind, where)
        if not len(section.table):
            continue
        columns = _section_columns(section, _KIND_VALUE[what])
        value = columns.get(_KIND_VALUE[what])
        if what == "flux" and kind is None and value is not None:
            _check_flux_values(np.asarray(value, dtype=float), where)
        table = _build_table(columns, info=_table_info(info, what), common=common, utcf=utcf,
                             mjd_axis=False, times=times, warn_no_t0=False)
        if what == "density":
            for name in ("flux_density", "flux_density_err_pos", "flux_density_err_neg"):
                if name in table.colnames:
                    table[name].unit = u.Unit(density_unit)
        table.meta.update({"instrument": info["instrument"], "binning": info["binning"],
                           "quantity": what, "label": info["name"], "noevolve": info["noevolve"],
                           "band": band if what == "flux" else None,
                           "energy": _density_energy(info) if what == "density" else None})
        tables[info["name"]] = table
        kinds.append(what)
    if not tables:
        raise ReaderError("source: no burst-analyser section holds data rows")
    common["quantity"] = "flux" if "flux" in kinds else kinds[0]
    return LightCurve(tables, common)


def _band(band):
    """(lo, hi) in keV from ``band=``, or None."""
    if band is None:
        return None
    if isinstance(band, str):
        m = re.fullmatch(r"\s*([0-9.]+)\s*-\s*([0-9.]+)\s*keV\s*", band, re.IGNORECASE)
        if m is None:
            raise ReaderError(f"band: {band!r} is not a band such as '0.3-10 keV' or (15, 50)")
        lo, hi = float(m.group(1)), float(m.group(2))
    else:
        try:
            lo, hi = (float(u.Quantity(v, u.keV).value) for v in band)
        except (TypeError, ValueError, u.UnitsError):
            raise ReaderError(f"band: {band!r} is not a band such as '0.3-10 keV' or (15, 50)") from None
    if not 0 < lo < hi:
        raise ReaderError(f"band: {band!r} does not go from a lower to a higher positive energy")
    return lo, hi


def _section_kind(info, kind, where):
    """flux, density or gamma for a section, from its label unless ``kind`` overrides it."""
    said = info["quantity"]
    if said == "gamma":
        return "gamma"
    if said in ("flux", "density", "obsdensity", None) and kind is not None:
        return kind
    if said is None:
        raise ReaderError(f"{where}: the label does not say what the values are (flux, density or "
                          "gamma); pass kind='flux', kind='density' or kind='gamma'")
    if said not in _QUANTITIES:
        raise ReaderError(f"{where}: '{said}' sections (hardness ratios, conversion factors) are not "
                          "read; pass kind= if the label is wrong")
    return _QUANTITIES[said][0]


def _check_flux_values(values, where):
    """Refuse 'flux' values that cannot be erg cm^-2 s^-1 (densities saved under a flux label)."""
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    if finite.size and np.median(finite) > _MAX_FLUX:
        raise ReaderError(f"{where}: values near {np.median(finite):.3g} cannot be fluxes in "
                          "erg cm^-2 s^-1 (flux densities in Jy or mJy?); pass kind='density' "
                          "(with density_unit=) or kind='flux' to read them as labelled")


def _density_energy(info):
    # The burst analyser gives the unabsorbed flux density at 10 keV; the observed (absorbed)
    # density is given in each instrument's own band, whose energy the file does not state.
    return 10 * u.keV if info["quantity"] != "obsdensity" else None


def _table_info(info, what):
    return {"name": info["name"], "mode": info["mode"], "kind": what, "nosys": info["nosys"],
            "incbad": info["incbad"], "url": None}
