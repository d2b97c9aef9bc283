# cython: language_level=3, binding=False, always_allow_keywords=False
"""The Python clock API: the ``time`` module's names and conventions, through the
function table (``clock.pxd``).

Errors follow the ``time`` module: an invalid clock id raises ``OSError`` with the
kernel's errno (EINVAL), a non-integer raises ``TypeError``.
"""

from libc.stdint cimport int64_t

from vdsotime cimport clock as c
from vdsotime._core.validate cimport clock_id_arg, raise_errno
from vdsotime._core.vdso cimport timespec, timeval

CLOCK_REALTIME = c.CLOCK_REALTIME
CLOCK_MONOTONIC = c.CLOCK_MONOTONIC
CLOCK_PROCESS_CPUTIME_ID = c.CLOCK_PROCESS_CPUTIME_ID
CLOCK_THREAD_CPUTIME_ID = c.CLOCK_THREAD_CPUTIME_ID
CLOCK_MONOTONIC_RAW = c.CLOCK_MONOTONIC_RAW
CLOCK_REALTIME_COARSE = c.CLOCK_REALTIME_COARSE
CLOCK_MONOTONIC_COARSE = c.CLOCK_MONOTONIC_COARSE
CLOCK_BOOTTIME = c.CLOCK_BOOTTIME
CLOCK_TAI = c.CLOCK_TAI
CLOCK_AUX = c.CLOCK_AUX
CLOCK_AUX_LAST = c.CLOCK_AUX_LAST


cdef inline c.clockid_t _clock_id(object value) except? -1:
    return clock_id_arg(value, None)


cdef extern from *:
    """
    /* The time module's conversion (_PyTime_AsSecondsDouble): exact for whole seconds,
       else one rounding to double, then one division. volatile forces each rounding
       where the x87 FPU (i386) would keep extra precision, as CPython does. */
    static double vt_ns_to_seconds(int64_t ns) {
        volatile double seconds;
        if (ns % 1000000000 == 0) {
            seconds = (double)(ns / 1000000000);
        } else {
            seconds = (double)ns;
            seconds /= 1e9;
        }
        return seconds;
    }
    """
    double vt_ns_to_seconds(int64_t ns) noexcept

cdef extern from *:
    """
    #include <float.h>
    /* The time module's clock_gettime() float, tv_sec + tv_nsec * 1e-9, evaluated as
       CPython's C compiler evaluates it. Where float expressions are evaluated in long
       double (FLT_EVAL_METHOD 2: the x87 FPU of i386 builds) and CPython is compiled as
       C11, so are its constants: 1e-9L, one rounding at the end. Elsewhere double
       arithmetic, a rounding per operation. */
    static double vt_timespec_seconds(int64_t seconds, int64_t nanoseconds) {
    #if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 2
        return (double)((long double)seconds + (long double)nanoseconds * 1e-9L);
    #else
        volatile double fraction = (double)nanoseconds * 1e-9;
        return (double)seconds + fraction;
    #endif
    }
    """
    double vt_timespec_seconds(int64_t seconds, int64_t nanoseconds) noexcept


cdef inline double _seconds(int64_t ns) noexcept:
    return vt_ns_to_seconds(ns)


def ns_to_seconds(int64_t ns):
    """ns_to_seconds(ns, /)
--

The time module's conversion of nanoseconds to the float seconds of time(),
    monotonic(), perf_counter() and the CPU-time functions."""
    return _seconds(ns)


cdef inline int64_t _clock_ns(c.clockid_t clock_id) except? -1:
    cdef timespec ts
    cdef int result = c.clock_gettime(clock_id, &ts)
    if result != 0:
        raise_errno(result)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


def clock_gettime_ns(clock_id):
    """clock_gettime_ns(clock_id, /)
--

The time of the clock ``clock_id``, in nanoseconds (int)."""
    return _clock_ns(_clock_id(clock_id))


def clock_gettime(clock_id):
    """clock_gettime(clock_id, /)
--

The time of the clock ``clock_id``, in seconds (float)."""
    cdef timespec ts
    cdef int result = c.clock_gettime(_clock_id(clock_id), &ts)
    if result != 0:
        raise_errno(result)
    return vt_timespec_seconds(ts.tv_sec, ts.tv_nsec)


def clock_getres_ns(clock_id):
    """clock_getres_ns(clock_id, /)
--

The resolution of the clock ``clock_id``, in nanoseconds (int), as the kernel
    gives it."""
    cdef timespec ts
    cdef int result = c.clock_getres(_clock_id(clock_id), &ts)
    if result != 0:
        raise_errno(result)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec


def clock_getres(clock_id):
    """clock_getres(clock_id, /)
--

The resolution of the clock ``clock_id``, in seconds (float)."""
    cdef timespec ts
    cdef int result = c.clock_getres(_clock_id(clock_id), &ts)
    if result != 0:
        raise_errno(result)
    return vt_timespec_seconds(ts.tv_sec, ts.tv_nsec)


