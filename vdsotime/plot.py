"""Plots of latencies and jitter runs through matplotlib (the optional extra
``vdsotime[plot]``), and ``check_plot_path()`` to validate where a plot will go before a
long measurement rather than after it."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from vdsotime.stats import format_count, format_ns, format_percent, log_histogram

if TYPE_CHECKING:
    import numpy.typing as npt

MISSING_MATPLOTLIB = "plotting needs matplotlib: pip install 'vdsotime[plot]'"


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


def plot_latency(samples_ns: npt.ArrayLike, path: str | os.PathLike[str],
                 title: str = "latency") -> None:
    """Write a plot (format from the extension; .png for a PNG): the log-scale histogram
    of ``samples_ns``."""
    plt = _pyplot()
    edges, counts = log_histogram(samples_ns)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    lefts = np.maximum(edges[:-1], 0.5)
    axes.bar(lefts, counts, width=np.diff(np.maximum(edges, 0.5)), align="edge")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("ns")
    axes.set_ylabel("count")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_jitter(result: Any, path: str | os.PathLike[str]) -> None:
    """Write a plot for a JitterResult: every gap (time into the run against its length),
    and the histogram of gap lengths."""
    plt = _pyplot()
    gaps = result.gaps
    figure, (timeline, histogram) = plt.subplots(1, 2, figsize=(11, 4.5))
    if len(gaps):
        start = gaps["start_ns"][0] if result.start_ns is None else result.start_ns
        timeline.scatter((gaps["start_ns"] - start) / 1e9, gaps["length_ns"] / 1e3, s=6)
        timeline.set_yscale("log")
        edges, counts = log_histogram(gaps["length_ns"])
        histogram.bar(np.maximum(edges[:-1], 0.5) / 1e3, counts,
                      width=np.diff(np.maximum(edges, 0.5)) / 1e3, align="edge")
        histogram.set_xscale("log")
    timeline.set_xlabel("time into the run (s)")
    timeline.set_ylabel("gap (us)")
    timeline.set_title(f"{format_count(len(gaps), 'gap')} >= {format_ns(result.threshold_ns)}")
    histogram.set_xlabel("gap (us)")
    histogram.set_ylabel("count")
    histogram.set_title(f"max {format_ns(result.max_gap_ns)}, "
                        f"{format_percent(result.stolen_percent)} of the time stolen")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
