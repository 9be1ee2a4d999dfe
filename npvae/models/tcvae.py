"""beta-TCVAE (Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs"), by hand.

The KL term of the ELBO, averaged over the data, splits into three (their eq. 2):

    E_x KL(q(z|x) || p(z)) = I(x; z)                        index-code mutual information
                           + KL(q(z) || prod_d q(z_d))      total correlation (TC)
                           + sum_d KL(q(z_d) || p(z_d))     dimension-wise KL
with q(z) = 1/N sum_n q(z | x_n) the aggregate posterior. beta-TCVAE weights them apart,
loss_i = BCE_i + alpha MI_i + beta TC_i + gamma DWKL_i, for the sample z_i of x_i in a batch of B:

    MI_i   = log q(z_i | x_i) - log q(z_i)
    TC_i   = log q(z_i) - log prod_d q(z_id)
    DWKL_i = log prod_d q(z_id) - log p(z_i)

q(z_i) needs every posterior of the data set; the batch's B stand in for them. With
L[i, j, d] = log N(z_id; mu_jd, exp(logvar_jd)) and weights W[i, j] (``log_importance_weights``):

    log q(z_i)          = LSE_j (log W[i, j] + sum_d L[i, j, d])
    log prod_d q(z_id)  = sum_d LSE_j (log W[i, j] + L[i, j, d])
    MWS (minibatch weighted sampling):   W[i, j] = 1 / (B N) for every j
    MSS (minibatch stratified sampling): M = B - 1, W[i, i] = 1/N, W[i, (i+1) mod B] = (N-M)/(N M),
                                         and 1/M elsewhere; each row sums to 1

The gradient through the pairwise log-sum-exp. With t[i, j, d] = (z_id - mu_jd) exp(-logvar_jd/2),
    L[i, j, d] = -1/2 (log 2 pi + logvar_jd + t[i, j, d]^2)
    dL/dz_id = -t / std_jd,   dL/dmu_jd = t / std_jd,   dL/dlogvar_jd = (t^2 - 1) / 2
and the derivative of LSE_j a_j is softmax_j a. For a loss with weight a_i on log q(z_i) and b_id
on log q(z_id), with P[i, :] the softmax over j of the joint's arguments and Q[i, :, d] that of
the marginal d's,
    G[i, j, d] = dloss / dL[i, j, d] = a_i P[i, j] + b_id Q[i, j, d]
    dz_id      = -sum_j G[i, j, d] t[i, j, d] / std_jd                 (a sum over the columns j)
    dmu_jd     =  sum_i G[i, j, d] t[i, j, d] / std_jd                 (a sum over the rows i)
    dlogvar_jd =  1/2 sum_i G[i, j, d] (t[i, j, d]^2 - 1)
In the loss a_i = (beta - alpha) / B and b_id = (gamma - beta) / B, and z_i also enters through
the per-row terms: log q(z_i | x_i) (weight alpha / B; its t is eps_i) and log p(z_i) =
-1/2 sum_d (log 2 pi + z_id^2) (weight -gamma / B, so dz = gamma z / B). The model then sends dz
into mu and logvar through z = mu + exp(logvar / 2) eps, as a VAE does. Every array of the
pairwise terms is (K, B, B): memory O(B^2 K), no loop over pairs.

The common code (rtqichen/beta-tcvae's ``_log_importance_weight_matrix``, copied into pythae and
disentangling-vae) fills W with strides of B: they land in columns 0 and 1 instead of on the
diagonal and the next column, and row M - 1 gets (N-M)/(N M) twice, so it does not sum to 1
(``tests/test_tcvae.py`` and ``scripts/mss_weights.py`` show its matrix).

Shape letters: B (or N) batch, K latent, S samples scored against the N posteriors.
"""

import math

import numpy as np

from ..nn.losses import kl_normal
from ..utils.validation import check_positive_int, check_weight
from .coupled import CoupledVAE, Penalty

ESTIMATORS = ("mss", "mws")
LOG_2PI = math.log(2 * math.pi)


def log_importance_weights(batch_size, dataset_size, estimator="mss", dtype=np.float64):
    """log W (B, B): the weight of posterior j in the estimate of q(z_i); see the module
    docstring. MWS: log(1 / (B N)) everywhere. MSS with B = 1: W = [[1/N]]."""
    B = check_positive_int("batch_size", batch_size)
    N = check_positive_int("dataset_size", dataset_size)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")
    if N < B:
        raise ValueError(f"dataset_size must be at least the batch size {B}; got {N}")
    if estimator == "mws":
        return np.full((B, B), -math.log(B * N), dtype=dtype)
    M = B - 1
    W = np.full((B, B), 1 / M if M else 0.0)
    i = np.arange(B)
    W[i, (i + 1) % B] = (N - M) / (N * M) if M else 0.0
    W[i, i] = 1 / N
    return np.log(W).astype(dtype)


