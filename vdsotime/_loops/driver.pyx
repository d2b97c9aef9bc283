# cython: language_level=3
"""Every long loop of vdsotime, and the one driver that runs them.

A loop is a *step* function over a state struct that begins with a ``Loop`` header.
``drive()`` runs the step in chunks. Before each chunk it sets a deadline about 5 ms ahead
on CLOCK_MONOTONIC -- never on the clock being sampled, which may be coarse, stopped (the
CPU clock of a sleeping thread) or dead (that of a thread that exited). The step returns
when it is finished or past its deadline, and between chunks the driver, holding the GIL
again, turns a failed reading into ``OSError`` (the kernel's errno) and runs
``PyErr_CheckSignals``: Ctrl-C raises KeyboardInterrupt within a few milliseconds.

Steps that only read clocks and counters run without the GIL. The timed-calls step calls
Python and keeps the GIL (the interpreter runs other threads during the calls). A fill
short enough to be one chunk's worth runs in one go with the GIL held: releasing the GIL
would cost more than the work.

Progress lives in the header (``done``): a caller can return what was measured before an
exception stopped the loop (the ``partial_result`` of the exception).
"""

cimport cython
from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport PyObject
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint64_t
from libc.string cimport memset

from vdsotime cimport clock as c
from vdsotime._core cimport validate
from vdsotime._core.hw cimport (VT_CPU_FROM_GETCPU, VT_HAVE_TSC, vt_cpu_source, vt_hardware_cpu,
                          vt_rdtsc, vt_rdtsc_fenced, vt_rdtsc_ordered)
from vdsotime._core.vdso cimport clockid_t, import_table, sys_clock_gettime, timespec

from vdsotime._core.hw import require_tsc
from vdsotime._core.validate import attach

# The longest stretch between two signal checks is CHUNK_NS plus one block's work.
cdef int64_t CHUNK_NS = 5_000_000
# Fills check their deadline every BLOCK elements: one CLOCK_MONOTONIC read per 1024
# samples (0.1 % of a vDSO fill), and at most a few ms between checks even when every
# reading is a system call into a slow clock.
cdef Py_ssize_t BLOCK = 1024
# Fills up to this size run in one go with the GIL held (a few tens of microseconds).
cdef Py_ssize_t SHORT_FILL = 2048
# Spinning loops (paced sampling, TSC pairs, jitter) check their deadline every SPIN reads.

CHUNK_SECONDS = CHUNK_NS / 1e9


cdef packed struct TimeCpu:
    int64_t t_ns
    int32_t cpu


cdef packed struct Gap:
    int64_t start_ns
    int64_t length_ns
    int32_t cpu


cdef int check_tsc(str function) except -1:
    """hw.require_tsc (the one message), reached only where there is no TSC: on x86 the
    check is a compile-time constant, not a Python call in every sample_tsc()."""
    if not VT_HAVE_TSC:
        require_tsc(function)
    return 0


cdef int drive(Loop* loop, str context) except -1:
    """Run ``loop`` to its end: chunks of about CHUNK_NS, the GIL released for steps that
    allow it, errors raised and signals checked between chunks. ``context`` starts the
    message of the OSError for a failed reading."""
    cdef bint finished = False
    loop.error = 0
    while True:
        if loop.gil_step != NULL:
            loop.deadline = deadline_clock() + CHUNK_NS
            finished = loop.gil_step(loop)
        elif loop.hold_gil:
            loop.deadline = INT64_MAX
            finished = loop.step(loop)
        else:
            with nogil:
                loop.deadline = deadline_clock() + CHUNK_NS
                finished = loop.step(loop)
        if loop.error:
            validate.raise_errno(loop.error, context)
        if finished:
            return 0
        PyErr_CheckSignals()


# -- fills ----------------------------------------------------------------------------------

