# Licensed under a 3-clause BSD style license - see LICENSE
"""
The product vocabulary of the UKSSDC XRT product generator, in one place.

Every name the service gives a product (friendly key, UKSSDC class name, label,
status/cancel code, submission flag, archive stem), the envelope keys, the
archive formats, the rebinning methods and the position kinds (protocol.md §2,
§3.1). Everything else in the package (parameters, requests, jobs, the client,
the command line, batches) reads them from here. This module imports nothing
from the package but its exceptions.
"""
import difflib
import re
from collections import OrderedDict
from dataclasses import dataclass


__all__ = ["Product", "PRODUCTS", "product", "product_key", "product_code", "product_keys",
           "product_keys_from", "ENVELOPE_KEYS", "ARCHIVE_FORMATS", "BINNINGS", "POSITION_KINDS",
           "position_kind", "suggest", "CATALOGS"]


@dataclass(frozen=True)
class Product:
    """One product of the XRT product generator.

    Attributes
    ----------
    key : str
        Friendly key used in this package, e.g. ``"lightcurve"``.
    long_name : str
        The UKSSDC ``swifttools`` class-like name, e.g. ``"LightCurve"``.
    label : str
        Human-readable name used in messages, e.g. ``"light curve"``.
    code : str
        Short code used by the status and cancel calls, e.g. ``"lc"``.
    flag : str
        Key that requests the product on submission, e.g. ``"dopsf"``.
    archive_stem : str
        Stem of the product archive, ``<URL>/<stem>.tar.gz`` (equal to ``code``).
    position : bool
        True for the three position products, whose parameters are shared globals.
    """

    key: str
    long_name: str
    label: str
    code: str
    flag: str
    archive_stem: str
    position: bool = False


#: Every product, in the service's order (protocol.md §3.1).
PRODUCTS = OrderedDict((p.key, p) for p in [
    Product("lightcurve", "LightCurve", "light curve", "lc", "lc", "lc"),
    Product("spectrum", "Spectrum", "spectrum", "spec", "spec", "spec"),
    Product("standard_position", "StandardPos", "standard position", "psf", "dopsf", "psf", True),
    Product("enhanced_position", "EnhancedPos", "enhanced position", "enh", "doenh", "enh", True),
    Product("astrometric_position", "AstromPos", "astrometric position", "xastrom", "doxastrom",
            "xastrom", True),
    Product("image", "Image", "image", "image", "image", "image"),
    Product("source_detection", "SourceDet", "source detection", "sourceDet", "sourceDet", "sourceDet"),
])

#: Keys of the product generator's request envelope (protocol.md §1.3).
ENVELOPE_KEYS = ("api_name", "api_version", "UserID")
#: Formats of the product archives (protocol.md §2.10).
ARCHIVE_FORMATS = ("tar.gz", "tar", "zip")
#: Light-curve binning methods (``binMeth``).
BINNINGS = ("counts", "time", "snapshot", "obsid")
#: Position kind -> (endpoint path under user_objects, product code).
POSITION_KINDS = OrderedDict([("standard", ("tprods/getPSFPos.php", "psf")),
                              ("enhanced", ("tprods/getEnhPos.php", "enh")),
                              ("astrometric", ("tprods/getAstromPos.php", "xastrom"))])

# Other spellings seen in the UKSSDC documentation and in users' hands.
_ALIASES = {"standardpos": "standard_position", "enhancedpos": "enhanced_position",
            "astrompos": "astrometric_position", "sourcelist": "source_detection"}


_SEPARATORS = re.compile(r"[\s_\-]")


def _squeeze(text):
    return _SEPARATORS.sub("", str(text)).lower()


# Every accepted spelling, squeezed -> its product; the first product in the service's order wins a
# shared spelling. (Looked up on every status, retrieval and parameter check: a dict, not a scan.)
_SPELLINGS = {}
for _p in PRODUCTS.values():
    for _n in (_p.key, _p.long_name, _p.label, _p.code, _p.flag):
        _SPELLINGS.setdefault(_squeeze(_n), _p)
