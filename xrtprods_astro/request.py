# Licensed under a 3-clause BSD style license - see LICENSE
"""
`ProductRequest`: what to build, for which source, with which parameters.

A request is built from astropy types (`~astropy.coordinates.SkyCoord`,
`~astropy.time.Time`, `~astropy.units.Quantity`) or plain values, validated
client-side with every problem reported at once, encoded in the exact wire
format of the UKSSDC product generator, and decoded back from the ``jobPars``
the service echoes. Everything it knows about parameters comes from
`xrtprods_astro.params`.
"""
import copy as _copy
import json
import logging
from pathlib import Path
from types import MappingProxyType

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from . import params as P
from .exceptions import InvalidRequestError
from .times import format_time_ranges

__all__ = ["ProductRequest", "coord_name"]

log = logging.getLogger("xrtprods_astro.request")

_FORMAT = "xrtprods_astro.ProductRequest"
_VERSION = 1
_POSITION_KEYS = ("position", "coord", "coords", "coordinates", "skycoord")


def coord_name(coord):
    """An IAU-style name ``JHHMMSS.s+DDMMSS`` for a position.

    Parameters
    ----------
    coord : `~astropy.coordinates.SkyCoord`
        Any frame; the name is built from its ICRS coordinates (rounded, not
        truncated, to 0.1 s of RA and 1 arcsec of Dec).

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> coord_name(SkyCoord(335.6985, -7.5179, unit="deg"))
    'J222247.6-073104'
    """
    icrs = coord.icrs
    ra = icrs.ra.to_string(unit=u.hourangle, sep="", precision=1, pad=True)
    dec = icrs.dec.to_string(unit=u.deg, sep="", precision=0, pad=True, alwayssign=True)
    return f"J{ra}{dec}"


def _flag_on(value):
    """Whether a jobPars product flag asks for the product (tolerant: 1, "1", true, "yes")."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return value is True or (isinstance(value, (int, float, np.integer, np.floating))
                             and not isinstance(value, bool) and value == 1)


def _names(p):
    """``pc_counts (UKSSDC pcCounts)``, or just the name when both agree."""
    return p.name if p.ukssdc == p.name else f"{p.name} (UKSSDC {p.ukssdc})"


def _is_default(p, value):
    """Whether a stored value is the documented server default (True is not 1 here)."""
    if p.default is P.UNSET or isinstance(value, bool) != isinstance(p.default, bool):
        return False
    return value == p.default


def _range_numbers(text):
    """The start and stop numbers of the 'start-stop' items of a use_obs/gti string (obsIDs skipped)."""
    numbers = []
    for token in text.split(","):
        start, sep, stop = token.strip().partition("-")
        if sep:
            try:
                numbers += [float(start), float(stop)]
            except ValueError:
                continue
    return numbers


#: Swift's launch, 2004-11-20 (UTC); no X-ray data is older.
_LAUNCH = "2004-11-20"


def _outside_swift_lifetime(numbers):
    """A problem string if MET seconds fall before Swift's launch or after now, else None.

    The hint says which unit the numbers look like (MJD, JD, Unix time), as
    plain numbers are read as MET and another unit is the usual mistake.
    """
    from astropy.time import Time

    from .times import time_to_met
    launch = float(time_to_met(Time(_LAUNCH)))
    now = float(time_to_met(Time.now()))
    bad = [x for x in numbers if x < launch or x > now]
    if not bad:
        return None
    first = bad[0]
    shown = ", ".join(f"{x:.10g}" for x in bad[:4]) + (", ..." if len(bad) > 4 else "")
    if 4e4 <= first <= 1e5:
        hint = f"these look like MJDs: pass Time({first:.10g}, format='mjd')"
    elif 4e4 <= first / 86400.0 <= 1e5:
        # A Quantity in days was turned into seconds on the way: an MJD typed as 57082 * u.d.
        hint = (f"these look like MJDs given in days ({first / 86400.0:.10g} d): pass "
                f"Time({first / 86400.0:.10g}, format='mjd')")
    elif 2.4e6 <= first <= 2.5e6:
        hint = f"these look like JDs: pass Time({first:.10g}, format='jd')"
    elif 1e9 <= first <= 3e9:
        hint = f"these look like Unix times: pass Time({first:.10g}, format='unix')"
    elif first < launch:
        hint = ("pass astropy Times (e.g. Time('2020-04-16T20:04:00')); for seconds since T0 set t0 and "
                "since_t0=True")
    else:
        hint = "pass astropy Times, or Swift MET seconds (counted from 2001-01-01)"
    when = "before Swift's launch (2004-11-20, MET {:.0f})".format(launch) if first < launch else \
        f"after now (MET {now:.0f})"
    return (f"{shown} (plain numbers are Swift MET seconds) is {when}, outside Swift's lifetime; "
            f"{hint}")


def _section(data, key, problems, *, allow_true=False):
    """The dict under ``data[key]`` of a saved request; anything else is a problem, not a crash.

    ``allow_true``: a product saved as plain ``True`` (requested with its defaults).
    """
    value = data.get(key)
    if value is None or (allow_true and value is True):
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: expected a mapping of parameter names to values, got "
                        f"{type(value).__name__}")
        return {}
    return value


class ProductRequest:
    """A request for XRT products of one source.

    Parameters
    ----------
    target : `~astropy.coordinates.SkyCoord` or str, optional
        The source. A SkyCoord (any frame) gives ``ra``/``dec`` in ICRS
        decimal degrees, and, when ``name`` is not given, a name of the form
        ``J222247.6-073104`` (see `coord_name`). A string is the object name;
        the position must then come from ``ra``/``dec``, ``position=`` or
        ``get_coords=True`` (the service resolves the name).
    name : str, optional
        Object name (cosmetic unless ``get_coords`` is set).
    lightcurve, spectrum, standard_position, enhanced_position, astrometric_position, image, \
