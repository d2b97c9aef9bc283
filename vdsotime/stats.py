"""Statistics over int64 nanosecond arrays: percentiles, a summary, a log-scale
(HDR-style) histogram and its text rendering for terminals, the inference behind
``compare()`` and ``compare-runs`` (exact rank tests, a cluster bootstrap of ratios, mode
counting), and the formatting of numbers for people (durations, counts, percentages,
rates). numpy only, vectorised.

PNG plots live in ``vdsotime.plot`` (matplotlib, the optional extra ``vdsotime[plot]``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

# Numbers for people (text output; JSON keeps the full precision). They live in a module
# without numpy, for the command line's quick commands.
from vdsotime._core.formatting import format_count, format_ns, format_percent, format_rate

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["SUMMARY_PERCENTILES", "format_count", "format_ns", "format_percent",
           "format_rate", "log_histogram", "percentile", "render_histogram", "summary"]

SUMMARY_PERCENTILES = (50, 90, 99, 99.9)


def _as_ns(values: npt.ArrayLike, function: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{function}(): values must be numbers (ns), got {array.dtype}")
    if array.ndim != 1:
        array = array.ravel()
    return array


def percentile(values: npt.ArrayLike, q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` (ns), by linear interpolation, as a
    float."""
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
    """A log-scale histogram of ``values`` (ns): bucket edges at powers of
    2 ** (1 / ``per_octave``) ns (1 to 64 buckets per doubling), from the smallest value's
    bucket to the largest's (values below 1 ns share the [0, 1) bucket).

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


# -- inference ------------------------------------------------------------------------
#
# compare() and compare-runs decide "is B faster than A?" from clusters of samples: the
# rounds of a comparison, or contiguous blocks of a saved run. Calls within a cluster
# share their conditions (CPU frequency, caches, a neighbour's load), so clusters, not
# single calls, are the units that the bootstrap resamples and the rank tests rank.

# Up to these sizes the rank tests enumerate their null distribution exactly.
EXACT_SIGNED_RANK = 250
EXACT_RANK_SUM = 60


def _doubled_midranks(values):
    """Twice the midranks (1-based) of ``values``: integers even where values tie."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    size = len(values)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], size]
    ranks = np.empty(size, dtype=np.int64)
    # A tie group over positions start..end-1 shares the midrank (start + 1 + end) / 2.
    ranks[order] = np.repeat(starts + 1 + ends, ends - starts)
    return ranks


def _finite(values, function, name):
    array = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{function}(): {name} must be finite numbers")
    return array


def _two_sided(probabilities, statistics, observed, center):
    """P(|S - center| >= |observed - center|) for a distribution over integer sums."""
    distance = abs(observed - center)
    return float(min(1.0, probabilities[np.abs(statistics - center) >= distance - 1e-9].sum()))


def signed_rank_test(differences):
    """Two-sided p-value of Wilcoxon's signed-rank test that ``differences`` are
    symmetric about 0. Exact: the statistic's distribution over all 2**m sign patterns
    of the m nonzero differences (zeros dropped, ties at midranks), which is its true
    distribution when each difference's sign is a fair coin -- as it is for two
    candidates that do not differ, run in random order. Beyond 250 nonzero differences,
    the normal approximation (with ties). 1.0 when every difference is 0."""
    d = _finite(differences, "signed_rank_test", "differences")
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    ranks = _doubled_midranks(np.abs(d))
    observed = int(ranks[d > 0].sum())
    total = int(ranks.sum())
    if d.size > EXACT_SIGNED_RANK:
        z = (observed - total / 2) / math.sqrt(float((ranks.astype(np.float64) ** 2).sum()) / 4)
        return math.erfc(abs(z) / math.sqrt(2))
    probabilities = np.zeros(total + 1)
    probabilities[0] = 1.0
    for rank in ranks:  # each rank joins the sum with probability 1/2
        shifted = probabilities[:-rank].copy()
        probabilities *= 0.5
        probabilities[rank:] += 0.5 * shifted
    return _two_sided(probabilities, np.arange(total + 1), observed, total / 2)


