# Licensed under a 3-clause BSD style license - see LICENSE
"""
The astroquery-style client of the UKSSDC XRT product generator.

`XRTProductsClass` has one method per endpoint of the service (protocol.md §2),
each returning the service's decoded data with the envelope stripped, plus
`~XRTProductsClass.submit` and `~XRTProductsClass.get_job`, which return
`~xrtprods_astro.job.XRTJob` handles. `XRTProducts` is the ready instance.
"""
import logging
import os
import re
import threading
from collections import namedtuple
from pathlib import Path
from urllib.parse import urlparse

from astropy import units as u
from astropy.config import paths
from astroquery.query import BaseQuery

from .exceptions import InvalidRequestError, JobTimeoutError
from .job import XRTJob, product_code, product_key
from .transport import Transport, check_url, envelope

__all__ = ["XRTProductsClass", "XRTProducts", "SpectrumResult", "position_kind",
           "DEFAULT_LIGHTCURVE", "default_globals", "default_lightcurve"]

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


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_POSITION_ENDPOINTS = {"standard": ("tprods/getPSFPos.php", "psf"),
                       "enhanced": ("tprods/getEnhPos.php", "enh"),
                       "astrometric": ("tprods/getAstromPos.php", "xastrom")}
_BINNINGS = ("counts", "time", "snapshot", "obsid")
_FORMATS = ("tar.gz", "tar", "zip")
_ENVELOPE = ("api_name", "api_version", "UserID")


def position_kind(kind):
    """Normalise a position kind: standard, enhanced or astrometric.

    Also accepts the product keys (``standard_position``) and codes (``psf``).
    """
    text = str(kind).strip().lower()
    for name, (_, code) in _POSITION_ENDPOINTS.items():
        if text in (name, f"{name}_position", code.lower(), f"{name} position"):
            return name
    raise InvalidRequestError(f"kind: {kind!r} is not a position kind; allowed: "
                              f"{', '.join(_POSITION_ENDPOINTS)}")


def _yes_no(value, name):
    if isinstance(value, str) and value.strip().lower() == "both":
        return "both"
    if isinstance(value, bool):
        return "yes" if value else "no"
    raise InvalidRequestError(f"{name}: expected True, False or 'both', got {value!r}")


def _validate_email(email, name="email"):
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise InvalidRequestError(f"{name}: {email!r} is not an e-mail address (expected "
                                  "something like 'you@example.org')")
    return email.strip()


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
    flags = ("lc", "spec", "dopsf", "doenh", "doxastrom", "image", "sourceDet")
    if not any(wire.get(flag) in (1, True) for flag in flags):
        problems.append(f"no products have been requested (set one of {', '.join(flags)} to 1)")
    if problems:
        raise InvalidRequestError(problems)


#: Light-curve settings used when a light curve is asked for without a binning:
#: those of the UKSSDC's own GRB light curves (dynamic counts binning, 20 PC and
#: 30 WT counts per bin).
DEFAULT_LIGHTCURVE = {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}


def default_globals(given):
    """The globals a request built from keywords gets unless the user gave them.

    ``centroid=True``, ``pos_err=1 arcmin`` (when centroiding), ``use_sxps=False``
    and ``get_targs=True`` (unless target IDs are given): the choices of the
    UKSSDC's own examples for a point source.

    Parameters
    ----------
    given : dict
        The globals the user gave, keyed by friendly name.

    Returns
    -------
    dict
        The defaults to add, keyed by friendly name.
    """
    defaults = {}
    if "centroid" not in given:
        defaults["centroid"] = True
    if given.get("centroid", True) is True and "pos_err" not in given:
        defaults["pos_err"] = 1 * u.arcmin
    if "use_sxps" not in given:
        defaults["use_sxps"] = False
    if not {"targ", "get_targs"} & set(given):
        defaults["get_targs"] = True
    return defaults


