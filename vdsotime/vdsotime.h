/* vdsotime's function table, for C extensions.
 *
 *     #include <vdsotime/vdsotime.h>   (with vdsotime.get_include() on the include path)
 *     const vdsotime_function_table *clocks = vdsotime_import();
 *     if (clocks == NULL) return NULL;   (an ImportError is set)
 *     struct timespec ts;
 *     if (clocks->clock_gettime(CLOCK_MONOTONIC, &ts) != 0) { ... }
 *
 * The table is filled once when vdsotime._vdso is imported and never changes after.
 * Return convention: 0 is success. On failure, an entry whose bit is set in from_vdso
 * (bit 0 clock_gettime, 1 clock_getres, 2 gettimeofday, 3 time, 4 getcpu) is the vDSO's
 * and returns -errno (on powerpc a positive errno); otherwise it is libc's and returns -1
 * with errno set. vdsotime itself retries a failed vDSO call (other than -EINVAL) with
 * the real system call; do the same if you need the kernel's last word.
 */
#ifndef VDSOTIME_H
#define VDSOTIME_H

#include <Python.h>
#include <sys/time.h>
#include <time.h>

typedef struct {
    int (*clock_gettime)(clockid_t, struct timespec *);
    int (*clock_getres)(clockid_t, struct timespec *);
    int (*gettimeofday)(struct timeval *, void *);
    time_t (*time)(time_t *);
    int (*getcpu)(unsigned int *, unsigned int *, void *);
    unsigned int from_vdso;
} vdsotime_function_table;

#define VDSOTIME_CAPSULE_NAME "vdsotime._vdso.function_table"

/* The table (importing vdsotime._vdso if needed), or NULL with an exception set. */
static inline const vdsotime_function_table *vdsotime_import(void)
{
    return (const vdsotime_function_table *)PyCapsule_Import(VDSOTIME_CAPSULE_NAME, 0);
}

#endif /* VDSOTIME_H */
