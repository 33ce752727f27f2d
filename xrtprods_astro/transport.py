# Licensed under a 3-clause BSD style license - see LICENSE
"""
The only place in `xrtprods_astro` that speaks HTTP.

Everything about the wire lives here: the request envelopes of the UKSSDC
product generator (``user_objects``) and of the common API (``API/main.php``),
the checks of their answers, time limits, retries with back-off, the cache
policy, the reconciliation of a submission whose outcome is unknown, and
streamed, verified, resumable downloads.

HTTP goes through the ``_request`` of the query object the `Transport` is given:
for the client, `astroquery.query.BaseQuery._request`, so astroquery's session,
logging hook and cache are used; for the light job-control client of the
command line (`xrtprods_astro.jobcontrol`), a plain `requests.Session` that
never caches.
"""
import contextlib
import copy
import email.utils
import functools
import heapq
import itertools
import json as _json
import ipaddress
import logging
import os
import pickle
import queue
import random as _random
import re
import secrets
import socket
import sys
import tempfile
import threading
import time
import warnings
import zlib
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urljoin, urlparse

import requests
import requests.adapters
import urllib3
import urllib3.connection
from requests.structures import CaseInsensitiveDict

from .archives import ArchiveLimitError, StreamVerifier, UnsafeArchiveError
from .exceptions import (InvalidRequestError, JobLimitError, ReaderError, RemoteServiceError,
                         ServiceUnavailableError, SubmissionUnknownError,
                         UnknownUserError, XRTProductsWarning)
from .locking import LOCK_METHOD, LockTimeoutError, file_lock

__all__ = ["API_NAME", "API_VERSION", "COMMON_API_VERSION", "Transport",
           "check_url", "envelope", "parse_version"]

log = logging.getLogger("xrtprods_astro.transport")

#: The ``api_name`` sent to the product generator.
API_NAME = "xrt_prods"
#: The product-generator API version this client speaks (protocol.md §1.3).
API_VERSION = "1.12"
#: The version of the UKSSDC common API (``API/main.php``, protocol.md §1.5).
COMMON_API_VERSION = "1.0.5"

_ENVELOPE_KEYS = ("api_name", "api_version", "UserID")
#: Keys of a submission that the service consumes rather than echoes, so they
#: are left out when a job's jobPars are compared with what was sent.
_NOT_ECHOED = frozenset(_ENVELOPE_KEYS) | {"getCoords", "getTargs", "getT0"}
_PRODUCT_FLAGS = ("lc", "spec", "dopsf", "doenh", "doxastrom", "image", "sourceDet")

# Most bytes taken from the socket at once. read1 returns what has arrived without waiting for
# more, so time limits are still checked as often as data comes; 256 KiB keeps the Python work
# per byte low and each piece in the CPU cache (1 MiB pieces cost more in page faults than they save).
_READ = 1 << 18
_CHECK_QUEUE = 8          # pieces waiting to be written and checked: memory stays flat (8 x _READ)
_MAX_DELAY = 60.0         # cap of one back-off pause, seconds
_MAX_RETRY_AFTER = 300.0  # cap of a pause asked for by the service (Retry-After), seconds
_MAX_REDIRECTS = 5        # same-origin redirects followed by a download
_RECONCILE_POLLS = 4      # job-list checks after a submission's answer was lost
_CLOCK_SKEW = 600.0       # seconds of clock difference tolerated when reconciling
_SNIFF = 1024             # first bytes of a downloaded file looked at to tell what it is

# Content codings asked for. Said explicitly rather than left to requests, whose default grows
# "br" and "zstd" when those packages happen to be installed: these two are the ones undone here.
_CALL_ENCODINGS = "gzip, deflate"
# Downloads ask for the file's own bytes: a Range offset then counts bytes of the file, and a
# .tar.gz is not inflated by a server that honours Accept-Encoding (Apache's mod_deflate does).
_DOWNLOAD_ENCODINGS = "identity"

# Connection failures that prove the request never reached the server, so a
# submission can safely be sent again.
_NOT_SENT = (requests.exceptions.ConnectTimeout,)
# Failures after which the answer is unknown; worth another try for idempotent calls.
_TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
              requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError)


class _NotSent(Exception):
    """A submission that provably never left this machine (its cause is the requests error)."""


def _never_sent(exc):
    """Whether a requests error proves that no byte of the request reached the server.

    A connect time-out, a name that did not resolve or a connection that could not be
    made (urllib3's NewConnectionError, of which NameResolutionError is a kind) happen
    before the request is written; a reset or a read error may come after the service
    took the job. The urllib3 error is the ``reason`` of requests' wrapped MaxRetryError.
    """
    if isinstance(exc, _NOT_SENT):
        return True
    pending, seen = [exc], set()
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, urllib3.exceptions.NewConnectionError):
            return True
        pending += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
    return False


class _Transient(Exception):
    """An answer that is worth retrying: HTTP 5xx, an HTML page, garbage.

    ``retry_after`` is the pause, in seconds, the service asked for (Retry-After).
    """

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class _Corrupt(_Transient):
    """A download arrived whole but its content is corrupt (worth one more try)."""


def _retry_after(response):
    """The pause asked for by a 429/503 answer's Retry-After (seconds or an HTTP date), or None."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def _http_failure(response, what, endpoint):
    """Raise for a non-2xx status: `_Transient` for 5xx/408/429, `RemoteServiceError` otherwise.

    Redirects are never followed here: a ``307``/``308`` would make requests send
    the body, with the identity, to wherever the answer points.
    """
    status = response.status_code
    if 300 <= status < 400:
        where = response.headers.get("Location", "")
        raise RemoteServiceError(f"HTTP {status} redirect from {endpoint} to {where!r} refused: a "
                                 "call is never re-sent elsewhere (it carries your identity)",
                                 endpoint=endpoint)
    if status >= 500 or status in (408, 429):
        raise _Transient(f"HTTP {status} {response.reason or ''}".strip(),
                         retry_after=_retry_after(response) if status in (429, 503) else None)
    if status >= 400:
        raise RemoteServiceError(f"HTTP {status} {response.reason or ''} {what}".strip(),
                                 endpoint=endpoint)


def envelope(user):
    """The request envelope of the product generator (protocol.md §1.3).

    Parameters
    ----------
    user : str
        The registered e-mail address.

    Returns
    -------
    dict
    """
    return {"api_name": API_NAME, "api_version": API_VERSION, "UserID": user}


def parse_version(value):
    """Turn an API version such as ``"1.12"`` or ``1.12`` into a tuple of ints.

    Raises
    ------
    ValueError
        If the value is not dotted digits.
    """
    text = str(value).strip()
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        raise ValueError(f"not a version: {value!r}")
    return tuple(int(part) for part in text.split("."))


def _is_loopback(host):
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url, what="url"):
    """Refuse URLs that would send the user's identity in clear text.

    ``https://`` is always accepted; plain ``http://`` only for loopback hosts
    (127.0.0.0/8, ::1, localhost), which is how the local service runs.

    Parameters
    ----------
    url : str
    what : str
        The name of the parameter or setting, for the error message.

    Raises
    ------
    InvalidRequestError
    """
    if _url_is_safe(str(url)):
        return url
    parts = urlparse(str(url))
    if parts.scheme.lower() == "http":
        raise InvalidRequestError(
            f"{what}: plain http:// is refused for host {parts.hostname!r} because the "
            "e-mail identity would travel unencrypted; use https:// (http:// is allowed "
            "only for loopback hosts: 127.0.0.0/8, ::1, localhost)")
    raise InvalidRequestError(
        f"{what}: {url!r} is not a usable URL; expected https://<host>/... "
        "(or http:// on a loopback host)")


@functools.lru_cache(maxsize=256)
def _url_is_safe(url):
    # Remembered: every call checks its URL, and a client uses a handful of them.
    parts = urlparse(url)
    scheme = parts.scheme.lower()
    return bool((scheme == "https" and parts.hostname) or (scheme == "http" and _is_loopback(parts.hostname)))


def _int_like(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20


def _job_id_like(value):
    return _int_like(value) or (isinstance(value, str) and bool(value.strip()) and len(value) < 100)


#: Types of required answer keys: (check, description for the message).
_TYPES = {
    "numJobs": (lambda v: _int_like(v) and int(v) >= 0, "a whole number >= 0"),
    "JobID": (_job_id_like, "a job number"),
    "URL": (lambda v: isinstance(v, str) and bool(v), "a URL"),
    "jobPars": (lambda v: isinstance(v, dict), "an object of parameters"),
    "jobs": (lambda v: v is None or isinstance(v, list), "a list of jobs"),
    "Datasets": (lambda v: isinstance(v, list), "a list of dataset names"),
    "GotPos": (lambda v: _int_like(v) or isinstance(v, float), "0 or 1"),
}


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _decode(response, endpoint):
    """Decode an HTTP answer into a JSON object, or raise.

    HTTP 5xx, 408, 429, a non-JSON body or JSON that is not an object raise
    `_Transient`; any other HTTP error raises `RemoteServiceError`.
    """
    text = _decode_text(response, endpoint)
    try:
        data = _json.loads(text)
    except ValueError:
        start = " ".join(text[:60].split())
        raise _Transient(f"the answer was not JSON (it starts {start!r})") from None
    except RecursionError:
        # JSON nested deeper than Python's recursion limit: no real answer is (they are a few levels
        # deep), and asking again would bring the same.
        raise RemoteServiceError(f"The answer from {endpoint} is JSON nested deeper than "
                                 f"{sys.getrecursionlimit()} levels (Python's recursion limit): it is "
                                 "not an answer of the XRT products API.", endpoint=endpoint) from None
    if not isinstance(data, dict):
        raise _Transient(f"the answer was JSON but not an object ({type(data).__name__})")
    return data


def _decode_text(response, endpoint):
    """The text of an HTTP answer, or raise as `_decode` does for an HTTP error."""
    if not 200 <= response.status_code < 300:
        _http_failure(response, f"from {endpoint}", endpoint)
    return response.text


def _translate(text):
    """Rewrite wire parameter names into the names users type."""
    try:
        # Imported here: the parameter catalogue (and astropy.units) is needed only to word an error.
        from .params import translate_wire_names
        return translate_wire_names(text)
    except Exception:  # noqa: BLE001 - a translation failure must not hide the error
        log.debug("could not translate wire names in %r", text, exc_info=True)
        return text


def _error_groups(list_err):
    groups = []
    if not isinstance(list_err, list):
        return groups
    for group in list_err:
        if not isinstance(group, dict):
            continue
        items = group.get("list") or []
        if not isinstance(items, list):
            items = [items]
        groups.append((str(group.get("label", "")), [_translate(str(item)) for item in items]))
    return groups


# The real service's wording of a job-limit refusal is not documented (protocol.md
# open question 9): recognise the usual phrasings around "jobs".
_JOB_LIMIT = re.compile(r"(too many|limit|maximum|max\.?)\b.*\bjobs?\b"
                        r"|\bjobs?\b.*\b(limit|too many|maximum|most allowed|allowed at once)",
                        re.IGNORECASE)


def _service_error(message, groups, endpoint):
    low = message.lower()
    if "not recognised" in low or "not recognized" in low or "not validated" in low:
        cls = UnknownUserError
    elif _JOB_LIMIT.search(message):
        cls = JobLimitError
    else:
        cls = RemoteServiceError
    return cls(_translate(message), groups, endpoint=endpoint)


def _normalise(value):
    """Normalise a parameter value so that sent values and jobPars echoes compare."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return text.lower()
    if isinstance(value, (list, tuple)):
        return tuple(sorted(_normalise(v) for v in value))
    return value


