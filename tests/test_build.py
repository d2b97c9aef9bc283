"""What the build installs: extensions without debug information, small in total."""

import os
from pathlib import Path

import pytest

import vdsotime

# The goal of the parallel, debug-free build (they were 4.7 MB with -g).
MAX_TOTAL_BYTES = 1_500_000


def installed_extensions():
    folder = Path(vdsotime.__file__).parent
    return sorted(folder.glob("_*.so"))


@pytest.mark.skipif(os.environ.get("VDSOTIME_DEBUG_BUILD", "") not in ("", "0"),
                    reason="VDSOTIME_DEBUG_BUILD asks for debug information")
def test_installed_extensions_carry_no_debug_information():
    from elftools.elf.elffile import ELFFile

    extensions = installed_extensions()
    assert {path.name.split(".")[0] for path in extensions} >= {
        "_elf", "_auxv", "_vdso", "_hw", "_args", "_clock", "_loops", "_sample"}
    for path in extensions:
        with open(path, "rb") as f:
            sections = [section.name for section in ELFFile(f).iter_sections()]
        assert not [name for name in sections if name.startswith(".debug_")], path
    total = sum(path.stat().st_size for path in extensions)
    assert total <= MAX_TOTAL_BYTES, f"{total:,} bytes of extensions"
