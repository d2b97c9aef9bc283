"""Test helpers for code that uses vdsotime: a mock clock.

    import vdsotime
    from vdsotime.testing import mock_clock

    with mock_clock(start_ns=1_000_000_000) as clock:
        assert vdsotime.monotonic_ns() == 1_000_000_000
        clock.advance(250_000_000)
        assert vdsotime.monotonic_ns() == 1_250_000_000

``mock_clock`` swaps the entries of vdsotime's function table, so every path that reads
a clock through vdsotime sees mock time: the Python functions (``monotonic_ns()``,
``time()``, ``clock_gettime_ns()``, ``gettimeofday()``, ...), the samplers
(``sample()``, ``sample_cpu()``, ``sample_every()``, ``jitter()``), Cython code that
cimports ``vdsotime.clock``, numba code using ``vdsotime.numba``, and C code holding the
table from the capsule (``vdsotime.h``). The table is restored on exit, also when the
block raises.

What mock time is:

- One count of mock nanoseconds moves every mocked clock together: ``advance(ns)``
  adds to it, and with ``step_ns > 0`` every reading of any mocked clock adds
  ``step_ns`` after it is taken (so each reading differs from the one before, whichever
  clock or thread took it).
- Each clock id has its own offset: with ``start_ns`` every clock starts there; without
  it, each starts from its real reading at entry (CLOCK_REALTIME at the date, CLOCK_MONOTONIC
  at the uptime, ...). ``set(ns, clock_id)`` moves one clock alone (a step of the wall
  clock, for instance); REALTIME and MONOTONIC otherwise advance together.
- The clock ids 0 to ``CLOCK_AUX_LAST`` that the kernel knows at entry are mocked, the
  CPU-time clocks of this process and thread included; ids the kernel refuses stay
  refused (OSError EINVAL). Other threads' and processes' CPU clocks (negative ids) and
  dynamic POSIX clocks (``clock_from_fd``) read the real clock.
- ``clock_getres`` is not mocked: it reports the real clock's resolution (a mock
  reading is exact to the nanosecond, whatever the resolution says).
- Thread-safe: readings, ``advance()`` and ``set()`` are atomic operations on 64-bit
  counters. Entering and leaving swap table entries that other threads may be reading:
  a sampler running in another thread at that moment sees real readings, then mock ones
  (or the reverse).
- Nesting is refused (RuntimeError): there is one function table. Use ``advance()`` or
  ``set()`` on the active mock instead.

What it does not reach: ``vdsotime.address()`` and ``info()`` still give the real
functions' addresses (ctypes or cffi code that took an address calls the real clock),
and the deadlines of vdsotime's own loops, which read the real CLOCK_MONOTONIC so that a
frozen mock (``step_ns=0``) cannot hang a sampler: ``sample_every()`` waits on mock time
and answers Ctrl-C within milliseconds; ``jitter(seconds)`` lasts real seconds. The TSC
(``sample_tsc``, ``calibrate_tsc``, ``tsc_skew``) and the costs ``health()`` measures stay
real, and so does ``bench()`` on its default timer (the TSC where it is invariant);
``overhead()`` and ``bench(..., timer="monotonic")`` time with the table's clock, so they
see mock time.

freezegun and time-machine: they replace the ``time`` module's functions (freezegun in
every loaded module; time-machine at the C level) and ``datetime``. They do not reach
vdsotime, which reads the vDSO through its own table: under ``freeze_time`` vdsotime's
clocks keep running. Likewise ``mock_clock`` does not change ``time.time()`` or
``datetime.now()``. Code that reads both needs both, with matching starts::

    with time_machine.travel(moment, tick=False), \\
            mock_clock(start_ns=int(moment.timestamp() * 1e9)):
        ...
"""

from vdsotime._core import clocks, mock, validate

__all__ = ["MockClock", "mock_clock"]

# Mock readings stay below this, far from int64 overflow (2**63 ns is 292 years).
_LIMIT = 2**62


class MockClock:
    """The active mock clock of ``mock_clock()``: ``advance(ns)``, ``set(ns, clock_id)``,
    ``elapsed_ns`` (mock nanoseconds since entry), ``step_ns``, ``clock_ids`` (the ids
    mock time covers)."""

    __slots__ = ("step_ns", "_start_ns", "_active")

    def __init__(self, start_ns: "int | None", step_ns: int) -> None:
        self._start_ns = start_ns
        self.step_ns = step_ns
        self._active = False

    def __enter__(self) -> "MockClock":
        mock.install(-1 if self._start_ns is None else self._start_ns, self.step_ns)
        self._active = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._active = False
        mock.uninstall()

    def _check(self, function: str) -> None:
        if not self._active:
            raise RuntimeError(f"MockClock.{function}(): the mock clock is not active "
                               "(use it inside its with block)")

    def advance(self, ns: int) -> None:
        """Move every mocked clock forward by ``ns`` nanoseconds (an int >= 0)."""
        self._check("advance")
        ns = validate.int64("MockClock.advance", "ns", ns, 0)
        if ns >= _LIMIT or mock.elapsed_ns() + ns >= _LIMIT:
            raise ValueError(f"MockClock.advance(): ns={ns} takes mock time past 2**62 ns")
        mock.advance(ns)

    def set(self, ns: int, clock_id: int = clocks.CLOCK_REALTIME) -> None:
        """Make ``clock_id`` (default CLOCK_REALTIME) read ``ns`` now; the other clocks
        keep their readings. Any value >= 0, earlier than now included (a step of the
        wall clock); setting a monotonic clock back is allowed too, and is then the
        test's own doing."""
        self._check("set")
        ns = validate.int64("MockClock.set", "ns", ns, 0)
        clock_id = validate.clock_id("MockClock.set", clock_id)
        if ns >= _LIMIT:
            raise ValueError(f"MockClock.set(): ns must be below 2**62, got {ns}")
        if not mock.set_clock(clock_id, ns):
            raise ValueError(f"MockClock.set(): clock_id {clock_id} is not a mocked clock "
                             f"(mocked: {mock.mocked_clock_ids()})")

    @property
    def elapsed_ns(self) -> int:
        """Mock nanoseconds since entry: advance() calls and steps."""
        return mock.elapsed_ns()

    @property
    def clock_ids(self) -> "tuple[int, ...]":
        """The clock ids mock time covers."""
        return tuple(mock.mocked_clock_ids())

    def __repr__(self) -> str:
        state = "active" if self._active else "inactive"
        return (f"MockClock({state}, start_ns={self._start_ns}, step_ns={self.step_ns}, "
                f"elapsed_ns={mock.elapsed_ns() if self._active else None})")


def mock_clock(start_ns: "int | None" = None, step_ns: int = 0) -> MockClock:
    """A context manager giving a MockClock: within the ``with`` block, every clock read
    through vdsotime returns mock time (see
    the module's documentation): every mocked clock starts at ``start_ns`` (default:
    each at its real reading at entry) and moves only by ``clock.advance(ns)`` and by
    ``step_ns`` after every reading (0: frozen). Nesting raises RuntimeError.
    """
    if start_ns is not None:
        start_ns = validate.int64("mock_clock", "start_ns", start_ns, 0)
        if start_ns >= _LIMIT:
            raise ValueError(f"mock_clock(): start_ns must be below 2**62, got {start_ns}")
    step_ns = validate.int64("mock_clock", "step_ns", step_ns, 0)
    if step_ns >= _LIMIT:
        raise ValueError(f"mock_clock(): step_ns must be below 2**62, got {step_ns}")
    return MockClock(start_ns, step_ns)