def time_ns():
    """time_ns()
--

CLOCK_REALTIME in nanoseconds since the Epoch."""
    return _clock_ns(c.CLOCK_REALTIME)


def time():
    """time()
--

CLOCK_REALTIME in seconds since the Epoch."""
    return _seconds(_clock_ns(c.CLOCK_REALTIME))


def monotonic_ns():
    """monotonic_ns()
--

CLOCK_MONOTONIC in nanoseconds."""
    return _clock_ns(c.CLOCK_MONOTONIC)


def monotonic():
    """monotonic()
--

CLOCK_MONOTONIC in seconds."""
    return _seconds(_clock_ns(c.CLOCK_MONOTONIC))


def perf_counter_ns():
    """perf_counter_ns()
--

CLOCK_MONOTONIC in nanoseconds, as the time module."""
    return _clock_ns(c.CLOCK_MONOTONIC)


def perf_counter():
    """perf_counter()
--

CLOCK_MONOTONIC in seconds, as the time module."""
    return _seconds(_clock_ns(c.CLOCK_MONOTONIC))


def process_time_ns():
    """process_time_ns()
--

CPU time of this process in nanoseconds."""
    return _clock_ns(c.CLOCK_PROCESS_CPUTIME_ID)


def process_time():
    """process_time()
--

CPU time of this process in seconds."""
    return _seconds(_clock_ns(c.CLOCK_PROCESS_CPUTIME_ID))


def thread_time_ns():
    """thread_time_ns()
--

CPU time of this thread in nanoseconds."""
    return _clock_ns(c.CLOCK_THREAD_CPUTIME_ID)


def thread_time():
    """thread_time()
--

CPU time of this thread in seconds."""
    return _seconds(_clock_ns(c.CLOCK_THREAD_CPUTIME_ID))


def monotonic_raw_ns():
    """monotonic_raw_ns()
--

CLOCK_MONOTONIC_RAW (not slewed by NTP) in ns."""
    return _clock_ns(c.CLOCK_MONOTONIC_RAW)


def boottime_ns():
    """boottime_ns()
--

CLOCK_BOOTTIME (monotonic, counts suspend) in ns."""
    return _clock_ns(c.CLOCK_BOOTTIME)


def tai_ns():
    """tai_ns()
--

CLOCK_TAI (International Atomic Time) in ns."""
    return _clock_ns(c.CLOCK_TAI)


def monotonic_coarse_ns():
    """monotonic_coarse_ns()
--

CLOCK_MONOTONIC_COARSE (tick resolution) in ns."""
    return _clock_ns(c.CLOCK_MONOTONIC_COARSE)


def realtime_coarse_ns():
    """realtime_coarse_ns()
--

CLOCK_REALTIME_COARSE (tick resolution) in ns."""
    return _clock_ns(c.CLOCK_REALTIME_COARSE)


def gettimeofday():
    """gettimeofday()
--

(seconds, microseconds) since the Epoch, from CLOCK_REALTIME."""
    cdef timeval tv
    cdef int result = c.gettimeofday(&tv)
    if result != 0:
        raise_errno(result)
    return (tv.tv_sec, tv.tv_usec)


def getcpu():
    """getcpu()
--

(cpu, node): the CPU and NUMA node this thread is running on."""
    cdef unsigned int cpu = 0, node = 0
    cdef int result = c.getcpu(&cpu, &node)
    if result != 0:
        raise_errno(result)
    return (cpu, node)


# -- clock names ----------------------------------------------------------------------

_CLOCK_NAMES = {value: name for name, value in list(globals().items())
                if name.startswith("CLOCK_")}
# The auxiliary clocks between the two the uapi header names (CLOCK_AUX, CLOCK_AUX_LAST).
_CLOCK_NAMES.update({CLOCK_AUX + index: f"CLOCK_AUX+{index}"
                     for index in range(1, CLOCK_AUX_LAST - CLOCK_AUX)})


def clock_name(clock_id):
    """clock_name(clock_id, /)
--

The name of a clock id ("CLOCK_MONOTONIC", "CLOCK_AUX+3"), or "clock N"."""
    return _CLOCK_NAMES.get(clock_id, f"clock {clock_id}")


def is_cpu_time_clock(clock_id):
    """is_cpu_time_clock(clock_id, /)
--

Whether ``clock_id`` counts CPU time (it stops while its thread or process is not
    running): CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, and the negative ids
    of other threads' and processes' CPU clocks -- but not the negative ids of dynamic
    POSIX clocks (file descriptors), whose low three bits are 3 (CLOCKFD)."""
    if clock_id in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID):
        return True
    return clock_id < 0 and (clock_id & 7) != 3
