# Licensed under a 3-clause BSD style license - see LICENSE
"""
``XRTPRODS_SERVER=local``: the bundled service as the server, and the poll interval each server gets.

With ``conf.server = "local"`` (or the ``XRTPRODS_SERVER`` environment variable set to ``local``
while ``conf.server`` keeps its default) the client talks to the package's own
`~xrtprods_astro.server.LocalService`, started on first use in a background thread of this
Python process and stopped when the process exits. It accepts any e-mail address, resolves
names itself (there is no network) and keeps its jobs under the package's cache folder,
``astropy.config.get_cache_dir('xrtprods_astro')/local-service``, so that a second run of the same
script finds the jobs of the first with the same JobIDs and URLs. It listens on a loopback port
fixed by that folder (`local_port`); a service already answering there, from another Python
process of the same user, is used instead of starting a second one.
"""
import atexit
import hashlib
import json
import logging
import os
import threading
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from urllib.parse import urlparse

from .exceptions import InvalidRequestError, XRTProductsWarning
from .transport import _is_loopback, check_url

__all__ = ["LOCAL", "SERVER_ENV", "LOCAL_JOB_DURATION", "LOOPBACK_POLL_INTERVAL", "POLITE_POLL_INTERVAL",
           "is_local", "server_setting", "server_url", "check_server", "default_resolver", "local_data_dir",
           "local_port", "local_service_url", "effective_poll_interval"]

log = logging.getLogger("xrtprods_astro.localmode")

#: The server setting that means "the bundled service, started in this process".
LOCAL = "local"
#: Environment variable that replaces ``conf.server``'s default (a URL or ``local``).
SERVER_ENV = "XRTPRODS_SERVER"
#: Seconds a job of the ``local`` service takes: long enough to see it queue and run.
LOCAL_JOB_DURATION = 2.0
#: Seconds between polls of a service on this machine (nothing to spare there).
LOOPBACK_POLL_INTERVAL = 0.5
#: Least seconds between polls of any other server: UKSSDC asks for about one poll a minute
#: (protocol.md section 7).
POLITE_POLL_INTERVAL = 60.0
# Ports from which `local_port` picks one: below Linux's ephemeral range (32768-60999), so an
# outgoing connection never holds it.
_PORT_BASE, _PORT_SPAN = 20000, 10000
# What the local service says in its Server header (its handler's ``server_version``).
_SERVER_HEADER = "xrtprods-local"
_PROBE_TIMEOUT = 2.0

_lock = threading.Lock()
_service = None       # the LocalService this process started
_attached = None      # or the URL of one another process runs


def is_local(setting):
    """Whether a server setting is the word ``local`` (any case, surrounding spaces ignored)."""
    return isinstance(setting, str) and setting.strip().lower() == LOCAL


def server_setting(explicit=None):
    """The server setting in force: a URL or ``local``, before ``local`` is started.

    Parameters
    ----------
    explicit : str, optional
        A client's own setting (``XRTProductsClass(server=...)``); it wins when given.

    Returns
    -------
    str
        ``explicit``, else ``conf.server`` when it was changed from its default, else the
        ``XRTPRODS_SERVER`` environment variable when set, else ``conf.server``'s default. So the
        environment variable replaces the default without overriding a choice made in the script
        or in the configuration file, as ``XRTPRODS_EMAIL`` does for ``conf.email``.
    """
    if explicit is not None:
        return str(explicit)
    from . import conf
    configured = conf.server
    if configured == type(conf).server.defaultvalue and os.environ.get(SERVER_ENV, "").strip():
        return os.environ[SERVER_ENV].strip()
    return str(configured)


def server_url(explicit=None):
    """The root URL to talk to: the setting's URL, or that of the ``local`` service (started if needed).

    Raises
    ------
    InvalidRequestError
        If the setting is neither ``local`` nor a usable URL; the message names where it came from.
    """
    setting = server_setting(explicit)
    if is_local(setting):
        return local_service_url()
    from . import conf
    source = ("server" if explicit is not None else "conf.server" if setting == conf.server
              else SERVER_ENV)
    check_server(setting, source)
    return setting


def check_server(value, what="server"):
    """Refuse a server setting that is neither ``local`` nor a usable URL (see `~.transport.check_url`)."""
    if is_local(value):
        return value
    try:
        return check_url(str(value), what)
    except InvalidRequestError as exc:
        raise InvalidRequestError([f"{problem}; or 'local' for the bundled service (offline)"
                                   for problem in exc.problems]) from None


def default_resolver(explicit_server=None):
    """The name resolver to use when none is given: ``"service"`` for ``local``, else ``conf.name_resolver``.

    The ``local`` mode resolves names through the service because it is meant to work with no
    network (Sesame is out of reach) and the local service only knows the positions of its own sky.

    Parameters
    ----------
    explicit_server : str, optional
        A client's own server setting (see `server_setting`).
    """
    if is_local(server_setting(explicit_server)):
        return "service"
    from . import conf
    return conf.name_resolver


def local_data_dir():
    """The folder of the ``local`` service's jobs: ``<package cache>/local-service``."""
    from astropy.config import get_cache_dir
    return Path(get_cache_dir("xrtprods_astro")) / "local-service"


