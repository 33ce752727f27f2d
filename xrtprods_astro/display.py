# Licensed under a 3-clause BSD style license - see LICENSE
"""
How results show in a terminal and a notebook: concise ``repr`` texts,
``_repr_html_`` summaries, and table display formats rounded to the data's
precision.

`set_display_formats` sets ``Column.info.format`` (what ``print(table)`` and
notebooks show; the data keep full precision) from the data themselves: a
value with an error column is shown to the second significant digit of its
error (``3.07e+21`` for ``3.073e21 +/- 3.1e20``); a value without one with
the digits it was written with, at most five significant (``666.15`` for
``666.1523296833038``, ``261.718`` stays ``261.718``).
"""
import html
import math

import numpy as np
from astropy import units as u
from astropy.table import Column, Table
from astropy.time import Time

__all__ = ["set_display_formats", "reset_display_formats", "column_format", "lightcurve_repr",
           "lightcurve_html",
           "spectrum_result_repr", "spectrum_result_html", "position_html", "imageset_repr",
           "imageset_html", "sourcelist_repr", "sourcelist_html"]

#: Most significant digits shown for a value without an error column.
MAX_DIGITS = 5
# Fixed-point notation for magnitudes in this range, exponential outside it.
_FIXED_RANGE = (1e-3, 1e6)
# A float with this many significant digits is an arithmetic result (UKSSDC
# writes at most 12: a MET to the millisecond).
_NOISE_DIGITS = 13
# Rows sampled to decide a format: enough for any product, cheap for a big table.
_SAMPLE = 5000
_FEW = 24           # up to this many distinct values, digits are counted value by value


def _finite(values):
    # Plain ndarrays: numpy.ma and Column views would each build a Column subclass instance.
    mask = np.ma.getmask(values)
    data = np.asarray(values, dtype=float).ravel()[:_SAMPLE]
    if mask is not np.ma.nomask:
        data = np.where(np.ravel(mask)[:_SAMPLE], np.nan, data)
    return np.abs(data[np.isfinite(data) & (data != 0)])


def _last_digit(value):
    """Decimal exponent of the last significant digit of ``value``'s shortest repr."""
    # repr(float) is the shortest string that reads back the same value (as numpy's
    # format_float_scientific(unique=True)), at a fraction of the cost.
    mantissa, _, exponent = repr(float(value)).partition("e")
    whole, _, decimals = mantissa.partition(".")
    decimals = decimals.rstrip("0")
    if decimals:
        return int(exponent or 0) - len(decimals)
    return int(exponent or 0) + len(whole) - len(whole.rstrip("0"))


_POW10 = 10.0 ** np.arange(23)     # exact powers of ten


def _last_digits(values, exponents):
    """`_last_digit` of positive finite ``values`` (``exponents`` their decimal exponents).

    Only exact below `_NOISE_DIGITS` significant digits; a value that needs more
    gets a result that still says so (``exponent - result + 1 >= _NOISE_DIGITS``).
    """
    # The shortest repr has k <= 12 digits iff rounding to those digits gives the value back:
    # v * 10**q (q = k - 1 - exponent decimals) is then within 1e-4 of an integer below 2**53,
    # and that integer / 10**q reads back as v, with 10**q exact for |q| <= 22.
    values = np.asarray(values, dtype=float)[:, None]
    q = np.arange(_NOISE_DIGITS - 1)[None, :] - exponents[:, None]     # decimals of 1..12 digits
    scale = _POW10[np.minimum(np.abs(q), len(_POW10) - 1)]
    with np.errstate(over="ignore", invalid="ignore"):
        back = np.rint(values * scale) / scale
        if (q < 0).any():
            back = np.where(q >= 0, back, np.rint(values / scale) * scale)
    hit = back == values
    first = hit.argmax(axis=1)
    exact = np.abs(exponents) <= 22 - _NOISE_DIGITS
    found = hit[np.arange(len(first)), first] & exact
    out = np.where(found, -q[np.arange(len(first)), first], exponents - _NOISE_DIGITS)
    for k in np.flatnonzero(~exact):
        out[k] = _last_digit(values[k, 0])
    return out


def _exponent(value):
    return int(math.floor(math.log10(value)))


