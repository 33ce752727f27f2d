# Licensed under a 3-clause BSD style license - see LICENSE
"""
The parameter catalogue of the UKSSDC XRT product generator.

This module is the single source of truth about products and parameters: one
`Product` record per product and one `Param` record per parameter, holding the
friendly snake_case name used by this package, the name documented by UKSSDC
for its ``swifttools`` Python client (so users can follow the UKSSDC docs), the
key sent on the wire, the kind of value, its unit, the server default, the
allowed values, what it requires and what setting it implies. Validation, wire
encoding, jobPars decoding and the documentation tables all derive from these
records: adding a parameter is adding one record to `PARAMS`.

Decisions taken where the service's documentation is unclear (protocol.md §3):

* Max-gap: the documented UKSSDC names ``pcMaxGap``/``wtMaxGap`` are accepted
  (as are ``pcmaxGap``/``wtmaxGap``, which the reference client really sends),
  and the key documented by the server, ``pcmaxgap``/``wtmaxgap`` (the spelling
  jobPars echoes), is sent. Both spellings are read back from jobPars.
* Since-T0: the key ``SinceT0`` is sent, as the reference client does; jobPars
  may spell it ``sinceT0`` and both are read back.
* Closed sets are matched case-insensitively and sent in their canonical
  lower-case form for every parameter (the reference client lower-cases only
  product parameters; the values sent are the same for every valid input).
* ``delta_fit_stat`` is preset to 2.706 when a spectrum is added, as the
  reference client does, and ``has_redshift`` to False (no redshifted
  absorber unless asked for), so that ``spectrum=True`` is a complete request.
"""
import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from .exceptions import InvalidRequestError
from .vocabulary import PRODUCTS, Product, product, suggest  # noqa: F401 - re-exported
from .times import format_time_ranges, parse_time, to_met

__all__ = ["Product", "Param", "PRODUCTS", "PARAMS", "PLATE_SCALE", "FRAME_TIMES", "UNSET", "ANY", "REMOVED",
           "Rule", "Trigger", "ORDERED_PAIRS", "product", "lookup", "params_for",
           "user_name_for_wire", "translate_wire_names", "catalogue_table", "suggest", "value_hint",
           "docstring_section"]

#: XRT plate scale used to turn angular source-region radii into pixels.
PLATE_SCALE = 2.357 * u.arcsec / u.pix
#: XRT frame times (read-out resolution) per mode: no bin can be shorter than one frame. PC: the
#: ``TIMEDEL`` of the real UKSSDC PC spectrum in tests/data/real (2.5073 s); WT: 1.766 ms
#: (XRT User's Guide).
FRAME_TIMES = {"pc": 2.5073 * u.s, "wt": 1.766e-3 * u.s}


class _Sentinel:
    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return self._name


#: Marker for "no value" (e.g. no documented server default).
UNSET = _Sentinel("UNSET")
#: Condition that matches any value that is set.
ANY = _Sentinel("ANY")
#: Condition that matches the removal of a parameter.
REMOVED = _Sentinel("REMOVED")


_POSITIONS = tuple(k for k, p in PRODUCTS.items() if p.position)


# ----------------------------------------------------------------------------- parameter records

@dataclass(frozen=True)
class Rule:
    """A conditional requirement: when the owner has value ``when``, ``names`` must be set.

    ``mode="all"`` needs every name; ``mode="pair"`` needs at least one
    complete consecutive pair of names (e.g. ``rname1`` with ``gti1``).
    ``source`` says who enforces it: ``"client"`` (the reference client's
    checks, protocol.md §3.10) or ``"server"`` (rules the service applies).
    """

    when: object
    names: tuple
    mode: str = "all"
    source: str = "client"


@dataclass(frozen=True)
class Trigger:
    """An automatic dependent setting: when the owner is set to ``when``
    (or `ANY` value, or is `REMOVED`), set ``target`` to ``value`` in the same
    scope, or drop it when ``value`` is `REMOVED` (protocol.md §3.9)."""

    when: object
    target: str
    value: object


