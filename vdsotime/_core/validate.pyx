# cython: language_level=3
"""The argument rules of ``validate.pxd`` for the Python modules (measure, _tsc, cli): the
same code the compiled entry points inline, so every door checks alike."""

from libc.stdint cimport int64_t

import math
import os


def clock_id(function, value):
    """A clock id (int in C int range), without reading the clock."""
    return clock_id_arg(value, function)


def readable(function, value):
    """A clock id that the kernel reads (one reading), else OSError with its errno."""
    return readable_clock(value, function)


def count(function, name, value, Py_ssize_t minimum=0):
    """A whole number >= minimum (bool and float refused)."""
    return count_arg(value, function, name, minimum)


def int64(function, name, value, int64_t minimum=0):
    """A whole number >= minimum that fits in 64 bits, whatever the ABI (nanoseconds)."""
    return int64_arg(value, function, name, minimum)


def seconds(function, value, name="seconds", low=None, high=None):
    """A finite number of seconds as a float: > 0, or from ``low`` to ``high`` (both
    inclusive) when they are given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{function}(): {name} must be a number, got {type(value).__name__}")
    if low is None and high is None:
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{function}(): {name} must be a finite number > 0, got "
                             f"{value!r}")
    elif not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{function}(): {name} must be a number from {low:g} to {high:g}, "
                         f"got {value!r}")
    return float(value)


def available_memory():
    """Bytes of memory available for new allocations (MemAvailable), or None when
    /proc/meminfo cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def physical_memory():
    """Bytes of physical memory, from sysinfo(2) through sysconf (no /proc needed), or
    None."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def memory(function, name, count, bytes_each):
    """Refuse a count whose arrays (``bytes_each`` per unit of ``count``) this build
    cannot address or this machine cannot hold now, before anything is allocated: a
    ValueError naming the argument, not numpy's "array is too big" or a MemoryError that
    would look like the measured code's. Where the available memory is unknown (no
    /proc), the physical memory bounds it."""
    needed = count * bytes_each
    if needed > PY_SSIZE_T_MAX:
        raise ValueError(f"{function}(): {name}={count:,} needs {needed / 2**30:,.1f} GiB, "
                         f"more than this {8 * sizeof(Py_ssize_t)}-bit build can address")
    available = available_memory()
    if available is not None:
        has = f"{available / 2**30:,.1f} GiB available"
    else:
        available = physical_memory()
        has = (f"{(available or 0) / 2**30:,.1f} GiB of memory in all (how much is "
               "available is unknown: cannot read /proc/meminfo)")
    if available is not None and needed > available:
        raise ValueError(f"{function}(): {name}={count:,} needs {needed / 2**30:,.1f} GiB "
                         f"for its samples; this machine has {has}")


def oserror(int error, context=None):
    """Raise OSError for an errno (or a -errno result)."""
    raise_errno(error, context)


def attach(exc, str name, make, *args):
    """Give an exception in flight what was measured before it: ``exc.<name> =
    make(*args)`` (``partial_result``, ``calls_done``, ``rounds_done``). Neither an
    exception that takes no attributes nor a failure of ``make`` may replace the exception
    in flight: both leave it as it is. The one helper every loop and tool uses."""
    try:
        setattr(exc, name, make(*args))
    except Exception:
        pass
