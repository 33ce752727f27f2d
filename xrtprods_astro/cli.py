# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ``xrtprods`` command line.

Submit Swift-XRT product jobs to the UKSSDC product generator, follow them,
download their archives and look at their light curves from a shell::

    xrtprods --email you@example.org submit "GRB 200416A" --lightcurve --spectrum --wait
    xrtprods status 123456
    xrtprods lightcurve 123456 --output grb.ecsv --plot grb.png
    xrtprods demo                      # everything, offline, against a local service

Exit codes: 0 success; 1 other failures (a product failed or is not ready, a
file could not be written); 2 usage errors (bad options or an invalid
request); 3 service errors (the service refused or could not be reached);
4 time-outs; 130 interrupted (Ctrl-C).
"""
import argparse
import json
import logging
import re
import sys
import threading
import warnings
from pathlib import Path

from .fileio import atomic_write, write_table
from .files import check_writable_dir, check_writable_file, table_for_file
from .vocabulary import ARCHIVE_FORMATS, BINNINGS, PRODUCTS

__all__ = ["main", "build_parser", "parse_param", "build_request",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_SERVICE", "EXIT_TIMEOUT", "EXIT_INTERRUPT"]

log = logging.getLogger("xrtprods_astro.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPT = 130

#: Polls of a service on this machine can be quick; UKSSDC asks for about one a minute.

#: What each product flag of ``submit`` asks for (the flags are the vocabulary's keys and codes).
_PRODUCT_HELP = {
    "lightcurve": "a light curve (with hardness ratios)",
    "spectrum": "a spectrum with an automatic fit",
    "standard_position": "a standard (PSF-fit) position",
    "enhanced_position": "an enhanced (UVOT-corrected) position",
    "astrometric_position": "an astrometric (2MASS-corrected) position",
    "image": "images in three energy bands",
    "source_detection": "source lists per energy band",
}
#: Product flags of ``submit``: (option, aliases, product key, help); ``--lc``, ``--psf``... are the codes.
_PRODUCT_FLAGS = [(option, tuple({f"--{prod.code.lower()}"} - {option}), key, _PRODUCT_HELP[key])
                  for key, prod in PRODUCTS.items() for option in [f"--{key.replace('_', '-')}"]]


def _load():
    """Import what the commands need but the parser does not: numpy, and astropy (via the exceptions).

    Called by `main` once the arguments are parsed and by the public helpers, so that
    ``xrtprods --help`` and usage errors answer without importing astropy (half a second
    or more of a command's start-up on a loaded machine).
    """
    global np, AstropyWarning, InvalidRequestError, JobTimeoutError, ProductNotReadyError, ReaderError
    global RemoteServiceError, ResolverError, ServiceUnavailableError, XRTProductsError
    import numpy as np
    from astropy.utils.exceptions import AstropyWarning

    from .exceptions import (InvalidRequestError, JobTimeoutError, ProductNotReadyError, ReaderError,
                             RemoteServiceError, ResolverError, ServiceUnavailableError, XRTProductsError)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the examples' layout and show defaults that say something (not None or False)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of exiting, so `main` returns the exit code."""

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


# ---------------------------------------------------------------------------------------- helpers

def _positive(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of seconds is needed, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a number >= 0 is needed, got {text}")
    return value


def _rate(text):
    value = _positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"a probability between 0 and 1 is needed, got {text}")
    return value


def _bool_text(text, label):
    low = str(text).strip().lower()
    if low in ("1", "yes", "true", "y", "on"):
        return True
    if low in ("0", "no", "false", "n", "off"):
        return False
    raise InvalidRequestError(f"{label}: {text!r} is not a boolean (use yes/no, true/false or 1/0)")


def _number(text):
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)


def _convert(record, text, label):
    """A command-line string converted to the Python type the parameter's record expects."""
    kind = record.kind
    if kind == "bool":
        return _bool_text(text, label)
    try:
        if kind in ("int", "degrees") or (kind == "float" and record.unit is not None):
            # A plain number, or a quantity ("1 d", "30 arcsec") the catalogue converts to its unit.
            try:
                return _number(text) if kind != "degrees" else float(text)
            except ValueError:
                return text
        if kind in ("float", "time"):
            # The catalogue's "float" takes ints and floats and sends them as given (protocol.md
            # §3.1): "100" is the int 100, as pc_bin_time=100 is in Python.
            try:
                return _number(text)  # for "time": Swift MET in seconds
            except ValueError:
                if kind == "time":
                    return text  # an ISO time, read by the catalogue
                raise
        if kind == "models":
            return [m.strip() for m in text.split(",") if m.strip()]
    except ValueError:
        raise InvalidRequestError(f"{label}: {text!r} is not a {kind} value") from None
    return text


def parse_param(text, products=()):
    """Read one ``--param`` value: ``key=value`` or ``product.key=value``.

    Parameters
    ----------
    text : str
        ``pc_counts=20``, ``lightcurve.binning=time``, ``posErr=2``... Any
        spelling of the name (friendly, UKSSDC or wire) is accepted.
    products : sequence of str
        Product keys requested; a bare key that is not a global is looked up
        among their parameters.

    Returns
    -------
    tuple
        ``(product key or None, friendly name, value)``, the value converted
        from text to the parameter's type.

    Raises
    ------
    InvalidRequestError
        If the text has no ``=``, or the name is unknown or ambiguous.
    """
    _load()
    from . import params as P
    if "=" not in text:
        raise InvalidRequestError(f"--param: {text!r} is not KEY=VALUE (e.g. --param pc_counts=20)")
    key, value = (s.strip() for s in text.split("=", 1))
    label = f"--param {key}"
    scope = None
    if "." in key:
        scope, key = key.split(".", 1)
        scope = P.product(scope).key
        record = P.lookup(key, scope)
    else:
        try:
            record = P.lookup(key)
        except InvalidRequestError:
            record = None
        if record is None or not record.is_global:
            found = []
            for prod in products:
                try:
                    found.append((prod, P.lookup(key, prod)))
                except InvalidRequestError:
                    continue
            found = [(prod, rec) for prod, rec in found if not rec.is_global]
            if len(found) > 1:
                raise InvalidRequestError(
                    f"{label}: {key!r} is a parameter of {' and '.join(p for p, _ in found)}; say which "
                    f"with PRODUCT.KEY, e.g. --param {found[0][0]}.{key}={value}")
            if found:
                scope, record = found[0]
            elif record is not None:
                raise InvalidRequestError(
                    f"{label}: {key!r} is a {record.product} parameter, but {record.product} is not "
                    f"requested (add --{record.product.replace('_', '-')})")
            else:
                P.lookup(key)  # raises the catalogue's message, with suggestions
    if record.is_global:
        scope = None
    if value == "":
        raise InvalidRequestError(f"{label}: the value is empty")
    return scope, record.name, _convert(record, value, label)


def _angle(text, label, hours):
    from astropy import units as u
    from astropy.coordinates import Angle
    text = str(text).strip()
    try:
        angle = Angle(float(text), u.deg)
    except ValueError:
        try:
            sexagesimal = any(c in text for c in ":hms ")
            angle = Angle(text, u.hourangle if (hours and sexagesimal and "d" not in text) else u.deg)
        except (ValueError, u.UnitsError):
            raise InvalidRequestError(f"{label}: {text!r} is not an angle (decimal degrees, or "
                                      f"{'22:22:47.6' if hours else '-07:31:04'})") from None
    # SkyCoord would wrap an RA of 395.7 deg to 35.7 deg without a word, and refuse a Dec with a traceback.
    low, high = (0, 360) if hours else (-90, 90)
    if not (low <= angle.deg < high if hours else low <= angle.deg <= high):
        raise InvalidRequestError(f"{label}: {text!r} is {angle.deg:g} deg, outside {low} to {high} deg")
    return angle


