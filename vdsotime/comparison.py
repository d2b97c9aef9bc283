"""A/B latency comparisons: ``compare(a, b)`` and ``compare({"name": fn, ...})``; and
the worker processes that ``compare(processes=)`` and ``bench(processes=)`` run in.

Every round times each candidate once (``n`` calls, after a warm-up), in an order drawn
at random for that round, so that drift, frequency changes and a neighbour's load fall
on every candidate alike. With ``processes=N`` the rounds run in N fresh interpreters,
one after another (new address-space layout, hash seed and allocator state each), and
the statistics count the spread between processes.

The statistics, against the first candidate (the baseline), at the median and at p99:

- ``ratio``: the statistic of all of a candidate's calls over the baseline's;
- ``ci``: the 95 % percentile interval of a bootstrap that resamples whole rounds,
  a candidate's round with the baseline's round beside it (2000 resamples); with
  processes, in two stages -- processes, then rounds within each process drawn;
- ``p_value``: in one process, Wilcoxon's signed-rank test, exact, on the rounds'
  differences log(1 + statistic of the candidate) - log(1 + statistic of the baseline).
  The random order makes each difference's sign a fair coin when the candidates do not
  differ, so the test's false-positive rate is at most its level. With processes, the
  two-stage bootstrap's p-value (twice the share of resamples on the far side of 1).
- ``significant``: p below 0.05 and an interval that excludes 1. With more than two
  candidates the p-values are Holm-adjusted (the chance of any false verdict stays
  below 0.05).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np

from vdsotime import _args, measure, stats
from vdsotime._record import Record

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    from vdsotime.measure import LatencyResult

ALPHA = 0.05
REPLICATES = 2000
ROUNDS = 20
# Each candidate's share of a round, when n is not given: about 50 ms of calls
# (20 to 100,000 of them).
ROUND_NS = 50_000_000
ROUND_CALLS = (20, 100_000)
METRICS = {"p50": 50.0, "p99": 99.0}


def _times(*ratios):
    """Ratios with 2 decimals, or 3 when one of them is within 10 % of 1."""
    close = any(abs(ratio - 1) < 0.095 for ratio in ratios if ratio == ratio)
    return [f"{ratio:.3f}" if close else f"{ratio:.2f}" for ratio in ratios]


def verdict(name, baseline, ratio, ci, p_value, significant):
    """'b is 1.23x faster than a (95% CI 1.20-1.26, p=0.0001)', or 'no significant
    difference ...'."""
    low, high = ci
    if ratio != ratio:
        return f"no ratio between {name} and {baseline}: {baseline}'s figure is 0 ns"
    if not significant:
        if low != low:
            return (f"no significant difference between {name} and {baseline} "
                    f"(ratio {_times(ratio)[0]}, p={p_value:.2g})")
        ratio, low, high = _times(ratio, low, high)
        return (f"no significant difference between {name} and {baseline} "
                f"(ratio {ratio}, 95% CI {low}-{high}, p={p_value:.2g})")
    if ratio < 1:
        ratio, low, high = _times(1 / ratio, 1 / high, 1 / low)
        return (f"{name} is {ratio}x faster than {baseline} (95% CI {low}-{high}, "
                f"p={p_value:.2g})")
    ratio, low, high = _times(ratio, low, high)
    return (f"{name} is {ratio}x slower than {baseline} (95% CI {low}-{high}, "
            f"p={p_value:.2g})")


class Contrast(Record):
    """One candidate against the baseline: at the median, ``ratio`` (median(candidate)
    / median(baseline)), ``ci`` (95 %), ``p_value``, ``significant``; the same at p99
    (``ratio_p99``, ...)."""

    __slots__ = ()
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

    def verdict(self, metric: str = "p50") -> str:
        if metric not in METRICS:
            raise ValueError(f"verdict(): metric must be 'p50' or 'p99', got {metric!r}")
        suffix = "" if metric == "p50" else "_p99"
        return verdict(self.name, self.baseline, *(getattr(self, field + suffix) for field in
                                                   ("ratio", "ci", "p_value", "significant")))

    def __str__(self) -> str:
        return f"{self.verdict()}\n  at p99: {self.verdict('p99')}"


