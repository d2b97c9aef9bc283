# Every long loop of vdsotime and the one driver that runs them (see _loops.pyx).
# The numpy-facing module (_sample.pyx) validates arguments, finds the memory to fill and
# calls these; the other modules use the Python functions of _loops.pyx.

from libc.stdint cimport int64_t

from vdsotime._vdso cimport clockid_t

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
