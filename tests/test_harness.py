"""The test harness itself: optional system tools skip on a user's machine (and fail in
CI's strict mode), and the Ctrl-C helper works however pytest was started."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import requires
from oracle import interrupt_child

ROOT = Path(__file__).resolve().parent.parent

# What gcc says for -m32 on a machine without gcc-multilib (Debian 12).
GCC_WITHOUT_MULTILIB = textwrap.dedent("""\
    #!/bin/sh
    for arg in "$@"; do
        if [ "$arg" = "-m32" ]; then
            echo "In file included from /usr/include/stdio.h:27," >&2
            echo "/usr/include/features.h:394:12: fatal error: sys/cdefs.h: No such file or directory" >&2
            exit 1
        fi
    done
    exec {gcc} "$@"
""")


@pytest.fixture
def user_machine(monkeypatch):
    monkeypatch.delenv("VDSOTIME_REQUIRE_ALL", raising=False)


@pytest.fixture
def ci_machine(monkeypatch):
    monkeypatch.setenv("VDSOTIME_REQUIRE_ALL", "1")


def fake_tools(folder, **scripts):
    """Shell scripts named after tools in ``folder``, ahead of PATH; returns the PATH."""
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_missing_command_skips_naming_the_package(user_machine, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"^needs unshare: apt-get install "
                                                    r"util-linux$"):
        requires.require_command("unshare", "util-linux")


def test_missing_command_fails_in_strict_mode(ci_machine, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"needs unshare: apt-get install "
                                                    r"util-linux \[VDSOTIME_REQUIRE_ALL=1"):
        requires.require_command("unshare", "util-linux")


def test_present_command_is_its_path(user_machine, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", fake_tools(tmp_path, unshare="#!/bin/sh\nexit 0\n"))
    assert requires.require_command("unshare", "util-linux") == str(tmp_path / "unshare")


def test_gcc_without_multilib_skips_naming_gcc_multilib(user_machine, monkeypatch, tmp_path):
    gcc = requires.require_command("gcc", "gcc")
    monkeypatch.setenv("PATH", fake_tools(tmp_path, gcc=GCC_WITHOUT_MULTILIB.format(gcc=gcc)))
    with pytest.raises(pytest.skip.Exception) as caught:
        requires.require_gcc_m32()
    assert str(caught.value) == ("needs gcc -m32 -static (it says error: sys/cdefs.h: No "
                                 "such file or directory): apt-get install gcc-multilib")


def test_time_namespace_refused_skips(user_machine, monkeypatch, tmp_path):
    refuse = "#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n"
    monkeypatch.setenv("PATH", fake_tools(tmp_path, unshare=refuse))
    with pytest.raises(pytest.skip.Exception, match=r"^needs a time namespace \(unshare: "
                                                    r"unshare failed: Operation not "
                                                    r"permitted\)"):
        requires.require_time_namespace()


def test_missing_module_skips_naming_the_pip_package(user_machine):
    with pytest.raises(pytest.skip.Exception, match=r"^needs no-such-dist: pip install "
                                                    r"no-such-dist \(in the test extra\)$"):
        requires.require_module("vdsotime_no_such_module", "no-such-dist")


def test_missing_module_fails_in_strict_mode(ci_machine):
    with pytest.raises(pytest.fail.Exception, match=r"needs no-such-dist: pip install "
                                                    r"no-such-dist .*\[VDSOTIME_REQUIRE_ALL=1"):
        requires.require_module("vdsotime_no_such_module", "no-such-dist")


def test_present_module_is_the_module(user_machine):
    import json
    assert requires.require_module("json", "json") is json


@pytest.mark.slow
def test_interop_without_pyperf_skips_and_fails_in_strict_mode(tmp_path):
    """The pyperf round trip on a machine whose pyperf cannot be imported (a package of
    that name that raises ImportError, first on the path): a skip naming the pip package,
    and under CI's strict mode a failure -- never a silent skip in CI."""
    hidden = tmp_path / "pyperf"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    node = "tests/test_interop.py::test_pyperf_loads_what_to_pyperf_writes"
    path = os.environ["PATH"]
    user = run_one_test(node, path, strict=False, pythonpath=tmp_path)
    assert user.returncode == 0 and "1 skipped" in user.stdout, user.stdout[-3000:]
    assert "needs pyperf: pip install pyperf" in user.stdout
    ci = run_one_test(node, path, strict=True, pythonpath=tmp_path)
    # (an error rather than a failure: the module comes from a fixture)
    assert ci.returncode == 1 and "1 error" in ci.stdout, ci.stdout[-3000:]
    assert "needs pyperf: pip install pyperf (in the test extra) [VDSOTIME_REQUIRE_ALL=1" \
        in ci.stdout


def run_one_test(node, path, *, strict, pythonpath=None):
    """Run one test of the suite in a child pytest with PATH as given."""
    env = {**os.environ, "PATH": path}
    env.pop("VDSOTIME_REQUIRE_ALL", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    if strict:
        env["VDSOTIME_REQUIRE_ALL"] = "1"
    # The pytest script, as the README runs it (python -m pytest would put the source
    # checkout, without compiled extensions, on sys.path).
    script = shutil.which("pytest", path=os.path.dirname(sys.executable))
    assert script, "the pytest script is not installed beside python"
    return subprocess.run([script, "-q", "-rsf", "-p", "no:cacheprovider", node],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
                    reason="the i386 vDSO test runs on x86-64 only")
@pytest.mark.slow
def test_live_i386_vdso_without_gcc_multilib(tmp_path):
    """The README's `pytest` on a machine without gcc-multilib: the i386 vDSO test skips
    with one line naming the package; under CI's strict mode it fails with that line."""
    gcc = requires.require_command("gcc", "gcc")
    path = fake_tools(tmp_path, gcc=GCC_WITHOUT_MULTILIB.format(gcc=gcc))
    node = "tests/test_auxv.py::test_live_i386_vdso"
    user = run_one_test(node, path, strict=False)
    assert user.returncode == 0, user.stdout[-3000:] + user.stderr[-3000:]
    assert "1 skipped" in user.stdout and "apt-get install gcc-multilib" in user.stdout
    # The skip is reported at the test, not inside the helper.
    assert "SKIPPED [1] tests/test_auxv.py:" in user.stdout, user.stdout
    assert "CalledProcessError" not in user.stdout
    ci = run_one_test(node, path, strict=True)
    assert ci.returncode == 1 and "1 failed" in ci.stdout, ci.stdout[-3000:]
    assert "apt-get install gcc-multilib [VDSOTIME_REQUIRE_ALL=1" in ci.stdout


CTRL_C_CHILD = textwrap.dedent("""
    import time, vdsotime
    jitter = vdsotime.jitter  # (its module imported before "ready": seconds when loaded)
    print("ready", flush=True)
    try:
        jitter(5)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
""")


def test_ctrl_c_helper_works_when_pytest_ignores_sigint():
    """Under nohup or from a background shell, pytest starts with SIGINT ignored and its
    children inherit that; the helper's children restore the default handler first."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        delay = interrupt_child(CTRL_C_CHILD, after=0.1)  # asserts "interrupted"
    finally:
        signal.signal(signal.SIGINT, previous)
    assert delay >= 0  # the child caught it after the signal was sent