#: The switches that ask the service to work a value out, and the keys it then fills (protocol.md §2.1).
_DERIVED = {"getCoords": ("RA", "Dec"), "getTargs": ("targ",), "getT0": ("Tstart",)}
_MISSING = object()
#: Products the service adds to a job: an astrometric position needs the standard one (protocol.md §3.6).
_IMPLIED_FLAGS = {"doxastrom": ("dopsf",)}
#: Values the service may fill in for a request that sets none (its default T0).
_FILLED = ("Tstart",)


def _truthy(value):
    return _normalise(value) in (1.0, "yes", "true")


def _echo_of(job_pars, key):
    """The job's value for the sent ``key``, under its own or a tolerated spelling (``sinceT0``)."""
    if key in job_pars:
        return job_pars[key]
    from .params import wire_records  # the catalogue is needed only when comparing jobs
    for record in wire_records(key):
        for spelling in (record.wire, *record.wire_aliases):
            if spelling in job_pars:
                return job_pars[spelling]
    return _MISSING


def _service_defaults(key):
    """What the service holds for a wire key the request left out (normalised), or None if unknown.

    The catalogue's documented default, or the value the service is known to
    fill in (`~xrtprods_astro.params.Param.filled`).
    """
    from .params import UNSET, wire_records
    values = set()
    for record in wire_records(key):
        for value in (record.default, record.filled):
            if value is not UNSET:
                values.add(_normalise(value))
    return values or None


def job_pars_match(sent, job_pars, *, exact=True):
    """Whether a job was made from the request ``sent``: the one test of request identity.

    Every parameter takes part, whether the user set it or left it to the service:

    * every sent key must be echoed with the same value (numbers and numeric
      strings compare as numbers, strings case-insensitively);
    * a value the job holds but the request did not send must be the service's
      documented default (`xrtprods_astro.params`); a job with, say, other
      energies or a typed T0 is another request;
    * a value the request leaves to the service (``getCoords``, ``getTargs``,
      ``getT0``) matches only a job whose jobPars say the service worked it
      out, and never a job where it was typed: the values alone cannot tell a
      typed T0 from a derived one. A service that does not echo these switches
      therefore never matches such a request from its job list (a new job is
      submitted: a duplicate costs the service a job, a wrong match gives the
      user another request's products);
    * every product flag that was sent must be echoed, and the job may hold no
      product that was not sent, bar those the service adds (the standard
      position of an astrometric one).

    Parameters
    ----------
    sent : dict
        Wire parameters (the envelope is ignored).
    job_pars : dict
        The job's jobPars.
    exact : bool
        False only to find the job of a lost submission among those submitted
        since it was sent: a T0 the service filled in for a request that set
        none (it may echo one, protocol.md §2.1) is then no objection. Re-using
        a job (True) needs proof, and a T0 there may have been typed.
    """
    if not isinstance(job_pars, dict):
        return False
    implied = {flag for key, flags in _IMPLIED_FLAGS.items() if _truthy(sent.get(key)) for flag in flags}
    for flag in _PRODUCT_FLAGS:
        if flag not in sent and flag not in implied \
                and _normalise(job_pars.get(flag, 0)) not in (0, "", "0", None, False):
            return False
    left_to_service = set()
    for switch, keys in _DERIVED.items():
        if _truthy(sent.get(switch)) != _truthy(job_pars.get(switch)):
            return False  # worked out by the service in one, typed (or left unset) in the other
        if _truthy(sent.get(switch)):
            left_to_service.update(keys)
    for key, value in sent.items():
        if key in _NOT_ECHOED or key in left_to_service:
            continue
        echo = _echo_of(job_pars, key)
        if echo is _MISSING:
            if key in _PRODUCT_FLAGS or key == "name":
                return False
            # Not echoed: the job can only be this request if the value sent is the service's default.
            defaults = _service_defaults(key)
            if defaults is None or _normalise(value) not in defaults:
                return False
            continue
        if _normalise(echo) != _normalise(value):
            return False
    sent_spellings = set(sent)
    for key in sent:
        sent_spellings.update(a for r in _wire_records(key) for a in (r.wire, *r.wire_aliases))
    for key, echo in job_pars.items():
        if key in sent_spellings or key in _NOT_ECHOED or key in left_to_service or key in _PRODUCT_FLAGS:
            continue
        records = _wire_records(key)
        if not exact and key in _FILLED:
            continue
        if not records:
            continue  # the service's own bookkeeping (outdir, pcmaxbin ...), no request parameter
        defaults = _service_defaults(key)
        if defaults is None or _normalise(echo) not in defaults:
            # Set in the job (typed T0, energies, a target list ...) but not in this request.
            return False
    return True


def _wire_records(key):
    from .params import wire_records
    return wire_records(key)


def _archive_kind(path):
    name = Path(path).name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    return None


