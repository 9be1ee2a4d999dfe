"""Likelihood Regret: fitting each image's posterior raises its ELBO, the score is reproducible,
and it tells images unlike the training data from the test set."""

import numpy as np
import pytest

from npvae import TCVAE, VAE, FactorVAE, fit
from npvae.data.catalog import load_digits_split
from npvae.evaluation.ood import detection_metrics
from npvae.evaluation.regret import fitted_posterior, likelihood_regret, mean_elbo


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.fixture(scope="module")
def model(digits):
    model = VAE(64, (32,), 4, random_state=0)
    fit(model, digits.X_train, epochs=10)
    return model


def test_fitting_the_posterior_raises_every_images_elbo(model, digits):
    x = digits.X_test[:40]
    rng = np.random.default_rng(0)
    eps = rng.standard_normal((256, len(x), model.latent_dim), dtype=np.float32)
    mu, logvar = model.encode(x)
    before = mean_elbo(model, x, mu, logvar, eps)
    mu, logvar = fitted_posterior(model, x, mu, logvar, steps=100, lr=0.02, rng=rng)
    assert mu.dtype == logvar.dtype == np.float32  # a float32 model's posterior stays float32
    assert (mean_elbo(model, x, mu, logvar, eps) > before).all()


def test_the_same_seed_gives_the_same_scores(model, digits):
    x = digits.X_test[:30]
    first = likelihood_regret(model, x, batch_size=7, random_state=3)
    assert np.array_equal(first, likelihood_regret(model, x, batch_size=7, random_state=3))
    assert not np.array_equal(first, likelihood_regret(model, x, batch_size=7, random_state=4))


def test_inverted_digits_get_a_higher_regret_than_the_test_set(model, digits):
    x = digits.X_test[:100]
    scores = [likelihood_regret(model, images, steps=20) for images in (x, 1 - x)]
    assert detection_metrics(*scores)["auroc"] > 0.95


@pytest.mark.parametrize("cls, options", [(TCVAE, {"dataset_size": 50}), (FactorVAE, {}),
                                          (VAE, {"n_classes": 10})])
def test_every_kind_of_model_gets_a_score(digits, cls, options):
    model = cls(64, (16,), 3, random_state=0, **options)
    y = digits.y_test[:20] if options.get("n_classes") else None
    regret = likelihood_regret(model, digits.X_test[:20], y=y, steps=5)
    assert regret.shape == (20,) and np.isfinite(regret).all()


@pytest.mark.parametrize("options, message", [
    (dict(steps=0), "steps must be a positive integer"),
    (dict(lr=-1.0), "lr must be a finite number > 0"),
    (dict(draws=1.5), "draws must be a positive integer"),
    (dict(eval_draws=0), "eval_draws must be a positive integer"),
])
def test_bad_arguments_are_one_clear_error(model, digits, options, message):
    with pytest.raises(ValueError, match=message):
        likelihood_regret(model, digits.X_test[:5], **options)
