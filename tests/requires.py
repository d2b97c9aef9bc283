"""Optional system tools: a test that needs one skips on a user's machine and fails in CI.

The README's test command passes with only python3, venv and gcc. A test that needs
anything more (gcc -m32, cross binutils, unshare, valgrind, debootstrap, ...) calls
``require_command()``, one of the helpers below, or ``missing()``: without the tool it
skips with one line that names the Debian package to install. A test whose oracle is a
/sys or /proc file calls ``require_path()``: it skips where that is not mounted. A Python package of the
test extra (pyperf, hdrhistogram, freezegun, time-machine) is ``require_module()``'s,
which names the pip package. ``.ci/run`` sets ``VDSOTIME_REQUIRE_ALL=1``, under which a
missing tool or package fails the test instead, so CI never skips silently.

A leg (tools/legs) runs the suite under ``VDSOTIME_REQUIRE_ALL=1`` too, in a root that
lacks some things on purpose (a compiler, a package its ABI has no build of). It lists
them in the file ``VDSOTIME_LEG_LACKS`` names, one ``key<TAB>reason`` a line; a test that
misses one of those skips there with the leg's reason, even in strict mode. The key is
the command (``require_command``) or module (``require_module``), or the ``lack=`` a test
passes to ``missing()``. Nothing else is excused.
"""

import functools
import os
import shutil
import subprocess
import tempfile

import pytest


def strict():
    """Whether a missing tool is a failure (VDSOTIME_REQUIRE_ALL=1, as CI sets it)."""
    return os.environ.get("VDSOTIME_REQUIRE_ALL", "") not in ("", "0")


@functools.lru_cache(maxsize=None)
def _leg_lacks(path):
    lacks = {}
    with open(path) as listing:
        for line in listing:
            key, _, reason = line.rstrip("\n").partition("\t")
            if key.strip():
                lacks[key.strip()] = reason.strip()
    return lacks


def leg_lacks():
    """{key: reason}: what the leg this suite runs in lacks by design (empty elsewhere)."""
    path = os.environ.get("VDSOTIME_LEG_LACKS", "")
    return _leg_lacks(path) if path else {}


def missing(reason, lack=None):
    """Skip (on a user's machine) or fail (under VDSOTIME_REQUIRE_ALL=1) with ``reason``,
    one line that names what to install. ``lack``: the key under which a leg may have
    declared the missing thing (then it skips, with the leg's reason)."""
    __tracebackhide__ = True  # pytest reports the test's line, not this one
    declared = leg_lacks().get(lack) if lack else None
    if declared is not None:
        leg = os.environ.get("VDSOTIME_LEG", "this")
        pytest.skip(f"{reason} [the {leg} leg lacks {lack} on purpose: {declared}]")
    if strict():
        pytest.fail(f"{reason} [VDSOTIME_REQUIRE_ALL=1: CI must run this test]",
                    pytrace=False)
    pytest.skip(reason)


def require_path(path):
    """``path``, when this machine shows it, or a skip/fail saying that the test reads it:
    a test whose oracle is a /sys or /proc file cannot run where that is not mounted (a
    minimal container or chroot; mount it there, e.g. ``mount -t sysfs sysfs /sys``).
    CI has both, so there (VDSOTIME_REQUIRE_ALL=1) a missing one fails."""
    __tracebackhide__ = True
    if not os.path.exists(path) or not os.access(path, os.R_OK):
        mount = "/" + path.strip("/").split("/")[0]
        kind = {"/sys": "sysfs", "/proc": "proc"}.get(mount)
        how = f"mount -t {kind} {kind} {mount}" if kind else f"provide {path}"
        missing(f"needs {path}, which this machine does not show ({mount} not mounted, "
                f"as in a minimal container?): {how}")
    return path


def require_command(command, package):
    """The path of ``command``, or a skip/fail naming the Debian ``package`` to install."""
    __tracebackhide__ = True
    path = shutil.which(command)
    if path is None:
        missing(f"needs {command}: apt-get install {package}", lack=command)
    return path


def _first_error(text):
    """The first line of a tool's stderr that says "error:" (from there on), else its
    first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line[line.index("error:"):]
    return lines[0] if lines else "no message"


def require_module(name, package):
    """The module ``name`` imported, or a skip/fail naming the pip ``package`` to install
    (in the test extra: ``pip install '.[test]'`` brings it)."""
    __tracebackhide__ = True
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    missing(f"needs {package}: pip install {package} (in the test extra)", lack=name)


@functools.lru_cache(maxsize=None)
def _try_gcc_m32(gcc):
    """None if ``gcc -m32 -static`` links a program, else the compiler's first line."""
    with tempfile.TemporaryDirectory(prefix="vdsotime-m32-") as folder:
        source = os.path.join(folder, "probe.c")
        with open(source, "w") as f:
            f.write("#include <stdio.h>\nint main(void) { return puts(\"\") < 0; }\n")
        result = subprocess.run([gcc, "-m32", "-static", "-o", os.path.join(folder, "probe"),
                                 source], capture_output=True, text=True, timeout=120)
    return None if result.returncode == 0 else _first_error(result.stderr)


def require_gcc_m32():
    """The path of a gcc that links static 32-bit x86 programs (``gcc -m32 -static``),
    or a skip/fail naming gcc-multilib (which brings the 32-bit libc to link with)."""
    __tracebackhide__ = True
    gcc = require_command("gcc", "gcc")
    error = _try_gcc_m32(gcc)
    if error is not None:
        missing(f"needs gcc -m32 -static (it says {error}): apt-get install gcc-multilib")
    return gcc


def require_time_namespace():
    """The command prefix that runs a program in a new time namespace (``unshare --time``,
    with a user namespace when not root), or a skip/fail that says what is missing."""
    __tracebackhide__ = True
    unshare = require_command("unshare", "util-linux")
    command = [unshare, "--time", "--fork"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    result = subprocess.run([*command, "true"], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        missing(f"needs a time namespace ({_first_error(result.stderr)}): Linux 5.6 or "
                "later, and root or unprivileged user namespaces")
    return command
