"""The vdsotime command and python -m vdsotime."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

import vdsotime

import abi
import kernel
from oracle import NEUTRAL_CWD, fixture_path, interrupt_once_counted, readelf_view


def run(*args, module=False):
    if module:
        command = [sys.executable, "-m", "vdsotime", *args]
    else:
        script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
        assert script, "the vdsotime console script is not installed beside python"
        command = [script, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          cwd=NEUTRAL_CWD)


def _bound_clock_gettime():
    """This ABI's clock_gettime symbol (its key table's, tests/abi.py) as readelf writes
    it: name@@VERSION for the default version, name@VERSION for a hidden one."""
    symbol = abi.clock_gettime_symbol()
    [entry] = [s for s in vdsotime.info().symbols
               if s.name == symbol and s.version == abi.VERSION]
    return f"{symbol}{'@' if entry.hidden else '@@'}{abi.VERSION}"


@pytest.mark.parametrize("module", [False, True])
def test_info(module):
    result = run("info", module=module)
    assert result.returncode == 0, result.stderr
    assert abi.SONAME in result.stdout
    for name in ("clock_gettime", "clock_getres", "gettimeofday", "time", "getcpu"):
        assert f"{name} " in result.stdout
    # The binding in the symbol list's notation: @@ for the default version.
    assert f"vdso  {_bound_clock_gettime()} at " in result.stdout
    path = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
    clocksource = kernel.read_file(path) or f"unknown (cannot read {path})"  # no /sys
    assert f"clocksource:   {clocksource}" in result.stdout



def test_info_prints_each_binding_as_the_symbol_list_does():
    """The functions section names the bound symbol in the notation of the symbols
    section below it (readelf's: name@@VERSION default, name@VERSION hidden)."""
    lines = run("info").stdout.splitlines()
    listed = {line.split()[-1].split("@")[0]: line.split()[-1]
              for line in lines[lines.index(next(l for l in lines if l.startswith(
                  "symbols ("))) + 1:]}
    bound = [line.split() for line in lines if line.startswith("  ") and " vdso  " in line]
    assert len(bound) == sum(backend == "vdso"
                             for backend, *_ in abi.expected_bindings().values())
    for _, _, symbol, *_ in bound:
        assert symbol == listed[symbol.split("@")[0]]


def test_binding_notation_follows_the_symbols_hidden_flag():
    from vdsotime._core.info import bound_name, versioned_name
    from vdsotime._core.vdso import Binding

    symbol = vdsotime.info().symbols[0]
    default = symbol._replace(name="f", version="V_1", hidden=False)
    hidden = symbol._replace(name="g", version="V_1", hidden=True)
    assert bound_name(Binding("vdso", "f", "V_1", 1), [default, hidden]) == "f@@V_1"
    assert bound_name(Binding("vdso", "g", "V_1", 1), [default, hidden]) == "g@V_1"
    assert bound_name(Binding("libc", "clock_gettime", None, 1), [default]) == "clock_gettime"
    assert versioned_name("h", None, True) == "h"


def test_info_json():
    result = run("info", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["present"] is True
    assert data["base"] == vdsotime.info().base or data["base"] > 0  # another process
    assert set(data["functions"]) == {"clock_gettime", "clock_getres", "gettimeofday",
                                      "time", "getcpu"}
    assert {name: (b["backend"], b["symbol"], b["version"])
            for name, b in data["functions"].items()} == abi.expected_bindings()
    hidden = {(s["name"], s["version"]): s["hidden"] for s in data["symbols"]}
    assert all(b["hidden"] is hidden[b["symbol"], b["version"]]
               for b in data["functions"].values() if b["backend"] == "vdso")
    assert abi.VERSION in data["versions"]
    assert data["clocksource"] == kernel.read_file(  # null where /sys is missing
        "/sys/devices/system/clocksource/clocksource0/current_clocksource")
    assert {s["name"] for s in data["symbols"]} >= {
        symbol for backend, symbol, _ in abi.expected_bindings().values()
        if backend == "vdso"}
    assert abi.clock_gettime_symbol() in {s["name"] for s in data["symbols"]}


def test_info_when_disabled():
    result = subprocess.run([sys.executable, "-m", "vdsotime", "info"], capture_output=True,
                            text=True, env={**os.environ, "VDSOTIME_DISABLE_VDSO": "1"},
                            cwd=NEUTRAL_CWD)
    assert result.returncode == 0
    # The vDSO is there, only not used: say so, not "not found".
    assert "not found" not in result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("vDSO:")]
    assert line == (f"vDSO:          at {vdsotime.info().base:#x}, not used (disabled by "
                    "VDSOTIME_DISABLE_VDSO)") or line.endswith(
                        "not used (disabled by VDSOTIME_DISABLE_VDSO)")  # another process
    assert "libc" in result.stdout


def test_no_command_means_info():
    assert "functions:" in run().stdout


def test_dump_writes_the_live_image(tmp_path):
    out = tmp_path / "vdso.so"
    result = run("dump", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x7fELF"
    # Another process, the same kernel image.
    abi.assert_same_vdso(out.read_bytes(), vdsotime.vdso_image())  # another process
    assert readelf_view(out)["soname"] == abi.SONAME


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


def test_clocks_table():
    result = run("clocks", "-n", "5000")
    assert result.returncode == 0, result.stderr
    for name in ("CLOCK_REALTIME", "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_RAW", "CLOCK_BOOTTIME",
                 "CLOCK_TAI", "CLOCK_MONOTONIC_COARSE", "CLOCK_REALTIME_COARSE",
                 "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_THREAD_CPUTIME_ID"):
        assert name in result.stdout
    assert "clock_gettime backend: vdso" in result.stdout
    cpuinfo = kernel.read_file("/proc/cpuinfo") or ""  # none where /proc is missing
    assert "TSC flags:" in result.stdout
    assert ("constant_tsc" in result.stdout) == ("constant_tsc" in cpuinfo)


def test_clocks_json():
    result = run("clocks", "--json", "-n", "5000")
    data = json.loads(result.stdout)
    assert data["backend"] == "vdso" and data["clocksource"] == kernel.read_file(
        "/sys/devices/system/clocksource/clocksource0/current_clocksource")  # or null
    rows = {row["clock"]: row for row in data["clocks"]}
    assert len(rows) == 9
    monotonic = rows["CLOCK_MONOTONIC"]
    # The vDSO read in C is cheaper than the raw system call.
    assert monotonic["vdsotime_c_ns"] < monotonic["syscall_c_ns"]
    assert monotonic["getres_ns"] == kernel.clock_getres_ns(1)
    assert data["warning"] is None  # tsc is read from user space


ROW_KEYS = {"clock": str, "clock_id": int, "vdsotime_c_ns": float, "vdsotime_python_ns": float,
            "stdlib_python_ns": float, "syscall_c_ns": float, "getres_ns": int,
            "step_ns": int, "step_reads": int, "step_span_ns": int}


def test_clocks_json_shape_is_stable_and_every_clock_shows_its_step():
    """The same keys and types run after run, the kernel's clock_getres beside the step
    seen: for every clock, the coarse ones included (their tick used to fall between
    the reads of one run and not another's: null one run, 4000000 the next)."""
    for _ in range(2):
        data = json.loads(run("clocks", "--json", "-n", "2000").stdout)
        assert data["rounds"] == 15 and data["calls_per_round"] == 2000 // 15
        for row in data["clocks"]:
            assert {key: type(value) for key, value in row.items()} == ROW_KEYS, row
            assert row["getres_ns"] == kernel.clock_getres_ns(row["clock_id"])
            assert row["step_reads"] >= 2000 and row["step_span_ns"] >= 2 * row["step_ns"]


def test_clocks_figures_are_medians_of_interleaved_rounds(monkeypatch, capsys):
    """Each clock's four costs come from one interleaved_medians call (rounds of C, py,
    time py, syscall in turn), the C and syscall columns from the doctor's own loops."""
    from vdsotime import cli
    from vdsotime._health import doctor

    seen = []

    def spy(measures, rounds):
        seen.append((dict(measures), rounds))
        return {key: 10.0 * (index + 1) for index, key in enumerate(measures)}

    monkeypatch.setattr(doctor, "interleaved_medians", spy)
    assert cli.main(["clocks", "--json", "-n", "3000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(seen) == len(data["clocks"]) == 9
    for (measures, rounds), row in zip(seen, data["clocks"]):
        assert rounds == doctor.COST_ROUNDS
        assert list(measures) == ["vdsotime_c_ns", "vdsotime_python_ns", "stdlib_python_ns",
                                  "syscall_c_ns"]
        c_loop, syscall = measures["vdsotime_c_ns"], measures["syscall_c_ns"]
        assert (c_loop.func, c_loop.args) == (doctor.c_loop_ns, (row["clock_id"], 200))
        assert (syscall.func, syscall.args) == (doctor.syscall_ns, (row["clock_id"], 20))
        assert [row[key] for key in measures] == [10.0, 20.0, 30.0, 40.0]


def test_clocks_text_explains_its_columns_and_a_step_not_seen(monkeypatch, capsys):
    from vdsotime import cli
    from vdsotime._bench import measure

    real = measure.clock_step

    def no_coarse_step(clock_id, n, seconds):
        if clock_id == vdsotime.CLOCK_MONOTONIC_COARSE:
            return None, 123_456, 0
        return real(clock_id, n, seconds)

    monkeypatch.setattr(measure, "clock_step", no_coarse_step)
    assert cli.main(["clocks", "-n", "1000"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("clock "))
    assert header.split()[-2:] == ["getres", "step"]
    coarse = next(line for line in out.splitlines()
                  if line.startswith("CLOCK_MONOTONIC_COARSE "))
    assert coarse.endswith(" none seen"), coarse
    assert " - " not in out.split("\n\n")[1]  # no unexplained dash in the table
    assert "each the median of 15 interleaved rounds" in out
    assert "as vdsotime doctor measures its costs" in out
    assert "getres: what clock_getres says; step: the smallest nonzero step seen" in out
    assert "CLOCK_MONOTONIC_COARSE: no step seen in 123,456 reads (spanning 0 ns of the " \
           "clock)" in out


def test_clocks_warns_about_syscall_clocksources(monkeypatch, capsys):
    from vdsotime import cli

    monkeypatch.setattr(cli, "_clocksource", lambda: "hpet")
    assert cli.main(["clocks", "-n", "1000"]) == 0
    out = capsys.readouterr().out
    assert "warning: clocksource hpet cannot be read from user space" in out


def test_bench_command():
    result = run("bench", "-s", "data = list(range(50))", "-n", "2000", "sorted(data)")
    assert result.returncode == 0, result.stderr
    assert "2,000 calls of: sorted(data)" in result.stdout
    for key in ("min", "p50", "p90", "p99", "p99.9", "max", "mean", "stdev"):
        assert f"  {key}  " in result.stdout or f" {key} " in result.stdout
    data = json.loads(run("bench", "--json", "-n", "500", "x = 1 + 1").stdout)
    assert data["n"] == 500 and data["statement"] == "x = 1 + 1"
    assert data["summary_ns"]["p50"] >= 0


@pytest.mark.parametrize("args,message", [
    (("bench", "-n", "10", "1/0"), "the statement raised ZeroDivisionError: division by zero"),
    (("bench", "x ==== 1"), "syntax error in stmt"),
    (("bench", "-s", "import no_such_module_here", "pass"), "setup failed: ModuleNotFoundError"),
    (("bench", "-n", "0", "pass"), "expected a whole number >= 1"),
    (("bench", "-n", "many", "pass"), "expected a whole number"),
    (("jitter", "--seconds", "-1"), "expected a number > 0"),
    (("jitter", "--seconds", "nan"), "expected a number > 0"),
    (("jitter", "--threshold-us", "0"), "expected a number > 0"),
    (("jitter", "--seconds", "1e12"), "jitter(): seconds must be from 1e-09 to 1e+08"),
    (("jitter", "--threshold-us", "1e20"), "jitter(): threshold_ns must be from 1 to"),
    (("clocks", "-n", "100000000000000000000000"),
     f"expected a whole number that fits in {sys.maxsize.bit_length() + 1} bits, got "
     "'100000000000000000000000'"),
    (("jitter", "--clock", "sundial"), "invalid choice"),
    (("clocks", "-n", "0"), "expected a whole number >= 2"),
    (("clocks", "-n", "1"), "expected a whole number >= 2"),
    (("compare", "pass"), "compare needs at least two statements"),
    (("compare", "-p", "4", "-r", "3", "pass", "pass"),
     "compare(): rounds=3 is fewer than processes=4"),
    (("compare", "-n", "5", "-r", "2", "1/0", "pass"),
     "the statement raised ZeroDivisionError: division by zero"),
    (("compare", "-n", "5", "-r", "2", "-p", "2", "1/0", "pass"),
     "the statement raised ZeroDivisionError: division by zero"),
    (("compare", "x ==== 1", "pass"), "syntax error in stmt"),
    (("compare", "-s", "import no_such_module_here", "pass", "pass"),
     "setup failed: ModuleNotFoundError"),
    (("compare", "-r", "1", "pass", "pass"), "expected a whole number >= 2"),
    (("bench", "--timer", "sundial", "pass"), "invalid choice: 'sundial'"),
])
def test_measurement_commands_bad_arguments(args, message):
    result = run(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (("bench", "-n", "100000000000000"), "bench(): n=100,000,000,000,000 needs "),
    (("bench", "-n", "5", "-w", "100000000000000"),
     "bench(): warmup=100,000,000,000,000 needs "),
    (("compare", "-n", "100000000000000", "-r", "2"),
     "compare(): n=100,000,000,000,000 needs "),
    (("compare", "-n", "5", "-r", "2", "-w", "100000000000000"),
     "compare(): warmup=100,000,000,000,000 needs "),
    (("compare", "-r", "100000000000000000000000"),
     "compare(): rounds must fit in 64 bits, got 100000000000000000000000"),
])
def test_counts_that_cannot_fit_are_refused_before_the_statement_runs(args, message,
                                                                      tmp_path):
    """Item 12 of #11: the refusal is vdsotime's, not the statement's ("the statement
    raised ValueError" misled), and it comes before the statement runs even once."""
    marker = tmp_path / "ran"
    statements = [f"open({str(marker)!r}, 'w')"] * (1 if args[0] == "bench" else 2)
    result = run(*args, *statements)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    if sys.maxsize < 10**14 and " needs " in message:
        # A 32-bit build: such a count is not even an array size (an OverflowError).
        function, name = re.match(r"(\w+\(\)): (\w+)=", message).groups()
        message = f"{function}: {name} is too large for this 32-bit build, got "
    assert len(lines) == 1 and lines[0].startswith(f"vdsotime: error: {message}"), \
        result.stderr
    assert ("GiB for its samples; this machine has " in lines[0]
            or "-bit build can address" in lines[0] or "64 bits" in lines[0]
            or "32-bit build, got 100000000000000" in lines[0]), lines[0]
    assert "statement" not in lines[0]
    assert not marker.exists()


@pytest.mark.slow
def test_jitter_command(tmp_path):
    plot = tmp_path / "jitter.png"
    result = run("jitter", "--seconds", "0.3", "--threshold-us", "5", "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert "jitter on CLOCK_MONOTONIC" in result.stdout and "stolen" in result.stdout
    assert plot.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(run("jitter", "--seconds", "0.2", "--json", "--clock", "boottime").stdout)
    assert data["clock"] == "CLOCK_BOOTTIME" and data["threshold_ns"] == 10_000
    assert data["loops"] > 0 and data["duration_ns"] >= 0.2e9  # more under load: stalls
    assert data["interrupted"] is False


def test_jitter_command_at_10ns_says_what_it_kept():
    """Every read a gap: the output counts them all and says how many the list keeps;
    the warning comes once, as a line of its own."""
    result = run("jitter", "--seconds", "0.3", "--threshold-us", "0.01", "--keep", "50")
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("vdsotime: warning: jitter(): ")
    assert "the threshold is about the cost of one read" in warnings[0]
    assert re.search(r"kept: the 50 longest of [\d,]+ gaps", result.stdout), result.stdout
    assert "the longest gaps:" in result.stdout
    data = json.loads(run("jitter", "--seconds", "0.3", "--threshold-us", "0.01", "--json",
                          "--keep", "50").stdout)
    assert data["gaps_kept"] == len(data["gap_list"]) == 50
    assert data["gaps"] > 100_000 and data["gaps"] > data["loops"] // 2
    assert sum(bucket["count"] for bucket in data["gap_histogram"]["buckets"]) == data["gaps"]
    assert data["gap_summary_ns"]["n"] == data["gaps"]


def interrupt(*args, after=1.5, counter=None, at_least=0, loaded=None):
    """Run the vdsotime command, send SIGINT ``after`` seconds later -- or, given a
    ``counter`` file that the measured statement writes a byte to per call, once it holds
    ``at_least`` bytes, the same point of the work whatever the machine's load; given
    ``loaded`` (a part of a file name), ``after`` seconds once the child has that file
    mapped (its imports done, however long they took). The child process."""
    import signal
    import time

    script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
    child = subprocess.Popen([script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=NEUTRAL_CWD,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if loaded is not None:
            deadline = time.monotonic() + 120
            while loaded not in _mapped(child.pid) and child.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.02)
            assert loaded in _mapped(child.pid), f"the child never loaded {loaded}"
        if counter is None:
            time.sleep(after)
        else:
            deadline = time.monotonic() + 120
            while (not counter.exists() or counter.stat().st_size < at_least) \
                    and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert counter.stat().st_size >= at_least, "the statement made too few calls"
        child.send_signal(signal.SIGINT)
        child.out, child.err = child.communicate(timeout=60)
    finally:
        child.kill()
    return child


def _mapped(pid):
    try:
        with open(f"/proc/{pid}/maps") as maps:
            return maps.read()
    except OSError:
        return ""


@pytest.mark.parametrize("json_output", [False, True])
def test_jitter_ctrl_c_prints_the_run_so_far(json_output):
    # (the signal half a second after the loop's module is loaded: not during the imports,
    # which take seconds on a loaded machine)
    child = interrupt("jitter", "--seconds", "60", *(["--json"] if json_output else []),
                      after=0.5, loaded="_loops/driver")
    out, err = child.out, child.err
    assert child.returncode == 130, err
    assert "interrupted; the run so far" in err
    if json_output:
        data = json.loads(out)
        assert data["interrupted"] is True and data["loops"] > 0
        assert 0 < data["duration_ns"] < 60e9
    else:
        assert "jitter on CLOCK_MONOTONIC" in out and "(interrupted)" in out



BENCH_INTERRUPT_CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from vdsotime import cli
    print("ready", flush=True)
    sys.exit(cli.main(["bench", "-n", "100000", "-w", "5", "--save", sys.argv[2],
                       *sys.argv[3:], "-s", f"import time; calls = open({sys.argv[1]!r}, "
                       "'ab', buffering=0)", "calls.write(b'x'); time.sleep(0.001)"]))
""")


@pytest.mark.parametrize("json_output", [False, True])
def test_bench_ctrl_c_prints_the_calls_so_far(tmp_path, json_output):
    """vdsotime bench (one process), interrupted: what was measured is printed, as
    jitter and compare do, nothing is saved, and the exit status is 130. The signal comes
    once the statement has counted 60 calls in a file (5 warm-up, 55 timed begun), whatever the
    machine's load."""
    calls, saved = tmp_path / "calls", tmp_path / "run.json"
    out, err, status = interrupt_once_counted(BENCH_INTERRUPT_CHILD, calls, 60, "process",
                                              saved, *(["--json"] if json_output else []))
    assert status == 130, out + err
    match = re.search(r"vdsotime: interrupted; the ([\d,]+) calls timed so far \(nothing "
                      r"saved\):", err)
    assert match, err
    timed = int(match.group(1).replace(",", ""))
    # 60 calls counted: 5 warm-up and 55 timed begun, the last perhaps still running
    assert 54 <= timed < 100_000
    statement = "calls.write(b'x'); time.sleep(0.001)"
    if json_output:
        data = json.loads(out)
        assert data["n"] == timed and data["name"] == statement
        assert data["summary_ns"]["min"] >= 900_000  # each call sleeps 1 ms
    else:
        assert out.startswith(f"{timed:,} calls of: {statement}\n"), out
        assert "p99.9" in out and "#" in out  # the figures and the histogram
    assert not saved.exists()


def test_progress_on_a_terminal():
    """Runs longer than a second show progress on stderr when it is a terminal."""
    import pty

    code = ("import sys; from vdsotime.cli import main; "
            "sys.exit(main(['jitter', '--seconds', '1.6']))")
    leader, follower = pty.openpty()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=follower, cwd=NEUTRAL_CWD)
    os.close(follower)
    out, _ = child.communicate(timeout=60)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert child.returncode == 0
    assert b"vdsotime jitter:" in b"".join(chunks) and b"%" in b"".join(chunks)
    assert b"jitter on CLOCK_MONOTONIC" in out


def test_version():
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"vdsotime {version('vdsotime')}\n"


@pytest.mark.parametrize("args", [("info",), ("info", "--json"), ("inspect", "LIBC"),
                                  ("dump", "-")])
def test_closed_pipe_is_quiet(args):
    """vdsotime info | head -1: the reader has gone, so stop without a word, with the
    status of a process killed by SIGPIPE (141), as other Unix tools do."""
    import ctypes.util

    from requires import require_path

    if "LIBC" in args:
        # The C library this interpreter loaded (its folder is /lib/i386-linux-gnu on
        # i386, whatever uname says under setarch).
        name = "/" + ctypes.util.find_library("c")  # (once: it runs ldconfig -p)
        libc = next(line.split()[-1] for line in open(require_path("/proc/self/maps"))
                    if line.split()[-1].endswith(name))
        args = [os.path.realpath(libc) if arg == "LIBC" else arg for arg in args]
    script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
    read, write = os.pipe()
    os.close(read)  # every write fails with EPIPE
    try:
        result = subprocess.run([script, *args], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120, cwd=NEUTRAL_CWD)
    finally:
        os.close(write)
    assert result.stderr == "" and result.returncode == 141


def test_dump_to_stdout():
    script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
    result = subprocess.run([script, "dump", "-"], capture_output=True, timeout=120,
                            cwd=NEUTRAL_CWD)
    assert result.returncode == 0, result.stderr
    abi.assert_same_vdso(result.stdout, vdsotime.vdso_image())  # another process
    assert result.stderr.decode() == (f"vdsotime: {len(result.stdout):,} bytes of the vDSO "
                                      "written to standard output\n")
    assert not os.path.exists(os.path.join(NEUTRAL_CWD, "-"))


def test_dump_to_a_terminal_is_refused():
    import pty

    leader, follower = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "vdsotime", "dump", "-"],
                                stdout=follower, stderr=subprocess.PIPE, text=True,
                                timeout=120, cwd=NEUTRAL_CWD)
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 1
    assert result.stderr == ("vdsotime: error: refusing to write the binary vDSO image to "
                             "a terminal: redirect standard output, or give a FILE\n")


def test_clocks_reports_progress(monkeypatch, capsys):
    from vdsotime import cli

    calls = []

    class Recorder:
        def __init__(self, label):
            calls.append(("label", label))

        def __call__(self, done, total):
            calls.append((done, total))

        def close(self):
            calls.append("closed")

    monkeypatch.setattr(cli, "Progress", Recorder)
    assert cli.main(["clocks", "-n", "2"]) == 0
    assert calls == [("label", "vdsotime clocks")] + [(k, 9) for k in range(9)] + ["closed"]
    assert "CLOCK_TAI" in capsys.readouterr().out


def test_bench_text_for_people():
    result = run("bench", "-n", "1", "-w", "1", "pass")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines()
             if line and not line.startswith("warning:")]
    assert lines[0] == "1 call of: pass"
    assert lines[1].startswith(("tsc timer, overhead ", "monotonic timer, overhead "))
    assert lines[1].endswith(" subtracted, 1 warm-up call")
    assert lines[-1].endswith(" 1 (100.0%)")
    assert "e+" not in result.stdout
    assert ("warning: too few samples for p99 and p99.9: 1 call leaves 0.001 beyond p99.9 "
            "(n >= 10,000 gives it 10)") in result.stdout.splitlines()


@pytest.fixture
def jitter_not_run(monkeypatch):
    """Fail the test if the CLI starts measuring."""
    from vdsotime._bench import measure

    def refuse(*args):
        raise AssertionError("jitter ran before its --plot was checked")
    monkeypatch.setattr(measure, "_jitter", refuse)


@pytest.mark.parametrize("plot,message", [
    ("/no/such/dir/jitter.png", "vdsotime: error: --plot: cannot write /no/such/dir/jitter.png: "
                                "No such file or directory (/no/such/dir)"),
    ("TMP/jitter.unknown", "vdsotime: error: --plot: plot file 'TMP/jitter.unknown' must end "
                           "in a format matplotlib writes: "),
    ("TMP", "vdsotime: error: --plot: cannot write TMP: Is a directory (TMP)"),
])
def test_jitter_checks_the_plot_before_measuring(jitter_not_run, capsys, tmp_path, plot,
                                                 message):
    from vdsotime import cli

    plot, message = plot.replace("TMP", str(tmp_path)), message.replace("TMP", str(tmp_path))
    assert cli.main(["jitter", "--seconds", "60", "--plot", plot]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message)
    assert len(captured.err.splitlines()) == 1


@pytest.mark.parametrize("option", ["--save", "--pyperf"])
@pytest.mark.parametrize("path,reason", [
    ("/no/such/dir/run.json", "No such file or directory (/no/such/dir)"),
    ("TMP", "Is a directory (TMP)"),
])
def test_bench_checks_its_output_files_before_measuring(monkeypatch, capsys, tmp_path,
                                                        option, path, reason):
    """A file bench could not write is refused before the calls are timed, not after a
    run (of any length) whose results would then be lost."""
    from vdsotime import cli
    from vdsotime._bench import engine

    def refuse(*args, **kwargs):
        raise AssertionError(f"bench ran before its {option} file was checked")
    monkeypatch.setattr(engine, "measure_calls", refuse)
    path, reason = path.replace("TMP", str(tmp_path)), reason.replace("TMP", str(tmp_path))
    assert cli.main(["bench", option, path, "-n", "10", "pass"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"vdsotime: error: {option}: cannot write {path}: {reason}\n"


def test_jitter_without_matplotlib_fails_before_measuring(jitter_not_run, capsys, tmp_path,
                                                         monkeypatch):
    from vdsotime import cli

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert cli.main(["jitter", "--seconds", "60", "--plot", str(tmp_path / "j.png")]) == 1
    assert capsys.readouterr().err == ("vdsotime: error: --plot: plotting needs matplotlib: "
                                       "pip install 'vdsotime[plot]'\n")


def test_jitter_prints_its_results_when_the_plot_fails(monkeypatch, capsys, tmp_path):
    import errno

    from vdsotime import cli, plot

    def disk_full(result, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr(plot, "plot_jitter", disk_full)
    target = tmp_path / "j.png"
    assert cli.main(["jitter", "--seconds", "0.05", "--plot", str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("jitter on CLOCK_MONOTONIC: ")
    assert captured.err == (f"vdsotime: error: cannot write the plot {target}: No space left "
                            "on device\n")


# -- bench's outputs, compare ----------------------------------------------------------

def test_bench_writes_pyperf_json_and_a_plot(tmp_path):
    import pyperf

    pyperf_path, plot_path = tmp_path / "bench.json", tmp_path / "latency.svg"
    result = run("bench", "-n", "3000", "--timer", "monotonic", "--pyperf", str(pyperf_path),
                 "--plot", str(plot_path), "--name", "sum100", "sum(range(100))")
    assert result.returncode == 0, result.stderr
    assert "monotonic timer, overhead" in result.stdout
    # What was written is said on stderr, by every command: stdout holds the results.
    assert f"vdsotime: pyperf JSON written to {pyperf_path}" in result.stderr
    assert f"vdsotime: plot written to {plot_path}" in result.stderr
    assert "written to" not in result.stdout
    benchmark = pyperf.Benchmark.load(str(pyperf_path))
    assert benchmark.get_name() == "sum100" and len(benchmark.get_values()) == 3000
    assert b"<svg" in plot_path.read_bytes()[:500]



@pytest.mark.parametrize("command", ["bench", "compare", "jitter", "dump"])
def test_every_file_written_is_announced_on_stderr(tmp_path, command):
    """Every command says on stderr which files it wrote, in one form ("vdsotime: ...
    written to FILE", "vdsotime: saved as ... in FILE"): stdout holds the results alone,
    and with --json it is one JSON document."""
    files = {name: tmp_path / name for name in ("run.json", "pyperf.json", "plot.png",
                                                "vdso.so")}
    args, said = {
        "bench": (["bench", "-n", "300", "--json", "--save", files["run.json"], "--pyperf",
                   files["pyperf.json"], "--plot", files["plot.png"], "pass"],
                  [f"saved as 'pass' in {files['run.json']}",
                   f"pyperf JSON written to {files['pyperf.json']}",
                   f"plot written to {files['plot.png']}"]),
        "compare": (["compare", "-n", "100", "-r", "4", "--json", "--plot",
                     files["plot.png"], "pass", "pass"],
                    [f"plot written to {files['plot.png']}"]),
        "jitter": (["jitter", "--seconds", "0.1", "--json", "--plot", files["plot.png"]],
                   [f"plot written to {files['plot.png']}"]),
        "dump": (["dump", files["vdso.so"]],
                 [f"{len(vdsotime.vdso_image()):,} bytes of the vDSO written to "
                  f"{files['vdso.so']}"]),
    }[command]
    result = run(*map(str, args))
    assert result.returncode == 0, result.stderr
    for text in said:
        assert f"vdsotime: {text}" in result.stderr.splitlines(), result.stderr
    if command == "dump":
        assert result.stdout == ""
    else:
        json.loads(result.stdout)  # the results alone
    assert str(tmp_path) not in result.stdout


def test_bench_prints_its_warnings():
    # 50 calls: too few for p99 and p99.9, whatever the machine.
    result = run("bench", "-n", "50", "pass")
    assert result.returncode == 0, result.stderr
    assert "warning: too few samples for p99 and p99.9: 50 calls" in result.stdout
    data = json.loads(run("bench", "-n", "50", "--json", "pass").stdout)
    assert any(text.startswith("too few samples") for text in data["warnings"])
    assert data["metadata"]["statement"] == "pass" and data["metadata"]["timer"]


@pytest.mark.parametrize("plot,message", [
    ("out.bmpx", "must end in a format matplotlib writes"),
    ("no/such/folder/out.png", "No such file or directory"),
])
def test_plot_paths_are_checked_before_measuring(tmp_path, plot, message):
    """The statement would leave a file behind if it ran even once: it must not."""
    marker = tmp_path / "ran"
    for command in (["bench", "-n", "5"], ["compare", "-n", "5", "-r", "2"]):
        statements = [f"open({str(marker)!r}, 'w')"] * (1 if command[0] == "bench" else 2)
        result = run(*command, "--plot", str(tmp_path / plot), *statements)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert not marker.exists()


@pytest.mark.parametrize("option", ["--pyperf", "--save"])
def test_bench_output_paths_are_checked_before_measuring(tmp_path, option):
    """Like --plot: a file bench could not write is refused before the statement runs."""
    marker = tmp_path / "ran"
    target = tmp_path / "no" / "such" / "out.json"
    result = run("bench", "-n", "5", option, str(target), f"open({str(marker)!r}, 'w')")
    assert result.returncode == 1
    assert result.stderr == (f"vdsotime: error: {option}: cannot write {target}: No such "
                             f"file or directory ({target.parent})\n")
    assert not marker.exists()


@pytest.mark.parametrize("command", ["bench", "compare"])
def test_results_are_printed_when_a_file_cannot_be_written_after_the_run(
        command, monkeypatch, capsys, tmp_path):
    """The measurement is not lost when writing its file fails after the run (a full
    disk): the results come first, then the error."""
    import errno

    from vdsotime import cli, plot

    def disk_full(result, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    name = "plot_latency" if command == "bench" else "plot_comparison"
    monkeypatch.setattr(plot, name, disk_full)
    target = tmp_path / "out.png"
    arguments = ["-n", "20"] + ([] if command == "bench" else ["-r", "2"])
    statements = ["pass"] * (1 if command == "bench" else 2)
    assert cli.main([command, *arguments, "--plot", str(target), *statements]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("20 calls of: pass\n" if command == "bench"
                                   else "2 rounds, 2 candidates in random order")
    assert captured.err == (f"vdsotime: error: cannot write the plot {target}: No space "
                            "left on device\n")


def test_compare_command(tmp_path):
    plot_path = tmp_path / "compare.png"
    result = run("compare", "-s", "data = list(range(200))", "-n", "1000", "-r", "12",
                 "--plot", str(plot_path), "sum(data[:100])", "sum(data)")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("12 rounds, 2 candidates in random order each round (seed ")
    assert "sum(data) is " in result.stdout and "x slower than sum(data[:100])" in result.stdout
    assert "at p99: " in result.stdout
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(run("compare", "--json", "-n", "200", "-r", "6", "--seed", "5",
                          "pass", "pass").stdout)
    assert list(data["candidates"]) == ["pass", "pass #2"] and data["seed"] == 5
    assert data["contrasts"][0]["verdict"].startswith(
        ("no significant difference between pass #2 and pass", "pass #2 is "))


def test_compare_command_in_processes():
    result = run("compare", "-p", "2", "-r", "4", "-n", "200", "-s", "import math",
                 "math.sqrt(2)", "math.sqrt(3)")
    assert result.returncode == 0, result.stderr
    assert "in 2 worker processes" in result.stdout


def test_compare_ctrl_c_prints_the_rounds_so_far(tmp_path):
    # The signal comes once the first candidate has made 300 calls (a few rounds of 50).
    calls = tmp_path / "calls"
    child = interrupt("compare", "-n", "50", "-r", "100000", "-s",
                      f"import time; calls = open({str(calls)!r}, 'ab', buffering=0)",
                      "calls.write(b'x'); time.sleep(0.001)", "pass",
                      counter=calls, at_least=300)
    out, err = child.out, child.err
    assert child.returncode == 130, err
    assert "interrupted; the rounds so far" in err
    assert "(interrupted), 2 candidates" in out.splitlines()[0]
    # A verdict on the rounds so far (which one depends on how many there were).
    assert out.splitlines()[3].startswith(("pass is ", "no significant difference between pass"))
