# Licensed under a 3-clause BSD style license - see LICENSE
"""
The ``xrtprods grb`` commands: the ready-made products of the UKSSDC GRB repository.

No job and no e-mail address are needed: the repository holds products made automatically for
every Swift GRB. A GRB is given by name in any common spelling (``"GRB 060729"``, ``GRB060729``,
``060729``) or by its targetID::

    xrtprods grb lightcurve "GRB 060729" --output lc.ecsv --plot lc.png
    xrtprods grb lightcurve "GRB 060729" --flux --output flux.ecsv
    xrtprods grb spectrum "GRB 060729" --output fits.ecsv --dest spectra/
    xrtprods grb burst "GRB 060729" --bands xrtband --bat-binning snr4 --output burst/
    xrtprods grb position "GRB 080319B" --output position.ecsv
    xrtprods grb rebin "GRB 060729" --binning obsid --output rebinned.ecsv
    xrtprods grb timeslice "GRB 060729" --slice early=100-800 --wait --dest spectra/

Exit codes as for every ``xrtprods`` command: 0 ok, 1 no such product (or a file could not be
written), 2 usage errors (bad options, a name the repository does not know), 3 service errors.
"""
from pathlib import Path

__all__ = ["add_grb_commands"]

#: The ``xrtprods`` command-line module, whose option checks and output writers these commands share.
#: `add_grb_commands` is given it by ``cli.build_parser`` rather than this file importing it back: the
#: package has no import cycles (tests/test_imports.py), and ``cli`` owns the front door.
cli = None

_YES_NO = ("yes", "no")
_GRB_POSITION_KINDS = ("best", "enhanced", "standard", "sper", "onboard")


def _client(args):
    from .grb import GRBClass
    return GRBClass(server=args.server, timeout=args.http_timeout)


def _yes(text):
    return text == "yes"


def _add_grb(parser):
    parser.add_argument("grb", help="a GRB name ('GRB 060729', GRB060729, 060729) or its targetID")


def _add_grbs(parser, formats_option=True):
    """One GRB, or many: several names, or a table file of them (``--table``, ``--column``)."""
    parser.add_argument("grb", nargs="*",
                        help="a GRB name ('GRB 060729', GRB060729, 060729) or its targetID; several for "
                             "many GRBs (then --output is a folder, one output per GRB)")
    parser.add_argument("--table", default=None, metavar="FILE",
                        help="many GRBs: a table file (any format astropy reads) with a column of GRB "
                             "names or targetIDs")
    parser.add_argument("--column", default=None,
                        help="with --table: the GRB column (default: one named grb, name, target_id..., "
                             "or the only text column)")
    if formats_option:
        parser.add_argument("--format", choices=("ecsv", "fits"), default="ecsv",
                            help="many GRBs: the format of each GRB's file in --output")


def _one_or_many(args, many):
    """None after setting ``args.grb`` to the one GRB; else ``many(args, out, err)``'s runner."""
    grbs = _many_grbs(args)
    if grbs is None:
        args.grb = args.grb[0]
        return None
    args.grbs = grbs
    return many


def _cmd_grb_help(args, out, err):
    args.grb_parser.print_help(err)
    return cli.EXIT_USAGE


# ------------------------------------------------------------------------------------ lightcurve

def _cmd_grb_lightcurve(args, out, err):
    many = _one_or_many(args, _many_lightcurves)
    if many is not None:
        return many(args, out, err)
    fmt = cli._table_format(args.output)
    cli._plot_format(args.plot)
    client = _client(args)
    nosys, incbad = _yes(args.nosys), _yes(args.incbad)
    if args.flux:
        # The repository's flux.qdp has its plain datasets only (WT, PC, PCUL).
        lc = client.get_flux_lightcurve(args.grb)
        nosys, incbad = False, False
    else:
        lc = client.get_lightcurve(args.grb, incbad=incbad, nosys=nosys)
    if args.dataset:
        table = lc[args.dataset]
    else:
        table = lc.combined(lc.meta.get("quantity") or "rate", nosys=nosys, incbad=incbad)
    if not args.quiet:
        err.write(f"{'Flux light' if args.flux else 'Light'} curve of {_who(lc)}: datasets "
                  f"{', '.join(f'{n} ({len(t)})' for n, t in lc.items())}\n")
    cli._print_table(table, args, out)
    if args.output:
        cli._write_table(table, args.output, fmt, args, err)
    if args.plot:
        cli._pyplot(args)
        fig, _ = lc.plot(nosys=nosys, incbad=incbad)
        cli._save_plot(fig, args, err)
    return cli.EXIT_OK


