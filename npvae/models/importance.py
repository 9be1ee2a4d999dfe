"""Several draws per image: the importance-weighted bound (IWAE, Burda et al. 2016) as a VAE's
training objective, with its gradient by hand and three estimators for the encoder's part.

The same maths as ``npvae/reference_iwae.py`` (read it first: it derives every line below),
made fast: the encoder runs once per image, the decoder once on all K * N draws stacked, and
one decoder backward pass serves the decoder's weights and every estimator. For each image:

    z_k     = mu + std * eps_k,   std = exp(logvar / 2)                (K, N, L)
    log w_k = log p(x | z_k) + beta (log p(z_k) - log q(z_k | x))      (K, N)
    bound   = logsumexp_k(log w_k) - log K                             (N,)
    loss    = -1/N sum_n bound_n

where log p(z_k) - log q(z_k | x) = 1/2 sum_l (eps_kl^2 - z_kl^2 + logvar_l) (the log 2 pi
cancel). beta = 1 is the IWAE bound; K = 1 is the ELBO with a one-sample (Monte Carlo) KL.

Backward, with wt = softmax_k(log w) (K, N) (a weight below the dtype's eps^2 counted as 0:
see ``forward_backward``) and a_k = wt_k / N, the loss's derivative for each
draw's -log p(x | z_k), so that the likelihood and decoder backward take a_k as the weight of
their row k * N + n:

    dz_k    = a_k (d[-log p(x | z_k)]/dz + beta z_k)     the decoder's, and the prior's
              - a_k beta eps_k / std                     "stl", "dreg": log q's slope in z
    dz_k   *= 1 - beta + beta wt_k                       "dreg": weights u_k = (1 - beta) wt_k
                                                          + beta wt_k^2, wt_k^2 at beta = 1
    dmu     = sum_k dz_k
    dlogvar = sum_k dz_k eps_k std / 2 - beta / (2 N)    (the last term "reparam" only: log q's
                                                          own derivative, sum_k wt_k = 1)

Shape letters as in ``reference_iwae.py``: K draws, N batch, D data, L latent (the VAE's own
docstrings call the latent size K). Row k * N + n of a stacked (K * N, .) array is draw k of
image n.
"""

import math

import numpy as np

from ..nn.losses import kl_normal
from ..utils.memory import check_rows_fit
from .posterior import LOGVAR_MAX

ESTIMATORS = ("reparam", "stl", "dreg")
OBJECTIVES = ("elbo", "iwae")
KLS = ("analytic", "monte-carlo")
MAX_DRAWS = 1_000
DEFAULT_DRAWS = 5  # the IWAE bound's k when none is given (Burda et al.'s smallest K > 1)


def bound(model, x, eps, beta, y=None):
    """The forward pass: each image's bound (N,), and what the backward pass needs.

    x (N, D), eps (K, N, L), y (N,) labels or None (all checked) -> a dict with "bound" (N,),
    "wt" (K, N), "nll" (K, N) (each draw's -log p(x | z_k)), "mu", "logvar", "logvar_raw",
    "std" (N, L)."""
    K, N, L = eps.shape
    mu, logvar, logvar_raw = model._encode(x, y)  # (N, L): once per image
    std = np.exp(logvar / 2)
    z = mu + std * eps  # (K, N, L)
    stacked = x if K == 1 else np.broadcast_to(x, (K, *x.shape)).reshape(K * N, -1)
    labels = None if y is None else np.tile(y, K)
    out = model._decode(z.reshape(K * N, L), labels)  # (K N, D)
    nll = model.nll.forward(out, stacked).reshape(K, N)  # -log p(x | z_k)
    log_prior_ratio = 0.5 * (np.sum(eps * eps - z * z, axis=2) + logvar.sum(axis=1))  # (K, N)
    wt, log_total = softmax_and_normaliser(beta * log_prior_ratio - nll)
    return {"bound": log_total - math.log(K), "wt": wt, "nll": nll,
            "mu": mu, "logvar": logvar, "logvar_raw": logvar_raw, "std": std, "z": z}


