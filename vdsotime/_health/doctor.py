"""Clock health: can this machine's clocks be trusted, and how cheaply are they read?

``health()`` gathers what ``vdsotime doctor`` prints: the clocksource, whether each clock
is served in user space or by a system call (and what each costs), the TSC's flags and
its agreement across CPUs (``tsc_skew()``), the NTP state of the system clock
(``ntp_state()``), this process's time-namespace offsets, the CPU frequency policy and
isolated CPUs, and one-line recommendations. Everything is read from the kernel: /sys,
/proc, ``adjtimex``, CPUID, and measurements in C loops. A fact whose source cannot be
read (no /sys or /proc mounted, as in a minimal container) is None: unknown, which the
text says as "unknown (cannot read PATH)", and no recommendation rests on it. Loaded on
first use.
"""

from __future__ import annotations

import os

from vdsotime._core import hw, meta, validate, vdso
from vdsotime._core.clocks import (CLOCK_AUX, CLOCK_AUX_LAST, CLOCK_BOOTTIME,
                                   CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE,
                                   CLOCK_MONOTONIC_RAW, CLOCK_PROCESS_CPUTIME_ID,
                                   CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI,
                                   CLOCK_THREAD_CPUTIME_ID, clock_name)
from vdsotime._core.formatting import format_ns as _format_ns
from vdsotime._core.record import Record
from vdsotime._health import probe
from vdsotime._loops import driver, skew

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vdsotime._core.vdso import Binding

CLOCKSOURCE_DIR = "/sys/devices/system/clocksource/clocksource0"
CURRENT_CLOCKSOURCE = f"{CLOCKSOURCE_DIR}/current_clocksource"
AVAILABLE_CLOCKSOURCE = f"{CLOCKSOURCE_DIR}/available_clocksource"
CPU_DIR = meta.CPU_DIR
CPUINFO = meta.CPUINFO
CMDLINE = "/proc/cmdline"
AUX_CLOCKS_DIR = "/sys/kernel/time/aux_clocks"
PROC_SELF = "/proc/self"
TIMENS_OFFSETS = "/proc/self/timens_offsets"
CLASSIC_CLOCKS = (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME,
                  CLOCK_TAI, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE,
                  CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID)


_read = meta.read_text  # the stripped text of a /sys or /proc file, or None


def _unknown(path):
    """How text output says that a fact is unknown."""
    return f"unknown (cannot read {path})"


def _cpu_list(text):
    """CPUs of a kernel cpulist ("0-3,8,10-11"), as a tuple; () for an empty or missing
    list."""
    cpus = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return tuple(cpus)


# -- NTP state --------------------------------------------------------------------------


class NtpState(Record):
    """The kernel's NTP state of CLOCK_REALTIME, from ``adjtimex`` in read-only mode:
    ``synchronized`` (STA_UNSYNC is clear: an NTP or PTP daemon is steering the clock),
    ``status`` (the STA_* bits; ``flags`` names them), ``maxerror_ns`` (the kernel's bound
    on the clock's error, which grows by 500 ppm of elapsed time until a daemon sets it
    again), ``esterror_ns`` (the estimated error), ``offset_ns`` (the offset the kernel is
    still correcting), ``frequency_ppm`` (the frequency correction applied),
    ``tai_offset_s`` (TAI - UTC as the kernel knows it; 0 when no daemon has set it), and
    ``clock_state`` (adjtimex's result: TIME_OK, TIME_INS, TIME_DEL, TIME_OOP, TIME_WAIT or
    TIME_ERROR)."""

    __slots__ = ()
    synchronized: bool
    status: int
    maxerror_ns: int
    esterror_ns: int
    offset_ns: int
    frequency_ppm: float
    tai_offset_s: int
    clock_state: str
    flags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        result = self._asdict()
        result["flags"] = list(self.flags)
        return result

    def __str__(self) -> str:
        state = "synchronized" if self.synchronized else "not synchronized (STA_UNSYNC)"
        return (f"{state}, {self.clock_state}; maxerror {_format_ns(self.maxerror_ns)}, "
                f"esterror {_format_ns(self.esterror_ns)}, offset "
                f"{_format_ns(self.offset_ns)}, frequency {self.frequency_ppm:+.3f} ppm, "
                f"TAI offset {self.tai_offset_s} s")


