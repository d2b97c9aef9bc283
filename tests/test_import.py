"""Importing vdsotime is cheap: no numpy, nothing slow (the time itself is in bench/)."""

from oracle import run_python


def test_import_does_not_load_numpy_or_heavy_modules():
    code = ("import sys, vdsotime\n"
            "heavy = sorted(m for m in ('numpy', 'collections', 'typing', 'dataclasses',"
            " 'importlib.metadata', 'subprocess', 'json') if m in sys.modules)\n"
            "print(','.join(heavy))")
    result = run_python(code, env={"PYTHONNOUSERSITE": "1"})
    assert result.returncode == 0, result.stderr
    # (A site customisation may preload some of these for every program; what matters is
    # that vdsotime adds none, so compare with a bare interpreter.)
    bare = run_python(code.replace(", vdsotime", ""), env={"PYTHONNOUSERSITE": "1"})
    assert result.stdout == bare.stdout


def test_version_is_the_installed_distributions():
    result = run_python("import vdsotime, importlib.metadata as m;"
                        "print(vdsotime.__version__ == m.version('vdsotime'))")
    assert result.stdout.strip() == "True", result.stderr
