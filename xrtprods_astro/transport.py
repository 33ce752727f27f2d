# Licensed under a 3-clause BSD style license - see LICENSE
"""
The only place in `xrtprods_astro` that speaks HTTP.

Everything about the wire lives here: the request envelopes of the UKSSDC
product generator (``user_objects``) and of the common API (``API/main.php``),
the checks of their answers, time limits, retries with back-off, the cache
policy, the reconciliation of a submission whose outcome is unknown, and
streamed, verified, resumable downloads.

HTTP goes through `astroquery.query.BaseQuery._request` of the query object the
`Transport` is given, so astroquery's session, logging hook and cache are used.
"""
import json as _json
import ipaddress
import logging
import os
import random as _random
import re
import tarfile
import threading
import time
import warnings
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import requests
from astroquery import cache_conf
from astroquery.query import AstroQuery

from .exceptions import (InvalidRequestError, JobLimitError, RemoteServiceError,
                         ServiceUnavailableError, SubmissionUnknownError,
                         UnknownUserError, XRTProductsWarning)

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

_CHUNK = 1 << 20          # download chunk: memory use does not grow with file size
_MAX_DELAY = 60.0         # cap of one back-off pause, seconds
_CLOCK_SKEW = 600.0       # seconds of clock difference tolerated when reconciling

# Connection failures that prove the request never reached the server, so a
# submission can safely be sent again.
_NOT_SENT = (requests.exceptions.ConnectTimeout,)
# Failures after which the answer is unknown; worth another try for idempotent calls.
_TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
              requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError)


class _Transient(Exception):
    """An answer that is worth retrying: HTTP 5xx, an HTML page, garbage."""


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
    parts = urlparse(str(url))
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return url
    if scheme == "http" and _is_loopback(parts.hostname):
        return url
    if scheme == "http":
        raise InvalidRequestError(
            f"{what}: plain http:// is refused for host {parts.hostname!r} because the "
            "e-mail identity would travel unencrypted; use https:// (http:// is allowed "
            "only for loopback hosts: 127.0.0.0/8, ::1, localhost)")
    raise InvalidRequestError(
        f"{what}: {url!r} is not a usable URL; expected https://<host>/... "
        "(or http:// on a loopback host)")


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _decode(response, endpoint):
    """Decode an HTTP answer into a JSON object, or raise.

    HTTP 5xx, 408, 429, a non-JSON body or JSON that is not an object raise
    `_Transient`; any other HTTP error raises `RemoteServiceError`.
    """
    status = response.status_code
    if status >= 500 or status in (408, 429):
        raise _Transient(f"HTTP {status} {response.reason or ''}".strip())
    if status >= 400:
        raise RemoteServiceError(f"HTTP {status} {response.reason or ''} from {endpoint}".strip(),
                                 endpoint=endpoint)
    text = response.text
    try:
        data = _json.loads(text)
    except ValueError:
        start = " ".join(text[:60].split())
        raise _Transient(f"the answer was not JSON (it starts {start!r})") from None
    if not isinstance(data, dict):
        raise _Transient(f"the answer was JSON but not an object ({type(data).__name__})")
    return data


def _translate(text):
    """Rewrite wire parameter names into the names users type, if params is there."""
    try:
        from .params import translate_wire_names
    except ImportError:  # pragma: no cover - params is part of the package
        return text
    try:
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


def job_pars_match(sent, job_pars):
    """Whether a job's jobPars are the echo of the parameters ``sent``.

    Every sent key the service echoes must hold the same value (numbers and
    numeric strings compare as numbers, strings case-insensitively). Keys the
    service consumes (getCoords, getTargs, getT0, the envelope) are skipped;
    every product flag that was sent must be echoed, and the job may hold no
    product that was not sent (a job with more products is another request).
    """
    if not isinstance(job_pars, dict):
        return False
    for flag in _PRODUCT_FLAGS:
        if flag not in sent and _normalise(job_pars.get(flag, 0)) not in (0, "", "0", None, False):
            return False
    for key, value in sent.items():
        if key in _NOT_ECHOED:
            continue
        if key not in job_pars:
            if key in _PRODUCT_FLAGS or key == "name":
                return False
            continue
        if _normalise(job_pars[key]) != _normalise(value):
            return False
    return True


