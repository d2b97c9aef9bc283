"""Clock health (health(), ntp_state(), tsc_skew(), vdsotime doctor), checked against the
kernel: /sys and /proc, adjtimex through ctypes, the raw system call, a time namespace
made with unshare."""

import ctypes
import json
import os
import sys
import textwrap

import numpy as np
import pytest

import vdsotime
from vdsotime._health import doctor
from vdsotime._loops import skew as skew_loop

import abi
import kernel
from oracle import interrupt_child, run_python
from requires import require_path, require_time_namespace

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0"
CURRENT = f"{CLOCKSOURCE}/current_clocksource"
CLI = "import sys; from vdsotime.cli import main; sys.exit(main(sys.argv[1:]))"


def _sys(path):
    with open(path) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def report():
    return vdsotime.health()


# -- doctor --json: the contract's keys ---------------------------------------------------

def test_doctor_json_has_the_contract_keys():
    result = run_python(CLI, "doctor", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"clocksource", "available_clocksources", "clocks", "tsc", "ntp",
            "timens_offsets", "cpu", "recommendations"} <= set(data)
    for clock in data["clocks"]:
        assert {"name", "id", "userspace", "ns_per_call", "syscall_ns_per_call"} <= set(clock)
        assert isinstance(clock["userspace"], bool)
    assert {"governor", "boost", "isolated"} <= set(data["cpu"])
    assert {"synchronized", "status", "maxerror_ns", "esterror_ns", "offset_ns",
            "frequency_ppm", "tai_offset_s"} <= set(data["ntp"])
    skew = data["tsc"]["skew"]
    if abi.X86:
        assert {"offsets", "max_skew_ns", "comparable", "monotonic"} <= set(skew)
        assert all({"cpu", "low_ns", "high_ns"} <= set(offset) for offset in skew["offsets"])
    else:  # no TSC to measure
        assert skew is None and data["tsc"]["present"] is False
    assert data["clocksource"] == kernel.read_file(CURRENT)  # None where /sys is missing


def test_doctor_text_names_every_clock_and_the_clocksource():
    result = run_python(CLI, "doctor", "--no-skew")
    assert result.returncode == 0, result.stderr
    clocksource = kernel.read_file(CURRENT) or f"unknown (cannot read {CURRENT})"
    assert f"clocksource     {clocksource}" in result.stdout
    for name in kernel.ALL_CLOCKS:
        assert name in result.stdout
    # The bound symbol in the notation of vdsotime info's symbol list.
    symbol = abi.clock_gettime_symbol()
    [entry] = [s for s in vdsotime.info().symbols
               if s.name == symbol and s.version == abi.VERSION]
    notation = f"{symbol}{'@' if entry.hidden else '@@'}{abi.VERSION}"
    assert f"clock_gettime   vdso ({notation})" in result.stdout


# -- clocksource, TSC flags, CPU policy: what /sys and /proc say -------------------------

def test_clocksources_are_the_kernels(report):
    # Where /sys is not mounted, both are unknown (None), not "none".
    assert report.clocksource == kernel.read_file(CURRENT)
    available = kernel.read_file(f"{CLOCKSOURCE}/available_clocksource")
    assert report.available_clocksources == (None if available is None
                                             else tuple(available.split()))


def test_tsc_flags_are_proc_cpuinfos(report):
    if not abi.X86:
        # No TSC on this ABI: nothing of it is reported, whatever /proc/cpuinfo says
        # (under qemu-user it is the host's, an x86 CPU's).
        tsc = report.tsc
        assert (tsc.present, tsc.invariant, tsc.unstable, tsc.skew) == (False, False,
                                                                         False, None)
        assert not any(getattr(tsc, name) for name in ("constant_tsc", "nonstop_tsc",
                                                       "tsc_known_freq", "tsc_reliable"))
        return
    with open(require_path("/proc/cpuinfo")) as f:
        flags = next(line for line in f if line.startswith("flags")).split(":")[1].split()
    tsc = report.tsc
    assert tsc.present == ("tsc" in flags)
    for name in ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable"):
        assert getattr(tsc, name) == (name in flags), name
    # The kernel lists the TSC as a clocksource unless it marked it unstable; where the
    # list cannot be read (no /sys), that is unknown.
    if report.available_clocksources is None:
        cmdline = (kernel.read_file("/proc/cmdline") or "").split()
        expected = (True if "tsc=unstable" in cmdline else None) if tsc.present else False
        assert tsc.unstable is expected
    else:
        assert tsc.unstable == (tsc.present and "tsc" not in report.available_clocksources)