# ------------------------------------------------------------------------------------ rebin

def _cmd_grb_rebin(args, out, err):
    fmt = cli._table_format(args.output)
    client = _client(args)
    if args.attach is not None:
        rebin = client.get_rebin(args.attach, grb=args.grb)
    else:
        if not args.binning:
            raise cli._bad_option("--binning: needed to ask for a new rebin (or give --attach REBIN_ID); "
                                  "allowed: " + ", ".join(cli.BINNINGS))
        params = {}
        for text in args.param or ():
            _, name, value = cli.parse_param(text, products=("lightcurve",))
            params[name] = value
        rebin = client.rebin_lightcurve(args.grb, binning=args.binning, **params)
    again = f"xrtprods grb rebin {_quoted(args.grb)} --attach {rebin.job_id} --wait"
    if not args.quiet:
        err.write(f"Rebin job {rebin.job_id} of {rebin.job._rebin_parent()}; follow it with: {again}\n")
    if not (args.wait or args.output):
        out.write(f"{rebin.job_id}\n")
        return cli.EXIT_OK
    statuses = cli._wait(rebin, args, err, again=again)
    if not statuses["lightcurve"].ok:
        cli._print_statuses(statuses, out)
        return cli.EXIT_FAILURE
    nosys, incbad = _yes(args.nosys), _yes(args.incbad)
    lc = rebin.lightcurve(nosys=nosys, incbad=incbad)
    table = lc.combined(lc.meta.get("quantity") or "rate", nosys=nosys, incbad=incbad)
    cli._print_table(table, args, out)
    if args.output:
        cli._write_table(table, args.output, fmt, args, err)
    return cli.EXIT_OK


# ------------------------------------------------------------------------------------ timeslice

_MODES = ("BOTH", "PC", "WT")


def _slices(texts):
    """``--slice NAME=TIMES[:MODE]`` options as `GRBClass.timeslice_spectrum`'s ``slices``.

    The times stay the service's text; `~xrtprods_astro.grb.GRBClass.timeslice_spectrum` checks
    names, times and modes and names every one that is not valid.
    """
    slices = {}
    for text in texts or ():
        name, eq, times = text.partition("=")
        if not eq or not name.strip() or not times.strip():
            raise cli._bad_option(f"--slice: {text!r} is not NAME=TIMES[:MODE] "
                                  "(e.g. --slice early=100-800 or --slice late=1000-5000:PC)")
        times, colon, mode = times.partition(":")
        if name.strip() in slices:
            raise cli._bad_option(f"--slice: {name.strip()!r} is given twice")
        slices[name.strip()] = (times.strip(), mode.strip()) if colon else times.strip()
    return slices


def _cmd_grb_timeslice(args, out, err):
    fmt = cli._table_format(args.output)
    if args.dest:
        cli.check_writable_dir(args.dest, "--dest")
    client = _client(args)
    if args.attach is not None:
        job = client.get_timeslice(args.attach, grb=args.grb)
    else:
        if not args.slice:
            raise cli._bad_option("--slice: needed to ask for a new time-slice job (or give --attach "
                                  "JOB_ID), e.g. --slice early=100-800")
        redshift = args.redshift
        if redshift is not None and redshift.upper() != "NONE":
            try:
                redshift = float(redshift)
            except ValueError:
                raise cli._bad_option(f"--redshift: {redshift!r} is not a number or 'none'") from None
        grades = args.grades if args.grades == "all" else int(args.grades)
        job = client.timeslice_spectrum(args.grb, slices=_slices(args.slice), mode=args.mode,
                                        redshift=redshift, grades=grades)
    again = f"xrtprods grb timeslice {_quoted(args.grb)} --attach {job.job_id} --wait"
    if not args.quiet:
        err.write(f"Time-slice job {job.job_id} of {job._source._rebin_parent()}; "
                  f"follow it with: {again}\n")
    if not (args.wait or args.output or args.dest):
        out.write(f"{job.job_id}\n")
        return cli.EXIT_OK
    statuses = cli._wait(job, args, err, again=again)
    if not statuses["spectrum"].ok:
        cli._print_statuses(statuses, out)
        return cli.EXIT_FAILURE
    # The spectra first when they are fetched (as `xrtprods spectrum --dest`).
    spectra = job.spectra(args.dest, overwrite=args.overwrite) if args.dest else None
    fits = job.spectral_fits()
    cli._print_table(cli._fit_summary(fits), args, out)
    if args.output:
        cli._write_table(fits, args.output, fmt, args, err)
    for interval, products in (spectra or {}).items():
        for mode, files in products.modes.items():
            paths = [files.paths[k] for k in ("spectrum", "arf", "rmf") if k in files.paths]
            out.write(f"{interval} {mode}: {' '.join(str(p) for p in paths)}\n")
    return cli.EXIT_OK


