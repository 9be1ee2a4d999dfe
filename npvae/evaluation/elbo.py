"""Evaluating a trained VAE: the ELBO, the importance-weighted bound on log p(x), posterior
collapse (KL per latent dimension, active units), anomaly scores and the spread of the decoder's
output over the posterior.

One convention: every loss here is positive nats per example, lower is better: the negative
ELBO (``evaluate``), the IWAE bound on the negative log-likelihood (``iwae_nll``), the KL
(``kl_per_dimension``). Every function that draws noise takes ``random_state``, 0 by default,
so a rerun gives the same numbers.

Shape letters: N examples, D data, K latent, S importance samples.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from ..models.vae import reparameterize
from ..nn.layers import sigmoid
from ..utils.validation import check_positive_int


def _batches(n, batch_size):
    batch_size = check_positive_int("batch_size", batch_size)
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _labels(model, y, n):
    return model.check_labels(y, n) if model.n_classes else None


def evaluate(model, X, batch_size=1000, random_state=0, y=None):
    """The negative ELBO of X (positive nats per example, lower is better) and its parts: dict
    loss, reconstruction, kl.

    One noise sample per example from ``random_state`` (fixed by default, so that numbers from
    epoch to epoch compare the model, not the noise). ``loss`` is the negative ELBO whatever the
    model's beta (and free bits): reconstruction + KL.
    """
    return elbo_summary(*per_example_elbo(model, X, batch_size, random_state, y))


def elbo_summary(rec, kl):
    """``evaluate``'s dict from the per-example parts (N,) of ``per_example_elbo``."""
    return {"loss": float(rec.mean() + kl.mean()), "reconstruction": float(rec.mean()),
            "kl": float(kl.mean())}


def per_example_elbo(model, X, batch_size=1000, random_state=0, y=None):
    """Reconstruction (N,) and KL (N,) of every example, positive nats (their sum is the
    negative ELBO), one noise sample each, in batches."""
    rng = np.random.default_rng(random_state)
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    rec, kl = np.empty(len(X)), np.empty(len(X))
    for part in _batches(len(X), batch_size):
        eps = rng.standard_normal((part.stop - part.start, model.latent_dim), dtype=model.dtype)
        rec[part], kl[part] = model.per_example_loss(X[part], eps, None if y is None else y[part])
    return rec, kl


