"""Why reparameterize: two Monte Carlo estimators of the same gradient, and a Monte Carlo KL.

For ``z ~ q = N(mu, exp(logvar))`` in one dimension and a function f, the VAE needs the gradient
of ``E_q[f(z)]`` with respect to mu and logvar. Two unbiased estimators from S samples:

- the score function (REINFORCE, Williams 1992), which needs only values of f:
      d/dtheta E_q[f(z)] = E_q[f(z) d/dtheta log q(z)],
      d log q / d mu = (z - mu) / exp(logvar),
      d log q / d logvar = ((z - mu)^2 / exp(logvar) - 1) / 2;
- the pathwise one (the reparameterization trick), which needs f' and writes
  ``z = mu + exp(logvar / 2) * eps`` with eps ~ N(0, 1):
      d/dmu E[f(z)] = E[f'(z)],    d/dlogvar E[f(z)] = E[f'(z) * eps * exp(logvar / 2) / 2].
Both have mean the exact gradient; their variances differ, often by orders of magnitude
(``scripts/gradient_estimators.py`` draws them against S). Shapes: eps (S,) -> numbers.
"""

import numpy as np

from ..utils.validation import check_random_state


def score_function_gradient(f, mu, logvar, eps):
    """(d/dmu, d/dlogvar) of E[f(z)] by the score function, from the samples z = mu + std eps.

    ``f`` maps an array of z to an array of values."""
    var = np.exp(logvar)
    z = mu + np.sqrt(var) * eps
    values = f(z)
    return np.mean(values * (z - mu) / var), np.mean(values * ((z - mu) ** 2 / var - 1) / 2)


def pathwise_gradient(df, mu, logvar, eps):
    """(d/dmu, d/dlogvar) of E[f(z)] by the reparameterization, from ``df``, the derivative of
    f."""
    std = np.exp(logvar / 2)
    slopes = df(mu + std * eps)
    return np.mean(slopes), np.mean(slopes * eps * std / 2)


def kl_monte_carlo(mu, logvar, n_samples=100_000, random_state=None):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) estimated as the mean of log q(z) - log p(z)
    over samples z ~ q, to set beside the closed form (``npvae.nn.losses.kl_normal``).

    Shapes: mu, logvar (K,) -> (the estimate, its standard error), numbers. Per sample
        log q(z) - log p(z) = sum_k [-(z_k - mu_k)^2 / (2 var_k) - logvar_k / 2 + z_k^2 / 2]
    (the log 2 pi terms cancel)."""
    rng = check_random_state(random_state)
    mu, logvar = np.asarray(mu, dtype=float), np.asarray(logvar, dtype=float)
    eps = rng.standard_normal((n_samples, len(mu)))
    z = mu + np.exp(logvar / 2) * eps  # (S, K)
    terms = np.sum(-eps**2 / 2 - logvar / 2 + z**2 / 2, axis=1)  # (z - mu)^2 / var = eps^2
    return float(terms.mean()), float(terms.std() / np.sqrt(n_samples))