@dataclass(frozen=True)
class Param:
    """One parameter of the XRT product generator.

    Attributes
    ----------
    name : str
        Friendly snake_case name used by this package.
    product : str or None
        Key of the product it belongs to, or None for globals.
    ukssdc : str
        Name documented by UKSSDC for its Python client (``swifttools``).
    wire : str
        Key sent to and echoed by the service.
    kind : str
        ``bool``, ``int``, ``float``, ``degrees``, ``str``, ``choice``,
        ``models``, ``time``, ``timeranges``, ``obslist``, ``targets`` or
        ``energybands``.
    unit : `~astropy.units.Unit` or None
        Unit of the wire value; Quantities are converted to it, plain numbers
        are taken in it.
    default : object
        The server default (`UNSET` when there is none).
    allowed : tuple or None
        Closed set of allowed values.
    bounds : tuple or None
        ``(low, high)`` inclusive; either may be None, or another parameter's
        name whose value (or default) is the bound.
    mandatory : bool
        Needed whenever the owning product (or any product, for globals) is
        requested.
    requires : tuple of `Rule`
        Conditional requirements.
    implies : tuple of `Trigger`
        Automatic dependent settings.
    doc : str
        One-line description used in documentation tables.
    example : object
        A valid value in wire units (used by docs and by the catalogue tests).
    aliases : tuple of str
        Other accepted input spellings.
    wire_aliases : tuple of str
        Other wire keys read back from jobPars (and accepted as input).
    shared_name : str or None
        For shared position globals: the friendly name inside a position
        product's parameters (``which_data`` for ``pos_which_data``).
    shared_ukssdc : str or None
        The UKSSDC name inside a position product (``whichData``).
    preset : object
        Value set automatically when the owning product is added (`UNSET`: none).
    alternative : str or None
        For a mandatory global: another global whose presence (any value)
        stands in for it, e.g. ``get_coords`` for ``ra``.
    frame : str or None
        ``"pc"`` or ``"wt"`` for bin lengths, which cannot be shorter than
        that mode's frame time (`FRAME_TIMES`).
    likely : tuple
        ``(value, why)``: the choice most users want when they must set it,
        named in "is not set" messages (empty: none).
    filled : object
        A value the service puts in a job's jobPars when the request leaves the
        parameter out, where no default is documented (`UNSET`: none known).
        Request identity (`~xrtprods_astro.transport.job_pars_match`) takes it
        as "not set"; validation and the docs ignore it.
    """

    name: str
    product: object
    ukssdc: str
    wire: str
    kind: str
    unit: object = None
    default: object = UNSET
    allowed: object = None
    bounds: object = None
    mandatory: bool = False
    requires: tuple = ()
    implies: tuple = ()
    doc: str = ""
    example: object = UNSET
    aliases: tuple = ()
    wire_aliases: tuple = ()
    shared_name: object = None
    shared_ukssdc: object = None
    preset: object = UNSET
    alternative: object = None
    frame: object = None
    likely: tuple = ()
    filled: object = UNSET

    @property
    def qualname(self):
        """``product.name`` for product parameters, ``name`` for globals."""
        return f"{self.product}.{self.name}" if self.product else self.name

    @property
    def is_global(self):
        return self.product is None

    def spellings(self):
        """Every accepted spelling of this parameter (friendly, UKSSDC, wire, aliases)."""
        out = [self.name, self.ukssdc, self.wire, *self.aliases, *self.wire_aliases]
        return tuple(dict.fromkeys(out))

    # -- value handling -------------------------------------------------------------------

    def coerce(self, value, *, typed=None, t0=None):
        """Convert a user value to the stored form (plain value in the wire unit).

        Parameters
        ----------
        value : object
            What the user gave: plain values in the wire unit, Quantities,
            `~astropy.time.Time`, lists, ...
        typed : str, optional
            The name as the user typed it, for error messages.
        t0 : float, optional
            MET of T0, used when ``since_t0`` asks for times relative to it.

        Returns
        -------
        object
            A bool, int, float, str or list of str.

        Raises
        ------
        InvalidRequestError
            With one problem naming the parameter and what is allowed.
        """
        label = _label(self, typed)
        try:
            out = _COERCERS[self.kind](self, value, label, t0)
        except InvalidRequestError:
            raise
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"{label}: {value!r} is not valid ({exc})") from None
        problem = self.check_bounds(out, typed=typed) or self.check_frame(out, value, typed=typed)
        if problem:
            raise InvalidRequestError(problem)
        return out

    def check_frame(self, value, given=None, *, typed=None):
        """Return a problem string if a bin length is shorter than its mode's frame time, else None.

        ``given`` is what the user typed, quoted in the message when it differs.
        """
        if self.frame is None or not _is_number(value):
            return None
        frame = FRAME_TIMES[self.frame].to_value(self.unit)
        if value >= frame:
            return None
        shown = f"{_num(value)} {self.unit.to_string()}"
        if given is not None and not _is_number(given):
            shown += f" (given as {given})"
        return (f"{_label(self, typed)} is {shown}, shorter than the {self.frame.upper()} frame time "
                f"({_num(frame)} {self.unit.to_string()}): no bin can be shorter than one frame. Plain "
                f"numbers are in {self.unit.to_string()}; Quantities such as 1*u.day or 500*u.s are "
                "accepted")

    def check_bounds(self, value, *, typed=None, resolve=None):
        """Return a problem string if ``value`` is outside the numeric bounds, else None.

        ``resolve(name)`` gives the value of a bound named by another parameter;
        without it such bounds are not checked.
        """
        if self.bounds is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        low, high = self.bounds
        if isinstance(low, str):
            low = resolve(low) if resolve else None
        if isinstance(high, str):
            high = resolve(high) if resolve else None
        if (low is not None and value < low) or (high is not None and value > high):
            unit = f" {self.unit.to_string()}" if self.unit is not None else ""
            if low is not None and high is not None:
                rng = f"between {_num(low)} and {_num(high)}{unit}"
            elif low is not None:
                rng = f"at least {_num(low)}{unit}"
            else:
                rng = f"at most {_num(high)}{unit}"
            names = [b for b in self.bounds if isinstance(b, str)]
            extra = f" (the bounds come from {' and '.join(names)})" if names else ""
            return f"{_label(self, typed)} is {_num(value)}, but must be {rng}{extra}"
        return None

    def encode(self, value):
        """Stored value -> wire value (bools as 1/0, lists copied)."""
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, list):
            return list(value)
        return value

    def decode(self, value):
        """Wire value (as echoed in jobPars) -> stored value; tolerant of strings.

        Raises
        ------
        ValueError
            If the value cannot be read as this parameter.
        """
        kind = self.kind
        if kind == "bool":
            # As the reference client: 1, "1", "yes" and true are True; anything
            # else (0, "", "2SXPS", ...) is False.
            if isinstance(value, str):
                return value.strip().lower() in ("1", "yes", "true")
            return value is True or (_is_number(value) and value == 1)
        if kind in ("int", "float", "degrees", "time"):
            if isinstance(value, str):
                text = value.strip()
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            if kind == "int":
                if float(value) != int(float(value)):
                    raise ValueError(f"{value!r} is not an integer")
                return int(float(value))
            if kind == "degrees":
                return float(value)
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return float(value) if isinstance(value, (float, np.floating)) else int(value)
        if kind == "models":
            if isinstance(value, str):
                text = value.strip()
                if text.startswith("["):
                    import json
                    value = json.loads(text)
                else:
                    value = [v for v in re.split(r"[,\s]+", text) if v]
            return self.coerce(list(value))
        if kind == "choice":
            return _choice(self, value, self.name, None)
        if value is None:
            raise ValueError("no value")
        if kind == "targets":
            return self.coerce(value)
        return str(value).strip()


def _num(x):
    return f"{x:g}" if isinstance(x, float) else str(x)


def _label(param, typed):
    where = f"{param.product} " if param.product else ""
    if typed and typed != param.name:
        return f"{where}{typed!r} ({param.name})"
    return f"{where}{param.name!r}"


def _tidy(x):
    """Remove unit-conversion noise (e.g. 0.30000000000000004 -> 0.3); integral values become int."""
    x = float(f"{float(x):.12g}")
    return int(x) if x.is_integer() and abs(x) < 1e15 else x


def _is_number(value):
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _to_unit(param, value, label):
    """A Quantity (or its text, "1 d") in the parameter's unit -> float; a plain number -> itself."""
    if isinstance(value, str) and param.unit is not None:
        try:
            value = u.Quantity(value)
        except (TypeError, ValueError):
            raise InvalidRequestError(f"{label}: {value!r} is not a number nor a quantity (expected "
                                      f"e.g. '{_num(param.example)} {param.unit.to_string()}')") from None
        if value.unit == u.dimensionless_unscaled:
            value = value.value  # "20" is a plain number in the parameter's unit
    if isinstance(value, u.Quantity):
        if not value.isscalar:
            raise InvalidRequestError(f"{label}: expected one value, got an array of shape {value.shape}")
        if param.unit is None:
            if value.unit.physical_type == "dimensionless":
                return float(value.value)
            raise InvalidRequestError(f"{label}: {value} has a unit, but this parameter takes a plain number")
        equiv = u.pixel_scale(PLATE_SCALE) if param.unit == u.pix else []
        try:
            return float(value.to_value(param.unit, equivalencies=equiv))
        except u.UnitConversionError:
            unit = param.unit.to_string()
            want = "an angle or pixels" if param.unit == u.pix else f"a Quantity convertible to {unit}"
            raise InvalidRequestError(
                f"{label}: {value} has the wrong physical type (expected {want}, "
                f"or a plain number in {unit})") from None
    if _is_number(value):
        return value.item() if isinstance(value, np.generic) else value
    raise InvalidRequestError(f"{label}: {value!r} is not a number"
                              + (f" (expected {param.unit.to_string()})" if param.unit is not None else ""))


