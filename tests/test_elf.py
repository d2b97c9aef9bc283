"""The ELF reader against readelf and pyelftools, on real images of eight ABIs."""

import os
import re
import struct
import subprocess

import pytest

import vdsotime
from vdsotime import ElfError, ElfImage, Symbol
from vdsotime._core.elf import elf_hash, gnu_hash

import abi
from oracle import (EM_NAMES, FIXTURE_SHAPES, as_tuples, fixture_path, pyelftools_view,
                    readelf_view, NEUTRAL_CWD)
from requires import require_command, require_path

ALL_FIXTURES = sorted(FIXTURE_SHAPES)


def test_hash_golden_values():
    assert elf_hash("LINUX_2.6") == 0x3AE75F6
    assert elf_hash("__vdso_clock_gettime") == 0x0D35EC75
    assert gnu_hash("__vdso_clock_gettime") == 0x6E43A318
    assert elf_hash(b"") == 0 and gnu_hash(b"") == 5381
    assert elf_hash(b"LINUX_2.6") == elf_hash("LINUX_2.6")


def test_hash_functions_reject_other_types():
    with pytest.raises(TypeError, match="name must be str or bytes, got int"):
        elf_hash(5)
    with pytest.raises(TypeError, match="name must be str or bytes"):
        gnu_hash(None)


def test_a_name_no_bytes_can_spell_is_a_value_error_naming_the_argument():
    """A lone surrogate outside surrogateescape's range is no name of any image."""
    image = ElfImage.from_file(fixture_path("x86_64-vdso.so"))
    for call, argument in ((lambda: image.lookup("\ud800"), "ElfImage.lookup(): name"),
                           (lambda: elf_hash("a\udbff"), "elf_hash(): name"),
                           (lambda: gnu_hash("\ud800"), "gnu_hash(): name")):
        with pytest.raises(ValueError, match=re.escape(argument) + " must be a symbol name"):
            call()
    # Names read from an image with undecodable bytes still round-trip.
    assert elf_hash("\udcff") == elf_hash(b"\xff")


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_matches_readelf_and_pyelftools(name):
    path = fixture_path(name)
    image = ElfImage.from_file(path)
    elf_class, byteorder, machine, version, hash_styles = FIXTURE_SHAPES[name]
    by_readelf = readelf_view(path)
    by_pyelftools = pyelftools_view(path)

    # The fixture is what the issue asked for ...
    assert (image.elf_class, image.byteorder, image.machine) == (elf_class, byteorder, machine)
    assert version in image.versions
    assert set(image.hash_styles) == hash_styles
    # ... and vdsotime reads it as both oracles do.
    assert image.elf_class == by_pyelftools["elf_class"]
    assert image.byteorder == by_pyelftools["byteorder"]
    assert EM_NAMES[image.machine] == by_pyelftools["e_machine"]
    assert image.soname == by_readelf["soname"]
    assert list(image.versions) == by_readelf["versions"] == by_pyelftools["versions"]
    assert set(image.hash_styles) == by_readelf["hash_styles"]
    assert as_tuples(image) == by_readelf["symbols"] == by_pyelftools["symbols"]
    assert len(image.symbols) == len(as_tuples(image)) > 3


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_lookup_finds_every_symbol_through_the_hash_tables(name):
    image = ElfImage.from_file(fixture_path(name))
    for symbol in image.symbols:
        if symbol.bind == "LOCAL":
            continue
        assert image.lookup(symbol.name, symbol.version) == symbol
        assert image.lookup(symbol.name.encode(), symbol.version) == symbol
        found = image.lookup(symbol.name)
        assert found is not None and found.name == symbol.name
        assert image.lookup(symbol.name, "NO_SUCH_VERSION") is None
    assert image.lookup("__no_such_symbol") is None
    assert image.lookup("") is None


def test_live_vdso_matches_readelf_and_pyelftools(live_vdso_file):
    image = ElfImage.from_bytes(vdsotime.vdso_image())
    assert as_tuples(image) == readelf_view(live_vdso_file)["symbols"]
    assert as_tuples(image) == pyelftools_view(live_vdso_file)["symbols"]
    assert image.soname == readelf_view(live_vdso_file)["soname"] == abi.SONAME
    assert abi.VERSION in image.versions  # ("LINUX_2.6",) on x86-64
    clock = image.lookup(abi.clock_gettime_symbol(), abi.VERSION)
    assert clock is not None and clock.type == "FUNC" and clock.bind == "GLOBAL"
    start, end = image.executable_range
    assert start <= clock.value < end


def _patched(data, offset, fmt, value):
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


def _section(path, name):
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        section = ELFFile(f).get_section_by_name(name)
        return section["sh_offset"], section["sh_size"]


