# Licensed under a 3-clause BSD style license - see LICENSE
"""
Light curves of the simulated sky: binning, rates, upper limits, hardness ratios and the files.

Binning follows the product generator's options: counts (``pccounts``/``wtcounts`` per bin,
optionally ``dynamic``), time (``pcbin``/``wtbin``), snapshot or obsid. Counts bins never cross a
gap between snapshots; a leftover of fewer than ``mincmin`` counts at the end of a snapshot is
merged into the previous bin of that snapshot. Rates are background-subtracted, multiplied by the
correction factor and divided by the exposure; errors are Gehrels (1986) 1-sigma Poisson limits
combined with the background error. A bin whose detection significance is below ``sigmin`` becomes
a 3-sigma upper limit (Bayesian bins are not simulated).

Dataset and file names follow protocol.md §5.1/§6.1 and products.md §2.3/§5. The files copy the
layouts of real UKSSDC files (tests/data/real, checked line by line by tests/test_service_templates.py):

* ``curve.qdp`` (+ ``_nosys``, ``_incbad``): the header block with ``T0 for this burst is Swift MET=...``,
  a blank line, ``READ TERR 1 2``, ``! <mode> data`` + column line, ``! <mode> Upper limit``; 5 tab-separated
  ``NO`` before a data section, 6 before upper limits;
* ``curve2.qdp`` (+ ``_nosys``): 9 columns, ``READ SERR 3``, the column line before the first label;
* ``curve_plot.qdp``: no header or column lines, upper limits with bare ``0`` errors;
* ``<mode>.qdp`` / ``<mode>NOSYS.qdp``: detections, then ``! Upper limit``;
* ``<mode>CURVE.qdp`` / ``<mode>UL.qdp`` (+ ``_nosys``, ``_incbad``): 8-character padding, tab-separated;
* ``<mode>HR.qdp`` / ``<mode>HRNOSYS.qdp`` (+ ``_incbad``), ``hardrat.qdp`` and ``t0.date`` (MET, UTC with
  the simulated clock correction, MJD of T0 and of the first bin).
"""
import math
from statistics import NormalDist

import numpy as np

from .sky import ProductFailure, met_to_mjd, ukssdc_date

__all__ = ["build_lightcurve", "LC_COLUMNS", "FILE_COLUMNS", "HR_FILE_COLUMNS",
           "gehrels_errors", "detection_sigma"]

#: Columns of rate and upper-limit datasets in the JSON payload.
LC_COLUMNS = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp", "BGrate", "BGerr",
              "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]
