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

import os

import numpy as np

from vdsotime import stats
from vdsotime._bench import engine, workers
from vdsotime._core import validate
from vdsotime._core.record import Record

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    from vdsotime._bench.latency import LatencyResult


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
    """One candidate, ``name``, against the ``baseline`` (their names): at the median,
    ``ratio`` (median(candidate) / median(baseline)), its 95 % interval ``ci``,
    ``p_value`` and ``significant``; the same at p99: ``ratio_p99``, ``ci_p99``,
    ``p_value_p99``, ``significant_p99``."""

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
      each round), ``interrupted`` (Ctrl-C cut the comparison short);
    - ``pythons``: with ``compare(pythons=)``, {name: what the interpreter said of itself
      (executable, python, vdsotime...)}, else None.
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
    pythons: dict[str, dict[str, Any]] | None = None

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

    def regressions(self, fail_above: float = 5.0, metric: str = "p50") -> list[Contrast]:
        """The contrasts whose candidate is significantly slower than the baseline by more
        than ``fail_above`` percent at ``metric`` ("p50" or "p99"): what fails a gate."""
        if metric not in METRICS:
            raise ValueError(f"regressions(): metric must be 'p50' or 'p99', got {metric!r}")
        if isinstance(fail_above, bool) or not isinstance(fail_above, (int, float)) \
                or not 0 <= fail_above < 1e6:
            raise ValueError(f"regressions(): fail_above must be a percentage >= 0, got "
                             f"{fail_above!r}")
        suffix = "" if metric == "p50" else "_p99"
        return [contrast for contrast in self.contrasts
                if getattr(contrast, "significant" + suffix)
                and getattr(contrast, "ratio" + suffix) > 1 + fail_above / 100]

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
            found.append(f"{self.processes} processes"
                         f"{' per interpreter' if self.pythons else ''}: too few to tell the "
                         "spread between processes well (pyperf uses 20)")
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
            "warnings": self.warnings, "pythons": self.pythons,
        }

    def __str__(self) -> str:
        if self.pythons:
            where = (f"in {self.processes} worker processes per interpreter, one of each "
                     "per round in random order")
        elif self.processes:
            where = f"in {self.processes} worker processes"
        else:
            where = "in this process"
        lines = [f"{self.rounds} rounds{' (interrupted)' if self.interrupted else ''}, "
                 f"{len(self.results)} candidates in random order each round "
                 f"(seed {self.seed}), {where}"]
        for name, found in (self.pythons or {}).items():
            lines.append(f"  {name}: {found.get('executable')} (Python "
                         f"{found.get('python')}, vdsotime {found.get('vdsotime')})")
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
            candidates.append([name or engine.describe(candidate), candidate, None])
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
    compiled = iter(engine.compile_statements(
        [statement for _, _, statement in candidates if statement is not None], setup))
    return [function if function is not None else next(compiled)
            for _, function, _ in candidates]


def _counts(callables, args, kwargs, n, warmup, timer):
    """(n, warmup) for each candidate: as given, else about ROUND_NS of calls, and the
    one warm-up rule."""
    counts = []
    for fn in callables:
        if n is None:
            per_call = engine.probe_ns(fn, args, kwargs, timer)
            calls = int(min(ROUND_CALLS[1], max(ROUND_CALLS[0], ROUND_NS / per_call)))
        else:
            calls = n
        counts.append((calls, engine.default_warmup(calls) if warmup is None else warmup))
    return counts


# -- compare ------------------------------------------------------------------------------