def test_lookup_prefers_gnu_hash():
    # Both tables are present; emptying the GNU buckets hides every symbol from lookup
    # (it does not fall back to a scan) while the SysV count still lists them all.
    path = fixture_path("x86_64-vdso.so")
    data = path.read_bytes()
    offset, _ = _section(path, ".gnu.hash")
    nbuckets, _, bloom_size, _ = struct.unpack_from("<4I", data, offset)
    broken = bytearray(data)
    start = offset + 16 + 8 * bloom_size
    broken[start:start + 4 * nbuckets] = bytes(4 * nbuckets)
    image = ElfImage.from_bytes(broken)
    assert len(image.symbols) == len(ElfImage.from_bytes(data).symbols)
    assert image.lookup("__vdso_clock_gettime") is None


@pytest.mark.parametrize("name,endian", [("ppc64-vdso.so", ">"), ("s390x-vdso.so", ">"),
                                         ("x86_64-vdso.so", "<"), ("mips-vdso.so", ">")])
def test_sysv_hash_lookup(name, endian):
    # Hide DT_GNU_HASH (retag it DT_DEBUG) so the SysV table is the one used; on s390x
    # its entries are 64-bit.
    from elftools.elf.elffile import ELFFile

    path = fixture_path(name)
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        elf = ELFFile(f)
        dynamic = elf.get_section_by_name(".dynamic")
        word = "Q" if elf.elfclass == 64 else "I"
        entsize = dynamic["sh_entsize"]
        for i, tag in enumerate(dynamic.iter_tags()):
            if tag.entry.d_tag == "DT_GNU_HASH":
                struct.pack_into(endian + word, data, dynamic["sh_offset"] + i * entsize, 21)
        hash_entsize = elf.get_section_by_name(".hash")["sh_entsize"]
    assert hash_entsize == (8 if name.startswith("s390x") else 4)
    image = ElfImage.from_bytes(data)
    assert image.hash_styles == ("sysv",)
    original = ElfImage.from_file(path)
    assert image.symbols == original.symbols
    for symbol in original.symbols:
        if symbol.bind != "LOCAL":
            assert image.lookup(symbol.name, symbol.version) == symbol


def test_versioned_lookup_skips_other_versions():
    image = ElfImage.from_file(fixture_path("x86_64-vdso.so"))
    assert image.lookup("__vdso_clock_gettime", "LINUX_2.6").version == "LINUX_2.6"
    assert image.lookup("__vdso_clock_gettime", "LINUX_2.6.39") is None
    with pytest.raises(TypeError, match="version must be str or None, got int"):
        image.lookup("__vdso_clock_gettime", 2)
    with pytest.raises(TypeError, match="name must be str or bytes, got float"):
        image.lookup(1.5)


def test_unversioned_image_reports_no_versions():
    # Retag DT_VERSYM/DT_VERDEF/DT_VERDEFNUM as DT_DEBUG: every symbol becomes unversioned.
    from elftools.elf.elffile import ELFFile

    path = fixture_path("aarch64-vdso.so")
    data = bytearray(path.read_bytes())
    with open(path, "rb") as f:
        dynamic = ELFFile(f).get_section_by_name(".dynamic")
        for i, tag in enumerate(dynamic.iter_tags()):
            if tag.entry.d_tag in ("DT_VERSYM", "DT_VERDEF", "DT_VERDEFNUM"):
                struct.pack_into("<Q", data, dynamic["sh_offset"] + 16 * i, 21)
    image = ElfImage.from_bytes(data)
    assert image.versions == ()
    assert all(s.version is None for s in image.symbols)
    assert image.lookup("__kernel_clock_gettime").version is None
    assert image.lookup("__kernel_clock_gettime", "LINUX_2.6.39") is None


def test_attributes_and_repr():
    image = ElfImage.from_file(fixture_path("s390x-vdso.so"))
    assert image.size == os.path.getsize(fixture_path("s390x-vdso.so"))
    assert image.load_offset == image.load_segments[0][0] - image.load_segments[0][1]
    assert "ELF64 big-endian s390x" in repr(image)
    assert isinstance(image.symbols[0], Symbol) and isinstance(image.symbols[0], tuple)
    assert issubclass(ElfError, ValueError)


def test_from_bytes_accepts_buffers_and_copies_them():
    data = fixture_path("x86_64-vdso.so").read_bytes()
    expected = ElfImage.from_bytes(data).symbols
    buffer = bytearray(data)
    image = ElfImage.from_bytes(buffer)
    buffer[:] = bytes(len(buffer))  # changing the source later must not reach the image
    assert image.symbols == expected
    assert ElfImage.from_bytes(memoryview(data)).symbols == expected
    assert ElfImage.from_bytes(memoryview(data)[::1]).symbols == expected


