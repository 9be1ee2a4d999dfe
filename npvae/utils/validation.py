"""Argument checks shared by every package: random states, counts, dtypes."""

import numpy as np


def check_random_state(random_state):
    """Turn None, an int seed or a Generator into a ``numpy.random.Generator``.

    The one place where npvae creates random generators; library code never touches the global
    ``np.random`` state. A Generator is returned as it is (shared, not copied).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (isinstance(random_state, (int, np.integer))
                                and not isinstance(random_state, bool) and random_state >= 0):
        return np.random.default_rng(random_state)
    raise ValueError("random_state must be None, an int >= 0 or a numpy Generator; "
                     f"got {random_state!r}")


def check_positive_int(name, value):
    """Return ``value`` as an int if it is an integer >= 1, or raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def check_nonnegative(name, value):
    """Return ``value`` as a float if it is a finite number >= 0, or raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


MAX_WEIGHT = 1e6  # of a loss term: beyond it the term alone is trained, and 1e308 overflows


def check_weight(name, value):
    """Return ``value`` as a float if it is a number from 0 to ``MAX_WEIGHT`` (the weight of a
    loss term: beta, alpha, gamma), or raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not 0 <= value <= MAX_WEIGHT:
        raise ValueError(f"{name} must be a number from 0 to {MAX_WEIGHT:,.0f} (the weight of a "
                         f"loss term); got {value!r}")
    return float(value)


def check_dtype(dtype):
    """Return ``dtype`` as a numpy float dtype (float32 or float64), or raise ValueError."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    return dtype
