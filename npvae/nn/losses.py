"""Likelihoods and the KL term: one number per example, and their gradients.

Each works on a batch and sums over the data (or latent) dimension, so it returns one number per
example, shape (N,). The likelihoods follow the layer interface (forward keeps what backward needs;
backward takes dL/dnll and returns the gradient of their first input); the KL, on small (N, K)
arrays, is a plain function returning its value and gradients together.
Shape letters: N batch, D data, K latent.
"""

import math
import numbers

import numpy as np

from .layers import Layer, sigmoid

LOG_2PI = math.log(2 * math.pi)
LOG_STD_MIN = -6.0  # the soft floor of a learned log standard deviation (GaussianNLL)
LOG_STD_SCALE = 10.0  # a learned log standard deviation is stored divided by this (default)


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


# VAE's gaussian_std -> GaussianNLL's learned
LEARNED_STD = {"learned": "shared", "learned-per-dim": "per-dim"}


def check_gaussian_std(std):
    """A Gaussian likelihood's standard deviation as ``VAE`` takes it: "learned",
    "learned-per-dim", or a fixed number > 0 (returned as a float); ValueError otherwise."""
    if isinstance(std, str) and std in LEARNED_STD:
        return std
    if isinstance(std, numbers.Real) and not isinstance(std, bool) \
            and FIXED_STD_RANGE[0] <= std <= FIXED_STD_RANGE[1]:
        return float(std)
    raise ValueError(f"gaussian_std must be 'learned', 'learned-per-dim' or a number from "
                     f"{FIXED_STD_RANGE[0]:g} to {FIXED_STD_RANGE[1]:g}; got {std!r}")


# A fixed standard deviation's bounds: beyond them 1/std^2 or log(std) leave float32's range
# in the loss, for data in any range that float32 holds
FIXED_STD_RANGE = (1e-6, 1e6)