class Comparison(Record):
    """What compare() measured and concluded.

    - ``results``: {name: LatencyResult} of every candidate's calls, rounds pooled;
    - ``contrasts``: a Contrast for each candidate after the first (the baseline);
    - with two candidates, ``ratio``, ``ci``, ``p_value``, ``significant`` and the same
      with ``_p99``, from the one contrast;
    - ``rounds``, ``processes`` (None: in this process), ``seed`` (of the round orders
      and the bootstrap), ``orders`` (rounds x candidates: who ran when),
      ``round_sizes`` ({name: calls per round}), ``round_process`` (the process of
      each round), ``interrupted`` (Ctrl-C cut the comparison short).
    """

    __slots__ = ()
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
    def names(self) -> list[str]:
        return list(self.results)

    @property
    def baseline(self) -> str:
        return self.names[0]

    def contrast(self, name: str) -> Contrast:
        """The Contrast of the candidate called ``name`` against the baseline (KeyError
        for the baseline or an unknown name)."""
        for contrast in self.contrasts:
            if contrast.name == name:
                return contrast
        raise KeyError(f"no candidate {name!r} (against {self.baseline!r}): "
                       f"{', '.join(self.names[1:])}")

    def _only(self, field: str) -> Any:
        if len(self.contrasts) != 1:
            raise ValueError(f"this comparison has {len(self.results)} candidates: "
                             f".{field} is for two; use .contrasts or .contrast(name), each "
                             f"against the baseline {self.baseline!r}")
        return getattr(self.contrasts[0], field)

    # With two candidates, the one contrast's figures, by name.
    @property
    def ratio(self) -> float:
        """median(b) / median(a) (two candidates)."""
        return self._only("ratio")

    @property
    def ci(self) -> tuple[float, float]:
        """The 95 % interval of ``ratio``."""
        return self._only("ci")

    @property
    def p_value(self) -> float:
        return self._only("p_value")

    @property
    def significant(self) -> bool:
        return self._only("significant")

    @property
    def ratio_p99(self) -> float:
        """p99(b) / p99(a) (two candidates)."""
        return self._only("ratio_p99")

    @property
    def ci_p99(self) -> tuple[float, float]:
        return self._only("ci_p99")

    @property
    def p_value_p99(self) -> float:
        return self._only("p_value_p99")

    @property
    def significant_p99(self) -> bool:
        return self._only("significant_p99")

    def round_statistics(self, name: str, metric: str = "p50") -> npt.NDArray[np.float64]:
        """The ``metric`` ("p50" or "p99") of each round of candidate ``name``, in round
        order."""
        sizes = self.round_sizes[name]
        rounds = np.split(self.results[name].samples_ns, np.cumsum(sizes)[:-1])
        return np.array([np.percentile(values, METRICS[metric]) for values in rounds])

    @property
    def warnings(self) -> list[str]:
        found = []
        for name, result in self.results.items():
            found += [f"{name}: {text}" for text in result.warnings]
        if self.rounds < 6 and self.processes is None:  # (with processes: a bootstrap)
            found.append(f"{self.rounds} rounds: the signed-rank test cannot reach p < 0.05 "
                         "with fewer than 6")
        if self.processes is not None and self.processes < 5:
            found.append(f"{self.processes} processes: too few to tell the spread between "
                         "processes well (pyperf uses 20)")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds, "processes": self.processes, "seed": self.seed,
            "interrupted": bool(self.interrupted),
            "candidates": {name: result.to_dict() for name, result in self.results.items()},
            "contrasts": [dict(contrast._asdict(), ci=list(contrast.ci),
                               ci_p99=list(contrast.ci_p99), verdict=contrast.verdict(),
                               verdict_p99=contrast.verdict("p99"))
                          for contrast in self.contrasts],
            "warnings": self.warnings,
        }

    def __str__(self) -> str:
        where = (f"in {self.processes} worker processes" if self.processes
                 else "in this process")
        lines = [f"{self.rounds} rounds{' (interrupted)' if self.interrupted else ''}, "
                 f"{len(self.results)} candidates in random order each round "
                 f"(seed {self.seed}), {where}"]
        width = min(40, max(len(name) for name in self.results))
        for name, result in self.results.items():
            figures = result.summary()
            per_round = self.round_sizes[name]
            lines.append(f"  {name[:40]:{width}s}  p50 {stats.format_ns(figures['p50']):>9s}  "
                         f"p99 {stats.format_ns(figures['p99']):>9s}  "
                         f"({len(per_round)} x {int(np.median(per_round)):,} calls)")
        for contrast in self.contrasts:
            lines.append(str(contrast))
        lines += [f"warning: {text}" for text in self.warnings]
        return "\n".join(lines)


