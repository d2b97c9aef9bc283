"""A typed program using vdsotime's public API: mypy --strict must accept it."""

import numpy as np
import numpy.typing as npt

import vdsotime
from vdsotime.testing import mock_clock


def elapsed_ns() -> int:
    start: int = vdsotime.monotonic_ns()
    return vdsotime.monotonic_ns() - start


def readings(n: int) -> npt.NDArray[np.int64]:
    out = np.empty(n, dtype=np.int64)
    return vdsotime.sample(out=out)


def describe() -> str:
    info: vdsotime.VdsoInfo = vdsotime.info()
    binding: vdsotime.Binding = info.functions["clock_gettime"]
    image = vdsotime.ElfImage.from_bytes(vdsotime.vdso_image())
    symbol = image.lookup("__vdso_clock_gettime", "LINUX_2.6")
    name = symbol.name if symbol is not None else "missing"
    return f"{binding.backend} {name} {image.soname} {info.fallback_reason}"


def latency() -> float:
    result = vdsotime.bench(sorted, [3, 1, 2], n=100)
    stats: vdsotime.ClockStats = vdsotime.overhead(vdsotime.CLOCK_MONOTONIC, 1000)
    return result.percentile(99.0) + stats.ns_per_call


def ticks_to_ns() -> int:
    calibration = vdsotime.calibrate_tsc(0.01)
    converted: npt.NDArray[np.int64] = calibration.to_ns(vdsotime.sample_tsc(10))
    first: int = calibration.to_ns(int(vdsotime.sample_tsc(1)[0]))
    return int(converted[0]) + first


def seconds() -> float:
    sec, usec = vdsotime.gettimeofday()
    cpu, node = vdsotime.getcpu()
    gaps = vdsotime.jitter(0.01)
    return vdsotime.time() + sec + usec / 1e6 + cpu + node + gaps.stolen_percent


def trust() -> str:
    report: vdsotime.Health = vdsotime.health(skew=False)
    skew: vdsotime.TscSkew = vdsotime.tsc_skew(rounds=100)
    ntp: vdsotime.NtpState = vdsotime.ntp_state()
    userspace = [clock.name for clock in report.clocks if clock.userspace]
    with mock_clock(start_ns=0) as clock:
        clock.advance(vdsotime.CLOCK_AUX)
        mocked: int = vdsotime.monotonic_ns()
    return f"{userspace} {skew.max_skew_ns} {ntp.synchronized} {mocked}"


if __name__ == "__main__":
    print(elapsed_ns(), len(readings(10)), describe(), latency(), ticks_to_ns(), seconds(),
          trust())
