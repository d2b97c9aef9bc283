"""The legs (tools/legs/run.py): the suite, from a repaired wheel, on other ABIs and
Pythons -- each leg a test of its own, opt-in (``pytest --legs=all``, ``--legs=arm64``,
``VDSOTIME_LEGS=all``; see conftest.py).

The first leg test starts one runner for every selected leg that can run here, two at a
time (``VDSOTIME_LEGS_JOBS``), and each test waits for its own leg's summary line. While
they run, the runner's progress goes to the terminal (not captured); the summary lines end
pytest's report. A leg that cannot start here skips with one line saying why (not root,
no debootstrap, a kernel before 6.7 for the emulated legs, ...), and fails under
VDSOTIME_REQUIRE_ALL=1.
"""

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import LEGS_TOOL, leg_names
from requires import missing

RUNNER = LEGS_TOOL / "run.py"
TIMEOUT_S = 3 * 3600
NAMES = [name for name in leg_names() if name != "sdist"]


class _Pool:
    """One runner process for every selected leg that can run; its stderr read by a
    thread into ``lines``, shown by whichever leg test is waiting."""

    def __init__(self, legs):
        self.folder = Path(tempfile.mkdtemp(prefix="vdsotime-legs-"))
        jobs = os.environ.get("VDSOTIME_LEGS_JOBS", "2")
        self.process = subprocess.Popen(
            [sys.executable, str(RUNNER), ",".join(legs), "--jobs", jobs,
             "--summary-dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines, self.shown = [], 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def progress(self):
        """The runner's new progress lines: its own ("[leg] ..."), not the commands."""
        new, self.shown = self.lines[self.shown:], len(self.lines)
        return [line for line in new if line.startswith("[") and "] $ " not in line]

    def summary(self, name):
        path = self.folder / f"{name}.txt"
        return path.read_text().strip() if path.exists() else None


@pytest.fixture(scope="session")
def leg_pool(request):
    """{"pool": the runner (started on first use), "problems": {leg: why it cannot run}}"""
    state = {"pool": None, "problems": None}
    yield state
    if state["pool"] is not None and state["pool"].process.poll() is None:
        state["pool"].process.terminate()


def _problems(legs):
    result = subprocess.run([sys.executable, str(RUNNER), "--check", *legs],
                            capture_output=True, text=True, timeout=300)
    problems = {}
    for line in result.stdout.splitlines():
        name, _, why = line.partition(": ")
        problems.setdefault(name, []).append(why)
    return problems


def _show(request, lines):
    """Print on the terminal now, past pytest's capture."""
    if not lines:
        return
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


@pytest.mark.parametrize("name", NAMES)
def test_leg(name, request, leg_pool):
    selected = request.config.vdsotime_legs
    if name not in selected:
        pytest.skip(f"the {name} leg is opt-in: pytest --legs={name} (or --legs=all, "
                    f"VDSOTIME_LEGS=all)")
    legs = [leg for leg in NAMES if leg in selected]
    if leg_pool["problems"] is None:
        leg_pool["problems"] = _problems(legs)
    if leg_pool["problems"].get(name):
        missing(f"the {name} leg cannot run here: "
                + "; ".join(leg_pool["problems"][name]), lack=f"leg {name}")
    if leg_pool["pool"] is None:
        runnable = [leg for leg in legs if not leg_pool["problems"].get(leg)]
        leg_pool["pool"] = _Pool(runnable)
    pool = leg_pool["pool"]
    deadline = time.monotonic() + TIMEOUT_S
    while pool.summary(name) is None and pool.process.poll() is None:
        assert time.monotonic() < deadline, f"the {name} leg ran out of time"
        _show(request, pool.progress())
        time.sleep(1)
    time.sleep(0.5)  # (the runner writes the summary before it exits)
    _show(request, pool.progress())
    line = pool.summary(name) or (f"{name} leg: no summary (runner exit status "
                                  f"{pool.process.poll()}): " + " / ".join(pool.lines[-5:]))
    request.config.vdsotime_leg_lines.extend(line.splitlines())
    for part in line.splitlines():
        assert part.startswith(f"{name} leg: "), part
        assert "exit status 0)" in part and " failed" not in part.split(" in ")[0] \
            and " errors" not in part.split(" in ")[0], part
