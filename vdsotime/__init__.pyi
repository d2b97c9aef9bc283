# Type stubs for vdsotime's public API (the compiled modules and the lazily loaded ones).
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from typing import Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt

# The time module's other names, which vdsotime forwards (so that `import vdsotime as
# time` type-checks as it runs); a name neither module has is an error.
from time import (
    altzone as altzone, asctime as asctime, clock_settime as clock_settime,
    clock_settime_ns as clock_settime_ns, ctime as ctime, daylight as daylight,
    get_clock_info as get_clock_info, gmtime as gmtime, localtime as localtime,
    mktime as mktime, pthread_getcpuclockid as pthread_getcpuclockid, sleep as sleep,
    strftime as strftime, strptime as strptime, struct_time as struct_time,
    timezone as timezone, tzname as tzname, tzset as tzset,
)

_STRUCT_TM_ITEMS: int  # forwarded too; typeshed does not declare it in time

__version__: str

CLOCK_REALTIME: int
CLOCK_MONOTONIC: int
CLOCK_PROCESS_CPUTIME_ID: int
CLOCK_THREAD_CPUTIME_ID: int
CLOCK_MONOTONIC_RAW: int
CLOCK_REALTIME_COARSE: int
CLOCK_MONOTONIC_COARSE: int
CLOCK_BOOTTIME: int
CLOCK_TAI: int
CLOCK_AUX: int
CLOCK_AUX_LAST: int

class ElfError(ValueError): ...

class Symbol(NamedTuple):
    name: str
    version: str | None
    value: int
    size: int
    type: str
    bind: str
    hidden: bool = False

class ElfImage:
    @staticmethod
    def from_bytes(data: bytes | bytearray | memoryview) -> ElfImage: ...
    @staticmethod
    def from_file(path: str | bytes | PathLike[str] | PathLike[bytes]) -> ElfImage: ...
    @property
    def elf_class(self) -> int: ...
    @property
    def byteorder(self) -> str: ...
    @property
    def e_machine(self) -> int: ...
    @property
    def e_type(self) -> int: ...
    @property
    def machine(self) -> str: ...
    @property
    def soname(self) -> str | None: ...
    @property
    def versions(self) -> tuple[str, ...]: ...
    @property
    def symbols(self) -> tuple[Symbol, ...]: ...
    @property
    def hash_styles(self) -> tuple[str, ...]: ...
    @property
    def size(self) -> int: ...
    @property
    def load_segments(self) -> tuple[tuple[int, int, int, int, int], ...]: ...
    @property
    def load_offset(self) -> int: ...
    @property
    def executable_range(self) -> tuple[int, int] | None: ...
    def lookup(self, name: str | bytes, version: str | None = None) -> Symbol | None: ...

class Binding(NamedTuple):
    backend: str
    symbol: str
    version: str | None
    address: int
    reason: str | None = None

class VdsoInfo(NamedTuple):
    present: bool
    base: int
    size: int
    soname: str | None
    elf_class: int | None
    machine: str | None
    versions: tuple[str, ...]
    symbols: tuple[Symbol, ...]
    functions: Mapping[str, Binding]
    fallback_reason: str | None
    def to_dict(self) -> dict[str, Any]: ...

def info() -> VdsoInfo: ...
def auxv() -> dict[int, int]: ...
def vdso_image() -> bytes: ...
def address(name: str) -> int: ...
def get_include() -> str: ...

def clock_gettime_ns(clock_id: int, /) -> int: ...
def clock_gettime(clock_id: int, /) -> float: ...
def clock_getres_ns(clock_id: int, /) -> int: ...
def clock_getres(clock_id: int, /) -> float: ...
def time() -> float: ...
def time_ns() -> int: ...
def monotonic() -> float: ...
def monotonic_ns() -> int: ...
def perf_counter() -> float: ...
def perf_counter_ns() -> int: ...
def process_time() -> float: ...
def process_time_ns() -> int: ...
def thread_time() -> float: ...
def thread_time_ns() -> int: ...
def monotonic_raw_ns() -> int: ...
def boottime_ns() -> int: ...
def tai_ns() -> int: ...
def monotonic_coarse_ns() -> int: ...
def realtime_coarse_ns() -> int: ...
def gettimeofday() -> tuple[int, int]: ...
def getcpu() -> tuple[int, int]: ...

def sample(n: int | None = None, clock_id: int = ..., *,
           out: npt.NDArray[np.int64] | None = None) -> npt.NDArray[np.int64]: ...
def sample_tsc(n: int | None = None, *,
               out: npt.NDArray[np.uint64] | None = None) -> npt.NDArray[np.uint64]: ...
