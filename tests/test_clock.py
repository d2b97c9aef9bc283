"""The Python clock API against the kernel's own answers (raw system calls)."""

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time as stdlib_time

import numpy as np
import pytest

import vdsotime
from vdsotime._core import clocks

import kernel
from oracle import NEUTRAL_CWD, run_python
from requires import require_time_namespace

NS_FUNCTIONS = {
    "time_ns": 0, "monotonic_ns": 1, "perf_counter_ns": 1, "process_time_ns": 2,
    "thread_time_ns": 3, "monotonic_raw_ns": 4, "realtime_coarse_ns": 5,
    "monotonic_coarse_ns": 6, "boottime_ns": 7, "tai_ns": 11,
}
FLOAT_FUNCTIONS = {"time": 0, "monotonic": 1, "perf_counter": 1, "process_time": 2,
                   "thread_time": 3}


def sandwich(read, clock_id, rounds=2000, tolerance=0):
    """Every reading lies between two raw-syscall readings of the same clock."""
    for _ in range(rounds):
        before = kernel.clock_gettime_ns(clock_id)
        value = read()
        after = kernel.clock_gettime_ns(clock_id)
        assert before - tolerance <= value <= after + tolerance, (before, value, after)


def test_constants_are_the_time_modules():
    for name, value in kernel.ALL_CLOCKS.items():
        # (the time module of older Pythons lacks some of them)
        assert getattr(vdsotime, name) == value == getattr(stdlib_time, name, value)


@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_clock_gettime_ns_between_two_syscalls(name):
    clock_id = kernel.ALL_CLOCKS[name]
    sandwich(lambda: vdsotime.clock_gettime_ns(clock_id), clock_id)


@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_clock_gettime_seconds_between_two_syscalls(name):
    clock_id = kernel.ALL_CLOCKS[name]
    # A double holds about 16 digits: allow its rounding at the reading's magnitude.
    tolerance = kernel.clock_gettime_ns(clock_id) * 2.0 ** -51 + 1
    sandwich(lambda: vdsotime.clock_gettime(clock_id) * 1e9, clock_id, tolerance=tolerance)


@pytest.mark.parametrize("name", sorted(NS_FUNCTIONS))
def test_named_ns_functions(name):
    clock_id = NS_FUNCTIONS[name]
    function = getattr(vdsotime, name)
    value = function()
    assert type(value) is int
    sandwich(function, clock_id)


@pytest.mark.parametrize("name", sorted(FLOAT_FUNCTIONS))
def test_named_float_functions(name):
    clock_id = FLOAT_FUNCTIONS[name]
    function = getattr(vdsotime, name)
    assert type(function()) is float
    tolerance = kernel.clock_gettime_ns(clock_id) * 2.0 ** -51 + 1
    sandwich(lambda: function() * 1e9, clock_id, tolerance=tolerance)


def _time_module_conversion():
    """CPython's own ns -> float seconds conversion, the one time.time(), monotonic(),
    perf_counter() and process_time() use (public from 3.13, private before)."""
    import ctypes

    for name in ("PyTime_AsSecondsDouble", "_PyTime_AsSecondsDouble"):
        function = getattr(ctypes.pythonapi, name, None)
        if function is not None:
            function.restype = ctypes.c_double
            function.argtypes = [ctypes.c_int64]
            return function
    pytest.fail("this Python exports no PyTime_AsSecondsDouble")


def test_float_conversion_is_the_time_modules_exactly():
    convert = _time_module_conversion()
    rng = np.random.default_rng(11)
    values = [0, 1, -1, 999_999_999, 1_000_000_000, 1_000_000_001, 2**53, 2**53 + 1,
              2**62, -2**62, 1_700_000_000_000_000_000, 1_700_000_000_123_456_789]
    values += [int(v) for v in rng.integers(-2**62, 2**62, size=2000)]
    values += [int(v) * 1_000_000_000 for v in rng.integers(-2**30, 2**30, size=200)]
    values += [vdsotime.monotonic_ns() for _ in range(200)] + [vdsotime.time_ns()]
    for value in values:
        assert clocks.ns_to_seconds(value) == convert(value), value


