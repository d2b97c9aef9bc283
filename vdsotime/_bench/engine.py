"""The timing engine: every per-call measurement of vdsotime runs through here, in this
process or in a worker process (``workers``), for ``bench()``, ``compare()`` and the CLI
alike.

A measurement is checked once, by its public entry point, before any call is made:
``timer()`` (the one timer check and the TSC's calibration), ``counts()`` (the one count
and memory rule); statements are compiled once per process (``compile_statements``).
``measure_calls`` then times one callable (warm-up, timed steps with the timer's
overhead measured beside each); ``run_rounds`` interleaves several, round by round.
"""

from __future__ import annotations

import numpy as np

from vdsotime._bench.defaults import default_warmup
from vdsotime._bench.latency import LatencyResult
from vdsotime._core import hw, meta, validate
from vdsotime._core.record import Record
from vdsotime._loops import driver

# The timers read around each call, and the default: the one with the lower and steadier
# bench(noop) where both exist (bench/run.py measures them side by side).
TIMERS = ("monotonic", "tsc")
DEFAULT_TIMER = "tsc"


class Timer(Record):
    """A checked timer: ``name`` ("monotonic" or "tsc") and, for the TSC, its
    ``ns_per_tick`` (calibrated once per process)."""

    __slots__ = ()
    name: str
    ns_per_tick: float | None = None

    @property
    def tsc(self) -> bool:
        return self.name == "tsc"


def choose_timer(function, timer):
    """The timer's name: ``timer`` checked ("monotonic" or "tsc"), or the default -- the
    TSC where it is invariant, else CLOCK_MONOTONIC."""
    if timer is None:
        usable = hw.HAVE_TSC and hw.tsc_invariant()[0]
        return DEFAULT_TIMER if usable else "monotonic"
    if timer not in TIMERS:
        raise ValueError(f"{function}(): timer must be 'monotonic' or 'tsc' (None for the "
                         f"default), got {timer!r}")
    if timer == "tsc":
        hw.require_tsc(function)
        invariant, source = hw.tsc_invariant()
        if not invariant:
            raise ValueError(f"{function}(): timer='tsc' needs an invariant TSC, and this "
                             f"one may change rate ({source}): use timer='monotonic'")
    return timer


def timer(function, name):
    """The Timer of a measurement (the one check of ``name``), calibrated when it is the
    TSC."""
    name = choose_timer(function, name)
    return Timer(name, tsc_ns_per_tick() if name == "tsc" else None)


_calibration = None


def tsc_ns_per_tick():
    """The TSC's ns per tick, calibrated once per process (50 ms, on first use)."""
    global _calibration
    if _calibration is None:
        from vdsotime._loops import tsc
        _calibration = tsc.calibrate_tsc(0.05, warn=False)
    return _calibration.ns_per_tick


def counts(function, n, warmup, copies=1):
    """``(n, warmup)`` checked (None stays None: chosen later from a probe): ``n`` a whole
    number >= 1 whose samples -- ``copies`` int64 arrays of n -- fit in memory, ``warmup``
    >= 0 (its calls are timed too, into one array). The one rule of every measurement."""
    if n is not None:
        n = validate.count(function, "n", n, 1)
        validate.memory(function, "n", n, 8 * copies)
    if warmup is not None:
        warmup = validate.count(function, "warmup", warmup, 0)
        validate.memory(function, "warmup", warmup, 8)
    return n, warmup


def check_progress(function, progress):
    """A ``progress=`` argument: None, or a function of (done, total)."""
    if progress is not None and not callable(progress):
        raise TypeError(f"{function}(): progress must be None or a function of (done, "
                        f"total), got {type(progress).__name__}")


def default_counts(per_call_ns):
    """(n, warmup) when the caller gives neither: about a second of timed calls (100 to
    1,000,000 of them), and default_warmup(n)."""
    n = int(min(1_000_000, max(100, 1e9 / max(per_call_ns, 1.0))))
    return n, default_warmup(n)


