import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded Generator: every test draws from its own, never from the global np.random."""
    return np.random.default_rng(12345)
