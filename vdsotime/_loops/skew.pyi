import numpy as np
import numpy.typing as npt

def tsc_ping_pong(reference_cpu: int, other_cpu: int, rounds: int, seconds_ns: int,
                  timeout_ns: int = ...) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64],
                                                  npt.NDArray[np.uint64], tuple[int, int], bool]: ...
