# cython: language_level=3
"""vDSO resolution: fill the function table once, at import.

For the ABI this extension was built for, each API function is looked up in the live
vDSO by its prefixed name and version (the key tables of ``_keys.pxi``), through the
image's hash tables. An address is accepted only when the symbol lies inside an
executable PT_LOAD segment of the image. Whatever is not found -- no vDSO, a parse
failure, a missing symbol, or ``VDSOTIME_DISABLE_VDSO=1`` -- is bound to libc instead,
and the reason is kept for ``info()``.

Return convention of the table's callers (``clock.pxd``): 0 is success. On failure the
error path below runs: -EINVAL is final (the clock id is invalid: asking the kernel
again would say the same); any other failure of a vDSO function is retried with the real
system call, so a vDSO that cannot serve a clock (or returns an error in an unexpected
convention) never produces a wrong error.

powerpc: the ppc vDSO reports errors as a positive errno with CR0.SO set instead of a
negative value. Seen through a C function pointer that is a nonzero result other than
-EINVAL, so it takes the syscall retry and the caller gets the kernel's own answer.
ppc64 ELFv1 (big-endian, the old ABI): a C function pointer is a function descriptor,
not a code address, so vDSO entry points get a synthesized descriptor (see
``vt_function_pointer``). Neither can be tested on x86-64 machines; the ppc64 key table
is tested against a ppc64 image built with cross binutils.
"""

from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport getenv

from vdsotime._elf cimport ElfImage, Segment, _image_over

from vdsotime._auxv import vdso_size
from vdsotime._elf import ElfError
from vdsotime._record import record

include "_keys.pxi"

cdef extern from *:
    """
    #include <errno.h>
    #include <sched.h>
    #include <stdint.h>
    #include <sys/auxv.h>
    #include <sys/syscall.h>
    #include <sys/time.h>
    #include <time.h>
    #include <unistd.h>

    #if defined(__x86_64__) && !defined(__ILP32__)
    #  define VT_NATIVE_ABI "x86_64"
    #elif defined(__i386__)
    #  define VT_NATIVE_ABI "i386"
    #elif defined(__aarch64__)
    #  define VT_NATIVE_ABI "aarch64"
    #elif defined(__arm__)
    #  define VT_NATIVE_ABI "arm"
    #elif defined(__riscv) && __riscv_xlen == 64
    #  define VT_NATIVE_ABI "riscv64"
    #elif defined(__powerpc64__)
    #  define VT_NATIVE_ABI "ppc64"
    #elif defined(__s390x__)
    #  define VT_NATIVE_ABI "s390x"
    #elif defined(__loongarch64)
    #  define VT_NATIVE_ABI "loongarch64"
    #elif defined(__mips__) && defined(_ABI64) && _MIPS_SIM == _ABI64
    #  define VT_NATIVE_ABI "mips64"
    #elif defined(__mips__)
    #  define VT_NATIVE_ABI "mips"
    #else
    #  define VT_NATIVE_ABI ""
    #endif

    /* The real system calls, for the retry path and as the test oracle's twin. On
       32-bit ABIs the time64 variants match this build's 64-bit time_t. */
    #if defined(SYS_clock_gettime64) && !defined(__LP64__)
    #  define VT_SYS_CLOCK_GETTIME SYS_clock_gettime64
    #  define VT_SYS_CLOCK_GETRES SYS_clock_getres_time64
    #else
    #  define VT_SYS_CLOCK_GETTIME SYS_clock_gettime
    #  define VT_SYS_CLOCK_GETRES SYS_clock_getres
    #endif
    static int vt_sys_clock_gettime(clockid_t clock_id, struct timespec *ts) {
        return syscall(VT_SYS_CLOCK_GETTIME, clock_id, ts) == 0 ? 0 : -errno;
    }
    static int vt_sys_clock_getres(clockid_t clock_id, struct timespec *ts) {
        return syscall(VT_SYS_CLOCK_GETRES, clock_id, ts) == 0 ? 0 : -errno;
    }
    static int vt_sys_getcpu(unsigned int *cpu, unsigned int *node, void *cache) {
        return syscall(SYS_getcpu, cpu, node, cache) == 0 ? 0 : -errno;
    }
    static int vt_sys_gettimeofday(struct timeval *tv) {
        struct timespec ts;
        int result = vt_sys_clock_gettime(CLOCK_REALTIME, &ts);
        if (result == 0) {
            tv->tv_sec = ts.tv_sec;
            tv->tv_usec = ts.tv_nsec / 1000;
        }
        return result;
    }
    /* libc has getcpu() only since glibc 2.29 and with two arguments: the libc-backed
       entry is the system call through libc's syscall(), with the vDSO's signature
       and libc's convention (-1 and errno). */
    static int vt_libc_getcpu(unsigned int *cpu, unsigned int *node, void *cache) {
        return (int)syscall(SYS_getcpu, cpu, node, cache);
    }

    /* A callable C function pointer for code at `address`. ppc64 ELFv1 calls through
       function descriptors (entry, TOC, environment): give each vDSO entry one, as
       glibc does. Everywhere else the code address is the function pointer. */
    #if defined(__powerpc64__) && (!defined(_CALL_ELF) || _CALL_ELF == 1)
    static struct { uintptr_t entry, toc, environment; } vt_descriptors[8];
    static void *vt_function_pointer(uintptr_t address, int slot) {
        vt_descriptors[slot].entry = address;
        return &vt_descriptors[slot];
    }
    #else
    static void *vt_function_pointer(uintptr_t address, int slot) {
        (void)slot;
        return (void *)address;
    }
    #endif
    """
    const char* VT_NATIVE_ABI
    int errno
    enum: EINVAL
    unsigned long getauxval(unsigned long) nogil
    enum: AT_SYSINFO_EHDR
    int vt_sys_clock_gettime(clockid_t, timespec*) nogil
    int vt_sys_clock_getres(clockid_t, timespec*) nogil
    int vt_sys_getcpu(unsigned int*, unsigned int*, void*) nogil
    int vt_sys_gettimeofday(timeval*) nogil
    int vt_libc_getcpu(unsigned int*, unsigned int*, void*) nogil
    void* vt_function_pointer(uintptr_t address, int slot) nogil
    int libc_clock_gettime "clock_gettime"(clockid_t, timespec*) nogil
    int libc_clock_getres "clock_getres"(clockid_t, timespec*) nogil
    int libc_gettimeofday "gettimeofday"(timeval*, void*) nogil
    time_t libc_time "time"(time_t*) nogil

