# cython: language_level=3
"""The cross-CPU TSC ping-pong of ``tsc_skew()``: a cache line passed back and forth
between two threads pinned to two CPUs, each reading its TSC around the exchange. The
caller's part is a loop of the driver (``driver.pxd``): it sleeps until both sides are
done, and Ctrl-C stops both threads."""

from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.string cimport memset

from vdsotime._core cimport validate
from vdsotime._core.hw cimport vt_cpu_source, vt_hardware_cpu, vt_rdtsc_fenced
from vdsotime._loops.driver cimport (SPIN_MASK, Loop, check_tsc, deadline_clock, drive,
                                     past_deadline, start_loop)

cdef extern from *:
    """
    #include <errno.h>
    #include <pthread.h>
    #include <sched.h>
    #include <stdlib.h>
    #include <time.h>

    static inline int64_t vt_load_acquire(int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline void vt_store_release(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

    /* Start start(arg) in a new thread allowed on `cpu` alone: 0 or an errno. */
    static int vt_start_pinned(pthread_t *thread, int cpu, void *(*start)(void *), void *arg) {
        pthread_attr_t attr;
        cpu_set_t set;
        int error;
        if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
        error = pthread_attr_init(&attr);
        if (error) return error;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        error = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
        if (!error) error = pthread_create(thread, &attr, start, arg);
        pthread_attr_destroy(&attr);
        return error;
    }
    static void *vt_alloc_lines(size_t size) {
        void *memory = NULL;
        return posix_memalign(&memory, 64, (size + 63) & ~(size_t)63) == 0 ? memory : NULL;
    }
    static void vt_sleep_ns(long ns) { struct timespec ts = {0, ns}; nanosleep(&ts, NULL); }
    """
    ctypedef unsigned long pthread_t
    int64_t vt_load_acquire(int64_t* p) noexcept nogil
    void vt_store_release(int64_t* p, int64_t value) noexcept nogil
    int vt_start_pinned(pthread_t* thread, int cpu, void* (*start)(void*) noexcept nogil,
                        void* arg) noexcept nogil
    int pthread_join(pthread_t thread, void** result) nogil
    void* vt_alloc_lines(size_t size) noexcept nogil
    void free(void* memory) nogil
    void vt_sleep_ns(long ns) noexcept nogil
    enum: ETIMEDOUT

# The reference side stores this instead of starting a round: the run is over. It is above
# every round's value, so a side waiting for an answer takes it as one (the answer was
# given before the stop).
cdef int64_t SKEW_STOP = INT64_MAX
# What skew_wait returns when the run was cancelled or the wait timed out.
cdef int64_t SKEW_ABANDONED = -2


cdef struct SkewShared:
    int64_t seq             # the line the two threads pass: 2r+1 asks round r, 2r+2 answers it
    char[56] pad            # (alone in its 64-byte cache line: the block is line-aligned)
    int64_t cancel          # set by the caller (Ctrl-C) or by a side whose wait timed out
    int64_t finished[2]     # per side, set when its thread is about to return
    int error               # -ETIMEDOUT when a wait outlasted timeout_ns
    int cpu[2]              # the CPU each side is pinned to ...
    int seen_cpu[2]         # ... and the one rdpid/rdtscp reports there (-1: no instruction)
    Py_ssize_t rounds
    Py_ssize_t done[2]      # rounds each side completed
    int64_t budget_until    # CLOCK_MONOTONIC: side 0 starts no round after this
    int64_t timeout_ns
    uint64_t* first         # per round: the initiator's TSC before it asks ...
    uint64_t* last          # ... and after the answer arrived,
    uint64_t* reply         # the responder's TSC between the two


cdef struct SkewSide:
    SkewShared* shared
    int side                # 0: the reference CPU, asks the even rounds; 1: asks the odd ones


cdef int64_t skew_wait(SkewShared* shared, int64_t wanted) noexcept nogil:
    """Spin until the line holds ``wanted`` or more and return what it holds: the line
    only grows, and a side that answered may ask the next round before the asker of this
    one looked, so a later value also means "answered". SKEW_ABANDONED when the run is
    cancelled or the wait outlasts ``timeout_ns`` on CLOCK_MONOTONIC (then it cancels the
    run: the other side stops too)."""
    cdef unsigned int spins = 0
    cdef int64_t value, now, give_up = 0
    while True:
        value = vt_load_acquire(&shared.seq)
        if value >= wanted:
            return value
        spins += 1
        if (spins & SPIN_MASK) == 0:
            if vt_load_acquire(&shared.cancel):
                return SKEW_ABANDONED
            now = deadline_clock()
            if give_up == 0:
                give_up = now + shared.timeout_ns
            elif now >= give_up:
                shared.error = -ETIMEDOUT
                vt_store_release(&shared.cancel, 1)
                return SKEW_ABANDONED


