# Licensed under a 3-clause BSD style license - see LICENSE
"""
The one request builder under every front door, with the one default policy.

`build_request` turns a target (SkyCoord, name, table row or resolved
`~xrtprods_astro.targets.Target`), products and parameters in any spelling
into a validated `~xrtprods_astro.request.ProductRequest`. The Python API
(`~xrtprods_astro.core.XRTProductsClass.submit` and the ``get_*`` calls), the
``xrtprods submit`` command and `~xrtprods_astro.batch.BatchRun` all build
their requests here, so the same input gives the same wire payload whichever
door it came in by.

The default policy, applied only where the user set nothing:

* globals: ``centroid=True``, ``pos_err=1 arcmin`` (when centroiding),
  ``use_sxps=False`` and ``get_targs=True`` unless target IDs are given (the
  UKSSDC's own examples for a point source);
* a light curve without a binning: `DEFAULT_LIGHTCURVE`, the binning of the
  UKSSDC's GRB light curves (counts, dynamic, 20 PC / 30 WT counts per bin);
  ``binning="counts"`` without ``dynamic`` gets ``dynamic=True`` from there
  too (the counts per bin stay the user's choice: a missing one is an error
  that names UKSSDC's GRB values);
* source detection without ``which_data``/``use_obs``: `DEFAULT_SOURCE_DETECTION`
  (``which_data="all"``, as the light curve's server default; a long
  observation history may exceed UKSSDC's 12 h run-time limit: give
  ``use_obs`` or ``time_range`` to restrict it);
* a spectrum without ``has_redshift``: False (the catalogue's preset, shown in
  the request's repr).
"""
import logging

from astropy import units as u

from . import params as P
from .exceptions import InvalidRequestError
from .request import ProductRequest
from .targets import resolve_target
from .vocabulary import product_key

__all__ = ["build_request", "route_params", "normalise_products", "default_globals",
           "DEFAULT_LIGHTCURVE", "DEFAULT_SOURCE_DETECTION", "document_products"]

log = logging.getLogger("xrtprods_astro.builder")

#: Light-curve settings used when a light curve is asked for without a binning:
#: those of the UKSSDC's own GRB light curves (dynamic counts binning, 20 PC and
#: 30 WT counts per bin).
DEFAULT_LIGHTCURVE = {"binning": "counts", "pc_counts": 20, "wt_counts": 30, "dynamic": True}
#: Source-detection settings used when no data selection is given.
DEFAULT_SOURCE_DETECTION = {"which_data": "all"}


