import numpy as np
import pytest

from npvae.nn.losses import kl_normal
from npvae.teaching.gradient_estimators import (kl_monte_carlo, pathwise_gradient,
                                                score_function_gradient)


@pytest.mark.parametrize("mu, logvar", [(1.0, 0.0), (-0.5, 1.2)])
def test_both_gradient_estimators_are_unbiased_and_pathwise_varies_less(mu, logvar, rng):
    """E[z^3] for z ~ N(mu, v) is mu^3 + 3 mu v: d/dmu = 3 mu^2 + 3 v, d/dlogvar = 3 mu v."""
    v = np.exp(logvar)
    exact = np.array([3 * mu**2 + 3 * v, 3 * mu * v])
    score = np.array([score_function_gradient(lambda z: z**3, mu, logvar,
                                              rng.standard_normal(100)) for _ in range(2000)])
    path = np.array([pathwise_gradient(lambda z: 3 * z**2, mu, logvar,
                                       rng.standard_normal(100)) for _ in range(2000)])
    for estimates in (score, path):
        se = estimates.std(axis=0) / np.sqrt(len(estimates))
        assert np.all(np.abs(estimates.mean(axis=0) - exact) < 5 * se), (estimates.mean(0), exact)
    assert np.all(path.var(axis=0) < score.var(axis=0) / 2)


def test_the_kl_closed_form_agrees_with_monte_carlo():
    mu, logvar = np.array([0.5, -1.0, 2.0]), np.array([0.3, -2.0, 1.0])
    estimate, se = kl_monte_carlo(mu, logvar, n_samples=400_000, random_state=0)
    closed = kl_normal(mu[None], logvar[None])[0][0]
    assert abs(estimate - closed) < 4 * se and se < 0.01 * closed
    wrong = closed + 0.5 * len(mu)  # the closed form without its constant 1
    assert abs(estimate - wrong) > 50 * se