def _bool(param, value, label, t0):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if _is_number(value) and value in (0, 1):
        return bool(value)
    raise InvalidRequestError(f"{label}: {value!r} is not a boolean (expected True or False)")


def _int(param, value, label, t0):
    from_quantity = isinstance(value, u.Quantity)
    x = _to_unit(param, value, label)
    if from_quantity:
        # e.g. a source radius given as an angle: the nearest whole pixel.
        return int(round(x))
    if float(x) != int(x):
        raise InvalidRequestError(f"{label}: {value!r} is not an integer")
    return int(x)


def _float(param, value, label, t0):
    if isinstance(value, u.Quantity):
        return _tidy(_to_unit(param, value, label))
    return _to_unit(param, value, label)


def _degrees(param, value, label, t0):
    if isinstance(value, u.Quantity):
        return float(value.to_value(u.deg)) if value.unit.is_equivalent(u.deg) else _to_unit(
            param, value, label)
    return float(_to_unit(param, value, label))


def _str(param, value, label, t0):
    if not isinstance(value, str):
        raise InvalidRequestError(f"{label}: {value!r} is not a string")
    value = value.strip()
    if not value:
        raise InvalidRequestError(f"{label}: the value is empty")
    if param.name.startswith("rname"):
        # The service keeps only alphanumerics in interval names; say so rather than surprise.
        if not re.fullmatch(r"[A-Za-z0-9]+", value):
            raise InvalidRequestError(f"{label}: {value!r} must be letters and digits only")
    return value


def _choice(param, value, label, t0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, int, np.integer)):
        raise InvalidRequestError(f"{label}: {value!r} is not allowed; allowed: "
                                  f"{', '.join(map(str, param.allowed))}")
    text = str(value).strip()
    for a in param.allowed:
        if text.lower() == str(a).lower():
            return a
    hint = suggest(text, param.allowed)
    raise InvalidRequestError(f"{label}: {value!r} is not allowed{hint}; allowed: "
                              f"{', '.join(map(str, param.allowed))}")


def _models(param, value, label, t0):
    if isinstance(value, str):
        # "powerlaw,apec" as the command line and jobPars spell a list.
        value = [v for v in re.split(r"[,\s]+", value) if v]
    try:
        items = list(value)
    except TypeError:
        raise InvalidRequestError(f"{label}: {value!r} is not a list of model names") from None
    if not items:
        raise InvalidRequestError(f"{label}: at least one model is needed; allowed: "
                                  f"{', '.join(param.allowed)}")
    for item in items:
        if not isinstance(item, str) or item.lower() not in param.allowed:
            raise InvalidRequestError(f"{label}: {item!r} is not a model; allowed: "
                                      f"{', '.join(param.allowed)}")
    # Sent unchanged, as the reference client does (the service ignores case).
    return [str(i) for i in items]


def _time(param, value, label, t0):
    # The one rule for a time (times.parse_time): ISO strings become Times, numeric strings METs.
    value = parse_time(value, name=label)
    if isinstance(value, Time):
        if not value.isscalar:
            raise InvalidRequestError(f"{label}: expected one time, got {value.size}")
        # Through the clock table (one warning states its accuracy). Rounded to the microsecond:
        # far below XRT's time resolution, and it makes a Time built from a MET give back that MET.
        return round(to_met(value, name=label), 6)
    met = to_met(value, name=label)
    if _is_number(value):
        return value
    # A MET keeps its microseconds (as a Time's does); 12 digits would cut it to 0.1-1 ms.
    return _tidy(met) if abs(met) < 1e6 else round(met, 6)


_OBSID = re.compile(r"\d{11}")
_OBS_TOKEN = re.compile(r"^\s*(\d+)\s*$")


def _check_obs_string(text, label, ranges_only=False):
    text = text.strip()
    if not text:
        raise InvalidRequestError(f"{label}: the value is empty")
    for token in text.split(","):
        token = token.strip()
        if not token:
            raise InvalidRequestError(f"{label}: {text!r} has an empty item")
        digits = _OBS_TOKEN.match(token)
        if digits:
            if ranges_only:
                raise InvalidRequestError(f"{label}: {token!r} is not a 'start-stop' time range")
            if not _OBSID.fullmatch(digits.group(1)):
                raise InvalidRequestError(
                    f"{label}: {token!r} is not an obsID (11 digits, e.g. 00012345001) "
                    "nor a 'start-stop' time range")
        elif "-" not in token[1:]:
            raise InvalidRequestError(
                f"{label}: {token!r} is not " + ("" if ranges_only else "an obsID (11 digits) nor ")
                + "a 'start-stop' time range")
    return ",".join(t.strip() for t in text.split(","))


def _obsid(item, label):
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        if not 0 <= item < 10**11:
            raise InvalidRequestError(f"{label}: {item} is not an obsID (at most 11 digits)")
        return f"{int(item):011d}"
    if isinstance(item, str) and _OBSID.fullmatch(item.strip()):
        return item.strip()
    raise InvalidRequestError(f"{label}: {item!r} is not an obsID (11 digits, e.g. '00012345001')")


def _range_items(value):
    """Quantity pairs and (N, 2) Quantities as lists of (start, stop) tuples for format_time_ranges."""
    if isinstance(value, u.Quantity) and value.ndim == 2:
        return [tuple(row) for row in value]
    if isinstance(value, (list, tuple)) and any(isinstance(v, u.Quantity) and v.shape == (2,)
                                                for v in value):
        return [tuple(v) if isinstance(v, u.Quantity) and v.shape == (2,) else v for v in value]
    return value


def _obslist(param, value, label, t0):
    value = _range_items(value)
    if isinstance(value, str):
        return _check_obs_string(value, label)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return _obsid(value, label)
    if isinstance(value, (Time, u.Quantity)):
        return format_time_ranges(value, name=label, t0=t0)
    try:
        items = list(value)
    except TypeError:
        raise InvalidRequestError(f"{label}: {value!r} is neither obsIDs nor time ranges") from None
    if items and all(isinstance(i, (str, int, np.integer)) and not isinstance(i, bool) for i in items):
        return ",".join(_obsid(i, label) for i in items)
    return format_time_ranges(items, name=label, t0=t0)


def _timeranges(param, value, label, t0):
    value = _range_items(value)
    if isinstance(value, str):
        return _check_obs_string(value, label, ranges_only=True)
    if _is_number(value):
        raise InvalidRequestError(f"{label}: {value!r} is not a (start, stop) time range")
    return format_time_ranges(value, name=label, t0=t0)


def _targets(param, value, label, t0):
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, (int, np.integer)) and not isinstance(items, bool):
        items = [items]
    try:
        items = list(items)
    except TypeError:
        raise InvalidRequestError(f"{label}: {value!r} is not a list of Swift target IDs") from None
    out = []
    for item in items:
        if isinstance(item, str) and item.strip().isdigit() and len(item.strip()) <= 8:
            out.append(item.strip().zfill(8))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 < item < 10**8:
            out.append(f"{int(item):08d}")
        else:
            raise InvalidRequestError(f"{label}: {item!r} is not a Swift target ID "
                                      "(up to 8 digits, e.g. '00945521')")
    if not out:
        raise InvalidRequestError(f"{label}: no target ID given")
    return ",".join(out)


