from vdsotime import (CLOCK_AUX as CLOCK_AUX, CLOCK_AUX_LAST as CLOCK_AUX_LAST,
                      CLOCK_BOOTTIME as CLOCK_BOOTTIME, CLOCK_MONOTONIC as CLOCK_MONOTONIC,
                      CLOCK_MONOTONIC_COARSE as CLOCK_MONOTONIC_COARSE,
                      CLOCK_MONOTONIC_RAW as CLOCK_MONOTONIC_RAW,
                      CLOCK_PROCESS_CPUTIME_ID as CLOCK_PROCESS_CPUTIME_ID,
                      CLOCK_REALTIME as CLOCK_REALTIME,
                      CLOCK_REALTIME_COARSE as CLOCK_REALTIME_COARSE, CLOCK_TAI as CLOCK_TAI,
                      CLOCK_THREAD_CPUTIME_ID as CLOCK_THREAD_CPUTIME_ID,
                      boottime_ns as boottime_ns, clock_getres as clock_getres,
                      clock_getres_ns as clock_getres_ns, clock_gettime as clock_gettime,
                      clock_gettime_ns as clock_gettime_ns, getcpu as getcpu,
                      gettimeofday as gettimeofday, monotonic as monotonic,
                      monotonic_coarse_ns as monotonic_coarse_ns, monotonic_ns as monotonic_ns,
                      monotonic_raw_ns as monotonic_raw_ns, perf_counter as perf_counter,
                      perf_counter_ns as perf_counter_ns, process_time as process_time,
                      process_time_ns as process_time_ns,
                      realtime_coarse_ns as realtime_coarse_ns, tai_ns as tai_ns,
                      thread_time as thread_time, thread_time_ns as thread_time_ns, time as time,
                      time_ns as time_ns)

def ns_to_seconds(ns: int, /) -> float: ...
def clock_name(clock_id: int, /) -> str: ...
def is_cpu_time_clock(clock_id: int, /) -> bool: ...
