# Licensed under a 3-clause BSD style license - see LICENSE
"""Sphinx configuration for xrtprods_astro."""
import datetime
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
from sphinx_astropy.conf.v2 import exclude_patterns  # noqa: F401

with open(Path(__file__).parents[1] / "pyproject.toml", "rb") as fh:
    project_meta = tomllib.load(fh)["project"]

project = project_meta["name"]
author = "xrtprods_astro developers"
copyright = f"{datetime.date.today().year}, {author}"
try:
    release = metadata.version(project)
except metadata.PackageNotFoundError:  # building from a tree never installed
    release = "0.1.dev"
version = release.split("+")[0]

# Local extensions: the parameter tables are generated from the catalogue at build time.
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
extensions = list(extensions) + ["xrtprods_params", "matplotlib.sphinxext.plot_directive"]  # noqa: F405
# Optional niceties of the confv2 list: build without them when they are not installed.
for _optional in ("sphinx_copybutton",):
    try:
        __import__(_optional)
    except ImportError:
        extensions.remove(_optional)

# _includes: pieces included into pages (the offline note), not pages of their own.
exclude_patterns = list(exclude_patterns) + ["_build", "**.ipynb_checkpoints", "_includes"]

# Intersphinx links SkyCoord, Time, ndarray, Figure... to their projects' docs. The
# network is not always there (CI builds offline with -W, and Sphinx warns when an
# inventory cannot be fetched): each project is kept only when its host answers.
_INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
    "astropy": "https://docs.astropy.org/en/stable/",
    "astroquery": "https://astroquery.readthedocs.io/en/latest/",
}


def _reachable(url, timeout=3.0):
    import socket
    from urllib.parse import urlparse
    if os.environ.get("XRTPRODS_DOCS_OFFLINE"):
        return False
    try:
        socket.create_connection((urlparse(url).hostname, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


intersphinx_mapping = {name: (url, None) for name, url in _INTERSPHINX.items() if _reachable(url)}
intersphinx_timeout = 10

html_theme_options = {
    "github_url": "https://github.com/xrtprods/xrtprods_astro",
    "use_edit_page_button": False,
}
html_title = f"{project} v{release}"
nitpicky = False
suppress_warnings = ["config.cache"]

# Documentation pages run as doctests (pytest-doctestplus); Sphinx itself does not run them.
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
numpydoc_show_class_members = False

# Figures: ``.. plot::`` blocks run at build time, as a reader runs them: with
# XRTPRODS_SERVER=local, the one setting each page's note asks for, the client
# starts the package's local service in the background (no network, no
# account, any e-mail address, names resolved by the service, sub-second polls).
# Nothing else is run before a figure's code: it is exactly the code on its page.
os.environ["XRTPRODS_SERVER"] = "local"
# The build's local-service jobs and downloads go to a scratch cache folder, not
# the user's: concurrent builds never share a service, and nothing is left behind.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="xrtprods-docs-cache-")
# The build runs offline: astropy never tries to refresh its IERS tables.
from astropy.utils import iers  # noqa: E402

iers.conf.auto_download = False
plot_pre_code = ""
# Files the figures' code writes go to a scratch folder, not into docs/.
plot_working_directory = tempfile.mkdtemp(prefix="xrtprods-docs-plots-")
plot_include_source = False        # each page shows the same code as a tested example above its figure
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.dpi": 110, "savefig.bbox": "tight"}