def _energybands(param, value, label, t0):
    if isinstance(value, str):
        text = value.replace(" ", "")
        for band in text.split(","):
            m = re.fullmatch(r"(\d+(?:\.\d*)?)-(\d+(?:\.\d*)?)", band)
            if not m or float(m.group(1)) >= float(m.group(2)):
                raise InvalidRequestError(f"{label}: {band!r} is not an energy band 'lo-hi' in keV "
                                          "(e.g. '0.3-10,0.3-1.5,1.51-10')")
        return text
    if isinstance(value, u.Quantity):
        if not value.unit.is_equivalent(u.keV):
            raise InvalidRequestError(f"{label}: {value} is not an energy")
        value = value.to_value(u.keV)
    arr = np.asarray(value, dtype=object)
    if arr.ndim == 1 and arr.shape == (2,):
        arr = arr.reshape(1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidRequestError(f"{label}: {value!r} is not a (lo, hi) band or a list of them")
    bands = []
    for lo, hi in arr:
        lo = _to_unit(param, lo, label)
        hi = _to_unit(param, hi, label)
        if lo >= hi:
            raise InvalidRequestError(f"{label}: the band {lo}-{hi} keV is empty")
        bands.append(f"{_num(_tidy(lo))}-{_num(_tidy(hi))}")
    return ",".join(bands)


_COERCERS = {"bool": _bool, "int": _int, "float": _float, "degrees": _degrees, "str": _str,
             "choice": _choice, "models": _models, "time": _time, "timeranges": _timeranges,
             "obslist": _obslist, "targets": _targets, "energybands": _energybands}


# ----------------------------------------------------------------------------- the catalogue

def _g(name, ukssdc, wire, kind, **kw):
    return Param(name, None, ukssdc, wire, kind, **kw)


def _lc(name, ukssdc, wire, kind, **kw):
    return Param(name, "lightcurve", ukssdc, wire, kind, **kw)


def _sp(name, ukssdc, wire, kind, **kw):
    return Param(name, "spectrum", ukssdc, wire, kind, **kw)


_OBS_DOC = "obsIDs (11 digits) or 'start-stop' time ranges, comma-separated"
_WHICH = ("all", "user")
_HOURS = ("all", "user", "hours")
_ALLOW = ("no", "pc", "wt", "both")
_GRADES = ("all", "0", "4")


def _use_obs_trigger():
    return (Trigger(ANY, "which_data", "user"),)


def _which_rules(hours=None):
    rules = [Rule("user", ("use_obs",))]
    if hours:
        rules.append(Rule("hours", (hours,)))
    return tuple(rules)


_GLOBALS = [
    _g("name", "name", "name", "str", mandatory=True, example="GRB 200416A",
       doc="Object name (cosmetic, unless get_coords asks the service to resolve it)"),
    _g("targ", "targ", "targ", "targets", mandatory=True, alternative="get_targs",
       example="00945521,00013267",
       aliases=("target_ids",),
       implies=(Trigger(ANY, "get_targs", False),),
       doc="Swift target IDs to use, comma-separated (ints are zero-padded to 8 digits)"),
    _g("t0", "T0", "Tstart", "time", unit=u.s, example=608713541.952,
       implies=(Trigger(ANY, "get_t0", False),),
       doc="Reference time T0 (astropy Time, or Swift MET in seconds)"),
    _g("since_t0", "SinceT0", "SinceT0", "bool", default=False, example=True, wire_aliases=("sinceT0",),
       doc="Other times in the request are relative to T0"),
    _g("ra", "RA", "RA", "degrees", unit=u.deg, mandatory=True, alternative="get_coords",
       bounds=(0, 360), example=335.6985,
       doc="Right ascension of the source, ICRS (J2000) decimal degrees"),
    _g("dec", "Dec", "Dec", "degrees", unit=u.deg, mandatory=True, alternative="get_coords",
       bounds=(-90, 90), example=-7.5179,
       doc="Declination of the source, ICRS (J2000) decimal degrees"),
    _g("centroid", "centroid", "cent", "bool", mandatory=True, example=True,
       likely=(True, "UKSSDC's own examples use centroid=True"),
       requires=(Rule(True, ("pos_err",)),),
       doc="Centroid the source position before building products"),
    _g("cent_method", "centMeth", "centMeth", "choice", allowed=("simple", "iterative"), default="simple",
       example="iterative", doc="Centroiding method for light curves and spectra"),
    _g("max_cent_tries", "maxCentTries", "maxCentTries", "int", default=10, bounds=(1, None), example=5,
       doc="Number of obsIDs to try centroiding on before giving up"),
    _g("pos_err", "posErr", "poserr", "float", unit=u.arcmin, bounds=(1, 6), example=1,
       likely=(1, "UKSSDC's own examples use pos_err=1 (arcmin)"),
       doc="How far from the input position the centroid may move (1-6 arcmin)"),
    _g("super_soft", "sss", "sss", "bool", default=False, example=True,
       doc="Super-soft source: grade-0 events only and lower pile-up thresholds"),
    _g("use_sxps", "useSXPS", "useSXPS", "bool", mandatory=True, default=False, example=True,
       likely=(False, "UKSSDC's own examples use use_sxps=False"),
       doc="Use the SXPS source lists where possible"),
    _g("wt_pileup_rate", "wtPupRate", "wtpuprate", "float", unit=u.ct / u.s, default=150, bounds=(0, None),
       example=100, doc="WT count rate above which pile-up is tested for"),
    _g("pc_pileup_rate", "pcPupRate", "pcpuprate", "float", unit=u.ct / u.s, default=0.6, bounds=(0, None),
       example=0.5, doc="PC count rate above which pile-up is tested for"),
    _g("notify", "notify", "notify", "bool", default=False, example=True,
       doc="E-mail the user when the job completes"),
    _g("get_coords", "getCoords", "getCoords", "bool", default=False, example=True,
       doc="Let the service resolve name to RA/Dec (failure is a submission error)"),
    _g("get_targs", "getTargs", "getTargs", "bool", default=False, example=True,
       doc="Let the service choose the target IDs by name and field-of-view overlap"),
    _g("get_t0", "getT0", "getT0", "bool", default=False, example=True,
       doc="Let the service set T0 (trigger time, or the start of the first observation)"),
    # The position products' parameters: stored and sent as globals (protocol.md §3.6).
    _g("pos_which_data", "posobs", "posobs", "choice", allowed=_HOURS, default="hours", example="all",
       shared_name="which_data", shared_ukssdc="whichData",
       requires=(Rule("hours", ("pos_obs_time",)), Rule("user", ("pos_use_obs",))),
       implies=(Trigger("all", "pos_use_obs", REMOVED),),
       doc="Data used for positions: all, user (pos_use_obs) or the first hours (pos_obs_time)"),
    _g("pos_use_obs", "useposobs", "useposobs", "obslist", example="00012345001",
       shared_name="use_obs", shared_ukssdc="useObs",
       implies=(Trigger(ANY, "pos_which_data", "user"),),
       doc="Data used for positions: " + _OBS_DOC),
    _g("pos_obs_time", "posobstime", "posobstime", "float", unit=u.h, default=12, bounds=(0, None),
       example=24, shared_name="inc_hours", shared_ukssdc="incHours",
       doc="Hours of data used for positions, from the first selected observation"),
    _g("pos_radius", "posRadius", "posRadius", "float", unit=u.arcsec, default=20, bounds=(0, None),
       example=30, shared_name="pos_radius", shared_ukssdc="posRadius",
       doc="Search radius around the input position for the position products"),
    _g("det_or_cent", "detornot", "detornot", "choice", allowed=("detect", "centroid"), default="detect",
       example="centroid", shared_name="det_or_cent", shared_ukssdc="detOrCent",
       doc="Find the source for positions by detection or by centroiding"),
    _g("det_method", "detMeth", "detMeth", "choice", allowed=("simple", "iterative"), default="simple",
       example="iterative", shared_name="cent_method", shared_ukssdc="centMeth",
       doc="Source detection for positions: simple search or full SXPS-style iterative detection"),
]

_LIGHTCURVE = [
    _lc("binning", "binMeth", "binMeth", "choice", allowed=("counts", "time", "snapshot", "obsid"),
        mandatory=True, example="counts", likely=("counts", "UKSSDC's GRB light curves use binning='counts'"),
        requires=(Rule("counts", ("pc_counts", "wt_counts", "dynamic")),
                  Rule("time", ("pc_bin_time", "wt_bin_time"), source="server")),
        doc="Binning method: counts, time, snapshot or obsid"),
    _lc("min_energy", "minEnergy", "minen", "float", unit=u.keV, default=0.3, bounds=(0, None),
        example=0.5, doc="Lower energy of the light curve"),
    _lc("max_energy", "maxEnergy", "maxen", "float", unit=u.keV, default=10, bounds=(0, None), example=8,
        doc="Upper energy of the light curve"),
    _lc("soft_lo", "softLo", "soft1", "float", unit=u.keV, default=0.3,
        bounds=("min_energy", "max_energy"), example=0.5,
        doc="Lower energy of the soft band (hardness ratio)"),
    _lc("soft_hi", "softHi", "soft2", "float", unit=u.keV, default=1.5,
        bounds=("min_energy", "max_energy"), example=2, doc="Upper energy of the soft band"),
    _lc("hard_lo", "hardLo", "hard1", "float", unit=u.keV, default=1.5,
        bounds=("min_energy", "max_energy"), example=2, doc="Lower energy of the hard band"),
    _lc("hard_hi", "hardHi", "hard2", "float", unit=u.keV, default=10,
        bounds=("min_energy", "max_energy"), example=8, doc="Upper energy of the hard band"),
    _lc("min_sig", "minSig", "sigmin", "float", default=3, bounds=(0, None), example=2,
        doc="Significance (Gaussian sigma) for a bin to be a detection"),
    _lc("grades", "grades", "grades", "choice", allowed=_GRADES, default="all", example="0",
        doc="Event grades: all, 0 or 4"),
    _lc("allow_ul", "allowUL", "allowUL", "choice", allowed=_ALLOW, default="both",
        example="pc", doc="Modes in which upper limits are allowed: no, pc, wt or both"),
    _lc("allow_bayes", "allowBayes", "allowB", "choice", allowed=_ALLOW, default="both",
        example="wt", doc="Modes in which Bayesian bins are allowed: no, pc, wt or both"),
    _lc("bayes_counts", "bayesCounts", "bayesCounts", "float", unit=u.ct, default=15, bounds=(0, None),
        example=10, doc="Counts below which a bin is Bayesian"),
    _lc("bayes_snr", "bayesSNR", "bayesSNR", "float", default=2.4, bounds=(0, None), example=3,
        doc="Signal-to-noise below which a bin is Bayesian"),
    _lc("time_format", "timeFormat", "lctimetype", "choice", allowed=("s", "m", "sec", "mjd"),
        default="s", example="m", aliases=("timeType",),
        doc="Time axis: s (seconds since T0) or m (MJD)"),
    _lc("which_data", "whichData", "lcobs", "choice", allowed=_WHICH, default="all",
        example="all", requires=_which_rules(), implies=(Trigger("all", "use_obs", REMOVED),),
        doc="Data used: all, or user (use_obs)"),
    _lc("use_obs", "useObs", "uselcobs", "obslist", example="00012345001,00012345002",
        implies=_use_obs_trigger(), doc="Data used: " + _OBS_DOC),
    _lc("source_radius", "srcrad", "srcrad", "int", unit=u.pix, bounds=(1, None), example=20,
        doc="Maximum source-region radius (pixels; angles use 2.357 arcsec/pixel)"),
    _lc("pc_counts", "pcCounts", "pccounts", "int", unit=u.ct, bounds=(1, None), example=20,
        likely=(20, "UKSSDC's GRB light curves use pc_counts=20"),
        doc="Counts per full PC bin (at 1 ct/s when dynamic)"),
    _lc("wt_counts", "wtCounts", "wtcounts", "int", unit=u.ct, bounds=(1, None), example=30,
        likely=(30, "UKSSDC's GRB light curves use wt_counts=30"),
        doc="Counts per full WT bin (at 1 ct/s when dynamic)"),
    _lc("dynamic", "dynamic", "dynamic", "bool", example=True, filled=True,
        likely=(True, "UKSSDC's GRB light curves use dynamic=True"),
        doc="Dynamic binning: counts per bin scale with the count rate"),
    _lc("rate_factor", "rateFact", "ratefact", "float", default=10, bounds=(0, None), example=5,
        doc="Rate factor of dynamic binning"),
    _lc("bin_factor", "binFact", "binfact", "float", default=1.5, bounds=(0, None), example=2,
        doc="Bin factor of dynamic binning"),
    _lc("pc_bin_time", "pcBinTime", "pcbin", "float", unit=u.s, default=2.51, bounds=(0, None), frame="pc",
        example=100, doc="PC bin length (time binning) or minimum bin length (counts binning)"),
    _lc("wt_bin_time", "wtBinTime", "wtbin", "float", unit=u.s, default=0.5, bounds=(0, None), example=10,
        frame="wt",
        aliases=("bintime",), doc="WT bin length (time binning) or minimum bin length (counts binning)"),
    _lc("min_counts", "minCounts", "mincmin", "int", unit=u.ct, default=15, bounds=(0, None), example=10,
        doc="Absolute minimum counts per bin"),
    _lc("min_snr", "minSNR", "minsnr", "float", default=2.4, bounds=(0, None), example=3,
        doc="Minimum signal-to-noise of a full bin"),
    _lc("pc_max_gap", "pcMaxGap", "pcmaxgap", "float", unit=u.s, default=1e8, bounds=(0, None),
        example=10000, wire_aliases=("pcmaxGap",), doc="Longest observing gap a PC bin may straddle"),
    _lc("wt_max_gap", "wtMaxGap", "wtmaxgap", "float", unit=u.s, default=1e8, bounds=(0, None),
        example=10000, wire_aliases=("wtmaxGap",), doc="Longest observing gap a WT bin may straddle"),
    _lc("match_hr", "matchHR", "hrbin", "bool", default=True, example=False,
        requires=(Rule(False, ("pc_hr_bin_time", "wt_hr_bin_time"), source="server"),),
        doc="Hardness-ratio bins are the light-curve bins"),
    _lc("pc_hr_bin_time", "pcHRBinTime", "pchrbin", "float", unit=u.s, default=2.51, bounds=(0, None),
        frame="pc",
        example=500, doc="PC hardness-ratio bin length when match_hr is False"),
    _lc("wt_hr_bin_time", "wtHRBinTime", "wthrbin", "float", unit=u.s, default=0.5, bounds=(0, None),
        frame="wt",
        example=50, doc="WT hardness-ratio bin length when match_hr is False"),
    _lc("min_frac_exp", "minFracExp", "femin", "float", default=0, bounds=(0, 1), example=0.5,
        doc="Minimum fractional exposure of a bin"),
]

_SPECTRUM = [
    # First, so that its preset is sent first, as the reference client does.
    _sp("delta_fit_stat", "deltaFitStat", "dchi", "float", mandatory=True, preset=2.706, default=2.706,
        bounds=(0, None), example=1.0,
        doc="Change in fit statistic for parameter errors (2.706: 90%, 1: 1 sigma)"),
    _sp("has_redshift", "hasRedshift", "specz", "bool", mandatory=True, preset=False, example=True,
        requires=(Rule(True, ("redshift",)),), implies=(Trigger(True, "galactic", True),),
        doc="Fit a redshifted absorber (needs redshift)"),
    _sp("redshift", "redshift", "zval", "float", bounds=(0, None), example=1.5,
        implies=(Trigger(ANY, "has_redshift", True), Trigger(ANY, "galactic", True),
                 Trigger(REMOVED, "has_redshift", False)),
        doc="Redshift of the absorber (sets has_redshift and galactic)"),
    _sp("which_data", "whichData", "specobs", "choice", allowed=_HOURS, default="hours",
        example="all", requires=_which_rules("inc_hours"), implies=(Trigger("all", "use_obs", REMOVED),),
        doc="Data used: all, user (use_obs) or the first hours (inc_hours)"),
    _sp("use_obs", "useObs", "usespecobs", "obslist", example="00012345001",
        implies=_use_obs_trigger(), doc="Data used: " + _OBS_DOC),
    _sp("inc_hours", "incHours", "specobstime", "float", unit=u.h, default=12, bounds=(0, None), example=24,
        doc="Hours of data used, from the first selected observation"),
    _sp("spec_stem", "specStem", "specstem", "str", default="interval0", example="late",
        doc="File stem of the spectrum when which_data is all"),
    _sp("timeslice", "timeslice", "timeslice", "choice", allowed=("single", "user", "snapshot", "obsid"),
        default="single", example="snapshot",
        requires=(Rule("user", tuple(f"{k}{i}" for i in range(1, 5) for k in ("rname", "gti")),
                       mode="pair", source="server"),),
        doc="Spectra made: single, user (rname/gti pairs), one per snapshot or one per obsID"),
    *[_sp(f"rname{i}", f"rname{i}", f"rname{i}", "str", example=f"late{i}",
          doc=f"Name of user time slice {i} (letters and digits)") for i in range(1, 5)],
    *[_sp(f"gti{i}", f"gti{i}", f"gti{i}", "timeranges", example="608713541-608714541",
          doc=f"Time ranges of user time slice {i}") for i in range(1, 5)],
    _sp("grades", "grades", "specgrades", "choice", allowed=_GRADES, default="all",
        example="4", doc="Event grades: all, 0 or 4"),
    _sp("do_not_fit", "doNotFit", "doNotFit", "bool", default=False, example=True,
        implies=(Trigger(True, "has_redshift", False),), doc="Skip the automatic spectral fit"),
    _sp("galactic", "galactic", "galactic", "bool", default=False, example=True,
        doc="Add an absorber fixed at the Galactic column (Willingale et al. 2013)"),
    _sp("models", "models", "models", "models", allowed=("powerlaw", "apec", "blackbody"),
        default=["powerlaw"], example=["powerlaw", "apec"],
        doc="Models fitted (each separately): powerlaw, apec, blackbody"),
    _sp("source_radius", "srcrad", "srcrad", "int", unit=u.pix, bounds=(1, None), example=20,
        doc="Maximum source-region radius (pixels; angles use 2.357 arcsec/pixel)"),
]

_OTHERS = [
    Param("use_all_obs", "astrometric_position", "useAllObs", "allxastrom", "bool", default=False,
          example=True, doc="Use every observation for the astrometric position"),
    Param("energies", "image", "energies", "imen", "energybands", unit=u.keV,
          default="0.3-10,0.3-1.5,1.51-10", example="0.3-10,0.5-2",
          doc="Energy bands of the images, 'lo-hi' in keV, comma-separated"),
    Param("which_data", "image", "whichData", "imobs", "choice", allowed=_WHICH,
          default="all", example="all", requires=_which_rules(),
          implies=(Trigger("all", "use_obs", REMOVED),), doc="Data used: all, or user (use_obs)"),
    Param("use_obs", "image", "useObs", "useimobs", "obslist", example="00012345001",
          implies=_use_obs_trigger(), doc="Data used: " + _OBS_DOC),
    Param("which_data", "source_detection", "whichData", "detobs", "choice", allowed=_WHICH,
          mandatory=True, default="user", example="user", requires=_which_rules(),
          likely=("all", "xrtprods_astro's default is which_data='all'; give use_obs to search fewer "
                  "observations"),
          implies=(Trigger("all", "use_obs", REMOVED),),
          doc="Data searched: all (may exceed the 12 h run-time limit), or user (use_obs)"),
    Param("use_obs", "source_detection", "useObs", "usedetobs", "obslist", example="00012345001",
          implies=_use_obs_trigger(), doc="Data searched: " + _OBS_DOC),
    Param("which_bands", "source_detection", "whichBands", "detbands", "choice", allowed=("total", "all"),
          default="total", example="all",
          doc="Bands searched: total (0.3-10 keV) or all (total, soft, medium, hard)"),
    Param("fit_stray_light", "source_detection", "fitStrayLight", "fitStrayLight", "bool", default=True,
          example=False, doc="Model stray light where needed"),
]

#: Every parameter record, globals first, then per product in `PRODUCTS` order.
PARAMS = tuple(_GLOBALS + _LIGHTCURVE + _SPECTRUM + _OTHERS)

#: Pairs of parameters whose values (or defaults) must be in increasing order (server rule).
ORDERED_PAIRS = (("lightcurve", "min_energy", "max_energy"), ("lightcurve", "soft_lo", "soft_hi"),
                 ("lightcurve", "hard_lo", "hard_hi"))

_BY_SCOPE = {None: OrderedDict()}
for _k in PRODUCTS:
    _BY_SCOPE[_k] = OrderedDict()
for _p in PARAMS:
    _BY_SCOPE[_p.product][_p.name] = _p
_SHARED = OrderedDict((p.shared_name, p) for p in _GLOBALS if p.shared_name)


def params_for(scope=None):
    """The records of one scope, in catalogue order.

    Parameters
    ----------
    scope : str or None
        None for the globals (including the shared position globals), or any
        spelling of a product. For a position product the shared globals are
        included (they are set through it).

    Returns
    -------
    list of `Param`
    """
    if scope is None:
        return list(_BY_SCOPE[None].values())
    key = product(scope).key
    own = list(_BY_SCOPE[key].values())
    if PRODUCTS[key].position:
        return list(_SHARED.values()) + own
    return own


def _index(p, names):
    for spelling in p.spellings():
        names.setdefault(spelling, p)
        names.setdefault(spelling.lower(), p)


_GLOBAL_INDEX = {}
for _p in _GLOBALS:
    _index(_p, _GLOBAL_INDEX)
_PRODUCT_INDEX = {k: {} for k in PRODUCTS}
for _k in PRODUCTS:
    for _p in _BY_SCOPE[_k].values():
        _index(_p, _PRODUCT_INDEX[_k])
    if PRODUCTS[_k].position:
        for _p in _SHARED.values():
            for spelling in (_p.shared_name, _p.shared_ukssdc, *_p.spellings()):
                _PRODUCT_INDEX[_k].setdefault(spelling, _p)
                _PRODUCT_INDEX[_k].setdefault(spelling.lower(), _p)


_product = product


def _accepts_time_range(key):
    """Products whose ``time_range=`` convenience sets their ``use_obs``."""
    return key in _PRODUCT_INDEX and "use_obs" in _PRODUCT_INDEX[key]


def lookup(name, product=None):
    """Find a parameter record by its friendly, UKSSDC or wire name.

    Parameters
    ----------
    name : str
        ``pc_counts``, ``pcCounts`` or ``pccounts`` all find the same record;
        an exact match is preferred, then a case-insensitive one.
    product : str, optional
        Any spelling of a product: look among its parameters (for a position
        product, also the shared globals under their product-level names, e.g.
        ``which_data`` or ``centMeth``). Without it, globals are searched
        first, then product parameters whose name is unique across products.

    Returns
    -------
    `Param`

    Raises
    ------
    InvalidRequestError
        If no parameter has that name (with close matches), or if the name is
        ambiguous without a product.
    """
    if not isinstance(name, str):
        raise InvalidRequestError(f"{name!r} is not a parameter name")
    if product is not None:
        key = _product(product).key
        index = _PRODUCT_INDEX[key]
        found = index.get(name) or index.get(name.lower())
        if found:
            return found
        gl = _GLOBAL_INDEX.get(name) or _GLOBAL_INDEX.get(name.lower())
        where = ""
        if gl is not None:
            where = (f"; {name!r} is a global parameter: give it to the request itself "
                     f"(e.g. ProductRequest(..., {gl.name}=...)), not to {key}")
        hint = suggest(name, [s for p in params_for(key) for s in (p.name, p.ukssdc)]
                       + ([s for p in _SHARED.values() for s in (p.shared_name, p.shared_ukssdc)]
                          if PRODUCTS[key].position else []))
        allowed = ", ".join([p.shared_name if p.is_global else p.name for p in params_for(key)]
                            + (["time_range"] if _accepts_time_range(key) else []))
        raise InvalidRequestError(
            f"{key}: {name!r} is not a {PRODUCTS[key].label} parameter{hint}{where}. "
            f"Known: {allowed} (see xrtprods_astro.params.catalogue_table({key!r}))")
    found = _GLOBAL_INDEX.get(name) or _GLOBAL_INDEX.get(name.lower())
    if found:
        return found
    # A list, not a set: the records hold lists, so they are not hashable.
    matches = [p for p in PARAMS if not p.is_global and (name in p.spellings() or name.lower() in
                                                         {s.lower() for s in p.spellings()})]
    if len(matches) == 1:
        return matches[0]
    if matches:
        owners = ", ".join(sorted(p.product for p in matches))
        raise InvalidRequestError(f"{name!r} is a parameter of several products ({owners}); "
                                  "say which product")
    hint = suggest(name, [s for p in PARAMS for s in (p.name, p.ukssdc)])
    raise InvalidRequestError(
        f"{name!r} is not a known parameter{hint}. Global parameters: "
        f"{', '.join(p.name for p in _GLOBALS)}; product parameters go in the product's dict "
        "(see xrtprods_astro.params.catalogue_table())")


_WIRE_GLOBAL = {}
_WIRE_PRODUCT = {}
for _p in PARAMS:
    for _w in (_p.wire,) + _p.wire_aliases:
        if _p.is_global:
            _WIRE_GLOBAL.setdefault(_w, _p)
        else:
            _WIRE_PRODUCT.setdefault(_w, []).append(_p)


def wire_records(wire):
    """Records whose wire key (or tolerated wire spelling) is ``wire``: a list, maybe empty."""
    if wire in _WIRE_GLOBAL:
        return [_WIRE_GLOBAL[wire]]
    return list(_WIRE_PRODUCT.get(wire, []))


def user_name_for_wire(wire, product=None):
    """The friendly name for a wire key.

    Parameters
    ----------
    wire : str
        A wire key, e.g. ``"poserr"`` or ``"pccounts"``.
    product : str, optional
        Restrict to one product (any spelling).

    Returns
    -------
    str or None
        The friendly name (``"pos_err"``); a product parameter without a
        ``product`` is qualified (``"lightcurve.pc_counts"``; a key shared by
        two products gives ``"lightcurve/spectrum.source_radius"``). None if
        the key is unknown.
    """
    records = wire_records(wire)
    if product is not None:
        key = _product(product).key
        records = [p for p in records if p.product in (None, key)]
        return records[0].name if records else None
    if not records:
        return None
    if records[0].is_global:
        return records[0].name
    owners = "/".join(p.product for p in records)
    return f"{owners}.{records[0].name}"


_WIRE_RE = None


def translate_wire_names(text):
    """Rewrite the wire names in a service message into friendly names.

    Examples
    --------
    >>> translate_wire_names("poserr is 0.01, but must be between 1 and 6")
    'pos_err is 0.01, but must be between 1 and 6'
    >>> translate_wire_names("pccounts")
    'lightcurve.pc_counts'
    """
    global _WIRE_RE
    if not isinstance(text, str):
        return text
    if _WIRE_RE is None:
        keys = sorted({w for w in list(_WIRE_GLOBAL) + list(_WIRE_PRODUCT)
                       if user_name_for_wire(w) != w}, key=len, reverse=True)
        _WIRE_RE = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, keys)) + r")(?![\w])")
    return _WIRE_RE.sub(lambda m: user_name_for_wire(m.group(1)), text)


