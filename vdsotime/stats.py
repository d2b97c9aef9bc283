"""Statistics over int64 nanosecond arrays: percentiles, a summary, a log-scale
(HDR-style) histogram, its text rendering for terminals, and PNG plots through
matplotlib (the optional extra ``vdsotime[plot]``). Everything is vectorised."""

import math

import numpy as np

SUMMARY_PERCENTILES = (50, 90, 99, 99.9)


def _as_ns(values, function):
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{function}(): values must be numbers (ns), got {array.dtype}")
    if array.ndim != 1:
        array = array.ravel()
    return array


def percentile(values, q):
    """The q-th percentile (0-100) of ``values``, linear interpolation, as a float."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValueError(f"percentile(): q must be a number from 0 to 100, got {q!r}")
    array = _as_ns(values, "percentile")
    if array.size == 0:
        raise ValueError("percentile(): no values")
    return float(np.percentile(array, q))


def summary(values):
    """{n, min, p50, p90, p99, p99.9, max, mean, stdev} of ``values`` (ns, as floats)."""
    array = _as_ns(values, "summary")
    if array.size == 0:
        raise ValueError("summary(): no values")
    points = np.percentile(array, SUMMARY_PERCENTILES)
    result = {"n": int(array.size), "min": float(array.min())}
    for q, value in zip(SUMMARY_PERCENTILES, points):
        result[f"p{q:g}"] = float(value)
    result.update(max=float(array.max()), mean=float(array.mean()),
                  stdev=float(array.std(ddof=1)) if array.size > 1 else 0.0)
    return result


def log_histogram(values, per_octave=4):
    """A log-scale histogram: bucket edges at powers of 2 ** (1 / per_octave) ns, from the
    smallest value's bucket to the largest's (values below 1 ns share the [0, 1) bucket).

    Returns (edges, counts): ``len(edges) == len(counts) + 1``, edges as float64 ns."""
    if not isinstance(per_octave, int) or not 1 <= per_octave <= 64:
        raise ValueError(f"log_histogram(): per_octave must be an int from 1 to 64, got "
                         f"{per_octave!r}")
    array = _as_ns(values, "log_histogram").astype(np.float64)
    if array.size == 0:
        return np.array([0.0, 1.0]), np.zeros(1, dtype=np.int64)
    # Bucket -1 holds [0, 1); bucket k >= 0 holds [2**(k/p), 2**((k+1)/p)).
    with np.errstate(divide="ignore"):
        index = np.where(array < 1, -1,
                         np.floor(np.log2(np.maximum(array, 1)) * per_octave)).astype(np.int64)
    low, high = int(index.min()), int(index.max())
    counts = np.bincount(index - low, minlength=high - low + 1).astype(np.int64)
    steps = np.arange(low, high + 2, dtype=np.float64)
    edges = np.where(steps < 0, 0.0, 2.0 ** (np.maximum(steps, 0) / per_octave))
    edges[steps == 0] = 1.0
    return edges, counts


def format_ns(value):
    """A duration for people: '850 ns', '12.3 us', '4.56 ms', '1.20 s'."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude < 1e3:
        return f"{value:.0f} ns"
    if magnitude < 1e6:
        return f"{value / 1e3:.3g} us"
    if magnitude < 1e9:
        return f"{value / 1e6:.3g} ms"
    return f"{value / 1e9:.3g} s"


def render_histogram(edges, counts, width=40):
    """Text bars for a histogram from ``log_histogram``; empty buckets at the ends are
    left out, empty ones between kept (the gaps are information)."""
    counts = np.asarray(counts)
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return "(no values)"
    first, last = int(nonzero[0]), int(nonzero[-1])
    peak = int(counts.max())
    total = int(counts.sum())
    lines = []
    for k in range(first, last + 1):
        count = int(counts[k])
        bar = "#" * (max(1, round(width * count / peak)) if count else 0)
        label = f"{format_ns(edges[k]):>9s} - {format_ns(edges[k + 1]):<9s}"
        lines.append(f"{label} |{bar:<{width}s} {count} ({100 * count / total:.2g}%)")
    return "\n".join(lines)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'vdsotime[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_latency(samples_ns, path, title="latency"):
    """Write a PNG: the log-scale histogram of ``samples_ns``."""
    plt = _pyplot()
    edges, counts = log_histogram(samples_ns)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    lefts = np.maximum(edges[:-1], 0.5)
    axes.bar(lefts, counts, width=np.diff(np.maximum(edges, 0.5)), align="edge")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("ns")
    axes.set_ylabel("count")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_jitter(result, path):
    """Write a PNG for a JitterResult: every gap (time into the run against its length),
    and the histogram of gap lengths."""
    plt = _pyplot()
    gaps = result.gaps
    figure, (timeline, histogram) = plt.subplots(1, 2, figsize=(11, 4.5))
    if len(gaps):
        start = gaps["start_ns"][0] if result.start_ns is None else result.start_ns
        timeline.scatter((gaps["start_ns"] - start) / 1e9, gaps["length_ns"] / 1e3, s=6)
        timeline.set_yscale("log")
        edges, counts = log_histogram(gaps["length_ns"])
        histogram.bar(np.maximum(edges[:-1], 0.5) / 1e3, counts,
                      width=np.diff(np.maximum(edges, 0.5)) / 1e3, align="edge")
        histogram.set_xscale("log")
    timeline.set_xlabel("time into the run (s)")
    timeline.set_ylabel("gap (us)")
    timeline.set_title(f"{len(gaps)} gaps >= {format_ns(result.threshold_ns)}")
    histogram.set_xlabel("gap (us)")
    histogram.set_ylabel("count")
    histogram.set_title(f"max {format_ns(result.max_gap_ns)}, "
                        f"{result.stolen_percent:.3g}% of the time stolen")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
