# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ``xrtprods obsfiles`` commands: the files of Swift observations in the UK, US and Italian
archives, listed and downloaded (``getObsByTarg``, ``listObsFiles``; xrtprods_astro/obsdata.py).

No job and no e-mail address are needed. Observations are given by obsID, by targetID
(``--target``) or by GRB (``--grb``)::

    xrtprods obsfiles list 00282445000 --instruments xrt --output files.ecsv
    xrtprods obsfiles list --target 282445 --match '*xpc*po_cl.evt.gz'
    xrtprods obsfiles download --grb "GRB 060729" --instruments xrt --no-auxil --dest data/
    xrtprods obsfiles download 00282445000 --mirror us --dest data/

A download that was interrupted is completed by running the same command again: the files
already there are skipped. Exit codes as for every ``xrtprods`` command: 0 ok, 1 some files could
not be downloaded, 2 usage errors, 3 service errors.
"""

__all__ = ["add_obsdata_commands"]

#: The ``xrtprods`` command-line module (given by ``cli.build_parser``: no import cycle).
cli = None
#: `xrtprods_astro.obsdata.MIRRORS` and ``INSTRUMENTS``, spelt out: the parser (and so ``--help``) is
#: built without numpy and astropy, which that module imports (tests/test_obsdata.py checks they agree).
MIRRORS = ("uk_reproc", "uk", "us", "italy")
INSTRUMENTS = ("bat", "xrt", "uvot")


def _client(args):
    from .obsdata import ObsDataClass
    return ObsDataClass(server=args.server, timeout=args.http_timeout)


def _instruments(text):
    """``--instruments``: 'all', 'none' or a comma-separated list, checked by the client."""
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if words == ["all"]:
        return "all"
    if words in ([], ["none"]):
        return None
    return words


def _obsids(args, client):
    """The obsIDs the command is about: given, of targets, of GRBs."""
    obsids = list(args.obsid)
    if args.target:
        obsids.extend(client.get_obsids(args.target)["obsid"])
    if args.grb:
        obsids.extend(client.get_grb_obsids(args.grb)["obsid"])
    if not obsids:
        raise cli._bad_option("give obsIDs, --target TARGETID or --grb NAME")
    return obsids


def _options(args):
    return dict(mirror=args.mirror, instruments=_instruments(args.instruments), auxil=not args.no_auxil,
                tdrss=args.tdrss, log=args.log, match=args.match)


def _cmd_list(args, out, err):
    fmt = cli._table_format(args.output)
    client = _client(args)
    table = client.list_files(_obsids(args, client), errors="collect", **_options(args))
    for key, message in table.meta["errors"].items():
        err.write(f"xrtprods: warning: {key}: {message}\n")
    if not args.quiet:
        err.write(f"{len(table)} files of {len(table.meta['urls'])} observations in the "
                  f"{table.meta['mirror']} archive\n")
    cli._print_table(table["obsid", "path", "url"], args, out)
    if args.output:
        cli._write_table(table, args.output, fmt, args, err)
    # Exit 1 only when no observation could be listed at all (each failure was shown above).
    return cli.EXIT_FAILURE if table.meta["errors"] and not table.meta["urls"] else cli.EXIT_OK


def _cmd_download(args, out, err):
    from .files import check_writable_dir
    check_writable_dir(args.dest, "--dest")
    client = _client(args)
    result = client.download(_obsids(args, client), args.dest, overwrite=args.overwrite,
                             max_workers=args.max_workers, **_options(args))
    counts = {s: int((result["status"] == s).sum()) for s in ("downloaded", "skipped", "failed")}
    if not args.quiet:
        err.write(f"{counts['downloaded']} downloaded, {counts['skipped']} already there, "
                  f"{counts['failed']} failed, in {args.dest}\n")
    cli._print_table(result["obsid", "path", "status", "size", "error"], args, out)
    if counts["failed"]:
        err.write("xrtprods: error: some files could not be downloaded (see the error column); run the "
                  "same command again to retry them\n")
        return cli.EXIT_FAILURE
    return cli.EXIT_OK


def _common(parser):
    parser.add_argument("obsid", nargs="*",
                        help="obsIDs (11 digits, e.g. 00282445000; leading zeros optional)")
    parser.add_argument("--target", action="append", metavar="TARGETID",
                        help="every observation of this targetID; repeatable")
    parser.add_argument("--grb", action="append", metavar="NAME",
                        help="every observation of this GRB ('GRB 060729' or its targetID); repeatable")
    parser.add_argument("--mirror", default="uk_reproc", choices=MIRRORS,
                        help="the archive: the UK copy reprocessed with recent software, or the "
                             "UK, US or Italian archive")
    parser.add_argument("--instruments", default="all", metavar="LIST",
                        help=f"'all', 'none' or some of {','.join(INSTRUMENTS)}, comma-separated")
    parser.add_argument("--no-auxil", action="store_true",
                        help="leave out the auxil folder (attitude, orbit)")
    parser.add_argument("--tdrss", action="store_true", help="include the tdrss folder")
    parser.add_argument("--log", action="store_true", help="include the log folder")
    parser.add_argument("--match", action="append", metavar="GLOB",
                        help="only files whose name matches, e.g. '*xpc*po_cl.evt.gz'; repeatable")
    parser.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")


def _workers(text):
    import argparse
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a positive whole number is needed, got {text!r}")
    return int(text)


def _cmd_help(args, out, err):
    args.obsfiles_parser.print_help(err)
    return cli.EXIT_USAGE


def add_obsdata_commands(subparsers, cli_module):
    """Add ``xrtprods obsfiles ...`` to the ``xrtprods`` parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``xrtprods`` parser's sub-commands.
    cli_module : module
        `xrtprods_astro.cli`, whose helpers and exit codes these commands use.
    """
    global cli
    cli = cli_module
    top = cli._sub(subparsers, "obsfiles", "list or download the archive files of Swift observations",
                   "The files of Swift observations (XRT, BAT, UVOT, auxiliary) in the UK (reprocessed or "
                   "not), US or Italian archive, by obsID, targetID or GRB: listed as a table, or downloaded "
                   "verified into one folder per observation. No job and no e-mail address are needed.",
                   "  xrtprods obsfiles list --target 282445 --instruments xrt\n"
                   "  xrtprods obsfiles download 00282445000 --dest data/")
    top.set_defaults(handler=_cmd_help, obsfiles_parser=top)
    sub = top.add_subparsers(dest="obsfiles_command", metavar="ACTION", parser_class=cli._Parser)

    p = cli._sub(sub, "list", "list the files of observations",
                 "List the files of observations in an archive: one row per file with its path in the "
                 "observation's folder and its URL; nothing is downloaded.",
                 "  xrtprods obsfiles list 00282445000 --instruments xrt --output files.ecsv")
    _common(p)
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the list: x.ecsv or x.fits")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.set_defaults(handler=_cmd_list)

    p = cli._sub(sub, "download", "download the files of observations (verified, resumable)",
                 "Download the files of observations into DEST/<obsid>/...: each file verified (length, "
                 "gzip and FITS integrity) and given its name only once complete. Files already there are "
                 "skipped, so running the command again completes an interrupted download.",
                 "  xrtprods obsfiles download --grb 'GRB 060729' --instruments xrt --dest data/")
    _common(p)
    p.add_argument("--dest", default=".", metavar="DIR", help="folder to download into (default: here)")
    p.add_argument("--overwrite", action="store_true", help="download again files that are already there")
    p.add_argument("--max-workers", type=_workers, default=None, metavar="N",
                   help="files fetched at once (default: conf.max_downloads)")
    p.set_defaults(handler=_cmd_download)
