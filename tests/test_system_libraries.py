"""The ELF reader against pyelftools on a bounded random sample of this system's shared
objects (tools/compare_libs.py; the whole-system run is in docs/RELIABILITY.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "compare_libs.py"


@pytest.mark.slow
def test_sample_of_system_libraries_agrees_with_pyelftools(tmp_path):
    saved = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--limit", "150", "--seed", "2026",
                             "--quiet", "--save", str(saved)],
                            capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(saved.read_text())["report"]
    assert report["scanned"] == 150
    assert report["crashes"] == 0 and report["hangs"] == 0
    assert report["differ_not_justified"] == 0 and report["vdsotime_other_error"] == 0
    assert report["agree"] >= 100  # most files are ordinary libraries read in full