def loss_parts(model, x, eps, beta, y=None):
    """(total, reconstruction, kl) of ``forward_backward``, with no gradient (ValueError first
    if the k draws of x would not fit in memory)."""
    check_memory(model, len(x), "loss")
    f = bound(model, x, eps, beta, y)
    kl, _, _ = kl_normal(f["mu"], f["logvar"])
    return -float(f["bound"].mean()), float(f["nll"].mean()), float(kl.mean())


def forward_backward(model, x, eps, beta, y, n, estimator):
    """One forward and backward pass of ``loss = -1/n sum_rows bound``; writes the gradient into
    ``model.params.grad`` (the encoder's part by ``estimator``). ``n``: the whole batch's size
    when x is a share of it. Returns (total, reconstruction, kl), each summed over the rows and
    divided by n: the loss, the draws' mean -log p(x | z), and the closed-form KL (reported,
    not trained: the bound estimates its own)."""
    f = bound(model, x, eps, beta, y)
    K, N, L = eps.shape
    std, z = f["std"], f["z"]
    # A weight below eps^2 of the dtype changes no digit of the gradient, but its products in
    # the decoder's backward pass would be subnormal numbers, on which the CPU's arithmetic (and
    # so BLAS) runs many times slower: such weights count as 0.
    wt = np.where(f["wt"] < np.finfo(model.dtype).eps ** 2, 0, f["wt"]).astype(model.dtype,
                                                                            copy=False)
    a = wt / n  # (K, N)
    dout = model.nll.backward(a.reshape(K * N))  # (K N, D); the learned std's gradient too
    dz = model.decoder.backward(dout)[:, :L].reshape(K, N, L)  # the label gets no gradient
    dz += (beta * a)[..., None] * z  # -beta log p(z): its slope beta z
    if estimator != "reparam":
        dz -= (beta * a)[..., None] * eps / std  # +beta log q: its slope in z, -eps / std
    if estimator == "dreg":  # u_k = (1 - beta) wt_k + beta wt_k^2: dz has wt_k already
        dz *= (1 - beta + beta * wt)[..., None]
    dmu = dz.sum(axis=0)  # (N, L)
    dlogvar = np.sum(dz * eps, axis=0) * std / 2
    if estimator == "reparam":
        dlogvar -= beta / (2 * n)
    dlogvar *= f["logvar_raw"] < LOGVAR_MAX  # the cap lets no gradient through
    dh = model.mu_head.backward(dmu)
    dh_logvar = model.logvar_head.backward(dlogvar)
    if model.hidden_dims:
        dh += dh_logvar
        model.encoder.backward(dh)
    kl, _, _ = kl_normal(f["mu"], f["logvar"])
    return (-float(f["bound"].sum()) / n, float(f["nll"].sum()) / (K * n),
            float(kl.sum()) / n)


def check_memory(model, rows, what="training"):
    """ValueError, before the work, if k draws of ``rows`` images (about eight (k rows, D)
    arrays: the data repeated, the decoder's outputs and gradients, the likelihood's work)
    would not fit in the memory available."""
    widest = max([model.input_dim + model.n_classes, *model.hidden_dims,
                  *(model.decoder_hidden_dims or ())])
    check_rows_fit(f"{what} with k={model.k} draws per image on {rows:,} images at once",
                   2 * model.k * rows, widest, model.dtype,
                   advice="fewer draws (k) or fewer images at a time")


