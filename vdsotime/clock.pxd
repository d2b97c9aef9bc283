# vdsotime's C-level clock API, for other Cython extensions:
#
#     from vdsotime.clock cimport monotonic_ns, clock_gettime_ns
#
# Every function is inline, noexcept and nogil: a call through the function table that
# vdsotime filled at import (the vDSO's functions, or libc's when the vDSO lacks them),
# then an add-multiply. Errors are returned, never raised: functions returning int give 0
# or -errno; *_ns functions give nanoseconds, or -errno (-1 ... -4095) for an invalid
# clock id. The cimporting module imports vdsotime._core.vdso at its own import, so the table
# is filled before its first call.
#
# Seconds are 64-bit on every ABI, whatever libc's time_t is: timespec and timeval here
# are vdsotime's (C names vdsotime_timespec, vdsotime_timeval: int64_t tv_sec and
# int64_t tv_nsec / tv_usec; on 64-bit Linux, libc's struct timespec and struct timeval,
# which have that layout), and time() returns int64_t.

from libc.stdint cimport int64_t

from vdsotime._core.vdso cimport (clockid_t, time_t, timespec, timeval, table,
                                  clock_gettime_failed, clock_getres_failed,
                                  gettimeofday_failed, getcpu_failed, sys_clock_gettime,
                                  sys_clock_getres)

cdef enum:
    CLOCK_REALTIME = 0
    CLOCK_MONOTONIC = 1
    CLOCK_PROCESS_CPUTIME_ID = 2
    CLOCK_THREAD_CPUTIME_ID = 3
    CLOCK_MONOTONIC_RAW = 4
    CLOCK_REALTIME_COARSE = 5
    CLOCK_MONOTONIC_COARSE = 6
    CLOCK_BOOTTIME = 7
    CLOCK_TAI = 11
    # Linux 6.17+: the auxiliary clocks, CLOCK_AUX + 0 ... CLOCK_AUX + 7 (include/uapi/
    # linux/time.h); each reads once enabled in /sys/kernel/time/aux_clocks/N/.
    CLOCK_AUX = 16
    CLOCK_AUX_LAST = 23


cdef inline int clock_gettime(clockid_t clock_id, timespec* ts) noexcept nogil:
    cdef int result = table.clock_gettime(clock_id, ts)
    if result == 0:
        return 0
    return clock_gettime_failed(clock_id, ts, result)


cdef inline int clock_getres(clockid_t clock_id, timespec* ts) noexcept nogil:
    cdef int result
    if clock_id >= 16:
        # Linux 6.17+ vDSOs answer clock_getres for the auxiliary clocks (16 and up)
        # even when they are not enabled, where the system call says EINVAL: past the
        # classic clock ids, ask the kernel.
        return sys_clock_getres(clock_id, ts)
    result = table.clock_getres(clock_id, ts)
    if result == 0:
        return 0
    return clock_getres_failed(clock_id, ts, result)


cdef inline int gettimeofday(timeval* tv) noexcept nogil:
    cdef int result = table.gettimeofday(tv, NULL)
    if result == 0:
        return 0
    return gettimeofday_failed(tv, result)


cdef inline int getcpu(unsigned int* cpu, unsigned int* node) noexcept nogil:
    cdef int result = table.getcpu(cpu, node, NULL)
    if result == 0:
        return 0
    return getcpu_failed(cpu, node, result)


cdef inline int64_t time() noexcept nogil:
    return table.time(NULL)


cdef inline int64_t clock_gettime_ns(clockid_t clock_id) noexcept nogil:
    cdef timespec ts
    cdef int result = table.clock_gettime(clock_id, &ts)
    if result != 0:
        result = clock_gettime_failed(clock_id, &ts, result)
        if result != 0:
            return result
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t clock_getres_ns(clockid_t clock_id) noexcept nogil:
    cdef timespec ts
    cdef int result = clock_getres(clock_id, &ts)
    if result != 0:
        return result
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline int64_t monotonic_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_MONOTONIC)


cdef inline int64_t realtime_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_REALTIME)


cdef inline int64_t monotonic_raw_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_MONOTONIC_RAW)


cdef inline int64_t boottime_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_BOOTTIME)


cdef inline int64_t tai_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_TAI)


cdef inline int64_t monotonic_coarse_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_MONOTONIC_COARSE)


cdef inline int64_t realtime_coarse_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_REALTIME_COARSE)


cdef inline int64_t process_time_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_PROCESS_CPUTIME_ID)


cdef inline int64_t thread_time_ns() noexcept nogil:
    return clock_gettime_ns(CLOCK_THREAD_CPUTIME_ID)
