"""Optional system tools: a test that needs one skips on a user's machine and fails in CI.

The README's test command passes with only python3, venv and gcc. A test that needs
anything more (gcc -m32, cross binutils, unshare, valgrind, debootstrap, ...) calls
``require_command()`` or ``missing()``: without the tool it skips with one line that names
the Debian package to install. ``.ci/run`` sets ``VDSOTIME_REQUIRE_ALL=1``, under which a
missing tool fails the test instead, so CI never skips silently.
"""

import os
import shutil

import pytest

STRICT = os.environ.get("VDSOTIME_REQUIRE_ALL", "") not in ("", "0")


def missing(reason):
    """Skip (on a user's machine) or fail (under VDSOTIME_REQUIRE_ALL=1) with ``reason``,
    one line that names what to install."""
    if STRICT:
        pytest.fail(f"{reason} [VDSOTIME_REQUIRE_ALL=1: CI must run this test]",
                    pytrace=False)
    pytest.skip(reason)


def require_command(command, package):
    """The path of ``command``, or a skip/fail naming the Debian ``package`` to install."""
    path = shutil.which(command)
    if path is None:
        missing(f"needs {command}: apt-get install {package}")
    return path
