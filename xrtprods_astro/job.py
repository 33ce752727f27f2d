# Licensed under a 3-clause BSD style license - see LICENSE
"""
Handles on jobs of the UKSSDC XRT product generator.

An `XRTJob` is what `~xrtprods_astro.core.XRTProductsClass.submit` returns and
what `XRTJob.attach` re-creates from a JobID: it polls status, waits politely,
cancels, retrieves the products' data once they are complete, downloads and
safely extracts their archives, and asks for rebinned light curves.
"""
import inspect
import logging
import re
import sys
import warnings
from collections import namedtuple
from pathlib import Path

from .exceptions import (InvalidRequestError, JobTimeoutError, ProductFailedError, ProductNotReadyError,
                         ProductNotRequestedError, ReaderError, RemoteServiceError, ServiceUnavailableError,
                         XRTProductsWarning)
from .vocabulary import (PRODUCTS, position_kind, product_code, product_key, product_keys,
                         product_keys_from)

__all__ = ["JobHandle", "XRTJob", "RebinJob", "ProductStatus", "CancelOutcome", "StreamProgress",
           "product_key", "product_code",
           "product_keys", "job_id_int", "wire_job_id", "check_product"]

log = logging.getLogger("xrtprods_astro.job")


def _long_name(key):
    return PRODUCTS[key].label


def job_id_int(value, name="job_id"):
    """A JobID as an int, the one type used for it everywhere (the service sends ints or strings).

    Raises
    ------
    InvalidRequestError
        If ``value`` is not a whole number.
    """
    if isinstance(value, bool):
        value = None  # True/False are not JobIDs, though int(True) works
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidRequestError(f"{name}: expected an integer JobID (as the service gives it, "
                                  f"e.g. 11721010), got {value!r}") from None
    if number <= 0:
        raise InvalidRequestError(f"{name}: a JobID is a positive integer, got {value!r}")
    return number


def wire_job_id(value, name="job_id"):
    """A JobID as it goes back to the service: the JSON type the service (or the caller) gave it.

    The service answers a submission with a string JobID (``"4242"``) and lists
    jobs with int ones; swifttools echoes whichever it holds, and protocol.md
    §2 asks a client to do the same. Python code compares JobIDs as ints
    (`job_id_int`); only the wire keeps the original.

    Parameters
    ----------
    value : int or str
        A JobID; checked as `job_id_int` checks it.
    name : str
        The parameter named in the error message.

    Returns
    -------
    int or str
        ``value`` as an int if it is one, else the digits of the string.

    Raises
    ------
    InvalidRequestError
        If ``value`` is not a whole number.
    """
    number = job_id_int(value, name)
    return value.strip() if isinstance(value, str) else number


def check_product(job_id, key, status, requested=None, has=()):
    """Apply the one rule for products that cannot be retrieved (see `xrtprods_astro.exceptions`).

    Parameters
    ----------
    job_id : int
    key : str
        The product's friendly key.
    status : `ProductStatus`
        Its latest status.
    requested : bool, optional
        False when the job is known not to hold this product.
    has : iterable of str, optional
        The job's products, named in the message when this one is not among them.

    Returns
    -------
    `ProductStatus`
        ``status``, when the product is complete.

    Raises
    ------
    ProductNotRequestedError, ProductFailedError, ProductNotReadyError
    """
    label = _long_name(key)
    where = dict(job_id=job_id, product=key, status=status)
    if requested is False:
        listed = f"; it has: {', '.join(has)}" if has else ""
        raise ProductNotRequestedError(f"Job {job_id} has no {label}: it was not requested in this job"
                                       + listed, **where)
    if status.ok:
        return status
    if status.done:
        what = "was cancelled" if status.code == -4 else "failed"
        raise ProductFailedError(f"The {label} of job {job_id} {what}: {status.text} (status "
                                 f"{status.code}). It will not change; submit the request again with "
                                 "reuse=False for a new job.", **where)
    raise ProductNotReadyError(f"The {label} of job {job_id} is not complete yet: "
                               f"{status.text or 'status ' + str(status.code)}", **where)


def _seconds(value, name):
    if value is None:
        return None
    if hasattr(value, "unit"):
        # Imported only for a Quantity: a wait in plain seconds (the command line's) does without it.
        from astropy import units as u
        if isinstance(value, u.Quantity):
            try:
                return float(value.to_value(u.s))
            except u.UnitConversionError:
                raise InvalidRequestError(f"{name}: expected seconds or a time Quantity, got "
                                          f"{value}") from None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidRequestError(f"{name}: expected seconds or a time Quantity, got "
                                  f"{value!r}") from None
    if seconds < 0:
        raise InvalidRequestError(f"{name}: must not be negative, got {value!r}")
    return seconds


def _use_cache(cache):
    # Retrievals here run only once the product is known complete, so the
    # cache is safe unless the caller says no.
    return True if cache is None else bool(cache)


def _strip_html(text):
    return re.sub(r"<[^>]+>", "", str(text))


def _progress_lines(steps, depth):
    lines = []
    for step in steps or []:
        if not isinstance(step, dict):
            continue
        label = _strip_html(step.get("StepLabel", ""))
        state = step.get("StepStatus")
        indent = "  " * depth
        if state == 1:
            extra = step.get("StepExtra")
            text = f"** {label} - ACTIVE" + (f" -- {_strip_html(extra)}" if extra else "") + "**"
        elif state == 2:
            text = f"{label} - DONE"
        else:
            text = label
        lines.append(indent + text)
        lines.extend(_progress_lines(step.get("SubStep"), depth + 1))
    return lines


