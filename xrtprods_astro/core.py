# Licensed under a 3-clause BSD style license - see LICENSE
"""
The astroquery-style client of the UKSSDC XRT product generator.

`XRTProductsClass` has one method per endpoint of the service (protocol.md §2),
each returning the service's decoded data with the envelope stripped, plus
`~XRTProductsClass.submit` and `~XRTProductsClass.get_job`, which return
`~xrtprods_astro.job.XRTJob` handles. `XRTProducts` is the ready instance.
"""
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import namedtuple
from pathlib import Path
from urllib.parse import urlparse

from astroquery.query import BaseQuery

from .builder import build_request, document_products, route_params
from .exceptions import (InvalidRequestError, JobTimeoutError, ProductUnavailableError, RemoteServiceError,
                         ServiceUnavailableError, UnknownUserError)
from .files import check_writable_dir, safe_component, write_private_text
from .job import ProductStatus, XRTJob, check_product, job_id_int, wire_job_id
from .jobcontrol import JobControl
from .request import ProductRequest
from .services import ServiceClient
from .transport import envelope, job_pars_match
from .vocabulary import (ARCHIVE_FORMATS, BINNINGS, ENVELOPE_KEYS, POSITION_KINDS, PRODUCTS, position_kind,
                         product_code, product_key)

__all__ = ["XRTProductsClass", "XRTProducts", "SpectrumResult", "position_kind", "request_fingerprint"]

log = logging.getLogger("xrtprods_astro.core")


class SpectrumResult(namedtuple("SpectrumResult", ["fits", "spectra", "job"])):
    """What `XRTProductsClass.get_spectrum` returns.

    Attributes
    ----------
    fits : `~astropy.table.Table`
        The automatic fits (see `~xrtprods_astro.readers.spectrum.read_spectral_fits`).
    spectra : dict
        Interval name -> `~xrtprods_astro.readers.spectrum.SpectrumProducts`.
    job : `~xrtprods_astro.job.XRTJob`
    """

    __slots__ = ()

    def __repr__(self):
        from .display import spectrum_result_repr
        return spectrum_result_repr(self)

    def _repr_html_(self):
        from .display import spectrum_result_html
        return spectrum_result_html(self)

    def plot(self, **kwargs):
        """Plot the fits with `xrtprods_astro.plotting.plot_spectral_fits`; returns ``(fig, axes)``."""
        from .plotting import plot_spectral_fits
        return plot_spectral_fits(self.fits, **kwargs)


#: Most request fingerprints kept per server and user (the oldest are dropped first).
_REUSE_ENTRIES = 2000
#: Shortest wait, in seconds, for another process's submission through the same reuse map.
_REUSE_LOCK_WAIT = 120.0


