"""Interop with pyperf and HdrHistogram, checked with the real packages: pyperf loads
what to_pyperf() writes (and its command line reads it), the hdrhistogram package
decodes to_hdr(), and to_hgrm() follows HdrHistogram's percentile iteration."""

import math
import subprocess
import sys

import numpy as np
import pytest

import vdsotime

from oracle import NEUTRAL_CWD
from requires import require_module


# The real packages are the oracles: a test without one skips naming it (and fails under
# VDSOTIME_REQUIRE_ALL=1, as in CI).
@pytest.fixture
def pyperf():
    return require_module("pyperf", "pyperf")


@pytest.fixture
def hdrh():
    return require_module("hdrh.histogram", "hdrhistogram")


def _result(samples, name="sum(range(100))"):
    samples = np.asarray(samples, dtype=np.int64)
    metadata = {"cpu_model": "Test CPU", "cpu_count": 2, "hostname": "testhost",
                "python_version": "3.11.7", "python_implementation": "CPython",
                "kernel": "6.1.0", "machine": "x86_64", "timer": "tsc",
                "tsc_flags": ["constant_tsc", "tsc"], "cpu_boost": None, "cpu_governor": None,
                "statement": "x = 1\ny = 2", "date": "2026-11-25T21:30:00Z", "n": len(samples)}
    return vdsotime.LatencyResult(name, samples, 18.5, len(samples), 10, metadata)


def test_pyperf_loads_what_to_pyperf_writes(tmp_path, pyperf):
    samples = np.r_[np.arange(400, 1400), [0, 0, 12_345_678]]
    path = tmp_path / "run.json"
    _result(samples).to_pyperf(path)
    benchmark = pyperf.Benchmark.load(str(path))
    assert benchmark.get_name() == "sum(range(100))"
    assert benchmark.get_unit() == "second"
    # Every call, in seconds; pyperf wants values > 0, so the two 0 ns calls are 1 ns.
    expected = np.maximum(samples, 1) / 1e9
    assert list(benchmark.get_values()) == expected.tolist()
    metadata = benchmark.get_metadata()
    assert metadata["cpu_model_name"] == "Test CPU" and metadata["hostname"] == "testhost"
    assert metadata["loops"] == 1 and metadata["vdsotime_statement"] == "x = 1; y = 2"
    assert metadata["vdsotime_tsc_flags"] == "constant_tsc tsc"
    assert "tsc timer" in metadata["timer"]
    assert benchmark.median() == pytest.approx(np.median(expected))


def test_pyperf_command_line_reads_it(tmp_path, pyperf):
    rng = np.random.default_rng(2)
    old, new = tmp_path / "old.json.gz", tmp_path / "new.json"
    _result(rng.integers(900, 1100, 2000), "f").to_pyperf(old)
    _result(rng.integers(1900, 2100, 2000), "f").to_pyperf(new)
    for command in (["stats", str(new)], ["hist", str(new)], ["check", str(new)],
                    ["compare_to", str(old), str(new)]):
        run = subprocess.run([sys.executable, "-m", "pyperf", *command], capture_output=True,
                             text=True, cwd=NEUTRAL_CWD, timeout=120)
        assert run.returncode == 0, (command, run.stderr)
    assert "Median +- MAD" in subprocess.run(
        [sys.executable, "-m", "pyperf", "stats", str(new)], capture_output=True, text=True,
        cwd=NEUTRAL_CWD).stdout
    compared = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(old),
                               str(new)], capture_output=True, text=True, cwd=NEUTRAL_CWD)
    assert "slower" in compared.stdout, compared.stdout