def _quoted(text):
    return f'"{text}"' if " " in str(text) else str(text)


def _who(data):
    meta = data.meta
    name = meta.get("grb")
    tid = meta.get("target_id")
    return f"{name} (targetID {tid})" if name else f"targetID {tid}"


# -------------------------------------------------------------------------------------- spectrum

def _cmd_grb_spectrum(args, out, err):
    import numpy as np
    from .exceptions import ProductUnavailableError
    fmt = cli._table_format(args.output)
    cli._plot_format(args.plot)
    client = _client(args)
    fits = client.get_spectral_fits(args.grb)
    if fits.meta.get("no_spectrum") or not len(fits):
        raise ProductUnavailableError(f"the GRB repository has no spectrum of {args.grb}",
                                      product="spectrum")
    ok = np.asarray(fits["status"]) == "ok"
    if not args.quiet:
        intervals = list(dict.fromkeys(np.asarray(fits["interval"]).tolist()))
        err.write(f"Spectral fits of {_who(fits)}: {len(fits)} row(s), {int(ok.sum())} fitted; "
                  f"intervals: {', '.join(intervals)}\n")
    cli._print_table(cli._fit_summary(fits), args, out)
    if args.output:
        cli._write_table(fits, args.output, fmt, args, err)
    if args.dest:
        spectra = client.get_spectra(args.grb, args.dest, overwrite=args.overwrite)
        for interval, products in spectra.items():
            for mode, files in products.modes.items():
                paths = [files.paths[k] for k in ("spectrum", "arf", "rmf") if k in files.paths]
                out.write(f"{interval} {mode}: {' '.join(str(p) for p in paths)}\n")
    if args.plot and ok.any():
        cli._pyplot(args)
        from .plotting import plot_spectral_fits
        fig, _ = plot_spectral_fits(fits, x=args.x)
        cli._save_plot(fig, args, err)
    return cli.EXIT_OK


# ---------------------------------------------------------------------------------------- burst

def _burst_summary(lc):
    """One row per dataset: what it holds, its unit, rows and time span since T0."""
    import numpy as np
    from astropy import units as u
    from astropy.table import Table
    rows = []
    for name, table in lc.items():
        meta = table.meta
        value = next((c for c in ("flux", "flux_density", "hr") if c in table.colnames), "")
        unit = table[value].unit if value else None
        t = np.asarray(table["t_since_t0"]) if "t_since_t0" in table.colnames else np.zeros(0)
        rows.append((name, meta.get("instrument") or "", meta.get("kind") or "", meta.get("band") or "",
                     value, "" if unit is None else unit.to_string(), len(table),
                     float(t.min()) if t.size else np.nan, float(t.max()) if t.size else np.nan))
    table = Table(rows=rows, names=("dataset", "instrument", "kind", "band", "column", "unit", "rows",
                                    "t_start", "t_stop"),
                  dtype=(str, str, str, str, str, str, int, float, float))
    table["t_start"].unit = table["t_stop"].unit = u.s
    table["t_start"].format = table["t_stop"].format = "{:.6g}"
    return table


def _selection(values):
    # "--bands xrtband density" or "--bands xrtband,density": both read as the list.
    if values is None:
        return "all"
    items = [v for text in values for v in text.split(",") if v.strip()]
    return "all" if [i.lower() for i in items] == ["all"] else items


