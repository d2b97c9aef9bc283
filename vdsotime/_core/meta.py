"""What makes two measurements comparable: the machine, the system's timekeeping and
power settings, the software versions and the moment. Read from /proc and /sys; an entry
is None where its source cannot be read (no /sys or /proc mounted, as in a minimal
container): unknown, which is not the same as "none". No numpy, nothing slow."""

import os
import platform
import time

from vdsotime._core import hw

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
CPU_DIR = "/sys/devices/system/cpu"
GOVERNOR = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
CPUINFO = "/proc/cpuinfo"
LOADAVG = "/proc/loadavg"
# Turbo/boost: the generic cpufreq switch, else intel_pstate's (which says the opposite).
BOOST = "/sys/devices/system/cpu/cpufreq/boost"
NO_TURBO = "/sys/devices/system/cpu/intel_pstate/no_turbo"
TSC_FLAGS = frozenset({"tsc", "constant_tsc", "nonstop_tsc", "rdtscp", "rdpid",
                       "tsc_known_freq", "tsc_reliable"})
# Clocksources that the vDSO cannot read: every clock read is a system call.
SYSCALL_CLOCKSOURCES = frozenset({"xen", "hpet", "acpi_pm", "jiffies", "pit",
                                  "refined-jiffies"})

# Keys whose difference makes two runs hard to compare, and how to name them.
COMPARABLE = {
    "cpu_model": "CPU model", "cpu_count": "CPU count", "machine": "architecture",
    "kernel": "kernel", "clocksource": "clocksource", "cpu_governor": "CPU governor",
    "cpu_boost": "CPU boost", "python_implementation": "Python implementation",
    "python_version": "Python version", "vdsotime_version": "vdsotime version",
    "hostname": "host", "timer": "timer",
}


def read_text(path):
    """The stripped contents of a small file, or None when it cannot be read."""
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def clocksource():
    """The current clocksource; None when /sys cannot be read."""
    return read_text(CLOCKSOURCE)


def is_dir(path):
    """Whether ``path`` is a folder that can be listed: the evidence that a missing file
    in it means "the kernel shows none", not "cannot tell"."""
    try:
        os.listdir(path)
    except OSError:
        return False
    return True


def tsc_flags():
    """The TSC-related flags of /proc/cpuinfo, sorted; [] where there is no TSC (not
    x86); None when /proc/cpuinfo cannot be read."""
    if not hw.HAVE_TSC:
        return []
    flags = hw.cpuinfo_flags()
    return None if flags is None else sorted(flags & TSC_FLAGS)


def cpu_governor():
    """CPU 0's cpufreq governor; "none" when the kernel shows CPU 0 without cpufreq (a VM,
    for instance); None when that cannot be told (/sys not mounted)."""
    governor = read_text(GOVERNOR)
    if governor is None and is_dir(f"{CPU_DIR}/cpu0") \
            and not os.path.exists(f"{CPU_DIR}/cpu0/cpufreq"):
        return "none"
    return governor


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (x86 "model name", else the first of the
    fields other architectures use), else the machine name when the file names no model;
    None when /proc/cpuinfo cannot be read (or is empty)."""
    found = {}
    lines = 0
    try:
        with open(CPUINFO) as f:
            for line in f:
                lines += 1
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model", "cpu", "Processor") \
                        and key not in found and value.strip():
                    found[key] = value.strip()
                if not line.strip() and found:
                    break  # the first processor's block is enough
    except (OSError, UnicodeDecodeError):
        return None
    for key in ("model name", "Model", "cpu model", "cpu", "Processor"):
        if key in found:
            return found[key]
    return (platform.machine() or None) if lines else None


def cpu_boost():
    """True/False when the kernel says whether turbo/boost is on, else None."""
    boost = read_text(BOOST)
    if boost in ("0", "1"):
        return boost == "1"
    no_turbo = read_text(NO_TURBO)
    if no_turbo in ("0", "1"):
        return no_turbo == "0"
    return None


def vdsotime_version():
    try:
        from importlib.metadata import version
        return version("vdsotime")
    except Exception:  # not installed as a distribution (a build tree)
        return None


_MACHINE = None


def _machine():
    """The parts that do not change while a process runs (read once; callers copy)."""
    global _MACHINE
    if _MACHINE is None:
        _MACHINE = _read_machine()
    return _MACHINE


def _read_machine():
    uname = os.uname()
    return {
        "vdsotime_version": vdsotime_version(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": uname.machine,
        "kernel": uname.release,
        "hostname": uname.nodename,
        "tsc_flags": tsc_flags(),
    }


def collect():
    """Metadata of the machine and this moment: versions, CPU, kernel, clocksource, TSC
    flags, CPU governor and boost, host, load and date (UTC, ISO 8601). An entry read
    from /sys or /proc is None when that cannot be read (see the functions above)."""
    load = read_text(LOADAVG)
    result = dict(_machine())
    result.update(
        clocksource=clocksource(),
        cpu_governor=cpu_governor(),
        cpu_boost=cpu_boost(),
        load_avg_1min=float(load.split()[0]) if load else None,
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    return result


def differences(old, new):
    """[(label, old value, new value)] for the COMPARABLE keys in which two metadata
    dicts differ (a key missing on one side, or unknown there (None), is not a
    difference: nothing says the two differ)."""
    found = []
    for key, label in COMPARABLE.items():
        if old.get(key) is not None and new.get(key) is not None and old[key] != new[key]:
            found.append((label, old[key], new[key]))
    return found
