"""info(): what vdsotime found in this process's vDSO and how each function is bound."""

from __future__ import annotations

from vdsotime._core import auxv, hw, vdso
from vdsotime._core.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from vdsotime._core.elf import Symbol
    from vdsotime._core.vdso import Binding


class VdsoInfo(Record):
    """What vdsotime found: the vDSO (``present``, ``base``, ``size``, ``soname``,
    ``elf_class``, ``machine``, ``versions``, ``symbols``), the ``Binding`` of each API
    function in ``functions``, ``fallback_reason`` (None when the vDSO serves every
    function), and ``cpu_source``: where ``sample_cpu()`` and ``jitter()`` learn the CPU
    they run on -- "rdpid" or "rdtscp" (an x86 instruction), else "getcpu" (the
    ``getcpu`` of ``functions``). Immutable."""

    __slots__ = ()
    present: bool
    base: int
    size: int
    soname: str | None
    elf_class: int | None
    machine: str | None
    versions: tuple[str, ...]
    symbols: tuple[Symbol, ...]
    functions: Mapping[str, Binding]
    fallback_reason: str | None
    cpu_source: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (symbols and bindings as dicts; each binding also says
        whether its symbol's version is ``hidden``, which the text shows as name@VERSION
        rather than name@@VERSION)."""
        result = self._asdict()
        result["versions"] = list(self.versions)
        result["symbols"] = [symbol._asdict() for symbol in self.symbols]
        result["functions"] = {name: dict(binding._asdict(),
                                          hidden=_hidden(binding, self.symbols))
                               for name, binding in self.functions.items()}
        return result


def versioned_name(name, version, hidden=False):
    """A symbol as readelf prints it: ``name@@VERSION`` for the default version,
    ``name@VERSION`` for a hidden one (or one needed from another file), ``name``
    without a version."""
    if not version:
        return name
    return f"{name}{'@' if hidden else '@@'}{version}"


def _hidden(binding, symbols):
    """Whether the version of the symbol a ``Binding`` calls is hidden, from the image's
    ``symbols`` (False for a libc binding, which has no version)."""
    return bool(binding.version) and any(
        symbol.hidden for symbol in symbols
        if symbol.name == binding.symbol and symbol.version == binding.version)


def bound_name(binding, symbols):
    """The symbol a ``Binding`` calls, in readelf's notation (``versioned_name``), its
    hidden flag taken from the image's ``symbols``."""
    return versioned_name(binding.symbol, binding.version, _hidden(binding, symbols))


_cached = None


def info():
    """Describe the vDSO of this process and the backend of each function."""
    global _cached
    if _cached is None:
        from types import MappingProxyType

        image = vdso.live_image()
        functions = MappingProxyType(vdso.bindings())
        if image is None:
            _cached = VdsoInfo(False, auxv.sysinfo_ehdr(), 0, None, None, None, (), (),
                               functions, vdso.fallback_reason(), hw.CPU_SOURCE)
        else:
            _cached = VdsoInfo(True, auxv.sysinfo_ehdr(), image.size, image.soname,
                               image.elf_class, image.machine, image.versions,
                               image.symbols, functions, vdso.fallback_reason(),
                               hw.CPU_SOURCE)
    return _cached