def ntp_state():
    """The NTP state of the system clock (CLOCK_REALTIME), read with ``adjtimex`` in
    read-only mode (``modes = 0``: it changes nothing and needs no privilege). Whether
    timestamps taken on this machine can be compared with another's depends on it: both
    clocks must be ``synchronized``, and ``maxerror_ns`` bounds how far each may be off.
    """
    raw = probe.adjtimex_read()
    status = raw["status"]
    nano = bool(status & probe.STATUS_BITS["STA_NANO"])
    return NtpState(
        synchronized=not status & probe.STATUS_BITS["STA_UNSYNC"], status=status,
        maxerror_ns=raw["maxerror"] * 1000, esterror_ns=raw["esterror"] * 1000,
        offset_ns=raw["offset"] if nano else raw["offset"] * 1000,
        frequency_ppm=raw["freq"] / 65536, tai_offset_s=raw["tai"],
        clock_state=probe.CLOCK_STATES.get(raw["state"], str(raw["state"])),
        flags=tuple(name for name, bit in probe.STATUS_BITS.items() if status & bit))


# -- TSC skew between CPUs -------------------------------------------------------------


class TscOffset(Record):
    """The TSC of ``cpu`` minus the reference CPU's lies between ``low_ns`` and
    ``high_ns`` (in ticks, between ``low_ticks`` and ``high_ticks``), from ``rounds`` round trips; ``round_trip_ns`` is the
    fastest of them (the best width one round can give), ``violations`` the rounds whose
    readings went backwards from one CPU to the other. ``low > high`` means that no
    single offset fits every round: the two TSCs drifted apart during the measurement."""

    __slots__ = ()
    cpu: int
    low_ns: float
    high_ns: float
    low_ticks: int
    high_ticks: int
    rounds: int
    round_trip_ns: float
    violations: int

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    def __str__(self) -> str:
        return (f"CPU {self.cpu}: offset in [{self.low_ns:+.0f}, {self.high_ns:+.0f}] ns "
                f"({self.rounds} rounds, fastest round trip {self.round_trip_ns:.0f} ns"
                f"{f', {self.violations} out of order' if self.violations else ''})")


class TscSkew(Record):
    """How the TSCs of several CPUs agree: ``offsets`` (a ``TscOffset`` per CPU, the
    ``reference_cpu`` first with [0, 0]), ``max_skew_ns`` (the largest ``|offset|`` the bounds
    allow: an upper bound), ``monotonic`` (no TSC reading on one CPU was earlier than a
    reading on another CPU that happened before it), ``comparable`` (monotonic, every
    offset consistent, and the TSC invariant: readings from different CPUs may be
    compared, to within ``max_skew_ns``; None when the readings agree but whether the TSC
    is invariant is unknown); ``invariant`` (whether the TSC is invariant: True, False, or
    None when the CPUID bit is clear and /proc/cpuinfo cannot be read), ``ns_per_tick``
    converts, ``seconds`` is how long the measurement took."""

    __slots__ = ()
    offsets: tuple[TscOffset, ...]
    max_skew_ns: float
    comparable: bool | None
    monotonic: bool
    reference_cpu: int
    ns_per_tick: float
    invariant: bool | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        result = self._asdict()
        result["offsets"] = [offset.to_dict() for offset in self.offsets]
        return result

    def __str__(self) -> str:
        if self.comparable is None:  # the readings agree; the TSC's rate is unknown
            verdict = "comparable across CPUs: unknown (TSC invariance unknown)"
        else:
            verdict = ("comparable" if self.comparable else "NOT comparable" + (
                "" if self.monotonic else " (out of order)")) + " across CPUs"
        order = "monotonic" if self.monotonic else "NOT monotonic"
        lines = [f"TSC skew against CPU {self.reference_cpu}: |skew| <= "
                 f"{self.max_skew_ns:.0f} ns, {order}, {verdict}"]
        lines += [f"  {offset}" for offset in self.offsets[1:]]
        return "\n".join(lines)


def _cpus_arg(cpus):
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is None:
        return allowed
    if isinstance(cpus, (str, bytes)) or not hasattr(cpus, "__iter__"):
        raise TypeError("tsc_skew(): cpus must be a list of CPU numbers, got "
                        f"{type(cpus).__name__}")
    result = []
    for cpu in cpus:
        cpu = validate.count("tsc_skew", "each of cpus", cpu, 0)
        if cpu not in allowed:
            raise ValueError(f"tsc_skew(): cpus must be CPUs this process may run on "
                             f"({_format_cpus(allowed)}), got {cpu}")
        if cpu in result:
            raise ValueError(f"tsc_skew(): cpus lists CPU {cpu} twice")
        result.append(cpu)
    if not result:
        raise ValueError("tsc_skew(): cpus must list at least one CPU")
    return result