def rank_sum_test(x, y):
    """Two-sided p-value of the Wilcoxon-Mann-Whitney rank-sum test that ``x`` and ``y``
    come from one distribution. Exact (ties at midranks) when there are at most 60
    values in all: the statistic over every way of choosing len(x) of the pooled values;
    beyond, the normal approximation with the tie correction."""
    x = _finite(x, "rank_sum_test", "x")
    y = _finite(y, "rank_sum_test", "y")
    m, size = x.size, x.size + y.size
    if m == 0 or y.size == 0:
        raise ValueError("rank_sum_test(): x and y must both have values")
    ranks = _doubled_midranks(np.concatenate([x, y]))
    observed = int(ranks[:m].sum())
    center = m * int(ranks.sum()) / size
    if size > EXACT_RANK_SUM:
        spread = ranks - ranks.mean()
        variance = m * y.size / (size * (size - 1)) * float((spread ** 2).sum())
        if variance == 0:
            return 1.0
        return math.erfc(abs(observed - center) / math.sqrt(2 * variance))
    top = int(np.sort(ranks)[-m:].sum())
    # ways[k, s]: the number of k-element subsets (of the ranks seen so far) summing to s.
    ways = np.zeros((m + 1, top + 1))
    ways[0, 0] = 1.0
    for rank in ranks:
        ways[1:, rank:] += ways[:-1, :top + 1 - rank].copy()
    probabilities = ways[m] / ways[m].sum()
    return _two_sided(probabilities, np.arange(top + 1), observed, center)


