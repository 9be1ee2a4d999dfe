"""Likelihoods and the KL term: one number per example, and their gradients.

Each works on a batch and sums over the data (or latent) dimension, so it returns one number per
example, shape (N,). The likelihoods follow the layer interface (forward keeps what backward needs;
backward takes dL/dnll and returns the gradient of their first input); the KL, on small (N, K)
arrays, is a plain function returning its value and gradients together.
Shape letters: N batch, D data, K latent.
"""

import math

import numpy as np

from .layers import Layer

LOG_2PI = math.log(2 * math.pi)


class BernoulliNLL(Layer):
    """Negative Bernoulli log-likelihood from logits: ``-log p(x | logits)`` summed over D.

    With ``p = sigmoid(l)`` the per-pixel term is ``-x log p - (1 - x) log(1 - p)``, which for
    grey-level targets x in [0, 1] is the binary cross-entropy. Written with the logit it is
        nll = softplus(l) - x * l,    softplus(l) = log(1 + exp(l)) = max(l, 0) + log(1 + e)
    with ``e = exp(-|l|)`` in (0, 1]: exp never overflows and log never sees 0, for any logit.
    (From probabilities instead, p rounds to exactly 0 or 1 for |l| > 17 in float32: log(0).)
    ``log(1 + e)`` rather than ``log1p(e)``: NumPy's log1p is 5x slower, and where they differ
    (e below float epsilon) the difference is below the rounding of the sum.
    Backward, with dnll = dL/dnll (N,) or a number:
        dl = dnll * (sigmoid(l) - x),    sigmoid(l) = 1 / (1 + e) if l >= 0, e / (1 + e) if l < 0
    Both cases are ``max(e, [l >= 0]) / (1 + e)``, as e <= 1: the forward pass's e serves again,
    and exp and log, the costly passes, run once each per pixel.

    Shapes: logits (N, D), x (N, D) -> nll (N,); backward -> dlogits (N, D).
    """

    def __init__(self):
        super().__init__()
        self._logits = self._x = self._e = self._one_plus_e = self._nonnegative = None

    def forward(self, logits, x):
        shape, dtype = logits.shape, logits.dtype
        self._logits, self._x = logits, x
        self._nonnegative = np.greater_equal(logits, 0, out=self._out("l>=0", shape, bool))
        e = np.abs(logits, out=self._out("e", shape, dtype))
        np.negative(e, out=e)
        self._e = np.exp(e, out=e)  # e = exp(-|l|), in (0, 1]
        self._one_plus_e = np.add(e, 1, out=self._out("1+e", shape, dtype))
        terms = np.log(self._one_plus_e, out=self._out("terms", shape, dtype))  # log(1 + e)
        terms += np.multiply(logits, self._nonnegative, out=self._out("max(l,0)", shape, dtype))
        terms -= np.multiply(x, logits, out=self._out("x*l", shape, dtype))
        return terms.sum(axis=1)  # (N,): softplus(l) - x * l, summed over D

    def backward(self, dnll):
        e = self._saved(self._e)
        dlogits = np.maximum(e, self._nonnegative, out=self._out("dlogits", e.shape, e.dtype))
        dlogits /= self._one_plus_e  # sigmoid(l)
        dlogits -= self._x
        dlogits *= _column(dnll, dlogits.dtype)
        return dlogits


class GaussianNLL(Layer):
    """Negative Gaussian log-likelihood with a fixed standard deviation, summed over D.

        nll = sum_d (x - mean)^2 / (2 std^2) + D * (log(std) + log(2 pi) / 2)
    Backward:  dmean = dnll * (mean - x) / std^2.
    ``std`` is a fixed number, not learned; 1 suits standardised real-valued data.

    Shapes: mean (N, D), x (N, D) -> nll (N,); backward -> dmean (N, D).
    """

    def __init__(self, std=1.0):
        super().__init__()
        self.std = float(std)
        self._diff = None

    def forward(self, mean, x):
        diff = self._diff = np.subtract(mean, x, out=self._out("diff", mean.shape, mean.dtype))
        squares = np.multiply(diff, diff, out=self._out("squares", mean.shape, mean.dtype))
        constant = x.shape[1] * (math.log(self.std) + LOG_2PI / 2)
        return squares.sum(axis=1) / (2 * self.std**2) + constant

    def backward(self, dnll):
        diff = self._saved(self._diff)
        dmean = np.multiply(diff, 1 / self.std**2, out=self._out("dmean", diff.shape, diff.dtype))
        dmean *= _column(dnll, dmean.dtype)
        return dmean


def _column(dnll, dtype):
    """dL/dnll as a Python number or an (N, 1) column of ``dtype``, to scale the rows of an
    (N, D) gradient. (A NumPy float64 number would make a float32 product run in float64.)"""
    if np.ndim(dnll) == 0:
        return float(dnll)
    return np.asarray(dnll, dtype=dtype)[:, None]


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
