"""Beyond one sample: the importance-weighted bound (IWAE) and three gradients for its encoder, in
plain NumPy. Read it after ``npvae/reference.py``, whose model and pieces it reuses.

With K draws per image instead of one (Burda et al. 2016), for one image x:

    z_k     = mu + exp(logvar / 2) * eps_k,  eps_k ~ N(0, I)            k = 1..K, (K, N, L)
    log w_k = log p(x | z_k) + beta (log p(z_k) - log q(z_k | x))      (K, N)
    bound   = log (1/K) sum_k w_k = logsumexp_k(log w_k) - log K       (N,)
    loss    = -mean_n bound_n

beta = 1 gives the IWAE bound; beta weighs the prior against q as it weighs the KL in
``reference.py`` (a KL warm-up moves it from 0 to 1). With K = 1 the bound is the ELBO with a
one-sample estimate of the KL (``reference.py`` uses the closed form instead). The noise eps
(K, N, L) is an argument, as in ``reference.py``: with it fixed, every quantity here is a plain
function of the parameters.

The gradient. The normalised weights ``wt_k = w_k / sum_j w_j`` (a softmax over k of log w_k,
taken with the largest subtracted, so no exp overflows) carry it:

    d bound / d theta = sum_k wt_k d log w_k / d theta

For the decoder's weights, d log w_k / d theta = d log p(x | z_k) / d theta. For the encoder's
outputs (mu, logvar) there are two paths: through z_k, with
``g_k = d [log p(x | z) + beta log p(z)] / dz`` at z_k, and through log q's own parameters.
Since (z - mu)^2 / exp(logvar) = eps^2, log q(z_k | x) = -1/2 sum (eps_k^2 + logvar + log 2 pi),
and its total derivative is 0 for mu and -1/2 for each logvar. Three estimators of the encoder's
gradient (each row n, summed over k):

    "reparam"  the gradient of the bound itself (Burda et al. 2016):
                 dmu = sum_k wt_k g_k,   dlogvar = sum_k wt_k (g_k eps_k std / 2 + beta / 2)
    "stl"      sticking the landing (Roeder et al. 2017): log q's score term, whose expectation
               is 0 but whose noise is not, is dropped; the path through z keeps log q's slope
               d log q / dz = -eps / std:
                 s_k = g_k + beta eps_k / std,
                 dmu = sum_k wt_k s_k,   dlogvar = sum_k wt_k s_k eps_k std / 2
    "dreg"     doubly reparameterized (Tucker et al. 2018): the squared weights on the same path,
               u_k = wt_k^2 at beta = 1 (in general (1 - beta) wt_k + beta wt_k^2: the score
               term that the second reparameterization turns into a path term carries beta),
                 dmu = sum_k u_k s_k,    dlogvar = sum_k u_k s_k eps_k std / 2

Each is the exact gradient of a surrogate (``surrogate``): the bound with log q's parameters held
fixed (stl), or sum_k u_k log w_k with the weights u held fixed and log q's parameters too (dreg,
whose decoder part stays the bound's). The bound's own gradient and dreg's have the same
expectation; stl's differs for K > 1 (Tucker et al. 2018). Why: as K grows the plain
estimator's signal in the encoder's gradient shrinks faster than its noise (Rainforth et al.
2018); stl and dreg take the score term's noise away.

Shape letters: K draws, N batch, D data, H hidden, L latent.
"""

import math

import numpy as np

from . import reference
from .reference import encoder_backward, sigmoid, softplus

ESTIMATORS = ("reparam", "stl", "dreg")
LOG_2PI = math.log(2 * math.pi)


def decode(params, z, cache):
    """``reference.decode`` on every draw at once: z (K, N, L) -> logits (K, N, D); its layers'
    inputs and outputs go into ``cache`` with K * N rows."""
    K, N, L = z.shape
    return reference.decode(params, z.reshape(K * N, L), cache).reshape(K, N, -1)


def decoder_backward(params, cache, dlogits, grads):
    """``reference.decoder_backward`` on every draw: dlogits (K, N, D) -> dz (K, N, L)."""
    K, N, D = dlogits.shape
    return reference.decoder_backward(params, cache, dlogits.reshape(K * N, D),
                                      grads).reshape(K, N, -1)


def forward(params, x, eps, beta=1.0):
    """The bound of each image. Shapes: x (N, D), eps (K, N, L) -> cache with "z" (K, N, L),
    "logits" (K, N, D), "log_px" (K, N), "log_w" and "wt" (K, N), "bound" (N,), and what
    ``reference.encode`` writes."""
    cache = {"x": x, "eps": eps, "beta": beta}
    reference.encode(params, x, cache)
    cache["z"] = z = cache["mu"] + cache["std"] * eps  # (K, N, L): the reparameterization, K times
    cache["logits"] = logits = decode(params, z, cache)  # (K, N, D)
    cache["log_px"] = log_px = -np.sum(softplus(logits) - x * logits, axis=2)  # (K, N)
    log_pz = -0.5 * np.sum(z**2 + LOG_2PI, axis=2)  # (K, N): the prior N(0, I)
    log_qz = -0.5 * np.sum(eps**2 + cache["logvar"] + LOG_2PI, axis=2)  # (K, N): q(z_k | x)
    cache["log_w"] = log_w = log_px + beta * (log_pz - log_qz)  # (K, N)
    top = log_w.max(axis=0)  # (N,): subtracted before exp, so that no exp overflows
    total = np.exp(log_w - top).sum(axis=0)  # (N,)
    cache["wt"] = np.exp(log_w - top) / total  # (K, N): the normalised weights, summing to 1
    cache["bound"] = top + np.log(total) - math.log(len(eps))  # (N,)
    return cache