def _cmd_grb_burst(args, out, err):
    many = _one_or_many(args, _many_bursts)
    if many is not None:
        return many(args, out, err)
    from .fileio import write_table
    from .files import table_for_file
    if args.dataset:
        fmt = cli._table_format(args.output)
    elif args.output and args.format not in ("ecsv", "fits"):
        raise cli._bad_option(f"--format: {args.format!r} must be ecsv or fits")
    client = _client(args)
    lc = client.get_burst_analyser(args.grb, instruments=_selection(args.instruments),
                                   bat_binning=_selection(args.bat_binning), bands=_selection(args.bands),
                                   incbad=_yes(args.incbad), nosys=_yes(args.nosys),
                                   density_unit=args.density_unit)
    if not args.quiet:
        t0 = lc.meta.get("t0")
        err.write(f"Burst analyser of {_who(lc)}: {len(lc)} dataset(s); T0 (the BAT trigger) "
                  f"{t0.isot + ' UTC' if t0 is not None else 'unknown'}\n")
    if args.dataset:
        table = lc[args.dataset]
        cli._print_table(table, args, out)
        if args.output:
            cli._write_table(table, args.output, fmt, args, err)
        return cli.EXIT_OK
    cli._print_table(_burst_summary(lc), args, out)
    if args.output:
        # Every dataset as a file of its own: they have different columns and time axes.
        dest = Path(args.output)
        if dest.exists() and not dest.is_dir():
            raise NotADirectoryError(f"--output: {dest} is not a directory (without --dataset, every "
                                     "dataset is written as DIR/<dataset>.ecsv)")
        paths = [dest / f"{name}.{args.format}" for name in lc]
        clash = [p for p in paths if p.exists()]
        if clash and not args.overwrite:
            raise FileExistsError(f"{clash[0]} exists (and {len(clash) - 1} more); add --overwrite")
        dest.mkdir(parents=True, exist_ok=True)
        fmt = {"ecsv": "ascii.ecsv", "fits": "fits"}[args.format]
        for name, path in zip(lc, paths):
            write_table(table_for_file(lc[name]), path, fmt, private=False, overwrite=args.overwrite)
        err.write(f"Wrote {len(paths)} file(s) into {dest}\n")
    return cli.EXIT_OK


# -------------------------------------------------------------------------------------- position

def _position_table(positions, target_id):
    import numpy as np
    from astropy import units as u
    from astropy.table import MaskedColumn, Table
    found = np.array([bool(p.found) for p in positions])

    def masked(values, unit, fmt):
        return MaskedColumn(values, mask=~found, unit=unit, format=fmt)

    table = Table()
    table["kind"] = [p.kind for p in positions]
    table["found"] = found
    table["ra"] = masked([p.coord.ra.deg if p.found else 0.0 for p in positions], u.deg, "{:.5f}")
    table["dec"] = masked([p.coord.dec.deg if p.found else 0.0 for p in positions], u.deg, "{:.5f}")
    table["err90"] = masked([p.err90.to_value(u.arcsec) if p.found else 0.0 for p in positions], u.arcsec,
                            "{:.2f}")
    table["reason"] = [p.reason or "" for p in positions]
    table.meta = {"target_id": target_id, "frame": "icrs"}
    return table


def _position_line(pos):
    from astropy import units as u
    if not pos.found:
        return f"{pos.kind:<9}  no position: {pos.reason}"
    return (f"{pos.kind:<9}  {pos.coord.to_string('hmsdms', precision=2)}  "
            f"(RA, Dec = {pos.coord.ra.deg:.5f}, {pos.coord.dec.deg:+.5f} deg)  "
            f"err90 = {pos.err90.to_value(u.arcsec):.2f} arcsec")


def _cmd_grb_position(args, out, err):
    many = _one_or_many(args, _many_positions)
    if many is not None:
        return many(args, out, err)
    fmt = cli._table_format(args.output)
    client = _client(args)
    kinds = "all" if "all" in args.kind else args.kind
    positions = list(client.get_positions(args.grb, kinds).values())
    if not cli._quiet(args):
        for pos in positions:
            out.write(_position_line(pos) + "\n")
    if args.output:
        tid = positions[0].details.get("target_id") if positions else None
        cli._write_table(_position_table(positions, tid), args.output, fmt, args, err)
    missing = [p.kind for p in positions if not p.found]
    if missing and len(missing) == len(positions):
        err.write(f"xrtprods: error: {args.grb}: no {' and no '.join(missing)} position\n")
        return cli.EXIT_FAILURE
    return cli.EXIT_OK


# ------------------------------------------------------------------------------------ many GRBs

def _many_grbs(args):
    """The GRBs of a command, as given: the positional names, then those of ``--table``'s column;
    None when the command names one GRB (the one-GRB form, its output a file)."""
    from .grb import _grb_items
    grbs = list(args.grb or ())
    if args.table is None:
        if not grbs:
            raise cli._bad_option("grb: give a GRB name or targetID (several, or --table FILE, for many)")
        return None if len(grbs) == 1 else grbs
    from astropy.table import Table
    path = Path(args.table)
    if not path.is_file():
        raise cli._bad_option(f"--table: {path} is not a file")
    try:
        table = Table.read(path)
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for unreadable files
        raise cli._bad_option(f"--table: {path} cannot be read as a table ({exc})") from None
    import numpy as np
    # A masked row (no name) stays a row: it is reported as failed, not silently dropped.
    return grbs + ["" if x is np.ma.masked else x for x in _grb_items(table, args.column)]


