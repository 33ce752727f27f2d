# Licensed under a 3-clause BSD style license - see LICENSE
"""Start-up cost: what importing the client and running the command line import (never timed here)."""
import subprocess
import sys


def _python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_client_does_not_import_pyvo_until_pyvo_is_used():
    out = _python("import sys\nfrom xrtprods_astro import XRTProducts\nprint('pyvo' in sys.modules)\n"
                  "from astroquery.query import BaseVOQuery\n"
                  "agent = BaseVOQuery()._session.headers['User-Agent']\n"
                  "import pyvo, pyvo.dal\n"
                  "print(f'pyVO/{pyvo.__version__}' in agent, type(pyvo).__name__, hasattr(pyvo.dal, 'TAPService'))")
    # Not imported by the client; astroquery's VO queries still name pyvo's version; pyvo is the real one.
    assert out == ["False", "True", "module", "True"]
