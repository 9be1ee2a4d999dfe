"""How many threads npvae may use, and cutting a range into even slices."""

import os

import numpy as np
from threadpoolctl import threadpool_info


def usable_cores():
    """How many cores npvae's threads may use: as many as BLAS may. That is every core of the
    machine unless it was limited (``OPENBLAS_NUM_THREADS``, ``threadpoolctl``, say)."""
    blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    if blas:
        return max(blas)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def even_slices(start, stop, count):
    """[start, stop) cut into ``count`` contiguous slices whose lengths differ by at most 1."""
    bounds = np.linspace(start, stop, count + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