def log_normal(z, mu, logvar):
    """log N(z; mu, exp(logvar)) of each coordinate: -1/2 (log 2 pi + logvar + (z - mu)^2 /
    exp(logvar)). Shapes: all (N, K) (or broadcastable) -> (N, K)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * np.exp(-logvar))


def _softmax_lse(a):
    """The log-sum-exp over the last axis, and the softmax, written into ``a`` itself."""
    top = a.max(axis=-1, keepdims=True)  # exp is only taken of numbers <= 0
    a -= top
    np.exp(a, out=a)
    total = a.sum(axis=-1, keepdims=True)
    a /= total
    return (top + np.log(total))[..., 0], a


def aggregate_posterior(z, mu, logvar, log_w):
    """log q(z_i) and log q(z_id) of samples z_i under a weighted mixture of posteriors j.

        log q(z_i)  = LSE_j (log_w[i, j] + sum_d L[i, j, d])                        (S,)
        log q(z_id) = LSE_j (log_w[i, j] + L[i, j, d])                              (S, K)
    with L[i, j, d] = log N(z_id; mu_jd, exp(logvar_jd)). ``log_w`` (S, N) or a number.
    Returns both and a cache for ``_aggregate_backward``: t = (z_id - mu_jd) / std_jd, the
    softmaxes P (S, N) and Q, and 1 / std (N, K). The three-axis arrays are (K, S, N), d first,
    so that each softmax over j runs along the last, contiguous axis.
    """
    inv_std = np.exp(-0.5 * logvar)  # (N, K)
    t = z.T[:, :, None] - mu.T[:, None, :]  # (K, S, N)
    t *= inv_std.T[:, None, :]
    L = np.multiply(t, t)
    L += (logvar.T + LOG_2PI)[:, None, :]
    L *= -0.5  # L[d, i, j]
    joint = L.sum(axis=0)  # (S, N): sum_d L[i, j, d]
    joint += log_w
    L += log_w
    log_qz, P = _softmax_lse(joint)  # (S,), (S, N)
    log_qzd, Q = _softmax_lse(L)  # (K, S), (K, S, N)
    return log_qz, log_qzd.T, {"t": t, "P": P, "Q": Q, "inv_std": inv_std}


def _aggregate_backward(cache, dlog_qz, dlog_qzd):
    """Gradients of ``sum_i dlog_qz[i] log q(z_i) + sum_id dlog_qzd[i, d] log q(z_id)`` for z
    (S, K), mu and logvar (N, K); see the module docstring. Consumes the cache (writes into Q)."""
    t, P, Q, inv_std = cache["t"], cache["P"], cache["Q"], cache["inv_std"]
    G = Q  # G[d, i, j] = dlog_qz[i] P[i, j] + dlog_qzd[i, d] Q[d, i, j]
    G *= dlog_qzd.T[:, :, None]
    G += (dlog_qz[:, None] * P)[None]
    Gt = G * t
    dz = -np.matmul(Gt, inv_std.T[:, :, None])[:, :, 0].T  # (S, K): sum over j
    dmu = Gt.sum(axis=1).T * inv_std  # (N, K): sum over i
    Gt *= t
    dlogvar = 0.5 * (Gt.sum(axis=1) - G.sum(axis=1)).T
    return dz, dmu, dlogvar


def kl_decomposition(z, mu, logvar, dataset_size, estimator="mss"):
    """The minibatch estimates (mi, tc, dwkl) of the three terms, each (B,), for the samples z_i
    of the batch's posteriors N(mu_i, exp(logvar_i)) in a data set of ``dataset_size``.
    Shapes: z, mu, logvar (B, K). Their sum is log q(z_i | x_i) - log p(z_i)."""
    z, mu, logvar = (np.asarray(a) for a in (z, mu, logvar))
    if z.ndim != 2 or mu.shape != z.shape or logvar.shape != z.shape:
        raise ValueError("z, mu and logvar must be 2-D (batch, latent) and of one shape; got "
                         f"{z.shape}, {mu.shape}, {logvar.shape}")
    dtype = np.result_type(z, mu, logvar, np.float32)
    log_w = log_importance_weights(len(z), dataset_size, estimator, dtype)
    log_qz, log_qzd, _ = aggregate_posterior(z, mu, logvar, log_w)
    log_prod = log_qzd.sum(axis=1)
    log_qzx = log_normal(z, mu, logvar).sum(axis=1)
    log_pz = -0.5 * (LOG_2PI + z * z).sum(axis=1)
    return log_qzx - log_qz, log_qz - log_prod, log_prod - log_pz


class TCVAE(CoupledVAE):
    """beta-TCVAE: a VAE trained on mean_i (BCE_i + alpha MI_i + beta TC_i + gamma DWKL_i).

    Args (beyond ``npvae.VAE``'s, which it takes too: likelihood, activation, n_classes, ...):
        alpha, beta, gamma: the weights of the mutual information, the total correlation and
            the dimension-wise KL (1, 1, 1: the ELBO's KL, estimated; Chen et al.: 1, beta, 1).
        estimator: "mss" (minibatch stratified sampling) or "mws" (minibatch weighted sampling).
        dataset_size: N, the number of training examples (the estimators weigh by it).
    ``beta`` in ``forward_backward`` and ``fit``'s warm-up scales the TC weight.
    """

    kind = "tcvae"
    penalty_by_rows = True

    def __init__(self, input_dim, hidden_dims=(400, 400), latent_dim=20, alpha=1.0, beta=6.0,
                 gamma=1.0, estimator="mss", dataset_size=None, dtype=np.float32,
                 random_state=None, **options):
        self.alpha, self.gamma = check_weight("alpha", alpha), check_weight("gamma", gamma)
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")
        if dataset_size is None:
            raise ValueError("dataset_size must be given: N, the number of training examples")
        self.estimator = estimator
        self.dataset_size = check_positive_int("dataset_size", dataset_size)
        super().__init__(input_dim, hidden_dims, latent_dim, beta=beta, dtype=dtype,
                         random_state=random_state, **options)

    def own_config(self):
        return {"alpha": self.alpha, "gamma": self.gamma, "estimator": self.estimator,
                "dataset_size": self.dataset_size}

    def penalty(self, encoded, beta=None, rows=None):
        """R_i = alpha MI_i + beta TC_i + gamma DWKL_i for the rows i in ``rows``, against every
        posterior j of the batch, and the block's part of the gradient of mean_i R_i."""
        beta = self.beta if beta is None else beta
        alpha, gamma = self.alpha, self.gamma
        mu, logvar, z = encoded.mu, encoded.logvar, encoded.z
        n = len(z)
        rows = slice(0, n) if rows is None else rows
        log_w = log_importance_weights(n, self.dataset_size, self.estimator, self.dtype)[rows]
        z_i, mu_i, logvar_i = z[rows], mu[rows], logvar[rows]
        log_qz, log_qzd, cache = aggregate_posterior(z_i, mu, logvar, log_w)
        log_prod = log_qzd.sum(axis=1)
        u = (z_i - mu_i) * np.exp(-0.5 * logvar_i)  # eps, to round-off
        log_qzx = -0.5 * (LOG_2PI + logvar_i + u * u).sum(axis=1)
        log_pz = -0.5 * (LOG_2PI + z_i * z_i).sum(axis=1)
        value = (alpha * (log_qzx - log_qz) + beta * (log_qz - log_prod)
                 + gamma * (log_prod - log_pz))
        # loss = 1/n sum_i [alpha log q(z_i|x_i) + (beta - alpha) log q(z_i)
        #                   + (gamma - beta) sum_d log q(z_id) - gamma log p(z_i)]
        dlog_qz = np.full(len(z_i), (beta - alpha) / n, dtype=self.dtype)
        dlog_qzd = np.full(log_qzd.shape, (gamma - beta) / n, dtype=self.dtype)
        dz, dmu, dlogvar = _aggregate_backward(cache, dlog_qz, dlog_qzd)
        # log q(z_i | x_i): d/dz = -u / std, d/dmu = u / std, d/dlogvar = (u^2 - 1) / 2
        du = (alpha / n) * u * np.exp(-0.5 * logvar_i)
        dz -= du
        dmu[rows] += du
        dlogvar[rows] += (alpha / n) * 0.5 * (u * u - 1)
        dz += (gamma / n) * z_i  # -gamma log p(z_i): d/dz = gamma z
        kl, _, _ = kl_normal(mu_i, logvar_i)
        return Penalty(value, kl, dz, dmu, dlogvar)
