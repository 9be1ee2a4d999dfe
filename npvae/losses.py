"""Likelihoods and the KL term, each returning its value per example and its gradient.

Every function here works on a batch and sums over the data (or latent) dimension, so it returns
one number per example, shape (N,), together with the gradient of ``sum`` of those numbers.
Shape letters: N batch, D data, K latent.
"""

import math

import numpy as np

LOG_2PI = math.log(2 * math.pi)


def bernoulli_nll(logits, x, grad=True):
    """Negative Bernoulli log-likelihood from logits: ``-log p(x | logits)`` summed over D.

    With ``p = sigmoid(l)`` the per-pixel term is ``-x log p - (1 - x) log(1 - p)``, which for
    grey-level targets x in [0, 1] is the binary cross-entropy. Written with the logit it is
        nll = softplus(l) - x * l,    softplus(l) = log(1 + exp(l)) = max(l, 0) + log1p(exp(-|l|))
    which never takes log(0) and never overflows: exp only sees ``-|l| <= 0``. Computing it from
    probabilities instead would round p to exactly 0 or 1 for |l| > 17 (float32) and give log(0).
    Gradient:  d nll / d l = sigmoid(l) - x.

    Shapes: logits (N, D), x (N, D) -> nll (N,), dlogits (N, D) (None if not ``grad``).
    """
    e = np.exp(-np.abs(logits))  # (N, D), in (0, 1]
    nll = (np.maximum(logits, 0) - x * logits + np.log1p(e)).sum(axis=1)
    if not grad:
        return nll, None
    sigmoid = np.where(logits >= 0, 1 / (1 + e), e / (1 + e))
    return nll, sigmoid - x


def gaussian_nll(mean, x, std=1.0, grad=True):
    """Negative Gaussian log-likelihood with a fixed standard deviation, summed over D.

        nll = sum_d (x - mean)^2 / (2 std^2) + log(std) + log(2 pi) / 2
    Gradient:  d nll / d mean = (mean - x) / std^2.
    ``std`` is a fixed number, not learned; 1 suits standardised real-valued data.

    Shapes: mean (N, D), x (N, D) -> nll (N,), dmean (N, D) (None if not ``grad``).
    """
    diff = mean - x  # (N, D)
    d = x.shape[1]
    nll = (diff * diff).sum(axis=1) / (2 * std**2) + d * (math.log(std) + LOG_2PI / 2)
    return nll, (diff / std**2 if grad else None)


def kl_normal(mu, logvar):
    """KL(q || p) for q = N(mu, diag(exp(logvar))) and p = N(0, I), summed over K.

    Closed form (Kingma & Welling 2014, appendix B):
        KL = -1/2 * sum_k (1 + logvar - mu^2 - exp(logvar))
    Gradients:
        dKL/dmu     = mu
        dKL/dlogvar = (exp(logvar) - 1) / 2

    Shapes: mu (N, K), logvar (N, K) -> kl (N,), dmu (N, K), dlogvar (N, K).
    """
    var = np.exp(logvar)  # (N, K)
    kl = -0.5 * (1 + logvar - mu * mu - var).sum(axis=1)
    return kl, mu.copy(), (var - 1) / 2
