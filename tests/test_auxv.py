"""auxv() against getauxval, and vdso_image() against the mapping and the live i386 vDSO."""

import ctypes
import mmap
import platform
import struct
import subprocess

import pytest

import vdsotime
from vdsotime import ElfImage
from vdsotime._core import auxv

from oracle import FIXTURES, as_tuples, pyelftools_view, readelf_view
from requires import require_command, require_gcc_m32, require_path

libc = ctypes.CDLL(None, use_errno=True)
libc.getauxval.restype = ctypes.c_ulong
libc.getauxval.argtypes = [ctypes.c_ulong]

AT_PHDR, AT_PAGESZ, AT_SYSINFO_EHDR = 3, 6, 33


def test_auxv_agrees_with_proc_and_getauxval():
    vector = vdsotime.auxv()
    raw = open(require_path("/proc/self/auxv"), "rb").read()
    pairs = struct.iter_unpack("@LL", raw[:len(raw) // 16 * 16])
    expected = {}
    for key, value in pairs:
        if key == 0:
            break
        expected[key] = value
    assert vector == expected
    for key, value in vector.items():
        if key not in (16, 26):  # glibc rewrites AT_HWCAP/AT_HWCAP2 on x86 for getauxval
            assert libc.getauxval(key) == value, f"auxv entry {key}"
    assert vector[AT_PAGESZ] == mmap.PAGESIZE
    assert vector[AT_SYSINFO_EHDR] == auxv.sysinfo_ehdr() != 0
    assert 0 not in vector


def test_parse_auxv_stops_at_at_null_and_ignores_a_partial_pair():
    pack = struct.Struct("@LL").pack
    data = pack(6, 4096) + pack(33, 0x7000) + pack(0, 0) + pack(99, 1)
    assert auxv.parse_auxv(data) == {6: 4096, 33: 0x7000}
    assert auxv.parse_auxv(pack(6, 4096) + b"\x01\x02\x03") == {6: 4096}
    assert auxv.parse_auxv(b"") == {}
    assert auxv.parse_auxv(bytearray(pack(17, 100))) == {17: 100}
    with pytest.raises(TypeError, match="data must be bytes"):
        auxv.parse_auxv("6 4096")


def _maps_entry(base):
    with open(require_path("/proc/self/maps")) as f:
        for line in f:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start == base:
                return end - start, line.split()[-1]
    raise AssertionError("no mapping at the vDSO base")


def test_vdso_image_is_the_whole_mapping():
    base = auxv.sysinfo_ehdr()
    size, name = _maps_entry(base)
    assert name == "[vdso]"
    image = vdsotime.vdso_image()
    assert len(image) == size
    assert image == ctypes.string_at(base, size)
    assert image[:4] == b"\x7fELF"
    assert isinstance(image, bytes)


def test_vdso_size_from_headers_covers_the_image():
    # The fallback used when /proc/self/maps cannot be read: PT_LOAD extent rounded up to
    # a page. It must cover every loaded byte and stay inside the mapping.
    size_from_maps = auxv.vdso_size()
    size_from_headers = auxv.vdso_size(use_maps=False)
    image = ElfImage.from_bytes(vdsotime.vdso_image())
    end = max(offset + filesz for offset, _, filesz, _, _ in image.load_segments)
    assert end <= size_from_headers <= size_from_maps
    assert size_from_headers % mmap.PAGESIZE == 0


def test_x86_64_dumper_sees_the_same_vdso(tmp_path):
    # The C dumper of tests/fixtures (which made x86_64-vdso.so) run now: the kernel maps
    # the same image into every process.
    require_path("/proc/self/maps")  # where the dumper finds the image's extent
    gcc = require_command("gcc", "gcc")
    exe = tmp_path / "dump64"
    subprocess.run([gcc, "-O2", "-o", str(exe), str(FIXTURES / "dump_vdso.c")], check=True)
    out = tmp_path / "vdso64.so"
    subprocess.run([str(exe), str(out)], check=True)
    assert out.read_bytes() == vdsotime.vdso_image()


@pytest.mark.skipif(platform.machine() != "x86_64", reason="an i386 vDSO needs an x86-64 "
                    "kernel")
def test_live_i386_vdso(tmp_path):
    # The real i386 vDSO (linux-gate.so.1), dumped by a static gcc -m32 program.
    gcc = require_gcc_m32()
    exe = tmp_path / "dump32"
    subprocess.run([gcc, "-m32", "-static", "-O2", "-o", str(exe),
                    str(FIXTURES / "dump_vdso.c")], check=True)
    out = tmp_path / "vdso32.so"
    subprocess.run([str(exe), str(out)], check=True)
    image = ElfImage.from_file(out)
    assert (image.elf_class, image.byteorder, image.machine) == (32, "little", "i386")
    assert image.soname == "linux-gate.so.1"
    assert "LINUX_2.6" in image.versions
    assert as_tuples(image) == readelf_view(out)["symbols"] == pyelftools_view(out)["symbols"]
    for name in ("__vdso_clock_gettime", "__vdso_clock_gettime64", "__vdso_gettimeofday",
                 "__vdso_time", "__vdso_clock_getres"):
        symbol = image.lookup(name, "LINUX_2.6")
        assert symbol is not None and symbol.type == "FUNC", name
        start, end = image.executable_range
        assert start <= symbol.value < end
