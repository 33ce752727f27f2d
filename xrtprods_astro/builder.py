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

Observations from a catalogue (`observation_list`: a Table with an obsID
column, a list of obsIDs or an LSXPS source) restrict every requested product
to them (``observations=``): their obsIDs become each product's ``use_obs``
with ``which_data="user"``, their target IDs the ``targ``, and, without a
target, their position the target.

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
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Row, Table

from . import params as P
from .exceptions import InvalidRequestError
from .request import ProductRequest, coord_name
from .targets import Target, resolve_target
from .vocabulary import product_key

__all__ = ["build_request", "route_params", "normalise_products", "default_globals",
           "DEFAULT_LIGHTCURVE", "DEFAULT_SOURCE_DETECTION", "document_products", "ObservationList",
           "observation_list", "OBSERVATION_SELECTIONS", "OBSID_COLUMNS", "OBS_POSITION_TOLERANCE"]

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


def build_request(target=None, *, name=None, resolver=None, products=None, params=None, base=None,
                  observations=None, which_observations=None):
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
    observations : Table, list of obsIDs, LSXPS source or `ObservationList`, optional
        Restrict every requested product to these observations (see
        `observation_list`): each product's ``use_obs`` (positions:
        ``pos_use_obs``) is set to them with ``which_data="user"``, ``targ``
        to their target IDs (unless ``targ`` or ``get_targs`` is given), and,
        without a ``target``, the target is the position they give.
    which_observations : {"all", "detected", "undetected"}, optional
        For an LSXPS source (or a table with a ``detected`` column): which of
        its observations (default all).

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
    obs = None
    if observations is not None:
        obs = observation_list(observations, which=which_observations)
        params = {**_observation_targets(obs, request, params, given), **params}
        given = _global_names(params)
        if target is None and base is None:
            if obs.coord is None:
                raise InvalidRequestError(f"target: the observations give no target position "
                                          f"({obs.no_position}); give target= (a SkyCoord, a name or "
                                          "a table row)")
            label = name or obs.name or coord_name(obs.coord)
            target = Target(name=label, coord=obs.coord,
                            meta={"target": label, "resolver": "observations", "observations": obs.origin})
    elif which_observations is not None:
        raise InvalidRequestError("which_observations: given without observations")
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
    products = normalise_products(products)
    if obs is not None:
        products = _apply_observations(obs, products, request, params, given)
    products = _with_product_defaults(products, request)
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


# ----------------------------------------------------------------------------- observations

#: Observations of an LSXPS source to use (``which_observations``): every one covering it, those
#: in which it was detected (blindly or retrospectively), those in which it was not.
OBSERVATION_SELECTIONS = ("all", "detected", "undetected")
# The official client's useObs spellings (swifttools.ukssdc.data.SXPS.getObsList), case-insensitive;
# "nonDet" is documented there but refused by its code (spec ukssdc-catalogues.md §7, bug 13).
_SELECTION_ALIASES = {"allcat": "all", "alldet": "detected", "nondet": "undetected"}
#: Column names of obsIDs in an observation table, in order of preference (any case).
OBSID_COLUMNS = ("obsid", "obs_id", "obsids", "observation_id", "observation")
#: How far the rows of an observation table may lie from their mean position for that mean to be
#: the request's target: the default centroiding radius (``pos_err``), within which the service
#: finds the source itself.
OBS_POSITION_TOLERANCE = 1 * u.arcmin


@dataclass(frozen=True)
class ObservationList:
    """The observations a request is restricted to, and the position they give.

    Made by `observation_list` from a Table, a list of obsIDs or an LSXPS
    source; `build_request` (and ``submit(observations=...)``) accept it as it
    is.

    Attributes
    ----------
    obsids : tuple of str
        11-digit obsIDs, in the order given, without repeats.
    coord : `~astropy.coordinates.SkyCoord` or None
        The target position they give (an LSXPS source's, or the one position
        of a table's rows), or None.
    name : str or None
        The object name they give (a table's one name), or None.
    origin : str
        Where they came from (``"table column obsid"``, ``"source (all
        observations)"``, ``"list"``).
    no_position : str or None
        Why they give no position, when ``coord`` is None.
    """

    obsids: tuple
    coord: SkyCoord = None
    name: str = None
    origin: str = "list"
    no_position: str = None

    @property
    def targets(self):
        """The Swift target IDs of the observations (their first 8 digits), in order."""
        return tuple(dict.fromkeys(o[:8] for o in self.obsids))

    def to_wire(self):
        """The comma-separated obsIDs sent as the products' ``useObs``."""
        return ",".join(self.obsids)

    def __len__(self):
        return len(self.obsids)


