import numpy as np

from vdsotime import (sample as sample, sample_cpu as sample_cpu,
                      sample_every as sample_every, sample_tsc as sample_tsc)

CLOCK_MONOTONIC: int
CPU_SOURCE: str
HAVE_TSC: bool
TIME_CPU_DTYPE: np.dtype[np.void]