class GaussianNLL(Layer):
    """Negative Gaussian log-likelihood, summed over D, with a fixed or a learned standard
    deviation s:

        nll = sum_d (x_d - mean_d)^2 / (2 s_d^2) + log s_d + log(2 pi) / 2
    Backward, with dnll = dL/dnll (N,) or a number:
        dmean_d = dnll * (mean_d - x_d) / s_d^2

    Fixed (``learned=None``): s_d = ``std`` for every d; 1 suits standardised data, and on other
    data the wrong s weighs the reconstruction against the KL wrongly (too large an s, and the
    KL wins: the posterior collapses).
    Learned (the sigma-VAE of Rybkin et al. 2021): a parameter ``scaled_log_std`` of shape (1,)
    (``learned="shared"``: one s for all dimensions) or (D,) (``"per-dim"``), trained with the
    rest, starting at 0 (s about 1). With t = scale * scaled_log_std, the s used is ``exp(a)``,
    a = t softly floored:
        a = LOG_STD_MIN + softplus(t - LOG_STD_MIN)      (a ~ t = log s well above the floor)
    Why the scale (``scale``, default LOG_STD_SCALE = 10; ``VAE(log_std_scale=)``): Adam moves
    every parameter by about lr per step, whatever its gradient, so a log s stored as it is would
    need a thousand steps to go from 0 (s = 1) to log 0.4 ~ -0.9; digits trains 12 steps an
    epoch. Stored ten times smaller, it moves ten times as fast. At a small lr or for a short run
    it still lags its optimum (``npvae.evaluation.optimal_gaussian_std``): a larger scale moves
    it faster, and more noisily.
    Why the floor: a dimension the decoder predicts exactly (a pixel that is always 0) would
    drive s to 0 and the loss to -inf; the floor (s >= exp(-6) ~ 0.0025, Rybkin et al.'s) stops
    that, and keeps exp(-2a) <= e^12 finite in float32. The gradient, summed over the batch (and
    over d for a shared s), with da/dt = sigmoid(t - LOG_STD_MIN):
        dscaled_log_std_d = scale * da_d/dt_d
                            * sum_n dnll_n * (1 - (x_nd - mean_nd)^2 / s_d^2)

    Shapes: mean (N, D), x (N, D) -> nll (N,); backward -> dmean (N, D).
    """

    def __init__(self, std=1.0, learned=None, dim=None, dtype=np.float64, scale=LOG_STD_SCALE):
        super().__init__()
        if learned not in (None, "shared", "per-dim"):
            raise ValueError(f"learned must be None, 'shared' or 'per-dim'; got {learned!r}")
        self.std, self.learned, self.scale = float(std), learned, float(scale)
        if learned:
            shape = (1,) if learned == "shared" else (dim,)
            self.params = {"scaled_log_std": np.zeros(shape, dtype)}
            self.grads = {"scaled_log_std": np.zeros(shape, dtype)}
        self._diff = self._inv_var = None

    def log_std(self):
        """a = log s: a number (fixed), or from the parameter, (1,) or (D,)."""
        if not self.learned:
            return math.log(self.std)
        t = self.scale * self.params["scaled_log_std"]
        return LOG_STD_MIN + np.logaddexp(0, t - LOG_STD_MIN)

    def forward(self, mean, x):
        a = self.log_std()
        self._inv_var = np.exp(-2 * a) if self.learned else 1 / self.std**2  # 1 / s^2
        diff = self._diff = np.subtract(mean, x, out=self._out("diff", mean.shape, mean.dtype))
        squares = np.multiply(diff, diff, out=self._out("squares", mean.shape, mean.dtype))
        squares *= self._inv_var
        D = x.shape[1]
        log_s = D * float(np.sum(a)) if np.size(a) == 1 else float(np.sum(a))  # sum_d log s_d
        return squares.sum(axis=1) / 2 + (log_s + D * LOG_2PI / 2)

    def backward(self, dnll):
        diff = self._saved(self._diff)
        dnll = _column(dnll, diff.dtype)
        dmean = np.multiply(diff, self._inv_var, out=self._out("dmean", diff.shape, diff.dtype))
        dmean *= dnll
        if self.learned:
            per = 1 - diff * diff * self._inv_var  # d nll_n / d a_d, (N, D)
            da = (per * dnll).sum(axis=0)  # (D,); dnll a number or an (N, 1) column
            if self.learned == "shared":
                da = da.sum(keepdims=True)  # (1,)
            t = self.scale * self.params["scaled_log_std"]
            np.multiply(da, self.scale * sigmoid(t - LOG_STD_MIN),
                        out=self.grads["scaled_log_std"])
        return dmean

    def backward_input(self, dnll):
        """dmean alone: the learned standard deviation's gradient is not written."""
        diff = self._saved(self._diff)
        return diff * self._inv_var * _column(dnll, diff.dtype)


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


def kl_free_bits(mu, logvar, floor):
    """The KL term with free bits (Kingma et al. 2016, eq. 15): each latent dimension's KL,
    averaged over the batch, counts as at least ``floor`` nats (lambda).

        objective = sum_k max(lambda, m_k),    m_k = 1/N sum_n KL_nk,
        KL_nk = 1/2 (mu_nk^2 + exp(logvar_nk) - 1 - logvar_nk)
    A dimension carrying at least lambda nats trains as usual; below that its term is the
    constant lambda, which gives it no gradient: the KL no longer pushes it towards the prior,
    and the reconstruction alone decides whether it carries information. Per row, so that the
    rows' mean is the objective:  obj_n = sum_k (KL_nk if m_k >= lambda else lambda).
    Gradients of sum_n obj_n: those of ``kl_normal`` with the columns below the floor set to 0,
        d/dmu_nk = mu_nk [m_k >= lambda],    d/dlogvar_nk = (exp(logvar_nk) - 1) / 2 [m_k >= lambda]
    The batch means couple the rows: this needs the whole batch at once (``npvae.models.coupled``).

    Shapes: mu, logvar (N, K) -> kl (N,) (the KL itself, summed over K), objective (N,),
    dmu (N, K), dlogvar (N, K).
    """
    var = np.exp(logvar)  # (N, K)
    kl = (mu * mu + var - 1 - logvar) / 2  # (N, K)
    above = kl.mean(axis=0) >= floor  # (K,)
    objective = np.where(above, kl, floor).sum(axis=1)
    return kl.sum(axis=1), objective, mu * above, (var - 1) / 2 * above
