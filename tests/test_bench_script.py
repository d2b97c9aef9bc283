"""bench/run.py, run from the repository root as the README says."""

import importlib.util
from pathlib import Path

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