def describe(function):
    """A callable's name: ``module.qualname``, or the bare name for builtins and
    ``__main__``."""
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
    compiled in one namespace after running ``setup`` in it, as timeit does. Each function
    is named after its statement (on one line), which results and errors show."""
    namespace = {}
    functions = []
    try:
        exec(compile(setup or "pass", "<setup>", "exec"), namespace)
        for k, statement in enumerate(statements):
            source = f"def __vdsotime_statement_{k}():\n" + "".join(
                f"    {line}\n" for line in (statement or "pass").splitlines())
            exec(compile(source, "<stmt>", "exec"), namespace)
            function = namespace[f"__vdsotime_statement_{k}"]
            function.__name__ = function.__qualname__ = one_line(statement)
            function.__module__ = "__main__"  # describe() gives the statement alone
            functions.append(function)
    except SyntaxError as exc:
        line = exc.lineno - (exc.filename == "<stmt>")  # the wrapper's def line
        raise StatementError(f"syntax error in {exc.filename[1:-1]}: {exc.msg} "
                             f"(line {line})") from None
    except Exception as exc:  # the user's setup failed: say how, in one line
        raise StatementError(f"setup failed: {type(exc).__name__}: {exc}") from None
    return functions


def one_line(statement):
    """A statement of several lines on one ('a = 1; b = 2'), the name results give it."""
    return "; ".join(line.strip() for line in (statement or "pass").splitlines()
                     if line.strip()) or "pass"


# The calls whose median estimates the cost of one, to choose n and the size of a step:
# enough for a median within a factor of two, few enough to be the first of any warm-up.
PROBE_CALLS = 10


def probe_ns(fn, args, kwargs, timer, calls=PROBE_CALLS):
    """The median time of ``calls`` calls of ``fn(*args, **kwargs)`` in ns (at least
    1): an estimate to choose counts with."""
    probe = np.empty(calls, dtype=np.int64)
    driver.time_calls(fn, tuple(args), dict(kwargs), probe, 0, calls, timer.tsc)
    return _median_ns(probe, timer)


def _median_ns(times, timer):
    return max(float(np.median(times)) * (timer.ns_per_tick if timer.tsc else 1.0), 1.0)


# Rows of TSC ticks converted at a time: the float64 temporary stays at 512 KiB.
_TICK_ROWS = 1 << 16


def _latency(name, raw, overheads, n, warmup, timer, metadata):
    """The LatencyResult of ``raw`` per-call times, the timer's overhead taken from
    ``overheads``: its mean without the slowest 1 % (interrupted reads). The clock's
    steps quantize each sample (10 ns on some machines), so a median would flip between
    two steps; the trimmed mean does not. With the TSC, both are in ticks.

    ``raw`` (int64, the caller's and used for nothing else) becomes the samples in place:
    after Ctrl-C this runs between the signal and the caller's answer, and a new array of
    a long run's size would cost its page faults there (0.8 s for 5 * 10**7 calls on a
    VM)."""
    overhead = float(overheads[overheads <= np.percentile(overheads, 99)].mean())
    if not timer.tsc:
        raw -= int(round(overhead))
        np.maximum(raw, 0, out=raw)
        scale = 1.0
    else:
        scale = timer.ns_per_tick
        for start in range(0, len(raw), _TICK_ROWS):
            rows = raw[start:start + _TICK_ROWS]
            scaled = (rows - overhead) * scale
            np.rint(scaled, out=scaled)
            np.maximum(scaled, 0, out=scaled)
            rows[:] = scaled
    metadata = dict(metadata, n=n, warmup=warmup, timer_overhead_ns=overhead * scale)
    return LatencyResult(name, raw, overhead * scale, n, warmup, metadata)


def measurement_metadata(name, timer):
    """The metadata of a measurement: the machine (meta.collect) and the timer."""
    metadata = meta.collect()
    metadata.update(name=name, timer=timer.name)
    if timer.tsc:
        metadata["tsc_ns_per_tick"] = timer.ns_per_tick
    return metadata


def measure_calls(fn, args, kwargs, timer, n=None, warmup=None, *, name=None,
                  progress=None, metadata=None):
    """Time ``fn(*args, **kwargs)`` once per call: a LatencyResult named ``name`` (default
    ``describe(fn)``). Arguments are checked by the caller (``timer()``, ``counts()``);
    ``n`` and ``warmup`` left None are chosen by the rules (``default_counts`` from the
    median of the first PROBE_CALLS calls, ``default_warmup``). ``fn`` is called exactly
    ``warmup + n`` times: the calls that estimate its cost are the first of the warm-up,
    or of the timed calls when the warm-up is shorter. ``progress(done, n)`` is called
    after each step of about 0.1 s.

    Exceptions from ``fn`` propagate, with ``exc.calls_done``; on Ctrl-C,
    ``exc.partial_result`` is the LatencyResult of the calls timed so far."""
    name = describe(fn) if name is None else name
    metadata = measurement_metadata(name, timer) if metadata is None else metadata
    args, kwargs = tuple(args), dict(kwargs)
    # The first calls, timed, estimate the cost of one: it chooses n (when not given)
    # and the size of a step. n chosen is at least 100, so they all fit in warmup + n.
    if n is None:
        head = np.empty(PROBE_CALLS, dtype=np.int64)
    else:
        calls = n + (default_warmup(n) if warmup is None else warmup)
        head = np.empty(min(PROBE_CALLS, calls), dtype=np.int64)
    driver.time_calls(fn, args, kwargs, head, 0, len(head), timer.tsc)
    per_call = _median_ns(head, timer)
    if n is None:
        n = default_counts(per_call)[0]
    if warmup is None:
        warmup = default_warmup(n)
    # Of those first calls, the warm-up's first ones; the rest are the first timed ones.
    if warmup > len(head):
        rest = warmup - len(head)
        driver.time_calls(fn, args, kwargs, np.empty(rest, dtype=np.int64), 0, rest,
                          timer.tsc)
    raw = np.empty(n, dtype=np.int64)
    carried = max(0, len(head) - warmup)
    raw[:carried] = head[len(head) - carried:]
    # In steps of about 0.1 s: progress, and the timer's overhead measured beside each step
    # (so that it is measured under the same conditions as the calls).
    step = max(1, int(0.1e9 / per_call))
    starts = range(carried, n, step)
    overheads = np.empty(max(1, len(starts)) * 1000, dtype=np.int64)
    done = carried
    k = 0
    try:
        for k, start in enumerate(starts):
            stop = min(n, start + step)
            driver.time_calls(fn, args, kwargs, raw, start, stop, timer.tsc)
            done = stop
            driver.timer_overhead(overheads[k * 1000:(k + 1) * 1000], timer.tsc)
            if progress is not None:
                progress(stop, n)
        if not starts:  # every call was among the first ones
            driver.timer_overhead(overheads, timer.tsc)
            if progress is not None:
                progress(n, n)
    except BaseException as exc:
        done += getattr(exc, "calls_done", 0)
        if done and isinstance(exc, KeyboardInterrupt):
            def partial():
                measured = overheads[:max(1, k) * 1000]
                if k == 0:
                    driver.timer_overhead(measured, timer.tsc)
                return _latency(name, raw[:done], measured, done, warmup, timer, metadata)
            validate.attach(exc, "partial_result", partial)
        raise
    return _latency(name, raw, overheads, n, warmup, timer, metadata)


def run_rounds(names, callables, args, kwargs, counts, orders, timer, progress=None,
               done_before=0, total=None):
    """Run ``orders`` (one row per round: candidate indices in running order); per round,
    [LatencyResult of each candidate] in candidate order, each ``counts[index]`` =
    (n, warmup) calls. A KeyboardInterrupt carries the rounds finished so far as
    ``rounds_done``."""
    finished = []
    metadata = [measurement_metadata(name, timer) for name in names]
    try:
        for order in orders:
            row = [None] * len(callables)
            for index in order:
                calls, warmup = counts[index]
                row[index] = measure_calls(callables[index], args, kwargs, timer, calls,
                                           warmup, name=names[index],
                                           metadata=metadata[index])
            finished.append(row)
            if progress is not None:
                progress(done_before + len(finished), total or len(orders))
    except BaseException as exc:
        validate.attach(exc, "rounds_done", list, finished)
        raise
    return finished


def pool(name, results, **extra):
    """One LatencyResult of several measurements of one candidate (rounds, processes), in
    order; ``extra`` goes into its metadata."""
    first = results[0]
    samples = np.concatenate([result.samples_ns for result in results])
    overhead = float(np.mean([result.overhead_ns for result in results]))
    warmup = sum(result.warmup for result in results)
    metadata = dict(first.metadata or {}, name=name, n=len(samples), warmup=warmup,
                    timer_overhead_ns=overhead, **extra)
    return LatencyResult(name, samples, overhead, len(samples), warmup, metadata)
