"""How many threads npvae may use, and cutting a range into even slices."""

import functools
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from .files import signals_held


def usable_cores():
    """How many cores npvae's threads may use: as many as BLAS may. That is every core of the
    machine unless it was limited (``OPENBLAS_NUM_THREADS``, ``threadpoolctl``, say)."""
    blas = [lib["num_threads"] for lib in _blas().info()]
    if blas:
        return max(blas)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_threads(threads):
    """A context in which BLAS uses ``threads`` threads; the old setting is back on exit."""
    return _blas().limit(limits=threads)


@functools.lru_cache(maxsize=None)
def _blas():
    """threadpoolctl's controller of the BLAS libraries loaded, found once. (Finding them walks
    the loaded libraries through a C callback, where Python drops an exception raised by a
    signal handler: a Ctrl-C or SIGTERM would be lost. So signals wait until it is done.)"""
    with signals_held():
        return ThreadpoolController().select(user_api="blas")


def even_slices(start, stop, count):
    """[start, stop) cut into ``count`` contiguous slices whose lengths differ by at most 1."""
    bounds = np.linspace(start, stop, count + 1).astype(int)
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
