# Licensed under a 3-clause BSD style license - see LICENSE
"""
Server-side checks of a submitted job and the jobPars echo.

This is the local service's own reading of protocol.md §3: it shares nothing
with the client's parameter catalogue on purpose, so that client and server
agreeing is evidence that both follow the specification.

Everything here is pure: dictionaries in, dictionaries and lists of messages
out.
"""
import math
import re

__all__ = ["PRODUCT_FLAGS", "ENVELOPE_KEYS", "SubmitProblems", "check_submit", "job_products",
           "job_parameters", "truthy", "parse_flag"]

#: Product code -> submit flag key (protocol §3.1).
PRODUCT_FLAGS = {"lc": "lc", "spec": "spec", "psf": "dopsf", "enh": "doenh", "xastrom": "doxastrom",
                 "image": "image", "sourceDet": "sourceDet"}

#: Keys of the request envelope, never echoed in jobPars.
ENVELOPE_KEYS = ("api_name", "api_version", "UserID")

MISSING_LABEL = "The following parameters are needed, but were not supplied:"
INVALID_LABEL = "The following parameters have invalid values:"
PROBLEMS_TEXT = "There were problems with the parameters you supplied."

_OBSID = re.compile(r"^\d{11}$")
_NUMBER = r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"^({_NUMBER})-({_NUMBER})$")
_TARG = re.compile(r"^\d{1,8}$")

# Flags: submit keys whose value is a 0/1 switch.
_FLAGS = ("cent", "sss", "useSXPS", "notify", "getCoords", "getTargs", "getT0", "SinceT0", "sinceT0",
          "dynamic", "hrbin", "specz", "doNotFit", "galactic", "allxastrom", "fitStrayLight",
          *PRODUCT_FLAGS.values())

# Closed sets. Product parameters are lower-cased by the client (protocol §3.1), so they are compared
# case-insensitively; global ones must be given exactly.
_GLOBAL_CHOICES = {
    "centMeth": ("simple", "iterative"),
    "posobs": ("all", "user", "hours"),
    "detMeth": ("simple", "iterative"),
    "detornot": ("detect", "centroid"),
}
_PRODUCT_CHOICES = {
    "binMeth": ("counts", "time", "snapshot", "obsid"),
    "grades": ("all", "0", "4"),
    "allowUL": ("no", "pc", "wt", "both"),
    "allowB": ("no", "pc", "wt", "both"),
    "lctimetype": ("s", "m", "sec", "mjd"),
    "lcobs": ("all", "user"),
    "specobs": ("all", "user", "hours"),
    "timeslice": ("single", "user", "snapshot", "obsid"),
    "specgrades": ("all", "0", "4"),
    "imobs": ("all", "user"),
    "detobs": ("all", "user"),
    "detbands": ("total", "all"),
}
_MODELS = ("powerlaw", "apec", "blackbody")

# Numeric parameters: key -> (low, high, integer?, low inclusive?). None = open end.
_NUMBERS = {
    "RA": (0.0, 360.0, False, True),
    "Dec": (-90.0, 90.0, False, True),
    "poserr": (1.0, 6.0, False, True),
    "maxCentTries": (1, 1000, True, True),
    "wtpuprate": (0.0, None, False, False),
    "pcpuprate": (0.0, None, False, False),
    "Tstart": (0.0, None, False, True),
    "posRadius": (0.0, 600.0, False, False),
    "posobstime": (0.0, None, False, False),
    "minen": (0.3, 10.0, False, True),
    "maxen": (0.3, 10.0, False, True),
    "soft1": (0.3, 10.0, False, True),
    "soft2": (0.3, 10.0, False, True),
    "hard1": (0.3, 10.0, False, True),
    "hard2": (0.3, 10.0, False, True),
    "sigmin": (0.0, None, False, False),
    "bayesCounts": (0.0, None, False, False),
    "bayesSNR": (0.0, None, False, False),
    "srcrad": (1, 100, True, True),
    "pccounts": (1, None, True, True),
    "wtcounts": (1, None, True, True),
    "ratefact": (0.0, None, False, False),
    "binfact": (0.0, None, False, False),
    "pcbin": (0.0, None, False, False),
    "wtbin": (0.0, None, False, False),
    "mincmin": (1, None, True, True),
    "minsnr": (0.0, None, False, False),
    "pcmaxgap": (0.0, None, False, False),
    "wtmaxgap": (0.0, None, False, False),
    "pcmaxGap": (0.0, None, False, False),
    "wtmaxGap": (0.0, None, False, False),
    "pchrbin": (0.0, None, False, False),
    "wthrbin": (0.0, None, False, False),
    "femin": (0.0, 1.0, False, True),
    "zval": (0.0, 20.0, False, True),
    "specobstime": (0.0, None, False, False),
    "dchi": (0.0, None, False, False),
}

