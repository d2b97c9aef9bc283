"""compare(): interleaved rounds in random order, a verdict with a confidence interval
and an exact rank test, in this process or in fresh worker processes. The statistical
claims are tested as such -- a known difference is found, and a function against
itself is called different no more often than the test's level allows -- never as
timing thresholds."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vdsotime
from vdsotime._bench import comparison as comparison_module

from oracle import COUNTED_CALLS_CHILD, NEUTRAL_CWD, interrupt_once_counted


def test_compare_finds_a_known_difference():
    """sum(range(200)) does twice the work of sum(range(100)). With 16 rounds the exact
    signed-rank test reaches p = 2 / 2**16 when every round agrees; the test fails only
    if a third of the rounds see the 2x-slower statement as faster -- under load that
    slows both alike (they are interleaved), not one."""
    result = vdsotime.compare("sum(range(100))", "sum(range(200))", n=2000, rounds=16)
    assert isinstance(result, vdsotime.Comparison)
    assert list(result.results) == ["sum(range(100))", "sum(range(200))"]
    assert result.significant and result.p_value < 0.05
    assert result.ratio > 1.2
    low, high = result.ci
    assert 1 < low <= result.ratio <= high
    a, b = result.results.values()
    assert result.ratio == pytest.approx(np.median(b.samples_ns) / np.median(a.samples_ns))
    # At p99 too, a verdict -- never the wrong way round. (The 20th-slowest of 2,000 calls
    # is a tail that a loaded machine can move in a few rounds, so its significance is not
    # required: the p50 carries the known difference.)
    [p99_line] = [line for line in str(result).splitlines() if "at p99:" in line]
    assert ("sum(range(200)) is " in p99_line and "x slower than" in p99_line) or \
        "no significant difference" in p99_line, p99_line
    assert "faster" not in str(result)
    assert "x slower than sum(range(100)) (95% CI" in str(result)


def test_compare_a_function_against_itself_is_not_significant_in_most_runs():
    """The false-positive bound: with the order of each round drawn at random, the sign
    of each round's difference between two identical candidates is a fair coin, so the
    exact signed-rank test calls them different (p < 0.05) with probability at most
    0.05, and `significant` also needs the interval to exclude 1. Five independent
    comparisons: at least 3 of them significant happens with probability at most
    P(Binomial(5, 0.05) >= 3) = 0.0012."""
    verdicts = [vdsotime.compare(sum, sum, range(50), n=1000, rounds=12).significant
                for _ in range(5)]
    assert sum(verdicts) <= 2, verdicts


def test_rounds_are_interleaved_in_random_order():
    result = vdsotime.compare(len, bool, [], n=50, rounds=40, seed=7)
    orders = result.orders
    assert orders.shape == (40, 2)
    assert all(sorted(order) == [0, 1] for order in orders.tolist())
    # Both orders occur (P(all 40 alike) = 2**-39), and the seed fixes them.
    assert 0 < (orders[:, 0] == 0).sum() < 40
    again = vdsotime.compare(len, bool, [], n=50, rounds=40, seed=7)
    assert np.array_equal(again.orders, orders)
    for name in ("len", "bool"):
        assert result.round_sizes[name].tolist() == [50] * 40
        assert result.results[name].n == 2000
        assert len(result.round_statistics(name)) == 40


def test_the_order_of_each_round_is_the_order_of_the_calls(monkeypatch):
    """What ran when: each round calls the candidates in the order recorded."""
    calls = []
    real = comparison_module.engine.measure_calls

    def spy(function, *args, **kwargs):
        calls.append(function.__name__)
        return real(function, *args, **kwargs)

    monkeypatch.setattr(comparison_module.engine, "measure_calls", spy)

    def first():
        pass

    def second():
        pass

    result = vdsotime.compare(first, second, n=10, rounds=8, seed=3)
    expected = [["first", "second"][index] for order in result.orders for index in order]
    assert calls == expected


def test_more_than_two_candidates():
    result = vdsotime.compare({"base": "sum(range(50))", "double": "sum(range(100))",
                               "same": "sum(range(50))"}, n=1000, rounds=10)
    assert [c.name for c in result.contrasts] == ["double", "same"]
    assert all(c.baseline == "base" for c in result.contrasts)
    assert result.contrast("double").ratio > 1
    with pytest.raises(ValueError, match="this comparison has 3 candidates: .ratio is for "
                                         "two; use .contrasts"):
        result.ratio
    with pytest.raises(KeyError, match="no candidate 'nope'"):
        result.contrast("nope")
    # A list of pairs may repeat a candidate: an A/A check.
    pairs = vdsotime.compare([("x", "pass"), ("x", "pass")], n=100, rounds=4)
    assert list(pairs.results) == ["x", "x #2"]


def test_verdicts():
    verdict = comparison_module.verdict
    assert verdict("b", "a", 1 / 1.23, (1 / 1.26, 1 / 1.20), 0.001, True) == \
        "b is 1.23x faster than a (95% CI 1.20-1.26, p=0.001)"
    assert verdict("b", "a", 2.0, (1.9, 2.1), 1e-6, True) == \
        "b is 2.00x slower than a (95% CI 1.90-2.10, p=1e-06)"
    assert verdict("b", "a", 1.01, (0.98, 1.04), 0.41, False) == \
        "no significant difference between b and a (ratio 1.010, 95% CI 0.980-1.040, p=0.41)"
    assert verdict("b", "a", float("nan"), (float("nan"),) * 2, 1.0, False) == \
        "no ratio between b and a: a's figure is 0 ns"


@pytest.mark.slow
def test_compare_in_worker_processes():
    """processes=: rounds split among fresh interpreters, run one after another."""
    # Four times the work: with three processes the bootstrap draws one process alone
    # for 1 replicate in 27, so a single process whose rounds a loaded machine reversed
    # would cost the verdict; a 4x gap leaves no room for that.
    result = vdsotime.compare("sum(range(100))", "sum(range(400))", n=1000, rounds=12,
                              processes=3, setup="import os")
    assert result.processes == 3 and result.rounds == 12
    assert result.round_process.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert result.ratio > 1 and result.significant, str(result)
    assert "in 3 worker processes" in str(result)
    # Builtins and module functions travel by reference.
    by_reference = vdsotime.compare(sum, max, [1, 2, 3], n=100, rounds=4, processes=2)
    assert by_reference.results["sum"].n == 400


def test_worker_processes_are_fresh_interpreters():
    """Each worker is a new process: its hash seed (and address-space layout) differs,
    which is why the interval counts the spread between processes."""
    statement = "import os, sys; print(os.getpid(), hash('vdsotime'), file=sys.stderr)"
    code = textwrap.dedent(f"""
        import vdsotime
        vdsotime.compare({statement!r}, "pass", n=1, warmup=0, rounds=3, processes=3)
    """)
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONHASHSEED"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=NEUTRAL_CWD, timeout=300, env=environment)
    assert run.returncode == 0, run.stderr
    seen = {tuple(line.split()) for line in run.stderr.splitlines() if line.strip()}
    # With n given, only the workers run the statement: 3 processes, 3 hash seeds (two
    # random 64-bit hashes of one string agree with probability 2**-64).
    assert len({pid for pid, _ in seen}) == 3, seen
    assert len({value for _, value in seen}) == 3, seen


def test_the_few_rounds_warning_names_the_test_that_decides():
    """Fewer than 6 rounds: the signed-rank test cannot reach p < 0.05 in one process;
    with processes the p-value is the bootstrap's, and the warning would mislead."""
    alone = vdsotime.compare(len, bool, [], n=20, rounds=4)
    assert "4 rounds: the signed-rank test cannot reach p < 0.05 with fewer than 6" \
        in alone.warnings
    workers = vdsotime.compare(len, bool, [], n=20, rounds=4, processes=2)
    assert not any("signed-rank" in text for text in workers.warnings), workers.warnings
    assert "2 processes: too few to tell the spread between processes well (pyperf uses " \
           "20)" in workers.warnings