def tsc_skew(cpus=None, rounds=20_000, *, seconds=0.5, calibration=None):
    """Measure the TSC offset of every CPU of ``cpus`` (default: every CPU this process may
    run on) against the first, the way the kernel's TSC warp check reasons: two threads,
    pinned to the two CPUs, pass a cache line back and forth ``rounds`` times, asking in
    turn. In each round the asker reads its TSC before asking and after the answer
    arrives, and the answerer reads its TSC in between, so causality bounds the offset:
    ``answer - after <= offset <= answer - before``. The bounds of all rounds intersect
    into ``[low, high]``, as narrow as the fastest round trip allows (two cache-line
    transfers; a slow round only loosens its own bound, never the result). A round whose
    bound excludes 0 saw a reading go backwards between CPUs (``monotonic`` False).

    The threads spin without the GIL; each CPU pair runs for at most
    ``seconds / (len(cpus) - 1)``, and a wait for the other thread gives up after that
    long again (20 to 200 ms, on CLOCK_MONOTONIC), keeping the rounds done so far; so the
    whole takes at most about twice ``seconds``, and Ctrl-C stops it within milliseconds.
    A CPU that answers no round at all is a TimeoutError. Ticks are converted with
    ``calibration`` (default: a 50 ms ``calibrate_tsc()``); both are reported. On an idle
    machine the defaults take about a tenth of a second. x86 only (NotImplementedError
    elsewhere).
    """
    import time

    import numpy as np

    from vdsotime._loops import tsc

    hw.require_tsc("tsc_skew")
    cpus = _cpus_arg(cpus)
    rounds = validate.count("tsc_skew", "rounds", rounds, 2)
    seconds = validate.seconds("tsc_skew", seconds, low=0.001, high=3600)
    if calibration is None:
        calibration = tsc.calibrate_tsc(0.05, warn=False)
    elif not isinstance(calibration, tsc.TscCalibration):
        raise TypeError("tsc_skew(): calibration must be a TscCalibration (from "
                        f"calibrate_tsc()), got {type(calibration).__name__}")
    ns_per_tick = calibration.ns_per_tick
    started = time.monotonic()
    reference = cpus[0]
    offsets = [TscOffset(reference, 0.0, 0.0, 0, 0, 0, 0.0, 0)]
    per_pair_ns = int(seconds * 1e9 / max(1, len(cpus) - 1))
    timeout_ns = min(max(per_pair_ns, 20_000_000), 200_000_000)
    for cpu in cpus[1:]:
        first, last, reply, seen, timed_out = skew.tsc_ping_pong(
            reference, cpu, rounds, per_pair_ns, timeout_ns)
        for where, expected in zip(seen, (reference, cpu)):
            if where not in (-1, expected):
                raise RuntimeError(f"tsc_skew(): a thread pinned to CPU {expected} ran on "
                                   f"CPU {where}")
        if len(first) < 2:
            reason = (f"did not answer within {timeout_ns / 1e9:g} s" if timed_out
                      else "ran no round")
            raise TimeoutError(f"tsc_skew(): CPU {cpu} {reason} (is it busy with "
                               "a higher-priority task?)")
        first, last, reply = (array.view(np.int64) for array in (first, last, reply))
        asked_by_reference = np.arange(len(first)) % 2 == 0
        # offset = TSC(cpu) - TSC(reference). Rounds the reference asked: reply is the
        # other CPU's; rounds the other CPU asked: first/last are its own.
        low = np.where(asked_by_reference, reply - last, first - reply)
        high = np.where(asked_by_reference, reply - first, last - reply)
        low_ticks, high_ticks = int(low.max()), int(high.min())
        offsets.append(TscOffset(
            cpu=cpu, low_ns=low_ticks * ns_per_tick, high_ns=high_ticks * ns_per_tick,
            low_ticks=low_ticks, high_ticks=high_ticks, rounds=len(first),
            round_trip_ns=float((last - first).min()) * ns_per_tick,
            violations=int(((low > 0) | (high < 0)).sum())))
    monotonic = all(offset.violations == 0 for offset in offsets)
    consistent = all(offset.low_ticks <= offset.high_ticks for offset in offsets)
    invariant, _ = hw.tsc_invariant()  # None: unknown, and comparable with it
    return TscSkew(
        offsets=tuple(offsets),
        max_skew_ns=max(max(abs(o.low_ns), abs(o.high_ns)) for o in offsets),
        comparable=monotonic and consistent and invariant, monotonic=monotonic,
        reference_cpu=reference, ns_per_tick=ns_per_tick, invariant=invariant,
        seconds=time.monotonic() - started)


