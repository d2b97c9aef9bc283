"""Measurement tools: clock overhead and resolution (``overhead``), per-call latency of
a Python callable or statement (``bench``, through the timing engine, in this process or
in worker processes), and a jitter (hiccup) detector (``jitter``). Loaded on first use (it
imports numpy)."""

from __future__ import annotations

import numpy as np

from vdsotime import stats
from vdsotime._bench import engine, workers
from vdsotime._bench.latency import summary_line
from vdsotime._core import clocks, validate
from vdsotime._core.record import Record
from vdsotime._loops import driver, sample

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

# -- overhead -------------------------------------------------------------------------


class ClockStats(Record):
    """Cost and resolution of the clock ``clock_id``, from ``n`` back-to-back reads:
    ``ns_per_call`` (wall time per read, in a C loop), ``resolution_ns`` (the smallest
    nonzero step seen between back-to-back reads, None if none was seen), ``getres_ns``
    (what clock_getres says), and the back-to-back deltas' ``min_ns``, ``p50_ns``,
    ``p90_ns``, ``p99_ns``, ``p999_ns`` (p99.9), ``max_ns`` and ``mean_ns``."""

    __slots__ = ()
    clock_id: int
    n: int
    ns_per_call: float
    resolution_ns: int | None
    getres_ns: int
    min_ns: int
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    max_ns: int
    mean_ns: float

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    def __str__(self) -> str:
        resolution = (f"none seen in {stats.format_count(self.n, 'read')}"
                      if self.resolution_ns is None else stats.format_ns(self.resolution_ns))
        return (f"{clocks.clock_name(self.clock_id)}: {stats.format_ns(self.ns_per_call, 1)} per call, "
                f"resolution {resolution} (clock_getres {stats.format_ns(self.getres_ns)}); "
                f"back-to-back deltas: min {stats.format_ns(self.min_ns)}, "
                f"p50 {stats.format_ns(self.p50_ns)}, p99 {stats.format_ns(self.p99_ns)}, "
                f"p99.9 {stats.format_ns(self.p999_ns)}, max {stats.format_ns(self.max_ns)} "
                f"({stats.format_count(self.n, 'read')})")


def overhead(clock_id=clocks.CLOCK_MONOTONIC, n=100_000):
    """Cost and resolution of a clock, as a ClockStats.

    - ``clock_id``: the clock (default CLOCK_MONOTONIC).
    - ``n``: back-to-back reads, in a C loop without the GIL (>= 2).
    """
    clock_id = validate.readable("overhead", clock_id)
    n = validate.count("overhead", "n", n, 2)
    validate.memory("overhead", "n", n, 16)
    readings = np.empty(n, dtype=np.int64)
    sample.sample(16, clock_id)  # warm the path
    start = clocks.monotonic_ns()
    sample.sample(n, clock_id, out=readings)
    elapsed = clocks.monotonic_ns() - start
    deltas = np.diff(readings)
    positive = deltas[deltas > 0]
    points = np.percentile(deltas, (50, 90, 99, 99.9))
    return ClockStats(
        clock_id=clock_id, n=n, ns_per_call=elapsed / n,
        resolution_ns=int(positive.min()) if positive.size else None,
        getres_ns=clocks.clock_getres_ns(clock_id), min_ns=int(deltas.min()),
        p50_ns=float(points[0]), p90_ns=float(points[1]), p99_ns=float(points[2]),
        p999_ns=float(points[3]), max_ns=int(deltas.max()), mean_ns=float(deltas.mean()))


# Back-to-back reads per sample() call when looking for a clock's step.
_STEP_CHUNK = 1 << 16


