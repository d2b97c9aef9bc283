"""vdsotime.plot: the files it writes, what it puts in them, and the path check that runs
before anything is measured. (The comparison plot is tested with compare().)"""

import textwrap

import numpy as np
import pytest

import vdsotime
from vdsotime import plot, stats

from oracle import run_python

PNG = b"\x89PNG\r\n\x1a\n"


def _result(samples):
    return vdsotime.LatencyResult("sorted(data)", np.asarray(samples, dtype=np.int64), 20.0,
                                  len(samples), 10,
                                  {"timer": "tsc", "hostname": "testhost",
                                   "clocksource": "tsc", "statement": "sorted(data)"})


def test_latency_plot_marks_the_percentiles_and_names_the_run(tmp_path, monkeypatch):
    samples = np.r_[np.full(900, 1_000), np.full(90, 5_000), np.full(10, 2_000_000)]
    drawn = {}
    import matplotlib.figure

    save = matplotlib.figure.Figure.savefig

    def spy(figure, path, **kwargs):
        axes = figure.axes[0]
        drawn["title"] = axes.get_title()
        drawn["legend"] = [text.get_text() for text in axes.get_legend().get_texts()]
        drawn["xscale"], drawn["yscale"] = axes.get_xscale(), axes.get_yscale()
        drawn["ticks"] = [label.get_text() for label in axes.get_xticklabels()]
        return save(figure, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    path = tmp_path / "latency.png"
    plot.plot_latency(_result(samples), path)
    assert path.read_bytes()[:8] == PNG
    assert "sorted(data)" in drawn["title"] and "tsc timer" in drawn["title"]
    assert "testhost" in drawn["title"] and "1,000 calls" in drawn["title"]
    p50, p99, p999 = (stats.format_ns(np.percentile(samples, q)) for q in (50, 99, 99.9))
    assert drawn["legend"] == [f"p50 {p50}", f"p99 {p99}", f"p99.9 {p999}"]
    assert drawn["xscale"] == drawn["yscale"] == "log"
    assert any(label.endswith(("us", "ms", "ns")) for label in drawn["ticks"] if label)


def test_latency_plot_formats_and_arrays(tmp_path):
    svg = tmp_path / "latency.svg"
    plot.plot_latency(np.arange(1, 500), svg, title="an array")
    assert b"<svg" in svg.read_bytes()[:500]
    png = tmp_path / "latency.png"
    plot.plot_latency(np.arange(1, 500), png)
    assert png.read_bytes()[:8] == PNG


def test_jitter_plot_colours_each_cpu(tmp_path, monkeypatch):
    from vdsotime._bench.measure import GAP_DTYPE, JitterResult

    gaps = np.zeros(6, dtype=GAP_DTYPE)
    gaps["start_ns"] = np.arange(6) * 1_000_000
    gaps["length_ns"] = [20_000, 30_000, 1_000_000, 25_000, 40_000, 2_000_000]
    gaps["cpu"] = [0, 1, 0, 1, 2, 2]
    result = JitterResult(gaps, 10**6, 10**9, 10_000, 1, 0)
    seen = {}
    import matplotlib.figure

    save = matplotlib.figure.Figure.savefig

    def spy(figure, path, **kwargs):
        timeline, histogram = figure.axes
        seen["cpus"] = [text.get_text() for text in timeline.get_legend().get_texts()]
        seen["colours"] = {tuple(c.get_facecolor()[0]) for c in timeline.collections}
        seen["count_scale"] = histogram.get_yscale()
        return save(figure, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot.plot_jitter(result, tmp_path / "jitter.png")
    assert seen["cpus"] == ["CPU 0", "CPU 1", "CPU 2"]
    assert len(seen["colours"]) == 3
    assert seen["count_scale"] == "log"
    assert (tmp_path / "jitter.png").read_bytes()[:8] == PNG


def _gap_labels_overlap(figure, axis):
    """Whether any two visible tick labels of ``axis`` on the drawn figure overlap or
    come within 6 pixels of each other (text that touches reads as one word)."""
    renderer = figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer).padded(3) for label in axis.get_ticklabels()
             if label.get_visible() and label.get_text()]
    return any(a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1:])


