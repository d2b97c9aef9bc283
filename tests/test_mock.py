"""vdsotime.testing.mock_clock: every path that reads a clock through vdsotime sees mock
time (Python, samplers, a cimporting extension, numba, a C extension holding the capsule),
mock time is thread-safe, and the real clocks come back on exit."""

import os
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import vdsotime
from vdsotime._core import vdso
from vdsotime.testing import MockClock, mock_clock

import kernel
from oracle import build_extension, interrupt_child, run_python
from requires import require_module

TESTS = str(Path(__file__).parent)
START = 1_000_000_000_000


def _real_again():
    """The table reads the kernel's clocks again: readings between two syscalls."""
    for clock_id in (vdsotime.CLOCK_MONOTONIC, vdsotime.CLOCK_REALTIME):
        before = kernel.clock_gettime_ns(clock_id)
        value = vdsotime.clock_gettime_ns(clock_id)
        assert before <= value <= kernel.clock_gettime_ns(clock_id)
    seconds, _ = vdsotime.gettimeofday()
    assert abs(seconds - kernel.clock_gettime_ns(0) // 10**9) <= 1


# -- Python scalars --------------------------------------------------------------------

def test_python_scalars_read_mock_time():
    with mock_clock(start_ns=START) as clock:
        assert vdsotime.monotonic_ns() == START
        assert vdsotime.time_ns() == START
        assert vdsotime.perf_counter_ns() == START
        assert vdsotime.clock_gettime_ns(vdsotime.CLOCK_BOOTTIME) == START
        assert vdsotime.monotonic() == START / 1e9
        clock.advance(1_500_000_123)
        assert vdsotime.monotonic_ns() == START + 1_500_000_123
        assert vdsotime.realtime_coarse_ns() == START + 1_500_000_123
        assert vdsotime.gettimeofday() == ((START + 1_500_000_123) // 10**9, 500_000)
        assert vdsotime.clock_gettime(vdsotime.CLOCK_TAI) == pytest.approx(1001.500000123)
        assert clock.elapsed_ns == 1_500_000_123
    _real_again()


def test_each_clock_keeps_its_own_offset():
    with mock_clock(start_ns=START) as clock:
        clock.set(1_700_000_000 * 10**9)                       # the wall clock steps
        clock.set(5 * 10**9, vdsotime.CLOCK_MONOTONIC_RAW)
        clock.advance(10)
        assert vdsotime.time_ns() == 1_700_000_000 * 10**9 + 10
        assert vdsotime.monotonic_ns() == START + 10           # not moved by the step
        assert vdsotime.monotonic_raw_ns() == 5 * 10**9 + 10
        assert vdsotime.time_ns() - vdsotime.monotonic_ns() == 1_700_000_000 * 10**9 - START


def test_default_start_is_each_clocks_real_reading():
    before = {clock_id: kernel.clock_gettime_ns(clock_id) for clock_id in (0, 1, 7)}
    with mock_clock():
        after = {clock_id: kernel.clock_gettime_ns(clock_id) for clock_id in (0, 1, 7)}
        for clock_id in (0, 1, 7):
            assert before[clock_id] <= vdsotime.clock_gettime_ns(clock_id) <= after[clock_id]
        frozen = vdsotime.monotonic_ns()
        assert vdsotime.monotonic_ns() == frozen


def test_step_makes_every_reading_distinct():
    with mock_clock(start_ns=0, step_ns=3):
        readings = [vdsotime.monotonic_ns(), vdsotime.time_ns(), vdsotime.monotonic_ns()]
        assert readings == [0, 3, 6]


def test_mock_time_is_thread_safe():
    """With step_ns=1 every reading takes the next mock nanosecond: threads sampling at
    once without the GIL never take the same value twice, and none is lost (each
    sample() call also reads the clock once to check it before its loop)."""
    results = {}

    def work(index):
        results[index] = vdsotime.sample(200_000)

    with mock_clock(start_ns=0, step_ns=1):
        threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = vdsotime.monotonic_ns()
    readings = np.concatenate(list(results.values()))
    assert np.unique(readings).size == len(readings)
    assert total == len(readings) + len(threads) and readings.max() < total
    for part in results.values():
        assert np.all(np.diff(part) > 0)


def test_other_clocks_and_errors_stay_the_kernels():
    with mock_clock(start_ns=START):
        with pytest.raises(OSError) as error:
            vdsotime.clock_gettime_ns(12)                      # the kernel has no clock 12
        assert error.value.errno == kernel.clock_gettime_errno(12)
        # Another process's CPU clock reads the real clock.
        clock_id = kernel.process_cpu_clock(os.getppid())
        before = kernel.clock_gettime_ns(clock_id)
        value = vdsotime.clock_gettime_ns(clock_id)
        assert before <= value <= kernel.clock_gettime_ns(clock_id)
        # Resolution: the real clock's.
        for clock_id in (1, 5):
            assert vdsotime.clock_getres_ns(clock_id) == kernel.clock_getres_ns(clock_id)


def test_table_is_restored_after_an_exception():
    pointers = [vdsotime.address(name) for name in vdso.API_FUNCTIONS]
    with pytest.raises(ZeroDivisionError):
        with mock_clock(start_ns=START):
            assert vdsotime.monotonic_ns() == START
            1 / 0
    _real_again()
    assert _table_pointers() == pointers


def _table_pointers():
    import ctypes
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = ctypes.cast(get_pointer(vdso.function_table, vdso.CAPSULE_NAME.encode()),
                        ctypes.POINTER(ctypes.c_void_p * 5))
    return list(table.contents)


def test_nesting_is_refused_and_leaves_the_outer_mock_alone():
    with mock_clock(start_ns=START) as outer:
        with pytest.raises(RuntimeError, match="nesting"):
            with mock_clock(start_ns=5):
                pass
        outer.advance(1)
        assert vdsotime.monotonic_ns() == START + 1
    _real_again()


def test_reachable_as_an_attribute_after_import_vdsotime():
    result = run_python("import sys, vdsotime\n"
                        "with vdsotime.testing.mock_clock(start_ns=5):\n"
                        "    print(vdsotime.monotonic_ns(), 'numpy' in sys.modules)")
    assert result.stdout.split() == ["5", "False"], result.stderr


def test_mock_clock_outside_its_block_refuses():
    with mock_clock() as clock:
        pass
    with pytest.raises(RuntimeError, match="not active"):
        clock.advance(1)
    assert isinstance(clock, MockClock) and "inactive" in repr(clock)


@pytest.mark.parametrize("call, error, words", [
    (lambda: mock_clock(start_ns=-1), ValueError, "start_ns must be >= 0"),
    (lambda: mock_clock(step_ns=0.5), TypeError, "step_ns must be an integer"),
    (lambda: mock_clock(start_ns=2**62), ValueError, "start_ns must be below"),
])
def test_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_bad_advance_and_set():
    with mock_clock() as clock:
        with pytest.raises(ValueError, match="ns must be >= 0"):
            clock.advance(-1)
        with pytest.raises(ValueError, match="not a mocked clock"):
            clock.set(0, 12)
        with pytest.raises(TypeError, match="clock_id must be an integer"):
            clock.set(0, "x")


# -- samplers ---------------------------------------------------------------------------

def test_samplers_read_mock_time():
    with mock_clock(start_ns=START, step_ns=5):
        readings = vdsotime.sample(1000)
        assert readings[0] > START and np.all(np.diff(readings) == 5)
        pairs = vdsotime.sample_cpu(10)
        assert pairs["t_ns"][0] > readings[-1] and np.all(np.diff(pairs["t_ns"]) == 5)
        paced = vdsotime.sample_every(100, 5)
        # Each sample is the first reading (they come 5 ns apart) at or after its target.
        assert paced[0] > pairs["t_ns"][-1] and np.all(np.abs(np.diff(paced) - 100) <= 5)


def test_bench_sees_mock_time_on_the_monotonic_timer_only():
    """bench(timer="monotonic") reads the table's clock: under a frozen mock every call
    takes 0 ns. Its default timer, the TSC where it is invariant, is never mocked."""
    from vdsotime._bench import engine

    with mock_clock(start_ns=START):
        frozen = vdsotime.bench(sum, range(100), n=200, timer="monotonic")
        assert not frozen.samples_ns.any() and frozen.overhead_ns == 0
        if engine.choose_timer("bench", None) == "tsc":
            real = vdsotime.bench(sum, range(100), n=200)
            assert real.metadata["timer"] == "tsc" and np.median(real.samples_ns) > 0


def test_frozen_mock_cannot_hang_jitter():
    """jitter() lasts real seconds (its deadline is the real CLOCK_MONOTONIC); the frozen
    clock it reads never shows a gap."""
    with mock_clock(start_ns=START):
        before = kernel.clock_gettime_ns(1)
        result = vdsotime.jitter(0.05)
        elapsed = kernel.clock_gettime_ns(1) - before
    assert result.loops > 0 and len(result.gaps) == 0 and result.start_ns == START
    assert elapsed >= 50_000_000


FROZEN_SAMPLE_EVERY = textwrap.dedent("""
    import time, vdsotime
    from vdsotime.testing import mock_clock
    vdsotime.sample_every(1000, 2)  # load the samplers (and numpy) first
    with mock_clock(start_ns=10**12):
        print("ready", flush=True)
        try:
            vdsotime.sample_every(1000, 10)   # mock time never reaches the second sample
            print("finished")
        except KeyboardInterrupt as exc:
            print("interrupted" if len(exc.partial_result) == 1 else "wrong", time.monotonic(),
                  flush=True)
""")


def test_frozen_mock_sample_every_answers_ctrl_c():
    assert interrupt_child(FROZEN_SAMPLE_EVERY) < 1.0


# -- cimport, numba, the capsule -------------------------------------------------------------

CIMPORT_PYX = textwrap.dedent("""
    # cython: language_level=3
    from vdsotime.clock cimport monotonic_ns, realtime_ns, clock_gettime_ns, CLOCK_BOOTTIME

    def read():
        cdef long long a, b, c
        with nogil:
            a = monotonic_ns()
            b = realtime_ns()
            c = clock_gettime_ns(CLOCK_BOOTTIME)
        return a, b, c
""")

CIMPORT_SETUP = textwrap.dedent("""
    from setuptools import setup, Extension
    from Cython.Build import cythonize
    import vdsotime
    setup(name="mocked", ext_modules=cythonize([Extension("mocked", ["mocked.pyx"])],
          include_path=[vdsotime.get_include()], quiet=True))
""")

CAPSULE_C = textwrap.dedent("""
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    #include <vdsotime/vdsotime.h>

    static PyObject *read_clocks(PyObject *self, PyObject *unused)
    {
        const vdsotime_function_table *clocks = vdsotime_import();
        vdsotime_timespec ts;  /* 64-bit seconds on every ABI, as the table writes them */
        vdsotime_timeval tv;
        if (clocks == NULL)
            return NULL;
        if (clocks->clock_gettime(CLOCK_MONOTONIC, &ts) != 0
                || clocks->gettimeofday(&tv, NULL) != 0)
            return PyErr_Format(PyExc_OSError, "clock read failed");
        return Py_BuildValue("LLL", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
                             (long long)tv.tv_sec, (long long)clocks->time(NULL));
    }

    static PyMethodDef methods[] = {
        {"read", read_clocks, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "capsuled", NULL, -1, methods};
    PyMODINIT_FUNC PyInit_capsuled(void) { return PyModule_Create(&module); }
""")

CAPSULE_SETUP = textwrap.dedent("""
    from setuptools import setup, Extension
    import vdsotime
    setup(name="capsuled", ext_modules=[Extension("capsuled", ["capsuled.c"],
          include_dirs=[vdsotime.get_include()])])
""")


@pytest.fixture(scope="module")
def extensions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mocked")
    for files, setup_py in (({"mocked.pyx": CIMPORT_PYX}, CIMPORT_SETUP),
                            ({"capsuled.c": CAPSULE_C}, CAPSULE_SETUP)):
        build = build_extension(folder, files, setup_py)
        assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    return folder


ALL_PATHS_CHILD = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, sys.argv[2])
    import numba, vdsotime, mocked, capsuled
    import vdsotime.numba as vn
    from vdsotime.testing import mock_clock
    import kernel

    @numba.njit
    def jitted():
        return vn.monotonic_ns(), vn.time_ns()

    jitted()  # compile outside the mock
    with mock_clock(start_ns=7 * 10**12) as clock:
        clock.advance(123)
        inside = {"cimport": mocked.read(), "capsule": capsuled.read(), "numba": jitted(),
                  "python": vdsotime.monotonic_ns(), "sample": int(vdsotime.sample(1)[0])}
    before = kernel.clock_gettime_ns(1)
    outside = {"cimport": mocked.read()[0], "capsule": capsuled.read()[0],
               "numba": jitted()[0], "python": vdsotime.monotonic_ns()}
    after = kernel.clock_gettime_ns(1)
    print(json.dumps([inside, outside, before, after]))
""")


def test_all_five_paths_see_the_mock(extensions):
    import json
    result = run_python(ALL_PATHS_CHILD, str(extensions), TESTS, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    inside, outside, before, after = json.loads(result.stdout)
    mock = 7 * 10**12 + 123
    assert inside == {"cimport": [mock, mock, mock], "capsule": [mock, 7000, 7000],
                      "numba": [mock, mock], "python": mock, "sample": mock}
    for path, value in outside.items():
        assert before <= value <= after, path


# -- freezegun and time-machine: independent mocks --------------------------------------

def test_freezegun_does_not_reach_vdsotime_nor_the_reverse():
    freezegun = require_module("freezegun", "freezegun")
    import time
    names = set(vars(time))
    try:
        with freezegun.freeze_time("2001-02-03 04:05:06"):
            assert time.time() == 981173106.0
            before = kernel.clock_gettime_ns(0)
            assert before <= vdsotime.time_ns() <= kernel.clock_gettime_ns(0)
    finally:
        # freezegun leaves time.clock = None behind on Python 3 (its stop() restores a
        # clock the module no longer has): take it away, so later tests see the real
        # time module.
        for name in set(vars(time)) - names:
            delattr(time, name)
    with mock_clock(start_ns=START):
        before = kernel.clock_gettime_ns(0)
        assert before <= time.time_ns() <= kernel.clock_gettime_ns(0)
        assert vdsotime.time_ns() == START


def test_time_machine_does_not_reach_vdsotime():
    time_machine = require_module("time_machine", "time-machine")
    import time
    with time_machine.travel(981173106, tick=False):
        assert time.time() == 981173106.0
        before = kernel.clock_gettime_ns(0)
        assert before <= vdsotime.time_ns() <= kernel.clock_gettime_ns(0)
        with mock_clock(start_ns=981173106 * 10**9):           # both, with matching starts
            assert vdsotime.time() == time.time() == 981173106.0
