# cython: language_level=3
"""The auxiliary vector, and the vDSO image the kernel maps into every process."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint64_t, uintptr_t
from libc.string cimport memcpy

from vdsotime._core.elf cimport ElfImage, _image_over

cdef extern from "<sys/auxv.h>":
    unsigned long getauxval(unsigned long type) nogil

cdef extern from "<unistd.h>":
    long sysconf(int name) nogil
    enum: _SC_PAGESIZE

AT_NULL = 0
AT_SYSINFO_EHDR = 33

# Names of the auxv entries Linux defines (include/uapi/linux/auxvec.h and the arch
# headers), for display.
AUXV_NAMES = {
    0: "AT_NULL", 2: "AT_EXECFD", 3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM",
    6: "AT_PAGESZ", 7: "AT_BASE", 8: "AT_FLAGS", 9: "AT_ENTRY", 11: "AT_UID",
    12: "AT_EUID", 13: "AT_GID", 14: "AT_EGID", 15: "AT_PLATFORM", 16: "AT_HWCAP",
    17: "AT_CLKTCK", 23: "AT_SECURE", 24: "AT_BASE_PLATFORM", 25: "AT_RANDOM",
    26: "AT_HWCAP2", 27: "AT_RSEQ_FEATURE_SIZE", 28: "AT_RSEQ_ALIGN", 29: "AT_HWCAP3",
    30: "AT_HWCAP4", 31: "AT_EXECFN", 32: "AT_SYSINFO", 33: "AT_SYSINFO_EHDR",
    34: "AT_L1I_CACHESHAPE", 35: "AT_L1D_CACHESHAPE", 36: "AT_L2_CACHESHAPE",
    37: "AT_L3_CACHESHAPE", 40: "AT_L1I_CACHESIZE", 41: "AT_L1I_CACHEGEOMETRY",
    42: "AT_L1D_CACHESIZE", 43: "AT_L1D_CACHEGEOMETRY", 44: "AT_L2_CACHESIZE",
    45: "AT_L2_CACHEGEOMETRY", 46: "AT_L3_CACHESIZE", 47: "AT_L3_CACHEGEOMETRY",
    51: "AT_MINSIGSTKSZ",
}

# The vDSO is a few pages; anything claiming more is not what we think it is.
MAX_VDSO_SIZE = 1 << 20


def sysinfo_ehdr():
    """getauxval(AT_SYSINFO_EHDR): the vDSO's base address, 0 when there is none."""
    return getauxval(AT_SYSINFO_EHDR)


def parse_auxv(data):
    """Parse the bytes of /proc/<pid>/auxv (native-endian unsigned long pairs ending
    with AT_NULL) into a dict. A truncated last pair is ignored."""
    cdef bytes raw
    cdef const char* chars
    cdef Py_ssize_t pairs, i
    cdef unsigned long pair[2]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_auxv(): data must be bytes, bytearray or memoryview, got "
                        f"{type(data).__name__}")
    # Through bytes, not a typed memoryview: Cython's memoryview support would import
    # collections.abc, milliseconds of a fresh interpreter's import budget.
    raw = bytes(data)
    chars = PyBytes_AS_STRING(raw)
    result = {}
    pairs = len(raw) // sizeof(pair)
    for i in range(pairs):
        memcpy(pair, chars + i * sizeof(pair), sizeof(pair))
        if pair[0] == 0:  # AT_NULL
            break
        result[pair[0]] = pair[1]
    return result


def auxv():
    """The process's auxiliary vector as ``{AT_type: value}``.

    Read from /proc/self/auxv; when that cannot be read (no /proc), the entries that
    ``getauxval`` knows are asked for one by one.
    """
    try:
        with open("/proc/self/auxv", "rb") as f:
            data = f.read()
    except OSError:
        result = {}
        for key in AUXV_NAMES:
            if key:
                value = getauxval(key)
                if value:
                    result[key] = value
        return result
    return parse_auxv(data)


cdef uint64_t _page_size():
    cdef long size = sysconf(_SC_PAGESIZE)
    return <uint64_t>(size if size > 0 else 4096)


def _mapping_size(uintptr_t base):
    """Size of the /proc/self/maps mapping that starts at ``base``, or None."""
    try:
        with open("/proc/self/maps", "rb") as f:
            maps = f.read()
    except OSError:
        return None
    for line in maps.splitlines():
        addresses = line.split(b" ", 1)[0].split(b"-")
        if len(addresses) == 2 and int(addresses[0], 16) == base:
            return int(addresses[1], 16) - base
    return None


def _size_from_headers(uintptr_t base):
    """Size of the image at ``base`` from its own program headers: the end of the
    furthest PT_LOAD, rounded up to a page (mappings are whole pages)."""
    cdef uint64_t page = _page_size()
    cdef ElfImage header = _image_over(None, <const uint8_t*>base, page, True)
    end = max(offset + filesz for (offset, vaddr, filesz, memsz, flags)
              in header.load_segments)
    return min((end + page - 1) // page * page, MAX_VDSO_SIZE)


def vdso_size(use_maps=True):
    """Size in bytes of the mapped vDSO: its ``[vdso]`` mapping in /proc/self/maps, or,
    when that cannot be read (or ``use_maps`` is false), its PT_LOAD extent."""
    cdef uintptr_t base = getauxval(AT_SYSINFO_EHDR)
    if base == 0:
        raise RuntimeError("this process has no vDSO (getauxval(AT_SYSINFO_EHDR) is 0)")
    size = _mapping_size(base) if use_maps else None
    if size is None:
        size = _size_from_headers(base)
    return min(size, MAX_VDSO_SIZE)


def vdso_image():
    """A copy of the vDSO image mapped into this process, as ``bytes``.

    Raises RuntimeError when the process has no vDSO.
    """
    cdef uintptr_t base = getauxval(AT_SYSINFO_EHDR)
    size = vdso_size()
    return PyBytes_FromStringAndSize(<const char*>base, size)
