"""pytest fixtures shared by the test modules, and the opt-in slow parts of the suite.

The legs (tools/legs: the suite in Debian roots of other ABIs and Pythons) and the sdist
test (``python -m build``: an sdist and a wheel built from it) are not part of a plain
``pytest``: ``--legs=arm64,s390x`` (or ``--legs=all``, or ``VDSOTIME_LEGS=all`` in the
environment, as CI sets it) selects them; ``sdist`` is one of the names, and ``all``
includes it. Without it they skip with one line that says so.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEGS_TOOL = ROOT / "tools" / "legs"
HOW = ("opt in with pytest --legs=all (or --legs=arm64,s390x,...; VDSOTIME_LEGS=all "
       "in the environment)")


def leg_names():
    """{name: in "all"} of the legs tools/legs/recipes.py defines, and sdist."""
    if not (LEGS_TOOL / "recipes.py").exists():
        return {"sdist": True}
    sys.path.insert(0, str(LEGS_TOOL))
    try:
        import recipes
    finally:
        sys.path.remove(str(LEGS_TOOL))
    return {**{name: name in recipes.ALL for name in recipes.LEGS}, "sdist": True}


def pytest_addoption(parser):
    parser.addoption("--legs", default=None, metavar="NAMES",
                     help="run these legs of tools/legs (comma-separated names, or all) "
                          "and, with the name sdist or all, the sdist test; default: "
                          "$VDSOTIME_LEGS, else none")


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
    config.vdsotime_legs = selected_legs(config)
    config.vdsotime_leg_lines = []


def pytest_report_header(config):
    legs = sorted(config.vdsotime_legs)
    if legs:
        return f"legs: {', '.join(legs)} (tools/legs; their summaries end this report)"
    return f"legs (tools/legs) and the sdist test: not run; {HOW}"


def pytest_collection_modifyitems(config, items):
    if "sdist" in config.vdsotime_legs:
        return
    skip = pytest.mark.skip(reason="builds an sdist and a wheel from it (a minute): opt in "
                                   "with pytest --legs=sdist (or --legs=all, "
                                   "VDSOTIME_LEGS=all)")
    for item in items:
        if "built" in getattr(item, "fixturenames", ()) and \
                item.nodeid.startswith("tests/test_ecosystem.py::"):
            item.add_marker(skip)


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
