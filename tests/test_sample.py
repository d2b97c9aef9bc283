"""The bulk samplers: correctness against the raw syscall, the GIL released (proved by
interleaving), bad input, Ctrl-C, memory, and TSC calibration with generous bounds."""

import os
import re
import subprocess
import sys
import textwrap
import threading
import time as stdlib_time
import tracemalloc

import numpy as np
import pytest

import vdsotime
from vdsotime._core import hw
from vdsotime._loops import driver, sample

import abi
import kernel
from oracle import interrupt_child, interrupted_child
from requires import require_path


@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_sample_lies_between_two_syscalls_and_never_goes_back(name):
    clock_id = kernel.ALL_CLOCKS[name]
    before = kernel.clock_gettime_ns(clock_id)
    readings = vdsotime.sample(100_000, clock_id)
    after = kernel.clock_gettime_ns(clock_id)
    assert readings.dtype == np.int64 and readings.shape == (100_000,)
    assert before <= readings[0] and readings[-1] <= after
    assert np.all(np.diff(readings) >= 0)


def test_sample_default_clock_is_monotonic():
    before = kernel.clock_gettime_ns(1)
    readings = vdsotime.sample(1000)
    assert before <= readings[0] <= readings[-1] <= kernel.clock_gettime_ns(1)


def test_sample_spans_many_chunks():
    n = 3 * (1 << 16) + 123  # several chunks and a ragged end
    readings = vdsotime.sample(n)
    assert len(readings) == n and np.all(np.diff(readings) >= 0)
    assert readings[-1] > 0


def test_out_is_filled_in_place():
    out = np.zeros(5000, dtype=np.int64)
    result = vdsotime.sample(out=out)
    assert result is out and np.all(out > 0)
    out[:] = 0
    part = vdsotime.sample(100, out=out)
    assert np.shares_memory(part, out) and len(part) == 100
    assert np.all(out[:100] > 0) and np.all(out[100:] == 0)
    if hw.HAVE_TSC:  # (elsewhere sample_tsc refuses: test_tsc_functions_refuse_without_a_tsc)
        ticks = np.zeros(64, dtype=np.uint64)
        assert vdsotime.sample_tsc(out=ticks) is ticks and \
            np.all(np.diff(ticks.astype(np.int64)) >= 0)
    pairs = np.zeros(64, dtype=sample.TIME_CPU_DTYPE)
    assert vdsotime.sample_cpu(out=pairs) is pairs and np.all(pairs["t_ns"] > 0)


def test_zero_samples():
    assert vdsotime.sample(0).shape == (0,)
    if hw.HAVE_TSC:
        assert vdsotime.sample_tsc(0).shape == (0,)
    assert vdsotime.sample_cpu(0).shape == (0,)
    assert vdsotime.sample_every(1000, 0).shape == (0,)


# The byte order that is not this machine's (">" here, "<" on s390x).
SWAPPED = "<" if sys.byteorder == "big" else ">"