cdef enum:
    PF_X = 1

NATIVE_ABI = VT_NATIVE_ABI.decode()
TIME_T_BITS = sizeof(time_t) * 8
API_FUNCTIONS = ("clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu")

Binding = record("Binding", "backend symbol version address reason", defaults=(None,), doc=(
    "How one API function is bound: backend ('vdso' or 'libc'), the symbol called, its "
    "version (None for libc), its address, and the reason when it is not the vDSO's."))

# libc's functions, in the table's signatures, with the names info() reports.
cdef dict LIBC_FUNCTIONS = {
    "clock_gettime": (<uintptr_t>&libc_clock_gettime, "clock_gettime"),
    "clock_getres": (<uintptr_t>&libc_clock_getres, "clock_getres"),
    "gettimeofday": (<uintptr_t>&libc_gettimeofday, "gettimeofday"),
    "time": (<uintptr_t>&libc_time, "time"),
    "getcpu": (<uintptr_t>&vt_libc_getcpu, "syscall(SYS_getcpu)"),
}


cdef inline int final_error(unsigned int slot_bit, int result) noexcept nogil:
    """The -errno to return when a failed call's error is final -- libc's (its errno),
    or the vDSO's -EINVAL -- or 0 when the real system call should be asked instead."""
    if not (table.from_vdso & slot_bit):
        return -errno
    if result == -EINVAL:
        return result
    return 0


cdef int clock_gettime_failed(clockid_t clock_id, timespec* ts, int result) noexcept nogil:
    cdef int error = final_error(1, result)
    return error if error else vt_sys_clock_gettime(clock_id, ts)