def local_port(data_dir=None):
    """The loopback port of the ``local`` service keeping its jobs in ``data_dir``.

    Fixed by the folder, so each run of a script gets the same port (hence the same job URLs and
    cache keys), while users or test runs with other cache folders never share a service.
    """
    folder = str(Path(local_data_dir() if data_dir is None else data_dir).resolve())
    return _PORT_BASE + int(hashlib.sha256(folder.encode()).hexdigest(), 16) % _PORT_SPAN


def _answers_as_local_service(url):
    """Whether ``url`` is an xrtprods local service that accepts any user (probe, no side effect)."""
    # No proxy: the probe is for this machine only, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    body = json.dumps({"UserID": "probe@local.invalid"}).encode()
    request = urllib.request.Request(f"{url}/user_objects/getNumJobs.php", data=body, method="POST")
    try:
        with opener.open(request, timeout=_PROBE_TIMEOUT) as answer:
            server = answer.headers.get("Server", "")
            data = json.loads(answer.read().decode("utf-8"))
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return server.startswith(_SERVER_HEADER) and isinstance(data, dict) and data.get("OK") == 1


def local_service_url():
    """The URL of the ``local`` service, starting it (or finding a running one) on first use.

    Returns
    -------
    str
        ``http://127.0.0.1:<port>``.
    """
    global _service, _attached
    with _lock:
        if _service is not None and _service.running:
            return _service.url
        if _attached is not None:
            return _attached
        data_dir = local_data_dir()
        port = local_port(data_dir)
        url = f"http://127.0.0.1:{port}"
        if _answers_as_local_service(url):
            log.info("Using the local XRT products service already running at %s", url)
            _attached = url
            return url
        service = _start(data_dir, port)
        if service is None:  # the port was taken meanwhile: by our own kind, or by something else
            if _answers_as_local_service(url):
                _attached = url
                return url
            service = _start(data_dir, 0)
        _service = service
        atexit.register(_stop)
        log.info("Started the local XRT products service at %s (jobs kept in %s)", service.url, data_dir)
        return service.url


def _start(data_dir, port):
    from .server.app import LocalService
    server_log = logging.getLogger("xrtprods_astro.server")
    if server_log.level == logging.NOTSET:
        # The service runs inside the user's script: its own INFO lines (each submission) would
        # interleave with the client's progress and say the same thing.
        server_log.setLevel(logging.WARNING)
    service = LocalService(port=port, users=None, job_duration=LOCAL_JOB_DURATION, data_dir=data_dir,
                           persist=True)
    try:
        return service.start()
    except OSError:
        if port == 0:
            raise
        return None


def _stop():
    global _service
    with _lock:
        service, _service = _service, None
    if service is not None:
        service.stop()


def effective_poll_interval(server, configured):
    """Seconds between status polls of a job on ``server``.

    Parameters
    ----------
    server : str
        The server's root URL.
    configured : float, `~astropy.units.Quantity`, str or None
        The configured interval: ``"auto"`` or None for the server's own default, else seconds
        (a number, a numeric string as read from a configuration file, or a time Quantity).

    Returns
    -------
    float
        ``"auto"``: `LOOPBACK_POLL_INTERVAL` for a server on this machine, `POLITE_POLL_INTERVAL`
        for any other. An explicit value is returned as it is, with an `XRTProductsWarning` when
        it is below `POLITE_POLL_INTERVAL` for a server that is not on this machine.

    Raises
    ------
    InvalidRequestError
        If ``configured`` is neither ``"auto"`` nor a number of seconds >= 0.
    """
    loopback = _is_loopback(urlparse(str(server)).hostname)
    if configured is None or (isinstance(configured, str) and configured.strip().lower() == "auto"):
        return LOOPBACK_POLL_INTERVAL if loopback else POLITE_POLL_INTERVAL
    seconds = float("nan")
    if hasattr(configured, "unit"):
        # Imported only for a Quantity: a plain number (the command line's) does without astropy.units.
        from astropy import units as u
        try:
            seconds = configured.to_value(u.s) if isinstance(configured, u.Quantity) else float(configured)
        except (TypeError, ValueError, u.UnitsError):
            pass
    else:
        try:
            seconds = float(configured)
        except (TypeError, ValueError):
            pass
    if not seconds >= 0 or isinstance(configured, bool):
        raise InvalidRequestError(f"poll_interval: {configured!r} is not allowed; allowed: 'auto' "
                                  f"({LOOPBACK_POLL_INTERVAL:g} s on this machine, "
                                  f"{POLITE_POLL_INTERVAL:g} s elsewhere) or a number of seconds >= 0")
    if seconds < POLITE_POLL_INTERVAL and not loopback:
        host = urlparse(str(server)).hostname
        warnings.warn(f"poll_interval: {seconds:g} s between status polls of {host}; UKSSDC asks for "
                      f"no more than about one poll a minute (use 'auto' for {POLITE_POLL_INTERVAL:g} s)",
                      XRTProductsWarning, stacklevel=3)
    return seconds
