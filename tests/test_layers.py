"""The package's structure, as the design states it: each layer uses only the ones below
it, every long loop lives in one module under one driver, and the raw clock system call
has one home (with the time64 choice of 32-bit ABIs). Read from the source files, which
the sdist carries beside the tests."""

import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "vdsotime"

# Lower numbers are lower layers; a module may import or cimport only lower layers.
LAYERS = {
    "_record": 0, "_format": 0, "_elf": 1, "_auxv": 2, "_vdso": 3, "clock": 4, "_hw": 4,
    "_args": 5, "_meta": 5, "_loops": 6, "_clock": 7, "_info": 7, "stats": 7, "_sample": 7,
    "_interop": 7, "_tsc": 8, "measure": 9, "numba": 8, "plot": 8, "runs": 10,
    "comparison": 10, "cli": 11, "pytest_plugin": 11,
    # The system-call probe and adjtimex, clock health (doctor); the mock clock and its
    # public door; dynamic POSIX clocks.
    "_probe": 6, "_health": 10, "_mock": 6, "testing": 8, "_posix_clock": 8,
}
# Imports that reach up on purpose: stats.plot_latency and stats.plot_jitter stayed as
# wrappers when the plots moved to vdsotime.plot (the import runs when they are called);
# bench(processes=) hands the measurement to comparison's worker processes (likewise
# imported when called), so that one bench() serves both.
UPWARD = {("stats", "plot"), ("measure", "comparison")}
IMPORT = re.compile(r"^\s*(?:from\s+vdsotime(?:\.(\w+))?\s+c?import\s+([\w, ()]+)|"
                    r"import\s+vdsotime\.(\w+))", re.MULTILINE)


def _sources():
    if not SOURCE.is_dir():
        pytest.fail(f"the package sources are not at {SOURCE}")
    return {path: path.read_text() for path in sorted(SOURCE.iterdir())
            if path.suffix in (".py", ".pyx", ".pxd") and path.stem in LAYERS}


def _imported(text):
    for match in IMPORT.finditer(text):
        module, names, plain = match.groups()
        if plain:
            yield plain
        elif module:
            yield module
        else:  # from vdsotime import a, b / from vdsotime cimport clock as c
            for name in re.split(r"[\s,()]+", names):
                if name in LAYERS:
                    yield name


def test_every_module_has_a_layer():
    modules = {path.stem for path in SOURCE.iterdir()
               if path.suffix in (".py", ".pyx") and not path.stem.startswith("__")}
    assert modules <= set(LAYERS), modules - set(LAYERS)


@pytest.mark.parametrize("path", sorted(_sources()), ids=lambda path: path.name)
def test_modules_use_only_lower_layers(path):
    layer = LAYERS[path.stem]
    for module in _imported(path.read_text()):
        if module == path.stem:
            continue  # a .pyx cimporting its own .pxd
        assert module in LAYERS, f"{path.name} imports vdsotime.{module}, which has no layer"
        if (path.stem, module) in UPWARD:
            continue
        assert LAYERS[module] < layer, (f"{path.name} (layer {layer}) uses {module} "
                                        f"(layer {LAYERS[module]})")


def test_long_loops_live_in_one_module():
    """Releasing the GIL and checking for signals happen in _loops only: every long loop
    runs under its one driver."""
    for path, text in _sources().items():
        if path.name == "_loops.pyx":
            assert "with nogil" in text and "PyErr_CheckSignals" in text
            continue
        assert "with nogil" not in text, f"{path.name} has a nogil block of its own"
        assert "PyErr_CheckSignals" not in text, f"{path.name} checks signals itself"


def test_one_home_for_the_raw_clock_system_call():
    """The raw clock_gettime system call is made in _vdso.pyx only, where the time64
    variant is chosen for 32-bit ABIs; the measuring loops reach it through _vdso.pxd."""
    for path, text in _sources().items():
        if path.name == "_vdso.pyx":
            assert "SYS_clock_gettime" in text and "syscall(" in text
        else:
            # (_probe names the call's number in a seccomp filter; it makes no call.)
            assert not re.search(r"syscall\([^)]*SYS_clock", text), \
                f"{path.name} makes clock system calls of its own"


def test_one_validator_each():
    """Clock ids, counts and errno are checked by _args alone: no module keeps a private
    copy of those rules."""
    for path, text in _sources().items():
        if path.stem == "_args":
            continue
        for private in ("def _check_clock", "def _check_count", "cdef int _check_clock",
                        "_clock_id(str function", "cdef Py_ssize_t _count(",
                        "cdef int _raise_errno", "PyErr_SetFromErrno"):
            assert private not in text, f"{path.name} has its own {private!r}"
