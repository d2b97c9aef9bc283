"""The ABI the suite runs on, and what its live vDSO should give: from vdsotime's own key
table for that ABI (``vdsotime._core.vdso.KEY_TABLES[NATIVE_ABI]``, the table the import
resolved), so that a test of the live bindings holds on x86-64 and on arm64, s390x or
armhf alike. And whether this process runs under an emulator (qemu-user), where the
vDSO is QEMU's and timing claims say nothing about the kernel.
"""

import os

import pytest

from vdsotime._core import hw, vdso

ABI = vdso.NATIVE_ABI
VERSION, _, KEYS = vdso.KEY_TABLES.get(ABI, (None, None, ()))
X86 = ABI in ("x86_64", "i386")
# The 32-bit ABIs compute gettimeofday and time from clock_gettime (their own entry
# points have 32-bit seconds: vdso.pyx's DERIVED), and bind clock_getres through a shim.
ABI_32 = ABI in ("i386", "arm", "mips")
DERIVED = ("gettimeofday", "time") if ABI_32 else ()


def live_names():
    """{(name, version)} of the live vDSO's symbols."""
    import vdsotime

    return {(symbol.name, symbol.version) for symbol in vdsotime.info().symbols}


def _first_keys():
    """{function: (symbol, layout)}: each function's first key in this ABI's table that
    the live vDSO has (the one the import binds)."""
    names, found = live_names(), {}
    for function, symbol, _, _, layout in KEYS:
        if function not in found and (symbol, VERSION) in names:
            found[function] = (symbol, layout)
    return found


def expected_bindings():
    """{function: (backend, symbol, version)} that this ABI's key table gives with the
    live vDSO's symbols: a function's first key the vDSO has, from the vDSO; a 32-bit
    ABI's gettimeofday and time from clock_gettime's; the others libc's."""
    expected = {function: ("vdso", symbol, VERSION)
                for function, (symbol, _) in _first_keys().items()}
    for function in DERIVED:
        expected[function] = expected.get("clock_gettime",
                                          ("libc", "clock_gettime", None))
    for function in vdso.API_FUNCTIONS:
        if function not in expected:
            name = "syscall(SYS_getcpu)" if function == "getcpu" else function
            expected[function] = ("libc", name, None)
    return expected


def from_vdso():
    """The API functions this ABI's table binds to the vDSO's own entry point (no shim,
    not derived): those whose first key the vDSO has, with the "direct" layout."""
    return {function for function, (_, layout) in _first_keys().items()
            if layout == "direct" and function not in DERIVED}


def clock_gettime_symbol():
    """The symbol this ABI's table binds clock_gettime to: the first key of the table
    (``__vdso_clock_gettime`` on x86-64, ``__kernel_clock_gettime`` on arm64 and s390x,
    ``__vdso_clock_gettime64`` on i386 and armhf)."""
    return next(symbol for function, symbol, *_ in KEYS if function == "clock_gettime")


# Machines of one family: a kernel of the first runs programs of the others natively.
_FAMILIES = (("x86_64", "i386", "i486", "i586", "i686"),
             ("aarch64", "arm64", "armv7l", "armv8l", "armv6l", "arm"),
             ("s390x", "s390"), ("ppc64le", "ppc64", "ppc"), ("riscv64",),
             ("loongarch64",), ("mips64", "mips"))


def _family(machine):
    return next((family[0] for family in _FAMILIES if machine in family), machine)


def emulated():
    """The emulation this process runs under, as one phrase, or None when it runs on
    the kernel's own machine. The fact: /proc/sys/kernel/arch (Linux >= 6.1) is the
    kernel's machine, which qemu-user passes through, while the ABI is the program's;
    a leg also says so (VDSOTIME_LEG_EMULATOR, set by tools/legs/run.py)."""
    declared = os.environ.get("VDSOTIME_LEG_EMULATOR", "")
    try:
        with open("/proc/sys/kernel/arch") as f:
            kernel = f.read().strip()
    except OSError:
        kernel = None
    if kernel and _family(kernel) != _family(ABI):
        return (f"a {ABI} program on a {kernel} kernel"
                + (f" ({declared})" if declared else ", under an emulator"))
    if declared:
        return f"a {ABI} program under {declared}"
    return None


def skip_timing_under_emulation(claim):
    """Skip a test of a timing claim (``claim``: what it would check) under emulation:
    there every instruction is translated and the vDSO is the emulator's, so a time
    says nothing about the kernel or about vdsotime."""
    __tracebackhide__ = True
    how = emulated()
    if how:
        pytest.skip(f"{claim}: not checked under emulation ({how}), where timings say "
                    "nothing about the kernel")


def require_x86(feature):
    """Skip a test of an x86-only feature (the TSC, rdtscp, rdpid) on other ABIs."""
    __tracebackhide__ = True
    if not X86 or not hw.HAVE_TSC:
        pytest.skip(f"{feature} is x86's, not the {ABI} ABI's")


def assert_same_vdso(other, image):
    """``other`` (bytes of the vDSO another process dumped) is this process's ``image``:
    byte for byte on a kernel's vDSO, which is the same in every process. QEMU instead
    relocates its vDSO to the address it maps it at (its program headers, dynamic
    section and symbol values move with the load address), so under emulation the two
    are the same image up to those: the same length, soname, versions and symbols (name,
    version, size, type, binding)."""
    __tracebackhide__ = True
    import vdsotime

    if other == image or not emulated():
        assert other == image
        return

    def shape(data):
        elf = vdsotime.ElfImage.from_bytes(data)
        return (len(data), elf.elf_class, elf.byteorder, elf.machine, elf.soname,
                elf.versions, sorted((s.name, s.version, s.size, s.type, s.bind)
                                     for s in elf.symbols))

    assert shape(other) == shape(image)


# The soname of each ABI's vDSO as seen here (the kernel's, and QEMU's for its guests):
# "linux-vdso.so.1" on x86-64, arm64 and armhf, "linux-gate.so.1" on i386,
# "linux-vdso64.so.1" on s390x.
SONAMES = {"i386": "linux-gate.so.1", "s390x": "linux-vdso64.so.1"}
SONAME = SONAMES.get(ABI, "linux-vdso.so.1")
