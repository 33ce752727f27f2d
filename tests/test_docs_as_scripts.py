# Licensed under a 3-clause BSD style license - see LICENSE
"""
Every page's code, pasted into a script, runs as printed with only ``XRTPRODS_SERVER=local`` set.

For README.rst and each documentation page, the code a reader would type (the ``>>>`` lines,
``.. code-block:: python`` and ``.. plot::`` blocks, in page order) is written to a script and run
in a fresh Python process with a fresh HOME, XDG_CACHE_HOME, XDG_CONFIG_HOME and working folder and
no environment but ``XRTPRODS_SERVER=local`` (and what any process needs: PATH, locale). It must
exit 0 within `TIMEOUT` seconds. The same script is then run a second time, in the same HOME and
folder as a user re-running it: it must submit no new job to the local service (request reuse),
except the ones the page asks for explicitly with ``reuse=False``.

Code a reader is not meant to run as it stands (a test file for pytest, another package's API) is
marked in the page with an rst comment ``.. not-a-script: <reason>`` just before its block; code
needing the network sits in ``.. doctest-remote-data::`` blocks. Neither is part of the script.
"""
import doctest
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Seconds one run of a page's script may take (the issue's "each within a minute").
TIMEOUT = 60
#: Pages run in parallel: mostly waiting for local jobs (about 2 s each), so more than the cores.
WORKERS = 4

#: Directives whose content is never part of the script: network-only examples.
_NOT_RUN = {"doctest-remote-data", "doctest-skip", "doctest-remote-data-all"}
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?P<name>[\w-]+)::\s*(?P<arg>.*)$")
_SKIP_MARK = re.compile(r"^\s*\.\.\s+not-a-script:\s*(?P<reason>.*\S)?\s*$")
_JOBS_TAG = "XRTPRODS-DOCS-JOBS "
# pytest-doctestplus's options, which the pages use, so that doctest's own parser accepts them.
for _flag in ("IGNORE_OUTPUT", "IGNORE_OUTPUT_2", "IGNORE_OUTPUT_3", "FLOAT_CMP", "REMOTE_DATA",
              "IGNORE_WARNINGS", "SHOW_WARNINGS"):
    doctest.register_optionflag(_flag)
# Appended to every script: the JobIDs the local service keeps (persisted, one file per job).
_EPILOGUE = f"""
import json as _json
from xrtprods_astro.localmode import local_data_dir as _local_data_dir
print({_JOBS_TAG!r} + _json.dumps(sorted(int(p.stem) for p in _local_data_dir().glob("state/*.json"))))
"""


def _block(lines, start, indent):
    """The content lines of the directive at ``lines[start]`` (options dropped) and the index after it."""
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or
                                len(lines[end]) - len(lines[end].lstrip()) > len(indent)):
        end += 1
    content = lines[start + 1:end]
    # Options (``:alt: ...``, ``:context: reset``) come first, before a blank line.
    while content and re.match(r"^\s*:[\w-]+:", content[0]):
        content = content[1:]
    return textwrap.dedent("\n".join(content)).strip("\n"), end


def _doctest_source(text):
    """The source of the ``>>>`` examples in ``text``, as doctest itself parses them."""
    return "".join(example.source for example in doctest.DocTestParser().get_examples(text))