def _selection(which):
    if which is None:
        return None
    text = str(which).strip().lower()
    text = _SELECTION_ALIASES.get(text, text)
    if text not in OBSERVATION_SELECTIONS:
        raise InvalidRequestError(f"which_observations: {which!r} is not allowed; allowed: "
                                  f"{', '.join(map(repr, OBSERVATION_SELECTIONS))} (or the official "
                                  "client's 'allCat', 'allDet', 'nonDet')")
    return text


def _obs_column(table, column):
    cols = list(table.colnames)
    if column is not None:
        if column not in cols:
            raise InvalidRequestError(f"observations: no column {column!r} in the table; columns: "
                                      f"{', '.join(cols)}")
        return column
    lower = {c.lower(): c for c in cols}
    for candidate in OBSID_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    raise InvalidRequestError(f"observations: the table has no obsID column (looked for "
                              f"{', '.join(OBSID_COLUMNS)}, any case; it has {', '.join(cols)}); "
                              "give the column, e.g. observations=table['my_obsids']")


def _obsids(values, label):
    """11-digit obsID strings from strings or ints, every bad one named at once."""
    out, problems = [], []
    for i, value in enumerate(values):
        if isinstance(value, (bytes, np.bytes_)):
            value = value.decode("utf-8", "replace")
        if np.ma.is_masked(value) or (isinstance(value, str) and not value.strip()):
            problems.append(f"{label}: item {i} is empty (no obsID)")
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # a CSV reader's float column of obsIDs
        try:
            out.append(P._obsid(value, label))
        except InvalidRequestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidRequestError(problems, header="The observations are not valid:")
    return tuple(dict.fromkeys(out))


def _detected(table, which, where):
    """The rows of ``table`` that ``which`` selects by its ``detected`` column."""
    if which in (None, "all"):
        return table
    if "detected" not in table.colnames:
        raise InvalidRequestError(f"which_observations: {which!r} needs a 'detected' column in {where}; "
                                  f"it has {', '.join(table.colnames)}")
    flags = np.array([_flag(v, i) for i, v in enumerate(table["detected"])], dtype=bool)
    return table[flags if which == "detected" else ~flags]


_TRUE, _FALSE = ("true", "yes", "1", "y", "t"), ("false", "no", "0", "n", "f", "")