def build_request(args):
    """The `~xrtprods_astro.request.ProductRequest` a ``submit`` command line describes.

    Built by `xrtprods_astro.builder.build_request`, with its default policy,
    exactly as the Python API and batches build theirs.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``submit`` arguments (see `build_parser`).

    Returns
    -------
    `~xrtprods_astro.request.ProductRequest`
    """
    _load()
    from astropy.coordinates import SkyCoord
    from .builder import build_request as build
    from .request import ProductRequest

    base = None
    if args.request:
        path = Path(args.request)
        if not path.is_file():
            raise InvalidRequestError(f"--request: {path} is not a file")
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"--request: {path} is not JSON ({exc})") from None
        if isinstance(data, dict) and data.get("format") == "xrtprods_astro.ProductRequest":
            base = ProductRequest.from_json(data)
        elif isinstance(data, dict):
            # A wire dict, or a test-data wrapper {"wire": {...}}, as the service's jobPars.
            base = ProductRequest.from_job_pars(data.get("wire", data))
        else:
            raise InvalidRequestError(f"--request: {path} holds no request")

    keys = [key for _, _, key, _ in _PRODUCT_FLAGS if getattr(args, key)]
    products = {key: {} for key in keys}
    requested = tuple(dict.fromkeys((base.products if base is not None else ()) + tuple(keys)))
    params = {}
    for text in args.param or []:
        scope, key, value = parse_param(text, requested)
        if scope is None:
            params[key] = value
        else:
            products.setdefault(scope, {})[key] = value

    # Target: --ra/--dec, a row of --table, or a name (resolved on this machine or by the service).
    name = args.name
    target = None
    if (args.ra is None) != (args.dec is None):
        raise InvalidRequestError("--ra/--dec: give both, or neither")
    if args.table is not None and (args.ra is not None or args.target is not None):
        raise InvalidRequestError("--table: give a table, a name or --ra/--dec, not two of them")
    if args.ra is not None:
        target = SkyCoord(_angle(args.ra, "--ra", hours=True), _angle(args.dec, "--dec", hours=False))
        name = args.name or args.target
        if args.target is not None:
            # Both a name and coordinates: the coordinates win and the name is not resolved, which
            # builds products at the wrong place without a word if either was a slip.
            from .exceptions import XRTProductsWarning
            where = f"the job is built at --ra/--dec ({target.ra.deg:.5f}, {target.dec.deg:+.5f} deg)"
            why = (f"under --name {args.name!r}; the target {args.target!r} is not used" if args.name
                   else f"; {args.target!r} is not resolved, only recorded as the name")
            warnings.warn(f"{where} {why}".replace(" ;", ";"), XRTProductsWarning, stacklevel=2)
    elif args.table is not None:
        target = _table_row(args.table, args.row)
    elif args.target is not None and not (base is not None and "ra" in base.params()):
        target = args.target
    elif args.target is not None:
        name = args.name or args.target
    observations = _obs_table(args)
    if target is None and name is None and base is None:
        if observations is None:
            raise InvalidRequestError("target: give a name, --ra/--dec, --table or --request")
        if observations.coord is None:
            raise InvalidRequestError(f"target: the observations of --obs-table give no target position "
                                      f"({observations.no_position}); give a name, --ra/--dec or --table")
    try:
        from .localmode import default_resolver  # the service resolves names for --server local
        request, meta = build(target, name=name, resolver=args.resolver or default_resolver(args.server),
                              products=products, params=params, base=base, observations=observations)
    except ResolverError as exc:
        # The library's advice names Python arguments; say it in options here.
        raise ResolverError(f"{args.target!r} could not be resolved on this machine ({exc.__cause__}); "
                            "give --ra/--dec, or --resolver service to let UKSSDC resolve it") from None
    if meta.get("resolved_coord") is not None:
        log.info("Resolved %s to %s", args.target, meta["resolved_coord"].to_string("hmsdms"))
    return request


def _obs_table(args):
    """The `~xrtprods_astro.builder.ObservationList` of ``--obs-table`` (None without it)."""
    if args.obs_table is None:
        for option, value in (("--obs-column", args.obs_column), ("--which-obs", args.which_obs)):
            if value is not None:
                raise InvalidRequestError(f"{option}: only with --obs-table")
        return None
    from astropy.table import Table
    from .builder import observation_list
    path = Path(args.obs_table)
    if not path.is_file():
        raise InvalidRequestError(f"--obs-table: {path} is not a file")
    try:
        table = Table.read(path)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for unreadable files
        raise InvalidRequestError(f"--obs-table: {path} cannot be read as a table ({exc})") from None
    try:
        return observation_list(table, which=args.which_obs, column=args.obs_column)
    except InvalidRequestError as exc:
        if not any(p.startswith("which_observations:") for p in exc.problems):
            raise
        # Said in the option's name, as the other options' messages are.
        raise InvalidRequestError([p.replace("which_observations:", "--which-obs:", 1)
                                   for p in exc.problems]) from None


def _table_row(path, index):
    """Row ``index`` of a targets table file (any format astropy reads; one row needs no index)."""
    from astropy.table import Table
    path = Path(path)
    if not path.is_file():
        raise InvalidRequestError(f"--table: {path} is not a file")
    try:
        table = Table.read(path)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for unreadable files
        raise InvalidRequestError(f"--table: {path} cannot be read as a table ({exc})") from None
    if index is None:
        if len(table) != 1:
            raise InvalidRequestError(f"--row: {path} has {len(table)} rows; say which with --row N "
                                      "(for many sources use xrtprods_astro.batch)")
        index = 0
    if not 0 <= index < len(table):
        raise InvalidRequestError(f"--row: {index} is not a row of {path} (0 to {len(table) - 1})")
    return table[index]


def _client(args, job_control=False):
    """The client of a command; with ``job_control`` the light one (see `xrtprods_astro.jobcontrol`).

    ``status`` and ``cancel`` make two quick calls, and most of their time would go into importing
    astroquery's query machinery, which only the full client needs. ``wait`` polls for minutes.
    """
    if job_control:
        from .jobcontrol import JobControl as Client
    else:
        from .core import XRTProductsClass as Client
    poll = args.poll_interval if getattr(args, "poll_interval", None) is not None else None
    # Without --poll-interval, conf's "auto" polls a loopback server fast and UKSSDC politely.
    return Client(server=args.server, email=args.email, timeout=args.http_timeout, poll_interval=poll)


def _status_word(status):
    if status.ok:
        return "complete"
    if status.done:
        return "failed" if status.code != -4 else "cancelled"
    return "running"


def _wait(job, args, err, again=None):
    """Wait for a job with the one wait loop, drawing its progress on standard error.

    ``again`` is the command that waits for it again (default ``xrtprods wait <job>``).
    """
    from .job import StreamProgress
    progress = False if args.quiet else StreamProgress(err)
    again = again or f"xrtprods wait {job.job_id}"
    try:
        return job.wait(timeout=args.wait_timeout, poll_interval=args.poll_interval, progress=progress)
    except JobTimeoutError as exc:
        raise JobTimeoutError(f"{exc}. Wait again with: {again}") from None
    except KeyboardInterrupt:
        err.write(f"xrtprods: job {job.job_id} goes on; wait for it again with: {again}\n")
        raise


