# cython: language_level=3
"""Measurement kernels: per-call timing of a Python callable, the timer's own overhead,
the jitter loop, and a raw-syscall loop for comparisons. The statistics and the result
objects are in ``measure.py``; this module is loaded with it, on first use."""

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int32_t, int64_t

from vdsotime cimport clock as c
from vdsotime._sample cimport current_cpu
from vdsotime._vdso cimport clockid_t, timespec

cdef extern from *:
    """
    #include <errno.h>
    #include <sys/syscall.h>
    #include <time.h>
    #include <unistd.h>
    static inline int vt_syscall_clock_gettime(clockid_t clock_id, struct timespec *ts) {
        return syscall(SYS_clock_gettime, clock_id, ts) == 0 ? 0 : -errno;
    }
    """
    int vt_syscall_clock_gettime(clockid_t, timespec*) nogil


cdef packed struct Gap:
    int64_t start_ns
    int64_t length_ns
    int32_t cpu


@cython.boundscheck(False)
@cython.wraparound(False)
def time_calls(function, tuple args, dict kwargs, int64_t[::1] out, Py_ssize_t start,
               Py_ssize_t stop):
    """Time ``function(*args, **kwargs)`` once per element of ``out[start:stop]``, with
    CLOCK_MONOTONIC read just before and just after each call. Exceptions from the
    callable propagate. Signals are checked every 1024 calls (a C callable never gives the
    interpreter the chance)."""
    cdef Py_ssize_t i
    cdef int64_t before
    cdef object kw = kwargs if kwargs else None
    for i in range(start, stop):
        if kw is None:
            before = c.monotonic_ns()
            function(*args)
            out[i] = c.monotonic_ns() - before
        else:
            before = c.monotonic_ns()
            function(*args, **kw)
            out[i] = c.monotonic_ns() - before
        if (i & 1023) == 1023:
            PyErr_CheckSignals()


@cython.boundscheck(False)
@cython.wraparound(False)
def timer_overhead(int64_t[::1] out):
    """The same two clock reads as time_calls, with nothing between them."""
    cdef Py_ssize_t i
    cdef int64_t before
    for i in range(out.shape[0]):
        before = c.monotonic_ns()
        out[i] = c.monotonic_ns() - before


@cython.boundscheck(False)
@cython.wraparound(False)
def jitter_loop(Gap[::1] gaps, Py_ssize_t count, int64_t threshold_ns, int64_t until_ns,
                int64_t chunk_ns, c.clockid_t clock_id, int64_t previous):
    """Spin reading the clock until ``until_ns`` (or for ``chunk_ns``, or until ``gaps``
    is full), recording every gap between two consecutive readings that is at least
    ``threshold_ns`` long, with the CPU the loop resumed on.

    Returns (count, loops, last reading). The caller checks for signals, grows ``gaps``
    when it is full, and calls again with ``previous`` = the last reading."""
    cdef int64_t now, gap, loops = 0
    cdef int64_t chunk_end
    cdef Py_ssize_t capacity = gaps.shape[0]
    if count >= capacity:
        return count, 0, previous
    with nogil:
        chunk_end = previous + chunk_ns
        if chunk_end > until_ns:
            chunk_end = until_ns
        while True:
            now = c.clock_gettime_ns(clock_id)
            loops += 1
            gap = now - previous
            if gap >= threshold_ns:
                gaps[count].start_ns = previous
                gaps[count].length_ns = gap
                gaps[count].cpu = current_cpu()
                count += 1
            previous = now
            if now >= chunk_end or count >= capacity:
                break
    return count, loops, previous


def syscall_loop(Py_ssize_t n, c.clockid_t clock_id):
    """Nanoseconds (CLOCK_MONOTONIC) that n raw clock_gettime system calls take."""
    cdef Py_ssize_t i
    cdef int64_t start, end
    cdef timespec ts
    if n < 1:
        raise ValueError(f"syscall_loop(): n must be >= 1, got {n}")
    with nogil:
        start = c.monotonic_ns()
        for i in range(n):
            vt_syscall_clock_gettime(clock_id, &ts)
        end = c.monotonic_ns()
    return end - start
