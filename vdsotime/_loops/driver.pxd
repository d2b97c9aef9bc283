# Every long loop of vdsotime and the one driver that runs them (see driver.pyx).
# The numpy-facing module (sample.pyx) validates arguments, finds the memory to fill and
# calls these; the other modules use the Python functions of driver.pyx.

from libc.stdint cimport int64_t

from vdsotime cimport clock as c
from vdsotime._core.vdso cimport clockid_t, import_table, sys_clock_gettime, timespec

# Spinning loops (paced sampling, TSC pairs, jitter, the skew ping-pong) check their
# deadline every SPIN_MASK + 1 reads.
cdef enum:
    SPIN_MASK = 255

# -- the loop header and the driver -------------------------------------------------------

ctypedef bint (*Step)(Loop* loop) noexcept nogil
ctypedef int (*GilStep)(Loop* loop) except -1


cdef struct Loop:
    Py_ssize_t done         # elements (samples, bursts, calls) finished
    Py_ssize_t total
    int64_t deadline        # CLOCK_MONOTONIC ns at which the current chunk ends
    int error               # -errno of a failed reading; the loop stops there
    bint hold_gil           # run the whole loop in one step, GIL held, no deadline
    Step step               # the loop's step, without the GIL...
    GilStep gil_step        # ... or with it (calls into Python)


cdef inline int64_t ns_of(timespec* ts) noexcept nogil:
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t deadline_clock() noexcept nogil:
    """The clock every deadline is measured on: CLOCK_MONOTONIC as bound at import
    (``import_table``, which a mock clock never swaps), else the system call."""
    cdef timespec ts
    if import_table.clock_gettime(c.CLOCK_MONOTONIC, &ts) != 0:
        sys_clock_gettime(c.CLOCK_MONOTONIC, &ts)
    return ns_of(&ts)


cdef inline bint past_deadline(Loop* loop) noexcept nogil:
    return deadline_clock() >= loop.deadline


cdef inline void start_loop(Loop* loop, Py_ssize_t total, Step step, GilStep gil_step,
                            bint hold_gil) noexcept:
    """Set a loop's header before drive(): nothing done of ``total``, and its step."""
    loop.done = 0
    loop.total = total
    loop.hold_gil = hold_gil
    loop.step = step
    loop.gil_step = gil_step


# Run ``loop`` to its end: chunks of about 5 ms, the GIL released for steps that allow it,
# errors raised and signals checked between chunks (driver.pyx).
cdef int drive(Loop* loop, str context) except -1

# NotImplementedError naming ``function`` where there is no TSC (hw.require_tsc's message).
cdef int check_tsc(str function) except -1

# -- the loops the numpy-facing module runs ------------------------------------------------

cdef enum FillKind:
    FILL_CLOCK      # int64 ns readings of a clock
    FILL_TSC        # uint64 raw TSC ticks
    FILL_CPU        # (int64 ns, int32 cpu) packed records

# Fill ``n`` elements at ``out`` (memory the caller keeps alive and checked: aligned,
# writeable, long enough). ``done`` receives the number filled, also when an exception
# (a failed reading: OSError; Ctrl-C: KeyboardInterrupt) interrupts the fill.
cdef int fill(FillKind kind, void* out, Py_ssize_t n, clockid_t clock_id, str function,
              Py_ssize_t* done) except -1

# Sample i at the first reading of ``clock_id`` at or after first + i * period.
cdef int paced(int64_t* out, Py_ssize_t n, int64_t first, int64_t period,
               clockid_t clock_id, str function, Py_ssize_t* done) except -1