def compare(a, b=None, *args, n=None, rounds=None, processes=None, warmup=None,
            setup=None, timer=None, seed=None, progress=None, pythons=None, **kwargs):
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
    - ``progress``: None, or a function called as ``progress(done, total)`` after each
      round (with ``processes``, after each process).
    - ``pythons``: two builds side by side. ``a`` is then one statement, and ``pythons``
      a list of interpreters (a venv's ``bin/python`` each, with vdsotime and its own
      build of the code under test installed), or a dict {name: interpreter}; the first
      is the baseline, and names default to the paths. Each round runs one fresh worker
      process of each interpreter, in an order drawn at random for the round;
      ``processes`` (default 10) is the number of rounds of processes, and each process
      runs ``rounds / processes`` rounds of ``n`` calls. The verdict is the two-stage
      bootstrap of ``processes=``. An interpreter that cannot run vdsotime's workers, a
      statement that fails in one, a worker that dies: a WorkerError saying which.

    Returns a Comparison: ``ratio`` = median(b) / median(a) with its 95 % ``ci``,
    ``p_value`` and ``significant``, the same at p99, and a verdict in ``str()``; with
    more than two candidates, ``contrasts`` (each against the first; a list of (name,
    candidate) pairs may repeat a candidate, for an A/A check). The methods are
    in the user guide's section on comparing. Ctrl-C raises
    KeyboardInterrupt with the comparison of the rounds finished so far (at least 2)
    as its ``partial_result``.
    """
    function = "compare"
    if pythons is not None:
        return _compare_pythons(a, b, args, kwargs, pythons, n, rounds, processes, warmup,
                                setup, timer, seed, progress)
    candidates = _candidates(function, a, b, tuple(args), dict(kwargs), setup)
    if processes is not None:
        processes = validate.count(function, "processes", processes, 1)
    n, warmup, rounds, seed = _plan(function, len(candidates), n, warmup, rounds, processes,
                                    seed, progress)
    if processes is not None:
        workers.check_importable(function, candidates, args, kwargs)
    timer = engine.timer(function, timer)
    callables = _callables(candidates, setup)
    counts = _counts(callables, args, kwargs, n, warmup, timer)
    names = [name for name, _, _ in candidates]
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
            rows = engine.run_rounds(names, callables, args, kwargs, counts, orders, timer,
                                     progress)
        else:
            for index in range(processes):
                job = workers.job(candidates, setup, args, kwargs, counts,
                                  orders[round_process == index], timer)
                rows += workers.run(job, index, function)
                if progress is not None:
                    progress(len(rows), rounds)
    except KeyboardInterrupt as exc:
        rows += getattr(exc, "rounds_done", [])
        if len(rows) >= 2:
            validate.attach(exc, "partial_result", conclude, names, rows, processes, seed,
                            orders[:len(rows)], round_process[:len(rows)], True)
        raise
    return conclude(names, rows, processes, seed, orders, round_process)


def _plan(function, count, n, warmup, rounds, processes, seed, progress):
    """(n, warmup, rounds, seed) of a comparison of ``count`` candidates, checked before
    anything runs: every round's samples are kept, then pooled per candidate (twice
    each), and every process runs at least one round."""
    rounds = validate.count(function, "rounds",
                            default_rounds(processes) if rounds is None else rounds, 2)
    n, warmup = engine.counts(function, n, warmup, copies=2 * rounds * count)
    validate.memory(function, "rounds", rounds,
                    16 * count * (ROUND_CALLS[0] if n is None else n))
    if processes is not None and rounds < processes:
        raise ValueError(f"{function}(): rounds={rounds} is fewer than processes="
                         f"{processes}: every process runs at least one round")
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little")
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{function}(): seed must be an int >= 0, got {seed!r}")
    engine.check_progress(function, progress)
    return n, warmup, rounds, seed


def default_rounds(processes):
    """The rounds a comparison runs when not told: 20, and at least two per process."""
    return ROUNDS if processes is None else max(ROUNDS, 2 * processes)


# compare(pythons=): rounds of processes when not told.
PYTHON_PROCESSES = 10


def _interpreters(function, pythons):
    """[(name, path)] from compare()'s ``pythons``: a list of paths, or {name: path}."""
    import os

    if isinstance(pythons, dict):
        items = list(pythons.items())
    elif isinstance(pythons, (list, tuple)):
        items = [(None, python) for python in pythons]
    else:
        raise TypeError(f"{function}(): pythons must be a list of interpreter paths or a "
                        f"dict {{name: path}}, got {type(pythons).__name__}")
    if len(items) < 2:
        raise ValueError(f"{function}(): pythons needs at least 2 interpreters, got "
                         f"{len(items)}")
    found = []
    for name, python in items:
        if not isinstance(python, (str, os.PathLike)) or not os.fspath(python):
            raise TypeError(f"{function}(): each of pythons must be a path, got {python!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{function}(): interpreter names must be non-empty strings, "
                            f"got {name!r}")
        found.append([name or os.fspath(python), os.fspath(python)])
    seen = {}
    for item in found:  # the same path twice (an A/A check): "path" and "path #2"
        count = seen[item[0]] = seen.get(item[0], 0) + 1
        if count > 1:
            item[0] = f"{item[0]} #{count}"
    return [tuple(item) for item in found]


