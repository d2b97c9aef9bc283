"""Two builds side by side: ``compare(stmt, pythons=[old, new])`` and ``vdsotime compare
--python OLD --python NEW``. The two "builds" here are this interpreter run through two
small wrapper scripts, each putting its own version of a module ``work`` first on the
import path -- what two venvs with two builds of the code under test are to vdsotime: an
interpreter path each. A statistical claim is tested as such (a 4x difference found, the
gate's exit status), never as a timing threshold."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import vdsotime
from vdsotime._bench import workers

from oracle import NEUTRAL_CWD

# Each "build" of the code under test: work.run() does this much.
WORK = {"old": "sum(range(100))", "new": "sum(range(400))", "broken": "1 / 0"}


def _interpreter(folder, name, *, path=None, flags=""):
    """An executable that runs this Python with ``path`` first on its import path."""
    script = folder / f"python-{name}"
    env = f"PYTHONPATH={path} " if path else ""
    script.write_text(f"#!/bin/sh\n{env}exec {sys.executable} {flags} \"$@\"\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """{name: interpreter} for the builds of WORK."""
    folder = tmp_path_factory.mktemp("builds")
    found = {}
    for name, body in WORK.items():
        code = folder / name
        code.mkdir()
        (code / "work.py").write_text(f"def run():\n    return {body}\n")
        found[name] = _interpreter(folder, name, path=code)
    return found


@pytest.mark.slow
def test_two_builds_a_known_difference(builds, tmp_path, monkeypatch):
    # A checkout of the code under test in the current folder must not shadow the builds
    # installed in the interpreters (a worker of another interpreter keeps that
    # interpreter's import path, less the current folder).
    (tmp_path / "work.py").write_text(f"def run():\n    return {WORK['broken']}\n")
    monkeypatch.chdir(tmp_path)
    result = vdsotime.compare("work.run()", setup="import work", n=2000, processes=3,
                              rounds=6, seed=5,
                              pythons={"old": builds["old"], "new": builds["new"]})
    assert list(result.results) == ["old", "new"] and result.pythons.keys() == {"old", "new"}
    assert result.pythons["old"]["vdsotime"] == vdsotime.__version__
    assert result.processes == 3 and result.rounds == 6
    assert result.round_process.tolist() == [0, 0, 1, 1, 2, 2]
    # Each round's order is one interpreter then the other, drawn per round of processes.
    assert all(sorted(order) == [0, 1] for order in result.orders.tolist())
    assert result.ratio > 2 and result.significant, str(result)
    assert [c.name for c in result.regressions(5.0)] == ["new"]
    for name in ("old", "new"):
        metadata = result.results[name].metadata
        assert metadata["process_sizes"] == [4000, 4000, 4000]  # 2 rounds of n per process
        assert metadata["statement"] == "work.run()" and metadata["setup"] == "import work"
    assert "one of each per round in random order" in str(result)


@pytest.mark.slow
def test_the_gate_from_the_command_line(builds, tmp_path):
    """Exit 1 on a significant slowdown beyond --fail-above, 0 against itself; --json
    holds both sides' samples as a saved run that compare-runs reads."""
    def gate(*pythons, extra=()):
        args = [a for python in pythons for a in ("--python", python)]
        return subprocess.run([sys.executable, "-m", "vdsotime", "compare", *args, "-s",
                               "import work", "-n", "2000", "-p", "3", "-r", "6", *extra,
                               "work.run()"], capture_output=True, text=True,
                              cwd=NEUTRAL_CWD, timeout=600)

    slower = gate(builds["old"], builds["new"], extra=("--name", "old", "--name", "new"))
    assert slower.returncode == 1, slower.stdout + slower.stderr
    assert "FAILED: new is +" in slower.stdout and "beyond +5%" in slower.stdout
    same = gate(builds["old"], builds["old"], extra=("--json", "--fail-above", "50%"))
    assert same.returncode == 0, same.stdout + same.stderr
    document = json.loads(same.stdout)
    assert document["format"] == "vdsotime-run" and document["failed"] is False
    assert [b["name"] for b in document["benchmarks"]] == [builds["old"],
                                                           builds["old"] + " #2"]
    saved = tmp_path / "gate.json"
    saved.write_text(same.stdout)
    again = subprocess.run([sys.executable, "-m", "vdsotime", "compare-runs", str(saved),
                            "--fail-above", "50"], capture_output=True, text=True,
                           cwd=NEUTRAL_CWD, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "3/3 proc" in again.stdout  # compare-runs counts the processes as its units


def _gate_error(*args):
    result = subprocess.run([sys.executable, "-m", "vdsotime", "compare", *args],
                            capture_output=True, text=True, cwd=NEUTRAL_CWD, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.strip().splitlines()
    return line


@pytest.mark.slow
def test_what_cannot_compare_says_which_and_why(builds, tmp_path):
    bare = _interpreter(tmp_path, "bare", flags="-S")  # no site-packages: no vdsotime
    assert "cannot import vdsotime's measuring side" in _gate_error(
        "--python", bare, "--python", builds["old"], "pass")
    assert f"-m pip install vdsotime=={vdsotime.__version__}" in _gate_error(
        "--python", bare, "--python", builds["old"], "pass")
    assert "/etc/hostname" in _gate_error("--python", "/etc/hostname", "--python",
                                          builds["old"], "pass")
    failing = _gate_error("--python", builds["old"], "--python", builds["broken"], "-s",
                          "import work", "work.run()")
    assert f"in {builds['broken']}: ZeroDivisionError: division by zero" in failing
    died = _gate_error("--python", builds["old"], "--python", builds["old"], "-n", "5",
                       "import os; os._exit(3)")
    assert "ended without an answer (exit status 3" in died
    assert "needs two or more" in _gate_error("--python", builds["old"], "pass")
    assert "one statement" in _gate_error("--python", builds["old"], "--python",
                                          builds["old"], "pass", "pass")


def test_another_vdsotime_whose_workers_speak_another_protocol(tmp_path):
    """An interpreter whose vdsotime speaks another worker protocol is refused, never
    lent this one: the message says what to install."""
    fake = tmp_path / "fake"
    (fake / "vdsotime" / "_bench").mkdir(parents=True)
    (fake / "vdsotime" / "__init__.py").write_text("__version__ = '9.9'\n")
    (fake / "vdsotime" / "_bench" / "__init__.py").write_text("")
    (fake / "vdsotime" / "_bench" / "workers.py").write_text("PROTOCOL = 99\n")
    python = _interpreter(tmp_path, "fake", path=fake)
    with pytest.raises(workers.WorkerError, match=rf"vdsotime 9\.9, whose workers speak "
                       rf"protocol 99; this vdsotime \({vdsotime.__version__}\) speaks 1"):
        vdsotime.compare("pass", pythons=[python, sys.executable])


@pytest.mark.parametrize("call,error,message", [
    (lambda: vdsotime.compare("pass", pythons=[sys.executable]), ValueError,
     "at least 2 interpreters"),
    (lambda: vdsotime.compare("pass", pythons=sys.executable), TypeError,
     "pythons must be a list"),
    (lambda: vdsotime.compare("pass", "pass", pythons=[sys.executable] * 2), TypeError,
     "give one statement"),
    (lambda: vdsotime.compare(len, pythons=[sys.executable] * 2), TypeError,
     "give one statement"),
    (lambda: vdsotime.compare("pass", pythons=[sys.executable, 3]), TypeError,
     "each of pythons must be a path"),
    (lambda: vdsotime.compare("pass", pythons={"": sys.executable, "b": sys.executable}),
     TypeError, "names must be non-empty"),
    (lambda: vdsotime.compare("pass", pythons=[sys.executable] * 2, processes=4, rounds=3),
     ValueError, "rounds=3 is fewer than processes=4"),
])
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


CTRL_C_CHILD = textwrap.dedent("""
    import signal, sys, time, vdsotime
    signal.signal(signal.SIGINT, signal.default_int_handler)
    python = sys.argv[1]

    def progress(done, total):
        if done >= 4:
            signal.raise_signal(signal.SIGINT)

    try:
        vdsotime.compare("pass", pythons=[python, python], n=50, processes=20,
                         progress=progress)
    except KeyboardInterrupt as exc:
        partial = exc.partial_result
        print(partial.rounds, partial.interrupted, sorted(partial.pythons), flush=True)
""")


@pytest.mark.slow
def test_ctrl_c_keeps_the_rounds_so_far():
    result = subprocess.run([sys.executable, "-c", CTRL_C_CHILD, sys.executable],
                            capture_output=True, text=True, cwd=NEUTRAL_CWD, timeout=300,
                            env=dict(os.environ))
    words = result.stdout.split()
    assert words[:2] == ["4", "True"], result.stdout + result.stderr
