"""The ELBO at posterior parameters given (npvae.models.posterior.elbo_at): its gradient with
respect to mu and logvar against central differences in float64, and its agreement with the
model's own loss at the encoder's posterior."""

import numpy as np
import pytest

from npvae import TCVAE, VAE
from npvae.teaching.gradcheck import numerical_gradient, rel_error


def problem(rng, model, n=5):
    x = rng.random((n, model.input_dim))
    y = rng.integers(0, model.n_classes, n) if model.n_classes else None
    mu, logvar, eps = (rng.standard_normal((n, model.latent_dim)) for _ in range(3))
    return x, y, mu, logvar, eps


@pytest.mark.parametrize("options", [dict(), dict(likelihood="gaussian"), dict(n_classes=3),
                                     dict(activation="tanh"), dict(hidden_dims=())])
def test_the_gradient_for_mu_and_logvar_matches_central_differences(rng, options):
    model = VAE(12, **{"hidden_dims": (9,), **options}, latent_dim=3, dtype=np.float64,
                random_state=0)
    x, y, mu, logvar, eps = problem(rng, model)
    _, dmu, dlogvar = model.elbo_at(x, mu, logvar, eps, y)
    f = lambda: model.elbo_at(x, mu, logvar, eps, y)[0].sum()  # noqa: E731
    assert rel_error(dmu, numerical_gradient(f, mu)).max() < 1e-6
    assert rel_error(dlogvar, numerical_gradient(f, logvar)).max() < 1e-6
    logvar[0, 0] = 35.0  # above the cap: no gradient there
    assert model.elbo_at(x, mu, logvar, eps, y)[2][0, 0] == 0


def test_each_images_elbo_depends_on_its_own_row_alone(rng):
    model = VAE(12, (9,), 3, dtype=np.float64, random_state=0)
    x, _, mu, logvar, eps = problem(rng, model)
    elbo = model.elbo_at(x, mu, logvar, eps)[0]
    mu[1] += 1.0
    changed = model.elbo_at(x, mu, logvar, eps)[0] != elbo
    assert changed.tolist() == [False, True, False, False, False]


@pytest.mark.parametrize("cls", [VAE, TCVAE])
def test_at_the_encoders_posterior_it_is_minus_the_models_loss(rng, cls):
    options = {"dataset_size": 5} if cls is TCVAE else {"n_classes": 2}
    model = cls(12, (9,), 3, dtype=np.float64, random_state=0, **options)
    x, y, _, _, eps = problem(rng, model)
    mu, logvar = model.encode(x, y)
    rec, kl = model.per_example_loss(x, eps, y)
    np.testing.assert_allclose(model.elbo_at(x, mu, logvar, eps, y)[0], -(rec + kl),
                               rtol=1e-12)


def test_it_leaves_the_models_parameters_and_gradients_alone(rng):
    model = VAE(12, (9,), 3, likelihood="gaussian", random_state=0)
    model.params.grad[...] = 7.0
    before = model.params.vector.copy()
    x, _, mu, logvar, eps = problem(rng, model)
    model.elbo_at(x, mu, logvar, eps)
    assert (model.params.grad == 7.0).all() and np.array_equal(model.params.vector, before)


def test_float32_stays_float32(rng):
    model = VAE(12, (9,), 3, random_state=0)
    x, _, mu, logvar, eps = problem(rng, model)
    assert {a.dtype for a in model.elbo_at(x, mu, logvar, eps)} == {np.dtype(np.float32)}


@pytest.mark.parametrize("change, message", [
    (lambda a: a[:, :2], r"mu must have shape \(5, 3\)"),
    (lambda a: np.where(a > 0, np.nan, a), "mu must hold finite numbers"),
])
def test_bad_posterior_arrays_are_one_clear_error(rng, change, message):
    model = VAE(12, (9,), 3, random_state=0)
    x, _, mu, logvar, eps = problem(rng, model)
    with pytest.raises(ValueError, match=message):
        model.elbo_at(x, change(mu), logvar, eps)
