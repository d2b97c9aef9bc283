"""The second ABI at run time: vdsotime as a 32-bit i386 program.

The i386 leg (tools/legs: ``pytest --legs=i386``, tests/test_legs.py) builds vdsotime
into a manylinux i686 wheel in a Debian i386 root (a 32-bit CPython whose time_t is
32-bit) and runs the suite from it under ``setarch i686``. These tests run there, inside
the root, against the live i386 vDSO (linux-gate.so.1), with the time64 system calls as
the oracle (tests/kernel.py: clock_gettime64 is nr 403); elsewhere they skip.
"""

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vdsotime
from vdsotime._core import hw, vdso

import kernel
from requires import missing, require_path

TESTS = str(Path(__file__).resolve().parent)

inside = pytest.mark.skipif(kernel.ABI != "i386",
                            reason="runs inside the i386 leg (pytest --legs=i386)")


@inside
def test_info_shows_the_elf32_vdso_and_clock_gettime64():
    info = vdsotime.info()
    assert (info.present, info.elf_class, info.machine, info.soname) == (
        True, 32, "i386", "linux-gate.so.1")
    # The case this leg is for: libc's time_t is 32-bit (bookworm i386, as manylinux
    # i686), and vdsotime binds __vdso_clock_gettime64 all the same.
    assert vdso.TIME_T_BITS == 32 and ctypes.sizeof(ctypes.c_void_p) == 4
    assert info.fallback_reason is None
    image = vdso.live_image()
    bindings = info.functions
    for function, symbol in (("clock_gettime", "__vdso_clock_gettime64"),
                             ("getcpu", "__vdso_getcpu")):
        binding = bindings[function]
        assert (binding.backend, binding.symbol, binding.version, binding.reason) == (
            "vdso", symbol, "LINUX_2.6", None)
        assert binding.address == info.base + image.lookup(symbol, "LINUX_2.6").value
    getres = bindings["clock_getres"]
    assert (getres.backend, getres.symbol) == ("vdso", "__vdso_clock_getres")
    assert "shim" in getres.reason
    for function in ("gettimeofday", "time"):
        binding = bindings[function]
        assert (binding.backend, binding.symbol) == ("vdso", "__vdso_clock_gettime64")
        assert binding.reason.startswith("computed from clock_gettime(CLOCK_REALTIME")


@inside
@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_every_clock_between_two_clock_gettime64_syscalls(name):
    assert kernel.SYSCALLS["clock_gettime"] == 403  # clock_gettime64, 64-bit seconds
    clock_id = kernel.ALL_CLOCKS[name]
    for _ in range(2000):
        before = kernel.clock_gettime_ns(clock_id)
        value = vdsotime.clock_gettime_ns(clock_id)
        after = kernel.clock_gettime_ns(clock_id)
        assert before <= value <= after, (before, value, after)


def _vdso_function(name, restype, *argtypes):
    """The live vDSO's own ``name``, called as the 32-bit ABI defines it."""
    info = vdsotime.info()
    symbol = vdso.live_image().lookup(name, "LINUX_2.6")
    return ctypes.CFUNCTYPE(restype, *argtypes)(info.base + symbol.value)


class _OldTimespec32(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int32), ("tv_nsec", ctypes.c_int32)]


@inside
@pytest.mark.parametrize("name", sorted(kernel.ALL_CLOCKS))
def test_clock_getres_through_the_shim_is_the_kernels(name):
    clock_id = kernel.ALL_CLOCKS[name]
    expected = kernel.clock_getres_ns(clock_id)  # clock_getres_time64, nr 406
    assert kernel.SYSCALLS["clock_getres"] == 406
    assert vdsotime.clock_getres_ns(clock_id) == expected
    old = _OldTimespec32()
    vdso_getres = _vdso_function("__vdso_clock_getres", ctypes.c_int, ctypes.c_int,
                                 ctypes.POINTER(_OldTimespec32))
    assert vdso_getres(clock_id, ctypes.byref(old)) == 0
    assert old.tv_sec * 10**9 + old.tv_nsec == expected


@inside
def test_gettimeofday_and_time_are_clock_gettime64s():
    # gettimeofday: CLOCK_REALTIME in microseconds; time: the second of
    # CLOCK_REALTIME_COARSE, which is what the vDSO's own (32-bit) time() returns today.
    ours = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(vdsotime.address("time"))
    vdso_time = _vdso_function("__vdso_time", ctypes.c_int32, ctypes.c_void_p)
    stored = ctypes.c_int64()
    for _ in range(2000):
        before = kernel.clock_gettime_ns(0) // 1000
        sec, usec = vdsotime.gettimeofday()
        after = kernel.clock_gettime_ns(0) // 1000
        assert 0 <= usec < 10**6 and before <= sec * 10**6 + usec <= after
        before = kernel.clock_gettime_ns(vdsotime.CLOCK_REALTIME_COARSE) // 10**9
        first = vdso_time(None)
        value = ours(ctypes.byref(stored))
        last = vdso_time(None)
        after = kernel.clock_gettime_ns(vdsotime.CLOCK_REALTIME_COARSE) // 10**9
        assert before <= first <= value == stored.value <= last <= after


