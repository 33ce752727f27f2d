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
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

from astropy.utils.exceptions import AstropyWarning

from .core import default_globals, default_lightcurve
from .exceptions import (InvalidRequestError, JobTimeoutError, ProductNotReadyError, ReaderError,
                         RemoteServiceError, ResolverError, ServiceUnavailableError, XRTProductsError)

__all__ = ["main", "build_parser", "wait_with_progress", "parse_param", "build_request",
           "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_SERVICE", "EXIT_TIMEOUT", "EXIT_INTERRUPT"]

log = logging.getLogger("xrtprods_astro.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPT = 130

#: Polls of a service on this machine can be quick; UKSSDC asks for about one a minute.
LOCAL_POLL_INTERVAL = 0.5
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
_sleep = time.sleep  # one name to replace in tests (e.g. to simulate Ctrl-C while waiting)

#: Product flags of ``submit``: (option, aliases, product key, help).
_PRODUCT_FLAGS = [
    ("--lightcurve", ("--lc",), "lightcurve", "a light curve (with hardness ratios)"),
    ("--spectrum", ("--spec",), "spectrum", "a spectrum with an automatic fit"),
    ("--standard-position", ("--psf",), "standard_position", "a standard (PSF-fit) position"),
    ("--enhanced-position", ("--enh",), "enhanced_position", "an enhanced (UVOT-corrected) position"),
    ("--astrometric-position", ("--xastrom",), "astrometric_position",
     "an astrometric (2MASS-corrected) position"),
    ("--image", (), "image", "images in three energy bands"),
    ("--source-detection", ("--sourcedet",), "source_detection", "source lists per energy band"),
]


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

def _is_local(server):
    return (urlparse(str(server)).hostname or "") in _LOCAL_HOSTS


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


def _convert(record, text, label):
    """A command-line string converted to the Python type the parameter's record expects."""
    kind = record.kind
    if kind == "bool":
        return _bool_text(text, label)
    try:
        if kind == "int":
            return int(text)
        if kind in ("float", "degrees"):
            return float(text)
        if kind == "models":
            return [m.strip() for m in text.split(",") if m.strip()]
        if kind == "time":
            try:
                return float(text)  # Swift MET in seconds
            except ValueError:
                return text  # an ISO time, read by the catalogue
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
        return Angle(float(text), u.deg)
    except ValueError:
        pass
    try:
        sexagesimal = any(c in text for c in ":hms ")
        return Angle(text, u.hourangle if (hours and sexagesimal and "d" not in text) else u.deg)
    except (ValueError, u.UnitsError):
        raise InvalidRequestError(f"{label}: {text!r} is not an angle (decimal degrees, or "
                                  f"{'22:22:47.6' if hours else '-07:31:04'})") from None


def build_request(args):
    """The `~xrtprods_astro.request.ProductRequest` a ``submit`` command line describes.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``submit`` arguments (see `build_parser`).

    Returns
    -------
    `~xrtprods_astro.request.ProductRequest`
    """
    from astropy.coordinates import SkyCoord
    from .request import ProductRequest
    from .targets import resolve_target

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
            request = ProductRequest.from_json(data)
        elif isinstance(data, dict):
            # A wire dict, or a test-data wrapper {"wire": {...}}, as the service's jobPars.
            request = ProductRequest.from_job_pars(data.get("wire", data))
        else:
            raise InvalidRequestError(f"--request: {path} holds no request")
    else:
        request = ProductRequest()

    products = [key for _, _, key, _ in _PRODUCT_FLAGS if getattr(args, key)]
    for key in products:
        if key not in request.products:
            request.add_product(key)
    given = {}
    for text in args.param or []:
        scope, key, value = parse_param(text, tuple(request.products))
        given.setdefault(scope, {})[key] = value

    # Target: --ra/--dec, else a name resolved on this machine or by the service.
    target_globals = {}
    name = args.name or args.target
    if (args.ra is None) != (args.dec is None):
        raise InvalidRequestError("--ra/--dec: give both, or neither")
    if args.ra is not None:
        coord = SkyCoord(_angle(args.ra, "--ra", hours=True), _angle(args.dec, "--dec", hours=False))
        target_globals["position"] = coord
        if name is None and "name" not in request.params():
            from .request import coord_name
            name = coord_name(coord)
    elif args.target is not None and "ra" not in request.params():
        try:
            found = resolve_target(args.target, resolver=args.resolver)
        except ResolverError as exc:
            # The library's advice names Python arguments; say it in options here.
            raise ResolverError(f"{args.target!r} could not be resolved on this machine ({exc.__cause__}); "
                                "give --ra/--dec, or --resolver service to let UKSSDC resolve it") from None
        target_globals.update(found.request_kwargs())
        target_globals.pop("name", None)
        if "target" in target_globals:
            value = target_globals.pop("target")
            if found.coord is not None:
                target_globals["position"] = value
                log.info("Resolved %s to %s", args.target, found.coord.to_string("hmsdms"))
    if name is not None:
        target_globals["name"] = name
    defaults = default_globals({**request.params(), **given.get(None, {})})
    # Later values win: a --param overrides a default or the target's name.
    request.set(**{**defaults, **target_globals, **given.pop(None, {})})
    if "lightcurve" in request.products and "binning" not in request.params("lightcurve"):
        request.add_product("lightcurve", **default_lightcurve(given.get("lightcurve", True)))
    if "source_detection" in request.products and "which_data" not in request.params("source_detection"):
        request.add_product("source_detection", which_data="all")
    for scope, values in given.items():
        request.add_product(scope, **values)
    return request


def _client(args):
    from .core import XRTProductsClass
    poll = args.poll_interval if getattr(args, "poll_interval", None) is not None else None
    client = XRTProductsClass(server=args.server, email=args.email, timeout=args.http_timeout,
                              poll_interval=poll)
    if poll is None and _is_local(client.server):
        client.poll_interval = LOCAL_POLL_INTERVAL
    return client


def _status_word(status):
    if status.ok:
        return "complete"
    if status.done:
        return "failed" if status.code != -4 else "cancelled"
    return "running"


def _bar(done, total, width=20):
    filled = int(round(width * done / total)) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total} products done"


