# Licensed under a 3-clause BSD style license - see LICENSE
"""
Benchmark: reading a ``getLCData`` answer, ours against swifttools'.

Ours: `xrtprods_astro.readers.lightcurve.read_lightcurve_json`, which returns a
`~xrtprods_astro.readers.lightcurve.LightCurve` of astropy Tables with units,
MET and `~astropy.time.Time` columns.

Theirs: ``swifttools.ukssdc.data.download._handleLightCurve(data, oldCols=False)``,
the function ``XRTProductRequest.retrieveLightCurve`` calls on the decoded
``getLCData`` answer (with ``useDeprecate=False``, i.e. no column renaming) to
build one pandas DataFrame per dataset (every cell via ``str`` then
``astype(float)``, ObsIDs reformatted). Both get the same decoded dict, so
neither figure includes HTTP or JSON decoding.

The synthetic answer has the current (``Datasets``) layout with three datasets
(WT, PC with ObsIDs, PCUL), each ``rows`` rows of the 15 standard columns.

Run ``python benchmarks/bench_lcjson.py [repeats]``; or import `run`.
"""
import sys

import numpy as np

from _util import SWIFTTOOLS_MISSING, have_swifttools, measure, summary

from xrtprods_astro.readers.lightcurve import read_lightcurve_json

SIZES = (100, 1000, 10000)
COLUMNS = ["Time", "TimePos", "TimeNeg", "Rate", "RatePos", "RateNeg", "FracExp", "BGrate", "BGerr",
           "CorrFact", "CtsInSrc", "BGInSrc", "Exposure", "Sigma", "SNR"]


def make_answer(rows, seed=1):
    """A decoded getLCData answer with WT, PC (with ObsID) and PCUL datasets of ``rows`` rows each."""
    rng = np.random.default_rng(seed)
    answer = {"Datasets": ["WT", "PC", "PCUL"], "Binning": "Counts", "TimeFormat": "MET",
              "T0": 608713541.952}
    for name in answer["Datasets"]:
        values = rng.uniform(0.001, 1000.0, size=(rows, len(COLUMNS)))
        values[:, 0] = np.sort(values[:, 0]) * 100.0
        values[:, 2] *= -1.0
        values[:, 5] *= -1.0
        values[:, 10] = np.round(values[:, 10])
        columns = list(COLUMNS)
        data = [[round(float(v), 6) for v in row] for row in values]
        if name == "PCUL":
            columns[3] = "UpperLimit"
        if name == "PC":
            columns.append("ObsID")
            for k, row in enumerate(data):
                row.append(f"::ObsID={968211000 + k % 7:011d}")
        answer[f"{name}Data"] = {"columns": columns, "data": data,
                                 "URL": f"http://127.0.0.1/user_objects/tprods/USERPROD_1/lc/{name}.qdp"}
    return answer


def _swifttools_reader():
    from swifttools.ukssdc.data.download import _handleLightCurve

    def read(data):
        return _handleLightCurve(data, oldCols=False, silent=True, verbose=False)
    return read


def run(repeats=5, sizes=SIZES, compare=None):
    """Time both readers on the same decoded answers.

    Parameters
    ----------
    repeats : int
    sizes : sequence of int
        Rows per dataset.
    compare : bool, optional
        Also time swifttools; default: if it is installed.

    Returns
    -------
    list of dict
        Per size: ``rows_per_dataset``, ``ours`` and ``swifttools`` (``{"median", "min", "max", "n"}``
        in ms, or ``{"skipped": reason}``), and ``ratio`` (swifttools / ours) when both ran.
    """
    if compare is None:
        compare = have_swifttools()
    theirs = _swifttools_reader() if compare else None
    results = []
    for rows in sizes:
        data = make_answer(rows)
        ours_samples, lc = measure(lambda: read_lightcurve_json(data), repeats)
        entry = {"rows_per_dataset": rows, "ours": summary(ours_samples)}
        if theirs is None:
            entry["swifttools"] = {"skipped": SWIFTTOOLS_MISSING}
        else:
            their_samples, frames = measure(lambda: theirs(data), repeats)
            # The same numbers from both, or the timing means nothing.
            for name in data["Datasets"]:
                rate = "UpperLimit" if name == "PCUL" else "Rate"
                np.testing.assert_allclose(np.asarray(frames[name][rate], dtype=float),
                                           [row[3] for row in data[f"{name}Data"]["data"]])
            np.testing.assert_allclose(np.asarray(lc["PC"]["rate"]),
                                       np.asarray(frames["PC"]["Rate"], dtype=float))
            entry["swifttools"] = summary(their_samples)
            entry["ratio"] = entry["swifttools"]["median"] / entry["ours"]["median"]
        results.append(entry)
    return results


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for item in run(n):
        print(item)
