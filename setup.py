"""Build the Cython extensions. Metadata lives in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

# Directives for every module; the hot loops turn bounds checks off locally instead.
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "cdivision": True,
}

EXTENSIONS = [
    Extension(f"vdsotime.{name}", [f"vdsotime/{name}.pyx"], extra_compile_args=["-O2"])
    for name in ("_elf", "_auxv", "_vdso", "_clock", "_sample", "_measure")
]

setup(ext_modules=cythonize(EXTENSIONS, compiler_directives=COMPILER_DIRECTIVES))
