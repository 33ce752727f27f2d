# Licensed under a 3-clause BSD style license - see LICENSE
"""Sphinx configuration for xrtprods_astro."""
import datetime
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from sphinx_astropy.conf.v2 import *  # noqa: F401,F403
from sphinx_astropy.conf.v2 import exclude_patterns, intersphinx_mapping  # noqa: F401

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
extensions = list(extensions) + ["xrtprods_params"]  # noqa: F405
# Optional niceties of the confv2 list: build without them when they are not installed.
for _optional in ("sphinx_copybutton",):
    try:
        __import__(_optional)
    except ImportError:
        extensions.remove(_optional)

exclude_patterns = list(exclude_patterns) + ["_build", "**.ipynb_checkpoints"]
intersphinx_mapping = dict(intersphinx_mapping)
# The network is not always there: keep the docs build independent of it.
intersphinx_mapping.clear()
intersphinx_disabled_reftypes = ["*"]

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
