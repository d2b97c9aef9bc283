# The clocks for numba's nopython mode: numba dispatchers, callable from Python too.
from collections.abc import Callable

__all__ = [
    "boottime_ns", "clock_gettime_ns", "monotonic_coarse_ns", "monotonic_ns",
    "monotonic_raw_ns", "perf_counter_ns", "process_time_ns", "realtime_coarse_ns",
    "tai_ns", "thread_time_ns", "time_ns"
]

clock_gettime_ns: Callable[[int], int]
time_ns: Callable[[], int]
monotonic_ns: Callable[[], int]
perf_counter_ns: Callable[[], int]
monotonic_raw_ns: Callable[[], int]
boottime_ns: Callable[[], int]
tai_ns: Callable[[], int]
monotonic_coarse_ns: Callable[[], int]
realtime_coarse_ns: Callable[[], int]
process_time_ns: Callable[[], int]
thread_time_ns: Callable[[], int]
