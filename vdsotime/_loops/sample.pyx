# cython: language_level=3
"""Bulk samplers: argument checks and numpy arrays. The loops themselves (no Python,
no GIL, Ctrl-C between chunks) are in ``driver.pyx``.

Arrays are reached through the buffer protocol, not the numpy C-API: one build serves
numpy 1.x and 2.x, and a call with a small ``out=`` costs little more than ``np.empty``.
An ``out`` array must follow numpy's rule for memory a C loop may write: aligned, native
byte order, writeable, C-contiguous (and 1-D, of the sampler's dtype).

This module (and numpy) is loaded on first use of a sampler, never by ``import vdsotime``.
"""

from cpython.buffer cimport (PyBUF_RECORDS, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from libc.stdint cimport int64_t, uintptr_t
from libc.string cimport strcmp

from vdsotime cimport clock as c
from vdsotime._core cimport validate
from vdsotime._core.vdso cimport clockid_t, timespec
from vdsotime._loops.driver cimport FILL_CLOCK, FILL_CPU, FILL_TSC, FillKind, fill, paced

import numpy as np

from vdsotime._core.hw import CPU_SOURCE, HAVE_TSC  # where sample_cpu() gets the CPU from
from vdsotime._core.validate import attach, memory

TIME_CPU_DTYPE = np.dtype([("t_ns", np.int64), ("cpu", np.int32)])
CLOCK_MONOTONIC = c.CLOCK_MONOTONIC  # the default clock, by name in signatures

cdef object ndarray = np.ndarray
cdef object empty = np.empty
# Per FillKind: the dtype, its name in messages, the buffer format numpy gives for it
# (the fast path's check), the element size and the alignment a C loop needs.
cdef tuple DTYPES = (np.dtype(np.int64), np.dtype(np.uint64), TIME_CPU_DTYPE)
cdef tuple DTYPE_NAMES = ("int64", "uint64", "structured [('t_ns', int64), ('cpu', int32)]")
cdef tuple FORMATS = tuple(memoryview(np.empty(1, dtype)).format.encode() for dtype in DTYPES)
# Above this many bytes a new array is first checked against the memory available.
cdef Py_ssize_t BIG_ARRAY = 64 * 2**20
cdef Py_ssize_t[3] ITEMSIZE
cdef Py_ssize_t[3] ALIGNMENT
for _kind, _dtype in enumerate(DTYPES):
    ITEMSIZE[_kind] = _dtype.itemsize
    ALIGNMENT[_kind] = _dtype.alignment  # 1 for the packed (time, cpu) records


# -- arrays ---------------------------------------------------------------------------------

cdef bint _usable(Py_buffer* view, FillKind kind) noexcept:
    """The fast check of an ``out`` buffer: 1-D, contiguous, aligned, the native format."""
    return (view.ndim == 1 and view.itemsize == ITEMSIZE[<int>kind]
            and (view.shape[0] <= 1 or view.strides[0] == view.itemsize)
            and (<uintptr_t>view.buf) % ALIGNMENT[<int>kind] == 0
            and view.format != NULL and strcmp(view.format, <bytes>FORMATS[kind]) == 0)


cdef int _refuse(str function, object out, FillKind kind) except -1:
    """Raise for an ``out`` the fast check turned down, naming every problem: TypeError
    for another dtype, ValueError for the rest. Returns 0 when there is none after all (an
    unusual spelling of the right dtype, such as 'q' for int64)."""
    dtype = DTYPES[kind]
    name = DTYPE_NAMES[kind]
    expected = (f"{function}(): out must be a writeable 1-D C-contiguous {name} array "
                "(aligned, native byte order)")
    if out.dtype.newbyteorder("=") != dtype:
        raise TypeError(f"{expected}, got {out.dtype} with shape {out.shape}")
    problems = []
    if not out.dtype.isnative:
        problems.append("byte-swapped")
    if not out.flags.writeable:
        problems.append("read-only")
    if not out.flags.c_contiguous:
        problems.append("non-contiguous")
    if not out.flags.aligned:
        problems.append("misaligned")
    if problems or out.ndim != 1:
        problems.append(f"{out.dtype} with shape {out.shape}")
        raise ValueError(f"{expected}, got {' '.join(problems)}")
    return 0


cdef inline object _new_array(str function, Py_ssize_t n, FillKind kind):
    """A new array of ``n`` elements of ``kind``. A big one is first checked against the
    memory rule of validate (rare: only large arrays read meminfo)."""
    if n > BIG_ARRAY // ITEMSIZE[<int>kind]:
        memory(function, "n", n, ITEMSIZE[<int>kind])
    return empty(n, DTYPES[kind])


cdef object _target(str function, object out, Py_ssize_t n, FillKind kind, Py_buffer* view):
    """The array to fill -- ``out`` checked, or a new one of ``n`` elements -- with
    ``view`` acquired on it (the caller releases it)."""
    if out is None:
        result = _new_array(function, n, kind)
        PyObject_GetBuffer(result, view, PyBUF_WRITABLE)
        return result
    if type(out) is not ndarray and not isinstance(out, ndarray):
        raise TypeError(f"{function}(): out must be a numpy array of {DTYPE_NAMES[kind]}, "
                        f"got {type(out).__name__}")
    try:
        PyObject_GetBuffer(out, view, PyBUF_RECORDS)
    except (BufferError, ValueError):  # read-only, or a layout the protocol cannot express
        _refuse(function, out, kind)
        raise
    if not _usable(view, kind):
        PyBuffer_Release(view)
        _refuse(function, out, kind)
        PyObject_GetBuffer(out, view, PyBUF_RECORDS)
    return out


cdef object _run(str function, FillKind kind, object n, object out, clockid_t clock_id):
    cdef Py_ssize_t count, done = 0
    cdef Py_buffer view
    if n is None:
        if out is None:
            raise TypeError(f"{function}(): give n (the number of samples) or out (an "
                            "array to fill)")
        count = -1  # all of out
    else:
        count = validate.count_arg(n, function, "n", 0)
    result = _target(function, out, count, kind, &view)
    try:
        if count < 0:
            count = view.shape[0]
        elif out is not None and count > view.shape[0]:
            raise ValueError(f"{function}(): n is {count} but out has only "
                             f"{view.shape[0]} elements")
        fill(kind, view.buf, count, clock_id, function, &done)
    except BaseException as exc:
        attach(exc, "partial_result", result.__getitem__, slice(0, done))
        raise
    finally:
        PyBuffer_Release(&view)
    return result if count == len(result) else result[:count]


# -- the Python surface -------------------------------------------------------------------

def sample(n=None, clock_id=CLOCK_MONOTONIC, *, out=None):
    """Back-to-back readings of a clock, in nanoseconds, taken without the GIL.

    - ``n``: how many readings (a new int64 array); may be left out when ``out`` is given.
    - ``clock_id``: a ``CLOCK_*`` constant or any clock id (default CLOCK_MONOTONIC).
    - ``out``: a writeable, aligned, native-byte-order 1-D C-contiguous int64 array to
      fill in place: all of it, or its first ``n`` elements. That array (or that slice)
      is returned.

    Ctrl-C raises KeyboardInterrupt within milliseconds; a clock that fails mid-run
    raises OSError. Either way ``exc.partial_result`` holds the readings taken so far.
    """
    return _run("sample", FILL_CLOCK, n, out, validate.readable_clock(clock_id, "sample"))


def sample_tsc(n=None, *, out=None):
    """Back-to-back raw time-stamp counter readings (``rdtsc``), in ticks (uint64).

    - ``n``: how many readings; may be left out when ``out`` is given.
    - ``out``: a writeable, aligned, native-byte-order 1-D C-contiguous uint64 array to
      fill in place (all of it, or its first ``n`` elements).

    Convert ticks with ``calibrate_tsc().to_ns(ticks)``. x86 only (NotImplementedError
    elsewhere). Ctrl-C: as ``sample()``.
    """
    return _run("sample_tsc", FILL_TSC, n, out, 0)


def sample_cpu(n=None, clock_id=CLOCK_MONOTONIC, *, out=None):
    """Readings of a clock, each with the CPU the thread ran on just after it.

    Returns a structured array with fields ``t_ns`` (int64) and ``cpu`` (int32).

    - ``n``: how many readings; may be left out when ``out`` is given.
    - ``clock_id``: the clock (default CLOCK_MONOTONIC).
    - ``out``: an array of ``vdsotime.sample_cpu(0).dtype`` to fill in place.

    The CPU comes from ``rdpid``, or ``rdtscp``, or ``getcpu``
    (``vdsotime.info().cpu_source`` says which). Ctrl-C: as ``sample()``.
    """
    return _run("sample_cpu", FILL_CPU, n, out,
                validate.readable_clock(clock_id, "sample_cpu"))


def sample_every(period_ns, n, clock_id=CLOCK_MONOTONIC):
    """Readings paced ``period_ns`` apart by busy-waiting (a core stays busy).

    - ``period_ns``: the spacing, in nanoseconds of the sampled clock (>= 1).
    - ``n``: how many readings.
    - ``clock_id``: the clock to pace and read (default CLOCK_MONOTONIC).

    Sample ``i`` is the first reading at or after ``start + i * period_ns``. Returns the
    actual times (int64 ns), so lateness shows: a late sample is taken at once, none is
    skipped. On a clock that stops (the CPU clock of a sleeping thread) it waits for the
    clock; Ctrl-C interrupts it within milliseconds, with the samples so far in
    ``exc.partial_result``.
    """
    cdef int64_t period = validate.int64_arg(period_ns, "sample_every", "period_ns", 1)
    cdef Py_ssize_t count = validate.count_arg(n, "sample_every", "n", 0), done = 0
    cdef clockid_t clock = validate.readable_clock(clock_id, "sample_every")
    cdef int64_t[::1] view
    cdef timespec ts
    cdef int result
    if count and (count - 1) > (2**62) // period:
        raise ValueError("sample_every(): period_ns * n overflows 64-bit nanoseconds")
    samples = _new_array("sample_every", count, FILL_CLOCK)
    if count == 0:
        return samples
    view = samples
    result = c.clock_gettime(clock, &ts)
    if result != 0:
        validate.raise_errno(result, f"sample_every(): reading clock_id {clock} failed")
    try:
        paced(&view[0], count, <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec, period,
              clock, "sample_every", &done)
    except BaseException as exc:
        attach(exc, "partial_result", samples.__getitem__, slice(0, done))
        raise
    return samples
