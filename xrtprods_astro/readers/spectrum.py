# Licensed under a 3-clause BSD style license - see LICENSE
"""
Readers for spectra: the automatic fits (``getSpecData.php``, protocol §5.2)
and the ``<rname>.tar.gz`` spectrum archives (protocol §6.2).
"""
import io
import logging
import os
import re
import shutil
import tarfile
import tempfile
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table
from astropy.utils.masked import Masked

from ..exceptions import ReaderError
from ..times import clock_accuracy, clock_utcf, met_to_time, utcf_from_header, utcf_near
from .images import read_fits_bytes
from .jobs import _load_json

__all__ = ["read_spectral_fits", "read_spectrum_archive", "read_fit_file", "read_areas_file",
           "SpectrumProducts", "ModeProducts", "FitValue", "SPECTRAL_FIT_COLUMNS"]

log = logging.getLogger("xrtprods_astro.readers")

FLUX_UNIT = u.erg / u.cm**2 / u.s
NH_UNIT = u.cm**-2

#: Column name -> (unit, dtype) of the table returned by `read_spectral_fits`.
SPECTRAL_FIT_COLUMNS = OrderedDict([
    ("interval", (None, str)), ("mode", (None, str)), ("model", (None, str)),
    ("start", (u.s, float)), ("stop", (u.s, float)), ("mean_time", (u.s, float)),
    ("exposure", (u.s, float)),
    ("nh", (NH_UNIT, float)), ("nh_err_pos", (NH_UNIT, float)), ("nh_err_neg", (NH_UNIT, float)),
    ("galactic_nh", (NH_UNIT, float)), ("redshift", (u.dimensionless_unscaled, float)),
    ("gamma", (u.dimensionless_unscaled, float)), ("gamma_err_pos", (u.dimensionless_unscaled, float)),
    ("gamma_err_neg", (u.dimensionless_unscaled, float)),
    ("kt", (u.keV, float)), ("kt_err_pos", (u.keV, float)), ("kt_err_neg", (u.keV, float)),
    ("obs_flux", (FLUX_UNIT, float)), ("obs_flux_err_pos", (FLUX_UNIT, float)),
    ("obs_flux_err_neg", (FLUX_UNIT, float)),
    ("unabs_flux", (FLUX_UNIT, float)), ("unabs_flux_err_pos", (FLUX_UNIT, float)),
    ("unabs_flux_err_neg", (FLUX_UNIT, float)),
    ("cstat", (None, float)), ("dof", (None, np.int64)), ("fit_chi", (None, float)),
    ("plot_url", (None, str)), ("data_file", (None, str)), ("status", (None, str)),
])

# Service key (lower case) -> (column, kind); kind "err" values become positive magnitudes.
_MODEL_KEYS = {
    "nh": ("nh", "value"), "nhpos": ("nh_err_pos", "err"), "nhneg": ("nh_err_neg", "err"),
    "galacticnh": ("galactic_nh", "value"), "redshift_abs": ("redshift", "value"),
    "gamma": ("gamma", "value"), "gammapos": ("gamma_err_pos", "err"), "gammaneg": ("gamma_err_neg", "err"),
    "kt": ("kt", "value"), "ktpos": ("kt_err_pos", "err"), "ktneg": ("kt_err_neg", "err"),
    "obsflux": ("obs_flux", "value"), "obsfluxpos": ("obs_flux_err_pos", "err"),
    "obsfluxneg": ("obs_flux_err_neg", "err"),
    "unabsflux": ("unabs_flux", "value"), "unabsfluxpos": ("unabs_flux_err_pos", "err"),
    "unabsfluxneg": ("unabs_flux_err_neg", "err"),
    "cstat": ("cstat", "value"), "dof": ("dof", "int"), "fitchi": ("fit_chi", "value"),
}

STATUS_OK = "ok"
STATUS_NO_SPECTRUM = "no spectrum"
STATUS_NO_FIT = "no fit"
STATUS_FIT_FAILED = "fit failed"


def _num(value, what):
    if isinstance(value, (bool, np.bool_)):
        raise ReaderError(f"{what}: {value!r} is not a number")
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        raise ReaderError(f"{what}: {value!r} is not a number") from None


def _flagged(mapping, flag):
    """Whether a NOSPEC/NOFIT-style flag is set: its presence is what matters,
    unless it is an explicit false/0."""
    if flag not in mapping:
        return False
    value = mapping[flag]
    return not (value is False or value == 0 or (isinstance(value, str) and value.strip() in ("0", "")))


# Units of the table's columns, for Table(units=...).
_UNITS = {name: unit for name, (unit, _) in SPECTRAL_FIT_COLUMNS.items() if unit is not None}
# Columns every row sets: plain columns, except in an empty table, where every column is masked.
_ALWAYS_SET = ("interval", "status", "data_file")


