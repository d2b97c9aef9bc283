"""Coverage-guided fuzz target for vdsotime's ELF reader (atheris / libFuzzer).

Feeds raw bytes to ``vdsotime.ElfImage.from_bytes`` and ``vdsotime._core.vdso.resolve``.
The contract under test: malformed input raises ``vdsotime.ElfError`` and nothing
else -- no other exception, no crash, no hang. Only ElfError is caught here; any
other exception propagates, and atheris reports it (with the input) as a finding.

Run it through fuzz/run.sh, or directly with libFuzzer flags:

    python fuzz/fuzz_elf.py -runs=100000 CORPUS_DIR
    python fuzz/fuzz_elf.py CRASH_FILE          # replay one input

Native coverage: when vdsotime's Cython extensions are built with
``CC=clang CFLAGS=-fsanitize=fuzzer-no-link`` they call libFuzzer's coverage
hooks. The atheris wheel keeps its libFuzzer in ``atheris.core_with_libfuzzer``
and loads it privately (RTLD_LOCAL) only when Fuzz() starts, so this file
loads that module with RTLD_GLOBAL *before* importing vdsotime, so the
extensions' ``__sanitizer_cov_*`` symbols resolve and their counters are
registered. Fuzz() is then told to use that same built-in libFuzzer.
If atheris.core_with_libfuzzer cannot be imported, the harness falls back to
atheris's Python bytecode instrumentation of vdsotime's Python modules (which
sees nothing inside the Cython extensions). With an ordinary (gcc) build of
vdsotime the preload is harmless but the fuzzer gets no native coverage.
"""

import os
import sys

import atheris

_flags = sys.getdlopenflags()
sys.setdlopenflags(_flags | os.RTLD_GLOBAL)
try:
    import atheris.core_with_libfuzzer  # noqa: F401  (exports libFuzzer's hooks)
    _NATIVE_HOOKS = True
except ImportError:  # an atheris built without its own libFuzzer
    _NATIVE_HOOKS = False
finally:
    sys.setdlopenflags(_flags)

if _NATIVE_HOOKS:
    import vdsotime
    from vdsotime._core import vdso
else:  # fall back to atheris's bytecode instrumentation of vdsotime's Python parts
    with atheris.instrument_imports(include=["vdsotime"]):
        import vdsotime
        from vdsotime._core import vdso

ElfError = vdsotime.ElfError
ElfImage = vdsotime.ElfImage
ABIS = tuple(sorted(vdso.KEY_TABLES))

# e_machine -> key-table ABI (mips/mips64 are told apart by ELF class).
_MACHINE_ABI = {3: "i386", 8: "mips", 21: "ppc64", 22: "s390x", 40: "arm",
                62: "x86_64", 183: "aarch64", 243: "riscv64", 258: "loongarch64"}

# Names every image gets looked up by, whatever it holds.
FIXED_NAMES = ("__vdso_clock_gettime", "__kernel_clock_gettime", "__vdso_time",
               "__vdso_getcpu", "LINUX_2.6", "", "x" * 300)
FIXED_VERSIONS = (None, "LINUX_2.6", "LINUX_2.6.39", "", "NO_SUCH_VERSION")


def _abis_for(data):
    """Two or three ABIs, chosen deterministically from the input."""
    chosen = ["x86_64"]
    if len(data) >= 20 and data[:4] == b"\x7fELF":
        order = "little" if data[5] != 2 else "big"
        abi = _MACHINE_ABI.get(int.from_bytes(data[18:20], order))
        if abi == "mips" and data[4] == 2:
            abi = "mips64"
        if abi:
            chosen.append(abi)
    chosen.append(ABIS[len(data) % len(ABIS)])
    return list(dict.fromkeys(chosen))


def _touch_symbol(symbol):
    # Every field of the record, as a caller would use it.
    symbol.name, symbol.version, symbol.value, symbol.size, symbol.type, symbol.bind
    tuple(symbol)
    repr(symbol)


def TestOneInput(data):
    try:
        image = ElfImage.from_bytes(data)
    except ElfError:
        image = None

    if image is not None:
        try:
            symbols = image.symbols
            for symbol in symbols:
                _touch_symbol(symbol)
            versions = image.versions
            repr(versions)
            repr(image.soname)
            repr(image.hash_styles)
            repr(image.load_segments)
            repr(image.executable_range)
            repr(image)

            names = [symbol.name for symbol in symbols]
            for symbol in symbols:
                for version in (None, symbol.version):
                    found = image.lookup(symbol.name, version)
                    if found is not None:
                        _touch_symbol(found)
            for name in FIXED_NAMES + tuple(names[:4]):
                for version in FIXED_VERSIONS + tuple(versions or ())[:3]:
                    found = image.lookup(name, version)
                    if found is not None:
                        _touch_symbol(found)
            if names:
                image.lookup(names[0].encode("utf-8", "surrogateescape"))
        except ElfError:
            pass

    for abi in _abis_for(data):
        try:
            result = vdso.resolve(data, abi)
        except ElfError:
            continue
        for value in result.values():
            repr(value)


def main():
    if not _NATIVE_HOOKS:
        sys.stderr.write("fuzz_elf: atheris.core_with_libfuzzer not importable; "
                         "Python-level coverage only\n")
    if _NATIVE_HOOKS:
        atheris.Setup(sys.argv, TestOneInput, internal_libfuzzer=True)
    else:
        atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