# -- per-clock verdict: user space or system call ------------------------------------


class ClockHealth(Record):
    """How one clock is read: ``userspace`` (True: without entering the kernel; False: a
    system call each time), ``ns_per_call`` (through vdsotime, in a C loop of cimported
    calls), ``syscall_ns_per_call`` (the raw system call, in a C loop),
    ``coarse_ns_per_call`` (CLOCK_MONOTONIC_COARSE, the cheapest clock the vDSO serves),
    each the median of interleaved rounds (``clock_health``), and ``method``, how the
    verdict was reached: "seccomp" (the system call was made to fail in a probe thread:
    a fact) or "timing" (the clock costs less than half the system call)."""

    __slots__ = ()
    name: str
    id: int
    userspace: bool
    ns_per_call: float
    syscall_ns_per_call: float
    coarse_ns_per_call: float
    method: str

    @property
    def verdict(self) -> str:
        return "user space" if self.userspace else "system call"

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    def __str__(self) -> str:
        return (f"{self.name:26s} {self.verdict:12s} {self.ns_per_call:8.1f} ns "
                f"{self.syscall_ns_per_call:8.1f} ns "
                f"{_ratio(self.ns_per_call, self.syscall_ns_per_call, 2)} "
                f"{_ratio(self.ns_per_call, self.coarse_ns_per_call, 1)}")


def _ratio(value, reference, digits):
    """value / reference as a 10-wide column; "-" when the reference measured as 0 (a
    loop shorter than the clock's resolution)."""
    return f"{value / reference:9.{digits}f}x" if reference > 0 else f"{'-':>10s}"


def _aux_clocks_enabled():
    """The auxiliary clock ids enabled in /sys/kernel/time/aux_clocks (Linux 6.17+)."""
    enabled = []
    for index in range(CLOCK_AUX_LAST - CLOCK_AUX + 1):
        if _read(f"{AUX_CLOCKS_DIR}/{index}/aux_clock_enable") == "1":
            enabled.append(CLOCK_AUX + index)
    return enabled


# -- the cost of a clock read: vdsotime clocks and vdsotime doctor measure it alike ----

# Rounds of the interleaved cost measurement, and reads of a clock per round (the
# system call's loop makes a tenth as many: it is ten times dearer).
COST_ROUNDS = 15
COST_CALLS = 200


def c_loop_ns(clock_id, calls):
    """ns per read of ``clock_id`` through vdsotime's function table, in a C loop of
    ``calls`` cimported ``clock_gettime_ns`` calls (no Python, no array: what a Cython
    or numba caller pays)."""
    return driver.cimport_loop(calls, clock_id)[0] / calls


def syscall_ns(clock_id, calls):
    """ns per raw ``clock_gettime`` system call on ``clock_id``, in a C loop of
    ``calls``."""
    return driver.syscall_loop(calls, clock_id) / calls


def interleaved_medians(measures, rounds):
    """``{key: median}`` of ``measures`` (``{key: function()}``, each returning ns per
    call), run in ``rounds`` interleaved rounds: each round runs every measure once, in
    the dict's order (A B C A B C ...), so that every figure is taken under the same
    load as the others; the median of its rounds resists the rounds that an interrupt or
    a neighbour's burst slowed, from whichever side."""
    values = {key: [] for key in measures}
    for _ in range(rounds):
        for key, measure in measures.items():
            values[key].append(measure())
    return {key: _median(found) for key, found in values.items()}