def default_lightcurve(settings):
    """Light-curve settings with `DEFAULT_LIGHTCURVE` filled in when no binning is given.

    Parameters
    ----------
    settings : dict or True
        The user's light-curve parameters in any spelling (``True``: none).

    Returns
    -------
    dict or True
        The settings unchanged when they name a binning, else merged over
        `DEFAULT_LIGHTCURVE` (the user's values win).
    """
    from . import params as P
    given = {} if settings is True else dict(settings)
    names = set()
    for key in given:
        try:
            names.add(P.lookup(key, "lightcurve").name)
        except InvalidRequestError:
            pass  # ProductRequest reports unknown names with the others
    if "binning" in names:
        return settings
    return {**{k: v for k, v in DEFAULT_LIGHTCURVE.items() if k not in names}, **given}


class XRTProductsClass(BaseQuery):
    """Client of the UKSSDC XRT product generator.

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
        super().__init__()
        self._server = server
        self._email = None
        if email is not None:
            self.login(email)
        self._poll_interval = poll_interval
        self._transport = Transport(self)
        self._transport.timeout = timeout
        self._complete = set()
        self._complete_lock = threading.Lock()

    def __deepcopy__(self, memo):
        # astroquery's cache deep-copies each response before pickling it, and
        # the response's hooks hold a bound method of this client: a client
        # (a session, locks, a cache) is a handle, not a value, so it is not
        # copied (and its locks could not be).
        return self

    # -- settings --------------------------------------------------------------
    @property
    def server(self):
        """Root URL of the UKSSDC site (no trailing slash)."""
        from . import conf
        server = str(self._server if self._server is not None else conf.server).rstrip("/")
        check_url(server, "server")
        return server

    @server.setter
    def server(self, value):
        if value is not None:
            check_url(str(value), "server")
        self._server = value

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
        """Seconds between status polls of a running job."""
        from . import conf
        return float(self._poll_interval if self._poll_interval is not None else conf.poll_interval)

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

    @property
    def cache_location(self):
        """Folder of cached retrievals, readable by the user only."""
        if self._cache_location is not None:
            location = Path(self._cache_location)
        else:
            root = Path(paths.get_cache_dir("xrtprods_astro"))
            os.chmod(root, 0o700)
            location = root / self.name
        location.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(location, 0o700)
        return location

    @cache_location.setter
    def cache_location(self, location):
        self._cache_location = Path(location)

    # -- helpers ---------------------------------------------------------------
    def _url(self, path):
        return f"{self.server}/user_objects/{path}"

    def _api_url(self):
        return f"{self.server}/API/main.php"

    def _call(self, path, payload, *, cache=False, required=(), ok_values=(1,), accept=None):
        return self._transport.call(self._url(path), payload, user=self._user(), endpoint=path,
                                    cache=cache, required=required, ok_values=ok_values, accept=accept)

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

    # -- job control (never cached) ---------------------------------------------
    def submit(self, target=None, *, name=None, resolver=None, lightcurve=None, spectrum=None,
               standard_position=None, enhanced_position=None, astrometric_position=None, image=None,
               source_detection=None, get_query_payload=False, known_job_ids=(), **global_params):
        """Submit a job and return its handle at once (no waiting).

        The request is validated first; nothing is sent if it is not valid. If
        the answer is lost, the job list is checked before anything is sent
        again, so a job is never submitted twice by accident.

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
        get_query_payload : bool
            Return the wire payload, with its envelope, and send nothing.
        known_job_ids : iterable, optional
            JobIDs that existed before this submission (they can never be it).
        **global_params
            Global parameters in any spelling (``pos_err``, ``posErr``,
            ``poserr``). Unless given: ``centroid=True``, ``pos_err=1 arcmin``
            (when centroiding), ``use_sxps=False``, and ``get_targs=True``
            when no ``targ`` is given.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`, or dict with ``get_query_payload=True``
        """
        products = dict(lightcurve=lightcurve, spectrum=spectrum, standard_position=standard_position,
                        enhanced_position=enhanced_position, astrometric_position=astrometric_position,
                        image=image, source_detection=source_detection)
        given = {k: v for k, v in products.items() if v is not None and v is not False}
        meta = {}
        if hasattr(target, "to_wire") or isinstance(target, dict):
            extra = sorted(given) + sorted(global_params) + (["name"] if name is not None else [])
            if extra:
                raise InvalidRequestError(f"{', '.join(extra)}: not allowed with a ready request; put "
                                          "them in the ProductRequest (or the wire dict)")
            request = target
        else:
            request, meta = self._build_request(target, name=name, resolver=resolver, products=given,
                                                params=global_params)
        if hasattr(request, "to_wire"):
            wire = dict(request.to_wire())  # validates: raises with every problem at once
            original = request
        else:
            _check_wire(request)
            wire = dict(request)
            original = None
            from .request import ProductRequest
            # Decode the wire dict to check it with the same rules as a ProductRequest.
            problems = ProductRequest.from_job_pars(wire).problems()
            if problems:
                raise InvalidRequestError(problems, header="The request is not ready to submit:")
        wire = {k: (list(v) if isinstance(v, tuple) else v) for k, v in wire.items() if k not in _ENVELOPE}
        if get_query_payload:
            return {**envelope(self.email or ""), **wire}
        user = self._user()
        result = self._transport.submit(self._url("run_userobject.php"), wire, user=user,
                                        list_url=self._url("listOldJobs.php"),
                                        old_url=self._url("getOldProduct.php"),
                                        known_job_ids=known_job_ids)
        job = XRTJob(self, result["JobID"], result["URL"], request=original, job_pars=result["jobPars"])
        job.target_meta = dict(meta)
        log.info("Submitted XRT products job %s (%s)", job.job_id, ", ".join(job.products))
        return job

    def _build_request(self, target, *, name, resolver, products, params):
        """A ProductRequest from a target, product dicts and globals, with the documented defaults."""
        from . import params as P
        from .request import ProductRequest
        from .targets import resolve_target
        if target is None and name is None:
            raise InvalidRequestError("target: no target given (a SkyCoord, a name or a table row)")
        found = resolve_target(name if target is None else target, name=None if target is None else name,
                               resolver=resolver)
        given = {}
        for key in params:
            try:
                given[P.lookup(key).name] = params[key]
            except InvalidRequestError:
                pass  # ProductRequest reports it with the others
        if found.get_coords and {"ra", "dec"} & set(given):
            raise InvalidRequestError("ra/dec: not allowed with resolver='service' (the service "
                                      "resolves the name); give a SkyCoord target instead")
        defaults = default_globals(given)
        kwargs = found.request_kwargs()
        if "get_coords" in kwargs:
            defaults["get_coords"] = kwargs.pop("get_coords")
        products = dict(products)
        if products.get("lightcurve") not in (None, False):
            products["lightcurve"] = default_lightcurve(products["lightcurve"])
        return ProductRequest(**kwargs, **products, **defaults, **params), found.meta

    def _route(self, products, params):
        """Sort user parameters between the products' dicts and the globals.

        Returns ``(product dicts, globals)``; raises with every parameter that
        belongs to no requested product.
        """
        from . import params as P
        dicts = {key: {} for key in products}
        globs = {}
        problems = []
        for typed, value in params.items():
            home = None
            for key in products:
                if typed == "time_range" and P._accepts_time_range(key):
                    home = key
                    break
                try:
                    P.lookup(typed, key)
                except InvalidRequestError:
                    continue
                home = key
                break
            if home is not None:
                dicts[home][typed] = value
                continue
            try:
                record = P.lookup(typed)
            except InvalidRequestError:
                # Unknown anywhere: the product's message lists its parameters and close matches.
                try:
                    P.lookup(typed, products[0])
                except InvalidRequestError as exc:
                    problems.extend(exc.problems)
                continue
            if record.is_global:
                globs[typed] = value
            else:
                problems.append(f"{typed!r} is a {record.product} parameter, but this query asks for "
                                f"{' and '.join(products)} only (see "
                                f"xrtprods_astro.params.catalogue_table({products[0]!r}))")
        if problems:
            raise InvalidRequestError(problems, header="The query parameters are not valid:")
        return dicts, globs

    def _one_call(self, products, target, *, name, resolver, timeout, get_query_payload, params):
        dicts, globs = self._route(products, params)
        product_args = {key: (dicts[key] or True) for key in products}
        submitted = self.submit(target, name=name, resolver=resolver, get_query_payload=get_query_payload,
                                **product_args, **globs)
        if get_query_payload:
            return submitted
        job = submitted
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
    def get_lightcurve_async(self, target, *, timeout=None, nosys=False, incbad=False, cache=None,
                             resolver=None, name=None, get_query_payload=False, **params):
        """Like `get_lightcurve`, returning the service's decoded answer (unparsed)."""
        job = self._one_call(["lightcurve"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        return job.lightcurve_data(nosys=nosys, incbad=incbad, cache=cache)

    def get_lightcurve(self, target, *, timeout=None, nosys=False, incbad=False, cache=None,
                       resolver=None, name=None, get_query_payload=False, **params):
        """Build a light curve of one source, wait for it, and read it.

        Parameters
        ----------
        target : SkyCoord, str or Table row
            See `xrtprods_astro.targets.resolve_target`.
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
            ``pcCounts``); defaults as in `submit`.

        Returns
        -------
        `~xrtprods_astro.readers.lightcurve.LightCurve`
            ``meta`` holds ``job_id`` and how the target was resolved.
        """
        job = self._one_call(["lightcurve"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        result = job.lightcurve(nosys=nosys, incbad=incbad, cache=cache)
        self._add_meta(result.meta, job)
        for table in result.values():
            self._add_meta(table.meta, job)
        return result

    def get_spectrum_async(self, target, *, timeout=None, cache=None, resolver=None, name=None,
                           get_query_payload=False, **params):
        """Like `get_spectrum`, returning the service's decoded spectrum answer (unparsed)."""
        job = self._one_call(["spectrum"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        return job.spectral_fit_data(cache=cache)

    def get_spectrum(self, target, *, dest_dir=None, overwrite=False, timeout=None, cache=None,
                     resolver=None, name=None, get_query_payload=False, **params):
        """Build the spectra of one source, wait, and return fits and files.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        dest_dir : path-like, optional
            Where the spectrum archives are unpacked; default a per-job
            folder under the package cache.
        overwrite : bool
            Download again files already there.
        **params
            Spectrum parameters (``time_range=``, ``timeslice``, ``rname1``,
            ``gti1``...) and globals, in any spelling.

        Returns
        -------
        `SpectrumResult`
            ``.fits`` (Table), ``.spectra`` (dict rname ->
            `~xrtprods_astro.readers.spectrum.SpectrumProducts`) and ``.job``.
        """
        job = self._one_call(["spectrum"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        fits_table = job.spectral_fits(cache=cache)
        self._add_meta(fits_table.meta, job)
        return SpectrumResult(fits_table, job.spectra(dest_dir, overwrite=overwrite), job)

    def get_position_async(self, target, kind="standard", *, timeout=None, cache=None, resolver=None,
                           name=None, get_query_payload=False, **params):
        """Like `get_position`, returning the service's decoded answer (unparsed)."""
        kind = position_kind(kind)
        job = self._one_call([f"{kind}_position"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        return job.position_data(kind, cache=cache)

    def get_position(self, target, kind="standard", *, timeout=None, cache=None, resolver=None,
                     name=None, get_query_payload=False, **params):
        """Build a position of one source, wait, and read it.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        kind : {"standard", "enhanced", "astrometric"}
        **params
            Position parameters (``which_data``, ``pos_radius``...) and globals.

        Returns
        -------
        `~xrtprods_astro.readers.positions.Position`
            ``details`` holds ``job_id`` and how the target was resolved.
        """
        kind = position_kind(kind)
        job = self._one_call([f"{kind}_position"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        result = job.position(kind, cache=cache)
        self._add_meta(result.details, job)
        return result

    def get_image_async(self, target, *, dest_dir=None, overwrite=False, timeout=None, resolver=None,
                        name=None, get_query_payload=False, **params):
        """Like `get_image`, returning the downloaded archive's path (unread)."""
        job = self._one_call(["image"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        dest = job._product_dir(dest_dir, "image")
        return self.download_archive(job.url, "image", dest_dir=dest, overwrite=overwrite)

    def get_image(self, target, *, dest_dir=None, overwrite=False, timeout=None, resolver=None, name=None,
                  get_query_payload=False, **params):
        """Build the images of one source, wait, download and read them.

        Parameters
        ----------
        target, timeout, resolver, name, get_query_payload
            As in `get_lightcurve`.
        dest_dir : path-like, optional
            Default a per-job folder under the package cache.
        overwrite : bool
        **params
            Image parameters (``energies``, ``which_data``...) and globals.

        Returns
        -------
        `~xrtprods_astro.readers.images.ImageSet`
            Its ``meta`` dict holds ``job_id`` and how the target was resolved.
        """
        job = self._one_call(["image"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        result = job.images(dest_dir, overwrite=overwrite)
        result.meta = self._add_meta({}, job)
        return result

    def get_source_list_async(self, target, *, timeout=None, cache=None, resolver=None, name=None,
                              get_query_payload=False, **params):
        """Like `get_source_list`, returning the service's decoded answer (unparsed)."""
        job = self._one_call(["source_detection"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        return job.source_list_data(cache=cache)

    def get_source_list(self, target, *, timeout=None, cache=None, resolver=None, name=None,
                        get_query_payload=False, **params):
        """Run source detection around one source, wait, and read the source lists.

        Parameters
        ----------
        target, timeout, cache, resolver, name, get_query_payload
            As in `get_lightcurve`.
        **params
            Source-detection parameters (``which_data``, ``use_obs``,
            ``which_bands``...) and globals.

        Returns
        -------
        `collections.OrderedDict`
            Band -> `~astropy.table.Table`; each meta holds ``job_id``.
        """
        job = self._one_call(["source_detection"], target, name=name, resolver=resolver, timeout=timeout,
                             get_query_payload=get_query_payload, params=params)
        if get_query_payload:
            return job
        result = job.source_list(cache=cache)
        for table in result.values():
            self._add_meta(table.meta, job)
        return result

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
        codes = self._codes(products)
        what = ",".join(codes)
        data = self._call("checkProductStatus.php", {"JobID": job_id, "what": what, "whatProg": what})
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
        return self._call("canceljob.php", {"JobID": job_id, "what": ",".join(codes)},
                          ok_values=(1, 2), required=("status", "statusCodes"))

    def old_job(self, job_id):
        """The parameters and URL of a past job (``getOldProduct.php``)."""
        return self._call("getOldProduct.php", {"oldJob": job_id}, required=("jobPars", "URL"))

    def job_list_data(self):
        """The user's jobs, most recent first (``listOldJobs.php``).

        Returns
        -------
        list of dict
        """
        return self._call("listOldJobs.php", {}, required=("jobs",))["jobs"]

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

    def count_active_jobs(self):
        """How many of the user's jobs are queued or running (``getNumJobs.php``)."""
        return int(self._call("getNumJobs.php", {}, required=("numJobs",))["numJobs"])

    def get_job(self, job_id):
        """Re-attach to a job by its JobID.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob`
        """
        old = self.old_job(job_id)
        return XRTJob(self, job_id, old["URL"], job_pars=old["jobPars"])

    def find_submitted_job(self, wire, *, since, known_job_ids=()):
        """The job that a submission of ``wire`` created, found in the job list.

        Parameters
        ----------
        wire : dict
            The wire parameters that were sent.
        since : float
            POSIX time before which the job cannot have been submitted.
        known_job_ids : iterable, optional
            JobIDs that cannot be this submission.

        Returns
        -------
        `~xrtprods_astro.job.XRTJob` or None
        """
        found = self._transport.find_submission(
            {k: v for k, v in wire.items() if k not in _ENVELOPE}, user=self._user(),
            list_url=self._url("listOldJobs.php"), old_url=self._url("getOldProduct.php"),
            known_job_ids=known_job_ids, since=since)
        if found is None:
            return None
        return XRTJob(self, found["JobID"], found["URL"], job_pars=found["jobPars"])

    # -- retrievals (cacheable once the product is known complete) -------------------
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
        path, code = _POSITION_ENDPOINTS[position_kind(kind)]
        return self._call(path, {"JobID": job_id}, required=("GotPos",), accept=accept,
                          cache=self._cacheable(cache, "job", job_id, code))

    def source_list_data(self, job_id, *, cache=None, accept=None):
        """The source lists per energy band (``getSourceDetResults.php``)."""
        return self._call("tprods/getSourceDetResults.php", {"JobID": job_id}, accept=accept,
                          cache=self._cacheable(cache, "job", job_id, "sourceDet"))

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
        """
        payload = {"JobID": job_id, "nosys": _yes_no(nosys, "nosys"),
                   "incbad": _yes_no(incbad, "incbad")}
        return self._call("tprods/getLCData.php", payload, required=("Datasets",), accept=accept,
                          cache=self._cacheable(cache, "job", job_id, "lc"))

    def spectral_fit_data(self, job_id, *, cache=None, accept=None):
        """The spectra and automatic fits (``getSpecData.php``)."""
        return self._call("tprods/getSpecData.php", {"JobID": job_id}, accept=accept,
                          cache=self._cacheable(cache, "job", job_id, "spec"))

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
        dest = self._archive_dest(job_url, product, format, dest_dir)
        stem = "all" if str(product).lower() == "all" else product_code(product_key(product, name="product"))
        base = str(job_url).rstrip("/")
        return self._transport.download(f"{base}/{stem}.{format}", dest, overwrite=overwrite)

    @staticmethod
    def _archive_dest(job_url, product, format, dest_dir):
        """Where `download_archive` puts an archive: ``<dest_dir>/<USERPROD_id>_<stem>.<format>``."""
        if format not in _FORMATS:
            raise InvalidRequestError(f"format: {format!r} is not allowed; allowed: {', '.join(_FORMATS)}")
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
        """
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / (Path(urlparse(url).path).name or "download")
        return self._transport.download(url, dest, overwrite=overwrite)

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
        binning = str(binning).lower()
        if binning not in _BINNINGS:
            raise InvalidRequestError(f"binning: {binning!r} is not allowed; allowed: {', '.join(_BINNINGS)}")
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError("name: the object name must be a non-empty string")
        from . import params as P
        extra = {}
        problems = []
        for key, value in params.items():
            # Friendly, UKSSDC or wire spelling; the common API takes the UKSSDC names.
            try:
                record = P.lookup(key, "lightcurve")
                value = record.encode(record.coerce(value, typed=key))
            except InvalidRequestError as exc:
                problems.extend(exc.problems)
                continue
            extra[record.ukssdc] = value
        if problems:
            raise InvalidRequestError(problems, header="The rebin parameters are not valid:")
        payload = {"type": "UOB_LC", "objectID": job_id, "binMeth": binning, **extra, "name": name}
        data = self._transport.call_common(self._api_url(), "rebinLightCurve", payload, required=("JobID",))
        return int(data["JobID"])

    def rebin_status(self, rebin_id):
        """Status of a rebin job (``checkRebinStatus``): ``status`` code and ``text``."""
        data = self._transport.call_common(self._api_url(), "checkRebinStatus", {"JobID": int(rebin_id)},
                                           required=("status",))
        if str(data.get("status")) == "4":
            self._mark_complete("rebin", rebin_id, "lc")
        return data

    def rebinned_lightcurve_data(self, rebin_id, nosys=False, incbad=True, *, cache=None):
        """The rebinned light curve (``downloadLightCurve``), like `lightcurve_data`."""
        payload = {"type": "REBIN_LC", "objectID": rebin_id, "nosys": _yes_no(nosys, "nosys"),
                   "incbad": _yes_no(incbad, "incbad")}
        return self._transport.call_common(self._api_url(), "downloadLightCurve", payload,
                                           cache=self._cacheable(cache, "rebin", rebin_id, "lc"))

    def cancel_rebin(self, rebin_id):
        """Cancel a rebin job (``cancelRebin``). Returns True if the service confirmed."""
        from .exceptions import RemoteServiceError
        try:
            self._transport.call_common(self._api_url(), "cancelRebin", {"JobID": int(rebin_id)})
        except RemoteServiceError as exc:
            import logging
            logging.getLogger("xrtprods_astro.core").info("Rebin %s was not cancelled: %s",
                                                          rebin_id, exc.message)
            return False
        return True

    def clear_cache(self):
        """Remove every cached retrieval of this client's cache folder."""
        super().clear_cache()


XRTProducts = XRTProductsClass()
