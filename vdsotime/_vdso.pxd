# The function table: the one thing vdsotime exports at C level. Other extensions reach
# it through vdsotime/clock.pxd; C code and ctypes through vdsotime.address().

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec

cdef extern from "<sys/time.h>" nogil:
    cdef struct timeval:
        time_t tv_sec
        long tv_usec

ctypedef int (*clock_gettime_fn)(clockid_t, timespec*) noexcept nogil
ctypedef int (*gettimeofday_fn)(timeval*, void*) noexcept nogil
ctypedef time_t (*time_fn)(time_t*) noexcept nogil
ctypedef int (*getcpu_fn)(unsigned int*, unsigned int*, void*) noexcept nogil

cdef struct FunctionTable:
    # Filled once, when vdsotime._vdso is first imported, before any caller can see it.
    clock_gettime_fn clock_gettime
    clock_gettime_fn clock_getres
    gettimeofday_fn gettimeofday
    time_fn time
    getcpu_fn getcpu
    # Bit i set: entry i is the vDSO's (errors come back as -errno, or on powerpc as a
    # positive errno); clear: libc's (-1 and errno). Read on error paths only.
    unsigned int from_vdso

cdef FunctionTable table
# The same bindings, never swapped afterwards (vdsotime.testing's mock clock swaps the
# entries of ``table``): every loop's deadline reads its CLOCK_MONOTONIC, so a frozen
# mock clock cannot stop Ctrl-C from working.
cdef FunctionTable import_table

# Error paths, taken only when a call returned nonzero: they return 0 (a retry through
# the real syscall succeeded) or -errno.
cdef int clock_gettime_failed(clockid_t clock_id, timespec* ts, int result) noexcept nogil
cdef int clock_getres_failed(clockid_t clock_id, timespec* ts, int result) noexcept nogil
cdef int gettimeofday_failed(timeval* tv, int result) noexcept nogil
cdef int getcpu_failed(unsigned int* cpu, unsigned int* node, int result) noexcept nogil

# The real clock_gettime and clock_getres system calls (their time64 forms on 32-bit
# ABIs): 0 or -errno.
cdef int sys_clock_gettime(clockid_t clock_id, timespec* ts) noexcept nogil
cdef int sys_clock_getres(clockid_t clock_id, timespec* ts) noexcept nogil
