# cython: language_level=3
"""A bounded, read-only ELF reader for dynamic symbol lookup.

One reader serves ELF32 and ELF64 in either byte order: the class only changes a few
field offsets (``Layout``) and the width of ``word()``, the byte order only the direction
in which ``_uint()`` assembles a field's bytes. Every read goes through ``_check`` first; every walk is capped
by the image size or a count taken from the image, so a hostile image ends in
``ElfError`` and never in a crash or an endless loop.

What it reads is what a dynamic loader needs to find a symbol: the program headers, the
dynamic section, the SysV and GNU hash tables, the dynamic symbol table and its string
table, and the symbol versions (``DT_VERSYM``, ``DT_VERDEF``). Section headers are not
used: a vDSO in memory (or a stripped library) need not have them.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memset

from vdsotime._core.record import record

class ElfError(ValueError):
    """The bytes are not an ELF image this reader accepts, or they are malformed."""


Symbol = record("Symbol", "name version value size type bind hidden", defaults=(False,), doc=(
    "A defined dynamic symbol: ``name``, ``version`` (str, or None when unversioned), "
    "``value`` (st_value), ``size`` (st_size), ``type`` ('FUNC', 'OBJECT', ...), ``bind`` "
    "('GLOBAL', ...), ``hidden`` (True for a hidden version, name@VERSION, which only a lookup of that version "
    "finds; False for the default version, name@@VERSION, and for unversioned symbols)."))

# ELF constants, with the spec's names.
cdef enum:
    EI_NIDENT = 16
    ELFCLASS32 = 1
    ELFCLASS64 = 2
    ELFDATA2LSB = 1
    ELFDATA2MSB = 2
    EV_CURRENT = 1
    ET_EXEC = 2
    ET_DYN = 3
    PT_LOAD = 1
    PT_DYNAMIC = 2
    PF_X = 1
    PN_XNUM = 0xffff
    DT_NULL = 0
    DT_HASH = 4
    DT_STRTAB = 5
    DT_SYMTAB = 6
    DT_STRSZ = 10
    DT_SYMENT = 11
    DT_SONAME = 14
    DT_GNU_HASH = 0x6ffffef5
    DT_VERSYM = 0x6ffffff0
    DT_VERDEF = 0x6ffffffc
    DT_VERDEFNUM = 0x6ffffffd
    DT_VERNEED = 0x6ffffffe
    DT_VERNEEDNUM = 0x6fffffff
    SHN_UNDEF = 0
    STB_LOCAL = 0
    VER_FLG_BASE = 1
    VERSYM_HIDDEN = 0x8000
    VERSYM_INDEX = 0x7fff
    VERDEF_SIZE = 20
    VERNEED_SIZE = 16
    VERNAUX_SIZE = 16
    VERDAUX_SIZE = 8
    EM_S390 = 22
    EM_ALPHA = 41
    EM_ALPHA_OLD = 0x9026
    # No real image has more dynamic entries or versions than these caps; they only
    # keep a hostile count from making a walk long.
    MAX_DYNAMIC = 1 << 16
    MAX_VERDEF = 1 << 15

cdef dict MACHINES_32 = {3: "i386", 8: "mips", 20: "ppc", 22: "s390", 40: "arm",
                         243: "riscv32", 258: "loongarch32", 62: "x86_64"}
cdef dict MACHINES_64 = {62: "x86_64", 183: "aarch64", 243: "riscv64", 21: "ppc64",
                         22: "s390x", 8: "mips64", 258: "loongarch64", 41: "alpha",
                         0x9026: "alpha", 2: "sparc64", 43: "sparc64", 3: "i386"}
cdef tuple SYMBOL_TYPES = ("NOTYPE", "OBJECT", "FUNC", "SECTION", "FILE", "COMMON", "TLS")
cdef tuple SYMBOL_BINDS = ("LOCAL", "GLOBAL", "WEAK")

cdef Layout LAYOUT_32
LAYOUT_32.word = 4
LAYOUT_32.ehdr_size = 52
LAYOUT_32.phdr_size = 32
LAYOUT_32.ph_offset = 4
LAYOUT_32.ph_vaddr = 8
LAYOUT_32.ph_filesz = 16
LAYOUT_32.ph_memsz = 20
LAYOUT_32.ph_flags = 24
LAYOUT_32.sym_size = 16
LAYOUT_32.st_name = 0
LAYOUT_32.st_value = 4
LAYOUT_32.st_size = 8
LAYOUT_32.st_info = 12
LAYOUT_32.st_other = 13
LAYOUT_32.st_shndx = 14

cdef Layout LAYOUT_64
LAYOUT_64.word = 8
LAYOUT_64.ehdr_size = 64
LAYOUT_64.phdr_size = 56
LAYOUT_64.ph_flags = 4
LAYOUT_64.ph_offset = 8
LAYOUT_64.ph_vaddr = 16
LAYOUT_64.ph_filesz = 32
LAYOUT_64.ph_memsz = 40
LAYOUT_64.sym_size = 24
LAYOUT_64.st_name = 0
LAYOUT_64.st_info = 4
LAYOUT_64.st_other = 5
LAYOUT_64.st_shndx = 6
LAYOUT_64.st_value = 8
LAYOUT_64.st_size = 16


cdef uint32_t c_elf_hash(const uint8_t* name, Py_ssize_t length) noexcept nogil:
    cdef uint32_t h = 0, g
    cdef Py_ssize_t i
    for i in range(length):
        h = (h << 4) + name[i]
        g = h & 0xf0000000U
        if g:
            h ^= g >> 24
        h &= ~g
    return h


cdef uint32_t c_gnu_hash(const uint8_t* name, Py_ssize_t length) noexcept nogil:
    cdef uint32_t h = 5381
    cdef Py_ssize_t i
    for i in range(length):
        h = h * 33 + name[i]
    return h


cdef bytes _as_name(object name, str argument):
    if isinstance(name, str):
        try:
            return (<str>name).encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate no byte string decodes to
            raise ValueError(f"{argument} must be a symbol name that bytes can spell "
                             f"(UTF-8, or undecodable bytes as surrogateescape gives "
                             f"them), got {name!r}") from None
    if isinstance(name, bytes):
        return <bytes>name
    raise TypeError(f"{argument} must be str or bytes, got {type(name).__name__}")


def elf_hash(name):
    """The SysV ELF hash of a symbol or version name (``DT_HASH``, ``vd_hash``)."""
    cdef bytes raw = _as_name(name, "elf_hash(): name")
    return c_elf_hash(<const uint8_t*>PyBytes_AS_STRING(raw), len(raw))


def gnu_hash(name):
    """The GNU hash (djb2, 32-bit) of a symbol name (``DT_GNU_HASH``)."""
    cdef bytes raw = _as_name(name, "gnu_hash(): name")
    return c_gnu_hash(<const uint8_t*>PyBytes_AS_STRING(raw), len(raw))


cdef class ElfImage:
    """A parsed ELF image: header, segments, dynamic symbols and their versions.

    Make one with ``ElfImage.from_bytes(data)`` or ``ElfImage.from_file(path)``.
    """

    def __cinit__(self):
        self._ready = False
        self._loads = NULL
        self._nloads = 0
        self._symbols = None
        self._soname = None

    def __dealloc__(self):
        PyMem_Free(self._loads)

    def __init__(self, *args, **kwargs):
        raise TypeError("use ElfImage.from_bytes(data) or ElfImage.from_file(path)")

    cdef int _require(self) except -1:
        if not self._ready:
            raise TypeError("this ElfImage holds no image (it was made with "
                            "ElfImage.__new__): use ElfImage.from_bytes(data) or "
                            "ElfImage.from_file(path)")
        return 0

    @staticmethod
    def from_bytes(data):
        """Parse an ELF image held in ``bytes``, ``bytearray`` or ``memoryview``.

        The image is copied (unless it is ``bytes``), so later changes to a mutable
        buffer cannot reach the reader.
        """
        cdef bytes owned
        if isinstance(data, bytes):
            owned = <bytes>data
        elif isinstance(data, (bytearray, memoryview)):
            owned = bytes(data)
        else:
            raise TypeError("ElfImage.from_bytes(): data must be bytes, bytearray or "
                            f"memoryview, got {type(data).__name__}")
        return _image_over(owned, <const uint8_t*>PyBytes_AS_STRING(owned), len(owned))

    @staticmethod
    def from_file(path):
        """Read and parse an ELF file. File problems raise ``OSError``."""
        if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
            raise TypeError("ElfImage.from_file(): path must be str, bytes or os.PathLike, "
                            f"got {type(path).__name__}")
        with open(path, "rb") as f:
            data = f.read()
        return ElfImage.from_bytes(data)

    # -- bounded reads ------------------------------------------------------------------

    cdef int _check(self, uint64_t offset, uint64_t length, str what) except -1:
        if offset > self._size or length > self._size - offset:
            raise ElfError(f"{what} (offset {offset:#x}, {length} bytes) lies outside "
                           f"the image ({self._size} bytes)")
        return 0

    cdef uint64_t _uint(self, uint64_t offset, uint32_t width, str what) except? 0xffffffffffffffff:
        """The ``width``-byte unsigned field at ``offset``, in the image's byte order.

        Assembled byte by byte: the same code for either byte order on either host, with
        no alignment assumptions (parsing runs once; this is not a hot path)."""
        cdef uint64_t value = 0
        cdef const uint8_t* field = self._buf + offset
        cdef uint32_t i
        self._check(offset, width, what)
        if self._big_endian:
            for i in range(width):
                value = (value << 8) | field[i]
        else:
            for i in range(width):
                value = (value << 8) | field[width - 1 - i]
        return value

    cdef uint16_t u16(self, uint64_t offset, str what) except? 0xffff:
        return <uint16_t>self._uint(offset, 2, what)

    cdef uint32_t u32(self, uint64_t offset, str what) except? 0xffffffff:
        return <uint32_t>self._uint(offset, 4, what)

    cdef uint64_t u64(self, uint64_t offset, str what) except? 0xffffffffffffffff:
        return self._uint(offset, 8, what)

    cdef uint64_t word(self, uint64_t offset, str what) except? 0xffffffffffffffff:
        return self._uint(offset, self._layout.word, what)

    cdef bytes cstring(self, uint64_t offset, str what):
        """The NUL-terminated string at ``offset`` of the string table."""
        cdef const void* end
        if offset >= self._strsz:
            raise ElfError(f"{what}: string offset {offset:#x} is past the end of the "
                           f"string table ({self._strsz} bytes)")
        end = memchr(self._buf + self._strtab + offset, 0, self._strsz - offset)
        if end == NULL:
            raise ElfError(f"{what}: string at offset {offset:#x} is not terminated "
                           "inside the string table")
        return PyBytes_FromStringAndSize(<const char*>(self._buf + self._strtab + offset),
                                         <const uint8_t*>end - (self._buf + self._strtab + offset))

    cdef uint64_t vaddr_to_offset(self, uint64_t vaddr, uint64_t length, str what) except? 0xffffffffffffffff:
        """File offset of ``length`` bytes at virtual address ``vaddr``: they must lie in
        the file-backed part of one PT_LOAD segment, and inside the image."""
        cdef Py_ssize_t i
        cdef Segment* seg
        cdef uint64_t offset
        for i in range(self._nloads):
            seg = &self._loads[i]
            if vaddr >= seg.vaddr and vaddr - seg.vaddr < seg.filesz:
                if length > seg.filesz - (vaddr - seg.vaddr):
                    raise ElfError(f"{what} (address {vaddr:#x}, {length} bytes) runs past "
                                   f"the end of its PT_LOAD segment")
                offset = seg.offset + (vaddr - seg.vaddr)
                self._check(offset, length, what)
                return offset
        raise ElfError(f"{what} (address {vaddr:#x}) is not inside any PT_LOAD segment")

    # -- parsing --------------------------------------------------------------------------

    cdef int _parse(self, bint headers_only) except -1:
        """Read the image, bounds first: the ELF header, the program headers, then (unless
        ``headers_only``) the dynamic section and the tables it points to."""
        cdef Segment dynamic
        cdef DynamicTags tags
        cdef Py_ssize_t i
        self._parse_header()
        dynamic = self._parse_program_headers()
        if headers_only:
            return 0
        for i in range(self._nloads):
            self._check(self._loads[i].offset, self._loads[i].filesz, f"PT_LOAD segment {i}")
        if dynamic.filesz == 0:
            raise ElfError("the image has no PT_DYNAMIC segment (or it is empty)")
        self._check(dynamic.offset, dynamic.filesz, "PT_DYNAMIC segment")
        tags = self._parse_dynamic(dynamic.offset, dynamic.filesz)
        self._parse_tables(&tags)
        return 0

    cdef int _parse_header(self) except -1:
        """e_ident (class, byte order, version), then e_type and e_machine."""
        cdef const uint8_t* ident = self._buf
        if self._size >= 4 and (ident[0] != 0x7f or ident[1] != 0x45 or ident[2] != 0x4c
                                or ident[3] != 0x46):
            raise ElfError("not an ELF image: it does not start with 7f 45 4c 46 ('\\x7fELF')")
        if self._size < EI_NIDENT:
            raise ElfError(f"not an ELF image: {self._size} bytes, too short for the "
                           f"{EI_NIDENT}-byte ELF identification")
        if ident[4] == ELFCLASS32:
            self._layout = LAYOUT_32
            self._elf_class = 32
        elif ident[4] == ELFCLASS64:
            self._layout = LAYOUT_64
            self._elf_class = 64
        else:
            raise ElfError(f"unknown ELF class {ident[4]} in e_ident[EI_CLASS] "
                           "(expected 1 for ELF32 or 2 for ELF64)")
        if ident[5] == ELFDATA2LSB:
            self._byteorder = "little"
        elif ident[5] == ELFDATA2MSB:
            self._byteorder = "big"
        else:
            raise ElfError(f"unknown byte order {ident[5]} in e_ident[EI_DATA] "
                           "(expected 1 for little-endian or 2 for big-endian)")
        self._big_endian = ident[5] == ELFDATA2MSB
        if ident[6] != EV_CURRENT:
            raise ElfError(f"unknown ELF version {ident[6]} in e_ident[EI_VERSION]")
        self._check(0, self._layout.ehdr_size, "ELF header")
        self._e_type = self.u16(16, "e_type")
        self._e_machine = self.u16(18, "e_machine")
        if self.u32(20, "e_version") != EV_CURRENT:
            raise ElfError("unknown ELF version in e_version (expected 1)")
        if self._e_type != ET_DYN and self._e_type != ET_EXEC:
            raise ElfError(f"e_type is {self._e_type}; expected a shared object "
                           "(ET_DYN = 3) or an executable (ET_EXEC = 2)")
        names = MACHINES_64 if self._elf_class == 64 else MACHINES_32
        self._machine = names.get(self._e_machine, f"EM_{self._e_machine}")
        if self._e_machine == 21 and self._elf_class == 32:
            self._machine = "ppc64-elf32"
        # s390x and alpha are the ELF64 machines whose DT_HASH entries are 64-bit.
        self._hash_entry = 8 if (self._elf_class == 64 and self._e_machine in
                                 (EM_S390, EM_ALPHA, EM_ALPHA_OLD)) else 4
        return 0

    cdef Segment _parse_program_headers(self) except *:
        """Remember the PT_LOAD segments; return the first non-empty PT_DYNAMIC (its
        offset and filesz; filesz 0 when there is none)."""
        cdef Layout* L = &self._layout
        cdef uint64_t phoff, offset, i
        cdef uint32_t phentsize, phnum, ptype
        cdef Segment dynamic
        cdef Segment* seg
        dynamic.offset = dynamic.filesz = 0
        phoff = self.word(24 + L.word, "e_phoff")
        phentsize = self.u16(30 + 3 * L.word, "e_phentsize")
        phnum = self.u16(32 + 3 * L.word, "e_phnum")
        if phnum == PN_XNUM:
            raise ElfError("e_phnum is PN_XNUM (extended numbering), which is not supported")
        if phnum == 0:
            raise ElfError("the image has no program headers (e_phnum is 0)")
        if phentsize < L.phdr_size:
            raise ElfError(f"e_phentsize is {phentsize}; an ELF{self._elf_class} program "
                           f"header needs at least {L.phdr_size} bytes")
        self._check(phoff, <uint64_t>phentsize * phnum, "program header table")
        self._loads = <Segment*>PyMem_Malloc(phnum * sizeof(Segment))
        if self._loads == NULL:
            raise MemoryError()
        for i in range(phnum):
            offset = phoff + i * phentsize
            ptype = self.u32(offset, "p_type")
            if ptype == PT_LOAD:
                seg = &self._loads[self._nloads]
                seg.offset = self.word(offset + L.ph_offset, "p_offset")
                seg.vaddr = self.word(offset + L.ph_vaddr, "p_vaddr")
                seg.filesz = self.word(offset + L.ph_filesz, "p_filesz")
                seg.memsz = self.word(offset + L.ph_memsz, "p_memsz")
                seg.flags = self.u32(offset + L.ph_flags, "p_flags")
                if seg.filesz > seg.memsz:
                    raise ElfError(f"PT_LOAD segment {i} has p_filesz {seg.filesz:#x} "
                                   f"larger than p_memsz {seg.memsz:#x}")
                self._nloads += 1
            elif ptype == PT_DYNAMIC and dynamic.filesz == 0:
                dynamic.offset = self.word(offset + L.ph_offset, "p_offset")
                dynamic.filesz = self.word(offset + L.ph_filesz, "p_filesz")
        if self._nloads == 0:
            raise ElfError("the image has no PT_LOAD segment")
        return dynamic

    cdef DynamicTags _parse_dynamic(self, uint64_t dynamic, uint64_t dynamic_size) except *:
        """The tags the reader uses, walking until DT_NULL, at most the segment's entries
        (and MAX_DYNAMIC); the required ones checked."""
        cdef Layout* L = &self._layout
        cdef DynamicTags tags
        cdef uint64_t offset, tag, value, i, n
        memset(&tags, 0, sizeof(tags))
        n = dynamic_size // (2 * L.word)
        if n > MAX_DYNAMIC:
            n = MAX_DYNAMIC
        for i in range(n):
            offset = dynamic + i * 2 * L.word
            tag = self.word(offset, "d_tag")
            value = self.word(offset + L.word, "d_val")
            if tag == DT_NULL:
                break
            elif tag == DT_STRTAB:
                tags.strtab = value; tags.has_strtab = True
            elif tag == DT_STRSZ:
                tags.strsz = value; tags.has_strsz = True
            elif tag == DT_SYMTAB:
                tags.symtab = value; tags.has_symtab = True
            elif tag == DT_SYMENT:
                tags.syment = value
            elif tag == DT_HASH:
                tags.hash = value
            elif tag == DT_GNU_HASH:
                tags.gnu_hash = value
            elif tag == DT_VERSYM:
                tags.versym = value
            elif tag == DT_VERDEF:
                tags.verdef = value
            elif tag == DT_VERDEFNUM:
                tags.verdefnum = value
            elif tag == DT_VERNEED:
                tags.verneed = value
            elif tag == DT_VERNEEDNUM:
                tags.verneednum = value
            elif tag == DT_SONAME:
                tags.soname = value; tags.has_soname = True
        if not tags.has_strtab or not tags.has_strsz:
            raise ElfError("the dynamic section lacks DT_STRTAB or DT_STRSZ")
        if not tags.has_symtab:
            raise ElfError("the dynamic section lacks DT_SYMTAB")
        if tags.syment != 0 and tags.syment != L.sym_size:
            raise ElfError(f"DT_SYMENT is {tags.syment}; an ELF{self._elf_class} symbol is "
                           f"{L.sym_size} bytes")
        if tags.hash == 0 and tags.gnu_hash == 0:
            raise ElfError("the dynamic section has neither DT_HASH nor DT_GNU_HASH, so "
                           "its symbols cannot be counted or looked up")
        return tags

    cdef int _parse_tables(self, DynamicTags* tags) except -1:
        """The string table and soname, the hash tables (which count the symbols), the
        symbol table and the version tables."""
        self._strsz = tags.strsz
        self._strtab = self.vaddr_to_offset(tags.strtab, self._strsz, "DT_STRTAB")
        if tags.has_soname:
            self._soname = self.cstring(tags.soname, "DT_SONAME").decode("utf-8",
                                                                          "surrogateescape")
        if tags.gnu_hash:
            self._parse_gnu_hash(tags.gnu_hash)
        if tags.hash:
            self._parse_sysv_hash(tags.hash)
        self._symtab = self.vaddr_to_offset(tags.symtab, self._nsyms * self._layout.sym_size,
                                            "DT_SYMTAB (the dynamic symbol table)")
        if tags.versym:
            self._versym = self.vaddr_to_offset(tags.versym, self._nsyms * 2, "DT_VERSYM")
        # Version index -> (name, kind): kind is "base" (the file's own name), "def" (a
        # version this file defines) or "need" (a version it needs from another file:
        # defined symbols carry one when a copy relocation brought them into an
        # executable, as R_X86_64_COPY does for stdout).
        self._version_names = {}
        if tags.verdef:
            self._parse_verdef(tags.verdef, tags.verdefnum)
        if tags.verneed:
            self._parse_verneed(tags.verneed, tags.verneednum)
        self._versions = tuple(name for (name, kind) in self._version_names.values()
                               if kind == "def")
        return 0

    cdef int _parse_sysv_hash(self, uint64_t vaddr) except -1:
        cdef uint64_t offset = self.vaddr_to_offset(vaddr, 2 * self._hash_entry, "DT_HASH")
        cdef uint64_t entry = self._hash_entry
        cdef uint64_t nbucket = self._hash_word(offset), nchain = self._hash_word(offset + entry)
        if nbucket == 0:
            raise ElfError("DT_HASH table has nbucket = 0")
        if nbucket > self._size or nchain > self._size:
            raise ElfError(f"DT_HASH table counts (nbucket {nbucket}, nchain {nchain}) "
                           "are larger than the image")
        self.vaddr_to_offset(vaddr, (2 + nbucket + nchain) * entry, "DT_HASH table")
        if self._gnu_hash and nchain < self._nsyms:
            raise ElfError(f"DT_HASH says {nchain} symbols but DT_GNU_HASH reaches "
                           f"symbol {self._nsyms - 1}")
        self._hash = offset
        self._sysv_nbucket = nbucket
        self._sysv_nchain = nchain
        self._nsyms = nchain
        return 0

    cdef uint64_t _hash_word(self, uint64_t offset) except? 0xffffffffffffffff:
        # SysV hash entries are 32-bit, except on s390x and alpha ELF64 where the ABI
        # makes them 64-bit (a historical choice of those ports' toolchains).
        if self._hash_entry == 8:
            return self.u64(offset, "DT_HASH entry")
        return self.u32(offset, "DT_HASH entry")

    cdef int _parse_gnu_hash(self, uint64_t vaddr) except -1:
        cdef uint64_t offset = self.vaddr_to_offset(vaddr, 16, "DT_GNU_HASH")
        cdef uint32_t nbuckets = self.u32(offset, "DT_GNU_HASH nbuckets")
        cdef uint32_t symoffset = self.u32(offset + 4, "DT_GNU_HASH symoffset")
        cdef uint32_t bloom_size = self.u32(offset + 8, "DT_GNU_HASH bloom size")
        cdef uint64_t buckets, chain, i, last = 0, bucket
        if nbuckets == 0:
            raise ElfError("DT_GNU_HASH table has nbuckets = 0")
        buckets = offset + 16 + <uint64_t>bloom_size * self._layout.word
        self.vaddr_to_offset(vaddr, 16 + <uint64_t>bloom_size * self._layout.word
                             + <uint64_t>nbuckets * 4, "DT_GNU_HASH buckets")
        for i in range(nbuckets):
            bucket = self.u32(buckets + 4 * i, "DT_GNU_HASH bucket")
            if bucket != 0 and bucket < symoffset:
                raise ElfError(f"DT_GNU_HASH bucket {i} names symbol {bucket}, below "
                               f"symoffset {symoffset}")
            if bucket > last:
                last = bucket
        chain = buckets + <uint64_t>nbuckets * 4
        self._gnu_hash = offset
        self._gnu_nbuckets = nbuckets
        self._gnu_symoffset = symoffset
        self._gnu_buckets = buckets
        self._gnu_chain = chain
        if last == 0:
            self._nsyms = symoffset
            return 0
        # The symbol count is one past the end of the chain that starts highest: walk it
        # to its stop bit. Each step reads a later word, so the walk ends at the image's
        # end at the latest.
        while not (self.u32(chain + 4 * (last - symoffset),
                            "DT_GNU_HASH chain (no stop bit before the end)") & 1):
            last += 1
        self._nsyms = last + 1
        return 0

    cdef int _parse_verdef(self, uint64_t vaddr, uint64_t count) except -1:
        cdef uint64_t offset = self.vaddr_to_offset(vaddr, VERDEF_SIZE, "DT_VERDEF")
        cdef uint64_t aux, seen = 0
        cdef uint32_t next_offset, aux_offset
        cdef uint16_t flags, index, naux
        if count == 0 or count > MAX_VERDEF:
            raise ElfError(f"DT_VERDEFNUM is {count}; expected 1 to {MAX_VERDEF} version "
                           "definitions") if count else ElfError(
                               "DT_VERDEF is present but DT_VERDEFNUM is missing or 0")
        while True:
            if self.u16(offset, "vd_version") != 1:
                raise ElfError(f"version definition at {offset:#x} has vd_version "
                               f"{self.u16(offset, 'vd_version')} (expected 1)")
            flags = self.u16(offset + 2, "vd_flags")
            index = self.u16(offset + 4, "vd_ndx") & VERSYM_INDEX
            naux = self.u16(offset + 6, "vd_cnt")
            aux_offset = self.u32(offset + 12, "vd_aux")
            next_offset = self.u32(offset + 16, "vd_next")
            if naux == 0:
                raise ElfError(f"version definition {index} has no name (vd_cnt is 0)")
            # The first Verdaux names the version; later ones name its parents.
            aux = offset + aux_offset
            raw_name = self.cstring(self.u32(aux, "vda_name of a version definition"),
                                    "version name")
            name = raw_name.decode("utf-8", "surrogateescape")
            if self.u32(offset + 8, "vd_hash") != c_elf_hash(
                    <const uint8_t*>PyBytes_AS_STRING(raw_name), len(raw_name)):
                raise ElfError(f"version definition {name!r} has a vd_hash that is not "
                               "the ELF hash of its name")
            self._add_version(index, name, "base" if flags & VER_FLG_BASE else "def")
            seen += 1
            if next_offset == 0 or seen == count:
                break
            # vd_next is unsigned and we add it in 64 bits: the walk only moves forward,
            # and a bogus value ends outside the image.
            offset += next_offset
            self._check(offset, VERDEF_SIZE, "version definition (vd_next)")
        return 0

    cdef int _add_version(self, uint16_t index, str name, str kind) except -1:
        if index in self._version_names:
            raise ElfError(f"version index {index} is defined twice")
        self._version_names[index] = (name, kind)
        return 0

    cdef int _parse_verneed(self, uint64_t vaddr, uint64_t count) except -1:
        """DT_VERNEED: for each needed file, the versions it must provide (Vernaux),
        each with the version index (vna_other) that DT_VERSYM entries use."""
        cdef uint64_t offset = self.vaddr_to_offset(vaddr, VERNEED_SIZE, "DT_VERNEED")
        cdef uint64_t aux, files = 0, versions, naux
        cdef uint32_t next_offset, aux_next
        if count == 0 or count > MAX_VERDEF:
            raise ElfError(f"DT_VERNEEDNUM is {count}; expected 1 to {MAX_VERDEF} needed "
                           "files") if count else ElfError(
                               "DT_VERNEED is present but DT_VERNEEDNUM is missing or 0")
        while True:
            if self.u16(offset, "vn_version") != 1:
                raise ElfError(f"version need at {offset:#x} has vn_version "
                               f"{self.u16(offset, 'vn_version')} (expected 1)")
            naux = self.u16(offset + 2, "vn_cnt")
            aux = offset + self.u32(offset + 8, "vn_aux")
            next_offset = self.u32(offset + 12, "vn_next")
            # Each vna_next only moves forward too, and vn_cnt bounds the walk.
            for versions in range(naux):
                self._check(aux, VERNAUX_SIZE, "version need entry (Vernaux)")
                name = self.cstring(self.u32(aux + 8, "vna_name"), "needed version name")
                self._add_version(self.u16(aux + 6, "vna_other") & VERSYM_INDEX,
                                  name.decode("utf-8", "surrogateescape"), "need")
                aux_next = self.u32(aux + 12, "vna_next")
                if aux_next == 0:
                    break
                aux += aux_next
            files += 1
            if next_offset == 0 or files == count:
                break
            offset += next_offset
            self._check(offset, VERNEED_SIZE, "version need (vn_next)")
        return 0

    cdef object symbol_at(self, uint64_t index):
        cdef Layout* L = &self._layout
        cdef uint64_t offset
        cdef uint8_t info
        cdef uint16_t versym, raw_versym
        cdef bint hidden = False
        self._require()
        if index >= self._nsyms:
            raise ElfError(f"symbol {index} is past the symbol table ({self._nsyms} symbols)")
        offset = self._symtab + index * L.sym_size
        info = <uint8_t>self._uint(offset + L.st_info, 1, "st_info")
        name = self.cstring(self.u32(offset + L.st_name, "st_name"), "symbol name")
        version = None
        if self._versym:
            raw_versym = self.u16(self._versym + 2 * index, "DT_VERSYM entry")
            versym = raw_versym & VERSYM_INDEX
            if versym > 1:
                entry = self._version_names.get(versym)
                if entry is None:
                    raise ElfError(f"symbol {name.decode('utf-8', 'replace')!r} has "
                                   f"version index {versym}, which no version defines")
                version = entry[0]
                hidden = (raw_versym & VERSYM_HIDDEN) != 0
        stype = info & 0xf
        bind = info >> 4
        return Symbol(name.decode("utf-8", "surrogateescape"), version,
                      self.word(offset + L.st_value, "st_value"),
                      self.word(offset + L.st_size, "st_size"),
                      SYMBOL_TYPES[stype] if stype < 7 else ("IFUNC" if stype == 10 else str(stype)),
                      SYMBOL_BINDS[bind] if bind < 3 else ("UNIQUE" if bind == 10 else str(bind)),
                      hidden)

    cdef bint _is_candidate(self, uint64_t index, bytes name, object version) except -1:
        """Whether symbol ``index`` is a defined global ``name`` of ``version``."""
        cdef Layout* L = &self._layout
        cdef uint64_t offset = self._symtab + index * L.sym_size
        cdef uint16_t versym
        if index >= self._nsyms:
            raise ElfError(f"hash table names symbol {index}, past the symbol table "
                           f"({self._nsyms} symbols)")
        if self.u16(offset + L.st_shndx, "st_shndx") == SHN_UNDEF:
            return False
        if (self._buf[offset + L.st_info] >> 4) == STB_LOCAL:
            return False
        if self.cstring(self.u32(offset + L.st_name, "st_name"), "symbol name") != name:
            return False
        if version is None:
            return True
        if not self._versym:
            return False
        versym = self.u16(self._versym + 2 * index, "DT_VERSYM entry") & VERSYM_INDEX
        entry = self._version_names.get(versym)
        return entry is not None and entry[0] == version

    cdef long long _accept(self, uint64_t index, bytes name, object version,
                           UnversionedMatch* match) except -2:
        """``index`` if the chain walk ends with this symbol, else -1 (walk on).

        A lookup with a version wants exactly that version (as dlvsym). One without a
        version takes what glibc's dlsym takes: an unversioned definition at once, else
        the one versioned definition that is not hidden (name@@VERSION, the default),
        which the walk notes in ``match`` and ``_unversioned_result`` returns at its end;
        hidden versions (name@VERSION, such as exp@GLIBC_2.2.5 in libm beside the default
        exp@@GLIBC_2.29) only answer a lookup of their own version."""
        cdef uint16_t raw_versym
        if not self._is_candidate(index, name, version):
            return -1
        if version is not None or not self._versym:
            return index
        raw_versym = self.u16(self._versym + 2 * index, "DT_VERSYM entry")
        if (raw_versym & VERSYM_INDEX) <= 1:  # VER_NDX_LOCAL or VER_NDX_GLOBAL
            return index
        if not raw_versym & VERSYM_HIDDEN:
            if match.defaults == 0:
                match.index = index
            match.defaults += 1
        return -1

    cdef long long find_symbol(self, bytes name, object version, uint32_t name_elf_hash,
                               uint32_t name_gnu_hash) except -2:
        """Index of the defined global symbol ``name`` (of ``version``), or -1.

        The caller passes the name's two hashes (the vDSO key tables precompute them).
        Goes through the GNU hash table when there is one, else the SysV one, as the
        dynamic loader does; never a linear scan. Which definition answers: ``_accept``.
        """
        cdef uint32_t h, chain_hash
        cdef uint64_t index, steps
        cdef long long found
        cdef UnversionedMatch match
        match.index = -1
        match.defaults = 0
        self._require()
        if self._gnu_hash and self._gnu_nbuckets == 0 or not self._hash and not self._gnu_hash \
                or self._hash and not self._gnu_hash and self._sysv_nbucket == 0:
            return -1  # no hash table to search (a headers-only view): nothing to find
        if self._gnu_hash:
            h = name_gnu_hash
            index = self.u32(self._gnu_buckets + 4 * (h % self._gnu_nbuckets),
                             "DT_GNU_HASH bucket")
            if index == 0:
                return -1
            while True:
                chain_hash = self.u32(self._gnu_chain + 4 * (index - self._gnu_symoffset),
                                      "DT_GNU_HASH chain")
                if (chain_hash | 1) == (h | 1):
                    found = self._accept(index, name, version, &match)
                    if found >= 0:
                        return found
                if chain_hash & 1:
                    return _unversioned_result(&match)
                index += 1
        h = name_elf_hash
        index = self._hash_word(self._hash + self._hash_entry * (2 + h % self._sysv_nbucket))
        steps = 0
        while index != 0:
            found = self._accept(index, name, version, &match)
            if found >= 0:
                return found
            steps += 1
            if steps > self._sysv_nchain:
                raise ElfError("a DT_HASH chain loops (longer than nchain)")
            index = self._hash_word(self._hash + self._hash_entry *
                                    (2 + self._sysv_nbucket + index))
        return _unversioned_result(&match)

    # -- Python surface ---------------------------------------------------------------

    def lookup(self, name, version=None):
        """The defined global symbol ``name`` (of ``version`` if given), or None."""
        cdef bytes raw = _as_name(name, "ElfImage.lookup(): name")
        if version is not None and not isinstance(version, str):
            raise TypeError("ElfImage.lookup(): version must be str or None, got "
                            f"{type(version).__name__}")
        cdef const uint8_t* chars = <const uint8_t*>PyBytes_AS_STRING(raw)
        cdef long long index
        self._require()
        index = self.find_symbol(raw, version, c_elf_hash(chars, len(raw)),
                                                c_gnu_hash(chars, len(raw)))
        return None if index < 0 else self.symbol_at(index)

    @property
    def versions(self):
        """Names of the versions the image defines (the base version excluded)."""
        self._require()
        return self._versions

    @property
    def symbols(self):
        """Every defined, named dynamic symbol, in symbol-table order."""
        cdef uint64_t i
        cdef Layout* L = &self._layout
        self._require()
        if self._symbols is None:
            found = []
            for i in range(1, self._nsyms):
                if self.u16(self._symtab + i * L.sym_size + L.st_shndx, "st_shndx") == SHN_UNDEF:
                    continue
                symbol = self.symbol_at(i)
                if symbol.name:
                    found.append(symbol)
            self._symbols = tuple(found)
        return self._symbols

    @property
    def hash_styles(self):
        """The hash tables present: a tuple of 'gnu' and/or 'sysv'."""
        self._require()
        return (("gnu",) if self._gnu_hash else ()) + (("sysv",) if self._hash else ())

    @property
    def size(self):
        """Size of the image in bytes."""
        self._require()
        return self._size

    @property
    def load_segments(self):
        """The PT_LOAD segments as (offset, vaddr, filesz, memsz, flags) tuples."""
        self._require()
        return tuple((self._loads[i].offset, self._loads[i].vaddr, self._loads[i].filesz,
                      self._loads[i].memsz, self._loads[i].flags) for i in range(self._nloads))

    @property
    def load_offset(self):
        """p_offset - p_vaddr of the first PT_LOAD: add it and st_value to the image's
        base address to get a symbol's address (as the Go runtime does for the vDSO)."""
        self._require()
        return <long long>(self._loads[0].offset - self._loads[0].vaddr)

    @property
    def executable_range(self):
        """(start, end) virtual addresses of the first executable PT_LOAD, or None."""
        cdef Py_ssize_t i
        self._require()
        for i in range(self._nloads):
            if self._loads[i].flags & PF_X:
                return (self._loads[i].vaddr, self._loads[i].vaddr + self._loads[i].filesz)
        return None

    @property
    def elf_class(self):
        """32 or 64."""
        self._require()
        return self._elf_class

    @property
    def byteorder(self):
        """'little' or 'big'."""
        self._require()
        return self._byteorder

    @property
    def e_machine(self):
        """The ELF header's e_machine number."""
        self._require()
        return self._e_machine

    @property
    def e_type(self):
        """The ELF header's e_type (3 for a shared object, 2 for an executable)."""
        self._require()
        return self._e_type

    @property
    def machine(self):
        """The architecture, by name ('x86_64', 'aarch64', ... or 'EM_<n>')."""
        self._require()
        return self._machine

    @property
    def soname(self):
        """DT_SONAME, or None."""
        self._require()
        return self._soname

    def __repr__(self):
        if not self._ready:
            return "<ElfImage (empty: made without from_bytes or from_file)>"
        return (f"<ElfImage ELF{self._elf_class} {self._byteorder}-endian {self._machine} "
                f"soname={self._soname!r} versions={self._versions!r} "
                f"symbols={self._nsyms - 1 if self._nsyms else 0}>")


cdef inline long long _unversioned_result(UnversionedMatch* match) noexcept:
    # glibc takes a lone default version, and nothing when several claim to be the default.
    return match.index if match.defaults == 1 else -1


cdef ElfImage _image_over(object owner, const uint8_t* buf, uint64_t size,
                         bint headers_only=False):
    """An ElfImage over ``size`` bytes at ``buf``, kept alive by ``owner``.

    With ``headers_only`` it reads the ELF header and program headers and stops: enough
    to learn the extent of an image mapped in memory before reading the rest of it."""
    cdef ElfImage image = ElfImage.__new__(ElfImage)
    image._owner = owner
    image._buf = buf
    image._size = size
    image._parse(headers_only)
    image._ready = True
    return image
