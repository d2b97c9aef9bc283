"""Numbers for people: durations, counts, percentages and rates in text output (JSON
keeps the full precision). Public as ``vdsotime.stats.format_*``; here without numpy so
that the command line's quick commands need none."""

from __future__ import annotations

import math
from numbers import Real

# Durations: each unit with its size in ns and its default number of decimals.
_UNITS = (("ns", 1.0, 0), ("us", 1e3, 2), ("ms", 1e6, 2), ("s", 1e9, 2))


def _check_decimals(function: str, decimals: object) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"{function}(): decimals must be an int, got "
                        f"{type(decimals).__name__}")
    if not 0 <= decimals <= 9:
        raise ValueError(f"{function}(): decimals must be from 0 to 9, got {decimals}")
    return decimals


def _number(function: str, name: str, value: object) -> float:
    # numbers.Real takes int, float and numpy's scalars alike; bool is no number here.
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{function}(): {name} must be a number, got {type(value).__name__}")
    return float(value)


def format_ns(value: float, decimals: int | None = None) -> str:
    """A duration ``value`` given in ns, for people: in the largest unit (ns, us, ms, s)
    that keeps it below 1000, with a fixed number of decimals per unit (0 for ns, 2 for the others)
    or ``decimals`` for every unit: '850 ns', '12.35 us', '4.56 ms', '1.20 s',
    '1,234.00 s'."""
    if decimals is not None:
        _check_decimals("format_ns", decimals)
    value = _number("format_ns", "value", value)
    if not math.isfinite(value):
        return f"{value} ns"
    for unit, size, default in _UNITS:
        places = default if decimals is None else decimals
        scaled = round(value / size, places)
        # The unit is chosen after rounding: 999.7 ns is '1.00 us', not '1000 ns'.
        if abs(scaled) < 1000 or unit == "s":
            break
    return f"{scaled:,.{places}f} {unit}"


def format_count(count: int, noun: str, plural: str | None = None) -> str:
    """'1 call', '2 calls', '1,000,000 calls': ``count`` with thousands separators and
    ``noun`` in the singular or the plural (``plural``, by default noun + 's')."""
    if isinstance(count, bool) or not hasattr(type(count), "__index__"):
        raise TypeError(f"format_count(): count must be an int, got {type(count).__name__}")
    if not isinstance(noun, str) or not noun:
        raise TypeError(f"format_count(): noun must be a non-empty str, got {noun!r}")
    count = count.__index__()
    word = noun if count == 1 else (plural if plural is not None else noun + "s")
    return f"{count:,} {word}"


def format_percent(percent: float, decimals: int = 1) -> str:
    """``percent`` (0 to 100, not a fraction) with ``decimals`` fixed decimals: '12.5%',
    '100.0%'. A value too small to show but above zero is '<0.1%', not a misleading
    '0.0%'."""
    decimals = _check_decimals("format_percent", decimals)
    percent = _number("format_percent", "percent", percent)
    smallest = 10.0 ** -decimals
    if 0 < percent < smallest / 2:
        return f"<{smallest:.{decimals}f}%"
    return f"{percent:,.{decimals}f}%"


def format_rate(per_second: float, decimals: int = 1) -> str:
    """A rate of events, ``per_second``, with thousands separators and ``decimals`` fixed
    decimals: '10,000.0 per second'."""
    decimals = _check_decimals("format_rate", decimals)
    per_second = _number("format_rate", "per_second", per_second)
    return f"{per_second:,.{decimals}f} per second"
