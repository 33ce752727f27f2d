# Licensed under a 3-clause BSD style license - see LICENSE
"""
A complete, offline tour of `xrtprods_astro`: ``xrtprods demo``.

`run_demo` starts an embedded local service on 127.0.0.1 (simulated products,
same protocol as UKSSDC, no network), submits a GRB 200416A job with a light
curve, a spectrum and standard and enhanced positions, follows it, reads the
results as astropy objects, downloads the archives and prints a summary and
the Python that does the same against the real service.
"""
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from astropy import units as u

from .fileio import write_table, write_text

__all__ = ["run_demo", "DemoResult", "DEMO_TARGET", "REAL_SERVICE_CODE", "DEMO_DIR", "DEMO_MARKER"]

#: The folder the demo writes into by default (in the current directory).
DEMO_DIR = "xrtprods-demo"
#: The file that marks a folder as made by the demo: only such a folder is ever replaced.
DEMO_MARKER = ".xrtprods-demo"

#: The demo's source: GRB 200416A, at its ICRS position (degrees) and with its BAT trigger as T0.
DEMO_TARGET = {"name": "GRB 200416A", "ra": 335.6985, "dec": -7.5179}

#: The lines of Python that do what the demo does, against the real UKSSDC service.
REAL_SERVICE_CODE = (
    "from xrtprods_astro import XRTProducts\n"
    "XRTProducts.login(\"you@example.org\")  # your registered UKSSDC address\n"
    "lc = XRTProducts.get_lightcurve(\"GRB 200416A\", binning=\"counts\", pc_counts=20, wt_counts=30, "
    "dynamic=True)\n")


@dataclass
class DemoResult:
    """What `run_demo` made.

    Attributes
    ----------
    job_id : str
        The JobID the local service gave.
    lightcurve : `~xrtprods_astro.readers.lightcurve.LightCurve`
    spectral_fits : `~astropy.table.Table`
    positions : dict
        ``"standard"`` and ``"enhanced"`` -> `~xrtprods_astro.readers.positions.Position`.
    archives : list of `pathlib.Path`
        The downloaded product archives.
    files : list of `pathlib.Path`
        Tables written by the demo (light curve and fits, ECSV).
    output_dir : `pathlib.Path`
    """

    job_id: str
    lightcurve: object
    spectral_fits: object
    positions: dict
    archives: list = field(default_factory=list)
    files: list = field(default_factory=list)
    output_dir: Path = None


def _value(row, name, fmt, unit=True):
    value = row[name]
    if getattr(value, "mask", False) is True:
        return "n/a"
    text = format(float(value), fmt)
    try:
        hi, lo = row[f"{name}_err_pos"], row[f"{name}_err_neg"]
        if not (getattr(hi, "mask", False) is True or getattr(lo, "mask", False) is True):
            text += f" (+{float(hi):{fmt}}, -{float(lo):{fmt}})"
    except KeyError:
        pass
    column_unit = row.table[name].unit if hasattr(row, "table") else None
    if unit and column_unit is not None and column_unit != u.dimensionless_unscaled:
        text += " cm^-2" if column_unit == u.cm**-2 else f" {column_unit.to_string()}"
    return text


def _fit_lines(fits):
    lines = []
    for row in fits:
        if row["status"] != "ok":
            lines.append(f"  {row['interval']} {row['mode'] or ''}: {row['status']}")
            continue
        lines.append(f"  {row['mode']} {row['model']}: N_H = {_value(row, 'nh', '.3g')}, "
                     f"Gamma = {_value(row, 'gamma', '.3f')}, "
                     f"flux (0.3-10 keV, observed) = {_value(row, 'obs_flux', '.3g')}")
    return lines


def _position_line(position):
    if not position:
        return f"  {position.kind:<9}: none ({position.reason})"
    return (f"  {position.kind:<9}: {position.coord.to_string('hmsdms', precision=2)} "
            f"(RA, Dec = {position.coord.ra.deg:.5f}, {position.coord.dec.deg:.5f} deg), "
            f"err90 = {position.err90.to(u.arcsec):.2f}")


def _lightcurve_lines(lc):
    lines = []
    for name, table in lc.items():
        if table.meta.get("kind") not in ("rate", "flux", "ul") or len(table) == 0:
            continue
        # Upper-limit datasets keep the limit in "rate" ("flux" in a flux light curve).
        column = "flux" if "flux" in table.colnames else "rate"
        is_ul = table.meta.get("kind") == "ul"
        span = ""
        if "t_since_t0" in table.colnames:
            t = table["t_since_t0"].quantity
            span = f" from T0{t.min().to_value(u.s):+.0f} s to T0{t.max().to_value(u.s):+.0f} s"
        peak = ""
        if column in table.colnames:
            q = table[column].quantity
            peak = f", {'highest limit' if is_ul else 'peak'} {q.max():.3g}"
        lines.append(f"  {name:<5} {len(table):>4} bins{span}{peak}")
    return lines


