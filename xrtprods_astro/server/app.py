# Licensed under a 3-clause BSD style license - see LICENSE
"""
The HTTP side of the local XRT products service.

`LocalService` runs a real HTTP server (standard library ``http.server``) that
answers every endpoint of protocol.md §2 at the same paths as
``https://www.swift.ac.uk``: the product generator under ``/user_objects`` and
the light-curve rebinning functions of the common API at ``/API/main.php``.
Requests are POSTs whose raw body is JSON whatever the Content-Type; answers
are HTTP 200 JSON labelled ``text/html; charset=UTF-8`` like the real
service's. Product archives and the files inside job directories are served
by GET, with Content-Length and single-range ``Range`` support so a client can
resume a download.
"""
import email.utils
import gzip
import html
import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import warnings
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import validation
from .archives import SUBDIRS, archive_path, safe_job_file, split_archive_name
from .faults import FaultInjector
from .jobs import JobLimitReached, JobStore

__all__ = ["LocalService", "USER_OBJECTS_VERSION", "COMMON_API_VERSION"]

log = logging.getLogger("xrtprods_astro.server")

#: ``APIVersion`` of the product-generator endpoints and of the common API (protocol §1.4, §1.5).
USER_OBJECTS_VERSION = "1.12"
COMMON_API_VERSION = "1.0.5"

_LONG_NAMES = {"lc": "light curve", "spec": "spectrum", "psf": "standard position",
               "enh": "enhanced position", "xastrom": "astrometric position", "image": "image",
               "sourceDet": "source detection"}

# POST path -> (endpoint name used by faults and counters, handler method name).
_ROUTES = {
    "/user_objects/run_userobject.php": ("submit", "_submit"),
    "/user_objects/canceljob.php": ("cancel", "_cancel"),
    "/user_objects/checkProductStatus.php": ("status", "_status"),
    "/user_objects/tprods/getPSFPos.php": ("psf", "_position"),
    "/user_objects/tprods/getEnhPos.php": ("enh", "_position"),
    "/user_objects/tprods/getAstromPos.php": ("xastrom", "_position"),
    "/user_objects/tprods/getXastromPos.php": ("xastrom", "_position"),
    "/user_objects/tprods/getSourceDetResults.php": ("sourceDet", "_source_list"),
    "/user_objects/tprods/getLCData.php": ("lc", "_lc_data"),
    "/user_objects/tprods/getSpecData.php": ("spec", "_spec_data"),
    "/user_objects/getOldProduct.php": ("oldProduct", "_old_product"),
    "/user_objects/listOldJobs.php": ("listOldJobs", "_list_old_jobs"),
    "/user_objects/getNumJobs.php": ("numJobs", "_num_jobs"),
    "/API/main.php": ("main", "_main_api"),
}
_JOB_PREFIX = "/user_objects/tprods/USERPROD_"
#: Largest request body accepted (the biggest real submission is a few KiB); larger gets HTTP 413.
MAX_BODY = 1 << 20
_CHOICE_YES_NO_BOTH = ("yes", "no", "both")
_REBIN_NUMBERS = ("pcCounts", "wtCounts", "pcBinTime", "wtBinTime", "minEnergy", "maxEnergy", "softLo",
                  "softHi", "hardLo", "hardHi", "minSig", "bayesCounts", "bayesSNR", "rateFact", "binFact",
                  "minCounts", "minSNR", "pcHRBinTime", "wtHRBinTime")


# A job or rebin ID: ASCII digits only (str.isdigit() also takes "²", which int() refuses), and
# short enough that int() never meets Python's limit on the length of integer strings.
_ID_PATTERN = re.compile(r"[0-9]{1,18}")


def _is_id(value):
    """Whether ``value`` (an int or a string from a JSON body) is a well-formed job or rebin ID."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    return _ID_PATTERN.fullmatch(str(value).strip()) is not None


def _shorten(value, limit=40):
    """A value for an error message, cut short: a 5000-character ID need not be echoed whole."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _is_loopback(host):
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Reply(Exception):
    """Short-circuit a handler with a finished answer (an error envelope)."""

    def __init__(self, answer):
        super().__init__(answer.get("ERROR"))
        self.answer = answer


def _error(message, list_err=None):
    answer = {"OK": 0, "ERROR": message, "APIVersion": USER_OBJECTS_VERSION}
    if list_err:
        answer["listErr"] = list_err
    return _Reply(answer)


def _main_error(code, text):
    # The common API signals errors by the presence of ERROR and never sends OK with them (§1.5).
    return _Reply({"ERROR": code, "ERRORTEXT": text, "APIVersion": COMMON_API_VERSION})


