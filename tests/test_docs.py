"""The documentation: the README's and every docs/ page's Python examples run as written,
each block as a script of its own in a child process, outside the source tree; and what
can be checked without Sphinx is checked here (every page in a table of contents, every
public name on the API page, every subcommand and pytest option documented, the README's
links and first lines, the changelog's release entry). The Sphinx build itself, with
warnings as errors, runs in .ci/run (it needs the docs extra and takes longer)."""

import ast
import platform
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requires import require_module

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MARKDOWN = [README, *sorted(path for path in DOCS.rglob("*.md")
                            if not path.relative_to(DOCS).parts[0].startswith("_"))]
PAGES = sorted(path for path in DOCS.rglob("*") if path.suffix in (".md", ".rst")
               and not path.relative_to(DOCS).parts[0].startswith("_"))

# Every block, those indented under a list item too (their fence is indented as well).
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```$", re.S | re.M)


def _label(path):
    return path.relative_to(ROOT).as_posix()


BLOCKS = [(_label(path), textwrap.dedent(body))
          for path in MARKDOWN for _, body in FENCE.findall(path.read_text())]

# Packages of the test extra that a block may need: module -> pip package. A block needs
# one when it imports it, or imports the vdsotime module that needs it.
OPTIONAL = {"pyperf": "pyperf", "numba": "numba", "cffi": "cffi", "matplotlib": "matplotlib",
            "time_machine": "time-machine", "freezegun": "freezegun", "hdrh": "hdrhistogram"}
NEEDS = {"vdsotime.plot": "matplotlib", "vdsotime.numba": "numba"}

# Examples of the x86 time-stamp counter.
TSC = re.compile(r"\b(sample_tsc|calibrate_tsc|tsc_skew)\(")

# Extra arguments for a block that is a pyperf script: one value in one process, which
# runs the whole pyperf path in well under a second.
PYPERF_ARGS = ["--debug-single-value", "--quiet"]


def imported_modules(block):
    """The modules a block imports (dotted names, and each of their parents)."""
    names = set()
    for node in ast.walk(ast.parse(block)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {".".join(name.split(".")[:k + 1]) for name in names
            for k in range(name.count(".") + 1)}


def _default_sigint():
    # A block may send itself SIGINT (the Ctrl-C examples): give the child Python's
    # KeyboardInterrupt even when pytest runs with SIGINT ignored (nohup, a background
    # shell), which the child would inherit.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_pages_have_python_blocks():
    assert all(block.strip() for _, block in BLOCKS)
    for path in MARKDOWN:
        # As many blocks as fences that open one, wherever they stand.
        opened = re.findall(r"^ *```python$", path.read_text(), re.M)
        assert len([1 for label, _ in BLOCKS if label == _label(path)]) == len(opened), path
    pages = {label for label, _ in BLOCKS}
    assert {"README.md", "docs/clocks.md", "docs/sampling.md", "docs/comparing.md",
            "docs/c-api.md"} <= pages
    # reStructuredText pages hold no examples, which this test would not see.
    for path in PAGES:
        if path.suffix == ".rst":
            assert not re.search(r"code-block::\s*python|^\.\. code::", path.read_text(),
                                 re.M), path


# Ids start with the block's first line, so that a list of ids by prefix (the i386 leg's
# exclusions) keeps naming the same block when a page gains another before it.
@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"{block.splitlines()[0][:30]}-{label}-block{k}"
                              for k, (label, block) in enumerate(BLOCKS)])
def test_block_runs(index, tmp_path):
    label, block = BLOCKS[index]
    if TSC.search(block) and platform.machine() != "x86_64":
        pytest.skip("the TSC examples are for x86-64")
    # Packages of the test extra that a block uses (the i386 leg's root lacks some).
    modules = imported_modules(block)
    needed = {name for name in modules if name in OPTIONAL}
    needed |= {NEEDS[name] for name in modules if name in NEEDS}
    for name in sorted(needed):
        require_module(name, OPTIONAL[name])
    if re.search(r"^def test_", block, re.M):  # a pytest example: run it under pytest
        script = tmp_path / f"test_docs_block_{index}.py"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   str(script)]
    else:
        script = tmp_path / f"docs_block_{index}.py"
        command = [sys.executable, str(script)]
        if "pyperf.Runner()" in block:
            command += PYPERF_ARGS
    script.write_text(block)
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path,
                            timeout=300, preexec_fn=_default_sigint)
    assert result.returncode == 0, (label, block, result.stdout[-3000:],
                                    result.stderr[-3000:])