# Server defaults echoed in jobPars for parameters the user left out (protocol §3.2-3.8).
_GLOBAL_DEFAULTS = {"centMeth": "simple", "maxCentTries": 10, "sss": 0, "useSXPS": 0, "wtpuprate": 150,
                    "pcpuprate": 0.6, "notify": 0, "SinceT0": 0}
_POSITION_DEFAULTS = {"posRadius": 20, "posobs": "hours", "posobstime": 12, "detMeth": "simple",
                      "detornot": "detect"}
_PRODUCT_DEFAULTS = {
    "lc": {"minen": 0.3, "maxen": 10, "soft1": 0.3, "soft2": 1.5, "hard1": 1.5, "hard2": 10, "sigmin": 3,
           "grades": "all", "allowUL": "both", "allowB": "both", "bayesCounts": 15, "bayesSNR": 2.4,
           "lctimetype": "s", "lcobs": "all", "dynamic": 1, "ratefact": 10, "binfact": 1.5, "pcbin": 2.51,
           "wtbin": 0.5, "mincmin": 15, "minsnr": 2.4, "pcmaxgap": 1e8, "wtmaxgap": 1e8,
           "pcmaxbin": 1e8, "wtmaxbin": 1e8, "hrbin": 1, "pchrbin": 2.51, "wthrbin": 0.5, "femin": 0},
    "spec": {"specobs": "hours", "specobstime": 12, "specstem": "interval0", "timeslice": "single",
             "specgrades": "all", "doNotFit": 0, "galactic": 0, "models": ["powerlaw"], "dchi": 2.706},
    "xastrom": {"allxastrom": 0},
    "image": {"imen": "0.3-10,0.3-1.5,1.51-10", "imobs": "all"},
    "sourceDet": {"detbands": "total", "fitStrayLight": 1},
}


class SubmitProblems(Exception):
    """Raised by `check_submit` with the server's ``listErr`` groups.

    Parameters
    ----------
    missing : list of str
        Wire names of needed parameters that were not supplied.
    invalid : list of str
        One "<key> is <value>, but must be ..." line per invalid value.
    """

    def __init__(self, missing, invalid):
        super().__init__(PROBLEMS_TEXT)
        self.missing = list(missing)
        self.invalid = list(invalid)

    def list_err(self):
        """The ``listErr`` groups of the error response (protocol §1.4)."""
        groups = []
        if self.missing:
            groups.append({"label": MISSING_LABEL, "list": self.missing})
        if self.invalid:
            groups.append({"label": INVALID_LABEL, "list": self.invalid})
        return groups


def parse_flag(value):
    """A 0/1 switch as sent by a client: bool, 0/1, "0"/"1", "yes"/"no"; None when not a switch."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "yes", "no", "true", "false"):
        return 1 if value.strip().lower() in ("1", "yes", "true") else 0
    return None


def truthy(pars, key):
    """Whether the flag ``key`` is present and set in ``pars``."""
    return parse_flag(pars.get(key, 0)) == 1


def _number(value):
    """A JSON number or numeric string as float; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:   # a JSON integer of hundreds of digits is no parameter value
            return None
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _show(value):
    return value if isinstance(value, str) else str(value).replace("True", "1").replace("False", "0")


def _check_number(key, value, invalid):
    low, high, integer, low_inclusive = _NUMBERS[key]
    number = _number(value)
    kind = "an integer" if integer else "a number"
    if number is None or (integer and number != int(number)):
        invalid.append(f"{key} is {_show(value)}, but must be {kind}")
        return None
    if high is not None and low is not None and low_inclusive:
        if not low <= number <= high:
            invalid.append(f"{key} is {_show(value)}, but must be between {low:g} and {high:g}")
            return None
    elif low is not None and (number < low or (number == low and not low_inclusive)):
        relation = "at least" if low_inclusive else "greater than"
        invalid.append(f"{key} is {_show(value)}, but must be {relation} {low:g}")
        return None
    elif high is not None and number > high:
        invalid.append(f"{key} is {_show(value)}, but must be at most {high:g}")
        return None
    return number


def _check_obs_or_ranges(key, value, invalid):
    """``useObs``-type syntax: comma-separated 11-digit obsIDs or start-stop time ranges (§3.3)."""
    items = [item.strip() for item in value.split(",")] if isinstance(value, str) else []
    good = bool(items) and all(_OBSID.match(item) for item in items)
    if not good:
        good = bool(items) and all(_range_ok(item) for item in items)
    if not good:
        invalid.append(f"{key} is {_show(value)}, but must be a comma-separated list of 11-digit "
                       "obsIDs or of start-stop time ranges")


def _range_ok(item):
    match = _RANGE.match(item)
    return bool(match) and float(match.group(1)) < float(match.group(2))


