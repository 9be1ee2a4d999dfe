import math

import numpy as np
import pytest
from scipy.special import logsumexp

from npvae import TCVAE, fit
from npvae.data.catalog import load_digits_split
from npvae.models.tcvae import (_aggregate_backward, aggregate_posterior, kl_decomposition,
                                log_importance_weights)
from npvae.teaching.gradcheck import check_array, check_model, resolvable_floor
from npvae.training.parallel import CoupledParallel


def common_code_weights(B, N):
    """The MSS matrix as rtqichen/beta-tcvae's _log_importance_weight_matrix fills it (strides
    of M + 1 = B over the flattened matrix), before the log: for the README's comparison."""
    M = B - 1
    W = np.full((B, B), 1 / M)
    W.reshape(-1)[::M + 1] = 1 / N
    W.reshape(-1)[1::M + 1] = (N - M) / (N * M)
    W[M - 1, 0] = (N - M) / (N * M)
    return W


def test_the_mss_weights_are_the_papers():
    B, N = 5, 100
    M = B - 1
    W = np.exp(log_importance_weights(B, N, "mss"))
    for i in range(B):
        for j in range(B):
            expected = 1 / N if j == i else (N - M) / (N * M) if j == (i + 1) % B else 1 / M
            assert W[i, j] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(W.sum(axis=1), 1, rtol=1e-12)
    assert np.all(log_importance_weights(B, N, "mws") == -math.log(B * N))
    assert np.exp(log_importance_weights(1, N, "mss")) == pytest.approx(1 / N)


def test_the_common_codes_strides_miss_the_diagonal():
    B, N = 5, 100
    ours, theirs = np.exp(log_importance_weights(B, N, "mss")), common_code_weights(B, N)
    assert np.allclose(theirs[:, 0][[0, 1, 2, 4]], 1 / N)  # column 0, not the diagonal
    assert np.allclose(theirs[:, 1], (N - B + 1) / (N * (B - 1)))  # column 1
    assert theirs[B - 2].sum() != pytest.approx(1)  # row M - 1 does not sum to 1
    assert np.allclose(ours[0], theirs[0]) and not np.allclose(ours[1:], theirs[1:])


