"""The statistics behind compare() and compare-runs, on synthetic inputs with known
answers: the exact rank tests against brute-force enumeration, the pooled statistics
of the bootstrap against numpy on the repeated samples, Holm's adjustment on a worked
example, and mode counting on seeded mixtures. Nothing here is timed."""

import itertools
import math

import numpy as np
import pytest

from vdsotime import stats


def brute_signed_rank(d):
    """The signed-rank p-value by enumerating every sign pattern (the definition)."""
    d = np.asarray([x for x in d if x != 0], dtype=float)
    if d.size == 0:
        return 1.0
    ranks = _midranks(np.abs(d))
    center = ranks.sum() / 2
    observed = abs(ranks[d > 0].sum() - center)
    hits = sum(abs(sum(r for r, s in zip(ranks, signs) if s) - center) >= observed - 1e-9
               for signs in itertools.product((0, 1), repeat=d.size))
    return hits / 2 ** d.size


def brute_rank_sum(x, y):
    """The rank-sum p-value by enumerating every split of the pooled values."""
    pooled = np.concatenate([x, y]).astype(float)
    ranks = _midranks(pooled)
    m = len(x)
    center = m * ranks.sum() / len(pooled)
    observed = abs(ranks[:m].sum() - center)
    splits = list(itertools.combinations(range(len(pooled)), m))
    hits = sum(abs(ranks[list(split)].sum() - center) >= observed - 1e-9 for split in splits)
    return hits / len(splits)


def _midranks(values):
    """Midranks by the textbook rule, independently of stats._doubled_midranks."""
    values = list(values)
    return np.array([sum(v < value for v in values) + (sum(v == value for v in values) + 1) / 2
                     for value in values])


@pytest.mark.parametrize("seed", range(6))
def test_signed_rank_test_is_the_exact_permutation_test(seed):
    rng = np.random.default_rng(seed)
    # Small integers: ties among |d| and zeros, the cases midranks and dropping handle.
    d = rng.integers(-4, 6, size=rng.integers(3, 13))
    assert stats.signed_rank_test(d) == pytest.approx(brute_signed_rank(d), abs=1e-12)


def test_signed_rank_test_edge_cases():
    assert stats.signed_rank_test([0, 0, 0]) == 1.0
    assert stats.signed_rank_test([]) == 1.0
    # Ten positive differences: only all-positive and all-negative are as extreme.
    assert stats.signed_rank_test(np.arange(1, 11)) == pytest.approx(2 / 2 ** 10)
    with pytest.raises(ValueError, match="differences must be finite"):
        stats.signed_rank_test([1.0, float("nan")])


def test_signed_rank_normal_approximation_agrees_with_the_exact_test(monkeypatch):
    rng = np.random.default_rng(11)
    d = rng.normal(0.3, 1, size=80)
    exact = stats.signed_rank_test(d)
    monkeypatch.setattr(stats, "EXACT_SIGNED_RANK", 10)
    assert stats.signed_rank_test(d) == pytest.approx(exact, abs=0.01)


def test_signed_rank_false_positive_rate_is_at_most_its_level():
    """Under the null (differences symmetric about 0), P(p < 0.05) <= 0.05 for an exact
    test. 4000 seeded datasets of 20 differences: the share below 0.05 is within the
    level plus 3 standard errors (0.0103) -- fixed by the seed, so not flaky."""
    rng = np.random.default_rng(2024)
    p = np.array([stats.signed_rank_test(rng.normal(size=20)) for _ in range(4000)])
    assert (p < 0.05).mean() <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)


@pytest.mark.parametrize("seed", range(6))
def test_rank_sum_test_is_the_exact_permutation_test(seed):
    rng = np.random.default_rng(100 + seed)
    x = rng.integers(0, 6, size=rng.integers(2, 7))
    y = rng.integers(1, 8, size=rng.integers(2, 7))
    assert stats.rank_sum_test(x, y) == pytest.approx(brute_rank_sum(x, y), abs=1e-12)


def test_rank_sum_test_edge_cases_and_approximation(monkeypatch):
    assert stats.rank_sum_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert stats.rank_sum_test([5, 5], [5, 5]) == 1.0
    with pytest.raises(ValueError, match="x and y must both have values"):
        stats.rank_sum_test([], [1])
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1, 25), rng.normal(0.5, 1, 25)
    exact = stats.rank_sum_test(x, y)
    monkeypatch.setattr(stats, "EXACT_RANK_SUM", 10)
    assert stats.rank_sum_test(x, y) == pytest.approx(exact, abs=0.01)


def test_holm_worked_example():
    # Sorted: 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> monotone: 0.06.
    assert stats.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.2]).tolist() == [0.2]
    assert stats.holm([0.9, 0.8]).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("statistic", [0, 50, 90, 99, 99.9, 100, "mean"])
def test_pooled_statistics_equal_numpy_on_the_repeated_samples(statistic):
    """pooled(statistic, weights) is numpy's figure for the samples of every cluster
    repeated weight times -- checked on the repeated arrays themselves."""
    rng = np.random.default_rng(3)
    clusters = [rng.integers(0, 50, size=rng.integers(1, 40)) for _ in range(7)]
    clustered = stats.ClusteredSamples(clusters)
    pooled = np.concatenate(clusters)
    expected = pooled.mean() if statistic == "mean" else np.percentile(pooled, statistic)
    assert clustered.pooled(statistic) == pytest.approx(expected, rel=1e-12)
    weights = rng.integers(0, 4, size=(25, 7))
    weights[:, 0] += 1  # never an empty resample
    got = clustered.pooled(statistic, weights)
    for row, value in zip(weights, got):
        repeated = np.concatenate([np.repeat(c[None, :], w, axis=0).ravel()
                                   for c, w in zip(clusters, row)])
        want = repeated.mean() if statistic == "mean" else np.percentile(repeated, statistic)
        assert value == pytest.approx(want, rel=1e-12, abs=1e-12)
    if statistic != "mean":
        assert clustered.per_cluster(statistic).tolist() == pytest.approx(
            [np.percentile(c, statistic) for c in clusters])


