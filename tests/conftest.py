"""pytest fixtures shared by the test modules, and the opt-in slow parts of the suite.

The legs (tools/legs: the suite in Debian roots of other ABIs and Pythons), the sdist
test (``python -m build``: an sdist and a wheel built from it) and the slow checks (tests
marked ``slow``) are not part of a plain ``pytest``: ``--legs=arm64,s390x`` (or
``--legs=all``, or ``VDSOTIME_LEGS=all`` in the environment, as CI sets it) selects
them; ``sdist`` and ``slow`` are names too, and ``all`` includes them. Without it they
skip with one line that says so.

An emulated leg (arm64, s390x, armhf, riscv64, ppc64el: qemu-user) runs the ABI part of
the suite (tools/legs/recipes.py's ABI_PART: the tests of what differs from one ABI to
the next); ``VDSOTIME_LEGS_WHOLE=1`` runs the whole suite there too (hours).

A plain ``pytest`` runs on every core (``-n auto``: pytest-xdist); with a leg selected,
in this one process, where the legs' progress reaches the terminal.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEGS_TOOL = ROOT / "tools" / "legs"
HOW = ("opt in with pytest --legs=all (or --legs=arm64,s390x,...; VDSOTIME_LEGS=all "
       "in the environment)")


# The opt-in parts that run in this pytest, not in a root: the sdist test, and the slow
# checks (tests marked slow: mypy and stubtest on the stubs, the ELF reader against
# pyelftools on the system's libraries, memory growth over many resolutions, the gate's
# calibration over many seeds) -- what a maintainer and CI run, not every user's pytest.
IN_PROCESS = {"sdist": True, "slow": True}


def leg_names():
    """{name: in "all"} of the legs tools/legs/recipes.py defines, and sdist."""
    if not (LEGS_TOOL / "recipes.py").exists():
        return dict(IN_PROCESS)
    sys.path.insert(0, str(LEGS_TOOL))
    try:
        import recipes
    finally:
        sys.path.remove(str(LEGS_TOOL))
    return {**{name: name in recipes.ALL for name in recipes.LEGS}, **IN_PROCESS}


def pytest_addoption(parser):
    parser.addoption("--legs", default=None, metavar="NAMES",
                     help="run these legs of tools/legs (comma-separated names, or all) "
                          "and, named or with all, the sdist test (sdist) and the slow "
                          "checks (slow); default: $VDSOTIME_LEGS, else none. The "
                          "emulated legs run their ABI part; VDSOTIME_LEGS_WHOLE=1: the "
                          "whole suite there too")


def selected_legs(config):
    """The set of leg names this run selected (sdist among them)."""
    text = config.getoption("--legs")
    if text is None:
        text = os.environ.get("VDSOTIME_LEGS", "")
    names, known = set(), leg_names()
    for name in filter(None, (part.strip() for part in text.split(","))):
        if name == "all":
            names.update(leg for leg, in_all in known.items() if in_all)
        elif name in known:
            names.add(name)
        else:
            raise pytest.UsageError(f"--legs: no leg {name!r} (the legs: "
                                    f"{', '.join(known)}, or all)")
    return names


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow check, run with --legs=slow or all")
    config.vdsotime_legs = selected_legs(config)
    config.vdsotime_leg_lines = []


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker per core, but none -- the suite in
    this process -- when legs are selected: their progress lines and summaries go to
    this process's terminal."""
    if selected_legs(config) - set(IN_PROCESS):
        return 0
    return None  # pytest-xdist's own count: the cores


def pytest_report_header(config):
    legs = sorted(config.vdsotime_legs)
    if legs:
        return f"legs: {', '.join(legs)} (tools/legs; their summaries end this report)"
    return f"legs (tools/legs), the sdist test and the slow checks: not run; {HOW}"


def pytest_collection_modifyitems(config, items):
    selected = config.vdsotime_legs
    sdist = pytest.mark.skip(reason="builds an sdist and a wheel from it (a minute): opt in "
                                    "with pytest --legs=sdist (or --legs=all, "
                                    "VDSOTIME_LEGS=all)")
    slow = pytest.mark.skip(reason="a slow check for maintainers and CI: opt in with "
                                   "pytest --legs=slow (or --legs=all, VDSOTIME_LEGS=all)")
    for item in items:
        if "sdist" not in selected and "built" in getattr(item, "fixturenames", ()) and \
                item.nodeid.startswith("tests/test_ecosystem.py::"):
            item.add_marker(sdist)
        if "slow" not in selected and item.get_closest_marker("slow"):
            item.add_marker(slow)


def pytest_terminal_summary(terminalreporter, config):
    if config.vdsotime_leg_lines:
        terminalreporter.write_sep("-", "legs")
        for line in config.vdsotime_leg_lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def live_vdso_file(tmp_path_factory):
    import vdsotime

    path = tmp_path_factory.mktemp("live") / "vdso.so"
    path.write_bytes(vdsotime.vdso_image())
    return path