# -- candidates ---------------------------------------------------------------------------

def _candidates(function, a, b, args, kwargs, setup):
    """[(name, callable or None, statement or None)] from compare()'s arguments."""
    if isinstance(a, (dict, list)):
        if b is not None or args:
            raise TypeError(f"{function}(): with a dict of candidates, give no other "
                            "positional arguments")
        items = list(a.items()) if isinstance(a, dict) else list(a)
        if not all(isinstance(item, tuple) and len(item) == 2 for item in items):
            raise TypeError(f"{function}(): a list of candidates must hold (name, "
                            "candidate) pairs")
        if len(items) < 2:
            raise ValueError(f"{function}(): need at least 2 candidates, got {len(items)}")
        for name, _ in items:
            if not isinstance(name, str) or not name:
                raise TypeError(f"{function}(): candidate names must be non-empty strings, "
                                f"got {name!r}")
    else:
        if b is None:
            raise TypeError(f"{function}(): give two candidates (a, b), or a dict "
                            "{name: candidate} of two or more")
        items = [(None, a), (None, b)]
    candidates = []
    for name, candidate in items:
        if isinstance(candidate, str):
            candidates.append([name or candidate, None, candidate])
        elif callable(candidate):
            candidates.append([name or measure._describe(candidate), candidate, None])
        else:
            raise TypeError(f"{function}(): a candidate must be callable or a statement "
                            f"(str), got {type(candidate).__name__}")
    statements = [c for c in candidates if c[2] is not None]
    if statements and (args or kwargs):
        raise TypeError(f"{function}(): statements take no arguments; arguments are for "
                        "callable candidates only")
    if setup is not None and not statements:
        raise TypeError(f"{function}(): setup is for statements (str candidates)")
    seen = {}
    for candidate in candidates:  # compare(f, f): "f" and "f #2"
        count = seen[candidate[0]] = seen.get(candidate[0], 0) + 1
        if count > 1:
            candidate[0] = f"{candidate[0]} #{count}"
    return [tuple(candidate) for candidate in candidates]


def _callables(candidates, setup):
    """Each candidate's callable: itself, or its statement compiled after ``setup``."""
    compiled = iter(measure.compile_statements(
        [statement for _, _, statement in candidates if statement is not None], setup))
    return [function if function is not None else next(compiled)
            for _, function, _ in candidates]


def _counts(function, callables, args, kwargs, n, warmup, timer, ns_per_tick):
    """(n, warmup) for each candidate: as given, else about ROUND_NS of calls."""
    counts = []
    for fn in callables:
        if n is None:
            per_call = measure.probe_ns(fn, args, kwargs, timer, ns_per_tick)
            calls = int(min(ROUND_CALLS[1], max(ROUND_CALLS[0], ROUND_NS / per_call)))
        else:
            calls = n
        counts.append((calls, measure.default_warmup(calls) if warmup is None else warmup))
    return counts