def _check_ranges(key, value, invalid):
    """``gtiN`` syntax: comma-separated start-stop time ranges."""
    items = [item.strip() for item in value.split(",")] if isinstance(value, str) else []
    if not items or not all(_range_ok(item) for item in items):
        invalid.append(f"{key} is {_show(value)}, but must be a comma-separated list of start-stop "
                       "time ranges with start < stop")


def job_products(pars):
    """Product codes requested by a submission, with ``doxastrom`` implying ``dopsf`` (§3.1)."""
    codes = [code for code, flag in PRODUCT_FLAGS.items() if truthy(pars, flag)]
    if "xastrom" in codes and "psf" not in codes:
        codes.insert(codes.index("xastrom"), "psf")
    return codes


def _check_energy_bands(value, invalid):
    bands = value.split(",") if isinstance(value, str) else []
    ok = bool(bands)
    for band in bands:
        match = _RANGE.match(band.strip())
        if not match or not 0.3 <= float(match.group(1)) < float(match.group(2)) <= 10:
            ok = False
    if not ok:
        invalid.append(f"imen is {_show(value)}, but must be a comma-separated list of lo-hi "
                       "energy bands in keV within 0.3-10")


def check_submit(pars):
    """Check a submission the way the service does.

    Parameters
    ----------
    pars : dict
        The decoded JSON body of ``run_userobject.php``.

    Returns
    -------
    list of str
        The product codes of the job (``doxastrom`` implies ``psf``).

    Raises
    ------
    SubmitProblems
        With every missing and invalid parameter at once.
    """
    missing, invalid = [], []

    def need(key):
        if key not in pars or pars[key] is None or pars[key] == "":
            missing.append(key)
            return False
        return True

    for key in _FLAGS:
        if key in pars and parse_flag(pars[key]) is None:
            invalid.append(f"{key} is {_show(pars[key])}, but must be 0 or 1")
    for key in _NUMBERS:
        if key in pars:
            _check_number(key, pars[key], invalid)
    for key, allowed in _GLOBAL_CHOICES.items():
        if key in pars and pars[key] not in allowed:
            invalid.append(f"{key} is {_show(pars[key])}, but must be one of: {', '.join(allowed)}")
    for key, allowed in _PRODUCT_CHOICES.items():
        if key in pars and str(pars[key]).lower() not in allowed:
            invalid.append(f"{key} is {_show(pars[key])}, but must be one of: {', '.join(allowed)}")

    products = job_products(pars)
    if not products:
        missing.append("at least one product flag (" + ", ".join(PRODUCT_FLAGS.values()) + ")")
    need("name")
    if "name" in pars and not isinstance(pars["name"], str):
        invalid.append(f"name is {_show(pars['name'])}, but must be a string")
    if not truthy(pars, "getTargs") and need("targ"):
        items = str(pars["targ"]).split(",")
        if not all(_TARG.match(item.strip()) for item in items):
            invalid.append(f"targ is {_show(pars['targ'])}, but must be a comma-separated list of "
                           "targetIDs of up to 8 digits")
    source_det_only = products == ["sourceDet"]
    if not truthy(pars, "getCoords") and not source_det_only:
        need("RA")
        need("Dec")
    if any(code in products for code in ("lc", "spec")) and need("cent") and truthy(pars, "cent"):
        need("poserr")
    elif truthy(pars, "cent"):
        need("poserr")

    if "lc" in products:
        if need("binMeth"):
            method = str(pars["binMeth"]).lower()
            if method == "counts":
                need("pccounts")
                need("wtcounts")
            elif method == "time":
                need("pcbin")
                need("wtbin")
        if str(pars.get("lcobs", "all")).lower() == "user":
            need("uselcobs")
        if "hrbin" in pars and not truthy(pars, "hrbin"):
            need("pchrbin")
            need("wthrbin")
        lo = _number(pars.get("minen", 0.3))
        hi = _number(pars.get("maxen", 10))
        if lo is not None and hi is not None:
            if lo >= hi:
                invalid.append(f"minen is {_show(pars.get('minen', 0.3))}, but must be below maxen "
                               f"({_show(pars.get('maxen', 10))})")
            bands = (("soft1", 0.3), ("soft2", 1.5), ("hard1", 1.5), ("hard2", 10))
            for key, default in bands:
                value = _number(pars.get(key, default))
                if value is not None and key in pars and not lo <= value <= hi:
                    invalid.append(f"{key} is {_show(pars[key])}, but must be between minen ({lo:g}) "
                                   f"and maxen ({hi:g})")
            for low_key, high_key, dl, dh in (("soft1", "soft2", 0.3, 1.5), ("hard1", "hard2", 1.5, 10)):
                a, b = _number(pars.get(low_key, dl)), _number(pars.get(high_key, dh))
                if a is not None and b is not None and a >= b:
                    invalid.append(f"{low_key} is {_show(pars.get(low_key, dl))}, but must be below "
                                   f"{high_key} ({_show(pars.get(high_key, dh))})")

    if "spec" in products:
        if need("specz") and truthy(pars, "specz"):
            need("zval")
        observations = str(pars.get("specobs", "hours")).lower()
        if observations == "user":
            need("usespecobs")
        if str(pars.get("timeslice", "single")).lower() == "user":
            pairs = 0
            for n in range(1, 5):
                has_name, has_gti = f"rname{n}" in pars, f"gti{n}" in pars
                if has_name and not has_gti:
                    missing.append(f"gti{n}")
                elif has_gti and not has_name:
                    missing.append(f"rname{n}")
                elif has_name and has_gti:
                    pairs += 1
            if pairs == 0 and not any(f"rname{n}" in pars or f"gti{n}" in pars for n in range(1, 5)):
                missing.append("rname1")
                missing.append("gti1")
        for n in range(1, 5):
            if f"gti{n}" in pars:
                _check_ranges(f"gti{n}", pars[f"gti{n}"], invalid)
            if f"rname{n}" in pars and not re.sub(r"[^A-Za-z0-9]", "", str(pars[f"rname{n}"])):
                invalid.append(f"rname{n} is {_show(pars[f'rname{n}'])}, but must contain letters or digits")
        if "specstem" in pars and not re.fullmatch(r"[A-Za-z0-9_]+", str(pars["specstem"])):
            invalid.append(f"specstem is {_show(pars['specstem'])}, but must be letters, digits or _")
        if "models" in pars:
            models = pars["models"]
            models = [models] if isinstance(models, str) else models
            if (not isinstance(models, list) or not models
                    or not all(isinstance(m, str) and m.lower() in _MODELS for m in models)):
                invalid.append(f"models is {_show(pars['models'])}, but must be a list of: "
                               + ", ".join(_MODELS))

    if any(code in products for code in ("psf", "enh", "xastrom")):
        if pars.get("posobs", "hours") == "user":
            need("useposobs")
    if "image" in products:
        if str(pars.get("imobs", "all")).lower() == "user":
            need("useimobs")
        if "imen" in pars:
            _check_energy_bands(pars["imen"], invalid)
    if "sourceDet" in products:
        if need("detobs") and str(pars["detobs"]).lower() == "user":
            need("usedetobs")

    for key in ("uselcobs", "usespecobs", "useposobs", "useimobs", "usedetobs"):
        if key in pars and pars[key] not in (None, ""):
            _check_obs_or_ranges(key, pars[key], invalid)

    if missing or invalid:
        raise SubmitProblems(missing, invalid)
    return products


