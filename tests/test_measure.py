"""Measurement tools: overhead, bench, jitter and the statistics, with bad input, the
accuracy goal (against timeit) and the recall goal (an injected SIGSTOP) in children."""

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time as stdlib_time

import numpy as np
import pytest

import vdsotime
from vdsotime import stats

import kernel
from oracle import (COUNTED_CALLS_CHILD, NEUTRAL_CWD, interrupt_child, interrupt_once_counted,
                    run_python)


# -- overhead -------------------------------------------------------------------------

def test_overhead_of_monotonic():
    result = vdsotime.overhead(vdsotime.CLOCK_MONOTONIC, n=50_000)
    assert isinstance(result, vdsotime.ClockStats)
    assert result.n == 50_000 and result.clock_id == 1
    assert 0 < result.ns_per_call < 100_000
    assert result.getres_ns == kernel.clock_getres_ns(1)
    assert result.resolution_ns is not None and result.resolution_ns >= 1
    assert result.min_ns <= result.p50_ns <= result.p90_ns <= result.p99_ns \
        <= result.p999_ns <= result.max_ns
    assert "CLOCK_MONOTONIC" in str(result) and "ns per call" in str(result)
    assert json.loads(json.dumps(result.to_dict()))["n"] == 50_000



def test_result_reprs_show_durations_with_units_and_keep_the_values():
    """People read reprs too: a duration field (*_ns, *ns_per_call) shows its unit and
    fixed decimals, other floats 6 significant digits; the attributes, to_dict() and
    JSON keep every digit."""
    from vdsotime._bench.comparison import Contrast
    from vdsotime._bench.measure import ClockStats

    stats_ = ClockStats(clock_id=1, n=100_000, ns_per_call=20.17925, resolution_ns=None,
                        getres_ns=4_000_000, min_ns=19, p50_ns=20.0, p90_ns=21.5,
                        p99_ns=40.25, p999_ns=328.002, max_ns=12_345,
                        mean_ns=20.0972909729)
    assert repr(stats_) == (
        "ClockStats(clock_id=1, n=100000, ns_per_call=20.2 ns, resolution_ns=None, "
        "getres_ns=4.00 ms, min_ns=19 ns, p50_ns=20.0 ns, p90_ns=21.5 ns, p99_ns=40.2 ns, "
        "p999_ns=328.0 ns, max_ns=12.35 us, mean_ns=20.1 ns)")
    assert stats_.mean_ns == 20.0972909729 and stats_.to_dict()["p999_ns"] == 328.002
    assert "resolution none seen in 100,000 reads (clock_getres 4.00 ms)" in str(stats_)
    assert json.loads(json.dumps(stats_.to_dict()))["ns_per_call"] == 20.17925
    result = vdsotime.LatencyResult("f", np.array([5], dtype=np.int64), 21.123456, 1, 10)
    assert "overhead_ns=21.1 ns, n=1, warmup=10" in repr(result)
    contrast = Contrast("b", "a", 1.0234567891, (0.99, 1.0512345678), 0.000123456789, False,
                        1.0, (1.0, 2.0), 1.0, False)
    assert repr(contrast).startswith("Contrast(name='b', baseline='a', ratio=1.02346, "
                                     "ci=(0.99, 1.05123), p_value=0.000123457, "
                                     "significant=False, ratio_p99=1.0, ci_p99=(1.0, 2.0)")
    # The rule is the record base's, for every record (JitterResult's start_ns, a clock
    # reading, is no duration: the integer it is).
    from vdsotime._core.record import Record

    class Run(Record):
        __slots__ = ()
        duration_ns: int
        threshold_ns: float
        start_ns: int
        offsets_ns: tuple

    assert repr(Run(1_500_000_000, 10_000.0, 123_456_789_012, (-106.25, 85))) == (
        "Run(duration_ns=1.50 s, threshold_ns=10.00 us, start_ns=123456789012, "
        "offsets_ns=(-106.2 ns, 85 ns))")



@pytest.mark.parametrize("name", ["CLOCK_MONOTONIC", "CLOCK_MONOTONIC_COARSE"])
def test_clock_step_reads_until_it_has_seen_two_steps(name):
    """A coarse clock's tick can fall between none of n fast reads (a run saw 4 ms, the
    next none): clock_step reads on until it has seen two steps, so the readings span
    two steps at least, each as large as the smallest."""
    from vdsotime._bench import measure

    step, reads, span = measure.clock_step(getattr(vdsotime, name), n=1_000)
    assert step is not None and step >= 1 and reads >= 1_000
    assert span >= 2 * step


def test_clock_step_of_a_frozen_clock_is_none_after_its_time():
    from vdsotime._bench import measure
    from vdsotime.testing import mock_clock

    with mock_clock(start_ns=10**12, step_ns=0):
        step, reads, span = measure.clock_step(vdsotime.CLOCK_MONOTONIC, n=100, seconds=0.05)
    assert (step, span) == (None, 0) and reads >= 100


def test_overhead_of_a_coarse_clock_sees_its_tick():
    result = vdsotime.overhead(vdsotime.CLOCK_MONOTONIC_COARSE, n=200_000)
    getres = kernel.clock_getres_ns(vdsotime.CLOCK_MONOTONIC_COARSE)
    assert result.getres_ns == getres
    # Back-to-back coarse reads mostly repeat; any step seen is a whole tick or more.
    assert result.p50_ns == 0
    assert result.resolution_ns is None or result.resolution_ns >= getres // 2


@pytest.mark.parametrize("call,error,message", [
    (lambda: vdsotime.overhead(99), OSError, "not a clock this kernel knows"),
    (lambda: vdsotime.overhead(1.5), TypeError, "clock_id must be an integer"),
    (lambda: vdsotime.overhead(1, n=1), ValueError, "n must be >= 2"),
    (lambda: vdsotime.overhead(1, n=0), ValueError, "n must be >= 2"),
    (lambda: vdsotime.overhead(1, n=2.0), TypeError, "n must be an integer"),
])
def test_overhead_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- bench ----------------------------------------------------------------------------