def _print_statuses(statuses, out, progress=False):
    width = max((len(k) for k in statuses), default=0)
    for key, status in statuses.items():
        out.write(f"{key:<{width}}  {_status_word(status):<9}  {status.text} (status {status.code})\n")
        if progress and not status.done:
            text = status.progress_text
            out.write("".join(f"{' ' * (width + 2)}{line}\n" for line in text.splitlines()))


# --------------------------------------------------------------------------------------- commands

def _cmd_submit(args, out, err):
    request = build_request(args)
    if args.save_request:
        request.save(args.save_request, overwrite=True)
        err.write(f"Request saved to {args.save_request}\n")
    client = _client(args)
    if args.dry_run:
        # The payload as the Python API's get_query_payload=True gives it.
        out.write(json.dumps(client.submit(request, get_query_payload=True), indent=2) + "\n")
        return EXIT_OK
    job = client.submit(request, reuse=False if args.no_reuse else None)
    if args.quiet:
        out.write(f"{job.job_id}\n")
    elif job.reused:
        out.write(f"Re-using job {job.job_id} ({', '.join(job.products)}), submitted {job.reused} for the "
                  "same request (--no-reuse submits a new one)\n"
                  f"URL: {job.url}\n"
                  f"Follow it with: xrtprods status {job.job_id}\n")
    else:
        out.write(f"Submitted job {job.job_id} ({', '.join(job.products)})\n"
                  f"URL: {job.url}\n"
                  f"Follow it with: xrtprods status {job.job_id}\n")
    out.flush()
    if args.wait:
        statuses = _wait(job, args, err)
        if not args.quiet:
            _print_statuses(statuses, out)
        return EXIT_OK if all(s.ok for s in statuses.values()) else EXIT_FAILURE
    return EXIT_OK


def _job(args, job_control=False):
    return _client(args, job_control).get_job(args.job_id)


def _cmd_status(args, out, err):
    job = _job(args, job_control=True)
    statuses = job.status(args.products)
    out.write(f"Job {job.job_id}: {job.url}\n")
    _print_statuses(statuses, out, progress=True)
    return EXIT_OK


def _cmd_wait(args, out, err):
    job = _job(args)
    statuses = _wait(job, args, err)
    _print_statuses(statuses, out)
    return EXIT_OK if all(s.ok for s in statuses.values()) else EXIT_FAILURE


#: Why the service did not cancel a product (its cancel codes, protocol.md §2.2).
_NOT_CANCELLED = {1: "probably already finished", 2: "the job has no such product",
                  3: "reason unknown", 4: "the service could not tell"}


def _cmd_cancel(args, out, err):
    job = _job(args, job_control=True)
    outcomes = job.cancel(args.products)
    width = max((len(k) for k in outcomes), default=0)
    refused = []
    for key, outcome in outcomes.items():
        if outcome.cancelled:
            out.write(f"{key:<{width}}  cancelled: {outcome.text}\n")
            continue
        why = _NOT_CANCELLED.get(outcome.code, f"cancel code {outcome.code}")
        out.write(f"{key:<{width}}  not cancelled ({why}): {outcome.text}\n")
        refused.append(f"{key} ({why})")
    if refused:
        # A script that cancels must learn that nothing stopped (e.g. the job had already finished).
        return _fail(err, EXIT_FAILURE, f"job {job.job_id}: not cancelled: {', '.join(refused)}")
    return EXIT_OK


def _cmd_download(args, out, err):
    dest = check_writable_dir(args.output, "--output")
    job = _job(args)
    dest.mkdir(parents=True, exist_ok=True)
    products = args.products
    if products and len(products) == 1 and products[0].lower() == "all":
        products = "all"
    paths = job.download(dest, products=products, format=args.format, overwrite=args.overwrite,
                         extract=args.extract)
    what = "extracted files" if args.extract else "archives"
    if not args.quiet:
        err.write(f"{len(paths)} {what} in {dest}:\n")
    for path in paths:
        out.write(f"{path}\n")
    return EXIT_OK


def _cmd_lightcurve(args, out, err):
    fmt = _table_format(args.output)
    _plot_format(args.plot)
    job = _job(args)
    _require(job, "lightcurve")
    lc = job.lightcurve(nosys=args.nosys, incbad=args.incbad)
    if args.dataset:
        # Dataset names are the service's (PCHR, WT_incbad); "pchr" means the same one.
        table = lc[{name.lower(): name for name in lc}.get(args.dataset.lower(), args.dataset)]
    else:
        # A flux light curve (erg/cm2/s) has flux datasets, not rate ones.
        table = lc.combined(lc.meta.get("quantity") or "rate", nosys=args.nosys, incbad=args.incbad)
    if not args.quiet:
        err.write(f"Light curve of job {job.job_id}: datasets "
                  f"{', '.join(f'{n} ({len(t)})' for n, t in lc.items())}\n")
    _print_table(table, args, out)
    if args.output:
        _write_table(table, args.output, fmt, args, err)
    if args.plot:
        _pyplot(args)
        fig, _ = lc.plot(nosys=args.nosys, incbad=args.incbad)
        _save_plot(fig, args, err)
    return EXIT_OK


def _cmd_rebin(args, out, err):
    client = _client(args)
    if args.attach is not None:
        rebin = client.get_rebin(args.attach, job_id=args.job_id)
    else:
        if not args.binning:
            raise InvalidRequestError("--binning: needed to ask for a new rebin (or give --attach REBIN_ID); "
                                      "allowed: counts, time, snapshot, obsid")
        params = {}
        for text in args.param or ():
            _, name, value = parse_param(text, products=("lightcurve",))
            params[name] = value
        rebin = client.get_job(args.job_id).rebin(binning=args.binning, **params)
    again = f"xrtprods rebin {rebin.job.job_id} --attach {rebin.job_id} --wait"
    if not args.quiet:
        err.write(f"Rebin job {rebin.job_id} of job {rebin.job.job_id}; follow it with: {again}\n")
    if not (args.wait or args.output):
        out.write(f"{rebin.job_id}\n")
        return EXIT_OK
    statuses = _wait(rebin, args, err, again=again)
    if not statuses["lightcurve"].ok:
        _print_statuses(statuses, out)
        return EXIT_FAILURE
    fmt = _table_format(args.output)
    lc = rebin.lightcurve(nosys=args.nosys, incbad=args.incbad)
    table = lc.combined(lc.meta.get("quantity") or "rate", nosys=args.nosys, incbad=args.incbad)
    _print_table(table, args, out)
    if args.output:
        _write_table(table, args.output, fmt, args, err)
    return EXIT_OK


# Shared by the product commands (lightcurve, spectrum, position, image, sources).

def _bad_option(text):
    """A usage error (exit 2) about an option, said in one line."""
    return InvalidRequestError([], header=text)


_TABLE_FORMATS = {".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits"}