# -- rounds -------------------------------------------------------------------------------

def _run_rounds(callables, args, kwargs, counts, orders, timer, ns_per_tick,
                progress=None, done_before=0, total=None):
    """Run ``orders`` (one row per round: candidate indices in running order); per
    round, [LatencyResult of each candidate] in candidate order. A KeyboardInterrupt
    carries the rounds finished so far as ``rounds_done``."""
    finished = []
    try:
        for order in orders:
            row = [None] * len(callables)
            for index in order:
                calls, warmup = counts[index]
                row[index] = measure._bench(callables[index], args, kwargs, calls, warmup,
                                            None, timer, ns_per_tick)
            finished.append(row)
            if progress is not None:
                progress(done_before + len(finished), total or len(orders))
    except BaseException as exc:
        exc.rounds_done = finished
        raise
    return finished


_BOOT = ("import sys, json; sys.path[:] = json.loads(sys.stdin.buffer.readline()); "
         "from vdsotime.comparison import _worker; _worker()")


def _row_data(rows):
    return [[(r.samples_ns, r.overhead_ns, r.metadata) for r in row] for row in rows]


def _worker():
    """A worker process: read a job (pickled, on stdin), run its rounds, write the
    outcome (pickled, on stdout). On Ctrl-C, the outcome holds the rounds finished."""
    import signal

    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # the candidates' prints must not mix with the answer
    try:
        job = pickle.load(sys.stdin.buffer)
        callables = _callables(job["candidates"], job["setup"])
        rows = _run_rounds(callables, job["args"], job["kwargs"], job["counts"],
                           job["orders"], job["timer"], job["ns_per_tick"])
        outcome = {"rows": _row_data(rows)}
    except BaseException as exc:  # report it; the parent raises it
        # The parent passes a SIGINT on when this process did not get one: neither that
        # nor a second Ctrl-C may cut the answer short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        error = exc
        try:
            pickle.dumps(error)
        except Exception:
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
        outcome = {"error": error, "rows": _row_data(getattr(exc, "rounds_done", []))}
    pickle.dump(outcome, stdout)
    stdout.flush()


def _check_importable(function, candidates, args, kwargs):
    """Fresh processes import the candidates: refuse what they cannot, now."""
    for name, fn, _ in candidates:
        if fn is None:
            continue
        module = getattr(fn, "__module__", None)
        if module == "__main__" or "<lambda>" in getattr(fn, "__qualname__", "") \
                or "<locals>" in getattr(fn, "__qualname__", ""):
            raise ValueError(f"{function}(): processes= runs the candidates in fresh "
                             f"processes, which import them: {name} is defined in "
                             f"{module if module == '__main__' else 'a function or lambda'}."
                             " Give functions of an importable module, or statements "
                             "(strings, with setup=)")
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise ValueError(f"{function}(): processes= needs candidates that pickle by "
                             f"reference; {name} does not ({exc})") from None
    try:
        pickle.dumps((args, kwargs))
    except Exception as exc:
        raise ValueError(f"{function}(): processes= sends the arguments to the workers, "
                         f"and they do not pickle ({exc})") from None


def _job(candidates, setup, args, kwargs, counts, orders, timer, ns_per_tick):
    """What a worker process runs (read by _worker and _rows): ``orders`` (a row of
    candidate indices per round) of ``candidates`` with their ``counts``."""
    return {"candidates": candidates, "setup": setup, "args": args, "kwargs": kwargs,
            "counts": counts, "orders": orders, "timer": timer, "ns_per_tick": ns_per_tick}


def _rows(job, data):
    """[LatencyResult row per round] from a worker's answer."""
    return [[measure.LatencyResult(name, samples, overhead, len(samples), warmup, metadata)
             for (name, _, _), (samples, overhead, metadata), (_, warmup)
             in zip(job["candidates"], row, job["counts"])]
            for row in data]


