"""vdsotime in its ecosystem: typing (mypy --strict), numba, pytest-benchmark's timer,
and packaging (sdist, a wheel built from it, what the wheel holds)."""

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import vdsotime

import kernel
from oracle import NEUTRAL_CWD, run_python

ROOT = Path(__file__).resolve().parent.parent
TYPED_EXAMPLE = Path(__file__).resolve().parent / "typing" / "example.py"


@pytest.mark.slow
def test_mypy_strict_accepts_a_typed_program():
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             str(TYPED_EXAMPLE)], capture_output=True, text=True,
                            cwd=NEUTRAL_CWD, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


@pytest.mark.slow
def test_stubtest_finds_the_stubs_true_to_the_runtime():
    """mypy's stubtest compares every stub (the .pyi files, and the typed .py modules that
    serve as their own) with the installed package at run time: names, signatures,
    records' fields. The allowlist names Cython's module internals only."""
    allowlist = Path(__file__).parent / "typing" / "stubtest-allowlist.txt"
    result = subprocess.run([sys.executable, "-m", "mypy.stubtest", "vdsotime",
                             "--allowlist", str(allowlist)], capture_output=True, text=True,
                            cwd=NEUTRAL_CWD, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert "Success: no issues found" in result.stdout
    entries = [line for line in allowlist.read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    cython_internals = re.compile(r"vdsotime\\\.\\w\+\\\.\\w\+\\\.__(test|pyx_capi|"
                                  r"reduce_cython|setstate_cython)__")
    assert entries and all(cython_internals.fullmatch(entry) for entry in entries), entries


def test_records_are_classes_type_checkers_read():
    """Every public record has its fields as annotations (no dynamic base class), and
    an __init__ whose signature is its fields."""
    import inspect

    records = [vdsotime.VdsoInfo, vdsotime.TscCalibration, vdsotime.ClockStats,
               vdsotime.LatencyResult, vdsotime.JitterResult, vdsotime.Comparison,
               vdsotime.RunComparison, vdsotime.Health, vdsotime.NtpState, vdsotime.TscSkew,
               vdsotime.TscOffset, vdsotime.Symbol, vdsotime.Binding,
               vdsotime.RunChange, vdsotime.Contrast]
    for record in records:
        fields = record._fields
        assert list(inspect.signature(record).parameters) == list(fields), record
        value = record(*range(len(fields)))
        assert tuple(value) == tuple(range(len(fields)))
        assert [getattr(value, name) for name in fields] == list(range(len(fields)))
        assert value._replace(**{fields[0]: "x"})[0] == "x"
        # copy.replace() (3.13+) calls __replace__, which type checkers know of
        assert value.__replace__(**{fields[0]: "y"}) == ("y", *value[1:])
        # help() on a record says what each field holds.
        undescribed = [name for name in fields if f"``{name}``" not in record.__doc__]
        assert not undescribed, (record.__name__, undescribed)


def _public_functions():
    """Every public function: vdsotime's __all__, and what vdsotime.stats, vdsotime.plot
    and vdsotime.testing offer (their __all__, or the functions they define)."""
    import importlib
    import inspect

    found = []
    for module_name in ("vdsotime", "vdsotime.stats", "vdsotime.plot", "vdsotime.testing"):
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [
            name for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module_name]
        for name in names:
            value = getattr(module, name)
            # (An alias, such as plot.check_path for check_plot_path, is its original; a
            # class named as a function, such as open_clock, is called as one.)
            if callable(value) and not name.startswith("_") and name[0].islower() \
                    and getattr(value, "__name__", name) == name:
                found.append((module_name, name))
    return found


HELPED = _public_functions()


def test_the_help_test_covers_the_measuring_tools():
    assert {("vdsotime", name) for name in ("sample", "bench", "compare", "jitter",
                                            "health", "open_clock")} <= set(HELPED)
    assert ("vdsotime.plot", "plot_comparison") in HELPED
    assert ("vdsotime.testing", "mock_clock") in HELPED


@pytest.mark.parametrize("module_name,name", HELPED, ids=[".".join(x) for x in HELPED])
def test_help_shows_one_signature_and_describes_every_parameter(module_name, name):
    """help() draws the signature from the function itself: the docstring does not repeat
    it, no internal default (``c.CLOCK_MONOTONIC``) shows, and it names every parameter."""
    import importlib
    import inspect
    import pydoc

    function = getattr(importlib.import_module(module_name), name)
    text = pydoc.render_doc(function, renderer=pydoc.plaintext)
    signature = inspect.signature(function)
    assert not function.__doc__.lstrip().startswith(f"{name}("), function.__doc__[:80]
    # Python 3.14's help() wraps a long signature, one parameter a line, shows string
    # annotations unquoted and a type of the function's own module without the module's
    # name: compare without white space, quotes and that name.
    flat = lambda words: re.sub(r"[\s'\"]", "", words).replace(  # noqa: E731
        f"{function.__module__}.", "")
    assert flat(f"{name}{signature}") in flat(text)
    # one signature: the docstring repeats none
    assert len(re.findall(rf"^[ |]*{name}\(", text, re.MULTILINE)) == 1, text[:300]
    assert "c.CLOCK" not in text
    for parameter in signature.parameters:
        if parameter not in ("args", "kwargs"):
            assert f"``{parameter}``" in function.__doc__, parameter


def test_help_on_the_results_methods_describes_every_parameter():
    """The methods of what the measurement tools return, as help() shows them: one that
    takes parameters has a docstring that names each (histogram() and contrast() had
    none)."""
    import inspect

    checked = 0
    for record in (vdsotime.LatencyResult, vdsotime.JitterResult, vdsotime.Comparison,
                   vdsotime.RunComparison, vdsotime.ClockStats, vdsotime.TscCalibration):
        for name, member in vars(record).items():
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            parameters = list(inspect.signature(member).parameters)[1:]  # after self
            for parameter in parameters:
                assert parameter in (member.__doc__ or ""), f"{record.__name__}.{name}: " \
                                                             f"{parameter}"
            checked += bool(parameters)
    assert checked >= 6


@pytest.mark.slow
def test_mypy_strict_rejects_a_misuse(tmp_path):
    # The stubs have teeth: a wrong type is an error, and so is a name that neither
    # vdsotime nor the time module has (no catch-all __getattr__ in the stub).
    bad = tmp_path / "bad.py"
    bad.write_text("import vdsotime\nx: str = vdsotime.monotonic_ns()\n"
                   "y: int = vdsotime.monotnic_ns()\n"
                   "z: int = vdsotime.strftime('%Y')\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             str(bad)], capture_output=True, text=True, cwd=NEUTRAL_CWD,
                            timeout=600)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 3, result.stdout
    assert "bad.py:2: error: Incompatible types in assignment" in errors[0]
    assert 'bad.py:3: error: Module has no attribute "monotnic_ns"' in errors[1]
    assert "bad.py:4: error: Incompatible types in assignment" in errors[2]  # str, not int


def test_stub_declares_exactly_the_forwarded_time_names():
    """__init__.pyi re-exports the time module's names that vdsotime forwards at run
    time, and no others (so the stub cannot drift from __getattr__)."""
    import ast
    import time

    tree = ast.parse((Path(vdsotime.__file__).parent / "__init__.pyi").read_text())
    from_time, declared = set(), set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            assert all(alias.asname == alias.name for alias in node.names)
            from_time |= {alias.name for alias in node.names}
        elif isinstance(node, ast.AnnAssign):
            declared.add(node.target.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
    forwarded = {name for name in dir(time) if not (name.startswith("__") and
                                                    name.endswith("__"))} - set(vars(vdsotime))
    assert forwarded == from_time | (forwarded & declared)
    assert from_time <= forwarded


def test_typed_example_runs():
    result = subprocess.run([sys.executable, str(TYPED_EXAMPLE)], capture_output=True,
                            text=True, cwd=NEUTRAL_CWD, timeout=120)
    assert result.returncode == 0, result.stderr


NUMBA_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    from numba import njit
    from vdsotime.numba import clock_gettime_ns, monotonic_ns, time_ns, thread_time_ns
    import kernel

    @njit
    def fill(out):
        for i in range(out.shape[0]):
            out[i] = monotonic_ns()

    @njit
    def others():
        return clock_gettime_ns(1), time_ns(), clock_gettime_ns(99), thread_time_ns()

    out = np.empty(100_000, np.int64)
    fill(out[:10])
    before = kernel.clock_gettime_ns(1)
    fill(out)
    after = kernel.clock_gettime_ns(1)
    assert before <= out[0] and out[-1] <= after, (before, out[0], out[-1], after)
    assert np.all(np.diff(out) >= 0)
    before_rt = kernel.clock_gettime_ns(0)
    mono, realtime, bad, thread = others()
    assert before_rt <= realtime <= kernel.clock_gettime_ns(0)
    assert bad == -22 and thread > 0 and mono > after
    print("ok")
""")


def test_numba_njit_clocks():
    result = run_python(NUMBA_CHILD, str(Path(__file__).parent), timeout=600)
    assert result.stdout.strip() == "ok", result.stderr[-3000:]


NUMBA_CACHED_MODULE = textwrap.dedent("""
    import sys
    from numba import njit
    from vdsotime.numba import clock_gettime_ns, monotonic_ns

    @njit(cache=True)
    def read():
        return monotonic_ns()

    @njit(cache=True)
    def invalid():
        return clock_gettime_ns(12345)

    if __name__ == "__main__":
        sys.path.insert(0, sys.argv[1])
        import kernel
        before = kernel.clock_gettime_ns(1)
        value = read()
        after = kernel.clock_gettime_ns(1)
        error = invalid()
        hits = sum(read.stats.cache_hits.values()) + sum(invalid.stats.cache_hits.values())
        print(before <= value <= after, error, hits)
""")


@pytest.mark.slow
@pytest.mark.parametrize("disable", ["0", "1"])
def test_numba_cache_true_works_across_processes(tmp_path, disable):
    """@njit(cache=True): the second process loads the machine code the first compiled.
    ASLR puts the extension (and its function table) elsewhere in each process; the code
    names the table by symbol, so it still reads the right clock -- a baked address would
    crash here. With the libc backend an invalid clock is -EINVAL, as in clock.pxd."""
    script = tmp_path / "cached_clocks.py"
    script.write_text(NUMBA_CACHED_MODULE)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "VDSOTIME_DISABLE_VDSO": disable}
    tests = str(Path(__file__).parent)
    first = subprocess.run([sys.executable, str(script), tests], capture_output=True,
                           text=True, timeout=600, cwd=tmp_path, env={**os.environ, **env})
    assert first.stdout.split() == ["True", "-22", "0"], first.stderr[-3000:]
    second = subprocess.run([sys.executable, str(script), tests], capture_output=True,
                            text=True, timeout=600, cwd=tmp_path, env={**os.environ, **env})
    assert second.stdout.split() == ["True", "-22", "2"], second.stderr[-3000:]


@pytest.mark.slow
def test_numba_intrinsics_follow_the_clock_pxd_convention():
    """Same answers as the cimported functions for valid and invalid ids (-errno), and
    the compiled code takes vdsotime's error path (the syscall retry) on a failure."""
    code = textwrap.dedent("""
        import numpy as np
        from numba import njit
        from vdsotime._core import clocks
        from vdsotime.numba import clock_gettime_ns
        import vdsotime.numba

        @njit
        def read(clock_id):
            return clock_gettime_ns(clock_id)

        for clock_id in (8, 9, 10, 12, 99, -1, 2**31 - 1):
            try:
                clocks.clock_gettime_ns(clock_id)
                expected = None
            except OSError as exc:
                expected = -exc.errno
            got = read(clock_id)
            assert (got > 0) if expected is None else got == expected, (clock_id, got)
        ir = next(iter(read.inspect_llvm().values()))
        assert "vdsotime_clock_gettime_failed" in ir and "vdsotime_function_table" in ir
        assert "perf_counter_ns" in dir(vdsotime.numba)
        assert [n for n in dir(vdsotime.numba) if n in ("njit", "ir", "types", "cgutils",
                                                        "intrinsic")] == []
        print("ok")
    """)
    for disable in ("0", "1"):
        result = run_python(code, timeout=600, env={"VDSOTIME_DISABLE_VDSO": disable})
        assert result.stdout.strip() == "ok", result.stderr[-3000:]


NUMBA_RETRY_CHILD = textwrap.dedent("""
    import ctypes, sys
    sys.path.insert(0, sys.argv[1])
    import kernel
    from numba import njit
    from vdsotime._core import clocks, vdso
    from vdsotime.numba import clock_gettime_ns

    @njit
    def read(clock_id):
        return clock_gettime_ns(clock_id)

    read(1)  # compiled before the table changes

    class Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]

    Entry = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(Timespec))

    class Table(ctypes.Structure):  # vdsotime.h: vdsotime_function_table
        _fields_ = [("clock_gettime", Entry), ("rest", ctypes.c_void_p * 4),
                    ("from_vdso", ctypes.c_uint)]

    calls = []

    @Entry
    def failing(clock_id, ts):
        # A vDSO entry that cannot serve the clock: an error other than EINVAL, and
        # garbage in the timespec. Only the system call retry gives the right answer.
        calls.append(clock_id)
        ts[0].tv_sec, ts[0].tv_nsec = 7, 7
        return -38  # -ENOSYS

    table = Table.from_address(vdso.c_symbols()["vdsotime_function_table"])
    assert table.from_vdso & 1, "clock_gettime is not the vDSO's here"
    saved = ctypes.cast(table.clock_gettime, ctypes.c_void_p).value
    table.clock_gettime = failing
    try:
        before = kernel.clock_gettime_ns(1)
        value = read(1)
        after = kernel.clock_gettime_ns(1)
        invalid = read(99)
        python = clocks.clock_gettime_ns(1)  # the cimported path, for comparison
    finally:
        ctypes.c_void_p.from_address(ctypes.addressof(table)).value = saved
    print(before <= value <= after, invalid, python > after, calls)
""")


def test_numba_intrinsics_retry_a_failed_vdso_call_with_the_system_call():
    """A vDSO clock_gettime that fails with an error other than EINVAL: the compiled code
    returns what the real system call says (the time, or -EINVAL for an invalid id), as
    clock.pxd does, not the vDSO's error nor the timespec it left."""
    result = run_python(NUMBA_RETRY_CHILD, str(Path(__file__).parent), timeout=600,
                        env={"VDSOTIME_DISABLE_VDSO": "0"})
    assert result.stdout.split() == ["True", "-22", "True", "[1,", "99,", "1]"], \
        result.stdout + result.stderr[-3000:]


NUMBA_WIDE_IDS_CHILD = textwrap.dedent("""
    import numpy as np
    from numba import njit
    from vdsotime.numba import clock_gettime_ns

    @njit
    def read(clock_id):
        return clock_gettime_ns(clock_id)

    # Ids beyond a C int are no clock (the Python API raises OverflowError for them):
    # -EINVAL, never the clock their low 32 bits name (2**32 + 1 is not CLOCK_MONOTONIC).
    wide = [2**32 + 1, -2**32, -2**40, 2**31, -2**31 - 1, 2**63 - 1, -2**63,
            np.uint32(2**31), np.uint32(2**32 - 1), np.uint64(2**32 + 1),
            np.uint64(2**64 - 1)]
    print(*[int(read(clock_id)) for clock_id in wide])
    # In range, whatever the integer type: the clock.
    narrow = [1, np.int64(1), np.uint64(1), np.uint32(1), np.int32(1), np.int16(1),
              np.uint8(1), np.int8(1)]
    print(all(read(clock_id) > 0 for clock_id in narrow), int(read(np.int32(-2**31))))
""")


@pytest.mark.slow
def test_numba_clock_ids_beyond_a_c_int_are_einval():
    result = run_python(NUMBA_WIDE_IDS_CHILD, timeout=600)
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stderr[-3000:]
    assert lines[0].split() == ["-22"] * 11
    assert lines[1].split() == ["True", "-22"]  # INT_MIN is in range: the kernel says EINVAL


@pytest.mark.slow
def test_pytest_benchmark_timer(tmp_path):
    """vdsotime.perf_counter works as pytest-benchmark's --benchmark-timer."""
    (tmp_path / "test_timed.py").write_text(
        "import vdsotime\n"
        "def test_sorted(benchmark):\n"
        "    assert benchmark._timer is vdsotime.perf_counter\n"
        "    assert benchmark(sorted, [3, 1, 2]) == [1, 2, 3]\n")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--benchmark-timer=vdsotime.perf_counter", f"--benchmark-json={report}",
         "--benchmark-min-rounds=50", str(tmp_path / "test_timed.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        # (pytest-benchmark turns itself off in a pytest-xdist worker's environment.)
        env={key: value for key, value in os.environ.items()
             if not key.startswith("PYTEST_XDIST")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    [entry] = data["benchmarks"]
    assert entry["options"]["timer"] == "perf_counter"  # pytest-benchmark keeps the name
    assert entry["stats"]["rounds"] >= 50 and 0 < entry["stats"]["min"] < 0.01


def test_perf_counter_is_a_drop_in_timer():
    # What harnesses need of a timer: a float in seconds, monotonic, fine-grained.
    values = [vdsotime.perf_counter() for _ in range(10_000)]
    assert all(isinstance(v, float) for v in values[:10])
    assert values == sorted(values)
    assert abs(vdsotime.perf_counter() - kernel.clock_gettime_ns(1) / 1e9) < 0.01


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """python -m build: an sdist, then a wheel built from that sdist (from scratch).

    Run from another folder: from the source tree, ``python -m build`` would import the
    tree's own build/ output folder as the ``build`` package."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=1800, cwd=out)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return sdist, wheel, result.stdout + result.stderr


def sdist_names(sdist):
    import tarfile

    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_sdist_holds_the_sources(built):
    names = sdist_names(built[0])
    for required in ("setup.py", "pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE",
                     "MANIFEST.in", "vdsotime/_core/elf.pyx", "vdsotime/_core/vdso.pyx",
                     "vdsotime/_core/keys.pxi", "vdsotime/clock.pxd", "vdsotime/vdsotime.h",
                     "vdsotime/__init__.pyi", "vdsotime/py.typed",
                     "tests/fixtures/make_fixtures.sh", "tests/fixtures/mips-vdso.so",
                     "bench/run.py", "bench/cloops.c", "tools/legs/run.py",
                     "tools/legs/recipes.py", "tools/legs/README.md"):
        assert required in names, required
    assert not any(name.startswith("vdsotime/") and name.endswith((".c", ".so"))
                   for name in names), "generated or compiled files in the sdist"


def source_files():
    """The project's files: what git tracks, or (outside a git checkout, as in an
    unpacked sdist) every file but the build's and the interpreter's leftovers."""
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"],
                                capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        listed = None
    if listed:
        return {name for name in listed.decode().split("\0") if name}
    # (A checkout copied to a machine without git has its .git folder: not project files.)
    leftovers = ("build/", "dist/", ".pytest_cache/", ".venv", "venv/", "PKG-INFO",
                 "setup.cfg", ".git/")
    files = set()
    for path in ROOT.rglob("*"):
        name = path.relative_to(ROOT).as_posix()
        if (not path.is_file() or name.startswith(leftovers) or "__pycache__" in name
                or ".egg-info" in name
                or name.startswith("vdsotime/") and name.endswith((".c", ".so", ".html"))):
            continue
        files.add(name)
    return files


def test_sdist_holds_every_file_of_the_project(built):
    """Everything tests/, docs/ and the README rely on is in the sdist (fixtures without
    a file extension, such as tests/fixtures/x86_64-copyreloc, included)."""
    names = sdist_names(built[0])
    files = source_files()
    assert {"tests/fixtures/x86_64-copyreloc", "docs/RELIABILITY.md"} <= files
    assert any(name.startswith("tests/") for name in files)
    assert sorted(files - names) == []


def test_build_uses_the_spdx_license_without_deprecation_warnings(built):
    _, wheel, log = built
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(name).decode() for name in archive.namelist()
                        if name.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()
    assert "License :: " not in metadata
    # setuptools said "`project.license` as a TOML table is deprecated" and "License
    # classifiers are deprecated" on every build before.
    warnings = [line for line in log.splitlines()
                if "deprecat" in line.lower() and "license" in line.lower()]
    assert warnings == []


def test_wheel_holds_the_cython_and_typing_files(built):
    _, wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # Every C-level and typing file of the package (cimporters and type checkers read
    # them from the installed package), and every compiled module.
    package = ROOT / "vdsotime"
    wanted = {f"vdsotime/{path.relative_to(package).as_posix()}"
              for path in package.rglob("*")
              if path.suffix in (".pxd", ".pxi", ".pyi", ".h", ".typed", ".py")}
    assert {"vdsotime/clock.pxd", "vdsotime/_core/vdso.pxd", "vdsotime/_core/keys.pxi",
            "vdsotime/vdsotime.h", "vdsotime/py.typed", "vdsotime/_loops/driver.pxd"} <= wanted
    assert wanted <= names, sorted(wanted - names)
    compiled = {path.with_suffix("").relative_to(package).as_posix()
                for path in package.rglob("*.pyx")}
    assert len(compiled) >= 10
    for module in compiled:
        assert any(n.startswith(f"vdsotime/{module}.") and n.endswith(".so") for n in names), \
            module
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(wheel) as archive:
        assert "vdsotime = vdsotime.cli:main" in archive.read(entry_points).decode()


def test_non_linux_is_a_clear_import_error():
    code = textwrap.dedent("""
        import sys
        sys.platform = "darwin"
        try:
            import vdsotime
        except ImportError as exc:
            print(exc)
    """)
    result = run_python(code)
    assert "works on Linux only (this is darwin)" in result.stdout, result.stderr


def test_ctypes_and_cffi_example_reads_the_clock():
    """The ctypes/cffi block of the C interfaces page, executed as written: the time it
    reads lies between two raw system calls."""
    page = (ROOT / "docs" / "c-api.md").read_text()
    section = page.split("## ctypes and cffi: `address()`", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    before = kernel.clock_gettime_ns(1)
    exec(compile(block, "README.md", "exec"), namespace)
    after = kernel.clock_gettime_ns(1)
    ts = namespace["ts"]  # the cffi timespec, filled last
    assert before <= ts.tv_sec * 10**9 + ts.tv_nsec <= after
