# Licensed under a 3-clause BSD style license - see LICENSE
"""
Burst-analyser data (BAT + XRT flux light curves of a GRB) as a `LightCurve`.

Two readers: `read_burst_analyser_json` for the common API's ``downloadBurstAnalyser`` answer
(what `xrtprods_astro.GRBs.get_burst_analyser` asks for), and `read_burst_analyser` for the
QDP files below.

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
from .lightcurve import FLUX_UNIT, LightCurve, _build_table, _common_meta, _section_columns, is_burst_label
from .qdp import QDPFile, read_qdp

__all__ = ["read_burst_analyser", "read_burst_analyser_json", "parse_burst_label", "is_burst_label",
           "BURST_BANDS"]

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


# --------------------------------------------------------------------------
# JSON (the common API's downloadBurstAnalyser answer)
# --------------------------------------------------------------------------

#: The burst analyser's bands (spec §7.2): dataset word -> (what the values are, energy band in keV
#: of a flux or the energy of a flux density, or None). ``Density`` is the unabsorbed flux density
#: at 10 keV; ``ObservedFlux`` is the observed (absorbed) flux density, whose energy the answer does
#: not state. Read in Jy: its BAT ECFs (``ECF_ObservedDensity``, spec §7.2) are those of a flux
#: density in Jy, within 5 % of ``Density``'s; the documented XRT ones (~1e-8 per count/s, against
#: ~5e-6 for ``Density``) do not settle the XRT unit (an open question, spec §13).
BURST_BANDS = {"XRTBand": ("flux", (0.3, 10.0)), "BATBand": ("flux", (15.0, 50.0)),
               "Density": ("density", 10.0), "ObservedFlux": ("density", None)}
_RATE = u.ct / u.s
# Source column -> (our column, what it is: "time", "value", "gamma", "ecf", "hr", "flag").
_JSON_COLUMNS = {
    "Time": ("time", "time"), "TimePos": ("time_err_pos", "time"), "TimeNeg": ("time_err_neg", "time"),
    "Flux": ("{v}", "value"), "FluxPos": ("{v}_err_pos", "value"), "FluxNeg": ("{v}_err_neg", "value"),
    "FluxPosWithECFErr": ("{v}_err_pos_with_ecf", "value"),
    "FluxNegWithECFErr": ("{v}_err_neg_with_ecf", "value"),
    "FluxDensity": ("flux_density", "value"), "FluxDensityPos": ("flux_density_err_pos", "value"),
    "FluxDensityNeg": ("flux_density_err_neg", "value"),
    "Gamma": ("gamma", "gamma"), "GammaPos": ("gamma_err_pos", "gamma"),
    "GammaNeg": ("gamma_err_neg", "gamma"),
    "ECF": ("ecf", "ecf"), "ECFPos": ("ecf_err_pos", "ecf"), "ECFNeg": ("ecf_err_neg", "ecf"),
    "HR": ("hr", "hr"), "HRPos": ("hr_err_pos", "hr"), "HRNeg": ("hr_err_neg", "hr"),
    "BadBin": ("bad_bin", "flag"),
}
# Hardness-ratio tables: ECF to each band -> our column stem and what the band's values are.
_HR_ECFS = {"ECF_XRTBand": ("ecf_xrtband", "flux"), "ECF_BATBand": ("ecf_batband", "flux"),
            "ECF_Density": ("ecf_density", "density"),
            "ECF_ObservedDensity": ("ecf_observed_density", "density")}
_XRT_DATASET = re.compile(r"^(?P<band>[A-Za-z]+)_(?P<mode>WTSLEW|WT|PC)(?P<tags>(?:_nosys)?(?:_incbad)?)$")
_XRT_HR = re.compile(r"^HRData_(?P<mode>WTSLEW|WT|PC)(?P<tags>(?:_nosys)?(?:_incbad)?)$")


def read_burst_analyser_json(data, *, t0=None, utcf=None, t0_utc=None, density_unit="Jy", target=None,
                             grb=None):
    """Read the common API's ``downloadBurstAnalyser`` answer into a `LightCurve`.

    Parameters
    ----------
    data : dict
        The answer without its envelope: ``Instruments`` and one block per instrument
        (``BAT`` and ``BAT_NoEvolution`` with ``Binning`` and one light-curve block per binning,
        ``XRT`` with ``Datasets``, ``UVOT`` with one dataset per filter), as in spec §7.2.
    t0 : float or `~astropy.time.Time`, optional
        The BAT trigger time (the burst analyser's T0; its times are seconds since T0), in Swift MET
        seconds or as a Time. The answer does not carry it: without it the tables have
        ``t_since_t0`` only.
    utcf : optional
        Spacecraft clock correction for a MET ``t0`` (`xrtprods_astro.times.met_to_time`).
    t0_utc : `~astropy.time.Time`, optional
        UKSSDC's own UTC for a MET ``t0`` (the repository states it in the header of the GRB's
        ``curve.qdp``): the clock correction is derived from it unless ``utcf`` is given.
    density_unit : {"Jy", "mJy"}
        Unit of the flux densities (and of their conversion factors).
    target, grb : optional
        Recorded in the meta (``target`` is the targetID).

    Returns
    -------
    `LightCurve`
        One dataset per light curve of the answer, named as the official client names the files
        it saves (spec §7.4): ``BAT_HR``, ``BAT_<binning>_<band>`` (``BAT_SNR4_XRTBand``),
        ``BAT_NoEvolution_<binning>_<band>``, ``XRT_<band>_<mode>[_nosys][_incbad]``
        (``XRT_Density_PC_incbad``), ``XRT_HR_<mode>``, ``UVOT_<filter>``. Bands ``XRTBand``
        (0.3-10 keV) and ``BATBand`` (15-50 keV) are fluxes (``flux``, ``flux_err_pos``,
        ``flux_err_neg``, ``flux_err_pos_with_ecf``... in erg / (cm2 s)); ``Density`` (at 10 keV)
        and ``ObservedFlux`` (observed, absorbed) are flux densities (``flux_density``... in
        ``density_unit``), as are the UVOT datasets (``UVOT_<filter>_UL`` hold upper limits:
        their ``upper_limit`` column is True). ``gamma`` is the photon index, ``ecf`` the
        conversion factor from count rate (per second; for BAT, per fully illuminated detector),
        ``bad_bin`` (BAT) a bool flag. Each table's meta has ``instrument`` (``BAT``, ``XRT``,
        ``UVOT``), ``noevolve``, ``binning``, ``band``, ``kind`` (``flux``, ``density``, ``hr``),
        ``quantity``, ``mode``, ``nosys``, ``incbad``, ``energy_band`` (keV, fluxes) and
        ``energy`` (flux densities at a stated energy). The light curve's ``meta["product"]``
        is ``"burst_analyser"``; ``meta["instruments"]`` lists the answer's instruments.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        Not a burst-analyser answer, a block without ``columns``/``data``, a dataset of an
        unknown band, rows whose length differs from the columns, or a bad ``density_unit``.

    Examples
    --------
    >>> from xrtprods_astro.readers.burst import read_burst_analyser_json
    >>> answer = {"Instruments": ["XRT"], "XRT": {"Datasets": ["XRTBand_PC_incbad"],
    ...     "XRTBand_PC_incbadData": {"columns": ["Time", "TimePos", "TimeNeg", "Flux", "FluxPos",
    ...                                           "FluxNeg"],
    ...                               "data": [[155.7, 42.2, -56.9, 6.7e-11, 1.5e-11, -1.5e-11]]}}}
    >>> lc = read_burst_analyser_json(answer)
    >>> lc.datasets
    ['XRT_XRTBand_PC_incbad']
    >>> lc["XRT_XRTBand_PC_incbad"]["flux"].unit
    Unit("erg / (s cm2)")
    """
    if not isinstance(data, dict) or "Instruments" not in data:
        raise ReaderError("burst analyser: expected the downloadBurstAnalyser answer (a JSON object "
                          f"with 'Instruments'), got {type(data).__name__}"
                          + (f" with keys {sorted(data)[:8]}" if isinstance(data, dict) else ""))
    if density_unit not in ("Jy", "mJy"):
        raise ReaderError(f"density_unit: {density_unit!r} is not 'Jy' or 'mJy'")
    common = _common_meta(None, t0, utcf, None, "MET", t0_utc=t0_utc,
                          t0_source="header" if t0_utc is not None else None, quantity="flux")
    common.update({"product": "burst_analyser", "target": target, "target_id": target, "grb": grb,
                   "instruments": [str(i) for i in data.get("Instruments") or []]})
    tables, times = {}, {}

    def add(name, block, **info):
        tables[name] = _json_table(name, block, info, common, utcf, times, density_unit)

    for inst in ("BAT", "BAT_NoEvolution"):
        block = data.get(inst)
        if not isinstance(block, dict):
            continue
        noevolve = inst == "BAT_NoEvolution"
        if isinstance(block.get("HRData"), dict):
            add(f"{inst}_HR", block["HRData"], instrument="BAT", mode="BAT", band=None, binning=None,
                noevolve=noevolve, hr=True)
        for binning in block.get("Binning") or []:
            sub = block.get(binning)
            if not isinstance(sub, dict):
                raise ReaderError(f"burst analyser: {inst} lists binning {binning!r} without its block")
            for band in sub.get("Datasets") or []:
                add(f"{inst}_{binning}_{band}", _block(sub, band, f"{inst}.{binning}"), instrument="BAT",
                    mode="BAT", band=band, binning=binning, noevolve=noevolve)
    xrt = data.get("XRT")
    if isinstance(xrt, dict):
        for name in xrt.get("Datasets") or []:
            m = _XRT_DATASET.match(str(name))
            if m is None:
                raise ReaderError(f"burst analyser: XRT dataset {name!r} is not <band>_<mode>[_nosys]"
                                  "[_incbad]")
            add(f"XRT_{name}", _block(xrt, name, "XRT"), instrument="XRT", mode=m.group("mode"),
                band=m.group("band"), binning=None, noevolve=False, tags=m.group("tags"))
        for key in sorted(k for k in xrt if _XRT_HR.match(k)):
            if not isinstance(xrt[key], dict):
                continue
            m = _XRT_HR.match(key)
            add(f"XRT_HR_{m.group('mode')}{m.group('tags')}", xrt[key], instrument="XRT",
                mode=m.group("mode"), band=None, binning=None, noevolve=False, tags=m.group("tags"),
                hr=True)
    uvot = data.get("UVOT")
    if isinstance(uvot, dict):
        for name in uvot.get("Datasets") or []:
            # "b_UL", "white_UL"...: the filter's upper limits (the official client saves them as such).
            add(f"UVOT_{name}", _block(uvot, name, "UVOT"), instrument="UVOT", mode=str(name).split("_")[0],
                band=None, binning=None, noevolve=False, uvot=True, ul=str(name).endswith("_UL"))
    return LightCurve(tables, common)


def _block(parent, name, where):
    block = parent.get(f"{name}Data", parent.get(name))
    if not isinstance(block, dict):
        raise ReaderError(f"burst analyser: {where} lists dataset {name!r} without its block")
    return block


def _json_table(name, block, info, common, utcf, times, density_unit):
    """One dataset of the answer as a Table with our column names, units and meta."""
    cols, rows = block.get("columns"), block.get("data")
    if not isinstance(cols, list) or not isinstance(rows, list):
        raise ReaderError(f"burst analyser: dataset {name} has no 'columns'/'data' lists")
    if any(not isinstance(r, (list, tuple)) or len(r) != len(cols) for r in rows):
        raise ReaderError(f"burst analyser: dataset {name} has rows whose length is not that of its "
                          f"{len(cols)} columns")
    band = info.get("band")
    if info.get("hr"):
        what = "hr"
    elif info.get("uvot"):
        what = "density"
    elif band in BURST_BANDS:
        what = BURST_BANDS[band][0]
    else:
        raise ReaderError(f"burst analyser: dataset {name}: unknown band {band!r}; known: "
                          + ", ".join(BURST_BANDS))
    value = "flux" if what == "flux" else "flux_density"
    dunit = u.Unit(density_unit)
    scale = 1e3 if density_unit == "mJy" else 1.0   # the service sends flux densities in Jy
    columns, units, negative, flags = {}, {}, [], {}
    for i, src in enumerate(cols):
        values = [r[i] for r in rows]
        base, suffix = (src, "") if src in _HR_ECFS else (src[:-3], src[-3:])
        if base in _HR_ECFS and suffix in ("", "Pos", "Neg"):
            stem, target = _HR_ECFS[base]
            ours = stem + {"Pos": "_err_pos", "Neg": "_err_neg"}.get(suffix, "")
            per = FLUX_UNIT if target == "flux" else dunit
            columns[ours] = _scaled(values, scale if target == "density" else 1.0, name, src)
            units[ours] = per / _RATE
            if ours.endswith("_neg"):
                negative.append(ours)
            continue
        ours, role = _JSON_COLUMNS.get(src, (None, None))
        if ours is None:
            ours, role = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", src).lower(), "other"
        ours = ours.format(v=value)
        if role == "flag":
            flags[ours] = np.array([str(v).strip().lower() in ("1", "true", "1.0") for v in values])
            continue
        if role in ("value", "ecf"):
            columns[ours] = _scaled(values, scale if value == "flux_density" else 1.0, name, src)
            if role == "ecf":
                units[ours] = (FLUX_UNIT if value == "flux" else dunit) / _RATE
        else:
            columns[ours] = values
        if role == "hr":
            units[ours] = u.dimensionless_unscaled
        if ours.endswith("_neg") or ours.endswith("_neg_with_ecf"):
            negative.append(ours)
    if "time" not in columns:
        raise ReaderError(f"burst analyser: dataset {name} has no Time column among {cols}")
    tags = info.get("tags") or ""
    table_info = {"name": name, "mode": info["mode"], "kind": what, "nosys": "_nosys" in tags,
                  "incbad": "_incbad" in tags, "url": None}
    table = _build_table(columns, info=table_info, common=common, utcf=utcf, mjd_axis=False, times=times,
                         warn_no_t0=False)
    for col in negative:
        if col in table.colnames:
            table[col] = np.abs(table[col])
    for col, unit in units.items():
        table[col].unit = unit
    if value == "flux_density":
        for col in ("flux_density", "flux_density_err_pos", "flux_density_err_neg",
                    "flux_density_err_pos_with_ecf", "flux_density_err_neg_with_ecf"):
            if col in table.colnames:
                table[col].unit = dunit
    elif what == "flux":
        for col in ("flux_err_pos_with_ecf", "flux_err_neg_with_ecf"):
            if col in table.colnames:
                table[col].unit = FLUX_UNIT
    for col, values in flags.items():
        table[col] = values
    energy_band = BURST_BANDS[band][1] if what == "flux" else None
    energy = BURST_BANDS[band][1] * u.keV if what == "density" and band in BURST_BANDS \
        and BURST_BANDS[band][1] is not None else None
    if "upper_limit" in table.colnames:
        # Flux rows are measurements; only UVOT's *_UL datasets hold upper limits (said below).
        del table["upper_limit"]
    if info.get("ul"):
        table["upper_limit"] = np.ones(len(table), dtype=bool)
    table.meta.update({"instrument": info["instrument"], "noevolve": info["noevolve"],
                       "binning": info["binning"], "band": band, "quantity": what, "label": name,
                       "energy_band": energy_band, "energy": energy})
    return table


def _scaled(values, scale, name, src):
    try:
        arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError):
        raise ReaderError(f"burst analyser: dataset {name}, column {src}: values that are not "
                          "numbers") from None
    return arr * scale if scale != 1.0 else arr