def _table_format(path):
    """The astropy format of an ``--output`` table, checked before the service is asked anything."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower()
    if suffix not in _TABLE_FORMATS:
        raise _bad_option(f"--output: {Path(path).name!r} must end in .ecsv or .fits")
    check_writable_file(path, "--output")
    return _TABLE_FORMATS[suffix]


def _plot_format(path):
    """Check a ``--plot`` file name against the formats matplotlib writes (e.g. .png, .pdf)."""
    if path is None:
        return
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise _bad_option("--plot needs matplotlib: pip install 'xrtprods_astro[plot]'") from None
    known = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in known:
        raise _bad_option(f"--plot: {Path(path).name!r} must end in one of "
                          f"{', '.join('.' + k for k in sorted(known))}")
    check_writable_file(path, "--plot")


def _write_table(table, path, fmt, args, err):
    path = Path(path)
    if path.exists() and not args.overwrite:
        raise FileExistsError(f"{path} exists; add --overwrite to replace it")
    # Atomic, never through a link at the name (xrtprods_astro.fileio).
    write_table(table_for_file(table), path, fmt, private=False, overwrite=args.overwrite)
    err.write(f"Wrote {path}\n")


def _pyplot(args):
    """pyplot, drawing into files only unless ``--show`` asks for a window."""
    import matplotlib
    if not args.show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save_plot(fig, args, err):
    plt = _pyplot(args)
    with atomic_write(args.plot, private=False) as stream:   # atomic, never through a link
        fig.savefig(stream, format=Path(args.plot).suffix.lstrip(".").lower())
    err.write(f"Wrote {args.plot}\n")
    if args.show:
        plt.show()
    else:
        plt.close(fig)


def _require(job, key):
    """Fail plainly (exit 1) when the job was not asked for a product, before asking its status."""
    if job.products and key not in job.products:
        raise ProductNotReadyError(f"job {job.job_id} has no {PRODUCTS[key].label} (not requested; "
                                   f"it has: {', '.join(PRODUCTS[k].label for k in job.products)})")


def _target(job):
    name = job.target_name
    return f" ({name})" if name else ""


def _overlays(job, err, sources=True):
    """What an image plot can mark from this job: its source list and the positions found.

    A product that failed or is still running is left out with a warning: the plot is still made.
    """
    found, positions = None, []
    for key in job.products:
        if not (PRODUCTS[key].position or (sources and key == "source_detection")):
            continue
        try:
            if key == "source_detection":
                found = job.source_list()
            else:
                positions.append(job.position(key.replace("_position", "")))
        except (ProductNotReadyError, ReaderError) as exc:
            err.write(f"xrtprods: warning: {exc}; not drawn\n")
    return found, positions


def _quiet(args):
    """-q keeps standard output for the result asked for: nothing when it went to files."""
    return args.quiet and any(getattr(args, name, None) for name in ("output", "plot", "dest"))


def _print_table(table, args, out):
    if not _quiet(args):
        out.write("\n".join(table.pformat(max_lines=args.max_lines, max_width=-1)) + "\n")


# spectrum

#: Parameters printed by ``xrtprods spectrum`` (each with its errors), when any row has a value.
_FIT_SHOWN = ("nh", "gamma", "kt", "obs_flux", "unabs_flux")


def _fit_summary(fits):
    """The fit table's columns a reader wants first: who, exposure, parameters with errors, fit stat."""
    from astropy.table import Table
    from .display import set_display_formats
    keep = [c for c in ("interval", "mode", "model", "exposure") if c in fits.colnames]
    for name in _FIT_SHOWN:
        if name in fits.colnames and (~np.ma.getmaskarray(fits[name])).any():
            keep += [c for c in (name, f"{name}_err_neg", f"{name}_err_pos") if c in fits.colnames]
    keep += [c for c in ("cstat", "dof", "status") if c in fits.colnames]
    shown = Table(fits[keep], copy=True, meta={})
    for name in shown.colnames:
        shown[name].info.format = None
    return set_display_formats(shown)


def _cmd_spectrum(args, out, err):
    fmt = _table_format(args.output)
    _plot_format(args.plot)
    if args.dest:
        check_writable_dir(args.dest, "--dest")
    job = _job(args)
    _require(job, "spectrum")
    # Spectra first when they are fetched: their UTCFINIT states the job's clock for the fits' T0.
    spectra = job.spectra(args.dest, overwrite=args.overwrite) if args.dest else None
    fits = job.spectral_fits(spectra=spectra)
    ok = (np.asarray(fits["status"]) == "ok") if len(fits) else np.zeros(0, bool)
    if not args.quiet:
        intervals = list(dict.fromkeys(np.asarray(fits["interval"]).tolist()))
        err.write(f"Spectral fits of job {job.job_id}{_target(job)}: {len(fits)} row(s), "
                  f"{int(ok.sum())} fitted; intervals: {', '.join(intervals) or 'none'}\n")
    if fits.meta.get("no_spectrum") or not len(fits):
        raise ProductNotReadyError(f"job {job.job_id}: the service could make no spectrum (NoSpectrum)")
    _print_table(_fit_summary(fits), args, out)
    if args.output:
        _write_table(fits, args.output, fmt, args, err)
    if args.dest:
        for interval, products in spectra.items():
            for mode, files in products.modes.items():
                paths = [files.paths[k] for k in ("spectrum", "arf", "rmf") if k in files.paths]
                out.write(f"{interval} {mode}: {' '.join(str(p) for p in paths)}\n")
    if not ok.any():
        # The table and spectra are written all the same: they say why.
        raise ProductNotReadyError(f"job {job.job_id}: no fit succeeded (status: "
                                   f"{', '.join(sorted(set(fits['status'])))})"
                                   + ("; nothing plotted" if args.plot else ""))
    if args.plot:
        _pyplot(args)
        from .plotting import plot_spectral_fits
        fig, _ = plot_spectral_fits(fits, x=args.x)
        _save_plot(fig, args, err)
    return EXIT_OK


# position

_POSITION_KINDS = ("standard", "enhanced", "astrometric")


def _position_table(positions, job):
    """One row per position kind: ra/dec in degrees and sexagesimal, err90 in arcsec, or the reason."""
    from astropy import units as u
    from astropy.table import MaskedColumn, Table
    found = np.array([bool(p) for p in positions])

    def masked(values, unit, fmt):
        return MaskedColumn(values, mask=~found, unit=unit, format=fmt)

    table = Table()
    table["kind"] = [p.kind for p in positions]
    table["found"] = found
    table["ra"] = masked([p.coord.ra.deg if p else 0.0 for p in positions], u.deg, "{:.5f}")
    table["dec"] = masked([p.coord.dec.deg if p else 0.0 for p in positions], u.deg, "{:.5f}")
    table["ra_hms"] = [p.coord.ra.to_string(u.hour, sep=":", precision=2) if p else "" for p in positions]
    table["dec_dms"] = [p.coord.dec.to_string(u.deg, sep=":", precision=1, alwayssign=True) if p else ""
                        for p in positions]
    table["err90"] = masked([p.err90.to_value(u.arcsec) if p else 0.0 for p in positions], u.arcsec,
                            "{:.2f}")
    table["from_sxps"] = [bool(p.from_sxps) for p in positions]
    table["reason"] = [p.reason or "" for p in positions]
    table.meta = {"job_id": job.job_id, "frame": "icrs"}
    if job.target_name:
        table.meta["target"] = job.target_name
    return table


def _position_line(pos):
    from astropy import units as u
    if not pos:
        return f"{pos.kind:<11}  no position: {pos.reason}"
    origin = f", from {pos.which_sxps or 'SXPS'}" if pos.from_sxps else ""
    return (f"{pos.kind:<11}  {pos.coord.to_string('hmsdms', precision=2)}  "
            f"(RA, Dec = {pos.coord.ra.deg:.5f}, {pos.coord.dec.deg:+.5f} deg)  "
            f"err90 = {pos.err90.to_value(u.arcsec):.2f} arcsec{origin}")