def test_bench_measures_each_call():
    calls = []

    def work(x, y=0):
        calls.append((x, y))
        stdlib_time.sleep(0.0002)

    result = vdsotime.bench(work, 3, y=4, n=50, warmup=5)
    assert isinstance(result, vdsotime.LatencyResult)
    assert result.samples_ns.dtype == np.int64 and len(result.samples_ns) == 50
    assert result.n == 50 and result.warmup == 5
    assert len(calls) > 50 and set(calls) == {(3, 4)}
    assert result.percentile(50) >= 200_000  # each call sleeps 200 us
    summary = result.summary()
    assert set(summary) >= {"min", "p50", "p90", "p99", "p99.9", "max", "mean", "stdev"}
    assert summary["min"] <= summary["p50"] <= summary["p99.9"] <= summary["max"]
    assert 0 < result.overhead_ns < 10_000
    text = str(result)
    assert "work" in text and "p99.9" in text and "median" in text


def test_bench_subtracts_overhead_and_clamps_at_zero():
    result = vdsotime.bench(int, n=20_000)  # about as cheap as a call gets
    assert np.all(result.samples_ns >= 0)
    assert result.overhead_ns > 0


def test_bench_subtracts_the_trimmed_mean_of_the_timer_exactly(monkeypatch):
    """The overhead subtraction, checked exactly: the per-call samples are the raw
    timings minus the rounded trimmed mean of the timer's own readings, clamped at 0.
    The timings come from stand-ins for the two timing loops, so nothing depends on how
    fast this machine is."""
    from vdsotime._bench import engine

    raw_pattern = np.array([100, 30, 45, 250, 20, 45], dtype=np.int64)
    # 1000 timer readings per step: 990 of 40 ns, 10 of 41 ns... and the trimmed slowest
    # 1 % would add a 10,000 ns outlier if it were counted.
    timer_pattern = np.array([40] * 980 + [41] * 10 + [10_000] * 10, dtype=np.int64)

    def fake_time_calls(function, args, kwargs, out, start, stop, tsc=False):
        assert not tsc
        for i in range(start, stop):
            out[i] = raw_pattern[i % len(raw_pattern)]
        return stop - start

    def fake_timer_overhead(out, tsc=False):
        assert not tsc
        out[:] = timer_pattern[:len(out)]

    monkeypatch.setattr(engine.driver, "time_calls", fake_time_calls)
    monkeypatch.setattr(engine.driver, "timer_overhead", fake_timer_overhead)
    result = vdsotime.bench(len, [], n=600, warmup=0, timer="monotonic")
    kept = timer_pattern[timer_pattern <= np.percentile(timer_pattern, 99)]
    assert result.overhead_ns == kept.mean() == (980 * 40 + 10 * 41) / 990
    expected = np.maximum(np.tile(raw_pattern, 100) - 40, 0)  # round(40.01...) == 40
    assert np.array_equal(result.samples_ns, expected)
    assert result.samples_ns.dtype == np.int64


