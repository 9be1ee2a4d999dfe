"""Measuring disentanglement on data with known factors: the mutual information gap (MIG), and
the decomposition of the KL term over a whole (sub)set.

MIG (Chen et al. 2018), computed as disentanglement_lib computes it (``mig.compute_mig``): each
code (a column of the posterior means) is cut into ``n_bins`` equal-width bins (the edges of
``np.histogram``, then ``np.digitize``); the mutual information I(v_k; c_j) of every code k with
every factor j comes from ``sklearn.metrics.mutual_info_score`` (nats), and a factor's entropy
H(v_k) is its mutual information with itself; then
    MIG = 1/F sum_k (I(v_k; c_(1)) - I(v_k; c_(2))) / H(v_k)
with c_(1) and c_(2) the codes of largest and second largest information about factor k. It lies
in [0, 1]: 1 when each factor is known by one code and by no other. The shape counts as a factor
here, as in disentanglement_lib; Chen et al. leave it out for dSprites, which raises their MIG.

Shape letters: N examples, K codes (latent dimensions), F factors.
"""

import math

import numpy as np

from ..models.tcvae import LOG_2PI, aggregate_posterior, kl_decomposition, log_normal
from ..utils.validation import check_positive_int, check_random_state


def check_codes_and_factors(codes, factors):
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError("codes must be 2-D (n_samples, n_codes) with at least 2 codes; got "
                         f"shape {codes.shape}")
    if factors.ndim != 2 or len(factors) != len(codes) or factors.shape[1] == 0:
        raise ValueError(f"factors must be 2-D (n_samples, n_factors) with the {len(codes)} rows "
                         f"of codes; got shape {factors.shape}")
    if not (np.issubdtype(factors.dtype, np.number) and np.isfinite(factors).all()):
        raise ValueError("factors must hold finite numbers, one class per distinct value; got "
                         f"dtype {factors.dtype}")
    if not np.isfinite(codes).all():
        raise ValueError("codes must be finite; got NaN or inf")
    classes = np.stack([np.unique(f, return_inverse=True)[1] for f in factors.T], axis=1)
    return codes, classes.reshape(factors.shape)  # each distinct value a class 0, 1, ...


def histogram_discretize(codes, n_bins=20):
    """Each column cut into ``n_bins`` equal-width bins between its min and max: (N, K) -> the bin
    of each entry (N, K), 1 to n_bins (``np.digitize`` on ``np.histogram``'s edges but the
    last, as disentanglement_lib does)."""
    n_bins = check_positive_int("n_bins", n_bins)
    return np.stack([np.digitize(c, np.histogram(c, n_bins)[1][:-1]) for c in codes.T], axis=1)


def mutual_information(codes, factors, n_bins=20):
    """I(code k; factor j) in nats for every pair: (N, K), (N, F) -> (K, F)."""
    from sklearn.metrics import mutual_info_score

    codes, factors = check_codes_and_factors(codes, factors)
    binned = histogram_discretize(codes, n_bins)
    return np.array([[mutual_info_score(f, c) for f in factors.T] for c in binned.T])


def factor_entropies(factors):
    """H(factor j) in nats, each factor's mutual information with itself: (N, F) -> (F,)."""
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(f, f) for f in np.asarray(factors).T])


def mig_per_factor(codes, factors, n_bins=20):
    """Each factor's normalized gap (F,), the information matrix (K, F) and the entropies (F,)."""
    codes, factors = check_codes_and_factors(codes, factors)
    info = mutual_information(codes, factors, n_bins)
    entropy = factor_entropies(factors)
    if (entropy <= 0).any():
        raise ValueError("every factor must take at least two values (a constant factor has "
                         f"entropy 0); factors {np.flatnonzero(entropy <= 0).tolist()} do not")
    top = np.sort(info, axis=0)[::-1]
    return (top[0] - top[1]) / entropy, info, entropy


def varying(factors):
    """Which factors (columns) take more than one value: MIG is defined for those only."""
    return np.array([len(np.unique(f)) > 1 for f in np.asarray(factors).T])