def _fmt_value(value):
    if value is UNSET or value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return _num(value) if isinstance(value, float) else str(value)


_KIND_TEXT = {"bool": "True or False", "degrees": "decimal degrees (or an angle Quantity)",
              "time": "an astropy Time, or Swift MET in s",
              "timeranges": "(start, stop) pairs of astropy Time, or 'start-stop' in MET s",
              "obslist": "obsIDs (11 digits) or (start, stop) time ranges",
              "targets": "Swift target IDs (up to 8 digits)", "energybands": "'lo-hi' bands in keV",
              "str": "a string", "int": "a whole number", "float": "a number"}


def _allowed_text(p):
    """What values a parameter takes, in words (for messages and docstrings)."""
    if p.kind == "choice":
        return ", ".join(map(str, p.allowed))
    if p.kind == "models":
        return "a list of " + ", ".join(p.allowed)
    text = _KIND_TEXT[p.kind]
    if p.kind in ("int", "float") and p.unit is not None:
        unit = p.unit.to_string()
        example = " such as 1*u.day" if p.unit.physical_type == "time" else ""
        text += f" in {unit}, or a Quantity{example}"
    if p.frame:
        frame = FRAME_TIMES[p.frame]
        return text + f" (at least the {p.frame.upper()} frame time, {_num(frame.value)} {frame.unit})"
    if p.kind in ("int", "float") and p.bounds and not any(isinstance(b, str) for b in p.bounds):
        low, high = p.bounds
        if low is not None and high is not None:
            text += f" ({_num(low)} to {_num(high)})"
        elif low is not None:
            text += f" (at least {_num(low)})"
    return text


