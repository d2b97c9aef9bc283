"""The package's structure, as the folders state it: each wing under ``vdsotime/`` is a
layer and uses only the wings below it, through their public-to-the-package names; the
package root is the public surface. Read from the source files, which the sdist carries
beside the tests.

    _core     reading the clocks; never imports numpy           (layer 0)
    _loops    the nogil loop driver, samplers, TSC calibration  (layer 1)
    stats     the root's numpy-only statistics                  (layer 2)
    _bench    the benchmark kit  |  _health  the doctor          (layer 3, siblings)
    root      the public surface: __init__, cli, plot, ...       (layer 4)

``clock.pxd`` (the cimportable C contract) stands at the root but belongs to layer 0: it
cimports only ``_core.vdso``, and every wing may cimport it.
"""

import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "vdsotime"
SUFFIXES = (".py", ".pyx", ".pxd", ".pxi")

WINGS = {"_core": 0, "_loops": 1, "_bench": 3, "_health": 3}
# Root modules by layer: stats sits below the kit that uses it; the rest is the top.
ROOT = {"stats": 2, "__init__": 4, "__main__": 4, "cli": 4, "plot": 4,
        "numba": 4, "testing": 4, "pytest_plugin": 4}
# Modules of one layer that must not use each other.
SIBLINGS = {("_bench", "_health"), ("_health", "_bench")}

IMPORT = re.compile(r"^\s*(?:from\s+(vdsotime(?:\.\w+)*)\s+c?import\s+(\([^)]*\)|[^#\n]+)"
                    r"|c?import\s+(vdsotime(?:\.\w+)*))", re.MULTILINE)


def _unit(path):
    """('_core', 'vdso') for vdsotime/_core/vdso.pyx; ('', 'cli') for vdsotime/cli.py;
    ('_core', 'clock') for the C contract, clock.pxd."""
    relative = path.relative_to(SOURCE)
    wing = relative.parts[0] if len(relative.parts) > 1 else ""
    return _placed(wing, path.stem)


def _placed(wing, module):
    return ("_core", module) if (wing, module) == ("", "clock") else (wing, module)


def _layer(wing, module):
    return WINGS[wing] if wing else ROOT[module]


def _sources():
    if not SOURCE.is_dir():
        pytest.fail(f"the package sources are not at {SOURCE}")
    return {path: path.read_text() for path in sorted(SOURCE.rglob("*"))
            if path.suffix in SUFFIXES and "__pycache__" not in path.parts}


def _targets(text):
    for wing, module, names in _raw_targets(text):
        yield (*_placed(wing, module), names)


def _raw_targets(text):
    """(wing, module, names) of every vdsotime import of a source: ``from vdsotime._core
    import vdso, meta`` gives ('_core', 'vdso', ()) and ('_core', 'meta', ());
    ``from vdsotime._core.vdso cimport table`` gives ('_core', 'vdso', ('table',))."""
    for match in IMPORT.finditer(text):
        source, names, plain = match.groups()
        dotted = (source or plain).split(".")[1:]
        names = [] if plain else [name.split(" as ")[0].strip()
                                  for name in re.split(r"[,()\n]", names) if name.strip()]
        if not dotted:  # from vdsotime import x: root modules, or public names
            for name in names:
                if name in ROOT or name == "clock":
                    yield "", name, ()
                elif name in WINGS:
                    yield name, "__init__", ()
                else:
                    yield "", "__init__", (name,)
        elif dotted[0] in WINGS and len(dotted) == 1:  # from vdsotime._core import a, b
            for name in names:
                yield dotted[0], name, ()
        elif dotted[0] in WINGS:
            yield dotted[0], dotted[1], tuple(names)
        else:
            yield "", dotted[0], tuple(names)


def test_the_folders_are_the_wings():
    folders = {path.name for path in SOURCE.iterdir()
               if path.is_dir() and path.name != "__pycache__"}
    assert folders == set(WINGS)
    for wing in WINGS:
        assert (SOURCE / wing / "__init__.py").exists(), f"{wing} has no __init__.py"


def test_every_module_has_a_layer():
    for path in _sources():
        wing, module = _unit(path)
        if not wing:
            assert module in ROOT, f"{path.name} is a root module without a layer"


@pytest.mark.parametrize("path", sorted(_sources()), ids=lambda path: str(
    path.relative_to(SOURCE)))
