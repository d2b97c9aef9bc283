# cython: language_level=3
"""Bulk samplers: tight nogil loops writing into numpy arrays.

The loops run without the GIL for their whole length, in chunks: between two chunks the
GIL is taken back for a moment and pending signals are checked, so Ctrl-C raises
KeyboardInterrupt promptly. A chunk is a few milliseconds of work (a fixed count of
samples; a fixed span of time for the paced sampler), which keeps the chunking cost far
below 1 % of a sample.

This module (and numpy) is loaded on first use of a sampler, never by ``import vdsotime``.
"""

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from vdsotime cimport clock as c
from vdsotime._vdso cimport timespec

import os

import numpy as np

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__x86_64__)
    #include <cpuid.h>
    #include <x86intrin.h>
    #define VT_HAVE_TSC 1
    static inline uint64_t vt_rdtsc(void) { return __rdtsc(); }
    /* lfence; rdtsc: the read cannot move before earlier loads (the kernel's
       rdtsc_ordered), for bracketing a TSC read between two clock reads. */
    static inline uint64_t vt_rdtsc_ordered(void) { _mm_lfence(); return __rdtsc(); }
    static inline uint32_t vt_rdtscp_aux(void) { unsigned int aux; __rdtscp(&aux); return aux; }
    static inline uint32_t vt_rdpid(void) {
        unsigned long long value;
        __asm__ volatile ("rdpid %0" : "=r" (value));
        return (uint32_t)value;
    }
    static int vt_cpuid_bit(unsigned int leaf, unsigned int subleaf, int reg, int bit) {
        unsigned int r[4];
        if (!__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3])) return 0;
        return (r[reg] >> bit) & 1;
    }
    #else
    #define VT_HAVE_TSC 0
    static inline uint64_t vt_rdtsc(void) { return 0; }
    static inline uint64_t vt_rdtsc_ordered(void) { return 0; }
    static inline uint32_t vt_rdtscp_aux(void) { return 0; }
    static inline uint32_t vt_rdpid(void) { return 0; }
    static int vt_cpuid_bit(unsigned int l, unsigned int s, int r, int b) { return 0; }
    #endif
    """
    bint VT_HAVE_TSC
    uint64_t vt_rdtsc() nogil
    uint64_t vt_rdtsc_ordered() nogil
    uint32_t vt_rdtscp_aux() nogil
    uint32_t vt_rdpid() nogil
    int vt_cpuid_bit(unsigned int leaf, unsigned int subleaf, int reg, int bit) nogil


cdef packed struct TimeCpu:
    int64_t t_ns
    int32_t cpu


# Samples per chunk between signal checks: 65536 clock reads are about 2 ms through the
# vDSO (about 15 ms if every read is a system call).
cdef Py_ssize_t CHUNK = 1 << 16
# The paced sampler checks for signals after this much time instead.
cdef int64_t PACED_CHUNK_NS = 10_000_000

TIME_CPU_DTYPE = np.dtype([("t_ns", np.int64), ("cpu", np.int32)])

# How sample_cpu() reads the CPU number: rdpid, else rdtscp's TSC_AUX (Linux stores
# (node << 12) | cpu there), else the vDSO's getcpu.
cdef enum CpuSource:
    CPU_FROM_RDPID, CPU_FROM_RDTSCP, CPU_FROM_GETCPU

cdef CpuSource cpu_source
if VT_HAVE_TSC and vt_cpuid_bit(7, 0, 2, 22):
    cpu_source = CPU_FROM_RDPID
elif VT_HAVE_TSC and vt_cpuid_bit(0x80000001, 0, 3, 27):
    cpu_source = CPU_FROM_RDTSCP
else:
    cpu_source = CPU_FROM_GETCPU
CPU_SOURCE = ("rdpid", "rdtscp", "getcpu")[<int>cpu_source]
HAVE_TSC = bool(VT_HAVE_TSC)


# -- argument checks ------------------------------------------------------------------

cdef Py_ssize_t _count(str function, object n, object out) except -1:
    """The number of samples: ``n``, or the length of ``out``."""
    if n is None:
        if out is None:
            raise TypeError(f"{function}(): give n (the number of samples) or out (an "
                            "array to fill)")
        return len(out)
    if isinstance(n, float) or not hasattr(n, "__index__"):
        raise TypeError(f"{function}(): n must be an integer, got {type(n).__name__}")
    n = n.__index__()
    if n < 0:
        raise ValueError(f"{function}(): n must be >= 0, got {n}")
    if out is not None and n > len(out):
        raise ValueError(f"{function}(): n is {n} but out has only {len(out)} elements")
    return n


cdef object _output(str function, object out, Py_ssize_t n, object dtype, str dtype_name):
    """``out`` checked (1-D, C-contiguous, writeable, of ``dtype``), or a new array."""
    if out is None:
        return np.empty(n, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{function}(): out must be a numpy array of {dtype_name}, got "
                        f"{type(out).__name__}")
    problem = None
    if out.dtype != dtype:
        problem = TypeError
    elif out.ndim != 1 or not out.flags.c_contiguous or not out.flags.writeable:
        problem = ValueError
    if problem is not None:
        what = []
        if not out.flags.writeable:
            what.append("read-only")
        if not out.flags.c_contiguous:
            what.append("non-contiguous")
        what.append(f"{out.dtype} with shape {out.shape}")
        raise problem(f"{function}(): out must be a writeable 1-D C-contiguous "
                      f"{dtype_name} array, got {' '.join(what)}")
    return out


cdef int _check_clock(c.clockid_t clock_id) except -1:
    """Read the clock once, so that an invalid id fails before the loop (as OSError)."""
    cdef int64_t value = c.clock_gettime_ns(clock_id)
    if -4096 < value < 0:
        raise OSError(-value, os.strerror(-value))
    return 0


cdef c.clockid_t _clock_id(str function, object clock_id) except? -1:
    if isinstance(clock_id, float) or not hasattr(clock_id, "__index__"):
        raise TypeError(f"{function}(): clock_id must be an integer (a CLOCK_* constant), "
                        f"got {type(clock_id).__name__}")
    value = clock_id.__index__()
    if not -2**31 <= value < 2**31:
        raise OverflowError(f"{function}(): clock_id must fit in a C int, got {value}")
    _check_clock(value)
    return value


cdef int _raise_errno(int64_t error) except -1:
    raise OSError(<int>-error, os.strerror(<int>-error))


# -- the loops (no Python, no GIL) ------------------------------------------------------

# The loops share one signature, so that one chunked driver serves them all: fill n
# elements at ``out``; 0, or -errno at the first failed read.
ctypedef int64_t (*fill_function)(char* out, Py_ssize_t n, c.clockid_t clock_id) noexcept nogil


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t _fill_clock(char* buffer, Py_ssize_t n, c.clockid_t clock_id) noexcept nogil:
    """n back-to-back readings."""
    cdef int64_t* out = <int64_t*>buffer
    cdef Py_ssize_t i
    cdef timespec ts
    cdef int result
    for i in range(n):
        result = c.clock_gettime(clock_id, &ts)
        if result != 0:
            return result
        out[i] = <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t _fill_tsc(char* buffer, Py_ssize_t n, c.clockid_t unused) noexcept nogil:
    cdef uint64_t* out = <uint64_t*>buffer
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = vt_rdtsc()
    return 0


cdef int32_t current_cpu() noexcept nogil:
    cdef unsigned int cpu = 0, node = 0
    if cpu_source == CPU_FROM_RDPID:
        return <int32_t>(vt_rdpid() & 0xfff)
    if cpu_source == CPU_FROM_RDTSCP:
        return <int32_t>(vt_rdtscp_aux() & 0xfff)
    if c.getcpu(&cpu, &node) != 0:
        return -1
    return <int32_t>cpu


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t _fill_cpu(char* buffer, Py_ssize_t n, c.clockid_t clock_id) noexcept nogil:
    cdef TimeCpu* out = <TimeCpu*>buffer
    cdef Py_ssize_t i
    cdef timespec ts
    cdef int result
    for i in range(n):
        result = c.clock_gettime(clock_id, &ts)
        if result != 0:
            return result
        out[i].t_ns = <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec
        out[i].cpu = current_cpu()
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _paced(int64_t* out, Py_ssize_t start, Py_ssize_t n, int64_t first,
                       int64_t period, c.clockid_t clock_id, int64_t deadline) noexcept nogil:
    """Fill out[start:n]: sample i is the first reading at or after first + i*period.
    Returns the index reached when ``deadline`` passes (or n): the caller checks for
    signals and calls again. A late sample is taken at once; nothing is skipped."""
    cdef Py_ssize_t i
    cdef int64_t target, now
    for i in range(start, n):
        target = first + i * period
        while True:
            now = c.clock_gettime_ns(clock_id)
            if now >= target:
                break
            if now >= deadline:
                return i
        out[i] = now
        if now >= deadline:
            return i + 1
    return n


cdef object _chunked(fill_function fill, object result, Py_ssize_t count, c.clockid_t clock):
    """Run ``fill`` over the first ``count`` elements of ``result`` in chunks, without
    the GIL, checking for signals between chunks. Returns ``result`` or its first
    ``count`` elements."""
    cdef unsigned char[::1] raw
    cdef char* data
    cdef Py_ssize_t itemsize = result.itemsize, start, stop
    cdef int64_t error = 0
    if count == 0:
        return result[:0]
    raw = result.view(np.uint8)
    data = <char*>&raw[0]
    for start in range(0, count, CHUNK):
        stop = min(start + CHUNK, count)
        with nogil:
            error = fill(data + start * itemsize, stop - start, clock)
        if error:
            _raise_errno(error)
        PyErr_CheckSignals()
    return result if count == len(result) else result[:count]


# -- the Python surface -------------------------------------------------------------------

def sample(n=None, clock_id=c.CLOCK_MONOTONIC, *, out=None):
    """sample(n=None, clock_id=CLOCK_MONOTONIC, *, out=None) -> ndarray[int64]

    ``n`` back-to-back readings of the clock, in nanoseconds, taken without the GIL. With
    ``out`` (a writeable 1-D C-contiguous int64 array) the readings go there, in place:
    all of it, or its first ``n`` elements, and that array (or that slice) is returned.
    """
    cdef Py_ssize_t count = _count("sample", n, out)
    cdef c.clockid_t clock = _clock_id("sample", clock_id)
    result = _output("sample", out, count, np.int64, "int64")
    return _chunked(_fill_clock, result, count, clock)


def sample_tsc(n=None, *, out=None):
    """sample_tsc(n=None, *, out=None) -> ndarray[uint64]

    ``n`` back-to-back raw time-stamp counter readings (``rdtsc``), in ticks. Convert them
    with ``calibrate_tsc().to_ns(ticks)``. x86-64 only.
    """
    cdef Py_ssize_t count
    if not VT_HAVE_TSC:
        raise NotImplementedError("sample_tsc() reads the x86-64 time-stamp counter "
                                  f"(rdtsc); this machine is {os.uname().machine}")
    count = _count("sample_tsc", n, out)
    result = _output("sample_tsc", out, count, np.uint64, "uint64")
    return _chunked(_fill_tsc, result, count, 0)


def sample_cpu(n=None, clock_id=c.CLOCK_MONOTONIC, *, out=None):
    """sample_cpu(n=None, clock_id=CLOCK_MONOTONIC, *, out=None) -> structured ndarray

    ``n`` readings of the clock, each with the CPU the thread ran on just after it:
    fields ``t_ns`` (int64) and ``cpu`` (int32). The CPU comes from ``rdpid``, or
    ``rdtscp``, or the vDSO's ``getcpu`` (``vdsotime._sample.CPU_SOURCE`` says which).
    """
    cdef Py_ssize_t count = _count("sample_cpu", n, out)
    cdef c.clockid_t clock = _clock_id("sample_cpu", clock_id)
    result = _output("sample_cpu", out, count, TIME_CPU_DTYPE,
                     "structured [('t_ns', int64), ('cpu', int32)]")
    return _chunked(_fill_cpu, result, count, clock)


def sample_every(period_ns, n, clock_id=c.CLOCK_MONOTONIC):
    """sample_every(period_ns, n, clock_id=CLOCK_MONOTONIC) -> ndarray[int64]

    ``n`` readings paced ``period_ns`` apart by busy-waiting (a core stays busy): sample
    ``i`` is the first reading at or after ``start + i * period_ns``. Returns the actual
    times, so lateness shows (a late sample is taken at once; none is skipped).
    """
    cdef Py_ssize_t count
    cdef c.clockid_t clock
    cdef int64_t period, first, deadline
    cdef Py_ssize_t reached = 0
    cdef int64_t[::1] view
    if isinstance(period_ns, float) or not hasattr(period_ns, "__index__"):
        raise TypeError("sample_every(): period_ns must be an integer number of "
                        f"nanoseconds, got {type(period_ns).__name__}")
    if not 0 < period_ns.__index__() < 2**62:
        raise ValueError(f"sample_every(): period_ns must be > 0, got {period_ns}")
    period = period_ns.__index__()
    count = _count("sample_every", n, None)
    if count and (count - 1) > (2**62) // period:
        raise ValueError("sample_every(): period_ns * n overflows 64-bit nanoseconds")
    clock = _clock_id("sample_every", clock_id)
    result = np.empty(count, dtype=np.int64)
    if count == 0:
        return result
    view = result
    first = c.clock_gettime_ns(clock)
    while reached < count:
        with nogil:
            deadline = c.clock_gettime_ns(clock) + PACED_CHUNK_NS
            reached = _paced(&view[0], reached, count, first, period, clock, deadline)
        PyErr_CheckSignals()
    return result


@cython.boundscheck(False)
@cython.wraparound(False)
def tsc_pairs(Py_ssize_t bursts, Py_ssize_t tries, int64_t spacing_ns):
    """Paired readings for TSC calibration: ``bursts`` bursts, ``spacing_ns`` apart; in
    each, ``tries`` reads of (CLOCK_MONOTONIC, lfence+rdtsc, CLOCK_MONOTONIC), of which the
    tightest is kept. Returns arrays (clock_ns at the middle, ticks, bracket width ns)."""
    cdef Py_ssize_t b, k
    cdef int64_t before, after, best_width, best_mid, next_start
    cdef uint64_t ticks, best_ticks
    if not VT_HAVE_TSC:
        raise NotImplementedError("TSC calibration needs the x86-64 time-stamp counter; "
                                  f"this machine is {os.uname().machine}")
    if bursts < 2 or tries < 1 or spacing_ns < 0:
        raise ValueError("tsc_pairs(): need bursts >= 2, tries >= 1, spacing_ns >= 0")
    middles = np.empty(bursts, dtype=np.int64)
    counts = np.empty(bursts, dtype=np.uint64)
    widths = np.empty(bursts, dtype=np.int64)
    cdef int64_t[::1] mid_view = middles
    cdef uint64_t[::1] tick_view = counts
    cdef int64_t[::1] width_view = widths
    with nogil:
        next_start = c.monotonic_ns()
        for b in range(bursts):
            while c.monotonic_ns() < next_start:
                pass
            best_width = -1
            best_mid = 0
            best_ticks = 0
            for k in range(tries):
                before = c.monotonic_ns()
                ticks = vt_rdtsc_ordered()
                after = c.monotonic_ns()
                if best_width < 0 or after - before < best_width:
                    best_width = after - before
                    best_mid = before + (after - before) // 2
                    best_ticks = ticks
            mid_view[b] = best_mid
            tick_view[b] = best_ticks
            width_view[b] = best_width
            next_start = next_start + spacing_ns
    return middles, counts, widths


def tsc_invariant():
    """(invariant, how): whether the TSC ticks at a constant rate in every power state,
    from CPUID (leaf 0x80000007, EDX bit 8) or /proc/cpuinfo's constant_tsc + nonstop_tsc."""
    if not VT_HAVE_TSC:
        return False, "no time-stamp counter on this architecture"
    if vt_cpuid_bit(0x80000007, 0, 3, 8):
        return True, "cpuid invariant TSC bit"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    if {"constant_tsc", "nonstop_tsc"} <= flags:
                        return True, "/proc/cpuinfo constant_tsc nonstop_tsc"
                    return False, "neither the cpuid invariant TSC bit nor " \
                                  "constant_tsc + nonstop_tsc in /proc/cpuinfo"
    except OSError:
        pass
    return False, "the cpuid invariant TSC bit is clear and /proc/cpuinfo is unreadable"
