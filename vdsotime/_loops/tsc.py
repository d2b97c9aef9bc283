"""TSC calibration: fit raw time-stamp counter ticks to CLOCK_MONOTONIC nanoseconds.

The pairs come from ``driver.tsc_pairs``: in each burst, the TSC read (lfence; rdtsc)
bracketed by the two clock reads that lie closest together is kept and placed at the
bracket's middle -- the tight-pair idea of the kernel's TSC calibration and of TSCNS.
A least-squares line through the pairs gives ``ns_per_tick``; its residuals say how well
the line fits. Nothing here runs at import: calibration happens when asked for.
"""

from __future__ import annotations

import warnings

import numpy as np

from vdsotime._core import hw, validate
from vdsotime._core.record import Record
from vdsotime._loops import driver

from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import numpy.typing as npt


class TscWarning(RuntimeWarning):
    """The time-stamp counter may not tick at a constant rate on this machine."""


class TscCalibration(Record):
    """A fit of TSC ticks to CLOCK_MONOTONIC, ns = ns0 + (ticks - ticks0) * ns_per_tick:
    CLOCK_MONOTONIC read ``ns0`` when the TSC read ``ticks0``, and a tick lasts
    ``ns_per_tick`` ns.

    ``residual_ns`` is the root-mean-square distance of the calibration pairs from the
    line, ``max_residual_ns`` the largest; ``pairs`` and ``seconds`` say what the fit
    used; ``invariant`` whether the TSC is invariant (None: unknown, the CPUID bit being
    clear and /proc/cpuinfo unreadable), and ``invariant_source`` how that was decided.
    """

    __slots__ = ()
    ns_per_tick: float
    ticks0: int
    ns0: int
    residual_ns: float
    max_residual_ns: float
    pairs: int
    seconds: float
    invariant: bool | None
    invariant_source: str

    @property
    def ghz(self) -> float:
        """The TSC frequency the fit implies, in GHz."""
        return 1.0 / self.ns_per_tick

    @overload
    def to_ns(self, ticks: int) -> int: ...

    @overload
    def to_ns(self, ticks: npt.ArrayLike) -> npt.NDArray[np.int64]: ...

    def to_ns(self, ticks: Any) -> Any:
        """Convert TSC ticks (an int or an array of uint64) to CLOCK_MONOTONIC ns, as
        int64 (an int for an int). Vectorised; exact to well under a nanosecond for tick
        distances up to 2**53 from the calibration (weeks at GHz rates)."""
        scalar = isinstance(ticks, (int, np.integer))
        array = np.asarray(ticks)
        if array.dtype.kind not in "ui":
            raise TypeError("TscCalibration.to_ns(): ticks must be integers (uint64 TSC "
                            f"readings), got {array.dtype}")
        # Differences in uint64 wrap for ticks before ticks0; viewed as int64 they are
        # the right negative distances.
        delta = (array.astype(np.uint64) - np.uint64(self.ticks0)).view(np.int64)
        result = np.rint(delta * self.ns_per_tick).astype(np.int64) + np.int64(self.ns0)
        return int(result) if scalar else result

    def to_dict(self) -> dict[str, Any]:
        result = self._asdict()
        result["ghz"] = self.ghz
        return result


def calibrate_tsc(seconds=0.05, *, bursts=None, tries=16, warn=True):
    """Fit TSC ticks to CLOCK_MONOTONIC over ``seconds`` of paired readings.

    The calibration keeps one core busy for ``seconds`` (0.001 to 3600; 50 ms gives about
    1 us accuracy and well under 1 ppm of rate error on a machine with an invariant TSC).
    Ctrl-C interrupts it within milliseconds.

    - ``bursts``: how many (clock, TSC, clock) pair bursts, evenly spread over
      ``seconds`` (default: one every 250 us, 16 to 2000).
    - ``tries``: reads per burst, of which the tightest bracket is kept (default 16).
    - ``warn``: warn with ``TscWarning`` when the TSC is not invariant (default True).

    x86 only: elsewhere ``NotImplementedError``.
    """
    hw.require_tsc("calibrate_tsc")
    seconds = validate.seconds("calibrate_tsc", seconds, low=0.001, high=3600)
    if bursts is None:
        bursts = max(16, min(2000, int(seconds * 4000)))  # one burst every 250 us
    else:
        bursts = validate.count("calibrate_tsc", "bursts", bursts, 2)
    tries = validate.count("calibrate_tsc", "tries", tries, 1)
    validate.memory("calibrate_tsc", "bursts", bursts, 24)  # three int64 arrays
    invariant, source = hw.tsc_invariant()
    if warn and not invariant:
        warnings.warn(f"the TSC may not be invariant on this machine ({source}): TSC "
                      "readings can drift from CLOCK_MONOTONIC or differ between CPUs",
                      TscWarning, stacklevel=2)
    spacing = int(seconds * 1e9 / (bursts - 1))
    middles, ticks, widths = driver.tsc_pairs(bursts, tries, spacing)
    # Drop the worst-bracketed quarter (interrupted or preempted bursts), then fit.
    keep = widths <= np.quantile(widths, 0.75)
    middles, ticks = middles[keep], ticks[keep]
    ticks0, ns0 = int(ticks[0]), int(middles[0])
    x = (ticks - np.uint64(ticks0)).view(np.int64).astype(np.float64)
    y = (middles - ns0).astype(np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (slope * x + intercept)
    return TscCalibration(
        ns_per_tick=float(slope), ticks0=ticks0, ns0=ns0 + int(round(intercept)),
        residual_ns=float(np.sqrt(np.mean(residuals ** 2))),
        max_residual_ns=float(np.max(np.abs(residuals))), pairs=int(keep.sum()),
        seconds=float(seconds), invariant=invariant, invariant_source=source)