def _grb_file_name(grb):
    """The output name of one GRB: its documented spelling (``GRB_060729``) or its targetID."""
    from .files import safe_component
    from .grb import _classify
    try:
        kind, value = _classify(grb)
    except Exception:  # noqa: BLE001 - not a GRB: its own text, reported as its failure
        return safe_component(grb or "unnamed", "GRB")
    return safe_component(value if kind == "name" else "%08d" % value, "GRB")


def _run_many(args, out, err, fetch, write, suffix):
    """Fetch and write the product of many GRBs, one output each in ``--output DIR``.

    ``fetch(client, grbs, callback)`` asks for the GRBs (several at once, errors collected);
    ``write(product, path)`` writes one GRB's output, complete or not at all. A GRB whose
    output is already there is skipped (``--overwrite`` does it again), so a re-run after an
    interruption resumes. Prints one row per GRB; exit 1 when any GRB failed.
    """
    from astropy.table import Table
    grbs = args.grbs
    if not args.output:
        raise cli._bad_option("--output: give a folder for many GRBs (one output per GRB is written there)")
    if getattr(args, "plot", None):
        raise cli._bad_option("--plot: one GRB at a time (many GRBs write their tables into --output)")
    dest = Path(args.output)
    if dest.exists() and not dest.is_dir():
        raise cli._bad_option(f"--output: {dest} is not a folder (many GRBs are written as "
                              f"{dest}/<GRB>{suffix})")
    dest.mkdir(parents=True, exist_ok=True)
    cli.check_writable_dir(dest, "--output")
    paths, status, todo = {}, {}, []
    for grb in grbs:
        key = str(grb)
        if key in paths:
            continue
        paths[key] = dest / f"{_grb_file_name(key)}{suffix}"
        if paths[key].exists() and not args.overwrite:
            status[key] = ("skipped", "already written")
        elif any(paths[key] == paths[k] for k in todo):
            status[key] = ("skipped", f"the same GRB as {todo[[paths[k] for k in todo].index(paths[key])]}")
        else:
            todo.append(key)

    def done(key, product):
        if key not in paths or key in status:
            return
        if isinstance(product, Exception):
            status[key] = ("failed", f"{type(product).__name__}: {product}")
            return
        try:
            write(product, paths[key])
        except Exception as exc:  # noqa: BLE001 - one GRB's output failing never stops the others
            status[key] = ("failed", f"{type(exc).__name__}: {exc}")
            return
        status[key] = ("written", str(paths[key]))

    if todo:
        fetch(_client(args), todo, done)
    keys = list(paths)
    summary = Table([keys, [status.get(k, ("failed", "no answer"))[0] for k in keys],
                     [status.get(k, ("", ""))[1] for k in keys]], names=("grb", "status", "output"))
    out.write("\n".join(summary.pformat(max_lines=-1, max_width=-1)) + "\n")
    counts = {s: sum(1 for k in keys if status.get(k, ("failed",))[0] == s)
              for s in ("written", "skipped", "failed")}
    if not args.quiet:
        err.write(f"{len(keys)} GRB(s): {counts['written']} written, {counts['skipped']} already there, "
                  f"{counts['failed']} failed, in {dest}\n")
    return cli.EXIT_FAILURE if counts["failed"] else cli.EXIT_OK


def _write_one_table(table, path, overwrite):
    from .fileio import write_table
    from .files import table_for_file
    fmt = {".ecsv": "ascii.ecsv", ".fits": "fits"}[path.suffix]
    # Atomic: the file appears complete or not at all, so its presence means "done" on a re-run.
    write_table(table_for_file(table), path, fmt, private=False, overwrite=overwrite)


def _many_lightcurves(args, out, err):
    nosys, incbad = _yes(args.nosys), _yes(args.incbad)

    def fetch(client, grbs, callback):
        if args.flux:
            for grb in grbs:   # flux.qdp files: one GET each, no many-GRB call of the API
                try:
                    callback(grb, client.get_flux_lightcurve(grb))
                except Exception as exc:  # noqa: BLE001
                    callback(grb, exc)
        else:
            client.get_lightcurves(grbs, incbad=incbad, nosys=nosys, errors="collect", callback=callback,
                                   progress=not args.quiet)

    def write(lc, path):
        table = lc[args.dataset] if args.dataset else lc.combined(
            lc.meta.get("quantity") or "rate", nosys=False if args.flux else nosys,
            incbad=False if args.flux else incbad)
        _write_one_table(table, path, args.overwrite)

    return _run_many(args, out, err, fetch, write, f".{args.format}")