def value_hint(p, name=None):
    """Allowed values and the likely choice of a parameter, for "is not set" messages.

    Parameters
    ----------
    p : `Param`
    name : str, optional
        The name shown (default the friendly name).

    Returns
    -------
    str
        e.g. ``"True or False; UKSSDC's GRB light curves use dynamic=True"``.

    Examples
    --------
    >>> value_hint(lookup("dynamic", "lightcurve"))
    "True or False; UKSSDC's GRB light curves use dynamic=True"
    """
    text = _allowed_text(p)
    if p.likely:
        return f"{text}; {p.likely[1]}"
    if p.example is not UNSET:
        return f"{text}; e.g. {name or p.name}={p.example!r}"
    return text


def _doc_entry(p, name, ukssdc, default=UNSET, why=""):
    """One numpydoc parameter entry (list of lines) from a catalogue record."""
    if p.kind == "choice":
        kind = "{" + ", ".join(repr(str(a)) for a in p.allowed) + "}"
    elif p.kind in ("int", "float") and p.unit is not None:
        kind = f"{p.kind} or Quantity [{p.unit.to_string()}]"
    else:
        kind = {"degrees": "float or Angle", "time": "Time or float", "models": "list of str",
                "timeranges": "Time pairs or str", "obslist": "str, list or Time pairs",
                "targets": "str or list of int", "energybands": "str or list of pairs"}.get(p.kind, p.kind)
    text = p.doc.rstrip(".") + "."
    if p.kind not in ("choice", "bool"):
        text += f" Allowed: {_allowed_text(p)}."
    if default is not UNSET:
        text += f" Default here: {_fmt_value(default)!s}" + (f" ({why})." if why else ".")
    elif p.default is not UNSET:
        unit = f" {p.unit.to_string()}" if p.unit is not None and p.kind in ("int", "float") else ""
        text += f" Server default: {_fmt_value(p.default)}{unit}."
    if ukssdc != name:
        text += f" UKSSDC name: ``{ukssdc}``."
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 84:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return [f"{name} : {kind}, optional"] + ["    " + x for x in lines]


