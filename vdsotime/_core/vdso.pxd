# The function table: the one thing vdsotime exports at C level. Other extensions reach
# it through vdsotime/clock.pxd; C code and ctypes through vdsotime.address().

from libc.stdint cimport int64_t

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    ctypedef long time_t  # libc's: 32-bit on some 32-bit builds. The table never uses it.

# The table's own time structures: 64-bit seconds on every ABI, whatever libc's time_t
# is, so that nothing vdsotime hands out stops in 2038. On 64-bit Linux (and x32) they
# are libc's struct timespec and struct timeval, which have that layout, so C code
# written against those keeps compiling there; on 32-bit ABIs they are vdsotime's own,
# the layout of the kernel's struct __kernel_timespec, which __vdso_clock_gettime64 and
# the time64 system calls take. vdsotime/vdsotime.h declares the same types for C.
cdef extern from *:
    """
    #include <stdint.h>
    #include <sys/time.h>
    #include <time.h>
    #ifndef VDSOTIME_TIME64_TYPES
    #define VDSOTIME_TIME64_TYPES
    #if defined(__LP64__) || (defined(__x86_64__) && defined(__ILP32__))
    #define VDSOTIME_LIBC_LAYOUT 1  /* libc's timespec and timeval: two 64-bit fields */
    typedef struct timespec vdsotime_timespec;
    typedef struct timeval vdsotime_timeval;
    #else
    #define VDSOTIME_LIBC_LAYOUT 0
    typedef struct { int64_t tv_sec; int64_t tv_nsec; } vdsotime_timespec;
    typedef struct { int64_t tv_sec; int64_t tv_usec; } vdsotime_timeval;
    #endif
    #endif
    """
    ctypedef struct timespec "vdsotime_timespec":
        int64_t tv_sec
        int64_t tv_nsec
    ctypedef struct timeval "vdsotime_timeval":
        int64_t tv_sec
        int64_t tv_usec

ctypedef int (*clock_gettime_fn)(clockid_t, timespec*) noexcept nogil
ctypedef int (*gettimeofday_fn)(timeval*, void*) noexcept nogil
ctypedef int64_t (*time_fn)(int64_t*) noexcept nogil
ctypedef int (*getcpu_fn)(unsigned int*, unsigned int*, void*) noexcept nogil

cdef struct FunctionTable:
    # Filled once, when vdsotime._core.vdso is first imported, before any caller can see it.
    clock_gettime_fn clock_gettime
    clock_gettime_fn clock_getres
    gettimeofday_fn gettimeofday
    time_fn time
    getcpu_fn getcpu
    # Bit i set: entry i returns errors as the vDSO does (-errno, or on powerpc a
    # positive errno); clear: as libc does (-1 and errno). Read on error paths only.
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

# The real system calls (the time64 ones on 32-bit ABIs): 0 or -errno.
cdef int sys_clock_gettime(clockid_t clock_id, timespec* ts) noexcept nogil
cdef int sys_clock_getres(clockid_t clock_id, timespec* ts) noexcept nogil