def default_globals(given):
    """The globals a request gets unless the user gave them.

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


def normalise_products(products, name="products"):
    """Products as ``{key: dict of parameters}`` from a dict, a list or a comma-separated string.

    ``True`` means the product with its defaults; False or None leave it out.
    """
    if products is None:
        return {}
    if isinstance(products, str):
        products = [p for p in products.split(",") if p.strip()]
    items = products.items() if isinstance(products, dict) else [(p, True) for p in products]
    out = {}
    for spelling, spec in items:
        if spec is False or spec is None:
            continue
        key = product_key(spelling, name=name)
        if spec is True:
            spec = {}
        elif not isinstance(spec, dict):
            raise InvalidRequestError(f"{name}: {spelling}: {spec!r} is not valid; give True or a dict "
                                      "of its parameters")
        out.setdefault(key, {}).update(spec)
    return out


def _names(spec, key):
    """Friendly names of the parameters in a product dict (unknown names are left to the request)."""
    names = set()
    for typed in spec:
        if typed == "time_range":
            names.add("use_obs")
            continue
        try:
            names.add(P.lookup(typed, key).name)
        except InvalidRequestError:
            pass  # ProductRequest reports it with the others
    return names


def _binning(spec, request):
    """The light-curve binning the user asked for (coerced), or None."""
    for typed, value in spec.items():
        try:
            p = P.lookup(typed, "lightcurve")
            if p.name == "binning" and value is not None:
                return p.coerce(value)
        except InvalidRequestError:
            return None  # ProductRequest reports it with the others
    if "lightcurve" in request.products:
        return request.params("lightcurve").get("binning")
    return None


def _with_product_defaults(products, request):
    """Product dicts with the default policy filled in where the user set nothing."""
    out = dict(products)
    spec = out.get("lightcurve")
    if spec is not None and _binning(spec, request) == "counts":
        # Counts binning needs dynamic (protocol.md §3.10), a yes/no few users think about: as in
        # UKSSDC's GRB light curves. The counts per bin are numbers the user chooses.
        have = _names(spec, "lightcurve") | (set(request.params("lightcurve"))
                                             if "lightcurve" in request.products else set())
        if "dynamic" not in have:
            out["lightcurve"] = {**spec, "dynamic": DEFAULT_LIGHTCURVE["dynamic"]}
    for key, defaults, decided_by in (("lightcurve", DEFAULT_LIGHTCURVE, {"binning"}),
                                      ("source_detection", DEFAULT_SOURCE_DETECTION,
                                       {"which_data", "use_obs"})):
        if key not in out and key not in request.products:
            continue
        spec = out.get(key, {})
        have = _names(spec, key) | (set(request.params(key)) if key in request.products else set())
        if decided_by & have:
            continue
        # Defaults first, so that the user's values (and the wire order) follow them.
        out[key] = {**{k: v for k, v in defaults.items() if k not in have}, **spec}
        if key == "source_detection":
            log.info("source_detection: no data selection given; using which_data='all' (give use_obs "
                     "or time_range to search fewer observations)")
    return out


def _global_names(params):
    names = {}
    for typed in params:
        try:
            names[P.lookup(typed).name] = typed
        except InvalidRequestError:
            pass  # ProductRequest reports it with the others
    return names


def build_request(target=None, *, name=None, resolver=None, products=None, params=None, base=None):
    """Build a validated request with the default policy of this module.

    Parameters
    ----------
    target : SkyCoord, str, Table row, one-row Table or `~xrtprods_astro.targets.Target`, optional
        The source (see `~xrtprods_astro.targets.resolve_target`).
    name : str, optional
        The object name (default: the target's).
    resolver : {"client", "service"}, optional
        Where a name target is resolved; default ``conf.name_resolver``.
    products : dict, list or str
        Product -> True or a dict of its parameters (any spelling).
    params : dict, optional
        Global parameters in any spelling.
    base : `~xrtprods_astro.request.ProductRequest`, optional
        A request to start from (copied); the given values are added to it.

    Returns
    -------
    request : `~xrtprods_astro.request.ProductRequest`
    meta : dict
        How the target was found (empty without a target).

    Raises
    ------
    InvalidRequestError
        Listing every problem at once.
    """
    request = ProductRequest() if base is None else base.copy()
    params = dict(params or {})
    given = _global_names(params)
    have = {**request.params(), **given}
    meta = {}
    target_globals = {}
    if target is None and name is None and base is None:
        raise InvalidRequestError("target: no target given (a SkyCoord, a name or a table row)")
    if target is not None:
        found = resolve_target(target, name=name, resolver=resolver)
        meta = dict(found.meta)
        if found.get_coords and {"ra", "dec"} & set(given):
            raise InvalidRequestError("ra/dec: not allowed with resolver='service' (the service "
                                      "resolves the name); give a SkyCoord target instead")
        target_globals = {"name": found.name}
        if found.coord is not None:
            target_globals["position"] = found.coord
        else:
            target_globals["get_coords"] = True
    elif name is not None:
        target_globals = {"name": name}
    defaults = {k: v for k, v in default_globals(have).items() if k not in request.params()}
    products = _with_product_defaults(normalise_products(products), request)
    # Later values win: the user's parameters override the target's and the defaults.
    request.update(products=products, **{**target_globals, **defaults, **params})
    return request, meta


def route_params(products, params):
    """Sort flat parameters between the products' dicts and the globals.

    Parameters
    ----------
    products : list of str
        Product keys asked for.
    params : dict
        Parameters in any spelling, of those products or global.

    Returns
    -------
    tuple
        ``(product dicts, globals)``.

    Raises
    ------
    InvalidRequestError
        With every parameter that belongs to no requested product.
    """
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


#: The client's own defaults, shown in the docstrings instead of the server's.
_DOC_DEFAULTS = {
    "lightcurve": {k: (v, "as UKSSDC's GRB light curves, when no binning is given")
                   for k, v in DEFAULT_LIGHTCURVE.items()},
    "source_detection": {"which_data": ("all", "when neither which_data nor use_obs is given")},
}
#: Method name -> the products whose parameters its docstring lists (None: the globals).
_DOC_PRODUCTS = {
    "get_lightcurve": ["lightcurve"], "get_spectrum": ["spectrum"], "get_image": ["image"],
    "get_position": ["standard_position", "enhanced_position", "astrometric_position"],
    "get_source_list": ["source_detection"], "submit": [None],
}
_GLOBAL_DOC_DEFAULTS = {"centroid": (True, "UKSSDC's own examples"),
                        "pos_err": (1, "arcmin, when centroiding"),
                        "use_sxps": (False, "UKSSDC's own examples"),
                        "get_targs": (True, "unless targ is given")}


def document_products(cls):
    """Add to the ``get_*`` and ``submit`` docstrings of ``cls`` the parameters they take.

    The "Other Parameters" sections are generated from the parameter
    catalogue (`xrtprods_astro.params.docstring_section`), as the
    documentation tables are, with the defaults of this module. Applied once,
    at import: a few milliseconds.

    Parameters
    ----------
    cls : type
        `~xrtprods_astro.core.XRTProductsClass`.

    Returns
    -------
    cls
    """
    for method, products in _DOC_PRODUCTS.items():
        func = getattr(cls, method, None)
        if func is None or not func.__doc__ or "Other Parameters" in func.__doc__:
            continue
        defaults = {}
        for key in products:
            defaults.update(_GLOBAL_DOC_DEFAULTS if key is None else _DOC_DEFAULTS.get(key, {}))
        func.__doc__ = func.__doc__.rstrip() + "\n\n" + P.docstring_section(products, defaults=defaults)
    return cls