def _many_positions(args, out, err):
    kinds = "all" if "all" in args.kind else args.kind

    def fetch(client, grbs, callback):
        client.get_positions_many(grbs, kinds, errors="collect", callback=callback,
                                  progress=not args.quiet)

    def write(positions, path):
        positions = list(positions.values())
        tid = positions[0].details.get("target_id") if positions else None
        _write_one_table(_position_table(positions, tid), path, args.overwrite)

    return _run_many(args, out, err, fetch, write, f".{args.format}")


def _many_bursts(args, out, err):
    import shutil
    from .fileio import write_table
    from .files import table_for_file

    if args.dataset:
        raise cli._bad_option("--dataset: one GRB at a time (many GRBs write every dataset)")

    def fetch(client, grbs, callback):
        client.get_burst_analysers(grbs, instruments=_selection(args.instruments),
                                   bat_binning=_selection(args.bat_binning), bands=_selection(args.bands),
                                   incbad=_yes(args.incbad), nosys=_yes(args.nosys),
                                   density_unit=args.density_unit, errors="collect", callback=callback,
                                   progress=not args.quiet)

    def write(lc, path):
        # Every dataset into a scratch folder beside, renamed to the GRB's folder when all are
        # written: the folder's presence means the GRB is done.
        scratch = path.parent / f".{path.name}.partial"
        if scratch.exists():   # left by an interrupted run
            shutil.rmtree(scratch)
        scratch.mkdir()
        try:
            fmt = {"ecsv": "ascii.ecsv", "fits": "fits"}[args.format]
            for name in lc:
                write_table(table_for_file(lc[name]), scratch / f"{name}.{args.format}", fmt, private=False)
            if path.exists():   # --overwrite: the old folder goes once the new one is complete
                shutil.rmtree(path)
            scratch.rename(path)
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)

    return _run_many(args, out, err, fetch, write, "")


# ---------------------------------------------------------------------------------------- parser

