"""Latency results in other tools' formats: pyperf's JSON, HdrHistogram's percentile
distribution text (.hgrm) and its compressed encoding (through the optional
``hdrhistogram`` package). Written from the formats' documentation; pyperf itself is
not needed to write its files."""

import json
import math

import numpy as np

HGRM_UNITS = {"ns": 1.0, "us": 1e3, "ms": 1e6}
# HdrHistogram's usual precision: 3 significant digits (sub-buckets of 2048).
SIGNIFICANT_DIGITS = 3


# -- pyperf -------------------------------------------------------------------------------

def _pyperf_value(value):
    """A pyperf metadata value (int, float or a one-line non-empty str), or None."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(str(item) for item in value)
    if isinstance(value, str):
        return "; ".join(line.strip() for line in value.splitlines() if line.strip()) or None
    return value


def _pyperf_metadata(result):
    """pyperf's names where it has one (``cpu_model_name``, ``hostname``, ``timer``...),
    ``vdsotime_*`` for the rest."""
    metadata = dict(result.metadata or {})
    timer = metadata.pop("timer", None)
    converted = {
        "name": result.name, "unit": "second", "loops": 1, "inner_loops": 1,
        "cpu_model_name": metadata.pop("cpu_model", None),
        "cpu_count": metadata.pop("cpu_count", None),
        "hostname": metadata.pop("hostname", None),
        "python_version": metadata.pop("python_version", None),
        "python_implementation": (metadata.pop("python_implementation", None) or "").lower(),
        "platform": "Linux-{}-{}".format(metadata.pop("kernel", "?"),
                                         metadata.pop("machine", "?")),
        "timer": (f"vdsotime {timer} timer, overhead {result.overhead_ns:.1f} ns subtracted"
                  if timer else None),
        "date": (metadata.pop("date", None) or "").replace("T", " ").rstrip("Z"),
    }
    for key in ("name", "n", "warmup", "load_avg_1min"):
        metadata.pop(key, None)
    converted.update({f"vdsotime_{key}": value for key, value in metadata.items()})
    converted = {key: _pyperf_value(value) for key, value in converted.items()}
    return {key: value for key, value in converted.items() if value is not None}


def pyperf_suite(results):
    """pyperf's JSON document (format version 1.0) for ``{name: LatencyResult}``: one
    benchmark per result, one run holding every per-call time in seconds."""
    benchmarks = []
    for name, result in results.items():
        metadata = _pyperf_metadata(result._replace(name=name))
        run_metadata = {"date": metadata.pop("date")} if "date" in metadata else {}
        # pyperf wants values > 0: a call the overhead subtraction took to 0 counts 1 ns.
        values = (np.maximum(result.samples_ns, 1) / 1e9).tolist()
        run = {"values": values}
        if run_metadata:
            run["metadata"] = run_metadata
        benchmarks.append({"metadata": metadata, "runs": [run]})
    return {"version": "1.0", "benchmarks": benchmarks}


def write_pyperf(path, results):
    import os
    path = os.fspath(path)
    if path.endswith(".gz"):
        import gzip
        handle = gzip.open(path, "wt", encoding="utf-8")
    else:
        handle = open(path, "w", encoding="utf-8")
    with handle:
        json.dump(pyperf_suite(results), handle, separators=(",", ":"))
        handle.write("\n")


# -- HdrHistogram ----------------------------------------------------------------------

def _next_level(level, ticks_per_half_distance):
    """HdrHistogram's percentile iterator: the steps halve each time the distance to
    100 % halves (ticks_per_half_distance steps per half)."""
    halvings = int(math.log(100.0 / (100.0 - level)) / math.log(2))
    return level + 100.0 / (ticks_per_half_distance * 2 ** (halvings + 1))


def _hdr_bucket_count(highest):
    """Buckets of an HdrHistogram from 1 to ``highest`` at 3 significant digits."""
    smallest_untrackable, buckets = 2048, 1
    while smallest_untrackable <= highest:
        smallest_untrackable <<= 1
        buckets += 1
    return buckets


def hgrm(samples, unit="us", ticks_per_half_distance=5):
    """The .hgrm text of HdrHistogram's outputPercentileDistribution for ``samples``
    (ns): a header, one line per percentile step (Value, Percentile, TotalCount,
    1/(1-Percentile)), the 100 % line, and the Mean/Max/Buckets footer. Values are the
    exact samples in ``unit``, where HdrHistogram would print each bucket's highest
    equivalent value (within 0.1 %)."""
    if unit not in HGRM_UNITS:
        raise ValueError(f"to_hgrm(): unit must be 'ns', 'us' or 'ms', got {unit!r}")
    array = np.asarray(samples)
    if array.size == 0:
        raise ValueError("to_hgrm(): no samples")
    scale = HGRM_UNITS[unit]
    values, counts = np.unique(array, return_counts=True)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    lines = ["%12s %14s %10s %14s" % ("Value", "Percentile", "TotalCount", "1/(1-Percentile)"),
             ""]
    level = 0.0
    for value, count_to in zip(values.tolist(), cumulative.tolist()):
        while 100.0 * count_to / total >= level:
            lines.append("%12.3f %2.12f %10d %14.2f" % (value / scale, level / 100, count_to,
                                                        1 / (1 - level / 100)))
            level = _next_level(level, ticks_per_half_distance)
            if count_to == total:
                break
    lines.append("%12.3f %2.12f %10d" % (values[-1] / scale, 1.0, total))
    mean = float(array.mean())
    lines.append("#[Mean    = %12.3f, StdDeviation   = %12.3f]"
                 % (mean / scale, float(array.std()) / scale))
    lines.append("#[Max     = %12.3f, Total count    = %12d]" % (values[-1] / scale, total))
    lines.append("#[Buckets = %12d, SubBuckets     = %12d]"
                 % (_hdr_bucket_count(max(2, int(values[-1]))), 2048))
    return "\n".join(lines) + "\n"


def hdr(samples):
    """HdrHistogram's V2 compressed base64 encoding of ``samples`` (ns), 3 significant
    digits, through the ``hdrhistogram`` package."""
    try:
        from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("to_hdr() needs the hdrhistogram package: "
                          "pip install hdrhistogram") from None
    array = np.asarray(samples)
    if array.size == 0:
        raise ValueError("to_hdr(): no samples")
    values, counts = np.unique(np.maximum(array, 0), return_counts=True)
    histogram = HdrHistogram(1, max(2, int(values[-1])), SIGNIFICANT_DIGITS)
    for value, count in zip(values.tolist(), counts.tolist()):
        histogram.record_value(value, count)
    encoded = histogram.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else encoded
