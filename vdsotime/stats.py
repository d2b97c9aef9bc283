"""Statistics over int64 nanosecond arrays: percentiles, a summary, a log-scale
(HDR-style) histogram and its text rendering for terminals, and the formatting of
numbers for people (durations, counts, percentages, rates). Everything is vectorised.

PNG plots live in ``vdsotime.plot`` (matplotlib, the optional extra ``vdsotime[plot]``);
``plot_latency`` and ``plot_jitter`` stay reachable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

# Numbers for people (text output; JSON keeps the full precision). They live in a module
# without numpy, for the command line's quick commands.
from vdsotime._format import format_count, format_ns, format_percent, format_rate

if TYPE_CHECKING:
    import os

    import numpy.typing as npt

__all__ = ["SUMMARY_PERCENTILES", "format_count", "format_ns", "format_percent",
           "format_rate", "log_histogram", "percentile", "plot_jitter", "plot_latency",
           "render_histogram", "summary"]

SUMMARY_PERCENTILES = (50, 90, 99, 99.9)


def _as_ns(values: npt.ArrayLike, function: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{function}(): values must be numbers (ns), got {array.dtype}")
    if array.ndim != 1:
        array = array.ravel()
    return array


def percentile(values: npt.ArrayLike, q: float) -> float:
    """The q-th percentile (0-100) of ``values``, linear interpolation, as a float."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValueError(f"percentile(): q must be a number from 0 to 100, got {q!r}")
    array = _as_ns(values, "percentile")
    if array.size == 0:
        raise ValueError("percentile(): no values")
    return float(np.percentile(array, q))


def summary(values: npt.ArrayLike) -> dict[str, float]:
    """{n, min, p50, p90, p99, p99.9, max, mean, stdev} of ``values`` (ns, as floats;
    n as an int)."""
    array = _as_ns(values, "summary")
    if array.size == 0:
        raise ValueError("summary(): no values")
    points = np.percentile(array, SUMMARY_PERCENTILES)
    result: dict[str, float] = {"n": int(array.size), "min": float(array.min())}
    for q, value in zip(SUMMARY_PERCENTILES, points):
        result[f"p{q:g}"] = float(value)
    result.update(max=float(array.max()), mean=float(array.mean()),
                  stdev=float(array.std(ddof=1)) if array.size > 1 else 0.0)
    return result


def log_histogram(values: npt.ArrayLike, per_octave: int = 4
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
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
    # bincount takes intp indices: int32 on 32-bit builds.
    counts = np.bincount((index - low).astype(np.intp), minlength=high - low + 1)
    counts = counts.astype(np.int64)
    steps = np.arange(low, high + 2, dtype=np.float64)
    edges = np.where(steps < 0, 0.0, 2.0 ** (np.maximum(steps, 0) / per_octave))
    edges[steps == 0] = 1.0
    return edges, counts


def render_histogram(edges: npt.ArrayLike, counts: npt.ArrayLike, width: int = 40) -> str:
    """Text bars for a histogram from ``log_histogram``; empty buckets at the ends are
    left out, empty ones between kept (the gaps are information). Each bar ends with its
    count and its share of all values."""
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.asarray(counts)
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return "(no values)"
    first, last = int(nonzero[0]), int(nonzero[-1])
    peak = int(counts.max())
    total = int(counts.sum())
    # Below 10 ns the log buckets are narrower than 1 ns: one decimal tells them apart.
    labels = [format_ns(edge, 1 if edge < 10 else None) for edge in edges[first:last + 2]]
    label_width = max(len(label) for label in labels)
    count_width = len(f"{peak:,}")
    lines = []
    for k in range(first, last + 1):
        count = int(counts[k])
        bar = "#" * (max(1, round(width * count / peak)) if count else 0)
        low, high = labels[k - first], labels[k - first + 1]
        lines.append(f"{low:>{label_width}s} - {high:<{label_width}s} |{bar:<{width}s} "
                     f"{count:>{count_width},} ({format_percent(100 * count / total)})")
    return "\n".join(lines)


# -- plots (kept here for existing callers; they live in vdsotime.plot) ----------------

def plot_latency(samples_ns: npt.ArrayLike, path: str | os.PathLike[str],
                 title: str = "latency") -> None:
    """Write a plot of the log-scale histogram of ``samples_ns``: see vdsotime.plot."""
    from vdsotime import plot
    plot.plot_latency(samples_ns, path, title)


def plot_jitter(result: Any, path: str | os.PathLike[str]) -> None:
    """Write a plot of a JitterResult's gaps: see vdsotime.plot."""
    from vdsotime import plot
    plot.plot_jitter(result, path)