def test_cpu_lists_and_governor_are_the_kernels(report):
    assert doctor._cpu_list("0-2,5,7-8") == (0, 1, 2, 5, 7, 8)
    assert doctor._cpu_list("") == ()
    assert doctor._format_cpus((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8"
    isolated = _sys(require_path("/sys/devices/system/cpu/isolated"))
    assert doctor._format_cpus(report.cpu.isolated) == isolated
    governor_file = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    if os.path.exists(governor_file):
        assert _sys(governor_file) in report.cpu.governor.split(",")
    else:  # the kernel shows CPU 0 without cpufreq: none, which is known
        assert report.cpu.governor == "none"


# -- NTP state against adjtimex through ctypes -------------------------------------------

class Timex(ctypes.Structure):
    """struct timex of <sys/timex.h> (64-bit Linux): the oracle's own declaration."""
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long),
                ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
                ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long),
                ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long),
                ("tai", ctypes.c_int), ("padding", ctypes.c_int * 11)]


def _adjtimex():
    buf = Timex()
    state = kernel.libc.adjtimex(ctypes.byref(buf))
    assert state >= 0, os.strerror(ctypes.get_errno())
    return state, buf


def test_ntp_state_is_adjtimexs():
    # maxerror grows by 500 us a second while unsynchronized: take ours between two
    # identical readings of the oracle.
    for _ in range(20):
        state, before = _adjtimex()
        ours = vdsotime.ntp_state()
        state_after, after = _adjtimex()
        fields = ("status", "offset", "freq", "maxerror", "esterror", "tai")
        if state == state_after and all(getattr(before, name) == getattr(after, name)
                                        for name in fields):
            break
    else:
        pytest.fail("adjtimex kept changing between two readings")
    STA_UNSYNC, STA_NANO = 0x0040, 0x2000
    assert ours.status == before.status
    assert ours.synchronized == (not before.status & STA_UNSYNC)
    assert ("STA_UNSYNC" in ours.flags) == (not ours.synchronized)
    assert ours.maxerror_ns == before.maxerror * 1000
    assert ours.esterror_ns == before.esterror * 1000
    assert ours.offset_ns == before.offset * (1 if before.status & STA_NANO else 1000)
    assert ours.frequency_ppm == before.freq / 65536
    assert ours.tai_offset_s == before.tai
    assert ours.clock_state == {0: "TIME_OK", 1: "TIME_INS", 2: "TIME_DEL", 3: "TIME_OOP",
                                4: "TIME_WAIT", 5: "TIME_ERROR"}[state]


def test_unsynchronized_clock_gets_a_recommendation(report):
    assert any("not synchronized" in line for line in report.recommendations) == (
        not report.ntp.synchronized)


# -- time namespaces -----------------------------------------------------------------------

def test_timens_offsets_of_a_process_in_a_time_namespace():
    # unshare --time (in a user namespace when not root), or a skip naming what is
    # missing, which fails under VDSOTIME_REQUIRE_ALL=1 as every optional tool does.
    require_path("/proc/self/timens_offsets")  # where unshare --time sets the offsets
    in_time_namespace = require_time_namespace()
    code = ("import json, vdsotime\n"
            "report = vdsotime.health(skew=False)\n"
            "print(json.dumps([report.timens_offsets, report.recommendations]))")
    import subprocess
    result = subprocess.run([*in_time_namespace, "--monotonic", "1000", "--boottime", "2000",
                             sys.executable, "-c", code],
                            capture_output=True, text=True, cwd="/", timeout=120)
    assert result.returncode == 0, result.stderr
    offsets, recommendations = json.loads(result.stdout)
    assert offsets == {"monotonic": 1000 * 10**9, "boottime": 2000 * 10**9}
    assert any("time namespace" in line for line in recommendations)


def test_timens_offsets_here_are_procs(report):
    expected = {}
    for line in _sys(require_path("/proc/self/timens_offsets")).splitlines():
        name, seconds, nanoseconds = line.split()
        expected[name] = int(seconds) * 10**9 + int(nanoseconds)
    assert report.timens_offsets == expected


# -- user space or system call -------------------------------------------------------------