def test_worker_exceptions_come_back_with_their_type():
    with pytest.raises(ZeroDivisionError):
        vdsotime.compare("1/0", "pass", n=5, rounds=2, processes=2)


@pytest.mark.parametrize("call,error,message", [
    (lambda: vdsotime.compare(len), TypeError, "give two candidates"),
    (lambda: vdsotime.compare(len, 5), TypeError, "must be callable or a statement"),
    (lambda: vdsotime.compare({"a": len}), ValueError, "need at least 2 candidates, got 1"),
    (lambda: vdsotime.compare({"a": len, 3: len}), TypeError, "names must be non-empty"),
    (lambda: vdsotime.compare({"a": len, "b": len}, [1]), TypeError,
     "with a dict of candidates, give no other positional arguments"),
    (lambda: vdsotime.compare("pass", "pass", 1), TypeError, "statements take no arguments"),
    (lambda: vdsotime.compare(len, bool, [], setup="x = 1"), TypeError,
     "setup is for statements"),
    (lambda: vdsotime.compare(len, bool, [], rounds=1), ValueError, "rounds must be >= 2"),
    (lambda: vdsotime.compare(len, bool, [], n=0), ValueError, "n must be >= 1"),
    (lambda: vdsotime.compare(len, bool, [], processes=0), ValueError,
     "processes must be >= 1"),
    (lambda: vdsotime.compare(len, bool, [], processes=4, rounds=3), ValueError,
     "rounds=3 is fewer than processes=4"),
    (lambda: vdsotime.compare(lambda: 1, len, processes=2), ValueError,
     "processes= runs the candidates in fresh processes, which import them"),
    (lambda: vdsotime.compare(len, bool, [], seed=-1), ValueError, "seed must be an int"),
    (lambda: vdsotime.compare(len, bool, [], timer="sundial"), ValueError,
     "timer must be 'monotonic' or 'tsc'"),
    (lambda: vdsotime.compare("x ==== 1", "pass"), ValueError, "syntax error in stmt"),
])
def test_compare_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_compare_refuses_samples_it_cannot_store_before_calling():
    """Every round's samples are kept (and pooled), so compare() counts them all and
    refuses, as itself, before the first call. (The n of a 32-bit build is smaller: 10**9
    calls over 1,000 rounds of two candidates are 32 TB.)"""
    calls = []
    n = 10**14 if sys.maxsize >= 10**14 else 10**9
    # (A 32-bit build says what it can address before it looks at the memory free.)
    with pytest.raises(ValueError, match=rf"compare\(\): n={n:,} needs .* GiB(, more than "
                       r"this 32-bit build can address| for its samples; this machine has "
                       r".* available)"):
        vdsotime.compare(calls.append, calls.append, 1, n=n, rounds=1000)
    assert calls == []