def _canonical(key, value):
    """The jobPars form of a submitted value: flags as 1/0, closed sets lower-cased, models as a list."""
    if key in _FLAGS:
        return parse_flag(value)
    if key in _PRODUCT_CHOICES:
        return str(value).lower()
    if key == "models":
        return [m.lower() for m in ([value] if isinstance(value, str) else value)]
    if key in _NUMBERS and isinstance(value, str):
        number = float(value)
        return int(number) if _NUMBERS[key][2] else number
    return value


def job_parameters(pars, products, derived):
    """The ``jobPars`` echo of an accepted job (protocol §2.1, §3.11).

    Parameters
    ----------
    pars : dict
        The submitted body (already checked by `check_submit`).
    products : list of str
        Product codes of the job.
    derived : dict
        Values the service worked out (``RA``, ``Dec``, ``targ``, ``Tstart``).

    Returns
    -------
    dict
        Submitted keys with the same values (flags as 1/0, closed sets lower-cased), server defaults
        for anything omitted, derived values, and every product flag as 1 or 0.
    """
    echo = dict(_GLOBAL_DEFAULTS)
    if any(code in products for code in ("psf", "enh", "xastrom")):
        echo.update(_POSITION_DEFAULTS)
    for code in products:
        echo.update(_PRODUCT_DEFAULTS.get(code, {}))
    for key, value in pars.items():
        if key not in ENVELOPE_KEYS:
            echo[key] = _canonical(key, value)
    echo.update(derived)
    for code, flag in PRODUCT_FLAGS.items():
        echo[flag] = 1 if code in products else 0
    # The switches are echoed as sent (1 or 0), beside the values they produced: they record that
    # the service worked RA/Dec, targ or T0 out, which the values alone cannot tell from typed ones
    # (a client matching a request against its job list needs that). The reference client forces
    # them off when it re-imports jobPars (protocol.md §3.11), so resubmitting stays exact.
    for key in ("getCoords", "getTargs", "getT0"):
        echo[key] = 1 if truthy(pars, key) else 0
    return echo
