# Licensed under a 3-clause BSD style license - see LICENSE
"""
Run the local XRT products service from the command line.

    python -m xrtprods_astro.server --port 8765 --job-duration 10

It serves until interrupted (Ctrl-C) and writes its URL and an example of
pointing the client at it on standard output.
"""
import argparse
import logging
import sys
import threading

__all__ = ["main", "build_parser", "add_service_arguments", "service_from_args"]


def _rate(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a probability between 0 and 1 is needed, got {text}")
    return value


def _non_negative(text):
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a number >= 0 is needed, got {text}")
    return value


def add_service_arguments(parser):
    """Add the options of the local service (address, jobs, faults) to ``parser``.

    Shared by ``python -m xrtprods_astro.server`` and ``xrtprods serve``, so both take the same options.
    """
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (default 127.0.0.1; a non-loopback address needs "
                             "--allow-remote)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host: other machines can then reach the service, "
                             "which has no TLS (a warning is given)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default 0: any free port)")
    parser.add_argument("--users", default="demo@example.org",
                        help="comma-separated registered e-mail addresses, or '*' to accept any "
                             "(default demo@example.org)")
    parser.add_argument("--job-duration", type=_non_negative, default=5.0,
                        help="seconds from submission to completion of a job (default 5; 0 = instant)")
    parser.add_argument("--job-limit", type=int, default=10,
                        help="most jobs queued or running per user (default 10; 0 = no limit)")
    parser.add_argument("--seed", type=int, default=0, help="server seed for simulated products (default 0)")
    parser.add_argument("--data-dir", default=None,
                        help="directory for job products (default: a temporary directory removed at exit)")
    parser.add_argument("--compress", action="store_true",
                        help="gzip text answers when the client accepts it, as UKSSDC's web server does "
                             "(default: plain answers)")
    faults = parser.add_argument_group("fault injection (all off by default)")
    faults.add_argument("--error-rate", type=_rate, default=0.0, help="probability of an HTTP 5xx answer")
    faults.add_argument("--html-rate", type=_rate, default=0.0,
                        help="probability of an HTML error page with HTTP status 200")
    faults.add_argument("--drop-rate", type=_rate, default=0.0,
                        help="probability of closing the connection without an answer")
    faults.add_argument("--drop-after-rate", type=_rate, default=0.0,
                        help="probability of doing the work, then closing without an answer")
    faults.add_argument("--truncate-rate", type=_rate, default=0.0,
                        help="probability of cutting an archive or file download short")
    faults.add_argument("--latency", type=_non_negative, default=0.0, help="seconds added to every answer")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault generator")
    return parser


def service_from_args(args):
    """A `~xrtprods_astro.server.LocalService` (not started) from parsed `add_service_arguments` options.

    Raises
    ------
    ValueError
        A non-loopback ``--host`` without ``--allow-remote``.
    """
    from .app import LocalService
    from .faults import FaultConfig
    users = None if args.users.strip() == "*" else tuple(
        u.strip() for u in args.users.split(",") if u.strip())
    faults = FaultConfig(error_rate=args.error_rate, html_rate=args.html_rate, drop_rate=args.drop_rate,
                         drop_after_rate=args.drop_after_rate, truncate_rate=args.truncate_rate,
                         latency=args.latency, seed=args.fault_seed)
    return LocalService(host=args.host, port=args.port, users=users, job_duration=args.job_duration,
                        job_limit=args.job_limit or None, seed=args.seed, data_dir=args.data_dir,
                        faults=faults, allow_remote=args.allow_remote, compress=args.compress)


def build_parser():
    """The command-line parser of ``python -m xrtprods_astro.server``."""
    parser = argparse.ArgumentParser(
        prog="python -m xrtprods_astro.server",
        description="Run a local, offline copy of the UKSSDC XRT products service.")
    add_service_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv=None, *, ready=None, stop_event=None):
    """Run the service until interrupted.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).
    ready : callable, optional
        Called with the running service once it listens (used by tests).
    stop_event : `threading.Event`, optional
        Stop when set, instead of waiting for Ctrl-C (used by tests).

    Returns
    -------
    int
        Exit status.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    logging.captureWarnings(True)
    try:
        service = service_from_args(args)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        service.start()
    except OSError as exc:   # a port in use or an address this machine lacks: a message, not a traceback
        sys.stderr.write(f"error: cannot serve on --host {args.host} --port {args.port}: {exc}\n")
        return 2
    sys.stdout.write(
        f"Local XRT products service running at {service.url}\n"
        f"Registered user: {service.email}\n\n"
        "Point the client at it with, for example:\n\n"
        "    from xrtprods_astro import conf, XRTProducts\n"
        f"    conf.server = {service.url!r}\n"
        f"    XRTProducts.login({service.email!r})\n\n"
        f"(or set the environment variable XRTPRODS_EMAIL={service.email})\n"
        "Press Ctrl-C to stop.\n")
    sys.stdout.flush()
    if ready is not None:
        ready(service)
    try:
        (stop_event or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through main()
    sys.exit(main())
