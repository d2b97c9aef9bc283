"""The test oracle for clock readings: the raw system calls through ctypes.

Not time.*: the time module reads the same vDSO we do.
"""

import ctypes
import errno
import os
import platform

def read_file(path):
    """The stripped text of a /sys or /proc file, or None when this machine does not
    show it (not mounted, as in a minimal container): the oracle for a fact that
    vdsotime reports as unknown (None) there."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# The ABI of this interpreter, named as vdsotime's key tables name it (_vdso.NATIVE_ABI):
# a 32-bit Python on an x86-64 kernel (the i386 leg, under setarch i686 or not) is i386,
# a 32-bit ARM one (armv7l, armv8l under a 64-bit kernel) is arm, ppc64le is ppc64.
_MACHINE = platform.machine()
_POINTER_BITS = 8 * ctypes.sizeof(ctypes.c_void_p)
if _MACHINE in ("x86_64", "i686", "i386") and _POINTER_BITS == 32:
    ABI = "i386"
elif _MACHINE.startswith("arm") or (_MACHINE == "aarch64" and _POINTER_BITS == 32):
    ABI = "arm"
elif _MACHINE in ("ppc64", "ppc64le"):
    ABI = "ppc64"
elif _MACHINE.startswith("mips"):
    ABI = "mips64" if _POINTER_BITS == 64 else "mips"
else:
    ABI = _MACHINE

# System call numbers of clock_gettime, clock_getres and getcpu, from each architecture's
# syscall table in the kernel. On the 32-bit ABIs these are the time64 calls
# (clock_gettime64, clock_getres_time64), which take the timespec below as 64-bit ABIs
# do. aarch64, riscv64 and loongarch64 share the generic table (asm-generic/unistd.h).
_GENERIC = {"clock_gettime": 113, "clock_getres": 114, "getcpu": 168}
SYSCALL_TABLES = {
    "x86_64": {"clock_gettime": 228, "clock_getres": 229, "getcpu": 309},
    "i386": {"clock_gettime": 403, "clock_getres": 406, "getcpu": 318},
    "aarch64": _GENERIC,
    "riscv64": _GENERIC,
    "loongarch64": _GENERIC,
    "arm": {"clock_gettime": 403, "clock_getres": 406, "getcpu": 345},
    "s390x": {"clock_gettime": 260, "clock_getres": 261, "getcpu": 311},
    "ppc64": {"clock_gettime": 246, "clock_getres": 247, "getcpu": 302},
    "mips": {"clock_gettime": 4403, "clock_getres": 4406, "getcpu": 4312},  # o32
    "mips64": {"clock_gettime": 5222, "clock_getres": 5223, "getcpu": 5271},  # n64
}
# An ABI without a table: every test that reads the oracle skips, saying so (collection
# goes on; see _call).
SYSCALLS = SYSCALL_TABLES.get(ABI, {})
NO_TABLE = (None if SYSCALLS else
            f"tests/kernel.py has no system-call table for this ABI ({ABI}, "
            f"platform.machine() {_MACHINE!r}): add its clock_gettime, clock_getres and "
            f"getcpu numbers to SYSCALL_TABLES")


class timespec(ctypes.Structure):
    """The kernel's struct __kernel_timespec, and vdsotime's timespec, on every ABI."""
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


def _call(name, *args):
    if NO_TABLE:
        import pytest
        pytest.skip(NO_TABLE)
    result = libc.syscall(ctypes.c_long(SYSCALLS[name]), *args)
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def clock_gettime_ns(clock_id):
    ts = timespec()
    _call("clock_gettime", ctypes.c_long(clock_id), ctypes.byref(ts))
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


def clock_getres_ns(clock_id):
    ts = timespec()
    _call("clock_getres", ctypes.c_long(clock_id), ctypes.byref(ts))
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec


def clock_gettime_errno(clock_id):
    """The errno the kernel gives for this clock id, or 0 when the call succeeds."""
    try:
        clock_gettime_ns(clock_id)
    except OSError as exc:
        return exc.errno
    return 0


def getcpu():
    cpu, node = ctypes.c_uint(), ctypes.c_uint()
    _call("getcpu", ctypes.byref(cpu), ctypes.byref(node), None)
    return cpu.value, node.value


ALL_CLOCKS = {
    "CLOCK_REALTIME": 0, "CLOCK_MONOTONIC": 1, "CLOCK_PROCESS_CPUTIME_ID": 2,
    "CLOCK_THREAD_CPUTIME_ID": 3, "CLOCK_MONOTONIC_RAW": 4, "CLOCK_REALTIME_COARSE": 5,
    "CLOCK_MONOTONIC_COARSE": 6, "CLOCK_BOOTTIME": 7, "CLOCK_TAI": 11,
}
EINVAL = errno.EINVAL


def process_cpu_clock(pid):
    """The CPU-time clock id of process ``pid``, from libc's clock_getcpuclockid (the
    time module has no such function, only pthread_getcpuclockid for threads)."""
    clock_id = ctypes.c_int()
    error = libc.clock_getcpuclockid(ctypes.c_int(pid), ctypes.byref(clock_id))
    if error:
        raise OSError(error, os.strerror(error))
    return clock_id.value
