"""Plots through matplotlib (the optional extra ``vdsotime[plot]``): the latency
histogram of a bench() result, the comparison of compare()'s candidates, and the gaps of
a jitter() run. ``check_path()`` validates an output path before anything is measured.
"""

import os

import numpy as np

from vdsotime import stats

# Per-call percentiles marked on latency histograms.
MARKS = ((50, "p50", "-"), (99, "p99", "--"), (99.9, "p99.9", ":"))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'vdsotime[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def check_path(path):
    """Raise before a measurement when ``path`` cannot take a plot: matplotlib missing
    (ImportError), an extension matplotlib cannot write, or a folder that does not
    exist or is not writable (ValueError, naming the path)."""
    path = os.fspath(path)
    plt = _pyplot()
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    figure = plt.figure()
    supported = sorted(figure.canvas.get_supported_filetypes())
    plt.close(figure)
    if extension not in supported:
        raise ValueError(f"cannot plot to {path}: the file name must end in one of "
                         f".{', .'.join(supported)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot plot to {path}: no folder {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path)
                                          and not os.access(path, os.W_OK)):
        raise ValueError(f"cannot plot to {path}: not writable")
    if os.path.isdir(path):
        raise ValueError(f"cannot plot to {path}: it is a folder")


def _ns_axis(axes, which="x"):
    """A log axis of ns with tick labels in human units (850 ns, 12 us, 4 ms)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    getattr(axes, f"set_{which}scale")("log")
    axis = getattr(axes, f"{which}axis")
    low, high = getattr(axes, f"get_{which}lim")()
    # 1-2-5 steps over a few decades; one tick per decade over more.
    wide = high > 0 and low > 0 and high / low > 3e3
    axis.set_major_locator(LogLocator(base=10, subs=(1.0,) if wide else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: stats.format_ns(value)))
    axis.set_minor_formatter(FuncFormatter(lambda value, _: ""))


def _hist_steps(samples, per_octave=8):
    """(edges, counts) of a log histogram, the [0, 1) bucket drawn from 0.5 ns (a log
    axis has no 0)."""
    edges, counts = stats.log_histogram(samples, per_octave)
    edges = np.maximum(edges, 0.5)
    return edges, counts


def _describe(result):
    metadata = getattr(result, "metadata", None) or {}
    parts = [metadata.get("statement") or result.name]
    if metadata.get("timer"):
        parts.append(f"{metadata['timer']} timer")
    if metadata.get("clocksource"):
        parts.append(f"clocksource {metadata['clocksource']}")
    if metadata.get("hostname"):
        parts.append(metadata["hostname"])
    return ", ".join(str(part) for part in parts)


def plot_latency(result, path, title=None):
    """Write the latency histogram of a LatencyResult (or of an array of ns samples) to
    ``path`` (the extension picks the format): counts on a log scale against time on a
    log scale in human units, p50, p99 and p99.9 marked, the statement, timer and host in
    the title."""
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


def plot_comparison(comparison, path):
    """Write a Comparison: each candidate's latency histogram, overlaid, with its median
    marked and the verdicts below; beside it, each round's median in running order
    (drift and steps show there, and that they hit every candidate)."""
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


def plot_jitter(result, path):
    """Write a JitterResult: every gap (time into the run against its length), coloured
    by the CPU it resumed on, and the histogram of gap lengths with counts on a log
    scale."""
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
        _ns_axis(timeline, "y")
        edges, counts = _hist_steps(gaps["length_ns"], 4)
        histogram.stairs(counts, edges, fill=True)
        _ns_axis(histogram)
        histogram.set_yscale("log")
    timeline.set_xlabel("time into the run (s)")
    timeline.set_ylabel("gap")
    timeline.set_title(f"{len(gaps)} gaps >= {stats.format_ns(result.threshold_ns)}")
    histogram.set_xlabel("gap")
    histogram.set_ylabel("gaps")
    histogram.set_title(f"max {stats.format_ns(result.max_gap_ns)}, "
                        f"{result.stolen_percent:.3g}% of the time stolen")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
