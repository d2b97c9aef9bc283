# The vDSO key tables, one per ABI, in the manner of the Go runtime's
# vdso_linux_<arch>.go: the version every symbol must carry (with its ELF hash), and for
# each API function the prefixed vDSO symbol that implements it, with the symbol's ELF
# (SysV) and GNU hashes precomputed, and the layout of its time arguments. A function may
# have several keys: the first one the vDSO has is bound. tests/test_vdso.py recomputes
# every hash.
#
# Only the prefixed names, with their version: never the unprefixed weak aliases
# (clock_gettime, ...), which a library could interpose.
#
# Layouts: "direct" -- the entry point's arguments have the layout of the function
# table's own (64-bit seconds: every function of a 64-bit ABI; __vdso_clock_gettime64 and
# getcpu on the 32-bit ones), so the table calls it as it is. "time32" -- the old 32-bit
# seconds of a 32-bit ABI: bound only for the functions of TIME32_FUNCTIONS, through a
# shim that widens the answer. A time does not fit in 32 bits after 2038, so a 32-bit ABI's
# clock_gettime, gettimeofday and time are never time32 entry points (the last two are
# computed from clock_gettime there: see DERIVED in vdso.pyx).
TIME32_FUNCTIONS = frozenset({"clock_getres"})  # a resolution always fits

# abi: (version, elf_hash(version),
#       ((function, symbol, elf_hash, gnu_hash, layout), ...))
KEY_TABLES = {
    "x86_64": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "direct"),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00, "direct"),
        ("time", "__vdso_time", 0x0a33c485, 0x821e8e0d, "direct"),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026, "direct"),
    )),
    "i386": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "time32"),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026, "direct"),
    )),
    "aarch64": ("LINUX_2.6.39", 0x75fcb89, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd, "direct"),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598, "direct"),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045, "direct"),
    )),
    "arm": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "time32"),
    )),
    "riscv64": ("LINUX_4.15", 0xae77f75, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "direct"),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00, "direct"),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026, "direct"),
    )),
    "ppc64": ("LINUX_2.6.15", 0x75fcba5, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd, "direct"),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598, "direct"),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045, "direct"),
        ("time", "__kernel_time", 0x0f876715, 0x26cdef52, "direct"),
        ("getcpu", "__kernel_getcpu", 0x041585f5, 0xf36f76ab, "direct"),
    )),
    "s390x": ("LINUX_2.6.29", 0x75fcbb9, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd, "direct"),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598, "direct"),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045, "direct"),
        ("getcpu", "__kernel_getcpu", 0x041585f5, 0xf36f76ab, "direct"),
    )),
    "loongarch64": ("LINUX_5.10", 0xae78f70, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "direct"),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00, "direct"),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026, "direct"),
    )),
    "mips": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "time32"),
    )),
    "mips64": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318, "direct"),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53, "direct"),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00, "direct"),
    )),
}
