# Licensed under a 3-clause BSD style license - see LICENSE
"""README.rst renders cleanly (as PyPI renders it), and CI runs the command the README shows."""
import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import readme_renderer.rst as readme_renderer_rst

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.rst"


def _render():
    messages = io.StringIO()
    rendered = readme_renderer_rst.render(README.read_text(encoding="utf-8"), stream=messages)
    return rendered, messages.getvalue()


def _code_blocks(rendered):
    """The text of every ``<pre>`` block of the rendered README, as a reader sees it."""
    blocks = re.findall(r"<pre[^>]*>(.*?)</pre>", rendered, flags=re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", block)).strip() for block in blocks]


def test_readme_renders_without_warnings():
    rendered, messages = _render()
    assert rendered is not None, f"README.rst does not render:\n{messages}"
    assert messages == "", f"README.rst renders with warnings:\n{messages}"


def test_no_marker_comment_is_shown_in_the_readme():
    rendered, _ = _render()
    assert "command-start" not in rendered and "command-end" not in rendered
    assert "<blockquote>" not in rendered  # a command shown as a quote, not as code


@pytest.mark.skipif(shutil.which("bash") is None, reason="the CI script is a bash script")
def test_ci_runs_the_test_command_the_readme_shows():
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run"), "--print-test-command"], capture_output=True,
                          text=True, timeout=60, check=True)
    command = done.stdout.strip()
    assert command.startswith("python -m pip install") and "pytest" in command
    rendered, _ = _render()
    assert command in _code_blocks(rendered)


def test_main_command_is_a_code_block_of_its_own():
    text = README.read_text(encoding="utf-8")
    between = re.search(r"^\.\. main-command-start$(.*?)^\.\. main-command-end$", text, flags=re.S | re.M)
    assert between, "README.rst lost its main-command markers"
    command = " ".join(line.strip() for line in between.group(1).splitlines()
                       if line.strip() and not line.startswith(".."))
    rendered, _ = _render()
    assert command == "python -m pip install . && xrtprods demo"
    assert command in _code_blocks(rendered)


def test_quick_look_says_how_to_run_it_offline_and_against_ukssdc():
    """The quick look's first lines say how to run it offline and with a registered address.

    tests/test_docs_as_scripts.py runs the quick look itself as a script, twice, with only
    ``XRTPRODS_SERVER=local`` set.
    """
    rendered, _ = _render()
    quick_look = next(block for block in _code_blocks(rendered) if "get_lightcurve" in block)
    first, second = quick_look.splitlines()[:2]
    assert first.startswith("#") and "export XRTPRODS_SERVER=local" in first
    assert second.startswith("#") and "registered address" in second
    assert 'XRTProducts.login("' in quick_look