def docstring_section(products, *, defaults=None, title="Other Parameters", indent=8):
    """A numpydoc section listing the parameters of products, from the catalogue.

    The text says for each parameter what the documentation tables say (see
    `catalogue_table`): type, unit, allowed values, default and UKSSDC name.

    Parameters
    ----------
    products : str or list of str
        Product spellings, or None for the global parameters; parameters
        shared by several of them are listed once.
    defaults : dict, optional
        Friendly name -> (value, why): the client's own defaults, shown
        instead of the server's.
    title : str
        The section heading.
    indent : int
        Spaces before every line (8 for a method's docstring).

    Returns
    -------
    str
    """
    defaults = defaults or {}
    keys = [products] if products is None or isinstance(products, str) else list(products)
    lines, seen = [title, "-" * len(title)], set()
    for key in keys:
        for p in params_for(key):
            name, ukssdc = ((p.shared_name, p.shared_ukssdc) if p.is_global and key is not None
                            else (p.name, p.ukssdc))
            if name in seen:
                continue
            seen.add(name)
            lines.extend(_doc_entry(p, name, ukssdc, *defaults.get(name, (UNSET, ""))))
            if name == "use_obs" and "time_range" not in seen:
                seen.add("time_range")
                lines += ["time_range : (start, stop) of Time, or a list of such pairs, optional",
                          "    Sets use_obs from time ranges (astropy Time, or MET s; seconds since T0 with",
                          "    since_t0=True)."]
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in lines) + "\n"


