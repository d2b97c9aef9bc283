"""The benchmark kit: the timing engine (``engine``), the worker processes (``workers``),
then ``measure`` (overhead, bench, jitter), ``comparison`` (compare), ``runs`` (saved runs
and the gate) and ``interop`` (pyperf, HdrHistogram). Uses ``_core``, ``_loops`` and
``vdsotime.stats``."""
