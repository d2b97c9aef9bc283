"""Hostile images: hand-broken ones, every truncation, and random mutants in a child.

Offsets of the structures to break come from pyelftools (an oracle outside our code).
"""

import struct
import textwrap

import pytest

from vdsotime import ElfError, ElfImage
from vdsotime._core.elf import elf_hash, gnu_hash

from oracle import FIXTURE_SHAPES, fixture_path, run_python


class Image:
    """A fixture's bytes with helpers to overwrite its fields in its own layout."""

    def __init__(self, name):
        from elftools.elf.elffile import ELFFile

        self.path = fixture_path(name)
        self.data = bytearray(self.path.read_bytes())
        with open(self.path, "rb") as f:
            elf = ELFFile(f)
            self.is64 = elf.elfclass == 64
            self.endian = "<" if elf.little_endian else ">"
            self.sections = {s.name: (s["sh_offset"], s["sh_size"]) for s in elf.iter_sections()}
            dynamic = elf.get_section_by_name(".dynamic")
            self.dynamic = {}
            for i, tag in enumerate(dynamic.iter_tags()):
                self.dynamic.setdefault(tag.entry.d_tag, dynamic["sh_offset"]
                                        + i * dynamic["sh_entsize"])
            self.phdrs = [(elf["e_phoff"] + i * elf["e_phentsize"], seg["p_type"])
                          for i, seg in enumerate(elf.iter_segments())]
        self.word = "Q" if self.is64 else "I"

    def put(self, offset, fmt, value):
        struct.pack_into(self.endian + fmt, self.data, offset, value)
        return self

    def get(self, offset, fmt):
        return struct.unpack_from(self.endian + fmt, self.data, offset)[0]

    def put_header(self, field64, field32, fmt, value):
        return self.put(field64 if self.is64 else field32, fmt, value)

    def set_dyn(self, tag, value=None, new_tag=None):
        """Change the value (or the tag) of a dynamic entry."""
        entry = self.dynamic[tag]
        size = 8 if self.is64 else 4
        if new_tag is not None:
            self.put(entry, self.word, new_tag)
        if value is not None:
            self.put(entry + size, self.word, value)
        return self

    def dyn_value(self, tag):
        return self.get(self.dynamic[tag] + (8 if self.is64 else 4), self.word)

    def phdr(self, p_type):
        return next(offset for offset, kind in self.phdrs if kind == p_type)

    def parse(self):
        image = ElfImage.from_bytes(bytes(self.data))
        image.symbols  # noqa: B018 -- listing the symbols reads every one of them
        return image


def sysv_bucket_and_chain(image, name):
    """(offset of the SysV bucket word for ``name``, offset of chain[0])."""
    offset, _ = image.sections[".hash"]
    nbucket = image.get(offset, "I")
    bucket = offset + 4 * (2 + elf_hash(name) % nbucket)
    return bucket, offset + 4 * (2 + nbucket)


