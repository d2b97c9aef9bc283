"""Facts read from /sys and /proc where their source is missing (no /sys mounted, as in a
minimal container or chroot): each is unknown -- None in Python and JSON, "unknown
(cannot read PATH)" in text -- never a verdict, and no recommendation or warning rests on
it. "The kernel shows none" (a /sys without cpufreq) stays apart from "cannot tell".

Two ways in: the readers pointed at a fake /sys and /proc under a temporary folder (fast,
no privileges), and the commands themselves run in a private mount namespace in which
an empty tmpfs hides /sys (and /proc files, or all of /proc), as root or in a user
namespace; without either, those skip naming what is needed (and fail in CI).
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vdsotime._bench.latency import LatencyResult, instability
from vdsotime._core import hw, meta
from vdsotime._health import doctor

import abi
from requires import missing, require_command

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0"
CURRENT = f"{CLOCKSOURCE}/current_clocksource"
AVAILABLE = f"{CLOCKSOURCE}/available_clocksource"
CPU_DIR = "/sys/devices/system/cpu"
# doctor --json's keys (the contract), which stay present when their values are unknown.
CONTRACT_KEYS = {"clocksource", "available_clocksources", "clocks", "tsc", "ntp",
                 "timens_offsets", "cpu", "recommendations"}
TSC_FLAG_FIELDS = ("constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable")


def _ntp_line(line):
    """A recommendation from adjtimex (a system call, known without /sys or /proc)."""
    return line.startswith(("CLOCK_REALTIME is not synchronized",
                            "CLOCK_REALTIME may be off"))


def _from_known_facts_only(lines):
    """No recommendation that an unknown fact could have given: the TSC's flags and
    stability, the governor, boost, the time namespace, or a clocksource fix that names
    the TSC. (A clock measured to make system calls is a fact: its line may stay, in its
    generic form.)"""
    for line in lines:
        if line.startswith("clocksource "):
            assert "echo tsc" not in line and "boot with clocksource=tsc" not in line, line
        else:
            assert _ntp_line(line), line


# -- the readers, on a fake /sys and /proc -------------------------------------------------


class FakeSystem:
    """A folder standing in for / to the doctor's and meta's readers: every /sys and
    /proc path they read points under it. Nothing exists until a test writes it."""

    def __init__(self, root):
        self.root = root

    def path(self, path):
        return f"{self.root}{path}"

    def write(self, path, text=""):
        os.makedirs(os.path.dirname(self.path(path)), exist_ok=True)
        with open(self.path(path), "w") as f:
            f.write(text)

    def mkdir(self, path):
        os.makedirs(self.path(path), exist_ok=True)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    for module in (doctor, meta, hw):
        for name, value in list(vars(module).items()):
            if isinstance(value, str) and value.startswith(("/sys/", "/proc/")):
                monkeypatch.setattr(module, name, f"{tmp_path}{value}")
    return FakeSystem(tmp_path)


def test_the_fake_covers_every_path_the_readers_name():
    """Each /sys or /proc path of the doctor and meta is a module constant, which the
    fixture moves: a literal path in a function would read the real system behind the
    fake's back."""
    import ast
    import inspect
    for module in (doctor, meta):
        tree = ast.parse(inspect.getsource(module))
        constants = {id(node.value) for node in tree.body if isinstance(node, ast.Assign)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith(("/sys/", "/proc/")):
                assert id(node) in constants, (
                    f"{module.__name__}, line {node.lineno}: {node.value!r} is not a "
                    "module constant")


def test_nothing_mounted_reads_as_unknown(fake):
    cpu = doctor.cpu_health()
    assert cpu == doctor.CpuHealth(None, None, None, None)
    assert cpu.to_dict() == {"governor": None, "boost": None, "isolated": None,
                             "nohz_full": None}
    assert doctor.timens_offsets() is None
    assert hw.cpuinfo_flags() is None
    assert meta.clocksource() is None and meta.cpu_governor() is None
    assert meta.cpu_boost() is None and meta.cpu_model() is None
    assert meta.tsc_flags() == (None if hw.HAVE_TSC else [])


def test_tsc_facts_without_proc_cpuinfo_or_sys(fake):
    tsc = doctor.tsc_health(None, skew=False)
    # Whether there is a TSC is CPUID's to say (x86), which needs neither.
    assert tsc.present == hw.tsc_present()
    if not tsc.present:
        assert tsc.unstable is False and not any(getattr(tsc, n) for n in TSC_FLAG_FIELDS)
        return
    assert [getattr(tsc, name) for name in TSC_FLAG_FIELDS] == [None] * 4
    assert tsc.unstable is None
    invariant, source = hw.tsc_invariant()
    assert (tsc.invariant, tsc.invariant_source) == (invariant, source)
    # CPUID's bit is known; clear, the rest of the answer was /proc/cpuinfo's: unknown.
    assert invariant is True or (invariant is None and "cannot be read" in source)
    text = str(tsc)
    assert f"flags unknown (cannot read {fake.path('/proc/cpuinfo')})" in text
    assert f"unstable unknown (cannot read {fake.path(AVAILABLE)})" in text
    assert "UNSTABLE" not in text


def test_tsc_unstable_from_what_is_known(fake):
    if not hw.tsc_present():
        pytest.skip("no time-stamp counter on this machine")
    # /proc/cmdline alone: tsc=unstable says so; without it, the list must tell.
    fake.write("/proc/cmdline", "root=/dev/vda tsc=unstable")
    assert doctor.tsc_health(None, skew=False).unstable is True
    fake.write("/proc/cmdline", "root=/dev/vda")
    assert doctor.tsc_health(None, skew=False).unstable is None
    assert doctor.tsc_health(("kvm-clock", "hpet"), skew=False).unstable is True
    assert doctor.tsc_health(("tsc", "hpet"), skew=False).unstable is False
    os.remove(fake.path("/proc/cmdline"))
    assert doctor.tsc_health(("tsc",), skew=False).unstable is False


def test_cpuinfo_flags_known_empty_or_unknown(fake):
    fake.write("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc constant_tsc rdtscp\n\n")
    assert hw.cpuinfo_flags() == {"fpu", "tsc", "constant_tsc", "rdtscp"}
    if hw.HAVE_TSC:
        assert meta.tsc_flags() == ["constant_tsc", "rdtscp", "tsc"]
        tsc = doctor.tsc_health(("tsc",), skew=False)
        assert (tsc.constant_tsc, tsc.nonstop_tsc, tsc.unstable) == (True, False, False)
    fake.write("/proc/cpuinfo", "")  # an empty file (a bind mount over it) says nothing
    assert hw.cpuinfo_flags() is None


def test_cpu_without_cpufreq_is_none_not_unknown(fake):
    for cpu in ("cpu0", "cpu1"):
        fake.mkdir(f"{CPU_DIR}/{cpu}")
    fake.write(f"{CPU_DIR}/isolated", "\n")
    cpu = doctor.cpu_health()
    # No cpufreq: governor none; no boost switch: unknown; no nohz_full file (a kernel
    # without CONFIG_NO_HZ_FULL): none.
    assert cpu == doctor.CpuHealth("none", None, (), ())
    assert meta.cpu_governor() == "none"
    assert str(cpu) == ("governor none (no cpufreq), boost unknown (the kernel shows no "
                        "boost switch), isolated none, nohz_full none")
    assert doctor.recommendations("tsc", ("tsc",), (), _tsc(), _ntp(), {}, cpu) == ()


def test_cpu_with_cpufreq_is_the_kernels(fake):
    for cpu, governor in (("cpu0", "powersave"), ("cpu1", "performance")):
        fake.write(f"{CPU_DIR}/{cpu}/cpufreq/scaling_governor", governor + "\n")
    fake.write(f"{CPU_DIR}/cpufreq/boost", "1\n")
    fake.write(f"{CPU_DIR}/isolated", "1\n")
    fake.write(f"{CPU_DIR}/nohz_full", "0-1\n")
    cpu = doctor.cpu_health()
    assert cpu == doctor.CpuHealth("performance,powersave", True, (1,), (0, 1))
    assert meta.cpu_governor() == "powersave" and meta.cpu_boost() is True
    lines = doctor.recommendations("tsc", ("tsc",), (), _tsc(), _ntp(), {}, cpu)
    assert [line.split()[0] for line in lines] == ["cpufreq", "turbo"]


def test_timens_offsets_unsupported_or_unknown(fake):
    fake.mkdir("/proc/self")  # /proc there, without the file: no time namespaces
    assert doctor.timens_offsets() == {}
    fake.write("/proc/self/timens_offsets", "monotonic 5 0\nboottime 0 7\n")
    assert doctor.timens_offsets() == {"monotonic": 5 * 10**9, "boottime": 7}
    fake.write("/proc/self/timens_offsets", "")
    assert doctor.timens_offsets() is None


def test_cpu_model_known_fallback_or_unknown(fake):
    fake.write("/proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU @ 1 GHz\n\n")
    assert meta.cpu_model() == "Test CPU @ 1 GHz"
    # A file that names no model (arm64's): the machine's name, as before.
    fake.write("/proc/cpuinfo", "processor\t: 0\nBogoMIPS\t: 50.00\n\n")
    assert meta.cpu_model() == platform.machine()
    fake.write("/proc/cpuinfo", "")
    assert meta.cpu_model() is None


def test_metadata_without_sys_or_proc(fake):
    data = {**meta.collect(), **meta._read_machine()}  # collect() caches the machine
    for key in ("clocksource", "cpu_governor", "cpu_boost", "cpu_model", "load_avg_1min"):
        assert data[key] is None, key
    assert data["tsc_flags"] == (None if hw.HAVE_TSC else [])
    json.dumps(data)


# -- what the doctor concludes from unknown facts ------------------------------------------


def _tsc(**changes):
    tsc = doctor.TscHealth(True, True, "cpuid", True, True, True, False, False, None, None)
    return tsc._replace(**changes)


def _ntp():
    import vdsotime
    return vdsotime.ntp_state()._replace(synchronized=True, maxerror_ns=1000)


def _clocks(userspace):
    return tuple(doctor.ClockHealth(name, clock_id, userspace, 610.0, 600.0, 20.0,
                                    "seccomp")
                 for name, clock_id in (("CLOCK_REALTIME", 0), ("CLOCK_MONOTONIC", 1)))


UNKNOWN_TSC = dict(invariant=None, constant_tsc=None, nonstop_tsc=None,
                   tsc_known_freq=None, tsc_reliable=None, unstable=None)
UNKNOWN_CPU = doctor.CpuHealth(None, None, None, None)


def test_no_recommendation_from_unknown_facts():
    assert doctor.recommendations(None, None, _clocks(True), _tsc(**UNKNOWN_TSC), _ntp(),
                                  None, UNKNOWN_CPU) == ()
    # Clocks measured to make system calls: said, with the generic fix, and nothing
    # about the TSC (its stability unknown) or echoing tsc (the list unknown).
    lines = doctor.recommendations(None, None, _clocks(False), _tsc(**UNKNOWN_TSC),
                                   _ntp(), None, UNKNOWN_CPU)
    assert lines == ("clocksource unknown: the vDSO cannot read it, so every clock call "
                     "is a syscall (~600 ns); choose a clocksource the vDSO reads (tsc, "
                     "kvm-clock, arch_sys_counter)",)
    # The same facts known say more.
    known = doctor.recommendations("hpet", ("tsc", "hpet"), _clocks(False), _tsc(), _ntp(),
                                   {}, doctor.CpuHealth("none", None, (), ()))
    assert "boot with clocksource=tsc" in known[0] and "echo tsc" in known[0]
    assert len(known) == 1
    unstable = doctor.recommendations("tsc", ("hpet",), _clocks(True),
                                      _tsc(unstable=True, invariant=False), _ntp(), {},
                                      UNKNOWN_CPU)
    assert [line.split(":")[0] for line in unstable] == [
        "the TSC is not invariant (cpuid)", "the kernel marked the TSC unstable"]


def test_health_without_sys_or_proc(fake):
    report = doctor.health(skew=False)
    assert report.clocksource is None and report.available_clocksources is None
    assert report.timens_offsets is None and report.cpu == UNKNOWN_CPU
    data = report.to_dict()
    assert CONTRACT_KEYS <= set(data)
    assert data["available_clocksources"] is None and data["timens_offsets"] is None
    assert json.loads(json.dumps(data)) == data
    _from_known_facts_only(report.recommendations)
    text = str(report)
    for line in (f"clocksource     unknown (cannot read {fake.path(CURRENT)}); available "
                 f"unknown (cannot read {fake.path(AVAILABLE)})",
                 f"time namespace  unknown (cannot read "
                 f"{fake.path('/proc/self/timens_offsets')})",
                 f"CPU             governor, boost, isolated, nohz_full unknown (cannot "
                 f"read {fake.path(CPU_DIR)})"):
        assert line in text.splitlines()


def test_skew_comparable_is_unknown_with_invariance_unknown():
    offset = doctor.TscOffset(0, 0.0, 0.0, 0, 0, 0, 0.0, 0)
    skew = doctor.TscSkew((offset,), 0.0, None, True, 0, 0.4, None, 0.01)
    assert str(skew) == ("TSC skew against CPU 0: |skew| <= 0 ns, monotonic, comparable "
                         "across CPUs: unknown (TSC invariance unknown)")


# -- measurement warnings ------------------------------------------------------------------


def _result(**metadata):
    samples = np.full(20_000, 1000, dtype=np.int64)
    return LatencyResult("f", samples, 20.0, len(samples), 10,
                         {"machine": "x86_64", **metadata})


@pytest.mark.parametrize("metadata", [
    {"clocksource": None, "cpu_governor": None},
    {"clocksource": None, "cpu_governor": "none"},
    {"clocksource": "tsc", "cpu_governor": "performance"},
])
def test_no_instability_warning_from_unknown_metadata(metadata):
    assert instability(_result(**metadata)) == []


def test_instability_warnings_from_known_metadata():
    warnings = instability(_result(clocksource="hpet", cpu_governor="powersave"))
    assert [text.split(",")[0] for text in warnings] == [
        "clocksource hpet", "CPU frequency governor powersave"]


def test_unknown_metadata_is_no_difference_between_runs():
    old = {"clocksource": "tsc", "cpu_governor": "performance", "cpu_model": "A"}
    assert meta.differences(old, {"clocksource": None, "cpu_governor": None,
                                  "cpu_model": None}) == []
    assert meta.differences(old, {"clocksource": "hpet", "cpu_governor": "none",
                                  "cpu_model": "A"}) == [
        ("clocksource", "tsc", "hpet"), ("CPU governor", "performance", "none")]


# -- the commands, with /sys (and /proc) hidden in a private mount namespace -------------

# Run in the namespace: each command as a user runs it, its output collected as JSON.
RUN_COMMANDS = textwrap.dedent("""
    import json, subprocess, sys
    outputs = []
    for args in json.loads(sys.argv[1]):
        result = subprocess.run([sys.executable, "-m", "vdsotime", *args],
                                capture_output=True, text=True, timeout=300)
        outputs.append([result.returncode, result.stdout, result.stderr])
    print(json.dumps(outputs))
""")

HIDE = {
    # /sys gone, and /proc's cpuinfo and cmdline read empty (bind mounts of an empty
    # file): a container that mounts /proc but not /sys, with /proc masked in part.
    "no /sys, masked /proc files": textwrap.dedent("""
        mount -t tmpfs -o ro,size=4k vdsotime-no-sys /sys
        for file in /proc/cpuinfo /proc/cmdline; do
            if [ -e "$file" ]; then mount --bind "$EMPTY" "$file"; fi
        done
    """),
    # Neither: a chroot with nothing mounted.
    "no /sys, no /proc": textwrap.dedent("""
        mount -t tmpfs -o ro,size=4k vdsotime-no-sys /sys
        mount -t tmpfs -o ro,size=4k vdsotime-no-proc /proc
    """),
}


def _private_mount_namespace():
    """The command prefix that runs a program in a private mount namespace where it may
    mount (unshare --mount, in a user namespace when not root), or a skip/fail that says
    what is missing."""
    __tracebackhide__ = True
    unshare = require_command("unshare", "util-linux")
    command = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    probe = [*command, "sh", "-c", "mount -t tmpfs -o size=4k probe /sys"]
    result = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no message"]
        missing(f"needs a private mount namespace to hide /sys in ({lines[0]}): root, or "
                "unprivileged user namespaces")
    return command


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    """{scenario: [(returncode, stdout, stderr) per command]} of COMMANDS run with the
    scenario's /sys and /proc hidden."""
    prefix = _private_mount_namespace()
    empty = tmp_path_factory.mktemp("hidden") / "empty"
    empty.write_text("")
    found = {}
    for scenario, script in HIDE.items():
        result = subprocess.run(
            [*prefix, "sh", "-ec", script + 'exec "$@"', "sh", sys.executable, "-c",
             RUN_COMMANDS, json.dumps(COMMANDS)],
            capture_output=True, text=True, timeout=600, cwd="/",
            env=dict(os.environ, EMPTY=str(empty)))
        assert result.returncode == 0, f"{scenario}: {result.stderr}"
        outputs = json.loads(result.stdout)
        for args, (returncode, _, stderr) in zip(COMMANDS, outputs):
            assert returncode == 0, f"{scenario}: vdsotime {' '.join(args)}: {stderr}"
        found[scenario] = dict(zip(COMMAND_NAMES, ((out, err) for _, out, err in outputs)))
    return found


COMMANDS = [["doctor", "--json", "--no-skew"], ["doctor", "--no-skew"], ["info"],
            ["info", "--json"], ["clocks", "--json", "-n", "2000"], ["clocks", "-n", "2000"],
            ["bench", "--json", "-n", "2000", "pass"]]
COMMAND_NAMES = ["doctor --json", "doctor", "info", "info --json", "clocks --json",
                 "clocks", "bench --json"]
SCENARIOS = list(HIDE)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_doctor_json_hidden(hidden, scenario):
    data = json.loads(hidden[scenario]["doctor --json"][0])
    assert CONTRACT_KEYS <= set(data)
    assert data["clocksource"] is None and data["available_clocksources"] is None
    assert data["cpu"] == {"governor": None, "boost": None, "isolated": None,
                           "nohz_full": None}
    tsc = data["tsc"]
    assert tsc["present"] == hw.tsc_present()
    if tsc["present"]:
        assert [tsc[name] for name in TSC_FLAG_FIELDS] == [None] * 4
        assert tsc["unstable"] is None
        assert tsc["invariant"] in (True, None)  # CPUID's bit, else unknown
    if scenario == "no /sys, no /proc":
        assert data["timens_offsets"] is None
    else:  # /proc/self/timens_offsets is still there (Linux 5.6 and later)
        assert data["timens_offsets"] is None or isinstance(data["timens_offsets"], dict)
        assert data["timens_offsets"] == doctor.timens_offsets()
    _from_known_facts_only(data["recommendations"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_doctor_text_hidden(hidden, scenario):
    text, _ = hidden[scenario]["doctor"]
    lines = text.splitlines()
    assert (f"clocksource     unknown (cannot read {CURRENT}); available unknown (cannot "
            f"read {AVAILABLE})") in lines
    assert (f"CPU             governor, boost, isolated, nohz_full unknown (cannot read "
            f"{CPU_DIR})") in lines
    if hw.tsc_present():
        tsc = next(line for line in lines if line.startswith("TSC "))
        assert "flags unknown (cannot read /proc/cpuinfo)" in tsc
        assert f"unstable unknown (cannot read {AVAILABLE})" in tsc
    if scenario == "no /sys, no /proc":
        assert "time namespace  unknown (cannot read /proc/self/timens_offsets)" in lines
    assert "UNSTABLE" not in text and "the kernel marked" not in text


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_info_hidden(hidden, scenario):
    text, _ = hidden[scenario]["info"]
    assert f"clocksource:   unknown (cannot read {CURRENT})" in text.splitlines()
    data = json.loads(hidden[scenario]["info --json"][0])
    assert data["clocksource"] is None and data["present"] is True


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_clocks_hidden(hidden, scenario):
    data = json.loads(hidden[scenario]["clocks --json"][0])
    assert data["clocksource"] is None and data["warning"] is None
    assert data["tsc_flags"] == (None if hw.HAVE_TSC else [])
    assert len(data["clocks"]) == 9
    first = hidden[scenario]["clocks"][0].splitlines()[0]
    assert f"clocksource: unknown (cannot read {CURRENT})" in first
    if hw.HAVE_TSC:
        assert "TSC flags: unknown (cannot read /proc/cpuinfo)" in first


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bench_metadata_hidden(hidden, scenario):
    data = json.loads(hidden[scenario]["bench --json"][0])
    metadata = data["metadata"]
    keys = ["clocksource", "cpu_governor", "cpu_boost", "cpu_model"]
    if abi.emulated():
        # qemu-user answers the guest's opens of /proc/cpuinfo itself for some guests
        # (seen for s390x and arm64), masked or not: the model it names is known there.
        keys.remove("cpu_model")
    for key in keys:
        assert metadata[key] is None, key
    assert metadata["tsc_flags"] == (None if hw.HAVE_TSC else [])
    if scenario == "no /sys, no /proc":
        assert metadata["load_avg_1min"] is None
    for text in data["warnings"]:
        assert "clocksource" not in text and "governor" not in text, text


# -- the memory check of counts, without /proc/meminfo ---------------------------------------


def test_counts_checked_against_physical_memory_without_proc_meminfo(monkeypatch):
    from vdsotime._core import validate

    physical = validate.physical_memory()
    assert physical and physical > 0  # sysinfo(2): no /proc needed
    monkeypatch.setattr(validate, "available_memory", lambda: None)
    if physical // 8 + 1 > sys.maxsize // 16:
        # A 32-bit build cannot address this machine's memory, and says so first: the
        # physical check is shown on a machine of 256 MiB.
        physical = 256 * 2**20
        monkeypatch.setattr(validate, "physical_memory", lambda: physical)
    count = physical // 8 + 1
    with pytest.raises(ValueError, match=r"sample\(\): n=[\d,]+ needs .* GiB for its "
                       r"samples; this machine has .* GiB of memory in all \(how much is "
                       r"available is unknown: cannot read /proc/meminfo\)"):
        validate.memory("sample", "n", count, 8)
    validate.memory("sample", "n", 1000, 8)
    monkeypatch.setattr(validate, "physical_memory", lambda: None)
    validate.memory("sample", "n", count, 8)  # nothing known: nothing refused