@pytest.mark.parametrize("name", ["time", "monotonic", "perf_counter", "process_time",
                                  "thread_time"])
def test_float_clocks_use_that_conversion(name):
    """Each float clock lies between the conversions of two kernel readings around it
    (the conversion is monotonic, so a wrong one -- truncating, or to another clock --
    falls outside whenever the sandwich is tight, which a few tries make sure of)."""
    clock_id = {"time": 0, "monotonic": 1, "perf_counter": 1, "process_time": 2,
                "thread_time": 3}[name]
    function = getattr(vdsotime, name)
    for _ in range(100):
        before = kernel.clock_gettime_ns(clock_id)
        value = function()
        after = kernel.clock_gettime_ns(clock_id)
        assert clocks.ns_to_seconds(before) <= value <= clocks.ns_to_seconds(after)
        if before == after:  # a frozen instant: the value must be exactly its conversion
            assert value == clocks.ns_to_seconds(before)


def test_clock_gettime_float_equals_the_time_modules_on_a_frozen_clock():
    """clock_gettime() against time.clock_gettime() on the same nanoseconds: the CPU clock
    of a sleeping thread stands still, so both read one value. Over 200 threads (200
    values of a few hundred microseconds, where a different rounding shows often).

    A new thread's clock runs until the thread blocks in wait(), which on a busy machine
    can be after start() returns: a pair read while it still moved is read again."""
    for _ in range(200):
        event = threading.Event()
        sleeper = threading.Thread(target=event.wait)
        sleeper.start()
        try:
            clock_id = stdlib_time.pthread_getcpuclockid(sleeper.ident)
            for _attempt in range(1000):
                ns = vdsotime.clock_gettime_ns(clock_id)
                ours = vdsotime.clock_gettime(clock_id)
                theirs = stdlib_time.clock_gettime(clock_id)
                if stdlib_time.clock_gettime_ns(clock_id) == ns:  # frozen throughout
                    break
                stdlib_time.sleep(0.001)
            else:
                pytest.fail("the CPU clock of a thread blocked in wait() kept moving")
            assert ours == theirs, (ns, ours, theirs)
        finally:
            event.set()
            sleeper.join()


@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_clock_getres_equals_the_syscall(name):
    clock_id = kernel.ALL_CLOCKS[name]
    expected = kernel.clock_getres_ns(clock_id)
    assert vdsotime.clock_getres_ns(clock_id) == expected
    assert vdsotime.clock_getres(clock_id) == pytest.approx(expected / 1e9, rel=1e-12)


@pytest.mark.parametrize("clock_id", [-1, -2, -7, 8, 9, 10, 12, 16, 99, 1000,
                                      2**31 - 1, -2**31])
def test_invalid_ids_behave_as_the_syscall(clock_id):
    expected = kernel.clock_gettime_errno(clock_id)
    for function in (vdsotime.clock_gettime_ns, vdsotime.clock_gettime):
        if expected:
            with pytest.raises(OSError) as info:
                function(clock_id)
            assert info.value.errno == expected
            assert info.value.strerror == os.strerror(expected)
        else:
            function(clock_id)
    getres_errno = 0
    try:
        kernel.clock_getres_ns(clock_id)
    except OSError as exc:
        getres_errno = exc.errno
    if getres_errno:
        with pytest.raises(OSError) as info:
            vdsotime.clock_getres_ns(clock_id)
        assert info.value.errno == getres_errno