BROKEN = {
    "empty": (lambda: b"", "too short"),
    "magic only": (lambda: b"\x7fELF", "too short"),
    "not ELF": (lambda: b"MZ" + bytes(200), "not an ELF image"),
    "bad class": (lambda: Image("x86_64-vdso.so").put(4, "B", 3).data, "unknown ELF class 3"),
    "bad byte order": (lambda: Image("x86_64-vdso.so").put(5, "B", 0).data,
                       "unknown byte order 0"),
    "bad version": (lambda: Image("mips-vdso.so").put(6, "B", 7).data, "ELF version"),
    "relocatable object": (lambda: Image("x86_64-vdso.so").put(16, "H", 1).data,
                           "e_type is 1"),
    "small e_phentsize": (lambda: Image("mips-vdso.so").put_header(54, 42, "H", 8).data,
                          "e_phentsize is 8"),
    "e_phoff past the end": (
        lambda: Image("x86_64-vdso.so").put(32, "Q", 0xFFFFFFFFFFFF0000).data,
        "program header table"),
    "e_phnum is PN_XNUM": (lambda: Image("arm-vdso.so").put_header(56, 44, "H", 0xFFFF).data,
                           "PN_XNUM"),
    "huge e_phnum": (lambda: Image("s390x-vdso.so").put_header(56, 44, "H", 0xFFFE).data,
                     "program header table"),
    "no program headers": (lambda: Image("riscv64-vdso.so").put_header(56, 44, "H", 0).data,
                           "no program headers"),
    "no PT_DYNAMIC": (lambda: (lambda i: i.put(i.phdr("PT_DYNAMIC"), "I", 0))(
        Image("x86_64-vdso.so")).data, "no PT_DYNAMIC"),
    "PT_DYNAMIC past the end": (lambda: (lambda i: i.put(i.phdr("PT_DYNAMIC") + 8, "Q",
                                                         1 << 40))(
        Image("x86_64-vdso.so")).data, "PT_DYNAMIC segment"),
    "PT_LOAD larger than the file": (lambda: (lambda i: i.put(i.phdr("PT_LOAD") + 16, "I",
                                                              0x7FFFFFFF))(
        Image("mips-vdso.so")).data, "p_filesz|PT_LOAD segment"),
    "DT_STRTAB outside every PT_LOAD": (
        lambda: Image("x86_64-vdso.so").set_dyn("DT_STRTAB", 1 << 44).data,
        "DT_STRTAB .* not inside any PT_LOAD"),
    "huge DT_STRSZ": (lambda: Image("ppc64-vdso.so").set_dyn("DT_STRSZ", 1 << 60).data,
                      "DT_STRTAB"),
    "string cut by DT_STRSZ": (
        lambda: (lambda i: i.set_dyn("DT_STRSZ", i.dyn_value("DT_SONAME") + 3))(
            Image("aarch64-vdso.so")).data, "not terminated"),
    "no DT_SYMTAB": (lambda: Image("x86_64-vdso.so").set_dyn("DT_SYMTAB", new_tag=21).data,
                     "lacks DT_SYMTAB"),
    "wrong DT_SYMENT": (lambda: Image("x86_64-vdso.so").set_dyn("DT_SYMENT", 16).data,
                        "DT_SYMENT is 16"),
    "no hash table": (lambda: Image("ppc64-vdso.so").set_dyn("DT_HASH", new_tag=21).data,
                      "neither DT_HASH nor DT_GNU_HASH"),
    "nbucket 0": (lambda: (lambda i: i.put(i.sections[".hash"][0], "I", 0))(
        Image("ppc64-vdso.so")).data, "nbucket = 0"),
    "huge nchain": (lambda: (lambda i: i.put(i.sections[".hash"][0] + 4, "I", 0xFFFFFFFF))(
        Image("arm-vdso.so")).data, "nchain"),
    "huge s390x nchain (64-bit entry)": (
        lambda: (lambda i: i.put(i.sections[".hash"][0] + 8, "Q", 1 << 62))(
            Image("s390x-vdso.so").set_dyn("DT_GNU_HASH", new_tag=21)).data, "nchain"),
    "GNU nbuckets 0": (lambda: (lambda i: i.put(i.sections[".gnu.hash"][0], "I", 0))(
        Image("aarch64-vdso.so")).data, "nbuckets = 0"),
    "huge GNU bloom": (lambda: (lambda i: i.put(i.sections[".gnu.hash"][0] + 8, "I",
                                                0xFFFFFFF))(
        Image("aarch64-vdso.so")).data, "DT_GNU_HASH buckets"),
    "GNU bucket below symoffset": (
        lambda: (lambda i: i.put(i.sections[".gnu.hash"][0] + 4, "I", 0xFFFF))(
            Image("riscv64-vdso.so")).data, "below symoffset"),
    "GNU chain with no stop bit": (lambda: _gnu_chain_without_stop_bits("x86_64-vdso.so"),
                                   "DT_HASH says|stop bit"),
    "cyclic verdef list": (lambda: _cyclic_verdef("x86_64-vdso.so"), "vd_next"),
    "cyclic verdef list (ELF32 big-endian)": (lambda: _cyclic_verdef("mips-vdso.so"),
                                              "vd_next"),
    "huge DT_VERDEFNUM": (lambda: Image("riscv64-vdso.so").set_dyn("DT_VERDEFNUM",
                                                                   1 << 40).data,
                          "DT_VERDEFNUM is"),
    "verdef vd_aux past the end": (
        lambda: (lambda i: i.put(i.sections[".gnu.version_d"][0] + 12, "I", 0xFFFFFFF0))(
            Image("arm-vdso.so")).data, "vda_name"),
    "verdef with a wrong vd_hash": (
        lambda: (lambda i: i.put(i.sections[".gnu.version_d"][0] + 8, "I", 1234))(
            Image("s390x-vdso.so")).data, "vd_hash"),
    "verdef index defined twice": (lambda: _duplicate_verdef_index("x86_64-vdso.so"),
                                   "defined twice"),
    "versym names no version": (lambda: (lambda i: i.put(i.sections[".gnu.version"][0] + 2,
                                                         "H", 9))(
        Image("x86_64-vdso.so")).data, "version index 9"),
    "huge DT_VERNEEDNUM": (lambda: Image("x86_64-copyreloc").set_dyn("DT_VERNEEDNUM",
                                                                       1 << 40).data,
                           "DT_VERNEEDNUM is"),
    "verneed vn_next pointing back": (lambda: _backward_verneed("x86_64-copyreloc"),
                                      "vn_next|version index .* defined twice"),
    "vernaux past the end": (
        lambda: (lambda i: i.put(i.sections[".gnu.version_r"][0] + 8, "I", 0xFFFFFF00))(
            Image("x86_64-copyreloc")).data, "Vernaux"),
    "vernaux name past the string table": (
        lambda: (lambda i: i.put(i.sections[".gnu.version_r"][0] + i.get(
            i.sections[".gnu.version_r"][0] + 8, "I") + 8, "I", 0x7FFFFFF0))(
            Image("x86_64-copyreloc")).data, "needed version name"),
    "symbol name past the string table": (
        lambda: (lambda i: i.put(i.sections[".dynsym"][0] + 24, "I", 0x7FFFFFFF))(
            Image("x86_64-vdso.so")).data, "symbol name"),
}


