"""Measurement tools: clock overhead and resolution, per-call latency of a Python
callable, and a jitter (hiccup) detector. Loaded on first use (it imports numpy)."""

from __future__ import annotations

import math

import numpy as np

from vdsotime import _args, _clock, _hw, _loops, _meta, _sample, stats
from vdsotime._record import Record

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from os import PathLike

    import numpy.typing as npt

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


# Refuse counts whose arrays cannot be held, before allocating (the rule is _args').
_check_memory = _args.memory


def _attach_partial(exc, make):
    """Give an exception in flight what was measured before it (``partial_result``)."""
    try:
        exc.partial_result = make()
    except Exception:
        pass


def _summary_line(figures, keys=("min", "p50", "p90", "p99", "p99.9", "max")):
    """'min 850 ns  p50 1.20 us  ...': ``keys`` of a ``stats.summary()`` dict."""
    return "  ".join(f"{key} {stats.format_ns(figures[key])}" for key in keys)


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
        resolution = ("none seen" if self.resolution_ns is None
                      else stats.format_ns(self.resolution_ns))
        return (f"{clock_name(self.clock_id)}: {stats.format_ns(self.ns_per_call, 1)} per call, "
                f"resolution {resolution} (clock_getres {stats.format_ns(self.getres_ns)}); "
                f"back-to-back deltas: min {stats.format_ns(self.min_ns)}, "
                f"p50 {stats.format_ns(self.p50_ns)}, p99 {stats.format_ns(self.p99_ns)}, "
                f"p99.9 {stats.format_ns(self.p999_ns)}, max {stats.format_ns(self.max_ns)} "
                f"({stats.format_count(self.n, 'read')})")


def overhead(clock_id=_clock.CLOCK_MONOTONIC, n=100_000):
    """Cost and resolution of a clock, as a ClockStats.

    - ``clock_id``: the clock (default CLOCK_MONOTONIC).
    - ``n``: back-to-back reads, in a C loop without the GIL (>= 2).
    """
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


# The timers bench() reads around each call, and the default: the one with the lower
# and steadier bench(noop) where both exist (bench/run.py measures them side by side).
TIMERS = ("monotonic", "tsc")
DEFAULT_TIMER = "tsc"

# What the instability checks call high: the spread of the calls up to p99 against the
# median, p99 against p50, samples beyond a percentile, timer overhead against p50.
DISPERSION_LIMIT = 0.5
TAIL_RATIO_LIMIT = 4.0
TAIL_SAMPLES = 10
OVERHEAD_SHARE_LIMIT = 0.5
# Samples count as spread over +-10 ns when looking for modes: virtualised clocks step in
# 10 ns (and back-to-back reads cannot tell finer steps), which must not read as modes.
MODE_RESOLUTION_NS = 10
# Clocksources that the vDSO cannot read: every clock read is a system call.
SYSCALL_CLOCKSOURCES = _meta.SYSCALL_CLOCKSOURCES


