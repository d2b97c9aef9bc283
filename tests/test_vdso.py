"""Resolution: the key tables, the security rule, fallback, info() and address()."""

import ctypes
import struct
import textwrap

import pytest

import vdsotime
from vdsotime._core import vdso
from vdsotime._core.elf import elf_hash, gnu_hash

import abi
import kernel
from oracle import fixture_path, run_python

KEY_TABLES = vdso.KEY_TABLES

# What each fixture must bind with its own ABI's table (the 32-bit ABIs take
# clock_gettime64, getcpu, and clock_getres through a widening shim: see _keys.pxi).
EXPECTED = {
    "x86_64-vdso.so": ("x86_64", {"clock_gettime": "__vdso_clock_gettime",
                                  "clock_getres": "__vdso_clock_getres",
                                  "gettimeofday": "__vdso_gettimeofday",
                                  "time": "__vdso_time", "getcpu": "__vdso_getcpu"}),
    "i386-vdso.so": ("i386", {"clock_gettime": "__vdso_clock_gettime64",
                              "clock_getres": "__vdso_clock_getres",
                              "getcpu": "__vdso_getcpu"}),
    "aarch64-vdso.so": ("aarch64", {"clock_gettime": "__kernel_clock_gettime",
                                    "clock_getres": "__kernel_clock_getres",
                                    "gettimeofday": "__kernel_gettimeofday"}),
    "arm-vdso.so": ("arm", {"clock_gettime": "__vdso_clock_gettime64",
                            "clock_getres": "__vdso_clock_getres"}),
    "mips-vdso.so": ("mips", {"clock_gettime": "__vdso_clock_gettime64",
                              "clock_getres": "__vdso_clock_getres"}),
    "riscv64-vdso.so": ("riscv64", {"clock_gettime": "__vdso_clock_gettime",
                                    "clock_getres": "__vdso_clock_getres",
                                    "gettimeofday": "__vdso_gettimeofday",
                                    "getcpu": "__vdso_getcpu"}),
    "ppc64-vdso.so": ("ppc64", {"clock_gettime": "__kernel_clock_gettime",
                                "clock_getres": "__kernel_clock_getres",
                                "gettimeofday": "__kernel_gettimeofday",
                                "time": "__kernel_time", "getcpu": "__kernel_getcpu"}),
    "s390x-vdso.so": ("s390x", {"clock_gettime": "__kernel_clock_gettime",
                                "clock_getres": "__kernel_clock_getres",
                                "gettimeofday": "__kernel_gettimeofday",
                                "getcpu": "__kernel_getcpu"}),
}


def test_key_table_hashes_are_right():
    for abi, (version, version_hash, keys) in KEY_TABLES.items():
        assert elf_hash(version) == version_hash, abi
        for function, symbol, symbol_elf_hash, symbol_gnu_hash, _ in keys:
            assert function in vdso.API_FUNCTIONS
            assert elf_hash(symbol) == symbol_elf_hash, (abi, symbol)
            assert gnu_hash(symbol) == symbol_gnu_hash, (abi, symbol)
            assert symbol.startswith(("__vdso_", "__kernel_")), "only prefixed names"


# The 32-bit ABIs: their vDSOs' old entry points carry 32-bit seconds.
ABIS_32 = {"i386", "arm", "mips"}


def test_time32_entry_points_only_where_32_bits_always_suffice():
    # A time needs 64-bit seconds after 2038; a resolution never does. So a 32-bit ABI
    # may bind its old clock_getres (through the widening shim), never its old
    # clock_gettime, gettimeofday or time.
    assert vdso.TIME32_FUNCTIONS == {"clock_getres"}
    for abi, (_, _, keys) in KEY_TABLES.items():
        for function, symbol, _, _, layout in keys:
            assert layout in ("direct", "time32"), (abi, symbol)
            if layout == "time32":
                assert abi in ABIS_32 and function in vdso.TIME32_FUNCTIONS, (abi, symbol)
            if abi in ABIS_32 and function != "getcpu":
                assert layout == "time32" or symbol.endswith("64"), (abi, symbol)


def test_every_issue_abi_has_a_table():
    assert set(KEY_TABLES) >= {"x86_64", "i386", "aarch64", "arm", "riscv64", "ppc64",
                               "s390x", "loongarch64", "mips"}
    assert KEY_TABLES["loongarch64"][0] == "LINUX_5.10"