BAD_INPUTS = [
    (lambda: vdsotime.sample(), TypeError, r"give n \(the number of samples\) or out"),
    (lambda: vdsotime.sample(-1), ValueError, r"sample\(\): n must be >= 0, got -1"),
    (lambda: vdsotime.sample(1.5), TypeError, r"n must be an integer, got float"),
    (lambda: vdsotime.sample("10"), TypeError, r"n must be an integer, got str"),
    (lambda: vdsotime.sample(10, 99), OSError, r"Invalid argument"),
    (lambda: vdsotime.sample(10, 1.0), TypeError, r"clock_id must be an integer"),
    (lambda: vdsotime.sample(10, 2**40), OverflowError, r"clock_id must fit in a C int"),
    (lambda: vdsotime.sample(out=[0] * 4), TypeError, r"out must be a numpy array of int64, got list"),
    (lambda: vdsotime.sample(True), TypeError, r"sample\(\): n must be an integer, got bool"),
    (lambda: vdsotime.sample(out=np.zeros((4, 4))), TypeError,
     r"sample\(\): out must be a writeable 1-D C-contiguous int64 array \(aligned, native "
     r"byte order\), got float64 with shape \(4, 4\)"),
    (lambda: vdsotime.sample(out=np.zeros((4, 4), np.int64)), ValueError,
     r"1-D C-contiguous int64 array \(aligned, native byte order\), got int64 with shape \(4, 4\)"),
    (lambda: vdsotime.sample(out=np.zeros(8, np.int64)[::2]), ValueError,
     r"got non-contiguous int64 with shape \(4,\)"),
    (lambda: vdsotime.sample(out=np.zeros(4, np.int64).view(f"{SWAPPED}i8")), ValueError,
     rf"got byte-swapped {SWAPPED}i8 with shape \(4,\)"),
    (lambda: vdsotime.sample(out=_misaligned(np.int64)), ValueError,
     r"got misaligned int64 with shape \(4,\)"),
    (lambda: vdsotime.sample_tsc(out=_misaligned(np.uint64)), ValueError,
     r"sample_tsc\(\): .* got misaligned uint64"),
    (lambda: vdsotime.sample_tsc(out=np.zeros(4, np.uint64).view(f"{SWAPPED}u8")),
     ValueError, rf"sample_tsc\(\): .* got byte-swapped {SWAPPED}u8"),
    (lambda: vdsotime.sample(out=np.zeros(4, np.uint64)), TypeError, r"got uint64"),
    (lambda: vdsotime.sample(out=_read_only(4)), ValueError, r"got read-only int64"),
    (lambda: vdsotime.sample(10, out=np.zeros(4, np.int64)), ValueError,
     r"n is 10 but out has only 4 elements"),
    (lambda: vdsotime.sample_tsc(out=np.zeros(4, np.int64)), TypeError,
     r"sample_tsc\(\): out must be a writeable 1-D C-contiguous uint64 array .*, got int64"),
    (lambda: vdsotime.sample_tsc(-5), ValueError, r"sample_tsc\(\): n must be >= 0"),
    (lambda: vdsotime.sample_cpu(out=np.zeros(4, np.int64)), TypeError,
     r"sample_cpu\(\): out must be .*structured \[\('t_ns', int64\), \('cpu', int32\)\]"),
    (lambda: vdsotime.sample_cpu(4, -99), OSError, r"Invalid argument"),
    (lambda: vdsotime.sample_every(0, 10), ValueError, r"period_ns must be >= 1, got 0"),
    (lambda: vdsotime.sample_every(-5, 10), ValueError, r"period_ns must be >= 1, got -5"),
    (lambda: vdsotime.sample_every(1e6, 10), TypeError, r"period_ns must be an integer"),
    (lambda: vdsotime.sample_every(1000, -1), ValueError, r"n must be >= 0"),
    (lambda: vdsotime.sample_every(1000, None), TypeError, r"n must be an integer, got NoneType"),
    (lambda: vdsotime.sample_every(1000, True), TypeError, r"n must be an integer, got bool"),
    (lambda: vdsotime.sample_every(2**61, 10), ValueError, r"overflows"),
    (lambda: vdsotime.sample_every(1000, 10, 99), OSError, r"Invalid argument"),
]


def _misaligned(dtype):
    """Four elements at byte offset 1 of a uint8 buffer: a view numpy marks unaligned."""
    array = np.zeros(4 * 8 + 1, np.uint8)[1:].view(dtype)
    assert not array.flags.aligned
    return array


def _read_only(n):
    array = np.zeros(n, np.int64)
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("index", range(len(BAD_INPUTS)))
def test_bad_input_is_a_clear_error(index):
    call, error, message = BAD_INPUTS[index]
    if "tsc" in message:
        abi.require_x86("sample_tsc (rdtsc)")
    with pytest.raises(error, match=message):
        call()
    assert len(vdsotime.sample(10)) == 10  # and the process carries on


def _mem_available():
    with open(require_path("/proc/meminfo")) as f:
        return next(int(line.split()[1]) * 1024 for line in f
                    if line.startswith("MemAvailable:"))