def loop_decomposition(z, mu, logvar, N, estimator):
    """Chen et al.'s formulas, one pair at a time (scipy's logsumexp)."""
    B, K = z.shape
    log_w = np.log(np.exp(log_importance_weights(B, N, estimator)))
    L = np.empty((B, B, K))
    for i in range(B):
        for j in range(B):
            var = np.exp(logvar[j])
            L[i, j] = -0.5 * (math.log(2 * math.pi) + logvar[j] + (z[i] - mu[j]) ** 2 / var)
    log_qz = np.array([logsumexp(log_w[i] + L[i].sum(axis=1)) for i in range(B)])
    log_prod = np.array([sum(logsumexp(log_w[i] + L[i, :, d]) for d in range(K))
                         for i in range(B)])
    log_qzx = np.array([L[i, i].sum() for i in range(B)])
    log_pz = -0.5 * (math.log(2 * math.pi) * K + (z * z).sum(axis=1))
    return log_qzx - log_qz, log_qz - log_prod, log_prod - log_pz


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_kl_decomposition_follows_the_formulas(rng, estimator):
    mu, logvar = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    z = mu + np.exp(logvar / 2) * rng.standard_normal((7, 3))
    ours = kl_decomposition(z, mu, logvar, 50, estimator)
    for a, b in zip(ours, loop_decomposition(z, mu, logvar, 50, estimator)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    kl_sampled = (-0.5 * (logvar + (z - mu) ** 2 / np.exp(logvar)) + 0.5 * z * z).sum(axis=1)
    np.testing.assert_allclose(sum(ours), kl_sampled, rtol=1e-12)  # the terms telescope


def test_the_pairwise_gradient_equals_finite_differences(rng):
    """z, mu and logvar as independent inputs, weights on log q(z_i) and every log q(z_id)."""
    z, mu, logvar = (rng.standard_normal((5, 3)) for _ in range(3))
    log_w = log_importance_weights(5, 20, "mss")
    a, b = rng.standard_normal(5), rng.standard_normal((5, 3))

    def f():
        log_qz, log_qzd, _ = aggregate_posterior(z, mu, logvar, log_w)
        return a @ log_qz + (b * log_qzd).sum()
    grads = dict(zip(("z", "mu", "logvar"),
                     _aggregate_backward(aggregate_posterior(z, mu, logvar, log_w)[2], a, b)))
    floor = resolvable_floor(f())
    for name, x in (("z", z), ("mu", mu), ("logvar", logvar)):
        assert check_array(name, f, x, grads[name], floor=floor).passed, name


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_the_whole_tcvae_gradient_equals_finite_differences(rng, estimator):
    model = TCVAE(10, (7,), 3, alpha=0.6, beta=5.0, gamma=2.0, estimator=estimator,
                  dataset_size=30, dtype=np.float64, random_state=0, activation="tanh")
    x, eps = rng.random((6, 10)), rng.standard_normal((6, 3))
    rows = check_model(model, x, eps)
    assert all(r.passed for r in rows), [(r.name, r.worst_error) for r in rows]


def test_with_alpha_beta_gamma_one_the_penalty_is_the_sampled_kl(rng):
    model = TCVAE(10, (7,), 3, alpha=1, beta=1, gamma=1, dataset_size=30, dtype=np.float64,
                  random_state=0)
    x, eps = rng.random((6, 10)), rng.standard_normal((6, 3))
    mu, logvar = model.encode(x)
    parts = model.loss(x, eps)
    kl_sampled = np.mean((-0.5 * (logvar + eps**2) + 0.5 * (mu + np.exp(logvar / 2) * eps) ** 2)
                         .sum(axis=1))
    assert parts.total - parts.reconstruction == pytest.approx(kl_sampled, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_the_engine_gives_the_whole_batchs_numbers(rng, n):
    """Stages 1 and 3 in two shares, the pairwise terms in two blocks of rows: the same loss and
    gradient as one pass on the whole batch (float64), labels included."""
    model = TCVAE(9, (8, 6), 3, beta=4.0, dataset_size=50, dtype=np.float64, random_state=0,
                  n_classes=3)
    x, eps, y = rng.random((n, 9)), rng.standard_normal((n, 3)), rng.integers(0, 3, n)
    whole = model.forward_backward(x, eps, y=y)
    expected = model.params.grad.copy()
    model.params.grad[...] = np.nan
    shared = CoupledParallel(model, cores=2).forward_backward(x, eps, y=y)
    np.testing.assert_allclose(model.params.grad, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(shared, whole, rtol=1e-12)


def test_fit_trains_a_tcvae_with_its_engine_and_resumes_bit_exactly(tmp_path, monkeypatch):
    data = load_digits_split()
    calls = []
    real = CoupledParallel.forward_backward
    monkeypatch.setattr(CoupledParallel, "forward_backward",
                        lambda self, *a: calls.append(1) or real(self, *a))

    def model(seed):
        return TCVAE(64, (32,), 4, dataset_size=len(data.X_train), estimator="mws",
                     random_state=seed)
    straight = model(3)
    h4 = fit(straight, data.X_train, epochs=4, batch_size=100, X_test=data.X_test)
    assert len(calls) == 4 * 15 and h4[-1]["test_loss"] < h4[0]["test_loss"]
    path = tmp_path / "checkpoint.npz"
    fit(model(3), data.X_train, epochs=2, batch_size=100, checkpoint_path=path)
    resumed = model(99)
    fit(resumed, data.X_train, epochs=4, batch_size=100, checkpoint_path=path, resume=True)
    assert np.array_equal(resumed.params.vector, straight.params.vector)
    with pytest.raises(ValueError, match="TCVAE trains with engine='fast'"):
        fit(model(0), data.X_train, epochs=1, engine="reference")


@pytest.mark.parametrize("kwargs, message", [
    (dict(estimator="iwae", dataset_size=10), "estimator must be one of"),
    (dict(dataset_size=None), "dataset_size must be given"),
    (dict(gamma=1e308, dataset_size=10), "gamma must be a number from 0 to 1,000,000"),
    (dict(beta=float("inf"), dataset_size=10), "beta must be a number from 0 to 1,000,000"),
    (dict(alpha=-1, dataset_size=10), "alpha must be a number from 0 to 1,000,000"),
])
def test_bad_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TCVAE(5, (4,), 2, **kwargs)


def test_a_batch_larger_than_the_data_set_is_refused(rng):
    model = TCVAE(5, (4,), 2, dataset_size=3, dtype=np.float64)
    with pytest.raises(ValueError, match="dataset_size must be at least the batch size 4"):
        model.loss(rng.random((4, 5)))
