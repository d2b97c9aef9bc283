"""vdsotime: the kernel's fastest clocks, for Python.

At import, vdsotime finds the vDSO that Linux maps into every process and reads it with
a bounded ELF reader. This module is the public surface: re-exports only.
"""

try:
    from vdsotime._elf import ElfError, ElfImage, Symbol
    from vdsotime._auxv import auxv, vdso_image
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_here, "_elf.pyx")):
        raise ImportError(
            "vdsotime's compiled extensions are missing: this looks like a source "
            f"checkout ({_here}). Install the package (pip install .) and run from "
            "another folder, or build in place (python setup.py build_ext --inplace)."
        ) from exc
    raise

__all__ = ["ElfError", "ElfImage", "Symbol", "auxv", "vdso_image"]


def __getattr__(name):
    if name == "__version__":
        from importlib.metadata import version
        return version("vdsotime")
    raise AttributeError(f"module 'vdsotime' has no attribute {name!r}")
