# cython: language_level=3
"""What the kernel says, asked directly: the NTP state of the system clock (``adjtimex``
in read-only mode) and whether a clock call enters the kernel (a seccomp probe).

The probe is a fact, not a timing. A short-lived thread installs a seccomp filter on
itself alone that makes the ``clock_gettime`` system call fail with EPERM, then reads
each clock through the function table as bound at import (``import_table``). A clock
that reads is served in user space; one that fails with EPERM made the system call --
the vDSO falling back to the kernel (a clocksource it cannot read, a CPU-time clock), or
a libc without a vDSO. The filter dies with the thread: the rest of the process never
sees it. Where seccomp filters are unavailable, ``syscall_probe`` says why, and the
caller falls back to comparing costs.
"""

from libc.stdint cimport int64_t

from vdsotime._core.vdso cimport clockid_t, import_table, timespec

cdef extern from *:
    """
    #include <errno.h>
    #include <pthread.h>
    #include <stddef.h>
    #include <sys/prctl.h>
    #include <sys/syscall.h>
    #include <sys/timex.h>
    #include <linux/filter.h>
    #include <linux/seccomp.h>

    /* Make the clock_gettime system calls (and clock_gettime64 on 32-bit ABIs) fail with
       EPERM in the calling thread only (no SECCOMP_FILTER_FLAG_TSYNC): 0 or an errno. */
    static int vt_refuse_clock_syscalls(void) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    #ifdef SYS_clock_gettime64
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clock_gettime64, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    #endif
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog program = {(unsigned short)(sizeof(filter) / sizeof(filter[0])), filter};
        /* Unprivileged filters need no_new_privs; like the filter, it is per thread. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) return errno;
        return 0;
    }

    static int vt_run_thread(void *(*start)(void *), void *arg) {
        pthread_t thread;
        int error = pthread_create(&thread, NULL, start, arg);
        return error ? error : pthread_join(thread, NULL);
    }
    """
    int vt_refuse_clock_syscalls() noexcept nogil
    int vt_run_thread(void* (*start)(void*) noexcept nogil, void* arg) noexcept nogil
    int errno
    enum: EPERM

    cdef struct timeval_ "timeval":
        long tv_sec
        long tv_usec

    cdef struct timex:
        unsigned int modes
        long offset
        long freq
        long maxerror
        long esterror
        int status
        long constant
        long precision
        long tolerance
        timeval_ time
        long tick
        int tai
    int adjtimex(timex* buf) nogil
    enum:
        STA_PLL, STA_PPSFREQ, STA_PPSTIME, STA_FLL, STA_INS, STA_DEL, STA_UNSYNC,
        STA_FREQHOLD, STA_PPSSIGNAL, STA_PPSJITTER, STA_PPSWANDER, STA_PPSERROR,
        STA_CLOCKERR, STA_NANO, STA_MODE, STA_CLK
        TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT, TIME_ERROR

# adjtimex's status bits and clock states, with their <sys/timex.h> names.
STATUS_BITS = {
    "STA_PLL": STA_PLL, "STA_PPSFREQ": STA_PPSFREQ, "STA_PPSTIME": STA_PPSTIME,
    "STA_FLL": STA_FLL, "STA_INS": STA_INS, "STA_DEL": STA_DEL, "STA_UNSYNC": STA_UNSYNC,
    "STA_FREQHOLD": STA_FREQHOLD, "STA_PPSSIGNAL": STA_PPSSIGNAL,
    "STA_PPSJITTER": STA_PPSJITTER, "STA_PPSWANDER": STA_PPSWANDER,
    "STA_PPSERROR": STA_PPSERROR, "STA_CLOCKERR": STA_CLOCKERR, "STA_NANO": STA_NANO,
    "STA_MODE": STA_MODE, "STA_CLK": STA_CLK,
}
CLOCK_STATES = {TIME_OK: "TIME_OK", TIME_INS: "TIME_INS", TIME_DEL: "TIME_DEL",
                TIME_OOP: "TIME_OOP", TIME_WAIT: "TIME_WAIT", TIME_ERROR: "TIME_ERROR"}


def adjtimex_read():
    """The kernel's NTP state of CLOCK_REALTIME: ``adjtimex`` with ``modes = 0``, which
    changes nothing and needs no privilege. Returns the raw fields as a dict (the units
    of <sys/timex.h>: offset in us, or ns with STA_NANO; maxerror and esterror in us; freq
    in ppm with a 16-bit fraction) and ``state``, the call's result (TIME_OK ...)."""
    cdef timex buf
    cdef int state
    buf.modes = 0
    state = adjtimex(&buf)
    if state < 0:
        from vdsotime._core import validate
        validate.oserror(errno, "adjtimex() in read-only mode failed")
    return {"state": state, "status": buf.status, "offset": buf.offset, "freq": buf.freq,
            "maxerror": buf.maxerror, "esterror": buf.esterror, "constant": buf.constant,
            "precision": buf.precision, "tolerance": buf.tolerance, "tick": buf.tick,
            "tai": buf.tai}


# -- the system-call probe -----------------------------------------------------------------

cdef enum:
    PROBE_MAX = 64


cdef struct Probe:
    int count
    clockid_t[PROBE_MAX] clock_ids
    int[PROBE_MAX] results       # 0: read in user space; EPERM: entered the kernel; or errno
    int install_error            # why the filter could not be installed (0: it was)


cdef void* probe_thread(void* arg) noexcept nogil:
    cdef Probe* probe = <Probe*>arg
    cdef timespec ts
    cdef int i, result
    probe.install_error = vt_refuse_clock_syscalls()
    if probe.install_error:
        return NULL
    for i in range(probe.count):
        result = import_table.clock_gettime(probe.clock_ids[i], &ts)
        if result == -1 and not (import_table.from_vdso & 1):
            result = -errno          # libc's convention: -1 and errno
        probe.results[i] = -result if result < 0 else result
    return NULL


def syscall_probe(clock_ids):
    """Whether each clock of ``clock_ids`` is read without a system call, through the
    functions bound at import (not a mock clock's). Returns ``(results, None)``, per clock
    True (user space), False (the clock_gettime system call was made) or an errno (the
    clock failed otherwise, e.g. EINVAL for a clock this kernel lacks); or ``(None,
    reason)`` when this kernel or sandbox refuses seccomp filters."""
    cdef Probe probe
    cdef int error, i
    clock_ids = list(clock_ids)
    if len(clock_ids) > PROBE_MAX:
        raise ValueError(f"syscall_probe(): at most {PROBE_MAX} clock ids, got "
                         f"{len(clock_ids)}")
    probe.count = len(clock_ids)
    probe.install_error = 0
    for i, clock_id in enumerate(clock_ids):
        probe.clock_ids[i] = clock_id
        probe.results[i] = 0
    # The thread reads a few clocks and exits (microseconds): joined with the GIL held.
    error = vt_run_thread(probe_thread, &probe)
    if error:
        import os
        return None, f"cannot start the probe thread: {os.strerror(error)}"
    if probe.install_error:
        import os
        return None, f"seccomp filters are unavailable: {os.strerror(probe.install_error)}"
    return [True if probe.results[i] == 0 else False if probe.results[i] == EPERM
            else probe.results[i] for i in range(probe.count)], None