def _compare_pythons(statement, b, args, kwargs, pythons, n, rounds, processes, warmup,
                     setup, timer, seed, progress):
    """compare(statement, pythons=[...]): one statement, timed by fresh worker processes
    of each interpreter, one of each per round in random order."""
    function = "compare"
    if not isinstance(statement, str) or b is not None or args or kwargs:
        raise TypeError(f"{function}(): with pythons=, give one statement (a str) and no "
                        "other candidates or arguments: each interpreter runs it with its "
                        "own build of the code under test")
    interpreters = _interpreters(function, pythons)
    names = [name for name, _ in interpreters]
    processes = validate.count(function, "processes",
                               PYTHON_PROCESSES if processes is None else processes, 1)
    n, warmup, rounds, seed = _plan(function, len(names), n, warmup, rounds, processes, seed,
                                    progress)
    timer = engine.timer(function, timer)
    setup = setup or "pass"
    described = {name: workers.describe_python(function, path)
                 for name, path in interpreters}
    candidate = [(engine.one_line(statement), None, statement)]

    def run_in(index, job, process):
        name, path = interpreters[index]
        try:
            return workers.run(job, process, function, python=path)
        except (KeyboardInterrupt, workers.WorkerError):
            raise
        except Exception as exc:  # the statement's, or its setup's, in that interpreter
            where = name if name == path else f"{name} ({path})"
            raise workers.WorkerError(f"{function}(): in {where}: "
                                      f"{type(exc).__name__}: {exc}") from exc

    # Every interpreter runs the statement once first (a few calls): a statement that
    # fails in one is found before the rounds, and its speed chooses n where not given.
    probes = [run_in(index, workers.job(candidate, setup, (), {}, [(1, 0)], [], timer,
                                        probe=10), 0)[0]
              for index in range(len(interpreters))]
    if n is None:
        n = int(min(ROUND_CALLS[1], max(ROUND_CALLS[0], ROUND_NS / max(probes))))
    if warmup is None:
        warmup = engine.default_warmup(n)
    rng = np.random.default_rng(seed)
    per_process = [len(part) for part in np.array_split(np.arange(rounds), processes)]
    rows, orders, round_process = [], [], []
    try:
        for process, count in enumerate(per_process):
            order = rng.permutation(len(interpreters))
            job = workers.job(candidate, setup, (), {}, [(n, warmup)], [[0]] * count, timer)
            done = [None] * len(interpreters)
            for index in order:
                done[index] = run_in(index, job, process)
            for k in range(count):
                rows.append([done[index][k][0]._replace(name=names[index])
                             for index in range(len(interpreters))])
                orders.append(order)
                round_process.append(process)
            if progress is not None:
                progress(len(rows), rounds)
    except KeyboardInterrupt as exc:
        if len(rows) >= 2:
            validate.attach(exc, "partial_result", _conclude_pythons, names, rows, seed,
                            orders, round_process, described, statement, setup, True)
        raise
    return _conclude_pythons(names, rows, seed, orders, round_process, described, statement,
                             setup)


def _conclude_pythons(names, rows, seed, orders, round_process, described, statement,
                      setup, interrupted=False):
    comparison = conclude(names, rows, len(set(round_process)), seed, np.array(orders),
                          np.array(round_process), interrupted)
    # Each side's samples by process, as a run saved from processes has them: what
    # compare-runs counts as its units.
    results = {}
    for name, result in comparison.results.items():
        sizes = comparison.round_sizes[name]
        per_process = [int(sum(size for size, process in zip(sizes, round_process)
                               if process == p)) for p in sorted(set(round_process))]
        results[name] = result._replace(metadata=dict(
            result.metadata, processes=len(per_process), process_sizes=per_process,
            python=described[name], statement=statement, setup=setup))
    return comparison._replace(results=results, pythons=described)


def conclude(names, rows, processes, seed, orders, round_process, interrupted=False):
    per_candidate = [[row[index] for row in rows] for index in range(len(names))]
    results = {name: engine.pool(name, rounds, rounds=len(rounds))
               for name, rounds in zip(names, per_candidate)}
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
