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

# The ABI of this interpreter: a 32-bit Python on an x86-64 kernel (the i386 leg, under
# setarch i686 or not) is i386.
ABI = platform.machine()
if ABI in ("x86_64", "i686", "i386") and ctypes.sizeof(ctypes.c_void_p) == 4:
    ABI = "i386"

# System call numbers of the machines the tests run on; on i386 the time64 calls
# (clock_gettime64, clock_getres_time64), which take the timespec below as 64-bit ABIs do.
SYSCALLS = {
    "x86_64": {"clock_gettime": 228, "clock_getres": 229, "getcpu": 309},
    "aarch64": {"clock_gettime": 113, "clock_getres": 114, "getcpu": 168},
    "i386": {"clock_gettime": 403, "clock_getres": 406, "getcpu": 318},
}[ABI]


class timespec(ctypes.Structure):
    """The kernel's struct __kernel_timespec, and vdsotime's timespec, on every ABI."""
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_int64)]


def _call(name, *args):
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
