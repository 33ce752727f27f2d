# Licensed under a 3-clause BSD style license - see LICENSE
"""The package's top level: public names, lazy imports, logging, and the opt-in pytest plugin."""
import importlib
import importlib.metadata
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import xrtprods_astro

ROOT = Path(__file__).resolve().parents[1]


def _python(code, cwd=None):
    """Run ``code`` in a fresh interpreter with no logging configured; return the completed process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=True)


# ------------------------------------------------------------------------------------ public names

@pytest.mark.parametrize("name, module", [
    ("XRTProducts", "xrtprods_astro.core"),
    ("XRTProductsClass", "xrtprods_astro.core"),
    ("SpectrumResult", "xrtprods_astro.core"),
    ("XRTJob", "xrtprods_astro.job"),
    ("ProductRequest", "xrtprods_astro.request"),
    ("run_batch", "xrtprods_astro.batch"),
    ("BatchRun", "xrtprods_astro.batch"),
    ("LightCurve", "xrtprods_astro.readers.lightcurve"),
    ("Position", "xrtprods_astro.readers.positions"),
    ("ImageSet", "xrtprods_astro.readers.images"),
    ("SpectrumProducts", "xrtprods_astro.readers.spectrum"),
    ("ModeProducts", "xrtprods_astro.readers.spectrum"),
])
def test_top_level_name_is_the_defining_object(name, module):
    assert name in dir(xrtprods_astro)
    assert getattr(xrtprods_astro, name) is getattr(importlib.import_module(module), name)
    if not module.startswith("xrtprods_astro.readers"):
        assert name in xrtprods_astro.__all__


def test_every_name_in_all_resolves_and_star_import_works():
    for name in xrtprods_astro.__all__:
        assert getattr(xrtprods_astro, name) is not None, name
    namespace = {}
    exec("from xrtprods_astro import *", namespace)
    assert set(xrtprods_astro.__all__) <= set(namespace)
    assert set(xrtprods_astro.__all__) <= set(dir(xrtprods_astro))


def test_exceptions_are_exported():
    from xrtprods_astro import exceptions
    for name in exceptions.__all__:
        assert name in xrtprods_astro.__all__
        assert getattr(xrtprods_astro, name) is getattr(exceptions, name)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        xrtprods_astro.NoSuchThing
    assert not hasattr(xrtprods_astro, "NoSuchThing")


LOADED = "print(' '.join(m for m in sys.modules if m.startswith('xrtprods_astro')))"


def test_importing_the_package_imports_no_client_batch_or_reader_module():
    loaded = _python("import sys, xrtprods_astro\n" + LOADED).stdout.split()
    assert set(loaded) <= {"xrtprods_astro", "xrtprods_astro.exceptions", "xrtprods_astro.version"}, loaded


def test_the_client_alone_does_not_import_the_batch_runner():
    loaded = _python("import sys\nfrom xrtprods_astro import XRTProducts\n" + LOADED).stdout.split()
    assert "xrtprods_astro.core" in loaded
    assert "xrtprods_astro.batch" not in loaded


# --------------------------------------------------------------------------------------- logging

EMIT = ("import logging\n"
        "logging.getLogger('xrtprods_astro.job').info('one record %s', 'xrt-7f3a')\n")


def test_info_is_shown_by_default():
    done = _python("import xrtprods_astro\n" + EMIT)
    assert done.stderr.count("xrt-7f3a") == 1, done.stderr
    assert "INFO: one record xrt-7f3a [xrtprods_astro.job]" in done.stderr
    assert done.stdout == ""


def test_progress_is_enabled_by_default():
    done = _python("import logging, xrtprods_astro\n"
                   "print(logging.getLogger('xrtprods_astro.batch').isEnabledFor(logging.INFO))")
    assert done.stdout.strip() == "True"


@pytest.mark.parametrize("order", ["basicConfig first", "package first"])
def test_basic_config_sees_each_record_once(order):
    configure = "import logging\nlogging.basicConfig(level=logging.INFO, format='APP %(name)s %(message)s')\n"
    steps = [configure, "import xrtprods_astro\n"]
    if order == "package first":
        steps.reverse()
    done = _python("".join(steps) + EMIT)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "xrt-7f3a" in line]
    assert lines == ["APP xrtprods_astro.job one record xrt-7f3a"]


def test_a_handler_on_the_package_logger_gets_each_record_once():
    done = _python("import logging, sys, xrtprods_astro\n"
                   "handler = logging.StreamHandler(sys.stdout)\n"
                   "handler.setFormatter(logging.Formatter('MINE %(message)s'))\n"
                   "xrtprods_astro.log.addHandler(handler)\n" + EMIT)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "xrt-7f3a" in line]
    assert lines == ["MINE one record xrt-7f3a"]


def test_warning_level_silences_info():
    done = _python("import xrtprods_astro\nxrtprods_astro.log.setLevel('WARNING')\n" + EMIT)
    assert "xrt-7f3a" not in done.stdout + done.stderr


def test_a_level_set_before_the_import_is_kept():
    # An application (or a benchmark) that quiets the package before importing it stays quiet:
    # the import used to put INFO back.
    done = _python("import logging\nlogging.getLogger('xrtprods_astro').setLevel('WARNING')\n"
                   "import xrtprods_astro\nprint(xrtprods_astro.log.level)\n" + EMIT)
    assert done.stdout.splitlines()[0] == str(logging.WARNING)
    assert "xrt-7f3a" not in done.stdout + done.stderr


def test_reloading_the_package_keeps_one_fallback():
    done = _python("import importlib, xrtprods_astro\nimportlib.reload(xrtprods_astro)\n" + EMIT)
    assert done.stderr.count("xrt-7f3a") == 1, done.stderr


def test_no_handler_is_added_to_the_root_logger():
    done = _python("import logging, xrtprods_astro\nprint(len(logging.getLogger().handlers))")
    assert done.stdout.strip() == "0"


# ---------------------------------------------------------------------------------- pytest plugin

def test_distribution_declares_no_pytest11_entry_point():
    dist = importlib.metadata.distribution("xrtprods_astro")
    groups = {entry.group for entry in dist.entry_points}
    assert "pytest11" not in groups, ("the installed xrtprods_astro declares a pytest11 entry point; "
                                      "reinstall it (pip install -e .) if pyproject.toml no longer does")


def _pytest_in(folder, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, env=env, cwd=folder, timeout=300)


def test_plugin_is_not_loaded_in_an_unrelated_project(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_nothing_to_do_with_xrt():\n    assert 1 + 1 == 2\n")
    done = _pytest_in(tmp_path, "--trace-config", "--fixtures")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PLUGIN registered:" in done.stdout  # --trace-config lists every plugin loaded
    assert "xrtprods" not in done.stdout + done.stderr


def test_plugin_is_enabled_with_p(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_nothing_to_do_with_xrt():\n    assert 1 + 1 == 2\n")
    done = _pytest_in(tmp_path, "-p", "xrtprods_astro.server.pytest_plugin", "--fixtures")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "xrtprods_service " in done.stdout or "xrtprods_service [session scope]" in done.stdout
    assert "xrtprods_service_factory" in done.stdout


# ------------------------------------------------------------------------ the suite's own conftest

def test_conftest_hides_the_identity_from_offline_tests_only(tmp_path):
    # Run two tests under tests/conftest.py (loaded as a plugin) with a developer's identity set
    # and remote data enabled: the offline test must not see it, the remote one must.
    (tmp_path / "test_identity.py").write_text(
        "import os\nimport pytest\n\n\n"
        "def test_offline():\n    assert 'XRTPRODS_EMAIL' not in os.environ\n\n\n"
        "@pytest.mark.remote_data\n"
        "def test_remote():\n    assert os.environ['XRTPRODS_EMAIL'] == 'developer@example.org'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(XRTPRODS_EMAIL="developer@example.org", PYTHONPATH=str(ROOT / "tests"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "conftest",
                           "--remote-data=any", "-v", "test_identity.py"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_offline PASSED" in done.stdout and "test_remote PASSED" in done.stdout