def holm(p_values):
    """Holm-Bonferroni adjusted p-values: rejecting where the adjusted value is below
    alpha keeps the chance of any false rejection among the family below alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    steps = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted


def cluster_weights(clusters, replicates, rng, groups=None):
    """Bootstrap weights: how often each of ``clusters`` clusters is drawn in each of
    ``replicates`` resamples (int64, replicates x clusters). Clusters are drawn with
    replacement. With ``groups`` (the group of each cluster -- the process that ran a
    round), in two stages: groups with replacement first, then, for each group drawn,
    as many of its clusters with replacement; the spread between groups then shows in
    the resamples."""
    if groups is None:
        return rng.multinomial(clusters, np.full(clusters, 1.0 / clusters), size=replicates)
    labels, index = np.unique(np.asarray(groups), return_inverse=True)
    drawn = rng.multinomial(len(labels), np.full(len(labels), 1.0 / len(labels)),
                            size=replicates)
    weights = np.zeros((replicates, clusters), dtype=np.int64)
    for group in range(len(labels)):
        members = np.flatnonzero(index == group)
        weights[:, members] = rng.multinomial(drawn[:, group] * len(members),
                                              np.full(len(members), 1.0 / len(members)))
    return weights


def _statistic_name(statistic):
    if statistic == "mean":
        return statistic
    if isinstance(statistic, bool) or not isinstance(statistic, (int, float)) \
            or not 0 <= statistic <= 100:
        raise ValueError(f"statistic must be 'mean' or a percentile from 0 to 100, got "
                         f"{statistic!r}")
    return float(statistic)


class ClusteredSamples:
    """Samples in clusters, for statistics of the pooled samples under bootstrap
    weights: ``pooled(statistic, weights)`` is the percentile (numpy's linear
    interpolation) or mean of the samples of every cluster repeated as often as its
    weight says -- computed from a table of counts, without building the samples."""

    # Beyond this many distinct values, the counts table keeps 3 significant digits
    # (HdrHistogram's buckets: 0.05 % at most), so that its size stays bounded; the
    # point estimates do not.
    MAX_DISTINCT = 20_000

    def __init__(self, clusters):
        clusters = [_as_ns(cluster, "ClusteredSamples") for cluster in clusters]
        if not clusters or any(cluster.size == 0 for cluster in clusters):
            raise ValueError("ClusteredSamples(): every cluster needs samples")
        self.clusters = clusters
        self.sizes = np.array([cluster.size for cluster in clusters], dtype=np.float64)
        self.sums = np.array([cluster.sum(dtype=np.float64) for cluster in clusters])
        # Each cluster's distinct values and counts, then one table over their union
        # (sorting clusters one by one is cheaper than sorting the pooled samples).
        tallies = [np.unique(cluster.astype(np.float64), return_counts=True)
                   for cluster in clusters]
        values = np.unique(np.concatenate([distinct for distinct, _ in tallies]))
        self.exact = values.size <= self.MAX_DISTINCT
        if not self.exact:
            rounded = []
            for distinct, counts in tallies:
                coarse, inverse = np.unique(_three_digits(distinct), return_inverse=True)
                rounded.append((coarse, np.bincount(inverse.ravel(), weights=counts)))
            tallies = rounded
            values = np.unique(np.concatenate([distinct for distinct, _ in tallies]))
        self.values = values
        self.counts = np.zeros((len(clusters), values.size))
        for row, (distinct, counts) in zip(self.counts, tallies):
            row[np.searchsorted(values, distinct)] = counts

    def __len__(self):
        return len(self.clusters)

    def per_cluster(self, statistic):
        """The statistic of each cluster on its own."""
        statistic = _statistic_name(statistic)
        if statistic == "mean":
            return self.sums / self.sizes
        if self.exact:  # from the table: each cluster alone is a resample of weight 1
            return self.pooled(statistic, np.eye(len(self.clusters)))
        return np.array([np.percentile(cluster, statistic) for cluster in self.clusters])

    def pooled(self, statistic, weights=None):
        """The statistic of the pooled samples: of all of them (no weights), or of each
        resample (weights: replicates x clusters), as an array."""
        statistic = _statistic_name(statistic)
        if weights is None:
            if self.exact and statistic != "mean":
                return float(self.pooled(statistic, np.ones((1, len(self.clusters))))[0])
            pooled = np.concatenate(self.clusters)
            return float(pooled.mean() if statistic == "mean"
                         else np.percentile(pooled, statistic))
        weights = np.asarray(weights, dtype=np.float64)
        if statistic == "mean":
            return (weights @ self.sums) / (weights @ self.sizes)
        out = np.empty(len(weights))
        distinct = self.values.size
        chunk = max(1, 4_000_000 // distinct)
        for start in range(0, len(weights), chunk):
            cumulative = np.cumsum(weights[start:start + chunk] @ self.counts, axis=1)
            rows = len(cumulative)
            total = cumulative[:, -1]
            position = (total - 1) * (statistic / 100)
            low = np.floor(position)
            # The values at ranks low and low + 1 (0-based), interpolated as numpy does:
            # the value at rank r is the first whose cumulative count exceeds r. Every row
            # is sorted, so offsetting row k by k * (largest total + 1) sorts them all,
            # and one searchsorted finds every row's answer.
            offset = np.arange(rows) * (total.max() + 1)
            flat = (cumulative + offset[:, None]).ravel()
            row_start = np.arange(rows) * distinct

            def index(rank):
                return np.searchsorted(flat, rank + offset, side="right") - row_start

            below = index(low)
            above = index(np.minimum(low + 1, total - 1))
            out[start:start + chunk] = (self.values[below] + (position - low)
                                        * (self.values[above] - self.values[below]))
        return out


def _three_digits(values):
    """``values`` (float64) at 3 significant digits, as HdrHistogram keeps them: those
    of 2048 and above as their bucket's middle value (``hdr_index``, ``hdr_value``),
    within 0.05 %; smaller ones are left alone."""
    rounded = np.array(values, dtype=np.float64)
    large = rounded >= HDR_SUB_BUCKETS
    whole = np.minimum(rounded[large], float(2**62)).astype(np.int64)
    rounded[large] = hdr_value(hdr_index(whole))
    return rounded


# -- HdrHistogram's buckets -------------------------------------------------------------
#
# At 3 significant digits: values below 2048 (ns) each in a bucket of their own, and
# above, 1024 buckets per doubling, each at most 1/1024 of its values wide. A bucket's
# middle value is then within 0.05 % of every value in it. Saved runs keep these counts
# (``vdsotime._bench.runs``); compare-runs' bootstrap tables round to them.

HDR_SUB_BUCKETS = 2048
_HALF = HDR_SUB_BUCKETS // 2
_POWERS_OF_TWO = np.left_shift(np.int64(1), np.arange(63, dtype=np.int64))


def hdr_index(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bucket of each of ``values`` (whole numbers >= 0, int64): the value itself
    below 2048, else (doublings above 1024) * 1024 + its top 11 bits. Buckets grow with
    the values; the largest int64 is in bucket 55,295."""
    array = np.asarray(values, dtype=np.int64)
    if array.size and array.min() < 0:
        raise ValueError("hdr_index(): values must be >= 0")
    bit_length = np.searchsorted(_POWERS_OF_TWO, array, side="right")
    shift = np.maximum(bit_length - HDR_SUB_BUCKETS.bit_length() + 1, 0).astype(np.int64)
    return (shift * _HALF + (array >> shift)).astype(np.int64)


