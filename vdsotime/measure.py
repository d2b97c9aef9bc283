"""Measurement tools: clock overhead and resolution, per-call latency of a Python
callable, and a jitter (hiccup) detector. Loaded on first use (it imports numpy)."""

import math

import numpy as np

from vdsotime import _clock, _measure, _sample, stats
from vdsotime._record import record

_CLOCK_NAMES = {value: name for name, value in vars(_clock).items()
                if name.startswith("CLOCK_")}


def clock_name(clock_id):
    return _CLOCK_NAMES.get(clock_id, f"clock {clock_id}")


def _check_count(function, name, value, minimum=1):
    if isinstance(value, bool) or isinstance(value, float) or not hasattr(value, "__index__"):
        raise TypeError(f"{function}(): {name} must be an integer, got {type(value).__name__}")
    value = value.__index__()
    if value < minimum:
        raise ValueError(f"{function}(): {name} must be >= {minimum}, got {value}")
    return value


def _check_clock(function, clock_id):
    if isinstance(clock_id, float) or not hasattr(clock_id, "__index__"):
        raise TypeError(f"{function}(): clock_id must be an integer (a CLOCK_* constant), "
                        f"got {type(clock_id).__name__}")
    try:
        _clock.clock_gettime_ns(clock_id)
    except OSError as exc:
        raise OSError(exc.errno, f"{function}(): clock_id {clock_id} is not a clock this "
                                 f"kernel knows ({exc.strerror})") from None
    return clock_id.__index__()


def _check_seconds(function, seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{function}(): seconds must be a number, got {type(seconds).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{function}(): seconds must be a finite number > 0, got {seconds!r}")
    return float(seconds)


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
    clock_id = _check_clock("overhead", clock_id)
    n = _check_count("overhead", "n", n, minimum=2)
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


def _bench(fn, args, kwargs, n, warmup, progress):
    if not callable(fn):
        raise TypeError(f"bench(): fn must be callable, got {type(fn).__name__}")
    if n is not None:
        n = _check_count("bench", "n", n)
    if warmup is not None:
        warmup = _check_count("bench", "warmup", warmup, minimum=0)
    args, kwargs = tuple(args), dict(kwargs)
    # A first call and a short estimate choose the counts.
    probe = np.empty(max(1, min(100, n or 100, warmup if warmup else 100)), dtype=np.int64)
    _measure.time_calls(fn, args, kwargs, probe, 0, len(probe))
    per_call = max(float(np.median(probe)), 1.0)
    if n is None:
        n = int(min(1_000_000, max(100, 1e9 / per_call)))
    if warmup is None:
        warmup = int(min(1000, max(10, n // 100)))
    if warmup:
        _measure.time_calls(fn, args, kwargs, np.empty(warmup, dtype=np.int64), 0, warmup)
    raw = np.empty(n, dtype=np.int64)
    # In steps of about 0.1 s: progress, and the timer's overhead measured beside each step
    # (so that it is measured under the same conditions as the calls).
    step = max(1, int(0.1e9 / per_call))
    steps = (n + step - 1) // step
    timer = np.empty(steps * 1000, dtype=np.int64)
    for k, start in enumerate(range(0, n, step)):
        stop = min(n, start + step)
        _measure.time_calls(fn, args, kwargs, raw, start, stop)
        _measure.timer_overhead(timer[k * 1000:(k + 1) * 1000])
        if progress is not None:
            progress(stop, n)
    # The mean without the slowest 1 % (interrupted reads): the clock's steps quantize each
    # sample (10 ns on some machines), so a median would flip between two steps.
    overhead_ns = float(timer[timer <= np.percentile(timer, 99)].mean())
    samples = np.maximum(raw - int(round(overhead_ns)), 0).astype(np.int64)
    return LatencyResult(_describe(fn), samples, overhead_ns, n, warmup)


# -- jitter ---------------------------------------------------------------------------

GAP_DTYPE = np.dtype([("start_ns", np.int64), ("length_ns", np.int64), ("cpu", np.int32)])

_JITTER = ("gaps loops duration_ns threshold_ns clock_id start_ns")


class JitterResult(record("JitterResult", _JITTER)):
    """What a jitter run saw: ``gaps`` (structured: start_ns, length_ns, cpu) for every
    pause of at least ``threshold_ns`` between two consecutive clock reads of a tight
    loop, ``loops`` (reads), ``duration_ns``; derived: ``max_gap_ns``, ``stalled_ns``
    (time inside gaps), ``stolen_percent``, ``gaps_per_second``."""

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
            f"jitter on {clock_name(self.clock_id)}: {self.duration_ns / 1e9:.3g} s, "
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

    Spin on one core for ``seconds``, reading the clock back to back without the GIL, and
    record every gap of at least ``threshold_ns`` between two reads: time the thread did
    not run (interrupts, preemption, a stopped process, a hypervisor stealing the CPU).
    The gap buffer grows as needed; Ctrl-C raises KeyboardInterrupt.
    """
    return _jitter(seconds, threshold_ns, clock_id, None)


def _jitter(seconds, threshold_ns, clock_id, progress):
    seconds = _check_seconds("jitter", seconds)
    if isinstance(threshold_ns, bool) or not isinstance(threshold_ns, (int, float)):
        raise TypeError("jitter(): threshold_ns must be a number of nanoseconds, got "
                        f"{type(threshold_ns).__name__}")
    if not math.isfinite(threshold_ns) or threshold_ns < 1:
        raise ValueError(f"jitter(): threshold_ns must be >= 1, got {threshold_ns!r}")
    threshold_ns = int(threshold_ns)
    clock_id = _check_clock("jitter", clock_id)
    gaps = np.empty(4096, dtype=GAP_DTYPE)
    count, loops = 0, 0
    start = _clock.clock_gettime_ns(clock_id)
    until = start + int(seconds * 1e9)
    previous = start
    while previous < until:
        # Back in Python every 10 ms: the interpreter runs signal handlers here (Ctrl-C
        # raises), and a full gap buffer doubles. The last reading carries over, so a
        # stall during this bookkeeping is still seen (and the bookkeeping itself, about
        # a microsecond, shows as a gap only with thresholds that small).
        count, done, previous = _measure.jitter_loop(gaps, count, threshold_ns, until,
                                                     10_000_000, clock_id, previous)
        loops += done
        if count == len(gaps):
            gaps = np.concatenate([gaps, np.empty(len(gaps), dtype=GAP_DTYPE)])
        if progress is not None:
            progress(previous - start, until - start)
    return JitterResult(gaps[:count].copy(), loops, previous - start, threshold_ns, clock_id,
                        start)
