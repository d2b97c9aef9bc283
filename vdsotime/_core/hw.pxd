# Hardware primitives: the time-stamp counter, the current CPU, CPUID bits.
#
# Inline C, compiled into each extension that cimports this file, so the sampling loops
# call rdtsc with no function call around it. vdsotime/hw.pyx offers the same facts to
# Python (HAVE_TSC, CPU_SOURCE, tsc_invariant()). Elsewhere than x86 the TSC functions
# return 0 and HAVE_TSC is false; callers refuse before they loop.

from libc.stdint cimport int32_t, uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__x86_64__) || defined(__i386__)
    #include <cpuid.h>
    #include <x86intrin.h>
    #endif

    #if defined(__x86_64__) || defined(__i386__)
    #define VT_HAVE_TSC 1
    static inline uint64_t vt_rdtsc(void) { return __rdtsc(); }
    /* lfence; rdtsc: the read cannot move before earlier loads (the kernel's
       rdtsc_ordered), for bracketing a TSC read between two clock reads. (The lfence
       instruction, not _mm_lfence: i386 builds are not compiled for SSE2.) */
    static inline uint64_t vt_rdtsc_ordered(void) {
        __asm__ volatile ("lfence" ::: "memory");
        return __rdtsc();
    }
    /* lfence; rdtsc; lfence: ordered against earlier loads and later instructions both,
       for a read that must fall between two memory operations (tsc_skew's ping-pong). */
    static inline uint64_t vt_rdtsc_fenced(void) {
        uint64_t ticks;
        __asm__ volatile ("lfence" ::: "memory");
        ticks = __rdtsc();
        __asm__ volatile ("lfence" ::: "memory");
        return ticks;
    }
    static inline uint32_t vt_rdtscp_aux(void) { unsigned int aux; __rdtscp(&aux); return aux; }
    static inline uint32_t vt_rdpid(void) {
        unsigned long value;  /* a register of the native width, on x86-64 and i386 */
        __asm__ volatile ("rdpid %0" : "=r" (value));
        return (uint32_t)value;
    }
    static inline int vt_cpuid_bit(unsigned int leaf, unsigned int subleaf, int reg, int bit) {
        unsigned int r[4];
        if (!__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3])) return 0;
        return (r[reg] >> bit) & 1;
    }
    #else
    #define VT_HAVE_TSC 0
    static inline uint64_t vt_rdtsc(void) { return 0; }
    static inline uint64_t vt_rdtsc_ordered(void) { return 0; }
    static inline uint64_t vt_rdtsc_fenced(void) { return 0; }
    static inline uint32_t vt_rdtscp_aux(void) { return 0; }
    static inline uint32_t vt_rdpid(void) { return 0; }
    static inline int vt_cpuid_bit(unsigned int l, unsigned int s, int r, int b) {
        (void)l; (void)s; (void)r; (void)b; return 0;
    }
    #endif

    /* Where the current CPU number comes from: rdpid, else rdtscp's TSC_AUX (Linux
       keeps (node << 12) | cpu there), else getcpu (through the function table: the
       caller's choice). Chosen once per extension, from CPUID, which is the authority:
       a VM can list rdpid in /proc/cpuinfo that CPUID denies and that faults. */
    enum { VT_CPU_FROM_RDPID = 0, VT_CPU_FROM_RDTSCP = 1, VT_CPU_FROM_GETCPU = 2 };
    static inline int vt_cpu_source(void) {
        static int source = -1;
        if (source < 0) {
            if (VT_HAVE_TSC && vt_cpuid_bit(7, 0, 2, 22)) source = VT_CPU_FROM_RDPID;
            else if (VT_HAVE_TSC && vt_cpuid_bit(0x80000001, 0, 3, 27)) source = VT_CPU_FROM_RDTSCP;
            else source = VT_CPU_FROM_GETCPU;
        }
        return source;
    }
    /* The CPU this thread runs on from an instruction, or -1 when the CPU has none. */
    static inline int32_t vt_hardware_cpu(int source) {
        if (source == VT_CPU_FROM_RDPID) return (int32_t)(vt_rdpid() & 0xfff);
        if (source == VT_CPU_FROM_RDTSCP) return (int32_t)(vt_rdtscp_aux() & 0xfff);
        return -1;
    }
    """
    bint VT_HAVE_TSC
    int VT_CPU_FROM_RDPID, VT_CPU_FROM_RDTSCP, VT_CPU_FROM_GETCPU
    uint64_t vt_rdtsc() noexcept nogil
    uint64_t vt_rdtsc_ordered() noexcept nogil
    uint64_t vt_rdtsc_fenced() noexcept nogil
    uint32_t vt_rdtscp_aux() noexcept nogil
    uint32_t vt_rdpid() noexcept nogil
    int vt_cpuid_bit(unsigned int leaf, unsigned int subleaf, int reg, int bit) noexcept nogil
    int vt_cpu_source() noexcept nogil
    int32_t vt_hardware_cpu(int source) noexcept nogil
