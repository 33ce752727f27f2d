# Licensed under a 3-clause BSD style license - see LICENSE
"""
Readers for the answers of the UKSSDC GRB repository (``API/main.php``) that the product
generator's readers do not already cover.

* `read_grb_positions`: the flat ``getGRBPositions`` answer (``Best_RA``, ``Best_Decl``,
  ``Best_Err90``, ``Enhanced_RA``...) as one `~xrtprods_astro.readers.positions.Position` per kind.
* `read_grb_spectral_fits`: the ``downloadSpectrum`` answer as the fit table of
  `~xrtprods_astro.readers.spectrum.read_spectral_fits`, with each fitted parameter flagged
  frozen or free.

Light curves need no reader of their own: ``downloadLightCurve`` answers in the product
generator's layout, read by `~xrtprods_astro.readers.lightcurve.read_lightcurve_json`.
"""
import numpy as np
from astropy import units as u
from astropy.table import Column

from ..exceptions import ReaderError
from .positions import Position, _make_coord, _number
from .spectrum import read_spectral_fits

__all__ = ["read_grb_positions", "read_grb_spectral_fits", "GRB_POSITION_KINDS", "FROZEN_COLUMNS"]

#: Position kinds of the repository: our name -> the service's key prefix, in the service's
#: precedence for "best" (spec §8: Enhanced, else Standard, else SPER, else on-board).
GRB_POSITION_KINDS = {"best": "Best", "enhanced": "Enhanced", "standard": "Standard", "sper": "SPER",
                      "onboard": "Onboard"}

#: Fit-table column of a parameter -> the service keys of its value and its two errors.
FROZEN_COLUMNS = {"nh": ("NH", "NHPos", "NHNeg"), "gamma": ("Gamma", "GammaPos", "GammaNeg"),
                  "kt": ("kT", "kTPos", "kTNeg"),
                  "galactic_nh": ("GalacticNH", "GalacticNHPos", "GalacticNHNeg"),
                  "redshift": ("Redshift_abs", "Redshift_absPos", "Redshift_absNeg")}


def read_grb_positions(data, *, target_id=None):
    """Read a ``getGRBPositions`` answer.

    Parameters
    ----------
    data : dict
        The answer without its envelope: ``<Kind>_RA``, ``<Kind>_Decl`` (decimal degrees) and
        ``<Kind>_Err90`` (arcsec; the service sends ``Best_Err90`` as a string, the others as
        numbers) for each kind asked for; ``null`` values where the repository has no position.
    target_id : int, optional
        Recorded in each position's ``details``.

    Returns
    -------
    dict
        Our kind name (``"best"``, ``"enhanced"``, ``"standard"``, ``"sper"``, ``"onboard"``) ->
        `~xrtprods_astro.readers.positions.Position`, for the kinds in the answer, in the
        service's precedence order. A kind with null values is a Position with ``found`` False
        and a ``reason``. The best position's ``details["from"]`` names the kind it was taken
        from, when another kind in the answer has the same coordinates and error.

    Raises
    ------
    `~xrtprods_astro.exceptions.ReaderError`
        A kind with some values null and others not, numbers that are not numbers, or an answer
        with no position keys at all.
    """
    if not isinstance(data, dict):
        raise ReaderError(f"GRB positions: expected a JSON object, got {type(data).__name__}")
    out = {}
    for ours, theirs in GRB_POSITION_KINDS.items():
        keys = [f"{theirs}_RA", f"{theirs}_Decl", f"{theirs}_Err90"]
        if not any(k in data for k in keys):
            continue
        values = [data.get(k) for k in keys]
        details = {"target_id": target_id}
        if all(v in (None, "") for v in values):
            out[ours] = Position(kind=ours, found=False, details=details,
                                 reason=f"The GRB repository has no {theirs} position for this GRB.")
            continue
        if any(v in (None, "") for v in values):
            raise ReaderError(f"GRB positions: {theirs} has only some of RA, Decl and Err90: "
                              f"{dict(zip(keys, values))}")
        coord = _make_coord(values[0], values[1], f"GRB positions: {theirs}")
        err = _number(values[2], f"GRB positions: {theirs}_Err90") * u.arcsec
        out[ours] = Position(kind=ours, found=True, coord=coord, err90=err, details=details)
    if not out:
        raise ReaderError("GRB positions: the answer has no <Kind>_RA/_Decl/_Err90 keys "
                          f"(keys: {', '.join(sorted(data)) or 'none'})")
    best = out.get("best")
    if best is not None and best.found:
        for kind, pos in out.items():
            if (kind != "best" and pos.found and pos.coord.separation(best.coord) < 1e-3 * u.arcsec
                    and abs(pos.err90 - best.err90) < 0.01 * u.arcsec):
                best.details["from"] = kind
                break
    return out


def _frozen_flags(data, table):
    """Per row and parameter: True when the answer gives the value without errors (frozen)."""
    flags = {name: np.zeros(len(table), dtype=bool) for name in FROZEN_COLUMNS}
    for i, row in enumerate(table):
        if row["status"] != "ok":
            continue
        fit = data.get(row["interval"], {}).get(row["mode"], {}).get(row["model"], {})
        lower = {str(k).lower(): v for k, v in fit.items()}
        for name, (value, pos, neg) in FROZEN_COLUMNS.items():
            has_value = lower.get(value.lower()) not in (None, "")
            errors = [lower.get(k.lower()) for k in (pos, neg)]
            no_errors = all(e in (None, "") or float(e) == 0 for e in errors)
            flags[name][i] = has_value and no_errors
    return flags


def read_grb_spectral_fits(data, *, target_id=None, grb=None, utcf=None):
    """Read a ``downloadSpectrum`` answer into a fit table with frozen parameters flagged.

    Parameters
    ----------
    data : dict
        The answer without its envelope (``T0``, ``DeltaFitStat``, ``rnames``, one entry per
        interval; or ``NoSpectrum``).
    target_id : int, optional
    grb : str, optional
        Recorded in the meta.
    utcf : float or `~astropy.units.Quantity`, optional
        The Swift clock correction for the absolute times (see
        `~xrtprods_astro.readers.spectrum.read_spectral_fits`).

    Returns
    -------
    `~astropy.table.Table`
        The table of `~xrtprods_astro.readers.spectrum.read_spectral_fits` (units on every
        physical column, errors as positive magnitudes), plus boolean columns ``nh_frozen``,
        ``gamma_frozen``, ``kt_frozen``, ``galactic_nh_frozen`` and ``redshift_frozen``: True
        where the fit gives the parameter's value with no errors, which is how the repository
        reports a parameter held fixed (Galactic NH always; the redshift of the intrinsic
        absorber when known). ``meta`` adds ``grb`` and ``target_id``.
    """
    table = read_spectral_fits(data, job_id=None, utcf=utcf)
    flags = _frozen_flags(data, table) if len(table) else {n: np.zeros(0, bool) for n in FROZEN_COLUMNS}
    columns, indexes = [], []
    for name, values in flags.items():
        indexes.append(table.colnames.index(f"{name}_err_neg") + 1 if f"{name}_err_neg" in table.colnames
                       else table.colnames.index(name) + 1)
        columns.append(Column(values, name=f"{name}_frozen", description=f"{name} was held fixed in the fit"))
    # One insertion of the five columns (each add_column rebuilds the table's column list).
    table.add_columns(columns, indexes=indexes)
    table.meta["grb"], table.meta["target_id"] = grb, target_id
    return table