def test_an_invalid_id_is_einval_like_the_time_module():
    with pytest.raises(OSError) as ours:
        vdsotime.clock_gettime_ns(99)
    with pytest.raises(OSError) as theirs:
        stdlib_time.clock_gettime_ns(99)
    assert ours.value.errno == theirs.value.errno == errno.EINVAL
    assert str(ours.value) == str(theirs.value)
    assert vdsotime.monotonic_ns() > 0  # the process carries on


@pytest.mark.parametrize("bad", [1.0, 1.5, "1", b"1", None, [1], object()])
def test_non_integer_ids_are_type_errors(bad):
    for function in (vdsotime.clock_gettime_ns, vdsotime.clock_gettime,
                     vdsotime.clock_getres_ns, vdsotime.clock_getres):
        with pytest.raises(TypeError, match="clock_id must be an integer"):
            function(bad)


def test_integer_like_ids_are_accepted():
    class Index:
        def __index__(self):
            return 1

    assert vdsotime.clock_gettime_ns(True) > 0  # bool is an int, as for the time module
    assert vdsotime.clock_gettime_ns(Index()) > 0
    for huge in (2**31, -2**31 - 1, 2**80):
        with pytest.raises(OverflowError, match="clock_id must fit in a C int"):
            vdsotime.clock_gettime_ns(huge)


def test_gettimeofday_between_two_syscalls():
    for _ in range(2000):
        before = kernel.clock_gettime_ns(0) // 1000
        sec, usec = vdsotime.gettimeofday()
        after = kernel.clock_gettime_ns(0) // 1000
        assert 0 <= usec < 1_000_000
        assert before <= sec * 1_000_000 + usec <= after


def test_getcpu_follows_affinity():
    original = os.sched_getaffinity(0)
    try:
        for cpu in sorted(original):
            os.sched_setaffinity(0, {cpu})
            for _ in range(200):
                assert vdsotime.getcpu() == kernel.getcpu()
                assert vdsotime.getcpu()[0] == cpu
    finally:
        os.sched_setaffinity(0, original)


def test_time_module_drop_in():
    code = textwrap.dedent("""
        import vdsotime as time
        start = time.perf_counter()
        time.sleep(0.01)
        assert time.perf_counter() - start >= 0.01
        assert time.strftime("%Y", time.gmtime(0)) == "1970"
        assert isinstance(time.time(), float) and isinstance(time.monotonic_ns(), int)
        assert time.CLOCK_MONOTONIC == 1
        try:
            time.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        print("ok")
    """)
    result = run_python(code)
    assert result.stdout.strip() == "ok", result.stderr


def test_every_name_of_the_time_module_is_forwarded():
    """Private names too (code reads time._STRUCT_TM_ITEMS); dunders stay vdsotime's."""
    own = set(vars(vdsotime))
    forwarded = [name for name in dir(stdlib_time)
                 if not (name.startswith("__") and name.endswith("__")) and name not in own]
    assert "_STRUCT_TM_ITEMS" in forwarded and "sleep" in forwarded
    for name in forwarded:
        assert getattr(vdsotime, name) is getattr(stdlib_time, name), name
    assert vdsotime._STRUCT_TM_ITEMS == stdlib_time._STRUCT_TM_ITEMS
    assert vdsotime.__name__ == "vdsotime" and vdsotime.__doc__ != stdlib_time.__doc__
    with pytest.raises(AttributeError, match="module 'vdsotime' has no attribute '__loader"):
        vdsotime.__loader_of_time__
    with pytest.raises(AttributeError, match="'_no_such_private_name'"):
        vdsotime._no_such_private_name


def test_dir_lists_the_forwarded_names():
    names = dir(vdsotime)
    assert names == sorted(set(names))
    for name in dir(stdlib_time):
        if not (name.startswith("__") and name.endswith("__")):
            assert name in names, name
    assert {"sample", "bench", "monotonic_ns", "__version__"} <= set(names)