def wait_with_progress(job, *, timeout=None, poll_interval=None, stream=None, quiet=False):
    """Wait for a job, drawing a progress bar and each product's state on ``stream``.

    Parameters
    ----------
    job : `~xrtprods_astro.job.XRTJob`
    timeout : float, optional
        Longest wait in seconds (default: no limit).
    poll_interval : float, optional
        Seconds between status calls (default: the client's).
    stream : file-like, optional
        Where progress goes (default ``sys.stderr``).
    quiet : bool
        Draw nothing.

    Returns
    -------
    dict
        Product key -> `~xrtprods_astro.job.ProductStatus`, the final states.

    Raises
    ------
    JobTimeoutError
        Naming the products still running.
    """
    stream = sys.stderr if stream is None else stream
    interval = float(job._client.poll_interval if poll_interval is None else poll_interval)
    tty = hasattr(stream, "isatty") and stream.isatty()
    start = time.monotonic()
    last = None
    while True:
        statuses = job.status()
        done = sum(s.done for s in statuses.values())
        running = {k: s for k, s in statuses.items() if not s.done}
        detail = "; ".join(f"{k}: {s.text or s.code}" for k, s in running.items())
        line = _bar(done, len(statuses)) + (f"  ({detail})" if detail else "")
        if not quiet and line != last:
            # On a terminal, redraw in place; in a log, one line per change.
            stream.write(("\r\033[K" if tty else "") + line + ("" if tty else "\n"))
            stream.flush()
            last = line
        if not running:
            if not quiet and tty:
                stream.write("\n")
            return statuses
        elapsed = time.monotonic() - start
        if timeout is not None and elapsed >= timeout:
            if not quiet and tty:
                stream.write("\n")
            raise JobTimeoutError(
                f"Job {job.job_id} did not finish within {timeout:g} s; still running: "
                + ", ".join(f"{k} ({s.text or 'status ' + str(s.code)})" for k, s in running.items())
                + f". Wait again with: xrtprods wait {job.job_id}")
        pause = interval if timeout is None else min(interval, timeout - elapsed)
        _sleep(max(pause, 0.0))


def _print_statuses(statuses, out, progress=False):
    width = max((len(k) for k in statuses), default=0)
    for key, status in statuses.items():
        out.write(f"{key:<{width}}  {_status_word(status):<9}  {status.text} (status {status.code})\n")
        if progress and not status.done:
            text = status.progress_text
            out.write("".join(f"{' ' * (width + 2)}{line}\n" for line in text.splitlines()))


def _table_for_file(table):
    """A copy whose meta FITS and ECSV can both write (Times as ISO text, Quantities split)."""
    from astropy import units as u
    from astropy.time import Time
    out = table.copy(copy_data=False)
    for name in out.colnames:
        if isinstance(out[name], Time):
            # ECSV writes times as text: keep them to the nanosecond, not the default millisecond.
            out[name] = out[name].copy()
            out[name].precision = 9
    meta = {}
    for key, value in table.meta.items():
        if value is None:
            continue
        if isinstance(value, Time):
            meta[key] = value.utc.isot
        elif isinstance(value, u.Quantity):
            meta[key] = float(value.value)
            meta[f"{key}_unit"] = value.unit.to_string()
        elif isinstance(value, (str, int, float, bool)):
            meta[key] = value
        else:
            meta[key] = str(value)
    out.meta = meta
    return out


# --------------------------------------------------------------------------------------- commands