def test_modules_use_only_lower_layers(path):
    wing, module = _unit(path)
    layer = _layer(wing, module)
    for target_wing, target, names in _targets(path.read_text()):
        if target_wing == wing and wing:
            continue  # within a wing (no circle: the next test)
        if (target_wing, target) == ("", module):
            continue  # a .pyx cimporting its own .pxd
        if (wing, target_wing) in SIBLINGS:
            pytest.fail(f"{path.name} ({wing}) uses its sibling {target_wing}.{target}")
        target_layer = _layer(target_wing, target)
        if (target_wing, target) == ("_core", "clock"):
            continue  # the C contract, cimported by every wing
        assert target_layer < layer or (not wing and not target_wing and target_layer <= layer), \
            (f"{path.relative_to(SOURCE)} (layer {layer}) uses "
             f"{(target_wing + '.') if target_wing else ''}{target} (layer {target_layer})")
        if target_wing != wing:
            private = [name for name in names if name.startswith("_")]
            assert not private, (f"{path.relative_to(SOURCE)} imports {', '.join(private)} "
                                 f"from {target_wing or 'vdsotime'}.{target}: private to it")


def test_no_private_names_across_wings():
    """Modules imported from another wing are used through their public names only:
    ``engine.measure_calls``, never ``engine._latency``."""
    for path, text in _sources().items():
        wing, _ = _unit(path)
        for target_wing, target, names in _targets(text):
            if target_wing == wing or names or target == "__init__":
                continue
            used = set(re.findall(rf"(?<![\w.]){target}\.(_\w+)", text)) - {"__file__"}
            assert not used, (f"{path.relative_to(SOURCE)} uses {target}."
                              f"{', '.join(sorted(used))} of {target_wing or 'the root'}")


def test_no_import_circle():
    """No two modules import each other, directly or through others (function-level
    imports included: a circle there is a layering fault all the same)."""
    graph = {}
    for path, text in _sources().items():
        node = _unit(path)
        graph.setdefault(node, set()).update(
            (wing, module) for wing, module, _ in _targets(text) if (wing, module) != node)
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            cycle = stack[stack.index(node):] + [node]
            pytest.fail("import circle: " + " -> ".join(f"{w}.{m}" if w else m
                                                        for w, m in cycle))
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target != ("", "__init__"):  # the public surface's lazy names
                visit(target)
        stack.pop()

    for node in sorted(graph):
        visit(node)


def test_core_never_imports_numpy():
    for path, text in _sources().items():
        if _unit(path)[0] == "_core":
            assert not re.search(r"^\s*(import numpy|from numpy)", text, re.M), path.name


def test_long_loops_live_in_the_loop_driver():
    """Releasing the GIL happens in _loops only, and signals are checked by the one
    driver: every long loop runs under it."""
    for path, text in _sources().items():
        wing, module = _unit(path)
        if (wing, module) == ("_loops", "driver") and path.suffix == ".pyx":
            assert "with nogil" in text and "PyErr_CheckSignals" in text
            continue
        assert "PyErr_CheckSignals" not in text, f"{path.name} checks signals itself"
        if wing != "_loops":
            assert "with nogil" not in text, f"{path.name} has a nogil block of its own"


def test_one_home_for_the_raw_clock_system_call():
    """The raw clock_gettime system call is made in _core/vdso.pyx only, where the time64
    variant is chosen for 32-bit ABIs; the measuring loops reach it through vdso.pxd."""
    for path, text in _sources().items():
        if _unit(path) == ("_core", "vdso") and path.suffix == ".pyx":
            assert "SYS_clock_gettime" in text and "syscall(" in text
        else:
            # (the probe names the call's number in a seccomp filter; it makes no call.)
            assert not re.search(r"syscall\([^)]*SYS_clock", text), \
                f"{path.name} makes clock system calls of its own"


def test_one_validator_each():
    """Clock ids, counts, errno, memory and partial results have one rule each, in
    _core/validate: no module keeps a private copy or a second name for one."""
    for path, text in _sources().items():
        if _unit(path) == ("_core", "validate"):
            if path.suffix == ".pyx":
                for rule in ("def memory", "def attach", "def count"):
                    assert rule in text
            continue
        for private in ("def _check_clock", "def _check_count", "cdef int _check_clock",
                        "_clock_id(str function", "cdef Py_ssize_t _count(",
                        "cdef int _raise_errno", "PyErr_SetFromErrno", "def memory",
                        "def _check_memory", "partial_result =", ".partial_result = ",
                        "def _note", "def _attach", "cdef _note"):
            assert private not in text, f"{path.name} has its own {private!r}"
        assert not re.search(r"=\s*validate\.(memory|attach)\s*$", text, re.M), \
            f"{path.name} gives a rule of validate a second name"
