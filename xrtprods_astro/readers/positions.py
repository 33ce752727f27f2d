# Licensed under a 3-clause BSD style license - see LICENSE
"""
Readers for the standard, enhanced and astrometric positions.

Two sources: the JSON answers of ``getPSFPos.php``, ``getEnhPos.php`` and
``getAstromPos.php`` (protocol §2.4), and the files of the ``psf``, ``enh``
and ``xastrom`` archives (protocol §6.3-6.5). "No position" is a result,
`Position.found` False with a `Position.reason`, never an exception.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, SkyCoord

from ..exceptions import InvalidRequestError, ReaderError
from .jobs import _as_bool, _load_json

__all__ = ["Position", "read_position", "read_position_files", "POSITION_KINDS"]

log = logging.getLogger("xrtprods_astro.readers")

#: Canonical kinds and the names accepted for them (product codes and
#: the swifttools long names).
POSITION_KINDS = {
    "standard": ("standard", "psf", "standardpos", "standard_position"),
    "enhanced": ("enhanced", "enh", "enhancedpos", "enhanced_position"),
    "astrometric": ("astrometric", "xastrom", "astrompos", "astrometric_position"),
}

NO_POSITION_REASON = "No position could be determined."


def _kind(kind):
    text = str(kind).strip().lower()
    for canonical, aliases in POSITION_KINDS.items():
        if text in aliases:
            return canonical
    raise InvalidRequestError(f"kind: {kind!r} is not a position kind; allowed: "
                              "'standard' ('psf'), 'enhanced' ('enh'), 'astrometric' ('xastrom')")


@dataclass
class Position:
    """One XRT position, or the explicit statement that there is none.

    Attributes
    ----------
    kind : str
        ``"standard"``, ``"enhanced"`` or ``"astrometric"``.
    found : bool
        Whether a position was determined.
    coord : `~astropy.coordinates.SkyCoord` or None
        The position (ICRS; the service gives J2000 decimal degrees).
    err90 : `~astropy.units.Quantity` or None
        90% confidence radial error, arcsec (systematics included).
    from_sxps : bool
        The position was copied from the SXPS catalogue, not computed.
    which_sxps : str or None
        The catalogue, e.g. ``"2SXPS"``, when ``from_sxps``.
    reason : str or None
        Why there is no position, when ``found`` is False.
    job_id : str or int or None
        The job this position belongs to.
    details : dict
        Further facts from the files: e.g. ``piled_up``, ``sxps_id``,
        ``n_overlaps``, or the astrometric correction (``ra_shift``,
        ``dec_shift``, ``roll_correction``, ``correction_err90``).
    """

    kind: str
    found: bool
    coord: SkyCoord = None
    err90: u.Quantity = None
    from_sxps: bool = False
    which_sxps: str = None
    reason: str = None
    job_id: object = None
    details: dict = field(default_factory=dict)

    def __bool__(self):
        return bool(self.found)

    @property
    def ra(self):
        """Right ascension (`~astropy.coordinates.Longitude`), or None."""
        return None if self.coord is None else self.coord.ra

    @property
    def dec(self):
        """Declination (`~astropy.coordinates.Latitude`), or None."""
        return None if self.coord is None else self.coord.dec

    def __repr__(self):
        job = f" job {self.job_id}" if self.job_id is not None else ""
        if not self.found:
            return f"<Position {self.kind}{job}: none found ({self.reason})>"
        origin = f", from {self.which_sxps or 'SXPS'}" if self.from_sxps else ""
        hms = self.coord.to_string("hmsdms", precision=2)
        return (f"<Position {self.kind}{job}: RA={self.coord.ra.deg:.5f} deg, "
                f"Dec={self.coord.dec.deg:.5f} deg ({hms}), "
                f"err90={self.err90.to_value(u.arcsec):.2f} arcsec{origin}>")

    def _repr_html_(self):
        from ..display import position_html
        return position_html(self)


def _number(value, what):
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise ReaderError(f"{what}: {value!r} is not a number") from None
    if not np.isfinite(number):
        raise ReaderError(f"{what}: {value!r} is not a finite number")
    return number


def _make_coord(ra, dec, what):
    ra, dec = _number(ra, f"{what} RA"), _number(dec, f"{what} Dec")
    if not (0 <= ra <= 360 and -90 <= dec <= 90):
        raise ReaderError(f"{what}: RA={ra}, Dec={dec} is not a sky position in degrees")
    # The same SkyCoord as SkyCoord(ra, dec, frame="icrs"), without parsing the arguments (a third
    # of the cost).
    return SkyCoord(ICRS(ra=ra * u.deg, dec=dec * u.deg), copy=False)


def read_position(data, kind, *, job_id=None):
    """Read a position answer of the service.

    Parameters
    ----------
    data : dict, str, bytes or path
        The decoded answer of ``getPSFPos.php``, ``getEnhPos.php`` or
        ``getAstromPos.php`` (keys ``GotPos``, ``RA``, ``Dec``, ``Err90``,
        ``FromSXPS``, ``WhichSXPS``; numbers may come as strings), its JSON
        text, or the client-style "no position" form
        ``{"GotPos": False, "Reason": "..."}``.
    kind : str
        ``"standard"`` (or ``"psf"``), ``"enhanced"`` (``"enh"``) or
        ``"astrometric"`` (``"xastrom"``).
    job_id : str or int, optional
        Recorded in the result.

    Returns
    -------
    `Position`
        With ``found`` False and a ``reason`` when there is no position.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the answer is malformed (no ``GotPos``, a position without
        coordinates, values that are not numbers).

    Examples
    --------
    >>> from xrtprods_astro.readers.positions import read_position
    >>> pos = read_position({"GotPos": 1, "RA": "335.69850", "Dec": "-7.51790",
    ...                      "Err90": "1.43", "FromSXPS": 0}, "standard")
    >>> pos.err90
    <Quantity 1.43 arcsec>
    """
    kind = _kind(kind)
    obj = _load_json(data, f"{kind} position")
    if not isinstance(obj, dict):
        raise ReaderError(f"{kind} position: expected a JSON object, got {type(obj).__name__}")
    if "GotPos" not in obj:
        raise ReaderError(f"{kind} position: the answer has no 'GotPos' key "
                          f"(keys: {', '.join(sorted(obj)) or 'none'})")
    got = _as_bool(obj["GotPos"], f"{kind} position: GotPos")
    if not got:
        reason = str(obj.get("Reason") or obj.get("ERROR") or NO_POSITION_REASON)
        return Position(kind=kind, found=False, reason=reason, job_id=job_id)
    missing = [key for key in ("RA", "Dec", "Err90") if key not in obj]
    if missing:
        raise ReaderError(f"{kind} position: GotPos is set but {', '.join(missing)} missing")
    coord = _make_coord(obj["RA"], obj["Dec"], f"{kind} position")
    err90 = _number(obj["Err90"], f"{kind} position: Err90") * u.arcsec
    from_sxps = _as_bool(obj.get("FromSXPS", 0), f"{kind} position: FromSXPS")
    which = obj.get("WhichSXPS")
    which = str(which).strip() if which not in (None, "") and from_sxps else None
    return Position(kind=kind, found=True, coord=coord, err90=err90, from_sxps=from_sxps,
                    which_sxps=which, job_id=job_id)


# --- archive files -----------------------------------------------------------------------------

def _find(directory, name):
    """The file ``name`` in ``directory``, or in exactly one sub-directory of it."""
    path = directory / name
    if path.is_file():
        return path
    matches = sorted(p for p in directory.rglob(name) if p.is_file())
    if len(matches) > 1:
        raise ReaderError(f"{directory}: several {name} files ({', '.join(map(str, matches))}); "
                          "give the product's own directory")
    return matches[0] if matches else None


def _lines(path):
    return [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]


def _read_insxps(path, kind, job_id):
    lines = _lines(path)
    if len(lines) < 4:
        raise ReaderError(f"{path}: expected SXPS ID, RA, Dec, Err90, ... one per line, "
                          f"got {len(lines)} lines")
    coord = _make_coord(lines[1], lines[2], str(path))
    err90 = _number(lines[3], f"{path}: Err90") * u.arcsec
    details = {"sxps_id": lines[0]}
    if len(lines) > 6:
        details["sxps_obsid"] = lines[6]
    which = lines[7] if len(lines) > 7 else None
    return Position(kind=kind, found=True, coord=coord, err90=err90, from_sxps=True,
                    which_sxps=which, job_id=job_id, details=details)


def _read_results_dat(path, kind, job_id):
    text = path.read_text(errors="replace").strip()
    if not text or text.split()[0].upper() == "NOPOS":
        return Position(kind=kind, found=False, reason=NO_POSITION_REASON + " (results.dat: NOPOS)",
                        job_id=job_id)
    fields = text.splitlines()[0].split("\t")
    if len(fields) < 5:
        fields = text.splitlines()[0].split()
    if len(fields) < 5:
        raise ReaderError(f"{path}: expected RA, Dec, RA, Dec (sexagesimal), Err90, ... "
                          f"tab-separated, got {text[:80]!r}")
    coord = _make_coord(fields[0], fields[1], str(path))
    err90 = _number(fields[4], f"{path}: Err90") * u.arcsec
    details = {}
    if len(fields) > 5:
        details["piled_up"] = _as_bool(fields[5].strip(), f"{path}: piled-up flag")
    if len(fields) > 6:
        details["matched_source"] = int(_number(fields[6], f"{path}: source number"))
    if len(fields) > 10:
        details["psf_parameters"] = dict(zip(("S", "l", "c", "tau"),
                                             (_number(v, f"{path}: PSF parameter") for v in fields[7:11])))
    return Position(kind=kind, found=True, coord=coord, err90=err90, job_id=job_id, details=details)


def _read_success_txt(path, kind, job_id):
    lines = _lines(path)
    if len(lines) < 11:
        raise ReaderError(f"{path}: expected 11 lines (name, targetIDs, overlaps, exposure, outliers, "
                          f"excluded time, RA, Dec, RA, Dec (sexagesimal), Err90), got {len(lines)}")
    coord = _make_coord(lines[6], lines[7], str(path))
    err90 = _number(lines[10], f"{path}: Err90") * u.arcsec
    details = {
        "name": lines[0],
        "targets": lines[1],
        "n_overlaps": int(_number(lines[2], f"{path}: number of overlaps")),
        "overlap_exposure": _number(lines[3], f"{path}: overlap exposure") * u.s,
        "n_outliers": int(_number(lines[4], f"{path}: number of outliers")),
        "excluded_time": _number(lines[5], f"{path}: excluded time") * u.s,
    }
    return Position(kind=kind, found=True, coord=coord, err90=err90, job_id=job_id, details=details)


def _read_corrpos(path, kind, job_id):
    lines = path.read_text(errors="replace").strip().splitlines()
    line = lines[0] if lines else ""   # a file of blanks is as empty as an empty one
    fields = line.split("\t") if "\t" in line else line.split()
    if len(fields) < 5:
        raise ReaderError(f"{path}: expected RA, Dec, RA, Dec (sexagesimal), Err90 tab-separated, "
                          f"got {line[:80]!r}")
    coord = _make_coord(fields[0], fields[1], str(path))
    err90 = _number(fields[4], f"{path}: Err90") * u.arcsec
    return Position(kind=kind, found=True, coord=coord, err90=err90, job_id=job_id)


def _read_xastrom_corr(path):
    line = path.read_text(errors="replace").strip()
    fields = line.split()
    if len(fields) < 4:
        raise ReaderError(f"{path}: expected RA shift, Dec shift, roll correction, 90% error, "
                          f"got {line[:80]!r}")
    values = [_number(v, f"{path}") for v in fields[:4]]
    return {"ra_shift": values[0] * u.arcsec, "dec_shift": values[1] * u.arcsec,
            "roll_correction": values[2] * u.arcmin, "correction_err90": values[3] * u.arcsec}


def read_position_files(directory, kind, *, job_id=None):
    """Read a position from the files of a ``psf``, ``enh`` or ``xastrom`` archive.

    Parameters
    ----------
    directory : str or path
        The unpacked product directory (or a directory holding exactly one
        such product below it).
    kind : str
        ``"standard"``, ``"enhanced"`` or ``"astrometric"`` (or ``"psf"``,
        ``"enh"``, ``"xastrom"``).
    job_id : str or int, optional
        Recorded in the result.

    Returns
    -------
    `Position`
        Standard: from ``INSXPS`` (SXPS catalogue position) or
        ``results.dat``; ``NOPOS`` (as a file or as the content of
        ``results.dat``) gives ``found`` False. Enhanced: from
        ``success.txt``. Astrometric: from ``INSXPS`` or ``corrpos.dat``,
        with the correction of ``xastrom_corr.dat`` in ``details``; a
        ``NOCORR`` file gives ``found`` False (too few X-ray/2MASS matches).

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the directory does not exist, holds none of the expected files, or
        a file is malformed.
    """
    kind = _kind(kind)
    directory = Path(directory)
    if not directory.is_dir():
        raise ReaderError(f"directory: {directory} is not a directory")
    insxps = _find(directory, "INSXPS")

    if kind == "standard":
        if insxps is not None:
            return _read_insxps(insxps, kind, job_id)
        results = _find(directory, "results.dat")
        if results is not None:
            return _read_results_dat(results, kind, job_id)
        if _find(directory, "NOPOS") is not None:
            return Position(kind=kind, found=False, reason=NO_POSITION_REASON + " (NOPOS)", job_id=job_id)
        raise ReaderError(f"{directory}: no INSXPS, results.dat or NOPOS file: not a standard-position "
                          "product directory")

    if kind == "enhanced":
        success = _find(directory, "success.txt")
        if success is not None:
            return _read_success_txt(success, kind, job_id)
        return Position(kind=kind, found=False, job_id=job_id,
                        reason="No enhanced position could be determined (no success.txt).")

    # astrometric
    correction = _find(directory, "xastrom_corr.dat")
    details = _read_xastrom_corr(correction) if correction is not None else {}
    if insxps is not None:
        position = _read_insxps(insxps, kind, job_id)
        position.details.update(details)
        return position
    corrpos = _find(directory, "corrpos.dat")
    if corrpos is not None:
        position = _read_corrpos(corrpos, kind, job_id)
        position.details.update(details)
        return position
    if _find(directory, "NOCORR") is not None:
        return Position(kind=kind, found=False, job_id=job_id, details=details,
                        reason="No astrometric correction could be made: too few X-ray/2MASS "
                               "matches (NOCORR).")
    raise ReaderError(f"{directory}: no INSXPS, corrpos.dat or NOCORR file: not an astrometric-position "
                      "product directory")
