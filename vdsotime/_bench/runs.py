"""Saved runs and the CI gate: ``save_run``/``load_run`` keep LatencyResults in a JSON
file (metadata, summary and the per-call samples), and ``compare_runs`` says, per
benchmark, whether NEW is significantly slower than OLD beyond a threshold.

The file: ``{"format": "vdsotime-run", "version": 2, "benchmarks": [...]}``, each
benchmark with ``name``, ``n``, ``warmup``, ``overhead_ns``, ``metadata``,
``summary_ns`` (of the exact samples, for people and other tools) and ``samples``, in
one of two encodings:

- ``"encoding": "hdr-histogram+zlib+base64"`` (the default): what the gate needs, in a
  few kilobytes. The samples are cut into ``segments`` -- the processes of a run from
  several, else the gate's contiguous blocks -- and each segment is kept as the counts
  of HdrHistogram's buckets at 3 significant digits (``stats.hdr_index``: exact below
  2048 ns, within 0.05 % above). ``buckets`` says how many buckets each segment has;
  ``data`` is, zlib-compressed and base64-encoded, every segment's bucket indices as
  little-endian uint16 differences (the first from 0), then every count as int64.
  Loading gives each segment back in ascending order, its values the buckets' middle
  values.
- ``"encoding": "zlib+base64"``, ``"dtype": "<i8"`` (``save_run(..., exact=True)``, and
  every file of version 1): the int64 samples in little-endian order, in call order;
  loading gives them back bit for bit.

A run measured in several processes (``bench(..., processes=N)``, ``vdsotime bench
--processes N``) has ``metadata["process_sizes"]``: the samples of each process, in
order.

The gate's units: the processes, when both runs of a benchmark come from two or more
(what pyperf counts: the spread between processes -- address-space layout, hash seed,
allocator state, the moment on a shared machine); else 20 contiguous blocks of each
run, which see only the noise within one process, and the comparison warns.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import zlib

import numpy as np

from vdsotime import stats
from vdsotime._bench.latency import LatencyResult
from vdsotime._core import meta
from vdsotime._core.record import Record

from typing import Any

FORMAT = "vdsotime-run"
VERSION = 2
# The versions load_run reads: 1 had only the raw encoding.
READABLE_VERSIONS = (1, 2)
RAW = "zlib+base64"
HISTOGRAM = "hdr-histogram+zlib+base64"
# Contiguous blocks of a run that compare_runs treats as its units.
BLOCKS = 20
REPLICATES = 2000
ALPHA = 0.05


def _check_results(function, results):
    if not isinstance(results, dict) or not results:
        raise TypeError(f"{function}(): results must be a non-empty dict of "
                        f"{{name: LatencyResult}}, got {type(results).__name__}")
    for name, result in results.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{function}(): benchmark names must be non-empty strings, "
                            f"got {name!r}")
        if not isinstance(result, LatencyResult):
            raise TypeError(f"{function}(): results[{name!r}] must be a LatencyResult, got "
                            f"{type(result).__name__}")


def _encode(samples):
    raw = np.ascontiguousarray(samples, dtype="<i8").tobytes()
    return {"encoding": RAW, "dtype": "<i8", "count": len(samples),
            "data": base64.b64encode(zlib.compress(raw, 6)).decode("ascii")}


def _segments(name, result):
    """The sizes of the parts of a run kept as one histogram each: its processes, else
    the blocks compare_runs cuts it into (the same cut, from the same length)."""
    sizes = process_sizes(result, f"save_run(): results[{name!r}]")
    if sizes is None:
        sizes = [len(block) for block in _blocks(result.samples_ns)]
    return sizes


def _encode_histograms(samples, sizes):
    indices, counts, buckets = [], [], []
    for segment in _split(samples, sizes):
        index, count = np.unique(stats.hdr_index(segment), return_counts=True)
        indices.append(np.diff(index, prepend=0))
        counts.append(count)
        buckets.append(len(index))
    payload = (np.concatenate(indices).astype("<u2").tobytes()
               + np.concatenate(counts).astype("<i8").tobytes())
    return {"encoding": HISTOGRAM, "significant_digits": 3, "count": len(samples),
            "segments": [int(size) for size in sizes], "buckets": buckets,
            "data": base64.b64encode(zlib.compress(payload, 9)).decode("ascii")}


def _decode(data, where):
    encoding = data.get("encoding")
    if encoding == HISTOGRAM:
        return _decode_histograms(data, where)
    if encoding != RAW or data.get("dtype") != "<i8":
        raise ValueError(f"{where}: unknown sample encoding {encoding!r} / "
                         f"{data.get('dtype')!r} (expected {HISTOGRAM}, or {RAW} with <i8)")
    samples = np.frombuffer(_payload(data, where), dtype="<i8")
    if len(samples) != data.get("count"):
        raise ValueError(f"{where}: {len(samples)} samples where the file says "
                         f"{data.get('count')}")
    return samples.astype(np.int64)


def _payload(data, where):
    try:
        return zlib.decompress(base64.b64decode(data["data"], validate=True))
    except (binascii.Error, zlib.error, ValueError) as exc:  # a damaged or cut file
        raise ValueError(f"{where}: the samples do not decode ({exc})") from None


def _decode_histograms(data, where):
    sizes, buckets = data.get("segments"), data.get("buckets")
    if not (isinstance(sizes, list) and isinstance(buckets, list)
            and len(sizes) == len(buckets) and all(
                isinstance(value, int) and not isinstance(value, bool) and value >= 0
                for value in sizes + buckets)):
        raise ValueError(f"{where}: the histogram's segments and buckets must be two "
                         "lists of counts of one length")
    payload = _payload(data, where)
    total = sum(buckets)
    if len(payload) != 10 * total:
        raise ValueError(f"{where}: the samples do not decode ({len(payload)} bytes for "
                         f"{total} buckets)")
    indices = np.cumsum(np.frombuffer(payload[:2 * total], dtype="<u2").astype(np.int64))
    counts = np.frombuffer(payload[2 * total:], dtype="<i8").astype(np.int64)
    parts = []
    start = 0
    for size, count in zip(sizes, buckets):
        # Each segment's differences start from 0, not from the previous segment.
        index = indices[start:start + count] - (indices[start - 1] if start else 0)
        part = counts[start:start + count]
        if (part < 0).any() or int(part.sum()) != size:
            raise ValueError(f"{where}: the samples do not decode (a segment's counts add "
                             f"up to {int(part.sum())}, not {size})")
        # (np.repeat takes its counts as intp: 32 bits on a 32-bit build; their sum is
        # the segment's size, an array length, so each fits)
        parts.append(np.repeat(stats.hdr_value(index), part.astype(np.intp)))
        start += count
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if len(samples) != data.get("count"):
        raise ValueError(f"{where}: {len(samples)} samples where the file says "
                         f"{data.get('count')}")
    return samples


def _benchmark_json(name, result, exact):
    samples = np.asarray(result.samples_ns)
    compact = not exact and (samples.size == 0 or samples.min() >= 0)
    encoded = (_encode_histograms(samples, _segments(name, result)) if compact
               else _encode(samples))
    return {"name": name, "n": result.n, "warmup": result.warmup,
            "overhead_ns": result.overhead_ns, "metadata": result.metadata or {},
            "summary_ns": result.summary(), "samples": encoded}


def run_document(results, exact=False):
    """The saved-run JSON document of ``results`` ({name: LatencyResult}), as save_run
    writes it (and as ``vdsotime compare --python ... --json`` prints it, beside its
    verdict): what load_run and compare-runs read. ``exact``: save_run's."""
    _check_results("run_document", results)
    if not isinstance(exact, bool):
        raise TypeError(f"run_document(): exact must be True or False, got {exact!r}")
    return {"format": FORMAT, "version": VERSION,
            "benchmarks": [_benchmark_json(name, result, exact)
                           for name, result in results.items()]}


