# Licensed under a 3-clause BSD style license - see LICENSE
"""
The local XRT products service: an independent implementation of the UKSSDC protocol.

It shares no code with the client side of the package: it follows
protocol.md on its own, so a client and this service agreeing is evidence that
both follow the specification. Start it with ``python -m xrtprods_astro.server``,
as a context manager (`LocalService`), or through the pytest fixtures
``xrtprods_service`` and ``xrtprods_service_factory`` of the opt-in plugin
``xrtprods_astro.server.pytest_plugin``.

Importing this package is cheap: `LocalService` and `FaultConfig` are loaded
on first use.
"""

__all__ = ["LocalService", "FaultConfig"]


def __getattr__(name):
    if name == "LocalService":
        from .app import LocalService
        return LocalService
    if name == "FaultConfig":
        from .faults import FaultConfig
        return FaultConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