for _alias, _key in _ALIASES.items():
    _SPELLINGS.setdefault(_alias, PRODUCTS[_key])
del _p, _n, _alias, _key


def suggest(name, candidates):
    """A ``" (did you mean ...?)"`` hint listing close matches of ``name``, or ``""``."""
    candidates = [str(c) for c in dict.fromkeys(candidates)]
    lower = {}
    for c in candidates:
        lower.setdefault(c.lower(), c)  # the first spelling (the friendly one) wins
    close = difflib.get_close_matches(str(name).lower(), list(lower), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(lower[c]) for c in close) + "?)"


def product(spelling, *, name="product"):
    """Return the `Product` for any spelling of a product.

    Parameters
    ----------
    spelling : str or `Product`
        The friendly key (``"lightcurve"``), the long name (``"LightCurve"``),
        the short code (``"lc"``), the submission flag (``"dopsf"``) or the
        label (``"light curve"``); case and ``-``/``_``/space are ignored.
    name : str
        The argument's name, for the error message.

    Raises
    ------
    InvalidRequestError
        If the spelling names no product, naming ``name`` and the allowed values.
    """
    if isinstance(spelling, Product):
        return spelling
    if isinstance(spelling, str):
        found = _SPELLINGS.get(_squeeze(spelling))
        if found is not None:
            return found
    hint = suggest(spelling, [s for p in PRODUCTS.values() for s in (p.key, p.long_name, p.code)])
    from .exceptions import InvalidRequestError  # only here: the CLI's parser needs no astropy
    raise InvalidRequestError(f"{name}: {spelling!r} is not a product{hint}; allowed: "
                              f"{', '.join(PRODUCTS)} (or their codes "
                              f"{', '.join(p.code for p in PRODUCTS.values())}, or the UKSSDC names "
                              f"{', '.join(p.long_name for p in PRODUCTS.values())})")


def product_key(spelling, *, name="products"):
    """The friendly key of a product from any accepted spelling (see `product`)."""
    return product(spelling, name=name).key


def product_code(spelling):
    """The service's product code (``lc``, ``spec``, ...) of a product spelling."""
    return product(spelling).code


def product_keys():
    """The friendly keys of every product, in the service's order."""
    return list(PRODUCTS)


def product_keys_from(products, name="products"):
    """Product keys from a comma-separated string, ``"all"`` or a list of spellings (None: None)."""
    if products is None:
        return None
    if isinstance(products, str):
        if products.strip().lower() == "all":
            return product_keys()
        products = [p for p in products.split(",") if p.strip()]
    keys = []
    for item in products:
        key = product_key(item, name=name)
        if key not in keys:
            keys.append(key)
    if not keys:
        from .exceptions import InvalidRequestError  # only here: the CLI's parser needs no astropy
        raise InvalidRequestError(f"{name}: no product given; allowed: {', '.join(PRODUCTS)}")
    return keys


def position_kind(kind):
    """Normalise a position kind: standard, enhanced or astrometric.

    Also accepts the product keys (``standard_position``) and codes (``psf``).
    """
    text = str(kind).strip().lower()
    for name, (_, code) in POSITION_KINDS.items():
        if text in (name, f"{name}_position", code.lower(), f"{name} position"):
            return name
    from .exceptions import InvalidRequestError  # only here: the CLI's parser needs no astropy
    raise InvalidRequestError(f"kind: {kind!r} is not a position kind; allowed: "
                              f"{', '.join(POSITION_KINDS)}")


#: database -> tables of the catalogue query interface (catalogue spec §4.1); here, not in
#: ``catalogues.py``, so the command line can name them without importing astropy.
CATALOGS = {
    "obs": ("swiftmastr", "swiftxrlog", "swiftbalog", "swiftuvlog", "swifttdrss"),
    "LSXPS": ("sources", "datasets", "detections", "obssources", "xcorr", "transients", "oldstacks"),
    "2SXPS": ("sources", "datasets", "detections", "xcorr"),
    "UK_XRT": ("XRTLiveCat",),
    "SDC_GRB": ("SDC_Data_Table",),
    "BAT_GRB": ("BATGRBCat",),
}