def column_format(values, errors=None, *, max_digits=MAX_DIGITS):
    """A display format (``"{:.2f}"``, ``"{:.2e}"``) for values, or None.

    Parameters
    ----------
    values : array-like
        The values (masked and non-finite ones are ignored).
    errors : array-like or sequence of array-like, optional
        Their errors: the values are then shown to the second significant
        digit of the smallest error.
    max_digits : int
        Most significant digits for values without errors.

    Returns
    -------
    str or None
        None when there is nothing finite and non-zero to format.

    Examples
    --------
    >>> column_format([666.1523296833038, 12.5])
    '{:.2f}'
    >>> column_format([3.073320085487883e21], errors=[3.1e20])
    '{:.2e}'
    """
    data = _finite(values)
    if not len(data):
        return None
    last = None
    if errors is not None:
        errs = np.concatenate([_finite(e) for e in (errors if isinstance(errors, (list, tuple))
                                                    else [errors])])
        if len(errs):
            last = _exponent(errs.min()) - 1
    top = data.max()
    if last is None:
        # Digits as written (a value read from a file); values with 15 or more
        # significant digits are arithmetic results whose tail is noise.
        unique = np.unique(data)
        exponents = np.floor(np.log10(unique)).astype(int)
        if len(unique) <= _FEW:
            # A few values (a fit, a source list): one repr each costs less than the vectorised
            # test's fixed cost, and gives the same digits.
            lasts = np.array([_last_digit(v) for v in unique.tolist()], dtype=int)
        else:
            lasts = _last_digits(unique, exponents)
        is_written = exponents - lasts + 1 < _NOISE_DIGITS
        if is_written.any():
            noisy = exponents[~is_written] - (max_digits - 1)
            last = int(min(lasts[is_written].min(), noisy[noisy < 0].min(initial=np.iinfo(int).max)))
        else:
            last = _exponent(data.min()) - (max_digits - 1)
            steps = np.diff(unique)
            steps = steps[steps > 0]
            if len(steps) and steps.min() < 10.0 ** last:
                # Values on a large offset (a MET, an MJD): enough digits to tell them apart.
                last = _exponent(steps.min()) - 2
            last = max(last, _exponent(top) - (_NOISE_DIGITS - 1))
            if last > 0 and _FIXED_RANGE[1] <= top < 1e12:
                # Values on a large offset too few or too far apart to tell the digits from
                # (a lone upper limit's MET, 608865882.1520001): twelve significant digits, as
                # UKSSDC writes a MET, in fixed point (never 6.0887e+08).
                last = max(_exponent(top) - (_NOISE_DIGITS - 2), -3)
    if _FIXED_RANGE[0] <= top < _FIXED_RANGE[1] or (last <= 0 and _FIXED_RANGE[0] <= top < 1e12):
        # Fixed point, also for large values written with decimals (a MET: 608713637.852).
        return f"{{:.{max(0, -last)}f}}"
    digits = min(max(_exponent(top) - last + 1, 1), _NOISE_DIGITS)
    return f"{{:.{digits - 1}e}}"


def _error_columns(name, colnames):
    for suffixes in (("_err",), ("_err_pos", "_err_neg"), ("err",), ("_error",)):
        found = [name + s for s in suffixes if name + s in colnames]
        if len(found) == len(suffixes):
            return found
    return []


def set_display_formats(table):
    """Set ``info.format`` of a table's float columns to the data's precision.

    Columns that already have a format, and non-float columns (times,
    integers, strings), are left alone; the data are not changed.

    Parameters
    ----------
    table : `~astropy.table.Table` (or `~astropy.table.QTable`, time series)

    Returns
    -------
    table
        The same table, for chaining.
    """
    return _set_formats(table, {})


def reset_display_formats(table):
    """Work out the display formats of a table's float columns again, from all its rows.

    For a table stacked from others (`~astropy.table.vstack` keeps one input's
    format for each column, which may suit none of the other rows' values).
    Time, integer and string columns are left alone; the data are not changed.

    Parameters
    ----------
    table : `~astropy.table.Table` (or `~astropy.table.QTable`, time series)

    Returns
    -------
    table
        The same table, for chaining.
    """
    for name in table.colnames:
        if _is_float(table[name]):
            table[name].info.format = None
    return _set_formats(table, {})