cdef int clock_getres_failed(clockid_t clock_id, timespec* ts, int result) noexcept nogil:
    cdef int error = final_error(2, result)
    return error if error else vt_sys_clock_getres(clock_id, ts)


cdef int gettimeofday_failed(timeval* tv, int result) noexcept nogil:
    cdef int error = final_error(4, result)
    return error if error else vt_sys_gettimeofday(tv)


cdef int getcpu_failed(unsigned int* cpu, unsigned int* node, int result) noexcept nogil:
    cdef int error = final_error(16, result)
    return error if error else vt_sys_getcpu(cpu, node, NULL)


cdef int sys_clock_gettime(clockid_t clock_id, timespec* ts) noexcept nogil:
    return vt_sys_clock_gettime(clock_id, ts)


cdef int sys_clock_getres(clockid_t clock_id, timespec* ts) noexcept nogil:
    return vt_sys_clock_getres(clock_id, ts)


cdef tuple _resolve(ElfImage image, uintptr_t base, str abi):
    """What the key table of ``abi`` binds in ``image`` mapped at ``base``.

    Returns ``(bound, missing)``: ``{function: (symbol, version, address)}`` and
    ``{function: reason}``. This is the path the import takes; ``resolve()`` offers it
    for any image and any table.
    """
    cdef Segment* segment
    cdef Py_ssize_t i
    cdef uint64_t value, size
    version, _, keys = KEY_TABLES[abi]
    bound, missing = {}, {}
    for function, name, name_elf_hash, name_gnu_hash in keys:
        if function in bound:
            continue
        if name in TIME64_SYMBOLS and TIME_T_BITS != 64:
            missing.setdefault(function, f"{name} takes a 64-bit time_t; this build's is "
                                         f"{TIME_T_BITS}-bit")
            continue
        index = image.find_symbol(name.encode(), version, name_elf_hash, name_gnu_hash)
        if index < 0:
            missing.setdefault(function, f"{name}@{version} is not in the vDSO")
            continue
        symbol = image.symbol_at(index)
        if symbol.type not in ("FUNC", "NOTYPE"):
            missing.setdefault(function, f"{name}@{version} is a {symbol.type} symbol, "
                                         "not a function")
            continue
        value, size = symbol.value, symbol.size
        for i in range(image._nloads):
            segment = &image._loads[i]
            if (segment.flags & PF_X and value >= segment.vaddr
                    and value - segment.vaddr < segment.filesz
                    and size <= segment.filesz - (value - segment.vaddr)):
                bound[function] = (name, version,
                                   base + segment.offset + (value - segment.vaddr))
                missing.pop(function, None)
                break
        else:
            missing.setdefault(function, f"{name}@{version} at {value:#x} is outside the "
                                         "vDSO's executable PT_LOAD segment")
    for function in API_FUNCTIONS:
        if function not in bound:
            missing.setdefault(function, f"the {abi} vDSO has no {function}")
    return bound, missing


def resolve(data, abi=None):
    """Resolve the key table of ``abi`` (default: this build's) against an ELF image
    given as bytes, exactly as the import resolves the live vDSO.

    Returns ``{function: Binding}`` for the functions the table would bind from the
    vDSO (``address`` is the function's offset in ``data``), and ``{function: reason}``
    for the others. For tests and tools: nothing is bound.
    """
    if abi is None:
        abi = NATIVE_ABI
    if abi not in KEY_TABLES:
        raise ValueError(f"resolve(): abi must be one of {', '.join(sorted(KEY_TABLES))}, "
                         f"got {abi!r}")
    image = ElfImage.from_bytes(data)
    bound, missing = _resolve(image, 0, abi)
    result = {function: Binding("vdso", name, version, address)
              for function, (name, version, address) in bound.items()}
    result.update(missing)
    return result


cdef object _live_image = None
cdef dict _bindings = {}
cdef object _fallback_reason = None


