"""npvae.reference, the plain specification: checked against finite differences, and the fast
library held to it number by number."""

import numpy as np
import pytest

from npvae import VAE, Adam, reference
from npvae.teaching.checks import away_from_kink
from npvae.teaching.gradcheck import numerical_gradient, rel_error


def model_and_params(hidden_dims, rng, dtype=np.float64, beta=1.0):
    """A VAE with nonzero biases (no pre-activation exactly at a ReLU kink), and its parameters
    as the plain dict reference.py takes (copies)."""
    model = VAE(9, hidden_dims, 3, beta=beta, dtype=dtype, random_state=0)
    for _, value in model.named_parameters():
        value += 0.05 * rng.standard_normal(value.shape).astype(dtype)
    return model, {name: value.copy() for name, value in model.named_parameters()}


@pytest.mark.parametrize("hidden_dims", [(7, 5), (6,), ()])
def test_init_params_draws_what_the_vae_draws(hidden_dims):
    model = VAE(9, hidden_dims, 3, dtype=np.float64, random_state=4)
    params = reference.init_params(9, hidden_dims, 3, random_state=4)
    assert list(params) == [name for name, _ in model.named_parameters()]
    for name, value in model.named_parameters():
        assert params[name].dtype == np.float64 and np.array_equal(params[name], value), name
    assert reference.init_params(9, (7,), 3, dtype=np.float32)["encoder.0.W"].dtype == np.float32


@pytest.mark.parametrize("hidden_dims", [(7, 5), ()])
def test_the_reference_gradient_matches_finite_differences(hidden_dims, rng):
    _, params = model_and_params(hidden_dims, rng)
    x, eps = rng.random((6, 9)), rng.standard_normal((6, 3))
    _, grads = reference.loss_and_grads(params, x, eps, beta=0.7)
    for name, value in params.items():
        numerical = numerical_gradient(lambda: reference.loss_and_grads(params, x, eps, 0.7)[0],
                                       value)
        assert rel_error(grads[name], numerical, floor=1e-6).max() < 1e-6, name


@pytest.mark.parametrize("hidden_dims, beta", [((16, 12), 1.0), ((16, 12), 0.5), ((8,), 2.0),
                                               ((), 1.0)])
def test_the_library_equals_the_reference_to_1e_10(hidden_dims, beta, rng):
    model, params = model_and_params(hidden_dims, rng, beta=beta)
    x, eps = rng.random((11, 9)), rng.standard_normal((11, 3))
    loss, grads = model.loss_and_grads(x, eps)
    expected_loss, expected = reference.loss_and_grads(params, x, eps, beta)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert list(grads) == list(expected)
    for name in expected:
        err = np.abs(grads[name] - expected[name]).max() / np.abs(expected[name]).max()
        assert err < 1e-10, name


def test_the_log_variance_cap_is_the_same_in_both(rng):
    model, params = model_and_params((8,), rng)
    model.params.values["logvar_head.b"][0] = params["logvar_head.b"][0] = 40.0  # above the cap
    x, eps = rng.random((5, 9)), rng.standard_normal((5, 3))
    _, grads = model.loss_and_grads(x, eps)
    _, expected = reference.loss_and_grads(params, x, eps)
    assert expected["logvar_head.b"][0] == 0.0 and grads["logvar_head.b"][0] == 0.0
    np.testing.assert_allclose(grads["logvar_head.W"], expected["logvar_head.W"], rtol=1e-10)