@pytest.mark.parametrize("tsc", [False, True])
def test_bench_result_allocates_no_array_of_the_runs_size(tsc):
    """Turning raw timings into the result works in place: on Ctrl-C the partial result
    of a long run is built before the KeyboardInterrupt reaches the caller, and a new
    array of the run's size would be time (first-touch page faults) between the signal
    and the answer."""
    import tracemalloc

    from vdsotime._bench import engine

    n = 1_000_000
    raw = np.full(n, 500, dtype=np.int64)
    overheads = np.full(1000, 40, dtype=np.int64)
    timer = engine.Timer("tsc", 0.5) if tsc else engine.Timer("monotonic")
    engine._latency("len", raw[:10].copy(), overheads, 10, 0, timer, {})  # warm up
    tracemalloc.start()
    try:
        result = engine._latency("len", raw, overheads, n, 0, timer, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.samples_ns.dtype == np.int64 and len(result.samples_ns) == n
    assert np.all(result.samples_ns == (230 if tsc else 460))  # (500 - 40) ticks * 0.5
    assert peak < 8 * n // 4, peak  # the TSC conversion's rows, nothing of n's size


def test_bench_propagates_exceptions_and_carries_on():
    def broken():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        vdsotime.bench(broken, n=10)
    assert vdsotime.bench(len, [], n=10).n == 10


@pytest.mark.parametrize("call,error,message", [
    (lambda: vdsotime.bench(42), TypeError, "fn must be callable, got int"),
    (lambda: vdsotime.bench(len, [], n=0), ValueError, "n must be >= 1"),
    (lambda: vdsotime.bench(len, [], n=-5), ValueError, "n must be >= 1"),
    (lambda: vdsotime.bench(len, [], n=1.5), TypeError, "n must be an integer"),
    (lambda: vdsotime.bench(len, [], warmup=-1), ValueError, "warmup must be >= 0"),
])
def test_bench_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("per_call_ns,expected", [
    (1, (1_000_000, 1000)),          # cheap calls: the ceiling
    (1_000, (1_000_000, 1000)),      # a second's worth would be 10**6
    (2_000, (500_000, 1000)),
    (250_000, (4_000, 40)),          # a second's worth, 1 % warm-up
    (5_000_000, (200, 10)),          # warm-up floor
    (20_000_000, (100, 10)),         # the floor of 100 calls
    (0.25, (1_000_000, 1000)),       # sub-ns estimates count as 1 ns
])
def test_default_counts_rule(per_call_ns, expected):
    from vdsotime._bench import engine

    assert engine.default_counts(per_call_ns) == expected


def test_bench_chooses_its_counts_from_the_probe(monkeypatch):
    """bench() without n or warmup applies the rule to the probe's median per-call time."""
    from vdsotime._bench import engine

    seen = []
    rule = engine.default_counts

    def spy(per_call_ns):
        seen.append(per_call_ns)
        return rule(per_call_ns)

    monkeypatch.setattr(engine, "default_counts", spy)
    result = vdsotime.bench(stdlib_time.sleep, 0.002)
    [estimate] = seen
    assert estimate >= 2_000_000  # the probe timed real 2 ms sleeps
    assert (result.n, result.warmup) == rule(estimate)



# -- the one warm-up rule ---------------------------------------------------------------
#
# The docs, the docstrings and the help say: n/100 untimed calls first, 10 to 1000,
# whether n was given or chosen, in bench and compare, in this process or in workers.
# Counted here by the callables themselves: warmup + n calls, nothing more (the first
# calls estimate the cost of one, and are the first of the warm-up); compare() and
# bench(processes=) choose an n not given from a probe of 10 calls in this process.

def warmup_rule(n):
    return min(1000, max(10, n // 100))


@pytest.mark.parametrize("n", [5, 2_500, 150_000])
def test_bench_warms_up_by_the_rule_for_a_given_n(n):
    calls = itertools.count()
    result = vdsotime.bench(calls.__next__, n=n)
    warmup = warmup_rule(n)
    assert (result.n, result.warmup, result.metadata["warmup"]) == (n, warmup, warmup)
    assert next(calls) == warmup + n



@pytest.mark.parametrize("n,warmup", [(3, 0), (1, 2), (20, 0), (4, 30), (50_000, 0)])
def test_bench_calls_fn_exactly_warmup_plus_n_times(n, warmup):
    """No hidden calls: the calls that estimate fn's cost are the first of the warm-up,
    or of the timed ones (a function that takes seconds is not run twice as often)."""
    calls = itertools.count()
    result = vdsotime.bench(calls.__next__, n=n, warmup=warmup)
    assert next(calls) == warmup + n
    assert (result.n, result.warmup, len(result.samples_ns)) == (n, warmup, n)


def test_bench_warms_up_by_the_rule_for_a_chosen_n():
    calls = itertools.count()

    def work():
        next(calls)
        return sum(range(2000))

    result = vdsotime.bench(work)
    assert result.warmup == warmup_rule(result.n) == result.metadata["warmup"]
    assert next(calls) == result.warmup + result.n


@pytest.mark.parametrize("n", [None, 3_000])
def test_compare_warms_up_by_the_rule_each_round(n):
    counters = {"a": itertools.count(), "b": itertools.count()}
    comparison = vdsotime.compare({name: counter.__next__ for name, counter in
                                   counters.items()}, n=n, rounds=3)
    for name, counter in counters.items():
        result = comparison.results[name]
        [per_round] = set(comparison.round_sizes[name].tolist())
        assert n is None or per_round == n
        warmup = warmup_rule(per_round)
        assert result.warmup == 3 * warmup
        probe = 10 if n is None else 0  # compare's probe, which chooses n
        assert next(counter) == probe + 3 * (warmup + per_round)


@pytest.mark.slow
@pytest.mark.parametrize("n", [None, 300])
def test_bench_in_processes_warms_up_by_the_rule_in_each(tmp_path, n):
    """The statement counts its calls in a file, across the processes (and this one's
    probe, which chooses n when it is not given)."""
    counter = tmp_path / "calls"
    setup = f"calls = open({str(counter)!r}, 'ab', buffering=0)"
    statement = "calls.write(b'x'); sum(range(3000))"
    result = vdsotime.bench(statement, setup=setup, n=n, processes=2)
    per_process = result.metadata["n_per_process"]
    assert n is None or per_process == n
    warmup = warmup_rule(per_process)
    assert result.metadata["warmup_per_process"] == warmup
    assert result.warmup == 2 * warmup and result.n == 2 * per_process
    probe = 10 if n is None else 0
    assert counter.stat().st_size == probe + 2 * (warmup + per_process)


def test_the_warmup_rule_is_the_one_the_texts_state():
    """bench --help, compare --help and the docstrings of bench() and compare() state
    the rule that runs; the help is built from the rule's constants."""
    from vdsotime._bench import defaults

    assert [defaults.default_warmup(n) for n in (0, 999, 1_000, 2_345, 100_000, 10**9)] \
        == [warmup_rule(n) for n in (0, 999, 1_000, 2_345, 100_000, 10**9)]
    assert defaults.WARMUP_RULE == "n/100, 10 to 1000"
    for command in ("bench", "compare"):
        text = " ".join(run_python(f"from vdsotime import cli; cli.main([{command!r}, "
                                   "'--help'])").stdout.split())
        assert f"(default {defaults.WARMUP_RULE})" in text, text
    for function in (vdsotime.bench, vdsotime.compare):
        text = " ".join(function.__doc__.split()).replace("n / 100", "n/100")
        assert f"default {defaults.WARMUP_RULE}" in text, function.__name__


def test_bench_command_warms_up_by_the_rule():
    result = run_python("from vdsotime import cli; cli.main(['bench', '--json', '-n', "
                        "'2500', 'pass'])")
    assert json.loads(result.stdout)["warmup"] == warmup_rule(2500) == 25, result.stderr


def test_bench_refuses_an_n_it_cannot_store_before_allocating():
    calls = []
    if sys.maxsize < 10**14:  # a 32-bit build: such an n is not even an array size
        error, message = OverflowError, r"bench\(\): n is too large for this 32-bit build"
    else:
        error, message = ValueError, (r"bench\(\): n=100,000,000,000,000 needs .* GiB for "
                                      r"its samples; this machine has .* available")
    with pytest.raises(error, match=message):
        vdsotime.bench(calls.append, 1, n=10**14)
    assert calls == []  # refused before the first call


def test_bench_refuses_a_warmup_it_cannot_store_before_calling():
    calls = []
    if sys.maxsize < 10**14:
        error, message = OverflowError, r"bench\(\): warmup is too large for this 32-bit build"
    else:
        error, message = ValueError, (r"bench\(\): warmup=100,000,000,000,000 needs .* GiB "
                                      r"for its samples")
    with pytest.raises(error, match=message):
        vdsotime.bench(calls.append, 1, n=5, warmup=10**14)
    assert calls == []


BENCH_INTERRUPT_CHILD = COUNTED_CALLS_CHILD + textwrap.dedent("""
    calls = open(sys.argv[1], "ab", buffering=0)

    def call():
        calls.write(b"x")
        time.sleep(0.001)

    try:
        vdsotime.bench(call, n=100_000, warmup=10)
        print("finished")
    except KeyboardInterrupt as exc:
        partial = exc.partial_result
        print("interrupted", partial.n, len(partial.samples_ns),
              bool((partial.samples_ns >= 900_000).all()), flush=True)
""")


def test_bench_ctrl_c_keeps_the_calls_timed_so_far(tmp_path):
    """The signal comes once 40 calls were counted in a file: 10 warm-up, 30 timed
    begun (the last perhaps still running)."""
    out, err, _ = interrupt_once_counted(BENCH_INTERRUPT_CHILD, tmp_path / "calls", 40,
                                         "process")
    words = out.split()
    assert words[0] == "interrupted", out + err
    n, length = int(words[1]), int(words[2])
    assert 29 <= n == length < 100_000
    assert words[3] == "True"


BENCH_STATEMENT_INTERRUPT_CHILD = COUNTED_CALLS_CHILD + textwrap.dedent("""
    try:
        vdsotime.bench(statement, setup=setup, n=100_000, warmup=5)
    except KeyboardInterrupt as exc:
        partial = exc.partial_result
        print("interrupted", partial.name == statement, partial.metadata["name"] == statement,
              partial.metadata["statement"] == statement, partial.n, flush=True)
""")


def test_bench_ctrl_c_names_a_statements_partial_result_after_the_statement(tmp_path):
    """The partial result of an interrupted bench("stmt") is named after the statement,
    as the whole result is (not after the function it was compiled into). The signal
    comes once the statement has counted 60 calls in a file: 5 warm-up, then 55 timed begun."""
    out, err, _ = interrupt_once_counted(BENCH_STATEMENT_INTERRUPT_CHILD, tmp_path / "calls",
                                         60, "process")
    words = out.split()
    assert words[:4] == ["interrupted", "True", "True", "True"], out + err
    assert 54 <= int(words[4]) < 100_000, out + err  # the 60th call perhaps running


# -- jitter ---------------------------------------------------------------------------

def test_jitter_structure():
    result = vdsotime.jitter(0.3, threshold_ns=2_000)
    assert isinstance(result, vdsotime.JitterResult)
    assert result.gaps.dtype.names == ("start_ns", "length_ns", "cpu")
    assert result.duration_ns >= 0.3e9  # and longer under load: a stall is what it measures
    assert result.loops > 1000
    assert np.all(result.gaps["length_ns"] >= 2_000)
    assert np.all(np.diff(result.gaps["start_ns"]) > 0)
    # Every gap is counted; the list keeps the longest 1,000 (the default).
    assert result.gaps_kept == len(result.gaps) == min(result.gap_count, 1000)
    assert int(result.gap_histogram.sum()) == result.gap_count
    kept_sum = int(result.gaps["length_ns"].sum())
    assert result.stalled_ns == kept_sum if result.gaps_kept == result.gap_count \
        else result.stalled_ns > kept_sum
    assert result.max_gap_ns == (int(result.gaps["length_ns"].max()) if len(result.gaps) else 0)
    assert 0 <= result.stolen_percent < 100
    assert set(np.unique(result.gaps["cpu"])) <= set(range(os.cpu_count()))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["gaps"] == result.gap_count and data["loops"] == result.loops
    assert data["gaps_kept"] == len(data["gap_list"]) == result.gaps_kept
    assert sum(bucket["count"] for bucket in data["gap_histogram"]["buckets"]) == data["gaps"]
    assert "gaps" in str(result) and "stolen" in str(result)


def test_jitter_at_a_10ns_threshold_keeps_its_memory():
    """At a threshold below the cost of one read every read is a gap -- millions: the run
    counts them all, keeps the longest, warns once and allocates nothing as it goes."""
    import tracemalloc
    import warnings

    from vdsotime._bench.measure import JitterWarning

    def resident():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    vdsotime.jitter(0.01, threshold_ns=100_000)  # numpy and the modules loaded first
    before = resident()
    tracemalloc.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = vdsotime.jitter(0.3, threshold_ns=10, keep=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = resident() - before
    assert [w.category for w in caught] == [JitterWarning]
    assert "the threshold is about the cost of one read" in str(caught[0].message)
    # Every read but the few that landed in the same nanosecond-step is a gap; the old
    # gap buffer held 20 bytes for each (over 100 MB), the histogram and list ~10 KB.
    assert result.gap_count > result.loops // 2 and result.gap_count > 100_000
    assert peak < 1_000_000, peak
    assert grown < 8 * 2**20, grown
    assert result.gaps_kept == 100 and int(result.gap_histogram.sum()) == result.gap_count
    data = json.loads(json.dumps(result.to_dict()))
    assert data["gaps"] == result.gap_count and data["gaps_kept"] == 100
    assert len(data["gap_list"]) == 100
    assert f"the 100 longest of {result.gap_count:,} gaps" in str(result)


def _replayed(readings, threshold_ns, keep):
    """The JitterResult of ``readings`` fed to the loop's recording code."""
    from vdsotime._bench.measure import GAP_DTYPE, jitter_result
    from vdsotime._loops import driver

    run = driver.JitterRun(GAP_DTYPE, 10**9, threshold_ns, vdsotime.CLOCK_MONOTONIC, keep)
    run.replay(np.asarray(readings, dtype=np.int64))
    return jitter_result(run, threshold_ns, vdsotime.CLOCK_MONOTONIC)


def _bucket(length):
    """The oracle's histogram bucket: 16 per doubling o of the length, the j-th
    sixteenth of [2**o, 2**(o+1)) -- in Python integers."""
    octave = length.bit_length() - 1
    return 16 * octave + (length * 16 >> octave) - 16


def test_jitter_recording_counts_every_gap_exactly():
    rng = np.random.default_rng(20)
    # Steps from 1 ns to days, most short, and the exact edges of the buckets.
    steps = np.concatenate([rng.integers(1, 40, 20_000),
                            (10 ** rng.uniform(0, 14, 5_000)).astype(np.int64),
                            [2**k for k in range(50)], [2**k - 1 for k in range(2, 50)],
                            [17 * 2**k for k in range(40)]])
    rng.shuffle(steps)
    threshold = 25
    readings = np.concatenate([[10**12], 10**12 + np.cumsum(steps)])
    result = _replayed(readings, threshold, keep=50)
    gaps = [int(step) for step in steps if step >= threshold]
    assert result.loops == len(steps)
    assert result.gap_count == len(gaps)
    assert result.stalled_ns == sum(gaps)
    assert result.gap_min_ns == min(gaps) and result.max_gap_ns == max(gaps)
    expected = np.zeros(1008, dtype=np.int64)
    for gap in gaps:
        expected[_bucket(gap)] += 1
    assert np.array_equal(result.gap_histogram, expected)
    # The 50 longest, by length, then start (every start differs here), in start order.
    starts = readings[:-1][steps >= threshold]
    ranked = sorted(zip(gaps, starts.tolist()), key=lambda pair: (-pair[0], pair[1]))[:50]
    assert sorted(ranked, key=lambda pair: pair[1]) == list(
        zip(result.gaps["length_ns"].tolist(), result.gaps["start_ns"].tolist()))
    assert set(result.gaps["cpu"]) <= set(range(os.cpu_count()))


def test_jitter_recording_keeps_the_earliest_of_equal_gaps():
    # Gaps of 100 ns and 200 ns in turn, between them steps of 5 ns (no gap): a list of 3
    # keeps the first three 200s; one of 13, all ten 200s and the first three 100s.
    steps = [5, 100, 5, 200] * 10
    readings = np.concatenate([[0], np.cumsum(steps)])
    starts = readings[:-1]
    longest = _replayed(readings, 50, keep=3)
    assert longest.gaps["length_ns"].tolist() == [200, 200, 200]
    assert longest.gaps["start_ns"].tolist() == starts[[3, 7, 11]].tolist()
    assert longest.gap_count == 20 and longest.stalled_ns == 3000
    more = _replayed(readings, 50, keep=13)
    assert more.gaps["length_ns"].tolist() == [100, 200] * 3 + [200] * 7
    assert more.gaps["start_ns"].tolist() == starts[[1, 3, 5, 7, 9, 11, 15, 19, 23, 27, 31,
                                                      35, 39]].tolist()
    # A step of exactly the threshold is a gap; one under it is not.
    edge = _replayed([0, 49, 99, 148], 50, keep=5)
    assert edge.gaps["length_ns"].tolist() == [50] and edge.gap_count == 1


def test_jitter_recording_allocates_nothing():
    import tracemalloc

    from vdsotime._bench.measure import GAP_DTYPE
    from vdsotime._loops import driver

    readings = np.cumsum(np.random.default_rng(3).integers(1, 100_000, 1_000_000))
    run = driver.JitterRun(GAP_DTYPE, 10**9, 10, vdsotime.CLOCK_MONOTONIC, 1000)
    run.replay(readings[:10])
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        run.replay(readings[10:])
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert run.loops == 999_999 and run.count > 990_000
    assert after == before and peak - before < 1024, (before, after, peak)


def test_jitter_percentiles_and_histogram_to_bucket_precision():
    rng = np.random.default_rng(7)
    steps = (10 ** rng.uniform(1, 7, 50_000)).astype(np.int64)
    readings = np.concatenate([[0], np.cumsum(steps)])
    result = _replayed(readings, 10, keep=100)
    assert result.gap_count == len(steps) and result.gaps_kept == 100
    for q in (0, 1, 25, 50, 90, 99, 99.5, 99.9, 99.99, 100):
        exact = float(np.percentile(steps, q))
        assert abs(result.percentile(q) - exact) <= exact / 32 + 1, q
    # The top ranks are among the kept gaps: exact.
    assert result.percentile(100) == steps.max()
    assert result.percentile(99.9) == pytest.approx(np.percentile(steps, 99.9), rel=1e-12)
    figures = result.summary()
    assert figures["n"] == len(steps) and figures["mean"] == pytest.approx(steps.mean())
    assert figures["min"] == steps.min() and figures["max"] == steps.max()
    assert figures["stdev"] == pytest.approx(steps.std(ddof=1), rel=0.03)
    for per_octave in (1, 2, 4, 8, 16):
        edges, counts = result.histogram(per_octave)
        assert counts.sum() == len(steps) and len(edges) == len(counts) + 1
        inside = np.histogram(steps, edges)[0]
        assert np.array_equal(counts, inside), per_octave
    with pytest.raises(ValueError, match="per_octave must be 1, 2, 4, 8 or 16"):
        result.histogram(3)
    # A result built from the gaps alone, as before: every gap kept, exact.
    from vdsotime._bench.measure import GAP_DTYPE
    gaps = np.zeros(len(steps), dtype=GAP_DTYPE)
    gaps["length_ns"], gaps["start_ns"] = steps, readings[:-1]
    alone = vdsotime.JitterResult(gaps, len(steps), int(readings[-1]), 10, 1, 0)
    assert alone.gap_count == alone.gaps_kept == len(steps)
    assert alone.percentile(50) == np.percentile(steps, 50)
    assert np.array_equal(alone.histogram(4)[1], result.histogram(4)[1])
    assert alone.stalled_ns == result.stalled_ns == int(steps.sum())


def test_jitter_through_a_mock_clock():
    """Through the real loop: a mock clock that steps 50 ns at every reading makes every
    read a gap of exactly 50 ns, and the list keeps the first ones."""
    from vdsotime._bench.measure import JitterWarning
    from vdsotime.testing import mock_clock

    with mock_clock(start_ns=10**12, step_ns=50), pytest.warns(JitterWarning):
        result = vdsotime.jitter(0.05, threshold_ns=50, keep=10)
    assert result.loops > 1000 and result.gap_count == result.loops
    assert result.stalled_ns == 50 * result.loops and result.max_gap_ns == 50
    assert result.gap_min_ns == 50 and result.percentile(50) == 50
    assert np.flatnonzero(result.gap_histogram).tolist() == [_bucket(50)]
    assert result.gaps["length_ns"].tolist() == [50] * 10
    assert result.gaps["start_ns"].tolist() == [result.start_ns + 50 * k for k in range(10)]


@pytest.mark.parametrize("clock_id", [vdsotime.CLOCK_PROCESS_CPUTIME_ID,
                                      vdsotime.CLOCK_THREAD_CPUTIME_ID, "other thread"])
def test_jitter_refuses_cpu_time_clocks(clock_id):
    if clock_id == "other thread":
        import threading
        clock_id = stdlib_time.pthread_getcpuclockid(threading.main_thread().ident)
    with pytest.raises(ValueError, match="counts CPU time, which stops while the thread is "
                                         "not running"):
        vdsotime.jitter(10, clock_id=clock_id)


def test_jitter_refuses_a_threshold_at_or_below_the_resolution():
    coarse = vdsotime.CLOCK_REALTIME_COARSE
    resolution = kernel.clock_getres_ns(coarse)
    with pytest.raises(ValueError, match=r"threshold_ns=10,000 is not above the resolution "
                                         r"of CLOCK_REALTIME_COARSE"):
        vdsotime.jitter(10, threshold_ns=10_000, clock_id=coarse)
    with pytest.raises(ValueError, match="is not above the resolution of CLOCK_MONOTONIC"):
        vdsotime.jitter(10, threshold_ns=kernel.clock_getres_ns(1))
    # Above the tick, the coarse clock is a fine jitter clock.
    result = vdsotime.jitter(0.05, threshold_ns=resolution * 3, clock_id=coarse)
    assert result.loops > 0


JITTER_RECALL_CHILD = textwrap.dedent("""
    import sys, vdsotime
    vdsotime.jitter(0.001)  # numpy and the modules loaded before the clock starts
    print("ready", flush=True)
    result = vdsotime.jitter(2.0, threshold_ns=1_000_000)
    print(result.max_gap_ns, len(result.gaps))
""")


@pytest.mark.parametrize("attempt", range(3))
def test_jitter_reports_an_injected_sigstop(attempt):
    """The recall goal: a 150 ms SIGSTOP is always reported."""
    child = subprocess.Popen([sys.executable, "-c", JITTER_RECALL_CHILD], cwd=NEUTRAL_CWD,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        stdlib_time.sleep(0.4 + 0.2 * attempt)
        os.kill(child.pid, signal.SIGSTOP)
        stdlib_time.sleep(0.15)
        os.kill(child.pid, signal.SIGCONT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    max_gap, count = map(int, out.split())
    assert max_gap >= 140_000_000, (max_gap, err)
    assert count >= 1


def test_jitter_ctrl_c_returns_the_run_so_far():
    code = textwrap.dedent("""
        import signal, time, vdsotime
        signal.signal(signal.SIGINT, signal.default_int_handler)
        vdsotime.jitter(0.001)  # numpy and the modules loaded first
        print("ready", flush=True)
        try:
            vdsotime.jitter(60, threshold_ns=100)
        except KeyboardInterrupt as exc:
            now, result = time.monotonic(), exc.partial_result
            # interrupt_child() wants "interrupted <time>": say it only if the partial
            # result is the run so far.
            ok = (result.interrupted and result.loops > 1000 and 0.05e9 < result.duration_ns
                  and result.gap_count == int(result.gap_histogram.sum()) > 0
                  and result.stalled_ns >= result.max_gap_ns > 0)
            print("interrupted" if ok else "wrong", now, result, flush=True)
    """)
    assert interrupt_child(code) < 0.5


@pytest.mark.parametrize("call,error,message", [
    (lambda: vdsotime.jitter(-1), ValueError, "seconds must be a finite number > 0"),
    (lambda: vdsotime.jitter(float("nan")), ValueError, "seconds must be a finite number"),
    (lambda: vdsotime.jitter(float("inf")), ValueError, "seconds must be a finite number"),
    (lambda: vdsotime.jitter(0), ValueError, "seconds must be a finite number > 0"),
    (lambda: vdsotime.jitter("1"), TypeError, "seconds must be a number"),
    (lambda: vdsotime.jitter(1e12), ValueError, r"seconds must be from 1e-09 to 1e\+08 "),
    (lambda: vdsotime.jitter(0.01, threshold_ns=0), ValueError,
     "threshold_ns must be from 1 to 4,611,686,018,427,387,904, got 0"),
    (lambda: vdsotime.jitter(0.01, threshold_ns=2**63), ValueError,
     "threshold_ns must be from 1 to "),
    (lambda: vdsotime.jitter(0.01, threshold_ns=1e30), ValueError,
     "threshold_ns must be from 1 to "),
    (lambda: vdsotime.jitter(0.01, threshold_ns=float("nan")), ValueError, "threshold_ns"),
    (lambda: vdsotime.jitter(0.01, threshold_ns="5"), TypeError, "threshold_ns must be a number"),
    (lambda: vdsotime.jitter(0.01, clock_id=99), OSError, "not a clock this kernel knows"),
    (lambda: vdsotime.jitter(0.01, keep=0), ValueError, r"jitter\(\): keep must be"),
    (lambda: vdsotime.jitter(0.01, keep=2.5), TypeError, r"jitter\(\): keep must be"),
    # (a count that cannot be stored: a ValueError that says so, or on a 32-bit build,
    # where it is not even an array size, the OverflowError of every such count)
    (lambda: vdsotime.jitter(0.01, keep=2**62), (ValueError, OverflowError),
     r"jitter\(\): keep=[\d,]+ needs|jitter\(\): keep is too large for this 32-bit build"),
    # Beyond what the loop's 64-bit nanoseconds hold, or under one nanosecond: a clear
    # error naming the argument, not an OverflowError from the conversion.
    (lambda: vdsotime.jitter(1e10), ValueError, r"jitter\(\): seconds must be from 1e-09 to 1e\+08"),
    (lambda: vdsotime.jitter(1e300), ValueError, r"jitter\(\): seconds must be from"),
    (lambda: vdsotime.jitter(1e-12), ValueError, r"jitter\(\): seconds must be from"),
])
def test_jitter_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- statistics -----------------------------------------------------------------------

def test_summary_and_percentiles_match_numpy():
    rng = np.random.default_rng(7)
    values = rng.integers(10, 10**6, size=10_001).astype(np.int64)
    figures = stats.summary(values)
    assert figures["p50"] == float(np.median(values))
    assert figures["p99.9"] == float(np.percentile(values, 99.9))
    assert figures["min"] == values.min() and figures["max"] == values.max()
    assert math.isclose(figures["stdev"], values.std(ddof=1))
    assert stats.percentile(values, 90) == float(np.percentile(values, 90))
    with pytest.raises(ValueError, match="q must be a number from 0 to 100"):
        stats.percentile(values, 101)
    with pytest.raises(ValueError, match="no values"):
        stats.summary(np.array([], dtype=np.int64))


def test_log_histogram_counts_every_value_in_its_bucket():
    values = np.array([0, 1, 2, 3, 4, 7, 8, 1000, 1023, 1024, 10**9], dtype=np.int64)
    edges, counts = stats.log_histogram(values, per_octave=1)
    assert counts.sum() == len(values) and len(edges) == len(counts) + 1
    for value in values:
        k = np.searchsorted(edges, value, side="right") - 1
        assert edges[k] <= value < edges[k + 1]
    assert np.all(np.diff(edges) > 0)
    fine_edges, fine_counts = stats.log_histogram(values, per_octave=8)
    assert fine_counts.sum() == len(values)
    with pytest.raises(ValueError, match="per_octave"):
        stats.log_histogram(values, per_octave=0)


def test_render_histogram_text():
    edges, counts = stats.log_histogram(np.array([1000] * 90 + [50_000] * 10), 2)
    text = stats.render_histogram(edges, counts, width=20)
    lines = text.splitlines()
    assert lines[0].count("#") == 20 and lines[0].endswith(" 90 (90.0%)")
    assert lines[-1].endswith(" 10 (10.0%)")
    assert lines[0].split("|")[0].split() == ["724", "ns", "-", "1.02", "us"]
    # Fixed decimals, no exponents: 1 of 1 value is "1 (100.0%)", not "1 (1e+02%)".
    one = stats.render_histogram(*stats.log_histogram(np.array([5000]), 1))
    assert one == "4.10 us - 8.19 us |" + "#" * 40 + " 1 (100.0%)"
    assert stats.render_histogram(*stats.log_histogram(np.array([], np.int64))) == "(no values)"


def test_format_ns():
    assert stats.format_ns(850) == "850 ns"
    assert stats.format_ns(12_340) == "12.34 us"
    assert stats.format_ns(4_560_000) == "4.56 ms"
    assert stats.format_ns(1.2e9) == "1.20 s"
    assert stats.format_ns(3166.020000000077) == "3.17 us"
    assert stats.format_ns(999_999) == "1.00 ms"  # the unit after rounding, not "1e+03 us"
    assert stats.format_ns(999.7) == "1.00 us"
    assert stats.format_ns(4_000_000_000_000) == "4,000.00 s"
    assert stats.format_ns(-1500) == "-1.50 us"
    assert stats.format_ns(35.83, 1) == "35.8 ns" and stats.format_ns(35.83) == "36 ns"
    assert stats.format_ns(np.int64(7)) == "7 ns" and stats.format_ns(np.float32(2e3)) == "2.00 us"
    assert stats.format_ns(float("nan")) == "nan ns"
    with pytest.raises(TypeError, match=r"format_ns\(\): value must be a number, got str"):
        stats.format_ns("5")
    with pytest.raises(ValueError, match=r"format_ns\(\): decimals must be from 0 to 9, got 12"):
        stats.format_ns(5, 12)


def test_format_count_percent_rate():
    assert stats.format_count(1, "call") == "1 call"
    assert stats.format_count(0, "call") == "0 calls"
    assert stats.format_count(1_234_567, "gap") == "1,234,567 gaps"
    assert stats.format_count(np.int64(2), "process", "processes") == "2 processes"
    assert stats.format_percent(100) == "100.0%" and stats.format_percent(12.345, 2) == "12.35%"
    assert stats.format_percent(0) == "0.0%" and stats.format_percent(0.001) == "<0.1%"
    assert stats.format_rate(10_000) == "10,000.0 per second"
    assert stats.format_rate(0.25, 2) == "0.25 per second"
    with pytest.raises(TypeError, match=r"format_count\(\): count must be an int, got float"):
        stats.format_count(1.0, "call")
    with pytest.raises(TypeError, match=r"format_percent\(\): percent must be a number"):
        stats.format_percent(None)


def test_png_plots(tmp_path):
    from vdsotime import plot

    latency = tmp_path / "latency.png"
    plot.plot_latency(vdsotime.bench(len, [], n=1000).samples_ns, latency)
    assert latency.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gaps = tmp_path / "jitter.png"
    plot.plot_jitter(vdsotime.jitter(0.05, threshold_ns=1000), gaps)
    assert gaps.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_is_a_clear_message(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        import numpy, vdsotime.plot
        try:
            vdsotime.plot.plot_latency(numpy.arange(10), {str(tmp_path / 'x.png')!r})
        except ImportError as exc:
            print(exc)
    """)
    result = run_python(code)
    assert result.stdout.strip() == "plotting needs matplotlib: pip install 'vdsotime[plot]'"


def test_check_plot_path(tmp_path):
    from vdsotime import plot

    assert plot.check_plot_path(tmp_path / "a.png") == str(tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()  # nothing written
    with pytest.raises(TypeError, match=r"check_plot_path\(\): path must be str or "
                                        r"os.PathLike, got int"):
        plot.check_plot_path(5)
    with pytest.raises(ValueError, match=r"must end in a format matplotlib writes: .*\.png"):
        plot.check_plot_path(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        plot.check_plot_path(tmp_path / "missing" / "a.png")


# -- timers, metadata, warnings, assertions -------------------------------------------

@pytest.mark.parametrize("timer", ["monotonic", "tsc"])
def test_bench_timers_measure_a_known_floor(timer):
    """A 2 ms sleep cannot take less than 2 ms: on either timer (TSC ticks converted
    with the calibration) every sample is at least that."""
    result = vdsotime.bench(stdlib_time.sleep, 0.002, n=20, warmup=1, timer=timer)
    assert result.metadata["timer"] == timer
    assert (result.samples_ns >= 2_000_000).all(), result.samples_ns
    assert 0 < result.overhead_ns < 10_000
    if timer == "tsc":
        assert result.metadata["tsc_ns_per_tick"] > 0


def test_bench_tsc_subtracts_the_trimmed_mean_in_ticks(monkeypatch):
    """With the TSC timer, samples are round((ticks - trimmed mean of the timer's ticks)
    * ns_per_tick), clamped at 0: checked exactly on stand-in loops."""
    from vdsotime._bench import engine

    raw_pattern = np.array([300, 90, 60, 1000], dtype=np.int64)  # ticks
    timer_pattern = np.array([52] * 500 + [78] * 490 + [9_999] * 10, dtype=np.int64)

    made = []  # the calls so far: the pattern runs on across the loops' pieces

    def fake_time_calls(function, args, kwargs, out, start, stop, tsc=False):
        assert tsc
        out[start:stop] = raw_pattern[(len(made) + np.arange(stop - start)) % 4]
        made.extend(range(stop - start))
        return stop - start

    def fake_timer_overhead(out, tsc=False):
        assert tsc
        out[:] = timer_pattern[:len(out)]

    monkeypatch.setattr(engine.driver, "time_calls", fake_time_calls)
    monkeypatch.setattr(engine.driver, "timer_overhead", fake_timer_overhead)
    monkeypatch.setattr(engine, "tsc_ns_per_tick", lambda: 0.4)
    result = vdsotime.bench(len, [], n=400, warmup=0, timer="tsc")
    ticks = (500 * 52 + 490 * 78) / 990
    assert result.overhead_ns == pytest.approx(ticks * 0.4)
    expected = np.maximum(np.rint((np.tile(raw_pattern, 100) - ticks) * 0.4), 0)
    assert np.array_equal(result.samples_ns, expected.astype(np.int64))


def test_default_timer_is_the_tsc_where_invariant():
    from vdsotime._bench import engine
    from vdsotime._core import hw

    invariant = hw.HAVE_TSC and hw.tsc_invariant()[0]
    assert engine.choose_timer("bench", None) == ("tsc" if invariant else "monotonic")
    assert vdsotime.bench(len, [], n=10).metadata["timer"] == engine.choose_timer("bench", None)


@pytest.mark.parametrize("timer,error,message", [
    ("rdtsc", ValueError, "timer must be 'monotonic' or 'tsc'"),
    (1, ValueError, "timer must be 'monotonic' or 'tsc'"),
])
def test_bench_bad_timer(timer, error, message):
    with pytest.raises(error, match=message):
        vdsotime.bench(len, [], n=10, timer=timer)


def test_bench_refuses_a_tsc_that_is_not_invariant(monkeypatch):
    from vdsotime._core import hw

    monkeypatch.setattr(hw, "tsc_invariant", lambda: (False, "no constant_tsc"))
    with pytest.raises(ValueError, match=r"timer='tsc' needs an invariant TSC.*"
                                         r"no constant_tsc.*timer='monotonic'"):
        vdsotime.bench(len, [], n=10, timer="tsc")
    assert vdsotime.bench(len, [], n=10).metadata["timer"] == "monotonic"


def test_bench_metadata_makes_runs_comparable():
    import platform

    result = vdsotime.bench(len, [], n=100, warmup=5)
    metadata = result.metadata
    for key in ("vdsotime_version", "python_version", "python_implementation",
                "cpu_model", "cpu_count", "kernel", "clocksource", "tsc_flags",
                "cpu_governor", "cpu_boost", "hostname", "date", "timer_overhead_ns",
                "n", "warmup", "name", "timer"):
        assert key in metadata, key
    assert metadata["python_version"] == platform.python_version()
    assert metadata["kernel"] == os.uname().release and metadata["hostname"] == os.uname().nodename
    assert metadata["cpu_count"] == os.cpu_count()
    assert metadata["clocksource"] == kernel.read_file(  # None where /sys is missing
        "/sys/devices/system/clocksource/clocksource0/current_clocksource")
    assert metadata["n"] == 100 and metadata["warmup"] == 5 and metadata["name"] == "len"
    assert metadata["timer_overhead_ns"] == result.overhead_ns
    assert json.loads(json.dumps(result.to_dict()))["metadata"] == metadata


def _synthetic(samples, overhead_ns=20.0, **metadata):
    metadata = {"machine": "x86_64", "clocksource": "tsc", "cpu_governor": None, **metadata}
    samples = np.asarray(samples, dtype=np.int64)
    return vdsotime.LatencyResult("f", samples, overhead_ns, len(samples), 0, metadata)


def test_no_warnings_for_a_steady_run():
    rng = np.random.default_rng(1)
    assert _synthetic(rng.normal(1000, 30, 10_000).astype(np.int64)).warnings == []


@pytest.mark.parametrize("make,expected", [
    (lambda rng: _synthetic(np.r_[rng.normal(1000, 20, 6000), rng.normal(2500, 40, 4000)]),
     ["high dispersion: the stdev of the calls up to p99",
      "2 modes: 998 ns (60%), 2.51 us (40%): the calls ran at more than one speed"]),
    (lambda rng: _synthetic(np.r_[np.full(9_880, 1000), np.linspace(5000, 20_000, 120)]),
     ["high dispersion: p99 (7.40 us) is 7.4x the median (1.00 us)"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 500)),
     ["too few samples for p99 and p99.9: 500 calls leave 0.5 beyond p99.9 (n >= 10,000 "
      "gives it 10)"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 5_000)),
     ["too few samples for p99.9: 5,000 calls leave 5 beyond p99.9 (n >= 10,000 gives it 10)"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 200)),
     ["too few samples for p99 and p99.9: 200 calls leave 0.2 beyond p99.9"]),
    (lambda rng: _synthetic(np.full(10_000, 1000), overhead_ns=600),
     ["the timer's overhead (600 ns) is comparable to the time measured (median 1.00 us)"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 10_000), clocksource="hpet"),
     ["clocksource hpet, not tsc: every clock read is a system call"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 10_000), clocksource="kvm-clock"),
     ["clocksource kvm-clock, not tsc: clock reads are slower and less steady"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 10_000), clocksource="arch_sys_counter",
                            machine="aarch64"), []),
    (lambda rng: _synthetic(rng.normal(1000, 30, 10_000), cpu_governor="powersave"),
     ["CPU frequency governor powersave, not performance"]),
    (lambda rng: _synthetic(rng.normal(1000, 30, 10_000), cpu_governor="performance"), []),
])
def test_instability_warnings(make, expected):
    warnings = make(np.random.default_rng(7)).warnings
    assert len(warnings) == len(expected), warnings
    for text, start in zip(warnings, expected):
        assert text.startswith(start), (text, start)


def test_warnings_are_printed_and_serialised():
    result = _synthetic(np.full(300, 1000), cpu_governor="powersave")
    assert "  warning: CPU frequency governor powersave" in str(result)
    assert result.to_dict()["warnings"] == result.warnings


def test_assert_below_passes_and_fails_readably():
    result = _synthetic(np.r_[np.full(9_850, 1_000), np.full(150, 30_000)])
    result.assert_below(p50=1_000, p90="1us", max="30 us", mean=1_435)
    with pytest.raises(AssertionError) as failure:
        result.assert_below(p50="2us", p99=20_000, p999="1ms", max="20us", mean=1_434)
    message = str(failure.value)
    assert message.splitlines()[0] == ("f: p99 = 30.00 us is above its limit of 20.00 us; "
                                       "max = 30.00 us is above its limit of 20.00 us; "
                                       "mean = 1.44 us is above its limit of 1.43 us")
    assert message.splitlines()[1] == ("  10,000 calls: p50 1.00 us  p99 30.00 us  "
                                       "p99.9 30.00 us  max 30.00 us (timer overhead 20 ns "
                                       "subtracted)")
    assert message.splitlines()[2].startswith("  warning: high dispersion")


@pytest.mark.parametrize("limits,error,message", [
    ({}, TypeError, "give at least one limit"),
    ({"p99x": 5}, TypeError, "p99x is not a figure"),
    ({"median": 5}, TypeError, "median is not a figure"),
    ({"p99": "fast"}, ValueError, "p99 must be a duration such as 20000, '20us'"),
    ({"p99": -1}, ValueError, "p99 must be a duration in ns"),
    ({"p99": "20 parsecs"}, ValueError, "p99 must be a duration"),
])
def test_assert_below_bad_input(limits, error, message):
    with pytest.raises(error, match=message):
        _synthetic(np.full(10, 100)).assert_below(**limits)


def test_assert_below_names_figures_like_the_summary():
    from vdsotime._bench.latency import _figure_name

    assert [_figure_name(key) for key in ("p50", "p9", "p99", "p999", "p9999", "p100",
                                          "max", "mean", "min")] == [
        "p50", "p9", "p99", "p99.9", "p99.99", "p100", "max", "mean", "min"]