def backward(params, cache, estimator="reparam"):
    """The gradient of ``loss = -mean_n bound_n`` for the decoder's parameters, and for the
    encoder's by ``estimator`` ("reparam", "stl" or "dreg"): a dict of ``params``' names and
    shapes."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}")
    x, eps, wt, z, beta = cache["x"], cache["eps"], cache["wt"], cache["z"], cache["beta"]
    n, std = len(x), cache["std"]
    # d log p(x | z_k) / d logits = x - sigmoid(logits); the loss is -mean_n sum_k wt_k log w_k
    dlogits = x - sigmoid(cache["logits"])  # (K, N, D), unweighted
    # the decoder's weights: each draw's gradient weighted by wt_k, and -1/N from the loss
    grads = {}
    decoder_backward(params, cache, -wt[..., None] * dlogits / n, grads)
    # g_k = d [log p(x | z) + beta log p(z)] / dz at z_k, unweighted: the decoder's input
    # gradient, and the prior's
    g = decoder_backward(params, cache, dlogits, {}) - beta * z  # (K, N, L)
    if estimator == "reparam":
        dmu = np.sum(wt[..., None] * g, axis=0)  # (N, L)
        dlogvar = np.sum(wt[..., None] * (g * eps * std / 2 + beta / 2), axis=0)
    else:
        s = g + beta * eps / std  # the path through z, log q's slope in z included
        weight = wt if estimator == "stl" else (1 - beta) * wt + beta * wt**2  # (K, N)
        dmu = np.sum(weight[..., None] * s, axis=0)
        dlogvar = np.sum(weight[..., None] * s * eps * std / 2, axis=0)
    encoder_backward(params, cache, -dmu / n, -dlogvar / n, grads)  # minus the mean bound
    return {name: grads[name] for name in params}


def loss_and_grads(params, x, eps, estimator="reparam", beta=1.0):
    """``-mean_n bound_n`` (a float, nats) and its gradients by ``estimator``.
    Shapes: x (N, D) in [0, 1], eps (K, N, L)."""
    cache = forward(params, x, eps, beta)
    return float(-cache["bound"].mean()), backward(params, cache, estimator)


def log_weights(params, x, eps, q, beta=1.0):
    """log w_k (K, N) under ``params`` with log q's parameters (mu, logvar) taken from ``q``, a
    cache of ``forward`` or ``encode``: the path through z stays, log q's own parameters do not
    move."""
    cache = forward(params, x, eps)
    z, logits = cache["z"], cache["logits"]
    log_px = -np.sum(softplus(logits) - x * logits, axis=2)
    log_pz = -0.5 * np.sum(z**2 + LOG_2PI, axis=2)
    log_qz = -0.5 * np.sum((z - q["mu"]) ** 2 / np.exp(q["logvar"]) + q["logvar"] + LOG_2PI,
                           axis=2)
    return log_px + beta * (log_pz - log_qz)


def surrogate(params, x, eps, estimator, held, beta=1.0):
    """The loss each estimator is the exact gradient of, at ``params`` equal to ``held``, the
    parameters whose values it treats as constants. For checking: central differences of it in
    ``params`` equal ``backward``'s gradients.

    "reparam": the loss itself. "stl": the loss with log q's parameters held. "dreg": minus the
    mean of sum_k u_k log w_k, u_k = (1 - beta) wt_k + beta wt_k^2 (the weights, log q's
    parameters and the decoder held: the encoder's part) plus sum_k wt_k log p(x | z_k) (the
    draws z_k held: the decoder's part)."""
    if estimator == "reparam":
        return float(-forward(params, x, eps, beta)["bound"].mean())
    fixed = forward(held, x, eps, beta)
    if estimator == "stl":
        log_w = log_weights(params, x, eps, fixed, beta)
        top = log_w.max(axis=0)
        return float(-np.mean(top + np.log(np.exp(log_w - top).sum(axis=0)) - math.log(len(eps))))
    wt = fixed["wt"]  # (K, N), held
    decoder = set(name for name in params if name.startswith("decoder."))
    moving_encoder = {name: (held if name in decoder else params)[name] for name in params}
    u = (1 - beta) * wt + beta * wt**2  # dreg's weights
    encoder_part = np.sum(u * log_weights(moving_encoder, x, eps, fixed, beta), axis=0)
    logits = decode(params, fixed["z"], {})  # the held draws through the moving decoder
    decoder_part = np.sum(wt * -np.sum(softplus(logits) - x * logits, axis=2), axis=0)
    return float(-np.mean(encoder_part + decoder_part))
