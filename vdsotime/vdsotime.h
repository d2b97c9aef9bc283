/* vdsotime's function table, for C extensions.
 *
 *     #include <vdsotime/vdsotime.h>   (with vdsotime.get_include() on the include path)
 *     const vdsotime_function_table *clocks = vdsotime_import();
 *     if (clocks == NULL) return NULL;   (an ImportError is set)
 *     vdsotime_timespec ts;
 *     if (clocks->clock_gettime(CLOCK_MONOTONIC, &ts) != 0) { ... }
 *
 * Seconds are 64-bit on every ABI, whatever libc's time_t is: vdsotime_timespec and
 * vdsotime_timeval are two int64_t fields (tv_sec, tv_nsec / tv_usec). On 64-bit Linux
 * they are libc's struct timespec and struct timeval, which have that layout; on 32-bit
 * ABIs they are not (a libc struct passed there is an incompatible pointer type, and
 * wrong). time() returns int64_t seconds.
 *
 * The table is filled once when vdsotime._core.vdso is imported and never changes
 * after.
 * Return convention: 0 is success. On failure, an entry whose bit is set in from_vdso
 * (bit 0 clock_gettime, 1 clock_getres, 2 gettimeofday, 3 time, 4 getcpu) returns
 * errors as the vDSO does, -errno (on powerpc a positive errno); otherwise it is libc's
 * and returns -1 with errno set. vdsotime itself retries a failed vDSO call (other than
 * -EINVAL) with the real system call; do the same if you need the kernel's last word.
 */
#ifndef VDSOTIME_H
#define VDSOTIME_H

#include <Python.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* (vdsotime/_core/vdso.pxd declares the same types for Cython, with the same guard.) */
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

typedef struct {
    int (*clock_gettime)(clockid_t, vdsotime_timespec *);
    int (*clock_getres)(clockid_t, vdsotime_timespec *);
    int (*gettimeofday)(vdsotime_timeval *, void *);
    int64_t (*time)(int64_t *);
    int (*getcpu)(unsigned int *, unsigned int *, void *);
    unsigned int from_vdso;
} vdsotime_function_table;

#define VDSOTIME_CAPSULE_NAME "vdsotime._core.vdso.function_table"

/* The table (importing vdsotime._core.vdso if needed), or NULL with an exception set. */
static inline const vdsotime_function_table *vdsotime_import(void)
{
    return (const vdsotime_function_table *)PyCapsule_Import(VDSOTIME_CAPSULE_NAME, 0);
}

#endif /* VDSOTIME_H */
