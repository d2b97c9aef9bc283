# cython: language_level=3
"""The mock clock's C side (``vdsotime.testing.mock_clock`` is the public door).

Installing puts functions of the table's signatures into the live function table
(``vdso.table``), so that everything calling through it reads mock time: the Python
scalars, the samplers, cimported ``clock.pxd`` code, numba code and C code holding the
capsule. ``import_table`` is left alone: the loops' deadlines read the real
CLOCK_MONOTONIC from it, so a frozen mock cannot keep Ctrl-C from working.

Mock time: one shared count of mock nanoseconds (``elapsed``), moved by ``advance()``
and by ``step`` at every reading, and per clock id an offset, so that a reading of clock
``i`` is ``offsets[i] + elapsed``: every clock moves together, each from its own start.
Both are 64-bit atomics, so threads may read and advance concurrently; with a step each
reading of any clock, from any thread, is distinct.
"""

from libc.stdint cimport int64_t

from vdsotime._core.vdso cimport (clockid_t, import_table, sys_clock_gettime, table, timespec,
                             timeval)
from vdsotime._core.vdso cimport FunctionTable

cdef extern from *:
    """
    #include <errno.h>
    static inline int64_t vt_fetch_add(int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
    static inline int64_t vt_load(int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
    static inline void vt_store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
    """
    int64_t vt_fetch_add(int64_t* p, int64_t value) noexcept nogil
    int64_t vt_load(int64_t* p) noexcept nogil
    void vt_store(int64_t* p, int64_t value) noexcept nogil
    int errno
    enum: EINVAL

cdef enum:
    # The clock ids mock time covers: the classic ones and the auxiliary clocks (0 to
    # CLOCK_AUX_LAST). Others -- other threads' and processes' CPU clocks, dynamic POSIX
    # clocks -- read the real clock.
    MOCKED = 24
    # The table's slots the mock fills (bits of from_vdso): clock_gettime, gettimeofday, time.
    MOCK_SLOTS = 1 | 4 | 8

cdef int64_t elapsed = 0
cdef int64_t step = 0
cdef int64_t[MOCKED] offsets
cdef int64_t[MOCKED] known          # 1: the kernel knew this clock id at install time
cdef FunctionTable saved
cdef bint active = False


cdef inline int64_t mock_ns(clockid_t clock_id) noexcept nogil:
    return vt_fetch_add(&elapsed, step) + vt_load(&offsets[clock_id])


cdef int mock_clock_gettime(clockid_t clock_id, timespec* ts) noexcept nogil:
    cdef int64_t now
    cdef int result
    if 0 <= clock_id < MOCKED:
        if not known[clock_id]:
            return -EINVAL
        now = mock_ns(clock_id)
        ts.tv_sec = now // 1000000000
        ts.tv_nsec = now % 1000000000
        return 0
    result = import_table.clock_gettime(clock_id, ts)
    if result == -1 and not (import_table.from_vdso & 1):
        return -errno      # libc's -1 and errno, in the convention this slot now has
    return result


cdef int mock_gettimeofday(timeval* tv, void* tz) noexcept nogil:
    cdef int64_t now = mock_ns(0)
    tv.tv_sec = now // 1000000000
    tv.tv_usec = (now % 1000000000) // 1000
    return 0


cdef int64_t mock_time(int64_t* out) noexcept nogil:
    cdef int64_t seconds = mock_ns(0) // 1000000000
    if out != NULL:
        out[0] = seconds
    return seconds


def install(int64_t start_ns, int64_t step_ns):
    """Swap the table's clock_gettime, gettimeofday and time for the mock's. Every clock
    id from 0 to CLOCK_AUX_LAST that the kernel reads now starts at ``start_ns``, or at its
    real reading when ``start_ns`` is negative; ids the kernel refuses stay refused
    (EINVAL). Raises RuntimeError when a mock is already installed."""
    global active, elapsed, step, saved
    cdef timespec ts
    cdef int clock_id
    if active:
        raise RuntimeError("mock_clock(): a mock clock is already active; nesting is not "
                           "supported (advance() or set() the active one)")
    if step_ns < 0:
        raise ValueError(f"mock_clock(): step_ns must be >= 0, got {step_ns}")
    for clock_id in range(MOCKED):
        known[clock_id] = sys_clock_gettime(clock_id, &ts) == 0
        offsets[clock_id] = (start_ns if start_ns >= 0
                             else <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec)
    elapsed = 0
    step = step_ns
    saved = table
    # Error convention first (-errno, as the vDSO's), then the pointers: a caller between
    # the two stores that gets libc's -1 with the new bit set only retries the syscall.
    table.from_vdso |= MOCK_SLOTS
    table.clock_gettime = mock_clock_gettime
    table.gettimeofday = mock_gettimeofday
    table.time = mock_time
    active = True


def uninstall():
    """Put back the functions ``install`` replaced (pointers first, then the error
    convention: the reverse order of install)."""
    global active
    if not active:
        return
    table.clock_gettime = saved.clock_gettime
    table.gettimeofday = saved.gettimeofday
    table.time = saved.time
    table.from_vdso = (table.from_vdso & ~MOCK_SLOTS) | (saved.from_vdso & MOCK_SLOTS)
    active = False


def is_active():
    return active


def advance(int64_t ns):
    """Move every mocked clock forward by ``ns`` (>= 0)."""
    vt_fetch_add(&elapsed, ns)


def set_clock(int clock_id, int64_t ns):
    """Make ``clock_id`` read ``ns`` now (its offset changes; the others keep theirs).
    False when the id is not a mocked clock."""
    if not (0 <= clock_id < MOCKED and known[clock_id]):
        return False
    vt_store(&offsets[clock_id], ns - vt_load(&elapsed))
    return True


def elapsed_ns():
    """Mock nanoseconds since install: advance() calls and steps."""
    return vt_load(&elapsed)


def mocked_clock_ids():
    """The clock ids mock time covers (those the kernel knew at install)."""
    return [clock_id for clock_id in range(MOCKED) if known[clock_id]]
