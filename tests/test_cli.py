"""The vdsotime command and python -m vdsotime."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import vdsotime

from oracle import NEUTRAL_CWD, fixture_path, readelf_view


def run(*args, module=False):
    if module:
        command = [sys.executable, "-m", "vdsotime", *args]
    else:
        script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
        assert script, "the vdsotime console script is not installed beside python"
        command = [script, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          cwd=NEUTRAL_CWD)


@pytest.mark.parametrize("module", [False, True])
def test_info(module):
    result = run("info", module=module)
    assert result.returncode == 0, result.stderr
    assert "linux-vdso.so.1" in result.stdout
    for name in ("clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"):
        assert f"{name} " in result.stdout
    assert "__vdso_clock_gettime@LINUX_2.6" in result.stdout
    clocksource = open("/sys/devices/system/clocksource/clocksource0/"
                       "current_clocksource").read().strip()
    assert f"clocksource:   {clocksource}" in result.stdout


def test_info_json():
    result = run("info", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["present"] is True
    assert data["base"] == vdsotime.info().base or data["base"] > 0  # another process
    assert set(data["functions"]) == {"clock_gettime", "clock_getres", "gettimeofday",
                                      "time", "getcpu"}
    assert all(b["backend"] == "vdso" for b in data["functions"].values())
    assert "LINUX_2.6" in data["versions"]
    assert data["clocksource"]
    assert {s["name"] for s in data["symbols"]} >= {"__vdso_clock_gettime", "__vdso_time"}


def test_info_when_disabled():
    result = subprocess.run([sys.executable, "-m", "vdsotime", "info"], capture_output=True,
                            text=True, env={**os.environ, "VDSOTIME_DISABLE_VDSO": "1"},
                            cwd=NEUTRAL_CWD)
    assert result.returncode == 0
    assert "not found" in result.stdout and "VDSOTIME_DISABLE_VDSO" in result.stdout
    assert "libc" in result.stdout


def test_no_command_means_info():
    assert "functions:" in run().stdout


def test_dump_writes_the_live_image(tmp_path):
    out = tmp_path / "vdso.so"
    result = run("dump", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x7fELF"
    # Another process, the same kernel image.
    assert out.read_bytes() == vdsotime.vdso_image()
    assert readelf_view(out)["soname"] == "linux-vdso.so.1"


@pytest.mark.parametrize("name", ["s390x-vdso.so", "mips-vdso.so", "aarch64-vdso.so"])
def test_inspect_fixture(name):
    path = fixture_path(name)
    result = run("inspect", str(path))
    assert result.returncode == 0, result.stderr
    image = vdsotime.ElfImage.from_file(path)
    for symbol in image.symbols:
        assert symbol.name in result.stdout
    assert ", ".join(image.hash_styles) in result.stdout
    data = json.loads(run("inspect", "--json", str(path)).stdout)
    assert data["versions"] == list(image.versions)
    assert data["hash_styles"] == list(image.hash_styles)
    assert len(data["symbols"]) == len(image.symbols)


@pytest.mark.parametrize("args,message", [
    (("inspect", "/no/such/file.so"), "cannot read /no/such/file.so: No such file"),
    (("inspect", "/"), "cannot read /: Is a directory"),
    (("inspect", "/etc/hostname"), "not an ELF image"),
    (("dump", "/no/such/dir/out.so"), "cannot write /no/such/dir/out.so"),
])
def test_errors_are_one_line(args, message):
    result = run(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_inspect_hostile_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.so"
    data = bytearray(fixture_path("x86_64-vdso.so").read_bytes())
    data[4] = 9  # EI_CLASS
    bad.write_bytes(data)
    result = run("inspect", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"vdsotime: error: {bad}: unknown ELF class 9 in "
                                     "e_ident[EI_CLASS] (expected 1 for ELF32 or 2 for ELF64)")


def test_bad_usage_exits_2():
    result = run("frobnicate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid choice" in lines[0], result.stderr
    result = run("inspect")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "vdsotime inspect: error: the following arguments are required: FILE" in result.stderr
