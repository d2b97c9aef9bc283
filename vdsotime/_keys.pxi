# The vDSO key tables, one per ABI, in the manner of the Go runtime's
# vdso_linux_<arch>.go: the version every symbol must carry (with its ELF hash), and for
# each API function the prefixed vDSO symbol that implements it, with the symbol's ELF
# (SysV) and GNU hashes precomputed. tests/test_vdso.py recomputes every hash.
#
# Only the prefixed names, with their version: never the unprefixed weak aliases
# (clock_gettime, ...), which a library could interpose.
#
# 32-bit ABIs list only functions whose arguments have the same layout as this build's
# 64-bit time_t structures: clock_gettime64 on i386, arm and mips o32. Their old
# clock_gettime, clock_getres, gettimeofday and time take 32-bit time_t (y2038) and are
# left to libc.
#
# Entry points that take a struct timespec with a 64-bit tv_sec whatever the ABI: they are
# bound only when this build's time_t is 64-bit too (a 32-bit build against an old glibc,
# such as manylinux i686, leaves them to libc rather than pass a struct that is too small).
TIME64_SYMBOLS = frozenset({"__vdso_clock_gettime64"})

# abi: (version, elf_hash(version), ((function, symbol, elf_hash, gnu_hash), ...))
KEY_TABLES = {
    "x86_64": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00),
        ("time", "__vdso_time", 0x0a33c485, 0x821e8e0d),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026),
    )),
    "i386": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026),
    )),
    "aarch64": ("LINUX_2.6.39", 0x75fcb89, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045),
    )),
    "arm": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042),
    )),
    "riscv64": ("LINUX_4.15", 0xae77f75, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026),
    )),
    "ppc64": ("LINUX_2.6.15", 0x75fcba5, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045),
        ("time", "__kernel_time", 0x0f876715, 0x26cdef52),
        ("getcpu", "__kernel_getcpu", 0x041585f5, 0xf36f76ab),
    )),
    "s390x": ("LINUX_2.6.29", 0x75fcbb9, (
        ("clock_gettime", "__kernel_clock_gettime", 0x0b0cd725, 0xdfa941fd),
        ("clock_getres", "__kernel_clock_getres", 0x01b0cf53, 0xd83b6598),
        ("gettimeofday", "__kernel_gettimeofday", 0x07b05f09, 0x2026a045),
        ("getcpu", "__kernel_getcpu", 0x041585f5, 0xf36f76ab),
    )),
    "loongarch64": ("LINUX_5.10", 0xae78f70, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00),
        ("getcpu", "__vdso_getcpu", 0x00b01045, 0x6562b026),
    )),
    "mips": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime64", 0x05ec75a4, 0x0db8d042),
    )),
    "mips64": ("LINUX_2.6", 0x3ae75f6, (
        ("clock_gettime", "__vdso_clock_gettime", 0x0d35ec75, 0x6e43a318),
        ("clock_getres", "__vdso_clock_getres", 0x04d35c83, 0x68308f53),
        ("gettimeofday", "__vdso_gettimeofday", 0x0315ca59, 0xb01bca00),
    )),
}
