"""vdsotime: the kernel's fastest clocks, for Python.

At import, vdsotime finds the vDSO that Linux maps into every process, reads it with a
bounded ELF reader and binds ``clock_gettime`` and its siblings as C function pointers.
This module is the public surface: re-exports only.

``import vdsotime as time`` keeps a program working: the clock functions have the time
module's names, and any other name (``sleep``, ``strftime``, ...) is the time module's.
"""

import sys as _sys
# The time module, bound once: names vdsotime does not define are forwarded to it, even
# after a program puts vdsotime in its place (sys.modules["time"] = vdsotime). A builtin
# module, and loaded by the interpreter at start-up already. Imported again after that
# swap (importlib.reload, or a fresh import), vdsotime finds a vdsotime under the name
# time: the real module is the one that vdsotime bound.
import time as _time_module

_stdlib_time = getattr(_time_module, "_stdlib_time", _time_module)
del _time_module

if not _sys.platform.startswith("linux"):
    raise ImportError(
        f"vdsotime reads the Linux vDSO and works on Linux only (this is {_sys.platform}); "
        "use the time module's clocks elsewhere")

try:
    from vdsotime._core.elf import ElfError, ElfImage, Symbol
except ImportError as exc:  # pragma: no cover - depends on how the package was installed
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_here, "elf.pyx")):
        raise ImportError(
            "vdsotime's compiled extensions are missing: this looks like a source "
            f"checkout ({_here}). Install the package (pip install .) and run from "
            "another folder, or build in place (python setup.py build_ext --inplace)."
        ) from exc
    raise
from vdsotime._core.auxv import auxv, vdso_image
from vdsotime._core.vdso import Binding, address
from vdsotime._core.clocks import (
    CLOCK_AUX, CLOCK_AUX_LAST,
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW,
    CLOCK_PROCESS_CPUTIME_ID, CLOCK_REALTIME, CLOCK_REALTIME_COARSE, CLOCK_TAI,
    CLOCK_THREAD_CPUTIME_ID, boottime_ns, clock_getres, clock_getres_ns, clock_gettime,
    clock_gettime_ns, getcpu, gettimeofday, monotonic, monotonic_coarse_ns, monotonic_ns,
    monotonic_raw_ns, perf_counter, perf_counter_ns, process_time, process_time_ns,
    realtime_coarse_ns, tai_ns, thread_time, thread_time_ns, time, time_ns)

__all__ = [
    "Binding", "CLOCK_AUX", "CLOCK_AUX_LAST",
    "CLOCK_BOOTTIME", "CLOCK_MONOTONIC", "CLOCK_MONOTONIC_COARSE",
    "CLOCK_MONOTONIC_RAW", "CLOCK_PROCESS_CPUTIME_ID", "CLOCK_REALTIME",
    "CLOCK_REALTIME_COARSE", "CLOCK_TAI", "CLOCK_THREAD_CPUTIME_ID", "ClockStats",
    "ElfError", "ElfImage", "JitterResult", "JitterWarning", "LatencyResult", "Symbol",
    "TscCalibration",
    "TscWarning", "VdsoInfo", "address", "auxv", "bench", "boottime_ns",
    "calibrate_tsc", "clock_getres", "clock_getres_ns", "clock_gettime",
    "clock_gettime_ns", "get_include", "getcpu", "gettimeofday", "info", "jitter",
    "monotonic", "monotonic_coarse_ns", "monotonic_ns", "monotonic_raw_ns", "overhead",
    "perf_counter", "perf_counter_ns", "process_time", "process_time_ns",
    "realtime_coarse_ns", "sample", "sample_cpu", "sample_every", "sample_tsc",
    "tai_ns", "thread_time", "thread_time_ns", "time", "time_ns", "vdso_image",
    # Comparing and gating (issue #12)
    "Comparison", "Contrast", "RunChange", "RunComparison", "compare", "compare_runs",
    "load_run", "save_run",
    # clock health, dynamic POSIX clocks
    "ClockHealth", "CpuHealth", "Health", "NtpState", "TscHealth", "TscOffset", "TscSkew",
    "clock_from_fd", "health", "ntp_state", "open_clock", "tsc_skew",
]

# Loaded on first use, so that importing vdsotime stays cheap.
_LAZY = {
    "info": "vdsotime._core.info", "VdsoInfo": "vdsotime._core.info",
    "sample": "vdsotime._loops.sample", "sample_tsc": "vdsotime._loops.sample",
    "sample_cpu": "vdsotime._loops.sample", "sample_every": "vdsotime._loops.sample",
    "calibrate_tsc": "vdsotime._loops.tsc", "TscCalibration": "vdsotime._loops.tsc",
    "TscWarning": "vdsotime._loops.tsc",
    "overhead": "vdsotime._bench.measure", "bench": "vdsotime._bench.measure",
    "jitter": "vdsotime._bench.measure", "ClockStats": "vdsotime._bench.measure",
    "LatencyResult": "vdsotime._bench.latency", "JitterResult": "vdsotime._bench.measure",
    "JitterWarning": "vdsotime._bench.measure",
    "compare": "vdsotime._bench.comparison", "Comparison": "vdsotime._bench.comparison",
    "Contrast": "vdsotime._bench.comparison", "RunChange": "vdsotime._bench.runs",
    "save_run": "vdsotime._bench.runs", "load_run": "vdsotime._bench.runs",
    "compare_runs": "vdsotime._bench.runs", "RunComparison": "vdsotime._bench.runs",
    "health": "vdsotime._health.doctor", "ntp_state": "vdsotime._health.doctor",
    "tsc_skew": "vdsotime._health.doctor", "Health": "vdsotime._health.doctor",
    "NtpState": "vdsotime._health.doctor", "TscSkew": "vdsotime._health.doctor",
    "TscOffset": "vdsotime._health.doctor", "ClockHealth": "vdsotime._health.doctor",
    "TscHealth": "vdsotime._health.doctor", "CpuHealth": "vdsotime._health.doctor",
    "clock_from_fd": "vdsotime._core.posix_clock", "open_clock": "vdsotime._core.posix_clock",
}


def get_include():
    """The folder to add to a Cython build's include path for ``cimport vdsotime.clock``
    (only needed when the build cannot find installed packages on sys.path); C code
    finds ``vdsotime/vdsotime.h`` under it too."""
    import os
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_dunder(name):
    return name.startswith("__") and name.endswith("__")


def __getattr__(name):
    module = _LAZY.get(name)
    if module is not None:
        import importlib
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name == "testing":  # the submodule (vdsotime.testing.mock_clock), on first use
        import importlib
        return importlib.import_module("vdsotime.testing")
    if name == "__version__":
        from importlib.metadata import version
        return version("vdsotime")
    # Every other name of the time module, private ones too (a drop-in must not break
    # code that reads time._STRUCT_TM_ITEMS), looked up each time: tzset() changes
    # timezone, altzone, daylight and tzname.
    if not _is_dunder(name):
        try:
            return getattr(_stdlib_time, name)
        except AttributeError:
            pass
    raise AttributeError(f"module 'vdsotime' has no attribute {name!r}")


def __dir__():
    forwarded = (name for name in dir(_stdlib_time) if not _is_dunder(name))
    return sorted({*globals(), *_LAZY, "__version__", "testing", *forwarded})