#: Column names in the detailed QDP files (old style).
FILE_COLUMNS = ["Time", "T_+ve", "T_-ve", "Rate", "Ratepos", "Rateneg", "FracExp", "BGrate", "BGerr",
                "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]
HR_FILE_COLUMNS = ["Time", "T_+ve", "T_-ve", "HardRate", "Harderr", "HardSig", "SoftRate", "SoftErr",
                   "SoftSig", "HR", "HRerr", "FracExp", "Exposure"]
#: Fractional WT systematic error added to WT rates (removed in the ``_nosys`` variants).
WT_SYSTEMATIC = 0.03

_SIGMA_CAP = 1000.0


def gehrels_errors(counts):
    """Gehrels (1986) approximate 1-sigma upper and lower Poisson errors on ``counts``."""
    c = np.asarray(counts, dtype=float)
    up = 1.0 + np.sqrt(c + 0.75)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(c > 0, c - c * (1.0 - 1.0 / (9.0 * c) - 1.0 / (3.0 * np.sqrt(c))) ** 3, 0.0)
    return up, lo


def detection_sigma(counts, bkg):
    """Gaussian-equivalent significance of ``counts`` given ``bkg`` expected background counts.

    The Poisson probability of at least ``counts`` from the background alone, converted to a
    one-sided Gaussian sigma; capped at 1000 (and set to 1000 when the background is zero and
    counts were seen), as in the real files.
    """
    counts = int(counts)
    bkg = float(bkg)
    if counts <= 0:
        return 0.0
    if bkg <= 0:
        return _SIGMA_CAP
    if counts > 150:
        return min(_SIGMA_CAP, (counts - bkg) / math.sqrt(bkg))
    logs = [k * math.log(bkg) - bkg - math.lgamma(k + 1) for k in range(counts + 60)]
    lower = sum(math.exp(v) for v in logs[:counts])
    if lower < 0.5:
        p = 1.0 - lower
    else:
        m = max(logs[counts:])
        p = math.exp(m) * sum(math.exp(v - m) for v in logs[counts:])
    if p >= 0.5:
        return 0.0
    if p < 1e-300:
        return _SIGMA_CAP
    return min(_SIGMA_CAP, -NormalDist().inv_cdf(p))


# --------------------------------------------------------------------------------------------
# Binning
# --------------------------------------------------------------------------------------------
def _counts_edges(times, w1, w2, n_per_bin, min_len, min_counts):
    """Bin edges within one window holding ``n_per_bin`` events each (see module docstring)."""
    edges = [w1]
    n = len(times)
    i = 0
    while i + n_per_bin <= n:
        j = i + n_per_bin
        end = 0.5 * (times[j - 1] + times[j]) if j < n else w2
        if end - edges[-1] < min_len:
            j = int(np.searchsorted(times, edges[-1] + min_len))
            if j >= n:
                break
            end = 0.5 * (times[j - 1] + times[j])
        if end >= w2:
            break
        edges.append(end)
        i = j
    left = n - i
    if edges[-1] < w2:
        if left < min_counts and len(edges) > 1:
            edges[-1] = w2
        else:
            edges.append(w2)
    else:
        edges[-1] = w2
    return np.asarray(edges)


def _make_bins(sky, mode, windows, method, band):
    """Bins of one mode: a list of dicts of per-bin sums (before rates)."""
    lo, hi = band
    bins = []
    if method == "counts":
        n_req = sky.geti("pccounts" if mode == "PC" else "wtcounts", 20 if mode == "PC" else 30)
        if n_req < 1:
            raise ProductFailure("%scounts must be a positive number of counts" % mode.lower())
        min_len = sky.getf("pcbin" if mode == "PC" else "wtbin", 2.51 if mode == "PC" else 0.5)
        min_counts = sky.geti("mincmin", 15)
        dynamic = sky.flag("dynamic", 1)
        ratefact, binfact = sky.getf("ratefact", 10.0), sky.getf("binfact", 1.5)
    for snap, w1, w2 in windows:
        st, se, bt, be, ev = sky.events(snap, w1, w2)
        sel = (se >= lo) & (se <= hi)
        st_band = st[sel]
        if method == "counts":
            n_bin = n_req
            if dynamic:
                rate = max(len(st_band) / (w2 - w1), 1e-6)
                scale = binfact ** (math.log10(rate) / math.log10(ratefact))
                n_bin = max(int(round(n_req * scale)), min(n_req, min_counts))
            edges = _counts_edges(st_band, w1, w2, n_bin, min_len, min_counts)
            pieces = [(a, b, None) for a, b in zip(edges[:-1], edges[1:])]
        elif method == "time":
            size = sky.getf("pcbin" if mode == "PC" else "wtbin", 2.51 if mode == "PC" else 0.5)
            if size <= 0:
                raise ProductFailure("The bin time must be positive")
            k1 = math.floor((w1 - sky.t0) / size)
            k2 = math.ceil((w2 - sky.t0) / size)
            if k2 - k1 > 2_000_000:
                raise ProductFailure("Bin time %g s gives too many bins" % size)
            ks = np.arange(k1, k2)
            a = np.maximum(sky.t0 + ks * size, w1)
            b = np.minimum(sky.t0 + (ks + 1) * size, w2)
            keep = b > a
            pieces = [(x, y, int(k)) for x, y, k in zip(a[keep], b[keep], ks[keep])]
        elif method == "snapshot":
            # Snapshot numbers repeat across observations and targets: (obsID, number) is the key.
            pieces = [(w1, w2, (snap.obsid, snap.snapnum))]
        elif method == "obsid":
            pieces = [(w1, w2, snap.obsid)]
        else:
            raise ProductFailure("binMeth %r is not one of counts, time, snapshot, obsid" % method)
        starts = np.array([p[0] for p in pieces])
        stops = np.array([p[1] for p in pieces])
        soft1, soft2 = sky.getf("soft1", 0.3), sky.getf("soft2", 1.5)
        hard1, hard2 = sky.getf("hard1", 1.5), sky.getf("hard2", 10.0)

        def count(times, energies, e1, e2):
            m = (energies >= e1) & (energies <= e2)
            t = times[m]
            return np.searchsorted(t, stops) - np.searchsorted(t, starts)

        c = count(st, se, lo, hi)
        braw = count(bt, be, lo, hi)
        cs, bs = count(st, se, soft1, soft2), count(bt, be, soft1, soft2)
        ch, bh = count(st, se, hard1, hard2), count(bt, be, hard1, hard2)
        for i, (a, b, key) in enumerate(pieces):
            bins.append({"start": a, "stop": b, "exp": b - a, "C": int(c[i]), "Braw": int(braw[i]),
                         "Cs": int(cs[i]), "Bs": int(bs[i]), "Ch": int(ch[i]), "Bh": int(bh[i]),
                         "ratio": ev.ratio, "corr": ev.corr, "key": key, "obsid": snap.obsid,
                         "snapnum": snap.snapnum})
    if method in ("time", "snapshot", "obsid"):
        bins = _merge(bins)
    return bins


def _merge(bins):
    """Merge pieces sharing a key (time bins cut by windows, obsIDs spanning snapshots)."""
    out = {}
    for p in bins:
        q = out.get(p["key"])
        if q is None:
            out[p["key"]] = dict(p)
            continue
        w_old, w_new = q["exp"], p["exp"]
        q["corr"] = (q["corr"] * w_old + p["corr"] * w_new) / (w_old + w_new)
        q["start"], q["stop"] = min(q["start"], p["start"]), max(q["stop"], p["stop"])
        for k in ("exp", "C", "Braw", "Cs", "Bs", "Ch", "Bh"):
            q[k] += p[k]
    return sorted(out.values(), key=lambda b: b["start"])


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------
def _rates(bins, sky, mode, bad_obsids):
    """Add rates, errors, significance and UL flags to each bin dict."""
    sigmin = sky.getf("sigmin", 3.0)
    allow_ul = sky.gets("allowUL", "both")
    ul_ok = allow_ul in ("both", mode.lower())
    for b in bins:
        e, corr, r = b["exp"], b["corr"], b["ratio"]
        bg = b["Braw"] * r
        net = b["C"] - bg
        up, lo = gehrels_errors(b["C"])
        sb = r * math.sqrt(b["Braw"])
        b["BGInSrc"] = bg
        b["Rate"] = net * corr / e
        b["RatePos"] = corr / e * math.sqrt(up ** 2 + sb ** 2)
        b["RateNeg"] = -corr / e * math.sqrt(lo ** 2 + sb ** 2)
        b["FracExp"] = e / (b["stop"] - b["start"])
        b["BGrate"] = bg / e
        b["BGerr"] = r * math.sqrt(max(b["Braw"], 1)) / e
        b["Sigma"] = detection_sigma(b["C"], bg)
        noise = math.sqrt(b["C"] + sb ** 2)
        b["SNR"] = net / noise if noise > 0 else 0.0
        b["UL"] = ul_ok and b["Sigma"] < sigmin
        if b["UL"]:
            b["Rate"] = max(b["C"] + 3.0 * math.sqrt(b["C"] + 0.75) + 3.0 - bg, 0.0) * corr / e
            b["RatePos"] = b["RateNeg"] = 0.0
            b["SNR"] = math.inf
        b["bad"] = b["obsid"] in bad_obsids
        # Hardness ratios
        for band, cc, bb in (("Hard", b["Ch"], b["Bh"]), ("Soft", b["Cs"], b["Bs"])):
            b[band] = (cc - bb * r) * corr / e
            b[band + "Err"] = corr / e * math.sqrt(cc + r * r * bb)
            b[band + "Sig"] = b[band] / b[band + "Err"] if b[band + "Err"] > 0 else 0.0
        if b["Soft"] != 0:
            b["HR"] = b["Hard"] / b["Soft"]
            rel = 0.0
            for band in ("Hard", "Soft"):
                if b[band] != 0:
                    rel += (b[band + "Err"] / b[band]) ** 2
                else:
                    rel = math.inf
            b["HRErr"] = abs(b["HR"]) * math.sqrt(rel) if math.isfinite(rel) else math.nan
        else:
            b["HR"] = math.inf if b["Hard"] > 0 else math.nan
            b["HRErr"] = math.nan
    return bins


def _bad_obsids(sky, windows):
    """ObsIDs whose centroid could not be verified (few counts in the source region)."""
    if not sky.flag("cent", 0):
        return set()
    totals = {}
    for snap, w1, w2 in windows:
        st = sky.events(snap, w1, w2)[0]
        totals[snap.obsid] = totals.get(snap.obsid, 0) + len(st)
    return {o for o, n in totals.items() if n < 6}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------
def _num(v):
    """JSON-safe number: non-finite values become the strings the real service writes."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _f(v, spec):
    """One value as UKSSDC writes it: ``spec`` when finite, else ``inf``, ``-inf`` or ``-nan``."""
    if isinstance(v, str):
        return v
    v = float(v)
    if math.isnan(v):
        return "-nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return spec % v


def _pad(cells, skip=()):
    """Cells padded to 8 characters and joined by tabs (the detailed files' fixed-width layout)."""
    return "\t".join(c if i in skip else c.ljust(8) for i, c in enumerate(cells))


def _col_line(names):
    """A ``!``-prefixed column line: names padded as the cells, the last one not."""
    return "!" + _pad(names, skip=(len(names) - 1,))


def _cells(row, formats):
    return [_f(v, spec) for v, spec in zip(row, formats)]


def _time_cols(b, sky, mjd):
    mid = 0.5 * (b["start"] + b["stop"])
    if mjd:
        t = float(met_to_mjd(mid))
        return [t, (b["stop"] - mid) / 86400.0, (b["start"] - mid) / 86400.0]
    return [mid - sky.t0, b["stop"] - mid, b["start"] - mid]


def _row(b, sky, mjd, sys):
    rate_pos, rate_neg = b["RatePos"], b["RateNeg"]
    sys_err = WT_SYSTEMATIC * abs(b["Rate"]) if sys else 0.0
    if sys and not b["UL"]:
        rate_pos = math.hypot(rate_pos, sys_err)
        rate_neg = -math.hypot(rate_neg, sys_err)
    row = _time_cols(b, sky, mjd) + [
        b["Rate"], rate_pos, rate_neg, b["FracExp"], b["BGrate"], b["BGerr"], b["corr"], b["C"],
        b["BGInSrc"], b["exp"], b["Sigma"], b["SNR"]]
    if sys:
        row += list(_sys_columns(b)) if not b["UL"] else [0.0, 0.0]
    return row


def _sys_columns(b):
    """SYS_NEG and SYS_POS as the real WTCURVE.qdp writes them: numbers just below and just above 1.

    GRB 060403's file has 0.999582-0.999623 and 1.000338-1.000373, whatever the rate: not the
    systematic error in ct / s. What they measure is not documented, so these only look alike.
    """
    wiggle = 2.0e-5 * math.sin(b["start"])
    return 1.0 - 4.0e-4 + wiggle, 1.0 + 3.6e-4 - wiggle


# Number formats of the real files (products.md §5): rates of detections to 7 significant
# digits, upper-limit rows to 5, times to the millisecond (MJD: to 1e-8 d).
def _time_fmt(mjd):
    return ["%.8f"] * 3 if mjd else ["%.3f"] * 3


_DETAIL_FMT = ["%.6e"] * 3 + ["%.6f", "%.6e", "%.6e", "%.6f", "%d", "%.6f", "%.6f", "%.6f", "%.6f",
                              "%.6f", "%.6f"]
_UL_FMT = ["%.4e"] * 3 + ["%.4f", "%.4e", "%.4e", "%.4f", "%d", "%.4f", "%.4f", "%.4f", "%.4f"]
_CURVE2_COLS = [0, 1, 2, 3, 4, 5, 7, 8, 6]  # Time..Rateneg, BGrate, BGerr, FracExp (row indices)


def _detail_file(rows, columns, mjd, ul, obsids=None):
    """``<mode>CURVE.qdp`` / ``<mode>UL.qdp``: two READ lines, padded column line, padded rows."""
    formats = _time_fmt(mjd) + (_UL_FMT if ul else _DETAIL_FMT)
    lines = ["READ TERR 1 2 ", "READ SERR 4", _col_line(columns + (["Obsid"] if obsids is not None else []))]
    for i, row in enumerate(rows):
        cells = _cells(row, formats)
        if obsids is not None:
            cells.append("::ObsID=%s" % obsids[i])
        # The real upper-limit files leave T_-ve unpadded.
        lines.append(_pad(cells, skip=(2,) if ul else ()))
    return "\n".join(lines) + "\n"


def _hr_rows(bins, sky, mjd):
    return [_time_cols(b, sky, mjd) + [b["Hard"], b["HardErr"], b["HardSig"], b["Soft"], b["SoftErr"],
                                       b["SoftSig"], b["HR"], b["HRErr"], b["FracExp"], b["exp"]]
            for b in bins]


def _hr_file(bins, sky, mjd, nosys):
    """``<mode>HR.qdp`` (rows padded) or ``<mode>HRNOSYS.qdp`` (rows not padded), as the real pair."""
    cols = (["MJD"] if mjd else ["Time"]) + HR_FILE_COLUMNS[1:]
    lines = ["READ TERR 1", "READ SERR 2 4 6", _col_line(cols)]
    for row in _hr_rows(bins, sky, mjd):
        cells = _cells(row, _time_fmt(mjd) + ["%.6f"] * 10)
        lines.append("\t".join(cells) if nosys else _pad(cells))
    return "\n".join(lines) + "\n"


def _met_text(met):
    """MET as UKSSDC prints it: at least one decimal, trailing zeros dropped."""
    text = ("%.3f" % met).rstrip("0")
    return text + "0" if text.endswith(".") else text


def _trigger(sky):
    targ = sky.targets[0] if sky.targets else "00000000"
    return int(targ), targ


def _t0_line(sky, unit=" s"):
    return " ! T0 for this burst is Swift MET=%s%s, = %s" % (_met_text(sky.t0), unit, ukssdc_date(sky.t0))


class _Sections:
    """Per mode, the detection and upper-limit rows of one light-curve variant."""

    def __init__(self, per_mode, obsid_col):
        self.per_mode = per_mode  # [(mode, rate_rows, ul_rows, rate_obsids, ul_obsids)]
        self.obsid_col = obsid_col

    def each(self):
        """``(label, rows, is_ul, obsids)`` in file order, empty sections left out."""
        for mode, rate_rows, ul_rows, ob_r, ob_u in self.per_mode:
            if rate_rows:
                yield mode, rate_rows, False, ob_r
            if ul_rows:
                yield mode, ul_rows, True, ob_u


def _label(mode, is_ul):
    return "! %s %s" % (mode, "Upper limit" if is_ul else "data")


def _section_lines(sections, label, data_col_line, det_fmt, ul_fmt, ul_row=None):
    """Labelled sections joined by ``NO`` lines: 5 before a data section, 6 before upper limits
    (products.md §5), tab-separated as in the real files."""
    out = []
    for i, (mode, rows, is_ul, obsids) in enumerate(sections.each()):
        if i:
            out.append("\t".join(["NO"] * (6 if is_ul else 5)))
        out.append(label(mode, is_ul))
        if not is_ul and data_col_line:
            out.append(data_col_line)
        for j, row in enumerate(rows):
            cells = ul_row(row) if (is_ul and ul_row) else _cells(row, ul_fmt if is_ul else det_fmt)
            if sections.obsid_col:
                cells.append("::ObsID=%s" % obsids[j])
            out.append("\t".join(cells))
    return out


def _curve_file(sky, binmode, sections, mjd):
    """``curve.qdp``: the header block of the real files, then the labelled sections."""
    trig, targ = _trigger(sky)
    cols = FILE_COLUMNS[:6] + (["Obsid"] if sections.obsid_col else [])
    head = [" ! Swift/XRT lightcurve of trigger: %d, name: %s" % (trig, sky.name),
            _t0_line(sky),
            " ! Data covers %g-%g keV" % _band(sky),
            " ! The data are in 5 columns:  ! time, time error (+ve), time error (-ve), source count-rate, "
            "source error",
            " ! For a detailed description of light curve production, see Evans et al. 2007 "
            "(A&A, 469, 379 )",
            " ! For a detailed description of the file, see",
            " ! http://www.swift.ac.uk/xrt_curves/docs.php",
            " ! This lightcurve was obtained from http://www.swift.ac.uk/xrt_curves/%s" % targ,
            " ! BINMODE: %s" % binmode,
            "",
            "READ TERR 1 2"]
    t = _time_fmt(mjd)
    body = _section_lines(sections, _label, _col_line([("MJD" if mjd else "Time")] + cols[1:]),
                          t + ["%.6e"] * 3, t + ["%.4e"] * 3)
    return "\n".join(head + body) + "\n"


def _curve2_file(sky, binmode, sections, mjd):
    """``curve2.qdp``: 9 columns, ``READ SERR 3``, the column line before the first label."""
    trig, _ = _trigger(sky)
    cols = [FILE_COLUMNS[i] for i in _CURVE2_COLS] + (["Obsid"] if sections.obsid_col else [])
    head = [" ! Swift/XRT detailed lightcurve of trigger: %d, name: %s" % (trig, sky.name),
            " ! Swift/XRT lightcurve of trigger: %d, name: %s" % (trig, sky.name),
            _t0_line(sky),
            " ! Data covers %g-%g keV" % _band(sky),
            " ! For details of light-curve production, see Evans et al. 2007, A&A, 469, 379",
            " ! BINMODE: %s" % binmode,
            "READ TERR 1 2",
            "READ SERR 3",
            _col_line([("MJD" if mjd else "Time")] + cols[1:])]

    def pick(rows):
        return [[r[i] for i in _CURVE2_COLS] for r in rows]
    picked = _Sections([(m, pick(rr), pick(ur), a, b) for m, rr, ur, a, b in sections.per_mode],
                       sections.obsid_col)
    t = _time_fmt(mjd)
    body = _section_lines(picked, _label,
                          None, t + ["%.6e"] * 5 + ["%.6f"], t + ["%.4e"] * 5 + ["%.4f"])
    return "\n".join(head + body) + "\n"


def _plot_ul_cells(mjd):
    t = _time_fmt(mjd)[0]
    return lambda row: [_f(row[0], t), "0", "0", _f(row[3], "%.15g"), "0", "0"]


def _curve_plot_file(sections, mjd):
    """``curve_plot.qdp``: no header or column lines; upper limits with bare ``0`` errors."""
    t = _time_fmt(mjd)
    body = _section_lines(sections, _label, None, t + ["%.6e"] * 3, None, _plot_ul_cells(mjd))
    return "\n".join(["READ TERR 1 2"] + body) + "\n"


def _mode_plot_file(rate_rows, ul_rows, mjd):
    """``PC.qdp`` / ``WT.qdp``: detections without a label, then ``! Upper limit``."""
    t = _time_fmt(mjd)
    out = ["READ TERR 1 2"] + ["\t".join(_cells(r, t + ["%.6e"] * 3)) for r in rate_rows]
    if ul_rows:
        out += ["\t".join(["NO"] * 6), "! Upper limit"]
        out += ["\t".join(_cells(r, t + ["%.4e"] * 3)) for r in ul_rows]
    return "\n".join(out) + "\n"


def _hardrat_file(sky, per_mode_bins, mjd):
    """``hardrat.qdp``: hard, soft and ratio sections per mode (products.md §5)."""
    trig, _ = _trigger(sky)
    head = ["! Swift/XRT hardness ratio of trigger: %d, name: %s" % (trig, sky.name),
            _t0_line(sky, unit=""),
            " ! The hard band is %g-%g keV" % (sky.getf("hard1", 1.5), sky.getf("hard2", 10.0)),
            " ! The soft band is %g-%g keV" % (sky.getf("soft1", 0.3), sky.getf("soft2", 1.5)),
            " ! For details of light-curve production, see Evans et al. 2007, A&A, 469, 379",
            "! There are %d datasets: Hard, Soft, and the ratio" % (3 * len(per_mode_bins)),
            "! Columns are as labelled",
            "READ TERR 1 ",
            "READ SERR 2"]
    t = _time_fmt(mjd)
    body = []
    for mode, bins in per_mode_bins:
        for what, key in (("hard data", "Hard"), ("soft data", "Soft"), ("hardness ratio", "HR")):
            if body:
                body.append("NO NO NO NO NO")
            body += ["! %s -- %s" % (mode, what), "!%s\t\tErr (pos)\tErr(neg)\tRate\t\tError"
                     % ("MJD" if mjd else "Time")]
            err = "HRErr" if key == "HR" else key + "Err"
            body += ["\t".join(_cells(_time_cols(b, sky, mjd) + [b[key], b[err]], t + ["%.6f"] * 2))
                     for b in bins]
    return "\n".join(head + body) + "\n"


def _band(sky):
    return sky.getf("minen", 0.3), sky.getf("maxen", 10.0)


def _t0_date(sky, first_bin_met):
    """``t0.date``: MET, UKSSDC's UTC (clock-corrected), the MJD of T0 and of the first bin."""
    return "%s\n%s\n%.13f\n%.13f\n" % (_met_text(sky.t0), ukssdc_date(sky.t0),
                                       float(met_to_mjd(sky.t0)), float(met_to_mjd(first_bin_met)))


def build_lightcurve(sky, out_dir, url_base, binning_label=None):
    """Build the light curve of one job.

    Parameters
    ----------
    sky : `~xrtprods_astro.server.sky.JobSky`
    out_dir : `pathlib.Path`
        The ``lc/`` directory to write.
    url_base : str
        URL of that directory (dataset URLs are ``<url_base>/<file>``).
    binning_label : str, optional
        Overrides the ``Binning`` value (rebinned curves say ``ObsID``).

    Returns
    -------
    data : dict
        The getLCData payload (protocol.md §5.1), every dataset variant included.
    files : list of `pathlib.Path`

    Raises
    ------
    ProductFailure
        When there are no data.
    """
    method = sky.gets("binMeth", "counts")
    if method not in ("counts", "time", "snapshot", "obsid"):
        raise ProductFailure("binMeth %r is not one of counts, time, snapshot, obsid" % method)
    windows = sky.windows(sky.gets("lcobs", "all"), sky.get("uselcobs"))
    band = _band(sky)
    if not band[0] < band[1]:
        raise ProductFailure("minen must be below maxen")
    mjd = sky.gets("lctimetype", "s") in ("m", "mjd")
    bad = _bad_obsids(sky, windows)
    obsid_col = method == "obsid"
    binning = binning_label or {"counts": "Counts", "time": "Time", "snapshot": "Snapshot",
                                "obsid": "Observation"}[method]
    # The header's BINMODE: the one real product-generator file says TIME for time bins.
    binmode = method.upper()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    data = {"Datasets": [], "Binning": binning, "TimeFormat": "MJD" if mjd else "MET", "T0": sky.t0}

    def write(name, text):
        path = out_dir / name
        path.write_text(text)
        if path not in files:
            files.append(path)
        return "%s/%s" % (url_base.rstrip("/"), name)

    per_mode = {}
    for mode in ("WT", "PC"):
        mwin = [w for w in windows if w[0].mode == mode]
        if mwin:
            per_mode[mode] = _rates(_make_bins(sky, mode, mwin, method, band), sky, mode, bad)
    if not per_mode:
        raise ProductFailure("No data were found in the requested observations / times.")

    def split(mode, nosys, incbad):
        bins = per_mode[mode]
        sel = [b for b in bins if incbad or not b["bad"]]
        rates = [b for b in sel if not b["UL"]]
        uls = [b for b in sel if b["UL"]]
        sys = mode == "WT" and not nosys
        return (rates, uls, [_row(b, sky, mjd, sys) for b in rates], [_row(b, sky, mjd, False) for b in uls],
                sys)

    fcols = (["MJD"] if mjd else ["Time"]) + FILE_COLUMNS[1:]
    tcols = ["Time", "TimePos", "TimeNeg"]
    for mode in per_mode:
        for nosys in (False, True):
            for incbad in (False, True):
                # Detailed files and datasets: ``_nosys`` (WT only) and ``_incbad`` suffixes;
                # HR and plot files: the ``NOSYS`` spelling of the real lc/ folders.
                sfx = ("_nosys" if nosys else "") + ("_incbad" if incbad else "")
                upper = ("NOSYS" if nosys else "") + ("_incbad" if incbad else "")
                rates, uls, rate_rows, ul_rows, sys = split(mode, nosys, incbad)
                if not incbad:
                    write("%s%s.qdp" % (mode, upper), _mode_plot_file(rate_rows, ul_rows, mjd))
                if rates and (mode == "WT" or not (nosys and incbad)):
                    hr_url = write("%sHR%s.qdp" % (mode, upper), _hr_file(rates, sky, mjd, nosys))
                if nosys and mode != "WT":
                    continue  # PC has no systematic error: no _nosys datasets
                ob_r = [b["obsid"] for b in rates] if obsid_col else None
                ob_u = [b["obsid"] for b in uls] if obsid_col else None
                if rates:
                    rcols = fcols + (["SYS_NEG", "SYS_POS"] if sys else [])
                    url = write("%sCURVE%s.qdp" % (mode, sfx),
                                _detail_file(rate_rows, rcols, mjd, False, ob_r))
                    _add(data, "%s%s" % (mode, sfx), LC_COLUMNS + (["SYS_NEG", "SYS_POS"] if sys else []),
                         rate_rows, url, ob_r)
                    for kind in ("Hard", "Soft"):
                        rows = [_time_cols(b, sky, mjd) + [b[kind], b[kind + "Err"]] for b in rates]
                        _add(data, "%s%s%s" % (mode, kind, sfx), tcols + ["Rate", "RateErr"], rows, hr_url)
                    rows = [_time_cols(b, sky, mjd) + [b["HR"], b["HRErr"]] for b in rates]
                    _add(data, "%sHR%s" % (mode, sfx), tcols + ["HR", "HRErr"], rows, hr_url)
                if uls:
                    url = write("%sUL%s.qdp" % (mode, sfx), _detail_file(ul_rows, fcols, mjd, True, ob_u))
                    _add(data, "%sUL%s" % (mode, sfx), LC_COLUMNS, ul_rows, url, ob_u)

    def sections(nosys, incbad):
        out = []
        for mode in per_mode:
            rates, uls, rate_rows, ul_rows, _ = split(mode, nosys, incbad)
            out.append((mode, rate_rows, ul_rows, [b["obsid"] for b in rates], [b["obsid"] for b in uls]))
        return _Sections(out, obsid_col)

    for nosys in (False, True):
        for incbad in (False, True):
            sfx = ("_nosys" if nosys else "") + ("_incbad" if incbad else "")
            write("curve%s.qdp" % sfx, _curve_file(sky, binmode, sections(nosys, incbad), mjd))
        write("curve2%s.qdp" % ("_nosys" if nosys else ""),
              _curve2_file(sky, binmode, sections(nosys, False), mjd))
    write("curve_plot.qdp", _curve_plot_file(sections(False, False), mjd))
    write("hardrat.qdp", _hardrat_file(sky, [(m, split(m, False, False)[0]) for m in per_mode
                                             if split(m, False, False)[0]], mjd))
    first = min(0.5 * (b["start"] + b["stop"]) for bins in per_mode.values() for b in bins)
    write("t0.date", _t0_date(sky, first))
    return data, files


def _add(data, name, columns, rows, url, obsids=None):
    if not rows:
        return
    cols = list(columns)
    out_rows = [[_num(float(v)) if not isinstance(v, str) else v for v in row] for row in rows]
    if obsids is not None:
        cols.append("ObsID")
        out_rows = [r + [o] for r, o in zip(out_rows, obsids)]
    for r, row in zip(out_rows, rows):
        if "CtsInSrc" in cols:
            r[cols.index("CtsInSrc")] = int(row[cols.index("CtsInSrc")])
    data["Datasets"].append(name)
    data["%sData" % name] = {"columns": cols, "data": out_rows, "URL": url}