def _gnu_chain_without_stop_bits(name):
    image = Image(name)
    offset, size = image.sections[".gnu.hash"]
    nbuckets, symoffset, bloom_size = (image.get(offset + 4 * k, "I") for k in range(3))
    chain = offset + 16 + bloom_size * (8 if image.is64 else 4) + 4 * nbuckets
    for word in range(chain, offset + size, 4):
        image.put(word, "I", image.get(word, "I") & ~1)
    return image.data


def _cyclic_verdef(name):
    # The second definition's vd_next points back at the first: a reader that adds it in
    # 32 bits (or walks by pointer) would go round for ever.
    image = Image(name)
    offset, _ = image.sections[".gnu.version_d"]
    first_next = image.get(offset + 16, "I")
    image.put(offset + first_next + 16, "I", (1 << 32) - first_next)
    image.set_dyn("DT_VERDEFNUM", 1000)
    return image.data


def _backward_verneed(name):
    # The first need entry's vn_next points back at itself (-0 would end the list; -16
    # wraps to the entry before it): the walk must not go round.
    image = Image(name)
    offset, _ = image.sections[".gnu.version_r"]
    image.put(offset + 12, "I", (1 << 32) - 16)
    image.set_dyn("DT_VERNEEDNUM", 1000)
    return image.data


def _duplicate_verdef_index(name):
    image = Image(name)
    offset, _ = image.sections[".gnu.version_d"]
    first_next = image.get(offset + 16, "I")
    image.put(offset + first_next + 4, "H", image.get(offset + 4, "H"))
    return image.data


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_image_gives_elf_error(case):
    make, message = BROKEN[case]
    data = bytes(make())
    with pytest.raises(ElfError, match=message):
        image = ElfImage.from_bytes(data)
        image.symbols  # noqa: B018
        for symbol in image.symbols:
            image.lookup(symbol.name)


def test_enough_hand_broken_images():
    assert len(BROKEN) >= 12


def test_gnu_chain_without_stop_bit_in_gnu_only_image_terminates():
    # With no DT_HASH to compare against, the count walk runs until a word with the stop
    # bit or the end of the image; either way the reader ends, and what it reads is
    # either an ElfError or symbols whose every field came from inside the image.
    data = bytes(_gnu_chain_without_stop_bits("aarch64-vdso.so"))
    try:
        image = ElfImage.from_bytes(data)
        symbols = image.symbols
        for symbol in symbols:
            image.lookup(symbol.name)
    except ElfError:
        return
    assert len(symbols) >= len(ElfImage.from_file(fixture_path("aarch64-vdso.so")).symbols)


def test_sysv_chain_loop_is_an_error_not_a_hang():
    image = Image("ppc64-vdso.so")
    missing = "__kernel_not_here"
    bucket, chain = sysv_bucket_and_chain(image, missing)
    head = image.get(bucket, "I")
    if head == 0:  # make the bucket non-empty first
        head = 1
        image.put(bucket, "I", head)
    image.put(chain + 4 * head, "I", head)  # chain[head] = head
    parsed = ElfImage.from_bytes(bytes(image.data))
    with pytest.raises(ElfError, match="loops"):
        parsed.lookup(missing)


