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

Seconds are 64-bit on every ABI (``vdso.pxd``). On 32-bit ABIs that means
``__vdso_clock_gettime64``, the old ``__vdso_clock_getres`` through a shim that widens its
32-bit seconds (a resolution always fits), ``gettimeofday`` and ``time`` computed from
``clock_gettime`` (theirs have 32-bit seconds), the time64 system calls for the retry,
and libc, widened, only for what the vDSO lacks. None of it depends on libc's time_t.

powerpc: the ppc vDSO reports errors as a positive errno with CR0.SO set instead of a
negative value. Seen through a C function pointer that is a nonzero result other than
-EINVAL, so it takes the syscall retry and the caller gets the kernel's own answer.
ppc64 ELFv1 (big-endian, the old ABI): a C function pointer is a function descriptor,
not a code address, so vDSO entry points get a synthesized descriptor (see
``vt_function_pointer``). Neither can be tested on x86-64 machines; the ppc64 key table
is tested against a ppc64 image built with cross binutils.
"""

from cpython.pycapsule cimport PyCapsule_New
from libc.stdint cimport int64_t, uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport getenv

from vdsotime._core.elf cimport ElfImage, Segment, _image_over

from vdsotime._core.auxv import vdso_size
from vdsotime._core.elf import ElfError
from vdsotime._core.record import record

include "keys.pxi"

cdef extern from *:
    """
    #include <errno.h>
    #include <stddef.h>
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

    /* The table's structs have 64-bit seconds on every ABI (vdso.pxd). Where libc's
       are the same types (VDSOTIME_LIBC_LAYOUT), libc's functions go into the table as
       they are. Elsewhere libc's clock_gettime and clock_getres are widened from libc's
       time_t (and keep its range), and gettimeofday and time are computed from the
       table's clock_gettime instead (DERIVED below). */
    #if VDSOTIME_LIBC_LAYOUT
    #  define VT_LIBC_CLOCK_GETTIME ((void *)&clock_gettime)
    #  define VT_LIBC_CLOCK_GETRES ((void *)&clock_getres)
    #  define VT_LIBC_GETTIMEOFDAY ((void *)&gettimeofday)
    #  define VT_LIBC_TIME ((void *)&time)
    #else
    static int vt_widened(int result, const struct timespec *native,
                          vdsotime_timespec *ts) {
        if (result == 0) {
            ts->tv_sec = native->tv_sec;
            ts->tv_nsec = native->tv_nsec;
        }
        return result;
    }
    static int vt_libc_clock_gettime(clockid_t clock_id, vdsotime_timespec *ts) {
        struct timespec native;
        return vt_widened(clock_gettime(clock_id, &native), &native, ts);
    }
    static int vt_libc_clock_getres(clockid_t clock_id, vdsotime_timespec *ts) {
        struct timespec native;
        return vt_widened(clock_getres(clock_id, &native), &native, ts);
    }
    #  define VT_LIBC_CLOCK_GETTIME ((void *)&vt_libc_clock_gettime)
    #  define VT_LIBC_CLOCK_GETRES ((void *)&vt_libc_clock_getres)
    #  define VT_LIBC_GETTIMEOFDAY ((void *)0)
    #  define VT_LIBC_TIME ((void *)0)
    #endif
    _Static_assert(sizeof(vdsotime_timespec) == 16 && sizeof(vdsotime_timeval) == 16
                   && offsetof(vdsotime_timespec, tv_nsec) == 8,
                   "the table's timespec and timeval are two 64-bit fields");

    /* The old 32-bit timespec of 32-bit ABIs (the kernel's old_timespec32), which the
       vDSO's __vdso_clock_getres takes there: a resolution always fits. The table calls
       such an entry point through vt_clock_getres_time32, which widens. */
    struct vt_old_timespec32 { int32_t tv_sec; int32_t tv_nsec; };
    static void *vt_clock_getres_time32_target;
    static int vt_clock_getres_time32(clockid_t clock_id, vdsotime_timespec *ts) {
        struct vt_old_timespec32 narrow;
        int result = ((int (*)(clockid_t, struct vt_old_timespec32 *))
                      vt_clock_getres_time32_target)(clock_id, &narrow);
        if (result == 0) {
            ts->tv_sec = narrow.tv_sec;
            ts->tv_nsec = narrow.tv_nsec;
        }
        return result;
    }

    /* The real system calls, for the retry path and as the test oracle's twin. 32-bit
       ABIs take the time64 ones (the same numbers on every 32-bit ABI, offset on mips;
       spelled out for kernel headers older than Linux 5.1, such as manylinux2014's), and
       the old ones, widened, only on a kernel without them (ENOSYS: before 5.1). */
    #if !VDSOTIME_LIBC_LAYOUT && !defined(SYS_clock_gettime64)
    #  if defined(__i386__) || defined(__arm__)
    #    define SYS_clock_gettime64 403
    #    define SYS_clock_getres_time64 406
    #  elif defined(__mips__) && _MIPS_SIM == _ABIO32
    #    define SYS_clock_gettime64 4403
    #    define SYS_clock_getres_time64 4406
    #  elif defined(__mips__) && _MIPS_SIM == _ABIN32
    #    define SYS_clock_gettime64 6403
    #    define SYS_clock_getres_time64 6406
    #  endif
    #endif
    static int vt_sys_time(long number, long number_time64, clockid_t clock_id,
                           vdsotime_timespec *ts) {
    #if VDSOTIME_LIBC_LAYOUT
        (void)number_time64;
        return syscall(number, clock_id, ts) == 0 ? 0 : -errno;
    #else
        struct vt_old_timespec32 narrow;
        if (number_time64 >= 0) {
            if (syscall(number_time64, clock_id, ts) == 0)
                return 0;
            if (errno != ENOSYS)
                return -errno;
        }
        if (syscall(number, clock_id, &narrow) != 0)
            return -errno;
        ts->tv_sec = narrow.tv_sec;
        ts->tv_nsec = narrow.tv_nsec;
        return 0;
    #endif
    }
    #ifdef SYS_clock_gettime64
    #  define VT_SYS_CLOCK_GETTIME64 SYS_clock_gettime64
    #  define VT_SYS_CLOCK_GETRES64 SYS_clock_getres_time64
    #else
    #  define VT_SYS_CLOCK_GETTIME64 (-1)
    #  define VT_SYS_CLOCK_GETRES64 (-1)
    #endif
    static int vt_sys_clock_gettime(clockid_t clock_id, vdsotime_timespec *ts) {
        return vt_sys_time(SYS_clock_gettime, VT_SYS_CLOCK_GETTIME64, clock_id, ts);
    }
    static int vt_sys_clock_getres(clockid_t clock_id, vdsotime_timespec *ts) {
        return vt_sys_time(SYS_clock_getres, VT_SYS_CLOCK_GETRES64, clock_id, ts);
    }
    static int vt_sys_getcpu(unsigned int *cpu, unsigned int *node, void *cache) {
        return syscall(SYS_getcpu, cpu, node, cache) == 0 ? 0 : -errno;
    }
    static int vt_sys_gettimeofday(vdsotime_timeval *tv) {
        vdsotime_timespec ts;
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
    enum: CLOCK_REALTIME
    enum: CLOCK_REALTIME_COARSE
    bint VDSOTIME_LIBC_LAYOUT
    void* VT_LIBC_CLOCK_GETTIME
    void* VT_LIBC_CLOCK_GETRES
    void* VT_LIBC_GETTIMEOFDAY
    void* VT_LIBC_TIME
    void* vt_clock_getres_time32_target
    int vt_clock_getres_time32(clockid_t, timespec*) nogil
    int vt_sys_clock_gettime(clockid_t, timespec*) nogil
    int vt_sys_clock_getres(clockid_t, timespec*) nogil
    int vt_sys_getcpu(unsigned int*, unsigned int*, void*) nogil
    int vt_sys_gettimeofday(timeval*) nogil
    int vt_libc_getcpu(unsigned int*, unsigned int*, void*) nogil
    void* vt_function_pointer(uintptr_t address, int slot) nogil

cdef enum:
    PF_X = 1

NATIVE_ABI = VT_NATIVE_ABI.decode()
TIME_T_BITS = sizeof(time_t) * 8  # libc's; the table's seconds are 64-bit on every ABI
API_FUNCTIONS = ("clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu")

Binding = record("Binding", "backend symbol version address reason", defaults=(None,), doc=(
    "How one API function is bound: ``backend`` ('vdso' or 'libc'), the ``symbol`` called, "
    "its ``version`` (None for libc), the ``address`` vdsotime calls, and the ``reason`` "
    "when that is not the symbol itself (libc's function instead of the vDSO's, a widening shim, or "
    "a function computed from clock_gettime)."))

# What info() says of a vDSO entry point, by the layout of its time arguments.
LAYOUT_NOTES = {
    "direct": None,  # the table's own layout: called as it is
    "time32": ("called through a shim that widens its 32-bit seconds (always enough for "
               "a resolution)"),
}

# libc's functions, in the table's signatures, with the names info() reports.
cdef dict LIBC_FUNCTIONS = {
    "clock_gettime": (<uintptr_t>VT_LIBC_CLOCK_GETTIME, "clock_gettime"),
    "clock_getres": (<uintptr_t>VT_LIBC_CLOCK_GETRES, "clock_getres"),
    "gettimeofday": (<uintptr_t>VT_LIBC_GETTIMEOFDAY, "gettimeofday"),
    "time": (<uintptr_t>VT_LIBC_TIME, "time"),
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


cdef int gettimeofday_from_clock(timeval* tv, void* timezone) noexcept nogil:
    """gettimeofday from the table's clock_gettime(CLOCK_REALTIME), as glibc's 64-bit
    gettimeofday is; its errors are clock_gettime's, in clock_gettime's convention."""
    cdef timespec ts
    cdef int result = table.clock_gettime(CLOCK_REALTIME, &ts)
    if result == 0:
        tv.tv_sec = ts.tv_sec
        tv.tv_usec = ts.tv_nsec // 1000
    return result


cdef int64_t time_from_clock(int64_t* seconds) noexcept nogil:
    """time() from the table's clock_gettime(CLOCK_REALTIME_COARSE), whose seconds are
    the ones the vDSO's own time() reads (the kernel's xtime); -1 when even the system
    call fails."""
    cdef timespec ts
    cdef int result = table.clock_gettime(CLOCK_REALTIME_COARSE, &ts)
    if result != 0 and clock_gettime_failed(CLOCK_REALTIME_COARSE, &ts, result) != 0:
        return -1
    if seconds != NULL:
        seconds[0] = ts.tv_sec
    return ts.tv_sec


# Where this build's libc structs have 32-bit seconds, gettimeofday and time -- the
# vDSO's and libc's alike -- stop in 2038: they are computed from the table's
# clock_gettime instead, which is the vDSO's clock_gettime64 where there is one.
cdef dict DERIVED = {} if VDSOTIME_LIBC_LAYOUT else {
    "gettimeofday": (<uintptr_t>&gettimeofday_from_clock, "CLOCK_REALTIME"),
    "time": (<uintptr_t>&time_from_clock, "CLOCK_REALTIME_COARSE"),
}


cdef tuple _resolve(ElfImage image, uintptr_t base, str abi):
    """What the key table of ``abi`` binds in ``image`` mapped at ``base``.

    Returns ``(bound, missing)``: ``{function: (symbol, version, address, layout)}`` and
    ``{function: reason}``. This is the path the import takes; ``resolve()`` offers it
    for any image and any table.
    """
    cdef Segment* segment
    cdef Py_ssize_t i
    cdef uint64_t value, size
    version, _, keys = KEY_TABLES[abi]
    bound, missing = {}, {}
    for function, name, name_elf_hash, name_gnu_hash, layout in keys:
        if function in bound:
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
                                   base + segment.offset + (value - segment.vaddr), layout)
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
    result = {function: Binding("vdso", name, version, address, LAYOUT_NOTES[layout])
              for function, (name, version, address, layout) in bound.items()}
    result.update(missing)
    return result


cdef object _live_image = None
cdef dict _bindings = {}
cdef object _fallback_reason = None


cdef uintptr_t _bind(str function, uintptr_t address, int slot, bint vdso_convention):
    cdef void* pointer = <void*>address
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
    if vdso_convention:
        table.from_vdso |= 1u << slot
    else:
        table.from_vdso &= ~(1u << slot)
    return address


cdef uintptr_t _vdso_callable(str function, uintptr_t address, int slot,
                              str layout) except 0:
    """What the table calls for the vDSO function at ``address``: the function itself,
    or for a time32 entry point the shim that widens its answer."""
    global vt_clock_getres_time32_target
    cdef void* pointer = vt_function_pointer(address, slot)
    if layout == "direct":
        return <uintptr_t>pointer
    if layout == "time32" and function in TIME32_FUNCTIONS:
        vt_clock_getres_time32_target = pointer
        return <uintptr_t>&vt_clock_getres_time32
    raise RuntimeError(f"vdsotime's key table binds {function} to a {layout} entry point")


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
        if function in DERIVED:  # (after clock_gettime, which comes first)
            address, clock = DERIVED[function]
            source = _bindings["clock_gettime"]
            why = (f"computed from clock_gettime({clock}): a 32-bit ABI's own {function} "
                   "has 32-bit seconds")
            if source.reason:
                why = f"{source.reason}; {why}"
            _bindings[function] = Binding(
                source.backend, source.symbol, source.version,
                _bind(function, address, slot, source.backend == "vdso"), why)
        elif function in bound:
            name, version, address, layout = bound[function]
            pointer = _vdso_callable(function, address, slot, layout)
            _bindings[function] = Binding("vdso", name, version,
                                          _bind(function, pointer, slot, True),
                                          LAYOUT_NOTES[layout])
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

# The table for C extensions: a PyCapsule named after its own import path, the convention
# of CPython's datetime.datetime_CAPI, so C code can take it with
# PyCapsule_Import(CAPSULE_NAME, 0). vdsotime/vdsotime.h declares the struct and a helper.
CAPSULE_NAME = "vdsotime._core.vdso.function_table"
function_table = PyCapsule_New(<void*>&table, b"vdsotime._core.vdso.function_table", NULL)


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
    """CLOCK reading through the real system call (not the vDSO; clock_gettime64 on
    32-bit ABIs), in ns."""
    cdef timespec ts
    cdef int result = vt_sys_clock_gettime(clock_id, &ts)
    if result:
        raise OSError(-result, __import__("os").strerror(-result))
    return ts.tv_sec * 1000000000 + ts.tv_nsec
