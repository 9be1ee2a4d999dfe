"""npvae.reference against PyTorch's autograd on MNIST-sized weights (skipped without PyTorch):
an implementation that shares no code and no derivation with npvae."""

import numpy as np
import pytest

from npvae import reference

torch = pytest.importorskip("torch")


def torch_encode(params, x):
    """The parameters as tensors that keep gradients, and the encoder's mu and logvar of x."""
    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    h = torch.tensor(x)
    for name in reference.layer_names(params, "encoder"):
        h = torch.relu(h @ p[name + ".W"] + p[name + ".b"])
    return p, h @ p["mu_head.W"] + p["mu_head.b"], h @ p["logvar_head.W"] + p["logvar_head.b"]


def autograd_loss_and_grads(params, x, eps, beta):
    p, mu, logvar = torch_encode(params, x)
    x, eps = torch.tensor(x), torch.tensor(eps)
    z = mu + torch.exp(0.5 * logvar) * eps
    decoder = reference.layer_names(params, "decoder")
    for name in decoder:
        z = z @ p[name + ".W"] + p[name + ".b"]
        if name != decoder[-1]:
            z = torch.relu(z)
    rec = torch.nn.functional.binary_cross_entropy_with_logits(z, x, reduction="none").sum(1)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    loss = torch.mean(rec + beta * kl)
    loss.backward()
    return loss.item(), {name: value.grad.numpy() for name, value in p.items()}


@pytest.mark.parametrize("beta", [1.0, 0.25])
def test_reference_equals_autograd_on_mnist_sized_weights(beta):
    rng = np.random.default_rng(0)
    params = reference.init_params(784, (400, 400), 20, random_state=1)
    for name in params:
        params[name] += 0.01 * rng.standard_normal(params[name].shape)
    x, eps = rng.random((64, 784)), rng.standard_normal((64, 20))
    loss, grads = reference.loss_and_grads(params, x, eps, beta)
    expected_loss, expected = autograd_loss_and_grads(params, x, eps, beta)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    for name in params:
        err = np.abs(grads[name] - expected[name]).max() / np.abs(expected[name]).max()
        assert err < 1e-10, name


def autograd_iwae(params, x, eps, estimator):
    """The papers' .detach() formulations: IWAE (Burda et al.), STL (Roeder et al., log q with
    detached parameters) and DReG (Tucker et al., squared detached weights on the encoder)."""
    p, mu, logvar = torch_encode(params, x)
    x, eps = torch.tensor(x), torch.tensor(eps)
    z = mu + torch.exp(0.5 * logvar) * eps  # (K, N, L)

    def log_px(z, decoder_params):
        g = z
        decoder = reference.layer_names(params, "decoder")
        for name in decoder:
            g = g @ decoder_params[name + ".W"] + decoder_params[name + ".b"]
            if name != decoder[-1]:
                g = torch.relu(g)
        return -torch.nn.functional.binary_cross_entropy_with_logits(
            g, x.expand_as(g), reduction="none").sum(-1)

    def log_w(z, mu, logvar, decoder_params):
        log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
        log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        return log_px(z, decoder_params) + log_p - log_q

    decoder_p = {name: value for name, value in p.items() if name.startswith("decoder.")}
    k = eps.shape[0]
    if estimator == "reparam":
        loss = -(torch.logsumexp(log_w(z, mu, logvar, decoder_p), 0) - np.log(k)).mean()
    elif estimator == "stl":
        loss = -(torch.logsumexp(log_w(z, mu.detach(), logvar.detach(), decoder_p), 0)
                 - np.log(k)).mean()
    else:
        lw = log_w(z, mu.detach(), logvar.detach(),
                   {name: value.detach() for name, value in decoder_p.items()})
        wt = torch.softmax(lw, 0).detach()
        encoder_part = (wt**2 * lw).sum(0)
        decoder_part = (wt * log_px(z.detach(), decoder_p)).sum(0)
        loss = -(encoder_part + decoder_part).mean()
    loss.backward()
    return {name: value.grad.numpy() for name, value in p.items()}


@pytest.mark.parametrize("estimator", ["reparam", "stl", "dreg"])
def test_the_iwae_estimators_equal_autograd_on_mnist_sized_weights(estimator):
    from npvae import reference_iwae

    rng = np.random.default_rng(0)
    params = reference.init_params(784, (400, 400), 20, random_state=1)
    for name in params:
        params[name] += 0.01 * rng.standard_normal(params[name].shape)
    x, eps = rng.random((16, 784)), rng.standard_normal((5, 16, 20))
    _, grads = reference_iwae.loss_and_grads(params, x, eps, estimator)
    expected = autograd_iwae(params, x, eps, estimator)
    for name in params:
        err = np.abs(grads[name] - expected[name]).max() / np.abs(expected[name]).max()
        assert err < 1e-10, (name, err)