def _fit_table(rows, meta):
    """The fit table of ``rows`` (dicts column -> value, an absent value masked), in one Table.

    Adding columns one by one re-checks the table each time, and each Column made here would be
    made again by the Table: it gets whole arrays instead.
    """
    columns = {}
    for name, (unit, dtype) in SPECTRAL_FIT_COLUMNS.items():
        data = np.array([row.get(name, "" if dtype is str else 0) for row in rows], dtype=dtype)
        if rows and name in _ALWAYS_SET:
            columns[name] = data
        else:
            absent = np.array([name not in row for row in rows], dtype=bool)
            columns[name] = np.ma.MaskedArray(data, mask=absent)
        if name == "mean_time":
            try:
                columns.update(_time_columns(columns, len(rows), meta["t0_met"], meta["utcf"]))
            except ReaderError:
                raise
            except ValueError as exc:   # T0 plus a fit's times out of Swift's MET range
                raise ReaderError(f"spectral fits: {exc}") from None
    table = Table(list(columns.values()), names=list(columns), copy=False, units=_UNITS)
    table.meta.update(meta)
    return table


def read_spectral_fits(data, *, job_id=None, utcf=None):
    """Read the automatic spectral fits (the ``getSpecData.php`` answer).

    Parameters
    ----------
    data : dict, str, bytes or path
        The decoded "spectrum dict" (protocol §5.2), its JSON text or a file.
    job_id : str or int, optional
        Recorded in the meta.
    utcf : float or `~astropy.units.Quantity`, optional
        Swift's clock correction UTCF (e.g. ``ModeProducts.utcf``, from the
        spectrum's ``UTCFINIT``), applied to the absolute times; see
        `xrtprods_astro.times.met_to_time`. The answer itself gives T0 in MET
        only.

    Returns
    -------
    `~astropy.table.Table`
        One row per (interval, mode, model), in the answer's order, with the
        columns of `SPECTRAL_FIT_COLUMNS`: ``interval``, ``mode``, ``model``;
        ``start``, ``stop``, ``mean_time`` (s since T0) and ``exposure`` (s);
        ``nh``, ``galactic_nh`` (cm^-2), ``redshift``, ``gamma``, ``kt`` (keV),
        ``obs_flux``, ``unabs_flux`` (erg cm^-2 s^-1), each fitted value with
        ``_err_pos`` / ``_err_neg`` errors as positive magnitudes; ``cstat``,
        ``dof``, ``fit_chi``; ``plot_url``; ``data_file`` (the interval's
        archive URL) and ``status``. When T0 is known the `~astropy.time.Time`
        columns ``time_start``, ``time_stop`` and ``time_mean`` (UTC, clock
        corrected with ``utcf`` or else the bundled clock table) follow ``mean_time``.

        ``status`` says what each row is: ``"ok"`` (a fit);
        ``"no spectrum"`` (NOSPEC: one row for the interval, mode and model
        empty); ``"no fit"`` (NOFIT at mode level: fitting was not asked for,
        one row for the mode, model empty); ``"fit failed"`` (NOFIT at model
        level). Values that do not apply are masked.

        ``meta``: ``job_id``, ``t0`` (`~astropy.time.Time` or None),
        ``t0_met``, ``delta_fit_stat``, ``galactic_nh_unfitted`` (cm^-2
        Quantity or None), ``no_spectrum`` (True when the service said
        NoSpectrum: the table is then empty), ``utcf`` (s, the one applied:
        the caller's or the clock table's at T0; None without T0),
        ``time_source`` (``utcf``, or ``clock table`` when no ``utcf`` was
        given; None without T0) and ``time_error`` (how far the clock
        table's times may be from UTC, `~xrtprods_astro.times.clock_accuracy`,
        or None).

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the answer does not have the documented structure.
    """
    obj = _load_json(data, "spectral fits")
    if not isinstance(obj, dict):
        raise ReaderError(f"spectral fits: expected a JSON object, got {type(obj).__name__}")
    meta = OrderedDict(job_id=job_id, t0=None, t0_met=None, delta_fit_stat=None,
                       galactic_nh_unfitted=None, no_spectrum=False, utcf=None, time_source=None,
                       time_error=None)
    if utcf is not None:
        meta["utcf"] = float(utcf.to_value(u.s)) if isinstance(utcf, u.Quantity) else float(utcf)
    if "T0" in obj and obj["T0"] not in (None, ""):
        meta["t0_met"] = _num(obj["T0"], "spectral fits: T0")
        try:
            met_to_time(meta["t0_met"], utcf=0.0)   # a MET no Swift clock holds is the answer's fault
        except ValueError as exc:
            raise ReaderError(f"spectral fits: T0: {exc}") from None
        if meta["utcf"] is None:
            # No correction stated for this job: the bundled clock table's at T0, with its bound;
            # one UTCF for all the times of the product, as with a stated one.
            meta["utcf"] = round(float(clock_utcf(meta["t0_met"])), 6)
            meta["time_source"] = "clock table"
            meta["time_error"] = round(clock_accuracy(meta["t0_met"]), 3) * u.s
            log.warning("spectral fits: T0 (MET %.3f) converted to UTC with the bundled Swift clock "
                        "table, good to %.3f s; the job's t0.date or UTCFINIT (utcf=) states it to 1 ms",
                        meta["t0_met"], meta["time_error"].to_value(u.s))
        else:
            meta["time_source"] = "utcf"
        meta["t0"] = met_to_time(meta["t0_met"], utcf=meta["utcf"])
    if obj.get("DeltaFitStat") not in (None, ""):
        meta["delta_fit_stat"] = _num(obj["DeltaFitStat"], "spectral fits: DeltaFitStat")
    if obj.get("GalNH_unfitted") not in (None, ""):
        meta["galactic_nh_unfitted"] = _num(obj["GalNH_unfitted"], "spectral fits: GalNH_unfitted") * NH_UNIT

    if _flagged(obj, "NoSpectrum"):
        meta["no_spectrum"] = True
        return _fit_table([], meta)

    if "rnames" not in obj:
        raise ReaderError("spectral fits: the answer has neither 'rnames' nor 'NoSpectrum' "
                          f"(keys: {', '.join(sorted(obj)) or 'none'})")
    rnames = obj["rnames"]
    if isinstance(rnames, str):
        rnames = [rnames]
    if not isinstance(rnames, list):
        raise ReaderError(f"spectral fits: 'rnames' must be a list, got {type(rnames).__name__}")

    rows = []
    for rname in rnames:
        rname = str(rname)
        where = f"spectral fits: interval {rname!r}"
        interval = obj.get(rname)
        if not isinstance(interval, dict):
            raise ReaderError(f"{where}: listed in rnames but its entry is "
                              f"{'missing' if interval is None else type(interval).__name__}")
        base = {"interval": rname, "data_file": str(interval.get("DataFile", "") or "")}
        for key, column in (("Start", "start"), ("Stop", "stop")):
            if interval.get(key) not in (None, ""):
                base[column] = _num(interval[key], f"{where}: {key}")
        if _flagged(interval, "NOSPEC"):
            rows.append(dict(base, status=STATUS_NO_SPECTRUM))
            continue
        modes = interval.get("Modes")
        if isinstance(modes, str):
            modes = [modes]
        if not isinstance(modes, list):
            raise ReaderError(f"{where}: no 'Modes' list and no NOSPEC flag")
        for mode in modes:
            mode = str(mode)
            mwhere = f"{where}, mode {mode!r}"
            mdata = interval.get(mode)
            if not isinstance(mdata, dict):
                raise ReaderError(f"{mwhere}: listed in Modes but its entry is missing")
            mrow = dict(base, mode=mode.upper())
            for key, column in (("MeanTime", "mean_time"), ("Exposure", "exposure")):
                if mdata.get(key) not in (None, ""):
                    mrow[column] = _num(mdata[key], f"{mwhere}: {key}")
            models = mdata.get("Models")
            if isinstance(models, str):
                models = [models]
            if _flagged(mdata, "NOFIT") or not models:
                rows.append(dict(mrow, status=STATUS_NO_FIT))
                continue
            if not isinstance(models, list):
                raise ReaderError(f"{mwhere}: 'Models' must be a list")
            for model in models:
                model = str(model)
                fwhere = f"{mwhere}, model {model!r}"
                fit = mdata.get(model)
                if not isinstance(fit, dict):
                    raise ReaderError(f"{fwhere}: listed in Models but its entry is missing")
                row = dict(mrow, model=model)
                if _flagged(fit, "NOFIT"):
                    rows.append(dict(row, status=STATUS_FIT_FAILED))
                    continue
                for key, value in fit.items():
                    target = _MODEL_KEYS.get(key.lower())
                    if target is None or value in (None, ""):
                        continue
                    column, kind = target
                    number = _num(value, f"{fwhere}: {key}")
                    if kind == "err":
                        number = abs(number)
                    elif kind == "int":
                        # The column holds 64-bit integers: a larger one cannot be stored.
                        if not np.isfinite(number) or number != int(number) or abs(number) >= 2**63:
                            raise ReaderError(f"{fwhere}: {key} = {value!r} is not an integer")
                        number = int(number)
                    row[column] = number
                if fit.get("Image"):
                    row["plot_url"] = str(fit["Image"])
                rows.append(dict(row, status=STATUS_OK))

    table = _fit_table(rows, meta)
    from ..display import set_display_formats
    return set_display_formats(table)   # print to the data's precision; the data are untouched