def test_vdsotime_in_place_of_the_time_module():
    """sys.modules["time"] = vdsotime makes a whole program use its clocks; the forwarded
    names still reach the real time module (they used to recurse forever)."""
    code = textwrap.dedent("""
        import sys, vdsotime
        sys.modules["time"] = vdsotime
        import time
        assert time is vdsotime
        time.sleep(0)
        assert time.strftime("%Y", time.gmtime(0)) == "1970"
        assert time._STRUCT_TM_ITEMS == 11
        import timeit  # stdlib code that imports time after the swap
        assert timeit.default_timer is vdsotime.perf_counter
        print("ok")
    """)
    result = run_python(code)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_vdsotime_imported_again_after_taking_the_time_modules_place():
    """After sys.modules["time"] = vdsotime, a reload (IPython's autoreload) or a fresh
    import of vdsotime finds vdsotime under the name time; forwarded names must still
    reach the real module, not recurse."""
    code = textwrap.dedent("""
        import importlib, sys, vdsotime
        real = sys.modules["time"]
        sys.modules["time"] = vdsotime
        importlib.reload(vdsotime)
        vdsotime.sleep(0)
        assert vdsotime.strftime is real.strftime and vdsotime._STRUCT_TM_ITEMS == 11
        del sys.modules["vdsotime"]
        import vdsotime as fresh
        assert fresh is not vdsotime
        fresh.sleep(0)
        assert fresh.strftime is real.strftime and "sleep" in dir(fresh)
        print("ok")
    """)
    result = run_python(code)
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_forked_child_reads_correctly():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report failures through the exit status
        status = 1
        try:
            os.close(read)
            sandwich(vdsotime.monotonic_ns, 1, rounds=500)
            sandwich(vdsotime.time_ns, 0, rounds=500)
            os.write(write, str(vdsotime.monotonic_ns()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    reported = int(os.read(read, 64) or b"0")
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert 0 < reported <= kernel.clock_gettime_ns(1)


def test_time_namespace_offsets():
    """In a time namespace with +1000 s on CLOCK_MONOTONIC and CLOCK_BOOTTIME, the
    vDSO readings carry the offsets (the kernel gives the namespace its own vvar page)."""
    in_time_namespace = require_time_namespace()
    code = ("import vdsotime\n"
            "print(vdsotime.monotonic_ns(), vdsotime.boottime_ns(), vdsotime.time_ns(),"
            " vdsotime.clock_gettime_ns(vdsotime.CLOCK_MONOTONIC_RAW))")
    before = [kernel.clock_gettime_ns(c) for c in (1, 7, 0, 4)]
    result = subprocess.run([*in_time_namespace, "--monotonic", "1000",
                             "--boottime", "1000", sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60, cwd=NEUTRAL_CWD)
    after = [kernel.clock_gettime_ns(c) for c in (1, 7, 0, 4)]
    assert result.returncode == 0, result.stderr
    inside = [int(x) for x in result.stdout.split()]
    offset = 1000 * 10**9
    assert before[0] + offset <= inside[0] <= after[0] + offset     # monotonic: shifted
    assert before[1] + offset <= inside[1] <= after[1] + offset     # boottime: shifted
    assert before[2] <= inside[2] <= after[2]                       # realtime: not shifted
    assert before[3] + offset <= inside[3] <= after[3] + offset     # raw follows monotonic


def test_many_threads_stay_monotonic():
    barrier = threading.Barrier(8)
    failures = []

    def worker():
        barrier.wait()
        last = 0
        for _ in range(50_000):
            now = vdsotime.monotonic_ns()
            if now < last:
                failures.append((last, now))
            last = now
        if not kernel.clock_gettime_ns(1) >= last:
            failures.append(("after", last))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_thread_time_is_per_thread():
    result = {}

    def worker():
        start = vdsotime.thread_time_ns()
        sandwich(vdsotime.thread_time_ns, 3, rounds=200)
        result["spent"] = vdsotime.thread_time_ns() - start

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert 0 < result["spent"] < vdsotime.process_time_ns()
