"""Clocks for numba's nopython mode (needs numba; ``pip install numba``)::

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
functions return nanoseconds, or -errno (-1 ... -4095) for an invalid clock id; an id of
a wider integer type that does not fit a C int (``clockid_t``) is -EINVAL, never the clock
its low 32 bits name. No Python, no GIL, no allocation.

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

from vdsotime._core import clocks, vdso

__all__ = [
    "boottime_ns", "clock_gettime_ns", "monotonic_coarse_ns", "monotonic_ns",
    "monotonic_raw_ns", "perf_counter_ns", "process_time_ns", "realtime_coarse_ns",
    "tai_ns", "thread_time_ns", "time_ns",
]

_TABLE = "vdsotime_function_table"
_FAILED = "vdsotime_clock_gettime_failed"
for _name, _address in vdso.c_symbols().items():
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
_EINVAL = 22  # on every Linux ABI


def _fits_a_c_int(builder, value, kind):
    """An i1: whether ``value`` (of numba integer type ``kind``) is a C int. None when
    every value of the type is one (a conversion of a narrower type is exact)."""
    width = kind.bitwidth
    if kind.signed:
        if width <= 32:
            return None
        return builder.icmp_signed("==", value, builder.sext(builder.trunc(value, _INT32),
                                                             value.type))
    if width < 32:
        return None
    return builder.icmp_unsigned("<=", value, _ir.Constant(value.type, 2**31 - 1))


@_intrinsic
def _clock_gettime_ns(typingctx, clock_id):
    """int64 nanoseconds of ``clock_id``, or -errno; -EINVAL for an id beyond a C int
    (clockid_t), which no clock has, rather than the clock its low 32 bits name."""
    if not isinstance(clock_id, _types.Integer):
        return None

    def codegen(context, builder, signature, args):
        module = builder.module
        result = _cgutils.alloca_once_value(builder, _ir.Constant(_INT64, -_EINVAL))
        fits = _fits_a_c_int(builder, args[0], signature.args[0])
        with builder.if_then(fits if fits is not None else _cgutils.true_bit, likely=True):
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
            error = builder.load(status)
            seconds = builder.load(_cgutils.gep_inbounds(builder, ts, 0, 0))
            nanoseconds = builder.load(_cgutils.gep_inbounds(builder, ts, 0, 1))
            total = builder.add(builder.mul(seconds, _ir.Constant(_INT64, 1_000_000_000)),
                                nanoseconds)
            builder.store(builder.select(builder.icmp_signed("!=", error,
                                                             _ir.Constant(_INT32, 0)),
                                         builder.sext(error, _INT64), total), result)
        return builder.load(result)

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


time_ns = _named(clocks.CLOCK_REALTIME, "time_ns", "CLOCK_REALTIME")
monotonic_ns = _named(clocks.CLOCK_MONOTONIC, "monotonic_ns", "CLOCK_MONOTONIC")
perf_counter_ns = _named(clocks.CLOCK_MONOTONIC, "perf_counter_ns",
                         "CLOCK_MONOTONIC (as time.perf_counter_ns)")
monotonic_raw_ns = _named(clocks.CLOCK_MONOTONIC_RAW, "monotonic_raw_ns", "CLOCK_MONOTONIC_RAW")
boottime_ns = _named(clocks.CLOCK_BOOTTIME, "boottime_ns", "CLOCK_BOOTTIME")
tai_ns = _named(clocks.CLOCK_TAI, "tai_ns", "CLOCK_TAI")
monotonic_coarse_ns = _named(clocks.CLOCK_MONOTONIC_COARSE, "monotonic_coarse_ns",
                             "CLOCK_MONOTONIC_COARSE")
realtime_coarse_ns = _named(clocks.CLOCK_REALTIME_COARSE, "realtime_coarse_ns",
                            "CLOCK_REALTIME_COARSE")
process_time_ns = _named(clocks.CLOCK_PROCESS_CPUTIME_ID, "process_time_ns",
                         "CLOCK_PROCESS_CPUTIME_ID")
thread_time_ns = _named(clocks.CLOCK_THREAD_CPUTIME_ID, "thread_time_ns",
                        "CLOCK_THREAD_CPUTIME_ID")


def __dir__():
    return list(__all__)