def _time_columns(columns, nrows, t0_met, utcf=None):
    """Time columns for start, stop and mean time when T0 is known (name -> Time)."""
    if t0_met is None:
        return {}
    sources = (("start", "time_start"), ("stop", "time_stop"), ("mean_time", "time_mean"))
    masks = [np.ma.getmaskarray(columns[source]) for source, _ in sources]
    seconds = np.concatenate([np.ma.filled(np.ma.asarray(columns[source], dtype=float), 0.0)
                              for source, _ in sources])
    # One conversion for the three columns (each Time costs far more than its values), split after.
    # The UTCF at T0 carried to each time by the clock table's change (a few ms a day).
    times = met_to_time(t0_met + seconds, utcf=utcf_near(utcf, t0_met))
    # Without UTCF that is astropy's cached, read-only UTC of a TT time: a copy can be masked
    # and edited like any column.
    times = times if times.writeable else times.copy()
    times.format = "isot"
    out = {}
    for index, ((_, name), mask) in enumerate(zip(sources, masks)):
        part = times[index * nrows:(index + 1) * nrows]
        if mask.any():
            part[mask] = np.ma.masked
        out[name] = part
    return out


# --- the *_fit.fit file -------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_PARAM_LINE = re.compile(rf"^(?P<name>[A-Za-z_][A-Za-z0-9_ ]*?)\s+(?P<v>{_NUM})\s*\(\s*(?P<lo>{_NUM})\s*,"
                         rf"\s*(?P<hi>{_NUM})\s*\)\s*(?P<unit>.*)$", re.IGNORECASE)
