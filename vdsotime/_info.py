"""info(): what vdsotime found in this process's vDSO and how each function is bound."""

from __future__ import annotations

from vdsotime import _auxv, _vdso
from vdsotime._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from vdsotime._elf import Symbol
    from vdsotime._vdso import Binding


class VdsoInfo(Record):
    """What vdsotime found: the vDSO (``present``, ``base``, ``size``, ``soname``,
    ``elf_class``, ``machine``, ``versions``, ``symbols``), the ``Binding`` of each API
    function in ``functions``, and ``fallback_reason`` (None when the vDSO serves every
    function). Immutable."""

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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (symbols and bindings as dicts)."""
        result = self._asdict()
        result["versions"] = list(self.versions)
        result["symbols"] = [symbol._asdict() for symbol in self.symbols]
        result["functions"] = {name: binding._asdict()
                               for name, binding in self.functions.items()}
        return result


_cached = None


def info():
    """Describe the vDSO of this process and the backend of each function."""
    global _cached
    if _cached is None:
        from types import MappingProxyType

        image = _vdso.live_image()
        functions = MappingProxyType(_vdso.bindings())
        if image is None:
            _cached = VdsoInfo(False, _auxv.sysinfo_ehdr(), 0, None, None, None, (), (),
                               functions, _vdso.fallback_reason())
        else:
            _cached = VdsoInfo(True, _auxv.sysinfo_ehdr(), image.size, image.soname,
                               image.elf_class, image.machine, image.versions,
                               image.symbols, functions, _vdso.fallback_reason())
    return _cached
