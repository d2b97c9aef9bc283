"""Clocks for numba's nopython mode (needs numba; ``pip install numba``).

    from numba import njit
    from vdsotime.numba import monotonic_ns, clock_gettime_ns

    @njit
    def timed(work):
        start = monotonic_ns()
        ...
        return monotonic_ns() - start

Each function is an intrinsic: compiled code calls the function that vdsotime bound at
import (the vDSO's ``clock_gettime``, or libc's) through its address, with the
``timespec`` on the stack -- no Python, no GIL, no allocation. Like ``clock.pxd``, the
``*_ns`` functions return nanoseconds, or -errno for an invalid clock id.

The address is baked into the compiled code, and it differs from process to process
(ASLR): do not use these with ``@njit(cache=True)``.
"""

try:
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("vdsotime.numba needs numba: pip install numba") from exc

from vdsotime import _clock, _vdso

__all__ = [
    "boottime_ns", "clock_gettime_ns", "monotonic_coarse_ns", "monotonic_ns",
    "monotonic_raw_ns", "process_time_ns", "realtime_coarse_ns", "tai_ns", "thread_time_ns",
    "time_ns",
]

_CLOCK_GETTIME = _vdso.address("clock_gettime")


@intrinsic
def _clock_gettime_ns(typingctx, clock_id):
    """int64 nanoseconds of ``clock_id``, or the nonzero result of a failed call."""
    if not isinstance(clock_id, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        int32, int64 = ir.IntType(32), ir.IntType(64)
        timespec = ir.LiteralStructType([int64, int64])
        function_type = ir.FunctionType(int32, [int32, timespec.as_pointer()])
        function = builder.inttoptr(ir.Constant(int64, _CLOCK_GETTIME),
                                    function_type.as_pointer())
        [value] = args
        clock = context.cast(builder, value, signature.args[0], types.int32)
        ts = cgutils.alloca_once(builder, timespec)
        status = builder.call(function, [clock, ts])
        seconds = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
        nanoseconds = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
        total = builder.add(builder.mul(seconds, ir.Constant(int64, 1_000_000_000)),
                            nanoseconds)
        failed = builder.icmp_signed("!=", status, ir.Constant(int32, 0))
        # A vDSO failure is -errno already; libc's is -1 (errno is not reachable here).
        error = builder.sext(status, int64)
        return builder.select(failed, error, total)

    return types.int64(clock_id), codegen


@njit(inline="always")
def clock_gettime_ns(clock_id):
    """Nanoseconds of ``clock_id``, or a negative errno."""
    return _clock_gettime_ns(clock_id)


def _named(clock_id, name):
    @njit(inline="always")
    def read():
        return _clock_gettime_ns(clock_id)
    read.__doc__ = f"{name} in nanoseconds (for numba's nopython mode)."
    return read


time_ns = _named(_clock.CLOCK_REALTIME, "CLOCK_REALTIME")
monotonic_ns = _named(_clock.CLOCK_MONOTONIC, "CLOCK_MONOTONIC")
monotonic_raw_ns = _named(_clock.CLOCK_MONOTONIC_RAW, "CLOCK_MONOTONIC_RAW")
boottime_ns = _named(_clock.CLOCK_BOOTTIME, "CLOCK_BOOTTIME")
tai_ns = _named(_clock.CLOCK_TAI, "CLOCK_TAI")
monotonic_coarse_ns = _named(_clock.CLOCK_MONOTONIC_COARSE, "CLOCK_MONOTONIC_COARSE")
realtime_coarse_ns = _named(_clock.CLOCK_REALTIME_COARSE, "CLOCK_REALTIME_COARSE")
process_time_ns = _named(_clock.CLOCK_PROCESS_CPUTIME_ID, "CLOCK_PROCESS_CPUTIME_ID")
thread_time_ns = _named(_clock.CLOCK_THREAD_CPUTIME_ID, "CLOCK_THREAD_CPUTIME_ID")