cdef _bind(str function, uintptr_t address, int slot, bint vdso):
    cdef void* pointer = vt_function_pointer(address, slot) if vdso else <void*>address
    if function == "clock_gettime":
        table.clock_gettime = <clock_gettime_fn>pointer
    elif function == "clock_getres":
        table.clock_getres = <clock_gettime_fn>pointer
    elif function == "gettimeofday":
        table.gettimeofday = <gettimeofday_fn>pointer
    elif function == "time":
        table.time = <time_fn>pointer
    elif function == "getcpu":
        table.getcpu = <getcpu_fn>pointer
    if vdso:
        table.from_vdso |= 1u << slot
    else:
        table.from_vdso &= ~(1u << slot)
    return <uintptr_t>pointer


cdef _init():
    global _live_image, _fallback_reason, import_table
    cdef const char* disable = getenv("VDSOTIME_DISABLE_VDSO")
    cdef uintptr_t base = 0
    bound, missing = {}, {}
    reason = None
    if disable != NULL and disable[0] != 0 and not (disable[0] == c'0' and disable[1] == 0):
        reason = "disabled by VDSOTIME_DISABLE_VDSO"
    elif NATIVE_ABI not in KEY_TABLES:
        reason = "vdsotime has no vDSO key table for this architecture"
    else:
        base = getauxval(AT_SYSINFO_EHDR)
        if base == 0:
            reason = "the kernel mapped no vDSO (getauxval(AT_SYSINFO_EHDR) is 0)"
        else:
            try:
                _live_image = _image_over(None, <const uint8_t*>base, vdso_size())
                bound, missing = _resolve(_live_image, base, NATIVE_ABI)
            except (ElfError, RuntimeError, OSError) as exc:
                reason = f"the vDSO could not be read: {exc}"
    reasons = []
    for slot, function in enumerate(API_FUNCTIONS):
        if function in bound:
            name, version, address = bound[function]
            _bindings[function] = Binding("vdso", name, version,
                                          _bind(function, address, slot, True))
        else:
            why = reason or missing[function]
            address, name = LIBC_FUNCTIONS[function]
            _bindings[function] = Binding("libc", name, None,
                                          _bind(function, address, slot, False), why)
            if reason is None:
                reasons.append(f"{function}: {why}")
    _fallback_reason = reason or ("; ".join(reasons) if reasons else None)
    import_table = table


_init()

# The table for C extensions, as numpy.random offers its bit generators: a PyCapsule named
# after its own import path, so C code can take it with PyCapsule_Import(CAPSULE_NAME, 0).
# vdsotime/vdsotime.h declares the struct and a helper.
CAPSULE_NAME = "vdsotime._vdso.function_table"
function_table = PyCapsule_New(<void*>&table, b"vdsotime._vdso.function_table", NULL)


def c_symbols():
    """Addresses of the function table and of its clock_gettime/clock_getres error paths
    in this process, by the symbol names under which vdsotime.numba registers them with
    LLVM: compiled numba code names the symbols, never an address, so a function cached
    on disk (``cache=True``) finds them again in the next process."""
    return {
        "vdsotime_function_table": <uintptr_t>&table,
        "vdsotime_clock_gettime_failed": <uintptr_t>&clock_gettime_failed,
        "vdsotime_clock_getres_failed": <uintptr_t>&clock_getres_failed,
    }


def bindings():
    """{function: Binding} as resolved at import."""
    return dict(_bindings)


def fallback_reason():
    """Why some or all functions are libc's, or None when the vDSO serves them all."""
    return _fallback_reason


def live_image():
    """The ElfImage of the live vDSO (read in place), or None."""
    return _live_image


def address(name):
    """Address of the C function vdsotime calls for ``name``: one of clock_gettime,
    clock_getres, gettimeofday, time, getcpu (for ctypes, cffi, numba)."""
    if not isinstance(name, str):
        raise TypeError(f"address(): name must be str, got {type(name).__name__}")
    binding = _bindings.get(name)
    if binding is None:
        raise ValueError(f"address(): name must be one of {', '.join(API_FUNCTIONS)}, "
                         f"got {name!r}")
    return binding.address


def sys_clock_gettime_ns(clockid_t clock_id):
    """CLOCK reading through the real system call (not the vDSO), in ns."""
    cdef timespec ts
    cdef int result = vt_sys_clock_gettime(clock_id, &ts)
    if result:
        raise OSError(-result, __import__("os").strerror(-result))
    return ts.tv_sec * 1000000000 + ts.tv_nsec
