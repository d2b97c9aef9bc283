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
    if progress is not None and not callable(progress):
        raise TypeError(f"bench(): progress must be None or a function of (done, total), "
                        f"got {type(progress).__name__}")
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


class JitterResult(Record):
    """What a jitter run saw: ``gaps`` (structured: start_ns, length_ns, cpu) for every
    pause of at least ``threshold_ns`` between two consecutive reads of the clock
    ``clock_id`` in a tight loop, ``loops`` (reads), ``duration_ns`` (on CLOCK_MONOTONIC), ``start_ns`` (the
    first reading of the clock), ``interrupted`` (the run was cut short by Ctrl-C and
    this is what it recorded until then); derived: ``max_gap_ns``, ``stalled_ns`` (time
    inside gaps), ``stolen_percent``, ``gaps_per_second``."""

    __slots__ = ()
    gaps: npt.NDArray[np.void]
    loops: int
    duration_ns: int
    threshold_ns: int
    clock_id: int
    start_ns: int
    interrupted: bool = False

    @property
    def max_gap_ns(self) -> int:
        return int(self.gaps["length_ns"].max()) if len(self.gaps) else 0

    @property
    def stalled_ns(self) -> int:
        return int(self.gaps["length_ns"].sum())

    @property
    def stolen_percent(self) -> float:
        return 100.0 * self.stalled_ns / self.duration_ns if self.duration_ns else 0.0

    @property
    def gaps_per_second(self) -> float:
        return len(self.gaps) / (self.duration_ns / 1e9) if self.duration_ns else 0.0

    @property
    def ns_per_loop(self) -> float:
        return self.duration_ns / self.loops if self.loops else float("nan")

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the gap lengths, in ns."""
        return stats.percentile(self.gaps["length_ns"], q)

    def histogram(self, per_octave: int = 4) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]:
        """A log-scale histogram of the gap lengths, as ``(edges, counts)`` in ns
        (``stats.log_histogram``): ``per_octave`` buckets per doubling (1 to 64)."""
        return stats.log_histogram(self.gaps["length_ns"], per_octave)

    def to_dict(self) -> dict[str, Any]:
        result = {
            "clock": clocks.clock_name(self.clock_id), "duration_ns": self.duration_ns,
            "interrupted": bool(self.interrupted),
            "threshold_ns": self.threshold_ns, "loops": self.loops,
            "ns_per_loop": self.ns_per_loop, "gaps": len(self.gaps),
            "gaps_per_second": self.gaps_per_second, "max_gap_ns": self.max_gap_ns,
            "stalled_ns": self.stalled_ns, "stolen_percent": self.stolen_percent,
            "cpus": sorted(int(cpu) for cpu in np.unique(self.gaps["cpu"])),
            "gap_list": [{"start_ns": int(g["start_ns"]), "length_ns": int(g["length_ns"]),
                          "cpu": int(g["cpu"])} for g in self.gaps[:10_000]],
        }
        if len(self.gaps):
            result["gap_summary_ns"] = stats.summary(self.gaps["length_ns"])
        return result

    def __str__(self) -> str:
        lines = [
            f"jitter on {clocks.clock_name(self.clock_id)}: {stats.format_ns(self.duration_ns)}"
            f"{' (interrupted)' if self.interrupted else ''}, "
            f"{stats.format_count(self.loops, 'read')} "
            f"({stats.format_ns(self.ns_per_loop, 1)} per loop), "
            f"threshold {stats.format_ns(self.threshold_ns)}",
            f"  {stats.format_count(len(self.gaps), 'gap')} "
            f"({stats.format_rate(self.gaps_per_second)}), "
            f"{stats.format_ns(self.stalled_ns)} stalled = "
            f"{stats.format_percent(self.stolen_percent)} of "
            f"the time stolen, max gap {stats.format_ns(self.max_gap_ns)}",
        ]
        if len(self.gaps):
            figures = stats.summary(self.gaps["length_ns"])
            lines.append(f"  gap lengths: {summary_line(figures)}")
        return "\n".join(lines)


def jitter(seconds, threshold_ns=10_000, clock_id=clocks.CLOCK_MONOTONIC, *,
           progress=None):
    """Every pause of a spinning loop, as a JitterResult.

    - ``seconds``: how long to spin on one core (measured on CLOCK_MONOTONIC; 1e-09 to
      1e8, about three years); it blocks the calling thread that long.
    - ``threshold_ns``: the shortest gap between two consecutive reads worth recording
      (default 10 us); it must be above the clock's resolution.
    - ``clock_id``: the clock to read (default CLOCK_MONOTONIC); CPU-time clocks are
      refused, since they stop while the thread is off the CPU, which is what jitter
      looks for.

    The reads run without the GIL; the gap buffer grows as needed. A gap is time the
    thread did not run: interrupts, preemption, a stopped process, a hypervisor stealing
    the CPU. Ctrl-C raises KeyboardInterrupt within milliseconds; its ``partial_result``
    is the JitterResult of the run so far (``interrupted=True``).

    ``progress``: None, or a function called as ``progress(done_ns, total_ns)`` every
    quarter of a second.
    """
    return _jitter(seconds, threshold_ns, clock_id, progress)


class JitterWarning(RuntimeWarning):
    """A jitter run whose threshold is so low that the loop's own reads count as gaps."""


# The largest gap threshold, in ns.
JITTER_MAX_NS = 2**62
# The longest run: its end is a 64-bit CLOCK_MONOTONIC time, so about three years leaves
# room for any uptime (and a time namespace's offset) before it.
_JITTER_MAX_SECONDS = 1e8


def _jitter(seconds, threshold_ns, clock_id, progress):
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
    run = driver.JitterRun(GAP_DTYPE, total_ns, threshold_ns, clock_id)

    def result(interrupted=False):
        return JitterResult(run.gaps[:run.count].copy(), run.loops, run.ended - run.started,
                            threshold_ns, clock_id, run.start_ns, interrupted)

    if progress is None:
        try:
            run.run()
        except KeyboardInterrupt as exc:
            validate.attach(exc, "partial_result", lambda: result(True))
            raise
    else:
        # For the CLI: the run in slices of 0.25 s, to report progress.
        try:
            while not run.over:
                run.run(250_000_000)
                progress(run.ended - run.started, total_ns)
        except KeyboardInterrupt as exc:
            validate.attach(exc, "partial_result", lambda: result(True))
            raise
    final = result()
    if final.loops and len(final.gaps) > final.loops // 2:
        import warnings
        warnings.warn(f"jitter(): {len(final.gaps):,} of {final.loops:,} reads were gaps of "
                      f"at least {stats.format_ns(threshold_ns)}: the threshold is about the "
                      "cost of one read, so the loop's own steps count as gaps",
                      JitterWarning, stacklevel=3)
    return final