@pytest.mark.parametrize("bad", [None, 12, "a string", [1, 2], 3.5])
def test_from_bytes_rejects_other_types(bad):
    with pytest.raises(TypeError, match="data must be bytes, bytearray or memoryview"):
        ElfImage.from_bytes(bad)


def test_constructor_is_not_public():
    with pytest.raises(TypeError, match="from_bytes"):
        ElfImage()


ELF_IMAGE_SURFACE = ["lookup", "versions", "symbols", "hash_styles", "size", "load_segments",
                     "load_offset", "executable_range", "elf_class", "byteorder", "machine",
                     "soname", "e_machine", "e_type"]


def test_every_public_name_is_covered_by_the_new_object_test():
    public = {name for name in dir(vdsotime.ElfImage) if not name.startswith("_")}
    assert public - {"from_bytes", "from_file"} == set(ELF_IMAGE_SURFACE)


@pytest.mark.parametrize("name", ELF_IMAGE_SURFACE)
def test_an_object_made_with_new_alone_refuses_cleanly(name):
    """ElfImage.__new__ without from_bytes/from_file holds no image: every method and
    property raises TypeError (not SIGFPE on an empty hash table, not a NULL read)."""
    image = vdsotime.ElfImage.__new__(vdsotime.ElfImage)
    with pytest.raises(TypeError, match="holds no image .* use ElfImage.from_bytes"):
        attribute = getattr(image, name)
        attribute("clock_gettime")  # for the methods
    assert "empty" in repr(image)
    assert vdsotime.ElfImage.from_bytes(fixture_path("x86_64-vdso.so").read_bytes()).size


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        ElfImage.from_file(tmp_path / "missing.so")
    with pytest.raises(IsADirectoryError):
        ElfImage.from_file(tmp_path)
    with pytest.raises(TypeError, match="path must be str, bytes or os.PathLike, got int"):
        ElfImage.from_file(3)  # not a file descriptor either
    assert ElfImage.from_file(str(fixture_path("arm-vdso.so")).encode()).machine == "arm"
    text = tmp_path / "text.so"
    text.write_text("hello")
    with pytest.raises(ElfError, match="not an ELF image"):
        ElfImage.from_file(text)


def test_from_file_permission_error(tmp_path):
    # Root reads anything: drop the capabilities that let it (setpriv, from util-linux)
    # in a child process, so the file's mode applies.
    secret = tmp_path / "secret.so"
    secret.write_bytes(fixture_path("x86_64-vdso.so").read_bytes())
    secret.chmod(0)
    code = (f"import vdsotime\ntry:\n    vdsotime.ElfImage.from_file({str(secret)!r})\n"
            "except PermissionError:\n    print('PermissionError')\n")
    command = [os.sys.executable, "-c", code]
    if os.geteuid() == 0:
        command = [require_command("setpriv", "util-linux"),
                   "--bounding-set=-dac_override,-dac_read_search"] + command
    result = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            cwd=NEUTRAL_CWD)
    assert result.stdout.strip() == "PermissionError", result.stderr


def test_python_m_vdsotime_prints_the_vdso():
    result = subprocess.run([os.sys.executable, "-m", "vdsotime"], capture_output=True,
                            text=True, check=True, cwd=NEUTRAL_CWD)
    assert abi.SONAME in result.stdout
    # (x86-64: __vdso_clock_gettime@@LINUX_2.6, a default version)
    assert f"{abi.clock_gettime_symbol()}@@{abi.VERSION}" in result.stdout


def test_copy_relocated_symbols_carry_their_needed_version():
    """A PIE executable's copy of libc's stdout is a defined symbol whose version index
    points into DT_VERNEED: readelf and pyelftools call it stdout@GLIBC_2.2.5."""
    path = fixture_path("x86_64-copyreloc")
    image = ElfImage.from_file(path)
    assert as_tuples(image) == readelf_view(path)["symbols"] == pyelftools_view(path)["symbols"]
    stdout = image.lookup("stdout", "GLIBC_2.2.5")
    assert stdout is not None and stdout.type == "OBJECT" and stdout.size == 8
    assert image.lookup("stdout").version == "GLIBC_2.2.5"
    assert image.versions == ()  # needed versions are not this file's own
    assert image.soname is None


def test_python_interpreter_itself_reads_like_readelf():
    # sys.executable, not python3 from PATH: that may be a wrapper script (pyenv's shims).
    interpreter = os.path.realpath(os.sys.executable)
    image = ElfImage.from_file(interpreter)
    assert as_tuples(image) == readelf_view(interpreter)["symbols"]



# -- lookup() against the dynamic loader ----------------------------------------------