def _answer_after_interrupt(worker):
    """The worker's answer after Ctrl-C here, or b"". Ctrl-C at a terminal reaches the
    worker too (one process group), and it answers with the rounds it finished; a SIGINT
    sent to this process alone is passed on when no answer comes within a second."""
    import signal

    try:
        try:
            out, _ = worker.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGINT)
            out, _ = worker.communicate(timeout=10.0)
        return out
    except BaseException:  # no answer, or Ctrl-C again: give up on this worker's rounds
        worker.kill()
        worker.wait()
        return b""


def _in_process(job, process_index, function="compare"):
    """Run a job in a fresh interpreter; [LatencyResult row per round]. A
    KeyboardInterrupt carries the rounds the worker finished as ``rounds_done``."""
    # The worker's import path is this process's: it imports what this one would.
    payload = json.dumps(list(sys.path)).encode() + b"\n" + pickle.dumps(job)
    # The worker's stderr is this process's: what the candidates print goes there.
    worker = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        out, _ = worker.communicate(payload)
    except KeyboardInterrupt as exc:
        try:
            exc.rounds_done = _rows(job, pickle.loads(_answer_after_interrupt(worker))
                                    ["rows"])
        except Exception:
            pass
        raise
    except BaseException:
        worker.kill()
        worker.wait()
        raise
    try:
        outcome = pickle.loads(out)
    except Exception:
        raise RuntimeError(f"{function}(): worker process {process_index + 1} ended without "
                           f"an answer (exit status {worker.returncode})") from None
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, KeyboardInterrupt):  # the worker alone was interrupted
            error.rounds_done = _rows(job, outcome.get("rows", []))
        raise error
    return _rows(job, outcome["rows"])


# -- bench in processes -------------------------------------------------------------------

def bench_in_processes(fn, args, kwargs, n, warmup, timer, processes, setup,
                       progress=None, name=None):
    """bench(fn, processes=N): one round of one candidate in each of N fresh worker
    processes, one after another, every process ``n`` calls after ``warmup`` (both
    chosen here once, when not given, so that every process makes as many). The
    LatencyResult pools the processes' samples in order; its metadata has
    ``processes`` and ``process_sizes``. Ctrl-C raises KeyboardInterrupt with the
    result of the processes that finished (if any) as ``partial_result``."""
    function = "bench"
    statement = fn if isinstance(fn, str) else None
    name = name or (statement if statement is not None else measure._describe(fn))
    candidates = [(name, None if statement is not None else fn, statement)]
    args, kwargs = tuple(args), dict(kwargs)
    if n is not None:
        n = _args.count(function, "n", n, 1)
        # The samples are kept per process, then pooled: twice each.
        measure._check_memory(function, "n", n, 16 * processes)
    if warmup is not None:
        warmup = _args.count(function, "warmup", warmup, 0)
        measure._check_memory(function, "warmup", warmup, 8)
    _check_importable(function, candidates, args, kwargs)
    timer = measure.choose_timer(function, timer)
    ns_per_tick = measure.tsc_ns_per_tick() if timer == "tsc" else None
    setup = setup or "pass"
    if n is None or warmup is None:
        [callable_] = _callables(candidates, setup)
        chosen = measure.default_counts(
            measure.probe_ns(callable_, args, kwargs, timer, ns_per_tick))
        n = chosen[0] if n is None else n
        warmup = chosen[1] if warmup is None else warmup
    job = _job(candidates, setup, args, kwargs, [(n, warmup)],
               np.zeros((1, 1), dtype=np.int64), timer, ns_per_tick)
    done = []
    try:
        for index in range(processes):
            [[result]] = _in_process(job, index, function)
            done.append(result)
            if progress is not None:
                progress(len(done), processes)
    except KeyboardInterrupt as exc:
        done += [row[0] for row in getattr(exc, "rounds_done", [])]
        if done:
            measure._attach_partial(exc, lambda: _pool_processes(
                name, done, processes, statement, setup, interrupted=True))
        raise
    return _pool_processes(name, done, processes, statement, setup)


