# Licensed under a 3-clause BSD style license - see LICENSE
"""
Job control of the UKSSDC XRT product generator, without astroquery's query machinery.

`JobControl` holds the identity and settings of a client and the calls that
follow a job: its status, its parameters, cancelling it, the user's job list
and number of active jobs. `~xrtprods_astro.core.XRTProductsClass` inherits
them (and adds submission, retrievals and downloads); the command line uses a
`JobControl` alone for ``status`` and ``cancel``, which then answer
without importing ``astroquery.query`` (and with it pyvo and
``astropy.coordinates``): most of a short command's time would be spent there.
Either way every call goes through the one `~xrtprods_astro.transport.Transport`.
"""
import os
import platform
import re
import threading

import requests

from .exceptions import InvalidRequestError
from .job import XRTJob, job_id_int, wire_job_id
from .services import ServiceClient, private_cache_folder
from .transport import Transport
from .vocabulary import product_code, product_key

__all__ = ["JobControl"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _validate_email(email, name="email"):
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidRequestError(f"{name}: {email!r} is not an e-mail address (expected "
                                  "something like 'you@example.org')")
    return email.strip()


class _PlainSession:
    """What `Transport` asks of its query object, over a plain `requests.Session`.

    `~astroquery.query.BaseQuery` offers the same ``_request`` and
    ``cache_location``, but importing it costs most of a short command's time.
    The transport sends every call with ``cache=False`` (it keeps its own
    cache, in astroquery's files), so the one behaviour of ``_request`` needed
    is astroquery's uncached one: `requests.Session.request`.
    """

    def __init__(self):
        from . import __version__
        self._session = requests.Session()
        # Identified as astroquery identifies its clients, under this package's name.
        self._session.headers["User-Agent"] = (
            f"xrtprods_astro/{__version__} Python/{platform.python_version()} ({platform.system()}) "
            f"{self._session.headers['User-Agent']}")

    def _request(self, method, url, *, json=None, headers=None, timeout=None, cache=False, stream=False,
                 allow_redirects=True):
        if cache:
            raise ValueError("cache: this session keeps no cache; the transport calls it with cache=False")
        return self._session.request(method, url, json=json, headers=headers, timeout=timeout,
                                     stream=stream, allow_redirects=allow_redirects)

    @property
    def cache_location(self):
        return private_cache_folder()


class JobControl(ServiceClient):
    """A client's identity and settings, and the calls that follow jobs (never cached).

    Parameters
    ----------
    server, email, timeout, poll_interval : optional
        As for `~xrtprods_astro.core.XRTProductsClass`.
    query : object, optional
        The object whose ``_request`` and ``cache_location`` the transport
        uses: `~xrtprods_astro.core.XRTProductsClass` passes itself (an
        astroquery ``BaseQuery``); default a plain `requests.Session`.

    Notes
    -----
    `~xrtprods_astro.core.XRTProductsClass` is a `JobControl`, with
    submission, retrievals and downloads; use it unless start-up time
    matters (the command line's ``status`` and ``cancel``).
    """

    def __init__(self, *, server=None, email=None, timeout=None, poll_interval=None, query=None):
        self._server = server
        self._email = None
        if email is not None:
            self.login(email)
        self._poll_interval = poll_interval
        self._transport = Transport(query if query is not None else _PlainSession())
        self._transport.timeout = timeout
        self._complete = set()
        self._complete_lock = threading.Lock()
        # int JobID -> the string the service gave for it, so that a call given the int
        # (job.job_id) still sends the service's own form (protocol.md §2).
        self._wire_ids = {}

    # -- settings --------------------------------------------------------------
    @property
    def timeout(self):
        """Time limit of one HTTP call, in seconds."""
        from . import conf
        value = self._transport.timeout
        return float(value if value is not None else conf.timeout)

    @timeout.setter
    def timeout(self, value):
        self._transport.timeout = value

    @property
    def poll_interval(self):
        """Seconds between status polls of a running job ("auto": 0.5 s on loopback, 60 s elsewhere)."""
        from . import conf
        from .localmode import effective_poll_interval
        configured = self._poll_interval if self._poll_interval is not None else conf.poll_interval
        return effective_poll_interval(self.server, configured)

    @poll_interval.setter
    def poll_interval(self, value):
        self._poll_interval = value

    @property
    def email(self):
        """The registered e-mail address in use, or None."""
        from . import conf
        return self._email or conf.email or os.environ.get("XRTPRODS_EMAIL") or None

    def login(self, email):
        """Set the registered e-mail address used as the UKSSDC identity.

        No password is involved: UKSSDC identifies users by their registered,
        confirmed e-mail address (register at https://www.swift.ac.uk/user_objects/register.php).

        Parameters
        ----------
        email : str

        Raises
        ------
        InvalidRequestError
            If ``email`` does not look like an e-mail address.
        """
        self._email = _validate_email(email)

    def _user(self):
        email = self.email
        if not email:
            raise InvalidRequestError(
                "email: no registered e-mail address is set. Set it in one of three ways: "
                "XRTProducts.login('you@example.org') (or XRTProductsClass(email=...)), "
                "xrtprods_astro.conf.email = 'you@example.org', or the XRTPRODS_EMAIL "
                "environment variable.")
        return _validate_email(email)

    def monotonic(self):
        """The client's clock for waits, in seconds (the transport's, replaceable in tests)."""
        return self._transport.monotonic()

    def sleep(self, seconds):
        """Pause between polls on the client's clock (the transport's, replaceable in tests)."""
        self._transport.sleep(seconds)

    # -- helpers ---------------------------------------------------------------
    def _url(self, path):
        return f"{self.server}/user_objects/{path}"

    def _call(self, path, payload, *, cache=False, required=(), ok_values=(1,), accept=None):
        return self._transport.call(self._url(path), payload, user=self._user(), endpoint=path,
                                    cache=cache, required=required, ok_values=ok_values, accept=accept)

    def _remember_wire_id(self, job_id):
        """Note the form in which the service gave a JobID (a string), for calls given the int."""
        if isinstance(job_id, str):
            self._wire_ids[job_id_int(job_id)] = job_id.strip()

    def _wire(self, job_id):
        """The JobID to send: as given, or for an int the service's string for it when known."""
        wire = wire_job_id(job_id)
        return self._wire_ids.get(wire, wire) if isinstance(wire, int) else wire

    def _complete_key(self, kind, job_id, code):
        user = self.email if kind == "job" else None
        return (self.server, user, kind, str(job_id), code)

    def _cacheable(self, cache, kind, job_id, code):
        if cache is None:
            with self._complete_lock:
                return self._complete_key(kind, job_id, code) in self._complete
        return bool(cache)

    def _mark_complete(self, kind, job_id, code):
        with self._complete_lock:
            self._complete.add(self._complete_key(kind, job_id, code))

    @staticmethod
    def _codes(products, name="products"):
        if isinstance(products, str):
            products = [p for p in products.split(",") if p.strip()]
        codes = []
        for item in products:
            code = product_code(product_key(item, name=name))
            if code not in codes:
                codes.append(code)
        if not codes:
            raise InvalidRequestError(f"{name}: no product given")
        return codes

    # -- job control -------------------------------------------------------------
    def product_status(self, job_id, products):
        """Status and progress of products of a job (``checkProductStatus.php``).

        Parameters
        ----------
        job_id : int or str
        products : str or list of str
            Product spellings (``"lightcurve"``, ``"lc"`` ...).

        Returns
        -------
        dict
            Product code -> ``{"statusCode", "statusText", "progress"}``, plus ``JobID``.
        """
        wire_id = self._wire(job_id)
        job_id = job_id_int(job_id)
        codes = self._codes(products)
        what = ",".join(codes)
        data = self._call("checkProductStatus.php", {"JobID": wire_id, "what": what, "whatProg": what})
        for code in codes:
            entry = data.get(code)
            if isinstance(entry, dict) and str(entry.get("statusCode")) == "4":
                self._mark_complete("job", job_id, code)
        return data

    def cancel_products(self, job_id, products):
        """Cancel products of a job (``canceljob.php``).

        Returns
        -------
        dict
            ``status`` (code -> text) and ``statusCodes`` (code -> int), and
            ``OK`` = 2 when at least one product was not cancelled.
        """
        codes = self._codes(products)
        return self._call("canceljob.php", {"JobID": self._wire(job_id), "what": ",".join(codes)},
                          ok_values=(1, 2), required=("status", "statusCodes"))

    def old_job(self, job_id):
        """The parameters and URL of a past job (``getOldProduct.php``)."""
        return self._call("getOldProduct.php", {"oldJob": self._wire(job_id)}, required=("jobPars", "URL"))

    def job_list_data(self):
        """The user's jobs, most recent first (``listOldJobs.php``).

        Returns
        -------
        list of dict
        """
        return self._call("listOldJobs.php", {}, required=("jobs",))["jobs"]

    def count_active_jobs(self):
        """How many of the user's jobs are queued or running (``getNumJobs.php``)."""
        return int(self._call("getNumJobs.php", {}, required=("numJobs",))["numJobs"])

    def get_job(self, job_id):
        """Re-attach to a job by its JobID.

        Parameters
        ----------
        job_id : int or str
            The JobID (``"11721010"`` is taken as 11721010).

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`
            Its ``job_id`` is an int; the service is sent the JobID as given.
        """
        old = self.old_job(job_id)
        # Kept as given (a string stays a string on the wire, as swifttools' copyOldJob does).
        return XRTJob(self, self._wire(job_id), old["URL"], job_pars=old["jobPars"])
