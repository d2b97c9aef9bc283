import numpy as np
import numpy.typing as npt

from vdsotime import (sample as sample, sample_cpu as sample_cpu,
                      sample_every as sample_every, sample_tsc as sample_tsc)

CPU_SOURCE: str
HAVE_TSC: bool
TIME_CPU_DTYPE: np.dtype[np.void]

def tsc_pairs(bursts: int, tries: int, spacing_ns: int) -> tuple[
    npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]: ...
def tsc_invariant() -> tuple[bool, str]: ...
