"""A right numerical_gradient beside a wrong rel_error: Python's abs and max, which compare whole arrays."""


from right import numerical_gradient

__all__ = ["numerical_gradient"]


def rel_error(a, n):
    return abs(a - n) / max(1e-8, abs(a) + abs(n))
