"""Plots through matplotlib (the optional extra ``vdsotime[plot]``): the latency
histogram of a bench() result, the comparison of compare()'s candidates, and the gaps of
a jitter() run. ``check_plot_path()`` validates where a plot will go before a long
measurement rather than after it.
"""

from __future__ import annotations

import errno
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from vdsotime import stats

if TYPE_CHECKING:
    import numpy.typing as npt

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'vdsotime[plot]'"

# Per-call percentiles marked on latency histograms.
MARKS = ((50, "p50", "-"), (99, "p99", "--"), (99.9, "p99.9", ":"))


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _formats() -> dict[str, str]:
    """The file formats matplotlib can write: extension -> description."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    formats: dict[str, str] = FigureCanvasAgg(Figure()).get_supported_filetypes()
    return formats


def check_plot_path(path: str | os.PathLike[str]) -> str:
    """Check that a plot can be written to ``path``, and return it as a str.

    Raises ImportError without matplotlib, TypeError for a path that is not a str or
    os.PathLike, ValueError for an extension that names no format matplotlib writes
    (.png, .pdf, .svg, ...), and OSError when the folder is missing or not writable or
    the path is a folder. Nothing is written."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"check_plot_path(): path must be str or os.PathLike, got "
                        f"{type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str) or not text:
        raise TypeError(f"check_plot_path(): path must be a non-empty str path, got {path!r}")
    _pyplot()
    if os.path.isdir(text):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), text)
    formats = _formats()
    extension = os.path.splitext(text)[1].lower().lstrip(".")
    if extension not in formats:
        raise ValueError(f"plot file {text!r} must end in a format matplotlib writes: "
                         + ", ".join(f".{name}" for name in sorted(formats)))
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), folder)
    return text


def _ns_axis(axes: Any, which: str = "x") -> None:
    """A log axis of ns with tick labels in human units (850 ns, 12 us, 4 ms), few enough
    that they do not run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    getattr(axes, f"set_{which}scale")("log")
    axis = getattr(axes, f"{which}axis")
    low, high = getattr(axes, f"get_{which}lim")()
    decades = math.log10(high / low) if high > 0 and low > 0 else 0.0
    # Room for about one label per inch of axis, each ~6 characters ("200 us").
    box = axes.get_window_extent().transformed(axes.figure.dpi_scale_trans.inverted())
    room = max(3, int(box.width if which == "x" else box.height * 1.5))
    # 1-2-5 steps where they fit, else one tick per decade (or per few decades).
    subs = (1.0, 2.0, 5.0) if 3 * decades <= room else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=room + 2))
    axis.set_major_formatter(FuncFormatter(lambda value, _: _tick_label(value)))
    axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def _count_axis(axes: Any) -> None:
    """A log axis of counts labelled 1, 10, 100, 1,000 (not 10^3, 4x10^1)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0,)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def _tick_label(value: float) -> str:
    """A round tick value in ns, short: '200 ns', '5 us', '1.5 ms' (no trailing zeros)."""
    for unit, size in (("ns", 1.0), ("us", 1e3), ("ms", 1e6), ("s", 1e9)):
        if abs(value) < size * 1000 or unit == "s":
            return f"{value / size:.3g} {unit}"
    return f"{value:g} ns"  # pragma: no cover - the loop always returns


def _hist_steps(samples: Any, per_octave: int = 8) -> tuple[Any, Any]:
    """(edges, counts) of a log histogram, the [0, 1) bucket drawn from 0.5 ns (a log
    axis has no 0)."""
    edges, counts = stats.log_histogram(samples, per_octave)
    edges = np.maximum(edges, 0.5)
    return edges, counts


def _describe(result: Any) -> str:
    metadata = getattr(result, "metadata", None) or {}
    parts = [metadata.get("statement") or result.name]
    if metadata.get("timer"):
        parts.append(f"{metadata['timer']} timer")
    if metadata.get("clocksource"):
        parts.append(f"clocksource {metadata['clocksource']}")
    if metadata.get("hostname"):
        parts.append(metadata["hostname"])
    return ", ".join(str(part) for part in parts)