# Counts that fit in Py_ssize_t but whose arrays this build cannot address, or this
# machine cannot hold now: refused before allocating, naming the argument.
HUGE = sys.maxsize // 4
HUGE_COUNTS = [
    (lambda n: vdsotime.sample(n), "sample(): n="),
    (lambda n: vdsotime.sample_tsc(n), "sample_tsc(): n="),
    (lambda n: vdsotime.sample_cpu(n), "sample_cpu(): n="),
    (lambda n: vdsotime.sample_every(1, n), "sample_every(): n="),
    (lambda n: vdsotime.calibrate_tsc(bursts=n), "calibrate_tsc(): bursts="),
]


@pytest.mark.parametrize("index", range(len(HUGE_COUNTS)))
def test_counts_whose_arrays_cannot_be_held_are_refused_naming_the_argument(index):
    call, named = HUGE_COUNTS[index]
    if "tsc" in named and not hw.HAVE_TSC:
        pytest.skip("no time-stamp counter on this machine")
    with pytest.raises(ValueError, match=re.escape(named) + r"[\d,]+ needs .* GiB, more "
                       r"than this \d+-bit build can address"):
        call(HUGE)
    twice_what_is_free = 2 * _mem_available() // 8 + 1
    if twice_what_is_free <= HUGE:
        with pytest.raises(ValueError, match=re.escape(named) + r"[\d,]+ needs .* GiB for "
                           r"its samples; this machine has .* GiB available"):
            call(twice_what_is_free)
    assert len(vdsotime.sample(10)) == 10  # and the process carries on


def _progress_of_a_python_thread(action):
    """How many times a pure-Python thread went round its loop while ``action`` ran in
    this thread. A thread can only run Python while this one does not hold the GIL."""
    counter = [0]
    stop = threading.Event()
    started = threading.Event()

    def count():
        started.set()
        while not stop.is_set():
            counter[0] += 1

    thread = threading.Thread(target=count)
    thread.start()
    started.wait()
    try:
        before = counter[0]
        action()
        return counter[0] - before
    finally:
        stop.set()
        thread.join()


def test_samplers_release_the_gil():
    """A Python thread keeps making progress while sample() runs: the loop does not hold
    the GIL. The control is the same thread's progress while this one sleeps (the GIL
    free), measured in alternation with the samples; holding the GIL for a whole call
    would leave the other thread with almost nothing (it can only run between chunks)."""
    out = np.empty(5_000_000, dtype=np.int64)  # about 0.2 s of sampling
    during, control = [], []
    for _ in range(3):
        start = stdlib_time.monotonic()
        during.append(_progress_of_a_python_thread(lambda: vdsotime.sample(out=out)))
        length = stdlib_time.monotonic() - start
        control.append(_progress_of_a_python_thread(lambda: stdlib_time.sleep(length)))
    assert np.median(during) > 0.2 * np.median(control), (during, control)


def test_many_threads_sample_at_once():
    results = [None] * 8

    def work(k):
        results[k] = vdsotime.sample(200_000)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for readings in results:
        assert np.all(np.diff(readings) >= 0)


INTERRUPT_CHILD = textwrap.dedent("""
    import sys, time, vdsotime, numpy
    kind = sys.argv[1]
    calls = {
        "sample": lambda: vdsotime.sample(out=numpy.empty(3 * 10**8, numpy.int64)),
        "sample_tsc": lambda: vdsotime.sample_tsc(out=numpy.empty(10**9, numpy.uint64)),
        "sample_cpu": lambda: vdsotime.sample_cpu(
            out=numpy.empty(3 * 10**8, vdsotime.sample_cpu(0).dtype)),
        "sample_every": lambda: vdsotime.sample_every(10**9, 1000),
    }
    vdsotime.sample(10)
    print("ready", flush=True)
    try:
        calls[kind]()
        print("finished")
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
""")


@pytest.mark.parametrize("kind", ["sample", "sample_tsc", "sample_cpu", "sample_every"])
def test_ctrl_c_interrupts_within_half_a_second(kind):
    if kind == "sample_tsc":
        abi.require_x86("sample_tsc (rdtsc)")
    assert interrupt_child(INTERRUPT_CHILD, kind) < 0.5