def _pool_processes(name, results, processes, statement, setup, interrupted=False):
    """One LatencyResult of the processes' results, in process order."""
    pooled = _pool(name, results)
    metadata = dict(pooled.metadata, processes=len(results),
                    process_sizes=[len(result.samples_ns) for result in results],
                    n_per_process=results[0].n, warmup_per_process=results[0].warmup)
    del metadata["rounds"]
    if statement is not None:
        metadata.update(statement=statement, setup=setup)
    if interrupted:
        metadata.update(interrupted=True, processes_asked=processes)
    return pooled._replace(metadata=metadata)


# -- compare ------------------------------------------------------------------------------

def compare(a, b=None, *args, n=None, rounds=None, processes=None, warmup=None,
            setup=None, timer=None, seed=None, **kwargs):
    """Is b faster than a? A Comparison of two candidates, ``compare(a, b, *args)``, or
    of more, ``compare({"name": candidate, ...})`` or ``compare([("name", candidate),
    ...])``, each against the first.

    - ``a``, ``b``: the candidates, callables called with ``*args, **kwargs``, or
      statements as strings (compiled after ``setup``, as timeit does); or ``a`` a dict
      or a list of (name, candidate) pairs, and ``b`` left out.
    - ``rounds``: interleaved rounds (default 20), each candidate once per round in an
      order drawn at random for the round.
    - ``n``: calls per candidate and round (default: about 50 ms worth, 20 to 100,000),
      after ``warmup`` calls (default n / 100, 10 to 1000).
    - ``processes``: None, the rounds run in this process; N, in N fresh worker
      processes, one after another (rounds default to max(20, 2N)); the candidates must
      then be statements or functions of importable modules, and the arguments must
      pickle.
    - ``timer``: bench()'s; ``seed``: fixes the round orders and the bootstrap.

    Returns a Comparison: ``ratio`` = median(b) / median(a) with its 95 % ``ci``,
    ``p_value`` and ``significant``, the same at p99, and a verdict in ``str()``; with
    more than two candidates, ``contrasts`` (each against the first; a list of (name,
    candidate) pairs may repeat a candidate, for an A/A check). The methods are
    in the module's documentation (``vdsotime.comparison``). Ctrl-C raises
    KeyboardInterrupt with the comparison of the rounds finished so far (at least 2)
    as its ``partial_result``.
    """
    return _compare(a, b, args, kwargs, n, rounds, processes, warmup, setup, timer, seed,
                    None)


def _default_rounds(processes):
    """The rounds a comparison runs when not told: 20, and at least two per process."""
    return ROUNDS if processes is None else max(ROUNDS, 2 * processes)