_ASSIGN = re.compile(rf"^\s*(?P<name>[A-Za-z][A-Za-z0-9_ ]*?)\s*[=:]\s*(?P<v>{_NUM})\s*$", re.IGNORECASE)

# Parameter name in the file (lower case) -> (key, unit, factor).
_FIT_PARAMS = {
    "gal_nh": ("galactic_nh", NH_UNIT, 1e22),
    "excess_nh": ("excess_nh", NH_UNIT, 1e22),
    "nh": ("excess_nh", NH_UNIT, 1e22),
    "z_abs": ("z_abs", u.dimensionless_unscaled, 1),
    "gamma": ("gamma", u.dimensionless_unscaled, 1),
    "kt": ("kt", u.keV, 1),
    "obs flux": ("obs_flux", FLUX_UNIT, 1),
    "unabs flux": ("unabs_flux", FLUX_UNIT, 1),
}
_FIT_SCALARS = {
    "cstat": ("cstat", None), "dof": ("dof", int), "fitchi": ("fit_chi", None),
    "file count rate": ("count_rate", u.ct / u.s), "corr factor": ("corr_factor", None),
    "ontime": ("ontime", u.s),
}


@dataclass(frozen=True)
class FitValue:
    """A fitted value with the lower and upper bounds of its confidence range.

    Attributes
    ----------
    value, lo, hi : `~astropy.units.Quantity`
        Best fit and absolute bounds (not offsets), in the same unit. For a
        frozen parameter ``lo`` and ``hi`` (and so `err_pos`, `err_neg`) are
        masked quantities (`~astropy.utils.masked.Masked`): there is no range.
    frozen : bool
        True when the parameter was fixed in the fit; UKSSDC writes such a
        parameter with the bounds ``(0, 0)`` (Galactic NH, redshift).
    """

    value: u.Quantity
    lo: u.Quantity
    hi: u.Quantity
    frozen: bool = False

    @property
    def err_pos(self):
        """Upper error as a positive magnitude."""
        return self.hi - self.value

    @property
    def err_neg(self):
        """Lower error as a positive magnitude."""
        return self.value - self.lo


def read_fit_file(source):
    """Read a ``*_fit.fit`` fit summary of a spectrum archive.

    Parameters
    ----------
    source : str or path
        The file's path, or its text when the string holds a newline.

    Returns
    -------
    dict or None
        None for an empty (0-byte or blank) file: UKSSDC writes those when no
        fit was made, which is not an error. Otherwise keys
        ``galactic_nh`` and ``excess_nh`` (cm^-2, converted from the file's
        10^22 cm^-2), ``z_abs``, ``gamma``, ``kt`` (keV), ``obs_flux`` and
        ``unabs_flux`` (erg cm^-2 s^-1) as `FitValue` (value and (lo, hi)
        bounds; a parameter written with bounds ``(0, 0)`` was frozen and
        comes back with ``frozen=True`` and masked bounds) where present;
        ``cstat``, ``dof`` (int), ``fit_chi``,
        ``count_rate`` (ct / s), ``corr_factor`` and ``ontime`` (s). Other
        ``name value (lo, hi)`` lines are kept under their lower-case name as
        dimensionless `FitValue`.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        On a line that cannot be understood.
    """
    if isinstance(source, str) and "\n" in source:
        text, what = source, "fit file"
    else:
        path = Path(source)
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            raise ReaderError(f"{path}: cannot be read ({exc})") from None
        what = str(path)
    if not text.strip():
        return None
    result = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _PARAM_LINE.match(line)
        if match:
            name = " ".join(match.group("name").lower().split())
            key, unit, factor = _FIT_PARAMS.get(name, (name.replace(" ", "_"), u.dimensionless_unscaled, 1))
            values = [float(match.group(g)) * factor for g in ("v", "lo", "hi")]
            if values[1] == values[2] == 0:
                # "(0, 0)" is how a frozen parameter is written: no range, not bounds at 0.
                none = Masked(np.nan * unit, mask=True)
                result[key] = FitValue(values[0] * unit, none, none, frozen=True)
            else:
                result[key] = FitValue(*(v * unit for v in values))
            continue
        parts = [p for p in line.split(",")] if "," in line else [line]
        matches = [_ASSIGN.match(p) for p in parts]
        if not all(matches):
            raise ReaderError(f"{what}, line {number}: not a fit-summary line: {raw!r}")
        for m in matches:
            name = " ".join(m.group("name").lower().split())
            key, unit = _FIT_SCALARS.get(name, (name.replace(" ", "_"), None))
            value = float(m.group("v"))
            if unit is int:
                if not np.isfinite(value) or value != int(value):
                    raise ReaderError(f"{what}, line {number}: {m.group('name').strip()} = "
                                      f"{m.group('v')!r} is not a whole number")
                value = int(value)
            elif unit is not None:
                value = value * unit
            result[key] = value
    return result