def test_many_distinct_values_keep_three_significant_digits():
    rng = np.random.default_rng(8)
    clusters = [rng.integers(10_000, 10_000_000, size=15_000) for _ in range(2)]
    clustered = stats.ClusteredSamples(clusters)
    assert clustered.values.size < stats.ClusteredSamples.MAX_DISTINCT
    exact = np.percentile(np.concatenate(clusters), 50)
    assert clustered.pooled(50) == exact  # the point estimate stays exact
    ones = np.ones((1, 2))
    assert clustered.pooled(50, ones)[0] == pytest.approx(exact, rel=5e-4)



def test_hdr_buckets_keep_three_significant_digits():
    """HdrHistogram's buckets at 3 significant digits: exact below 2048, above each
    bucket's middle value within 1/2048 of every value in it; buckets grow with the
    values, each value's bucket holds its middle value, up to the largest int64."""
    rng = np.random.default_rng(9)
    edges = np.array([2**k for k in range(63)] + [2**k - 1 for k in range(1, 64)],
                     dtype=np.int64)  # each side of every doubling, up to 2**63 - 1
    values = np.unique(np.r_[np.arange(70_000), rng.integers(0, 2**63 - 1, 50_000), edges])
    index = stats.hdr_index(values)
    middle = stats.hdr_value(index)
    assert (np.diff(index) >= 0).all() and index.max() == 55_295
    assert (stats.hdr_index(middle) == index).all()
    assert (middle[values < 2048] == values[values < 2048]).all()
    error = np.abs(middle.astype(np.float64) - values) / np.maximum(values, 1)
    assert error.max() <= 1 / 2048
    with pytest.raises(ValueError, match="values must be >= 0"):
        stats.hdr_index([5, -1])


def test_cluster_weights_draw_whole_clusters_and_groups():
    rng = np.random.default_rng(1)
    weights = stats.cluster_weights(12, 500, rng)
    assert weights.shape == (500, 12) and (weights.sum(axis=1) == 12).all()
    groups = np.repeat([0, 1, 2], [2, 3, 7])
    weights = stats.cluster_weights(12, 500, rng, groups)
    # Each drawn copy of a group draws as many rounds as the group has: per group the
    # weights sum to a multiple of its size, and the copies add up to the 3 groups.
    sizes = np.array([2, 3, 7])
    per_group = np.stack([weights[:, groups == g].sum(axis=1) for g in range(3)], axis=1)
    assert (per_group % sizes == 0).all()
    assert (per_group // sizes).sum(axis=1).tolist() == [3] * 500
    # Groups are drawn whole: some resamples leave a group out entirely.
    assert ((per_group == 0).any(axis=1)).any()


def test_bootstrap_ratio_of_a_known_ratio():
    rng = np.random.default_rng(4)
    base = [rng.integers(100, 200, size=50) for _ in range(10)]
    a = stats.ClusteredSamples(base)
    b = stats.ClusteredSamples([3 * cluster for cluster in base])
    weights = stats.cluster_weights(10, 300, rng)
    ratio, (low, high), replicates = stats.bootstrap_ratio(a, b, 50, weights, weights)
    assert ratio == pytest.approx(3) and low == pytest.approx(3) and high == pytest.approx(3)
    assert stats.bootstrap_p_value(replicates) == pytest.approx(2 / 301)
    assert stats.bootstrap_p_value(np.ones(99)) == 1.0


def test_bootstrap_ratio_when_the_baseline_is_zero():
    a = stats.ClusteredSamples([np.zeros(5, dtype=np.int64)] * 3)
    b = stats.ClusteredSamples([np.ones(5, dtype=np.int64)] * 3)
    weights = stats.cluster_weights(3, 50, np.random.default_rng(0))
    ratio, ci, _ = stats.bootstrap_ratio(a, b, 50, weights, weights)
    assert math.isnan(ratio) and all(math.isnan(x) for x in ci)


def test_modes_of_seeded_mixtures():
    rng = np.random.default_rng(9)
    one = rng.lognormal(math.log(500), 0.1, 20_000)
    two = np.concatenate([rng.lognormal(math.log(500), 0.05, 12_000),
                          rng.lognormal(math.log(1000), 0.05, 8_000)])
    [(value, share)] = stats.modes(one.astype(np.int64), 10)
    assert 450 < value < 550 and share == 1.0
    (low, low_share), (high, high_share) = stats.modes(two.astype(np.int64), 10)
    assert 450 < low < 550 and 900 < high < 1100
    assert low_share == pytest.approx(0.6, abs=0.01) and high_share == pytest.approx(0.4, abs=0.01)
    # A tail of 1 % interrupted calls is not a mode.
    tail = np.concatenate([one, rng.lognormal(math.log(50_000), 0.3, 200)])
    assert len(stats.modes(tail.astype(np.int64), 10)) == 1


def test_modes_ignore_the_steps_of_a_coarse_clock():
    """A clock that ticks in 10 ns makes 7, 17, 27 ns out of one speed: one mode."""
    rng = np.random.default_rng(10)
    quantized = rng.choice([7, 8, 17, 18, 27, 37], p=[0.06, 0.02, 0.6, 0.25, 0.05, 0.02],
                           size=50_000)
    assert len(stats.modes(quantized, 10)) == 1
    assert len(stats.modes(quantized, 1)) >= 2  # at 1 ns resolution the steps would show
    assert stats.modes(np.array([], dtype=np.int64)) == []
