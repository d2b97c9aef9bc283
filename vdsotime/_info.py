"""info(): what vdsotime found in this process's vDSO and how each function is bound."""

from vdsotime import _auxv, _vdso
from vdsotime._record import record

_FIELDS = ("present base size soname elf_class machine versions symbols functions "
           "fallback_reason")


class VdsoInfo(record("VdsoInfo", _FIELDS)):
    """What vdsotime found: the vDSO (``present``, ``base``, ``size``, ``soname``,
    ``elf_class``, ``machine``, ``versions``, ``symbols``), the ``Binding`` of each API
    function in ``functions``, and ``fallback_reason`` (None when the vDSO serves every
    function). Immutable."""

    __slots__ = ()

    def to_dict(self):
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