def _cmd_submit(args, out, err):
    request = build_request(args)
    if args.save_request:
        request.save(args.save_request, overwrite=True)
        err.write(f"Request saved to {args.save_request}\n")
    if args.dry_run:
        out.write(json.dumps(request.to_wire(), indent=2) + "\n")
        return EXIT_OK
    client = _client(args)
    job = client.submit(request)
    if args.quiet:
        out.write(f"{job.job_id}\n")
    else:
        out.write(f"Submitted job {job.job_id} ({', '.join(job.products)})\n"
                  f"URL: {job.url}\n"
                  f"Follow it with: xrtprods status {job.job_id}\n")
    out.flush()
    if args.wait:
        statuses = wait_with_progress(job, timeout=args.wait_timeout, stream=err, quiet=args.quiet)
        if not args.quiet:
            _print_statuses(statuses, out)
        return EXIT_OK if all(s.ok for s in statuses.values()) else EXIT_FAILURE
    return EXIT_OK


def _job(args):
    return _client(args).get_job(args.job_id)


def _cmd_status(args, out, err):
    job = _job(args)
    statuses = job.status(args.products)
    out.write(f"Job {job.job_id}: {job.url}\n")
    _print_statuses(statuses, out, progress=True)
    return EXIT_OK


def _cmd_wait(args, out, err):
    job = _job(args)
    statuses = wait_with_progress(job, timeout=args.wait_timeout, stream=err, quiet=args.quiet)
    _print_statuses(statuses, out)
    return EXIT_OK if all(s.ok for s in statuses.values()) else EXIT_FAILURE


def _cmd_cancel(args, out, err):
    job = _job(args)
    outcomes = job.cancel(args.products)
    width = max((len(k) for k in outcomes), default=0)
    for key, outcome in outcomes.items():
        word = "cancelled" if outcome.cancelled else "not cancelled"
        out.write(f"{key:<{width}}  {word}: {outcome.text}\n")
    return EXIT_OK


def _cmd_download(args, out, err):
    job = _job(args)
    dest = Path(args.output)
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
    fmt = None
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix not in (".ecsv", ".fits", ".fit", ".fts"):
            raise InvalidRequestError(f"--output: {Path(args.output).name!r} must end in .ecsv or .fits")
        fmt = "ascii.ecsv" if suffix == ".ecsv" else "fits"
    job = _job(args)
    lc = job.lightcurve(nosys=args.nosys, incbad=args.incbad)
    if args.dataset:
        table = lc[args.dataset]
    else:
        table = lc.combined("rate", nosys=args.nosys, incbad=args.incbad)
    if not args.quiet:
        err.write(f"Light curve of job {job.job_id}: datasets "
                  f"{', '.join(f'{n} ({len(t)})' for n, t in lc.items())}\n")
        out.write("\n".join(table.pformat(max_lines=args.max_lines, max_width=-1)) + "\n")
    if args.output:
        path = Path(args.output)
        _table_for_file(table).write(path, format=fmt, overwrite=args.overwrite)
        err.write(f"Wrote {path}\n")
    if args.plot:
        import matplotlib
        if not args.show:
            matplotlib.use("Agg")
        fig, _ = lc.plot(nosys=args.nosys, incbad=args.incbad)
        fig.savefig(args.plot)
        err.write(f"Wrote {args.plot}\n")
        if args.show:
            import matplotlib.pyplot as plt
            plt.show()
        else:
            import matplotlib.pyplot as plt
            plt.close(fig)
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
    service.start()
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
    run_demo(args.output, job_duration=args.job_duration, stream=out, seed=args.seed)
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
             '  xrtprods submit --request saved_request.json --wait')
    p.add_argument("target", nargs="?", default=None, help="object name, e.g. 'GRB 200416A'")
    p.add_argument("--ra", default=None, help="right ascension, ICRS: decimal degrees or 22:22:47.6")
    p.add_argument("--dec", default=None,
                   help="declination, ICRS: decimal degrees or sexagesimal (write a negative "
                        "sexagesimal value as --dec=-07:31:04)")
    p.add_argument("--name", default=None, help="object name to record (default: the target, or a J-name)")
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
    p.add_argument("--format", choices=("tar.gz", "tar", "zip"), default="tar.gz", help="archive format")
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
                   help="one dataset (WT, PC, PCUL, PCHR...) instead of all rates")
    p.add_argument("--nosys", action="store_true", help="the datasets with WT systematics removed")
    p.add_argument("--incbad", action="store_true", help="the datasets including unverified-centroid bins")
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the table: x.ecsv or x.fits")
    p.add_argument("--plot", default=None, metavar="FILE", help="draw the light curve into x.png (or .pdf)")
    p.add_argument("--show", action="store_true", help="also open the plot in a window")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")
    p.set_defaults(handler=_cmd_lightcurve)

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
             "  xrtprods demo --output ./xrtprods-demo --job-duration 3")
    p.add_argument("--output", "-o", default="xrtprods-demo", metavar="DIR", help="where files are written")
    p.add_argument("--job-duration", type=_positive, default=3.0, help="seconds the simulated job takes")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated products")
    p.set_defaults(handler=_cmd_demo)
    return parser


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
    except (FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return _fail(err, EXIT_FAILURE, exc)
    except KeyboardInterrupt:
        err.write("\nxrtprods: interrupted\n")
        return EXIT_INTERRUPT
    finally:
        restore()


if __name__ == "__main__":  # pragma: no cover - the console script calls main()
    sys.exit(main())