class LatencyResult(Record):
    """Per-call latency of a callable, ``name`` (the statement, or the function's name):
    ``samples_ns`` (int64, one per call of the ``n`` timed after ``warmup`` untimed ones,
    the timer's own ``overhead_ns`` subtracted and clamped at 0), ``percentile(q)``,
    ``summary()``;
    ``metadata`` (a dict: machine, versions, timer, counts, date -- what makes two runs
    comparable), ``warnings`` (what makes this one doubtful), interop with pyperf
    (``to_pyperf``) and HdrHistogram (``to_hgrm``, ``to_hdr``), and ``assert_below``
    for tests."""

    __slots__ = ()
    name: str
    samples_ns: npt.NDArray[np.int64]
    overhead_ns: float
    n: int
    warmup: int
    metadata: dict[str, Any] | None = None

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the per-call latencies, in ns."""
        return stats.percentile(self.samples_ns, q)

    def summary(self) -> dict[str, float]:
        """min, p50, p90, p99, p99.9, max, mean, stdev of the latencies, in ns."""
        return stats.summary(self.samples_ns)

    def histogram(self, per_octave: int = 4) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]:
        """A log-scale histogram of the per-call latencies, as ``(edges, counts)`` in ns
        (``stats.log_histogram``): ``per_octave`` buckets per doubling (1 to 64)."""
        return stats.log_histogram(self.samples_ns, per_octave)

    @property
    def warnings(self) -> list[str]:
        """Why these figures may mislead, as pyperf check says it: a list of sentences
        (empty when nothing is suspect). See ``instability()``."""
        return instability(self)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "n": self.n, "warmup": self.warmup,
                "overhead_ns": self.overhead_ns, "summary_ns": self.summary(),
                "metadata": self.metadata or {}, "warnings": self.warnings}

    def to_pyperf(self, path: str | PathLike[str]) -> None:
        """Write pyperf's JSON format to ``path`` (``.json``, or ``.json.gz``): one
        benchmark named ``name``, its values the per-call times in seconds, for
        ``python -m pyperf stats|hist|compare_to``. pyperf refuses values of 0: calls
        that the overhead subtraction brought to 0 ns are written as 1 ns."""
        from vdsotime import _interop
        _interop.write_pyperf(path, {self.name: self})

    def to_hgrm(self, unit: str = "us") -> str:
        """HdrHistogram's percentile distribution text (``.hgrm``: Value, Percentile,
        TotalCount, 1/(1-Percentile)), values in ``unit`` ("ns", "us" or "ms"). The
        values are the exact samples, not bucketed."""
        from vdsotime import _interop
        return _interop.hgrm(self.samples_ns, unit)

    def to_hdr(self) -> str:
        """HdrHistogram's compressed, base64 encoded histogram (V2 format, 3 significant
        digits, values in ns), made by the optional ``hdrhistogram`` package."""
        from vdsotime import _interop
        return _interop.hdr(self.samples_ns)

    def assert_below(self, **limits: float | str) -> None:
        """Raise AssertionError unless every figure is at or below its limit:
        ``assert_below(p99=20_000, p50="2us", max="1ms")``. Keywords: ``p50``, ``p90``,
        ``p99``, ``p999`` (p99.9), ``p9999`` (p99.99), any ``p<digits>``, ``min``,
        ``mean``, ``max``; limits in ns, or strings with a unit (ns, us, ms, s). The
        message names every figure over its limit, with the distribution around it."""
        if not limits:
            raise TypeError("assert_below(): give at least one limit, e.g. p99=20_000")
        checks = [(_figure_name(key), key, _duration_ns(value, key))
                  for key, value in limits.items()]
        failures = []
        for label, key, limit in checks:
            value = _figure(self.samples_ns, key)
            if not value <= limit:
                failures.append(f"{label} = {stats.format_ns(value)} is above its limit of "
                                f"{stats.format_ns(limit)}")
        if failures:
            context = _summary_line(self.summary(), ("p50", "p99", "p99.9", "max"))
            lines = [f"{self.name}: " + "; ".join(failures),
                     f"  {self.n:,} calls: {context} (timer overhead "
                     f"{stats.format_ns(self.overhead_ns)} subtracted)"]
            lines += [f"  warning: {text}" for text in self.warnings]
            raise AssertionError("\n".join(lines))

    def __str__(self) -> str:
        figures = self.summary()
        timer = (self.metadata or {}).get("timer")
        lines = [f"{self.name}: {stats.format_count(self.n, 'call')}, median "
                 f"{stats.format_ns(figures['p50'])} "
                 f"per call ({timer + ' timer, ' if timer else ''}overhead "
                 f"{stats.format_ns(self.overhead_ns)} subtracted)",
                 f"  {_summary_line(figures)}",
                 f"  mean {stats.format_ns(figures['mean'])}  "
                 f"stdev {stats.format_ns(figures['stdev'])}"]
        lines += [f"  warning: {text}" for text in self.warnings]
        return "\n".join(lines)


def _figure_name(key):
    """'p99.9' for p999, 'p50' for p50, 'max' for max; ValueError for anything else."""
    if key in ("min", "mean", "max"):
        return key
    digits = key[1:]
    if key.startswith("p") and digits.isdigit():
        q = float(f"99.{digits[2:]}") if digits.startswith("99") and len(digits) > 2 \
            else float(digits)
        if q <= 100:
            return f"p{q:g}"
    raise TypeError(f"assert_below(): {key} is not a figure: use p50, p90, p99, p999 "
                    "(p99.9), p9999, any p<digits>, min, mean or max")


def _figure(samples, key):
    if key in ("min", "max"):
        return float(getattr(samples, key)())
    if key == "mean":
        return float(samples.mean())
    return stats.percentile(samples, float(_figure_name(key)[1:]))


_UNITS = {"ns": 1, "us": 1e3, "\u00b5s": 1e3, "ms": 1e6, "s": 1e9}


def _duration_ns(value, name):
    """A duration in ns from a number (ns) or a string with a unit ('20us', '1.5 ms')."""
    if isinstance(value, str):
        text = value.strip()
        for unit in sorted(_UNITS, key=len, reverse=True):
            if text.endswith(unit):
                try:
                    number = float(text[:-len(unit)])
                except ValueError:
                    break
                if math.isfinite(number) and number >= 0:
                    return number * _UNITS[unit]
                break
        raise ValueError(f"{name} must be a duration such as 20000, '20us' or '1.5ms', "
                         f"got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a duration in ns (a number >= 0) or a string "
                         f"with a unit, got {value!r}")
    return float(value)


def instability(result):
    """The instability warnings of a LatencyResult, as ``pyperf check`` gives them:

    - high dispersion: the stdev of the calls up to p99 above half the median (the
      slowest 1 % are interrupts, which the tail figures report), or p99 above 4x p50;
    - two or more modes (``stats.modes``): the two-speed pattern of shared VMs;
    - too few samples for p99 or p99.9 (fewer than 10 beyond the percentile);
    - a timer overhead of at least half the median: the figures are mostly the timer's;
    - a clocksource other than tsc on x86 (any that the vDSO cannot read, elsewhere);
    - a CPU frequency governor other than performance.
    """
    samples = result.samples_ns
    metadata = result.metadata or {}
    found = []
    if len(samples) == 0:
        return ["no samples"]
    p50, p99 = (float(v) for v in np.percentile(samples, (50, 99)))
    body = samples[samples <= p99]
    if p50 > 0 and body.std() > DISPERSION_LIMIT * p50:
        found.append(f"high dispersion: the stdev of the calls up to p99 "
                     f"({stats.format_ns(body.std())}) is {100 * body.std() / p50:.0f}% of "
                     f"the median ({stats.format_ns(p50)})")
    if p50 > 0 and p99 > TAIL_RATIO_LIMIT * p50:
        found.append(f"high dispersion: p99 ({stats.format_ns(p99)}) is {p99 / p50:.1f}x "
                     f"the median ({stats.format_ns(p50)})")
    peaks = stats.modes(samples, MODE_RESOLUTION_NS)
    if len(peaks) >= 2:
        listed = ", ".join(f"{stats.format_ns(value)} ({100 * share:.0f}%)"
                           for value, share in peaks)
        found.append(f"{len(peaks)} modes: {listed}: the calls ran at more than one speed "
                     "(on a shared VM, a neighbour's load; also CPU frequency changes, or "
                     "code that takes two paths)")
    # Rounded: 100 - 99.9 is 0.0999999999999943 in binary floating point.
    beyond = {q: round(len(samples) * (100 - q) / 100, 6) for q in (99, 99.9)}
    thin = [q for q in (99, 99.9) if beyond[q] < TAIL_SAMPLES]
    if thin:
        q = thin[-1]
        needed = math.ceil(round(TAIL_SAMPLES * 100 / (100 - q), 6))
        found.append(f"too few samples for {' and '.join(f'p{t:g}' for t in thin)}: "
                     f"{stats.format_count(len(samples), 'call')} "
                     f"{'leaves' if len(samples) == 1 else 'leave'} {beyond[q]:.3g} "
                     f"beyond p{q:g} "
                     f"(n >= {needed:,} gives it {TAIL_SAMPLES})")
    if result.overhead_ns >= OVERHEAD_SHARE_LIMIT * p50:
        found.append(f"the timer's overhead ({stats.format_ns(result.overhead_ns)}) is "
                     f"comparable to the time measured (median {stats.format_ns(p50)}): "
                     "the figures are mostly the timer's; time a batch of calls instead")
    clocksource = metadata.get("clocksource")
    x86 = metadata.get("machine") in ("x86_64", "i386", "i686")
    if clocksource and (clocksource in SYSCALL_CLOCKSOURCES
                        or (x86 and clocksource != "tsc")):
        found.append(f"clocksource {clocksource}, not tsc: "
                     + ("every clock read is a system call"
                        if clocksource in SYSCALL_CLOCKSOURCES else
                        "clock reads are slower and less steady"))
    governor = metadata.get("cpu_governor")
    if governor and governor != "performance":
        found.append(f"CPU frequency governor {governor}, not performance: the frequency, "
                     "and the latency with it, changes with the load")
    return found


def _describe(function):
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    module = getattr(function, "__module__", None)
    if name and module and module not in ("builtins", "__main__"):
        return f"{module}.{name}"
    return name or repr(function)


class StatementError(ValueError):
    """A statement or setup (timeit's habits) that does not compile, or a setup that
    raises: the message says which and where, in one line."""


def compile_statements(statements, setup="pass"):
    """Functions that run each of ``statements`` (Python source, several lines allowed),
    compiled in one namespace after running ``setup`` in it, as timeit does."""
    namespace = {}
    functions = []
    try:
        exec(compile(setup or "pass", "<setup>", "exec"), namespace)
        for k, statement in enumerate(statements):
            source = f"def __vdsotime_statement_{k}():\n" + "".join(
                f"    {line}\n" for line in (statement or "pass").splitlines())
            exec(compile(source, "<stmt>", "exec"), namespace)
            functions.append(namespace[f"__vdsotime_statement_{k}"])
    except SyntaxError as exc:
        line = exc.lineno - (exc.filename == "<stmt>")  # the wrapper's def line
        raise StatementError(f"syntax error in {exc.filename[1:-1]}: {exc.msg} "
                             f"(line {line})") from None
    except Exception as exc:  # the user's setup failed: say how, in one line
        raise StatementError(f"setup failed: {type(exc).__name__}: {exc}") from None
    return functions


def bench(fn, *args, n=None, warmup=None, timer=None, processes=None, setup=None,
          **kwargs):
    """Per-call latency of ``fn(*args, **kwargs)``, as a LatencyResult.

    - ``fn``, ``args``, ``kwargs``: what to call; or ``fn`` a statement (a str, compiled
      after ``setup`` as timeit does; statements take no arguments).
    - ``n``: timed calls (default: about a second's worth, 100 to 1,000,000); with
      ``processes``, in each process.
    - ``warmup``: untimed calls first (default n / 100, 10 to 1000); with ``processes``,
      in each process.
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

    Each call is timed in a Cython loop by timer reads just before and after it. The
    same two reads around nothing measure the timer's own overhead, which is subtracted
    (clamped at 0) and reported as ``overhead_ns``. ``result.metadata`` records the timer
    and the machine; ``result.warnings`` what may make the figures unreliable. An ``n``
    whose samples cannot fit in memory is refused before any call. Exceptions from
    ``fn`` propagate; on Ctrl-C, ``exc.partial_result`` is the LatencyResult of the
    calls timed so far (with ``processes``, of the processes that finished).
    """
    if processes is not None:
        processes = _args.count("bench", "processes", processes, 1)
    if isinstance(fn, str):
        if args or kwargs:
            raise TypeError("bench(): a statement takes no arguments; arguments are for a "
                            "callable fn")
    elif setup is not None:
        raise TypeError("bench(): setup is for statements (fn as a str)")
    elif not callable(fn):
        raise TypeError(f"bench(): fn must be callable, got {type(fn).__name__} (or a "
                        "statement: a str)")
    if processes is not None:
        # Upward on purpose: the worker processes are comparison's (imported when used).
        from vdsotime import comparison
        return comparison.bench_in_processes(fn, args, kwargs, n, warmup, timer,
                                             processes, setup)
    if isinstance(fn, str):
        return _bench_statement(fn, setup, n, warmup, None, timer)
    return _bench(fn, args, kwargs, n, warmup, None, timer)


def _bench_statement(statement, setup, n, warmup, progress, timer):
    """bench() of a statement, compiled after ``setup``; the result named after it."""
    [function] = compile_statements([statement], setup or "pass")
    result = _bench(function, (), {}, n, warmup, progress, timer)
    return result._replace(name=statement, metadata=dict(
        result.metadata, name=statement, statement=statement, setup=setup or "pass"))


def choose_timer(function, timer):
    """The timer to use: ``timer`` checked ("monotonic" or "tsc"), or the default --
    the TSC where it is invariant, else CLOCK_MONOTONIC."""
    if timer is None:
        usable = _hw.HAVE_TSC and _hw.tsc_invariant()[0]
        return DEFAULT_TIMER if usable else "monotonic"
    if timer not in TIMERS:
        raise ValueError(f"{function}(): timer must be 'monotonic' or 'tsc' (None for the "
                         f"default), got {timer!r}")
    if timer == "tsc":
        _hw.require_tsc(function)
        invariant, source = _hw.tsc_invariant()
        if not invariant:
            raise ValueError(f"{function}(): timer='tsc' needs an invariant TSC, and this "
                             f"one may change rate ({source}): use timer='monotonic'")
    return timer


_calibration = None


def tsc_ns_per_tick():
    """The TSC's ns per tick, calibrated once per process (50 ms, on first use)."""
    global _calibration
    if _calibration is None:
        from vdsotime import _tsc
        _calibration = _tsc.calibrate_tsc(0.05, warn=False)
    return _calibration.ns_per_tick


def probe_ns(fn, args, kwargs, timer, ns_per_tick=None, calls=100):
    """The median time of ``calls`` calls of ``fn(*args, **kwargs)`` in ns (at least
    1): an estimate to choose counts with."""
    tsc = timer == "tsc"
    probe = np.empty(calls, dtype=np.int64)
    _loops.time_calls(fn, tuple(args), dict(kwargs), probe, 0, calls, tsc)
    return max(float(np.median(probe)) * (ns_per_tick if tsc else 1.0), 1.0)


def default_counts(per_call_ns):
    """(n, warmup) when the caller gives neither: about a second of timed calls (100 to
    1,000,000 of them), and 1 % of that as warm-up (10 to 1000)."""
    n = int(min(1_000_000, max(100, 1e9 / max(per_call_ns, 1.0))))
    return n, default_warmup(n)


def default_warmup(n):
    """The untimed calls before ``n`` timed ones: 1 % of them, 10 to 1000."""
    return int(min(1000, max(10, n // 100)))


# Rows of TSC ticks converted at a time: the float64 temporary stays at 512 KiB.
_TICK_ROWS = 1 << 16


def _latency(fn, raw, timer, n, warmup, ns_per_tick=None, metadata=None):
    """The LatencyResult of ``raw`` per-call times, the timer's overhead taken from
    ``timer``: its mean without the slowest 1 % (interrupted reads). The clock's steps
    quantize each sample (10 ns on some machines), so a median would flip between two
    steps; the trimmed mean does not. With ``ns_per_tick``, both are TSC ticks.

    ``raw`` (int64, the caller's and used for nothing else) becomes the samples in place:
    after Ctrl-C this runs between the signal and the caller's answer, and a new array of
    a long run's size would cost its page faults there (0.8 s for 5 * 10**7 calls on a
    VM)."""
    overhead = float(timer[timer <= np.percentile(timer, 99)].mean())
    if ns_per_tick is None:
        raw -= int(round(overhead))
        np.maximum(raw, 0, out=raw)
        scale = 1.0
    else:
        for start in range(0, len(raw), _TICK_ROWS):
            rows = raw[start:start + _TICK_ROWS]
            scaled = (rows - overhead) * ns_per_tick
            np.rint(scaled, out=scaled)
            np.maximum(scaled, 0, out=scaled)
            rows[:] = scaled
        scale = ns_per_tick
    metadata = dict(metadata or {}, n=n, warmup=warmup, timer_overhead_ns=overhead * scale)
    return LatencyResult(_describe(fn), raw, overhead * scale, n, warmup, metadata)


def _bench(fn, args, kwargs, n, warmup, progress, timer=None, ns_per_tick=None):
    if not callable(fn):
        raise TypeError(f"bench(): fn must be callable, got {type(fn).__name__}")
    if n is not None:
        n = _args.count("bench", "n", n, 1)
        _check_memory("bench", "n", n, 8)
    if warmup is not None:
        warmup = _args.count("bench", "warmup", warmup, 0)
        _check_memory("bench", "warmup", warmup, 8)  # the warm-up calls are timed too
    timer = choose_timer("bench", timer)
    tsc = timer == "tsc"
    if tsc and ns_per_tick is None:
        ns_per_tick = tsc_ns_per_tick()
    metadata = _meta.collect()
    metadata.update(name=_describe(fn), timer=timer)
    if tsc:
        metadata["tsc_ns_per_tick"] = ns_per_tick
    args, kwargs = tuple(args), dict(kwargs)
    # A first call and a short estimate choose the counts.
    per_call = probe_ns(fn, args, kwargs, timer, ns_per_tick,
                        max(1, min(100, n or 100, warmup if warmup else 100)))
    chosen_n, chosen_warmup = default_counts(per_call)
    n = chosen_n if n is None else n
    warmup = chosen_warmup if warmup is None else warmup
    if warmup:
        _loops.time_calls(fn, args, kwargs, np.empty(warmup, dtype=np.int64), 0, warmup,
                          tsc)
    raw = np.empty(n, dtype=np.int64)
    # In steps of about 0.1 s: progress, and the timer's overhead measured beside each step
    # (so that it is measured under the same conditions as the calls).
    step = max(1, int(0.1e9 / per_call))
    steps = (n + step - 1) // step
    timer_readings = np.empty(steps * 1000, dtype=np.int64)
    done = 0

    def result(count, readings):
        return _latency(fn, raw[:count], readings, count, warmup,
                        ns_per_tick if tsc else None, metadata)

    try:
        for k, start in enumerate(range(0, n, step)):
            stop = min(n, start + step)
            _loops.time_calls(fn, args, kwargs, raw, start, stop, tsc)
            done = stop
            _loops.timer_overhead(timer_readings[k * 1000:(k + 1) * 1000], tsc)
            if progress is not None:
                progress(stop, n)
    except BaseException as exc:
        done += getattr(exc, "calls_done", 0)
        if done and isinstance(exc, KeyboardInterrupt):
            def partial():
                measured = timer_readings[:max(1, k) * 1000]
                if k == 0:
                    _loops.timer_overhead(measured, tsc)
                return result(done, measured)
            _attach_partial(exc, partial)
        raise
    return result(n, timer_readings)


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

    def __str__(self) -> str:
        lines = [
            f"jitter on {clock_name(self.clock_id)}: {stats.format_ns(self.duration_ns)}"
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
            lines.append(f"  gap lengths: {_summary_line(figures)}")
        return "\n".join(lines)


def jitter(seconds, threshold_ns=10_000, clock_id=_clock.CLOCK_MONOTONIC):
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
    """
    return _jitter(seconds, threshold_ns, clock_id, None)


class JitterWarning(RuntimeWarning):
    """A jitter run whose threshold is so low that the loop's own reads count as gaps."""


# The largest gap threshold, in ns.
JITTER_MAX_NS = 2**62
# The longest run: its end is a 64-bit CLOCK_MONOTONIC time, so about three years leaves
# room for any uptime (and a time namespace's offset) before it.
_JITTER_MAX_SECONDS = 1e8


def _jitter(seconds, threshold_ns, clock_id, progress):
    seconds = _args.seconds("jitter", seconds)
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