def plot_latency(result: Any, path: str | os.PathLike[str], title: str | None = None) -> None:
    """Write the latency histogram of ``result`` (a LatencyResult, or an array of ns
    samples) to ``path`` (the extension picks the format): counts on a log scale against
    time on a log scale in human units, p50, p99 and p99.9 marked. The ``title`` defaults
    to the statement, timer and host (for an array, "latency")."""
    samples = np.asarray(getattr(result, "samples_ns", result))
    if title is None:
        title = _describe(result) if hasattr(result, "samples_ns") else "latency"
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 4.8))
    if samples.size:
        edges, counts = _hist_steps(samples)
        axes.stairs(counts, edges, fill=True, alpha=0.8)
        for q, label, style in MARKS:
            value = float(np.percentile(samples, q))
            axes.axvline(max(value, 0.5), color="black", linestyle=style, linewidth=1,
                         label=f"{label} {stats.format_ns(value)}")
        axes.legend(loc="upper right")
        _ns_axis(axes)
    axes.set_yscale("log")
    axes.set_xlabel("time per call")
    axes.set_ylabel("calls")
    axes.set_title(f"{title}\n{samples.size:,} calls", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_comparison(comparison: Any, path: str | os.PathLike[str]) -> None:
    """Write ``comparison`` (a Comparison) to ``path`` (the extension picks the format):
    each candidate's latency histogram, overlaid, with its median marked and the
    verdicts below; beside it, each round's median in running order (drift and steps
    show there, and that they hit every candidate)."""
    plt = _pyplot()
    figure, (histogram, rounds) = plt.subplots(
        1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": (3, 2)})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, result) in enumerate(comparison.results.items()):
        colour = colours[k % len(colours)]
        edges, counts = _hist_steps(result.samples_ns)
        histogram.stairs(counts, edges, color=colour, linewidth=1.5, label=name[:40])
        median = float(np.percentile(result.samples_ns, 50))
        histogram.axvline(max(median, 0.5), color=colour, linestyle="--", linewidth=1)
        rounds.plot(np.arange(1, comparison.rounds + 1),
                    comparison.round_statistics(name), "o-", color=colour, markersize=3,
                    label=name[:40])
    _ns_axis(histogram)
    histogram.set_yscale("log")
    histogram.set_xlabel("time per call (dashed: median)")
    histogram.set_ylabel("calls")
    histogram.legend(loc="upper right", fontsize=8)
    rounds.set_xlabel("round")
    rounds.set_ylabel("median of the round")
    from matplotlib.ticker import FuncFormatter
    rounds.yaxis.set_major_formatter(FuncFormatter(lambda value, _: stats.format_ns(value)))
    verdicts = "\n".join(contrast.verdict() for contrast in comparison.contrasts[:4])
    host = next(iter(comparison.results.values())).metadata.get("hostname", "")
    figure.suptitle(f"{verdicts}\n{comparison.rounds} rounds in random order, "
                    f"{'%d processes' % comparison.processes if comparison.processes else 'one process'}"
                    f"{', ' + host if host else ''}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_jitter(result: Any, path: str | os.PathLike[str]) -> None:
    """Write ``result`` (a JitterResult) to ``path`` (the extension picks the format): the
    longest gaps it kept (time into the run against length, coloured by the CPU the loop
    resumed on), and the histogram of every gap's length with counts on a log scale,
    the shortest kept gap marked where not every gap is kept."""
    plt = _pyplot()
    gaps = result.gaps
    figure, (timeline, histogram) = plt.subplots(1, 2, figsize=(12, 4.8))
    if len(gaps):
        start = gaps["start_ns"][0] if result.start_ns is None else result.start_ns
        cpus = np.unique(gaps["cpu"])
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, cpu in enumerate(cpus):
            chosen = gaps["cpu"] == cpu
            timeline.scatter((gaps["start_ns"][chosen] - start) / 1e9,
                             gaps["length_ns"][chosen], s=6, color=colours[k % len(colours)],
                             label=f"CPU {cpu}" if cpu >= 0 else "CPU ?")
        if len(cpus) <= 16:
            timeline.legend(loc="upper right", fontsize=8, markerscale=2)
        edges, counts = result.histogram(4)
        histogram.stairs(counts, edges, fill=True)
        if result.gaps_kept < result.gap_count:
            shortest = int(gaps["length_ns"].min())
            histogram.axvline(shortest, color="black", linestyle="--", linewidth=1,
                              label=f"kept: {stats.format_ns(shortest)} and longer")
            histogram.legend(loc="upper right", fontsize=8)
        _count_axis(histogram)
        histogram.set_ylim(bottom=0.7)  # a bucket of one gap shows
        figure.tight_layout()  # the axes' final sizes, which the ticks fit
        _ns_axis(timeline, "y")
        _ns_axis(histogram)
    kept = ("all" if result.gaps_kept >= result.gap_count
            else f"the {result.gaps_kept:,} longest of")
    timeline.set_xlabel("time into the run (s)")
    timeline.set_ylabel("gap")
    timeline.set_title(f"{kept} {stats.format_count(result.gap_count, 'gap')} >= "
                       f"{stats.format_ns(result.threshold_ns)}", fontsize=10)
    histogram.set_xlabel("gap")
    histogram.set_ylabel("gaps")
    histogram.set_title(f"every gap: max {stats.format_ns(result.max_gap_ns)}, "
                        f"{stats.format_percent(result.stolen_percent)} of the time stolen",
                        fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
