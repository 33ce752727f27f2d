# Licensed under a 3-clause BSD style license - see LICENSE
"""Start-up cost: what importing the client and running the command line import (never timed here)."""
import subprocess
import sys


def _python(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_line_answers_help_without_astropy():
    heavy = "('numpy', 'astropy', 'astroquery', 'requests')"
    out = _python("import sys\nfrom xrtprods_astro.cli import main\ncode = main(['--help'])\n"
                  f"print('CODE', code, *[m for m in {heavy} if m in sys.modules])")
    assert "xrtprods" in out and out[out.index("CODE"):] == ["CODE", "0"]


def test_a_usage_error_needs_no_astropy_either():
    out = _python("import sys\nfrom xrtprods_astro.cli import main\ncode = main(['status'])\n"
                  "print(code, 'astropy' in sys.modules)")
    assert out == ["2", "False"]


def test_importing_the_package_imports_no_astropy_and_conf_follows_astropy_log_level(tmp_path):
    # astropy's [logger] log_level is applied once the configuration is read, as at import before.
    config = tmp_path / "astropy"
    config.mkdir()
    (config / "astropy.cfg").write_text("[logger]\nlog_level = WARNING\n")
    code = ("import os, sys\nos.environ['XDG_CONFIG_HOME'] = sys.argv[1]\n"
            "import xrtprods_astro\nprint('astropy' in sys.modules)\n"
            "xrtprods_astro.conf.server\nprint(xrtprods_astro.log.getEffectiveLevel())\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["False", "30"], done.stderr


def test_a_level_set_before_the_configuration_is_read_is_kept():
    out = _python("import xrtprods_astro\nxrtprods_astro.log.setLevel('ERROR')\n"
                  "xrtprods_astro.conf.server\nprint(xrtprods_astro.log.level)")
    assert out == ["40"]


def test_the_package_lists_every_exception():
    import xrtprods_astro
    from xrtprods_astro import exceptions
    assert list(xrtprods_astro._EXCEPTIONS) == list(exceptions.__all__)