def _json_default(value):
    """Encode numpy scalars and arrays, paths and sets that builders may put in payloads."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _parse_codes(body, key, required=True):
    """Product codes from a ``what``-style value (comma-separated string or list)."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise _error(f"The parameter {key} was not supplied: give a comma-separated list of "
                         f"product codes ({', '.join(SUBDIRS)}).")
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    codes = [str(item).strip() for item in items if str(item).strip()]
    if codes == ["all"]:
        return list(SUBDIRS)
    unknown = [code for code in codes if code not in SUBDIRS]
    if unknown:
        raise _error(f"{key} contains unknown product code(s) {', '.join(unknown)}; allowed: "
                     f"{', '.join(SUBDIRS)}.")
    return codes


def _yes_no_both(body, key, default):
    value = body.get(key, default)
    if isinstance(value, bool) or value in (0, 1):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    if text not in _CHOICE_YES_NO_BOTH:
        raise _error(f"{key} is {value}, but must be one of: yes, no, both")
    return text


def filter_light_curve(payload, nosys, incbad):
    """Keep the datasets a ``nosys``/``incbad`` request asks for (protocol §2.6, §5.1).

    ``no`` keeps names without the suffix, ``yes`` only names with it, ``both`` all of them.
    """
    def wanted(name, suffix, choice):
        return choice == "both" or ((suffix in name) == (choice == "yes"))

    datasets = list(payload.get("Datasets", []))
    keep = [name for name in datasets if wanted(name, "_nosys", nosys) and wanted(name, "_incbad", incbad)]
    answer = {key: value for key, value in payload.items()
              if key != "Datasets" and key not in {f"{name}Data" for name in datasets}}
    answer["Datasets"] = keep
    for name in keep:
        answer[f"{name}Data"] = payload[f"{name}Data"]
    return answer