def extract_code(path):
    """The code of one rst page, in page order, and the blocks left out with their reasons.

    Returns
    -------
    script : str
    skipped : list of str
        The reasons of the ``.. not-a-script:`` blocks.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    pieces, prose, skipped = [], [], []
    skip_next = None
    i = 0

    def flush():
        if prose:
            pieces.append(_doctest_source("\n".join(prose) + "\n"))
            prose.clear()

    while i < len(lines):
        mark = _SKIP_MARK.match(lines[i])
        if mark:
            assert mark.group("reason"), f"{path.name}:{i + 1}: '.. not-a-script:' needs a reason"
            skip_next = mark.group("reason")
            i += 1
            continue
        match = _DIRECTIVE.match(lines[i])
        if match and (match.group("name") in _NOT_RUN or match.group("name") == "plot" or
                      (match.group("name") in ("code-block", "code") and match.group("arg") == "python")):
            content, end = _block(lines, i, match.group("indent"))
            if skip_next is not None:
                skipped.append(skip_next)
            elif match.group("name") not in _NOT_RUN:
                flush()
                pieces.append(content + "\n")
            skip_next = None
            i = end
            continue
        if lines[i].strip() and not lines[i].lstrip().startswith(".. "):
            skip_next = None   # a marker applies to the very next block only
        prose.append(lines[i])
        i += 1
    flush()
    return "".join(pieces), skipped


def _pages():
    pages = [ROOT / "README.rst"] + sorted(DOCS.rglob("*.rst"))
    return [page for page in pages if "_build" not in page.parts and extract_code(page)[0].strip()]


PAGES = {page.relative_to(ROOT).as_posix(): page for page in _pages()}


def _run(script, home, work):
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
           if key in os.environ}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_CONFIG_HOME=str(home / ".config"),
               XRTPRODS_SERVER="local")
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=work, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        # The partial output is bytes here even with text=True (a subprocess quirk).
        output = [part.decode(errors="replace") if isinstance(part, bytes) else part or ""
                  for part in (exc.stdout, exc.stderr)]
        return {"returncode": None, "seconds": time.perf_counter() - start, "jobs": None,
                "output": f"timed out after {TIMEOUT} s\n" + "\n".join(output)}
    seconds = time.perf_counter() - start
    jobs = [json.loads(line[len(_JOBS_TAG):]) for line in done.stdout.splitlines()
            if line.startswith(_JOBS_TAG)]
    return {"returncode": done.returncode, "seconds": seconds, "jobs": jobs[-1] if jobs else None,
            "output": done.stdout[-3000:] + "\n" + done.stderr[-6000:]}


def _run_page(name, base):
    slug = re.sub(r"\W+", "_", name)
    home, work = base / slug / "home", base / slug / "work"
    for folder in (home / ".cache", home / ".config", work):
        folder.mkdir(parents=True)
    script = base / slug / "page.py"
    code, _ = extract_code(PAGES[name])
    script.write_text(code + _EPILOGUE, encoding="utf-8")
    first = _run(script, home, work)
    second = _run(script, home, work) if first["returncode"] == 0 else None
    return {"code": code, "first": first, "second": second}


@pytest.fixture(scope="module")
def page_runs(request, tmp_path_factory):
    """Run the selected pages' scripts, several pages at once, each page's two runs in turn."""
    wanted = [item.callspec.params["page"] for item in request.session.items
              if getattr(item, "originalname", None) == "test_page_runs_as_a_script_and_reuses_its_jobs"]
    base = tmp_path_factory.mktemp("pages")
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(_run_page, name, base) for name in dict.fromkeys(wanted)}
        runs = {name: future.result() for name, future in futures.items()}
    # The timings, for the report (pytest -s shows them).
    for name, run in runs.items():
        second = run["second"]["seconds"] if run["second"] else float("nan")
        print(f"\n{name}: first run {run['first']['seconds']:.1f} s, second run {second:.1f} s")
    return runs


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_runs_as_a_script_and_reuses_its_jobs(page, page_runs):
    run = page_runs[page]
    first, second = run["first"], run["second"]
    assert first["returncode"] == 0, f"{page} fails as a script:\n{first['output']}"
    assert second["returncode"] == 0, f"{page} fails when run a second time:\n{second['output']}"
    new = sorted(set(second["jobs"]) - set(first["jobs"]))
    # Only ``reuse=False`` asks for a new job on every run.
    assert len(new) == run["code"].count("reuse=False"), (
        f"{page}: the second run submitted jobs {new} again instead of reusing them")


def test_extraction_keeps_page_order_and_leaves_out_marked_and_remote_blocks(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text(textwrap.dedent("""\
        Title
        =====

        >>> a = 1
        >>> for i in range(2):
        ...     a += i
        >>> a
        2

        .. code-block:: python

            b = a + 1

        .. not-a-script: uses another package

        .. code-block:: python

            import not_installed

        .. doctest-remote-data::

            >>> import network_only

        .. plot::
           :alt: a figure

           c = b + 1

        .. code-block:: shell

            export XRTPRODS_SERVER=local
        """))
    code, skipped = extract_code(page)
    assert code == "a = 1\nfor i in range(2):\n    a += i\na\nb = a + 1\nc = b + 1\n"
    assert skipped == ["uses another package"]


#: The blocks left out of the scripts, page by page, with the reason the page gives (a new one
#: must be added here on purpose). Network-only examples are ``doctest-remote-data`` blocks.
NOT_SCRIPTS = {
    "docs/migration.rst": ["swifttools code, for comparison (it needs swifttools and the real service)"] * 2,
    "docs/tutorials/offline.rst": ["a test file for pytest, importing your own pipeline module"],
    "docs/tutorials/spectrum.rst": ["needs Sherpa, which this package does not install"],
}


def test_only_the_listed_blocks_are_left_out_of_the_scripts():
    left_out = {name: extract_code(path)[1] for name, path in PAGES.items() if extract_code(path)[1]}
    assert left_out == NOT_SCRIPTS


#: The note every docs page with code includes at its top (README says it in its code block).
OFFLINE_NOTE = DOCS / "_includes" / "offline_note.rst"
#: Pages with code not (yet) carrying the note, each with the reason.
NOTE_PENDING = {}


def test_every_page_with_code_says_how_to_run_it_offline():
    assert "export XRTPRODS_SERVER=local" in OFFLINE_NOTE.read_text(encoding="utf-8")
    missing = []
    for name, path in PAGES.items():
        text = path.read_text(encoding="utf-8")
        # At the top of the page, before the first example; in README, atop its code.
        head = extract_code(path)[0][:300] if name == "README.rst" else "\n".join(text.splitlines()[:25])
        if name not in NOTE_PENDING and ".. include:: /_includes/offline_note.rst" not in head \
                and "XRTPRODS_SERVER=local" not in head:
            missing.append(name)
    assert not missing, f"pages with code that do not say at their top how to run it offline: {missing}"
