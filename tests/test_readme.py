"""The README's Python examples run as written: each block as a script of its own, in a
child process, outside the source tree."""

import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from requires import require_module

README = Path(__file__).resolve().parent.parent / "README.md"
# Every block, those indented under a list item too (their fence is indented as well).
BLOCKS = [textwrap.dedent(body) for _, body in
          re.findall(r"^( *)```python\n(.*?)^\1```$", README.read_text(), re.S | re.M)]

# The test extra's packages a block may import: module -> pip package.
OPTIONAL = {"pyperf": "pyperf", "numba": "numba", "cffi": "cffi", "matplotlib": "matplotlib",
            "time_machine": "time-machine", "freezegun": "freezegun", "hdrh": "hdrhistogram"}

# Extra arguments for a block that is a pyperf script: one value in one process, which
# runs the whole pyperf path in well under a second.
PYPERF_ARGS = ["--debug-single-value", "--quiet"]


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 7
    assert all(block.strip() for block in BLOCKS)
    # As many blocks as fences that open one, wherever they stand.
    opened = re.findall(r"^ *```python$", README.read_text(), re.M)
    assert len(BLOCKS) == len(opened)
    assert any("open_clock" in block for block in BLOCKS)  # the one in a list item


# Ids start with the block's first line, so that a list of ids by prefix (the i386 leg's
# exclusions) keeps naming the same block when the README gains another before it.
@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"{b.splitlines()[0][:30]}-block{k}" for k, b in
                              enumerate(BLOCKS)])
def test_readme_block_runs(index, tmp_path):
    block = BLOCKS[index]
    if "sample_tsc" in block and platform.machine() != "x86_64":
        pytest.skip("the TSC example is for x86-64")
    # Packages of the test extra that a block uses (the i386 leg's root lacks some).
    imported = set(re.findall(r"^from (\w+)", block, re.M))
    for names in re.findall(r"^import (.+)$", block, re.M):
        imported.update(name.strip().split(".")[0] for name in names.split(","))
    for name in sorted(imported):
        if name in OPTIONAL:
            require_module(name, OPTIONAL[name])
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(block)
    args = PYPERF_ARGS if "pyperf.Runner()" in block else []
    result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, (block, result.stdout[-3000:], result.stderr[-3000:])
