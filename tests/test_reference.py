"""npvae against a plain, independent NumPy implementation of the same model, written here with
no work arrays, no in-place tricks and no threads: the "plain version" the fast code replaced."""

import numpy as np
import pytest

from npvae import VAE, Adam


def plain_loss_and_grads(params, x, eps, beta):
    """The same VAE (ReLU, Bernoulli, logvar capped at 30), forward and backward spelled out."""
    p = {name: value.astype(np.float64) for name, value in params.items()}
    x, eps, n = x.astype(np.float64), eps.astype(np.float64), len(x)
    a1 = x @ p["encoder.0.W"] + p["encoder.0.b"]
    h1 = np.maximum(a1, 0)
    a2 = h1 @ p["encoder.2.W"] + p["encoder.2.b"]
    h2 = np.maximum(a2, 0)
    mu = h2 @ p["mu_head.W"] + p["mu_head.b"]
    logvar_raw = h2 @ p["logvar_head.W"] + p["logvar_head.b"]
    logvar = np.minimum(logvar_raw, 30.0)
    std = np.exp(0.5 * logvar)
    z = mu + std * eps
    b1 = z @ p["decoder.0.W"] + p["decoder.0.b"]
    g1 = np.maximum(b1, 0)
    b2 = g1 @ p["decoder.2.W"] + p["decoder.2.b"]
    g2 = np.maximum(b2, 0)
    logits = g2 @ p["decoder.4.W"] + p["decoder.4.b"]
    rec = np.sum(np.logaddexp(0, logits) - x * logits, axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1 - logvar, axis=1)
    loss = np.mean(rec + beta * kl)

    grads = {}
    dlogits = (1 / (1 + np.exp(-logits)) - x) / n
    grads["decoder.4.W"], grads["decoder.4.b"] = g2.T @ dlogits, dlogits.sum(0)
    db2 = (dlogits @ p["decoder.4.W"].T) * (b2 > 0)
    grads["decoder.2.W"], grads["decoder.2.b"] = g1.T @ db2, db2.sum(0)
    db1 = (db2 @ p["decoder.2.W"].T) * (b1 > 0)
    grads["decoder.0.W"], grads["decoder.0.b"] = z.T @ db1, db1.sum(0)
    dz = db1 @ p["decoder.0.W"].T
    dmu = dz + beta * mu / n
    dlogvar = (dz * eps * std * 0.5 + beta * 0.5 * (np.exp(logvar) - 1) / n) * (logvar_raw < 30)
    grads["mu_head.W"], grads["mu_head.b"] = h2.T @ dmu, dmu.sum(0)
    grads["logvar_head.W"], grads["logvar_head.b"] = h2.T @ dlogvar, dlogvar.sum(0)
    da2 = (dmu @ p["mu_head.W"].T + dlogvar @ p["logvar_head.W"].T) * (a2 > 0)
    grads["encoder.2.W"], grads["encoder.2.b"] = h1.T @ da2, da2.sum(0)
    da1 = (da2 @ p["encoder.2.W"].T) * (a1 > 0)
    grads["encoder.0.W"], grads["encoder.0.b"] = x.T @ da1, da1.sum(0)
    return loss, grads


def plain_adam(theta, m, v, g, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), m, v


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_float64_gradients_agree_with_the_plain_implementation_to_1e_10(beta, rng):
    model = VAE(30, (16, 12), 4, beta=beta, dtype=np.float64, random_state=0)
    for name, value in model.named_parameters():  # nonzero biases: no pre-activation exactly 0
        value[...] += 0.05 * rng.standard_normal(value.shape)
    x, eps = rng.random((9, 30)), rng.standard_normal((9, 4))
    loss, grads = model.loss_and_grads(x, eps)
    expected_loss, expected = plain_loss_and_grads(dict(model.named_parameters()), x, eps, beta)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for name in expected:
        err = np.abs(grads[name] - expected[name]).max() / np.abs(expected[name]).max()
        assert err < 1e-10, name


def test_float32_training_follows_the_plain_version_to_round_off():
    """Twenty Adam steps of npvae in float32 against the plain float64 version from the same
    start and noise: the losses agree to float32 round-off, not just in distribution."""
    rng = np.random.default_rng(0)
    X = rng.random((20 * 32, 30)).astype(np.float32)
    model = VAE(30, (16, 12), 4, dtype=np.float32, random_state=0)
    opt = Adam(model.params)
    names = [name for name, _ in model.named_parameters()]
    theta = model.params.vector.astype(np.float64)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    shapes = [value.shape for _, value in model.named_parameters()]
    for t in range(1, 21):
        x, eps = X[(t - 1) * 32:t * 32], rng.standard_normal((32, 4)).astype(np.float32)
        fast = model.forward_backward(x, eps).total
        opt.step()
        views, start = {}, 0
        for name, shape in zip(names, shapes):
            size = int(np.prod(shape))
            views[name] = theta[start:start + size].reshape(shape)
            start += size
        slow, grads = plain_loss_and_grads(views, x, eps, 1.0)
        theta, m, v = plain_adam(theta, m, v, np.concatenate([grads[n].ravel() for n in names]), t)
        assert fast == pytest.approx(slow, rel=1e-5), t
    assert np.abs(model.params.vector - theta).max() < 1e-4
