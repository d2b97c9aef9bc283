# cython: language_level=3
"""Hardware facts for Python: whether there is a time-stamp counter, whether it is
invariant, and where the current CPU number comes from. The primitives themselves are
inline C in ``hw.pxd``, compiled into the loops that use them."""

import os

from vdsotime._core.hw cimport (VT_CPU_FROM_GETCPU, VT_HAVE_TSC, vt_cpu_source, vt_cpuid_bit,
                          vt_hardware_cpu)

HAVE_TSC = bool(VT_HAVE_TSC)
CPUINFO = "/proc/cpuinfo"
# How sample_cpu() and jitter() learn the CPU: "rdpid", "rdtscp" or "getcpu".
CPU_SOURCE = ("rdpid", "rdtscp", "getcpu")[vt_cpu_source()]


def machine():
    return os.uname().machine


def require_tsc(str function):
    """Raise NotImplementedError naming ``function`` when there is no TSC to read."""
    if not VT_HAVE_TSC:
        raise NotImplementedError(f"{function}() reads the x86 time-stamp counter "
                                  f"(rdtsc); this machine is {machine()}")


def hardware_cpu():
    """The CPU this thread runs on, from rdpid or rdtscp; None without either."""
    cdef int source = vt_cpu_source()
    if source == VT_CPU_FROM_GETCPU:
        return None
    return vt_hardware_cpu(source)


def tsc_present():
    """Whether this CPU has a time-stamp counter: CPUID leaf 1, EDX bit 4 (no /proc
    needed); False elsewhere than x86."""
    return bool(VT_HAVE_TSC and vt_cpuid_bit(1, 0, 3, 4))


def cpuinfo_flags():
    """The flags of the first CPU in /proc/cpuinfo, or None when they cannot be known:
    the file cannot be read (no /proc, as in a minimal container) or has no flags line
    (x86 always writes one; other architectures name their features otherwise)."""
    try:
        with open(CPUINFO) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except (OSError, UnicodeDecodeError):
        pass
    return None


def tsc_invariant():
    """(invariant, how): whether the TSC ticks at a constant rate in every power state,
    from CPUID (leaf 0x80000007, EDX bit 8) or /proc/cpuinfo's constant_tsc + nonstop_tsc;
    None (unknown) when the CPUID bit is clear and /proc/cpuinfo cannot be read."""
    if not VT_HAVE_TSC:
        return False, "no time-stamp counter on this architecture"
    if vt_cpuid_bit(0x80000007, 0, 3, 8):
        return True, "cpuid invariant TSC bit"
    flags = cpuinfo_flags()
    if flags is None:
        return None, "the cpuid invariant TSC bit is clear and /proc/cpuinfo cannot be read"
    if {"constant_tsc", "nonstop_tsc"} <= flags:
        return True, "/proc/cpuinfo constant_tsc nonstop_tsc"
    return False, "neither the cpuid invariant TSC bit nor constant_tsc + nonstop_tsc in " \
                  "/proc/cpuinfo"