def save_run(path, results, *, merge=False, exact=False):
    """Write ``results`` ({name: LatencyResult}) to the JSON file ``path`` (replaced
    atomically). With ``merge``, the benchmarks already in the file are kept, except
    those of the same names.

    By default each benchmark keeps what compare_runs needs, in a few kilobytes: the
    histogram of each process (of each of the gate's 20 blocks, for a run from one
    process) at 3 significant digits -- every sample within 0.05 %, exact below 2048 ns
    -- and the summary of the exact samples. With ``exact`` True, every sample as
    measured, in call order (about a byte per call, compressed)."""
    _check_results("save_run", results)
    if not isinstance(exact, bool):
        raise TypeError(f"save_run(): exact must be True or False, got {exact!r}")
    path = os.fspath(path)
    combined = {}
    if merge and os.path.exists(path):
        combined.update(load_run(path))
    combined.update(results)
    document = run_document(combined, exact)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
        os.replace(temporary, path)
    except BaseException as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(exc, OSError) and exc.filename == temporary:
            raise _named_error(exc, path) from None
        raise


def _named_error(exc, path):
    """The OSError ``exc`` met on save_run's temporary file, told of the ``path`` the
    caller gave: the temporary file is save_run's business, and its folder the likely
    cause."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        why = f"the folder {folder} does not exist"
    elif os.path.isdir(path):
        why = "it is a folder"
    else:
        why = f"save_run() writes a temporary file in the folder {folder}, then renames it"
    return type(exc)(exc.errno, f"{exc.strerror} ({why})", path)


def load_run(path):
    """The LatencyResults saved in ``path`` as {name: result}, in the file's order."""
    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        try:
            document = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{path} is not a saved vdsotime run (no \"format\": \"{FORMAT}\"; "
                         "make one with save_run() or vdsotime bench --save)")
    if document.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path}: run format version {document.get('version')!r}, this "
                         f"vdsotime reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}")
    results = {}
    for index, item in enumerate(document.get("benchmarks", [])):
        where = f"{path}: benchmark {index}"
        try:
            name = item["name"]
            result = LatencyResult(name, _decode(item["samples"], where),
                                   float(item["overhead_ns"]), int(item["n"]),
                                   int(item["warmup"]), dict(item["metadata"]))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where} is malformed ({type(exc).__name__}: {exc})") from None
        process_sizes(result, where)
        results[name] = result
    return results


