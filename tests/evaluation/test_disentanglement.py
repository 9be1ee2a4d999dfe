import math

import numpy as np
import pytest
import sklearn.metrics

from npvae import TCVAE, VAE, fit
from npvae.data.catalog import load_digits_split
from npvae.evaluation.disentanglement import (mig, minibatch_decomposition, mutual_information,
                                              whole_set_decomposition)
from npvae.models.tcvae import log_normal


def disentanglement_lib_mig(mus_train, ys_train, num_bins=20):
    """disentanglement_lib's compute_mig after it has its codes, transcribed: codes and factors
    as (n_codes, n_points) and (n_factors, n_points), histogram_discretizer, discrete_mutual_info,
    discrete_entropy, the sorted gap."""
    discretized = np.zeros_like(mus_train)
    for i in range(mus_train.shape[0]):
        discretized[i, :] = np.digitize(mus_train[i, :],
                                        np.histogram(mus_train[i, :], num_bins)[1][:-1])
    m = np.zeros([discretized.shape[0], ys_train.shape[0]])
    for i in range(discretized.shape[0]):
        for j in range(ys_train.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys_train[j, :], discretized[i, :])
    entropy = np.array([sklearn.metrics.mutual_info_score(y, y) for y in ys_train])
    sorted_m = np.sort(m, axis=0)[::-1]
    return np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], entropy[:]))


@pytest.mark.filterwarnings("ignore:Clustering metrics expects discrete values")  # its floats
@pytest.mark.parametrize("n_bins", [20, 7])
def test_mig_is_disentanglement_libs(rng, n_bins):
    factors = np.stack([rng.integers(0, 3, 500), rng.integers(0, 10, 500),
                        rng.integers(0, 6, 500)], axis=1)
    codes = np.column_stack([factors[:, 1] + 0.3 * rng.standard_normal(500),
                             rng.standard_normal(500), factors[:, 0] - factors[:, 2]
                             + rng.standard_normal(500), rng.exponential(size=500)])
    expected = disentanglement_lib_mig(codes.T, factors.T, n_bins)
    assert mig(codes, factors, n_bins) == pytest.approx(expected, rel=1e-12)
    assert mig(codes, factors * 0.5, n_bins) == pytest.approx(expected, rel=1e-12)  # as labels
    assert 0.1 < expected < 1


def test_a_code_per_factor_scores_one_and_a_rotation_less(rng):
    factors = rng.integers(0, 20, (4000, 2))
    assert mig(factors.astype(float), factors) > 0.95  # 1 but for the other's chance overlap
    rotated = factors @ np.array([[1.0, 1.0], [-1.0, 1.0]])
    assert mig(rotated, factors) < 0.5
    constant = np.column_stack([factors[:, 0], np.zeros(4000)])  # a dead code carries nothing
    np.testing.assert_allclose(mutual_information(constant, factors)[1], 0, atol=1e-12)


@pytest.mark.parametrize("codes, factors, message", [
    (np.zeros((5, 1)), np.zeros((5, 1), int), "at least 2 codes"),
    (np.zeros((5, 2)), np.zeros((4, 1), int), "with the 5 rows"),
    (np.zeros((5, 2)), np.full((5, 1), np.nan), "factors must hold finite numbers"),
    (np.zeros((5, 2)), np.zeros((5, 1), int), "at least two values"),
])
def test_bad_input_is_one_clear_error(codes, factors, message):
    with pytest.raises(ValueError, match=message):
        mig(codes, factors)


@pytest.fixture(scope="module")
def trained():
    data = load_digits_split()
    model = VAE(64, (32,), 4, dtype=np.float64, random_state=0)
    fit(model, data.X_train.astype(np.float64), epochs=6, batch_size=64)
    return model, data.X_test.astype(np.float64)


def test_the_whole_set_decomposition_follows_its_definition(trained):
    """Against the formulas with every posterior of the set, written plainly (N = 60)."""
    model, X = trained
    X = X[:60]
    result = whole_set_decomposition(model, X, random_state=1, memory=10_000)  # many blocks
    rng = np.random.default_rng(1)
    mu, logvar = model.encode(X)
    z = mu + np.exp(logvar / 2) * rng.standard_normal(mu.shape)
    L = log_normal(z[:, None, :], mu[None], logvar[None])  # (N, N, K)
    log_qz = np.log(np.exp(L.sum(axis=2)).mean(axis=1))
    log_prod = np.log(np.exp(L).mean(axis=1)).sum(axis=1)
    log_qzx = log_normal(z, mu, logvar).sum(axis=1)
    log_pz = log_normal(z, 0, 0).sum(axis=1)
    assert result["mi"] == pytest.approx(np.mean(log_qzx - log_qz), rel=1e-10)
    assert result["tc"] == pytest.approx(np.mean(log_qz - log_prod), rel=1e-10)
    assert result["dwkl"] == pytest.approx(np.mean(log_prod - log_pz), rel=1e-10)


def test_the_whole_set_mutual_information_is_capped_at_log_n(trained):
    """Posteriors far narrower than the gaps between them: every z_n is explained by its own
    image alone, and the estimate sits at log N however much information the code carries."""
    model, X = trained
    narrow = VAE(**model.config(), random_state=0)
    narrow.params.vector[...] = model.params.vector
    narrow.params.values["logvar_head.b"][...] = -40.0  # std e^-20 around each mean
    for n in (30, 200):
        result = whole_set_decomposition(narrow, X[:n], random_state=0)
        assert result["mi"] == pytest.approx(math.log(n), rel=1e-9)
    assert whole_set_decomposition(model, X[:200])["mi"] < math.log(200)


def test_minibatch_estimates_beside_the_whole_set(trained):
    """The honest check. MSS estimates q(z) itself. MWS's 1 / (B N) makes each marginal q(z_d),
    an average over the batch divided by N again, about N times too small, and the joint q(z)
    between B and N times too small (B when each z_i lies in its own posterior alone, N when
    the posteriors overlap as much as the marginals). All three telescope to the sampled KL."""
    model, X = trained
    n, k, b = len(X), model.latent_dim, 128
    whole = whole_set_decomposition(model, X)
    mss, mws = (minibatch_decomposition(model, X, e, batch_size=b) for e in ("mss", "mws"))
    for parts in (mss, mws):
        assert sum(parts.values()) == pytest.approx(whole["kl_sampled"], rel=1e-9)
    assert abs(mss["mi"] - whole["mi"]) < 0.5 and abs(mss["tc"] - whole["tc"]) < 0.5
    assert mws["dwkl"] - whole["dwkl"] == pytest.approx(-k * math.log(n), abs=1.0)
    assert math.log(b) - 1 < mws["mi"] - whole["mi"] < math.log(n) + 1


def test_evaluating_a_tcvae_needs_no_dataset_size_beyond_the_set(trained):
    model, X = trained
    tc = TCVAE(64, (32,), 4, dataset_size=10, dtype=np.float64, random_state=0)
    tc.params.vector[...] = model.params.vector
    assert whole_set_decomposition(tc, X) == whole_set_decomposition(model, X)