def sample_cpu(n: int | None = None, clock_id: int = ..., *,
               out: npt.NDArray[np.void] | None = None) -> npt.NDArray[np.void]: ...
def sample_every(period_ns: int, n: int, clock_id: int = ...) -> npt.NDArray[np.int64]: ...

class TscWarning(RuntimeWarning): ...

class TscCalibration(NamedTuple):
    ns_per_tick: float
    ticks0: int
    ns0: int
    residual_ns: float
    max_residual_ns: float
    pairs: int
    seconds: float
    invariant: bool
    invariant_source: str
    @property
    def ghz(self) -> float: ...
    @overload
    def to_ns(self, ticks: int) -> int: ...
    @overload
    def to_ns(self, ticks: npt.ArrayLike) -> npt.NDArray[np.int64]: ...
    def to_dict(self) -> dict[str, Any]: ...

def calibrate_tsc(seconds: float = 0.05, *, bursts: int | None = None, tries: int = 16,
                  warn: bool = True) -> TscCalibration: ...

class ClockStats(NamedTuple):
    clock_id: int
    n: int
    ns_per_call: float
    resolution_ns: int | None
    getres_ns: int
    min_ns: int
    p50_ns: float
    p90_ns: float
    p99_ns: float
    p999_ns: float
    max_ns: int
    mean_ns: float
    def to_dict(self) -> dict[str, Any]: ...

class LatencyResult(NamedTuple):
    name: str
    samples_ns: npt.NDArray[np.int64]
    overhead_ns: float
    n: int
    warmup: int
    metadata: dict[str, Any] | None = None
    def percentile(self, q: float) -> float: ...
    def summary(self) -> dict[str, float]: ...
    def histogram(self, per_octave: int = 4) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_pyperf(self, path: str | PathLike[str]) -> None: ...
    def to_hgrm(self, unit: str = "us") -> str: ...
    def to_hdr(self) -> str: ...
    def assert_below(self, **limits: float | str) -> None: ...

class Contrast(NamedTuple):
    name: str
    baseline: str
    ratio: float
    ci: tuple[float, float]
    p_value: float
    significant: bool
    ratio_p99: float
    ci_p99: tuple[float, float]
    p_value_p99: float
    significant_p99: bool
    def verdict(self, metric: str = "p50") -> str: ...

class Comparison(NamedTuple):
    results: dict[str, LatencyResult]
    contrasts: tuple[Contrast, ...]
    rounds: int
    processes: int | None
    seed: int
    orders: npt.NDArray[np.int64]
    round_sizes: dict[str, npt.NDArray[np.int64]]
    round_process: npt.NDArray[np.int64]
    interrupted: bool = False
    @property
    def names(self) -> list[str]: ...
    @property
    def baseline(self) -> str: ...
    @property
    def ratio(self) -> float: ...
    @property
    def ci(self) -> tuple[float, float]: ...
    @property
    def p_value(self) -> float: ...
    @property
    def significant(self) -> bool: ...
    @property
    def ratio_p99(self) -> float: ...
    @property
    def ci_p99(self) -> tuple[float, float]: ...
    @property
    def p_value_p99(self) -> float: ...
    @property
    def significant_p99(self) -> bool: ...
    @property
    def warnings(self) -> list[str]: ...
    def contrast(self, name: str) -> Contrast: ...
    def round_statistics(self, name: str, metric: str = "p50") -> npt.NDArray[np.float64]: ...
    def to_dict(self) -> dict[str, Any]: ...

class RunChange(NamedTuple):
    name: str
    old: float
    new: float
    ratio: float
    ci: tuple[float, float]
    p_value: float
    significant: bool
    regression: bool
    improvement: bool

class RunComparison(NamedTuple):
    changes: list[RunChange]
    metric: str
    fail_above: float
    only_old: list[str]
    only_new: list[str]
    differences: list[tuple[str, Any, Any]]
    old_label: str
    new_label: str
    @property
    def regressions(self) -> list[RunChange]: ...
    @property
    def failed(self) -> bool: ...
    @property
    def warnings(self) -> list[str]: ...
    def to_dict(self) -> dict[str, Any]: ...

class JitterWarning(RuntimeWarning): ...