def _row(clocks, clock_id):
    return next(clock for clock in clocks if clock.id == clock_id)


def test_user_space_verdict_on_this_machine(report):
    """The vDSO serves the wall and monotonic clocks from the TSC here (clocksource tsc)
    and never serves the CPU-time clocks: the seccomp probe says so, and it agrees with
    the costs (a clock read in user space costs well under half the system call; one
    that makes the system call costs about as much)."""
    abi.skip_timing_under_emulation("the vDSO serves these clocks in user space, faster "
                                    "than the system call")
    for clock in report.clocks:
        assert clock.method == "seccomp"
        ratio = clock.ns_per_call / clock.syscall_ns_per_call
        assert (ratio < 0.5) == clock.userspace, clock
    for name in ("CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_COARSE"):
        assert _row(report.clocks, kernel.ALL_CLOCKS[name]).userspace, name
    for name in ("CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID"):
        assert not _row(report.clocks, kernel.ALL_CLOCKS[name]).userspace, name


def test_timing_verdict_agrees_with_the_probe(monkeypatch):
    """Where seccomp is unavailable the verdict comes from the costs; here both exist,
    so they must agree."""
    abi.skip_timing_under_emulation("the costs agree with the seccomp probe")
    probed = doctor.clock_health()
    monkeypatch.setattr(doctor.probe, "syscall_probe",
                        lambda clock_ids: (None, "seccomp filters are unavailable"))
    timed = doctor.clock_health()
    assert [clock.method for clock in timed] == ["timing"] * len(timed)
    assert [clock.userspace for clock in timed] == [clock.userspace for clock in probed]



def test_interleaved_medians_run_the_measures_in_turn_and_take_each_median():
    calls = []

    def measure(key, values):
        values = iter(values)
        return lambda: calls.append(key) or next(values)

    medians = doctor.interleaved_medians({"a": measure("a", [5, 1, 3]),
                                          "b": measure("b", [10, 40, 20]),
                                          "c": measure("c", [2.5, 2.5, 9])}, 3)
    assert calls == ["a", "b", "c"] * 3  # A B C A B C ..., never A A A B B B
    assert medians == {"a": 3, "b": 20, "c": 2.5}
    assert doctor.interleaved_medians({"d": measure("d", [4, 1, 3, 2])}, 4) == {"d": 2.5}


def _spy_medians(monkeypatch, seen):
    """Replace doctor.interleaved_medians by a spy that records (measures, rounds) and
    answers each key with a figure of its own (1.0, 2.0, ... in order)."""
    def spy(measures, rounds):
        seen.append((dict(measures), rounds))
        return {key: float(index + 1) for index, key in enumerate(measures)}
    monkeypatch.setattr(doctor, "interleaved_medians", spy)


