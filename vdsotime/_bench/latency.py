"""The result of a per-call measurement: ``LatencyResult`` (samples, summary, warnings,
interop, ``assert_below``) and the instability checks behind its warnings."""

from __future__ import annotations

import math

import numpy as np

from vdsotime import stats
from vdsotime._core import meta
from vdsotime._core.record import Record

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from os import PathLike

    import numpy.typing as npt


def summary_line(figures, keys=("min", "p50", "p90", "p99", "p99.9", "max")):
    """'min 850 ns  p50 1.20 us  ...': ``keys`` of a ``stats.summary()`` dict."""
    return "  ".join(f"{key} {stats.format_ns(figures[key])}" for key in keys)




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
SYSCALL_CLOCKSOURCES = meta.SYSCALL_CLOCKSOURCES


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
        from vdsotime._bench import interop
        interop.write_pyperf(path, {self.name: self})

    def to_hgrm(self, unit: str = "us") -> str:
        """HdrHistogram's percentile distribution text (``.hgrm``: Value, Percentile,
        TotalCount, 1/(1-Percentile)), values in ``unit`` ("ns", "us" or "ms"). The
        values are the exact samples, not bucketed."""
        from vdsotime._bench import interop
        return interop.hgrm(self.samples_ns, unit)

    def to_hdr(self) -> str:
        """HdrHistogram's compressed, base64 encoded histogram (V2 format, 3 significant
        digits, values in ns), made by the optional ``hdrhistogram`` package."""
        from vdsotime._bench import interop
        return interop.hdr(self.samples_ns)

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
            context = summary_line(self.summary(), ("p50", "p99", "p99.9", "max"))
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
                 f"  {summary_line(figures)}",
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

    The last two only from known metadata: an unknown clocksource or governor (None, its
    /sys file unreadable) or "none" (no cpufreq) warns of nothing.
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
    if governor not in (None, "none", "performance"):
        found.append(f"CPU frequency governor {governor}, not performance: the frequency, "
                     "and the latency with it, changes with the load")
    return found