def check_objective(objective, k, kl, gradient, model="VAE", free_bits=0.0):
    """A VAE's training objective from its arguments, checked: (objective, k, kl, gradient).
    For the ELBO, kl=None is "analytic" and k=None 1; for the IWAE bound, "monte-carlo" and
    ``DEFAULT_DRAWS``. ValueError says which combination has no meaning; ``model``, the class's
    name: only a plain VAE (not TCVAE or FactorVAE), without free bits, takes a Monte Carlo
    KL."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {objective!r}")
    k = (1 if objective == "elbo" else DEFAULT_DRAWS) if k is None else k
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_DRAWS:
        raise ValueError(f"k (draws per image) must be an integer from 1 to {MAX_DRAWS:,}; "
                         f"got {k!r}")
    kl = (KLS[0] if objective == "elbo" else KLS[1]) if kl is None else kl
    if kl not in KLS:
        raise ValueError(f"kl must be one of {KLS}; got {kl!r}")
    if gradient not in ESTIMATORS:
        raise ValueError(f"gradient must be one of {ESTIMATORS}; got {gradient!r}")
    if objective == "elbo" and k != 1:
        raise ValueError(f"the ELBO takes one draw per image; k={k} draws make the IWAE bound: "
                         "objective='iwae'")
    if objective == "iwae" and kl == "analytic":
        raise ValueError("the IWAE bound weighs each draw by p(x, z) / q(z | x): its KL part "
                         "is estimated from the draws (kl='monte-carlo'), not in closed form")
    if gradient != "reparam" and kl == "analytic":
        raise ValueError(f"gradient={gradient!r} changes how the gradient goes through "
                         "log q(z | x) at the draws, which the closed-form KL does not have: "
                         "use kl='monte-carlo' (or objective='iwae')")
    if kl == "monte-carlo" and (model != "VAE" or free_bits):
        got = f"free_bits={free_bits!r}" if model == "VAE" else f"a {model}"
        raise ValueError("kl='monte-carlo' (and objective='iwae') train a plain npvae.VAE "
                         f"without free bits; got {got}")
    return objective, int(k), kl, gradient


def surrogate(model, x, eps, held, y=None):
    """The loss that ``model.gradient``'s estimate is the exact gradient of, with the model's
    parameters now at ``model.params.vector`` and its held quantities taken at ``held`` (P,),
    the parameters where the gradient was computed: for checking the estimators against
    central differences (``npvae gradcheck``), as ``reference_iwae.surrogate`` does for the
    reference's model. "reparam": the loss. "stl": the loss with log q's parameters held.
    "dreg": -1/N sum_n [sum_k u_k log w_k, u_k = (1 - beta) wt_k + beta wt_k^2 (the weights,
    log q's parameters and the decoder held) + sum_k wt_k log p(x | z_k) (the draws held)].
    x, eps, y checked."""
    beta = model.beta
    if model.gradient == "reparam":
        return -float(bound(model, x, eps, beta, y)["bound"].mean())
    K, N, L = eps.shape
    moving = model.params.vector.copy()
    labels = None if y is None else np.tile(y, K)
    stacked = np.broadcast_to(x, (K, *x.shape)).reshape(K * N, -1)

    def nll_at(vector, z=None):  # -log p(x | z_k) (K, N), the draws z (K, N, L), q's (mu, logvar)
        model.params.vector[...] = vector
        mu, logvar, _ = model._encode(x, y)
        z = mu + np.exp(logvar / 2) * eps if z is None else z
        nll = model.nll.forward(model._decode(z.reshape(K * N, L), labels), stacked)
        return nll.reshape(K, N), z, (mu.copy(), logvar.copy())

    def log_w(nll, z, q):  # log q at the held (mu, logvar) q
        log_prior_ratio = 0.5 * np.sum((z - q[0]) ** 2 / np.exp(q[1]) + q[1] - z * z, axis=2)
        return beta * log_prior_ratio - nll

    try:
        nll0, z0, q0 = nll_at(held)
        if model.gradient == "stl":
            log_total = softmax_and_normaliser(log_w(*nll_at(moving)[:2], q0))[1]
            return -float(np.mean(log_total - math.log(K)))
        wt = softmax_and_normaliser(log_w(nll0, z0, q0))[0]
        decoder = np.concatenate([np.full(model.params.values[name].size,
                                          not name.startswith(("encoder", "mu_head",
                                                               "logvar_head")))
                                  for name in model.params.names])
        u = (1 - beta) * wt + beta * wt**2  # dreg's weights, wt^2 at beta = 1
        encoder_part = np.sum(u * log_w(*nll_at(np.where(decoder, held, moving))[:2], q0), axis=0)
        decoder_part = -np.sum(wt * nll_at(np.where(decoder, moving, held), z0)[0], axis=0)
        return -float(np.mean(encoder_part + decoder_part))
    finally:
        model.params.vector[...] = moving


def softmax_and_normaliser(log_w):
    """wt = softmax over the draws (K, N), and log sum_k w_k (N,), the largest log w
    subtracted before exp."""
    top = log_w.max(axis=0)
    w = np.exp(log_w - top)
    total = w.sum(axis=0)
    return w / total, top + np.log(total)