class _Handler(BaseHTTPRequestHandler):
    """One HTTP exchange; all state lives in ``self.server.service``."""

    protocol_version = "HTTP/1.1"
    server_version = "xrtprods-local"
    # Headers and body go out in two writes; with Nagle's algorithm on, every
    # answer on a kept-alive connection would wait ~40 ms for the client's
    # delayed ACK. Production web servers set TCP_NODELAY too.
    disable_nagle_algorithm = True
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        log.debug("%s %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ plumbing
    @property
    def service(self):
        return self.server.service

    def _send(self, status, body, content_type, extra_headers=()):
        if self.service.compress and content_type.startswith("text/") and self._accepts_gzip():
            # As Apache's mod_deflate does for text types (UKSSDC labels its JSON text/html): the
            # answer gzipped on the fly, sent chunked, its ETag marked as another variant's.
            body = gzip.compress(body, 6)
            extra_headers = [(name, value[:-1] + '-gzip"' if name == "ETag" else value)
                             for name, value in extra_headers if name != "Accept-Ranges"]
            extra_headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding"),
                              ("Transfer-Encoding", "chunked")]
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if ("Transfer-Encoding", "chunked") not in extra_headers:
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _accepts_gzip(self):
        for item in (self.headers.get("Accept-Encoding") or "").lower().split(","):
            coding, _, q = item.partition(";")
            if coding.strip() in ("gzip", "x-gzip", "*"):
                return q.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        return False

    def _send_json(self, answer):
        body = json.dumps(answer, default=_json_default).encode("utf-8")
        self._send(200, body, "text/html; charset=UTF-8")

    def _send_html(self, status, title, text):
        body = (f"<!DOCTYPE html>\n<html><head><title>{status} {html.escape(title)}</title></head>"
                f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n").encode()
        self._send(status, body, "text/html; charset=UTF-8")

    def _drop(self):
        """Close the connection without any answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _fault(self, endpoint):
        """Apply the pre-answer part of a fault; returns the kind, or "done" if already answered."""
        kind, delay = self.service.faults.decide(endpoint)
        if delay:
            time.sleep(delay)
        if kind == "drop":
            self._drop()
            return "done"
        if kind is not None and kind.startswith("http"):
            status = int(kind[4:])
            self.close_connection = True
            self._send_html(status, HTTPStatus(status).phrase,
                            "The server is temporarily unable to service your request.")
            return "done"
        if kind == "html":
            self._send_html(200, "Service temporarily unavailable",
                            "The UKSSDC product generator is undergoing maintenance. Please try later.")
            return "done"
        return kind

    def _read_body(self):
        """The request body, or None when an error answer (400, 411, 413) was sent instead."""
        if self.headers.get("Transfer-Encoding"):
            # Bodies come with a Content-Length; a chunked one is not read at all.
            self.close_connection = True
            self._send_html(411, "Length Required", "Send the request body with a Content-Length.")
            return None
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit() or len(self.headers.get_all("Content-Length") or []) > 1:
            self.close_connection = True
            self._send_html(400, "Bad Request", "The Content-Length header is not a single whole number.")
            return None
        length = int(text)
        if length > self.server.service.max_body:
            # The body is not read: the connection is closed after the answer.
            self.close_connection = True
            self._send_html(413, "Content Too Large",
                            f"The request body is larger than {self.server.service.max_body} bytes.")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _not_found(self, path):
        self._send_html(404, "Not Found", f"The requested URL {path!r} was not found on this server.")

    # ------------------------------------------------------------------ POST
    def do_POST(self):
        path = urlsplit(self.path).path
        raw = self._read_body()
        if raw is None:
            return
        route = _ROUTES.get(path)
        if route is None:
            self._send_html(404, "Not Found", f"The requested URL {path} was not found on this server.")
            return
        endpoint, method = route
        kind = self._fault(endpoint)
        if kind == "done":
            return
        api = COMMON_API_VERSION if endpoint == "main" else USER_OBJECTS_VERSION
        try:
            try:
                body = json.loads(raw.decode("utf-8") or "null")
            except (UnicodeDecodeError, ValueError) as exc:
                # ValueError covers JSONDecodeError and integers longer than Python converts.
                raise self._bad_body(endpoint, f"The request body is not valid JSON ({exc}).") from None
            except RecursionError:
                raise self._bad_body(endpoint, "The request body is nested too deeply to be a set of "
                                     "parameters.") from None
            if not isinstance(body, dict):
                raise self._bad_body(endpoint, "The request body must be a JSON object of parameters.")
            answer = getattr(self.service, method)(body, endpoint=endpoint, host=self.headers.get("Host"))
            answer.setdefault("APIVersion", api)
        except _Reply as reply:
            answer = reply.answer
        except Exception as exc:  # a bug must not kill the handler thread silently
            log.exception("Internal error answering %s", path)
            self._send_html(500, "Internal Server Error", f"{type(exc).__name__}: {exc}")
            return
        if kind == "drop_after":
            self._drop()
            return
        self._send_json(answer)

    @staticmethod
    def _bad_body(endpoint, text):
        if endpoint == "main":
            return _main_error("BAD_REQUEST", text)
        return _error(text)

    # ------------------------------------------------------------------ GET
    def do_GET(self):
        path = unquote(urlsplit(self.path).path)
        if any(ord(char) < 32 or ord(char) == 127 for char in path):
            self._not_found(path)   # NUL and control characters never name a file
            return
        if path in _ROUTES:
            endpoint = _ROUTES[path][0]
            if self._fault(endpoint) == "done":
                return
            if endpoint == "main":
                reply = _main_error("BAD_REQUEST", "main.php takes an HTTP POST with a JSON body.")
            else:
                reply = _error("This endpoint takes an HTTP POST with a JSON body of parameters.")
            self._send_json(reply.answer)
            return
        if path.startswith(("/xrt_curves/", "/xrt_spectra/", "/burst_analyser/")):
            # The GRB repository's files (server/grb.py); built when their GRB was first asked for.
            target = self.service.grb.file_for(path)
            if target is None:
                self._not_found(path)
            else:
                self._send_file(target)
            return
        if path.startswith(("/LSXPS/tables/", "/2SXPS/tables/")):
            # The catalogue's full-table files (server/sxps.py), written when getSXPSTable asked for them.
            target = self.service.sxps.file_for(path)
            if target is None:
                self._not_found(path)
            else:
                self._send_file(target)
            return
        if path.startswith("/LSXPS/"):
            # LSXPS product files (server/sxps_products.py), made when first asked for.
            target = self.service.sxps_products.file_for(path)
            if target is None:
                self._not_found(path)
            else:
                self._send_file(target)
            return
        from .obsdata import URL_PREFIXES
        if path.startswith(URL_PREFIXES):
            # The observation archives' files (server/obsdata.py), faults as any file's.
            kind = self._fault("file")
            target = (None if kind == "done"
                      else self.service.obsdata.file_for(path, self.headers.get("Range")))
            if target is None and kind != "done":
                self._not_found(path)
            elif target is not None:
                self._send_file(target, truncate=(kind == "truncate"), drop_after=(kind == "drop_after"))
            return
        if not path.startswith(_JOB_PREFIX):
            self._send_html(404, "Not Found", f"The requested URL {path} was not found on this server.")
            return
        rest = path[len(_JOB_PREFIX):]
        job_part, _, inner = rest.partition("/")
        endpoint = "archive" if inner and "/" not in inner and split_archive_name(inner) else "file"
        kind = self._fault(endpoint)
        if kind == "done":
            return
        try:
            target = self.service._get_target(job_part, inner)
        except (OSError, ValueError):
            target = None
        if target is None:
            self._send_html(404, "Not Found", f"The requested URL {path} was not found on this server.")
            return
        self._send_file(target, truncate=(kind == "truncate"), drop_after=(kind == "drop_after"))

    do_HEAD = do_GET

    def _send_file(self, target, truncate=False, drop_after=False):
        # Streamed from disk in pieces: memory use does not grow with the archive.
        with open(target, "rb") as handle:
            info = os.fstat(handle.fileno())
            self._send_open_file(handle, target.name, info, truncate, drop_after)

    def _send_open_file(self, handle, name, info, truncate, drop_after):
        size = info.st_size
        status, start, end = 200, 0, size - 1
        # Validators, so a client resumes only the very file it began (If-Range).
        etag = f'"{size:x}-{info.st_mtime_ns:x}"'
        modified = email.utils.formatdate(info.st_mtime, usegmt=True)
        headers = [("Accept-Ranges", "bytes"), ("ETag", etag), ("Last-Modified", modified)]
        spec = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if spec and if_range is not None and if_range.strip() not in (etag, modified):
            spec = None   # changed since: the whole file, not a piece of another version
        if spec:
            parsed = self._parse_range(spec, size)
            if parsed is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = parsed
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        length = end - start + 1
        if drop_after:
            self._drop()
            return
        content_type = ("application/gzip" if name.endswith(".gz")
                        else "application/x-tar" if name.endswith(".tar")
                        else "application/zip" if name.endswith(".zip")
                        else "text/plain; charset=UTF-8" if name.endswith((".qdp", ".txt", ".dat", ".log"))
                        else "application/octet-stream")
        if (self.service.compress and status == 200 and content_type.startswith("text/") and not truncate
                and self._accepts_gzip()):
            self._send(200, handle.read(length), content_type, headers)   # a small text file: gzipped
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for header in headers:
            self.send_header(*header)
        self.end_headers()
        if self.command == "HEAD":
            return
        # Truncation announces the whole length, sends half and hangs up: the client sees a short read.
        left = length // 2 if truncate else length
        if left > 0:
            # The kernel copies file to socket (sendfile): no Python loop, no buffer in this process,
            # so serving a large archive costs neither memory nor the CPU the clients need.
            self.connection.sendfile(handle, start, left)
        if truncate:
            self.wfile.flush()
            self._drop()

    @staticmethod
    def _parse_range(spec, size):
        """A single ``bytes=a-b`` range as inclusive (start, end); None if unsatisfiable."""
        unit, _, ranges = spec.partition("=")
        if unit.strip() != "bytes" or "," in ranges:
            return None
        first, _, last = ranges.strip().partition("-")
        try:
            if first == "":
                length = int(last)
                if length <= 0:
                    return None
                return max(size - length, 0), size - 1
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            return None
        if start >= size or end < start:
            return None
        return start, min(end, size - 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Bursts of parallel clients (batch runs, tests, the benchmark's 64 connections) must queue,
    # not stall in SYN retries: when the listen queue is full, a new connection's SYN is dropped
    # and sent again only after 1 s. The kernel caps this at net.core.somaxconn.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # Clients hanging up mid-answer are expected (faults, resumed downloads): log, don't print.
        log.debug("Error handling a request from %s", client_address, exc_info=True)


class _Server6(_Server):
    # An IPv6 host (``::1``) cannot be bound by an AF_INET socket: the base class would fail in bind.
    address_family = socket.AF_INET6


class LocalService:
    """A local XRT products service over HTTP, for tests, demos and offline pipelines.

    Parameters
    ----------
    host : str
        Interface to bind; only loopback unless another host is asked for explicitly.
    port : int
        TCP port; 0 picks a free one (see `url`).
    users : iterable of str or None
        Registered e-mail addresses (the UKSSDC ``UserID``). None accepts any non-empty address.
    job_duration : float
        Seconds a job takes from submission to completion; 0 builds products before the submission is
        answered, so they are complete at once.
    job_limit : int or None
        Most jobs a user may have queued or running at once; None for no limit.
    seed : int
        Server seed: products are deterministic for a seed and the job parameters.
    data_dir : str or `~pathlib.Path`, optional
        Where job directories are written; a temporary directory (removed by `stop`) when None.
    persist : bool
        Keep jobs across restarts: each job's record is saved under ``data_dir/state`` and the jobs
        found there are served again, with the same JobIDs, when the service starts (their URLs are
        rewritten if the address changed). Needs ``data_dir``. Off by default: a service forgets its
        jobs when it stops.
    faults : `~xrtprods_astro.server.faults.FaultConfig`, dict or None
        Fault injection settings; off by default. Change them at run time with `set_faults`.
    catalogue : module or object, optional
        Provides ``resolve_name``, ``targets_for`` and ``t0_for``; ``xrtprods_astro.server.catalogue``
        by default.
    builder : callable, optional
        ``builder(job_pars, job_id, job_url, job_dir, seed) -> {code: outcome}``;
        ``xrtprods_astro.server.build.build_products`` by default.
    rebinner : callable, optional
        ``rebinner(job_pars, job_id, job_url, job_dir, seed, rebin_id, params) -> dict or None``;
        ``xrtprods_astro.server.build.rebin_lightcurve`` by default.
    allow_remote : bool
        Bind a non-loopback ``host`` (with a warning): the service has no TLS and takes any
        registered e-mail as identity, so it is refused unless asked for explicitly.
    max_body : int
        Largest request body in bytes; larger ones get HTTP 413.
    compress : bool
        Gzip text answers (the JSON, labelled ``text/html``, and text files) for clients whose
        ``Accept-Encoding`` allows it, sent chunked, as Apache's mod_deflate does; off by default.

    Examples
    --------
    >>> from xrtprods_astro.server import LocalService
    >>> with LocalService(job_duration=0) as svc:  # doctest: +SKIP
    ...     print(svc.url, svc.email)
    http://127.0.0.1:... demo@example.org
    """

    def __init__(self, *, host="127.0.0.1", port=0, users=("demo@example.org",), job_duration=5.0,
                 job_limit=10, seed=0, data_dir=None, faults=None, catalogue=None, builder=None,
                 rebinner=None, persist=False, allow_remote=False, max_body=MAX_BODY,
                 compress=False):
        if isinstance(users, str):
            users = (users,)
        if not _is_loopback(host):
            if not allow_remote:
                raise ValueError(f"host {host!r} is not a loopback address: the local service would be "
                                 "reachable from other machines, without TLS; pass allow_remote=True "
                                 "(--allow-remote) if you mean it")
            warnings.warn(f"The local service binds {host!r}: other machines can reach it, and it has "
                          "no TLS and no real authentication.", UserWarning, stacklevel=2)
        self.max_body = int(max_body)
        self.compress = bool(compress)
        self.host = host
        self.port = int(port)
        self.users = None if users is None else set(users)
        self._first_user = None if users is None else next(iter(users), None)
        if job_duration is None or float(job_duration) < 0:
            raise ValueError(f"job_duration must be >= 0 seconds, got {job_duration!r}")
        if job_limit is not None and (isinstance(job_limit, bool) or int(job_limit) < 1):
            raise ValueError(f"job_limit must be a positive integer or None, got {job_limit!r}")
        self.job_duration = float(job_duration)
        self.job_limit = None if job_limit is None else int(job_limit)
        self.seed = int(seed)
        self.data_dir = None if data_dir is None else Path(data_dir)
        if persist and self.data_dir is None:
            raise ValueError("persist=True needs a data_dir to keep the jobs in")
        self.persist = bool(persist)
        self.faults = FaultInjector(faults)
        self._catalogue, self._builder, self._rebinner = catalogue, builder, rebinner
        self._server = self._thread = self._tmp = self.store = self.grb = None
        self.sxps = self.sxps_products = self.obsdata = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life cycle
    def start(self):
        """Bind the port and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        if self._catalogue is None:
            from . import catalogue
            self._catalogue = catalogue
        if self._builder is None or self._rebinner is None:
            from . import build
            self._builder = self._builder or build.build_products
            self._rebinner = self._rebinner or build.rebin_lightcurve
        if self.data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="xrtprods-service-")
            root = Path(self._tmp)
        else:
            root = self.data_dir
            root.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(root / "jobs", self._builder, self._rebinner, job_duration=self.job_duration,
                              job_limit=self.job_limit, seed=self.seed,
                              state_dir=root / "state" if self.persist else None)
        self._archive_dir = root / "archives"
        from .grb import GRBRepository
        self.grb = GRBRepository(root / "grb", seed=self.seed)
        from .sxps import SXPSService
        self.sxps = SXPSService(seed=self.seed, root=root / "sxps_tables")
        from .sxps_products import SXPSProductService
        self.sxps_products = SXPSProductService(self.sxps, root / "sxps", seed=self.seed)
        from .obsdata import ObsDataService
        self.obsdata = ObsDataService(root / "obsdata", seed=self.seed)
        host = self.host.strip("[]")
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, self.port), _Handler)
        except OSError:
            # Nothing is served (port taken, unknown address): leave no temporary directory behind.
            self.store = None
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None
            raise
        self._server.service = self
        self.port = self._server.server_address[1]
        if self.persist:
            count = self.store.load(f"{self.user_objects_url}/tprods")
            log.debug("Reloaded %d saved jobs from %s", count, root)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"xrtprods-service-{self.port}", daemon=True)
        self._thread.start()
        log.info("Local XRT products service listening at %s", self.url)
        return self

    def stop(self):
        """Stop serving, wait briefly for builds, save the jobs (``persist``) and remove the temporary
        data directory."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self.store.join()
        if self.persist:
            self.store.save_all()
        self._server = self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def running(self):
        """Whether the service is serving."""
        return self._server is not None

    @property
    def url(self):
        """Root URL, the equivalent of ``https://www.swift.ac.uk`` (use it as the client's server).

        Built from the configured address only (a wildcard bind is announced as loopback),
        never from a client's Host header.
        """
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = host if ":" not in host else f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def user_objects_url(self):
        """Base URL of the product generator endpoints."""
        return f"{self.url}/user_objects"

    @property
    def api_url(self):
        """URL of the common API (``main.php``)."""
        return f"{self.url}/API/main.php"

    @property
    def email(self):
        """A registered user to submit as."""
        return self._first_user or "demo@example.org"

    # ------------------------------------------------------------------ admin
    def set_faults(self, config=None, **changes):
        """Replace the fault configuration or change some of it (see `FaultInjector.configure`)."""
        self.faults.configure(config, **changes)

    def request_counts(self):
        """Requests received per endpoint since start (or the last `reset_counts`)."""
        return self.faults.snapshot()

    def reset_counts(self):
        """Zero the per-endpoint request counters."""
        self.faults.reset_counts()

    def add_user(self, email):
        """Register another user e-mail address."""
        with self._lock:
            if self.users is not None:
                self.users.add(email)

    def set_job_limit(self, limit):
        """Change the per-user limit of jobs queued or running (None: no limit)."""
        self.job_limit = None if limit is None else int(limit)
        if self.store is not None:
            self.store.job_limit = self.job_limit

    def set_job_duration(self, seconds):
        """Change the duration of jobs submitted from now on."""
        if float(seconds) < 0:
            raise ValueError(f"job_duration must be >= 0 seconds, got {seconds!r}")
        self.job_duration = float(seconds)
        if self.store is not None:
            self.store.job_duration = self.job_duration

    # ------------------------------------------------------------------ helpers
    def _user(self, body):
        user = body.get("UserID")
        if user is None or user == "":
            raise _error("The parameter UserID (your registered e-mail address) was not supplied.")
        if not isinstance(user, str) or (self.users is not None and user not in self.users):
            raise _error(f"The user `{user}` is not recognised / validated")
        return user

    def _job(self, body, user, key="JobID"):
        value = body.get(key)
        if value is None or value == "":
            raise _error(f"The parameter {key} was not supplied.")
        if not _is_id(value):
            raise _error(f"{key} is {_shorten(value)}, but must be an integer JobID (a number or a numeric "
                         "string of digits 0-9).")
        try:
            job = self.store.get(value)
        except KeyError:
            raise _error(f"Job {value} does not exist.") from None
        if job.user != user:
            raise _error(f"Job {value} is not owned by user {user}.")
        return job

    def _base(self, host):
        # Never the client's Host header: a client could make job URLs point anywhere.
        return f"{self.user_objects_url}/tprods"

    def _finished(self, job, code):
        """The outcome of a finished product, or an error answer saying why there is none."""
        name = _LONG_NAMES[code]
        if code not in job.products:
            raise _error(f"Job {job.job_id} did not request a {name}.")
        status, text = job.status(code)
        if status in (1, 2, 3, 5):
            raise _error(f"The {name} of job {job.job_id} is not complete yet (status {status}: {text}). "
                         "Check its status and retrieve it when the status is 4.")
        if status == -4:
            raise _error(f"The {name} of job {job.job_id} was cancelled.")
        if status != 4:
            raise _error(f"No {name} is available for job {job.job_id}: {text}.")
        return job.outcomes[code]

    # ------------------------------------------------------------------ user_objects endpoints
    def _submit(self, body, endpoint, host):
        user = self._user(body)
        # A JSON null means "not given", as an omitted key does.
        body = {key: value for key, value in body.items() if value is not None}
        try:
            products = validation.check_submit(body)
        except validation.SubmitProblems as problems:
            raise _error(str(problems), problems.list_err()) from None
        name = body["name"]
        derived = {}
        ra = float(body["RA"]) if "RA" in body else None
        dec = float(body["Dec"]) if "Dec" in body else None
        if validation.truthy(body, "getCoords"):
            coords = self._catalogue.resolve_name(name)
            if coords is None:
                raise _error(f"Could not resolve the name `{name}` into coordinates (getCoords was set). "
                             "Give RA and Dec instead.")
            ra, dec = float(coords[0]), float(coords[1])
            derived.update(RA=ra, Dec=dec)
        if validation.truthy(body, "getTargs"):
            targs = list(self._catalogue.targets_for(name, ra, dec))
            if not targs:
                raise _error(f"No Swift observations were found for `{name}` (getTargs was set): no target "
                             "matches the name and none covers the position.")
            derived["targ"] = ",".join(targs)
        else:
            targs = [t.strip() for t in str(body["targ"]).split(",")]
        if validation.truthy(body, "getT0"):
            t0 = self._catalogue.t0_for(name, ra, dec, targs)
            if t0 is None:
                raise _error(f"Could not determine T0 for `{name}` (getT0 was set). Give Tstart instead.")
            derived["Tstart"] = float(t0)
        job_pars = validation.job_parameters(body, products, derived)
        try:
            job = self.store.create(user, job_pars, products, self._base(host))
        except JobLimitReached as exc:
            raise _error(str(exc)) from None
        log.info("Job %s submitted by %s: %s", job.job_id, user, ", ".join(products))
        return {"OK": 1, "JobID": str(job.job_id), "URL": job.url, "jobPars": job_pars}

    def _cancel(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        codes = _parse_codes(body, "what")
        texts, status_codes = job.cancel(codes)
        ok = 1 if all(value == 0 for value in status_codes.values()) else 2
        return {"OK": ok, "JobID": body["JobID"], "status": texts, "statusCodes": status_codes}

    def _status(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        codes = _parse_codes(body, "what")
        progress = set(_parse_codes(body, "whatProg", required=False))
        now = time.monotonic()
        answer = {"OK": 1, "JobID": body["JobID"]}
        for code in codes:
            status, text = job.status(code, now)
            answer[code] = {"statusCode": status, "statusText": text,
                            "progress": job.progress(code, code in progress, now)}
        return answer

    def _position(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        code = endpoint
        if code not in job.products:
            raise _error(f"Job {job.job_id} did not request a {_LONG_NAMES[code]}.")
        status, text = job.status(code)
        if status == -3:
            # The product ran and found nothing: that is an answer, not an error.
            return {"OK": 1, "GotPos": 0, "Reason": text}
        data = dict(self._finished(job, code).data)
        data["GotPos"] = int(bool(data.get("GotPos", 0)))
        if data["GotPos"] and code in ("psf", "xastrom"):
            data["FromSXPS"] = int(bool(data.get("FromSXPS", 0)))
        return {"OK": 1, **data}

    def _source_list(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        bands = self._finished(job, "sourceDet").data
        # Only band keys besides the envelope: clients treat every other key as a band (§2.5).
        return {"OK": 1, **{band: [{k: str(v) for k, v in source.items()} for source in sources]
                            for band, sources in bands.items()}}

    def _lc_data(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        nosys = _yes_no_both(body, "nosys", "no")
        incbad = _yes_no_both(body, "incbad", "no")
        payload = self._finished(job, "lc").data
        return {"OK": 1, **filter_light_curve(payload, nosys, incbad)}

    def _spec_data(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user)
        return {"OK": 1, **self._finished(job, "spec").data}

    def _old_product(self, body, endpoint, host):
        user = self._user(body)
        job = self._job(body, user, key="oldJob")
        return {"OK": 1, "oldJob": body["oldJob"], "jobPars": job.pars, "URL": job.url}

    def _list_old_jobs(self, body, endpoint, host):
        user = self._user(body)
        now = time.monotonic()
        jobs = []
        for job in self.store.jobs_of(user):
            requested = set(job.products)
            jobs.append({"JobID": job.job_id, "Name": job.pars.get("name", ""),
                         "DateSubmitted": job.date_submitted(),
                         "LightCurve": "lc" in requested, "Spectrum": "spec" in requested,
                         "StandardPos": "psf" in requested, "EnhancedPos": "enh" in requested,
                         "AstromPos": "xastrom" in requested, "Image": "image" in requested,
                         "SourceDet": "sourceDet" in requested,
                         "hasProd": any(job.status(code, now)[0] == 4 for code in job.products)})
        return {"OK": 1, "jobs": jobs}

    def _num_jobs(self, body, endpoint, host):
        user = self._user(body)
        return {"OK": 1, "numJobs": self.store.active_count(user)}

    # ------------------------------------------------------------------ common API
    def _main_api(self, body, endpoint, host):
        func = body.get("APIFunc")
        handlers = {"rebinLightCurve": self._rebin, "checkRebinStatus": self._rebin_status,
                    "downloadLightCurve": self._rebin_download, "cancelRebin": self._rebin_cancel}
        if not isinstance(func, str):
            func = _shorten(func)   # a list or an object is no function name (nor hashable)
        from . import grb
        # The GRB repository (server/grb.py) answers its own functions; a job's rebin (UOB_LC) and
        # every rebinned curve (REBIN_LC: GRB rebins are jobs of the same store) stay above.
        if func in grb.FUNCTIONS and (func not in grb.TYPED or body.get("type") in grb.TYPED[func]):
            try:
                return self.grb.answer(body, self.url, self.store, self.job_duration)
            except grb.GRBAPIError as exc:
                raise _main_error(exc.code, exc.text) from None
        from . import sxps
        # The catalogue functions (server/sxps.py): queryDB, getMetadata and upper limits.
        if func in sxps.FUNCTIONS:
            try:
                return self.sxps.answer(body, self.url)
            except sxps.SXPSAPIError as exc:
                raise _main_error(exc.code, exc.text) from None
        from . import sxps_products
        # LSXPS / 2SXPS products (server/sxps_products.py): details, light curves, spectra, images.
        if func in sxps_products.FUNCTIONS:
            try:
                return self.sxps_products.answer(body, self.url)
            except sxps.SXPSAPIError as exc:
                raise _main_error(exc.code, exc.text) from None
        from . import obsdata
        # The observation lists and archive file lists (server/obsdata.py).
        if func in obsdata.FUNCTIONS:
            try:
                return self.obsdata.answer(body, self.url)
            except obsdata.ObsDataAPIError as exc:
                raise _main_error(exc.code, exc.text) from None
        if func not in handlers:
            raise _main_error("UNKNOWN_FUNCTION", f"APIFunc is {func}, but must be one of: " + ", ".join(
                sorted(set(handlers) | set(grb.FUNCTIONS) | set(sxps.FUNCTIONS) | set(sxps_products.FUNCTIONS)
                       | set(obsdata.FUNCTIONS))))
        return handlers[func](body)

    @staticmethod
    def _int_key(body, key):
        value = body.get(key)
        if not _is_id(value):
            raise _main_error("BAD_PARAMETER", f"{key} is {_shorten(value)}, but must be an integer ID "
                              "(digits 0-9).")
        return int(str(value).strip())

    def _rebin_job(self, body):
        try:
            return self.store.get_rebin(self._int_key(body, "JobID"))
        except KeyError:
            raise _main_error("NO_SUCH_JOB", f"There is no rebin job {body.get('JobID')}.") from None

    def _rebin(self, body):
        if body.get("type") != "UOB_LC":
            raise _main_error("BAD_PARAMETER", f"type is {body.get('type')}, but must be UOB_LC.")
        job_id = self._int_key(body, "objectID")
        try:
            job = self.store.get(job_id)
        except KeyError:
            raise _main_error("NO_SUCH_JOB", f"There is no XRT products job {job_id}.") from None
        if "lc" not in job.products:
            raise _main_error("NO_LIGHTCURVE", f"Job {job_id} did not make a light curve.")
        if job.status("lc")[0] != 4:
            raise _main_error("NOT_COMPLETE", f"The light curve of job {job_id} is not complete.")
        method = str(body.get("binMeth", "")).lower()
        allowed = ("counts", "time", "snapshot", "obsid")
        if method not in allowed:
            raise _main_error("BAD_PARAMETER", f"binMeth is {body.get('binMeth')}, but must be one of: "
                              + ", ".join(allowed))
        bad = [key for key in _REBIN_NUMBERS if key in body
               and (isinstance(body[key], bool) or validation._number(body[key]) is None
                    or validation._number(body[key]) <= 0)]
        if bad:
            raise _main_error("BAD_PARAMETER", "These parameters must be positive numbers: " + ", ".join(bad))
        params = {key: value for key, value in body.items()
                  if key not in ("APIFunc", "APIVersion", "type", "objectID")}
        params["binMeth"] = method
        rebin = self.store.create_rebin(job, params)
        return {"OK": 1, "JobID": rebin.rebin_id}

    def _rebin_status(self, body):
        status, text = self._rebin_job(body).status()
        return {"OK": 1, "status": status, "text": text}

    def _rebin_download(self, body):
        if body.get("type") != "REBIN_LC":
            raise _main_error("BAD_PARAMETER", f"type is {body.get('type')}, but must be REBIN_LC.")
        try:
            rebin = self.store.get_rebin(self._int_key(body, "objectID"))
        except KeyError:
            raise _main_error("NO_SUCH_JOB", f"There is no rebin job {body.get('objectID')}.") from None
        status, text = rebin.status()
        if status != 4:
            raise _main_error("NOT_COMPLETE", f"Rebin job {rebin.rebin_id} is not complete (status {status}: "
                              f"{text}).")
        try:
            nosys = _yes_no_both(body, "nosys", "no")
            incbad = _yes_no_both(body, "incbad", "yes")
        except _Reply as reply:
            raise _main_error("BAD_PARAMETER", reply.answer["ERROR"]) from None
        if rebin.result is None:
            return {"OK": 1, "NOLC": 1}
        return {"OK": 1, **filter_light_curve(rebin.result, nosys, incbad)}

    def _rebin_cancel(self, body):
        rebin = self._rebin_job(body)
        status, text = rebin.status()
        if status not in (1, 2, 3):
            raise _main_error("CANNOT_CANCEL", f"Rebin job {rebin.rebin_id} cannot be cancelled (status "
                              f"{status}: {text}).")
        rebin.cancelled = True
        return {"OK": 1}

    # ------------------------------------------------------------------ GET targets
    def _get_target(self, job_part, inner):
        """The file to send for ``USERPROD_<job_part>/<inner>``, or None (404)."""
        if not job_part.isdigit() or not inner:
            return None
        try:
            job = self.store.get(job_part)
        except KeyError:
            return None
        now = time.monotonic()
        archive = split_archive_name(inner) if "/" not in inner else None
        if archive is not None:
            stem, fmt = archive
            if stem == "all":
                if job.is_active(now):
                    return None
                subdirs = [SUBDIRS[code] for code in job.products if job.status(code, now)[0] == 4]
                if not subdirs:
                    return None
            elif stem in SUBDIRS and stem in job.products and job.status(stem, now)[0] == 4:
                subdirs = [SUBDIRS[stem]]
            else:
                return None
            return archive_path(job.job_dir, self._archive_dir, stem, fmt, subdirs)
        top = inner.split("/", 1)[0]
        codes = [code for code, subdir in SUBDIRS.items() if subdir == top]
        if codes:
            if codes[0] not in job.products or job.status(codes[0], now)[0] != 4:
                return None
        elif job.is_active(now):
            return None
        return safe_job_file(job.job_dir, inner)
