import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from npvae.models.vae import reparameterize, reparameterize_backward
from npvae.nn.losses import BernoulliNLL, GaussianNLL, kl_normal
from npvae.teaching.gradcheck import numerical_gradient, rel_error


def test_kl_is_zero_at_the_prior():
    kl, dmu, dlogvar = kl_normal(np.zeros((3, 4)), np.zeros((3, 4)))
    assert np.array_equal(kl, np.zeros(3))
    assert np.array_equal(dmu, np.zeros((3, 4))) and np.array_equal(dlogvar, np.zeros((3, 4)))


finite = st.floats(-20, 20, allow_nan=False)


@settings(deadline=None, max_examples=50)
@given(mu=arrays(np.float64, (2, 3), elements=finite),
       logvar=arrays(np.float64, (2, 3), elements=finite))
def test_kl_is_never_negative(mu, logvar):
    kl, _, _ = kl_normal(mu, logvar)
    assert np.all(kl >= 0)


def test_kl_agrees_with_a_monte_carlo_estimate(rng):
    """KL = E_q[log q(z) - log p(z)], estimated from a million samples of q."""
    mu, logvar = np.array([[0.5, -1.0]]), np.array([[-0.7, 0.4]])
    z = reparameterize(mu, logvar, rng.standard_normal((1_000_000, 2)))
    log_q = -0.5 * (logvar + (z - mu) ** 2 / np.exp(logvar) + np.log(2 * np.pi))
    log_p = -0.5 * (z**2 + np.log(2 * np.pi))
    samples = (log_q - log_p).sum(axis=1)
    kl, _, _ = kl_normal(mu, logvar)
    assert abs(samples.mean() - kl[0]) < 4 * samples.std() / np.sqrt(len(samples))


def test_kl_gradients_match_finite_differences(rng):
    mu, logvar = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _, dmu, dlogvar = kl_normal(mu, logvar)
    f = lambda: kl_normal(mu, logvar)[0].sum()  # noqa: E731
    assert rel_error(dmu, numerical_gradient(f, mu)).max() < 1e-8
    assert rel_error(dlogvar, numerical_gradient(f, logvar)).max() < 1e-8


def test_z_has_mean_mu_and_variance_exp_logvar(rng):
    """Catches the classic mix-up: exp(logvar) used as the standard deviation."""
    mu, logvar = np.array([1.5, -2.0]), np.array([1.2, -1.6])
    z = reparameterize(mu, logvar, rng.standard_normal((400_000, 2)))
    np.testing.assert_allclose(z.mean(axis=0), mu, atol=0.01)
    np.testing.assert_allclose(z.var(axis=0), np.exp(logvar), rtol=0.01)


def test_reparameterization_gradients_match_finite_differences(rng):
    mu, logvar = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    eps, dz = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    dmu, dlogvar = reparameterize_backward(dz, logvar, eps)
    f = lambda: np.sum(reparameterize(mu, logvar, eps) * dz)  # noqa: E731
    assert rel_error(dmu, numerical_gradient(f, mu)).max() < 1e-8
    assert rel_error(dlogvar, numerical_gradient(f, logvar)).max() < 1e-8


def bernoulli_nll(logits, x):
    """Value and gradient of the summed loss, through the layer interface."""
    loss = BernoulliNLL()
    return loss.forward(logits, x).copy(), loss.backward(1.0).copy()


def reference_bce(logits, x):
    """log(1 + exp(l)) - x l with numpy's own stable logaddexp, as an independent reference."""
    return (np.logaddexp(0, logits) - x * logits).sum(axis=1)


def test_bernoulli_nll_is_finite_and_exact_at_extreme_logits():
    logits = np.array([[-1e4, -100.0, -17.0, 0.0, 17.0, 100.0, 1e4]] * 3)
    x = np.array([[0.0] * 7, [1.0] * 7, [0.3] * 7])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for dtype in (np.float32, np.float64):
            nll, grad = bernoulli_nll(logits.astype(dtype), x.astype(dtype))
            assert nll.dtype == dtype and grad.dtype == dtype
            np.testing.assert_allclose(nll, reference_bce(logits, x), rtol=1e-6)
            p = 1 / (1 + np.exp(-np.clip(logits, -700, 700)))
            np.testing.assert_allclose(grad, p - x, atol=1e-7)


def test_bernoulli_nll_of_a_certain_correct_prediction_is_zero():
    nll, _ = bernoulli_nll(np.array([[1e4, -1e4]]), np.array([[1.0, 0.0]]))
    assert nll[0] == 0.0


def test_bernoulli_nll_matches_the_reference_in_float64(rng):
    logits, x = rng.standard_normal((6, 9)) * 6, rng.random((6, 9))
    np.testing.assert_allclose(bernoulli_nll(logits, x)[0], reference_bce(logits, x), rtol=1e-14)


@pytest.mark.parametrize("loss", [BernoulliNLL(), GaussianNLL(std=0.7)])
def test_likelihood_gradients_match_finite_differences(rng, loss):
    x, out = rng.random((3, 5)), rng.standard_normal((3, 5)) * 3
    dnll = rng.standard_normal(3)  # a different weight for each example's loss
    loss.forward(out, x)
    grad = loss.backward(dnll).copy()
    numerical = numerical_gradient(lambda: np.dot(loss.forward(out, x), dnll), out)
    assert rel_error(grad, numerical).max() < 1e-8


def test_likelihood_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        BernoulliNLL().backward(1.0)


def test_gaussian_nll_is_the_normal_log_density():
    mean, x, std = np.array([[0.2, -1.0]]), np.array([[0.5, 0.5]]), 0.3
    expected = -np.sum(-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(GaussianNLL(std).forward(mean, x), [expected], rtol=1e-14)