def test_hdrhistogram_decodes_to_hdr(hdrh):
    rng = np.random.default_rng(3)
    samples = np.r_[rng.integers(0, 5_000, 20_000), rng.integers(10_000, 3_000_000, 500)]
    encoded = _result(samples).to_hdr()
    assert isinstance(encoded, str)
    histogram = hdrh.HdrHistogram.decode(encoded)
    assert histogram.get_total_count() == len(samples)
    assert histogram.values_are_equivalent(histogram.get_max_value(), int(samples.max()))
    assert histogram.get_min_value() == int(samples.min())
    # Every value within HdrHistogram's 3 significant digits of the exact figure.
    for q in (50, 90, 99, 99.9):
        exact = float(np.percentile(samples, q, method="inverted_cdf"))
        assert histogram.get_value_at_percentile(q) == pytest.approx(exact, rel=1e-3, abs=1)
    for value, count in zip(*np.unique(samples[samples < 2048], return_counts=True)):
        assert histogram.get_count_at_value(int(value)) == count  # exact below 2048


def test_to_hdr_without_the_package_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "hdrh.histogram", None)
    with pytest.raises(ImportError, match="to_hdr\\(\\) needs the hdrhistogram package: "
                                          "pip install hdrhistogram"):
        _result([1, 2, 3]).to_hdr()


# HdrHistogram's percentile levels with 5 ticks per half distance: steps of 10 % to
# 50 %, 5 % to 75 %, 2.5 % to 87.5 %, and so on (as in its documentation's .hgrm files).
LEVELS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.775, 0.8, 0.825,
          0.85, 0.875, 0.8875, 0.9, 0.9125, 0.925, 0.9375, 0.94375, 0.95, 0.95625, 0.9625,
          0.96875]


def _parse(text):
    lines = text.splitlines()
    assert lines[0] == ("       Value     Percentile TotalCount 1/(1-Percentile)")
    assert lines[1] == ""
    rows = [line.split() for line in lines[2:] if line and not line.startswith("#")]
    footer = [line for line in lines if line.startswith("#")]
    return rows, footer


def test_hgrm_follows_the_percentile_iteration(hdrh):
    samples = np.arange(1, 10_001)  # 1..10000 ns: the value at level L is ceil(L * 100)
    text = _result(samples).to_hgrm(unit="ns")
    rows, footer = _parse(text)
    levels = [float(row[1]) for row in rows]
    assert levels[:len(LEVELS)] == pytest.approx(LEVELS)
    for value, level, count, *inverse in rows[:-1]:
        level = float(level)
        # The smallest value with at least that share of the calls at or below it.
        assert float(value) == max(1, math.ceil(round(level * 10_000, 9)))
        assert int(count) == int(float(value))  # values 1..N: count at or below = value
        assert float(inverse[0]) == pytest.approx(1 / (1 - level), abs=0.005)
    assert rows[-1] == ["10000.000", "1.000000000000", "10000"]
    assert footer[0] == "#[Mean    =     5000.500, StdDeviation   =     2886.751]"
    assert footer[1] == "#[Max     =    10000.000, Total count    =        10000]"
    # An HdrHistogram from 1 to 10000 at 3 digits: 2048-wide sub-buckets, 4 buckets.
    histogram = hdrh.HdrHistogram(1, 10_000, 3)
    assert footer[2] == (f"#[Buckets = {histogram.bucket_count:12d}, "
                         f"SubBuckets     = {histogram.sub_bucket_count:12d}]")


def test_hgrm_units_and_repeated_values():
    samples = np.r_[np.full(90, 1_500), np.full(10, 40_000)]
    rows, footer = _parse(_result(samples).to_hgrm())  # microseconds by default
    assert rows[0][:3] == ["1.500", "0.000000000000", "90"]
    assert {row[0] for row in rows} == {"1.500", "40.000"}
    # Every level up to 90 % is reached at the first value, then one line at the last.
    assert [row[1] for row in rows if row[0] == "40.000"] == ["0.912500000000",
                                                              "1.000000000000"]
    assert footer[1].startswith("#[Max     =       40.000")
    ms, _ = _parse(_result(samples).to_hgrm("ms"))
    assert ms[-1][0] == "0.040"
    with pytest.raises(ValueError, match="unit must be 'ns', 'us' or 'ms'"):
        _result(samples).to_hgrm("s")