def _median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _costs(clock_ids, calls, rounds):
    """Per clock id, (ns per call through vdsotime, ns per raw system call), and the
    same through vdsotime for CLOCK_MONOTONIC_COARSE: each the median of ``rounds``
    interleaved rounds of C loops (``interleaved_medians``), ``calls`` reads each (a
    tenth as many system calls)."""
    from functools import partial

    syscalls = max(1, calls // 10)
    measures = {"coarse": partial(c_loop_ns, CLOCK_MONOTONIC_COARSE, calls)}
    for clock_id in clock_ids:
        measures[clock_id, "vdsotime"] = partial(c_loop_ns, clock_id, calls)
        measures[clock_id, "syscall"] = partial(syscall_ns, clock_id, syscalls)
    medians = interleaved_medians(measures, rounds)
    return ({clock_id: (medians[clock_id, "vdsotime"], medians[clock_id, "syscall"])
             for clock_id in clock_ids}, medians["coarse"])


def clock_health(clock_ids=None, *, calls=COST_CALLS, rounds=COST_ROUNDS):
    """A ``ClockHealth`` per clock of ``clock_ids`` (default: the nine classic clocks and
    the enabled auxiliary ones): whether it is read in user space, and its cost beside the
    raw system call's and CLOCK_MONOTONIC_COARSE's: each the median of ``rounds``
    interleaved rounds of C loops of ``calls`` reads (a tenth as many system calls), the
    same loops as the C columns of ``vdsotime clocks``.

    The verdict is a fact where seccomp filters are available: a probe thread makes the
    ``clock_gettime`` system call fail for itself alone and reads each clock through the
    functions vdsotime bound at import; a clock that still reads never entered the kernel.
    Elsewhere it compares the costs: user space when the clock costs less than half the
    system call -- the vDSO is five to ten times cheaper, a system call behind it costs at
    least as much as the call itself.
    """
    if clock_ids is None:
        clock_ids = list(CLASSIC_CLOCKS) + _aux_clocks_enabled()
    clock_ids = [validate.readable("clock_health", clock_id) for clock_id in clock_ids]
    calls = validate.count("clock_health", "calls", calls, 1)
    rounds = validate.count("clock_health", "rounds", rounds, 1)
    costs, coarse = _costs(clock_ids, calls, rounds)
    probed, _ = probe.syscall_probe(clock_ids)
    rows = []
    for index, clock_id in enumerate(clock_ids):
        ns_per_call, syscall_ns = costs[clock_id]
        if probed is not None and isinstance(probed[index], bool):
            userspace, method = probed[index], "seccomp"
        else:
            userspace, method = ns_per_call * 2 < syscall_ns, "timing"
        rows.append(ClockHealth(clock_name(clock_id), clock_id, userspace,
                                ns_per_call, syscall_ns, coarse, method))
    return tuple(rows)


# -- TSC flags, CPU policy, time namespace --------------------------------------------


TSC_FLAGS = ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable")


class TscHealth(Record):
    """The TSC: ``present`` (x86: CPUID says so), ``invariant`` (and how that was
    decided), the CPU flags ``constant_tsc``, ``nonstop_tsc``, ``tsc_known_freq``,
    ``tsc_reliable`` (/proc/cpuinfo), ``unstable`` (the kernel marked it unstable: the CPU
    has a TSC, yet the TSC is not among the available clocksources, or tsc=unstable was
    given at boot), ``skew`` (a ``TscSkew``, or None when not measured) and
    ``skew_error`` (why the measurement failed, when it did: a CPU too busy to answer,
    for instance).

    None is unknown: the flags when /proc/cpuinfo cannot be read, ``unstable`` when
    neither the available clocksources (/sys) nor /proc/cmdline tell, ``invariant`` when
    the CPUID bit is clear and /proc/cpuinfo cannot be read. Without a TSC the flags are
    False and ``unstable`` is False."""

    __slots__ = ()
    present: bool
    invariant: bool | None
    invariant_source: str
    constant_tsc: bool | None
    nonstop_tsc: bool | None
    tsc_known_freq: bool | None
    tsc_reliable: bool | None
    unstable: bool | None
    skew: TscSkew | None
    skew_error: str | None

    def to_dict(self) -> dict[str, Any]:
        result = self._asdict()
        result["skew"] = None if self.skew is None else self.skew.to_dict()
        return result

    def __str__(self) -> str:
        if not self.present:
            return "none"
        flags = [getattr(self, name) for name in TSC_FLAGS]
        if None in flags:
            listed = f"flags {_unknown(CPUINFO)}"
        else:
            listed = " ".join(name for name, on in zip(TSC_FLAGS, flags) if on) or "no flags"
        invariant = {True: "invariant", False: "NOT invariant",
                     None: "invariant unknown"}[self.invariant]
        unstable = {True: "marked UNSTABLE by the kernel", False: "not marked unstable",
                    None: f"unstable {_unknown(AVAILABLE_CLOCKSOURCE)}"}[self.unstable]
        return f"{listed}; {invariant} ({self.invariant_source}); {unstable}"


def tsc_health(available_clocksources, skew=True):
    """The ``TscHealth`` of this machine, given the available clocksources (None when
    they cannot be read); with ``skew``, ``tsc_skew()`` is measured too."""
    present = hw.tsc_present()
    flags = hw.cpuinfo_flags() if present else frozenset()
    invariant, source = hw.tsc_invariant()
    cmdline = _read(CMDLINE)
    if not present:
        unstable = False
    elif cmdline is not None and "tsc=unstable" in cmdline.split():
        unstable = True
    elif available_clocksources is None:
        unstable = None  # "tsc" missing from a list that could not be read says nothing
    else:
        unstable = "tsc" not in available_clocksources
    measured = error = None
    if skew and present and len(os.sched_getaffinity(0)) > 1:
        try:
            measured = tsc_skew()
        except (OSError, RuntimeError) as exc:  # TimeoutError: a CPU never answered
            error = str(exc)
    return TscHealth(present, invariant, source,
                     *(None if flags is None else name in flags for name in TSC_FLAGS),
                     unstable, measured, error)


class CpuHealth(Record):
    """What moves latency figures: the cpufreq ``governor`` (several joined by commas
    when CPUs differ; "none" when the kernel shows its CPUs without cpufreq), ``boost``
    (turbo: True or False), and the ``isolated`` and ``nohz_full`` CPUs (() for none).
    None is unknown: every field when /sys/devices/system/cpu cannot be read, and
    ``boost`` also when the kernel shows no boost switch."""

    __slots__ = ()
    governor: str | None
    boost: bool | None
    isolated: tuple[int, ...] | None
    nohz_full: tuple[int, ...] | None

    def to_dict(self) -> dict[str, Any]:
        result = self._asdict()
        for name in ("isolated", "nohz_full"):
            cpus = getattr(self, name)
            result[name] = None if cpus is None else list(cpus)
        return result

    def __str__(self) -> str:
        if self == (None, None, None, None):
            return f"governor, boost, isolated, nohz_full {_unknown(CPU_DIR)}"
        governor = {None: _unknown(CPU_DIR),
                    "none": "none (no cpufreq)"}.get(self.governor, self.governor)
        boost = {True: "on", False: "off",
                 None: "unknown (the kernel shows no boost switch)"}[self.boost]
        isolated, nohz_full = (
            _unknown(f"{CPU_DIR}/{name}") if cpus is None else _format_cpus(cpus) or "none"
            for name, cpus in (("isolated", self.isolated), ("nohz_full", self.nohz_full)))
        return (f"governor {governor}, boost {boost}, isolated {isolated}, "
                f"nohz_full {nohz_full}")


def _boost():
    """Whether turbo/boost is on: cpufreq's global switch, intel_pstate's no_turbo
    (``meta.cpu_boost``), or the per-policy switch of amd-pstate; None when none of
    them exists."""
    boost = meta.cpu_boost()
    if boost is not None:
        return boost
    policies = [_read(f"{CPU_DIR}/cpufreq/{name}/boost")
                for name in _listdir(f"{CPU_DIR}/cpufreq") or () if name.startswith("policy")]
    policies = [value for value in policies if value in ("0", "1")]
    return "1" in policies if policies else None


def _listdir(path):
    """The sorted names in a folder; None when it cannot be listed."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None


def _cpus_of(name):
    """The CPUs of the cpulist CPU_DIR/name: () when the kernel shows no such file (the
    feature is not built in), None when it is there but cannot be read."""
    path = f"{CPU_DIR}/{name}"
    text = _read(path)
    if text is None:
        return None if os.path.exists(path) else ()
    return _cpu_list(text)


def cpu_health():
    """The ``CpuHealth`` of this machine, from /sys/devices/system/cpu."""
    names = _listdir(CPU_DIR)
    if names is None:  # /sys not mounted: nothing is known, not "none"
        return CpuHealth(None, None, None, None)
    cpus = [name for name in names if name.startswith("cpu") and name[3:].isdigit()]
    governors = {_read(f"{CPU_DIR}/{name}/cpufreq/scaling_governor") for name in cpus}
    governors.discard(None)
    if governors:
        governor = ",".join(sorted(governors))
    else:  # CPUs listed without cpufreq: none; no CPU listed: cannot tell
        governor = "none" if cpus else None
    return CpuHealth(governor, _boost(), _cpus_of("isolated"), _cpus_of("nohz_full"))


def timens_offsets():
    """This process's time-namespace offsets, {"monotonic": ns, "boottime": ns}, from
    /proc/self/timens_offsets; {} when the kernel has no time namespaces (/proc/self
    without the file); None when /proc cannot be read (unknown)."""
    text = _read(TIMENS_OFFSETS)
    if not text:  # the kernel writes two lines; nothing read is not the kernel's answer
        if text is None and not os.path.exists(TIMENS_OFFSETS) \
                and meta.is_dir(PROC_SELF):
            return {}
        return None
    offsets = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3:
            name = {"1": "monotonic", "7": "boottime"}.get(fields[0], fields[0])
            offsets[name] = int(fields[1]) * 1_000_000_000 + int(fields[2])
    return offsets


# -- the whole picture ----------------------------------------------------------------


class Health(Record):
    """What ``vdsotime doctor`` prints: ``clocksource`` and ``available_clocksources``,
    ``clocks`` (a ``ClockHealth`` each), ``tsc`` (``TscHealth``), ``ntp`` (``NtpState``),
    ``timens_offsets`` (dict; {} on a kernel without time namespaces), ``cpu``
    (``CpuHealth``), ``recommendations`` (one line each; none when all is well) and
    ``backend``, the ``Binding`` of clock_gettime. ``to_dict()`` is ``doctor --json``,
    with every key present.

    None is unknown, its source unreadable: ``clocksource`` and
    ``available_clocksources`` without /sys, ``timens_offsets`` without /proc (and the
    fields of ``tsc`` and ``cpu`` that their records name). No recommendation rests on
    an unknown fact."""

    __slots__ = ()
    clocksource: str | None
    available_clocksources: tuple[str, ...] | None
    clocks: tuple[ClockHealth, ...]
    tsc: TscHealth
    ntp: NtpState
    timens_offsets: dict[str, int] | None
    cpu: CpuHealth
    recommendations: tuple[str, ...]
    backend: Binding

    def to_dict(self) -> dict[str, Any]:
        return {
            "clocksource": self.clocksource,
            "available_clocksources": (None if self.available_clocksources is None
                                       else list(self.available_clocksources)),
            "clocks": [clock.to_dict() for clock in self.clocks],
            "tsc": self.tsc.to_dict(), "ntp": self.ntp.to_dict(),
            "timens_offsets": self.timens_offsets, "cpu": self.cpu.to_dict(),
            "recommendations": list(self.recommendations),
            "backend": self.backend._asdict(),
        }

    def __str__(self) -> str:
        from vdsotime._core import info

        binding = self.backend
        where = info.bound_name(binding, info.info().symbols)
        current = self.clocksource or _unknown(CURRENT_CLOCKSOURCE)
        available = (_unknown(AVAILABLE_CLOCKSOURCE) if self.available_clocksources is None
                     else " ".join(self.available_clocksources) or "none")
        lines = [
            f"clocksource     {current} (available: {available})"
            if self.clocksource else f"clocksource     {current}; available {available}",
            f"clock_gettime   {binding.backend} ({where})",
            "",
            f"{'clock':26s} {'read by':12s} {'per call':>11s} {'syscall':>11s} "
            f"{'vs syscall':>10s} {'vs COARSE':>10s}",
        ]
        lines += [str(clock) for clock in self.clocks]
        methods = {clock.method for clock in self.clocks}
        lines.append("(read by: " + (
            "a probe thread made the clock_gettime system call fail with seccomp; "
            if "seccomp" in methods else "") + (
            "cost below half the system call's; " if "timing" in methods else "") +
            f"per call: ns per read in a C loop, the median of {COST_ROUNDS} interleaved "
            "rounds, as vdsotime clocks' C columns measure it)")
        lines.append("")
        tsc = self.tsc
        lines.append(f"TSC             {tsc}")
        if tsc.skew is not None:
            lines += ["                " + line for line in str(tsc.skew).splitlines()]
        elif tsc.skew_error is not None:
            lines.append(f"                TSC skew not measured: {tsc.skew_error}")
        lines.append(f"NTP             {self.ntp}")
        if self.timens_offsets is None:
            lines.append(f"time namespace  {_unknown(TIMENS_OFFSETS)}")
        elif not self.timens_offsets:
            lines.append("time namespace  not supported by this kernel")
        else:
            lines.append("time namespace  " + ", ".join(
                f"{name} {_format_ns(value)}" for name, value in self.timens_offsets.items()))
        lines.append(f"CPU             {self.cpu}")
        lines.append("")
        if self.recommendations:
            lines.append("recommendations:")
            lines += [f"  - {line}" for line in self.recommendations]
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def _format_cpus(cpus):
    """A kernel-style cpulist: (0, 1, 2, 5) -> "0-2,5"."""
    parts, cpus = [], sorted(cpus)
    start = None
    for index, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if index + 1 == len(cpus) or cpus[index + 1] != cpu + 1:
            parts.append(str(start) if start == cpu else f"{start}-{cpu}")
            start = None
    return ",".join(parts)


def recommendations(clocksource, available, clocks, tsc, ntp, timens, cpu):
    """One line per problem found, saying what to do about it; only from known facts (a
    None, unknown, is never a problem)."""
    lines = []
    by_id = {clock.id: clock for clock in clocks}
    slow = [by_id[clock_id] for clock_id in (CLOCK_REALTIME, CLOCK_MONOTONIC)
            if clock_id in by_id and not by_id[clock_id].userspace]
    if slow:
        fix = ("if the TSC is reliable, boot with clocksource=tsc"
               if tsc.present and tsc.invariant is True and tsc.unstable is False
               else "choose a clocksource the vDSO reads (tsc, kvm-clock, arch_sys_counter)")
        if available is not None and "tsc" in available and clocksource not in ("tsc", None):
            fix += f" (or now: echo tsc > {CLOCKSOURCE_DIR}/current_clocksource)"
        lines.append(f"clocksource {clocksource or 'unknown'}: the vDSO cannot read it, so "
                     f"every clock call is a syscall (~{slow[0].syscall_ns_per_call:.0f} ns); "
                     + fix)
    if tsc.present and tsc.invariant is False:
        lines.append(f"the TSC is not invariant ({tsc.invariant_source}): raw TSC readings "
                     "(sample_tsc) drift with the CPU's speed; time with CLOCK_MONOTONIC")
    if tsc.unstable is True:
        lines.append("the kernel marked the TSC unstable: do not compare raw TSC readings "
                     "across CPUs or over time; time with CLOCK_MONOTONIC")
    if tsc.skew is not None and not tsc.skew.monotonic:
        worst = max(tsc.skew.offsets, key=lambda offset: offset.violations)
        lines.append(f"TSC readings go backwards between CPUs ({worst}): pin threads whose "
                     "TSC readings you compare to one CPU, or use CLOCK_MONOTONIC")
    if not ntp.synchronized:
        lines.append(f"CLOCK_REALTIME is not synchronized (STA_UNSYNC, {ntp.clock_state}): "
                     "its timestamps do not compare with other machines'; run an NTP client "
                     "(chronyd, ntpd, systemd-timesyncd) or PTP (ptp4l + phc2sys)")
    elif ntp.maxerror_ns > 100_000_000:
        lines.append(f"CLOCK_REALTIME may be off by up to {_format_ns(ntp.maxerror_ns)} "
                     "(adjtimex maxerror): timestamps from other machines compare only to "
                     "within that")
    if timens and any(timens.values()):
        shifted = ", ".join(f"{name} {_format_ns(value)}" for name, value in timens.items()
                            if value)
        lines.append(f"this process runs in a time namespace ({shifted}): its monotonic "
                     "and boottime readings do not compare with other namespaces'")
    if cpu.governor not in (None, "none", "performance"):
        lines.append(f"cpufreq governor {cpu.governor}: the CPU changes speed with load, "
                     "which moves latency figures; for benchmarks: cpupower frequency-set "
                     "-g performance")
    if cpu.boost is True:
        lines.append("turbo boost is on: the CPU's speed follows its temperature; for "
                     f"steady benchmarks turn it off ({CPU_DIR}/cpufreq/boost or "
                     "intel_pstate/no_turbo)")
    return tuple(lines)


def health(*, skew=True):
    """Check the clocks of this machine and process: the clocksource, whether each clock is
    read in user space (``clock_health()``), the TSC's flags and, with ``skew``, its
    agreement across CPUs (``tsc_skew()``, up to half a second), the NTP state
    (``ntp_state()``), the time-namespace offsets, the CPU frequency policy and isolated
    CPUs, and recommendations. Takes about a second with ``skew``, a tenth without.
    """
    if not isinstance(skew, bool):
        raise TypeError(f"health(): skew must be True or False, got {skew!r}")
    current = _read(CURRENT_CLOCKSOURCE)
    available = _read(AVAILABLE_CLOCKSOURCE)
    if available is not None:  # None: /sys cannot be read, unknown (not "no clocksource")
        available = tuple(available.split())
    clocks = clock_health()
    tsc = tsc_health(available, skew)
    ntp = ntp_state()
    timens = timens_offsets()
    cpu = cpu_health()
    return Health(current, available, clocks, tsc, ntp, timens, cpu,
                  recommendations(current, available, clocks, tsc, ntp, timens, cpu),
                  vdso.bindings()["clock_gettime"])
