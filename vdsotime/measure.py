"""Measurement tools: clock overhead and resolution, per-call latency of a Python
callable, and a jitter (hiccup) detector. Loaded on first use (it imports numpy)."""

import numpy as np

from vdsotime import _args, _clock, _loops, _sample, stats
from vdsotime._record import record

_CLOCK_NAMES = {value: name for name, value in vars(_clock).items()
                if name.startswith("CLOCK_")}
# The auxiliary clocks between the two the uapi header names (CLOCK_AUX, CLOCK_AUX_LAST).
_CLOCK_NAMES.update({_clock.CLOCK_AUX + index: f"CLOCK_AUX+{index}"
                     for index in range(1, _clock.CLOCK_AUX_LAST - _clock.CLOCK_AUX)})


def clock_name(clock_id):
    return _CLOCK_NAMES.get(clock_id, f"clock {clock_id}")


def is_cpu_time_clock(clock_id):
    """Whether ``clock_id`` counts CPU time (it stops while its thread or process is not
    running): CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, and the negative ids
    of other threads' and processes' CPU clocks -- but not the negative ids of dynamic
    POSIX clocks (file descriptors), whose low three bits are 3 (CLOCKFD)."""
    if clock_id in (_clock.CLOCK_PROCESS_CPUTIME_ID, _clock.CLOCK_THREAD_CPUTIME_ID):
        return True
    return clock_id < 0 and (clock_id & 7) != 3


