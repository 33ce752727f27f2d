# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ``xrtprods query`` and ``xrtprods upper-limits`` commands: catalogue queries (LSXPS, 2SXPS, the
observation and GRB tables) and SXPS upper limits, through `~xrtprods_astro.catalogues.CataloguesClass`.

No e-mail address is needed. The same call is made, with the same body, as from Python::

    xrtprods query LSXPS sources --name "GK Per" --radius 5arcmin --output near.ecsv
    xrtprods query obs swiftmastr --ra 52.80004 --dec 43.90431 --radius 300 --where "xrt_exposure>1000"
    xrtprods query LSXPS sources --where "Rate_band0 > 1" --columns IAUName,RA,Decl,Rate_band0 --row-limit 50
    xrtprods upper-limits "GK Per" --which-data all --bands all --output ul.ecsv
    xrtprods upper-limits --targets transients.ecsv --errors collect --output limits.fits

Exit codes as for every ``xrtprods`` command: 0 ok, 1 a target failed (``--errors collect``) or a file
could not be written, 2 usage errors, 3 service errors, 4 an upper limit still not ready (its ULID is
kept: the same command later follows it up).
"""
import json
import re

__all__ = ["add_catalogue_commands", "parse_constraint"]

#: The ``xrtprods`` command-line module (given by ``cli.build_parser``, as to ``cli_grb``: no import cycle).
cli = None

_OPERATORS = ("IS NOT NULL", "IS NULL", "NOT LIKE", "BETWEEN", "LIKE", "<=", ">=", "!=", "<", ">", "=")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*("
                         + "|".join(re.escape(op).replace(r"\ ", r"\s+") for op in _OPERATORS)
                         + r")\s*(.*?)\s*$", re.IGNORECASE)


def _value(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    except ValueError:
        return text


def parse_constraint(text):
    """A ``--where`` text as the ``column=(operator, value...)`` of `~.CataloguesClass.query_criteria`.

    Parameters
    ----------
    text : str
        ``"COLUMN OP VALUE"``: ``Rate_band0>1``, ``name LIKE GK%``, ``xrt_exposure BETWEEN 1000 5000``
        (or ``1000,5000``, ``1000 AND 5000``), ``Err90 IS NULL``. Numbers are sent as numbers; quote a
        value to send it as text.

    Returns
    -------
    tuple
        ``(column, spec)``.
    """
    from .exceptions import InvalidRequestError
    match = _CONSTRAINT.match(text or "")
    if match is None:
        raise InvalidRequestError(f"--where: {text!r} must be 'COLUMN OP VALUE' with OP one of "
                                  + ", ".join(_OPERATORS) + " (e.g. 'Rate_band0>1')")
    column, op, rest = match.group(1), " ".join(match.group(2).upper().split()), match.group(3)
    if op in ("IS NULL", "IS NOT NULL"):
        if rest:
            raise InvalidRequestError(f"--where: {op} takes no value ({text!r})")
        return column, (op,)
    if op == "BETWEEN":
        parts = [p for p in re.split(r"\s*,\s*|\s+AND\s+|\s+", rest, flags=re.IGNORECASE) if p]
        if len(parts) != 2:
            raise InvalidRequestError(f"--where: BETWEEN takes two values, e.g. "
                                      f"'{column} BETWEEN 1000 5000' ({text!r})")
        return column, (op, _value(parts[0]), _value(parts[1]))
    if not rest:
        raise InvalidRequestError(f"--where: {op} needs a value ({text!r})")
    return column, (op, _value(rest))


def _client(args):
    from .catalogues import CataloguesClass
    return CataloguesClass(server=args.server, timeout=args.http_timeout)


def _radius(text):
    """A radius: a number of arcsec, or a quantity such as ``5arcmin`` or ``30 arcsec``."""
    from astropy import units as u
    from .exceptions import InvalidRequestError
    try:
        value = u.Quantity(text)
        value = value * u.arcsec if value.unit == u.dimensionless_unscaled else value.to(u.arcsec)
    except (TypeError, ValueError, u.UnitsError):
        raise InvalidRequestError(f"--radius: {text!r} is not an angle (arcsec, or e.g. 5arcmin)") from None
    return value


def _position(args):
    """A SkyCoord from --ra/--dec, the name, or None."""
    from astropy.coordinates import SkyCoord
    from .exceptions import InvalidRequestError
    given = [what for what, value in (("a name", args.name), ("--ra/--dec", args.ra or args.dec),
                                      ("--targets", args.targets)) if value]
    if len(given) != 1:
        raise InvalidRequestError(f"give one of a name, --ra/--dec or --targets (got "
                                  f"{', '.join(given) if given else 'none'})")
    if args.ra or args.dec:
        if not (args.ra and args.dec):
            raise InvalidRequestError("--ra and --dec go together")
        return SkyCoord(cli._angle(args.ra, "--ra", True), cli._angle(args.dec, "--dec", False), frame="icrs")
    return None


def _targets(path):
    from astropy.table import Table
    from .exceptions import InvalidRequestError
    try:
        return Table.read(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # astropy raises many kinds for a file it cannot read
        raise InvalidRequestError(f"--targets: {path} is not a table astropy can read (.ecsv, .fits, "
                                  f".csv, .vot): {exc}") from None


def _add_position(p, what):
    p.add_argument("name", nargs="?", default=None,
                   help="an object name, resolved by the service (or use --ra/--dec, --targets)")
    p.add_argument("--ra", default=None, help="right ascension: degrees or 22:22:47.6 (ICRS)")
    p.add_argument("--dec", default=None, help="declination: degrees or -07:31:04 (ICRS)")
    p.add_argument("--targets", default=None, metavar="FILE",
                   help=f"a table of targets ({what}): RA/Dec columns (ra/dec, RAJ2000/DEJ2000...) or "
                        "names; .ecsv, .fits, .csv or .vot, e.g. a SIMBAD or VizieR result")


def _progress(args, err, what):
    """The progress line of a --targets run on standard error (redrawn on a terminal)."""
    if args.quiet:
        return False
    tty = hasattr(err, "isatty") and err.isatty()
    state = {"shown": -1}

    def show(done, total, failed):
        step = max(1, total // 10)
        if not tty and done != total and done // step == state["shown"]:
            return
        state["shown"] = done // step
        text = f"{what}: {done}/{total} targets done" + (f", {failed} failed" if failed else "")
        err.write(("\r" + text + ("\n" if done == total else "")) if tty else text + "\n")
        err.flush()
    return show


def _add_many(p):
    p.add_argument("--errors", choices=("raise", "collect"), default="raise",
                   help="with --targets: stop at the first failing target, or go on and list failures")
    p.add_argument("--max-workers", type=int, default=None, metavar="N",
                   help="with --targets: most requests at once (default: conf.max_active_jobs)")


def _report_errors(result, err):
    failures = result.meta.pop("errors", None) or []
    for failure in failures:
        err.write(f"xrtprods: target {failure['target_index']} ({failure['target']}): {failure['error']}\n")
    return failures


def _finish(result, args, out, err, fmt, what):
    failures = _report_errors(result, err)
    if not args.quiet:
        failed = f", {len(failures)} target(s) failed" if failures else ""
        err.write(f"{what}: {len(result)} row(s){failed}\n")
    from .display import set_display_formats
    # Printed with digits to the data's precision; the file gets the full values.
    cli._print_table(set_display_formats(result.copy(copy_data=False)), args, out)
    if args.output:
        cli._write_table(result, args.output, fmt, args, err)
    return cli.EXIT_FAILURE if failures else cli.EXIT_OK


# ---------------------------------------------------------------------------------------- query

def _query_call(args):
    """The client method and keyword arguments of ``xrtprods query``, as the Python API takes them."""
    from astropy.coordinates import SkyCoord
    from .exceptions import InvalidRequestError
    constraints = dict(parse_constraint(text) for text in args.where or ())
    columns = None
    if args.columns:
        columns = ("all" if args.columns == "all"
                   else [c.strip() for c in args.columns.split(",") if c.strip()])
    common = dict(catalog=args.catalog, table=args.table, columns=columns, row_limit=args.row_limit,
                  cache=args.cache, **constraints)
    client = _client(args)
    cone = args.name or args.ra or args.dec or args.targets
    if not cone:
        if args.radius is not None:
            raise InvalidRequestError("--radius needs a name, --ra/--dec or --targets")
        return client.query_criteria, (), dict(common, sort_by=args.sort_by, sort_descending=args.descending)
    if args.sort_by or args.descending:
        raise InvalidRequestError("--sort-by/--descending are for queries without a cone (cones come "
                                  "nearest first)")
    where = _position(args)
    radius = _radius(args.radius or "5arcmin")
    if args.targets:
        return client.query_region, (_targets(args.targets), radius), dict(
            common, errors=args.errors, max_workers=args.max_workers, progress=args.progress)
    if isinstance(where, SkyCoord):
        return client.query_region, (where, radius), common
    return client.query_object, (args.name, radius), common


def _cmd_query(args, out, err):
    fmt = cli._table_format(args.output)
    args.progress = _progress(args, err, "Cone searches")
    method, positional, kwargs = _query_call(args)
    if args.dry_run:
        out.write(json.dumps(method(*positional, get_query_payload=True, **kwargs), indent=2) + "\n")
        return cli.EXIT_OK
    result = method(*positional, **kwargs)
    resolved = result.meta.get("ResolvedInfo")
    if resolved and not args.quiet and not args.targets:
        err.write(f"{resolved}\n")
    return _finish(result, args, out, err, fmt, f"{args.catalog}/{args.table}")


# ---------------------------------------------------------------------------------------- upper limits

def _ul_call(args):
    """The client method and arguments of ``xrtprods upper-limits``, as the Python API takes them."""
    client = _client(args)
    if args.ulid:
        if args.name or args.ra or args.dec or args.targets:
            from .exceptions import InvalidRequestError
            raise InvalidRequestError("--ulid follows up an earlier request: give no target with it")
        return client.get_upper_limits_by_id, (args.ulid,), dict(cache=args.cache)
    where = _position(args)
    bands = args.bands if args.bands == "all" else [b.strip() for b in args.bands.split(",") if b.strip()]
    kwargs = dict(catalog=args.catalog, bands=bands, which_data=args.which_data, sigma=args.sigma,
                  detections_as_rates=not args.no_rates, skip_detections=args.skip_detections,
                  use_catalog_values=args.use_catalog_values, cache=args.cache)
    if args.targets:
        return client.get_upper_limits, (_targets(args.targets),), dict(
            kwargs, errors=args.errors, max_workers=args.max_workers, progress=args.progress)
    return client.get_upper_limits, (where if where is not None else args.name,), kwargs


def _cmd_upper_limits(args, out, err):
    fmt = cli._table_format(args.output)
    args.progress = _progress(args, err, "Upper limits")
    method, positional, kwargs = _ul_call(args)
    if args.dry_run:
        if args.ulid:
            out.write(json.dumps({"ULID": args.ulid}, indent=2) + "\n")
        else:
            kwargs.pop("progress", None)
            out.write(json.dumps(method(*positional, get_query_payload=True, **kwargs), indent=2) + "\n")
        return cli.EXIT_OK
    result = method(*positional, **kwargs)
    if args.stack:
        from .catalogues import CataloguesClass
        stacked = CataloguesClass.stack_upper_limits(result, sigma=args.sigma)
        stacked.meta.update(result.meta)
        result = stacked
    if not args.quiet and not args.targets:   # (of one target: a stacked Table's meta is its first's)
        if result.meta.get("ResolvedInfo"):
            err.write(f"{result.meta['ResolvedInfo']}\n")
        for source in result.meta.get("nearby_sources") or ():
            err.write(f"Catalogued source within 30\": {source.get('SourceName')} at "
                      f"{source.get('Distance')}\"\n")
    return _finish(result, args, out, err, fmt, "Upper limits")


# ---------------------------------------------------------------------------------------- parsers

def add_catalogue_commands(subparsers, cli_module):
    """Add ``xrtprods query`` and ``xrtprods upper-limits`` to the ``xrtprods`` parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``xrtprods`` parser's sub-commands.
    cli_module : module
        `xrtprods_astro.cli`, whose helpers (option checks, table writers, exit codes) these
        commands use.
    """
    global cli
    cli = cli_module
    from .vocabulary import CATALOGS

    p = cli._sub(subparsers, "query", "query a catalogue: LSXPS, 2SXPS, observations, GRBs",
                 "Rows of a UKSSDC catalogue table (every row: pages of 1000 are fetched until all are in, "
                 "or --row-limit): a cone around a name (resolved by the service), --ra/--dec, or each "
                 "row of a --targets table; and/or --where constraints. Tables: "
                 + "; ".join(f"{db}: {', '.join(tables)}" for db, tables in CATALOGS.items()) + ".",
                 '  xrtprods query LSXPS sources --name "GK Per" --radius 5arcmin --output near.ecsv\n'
                 '  xrtprods query obs swiftmastr --ra 52.80004 --dec 43.90431 --radius 300 '
                 '--where "xrt_exposure>1000"\n'
                 '  xrtprods query LSXPS sources --where "Rate_band0 > 1" --row-limit 50')
    p.add_argument("catalog", help="the database: " + ", ".join(CATALOGS))
    p.add_argument("table", help="one of its tables (see above)")
    p.add_argument("--name", default=None, help="an object name for a cone, resolved by the service")
    p.add_argument("--ra", default=None, help="cone centre: degrees or 22:22:47.6 (ICRS)")
    p.add_argument("--dec", default=None, help="cone centre: degrees or -07:31:04 (ICRS)")
    p.add_argument("--targets", default=None, metavar="FILE",
                   help="a cone around each row of this table (RA/Dec columns or names; .ecsv, .fits, "
                        ".csv, .vot), stacked with a target_index column")
    p.add_argument("--radius", default=None, help="cone radius: arcsec, or e.g. 5arcmin (default 5arcmin)")
    p.add_argument("--where", action="append", metavar="'COLUMN OP VALUE'",
                   help="a constraint, e.g. 'Rate_band0>1', 'name LIKE GK%%', 'xrt_exposure BETWEEN 1000 "
                        "5000', 'Err90 IS NULL'; repeatable (all must hold)")
    p.add_argument("--columns", default=None, help="columns to return, comma-separated, or 'all' "
                                                   "(default: the table's basic columns)")
    p.add_argument("--sort-by", default=None, metavar="COLUMN", help="order by this column")
    p.add_argument("--descending", action="store_true", help="with --sort-by: largest first")
    p.add_argument("--row-limit", type=int, default=None, metavar="N", help="most rows (default: all)")
    p.add_argument("--cache", action="store_true",
                   help="use the pages cached by an earlier --cache query (the catalogue changes hourly)")
    _add_many(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the request body of the first page (as get_query_payload=True) and stop")
    cli._add_table_output(p, "the rows")
    p.set_defaults(handler=_cmd_query)

    p = cli._sub(subparsers, "upper-limits", "SXPS upper limits (or rates) at a position",
                 "Upper limits of the SXPS upper-limit server (LSXPS or 2SXPS) at a name, a position or "
                 "each row of a --targets table: one row per dataset, in ct/s, with a 'detected' flag "
                 "where the source is detected (the rates are then valid). Results are kept in the "
                 "client's cache folder: running the same command again (after an interruption, say) "
                 "asks the service nothing, and a request that timed out is followed up by its ULID.",
                 '  xrtprods upper-limits "GK Per" --which-data all --bands all --output ul.ecsv\n'
                 '  xrtprods upper-limits --ra 166.11381 --dec 38.25 --which-data all --stack\n'
                 '  xrtprods upper-limits --targets transients.ecsv --errors collect --output limits.fits')
    _add_position(p, "one request each, a few at once")
    p.add_argument("--catalog", choices=("LSXPS", "2SXPS"), default="LSXPS", help="the catalogue")
    p.add_argument("--bands", default="total",
                   help="'all', or from total, soft, medium, hard (comma-separated)")
    p.add_argument("--which-data", choices=("deepest", "all"), default="deepest",
                   help="the deepest dataset only, or every dataset covering the position")
    p.add_argument("--sigma", type=float, default=3.0, help="confidence of the limits, Gaussian sigma")
    p.add_argument("--no-rates", action="store_true", help="limits only, no rates of detections")
    p.add_argument("--skip-detections", action="store_true",
                   help="skip datasets with a catalogued source within 30\"")
    p.add_argument("--use-catalog-values", action="store_true",
                   help="use catalogue values where the source is catalogued")
    p.add_argument("--stack", action="store_true",
                   help="print and write one limit stacked from the observations' counts")
    p.add_argument("--ulid", default=None, help="follow up a request that timed out, by its ULID")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="ask the service again even if a result was kept")
    _add_many(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the request body (as get_query_payload=True) and stop")
    cli._add_table_output(p, "the limits")
    p.set_defaults(handler=_cmd_upper_limits)
