"""Saved runs (save_run, load_run, bench --save) and the CI gate (compare_runs,
vdsotime compare-runs): exact round trips, the gate's exit status on a real regression
and on identical runs, warnings when the runs' machines differ."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vdsotime
from vdsotime._bench import runs

from oracle import COUNTED_CALLS_CHILD, NEUTRAL_CWD, fixture_path, interrupt_once_counted


def cli(*args, timeout=600):
    script = shutil.which("vdsotime", path=os.path.dirname(sys.executable))
    return subprocess.run([script, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=NEUTRAL_CWD)


def _result(samples, name="f", **metadata):
    samples = np.asarray(samples, dtype=np.int64)
    return vdsotime.LatencyResult(name, samples, 21.25, len(samples), 7,
                                  {"cpu_model": "A", "clocksource": "tsc", **metadata})


def test_save_and_load_round_trip_bit_exactly(tmp_path):
    rng = np.random.default_rng(0)
    measured = vdsotime.bench(sorted, [3, 1, 2], n=5_000)
    extremes = _result(np.r_[0, rng.integers(0, 2**62, 1000), 2**63 - 1])
    path = tmp_path / "run.json"
    vdsotime.save_run(path, {"sorted": measured, "extremes": extremes}, exact=True)
    loaded = vdsotime.load_run(path)
    assert list(loaded) == ["sorted", "extremes"]
    for name, original in (("sorted", measured), ("extremes", extremes)):
        again = loaded[name]
        assert again.samples_ns.dtype == np.int64
        assert np.array_equal(again.samples_ns, original.samples_ns)
        assert again.overhead_ns == original.overhead_ns  # floats round-trip in JSON
        assert (again.n, again.warmup) == (original.n, original.warmup)
        assert again.metadata == json.loads(json.dumps(original.metadata))
        assert again.name == name
    document = json.loads(path.read_text())
    assert document["format"] == "vdsotime-run" and document["version"] == 2
    entry = document["benchmarks"][0]
    assert entry["samples"]["encoding"] == "zlib+base64"
    assert entry["samples"]["dtype"] == "<i8"
    assert entry["summary_ns"]["p50"] == measured.summary()["p50"]




def _within_three_digits(decoded, original):
    """decoded is original, sorted, each value within HdrHistogram's 3 significant
    digits: exact below 2048, else within 1/2048 of it (the bucket's middle)."""
    original = np.sort(original)
    error = np.abs(decoded - original)
    return (decoded.dtype == np.int64 and len(decoded) == len(original)
            and (error[original < 2048] == 0).all()
            and (error <= original / 2048).all())


def test_a_run_is_saved_as_histograms_of_its_processes_at_three_digits(tmp_path):
    """The default encoding keeps, per process, the counts of HdrHistogram's buckets:
    each process's samples come back in ascending order, each within 0.05 % (exact below
    2048 ns), and the file keeps the exact summary and everything else."""
    rng = np.random.default_rng(3)
    parts = [np.r_[0, rng.integers(0, 3_000, 500), rng.integers(0, 10**9, 50), 2**63 - 1]
             for _ in range(3)]
    sizes = [len(part) for part in parts]
    original = _result(np.concatenate(parts), process_sizes=sizes)
    path = tmp_path / "run.json"
    vdsotime.save_run(path, {"f": original})
    [entry] = json.loads(path.read_text())["benchmarks"]
    assert entry["samples"]["encoding"] == "hdr-histogram+zlib+base64"
    assert entry["samples"]["segments"] == sizes
    assert entry["summary_ns"] == original.summary()  # of the exact samples
    loaded = vdsotime.load_run(path)["f"]
    assert (loaded.n, loaded.warmup, loaded.overhead_ns) == (original.n, 7, 21.25)
    assert loaded.metadata == original.metadata
    for decoded, part in zip(np.split(loaded.samples_ns, np.cumsum(sizes)[:-1]), parts):
        assert _within_three_digits(decoded, part)


def test_a_one_process_run_is_saved_as_histograms_of_the_gates_blocks(tmp_path):
    """A run from one process has no processes to keep: its histograms are of the 20
    contiguous blocks compare_runs cuts it into, which it cuts again the same way."""
    samples = np.random.default_rng(4).integers(500, 50_000, 2_001)
    path = tmp_path / "run.json"
    vdsotime.save_run(path, {"f": _result(samples)})
    blocks = runs._blocks(samples)
    [entry] = json.loads(path.read_text())["benchmarks"]
    assert entry["samples"]["segments"] == [len(block) for block in blocks] and \
        len(blocks) == 20
    loaded = vdsotime.load_run(path)["f"]
    for decoded, block in zip(runs._blocks(loaded.samples_ns), blocks):
        assert _within_three_digits(decoded, block)


def test_a_saved_run_of_ten_processes_of_a_million_calls_is_small(tmp_path):
    """A saved bench --processes 10 run of 10**6 calls each was 11.8 MB (13.7 MB on the
    benchmark VM, raw samples); the histograms keep it under 1 MB -- here about 85 kB
    (60 kB for a real run of sum(range(200))), for samples spread like a real run's: most
    calls within a few hundred ns, a tail of interrupted ones up to 100 ms."""
    rng = np.random.default_rng(5)
    parts = []
    for _ in range(10):
        part = 1_000 + rng.gamma(2.0, 60.0, 10**6).astype(np.int64)
        tail = rng.random(10**6) < 0.01
        part[tail] = np.exp(rng.uniform(np.log(2e3), np.log(1e8), tail.sum())).astype(np.int64)
        parts.append(part)
    path = tmp_path / "run.json"
    vdsotime.save_run(path, {"sum": _result(np.concatenate(parts),
                                            process_sizes=[10**6] * 10)})
    assert path.stat().st_size < 1_000_000


def test_a_saved_run_of_format_1_loads_exactly_as_written():
    """tests/fixtures/saved-run-v1.json holds the raw samples of format version 1 (what
    save_run wrote before the compact encoding): load_run gives them back bit for bit,
    decoded here without vdsotime, with everything else the file says."""
    import base64
    import zlib

    path = fixture_path("saved-run-v1.json")
    document = json.loads(path.read_text())
    assert document["version"] == 1
    loaded = vdsotime.load_run(path)
    assert list(loaded) == [entry["name"] for entry in document["benchmarks"]]
    for entry in document["benchmarks"]:
        result = loaded[entry["name"]]
        written = np.frombuffer(zlib.decompress(base64.b64decode(entry["samples"]["data"])),
                                dtype="<i8")
        assert result.samples_ns.dtype == np.int64
        assert np.array_equal(result.samples_ns, written)
        assert (result.name, result.n, result.warmup, result.overhead_ns, result.metadata) \
            == (entry["name"], entry["n"], entry["warmup"], entry["overhead_ns"],
                entry["metadata"])
        assert result.summary() == entry["summary_ns"]
    assert runs.process_sizes(loaded["sum(range(200))"]) == [350, 350, 350]
    same = vdsotime.compare_runs(path, path)
    assert [change.units for change in same.changes] == ["processes", "blocks"]
    assert not same.failed


def test_save_run_merge_adds_and_replaces(tmp_path):
    path = tmp_path / "run.json"
    vdsotime.save_run(path, {"a": _result([1, 2]), "b": _result([3, 4])})
    vdsotime.save_run(path, {"b": _result([5, 6]), "c": _result([7])}, merge=True)
    loaded = vdsotime.load_run(path)
    assert list(loaded) == ["a", "b", "c"]
    assert loaded["b"].samples_ns.tolist() == [5, 6]
    vdsotime.save_run(path, {"z": _result([9])})  # without merge: replaced
    assert list(vdsotime.load_run(path)) == ["z"]
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary left



def test_save_run_errors_name_the_path_given_not_the_temporary_file(tmp_path):
    """save_run() writes a temporary file beside the path, then renames it: an error
    names the path the caller gave, and the missing folder, never the temporary file;
    nothing is left behind."""
    missing = tmp_path / "no" / "such" / "run.json"
    with pytest.raises(FileNotFoundError) as caught:
        vdsotime.save_run(missing, {"f": _result([1, 2])})
    assert caught.value.filename == str(missing)
    assert f"the folder {missing.parent} does not exist" in str(caught.value)
    assert ".tmp" not in str(caught.value)
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(OSError) as caught:  # a folder where the file would go
        vdsotime.save_run(folder, {"f": _result([1, 2])})
    assert caught.value.filename == str(folder) and ".tmp" not in str(caught.value)
    assert "it is a folder" in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-folder"]
    assert list(folder.iterdir()) == []


def test_bench_save_whose_folder_vanished_names_the_path(monkeypatch, capsys, tmp_path):
    """vdsotime bench --save checks the folder before measuring; if it goes away during
    the run, the error names the file and the folder, not a temporary file."""
    from vdsotime import cli

    missing = tmp_path / "gone" / "run.json"
    monkeypatch.setattr(cli, "_check_output", lambda option, path: None)
    assert cli.main(["bench", "-n", "50", "--save", str(missing), "pass"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("50 calls of: pass")  # the results, first
    assert captured.err == (f"vdsotime: error: cannot write the run {missing}: No such file "
                            f"or directory (the folder {missing.parent} does not exist)\n")


@pytest.mark.parametrize("content,message", [
    ("not json", "is not JSON"),
    ('{"benchmarks": []}', "is not a saved vdsotime run"),
    ('{"format": "vdsotime-run", "version": 99}', "run format version 99"),
    ('{"format": "vdsotime-run", "version": 1, "benchmarks": [{"name": "x"}]}',
     "benchmark 0 is malformed"),
])
def test_load_run_refuses_other_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        vdsotime.load_run(path)


@pytest.mark.parametrize("damage,message", [
    (lambda data: data[: len(data) // 2], "the samples do not decode"),        # cut short
    (lambda data: "aGVsbG8=", "the samples do not decode"),                  # not zlib
    (lambda data: data[:-4] + "!!!!", "the samples do not decode"),          # not base64
    (lambda data: base64_of_zlib(b"seven b"), "the samples do not decode"),  # 7 bytes
])
def test_damaged_samples_are_a_value_error_and_the_gate_cannot_compare(tmp_path, damage,
                                                                        message):
    """A saved run whose samples were damaged (a file cut short, a merge gone wrong) is
    a ValueError naming the file and the benchmark, and compare-runs exits 2 (cannot
    compare) with one line -- not 1, which a CI gate reads as a regression."""
    path, good = tmp_path / "damaged.json", tmp_path / "good.json"
    vdsotime.save_run(good, {"f": _result(np.arange(1000))})
    document = json.loads(good.read_text())
    samples = document["benchmarks"][0]["samples"]
    samples["data"] = damage(samples["data"])
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=f"damaged.json: benchmark 0: {message}"):
        vdsotime.load_run(path)
    result = cli("compare-runs", good, path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr



@pytest.mark.parametrize("damage,message", [
    (lambda samples: samples["segments"].__setitem__(0, samples["segments"][0] + 1),
     "a segment's counts add up to 50, not 51"),
    (lambda samples: samples["buckets"].pop(), "two lists of counts of one length"),
    (lambda samples: samples.__setitem__("count", 7), "1000 samples where the file says 7"),
])
def test_a_damaged_histogram_is_a_value_error(tmp_path, damage, message):
    path = tmp_path / "damaged.json"
    vdsotime.save_run(path, {"f": _result(np.arange(1000))})
    document = json.loads(path.read_text())
    damage(document["benchmarks"][0]["samples"])
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=f"damaged.json: benchmark 0: .*{message}"):
        vdsotime.load_run(path)


def base64_of_zlib(raw):
    import base64
    import zlib
    return base64.b64encode(zlib.compress(raw)).decode("ascii")


@pytest.mark.parametrize("results,message", [
    ({}, "results must be a non-empty dict"),
    ([1], "results must be a non-empty dict"),
    ({"": None}, "benchmark names must be non-empty strings"),
    ({"x": [1, 2]}, r"results\['x'\] must be a LatencyResult, got list"),
])
def test_save_run_bad_input(tmp_path, results, message):
    with pytest.raises(TypeError, match=message):
        vdsotime.save_run(tmp_path / "x.json", results)


def test_compare_runs_on_synthetic_runs():
    """Known answers: a run against itself changes nothing; against a copy 3x slower
    it regresses significantly (every block of the new run above every block of the
    old: the exact rank-sum p-value of 20 against 20 is 2 / C(40, 20))."""
    rng = np.random.default_rng(1)
    old = {"f": _result(rng.integers(900, 1100, 20_000)), "gone": _result([1, 2, 3])}
    same = vdsotime.compare_runs(old, old)
    [change] = [c for c in same.changes if c.name == "f"]
    assert change.ratio == 1.0 and not change.significant and not same.failed
    slower = {"f": _result(old["f"].samples_ns * 3), "new": _result([1])}
    verdict = vdsotime.compare_runs(old, slower, fail_above=5)
    [change] = verdict.changes
    assert change.ratio == pytest.approx(3, rel=0.01) and change.regression
    assert change.p_value == pytest.approx(2 / 137846528820)
    assert verdict.failed and verdict.only_old == ["gone"] and verdict.only_new == ["new"]
    # Beyond the threshold only: 3x is within +250 %.
    assert not vdsotime.compare_runs(old, slower, fail_above=250).failed
    faster = vdsotime.compare_runs(slower, old)
    assert faster.changes[0].improvement and not faster.failed
    text = str(verdict)
    assert "REGRESSION" in text and "1 significant regression beyond +5%: f" in text
    assert "warning: gone: only in the old run" in text


def test_compare_runs_metrics_and_bad_input():
    rng = np.random.default_rng(2)
    base = rng.integers(900, 1100, 20_000)
    tail = base.copy()
    tail[::50] *= 10  # 2 % of the calls ten times slower: p99 moves, p50 does not
    old, new = {"f": _result(base)}, {"f": _result(tail)}
    assert not vdsotime.compare_runs(old, new, "p50").failed
    assert vdsotime.compare_runs(old, new, "p99").failed
    assert vdsotime.compare_runs(old, new, "mean").failed
    with pytest.raises(ValueError, match="metric must be p50, p99, mean"):
        vdsotime.compare_runs(old, new, "median")
    with pytest.raises(ValueError, match="fail_above must be a percentage >= 0"):
        vdsotime.compare_runs(old, new, fail_above=-1)


def test_compare_runs_warns_when_the_machines_differ():
    rng = np.random.default_rng(3)
    samples = rng.integers(900, 1100, 1000)
    old = {"f": _result(samples, cpu_model="AMD EPYC", clocksource="tsc")}
    new = {"f": _result(samples, cpu_model="Intel Xeon", clocksource="hpet")}
    warnings = vdsotime.compare_runs(old, new).warnings
    assert "the runs differ in CPU model: 'AMD EPYC' (old) vs 'Intel Xeon' (new)" in warnings
    assert "the runs differ in clocksource: 'tsc' (old) vs 'hpet' (new)" in warnings


@pytest.mark.parametrize("text,value", [("5", 5.0), ("5%", 5.0), (" 2.5 % ", 2.5),
                                        ("0", 0.0)])
def test_parse_percent(text, value):
    assert runs.parse_percent(text) == value


@pytest.mark.parametrize("text", ["", "five", "-1", "nan", "5%%", "inf"])
def test_parse_percent_refuses(text):
    with pytest.raises(ValueError, match="expected a percentage such as 5 or 5%"):
        runs.parse_percent(text)


# -- the command line -----------------------------------------------------------------

def test_gate_fails_on_a_synthetic_regression_and_passes_identical_runs(tmp_path):
    """sum(range(300)) saved as NEW against sum(range(100)) as OLD under one name: a
    ~3x slowdown, significant by far (exit 1). OLD against itself: exit 0."""
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    for path, statement in ((old, "sum(range(100))"), (new, "sum(range(300))")):
        result = cli("bench", "--save", path, "--name", "sum", "-n", "20000", statement)
        assert result.returncode == 0, result.stderr
        assert f"vdsotime: saved as 'sum' in {path}" in result.stderr  # stdout: results
    gate = cli("compare-runs", old, new, "--fail-above", "5%")
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "REGRESSION" in gate.stdout
    assert "1 significant regression beyond +5%: sum" in gate.stdout
    same = cli("compare-runs", old, old)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no significant change" in same.stdout
    assert "no significant regression beyond +5%" in same.stdout
    data = json.loads(cli("compare-runs", "--json", "--metric", "p99", old, new).stdout)
    assert data["metric"] == "p99" and data["failed"] is True
    assert data["changes"][0]["name"] == "sum" and data["changes"][0]["ratio"] > 1.5


def test_bench_save_adds_to_the_file(tmp_path):
    path = tmp_path / "run.json"
    for name in ("one", "two", "one"):
        assert cli("bench", "--save", path, "--name", name, "-n", "200", "pass").returncode == 0
    loaded = vdsotime.load_run(path)
    assert list(loaded) == ["one", "two"]
    assert loaded["one"].metadata["statement"] == "pass" and loaded["one"].n == 200
    # Without --name, the statement names it.
    cli("bench", "--save", path, "-n", "100", "x = 1")
    assert "x = 1" in vdsotime.load_run(path)


def test_gate_warns_about_different_machines(tmp_path):
    rng = np.random.default_rng(4)
    samples = rng.integers(900, 1100, 2000)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    vdsotime.save_run(old, {"f": _result(samples, clocksource="tsc")})
    vdsotime.save_run(new, {"f": _result(samples, clocksource="hpet")})
    result = cli("compare-runs", old, new)
    assert result.returncode == 0
    assert ("vdsotime: warning: the runs differ in clocksource: 'tsc' (old) vs 'hpet' (new)"
            in result.stderr)


@pytest.mark.parametrize("args,status,message", [
    (("compare-runs", "/no/such.json", "/no/such.json"), 2,
     "cannot read /no/such.json: No such file or directory"),
    (("compare-runs", "{bad}", "{bad}"), 2, "is not a saved vdsotime run"),
    (("compare-runs", "{old}", "{other}"), 2, "no benchmark is in both"),
    (("compare-runs", "{old}", "{old}", "--fail-above", "lots"), 2,
     "expected a percentage such as 5 or 5%, got 'lots'"),
    (("compare-runs", "{old}", "{old}", "--metric", "p75"), 2, "invalid choice: 'p75'"),
    (("bench", "--save", "{bad}", "-n", "10", "pass"), 1, "--save: "),
])
def test_gate_errors_are_one_line(tmp_path, args, status, message):
    files = {"old": tmp_path / "old.json", "other": tmp_path / "other.json",
             "bad": tmp_path / "bad.json"}
    vdsotime.save_run(files["old"], {"f": _result([1, 2, 3, 4])})
    vdsotime.save_run(files["other"], {"g": _result([1, 2, 3, 4])})
    files["bad"].write_text("{}")
    result = cli(*(arg.format(**files) for arg in args))
    assert result.returncode == status, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# -- runs from several processes ---------------------------------------------------------

def _processes_run(rng, processes=12, calls=500, scale=1.0, name="f"):
    """A synthetic run from ``processes`` processes that differ as processes do: each
    process's calls scaled by its own factor from 0.7 to 1.4 (layout, hash seed, the
    moment on a shared machine), ``scale`` times over."""
    parts = [np.round(rng.integers(900, 1100, calls) * rng.uniform(0.7, 1.4) * scale)
             for _ in range(processes)]
    return {name: _result(np.concatenate(parts), process_sizes=[calls] * processes)}


@pytest.mark.slow
def test_process_units_bound_false_positives_when_processes_differ():
    """Two runs from one distribution with a wide spread between processes (12 each):
    the per-process medians are exchangeable between the runs, so the exact rank-sum
    test on them is significant with probability at most 0.05, and the gate rarely
    calls a change (deterministic seeds; at most 3 of 20 allowed, P(Binomial(20, 0.05)
    >= 4) = 0.016). A real 2x slowdown is found every time. Runs from one process each,
    drawn the same way, show why the processes must be the units: the blocks see only
    the noise within each run, and the gate calls most pairs different."""
    same, shifted, one_process = [], [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        old, new = _processes_run(rng), _processes_run(rng)
        comparison = vdsotime.compare_runs(old, new)
        [change] = comparison.changes
        assert (change.units, change.old_units, change.new_units) == ("processes", 12, 12)
        same.append(change.significant)
        assert not comparison.unit_warnings
        slower = _processes_run(rng, scale=2.0)
        shifted.append(vdsotime.compare_runs(old, slower).failed)
        single = [{"f": _result(_processes_run(rng, 1, 6000)["f"].samples_ns)}
                  for _ in range(2)]
        one_process.append(vdsotime.compare_runs(*single).changes[0].significant)
    assert sum(same) <= 3, same
    assert all(shifted), shifted
    assert sum(one_process) >= 10, one_process



@pytest.mark.parametrize("processes", [10, None])
@pytest.mark.parametrize("factor", [1.0, 0.99, 1.03, 1.10])
def test_the_gates_verdicts_on_compact_runs_are_those_on_exact_ones(tmp_path, processes,
                                                                    factor):
    """The same two runs saved exactly and as histograms: compare_runs gives the same
    verdicts, and ratios and intervals within 0.1 %, on every metric; calls of a few
    microseconds, so that the buckets (0.05 % wide there) matter."""
    rng = np.random.default_rng([processes or 1, int(factor * 100)])

    def run(scale):
        if processes is None:
            return {"f": _result(np.round(rng.gamma(3.0, 900.0, 20_000) * scale + 4_000))}
        return {"f": _result(np.concatenate([
            np.round((rng.gamma(3.0, 900.0, 2_000) + 4_000) * rng.uniform(0.9, 1.1)
                     * scale) for _ in range(processes)]), process_sizes=[2_000] * processes)}

    old, new = run(1.0), run(factor)
    paths = {}
    for exact in (True, False):
        for side, results in (("old", old), ("new", new)):
            paths[side, exact] = tmp_path / f"{side}-{exact}.json"
            vdsotime.save_run(paths[side, exact], results, exact=exact)
    for metric in ("p50", "p99", "mean"):
        [exact] = vdsotime.compare_runs(paths["old", True], paths["new", True], metric,
                                        fail_above=2).changes
        [compact] = vdsotime.compare_runs(paths["old", False], paths["new", False], metric,
                                          fail_above=2).changes
        assert (compact.significant, compact.regression, compact.improvement) == \
            (exact.significant, exact.regression, exact.improvement), (metric, exact, compact)
        assert compact.ratio == pytest.approx(exact.ratio, rel=1e-3)
        assert compact.ci == pytest.approx(exact.ci, rel=1e-3)
        assert compact.units == exact.units


@pytest.mark.slow
def test_gate_on_two_runs_from_one_distribution_passes_in_most_seeds(tmp_path):
    """Two distinct files drawn from one distribution: one real 12-process bench, its
    processes dealt at random into two runs of 6 (a permutation: which process lands
    in which run is a coin, so the rank-sum test's level holds whatever the machine's
    drift). compare-runs exits 0 in most of 8 deals."""
    whole = tmp_path / "whole.json"
    made = cli("bench", "--processes", "12", "-n", "3000", "--save", whole, "--name", "sum",
               "sum(range(100))")
    assert made.returncode == 0, made.stderr
    result = vdsotime.load_run(whole)["sum"]
    sizes = result.metadata["process_sizes"]
    assert len(sizes) == 12 and sum(sizes) == result.n == len(result.samples_ns)
    parts = np.split(result.samples_ns, np.cumsum(sizes)[:-1])
    statuses = []
    for seed in range(8):
        order = np.random.default_rng(seed).permutation(12)
        paths = []
        for side, chosen in (("old", order[:6]), ("new", order[6:])):
            samples = np.concatenate([parts[k] for k in chosen])
            metadata = dict(result.metadata, process_sizes=[sizes[k] for k in chosen])
            path = tmp_path / f"{side}{seed}.json"
            vdsotime.save_run(path, {"sum": result._replace(samples_ns=samples,
                                                            n=len(samples),
                                                            metadata=metadata)})
            paths.append(path)
        gate = cli("compare-runs", *paths)
        assert gate.returncode in (0, 1), gate.stderr
        assert "6/6 proc" in gate.stdout and "from one process" not in gate.stderr
        statuses.append(gate.returncode)
    assert statuses.count(0) >= 6, statuses


def test_bench_in_processes_keeps_the_process_sizes_through_save_and_load(tmp_path):
    result = vdsotime.bench("sum(range(50))", processes=3, n=400, warmup=10)
    assert result.metadata["processes"] == 3
    assert result.metadata["process_sizes"] == [400, 400, 400]
    assert result.n == len(result.samples_ns) == 1200
    assert result.name == result.metadata["statement"] == "sum(range(50))"
    callable_result = vdsotime.bench(sorted, [3, 1, 2], processes=2, n=300)
    assert callable_result.metadata["process_sizes"] == [300, 300]
    assert callable_result.name == "sorted"
    path, exact = tmp_path / "run.json", tmp_path / "exact.json"
    vdsotime.save_run(path, {"sum": result, "sorted": callable_result})
    vdsotime.save_run(exact, {"sum": result, "sorted": callable_result}, exact=True)
    loaded, loaded_exact = vdsotime.load_run(path), vdsotime.load_run(exact)
    for name, original in (("sum", result), ("sorted", callable_result)):
        sizes = original.metadata["process_sizes"]
        assert np.array_equal(loaded_exact[name].samples_ns, original.samples_ns)
        for run in (loaded[name], loaded_exact[name]):
            assert run.metadata["process_sizes"] == sizes
            assert runs.process_sizes(run) == sizes
        for decoded, part in zip(np.split(loaded[name].samples_ns, np.cumsum(sizes)[:-1]),
                                 np.split(original.samples_ns, np.cumsum(sizes)[:-1])):
            assert _within_three_digits(decoded, part)


@pytest.mark.slow
def test_bench_processes_on_the_command_line_and_the_gate_says_processes(tmp_path):
    paths = [tmp_path / "old.json", tmp_path / "new.json"]
    for path in paths:
        made = cli("bench", "--processes", "3", "-n", "500", "--save", path, "--name",
                   "sum", "sum(range(100))")
        assert made.returncode == 0, made.stderr
        assert "(3 processes of 500 calls)" in made.stdout
        assert vdsotime.load_run(path)["sum"].metadata["process_sizes"] == [500] * 3
    gate = cli("compare-runs", *paths)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "3/3 proc" in gate.stdout
    # 3 against 3: the exact rank-sum test's smallest p is 2 / C(6, 3) = 0.1.
    assert ("sum: 3 processes against 3 are too few for the rank-sum test ever to reach "
            "p < 0.05 (its smallest p is 0.1): the gate cannot fail") in gate.stderr
    data = json.loads(cli("compare-runs", "--json", *paths).stdout)
    change = data["changes"][0]
    assert (change["units"], change["old_units"], change["new_units"]) == ("processes", 3, 3)
    assert any("too few" in text for text in data["warnings"])


def test_a_one_process_run_makes_the_gate_warn(tmp_path):
    rng = np.random.default_rng(5)
    multi = _processes_run(rng, processes=6)
    single = {"f": _result(rng.integers(900, 1100, 3000))}
    comparison = vdsotime.compare_runs(multi, single)
    [change] = comparison.changes
    assert (change.units, change.old_units, change.new_units) == ("blocks", 20, 20)
    [warning] = comparison.unit_warnings
    assert warning.startswith("f: the new run is from one process, so the test compares "
                              "blocks of calls and sees only the noise within one process")
    assert "--processes" in warning and warning in comparison.warnings
    assert "20/20 blocks" in str(comparison)
    both = vdsotime.compare_runs(single, single).unit_warnings
    assert both[0].startswith("f: the old and new runs are from one process")
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    vdsotime.save_run(old, multi)
    vdsotime.save_run(new, single)
    gate = cli("compare-runs", old, new)
    assert gate.returncode == 0
    assert f"vdsotime: warning: {warning}" in gate.stderr


def test_load_run_refuses_process_sizes_that_do_not_add_up(tmp_path):
    path = tmp_path / "run.json"
    broken = {"f": _result([1, 2, 3, 4], process_sizes=[2, 1])}
    vdsotime.save_run(path, broken, exact=True)
    with pytest.raises(ValueError, match=r"benchmark 0: metadata process_sizes must be "
                                         r"counts >= 1 adding up to the 4 samples"):
        vdsotime.load_run(path)
    # Histograms are kept per process: such a result is refused before writing.
    with pytest.raises(ValueError, match=r"save_run\(\): results\['f'\]: metadata "
                                         r"process_sizes must be counts >= 1 adding up"):
        vdsotime.save_run(tmp_path / "compact.json", broken)
    assert not (tmp_path / "compact.json").exists()


@pytest.mark.parametrize("processes,error,message", [
    (0, ValueError, "must be >= 1, got 0"), (-1, ValueError, "must be >= 1, got -1"),
    (True, TypeError, "must be an integer, got bool"),
    ("x", TypeError, "must be an integer, got str"),
    (2.0, TypeError, "must be an integer, got float")])
def test_bench_refuses_bad_processes(processes, error, message):
    """The count rule of every entry point (compare()'s processes= too)."""
    with pytest.raises(error, match=r"bench\(\): processes " + message):
        vdsotime.bench(sorted, [1], processes=processes)
    with pytest.raises(error, match=r"compare\(\): processes " + message):
        vdsotime.compare(sorted, sorted, [1], processes=processes)


def test_bench_in_processes_refuses_what_a_worker_cannot_import():
    def local():
        pass

    with pytest.raises(ValueError, match=r"bench\(\): processes= .* is defined in a "
                                         "function or lambda"):
        vdsotime.bench(local, processes=2)
    with pytest.raises(ValueError, match=r"bench\(\): processes= sends the arguments"):
        vdsotime.bench(len, (lambda: 1,), processes=2)
    with pytest.raises(TypeError, match="setup is for statements"):
        vdsotime.bench(len, [1], setup="import os", processes=2)


BENCH_PROCESSES_INTERRUPT_CHILD = COUNTED_CALLS_CHILD + textwrap.dedent("""
    try:
        vdsotime.bench(statement, setup=setup, n=30, warmup=5, processes=1000)
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "partial_result", None)
        if partial is None:
            print("interrupted none", flush=True)
        else:
            sizes = partial.metadata["process_sizes"]
            print("interrupted", len(sizes), set(sizes) == {30},
                  len(partial.samples_ns) == sum(sizes), partial.metadata["interrupted"],
                  flush=True)
""")


@pytest.mark.parametrize("target", ["process", "group"])
def test_ctrl_c_during_bench_processes_keeps_the_finished_processes(tmp_path, target):
    """Ctrl-C while bench(processes=) runs its workers: partial_result holds the
    processes that finished, whole. The statement counts its calls in a file (per
    process 35: 5 warm-up and 30 timed), so the signal comes once the third process has
    made all its calls: the first two have answered by then (the third may still be
    cut short), whatever the machine's load."""
    out, err, _ = interrupt_once_counted(BENCH_PROCESSES_INTERRUPT_CHILD, tmp_path / "calls",
                                         3 * 35, target)
    words = out.split()
    assert words[:1] == ["interrupted"], out + err
    assert words[1] != "none" and int(words[1]) >= 2, out + err
    assert words[2:] == ["True", "True", "True"], out + err


BENCH_CLI_INTERRUPT_CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from vdsotime import cli
    print("ready", flush=True)
    sys.exit(cli.main(["bench", "--processes", "1000", "-n", "30", "-w", "5", "--save",
                       sys.argv[2], "-s", f"import time; calls = open({sys.argv[1]!r}, "
                       "'ab', buffering=0)", "calls.write(b'x'); time.sleep(0.001)"]))
""")


def test_ctrl_c_during_bench_processes_on_the_command_line_prints_the_finished(tmp_path):
    """vdsotime bench --processes, interrupted: the processes that finished are
    printed, nothing is saved (a file is for whole runs), the exit status is 130."""
    calls, saved = tmp_path / "calls", tmp_path / "run.json"
    out, err, status = interrupt_once_counted(BENCH_CLI_INTERRUPT_CHILD, calls, 3 * 35,
                                              "process", saved)
    assert status == 130, out + err
    assert "vdsotime: interrupted; the " in err and " processes finished of 1000" in err
    assert " processes of 30 calls)" in out
    assert not saved.exists()