def read_areas_file(source):
    """Read a ``<rname>.areas`` extraction log into a table.

    Parameters
    ----------
    source : str or path
        The file's path, or its text when the string holds a newline.

    Returns
    -------
    `~astropy.table.Table`
        One row per event file: ``event_file``, ``obsid``, ``mode``
        (``WT``/``PC``), ``tstart``, ``tstop`` (s, MET), ``region``,
        ``counts`` (ct) and ``backscal``.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        The file cannot be read, a block does not start with its event file
        and times, or a count or BACKSCAL is not a number.
    """
    if isinstance(source, str) and "\n" in source:
        text, what = source, "areas file"
    else:
        what = str(source)
        try:
            text = Path(source).read_text(errors="replace")
        except OSError as exc:
            raise ReaderError(f"{what}: cannot be read ({exc})") from None
    blocks = [b for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    rows = []
    head = re.compile(rf"^(?P<file>\S+?)\s*,\s*(?P<t1>{_NUM})\s*--\s*(?P<t2>{_NUM})\s*$")
    for block in blocks:
        lines = [line.strip() for line in block.strip().splitlines()]
        match = head.match(lines[0])
        if not match:
            raise ReaderError(f"{what}: expected '<obsid>/<file>.evt, start -- stop', got {lines[0]!r}")
        entry = {"event_file": match.group("file"), "tstart": float(match.group("t1")),
                 "tstop": float(match.group("t2")), "region": "", "counts": -1, "backscal": np.nan}
        for line in lines[1:]:
            low = line.lower()
            if low.startswith("counts:"):
                counts = _num(line.split(":", 1)[1], f"{what}: {entry['event_file']}: Counts")
                if not (np.isfinite(counts) and counts >= 0 and counts == int(counts)):
                    raise ReaderError(f"{what}: {entry['event_file']}: Counts {line!r} is not a count")
                entry["counts"] = int(counts)
            elif low.startswith("backscal"):
                entry["backscal"] = _num(line.split()[-1], f"{what}: {entry['event_file']}: BACKSCAL")
            elif "(" in line:
                entry["region"] = line
        parts = PurePosixPath(entry["event_file"]).parts
        entry["obsid"] = parts[0] if len(parts) > 1 else ""
        mode = re.match(r"(wt|pc)", PurePosixPath(entry["event_file"]).name, re.IGNORECASE)
        entry["mode"] = mode.group(1).upper() if mode else ""
        rows.append(entry)

    def strings(key):
        return np.array([r[key] for r in rows], dtype=str)

    def floats(key):
        return np.array([r[key] for r in rows], dtype=float)

    counts = np.ma.MaskedArray(np.array([max(r["counts"], 0) for r in rows], dtype=np.int64),
                               mask=np.array([r["counts"] < 0 for r in rows], dtype=bool))
    # One Table of whole arrays (not column by column).
    return Table([strings("event_file"), strings("obsid"), strings("mode"), floats("tstart"), floats("tstop"),
                  strings("region"), counts, floats("backscal")],
                 names=["event_file", "obsid", "mode", "tstart", "tstop", "region", "counts", "backscal"],
                 units={"tstart": u.s, "tstop": u.s, "counts": u.ct}, copy=False)


# --- the <rname>.tar.gz archive -----------------------------------------------------------------

def _private_safe_extract(archive, dest_dir):
    """Unpack a tar archive member by member, refusing anything unsafe.

    Only regular files and directories are written; absolute names, ``..``
    components, links and device files raise `ReaderError` before anything
    is written.
    """
    dest = Path(dest_dir).resolve()
    written = []
    try:
        opened = (tarfile.open(fileobj=archive, mode="r:*") if hasattr(archive, "read")
                  else tarfile.open(archive, mode="r:*"))
        with opened as tar:
            members = tar.getmembers()
            for member in members:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
                    raise ReaderError(f"archive: unsafe member name {member.name!r}")
                if not (member.isfile() or member.isdir()):
                    raise ReaderError(f"archive: member {member.name!r} is a link or special file")
                target = (dest / Path(*name.parts)).resolve() if name.parts else dest
                if target != dest and dest not in target.parents:
                    raise ReaderError(f"archive: member {member.name!r} would leave {dest}")
            for member in members:
                target = dest / Path(*PurePosixPath(member.name).parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(target)
    except tarfile.TarError as exc:
        raise ReaderError(f"archive: not a readable tar archive ({exc})") from None
    return written


def _extract(source, dest_dir):
    """Unpack ``source`` (path or bytes) with `xrtprods_astro.archives.safe_extract`
    when that module exists, else with the private fallback above."""
    try:
        from ..archives import safe_extract
    except ImportError:
        safe_extract = None
    if isinstance(source, (bytes, bytearray)):
        if safe_extract is None:
            return _private_safe_extract(io.BytesIO(bytes(source)), dest_dir)
        fd, tmp = tempfile.mkstemp(suffix=".tar.gz")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(bytes(source))
            return [Path(p) for p in safe_extract(tmp, dest_dir)]
        finally:
            os.unlink(tmp)
    if safe_extract is None:
        return _private_safe_extract(str(source), dest_dir)
    return [Path(p) for p in safe_extract(source, dest_dir)]


_LINK_KEYS = ("BACKFILE", "RESPFILE", "ANCRFILE")


class ModeProducts:
    """The files of one instrument mode (WT or PC) of one spectrum interval.

    The FITS files are read into memory when first asked for (no file stays
    open); the paths are in `paths`.

    Attributes
    ----------
    mode : str
        ``"WT"`` or ``"PC"``.
    paths : dict
        ``spectrum`` (grouped PHA used for fitting), ``source``,
        ``background``, ``arf``, ``rmf``, ``fit`` (`dict` model tag -> path of
        the ``*_fit.fit`` files) and ``xcm`` (likewise) -> `pathlib.Path`;
        absent files are absent keys.
    fits : dict
        Model tag (``"default"`` for ``<rname><mode>_fit.fit``, else the file
        tag such as ``"pow"`` or ``"apec"``) -> the `read_fit_file` result
        (None for an empty file: no fit).
    """

    def __init__(self, mode, paths, fits_results):
        self.mode = mode
        self.paths = paths
        self.fits = fits_results
        self._cache = {}

    def _hdul(self, key):
        if key not in self.paths:
            raise ReaderError(f"mode {self.mode}: the archive has no {key} file")
        if key not in self._cache:
            self._cache[key] = read_fits_bytes(self.paths[key])
        return self._cache[key]

    @property
    def spectrum(self):
        """The grouped source spectrum (`~astropy.io.fits.HDUList`)."""
        return self._hdul("spectrum")

    @property
    def source(self):
        """The ungrouped source spectrum (`~astropy.io.fits.HDUList`)."""
        return self._hdul("source")

    @property
    def background(self):
        """The background spectrum (`~astropy.io.fits.HDUList`)."""
        return self._hdul("background")

    @property
    def arf(self):
        """The ancillary response (`~astropy.io.fits.HDUList`)."""
        return self._hdul("arf")

    @property
    def rmf(self):
        """The response matrix (`~astropy.io.fits.HDUList`)."""
        return self._hdul("rmf")

    @property
    def utcf(self):
        """Swift's clock correction UTCF (s) from the grouped spectrum's header, or None.

        ``UTCFINIT`` of the primary header (or of the SPECTRUM extension);
        pass it as ``utcf=`` to `read_spectral_fits` for clock-corrected
        absolute times.
        """
        for hdu in self.spectrum[:2]:
            value, _ = utcf_from_header(hdu.header)
            if value is not None:
                return value
        return None

    @property
    def fit(self):
        """The fit summary when there is one model (or the default one), else None."""
        if "default" in self.fits:
            return self.fits["default"]
        if len(self.fits) == 1:
            return next(iter(self.fits.values()))
        return self.fits.get("pow")

    def __repr__(self):
        files = ", ".join(k for k in ("spectrum", "source", "background", "arf", "rmf") if k in self.paths)
        return f"<ModeProducts {self.mode}: {files}; fits: {', '.join(self.fits) or 'none'}>"


class _ReadWhenUsed:
    """A dataclass field given a path and read by the reader named ``reader`` (a function of
    this module) when first used, then kept."""

    def __init__(self, reader):
        self._reader = reader

    def __set_name__(self, owner, name):
        self._slot = f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return None   # the field's default
        value = obj.__dict__.get(self._slot)
        if isinstance(value, (str, os.PathLike)):
            value = obj.__dict__[self._slot] = globals()[self._reader](value)
        return value

    def __set__(self, obj, value):
        obj.__dict__[self._slot] = value


@dataclass
class SpectrumProducts:
    """The unpacked products of one spectrum interval (one ``<rname>.tar.gz``).

    Attributes
    ----------
    interval : str
        The interval name (``rname``), e.g. ``"interval0"``.
    directory : `pathlib.Path`
        Where the files were extracted; BACKFILE / RESPFILE / ANCRFILE of the
        grouped spectra resolve there, as XSPEC and Sherpa expect.
    modes : dict
        ``"WT"`` / ``"PC"`` -> `ModeProducts` (indexing the object by mode,
        any case, gives the same).
    areas : `~astropy.table.Table` or None
        The ``<rname>.areas`` extraction log (`read_areas_file`), read when first used (given
        a path, the field keeps it until then): a `~xrtprods_astro.ReaderError` for a damaged
        one comes then.
    files : list of `pathlib.Path`
        Every extracted file.
    broken_links : list of (str, str, str)
        (spectrum file, keyword, value) for each BACKFILE / RESPFILE /
        ANCRFILE that names a file not present.
    """

    interval: str
    directory: Path
    modes: dict
    areas: Table = _ReadWhenUsed("read_areas_file")
    files: list = field(default_factory=list)
    broken_links: list = field(default_factory=list)

    def __getitem__(self, mode):
        key = str(mode).upper()
        if key not in self.modes:
            raise KeyError(f"mode {mode!r} not in this spectrum; "
                           f"available: {', '.join(self.modes) or 'none'}")
        return self.modes[key]

    def __contains__(self, mode):
        return str(mode).upper() in self.modes


def _link_header(spectrum_path):
    """The header of a grouped spectrum that holds its links, read without the data.

    Checked as every product FITS file is (size limit, bounded inflation, sizes declared
    within the file, every header parsed, errors as `ReaderError` naming the file): a .pi that
    is not FITS, or has a damaged header, is named here rather than escaping from astropy. The
    data are read (and checked) by `read_fits_bytes` when the spectrum is first asked for:
    building their columns here would cost an archive twice as much CPU as unpacking it. The
    primary and SPECTRUM headers are parsed by astropy's `~astropy.io.fits.Header` without the
    HDUs around them (which cost twice the parsing) when their raw cards state every size; else
    astropy opens the file, and refuses a header without the sizes it needs.
    """
    from .images import checked_fits_bytes
    raw, what = checked_fits_bytes(spectrum_path, spectrum_path.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            blocks = _first_headers(raw)
            if blocks is not None:
                # The primary header and the SPECTRUM extension's, parsed as astropy parses every
                # header, without building HDUs around them (a third of the cost).
                headers = [fits.Header.fromstring(raw[start:stop].decode("ascii")) for start, stop in blocks]
                return headers[-1]
            # HDUs read up to the SPECTRUM extension only; later ones (GTI) when the file is read.
            with fits.open(io.BytesIO(raw), lazy_load_hdus=True) as hdul:
                try:
                    return hdul[1].header
                except IndexError:
                    return hdul[0].header
    except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexError, AssertionError,
            UnicodeDecodeError, fits.VerifyError) as exc:
        # The exceptions read_fits_bytes names a damaged header by (see there).
        raise ReaderError(f"{what}: not a readable FITS file ({type(exc).__name__}: {exc})") from None


def _first_headers(raw):
    """(start, stop) of the first two headers of a FITS file's bytes (one if it has one HDU), found
    from their raw cards (BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, as
    `~xrtprods_astro.readers.images._check_sizes`, run first, checked them); None when the cards
    do not say plainly (then astropy reads the file)."""
    from .images import _size_cards
    blocks, pos = [], 0
    while len(blocks) < 2 and pos < len(raw) and raw[pos:pos + 2880].strip(b"\0 "):
        end, cards = _size_cards(raw, pos)
        if end is None or b"GROUPS" in cards:
            return None
        try:
            bitpix, naxis = abs(int(cards[b"BITPIX"])), int(cards[b"NAXIS"])
            # Every NAXISn stated: astropy refuses a header without one, so must this.
            axes = [int(cards[b"NAXIS%d" % n]) for n in range(1, min(naxis, 999) + 1)]
            pcount, gcount = int(cards.get(b"PCOUNT", b"0")), int(cards.get(b"GCOUNT", b"1"))
        except (KeyError, ValueError):
            return None
        if not 0 <= naxis <= 999 or min(axes + [pcount, gcount, 0]) < 0:
            return None
        blocks.append((pos, end))
        size = bitpix // 8 * gcount * (pcount + int(np.prod(axes, dtype=object))) if axes else 0
        pos += -(-(end - pos) // 2880) * 2880 + -(-size // 2880) * 2880
    return blocks or None


def _check_links(spectrum_path):
    """The broken BACKFILE/RESPFILE/ANCRFILE links of a grouped spectrum."""
    broken = []
    header = _link_header(spectrum_path)
    for key in _LINK_KEYS:
        try:
            value = str(header.get(key, "") or "").strip()
        except (fits.VerifyError, ValueError):
            # astropy parses a card's value when it is asked for: a garbled one names no file.
            broken.append((spectrum_path.name, key, "(unreadable card)"))
            continue
        # "name{1}" / "name[1]" select an extension or row; the file is what matters.
        name = re.sub(r"[{\[].*$", "", value).strip()
        if not name or name.lower() == "none":
            continue
        parts = PurePosixPath(name.replace("\\", "/")).parts
        # The name comes from the archive: one outside the spectrum's folder is not looked for.
        if (not parts or parts[0] == "/" or ".." in parts
                or not (spectrum_path.parent / name).is_file()):
            broken.append((spectrum_path.name, key, value))
    return broken


def read_spectrum_archive(source, dest_dir):
    """Unpack a ``<rname>.tar.gz`` spectrum archive and index its products.

    Parameters
    ----------
    source : str, path or bytes
        The archive, as a file or its bytes (members without a leading
        directory, as the service writes them).
    dest_dir : str or path
        Directory to extract into (created if needed). Every file lands in
        this one directory, so the grouped spectra's BACKFILE, RESPFILE and
        ANCRFILE resolve as XSPEC and Sherpa expect.

    Returns
    -------
    `SpectrumProducts`
        Per mode the grouped spectrum, source and background spectra, ARF and
        RMF (as lazily read `~astropy.io.fits.HDUList`), their paths, the fit
        summaries and the ``.areas`` table (read when first used). Links in the grouped spectra that
        point to missing files are listed in ``broken_links`` and logged.

    Raises
    ------
    `~xrtprods_astro.ReaderError`
        If the archive is unreadable, holds unsafe members, holds no
        spectrum, or a grouped spectrum (``<rname><mode>.pi``) is not a
        readable FITS file.
    """
    dest = Path(dest_dir).resolve()  # extracted paths come back absolute, never joined twice
    dest.mkdir(parents=True, exist_ok=True)
    files = _extract(source, dest)
    return _index_products(files, dest, None if isinstance(source, (bytes, bytearray)) else Path(source).name)


def _index_products(files, dest, archive_name=None):
    """The `SpectrumProducts` of the files an archive was unpacked to in the folder ``dest``
    (absolute); ``archive_name`` (e.g. ``interval0.tar.gz``) names the interval when the
    members do not."""
    files = [Path(p) if Path(p).is_absolute() else dest / p for p in files]
    # The service writes members without a leading directory; should an
    # archive have one (e.g. USERPROD_<id>/spec/), index from the directory
    # holding the spectra, where their BACKFILE/RESPFILE/ANCRFILE resolve.
    base = dest
    spectra_dirs = {p.parent for p in files if p.suffix == ".pi"}
    if len(spectra_dirs) == 1:
        base = spectra_dirs.pop()
    names = {p.relative_to(base).as_posix(): p for p in files
             if p.is_file() and (p.parent == base or base in p.parents)}

    rname = None
    areas_files = [n for n in names if n.endswith(".areas") and "/" not in n]
    if len(areas_files) == 1:
        rname = areas_files[0][:-len(".areas")]
    if rname is None and archive_name is not None:
        stem = archive_name
        for suffix in (".tar.gz", ".tgz", ".tar"):
            if stem.endswith(suffix):
                rname = stem[:-len(suffix)]
                break
    if rname is None or not any(n.startswith(rname) and n.endswith(".pi") for n in names):
        candidates = sorted({m.group(1) for n in names
                             for m in [re.match(r"^(.*?)(?:wt|pc)(?:source)?\.pi$", n)] if m})
        if len(candidates) != 1:
            raise ReaderError("spectrum archive: cannot tell the interval name from the members "
                              f"({', '.join(sorted(names)) or 'none'})")
        rname = candidates[0]

    modes = OrderedDict()
    broken = []
    for mode in ("wt", "pc"):
        stem = rname + mode
        paths = {}
        for key, options in (("spectrum", (f"{stem}.pi",)),
                             ("source", (f"{stem}source.pi",)),
                             ("background", (f"{stem}back.pi", f"{stem}bak.pi")),
                             ("arf", (f"{stem}.arf",)),
                             ("rmf", (f"{stem}.rmf",))):
            for option in options:
                if option in names:
                    paths[key] = names[option]
                    break
        fit_paths, xcm_paths = {}, {}
        for name, path in names.items():
            match = re.match(rf"^{re.escape(stem)}(?:_(?P<tag>[A-Za-z0-9]+))?_fit\.fit$", name)
            if match:
                fit_paths[match.group("tag") or "default"] = path
            match = re.match(rf"^models/{re.escape(stem)}(?:_(?P<tag>[A-Za-z0-9]+))?\.xcm$", name)
            if match:
                xcm_paths[match.group("tag") or "default"] = path
        if not paths and not fit_paths:
            continue
        if fit_paths:
            paths["fit"] = fit_paths
        if xcm_paths:
            paths["xcm"] = xcm_paths
        fits_results = {tag: read_fit_file(path) for tag, path in sorted(fit_paths.items())}
        modes[mode.upper()] = ModeProducts(mode.upper(), paths, fits_results)
        if "spectrum" in paths:
            broken.extend(_check_links(paths["spectrum"]))
    if not modes:
        raise ReaderError(f"spectrum archive: no WT or PC spectrum for interval {rname!r} "
                          f"(members: {', '.join(sorted(names)) or 'none'})")
    for spectrum, key, value in broken:
        log.warning("%s: %s = %r names a file that is not in %s", spectrum, key, value, dest)
    # Read when first used: most users of the spectra never look at the extraction log.
    areas = names.get(f"{rname}.areas")
    return SpectrumProducts(interval=rname, directory=base, modes=dict(modes), areas=areas,
                            files=sorted(names.values()), broken_links=broken)
