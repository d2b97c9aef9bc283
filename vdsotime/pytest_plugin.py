"""The pytest plugin of vdsotime, registered by entry point (``pip install vdsotime`` is
enough; ``-p no:vdsotime`` turns it off).

- The ``latency`` fixture: ``latency(fn, *args, n=None, warmup=None, name=None,
  timer=None, **kwargs)`` runs ``vdsotime.bench`` and records the LatencyResult under
  the test's node id (``name`` tells several measurements of one test apart).
- ``--latency-save DIR`` writes the session's results to ``DIR/NNNN_<date>.json``
  (a saved run, as ``vdsotime.save_run`` writes it), numbered after the last one.
- ``--latency-compare DIR|FILE`` compares them with the newest run saved in DIR (or
  with FILE), by name, and ``--latency-fail-above PCT`` (default 5; ``5`` or ``5%``)
  fails the session when a benchmark is significantly slower beyond PCT percent at
  one of ``--latency-metric`` (default ``p50,p99``), as ``vdsotime compare-runs``
  decides it.

Nothing here imports numpy until a test uses the fixture.
"""

import argparse
import os
import re
import time

import pytest

_SAVED = re.compile(r"^(\d{4,})_.*\.json$")


def _percent(text):
    from vdsotime._bench import runs
    try:
        return runs.parse_percent(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _metrics(text):
    from vdsotime._bench import runs
    names = [part.strip() for part in text.split(",") if part.strip()]
    try:
        for name in names:
            runs.metric_statistic(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not names:
        raise argparse.ArgumentTypeError("expected metrics such as p50,p99")
    return names


def pytest_addoption(parser):
    group = parser.getgroup("vdsotime", "latency microbenchmarks (vdsotime)")
    group.addoption("--latency-save", metavar="DIR",
                    help="save the latency fixture's results to DIR/NNNN_<date>.json")
    group.addoption("--latency-compare", metavar="DIR",
                    help="compare the results with the newest run saved in DIR (or a "
                         "saved run FILE)")
    group.addoption("--latency-fail-above", metavar="PCT", type=_percent, default=None,
                    help="fail when a benchmark is significantly slower than the saved "
                         "run by more than PCT percent (5 or 5%%; default 5)")
    group.addoption("--latency-metric", metavar="METRICS", type=_metrics,
                    default=["p50", "p99"],
                    help="the figures the gate compares: p50, p99, mean, comma-separated "
                         "(default p50,p99)")


def pytest_configure(config):
    if config.getoption("latency_fail_above") is not None \
            and not config.getoption("latency_compare"):
        raise pytest.UsageError("--latency-fail-above needs --latency-compare DIR")
    config.pluginmanager.register(LatencySession(config), "vdsotime-latency-session")


def saved_runs(folder):
    """The runs saved in ``folder`` by --latency-save, oldest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    numbered = sorted((int(match.group(1)), name) for name in names
                      for match in [_SAVED.match(name)] if match)
    return [os.path.join(folder, name) for _, name in numbered]


class LatencySession:
    """What one pytest session measured with the ``latency`` fixture, and the gate."""

    def __init__(self, config):
        self.config = config
        self.results = {}
        self.lines = []

    def record(self, key, result):
        name, count = key, 1
        while name in self.results:
            count += 1
            name = f"{key} ({count})"
        result = result._replace(name=name, metadata=dict(result.metadata or {}, name=name))
        self.results[name] = result
        return result

    def _baseline(self):
        target = self.config.getoption("latency_compare")
        if target is None:
            return None
        if os.path.isdir(target):
            found = saved_runs(target)
            if not found:
                self.lines.append(f"no saved run in {target} to compare with (save one with "
                                  "--latency-save)")
                return None
            return found[-1]
        if not os.path.exists(target):
            raise pytest.UsageError(f"--latency-compare: no such folder or file: {target}")
        return target

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if not self.results:
            return
        baseline = self._baseline()
        failed = False
        if baseline is not None:
            from vdsotime._bench import runs

            threshold = self.config.getoption("latency_fail_above")
            threshold = 5.0 if threshold is None else threshold
            try:
                old = runs.load_run(baseline)
            except (OSError, ValueError) as exc:
                raise pytest.UsageError(f"--latency-compare: {exc}") from None
            for metric in self.config.getoption("latency_metric"):
                comparison = runs.compare_runs(old, self.results, metric, threshold)
                comparison = comparison._replace(old_label=baseline,
                                                 new_label="this session")
                self.lines += ["", str(comparison)]
                failed = failed or comparison.failed
        folder = self.config.getoption("latency_save")
        if folder:
            self.lines.append("")
            self.lines.append(f"latency results saved to {self._save(folder)}")
        if failed:
            self.lines.append("")
            self.lines.append("vdsotime: latency regression beyond the threshold: failing "
                              "the session")
            if session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _save(self, folder):
        from vdsotime._bench import runs

        os.makedirs(folder, exist_ok=True)
        found = saved_runs(folder)
        number = int(os.path.basename(found[-1]).split("_", 1)[0]) + 1 if found else 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = os.path.join(folder, f"{number:04d}_{stamp}.json")
        runs.save_run(path, self.results)
        return path

    def pytest_terminal_summary(self, terminalreporter):
        if not self.results:
            return
        from vdsotime import stats

        terminalreporter.write_sep("-", "vdsotime latency")
        for name, result in self.results.items():
            figures = result.summary()
            terminalreporter.write_line(
                f"{name}: p50 {stats.format_ns(figures['p50'])}, p99 "
                f"{stats.format_ns(figures['p99'])}, p99.9 "
                f"{stats.format_ns(figures['p99.9'])} ({result.n:,} calls)")
            for text in result.warnings:
                terminalreporter.write_line(f"  warning: {text}")
        for line in self.lines:
            terminalreporter.write_line(line)


@pytest.fixture
def latency(request):
    """``latency(fn, *args, n=None, warmup=None, name=None, timer=None, **kwargs)``:
    ``vdsotime.bench(fn, *args, ...)``, recorded under this test's node id for
    ``--latency-save`` and ``--latency-compare``; returns the LatencyResult (see its
    ``assert_below``)."""
    session = request.config.pluginmanager.get_plugin("vdsotime-latency-session")

    def measure(fn, *args, n=None, warmup=None, name=None, timer=None, **kwargs):
        from vdsotime._bench.measure import bench

        result = bench(fn, *args, n=n, warmup=warmup, timer=timer, **kwargs)
        key = request.node.nodeid if name is None else f"{request.node.nodeid}::{name}"
        return session.record(key, result)

    return measure