def _cmd_position(args, out, err):
    fmt = _table_format(args.output)
    job = _job(args)
    if args.kind == "all":
        kinds = [k for k in _POSITION_KINDS if f"{k}_position" in job.products]
        if not kinds:
            raise ProductNotReadyError(f"job {job.job_id} has no position (not requested; it has: "
                                       f"{', '.join(PRODUCTS[k].label for k in job.products) or 'none'})")
    else:
        kinds = [args.kind]
        _require(job, f"{args.kind}_position")
    positions, failures = [], []
    for kind in kinds:
        try:
            positions.append(job.position(kind))
        except ProductNotReadyError as exc:
            if len(kinds) == 1:
                raise
            failures.append(str(exc))   # with --kind all, the other kinds are still shown
    for pos in positions if not _quiet(args) else ():
        out.write(_position_line(pos) + "\n")
    # Asked for every kind, the job succeeded if it found a position: the others are warnings.
    # Asked for one kind (--kind), its absence is a failure, so that a script can fall back.
    found_one = args.kind == "all" and any(positions)
    level = "warning" if found_one else "error"
    for text in failures:
        err.write(f"xrtprods: {level}: {text}\n")
    if args.output and positions:
        _write_table(_position_table(positions, job), args.output, fmt, args, err)
    missing = [p.kind for p in positions if not p]
    if missing:
        err.write(f"xrtprods: {level}: job {job.job_id}: no {' and no '.join(missing)} position "
                  "(the reason is above)\n")
    return EXIT_FAILURE if (missing or failures) and not found_one else EXIT_OK


# image

def _image_table(images):
    """The bands of an image set with each image's size, pixel scale and counts."""
    from astropy import units as u
    table = images.bands.copy()
    sizes, scales, counts = [], [], []
    for index, hdul in enumerate(images.images):
        data = hdul[0].data
        ny, nx = data.shape if data is not None else (0, 0)
        sizes.append(f"{nx}x{ny}")
        try:
            scales.append(abs(images.wcs(index).proj_plane_pixel_scales()[0].to_value(u.arcsec)))
        except ReaderError:
            scales.append(np.nan)
        counts.append(float(np.nansum(data)) if data is not None else 0.0)
    table["size"] = sizes
    table["pixel_scale"] = u.Quantity(scales, u.arcsec)
    table["pixel_scale"].info.format = "{:.3g}"
    table["counts"] = u.Quantity(counts, u.ct)
    table["counts"].info.format = "{:.0f}"
    return table


def _image_index(images, number):
    numbers = [int(n) for n in images.bands["number"]]
    if number not in numbers:
        raise _bad_option(f"--band: {number} is not an image of this job; bands: "
                          + ", ".join(f"{n} ({r['emin']:g}-{r['emax']:g} keV)"
                                      for n, r in zip(numbers, images.bands)))
    return numbers.index(number)