def process_sizes(result, where=None):
    """The samples of each process of a run from several processes
    (``metadata["process_sizes"]``), or None for a run from one process. Counts that
    do not add up to the samples are a ValueError (naming ``where``)."""
    sizes = (result.metadata or {}).get("process_sizes")
    if sizes is None:
        return None
    if not isinstance(sizes, list) or not sizes or any(
            isinstance(size, bool) or not isinstance(size, int) or size < 1
            for size in sizes) or sum(sizes) != len(result.samples_ns):
        raise ValueError(f"{where or result.name}: metadata process_sizes must be counts "
                         f">= 1 adding up to the {len(result.samples_ns)} samples, got "
                         f"{sizes!r}"[:300])
    return sizes


# -- the gate -------------------------------------------------------------------------


class RunChange(Record):
    """The benchmark ``name`` in both runs: the metric's ``old`` and ``new`` values (ns),
    ``ratio`` = new / old, its 95 % bootstrap ``ci``, the rank-sum ``p_value``,
    ``significant``, and whether it is a ``regression`` (significant, and slower beyond
    the threshold) or an ``improvement`` (significant, and faster beyond it). ``units``
    says what the test compared: "processes" (both runs from several processes) or
    "blocks" (contiguous blocks of each run); ``old_units`` and ``new_units`` how many."""

    __slots__ = ()
    name: str
    old: float
    new: float
    ratio: float
    ci: tuple[float, float]
    p_value: float
    significant: bool
    regression: bool
    improvement: bool
    units: str = "blocks"
    old_units: int = 0
    new_units: int = 0


