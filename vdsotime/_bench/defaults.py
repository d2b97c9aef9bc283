"""The defaults of a measurement that people read in help texts and docstrings, here
without numpy so that the command line can quote them: one rule, one place."""

# The warm-up: untimed calls before n timed ones, n / WARMUP_SHARE of them, at least
# WARMUP_MIN and at most WARMUP_MAX.
WARMUP_SHARE = 100
WARMUP_MIN = 10
WARMUP_MAX = 1000
WARMUP_RULE = f"n/{WARMUP_SHARE}, {WARMUP_MIN} to {WARMUP_MAX}"


def default_warmup(n):
    """The untimed calls before ``n`` timed ones (WARMUP_RULE). The one warm-up rule:
    bench, compare, their worker processes and the CLI all take it."""
    return int(min(WARMUP_MAX, max(WARMUP_MIN, n // WARMUP_SHARE)))