def clock_step(clock_id, n=100_000, seconds=0.1):
    """The smallest nonzero step between back-to-back reads of ``clock_id``, looked for
    until at least ``n`` reads were made and two steps were seen (a coarse clock steps
    once per tick, or less often, which ``n`` fast reads may all fall between), or
    ``seconds`` passed: ``(step_ns, reads, span_ns)``, ``step_ns`` None when no step was
    seen in those ``reads`` (spanning ``span_ns`` of the clock)."""
    import time  # the stdlib's clock for the deadline: a mock clock does not stop it

    clock_id = validate.readable("clock_step", clock_id)
    n = validate.count("clock_step", "n", n, 2)
    readings = np.empty(min(n, _STEP_CHUNK), dtype=np.int64)
    deadline = time.monotonic_ns() + int(seconds * 1e9)
    step = first = None
    reads = steps = span = 0
    while True:
        sample.sample(len(readings), clock_id, out=readings)
        deltas = np.diff(readings)
        positive = deltas[deltas > 0]
        if positive.size:
            smallest = int(positive.min())
            step = smallest if step is None else min(step, smallest)
            steps += positive.size
        first = int(readings[0]) if first is None else first
        reads += len(readings)
        span = int(readings[-1]) - first
        if (reads >= n and steps >= 2) or time.monotonic_ns() >= deadline:
            return step, reads, span


# -- bench ----------------------------------------------------------------------------


def bench(fn, *args, n=None, warmup=None, timer=None, processes=None, setup=None,
          progress=None, **kwargs):
    """Per-call latency of ``fn(*args, **kwargs)``, as a LatencyResult.

    - ``fn``, ``args``, ``kwargs``: what to call; or ``fn`` a statement (a str, compiled
      after ``setup`` as timeit does; statements take no arguments). A statement's result
      is named after it.
    - ``n``: timed calls (default: about a second's worth, 100 to 1,000,000); with
      ``processes``, in each process.
    - ``warmup``: untimed calls first (default n/100, 10 to 1000: the one warm-up rule,
      whatever chose ``n``); with ``processes``, in each process.
    - ``timer``: "tsc" (lfence; rdtsc, ticks converted to ns with ``calibrate_tsc()``,
      where the TSC is invariant) or "monotonic" (CLOCK_MONOTONIC through the vDSO). The
      default is the TSC where it is invariant, which gives the lower and steadier
      ``bench(noop)``, else CLOCK_MONOTONIC.
    - ``processes=N``: measure in N fresh worker processes, one after another (new
      address-space layout, hash seed and allocator state each, as pyperf does), each
      ``n`` calls after ``warmup``; ``fn`` must then be a statement or a function of an
      importable module, and the arguments must pickle. The result holds every sample
      in process order; ``metadata["processes"]`` is N and ``metadata["process_sizes"]``
      the number of samples of each process, which ``compare_runs`` uses as its units.
    - ``progress``: None, or a function called as ``progress(done, total)`` as the
      measurement goes (calls timed; with ``processes``, processes finished).

    Each call is timed in a Cython loop by timer reads just before and after it. The
    same two reads around nothing measure the timer's own overhead, which is subtracted
    (clamped at 0) and reported as ``overhead_ns``. ``result.metadata`` records the timer
    and the machine; ``result.warnings`` what may make the figures unreliable. Every
    argument is checked before the first call: an ``n`` whose samples cannot fit in
    memory is refused then. Exceptions from ``fn`` propagate, with ``exc.calls_done``; on
    Ctrl-C, ``exc.partial_result`` is the LatencyResult of the calls timed so far (with
    ``processes``, of the processes that finished).
    """
    function = "bench"
    if processes is not None:
        processes = validate.count(function, "processes", processes, 1)
    statement = fn if isinstance(fn, str) else None
    if statement is not None:
        if args or kwargs:
            raise TypeError("bench(): a statement takes no arguments; arguments are for a "
                            "callable fn")
    elif setup is not None:
        raise TypeError("bench(): setup is for statements (fn as a str)")
    elif not callable(fn):
        raise TypeError(f"bench(): fn must be callable, got {type(fn).__name__} (or a "
                        "statement: a str)")
    engine.check_progress(function, progress)
    # Pooled after the processes ran, each process's samples are held twice.
    n, warmup = engine.counts(function, n, warmup,
                              copies=1 if processes is None else 2 * processes)
    name = engine.describe(fn) if statement is None else statement
    candidates = [(name, None if statement is not None else fn, statement)]
    if processes is not None:
        workers.check_importable(function, candidates, args, kwargs)
    timer = engine.timer(function, timer)
    setup = setup or "pass"
    if statement is not None:  # compiled once in this process (its errors come first)
        [fn] = engine.compile_statements([statement], setup)
    if processes is None:
        metadata = engine.measurement_metadata(name, timer)
        if statement is not None:
            metadata.update(statement=statement, setup=setup)
        return engine.measure_calls(fn, args, kwargs, timer, n, warmup, name=name,
                                    progress=progress, metadata=metadata)
    if n is None:
        n = engine.default_counts(engine.probe_ns(fn, args, kwargs, timer))[0]
    if warmup is None:
        warmup = engine.default_warmup(n)
    job = workers.job(candidates, setup, args, kwargs, [(n, warmup)], [[0]], timer)
    done = []

    def pooled(interrupted=False):
        extra = dict(processes=len(done), process_sizes=[len(r.samples_ns) for r in done],
                     n_per_process=n, warmup_per_process=warmup)
        if statement is not None:
            extra.update(statement=statement, setup=setup)
        if interrupted:
            extra.update(interrupted=True, processes_asked=processes)
        return engine.pool(name, done, **extra)

    try:
        for index in range(processes):
            [[result]] = workers.run(job, index, function)
            done.append(result)
            if progress is not None:
                progress(len(done), processes)
    except KeyboardInterrupt as exc:
        done += [row[0] for row in getattr(exc, "rounds_done", [])]
        if done:
            validate.attach(exc, "partial_result", pooled, True)
        raise
    return pooled()


