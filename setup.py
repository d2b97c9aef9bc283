"""Build the Cython extensions. Metadata lives in pyproject.toml."""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Directives for every module; the hot loops turn bounds checks off locally instead.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "cdivision": True,
}

MODULES = ("_elf", "_auxv", "_vdso", "_hw", "_args", "_clock", "_loops", "_sample", "_probe",
           "_mock")


class LinuxOnlyBuildExt(build_ext):
    """vdsotime reads the Linux vDSO: say so plainly instead of failing in a compiler."""

    def run(self):
        if not sys.platform.startswith("linux"):
            raise SystemExit(f"vdsotime builds on Linux only (it reads the Linux vDSO); "
                             f"this is {sys.platform}")
        super().run()


EXTENSIONS = [
    Extension(f"vdsotime.{name}", [f"vdsotime/{name}.pyx"], extra_compile_args=["-O2"])
    for name in MODULES
]

setup(
    ext_modules=cythonize(EXTENSIONS, compiler_directives=COMPILER_DIRECTIVES),
    cmdclass={"build_ext": LinuxOnlyBuildExt},
)