def request_fingerprint(wire):
    """The fingerprint of a request: sha256 of the canonical JSON of its wire payload, without envelope.

    Parameters
    ----------
    wire : dict
        Wire parameters (protocol.md §3); the envelope (``api_name``,
        ``api_version``, ``UserID``) is left out, so the fingerprint names the
        request, not who sends it.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    body = {k: (list(v) if isinstance(v, tuple) else v) for k, v in wire.items() if k not in ENVELOPE_KEYS}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reusable(statuses):
    """Whether a job in these states may be re-attached: none cancelled, not every product failed."""
    states = list(statuses.values())
    if any(s.code == -4 for s in states):
        return False
    return not states or not all(s.done and not s.ok for s in states)


def _yes_no(value, name):
    if isinstance(value, str) and value.strip().lower() == "both":
        return "both"
    if isinstance(value, bool):
        return "yes" if value else "no"
    raise InvalidRequestError(f"{name}: expected True, False or 'both', got {value!r}")


def rebin_parameters(binning, params):
    """The checked ``binMeth`` and light-curve parameters of a ``rebinLightCurve`` call.

    Shared by the product generator's rebin (`XRTProductsClass.rebin_lightcurve`) and the GRB
    repository's (`~xrtprods_astro.grb.GRBClass.rebin_lightcurve`): the same common-API function.

    Parameters
    ----------
    binning : {"counts", "time", "snapshot", "obsid"}
    params : dict
        Light-curve parameters in friendly, UKSSDC or wire spelling (``pc_counts``, ``pcCounts``,
        ``pccounts``); Quantities are converted (times to s, energies to keV).

    Returns
    -------
    binning : str
    extra : dict
        The parameters under their UKSSDC names, as swifttools sends them.

    Raises
    ------
    InvalidRequestError
        Naming every parameter that is not valid, before anything is sent.
    """
    binning = str(binning).lower()
    if binning not in BINNINGS:
        raise InvalidRequestError(f"binning: {binning!r} is not allowed; allowed: {', '.join(BINNINGS)}")
    from . import params as P
    extra = {}
    problems = []
    for key, value in params.items():
        # Friendly, UKSSDC or wire spelling; the common API takes the UKSSDC names and,
        # unlike run_userobject.php, JSON booleans (as swifttools sends them).
        try:
            record = P.lookup(key, "lightcurve")
            coerced = record.coerce(value, typed=key)
        except InvalidRequestError as exc:
            problems.extend(exc.problems)
            continue
        # A checked choice goes out as typed ("MJD" stays "MJD"): swifttools forwards the
        # user's keywords untouched, and the service reads them so.
        extra[record.ukssdc] = value.strip() if record.kind == "choice" and isinstance(value, str) \
            else coerced
    if problems:
        raise InvalidRequestError(problems, header="The rebin parameters are not valid:")
    return binning, extra


def _check_wire(wire):
    problems = []
    if not isinstance(wire, dict):
        raise InvalidRequestError("request: expected a ProductRequest or a dict of wire parameters")
    for key, value in wire.items():
        if not isinstance(key, str):
            problems.append(f"{key!r}: parameter names must be strings")
        elif not isinstance(value, (str, int, float, bool, list, tuple)) or value is None:
            problems.append(f"{key}: {value!r} is not a value the service accepts "
                            "(strings, numbers, booleans or lists)")
    if not str(wire.get("name", "")).strip():
        problems.append("name: the object name is not set")
    flags = [p.flag for p in PRODUCTS.values()]
    if not any(wire.get(flag) in (1, True) for flag in flags):
        problems.append(f"no products have been requested (set one of {', '.join(flags)} to 1)")
    if problems:
        raise InvalidRequestError(problems)


class XRTProductsClass(BaseQuery, JobControl):
    """Client of the UKSSDC XRT product generator.

    Its settings, identity and job-control calls (``login``, ``get_job``,
    ``old_job``, ``product_status``, ``cancel_products``, ``job_list_data``,
    ``count_active_jobs``) are inherited from
    `~xrtprods_astro.jobcontrol.JobControl`, which the command line also uses alone.

    Parameters
    ----------
    server : str, optional
        Root URL of the UKSSDC site; default ``conf.server``.
    email : str, optional
        Registered e-mail address; default ``conf.email``, then the
        ``XRTPRODS_EMAIL`` environment variable.
    timeout : float, optional
        Time limit of one HTTP call in seconds; default ``conf.timeout``.
    poll_interval : float, optional
        Seconds between status polls; default ``conf.poll_interval``.

    Notes
    -----
    Defaults are read from `xrtprods_astro.conf` whenever they are used, so
    ``conf.set_temp`` works on the ready instance `XRTProducts`.

    Only retrievals of completed products are cached (under
    ``astropy.config.paths.get_cache_dir('xrtprods_astro')``, readable by the
    user only, for ``conf.cache_timeout`` seconds); job control is never
    cached, and error answers are dropped from the cache at once.
    """

    def __init__(self, *, server=None, email=None, timeout=None, poll_interval=None):
        BaseQuery.__init__(self)
        JobControl.__init__(self, server=server, email=email, timeout=timeout, poll_interval=poll_interval,
                            query=self)
        # Held (with the map's file lock, see _reuse_locked) while one request is looked up, submitted
        # and recorded; re-entrant so that recording inside that section does not wait for itself.
        self._reuse_lock = threading.RLock()
        self._reuse_depth = threading.local()
        self._reuse_cache = (None, {})  # ((path, inode, size, mtime), entries): the map last read/written

    # BaseQuery, first among the bases, has a cache_location of its own: the shared one wins here.
    cache_location = ServiceClient.cache_location

    def _api_url(self):
        return f"{self.server}/API/main.php"

    # -- request reuse -------------------------------------------------------------
    @property
    def reuse_file(self):
        """The file mapping request fingerprints to JobIDs for this server and user (see `submit`).

        ``<cache>/reuse/<sha256 of server and e-mail>.json``, beside the
        cached answers (the e-mail is not stored in clear); readable by the
        user only. Deleting it is safe: the job list is searched instead.
        """
        key = hashlib.sha256(f"{self.server}\n{self._user().lower()}".encode("utf-8")).hexdigest()
        return Path(self.cache_location).parent / "reuse" / f"{key[:32]}.json"

    @contextlib.contextmanager
    def _reuse_locked(self):
        """Hold the reuse map against other threads and processes (issue 20 item 12).

        Two processes sending the same request at once would each find no job
        and submit one: the second now waits here until the first has
        recorded its job, then re-attaches to it. A process that waits longer
        than the limit gets `~xrtprods_astro.locking.LockTimeoutError`, which
        says what holds the lock.
        """
        from .locking import LockTimeoutError, file_lock
        with self._reuse_lock:
            depth = getattr(self._reuse_depth, "n", 0)
            if depth:
                self._reuse_depth.n = depth + 1
                try:
                    yield
                finally:
                    self._reuse_depth.n = depth
                return
            path = self.reuse_file.with_suffix(".lock")
            # A submission whose answer is lost may take a few time limits to reconcile.
            wait = max(_REUSE_LOCK_WAIT, 4 * self.timeout)
            with contextlib.ExitStack() as stack:
                try:
                    stack.enter_context(file_lock(path, timeout=wait,
                                                  what=f"The job re-use map {self.reuse_file}"))
                except LockTimeoutError:
                    raise
                except OSError as exc:  # a read-only cache costs the lock, never the submission
                    log.debug("could not lock %s: %s", path, exc)
                self._reuse_depth.n = 1
                try:
                    yield
                finally:
                    self._reuse_depth.n = 0

    @staticmethod
    def _reuse_stamp(path):
        try:
            st = path.stat()
        except OSError:
            return None
        return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)

    def _reuse_entries(self):
        # Parsed again only when the file changed (another process): a batch submits hundreds of jobs.
        path = self.reuse_file
        stamp = self._reuse_stamp(path)
        if stamp is None:
            return {}
        if self._reuse_cache[0] == stamp:
            return dict(self._reuse_cache[1])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        data = data if isinstance(data, dict) else {}
        self._reuse_cache = (stamp, data)
        return dict(data)

    def _reuse_update(self, fingerprint, job_id=None, submitted=None):
        """Record ``fingerprint`` -> ``job_id`` (or forget it with None), atomically."""
        with self._reuse_locked():
            entries = self._reuse_entries()
            entries.pop(fingerprint, None)
            if job_id is not None:
                # The int for people and tests, the service's own form to send back (protocol.md §2).
                entries[fingerprint] = {"job_id": job_id_int(job_id), "wire_id": wire_job_id(job_id),
                                        "submitted": submitted}
            # Insertion order is age: keep the newest.
            entries = dict(list(entries.items())[-_REUSE_ENTRIES:])
            try:
                # No fsync: a map lost in a power cut costs a look in the job list, never a duplicate.
                write_private_text(self.reuse_file, json.dumps(entries, separators=(",", ":")), fsync=False)
                self._reuse_cache = (self._reuse_stamp(self.reuse_file), entries)
            except OSError as exc:  # a read-only cache costs reuse, never the submission
                log.debug("could not record request fingerprints in %s: %s", self.reuse_file, exc)

    def _job_if_reusable(self, job):
        statuses = job.status()
        if _reusable(statuses):
            return job
        log.info("Job %s for the same request %s; not re-using it.", job.job_id,
                 "was cancelled" if any(s.code == -4 for s in statuses.values()) else "failed")
        return None

    def _find_reusable(self, wire, fingerprint, job_list=None):
        """An existing job of this user for the same request that may be re-attached, or None.

        First the JobID recorded under the request's fingerprint, then (cache
        cleared, another machine) the job list: a job of the same name whose
        jobPars match (in ``job_list`` when given, else in the list read now).
        Jobs that failed or were cancelled are skipped.
        """
        entry = self._reuse_entries().get(fingerprint)
        if isinstance(entry, dict) and entry.get("job_id") is not None:
            wire_id = entry.get("wire_id", entry["job_id"])
            try:
                old = self.old_job(wire_id)
            except UnknownUserError:
                raise
            except (RemoteServiceError, InvalidRequestError) as exc:  # gone from the service
                log.debug("recorded job %s cannot be re-attached: %s", entry["job_id"], exc)
                old = None
            # The service may have been reset since (a local one): the job must still be this request.
            if old is not None and job_pars_match(wire, old["jobPars"]):
                job = XRTJob(self, wire_id, old["URL"], job_pars=old["jobPars"])
                if self._job_if_reusable(job) is not None:
                    return job, entry.get("submitted") or "earlier"
            self._reuse_update(fingerprint, None)
        rejected = set()
        for _ in range(3):  # a few failed or cancelled look-alikes at most; then submit anew
            found = self.find_submitted_job(wire, since=0, known_job_ids=rejected, job_list=job_list,
                                            exact=True)
            if found is None:
                return None, None
            if self._job_if_reusable(found) is not None:
                self._reuse_update(fingerprint, found._wire_id)
                return found, "earlier; found in the job list"
            rejected.add(found.job_id)
        return None, None

    # -- job control (never cached) ---------------------------------------------
    def submit(self, target=None, *, name=None, resolver=None, lightcurve=None, spectrum=None,
               standard_position=None, enhanced_position=None, astrometric_position=None, image=None,
               source_detection=None, observations=None, which_observations=None, get_query_payload=False,
               known_job_ids=(), reuse=None, job_list=None, **global_params):
        """Submit a job and return its handle at once (no waiting).

        The request is validated first; nothing is sent if it is not valid. If
        the answer is lost, the job list is checked before anything is sent
        again, so a job is never submitted twice by accident.

        The polite default (UKSSDC asks users not to load the service
        needlessly): when this user already submitted the same request to
        this server, that job is re-attached and nothing is submitted, unless
        it was cancelled or all its products failed. The job is found from the
        request's fingerprint recorded in `reuse_file`, else in the job list.

        Parameters
        ----------
        target : SkyCoord, str, Table row, `~xrtprods_astro.request.ProductRequest` or dict, optional
            The source (see `xrtprods_astro.targets.resolve_target`), a ready
            ProductRequest (sent as it is), or a dict of wire parameters
            (protocol.md §3).
        name : str, optional
            The object name (default: the target's).
        resolver : {"client", "service"}, optional
            Where a name target is resolved; default ``conf.name_resolver``.
        lightcurve, spectrum, standard_position, enhanced_position, astrometric_position, image, \
source_detection : bool or dict, optional
            True, or a dict of the product's parameters (any spelling).
        observations : Table, list of obsIDs or LSXPS source, optional
            Build every product from these observations only: a Table with an
            obsID column (e.g. from `~xrtprods_astro.catalogues.XRTCatalogues`,
            filtered as you like), a list of obsIDs, or an LSXPS source (its
            ``observations``). They become each product's ``use_obs`` with
            ``which_data="user"``, their target IDs the ``targ``; without a
            ``target``, the source's position (or the table's one position) is
            the target. See `xrtprods_astro.builder.observation_list`.
        which_observations : {"all", "detected", "undetected"}, optional
            For an LSXPS source: all its observations (default), those with a
            detection, or those without.
        get_query_payload : bool
            Return the wire payload, with its envelope, and send nothing.
        known_job_ids : iterable, optional
            JobIDs that existed before this submission (they can never be it).
        reuse : bool, optional
            False: always submit a new job. Default ``conf.reuse_jobs`` (True).
        job_list : list of dict, optional
            The user's jobs as `job_list_data` gives them (or those of them
            with this request's name), read earlier: an earlier job of the
            same request is looked for there instead of in the list read
            anew. A batch reads the list once for all its targets.
        **global_params
            Global parameters in any spelling (``pos_err``, ``posErr``,
            ``poserr``). The defaults of `xrtprods_astro.builder` apply where
            nothing is given: ``centroid=True``, ``pos_err=1 arcmin`` (when
            centroiding), ``use_sxps=False``, ``get_targs=True`` when no
            ``targ`` is given, a light curve binned like the UKSSDC's GRB light
            curves, source detection on ``which_data="all"``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        products = dict(lightcurve=lightcurve, spectrum=spectrum, standard_position=standard_position,
                        enhanced_position=enhanced_position, astrometric_position=astrometric_position,
                        image=image, source_detection=source_detection)
        given = {k: v for k, v in products.items() if v is not None and v is not False}
        meta = {}
        if isinstance(target, ProductRequest) or isinstance(target, dict):
            extra = (sorted(given) + sorted(global_params) + (["name"] if name is not None else [])
                     + (["observations"] if observations is not None else []))
            if extra:
                raise InvalidRequestError(f"{', '.join(extra)}: not allowed with a ready request; put "
                                          "them in the ProductRequest (or the wire dict)")
            request = target
        else:
            if resolver is None:
                from .localmode import default_resolver
                resolver = default_resolver(self._server)  # "service" for local: there is no network
            request, meta = build_request(target, name=name, resolver=resolver, products=given,
                                          params=global_params, observations=observations,
                                          which_observations=which_observations)
        if isinstance(request, ProductRequest):
            wire = dict(request.to_wire())  # validates: raises with every problem at once
            original = request
        else:
            _check_wire(request)
            wire = dict(request)
            original = None
            # Decode the wire dict to check it with the same rules as a ProductRequest.
            problems = ProductRequest.from_job_pars(wire).problems()
            if problems:
                raise InvalidRequestError(problems, header="The request is not ready to submit:")
        wire = {k: (list(v) if isinstance(v, tuple) else v) for k, v in wire.items()
                if k not in ENVELOPE_KEYS}
        if get_query_payload:
            return {**envelope(self.email or ""), **wire}
        user = self._user()
        fingerprint = request_fingerprint(wire)
        if not self._reuse_wanted(reuse):
            return self._submit_new(wire, fingerprint, user, original, meta, known_job_ids)
        # Looked up, submitted and recorded under the map's lock: the same request sent by another
        # process at the same time waits, then finds this job recorded and re-attaches to it.
        with self._reuse_locked():
            try:
                job, when = self._find_reusable(wire, fingerprint, job_list)
            except UnknownUserError:
                raise
            except (RemoteServiceError, ServiceUnavailableError) as exc:
                # Reuse spares the service; it must not stop a submission the service may accept.
                log.warning("Could not look for an earlier job of the same request (%s); submitting a "
                            "new one.", exc)
                job = None
            if job is not None:
                job.target_meta = dict(meta)
                job.reused = when
                log.info("Re-using job %s (submitted %s) for the same request; pass reuse=False for a "
                         "new one", job.job_id, when)
                return job
            return self._submit_new(wire, fingerprint, user, original, meta, known_job_ids)

    def _submit_new(self, wire, fingerprint, user, original, meta, known_job_ids):
        """Submit ``wire`` as a new job and record it under its fingerprint."""
        result = self._transport.submit(self._url("run_userobject.php"), wire, user=user,
                                        list_url=self._url("listOldJobs.php"),
                                        old_url=self._url("getOldProduct.php"),
                                        known_job_ids=known_job_ids)
        job = XRTJob(self, result["JobID"], result["URL"], request=original, job_pars=result["jobPars"])
        job.target_meta = dict(meta)
        self._reuse_update(fingerprint, job._wire_id, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
        log.info("Submitted XRT products job %s (%s)", job.job_id, ", ".join(job.products))
        return job

    @staticmethod
    def _reuse_wanted(reuse):
        if reuse is None:
            from . import conf
            reuse = conf.reuse_jobs
        if not isinstance(reuse, (bool, int)):
            raise InvalidRequestError(f"reuse: expected True or False, got {reuse!r}")
        return bool(reuse)

    def _submit_one(self, products, target, *, name, resolver, get_query_payload, params):
        """Submit one source's products from flat parameters: the job, or the payload."""
        params = dict(params)
        # Not product parameters: submit's own (see submit).
        own = {key: params.pop(key) for key in ("reuse", "observations", "which_observations")
               if key in params}
        dicts, globs = route_params(products, params)
        product_args = {key: (dicts[key] or True) for key in products}
        return self.submit(target, name=name, resolver=resolver, get_query_payload=get_query_payload,
                           **own, **product_args, **globs)

    @staticmethod
    def _wait(job, timeout):
        try:
            job.wait(timeout=timeout)
        except JobTimeoutError as exc:
            error = JobTimeoutError(f"{exc}. The job goes on: re-attach later with "
                                    f"XRTProducts.get_job({job.job_id!r}).")
            error.job_id = job.job_id
            error.job = job
            raise error from None
        return job

    @staticmethod
    def _add_meta(meta, job):
        meta["job_id"] = job.job_id
        for key, value in getattr(job, "target_meta", {}).items():
            meta.setdefault(key, value)
        return meta

    # -- one-call queries ----------------------------------------------------------------
    # The astroquery pattern for a job service: ``get_X_async`` submits and returns the
    # XRTJob at once; ``get_X`` submits, waits and returns astropy objects.
    def get_lightcurve_async(self, target, *, resolver=None, name=None, get_query_payload=False, **params):
        """Submit a light curve of one source and return the job at once (no waiting).

        Parameters are those of `get_lightcurve`; follow the job with
        ``job.wait()`` and read it with ``job.lightcurve()``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        return self._submit_one(["lightcurve"], target, name=name, resolver=resolver,
                                get_query_payload=get_query_payload, params=params)

    def get_lightcurve(self, target, *, timeout=None, nosys=False, incbad=False, cache=None,
                       resolver=None, name=None, get_query_payload=False, **params):
        """Build a light curve of one source, wait for it, and read it.

        Parameters
        ----------
        target : SkyCoord, str or Table row
            A position, a coordinate string (``"335.6985 -7.5179"``,
            ``"22h22m47.64s -07d31m04.4s"``), a name, or a catalogue row: see
            `xrtprods_astro.targets.resolve_target`.
        timeout : float or `~astropy.units.Quantity`, optional
            Longest wait; `~xrtprods_astro.JobTimeoutError` names the job to
            re-attach to with `get_job`.
        nosys, incbad : bool or "both"
            Which datasets to fetch.
        cache : bool, optional
            Cache the completed answer (default yes).
        resolver : {"client", "service"}, optional
        name : str, optional
        get_query_payload : bool
            Return the wire payload and send nothing.
        **params
            Light-curve parameters and globals in friendly, UKSSDC or wire
            spelling (``binning="counts", pc_counts=20`` or ``binMeth``,
            ``pcCounts``); defaults as in `submit`. ``observations=`` (and
            ``which_observations=``) restrict it to chosen observations, as in
            `submit` (the target may then be None).

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            ``meta`` holds ``job_id`` and how the target was resolved.
        """
        job = self.get_lightcurve_async(target, name=name, resolver=resolver,
                                        get_query_payload=get_query_payload, **params)
        if get_query_payload:
            return job
        result = self._wait(job, timeout).lightcurve(nosys=nosys, incbad=incbad, cache=cache)
        self._add_meta(result.meta, job)
        for table in result.values():
            self._add_meta(table.meta, job)
        return result

    def get_spectrum_async(self, target, *, resolver=None, name=None, get_query_payload=False, **params):
        """Submit the spectra of one source and return the job at once (no waiting).

        Parameters are those of `get_spectrum`; follow the job with
        ``job.wait()`` and read it with ``job.spectral_fits()`` and ``job.spectra()``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        return self._submit_one(["spectrum"], target, name=name, resolver=resolver,
                                get_query_payload=get_query_payload, params=params)

    def get_spectrum(self, target, *, dest_dir=None, overwrite=False, timeout=None, cache=None,
                     resolver=None, name=None, get_query_payload=False, **params):
        """Build the spectra of one source, wait, and return fits and files.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        dest_dir : path-like, optional
            Where the spectrum archives are unpacked; default a per-job
            folder under the package cache. A folder that cannot be made
            or written to raises `~xrtprods_astro.exceptions.InvalidRequestError`
            before anything is submitted.
        overwrite : bool
            Download again files already there.
        **params
            Spectrum parameters (``time_range=``, ``timeslice``, ``rname1``,
            ``gti1``...) and globals, in any spelling; ``observations=`` as
            in `submit`.

        Returns
        -------
        `SpectrumResult`
            ``.fits`` (Table), ``.spectra`` (dict rname ->
            `~xrtprods_astro.readers.spectrum.SpectrumProducts`) and ``.job``.
        """
        if dest_dir is not None and not get_query_payload:
            # Before submitting: a folder that cannot be written would fail only after the wait.
            check_writable_dir(dest_dir, "dest_dir")
        job = self.get_spectrum_async(target, name=name, resolver=resolver,
                                      get_query_payload=get_query_payload, **params)
        if get_query_payload:
            return job
        self._wait(job, timeout)
        # The spectra first: their UTCFINIT states the job's clock correction for the fits' T0.
        spectra = job.spectra(dest_dir, overwrite=overwrite)
        fits_table = job.spectral_fits(cache=cache, spectra=spectra)
        self._add_meta(fits_table.meta, job)
        return SpectrumResult(fits_table, spectra, job)

    def get_position_async(self, target, kind="standard", *, resolver=None, name=None,
                           get_query_payload=False, **params):
        """Submit a position of one source and return the job at once (no waiting).

        Parameters are those of `get_position`; follow the job with
        ``job.wait()`` and read it with ``job.position(kind)``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        kind = position_kind(kind)
        return self._submit_one([f"{kind}_position"], target, name=name, resolver=resolver,
                                get_query_payload=get_query_payload, params=params)

    def get_position(self, target, kind="standard", *, timeout=None, cache=None, resolver=None,
                     name=None, get_query_payload=False, **params):
        """Build a position of one source, wait, and read it.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        kind : {"standard", "enhanced", "astrometric"}
        **params
            Position parameters (``which_data``, ``pos_radius``...) and
            globals; ``observations=`` as in `submit`.

        Returns
        -------
        `~xrtprods_astro.readers.positions.Position`
            ``details`` holds ``job_id`` and how the target was resolved.
        """
        kind = position_kind(kind)
        job = self.get_position_async(target, kind, name=name, resolver=resolver,
                                      get_query_payload=get_query_payload, **params)
        if get_query_payload:
            return job
        result = self._wait(job, timeout).position(kind, cache=cache)
        self._add_meta(result.details, job)
        return result

    def get_image_async(self, target, *, resolver=None, name=None, get_query_payload=False, **params):
        """Submit the images of one source and return the job at once (no waiting).

        Parameters are those of `get_image`; follow the job with
        ``job.wait()`` and read it with ``job.images()``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        return self._submit_one(["image"], target, name=name, resolver=resolver,
                                get_query_payload=get_query_payload, params=params)

    def get_image(self, target, *, dest_dir=None, overwrite=False, timeout=None, resolver=None, name=None,
                  get_query_payload=False, **params):
        """Build the images of one source, wait, download and read them.

        Parameters
        ----------
        target, timeout, resolver, name, get_query_payload
            As in `get_lightcurve`.
        dest_dir : path-like, optional
            Default a per-job folder under the package cache. A folder that
            cannot be made or written to raises
            `~xrtprods_astro.exceptions.InvalidRequestError` before anything
            is submitted.
        overwrite : bool
        **params
            Image parameters (``energies``, ``which_data``...) and globals;
            ``observations=`` as in `submit`.

        Returns
        -------
        `~xrtprods_astro.readers.images.ImageSet`
            Its ``meta`` dict holds ``job_id`` and how the target was resolved.
        """
        if dest_dir is not None and not get_query_payload:
            # Before submitting: a folder that cannot be written would fail only after the wait.
            check_writable_dir(dest_dir, "dest_dir")
        job = self.get_image_async(target, name=name, resolver=resolver,
                                   get_query_payload=get_query_payload, **params)
        if get_query_payload:
            return job
        result = self._wait(job, timeout).images(dest_dir, overwrite=overwrite)
        result.meta = self._add_meta({}, job)
        return result

    def get_source_list_async(self, target, *, resolver=None, name=None, get_query_payload=False, **params):
        """Submit source detection around one source and return the job at once (no waiting).

        Parameters are those of `get_source_list`; follow the job with
        ``job.wait()`` and read it with ``job.source_list()``.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        return self._submit_one(["source_detection"], target, name=name, resolver=resolver,
                                get_query_payload=get_query_payload, params=params)

    def get_source_list(self, target, *, timeout=None, cache=None, resolver=None, name=None,
                        get_query_payload=False, **params):
        """Run source detection around one source, wait, and read the source lists.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        **params
            Source-detection parameters (``which_data``, ``use_obs``,
            ``which_bands``...) and globals; without a data selection,
            ``which_data="all"``; ``observations=`` as in `submit`.

        Returns
        -------
        `collections.OrderedDict`
            Band -> `~astropy.table.Table`; each meta holds ``job_id``.
        """
        job = self.get_source_list_async(target, name=name, resolver=resolver,
                                         get_query_payload=get_query_payload, **params)
        if get_query_payload:
            return job
        result = self._wait(job, timeout).source_list(cache=cache)
        for table in result.values():
            self._add_meta(table.meta, job)
        return result

    def list_jobs(self):
        """The user's jobs as a table, most recent first.

        Returns
        -------
        `~astropy.table.Table`
            See `~xrtprods_astro.readers.jobs.read_job_list`: ``job_id``,
            ``name``, ``submitted`` (Time), one bool column per product,
            ``products`` and ``has_products``.
        """
        from .readers.jobs import read_job_list
        return read_job_list({"jobs": self.job_list_data()})

    def find_submitted_job(self, wire, *, since, known_job_ids=(), job_list=None, exact=False):
        """The job that a submission of ``wire`` created, found in the job list.

        Parameters
        ----------
        wire : dict
            The wire parameters that were sent.
        since : float
            POSIX time before which the job cannot have been submitted.
        known_job_ids : iterable, optional
            JobIDs that cannot be this submission.
        job_list : list of dict, optional
            The job list (`job_list_data`) already read; default: read it now.
        exact : bool
            True to re-use an older job: it must be proven the same request
            (see `~xrtprods_astro.transport.job_pars_match`).

        Returns
        -------
        `~xrtprods_astro.job.XRTJob` or None
        """
        found = self._transport.find_submission(
            {k: v for k, v in wire.items() if k not in ENVELOPE_KEYS}, user=self._user(),
            list_url=self._url("listOldJobs.php"), old_url=self._url("getOldProduct.php"),
            known_job_ids=known_job_ids, since=since, jobs=job_list, exact=exact)
        if found is None:
            return None
        return XRTJob(self, found["JobID"], found["URL"], job_pars=found["jobPars"])

    # -- retrievals (cacheable once the product is known complete) -------------------
    def _retrieve(self, key, job_id, path, payload, *, cache, required=(), accept=None):
        """A retrieval whose error answer, when the product is not there, becomes the one rule's error.

        The service answers a retrieval of a product that is not complete, not
        in the job, failed or cancelled with an error; its status (and, when
        that cannot tell, the job's parameters) says which case of the rule of
        `xrtprods_astro.exceptions` it is. A complete product re-raises the
        service's error. Nothing extra is asked when the retrieval works.
        """
        try:
            return self._call(path, payload, required=required, cache=cache, accept=accept)
        except UnknownUserError:
            raise
        except RemoteServiceError as exc:
            code = product_code(key)
            try:
                status = ProductStatus.from_service(self.product_status(job_id, [code]).get(code))
                requested = None
                if not status.ok and (status.done or status.code == -10):
                    # A status alone cannot tell a failed product from one the job never had: jobPars can.
                    requested = self.old_job(job_id)["jobPars"].get(PRODUCTS[key].flag) in (1, True, "1")
            except (RemoteServiceError, ServiceUnavailableError):
                raise exc from None
            try:
                check_product(job_id_int(job_id), key, status, requested=requested)
            except ProductUnavailableError as rule:
                raise rule from exc
            raise

    def position_data(self, job_id, kind, *, cache=None, accept=None):
        """A position product (``getPSFPos``, ``getEnhPos`` or ``getAstromPos``).

        Parameters
        ----------
        job_id : int or str
        kind : {"standard", "enhanced", "astrometric"}
        cache : bool, optional
            None (default): use the cache only if this client has seen the
            product complete; False: never; True: always.
        accept : callable, optional
            A reader's check of the answer: an answer it rejects (with
            `~xrtprods_astro.ReaderError`) is never kept in the cache. The
            same holds for the other ``*_data`` methods.
        """
        kind = position_kind(kind)
        path, code = POSITION_KINDS[kind]
        wire = self._wire(job_id)
        return self._retrieve(f"{kind}_position", wire, path, {"JobID": wire}, required=("GotPos",),
                              accept=accept,
                              cache=self._cacheable(cache, "job", job_id_int(job_id), code))

    def source_list_data(self, job_id, *, cache=None, accept=None):
        """The source lists per energy band (``getSourceDetResults.php``)."""
        wire = self._wire(job_id)
        return self._retrieve("source_detection", wire, "tprods/getSourceDetResults.php", {"JobID": wire},
                              accept=accept,
                              cache=self._cacheable(cache, "job", job_id_int(job_id), "sourceDet"))

    def lightcurve_data(self, job_id, nosys=False, incbad=False, *, cache=None, accept=None):
        """The light-curve datasets (``getLCData.php``).

        Parameters
        ----------
        job_id : int or str
        nosys : bool or "both"
            Datasets with WT systematics removed.
        incbad : bool or "both"
            Datasets including bins with unverified centroids.
        cache : bool, optional

        Raises
        ------
        ProductNotReadyError, ProductNotRequestedError, ProductFailedError
            The light curve is not complete, was not asked for in this job, or
            failed; the same rule for every product and every path (see
            `xrtprods_astro.exceptions`).
        """
        wire = self._wire(job_id)
        payload = {"JobID": wire, "nosys": _yes_no(nosys, "nosys"),
                   "incbad": _yes_no(incbad, "incbad")}
        return self._retrieve("lightcurve", wire, "tprods/getLCData.php", payload, required=("Datasets",),
                              accept=accept,
                              cache=self._cacheable(cache, "job", job_id_int(job_id), "lc"))

    def spectral_fit_data(self, job_id, *, cache=None, accept=None):
        """The spectra and automatic fits (``getSpecData.php``)."""
        wire = self._wire(job_id)
        return self._retrieve("spectrum", wire, "tprods/getSpecData.php", {"JobID": wire},
                              accept=accept,
                              cache=self._cacheable(cache, "job", job_id_int(job_id), "spec"))

    # -- downloads ---------------------------------------------------------------------
    def download_archive(self, job_url, product="all", format="tar.gz", dest_dir=".", overwrite=False):
        """Download a product archive of a job.

        Parameters
        ----------
        job_url : str
            The job's URL as the service gave it.
        product : str
            A product spelling, or ``"all"`` for every product in one archive.
        format : {"tar.gz", "tar", "zip"}
        dest_dir : path-like
        overwrite : bool

        Returns
        -------
        pathlib.Path
            ``<dest_dir>/<USERPROD_id>_<stem>.<format>``.
        """
        dest = self.archive_path(job_url, product, format, dest_dir)
        stem = "all" if str(product).lower() == "all" else product_code(product_key(product, name="product"))
        base = str(job_url).rstrip("/")
        return self._transport.download(f"{base}/{stem}.{format}", dest, overwrite=overwrite)

    @staticmethod
    def archive_path(job_url, product="all", format="tar.gz", dest_dir="."):
        """Where `download_archive` puts an archive: ``<dest_dir>/<USERPROD_id>_<stem>.<format>``.

        Parameters are those of `download_archive`; nothing is downloaded.

        Returns
        -------
        pathlib.Path
        """
        if format not in ARCHIVE_FORMATS:
            raise InvalidRequestError(f"format: {format!r} is not allowed; allowed: "
                                      f"{', '.join(ARCHIVE_FORMATS)}")
        stem = "all" if str(product).lower() == "all" else product_code(product_key(product, name="product"))
        job_dir = Path(urlparse(str(job_url).rstrip("/")).path).name or "job"
        return Path(dest_dir) / f"{job_dir}_{stem}.{format}"

    def download_file(self, url, dest, overwrite=False):
        """Download one file (e.g. a light-curve or spectrum URL from the data).

        Parameters
        ----------
        url : str
        dest : path-like
            A file name, or an existing folder to keep the URL's file name.
        overwrite : bool

        Returns
        -------
        pathlib.Path

        Raises
        ------
        `~xrtprods_astro.ReaderError`
            ``dest`` is a folder and the URL's file name cannot be a file
            name (e.g. ``..``); nothing is fetched.
        """
        dest = Path(dest)
        if dest.is_dir():
            # The URL's last part comes from the service: "..", say, must not name dest's parent.
            name = Path(urlparse(url).path).name
            dest = dest / (safe_component(name, "file name in the URL") if name else "download")
        return self._transport.download(url, dest, overwrite=overwrite)

    def file_text(self, url, *, cache=False, accept=None):
        """The text of a small file of a job (for example ``<job URL>/lc/t0.date``).

        Parameters
        ----------
        url : str
        cache : bool
            Use the cache (only for files of a completed product).
        accept : callable, optional
            A reader's check of the text; an answer it rejects is not cached.

        Returns
        -------
        str
        """
        return self._transport.get_text(url, cache=cache, accept=accept)

    # -- rebinning through the common API ---------------------------------------------
    def rebin_lightcurve(self, job_id, *, name, binning, **params):
        """Ask for a rebinned light curve of a completed job (``rebinLightCurve``).

        Parameters
        ----------
        job_id : int or str
        name : str
            The object name.
        binning : {"counts", "time", "snapshot", "obsid"}
        **params
            Light-curve parameters in friendly, UKSSDC or wire spelling
            (``pc_counts``, ``pcCounts``, ``pccounts``); Quantities are
            converted (times to s, energies to keV); sent under the UKSSDC names.

        Returns
        -------
        int
            The rebin job's ID.
        """
        binning, extra = rebin_parameters(binning, params)
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError("name: the object name must be a non-empty string")
        # objectID is the JobID as the service gave it, as swifttools sends it (protocol.md §2.12).
        payload = {"type": "UOB_LC", "objectID": self._wire(job_id), "binMeth": binning, **extra,
                   "name": name}
        data = self._transport.call_common(self._api_url(), "rebinLightCurve", payload, required=("JobID",))
        return job_id_int(data["JobID"], "JobID")

    def get_rebin(self, rebin_id, job_id):
        """Re-attach to a rebin job of a job.

        Parameters
        ----------
        rebin_id : int or str
            The rebin job's ID (``job.rebin(...).job_id``).
        job_id : int or str
            The JobID of the job whose light curve is rebinned.

        Returns
        -------
        `~xrtprods_astro.job.RebinJob`
        """
        from .job import RebinJob
        return RebinJob(self, rebin_id, self.get_job(job_id))

    # swifttools holds a rebin ID as int(JobID) and sends it back so (protocol.md §2.12): ints here.
    def rebin_status(self, rebin_id):
        """Status of a rebin job (``checkRebinStatus``): ``status`` code and ``text``."""
        rebin_id = job_id_int(rebin_id, "rebin_id")
        data = self._transport.call_common(self._api_url(), "checkRebinStatus", {"JobID": rebin_id},
                                           required=("status",))
        if str(data.get("status")) == "4":
            self._mark_complete("rebin", rebin_id, "lc")
        return data

    def rebinned_lightcurve_data(self, rebin_id, nosys=False, incbad=True, *, cache=None, accept=None):
        """The rebinned light curve (``downloadLightCurve``), like `lightcurve_data`.

        ``incbad`` defaults to True here, as swifttools' ``getRebinnedLightCurve`` does;
        `~xrtprods_astro.job.RebinJob.lightcurve` asks as the job's own light curve does.
        """
        rebin_id = job_id_int(rebin_id, "rebin_id")
        payload = {"type": "REBIN_LC", "objectID": rebin_id, "nosys": _yes_no(nosys, "nosys"),
                   "incbad": _yes_no(incbad, "incbad")}
        return self._transport.call_common(self._api_url(), "downloadLightCurve", payload, accept=accept,
                                           cache=self._cacheable(cache, "rebin", rebin_id, "lc"))

    def cancel_rebin(self, rebin_id):
        """Cancel a rebin job (``cancelRebin``). Returns True if the service confirmed."""
        from .exceptions import RemoteServiceError
        rebin_id = job_id_int(rebin_id, "rebin_id")
        try:
            self._transport.call_common(self._api_url(), "cancelRebin", {"JobID": rebin_id})
        except RemoteServiceError as exc:
            log.info("Rebin %s was not cancelled: %s", rebin_id, exc.message)
            return False
        return True


# The get_* and submit docstrings list their parameters, generated from the catalogue.
document_products(XRTProductsClass)
XRTProducts = XRTProductsClass()
