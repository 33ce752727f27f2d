# Licensed under a 3-clause BSD style license - see LICENSE
"""
astroquery's `~astroquery.query.BaseQuery`, imported without importing pyvo.

astroquery.query imports pyvo at its top (a third of the client's import time)
only to name pyvo's version in the User-Agent of its VO queries
(``BaseVOQuery``), which this package never makes. Imported from here,
astroquery.query gets a stand-in that imports the real pyvo at the first use
of one of its attributes. The client (`xrtprods_astro.core`) imports this
module before any other of its own that imports astroquery.query.
"""
import importlib
import sys
import types

__all__ = ["BaseQuery"]


class _PyvoOnDemand(types.ModuleType):
    """What astroquery.query gets for ``pyvo``: pyvo, imported at the first use of one of its attributes.

    The stand-in is in `sys.modules` only while astroquery.query is imported; any other
    ``import pyvo`` gets the real module.
    """

    def __getattr__(self, name):
        if name.startswith("__") and name != "__version__":
            raise AttributeError(name)  # inspect.getmodule() probes every module's __file__: not a use
        if sys.modules.get("pyvo") is self:
            del sys.modules["pyvo"]
        return getattr(importlib.import_module("pyvo"), name)


def _import_base_query():
    if "pyvo" in sys.modules or "astroquery.query" in sys.modules:
        from astroquery.query import BaseQuery
        return BaseQuery
    stand_in = sys.modules["pyvo"] = _PyvoOnDemand("pyvo")
    try:
        from astroquery.query import BaseQuery
    finally:
        if sys.modules.get("pyvo") is stand_in:
            del sys.modules["pyvo"]
    return BaseQuery


BaseQuery = _import_base_query()
