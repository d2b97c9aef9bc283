"""The pytest plugin, in child pytest sessions: the ``latency`` fixture, saved runs, and
the gate that fails a session on a significant slowdown beyond its threshold. The plugin
comes from the installed package's entry point: no -p option, no conftest."""

import os
import subprocess
import sys
import textwrap

import pytest

import vdsotime

TESTS = textwrap.dedent("""
    def work():
        return sum(range({size}))

    def test_fast(latency):
        result = latency(work, n=4000)
        assert result.n == 4000 and result.samples_ns.size == 4000
        result.assert_below(p50="1s")

    def test_named(latency):
        latency(sum, range(10), n=300, name="small")
        latency(sum, range(10), n=300, name="small")
""")


def pytest_child(folder, *args, size=100, extra=""):
    (folder / "test_timing.py").write_text(TESTS.format(size=size) + extra)
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTEST_DISABLE_PLUGIN_AUTOLOAD"}
    # No bytecode cache: a second session within the same second would otherwise reuse
    # the first one's compiled test_timing.py ("100" and "400" have the same length, so
    # the size and the mtime in seconds match).
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_timing.py", *map(str, args)], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=600)


def test_fixture_records_and_saves(tmp_path):
    saved = tmp_path / "runs"
    result = pytest_child(tmp_path, "--latency-save", saved)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "vdsotime latency" in result.stdout
    [path] = sorted(saved.iterdir())
    assert path.name.startswith("0001_") and path.suffix == ".json"
    assert f"latency results saved to {path}" in result.stdout
    run = vdsotime.load_run(path)
    assert list(run) == ["test_timing.py::test_fast", "test_timing.py::test_named::small",
                         "test_timing.py::test_named::small (2)"]
    assert run["test_timing.py::test_fast"].n == 4000
    assert run["test_timing.py::test_fast"].metadata["name"] == "test_timing.py::test_fast"
    # The next save is numbered after it.
    assert pytest_child(tmp_path, "--latency-save", saved).returncode == 0
    assert [p.name[:5] for p in sorted(saved.iterdir())] == ["0001_", "0002_"]


def test_gate_fails_the_session_on_a_regression(tmp_path):
    """sum(range(400)) against a saved sum(range(100)): about 4x slower, beyond 5 % and
    significant (the exact rank-sum test on 20 blocks each), so the session fails
    although every test passed."""
    saved = tmp_path / "runs"
    assert pytest_child(tmp_path, "--latency-save", saved).returncode == 0
    result = pytest_child(tmp_path, "--latency-compare", saved, "--latency-fail-above", "5%",
                          size=400)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "REGRESSION" in result.stdout
    assert "test_timing.py::test_fast" in result.stdout
    assert "vdsotime: latency regression beyond the threshold: failing the session" \
        in result.stdout


def test_gate_passes_within_its_threshold(tmp_path):
    """The same code against its saved run, with a threshold of +1000 %: only an 11x
    slowdown could fail it."""
    saved = tmp_path / "runs"
    assert pytest_child(tmp_path, "--latency-save", saved).returncode == 0
    result = pytest_child(tmp_path, "--latency-compare", saved, "--latency-fail-above",
                          "1000", "--latency-metric", "p50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no significant regression beyond +1000%" in result.stdout
    assert "p99" not in result.stdout.split("vdsotime latency")[1].split("\n\n", 1)[1]


def test_assert_below_failure_reads_well(tmp_path):
    extra = textwrap.dedent("""
        def test_tail(latency):
            latency(work, n=1000).assert_below(p99=1)
    """)
    result = pytest_child(tmp_path, extra=extra)
    assert result.returncode == 1
    assert "AssertionError: test_timing.py::test_tail: p99 = " in result.stdout
    assert "is above its limit of 1 ns" in result.stdout


@pytest.mark.parametrize("args,message", [
    (("--latency-fail-above", "5"), "--latency-fail-above needs --latency-compare DIR"),
    (("--latency-compare", "nowhere", "--latency-fail-above", "lots"),
     "expected a percentage such as 5 or 5%, got 'lots'"),
    (("--latency-compare", "nowhere"), "--latency-compare: no such folder or file: nowhere"),
    (("--latency-metric", "p50,median", "--latency-compare", "x"),
     "metric must be p50, p99, mean"),
])
def test_bad_options(tmp_path, args, message):
    result = pytest_child(tmp_path, *args)
    assert result.returncode in (1, 4), result.stdout + result.stderr
    assert message in result.stdout + result.stderr


def test_plugin_can_be_turned_off(tmp_path):
    result = pytest_child(tmp_path, "-p", "no:vdsotime")
    assert result.returncode == 1
    assert "fixture 'latency' not found" in result.stdout


def test_plugin_is_registered_by_entry_point():
    from importlib.metadata import entry_points

    found = entry_points()
    group = (found.select(group="pytest11") if hasattr(found, "select")
             else found.get("pytest11", []))
    assert {entry.value for entry in group if entry.name == "vdsotime"} == \
        {"vdsotime.pytest_plugin"}


def test_plugin_does_not_load_numpy():
    code = ("import sys, vdsotime.pytest_plugin; print('numpy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd="/")
    assert result.stdout.strip() == "False", result.stderr