class ProductStatus:
    """The state of one product of a job (protocol.md §4).

    Attributes
    ----------
    code : int
        The service's status code: 4 complete, 1-3 and 5 in progress, negative
        values failed or cancelled, -10 no status was returned.
    text : str
        The service's status text.
    progress : dict
        The service's progress object (may be empty).
    """

    def __init__(self, code, text="", progress=None):
        self.code = int(code)
        self.text = str(text or "")
        self.progress = dict(progress or {})

    @classmethod
    def from_service(cls, entry):
        """Build from one product's entry of a checkProductStatus answer."""
        if not isinstance(entry, dict):
            return cls(-10, "The server did not return the status")
        code = entry.get("statusCode")
        try:
            code = int(code)
        except (TypeError, ValueError):
            return cls(-10, entry.get("statusText") or "Unknown status", entry.get("progress"))
        return cls(code, entry.get("statusText", ""), entry.get("progress"))

    @property
    def done(self):
        """True once the product will not change any more (complete, failed or cancelled)."""
        return self.code < 0 and self.code != -10 or self.code == 4

    @property
    def ok(self):
        """True when the product completed and can be retrieved."""
        return self.code == 4

    @property
    def time_running(self):
        """How long the product has been running, a `~astropy.units.Quantity` in s, or None."""
        text = str(self.progress.get("TimeRunning", ""))
        match = re.search(r"(?:(\d+)\s*days?,?\s*)?(\d+):(\d{1,2}):(\d{1,2})", text)
        if not match:
            return None
        from astropy import units as u  # not at the top: following a job's status needs no units
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * u.s

    @property
    def progress_text(self):
        """Human-readable progress, laid out as the UKSSDC client does."""
        if self.progress.get("GotProgress") != 1:
            return "No progress information available"
        lines = []
        if self.progress.get("PreProgress"):
            lines.append(_strip_html(self.progress["PreProgress"]))
        lines.extend(_progress_lines(self.progress.get("ProgressSteps"), 1))
        if self.progress.get("TimeRunning"):
            lines.append(f"The job has been running for {self.progress['TimeRunning']}")
        return "\n".join(lines)

    def to_dict(self):
        return {"code": self.code, "text": self.text, "progress": self.progress}

    def __eq__(self, other):
        return isinstance(other, ProductStatus) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"<ProductStatus {self.code}: {self.text!r}>"


#: The outcome of cancelling one product (protocol.md §2.2): ``code`` 0
#: cancelled, 1 already finished, 2 not in the job, 3 reason unknown, 4 outcome
#: unknown, None not reported by the service.
CancelOutcome = namedtuple("CancelOutcome", ["code", "text", "cancelled"])


class StreamProgress:
    """Draw a job's progress on one line of a text stream, redrawn only when the state changes.

    Pass an instance as ``progress=`` to `XRTJob.wait` (the wait's default
    draws one on standard error). On a terminal the line is redrawn in place;
    in a log file one line is written per change of state, none per poll.

    Parameters
    ----------
    stream : file-like, optional
        Default ``sys.stderr`` (looked up when drawing).
    width : int
        Characters of the bar.
    prefix : str, optional
        Text drawn before the bar (the default wait's is ``"Job N "``).
    """

    def __init__(self, stream=None, width=20, prefix=""):
        self._stream = stream
        self.width = int(width)
        self.prefix = str(prefix)
        self._last = None
        self._job_id = None

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stderr

    @property
    def _tty(self):
        return hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, statuses):
        """The text drawn for these statuses."""
        done = sum(s.done for s in statuses.values())
        total = len(statuses)
        filled = int(round(self.width * done / total)) if total else self.width
        detail = "; ".join(f"{k}: {s.text or s.code}" for k, s in statuses.items() if not s.done)
        bar = "[" + "#" * filled + "-" * (self.width - filled) + "]"
        return (f"{self.prefix}{bar} {done}/{total} products done"
                + (f"  ({detail})" if detail else ""))

    def _write(self, text, end):
        self.stream.write(("\r\033[K" if self._tty else "") + text + end)
        self.stream.flush()

    def __call__(self, job, statuses):
        self._job_id = job.job_id
        line = self.line(statuses)
        if line != self._last:
            self._write(line, "" if self._tty else "\n")
            self._last = line

    def close(self, outcome=None):
        """End the line.

        Parameters
        ----------
        outcome : str, optional
            Why the wait ended while the job still runs (``"interrupted"``,
            ``"timed out"``, ``"stopped"``): it is added to the line, with
            the fact that the job goes on. A job that runs on never reads "failed".
        """
        if self._last is None:
            return
        if outcome:
            self._write(f"{self._last}  [{outcome}; job {self._job_id} goes on]", "\n")
        elif self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _close_progress(progress, outcome):
    close = getattr(progress, "close", None)
    if not callable(close):
        return
    try:
        takes_outcome = bool(inspect.signature(close).parameters)
    except (TypeError, ValueError):  # a builtin without a signature
        takes_outcome = False
    if takes_outcome:
        close(outcome)
    else:
        close()