def test_peak_memory_is_the_output_array():
    vdsotime.sample(10)  # warm up
    n = 2_000_000
    tracemalloc.start()
    try:
        vdsotime.sample(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 8 * n <= peak < 8 * n + 64 * 1024


def test_tsc_functions_refuse_without_a_tsc():
    """Elsewhere than x86 the TSC functions raise NotImplementedError naming the
    function and the machine, before they allocate or loop."""
    if abi.X86:
        pytest.skip("x86 has a time-stamp counter: the TSC tests run instead")
    assert hw.HAVE_TSC is False and hw.tsc_present() is False
    assert hw.tsc_invariant() == (False, "no time-stamp counter on this architecture")
    for call, name in [(lambda: vdsotime.sample_tsc(10), "sample_tsc"),
                       (lambda: vdsotime.calibrate_tsc(0.01), "calibrate_tsc")]:
        with pytest.raises(NotImplementedError,
                           match=rf"^{name}\(\) reads the x86 time-stamp counter \(rdtsc\); "
                                 rf"this machine is {re.escape(os.uname().machine)}$"):
            call()


def test_sample_tsc_is_monotonic_and_advances():
    abi.require_x86("sample_tsc (rdtsc)")
    ticks = vdsotime.sample_tsc(100_000)
    assert ticks.dtype == np.uint64
    assert np.all(np.diff(ticks.astype(np.int64)) >= 0)
    assert ticks[-1] > ticks[0]


def test_sample_cpu_records_the_pinned_cpu():
    import os

    original = os.sched_getaffinity(0)
    try:
        for cpu in sorted(original):
            os.sched_setaffinity(0, {cpu})
            pairs = vdsotime.sample_cpu(20_000)
            assert pairs.dtype.names == ("t_ns", "cpu")
            assert pairs.dtype["t_ns"] == np.int64 and pairs.dtype["cpu"] == np.int32
            assert np.all(pairs["cpu"] == cpu), (cpu, np.unique(pairs["cpu"]))
            assert np.all(np.diff(pairs["t_ns"]) >= 0)
    finally:
        os.sched_setaffinity(0, original)
    assert vdsotime.info().cpu_source == sample.CPU_SOURCE in ("rdpid", "rdtscp", "getcpu")


def test_sample_every_paces():
    """The schedule, exactly: sample i is never taken before start + i * period, where
    start is a reading taken inside the call (so after ``before``). Whether a busy-wait is
    on time depends on the machine's load; being early never does. (The catch-up rule
    after a late sample is checked exactly under a mock clock in tests/test_mock.py.)"""
    period = 200_000  # 0.2 ms
    before = kernel.clock_gettime_ns(1)
    times = vdsotime.sample_every(period, 200)
    after = kernel.clock_gettime_ns(1)
    assert times.dtype == np.int64 and times.shape == (200,)
    assert before <= times[0] and times[-1] <= after
    assert np.all(np.diff(times) > 0)
    # (int64: numpy's default integer is 32-bit on a 32-bit ABI)
    assert np.all(times >= before + np.arange(200, dtype=np.int64) * period)


def test_calibrate_tsc_accuracy():
    abi.require_x86("calibrate_tsc (rdtsc)")
    abi.skip_timing_under_emulation("the TSC calibration's accuracy")
    calibration = vdsotime.calibrate_tsc(0.05)
    assert isinstance(calibration, vdsotime.TscCalibration)
    assert 0.1 < calibration.ghz < 10
    assert calibration.residual_ns < 1000 and calibration.pairs > 100
    middles, ticks, widths = driver.tsc_pairs(50, 16, 10_000)
    errors = calibration.to_ns(ticks) - middles
    assert errors.dtype == np.int64
    # The goal is 1 us; the bound here is generous for a busy CI machine.
    assert np.max(np.abs(errors)) < 20_000, errors


def test_calibration_drift_over_a_second():
    abi.require_x86("calibrate_tsc (rdtsc)")
    abi.skip_timing_under_emulation("the TSC calibration's drift")
    calibration = vdsotime.calibrate_tsc(0.05)
    stdlib_time.sleep(1.0)
    middles, ticks, _ = driver.tsc_pairs(20, 16, 10_000)
    drift = np.median(calibration.to_ns(ticks) - middles)
    assert abs(drift) < 20_000  # 20 ppm over 1 s: generous against the 1 ppm goal


def test_to_ns_is_vectorised_and_exact():
    calibration = vdsotime.TscCalibration(
        ns_per_tick=0.5, ticks0=1000, ns0=10**12, residual_ns=1.0, max_residual_ns=2.0,
        pairs=100, seconds=0.05, invariant=True, invariant_source="test")
    assert calibration.to_ns(1000) == 10**12
    assert calibration.to_ns(3000) == 10**12 + 1000
    assert calibration.to_ns(0) == 10**12 - 500  # before the calibration point
    ticks = np.array([1000, 1002, 2**53], dtype=np.uint64)
    assert list(calibration.to_ns(ticks)) == [10**12, 10**12 + 1, 10**12 + (2**53 - 1000) // 2]
    with pytest.raises(TypeError, match="ticks must be integers"):
        calibration.to_ns(np.array([1.5]))
    assert calibration.ghz == 2.0


@pytest.mark.parametrize("seconds,error", [(-1, ValueError), (float("nan"), ValueError),
                                           (0, ValueError), ("1", TypeError),
                                           (True, TypeError), (10**6, ValueError)])
def test_calibrate_tsc_bad_seconds(seconds, error):
    abi.require_x86("calibrate_tsc (rdtsc)")
    with pytest.raises(error, match="seconds must be"):
        vdsotime.calibrate_tsc(seconds)


def test_calibrate_tsc_warns_when_the_tsc_is_not_invariant(monkeypatch):
    abi.require_x86("calibrate_tsc (rdtsc)")
    from vdsotime._loops import tsc

    monkeypatch.setattr(tsc.hw, "tsc_invariant", lambda: (False, "test says so"))
    with pytest.warns(vdsotime.TscWarning, match="test says so"):
        calibration = vdsotime.calibrate_tsc(0.01)
    assert calibration.invariant is False


def test_tsc_invariant_agrees_with_proc_cpuinfo():
    abi.require_x86("the invariant TSC")
    flags = set()
    for line in open(require_path("/proc/cpuinfo")):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    # The machines this project runs on (and CI) have an invariant TSC.
    assert {"constant_tsc", "nonstop_tsc"} <= flags
    invariant, source = hw.tsc_invariant()
    assert invariant, source


# -- loops that must end: stopped clocks, dead clocks, Ctrl-C, partial results -------------

# Children restore the default SIGINT handler first: pytest may have been started with
# SIGINT ignored (nohup, a background shell), and children inherit that.
STOPPED_CLOCK_CHILD = textwrap.dedent("""
    import signal, threading, time, vdsotime
    signal.signal(signal.SIGINT, signal.default_int_handler)
    event = threading.Event()
    sleeper = threading.Thread(target=event.wait)
    sleeper.start()
    clock = time.pthread_getcpuclockid(sleeper.ident)  # stands still while it sleeps
    vdsotime.sample_every(1000, 1, clock)
    print("ready", flush=True)
    try:
        # 1000 samples 1 ms apart on the sleeper's CPU clock: it never gets there.
        vdsotime.sample_every(1_000_000, 1000, clock)
        print("finished")
    except KeyboardInterrupt as exc:
        # Nothing was due yet: the first sample waits for 1 ms of the sleeper's CPU time.
        print("interrupted" if len(exc.partial_result) <= 1 else "wrong", time.monotonic(),
              flush=True)
    event.set()
""")


def test_sample_every_on_a_stopped_clock_answers_ctrl_c():
    assert interrupt_child(STOPPED_CLOCK_CHILD, timeout=10) < 1.0


DYING_CLOCK_CHILD = textwrap.dedent("""
    import errno, sys, threading, time
    import numpy, vdsotime

    def attempt():
        go = threading.Event()

        def work():
            go.wait()
            end = time.monotonic() + 0.2
            while time.monotonic() < end:  # busy: its CPU clock runs, then it exits
                pass

        worker = threading.Thread(target=work)
        worker.start()
        clock = time.pthread_getcpuclockid(worker.ident)
        go.set()
        try:
            if sys.argv[1] == "sample_every":
                # 1000 s of the worker's CPU time, 0.1 ms apart: it dies long before.
                vdsotime.sample_every(100_000, 10**7, clock)
            else:
                # Each read of a CPU clock is a system call: 2 * 10**7 take seconds.
                vdsotime.sample(out=numpy.empty(2 * 10**7, numpy.int64), clock_id=clock)
            return "finished"
        except OSError as exc:
            if not hasattr(exc, "partial_result"):
                # Refused before the loop began, or its first reading failed: this process
                # stalled for the worker's whole life (a loaded machine, or emulation), so
                # the clock did not die mid-run. Try again.
                assert ("is not a clock this kernel knows" in str(exc)
                        or "failed: Invalid argument" in str(exc)), exc
                worker.join()
                return None
            partial = exc.partial_result
            if len(partial) == 0:  # the loop began, but its first reading failed: again
                worker.join()
                return None
            return " ".join(map(str, (exc.errno == errno.EINVAL, len(partial) > 0,
                                      bool(numpy.all(numpy.diff(partial) >= 0)), exc)))

    for tries in range(10):
        outcome = attempt()
        if outcome is not None:
            print(outcome)
            break
    else:
        print("the worker died before the loop began ten times in a row")
""")


@pytest.mark.parametrize("kind", ["sample_every", "sample"])
def test_a_clock_that_dies_mid_run_raises_einval(kind):
    """The CPU clock of a thread that exits becomes invalid: its readings are -EINVAL,
    not times. The loop stops there with OSError(EINVAL) and the readings so far."""
    result = subprocess.run([sys.executable, "-c", DYING_CLOCK_CHILD, kind],
                            capture_output=True, text=True, timeout=60, cwd="/")
    words = result.stdout.split(maxsplit=3)
    assert words[:3] == ["True", "True", "True"], result.stdout + result.stderr
    assert f"{kind}(): reading clock_id" in words[3]


CALIBRATE_CHILD = textwrap.dedent("""
    import signal, time, vdsotime
    signal.signal(signal.SIGINT, signal.default_int_handler)
    vdsotime.calibrate_tsc(0.01)
    print("ready", flush=True)
    try:
        vdsotime.calibrate_tsc(3)
        print("finished")
    except KeyboardInterrupt:
        print("interrupted", time.monotonic(), flush=True)
""")


@pytest.mark.skipif(not hw.HAVE_TSC, reason="no time-stamp counter on this machine")
def test_calibrate_tsc_answers_ctrl_c_within_half_a_second():
    assert interrupt_child(CALIBRATE_CHILD, after=0.5) < 0.5


# One burst of 10**8 tries (each two clock reads and a fenced rdtsc) takes seconds: the
# deadline is checked inside a burst too, not only between bursts.
LONG_BURST_CHILD = CALIBRATE_CHILD.replace("vdsotime.calibrate_tsc(3)",
                                           "vdsotime.calibrate_tsc(0.01, tries=10**8)")


@pytest.mark.skipif(not hw.HAVE_TSC, reason="no time-stamp counter on this machine")
def test_calibrate_tsc_with_long_bursts_answers_ctrl_c_within_half_a_second():
    assert interrupt_child(LONG_BURST_CHILD, after=0.5, timeout=120) < 0.5


PARTIAL_CHILD = textwrap.dedent("""
    import signal, time, numpy, vdsotime
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out = numpy.zeros(3 * 10**8, numpy.int64)
    vdsotime.sample(10)
    print("ready", flush=True)
    try:
        vdsotime.sample(out=out)
        print("finished")
    except KeyboardInterrupt as exc:
        partial = exc.partial_result
        filled = int(numpy.count_nonzero(out))
        print("interrupted", time.monotonic(), len(partial), filled,
              numpy.shares_memory(partial, out), bool(numpy.all(numpy.diff(partial) >= 0)),
              flush=True)
""")


def test_ctrl_c_keeps_the_readings_taken_so_far():
    """exc.partial_result is the part of out already filled: exactly the nonzero prefix."""
    _, words = interrupted_child(PARTIAL_CHILD)
    length, filled = int(words[2]), int(words[3])
    assert 0 < length == filled < 3 * 10**8
    assert words[4:] == ["True", "True"]