def catalogue_table(product=None):
    """The parameter catalogue as a Table, for documentation pages.

    Parameters
    ----------
    product : str, optional
        Any spelling of a product: its parameters (for position products,
        the shared globals under their product-level names, then its own).
        Without it: every parameter, with a ``product`` column.

    Returns
    -------
    `~astropy.table.Table`
        Columns ``name, ukssdc, wire, kind, unit, default, allowed, doc``
        (and ``product`` for the whole catalogue), all strings.
    """
    rows = []
    if product is None:
        records = [(p, p.name, p.ukssdc) for p in PARAMS]
    else:
        records = [(p, p.shared_name, p.shared_ukssdc) if p.is_global else (p, p.name, p.ukssdc)
                   for p in params_for(product)]
    for p, name, ukssdc in records:
        row = [name, ukssdc, p.wire, p.kind, p.unit.to_string() if p.unit is not None else "",
               _fmt_value(p.default), ", ".join(map(str, p.allowed)) if p.allowed else "", p.doc]
        if product is None:
            row.insert(0, p.product or "")
        rows.append(row)
    names = ["name", "ukssdc", "wire", "kind", "unit", "default", "allowed", "doc"]
    if product is None:
        names.insert(0, "product")
    if not rows:
        return Table(names=names, dtype=[str] * len(names))
    return Table(rows=rows, names=names, dtype=[str] * len(names))