class RunComparison(Record):
    """compare_runs()'s answer for the runs ``old_label`` and ``new_label`` (their paths
    on the command line), compared on ``metric`` ("p50", "p99" or "mean") with the
    threshold ``fail_above`` (percent): ``changes`` (RunChange per benchmark in both runs),
    ``only_old``/``only_new`` (names), ``differences`` (metadata that differ:
    (what, old, new)), ``unit_warnings`` (what limits the test: runs from one process,
    too few processes), ``failed`` (any regression), ``warnings`` (all of them);
    ``str()`` is the table the CLI prints."""

    __slots__ = ()
    changes: list[RunChange]
    metric: str
    fail_above: float
    only_old: list[str]
    only_new: list[str]
    differences: list[tuple[str, Any, Any]]
    old_label: str
    new_label: str
    unit_warnings: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[RunChange]:
        return [change for change in self.changes if change.regression]

    @property
    def failed(self) -> bool:
        return bool(self.regressions)

    @property
    def warnings(self) -> list[str]:
        found = [f"the runs differ in {what}: {old!r} (old) vs {new!r} (new)"
                 for what, old, new in self.differences]
        found += [f"{name}: only in the old run" for name in self.only_old]
        found += [f"{name}: only in the new run" for name in self.only_new]
        return found + list(self.unit_warnings)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "fail_above_percent": self.fail_above,
                "failed": self.failed, "warnings": self.warnings,
                "changes": [change._asdict() for change in self.changes]}

    def __str__(self) -> str:
        metric = self.metric
        header = (f"{'benchmark':30s} {'old ' + metric:>10s} {'new ' + metric:>10s} "
                  f"{'change':>9s} {'95% CI':>19s} {'p':>8s} {'units':>13s}  verdict")
        lines = [f"{self.old_label} -> {self.new_label}: {metric}, failing on a "
                 f"significant slowdown beyond +{self.fail_above:g}%", "", header]
        for change in self.changes:
            low, high = change.ci
            interval = ("-" if low != low else
                        f"{100 * (low - 1):+.1f}..{100 * (high - 1):+.1f}%")
            verdict = ("REGRESSION" if change.regression else
                       "improvement" if change.improvement else
                       "slower" if change.significant and change.ratio > 1 else
                       "faster" if change.significant and change.ratio < 1 else
                       "no significant change")
            lines.append(f"{change.name[:30]:30s} {stats.format_ns(change.old):>10s} "
                         f"{stats.format_ns(change.new):>10s} "
                         f"{100 * (change.ratio - 1):+8.1f}% {interval:>19s} "
                         f"{change.p_value:8.2g} {_units_text(change):>13s}  {verdict}")
        lines.append("")
        regressions = self.regressions
        if regressions:
            lines.append(f"{len(regressions)} significant regression"
                         f"{'s' if len(regressions) > 1 else ''} beyond +{self.fail_above:g}%:"
                         f" {', '.join(change.name for change in regressions)}")
        else:
            lines.append(f"no significant regression beyond +{self.fail_above:g}%")
        lines += [f"warning: {text}" for text in self.warnings]
        return "\n".join(lines)


def parse_percent(text):
    """A threshold in percent from '5', '5%' or '2.5 %' (a float >= 0); ValueError
    saying what was expected otherwise."""
    cleaned = str(text).strip()
    cleaned = cleaned[:-1].strip() if cleaned.endswith("%") else cleaned
    try:
        value = float(cleaned)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e6:  # also refuses nan
        raise ValueError(f"expected a percentage such as 5 or 5%, got {text!r}")
    return value


def metric_statistic(metric):
    """'mean', or the percentile a metric names ('p50' -> 50.0, 'p99.9' -> 99.9)."""
    if metric == "mean":
        return "mean"
    if isinstance(metric, str) and metric.startswith("p"):
        try:
            q = float(metric[1:])
        except ValueError:
            q = -1
        if 0 <= q <= 100:
            return q
    raise ValueError(f"metric must be p50, p99, mean or another p<percentile>, got "
                     f"{metric!r}")


def _units_text(change):
    """'10/10 proc' or '20/20 blocks': the units of each run that the test compared."""
    kind = "proc" if change.units == "processes" else change.units
    return f"{change.old_units}/{change.new_units} {kind}"


def smallest_p_value(m, n):
    """The smallest two-sided p-value the exact rank-sum test can give for m against n
    values (no ties): 2 / C(m + n, m), at most 1."""
    return min(1.0, 2 / math.comb(m + n, m))


