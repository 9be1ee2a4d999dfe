"""A right numerical_gradient beside a wrong rel_error: np.abs into the caller's arrays."""

import numpy as np

from right import numerical_gradient

__all__ = ["numerical_gradient"]


def rel_error(a, n):
    difference = np.abs(a - n)
    np.abs(a, out=a)
    np.abs(n, out=n)
    return difference / np.maximum(1e-8, a + n)
