# Licensed under a 3-clause BSD style license - see LICENSE
"""
What every UKSSDC service client shares, as astroquery.mast's ``services``
module is to its ``Observations``, ``Catalogs`` and ``Tesscut``.

The product generator (`~xrtprods_astro.core.XRTProductsClass`), the GRB
repository (`~xrtprods_astro.grb.GRBClass`) and the catalogues
(`~xrtprods_astro.catalogues.CataloguesClass`) speak to one host through one
`~xrtprods_astro.transport.Transport`; `ServiceClient` gives each the same
``server`` setting (``"local"`` for the bundled service), the same private
cache folder and the same copy rule. It imports no astroquery, so that the
command line's light `~xrtprods_astro.jobcontrol.JobControl` can use it.
"""
import os
from pathlib import Path

from .transport import check_url

__all__ = ["ServiceClient", "private_cache_folder"]


def private_cache_folder(location=None, name="XRTProducts"):
    """The folder of a client's cached retrievals, made readable by the user only.

    Parameters
    ----------
    location : path-like, optional
        A folder chosen by the user; default
        ``astropy.config.paths.get_cache_dir('xrtprods_astro')/<name>``.
    name : str
        The client's name (astroquery's ``BaseQuery.name``).

    Returns
    -------
    pathlib.Path
    """
    if location is not None:
        location = Path(location)
    else:
        from astropy.config import paths
        root = Path(paths.get_cache_dir("xrtprods_astro"))
        os.chmod(root, 0o700)
        location = root / name
    location.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(location, 0o700)
    return location


class ServiceClient:
    """The settings every UKSSDC service client shares: its server and its cache folder.

    A mixin: the clients are astroquery ``BaseQuery`` classes, which define
    ``cache_location`` too, so this class comes before ``BaseQuery`` among
    their bases (or the client names ``cache_location = ServiceClient.cache_location``).
    Subclasses set ``self._server`` (the setting as given, or None for
    ``conf.server``) and ``self._cache_location`` (None for the default).
    """

    def __deepcopy__(self, memo):
        # astroquery's cache deep-copies each response before pickling it, and the response's
        # hooks hold a bound method of the client: a client (a session, locks, a cache) is a
        # handle, not a value, so it is not copied (and its locks could not be).
        return self

    @property
    def server(self):
        """Root URL of the UKSSDC site (no trailing slash).

        The setting may be ``"local"``: the bundled service, started in the background on first
        use (see `xrtprods_astro.localmode`); this is then its URL.
        """
        from .localmode import server_url
        server = server_url(self._server).rstrip("/")
        check_url(server, "server")
        return server

    @server.setter
    def server(self, value):
        from .localmode import check_server
        if value is not None:
            check_server(value, "server")
        self._server = value

    @property
    def cache_location(self):
        """Folder of cached retrievals, readable by the user only."""
        return private_cache_folder(getattr(self, "_cache_location", None), self.name)

    @cache_location.setter
    def cache_location(self, location):
        self._cache_location = Path(location)