def _available_memory():
    """Bytes of memory available for new allocations (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_memory(function, name, count, bytes_each):
    """Refuse a count whose arrays cannot fit in the memory available, before
    allocating anything (a MemoryError later would look like the measured code's)."""
    needed = count * bytes_each
    available = _available_memory()
    if available is not None and needed > available:
        raise ValueError(f"{function}(): {name}={count:,} needs {needed / 2**30:,.1f} GiB "
                         f"for its samples; this machine has {available / 2**30:,.1f} GiB "
                         "available")


def _attach_partial(exc, make):
    """Give an exception in flight what was measured before it (``partial_result``)."""
    try:
        exc.partial_result = make()
    except Exception:
        pass


def _summary_lines(values):
    figures = stats.summary(values)
    return "  ".join(f"{key} {stats.format_ns(figures[key])}"
                     for key in ("min", "p50", "p90", "p99", "p99.9", "max"))


# -- overhead -------------------------------------------------------------------------

_CLOCK_STATS = ("clock_id n ns_per_call resolution_ns getres_ns min_ns p50_ns p90_ns p99_ns "
                "p999_ns max_ns mean_ns")


class ClockStats(record("ClockStats", _CLOCK_STATS)):
    """Cost and resolution of one clock: ``ns_per_call`` (wall time per read, in a C
    loop), ``resolution_ns`` (the smallest nonzero step seen between back-to-back reads,
    None if none was seen), ``getres_ns`` (what clock_getres says), and percentiles of the
    back-to-back deltas."""

    __slots__ = ()

    def to_dict(self):
        return self._asdict()

    def __str__(self):
        resolution = ("none seen" if self.resolution_ns is None
                      else stats.format_ns(self.resolution_ns))
        return (f"{clock_name(self.clock_id)}: {self.ns_per_call:.1f} ns per call, "
                f"resolution {resolution} (clock_getres {stats.format_ns(self.getres_ns)}); "
                f"back-to-back deltas: min {stats.format_ns(self.min_ns)}, "
                f"p50 {stats.format_ns(self.p50_ns)}, p99 {stats.format_ns(self.p99_ns)}, "
                f"p99.9 {stats.format_ns(self.p999_ns)}, max {stats.format_ns(self.max_ns)} "
                f"({self.n} reads)")


def overhead(clock_id=_clock.CLOCK_MONOTONIC, n=100_000):
    """overhead(clock_id=CLOCK_MONOTONIC, n=100_000) -> ClockStats

    Read the clock ``n`` times back to back (in a C loop, without the GIL) and describe
    the cost of a read and the clock's resolution."""
    clock_id = _args.readable("overhead", clock_id)
    n = _args.count("overhead", "n", n, 2)
    _check_memory("overhead", "n", n, 16)
    readings = np.empty(n, dtype=np.int64)
    _sample.sample(16, clock_id)  # warm the path
    start = _clock.monotonic_ns()
    _sample.sample(n, clock_id, out=readings)
    elapsed = _clock.monotonic_ns() - start
    deltas = np.diff(readings)
    positive = deltas[deltas > 0]
    points = np.percentile(deltas, (50, 90, 99, 99.9))
    return ClockStats(
        clock_id=clock_id, n=n, ns_per_call=elapsed / n,
        resolution_ns=int(positive.min()) if positive.size else None,
        getres_ns=_clock.clock_getres_ns(clock_id), min_ns=int(deltas.min()),
        p50_ns=float(points[0]), p90_ns=float(points[1]), p99_ns=float(points[2]),
        p999_ns=float(points[3]), max_ns=int(deltas.max()), mean_ns=float(deltas.mean()))


# -- bench ----------------------------------------------------------------------------

class LatencyResult(record("LatencyResult", "name samples_ns overhead_ns n warmup")):
    """Per-call latency of a callable: ``samples_ns`` (int64, one per call, the timer's
    own ``overhead_ns`` subtracted and clamped at 0), ``percentile(q)``, ``summary()``."""

    __slots__ = ()

    def percentile(self, q):
        """The q-th percentile (0-100) of the per-call latencies, in ns."""
        return stats.percentile(self.samples_ns, q)

    def summary(self):
        """min, p50, p90, p99, p99.9, max, mean, stdev of the latencies, in ns."""
        return stats.summary(self.samples_ns)

    def histogram(self, per_octave=4):
        return stats.log_histogram(self.samples_ns, per_octave)

    def to_dict(self):
        return {"name": self.name, "n": self.n, "warmup": self.warmup,
                "overhead_ns": self.overhead_ns, "summary_ns": self.summary()}

    def __str__(self):
        figures = self.summary()
        return (f"{self.name}: {self.n} calls, median {stats.format_ns(figures['p50'])} "
                f"per call (timer overhead {stats.format_ns(self.overhead_ns)} subtracted)\n"
                f"  {_summary_lines(self.samples_ns)}\n"
                f"  mean {stats.format_ns(figures['mean'])}  "
                f"stdev {stats.format_ns(figures['stdev'])}")


def _describe(function):
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    module = getattr(function, "__module__", None)
    if name and module and module not in ("builtins", "__main__"):
        return f"{module}.{name}"
    return name or repr(function)


def bench(fn, *args, n=None, warmup=None, **kwargs):
    """bench(fn, *args, n=None, warmup=None, **kwargs) -> LatencyResult

    Call ``fn(*args, **kwargs)`` ``warmup`` times, then ``n`` more, reading
    CLOCK_MONOTONIC just before and after each call (in a Cython loop). The same two
    reads around nothing measure the timer's own overhead, which is subtracted (clamped
    at 0) and reported as ``overhead_ns``. By default ``n`` is chosen so that the timed
    calls take about a second (100 to 1,000,000), and ``warmup`` is n / 100 (10 to 1000).
    Exceptions from ``fn`` propagate.
    """
    return _bench(fn, args, kwargs, n, warmup, None)


def default_counts(per_call_ns):
    """(n, warmup) when the caller gives neither: about a second of timed calls (100 to
    1,000,000 of them), and 1 % of that as warm-up (10 to 1000)."""
    n = int(min(1_000_000, max(100, 1e9 / max(per_call_ns, 1.0))))
    return n, int(min(1000, max(10, n // 100)))


def _latency(fn, raw, timer, n, warmup):
    """The LatencyResult of ``raw`` per-call times, the timer's overhead taken from
    ``timer``: its mean without the slowest 1 % (interrupted reads). The clock's steps
    quantize each sample (10 ns on some machines), so a median would flip between two
    steps; the trimmed mean does not."""
    overhead_ns = float(timer[timer <= np.percentile(timer, 99)].mean())
    samples = np.maximum(raw - int(round(overhead_ns)), 0).astype(np.int64)
    return LatencyResult(_describe(fn), samples, overhead_ns, n, warmup)


def _bench(fn, args, kwargs, n, warmup, progress):
    if not callable(fn):
        raise TypeError(f"bench(): fn must be callable, got {type(fn).__name__}")
    if n is not None:
        n = _args.count("bench", "n", n, 1)
        _check_memory("bench", "n", n, 8)
    if warmup is not None:
        warmup = _args.count("bench", "warmup", warmup, 0)
    args, kwargs = tuple(args), dict(kwargs)
    # A first call and a short estimate choose the counts.
    probe = np.empty(max(1, min(100, n or 100, warmup if warmup else 100)), dtype=np.int64)
    _loops.time_calls(fn, args, kwargs, probe, 0, len(probe))
    per_call = max(float(np.median(probe)), 1.0)
    chosen_n, chosen_warmup = default_counts(per_call)
    n = chosen_n if n is None else n
    warmup = chosen_warmup if warmup is None else warmup
    if warmup:
        _loops.time_calls(fn, args, kwargs, np.empty(warmup, dtype=np.int64), 0, warmup)
    raw = np.empty(n, dtype=np.int64)
    # In steps of about 0.1 s: progress, and the timer's overhead measured beside each step
    # (so that it is measured under the same conditions as the calls).
    step = max(1, int(0.1e9 / per_call))
    steps = (n + step - 1) // step
    timer = np.empty(steps * 1000, dtype=np.int64)
    done = 0
    try:
        for k, start in enumerate(range(0, n, step)):
            stop = min(n, start + step)
            _loops.time_calls(fn, args, kwargs, raw, start, stop)
            done = stop
            _loops.timer_overhead(timer[k * 1000:(k + 1) * 1000])
            if progress is not None:
                progress(stop, n)
    except BaseException as exc:
        done += getattr(exc, "calls_done", 0)
        if done and isinstance(exc, KeyboardInterrupt):
            def partial():
                measured = timer[:max(1, k) * 1000]
                if k == 0:
                    _loops.timer_overhead(measured)
                return _latency(fn, raw[:done], measured, done, warmup)
            _attach_partial(exc, partial)
        raise
    return _latency(fn, raw, timer, n, warmup)


# -- jitter ---------------------------------------------------------------------------

GAP_DTYPE = np.dtype([("start_ns", np.int64), ("length_ns", np.int64), ("cpu", np.int32)])

_JITTER = ("gaps loops duration_ns threshold_ns clock_id start_ns interrupted")


class JitterResult(record("JitterResult", _JITTER, defaults=(False,))):
    """What a jitter run saw: ``gaps`` (structured: start_ns, length_ns, cpu) for every
    pause of at least ``threshold_ns`` between two consecutive clock reads of a tight
    loop, ``loops`` (reads), ``duration_ns`` (on CLOCK_MONOTONIC), ``start_ns`` (the
    first reading of the clock), ``interrupted`` (the run was cut short by Ctrl-C and
    this is what it recorded until then); derived: ``max_gap_ns``, ``stalled_ns`` (time
    inside gaps), ``stolen_percent``, ``gaps_per_second``."""

    __slots__ = ()

    @property
    def max_gap_ns(self):
        return int(self.gaps["length_ns"].max()) if len(self.gaps) else 0

    @property
    def stalled_ns(self):
        return int(self.gaps["length_ns"].sum())

    @property
    def stolen_percent(self):
        return 100.0 * self.stalled_ns / self.duration_ns if self.duration_ns else 0.0

    @property
    def gaps_per_second(self):
        return len(self.gaps) / (self.duration_ns / 1e9) if self.duration_ns else 0.0

    @property
    def ns_per_loop(self):
        return self.duration_ns / self.loops if self.loops else float("nan")

    def percentile(self, q):
        """The q-th percentile (0-100) of the gap lengths, in ns."""
        return stats.percentile(self.gaps["length_ns"], q)

    def histogram(self, per_octave=4):
        return stats.log_histogram(self.gaps["length_ns"], per_octave)

    def to_dict(self):
        result = {
            "clock": clock_name(self.clock_id), "duration_ns": self.duration_ns,
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

    def __str__(self):
        lines = [
            f"jitter on {clock_name(self.clock_id)}: {self.duration_ns / 1e9:.3g} s"
            f"{' (interrupted)' if self.interrupted else ''}, "
            f"{self.loops} reads ({self.ns_per_loop:.1f} ns per loop), "
            f"threshold {stats.format_ns(self.threshold_ns)}",
            f"  {len(self.gaps)} gaps ({self.gaps_per_second:.3g} per second), "
            f"{stats.format_ns(self.stalled_ns)} stalled = {self.stolen_percent:.3g}% of "
            f"the time stolen, max gap {stats.format_ns(self.max_gap_ns)}",
        ]
        if len(self.gaps):
            lines.append(f"  gap lengths: {_summary_lines(self.gaps['length_ns'])}")
        return "\n".join(lines)


def jitter(seconds, threshold_ns=10_000, clock_id=_clock.CLOCK_MONOTONIC):
    """jitter(seconds, threshold_ns=10_000, clock_id=CLOCK_MONOTONIC) -> JitterResult

    Spin on one core for ``seconds`` (measured on CLOCK_MONOTONIC), reading the clock back
    to back without the GIL, and record every gap of at least ``threshold_ns`` between two
    reads: time the thread did not run (interrupts, preemption, a stopped process, a
    hypervisor stealing the CPU). The gap buffer grows as needed.

    ``threshold_ns`` must be above the clock's resolution (``clock_getres``), and CPU-time
    clocks are refused: they stop while the thread is off the CPU, which is what jitter
    looks for. Ctrl-C raises KeyboardInterrupt within milliseconds; its
    ``partial_result`` is the JitterResult of the run so far (``interrupted=True``).
    """
    return _jitter(seconds, threshold_ns, clock_id, None)


class JitterWarning(RuntimeWarning):
    """A jitter run whose threshold is so low that the loop's own reads count as gaps."""


def _jitter(seconds, threshold_ns, clock_id, progress):
    seconds = _args.seconds("jitter", seconds)
    if isinstance(threshold_ns, bool) or not isinstance(threshold_ns, (int, float)):
        raise TypeError("jitter(): threshold_ns must be a number of nanoseconds, got "
                        f"{type(threshold_ns).__name__}")
    if not np.isfinite(threshold_ns) or threshold_ns < 1:
        raise ValueError(f"jitter(): threshold_ns must be >= 1, got {threshold_ns!r}")
    threshold_ns = int(threshold_ns)
    clock_id = _args.readable("jitter", clock_id)
    if is_cpu_time_clock(clock_id):
        raise ValueError(f"jitter(): {clock_name(clock_id)} counts CPU time, which stops "
                         "while the thread is not running: jitter needs a clock that "
                         "keeps running (CLOCK_MONOTONIC)")
    resolution = _clock.clock_getres_ns(clock_id)
    if threshold_ns <= resolution:
        raise ValueError(f"jitter(): threshold_ns={threshold_ns:,} is not above the "
                         f"resolution of {clock_name(clock_id)} ({stats.format_ns(resolution)}):"
                         " every step of the clock would count as a gap")
    total_ns = int(seconds * 1e9)
    run = _loops.JitterRun(GAP_DTYPE, total_ns, threshold_ns, clock_id)

    def result(interrupted=False):
        return JitterResult(run.gaps[:run.count].copy(), run.loops, run.ended - run.started,
                            threshold_ns, clock_id, run.start_ns, interrupted)

    if progress is None:
        try:
            run.run()
        except KeyboardInterrupt as exc:
            _attach_partial(exc, lambda: result(True))
            raise
    else:
        # For the CLI: the run in slices of 0.25 s, to report progress.
        try:
            while not run.over:
                run.run(250_000_000)
                progress(run.ended - run.started, total_ns)
        except KeyboardInterrupt as exc:
            _attach_partial(exc, lambda: result(True))
            raise
    final = result()
    if final.loops and len(final.gaps) > final.loops // 2:
        import warnings
        warnings.warn(f"jitter(): {len(final.gaps):,} of {final.loops:,} reads were gaps of "
                      f"at least {stats.format_ns(threshold_ns)}: the threshold is about the "
                      "cost of one read, so the loop's own steps count as gaps",
                      JitterWarning, stacklevel=3)
    return final
