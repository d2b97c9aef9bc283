"""What the build installs: extensions without debug information, small in total."""

import os
from pathlib import Path

import pytest

import vdsotime

# The goal of the parallel, debug-free build (they were 4.7 MB with -g; eleven modules
# since the TSC skew ping-pong has its own).
MAX_TOTAL_BYTES = 1_700_000


PACKAGE = Path(vdsotime.__file__).parent


def installed_extensions():
    return sorted(PACKAGE.rglob("*.so"))


@pytest.mark.skipif(os.environ.get("VDSOTIME_DEBUG_BUILD", "") not in ("", "0"),
                    reason="VDSOTIME_DEBUG_BUILD asks for debug information")
def test_installed_extensions_carry_no_debug_information():
    from elftools.elf.elffile import ELFFile

    extensions = installed_extensions()
    # Every compiled module: the stubs without a .py beside them.
    compiled = {path.relative_to(PACKAGE).as_posix().split(".")[0] for path in extensions}
    assert compiled == {path.relative_to(PACKAGE).with_suffix("").as_posix()
                        for path in PACKAGE.rglob("*.pyi")
                        if not path.with_suffix(".py").exists()}
    assert len(compiled) >= 10
    for path in extensions:
        with open(path, "rb") as f:
            sections = [section.name for section in ELFFile(f).iter_sections()]
        assert not [name for name in sections if name.startswith(".debug_")], path
    total = sum(path.stat().st_size for path in extensions)
    assert total <= MAX_TOTAL_BYTES, f"{total:,} bytes of extensions"