# -- jitter ---------------------------------------------------------------------------

GAP_DTYPE = np.dtype([("start_ns", np.int64), ("length_ns", np.int64), ("cpu", np.int32)])
# The histogram a run fills: log-linear buckets, as HdrHistogram's. Each doubling of the
# gap length, from 2 ** o ns to 2 ** (o + 1) ns, is cut in GAP_PER_OCTAVE equal parts;
# GAP_BUCKETS of them reach 2 ** 63 ns (driver.gap_lower_edges() has their edges).
GAP_PER_OCTAVE = driver.GAP_PER_OCTAVE
GAP_BUCKETS = driver.GAP_BUCKETS
# A percentile taken from a bucket is the bucket's middle: within this share of the true
# value (half the widest bucket, 1/32 = 3.1 %).
GAP_BUCKET_PRECISION = 0.5 / GAP_PER_OCTAVE
# The longest gaps a run keeps, by default.
JITTER_KEEP = 1000


class JitterResult(Record):
    """What a jitter run saw, reading the clock ``clock_id`` in a tight loop for
    ``duration_ns`` (on CLOCK_MONOTONIC) from its first reading ``start_ns``: every pause
    of at least ``threshold_ns`` between two consecutive reads is a gap.

    Every gap is counted, exactly: ``gaps_seen`` (read it as ``gap_count``),
    ``gaps_sum_ns`` (their total length; read it as ``stalled_ns``), ``gap_min_ns`` (the
    shortest), ``gap_histogram`` (the count in each of GAP_BUCKETS log-linear buckets:
    each doubling of the length cut in GAP_PER_OCTAVE equal parts, from 1 ns), and from
    them ``max_gap_ns``, ``gaps_per_second`` and ``stolen_percent``. ``gaps``
    (structured: start_ns, length_ns, cpu -- the CPU the loop resumed on) holds the
    longest of them, at most the ``keep`` that ``jitter()`` was given (of gaps of one
    length, the earliest), in start order: ``gaps_kept`` of ``gap_count``.

    ``percentile(q)`` and ``summary()`` are exact where every gap is kept; otherwise the
    percentiles come from the histogram, to bucket precision (within 3.1 %), except at
    the ranks of the kept gaps (the top of the distribution), which are exact.
    ``loops`` is the number of reads, ``interrupted`` says the run was cut short by
    Ctrl-C (this is what it recorded until then), and ``unobserved_ns`` is the time the
    loop spent in Python between progress reports, which it did not watch.

    Built from a ``gaps`` array alone (the counts left None), a result takes those gaps
    for every gap of the run."""

    __slots__ = ()
    gaps: npt.NDArray[np.void]
    loops: int
    duration_ns: int
    threshold_ns: int
    clock_id: int
    start_ns: int
    interrupted: bool = False
    gaps_seen: int | None = None
    gaps_sum_ns: int | None = None
    gap_min_ns: int | None = None
    gap_histogram: npt.NDArray[np.int64] | None = None
    unobserved_ns: int = 0

    @property
    def gap_count(self) -> int:
        """Every gap of the run (``gaps`` keeps the longest of them)."""
        return len(self.gaps) if self.gaps_seen is None else self.gaps_seen

    @property
    def gaps_kept(self) -> int:
        return len(self.gaps)

    def _all_kept(self) -> bool:
        return self.gaps_kept >= self.gap_count

    @property
    def max_gap_ns(self) -> int:
        # The longest gap is always kept.
        return int(self.gaps["length_ns"].max()) if len(self.gaps) else 0

    @property
    def stalled_ns(self) -> int:
        if self.gaps_sum_ns is None:
            return int(self.gaps["length_ns"].sum())
        return self.gaps_sum_ns

    @property
    def stolen_percent(self) -> float:
        return 100.0 * self.stalled_ns / self.duration_ns if self.duration_ns else 0.0

    @property
    def gaps_per_second(self) -> float:
        return self.gap_count / (self.duration_ns / 1e9) if self.duration_ns else 0.0

    @property
    def ns_per_loop(self) -> float:
        return self.duration_ns / self.loops if self.loops else float("nan")

    def _bucket_counts(self) -> npt.NDArray[np.int64]:
        """The count of gaps in each of the GAP_BUCKETS buckets: ``gap_histogram``, or,
        for a result built from gaps alone, counted from them."""
        if self.gap_histogram is not None:
            return np.asarray(self.gap_histogram, dtype=np.int64)
        counts = np.zeros(GAP_BUCKETS, dtype=np.int64)
        np.add.at(counts, _buckets(self.gaps["length_ns"]), 1)
        return counts

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the gap lengths, in ns, interpolated as
        ``numpy.percentile`` does: exact where every gap is kept, and at the ranks of
        the kept gaps; elsewhere the middle of the histogram bucket that holds it (bucket
        precision: within 3.1 %)."""
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
            raise ValueError(f"percentile(): q must be a number from 0 to 100, got {q!r}")
        if self._all_kept():
            return stats.percentile(self.gaps["length_ns"], q)
        position = (self.gap_count - 1) * q / 100
        low = int(position)
        below, above = self._lengths_at(low, min(low + 1, self.gap_count - 1))
        return below + (position - low) * (above - below)

    def _lengths_at(self, *ranks: int) -> list[float]:
        """The gap lengths at 0-based ``ranks`` of all of them sorted: exact for the kept
        (the longest) and for the shortest, else the middle of their bucket."""
        kept = np.sort(self.gaps["length_ns"])
        first_kept = self.gap_count - len(kept)
        cumulative = np.cumsum(self._bucket_counts())
        edges = _gap_edges()
        shortest = self.gap_min_ns if self.gap_min_ns is not None else int(kept[0])
        values = []
        for rank in ranks:
            if rank >= first_kept:
                values.append(float(kept[rank - first_kept]))
            elif rank == 0:
                values.append(float(shortest))
            else:
                k = int(np.searchsorted(cumulative, rank, side="right"))
                middle = (edges[k] + edges[k + 1] - 1) / 2  # of the whole ns it holds
                values.append(float(min(max(middle, shortest), kept[0])))
        return values

    def summary(self) -> dict[str, float]:
        """{n, min, p50, p90, p99, p99.9, max, mean, stdev} of the gap lengths (ns; n an
        int), as ``stats.summary`` gives them. Where not every gap is kept: n, min, max
        and mean exact, the percentiles as ``percentile(q)``, and stdev from the kept gaps
        and the middles of the buckets of the others."""
        if self._all_kept():
            return stats.summary(self.gaps["length_ns"])
        count = self.gap_count
        mean = self.stalled_ns / count
        kept = self.gaps["length_ns"]
        others = self._bucket_counts().copy()
        np.subtract.at(others, _buckets(kept), 1)
        edges = np.array(_gap_edges(), dtype=np.float64)
        middles = (edges[:-1] + edges[1:] - 1) / 2
        squares = float((others * (middles - mean) ** 2).sum()
                        + ((kept - mean) ** 2).sum())
        result: dict[str, float] = {"n": count, "min": float(self.gap_min_ns or 0)}
        for q in stats.SUMMARY_PERCENTILES:
            result[f"p{q:g}"] = self.percentile(q)
        result.update(max=float(self.max_gap_ns), mean=mean,
                      stdev=(squares / (count - 1)) ** 0.5)
        return result

    def histogram(self, per_octave: int = 4) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]:
        """The histogram of the gap lengths, as ``(edges, counts)`` in ns (``counts[k]``
        gaps from ``edges[k]`` up to ``edges[k + 1]``), from the shortest gap's bucket to
        the longest's: the run's exact counts, its buckets merged to ``per_octave`` (1,
        2, 4, 8 or 16) equal parts of each doubling."""
        if isinstance(per_octave, bool) or per_octave not in (1, 2, 4, 8, 16):
            raise ValueError(f"histogram(): per_octave must be 1, 2, 4, 8 or 16 (the run "
                             f"counts gaps in {GAP_PER_OCTAVE} buckets per doubling), got "
                             f"{per_octave!r}")
        counts = self._bucket_counts().reshape(-1, GAP_PER_OCTAVE // per_octave).sum(axis=1)
        nonzero = np.flatnonzero(counts)
        if nonzero.size == 0:
            return np.array([1.0, 2.0]), np.zeros(1, dtype=np.int64)
        low, high = int(nonzero[0]), int(nonzero[-1])
        octave, part = np.divmod(np.arange(low, high + 2), per_octave)
        edges = np.ldexp(1.0 + part / per_octave, octave)
        return edges, counts[low:high + 1].astype(np.int64)

    def _kept(self) -> str:
        """'all 70 gaps', or 'the 1,000 longest of 8,388,620 gaps': what ``gaps`` holds."""
        if self._all_kept():
            return ("no gaps" if not self.gap_count else "the one gap" if self.gap_count == 1
                    else f"all {stats.format_count(self.gap_count, 'gap')}")
        return f"the {self.gaps_kept:,} longest of {stats.format_count(self.gap_count, 'gap')}"

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data: the figures above, ``gaps`` (the count of every
        gap), ``gap_list`` (the kept gaps, in start order: ``gaps_kept`` of them),
        ``gap_histogram`` (its non-empty buckets, each with ``low_ns <= length < high_ns``
        in whole ns, and its exact count) and ``gap_summary_ns`` (``summary()``)."""
        counts = self._bucket_counts()
        edges = _gap_edges()
        result = {
            "clock": clocks.clock_name(self.clock_id), "duration_ns": self.duration_ns,
            "interrupted": bool(self.interrupted),
            "threshold_ns": self.threshold_ns, "loops": self.loops,
            "ns_per_loop": self.ns_per_loop, "gaps": self.gap_count,
            "gaps_kept": self.gaps_kept, "gaps_per_second": self.gaps_per_second,
            "max_gap_ns": self.max_gap_ns, "stalled_ns": self.stalled_ns,
            "stolen_percent": self.stolen_percent, "unobserved_ns": self.unobserved_ns,
            "cpus": sorted(int(cpu) for cpu in np.unique(self.gaps["cpu"])),
            "gap_list": [{"start_ns": int(g["start_ns"]), "length_ns": int(g["length_ns"]),
                          "cpu": int(g["cpu"])} for g in self.gaps],
            "gap_histogram": {
                "per_octave": GAP_PER_OCTAVE,
                "buckets": [{"low_ns": edges[k], "high_ns": edges[k + 1],
                             "count": int(counts[k])} for k in np.flatnonzero(counts)]},
        }
        if self.gap_count:
            result["gap_summary_ns"] = self.summary()
        return result

    def __str__(self) -> str:
        lines = [
            f"jitter on {clocks.clock_name(self.clock_id)}: {stats.format_ns(self.duration_ns)}"
            f"{' (interrupted)' if self.interrupted else ''}, "
            f"{stats.format_count(self.loops, 'read')} "
            f"({stats.format_ns(self.ns_per_loop, 1)} per loop), "
            f"threshold {stats.format_ns(self.threshold_ns)}",
            f"  {stats.format_count(self.gap_count, 'gap')} "
            f"({stats.format_rate(self.gaps_per_second)}), "
            f"{stats.format_ns(self.stalled_ns)} stalled = "
            f"{stats.format_percent(self.stolen_percent)} of "
            f"the time stolen, max gap {stats.format_ns(self.max_gap_ns)}",
        ]
        if self.gap_count:
            lines.append(f"  gap lengths: {summary_line(self.summary())}")
            lines.append(f"  kept: {self._kept()}" + (
                "" if self._all_kept() else
                f" (the other percentiles from log buckets, to within "
                f"{stats.format_percent(100 * GAP_BUCKET_PRECISION)})"))
        return "\n".join(lines)