def test_sysv_chain_index_past_the_table():
    image = Image("arm-vdso.so")
    missing = "__vdso_not_here"
    bucket, _ = sysv_bucket_and_chain(image, missing)
    image.put(bucket, "I", 0xFFFFFF)
    parsed = ElfImage.from_bytes(bytes(image.data))
    with pytest.raises(ElfError, match="past the symbol table"):
        parsed.lookup(missing)


def test_gnu_hash_with_zero_symbols_is_fine():
    # Every bucket empty and DT_HASH hidden: a valid image with no hashed symbols.
    image = Image("aarch64-vdso.so")
    offset, _ = image.sections[".gnu.hash"]
    nbuckets, _, bloom_size = (image.get(offset + 4 * k, "I") for k in range(3))
    start = offset + 16 + 8 * bloom_size
    image.data[start:start + 4 * nbuckets] = bytes(4 * nbuckets)
    parsed = ElfImage.from_bytes(bytes(image.data))
    assert parsed.lookup("__kernel_clock_gettime") is None
    assert gnu_hash("__kernel_clock_gettime") % nbuckets < nbuckets


@pytest.mark.parametrize("name", sorted(FIXTURE_SHAPES))
def test_every_truncation(name):
    """Cut the image at every length: an ElfError, or (once everything loaded is there)
    the same symbols as the whole image."""
    data = fixture_path(name).read_bytes()
    whole = ElfImage.from_bytes(data)
    loaded_end = max(offset + filesz for offset, _, filesz, _, _ in whole.load_segments)
    errors = 0
    for length in range(len(data)):
        try:
            image = ElfImage.from_bytes(data[:length])
            symbols = image.symbols
        except ElfError:
            errors += 1
            assert length < loaded_end, f"cut at {length} should still parse"
            continue
        assert length >= loaded_end
        assert symbols == whole.symbols
    assert errors == min(loaded_end, len(data))


MUTATION_CHILD = textwrap.dedent("""
    import random, struct, sys
    from vdsotime import ElfError, ElfImage
    seed, count, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(seed)
    originals = [open(p, "rb").read() for p in paths]
    names = {}
    for p, data in zip(paths, originals):
        names[p] = [s.name for s in ElfImage.from_bytes(data).symbols] + ["nope"]
    extremes = [0, 1, 2, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff,
                0xffffffffffffffff, 1 << 31, 1 << 63]
    parsed = errors = 0
    for n in range(count):
        k = rng.randrange(len(paths))
        data = bytearray(originals[k])
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            # Half the mutations hit the first 1 KiB, where the headers, hash tables,
            # dynamic section and version tables of these small images live.
            limit = min(len(data), 1024) if rng.random() < 0.5 else len(data)
            offset = rng.randrange(limit)
            kind = rng.random()
            if kind < 0.4:
                data[offset] ^= 1 << rng.randrange(8)
            elif kind < 0.8:
                width = rng.choice((2, 4, 8))
                value = rng.choice(extremes) if rng.random() < 0.6 else rng.getrandbits(64)
                raw = (value & ((1 << (8 * width)) - 1)).to_bytes(width, rng.choice(("little", "big")))
                data[offset:offset + width] = raw
            else:
                data[offset] = rng.randrange(256)
        if rng.random() < 0.1:
            del data[rng.randrange(len(data)):]
        try:
            image = ElfImage.from_bytes(bytes(data))
            image.symbols, image.versions, image.soname, image.hash_styles, repr(image)
            for name in names[paths[k]]:
                image.lookup(name)
                image.lookup(name, "LINUX_2.6")
            parsed += 1
        except ElfError:
            errors += 1
    print(parsed, errors)
""")


def test_random_mutants_in_a_child_process():
    """Thousands of seeded mutants of every fixture: each parses or raises ElfError.
    A crash kills the child (not this run) and fails here; a hang hits the timeout."""
    paths = [str(fixture_path(name)) for name in sorted(FIXTURE_SHAPES) + ["x86_64-copyreloc"]]
    count = 9000
    result = run_python(MUTATION_CHILD, "20261125", str(count), *paths, timeout=600)
    assert result.returncode == 0, (
        f"mutation child died with {result.returncode}: {result.stderr[-3000:]}")
    parsed, errors = map(int, result.stdout.split())
    assert parsed + errors == count
    assert errors > count // 10 and parsed > count // 10  # both outcomes really happen