def _compare(a, b, args, kwargs, n, rounds, processes, warmup, setup, timer, seed,
             progress):
    function = "compare"
    candidates = _candidates(function, a, b, tuple(args), dict(kwargs), setup)
    if n is not None:
        n = _args.count(function, "n", n, 1)
    if warmup is not None:
        warmup = _args.count(function, "warmup", warmup, 0)
    if processes is not None:
        processes = _args.count(function, "processes", processes, 1)
        _check_importable(function, candidates, args, kwargs)
    if rounds is None:
        rounds = _default_rounds(processes)
    rounds = _args.count(function, "rounds", rounds, 2)
    # Every round's samples are kept, then pooled per candidate: twice each.
    if n is not None:
        measure._check_memory(function, "n", n, 16 * rounds * len(candidates))
    measure._check_memory(function, "rounds", rounds,
                          16 * len(candidates) * (ROUND_CALLS[0] if n is None else n))
    if warmup is not None:
        measure._check_memory(function, "warmup", warmup, 8)
    if processes is not None and rounds < processes:
        raise ValueError(f"{function}(): rounds={rounds} is fewer than processes="
                         f"{processes}: every process runs at least one round")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{function}(): seed must be an int >= 0, got {seed!r}")
    timer = measure.choose_timer(function, timer)
    ns_per_tick = measure.tsc_ns_per_tick() if timer == "tsc" else None
    callables = _callables(candidates, setup)
    counts = _counts(function, callables, args, kwargs, n, warmup, timer, ns_per_tick)
    rng = np.random.default_rng(seed)
    orders = np.array([rng.permutation(len(candidates)) for _ in range(rounds)])
    if processes is None:
        round_process = np.zeros(rounds, dtype=np.int64)
    else:
        round_process = np.repeat(np.arange(processes),
                                  [len(part) for part in np.array_split(np.arange(rounds),
                                                                        processes)])
    rows = []
    try:
        if processes is None:
            rows = _run_rounds(callables, args, kwargs, counts, orders, timer, ns_per_tick,
                               progress)
        else:
            for index in range(processes):
                rows += _in_process(_job(candidates, setup, args, kwargs, counts,
                                         orders[round_process == index], timer,
                                         ns_per_tick), index)
                if progress is not None:
                    progress(len(rows), rounds)
    except KeyboardInterrupt as exc:
        rows += getattr(exc, "rounds_done", [])
        if len(rows) >= 2:
            measure._attach_partial(exc, lambda: _conclude(
                candidates, rows, processes, seed, orders[:len(rows)],
                round_process[:len(rows)], interrupted=True))
        raise
    return _conclude(candidates, rows, processes, seed, orders, round_process)


def _pool(name, rounds):
    """One LatencyResult of a candidate's rounds."""
    first = rounds[0]
    samples = np.concatenate([result.samples_ns for result in rounds])
    overhead = float(np.mean([result.overhead_ns for result in rounds]))
    metadata = dict(first.metadata or {}, name=name, n=len(samples),
                    warmup=sum(result.warmup for result in rounds),
                    rounds=len(rounds), timer_overhead_ns=overhead)
    return measure.LatencyResult(name, samples, overhead, len(samples), metadata["warmup"],
                                 metadata)


def _conclude(candidates, rows, processes, seed, orders, round_process, interrupted=False):
    names = [name for name, _, _ in candidates]
    per_candidate = [[row[index] for row in rows] for index in range(len(names))]
    results = {name: _pool(name, rounds) for name, rounds in zip(names, per_candidate)}
    clustered = [stats.ClusteredSamples([r.samples_ns for r in rounds])
                 for rounds in per_candidate]
    rng = np.random.default_rng([seed, 1])
    weights = stats.cluster_weights(len(rows), REPLICATES, rng,
                                    None if processes is None else round_process)
    figures = {}
    for metric, statistic in METRICS.items():
        found = []
        for candidate in clustered[1:]:
            ratio, ci, replicates = stats.bootstrap_ratio(clustered[0], candidate, statistic,
                                                          weights, weights)
            if processes is None:
                differences = (np.log1p(candidate.per_cluster(statistic))
                               - np.log1p(clustered[0].per_cluster(statistic)))
                p_value = stats.signed_rank_test(differences)
            else:
                p_value = stats.bootstrap_p_value(replicates)
            found.append((ratio, ci, p_value))
        # With more than one contrast, Holm's adjustment keeps the family's error rate.
        adjusted = stats.holm([p for _, _, p in found])
        figures[metric] = [
            (ratio, ci, float(p_value), stats.significant_ratio(p_value, ci, ALPHA))
            for (ratio, ci, _), p_value in zip(found, adjusted)]
    contrasts = tuple(
        Contrast(name, names[0], *figures["p50"][k], *figures["p99"][k])
        for k, name in enumerate(names[1:]))
    round_sizes = {name: np.array([len(r.samples_ns) for r in rounds])
                   for name, rounds in zip(names, per_candidate)}
    return Comparison(results, contrasts, len(rows), processes, seed, orders,
                      round_sizes, round_process, interrupted)