def test_local_functions_cannot_go_to_worker_processes():
    def local():
        pass

    with pytest.raises(ValueError, match="is defined in a function or lambda"):
        vdsotime.compare(local, len, processes=2)


COMPARE_INTERRUPT_CHILD = COUNTED_CALLS_CHILD + textwrap.dedent("""
    calls = open(sys.argv[1], "ab", buffering=0)

    def counted(seconds):
        calls.write(b"x")
        time.sleep(seconds)

    try:
        vdsotime.compare(counted, time.sleep, 0.001, n=50, rounds=10_000)
    except KeyboardInterrupt as exc:
        partial = exc.partial_result
        print("interrupted", partial.rounds, partial.interrupted,
              len(partial.results["time.sleep"].samples_ns) == 50 * partial.rounds, flush=True)
""")


def test_ctrl_c_returns_the_rounds_so_far(tmp_path):
    """The signal comes once the first candidate has counted 200 calls in a file: rounds
    of 50 calls and their warm-up, so at least two rounds are whole, whatever the load."""
    out, err, _ = interrupt_once_counted(COMPARE_INTERRUPT_CHILD, tmp_path / "calls", 200,
                                         "process")
    words = out.split()
    assert words and words[0] == "interrupted", out + err
    assert int(words[1]) >= 2 and words[2] == "True" and words[3] == "True"


def test_comparison_serialises_and_plots(tmp_path):
    import json

    from vdsotime import plot

    result = vdsotime.compare("sum(range(100))", "sum(range(200))", n=500, rounds=6)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["rounds"] == 6 and len(data["contrasts"]) == 1
    assert data["contrasts"][0]["verdict"] == result.contrasts[0].verdict()
    assert set(data["candidates"]) == {"sum(range(100))", "sum(range(200))"}
    path = tmp_path / "compare.png"
    plot.plot_comparison(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


COMPARE_WORKER_INTERRUPT_CHILD = COUNTED_CALLS_CHILD + textwrap.dedent("""
    try:
        vdsotime.compare(statement, statement, n=20, rounds=10_000, processes=2, setup=setup)
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "partial_result", None)
        if partial is None:
            print("interrupted none", flush=True)
        else:
            print("interrupted", partial.rounds, partial.interrupted,
                  sorted(set(partial.round_process.tolist())) == [0],
                  all(len(r.samples_ns) == 20 * partial.rounds
                      for r in partial.results.values()), flush=True)
""")


@pytest.mark.parametrize("target", ["process", "group"])
def test_ctrl_c_keeps_the_rounds_of_the_running_worker(tmp_path, target):
    """With processes=, Ctrl-C during the first worker's rounds still gives the rounds
    it finished: whether the SIGINT reaches the whole process group (Ctrl-C at a
    terminal) or this process alone (kill -INT), which passes it on. The candidates
    count their calls in a file, so the signal comes after three rounds (60 calls each:
    per candidate 10 warm-up and 20 timed), whatever the machine's load."""
    out, err, _ = interrupt_once_counted(COMPARE_WORKER_INTERRUPT_CHILD, tmp_path / "calls",
                                         4 * 60, target)
    words = out.split()
    assert words[:1] == ["interrupted"], out + err
    assert words[1] != "none" and int(words[1]) >= 3, out + err
    assert words[2:] == ["True", "True", "True"], out + err