def _fresh_folder(path):
    """Make ``path`` a new, empty demo folder, replacing one an earlier demo made.

    A folder without the `DEMO_MARKER` file (or a file, or a link) is never
    touched: the demo did not make it.
    """
    path = Path(path)
    if path.is_symlink() or (path.exists() and not (path.is_dir() and (path / DEMO_MARKER).is_file())):
        raise FileExistsError(f"{path} exists and was not made by xrtprods demo (it has no {DEMO_MARKER} "
                              "file), so it is left alone: choose another folder (--dest) or remove it")
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    write_text(path / DEMO_MARKER, "Made by `xrtprods demo`; the next demo run replaces this folder.\n",
               private=False)
    return path


def run_demo(output_dir=DEMO_DIR, *, job_duration=3.0, stream=None, seed=0):
    """Run the offline demo: local service, GRB 200416A job, results, downloads.

    Parameters
    ----------
    output_dir : path-like
        The folder the archives and tables are written into. It is made
        afresh: a folder an earlier demo made (it holds a `DEMO_MARKER`
        file) is replaced, so re-runs do not pile up archives; any other
        existing file or folder is refused.
    job_duration : float
        Seconds the simulated job takes.
    stream : file-like, optional
        Where the narration goes (default ``sys.stdout``).
    seed : int
        Seed of the simulated products.

    Returns
    -------
    `DemoResult`

    Raises
    ------
    FileExistsError
        If ``output_dir`` exists and was not made by the demo.
    """
    from astropy.coordinates import SkyCoord
    from astropy.utils import iers

    from .core import XRTProductsClass
    from .files import table_for_file
    from .job import StreamProgress
    from .request import ProductRequest
    from .server.app import LocalService

    out = sys.stdout if stream is None else stream
    output_dir = _fresh_folder(output_dir)

    def say(text=""):
        out.write(text + "\n")
        out.flush()

    # The demo promises no network: astropy must not try to refresh its time tables either.
    with iers.conf.set_temp("auto_download", False), \
            tempfile.TemporaryDirectory(prefix="xrtprods-demo-service-") as service_dir, \
            LocalService(job_duration=job_duration, seed=seed, data_dir=service_dir) as service:
        say(f"Started a local XRT products service at {service.url} (simulated data, no network).")
        say(f"Writing into {output_dir.resolve()} (made afresh; the next demo run replaces it).")
        client = XRTProductsClass(server=service.url, email=service.email, poll_interval=0.5)
        coord = SkyCoord(DEMO_TARGET["ra"], DEMO_TARGET["dec"], unit="deg")
        request = ProductRequest(
            coord, name=DEMO_TARGET["name"], get_targs=True, get_t0=True, centroid=True,
            pos_err=1 * u.arcmin, use_sxps=False,
            lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True},
            spectrum=True, standard_position=True, enhanced_position=True)
        say(f"Request: {request.params()['name']} at {coord.to_string('hmsdms', precision=1)}; "
            f"products: {', '.join(request.products)}")
        job = client.submit(request)
        say(f"Submitted job {job.job_id}: {job.url}")
        say("Waiting for the products:")
        job.wait(timeout=max(60.0, 10 * job_duration), progress=StreamProgress(out))

        # cache=False: the local service's job IDs mean nothing to a later run.
        lc = job.lightcurve(cache=False)
        fits = job.spectral_fits(cache=False)
        positions = {kind: job.position(kind, cache=False) for kind in ("standard", "enhanced")}

        say("")
        t0 = lc.meta.get("t0")
        t0 = t0.isot if t0 is not None else "unknown"
        say(f"Light curve ({lc.meta.get('binning')} binning, T0 = {t0}):")
        for line in _lightcurve_lines(lc):
            say(line)
        say("Spectral fit (automatic, absorbed power law):")
        for line in _fit_lines(fits):
            say(line)
        say("Positions:")
        for kind in ("standard", "enhanced"):
            say(_position_line(positions[kind]))

        archives = job.download(output_dir, format="tar.gz", overwrite=True)
        files = []
        combined = lc.combined("rate")
        path = output_dir / "lightcurve.ecsv"
        write_table(table_for_file(combined), path, "ascii.ecsv", private=False)
        files.append(path)
        path = output_dir / "spectral_fits.ecsv"
        write_table(table_for_file(fits), path, "ascii.ecsv", private=False)
        files.append(path)

    say("")
    say("Summary")
    say(f"  job {job.job_id} made: {', '.join(job.products)}")
    say(f"  files in {output_dir.resolve()}:")
    for path in archives + files:
        say(f"    {path.name}")
    say("  (read them back with astropy.table.Table.read('lightcurve.ecsv') or the readers in "
        "xrtprods_astro.readers)")
    say("")
    say("The same against the real UKSSDC service (register at https://www.swift.ac.uk/user_objects):")
    say("")
    for line in REAL_SERVICE_CODE.splitlines():
        say("    " + line)
    return DemoResult(job_id=str(job.job_id), lightcurve=lc, spectral_fits=fits, positions=positions,
                      archives=archives, files=files, output_dir=output_dir)