source_detection : bool or dict, optional
        True to request a product with default parameters, or a dict of its
        parameters (friendly, UKSSDC or wire names; ``time_range=`` sets
        ``use_obs`` from time ranges). The position products' parameters are
        shared by the three positions (protocol.md §3.6).
    **global_params
        Global parameters by friendly, UKSSDC or wire name (``pos_err``,
        ``posErr`` or ``poserr``), plus ``position=`` (a SkyCoord).

    Notes
    -----
    Values are stored in the wire unit: Quantities are converted (energies to
    keV, ``pos_err`` to arcmin, ``pos_radius`` to arcsec, source radii to
    pixels at 2.357 arcsec/pixel, bin times to s, hours to h, rates to
    ct/s), `~astropy.time.Time` becomes Swift MET, time ranges and obsID
    lists become the service's syntax. Plain numbers are taken in the wire
    unit. Setting a parameter applies the service's automatic dependent
    settings (e.g. ``use_obs`` sets ``which_data='user'``, ``t0`` sets
    ``get_t0=False``).

    Raises
    ------
    InvalidRequestError
        Listing every bad name or value given.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.coordinates import SkyCoord
    >>> req = ProductRequest(SkyCoord(335.6985, -7.5179, unit="deg"), name="GRB 200416A",
    ...                      get_targs=True, centroid=True, pos_err=1 * u.arcmin, use_sxps=False,
    ...                      lightcurve={"binning": "counts", "pc_counts": 20, "wt_counts": 30,
    ...                                  "dynamic": True})
    >>> req.to_wire()["pccounts"]
    20
    """

    def __init__(self, target=None, *, name=None, lightcurve=None, spectrum=None, standard_position=None,
                 enhanced_position=None, astrometric_position=None, image=None, source_detection=None,
                 **global_params):
        self._globals = {}
        self._products = {}
        self._typed = {}
        ops = []
        problems = []
        if isinstance(target, SkyCoord):
            if name is None:
                name = coord_name(target)
            ops.append((None, "name", name))
            ops.append((None, "position", target))
        elif isinstance(target, str):
            if name is not None and name != target:
                problems.append(f"target {target!r} and name {name!r} disagree: give only one")
            ops.append((None, "name", target))
        elif target is not None:
            problems.append(f"target: {target!r} is neither a SkyCoord nor a name")
        elif name is not None:
            ops.append((None, "name", name))
        ops.extend((None, k, v) for k, v in global_params.items())
        given = dict(lightcurve=lightcurve, spectrum=spectrum, standard_position=standard_position,
                     enhanced_position=enhanced_position, astrometric_position=astrometric_position,
                     image=image, source_detection=source_detection)
        for key, spec in given.items():
            if spec is None or spec is False:
                continue
            if spec is True:
                ops.append(("+", key, {}))
            elif isinstance(spec, dict):
                ops.append(("+", key, spec))
            else:
                problems.append(f"{key}: {spec!r} is not valid; give True or a dict of its parameters")
        self._apply(ops, problems)

    # ------------------------------------------------------------------------------ setting

    def _apply(self, ops, problems=None):
        """Apply (scope, typed name, value) operations atomically, raising all problems at once."""
        problems = list(problems or [])
        saved = self._state()
        for scope, typed, value in ops:
            if scope == "+":
                self._add(typed, value, problems)
            else:
                self._set_one(scope, typed, value, problems)
        if problems:
            self._globals, self._products, self._typed = saved
            raise InvalidRequestError(problems, header="The request parameters are not valid:")

    def _state(self):
        return (_copy.deepcopy(self._globals), _copy.deepcopy(self._products), dict(self._typed))

    def _add(self, spelling, spec, problems):
        try:
            prod = P.product(spelling)
        except InvalidRequestError as exc:
            problems.extend(exc.problems)
            return
        if prod.key not in self._products:
            self._products[prod.key] = {}
            for p in P.params_for(prod.key):
                if not p.is_global and p.preset is not P.UNSET:
                    self._products[prod.key][p.name] = p.preset
        for typed, value in spec.items():
            self._set_one(prod.key, typed, value, problems)

    def _t0_context(self):
        if self._globals.get("since_t0") and "t0" in self._globals:
            return self._globals["t0"]
        return None

    def _set_one(self, scope, typed, value, problems):
        if scope is None and isinstance(typed, str) and typed.lower() in _POSITION_KEYS:
            if not isinstance(value, SkyCoord) or not value.isscalar:
                problems.append(f"{typed}: {value!r} is not one SkyCoord position")
                return
            icrs = value.icrs
            self._set_one(None, "ra", float(icrs.ra.deg), problems)
            self._set_one(None, "dec", float(icrs.dec.deg), problems)
            return
        is_range = scope is not None and typed == "time_range"
        try:
            p = P.lookup("use_obs" if is_range else typed, scope)
        except InvalidRequestError as exc:
            if scope is None and isinstance(typed, str):
                owners = [q.product for q in P.PARAMS if not q.is_global and typed in q.spellings()]
                if owners:
                    problems.append(f"{typed!r} is a parameter of {' and '.join(dict.fromkeys(owners))}: "
                                    f"give it in that product's dict, e.g. {owners[0]}={{{typed!r}: ...}}")
                    return
            problems.extend(exc.problems)
            return
        if scope is None and not p.is_global:
            problems.append(f"{typed!r} is a {p.product} parameter: give it in that product's dict, "
                            f"e.g. {p.product}={{{typed!r}: ...}}")
            return
        if p.is_global and scope is not None and p.shared_name is None:
            problems.append(f"{scope}: {typed!r} is a global parameter; give it to the request itself")
            return
        if value is None:
            self._unset(p)
            return
        try:
            if is_range:
                label = f"{scope} 'time_range'"
                if isinstance(value, str):
                    stored = p.coerce(value, typed="time_range", t0=self._t0_context())
                else:
                    stored = format_time_ranges(value, name=label, t0=self._t0_context())
            else:
                stored = p.coerce(value, typed=typed, t0=self._t0_context())
        except InvalidRequestError as exc:
            problems.extend(exc.problems)
            return
        self._store(p, stored)
        self._typed[(p.product, p.name)] = f"{scope}.{typed}" if scope and p.is_global else typed
        self._trigger(p, stored)

    def _scope_dict(self, p):
        return self._globals if p.is_global else self._products.setdefault(p.product, {})

    def _store(self, p, value):
        self._scope_dict(p)[p.name] = value

    def _unset(self, p):
        scope = self._scope_dict(p)
        if p.name in scope:
            del scope[p.name]
            self._typed.pop((p.product, p.name), None)
            self._trigger(p, P.REMOVED)

    def _trigger(self, p, value, depth=0):
        """Apply the automatic dependent settings of protocol.md §3.9 (data in `Param.implies`)."""
        for trig in p.implies:
            if trig.when is P.REMOVED:
                hit = value is P.REMOVED
            elif value is P.REMOVED:
                hit = False
            else:
                hit = trig.when is P.ANY or (type(value) is type(trig.when) and value == trig.when)
            if not hit or depth > 5:
                continue
            target = P._BY_SCOPE[p.product][trig.target]
            if trig.value is P.REMOVED:
                self._unset(target)
            else:
                self._store(target, trig.value)
                self._trigger(target, trig.value, depth + 1)

    def set(self, **global_params):
        """Set global parameters (friendly, UKSSDC or wire names; ``position=`` a SkyCoord).

        A value of None removes the parameter. Nothing is changed if any value is invalid.

        Returns
        -------
        self
        """
        self._apply([(None, k, v) for k, v in global_params.items()])
        return self

    def update(self, *, products=None, **global_params):
        """Set globals and add or update products in one step, all problems reported at once.

        Parameters
        ----------
        products : dict, optional
            Product (any spelling) -> dict of its parameters (empty: its defaults).
        **global_params
            As in `set`.

        Returns
        -------
        self
        """
        ops = [(None, k, v) for k, v in global_params.items()]
        ops.extend(("+", key, dict(spec)) for key, spec in (products or {}).items())
        self._apply(ops)
        return self

    def unset(self, *names, product=None):
        """Remove parameters (globals, or of ``product``), applying dependent settings.

        Returns
        -------
        self
        """
        problems = []
        for name in names:
            self._set_one(None if product is None else P.product(product).key, name, None, problems)
        if problems:
            raise InvalidRequestError(problems)
        return self

    def add_product(self, key, **params):
        """Request a product (any spelling of its name), or update its parameters.

        Returns
        -------
        self
        """
        self._apply([("+", key, params)])
        return self

    def remove_product(self, key):
        """Stop requesting a product; its own parameters are forgotten (shared
        position globals stay).

        Returns
        -------
        self
        """
        prod = P.product(key)
        if prod.key not in self._products:
            raise InvalidRequestError(f"remove_product: {prod.key} is not requested; requested: "
                                      f"{', '.join(self.products) or 'none'}")
        del self._products[prod.key]
        for k in [k for k in self._typed if k[0] == prod.key]:
            del self._typed[k]
        return self

    # ------------------------------------------------------------------------------ views

    @property
    def products(self):
        """Keys of the requested products, in catalogue order (tuple of str)."""
        return tuple(k for k in P.PRODUCTS if k in self._products)

    @property
    def product_codes(self):
        """Short codes of the requested products (``lc``, ``spec``, ``psf``, ...)."""
        return tuple(P.PRODUCTS[k].code for k in self.products)

    def params(self, product=None):
        """A read-only view of what is set, under friendly names, in wire units.

        Parameters
        ----------
        product : str, optional
            Any spelling of a requested product: its parameters (for position
            products, the shared globals under their product-level names and
            its own). Without it: the globals.
        """
        if product is None:
            return MappingProxyType(dict(self._globals))
        key = P.product(product).key
        if key not in self._products:
            raise InvalidRequestError(f"params: {key} is not requested; requested: "
                                      f"{', '.join(self.products) or 'none'}")
        out = {}
        if P.PRODUCTS[key].position:
            out.update((p.shared_name, self._globals[p.name]) for p in P.params_for(None)
                       if p.shared_name and p.name in self._globals)
        out.update(self._products[key])
        return MappingProxyType(out)

    def __getitem__(self, name):
        """A global's value by any of its names (KeyError if unset)."""
        return self._globals[P.lookup(name).name]

    # ------------------------------------------------------------------------------ validation

    def _typed_name(self, p):
        return self._typed.get((p.product, p.name), p.name)

    def _value_or_default(self, p):
        scope = self._globals if p.is_global else self._products.get(p.product, {})
        return scope.get(p.name, None if p.default is P.UNSET else p.default)

    def problems(self):
        """Everything that stops this request from being submitted, as a list of str (empty if valid).

        Reproduces the reference client's checks (protocol.md §3.10) and adds
        the service's known rules (time binning needs bin times, user time
        slices need rname/gti pairs, band edges inside the energy range, ...).
        """
        out = []
        if not self._products:
            out.append("No products have been requested (give lightcurve=, spectrum=, standard_position=, "
                       "enhanced_position=, astrometric_position=, image= or source_detection=)")
        only_det = self.products == ("source_detection",)
        for p in P.params_for(None):
            if not p.mandatory or p.name in self._globals:
                continue
            if only_det and p.name in ("ra", "dec", "centroid", "use_sxps"):
                continue  # protocol.md §3.8: source detection alone needs no position
            if p.alternative and p.alternative in self._globals:
                continue
            alt = (f", and nor is the alternative {_names(P._BY_SCOPE[None][p.alternative])}"
                   if p.alternative else "")
            how = (" (give a SkyCoord target, position=, ra=/dec=, or get_coords=True)"
                   if p.name in ("ra", "dec") else "")
            hint = "" if how else f" ({P.value_hint(p)})"
            out.append(f"global parameter {_names(p)} is not set{alt}{how}{hint}")
        out.extend(self._rule_problems(None, self._globals))
        for key in self.products:
            values = self._products[key]
            for p in P.params_for(key):
                if p.is_global:
                    continue
                if p.mandatory and p.name not in values:
                    out.append(f"{key}: parameter {_names(p)} is not set ({P.value_hint(p)})")
            out.extend(self._rule_problems(key, values))
        # Bounds that come from other parameters (band edges inside [minen, maxen]).
        for key in self.products:
            values = self._products[key]
            for p in P.params_for(key):
                if p.is_global or p.name not in values or not p.bounds:
                    continue
                if any(isinstance(b, str) for b in p.bounds):
                    def resolve(name, key=key):
                        return self._value_or_default(P._BY_SCOPE[key][name])
                    bad = p.check_bounds(values[p.name], typed=self._typed_name(p), resolve=resolve)
                    if bad:
                        out.append(bad)
        out.extend(self._shared_wire_problems())
        out.extend(self._time_problems())
        for key, lo_name, hi_name in P.ORDERED_PAIRS:
            values = self._products.get(key, {})
            if lo_name not in values and hi_name not in values:
                continue
            lo_p, hi_p = P._BY_SCOPE[key][lo_name], P._BY_SCOPE[key][hi_name]
            lo, hi = self._value_or_default(lo_p), self._value_or_default(hi_p)
            if lo is not None and hi is not None and lo >= hi:
                unit = f" {lo_p.unit.to_string()}" if lo_p.unit is not None else ""
                out.append(f"{key}: {self._typed_name(lo_p)} ({lo}{unit}) must be below "
                           f"{self._typed_name(hi_p)} ({hi}{unit})")
        return out

    def _time_problems(self):
        """Times outside Swift's lifetime: plain numbers in the wrong unit (MJD, JD, Unix) caught here."""
        out = []
        relative = bool(self._globals.get("since_t0"))
        checks = []
        if "t0" in self._globals:
            checks.append(("", self._typed_name(P._BY_SCOPE[None]["t0"]), [self._globals["t0"]]))
        if not relative:  # with since_t0 the ranges are seconds since T0, any size
            scopes = [(None, self._globals)] + [(k, self._products[k]) for k in self.products]
            for key, values in scopes:
                for name, value in values.items():
                    p = P._BY_SCOPE[key][name]
                    if p.kind in ("obslist", "timeranges") and isinstance(value, str):
                        numbers = _range_numbers(value)
                        if numbers:
                            checks.append((f"{key}: " if key else "", self._typed_name(p), numbers))
        for where, typed, numbers in checks:
            problem = _outside_swift_lifetime(numbers)
            if problem:
                out.append(f"{where}{typed}: {problem}")
        return out

    def _shared_wire_problems(self):
        """Two products setting different values under one wire key (``srcrad``): only one can be sent."""
        out = []
        seen = {}
        for key in self.products:
            for name, value in self._products[key].items():
                p = P._BY_SCOPE[key][name]
                if p.wire in seen and seen[p.wire][2] != value:
                    other, other_name, other_value = seen[p.wire]
                    out.append(f"{other} {other_name}={other_value!r} and {key} {name}={value!r} disagree: "
                               f"the service takes one {p.wire!r} for both; give the same value or set "
                               "it in one product only")
                seen.setdefault(p.wire, (key, name, value))
        return out

    def _rule_problems(self, key, values):
        out = []
        where = f"{key}: " if key else ""
        for p in (P.params_for(None) if key is None else P.params_for(key)):
            if (p.is_global) != (key is None) or p.name not in values:
                continue
            value = values[p.name]
            for rule in p.requires:
                if not (type(value) is type(rule.when) and value == rule.when):
                    continue
                scope = values
                missing = [n for n in rule.names if n not in scope]
                if rule.mode == "pair":
                    pairs = list(zip(rule.names[::2], rule.names[1::2]))
                    if any(a in scope and b in scope for a, b in pairs):
                        continue
                    out.append(f"{where}{self._typed_name(p)}={value!r} needs at least one complete "
                               f"pair of {', '.join(f'{a}/{b}' for a, b in pairs)}")
                    continue
                for n in missing:
                    q = P._BY_SCOPE[p.product][n]
                    out.append(f"{where}{self._typed_name(p)}={value!r} needs {_names(q)}, which is not set "
                               f"({P.value_hint(q)})")
        return out

    def validate(self):
        """Raise `~xrtprods_astro.InvalidRequestError` listing every problem, if any.

        Returns
        -------
        self
        """
        found = self.problems()
        if found:
            raise InvalidRequestError(found, header="The request is not ready to submit:")
        return self

    @property
    def is_valid(self):
        """True if `problems` finds nothing."""
        return not self.problems()

    # ------------------------------------------------------------------------------ wire

    def to_wire(self, validate=True):
        """The request in the service's wire encoding (protocol.md §3.1), without the envelope.

        Globals first (in the order set), then for each requested product (in
        catalogue order) its flag set to 1 followed by its parameters; bools
        as 1/0; ``models`` as a list; a key shared by two products
        (``srcrad``) appears once (two different values are refused by
        `problems`).

        Parameters
        ----------
        validate : bool
            Run `validate` first (default).

        Returns
        -------
        dict
        """
        if validate:
            self.validate()
        wire = {}
        for name, value in self._globals.items():
            p = P._BY_SCOPE[None][name]
            wire[p.wire] = p.encode(value)
        for key in self.products:
            wire[P.PRODUCTS[key].flag] = 1
            for name, value in self._products[key].items():
                p = P._BY_SCOPE[key][name]
                wire[p.wire] = p.encode(value)
        return wire

    @classmethod
    def from_job_pars(cls, job_pars, *, keep_defaults=True):
        """Rebuild a request from the ``jobPars`` the service echoes (protocol.md §3.11).

        Tolerant of what servers send: product flags 1, ``"1"`` or true;
        numbers as strings; bools as 1/0, ``"yes"``, true; unknown internal
        keys (``outdir``, ``whatSXPS``, ...) and parameters of products not
        requested are ignored; a value that cannot be read is skipped with a
        log message, never an exception. Where the service derived a value
        (``targ``, ``RA``/``Dec``, ``Tstart``), the matching ``get_targs``,
        ``get_coords`` or ``get_t0`` is set False, so that resubmitting runs
        the same job.

        Parameters
        ----------
        job_pars : dict
            The ``jobPars`` object (wire names).
        keep_defaults : bool
            If False, drop values equal to the documented server default
            (except mandatory parameters): a shorter request with the same effect.

        Returns
        -------
        ProductRequest
        """
        if not isinstance(job_pars, dict):
            raise InvalidRequestError(f"job_pars: expected a dict, got {type(job_pars).__name__}")
        req = cls()
        dropped = {}
        for key, prod in P.PRODUCTS.items():
            if _flag_on(job_pars.get(prod.flag)):
                req._products[key] = {}
        for wire, value in job_pars.items():
            records = P.wire_records(wire)
            if not records:
                if wire not in {p.flag for p in P.PRODUCTS.values()}:
                    log.debug("jobPars: ignoring unknown key %r", wire)
                continue
            for p in records:
                if not p.is_global and p.product not in req._products:
                    continue
                if value is None or (isinstance(value, str) and not value.strip() and p.kind != "bool"):
                    continue
                try:
                    stored = p.decode(value)
                except (ValueError, TypeError, InvalidRequestError) as exc:
                    log.warning("jobPars: cannot read %s=%r as %s (%s); ignored", wire, value, p.qualname,
                                exc)
                    continue
                if not keep_defaults and not p.mandatory and _is_default(p, stored):
                    dropped[(p.product, p.name)] = stored
                    continue
                req._store(p, stored)
        # A dropped default that a set parameter implies (t0 -> get_t0=False, ...) is
        # kept: the request then reads as it would have been built by hand.
        for p in P.PARAMS:
            scope = req._globals if p.is_global else req._products.get(p.product)
            if scope is None or p.name not in scope:
                continue
            for trig in p.implies:
                key = (p.product, trig.target)
                if (trig.when is P.ANY or trig.when == scope[p.name]) and key in dropped \
                        and dropped[key] == trig.value:
                    req._store(P._BY_SCOPE[p.product][trig.target], dropped.pop(key))
        g = req._globals
        for flag, needs in (("get_targs", ("targ",)), ("get_coords", ("ra", "dec")), ("get_t0", ("t0",))):
            if g.get(flag) and all(n in g for n in needs):
                g[flag] = False
        return req

    # ------------------------------------------------------------------------------ JSON

    def to_dict(self):
        """A JSON-ready dict: ``{"format", "version", "globals", "products"}``."""
        return {"format": _FORMAT, "version": _VERSION, "globals": _copy.deepcopy(self._globals),
                "products": _copy.deepcopy({k: self._products[k] for k in self.products})}

    def to_json(self, indent=2):
        """The request as JSON text (friendly names, wire units); see `from_json`."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text_or_dict):
        """Rebuild a request saved by `to_json` (text or the decoded dict).

        Values are re-checked against the catalogue; dependent settings are
        not re-applied, so the round trip is exact.
        """
        data = text_or_dict
        if isinstance(text_or_dict, (str, bytes)):
            try:
                data = json.loads(text_or_dict)
            except json.JSONDecodeError as exc:
                raise InvalidRequestError(f"from_json: not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise InvalidRequestError(f"from_json: not a saved ProductRequest (expected "
                                      f"\"format\": \"{_FORMAT}\")")
        if data.get("version") != _VERSION:
            raise InvalidRequestError(f"from_json: version {data.get('version')!r} is not supported "
                                      f"(this package reads version {_VERSION})")
        req = cls()
        problems = []
        for name, value in _section(data, "globals", problems).items():
            req._load_one(None, name, value, problems)
        for key, values in _section(data, "products", problems).items():
            try:
                key = P.product(key).key
            except InvalidRequestError as exc:
                problems.extend(exc.problems)
                continue
            req._products[key] = {}
            for name, value in _section({key: values}, key, problems, allow_true=True).items():
                req._load_one(key, name, value, problems)
        if problems:
            raise InvalidRequestError(problems, header="The saved request is not valid:")
        return req

    def _load_one(self, scope, name, value, problems):
        try:
            p = P._BY_SCOPE[scope][name]
        except KeyError:
            problems.append(f"{scope + ': ' if scope else ''}{name!r} is not a parameter name "
                            "(saved requests use the friendly names)")
            return
        try:
            self._store(p, p.coerce(value, typed=name))
        except InvalidRequestError as exc:
            problems.extend(exc.problems)

    def save(self, path, overwrite=False):
        """Write the request as JSON to ``path``.

        Parameters
        ----------
        path : str or path-like
        overwrite : bool
            Replace an existing file (default False: raise FileExistsError).
        """
        from .fileio import write_text
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        # Atomic, and never through a link at ``path``; the file gets the umask's mode, as before.
        return write_text(path, self.to_json() + "\n", private=False, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Read a request written by `save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    # ------------------------------------------------------------------------------ dunders

    def copy(self):
        """An independent copy."""
        new = type(self)()
        new._globals, new._products, new._typed = self._state()
        return new

    def __eq__(self, other):
        if not isinstance(other, ProductRequest):
            return NotImplemented
        return self._globals == other._globals and self._products == other._products

    __hash__ = None

    def __repr__(self):
        parts = [f"{k}={v!r}" for k, v in self._globals.items()]
        for key in self.products:
            values = self._products[key]
            parts.append(f"{key}={values!r}" if values else f"{key}=True")
        return f"{type(self).__name__}({', '.join(parts)})"