def test_the_build_picks_its_own_table():
    assert vdso.NATIVE_ABI == kernel.ABI


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_resolve_fixture_with_its_abi_table(name):
    from elftools.elf.elffile import ELFFile

    abi, expected = EXPECTED[name]
    path = fixture_path(name)
    result = vdso.resolve(path.read_bytes(), abi)
    bound = {f: b for f, b in result.items() if not isinstance(b, str)}
    assert {f: b.symbol for f, b in bound.items()} == expected
    version = KEY_TABLES[abi][0]
    with open(path, "rb") as f:  # the oracle: pyelftools' symbol values and segments
        elf = ELFFile(f)
        symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".dynsym").iter_symbols()}
        text = next(seg for seg in elf.iter_segments()
                    if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 1)
    for function, binding in bound.items():
        assert binding.backend == "vdso" and binding.version == version
        time32 = abi in ABIS_32 and function == "clock_getres"
        assert (binding.reason is not None) == time32  # the shim is named
        value = symbols[binding.symbol]
        assert binding.address == text["p_offset"] + value - text["p_vaddr"]
    for function in set(vdso.API_FUNCTIONS) - set(expected):
        assert isinstance(result[function], str)  # a reason, not a binding


def test_a_foreign_table_binds_nothing():
    result = vdso.resolve(fixture_path("aarch64-vdso.so").read_bytes(), "x86_64")
    assert all(isinstance(reason, str) and "is not in the vDSO" in reason
               for reason in result.values())


def test_resolve_rejects_unknown_abis_and_bad_data():
    with pytest.raises(ValueError, match="abi must be one of"):
        vdso.resolve(fixture_path("x86_64-vdso.so").read_bytes(), "vax")
    with pytest.raises(vdsotime.ElfError):
        vdso.resolve(b"not an elf image at all")