def test_cython_examples_cimport_what_clock_pxd_declares():
    declared = set(re.findall(r"^cdef inline \w+ (\w+)\(|^    (\w+) = \d+",
                              (ROOT / "vdsotime" / "clock.pxd").read_text(), re.M))
    declared = {name for pair in declared for name in pair if name}
    fence = re.compile(r"^```cython\n(.*?)^```$", re.S | re.M)
    blocks = [body for path in MARKDOWN for body in fence.findall(path.read_text())]
    assert blocks
    for block in blocks:
        for grouped, line in re.findall(r"from vdsotime\.clock cimport "
                                        r"(?:\(([^)]*)\)|([^\n]+))", block):
            cimported = {name.strip() for name in (grouped or line).split(",")
                         if name.strip()}
            assert cimported <= declared, cimported - declared


# What the site holds, checked without Sphinx.

def _toctree_entries():
    entries = set()
    for path in PAGES:
        text = path.read_text()
        trees = re.findall(r"^```\{toctree\}\n(.*?)^```$", text, re.S | re.M)
        trees += re.findall(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)*)", text, re.M)
        for tree in trees:
            for line in tree.splitlines():
                line = line.strip()
                if line and not line.startswith(":"):
                    entries.add((path.parent / line).relative_to(DOCS).as_posix())
    return entries


def test_every_page_is_in_a_table_of_contents():
    pages = {path.relative_to(DOCS).with_suffix("").as_posix() for path in PAGES}
    entries = _toctree_entries()
    assert entries <= pages, entries - pages           # no entry without its page
    assert pages - {"index"} <= entries, pages - entries - {"index"}


def test_every_public_name_is_on_the_api_page():
    import vdsotime

    api = (DOCS / "api.rst").read_text()
    documented = set(re.findall(r"^\.\. (?:auto\w+|py:\w+):: (\w+)", api, re.M))
    missing = sorted(set(vdsotime.__all__) - documented)
    assert missing == [], f"not on docs/api.rst: {missing}"
    for module in ("stats", "plot", "testing", "numba", "pytest_plugin"):
        assert f".. automodule:: vdsotime.{module}\n" in api, module
    assert ".. autofunction:: vdsotime.pytest_plugin.latency" in api


def _subcommands():
    import argparse

    from vdsotime.cli import build_parser

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def test_every_subcommand_is_documented():
    cli = (DOCS / "cli.md").read_text()
    commands = _subcommands()
    assert {"info", "bench", "compare", "compare-runs", "doctor"} <= set(commands)
    for command in commands:
        assert f"\n## vdsotime {command}\n" in cli, command
        assert f"```{{vdsotime-help}} {command}\n```" in cli, command
    sections = re.findall(r"^## vdsotime (\S+)$", cli, re.M)
    assert sorted(sections) == sorted(commands)  # none documented that does not exist
    assert "```{vdsotime-help}\n```" in cli  # the top-level help


def test_every_pytest_option_is_documented():
    from vdsotime import pytest_plugin

    class Recorder:
        options = []

        def getgroup(self, *args, **kwargs):
            return self

        def addoption(self, *names, **settings):
            self.options.extend(names)

    recorder = Recorder()
    pytest_plugin.pytest_addoption(recorder)
    assert recorder.options
    text = (DOCS / "comparing.md").read_text()
    assert "```{vdsotime-pytest-options}\n```" in text
    for option in recorder.options:
        assert re.search(rf"{re.escape(option)}\b", text), option


def _slug(heading):
    """The anchor GitHub and myst give a heading."""
    heading = re.sub(r"`", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def test_the_readme_links_into_docs_that_exist():
    links = re.findall(r"\]\((docs/[^)#\s]+)(?:#([^)\s]+))?\)", README.read_text())
    assert len(links) >= 5
    for target, anchor in links:
        path = ROOT / target
        assert path.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
            assert anchor in {_slug(heading) for heading in headings}, (target, anchor)


def test_the_readme_opens_with_the_commands_ci_runs():
    text = README.read_text()
    assert text.startswith("# vdsotime\n\n```sh\npip install . && vdsotime info\n"
                           "pip install '.[test]' && pytest\n```\n")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npip install '.[test]' && pytest\n" in ci  # word for word
    # ... and then builds the docs with warnings as errors.
    build = (r"\npip install (-q )?'\.\[docs\]'\n"
             r"sphinx-build -W --keep-going (-q )?-b html docs docs/_build/html\n")
    assert re.search(build, ci)
    assert len(text.splitlines()) <= 150  # a front door; the rest is in docs/
    # It says how to build the docs.
    assert "sphinx-build" in text and "'.[docs]'" in text


def test_the_changelog_has_unreleased_and_this_version():
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(),
                        re.M).group(1)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert releases[0] == "Unreleased"
    assert version in releases, (version, releases)
    assert "```{include} ../CHANGELOG.md" in (DOCS / "changelog.md").read_text()