def hdr_value(index: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The value each bucket of ``index`` stands for: its middle (HdrHistogram's median
    equivalent value), the value itself below 2048."""
    array = np.asarray(index, dtype=np.int64)
    shift = np.maximum(array // _HALF - 1, 0)
    low = (array - shift * _HALF) << shift
    return low + ((np.int64(1) << shift) >> 1)


def bootstrap_ratio(a, b, statistic, weights_a, weights_b, level=0.95):
    """The ratio statistic(b) / statistic(a) of two ClusteredSamples, its bootstrap
    replicates under the given weights, and the percentile interval at ``level``:
    (ratio, (low, high), replicates). With the same weights for a and b the clusters are
    resampled in pairs (the rounds of a comparison, which ran side by side)."""
    base = a.pooled(statistic)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = b.pooled(statistic) / base if base else math.nan
        replicates = b.pooled(statistic, weights_b) / a.pooled(statistic, weights_a)
    finite = replicates[np.isfinite(replicates)]
    if not math.isfinite(ratio) or finite.size < len(replicates) / 2:
        return ratio, (math.nan, math.nan), replicates
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, (tail, 100 - tail))
    return ratio, (float(low), float(high)), replicates


def significant_ratio(p_value, ci, alpha=0.05):
    """Whether a ratio differs from 1: ``p_value`` below ``alpha`` and a ``ci`` (low,
    high) that excludes 1 (a nan interval, from too few finite replicates, does not)."""
    low, high = ci
    return bool(p_value < alpha and low == low and not low <= 1 <= high)


def bootstrap_p_value(replicates, null=1.0):
    """Two-sided bootstrap p-value that the ratio is ``null``: twice the smaller share
    of replicates on either side of it (each count plus one, so never 0)."""
    replicates = np.asarray(replicates, dtype=np.float64)
    replicates = replicates[np.isfinite(replicates)]
    if replicates.size == 0:
        return 1.0
    below = int((replicates <= null).sum()) + 1
    above = int((replicates >= null).sum()) + 1
    return float(min(1.0, 2 * min(below, above) / (replicates.size + 1)))


def modes(values, resolution=1.0, min_share=0.05, per_octave=8):
    """The modes of a latency distribution, as [(value_ns, share), ...] by value.

    The density is taken on a log scale (``per_octave`` bins per doubling) with each
    sample spread evenly over +-``resolution`` ns, so that the steps of a clock that
    ticks in ``resolution`` ns are not taken for modes, then smoothed over neighbouring
    bins. Two peaks are distinct modes when the density between them falls below half
    of the lower one; modes holding less than ``min_share`` of the samples (a tail of
    interrupted calls) are left out. A mode's value is its most frequent sample."""
    array = _as_ns(values, "modes").astype(np.float64)
    if array.size == 0:
        return []
    resolution = max(float(resolution), 0.5)
    distinct, counts = np.unique(np.maximum(array, 0.0), return_counts=True)
    # Shifted so that every spread interval lies above 0, where logarithms are defined.
    centers = distinct + 2 * resolution
    low = math.log2(centers[0] - resolution)
    high = math.log2(centers[-1] + resolution)
    bins = max(1, int(math.ceil((high - low) * per_octave)))
    edges = 2.0 ** np.linspace(low, high, bins + 1)
    cumulative = np.r_[0, np.cumsum(counts)].astype(np.float64)
    mass_below = np.empty(bins + 1)
    for k, edge in enumerate(edges):  # sample mass below each edge, intervals spread
        full = np.searchsorted(centers + resolution, edge, side="right")
        partial = np.searchsorted(centers - resolution, edge, side="left")
        share = np.clip((edge - (centers[full:partial] - resolution)) / (2 * resolution),
                        0, 1)
        mass_below[k] = cumulative[full] + float((counts[full:partial] * share).sum())
    mass = np.diff(mass_below)
    density = np.convolve(np.r_[mass[:1], mass, mass[-1:]], [0.25, 0.5, 0.25], "valid")
    peaks = [k for k in range(bins) if density[k] > 0
             and (k == 0 or density[k] > density[k - 1])
             and (k == bins - 1 or density[k] >= density[k + 1])]
    merged = True
    while merged and len(peaks) > 1:
        merged = False
        for left, right in zip(peaks, peaks[1:]):
            if density[left:right + 1].min() >= 0.5 * min(density[left], density[right]):
                peaks.remove(left if density[left] < density[right] else right)
                merged = True
                break
    cuts = [0] + [left + int(np.argmin(density[left:right + 1]))
                  for left, right in zip(peaks, peaks[1:])] + [bins]
    result = []
    for start, stop in zip(cuts, cuts[1:]):
        inside = (centers >= edges[start]) & (centers < edges[stop] if stop < bins
                                               else centers <= edges[-1])
        share = float(counts[inside].sum()) / array.size
        if share >= min_share:
            result.append((float(distinct[inside][np.argmax(counts[inside])]), share))
    return result


def render_histogram(edges: npt.ArrayLike, counts: npt.ArrayLike, width: int = 40) -> str:
    """Text bars for a histogram from ``log_histogram``: its ``edges`` and ``counts``, the
    longest bar ``width`` characters. Empty buckets at the ends are left out, empty ones
    between kept (the gaps are information). Each bar ends with its count and its share
    of all values."""
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
