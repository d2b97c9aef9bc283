"""A typed program using vdsotime's public API: mypy --strict must accept it."""

import os
import tempfile

import numpy as np
import numpy.typing as npt

import vdsotime
from vdsotime import plot, stats
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
    name = symbol.name if symbol is not None and not symbol.hidden else "missing"
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
    gaps = vdsotime.jitter(0.01, keep=10)
    counted: int = gaps.gap_count - gaps.gaps_kept + gaps.stalled_ns
    return (vdsotime.time() + sec + usec / 1e6 + cpu + node + gaps.stolen_percent
            + counted + gaps.percentile(50))


def statistics() -> str:
    samples = vdsotime.sample(1000)
    figures: dict[str, float] = stats.summary(samples)
    edges, counts = stats.log_histogram(samples, per_octave=2)
    text: str = stats.render_histogram(edges, counts)
    path: str = plot.check_plot_path(os.path.join(tempfile.gettempdir(), "unwritten.png"))
    return (f"{stats.format_ns(figures['p50'])} {stats.format_count(len(counts), 'bucket')} "
            f"{stats.format_percent(stats.percentile(samples, 50) / 1e3)} "
            f"{stats.format_rate(1e6 / figures['mean'])} {len(text)} {path}")


def like_the_time_module() -> str:
    vdsotime.sleep(0)  # forwarded to the time module, and typed as there
    stamp: vdsotime.struct_time = vdsotime.gmtime(0)
    return vdsotime.strftime("%Y", stamp) + str(vdsotime._STRUCT_TM_ITEMS)


def comparing(folder: str) -> bool:
    comparison: vdsotime.Comparison = vdsotime.compare("pass", "x = 1", n=50, rounds=4)
    low, high = comparison.ci
    result = vdsotime.bench(sorted, [3, 1, 2], n=100, timer="monotonic")
    result.assert_below(p99="1s", max=1e9)
    warnings: list[str] = result.warnings
    path = f"{folder}/run.json"
    vdsotime.save_run(path, {"sorted": result})
    loaded: dict[str, vdsotime.LatencyResult] = vdsotime.load_run(path)
    gate: vdsotime.RunComparison = vdsotime.compare_runs(path, loaded, fail_above=5)
    several = vdsotime.bench("sum(range(10))", n=50, processes=2, setup="pass")
    units: str = vdsotime.compare_runs({"s": several}, {"s": several}).changes[0].units
    cautions: tuple[str, ...] = gate.unit_warnings
    text: str = result.to_hgrm()
    return (comparison.significant or low > high or gate.failed or not text
            or bool(warnings) or units == "blocks" or bool(cautions))


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
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(elapsed_ns(), len(readings(10)), describe(), latency(), ticks_to_ns(),
              seconds(), statistics(), like_the_time_module(), comparing(folder), trust())
