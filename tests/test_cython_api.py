"""The cimportable API: a third-party extension built against the installed clock.pxd,
and a snapshot of the C signatures vdsotime exports (a change must fail loudly)."""

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import vdsotime
from vdsotime._core import vdso

import kernel
from oracle import build_extension

DOWNSTREAM_PYX = textwrap.dedent("""
    # cython: language_level=3
    from libc.stdint cimport int64_t
    from vdsotime.clock cimport (monotonic_ns, clock_gettime_ns, clock_gettime,
                                 clock_getres_ns, getcpu, gettimeofday, realtime_ns, time,
                                 timespec, timeval, CLOCK_MONOTONIC)

    def read_all():
        cdef int64_t a, b, c, res, bad
        cdef timespec ts
        cdef int status
        cdef unsigned int cpu, node
        with nogil:
            a = monotonic_ns()
            b = clock_gettime_ns(CLOCK_MONOTONIC)
            status = clock_gettime(CLOCK_MONOTONIC, &ts)
            c = monotonic_ns()
            res = clock_getres_ns(CLOCK_MONOTONIC)
            bad = clock_gettime_ns(99)
            getcpu(&cpu, &node)
        return a, b, status, ts.tv_sec * 1000000000 + ts.tv_nsec, c, res, bad, cpu

    def realtime():
        # time(), gettimeofday() and realtime_ns(), in that order; the sizes of the
        # seconds they hand out, which are 64-bit on every ABI.
        cdef int64_t seconds, ns
        cdef timeval tv
        cdef timespec ts
        cdef int status
        with nogil:
            seconds = time()
            status = gettimeofday(&tv)
            ns = realtime_ns()
        return (seconds, status, tv.tv_sec * 1000000 + tv.tv_usec, ns,
                sizeof(ts.tv_sec), sizeof(ts.tv_nsec), sizeof(tv.tv_sec), sizeof(time()))

    def loop(Py_ssize_t n):
        cdef Py_ssize_t i
        cdef int64_t last = 0, now
        cdef Py_ssize_t backwards = 0
        with nogil:
            for i in range(n):
                now = monotonic_ns()
                if now < last:
                    backwards += 1
                last = now
        return backwards
""")

SETUP_PY = textwrap.dedent("""
    from setuptools import setup, Extension
    from Cython.Build import cythonize
    import vdsotime
    setup(name="downstream", ext_modules=cythonize(
        [Extension("downstream", ["downstream.pyx"])],
        include_path=[vdsotime.get_include()], quiet=True))
""")


def test_downstream_extension_cimports_clock_pxd(tmp_path):
    build = build_extension(tmp_path, {"downstream.pyx": DOWNSTREAM_PYX}, SETUP_PY)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import downstream\n"
            "print(*downstream.read_all()); print(downstream.loop(200000))\n"
            "print(*downstream.realtime())")
    before = kernel.clock_gettime_ns(1)
    before_coarse, before_realtime = kernel.clock_gettime_ns(5), kernel.clock_gettime_ns(0)
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd="/",
                            capture_output=True, text=True, timeout=60)
    after_realtime, after_coarse = kernel.clock_gettime_ns(0), kernel.clock_gettime_ns(5)
    after = kernel.clock_gettime_ns(1)
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    a, b, status, ts, c, res, bad, cpu = map(int, first.split())
    assert before <= a <= b <= ts <= c <= after
    assert status == 0
    assert res == kernel.clock_getres_ns(1)
    assert bad == -22  # -EINVAL for an invalid clock, never an exception
    assert 0 <= cpu < os.cpu_count()
    assert int(second) == 0
    seconds, status, us, ns, *sizes = map(int, third.split())
    assert status == 0 and sizes == [8, 8, 8, 8]
    # time() is the second of CLOCK_REALTIME_COARSE (the kernel's xtime), as the vDSO's
    # time() reads it and as vdsotime computes it where that has 32-bit seconds.
    assert before_coarse // 10**9 <= seconds <= after_coarse // 10**9
    assert before_realtime // 1000 <= us <= ns // 1000 <= ns <= after_realtime


def test_pxd_files_are_installed():
    package = Path(vdsotime.__file__).parent
    for name in ("clock.pxd", "_core/vdso.pxd", "_core/elf.pxd", "_core/validate.pxd",
                 "_core/hw.pxd", "_core/keys.pxi", "_loops/driver.pxd"):
        assert (package / name).is_file(), f"{name} is not in the installed package"
    assert os.path.isdir(os.path.join(vdsotime.get_include(), "vdsotime"))