def test_the_reference_is_finite_at_extreme_logits():
    params = reference.init_params(4, (), 1, random_state=0)
    params["decoder.0.b"][...] = [1000.0, -1000.0, 1000.0, -1000.0]
    x = np.array([[1.0, 0.0, 0.25, 0.75]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # underflow to 0 is fine
        cache = reference.forward(params, x, np.zeros((1, 1)))
        grads = reference.backward(params, cache)
    logits = cache["logits"][0]
    np.testing.assert_allclose(cache["rec"][0], np.sum(np.maximum(logits, 0) - x[0] * logits),
                               rtol=1e-12)
    assert all(np.isfinite(g).all() for g in grads.values())


def test_the_sample_has_variance_exp_logvar(rng):
    """z = mu + exp(logvar / 2) * eps: mean mu and variance exp(logvar), not exp(logvar)^2 (the
    classic mix-up of the standard deviation with the variance)."""
    params = reference.init_params(2, (), 3, random_state=0)
    params["mu_head.b"][...] = [1.0, -2.0, 0.5]
    params["logvar_head.b"][...] = [-1.0, 0.0, 1.5]
    x, eps = np.zeros((200_000, 2)), rng.standard_normal((200_000, 3))
    z = reference.forward(params, x, eps)["z"]
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0, 0.5], atol=0.02)
    np.testing.assert_allclose(z.var(axis=0), np.exp([-1.0, 0.0, 1.5]), rtol=0.02)


def test_adam_equals_the_reference_step_to_1e_12(rng):
    model = VAE(9, (8,), 3, dtype=np.float64, random_state=0)
    opt = Adam(model.params, lr=0.01, betas=(0.8, 0.99), eps=1e-8)
    params = {name: value.copy() for name, value in model.named_parameters()}
    state = None
    for _ in range(5):
        grads = {name: rng.standard_normal(value.shape) * 10.0 ** rng.integers(-9, 1)
                 for name, value in params.items()}
        for name, g in grads.items():
            model.params.grads[name][...] = g
        opt.step()
        params, state = reference.adam_step(params, grads, state, lr=0.01, betas=(0.8, 0.99))
        for name, value in model.named_parameters():
            np.testing.assert_allclose(value, params[name], rtol=1e-12, atol=1e-15)
    assert state["t"] == 5


def test_adam_step_changes_nothing_it_is_given():
    params = {"w": np.array([1.0, -2.0])}
    grads = {"w": np.array([0.5, -1.0])}
    new, state = reference.adam_step(params, grads, None, lr=0.1)
    # t = 1: m_hat = g and v_hat = g^2, so the first step is lr * sign(g) (up to eps)
    np.testing.assert_allclose(new["w"], [0.9, -1.9], rtol=1e-7)
    assert params["w"].tolist() == [1.0, -2.0] and grads["w"].tolist() == [0.5, -1.0]
    again, _ = reference.adam_step(new, grads, state, lr=0.1)
    assert state["t"] == 1 and new["w"][0] == pytest.approx(0.9, rel=1e-7)  # state untouched


def test_float32_training_follows_the_reference_to_round_off():
    """Twenty Adam steps of npvae in float32 against the reference in float64 from the same start
    and noise: the losses agree to float32 round-off, not just in distribution."""
    rng = np.random.default_rng(0)
    X = rng.random((20 * 32, 30)).astype(np.float32)
    model = VAE(30, (16, 12), 4, dtype=np.float32, random_state=0)
    opt = Adam(model.params)
    params = {name: value.astype(np.float64) for name, value in model.named_parameters()}
    state = None
    for t in range(1, 21):
        x, eps = X[(t - 1) * 32:t * 32], rng.standard_normal((32, 4)).astype(np.float32)
        fast = model.forward_backward(x, eps).total
        opt.step()
        slow, grads = reference.loss_and_grads(params, x.astype(np.float64),
                                               eps.astype(np.float64))
        params, state = reference.adam_step(params, grads, state)
        assert fast == pytest.approx(slow, rel=1e-5), t
    for name, value in model.named_parameters():
        assert np.abs(value - params[name]).max() < 1e-4, name


def test_the_reference_keeps_float32(rng):
    params = reference.init_params(9, (8,), 3, random_state=0, dtype=np.float32)
    x = rng.random((4, 9)).astype(np.float32)
    eps = away_from_kink(rng, (4, 3)).astype(np.float32)
    _, grads = reference.loss_and_grads(params, x, eps)
    new, _ = reference.adam_step(params, grads)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in new.values())
