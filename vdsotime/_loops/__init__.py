"""The long nogil loops: the one chunk driver (``driver``) and every loop it runs, the
numpy-facing samplers (``sample``), TSC calibration (``tsc``) and the cross-CPU TSC
ping-pong (``skew``). Uses ``_core`` only."""