@pytest.mark.parametrize("low,high", [(3.7, 5.5), (1.0, 9.0), (3.0, 4.0)])
def test_jitter_plot_shows_every_gap_and_the_longest_kept(tmp_path, monkeypatch, low, high):
    """The histogram counts every gap (from the run's buckets), the timeline shows the
    kept ones, the cut between them is marked, and no two tick labels run into each
    other, however many decades the gaps span."""
    from vdsotime._bench.measure import GAP_DTYPE, jitter_result
    from vdsotime._loops import driver

    steps = (10 ** np.random.default_rng(5).uniform(low, high, 5_000)).astype(np.int64)
    run = driver.JitterRun(GAP_DTYPE, 10**9, 1, vdsotime.CLOCK_MONOTONIC, 200)
    run.replay(np.concatenate([[0], np.cumsum(steps)]))
    result = jitter_result(run, 1, vdsotime.CLOCK_MONOTONIC)
    seen = {}
    import matplotlib.figure

    save = matplotlib.figure.Figure.savefig

    def spy(figure, path, **kwargs):
        timeline, histogram = figure.axes
        figure.canvas.draw()
        seen["overlap"] = [_gap_labels_overlap(figure, axis) for axis in
                           (timeline.yaxis, histogram.xaxis, histogram.yaxis)]
        seen["counted"] = sum(patch.get_path().vertices[:, 1].max() > 0
                              for patch in histogram.patches)
        seen["points"] = sum(len(collection.get_offsets()) for collection in timeline.collections)
        seen["titles"] = timeline.get_title(), histogram.get_title()
        seen["cut"] = [text.get_text() for text in histogram.get_legend().get_texts()]
        seen["ticks"] = [label.get_text() for label in histogram.get_xticklabels()]
        return save(figure, path, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot.plot_jitter(result, tmp_path / "jitter.png")
    assert seen["overlap"] == [False, False, False]
    assert seen["points"] == 200
    assert seen["titles"][0] == "the 200 longest of 5,000 gaps >= 1 ns"
    shortest = stats.format_ns(int(result.gaps["length_ns"].min()))
    assert seen["cut"] == [f"kept: {shortest} and longer"]
    assert all(label.endswith((" ns", " us", " ms", " s")) for label in seen["ticks"] if label)
    assert (tmp_path / "jitter.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("name,error,message", [
    ("out.xyz", ValueError, "must end in a format matplotlib writes: .* .png"),
    ("no/such/folder/out.png", FileNotFoundError, "No such file or directory"),
    ("", IsADirectoryError, "Is a directory"),
])
def test_check_path_refuses(tmp_path, name, error, message):
    with pytest.raises(error, match=message):
        plot.check_plot_path(tmp_path / name if name else tmp_path)


def test_check_path_accepts_what_matplotlib_writes(tmp_path):
    for name in ("a.png", "b.svg", "c.pdf", "D.PNG"):
        plot.check_plot_path(tmp_path / name)


def test_missing_matplotlib_is_a_clear_message(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["matplotlib"] = None  # as if it were not installed
        import vdsotime.plot
        for call in (lambda: vdsotime.plot.check_plot_path({str(tmp_path / 'x.png')!r}),
                     lambda: vdsotime.plot.plot_latency([1, 2], {str(tmp_path / 'x.png')!r})):
            try:
                call()
            except ImportError as exc:
                print(exc)
    """)
    result = run_python(code)
    assert result.stdout.splitlines() == [
        "plotting needs matplotlib: pip install 'vdsotime[plot]'"] * 2, result.stderr


def test_stats_imports_no_plotting():
    result = run_python("import sys, vdsotime.stats; "
                        "print('matplotlib' in sys.modules, 'vdsotime.plot' in sys.modules)")
    assert result.stdout.split() == ["False", "False"], result.stderr