def _buckets(lengths: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """The histogram bucket of each gap length (>= 1 ns), as the loop counts them: 16 *
    o + j for a length of (1 + j / 16 + a fraction) * 2 ** o."""
    lengths = np.asarray(lengths, dtype=np.int64)
    octave = np.frexp(lengths.astype(np.float64))[1].astype(np.int64) - 1
    # float64 rounds lengths beyond 2 ** 53, up to the next power of two at most.
    octave -= lengths < np.left_shift(np.int64(1), octave)
    bits = GAP_PER_OCTAVE.bit_length() - 1
    leading = np.where(octave >= bits, lengths >> np.maximum(octave - bits, 0),
                       lengths << np.maximum(bits - octave, 0))  # the leading 5 bits
    return (octave * GAP_PER_OCTAVE + leading - GAP_PER_OCTAVE).astype(np.intp)


def jitter_result(run: driver.JitterRun, threshold_ns: int, clock_id: int,
                  interrupted: bool = False) -> JitterResult:
    """The JitterResult of ``run`` (a driver.JitterRun with ``threshold_ns`` on
    ``clock_id``) as it stands."""
    return JitterResult(run.longest(), run.loops, run.ended - run.started, threshold_ns,
                        clock_id, run.start_ns, interrupted, gaps_seen=run.count,
                        gaps_sum_ns=run.stalled_ns,
                        gap_min_ns=run.min_gap_ns if run.count else None,
                        gap_histogram=run.histogram(), unobserved_ns=run.unobserved_ns)


_EDGES: list[int] = []


def _gap_edges() -> list[int]:
    """The histogram's bucket edges in whole ns (driver.gap_lower_edges, once)."""
    if not _EDGES:
        _EDGES.extend(driver.gap_lower_edges())
    return _EDGES


def jitter(seconds, threshold_ns=10_000, clock_id=clocks.CLOCK_MONOTONIC, *,
           keep=JITTER_KEEP, progress=None):
    """Every pause of a spinning loop, as a JitterResult.

    - ``seconds``: how long to spin on one core (measured on CLOCK_MONOTONIC; 1e-09 to
      1e8, about three years); it blocks the calling thread that long.
    - ``threshold_ns``: the shortest gap between two consecutive reads worth recording
      (default 10 us); it must be above the clock's resolution.
    - ``clock_id``: the clock to read (default CLOCK_MONOTONIC); CPU-time clocks are
      refused, since they stop while the thread is off the CPU, which is what jitter
      looks for.
    - ``keep``: how many of the longest gaps to keep with their start and CPU (default
      1000; at least 1).

    The reads run without the GIL. A gap is time the thread did not run: interrupts,
    preemption, a stopped process, a hypervisor stealing the CPU. The loop counts every
    gap exactly (count, total, shortest, longest, mean, stdev) and in a log-scale
    histogram of fixed buckets (8 per doubling), and keeps the ``keep`` longest gaps
    (of gaps of one length, the earliest) -- all of it allocated before the loop starts,
    so that recording costs the same at any threshold and nothing it does shows as a
    gap. Percentiles of the gap lengths come from the histogram, to bucket precision
    (within 4.4 %), where not every gap is kept.

    Ctrl-C raises KeyboardInterrupt within milliseconds; its ``partial_result`` is the
    JitterResult of the run so far (``interrupted=True``). A threshold so low that most
    reads are gaps gives a JitterWarning.

    ``progress``: None, or a function called as ``progress(done_ns, total_ns)`` every
    quarter of a second (the loop waits meanwhile: ``unobserved_ns``).
    """
    return _jitter(seconds, threshold_ns, clock_id, keep, progress)


class JitterWarning(RuntimeWarning):
    """A jitter run whose threshold is so low that the loop's own reads count as gaps."""


# The largest gap threshold, in ns.
JITTER_MAX_NS = 2**62
# The longest run: its end is a 64-bit CLOCK_MONOTONIC time, so about three years leaves
# room for any uptime (and a time namespace's offset) before it.
_JITTER_MAX_SECONDS = 1e8


def _jitter(seconds, threshold_ns, clock_id, keep, progress):
    seconds = validate.seconds("jitter", seconds)
    if isinstance(threshold_ns, bool) or not isinstance(threshold_ns, (int, float)):
        raise TypeError("jitter(): threshold_ns must be a number of nanoseconds, got "
                        f"{type(threshold_ns).__name__}")
    if not np.isfinite(threshold_ns) or not 1 <= threshold_ns <= JITTER_MAX_NS:
        raise ValueError(f"jitter(): threshold_ns must be from 1 to {JITTER_MAX_NS:,}, got "
                         f"{threshold_ns!r}")
    threshold_ns = int(threshold_ns)
    if not 1e-9 <= seconds <= _JITTER_MAX_SECONDS:
        raise ValueError(f"jitter(): seconds must be from 1e-09 to {_JITTER_MAX_SECONDS:g} "
                         f"(about three years), got {seconds!r}")
    total_ns = int(seconds * 1e9)
    keep = validate.count("jitter", "keep", keep, 1)
    validate.memory("jitter", "keep", keep, GAP_DTYPE.itemsize)
    clock_id = validate.readable("jitter", clock_id)
    if clocks.is_cpu_time_clock(clock_id):
        raise ValueError(f"jitter(): {clocks.clock_name(clock_id)} counts CPU time, which stops "
                         "while the thread is not running: jitter needs a clock that "
                         "keeps running (CLOCK_MONOTONIC)")
    resolution = clocks.clock_getres_ns(clock_id)
    if threshold_ns <= resolution:
        raise ValueError(f"jitter(): threshold_ns={threshold_ns:,} is not above the "
                         f"resolution of {clocks.clock_name(clock_id)} ({stats.format_ns(resolution)}):"
                         " every step of the clock would count as a gap")
    run = driver.JitterRun(GAP_DTYPE, total_ns, threshold_ns, clock_id, keep)

    def result(interrupted=False):
        return jitter_result(run, threshold_ns, clock_id, interrupted)

    try:
        if progress is None:
            run.run()
        else:
            # For the CLI: the run in slices of 0.25 s, to report progress.
            while not run.over:
                run.run(250_000_000)
                progress(run.ended - run.started, total_ns)
    except KeyboardInterrupt as exc:
        validate.attach(exc, "partial_result", result, True)
        raise
    final = result()
    if final.loops and final.gap_count > final.loops // 2:
        import warnings
        warnings.warn(f"jitter(): {final.gap_count:,} of {final.loops:,} reads were gaps of "
                      f"at least {stats.format_ns(threshold_ns)}: the threshold is about the "
                      "cost of one read, so the loop's own steps count as gaps",
                      JitterWarning, stacklevel=3)
    return final
