/* Reference loops for bench/run.py, compiled on the fly with the system C compiler and
   loaded with ctypes. Each returns the nanoseconds that n calls took (CLOCK_MONOTONIC
   around the loop) and stores a checksum so the compiler keeps every call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
volatile uint64_t bench_checksum;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The vDSO's own clock_gettime, found the way the dynamic loader already did. */
static clock_gettime_fn raw_vdso_clock_gettime(void) {
    static clock_gettime_fn fn;
    if (!fn) {
        void *handle = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (!handle)
            handle = dlopen("linux-gate.so.1", RTLD_NOW | RTLD_NOLOAD);
        if (handle)
            fn = (clock_gettime_fn)dlsym(handle, "__vdso_clock_gettime");
    }
    return fn;
}

int64_t loop_raw_vdso(int64_t n, int clock_id) {
    clock_gettime_fn fn = raw_vdso_clock_gettime();
    struct timespec ts;
    uint64_t sum = 0;
    if (!fn)
        return -1;
    int64_t start = now_ns();
    for (int64_t i = 0; i < n; i++) {
        fn(clock_id, &ts);
        sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    int64_t end = now_ns();
    bench_checksum = sum;
    return end - start;
}

/* The raw vDSO pointer, storing each reading into an array (the sampler's reference). */
int64_t fill_raw_vdso(int64_t *out, int64_t n, int clock_id) {
    clock_gettime_fn fn = raw_vdso_clock_gettime();
    struct timespec ts;
    if (!fn)
        return -1;
    int64_t start = now_ns();
    for (int64_t i = 0; i < n; i++) {
        fn(clock_id, &ts);
        out[i] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    return now_ns() - start;
}

int64_t loop_glibc(int64_t n, int clock_id) {
    struct timespec ts;
    uint64_t sum = 0;
    int64_t start = now_ns();
    for (int64_t i = 0; i < n; i++) {
        clock_gettime(clock_id, &ts);
        sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    int64_t end = now_ns();
    bench_checksum = sum;
    return end - start;
}

int64_t loop_syscall(int64_t n, int clock_id) {
    struct timespec ts;
    uint64_t sum = 0;
    int64_t start = now_ns();
    for (int64_t i = 0; i < n; i++) {
        syscall(SYS_clock_gettime, clock_id, &ts);
        sum += (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    int64_t end = now_ns();
    bench_checksum = sum;
    return end - start;
}

int64_t loop_rdtsc(uint64_t *out, int64_t n) {
#if defined(__x86_64__)
    int64_t start = now_ns();
    for (int64_t i = 0; i < n; i++)
        out[i] = __rdtsc();
    return now_ns() - start;
#else
    (void)out; (void)n;
    return -1;
#endif
}
