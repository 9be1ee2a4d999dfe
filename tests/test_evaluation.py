import numpy as np
import pytest

from npvae import VAE, active_units, fit, iwae_bound, kl_per_dimension
from npvae.data import load_digits_split
from npvae.evaluation import anomaly_scores, evaluate


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.fixture(scope="module")
def one_dimensional(digits):
    """A model with a 1-D latent space, trained a little, in float64."""
    model = VAE(64, (32,), 1, dtype=np.float64, random_state=0)
    fit(model, digits.X_train, epochs=5, batch_size=64)
    return model


def log_px_by_quadrature(model, x, grid=np.linspace(-12, 12, 24001)):
    """log p(x) = log integral p(x | z) N(z; 0, 1) dz on a fine grid (rectangle rule), (N,)."""
    z = grid[:, None]  # (G, 1)
    dz = grid[1] - grid[0]
    log_prior = -0.5 * (grid**2 + np.log(2 * np.pi))  # (G,)
    out = []
    for row in x:
        log_px_z = -model.nll.forward(model._decode(z), np.broadcast_to(row, (len(grid), 64)))
        terms = log_px_z + log_prior
        out.append(terms.max() + np.log(np.exp(terms - terms.max()).sum() * dz))
    return np.array(out)


def test_iwae_converges_to_log_px_from_quadrature(one_dimensional, digits):
    x = digits.X_test[:20].astype(np.float64)
    exact = log_px_by_quadrature(one_dimensional, x).mean()
    bounds = {k: iwae_bound(one_dimensional, x, k=k, random_state=1) for k in (1, 10, 100, 3000)}
    assert bounds[1] < bounds[10] < bounds[100] < bounds[3000]
    assert bounds[3000] <= exact + 0.02  # a lower bound, up to Monte-Carlo noise
    assert exact - bounds[3000] < 0.05, (exact, bounds)
    assert exact - bounds[1] > 0.1  # the ELBO is clearly looser: the test can tell them apart


def test_iwae_with_k_1_is_the_elbo_on_average(one_dimensional, digits):
    """Both are one-sample estimates of the same expectation (the ELBO with the KL in closed form,
    the bound with it sampled): their means over many draws agree within the noise."""
    x = digits.X_test[:50]
    elbos = [-evaluate(one_dimensional, x, random_state=seed)["loss"] for seed in range(40)]
    bounds = [iwae_bound(one_dimensional, x, k=1, random_state=seed) for seed in range(40)]
    noise = np.sqrt(np.var(elbos) + np.var(bounds)) / np.sqrt(40)
    assert abs(np.mean(bounds) - np.mean(elbos)) < 4 * noise


def test_iwae_is_the_same_in_any_batching(one_dimensional, digits):
    x = digits.X_test[:30]
    a = iwae_bound(one_dimensional, x, k=50, batch_size=10_000, random_state=3)
    b = iwae_bound(one_dimensional, x, k=50, batch_size=100, random_state=3)
    assert np.isfinite(a) and abs(a - b) < 0.3  # different draws, same quantity


def test_kl_per_dimension_sums_to_the_kl_and_active_units(digits):
    model = VAE(64, (32,), 6, random_state=0)
    fit(model, digits.X_train, epochs=8, batch_size=64)
    per_dim = kl_per_dimension(model, digits.X_test)
    assert per_dim.shape == (6,) and np.all(per_dim >= 0)
    assert per_dim.sum() == pytest.approx(evaluate(model, digits.X_test)["kl"], rel=1e-5)
    count, variances = active_units(model, digits.X_test)
    assert count == int((variances > 0.01).sum()) and 1 <= count <= 6
    # a collapsed unit (mu = 0, logvar = 0 for every x) carries no KL and is inactive
    for name in ("W", "b"):
        model.params.values[f"mu_head.{name}"][..., 0] = 0
        model.params.values[f"logvar_head.{name}"][..., 0] = 0
    assert kl_per_dimension(model, digits.X_test)[0] == 0
    assert active_units(model, digits.X_test)[1][0] == 0


def test_anomaly_scores_rank_noise_above_digits(digits):
    model = VAE(64, (32,), 4, random_state=0)
    fit(model, digits.X_train, epochs=8, batch_size=64)
    noise = np.random.default_rng(0).random((50, 64)).astype(np.float32)
    elbo_digits, err_digits = anomaly_scores(model, digits.X_test[:50])
    elbo_noise, err_noise = anomaly_scores(model, noise)
    assert elbo_noise.min() > np.median(elbo_digits) and err_noise.mean() > err_digits.mean()


def test_bad_k_is_refused(one_dimensional, digits):
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        iwae_bound(one_dimensional, digits.X_test[:3], k=0)