class Transport:
    """HTTP for one client: envelopes, checks, retries, cache policy, downloads.

    Parameters
    ----------
    query : `astroquery.query.BaseQuery` or object
        The object whose ``_request`` (and so session and cache) is used:
        anything with ``_request(method, url, **kwargs)`` as BaseQuery has it
        and a ``cache_location``.
    sleep : callable, optional
        Called with a number of seconds to pause; tests pass a recorder.
    random : callable, optional
        Returns a float in [0, 1) for the back-off jitter.
    clock : callable, optional
        Current POSIX time, used to reconcile submissions with the job list.
    monotonic : callable, optional
        A monotonic clock in seconds, used by waits.

    Notes
    -----
    ``timeout``, ``retries`` and ``backoff`` are read from
    `xrtprods_astro.conf` at every call unless set on the instance.
    """

    def __init__(self, query, *, sleep=None, random=None, clock=None, monotonic=None):
        self._query = query
        self.sleep = sleep or time.sleep
        self.random = random or _random.random
        self.clock = clock or time.time
        self.monotonic = monotonic or time.monotonic
        self.timeout = None
        self.retries = None
        self.backoff = None
        self._warned_types = set()
        self._warned_versions = set()
        self._cache_lock = threading.RLock()
        self._local = threading.local()   # the deadline of the call this thread is making
        self._watched = None

    # -- settings read at use time -----------------------------------------
    def _timeout(self):
        from . import conf
        return float(self.timeout if self.timeout is not None else conf.timeout)

    def _retries(self):
        from . import conf
        return max(0, int(self.retries if self.retries is not None else conf.retries))

    def _pause(self, attempt):
        """Exponential back-off with full jitter before retry number ``attempt`` (0-based)."""
        delay = self._pause_for(attempt, None)
        if delay > 0:
            self.sleep(delay)

    @staticmethod
    def _cache_timeout():
        from . import conf
        value = int(conf.cache_timeout)
        # astroquery 0.4.11 spells "never expires" as None; -1 is our spelling.
        return None if value < 0 else value

    # -- low level -----------------------------------------------------------
    def _send(self, method, url, *, json=None, headers=None, read=True):
        """One HTTP exchange, never redirected, never through astroquery's cache.

        With ``read`` the body is read at once, and the whole exchange, headers
        included, must end within ``timeout`` seconds and within what is left of
        the call's ``conf.deadline``: a server trickling its answer cannot hold a
        call longer than that. The body is decoded from its Content-Encoding
        (gzip, deflate) and may be at most ``conf.max_answer_bytes`` long, before
        and after decoding. Without ``read`` the response is returned streaming
        (its headers having arrived within the same limits).
        """
        check_url(url)
        timeout = self._timeout()
        now = time.monotonic()
        limit_at, why = now + timeout, f"the time limit of {timeout:g} s (conf.timeout)"
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and deadline < limit_at:
            limit_at, why = deadline, "the total time limit of the call (conf.deadline)"
        headers = {"Accept-Encoding": _CALL_ENCODINGS, **(headers or {})}
        self._watch_session()
        watch = _WATCHDOG.arm(limit_at, why)
        try:
            _CURRENT.watch = watch
            try:
                response = self._query._request(method, url, json=json, headers=headers, timeout=timeout,
                                                cache=False, stream=True, allow_redirects=False)
            finally:
                _CURRENT.watch = None
            if not read:
                return response
            try:
                content = self._read_answer(response, url, limit_at, why)
            finally:
                response.close()
        except Exception as exc:
            if watch.fired and not isinstance(exc, (_Transient, RemoteServiceError)):
                raise _Transient(f"the answer took longer than {why}") from exc
            raise
        finally:
            _WATCHDOG.disarm(watch)
        if watch.fired:
            # The socket was shut under a read that then saw an end: the answer may be cut.
            raise _Transient(f"the answer took longer than {why}")
        response._content = content
        response._content_consumed = True
        return response

    def _read_answer(self, response, url, limit_at, why):
        """The decoded body of an answer read whole, at most ``conf.max_answer_bytes`` long."""
        from . import conf
        limit = int(conf.max_answer_bytes)
        endpoint = url.rsplit("/", 1)[-1]

        def too_big(what):
            return RemoteServiceError(f"The answer from {endpoint} is {what} larger than "
                                      f"conf.max_answer_bytes={limit} bytes; refused.", endpoint=endpoint)

        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise too_big(f"announced as {int(length)} bytes,")
        coding = _content_coding(response) if 200 <= response.status_code < 300 else ""
        inflater = _Inflater(coding) if coding else None
        parts, raw, size = [], 0, 0
        for chunk in _chunks(response):
            raw += len(chunk)
            if raw > limit:
                raise too_big("as sent")
            for piece in (inflater.feed(chunk) if inflater is not None else (chunk,)):
                size += len(piece)
                if size > limit:
                    raise too_big(f"once decoded from {coding},")
                parts.append(piece)
            if time.monotonic() > limit_at:
                raise _Transient(f"the answer took longer than {why}")
        if inflater is not None:
            inflater.finish()
        return b"".join(parts)

    def _watch_session(self):
        # The query object's session, looked up at each call: it may be replaced after creation.
        session = getattr(self._query, "_session", None)
        if isinstance(session, requests.Session) and session is not self._watched:
            _watch_session(session)
            self._watched = session

    def _cache_file(self, method, url, *, json=None):
        """The cache key of a call, worked out once per call: ``(AstroQuery, cache folder, file path)``.

        Built exactly as BaseQuery._request builds its key (so the files are
        astroquery's and clear_cache removes them); the key includes the
        identity, which keeps users' answers apart, but only as a hash.
        """
        # Imported here, not at the top: astroquery.query imports pyvo and astropy.coordinates,
        # most of the start-up of a command (``xrtprods status``) that never uses the cache.
        from astroquery.query import AstroQuery
        query = AstroQuery(method, url, params=None, data=None, headers=None, files=None,
                           timeout=self._timeout(), json=json)
        location = self._query.cache_location
        return query, location, query.request_file(location)

    def _from_cache(self, key):
        query, location, _ = key
        with self._cache_lock:
            return query.from_cache(location, self._cache_timeout())

    def _store(self, key, response):
        """Keep an accepted answer in the cache, without the request that carried the identity."""
        query, _, path = key
        clean = copy.copy(response)
        clean.request = requests.PreparedRequest()   # method and URL only: no body, no UserID
        clean.request.method, clean.request.url = query.method, query.url
        clean.request.headers = CaseInsensitiveDict()
        clean.history = []
        clean.connection = None
        with self._cache_lock:
            handle, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(handle, "wb") as stream:   # mkstemp makes it 0600: the user's only
                    pickle.dump(clean, stream, protocol=4)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    def _evict(self, key):
        path = key[2]
        try:
            path.unlink()
            log.debug("evicted bad cached answer %s", path.name)
        except FileNotFoundError:
            pass

    def _check_user_objects(self, data, endpoint, ok_values=(1,), required=()):
        """Apply the response rules of protocol.md §1.4 and strip the envelope."""
        if "OK" not in data:
            raise RemoteServiceError(f"The answer from {endpoint} has no OK key: it does not "
                                     "follow the XRT products API.", endpoint=endpoint)
        if "APIVersion" not in data:
            raise RemoteServiceError(f"The answer from {endpoint} has no APIVersion key: it does "
                                     "not follow the XRT products API.", endpoint=endpoint)
        self._check_version(data["APIVersion"], API_VERSION, endpoint, "XRT products API")
        try:
            ok = int(data["OK"])
        except (TypeError, ValueError):
            raise RemoteServiceError(f"The answer from {endpoint} has a non-numeric OK value "
                                     f"{data['OK']!r}.", endpoint=endpoint) from None
        if ok == 0 or ok not in ok_values:
            message = data.get("ERROR")
            if not isinstance(message, str) or not message:
                message = (f"The service reported an error (OK={data['OK']!r}) from {endpoint} "
                           "without saying what it was.")
            raise _service_error(message, _error_groups(data.get("listErr")), endpoint)
        self._deprecation(data.get("deprecationWarning"), endpoint)
        result = {k: v for k, v in data.items() if k not in ("OK", "APIVersion", "deprecationWarning")}
        if ok != 1:
            result["OK"] = ok
        self._require(result, required, endpoint)
        return result

    def _check_common(self, data, endpoint, required=()):
        """Apply the response rules of the common API (protocol.md §1.5)."""
        if "APIVersion" in data:
            self._check_version(data["APIVersion"], COMMON_API_VERSION, endpoint, "UKSSDC common API")
        if "ERROR" in data:
            message = f"An error occurred processing your request. Code {data['ERROR']}."
            if "ERRORTEXT" in data:
                message += f" Message: {data['ERRORTEXT']}"
            raise _service_error(message, (), endpoint)
        if "OK" not in data:
            raise RemoteServiceError(f"The answer from {endpoint} has neither OK nor ERROR: it "
                                     "does not follow the UKSSDC common API.", endpoint=endpoint)
        result = {k: v for k, v in data.items() if k not in ("OK", "APIVersion")}
        self._require(result, required, endpoint)
        return result

    @staticmethod
    def _require(result, required, endpoint):
        missing = [key for key in required if key not in result]
        if missing:
            raise RemoteServiceError(f"The answer from {endpoint} lacks the key(s) "
                                     f"{', '.join(missing)}.", endpoint=endpoint)
        # A key of the wrong type is as useless as a missing one: a service error, not a crash later.
        for key in required:
            check, what = _TYPES.get(key, (None, None))
            if check is not None and not check(result[key]):
                raise RemoteServiceError(f"The answer from {endpoint} has {key}={result[key]!r}, but "
                                         f"it must be {what}.", endpoint=endpoint)

    def _check_version(self, value, ours, endpoint, api):
        try:
            theirs = parse_version(value)
        except ValueError:
            raise RemoteServiceError(f"The answer from {endpoint} has an unreadable APIVersion "
                                     f"{value!r}.", endpoint=endpoint) from None
        if theirs > parse_version(ours) and (api, theirs) not in self._warned_versions:
            self._warned_versions.add((api, theirs))
            warnings.warn(f"The service speaks {api} version {value}, newer than the {ours} this "
                          "version of xrtprods_astro was written for; consider updating "
                          "xrtprods_astro.", XRTProductsWarning, stacklevel=4)

    def _deprecation(self, notice, endpoint):
        if not isinstance(notice, dict):
            return
        kind = str(notice.get("type", ""))
        if kind in self._warned_types:
            return
        self._warned_types.add(kind)
        warnings.warn(f"The service says ({endpoint}, {kind}): {notice.get('message', '')}",
                      XRTProductsWarning, stacklevel=4)

    def _deadline(self):
        from . import conf
        total = float(conf.deadline)
        return time.monotonic() + total if total > 0 else None

    def _retrying(self, what, attempt, failed="no usable answer"):
        """Run ``attempt()`` until it returns, retrying transient failures with back-off.

        The one place of the retry policy: ``1 + conf.retries`` attempts, jittered
        exponential pauses (or the pause the service asked for with
        Retry-After, capped), all within ``conf.deadline`` seconds; connection
        errors and `_Transient` answers retried, anything else raised at once;
        then `ServiceUnavailableError` (`ReaderError` when the last failure was
        corrupt content).
        """
        attempts = 1 + self._retries()
        deadline = self._deadline()
        outer = getattr(self._local, "deadline", None)
        if outer is not None and (deadline is None or outer < deadline):
            deadline = outer   # a call made inside another one ends with it
        self._local.deadline = deadline
        try:
            return self._attempts(what, attempt, failed, attempts, deadline)
        finally:
            self._local.deadline = outer

    def _attempts(self, what, attempt, failed, attempts, deadline):
        cause, asked, last = "no attempt was made", None, None
        for number in range(attempts):
            if number:
                pause = self._pause_for(number - 1, asked)
                if deadline is not None and time.monotonic() + pause > deadline:
                    cause += f"; a pause of {pause:g} s would pass the total limit (conf.deadline)"
                    break
                if pause > 0:
                    self.sleep(pause)
            try:
                return attempt()
            except _TRANSIENT as exc:
                cause, asked, last = _describe(exc), None, exc
            except _Transient as exc:
                cause, asked, last = str(exc), exc.retry_after, exc
            log.debug("%s: attempt %d failed: %s", what, number + 1, cause)
            if deadline is not None and time.monotonic() > deadline:
                cause += " (total time limit conf.deadline reached)"
                break
        if isinstance(last, _Corrupt):
            raise ReaderError(f"{what}: {cause}")
        raise ServiceUnavailableError(f"{what}: {failed} after {number + 1} attempt(s); "
                                      f"last cause: {cause}")

    def _pause_for(self, attempt, asked):
        """The back-off pause, or the service's Retry-After (capped) when it asked for longer."""
        from . import conf
        base = float(self.backoff if self.backoff is not None else conf.backoff)
        delay = self.random() * min(_MAX_DELAY, base * 2 ** attempt)
        if asked is not None:
            delay = max(delay, min(float(asked), _MAX_RETRY_AFTER))
        return delay

    def _with_retries(self, endpoint, method, url, *, json=None, cache=False, check, accept=None,
                      decode=_decode, idempotent=True):
        def once():
            if not idempotent:
                return self._once_only(endpoint, method, url, json, check, decode)
            key = self._cache_file(method, url, json=json) if cache else None
            if cache:
                cached = self._from_cache(key)
                if cached is not None:
                    try:
                        result = check(decode(cached, endpoint))
                        if accept is not None:
                            accept(result)
                        return result
                    except (_Transient, RemoteServiceError, ReaderError):
                        # Never serve a cached answer that is not usable: ask again.
                        log.debug("%s: cached answer rejected; asking the service again", endpoint)
                        self._evict(key)
            response = self._send(method, url, json=json)
            result = check(decode(response, endpoint))
            if accept is not None:
                accept(result)   # a ReaderError here is final, and nothing was cached
            if cache:
                self._store(key, response)
            return result

        return self._retrying(endpoint, once)

    def _once_only(self, endpoint, method, url, json, check, decode):
        """One exchange of a call that starts work at the service: re-sent only if it never left.

        A failure that proves nothing reached the server is retried as usual; after any other
        (a read time-out, a broken connection, an HTTP 5xx or HTML answer) the service may be
        doing the work, and sending again would start it twice.
        """
        try:
            return check(decode(self._send(method, url, json=json), endpoint))
        except (*_TRANSIENT, _Transient) as exc:
            if isinstance(exc, requests.exceptions.ConnectionError) and _never_sent(exc):
                raise
            cause = str(exc) if isinstance(exc, _Transient) else _describe(exc)
            raise SubmissionUnknownError(
                f"{endpoint}: the request reached the service but its answer was lost ({cause}); it "
                "was not sent again, because the service may already be working on it and a second "
                "request would start the work twice.") from exc

    # -- public calls ----------------------------------------------------------
    def call(self, url, payload, *, user, endpoint=None, cache=False, required=(), ok_values=(1,),
             accept=None):
        """POST an idempotent product-generator call and return its checked answer.

        Parameters
        ----------
        url : str
            Full endpoint URL.
        payload : dict
            Endpoint-specific keys; the envelope is appended.
        user : str
            The registered e-mail address.
        endpoint : str, optional
            Name used in messages; defaults to the last part of ``url``.
        cache : bool
            Whether this answer may come from and go to the cache. Only
            retrievals of completed products should pass True.
        required : sequence of str
            Keys the answer must have.
        ok_values : tuple of int
            OK values that count as success (cancel also accepts 2).
        accept : callable, optional
            Called with the checked answer before it is returned or cached;
            the reader's check. When it raises `ReaderError` the answer is
            not cached (a cached one is dropped and asked for again).

        Returns
        -------
        dict
            The answer without ``OK`` (kept when it is not 1), ``APIVersion``
            and ``deprecationWarning``.
        """
        endpoint = endpoint or url.rsplit("/", 1)[-1]
        body = {**payload, **envelope(user)}
        return self._with_retries(
            endpoint, "POST", url, json=body, cache=cache, accept=accept,
            check=lambda data: self._check_user_objects(data, endpoint, ok_values, required))

    def get_text(self, url, *, cache=False, accept=None):
        """GET a small text file of a job (for example ``lc/t0.date``) and return its text.

        Parameters
        ----------
        url : str
            The file's URL.
        cache : bool
            Whether the answer may come from and go to the cache (files of a
            completed product do not change).
        accept : callable, optional
            Called with the text before it is returned or cached; an answer it
            rejects with `ReaderError` is not cached.

        Raises
        ------
        RemoteServiceError
            The service has no such file (HTTP 4xx).
        """
        return self._with_retries(url.rsplit("/", 1)[-1], "GET", url, cache=cache, accept=accept,
                                  check=lambda text: text, decode=_decode_text)

    def call_common(self, url, func, payload, *, cache=False, required=(), accept=None, idempotent=True):
        """POST a call to the UKSSDC common API (``API/main.php``), idempotent unless told otherwise.

        Parameters
        ----------
        url : str
        func : str
            The ``APIFunc`` value.
        payload : dict
        cache : bool
        required : sequence of str
        accept : callable, optional
            As for `call`.
        idempotent : bool
            False for a call that starts work at the service (an upper-limit request): it is sent
            again only after a failure that proves it never left; otherwise
            `SubmissionUnknownError` is raised.

        Returns
        -------
        dict
        """
        body = {**payload, "APIFunc": func, "APIVersion": COMMON_API_VERSION}
        endpoint = f"main.php:{func}"
        return self._with_retries(endpoint, "POST", url, json=body, cache=cache, accept=accept,
                                  check=lambda data: self._check_common(data, endpoint, required),
                                  idempotent=idempotent)

    def submit(self, url, payload, *, user, list_url, old_url, known_job_ids=()):
        """Submit a job once, reconciling with the job list when the outcome is unknown.

        A submission is not idempotent. When its answer is lost the job list
        is searched for a job with the same name, submitted since just before
        the first attempt and not among ``known_job_ids``, whose jobPars match
        what was sent; it is adopted. After a read time-out the service may
        still be working on the submission: it is then never sent again, and
        the job list is checked a few times over a window of ``timeout``
        seconds. After a broken connection or an unusable answer (HTTP 5xx, an
        HTML page) with no matching job, the submission is sent once more.

        Parameters
        ----------
        url : str
            The ``run_userobject.php`` URL.
        payload : dict
            Wire parameters (without envelope).
        user : str
        list_url, old_url : str
            The ``listOldJobs.php`` and ``getOldProduct.php`` URLs.
        known_job_ids : iterable
            JobIDs that existed before, so can never be this submission.

        Returns
        -------
        dict
            With ``JobID``, ``URL`` and ``jobPars``.

        Raises
        ------
        SubmissionUnknownError
            The outcome stayed unknown and could not be reconciled; the
            message says how many times it was sent and what was checked.
        """
        endpoint = "run_userobject.php"
        body = {**envelope(user), **payload}
        known = {str(job_id) for job_id in known_job_ids}
        first_attempt = None
        sent = 0
        resubmissions = 1
        not_sent_retries = self._retries()
        attempt = 0
        while True:
            if first_attempt is None:
                first_attempt = self.clock()
            lost_in_flight = False
            try:
                sent += 1
                try:
                    response = self._send("POST", url, json=body)
                except requests.exceptions.ConnectionError as exc:
                    if _never_sent(exc):
                        raise _NotSent() from exc
                    raise
            except _NotSent as wrapped:
                # Nothing reached the server: sending again cannot duplicate a job.
                exc = wrapped.__cause__
                sent -= 1
                if not_sent_retries <= 0:
                    raise ServiceUnavailableError(f"{endpoint}: could not connect; last cause: "
                                                  f"{_describe(exc)}") from exc
                not_sent_retries -= 1
                self._pause(attempt)
                attempt += 1
                continue
            except requests.exceptions.ReadTimeout as exc:
                # The request is with the service, which may still be creating the job.
                cause, lost_in_flight = _describe(exc), True
            except _Transient as exc:
                # The answer was too slow to arrive in full: the same.
                cause, lost_in_flight = str(exc), True
            except _TRANSIENT as exc:
                # The connection broke: the service finished (or never started) the work.
                cause = _describe(exc)
            else:
                try:
                    data = _decode(response, endpoint)
                except _Transient as exc:
                    cause = str(exc)
                else:
                    return self._check_user_objects(data, endpoint, required=("JobID", "URL", "jobPars"))
            log.warning("The outcome of a submission is unknown (%s); looking for it in the job list.",
                        cause)
            polls = _RECONCILE_POLLS if lost_in_flight else 1
            adopted = self._reconcile(payload, user, list_url, old_url, known, sent=sent,
                                      since=first_attempt - _CLOCK_SKEW, cause=cause, polls=polls)
            if adopted is not None:
                return adopted
            times = "once" if sent == 1 else f"{sent} times"
            if lost_in_flight or resubmissions <= 0:
                window = f" checked {polls} times over {self._timeout():g} s" if polls > 1 else " checked"
                raise SubmissionUnknownError(
                    f"{endpoint}: the submission was sent {times} and its outcome is unknown ({cause}); "
                    f"the job list was{window} and holds no matching job yet. It was not sent again "
                    "automatically: the service may still create the job, so check "
                    "XRTProducts.job_list_data() before resubmitting.")
            resubmissions -= 1
            log.warning("The service answered with an unusable answer and no job matches the "
                        "submission; submitting once more.")
            self._pause(attempt)
            attempt += 1

    def find_submission(self, payload, *, user, list_url, old_url, known_job_ids=(), since, jobs=None,
                        exact=False):
        """The job in the job list that a submission of ``payload`` created, if any.

        The one place that matches a submission against the job list, used
        when a submission's answer was lost (here) and when a batch resumes an
        intent recorded before a crash.

        Parameters
        ----------
        payload : dict
            The wire parameters that were sent (without envelope).
        user : str
        list_url, old_url : str
            The ``listOldJobs.php`` and ``getOldProduct.php`` URLs.
        known_job_ids : iterable
            JobIDs that cannot be this submission (they existed before).
        since : float
            POSIX time before which the job cannot have been submitted.
        jobs : list of dict, optional
            The job list, already read; default: read it now.
        exact : bool
            As for `job_pars_match`: True to re-use an older job of the same request.

        Returns
        -------
        dict or None
            ``JobID``, ``URL`` and ``jobPars`` of the newest matching job.

        Raises
        ------
        ServiceUnavailableError, RemoteServiceError
            The job list could not be read.
        """
        name = payload.get("name")
        known = {str(job_id) for job_id in known_job_ids}
        if jobs is None:
            jobs = self.call(list_url, {}, user=user, endpoint="listOldJobs.php", required=("jobs",))["jobs"]
        candidates = []
        for job in jobs or []:
            if not isinstance(job, dict):
                continue
            job_id = job.get("JobID")
            if str(job_id) in known or job.get("Name") != name:
                continue
            submitted = _parse_date(job.get("DateSubmitted"))
            if submitted is not None and submitted < since:
                continue
            candidates.append(job_id)
        matches = []
        for job_id in sorted(candidates, key=_job_sort_key, reverse=True):
            old = self.call(old_url, {"oldJob": job_id}, user=user, endpoint="getOldProduct.php",
                            required=("jobPars", "URL"))
            if job_pars_match(payload, old["jobPars"], exact=exact):
                matches.append((job_id, old))
        if not matches:
            return None
        job_id, old = matches[0]
        if len(matches) > 1:
            log.warning("Several jobs match the submission (%s); adopting the newest, %s.",
                        ", ".join(str(m[0]) for m in matches), job_id)
        return {"JobID": job_id, "URL": old["URL"], "jobPars": old["jobPars"]}

    def _reconcile(self, payload, user, list_url, old_url, known, *, since, cause, sent=1, polls=1):
        """Look for the job of a lost submission, ``polls`` times spread over ``timeout`` seconds."""
        found = None
        for number in range(polls):
            if number:
                self.sleep(self._timeout() / (polls - 1))
            try:
                found = self.find_submission(payload, user=user, list_url=list_url, old_url=old_url,
                                             known_job_ids=known, since=since)
            except (ServiceUnavailableError, RemoteServiceError) as exc:
                raise SubmissionUnknownError(
                    f"run_userobject.php: the submission was sent {sent} time(s) and its outcome is "
                    f"unknown ({cause}); the job list could not be checked ({exc}); it was not sent "
                    "again.") from exc
            if found is not None:
                log.warning("Adopted job %s, found in the job list, as the lost submission.",
                            found["JobID"])
                return found
        return None

    def download(self, url, dest, *, overwrite=False, archive=None, verify=None):
        """Download ``url`` to ``dest``: streamed, verified while it streams, renamed atomically,
        resumable after the process that began it was killed.

        The file is written to a part file beside ``dest``, ``.<name>.part``, with a
        sidecar ``.<name>.part.json`` holding the URL, the server's validator (a
        strong ETag, else Last-Modified) and the expected length. A download
        interrupted for any reason (a lost connection past the retries, Ctrl-C,
        a killed or crashed process) leaves them, and the next call for the same
        URL and ``dest``, in this process or another, resumes with an HTTP Range
        request carrying ``If-Range``: the bytes already there are checked first
        (the file type its name says, and the whole archive check below, read
        back from disk), and a changed resource (another validator, a whole file
        sent for the Range request, another length), a part of another URL, a
        part or sidecar that is a link, or a part that fails its check, is
        discarded and the file fetched from its start. One call at a time owns
        ``dest``'s part file (an advisory lock, ``.<name>.part.lock``, removed
        when the call ends); another call wanting the same ``dest`` meanwhile
        writes a part file of its own (``<dest>.<host>.<pid>.<random>.part``),
        so the two never write into each other's. Part files of this kind left
        by processes of this host that have since died are removed. Without a
        validator a transfer is not resumed, within the call or after it.
        Archives are checked
        completely as the bytes arrive (gzip CRC32 and length, tar headers,
        zip member CRC32s, ``conf.archive_max_bytes`` and
        ``conf.archive_max_members``); writing and checking run in a thread
        beside the transfer, and a failed check stops the transfer at once.
        A file whose first bytes are not what its name says (FITS, gzip, tar,
        zip, QDP or text; an HTML page is never a product file), and a fragment
        (HTTP 206) sent for a request of the whole file, are refused.
        The file's own bytes are asked for (``Accept-Encoding: identity``); a
        Content-Encoding sent anyway is undone, unless the bytes as sent are
        already what the name says and the decoded ones are not (a ``.tar.gz``
        that a server labels ``Content-Encoding: gzip``), and a decoded transfer
        is never resumed. The part file replaces ``dest`` only once its size
        matches Content-Length and the checks passed, so an existing good copy
        is only ever replaced by a verified one.
        A transfer slower than ``conf.min_download_rate`` is abandoned and
        retried; redirects are followed only to the same scheme, host and port.

        Parameters
        ----------
        url : str
        dest : path-like
        overwrite : bool
            Replace an existing ``dest`` (only after the new file verified).
        archive : {'tar', 'tar.gz', 'zip', None, False}, optional
            Archive check to apply; by default guessed from the file name.
            False switches it off.
        verify : callable, optional
            Called with the path of the complete part file before it takes the
            name ``dest``; a `ReaderError` it raises discards the part file and
            is raised (not retried).

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            ``dest`` exists and ``overwrite`` is False.
        ReaderError
            The file is corrupt or not what its name says on every attempt, or
            passes a limit.
        ServiceUnavailableError
            Still failing after every retry (the part file is kept, to be resumed).
        """
        check_url(url)
        dest = Path(dest)
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it")
        kind = _archive_kind(dest) if archive is None else (archive or None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_parts(dest)
        with _claim(dest) as shared:
            if shared is None:
                part, meta = _private_part(dest), None
                # Made at once: a process killed from here on leaves a part file with its pid in the
                # name, which the next download of dest here removes.
                part.touch(mode=0o600, exist_ok=False)
            else:
                part, meta = shared, _sidecar(shared)
            state = {"validator": None, "verifier": None, "coding": "", "decode": False, "length": None,
                     "meta": meta, "url": url, "adopted": False}
            if meta is not None:
                _adopt(part, state, kind, dest.name)
            return self._download(url, dest, part, state, kind, verify)

    def _download(self, url, dest, part, state, kind, verify):
        def once():
            try:
                self._fetch(url, part, state, kind, dest.name)
                if state["verifier"] is not None:
                    state["verifier"].finish()
            except (ArchiveLimitError, UnsafeArchiveError):
                # A limit passed or a member extraction would refuse is the archive itself, not a
                # transfer fault: fetching it again would bring the same bytes.
                _discard(part, state)
                raise
            except ReaderError as exc:
                _discard(part, state)
                state["verifier"] = None
                raise _Corrupt(str(exc)) from exc
            if verify is not None:
                try:
                    verify(part)
                except ReaderError as exc:
                    # The caller's own check of the whole file: its verdict is final, unless the
                    # bytes came partly from an earlier call's part file, which may be what is wrong
                    # (a disk that lost them): then the file is fetched once more, whole.
                    _discard(part, state)
                    if not state["adopted"]:
                        raise
                    log.warning("%s: the file resumed from an earlier download fails its check (%s); "
                                "fetching it again whole", dest.name, exc)
                    state.update(validator=None, verifier=None, length=None, adopted=False)
                    return once()
            os.replace(part, dest)
            if state["meta"] is not None:
                state["meta"].unlink(missing_ok=True)
            log.info("Downloaded %s", dest)
            return dest

        failure = None
        try:
            return self._retrying(f"download of {url}", once, failed="failed")
        except BaseException as exc:
            failure = exc
            raise
        finally:
            # A transfer that only ran out of retries or was interrupted (Ctrl-C) is kept for the
            # next call to resume, when a sidecar says what it is part of; anything else goes.
            resumable = (state["meta"] is not None and state["meta"].exists() and part.exists()
                         and (isinstance(failure, ServiceUnavailableError)
                              or not isinstance(failure, Exception)))
            if not resumable:
                _discard(part, state)

    def _open(self, url, headers):
        """GET ``url`` streaming, following redirects only to the same scheme, host and port."""
        origin = urlparse(url)[:2]
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send("GET", url, headers=headers, read=False)
            if not (300 <= response.status_code < 400 and response.headers.get("Location")):
                return response
            response.close()
            target = urljoin(url, response.headers["Location"])
            if urlparse(target)[:2] != origin:
                raise RemoteServiceError(f"HTTP {response.status_code} redirect of {url} to another "
                                         f"scheme, host or port ({target}) refused", endpoint=url)
            url = target
        raise RemoteServiceError(f"more than {_MAX_REDIRECTS} redirects for {url}", endpoint=url)

    def _fetch(self, url, part, state, kind, name):
        from . import conf
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Accept-Encoding": _DOWNLOAD_ENCODINGS}
        ranged = bool(offset and state["validator"] and not state["decode"])
        if ranged:
            headers.update({"Range": f"bytes={offset}-", "If-Range": state["validator"]})
        response = self._open(url, headers)
        behind = None
        try:
            status = response.status_code
            if status == 416:
                # Our part file does not fit the resource any more: start again.
                _discard(part, state)
                raise _Transient("the server refused to resume (HTTP 416); starting again")
            if not 200 <= status < 300:
                _http_failure(response, f"for {url}", url)
            coding = _content_coding(response)
            length = response.headers.get("Content-Length")
            length = int(length) if length is not None and length.isdigit() else None
            if status == 206 and not ranged:
                # A piece of the file, whatever Content-Range says, is not the file.
                raise ReaderError(f"{name}: the server sent part of the file (HTTP 206) for a request "
                                  "of the whole file")
            if status == 206:
                start, total = _content_range(response.headers.get("Content-Range"))
                if total is None and length is not None:
                    total = offset + length
                if (start != offset or coding != state["coding"]
                        or None not in (total, state["length"]) and total != state["length"]):
                    _discard(part, state)
                    raise _Transient("the server resumed at the wrong place (or in another encoding, or "
                                     "the file's length changed); starting again")
                mode, head = "ab", None
            else:
                if offset:
                    log.debug("%s: not resumed (no validator, changed or Range ignored); restarting", url)
                mode, total, head = "wb", length, bytearray()
                etag = response.headers.get("ETag", "")
                # Only a strong ETag or a date may go into If-Range (RFC 9110 13.1.5).
                state["validator"] = (etag if etag and not etag.startswith("W/")
                                      else response.headers.get("Last-Modified"))
                state["verifier"] = StreamVerifier(kind, Path(url).name) if kind else None
                state["coding"], state["decode"], state["length"] = coding, False, length
                state["adopted"] = False   # every byte of this file comes from this transfer
            if state["meta"] is not None and mode == "wb":
                # The sidecar goes before the part file is emptied and comes back after: a process
                # killed in between never leaves a sidecar beside bytes of another version.
                state["meta"].unlink(missing_ok=True)
            if part.is_symlink():
                part.unlink()   # a link planted at the part's name is removed, never written through
            behind = _Behind(open(part, mode), state["verifier"])
            if state["meta"] is not None and mode == "wb":
                _write_sidecar(state)
            needed = _sniff_size(name, state["coding"])
            out = _Out(behind, name, int(conf.archive_max_bytes))
            min_rate = float(conf.min_download_rate)
            grace = self._timeout()
            started = time.monotonic()
            got = 0
            for chunk in _chunks(response):
                got += len(chunk)
                elapsed = time.monotonic() - started
                if min_rate > 0 and elapsed > grace and got < min_rate * elapsed:
                    raise _Transient(f"the transfer ran at {got / elapsed:.0f} bytes/s, below "
                                     f"conf.min_download_rate={min_rate:g}")
                if head is not None:
                    # The first bytes say whether to undo a Content-Encoding and what the file is.
                    head += chunk
                    if len(head) < needed:
                        continue
                    chunk, head = bytes(head), None
                    out.inflater = self._first_bytes(chunk, name, state, complete=False)
                if not out.put(chunk):
                    break   # the archive is bad (or the disk full): the error is raised below
            if head is not None:
                out.inflater = self._first_bytes(bytes(head), name, state, complete=True)
                out.put(bytes(head))
            if out.inflater is not None:
                out.inflater.finish()
        finally:
            response.close()
            if behind is not None:
                failed = behind.stop()
                if failed is not None:
                    # A failed check (or write) outranks a broken connection: the part file cannot
                    # be resumed, and a passed limit must not be retried.
                    raise failed
        # What Content-Length counts: the bytes as sent, which are the part file's unless decoded.
        size = got if state["decode"] else part.stat().st_size
        if total is not None and size != total:
            if size > total or state["decode"]:
                _discard(part, state)
                state["verifier"] = None
            raise _Transient(f"got {size} bytes of {total}")

    @staticmethod
    def _first_bytes(head, name, state, complete):
        """Decide from a download's first bytes whether to undo its Content-Encoding, and check that
        the file is what its name says; returns the `_Inflater` to use, or None.

        A Content-Encoding is undone (as requests would) unless the bytes as sent are already what
        the name says and the decoded ones are not: that is a server labelling a ``.tar.gz`` with
        ``Content-Encoding: gzip`` (Apache's ``AddEncoding x-gzip .gz``), whose bytes are the file.
        A decoded transfer is not resumed: Range offsets count the bytes as sent.
        """
        expected = _expected_type(name)
        coding = state["coding"]
        if coding:
            decoded = _peek_decoded(coding, head)
            keep = (expected is not None and _looks_like(expected, head, complete)
                    and (decoded is None or not _looks_like(expected, decoded, complete)))
            if not keep:
                state["decode"], state["validator"] = True, None
                if state.get("meta") is not None:
                    state["meta"].unlink(missing_ok=True)   # a decoded part file is never resumed
                head = decoded if decoded is not None else head
        # An archive's verifier checks every byte, and says better what is wrong.
        if expected is not None and state["verifier"] is None and not _looks_like(expected, head, complete):
            raise ReaderError(f"{name}: the server sent {_describe_bytes(head)}, not the "
                              f"{_TYPE_WORDS[expected]} the name says")
        return _Inflater(coding) if state["decode"] else None


class _Out:
    """The pieces of a download on their way to `_Behind`: decoded when they must be, and bounded."""

    def __init__(self, behind, name, limit):
        self.behind, self.name, self.limit = behind, name, limit
        self.inflater = None
        self.size = 0

    def put(self, chunk):
        for piece in (self.inflater.feed(chunk) if self.inflater is not None else (chunk,)):
            self.size += len(piece)
            if self.inflater is not None and self.size > self.limit:
                raise ArchiveLimitError(f"{self.name}: the file inflates from its Content-Encoding "
                                        f"past conf.archive_max_bytes={self.limit} bytes")
            if not self.behind.put(piece):
                return False
        return True


# -- what a product file's name says it is ------------------------------------------------------
_TYPE_WORDS = {"fits": "FITS file", "gzip": "gzip file", "tar": "tar archive", "zip": "zip archive",
               "text": "text file"}
# ".fit" is text: UKSSDC names its spectral-fit summaries *_fit.fit (tests/data/real/jracusin__GRBfits).
_SUFFIX_TYPES = {**dict.fromkeys((".fits", ".fts", ".pha", ".pi", ".arf", ".rmf", ".rsp", ".evt", ".img"),
                                 "fits"),
                 **dict.fromkeys((".gz", ".tgz"), "gzip"), ".tar": "tar", ".zip": "zip",
                 **dict.fromkeys((".qdp", ".txt", ".dat", ".log", ".date", ".reg", ".csv", ".xcm", ".fit",
                                  ".areas"), "text")}
_HTML_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<?xml", b"<title")


def _expected_type(name):
    """What a file's name says it holds: a key of `_TYPE_WORDS`, or None when it says nothing."""
    return _SUFFIX_TYPES.get(Path(name).suffix.lower())


def _sniff_size(name, coding):
    """How many first bytes tell what a download is (so that a transfer cut soon after its start
    still leaves a part file to resume)."""
    if coding:
        return _SNIFF
    return {None: 0, "gzip": 2, "zip": 4, "fits": 9, "tar": 512}.get(_expected_type(name), 64)


def _is_html(head):
    return head.lstrip().lower().startswith(_HTML_STARTS)


def _tar_header_ok(block):
    if len(block) < 512 or not block[148:156].strip(b" \0"):
        return False
    try:
        stored = int(block[148:156].strip(b" \0").decode("ascii"), 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _looks_like(expected, head, complete):
    """Whether the first bytes of a file fit ``expected``; ``complete``: they are the whole file."""
    if expected == "fits":
        return head.startswith(b"SIMPLE  =")
    if expected == "gzip":
        return head.startswith(b"\x1f\x8b")
    if expected == "zip":
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    if expected == "tar":
        return _tar_header_ok(head[:512])
    # Text, QDP: no NUL byte, not gzip (whose header need not hold one) and not an HTML page
    # (the login or error page of a web server).
    return b"\0" not in head and not head.startswith(b"\x1f\x8b") and not _is_html(head)


def _describe_bytes(head):
    if _is_html(head):
        return "an HTML page"
    if not head:
        return "an empty file"
    for kind in ("gzip", "zip", "fits", "tar"):
        if _looks_like(kind, head, False):
            return f"a {_TYPE_WORDS[kind]}"
    return f"bytes starting {bytes(head[:16])!r}"


def _peek_decoded(coding, head):
    """The first decoded bytes of ``head`` (sent with ``coding``), or None when they do not decode."""
    for wbits in ((_GZIP,) if coding == "gzip" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)):
        try:
            return zlib.decompressobj(wbits).decompress(head, _SNIFF)
        except zlib.error:
            continue
    return None


# -- private part files -------------------------------------------------------------------------
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _private_part(dest):
    """A part-file name for ``dest`` that no other download, here or in another process, uses."""
    return dest.with_name(f"{dest.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.part")


def _remove_dead_parts(dest):
    """Remove the part files of ``dest`` left by processes of this host that no longer run.

    They are never resumed: nothing recorded their validator, so whether they are pieces of the
    file the server has now cannot be known. A part file of a live process, or of another host
    (a shared folder), is left alone.
    """
    # The part file of earlier versions, whose name every process shared.
    dest.with_name(dest.name + ".part").unlink(missing_ok=True)
    if os.name != "posix":
        return   # os.kill(pid, 0) would not ask, it would signal
    prefix = f"{dest.name}.{_HOST}."
    try:
        names = [p.name for p in dest.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for filename in names:
        pid, _, rest = filename[len(prefix):].partition(".")
        if not (pid.isdigit() and re.fullmatch(r"[0-9a-f]+\.part", rest)) or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue   # alive (or reused by another process: then left, which is safe)
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            (dest.parent / filename).unlink()
            log.debug("removed %s, left by process %s that is no longer running", filename, pid)
        except OSError:
            pass


# -- the part file a later call resumes -----------------------------------------------------------
_SIDECAR_KEYS = ("url", "validator", "length")
_CLAIMED = set()               # the shared part files owned by a call of this process
_CLAIMED_LOCK = threading.Lock()


def _shared_part(dest):
    """The part file of ``dest`` that a later call, in any process, finds and resumes."""
    return dest.with_name(f".{dest.name}.part")


def _sidecar(part):
    """What the part file ``part`` is a part of: URL, validator and length (JSON)."""
    return part.with_name(part.name + ".json")


@contextlib.contextmanager
def _claim(dest):
    """Own the shared part file of ``dest`` for the ``with`` block: yields its path, or None when
    another call (a thread here or another process) owns it now.

    The advisory lock (`xrtprods_astro.locking.file_lock` on ``.<name>.part.lock``, not waited
    for) is removed while still held, so no lock file is left beside the downloads. A call that
    then takes the lock on the removed file sees that the lock file at the name is no longer the
    one it holds (the holder written in it is not this process) and owns nothing; within one
    process a set of claimed names keeps threads apart.
    """
    part = _shared_part(dest)
    key = os.path.abspath(part)
    with contextlib.ExitStack() as stack:
        with _CLAIMED_LOCK:
            owned = key not in _CLAIMED
            _CLAIMED.add(key)
        if owned:
            stack.callback(_CLAIMED.discard, key)
            owned = _lock_part(stack, part.with_name(part.name + ".lock"), dest.name)
        yield part if owned else None


def _lock_part(stack, lock, name):
    try:
        stack.enter_context(file_lock(lock, timeout=0, what=f"the download of {name}"))
    except (LockTimeoutError, OSError):
        return False
    if LOCK_METHOD != "fcntl":
        return True   # the lock file is not removed while held there (Windows refuses)
    me = f"process {os.getpid()} on {socket.gethostname()}"
    try:
        handle = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            holder = os.read(handle, 400).decode("utf-8", "replace")
        finally:
            os.close(handle)
    except OSError:
        holder = None
    if holder != me:
        return False   # the lock taken was on a lock file removed meanwhile: another call owns the part
    stack.callback(_unlink_quietly, lock)   # runs before the lock is released
    return True


def _unlink_quietly(path):
    with contextlib.suppress(OSError):
        path.unlink()


def _discard(part, state):
    """Remove a part file and its sidecar: the next attempt starts from the file's first byte."""
    part.unlink(missing_ok=True)
    if state.get("meta") is not None:
        state["meta"].unlink(missing_ok=True)


def _write_sidecar(state):
    """Record what the part file being written is a part of, when it could be resumed."""
    if not (state["validator"] and state["length"] and state["coding"] == "" and not state["decode"]):
        state["meta"].unlink(missing_ok=True)
        return
    # Made new (O_EXCL, O_NOFOLLOW), so nothing planted at its name is written through; a sidecar
    # cut short by a kill is not JSON, and its part file is then not resumed.
    text = _json.dumps({key: state[key] for key in _SIDECAR_KEYS}).encode()
    state["meta"].unlink(missing_ok=True)
    try:
        handle = os.open(state["meta"], os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                         0o600)
    except OSError as exc:
        log.debug("%s: no sidecar, the download will not be resumable (%s)", state["meta"], exc)
        return
    try:
        os.write(handle, text)
    finally:
        os.close(handle)


def _read_sidecar(meta):
    """The sidecar's record, or None when there is none or it cannot be trusted."""
    if meta.is_symlink() or not meta.is_file():
        return None
    try:
        handle = _no_follow(meta, os.O_RDONLY)
        try:
            record = _json.loads(os.read(handle, 1 << 16))
        finally:
            os.close(handle)
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and isinstance(record.get("url"), str)
            and isinstance(record.get("validator"), str) and record["validator"]
            and isinstance(record.get("length"), int) and record["length"] > 0):
        return None
    return record


def _adopt(part, state, kind, name):
    """Take up the part file a killed or failed earlier call left, when it can be trusted; discard
    it otherwise.

    Trusted: its sidecar names the same URL and a validator, it is a plain file (not a link) no
    longer than the recorded length, its first bytes are what ``name`` says, and an archive's
    bytes so far pass the archive check, read back from disk (the check of the whole file needs
    every byte, so it goes on from there as the rest arrives).
    """
    meta = state["meta"]
    record = _read_sidecar(meta)
    why = None
    if record is None:
        why = "no usable record of what it is part of"
    elif record["url"] != state["url"]:
        why = "it is part of another URL"
    elif part.is_symlink() or not part.is_file():
        why = "it is not a plain file"
    elif not 0 < part.stat().st_size <= record["length"]:
        why = "its length does not fit the file"
    if why is None:
        verifier = StreamVerifier(kind, Path(state["url"]).name) if kind else None
        try:
            if part.stat().st_size == record["length"]:
                # Complete, but killed before its rename: the last byte is asked for again, so the
                # server still says (If-Range) whether these bytes are its file's.
                handle = _no_follow(part, os.O_WRONLY)
                try:
                    os.ftruncate(handle, record["length"] - 1)
                finally:
                    os.close(handle)
            _check_part(part, name, verifier)
        except (ReaderError, OSError) as exc:
            why = f"its bytes fail the check ({exc})"
    if why is not None:
        if part.exists() or part.is_symlink() or meta.exists() or meta.is_symlink():
            log.debug("%s: the part file left by an earlier download is not resumed: %s", name, why)
        _discard(part, state)
        return
    log.debug("%s: resuming the part file left by an earlier download (%d of %d bytes)", name,
              part.stat().st_size, record["length"])
    state.update(validator=record["validator"], length=record["length"], verifier=verifier, adopted=True)


def _check_part(part, name, verifier):
    """Check the bytes of a part file as they would have been checked while they arrived."""
    expected = _expected_type(name)
    with os.fdopen(_no_follow(part, os.O_RDONLY), "rb") as handle:
        head = handle.read(_SNIFF)
        if expected is not None and not _looks_like(expected, head, False):
            raise ReaderError(f"{name}: the part file holds {_describe_bytes(head)}, not the "
                              f"{_TYPE_WORDS[expected]} the name says")
        if verifier is not None:
            chunk = head
            while chunk:
                verifier.feed(chunk)
                chunk = handle.read(_READ)


def _no_follow(path, flags):
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


class _Behind:
    """Writes the pieces of a download to its part file, and feeds the archive check, from a
    thread of its own.

    Receiving, writing and inflating each cost about the same CPU per byte, and all of them
    release the GIL: with the writing and the check beside the transfer, a verified download
    takes about the time of a plain one. The queue is bounded, so memory does not grow when
    the disk or the check is the slower side.

    Parameters
    ----------
    handle : file object
        The part file, open for writing; closed by `stop`.
    verifier : `StreamVerifier` or None
    """

    def __init__(self, handle, verifier):
        self.handle, self.verifier = handle, verifier
        self.error = None
        self._queue = queue.Queue(maxsize=_CHECK_QUEUE)
        self._thread = threading.Thread(target=self._run, name="xrtprods-download", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self.error is None:   # after a failure, pieces are only drained, so put never blocks
                try:
                    self.handle.write(chunk)
                    if self.verifier is not None:
                        self.verifier.feed(chunk)
                except BaseException as exc:   # handed to the downloading thread by stop()
                    self.error = exc

    def put(self, chunk):
        """Queue the next piece; False once writing or checking has failed."""
        if self.error is not None:
            return False
        self._queue.put(chunk)
        return True

    def stop(self):
        """Write and check every queued piece and close the file; returns the error (or None), once."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            try:
                self.handle.close()
            except OSError as exc:
                self.error = self.error or exc
        error, self.error = self.error, None
        return error


def _chunks(response):
    """The body of a streaming response, piece by piece as the bytes arrive."""
    raw = response.raw
    if not isinstance(raw, urllib3.response.HTTPResponse):
        # Not from the network (an answer built in memory): requests knows how to read it.
        yield from response.iter_content(_READ)
        return
    while True:
        # The errors requests itself would raise from iter_content, so callers see one family.
        try:
            chunk = raw.read1(_READ)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.exceptions.ReadTimeout(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        except urllib3.exceptions.HTTPError as exc:   # short reads, broken chunks
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except OSError as exc:
            raise requests.exceptions.ConnectionError(exc) from exc
        if not chunk:
            return
        yield chunk


def _content_range(value):
    match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _parse_date(value):
    try:
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _job_sort_key(job_id):
    try:
        return (0, float(job_id), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(job_id))


# -- content codings ---------------------------------------------------------------------------
_GZIP = 16 + zlib.MAX_WBITS


def _content_coding(response):
    """The Content-Encoding of an answer, lower case: "" (none or identity), "gzip" or "deflate".

    Raises
    ------
    _Transient
        A coding this client did not ask for and cannot undo (``br``, ``compress``, several).
    """
    value = (response.headers.get("Content-Encoding") or "").strip().lower()
    if value in ("", "identity"):
        return ""
    if value in ("gzip", "x-gzip"):
        return "gzip"
    if value == "deflate":
        return "deflate"
    raise _Transient(f"the answer is encoded with Content-Encoding {value!r}, which was not asked for "
                     "and cannot be decoded")


class _Inflater:
    """Undoes a gzip or deflate Content-Encoding piece by piece, as requests does when it decodes.

    No piece is larger than ``_READ`` bytes, however compressed the input: a 1 GiB bomb is
    inflated a quarter MiB at a time, so the caller's limit stops it with memory flat. A gzip
    answer may hold several members (urllib3 reads them all too); deflate is accepted with or
    without its zlib wrapper, as urllib3 accepts it.
    """

    def __init__(self, coding):
        self.coding = coding
        self._wbits = _GZIP if coding == "gzip" else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False
        self._ended = False

    def feed(self, data):
        """Yield the inflated pieces of ``data``.

        Raises
        ------
        requests.exceptions.ContentDecodingError
            The bytes are not what the coding says (retried, as requests' own decoding error is).
        """
        try:
            yield from self._feed(data)
        except zlib.error as exc:
            raise requests.exceptions.ContentDecodingError(
                f"the answer is not valid {self.coding} data ({exc})") from exc

    def _feed(self, data):
        if data and not self._started and self.coding == "deflate":
            self._started = True
            try:
                zlib.decompressobj(self._wbits).decompress(data[:2])
            except zlib.error:
                # "deflate" without the zlib wrapper, as some servers send it.
                self._wbits = -zlib.MAX_WBITS
                self._obj = zlib.decompressobj(self._wbits)
        self._started = True
        while data:
            if self._ended:
                if self.coding != "gzip":
                    raise zlib.error("bytes after the end of the compressed data")
                self._obj, self._ended = zlib.decompressobj(self._wbits), False   # the next member
            piece = self._obj.decompress(data, _READ)
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                self._ended = True
                data = self._obj.unused_data + data
            if piece:
                yield piece
            # Output stopped at the size bound with input all taken: zlib may still hold some.
            while not data and len(piece) == _READ and not self._obj.eof:
                piece = self._obj.decompress(b"", _READ)
                if piece:
                    yield piece

    def finish(self):
        """Raise `requests.exceptions.ContentDecodingError` when the compressed data was cut short."""
        if self._started and not self._ended:
            raise requests.exceptions.ContentDecodingError(
                f"the {self.coding} data of the answer ended before its end")


# -- the watchdog: a time limit that covers the headers too --------------------------------------
class _Watch:
    """The time limit of one HTTP exchange (see `_Watchdog`)."""

    __slots__ = ("when", "why", "conn", "fired", "done")

    def __init__(self, when, why):
        self.when, self.why = when, why
        self.conn, self.fired, self.done = None, False, False


class _Watchdog:
    """One thread that ends HTTP exchanges which pass their time limit, by shutting their socket.

    requests' ``timeout`` limits each wait for bytes, not the exchange: a server that sends one
    header line every half second keeps a call open for as long as it likes. The socket is shut
    (not closed: the thread reading it still owns it), which ends the blocked read at once; the
    exchange then fails and the caller, seeing `_Watch.fired`, reports the time limit.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap = []
        self._order = itertools.count()
        self._thread = None

    def arm(self, when, why):
        """A `_Watch` that fires at monotonic time ``when``; ``why`` words the limit for messages."""
        watch = _Watch(when, why)
        with self._lock:
            if len(self._heap) > 1024:
                # Ended exchanges leave their entries behind: drop them before they pile up.
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
            heapq.heappush(self._heap, (when, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():   # also after a fork
                self._thread = threading.Thread(target=self._run, name="xrtprods-watchdog", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watch:
                self._wake.notify()
        return watch

    def attach(self, watch, conn):
        """Tie a connection to ``watch``: it is the one shut if the limit passes."""
        with self._lock:
            if watch.done:
                return
            watch.conn = conn
            if watch.fired:
                _shut(conn)

    def disarm(self, watch):
        with self._lock:
            watch.done, watch.conn = True, None

    def _run(self):
        with self._lock:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                watch = heapq.heappop(self._heap)[2]
                watch.fired = True
                if watch.conn is not None:
                    _shut(watch.conn)


def _shut(conn):
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            # socket.socket's own shutdown: an SSL socket's would also drop its SSL state under the
            # reading thread.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()   # the _Watch of the exchange this thread is making, if any


def _attach_current(conn):
    # Called where the headers are about to be read: the socket is now the exchange's.
    watch = getattr(_CURRENT, "watch", None)
    if watch is not None:
        _WATCHDOG.attach(watch, conn)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def getresponse(self, *args, **kwargs):
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self, *args, **kwargs):
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, whose connections tell the `_Watchdog` which socket an exchange uses."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:   # a SOCKS manager has pools of its own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _watch_session(session):
    """Mount `_WatchedAdapter` on a `requests.Session` (once), so its exchanges can be timed out."""
    for prefix in ("http://", "https://"):
        if not isinstance(session.adapters.get(prefix), _WatchedAdapter):
            session.mount(prefix, _WatchedAdapter())