def _blocks(samples):
    """The run as up to BLOCKS contiguous blocks of at least 2 samples."""
    count = max(1, min(BLOCKS, len(samples) // 2))
    return np.array_split(np.asarray(samples), count)


def compare_units(old_units, new_units, statistic, rng):
    """(old, new, ratio, ci, p_value, significant) for two independent runs given as
    their units (arrays of samples: the processes, or blocks): the ratio of the pooled
    statistic, its 95 % percentile bootstrap interval (units resampled with replacement,
    independently in each run) and the exact rank-sum test on the units' statistics."""
    old = stats.ClusteredSamples(old_units)
    new = stats.ClusteredSamples(new_units)
    ratio, ci, _ = stats.bootstrap_ratio(
        old, new, statistic, stats.cluster_weights(len(old), REPLICATES, rng),
        stats.cluster_weights(len(new), REPLICATES, rng))
    p_value = (stats.rank_sum_test(new.per_cluster(statistic), old.per_cluster(statistic))
               if len(old) > 1 and len(new) > 1 else 1.0)
    return (old.pooled(statistic), new.pooled(statistic), ratio, ci, p_value,
            stats.significant_ratio(p_value, ci, ALPHA))


def _split(samples, sizes):
    return np.split(np.asarray(samples), np.cumsum(sizes)[:-1])


def compare_runs(old, new, metric="p50", fail_above=5.0, *, seed=0):
    """Compare two runs, ``old`` and ``new`` (``{name: LatencyResult}``, or paths of
    saved runs), benchmark by benchmark. A benchmark *regresses* when NEW's ``metric``
    ("p50", "p99", "mean") is above OLD's by more than ``fail_above`` percent and the
    difference is significant: rank-sum p < 0.05 on the runs' units, and a 95 %
    bootstrap interval of the ratio (units resampled) that excludes 1. ``seed`` fixes
    the bootstrap.

    The units are the processes when both runs of the benchmark come from two or more
    processes (``bench(..., processes=N)``): the test then counts the spread between
    processes. Otherwise each run is cut into 20 contiguous blocks, which count only
    the noise within one process; ``unit_warnings`` says so, and also when there are
    too few units for the test ever to reach p < 0.05."""
    labels = []
    runs = []
    for side, run in (("old", old), ("new", new)):
        if isinstance(run, (str, os.PathLike)):
            labels.append(os.fspath(run))
            run = load_run(run)
        else:
            labels.append(f"{side} run")
            _check_results("compare_runs", run)
        runs.append(run)
    old, new = runs
    statistic = metric_statistic(metric)
    if isinstance(fail_above, bool) or not isinstance(fail_above, (int, float)) \
            or not 0 <= fail_above < 1e6:
        raise ValueError(f"compare_runs(): fail_above must be a percentage >= 0, got "
                         f"{fail_above!r}")
    rng = np.random.default_rng(seed)
    changes = []
    differences = []
    one_process = {"old": [], "new": []}
    too_few = []
    for name in old:
        if name not in new:
            continue
        sizes = {side: process_sizes(run[name]) for side, run in (("old", old), ("new", new))}
        if all(found is not None and len(found) > 1 for found in sizes.values()):
            units = "processes"
            old_units = _split(old[name].samples_ns, sizes["old"])
            new_units = _split(new[name].samples_ns, sizes["new"])
        else:
            units = "blocks"
            for side, found in sizes.items():
                if found is None or len(found) < 2:
                    one_process[side].append(name)
            old_units = _blocks(old[name].samples_ns)
            new_units = _blocks(new[name].samples_ns)
        old_value, new_value, ratio, ci, p_value, significant = compare_units(
            old_units, new_units, statistic, rng)
        if smallest_p_value(len(old_units), len(new_units)) >= ALPHA:
            too_few.append((name, units, len(old_units), len(new_units)))
        beyond = abs(ratio - 1) * 100 > fail_above
        changes.append(RunChange(name, old_value, new_value, ratio, ci, p_value,
                                 significant, significant and beyond and ratio > 1,
                                 significant and beyond and ratio < 1, units,
                                 len(old_units), len(new_units)))
        for difference in meta.differences(old[name].metadata or {},
                                            new[name].metadata or {}):
            if difference not in differences:
                differences.append(difference)
    return RunComparison(changes, metric, float(fail_above),
                         [name for name in old if name not in new],
                         [name for name in new if name not in old], differences, *labels,
                         _unit_warnings(one_process, too_few))


def _names_text(names, limit=3):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _unit_warnings(one_process, too_few):
    found = []
    sides = [side for side in ("old", "new") if one_process[side]]
    if sides:
        names = list(dict.fromkeys(one_process["old"] + one_process["new"]))
        which = " and ".join(sides)
        found.append(f"{_names_text(names)}: the {which} run{'s are' if len(sides) > 1 else ' is'}"
                     " from one process, so the test compares blocks of calls and sees only "
                     "the noise within one process, not the spread between processes; "
                     "save runs with vdsotime bench --processes 10 (bench(..., "
                     "processes=10))")
    for name, units, old_count, new_count in too_few:
        found.append(f"{name}: {old_count} {units} against {new_count} are too few for the "
                     f"rank-sum test ever to reach p < {ALPHA:g} (its smallest p is "
                     f"{smallest_p_value(old_count, new_count):.2g}): the gate cannot fail;"
                     " measure more (4 against 4 at the least, 10 or more to see changes "
                     "within the spread)")
    return tuple(found)
