"""Build the Cython extensions. Metadata lives in pyproject.toml.

The build is parallel over ``MODULES``: cythonize in one process per core, then the C
compiler on one extension per core. Extensions carry no debug information by default
(most of their size otherwise); ``VDSOTIME_DEBUG_BUILD=1`` in the environment builds them
with ``-g`` for gdb, perf or valgrind.
"""

import os
import sys
import sysconfig

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Directives for every module; the hot loops turn bounds checks off locally instead.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    # Signatures for help() come from the functions themselves (binding=True, Cython 3's
    # default); _clock.pyx, whose builtins bind without it for speed, embeds its own.
    "embedsignature": False,
    "cdivision": True,
}

# The compiled modules, by wing (the folders are the layers: see tests/test_layers.py).
MODULES = ("_core.elf", "_core.auxv", "_core.vdso", "_core.hw", "_core.validate",
           "_core.clocks", "_core.mock", "_loops.driver", "_loops.skew", "_loops.sample",
           "_health.probe")

DEBUG_BUILD = os.environ.get("VDSOTIME_DEBUG_BUILD", "") not in ("", "0")
# The last -g option wins, and ours come after Python's own CFLAGS (which often hold -g).
COMPILE_ARGS = ["-O2", "-g" if DEBUG_BUILD else "-g0"]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ParallelLinuxBuildExt(build_ext):
    """Cythonize and compile every module in parallel (``-j``/``--parallel`` overrides
    the default of one job per core); and since vdsotime reads the Linux vDSO, say so
    plainly elsewhere instead of failing in a compiler."""

    def finalize_options(self):
        if not sys.platform.startswith("linux"):
            raise SystemExit(f"vdsotime builds on Linux only (it reads the Linux vDSO); "
                             f"this is {sys.platform}")
        # Before setuptools' own finalize_options, which prepares the Extension objects
        # that cythonize replaces; and here rather than at import, so that -j sets the
        # number of Cython processes too. (egg_info finalizes this command to list the
        # sources, so the metadata step cythonizes; the build then finds the C files
        # up to date.)
        self.parallel = int(self.parallel or _cores())
        self.distribution.ext_modules = cythonize(
            self.distribution.ext_modules, compiler_directives=COMPILER_DIRECTIVES,
            nthreads=self.parallel if self.parallel > 1 else 0, force=self.force)
        super().finalize_options()

    def run(self):
        # Without the headers the compiler stops at "Python.h: No such file or
        # directory", six times over; say what to install instead.
        include = sysconfig.get_config_var("INCLUDEPY") or sysconfig.get_paths()["include"]
        if not os.path.exists(os.path.join(include, "Python.h")):
            raise SystemExit(f"vdsotime's C extensions need Python's headers, and "
                             f"{include}/Python.h is missing: install them (on Debian or "
                             f"Ubuntu: apt-get install python3-dev)")
        super().run()

    def build_extensions(self):
        # Largest C file first: on a few cores the longest compile must not start last.
        self.extensions.sort(key=lambda ext: -sum(
            os.path.getsize(source) for source in ext.sources if os.path.exists(source)))
        super().build_extensions()


EXTENSIONS = [
    Extension(f"vdsotime.{name}", [f"vdsotime/{name.replace('.', '/')}.pyx"],
              extra_compile_args=COMPILE_ARGS)
    for name in MODULES
]

setup(
    ext_modules=EXTENSIONS,
    cmdclass={"build_ext": ParallelLinuxBuildExt},
)