def _arcsec(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number of arcseconds is needed, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a number of arcseconds > 0 is needed, got {text}")
    return value


def _cmd_image(args, out, err):
    from astropy import units as u
    _plot_format(args.plot)
    if args.output:
        check_writable_dir(args.output, "--output")
    job = _job(args)
    _require(job, "image")
    images = job.images()
    if not args.quiet:
        maps = [n for n in ("summed_ex", "summed_vignet_ex") if getattr(images, n) is not None]
        err.write(f"Images of job {job.job_id}{_target(job)}: {len(images)} band(s); exposure maps: "
                  f"{', '.join(maps) or 'none'}\n")
    table = _image_table(images)
    _print_table(table, args, out)
    index = _image_index(images, args.band) if args.plot else None
    if args.output:
        dest = Path(args.output)
        dest.mkdir(parents=True, exist_ok=True)
        named = [(Path(str(row["file"])).name.split(".")[0], hdul) for row, hdul in zip(images.bands, images)]
        named += [(n, getattr(images, n)) for n in ("summed_ex", "summed_vignet_ex")
                  if getattr(images, n) is not None]
        for stem, hdul in named:
            path = dest / f"{stem}.fits"
            if path.exists() and not args.overwrite:
                raise FileExistsError(f"{path} exists; add --overwrite to replace it")
            with atomic_write(path, private=False, overwrite=args.overwrite) as stream:
                hdul.writeto(stream)
            err.write(f"Wrote {path}\n")
    if args.plot:
        sources, positions = _overlays(job, err)
        _pyplot(args)
        radius = None if args.radius is None else args.radius * u.arcsec
        fig, _ = images.plot(index, sources=sources, band=_sources_band(sources), position=positions or None,
                             radius=radius)
        _save_plot(fig, args, err)
    return EXIT_OK


# sources

#: Columns of the printed source table (every column goes to --output).
_SOURCE_SHOWN = ("band", "sno", "ra", "dec", "err90", "C", "rate", "rate_err_neg", "rate_err_pos", "snr",
                 "detflag")


def _sources_band(sources, band=None):
    if not sources:
        return "Total"
    return band or ("Total" if "Total" in sources else next(iter(sources)))


def _sources_table(lists, band):
    """The source list of one band, or of every band stacked with a ``band`` column."""
    from astropy.table import vstack
    bands = [band] if band else list(lists)
    parts = []
    for name in bands:
        table = lists[name].copy()
        if len(table):
            table.add_column(name, name="band", index=0)
            parts.append(table)
    if not parts:
        from astropy.table import Table
        return Table(meta=dict(next(iter(lists.values())).meta) if lists else {})
    result = parts[0] if len(parts) == 1 else vstack(parts, metadata_conflicts="silent")
    result.meta = {k: v for k, v in parts[0].meta.items() if k != "band"}
    if band:
        result.meta["band"] = band
    return result


def _plot_sources_on_sky(table, plt):
    """Sources on RA/Dec axes, for a job without an image."""
    fig, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
    if len(table):
        for band in dict.fromkeys(np.asarray(table["band"]).tolist()):
            rows = table[np.asarray(table["band"]) == band]
            ax.scatter(rows["coord"].ra.deg, rows["coord"].dec.deg, s=40, facecolor="none", label=band)
        if "sno" in table.colnames:
            for row in table:
                ax.annotate(f" {row['sno']}", (row["coord"].ra.deg, row["coord"].dec.deg), fontsize="x-small")
        ax.legend(fontsize="small", title="band")
    ax.invert_xaxis()   # east to the left, as on the sky
    ax.set_xlabel("Right ascension (ICRS) [deg]")
    ax.set_ylabel("Declination (ICRS) [deg]")
    ax.set_title(table.meta.get("target") or "Swift-XRT sources", loc="left", fontsize="medium")
    return fig


def _field_radius(images, sources, positions):
    """A radius around the first position found (else the image centre) that shows every source."""
    from astropy import units as u
    found = [p for p in positions if p]
    if not len(sources):
        return None
    if found:
        centre = found[0].coord
    else:
        ny, nx = images.images[0][0].data.shape
        centre = images.wcs(0).pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    return centre.separation(sources["coord"]).max().to(u.arcsec) * 1.1 + 30 * u.arcsec


def _cmd_sources(args, out, err):
    fmt = _table_format(args.output)
    _plot_format(args.plot)
    job = _job(args)
    _require(job, "source_detection")
    lists = job.source_list()
    if args.band and args.band not in lists:
        raise _bad_option(f"--band: no band {args.band!r} in this source list; bands: "
                          f"{', '.join(lists) or 'none'}")
    table = _sources_table(lists, args.band)
    if not args.quiet:
        err.write(f"Sources of job {job.job_id}{_target(job)}: "
                  f"{', '.join(f'{b} ({len(t)})' for b, t in lists.items()) or 'no band'}\n")
    if len(table):
        _print_table(table[[c for c in _SOURCE_SHOWN if c in table.colnames]], args, out)
    elif not _quiet(args):
        out.write("No source detected.\n")
    if args.output:
        _write_table(table, args.output, fmt, args, err)
    if args.plot:
        plt = _pyplot(args)
        images = None
        if "image" in job.products:
            try:
                images = job.images()
            except (ProductNotReadyError, ReaderError) as exc:
                err.write(f"xrtprods: warning: {exc}; sources drawn without the image\n")
        if images is not None:
            positions = _overlays(job, err, sources=False)[1]
            band = _sources_band(lists, args.band)
            fig, _ = images.plot(0, sources=lists, band=band, position=positions or None,
                                 radius=_field_radius(images, lists[band], positions))
        else:
            fig = _plot_sources_on_sky(table, plt)
        _save_plot(fig, args, err)
    return EXIT_OK


def _cmd_jobs(args, out, err):
    from .readers.jobs import read_job_list
    table = read_job_list(_client(args).job_list_data())
    if args.limit:
        table = table[:args.limit]
    if len(table) == 0:
        err.write("No jobs.\n")
        return EXIT_OK
    shown = table["job_id", "name", "submitted", "products", "has_products"]
    shown["submitted"].format = "iso"
    for line in shown.pformat(max_lines=-1, max_width=-1):
        out.write(line + "\n")
    return EXIT_OK


def _wait_forever(service):
    """Block until Ctrl-C (tests replace this to drive the running service)."""
    threading.Event().wait()


def _cmd_serve(args, out, err):
    from .server.__main__ import service_from_args
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            service = service_from_args(args)
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    for warning in caught:   # the non-loopback warning goes where the user looks
        err.write(f"WARNING: {warning.message}\n")
    try:
        service.start()
    except OSError as exc:   # port in use, an address this machine does not have: say so, no traceback
        err.write(f"error: cannot serve on --host {args.host} --port {args.port}: {exc}\n")
        return EXIT_USAGE
    email = service.email
    out.write(f"Local XRT products service running at {service.url}\n"
              f"Registered user: {email}\n\n"
              "Use it from the command line:\n\n"
              f"    xrtprods --server {service.url} --email {email} submit \"GRB 200416A\" "
              "--resolver service --lightcurve --wait\n\n"
              "or from Python:\n\n"
              "    from xrtprods_astro import conf, XRTProducts\n"
              f"    conf.server = {service.url!r}\n"
              f"    XRTProducts.login({email!r})\n\n"
              "Press Ctrl-C to stop.\n")
    out.flush()
    try:
        _wait_forever(service)
    except KeyboardInterrupt:
        err.write("Stopping the local service.\n")
    finally:
        service.stop()
    return EXIT_OK


def _cmd_demo(args, out, err):
    from .demo import run_demo
    run_demo(args.dest, job_duration=args.job_duration, stream=out, seed=args.seed)
    return EXIT_OK


# ----------------------------------------------------------------------------------------- parser

_EPILOG = """\
exit codes: 0 ok, 1 a product failed or is not ready, 2 usage or invalid request,
3 service error, 4 time-out, 130 interrupted.

examples:
  xrtprods demo                                   # try everything offline
  xrtprods --email you@example.org submit "GRB 200416A" --lightcurve --spectrum --wait
  xrtprods status 123456
  xrtprods lightcurve 123456 --output grb.ecsv --plot grb.png
"""


def _sub(subparsers, name, help, description, example):
    return subparsers.add_parser(name, help=help, description=description,
                                 epilog="example:\n" + example, formatter_class=_Formatter)


def _add_job_id(parser):
    parser.add_argument("job_id", help="the JobID the service gave at submission (see 'xrtprods jobs')")


def _add_products(parser, default_help):
    parser.add_argument("--products", nargs="+", metavar="PRODUCT", default=None,
                        help="products by name or code (lightcurve/lc, spectrum/spec, "
                             f"standard_position/psf, ...); {default_help}")


def _add_plot_options(parser):
    parser.add_argument("--plot", default=None, metavar="FILE", help="draw into x.png (or .pdf, .svg)")
    parser.add_argument("--show", action="store_true", help="with --plot: also open the plot in a window")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")


def _add_table_output(parser, what):
    parser.add_argument("--output", "-o", default=None, metavar="FILE",
                        help=f"write {what}: x.ecsv or x.fits (units kept)")
    _add_plot_options(parser)


def build_parser():
    """The ``xrtprods`` argument parser, with one sub-parser per command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = _Parser(
        prog="xrtprods",
        description="Swift-XRT light curves, spectra, positions and images from the UKSSDC product "
                    "generator (https://www.swift.ac.uk/user_objects).",
        epilog=_EPILOG, formatter_class=_Formatter)
    parser.add_argument("--server", default=None,
                        help="root URL of the UKSSDC site or of a local service (default: conf.server, "
                             "https://www.swift.ac.uk)")
    parser.add_argument("--email", default=None,
                        help="your registered UKSSDC e-mail address (default: conf.email, then the "
                             "XRTPRODS_EMAIL environment variable)")
    parser.add_argument("--timeout", dest="http_timeout", type=_positive, default=None, metavar="SECONDS",
                        help="time limit of one HTTP call (default: conf.timeout)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="say more (-vv: debug, with every HTTP call)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="say only the essentials (errors, and the results asked for)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    # submit
    p = _sub(sub, "submit", "submit a job (prints its JobID and URL)",
             "Submit a job to build products for one source. The source is a name (resolved on this "
             "machine with Sesame, or by UKSSDC with --resolver service) or --ra/--dec; the products are "
             "the flags below; parameters are --param KEY=VALUE (any spelling: pc_counts, pcCounts or "
             "pccounts; PRODUCT.KEY when two products share a name). Without them: centroid=yes, "
             "pos_err=1 (arcmin), use_sxps=no, get_targs=yes, and a light curve binned like the UKSSDC's "
             "GRB light curves (counts, 20 PC / 30 WT counts per bin, dynamic).",
             '  xrtprods --email you@example.org submit "GRB 200416A" --lightcurve --spectrum \\\n'
             '      --psf --param get_t0=yes --param spectrum.models=powerlaw,apec --wait\n'
             '  xrtprods submit --ra 335.6985 --dec -7.5179 --name "GRB 200416A" --lc --dry-run\n'
             '  xrtprods submit --obs-table gkper_obs.ecsv --lc --spectrum --dry-run\n'
             '  xrtprods submit --request saved_request.json --wait')
    p.add_argument("target", nargs="?", default=None, help="object name, e.g. 'GRB 200416A'")
    p.add_argument("--ra", default=None, help="right ascension, ICRS: decimal degrees or 22:22:47.6")
    p.add_argument("--dec", default=None,
                   help="declination, ICRS: decimal degrees or sexagesimal (write a negative "
                        "sexagesimal value as --dec=-07:31:04)")
    p.add_argument("--name", default=None, help="object name to record (default: the target, or a J-name)")
    p.add_argument("--table", default=None, metavar="FILE",
                   help="take the target from a row of a table file (a SkyCoord column, RA/Dec columns "
                        "such as ra/dec, RAJ2000/DEJ2000 or _RA/_DE, or a name column), as batches do")
    p.add_argument("--row", type=int, default=None, metavar="N", help="with --table: the row (from 0)")
    p.add_argument("--obs-table", default=None, metavar="FILE",
                   help="build every product from the observations of this table file only (e.g. saved "
                        "by 'xrtprods query'): its obsIDs become each product's use_obs and their "
                        "targets the targ; without a target, its rows' one position is the target")
    p.add_argument("--obs-column", default=None, metavar="NAME",
                   help="with --obs-table: the obsID column (default: obsid, ObsID, obs_id... any case)")
    p.add_argument("--which-obs", default=None, choices=("all", "detected", "undetected"),
                   help="with --obs-table: the rows whose 'detected' column says so (default: all rows)")
    p.add_argument("--resolver", choices=("client", "service"), default=None,
                   help="who resolves a target name: this machine or UKSSDC (default: conf.name_resolver)")
    group = p.add_argument_group("products (at least one, unless --request gives them)")
    for option, aliases, key, text in _PRODUCT_FLAGS:
        group.add_argument(option, *aliases, dest=key, action="store_true", help=f"request {text}")
    p.add_argument("--param", "-p", action="append", metavar="KEY=VALUE",
                   help="a request parameter; repeat for more (see xrtprods_astro.params.catalogue_table())")
    p.add_argument("--request", metavar="FILE.json", default=None,
                   help="start from a saved request (ProductRequest.save) or a JSON dict of wire parameters")
    p.add_argument("--save-request", metavar="FILE.json", default=None,
                   help="also save the request as JSON (reload it with --request)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the wire parameters that would be sent, and send nothing")
    p.add_argument("--no-reuse", action="store_true",
                   help="submit a new job even if the same request has a job already (by default it "
                        "is re-used, sparing the service)")
    p.add_argument("--wait", action="store_true", help="wait for the job to finish, showing progress")
    p.add_argument("--timeout", dest="wait_timeout", type=_positive, default=None, metavar="SECONDS",
                   help="with --wait: give up after this long (exit code 4)")
    p.add_argument("--poll-interval", type=_positive, default=None, metavar="SECONDS",
                   help="seconds between status polls (default: conf.poll_interval; 0.5 for a local service)")
    p.set_defaults(handler=_cmd_submit)

    # status
    p = _sub(sub, "status", "show the state of each product of a job, with progress",
             "Ask the service once for the state of each product of a job, and print the progress of those "
             "still running.", "  xrtprods status 123456 --products lc spec")
    _add_job_id(p)
    _add_products(p, "default: every product of the job")
    p.set_defaults(handler=_cmd_status)

    # wait
    p = _sub(sub, "wait", "wait for a job to finish, with a progress bar",
             "Poll a job politely until every product has finished, drawing a progress bar on standard "
             "error. Exit code 0 when all completed, 1 when any failed or was cancelled, 4 on time-out.",
             "  xrtprods wait 123456 --timeout 3600 && xrtprods download 123456")
    _add_job_id(p)
    p.add_argument("--timeout", dest="wait_timeout", type=_positive, default=None, metavar="SECONDS",
                   help="give up after this long (exit code 4); default: no limit")
    p.add_argument("--poll-interval", type=_positive, default=None, metavar="SECONDS",
                   help="seconds between status polls (default: conf.poll_interval; 0.5 for a local service)")
    p.set_defaults(handler=_cmd_wait)

    # cancel
    p = _sub(sub, "cancel", "cancel a job's products",
             "Cancel products of a job (all of them by default) and say, for each, whether it was.",
             "  xrtprods cancel 123456 --products spectrum")
    _add_job_id(p)
    _add_products(p, "default: every product of the job")
    p.set_defaults(handler=_cmd_cancel)

    # download
    p = _sub(sub, "download", "download a job's product archives",
             "Download the archive of each completed product of a job into a directory (failed products "
             "are skipped with a warning), and optionally extract them safely. Prints one path per line.",
             "  xrtprods download 123456 --output grb_products --format zip --extract")
    _add_job_id(p)
    p.add_argument("--output", "-o", default=".", metavar="DIR", help="directory to write into")
    p.add_argument("--format", choices=ARCHIVE_FORMATS, default="tar.gz", help="archive format")
    p.add_argument("--extract", action="store_true", help="extract the archives (and print the files)")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist")
    _add_products(p, "'all' for the service's single archive; default: each product of the job")
    p.set_defaults(handler=_cmd_download)

    # lightcurve
    p = _sub(sub, "lightcurve", "print, save or plot a job's light curve",
             "Retrieve the light curve of a completed job and print it (all modes, rates and upper limits "
             "in one table sorted by time, with units); write it as ECSV or FITS; plot it as an image.",
             "  xrtprods lightcurve 123456 --output grb.ecsv --plot grb.png\n"
             "  xrtprods lightcurve 123456 --dataset PCHR --output hr.fits")
    _add_job_id(p)
    p.add_argument("--dataset", default=None,
                   help="one dataset (WT, PC, PCUL, PCHR..., in any case) instead of all rates")
    p.add_argument("--nosys", action="store_true", help="the datasets with WT systematics removed")
    p.add_argument("--incbad", action="store_true", help="the datasets including unverified-centroid bins")
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the table: x.ecsv or x.fits")
    p.add_argument("--plot", default=None, metavar="FILE", help="draw the light curve into x.png (or .pdf)")
    p.add_argument("--show", action="store_true", help="also open the plot in a window")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")
    p.set_defaults(handler=_cmd_lightcurve)

    # rebin
    p = _sub(sub, "rebin", "rebin a job's light curve (a rebin job of its own)",
             "Ask the service to rebin the light curve of a completed job, then (with --wait or --output) "
             "wait for the rebin job with the same progress bar as 'wait' and print or write the "
             "rebinned light curve. Without them, print the rebin job's ID; --attach follows it later.",
             "  xrtprods rebin 123456 --binning time --param pc_bin_time=1000 --param wt_bin_time=100 \\\n"
             "      --output rebinned.ecsv\n"
             "  xrtprods rebin 123456 --attach 77 --wait")
    _add_job_id(p)
    p.add_argument("--binning", choices=BINNINGS, default=None, help="the new binning method")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a light-curve parameter (any spelling), e.g. pc_bin_time=1000; repeatable")
    p.add_argument("--attach", default=None, metavar="REBIN_ID", help="follow an existing rebin job")
    p.add_argument("--wait", action="store_true", help="wait for the rebin job and print the light curve")
    p.add_argument("--timeout", dest="wait_timeout", type=_positive, default=None, metavar="SECONDS",
                   help="with --wait: give up after this long (exit code 4)")
    p.add_argument("--poll-interval", type=_positive, default=None, metavar="SECONDS",
                   help="seconds between status polls")
    p.add_argument("--nosys", action="store_true", help="the datasets with WT systematics removed")
    p.add_argument("--incbad", action="store_true", help="the datasets including unverified-centroid bins")
    _add_table_output(p, "the rebinned light curve")
    p.set_defaults(handler=_cmd_rebin)

    # spectrum
    p = _sub(sub, "spectrum", "print, save or plot a job's spectral fits; fetch its spectra",
             "Retrieve the automatic spectral fits of a completed job and print them (one row per interval, "
             "mode and model: exposure, fitted parameters with their 90% errors, C-stat, status); write the "
             "full table as ECSV or FITS; plot the parameters per interval; with --dest, also download "
             "the spectra (PHA, ARF, RMF) ready for XSPEC or Sherpa.",
             "  xrtprods spectrum 123456 --output fits.ecsv --plot fits.png\n"
             "  xrtprods spectrum 123456 --dest spectra/")
    _add_job_id(p)
    _add_table_output(p, "the fit table")
    p.add_argument("--x", choices=("interval", "time"), default="interval",
                   help="with --plot: one column per interval, or the time since T0 on a log axis")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="also download and unpack the spectra into DIR (prints each mode's PHA, ARF, RMF)")
    p.set_defaults(handler=_cmd_spectrum)

    # position
    p = _sub(sub, "position", "print or save a job's positions",
             "Retrieve the XRT positions of a completed job and print each one: RA and Dec (ICRS, "
             "sexagesimal and degrees) and the 90% error radius, or the service's reason when there is "
             "no position. Exit code 1 when a position could not be determined.",
             "  xrtprods position 123456\n"
             "  xrtprods position 123456 --kind enhanced --output position.ecsv")
    _add_job_id(p)
    p.add_argument("--kind", choices=_POSITION_KINDS + ("all",), default="all",
                   help="which position; 'all': every position the job was asked for")
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write the positions as a table: x.ecsv or x.fits")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.set_defaults(handler=_cmd_position)

    # image
    p = _sub(sub, "image", "print, save or plot a job's images",
             "Download and read the images of a completed job and print their bands, sizes, pixel "
             "scales and counts; write them (and the exposure maps) as FITS files into a directory; "
             "plot one on sky axes, with the job's source list and position error circles when it has "
             "them.",
             "  xrtprods image 123456 --output images/ --plot image.png")
    _add_job_id(p)
    p.add_argument("--output", "-o", default=None, metavar="DIR",
                   help="write each image and exposure map as DIR/<name>.fits")
    p.add_argument("--band", type=int, default=1, metavar="NUMBER",
                   help="with --plot: the image to draw (the 'number' column)")
    p.add_argument("--radius", type=_arcsec, default=None, metavar="ARCSEC",
                   help="with --plot: show this radius around the position (default: a zoom on the "
                        "position's error circle, or the whole image without a position)")
    _add_plot_options(p)
    p.set_defaults(handler=_cmd_image)

    # sources
    p = _sub(sub, "sources", "print, save or plot a job's source list",
             "Retrieve the sources detected in a completed job and print them (every band, or one, with "
             "positions, errors, counts and rates); write the full table as ECSV or FITS (sky "
             "positions as ra/dec in degrees); plot them on the job's image, or on RA/Dec axes when "
             "the job has no image.",
             "  xrtprods sources 123456 --band Total --output sources.fits --plot sources.png")
    _add_job_id(p)
    p.add_argument("--band", default=None, help="one energy band (Total, Soft, Medium, Hard); default all")
    _add_table_output(p, "the source table")
    p.set_defaults(handler=_cmd_sources)

    # jobs
    p = _sub(sub, "jobs", "list your jobs, most recent first",
             "Print your job history as the service keeps it: JobID, name, submission time (UTC), "
             "products, and whether the products can still be downloaded.", "  xrtprods jobs --limit 10")
    p.add_argument("--limit", type=int, default=None, help="show only the most recent N jobs")
    p.set_defaults(handler=_cmd_jobs)

    # serve
    p = _sub(sub, "serve", "run a local, offline copy of the service",
             "Start the local XRT products service (simulated products, same protocol as UKSSDC) and "
             "print its URL and how to point the client at it. Runs until Ctrl-C.",
             "  xrtprods serve --port 8765 --job-duration 10 --error-rate 0.1\n"
             "  xrtprods --server http://127.0.0.1:8765 --email demo@example.org jobs")
    # The same options as ``python -m xrtprods_astro.server``, defined once there.
    from .server.__main__ import add_service_arguments
    add_service_arguments(p)
    p.set_defaults(handler=_cmd_serve)

    # demo
    p = _sub(sub, "demo", "run a complete example offline (local service, GRB 200416A)",
             "Start an embedded local service on 127.0.0.1 (no network), submit a GRB 200416A job with a "
             "light curve, spectrum, standard and enhanced positions, wait, show the results, download "
             "the archives, and print the Python that does the same against the real service.",
             "  xrtprods demo --dest ./my-demo --job-duration 3")
    p.add_argument("--dest", "--output", "-o", dest="dest", default="xrtprods-demo", metavar="DIR",
                   help="the folder the demo makes and writes into; a folder an earlier demo made is "
                        "replaced, any other existing one is refused")
    p.add_argument("--job-duration", type=_positive, default=3.0, help="seconds the simulated job takes")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated products")
    p.set_defaults(handler=_cmd_demo)

    # grb: the GRB repository's commands live in their own file (one CLI file per service)
    from .cli_grb import add_grb_commands
    add_grb_commands(sub, sys.modules[__name__])
    # obsfiles: the observation archives' files (cli_obsdata.py)
    from .cli_obsdata import add_obsdata_commands
    add_obsdata_commands(sub, sys.modules[__name__])
    from .cli_catalogues import add_catalogue_commands   # query, upper-limits: the catalogues
    add_catalogue_commands(sub, sys.modules[__name__])
    # Last, so that every command (the grb ones too) understands the global options after it.
    _globals_after_the_command(parser, sub)
    return parser


def _globals_after_the_command(parser, sub):
    """Understand the global options after the command too (``lightcurve 1 --output x.ecsv -q``).

    Also after a sub-command's own commands (``grb lightcurve "GRB 060729" -q``).

    Users put options at the end of a line; refusing ``-q`` there for its place is no help.
    The copies default to SUPPRESS, so a value given before the command stands unless the
    option is repeated after it; a command's own option of the same spelling (``wait
    --timeout``, ``serve -v``) keeps its meaning there.
    """
    shared = [action for action in parser._actions if action.option_strings and action.dest != "help"]
    commands = list(sub.choices.values())
    for command in commands:
        # Nested commands too (``grb lightcurve "GRB 060729" -q``), however deep.
        commands.extend(parser for action in command._actions
                        if isinstance(action, argparse._SubParsersAction)
                        for parser in action.choices.values())
        for action in shared:
            strings = [s for s in action.option_strings if s not in command._option_string_actions]
            if not strings:
                continue
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
            if isinstance(action, argparse._CountAction):
                command.add_argument(*strings, action="count", **kwargs)
            elif isinstance(action, argparse._StoreTrueAction):
                command.add_argument(*strings, action="store_true", **kwargs)
            else:
                command.add_argument(*strings, type=action.type, metavar=action.metavar, **kwargs)


# ------------------------------------------------------------------------------------------- main

def _setup_logging(verbose, quiet, stream):
    logger = logging.getLogger("xrtprods_astro")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    saved = (logger.level, logger.propagate, list(logger.handlers))
    for h in saved[2]:
        logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def restore():
        logger.removeHandler(handler)
        for h in saved[2]:
            logger.addHandler(h)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    return restore


def _fail(err, code, text):
    err.write(f"xrtprods: error: {text}\n")
    return code


def main(argv=None):
    """Run the ``xrtprods`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 ok, 1 failure, 2 usage error, 3 service error,
        4 time-out, 130 interrupted.
    """
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(err)
        return EXIT_USAGE
    _load()
    restore = _setup_logging(args.verbose, args.quiet, err)

    def show(message, category, filename, lineno, file=None, line=None):
        err.write(f"xrtprods: warning: {message}\n")

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            warnings.simplefilter("always", AstropyWarning)
            return args.handler(args, out, err)
    except (InvalidRequestError, ResolverError) as exc:
        return _fail(err, EXIT_USAGE, exc)
    except JobTimeoutError as exc:
        return _fail(err, EXIT_TIMEOUT, exc)
    except (RemoteServiceError, ServiceUnavailableError) as exc:
        return _fail(err, EXIT_SERVICE, exc)
    except (ProductNotReadyError, ReaderError, XRTProductsError) as exc:
        return _fail(err, EXIT_FAILURE, exc)
    except KeyError as exc:  # e.g. an unknown --dataset
        return _fail(err, EXIT_USAGE, exc.args[0] if exc.args else exc)
    except (FileExistsError, FileNotFoundError, PermissionError, IsADirectoryError,
            NotADirectoryError) as exc:
        return _fail(err, EXIT_FAILURE, exc)
    except KeyboardInterrupt:
        err.write("\nxrtprods: interrupted\n")
        return EXIT_INTERRUPT
    finally:
        restore()


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
