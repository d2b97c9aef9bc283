# C-level surface of the ELF reader, for the other extensions of the package.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t


cdef struct Layout:
    # Field offsets and sizes that differ between ELF32 and ELF64; everything else in
    # the reader is shared by both classes and both byte orders.
    uint32_t word              # 4 or 8: size of an address / Elf_Word-sized value
    uint32_t ehdr_size
    uint32_t phdr_size
    uint32_t ph_flags
    uint32_t ph_offset
    uint32_t ph_vaddr
    uint32_t ph_filesz
    uint32_t ph_memsz
    uint32_t sym_size
    uint32_t st_name
    uint32_t st_value
    uint32_t st_size
    uint32_t st_info
    uint32_t st_other
    uint32_t st_shndx


cdef struct Segment:
    uint64_t offset
    uint64_t vaddr
    uint64_t filesz
    uint64_t memsz
    uint32_t flags


cdef struct DynamicTags:
    # The dynamic section's entries the reader uses (addresses are virtual).
    uint64_t strtab, strsz, symtab, syment, hash, gnu_hash, soname
    uint64_t versym, verdef, verdefnum, verneed, verneednum
    bint has_strtab, has_strsz, has_symtab, has_soname


cdef struct UnversionedMatch:
    # What a lookup without a version has seen of versioned definitions: the first one
    # that is not hidden, and how many of those there are.
    long long index
    int defaults


cdef class ElfImage:
    cdef object _owner                  # keeps the bytes behind _buf alive
    cdef const uint8_t* _buf
    cdef uint64_t _size
    cdef bint _big_endian
    cdef Layout _layout

    # Set once parsing succeeded: an object made with ElfImage.__new__ alone holds no
    # image, and every method and property refuses it (_require) instead of reading NULL.
    cdef bint _ready
    cdef int _elf_class
    cdef str _byteorder
    cdef int _e_machine
    cdef int _e_type
    cdef str _machine
    cdef object _soname

    cdef Segment* _loads
    cdef Py_ssize_t _nloads

    cdef uint64_t _strtab
    cdef uint64_t _strsz
    cdef uint64_t _symtab
    cdef uint64_t _nsyms
    cdef uint64_t _hash              # file offset of DT_HASH, 0 if absent
    cdef uint32_t _hash_entry        # 4, or 8 on s390x/alpha ELF64
    cdef uint64_t _sysv_nbucket
    cdef uint64_t _sysv_nchain
    cdef uint64_t _gnu_hash          # file offset of DT_GNU_HASH, 0 if absent
    cdef uint32_t _gnu_nbuckets
    cdef uint32_t _gnu_symoffset
    cdef uint64_t _gnu_buckets       # file offset of the bucket array
    cdef uint64_t _gnu_chain         # file offset of chain[0] (symbol _gnu_symoffset)
    cdef uint64_t _versym            # file offset of DT_VERSYM, 0 if absent
    cdef dict _version_names         # version index -> (name, 'base' | 'def' | 'need')
    cdef tuple _versions
    cdef object _symbols

    cdef int _require(self) except -1
    cdef int _parse(self, bint headers_only) except -1
    cdef int _parse_header(self) except -1
    cdef Segment _parse_program_headers(self) except *
    cdef DynamicTags _parse_dynamic(self, uint64_t dynamic, uint64_t dynamic_size) except *
    cdef int _parse_tables(self, DynamicTags* tags) except -1
    cdef int _check(self, uint64_t offset, uint64_t length, str what) except -1
    cdef uint64_t _uint(self, uint64_t offset, uint32_t width, str what) except? 0xffffffffffffffff
    cdef uint16_t u16(self, uint64_t offset, str what) except? 0xffff
    cdef uint32_t u32(self, uint64_t offset, str what) except? 0xffffffff
    cdef uint64_t u64(self, uint64_t offset, str what) except? 0xffffffffffffffff
    cdef uint64_t word(self, uint64_t offset, str what) except? 0xffffffffffffffff
    cdef bytes cstring(self, uint64_t offset, str what)
    cdef uint64_t vaddr_to_offset(self, uint64_t vaddr, uint64_t length, str what) except? 0xffffffffffffffff
    cdef object symbol_at(self, uint64_t index)
    cdef long long _accept(self, uint64_t index, bytes name, object version,
                           UnversionedMatch* match) except -2
    cdef long long find_symbol(self, bytes name, object version, uint32_t name_elf_hash,
                               uint32_t name_gnu_hash) except -2
    cdef int _parse_sysv_hash(self, uint64_t vaddr) except -1
    cdef uint64_t _hash_word(self, uint64_t offset) except? 0xffffffffffffffff
    cdef int _parse_gnu_hash(self, uint64_t vaddr) except -1
    cdef int _parse_verdef(self, uint64_t vaddr, uint64_t count) except -1
    cdef int _add_version(self, uint16_t index, str name, str kind) except -1
    cdef int _parse_verneed(self, uint64_t vaddr, uint64_t count) except -1
    cdef bint _is_candidate(self, uint64_t index, bytes name, object version) except -1


cdef uint32_t c_elf_hash(const uint8_t* name, Py_ssize_t length) noexcept nogil
cdef uint32_t c_gnu_hash(const uint8_t* name, Py_ssize_t length) noexcept nogil


cdef ElfImage _image_over(object owner, const uint8_t* buf, uint64_t size,
                         bint headers_only=*)