@inside
def test_samplers():
    import numpy as np

    before = kernel.clock_gettime_ns(1)
    readings = vdsotime.sample(100_000)
    pairs = vdsotime.sample_cpu(10_000)
    paced = vdsotime.sample_every(100_000, 50)
    after = kernel.clock_gettime_ns(1)
    for values in (readings, pairs["t_ns"], paced):
        assert before <= values[0] and values[-1] <= after
        assert np.all(np.diff(values) >= 0)
    assert np.all((pairs["cpu"] >= 0) & (pairs["cpu"] < os.cpu_count()))
    # sample i is the first reading at or after start + i * period, start >= before
    assert np.all(paced >= before + np.arange(50) * 100_000)
    if hw.HAVE_TSC:
        ticks = vdsotime.sample_tsc(10_000)
        assert np.all(np.diff(ticks.astype(np.int64)) >= 0)
        assert vdsotime.calibrate_tsc().ns_per_tick > 0
    else:  # this build reads no time-stamp counter: it says so
        for call in (lambda: vdsotime.sample_tsc(10), vdsotime.calibrate_tsc):
            with pytest.raises(NotImplementedError, match="x86-64"):
                call()


# A monotonic offset beyond 2**31 s: a 32-bit time_t cannot hold the namespace's times.
OFFSET_S = 2_200_000_000

# The child joins a new time namespace with that offset (setns into its own
# time_for_children: the kernel remaps its vDSO data page) once it has done its imports
# -- and compiled its numba code, whose compiler reads CPython's 32-bit clocks.
ENTER = textwrap.dedent("""
    import ctypes, os, sys
    sys.path.insert(0, sys.argv[1])

    def enter_time_namespace(seconds):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x80) != 0:  # CLONE_NEWTIME
            sys.exit(f"unshare(CLONE_NEWTIME): {os.strerror(ctypes.get_errno())}")
        with open("/proc/self/timens_offsets", "w") as offsets:
            offsets.write(f"monotonic {seconds} 0\\n")
        namespace = os.open("/proc/self/ns/time_for_children", os.O_RDONLY)
        if libc.setns(namespace, 0x80) != 0:
            sys.exit(f"setns(time_for_children): {os.strerror(ctypes.get_errno())}")
""")

IN_NAMESPACE = ENTER + textwrap.dedent("""
    import errno, time
    import kernel, vdsotime
    enter_time_namespace(sys.argv[2])
    before = kernel.clock_gettime_ns(1)
    value = vdsotime.monotonic_ns()
    readings = vdsotime.sample(1000)
    seconds = vdsotime.clock_gettime(1)
    after = kernel.clock_gettime_ns(1)
    try:
        time.clock_gettime_ns(1)
        stdlib = "ok"
    except OSError as exc:
        stdlib = errno.errorcode[exc.errno]
    print(before, value, int(readings[0]), int(readings[-1]), seconds, after, stdlib)
""")

NUMBA_IN_NAMESPACE = ENTER + textwrap.dedent("""
    import kernel
    from numba import njit
    from vdsotime.numba import monotonic_ns

    @njit
    def read():
        return monotonic_ns()

    read()
    enter_time_namespace(sys.argv[2])
    before = kernel.clock_gettime_ns(1)
    value = read()
    after = kernel.clock_gettime_ns(1)
    print(before, value, after)
""")


def _in_time_namespace(code):
    require_path("/proc/self/timens_offsets")  # the child writes its offsets there
    # setns() into a time namespace wants a single-threaded process: no BLAS thread pool.
    single = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code, TESTS, str(OFFSET_S)],
                            capture_output=True, text=True, timeout=600, cwd="/",
                            env=single)
    if result.returncode != 0 and "(CLONE_NEWTIME)" in result.stderr:
        missing(f"needs time namespaces (root, CONFIG_TIME_NS): {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


@inside
def test_monotonic_beyond_2_31_seconds_in_a_time_namespace():
    before, value, first, last, seconds, after, stdlib = _in_time_namespace(IN_NAMESPACE)
    before, value, first, last, after = map(int, (before, value, first, last, after))
    # Right to the nanosecond: between two clock_gettime64 system calls.
    assert before <= value <= first <= last <= after
    assert value >= OFFSET_S * 10**9 > 2**31 * 10**9
    assert OFFSET_S <= float(seconds) <= after / 1e9
    # Where a 32-bit time_t wraps: CPython's own time module on this build.
    assert stdlib == "EOVERFLOW"


@inside
def test_numba_intrinsics_beyond_2_31_seconds():
    try:
        import numba  # noqa: F401
    except ImportError:
        missing("needs numba: apt-get install python3-numba (in the i386 root)")
    before, value, after = map(int, _in_time_namespace(NUMBA_IN_NAMESPACE))
    assert before <= value <= after and value >= OFFSET_S * 10**9
