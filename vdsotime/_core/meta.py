"""What makes two measurements comparable: the machine, the system's timekeeping and
power settings, the software versions and the moment. Read from /proc and /sys (each
entry None where it cannot be read); no numpy, nothing slow."""

import os
import platform
import time

from vdsotime._core import hw

CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
GOVERNOR = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
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
    return read_text(CLOCKSOURCE)


def tsc_flags():
    """The TSC-related flags of /proc/cpuinfo, sorted."""
    return sorted(hw.cpuinfo_flags() & TSC_FLAGS)


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (x86 "model name", else the first of the
    fields other architectures use), or the machine name."""
    found = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model", "cpu", "Processor") \
                        and key not in found and value.strip():
                    found[key] = value.strip()
                if not line.strip() and found:
                    break  # the first processor's block is enough
    except OSError:
        pass
    for key in ("model name", "Model", "cpu model", "cpu", "Processor"):
        if key in found:
            return found[key]
    return platform.machine() or None


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
    flags, CPU governor and boost where readable, host, load and date (UTC, ISO 8601)."""
    load = read_text("/proc/loadavg")
    result = dict(_machine())
    result.update(
        clocksource=clocksource(),
        cpu_governor=read_text(GOVERNOR),
        cpu_boost=cpu_boost(),
        load_avg_1min=float(load.split()[0]) if load else None,
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    return result


def differences(old, new):
    """[(label, old value, new value)] for the COMPARABLE keys in which two metadata
    dicts differ (a key missing on one side is not a difference)."""
    found = []
    for key, label in COMPARABLE.items():
        if key in old and key in new and old[key] != new[key]:
            found.append((label, old[key], new[key]))
    return found