ctypedef int (*FillBlock)(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil


cdef struct FillLoop:
    Loop loop
    FillBlock block
    char* out
    clockid_t clock_id
    uint64_t checksum       # for fills that store nothing (benchmarks)


cdef bint fill_step(Loop* loop) noexcept nogil:
    """Fill in blocks of BLOCK elements, checking the deadline after each block."""
    cdef FillLoop* fill = <FillLoop*>loop
    cdef Py_ssize_t start = loop.done, stop
    cdef int error
    while start < loop.total:
        stop = start + BLOCK if loop.total - start > BLOCK else loop.total
        error = fill.block(fill, start, stop)
        if error:
            loop.error = error
            return True
        start = loop.done = stop
        if start < loop.total and not loop.hold_gil and past_deadline(loop):
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int clock_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Back-to-back readings, in ns."""
    cdef int64_t* out = <int64_t*>fill.out
    cdef clockid_t clock_id = fill.clock_id
    cdef timespec ts
    cdef int result
    cdef Py_ssize_t i
    for i in range(start, stop):
        result = c.clock_gettime(clock_id, &ts)
        if result != 0:
            fill.loop.done = i
            return result
        out[i] = ns_of(&ts)
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int tsc_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef uint64_t* out = <uint64_t*>fill.out
    cdef Py_ssize_t i
    for i in range(start, stop):
        out[i] = vt_rdtsc()
    return 0


cdef inline int32_t current_cpu(int source) noexcept nogil:
    """The CPU this thread runs on: an instruction when the CPU has one, else getcpu
    through the function table (the vDSO's where it has one)."""
    cdef unsigned int cpu = 0, node = 0
    if source != VT_CPU_FROM_GETCPU:
        return vt_hardware_cpu(source)
    if c.getcpu(&cpu, &node) != 0:
        return -1
    return <int32_t>cpu


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int cpu_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Readings, each with the CPU the thread ran on just after it."""
    cdef TimeCpu* out = <TimeCpu*>fill.out
    cdef clockid_t clock_id = fill.clock_id
    cdef int source = vt_cpu_source()
    cdef timespec ts
    cdef int result
    cdef Py_ssize_t i
    for i in range(start, stop):
        result = c.clock_gettime(clock_id, &ts)
        if result != 0:
            fill.loop.done = i
            return result
        out[i].t_ns = ns_of(&ts)
        out[i].cpu = current_cpu(source)
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int timer_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Two CLOCK_MONOTONIC reads around nothing: what timed_calls' timer costs."""
    cdef int64_t* out = <int64_t*>fill.out
    cdef int64_t before
    cdef Py_ssize_t i
    for i in range(start, stop):
        before = c.monotonic_ns()
        out[i] = c.monotonic_ns() - before
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int tsc_timer_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Two ordered TSC reads around nothing: what the TSC timer of timed_calls costs,
    in ticks."""
    cdef int64_t* out = <int64_t*>fill.out
    cdef uint64_t before
    cdef Py_ssize_t i
    for i in range(start, stop):
        before = vt_rdtsc_ordered()
        out[i] = <int64_t>(vt_rdtsc_ordered() - before)
    return 0


cdef int syscall_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """The real clock_gettime system call, bypassing the vDSO."""
    cdef timespec ts
    cdef int result
    cdef Py_ssize_t i
    for i in range(start, stop):
        result = sys_clock_gettime(fill.clock_id, &ts)
        if result != 0:
            fill.loop.done = i
            return result
        fill.checksum += <uint64_t>ts.tv_nsec
    return 0


cdef int cimport_block(FillLoop* fill, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """The cimported clock_gettime_ns of clock.pxd, as another extension calls it."""
    cdef clockid_t clock_id = fill.clock_id
    cdef uint64_t checksum = 0
    cdef int64_t value
    cdef Py_ssize_t i
    for i in range(start, stop):
        value = c.clock_gettime_ns(clock_id)
        if value < 0:
            fill.loop.done = i
            return <int>value
        checksum += <uint64_t>value
    fill.checksum += checksum
    return 0


cdef FillBlock[3] FILL_BLOCKS
FILL_BLOCKS[<int>FILL_CLOCK] = clock_block
FILL_BLOCKS[<int>FILL_TSC] = tsc_block
FILL_BLOCKS[<int>FILL_CPU] = cpu_block


cdef int run_fill(FillLoop* fill, FillBlock block, void* out, Py_ssize_t n,
                  clockid_t clock_id, str context, Py_ssize_t* done) except -1:
    start_loop(&fill.loop, n, fill_step, NULL, n <= SHORT_FILL)
    fill.block = block
    fill.out = <char*>out
    fill.clock_id = clock_id
    fill.checksum = 0
    try:
        drive(&fill.loop, context)
    finally:
        done[0] = fill.loop.done
    return 0


cdef str _failed(str function, clockid_t clock_id):
    return f"{function}(): reading clock_id {clock_id} failed after it started"


cdef int fill(FillKind kind, void* out, Py_ssize_t n, clockid_t clock_id, str function,
              Py_ssize_t* done) except -1:
    cdef FillLoop state
    if kind == FILL_TSC:
        check_tsc(function)
    return run_fill(&state, FILL_BLOCKS[<int>kind], out, n, clock_id,
                    _failed(function, clock_id), done)


def timer_overhead(int64_t[::1] out not None, bint tsc=False):
    """Fill ``out`` with the cost of timed_calls' timer: two CLOCK_MONOTONIC reads around
    nothing, in ns (with ``tsc``: two ordered TSC reads, in ticks)."""
    cdef FillLoop state
    cdef Py_ssize_t done = 0
    if tsc:
        check_tsc("timer_overhead")
    if out.shape[0]:
        run_fill(&state, tsc_timer_block if tsc else timer_block, &out[0], out.shape[0],
                 c.CLOCK_MONOTONIC, "timer_overhead()", &done)


def syscall_loop(Py_ssize_t n, clock_id):
    """Nanoseconds (the real CLOCK_MONOTONIC, which a mock clock does not change) that
    ``n`` raw clock_gettime system calls take (the time64 call on 32-bit ABIs, as the
    vDSO retry path makes it)."""
    cdef FillLoop state
    cdef Py_ssize_t done = 0
    cdef int64_t start
    cdef clockid_t clock = validate.readable_clock(clock_id, "syscall_loop")
    if n < 1:
        raise ValueError(f"syscall_loop(): n must be >= 1, got {n}")
    start = deadline_clock()
    run_fill(&state, syscall_block, NULL, n, clock, _failed("syscall_loop", clock), &done)
    return deadline_clock() - start


def cimport_loop(Py_ssize_t n, clock_id=c.CLOCK_MONOTONIC):
    """Nanoseconds (the real CLOCK_MONOTONIC) that ``n`` cimported
    ``clock_gettime_ns(clock_id)`` calls take in a C loop -- the cost per call without Python (numpy.random's
    ``_benchmark`` idea). Returns (elapsed_ns, checksum); the checksum keeps the compiler
    from dropping the calls."""
    cdef FillLoop state
    cdef Py_ssize_t done = 0
    cdef int64_t start
    cdef clockid_t clock = validate.readable_clock(clock_id, "cimport_loop")
    if n < 1:
        raise ValueError(f"cimport_loop(): n must be >= 1, got {n}")
    start = deadline_clock()
    run_fill(&state, cimport_block, NULL, n, clock, _failed("cimport_loop", clock), &done)
    return deadline_clock() - start, state.checksum


# -- paced sampling ---------------------------------------------------------------------

cdef struct PacedLoop:
    Loop loop
    int64_t* out
    int64_t first
    int64_t period
    clockid_t clock_id
    unsigned int reads


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint paced_step(Loop* loop) noexcept nogil:
    """Sample i is the first reading at or after first + i * period (on the sampled
    clock); a late sample is taken at once and none is skipped."""
    cdef PacedLoop* paced = <PacedLoop*>loop
    cdef Py_ssize_t i = loop.done
    cdef int64_t target, now
    cdef timespec ts
    cdef int result
    while i < loop.total:
        target = paced.first + i * paced.period
        while True:
            result = c.clock_gettime(paced.clock_id, &ts)
            if result != 0:
                loop.done = i
                loop.error = result
                return True
            now = ns_of(&ts)
            paced.reads += 1
            if now >= target:
                break
            if (paced.reads & SPIN_MASK) == 0 and past_deadline(loop):
                loop.done = i
                return False
        paced.out[i] = now
        i += 1
        if (paced.reads & SPIN_MASK) == 0 and i < loop.total and past_deadline(loop):
            loop.done = i
            return False
    loop.done = i
    return True


cdef int paced(int64_t* out, Py_ssize_t n, int64_t first, int64_t period,
               clockid_t clock_id, str function, Py_ssize_t* done) except -1:
    cdef PacedLoop state
    start_loop(&state.loop, n, paced_step, NULL, False)
    state.out = out
    state.first = first
    state.period = period
    state.clock_id = clock_id
    state.reads = 1
    try:
        drive(&state.loop, _failed(function, clock_id))
    finally:
        done[0] = state.loop.done
    return 0


# -- TSC calibration pairs --------------------------------------------------------------

cdef struct PairsLoop:
    Loop loop
    int64_t* middles
    uint64_t* ticks
    int64_t* widths
    Py_ssize_t tries
    int64_t spacing
    int64_t next_start
    unsigned int reads
    # The burst in progress, kept across chunks: a burst of many tries may outlast one.
    Py_ssize_t tried        # its tries so far (0: the burst has not started)
    int64_t best_width      # its tightest bracket so far ...
    int64_t best_middle
    uint64_t best_ticks     # ... and the ticks read inside it


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint pairs_step(Loop* loop) noexcept nogil:
    """Burst b starts at next_start; of its ``tries`` (CLOCK_MONOTONIC, lfence+rdtsc,
    CLOCK_MONOTONIC) reads, the tightest bracket is kept, placed at its middle. The
    deadline is checked every SPIN reads inside a burst as well: each try stands alone, so
    a burst may pause between two tries (for a signal check) without harm."""
    cdef PairsLoop* pairs = <PairsLoop*>loop
    cdef Py_ssize_t b = loop.done
    cdef int64_t before, after
    cdef uint64_t ticks
    while b < loop.total:
        if pairs.tried == 0:
            while deadline_clock() < pairs.next_start:
                pairs.reads += 1
                if (pairs.reads & SPIN_MASK) == 0 and past_deadline(loop):
                    loop.done = b
                    return False
            pairs.best_width = -1
            pairs.best_middle = 0
            pairs.best_ticks = 0
        while pairs.tried < pairs.tries:
            before = deadline_clock()
            ticks = vt_rdtsc_ordered()
            after = deadline_clock()
            if pairs.best_width < 0 or after - before < pairs.best_width:
                pairs.best_width = after - before
                pairs.best_middle = before + (after - before) // 2
                pairs.best_ticks = ticks
            pairs.tried += 1
            pairs.reads += 1
            if ((pairs.reads & SPIN_MASK) == 0 and pairs.tried < pairs.tries
                    and past_deadline(loop)):
                loop.done = b
                return False
        pairs.middles[b] = pairs.best_middle
        pairs.ticks[b] = pairs.best_ticks
        pairs.widths[b] = pairs.best_width
        pairs.next_start += pairs.spacing
        pairs.tried = 0
        b += 1
        if b < loop.total and past_deadline(loop):
            loop.done = b
            return False
    loop.done = b
    return True


def tsc_pairs(Py_ssize_t bursts, Py_ssize_t tries, int64_t spacing_ns):
    """Paired readings for TSC calibration: ``bursts`` bursts, ``spacing_ns`` apart; in
    each, ``tries`` reads of (CLOCK_MONOTONIC, lfence+rdtsc, CLOCK_MONOTONIC), of which the
    tightest is kept. CLOCK_MONOTONIC as bound at import: the TSC is never mocked, so
    neither is its calibration. Returns arrays (clock_ns at the middle, ticks, bracket
    width ns).
    Ctrl-C interrupts it within milliseconds, however many tries a burst has."""
    import numpy as np

    cdef PairsLoop state
    cdef int64_t[::1] middles_view
    cdef uint64_t[::1] ticks_view
    cdef int64_t[::1] widths_view
    check_tsc("tsc_pairs")
    if bursts < 2 or tries < 1 or spacing_ns < 0:
        raise ValueError("tsc_pairs(): need bursts >= 2, tries >= 1, spacing_ns >= 0")
    middles = np.empty(bursts, dtype=np.int64)
    ticks = np.empty(bursts, dtype=np.uint64)
    widths = np.empty(bursts, dtype=np.int64)
    middles_view, ticks_view, widths_view = middles, ticks, widths
    start_loop(&state.loop, bursts, pairs_step, NULL, False)
    state.middles = &middles_view[0]
    state.ticks = &ticks_view[0]
    state.widths = &widths_view[0]
    state.tries = tries
    state.spacing = spacing_ns
    state.next_start = deadline_clock()
    state.reads = 1
    state.tried = 0
    drive(&state.loop, "tsc_pairs(): reading CLOCK_MONOTONIC failed")
    return middles, ticks, widths


# -- jitter --------------------------------------------------------------------------------
#
# The loop reads the clock back to back; a step of at least the threshold between two
# readings is a gap. Every gap is counted exactly (how many, their sum, the shortest) and
# into a fixed histogram of log-linear buckets, and the longest are kept, with their start
# and CPU, in a min-heap whose size is fixed before the loop (the way oslat and sysjitter
# record). All of it is allocated and written once before the loop: nothing is allocated
# or first touched inside it, and a gap costs the same few instructions at any threshold.
# Only a gap longer than the shortest kept one does more: it reads the CPU and takes
# log2(keep) heap steps.

cdef extern from *:
    """
    #include <stdint.h>
    /* The number of zero bits above the highest set bit of a nonzero value. */
    static inline int vt_leading_zeros64(uint64_t value) { return __builtin_clzll(value); }
    """
    int vt_leading_zeros64(uint64_t value) noexcept nogil

cdef enum:
    GAP_PART_BITS = 4           # each doubling of the gap length is cut in 2**4 parts
    GAP_BUCKET_COUNT = 1008     # 63 doublings of 16: from 1 ns up to 2**63 ns
    # Gaps shorter than this are counted by their exact length, in a table of their own
    # folded into the buckets afterwards: at a threshold near the cost of a read, every
    # read is such a gap, and one load from the table is quicker than finding a bucket.
    SHORT_GAP_NS = 256

GAP_PER_OCTAVE = 1 << GAP_PART_BITS
GAP_BUCKETS = GAP_BUCKET_COUNT


def gap_lower_edges():
    """The histogram's buckets as whole ns (a list of GAP_BUCKETS + 1 ints): bucket
    ``k = 16 * o + j`` holds the lengths from (1 + j / 16) * 2**o ns up to (not
    including) (1 + (j + 1) / 16) * 2**o ns -- HdrHistogram's log-linear buckets -- that is
    the whole numbers ``edges[k] <= length < edges[k + 1]``."""
    edges = []
    for k in range(GAP_BUCKET_COUNT + 1):
        octave, part = divmod(k, GAP_PER_OCTAVE)
        edges.append(-(-((GAP_PER_OCTAVE + part) << octave) >> GAP_PART_BITS))  # ceil
    return edges


cdef inline Py_ssize_t gap_bucket(uint64_t length) noexcept nogil:
    """The histogram bucket of a gap of ``length`` ns (1 to 2**63 - 1): its doubling from
    the highest set bit, and the part of it from the 4 bits below. A handful of
    instructions and no table: the clock's next read waits for them to finish (its
    lfence or rdtscp), so every step here lengthens the loop."""
    cdef int lead = vt_leading_zeros64(length)
    cdef uint64_t top = (length << lead) >> (63 - GAP_PART_BITS)   # 1 and the 4 bits
    return ((62 - lead) << GAP_PART_BITS) + <Py_ssize_t>top


cdef struct GapTally:
    # What every reading updates. The loop keeps a copy in local variables -- registers:
    # the clock's read waits for every instruction before it to finish (lfence or
    # rdtscp in the vDSO), so each memory round trip here would lengthen every loop.
    int64_t threshold
    int64_t previous        # the last reading of the sampled clock
    int64_t loops           # readings taken
    int64_t count           # gaps, exactly ...
    int64_t total           # ... their sum, ns
    int64_t shortest        # ... and the shortest
    int64_t* histogram      # GAP_BUCKET_COUNT counts ...
    int64_t* short_counts   # ... but of the gaps under SHORT_GAP_NS: by length
    int64_t keep_above      # a gap longer than this joins the heap of the longest


cdef struct JitterLoop:
    Loop loop               # (done and total unused: the run ends on its deadline)
    GapTally tally
    clockid_t clock_id
    int cpu_source
    int64_t duration        # ns the run lasts ...
    int64_t until           # ... ending at this CLOCK_MONOTONIC time
    int64_t pause_at        # ... and at which run() returns for now (progress reports)
    # The longest gaps: a min-heap of ``kept`` entries (at most ``keep``) whose root is
    # the weakest -- the shortest, and of equally short ones the latest.
    Gap* longest
    Py_ssize_t keep
    Py_ssize_t kept
    bint over               # the run's time is up
    bint paused             # pause_at has passed


cdef inline bint weaker(Gap* a, Gap* b) noexcept nogil:
    """Whether ``a`` gives way to ``b`` in the heap of the longest gaps: shorter, or as
    long and later (of gaps of one length, the earliest are kept)."""
    return a.length_ns < b.length_ns or (a.length_ns == b.length_ns
                                         and a.start_ns > b.start_ns)


cdef int64_t keep_gap(JitterLoop* jitter, int64_t start, int64_t length) noexcept nogil:
    """Put a gap longer than ``keep_above`` in the heap of the longest: at the end (then
    up) while the heap has room, else in place of the root (then down). Returns the new
    ``keep_above``: 0 while there is room, else the root's length."""
    cdef Gap* heap = jitter.longest
    cdef Gap entry
    cdef Py_ssize_t i, parent, child
    entry.start_ns = start
    entry.length_ns = length
    entry.cpu = current_cpu(jitter.cpu_source)
    if jitter.kept < jitter.keep:
        i = jitter.kept
        jitter.kept += 1
        while i > 0:
            parent = (i - 1) >> 1
            if not weaker(&entry, &heap[parent]):
                break
            heap[i] = heap[parent]
            i = parent
        heap[i] = entry
        if jitter.kept < jitter.keep:
            return 0                    # room left: every gap joins
    else:
        i = 0
        while True:
            child = 2 * i + 1
            if child >= jitter.keep:
                break
            if child + 1 < jitter.keep and weaker(&heap[child + 1], &heap[child]):
                child += 1
            if not weaker(&heap[child], &entry):
                break
            heap[i] = heap[child]
            i = child
        heap[i] = entry
    return heap[0].length_ns


cdef inline void take_reading(GapTally* tally, JitterLoop* jitter, int64_t now) noexcept nogil:
    """One reading of the loop: a step of at least the threshold since the last one is
    a gap, counted, put in the histogram and, when it is among the longest so far, kept
    with the CPU the loop resumed on."""
    cdef int64_t gap = now - tally.previous
    tally.previous = now
    tally.loops += 1
    if gap >= tally.threshold:
        tally.count += 1
        tally.total += gap
        if gap < tally.shortest:
            tally.shortest = gap
        if gap < SHORT_GAP_NS:
            tally.short_counts[gap] += 1
        else:
            tally.histogram[gap_bucket(<uint64_t>gap)] += 1
        if gap > tally.keep_above:
            tally.keep_above = keep_gap(jitter, now - gap, gap)


cdef bint jitter_step(Loop* loop) noexcept nogil:
    """Read the clock back to back until the run's end, a pause for a progress report or
    the chunk's deadline (checked every SPIN_MASK + 1 readings, on CLOCK_MONOTONIC)."""
    cdef JitterLoop* jitter = <JitterLoop*>loop
    cdef GapTally tally = jitter.tally      # in registers until the step returns
    cdef clockid_t clock_id = jitter.clock_id
    cdef int64_t monotonic
    cdef timespec ts
    cdef int result
    cdef bint finished
    while True:
        result = c.clock_gettime(clock_id, &ts)
        if result != 0:
            loop.error = result
            finished = True
            break
        take_reading(&tally, jitter, ns_of(&ts))
        if (tally.loops & SPIN_MASK) == 0:
            monotonic = deadline_clock()
            if monotonic >= jitter.until:
                jitter.over = finished = True
                break
            if monotonic >= jitter.pause_at:
                jitter.paused = finished = True
                break
            if monotonic >= loop.deadline:
                finished = False
                break
    jitter.tally = tally
    return finished


cdef class JitterRun:
    """One jitter run: the loop's state, its histogram and its heap of the longest gaps
    (numpy arrays the state points into, allocated and written before the loop starts;
    their sizes never change)."""

    cdef JitterLoop state
    cdef object counts                      # int64[GAP_BUCKETS + SHORT_GAP_NS]
    cdef object heap                        # gap_dtype[keep]
    cdef bint begun
    cdef readonly int64_t start_ns          # first reading of the sampled clock
    cdef readonly int64_t started           # CLOCK_MONOTONIC at the start
    cdef readonly int64_t ended             # CLOCK_MONOTONIC at the end (or the interrupt)
    cdef readonly int64_t unobserved_ns     # sampled-clock time spent outside the loop

    def __cinit__(self):
        memset(&self.state, 0, sizeof(JitterLoop))

    def __init__(self, gap_dtype, int64_t seconds_ns, int64_t threshold_ns, clock_id,
                 Py_ssize_t keep=1000):
        import numpy as np

        cdef clockid_t clock = validate.readable_clock(clock_id, "jitter")
        cdef int64_t[::1] counts_view
        cdef Gap[::1] heap_view
        cdef timespec ts
        cdef int result
        if keep < 1 or threshold_ns < 1 or seconds_ns < 1:
            raise ValueError("JitterRun(): keep, threshold_ns and seconds_ns must be >= 1")
        self.counts = np.empty(GAP_BUCKET_COUNT + SHORT_GAP_NS, dtype=np.int64)
        self.heap = np.empty(keep, dtype=gap_dtype)
        counts_view = self.counts
        heap_view = self.heap
        start_loop(&self.state.loop, 0, jitter_step, NULL, False)
        self.state.tally.histogram = &counts_view[0]
        self.state.tally.short_counts = &counts_view[GAP_BUCKET_COUNT]
        self.state.tally.threshold = threshold_ns
        self.state.longest = &heap_view[0]
        self.state.keep = keep
        self.state.clock_id = clock
        self.state.cpu_source = vt_cpu_source()
        self.state.duration = seconds_ns
        result = c.clock_gettime(clock, &ts)  # a clock that cannot be read fails here
        if result != 0:
            validate.raise_errno(result, _failed("jitter", clock))
        self.warm()

    cdef int warm(self) except -1:
        """Record a few made-up gaps, then clear everything: the recording's code and
        data (the CPU instruction or getcpu's vDSO page, both ways of counting, both heap
        paths, every page of the arrays) are then in memory, and their first touch is no
        gap in the run."""
        cdef JitterLoop* state = &self.state
        cdef GapTally* tally = &state.tally
        cdef Py_ssize_t keep = state.keep
        state.keep = 2 if keep >= 2 else 1     # two joins and a replacement, at most
        state.kept = 0
        tally.keep_above = 0
        tally.previous = 0
        # Two gaps as short as allowed (under SHORT_GAP_NS, if the threshold is) and a
        # long one, in the histogram's buckets.
        take_reading(tally, state, tally.previous + tally.threshold + 1)
        take_reading(tally, state, tally.previous + tally.threshold + 2)
        take_reading(tally, state, tally.previous + max(tally.threshold, SHORT_GAP_NS) + 3)
        state.keep = keep
        memset(tally.histogram, 0, (GAP_BUCKET_COUNT + SHORT_GAP_NS) * sizeof(int64_t))
        memset(state.longest, 0, keep * sizeof(Gap))
        state.kept = 0
        tally.keep_above = 0
        tally.loops = 0
        tally.count = 0
        tally.total = 0
        tally.shortest = INT64_MAX
        return 0

    def run(self, int64_t slice_ns=0):
        """Spin until the time is up (or for ``slice_ns`` more, when given). Ctrl-C and a
        failed reading raise; what was recorded so far stays in the object.

        The time between two calls (a progress report, in Python) is not watched: the
        loop goes on from a new reading, and ``unobserved_ns`` adds up that time."""
        cdef timespec ts
        cdef int result
        cdef int64_t now
        if self.state.loop.step == NULL:
            raise RuntimeError("JitterRun.run(): the run was not initialised")
        if self.state.over:
            return
        if not self.begun:
            self.started = self.ended = deadline_clock()
            self.state.until = self.started + self.state.duration
        result = c.clock_gettime(self.state.clock_id, &ts)
        if result != 0:
            validate.raise_errno(result, _failed("jitter", self.state.clock_id))
        now = ns_of(&ts)
        if not self.begun:
            self.begun = True
            self.start_ns = now
        elif now > self.state.tally.previous:
            self.unobserved_ns += now - self.state.tally.previous
        self.state.tally.previous = now
        self.state.pause_at = deadline_clock() + slice_ns if slice_ns > 0 else INT64_MAX
        self.state.paused = False
        try:
            drive(&self.state.loop, _failed("jitter", self.state.clock_id))
        finally:
            self.ended = deadline_clock()

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def replay(self, const int64_t[::1] readings not None):
        """Feed ``readings`` (ns) to the loop's recording in place of the clock: after the
        last reading, or, before the run, with the first as the start. For tests: the
        recording is the loop's own code, and given readings make its results known."""
        cdef Py_ssize_t i = 0
        if readings.shape[0] == 0:
            return
        if not self.begun:
            self.begun = True
            self.start_ns = self.state.tally.previous = readings[0]
            i = 1
        while i < readings.shape[0]:
            take_reading(&self.state.tally, &self.state, readings[i])
            i += 1

    def longest(self):
        """The longest gaps kept so far, in start order (a new structured array)."""
        import numpy as np

        kept = self.heap[:self.state.kept].copy()
        return kept[np.argsort(kept["start_ns"], kind="stable")]

    def histogram(self):
        """The count of gaps in each bucket so far (a new int64 array of GAP_BUCKETS)."""
        counts = self.counts[:GAP_BUCKET_COUNT].copy()
        cdef int64_t[::1] view = counts
        cdef Py_ssize_t length
        for length in range(1, SHORT_GAP_NS):
            view[gap_bucket(length)] += self.state.tally.short_counts[length]
        return counts

    @property
    def count(self):
        """Gaps seen."""
        return self.state.tally.count

    @property
    def stalled_ns(self):
        """The total length of the gaps seen."""
        return self.state.tally.total

    @property
    def min_gap_ns(self):
        """The shortest gap seen (0 before the first)."""
        return self.state.tally.shortest if self.state.tally.count else 0

    @property
    def loops(self):
        """Clock readings taken."""
        return self.state.tally.loops

    @property
    def last_ns(self):
        """The last reading of the sampled clock."""
        return self.state.tally.previous

    @property
    def over(self):
        """Whether the run reached its end (rather than being interrupted)."""
        return bool(self.state.over)


# -- timed calls (with the GIL: they call Python) ---------------------------------------

cdef struct CallsLoop:
    Loop loop
    int64_t* out
    PyObject* function      # borrowed: time_calls() holds the references
    PyObject* args
    PyObject* kwargs        # NULL without keyword arguments


# The two timers of timed calls, as types: each step below is a specialisation of one
# loop, so neither carries the other's timer or a branch between them.
cdef struct MonotonicTimer:
    char unused


cdef struct TscTimer:
    char unused


ctypedef fused CallTimer:
    MonotonicTimer
    TscTimer


cdef inline int64_t stamp(CallTimer* timer) noexcept nogil:
    """CLOCK_MONOTONIC in ns, or lfence; rdtsc in ticks (the read cannot start before the
    instructions ahead of it finish)."""
    if CallTimer is TscTimer:
        return <int64_t>vt_rdtsc_ordered()
    else:
        return c.monotonic_ns()


@cython.boundscheck(False)
@cython.wraparound(False)
cdef inline int timed_calls(Loop* loop, CallTimer* timer) except -1:
    """Time one call per element: the timer just before and just after. The deadline is
    checked every 64 calls, outside the timed window."""
    cdef CallsLoop* calls = <CallsLoop*>loop
    cdef object function = <object>calls.function
    cdef tuple args = <tuple>calls.args
    cdef dict kwargs
    cdef Py_ssize_t i = loop.done
    cdef int64_t before
    if calls.kwargs == NULL:
        while i < loop.total:
            before = stamp(timer)
            function(*args)
            calls.out[i] = stamp(timer) - before
            i += 1
            loop.done = i
            if (i & 63) == 0 and i < loop.total and past_deadline(loop):
                return False
    else:
        kwargs = <dict>calls.kwargs
        while i < loop.total:
            before = stamp(timer)
            function(*args, **kwargs)
            calls.out[i] = stamp(timer) - before
            i += 1
            loop.done = i
            if (i & 63) == 0 and i < loop.total and past_deadline(loop):
                return False
    return True


cdef int calls_step(Loop* loop) except -1:
    return timed_calls(loop, <MonotonicTimer*>NULL)


cdef int calls_step_tsc(Loop* loop) except -1:
    return timed_calls(loop, <TscTimer*>NULL)


def time_calls(function, tuple args not None, dict kwargs, int64_t[::1] out not None,
               Py_ssize_t start, Py_ssize_t stop, bint tsc=False):
    """Time ``function(*args, **kwargs)`` once per element of ``out[start:stop]``, in ns
    on CLOCK_MONOTONIC (with ``tsc``: in TSC ticks, x86 only). Returns the number of
    calls finished (all of them, unless an exception -- from the callable, or Ctrl-C --
    propagates; then ``exc.calls_done`` says how many)."""
    cdef CallsLoop state
    if tsc:
        check_tsc("time_calls")
    if not 0 <= start <= stop <= out.shape[0]:
        raise ValueError(f"time_calls(): need 0 <= start <= stop <= {out.shape[0]}, got "
                         f"{start}, {stop}")
    if start == stop:
        return 0
    start_loop(&state.loop, stop - start, NULL, calls_step_tsc if tsc else calls_step, True)
    state.out = &out[start]
    state.function = <PyObject*>function
    state.args = <PyObject*>args
    state.kwargs = <PyObject*>kwargs if kwargs else NULL
    try:
        drive(&state.loop, "time_calls()")
    except BaseException as exc:
        attach(exc, "calls_done", int, state.loop.done)
        raise
    return state.loop.done