def _flag(value, row):
    """A ``detected`` cell as a bool: text from a CSV file is read as words ("False" is False)."""
    if np.ma.is_masked(value):
        raise InvalidRequestError(f"which_observations: row {row} has no 'detected' value")
    if isinstance(value, (bytes, np.bytes_)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in _TRUE + _FALSE:
            raise InvalidRequestError(f"which_observations: row {row} has detected={value!r}, not "
                                      "true or false")
        return text in _TRUE
    return bool(value)


def _table_position(table):
    """(the one position of a table's rows, position columns) or (None, why not)."""
    from .targets import _angle, find_columns
    try:
        columns = find_columns(table)
    except InvalidRequestError as exc:
        return None, exc.problems[0]
    if columns.coord is not None:
        coords = table[columns.coord].icrs
        used = columns.coord
    elif columns.ra is not None:
        try:
            coords = SkyCoord([_angle(row, columns.ra, True) for row in table],
                              [_angle(row, columns.dec, False) for row in table], frame="icrs")
        except InvalidRequestError as exc:
            return None, exc.problems[0]
        used = f"{columns.ra}/{columns.dec}"
    else:
        return None, "the table has no position columns"
    mean = SkyCoord(coords.cartesian.mean(), frame="icrs", representation_type="cartesian")
    mean = SkyCoord(mean.spherical.lon, mean.spherical.lat, frame="icrs")
    spread = coords.separation(mean).max()
    if spread > OBS_POSITION_TOLERANCE:
        return None, (f"the table's {used} lie up to {spread.to(u.arcmin):.2f} from their mean, more than "
                      f"{OBS_POSITION_TOLERANCE}: pointing positions, or several sources")
    if np.all(coords.separation(coords[0]) < 1e-3 * u.arcsec):
        mean = coords[0]  # one position, repeated: keep it exactly
    return mean, columns


def observation_list(observations, *, which=None, column=None):
    """The observations a product request is restricted to, read from what a catalogue gave.

    Parameters
    ----------
    observations : `~astropy.table.Table`, list of obsIDs, LSXPS source or `ObservationList`
        A Table with an obsID column (``obsid``, ``ObsID``, ``obs_id``...: 11-digit
        strings or ints), e.g. from ``XRTCatalogues.query_region(..., catalog="obs",
        table="swiftmastr")``, filtered first as you like (a pandas DataFrame, as
        the official client gives them, is read as a Table); a list (or Column) of
        obsIDs; or an LSXPS source, any object with ``coord`` (a SkyCoord) and
        ``observations`` (a Table with ``obsid`` and a boolean ``detected``
        column).
    which : {"all", "detected", "undetected"}, optional
        For a source, or a table with a ``detected`` column: every observation
        (default), those in which the source was detected, or those in which
        it was not. The official client's ``useObs`` spellings ``allCat``,
        ``allDet`` and ``nonDet`` are accepted.
    column : str, optional
        The table's obsID column, when its name is none of `OBSID_COLUMNS`.

    Returns
    -------
    `ObservationList`
        With the position of the source, or of the table's rows when they all
        lie within `OBS_POSITION_TOLERANCE` of their mean (else None: the
        request then needs a target).

    Raises
    ------
    InvalidRequestError
        If no observation is selected, an obsID is not 11 digits, or the
        selection or column cannot apply.
    """
    which = _selection(which)
    if isinstance(observations, ObservationList):
        if which is not None or column is not None:
            raise InvalidRequestError("which_observations: not allowed with a ready ObservationList")
        return observations
    if isinstance(observations, Row):
        observations = observations.table[[observations.index]]
    elif type(observations).__name__ == "DataFrame" and hasattr(observations, "columns"):
        # The official client's tables (swifttools.ukssdc gives pandas DataFrames).
        observations = Table.from_pandas(observations)
    coord = name = None
    why = "a list of obsIDs has no position"
    if hasattr(observations, "coord") and hasattr(observations, "observations"):
        source = observations
        coord = source.coord
        if not isinstance(coord, SkyCoord) or not coord.isscalar:
            raise InvalidRequestError(f"observations: the source's coord {coord!r} is not one SkyCoord")
        table = source.observations
        if not isinstance(table, Table):
            raise InvalidRequestError("observations: the source's observations are not a Table")
        label = getattr(source, "name", None)
        name = label if isinstance(label, str) and label.strip() else None
        rows = _detected(table, which, "the source's observations")
        obsids = _obsids(rows[_obs_column(rows, column)], "observations")
        origin = f"source ({which or 'all'} observations)"
        empty = f"the source has no {'' if which in (None, 'all') else which + ' '}observations"
    elif isinstance(observations, Table):
        rows = _detected(observations, which, "the table")
        col = _obs_column(rows, column)
        obsids = _obsids(rows[col], "observations")
        origin = f"table column {col}"
        empty = ("the table has no rows" if not len(observations)
                 else f"no row of the table is {which}")
        if obsids:
            coord, columns = _table_position(rows)
            if coord is not None and columns.name is not None:
                names = {str(v).strip() for v in rows[columns.name] if not np.ma.is_masked(v)} - {""}
                name = names.pop() if len(names) == 1 else None
            elif coord is None:
                why = columns
    elif isinstance(observations, (str, int, np.integer)):
        items = observations.split(",") if isinstance(observations, str) else [observations]
        if which not in (None, "all"):
            raise InvalidRequestError(f"which_observations: {which!r} needs a source or a table with a "
                                      "'detected' column, not a list of obsIDs")
        obsids = _obsids([i.strip() if isinstance(i, str) else i for i in items], "observations")
        origin, empty = "list", "the list is empty"
    else:
        try:
            items = list(observations)
        except TypeError:
            raise InvalidRequestError(
                f"observations: {observations!r} is not a Table, a list of obsIDs or an LSXPS source "
                "(an object with coord and observations)") from None
        if which not in (None, "all"):
            raise InvalidRequestError(f"which_observations: {which!r} needs a source or a table with a "
                                      "'detected' column, not a list of obsIDs")
        obsids = _obsids(items, "observations")
        origin, empty = "list", "the list is empty"
    if not obsids:
        raise InvalidRequestError(f"observations: no observation selected ({empty}); a request over no "
                                  "data would fail on the service")
    return ObservationList(obsids, coord, name, origin, None if coord is not None else why)


def _apply_observations(obs, products, request, params, given):
    """Products with every requested one restricted to ``obs``; refuses anything that contradicts it."""
    keys = list(dict.fromkeys(list(request.products) + list(products)))
    if not keys:
        raise InvalidRequestError("observations: no product asked for (lightcurve, spectrum, "
                                  "standard_position...), so no observation list to set")
    out = dict(products)
    problems = []
    value = obs.to_wire()
    for key in keys:
        if "use_obs" not in P._PRODUCT_INDEX[key]:
            problems.append(f"{key}: takes no observation list, so observations= cannot apply to it")
            continue
        spec = products.get(key, {})
        have = {}
        for typed, v in spec.items():
            try:
                have[P.lookup("use_obs" if typed == "time_range" else typed, key).name] = (typed, v)
            except InvalidRequestError:
                pass  # ProductRequest reports it with the others
        earlier = dict(request.params(key)) if key in request.products else {}
        position = P.PRODUCTS[key].position
        use, which = ("pos_use_obs", "pos_which_data") if position else ("use_obs", "which_data")
        if position:
            for name in (use, which):
                if name in given:
                    have.setdefault(name, (given[name], params[given[name]]))
            earlier = {("pos_" + k if k in ("use_obs", "which_data") else k): v for k, v in earlier.items()}
        if use in have or use in earlier:
            typed = have[use][0] if use in have else "use_obs (in the request given)"
            problems.append(f"{key}: the observations are given twice, in observations= and in {typed}; "
                            "give one")
        if which in have:
            typed, v = have[which]
            if str(v).strip().lower() != "user":
                problems.append(f"{key}: {typed}={v!r} contradicts observations=, which selects "
                                "which_data='user'; leave it out")
        if "use_all_obs" in have or earlier.get("use_all_obs"):
            # The astrometric position's own switch: the service then ignores the observation list.
            typed, flag = have.get("use_all_obs", ("use_all_obs", True))
            try:
                on = P.lookup("use_all_obs", key).coerce(flag, typed=typed)
            except InvalidRequestError:
                on = False  # ProductRequest reports it with the others
            if on:
                problems.append(f"{key}: {typed}=True uses every observation, not the list in "
                                "observations=; leave one out")
        if not problems:
            out[key] = {**spec, "which_data": "user", "use_obs": value}
    if problems:
        raise InvalidRequestError(problems, header="The observations cannot be used as asked:")
    return out


def _observation_targets(obs, request, params, given):
    """The ``targ`` the observations need: their target IDs, unless the user chose targets."""
    if "get_targs" in given or "get_targs" in request.params():
        return {}
    if "targ" in given or "targ" in request.params():
        value = params[given["targ"]] if "targ" in given else request.params()["targ"]
        chosen = P.lookup("targ").coerce(value).split(",")
        missing = [o for o in obs.obsids if o[:8] not in chosen]
        if missing:
            raise InvalidRequestError(f"targ: {', '.join(chosen)} leaves out the targets of the observations "
                                      f"{', '.join(missing)} (the first 8 digits of an obsID are its "
                                      "target ID); add them, or leave targ out")
        return {}
    # As the official client's makeProductRequest: the observations' own targets, so that the service
    # looks in exactly those (getTargs might pick others by name or field of view, and miss these).
    return {"targ": ",".join(obs.targets)}