def test_doctor_costs_are_medians_of_the_clocks_commands_c_loops(monkeypatch):
    """The doctor's per-call and syscall figures are the medians of interleaved rounds of
    doctor.c_loop_ns and doctor.syscall_ns -- the measures of vdsotime clocks' C columns
    (test_cli checks that side) -- so the two commands report the same figure."""
    seen = []
    _spy_medians(monkeypatch, seen)
    rows = doctor.clock_health([vdsotime.CLOCK_MONOTONIC, vdsotime.CLOCK_BOOTTIME])
    [(measures, rounds)] = seen
    assert rounds == doctor.COST_ROUNDS
    for row in rows:
        through, syscall = measures[row.id, "vdsotime"], measures[row.id, "syscall"]
        assert (through.func, through.args) == (doctor.c_loop_ns, (row.id, doctor.COST_CALLS))
        assert (syscall.func, syscall.args) == (doctor.syscall_ns,
                                                (row.id, doctor.COST_CALLS // 10))
        keys = list(measures)
        assert row.ns_per_call == keys.index((row.id, "vdsotime")) + 1
        assert row.syscall_ns_per_call == keys.index((row.id, "syscall")) + 1
    assert "median of 15 interleaved rounds, as vdsotime clocks' C columns" in str(
        doctor.health(skew=False))


def test_other_processes_cpu_clock_is_a_system_call():
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        clock_id = kernel.process_cpu_clock(child.pid)
        (row,) = doctor.clock_health([clock_id])
        assert row.id == clock_id and row.userspace is False
    finally:
        child.kill()
        child.wait()


FORCED_LIBC = textwrap.dedent("""
    import json, vdsotime
    from vdsotime._health import doctor
    rows = doctor.clock_health()
    print(json.dumps([vdsotime.info().functions["clock_gettime"].backend,
                      {row.name: [row.userspace, row.method] for row in rows}]))
""")


def test_libc_backend_is_still_user_space():
    """VDSOTIME_DISABLE_VDSO=1 binds libc's clock_gettime, which calls the vDSO itself:
    still no system call for the clocks the vDSO serves."""
    abi.skip_timing_under_emulation("libc's clock_gettime served in user space")
    result = run_python(FORCED_LIBC, env={"VDSOTIME_DISABLE_VDSO": "1"})
    assert result.returncode == 0, result.stderr
    backend, rows = json.loads(result.stdout)
    assert backend == "libc"
    assert rows["CLOCK_MONOTONIC"] == [True, "seccomp"]
    assert rows["CLOCK_REALTIME"] == [True, "seccomp"]
    assert rows["CLOCK_PROCESS_CPUTIME_ID"] == [False, "seccomp"]


def test_probe_leaves_the_rest_of_the_process_alone():
    """The seccomp filter lives and dies with the probe thread."""
    doctor.clock_health([vdsotime.CLOCK_PROCESS_CPUTIME_ID])
    assert vdsotime.process_time_ns() > 0  # a system call, still allowed here
    assert kernel.clock_gettime_ns(vdsotime.CLOCK_PROCESS_CPUTIME_ID) > 0
    with open(require_path("/proc/self/status")) as f:
        assert "Seccomp:\t0" in f.read()


def test_syscall_clocksource_gets_the_recommendation():
    clocks = tuple(doctor.ClockHealth(name, clock_id, False, 610.0, 600.0, 20.0, "seccomp")
                   for name, clock_id in (("CLOCK_REALTIME", 0), ("CLOCK_MONOTONIC", 1)))
    tsc = doctor.TscHealth(True, True, "cpuid", True, True, True, False, False, None, None)
    ntp = vdsotime.ntp_state()._replace(synchronized=True, maxerror_ns=1000)
    cpu = doctor.CpuHealth("performance", False, (), ())
    lines = doctor.recommendations("hpet", ("tsc", "hpet"), clocks, tsc, ntp,
                                    {"monotonic": 0, "boottime": 0}, cpu)
    assert lines == (
        "clocksource hpet: the vDSO cannot read it, so every clock call is a syscall "
        "(~600 ns); if the TSC is reliable, boot with clocksource=tsc (or now: echo tsc > "
        f"{CLOCKSOURCE}/current_clocksource)",)
    # User-space clocks and a synchronized clock: nothing to say.
    fine = tuple(clock._replace(userspace=True) for clock in clocks)
    assert doctor.recommendations("tsc", ("tsc",), fine, tsc, ntp, None, cpu) == ()


# -- TSC skew ------------------------------------------------------------------------------

CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs to compare TSCs")
x86_only = pytest.mark.skipif(not abi.X86, reason=f"tsc_skew reads the time-stamp counter "
                              f"(rdtsc), x86's, not the {abi.ABI} ABI's")


def _skew(**kwargs):
    """tsc_skew(), tried again when a CPU answered no round in time: on a loaded shared
    machine a pinned thread can wait longer than the wait allows (the TimeoutError is the
    documented answer); what the tests check needs a measurement, not that moment."""
    for _ in range(4):
        try:
            return vdsotime.tsc_skew(**kwargs)
        except TimeoutError:
            continue
    return vdsotime.tsc_skew(**kwargs)


@needs_two_cpus
@x86_only
def test_tsc_skew_is_bounded_and_consistent_from_run_to_run():
    first, second = _skew(), _skew()
    for skew in (first, second):
        assert [offset.cpu for offset in skew.offsets] == CPUS
        assert skew.offsets[0][1:5] == (0.0, 0.0, 0, 0)
        for offset in skew.offsets[1:]:
            assert offset.rounds >= 2
            assert offset.low_ticks <= offset.high_ticks
            # The intersection is never wider than the fastest round.
            width_ns = (offset.high_ticks - offset.low_ticks) * skew.ns_per_tick
            assert width_ns <= offset.round_trip_ns + 1e-6
        assert skew.max_skew_ns == max(max(abs(offset.low_ns), abs(offset.high_ns))
                                       for offset in skew.offsets)
    # Both runs measured the same offsets: their bounds share a value.
    for a, b in zip(first.offsets, second.offsets):
        assert max(a.low_ticks, b.low_ticks) <= min(a.high_ticks, b.high_ticks), (a, b)


@needs_two_cpus
@x86_only
def test_tsc_skew_agrees_with_the_kernels_warp_check():
    """The kernel checked the TSCs for warps between CPUs before it made the TSC the
    clocksource; ours must find them ordered too."""
    if _sys(require_path(CURRENT)) != "tsc":
        pytest.skip("the kernel does not use the TSC as clocksource here")
    skew = _skew()
    assert skew.monotonic and skew.comparable
    assert all(offset.low_ticks <= 0 <= offset.high_ticks for offset in skew.offsets)


@needs_two_cpus
@x86_only
def test_ping_pong_rounds_are_causal():
    first, last, reply, seen, timed_out = skew_loop.tsc_ping_pong(CPUS[0], CPUS[1], 2000,
                                                               10**9)
    assert not timed_out and len(first) == 2000
    assert seen in ((CPUS[0], CPUS[1]), (-1, -1))
    first, last, reply = (a.view(np.int64) for a in (first, last, reply))
    assert np.all(last > first)  # each asker's own TSC moved on during its round
    # On a TSC the kernel trusts, the answer falls between the question and the reply.
    if kernel.read_file(CURRENT) == "tsc":
        assert np.all((first <= reply) & (reply <= last))


@x86_only
def test_ping_pong_wait_times_out():
    """Both threads on one CPU: every answer waits for a context switch, which outlasts
    a 1 ns timeout; the run ends instead of spinning."""
    first, _, _, _, timed_out = skew_loop.tsc_ping_pong(CPUS[0], CPUS[0], 1000, 10**9, 1)
    assert timed_out and len(first) < 1000


@pytest.mark.parametrize("cpus, rounds, error, words", [
    ([10**6], 100, ValueError, "cpus must be CPUs this process may run on"),
    ([CPUS[0], CPUS[0]], 100, ValueError, "lists CPU"),
    ([], 100, ValueError, "at least one CPU"),
    ("01", 100, TypeError, "cpus must be a list"),
    ([0.5], 100, TypeError, "cpus must be an integer"),
    (None, 1, ValueError, "rounds must be >= 2"),
])
@x86_only
def test_tsc_skew_bad_arguments(cpus, rounds, error, words):
    with pytest.raises(error, match=words):
        vdsotime.tsc_skew(cpus, rounds)


@pytest.mark.parametrize("skew", ["no", 0, None])
def test_health_refuses_a_skew_that_is_not_a_bool(skew):
    with pytest.raises(TypeError, match=r"health\(\): skew must be True or False, got "):
        vdsotime.health(skew=skew)


@x86_only
def test_tsc_skew_of_one_cpu_is_zero():
    skew = vdsotime.tsc_skew([CPUS[0]])
    assert skew.max_skew_ns == 0 and skew.monotonic and len(skew.offsets) == 1


SKEW_INTERRUPT = textwrap.dedent("""
    import os, time, vdsotime
    cpus = sorted(os.sched_getaffinity(0))[:2]
    calibration = vdsotime.calibrate_tsc()
    print("ready", flush=True)
    try:
        # Again and again: a run may end early by design (its rounds all done, or a wait
        # for the other CPU given up when the machine is loaded), and the signal must
        # find one running.
        while True:
            try:
                vdsotime.tsc_skew(cpus, 10**6, seconds=600, calibration=calibration)
            except TimeoutError:  # the other CPU answered no round: a loaded machine
                pass
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
""")


@needs_two_cpus
def test_ctrl_c_interrupts_tsc_skew():
    abi.require_x86("tsc_skew (rdtsc)")
    assert interrupt_child(SKEW_INTERRUPT) < 1.0


def test_a_failed_skew_measurement_is_reported_not_raised(monkeypatch):
    def starved(*args, **kwargs):
        raise TimeoutError("tsc_skew(): CPU 1 did not answer within 0.5 s")

    monkeypatch.setattr(doctor, "tsc_skew", starved)
    tsc = doctor.tsc_health(("tsc",), skew=True)
    if len(CPUS) < 2 or not tsc.present:
        assert tsc.skew_error is None  # nothing was attempted
        return
    assert tsc.skew is None and "did not answer" in tsc.skew_error
