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

from conftest import IN_PROCESS, LEGS_TOOL, leg_names
from requires import missing

RUNNER = LEGS_TOOL / "run.py"
TIMEOUT_S = 3 * 3600
NAMES = [name for name in leg_names() if name not in IN_PROCESS]


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
        if not getattr(reporter, "_vdsotime_leg_lines", False):
            reporter.write_line("")  # (off the line of the test's name, once)
            reporter._vdsotime_leg_lines = True
        for line in lines:
            reporter.write_line(line)


@pytest.mark.parametrize("name", NAMES)
def test_leg(name, request, leg_pool):
    selected = request.config.vdsotime_legs
    if name not in selected:
        if leg_names()[name]:
            pytest.skip(f"the {name} leg is opt-in: pytest --legs={name} (or --legs=all, "
                        f"VDSOTIME_LEGS=all)")
        pytest.skip(f"the {name} leg runs by name only, not in all (CI's legs), for time "
                    f"(tools/legs/recipes.py, ALL): pytest --legs={name}")
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
        if "exit status 0)" not in part:
            _show(request, _failures(name))
        assert "exit status 0)" in part and " failed" not in part.split(" in ")[0] \
            and " errors" not in part.split(" in ")[0], part


def _failures(name, most=120):
    """A failed leg's tracebacks and short summary, from the runner's log of its pytest
    output (CI shows only this process's output)."""
    path = _runner().log_path(name)
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(("=", "_")) and (
        " FAILURES " in line or " ERRORS " in line or "short test summary" in line)]
    picked = lines[starts[0]:] if starts else lines[-40:]
    if len(picked) > most:
        picked = picked[:most // 2] + [f"... ({len(picked) - most} lines more in {path})"] \
            + picked[-most // 2:]
    return [f"[{name} leg] {line}" for line in picked]


# ------------------------------------------------------------------ the runner's parts

def _runner():
    import importlib.util
    spec = importlib.util.spec_from_file_location("vdsotime_legs_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_lack_and_deselection_has_a_reason():
    run = _runner()
    recipes = run.recipes
    assert set(recipes.ALL) <= set(recipes.LEGS)
    for name in recipes.LEGS:
        for table in (recipes.lacks(name), recipes.deselect(name)):
            for key, reason in table.items():
                assert key and len(reason) > 20, (name, key, reason)
        assert recipes.LEGS[name].proves
        assert len(recipes.LEGS[name].pythons) == len(recipes.LEGS[name].python_versions)


def test_emulated_legs_run_their_abi_part_unless_told_the_whole_suite():
    run = _runner()
    recipes = run.recipes
    root = Path(__file__).resolve().parent.parent
    for path, reason in recipes.ABI_PART.items():
        assert (root / path.split("::")[0]).is_file() and len(reason) > 20, path
    for name, leg in recipes.LEGS.items():
        scope, paths = run.scope(name, ["-x"], whole=False)
        if leg.qemu:
            assert scope.startswith("ABI part") and paths == list(recipes.ABI_PART)
        else:
            assert (scope, paths) == ("whole suite", [])
        assert run.scope(name, ["-x"], whole=True) == ("whole suite", [])
        given = ["tests/test_vdso.py", "-x"]
        assert run.scope(name, given, whole=False) == (" ".join(given), [])
        arguments = run.pytest_arguments(name, [], whole=False)
        assert arguments[-len(paths):] == paths if paths else arguments[-1].startswith("-")


def _matches(rule, header):
    """binfmt_misc's test: the first len(magic) bytes, masked, equal the magic."""
    _, name, kind, offset, magic, mask, _, flags = rule.split(":")
    unescape = lambda text: bytes(int(text[i + 2:i + 4], 16)  # noqa: E731
                                  for i in range(0, len(text), 4))
    magic, mask = unescape(magic), unescape(mask)
    assert kind == "M" and offset == "" and flags == "FP" and len(magic) == len(mask) == 20
    return all((a ^ b) & m == 0 for a, b, m in zip(header[:20], magic, mask))


def _elf_header(bits, byteorder, machine, e_type=2, osabi=0):
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if byteorder == "little" else 2,
                                1, osabi]) + bytes(8)
    return ident + e_type.to_bytes(2, byteorder) + machine.to_bytes(2, byteorder)


@pytest.mark.parametrize("name", [n for n in NAMES if _runner().recipes.LEGS[n].qemu])
def test_binfmt_rule_takes_the_legs_programs_and_no_others(name):
    run = _runner()
    leg = run.recipes.LEGS[name]
    rule = run.binfmt_rule(leg).format(qemu="/q")
    elf = leg.elf
    for e_type in (2, 3):  # executables and shared objects (PIE), any OS ABI
        assert _matches(rule, _elf_header(elf.bits, elf.byteorder, elf.machine, e_type, 3))
    assert not _matches(rule, _elf_header(elf.bits, elf.byteorder, elf.machine, 1))
    assert not _matches(rule, _elf_header(elf.bits, elf.byteorder, 62))  # x86-64
    other_order = "big" if elf.byteorder == "little" else "little"
    assert not _matches(rule, _elf_header(elf.bits, other_order, elf.machine))
    assert not _matches(rule, _elf_header(96 - elf.bits, elf.byteorder, elf.machine))


def test_a_declared_lack_skips_in_strict_mode_and_nothing_else_does(monkeypatch, tmp_path):
    import requires

    lacks = tmp_path / "lacks.txt"
    lacks.write_text("gcc\tno compiler in the test root\n")
    monkeypatch.setenv("VDSOTIME_REQUIRE_ALL", "1")
    monkeypatch.setenv("VDSOTIME_LEG", "arm64")
    monkeypatch.setenv("VDSOTIME_LEG_LACKS", str(lacks))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"^needs gcc: apt-get install gcc "
                       r"\[the arm64 leg lacks gcc on purpose: no compiler in the test "
                       r"root\]$"):
        requires.require_command("gcc", "gcc")
    with pytest.raises(pytest.fail.Exception, match=r"needs unshare: .*REQUIRE_ALL"):
        requires.require_command("unshare", "util-linux")


