"""Clocks for numba's nopython mode (needs numba; ``pip install numba``).

    from numba import njit
    from vdsotime.numba import monotonic_ns, clock_gettime_ns

    @njit(cache=True)
    def timed(work):
        start = monotonic_ns()
        ...
        return monotonic_ns() - start

Each function is an intrinsic that does what ``clock.pxd`` does: it loads the bound
``clock_gettime`` from vdsotime's function table, calls it with the ``timespec`` on the
stack, and on a nonzero result takes vdsotime's error path (the real system call for a
vDSO failure other than EINVAL, libc's errno for the libc backend). The ``*_ns``
functions return nanoseconds, or -errno (-1 ... -4095) for an invalid clock id. No
Python, no GIL, no allocation.

Compiled code reaches the table and the error path by symbol name
(``vdsotime_function_table``, ``vdsotime_clock_gettime_failed``), which importing this
module registers with LLVM for the current process. No address is baked into the machine
code, so ``@njit(cache=True)`` works across processes, and a mock clock
(``vdsotime.testing``) that swaps the table is seen by compiled code too.
"""

try:
    from llvmlite import binding as _llvm  # type: ignore[import-untyped]
    from llvmlite import ir as _ir  # type: ignore[import-untyped]
    from numba import njit as _njit
    from numba import types as _types
    from numba.core import cgutils as _cgutils
    from numba.extending import intrinsic as _intrinsic
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("vdsotime.numba needs numba: pip install 'vdsotime[numba]'") from exc

from vdsotime import _clock, _vdso

__all__ = [
    "boottime_ns", "clock_gettime_ns", "monotonic_coarse_ns", "monotonic_ns",
    "monotonic_raw_ns", "perf_counter_ns", "process_time_ns", "realtime_coarse_ns",
    "tai_ns", "thread_time_ns", "time_ns",
]

_TABLE = "vdsotime_function_table"
_FAILED = "vdsotime_clock_gettime_failed"
for _name, _address in _vdso.c_symbols().items():
    _llvm.add_symbol(_name, _address)


def _external(module, name, kind):
    """The declaration of ``name`` in ``module``: a global variable or a function."""
    if kind == "function":
        return _cgutils.get_or_insert_function(module, _FAILED_TYPE, name)
    variable = module.globals.get(name)
    if variable is None:
        # The table struct begins with its clock_gettime pointer (vdsotime.h).
        variable = _ir.GlobalVariable(module, _CLOCK_GETTIME_TYPE.as_pointer(), name)
        variable.linkage = "external"
    return variable


_INT32, _INT64 = _ir.IntType(32), _ir.IntType(64)
# struct timespec with 64-bit seconds and nanoseconds, as the table's functions take it.
_TIMESPEC = _ir.LiteralStructType([_INT64, _INT64])
_CLOCK_GETTIME_TYPE = _ir.FunctionType(_INT32, [_INT32, _TIMESPEC.as_pointer()])
_FAILED_TYPE = _ir.FunctionType(_INT32, [_INT32, _TIMESPEC.as_pointer(), _INT32])


@_intrinsic
def _clock_gettime_ns(typingctx, clock_id):
    """int64 nanoseconds of ``clock_id``, or -errno."""
    if not isinstance(clock_id, _types.Integer):
        return None

    def codegen(context, builder, signature, args):
        module = builder.module
        clock = context.cast(builder, args[0], signature.args[0], _types.int32)
        function = builder.load(_external(module, _TABLE, "variable"))
        ts = _cgutils.alloca_once(builder, _TIMESPEC)
        status = _cgutils.alloca_once(builder, _INT32)
        builder.store(builder.call(function, [clock, ts]), status)
        first = builder.load(status)
        with builder.if_then(builder.icmp_signed("!=", first, _ir.Constant(_INT32, 0)),
                             likely=False):
            failed = _external(module, _FAILED, "function")
            builder.store(builder.call(failed, [clock, ts, first]), status)
        result = builder.load(status)
        seconds = builder.load(_cgutils.gep_inbounds(builder, ts, 0, 0))
        nanoseconds = builder.load(_cgutils.gep_inbounds(builder, ts, 0, 1))
        total = builder.add(builder.mul(seconds, _ir.Constant(_INT64, 1_000_000_000)),
                            nanoseconds)
        return builder.select(builder.icmp_signed("!=", result, _ir.Constant(_INT32, 0)),
                              builder.sext(result, _INT64), total)

    return _types.int64(clock_id), codegen


@_njit(inline="always")
def clock_gettime_ns(clock_id):
    """Nanoseconds of ``clock_id``, or a negative errno (for numba's nopython mode)."""
    return _clock_gettime_ns(clock_id)


def _named(clock_id, name, what):
    @_njit(inline="always")
    def read():
        return _clock_gettime_ns(clock_id)
    read.__doc__ = f"{what} in nanoseconds, or a negative errno (for numba's nopython mode)."
    read.__name__ = read.__qualname__ = name
    return read


time_ns = _named(_clock.CLOCK_REALTIME, "time_ns", "CLOCK_REALTIME")
monotonic_ns = _named(_clock.CLOCK_MONOTONIC, "monotonic_ns", "CLOCK_MONOTONIC")
perf_counter_ns = _named(_clock.CLOCK_MONOTONIC, "perf_counter_ns",
                         "CLOCK_MONOTONIC (as time.perf_counter_ns)")
monotonic_raw_ns = _named(_clock.CLOCK_MONOTONIC_RAW, "monotonic_raw_ns", "CLOCK_MONOTONIC_RAW")
boottime_ns = _named(_clock.CLOCK_BOOTTIME, "boottime_ns", "CLOCK_BOOTTIME")
tai_ns = _named(_clock.CLOCK_TAI, "tai_ns", "CLOCK_TAI")
monotonic_coarse_ns = _named(_clock.CLOCK_MONOTONIC_COARSE, "monotonic_coarse_ns",
                             "CLOCK_MONOTONIC_COARSE")
realtime_coarse_ns = _named(_clock.CLOCK_REALTIME_COARSE, "realtime_coarse_ns",
                            "CLOCK_REALTIME_COARSE")
process_time_ns = _named(_clock.CLOCK_PROCESS_CPUTIME_ID, "process_time_ns",
                         "CLOCK_PROCESS_CPUTIME_ID")
thread_time_ns = _named(_clock.CLOCK_THREAD_CPUTIME_ID, "thread_time_ns",
                        "CLOCK_THREAD_CPUTIME_ID")


def __dir__():
    return list(__all__)