def _archive_kind(path):
    name = Path(path).name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if name.endswith(".tar"):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    return None


def verify_archive(path, kind):
    """Check that a downloaded archive opens and reads to its end.

    Raises
    ------
    ValueError
        If it does not.
    """
    try:
        if kind in ("tar", "tar.gz"):
            with tarfile.open(path, "r:gz" if kind == "tar.gz" else "r:") as tar:
                for member in tar:
                    if member.isfile():
                        handle = tar.extractfile(member)
                        while handle.read(_CHUNK):
                            pass
        elif kind == "zip":
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
                if bad is not None:
                    raise ValueError(f"member {bad!r} is corrupt")
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{Path(path).name} is not a valid {kind} archive ({exc})") from exc


class Transport:
    """HTTP for one client: envelopes, checks, retries, cache policy, downloads.

    Parameters
    ----------
    query : `astroquery.query.BaseQuery`
        The object whose ``_request`` (and so session and cache) is used.
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

    # -- settings read at use time -----------------------------------------
    def _timeout(self):
        from . import conf
        return float(self.timeout if self.timeout is not None else conf.timeout)

    def _retries(self):
        from . import conf
        return max(0, int(self.retries if self.retries is not None else conf.retries))

    def _pause(self, attempt):
        """Exponential back-off with full jitter before retry number ``attempt`` (0-based)."""
        from . import conf
        base = float(self.backoff if self.backoff is not None else conf.backoff)
        delay = self.random() * min(_MAX_DELAY, base * 2 ** attempt)
        if delay > 0:
            self.sleep(delay)

    @staticmethod
    def _cache_timeout():
        from . import conf
        value = int(conf.cache_timeout)
        # astroquery 0.4.11 spells "never expires" as None; -1 is our spelling.
        return None if value < 0 else value

    # -- low level -----------------------------------------------------------
    def _send(self, method, url, *, json=None, headers=None, cache=False, stream=False):
        check_url(url)
        timeout = self._timeout()
        if not cache:
            return self._query._request(method, url, json=json, headers=headers, timeout=timeout,
                                        cache=False, stream=stream)
        with self._cache_lock, cache_conf.set_temp("cache_timeout", self._cache_timeout()):
            response = self._query._request(method, url, json=json, headers=headers,
                                            timeout=timeout, cache=True, stream=stream)
        cache_file = self._cache_file(method, url, json=json, headers=headers, timeout=timeout)
        if cache_file.exists():
            os.chmod(cache_file, 0o600)
        return response

    def _cache_file(self, method, url, *, json=None, headers=None, timeout=None):
        # Built exactly as BaseQuery._request builds its key, so the right file
        # is found without relying on the per-instance, thread-unsafe _last_query.
        query = AstroQuery(method, url, params=None, data=None, headers=headers, files=None,
                           timeout=timeout, json=json)
        return query.request_file(self._query.cache_location)

    def _evict(self, method, url, *, json=None):
        path = self._cache_file(method, url, json=json, timeout=self._timeout())
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

    def _retrying(self, what, attempt, failed="no usable answer"):
        """Run ``attempt()`` until it returns, retrying transient failures with back-off.

        The one place of the retry policy: ``1 + conf.retries`` attempts, jittered
        exponential pauses, connection errors and `_Transient` answers retried,
        anything else raised at once; then `ServiceUnavailableError`.
        """
        attempts = 1 + self._retries()
        cause = "no attempt was made"
        for number in range(attempts):
            if number:
                self._pause(number - 1)
            try:
                return attempt()
            except _TRANSIENT as exc:
                cause = _describe(exc)
            except _Transient as exc:
                cause = str(exc)
            log.debug("%s: attempt %d failed: %s", what, number + 1, cause)
        raise ServiceUnavailableError(f"{what}: {failed} after {attempts} attempt(s); "
                                      f"last cause: {cause}")

    def _with_retries(self, endpoint, method, url, *, json=None, cache=False, check):
        def once():
            response = self._send(method, url, json=json, cache=cache)
            try:
                return check(_decode(response, endpoint))
            except (_Transient, RemoteServiceError):
                if cache:  # an unusable or error answer never stays in the cache
                    self._evict(method, url, json=json)
                raise

        return self._retrying(endpoint, once)

    # -- public calls ----------------------------------------------------------
    def call(self, url, payload, *, user, endpoint=None, cache=False, required=(), ok_values=(1,)):
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

        Returns
        -------
        dict
            The answer without ``OK`` (kept when it is not 1), ``APIVersion``
            and ``deprecationWarning``.
        """
        endpoint = endpoint or url.rsplit("/", 1)[-1]
        body = {**payload, **envelope(user)}
        return self._with_retries(
            endpoint, "POST", url, json=body, cache=cache,
            check=lambda data: self._check_user_objects(data, endpoint, ok_values, required))

    def call_common(self, url, func, payload, *, cache=False, required=()):
        """POST an idempotent call to the UKSSDC common API (``API/main.php``).

        Parameters
        ----------
        url : str
        func : str
            The ``APIFunc`` value.
        payload : dict
        cache : bool
        required : sequence of str

        Returns
        -------
        dict
        """
        body = {**payload, "APIFunc": func, "APIVersion": COMMON_API_VERSION}
        endpoint = f"main.php:{func}"
        return self._with_retries(endpoint, "POST", url, json=body, cache=cache,
                                  check=lambda data: self._check_common(data, endpoint, required))

    def submit(self, url, payload, *, user, list_url, old_url, known_job_ids=()):
        """Submit a job once, reconciling with the job list when the outcome is unknown.

        A submission is not idempotent. When the answer is lost (the connection
        broke after sending, a read time-out, HTTP 5xx, garbage) the job list
        is searched for a job with the same name, submitted since just before
        the first attempt and not among ``known_job_ids``, whose jobPars match
        what was sent; it is adopted. Only when no such job exists is the
        submission sent again, once.

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
            The outcome stayed unknown and could not be reconciled.
        """
        endpoint = "run_userobject.php"
        body = {**envelope(user), **payload}
        known = {str(job_id) for job_id in known_job_ids}
        first_attempt = None
        resubmissions = 1
        not_sent_retries = self._retries()
        attempt = 0
        while True:
            if first_attempt is None:
                first_attempt = self.clock()
            try:
                response = self._send("POST", url, json=body, cache=False)
            except _NOT_SENT as exc:
                # Nothing reached the server: sending again cannot duplicate a job.
                if not_sent_retries <= 0:
                    raise ServiceUnavailableError(f"{endpoint}: could not connect; last cause: "
                                                  f"{_describe(exc)}") from exc
                not_sent_retries -= 1
                self._pause(attempt)
                attempt += 1
                continue
            except _TRANSIENT as exc:
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
            adopted = self._reconcile(payload, user, list_url, old_url, known,
                                      since=first_attempt - _CLOCK_SKEW, cause=cause)
            if adopted is not None:
                return adopted
            if resubmissions <= 0:
                raise SubmissionUnknownError(
                    f"{endpoint}: the submission's outcome is unknown ({cause}) and no matching job "
                    "is in the job list; it was not sent again. Check XRTProducts.job_list_data() "
                    "before resubmitting.")
            resubmissions -= 1
            log.warning("No job matching the lost submission exists; submitting once more.")
            self._pause(attempt)
            attempt += 1

    def find_submission(self, payload, *, user, list_url, old_url, known_job_ids=(), since):
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
        jobs = self.call(list_url, {}, user=user, endpoint="listOldJobs.php", required=("jobs",))["jobs"]
        candidates = []
        for job in jobs or []:
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
            if job_pars_match(payload, old["jobPars"]):
                matches.append((job_id, old))
        if not matches:
            return None
        job_id, old = matches[0]
        if len(matches) > 1:
            log.warning("Several jobs match the submission (%s); adopting the newest, %s.",
                        ", ".join(str(m[0]) for m in matches), job_id)
        return {"JobID": job_id, "URL": old["URL"], "jobPars": old["jobPars"]}

    def _reconcile(self, payload, user, list_url, old_url, known, *, since, cause):
        try:
            found = self.find_submission(payload, user=user, list_url=list_url, old_url=old_url,
                                         known_job_ids=known, since=since)
        except (ServiceUnavailableError, RemoteServiceError) as exc:
            raise SubmissionUnknownError(
                f"run_userobject.php: the submission's outcome is unknown ({cause}) and the job list "
                f"could not be checked ({exc}); nothing was sent again.") from exc
        if found is not None:
            log.warning("Adopted job %s, found in the job list, as the lost submission.", found["JobID"])
        return found

    def download(self, url, dest, *, overwrite=False, archive=None):
        """Download ``url`` to ``dest``: streamed, verified, renamed atomically.

        The file is written to ``<dest>.part`` in the same folder; an
        interrupted transfer resumes with an HTTP Range request when the server
        honours it, else starts again. The part file is renamed to ``dest``
        only once its size matches Content-Length (when sent) and, for
        archives, it opens and reads to its end.

        Parameters
        ----------
        url : str
        dest : path-like
        overwrite : bool
            Replace an existing ``dest`` (only after the new file verified).
        archive : {'tar', 'tar.gz', 'zip', None, False}, optional
            Archive check to apply; by default guessed from the file name.
            False switches it off.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        FileExistsError
            ``dest`` exists and ``overwrite`` is False.
        ServiceUnavailableError
            Still failing after every retry.
        """
        check_url(url)
        dest = Path(dest)
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it")
        kind = _archive_kind(dest) if archive is None else (archive or None)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")

        def once():
            self._fetch(url, part, url)
            if kind:
                try:
                    verify_archive(part, kind)
                except ValueError as exc:
                    part.unlink()
                    raise _Transient(str(exc)) from exc
            os.replace(part, dest)
            log.info("Downloaded %s", dest)
            return dest

        return self._retrying(f"download of {url}", once, failed="failed")

    def _fetch(self, url, part, endpoint):
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else None
        response = self._send("GET", url, headers=headers, cache=False, stream=True)
        try:
            status = response.status_code
            if status == 416:
                # Our part file does not fit the resource any more: start again.
                part.unlink()
                raise _Transient("the server refused to resume (HTTP 416); starting again")
            if status >= 500 or status in (408, 429):
                raise _Transient(f"HTTP {status} {response.reason or ''}".strip())
            if status >= 400:
                raise RemoteServiceError(f"HTTP {status} {response.reason or ''} for {url}".strip(),
                                         endpoint=endpoint)
            length = response.headers.get("Content-Length")
            length = int(length) if length is not None and length.isdigit() else None
            if status == 206 and offset:
                start, total = _content_range(response.headers.get("Content-Range"))
                if start != offset:
                    part.unlink()
                    raise _Transient("the server resumed at the wrong place; starting again")
                mode = "ab"
                if total is None and length is not None:
                    total = offset + length
            else:
                if offset:
                    log.debug("%s: server ignored the Range request; restarting", url)
                mode, total = "wb", length
            with open(part, mode) as handle:
                for chunk in response.iter_content(chunk_size=_CHUNK):
                    if chunk:
                        handle.write(chunk)
        finally:
            response.close()
        size = part.stat().st_size
        if total is not None and size != total:
            if size > total:
                part.unlink()
            raise _Transient(f"got {size} bytes of {total}")


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