class JitterResult(NamedTuple):
    gaps: npt.NDArray[np.void]
    loops: int
    duration_ns: int
    threshold_ns: int
    clock_id: int
    start_ns: int
    interrupted: bool = False
    @property
    def max_gap_ns(self) -> int: ...
    @property
    def stalled_ns(self) -> int: ...
    @property
    def stolen_percent(self) -> float: ...
    @property
    def gaps_per_second(self) -> float: ...
    @property
    def ns_per_loop(self) -> float: ...
    def percentile(self, q: float) -> float: ...
    def histogram(self, per_octave: int = 4) -> tuple[npt.NDArray[np.float64],
                                                      npt.NDArray[np.int64]]: ...
    def to_dict(self) -> dict[str, Any]: ...

def overhead(clock_id: int = ..., n: int = 100_000) -> ClockStats: ...
def bench(fn: Callable[..., object], *args: Any, n: int | None = None,
          warmup: int | None = None, timer: str | None = None,
          **kwargs: Any) -> LatencyResult: ...
_Candidate = Callable[..., object] | str
@overload
def compare(a: Mapping[str, _Candidate] | list[tuple[str, _Candidate]], *,
            n: int | None = None, rounds: int | None = None, processes: int | None = None,
            warmup: int | None = None, setup: str | None = None, timer: str | None = None,
            seed: int | None = None, **kwargs: Any) -> Comparison: ...
@overload
def compare(a: _Candidate, b: _Candidate, *args: Any, n: int | None = None,
            rounds: int | None = None, processes: int | None = None,
            warmup: int | None = None, setup: str | None = None, timer: str | None = None,
            seed: int | None = None, **kwargs: Any) -> Comparison: ...
def save_run(path: str | PathLike[str], results: Mapping[str, LatencyResult], *,
             merge: bool = False) -> None: ...
def load_run(path: str | PathLike[str]) -> dict[str, LatencyResult]: ...
def compare_runs(old: Mapping[str, LatencyResult] | str | PathLike[str],
                 new: Mapping[str, LatencyResult] | str | PathLike[str],
                 metric: str = "p50", fail_above: float = 5.0, *,
                 seed: int = 0) -> RunComparison: ...
def jitter(seconds: float, threshold_ns: float = 10_000,
           clock_id: int = ...) -> JitterResult: ...

class NtpState(NamedTuple):
    synchronized: bool
    status: int
    maxerror_ns: int
    esterror_ns: int
    offset_ns: int
    frequency_ppm: float
    tai_offset_s: int
    clock_state: str
    flags: tuple[str, ...]
    def to_dict(self) -> dict[str, Any]: ...

class TscOffset(NamedTuple):
    cpu: int
    low_ns: float
    high_ns: float
    low_ticks: int
    high_ticks: int
    rounds: int
    round_trip_ns: float
    violations: int
    def to_dict(self) -> dict[str, Any]: ...

class TscSkew(NamedTuple):
    offsets: tuple[TscOffset, ...]
    max_skew_ns: float
    comparable: bool
    monotonic: bool
    reference_cpu: int
    ns_per_tick: float
    invariant: bool
    seconds: float
    def to_dict(self) -> dict[str, Any]: ...

class ClockHealth(NamedTuple):
    name: str
    id: int
    userspace: bool
    ns_per_call: float
    syscall_ns_per_call: float
    coarse_ns_per_call: float
    method: str
    @property
    def verdict(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

class TscHealth(NamedTuple):
    present: bool
    invariant: bool
    invariant_source: str
    constant_tsc: bool
    nonstop_tsc: bool
    tsc_known_freq: bool
    tsc_reliable: bool
    unstable: bool
    skew: TscSkew | None
    skew_error: str | None
    def to_dict(self) -> dict[str, Any]: ...

class CpuHealth(NamedTuple):
    governor: str | None
    boost: bool | None
    isolated: tuple[int, ...]
    nohz_full: tuple[int, ...]
    def to_dict(self) -> dict[str, Any]: ...

class Health(NamedTuple):
    clocksource: str | None
    available_clocksources: tuple[str, ...]
    clocks: tuple[ClockHealth, ...]
    tsc: TscHealth
    ntp: NtpState
    timens_offsets: dict[str, int] | None
    cpu: CpuHealth
    recommendations: tuple[str, ...]
    backend: Binding
    def to_dict(self) -> dict[str, Any]: ...

def health(*, skew: bool = True) -> Health: ...
def ntp_state() -> NtpState: ...
def tsc_skew(cpus: Iterable[int] | None = None, rounds: int = 20_000, *, seconds: float = 0.5,
             calibration: TscCalibration | None = None) -> TscSkew: ...
def clock_from_fd(fd: int) -> int: ...

class open_clock:
    path: str
    fd: int
    clock_id: int
    def __init__(self, path: str | PathLike[str]) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> int: ...
    def __exit__(self, *exc_info: object) -> bool: ...