def _loaded_system_libraries():
    """{path: handle} of system shared libraries loaded in this process: the ones it has
    mapped already, and a few common ones loaded now (dlopen of a mapped one is a no-op
    that returns its handle)."""
    import ctypes
    import ctypes.util

    for name in ("m", "z", "ffi", "gcc_s", "stdc++", "crypto", "ssl", "lzma", "bz2",
                 "expat", "uuid", "sqlite3"):
        found = ctypes.util.find_library(name)
        if found:
            try:
                ctypes.CDLL(found)
            except OSError:
                pass
    paths = set()
    with open(require_path("/proc/self/maps")) as maps:
        for line in maps:
            path = line.split(maxsplit=5)[-1].strip()
            if path.startswith(("/lib", "/usr/lib")) and ".so" in os.path.basename(path):
                paths.add(os.path.realpath(path))
    return {path: ctypes.CDLL(path)._handle for path in sorted(paths)}


def _loader():
    """dlsym, dlvsym and each library's load address (link_map.l_addr) via ctypes."""
    import ctypes

    libc = ctypes.CDLL(None)
    dlsym, dlvsym, dlinfo = libc.dlsym, libc.dlvsym, libc.dlinfo
    dlsym.restype = dlvsym.restype = ctypes.c_void_p
    dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    dlinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    RTLD_DI_LINKMAP = 2

    def load_address(handle):
        link_map = ctypes.c_void_p()
        assert dlinfo(handle, RTLD_DI_LINKMAP, ctypes.byref(link_map)) == 0
        return ctypes.c_size_t.from_address(link_map.value).value  # l_addr, first field

    return dlsym, dlvsym, load_address


def _comparable(symbol):
    # What dlsym returns is the symbol's address only for these: an IFUNC gives the
    # resolved function, TLS a thread's copy, a UNIQUE object the process-wide one, and
    # st_value 0 (version-name markers) nothing at all.
    return symbol.type in ("FUNC", "OBJECT", "NOTYPE") and symbol.bind != "UNIQUE" \
        and symbol.value != 0


def test_lookup_agrees_with_dlsym_and_dlvsym_on_system_libraries():
    """Every name and every name@version of the loaded system libraries: lookup() finds
    what glibc's dlsym (no version: the default, never a hidden version) and dlvsym
    find."""
    dlsym, dlvsym, load_address = _loader()
    libraries = _loaded_system_libraries()
    assert len(libraries) >= 3, libraries
    unversioned = versioned = hidden_seen = 0
    for path, handle in libraries.items():
        image = ElfImage.from_file(path)
        base = load_address(handle)
        low = min(vaddr for _, vaddr, _, _, _ in image.load_segments)
        high = max(vaddr + memsz for _, vaddr, _, memsz, _ in image.load_segments)
        for name in sorted({symbol.name for symbol in image.symbols}):
            ours = image.lookup(name)
            theirs = dlsym(handle, name.encode())
            if ours is None:
                # Only hidden versions here: dlsym finds none of them (it may find the
                # name in a library this one depends on).
                assert theirs is None or not base + low <= theirs < base + high, (path, name)
                assert all(s.hidden for s in image.symbols if s.name == name), (path, name)
                hidden_seen += 1
                continue
            assert not ours.hidden, (path, ours)
            if _comparable(ours):
                assert theirs == base + ours.value, (path, ours)
                unversioned += 1
        for symbol in image.symbols:
            if symbol.version is not None and _comparable(symbol):
                assert image.lookup(symbol.name, symbol.version) == symbol
                address = dlvsym(handle, symbol.name.encode(), symbol.version.encode())
                assert address == base + symbol.value, (path, symbol)
                versioned += 1
                hidden_seen += symbol.hidden
    assert unversioned > 1000 and versioned > 1000 and hidden_seen > 0


def test_unversioned_lookup_takes_the_default_version_not_a_hidden_one():
    """libm has exp@GLIBC_2.2.5 (GLIBC_2.0 on i386; hidden, for old binaries) and
    exp@@GLIBC_2.29."""
    images = [ElfImage.from_file(path) for path in _loaded_system_libraries()]
    [image] = [image for image in images if image.soname == "libm.so.6"]
    versions = {s.version: s.hidden for s in image.symbols if s.name == "exp"}
    if len(versions) < 2:
        pytest.skip(f"this libm has one version of exp: {versions}")
    default = image.lookup("exp")
    assert default.hidden is False and versions[default.version] is False
    assert all(hidden for version, hidden in versions.items() if version != default.version)
    for version, hidden in versions.items():  # GLIBC_2.2.5 on x86-64, GLIBC_2.0 on i386
        if hidden:
            old = image.lookup("exp", version)
            assert old.hidden is True and old.value != default.value