def _capsule_name(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    return get_name(capsule).decode()


# The C-level contract of vdsotime._core.vdso, as Cython exports it: the module path and
# the struct's mangled name are compiled into every extension built against clock.pxd.
# A change here is an ABI change for all of them: bump the version and say so.
EXPORTED = {
    "table": "struct __pyx_t_8vdsotime_5_core_4vdso_FunctionTable",
    "import_table": "struct __pyx_t_8vdsotime_5_core_4vdso_FunctionTable",
    "clock_gettime_failed": "int (clockid_t, vdsotime_timespec *, int)",
    "clock_getres_failed": "int (clockid_t, vdsotime_timespec *, int)",
    "gettimeofday_failed": "int (vdsotime_timeval *, int)",
    "getcpu_failed": "int (unsigned int *, unsigned int *, int)",
    "sys_clock_gettime": "int (clockid_t, vdsotime_timespec *)",
    "sys_clock_getres": "int (clockid_t, vdsotime_timespec *)",
}


def test_exported_c_signatures_snapshot():
    exported = {name: _capsule_name(capsule) for name, capsule in vdso.__pyx_capi__.items()}
    assert exported == EXPORTED


C_EXTENSION = textwrap.dedent("""
    #define PY_SSIZE_T_CLEAN
    #include <Python.h>
    #include <vdsotime/vdsotime.h>

    static const vdsotime_function_table *clocks;

    /* 64-bit seconds on every ABI: the header's types, checked where they are used. */
    _Static_assert(sizeof(vdsotime_timespec) == 16
                   && sizeof(((vdsotime_timespec *)0)->tv_sec) == 8,
                   "vdsotime_timespec has 64-bit seconds");
    _Static_assert(sizeof(clocks->time(NULL)) == 8, "time() returns 64-bit seconds");

    static PyObject *read_monotonic(PyObject *self, PyObject *unused)
    {
        vdsotime_timespec ts;
        int result = clocks->clock_gettime(CLOCK_MONOTONIC, &ts);
        return Py_BuildValue("iLI", result, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
                             clocks->from_vdso);
    }

    static PyObject *pointers(PyObject *self, PyObject *unused)
    {
        return Py_BuildValue("KKKKK", (unsigned long long)(uintptr_t)clocks->clock_gettime,
                             (unsigned long long)(uintptr_t)clocks->clock_getres,
                             (unsigned long long)(uintptr_t)clocks->gettimeofday,
                             (unsigned long long)(uintptr_t)clocks->time,
                             (unsigned long long)(uintptr_t)clocks->getcpu);
    }

    static PyMethodDef methods[] = {
        {"read_monotonic", read_monotonic, METH_NOARGS, NULL},
        {"pointers", pointers, METH_NOARGS, NULL},
        {NULL, NULL, 0, NULL},
    };
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cdownstream", NULL, -1, methods};

    PyMODINIT_FUNC PyInit_cdownstream(void)
    {
        clocks = vdsotime_import();
        if (clocks == NULL)
            return NULL;
        return PyModule_Create(&module);
    }
""")

C_SETUP_PY = textwrap.dedent("""
    from setuptools import setup, Extension
    import vdsotime
    setup(name="cdownstream", ext_modules=[Extension("cdownstream", ["cdownstream.c"],
          include_dirs=[vdsotime.get_include()])])
""")


def test_c_extension_uses_the_capsule_and_header(tmp_path):
    build = build_extension(tmp_path, {"cdownstream.c": C_EXTENSION}, C_SETUP_PY)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-4000:]
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import cdownstream, vdsotime\n"
            "print(json.dumps([cdownstream.read_monotonic(), cdownstream.pointers(),\n"
            "  [vdsotime.address(n) for n in ('clock_gettime', 'clock_getres',\n"
            "   'gettimeofday', 'time', 'getcpu')]]))")
    before = kernel.clock_gettime_ns(1)
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd="/",
                            capture_output=True, text=True, timeout=60)
    after = kernel.clock_gettime_ns(1)
    assert result.returncode == 0, result.stderr
    import json
    (status, ns, from_vdso), pointers, addresses = json.loads(result.stdout)
    assert status == 0 and before <= ns <= after
    assert from_vdso == 0b11111  # every function is the vDSO's on this machine
    assert pointers == addresses


def test_capsule_comment_credits_the_convention_it_follows():
    """A capsule named after its import path, for PyCapsule_Import, is CPython's
    datetime.datetime_CAPI convention (#11 item 19); numpy.random names its capsules
    "BitGenerator". The source says so, as the README does."""
    root = Path(__file__).resolve().parent.parent
    source = (root / "vdsotime" / "_core" / "vdso.pyx").read_text()
    comment = source.split("\nCAPSULE_NAME = ", 1)[0].rsplit("\n\n", 1)[1]
    assert comment.startswith("# The table for C extensions")
    assert "datetime.datetime_CAPI" in comment and "numpy.random" not in comment
    docs = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    assert any("datetime.datetime_CAPI" in path.read_text() for path in docs)


def test_capsule_points_at_the_table():
    capsule = vdso.function_table
    assert _capsule_name(capsule) == vdso.CAPSULE_NAME == "vdsotime._core.vdso.function_table"
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = ctypes.cast(get_pointer(capsule, vdso.CAPSULE_NAME.encode()),
                        ctypes.POINTER(ctypes.c_void_p * 5))
    assert list(table.contents) == [vdsotime.address(name) for name in
                                    ("clock_gettime", "clock_getres", "gettimeofday",
                                     "time", "getcpu")]


def test_header_is_installed():
    header = Path(vdsotime.get_include()) / "vdsotime" / "vdsotime.h"
    assert header.is_file() and "vdsotime_import" in header.read_text()