def _set_formats(table, memo):
    """`set_display_formats` sharing ``memo`` (data -> format) between tables.

    A light curve's rate, hard, soft and ratio tables share their time-axis
    columns: their formats are worked out once.
    """
    def fmt_of(values, errors=None):
        parts = [values] + (errors if isinstance(errors, list) else [] if errors is None else [errors])
        if any(np.ma.getmask(p) is not np.ma.nomask for p in parts):
            return column_format(values, errors=errors)     # masked data: no key
        key = (isinstance(errors, list),) + tuple((np.asarray(p).dtype.str, np.asarray(p).tobytes())
                                                  for p in parts)
        if key not in memo:
            memo[key] = column_format(values, errors=errors)
        return memo[key]

    names = table.colnames
    floats = {name for name in names if _is_float(table[name])}
    errors = {name: [e for e in _error_columns(name, names) if e in floats] for name in floats}
    owners = {}
    for name in floats:
        for err in _error_columns(name, names):
            if err != name:
                owners.setdefault(err, name)
    value_formats = {}

    def value_format(name):
        # A value's format, also used by each of its error columns: computed once.
        if name not in value_formats:
            value_formats[name] = fmt_of(_plain(table[name]), errors=[_plain(table[e]) for e in errors[name]])
        return value_formats[name]

    for name in names:
        column = table[name]
        if name not in floats or getattr(column.info, "format", None):
            continue
        owner = owners.get(name)
        if errors[name]:
            # A value shows to the second significant digit of its error.
            fmt = value_format(name)
        elif owner is not None:
            # An error aligns with its value's decimals, or shows two digits of its own.
            fmt = value_format(owner)
            if fmt is None or not fmt.endswith("f}"):
                fmt = fmt_of(_plain(column), errors=_plain(column))
        else:
            fmt = fmt_of(_plain(column))
        if fmt is None:
            continue
        if isinstance(column, Column):
            # The info.format setter formats the column once to check the format; "{:.Nf}"
            # and "{:.Ne}" always format floats, and that check is most of the cost here.
            column._format = fmt
        else:
            column.info.format = fmt
    return table


def _is_float(column):
    return not isinstance(column, Time) and getattr(column, "dtype", None) is not None \
        and column.dtype.kind == "f"


def _plain(column):
    return column.value if isinstance(column, u.Quantity) else column


# --------------------------------------------------------------------------- small helpers

def _esc(value):
    return html.escape(str(value))


def _t0_text(meta):
    t0 = meta.get("t0")
    if isinstance(t0, Time):
        text = f"{t0.utc.isot} UTC"
        if meta.get("t0_met") is not None:
            text += f" (MET {meta['t0_met']:.3f} s)"
        return text
    return None


def _html_block(title, facts, table=None):
    """A title, a definition list of facts and an optional table, as HTML."""
    items = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts if v not in (None, ""))
    body = f"<strong>{_esc(title)}</strong><dl style='display:grid;grid-template-columns:auto 1fr;" \
           f"column-gap:1em;margin:0.3em 0'>{items}</dl>"
    if table is not None and len(table):
        body += table._repr_html_()
    return f"<div>{body}</div>"


