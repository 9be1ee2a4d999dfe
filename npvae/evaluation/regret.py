"""Likelihood Regret (Xiao, Yan & Amit 2020): how much an image's ELBO rises when its posterior
is fitted to that image alone.

The encoder is amortised: one network gives every image its q(z | x). On images like the training
data it is close to the best q the decoder allows, and fitting q to the image alone gains little.
On an image unlike them it is not, and the gain is large:

    regret(x) = max over (mu, logvar) of ELBO(x; mu, logvar)  -  ELBO(x; encoder's mu, logvar)

Here the maximum is approached by Adam on each image's (mu, logvar), all images of a batch at once
(each problem is independent), with fresh noise at every step: a single fixed draw would let the
optimiser fit that draw rather than the posterior. Both ELBOs are measured with the same
``eval_draws`` noise draws, so that the difference is not drowned in Monte Carlo noise. The
paper re-trains the encoder's weights per image instead; fitting q directly is its cheap variant,
about 50 times faster and, measured here, no worse (docs/ANOMALY.md).

The ELBO and its gradient at given (mu, logvar) are ``npvae.models.posterior.elbo_at``; the
decoder's weights never change.

Shape letters: N examples, D data, K latent dimensions, S noise draws.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from ..utils.validation import check_positive_int, check_random_state

REGRET_STEPS = 50  # Adam steps per image
REGRET_LR = 0.05
REGRET_DRAWS = 2  # fresh noise draws averaged in each step's gradient
REGRET_EVAL_DRAWS = 8  # draws of the ELBO before and after


def mean_elbo(model, x, mu, logvar, eps, y=None):
    """The ELBO of each row averaged over S draws: eps (S, N, K) -> (N,)."""
    return np.mean([model.elbo_at(x, mu, logvar, e, y)[0] for e in eps], axis=0)


def fitted_posterior(model, x, mu, logvar, y=None, steps=REGRET_STEPS, lr=REGRET_LR,
                     draws=REGRET_DRAWS, rng=None):
    """(mu, logvar) after ``steps`` of Adam on each row's ELBO, from the given start.

    Each step averages the gradient over ``draws`` fresh draws of eps (S, N, K), stacked into
    one batch of S * N rows: x (N, D), mu, logvar (N, K) -> mu, logvar (N, K), new arrays.
    Adam's usual betas (0.9, 0.999) and eps 1e-8, its step ``lr`` decayed to 0 along a half
    cosine (with noisy gradients, a constant step leaves the last iterate jittering about the
    optimum); the update ascends the ELBO."""
    rng = check_random_state(rng)
    n, k = mu.shape
    theta = np.hstack([mu, logvar])  # (N, 2K): each row one image's problem
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    x_rep = np.tile(x, (draws, 1))  # (S * N, D)
    y_rep = None if y is None else np.tile(y, draws)
    for t in range(1, steps + 1):
        eps = rng.standard_normal((draws * n, k), dtype=mu.dtype)
        _, dmu, dlogvar = model.elbo_at(x_rep, np.tile(theta[:, :k], (draws, 1)),
                                        np.tile(theta[:, k:], (draws, 1)), eps, y_rep)
        g = np.hstack([dmu, dlogvar]).reshape(draws, n, 2 * k).mean(axis=0)  # (N, 2K)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        step = lr * (1 + math.cos(math.pi * (t - 1) / steps)) / 2  # cosine decay: no end jitter
        theta = theta + step * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta[:, :k].copy(), theta[:, k:].copy()


def likelihood_regret(model, X, y=None, steps=REGRET_STEPS, lr=REGRET_LR, draws=REGRET_DRAWS,
                      eval_draws=REGRET_EVAL_DRAWS, batch_size=500, random_state=0,
                      progress=False):
    """Each image's Likelihood Regret in nats (higher = more anomalous), (N,).

    ``steps`` Adam steps of learning rate ``lr`` on each image's (mu, logvar), ``draws`` fresh
    noise draws per step; the ELBO before and after is the mean of ``eval_draws`` draws, the same
    for both. Deterministic for a given ``random_state``. Works for any npvae model (a
    beta-TCVAE's or FactorVAE's penalty shaped its training, but its ELBO is a VAE's).
    ``progress``: a progress bar over the batches."""
    steps = check_positive_int("steps", steps)
    draws = check_positive_int("draws", draws)
    eval_draws = check_positive_int("eval_draws", eval_draws)
    batch_size = check_positive_int("batch_size", batch_size)
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) \
            or not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    X = model.check_input(X)
    y = model.check_labels(y, len(X))
    rng = check_random_state(random_state)
    regret = np.empty(len(X))
    starts = range(0, len(X), batch_size)
    for start in tqdm(starts, desc="likelihood regret", disable=not progress):
        part = slice(start, start + batch_size)
        x, labels = X[part], None if y is None else y[part]
        mu, logvar = model.encode(x, labels)
        eps = rng.standard_normal((eval_draws, len(x), model.latent_dim), dtype=model.dtype)
        before = mean_elbo(model, x, mu, logvar, eps, labels)
        mu, logvar = fitted_posterior(model, x, mu, logvar, labels, steps, lr, draws, rng)
        regret[part] = mean_elbo(model, x, mu, logvar, eps, labels) - before
    return regret