def add_grb_commands(subparsers, cli_module):
    """Add ``xrtprods grb ...`` to the ``xrtprods`` parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``xrtprods`` parser's sub-commands.
    cli_module : module
        `xrtprods_astro.cli`, whose helpers (option checks, table and plot writers, exit codes)
        these commands use.
    """
    global cli
    cli = cli_module
    grb = cli._sub(subparsers, "grb", "the ready-made products of a Swift GRB (no job needed)",
                   "Light curves, spectral fits and spectra, burst-analyser fluxes and positions of a "
                   "Swift GRB, from the UKSSDC GRB repository (https://www.swift.ac.uk/xrt_products). "
                   "No job and no e-mail address are needed.",
                   '  xrtprods grb lightcurve "GRB 060729" --output lc.ecsv\n'
                   '  xrtprods grb burst "GRB 060729" --bands xrtband --output burst/')
    grb.set_defaults(handler=_cmd_grb_help, grb_parser=grb)
    sub = grb.add_subparsers(dest="grb_command", metavar="PRODUCT", parser_class=cli._Parser)

    p = cli._sub(sub, "lightcurve", "print, save or plot a GRB's light curve",
                 "The repository light curve of a GRB: count rates (ct/s) of every mode with upper "
                 "limits, in one table sorted by time, with absolute times from the repository's T0; or, "
                 "with --flux, its 0.3-10 keV flux light curve (erg/cm2/s). Several GRBs (or --table "
                 "FILE): one file per GRB in the --output folder, several "
                 "GRBs asked for at once; a GRB already written there is skipped, so a re-run resumes.",
                 '  xrtprods grb lightcurve "GRB 060729" --output lc.ecsv --plot lc.png\n'
                 '  xrtprods grb lightcurve 221755 --flux --output flux.fits\n'
                 '  xrtprods grb lightcurve "GRB 060729" 080319B --output curves/\n'
                 '  xrtprods grb lightcurve --table grbs.csv --column name --output curves/')
    _add_grbs(p)
    p.add_argument("--flux", action="store_true", help="the flux light curve (erg/cm2/s), not count rates")
    p.add_argument("--dataset", default=None, help="one dataset (WT, PC_incbad, PCUL_incbad, PCHR...)")
    p.add_argument("--incbad", choices=_YES_NO, default="yes",
                   help="the datasets including bins with an unverified centroid")
    p.add_argument("--nosys", choices=_YES_NO, default="no", help="the WT datasets without systematics")
    cli._add_table_output(p, "the table")
    p.set_defaults(handler=_cmd_grb_lightcurve)

    p = cli._sub(sub, "rebin", "rebin a GRB's light curve (a rebin job of the repository)",
                 "Ask the GRB repository to rebin a GRB's light curve, then (with --wait or --output) wait "
                 "for the rebin job with the progress bar of 'xrtprods wait' and print or write the "
                 "rebinned light curve. Without them, print the rebin job's ID; --attach follows it later.",
                 '  xrtprods grb rebin "GRB 060729" --binning time --param pc_bin_time=1000 -o lc.ecsv\n'
                 '  xrtprods grb rebin "GRB 060729" --attach 77 --wait')
    _add_grb(p)
    p.add_argument("--binning", choices=cli.BINNINGS, default=None, help="the new binning method")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a light-curve parameter (any spelling), e.g. pc_bin_time=1000; repeatable")
    p.add_argument("--attach", default=None, metavar="REBIN_ID", help="follow an existing rebin job")
    p.add_argument("--wait", action="store_true", help="wait for the rebin job and print the light curve")
    p.add_argument("--timeout", dest="wait_timeout", type=cli._positive, default=None, metavar="SECONDS",
                   help="with --wait: give up after this long (exit code 4)")
    p.add_argument("--poll-interval", type=cli._positive, default=None, metavar="SECONDS",
                   help="seconds between status polls")
    p.add_argument("--incbad", choices=_YES_NO, default="yes",
                   help="the datasets including bins with an unverified centroid")
    p.add_argument("--nosys", choices=_YES_NO, default="no", help="the WT datasets without systematics")
    cli._add_table_output(p, "the rebinned light curve")
    p.set_defaults(handler=_cmd_grb_rebin)

    p = cli._sub(sub, "timeslice", "spectra of a GRB over chosen time slices (a time-slice job)",
                 "Ask the GRB repository for spectra of a GRB over 1 to 4 time slices, then (with --wait, "
                 "--output or --dest) wait for the job with the progress bar of 'xrtprods wait', print "
                 "its spectral fits, write them (--output) and fetch the spectra (--dest). Without "
                 "them, print the time-slice job's ID; --attach follows it later. TIMES is the "
                 "service's text: seconds since T0 (MET if > 1e8), '100-300,500-1000', or "
                 "'OBS00221755001-OBS00221755002'.",
                 '  xrtprods grb timeslice "GRB 060729" --slice early=100-800 --slice late=1000-5000:PC '
                 '--wait\n'
                 '  xrtprods grb timeslice "GRB 060729" --attach 12 --output fits.ecsv --dest spectra/')
    _add_grb(p)
    p.add_argument("--slice", action="append", metavar="NAME=TIMES[:MODE]",
                   help="a time slice: a name (letters, digits, _), its times and optionally its mode "
                        "(PC, WT, BOTH); repeatable, 1 to 4")
    p.add_argument("--mode", type=str.upper, choices=_MODES, default="BOTH",
                   help="the mode of slices that name none")
    p.add_argument("--redshift", default=None, metavar="Z",
                   help="redshift of the intrinsic absorber, or 'none' (default: the GRB system's)")
    p.add_argument("--grades", choices=("all", "0", "4"), default="all", help="event grades")
    p.add_argument("--attach", default=None, metavar="JOB_ID", help="follow an existing time-slice job")
    p.add_argument("--wait", action="store_true", help="wait for the job and print its spectral fits")
    p.add_argument("--timeout", dest="wait_timeout", type=cli._positive, default=None, metavar="SECONDS",
                   help="with --wait: give up after this long (exit code 4)")
    p.add_argument("--poll-interval", type=cli._positive, default=None, metavar="SECONDS",
                   help="seconds between status polls")
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write the fit table: x.ecsv or x.fits (units kept)")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="download and unpack the slices' spectra into DIR (prints each mode's PHA, ARF, "
                        "RMF)")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist")
    p.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")
    p.set_defaults(handler=_cmd_grb_timeslice)

    p = cli._sub(sub, "spectrum", "print or save a GRB's spectral fits; fetch its spectra",
                 "The repository's automatic spectral fits of a GRB (one row per interval, mode and model, "
                 "units on every column, frozen parameters flagged); with --dest, also its spectra (PHA, "
                 "ARF, RMF) ready for XSPEC or Sherpa.",
                 '  xrtprods grb spectrum "GRB 060729" --output fits.ecsv --dest spectra/')
    _add_grb(p)
    cli._add_table_output(p, "the fit table")
    p.add_argument("--x", choices=("interval", "time"), default="interval",
                   help="with --plot: one column per interval, or the time since T0 on a log axis")
    p.add_argument("--dest", default=None, metavar="DIR",
                   help="also download and unpack the spectra into DIR (prints each mode's PHA, ARF, RMF)")
    p.set_defaults(handler=_cmd_grb_spectrum)

    p = cli._sub(sub, "burst", "print or save a GRB's burst-analyser fluxes",
                 "The burst analyser of a GRB (Evans et al. 2010): BAT and XRT fluxes (erg/cm2/s), flux "
                 "densities (Jy) and photon indices, one dataset per instrument, binning and band, times "
                 "since T0 (the BAT trigger) and absolute. Without --dataset it prints the list of "
                 "datasets, and --output DIR writes each one as DIR/<dataset>.ecsv (or .fits). Several "
                 "GRBs (or --table FILE): one folder per GRB in --output, several GRBs asked for at "
                 "once; a GRB already written there is skipped, so a re-run resumes.",
                 '  xrtprods grb burst "GRB 060729" --instruments xrt --bands xrtband density\n'
                 '  xrtprods grb burst "GRB 060729" --dataset BAT_SNR4_XRTBand --output bat.ecsv\n'
                 '  xrtprods grb burst "GRB 060729" --bat-binning snr4 --output burst/\n'
                 '  xrtprods grb burst --table grbs.csv --bands xrtband --output bursts/')
    _add_grbs(p, formats_option=False)
    p.add_argument("--instruments", nargs="+", default=None, metavar="NAME",
                   help="some of bat, xrt, uvot (default: all)")
    p.add_argument("--bat-binning", nargs="+", default=None, metavar="BINNING",
                   help="some of snr4 snr5 snr6 snr7 timedel0.004 timedel0.064 timedel1 timedel10 "
                        "(default: all; asking for everything of a bright GRB may exceed the service's "
                        "memory)")
    p.add_argument("--bands", nargs="+", default=None, metavar="BAND",
                   help="some of xrtband (0.3-10 keV), batband (15-50 keV), density (10 keV), "
                        "observedflux (default: all)")
    p.add_argument("--incbad", choices=_YES_NO, default="yes",
                   help="the XRT datasets including bins with an unverified centroid")
    p.add_argument("--nosys", choices=_YES_NO, default="no", help="the XRT WT datasets without systematics")
    p.add_argument("--density-unit", choices=("Jy", "mJy"), default="Jy", help="unit of flux densities")
    p.add_argument("--dataset", default=None, help="print (and --output) this one dataset")
    p.add_argument("--output", "-o", default=None, metavar="FILE_OR_DIR",
                   help="with --dataset: x.ecsv or x.fits; without: a directory for every dataset")
    p.add_argument("--format", choices=("ecsv", "fits"), default="ecsv",
                   help="without --dataset: the format of the files written into --output")
    p.add_argument("--overwrite", action="store_true", help="replace files that exist")
    p.add_argument("--max-lines", type=int, default=40, help="rows printed (-1: all)")
    p.set_defaults(handler=_cmd_grb_burst)

    p = cli._sub(sub, "position", "print or save a GRB's XRT positions",
                 "The XRT positions of a GRB: best (enhanced, else standard, else SPER, else on-board), "
                 "enhanced, standard, SPER, on-board; RA and Dec (ICRS) and the 90% error radius, or why "
                 "there is none. Exit code 1 when the repository has none of those asked for. Several "
                 "GRBs (or --table FILE): one file per GRB in the --output folder, several "
                 "GRBs asked for at once; a GRB already written there is skipped, so a re-run resumes.",
                 '  xrtprods grb position "GRB 080319B"\n'
                 '  xrtprods grb position "GRB 080319B" --kind best --output best.ecsv\n'
                 '  xrtprods grb position "GRB 080319B" 101225A --output positions/')
    _add_grbs(p)
    p.add_argument("--kind", nargs="+", choices=_GRB_POSITION_KINDS + ("all",), default=["all"],
                   help="which positions")
    p.add_argument("--output", "-o", default=None, metavar="FILE",
                   help="write the positions as a table: x.ecsv or x.fits")
    p.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    p.set_defaults(handler=_cmd_grb_position)
    return grb