def _who(meta):
    parts = []
    if meta.get("target"):
        parts.append(str(meta["target"]))
    if meta.get("job_id") is not None:
        parts.append(f"job {meta['job_id']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- light curves

def _span(table):
    if "t_since_t0" in table.colnames and len(table):
        t = np.ma.filled(np.ma.asarray(u.Quantity(table["t_since_t0"], u.s).value, dtype=float), np.nan)
        first, last = _seconds(np.nanmin(t)), _seconds(np.nanmax(t))
        return f"{first} s after T0" if first == last else f"{first}-{last} s after T0"
    if "time" in table.colnames and len(table):
        return f"MJD {table['time'].utc.mjd.min():.4f}-{table['time'].utc.mjd.max():.4f}"
    return ""


def _seconds(value):
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _lc_rows(lc):
    rows = []
    for name, table in lc.items():
        rows.append((name, table.meta.get("mode") or "", table.meta.get("kind") or "", len(table),
                     _span(table)))
    return rows


def lightcurve_repr(lc):
    """The text ``repr`` of a `~xrtprods_astro.readers.lightcurve.LightCurve`."""
    head = "<LightCurve"
    if lc.meta.get("target"):
        head += f" {lc.meta['target']}"
    if lc.meta.get("job_id") is not None:
        head += f" job_id={lc.meta['job_id']}"
    lines = [head]
    t0 = _t0_text(lc.meta)
    details = [f"T0 {t0}" if t0 else "T0 unknown"]
    if lc.meta.get("binning"):
        details.append(f"binning {lc.meta['binning']}")
    lines.append("  " + ", ".join(details))
    if not len(lc):
        return "\n".join(lines) + "\n  (no datasets)>"
    width = max(len(n) for n in lc)
    for name, _, kind, rows, span in _lc_rows(lc):
        lines.append(f"  {name:<{width}}  {rows:>5} rows  {kind:<4}  {span}".rstrip())
    return "\n".join(lines) + ">"


def lightcurve_html(lc):
    """The notebook (HTML) view of a light curve: who, T0, and one row per dataset."""
    rows = _lc_rows(lc)
    summary = Table(rows=rows, names=("dataset", "mode", "kind", "rows", "span"),
                    dtype=(str, str, str, int, str)) if rows else None
    facts = [("target", lc.meta.get("target")), ("job", lc.meta.get("job_id")),
             ("T0", _t0_text(lc.meta) or "unknown"), ("binning", lc.meta.get("binning"))]
    return _html_block("Swift-XRT light curve", facts, summary)


# --------------------------------------------------------------------------- spectral fits

_FIT_PARAMS = (("nh", "NH", "cm-2"), ("gamma", "Gamma", ""), ("kt", "kT", "keV"),
               ("obs_flux", "flux", "erg/cm2/s"))


def _value_text(row, name, table):
    value = row[name]
    if np.ma.is_masked(value) or not np.isfinite(float(value)):
        return None
    errs = [c for c in (f"{name}_err_pos", f"{name}_err_neg") if c in table.colnames]
    fmt = column_format(table[name][[row.index]], errors=[table[c][[row.index]] for c in errs]) or "{:g}"
    text = fmt.format(float(value))
    shown = [row[c] for c in errs if not np.ma.is_masked(row[c])]
    if len(shown) == 2:
        # In exponential notation an error shows its own two significant digits.
        efmt = "{:.1e}" if fmt.endswith("e}") else fmt
        text += f" +{efmt.format(float(shown[0]))}/-{efmt.format(float(shown[1]))}"
    return text


def _fit_lines(fits, limit=8):
    lines = []
    for row in fits[:limit]:
        label = " ".join(str(row[c]) for c in ("interval", "mode", "model")
                         if c in fits.colnames and not np.ma.is_masked(row[c]) and str(row[c]))
        if "status" in fits.colnames and row["status"] != "ok":
            lines.append(f"  {label}: {row['status']}")
            continue
        values = []
        for name, short, unit in _FIT_PARAMS:
            if name in fits.colnames:
                text = _value_text(row, name, fits)
                if text is not None:
                    values.append(f"{short}={text}{' ' + unit if unit else ''}")
        lines.append(f"  {label}: {', '.join(values)}")
    if len(fits) > limit:
        lines.append(f"  ... {len(fits) - limit} more rows in .fits")
    return lines


def spectrum_result_repr(result):
    """The text ``repr`` of a `~xrtprods_astro.core.SpectrumResult`: a few lines, not the table."""
    fits = result.fits
    meta = getattr(fits, "meta", {}) or {}
    head = f"<SpectrumResult {_who(meta)}".rstrip()
    lines = [head]
    t0 = _t0_text(meta)
    if t0:
        lines.append(f"  T0 {t0}")
    if meta.get("no_spectrum"):
        lines.append("  no spectrum could be made")
    lines.extend(_fit_lines(fits))
    spectra = result.spectra or {}
    if spectra:
        lines.append("  spectra: " + ", ".join(
            f"{name} ({'+'.join(getattr(s, 'modes', {}) or [])})" for name, s in spectra.items()))
    return "\n".join(lines) + ">"


def spectrum_result_html(result):
    """The notebook view of a spectral result: who, T0 and the best-fit parameters."""
    fits = result.fits
    meta = getattr(fits, "meta", {}) or {}
    keep = [c for c in ("interval", "mode", "model", "exposure", "nh", "nh_err_pos", "nh_err_neg",
                        "gamma", "gamma_err_pos", "gamma_err_neg", "kt", "obs_flux", "unabs_flux",
                        "cstat", "dof", "status") if c in fits.colnames]
    summary = fits[keep] if keep else None
    if summary is not None:
        summary = Table(summary, copy=True, meta={})
        for name in summary.colnames:
            summary[name].info.format = None
        set_display_formats(summary)
    facts = [("target", meta.get("target")), ("job", meta.get("job_id")), ("T0", _t0_text(meta)),
             ("spectra", ", ".join(result.spectra or {}))]
    return _html_block("Swift-XRT spectral fits", facts, summary)


# --------------------------------------------------------------------------- positions

def position_html(pos):
    """The notebook view of a `~xrtprods_astro.readers.positions.Position`."""
    facts = [("kind", pos.kind), ("job", pos.job_id), ("target", (pos.details or {}).get("target"))]
    if pos.found:
        facts += [("RA, Dec (ICRS)", pos.coord.to_string("hmsdms", precision=2)),
                  ("RA, Dec (deg)", f"{pos.coord.ra.deg:.5f}, {pos.coord.dec.deg:+.5f}"),
                  ("error (90%)", f"{pos.err90.to_value(u.arcsec):.2f} arcsec")]
        if pos.from_sxps:
            facts.append(("from", pos.which_sxps or "SXPS"))
    else:
        facts.append(("no position", pos.reason))
    return _html_block("Swift-XRT position", facts)


# --------------------------------------------------------------------------- images

def _image_geometry(images):
    try:
        wcs = images.wcs(0)
        shape = images.images[0][0].data.shape
    except Exception:  # noqa: BLE001 - a summary never fails on an odd image
        return None
    scale = np.abs(wcs.proj_plane_pixel_scales()[0].to_value(u.arcsec))
    centre = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    return (f"{shape[1]}x{shape[0]} pix, {scale:.3g} arcsec/pix, centre "
            f"{centre.icrs.to_string('hmsdms', precision=0)}")


def _bands_text(images):
    return ", ".join(f"{r['emin']:g}-{r['emax']:g}" for r in images.bands) + " keV"


def imageset_repr(images):
    """The text ``repr`` of an `~xrtprods_astro.readers.images.ImageSet`."""
    meta = getattr(images, "meta", None) or {}
    who = _who(meta)
    maps = [n for n in ("summed_ex", "summed_vignet_ex") if getattr(images, n) is not None]
    lines = [f"<ImageSet{' ' + who if who else ''}: {len(images.images)} image(s), {_bands_text(images)}"]
    geometry = _image_geometry(images) if len(images.images) else None
    if geometry:
        lines.append(f"  {geometry}")
    lines.append(f"  exposure maps: {', '.join(maps) or 'none'}")
    return "\n".join(lines) + ">"


def imageset_html(images):
    """The notebook view of an image set: who, geometry, and the bands table."""
    meta = getattr(images, "meta", None) or {}
    facts = [("target", meta.get("target")), ("job", meta.get("job_id")),
             ("images", _image_geometry(images) if len(images.images) else "none"),
             ("exposure maps", ", ".join(n for n in ("summed_ex", "summed_vignet_ex")
                                         if getattr(images, n) is not None) or "none")]
    return _html_block("Swift-XRT images", facts, images.bands)


# --------------------------------------------------------------------------- source lists

def _sources_meta(lists):
    for table in lists.values():
        return table.meta
    return {}


def sourcelist_repr(lists):
    """The text ``repr`` of a `~xrtprods_astro.readers.sourcelist.SourceList`."""
    who = _who(_sources_meta(lists))
    bands = ", ".join(f"{band}: {len(table)} source{'s' if len(table) != 1 else ''}"
                      for band, table in lists.items())
    return f"<SourceList{' ' + who if who else ''}: {bands or 'no band'}>"


def sourcelist_html(lists):
    """The notebook view of source lists: per band the number of sources, then the first band."""
    meta = _sources_meta(lists)
    facts = [("target", meta.get("target")), ("job", meta.get("job_id"))]
    facts += [(band, f"{len(table)} sources") for band, table in lists.items()]
    first = next(iter(lists.values()), None)
    shown = None
    if first is not None:
        shown = first[[c for c in first.colnames if c != "coord"]]
    return _html_block("Swift-XRT source detection", facts, shown)
