"""bench/run.py, run from the repository root as the README says."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_bench():
    spec = importlib.util.spec_from_file_location("vdsotime_bench_run", ROOT / "bench" /
                                                  "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_time_children_import_the_installed_package(monkeypatch):
    """Its `python -c "import vdsotime"` children used to import the source folder of
    the checkout (no compiled extensions) and crash the run at its end."""
    monkeypatch.chdir(ROOT)
    assert (ROOT / "vdsotime" / "__init__.py").exists()  # the folder that would shadow
    result = load_bench().import_time(1)
    assert result["numpy_imported"] is False
    assert isinstance(result["import_ms"], float)
    assert result["importtime_ms"] is not None and result["importtime_ms"] > 0


def load_gate():
    spec = importlib.util.spec_from_file_location("vdsotime_bench_gate", ROOT / "bench" /
                                                  "gate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gate_script_runs_one_pair(tmp_path):
    """bench/gate.py --quick, one pair at +3 %, wrapper-script builds: the side-by-side
    gate (and pyperf's two saves, where installed) give a verdict the script can read,
    and the table renders. Its figures mean nothing at these counts: no timing checked."""
    import json
    import subprocess
    import sys

    gate = load_gate()
    tools = ["side-by-side"] + (["pyperf"] if gate.tool_version("pyperf") else [])
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gate.py"), "--quick", "--builds",
         "pythonpath", "--pairs", "0", "--b3-pairs", "1", "--tools", ",".join(tools),
         "--workdir", str(tmp_path), "--seed", "7", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["tools"] == tools and report["seed"] == 7
    assert set(report["true_ratios"]["ratios"]) == {"B0", "B3", "B10"}
    [pair] = report["pairs"]
    assert pair["kind"] == "B3" and sorted(pair["order"]) == sorted(tools)
    for tool in tools:
        verdict = pair["tools"][tool]
        assert "error" not in verdict, verdict
        assert verdict["ratio"] > 0 and isinstance(verdict["alarm"], bool)
        assert report["rows"][tool]["B3"]["pairs"] == 1
        assert report["rows"][tool]["B0"]["pairs"] == 0
    text = gate.render(report)
    assert "| tool | false alarms, B0 |" in text and "true ratios" in text
    assert (tmp_path / "pairs.jsonl").exists()
