import numpy as np
import pytest

from npvae import VAE, active_units, fit, iwae_nll, kl_per_dimension
from npvae.data.catalog import load_digits_split
from npvae.evaluation.elbo import (anomaly_scores, change_of_variables, evaluate,
                                   iwae_nll_per_example, predictive_moments)
from npvae.models.vae import reparameterize


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
    exact = -log_px_by_quadrature(one_dimensional, x).mean()  # -log p(x)
    bounds = {k: iwae_nll(one_dimensional, x, k=k, random_state=1) for k in (1, 10, 100, 3000)}
    assert bounds[1] > bounds[10] > bounds[100] > bounds[3000] > 0
    assert bounds[3000] >= exact - 0.02  # an upper bound, up to Monte-Carlo noise
    assert bounds[3000] - exact < 0.05, (exact, bounds)
    assert bounds[1] - exact > 0.1  # the ELBO is clearly looser: the test can tell them apart


def test_iwae_with_k_1_is_the_elbo_on_average(one_dimensional, digits):
    """Both are one-sample estimates of the same expectation (the ELBO with the KL in closed form,
    the bound with it sampled): their means over many draws agree within the noise."""
    x = digits.X_test[:50]
    elbos = [evaluate(one_dimensional, x, random_state=seed)["loss"] for seed in range(40)]
    bounds = [iwae_nll(one_dimensional, x, k=1, random_state=seed) for seed in range(40)]
    noise = np.sqrt(np.var(elbos) + np.var(bounds)) / np.sqrt(40)
    assert abs(np.mean(bounds) - np.mean(elbos)) < 4 * noise


def test_iwae_is_the_same_in_any_batching(one_dimensional, digits):
    x = digits.X_test[:30]
    a = iwae_nll(one_dimensional, x, k=50, batch_size=10_000, random_state=3)
    b = iwae_nll(one_dimensional, x, k=50, batch_size=100, random_state=3)
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
        iwae_nll(one_dimensional, digits.X_test[:3], k=0)


def test_iwae_per_example_averages_to_the_bound(one_dimensional, digits):
    x = digits.X_test[:30]
    per_example = iwae_nll_per_example(one_dimensional, x, k=20, batch_size=100, random_state=4)
    assert per_example.shape == (30,)
    assert per_example.mean() == iwae_nll(one_dimensional, x, k=20, batch_size=100,
                                          random_state=4)
    # each example's own bound, against its own -log p(x) by quadrature
    tight = iwae_nll_per_example(one_dimensional, x[:5].astype(np.float64), k=3000,
                                 random_state=1)
    exact = -log_px_by_quadrature(one_dimensional, x[:5].astype(np.float64))
    np.testing.assert_allclose(tight, exact, atol=0.1)  # Monte-Carlo noise about 0.05
    assert np.ptp(exact) > 1  # the examples differ by far more than that


def test_predictive_moments_merge_blocks_exactly(one_dimensional, digits):
    """One image, 50 draws: in one block or in blocks of 7 or 1 draws, the running merge gives
    the mean and standard deviation of the same 50 decoded images computed directly."""
    model, x = one_dimensional, digits.X_test[:1].astype(np.float64)
    mu, logvar = model.encode(x)
    eps = np.random.default_rng(5).standard_normal((50, 1, 1))  # the draws the function makes
    decoded = model.decode(reparameterize(mu, logvar, eps).reshape(50, 1))  # (50, D)
    for rows in (50, 7, 1):
        mean, sd = predictive_moments(model, x, 50, batch_size=rows, random_state=5)
        np.testing.assert_allclose(mean[0], decoded.mean(axis=0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(sd[0], decoded.std(axis=0, ddof=1), rtol=1e-10, atol=1e-15)


def test_predictive_moments_of_a_linear_decoder(rng):
    """With no hidden layers and a Gaussian likelihood the decoder is f(z) = z W + b, so over
    z ~ N(mu, diag(var)) its mean is mu W + b and its standard deviation sqrt(var @ W**2)."""
    model = VAE(12, (), 3, likelihood="gaussian", dtype=np.float64, random_state=0)
    model.params.values["logvar_head.b"][...] = [-1.0, 0.0, 0.5]
    x = rng.random((4, 12))
    mean, sd = predictive_moments(model, x, 4000, batch_size=1000, random_state=1)
    mu, logvar = model.encode(x)
    W, b = model.params.values["decoder.0.W"], model.params.values["decoder.0.b"]
    exact_sd = np.sqrt(np.exp(logvar) @ W**2)  # (4, 12)
    np.testing.assert_allclose(mean, mu @ W + b, atol=5 * exact_sd.max() / np.sqrt(4000))
    np.testing.assert_allclose(sd, exact_sd, rtol=0.05)  # Monte-Carlo error about 1.1%


def test_predictive_moments_keep_float32_and_refuse_one_sample(digits):
    model = VAE(64, (16,), 2, random_state=0)
    mean, sd = predictive_moments(model, digits.X_test[:5], 10)
    assert mean.dtype == sd.dtype == np.float32 and mean.shape == sd.shape == (5, 64)
    assert np.all((mean >= 0) & (mean <= 1)) and np.all((sd >= 0) & (sd <= 0.5))
    with pytest.raises(ValueError, match="n_samples must be an integer >= 2; got 1"):
        predictive_moments(model, digits.X_test[:5], 1)


def test_every_evaluation_is_seeded_and_positive(one_dimensional, digits):
    """Reruns give the same numbers without a seed being passed, and every loss is a positive
    number of nats (the negative ELBO, the bound on -log p(x), the model's loss)."""
    model, x = one_dimensional, digits.X_test[:40]
    for measure in (lambda: evaluate(model, x)["loss"], lambda: iwae_nll(model, x, k=7),
                    lambda: model.loss(x).total,
                    lambda: predictive_moments(model, x[:3], n_samples=4)[1].sum()):
        first = measure()
        assert measure() == first and first > 0
    assert model.loss(x).total == pytest.approx(evaluate(model, x, batch_size=40)["loss"])
    assert model.loss(x, random_state=None) != model.loss(x, random_state=None)  # the model's rng


def test_the_change_of_variables_is_the_log_of_the_scales():
    """-log p(x) = -log p'(x') + sum_d log s_d for x' = x / s: checked on a Gaussian."""
    rng = np.random.default_rng(0)
    scale = np.array([0.5, 2.0, 10.0])
    x = rng.standard_normal((5, 3)) * scale
    nll_x = 0.5 * ((x / scale) ** 2 + np.log(2 * np.pi * scale**2)).sum(axis=1)  # N(0, s^2)
    nll_standardised = 0.5 * ((x / scale) ** 2 + np.log(2 * np.pi)).sum(axis=1)  # N(0, 1)
    np.testing.assert_allclose(nll_x, nll_standardised + change_of_variables(scale))
    with pytest.raises(ValueError, match="scale must be"):
        change_of_variables([1.0, 0.0])