def test_the_second_stage_no_ops_are_diverted_and_restored(tmp_path):
    """run.py's divert_second_stage_no_ops / restore_second_stage_no_ops on a root as debootstrap's
    first stage leaves it: during the second stage dpkg puts python3-minimal's
    py3compile and py3clean aside (*.real) and the no-ops run instead; afterwards the
    real programs are back and dpkg records no diversion of them (other diversions stay)."""
    run = _runner()
    root = tmp_path / "root"
    (root / "var/lib/dpkg").mkdir(parents=True)
    other = "/sbin/ldconfig\n/sbin/ldconfig.REAL\nfakechroot\n"
    (root / "var/lib/dpkg/diversions").write_text(other)
    run.divert_second_stage_no_ops(root)
    diversions = (root / "var/lib/dpkg/diversions").read_text()
    assert diversions.startswith(other)
    assert "/usr/bin/py3compile\n/usr/bin/py3compile.real\n:\n" in diversions
    shim = root / "usr/bin/py3compile"
    assert subprocess.run([shim, "-p", "python3-numpy"]).returncode == 0
    assert "force-unsafe-io" in (root / "etc/dpkg/dpkg.cfg.d/vdsotime-legs-unsafe-io"
                                 ).read_text()
    # dpkg unpacked python3-minimal: its programs went to the diverted names.
    (root / "usr/bin/py3compile.real").write_text("#!/usr/bin/python3\n# the real one\n")
    run.restore_second_stage_no_ops(root)
    assert (root / "var/lib/dpkg/diversions").read_text() == other
    assert shim.read_text().endswith("# the real one\n")
    assert not (root / "usr/bin/py3compile.real").exists()
    assert not (root / "usr/bin/py3clean").exists()  # no real one was unpacked
    certificates = root / "usr/share/ca-certificates/mozilla"
    certificates.mkdir(parents=True)
    (certificates / "B.crt").write_text("-----BEGIN CERTIFICATE-----\nB\n")
    (certificates / "A.crt").write_text("-----BEGIN CERTIFICATE-----\nA")
    run.ca_bundle(root)
    assert (root / "etc/ssl/certs/ca-certificates.crt").read_text() == (
        "-----BEGIN CERTIFICATE-----\nA\n-----BEGIN CERTIFICATE-----\nB\n")