cdef void* skew_side(void* arg) noexcept nogil:
    """One side of the ping-pong. In round r the initiator (side r % 2) reads its TSC, asks
    (seq = 2r+1), waits for the answer (seq = 2r+2) and reads its TSC again; the responder
    reads its TSC between seeing the question and answering. Causality puts the reply's
    reading between the initiator's two."""
    cdef SkewSide* me = <SkewSide*>arg
    cdef SkewShared* shared = me.shared
    cdef int side = me.side
    cdef Py_ssize_t r = 0
    cdef uint64_t before, after
    cdef int64_t seen
    shared.seen_cpu[side] = vt_hardware_cpu(vt_cpu_source())
    while r < shared.rounds:
        if (r & 1) == side:
            if side == 0 and r > 0 and deadline_clock() >= shared.budget_until:
                vt_store_release(&shared.seq, SKEW_STOP)
                break
            before = vt_rdtsc_fenced()
            vt_store_release(&shared.seq, 2 * r + 1)
            if skew_wait(shared, 2 * r + 2) == SKEW_ABANDONED:
                break
            after = vt_rdtsc_fenced()
            shared.first[r] = before
            shared.last[r] = after
        else:
            seen = skew_wait(shared, 2 * r + 1)
            if seen == SKEW_ABANDONED or seen == SKEW_STOP:
                break
            before = vt_rdtsc_fenced()
            vt_store_release(&shared.seq, 2 * r + 2)
            shared.reply[r] = before
        r += 1
    shared.done[side] = r
    vt_store_release(&shared.finished[side], 1)
    return NULL


cdef struct SkewLoop:
    Loop loop
    SkewShared* shared


cdef bint skew_step(Loop* loop) noexcept nogil:
    """The caller's part: sleep (the two sides need the CPUs) until both sides are done."""
    cdef SkewShared* shared = (<SkewLoop*>loop).shared
    while not (vt_load_acquire(&shared.finished[0]) and vt_load_acquire(&shared.finished[1])):
        if past_deadline(loop):
            return False
        vt_sleep_ns(1_000_000)
    return True


def tsc_ping_pong(int reference_cpu, int other_cpu, Py_ssize_t rounds, int64_t seconds_ns,
                  int64_t timeout_ns=500_000_000):
    """Pass a cache line ``rounds`` times between a thread pinned to ``reference_cpu`` and
    one pinned to ``other_cpu``, the two asking in turn, for at most ``seconds_ns`` (on
    CLOCK_MONOTONIC). Returns ``(first, last, reply, seen_cpus, timed_out)``: per completed
    round the initiator's TSC before asking and after the answer, and the responder's TSC
    in between (rounds with an even index were asked by the reference CPU); the CPUs the
    two threads found themselves on; whether a wait outlasted ``timeout_ns``, which ends
    the run early. The caller sleeps meanwhile, and Ctrl-C stops both threads."""
    import numpy as np

    cdef SkewLoop state
    cdef SkewShared* shared
    cdef SkewSide[2] sides
    cdef pthread_t[2] threads
    cdef bint[2] started
    cdef uint64_t[:, ::1] readings_view
    cdef int error = 0, side
    check_tsc("tsc_skew")
    if rounds < 2 or seconds_ns < 1 or timeout_ns < 1:
        raise ValueError("tsc_ping_pong(): need rounds >= 2, seconds_ns >= 1, "
                         "timeout_ns >= 1")
    readings = np.zeros((3, rounds), dtype=np.uint64)  # first, last, reply
    readings_view = readings
    shared = <SkewShared*>vt_alloc_lines(sizeof(SkewShared))
    if shared == NULL:
        raise MemoryError()
    memset(shared, 0, sizeof(SkewShared))
    shared.cpu[0], shared.cpu[1] = reference_cpu, other_cpu
    shared.seen_cpu[0] = shared.seen_cpu[1] = -1
    shared.rounds = rounds
    shared.timeout_ns = timeout_ns
    shared.budget_until = deadline_clock() + seconds_ns
    shared.first = &readings_view[0, 0]
    shared.last = &readings_view[1, 0]
    shared.reply = &readings_view[2, 0]
    started[0] = started[1] = False
    try:
        for side in range(2):
            sides[side].shared = shared
            sides[side].side = side
            error = vt_start_pinned(&threads[side], shared.cpu[side], skew_side, &sides[side])
            if error:
                vt_store_release(&shared.cancel, 1)
                validate.raise_errno(error, f"tsc_skew(): cannot start a thread on CPU "
                                         f"{shared.cpu[side]}")
            started[side] = True
        start_loop(&state.loop, 1, skew_step, NULL, False)
        state.shared = shared
        drive(&state.loop, "tsc_skew()")
    finally:
        vt_store_release(&shared.cancel, 1)
        with nogil:
            for side in range(2):
                if started[side]:
                    pthread_join(threads[side], NULL)
        done = min(shared.done[0], shared.done[1])
        seen_cpus = (shared.seen_cpu[0], shared.seen_cpu[1])
        timed_out = shared.error == -ETIMEDOUT
        free(shared)
    first, last, reply = readings[:, :done]
    return first, last, reply, seen_cpus, timed_out