def mig(codes, factors, n_bins=20):
    """The mutual information gap of posterior means ``codes`` (N, K) for ``factors`` (N, F), the
    factors' classes (integers; any numbers will do, each distinct value a class, as
    ``mutual_info_score`` takes them): a float in [0, 1] (see the module docstring)."""
    return float(mig_per_factor(codes, factors, n_bins)[0].mean())


def posterior_means(model, X, batch_size=1000):
    """mu(x) for every row of X, in batches: (N, D) -> (N, K)."""
    return np.concatenate([model.encode(X[start:start + batch_size])[0]
                           for start in range(0, len(X), batch_size)])


def _posteriors(model, X, random_state):
    """mu, logvar (N, K) of every row of X in float64, and one sample z of each."""
    rng = check_random_state(random_state)
    parts = [model.encode(X[start:start + 1000]) for start in range(0, len(X), 1000)]
    mu = np.concatenate([p[0] for p in parts]).astype(np.float64)
    logvar = np.concatenate([p[1] for p in parts]).astype(np.float64)
    return mu, logvar, mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape)


def whole_set_decomposition(model, X, random_state=0, memory=2**26):
    """The KL term's three parts on X itself, as Chen et al.'s ``elbo_decomposition``: q(z) is the
    mixture of every posterior of X, q(z) = 1/N sum_n q(z | x_n), and each x_n gives one sample
    z_n ~ q(z | x_n):
        mi   = mean_n [log q(z_n | x_n) - log q(z_n)]
        tc   = mean_n [log q(z_n) - sum_d log q(z_nd)]
        dwkl = mean_n [sum_d log q(z_nd) - log p(z_n)]
    with log q(z_n) = LSE_m sum_d log N(z_nd; mu_md, exp(logvar_md)) - log N, and likewise per d.
    The samples go in blocks of rows, so that about ``memory`` bytes suffice: O(N^2 K) time.
    The mutual information it can report is capped at log N: the mixture holds q(z_n | x_n) with
    weight 1/N, so log q(z_n) >= log q(z_n | x_n) - log N and each mi_n <= log N (8.44 nats for
    4,608 images). A code that tells the N images apart sits at the cap whatever it carries
    beyond that: near log N, compare models' MI on a larger X, or not at all.
    Returns a dict of floats: mi, tc, dwkl, their sum kl_sampled, and kl (closed form) in nats.
    """
    mu, logvar, z = _posteriors(model, model.check_input(X), random_state)
    n, k = mu.shape
    rows = max(1, memory // (3 * 8 * n * k))
    log_qz, log_prod = np.empty(n), np.empty(n)
    for start in range(0, n, rows):
        block = slice(start, start + rows)
        log_qz[block], log_qzd, _ = aggregate_posterior(z[block], mu, logvar, -math.log(n))
        log_prod[block] = log_qzd.sum(axis=1)
    log_qzx = log_normal(z, mu, logvar).sum(axis=1)
    log_pz = -0.5 * (LOG_2PI + z * z).sum(axis=1)
    kl = -0.5 * (1 + logvar - mu * mu - np.exp(logvar)).sum(axis=1)
    result = {"mi": log_qzx - log_qz, "tc": log_qz - log_prod, "dwkl": log_prod - log_pz}
    result["kl_sampled"] = log_qzx - log_pz
    result["kl"] = kl
    return {key: float(value.mean()) for key, value in result.items()}


def minibatch_decomposition(model, X, estimator, batch_size=128, random_state=0):
    """The minibatch estimates of the same three parts (``npvae.models.tcvae.kl_decomposition``, the
    training loss's), averaged over X in batches of ``batch_size`` in a fixed random order,
    with N = len(X) as the data set's size. Returns a dict of floats: mi, tc, dwkl."""
    mu, logvar, z = _posteriors(model, model.check_input(X), random_state)
    order = check_random_state(random_state).permutation(len(mu))
    sums = np.zeros(3)
    for start in range(0, len(mu), batch_size):
        rows = order[start:start + batch_size]
        parts = kl_decomposition(z[rows], mu[rows], logvar[rows], len(mu), estimator)
        sums += [p.sum() for p in parts]
    return dict(zip(("mi", "tc", "dwkl"), (float(s) / len(mu) for s in sums)))