class JobHandle:
    """What every UKSSDC job handle offers: ``status``, ``poll``, ``wait`` and ``cancel``.

    One waiter and one progress line for every kind of job the UKSSDC services
    run (product-generator jobs, rebinned light curves, and later the GRB
    repository's rebin and time-slice jobs). A subclass sets ``_label`` and
    implements `status`, `cancel` and `_reattach_hint`; `poll` and `wait`
    come from here.

    Attributes
    ----------
    job_id : int
        The job's ID (an int in Python; the service is sent its own form).
    """

    #: How the job is named in messages and on the progress line.
    _label = "Job"

    def __init__(self, client, job_id):
        self._client = client
        self.job_id = job_id_int(job_id)
        # Follow-up calls send the JobID as the service gave it (a string after a submission).
        self._wire_id = wire_job_id(job_id)
        remember = getattr(client, "_remember_wire_id", None)
        if callable(remember):
            remember(job_id)

    def status(self, products=None):  # pragma: no cover - abstract
        """Ask the service for the status of the job's parts: key -> `ProductStatus`."""
        raise NotImplementedError

    def cancel(self, products=None):  # pragma: no cover - abstract
        """Cancel the job: key -> `CancelOutcome`."""
        raise NotImplementedError

    def _reattach_hint(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def poll(self):
        """Ask for the status of every product once: the step of `wait` and of batches.

        Returns
        -------
        statuses : dict
            Product key -> `ProductStatus`.
        finished : bool
            True when every product has finished (complete, failed or cancelled).
        """
        statuses = self.status()
        return statuses, all(s.done for s in statuses.values())

    def wait(self, timeout=None, poll_interval=None, progress=None):
        """Wait until every product has finished.

        Parameters
        ----------
        timeout : float or `~astropy.units.Quantity`, optional
            Longest wait, in seconds or as a time Quantity; default no limit.
        poll_interval : float or `~astropy.units.Quantity`, optional
            Time between status calls; default ``conf.poll_interval`` (or the
            client's ``poll_interval``). UKSSDC asks for no more than about one
            poll a minute.
        progress : bool or callable, optional
            True: draw one progress line on standard error (a
            `StreamProgress`), redrawn only when a product's state changes;
            False: show nothing. A callable (such as `StreamProgress`) is
            called as ``progress(job, statuses)`` after every poll, and its
            ``close(outcome)`` (or ``close()``, if any) when the wait ends:
            ``outcome`` is None when the job finished, else ``"timed out"``,
            ``"interrupted"`` or ``"stopped"`` (another error), and the job
            goes on. By default the line is drawn only when the
            ``xrtprods_astro`` logger is enabled for INFO.

        Returns
        -------
        dict
            Product key -> `ProductStatus`, the final states.

        Raises
        ------
        JobTimeoutError
            Naming the products still running.
        KeyboardInterrupt
            Re-raised after logging (WARNING) that the job goes on (nothing
            is cancelled) and how to re-attach to it.
        """
        limit = _seconds(timeout, "timeout")
        interval = _seconds(poll_interval, "poll_interval")
        if interval is None:
            interval = float(self._client.poll_interval)
        client = self._client
        start = client.monotonic()
        if progress is None:
            progress = log.isEnabledFor(logging.INFO)
        if not callable(progress):
            progress = StreamProgress(prefix=f"{self._label} {self.job_id} ") if progress else None
        outcome = "stopped"
        last = None
        try:
            while True:
                statuses, finished = self.poll()
                elapsed = client.monotonic() - start
                if progress is not None:
                    progress(self, statuses)
                state = {k: (s.code, s.text) for k, s in statuses.items()}
                if state != last:
                    # Changes only: a poll that changed nothing says nothing (the progress line shows them).
                    log.debug("%s %s: %s", self._label, self.job_id,
                              ", ".join(f"{k} {s.text or s.code}" for k, s in statuses.items()))
                    last = state
                if finished:
                    outcome = None
                    return statuses
                running = {k: s for k, s in statuses.items() if not s.done}
                if limit is not None and elapsed >= limit:
                    outcome = "timed out"
                    raise JobTimeoutError(
                        f"{self._label} {self.job_id} did not finish within {limit:g} s; still running: "
                        + ", ".join(f"{k} ({s.text or 'status ' + str(s.code)})"
                                    for k, s in running.items()))
                pause = interval if limit is None else min(interval, limit - elapsed)
                client.sleep(max(pause, 0.0))
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            if progress is not None:
                _close_progress(progress, outcome)
            if outcome == "interrupted":
                log.warning("%s %s goes on; re-attach with %s", self._label, self.job_id,
                            self._reattach_hint())


class XRTJob(JobHandle):
    """A job of the UKSSDC XRT product generator.

    Parameters
    ----------
    client : `~xrtprods_astro.core.XRTProductsClass`
    job_id : int or str
        The JobID as the service gave it; kept as an int (``job_id``).
    url : str
        The job's product URL as the service gave it.
    request : `~xrtprods_astro.request.ProductRequest`, optional
        The request that was submitted.
    job_pars : dict, optional
        The service's jobPars; when given the request is decoded from it.

    Attributes
    ----------
    reused : str or None
        When `~xrtprods_astro.core.XRTProductsClass.submit` re-attached this
        job for the same request instead of submitting a new one: when it was
        submitted (as known); None for a job submitted now or re-attached by ID.
    """

    def __init__(self, client, job_id, url, request=None, job_pars=None):
        super().__init__(client, job_id)
        self.url = url
        self.job_pars = dict(job_pars) if job_pars else None
        # Decoded from jobPars on first use: the decoding imports the parameter catalogue (and
        # astropy.units, astropy.coordinates), which following a job's status does not need.
        self._request = request
        self._request_decoded = not self.job_pars
        self.reused = None
        self._statuses = {}
        self._t0_text = None   # the job's lc/t0.date once read (see _t0_date)

    @property
    def request(self):
        """The job's `~xrtprods_astro.request.ProductRequest`, or None.

        Decoded from the service's jobPars when it gave them, else the request given.
        """
        if not self._request_decoded:
            self._request = self._decode_request(self._request)
            self._request_decoded = True
        return self._request

    @request.setter
    def request(self, value):
        self._request = value
        self._request_decoded = True

    def _decode_request(self, request):
        try:
            from .request import ProductRequest
            return ProductRequest.from_job_pars(self.job_pars)
        except Exception as exc:  # noqa: BLE001 - jobPars are the service's; keep going
            log.debug("could not decode jobPars of job %s: %s", self.job_id, exc)
        return request

    @classmethod
    def attach(cls, job_id, client):
        """Re-attach to an existing job by its JobID (the same as ``client.get_job(job_id)``).

        Parameters
        ----------
        job_id : int or str
        client : `~xrtprods_astro.core.XRTProductsClass`
            E.g. the ready instance `~xrtprods_astro.core.XRTProducts`.
        """
        return client.get_job(job_id)

    @property
    def products(self):
        """The friendly keys of the products this job was asked for."""
        if self.job_pars:
            flagged = [key for key, prod in PRODUCTS.items()
                       if self.job_pars.get(prod.flag) in (1, True, "1")]
            if flagged:
                return flagged
        wanted = getattr(self.request, "products", None)
        if wanted:
            keys = []
            for item in wanted:
                try:
                    keys.append(product_key(item))
                except InvalidRequestError:
                    continue
            return keys
        return []

    def _keys(self, products):
        keys = product_keys_from(products)
        if keys is None:
            keys = self.products or product_keys()
        return keys

    # -- status ------------------------------------------------------------------
    def status(self, products=None):
        """Ask the service for the status of products (one HTTP call).

        Parameters
        ----------
        products : str or list of str, optional
            Product spellings; default every product of the job.

        Returns
        -------
        dict
            Product key -> `ProductStatus`.
        """
        keys = self._keys(products)
        data = self._client.product_status(self._wire_id, keys)
        codes = {key: product_code(key) for key in keys}
        result = {key: ProductStatus.from_service(data.get(codes[key])) for key in keys}
        if products is None and not self.products:
            # Products unknown: keep only those the service knows in this job.
            result = {k: s for k, s in result.items() if s.code != -10} or result
        self._statuses.update(result)
        return result

    @property
    def is_complete(self):
        """True when every product has finished (complete, failed or cancelled); polls once if needed."""
        keys = self.products
        if keys and all(k in self._statuses and self._statuses[k].done for k in keys):
            return True
        return all(s.done for s in self.status().values())

    def _reattach_hint(self):
        return f"XRTProducts.get_job({self.job_id})"

    # -- cancel --------------------------------------------------------------------
    def cancel(self, products=None):
        """Cancel products of the job.

        Parameters
        ----------
        products : str or list of str, optional
            Default every product of the job.

        Returns
        -------
        dict
            Product key -> `CancelOutcome` ``(code, text, cancelled)``.
        """
        keys = self._keys(products)
        data = self._client.cancel_products(self._wire_id, keys)
        texts = data.get("status") or {}
        codes = data.get("statusCodes") or {}
        result = {}
        for key in keys:
            code = product_code(key)
            raw = codes.get(code)
            try:
                raw = int(raw)
            except (TypeError, ValueError):
                raw = None
            text = texts.get(code, "The service did not report this product")
            result[key] = CancelOutcome(raw, text, raw == 0)
            if raw == 0:
                self._statuses[key] = ProductStatus(-4, text)
        return result

    # -- retrieval -------------------------------------------------------------------
    def _ready(self, key):
        # The one rule of xrtprods_astro.exceptions: not requested, failed, not complete.
        if self.products and key not in self.products:
            check_product(self.job_id, key, None, requested=False, has=self.products)
        status = self._statuses.get(key)
        if status is None or not status.done:
            status = self.status([key])[key]
        return check_product(self.job_id, key, status)

    def lightcurve_data(self, nosys=False, incbad=False, *, cache=None, accept=None):
        """The light-curve data as the service sends it (protocol.md §5.1).

        Parameters
        ----------
        nosys, incbad : bool or "both"
        cache : bool, optional
            None (default) or True: use the cache (the product is known to be
            complete here); False: always ask the service.
        accept : callable, optional
            A reader's check: an answer it rejects is never cached (the same
            for the other ``*_data`` methods).
        """
        self._ready("lightcurve")
        return self._client.lightcurve_data(self._wire_id, nosys=nosys, incbad=incbad,
                                            cache=_use_cache(cache), accept=accept)

    def spectral_fit_data(self, *, cache=None, accept=None):
        """The spectra and fit results as the service sends them (protocol.md §5.2)."""
        self._ready("spectrum")
        return self._client.spectral_fit_data(self._wire_id, cache=_use_cache(cache), accept=accept)

    def position_data(self, kind, *, cache=None, accept=None):
        """A position as the service sends it (protocol.md §2.4).

        Parameters
        ----------
        kind : {"standard", "enhanced", "astrometric"}
        cache : bool, optional
        """
        kind = position_kind(kind)
        self._ready(f"{kind}_position")
        return self._client.position_data(self._wire_id, kind, cache=_use_cache(cache), accept=accept)

    def source_list_data(self, *, cache=None, accept=None):
        """The source lists per energy band as the service sends them (protocol.md §2.5)."""
        self._ready("source_detection")
        return self._client.source_list_data(self._wire_id, cache=_use_cache(cache), accept=accept)

    @staticmethod
    def _read(fetch, reader):
        """``reader`` applied to what ``fetch`` retrieves, as the check that lets it be cached."""
        read = []
        fetch(accept=lambda data: read.append(reader(data)))
        return read[-1]

    # -- retrieval as astropy objects ----------------------------------------------------
    def lightcurve(self, *, nosys=False, incbad=False, cache=None):
        """The light curve and hardness ratios as tables with units.

        Parameters
        ----------
        nosys : bool or "both"
            Datasets with WT systematics removed (``"both"``: with and without).
        incbad : bool or "both"
            Datasets including bins with unverified centroids.
        cache : bool, optional
            None (default) or True: cached once complete; False: always ask.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            Dataset name (``"PC"``, ``"WTHR"``, ...) -> `~astropy.table.Table`;
            ``meta["job_id"]`` is this job's ID, ``meta["target"]`` the
            request's source name, and ``energy_band``, ``soft_band``,
            ``hard_band`` the ``(lo, hi)`` keV bands of the rates and of the
            hardness ratio, as requested.

        Raises
        ------
        ProductNotReadyError, ProductFailedError, ProductNotRequestedError
            If the light curve is not complete, failed (or was cancelled), or
            was not asked for in this job (the rule of `xrtprods_astro.exceptions`).
        """
        from .readers.lightcurve import read_lightcurve_json
        t0_date = self._t0_date(cache)
        result = self._read(lambda accept: self.lightcurve_data(nosys=nosys, incbad=incbad, cache=cache,
                                                                accept=accept),
                            lambda data: read_lightcurve_json(data, job_id=self.job_id, t0_date=t0_date))
        result.meta.update(self._energy_bands())
        self._name_target(result.meta)
        return result

    def _t0_date(self, cache):
        """The text of the job's ``lc/t0.date``, or None when the service has none.

        The light-curve answer gives T0 in MET only; this file states UKSSDC's
        own UTC for it (Swift's clock correction included), so that absolute
        times agree with UKSSDC's to the millisecond instead of being off by
        the clock drift (about 20 s in 2020).
        """
        from .readers.lightcurve import parse_t0_date
        use_cache = _use_cache(cache)
        if use_cache and self._t0_text is not None:
            # The file of a made light curve never changes: read once per job (the light curve
            # and the spectral fits both need it, and a cached light curve is read again and again).
            return self._t0_text
        try:
            text = self._client.file_text(f"{self.url}/lc/t0.date", cache=use_cache, accept=parse_t0_date)
        except (RemoteServiceError, ServiceUnavailableError, ReaderError) as exc:
            log.debug("job %s: no usable lc/t0.date (%s); times use the clock table", self.job_id, exc)
            return None
        if use_cache:
            self._t0_text = text
        return text

    @property
    def target_name(self):
        """The source name the job was asked for (the request's ``name``), or None."""
        name = getattr(self, "target_meta", {}).get("target")
        if not name and self.request is not None:
            try:
                name = self.request["name"]
            except KeyError:
                name = None
        return str(name) if name else None

    def _name_target(self, meta):
        """Record the request's source name as ``meta["target"]``: plots and reprs show it."""
        name = self.target_name
        if name:
            meta.setdefault("target", name)
        return meta

    def _energy_bands(self):
        """``energy_band``, ``soft_band``, ``hard_band``: ``(lo, hi)`` in keV, as asked for.

        The service's answer does not say them; plots and time series label with them.
        Plain tuples, so that the meta stays writable to ECSV and FITS headers.
        """
        from .readers.timeseries import energy_bands
        try:
            params = dict(self.request.params("lightcurve")) if self.request is not None else None
        except InvalidRequestError:
            params = None
        if params is None:
            return {}
        return energy_bands(params=params)

    def spectral_fits(self, *, cache=None, spectra=None):
        """The automatic spectral fits, one row per interval, mode and model.

        Absolute times use the clock correction UKSSDC stated for this job:
        the light curve's ``t0.date`` when the job has one, else the
        ``UTCFINIT`` of a grouped spectrum in ``spectra``, else the bundled
        clock table (then ``meta["time_error"]`` states its accuracy).

        Parameters
        ----------
        cache : bool, optional
            Use the package cache (default: the configured setting).
        spectra : dict, optional
            The job's downloaded spectra (what `spectra` returns), whose
            ``UTCFINIT`` states the clock correction.

        Returns
        -------
        `~astropy.table.Table`
            See `~xrtprods_astro.readers.spectrum.read_spectral_fits`;
            ``meta["job_id"]`` is this job's ID.
        """
        from .readers.spectrum import read_spectral_fits
        utcf_of = self._stated_utcf(cache, spectra)
        table = self._read(lambda accept: self.spectral_fit_data(cache=cache, accept=accept),
                           lambda data: read_spectral_fits(data, job_id=self.job_id,
                                                           utcf=utcf_of(data.get("T0"))))
        self._name_target(table.meta)
        return table

    def _stated_utcf(self, cache, spectra=None):
        """A function of T0 (MET) giving the UTCF that UKSSDC stated for this job, or None.

        The spectral fits give T0 in MET only. The light curve's ``t0.date``
        states UKSSDC's UTC for the same T0, hence its clock correction; else
        a grouped spectrum's ``UTCFINIT`` (UTCF at its TSTART), carried to T0
        by the clock table's change between the two (a few ms a day), so
        that one job has one T0 in all its products.
        """
        from .readers.lightcurve import parse_t0_date
        from .times import clock_utcf, utcf_from_utc
        text = self._t0_date(cache) if "lightcurve" in self.products else None
        met, utc = parse_t0_date(text) if text is not None else (None, None)
        stated = _pha_utcf(spectra) if spectra else None

        def utcf_of(t0):
            try:
                t0 = float(t0)
            except (TypeError, ValueError):
                return None
            if utc is not None and abs(t0 - met) < 1e-3:
                return utcf_from_utc(met, utc)
            if stated is not None:
                return stated[1] + clock_utcf(t0) - clock_utcf(stated[0])
            return None

        return utcf_of

    def position(self, kind="standard", *, cache=None):
        """A position of the source.

        Parameters
        ----------
        kind : {"standard", "enhanced", "astrometric"}
        cache : bool, optional

        Returns
        -------
        `~xrtprods_astro.readers.positions.Position`
            A SkyCoord and a 90% error radius, or ``found`` False with the
            service's reason.
        """
        from .readers.positions import read_position
        kind = position_kind(kind)
        return self._read(lambda accept: self.position_data(kind, cache=cache, accept=accept),
                          lambda data: read_position(data, kind, job_id=self.job_id))

    def source_list(self, *, cache=None):
        """The detected sources per energy band.

        Returns
        -------
        `collections.OrderedDict`
            Band name (``"Total"``, ``"Soft"``...) -> `~astropy.table.Table`
            with units and a ``coord`` SkyCoord column.
        """
        from .readers.sourcelist import read_source_list
        result = self._read(lambda accept: self.source_list_data(cache=cache, accept=accept),
                            lambda data: read_source_list(data, job_id=self.job_id))
        for table in result.values():
            self._name_target(table.meta)
        return result

    def _product_dir(self, dest_dir, what):
        if dest_dir is not None:
            # Absolute: the spectrum reader joins relative member paths to dest_dir again.
            return Path(dest_dir).expanduser().resolve()
        # Per job under the package cache (not removed by clear_cache, which
        # only removes cached answers): products of a completed job never change.
        root = Path(self._client.cache_location).parent / "products"
        job = re.sub(r"[^A-Za-z0-9_.-]", "_", str(self.job_id))
        return root / f"job_{job}" / what

    def _fetch(self, url, dest, overwrite):
        dest = Path(dest)
        if dest.is_file() and not overwrite:
            # Files appear only after a verified, atomic download: reuse it.
            log.debug("reusing %s", dest)
            return dest
        return self._client.download_file(url, dest, overwrite=overwrite)

    def spectra(self, dest_dir=None, *, overwrite=False):
        """Download and unpack the spectra of every interval, ready for XSPEC or Sherpa.

        Parameters
        ----------
        dest_dir : path-like, optional
            Where to put ``<rname>.tar.gz`` and the unpacked ``<rname>/``
            folders; default a per-job folder under the package cache.
        overwrite : bool
            Download again even if an archive is already there (a file there
            was verified when it was downloaded, so it is reused otherwise).

        Returns
        -------
        dict
            Interval name (``rname``) -> `~xrtprods_astro.readers.spectrum.SpectrumProducts`
            (grouped spectrum, source and background spectra, ARF, RMF per mode).
            Intervals without a spectrum are left out.

        Raises
        ------
        `~xrtprods_astro.ReaderError`
            An interval name from the service cannot be a folder name (e.g.
            ``..``; refused before anything is fetched), or an archive cannot
            be read.
        """
        from .files import safe_component
        from .readers.spectrum import read_spectrum_archive
        data = self.spectral_fit_data()
        dest = self._product_dir(dest_dir, "spectrum")
        result = {}
        rnames = data.get("rnames") or []
        if isinstance(rnames, str):
            rnames = [rnames]
        for rname in rnames:
            entry = data.get(rname)
            if not isinstance(entry, dict) or not entry.get("DataFile"):
                log.info("Job %s: interval %s has no spectrum file", self.job_id, rname)
                continue
            # rname becomes a folder and a file name: ".." would extract into dest's parent.
            safe = safe_component(rname, "spectral interval name")
            archive = self._fetch(entry["DataFile"], dest / f"{safe}.tar.gz", overwrite)
            result[str(rname)] = read_spectrum_archive(archive, dest / safe)
        return result

    def images(self, dest_dir=None, *, overwrite=False):
        """Download, safely unpack and read the image product.

        Parameters
        ----------
        dest_dir : path-like, optional
            Default a per-job folder under the package cache.
        overwrite : bool
            Download again even if the archive is already there.

        Returns
        -------
        `~xrtprods_astro.readers.images.ImageSet`
        """
        from .archives import safe_extract
        from .readers.images import read_image_files
        self._ready("image")
        dest = self._product_dir(dest_dir, "image")
        archive = self._client.archive_path(self.url, "image", "tar.gz", dest)
        if not archive.is_file() or overwrite:
            archive = self._client.download_archive(self.url, "image", dest_dir=dest, overwrite=overwrite)
        files = safe_extract(archive, dest / "files")
        logs = sorted((p for p in files if p.name == "images.log"), key=lambda p: len(p.parts))
        folders = [logs[0].parent] if logs else sorted({p.parent for p in files if ".img" in p.name},
                                                       key=lambda p: len(p.parts))
        if not folders:
            raise ReaderError(f"{archive.name}: holds no image (members: "
                              f"{', '.join(p.name for p in files) or 'none'})")
        result = read_image_files(folders[0])
        result.meta = self._name_target({"job_id": self.job_id})
        return result

    def download(self, dest_dir=".", products=None, format="tar.gz", overwrite=False, extract=False):
        """Download the product archives.

        Parameters
        ----------
        dest_dir : path-like
        products : str or list of str, optional
            Default: every product of the job that completed (failed ones are
            skipped with a warning). ``"all"`` as a string fetches the
            service's single archive of every product.
        format : {"tar.gz", "tar", "zip"}
        overwrite : bool
        extract : bool
            Also extract each archive safely into ``dest_dir``.

        Returns
        -------
        list of pathlib.Path
            The archives, or with ``extract=True`` the extracted files.
        """
        if isinstance(products, str) and products.strip().lower() == "all":
            for key in self.products:
                self._ready(key)
            archives = [self._client.download_archive(self.url, "all", format=format,
                                                      dest_dir=dest_dir, overwrite=overwrite)]
        else:
            explicit = products is not None
            keys = self._keys(products)
            wanted = []
            for key in keys:
                try:
                    self._ready(key)
                    wanted.append(key)
                except ProductFailedError as exc:
                    # Failed products are skipped from a default download; asked for by name, they raise.
                    if explicit:
                        raise
                    warnings.warn(str(exc) + "; not downloaded", XRTProductsWarning, stacklevel=2)
            archives = [self._client.download_archive(self.url, product_code(key), format=format,
                                                      dest_dir=dest_dir, overwrite=overwrite)
                        for key in wanted]
        if not extract:
            return archives
        from .archives import safe_extract
        extracted = []
        for archive in archives:
            extracted.extend(safe_extract(archive, dest_dir))
        return extracted

    def rebin(self, *, binning, name=None, **params):
        """Ask the service to rebin this job's light curve (protocol.md §2.12).

        Parameters
        ----------
        binning : {"counts", "time", "snapshot", "obsid"}
        name : str, optional
            Default: the job's object name.
        **params
            Light-curve parameters in any spelling (``pc_counts`` or ``pcCounts``...).

        Returns
        -------
        `RebinJob`
            A job handle like this one: ``status()``, ``wait()``, ``cancel()``,
            and ``lightcurve()`` giving the same `~xrtprods_astro.readers.lightcurve.LightCurve`
            as `lightcurve` (units, times, T0).

        Raises
        ------
        ProductNotReadyError, ProductFailedError, ProductNotRequestedError
            The light curve to rebin is not complete, failed or was not asked for.
        """
        self._ready("lightcurve")
        if name is None:
            name = (self.job_pars or {}).get("name") or getattr(self.request, "name", None)
        rebin_id = self._client.rebin_lightcurve(self._wire_id, name=name, binning=binning, **params)
        return RebinJob(self._client, rebin_id, self)

    # -- what a RebinJob of this job asks of it (a GRB's light curve offers the same) -------------
    #: incbad of `RebinJob.lightcurve` by default: as this job's own light curve.
    _rebin_incbad = False

    def _rebin_hint(self, rebin_id):
        return f"XRTProducts.get_rebin({rebin_id}, job_id={self.job_id})"

    def _rebin_parent(self):
        return f"job {self.job_id}"

    def _read_rebinned(self, rebin, *, nosys, incbad, cache):
        from .readers.lightcurve import read_lightcurve_json
        t0_date = self._t0_date(cache)
        result = self._read(lambda accept: rebin.lightcurve_data(nosys=nosys, incbad=incbad, cache=cache,
                                                                 accept=accept),
                            lambda data: read_lightcurve_json(data, job_id=self.job_id, t0_date=t0_date))
        result.meta.update(self._energy_bands())
        self._name_target(result.meta)
        return result

    def to_dict(self):
        """A JSON-serialisable summary: enough to re-attach and to resubmit."""
        return {"job_id": self.job_id, "url": self.url, "products": self.products,
                "job_pars": self.job_pars,
                "status": {k: s.to_dict() for k, s in self._statuses.items()}}

    def __repr__(self):
        states = ", ".join(f"{k}={s.code}" for k, s in self._statuses.items())
        return (f"<XRTJob {self.job_id} products=[{', '.join(self.products)}]"
                + (f" status: {states}" if states else "") + ">")


def _pha_utcf(spectra):
    """(TSTART, UTCFINIT) of the first grouped spectrum that states them, or None.

    ``spectra`` is what `XRTJob.spectra` returns.
    """
    from .times import utcf_from_header
    for products in spectra.values():
        for mode in getattr(products, "modes", {}).values():
            try:
                headers = [hdu.header for hdu in mode.spectrum[:2]]
            except (ReaderError, OSError):
                continue
            # Real XRT spectra carry UTCFINIT in the primary header, others in SPECTRUM.
            for header in headers:
                value, source = utcf_from_header(header)
                tstart = header.get("TSTART")
                if value is not None and source == "UTCFINIT" and tstart not in (None, ""):
                    return float(tstart), float(value)
    return None


class RebinJob(JobHandle):
    """A rebinned light curve, made by the service as a job of its own (protocol.md §2.12).

    What `XRTJob.rebin` and `~xrtprods_astro.grb.GRBClass.rebin_lightcurve` return: the
    product generator's and the GRB repository's rebins are the same common-API functions
    (``rebinLightCurve``, ``checkRebinStatus``, ``cancelRebin``, ``downloadLightCurve`` of type
    ``REBIN_LC``), so one handle serves both. It is followed like any job (`status`, `wait` with
    the same progress line, `cancel`) and read with `lightcurve`, which gives the same
    `~xrtprods_astro.readers.lightcurve.LightCurve` as the light curve rebinned: units, times as
    `~astropy.time.Time` with UKSSDC's clock correction, T0.

    Parameters
    ----------
    client : `~xrtprods_astro.core.XRTProductsClass` or `~xrtprods_astro.grb.GRBClass`
        Offers ``rebin_status``, ``cancel_rebin`` and ``rebinned_lightcurve_data``.
    rebin_id : int or str
        The rebin job's ID as the service gave it.
    job : `XRTJob` or `~xrtprods_astro.grb.GRBLightCurveSource`
        What is rebinned: it states T0 and names the target.

    Attributes
    ----------
    job_id : int
        The rebin job's ID.
    job : `XRTJob` or `~xrtprods_astro.grb.GRBLightCurveSource`
        The job (or the GRB) whose light curve is rebinned.
    """

    _label = "Rebin job"
    #: The one part of a rebin job (the key of `status` and `cancel`).
    products = ("lightcurve",)

    def __init__(self, client, rebin_id, job):
        super().__init__(client, rebin_id)
        # swifttools keeps int(JobID) of the rebin answer and sends that int back (protocol.md §2.12).
        self._wire_id = self.job_id
        self.job = job
        self._statuses = {}

    def _reattach_hint(self):
        return self.job._rebin_hint(self.job_id)

    def status(self, products=None):
        """Ask the service for the rebin job's status (``checkRebinStatus``, one HTTP call).

        Parameters
        ----------
        products : optional
            Accepted for the common handle vocabulary; a rebin job has one part, ``"lightcurve"``.

        Returns
        -------
        dict
            ``{"lightcurve": ProductStatus}`` (the codes of protocol.md §4.1).
        """
        data = self._client.rebin_status(self._wire_id)
        try:
            code = int(data.get("status"))
        except (TypeError, ValueError):
            code = -10
        status = ProductStatus(code, data.get("text") or "")
        self._statuses = {"lightcurve": status}
        return dict(self._statuses)

    def cancel(self, products=None):
        """Cancel the rebin job (``cancelRebin``).

        Returns
        -------
        dict
            ``{"lightcurve": CancelOutcome}``; ``cancelled`` says whether the service confirmed.
        """
        cancelled = self._client.cancel_rebin(self._wire_id)
        text = "Cancelled at your request" if cancelled else "The service did not cancel the rebin job"
        if cancelled:
            self._statuses = {"lightcurve": ProductStatus(-4, text)}
        return {"lightcurve": CancelOutcome(0 if cancelled else 3, text, cancelled)}

    def lightcurve_data(self, nosys=False, incbad=False, *, cache=None, accept=None):
        """The rebinned light curve as the service sends it (``downloadLightCurve``, protocol.md §5.1).

        Raises
        ------
        ProductNotReadyError, ProductFailedError
            The rebin job is not complete, or failed (or was cancelled).
        """
        status = self._statuses.get("lightcurve")
        if status is None or not status.done:
            status = self.status()["lightcurve"]
        check_product(self.job_id, "lightcurve", status)
        return self._client.rebinned_lightcurve_data(self._wire_id, nosys=nosys, incbad=incbad,
                                                     cache=_use_cache(cache), accept=accept)

    def lightcurve(self, *, nosys=False, incbad=None, cache=None):
        """The rebinned light curve, read as the light curve it rebins is read.

        Parameters
        ----------
        nosys, incbad : bool or "both"
            As for `XRTJob.lightcurve`; ``incbad`` by default as the rebinned light curve's own
            reader (False for a job's, True for a GRB's, as `~xrtprods_astro.grb.GRBClass.get_lightcurve`).
        cache : bool, optional

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            ``meta["rebin_id"]`` is this rebin job's ID; ``meta["job_id"]`` the job's, or
            ``meta["grb"]`` and ``meta["target_id"]`` the GRB's.
        """
        if incbad is None:
            incbad = self.job._rebin_incbad
        result = self.job._read_rebinned(self, nosys=nosys, incbad=incbad, cache=cache)
        result.meta["rebin_id"] = self.job_id
        for table in result.values():
            table.meta["rebin_id"] = self.job_id
        return result

    def __repr__(self):
        state = self._statuses.get("lightcurve")
        return (f"<RebinJob {self.job_id} of {self.job._rebin_parent()}"
                + (f" status: {state.code}" if state else "") + ">")