def _posterior_draws(model, X, y, k, rows, rng, progress=False, desc=""):
    """k draws z ~ q(z | x) for every row of X, decoded in blocks of about ``rows`` rows.

    Yields ``(part, logvar, eps, z, out)`` block by block: ``part`` a slice of X's rows (n of
    them), ``logvar`` (n, K), ``eps`` and ``z`` (S, n, K) with S <= k, and ``out`` the decoder's
    output (S * n, D), a work array that the next block overwrites. Over its blocks, every row
    gets k draws, so the memory stays bounded whatever k.
    """
    per_x = max(1, min(len(X), rows // k))  # examples per outer batch
    samples = max(1, min(k, rows // per_x))  # samples per inner batch
    for part in tqdm(_batches(len(X), per_x), desc=desc, disable=not progress):
        labels = None if y is None else y[part]
        mu, logvar = model.encode(X[part], labels)  # (n, K)
        n = len(mu)
        for start in range(0, k, samples):
            s = min(samples, k - start)
            eps = rng.standard_normal((s, n, model.latent_dim), dtype=model.dtype)  # (S, n, K)
            z = reparameterize(mu, logvar, eps)  # (S, n, K)
            y_rep = None if labels is None else np.tile(labels, s)
            yield part, logvar, eps, z, model._decode(np.ascontiguousarray(z.reshape(s * n, -1)),
                                                      y_rep)


def iwae_nll_per_example(model, X, k=5000, batch_size=None, random_state=0, y=None,
                         progress=False, nll=None):
    """The importance-weighted upper bound on -log p(x) of every example (positive nats, lower
    is better; Burda et al. 2015): (N,).

        -log p(x) <= -E[ log (1/k) sum_i p(x, z_i) / q(z_i | x) ],   z_i ~ q(z | x)
    With z = mu + std * eps, the log weight of one sample is
        log w = log p(x | z) + log N(z; 0, I) - log N(z; mu, std^2)
              = -nll(x | z) - 1/2 sum_k z_k^2 + 1/2 sum_k (logvar_k + eps_k^2)
    (the log 2 pi terms cancel). The mean of log-weights is the ELBO, so k = 1 gives the negative
    ELBO (its KL estimated at the draw) and the bound tightens as k grows. The sum over i is taken with a running log-sum-exp,
    never exponentiating a log-weight, and the samples go through the decoder in batches of about
    ``batch_size`` rows (default 20,000), so memory stays bounded whatever k. ``nll``: a
    function ``(out, x) -> (n,)`` giving -log p(x | z) from the decoder's output in place of the
    model's own likelihood (``npvae.evaluation.ood.eight_bit_nll``).

    Shapes: X (N, D) -> (N,).
    """
    k = check_positive_int("k", k)
    rows = 20_000 if batch_size is None else check_positive_int("batch_size", batch_size)
    rng = np.random.default_rng(random_state)
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    total = np.full(len(X), -np.inf)  # running log sum_i w_i, per example
    for part, logvar, eps, z, out in _posterior_draws(model, X, y, k, rows, rng, progress,
                                                     f"IWAE k={k}"):
        s, n = eps.shape[:2]
        x_rep = np.broadcast_to(X[part], (s, n, X.shape[1])).reshape(s * n, -1)
        log_px_z = -(model.nll.forward if nll is None else nll)(out, x_rep).reshape(s, n)
        log_w = log_px_z - 0.5 * (z * z).sum(axis=2) + 0.5 * (logvar + eps * eps).sum(axis=2)
        top = log_w.max(axis=0)  # log-sum-exp over the S samples, shifted by its largest
        total[part] = np.logaddexp(total[part], top + np.log(np.exp(log_w - top).sum(axis=0)))
    return math.log(k) - total


def iwae_nll(model, X, k=5000, batch_size=None, random_state=0, y=None, progress=False):
    """The importance-weighted upper bound on -log p(x), mean over X (positive nats, lower is
    better; see ``iwae_nll_per_example``). k = 1 gives the negative ELBO with its KL estimated
    at one draw (``evaluate`` gives it with the closed-form KL)."""
    return float(iwae_nll_per_example(model, X, k, batch_size, random_state, y, progress).mean())


def optimal_gaussian_std(model, X, per_dim=False, batch_size=1000, random_state=0, y=None):
    """The standard deviation of a Gaussian p(x | z) that maximises the ELBO of X for the
    model's encoder and decoder as they are (Rybkin et al. 2021's "optimal sigma"). With one
    draw z_n ~ q(z | x_n) and m_n the decoder's mean, the reconstruction term
        sum_n sum_d [ (x_nd - m_nd)^2 / (2 s^2) + log s ] + const
    has derivative sum (1/s - (x - m)^2 / s^3) in s, zero at
        s^2 = mean over n and d of (x_nd - m_nd)^2         (per_dim: s_d^2, the mean over n)
    the root mean squared error. A learned std (``np.exp(model.nll.log_std())``) far above it has
    not caught up yet (see ``VAE(log_std_scale=)``). Noise from ``random_state``, as in
    ``evaluate``. Shapes: X (N, D) -> a float, or (D,) with ``per_dim``."""
    if model.likelihood != "gaussian":
        raise ValueError("optimal_gaussian_std is the std of a Gaussian p(x | z); the model's "
                         f"likelihood is {model.likelihood!r}")
    rng = np.random.default_rng(random_state)
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    squares = np.zeros(X.shape[1])  # float64 sums over the examples, (D,)
    for part, _, _, _, mean in _posterior_draws(model, X, y, 1, batch_size, rng):
        squares += ((X[part] - mean) ** 2).sum(axis=0, dtype=np.float64)
    mean_square = squares / len(X)
    return np.sqrt(mean_square) if per_dim else float(np.sqrt(mean_square.mean()))


def change_of_variables(scale):
    """``sum_d log s_d`` (nats): what a negative log-likelihood of standardised data
    x' = (x - m) / s gains in the data's own units (a density of x' is s_d times that of x in
    each dimension):

        -log p(x) = -log p'(x') + sum_d log s_d
    Add it to the negative ELBO or the IWAE bound of a model trained on standardised data to
    compare it with a model of the raw data. Shapes: scale (D,) -> a number."""
    scale = np.asarray(scale, dtype=np.float64)
    if scale.ndim != 1 or not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError("scale must be a 1-D array of finite numbers > 0 (the standard "
                         "deviations the data were divided by)")
    return float(np.log(scale).sum())


def predictive_moments(model, X, n_samples=100, batch_size=5000, random_state=0, y=None):
    """Pixel-wise mean and standard deviation of the decoder's output over draws from q(z | x).

        m(x) = 1/S sum_s f(z_s),   sd(x) = sqrt(1/(S-1) sum_s (f(z_s) - m(x))^2),   z_s ~ q(z | x)
    with f(z) the mean of p(x | z) (pixel probabilities for the Bernoulli decoder). sd is the
    spread that the encoder's uncertainty about z puts into the image: the term Var_q[E[x | z]]
    of the law of total variance; the pixel noise of p(x | z) itself (p (1 - p) for a
    Bernoulli pixel) is the other term, left out. The draws go through the decoder in blocks of
    about ``batch_size`` rows, each block's mean and squared deviations merged into running ones
    (Chan et al. 1979), so memory stays bounded for S in the hundreds or thousands.

    Shapes: X (N, D) -> mean (N, D), sd (N, D), in the model's dtype.
    """
    if int(n_samples) != n_samples or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2; got {n_samples!r}")
    rng = np.random.default_rng(random_state)
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    seen = np.zeros((len(X), 1))  # draws merged so far, per example
    mean = np.zeros(X.shape)  # float64 accumulators (N, D)
    squares = np.zeros(X.shape)  # sum of squared deviations from the mean
    for part, _, eps, _, out in _posterior_draws(model, X, y, n_samples, batch_size, rng):
        s, n = eps.shape[:2]
        f = out.reshape(s, n, -1)
        f = sigmoid(f) if model.likelihood == "bernoulli" else f  # (S, n, D)
        block_mean = f.mean(axis=0, dtype=np.float64)
        block_squares = ((f - block_mean) ** 2).sum(axis=0)
        before = seen[part].copy()  # (n, 1); a slice of seen would change with it
        after = before + s
        delta = block_mean - mean[part]  # (n, D)
        mean[part] += delta * (s / after)
        squares[part] += block_squares + delta * delta * (before * s / after)
        seen[part] = after
    sd = np.sqrt(squares / (seen - 1))
    return mean.astype(model.dtype), sd.astype(model.dtype)


def kl_per_dimension(model, X, batch_size=1000, y=None):
    """The KL of each latent dimension, averaged over X (positive nats): (K,). Summed, it is the
    KL term. A dimension carrying almost none (below 0.1 nats, say) has collapsed onto the
    prior, whatever ``active_units`` says."""
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    total = np.zeros(model.latent_dim)
    for part in _batches(len(X), batch_size):
        mu, logvar = model.encode(X[part], None if y is None else y[part])
        total += (-0.5 * (1 + logvar - mu * mu - np.exp(logvar))).sum(axis=0)
    return total / len(X)


def active_units(model, X, threshold=0.01, batch_size=1000, y=None):
    """How many latent dimensions the model uses: ``Var_x(E_q[z_k | x]) > threshold`` (Burda et
    al. 2015). Returns (number active, the variances (K,)). Burda et al.'s 0.01 is lenient: a
    dimension whose posterior means vary by 0.1 carries only some 0.01 to 0.03 nats. Read it
    beside ``kl_per_dimension``."""
    X = model.check_input(X)
    y = _labels(model, y, len(X))
    means = np.concatenate([model.encode(X[part], None if y is None else y[part])[0]
                            for part in _batches(len(X), batch_size)])
    variances = means.astype(np.float64).var(axis=0)
    return int((variances > threshold).sum()), variances


def anomaly_scores(model, X, y=None, random_state=0, n_samples=10):
    """Two scores per example, higher meaning more unusual: the negative ELBO (nats, averaged
    over ``n_samples`` noise draws) and the squared reconstruction error ``|x - recon(x)|^2``
    (reconstruction from the posterior mean). Returns (neg_elbo (N,), squared_error (N,))."""
    rng = np.random.default_rng(random_state)
    neg_elbo = np.zeros(len(X))
    for _ in range(n_samples):
        rec, kl = per_example_elbo(model, X, random_state=rng, y=y)
        neg_elbo += (rec + kl) / n_samples
    squared_error = ((model.check_input(X) - model.reconstruct(X, y)) ** 2).sum(axis=1)
    return neg_elbo, squared_error