def _symbol_entry(path, name):
    """(file offset of the .dynsym entry of ``name``, of its name in .dynstr)."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        dynsym = elf.get_section_by_name(".dynsym")
        dynstr = elf.get_section_by_name(".dynstr")
        for index, symbol in enumerate(dynsym.iter_symbols()):
            if symbol.name == name:
                return (dynsym["sh_offset"] + index * dynsym["sh_entsize"],
                        dynstr["sh_offset"] + symbol["st_name"])
    raise KeyError(name)


def test_weak_unprefixed_aliases_are_never_bound():
    # Rename __vdso_clock_gettime: the weak alias clock_gettime is still there, but the
    # resolver must not take it.
    path = fixture_path("x86_64-vdso.so")
    data = bytearray(path.read_bytes())
    _, name_offset = _symbol_entry(path, "__vdso_clock_gettime")
    data[name_offset] = ord("X")  # (the alias's name is the tail of this one's)
    image = vdsotime.ElfImage.from_bytes(bytes(data))
    assert image.lookup("clock_gettime") is not None
    result = vdso.resolve(bytes(data), "x86_64")
    assert isinstance(result["clock_gettime"], str)
    assert result["time"].symbol == "__vdso_time"


@pytest.mark.parametrize("value", [0x100000, 0xFFFFFFFFFFFFFF00, 0x0])
def test_addresses_outside_the_executable_segment_are_refused(value):
    path = fixture_path("x86_64-vdso.so")
    data = bytearray(path.read_bytes())
    entry, _ = _symbol_entry(path, "__vdso_getcpu")
    struct.pack_into("<Q", data, entry + 8, value)  # st_value
    result = vdso.resolve(bytes(data), "x86_64")
    if value == 0:
        # Inside the segment (it starts at 0) but its st_size runs on past no end: still
        # inside, so it binds -- the rule is about the segment, not about sense.
        assert not isinstance(result["getcpu"], str)
    else:
        assert "outside the vDSO's executable PT_LOAD" in result["getcpu"]
    assert result["clock_gettime"].symbol == "__vdso_clock_gettime"


def test_symbol_running_past_the_segment_is_refused():
    path = fixture_path("x86_64-vdso.so")
    data = bytearray(path.read_bytes())
    entry, _ = _symbol_entry(path, "__vdso_time")
    struct.pack_into("<Q", data, entry + 16, 1 << 40)  # st_size
    assert "outside" in vdso.resolve(bytes(data), "x86_64")["time"]


def test_non_executable_segment_is_refused():
    from elftools.elf.elffile import ELFFile

    path = fixture_path("x86_64-vdso.so")
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for index, segment in enumerate(elf.iter_segments()):
            if segment["p_type"] == "PT_LOAD":
                offset = elf["e_phoff"] + index * elf["e_phentsize"] + 4
                struct.pack_into("<I", data, offset, segment["p_flags"] & ~1)  # clear PF_X
    result = vdso.resolve(bytes(data), "x86_64")
    assert all(isinstance(reason, str) for reason in result.values())


def test_object_symbols_are_refused():
    path = fixture_path("x86_64-vdso.so")
    data = bytearray(path.read_bytes())
    entry, _ = _symbol_entry(path, "__vdso_clock_getres")
    data[entry + 4] = (data[entry + 4] & 0xF0) | 1  # STT_OBJECT
    assert "not a function" in vdso.resolve(bytes(data), "x86_64")["clock_getres"]


def test_live_bindings_are_the_ones_this_abis_table_gives():
    # The expectation comes from the ABI's key table and the live vDSO's symbol list
    # (tests/abi.py): all five functions from the vDSO on x86-64; clock_gettime,
    # clock_getres and gettimeofday on arm64 (its vDSO has no time and no getcpu: libc's,
    # with the reason); on the 32-bit ABIs gettimeofday and time computed from
    # clock_gettime64, and clock_getres through the widening shim.
    info = vdsotime.info()
    assert info.present
    start = info.base
    end = info.base + info.size
    expected = abi.expected_bindings()
    assert {name: (b.backend, b.symbol, b.version) for name, b in info.functions.items()} \
        == expected
    for name, binding in info.functions.items():
        assert vdsotime.address(name) == binding.address
        if binding.backend == "libc":
            assert binding.reason and info.fallback_reason and \
                f"{name}: " in info.fallback_reason, binding
            continue
        symbol = next(s for s in info.symbols if s.name == binding.symbol)
        if name in abi.from_vdso():  # the vDSO function itself
            assert binding.reason is None
            assert start <= binding.address < end
            # The kernel links its vDSO at 0: the symbol's value is its offset from the
            # base. QEMU relocates its vDSO to the address it maps it at: there the
            # value is the address. (ppc64 ELFv1 calls through a descriptor instead.)
            if abi.ABI != "ppc64":
                linked_at = info.base if symbol.value < info.size or not \
                    abi.emulated() else 0
                assert binding.address == linked_at + symbol.value
        else:  # vdsotime's code around it, which says so
            assert binding.reason
            assert not start <= binding.address < end
    assert set(info.functions) == set(vdso.API_FUNCTIONS)
    libc = {name for name, (backend, *_) in expected.items() if backend == "libc"}
    assert (info.fallback_reason is None) == (not libc)
    if abi.ABI == "x86_64":  # the machine most users run on: everything from the vDSO
        assert not libc and abi.from_vdso() == set(vdso.API_FUNCTIONS)


def test_info_is_immutable_and_serialisable():
    import json

    info = vdsotime.info()
    with pytest.raises(AttributeError):
        info.present = False
    with pytest.raises(TypeError):
        info.functions["time"] = None
    data = json.loads(json.dumps(info.to_dict()))
    assert data["functions"]["clock_gettime"]["backend"] == "vdso"
    image = vdsotime.ElfImage.from_bytes(vdsotime.vdso_image())
    assert (data["soname"], data["elf_class"]) == (image.soname, image.elf_class)
    assert data["elf_class"] == (32 if abi.ABI_32 else 64)
    assert data["soname"] == abi.SONAME
    assert isinstance(info, vdsotime.VdsoInfo)


def test_address_errors():
    with pytest.raises(ValueError, match="name must be one of clock_gettime"):
        vdsotime.address("clock_settime")
    with pytest.raises(TypeError, match="name must be str, got int"):
        vdsotime.address(3)


def test_address_is_callable_through_ctypes():
    prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(kernel.timespec))
    clock_gettime = prototype(vdsotime.address("clock_gettime"))
    ts = kernel.timespec()
    before = kernel.clock_gettime_ns(1)
    assert clock_gettime(1, ctypes.byref(ts)) == 0
    after = kernel.clock_gettime_ns(1)
    assert before <= ts.tv_sec * 10**9 + ts.tv_nsec <= after


FALLBACK_CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = sys.argv[1:2]
    import errno, os, vdsotime, kernel
    info = vdsotime.info()
    assert all(b.backend == "libc" for b in info.functions.values()), info.functions
    assert all("VDSOTIME_DISABLE_VDSO" in b.reason for b in info.functions.values())
    assert "VDSOTIME_DISABLE_VDSO" in info.fallback_reason
    assert not info.present
    for clock_id in kernel.ALL_CLOCKS.values():
        for _ in range(300):
            before = kernel.clock_gettime_ns(clock_id)
            value = vdsotime.clock_gettime_ns(clock_id)
            after = kernel.clock_gettime_ns(clock_id)
            assert before <= value <= after
        assert vdsotime.clock_getres_ns(clock_id) == kernel.clock_getres_ns(clock_id)
    try:
        vdsotime.clock_gettime_ns(99)
        raise AssertionError("no error")
    except OSError as exc:
        assert exc.errno == errno.EINVAL
    assert vdsotime.getcpu() == kernel.getcpu()
    sec, usec = vdsotime.gettimeofday()
    assert abs(sec * 10**6 + usec - kernel.clock_gettime_ns(0) // 1000) < 10**6
    print("ok")
""")


def test_forced_fallback_is_correct():
    import os

    tests = os.path.dirname(__file__)
    result = run_python(FALLBACK_CHILD, tests, env={"VDSOTIME_DISABLE_VDSO": "1"})
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize("value,disabled", [("0", False), ("", False), ("yes", True)])
def test_disable_variable_values(value, disabled):
    code = ("import vdsotime\nprint(vdsotime.info().functions['clock_gettime'].backend)")
    result = run_python(code, env={"VDSOTIME_DISABLE_VDSO": value})
    assert result.stdout.strip() == ("libc" if disabled else "vdso"), result.stderr
